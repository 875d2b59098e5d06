/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libarchive, loaded on first use (see dlopen-util.h): layer unpacking, OCI layouts, snapshot archives. */
#pragma once

#include <archive.h>
#include <archive_entry.h>

#include "dlopen-util.h"

#define DLOPEN_ARCHIVE_SYMBOLS(X)                 \
        X(archive_entry_filetype)                 \
        X(archive_entry_free)                     \
        X(archive_entry_hardlink)                 \
        X(archive_entry_mtime)                    \
        X(archive_entry_new)                      \
        X(archive_entry_pathname)                 \
        X(archive_entry_set_filetype)             \
        X(archive_entry_set_hardlink)             \
        X(archive_entry_set_mtime)                \
        X(archive_entry_set_pathname)             \
        X(archive_entry_set_perm)                 \
        X(archive_entry_set_size)                 \
        X(archive_entry_size)                     \
        X(archive_entry_size_is_set)              \
        X(archive_entry_sparse_add_entry)         \
        X(archive_entry_sparse_next)              \
        X(archive_entry_sparse_reset)             \
        X(archive_entry_xattr_next)               \
        X(archive_entry_xattr_reset)              \
        X(archive_errno)                          \
        X(archive_error_string)                   \
        X(archive_filter_code)                    \
        X(archive_read_data)                      \
        X(archive_read_data_block)                \
        X(archive_read_free)                      \
        X(archive_read_new)                       \
        X(archive_read_next_header)               \
        X(archive_read_open)                      \
        X(archive_read_open_fd)                   \
        X(archive_read_support_filter_gzip)       \
        X(archive_read_support_filter_zstd)       \
        X(archive_read_support_format_raw)        \
        X(archive_read_support_format_tar)        \
        X(archive_set_error)                      \
        X(archive_write_add_filter_gzip)          \
        X(archive_write_add_filter_zstd)          \
        X(archive_write_close)                    \
        X(archive_write_data)                     \
        X(archive_write_data_block)               \
        X(archive_write_disk_new)                 \
        X(archive_write_disk_set_group_lookup)    \
        X(archive_write_disk_set_options)         \
        X(archive_write_disk_set_standard_lookup) \
        X(archive_write_disk_set_user_lookup)     \
        X(archive_write_finish_entry)             \
        X(archive_write_free)                     \
        X(archive_write_header)                   \
        X(archive_write_new)                      \
        X(archive_write_open)                     \
        X(archive_write_set_bytes_in_last_block)  \
        X(archive_write_set_format_pax)

DLOPEN_ARCHIVE_SYMBOLS(DLOPEN_SYM_DECLARE)

/* 0, or -EOPNOTSUPP when libarchive.so.13 cannot be loaded. Thread-safe; loads once. */
int dlopen_archive(void);
