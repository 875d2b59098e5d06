/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Ctrl-C during a long VM call or gc: catch SIGINT, end the wait, say what goes on in the manager. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "ctl-interrupt.h"
#include "json-util.h"
#include "macro.h"

static volatile sig_atomic_t interrupted = 0;
static volatile sig_atomic_t interrupt_fd = -1;

/* Async-signal-safe: a flag and shutdown(2). The connection's end wakes the poll the call waits in. */
static void on_sigint(int sig) {
        interrupted = 1;
        if (interrupt_fd >= 0)
                (void) shutdown(interrupt_fd, SHUT_RDWR);
}

int ctl_interrupt_catch(Varlink *link, CtlInterrupt *c) {
        struct sigaction sa = { .sa_handler = on_sigint }; /* no SA_RESTART: a waiting poll() must wake */

        *c = (CtlInterrupt){};
        interrupted = 0;
        interrupt_fd = varlink_get_fd(link);
        if (sigaction(SIGINT, &sa, &c->old) < 0) {
                interrupt_fd = -1;
                return negative_errno();
        }
        c->caught = true;
        return 0;
}

bool ctl_interrupt_release(CtlInterrupt *c) {
        if (!c->caught)
                return false;
        (void) sigaction(SIGINT, &c->old, NULL);
        c->caught = false;
        interrupt_fd = -1;
        return interrupted;
}

/* The verb each long method serves, as cocoonctl spells it. */
static const struct {
        const char *method;
        const char *verb;
} method_verb_table[] = {
        { "io.cocoon.VM.Start", "vm start" },
        { "io.cocoon.VM.Stop", "vm stop" },
        { "io.cocoon.VM.Restart", "vm restart" },
        { "io.cocoon.VM.Delete", "vm rm" },
        { "io.cocoon.VM.Kill", "vm kill" },
        { "io.cocoon.Manager.GarbageCollect", "gc" },
};

static const char *create_verb(json_object *parameters) {
        json_object *start;

        if (parameters && json_object_object_get_ex(parameters, "start", &start) &&
            json_object_is_type(start, json_type_boolean) && json_object_get_boolean(start))
                return "vm run";
        return "vm create";
}

const char *ctl_interrupt_describe(const char *method, json_object *parameters,
                                   char buf[static CTL_INTERRUPT_DESCRIBE_MAX]) {
        const char *verb = method ?: "?", *s;
        json_object *refs;
        size_t used;
        int n;

        if (streq_ptr(method, "io.cocoon.VM.Create")) {
                if (parameters && json_get_string(parameters, "name", &s) >= 0)
                        snprintf(buf, CTL_INTERRUPT_DESCRIBE_MAX, "%s of %s", create_verb(parameters), s);
                else if (parameters && json_get_string(parameters, "image", &s) >= 0)
                        snprintf(buf, CTL_INTERRUPT_DESCRIBE_MAX, "%s from image %s",
                                 create_verb(parameters), s);
                else
                        snprintf(buf, CTL_INTERRUPT_DESCRIBE_MAX, "%s", create_verb(parameters));
                return buf;
        }
        for (size_t i = 0; method && i < ELEMENTSOF(method_verb_table); i++)
                if (streq(method_verb_table[i].method, method))
                        verb = method_verb_table[i].verb;

        n = snprintf(buf, CTL_INTERRUPT_DESCRIBE_MAX, "%s", verb);
        used = n < 0 ? 0 : MIN((size_t) n, (size_t) CTL_INTERRUPT_DESCRIBE_MAX - 1);
        if (!parameters || !json_object_object_get_ex(parameters, "refs", &refs) ||
            !json_object_is_type(refs, json_type_array))
                return buf;
        bool first = true;
        for (size_t i = 0; i < json_object_array_length(refs) && used + 1 < CTL_INTERRUPT_DESCRIBE_MAX; i++) {
                json_object *ref = json_object_array_get_idx(refs, i);
                if (!json_object_is_type(ref, json_type_string))
                        continue;
                n = snprintf(buf + used, CTL_INTERRUPT_DESCRIBE_MAX - used, "%s%s", first ? " of " : ", ",
                             json_object_get_string(ref));
                if (n < 0)
                        break;
                used = MIN(used + (size_t) n, (size_t) CTL_INTERRUPT_DESCRIBE_MAX - 1);
                first = false;
        }
        return buf;
}
