/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Local OCI images: layout directories read with verification, tarballs turned into layouts. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dlopen-archive.h"
#include "fs-util.h"
#include "json-util.h"
#include "oci-layout.h"
#include "oci-manifest.h"
#include "sha256-util.h"

#define COPY_CHUNK (1024U * 1024U)
#define ARCHIVE_DEPTH_MAX 3U
#define ARCHIVE_ENTRIES_MAX 4096U
#define OCI_MEDIA_TYPE_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define OCI_MEDIA_TYPE_OCI_LAYER_TAR "application/vnd.oci.image.layer.v1.tar"

int oci_local_detect(int fd, OciLocalKind *ret) {
        unsigned char b[512] = {};
        struct stat st;
        ssize_t n;

        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode)) {
                *ret = OCI_LOCAL_LAYOUT;
                return 0;
        }
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        n = pread(fd, b, sizeof(b), 0);
        if (n < 0)
                return -errno;
        if (n >= 2 && b[0] == 0x1f && b[1] == 0x8b)
                *ret = OCI_LOCAL_GZIP;
        else if (n >= 4 && memcmp(b, "QFI\xfb", 4) == 0)
                *ret = OCI_LOCAL_QCOW2;
        else if (n >= 262 && memcmp(b + 257, "ustar", 5) == 0)
                *ret = OCI_LOCAL_TARBALL;
        else
                *ret = OCI_LOCAL_UNKNOWN;
        return 0;
}

/* Whether uid may read st (owner, or others may; (uid_t) -1 and root: anything). Groups are not looked at:
 * a file only a group may read is refused, never read for someone outside it. */
static bool caller_may(uid_t uid, const struct stat *st, mode_t other_bit) {
        return uid == (uid_t) -1 || uid == 0 || st->st_uid == uid || (st->st_mode & other_bit);
}

int oci_open_no_symlinks(int dir_fd, const char *rel, int flags, uid_t uid) {
        _cleanup_free_ char *copy = strdup(rel);
        _cleanup_close_ int cur = -EBADF;
        char *save = NULL;
        struct stat st;
        int fd = dir_fd;

        if (!copy)
                return -ENOMEM;
        for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
                bool last = !save || *save == '\0';
                int next;

                if (streq(c, ".."))
                        return -EBADMSG;
                next = openat(fd, c,
                              (last ? flags | O_NONBLOCK : O_RDONLY | O_DIRECTORY) | O_CLOEXEC | O_NOFOLLOW);
                if (next < 0)
                        return errno == ELOOP || errno == ENOTDIR ? -EBADMSG : -errno;
                safe_close(cur);
                fd = cur = next;
                if (fstat(cur, &st) < 0)
                        return -errno;
                /* The caller passed the directory: what it could not read itself, we do not either. */
                if (!caller_may(uid, &st, last && !(flags & O_DIRECTORY) ? S_IROTH : S_IXOTH))
                        return -EACCES;
                if (!last)
                        continue;
                if (!((flags & O_DIRECTORY) ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode)))
                        return -EBADMSG;
                return TAKE_FD(cur);
        }
        return -EBADMSG;
}

static int open_no_symlinks(int dir_fd, const char *rel, int flags) {
        return oci_open_no_symlinks(dir_fd, rel, flags, (uid_t) -1);
}

static int read_bounded(int fd, size_t max, char **ret, size_t *ret_size) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0, allocated = 0;

        for (;;) {
                ssize_t n;

                if (allocated - size < 64 * 1024) {
                        if (allocated > max)
                                return -E2BIG;
                        char *p = realloc(buf, allocated + 64 * 1024 + 1);
                        if (!p)
                                return -ENOMEM;
                        buf = p;
                        allocated += 64 * 1024;
                }
                n = read(fd, buf + size, allocated - size);
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                size += (size_t) n;
                if (size > max)
                        return -E2BIG;
        }
        if (!buf && !(buf = calloc(1, 1)))
                return -ENOMEM;
        buf[size] = '\0';
        *ret = TAKE_PTR(buf);
        *ret_size = size;
        return 0;
}

int oci_layout_read_index(int dir_fd, uid_t uid, char **ret, size_t *ret_size) {
        _cleanup_close_ int fd = oci_open_no_symlinks(dir_fd, "index.json", O_RDONLY, uid);
        if (fd < 0)
                return fd == -EBADMSG || fd == -EACCES ? fd : -ENOENT;
        return read_bounded(fd, OCI_MANIFEST_SIZE_MAX, ret, ret_size);
}

static int open_blob(int dir_fd, const char *digest, uid_t uid) {
        char rel[sizeof("blobs/sha256/") + SHA256_HEX_LEN];

        if (!oci_digest_is_valid(digest))
                return -EBADMSG;
        snprintf(rel, sizeof(rel), "blobs/sha256/%s", digest + strlen(OCI_DIGEST_PREFIX));
        return oci_open_no_symlinks(dir_fd, rel, O_RDONLY, uid);
}

/* Reads fd to its end, hashing it, into out_fd (or memory when buf is not NULL); checks size and digest. */
static int copy_verified(int fd, const char *digest, uint64_t size, int out_fd, char *buf, size_t max,
                         OciProgress progress, void *userdata, const atomic_bool *cancel,
                         uint64_t *ret_total) {
        _cleanup_(sha256_freep) Sha256 *h = NULL;
        _cleanup_free_ char *chunk = NULL;
        char hex[SHA256_HEX_LEN + 1];
        uint64_t total = 0;
        int r;

        r = sha256_new(&h);
        if (r < 0)
                return r;
        if (!buf && !(chunk = malloc(COPY_CHUNK)))
                return -ENOMEM;
        for (;;) {
                char *dst = buf ? buf + total : chunk;
                size_t want = buf ? MIN((size_t) COPY_CHUNK, max + 1 - (size_t) total) : COPY_CHUNK;
                ssize_t n;

                if (cancel && atomic_load(cancel))
                        return -ECANCELED;
                if (want == 0)
                        return -E2BIG;
                n = read(fd, dst, want);
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                total += (uint64_t) n;
                if (size != UINT64_MAX && total > size)
                        return -EBADMSG;
                if (buf && total > max)
                        return -E2BIG;
                r = sha256_update(h, dst, (size_t) n);
                if (r < 0)
                        return r;
                for (size_t off = 0; !buf && off < (size_t) n;) {
                        ssize_t w = write(out_fd, chunk + off, (size_t) n - off);
                        if (w < 0)
                                return -errno;
                        off += (size_t) w;
                }
                if (progress && (r = progress((uint64_t) n, userdata)) < 0)
                        return r;
        }
        if (size != UINT64_MAX && total != size)
                return -EBADMSG;
        r = sha256_final_hex(h, hex);
        if (r < 0)
                return r;
        if (digest && !streq(hex, digest + strlen(OCI_DIGEST_PREFIX)))
                return -EBADMSG;
        if (ret_total)
                *ret_total = total;
        return 0;
}

int oci_layout_read_blob(int dir_fd, uid_t uid, const char *digest, uint64_t size, size_t max, char **ret,
                         size_t *ret_size) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        uint64_t total;
        int r;

        fd = open_blob(dir_fd, digest, uid);
        if (fd < 0)
                return fd;
        buf = malloc(max + 2);
        if (!buf)
                return -ENOMEM;
        r = copy_verified(fd, digest, size, -EBADF, buf, max, NULL, NULL, NULL, &total);
        if (r < 0)
                return r;
        buf[total] = '\0';
        *ret = TAKE_PTR(buf);
        *ret_size = (size_t) total;
        return 0;
}

int oci_layout_copy_blob(int dir_fd, uid_t uid, const char *digest, uint64_t size, int out_fd,
                         OciProgress progress, void *userdata, const atomic_bool *cancel) {
        _cleanup_close_ int fd = open_blob(dir_fd, digest, uid);
        if (fd < 0)
                return fd;
        return copy_verified(fd, digest, size, out_fd, NULL, 0, progress, userdata, cancel, NULL);
}

/* ---- tarballs ---- */

static int set_error(char **ret_error, int r, const char *fmt, ...) _printf_(3, 4);
static int set_error(char **ret_error, int r, const char *fmt, ...) {
        va_list ap;

        if (*ret_error)
                return r;
        va_start(ap, fmt);
        if (vasprintf(ret_error, fmt, ap) < 0)
                *ret_error = NULL;
        va_end(ap);
        return r;
}

static bool component_is_plain(const char *c, size_t n) {
        if (n == 0 || n > 255 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-:+", c[i]))
                        return false;
        return true;
}

/* "./a/b/" -> "a/b": plain components only, at most ARCHIVE_DEPTH_MAX of them. */
static int normalize(const char *path, char **ret) {
        _cleanup_free_ char *out = NULL;
        size_t depth = 0, len = 0;

        while (path[0] == '.' && path[1] == '/')
                path += 2;
        if (path[0] == '/' || !(out = calloc(1, strlen(path) + 1)))
                return path[0] == '/' ? -EBADMSG : -ENOMEM;
        for (const char *c = path; *c;) {
                size_t n = strcspn(c, "/");
                if (n == 0) {
                        c++;
                        continue;
                }
                if (!component_is_plain(c, n) || ++depth > ARCHIVE_DEPTH_MAX)
                        return -EBADMSG;
                if (len > 0)
                        out[len++] = '/';
                memcpy(out + len, c, n);
                len += n;
                c += n;
        }
        if (len == 0)
                return -ENOENT; /* "." itself */
        *ret = TAKE_PTR(out);
        return 0;
}

/* Creates the directories of rel below dir_fd (none may be a symlink); returns the parent's fd. */
static int make_parents(int dir_fd, const char *rel, bool include_last, const char **ret_base) {
        _cleanup_free_ char *copy = strdup(rel);
        _cleanup_close_ int cur = -EBADF;
        char *c, *slash;
        int fd = dir_fd;

        if (!copy)
                return -ENOMEM;
        for (c = copy;; c = slash + 1) {
                slash = strchr(c, '/');
                if (!slash && !include_last)
                        break;
                if (slash)
                        *slash = '\0';
                if (mkdirat(fd, c, 0700) < 0 && errno != EEXIST)
                        return -errno;
                int next = openat(fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (next < 0)
                        return -errno;
                safe_close(cur);
                fd = cur = next;
                if (!slash)
                        break;
        }
        if (ret_base)
                *ret_base = rel + (c - copy);
        if (cur < 0) {
                int d = fcntl(dir_fd, F_DUPFD_CLOEXEC, 3);
                return d < 0 ? -errno : d;
        }
        return TAKE_FD(cur);
}

static int extract_file(struct archive *a, int dir_fd, const char *rel, const atomic_bool *cancel) {
        _cleanup_close_ int parent = -EBADF, fd = -EBADF;
        const char *base;
        const void *data;
        size_t n;
        int64_t offset;
        int r;

        parent = make_parents(dir_fd, rel, false, &base);
        if (parent < 0)
                return parent;
        fd = openat(parent, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return errno == EEXIST ? -EBADMSG : -errno;
        while ((r = sym_archive_read_data_block(a, &data, &n, &offset)) == ARCHIVE_OK) {
                if (cancel && atomic_load(cancel))
                        return -ECANCELED;
                if (offset < 0 || pwrite(fd, data, n, (off_t) offset) != (ssize_t) n)
                        return offset < 0 ? -EBADMSG : -errno;
        }
        return r == ARCHIVE_EOF ? 0 : -EIO; /* the archive itself is broken (a truncated gzip stream…) */
}

/* Moves rel into blobs/sha256/<hex of its content>, checked against want_hex (NULL: any); ret gets the
 * digest and size. */
static int make_blob(int dir_fd, const char *rel, const char *want_hex, char ret_digest[OCI_DIGEST_LEN + 1],
                     uint64_t *ret_size) {
        _cleanup_close_ int fd = -EBADF, blobs = -EBADF;
        _cleanup_(sha256_freep) Sha256 *h = NULL;
        _cleanup_free_ char *chunk = malloc(COPY_CHUNK);
        char hex[SHA256_HEX_LEN + 1];
        uint64_t total = 0;
        struct stat st;
        int r;

        if (!chunk)
                return -ENOMEM;
        fd = open_no_symlinks(dir_fd, rel, O_RDONLY);
        if (fd < 0)
                return fd;
        if ((r = sha256_new(&h)) < 0)
                return r;
        for (;;) {
                ssize_t n = read(fd, chunk, COPY_CHUNK);
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                total += (uint64_t) n;
                if ((r = sha256_update(h, chunk, (size_t) n)) < 0)
                        return r;
        }
        if ((r = sha256_final_hex(h, hex)) < 0)
                return r;
        if (want_hex && !streq(hex, want_hex))
                return -EBADMSG;
        blobs = make_parents(dir_fd, "blobs/sha256", true, NULL);
        if (blobs < 0)
                return blobs;
        /* The same content named twice: the first one is in place already. */
        if (fstatat(blobs, hex, &st, AT_SYMLINK_NOFOLLOW) < 0 && renameat(dir_fd, rel, blobs, hex) < 0)
                return -errno;
        snprintf(ret_digest, OCI_DIGEST_LEN + 1, OCI_DIGEST_PREFIX "%s", hex);
        *ret_size = total;
        return 0;
}

static int write_blob_text(int dir_fd, const char *text, char ret_digest[OCI_DIGEST_LEN + 1]) {
        _cleanup_close_ int blobs = make_parents(dir_fd, "blobs/sha256", true, NULL);
        char hex[SHA256_HEX_LEN + 1];
        int r;

        if (blobs < 0)
                return blobs;
        if ((r = sha256_hex(text, strlen(text), hex)) < 0)
                return r;
        snprintf(ret_digest, OCI_DIGEST_LEN + 1, OCI_DIGEST_PREFIX "%s", hex);
        return write_file_atomic_at(blobs, hex, text, strlen(text), 0600);
}

static json_object *descriptor(const char *media_type, const char *digest, uint64_t size) {
        json_object *d = json_object_new_object();
        if (!d || json_add_string(d, "mediaType", media_type) < 0 ||
            json_add_string(d, "digest", digest) < 0 || json_add_uint64(d, "size", size) < 0) {
                json_object_put(d);
                return NULL;
        }
        return d;
}

/* The layout's manifest blob, and index.json naming it: the end of every conversion into a layout. */
static int write_manifest_and_index(int dir_fd, json_object *manifest) {
        _cleanup_(json_object_putp) json_object *index = NULL;
        char digest[OCI_DIGEST_LEN + 1];
        json_object *array;
        int r = 0;

        const char *manifest_text = json_to_string(manifest);
        if (!manifest_text || (r = write_blob_text(dir_fd, manifest_text, digest)) < 0)
                return r < 0 ? r : -ENOMEM;
        index = json_object_new_object();
        array = json_object_new_array();
        if (!index || !array || json_add_object(index, "manifests", array) < 0 ||
            json_object_object_add(index, "schemaVersion", json_object_new_int(2)) < 0 ||
            json_object_array_add(
                    array, descriptor(OCI_MEDIA_TYPE_OCI_MANIFEST, digest, strlen(manifest_text))) < 0)
                return -ENOMEM;
        const char *index_text = json_to_string(index);
        return index_text ? write_file_atomic_at(dir_fd, "index.json", index_text, strlen(index_text), 0600)
                          : -ENOMEM;
}

/* A docker archive's first image as an OCI layout: blobs, a manifest, index.json. */
static int docker_to_layout(int dir_fd, char **ret_error) {
        _cleanup_(json_object_putp) json_object *list = NULL, *config = NULL, *manifest = NULL;
        _cleanup_free_ char *text = NULL, *config_text = NULL;
        _cleanup_close_ int fd = -EBADF;
        json_object *entry, *layers, *rootfs, *diff_ids, *array;
        const char *config_path;
        char digest[OCI_DIGEST_LEN + 1];
        uint64_t size;
        size_t n, config_size;
        int r;

        fd = open_no_symlinks(dir_fd, "manifest.json", O_RDONLY);
        if (fd < 0)
                return set_error(ret_error, -EBADMSG, "neither an OCI layout nor a docker archive");
        if ((r = read_bounded(fd, OCI_MANIFEST_SIZE_MAX, &text, &n)) < 0 || json_parse(text, n, &list) < 0 ||
            !json_object_is_type(list, json_type_array) || json_object_array_length(list) < 1)
                return set_error(ret_error, -EBADMSG, "manifest.json: not a list of images");
        entry = json_object_array_get_idx(list, 0);
        if (!json_object_is_type(entry, json_type_object) ||
            json_get_string(entry, "Config", &config_path) < 0 ||
            !json_object_object_get_ex(entry, "Layers", &layers) ||
            !json_object_is_type(layers, json_type_array) || json_object_array_length(layers) < 1 ||
            json_object_array_length(layers) > OCI_LAYERS_MAX)
                return set_error(ret_error, -EBADMSG, "manifest.json: no Config or Layers");
        n = json_object_array_length(layers);

        /* The config: named after its sha256 ("<hex>.json", maybe under blobs/sha256/ without ".json"). */
        safe_close(fd);
        fd = open_no_symlinks(dir_fd, config_path, O_RDONLY);
        if (fd < 0 || read_bounded(fd, OCI_CONFIG_SIZE_MAX, &config_text, &config_size) < 0 ||
            json_parse(config_text, config_size, &config) < 0)
                return set_error(ret_error, -EBADMSG, "%s: not a readable image config", config_path);
        const char *base = strrchr(config_path, '/') ? strrchr(config_path, '/') + 1 : config_path;
        char want[SHA256_HEX_LEN + 1] = {};
        if (strlen(base) >= SHA256_HEX_LEN && strspn(base, "0123456789abcdef") == SHA256_HEX_LEN)
                memcpy(want, base, SHA256_HEX_LEN);
        r = make_blob(dir_fd, config_path, want[0] ? want : NULL, digest, &size);
        if (r < 0)
                return set_error(ret_error, r == -EBADMSG ? -EBADMSG : r, "%s: %s", config_path,
                                 r == -EBADMSG ? "content does not match its digest" : strerror(-r));
        if (!json_object_object_get_ex(config, "rootfs", &rootfs) ||
            !json_object_object_get_ex(rootfs, "diff_ids", &diff_ids) ||
            !json_object_is_type(diff_ids, json_type_array) || json_object_array_length(diff_ids) != n)
                return set_error(ret_error, -EBADMSG, "%s: rootfs.diff_ids does not list the layers",
                                 config_path);

        manifest = json_object_new_object();
        array = json_object_new_array();
        if (!manifest || !array || json_add_object(manifest, "layers", array) < 0 ||
            json_object_object_add(manifest, "schemaVersion", json_object_new_int(2)) < 0 ||
            json_add_string(manifest, "mediaType", OCI_MEDIA_TYPE_OCI_MANIFEST) < 0 ||
            json_add_object(manifest, "config", descriptor(OCI_MEDIA_TYPE_OCI_CONFIG, digest, size)) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const char *path = json_object_get_string(json_object_array_get_idx(layers, i));
                const char *diff = json_object_get_string(json_object_array_get_idx(diff_ids, i));
                json_object *d;

                /* Each layer must be what the config says it is (docker archives hold them uncompressed). */
                if (!path || !diff || !oci_digest_is_valid(diff))
                        return set_error(ret_error, -EBADMSG, "layer %zu: no path or diff_id", i);
                r = make_blob(dir_fd, path, diff + strlen(OCI_DIGEST_PREFIX), digest, &size);
                if (r < 0)
                        return set_error(
                                ret_error, r == -EBADMSG || r == -ENOENT ? -EBADMSG : r, "layer %s: %s",
                                path, r == -EBADMSG ? "content does not match its diff_id" : strerror(-r));
                d = descriptor(OCI_MEDIA_TYPE_OCI_LAYER_TAR, digest, size);
                if (!d || json_object_array_add(array, d) < 0) {
                        json_object_put(d);
                        return -ENOMEM;
                }
        }
        return write_manifest_and_index(dir_fd, manifest);
}

/* A reader of the tar (or gzipped tar: `docker save | gzip`, decompressed as it streams, never to a file)
 * in fd, from its start; not opened yet. -EOPNOTSUPP without libarchive. */
static int tar_reader_new(int fd, struct archive **ret) {
        struct archive *a;
        int r = dlopen_archive();
        if (r < 0)
                return r;
        a = sym_archive_read_new();
        if (!a)
                return -ENOMEM;
        sym_archive_read_support_format_tar(a);
        sym_archive_read_support_filter_gzip(a);
        if (lseek(fd, 0, SEEK_SET) < 0) {
                r = -errno;
                sym_archive_read_free(a);
                return r;
        }
        *ret = a;
        return 0;
}

int oci_archive_extract(int fd, int dir_fd, const atomic_bool *cancel, char **ret_error) {
        struct archive *a;
        struct archive_entry *e;
        struct stat st;
        unsigned n_entries = 0;
        int r;

        r = tar_reader_new(fd, &a);
        if (r == -EOPNOTSUPP)
                return set_error(ret_error, r, "libarchive is not available");
        if (r < 0)
                return r;
        if (sym_archive_read_open_fd(a, fd, 64 * 1024) != ARCHIVE_OK) {
                r = set_error(ret_error, -EBADMSG, "not a tar archive: %s", sym_archive_error_string(a));
                goto finish;
        }
        for (;;) {
                _cleanup_free_ char *rel = NULL;

                r = sym_archive_read_next_header(a, &e);
                if (r == ARCHIVE_EOF)
                        break;
                if (r < ARCHIVE_WARN) {
                        bool gz = sym_archive_filter_code(a, 0) == ARCHIVE_FILTER_GZIP;
                        r = set_error(ret_error, -EBADMSG, "not a valid %starchive: %s",
                                      gz ? "gzipped tar " : "tar ", sym_archive_error_string(a));
                        goto finish;
                }
                if (++n_entries > ARCHIVE_ENTRIES_MAX) {
                        r = set_error(ret_error, -EBADMSG, "more than %u entries", ARCHIVE_ENTRIES_MAX);
                        goto finish;
                }
                const char *path = sym_archive_entry_pathname(e);
                r = normalize(path ?: "", &rel);
                if (r == -ENOENT)
                        continue;
                if (r < 0) {
                        r = set_error(ret_error, r, "entry %s: not a plain relative path", path ?: "?");
                        goto finish;
                }
                /* Symbolic and hard links (newer docker saves link <id>/layer.tar to the blob): skipped,
                 * their targets are in the archive as files. */
                if (sym_archive_entry_hardlink(e) || sym_archive_entry_filetype(e) == AE_IFLNK)
                        continue;
                if (sym_archive_entry_filetype(e) == AE_IFDIR) {
                        _cleanup_close_ int d = make_parents(dir_fd, rel, true, NULL);
                        if (d < 0) {
                                r = set_error(ret_error, d == -EEXIST ? -EBADMSG : d, "entry %s: %s", rel,
                                              strerror(-d));
                                goto finish;
                        }
                        continue;
                }
                if (sym_archive_entry_filetype(e) != AE_IFREG) {
                        r = set_error(ret_error, -EBADMSG, "entry %s: not a file or directory", rel);
                        goto finish;
                }
                r = extract_file(a, dir_fd, rel, cancel);
                if (r < 0) {
                        bool gz = sym_archive_filter_code(a, 0) == ARCHIVE_FILTER_GZIP;
                        r = set_error(ret_error, r == -EIO ? -EBADMSG : r, "entry %s: %s%s", rel,
                                      r == -EIO && gz ? "gzip stream broken: " : "",
                                      r == -EBADMSG ? "repeated"
                                      : r == -EIO   ? sym_archive_error_string(a) ?: "unreadable"
                                                    : strerror(-r));
                        goto finish;
                }
        }
        r = 0;
        /* An OCI archive is a layout already; a docker archive becomes one. */
        if (fstatat(dir_fd, "oci-layout", &st, AT_SYMLINK_NOFOLLOW) < 0 ||
            fstatat(dir_fd, "index.json", &st, AT_SYMLINK_NOFOLLOW) < 0)
                r = docker_to_layout(dir_fd, ret_error);
finish:
        sym_archive_read_free(a);
        return r;
}

/* ---- plain layer tars ---- */

/* Whether the tarball read from fd is an image archive (a top-level manifest.json, index.json or
 * oci-layout) rather than one layer; reads its headers only (a gzip stream is decompressed for that). */
int oci_archive_is_image(int fd, bool *ret) {
        struct archive *a;
        struct archive_entry *e;
        int r;

        r = tar_reader_new(fd, &a);
        if (r < 0)
                return r;
        *ret = false;
        /* What does not read as a tar is left to the layer's unpacker to refuse, with its reason. */
        r = 0;
        if (sym_archive_read_open_fd(a, fd, 64 * 1024) != ARCHIVE_OK)
                goto finish;
        while (sym_archive_read_next_header(a, &e) >= ARCHIVE_WARN) {
                const char *path = sym_archive_entry_pathname(e) ?: "";

                while (path[0] == '.' && path[1] == '/')
                        path += 2;
                if (sym_archive_entry_filetype(e) == AE_IFREG &&
                    (streq(path, "manifest.json") || streq(path, "index.json") ||
                     streq(path, "oci-layout"))) {
                        *ret = true;
                        break;
                }
        }
finish:
        sym_archive_read_free(a);
        return r;
}

typedef struct LayerSource {
        int fd;
        int out_fd;
        Sha256 *raw; /* the file as given: the layer's digest */
        char buf[64 * 1024];
        const atomic_bool *cancel;
        int error;
} LayerSource;

/* libarchive's read callback: each chunk of the file is hashed and copied to the blob as it goes by. */
static la_ssize_t layer_source_read(struct archive *a, void *userdata, const void **ret) {
        LayerSource *s = userdata;
        ssize_t n;

        if (s->cancel && atomic_load(s->cancel)) {
                s->error = -ECANCELED;
                return -1;
        }
        n = read(s->fd, s->buf, sizeof(s->buf));
        if (n < 0) {
                s->error = -errno;
                sym_archive_set_error(a, errno, "read failed");
                return -1;
        }
        if (n > 0 && (s->error = sha256_update(s->raw, s->buf, (size_t) n)) < 0)
                return -1;
        for (size_t off = 0; off < (size_t) n;) {
                ssize_t w = write(s->out_fd, s->buf + off, (size_t) n - off);
                if (w < 0) {
                        s->error = -errno;
                        sym_archive_set_error(a, errno, "write failed");
                        return -1;
                }
                off += (size_t) w;
        }
        *ret = s->buf;
        return n;
}

/* One layer file into blobs/sha256/<sha256 of it>, hashed twice in one pass: as given (the digest) and
 * uncompressed (the diff_id: libarchive's raw format through its gzip filter, a plain tar as it is). */
static int copy_layer(int fd, int dir_fd, bool gzipped, const atomic_bool *cancel,
                      char ret_digest[OCI_DIGEST_LEN + 1], char ret_diff_id[OCI_DIGEST_LEN + 1],
                      uint64_t *ret_size) {
        _cleanup_(sha256_freep) Sha256 *raw = NULL, *plain = NULL;
        _cleanup_free_ LayerSource *s = NULL;
        _cleanup_close_ int out = -EBADF, blobs = -EBADF;
        struct archive *a = NULL;
        char hex[SHA256_HEX_LEN + 1], diff[SHA256_HEX_LEN + 1];
        struct stat st;
        int r;

        if ((r = sha256_new(&raw)) < 0 || (r = sha256_new(&plain)) < 0)
                return r;
        if (lseek(fd, 0, SEEK_SET) < 0)
                return -errno;
        out = openat(dir_fd, "incoming", O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (out < 0)
                return -errno;
        s = calloc(1, sizeof(LayerSource));
        a = sym_archive_read_new();
        if (!s || !a) {
                r = -ENOMEM;
                goto finish;
        }
        *s = (LayerSource){.fd = fd, .out_fd = out, .raw = raw, .cancel = cancel};
        sym_archive_read_support_format_raw(a);
        if (gzipped)
                sym_archive_read_support_filter_gzip(a);
        if (sym_archive_read_open(a, s, NULL, layer_source_read, NULL) != ARCHIVE_OK) {
                r = s->error ?: -EIO;
                goto finish;
        }
        r = sym_archive_read_next_header(a, &(struct archive_entry *){NULL});
        if (r == ARCHIVE_EOF)
                r = 0; /* an empty file: its tar is empty as well */
        else if (r < ARCHIVE_WARN) {
                r = s->error ?: -EIO;
                goto finish;
        } else
                for (;;) {
                        const void *data;
                        size_t n;
                        int64_t offset;

                        r = sym_archive_read_data_block(a, &data, &n, &offset);
                        if (r == ARCHIVE_EOF)
                                break;
                        if (r < ARCHIVE_WARN) {
                                r = s->error ?: -EIO;
                                goto finish;
                        }
                        if ((r = sha256_update(plain, data, n)) < 0)
                                goto finish;
                }
        r = 0;
finish:
        if (a)
                sym_archive_read_free(a);
        if (r < 0)
                return r;
        if ((r = sha256_final_hex(raw, hex)) < 0 || (r = sha256_final_hex(plain, diff)) < 0)
                return r;
        if (fstat(out, &st) < 0)
                return -errno;
        blobs = make_parents(dir_fd, "blobs/sha256", true, NULL);
        if (blobs < 0)
                return blobs;
        if (renameat(dir_fd, "incoming", blobs, hex) < 0)
                return -errno;
        snprintf(ret_digest, OCI_DIGEST_LEN + 1, OCI_DIGEST_PREFIX "%s", hex);
        snprintf(ret_diff_id, OCI_DIGEST_LEN + 1, OCI_DIGEST_PREFIX "%s", diff);
        *ret_size = (uint64_t) st.st_size;
        return 0;
}

int oci_layers_to_layout(const int *fds, size_t n, int dir_fd, const atomic_bool *cancel, char **ret_error) {
        _cleanup_(json_object_putp) json_object *config = NULL, *manifest = NULL;
        json_object *layers, *diff_ids, *rootfs;
        char digest[OCI_DIGEST_LEN + 1], diff_id[OCI_DIGEST_LEN + 1];
        OciPlatform host;
        uint64_t size = 0;
        int r;

        if (n == 0 || n > OCI_LAYERS_MAX)
                return set_error(ret_error, -EBADMSG, "%zu layer files (1 to %u)", n, OCI_LAYERS_MAX);
        r = dlopen_archive();
        if (r < 0)
                return set_error(ret_error, r, "libarchive is not available");
        oci_platform_host(&host);
        config = json_object_new_object();
        rootfs = json_object_new_object();
        diff_ids = json_object_new_array();
        manifest = json_object_new_object();
        layers = json_object_new_array();
        if (!config || !manifest || json_add_object(config, "rootfs", rootfs) < 0 ||
            json_add_object(rootfs, "diff_ids", diff_ids) < 0 ||
            json_add_object(manifest, "layers", layers) < 0 ||
            json_add_string(config, "architecture", host.architecture) < 0 ||
            json_add_string(config, "os", "linux") < 0 || json_add_string(rootfs, "type", "layers") < 0)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                OciLocalKind kind;
                json_object *d;

                r = oci_local_detect(fds[i], &kind);
                if (r < 0 || (kind != OCI_LOCAL_TARBALL && kind != OCI_LOCAL_GZIP))
                        return set_error(ret_error, r == -ENOMEM ? r : -EBADMSG,
                                         "layer file %zu: not a tar or a gzipped tar", i + 1);
                r = copy_layer(fds[i], dir_fd, kind == OCI_LOCAL_GZIP, cancel, digest, diff_id, &size);
                if (r == -ECANCELED || r == -ENOMEM)
                        return r;
                if (r < 0)
                        return set_error(ret_error, r == -EIO ? -EBADMSG : r, "layer file %zu: %s", i + 1,
                                         r == -EIO ? "a broken gzip stream" : strerror(-r));
                d = descriptor(kind == OCI_LOCAL_GZIP ? OCI_MEDIA_TYPE_OCI_LAYER_TAR "+gzip"
                                                      : OCI_MEDIA_TYPE_OCI_LAYER_TAR,
                               digest, size);
                if (!d || json_object_array_add(layers, d) < 0 ||
                    json_object_array_add(diff_ids, json_object_new_string(diff_id)) < 0) {
                        json_object_put(d);
                        return -ENOMEM;
                }
        }
        const char *config_text = json_to_string(config);
        if (!config_text || (r = write_blob_text(dir_fd, config_text, digest)) < 0)
                return r < 0 ? r : -ENOMEM;
        if (json_object_object_add(manifest, "schemaVersion", json_object_new_int(2)) < 0 ||
            json_add_string(manifest, "mediaType", OCI_MEDIA_TYPE_OCI_MANIFEST) < 0 ||
            json_add_object(manifest, "config",
                            descriptor(OCI_MEDIA_TYPE_OCI_CONFIG, digest, strlen(config_text))) < 0)
                return -ENOMEM;
        return write_manifest_and_index(dir_fd, manifest);
}
