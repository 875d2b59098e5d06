/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* OpenSSL's libcrypto, loaded on first use (see dlopen-util.h): SHA-256 of imported blobs, SHA-1 of the
 * name-based (v5) UUIDs of layer images (oci_layer_uuid()). */
#pragma once

#include <openssl/evp.h>

#include "dlopen-util.h"

#define DLOPEN_CRYPTO_SYMBOLS(X) \
        X(EVP_MD_CTX_new)        \
        X(EVP_MD_CTX_free)       \
        X(EVP_sha1)              \
        X(EVP_sha256)            \
        X(EVP_Digest)            \
        X(EVP_DigestInit_ex)     \
        X(EVP_DigestUpdate)      \
        X(EVP_DigestFinal_ex)

DLOPEN_CRYPTO_SYMBOLS(DLOPEN_SYM_DECLARE)

/* 0, or -EOPNOTSUPP when libcrypto.so.3 cannot be loaded. Thread-safe; loads once. */
int dlopen_crypto(void);
