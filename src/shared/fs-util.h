/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* File system helpers: atomic file replacement, recursive mkdir/remove, bounded whole-file reads. */
#pragma once

#include <dirent.h>
#include <stddef.h>
#include <sys/types.h>

#include "macro.h"

/* Cap of read_full_file(): nothing we read whole (records, small config and /proc files) comes near it. */
#define READ_FULL_FILE_MAX ((size_t) 16U * 1024U * 1024U)

/* Prefix of the temporary files write_file_atomic_at() creates next to the target; readers of a directory
 * skip names starting with it, and a crash can leave one behind (remove them when convenient). */
#define TEMP_FILE_PREFIX ".#"

/* _cleanup_(closedirp) DIR *d */
DEFINE_TRIVIAL_CLEANUP_FUNC(DIR *, closedir);

/* Replaces dirfd/name with data so that readers see either the old or the new content, also after a
 * crash: writes a temporary file in the same directory, fsyncs it, applies mode (umask does not matter),
 * renames it over name and fsyncs the directory. dirfd may be AT_FDCWD; name may contain '/'. On failure the
 * temporary file is removed and name is untouched. Once renamed, name is replaced: a failing fsync of the
 * directory is logged, not returned (the old content could only come back after a crash, whole). */
int write_file_atomic_at(int dirfd, const char *name, const void *data, size_t size, mode_t mode);

/* fsync() of the directory dirfd/name (NULL name: dirfd itself). File systems that cannot sync
 * directories (EINVAL, ENOTSUP) count as success. */
int fsync_directory_at(int dirfd, const char *name);

/* fsync() of the file dirfd/name, written by someone else (another process): a symbolic link is not
 * followed (-ELOOP). */
int fsync_file_at(int dirfd, const char *name);

/* Creates path and every missing parent with mode. Existing directories are fine; an existing
 * non-directory is -ENOTDIR. */
int mkdir_p(const char *path, mode_t mode);

/* Removes dirfd/name recursively without following symlinks (a symlink is removed, never its target) and
 * without descending into other file systems (such a mount point yields -EXDEV, the rest is still removed).
 * A missing name is success. Returns the first error seen; continues past errors. */
int rm_rf_at(int dirfd, const char *name);
/* The same for a path; refuses "/" and "". */
int rm_rf(const char *path);

/* Reads a whole file into a NUL-terminated buffer (the NUL is not counted in *ret_size, which may be
 * NULL). Larger than max_size: -EFBIG. */
int read_full_file_at(int dirfd, const char *name, size_t max_size, char **ret, size_t *ret_size);
int read_full_file(const char *path, char **ret, size_t *ret_size);
