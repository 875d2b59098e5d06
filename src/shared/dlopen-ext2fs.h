/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libext2fs, loaded on first use (see dlopen-util.h): a fresh UUID in a COW disk's copied file system.
 * unixfd_io_manager is data: use *sym_unixfd_io_manager. ext2fs_mark_super_dirty() is an extern inline that
 * need not be inlined, hence listed. */
#pragma once

#include <ext2fs/ext2fs.h>

#include "dlopen-util.h"

#define DLOPEN_EXT2FS_SYMBOLS(X)   \
        X(ext2fs_open2)            \
        X(ext2fs_close2)           \
        X(ext2fs_free)             \
        X(ext2fs_mark_super_dirty) \
        X(unixfd_io_manager)

DLOPEN_EXT2FS_SYMBOLS(DLOPEN_SYM_DECLARE)

/* 0, or -EOPNOTSUPP when libext2fs.so.2 cannot be loaded. Thread-safe; loads once. */
int dlopen_ext2fs(void);
