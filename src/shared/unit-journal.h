/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What a unit's own processes wrote to the journal (their stdout and stderr), for error messages: the
 * manager's callers cannot read the journal or the root-only log directory themselves. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* The last max_lines messages logged by processes of unit (_SYSTEMD_UNIT=, so not PID 1's own lines about
 * it) since since_usec (CLOCK_REALTIME), restricted to one invocation when invocation_id is not empty.
 * journald reads a process's output asynchronously: when nothing is there yet, waits up to wait_usec for
 * it. Blocking: for worker threads. Each line is printable text (control characters become '?'), cut at
 * UNIT_JOURNAL_LINE_MAX bytes. *ret_lines is a strv, NULL when nothing was found. */
#define UNIT_JOURNAL_LINE_MAX 400
int unit_journal_tail(const char *unit, const char *invocation_id, uint64_t since_usec, size_t max_lines,
                      uint64_t wait_usec, char ***ret_lines);

/* The lines as one text for a message: each on its own line, indented by two spaces. "" for none; NULL
 * on out of memory. */
char *unit_journal_format(char *const *lines);
