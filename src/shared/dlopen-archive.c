/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "dlopen-archive.h"

DEFINE_DLOPEN_LIBRARY(dlopen_archive, "libarchive.so.13", DLOPEN_ARCHIVE_SYMBOLS)
