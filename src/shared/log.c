/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Logging for both programs: stderr for the CLI, the journal for the manager. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-journal.h>

#include "log.h"

static LogTarget log_target = LOG_TARGET_STDERR;
static int log_max_level = LOG_INFO;

void log_set_target(LogTarget target) {
        log_target = target;
}

void log_set_max_level(int level) {
        log_max_level = level;
}

int log_get_max_level(void) {
        return log_max_level;
}

static const struct {
        const char *name;
        int level;
} log_level_table[] = {
        { "debug", LOG_DEBUG }, { "info", LOG_INFO }, { "notice", LOG_NOTICE },
        { "warning", LOG_WARNING }, { "err", LOG_ERR }, { "error", LOG_ERR },
};

void log_parse_environment(void) {
        const char *e = getenv("COCOON_LOG_LEVEL");
        if (!e)
                return;
        for (size_t i = 0; i < ELEMENTSOF(log_level_table); i++)
                if (streq(e, log_level_table[i].name))
                        log_max_level = log_level_table[i].level;
}

static _printf_(4, 0) int log_dispatch(int level, int error, const char *vm_id, const char *format,
                                       va_list ap) {
        int saved_errno = errno;
        int r = error == 0 ? -EIO : -abs(error);

        if (level > log_max_level) {
                errno = saved_errno;
                return r;
        }

        /* %m must expand to `error`, not to whatever errno happens to be. */
        errno = abs(error);
        char buf[2048];
        vsnprintf(buf, sizeof(buf), format, ap);

        if (log_target == LOG_TARGET_JOURNAL) {
                if (vm_id)
                        sd_journal_send("MESSAGE=%s", buf, "PRIORITY=%i", level, "COCOON_VM_ID=%s", vm_id,
                                        NULL);
                else
                        sd_journal_send("MESSAGE=%s", buf, "PRIORITY=%i", level, NULL);
        } else
                fprintf(stderr, "%s\n", buf);

        errno = saved_errno;
        return r;
}

int log_internal(int level, int error, const char *file, int line, const char *func, const char *format, ...) {
        (void) file;
        (void) line;
        (void) func;
        va_list ap;
        va_start(ap, format);
        int r = log_dispatch(level, error, NULL, format, ap);
        va_end(ap);
        return r;
}

int log_vm_internal(int level, int error, const char *vm_id, const char *format, ...) {
        va_list ap;
        va_start(ap, format);
        int r = log_dispatch(level, error, vm_id, format, ap);
        va_end(ap);
        return r;
}

int log_vm_operation(int level, const char *vm_id, const char *vm_name, const char *operation,
                     const char *result, const char *format, ...) {
        int saved_errno = errno;

        if (level > log_max_level)
                return 0;

        char buf[2048];
        va_list ap;
        va_start(ap, format);
        vsnprintf(buf, sizeof(buf), format, ap);
        va_end(ap);

        if (log_target == LOG_TARGET_JOURNAL)
                /* An empty value would still be a field: COCOON_VM_NAME= is left out when unknown. */
                sd_journal_send("MESSAGE=%s", buf, "PRIORITY=%i", level, "COCOON_VM_ID=%s", vm_id,
                                "COCOON_OPERATION=%s", operation, "COCOON_RESULT=%s", result,
                                vm_name ? "COCOON_VM_NAME=%s" : NULL, vm_name, NULL);
        else
                fprintf(stderr, "%s\n", buf);
        errno = saved_errno;
        return 0;
}
