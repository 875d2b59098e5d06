/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Content-addressed image blobs <blobs dir>/<sha256 hex>.<kind>, copied and hashed in one pass. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "fd-util.h"
#include "fs-util.h"
#include "id.h"
#include "image-blob.h"
#include "macro.h"
#include "sha256-util.h"

/* Big enough that syscalls and digest calls do not dominate, small enough for a worker thread's heap. */
#define COPY_BUFFER_SIZE ((size_t) 1024U * 1024U)
/* Holes are made in units of this; it divides COPY_BUFFER_SIZE so block boundaries stay file-aligned. */
#define SPARSE_BLOCK_SIZE ((size_t) 4096U)

/* ext2/3/4 keep a 16-bit magic at byte 56 of the superblock, which starts 1024 bytes into the image. */
#define EXT_SUPERBLOCK_MAGIC_OFFSET (1024 + 56)
#define EXT_SUPERBLOCK_MAGIC 0xEF53

static const char *const image_blob_kind_table[_IMAGE_BLOB_KIND_MAX] = {
        [IMAGE_BLOB_KERNEL] = "kernel",
        [IMAGE_BLOB_INITRD] = "initrd",
        [IMAGE_BLOB_ROOTFS] = "rootfs",
        [IMAGE_BLOB_LAYER] = "erofs",
};

const char *image_blob_kind_to_string(ImageBlobKind k) {
        if (k < 0 || k >= _IMAGE_BLOB_KIND_MAX)
                return NULL;
        return image_blob_kind_table[k];
}

ImageBlobKind image_blob_kind_from_string(const char *s) {
        if (!s)
                return _IMAGE_BLOB_KIND_INVALID;
        for (size_t i = 0; i < ELEMENTSOF(image_blob_kind_table); i++)
                if (streq(s, image_blob_kind_table[i]))
                        return (ImageBlobKind) i;
        return _IMAGE_BLOB_KIND_INVALID;
}

int image_sha256_hex(const void *data, size_t size, char ret[static IMAGE_BLOB_HEX_LEN + 1]) {
        return sha256_hex(data, size, ret);
}

bool image_blob_hex_is_valid(const char *s) {
        size_t i;

        if (!s)
                return false;
        for (i = 0; s[i]; i++)
                if (i >= IMAGE_BLOB_HEX_LEN || !strchr("0123456789abcdef", s[i]))
                        return false;
        return i == IMAGE_BLOB_HEX_LEN;
}

int image_blob_file_name(const char *hex, ImageBlobKind kind, char **ret) {
        const char *ext = image_blob_kind_to_string(kind);
        char *s;

        if (!ext || !image_blob_hex_is_valid(hex))
                return -EINVAL;
        if (asprintf(&s, "%s.%s", hex, ext) < 0)
                return -ENOMEM;
        *ret = s;
        return 0;
}

int image_blob_parse_file_name(const char *name, char ret_hex[static IMAGE_BLOB_HEX_LEN + 1],
                               ImageBlobKind *ret_kind) {
        char hex[IMAGE_BLOB_HEX_LEN + 1];
        ImageBlobKind kind;

        if (!name || strlen(name) <= IMAGE_BLOB_HEX_LEN || name[IMAGE_BLOB_HEX_LEN] != '.')
                return -EINVAL;
        memcpy(hex, name, IMAGE_BLOB_HEX_LEN);
        hex[IMAGE_BLOB_HEX_LEN] = '\0';
        if (!image_blob_hex_is_valid(hex))
                return -EINVAL;
        kind = image_blob_kind_from_string(name + IMAGE_BLOB_HEX_LEN + 1);
        if (kind < 0)
                return -EINVAL;
        memcpy(ret_hex, hex, sizeof(hex));
        *ret_kind = kind;
        return 0;
}

int image_blob_check_source(int fd, ImageBlobKind kind) {
        struct stat st;
        int flags;

        if (fd < 0 || !image_blob_kind_to_string(kind))
                return -EINVAL;
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        /* A passed fd may be O_PATH or write-only: nothing to read from. */
        flags = fcntl(fd, F_GETFL);
        if (flags < 0)
                return negative_errno();
        if ((flags & O_PATH) || (flags & O_ACCMODE) == O_WRONLY)
                return -EBADF;
        if (st.st_size == 0)
                return -EINVAL; /* an empty kernel, initrd or file system is always a mistake */

        if (kind == IMAGE_BLOB_ROOTFS) {
                uint8_t magic[2];
                ssize_t n = pread(fd, magic, sizeof(magic), EXT_SUPERBLOCK_MAGIC_OFFSET);
                if (n < 0)
                        return negative_errno();
                if (n != (ssize_t) sizeof(magic) || (magic[0] | (magic[1] << 8)) != EXT_SUPERBLOCK_MAGIC)
                        return -EMEDIUMTYPE;
        }
        return 0;
}

int image_blob_open_source(const char *path, ImageBlobKind kind, int *ret_fd) {
        _cleanup_close_ int fd = -EBADF;
        int r;

        if (isempty(path) || path[0] != '/')
                return -EINVAL;
        /* O_NONBLOCK: a FIFO passed by mistake must fail the type check, not hang the open. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return negative_errno();
        r = image_blob_check_source(fd, kind);
        if (r < 0)
                return r;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* Fills buf from offset as far as the file allows; a short count means end of file. pread(): a passed fd
 * shares its file offset with the sender, which must not steer what we read. */
static ssize_t read_full(int fd, uint64_t offset, uint8_t *buf, size_t size) {
        size_t done = 0;

        while (done < size) {
                ssize_t k = pread(fd, buf + done, size - done, (off_t) (offset + done));
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (k == 0)
                        break;
                done += (size_t) k;
        }
        return (ssize_t) done;
}

static bool block_is_zero(const uint8_t *p, size_t size) {
        return size == 0 || (p[0] == 0 && memcmp(p, p + 1, size - 1) == 0);
}

/* Writes buf at the current offset, seeking over zero blocks instead of writing them. */
static int write_sparse(int fd, const uint8_t *buf, size_t size) {
        while (size > 0) {
                bool zero = block_is_zero(buf, MIN(size, SPARSE_BLOCK_SIZE));
                size_t run = 0;
                int r;

                while (run < size) {
                        size_t b = MIN(size - run, SPARSE_BLOCK_SIZE);
                        if (block_is_zero(buf + run, b) != zero)
                                break;
                        run += b;
                }

                if (zero) {
                        if (lseek(fd, (off_t) run, SEEK_CUR) < 0)
                                return negative_errno();
                } else {
                        r = loop_write(fd, buf, run);
                        if (r < 0)
                                return r;
                }
                buf += run;
                size -= run;
        }
        return 0;
}

/* Copies src to dst (both at offset 0) and returns the SHA-256 of what was copied. */
static int copy_and_hash(int src, int dst, ImageBlobProgress progress, void *userdata,
                         char ret_hex[static IMAGE_BLOB_HEX_LEN + 1], uint64_t *ret_size) {
        _cleanup_(sha256_freep) Sha256 *hash = NULL;
        _cleanup_free_ uint8_t *buf = NULL;
        uint64_t total = 0;
        int r;

        buf = malloc(COPY_BUFFER_SIZE);
        if (!buf)
                return -ENOMEM;
        r = sha256_new(&hash);
        if (r < 0)
                return r;

        for (;;) {
                ssize_t n = read_full(src, total, buf, COPY_BUFFER_SIZE);
                if (n < 0)
                        return (int) n;
                if (n == 0)
                        break;
                r = sha256_update(hash, buf, (size_t) n);
                if (r < 0)
                        return r;
                r = write_sparse(dst, buf, (size_t) n);
                if (r < 0)
                        return r;
                total += (uint64_t) n;
                if (progress && (r = progress((uint64_t) n, userdata)) < 0)
                        return r;
        }

        /* Gives a trailing hole its length; a no-op otherwise. */
        if (ftruncate(dst, (off_t) total) < 0)
                return negative_errno();
        r = sha256_final_hex(hash, ret_hex);
        if (r < 0)
                return r;
        *ret_size = total;
        return 0;
}

static int write_temp_file(int blobs_fd, const char *temp_name, int src, ImageBlobProgress progress,
                           void *userdata, char ret_hex[static IMAGE_BLOB_HEX_LEN + 1], uint64_t *ret_size) {
        _cleanup_close_ int fd = -EBADF;
        int r;

        /* Blobs are immutable: read-only from birth (root can still write, but nothing should). */
        fd = openat(blobs_fd, temp_name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY,
                    0444);
        if (fd < 0)
                return negative_errno();
        if (fchmod(fd, 0444) < 0)
                return negative_errno();
        r = copy_and_hash(src, fd, progress, userdata, ret_hex, ret_size);
        if (r < 0)
                return r;
        if (fsync(fd) < 0)
                return negative_errno();
        if (close(TAKE_FD(fd)) < 0)
                return negative_errno();
        return 0;
}

int image_blob_write_temp(int blobs_fd, int src, ImageBlobKind kind, ImageBlobProgress progress,
                          void *userdata, char **ret_temp_name, char ret_hex[static IMAGE_BLOB_HEX_LEN + 1],
                          uint64_t *ret_size) {
        _cleanup_free_ char *temp_name = NULL;
        char random[ID_LENGTH + 1], hex[IMAGE_BLOB_HEX_LEN + 1] = {};
        uint64_t size = 0;
        int r;

        if (blobs_fd < 0 || !image_blob_kind_to_string(kind))
                return -EINVAL;

        r = image_blob_check_source(src, kind);
        if (r < 0)
                return r;

        r = id_generate(random);
        if (r < 0)
                return r;
        if (asprintf(&temp_name, TEMP_FILE_PREFIX "blob-%s", random) < 0)
                return -ENOMEM;

        r = write_temp_file(blobs_fd, temp_name, src, progress, userdata, hex, &size);
        if (r < 0) {
                (void) unlinkat(blobs_fd, temp_name, 0);
                return r;
        }

        *ret_temp_name = TAKE_PTR(temp_name);
        memcpy(ret_hex, hex, sizeof(hex));
        *ret_size = size;
        return 0;
}

int image_blob_commit_temp(int blobs_fd, const char *temp_name, const char *hex, ImageBlobKind kind,
                           bool *ret_created) {
        _cleanup_free_ char *name = NULL;
        bool created = true;
        int r;

        if (blobs_fd < 0 || isempty(temp_name))
                return -EINVAL;
        r = image_blob_file_name(hex, kind, &name);
        if (r < 0) {
                (void) unlinkat(blobs_fd, temp_name, 0);
                return r;
        }

        if (linkat(blobs_fd, temp_name, blobs_fd, name, 0) < 0) {
                if (errno != EEXIST) {
                        r = negative_errno();
                        (void) unlinkat(blobs_fd, temp_name, 0);
                        return r;
                }
                created = false; /* same content stored before: keep that one */
        }
        (void) unlinkat(blobs_fd, temp_name, 0);

        if (created) {
                /* On failure the blob stays: it is complete and correct, GC reclaims it if unused. */
                r = fsync_directory_at(blobs_fd, NULL);
                if (r < 0)
                        return r;
        }
        *ret_created = created;
        return 0;
}
