/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for the isa-l gzip reader (gzip-reader.c): what it inflates equals the input (one member, two, a
 * gzip tar read by libarchive, a pipe giving a few bytes per read); a truncated stream, a flipped CRC,
 * length or data byte fail as a corrupt stream; what follows the last member ends the stream exactly
 * where libarchive's own gzip filter ends it; anything that is not gzip passes through untouched. */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "dlopen-archive.h"
#include "dlopen-isal.h"
#include "gzip-reader.h"

typedef struct Buffer {
        uint8_t *data;
        size_t size;
} Buffer;

static void buffer_append(Buffer *b, const void *p, size_t n) {
        b->data = realloc(b->data, b->size + n + 1);
        assert_non_null(b->data);
        memcpy(b->data + b->size, p, n);
        b->size += n;
}

/* size bytes, half text that compresses, half pseudo-random that does not. */
static Buffer sample(size_t size, unsigned seed) {
        Buffer b = {};
        uint32_t x = seed * 2654435761u + 1;

        b.data = malloc(size + 1);
        assert_non_null(b.data);
        for (size_t i = 0; i < size; i++) {
                x = x * 1103515245u + 12345u;
                b.data[i] = i % 4096 < 2048 ? (uint8_t) "cocoon layer text "[i % 18] : (uint8_t) (x >> 16);
        }
        b.size = size;
        return b;
}

/* One gzip member of p (zlib, as gzip(1) writes it); with a file name in the header when name is set. */
static void gzip_member(Buffer *out, const void *p, size_t n, const char *name) {
        z_stream z = {};
        gz_header h = {.name = (Bytef *) name, .os = 3};
        uint8_t chunk[16384];
        int k;

        assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
        if (name)
                assert_int_equal(deflateSetHeader(&z, &h), Z_OK);
        z.next_in = (Bytef *) p;
        z.avail_in = (uInt) n;
        do {
                z.next_out = chunk;
                z.avail_out = sizeof(chunk);
                k = deflate(&z, Z_FINISH);
                assert_true(k == Z_OK || k == Z_STREAM_END || k == Z_BUF_ERROR);
                buffer_append(out, chunk, sizeof(chunk) - z.avail_out);
        } while (k != Z_STREAM_END);
        deflateEnd(&z);
}

static int memory_fd(const Buffer *b) {
        int fd = memfd_create("gzip-reader", MFD_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, b->data, b->size), (ssize_t) b->size);
        assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
        return fd;
}

/* Everything the reader gives for fd, until its end (0) or an error (-1, *ret_error its message). */
static int read_all(int fd, bool *ret_inflates, Buffer *ret, char **ret_error) {
        _cleanup_(gzip_reader_freep) GzipReader *r = NULL;
        struct archive *a = archive_read_new();
        const void *p;
        ssize_t n;

        assert_non_null(a);
        assert_int_equal(gzip_reader_new(fd, &r), 0);
        if (ret_inflates)
                *ret_inflates = gzip_reader_inflates(r);
        *ret = (Buffer){};
        while ((n = gzip_reader_read(a, r, &p)) > 0)
                buffer_append(ret, p, (size_t) n);
        if (n < 0) {
                *ret_error = strdup(archive_error_string(a));
                /* Failed once, failed for good. */
                assert_int_equal(gzip_reader_read(a, r, &p), ARCHIVE_FATAL);
        }
        archive_read_free(a);
        return n < 0 ? -1 : 0;
}

static int read_buffer(const Buffer *in, Buffer *ret, char **ret_error) {
        bool inflates;
        int fd = memory_fd(in), r;

        r = read_all(fd, &inflates, ret, ret_error);
        close(fd);
        assert_true(inflates);
        return r;
}

/* What libarchive's own gzip filter (zlib) makes of the same bytes: -1 when it fails. */
static int libarchive_inflate(const Buffer *in, Buffer *ret) {
        struct archive *a = archive_read_new();
        struct archive_entry *e;
        char chunk[65536];
        la_ssize_t n;

        archive_read_support_filter_gzip(a);
        archive_read_support_format_raw(a);
        *ret = (Buffer){};
        /* Opening reads ahead, and may fail already. */
        if (archive_read_open_memory(a, in->data, in->size) != ARCHIVE_OK ||
            archive_read_next_header(a, &e) != ARCHIVE_OK) {
                archive_read_free(a);
                return -1;
        }
        while ((n = archive_read_data(a, chunk, sizeof(chunk))) > 0)
                buffer_append(ret, chunk, (size_t) n);
        archive_read_free(a);
        return n < 0 ? -1 : 0;
}

static void assert_same(const Buffer *a, const Buffer *b) {
        assert_int_equal(a->size, b->size);
        assert_memory_equal(a->data, b->data, a->size);
}

static void assert_corrupt(const Buffer *in, const char *reason) {
        _cleanup_free_ char *error = NULL;
        Buffer out;

        assert_int_equal(read_buffer(in, &out, &error), -1);
        free(out.data);
        assert_non_null(error);
        if (!strstr(error, "corrupt gzip stream") || (reason && !strstr(error, reason)))
                fail_msg("error \"%s\", expected \"corrupt gzip stream: %s\"", error, reason ?: "...");
}

static int setup(void **state) {
        return dlopen_archive() < 0 || dlopen_isal() < 0 ? -1 : 0;
}

static void test_one_member(void **state) {
        Buffer data = sample(1500 * 1000, 1), gz = {}, out;
        char *error = NULL;

        gzip_member(&gz, data.data, data.size, "layer.tar");
        /* Larger than the reader's output block: several calls. */
        assert_int_equal(read_buffer(&gz, &out, &error), 0);
        assert_same(&out, &data);
        free(out.data);

        /* An empty member. */
        free(gz.data);
        gz = (Buffer){};
        gzip_member(&gz, "", 0, NULL);
        assert_int_equal(read_buffer(&gz, &out, &error), 0);
        assert_int_equal(out.size, 0);
        free(gz.data);
        free(data.data);
}

static void test_two_members(void **state) {
        Buffer a = sample(300 * 1000, 2), b = sample(70 * 1000, 3), gz = {}, both = {}, out;
        char *error = NULL;

        gzip_member(&gz, a.data, a.size, NULL);
        gzip_member(&gz, b.data, b.size, "second");
        buffer_append(&both, a.data, a.size);
        buffer_append(&both, b.data, b.size);
        assert_int_equal(read_buffer(&gz, &out, &error), 0);
        assert_same(&out, &both);
        free(out.data);
        free(a.data);
        free(b.data);
        free(gz.data);
        free(both.data);
}

static void test_gzip_tar(void **state) {
        struct archive *w = archive_write_new(), *r = archive_read_new();
        _cleanup_(gzip_reader_freep) GzipReader *reader = NULL;
        Buffer big = sample(200 * 1000, 4);
        char path[] = "/tmp/test-gzip-reader-XXXXXX";
        struct archive_entry *e;
        static char got[200 * 1000];
        unsigned n = 0;
        int fd;

        fd = mkstemp(path);
        assert_true(fd >= 0);
        unlink(path);
        archive_write_set_format_pax_restricted(w);
        archive_write_add_filter_gzip(w);
        assert_int_equal(archive_write_open_fd(w, fd), ARCHIVE_OK);
        for (unsigned i = 0; i < 20; i++) {
                char name[32];
                e = archive_entry_new();
                snprintf(name, sizeof(name), "dir/file-%u", i);
                archive_entry_set_pathname(e, name);
                archive_entry_set_filetype(e, AE_IFREG);
                archive_entry_set_perm(e, 0644);
                archive_entry_set_size(e, (la_int64_t) big.size - i);
                assert_int_equal(archive_write_header(w, e), ARCHIVE_OK);
                assert_int_equal(archive_write_data(w, big.data + i, big.size - i),
                                 (ssize_t) (big.size - i));
                archive_entry_free(e);
        }
        assert_int_equal(archive_write_close(w), ARCHIVE_OK);
        archive_write_free(w);
        assert_int_equal(lseek(fd, 0, SEEK_SET), 0);

        assert_int_equal(gzip_reader_new(fd, &reader), 0);
        assert_true(gzip_reader_inflates(reader));
        archive_read_support_filter_gzip(r);
        archive_read_support_format_tar(r);
        assert_int_equal(archive_read_open(r, reader, NULL, gzip_reader_read, NULL), ARCHIVE_OK);
        while (archive_read_next_header(r, &e) == ARCHIVE_OK) {
                size_t size = (size_t) archive_entry_size(e);
                assert_int_equal(size, big.size - n);
                assert_int_equal(archive_read_data(r, got, sizeof(got)), (ssize_t) size);
                assert_memory_equal(got, big.data + n, size);
                n++;
        }
        assert_int_equal(n, 20);
        /* The tar itself was read through the reader: no filter of libarchive's in between. */
        assert_int_equal(archive_filter_code(r, 0), ARCHIVE_FILTER_NONE);
        archive_read_free(r);
        close(fd);
        free(big.data);
}

static void test_truncated(void **state) {
        Buffer data = sample(100 * 1000, 5), gz = {};
        size_t size;

        gzip_member(&gz, data.data, data.size, "name");
        size = gz.size;
        /* Cut in the header's file name, in the deflate data, before the trailer, before its last byte. */
        const size_t cuts[] = {12, 3000, size - 8, size - 1};
        for (size_t i = 0; i < ELEMENTSOF(cuts); i++) {
                gz.size = cuts[i];
                assert_corrupt(&gz, "truncated");
        }
        free(gz.data);
        free(data.data);
}

static void test_flipped(void **state) {
        Buffer data = sample(100 * 1000, 6), gz = {};

        gzip_member(&gz, data.data, data.size, NULL);
        /* The CRC-32, then the length in the trailer. */
        gz.data[gz.size - 8] ^= 0x01;
        assert_corrupt(&gz, "CRC or length mismatch");
        gz.data[gz.size - 8] ^= 0x01;
        gz.data[gz.size - 2] ^= 0x40;
        assert_corrupt(&gz, "CRC or length mismatch");
        gz.data[gz.size - 2] ^= 0x40;
        /* A byte of the deflate data: whatever isa-l makes of it, a corrupt stream (often a CRC mismatch:
         * a flipped bit in a literal still decodes). */
        for (size_t at = 20; at < gz.size - 8; at += gz.size / 7) {
                gz.data[at] ^= 0x10;
                assert_corrupt(&gz, NULL);
                gz.data[at] ^= 0x10;
        }
        free(gz.data);
        free(data.data);
}

/* member + tail: the reader stops where libarchive's filter stops, with the same bytes, or both fail. */
static void check_tail(const void *tail, size_t tail_size, bool fails) {
        Buffer data = sample(50 * 1000, 7), gz = {}, ours, theirs;
        char *error = NULL;

        gzip_member(&gz, data.data, data.size, NULL);
        buffer_append(&gz, tail, tail_size);
        assert_int_equal(libarchive_inflate(&gz, &theirs), fails ? -1 : 0);
        if (fails) {
                assert_corrupt(&gz, NULL);
        } else {
                assert_int_equal(read_buffer(&gz, &ours, &error), 0);
                assert_same(&ours, &theirs);
                assert_same(&ours, &data);
                free(ours.data);
        }
        free(theirs.data);
        free(gz.data);
        free(data.data);
}

static void test_trailing(void **state) {
        static const uint8_t zeros[10240] = {};
        Buffer next = {};

        /* Padding to a block (what tar and some registries leave), garbage, a header too short to be one,
         * a header with reserved flags, another method: all end the stream, as in libarchive. */
        check_tail(zeros, sizeof(zeros), false);
        check_tail(zeros, 3, false);
        check_tail("garbage after the member\n", 25, false);
        check_tail("\x1f\x8b\x08\x00\x00", 5, false);
        check_tail("\x1f\x8b\x08\xe0\x00\x00\x00\x00\x00\x03rest", 14, false);
        check_tail("\x1f\x8b\x07\x00\x00\x00\x00\x00\x00\x03rest", 14, false);
        /* A header whose file name the input ends in: no member to libarchive either. */
        check_tail("\x1f\x8b\x08\x08\x00\x00\x00\x00\x00\x03name-without-end", 26, false);

        /* A real member cut in its deflate data after a whole one: both fail. */
        gzip_member(&next, "more data, and more, and more data", 34, NULL);
        check_tail(next.data, next.size - 12, true);
        free(next.data);
}

static void test_pipe_pieces(void **state) {
        Buffer data = sample(120 * 1000, 8), gz = {}, out;
        char *error = NULL;
        int p[2];
        pid_t pid;

        gzip_member(&gz, data.data, data.size, "piped");
        gzip_member(&gz, "tail", 4, NULL);
        buffer_append(&data, "tail", 4);
        /* Packet mode: each read() returns one write() of 1 to 13 bytes, so every header, member boundary
         * and trailer is split across reads somewhere. */
        assert_int_equal(pipe2(p, O_CLOEXEC | O_DIRECT), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                close(p[0]);
                for (size_t at = 0, n; at < gz.size; at += n) {
                        n = MIN(1 + at % 13, gz.size - at);
                        if (write(p[1], gz.data + at, n) != (ssize_t) n)
                                _exit(1);
                }
                _exit(0);
        }
        close(p[1]);
        bool inflates;
        assert_int_equal(read_all(p[0], &inflates, &out, &error), 0);
        assert_true(inflates);
        assert_same(&out, &data);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        close(p[0]);
        free(out.data);
        free(gz.data);
        free(data.data);
}

static void test_not_gzip(void **state) {
        static const char *const inputs[] = {
                "",
                "x",
                "\x1f\x8b",
                "\x1f\x8b\x08\x00",
                "a plain tar would be here, 512-byte blocks ...",
                "\x28\xb5\x2f\xfd zstd magic",
        };
        for (size_t i = 0; i < ELEMENTSOF(inputs); i++) {
                Buffer in = {.data = (uint8_t *) inputs[i], .size = strlen(inputs[i])}, out;
                char *error = NULL;
                bool inflates;
                int fd = memory_fd(&in);

                assert_int_equal(read_all(fd, &inflates, &out, &error), 0);
                close(fd);
                assert_false(inflates);
                assert_int_equal(out.size, in.size);
                if (in.size > 0)
                        assert_memory_equal(out.data, in.data, in.size);
                free(out.data);
        }

        /* Bigger than the reader's input block, passed through as it is. */
        Buffer big = sample(1000 * 1000, 9), out;
        char *error = NULL;
        int fd = memory_fd(&big);
        assert_int_equal(read_all(fd, NULL, &out, &error), 0);
        close(fd);
        assert_same(&out, &big);
        free(out.data);
        free(big.data);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_one_member),  cmocka_unit_test(test_two_members),
                cmocka_unit_test(test_gzip_tar),    cmocka_unit_test(test_truncated),
                cmocka_unit_test(test_flipped),     cmocka_unit_test(test_trailing),
                cmocka_unit_test(test_pipe_pieces), cmocka_unit_test(test_not_gzip),
        };
        return cmocka_run_group_tests(tests, setup, NULL);
}
