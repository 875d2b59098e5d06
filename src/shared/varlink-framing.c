/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Varlink wire framing: incremental NUL-cut input parser and output queue. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fd-util.h"
#include "json-util.h"
#include "varlink-framing.h"
#include "varlink.h"

/* Deeper documents are refused; our own declarations nest far less. */
#define VARLINK_JSON_DEPTH_MAX 64
/* A buffer that grew for one big message is released once empty, so idle connections stay small. */
#define VARLINK_BUFFER_KEEP (4U * VARLINK_READ_SIZE)
/* The least room a read is given before the buffer grows. */
#define VARLINK_READ_MIN 4096U

static int buffer_reserve(char **buffer, size_t *allocated, size_t needed) {
        size_t n;
        char *p;

        if (needed <= *allocated)
                return 0;
        n = MAX(needed, *allocated * 2);
        n = MAX(n, (size_t) 4096);
        p = realloc(*buffer, n);
        if (!p)
                return -ENOMEM;
        *buffer = p;
        *allocated = n;
        return 0;
}

/* Moves the unconsumed bytes to the front so the buffer never grows past one pending message. */
static void input_compact(VarlinkInput *input) {
        if (input->start == 0)
                return;
        if (input->start == input->end) {
                input->start = input->end = 0;
                if (input->allocated > VARLINK_BUFFER_KEEP) {
                        input->buffer = mfree(input->buffer);
                        input->allocated = 0;
                }
                return;
        }
        memmove(input->buffer, input->buffer + input->start, input->end - input->start);
        input->end -= input->start;
        input->start = 0;
}

/* Makes room for one read at input->end: how many bytes it may bring, or -ENOBUFS when the pending message
 * already fills VARLINK_BUFFER_MAX. */
static int input_prepare_read(VarlinkInput *input, size_t *ret_size) {
        size_t pending, size;
        int r;

        input_compact(input);
        pending = input->end - input->start;
        if (pending >= VARLINK_BUFFER_MAX)
                return -ENOBUFS;
        size = MIN((size_t) VARLINK_READ_SIZE, VARLINK_BUFFER_MAX - pending);
        /* A page or more left: read into it. Reserving a whole read size each time made a message that
         * arrives in small pieces double the buffer (and copy it) on its second piece. */
        if (input->allocated - input->end >= VARLINK_READ_MIN) {
                *ret_size = MIN(size, input->allocated - input->end);
                return 0;
        }
        r = buffer_reserve(&input->buffer, &input->allocated, input->end + size);
        if (r < 0)
                return r;
        *ret_size = size;
        return 0;
}

int varlink_input_read(VarlinkInput *input, int fd) {
        size_t size;
        ssize_t n;
        int r;

        r = input_prepare_read(input, &size);
        if (r < 0)
                return r;
        n = read(fd, input->buffer + input->end, size);
        if (n < 0)
                return errno == EWOULDBLOCK ? -EAGAIN : negative_errno();
        input->end += (size_t) n;
        return (int) n;
}

static void close_many(const int *fds, size_t n) {
        for (size_t i = 0; i < n; i++)
                safe_close(fds[i]);
}

int varlink_input_read_with_fds(VarlinkInput *input, int fd, int *fds, size_t max_fds, size_t *ret_n_fds) {
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int) * VARLINK_FDS_PER_MESSAGE_MAX)];
        } control;
        struct msghdr mh = {};
        struct iovec iov;
        size_t size, n_fds = 0;
        bool too_many = false;
        ssize_t n;
        int r;

        if (max_fds > VARLINK_FDS_PER_MESSAGE_MAX)
                return -EINVAL;
        r = input_prepare_read(input, &size);
        if (r < 0)
                return r;

        iov = (struct iovec){ .iov_base = input->buffer + input->end, .iov_len = size };
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = &control;
        mh.msg_controllen = sizeof(control);
        n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0)
                return errno == EWOULDBLOCK ? -EAGAIN : negative_errno();

        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
                size_t k;

                if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                        continue;
                k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                for (size_t i = 0; i < k; i++) {
                        int f;

                        memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                        if (n_fds < max_fds)
                                fds[n_fds++] = f;
                        else {
                                safe_close(f);
                                too_many = true;
                        }
                }
        }
        /* The kernel closed what did not fit into our buffer. */
        if (too_many || (mh.msg_flags & MSG_CTRUNC)) {
                close_many(fds, n_fds);
                return -EPROTO;
        }
        input->end += (size_t) n;
        *ret_n_fds = n_fds;
        return (int) n;
}

int varlink_input_feed(VarlinkInput *input, const void *data, size_t size) {
        int r;

        if (size == 0)
                return 0;
        input_compact(input);
        r = buffer_reserve(&input->buffer, &input->allocated, input->end + size);
        if (r < 0)
                return r;
        memcpy(input->buffer + input->end, data, size);
        input->end += size;
        return 0;
}

static int parse_message(const char *text, size_t size, json_object **ret) {
        json_tokener *tok;
        json_object *o;
        size_t used;

        tok = json_tokener_new_ex(VARLINK_JSON_DEPTH_MAX);
        if (!tok)
                return -ENOMEM;
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
        o = json_tokener_parse_ex(tok, text, (int) size);
        used = o ? json_tokener_get_parse_end(tok) : 0;
        json_tokener_free(tok);
        if (!o)
                return -EBADMSG;

        /* Exactly one object per message: trailing whitespace is fine, anything else is not. */
        for (size_t i = used; i < size; i++)
                if (!strchr(" \t\r\n", text[i])) {
                        json_object_put(o);
                        return -EBADMSG;
                }
        if (!json_object_is_type(o, json_type_object) || json_verify_text(o, text, used) < 0) {
                json_object_put(o);
                return -EBADMSG;
        }
        *ret = o;
        return 0;
}

int varlink_input_next(VarlinkInput *input, json_object **ret) {
        const char *text;
        size_t size;
        int r;

        r = varlink_input_next_raw(input, &text, &size);
        if (r <= 0)
                return r;
        r = parse_message(text, size, ret);
        if (r < 0) {
                input->start -= size + 1; /* a bad message stays where it was */
                return r;
        }
        return 1;
}

int varlink_input_next_raw(VarlinkInput *input, const char **ret, size_t *ret_size) {
        const char *begin, *nul;
        size_t size;

        if (input->end <= input->start + input->scanned) {
                input->scanned = input->end - input->start;
                return input->scanned >= VARLINK_BUFFER_MAX ? -ENOBUFS : 0;
        }
        begin = input->buffer + input->start;
        nul = memchr(begin + input->scanned, 0, input->end - input->start - input->scanned);
        if (!nul) {
                input->scanned = input->end - input->start;
                if (input->scanned >= VARLINK_BUFFER_MAX)
                        return -ENOBUFS;
                return 0;
        }

        size = (size_t) (nul - begin);
        if (size >= VARLINK_BUFFER_MAX)
                return -ENOBUFS;
        input->start += size + 1;
        input->scanned = 0;
        *ret = begin;
        *ret_size = size;
        return 1;
}

bool varlink_input_has_partial(const VarlinkInput *input) {
        return input->end > input->start;
}

int varlink_input_take_rest(VarlinkInput *input, char **ret, size_t *ret_size) {
        size_t size = input->end - input->start;
        char *p = NULL;

        if (size > 0) {
                p = malloc(size);
                if (!p)
                        return -ENOMEM;
                memcpy(p, input->buffer + input->start, size);
        }
        input->start = input->end = input->scanned = 0;
        *ret = p;
        *ret_size = size;
        return 0;
}

void varlink_input_done(VarlinkInput *input) {
        input->buffer = mfree(input->buffer);
        *input = (VarlinkInput){};
}

int varlink_output_append(VarlinkOutput *output, json_object *message) {
        const char *text;
        size_t size, pending;
        int r;

        text = json_object_to_json_string_length(
                message, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &size);
        if (!text)
                return -ENOMEM;
        pending = output->end - output->start;
        if (size + 1 > VARLINK_BUFFER_MAX - pending)
                return -ENOBUFS;

        if (output->start > 0 && output->start == output->end)
                output->start = output->end = 0;
        else if (output->start > 0 && output->allocated - output->end < size + 1) {
                memmove(output->buffer, output->buffer + output->start, pending);
                output->start = 0;
                output->end = pending;
        }
        r = buffer_reserve(&output->buffer, &output->allocated, output->end + size + 1);
        if (r < 0)
                return r;
        memcpy(output->buffer + output->end, text, size + 1); /* json-c's text ends in the NUL we need */
        output->end += size + 1;
        return 0;
}

int varlink_output_write(VarlinkOutput *output, int fd) {
        ssize_t n;

        if (output->start == output->end)
                return 0;
        /* MSG_NOSIGNAL: a vanished peer is an error to report, not a SIGPIPE for the whole process. */
        n = send(fd, output->buffer + output->start, output->end - output->start,
                 MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && errno == ENOTSOCK)
                n = write(fd, output->buffer + output->start, output->end - output->start);
        if (n < 0)
                return errno == EWOULDBLOCK ? -EAGAIN : negative_errno();
        output->start += (size_t) n;
        if (output->start == output->end) {
                output->start = output->end = 0;
                if (output->allocated > VARLINK_BUFFER_KEEP) {
                        output->buffer = mfree(output->buffer);
                        output->allocated = 0;
                }
        }
        return (int) n;
}

_Static_assert(VARLINK_FDS_PER_MESSAGE_MAX <= SEND_FDS_MAX, "send_with_fds() takes a message's descriptors");

int varlink_output_write_with_fds(VarlinkOutput *output, int fd, const int *fds, size_t n_fds) {
        ssize_t n;

        if (n_fds == 0)
                return varlink_output_write(output, fd);
        if (n_fds > VARLINK_FDS_PER_MESSAGE_MAX)
                return -EINVAL;
        if (output->start == output->end)
                return 0;
        n = send_with_fds(fd, output->buffer + output->start, output->end - output->start, fds, n_fds,
                          MSG_DONTWAIT);
        if (n < 0)
                return errno == EWOULDBLOCK ? -EAGAIN : negative_errno();
        output->start += (size_t) n;
        if (output->start == output->end)
                output->start = output->end = 0;
        return (int) n;
}

bool varlink_output_pending(const VarlinkOutput *output) {
        return output->end > output->start;
}

void varlink_output_done(VarlinkOutput *output) {
        output->buffer = mfree(output->buffer);
        *output = (VarlinkOutput){};
}
