/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What every cocoonctl verb shares: the connection, error reporting, output. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <langinfo.h>
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "ctl-interrupt.h"
#include "ctl-table.h"
#include "ctl-util.h"
#include "log.h"
#include "json-util.h"
#include "parse-util.h"
#include "strv-util.h"
#include "time-util.h"

bool arg_json = false;
bool arg_json_errors = false;
const char *arg_address = NULL;
const char *arg_output = NULL;
bool arg_quiet = false, arg_no_headers = false, arg_no_trunc = false;
OutputMode arg_output_mode = OUTPUT_TABLE;

static const char *const output_mode_table[] = {
        [OUTPUT_TABLE] = "table",
        [OUTPUT_WIDE] = "wide",
        [OUTPUT_JSON] = "json",
};

bool ctl_argv_wants_json(int argc, char **argv) {
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                if (streq(a, "--"))
                        break;
                /* getopt_long takes any unique abbreviation, and no other option starts with 'j'. */
                size_t len = strlen(a);
                if (len >= 3 && len <= 6 && strncmp(a, "--json", len) == 0)
                        return true;
                if (streq(a, "-ojson") || streq(a, "--output=json"))
                        return true;
                if ((streq(a, "-o") || streq(a, "--output")) && i + 1 < argc && streq(argv[i + 1], "json"))
                        return true;
        }
        return false;
}

/* Whether errors are printed as JSON. */
static bool errors_json(void) {
        return arg_json || arg_json_errors;
}

int ctl_output_resolve(const char *verb) {
        OutputMode mode = arg_json ? OUTPUT_JSON : OUTPUT_TABLE;

        if (arg_output) {
                size_t i;
                for (i = 0; i < ELEMENTSOF(output_mode_table); i++)
                        if (streq(arg_output, output_mode_table[i]))
                                break;
                if (i == ELEMENTSOF(output_mode_table))
                        return ctl_usage_error(verb, "--output",
                                               "invalid --output '%s' (table, wide or json)", arg_output);
                if (arg_json && i != OUTPUT_JSON)
                        return ctl_usage_error(verb, "--output",
                                               "--json and --output %s contradict each other", arg_output);
                mode = (OutputMode) i;
        }
        if (arg_quiet && mode != OUTPUT_TABLE)
                return ctl_usage_error(verb, "--quiet", "--quiet prints ids only; it does not go with --%s",
                                       arg_output ? "output" : "json");
        arg_output_mode = mode;
        arg_json = mode == OUTPUT_JSON;
        return 0;
}

const char *ctl_id_cell(const char *id, char buf[static CTL_SHORT_ID_LENGTH + 1]) {
        if (!id || arg_no_trunc || arg_output_mode == OUTPUT_WIDE || strlen(id) <= CTL_SHORT_ID_LENGTH)
                return id;
        memcpy(buf, id, CTL_SHORT_ID_LENGTH);
        buf[CTL_SHORT_ID_LENGTH] = '\0';
        return buf;
}

const char *ctl_ellipsis(void) {
        /* Only the character type: numbers keep printing the C way. */
        if (setlocale(LC_CTYPE, "") && streq(nl_langinfo(CODESET), "UTF-8"))
                return "…";
        return "...";
}

/* Calls that last as long as the work they wait for: guests powering off (Stop, Restart, Delete --force, up
 * to the stop timeout and the kill grace, in waves when a batch is larger than the manager's pool), disks
 * and images copied (Create, Start, Import), directories removed (GarbageCollect). The client cannot know
 * how long that is, and a timeout reported for an operation that then succeeds is worse than waiting: these
 * wait for the answer as long as the connection lives (the manager always answers, or the connection ends
 * with it). */
static const char *const long_running_methods[] = {
        "io.cocoon.VM.Create",
        "io.cocoon.VM.Start",
        "io.cocoon.VM.Stop",
        "io.cocoon.VM.Restart",
        "io.cocoon.VM.Delete",
        "io.cocoon.Image.Import",
        "io.cocoon.Manager.GarbageCollect",
        "io.cocoon.Snapshot.Save",
        "io.cocoon.Snapshot.Delete",
        "io.cocoon.VM.Clone",
        "io.cocoon.VM.Restore",
};

bool ctl_method_is_long_running(const char *method) {
        for (size_t i = 0; i < ELEMENTSOF(long_running_methods); i++)
                if (streq(long_running_methods[i], method))
                        return true;
        return false;
}

int ctl_parse_client_timeout(const char *s, uint64_t *ret_usec) {
        uint64_t sec;

        if (!s) {
                *ret_usec = VARLINK_DEFAULT_TIMEOUT_USEC;
                return 0;
        }
        if (streq(s, "infinity")) {
                *ret_usec = UINT64_MAX;
                return 0;
        }
        if (parse_uint64(s, &sec) < 0 || sec == 0 || sec > UINT64_MAX / USEC_PER_SEC - 1)
                return -EINVAL;
        *ret_usec = sec * USEC_PER_SEC;
        return 0;
}

int ctl_connect(Varlink **ret) {
        const char *address = arg_address ?: getenv("COCOON_ADDRESS") ?: COCOON_MANAGER_ADDRESS;
        const char *timeout = getenv("COCOON_CLIENT_TIMEOUT_SEC");
        _cleanup_(varlink_unrefp) Varlink *link = NULL;
        uint64_t usec;

        if (ctl_parse_client_timeout(timeout, &usec) < 0) {
                return ctl_log_errno(EINVAL,
                                     "invalid COCOON_CLIENT_TIMEOUT_SEC '%s' (seconds > 0, or infinity)",
                                     timeout);
        }
        int r = varlink_connect_address(&link, address);
        /* The two failures people meet first get what to do about them. */
        if (r == -ENOENT || r == -ECONNREFUSED)
                return ctl_log_errno(r,
                                     "cannot connect to cocoon-manager at %s: %m; is it running? "
                                     "Start it with: systemctl start cocoon-manager.socket",
                                     address);
        if (r == -EACCES || r == -EPERM)
                return ctl_log_errno(r,
                                     "cannot connect to cocoon-manager at %s: %m; the caller must be "
                                     "root or in group cocoon",
                                     address);
        if (r < 0)
                return ctl_log_errno(r, "cannot connect to cocoon-manager at %s: %m", address);
        (void) varlink_set_relative_timeout(link, usec);
        *ret = TAKE_PTR(link);
        return 0;
}

/* The generic errors carry no message: say what their one parameter means. */
static const struct {
        const char *error_id;
        const char *parameter;
        const char *text;
} generic_error_table[] = {
        { VARLINK_ERROR_INVALID_PARAMETER, "parameter", "invalid parameter" },
        { VARLINK_ERROR_METHOD_NOT_FOUND, "method", "no such method" },
        { VARLINK_ERROR_INTERFACE_NOT_FOUND, "interface", "no such interface" },
        { VARLINK_ERROR_METHOD_NOT_IMPLEMENTED, "method", "method not implemented" },
        { VARLINK_ERROR_EXPECTED_MORE, NULL, "this method must be called with --more" },
};

/* The human part of an error: its "message" parameter when it has one, else its parameters as JSON. */
static const char *error_message(const char *error_id, json_object *parameters, char *buf, size_t size) {
        json_object *m;
        if (parameters && json_object_object_get_ex(parameters, "message", &m) && json_object_is_type(m, json_type_string))
                return json_object_get_string(m);
        for (size_t i = 0; i < ELEMENTSOF(generic_error_table); i++) {
                if (!streq(error_id, generic_error_table[i].error_id))
                        continue;
                if (generic_error_table[i].parameter && parameters &&
                    json_object_object_get_ex(parameters, generic_error_table[i].parameter, &m)) {
                        snprintf(buf, size, "%s '%s'", generic_error_table[i].text, json_object_get_string(m));
                        return buf;
                }
                return generic_error_table[i].text;
        }
        if (parameters && json_object_object_length(parameters) > 0)
                return json_object_to_json_string_ext(parameters, JSON_C_TO_STRING_PLAIN);
        return NULL;
}

/* One JSON object on a line of stderr: how errors look under --json. Always the three keys, so that scripts
 * can read them without checking. */
static void print_json_error(const char *error_id, json_object *parameters, const char *message) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        json_object *p = parameters ? json_object_get(parameters) : json_object_new_object();
        if (!o || json_add_string(o, "error", error_id) < 0 || json_add_object(o, "parameters", p) < 0 ||
            json_add_string(o, "message", message ?: error_id) < 0) {
                /* Only memory runs out here, and the message may need escaping: a fixed line. */
                fprintf(stderr, "{\"error\":\"%s\",\"parameters\":{\"errno\":\"ENOMEM\"},"
                        "\"message\":\"out of memory\"}\n", CTL_ERROR_LOCAL);
                return;
        }
        fprintf(stderr, "%s\n",
                json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
}

int ctl_report_error(const char *error_id, json_object *parameters) {
        char buf[512];
        const char *m = error_message(error_id, parameters, buf, sizeof(buf));
        if (errors_json()) {
                print_json_error(error_id, parameters, m);
                return -EBADE;
        }
        if (m)
                fprintf(stderr, "cocoonctl: %s: %s\n", error_id, m);
        else
                fprintf(stderr, "cocoonctl: %s\n", error_id);
        return -EBADE;
}

void ctl_report_ref_error(const char *verb, const char *ref, const char *error_id, const char *message) {
        if (!errors_json()) {
                fprintf(stderr, "cocoonctl: %s %s: %s: %s\n", verb, ref ?: "?", error_id,
                        message ?: "failed");
                return;
        }
        _cleanup_(json_object_putp) json_object *p = json_object_new_object();
        if (p && json_add_string(p, "reference", ref) >= 0 && json_add_string(p, "message", message) >= 0)
                print_json_error(error_id, p, message ?: "failed");
        else
                print_json_error(error_id, NULL, message ?: "failed");
}

int ctl_log_errno(int r, const char *format, ...) {
        char message[1024];
        va_list ap;

        r = r == 0 ? -EIO : -abs(r);
        va_start(ap, format);
        errno = -r; /* for %m */
        (void) vsnprintf(message, sizeof(message), format, ap);
        va_end(ap);
        if (!errors_json()) {
                fprintf(stderr, "cocoonctl: %s\n", message);
                return r;
        }
        _cleanup_(json_object_putp) json_object *p = json_object_new_object();
        const char *name = strerrorname_np(-r);
        if (p && name)
                (void) json_add_string(p, "errno", name);
        print_json_error(CTL_ERROR_LOCAL, p, message);
        return r;
}

int ctl_usage_error(const char *verb, const char *option, const char *format, ...) {
        char message[1024];
        va_list ap;

        va_start(ap, format);
        (void) vsnprintf(message, sizeof(message), format, ap);
        va_end(ap);
        if (!errors_json()) {
                fprintf(stderr, "cocoonctl%s%s: %s\n", verb ? " " : "", verb ?: "", message);
                return -EINVAL;
        }
        _cleanup_(json_object_putp) json_object *p = json_object_new_object();
        if (p)
                (void) (json_add_string(p, "verb", verb) >= 0 && json_add_string(p, "option", option) >= 0);
        print_json_error(CTL_ERROR_USAGE, p, message);
        return -EINVAL;
}

int ctl_batch_result(size_t n_ok, size_t n_failed) {
        if (n_failed == 0)
                return 0;
        return n_ok > 0 ? CTL_ERROR_PARTIAL : -EBADE;
}

int ctl_read_refs(FILE *f, char ***ret) {
        _cleanup_(strv_freep) char **refs = NULL;
        _cleanup_free_ char *line = NULL;
        size_t allocated = 0;
        ssize_t n;

        /* An empty list is still a list: the caller says what is missing. */
        refs = calloc(1, sizeof(char *));
        if (!refs)
                return -ENOMEM;
        errno = 0;
        while ((n = getline(&line, &allocated, f)) >= 0) {
                char *s = line, *e = line + n;
                if (memchr(line, 0, (size_t) n))
                        return -EINVAL;
                while (s < e && isspace((unsigned char) *s))
                        s++;
                while (e > s && isspace((unsigned char) e[-1]))
                        e--;
                if (s == e)
                        continue;
                *e = '\0';
                int r = strv_extend(&refs, s);
                if (r < 0)
                        return r;
        }
        if (ferror(f))
                return errno > 0 ? -errno : -EIO;
        *ret = TAKE_PTR(refs);
        return 0;
}

int ctl_call(Varlink *link, const char *method, json_object *parameters, json_object **ret_reply) {
        json_object *reply = NULL;
        const char *error_id = NULL;
        bool long_running = ctl_method_is_long_running(method);

        CtlInterrupt interrupt = {};
        char what[CTL_INTERRUPT_DESCRIBE_MAX];
        int r;

        if (long_running) {
                (void) varlink_set_relative_timeout(link, UINT64_MAX);
                /* Ctrl-C ends the wait, not the operation: the manager carries on and says so in ops. */
                r = ctl_interrupt_catch(link, &interrupt);
                if (r < 0)
                        return ctl_log_errno(r, "cannot catch SIGINT: %m");
        }
        r = varlink_call(link, method, parameters, &reply, &error_id);
        /* An answer that made it before Ctrl-C stands. */
        if (ctl_interrupt_release(&interrupt) && r < 0) {
                if (isatty(STDERR_FILENO))
                        fputc('\n', stderr); /* not on the line the terminal echoed ^C on */
                (void) ctl_log_errno(EINTR, "interrupted; %s continues in the manager (see cocoonctl ops)",
                                     ctl_interrupt_describe(method, parameters, what));
                return CTL_ERROR_EXIT(CTL_EXIT_INTERRUPTED);
        }
        if (r < 0 && long_running && r != -ETIMEDOUT)
                return ctl_log_errno(r,
                                     "calling %s failed (%m); the manager may still finish the operation: "
                                     "check with cocoonctl vm list",
                                     method);
        if (r < 0)
                return ctl_log_errno(r, "calling %s failed: %m", method);
        if (error_id)
                return ctl_report_error(error_id, reply);
        if (ret_reply)
                *ret_reply = reply;
        return 0;
}

void ctl_print_json(json_object *o) {
        if (!o) {
                puts("{}");
                return;
        }
        puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                       JSON_C_TO_STRING_NOSLASHESCAPE));
}

int ctl_exit_code(int r) {
        if (r == CTL_ERROR_PARTIAL)
                return CTL_EXIT_PARTIAL;
        if (r <= CTL_ERROR_EXIT_BASE && r > CTL_ERROR_EXIT(256))
                return CTL_ERROR_EXIT_BASE - r;
        return r >= 0 ? 0 : CTL_EXIT_FAILURE;
}

const char *ctl_field_string(json_object *o, const char *key) {
        json_object *v;
        if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

int64_t ctl_field_int(json_object *o, const char *key) {
        json_object *v;
        if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
                return -1;
        return json_object_get_int64(v);
}

void ctl_format_local_time(const char *rfc3339, char *buf, size_t size) {
        uint64_t usec;
        struct tm tm;
        if (!rfc3339 || timestamp_parse_rfc3339(rfc3339, &usec) < 0) {
                snprintf(buf, size, "-");
                return;
        }
        time_t t = (time_t) (usec / USEC_PER_SEC);
        if (!localtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%d %H:%M:%S %z", &tm) == 0)
                snprintf(buf, size, "-");
}

void ctl_format_relative_time(uint64_t usec, uint64_t now, char *buf, size_t size) {
        static const struct {
                uint64_t below; /* seconds: this unit serves ages below it */
                uint64_t seconds;
                const char *unit;
        } units[] = {
                { 60, 1, "second" },
                { 60 * 60, 60, "minute" },
                { 48 * 60 * 60, 60 * 60, "hour" },
                { 14 * 24 * 60 * 60, 24 * 60 * 60, "day" },
                { 60 * 24 * 60 * 60, 7 * 24 * 60 * 60, "week" },
                { 730 * 24 * 60 * 60, 30 * 24 * 60 * 60, "month" },
                { UINT64_MAX, 365 * 24 * 60 * 60, "year" },
        };
        uint64_t age = usec < now ? (now - usec) / USEC_PER_SEC : 0;

        if (age == 0) {
                snprintf(buf, size, "just now");
                return;
        }
        for (size_t i = 0; i < ELEMENTSOF(units); i++)
                if (age < units[i].below) {
                        uint64_t n = age / units[i].seconds;
                        snprintf(buf, size, "%" PRIu64 " %s%s ago", n, units[i].unit, n == 1 ? "" : "s");
                        return;
                }
}

void ctl_format_created(const char *rfc3339, uint64_t now, char *buf, size_t size) {
        uint64_t usec;
        if (arg_output_mode == OUTPUT_WIDE) {
                ctl_format_local_time(rfc3339, buf, size);
                return;
        }
        if (!rfc3339 || timestamp_parse_rfc3339(rfc3339, &usec) < 0)
                snprintf(buf, size, "-");
        else
                ctl_format_relative_time(usec, now, buf, size);
}

/* The table of a listing: its columns for the output mode (ids alone for -q), fitted to the terminal. */
int ctl_list_table_new(Table **ret, const char *const *headers, size_t n_table, size_t n_wide,
                       size_t name_column) {
        static const char *const quiet_header[] = { "ID" };
        _cleanup_(table_freep) Table *t = NULL;

        if (arg_quiet) {
                if (table_new(&t, quiet_header, 1) < 0)
                        return -ENOMEM;
                table_set_header(t, false);
        } else {
                if (table_new(&t, headers, arg_output_mode == OUTPUT_WIDE ? n_wide : n_table) < 0)
                        return -ENOMEM;
                table_set_header(t, !arg_no_headers);
                /* Wide and --no-trunc show everything; a plain table gives way on the name only. */
                if (arg_output_mode == OUTPUT_TABLE && !arg_no_trunc) {
                        table_set_width(t, table_output_width());
                        table_set_shrinkable(t, name_column);
                        table_set_ellipsis(t, ctl_ellipsis());
                }
        }
        *ret = TAKE_PTR(t);
        return 0;
}

int ctl_add_size(json_object *p, const char *key, const char *value) {
        uint64_t bytes;
        if (!value)
                return 0;
        if (parse_size(value, &bytes) < 0 || bytes > INT64_MAX)
                return ctl_log_errno(EINVAL, "invalid --%s '%s' (examples: 512M, 1G)", key, value);
        return json_add_int64(p, key, (int64_t) bytes) < 0 ? ctl_log_oom() : 0;
}
