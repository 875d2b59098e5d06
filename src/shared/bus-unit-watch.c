/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Watching unit state changes from PID 1 without blocking an sd-event loop. */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "bus-unit-internal.h"
#include "log.h"

typedef enum WatchIface {
        WATCH_IFACE_UNIT,
        WATCH_IFACE_SERVICE,
        _WATCH_IFACE_MAX,
} WatchIface;

static const char *const watch_iface_name[_WATCH_IFACE_MAX] = {
        [WATCH_IFACE_UNIT] = SYSTEMD_UNIT_IFACE,
        [WATCH_IFACE_SERVICE] = SYSTEMD_SERVICE_IFACE,
};

/* The two matches and Subscribe() must all have answered before no change can be missed. */
#define WATCH_SETUP_STEPS 3

typedef struct WatchedUnit WatchedUnit;

struct WatchedUnit {
        UnitWatch *watch;
        WatchedUnit *next;
        char *name;
        char *path;
        UnitRuntime rt;
        sd_bus_slot *refetch[_WATCH_IFACE_MAX]; /* pending GetAll, owned */
};

struct UnitWatch {
        sd_bus *bus;
        char *unit_prefix;
        char *path_prefix; /* the object path every watched unit's path starts with */
        UnitWatchCallback callback;
        void *userdata;
        sd_bus_slot *match_changed;
        sd_bus_slot *match_removed;
        sd_bus_slot *subscribe;
        unsigned setup_done;
        int setup_error;
        WatchedUnit *units; /* few (one per VM): a list is enough */
};

static WatchedUnit *watched_unit_free(WatchedUnit *u) {
        if (!u)
                return NULL;
        for (size_t i = 0; i < _WATCH_IFACE_MAX; i++)
                sd_bus_slot_unref(u->refetch[i]);
        unit_runtime_done(&u->rt);
        free(u->name);
        free(u->path);
        free(u);
        return NULL;
}

static WatchedUnit *watch_find(UnitWatch *w, const char *path) {
        for (WatchedUnit *u = w->units; u; u = u->next)
                if (streq(u->path, path))
                        return u;
        return NULL;
}

static void watch_remove(UnitWatch *w, WatchedUnit *u) {
        for (WatchedUnit **p = &w->units; *p; p = &(*p)->next)
                if (*p == u) {
                        *p = u->next;
                        break;
                }
        watched_unit_free(u);
}

/* Returns the unit name for a path under path_prefix, or NULL if it is not one of ours. */
static char *watch_unit_name(UnitWatch *w, const char *path) {
        char *name = NULL;

        if (!path || strncmp(path, w->path_prefix, strlen(w->path_prefix)) != 0)
                return NULL;
        if (sd_bus_path_decode(path, SYSTEMD_UNIT_PATH_PREFIX, &name) <= 0)
                return NULL;
        /* The escaped prefix matched, so this holds; checked again on the decoded name to be sure. */
        if (strncmp(name, w->unit_prefix, strlen(w->unit_prefix)) != 0)
                return mfree(name);
        return name;
}

/* Takes ownership of name, also on failure. */
static int watch_add(UnitWatch *w, const char *path, char *name, WatchedUnit **ret) {
        WatchedUnit *u;

        u = calloc(1, sizeof(WatchedUnit));
        if (!u) {
                free(name);
                return -ENOMEM;
        }
        u->name = name;
        u->path = strdup(path);
        if (!u->path) {
                watched_unit_free(u);
                return -ENOMEM;
        }
        u->watch = w;
        unit_runtime_init(&u->rt);
        u->next = w->units;
        w->units = u;
        *ret = u;
        return 0;
}

static void watch_deliver(UnitWatch *w, const char *name, const UnitRuntime *rt, bool removed) {
        UnitStateChange c = {
                .unit = name,
                .active_state = rt->active_state ?: "",
                .sub_state = rt->sub_state ?: "",
                .result = rt->result ?: "",
                .invocation_id = rt->invocation_id,
                .main_pid = rt->main_pid,
                .exec_main_code = rt->exec_main_code,
                .exec_main_status = rt->exec_main_status,
                .removed = removed,
        };

        w->callback(&c, w->userdata);
}

static int refetch_handler(sd_bus_message *m, WatchedUnit *u, WatchIface iface) {
        int r;

        u->refetch[iface] = sd_bus_slot_unref(u->refetch[iface]);

        if (sd_bus_message_is_method_error(m, NULL)) {
                log_debug("Refetching %s properties of %s failed: %s", watch_iface_name[iface], u->name,
                          sd_bus_message_get_error(m)->message ?: "unknown error");
                return 0;
        }
        r = unit_runtime_read_properties(m, &u->rt);
        if (r < 0) {
                log_debug_errno(r, "Bad %s properties for %s: %m", watch_iface_name[iface], u->name);
                return 0;
        }
        watch_deliver(u->watch, u->name, &u->rt, false);
        return 0;
}

static int refetch_unit_handler(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        return refetch_handler(m, userdata, WATCH_IFACE_UNIT);
}

static int refetch_service_handler(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        return refetch_handler(m, userdata, WATCH_IFACE_SERVICE);
}

static int watch_refetch(WatchedUnit *u, WatchIface iface) {
        static const sd_bus_message_handler_t handlers[_WATCH_IFACE_MAX] = {
                [WATCH_IFACE_UNIT] = refetch_unit_handler,
                [WATCH_IFACE_SERVICE] = refetch_service_handler,
        };

        /* A GetAll in flight may have been answered before this invalidation: replace it. */
        u->refetch[iface] = sd_bus_slot_unref(u->refetch[iface]);
        return sd_bus_call_method_async(u->watch->bus, &u->refetch[iface], SYSTEMD_BUS_NAME, u->path,
                                        DBUS_PROPERTIES_IFACE, "GetAll", handlers[iface], u, "s",
                                        watch_iface_name[iface]);
}

/* Reads the "as" of invalidated property names; true if any of them is one we keep. */
static int read_invalidated(sd_bus_message *m, bool *ret_relevant) {
        bool relevant = false;
        const char *name;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "s");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read_basic(m, 's', &name)) > 0)
                if (unit_runtime_property_known(name))
                        relevant = true;
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;
        *ret_relevant = relevant;
        return 0;
}

static int properties_changed_handler(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        UnitWatch *w = userdata;
        const char *path = sd_bus_message_get_path(m), *iface_name;
        _cleanup_free_ char *name = NULL;
        WatchIface iface;
        WatchedUnit *u;
        bool refetch;
        int r;

        name = watch_unit_name(w, path);
        if (!name)
                return 0;

        r = sd_bus_message_read_basic(m, 's', &iface_name);
        if (r < 0)
                return 0;
        if (streq(iface_name, SYSTEMD_UNIT_IFACE))
                iface = WATCH_IFACE_UNIT;
        else if (streq(iface_name, SYSTEMD_SERVICE_IFACE))
                iface = WATCH_IFACE_SERVICE;
        else
                return 0;

        u = watch_find(w, path);
        if (!u) {
                r = watch_add(w, path, TAKE_PTR(name), &u);
                if (r < 0)
                        return 0;
        }

        r = unit_runtime_read_properties(m, &u->rt);
        if (r >= 0)
                r = read_invalidated(m, &refetch);
        if (r < 0) {
                log_debug_errno(r, "Bad PropertiesChanged for %s: %m", u->name);
                return 0;
        }
        if (refetch) {
                r = watch_refetch(u, iface);
                if (r < 0)
                        log_debug_errno(r, "Could not refetch properties of %s: %m", u->name);
        }

        /* PID 1 sends the Service interface's change first and the Unit one last, so after the latter the
         * state (ActiveState) and the exit details (Result, ExecMain*) belong together. */
        if (iface == WATCH_IFACE_UNIT)
                watch_deliver(w, u->name, &u->rt, false);
        return 0;
}

static int unit_removed_handler(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        UnitWatch *w = userdata;
        _cleanup_free_ char *name = NULL;
        const char *id, *path;
        WatchedUnit *u;
        UnitRuntime empty;

        if (sd_bus_message_read(m, "so", &id, &path) < 0)
                return 0;
        name = watch_unit_name(w, path);
        if (!name)
                return 0;

        u = watch_find(w, path);
        if (u) {
                watch_deliver(w, u->name, &u->rt, true);
                watch_remove(w, u);
        } else {
                unit_runtime_init(&empty);
                watch_deliver(w, name, &empty, true);
        }
        return 0;
}

static int setup_step_handler(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        UnitWatch *w = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);

        /* A second Subscribe() on the same connection is refused, but we are subscribed all the same. */
        if (e && !sd_bus_error_has_name(e, SYSTEMD_ERROR_ALREADY_SUBSCRIBED)) {
                w->setup_error = log_debug_errno(sd_bus_error_get_errno(e) ?: EIO,
                                                 "Unit watch setup failed: %s", e->message ?: e->name);
                return 0;
        }
        w->setup_done++;
        return 0;
}

static int watch_setup(UnitWatch *w) {
        _cleanup_free_ char *match = NULL;
        int r;

        if (asprintf(&match,
                     "type='signal',sender='" SYSTEMD_BUS_NAME "',interface='" DBUS_PROPERTIES_IFACE "',"
                     "member='PropertiesChanged',path_namespace='" SYSTEMD_UNIT_PATH_PREFIX "'") < 0)
                return -ENOMEM;

        /* The bus daemon handles one connection's messages in order: both matches are in place before PID 1
         * sees Subscribe() and starts sending. */
        r = sd_bus_add_match_async(w->bus, &w->match_changed, match, properties_changed_handler,
                                   setup_step_handler, w);
        if (r < 0)
                return r;
        r = sd_bus_match_signal_async(w->bus, &w->match_removed, SYSTEMD_BUS_NAME, SYSTEMD_BUS_PATH,
                                      SYSTEMD_MANAGER_IFACE, "UnitRemoved", unit_removed_handler,
                                      setup_step_handler, w);
        if (r < 0)
                return r;
        return sd_bus_call_method_async(w->bus, &w->subscribe, SYSTEMD_BUS_NAME, SYSTEMD_BUS_PATH,
                                        SYSTEMD_MANAGER_IFACE, "Subscribe", setup_step_handler, w, NULL);
}

int unit_watch_new(sd_bus *bus, const char *unit_prefix, UnitWatchCallback cb, void *userdata,
                   UnitWatch **ret) {
        _cleanup_(unit_watch_freep) UnitWatch *w = NULL;
        int r;

        assert(bus);
        assert(cb);
        assert(ret);

        if (isempty(unit_prefix))
                return -EINVAL;

        w = calloc(1, sizeof(UnitWatch));
        if (!w)
                return -ENOMEM;
        w->bus = sd_bus_ref(bus);
        w->callback = cb;
        w->userdata = userdata;
        w->unit_prefix = strdup(unit_prefix);
        if (!w->unit_prefix)
                return -ENOMEM;

        /* Escaping is per byte, so the escaped prefix is a prefix of every escaped name. */
        r = sd_bus_path_encode(SYSTEMD_UNIT_PATH_PREFIX, unit_prefix, &w->path_prefix);
        if (r < 0)
                return r;

        r = watch_setup(w);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(w);
        return 0;
}

int unit_watch_is_ready(UnitWatch *w) {
        assert(w);

        if (w->setup_error < 0)
                return w->setup_error;
        return w->setup_done >= WATCH_SETUP_STEPS;
}

UnitWatch *unit_watch_free(UnitWatch *w) {
        if (!w)
                return NULL;

        while (w->units) {
                WatchedUnit *u = w->units;
                w->units = u->next;
                watched_unit_free(u);
        }
        sd_bus_slot_unref(w->match_changed);
        sd_bus_slot_unref(w->match_removed);
        sd_bus_slot_unref(w->subscribe);
        sd_bus_unref(w->bus);
        free(w->unit_prefix);
        free(w->path_prefix);
        free(w);
        return NULL;
}
