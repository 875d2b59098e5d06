/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for the console log's filtered readers: the last N lines of a log in one or two files, found by
 * bounded backward reads (-EAGAIN between them), compared with a plain forward count. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../src/cocoon-manager/console-log-index.h"
#include "../src/cocoon-manager/console-log.h"
#include "fs-util.h"
#include "macro.h"

typedef struct Fixture {
        char dir[64];
        char path[128];
        char old_path[128];
} Fixture;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(Fixture));
        assert_non_null(f);
        strcpy(f->dir, "/tmp/test-console-log-tail-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->path, sizeof(f->path), "%s/console.log", f->dir);
        snprintf(f->old_path, sizeof(f->old_path), "%s/console.log" CONSOLE_LOG_OLD_SUFFIX, f->dir);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        assert_int_equal(rm_rf(f->dir), 0);
        free(f);
        return 0;
}

static void put(const char *path, const void *data, size_t size) {
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, size), (ssize_t) size);
}

/* Everything a reader with the filter returns; *ret_again counts the -EAGAIN answers on the way. */
static char *read_with(Fixture *f, ConsoleLogFilter filter, size_t *ret_size, unsigned *ret_again) {
        ConsoleLogReader reader = CONSOLE_LOG_READER_INIT;
        char *out = NULL, buf[1000];
        size_t size = 0;
        unsigned again = 0;

        assert_int_equal(console_log_reader_open(f->path, &reader), 0);
        assert_true(console_log_reader_set_filter(&reader, f->path, &filter) >= 0);
        for (;;) {
                ssize_t n = console_log_reader_read(&reader, buf, sizeof(buf));
                if (n == -EAGAIN) {
                        again++;
                        assert_true(again < 100000);
                        continue;
                }
                assert_true(n >= 0);
                if (n == 0)
                        break;
                out = realloc(out, size + (size_t) n + 1);
                assert_non_null(out);
                memcpy(out + size, buf, (size_t) n);
                size += (size_t) n;
        }
        console_log_reader_done(&reader);
        out = realloc(out, size + 1);
        assert_non_null(out);
        out[size] = 0;
        *ret_size = size;
        if (ret_again)
                *ret_again = again;
        return out;
}

static char *read_filtered(Fixture *f, uint64_t lines, size_t *ret_size, unsigned *ret_again) {
        return read_with(f, (ConsoleLogFilter) { .lines = lines }, ret_size, ret_again);
}

static void expect(Fixture *f, uint64_t lines, const char *expected) {
        size_t size;
        _cleanup_free_ char *got = read_filtered(f, lines, &size, NULL);
        assert_string_equal(got, expected);
        assert_int_equal(size, strlen(expected));
}

static void test_small(void **state) {
        Fixture *f = *state;

        /* No log at all: nothing, whatever is asked. */
        expect(f, 3, "");
        put(f->path, "a\nb\nc\n", 6);
        expect(f, 0, "");
        expect(f, 1, "c\n");
        expect(f, 2, "b\nc\n");
        expect(f, 3, "a\nb\nc\n");
        expect(f, 100, "a\nb\nc\n");
        expect(f, UINT64_MAX, "a\nb\nc\n");

        /* A prompt after the last newline is a line of its own. */
        put(f->path, "a\nb\nlogin: ", 11);
        expect(f, 1, "login: ");
        expect(f, 2, "b\nlogin: ");
        expect(f, 3, "a\nb\nlogin: ");

        /* Empty lines count; a log that is only newlines. */
        put(f->path, "\n\n\n", 3);
        expect(f, 1, "\n");
        expect(f, 2, "\n\n");
        expect(f, 4, "\n\n\n");
}

static void test_two_files(void **state) {
        Fixture *f = *state;

        /* A line split by the rotation is one line; the old file comes first. */
        put(f->old_path, "one\ntwo\nhal", 11);
        put(f->path, "f\nlast\n", 7);
        expect(f, 1, "last\n");
        expect(f, 2, "half\nlast\n");
        expect(f, 3, "two\nhalf\nlast\n");
        expect(f, 9, "one\ntwo\nhalf\nlast\n");

        /* Only the old file has newlines. */
        put(f->old_path, "x\ny\n", 4);
        put(f->path, "zzz", 3);
        expect(f, 1, "zzz");
        expect(f, 2, "y\nzzz");

        /* The current file is empty. */
        put(f->path, "", 0);
        expect(f, 1, "y\n");
}

/* The forward answer: the offset where the last n lines of data start. */
static size_t forward_start(const char *data, size_t size, uint64_t n) {
        size_t count = 0, start = 0;
        if (n == 0)
                return size;
        for (size_t i = 0; i < size; i++)
                if (data[i] == '\n' && i + 1 < size)
                        count++;
        /* count newlines that start a line; skip count - n + 1 of them when there are more than n lines */
        if (count + 1 <= n)
                return 0;
        uint64_t skip = count + 1 - n;
        for (size_t i = 0; i < size; i++)
                if (data[i] == '\n' && --skip == 0) {
                        start = i + 1;
                        break;
                }
        return start;
}

/* Big logs in two files with lines of every length, some longer than a read: the same as counting forward,
 * and the search takes several bounded steps. */
static void test_big(void **state) {
        Fixture *f = *state;
        size_t total = 600 * 1024, split = 250 * 1024 + 17;
        _cleanup_free_ char *data = malloc(total);
        unsigned seed = 1;

        assert_non_null(data);
        for (size_t i = 0; i < total;) {
                /* Mostly short lines, now and then one of up to 100 KiB. */
                seed = seed * 1103515245U + 12345U;
                size_t len = (seed >> 16) % 23 == 0 ? (seed >> 8) % (100 * 1024) : (seed >> 16) % 120;
                for (size_t j = 0; j < len && i < total; j++, i++)
                        data[i] = (char) ('a' + (i + j) % 26);
                if (i < total)
                        data[i++] = '\n';
        }
        put(f->old_path, data, split);
        put(f->path, data + split, total - split);

        uint64_t tries[] = { 0, 1, 2, 7, 50, 333, 1000, 5000, 100000 };
        for (size_t t = 0; t < ELEMENTSOF(tries); t++) {
                size_t size, start = forward_start(data, total, tries[t]);
                unsigned again;
                _cleanup_free_ char *got = read_filtered(f, tries[t], &size, &again);
                assert_int_equal(size, total - start);
                assert_memory_equal(got, data + start, size);
                if (tries[t] >= 5000)
                        assert_true(again > 1); /* more than one bounded read went into the search */
        }
}

/* A log of one huge line: the search reads back to the start, a chunk per call. */
static void test_no_newline(void **state) {
        Fixture *f = *state;
        size_t total = 1024 * 1024;
        _cleanup_free_ char *data = malloc(total);
        unsigned again;
        size_t size;

        assert_non_null(data);
        memset(data, 'x', total);
        put(f->path, data, total);
        _cleanup_free_ char *got = read_filtered(f, 1, &size, &again);
        assert_int_equal(size, total);
        assert_true(again >= total / (64 * 1024));
}

/* A filter is only for a reader that has not read yet. */
static void test_filter_after_read(void **state) {
        Fixture *f = *state;
        ConsoleLogReader reader = CONSOLE_LOG_READER_INIT;
        ConsoleLogFilter filter = { .lines = 1 };
        char buf[2];

        put(f->path, "a\nb\n", 4);
        assert_int_equal(console_log_reader_open(f->path, &reader), 0);
        assert_int_equal(console_log_reader_read(&reader, buf, sizeof(buf)), 2);
        assert_int_equal(console_log_reader_set_filter(&reader, f->path, &filter), -EINVAL);
        console_log_reader_done(&reader);
}

#define SEC(s) ((uint64_t) ((s) * 1000000.0))

static void append_at(ConsoleLog *log, const char *text, double sec) {
        assert_int_equal(console_log_append_at(log, text, strlen(text), SEC(sec)), 0);
}

static void expect_since(Fixture *f, double since, uint64_t lines, const char *expected) {
        size_t size;
        _cleanup_free_ char *got =
                read_with(f, (ConsoleLogFilter) { .lines = lines, .since_usec = SEC(since) }, &size, NULL);
        assert_string_equal(got, expected);
}

/* --since: lines logged since a time, to the second, from the start of the line the first new byte is in. */
static void test_since(void **state) {
        Fixture *f = *state;
        ConsoleLog log;

        /* No log, no index: nothing. */
        expect_since(f, 10, UINT64_MAX, "");

        assert_int_equal(console_log_init(&log, f->path, 0), 0);
        append_at(&log, "boot1\n", 1000);
        append_at(&log, "boot2\n", 1000.5); /* the same second: no record of its own */
        append_at(&log, "mid\n", 2000);
        append_at(&log, "late1\nlate", 3000);
        append_at(&log, "2\n", 3000.2);
        append_at(&log, "par", 5000);
        append_at(&log, "tial\n", 6000);

        expect_since(f, 1, UINT64_MAX, "boot1\nboot2\nmid\nlate1\nlate2\npartial\n");
        expect_since(f, 1000, UINT64_MAX, "boot1\nboot2\nmid\nlate1\nlate2\npartial\n");
        expect_since(f, 1500, UINT64_MAX, "mid\nlate1\nlate2\npartial\n");
        expect_since(f, 2000, UINT64_MAX, "mid\nlate1\nlate2\npartial\n");
        /* Within the second of a record: that record's bytes show too. */
        expect_since(f, 2000.5, UINT64_MAX, "mid\nlate1\nlate2\npartial\n");
        expect_since(f, 2001, UINT64_MAX, "late1\nlate2\npartial\n");
        /* A line begun before and ended since: the whole line. */
        expect_since(f, 5500, UINT64_MAX, "partial\n");
        expect_since(f, 2000, 2, "late2\npartial\n");
        expect_since(f, 7000, UINT64_MAX, "");
        append_at(&log, "prompt# ", 8000);
        expect_since(f, 9000, UINT64_MAX, ""); /* nothing since: not even the unfinished line */
        expect_since(f, 8000, UINT64_MAX, "prompt# ");
        /* With lines: the last of those. */
        expect_since(f, 2000, 2, "partial\nprompt# ");
        expect_since(f, 5500, 3, "partial\nprompt# ");
        expect_since(f, 2001, 0, "");
        console_log_done(&log);

        /* Reopened (a new manager): appends go on, with a record at once, whatever the time. */
        assert_int_equal(console_log_init(&log, f->path, 0), 0);
        append_at(&log, "again\n", 6000.1);
        expect_since(f, 6000.5, UINT64_MAX, "partial\nprompt# again\n");
        console_log_done(&log);
}

/* Rotations take the index along: times are found in both files; an index that would outgrow its share
 * rotates the log early. */
static void test_since_rotation(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *index = NULL, *index_old = NULL;
        ConsoleLog log;
        struct stat st;

        assert_int_equal(console_log_init(&log, f->path, 16), 0);
        append_at(&log, "aaaa\nbbbb\n", 100);
        append_at(&log, "cccc\ndddd\n", 200); /* crosses the 16-byte cap */
        append_at(&log, "ee\n", 300);
        assert_true(asprintf(&index, "%s" CONSOLE_LOG_INDEX_SUFFIX, f->path) > 0);
        assert_true(asprintf(&index_old, "%s" CONSOLE_LOG_INDEX_SUFFIX, f->old_path) > 0);
        assert_int_equal(stat(index, &st), 0);
        assert_int_equal(stat(index_old, &st), 0);
        expect_since(f, 150, UINT64_MAX, "cccc\ndddd\nee\n");
        expect_since(f, 250, UINT64_MAX, "ee\n");
        console_log_done(&log);

        /* 64 records fit the index of a 400-byte log: the 65th second rotates it at 128 bytes. */
        assert_int_equal(console_log_init(&log, f->path, 400), 0);
        assert_int_equal(unlink(f->path), 0);
        assert_int_equal(unlink(index), 0);
        for (unsigned i = 0; i < 70; i++)
                append_at(&log, "x\n", 1000 + i);
        assert_int_equal(stat(f->old_path, &st), 0);
        assert_int_equal(st.st_size, 128);
        assert_int_equal(stat(f->path, &st), 0);
        assert_int_equal(st.st_size, 12);
        assert_int_equal(stat(index_old, &st), 0);
        assert_int_equal(st.st_size, 64 * (off_t) sizeof(ConsoleLogIndexRecord));
        expect_since(f, 1060, UINT64_MAX, "x\nx\nx\nx\nx\nx\nx\nx\nx\nx\n");
        expect_since(f, 1066, UINT64_MAX, "x\nx\nx\nx\n");
        console_log_done(&log);
}

/* A torn last record (a crash while writing it) is cut when the log is opened again; records of a file
 * the reader does not have are left alone. */
static void test_index_torn(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *index = NULL;
        ConsoleLog log;
        struct stat st;

        assert_true(asprintf(&index, "%s" CONSOLE_LOG_INDEX_SUFFIX, f->path) > 0);
        assert_int_equal(console_log_init(&log, f->path, 0), 0);
        append_at(&log, "one\n", 10);
        console_log_done(&log);

        _cleanup_close_ int fd = open(index, O_WRONLY | O_APPEND | O_CLOEXEC);
        assert_true(fd >= 0);
        ConsoleLogIndexRecord stranger = { .ino = 1, .offset = 0, .usec = SEC(50) };
        assert_int_equal(write(fd, &stranger, sizeof(stranger)), (ssize_t) sizeof(stranger));
        assert_int_equal(write(fd, "torn", 4), 4);
        expect_since(f, 20, UINT64_MAX, ""); /* the torn piece is not read as a record */

        assert_int_equal(console_log_init(&log, f->path, 0), 0);
        append_at(&log, "two\n", 30);
        console_log_done(&log);
        assert_int_equal(stat(index, &st), 0);
        assert_int_equal(st.st_size % (off_t) sizeof(ConsoleLogIndexRecord), 0);
        assert_int_equal(st.st_size, 3 * (off_t) sizeof(ConsoleLogIndexRecord));
        expect_since(f, 20, UINT64_MAX, "two\n");
        expect_since(f, 5, UINT64_MAX, "one\ntwo\n");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_small, setup, teardown),
                cmocka_unit_test_setup_teardown(test_two_files, setup, teardown),
                cmocka_unit_test_setup_teardown(test_big, setup, teardown),
                cmocka_unit_test_setup_teardown(test_no_newline, setup, teardown),
                cmocka_unit_test_setup_teardown(test_filter_after_read, setup, teardown),
                cmocka_unit_test_setup_teardown(test_since, setup, teardown),
                cmocka_unit_test_setup_teardown(test_since_rotation, setup, teardown),
                cmocka_unit_test_setup_teardown(test_index_torn, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
