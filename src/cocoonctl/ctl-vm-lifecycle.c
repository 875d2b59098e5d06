/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cocoonctl vm create|run|start|stop|rm|status|debug: the verbs that change VMs or follow them. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ctl-util.h"
#include "ctl-verbs.h"
#include "json-util.h"
#include "log.h"
#include "parse-util.h"

const char *arg_name = NULL;
const char *arg_cpu = NULL;
const char *arg_memory = NULL;
const char *arg_storage = NULL;
const char *arg_backend = NULL;
const char *arg_accel = NULL;
const char *arg_vm_cmdline = NULL;
const char *arg_nics = NULL;
const char *arg_bridge = NULL;
bool arg_force = false;
const char *arg_timeout = NULL;
bool arg_event = false;

static int add_size(json_object *p, const char *key, const char *value) {
        uint64_t bytes;
        if (!value)
                return 0;
        if (parse_size(value, &bytes) < 0 || bytes > INT64_MAX) {
                fprintf(stderr, "cocoonctl: invalid --%s '%s' (examples: 512M, 1G)\n", key, value);
                return -EINVAL;
        }
        return json_add_int64(p, key, (int64_t) bytes);
}

static int build_create_parameters(const char *image, bool start, json_object **ret) {
        _cleanup_(json_object_putp) json_object *p = json_object_new_object();
        uint64_t cpu;
        int r;

        if (!p)
                return log_oom();
        if ((r = json_add_string(p, "name", arg_name)) < 0 || (r = json_add_string(p, "image", image)) < 0)
                return r;
        if (arg_cpu) {
                if (parse_uint64(arg_cpu, &cpu) < 0 || cpu > INT32_MAX) {
                        fprintf(stderr, "cocoonctl: invalid --cpu '%s'\n", arg_cpu);
                        return -EINVAL;
                }
                if ((r = json_add_int64(p, "cpu", (int64_t) cpu)) < 0)
                        return r;
        }
        if (arg_nics) {
                uint64_t nics;
                /* The range is the manager's to check (and to name in its error). */
                if (parse_uint64(arg_nics, &nics) < 0 || nics > INT32_MAX) {
                        fprintf(stderr, "cocoonctl: invalid --nics '%s'\n", arg_nics);
                        return -EINVAL;
                }
                if ((r = json_add_int64(p, "nics", (int64_t) nics)) < 0)
                        return r;
        }
        if ((r = json_add_string(p, "bridge", arg_bridge)) < 0)
                return r;
        if ((r = add_size(p, "memory", arg_memory)) < 0 || (r = add_size(p, "storage", arg_storage)) < 0 ||
            (r = json_add_string(p, "backend", arg_backend)) < 0 || (r = json_add_string(p, "accel", arg_accel)) < 0 ||
            (r = json_add_string(p, "cmdline", arg_vm_cmdline)) < 0 || (r = json_add_bool(p, "start", start)) < 0)
                return r;
        *ret = TAKE_PTR(p);
        return 0;
}

static int create_or_run(const char *image, bool start) {
        _cleanup_(varlink_unrefp) Varlink *link = NULL;
        _cleanup_(json_object_putp) json_object *p = NULL;
        json_object *reply, *vm;
        const char *id, *state, *name;

        int r = build_create_parameters(image, start, &p);
        if (r < 0)
                return r;
        if ((r = ctl_connect(&link)) < 0 || (r = ctl_call(link, "io.cocoon.VM.Create", p, &reply)) < 0)
                return r;
        if (!json_object_object_get_ex(reply, "vm", &vm) || json_get_string(vm, "id", &id) < 0) {
                fprintf(stderr, "cocoonctl: Create reply has no vm\n");
                return -EBADMSG;
        }
        if (arg_json) {
                ctl_print_json(vm);
                return 0;
        }
        if (json_get_string(vm, "state", &state) < 0)
                state = "?";
        if (json_get_string(vm, "name", &name) < 0)
                name = "?";
        printf("%s\n", id);
        fprintf(stderr, "VM %s (%s) %s.\n", name, id, state);
        return 0;
}

int verb_vm_create(int argc, char **argv) {
        return create_or_run(argv[0], false);
}

int verb_vm_run(int argc, char **argv) {
        return create_or_run(argv[0], true);
}

/* Prints one line per failed reference; returns -EBADE if any failed. */
static int report_results(json_object *reply, const char *verb) {
        json_object *results;
        int r = 0;
        if (!json_object_object_get_ex(reply, "results", &results) || !json_object_is_type(results, json_type_array)) {
                fprintf(stderr, "cocoonctl: reply has no results\n");
                return -EBADMSG;
        }
        if (arg_json)
                ctl_print_json(results);
        for (size_t i = 0; i < json_object_array_length(results); i++) {
                json_object *o = json_object_array_get_idx(results, i);
                const char *ref = NULL, *id = NULL, *error = NULL, *message = NULL;
                (void) json_get_string(o, "reference", &ref);
                (void) json_get_string(o, "id", &id);
                if (json_get_string(o, "error", &error) >= 0) {
                        (void) json_get_string(o, "message", &message);
                        fprintf(stderr, "cocoonctl: %s %s: %s: %s\n", verb, ref ?: "?", error, message ?: "failed");
                        r = -EBADE;
                } else if (!arg_json)
                        printf("%s\n", id ?: ref ?: "?");
        }
        return r;
}

static int batch(const char *method, const char *verb, int argc, char **argv, json_object *p) {
        _cleanup_(varlink_unrefp) Varlink *link = NULL;
        json_object *reply;
        int r;

        if ((r = json_add_strv(p, "refs", argv)) < 0)
                return r;
        if ((r = ctl_connect(&link)) < 0 || (r = ctl_call(link, method, p, &reply)) < 0)
                return r;
        return report_results(reply, verb);
}

int verb_vm_start(int argc, char **argv) {
        _cleanup_(json_object_putp) json_object *p = json_object_new_object();
        return batch("io.cocoon.VM.Start", "start", argc, argv, p);
}

int verb_vm_stop(int argc, char **argv) {
        _cleanup_(json_object_putp) json_object *p = json_object_new_object();
        uint64_t sec;
        if (arg_timeout) {
                if (parse_uint64(arg_timeout, &sec) < 0 || sec == 0 || sec > 86400) {
                        fprintf(stderr, "cocoonctl: invalid --timeout '%s' (seconds, 1..86400)\n", arg_timeout);
                        return -EINVAL;
                }
                (void) json_add_int64(p, "timeoutSec", (int64_t) sec);
        }
        if (arg_force)
                (void) json_add_bool(p, "force", true);
        return batch("io.cocoon.VM.Stop", "stop", argc, argv, p);
}

int verb_vm_rm(int argc, char **argv) {
        _cleanup_(json_object_putp) json_object *p = json_object_new_object();
        if (arg_force)
                (void) json_add_bool(p, "force", true);
        return batch("io.cocoon.VM.Delete", "rm", argc, argv, p);
}

int verb_vm_debug(int argc, char **argv) {
        _cleanup_(varlink_unrefp) Varlink *link = NULL;
        _cleanup_(json_object_putp) json_object *p = json_object_new_object();
        json_object *reply, *args;
        int r;

        (void) json_add_string(p, "ref", argv[0]);
        if ((r = ctl_connect(&link)) < 0 || (r = ctl_call(link, "io.cocoon.VM.Debug", p, &reply)) < 0)
                return r;
        if (arg_json || !json_object_object_get_ex(reply, "argv", &args)) {
                ctl_print_json(reply);
                return 0;
        }
        /* One argument per line, shell-continued: readable and copy-pastable. */
        for (size_t i = 0; i < json_object_array_length(args); i++)
                printf("%s'%s'%s\n", i == 0 ? "" : "  ", json_object_get_string(json_object_array_get_idx(args, i)),
                       i + 1 < json_object_array_length(args) ? " \\" : "");
        return 0;
}

/* vm status: follows io.cocoon.VM.Watch; one line per event (or per VM at start). */
static void print_event(json_object *e) {
        json_object *vm = NULL;
        const char *event = "?", *id = "?", *name = "-", *state = "-", *reason = NULL;
        (void) json_get_string(e, "event", &event);
        (void) json_get_string(e, "id", &id);
        if (json_object_object_get_ex(e, "vm", &vm)) {
                (void) json_get_string(vm, "name", &name);
                (void) json_get_string(vm, "state", &state);
                (void) json_get_string(vm, "errorReason", &reason);
        }
        if (arg_json)
                puts(json_object_to_json_string_ext(e, JSON_C_TO_STRING_PLAIN));
        else if (arg_event || !streq(event, "current"))
                printf("%-8s %s  %-20s %-9s%s%s\n", event, id, name, state, reason ? "  " : "", reason ?: "");
        else
                printf("%s  %-20s %s%s%s\n", id, name, state, reason ? "  " : "", reason ?: "");
        fflush(stdout);
}

int verb_vm_status(int argc, char **argv) {
        _cleanup_(varlink_unrefp) Varlink *link = NULL;
        _cleanup_(json_object_putp) json_object *p = json_object_new_object();
        int r;

        if (argc > 0 && (r = json_add_strv(p, "refs", argv)) < 0)
                return r;
        if ((r = ctl_connect(&link)) < 0)
                return r;
        (void) varlink_set_relative_timeout(link, UINT64_MAX);
        r = varlink_observe(link, "io.cocoon.VM.Watch", p);
        if (r < 0)
                return log_error_errno(r, "cocoonctl: calling io.cocoon.VM.Watch failed: %m");
        for (;;) {
                json_object *reply = NULL;
                const char *error_id = NULL;
                bool continues = false;
                r = varlink_observe_next(link, &reply, &error_id, &continues);
                if (r < 0)
                        return log_error_errno(r, "cocoonctl: the manager went away: %m");
                if (error_id)
                        return ctl_report_error(error_id, reply);
                print_event(reply);
                if (!continues)
                        return 0;
        }
}
