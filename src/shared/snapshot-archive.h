/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Snapshots as one tar stream (pax, libarchive): the export of a snapshot directory, and the import of an
 * archive as untrusted input, each entry checked before a byte of it is written. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"
#include "snapshot-store.h"

typedef enum SnapshotCompression {
        SNAPSHOT_COMPRESSION_NONE,
        SNAPSHOT_COMPRESSION_GZIP,
        SNAPSHOT_COMPRESSION_ZSTD,
        _SNAPSHOT_COMPRESSION_MAX,
        _SNAPSHOT_COMPRESSION_INVALID = -EINVAL,
} SnapshotCompression;

const char *snapshot_compression_to_string(SnapshotCompression c);
SnapshotCompression snapshot_compression_from_string(const char *s);

/* The largest snapshot.json an archive may bring (the store reads no bigger record either). */
#define SNAPSHOT_ARCHIVE_RECORD_MAX (4U * 1024U * 1024U)
/* The largest file of an archive whose size the record does not bound (a data disk). */
#define SNAPSHOT_ARCHIVE_FILE_MAX (16ULL << 40)

/* How a transfer meets the world; it runs in a worker thread and may block in poll(), never forever. */
typedef struct SnapshotArchiveIO {
        int cancel_fd; /* polls readable: give up with -ECANCELED; < 0: none */
        uint64_t stall_usec; /* the peer takes or gives no byte this long: -ETIMEDOUT; 0: wait forever */
        uint64_t max_bytes; /* an import writes no more data than this, nor than the free space; 0: no cap */
        bool framed;        /* an export's bytes go out in frames (SNAPSHOT_EXPORT_FRAME_MAX) */
        /* After each chunk: the export's payload bytes so far and in all, or the bytes an import consumed
         * (total 0). < 0 stops the transfer with that error. NULL: none. */
        int (*progress)(uint64_t done, uint64_t total, void *userdata);
        void *userdata;
} SnapshotArchiveIO;

/* An export on an upgraded Varlink connection: the archive in frames, each a 4-byte big-endian length and
 * that many bytes (at most SNAPSHOT_EXPORT_FRAME_MAX); a frame of length 0 ends the archive and is followed
 * by the outcome as one Varlink message (JSON and a NUL byte), so that the reader can tell a complete
 * archive from a cut one. */
#define SNAPSHOT_EXPORT_FRAME_MAX (1U << 20)

/* Writes all of data to fd as an export does (waiting on a non-blocking fd, cancellable, stall-bounded). */
int snapshot_archive_write_all(int fd, const void *data, size_t size, const SnapshotArchiveIO *io);

/* Writes the snapshot in dir_fd to out_fd (blocking or not): snapshot.json first, then the payload
 * (snapshot_payload_name_is_valid()), files with holes as pax sparse entries. -errno; *ret_error (optional)
 * says for people what failed. */
int snapshot_archive_write(int dir_fd, int out_fd, SnapshotCompression compression,
                           const SnapshotArchiveIO *io, char **ret_error);

/* The bytes snapshot_archive_write() reads from dir_fd's payload (data, not holes): an export's total. */
int snapshot_archive_measure(int dir_fd, uint64_t *ret_bytes, char **ret_error);

/* The import, in two steps, so that its caller can register the snapshot in between (on its own thread). */
typedef struct SnapshotArchiveReader SnapshotArchiveReader;

/* Starts reading the archive on in_fd (plain, gzip or zstd) and reads its first entry, which must be a
 * snapshot.json that loads and validates as the store's records do. -EBADMSG: the archive is refused,
 * *ret_error says why; other -errno: I/O, cancelled, timed out (*ret_error too). The reader keeps in_fd's
 * number, not the descriptor: the caller keeps it open until the reader is freed. */
int snapshot_archive_reader_open(int in_fd, const SnapshotArchiveIO *io, SnapshotArchiveReader **ret,
                                 char **ret_error);
/* The record the archive brought; it stays the reader's. */
Snapshot *snapshot_archive_reader_snapshot(SnapshotArchiveReader *r);
/* Takes the record out of the reader (the caller registers it); NULL after that. */
Snapshot *snapshot_archive_reader_take_snapshot(SnapshotArchiveReader *r);
/* Writes the rest of the archive into dir_fd (empty), checking each entry first: regular files only, plain
 * names of the record's payload, each once, sizes within the bounds the record sets, sparse maps within
 * the file, all data within the free space of dir_fd's file system; then that every required file came.
 * The record (taken or not) decides the payload names. Errors as above; what was written is the caller's to
 * remove. */
int snapshot_archive_reader_extract(SnapshotArchiveReader *r, const Snapshot *s, int dir_fd,
                                    char **ret_error);
SnapshotArchiveReader *snapshot_archive_reader_free(SnapshotArchiveReader *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(SnapshotArchiveReader *, snapshot_archive_reader_free);

/* Both steps at once into dir_fd: for tests and the fuzzer. */
int snapshot_archive_read(int in_fd, int dir_fd, const SnapshotArchiveIO *io, Snapshot **ret,
                          char **ret_error);
