/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reading a unit's state from PID 1 (property table, GetAll) and explaining how its main process ended. */
#include <assert.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "bus-unit-internal.h"
#include "log.h"

typedef enum PropertyKind {
        PROPERTY_STRING,
        PROPERTY_U32,
        PROPERTY_I32,
        PROPERTY_U64,
        PROPERTY_ID128_HEX,
} PropertyKind;

/* Everything we read from the Unit and Service interfaces; the names do not overlap. */
static const struct {
        const char *name;
        PropertyKind kind;
        size_t offset;
} runtime_properties[] = {
        { "LoadState",            PROPERTY_STRING,    offsetof(UnitRuntime, load_state) },
        { "ActiveState",          PROPERTY_STRING,    offsetof(UnitRuntime, active_state) },
        { "SubState",             PROPERTY_STRING,    offsetof(UnitRuntime, sub_state) },
        { "Result",               PROPERTY_STRING,    offsetof(UnitRuntime, result) },
        { "MainPID",              PROPERTY_U32,       offsetof(UnitRuntime, main_pid) },
        { "ExecMainCode",         PROPERTY_I32,       offsetof(UnitRuntime, exec_main_code) },
        { "ExecMainStatus",       PROPERTY_I32,       offsetof(UnitRuntime, exec_main_status) },
        { "MemoryCurrent",        PROPERTY_U64,       offsetof(UnitRuntime, memory_current) },
        { "CPUUsageNSec",         PROPERTY_U64,       offsetof(UnitRuntime, cpu_usage_nsec) },
        { "TasksCurrent",         PROPERTY_U64,       offsetof(UnitRuntime, tasks_current) },
        { "ActiveEnterTimestamp", PROPERTY_U64,       offsetof(UnitRuntime, active_enter_timestamp) },
        { "InvocationID",         PROPERTY_ID128_HEX, offsetof(UnitRuntime, invocation_id) },
};

static const char *const property_signature[] = {
        [PROPERTY_STRING] = "s",
        [PROPERTY_U32] = "u",
        [PROPERTY_I32] = "i",
        [PROPERTY_U64] = "t",
        [PROPERTY_ID128_HEX] = "ay",
};

void unit_runtime_init(UnitRuntime *rt) {
        *rt = (UnitRuntime) {
                .memory_current = UINT64_MAX,
                .cpu_usage_nsec = UINT64_MAX,
                .tasks_current = UINT64_MAX,
        };
}

void unit_runtime_done(UnitRuntime *rt) {
        if (!rt)
                return;
        free(rt->load_state);
        free(rt->active_state);
        free(rt->sub_state);
        free(rt->result);
        unit_runtime_init(rt);
}

bool unit_runtime_property_known(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(runtime_properties); i++)
                if (streq(runtime_properties[i].name, name))
                        return true;
        return false;
}

static int read_id128_hex(sd_bus_message *m, char ret[static 33]) {
        const void *p;
        size_t n;
        int r;

        r = sd_bus_message_read_array(m, 'y', &p, &n);
        if (r < 0)
                return r;
        if (n == 0) { /* never started */
                ret[0] = '\0';
                return 0;
        }
        if (n != 16)
                return -EBADMSG;
        for (size_t i = 0; i < 16; i++)
                sprintf(ret + 2 * i, "%02x", ((const uint8_t *) p)[i]);
        return 0;
}

/* Reads the variant's value (already entered) into the field at dst. */
static int read_property_value(sd_bus_message *m, PropertyKind kind, void *dst) {
        const char *s;
        char *copy;
        int r;

        switch (kind) {
        case PROPERTY_STRING:
                r = sd_bus_message_read_basic(m, 's', &s);
                if (r < 0)
                        return r;
                copy = strdup(s);
                if (!copy)
                        return -ENOMEM;
                free(*(char **) dst);
                *(char **) dst = copy;
                return 0;
        case PROPERTY_U32:
                return sd_bus_message_read_basic(m, 'u', dst);
        case PROPERTY_I32:
                return sd_bus_message_read_basic(m, 'i', dst);
        case PROPERTY_U64:
                return sd_bus_message_read_basic(m, 't', dst);
        case PROPERTY_ID128_HEX:
                return read_id128_hex(m, dst);
        }
        return -EINVAL;
}

static int read_one_property(sd_bus_message *m, UnitRuntime *rt) {
        const char *name;
        int r;

        r = sd_bus_message_read_basic(m, 's', &name);
        if (r < 0)
                return r;

        for (size_t i = 0; i < ELEMENTSOF(runtime_properties); i++) {
                if (!streq(runtime_properties[i].name, name))
                        continue;

                const char *sig = property_signature[runtime_properties[i].kind];
                r = sd_bus_message_enter_container(m, 'v', sig);
                if (r == -ENXIO) /* same name, different type: not the property we know */
                        return log_debug_errno(EBADMSG, "Property %s is not of type %s.", name, sig);
                if (r < 0)
                        return r;
                r = read_property_value(m, runtime_properties[i].kind,
                                        (uint8_t *) rt + runtime_properties[i].offset);
                if (r < 0)
                        return r;
                return sd_bus_message_exit_container(m);
        }

        return sd_bus_message_skip(m, "v");
}

int unit_runtime_read_properties(sd_bus_message *m, UnitRuntime *rt) {
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;

        for (;;) {
                r = sd_bus_message_enter_container(m, 'e', "sv");
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                r = read_one_property(m, rt);
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }

        return sd_bus_message_exit_container(m);
}

int bus_unit_error_to_errno(const sd_bus_error *error, int r) {
        if (sd_bus_error_has_name(error, SYSTEMD_ERROR_NO_SUCH_UNIT))
                return -ENOENT;
        if (sd_bus_error_has_name(error, SYSTEMD_ERROR_UNIT_EXISTS))
                return -EEXIST;
        return r;
}

int bus_call_manager(sd_bus *bus, const char *method, sd_bus_error *error, sd_bus_message **reply,
                     const char *types, ...) {
        va_list ap;
        int r;

        va_start(ap, types);
        r = sd_bus_call_methodv(bus, SYSTEMD_BUS_NAME, SYSTEMD_BUS_PATH, SYSTEMD_MANAGER_IFACE, method,
                                error, reply, types, ap);
        va_end(ap);
        return r;
}

int bus_get_unit_path(sd_bus *bus, const char *unit_name, char **ret_path) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *path;
        char *copy;
        int r;

        r = bus_call_manager(bus, "GetUnit", &error, &reply, "s", unit_name);
        if (r < 0)
                return bus_unit_error_to_errno(&error, r);
        r = sd_bus_message_read(reply, "o", &path);
        if (r < 0)
                return r;
        copy = strdup(path);
        if (!copy)
                return -ENOMEM;
        *ret_path = copy;
        return 0;
}

static int get_all(sd_bus *bus, const char *path, const char *iface, UnitRuntime *rt) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_call_method(bus, SYSTEMD_BUS_NAME, path, DBUS_PROPERTIES_IFACE, "GetAll", &error, &reply,
                               "s", iface);
        if (r < 0)
                return log_debug_errno(r, "GetAll(%s) on %s failed: %s", iface, path,
                                       error.message ?: "unknown error");
        return unit_runtime_read_properties(reply, rt);
}

int unit_get_runtime(sd_bus *bus, const char *unit_name, UnitRuntime *ret) {
        _cleanup_free_ char *path = NULL;
        UnitRuntime rt;
        int r;

        assert(bus);
        assert(unit_name);
        assert(ret);

        r = bus_get_unit_path(bus, unit_name, &path);
        if (r < 0)
                return r;

        unit_runtime_init(&rt);
        r = get_all(bus, path, SYSTEMD_UNIT_IFACE, &rt);
        if (r >= 0 && streq_ptr(rt.load_state, "not-found"))
                r = -ENOENT; /* collected between GetUnit and GetAll, and loaded again as a stub */
        if (r >= 0)
                r = get_all(bus, path, SYSTEMD_SERVICE_IFACE, &rt);
        if (r < 0) {
                unit_runtime_done(&rt);
                return r;
        }

        *ret = rt;
        return 0;
}

/* systemd's own exit codes (200+) for a service that failed before or while executing its binary. */
static const struct {
        int status;
        const char *meaning;
} systemd_exit_statuses[] = {
        { 200, "could not change to the working directory" },
        { 203, "could not execute the binary" },
        { 204, "out of memory" },
        { 209, "could not set up standard output" },
        { 217, "could not switch user" },
        { 219, "could not set up the cgroup" },
        { 222, "could not set up standard error" },
        { 225, "could not join the network namespace" },
        { 226, "could not set up namespaces" },
};

/* systemd's verdict, when it says more than the raw status (a SIGKILL after a stop timeout, say). */
static const struct {
        const char *result;
        const char *reason;
} unit_verdicts[] = {
        { "timeout", "timed out" },
        { "resources", "systemd could not set up the unit" },
        { "start-limit-hit", "started too often" },
        { "oom-kill", "killed by the OOM killer" },
        { "watchdog", "watchdog timeout" },
        { "protocol", "protocol violation" },
};

static int format_exit(int code, int status, char **ret) {
        const char *sig;

        if (code == CLD_EXITED) {
                if (status == 0)
                        return asprintf(ret, "powered off") < 0 ? -ENOMEM : 0;
                for (size_t i = 0; i < ELEMENTSOF(systemd_exit_statuses); i++)
                        if (systemd_exit_statuses[i].status == status)
                                return asprintf(ret, "exited with status %i (%s)", status,
                                                systemd_exit_statuses[i].meaning) < 0 ? -ENOMEM : 0;
                return asprintf(ret, "exited with status %i", status) < 0 ? -ENOMEM : 0;
        }

        sig = sigabbrev_np(status);
        if (sig)
                return asprintf(ret, "killed by signal %s%s", sig,
                                code == CLD_DUMPED ? " (core dumped)" : "") < 0 ? -ENOMEM : 0;
        return asprintf(ret, "killed by signal %i%s", status,
                        code == CLD_DUMPED ? " (core dumped)" : "") < 0 ? -ENOMEM : 0;
}

int unit_exit_reason(const char *result, int exec_main_code, int exec_main_status, char **ret_reason,
                     bool *ret_clean) {
        bool clean = streq_ptr(result, "success") && exec_main_code == CLD_EXITED && exec_main_status == 0;
        _cleanup_free_ char *exit_text = NULL;
        const char *verdict = NULL;
        char *reason;
        int r;

        assert(ret_reason);

        for (size_t i = 0; i < ELEMENTSOF(unit_verdicts); i++)
                if (streq_ptr(result, unit_verdicts[i].result))
                        verdict = unit_verdicts[i].reason;

        if (exec_main_code == CLD_EXITED || exec_main_code == CLD_KILLED || exec_main_code == CLD_DUMPED) {
                r = format_exit(exec_main_code, exec_main_status, &exit_text);
                if (r < 0)
                        return r;
        }

        if (verdict && exit_text)
                r = asprintf(&reason, "%s (%s)", verdict, exit_text);
        else if (verdict || exit_text)
                r = asprintf(&reason, "%s", verdict ?: exit_text);
        else /* no exit status: the main process never ran */
                r = asprintf(&reason, "ended without running (%s)", result ?: "unknown result");
        if (r < 0)
                return -ENOMEM;

        *ret_reason = reason;
        if (ret_clean)
                *ret_clean = clean;
        return 0;
}
