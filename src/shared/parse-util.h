/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Strict number and size parsers (no atoi: no sign surprises, no whitespace, no trailing garbage). */
#pragma once

#include <stdint.h>

/* Plain decimal digits only: no sign, no whitespace, no "0x". -EINVAL for garbage, -ERANGE on overflow. */
int parse_uint64(const char *s, uint64_t *ret);
int parse_uint32(const char *s, uint32_t *ret);
/* Optional leading '-', then decimal digits. */
int parse_int64(const char *s, int64_t *ret);

/* A byte count: digits with an optional fraction and a binary unit, "1073741824", "512M", "512Mi", "1.5G",
 * "2g", "4KiB", "100B". Units K/M/G/T/P/E are powers of 1024 (also without the "i": "1G" is "1Gi"),
 * case-insensitive, optionally followed by "i", "B" or "iB"; a plain number is bytes. A fraction needs a
 * unit and is truncated to whole bytes. -EINVAL for garbage, -ERANGE on overflow. */
int parse_size(const char *s, uint64_t *ret);

/* Enough for "18446744073709551615B" and any shorter form. */
#define FORMAT_SIZE_MAX 32

/* Human size with the largest binary unit that fits, spelt as parse_size() reads it back: "512Mi", "1Gi",
 * "1.5Gi" (one decimal, truncated, only when the value is not a whole number of units), "100B". Returns
 * buf. */
const char *format_size(uint64_t bytes, char buf[static FORMAT_SIZE_MAX]);
