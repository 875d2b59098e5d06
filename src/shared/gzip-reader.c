/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A libarchive read callback inflating gzip with isa-l; other input passes through to libarchive. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dlopen-archive.h"
#include "dlopen-isal.h"
#include "gzip-reader.h"

/* Fixed, whatever the layer's size: input is read, and output handed to libarchive, in blocks of these.
 * 64 KiB each: allocations above 128 KiB are an mmap() and page faults each under ASan
 * (fuzz-gzip-reader ran 1,000 inputs a second with blocks of 128 and 256 KiB). */
#define GZIP_READER_IN_SIZE (64U * 1024)
#define GZIP_READER_OUT_SIZE (64U * 1024)
/* A member's fixed header (RFC 1952): ID1 ID2 CM FLG MTIME(4) XFL OS. */
#define GZIP_HEADER_FIXED 10

struct GzipReader {
        int fd;
        bool inflate; /* isa-l inflates; else the bytes pass through */
        bool input_eof; /* read() returned 0 */
        bool member_done; /* the current member ended, its CRC and length checked */
        bool done; /* the stream ended: 0 from now on */
        unsigned members; /* members that ended */
        /* Set once failed: every later call fails the same way. Static strings; reason NULL for
         * strerror(error_errno). */
        const char *error, *reason;
        int error_errno;
        uint8_t *in; /* GZIP_READER_IN_SIZE; in[in_pos, in_len) not consumed yet */
        size_t in_pos, in_len;
        uint8_t *out; /* GZIP_READER_OUT_SIZE */
        struct inflate_state *state;
};

static const struct {
        int code;
        const char *text;
} isal_errors[] = {
        {ISAL_INVALID_BLOCK, "invalid deflate block"},
        {ISAL_INVALID_SYMBOL, "invalid deflate symbol"},
        {ISAL_INVALID_LOOKBACK, "back-reference before the start of the data"},
        {ISAL_INVALID_WRAPPER, "invalid gzip header"},
        {ISAL_UNSUPPORTED_METHOD, "compression method is not deflate"},
        {ISAL_INCORRECT_CHECKSUM, "CRC or length mismatch"},
};

static const char *isal_error_to_string(int code) {
        for (size_t i = 0; i < ELEMENTSOF(isal_errors); i++)
                if (isal_errors[i].code == code)
                        return isal_errors[i].text;
        return "unexpected isa-l error";
}

/* What libarchive's gzip bidder checks: the magic, deflate, no reserved flag. */
static bool is_member_start(const uint8_t *p, size_t n) {
        return n >= GZIP_HEADER_FIXED && p[0] == 0x1f && p[1] == 0x8b && p[2] == 8 && (p[3] & 0xe0) == 0;
}

/* One read() into the free end of in, after moving the unconsumed bytes to its start. */
static int fill_input(GzipReader *r) {
        ssize_t n;

        if (r->input_eof)
                return 0;
        memmove(r->in, r->in + r->in_pos, r->in_len - r->in_pos);
        r->in_len -= r->in_pos;
        r->in_pos = 0;
        if (r->in_len == GZIP_READER_IN_SIZE)
                return 0;
        do
                n = read(r->fd, r->in + r->in_len, GZIP_READER_IN_SIZE - r->in_len);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        if (n == 0)
                r->input_eof = true;
        r->in_len += (size_t) n;
        return 0;
}

/* Until n bytes are unconsumed or the input ends; a pipe gives them in whatever pieces it has. */
static int read_at_least(GzipReader *r, size_t n) {
        while (r->in_len - r->in_pos < n && !r->input_eof) {
                int k = fill_input(r);
                if (k < 0)
                        return k;
        }
        return 0;
}

GzipReader *gzip_reader_free(GzipReader *r) {
        if (!r)
                return NULL;
        free(r->in);
        free(r->out);
        free(r->state);
        free(r);
        return NULL;
}

int gzip_reader_new(int fd, GzipReader **ret) {
        _cleanup_(gzip_reader_freep) GzipReader *r = NULL;
        int k;

        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        r->fd = fd;
        r->in = malloc(GZIP_READER_IN_SIZE);
        if (!r->in)
                return -ENOMEM;
        k = read_at_least(r, GZIP_HEADER_FIXED);
        if (k < 0)
                return k;

        /* Without isa-l, libarchive's gzip filter gets the stream as it is. */
        if (is_member_start(r->in, r->in_len) && dlopen_isal() >= 0) {
                r->out = malloc(GZIP_READER_OUT_SIZE);
                r->state = calloc(1, sizeof(*r->state));
                if (!r->out || !r->state)
                        return -ENOMEM;
                sym_isal_inflate_init(r->state);
                /* isa-l parses the header and checks the trailer's CRC-32 and length. */
                r->state->crc_flag = ISAL_GZIP;
                r->inflate = true;
        }
        *ret = TAKE_PTR(r);
        return 0;
}

bool gzip_reader_inflates(const GzipReader *r) {
        return r->inflate;
}

static ssize_t set_failed(GzipReader *r, struct archive *a) {
        sym_archive_set_error(a, r->error_errno, "%s: %s", r->error, r->reason ?: strerror(r->error_errno));
        return ARCHIVE_FATAL;
}

static ssize_t read_failed(GzipReader *r, struct archive *a, int k) {
        r->error = "cannot read the layer";
        r->error_errno = -k;
        return set_failed(r, a);
}

static ssize_t corrupt(GzipReader *r, struct archive *a, const char *reason) {
        r->error = "corrupt gzip stream";
        r->reason = reason;
        r->error_errno = EBADMSG;
        return set_failed(r, a);
}

static ssize_t pass_through(GzipReader *r, struct archive *a, const void **ret_buffer) {
        size_t n;

        if (r->in_pos == r->in_len) {
                r->in_pos = r->in_len = 0;
                int k = fill_input(r);
                if (k < 0)
                        return read_failed(r, a, k);
        }
        n = r->in_len - r->in_pos;
        *ret_buffer = r->in + r->in_pos;
        r->in_pos = r->in_len;
        return (ssize_t) n;
}

/* After a member: 1 when what follows starts another (isa-l reset for it), 0 when the stream ends there. */
static int next_member(GzipReader *r) {
        int k = read_at_least(r, GZIP_HEADER_FIXED);
        if (k < 0)
                return k;
        r->member_done = false;
        if (!is_member_start(r->in + r->in_pos, r->in_len - r->in_pos))
                return 0;
        sym_isal_inflate_reset(r->state); /* keeps crc_flag */
        return 1;
}

static ssize_t inflate_some(GzipReader *r, struct archive *a, const void **ret_buffer) {
        struct inflate_state *s = r->state;
        int k;

        s->next_out = r->out;
        s->avail_out = GZIP_READER_OUT_SIZE;
        while (s->avail_out > 0 && !r->done) {
                if (r->member_done) {
                        k = next_member(r);
                        if (k < 0)
                                return read_failed(r, a, k);
                        if (k == 0) {
                                r->done = true;
                                break;
                        }
                }
                if (r->in_pos == r->in_len && !r->input_eof) {
                        k = fill_input(r);
                        if (k < 0)
                                return read_failed(r, a, k);
                        continue;
                }

                uint32_t out_before = s->avail_out;
                size_t in_before = r->in_pos;
                s->next_in = r->in + r->in_pos;
                s->avail_in = (uint32_t) (r->in_len - r->in_pos);
                k = sym_isal_inflate(s);
                r->in_pos = (size_t) (s->next_in - r->in);
                if (k != ISAL_DECOMP_OK)
                        return corrupt(r, a, isal_error_to_string(k));
                if (s->block_state == ISAL_BLOCK_FINISH) {
                        r->member_done = true;
                        r->members++;
                        continue;
                }
                if (s->avail_out != out_before || r->in_pos != in_before)
                        continue;
                /* No progress: isa-l takes all input it is given while it has room for output. */
                if (r->in_pos < r->in_len)
                        return corrupt(r, a, "no progress");
                /* The input ended inside a member. One whose header was cut short after a whole member
                 * is trailing data to libarchive's gzip filter (it never started a member), so here too. */
                if (r->members > 0 && !s->wrapper_flag) {
                        r->done = true;
                        break;
                }
                return corrupt(r, a, "truncated");
        }
        *ret_buffer = r->out;
        return s->next_out - r->out;
}

ssize_t gzip_reader_read(struct archive *a, void *userdata, const void **ret_buffer) {
        GzipReader *r = userdata;

        if (r->error)
                return set_failed(r, a);
        return r->inflate ? inflate_some(r, a, ret_buffer) : pass_through(r, a, ret_buffer);
}

int gzip_reader_finish(GzipReader *r, struct archive *a) {
        const void *p;
        ssize_t n;

        if (!r->inflate)
                return 0;
        while ((n = gzip_reader_read(a, r, &p)) > 0)
                ;
        return n < 0 ? -r->error_errno : 0;
}
