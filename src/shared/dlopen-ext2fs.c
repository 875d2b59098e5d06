/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "dlopen-ext2fs.h"

DEFINE_DLOPEN_LIBRARY(dlopen_ext2fs, "libext2fs.so.2", DLOPEN_EXT2FS_SYMBOLS)
