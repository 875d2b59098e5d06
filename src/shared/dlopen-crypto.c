/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "dlopen-crypto.h"

DEFINE_DLOPEN_LIBRARY(dlopen_crypto, "libcrypto.so.3", DLOPEN_CRYPTO_SYMBOLS)
