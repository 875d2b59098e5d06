/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* COW disks: sparse raw files holding an empty ext4 file system, copied from a template kept per size
 * instead of running mkfs.ext4 for every VM (most of a create's time went into mkfs.ext4). */
#pragma once

#include <stdint.h>

/* The template for SIZE bytes in the cache directory. The recipe tag changes whenever the mkfs.ext4 options
 * do, so a template built by an older cocoon is never copied. */
#define COW_TEMPLATE_PREFIX "empty-ext4-v1-"
#define COW_TEMPLATE_SUFFIX ".raw"

/* Creates path (which must not exist: -EEXIST; mode 0600) as a sparse raw disk of size bytes holding an
 * empty ext4 file system with a UUID of its own. The file system is copied from the template for this size
 * in cache_dir (created 0700 as needed), which the first call for a size builds with mkfs.ext4 and publishes
 * atomically: concurrent callers may each build one, none ever sees a partial one. The copy is a reflink
 * where the file system can, else a copy of the template's data extents only (the disk stays sparse).
 * Without a usable cache (cache_dir NULL, unwritable, ...) mkfs.ext4 runs on path itself. Blocking: worker
 * threads only. On failure nothing is left at path. */
int cow_disk_create(const char *cache_dir, const char *path, uint64_t size);

/* Copies size bytes of src to the empty file dst: a reflink where the file system shares extents (FICLONE),
 * else the data extents one by one (SEEK_DATA/SEEK_HOLE), so holes stay holes. Snapshots copy disks so. */
int cow_disk_copy(int src_fd, int dst_fd, uint64_t size);
