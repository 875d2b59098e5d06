/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Snapshots as one pax tar stream: export of a snapshot directory, validated import of an archive. */
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "dlopen-archive.h"
#include "fd-util.h"
#include "fs-util.h"
#include "json-util.h"
#include "parse-util.h"
#include "snapshot-archive.h"
#include "strv-util.h"
#include "time-util.h"

#define CHUNK_SIZE (1024U * 1024U)
/* What an import reads of the caller's stream at a time: a pipe's default size. A read never waits for more
 * than is there, and a smaller buffer stays in the allocator's caches (under ASan a 1 MiB one was mapped and
 * unmapped per archive, most of the fuzz harness's time). */
#define READ_CHUNK_SIZE (64U * 1024U)

static const char *const compression_table[_SNAPSHOT_COMPRESSION_MAX] = {
        [SNAPSHOT_COMPRESSION_NONE] = "none",
        [SNAPSHOT_COMPRESSION_GZIP] = "gzip",
        [SNAPSHOT_COMPRESSION_ZSTD] = "zstd",
};

const char *snapshot_compression_to_string(SnapshotCompression c) {
        return c >= 0 && c < _SNAPSHOT_COMPRESSION_MAX ? compression_table[c] : NULL;
}

SnapshotCompression snapshot_compression_from_string(const char *s) {
        for (SnapshotCompression c = 0; s && c < _SNAPSHOT_COMPRESSION_MAX; c++)
                if (streq(s, compression_table[c]))
                        return c;
        return _SNAPSHOT_COMPRESSION_INVALID;
}

static int fail(char **ret_error, int error, const char *format, ...) _printf_(3, 4);
static int fail(char **ret_error, int error, const char *format, ...) {
        if (ret_error && !*ret_error) {
                va_list ap;
                va_start(ap, format);
                if (vasprintf(ret_error, format, ap) < 0)
                        *ret_error = NULL;
                va_end(ap);
        }
        return error;
}

/* An entry name as the archive has it, fit for a message: hostile names may hold anything. */
static void name_for_message(const char *name, char buf[static 160]) {
        size_t k = 0;
        for (const unsigned char *p = (const unsigned char *) (name ?: ""); *p && k < 150; p++) {
                if (*p < 0x20 || *p >= 0x7f || *p == '\\')
                        k += (size_t) snprintf(buf + k, 160 - k, "\\x%02x", *p);
                else
                        buf[k++] = (char) *p;
        }
        buf[k] = '\0';
        if (name && strlen(name) > 150)
                snprintf(buf + MIN(k, 150U), 160 - MIN(k, 150U), "...");
}

/* Waits until fd is ready for events, the transfer is cancelled or the peer stalled. */
static int wait_fd(int fd, short events, const SnapshotArchiveIO *io) {
        struct pollfd p[2] = {
                {.fd = fd, .events = events},
                {.fd = io && io->cancel_fd >= 0 ? io->cancel_fd : -1, .events = POLLIN},
        };
        int timeout =
                io && io->stall_usec > 0 ? (int) MIN(io->stall_usec / 1000U, (uint64_t) INT32_MAX) : -1;
        for (;;) {
                int k = poll(p, 2, timeout);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        return -ETIMEDOUT;
                if (p[1].revents)
                        return -ECANCELED;
                return 0;
        }
}

/* ---- export ---- */

typedef struct Payload {
        const char *name;
        int fd;
        uint64_t size;
        uint64_t data; /* bytes outside holes */
} Payload;

typedef struct WriteContext {
        int fd;
        const SnapshotArchiveIO *io;
        int error; /* why the last write failed: libarchive keeps only a message */
        uint64_t done, total;
} WriteContext;

int snapshot_archive_write_all(int fd, const void *data, size_t size, const SnapshotArchiveIO *io) {
        const uint8_t *p = data;
        while (size > 0) {
                ssize_t n = fd_write_nosignal(fd, p, size);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno != EAGAIN)
                        return -errno;
                if (n < 0) {
                        int r = wait_fd(fd, POLLOUT, io);
                        if (r < 0)
                                return r;
                        continue;
                }
                p += n;
                size -= (size_t) n;
        }
        return 0;
}

static la_ssize_t write_callback(struct archive *a, void *userdata, const void *buf, size_t size) {
        WriteContext *w = userdata;
        int r = 0;
        size = MIN(size, (size_t) SNAPSHOT_EXPORT_FRAME_MAX);
        if (size == 0)
                return 0; /* a 0 frame would end the archive */
        if (w->io && w->io->framed) {
                uint8_t header[4] = {(uint8_t) (size >> 24), (uint8_t) (size >> 16), (uint8_t) (size >> 8),
                                     (uint8_t) size};
                r = snapshot_archive_write_all(w->fd, header, sizeof(header), w->io);
        }
        if (r >= 0)
                r = snapshot_archive_write_all(w->fd, buf, size, w->io);
        if (r >= 0)
                return (la_ssize_t) size;
        w->error = r;
        sym_archive_set_error(a, -r, "%s", strerror(-r));
        return -1;
}

/* The data of fd from offset to its next hole or end; size 0 past the last data. */
static int next_data(int fd, uint64_t size, uint64_t offset, uint64_t *ret_start, uint64_t *ret_end) {
        off_t start = lseek(fd, (off_t) offset, SEEK_DATA);
        if (start < 0) {
                if (errno != ENXIO)
                        return -errno;
                *ret_start = *ret_end = size;
                return 0;
        }
        off_t end = lseek(fd, start, SEEK_HOLE);
        if (end < 0)
                return -errno;
        *ret_start = MIN((uint64_t) start, size);
        *ret_end = MIN((uint64_t) end, size);
        return 0;
}

static int payload_measure(Payload *p) {
        uint64_t offset = 0, start, end;
        p->data = 0;
        while (offset < p->size) {
                int r = next_data(p->fd, p->size, offset, &start, &end);
                if (r < 0)
                        return r;
                if (start >= p->size)
                        break;
                p->data += end - start;
                offset = end;
        }
        return 0;
}

static int report(const SnapshotArchiveIO *io, uint64_t done, uint64_t total) {
        return io && io->progress ? io->progress(done, total, io->userdata) : 0;
}

static int write_bytes(struct archive *a, WriteContext *w, const void *buf, size_t size) {
        while (size > 0) {
                la_ssize_t n = sym_archive_write_data(a, buf, size);
                if (n < 0)
                        return w->error ?: -EIO;
                if (n == 0)
                        return -EIO;
                buf = (const uint8_t *) buf + n;
                size -= (size_t) n;
        }
        return 0;
}

static struct archive_entry *entry_new(const char *name, uint64_t size) {
        struct archive_entry *e = sym_archive_entry_new();
        if (!e)
                return NULL;
        sym_archive_entry_set_pathname(e, name);
        sym_archive_entry_set_filetype(e, AE_IFREG);
        sym_archive_entry_set_perm(e, 0600);
        sym_archive_entry_set_size(e, (la_int64_t) size);
        sym_archive_entry_set_mtime(e, (time_t) (now_usec(CLOCK_REALTIME) / USEC_PER_SEC), 0);
        return e;
}

/* One payload file: its data regions as the sparse map (when it has holes), then every byte in order,
 * holes as zeros the pax writer skips. */
static int write_payload(struct archive *a, WriteContext *w, Payload *p, uint8_t *buf) {
        static const uint8_t zeros[64 * 1024];
        struct archive_entry *e = entry_new(p->name, p->size);
        uint64_t offset = 0, start, end;
        int r = 0;
        if (!e)
                return -ENOMEM;
        if (p->data < p->size) {
                while (offset < p->size && r >= 0) {
                        r = next_data(p->fd, p->size, offset, &start, &end);
                        if (r >= 0 && start < p->size)
                                sym_archive_entry_sparse_add_entry(e, (la_int64_t) start,
                                                               (la_int64_t) (end - start));
                        offset = start >= p->size ? p->size : end;
                }
                /* All holes: an empty map would mean "not sparse"; a region of length 0 at the end says
                 * the size. */
                if (r >= 0 && p->data == 0)
                        sym_archive_entry_sparse_add_entry(e, (la_int64_t) p->size, 0);
        }
        if (r >= 0 && sym_archive_write_header(a, e) != ARCHIVE_OK)
                r = w->error ?: -EIO;
        sym_archive_entry_free(e);
        for (offset = 0; r >= 0 && offset < p->size;) {
                if ((r = next_data(p->fd, p->size, offset, &start, &end)) < 0)
                        break;
                for (; r >= 0 && offset < start; offset += MIN(start - offset, sizeof(zeros)))
                        r = write_bytes(a, w, zeros, (size_t) MIN(start - offset, sizeof(zeros)));
                while (r >= 0 && offset < end) {
                        ssize_t n =
                                pread(p->fd, buf, (size_t) MIN(end - offset, CHUNK_SIZE), (off_t) offset);
                        if (n <= 0) {
                                r = n < 0 ? -errno : -EIO; /* shrank while read */
                                break;
                        }
                        r = write_bytes(a, w, buf, (size_t) n);
                        offset += (uint64_t) n;
                        w->done += (uint64_t) n;
                        if (r >= 0)
                                r = report(w->io, w->done, w->total);
                }
        }
        return r;
}

static int open_payload(int dir_fd, const Snapshot *s, Payload **ret, size_t *ret_n, char **ret_error) {
        _cleanup_free_ const char **required = NULL;
        size_t n = 0, max = 4 + (s->vm ? s->vm->vm.n_storage_configs : 0) + 1;
        Payload *list = calloc(max, sizeof(Payload));
        int r;
        if (!list)
                return -ENOMEM;
        *ret = list;
        *ret_n = 0;
        if ((r = snapshot_payload_required(s, &required)) < 0)
                return r;
        /* The required ones (state, disk copies), then the optional state files that are there. */
        const char *names[16 + max];
        size_t n_names = 0;
        for (size_t i = 0; required[i] && n_names < ELEMENTSOF(names); i++)
                names[n_names++] = required[i];
        size_t n_required = n_names;
        for (size_t i = 1; snapshot_state_files[i] && n_names < ELEMENTSOF(names); i++)
                if (!strv_contains((char **) required, snapshot_state_files[i]))
                        names[n_names++] = snapshot_state_files[i];
        for (size_t i = 0; i < n_names; i++) {
                bool needed = i < n_required;
                struct stat st;
                int fd = openat(dir_fd, names[i], O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                if (fd < 0 && errno == ENOENT && !needed)
                        continue;
                if (fd < 0)
                        return fail(ret_error, -errno, "cannot open the snapshot's %s: %m", names[i]);
                list[n] = (Payload){.name = names[i], .fd = fd};
                *ret_n = ++n;
                if (fstat(fd, &st) < 0)
                        return fail(ret_error, -errno, "cannot stat the snapshot's %s: %m", names[i]);
                if (!S_ISREG(st.st_mode))
                        return fail(ret_error, -EBADF, "the snapshot's %s is not a regular file", names[i]);
                list[n - 1].size = (uint64_t) st.st_size;
                if ((r = payload_measure(list + n - 1)) < 0)
                        return fail(ret_error, r, "cannot map the data of the snapshot's %s: %m", names[i]);
        }
        return 0;
}

static void payload_free(Payload *list, size_t n) {
        for (size_t i = 0; list && i < n; i++)
                safe_close(list[i].fd);
        free(list);
}

static int archive_setup_write(struct archive *a, SnapshotCompression compression) {
        int k = sym_archive_write_set_format_pax(a);
        if (k == ARCHIVE_OK && compression == SNAPSHOT_COMPRESSION_GZIP)
                k = sym_archive_write_add_filter_gzip(a);
        else if (k == ARCHIVE_OK && compression == SNAPSHOT_COMPRESSION_ZSTD)
                k = sym_archive_write_add_filter_zstd(a);
        /* A stream: the last block is not padded to 10 KiB (readers do not need it). */
        if (k == ARCHIVE_OK)
                k = sym_archive_write_set_bytes_in_last_block(a, 1);
        return k == ARCHIVE_OK ? 0 : -EOPNOTSUPP;
}

static int load_dir_record(int dir_fd, char **ret_text, size_t *ret_size, Snapshot **ret, char **ret_error) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        _cleanup_free_ char *text = NULL;
        size_t size;
        int r = read_full_file_at(dir_fd, SNAPSHOT_RECORD_FILE, SNAPSHOT_ARCHIVE_RECORD_MAX, &text, &size);
        if (r >= 0)
                r = json_parse(text, size, &o);
        if (r >= 0)
                r = snapshot_from_json(o, ret, NULL);
        if (r < 0)
                return fail(ret_error, r, "cannot load the snapshot's record: %s", strerror(-r));
        if (ret_text)
                *ret_text = TAKE_PTR(text);
        if (ret_size)
                *ret_size = size;
        return 0;
}

int snapshot_archive_measure(int dir_fd, uint64_t *ret_bytes, char **ret_error) {
        _cleanup_(snapshot_freep) Snapshot *s = NULL;
        Payload *payload = NULL;
        size_t n = 0;
        uint64_t total = 0;
        int r = load_dir_record(dir_fd, NULL, NULL, &s, ret_error);
        if (r < 0)
                return r;
        r = open_payload(dir_fd, s, &payload, &n, ret_error);
        for (size_t i = 0; r >= 0 && i < n; i++)
                total += payload[i].data;
        payload_free(payload, n);
        if (r < 0)
                return r;
        *ret_bytes = total;
        return 0;
}

int snapshot_archive_write(int dir_fd, int out_fd, SnapshotCompression compression,
                           const SnapshotArchiveIO *io, char **ret_error) {
        _cleanup_free_ char *record = NULL, *own_error = NULL;
        _cleanup_(snapshot_freep) Snapshot *s = NULL;
        _cleanup_free_ uint8_t *buf = NULL;
        char **error = ret_error ?: &own_error;
        Payload *payload = NULL;
        size_t record_size, n_payload = 0;
        WriteContext w = {.fd = out_fd, .io = io};
        int r;

        if (compression < 0 || compression >= _SNAPSHOT_COMPRESSION_MAX)
                return -EINVAL;
        r = dlopen_archive();
        if (r < 0)
                return fail(error, r, "libarchive is not available");
        r = load_dir_record(dir_fd, &record, &record_size, &s, error);
        if (r < 0)
                return r;
        if (!(buf = malloc(CHUNK_SIZE)))
                return -ENOMEM;
        r = open_payload(dir_fd, s, &payload, &n_payload, error);
        for (size_t i = 0; r >= 0 && i < n_payload; i++)
                w.total += payload[i].data;

        struct archive *a = r >= 0 ? sym_archive_write_new() : NULL;
        if (r >= 0 && !a)
                r = -ENOMEM;
        if (r >= 0 && (r = archive_setup_write(a, compression)) < 0)
                (void) fail(error, r, "cannot set up the archive: %s", sym_archive_error_string(a));
        if (r >= 0 && sym_archive_write_open(a, &w, NULL, write_callback, NULL) != ARCHIVE_OK)
                r = w.error ?: -EIO;
        /* The record first: a reader knows what to expect (and refuse) before any payload. */
        if (r >= 0) {
                struct archive_entry *e = entry_new(SNAPSHOT_RECORD_FILE, record_size);
                if (!e)
                        r = -ENOMEM;
                else if (sym_archive_write_header(a, e) != ARCHIVE_OK)
                        r = w.error ?: -EIO;
                sym_archive_entry_free(e);
                if (r >= 0)
                        r = write_bytes(a, &w, record, record_size);
        }
        for (size_t i = 0; r >= 0 && i < n_payload; i++)
                r = write_payload(a, &w, payload + i, buf);
        if (r >= 0 && sym_archive_write_close(a) != ARCHIVE_OK)
                r = w.error ?: -EIO;
        if (r < 0 && a && !*error)
                (void) fail(error, r, "cannot write the archive: %s",
                            w.error ? strerror(-w.error) : sym_archive_error_string(a) ?: strerror(-r));
        if (a)
                sym_archive_write_free(a);
        payload_free(payload, n_payload);
        return r;
}

/* ---- import ---- */

struct SnapshotArchiveReader {
        struct archive *archive;
        int fd;
        SnapshotArchiveIO io;
        int error; /* why the last read failed */
        uint64_t consumed;
        uint8_t *buf;
        Snapshot *snapshot;
};

static la_ssize_t read_callback(struct archive *a, void *userdata, const void **ret_buf) {
        SnapshotArchiveReader *r = userdata;
        for (;;) {
                int k = wait_fd(r->fd, POLLIN, &r->io);
                if (k < 0) {
                        r->error = k;
                        break;
                }
                ssize_t n = read(r->fd, r->buf, READ_CHUNK_SIZE);
                if (n < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (n < 0) {
                        r->error = -errno;
                        break;
                }
                r->consumed += (uint64_t) n;
                k = report(&r->io, r->consumed, 0);
                if (k < 0) {
                        r->error = k;
                        break;
                }
                *ret_buf = r->buf;
                return n;
        }
        sym_archive_set_error(a, -r->error, "%s", strerror(-r->error));
        return -1;
}

SnapshotArchiveReader *snapshot_archive_reader_free(SnapshotArchiveReader *r) {
        if (!r)
                return NULL;
        if (r->archive)
                sym_archive_read_free(r->archive);
        snapshot_free(r->snapshot);
        free(r->buf);
        return mfree(r);
}

Snapshot *snapshot_archive_reader_snapshot(SnapshotArchiveReader *r) {
        return r->snapshot;
}

Snapshot *snapshot_archive_reader_take_snapshot(SnapshotArchiveReader *r) {
        return TAKE_PTR(r->snapshot);
}

/* A failed libarchive call: our I/O error if it was one, else the archive is refused as damaged. */
static int read_failed(SnapshotArchiveReader *r, char **ret_error, const char *what) {
        if (r->error == -ECANCELED)
                return fail(ret_error, r->error, "the import was cancelled");
        if (r->error == -ETIMEDOUT)
                return fail(ret_error, r->error, "the archive's sender sent nothing for too long");
        if (r->error < 0)
                return fail(ret_error, r->error, "cannot read the archive: %s", strerror(-r->error));
        const char *message = sym_archive_error_string(r->archive) ?: "unknown error";
        return fail(ret_error, -EBADMSG, "%s: %s", what, message);
}

/* The checks every entry passes first: what it is, and what it is called. */
static int check_entry(struct archive_entry *e, char **ret_error) {
        const char *name = sym_archive_entry_pathname(e);
        char shown[160];
        name_for_message(name, shown);
        if (!name || isempty(name))
                return fail(ret_error, -EBADMSG, "an entry has no name");
        if (sym_archive_entry_hardlink(e))
                return fail(ret_error, -EBADMSG,
                            "entry '%s' is a hard link: only regular files are accepted", shown);
        mode_t type = sym_archive_entry_filetype(e);
        if (type == AE_IFLNK)
                return fail(ret_error, -EBADMSG,
                            "entry '%s' is a symbolic link: only regular files are accepted", shown);
        if (type != AE_IFREG)
                return fail(ret_error, -EBADMSG, "entry '%s' is a %s: only regular files are accepted",
                            shown,
                            type == AE_IFDIR   ? "directory"
                            : type == AE_IFIFO ? "FIFO"
                                               : "device or socket");
        if (strchr(name, '/') || streq(name, ".") || streq(name, ".."))
                return fail(ret_error, -EBADMSG,
                            "entry '%s' has a path (a '/' or '..'): entries are plain file names", shown);
        if (!sym_archive_entry_size_is_set(e) || sym_archive_entry_size(e) < 0)
                return fail(ret_error, -EBADMSG, "entry '%s' has no valid size", shown);
        return 0;
}

/* The version first, so that a newer archive gets a message saying so rather than a schema complaint. */
static int load_record(json_object *o, Snapshot **ret, char **ret_error) {
        json_object *v;
        const char *bad = NULL;
        if (!json_object_is_type(o, json_type_object))
                return fail(ret_error, -EBADMSG, "snapshot.json is not a JSON object");
        if (!json_object_object_get_ex(o, "formatVersion", &v) || !json_object_is_type(v, json_type_int))
                return fail(ret_error, -EBADMSG, "snapshot.json has no formatVersion");
        int64_t version = json_object_get_int64(v);
        if (version != (int64_t) SNAPSHOT_FORMAT_VERSION)
                return fail(ret_error, -EBADMSG,
                            "snapshot.json has format version %" PRIi64 ", this cocoon reads version %u",
                            version, SNAPSHOT_FORMAT_VERSION);
        int r = snapshot_from_json(o, ret, &bad);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return fail(ret_error, -EBADMSG, "snapshot.json: field %s is missing or invalid",
                            bad ?: "(unknown)");
        return 0;
}

static int read_record(SnapshotArchiveReader *r, char **ret_error) {
        struct archive_entry *e;
        int k = sym_archive_read_next_header(r->archive, &e);
        if (k == ARCHIVE_EOF)
                return fail(ret_error, -EBADMSG, "the archive is empty: it has no snapshot.json");
        if (k < ARCHIVE_WARN)
                return read_failed(r, ret_error, "not a snapshot archive (a tar, plain, gzip or zstd)");
        if ((k = check_entry(e, ret_error)) < 0)
                return k;
        if (!streq(sym_archive_entry_pathname(e), SNAPSHOT_RECORD_FILE)) {
                char shown[160];
                name_for_message(sym_archive_entry_pathname(e), shown);
                return fail(ret_error, -EBADMSG,
                            "the archive's first entry is '%s': snapshot.json must be the first entry",
                            shown);
        }
        la_int64_t size = sym_archive_entry_size(e);
        if (size <= 0 || (uint64_t) size > SNAPSHOT_ARCHIVE_RECORD_MAX)
                return fail(ret_error, -EBADMSG, "snapshot.json is empty or larger than %u bytes",
                            SNAPSHOT_ARCHIVE_RECORD_MAX);
        _cleanup_free_ char *text = malloc((size_t) size + 1);
        size_t have = 0;
        if (!text)
                return -ENOMEM;
        while (have < (size_t) size) {
                la_ssize_t n = sym_archive_read_data(r->archive, text + have, (size_t) size - have);
                if (n < 0)
                        return read_failed(r, ret_error, "the archive is truncated or damaged");
                if (n == 0)
                        return fail(ret_error, -EBADMSG, "the archive is truncated in snapshot.json");
                have += (size_t) n;
        }
        text[have] = '\0';
        _cleanup_(json_object_putp) json_object *o = NULL;
        if (json_parse(text, have, &o) < 0)
                return fail(ret_error, -EBADMSG, "snapshot.json is not valid JSON");
        _cleanup_(snapshot_freep) Snapshot *s = NULL;
        if ((k = load_record(o, &s, ret_error)) < 0)
                return k;
        const char *field = NULL;
        _cleanup_free_ char *message = NULL;
        if (snapshot_validate(s, &field, &message) < 0)
                return fail(ret_error, -EBADMSG, "snapshot.json: %s: %s", field ?: "?",
                            message ?: "invalid");
        s->pending = s->leftover = false;
        s->users = 0;
        r->snapshot = TAKE_PTR(s);
        return 0;
}

int snapshot_archive_reader_open(int in_fd, const SnapshotArchiveIO *io, SnapshotArchiveReader **ret,
                                 char **ret_error) {
        _cleanup_(snapshot_archive_reader_freep) SnapshotArchiveReader *r = NULL;
        int k = dlopen_archive();
        if (k < 0)
                return fail(ret_error, k, "libarchive is not available");
        r = calloc(1, sizeof(*r));
        if (!r || !(r->buf = malloc(READ_CHUNK_SIZE)) || !(r->archive = sym_archive_read_new()))
                return -ENOMEM;
        r->fd = in_fd;
        r->io = io ? *io : (SnapshotArchiveIO){.cancel_fd = -EBADF};
        /* Tar only, and only these filters: no external programs, no other formats' surprises. */
        if (sym_archive_read_support_format_tar(r->archive) != ARCHIVE_OK ||
            sym_archive_read_support_filter_gzip(r->archive) != ARCHIVE_OK ||
            sym_archive_read_support_filter_zstd(r->archive) != ARCHIVE_OK)
                return fail(ret_error, -EOPNOTSUPP, "cannot set up the archive reader: %s",
                            sym_archive_error_string(r->archive));
        if (sym_archive_read_open(r->archive, r, NULL, read_callback, NULL) != ARCHIVE_OK)
                return read_failed(r, ret_error, "not a snapshot archive (a tar, plain, gzip or zstd)");
        if ((k = read_record(r, ret_error)) < 0)
                return k;
        *ret = TAKE_PTR(r);
        return 0;
}

typedef struct ExtractState {
        char **seen;
        uint64_t free_bytes, used;
} ExtractState;

/* What a file of the payload may be as large as: the record says how large it was. */
static uint64_t size_bound(const Snapshot *s, const char *name) {
        const VM *vm = &s->vm->vm;
        if (snapshot_state_file_is(s, name))
                return vm->config.memory + (1ULL << 30); /* RAM, and the devices' state on top */
        for (size_t i = 0; i < vm->n_storage_configs; i++) {
                const StorageConfig *d = vm->storage_configs + i;
                const char *base = d->path ? strrchr(d->path, '/') : NULL;
                if (!d->read_only && base && streq(base + 1, name) && d->role == STORAGE_ROLE_COW &&
                    vm->config.storage > 0)
                        return vm->config.storage;
        }
        return SNAPSHOT_ARCHIVE_FILE_MAX;
}

/* The data an entry brings: its sparse map's regions (each checked against the size), or its size. */
static int entry_data(struct archive_entry *e, const char *shown, uint64_t *ret, char **ret_error) {
        uint64_t size = (uint64_t) sym_archive_entry_size(e), data = 0;
        la_int64_t offset, length;
        if (sym_archive_entry_sparse_reset(e) <= 0) {
                *ret = size;
                return 0;
        }
        while (sym_archive_entry_sparse_next(e, &offset, &length) == ARCHIVE_OK) {
                if (offset < 0 || length < 0 || (uint64_t) offset > size ||
                    (uint64_t) length > size - (uint64_t) offset)
                        return fail(ret_error, -EBADMSG,
                                    "the sparse map of entry '%s' reaches beyond its size", shown);
                data += (uint64_t) length;
        }
        *ret = MIN(data, size);
        return 0;
}

static int extract_entry(SnapshotArchiveReader *r, const Snapshot *s, struct archive_entry *e, int dir_fd,
                         ExtractState *st, char **ret_error) {
        const char *name = sym_archive_entry_pathname(e);
        char shown[160], need[FORMAT_SIZE_MAX], have[FORMAT_SIZE_MAX];
        uint64_t size, data = 0, bound;
        int k;

        if ((k = check_entry(e, ret_error)) < 0)
                return k;
        name_for_message(name, shown);
        if (strv_contains(st->seen, name) || streq(name, SNAPSHOT_RECORD_FILE))
                return fail(ret_error, -EBADMSG, "entry '%s' appears twice", shown);
        if (!snapshot_payload_name_is_valid(s, name, NULL))
                return fail(ret_error, -EBADMSG, "entry '%s' is not part of a snapshot's payload", shown);
        if ((k = strv_extend(&st->seen, name)) < 0)
                return k;
        size = (uint64_t) sym_archive_entry_size(e);
        bound = size_bound(s, name);
        if (size > bound)
                return fail(ret_error, -EBADMSG,
                            "entry '%s' declares %s, more than the %s the snapshot allows", shown,
                            format_size(size, need), format_size(bound, have));
        if ((k = entry_data(e, shown, &data, ret_error)) < 0)
                return k;
        if (data > st->free_bytes || st->used + data > st->free_bytes)
                return fail(ret_error, -EBADMSG,
                            "entry '%s' needs %s, more than the %s free on the snapshot store", shown,
                            format_size(st->used + data, need), format_size(st->free_bytes, have));

        _cleanup_close_ int fd =
                openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return fail(ret_error, -errno, "cannot create %s: %m", shown);
        for (;;) {
                const void *buf;
                size_t n;
                la_int64_t offset;
                k = sym_archive_read_data_block(r->archive, &buf, &n, &offset);
                if (k == ARCHIVE_EOF)
                        break;
                if (k < ARCHIVE_WARN)
                        return read_failed(r, ret_error, "the archive is truncated or damaged");
                if (offset < 0 || (uint64_t) offset > size || n > size - (uint64_t) offset)
                        return fail(ret_error, -EBADMSG,
                                    "the sparse map of entry '%s' reaches beyond its size", shown);
                /* The map may understate what comes: every byte is counted against the free space. */
                st->used += n;
                if (st->used > st->free_bytes)
                        return fail(ret_error, -EBADMSG, "entry '%s' needs more than the %s free", shown,
                                    format_size(st->free_bytes, have));
                for (size_t done = 0; done < n;) {
                        ssize_t w = pwrite(fd, (const uint8_t *) buf + done, n - done,
                                           (off_t) ((uint64_t) offset + done));
                        if (w < 0 && errno == EINTR)
                                continue;
                        if (w <= 0)
                                return fail(ret_error, w < 0 ? -errno : -EIO, "cannot write %s: %m", shown);
                        done += (size_t) w;
                }
        }
        if (ftruncate(fd, (off_t) size) < 0 || fsync(fd) < 0)
                return fail(ret_error, -errno, "cannot write %s: %m", shown);
        return 0;
}

int snapshot_archive_reader_extract(SnapshotArchiveReader *r, const Snapshot *s, int dir_fd,
                                    char **ret_error) {
        _cleanup_strv_free_ char **seen = NULL;
        _cleanup_free_ const char **required = NULL;
        struct statvfs sv;
        struct archive_entry *e;
        int k;

        if (fstatvfs(dir_fd, &sv) < 0)
                return fail(ret_error, -errno, "cannot tell the free space of the snapshot store: %m");
        ExtractState st = {.free_bytes = (uint64_t) sv.f_bavail * (uint64_t) sv.f_frsize};
        if (r->io.max_bytes > 0)
                st.free_bytes = MIN(st.free_bytes, r->io.max_bytes);
        for (;;) {
                k = sym_archive_read_next_header(r->archive, &e);
                if (k == ARCHIVE_EOF)
                        break;
                if (k < ARCHIVE_WARN) {
                        k = read_failed(r, ret_error, "the archive is truncated or damaged");
                        break;
                }
                if ((k = extract_entry(r, s, e, dir_fd, &st, ret_error)) < 0)
                        break;
        }
        seen = TAKE_PTR(st.seen);
        if (k < 0 && k != ARCHIVE_EOF)
                return k;
        if ((k = snapshot_payload_required(s, &required)) < 0)
                return k;
        for (size_t i = 0; required[i]; i++)
                if (!strv_contains(seen, required[i]))
                        return fail(ret_error, -EBADMSG, "the archive lacks the snapshot's %s", required[i]);
        if (fsync(dir_fd) < 0)
                return fail(ret_error, -errno, "cannot sync the snapshot: %m");
        return 0;
}

int snapshot_archive_read(int in_fd, int dir_fd, const SnapshotArchiveIO *io, Snapshot **ret,
                          char **ret_error) {
        _cleanup_(snapshot_archive_reader_freep) SnapshotArchiveReader *r = NULL;
        int k = snapshot_archive_reader_open(in_fd, io, &r, ret_error);
        if (k < 0)
                return k;
        k = snapshot_archive_reader_extract(r, r->snapshot, dir_fd, ret_error);
        if (k < 0)
                return k;
        if (ret)
                *ret = snapshot_archive_reader_take_snapshot(r);
        return 0;
}
