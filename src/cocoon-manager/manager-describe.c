/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* io.cocoon.Manager.Describe: version, directories, backends and record counts. */
#include <stddef.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "hypervisor.h"
#include "job-queue.h"
#include "json-util.h"
#include "log.h"
#include "manager.h"
#include "strv-util.h"
#include "vm-types.h"

/* The backends are the ones this build implements (hypervisor_table), each with the binary the configuration
 * names: a binary of another hypervisor on $PATH makes nothing available. */
#define N_BACKENDS hypervisor_table_size

/* What a binary was when it was last probed: a new package version replaces the file. */
typedef struct BinaryIdentity {
        dev_t dev;
        ino_t ino;
        off_t size;
        struct timespec mtime;
} BinaryIdentity;

typedef struct BackendVersion {
        bool probed;         /* identity/version describe the file at `path` */
        bool probing;        /* a worker runs `path --version` */
        char *path;
        BinaryIdentity identity;
        char *version;       /* NULL when the binary printed none */
} BackendVersion;

struct DescribeState {
        Varlink **waiting; /* Describe calls answered once no probe runs */
        size_t n_waiting;
        BackendVersion backends[]; /* indexed like hypervisor_table */
};

/* One `--version` run, on a worker thread: a child process is never waited for on the loop. */
typedef struct VersionProbe {
        Manager *m;
        size_t backend;
        char *path;
        BinaryIdentity identity;
        char *version;
} VersionProbe;

static void version_probe_free(VersionProbe *p) {
        if (!p)
                return;
        free(p->path);
        free(p->version);
        free(p);
}

DescribeState *describe_state_free(DescribeState *d) {
        if (!d)
                return NULL;
        for (size_t i = 0; i < N_BACKENDS; i++) {
                free(d->backends[i].path);
                free(d->backends[i].version);
        }
        for (size_t i = 0; i < d->n_waiting; i++)
                varlink_unref(d->waiting[i]);
        free(d->waiting);
        return mfree(d);
}

static const char *backend_binary(const Manager *m, size_t i) {
        return cocoon_config_backend_binary(&m->config, hypervisor_table[i]->type);
}

/* The configured binary as an executable regular file (the manager resolved it to an absolute path at start
 * when it was found), with its identity; false when there is none. */
static bool backend_binary_stat(const Manager *m, size_t i, BinaryIdentity *ret) {
        const char *path = backend_binary(m, i);
        struct stat st;

        if (!path || path[0] != '/' || stat(path, &st) < 0 || !S_ISREG(st.st_mode) || access(path, X_OK) < 0)
                return false;
        *ret = (BinaryIdentity) {
                .dev = st.st_dev, .ino = st.st_ino, .size = st.st_size, .mtime = st.st_mtim,
        };
        return true;
}

static bool binary_identity_equal(const BinaryIdentity *a, const BinaryIdentity *b) {
        return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
               a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

static json_object *backends_to_json(Manager *m) {
        json_object *a = json_object_new_array();
        for (size_t i = 0; a && i < N_BACKENDS; i++) {
                const BackendVersion *v = &m->describe->backends[i];
                BinaryIdentity id;
                /* Available means it answered --version: a file that is no hypervisor starts nothing. */
                bool available = backend_binary_stat(m, i, &id) && v->probed && v->version;
                json_object *b = json_object_new_object();
                if (!b || json_object_array_add(a, b) < 0) {
                        json_object_put(b);
                        return json_object_put(a), NULL;
                }
                if (json_add_string(b, "name", hypervisor_table[i]->type) < 0 ||
                    json_add_bool(b, "available", available) < 0 ||
                    json_add_string(b, "path", backend_binary(m, i)) < 0 ||
                    json_add_string(b, "version", available ? v->version : NULL) < 0)
                        return json_object_put(a), NULL;
        }
        return a;
}

static json_object *counts_by_state_to_json(Manager *m) {
        json_object *o = json_object_new_object();
        for (int s = 0; o && s < _VM_STATE_MAX; s++) {
                size_t n = vm_count_state(m, (VMState) s);
                if (n > 0 && json_add_int64(o, vm_state_to_string((VMState) s), (int64_t) n) < 0)
                        return json_object_put(o), NULL;
        }
        return o;
}

static int describe_reply(Manager *m, Varlink *link) {
        _cleanup_(json_object_putp) json_object *reply = json_object_new_object();
        if (!reply)
                return -ENOMEM;
        if (json_add_string(reply, "version", COCOON_VERSION) < 0 ||
            json_add_string(reply, "stateDirectory", m->state_dir) < 0 ||
            json_add_string(reply, "runtimeDirectory", m->run_dir) < 0 ||
            json_add_string(reply, "logDirectory", m->log_dir) < 0 ||
            json_add_object(reply, "backends", backends_to_json(m)) < 0 ||
            json_add_string(reply, "defaultBackend", manager_default_backend(m)) < 0 ||
            json_add_string(reply, "accelerator", accel_to_string(m->host_accel)) < 0 ||
            json_add_int64(reply, "vms", (int64_t) store_count(m->store)) < 0 ||
            json_add_object(reply, "vmsByState", counts_by_state_to_json(m)) < 0 ||
            json_add_int64(reply, "corruptRecords", (int64_t) store_corrupt_count(m->store)) < 0 ||
            json_add_int64(reply, "connections",
                           (int64_t) varlink_server_current_connections(m->varlink_server)) < 0 ||
            json_add_strv(reply, "configWarnings", m->config.warnings) < 0)
                return -ENOMEM;
        return varlink_reply(link, reply);
}

static int version_probe_work(void *userdata) {
        VersionProbe *p = userdata;
        return binary_version(p->path, &p->version);
}

static bool describe_probing(const DescribeState *d) {
        for (size_t i = 0; i < N_BACKENDS; i++)
                if (d->backends[i].probing)
                        return true;
        return false;
}

static void version_probe_done(int result, void *userdata) {
        VersionProbe *p = userdata;
        Manager *m = p->m;
        DescribeState *d = m->describe;
        BackendVersion *v = &d->backends[p->backend];

        v->probing = false;
        if (result != -ECANCELED) {
                /* A binary that prints no version is remembered as such: no new process per call. */
                free(v->path);
                free(v->version);
                v->path = TAKE_PTR(p->path);
                v->version = result >= 0 ? TAKE_PTR(p->version) : NULL;
                v->identity = p->identity;
                v->probed = true;
                if (result < 0)
                        log_debug_errno(result, "No version from %s --version: %m", v->path);
        }
        version_probe_free(p);
        if (describe_probing(d))
                return;

        Varlink **waiting = TAKE_PTR(d->waiting);
        size_t n = d->n_waiting;
        d->n_waiting = 0;
        for (size_t i = 0; i < n; i++) {
                int r = describe_reply(m, waiting[i]);
                if (r < 0)
                        (void) varlink_error_errno(waiting[i], -r);
                varlink_unref(waiting[i]);
        }
        free(waiting);
}

/* Starts a probe of backend i unless the cached version is of the file the configuration names now. */
static int describe_refresh_backend(Manager *m, size_t i) {
        BackendVersion *v = &m->describe->backends[i];
        BinaryIdentity id;

        if (v->probing)
                return 0;
        if (!backend_binary_stat(m, i, &id))
                return 0; /* not available: reported without a version */
        if (v->probed && streq_ptr(v->path, backend_binary(m, i)) &&
            binary_identity_equal(&v->identity, &id))
                return 0;

        VersionProbe *p = calloc(1, sizeof(VersionProbe));
        if (!p || !(p->path = strdup(backend_binary(m, i)))) {
                version_probe_free(p);
                return -ENOMEM;
        }
        p->m = m;
        p->backend = i;
        p->identity = id;
        int r = job_submit(m->jobs, version_probe_work, version_probe_done, p);
        if (r < 0) {
                version_probe_free(p);
                return r;
        }
        v->probing = true;
        return 0;
}

int vl_method_manager_describe(Varlink *link, json_object *parameters, VarlinkMethodFlags flags,
                               void *userdata) {
        Manager *m = userdata;
        int r;

        if (!m->describe &&
            !(m->describe = calloc(1, sizeof(DescribeState) + N_BACKENDS * sizeof(BackendVersion))))
                return -ENOMEM;
        for (size_t i = 0; i < N_BACKENDS; i++) {
                r = describe_refresh_backend(m, i);
                if (r < 0)
                        return r;
        }
        if (!describe_probing(m->describe))
                return describe_reply(m, link);

        /* Answered by version_probe_done() once every probe finished. */
        Varlink **w = reallocarray(m->describe->waiting, m->describe->n_waiting + 1, sizeof(Varlink *));
        if (!w)
                return -ENOMEM;
        m->describe->waiting = w;
        w[m->describe->n_waiting++] = varlink_ref(link);
        return 0;
}

/* The cached probe of backend i, when it is of the file the configuration names now. */
static const BackendVersion *backend_probed(const Manager *m, size_t i) {
        BinaryIdentity id;
        const BackendVersion *v = m->describe ? &m->describe->backends[i] : NULL;
        if (!v || !v->probed || !backend_binary_stat(m, i, &id) ||
            !streq_ptr(v->path, backend_binary(m, i)) || !binary_identity_equal(&v->identity, &id))
                return NULL;
        return v;
}

bool manager_backend_available(Manager *m, const char *type, char **ret_reason) {
        BinaryIdentity id;
        char *reason = NULL;
        size_t i;

        for (i = 0; type && i < N_BACKENDS; i++)
                if (streq(hypervisor_table[i]->type, type))
                        break;
        if (!type || i >= N_BACKENDS) {
                if (asprintf(&reason, "this build has no backend '%s'", type ?: "(none)") < 0)
                        reason = NULL;
        } else if (!backend_binary_stat(m, i, &id)) {
                if (asprintf(&reason, "backend '%s' is not available on this host: its binary %s was not "
                             "found (Binary= in cocoon.conf)", type, backend_binary(m, i) ?: "(none)") < 0)
                        reason = NULL;
        } else {
                /* Not probed yet: the binary is there, the start will tell. Probed without a version: no. */
                const BackendVersion *v = backend_probed(m, i);
                if (!v || v->version)
                        return true;
                if (asprintf(&reason, "backend '%s' is not available on this host: %s does not answer "
                             "--version", type, backend_binary(m, i)) < 0)
                        reason = NULL;
        }
        if (ret_reason)
                *ret_reason = reason;
        else
                free(reason);
        return false;
}

const char *manager_default_backend(Manager *m) {
        if (!streq(m->config.default_backend, COCOON_BACKEND_AUTO))
                return m->config.default_backend;
        return manager_backend_available(m, "cloud-hypervisor", NULL) ? "cloud-hypervisor" : "qemu";
}
