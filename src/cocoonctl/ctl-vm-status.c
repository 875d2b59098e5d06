/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cocoonctl vm status (one-shot state, an exit code per state) and vm watch (every change as it happens). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ctl-util.h"
#include "ctl-verbs.h"
#include "ctl-vm-state.h"
#include "json-util.h"
#include "log.h"
#include "strv-util.h"
#include "time-util.h"

bool arg_event = false;

/* ---- vm status ---- */

/* The state of one reference, printed; *exit_code gets its code. < 0 when the call failed (reported). */
static int status_one(Varlink *link, const char *ref, json_object *vms, int *exit_code) {
        _cleanup_(json_object_putp) json_object *p = json_object_new_object();
        json_object *reply = NULL, *vm;
        const char *error_id = NULL, *state;

        if (!p || json_add_string(p, "ref", ref) < 0)
                return ctl_log_oom();
        int r = varlink_call(link, "io.cocoon.VM.Inspect", p, &reply, &error_id);
        if (r < 0)
                return ctl_log_errno(r, "calling io.cocoon.VM.Inspect failed: %m");
        if (error_id && streq(error_id, "io.cocoon.VM.NoSuchVM")) {
                /* As systemctl is-active: a state word on stdout, the reason in the exit code. */
                if (arg_json)
                        (void) ctl_report_error(error_id, reply);
                else
                        printf("not-found\n");
                *exit_code = CTL_EXIT_VM_NOT_FOUND;
                return 0;
        }
        if (error_id)
                return ctl_report_error(error_id, reply);
        if (!json_object_object_get_ex(reply, "vm", &vm) || json_get_string(vm, "state", &state) < 0)
                return ctl_log_errno(EBADMSG, "io.cocoon.VM.Inspect reply has no vm state");
        if (arg_json) {
                if (json_object_array_add(vms, json_object_get(vm)) < 0)
                        return ctl_log_oom();
        } else
                printf("%s\n", state);
        *exit_code = ctl_vm_state_exit_code(state);
        return 0;
}

int verb_vm_status(int argc, char **argv) {
        _cleanup_(varlink_unrefp) Varlink *link = NULL;
        _cleanup_(json_object_putp) json_object *vms = json_object_new_array();
        int worst = 0, failed = 0;

        if (!vms)
                return ctl_log_oom();
        int r = ctl_connect(&link);
        if (r < 0)
                return r;
        for (int i = 0; i < argc; i++) {
                int code = 0;
                r = status_one(link, argv[i], vms, &code);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        failed = r;
                else
                        worst = ctl_vm_state_exit_code_worst(worst, code);
        }
        if (arg_json)
                ctl_print_json(vms);
        /* A VM whose state could not be learnt is a failure, whatever the others are. */
        return failed < 0 ? failed : CTL_ERROR_EXIT(worst);
}

/* ---- vm watch ---- */

/* "2026-12-06 20:01:02 +0000": local time with its zone, so lines from several hosts compare. */
static void format_now(char *buf, size_t size) {
        struct timespec ts;
        struct tm tm;

        if (clock_gettime(CLOCK_REALTIME, &ts) < 0 || !localtime_r(&ts.tv_sec, &tm) ||
            strftime(buf, size, "%Y-%m-%d %H:%M:%S %z", &tm) == 0)
                snprintf(buf, size, "-");
}

static int print_event(json_object *e) {
        json_object *vm = NULL;
        const char *event = "?", *id = "?", *name = "-", *state = "-", *reason = NULL;
        char when[64];

        (void) json_get_string(e, "event", &event);
        (void) json_get_string(e, "id", &id);
        if (json_object_object_get_ex(e, "vm", &vm)) {
                (void) json_get_string(vm, "name", &name);
                (void) json_get_string(vm, "state", &state);
                (void) json_get_string(vm, "errorReason", &reason);
        }
        if (arg_json) {
                /* When this client saw the event: the manager's events carry no time of their own. */
                _cleanup_free_ char *rfc3339 = NULL;
                if (timestamp_format_rfc3339(now_usec(CLOCK_REALTIME), &rfc3339) < 0 ||
                    json_add_string(e, "timestamp", rfc3339) < 0)
                        return ctl_log_oom();
                puts(json_object_to_json_string_ext(e, JSON_C_TO_STRING_PLAIN));
        } else {
                format_now(when, sizeof(when));
                if (arg_event || !streq(event, "current"))
                        printf("%s  %-8s %s  %-20s %-9s%s%s\n", when, event, id, name, state,
                               reason ? "  " : "", reason ?: "");
                else
                        printf("%s  %s  %-20s %s%s%s\n", when, id, name, state, reason ? "  " : "",
                               reason ?: "");
        }
        fflush(stdout);
        return 0;
}

/* Keeps the ids a watch of named VMs follows: each named VM's current event adds it, its removal drops it.
 * *ret_all_gone says whether the last one just went. */
static int track_watched(char ***watched, json_object *e, bool *ret_all_gone) {
        const char *event = NULL, *id = NULL;

        *ret_all_gone = false;
        if (json_get_string(e, "event", &event) < 0 || json_get_string(e, "id", &id) < 0)
                return 0;
        if (streq(event, "current") && !strv_contains(*watched, id))
                return strv_extend(watched, id);
        if (streq(event, "removed") && strv_contains(*watched, id)) {
                strv_remove(*watched, id);
                *ret_all_gone = !(*watched)[0];
        }
        return 0;
}

int verb_vm_watch(int argc, char **argv) {
        _cleanup_(varlink_unrefp) Varlink *link = NULL;
        _cleanup_(json_object_putp) json_object *p = json_object_new_object();
        _cleanup_strv_free_ char **watched = NULL;
        int r;

        if (!p)
                return ctl_log_oom();
        if (argc > 0 && (r = json_add_strv(p, "refs", argv)) < 0)
                return r;
        if ((r = ctl_connect(&link)) < 0)
                return r;
        (void) varlink_set_relative_timeout(link, UINT64_MAX);
        r = varlink_observe(link, "io.cocoon.VM.Watch", p);
        if (r < 0)
                return ctl_log_errno(r, "calling io.cocoon.VM.Watch failed: %m");
        for (;;) {
                json_object *reply = NULL;
                const char *error_id = NULL;
                bool continues = false, all_gone = false;

                r = varlink_observe_next(link, &reply, &error_id, &continues);
                if (r < 0)
                        return ctl_log_errno(r, "the manager went away: %m");
                if (error_id)
                        return ctl_report_error(error_id, reply);
                r = print_event(reply);
                if (r < 0)
                        return r;
                /* A watch of named VMs has nothing left to say once they are all gone. */
                if (argc > 0 && (r = track_watched(&watched, reply, &all_gone)) < 0)
                        return ctl_log_oom();
                if (all_gone || !continues)
                        return 0;
        }
}
