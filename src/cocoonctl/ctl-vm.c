/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cocoonctl vm …: VM verbs. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl-json-scan.h"
#include "ctl-table.h"
#include "ctl-util.h"
#include "ctl-verbs.h"
#include "json-util.h"
#include "log.h"
#include "parse-util.h"
#include "time-util.h"

/* A string field of a VM for the table: NULL (printed "-") when it is not a string. Long ones go to
 * *heap. */
static const char *span_cell(JsonSpan value, char *buf, size_t size, char **heap) {
        int r = json_span_string(value, buf, size);
        if (r != -ENOBUFS)
                return r < 0 ? NULL : buf;
        free(*heap);
        if (!(*heap = malloc(value.n)) || json_span_string(value, *heap, value.n) < 0)
                return NULL;
        return *heap;
}

/* "-" unless a non-negative integer. */
static void span_config_cells(JsonSpan config, char cpu[static 32], char memory[static FORMAT_SIZE_MAX]) {
        JsonIter it;
        JsonSpan k, v;
        int64_t n;

        if (json_iter_init(&it, config, true) < 0)
                return;
        while (json_iter_next(&it, &k, &v) > 0) {
                if (json_key_equal(k, "cpu")) {
                        if (json_span_int64(v, &n) >= 0 && n >= 0)
                                snprintf(cpu, 32, "%" PRId64, n);
                        else
                                strcpy(cpu, "-");
                } else if (json_key_equal(k, "memory")) {
                        if (json_span_int64(v, &n) >= 0 && n >= 0)
                                format_size((uint64_t) n, memory);
                        else
                                strcpy(memory, "-");
                }
        }
}

/* Local time of a record's createdAt. Neighbouring records were often created in the same second: one
 * conversion serves them all. */
static void created_cell(JsonSpan value, char *buf, size_t size) {
        static char last_in[64], last_out[64];
        static bool have_last = false;
        char in[64];
        if (json_span_string(value, in, sizeof(in)) < 0) {
                snprintf(buf, size, "-");
                return;
        }
        if (!have_last || !streq(in, last_in)) {
                ctl_format_local_time(in, last_out, sizeof(last_out));
                memcpy(last_in, in, sizeof(in));
                have_last = true;
        }
        snprintf(buf, size, "%s", last_out);
}

enum { CELL_ID, CELL_NAME, CELL_STATE, CELL_BACKEND, _CELL_STRING_MAX };
static const char *const vm_string_fields[_CELL_STRING_MAX] = { "id", "name", "state", "backend" };

/* One member pass over a VM. */
static int vm_table_add(Table *t, JsonSpan vm) {
        char strings[_CELL_STRING_MAX][256], cpu[32] = "-", memory[FORMAT_SIZE_MAX] = "-", created[64] = "-";
        char *heap[_CELL_STRING_MAX] = {};
        const char *cells[_CELL_STRING_MAX] = {};
        JsonIter it;
        JsonSpan k, v;

        if (json_iter_init(&it, vm, true) >= 0)
                while (json_iter_next(&it, &k, &v) > 0) {
                        for (size_t i = 0; i < _CELL_STRING_MAX; i++)
                                if (json_key_equal(k, vm_string_fields[i]))
                                        cells[i] = span_cell(v, strings[i], sizeof(strings[i]), &heap[i]);
                        if (json_key_equal(k, "config")) {
                                strcpy(cpu, "-");
                                strcpy(memory, "-");
                                span_config_cells(v, cpu, memory);
                        } else if (json_key_equal(k, "createdAt"))
                                created_cell(v, created, sizeof(created));
                }

        const char *row[] = {
                cells[CELL_ID], cells[CELL_NAME], cells[CELL_STATE], cells[CELL_BACKEND],
                cpu,           memory,          created,
        };
        int r = table_add_row(t, row);
        for (size_t i = 0; i < _CELL_STRING_MAX; i++)
                free(heap[i]);
        return r;
}

static JsonSpan span_trim(const char *text, size_t size) {
        while (size > 0 && strchr(" \t\r\n", text[size - 1]))
                size--;
        while (size > 0 && strchr(" \t\r\n", text[0]))
                text++, size--;
        return (JsonSpan){ text, size };
}

/* A Varlink error in a scanned reply: parsed the usual way (it is small) and reported as ctl_call() does. */
static int report_scanned_error(JsonSpan message) {
        _cleanup_(json_object_putp) json_object *m = json_tokener_parse(message.p);
        json_object *parameters = NULL;
        const char *error_id = NULL;
        if (!m || json_get_string(m, "error", &error_id) < 0)
                return -EPROTO;
        (void) json_object_object_get_ex(m, "parameters", &parameters);
        return ctl_report_error(error_id, parameters);
}

/* ctl_call() for big replies: the reply is checked and scanned, never parsed into objects. *ret_parameters
 * points into the link's buffer (valid until the next call on it). */
static int ctl_call_scanned(Varlink *link, const char *method, json_object *parameters,
                            JsonSpan *ret_parameters) {
        const char *text;
        size_t size;
        JsonIter it;
        JsonSpan k, v, found = {};
        bool error = false;
        int r;

        r = varlink_call_raw(link, method, parameters, &text, &size);
        if (r < 0)
                return log_error_errno(r, "cocoonctl: calling %s failed: %m", method);
        JsonSpan message = span_trim(text, size);
        if (json_scan_validate(text, size) < 0 || json_iter_init(&it, message, true) < 0)
                return log_error_errno(-EPROTO, "cocoonctl: calling %s failed: %m", method);
        while ((r = json_iter_next(&it, &k, &v)) > 0) {
                if (json_key_equal(k, "parameters")) {
                        found = v;
                        if (v.p[0] != '{' && !(v.n == 4 && memcmp(v.p, "null", 4) == 0))
                                r = -EPROTO;
                } else if (json_key_equal(k, "error")) {
                        error = true;
                        if (v.p[0] != '"')
                                r = -EPROTO;
                } else if (json_key_equal(k, "continues")) {
                        if (v.n == 4 && memcmp(v.p, "true", 4) == 0)
                                r = -EPROTO; /* "continues" was not asked for */
                        else if (!(v.n == 5 && memcmp(v.p, "false", 5) == 0))
                                r = -EPROTO;
                }
                if (r < 0)
                        break;
        }
        if (r < 0)
                return log_error_errno(-EPROTO, "cocoonctl: calling %s failed: %m", method);
        if (error) {
                /* The message sits NUL-terminated in the link's buffer, where the framing found it. */
                return report_scanned_error((JsonSpan){ text, size });
        }
        /* Omitted, null and {} all mean "no parameters". */
        *ret_parameters = found.p && found.p[0] == '{' ? found : (JsonSpan){ "{}", 2 };
        return 0;
}

int verb_vm_list(int argc, char **argv) {
        _cleanup_(varlink_unrefp) Varlink *link = NULL;
        _cleanup_(table_freep) Table *t = NULL;
        static const char *const headers[] = { "ID", "NAME", "STATE", "BACKEND", "CPU", "MEMORY", "CREATED" };
        JsonSpan reply, vms, vm;
        JsonIter it;

        int r = ctl_connect(&link);
        if (r < 0)
                return r;
        /* The table needs a few fields only: ask for the summary view, much less to parse. */
        _cleanup_(json_object_putp) json_object *p = json_object_new_object();
        if (!p || (!arg_json && json_add_bool(p, "summary", true) < 0))
                return log_oom();
        /* Thousands of VMs: scanning the reply's text costs a fraction of building json-c objects for it. */
        r = ctl_call_scanned(link, "io.cocoon.VM.List", p, &reply);
        if (r < 0)
                return r;
        if (json_object_find(reply, "vms", &vms) < 0 || json_iter_init(&it, vms, false) < 0) {
                fprintf(stderr, "cocoonctl: io.cocoon.VM.List reply has no vms array\n");
                return -EBADMSG;
        }
        /* One write per 64 KiB, not per line. */
        static char out[64 * 1024];
        setvbuf(stdout, out, _IOFBF, sizeof(out));
        if (arg_json)
                return json_span_print_pretty(stdout, vms);

        r = table_new(&t, headers, ELEMENTSOF(headers));
        if (r < 0)
                return log_oom();
        while (json_iter_next(&it, NULL, &vm) > 0) {
                r = vm_table_add(t, vm);
                if (r < 0)
                        return log_oom();
        }
        if (table_rows(t) == 0) {
                printf("No VMs found.\n");
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
        if (!json_object_object_get_ex(reply, "vm", &vm)) {
                fprintf(stderr, "cocoonctl: io.cocoon.VM.Inspect reply has no vm\n");
                return -EBADMSG;
        }
        ctl_print_json(vm);
        return 0;
}
