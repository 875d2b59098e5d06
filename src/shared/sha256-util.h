/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SHA-256 from libgcrypt, loaded on first use (dlopen-gcrypt.h): the manager needs it only to import
 * images. */
#pragma once

#include <stddef.h>

#include "macro.h"

#define SHA256_HEX_LEN 64

typedef struct Sha256 Sha256;

/* -EOPNOTSUPP when libgcrypt cannot be loaded. Thread-safe. */
int sha256_new(Sha256 **ret);
Sha256 *sha256_free(Sha256 *h);
DEFINE_TRIVIAL_CLEANUP_FUNC(Sha256 *, sha256_free);
int sha256_update(Sha256 *h, const void *data, size_t size);
/* Lowercase hex digest; the hash cannot be updated afterwards. */
int sha256_final_hex(Sha256 *h, char ret[static SHA256_HEX_LEN + 1]);

/* One-shot. */
int sha256_hex(const void *data, size_t size, char ret[static SHA256_HEX_LEN + 1]);
