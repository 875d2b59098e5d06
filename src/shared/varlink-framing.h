/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Varlink wire framing: NUL-terminated JSON messages, an incremental input parser and an output queue. */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

/* Bytes received but not yet consumed. Messages are cut at NUL bytes; the part already searched for a NUL is
 * remembered, so a message arriving in many small reads is scanned only once. */
typedef struct VarlinkInput {
        char *buffer;
        size_t allocated;
        size_t start; /* first unconsumed byte */
        size_t end; /* end of received data */
        size_t scanned; /* bytes from start known to contain no NUL */
} VarlinkInput;

/* Serialized messages waiting to be written. */
typedef struct VarlinkOutput {
        char *buffer;
        size_t allocated;
        size_t start; /* first unwritten byte */
        size_t end;
} VarlinkOutput;

/* One read() of at most VARLINK_READ_SIZE bytes. Returns the number of bytes read, 0 at EOF, -EAGAIN when
 * nothing is available, -ENOBUFS when the pending message already fills VARLINK_BUFFER_MAX. */
int varlink_input_read(VarlinkInput *input, int fd);
/* As varlink_input_read(), with recvmsg(): file descriptors sent along (SCM_RIGHTS) are received too
 * (close-on-exec), at most `max_fds` of them, into fds[] with their number in *ret_n_fds. More than
 * max_fds in one read is -EPROTO (none kept). */
int varlink_input_read_with_fds(VarlinkInput *input, int fd, int *fds, size_t max_fds, size_t *ret_n_fds);
/* Appends bytes as if read from the socket (tests, and leftovers handed over by an upgrade). */
int varlink_input_feed(VarlinkInput *input, const void *data, size_t size);
/* Cuts the next complete message. Returns 1 with *ret set, 0 when more bytes are needed, -ENOBUFS when the
 * message exceeds VARLINK_BUFFER_MAX, -EBADMSG when it is not a single JSON object. */
int varlink_input_next(VarlinkInput *input, json_object **ret);
/* The same without parsing: *ret points at the message's bytes (NUL excluded) inside the buffer, valid until
 * the next read or feed. */
int varlink_input_next_raw(VarlinkInput *input, const char **ret, size_t *ret_size);
/* Whether bytes of an incomplete message are buffered (at EOF that is a truncated message). */
bool varlink_input_has_partial(const VarlinkInput *input);
/* Hands the unconsumed bytes to the caller (malloc'd, NULL when none) and empties the buffer. */
int varlink_input_take_rest(VarlinkInput *input, char **ret, size_t *ret_size);
void varlink_input_done(VarlinkInput *input);

/* Serializes `message` and queues it with its NUL. -ENOBUFS when the queue would exceed VARLINK_BUFFER_MAX.
 */
int varlink_output_append(VarlinkOutput *output, json_object *message);
/* One write attempt. Returns bytes written (0 when nothing is queued), -EAGAIN, or -errno (-EPIPE, …). */
int varlink_output_write(VarlinkOutput *output, int fd);
/* As varlink_output_write(), attaching fds (SCM_RIGHTS) to the first byte written; returns bytes written
 * (> 0 means the fds went with them). */
int varlink_output_write_with_fds(VarlinkOutput *output, int fd, const int *fds, size_t n_fds);
bool varlink_output_pending(const VarlinkOutput *output);
void varlink_output_done(VarlinkOutput *output);
