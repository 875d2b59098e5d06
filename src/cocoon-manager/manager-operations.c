/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Operations in flight: the long calls the manager still works on, for io.cocoon.Manager.ListOperations. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "json-util.h"
#include "manager-operations.h"
#include "strv-util.h"
#include "time-util.h"

typedef struct Operation Operation;
struct Operation {
        Operation *next;
        uint64_t id;
        char *method;
        char **vms;   /* references as the caller gave them; NULL: none */
        char *image;  /* NULL: none */
        char *snapshot; /* NULL: none */
        uint64_t started_at; /* CLOCK_REALTIME µs */
        uid_t uid;
        Varlink *link; /* a reference: the call is in flight while the link still serves this method; NULL
                        * once a held operation's caller went away */
        OperationProgress *progress; /* the worker's, or NULL */
        bool held;     /* ended by its handler (operations_end()), not the link: the work outlives callers */
        bool detached; /* held, and its caller went away: the manager carries on without anyone waiting */
};

struct Operations {
        Operation *first, *last; /* oldest first */
        uint64_t next_id;
};

/* The calls a caller waits for while the manager works: what cocoonctl waits for without a timeout. */
static const char *const tracked_methods[] = {
        "io.cocoon.VM.Create",   "io.cocoon.VM.Start",  "io.cocoon.VM.Stop",
        "io.cocoon.VM.Delete",   "io.cocoon.VM.Kill",   "io.cocoon.VM.Restart",
        "io.cocoon.Image.Import", "io.cocoon.Manager.GarbageCollect",
        "io.cocoon.Snapshot.Save", "io.cocoon.Snapshot.Delete", "io.cocoon.VM.Clone",
        "io.cocoon.VM.Restore", "io.cocoon.Snapshot.Export", "io.cocoon.Snapshot.Import",
};

/* The parameter naming the one VM of a method: Create and Clone name the new VM, Save the VM it saves. */
static const char *single_vm_field(const char *method) {
        if (streq(method, "io.cocoon.VM.Create") || streq(method, "io.cocoon.VM.Clone"))
                return "name";
        if (streq(method, "io.cocoon.Snapshot.Save") || streq(method, "io.cocoon.VM.Restore"))
                return "vm";
        return "ref";
}

bool operation_method_is_tracked(const char *method) {
        for (size_t i = 0; method && i < ELEMENTSOF(tracked_methods); i++)
                if (streq(tracked_methods[i], method))
                        return true;
        return false;
}

static Operation *operation_free(Operation *op) {
        if (!op)
                return NULL;
        free(op->method);
        strv_free(op->vms);
        free(op->image);
        free(op->snapshot);
        varlink_unref(op->link);
        return mfree(op);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(Operation *, operation_free);

int operations_new(Operations **ret) {
        Operations *ops = calloc(1, sizeof(Operations));
        if (!ops)
                return -ENOMEM;
        ops->next_id = 1;
        *ret = ops;
        return 0;
}

Operations *operations_free(Operations *ops) {
        if (!ops)
                return NULL;
        while (ops->first) {
                Operation *op = ops->first;
                ops->first = op->next;
                operation_free(op);
        }
        return mfree(ops);
}

/* Drops the operations `drop` selects (and fixes the tail); returns how many it dropped. */
static unsigned operations_drop_if(Operations *ops, bool (*drop)(const Operation *op, const void *arg),
                                   const void *arg) {
        unsigned n = 0;

        ops->last = NULL;
        for (Operation **p = &ops->first; *p;) {
                Operation *op = *p;
                if (drop(op, arg)) {
                        *p = op->next;
                        operation_free(op);
                        n++;
                } else {
                        ops->last = op;
                        p = &op->next;
                }
        }
        return n;
}

/* The connection answered the call (or moved on to another): the operation is over. A held one is over
 * when its handler says so. */
static bool operation_is_finished(const Operation *op, const void *arg) {
        return !op->held && !streq_ptr(varlink_get_current_method(op->link), op->method);
}

static bool operation_is_on_link(const Operation *op, const void *arg) {
        return op->link == arg && !op->held;
}

static bool operation_has_id(const Operation *op, const void *arg) {
        return op->id == *(const uint64_t *) arg;
}

static void operations_prune(Operations *ops) {
        (void) operations_drop_if(ops, operation_is_finished, NULL);
}

static int dup_string_field(json_object *parameters, const char *key, char **ret) {
        const char *s;

        if (!parameters || json_get_string(parameters, key, &s) < 0) {
                *ret = NULL;
                return 0;
        }
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

int operation_targets_from_parameters(const char *method, json_object *parameters, char ***ret_vms,
                                      char **ret_image) {
        _cleanup_strv_free_ char **vms = NULL;
        _cleanup_free_ char *image = NULL, *one = NULL;
        json_object *refs;
        int r;

        if (parameters && json_object_object_get_ex(parameters, "refs", &refs) &&
            json_object_is_type(refs, json_type_array)) {
                for (size_t i = 0; i < json_object_array_length(refs); i++) {
                        json_object *ref = json_object_array_get_idx(refs, i);
                        if (json_object_is_type(ref, json_type_string) &&
                            (r = strv_extend(&vms, json_object_get_string(ref))) < 0)
                                return r;
                }
        }
        /* A VM method's single reference, or the name Create gives the new VM. */
        r = dup_string_field(parameters, single_vm_field(method), &one);
        if (r < 0)
                return r;
        if (one && !streq(method, "io.cocoon.Image.Import") && (r = strv_extend(&vms, one)) < 0)
                return r;
        r = dup_string_field(parameters, streq(method, "io.cocoon.Image.Import") ? "name" : "image", &image);
        if (r < 0)
                return r;
        *ret_vms = TAKE_PTR(vms);
        *ret_image = TAKE_PTR(image);
        return 0;
}

int operations_begin(Operations *ops, Varlink *link, const char *method, json_object *parameters,
                     uint64_t now_realtime_usec) {
        _cleanup_(operation_freep) Operation *op = calloc(1, sizeof(Operation));
        int r;

        if (!op)
                return -ENOMEM;
        op->method = strdup(method);
        if (!op->method)
                return -ENOMEM;
        r = operation_targets_from_parameters(method, parameters, &op->vms, &op->image);
        if (r < 0)
                return r;
        /* The snapshot a call reads, or the name Save and Import give the one they make. */
        if (strncmp(method, "io.cocoon.Snapshot.", strlen("io.cocoon.Snapshot.")) == 0 ||
            streq(method, "io.cocoon.VM.Clone") ||
            streq(method, "io.cocoon.VM.Restore")) {
                bool names_new = streq(method, "io.cocoon.Snapshot.Save") ||
                                 streq(method, "io.cocoon.Snapshot.Import");
                r = dup_string_field(parameters, names_new ? "name" : "snapshot", &op->snapshot);
                if (r < 0)
                        return r;
        }
        if (varlink_get_peer_uid(link, &op->uid) < 0)
                op->uid = (uid_t) -1;
        op->started_at = now_realtime_usec;
        op->link = varlink_ref(link);

        /* A connection serves one call at a time: whatever it had recorded is over. */
        (void) operations_drop_if(ops, operation_is_on_link, link);
        operations_prune(ops);
        op->id = ops->next_id++;
        if (ops->last)
                ops->last->next = op;
        else
                ops->first = op;
        ops->last = TAKE_PTR(op);
        return 0;
}

int operations_attach_progress(Operations *ops, Varlink *link, OperationProgress *progress) {
        for (Operation *op = ops->first; op; op = op->next)
                if (op->link == link) {
                        op->progress = progress;
                        return 0;
                }
        return -ENOENT;
}

void operations_detach_progress(Operations *ops, OperationProgress *progress) {
        for (Operation *op = ops ? ops->first : NULL; op; op = op->next)
                if (op->progress == progress)
                        op->progress = NULL;
}

uint64_t operations_hold(Operations *ops, Varlink *link) {
        for (Operation *op = ops->first; op; op = op->next)
                if (op->link == link && !op->detached) {
                        op->held = true;
                        return op->id;
                }
        return 0;
}

void operations_upgraded(Operations *ops, uint64_t id) {
        for (Operation *op = ops && id > 0 ? ops->first : NULL; op; op = op->next)
                if (op->id == id)
                        op->detached = false;
}

void operations_end(Operations *ops, uint64_t id) {
        if (ops && id > 0)
                (void) operations_drop_if(ops, operation_has_id, &id);
}

unsigned operations_link_gone(Operations *ops, Varlink *link) {
        unsigned n = 0;

        for (Operation *op = ops->first; op; op = op->next) {
                if (op->link != link)
                        continue;
                if (op->progress)
                        atomic_store(&op->progress->cancelled, true);
                if (op->held) {
                        /* The work goes on: listed until its handler ends it, without the connection. */
                        op->detached = true;
                        op->link = varlink_unref(op->link);
                        n++;
                }
        }
        return n + operations_drop_if(ops, operation_is_on_link, link);
}

static int operation_to_json(const Operation *op, json_object **ret) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        _cleanup_free_ char *started = NULL;
        int r;

        if (!o)
                return -ENOMEM;
        r = timestamp_format_rfc3339(op->started_at, &started);
        if (r < 0)
                return r;
        if (json_add_uint64(o, "id", op->id) < 0 || json_add_string(o, "method", op->method) < 0 ||
            (op->vms && json_add_strv(o, "vms", op->vms) < 0) ||
            (op->image && json_add_string(o, "image", op->image) < 0) ||
            (op->snapshot && json_add_string(o, "snapshot", op->snapshot) < 0) ||
            json_add_string(o, "startedAt", started) < 0 || json_add_bool(o, "detached", op->detached) < 0 ||
            (op->uid != (uid_t) -1 && json_add_uint64(o, "uid", op->uid) < 0))
                return -ENOMEM;
        if (op->progress) {
                uint64_t total = atomic_load(&op->progress->total);
                if (json_add_uint64(o, "bytesDone", atomic_load(&op->progress->done)) < 0 ||
                    (total > 0 && json_add_uint64(o, "bytesTotal", total) < 0))
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(o);
        return 0;
}

int operations_to_json(Operations *ops, json_object **ret) {
        _cleanup_(json_object_putp) json_object *reply = json_object_new_object();
        json_object *array = json_object_new_array();
        int r;

        if (!reply || !array || json_add_object(reply, "operations", array) < 0)
                return -ENOMEM;
        operations_prune(ops);
        for (Operation *op = ops->first; op; op = op->next) {
                json_object *o;
                r = operation_to_json(op, &o);
                if (r < 0)
                        return r;
                if (json_object_array_add(array, o) < 0) {
                        json_object_put(o);
                        return -ENOMEM;
                }
        }
        *ret = TAKE_PTR(reply);
        return 0;
}

unsigned operations_count(Operations *ops) {
        unsigned n = 0;

        operations_prune(ops);
        for (Operation *op = ops->first; op; op = op->next)
                n++;
        return n;
}
