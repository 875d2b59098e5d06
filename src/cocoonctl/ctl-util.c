/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What every cocoonctl verb shares: the connection, error reporting, output. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "ctl-util.h"
#include "log.h"
#include "parse-util.h"
#include "time-util.h"

bool arg_json = false;
const char *arg_address = NULL;

/* Calls that last as long as the work they wait for: guests powering off (Stop, Delete --force, up to the
 * stop timeout and the kill grace, in waves when a batch is larger than the manager's pool), disks and
 * images copied (Create, Start, Import), directories removed (GarbageCollect). The client cannot know how
 * long that is, and a timeout reported for an operation that then succeeds is worse than waiting: these
 * wait for the answer as long as the connection lives (the manager always answers, or the connection
 * ends with it). */
static const char *const long_running_methods[] = {
        "io.cocoon.VM.Create",
        "io.cocoon.VM.Start",
        "io.cocoon.VM.Stop",
        "io.cocoon.VM.Delete",
        "io.cocoon.Image.Import",
        "io.cocoon.Manager.GarbageCollect",
        "io.cocoon.Snapshot.Save",
        "io.cocoon.Snapshot.Delete",
        "io.cocoon.VM.Clone",
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
                fprintf(stderr,
                        "cocoonctl: invalid COCOON_CLIENT_TIMEOUT_SEC '%s' (seconds > 0, or infinity)\n",
                        timeout);
                return -EINVAL;
        }
        int r = varlink_connect_address(&link, address);
        if (r < 0)
                return log_error_errno(r, "cocoonctl: cannot connect to cocoon-manager at %s: %m", address);
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

int ctl_report_error(const char *error_id, json_object *parameters) {
        char buf[512];
        const char *m = error_message(error_id, parameters, buf, sizeof(buf));
        if (m)
                fprintf(stderr, "cocoonctl: %s: %s\n", error_id, m);
        else
                fprintf(stderr, "cocoonctl: %s\n", error_id);
        return -EBADE;
}

int ctl_call(Varlink *link, const char *method, json_object *parameters, json_object **ret_reply) {
        json_object *reply = NULL;
        const char *error_id = NULL;
        bool long_running = ctl_method_is_long_running(method);

        if (long_running)
                (void) varlink_set_relative_timeout(link, UINT64_MAX);
        int r = varlink_call(link, method, parameters, &reply, &error_id);
        if (r < 0 && long_running && r != -ETIMEDOUT)
                return log_error_errno(r,
                                       "cocoonctl: calling %s failed (%m); the manager may still finish "
                                       "the operation: check with cocoonctl vm list",
                                       method);
        if (r < 0)
                return log_error_errno(r, "cocoonctl: calling %s failed: %m", method);
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
        time_t t = (time_t) (usec / 1000000);
        if (!localtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm) == 0)
                snprintf(buf, size, "-");
}
