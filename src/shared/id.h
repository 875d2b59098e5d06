/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Record IDs: 26 characters of lowercase RFC 4648 base32 (a-z, 2-7) from the kernel CSPRNG. */
#pragma once

#include <stdbool.h>

/* 26 characters * 5 bits = 130 random bits. */
#define ID_LENGTH 26

/* Writes a new random ID plus its NUL into ret. Fails only if getrandom() does (e.g. -ENOSYS). */
int id_generate(char ret[static ID_LENGTH + 1]);

/* True if s is exactly ID_LENGTH characters of the ID alphabet. */
bool id_is_valid(const char *s);

/* True if c belongs to the ID alphabet. */
bool id_char_is_valid(char c);
