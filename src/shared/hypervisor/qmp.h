/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A blocking client for QEMU's JSON monitor (QMP) for worker threads: run commands, wait for events. */
#pragma once

#include <json-c/json.h>
#include <stdint.h>

#include "macro.h"

/* Pass as timeout_usec to wait without limit. */
#define QMP_TIMEOUT_INFINITY UINT64_MAX

/* One connection; use it from one thread at a time. */
typedef struct Qmp Qmp;

/* Connects to the QMP socket, reads QEMU's greeting and negotiates capabilities, all within timeout_usec.
 * -ENOENT/-ECONNREFUSED when QEMU does not listen there (yet: QEMU binds the socket a moment before it
 * listens, so right after launch retry on either). QEMU serves one QMP client per socket at a time: while
 * another client is connected the greeting never comes, which shows up as -ETIMEDOUT. */
int qmp_connect(const char *socket_path, uint64_t timeout_usec, Qmp **ret);

/* Runs command with arguments (may be NULL; not consumed) and waits for its reply. Events that arrive
 * meanwhile are queued for qmp_wait_event(). On success *ret_return (optional) gets a new reference to the
 * "return" value. A QMP error reply is -EIO, and *ret_error_desc (optional) then gets its "desc".
 * -ETIMEDOUT when no reply came in time (a late reply is recognized by its id and dropped later);
 * -ECONNRESET when QEMU closed the connection, which is how "quit" may end. */
int qmp_execute(Qmp *q, const char *command, json_object *arguments, uint64_t timeout_usec,
                json_object **ret_return, char **ret_error_desc);

/* The same, sending fd along with the command (SCM_RIGHTS), as getfd and add-fd want it. The caller keeps
 * fd; QEMU holds its own duplicate. */
int qmp_execute_with_fd(Qmp *q, const char *command, json_object *arguments, int fd, uint64_t timeout_usec,
                        json_object **ret_return, char **ret_error_desc);

/* Waits for the event event_name, taking the oldest queued one first; other events stay queued. On success
 * *ret_data (optional) gets a new reference to the event's "data" (NULL when it has none). Queued events
 * are still returned after QEMU closed the connection; then -ECONNRESET. -ETIMEDOUT after timeout_usec. */
int qmp_wait_event(Qmp *q, const char *event_name, uint64_t timeout_usec, json_object **ret_data);

/* QEMU's version as announced in the greeting. */
void qmp_get_version(const Qmp *q, unsigned *ret_major, unsigned *ret_minor, unsigned *ret_micro);

Qmp *qmp_free(Qmp *q);
DEFINE_TRIVIAL_CLEANUP_FUNC(Qmp *, qmp_free);
