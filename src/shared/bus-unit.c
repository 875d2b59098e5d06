/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Blocking transient-unit calls to PID 1 (start, stop, kill, reset, list) and VM unit names. */
#include <assert.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bus-unit-internal.h"
#include "id.h"
#include "log.h"
#include "time-util.h"

/* A method call is answered at once; a job may take longer (a stop waits for the kill grace). */
#define BUS_CALL_TIMEOUT_USEC (25 * USEC_PER_SEC)
#define START_JOB_TIMEOUT_USEC (90 * USEC_PER_SEC)
#define STOP_JOB_EXTRA_USEC (30 * USEC_PER_SEC)
/* How long a reset unit may take to be garbage-collected by PID 1 before we retry anyway. */
#define STALE_GC_WAIT_USEC (2 * USEC_PER_SEC)
#define STALE_GC_POLL_USEC (20 * USEC_PER_MSEC)
/* How long a failed start waits for the unit's final state (sent right after the job's end). */
#define FAILURE_DETAILS_WAIT_USEC (5 * USEC_PER_SEC)

typedef struct JobWait {
        char *job_path; /* NULL until the reply to the job-creating call arrived */
        char *result;   /* set by the JobRemoved handler */
        int error;
} JobWait;

static void job_wait_done(JobWait *w) {
        free(w->job_path);
        free(w->result);
}

static int job_removed_handler(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        JobWait *w = userdata;
        const char *path, *unit, *result;
        uint32_t id;

        /* sd_bus_call() queues signals without dispatching them, so job_path is known by now. */
        if (sd_bus_message_read(m, "uoss", &id, &path, &unit, &result) < 0)
                return 0;
        if (!w->job_path || w->result || !streq(path, w->job_path))
                return 0;
        w->result = strdup(result);
        if (!w->result)
                w->error = -ENOMEM;
        return 0;
}

static int job_wait_add_match(sd_bus *bus, JobWait *w, sd_bus_slot **ret_slot) {
        /* Installed before the call that creates the job, or its JobRemoved could be missed. Asynchronously,
         * as systemctl does: the bus daemon handles our AddMatch before it reads our next message, the call,
         * so the match is in place before PID 1 even sees the call, without a round trip of its own. A
         * match the daemon refuses closes the connection (sd-bus's default), failing the wait. */
        return sd_bus_match_signal_async(bus, ret_slot, SYSTEMD_BUS_NAME, SYSTEMD_BUS_PATH,
                                         SYSTEMD_MANAGER_IFACE, "JobRemoved", job_removed_handler, NULL, w);
}

static int job_wait_set_path(JobWait *w, sd_bus_message *reply) {
        const char *path;
        int r;

        r = sd_bus_message_read(reply, "o", &path);
        if (r < 0)
                return r;
        w->job_path = strdup(path);
        return w->job_path ? 0 : -ENOMEM;
}

/* Dispatches bus messages until done(userdata) holds; -ETIMEDOUT after timeout_usec (UINT64_MAX: never). */
static int bus_wait_until(sd_bus *bus, bool (*done)(void *userdata), void *userdata, uint64_t timeout_usec) {
        uint64_t deadline = UINT64_MAX;
        int r;

        if (timeout_usec != UINT64_MAX)
                deadline = now_usec(CLOCK_MONOTONIC) + timeout_usec;

        while (!done(userdata)) {
                r = sd_bus_process(bus, NULL);
                if (r < 0)
                        return r;
                if (r > 0)
                        continue;

                uint64_t n = now_usec(CLOCK_MONOTONIC);
                if (n >= deadline)
                        return -ETIMEDOUT;
                r = sd_bus_wait(bus, deadline == UINT64_MAX ? UINT64_MAX : deadline - n);
                if (r < 0)
                        return r;
        }
        return 0;
}

static bool job_wait_finished(void *userdata) {
        JobWait *w = userdata;
        return w->result || w->error < 0;
}

static int job_wait_run(sd_bus *bus, JobWait *w, uint64_t timeout_usec) {
        int r;

        r = bus_wait_until(bus, job_wait_finished, w, timeout_usec);
        return r < 0 ? r : w->error;
}

static const struct {
        const char *result;
        int error;
} job_results[] = {
        { "done", 0 },
        { "skipped", 0 },
        { "canceled", -ECANCELED },
        { "timeout", -ETIMEDOUT },
        { "failed", -EIO },
        { "dependency", -ENOLINK },
        { "invalid", -EINVAL },
        { "assert", -EIO },
        { "unsupported", -EOPNOTSUPP },
        { "collected", -ECANCELED },
        { "once", -EALREADY },
};

static int job_result_to_errno(const char *result) {
        for (size_t i = 0; i < ELEMENTSOF(job_results); i++)
                if (streq(job_results[i].result, result))
                        return job_results[i].error;
        return -EIO;
}

static bool string_has_suffix(const char *s, const char *suffix) {
        size_t a = strlen(s), b = strlen(suffix);
        return a >= b && streq(s + a - b, suffix);
}

/* What PID 1 says about the unit being started. With CollectMode=inactive-or-failed a unit that failed to
 * start is gone by the time we could ask, so its Result and exit status are taken from the signals. */
typedef struct StartWatch {
        const char *unit;
        UnitRuntime rt;
        bool failed;
        bool removed;
        bool subscribed; /* we called Subscribe() and must undo it */
        sd_bus_slot *match_changed;
        sd_bus_slot *match_removed;
} StartWatch;

static int start_watch_changed_handler(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        StartWatch *sw = userdata;
        const char *iface;

        if (sd_bus_message_read_basic(m, 's', &iface) < 0)
                return 0;
        if (!streq(iface, SYSTEMD_UNIT_IFACE) && !streq(iface, SYSTEMD_SERVICE_IFACE))
                return 0;
        if (unit_runtime_read_properties(m, &sw->rt) < 0)
                return 0;
        /* The Service interface's change comes first, so Result and ExecMain* are current by now. */
        if (streq(iface, SYSTEMD_UNIT_IFACE) && streq_ptr(sw->rt.active_state, "failed"))
                sw->failed = true;
        return 0;
}

static int start_watch_removed_handler(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        StartWatch *sw = userdata;
        const char *id, *path;

        if (sd_bus_message_read(m, "so", &id, &path) >= 0 && streq(id, sw->unit))
                sw->removed = true;
        return 0;
}

static bool start_watch_finished(void *userdata) {
        StartWatch *sw = userdata;
        return sw->failed || sw->removed;
}

/* The answer to an asynchronous AddMatch of the start watch: a refused one only costs the details of a
 * failure, so it must not close the connection (sd-bus's default without a callback). */
static int start_watch_match_installed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        return 0;
}

/* Best effort: failing to set this up only costs the details of a failure. */
static void start_watch_begin(sd_bus *bus, StartWatch *sw) {
        _cleanup_free_ char *path = NULL;
        int r;

        unit_runtime_init(&sw->rt);
        if (sd_bus_path_encode(SYSTEMD_UNIT_PATH_PREFIX, sw->unit, &path) < 0)
                return;
        /* All three asynchronous, like the JobRemoved match (job_wait_add_match()): messages on one
         * connection are handled in order, by the bus daemon and by PID 1, so they are in effect before the
         * start call, and no round trip is spent on them. */
        r = sd_bus_match_signal_async(bus, &sw->match_changed, SYSTEMD_BUS_NAME, path, DBUS_PROPERTIES_IFACE,
                                      "PropertiesChanged", start_watch_changed_handler,
                                      start_watch_match_installed, sw);
        if (r >= 0)
                r = sd_bus_match_signal_async(bus, &sw->match_removed, SYSTEMD_BUS_NAME, SYSTEMD_BUS_PATH,
                                              SYSTEMD_MANAGER_IFACE, "UnitRemoved", start_watch_removed_handler,
                                              start_watch_match_installed, sw);
        if (r < 0)
                return;

        /* PID 1 only sends unit signals once someone subscribed. No reply awaited: a refusal only costs the
         * details of a failure, and PID 1 counts subscriptions, so the Unsubscribe below undoes only ours. */
        r = sd_bus_call_method_async(bus, NULL, SYSTEMD_BUS_NAME, SYSTEMD_BUS_PATH, SYSTEMD_MANAGER_IFACE,
                                     "Subscribe", NULL, NULL, NULL);
        sw->subscribed = r >= 0;
}

static void start_watch_end(sd_bus *bus, StartWatch *sw) {
        /* Sent, not awaited (the caller's flush before close delivers it): the start is over for us. */
        if (sw->subscribed)
                (void) sd_bus_call_method_async(bus, NULL, SYSTEMD_BUS_NAME, SYSTEMD_BUS_PATH,
                                                SYSTEMD_MANAGER_IFACE, "Unsubscribe", NULL, NULL, NULL);
        sw->match_changed = sd_bus_slot_unref(sw->match_changed);
        sw->match_removed = sd_bus_slot_unref(sw->match_removed);
        unit_runtime_done(&sw->rt);
}

static char *describe_start_failure(sd_bus *bus, StartWatch *sw, const char *job_result) {
        _cleanup_free_ char *reason = NULL;
        UnitRuntime rt;
        char *s = NULL;

        /* A failed start is followed by the unit's "failed" state change: give it a moment to arrive. */
        if (streq(job_result, "failed"))
                (void) bus_wait_until(bus, start_watch_finished, sw, FAILURE_DETAILS_WAIT_USEC);

        if (sw->failed)
                (void) unit_exit_reason(sw->rt.result, sw->rt.exec_main_code, sw->rt.exec_main_status,
                                        &reason, NULL);
        else if (!sw->removed && unit_get_runtime(bus, sw->unit, &rt) >= 0) {
                if (streq_ptr(rt.active_state, "failed"))
                        (void) unit_exit_reason(rt.result, rt.exec_main_code, rt.exec_main_status, &reason,
                                                NULL);
                unit_runtime_done(&rt);
        }

        if (reason)
                (void) asprintf(&s, "Start job for %s %s: %s", sw->unit, job_result, reason);
        else
                (void) asprintf(&s, "Start job for %s %s", sw->unit, job_result);
        return s;
}

static int start_transient_call(sd_bus *bus, const char *name, const UnitSpec *spec, JobWait *w,
                                char **ret_message) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, SYSTEMD_BUS_NAME, SYSTEMD_BUS_PATH,
                                           SYSTEMD_MANAGER_IFACE, "StartTransientUnit");
        if (r >= 0)
                r = sd_bus_message_append(m, "ss", name, "fail");
        if (r >= 0)
                r = bus_append_unit_properties(m, spec);
        if (r >= 0)
                r = sd_bus_message_append(m, "a(sa(sv))", 0);
        if (r < 0)
                return r;

        r = sd_bus_call(bus, m, BUS_CALL_TIMEOUT_USEC, &error, &reply);
        if (r < 0) {
                if (ret_message)
                        *ret_message = strdup(error.message ?: "StartTransientUnit failed");
                return bus_unit_error_to_errno(&error, r);
        }
        return job_wait_set_path(w, reply);
}

static int start_transient_once(sd_bus *bus, const char *name, const UnitSpec *spec, char **ret_message) {
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
        _cleanup_(job_wait_done) JobWait w = {};
        StartWatch sw = { .unit = name };
        int r;

        r = job_wait_add_match(bus, &w, &slot);
        if (r < 0)
                return r;
        start_watch_begin(bus, &sw);

        r = start_transient_call(bus, name, spec, &w, ret_message);
        if (r >= 0) {
                r = job_wait_run(bus, &w, START_JOB_TIMEOUT_USEC);
                if (r < 0 && ret_message)
                        (void) asprintf(ret_message, "Waiting for the start job of %s failed: %s", name,
                                        strerror(-r));
        }
        if (r >= 0) {
                r = job_result_to_errno(w.result);
                if (r < 0 && ret_message)
                        *ret_message = describe_start_failure(bus, &sw, w.result);
        }

        start_watch_end(bus, &sw);
        return r;
}

/* A unit of this name exists. If it is a leftover (failed, or inactive but still loaded), reset it and wait
 * briefly for PID 1 to collect it: 0 means "try again", -EEXIST "it is really running". */
static int clear_stale_unit(sd_bus *bus, const char *name) {
        UnitRuntime rt;
        bool busy;
        int r;

        r = unit_get_runtime(bus, name, &rt);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        busy = !streq_ptr(rt.active_state, "failed") && !streq_ptr(rt.active_state, "inactive");
        unit_runtime_done(&rt);
        if (busy)
                return -EEXIST;

        r = unit_reset_failed(bus, name);
        if (r < 0 && r != -ENOENT)
                return r;

        for (uint64_t waited = 0; waited < STALE_GC_WAIT_USEC; waited += STALE_GC_POLL_USEC) {
                r = unit_get_runtime(bus, name, &rt);
                if (r == -ENOENT)
                        return 0;
                if (r < 0)
                        return r;
                unit_runtime_done(&rt);
                (void) nanosleep(&(struct timespec) { .tv_nsec = STALE_GC_POLL_USEC * 1000 }, NULL);
        }
        return 0; /* still loaded (someone holds a reference): let the retry report it */
}

int unit_start_transient(sd_bus *bus, const char *unit_name, const UnitSpec *spec,
                         char **ret_error_message) {
        _cleanup_free_ char *message = NULL;
        int r;

        assert(bus);
        assert(unit_name);

        if (!unit_spec_is_valid(spec) || !string_has_suffix(unit_name, UNIT_VM_SUFFIX))
                return -EINVAL;

        r = start_transient_once(bus, unit_name, spec, &message);
        if (r == -EEXIST) {
                r = clear_stale_unit(bus, unit_name);
                if (r == -EEXIST) {
                        free(message);
                        message = NULL;
                        (void) asprintf(&message, "Unit %s is already running", unit_name);
                } else if (r >= 0) {
                        log_debug("Unit %s was left over, reset it and retrying.", unit_name);
                        message = mfree(message);
                        r = start_transient_once(bus, unit_name, spec, &message);
                }
        }

        if (r < 0 && ret_error_message)
                *ret_error_message = TAKE_PTR(message);
        return r < 0 ? r : 0;
}

/* The stop job may take SIGTERM's grace plus SIGKILL's (TimeoutStopUSec applies to both). */
static int stop_job_timeout(sd_bus *bus, const char *unit_name, uint64_t *ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *path = NULL;
        uint64_t t;
        int r;

        r = bus_get_unit_path(bus, unit_name, &path);
        if (r < 0)
                return r;
        r = sd_bus_get_property_trivial(bus, SYSTEMD_BUS_NAME, path, SYSTEMD_SERVICE_IFACE,
                                        "TimeoutStopUSec", &error, 't', &t);
        if (r < 0)
                return bus_unit_error_to_errno(&error, r);

        *ret = t == UINT64_MAX || t > UINT64_MAX / 4 ? UINT64_MAX : 2 * t + STOP_JOB_EXTRA_USEC;
        return 0;
}

int unit_stop(sd_bus *bus, const char *unit_name, bool wait) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
        _cleanup_(job_wait_done) JobWait w = {};
        uint64_t timeout = 0;
        int r;

        assert(bus);
        assert(unit_name);

        if (wait) {
                r = stop_job_timeout(bus, unit_name, &timeout);
                if (r < 0)
                        return r;
                r = job_wait_add_match(bus, &w, &slot);
                if (r < 0)
                        return r;
        }

        r = bus_call_manager(bus, "StopUnit", &error, &reply, "ss", unit_name, "replace");
        if (r < 0)
                return log_debug_errno(bus_unit_error_to_errno(&error, r), "StopUnit(%s) failed: %s",
                                       unit_name, error.message ?: "unknown error");
        if (!wait)
                return 0;

        r = job_wait_set_path(&w, reply);
        if (r < 0)
                return r;
        r = job_wait_run(bus, &w, timeout);
        if (r < 0)
                return r;
        return job_result_to_errno(w.result);
}

int unit_kill(sd_bus *bus, const char *unit_name, const char *whom, int signo) {
        assert(bus);
        assert(unit_name);
        assert(whom);

        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = bus_call_manager(bus, "KillUnit", &error, NULL, "ssi", unit_name, whom, signo);
        if (r < 0)
                return log_debug_errno(bus_unit_error_to_errno(&error, r), "KillUnit(%s) failed: %s",
                                       unit_name, error.message ?: "unknown error");
        return 0;
}

int unit_reset_failed(sd_bus *bus, const char *unit_name) {
        assert(bus);
        assert(unit_name);

        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = bus_call_manager(bus, "ResetFailedUnit", &error, NULL, "s", unit_name);
        if (r < 0)
                return log_debug_errno(bus_unit_error_to_errno(&error, r), "ResetFailedUnit(%s) failed: %s",
                                       unit_name, error.message ?: "unknown error");
        return 0;
}

void unit_list_free(UnitListEntry *entries, size_t n) {
        for (size_t i = 0; entries && i < n; i++) {
                free(entries[i].name);
                free(entries[i].load_state);
                free(entries[i].active_state);
                free(entries[i].sub_state);
        }
        free(entries);
}

static int unit_list_append(UnitListEntry **list, size_t *n, const char *name, const char *load,
                            const char *active, const char *sub) {
        UnitListEntry *l, e = {
                .name = strdup(name),
                .load_state = strdup(load),
                .active_state = strdup(active),
                .sub_state = strdup(sub),
        };

        l = e.name && e.load_state && e.active_state && e.sub_state ?
                reallocarray(*list, *n + 1, sizeof(UnitListEntry)) : NULL;
        if (!l) {
                free(e.name);
                free(e.load_state);
                free(e.active_state);
                free(e.sub_state);
                return -ENOMEM;
        }
        l[(*n)++] = e;
        *list = l;
        return 0;
}

int unit_list(sd_bus *bus, const char *pattern, UnitListEntry **ret, size_t *ret_n) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *name, *load, *active, *sub;
        UnitListEntry *list = NULL;
        size_t n = 0;
        int r;

        assert(bus);
        assert(pattern);
        assert(ret);
        assert(ret_n);

        r = bus_call_manager(bus, "ListUnitsByPatterns", &error, &reply, "asas", 0, 1, pattern);
        if (r < 0)
                return log_debug_errno(r, "ListUnitsByPatterns(%s) failed: %s", pattern,
                                       error.message ?: "unknown error");

        r = sd_bus_message_enter_container(reply, 'a', "(ssssssouso)");
        while (r >= 0) {
                r = sd_bus_message_read(reply, "(ssssssouso)", &name, NULL, &load, &active, &sub, NULL, NULL,
                                        NULL, NULL, NULL);
                if (r <= 0)
                        break;
                r = unit_list_append(&list, &n, name, load, active, sub);
        }
        if (r >= 0)
                r = sd_bus_message_exit_container(reply);
        if (r < 0) {
                unit_list_free(list, n);
                return r;
        }

        *ret = list;
        *ret_n = n;
        return 0;
}

int unit_name_for_vm(const char *vm_id, char **ret) {
        char *s;

        assert(ret);

        if (!id_is_valid(vm_id))
                return -EINVAL;
        if (asprintf(&s, UNIT_VM_PREFIX "%s" UNIT_VM_SUFFIX, vm_id) < 0)
                return -ENOMEM;
        *ret = s;
        return 0;
}

int unit_name_to_vm_id(const char *unit_name, char **ret) {
        size_t prefix = strlen(UNIT_VM_PREFIX), suffix = strlen(UNIT_VM_SUFFIX);
        _cleanup_free_ char *id = NULL;

        assert(ret);

        if (!unit_name || strncmp(unit_name, UNIT_VM_PREFIX, prefix) != 0 ||
            !string_has_suffix(unit_name, UNIT_VM_SUFFIX) || strlen(unit_name) < prefix + suffix)
                return -EINVAL;

        id = strndup(unit_name + prefix, strlen(unit_name) - prefix - suffix);
        if (!id)
                return -ENOMEM;
        if (!id_is_valid(id) && string_has_suffix(id, UNIT_VM_ALTERNATE_SUFFIX))
                id[strlen(id) - strlen(UNIT_VM_ALTERNATE_SUFFIX)] = 0;
        if (!id_is_valid(id))
                return -EINVAL;
        *ret = TAKE_PTR(id);
        return 0;
}

bool unit_name_is_vm_alternate(const char *unit_name) {
        _cleanup_free_ char *id = NULL;
        size_t n = strlen(UNIT_VM_PREFIX);

        if (unit_name_to_vm_id(unit_name, &id) < 0)
                return false;
        return strlen(unit_name) == n + strlen(id) + strlen(UNIT_VM_ALTERNATE_SUFFIX UNIT_VM_SUFFIX);
}

int unit_name_vm_other(const char *unit_name, char **ret) {
        _cleanup_free_ char *id = NULL;
        char *s;

        assert(ret);

        int r = unit_name_to_vm_id(unit_name, &id);
        if (r < 0)
                return r;
        if (asprintf(&s, UNIT_VM_PREFIX "%s%s" UNIT_VM_SUFFIX, id,
                     unit_name_is_vm_alternate(unit_name) ? "" : UNIT_VM_ALTERNATE_SUFFIX) < 0)
                return -ENOMEM;
        *ret = s;
        return 0;
}
