/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cocoonctl vm create|run|start|stop|restart|kill|rm|debug: the verbs that change VMs. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ctl-console.h"
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
const char *arg_network = NULL;
bool arg_force = false;
const char *arg_timeout = NULL;
bool arg_console = false;
const char *arg_signal = NULL;

static int build_create_parameters(const char *image, bool start, json_object **ret) {
        _cleanup_(json_object_putp) json_object *p = json_object_new_object();
        uint64_t cpu;
        int r;

        if (!p)
                return ctl_log_oom();
        if ((r = json_add_string(p, "name", arg_name)) < 0 || (r = json_add_string(p, "image", image)) < 0)
                return r;
        if (arg_cpu) {
                if (parse_uint64(arg_cpu, &cpu) < 0 || cpu > INT32_MAX)
                        return ctl_log_errno(EINVAL, "invalid --cpu '%s'", arg_cpu);
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
        if ((r = json_add_string(p, "bridge", arg_bridge)) < 0 ||
            (r = json_add_string(p, "network", arg_network)) < 0)
                return r;
        if ((r = ctl_add_size(p, "memory", arg_memory)) < 0 || (r = ctl_add_size(p, "storage", arg_storage)) < 0 ||
            (r = json_add_string(p, "backend", arg_backend)) < 0 || (r = json_add_string(p, "accel", arg_accel)) < 0 ||
            (r = json_add_string(p, "cmdline", arg_vm_cmdline)) < 0 || (r = json_add_bool(p, "start", start)) < 0)
                return r;
        *ret = TAKE_PTR(p);
        return 0;
}

/* ret_id: the new VM's id, when not NULL. */
static int create_or_run(const char *image, bool start, char **ret_id) {
        _cleanup_(varlink_unrefp) Varlink *link = NULL;
        _cleanup_(json_object_putp) json_object *p = NULL;
        json_object *reply, *vm;
        const char *id, *state, *name;

        int r = build_create_parameters(image, start, &p);
        if (r < 0)
                return r;
        if ((r = ctl_connect(&link)) < 0 || (r = ctl_call(link, "io.cocoon.VM.Create", p, &reply)) < 0)
                return r;
        if (!json_object_object_get_ex(reply, "vm", &vm) || json_get_string(vm, "id", &id) < 0)
                return ctl_log_errno(EBADMSG, "Create reply has no vm");
        if (ret_id && !(*ret_id = strdup(id)))
                return ctl_log_oom();
        if (arg_json) {
                ctl_print_json(vm);
                return 0;
        }
        if (json_get_string(vm, "state", &state) < 0)
                state = "?";
        if (json_get_string(vm, "name", &name) < 0)
                name = "?";
        if (!arg_console)
                printf("%s\n", id); /* with --console stdout is the console's */
        fprintf(stderr, "VM %s (%s) %s.\n", name, id, state);
        return 0;
}

int verb_vm_create(int argc, char **argv) {
        return create_or_run(argv[0], false, NULL);
}

int verb_vm_run(int argc, char **argv) {
        _cleanup_free_ char *id = NULL;
        CtlConsoleOptions o;
        int r;

        if (!arg_console && (arg_no_tty || arg_escape_char))
                return ctl_log_errno(EINVAL, "--%s needs --console", arg_no_tty ? "no-tty" : "escape-char");
        if (!arg_console)
                return create_or_run(argv[0], true, NULL);
        if (arg_json)
                return ctl_log_errno(EINVAL, "--console and --json do not go together");
        /* A terminal problem is reported before the VM exists, not after. */
        r = ctl_console_prepare(&o);
        if (r < 0)
                return r;
        r = create_or_run(argv[0], true, &id);
        if (r < 0)
                return r;
        /* The whole log first: the guest has been printing since the start, and its log is new. */
        return ctl_console_attach(id, &o, true, UINT64_MAX);
}

/* Prints one line per failed reference; returns 0, CTL_ERROR_PARTIAL or -EBADE (ctl_batch_result()). */
static int report_results(json_object *reply, const char *verb) {
        json_object *results;
        size_t n_ok = 0, n_failed = 0;
        if (!json_object_object_get_ex(reply, "results", &results) || !json_object_is_type(results, json_type_array)) {
                return ctl_log_errno(EBADMSG, "reply has no results");
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
                        ctl_report_ref_error(verb, ref, error, message);
                        n_failed++;
                        continue;
                }
                n_ok++;
                if (!arg_json)
                        printf("%s\n", id ?: ref ?: "?");
        }
        return ctl_batch_result(n_ok, n_failed);
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

/* --timeout and --force of stop and restart. */
static int add_stop_options(json_object *p) {
        uint64_t sec;
        if (arg_timeout) {
                if (parse_uint64(arg_timeout, &sec) < 0 || sec == 0 || sec > 86400)
                        return ctl_log_errno(EINVAL, "invalid --timeout '%s' (seconds, 1..86400)",
                                             arg_timeout);
                (void) json_add_int64(p, "timeoutSec", (int64_t) sec);
        }
        if (arg_force)
                (void) json_add_bool(p, "force", true);
        return 0;
}

int verb_vm_stop(int argc, char **argv) {
        _cleanup_(json_object_putp) json_object *p = json_object_new_object();
        int r = add_stop_options(p);
        if (r < 0)
                return r;
        return batch("io.cocoon.VM.Stop", "stop", argc, argv, p);
}

int verb_vm_restart(int argc, char **argv) {
        _cleanup_(json_object_putp) json_object *p = json_object_new_object();
        int r = add_stop_options(p);
        if (r < 0)
                return r;
        return batch("io.cocoon.VM.Restart", "restart", argc, argv, p);
}

int verb_vm_kill(int argc, char **argv) {
        _cleanup_(json_object_putp) json_object *p = json_object_new_object();
        /* The manager checks the name (InvalidConfiguration naming "signal"). */
        if (arg_signal)
                (void) json_add_string(p, "signal", arg_signal);
        return batch("io.cocoon.VM.Kill", "kill", argc, argv, p);
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
        json_object *calls;
        if (json_object_object_get_ex(reply, "apiCalls", &calls) && json_object_array_length(calls) > 0) {
                printf("# then, on its API socket:\n");
                for (size_t i = 0; i < json_object_array_length(calls); i++)
                        printf("#   %s\n", json_object_get_string(json_object_array_get_idx(calls, i)));
        }
        return 0;
}
