/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libgcrypt, loaded on first use (see dlopen-util.h): SHA-256 of imported blobs, SHA-1 of the name-based
 * (v5) UUIDs of layer images (oci_layer_uuid()). libgcrypt rather than OpenSSL's libcrypto: libsystemd
 * already maps it into every process of ours, while libcrypto added 3.3 MiB to the manager's RSS from its
 * first image import on. gcry_md_final() is a macro over gcry_md_ctl(): gcry_md_read() finalizes. */
#pragma once

#include <gcrypt.h>

#include "dlopen-util.h"

#define DLOPEN_GCRYPT_SYMBOLS(X) \
        X(gcry_check_version)    \
        X(gcry_control)          \
        X(gcry_md_open)          \
        X(gcry_md_write)         \
        X(gcry_md_read)          \
        X(gcry_md_close)         \
        X(gcry_md_hash_buffer)

DLOPEN_GCRYPT_SYMBOLS(DLOPEN_SYM_DECLARE)

/* 0, or -EOPNOTSUPP when libgcrypt.so.20 cannot be loaded. Initializes libgcrypt unless the process already
 * did (as systemd's initialize_libgcrypt() does). Thread-safe; loads once. */
int dlopen_gcrypt(void);
