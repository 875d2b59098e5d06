/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* isa-l (Intel's igzip), loaded on first use (see dlopen-util.h) and optional: the layer unpacker inflates
 * gzip layers with it (gzip-reader.c), in about half zlib's CPU time, and with libarchive's own gzip
 * filter (zlib) when it is not installed. */
#pragma once

#include <isa-l/igzip_lib.h>

#include "dlopen-util.h"

#define DLOPEN_ISAL_SYMBOLS(X) \
        X(isal_inflate)        \
        X(isal_inflate_init)   \
        X(isal_inflate_reset)

DLOPEN_ISAL_SYMBOLS(DLOPEN_SYM_DECLARE)

/* 0, or -EOPNOTSUPP (logged at debug level only) when libisal.so.2 cannot be loaded. Thread-safe; loads
 * once. */
int dlopen_isal(void);
