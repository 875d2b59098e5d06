/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Logging for both programs: stderr for the CLI, the journal for the manager. */
#pragma once

#include <errno.h>
#include <syslog.h>

#include "macro.h"

typedef enum LogTarget {
        LOG_TARGET_STDERR,
        LOG_TARGET_JOURNAL,
} LogTarget;

void log_set_target(LogTarget target);
void log_set_max_level(int level);
int log_get_max_level(void);
/* Reads COCOON_LOG_LEVEL (debug|info|notice|warning|err) if set. */
void log_parse_environment(void);

/* Logs at level; `error` (a positive or negative errno, or 0) is what %m expands to. Returns -abs(error),
 * or -EIO when error is 0, so callers can write `return log_error_errno(r, "…: %m");`. Extra structured
 * journal fields are not supported here; see log_struct_vm(). */
int log_internal(int level, int error, const char *file, int line, const char *func, const char *format, ...)
        _printf_(6, 7);

/* Like log_internal() but adds COCOON_VM_ID= to the journal entry. */
int log_vm_internal(int level, int error, const char *vm_id, const char *format, ...) _printf_(4, 5);

/* One VM operation's outcome, as one journal entry with COCOON_VM_ID=, COCOON_VM_NAME= (when known),
 * COCOON_OPERATION= and COCOON_RESULT=, so `journalctl COCOON_VM_NAME=web` tells a VM's history. */
int log_vm_operation(int level, const char *vm_id, const char *vm_name, const char *operation,
                     const char *result, const char *format, ...) _printf_(6, 7);

#define log_full_errno(level, error, ...) \
        log_internal((level), (error), __FILE__, __LINE__, __func__, __VA_ARGS__)

#define log_debug(...) log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...) log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...) log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...) log_full_errno(LOG_ERR, 0, __VA_ARGS__)

#define log_debug_errno(error, ...) log_full_errno(LOG_DEBUG, (error), __VA_ARGS__)
#define log_info_errno(error, ...) log_full_errno(LOG_INFO, (error), __VA_ARGS__)
#define log_warning_errno(error, ...) log_full_errno(LOG_WARNING, (error), __VA_ARGS__)
#define log_error_errno(error, ...) log_full_errno(LOG_ERR, (error), __VA_ARGS__)

#define log_vm_info(id, ...) log_vm_internal(LOG_INFO, 0, (id), __VA_ARGS__)
#define log_vm_warning(id, ...) log_vm_internal(LOG_WARNING, 0, (id), __VA_ARGS__)
#define log_vm_error_errno(id, error, ...) log_vm_internal(LOG_ERR, (error), (id), __VA_ARGS__)

/* Out of memory: logs and returns -ENOMEM. */
#define log_oom() log_error_errno(ENOMEM, "Out of memory.")
