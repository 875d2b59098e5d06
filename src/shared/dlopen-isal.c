/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "dlopen-isal.h"

DEFINE_DLOPEN_LIBRARY_FULL(dlopen_isal, "libisal.so.2", DLOPEN_ISAL_SYMBOLS, true)
