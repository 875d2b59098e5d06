/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cocoonctl vm …: VM verbs. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl-list-reader.h"
#include "ctl-table.h"
#include "ctl-util.h"
#include "ctl-verbs.h"
#include "json-util.h"
#include "log.h"
#include "parse-util.h"
#include "time-util.h"

/* What the rows of one listing share. */
typedef struct ListContext {
        Table *table;
        uint64_t now;
} ListContext;

/* A record's createdAt as the table shows it. Neighbouring records were often created in the same second:
 * one conversion serves them all. */
static const char *created_cell(const char *created_at, uint64_t now) {
        static char last_in[64], last_out[64];
        static bool have_last = false;
        if (!created_at || strlen(created_at) >= sizeof(last_in))
                return NULL;
        if (!have_last || !streq(created_at, last_in)) {
                ctl_format_created(created_at, now, last_out, sizeof(last_out));
                strcpy(last_in, created_at);
                have_last = true;
        }
        return last_out;
}

static int vm_table_add(const ListRow *vm, void *userdata) {
        ListContext *c = userdata;
        char cpu[32] = "-", memory[FORMAT_SIZE_MAX] = "-", id[CTL_SHORT_ID_LENGTH + 1];

        if (arg_quiet) {
                const char *row[] = { vm->id };
                return table_add_row(c->table, row);
        }
        if (vm->cpu >= 0)
                snprintf(cpu, sizeof(cpu), "%" PRId64, vm->cpu);
        if (vm->memory >= 0)
                format_size((uint64_t) vm->memory, memory);
        const char *row[] = {
                ctl_id_cell(vm->id, id), vm->name, vm->state, vm->backend, cpu, memory, vm->ip ?: "-",
                created_cell(vm->created_at, c->now), vm->error_reason,
        };
        return table_add_row(c->table, row);
}

/* A Varlink error in a List reply: parsed the usual way (it is small) and reported as ctl_call() does. The
 * message sits NUL-terminated in the link's buffer, where the framing found it. */
static int report_list_error(const char *text) {
        _cleanup_(json_object_putp) json_object *m = json_tokener_parse(text);
        json_object *parameters = NULL;
        const char *error_id = NULL;
        if (!m || json_get_string(m, "error", &error_id) < 0)
                return -EPROTO;
        (void) json_object_object_get_ex(m, "parameters", &parameters);
        return ctl_report_error(error_id, parameters);
}

static void yajl_gen_freep(yajl_gen *g) {
        if (*g)
                yajl_gen_free(*g);
}

int verb_vm_list(int argc, char **argv) {
        _cleanup_(varlink_unrefp) Varlink *link = NULL;
        _cleanup_(table_freep) Table *t = NULL;
        _cleanup_(yajl_gen_freep) yajl_gen gen = NULL;
        static const char *const headers[] = {"ID", "NAME", "STATE", "BACKEND", "CPU", "MEMORY", "IP", "CREATED",
                                              "ERROR"};
        static const char method[] = "io.cocoon.VM.List";
        ListReply reply;
        const char *text;
        size_t size;

        int r = ctl_connect(&link);
        if (r < 0)
                return r;
        /* The table needs a few fields only: ask for the summary view, much less to parse. */
        _cleanup_(json_object_putp) json_object *p = json_object_new_object();
        if (!p || (!arg_json && json_add_bool(p, "summary", true) < 0))
                return ctl_log_oom();
        if (arg_json) {
                if (list_gen_new(&gen) < 0)
                        return ctl_log_oom();
        } else if (ctl_list_table_new(&t, headers, ELEMENTSOF(headers) - 1, ELEMENTSOF(headers), 1) < 0)
                return ctl_log_oom();

        /* Thousands of VMs: the reply's text is walked once by yajl's callbacks, never built into json-c
         * objects (a hash table per VM cost the client most of its time). */
        r = varlink_call_raw(link, method, p, &text, &size);
        if (r < 0)
                return ctl_log_errno(r, "calling %s failed: %m", method);
        ListContext c = { .table = t, .now = now_usec(CLOCK_REALTIME) };
        r = list_reply_read(text, size, t ? vm_table_add : NULL, &c, gen, &reply);
        if (r == -ENOMEM)
                return ctl_log_oom();
        if (r < 0)
                return ctl_log_errno(EPROTO, "calling %s failed: %m", method);
        if (reply.error)
                return report_list_error(text);
        if (!reply.have_vms)
                return ctl_log_errno(EBADMSG, "%s reply has no vms array", method);
        /* One write per 64 KiB, not per line. */
        static char out[64 * 1024];
        setvbuf(stdout, out, _IOFBF, sizeof(out));
        if (gen) {
                const unsigned char *buf;
                size_t n;
                if (yajl_gen_get_buf(gen, &buf, &n) != yajl_gen_status_ok)
                        return ctl_log_oom();
                fwrite_unlocked(buf, 1, n, stdout);
                return 0;
        }
        /* Nothing to list is not an error, and says so where a pipe does not count it as a line. */
        if (table_rows(t) == 0) {
                if (!arg_quiet)
                        fprintf(stderr, "No VMs found.\n");
                return 0;
        }
        return table_print(t);
}

int verb_vm_inspect(int argc, char **argv) {
        _cleanup_(varlink_unrefp) Varlink *link = NULL;
        _cleanup_(json_object_putp) json_object *parameters = json_object_new_object();
        json_object *reply = NULL, *vm;

        json_object_object_add(parameters, "ref", json_object_new_string(argv[0]));
        int r = ctl_connect(&link);
        if (r < 0)
                return r;
        r = ctl_call(link, "io.cocoon.VM.Inspect", parameters, &reply);
        if (r < 0)
                return r;
        if (!json_object_object_get_ex(reply, "vm", &vm))
                return ctl_log_errno(EBADMSG, "io.cocoon.VM.Inspect reply has no vm");
        ctl_print_json(vm);
        return 0;
}
