/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for the Varlink server and client over a real unix socket: dispatch, validation, errors, oneway,
 * more, upgrade, deferred replies, connection caps, introspection, socket activation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "json-util.h"
#include "varlink-test-util.h"
#include "varlink.h"

/* ---- the interface under test ---- */

static const char *const color_values[] = { "red", "green", "blue", NULL };
static const char *const mode_values[] = { "fast", "safe", NULL };

static const VarlinkSymbol type_color = {
        .kind = VARLINK_SYMBOL_ENUM_TYPE,
        .name = "Color",
        .enum_values = color_values,
};

static const VarlinkField item_fields[] = {
        { .name = "id", .type = VARLINK_INT },
        { .name = "label", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE },
        { .name = "tags", .type = VARLINK_STRING, .flags = VARLINK_ARRAY },
        {},
};

static const VarlinkSymbol type_item = {
        .kind = VARLINK_SYMBOL_STRUCT_TYPE,
        .name = "Item",
        .input = item_fields,
};

static const VarlinkField config_fields[] = {
        { .name = "size", .type = VARLINK_INT },
        { .name = "mode", .type = VARLINK_ENUM_INLINE, .enum_values = mode_values },
        { .name = "item", .type = VARLINK_NAMED, .named_type = "Item", .flags = VARLINK_NULLABLE },
        { .name = "extra", .type = VARLINK_INT, .flags = VARLINK_NULLABLE | VARLINK_MAP },
        {},
};

static const VarlinkSymbol type_config = {
        .kind = VARLINK_SYMBOL_STRUCT_TYPE,
        .name = "Config",
        .input = config_fields,
};

static const VarlinkField grid_row = { .type = VARLINK_INT, .flags = VARLINK_NULLABLE | VARLINK_ARRAY };

static const VarlinkField check_in[] = {
        { .name = "name", .type = VARLINK_STRING },
        { .name = "count", .type = VARLINK_INT },
        { .name = "ratio", .type = VARLINK_FLOAT, .flags = VARLINK_NULLABLE },
        { .name = "color", .type = VARLINK_NAMED, .named_type = "Color", .flags = VARLINK_NULLABLE },
        { .name = "config", .type = VARLINK_NAMED, .named_type = "Config" },
        { .name = "items",
          .type = VARLINK_NAMED,
          .named_type = "Item",
          .flags = VARLINK_NULLABLE | VARLINK_ARRAY },
        { .name = "grid",
          .type = VARLINK_NESTED,
          .flags = VARLINK_NULLABLE | VARLINK_ARRAY,
          .element = &grid_row },
        { .name = "flag", .type = VARLINK_BOOL, .flags = VARLINK_NULLABLE },
        { .name = "blob", .type = VARLINK_OBJECT, .flags = VARLINK_NULLABLE },
        {},
};

static const VarlinkField ok_out[] = {
        { .name = "ok", .type = VARLINK_BOOL },
        {},
};

static const VarlinkField text_fields[] = {
        { .name = "text", .type = VARLINK_STRING },
        {},
};

static const VarlinkField errno_in[] = {
        { .name = "errno", .type = VARLINK_INT },
        {},
};

static const VarlinkField n_in[] = {
        { .name = "n", .type = VARLINK_INT },
        {},
};

static const VarlinkField i_out[] = {
        { .name = "i", .type = VARLINK_INT },
        {},
};

static const VarlinkField event_out[] = {
        { .name = "event", .type = VARLINK_STRING },
        {},
};

static const VarlinkField stats_out[] = {
        { .name = "pings", .type = VARLINK_INT },
        { .name = "connects", .type = VARLINK_INT },
        { .name = "disconnects", .type = VARLINK_INT },
        { .name = "doubleDisconnects", .type = VARLINK_INT },
        { .name = "accessChecks", .type = VARLINK_INT },
        { .name = "upgrades", .type = VARLINK_INT },
        { .name = "upgradesFailed", .type = VARLINK_INT },
        { .name = "subscribersGone", .type = VARLINK_INT },
        { .name = "lastPing", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE },
        {},
};

static const VarlinkField fd_in[] = {
        { .name = "index", .type = VARLINK_INT },
        { .name = "take", .type = VARLINK_BOOL, .flags = VARLINK_NULLABLE },
        {},
};

static const VarlinkField fd_out[] = {
        { .name = "content", .type = VARLINK_STRING },
        { .name = "count", .type = VARLINK_INT },
        {},
};

static const VarlinkField upgrade_in[] = {
        { .name = "padding", .type = VARLINK_INT, .flags = VARLINK_NULLABLE },
        {},
};

static const VarlinkField ready_out[] = {
        { .name = "ready", .type = VARLINK_BOOL },
        { .name = "padding", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE },
        {},
};

#define METHOD(sym, n, in, out, f)                                                                          \
        static const VarlinkSymbol sym = {                                                                  \
                .kind = VARLINK_SYMBOL_METHOD, .name = n, .input = in, .output = out, .flags = f            \
        }
METHOD(method_echo, "Echo", text_fields, text_fields, 0);
METHOD(method_check, "Check", check_in, ok_out, 0);
METHOD(method_fail, "Fail", errno_in, NULL, 0);
METHOD(method_count, "Count", n_in, i_out, VARLINK_SUPPORTS_MORE);
METHOD(method_watch, "Watch", NULL, event_out, VARLINK_REQUIRES_MORE);
METHOD(method_ping, "Ping", text_fields, NULL, 0);
METHOD(method_stats, "Stats", NULL, stats_out, 0);
METHOD(method_deferred, "Deferred", text_fields, text_fields, 0);
METHOD(method_deferred_long, "DeferredLong", text_fields, text_fields, 0);
METHOD(method_upgrade, "Upgrade", upgrade_in, ready_out, VARLINK_SUPPORTS_UPGRADE);
METHOD(method_secret, "Secret", NULL, NULL, 0);
METHOD(method_unbound, "Unbound", NULL, NULL, 0);
METHOD(method_subscribe, "Subscribe", NULL, event_out, VARLINK_REQUIRES_MORE);
METHOD(method_fd, "Fd", fd_in, fd_out, 0);

static const VarlinkSymbol *const test_symbols[] = {
        &type_color,    &type_item,      &type_config,      &method_echo,  &method_check,    &method_fail,
        &method_count,  &method_watch,   &method_ping,      &method_stats, &method_deferred, &method_upgrade,
        &method_secret, &method_unbound, &method_subscribe, &method_fd,       &method_deferred_long,
        NULL,
};

static const VarlinkInterface test_interface = {
        .name = "io.example.Test",
        .symbols = test_symbols,
        .doc = "Methods exercising the Varlink layer.",
};

/* ---- server side (runs in the loop thread; no cmocka assertions there) ---- */

typedef struct Context {
        sd_event *event;
        unsigned pings, connects, disconnects, double_disconnects, access_checks, upgrades, upgrades_failed,
                subscribers_gone;
        Varlink *subscriber; /* a call that stays open until the peer leaves, like a Watch */
        char last_ping[64];
} Context;

static Context ctx;

#define DISCONNECTED_MARK ((void *) 1)

static int on_connect(VarlinkServer *server, Varlink *link, void *userdata) {
        ctx.connects++;
        return 0;
}

static void on_disconnect(VarlinkServer *server, Varlink *link, void *userdata) {
        if (varlink_get_userdata(link) == DISCONNECTED_MARK)
                ctx.double_disconnects++;
        if (link == ctx.subscriber) {
                ctx.subscriber = varlink_unref(ctx.subscriber);
                ctx.subscribers_gone++;
        }
        varlink_set_userdata(link, DISCONNECTED_MARK);
        ctx.disconnects++;
}

static int access_check(Varlink *link, const char *method, void *userdata) {
        ctx.access_checks++;
        if (streq(method, "io.example.Test.Secret")) {
                (void) varlink_error(link, VARLINK_ERROR_PERMISSION_DENIED, NULL);
                return 1;
        }
        return 0;
}

static int vl_method_echo(Varlink *link, json_object *parameters, VarlinkMethodFlags flags, void *userdata) {
        return varlink_reply(link, parameters);
}

static int reply_bool(Varlink *link, const char *key, bool b) {
        _cleanup_(json_object_putp) json_object *r = json_object_new_object();

        if (!r || json_add_bool(r, key, b) < 0)
                return -ENOMEM;
        return varlink_reply(link, r);
}

static int vl_method_check(Varlink *link, json_object *parameters, VarlinkMethodFlags flags,
                           void *userdata) {
        return reply_bool(link, "ok", true);
}

static int vl_method_fail(Varlink *link, json_object *parameters, VarlinkMethodFlags flags, void *userdata) {
        int64_t e = 0;

        (void) json_get_int64(parameters, "errno", &e);
        if (e == 0)
                return varlink_error_errno(link, 0); /* no errno at all still makes a valid error */
        return -(int) e;
}

static int vl_method_count(Varlink *link, json_object *parameters, VarlinkMethodFlags flags,
                           void *userdata) {
        int64_t n = 0;
        int r;

        (void) json_get_int64(parameters, "n", &n);
        for (int64_t i = 1; i <= n; i++) {
                _cleanup_(json_object_putp) json_object *p = json_object_new_object();

                if (!p || json_add_int64(p, "i", i) < 0)
                        return -ENOMEM;
                if (i < n && (flags & VARLINK_METHOD_MORE))
                        r = varlink_notify(link, p);
                else if (i == n)
                        r = varlink_reply(link, p);
                else
                        continue;
                if (r < 0)
                        return r;
        }
        return 0;
}

static int vl_method_watch(Varlink *link, json_object *parameters, VarlinkMethodFlags flags,
                           void *userdata) {
        _cleanup_(json_object_putp) json_object *a = json_object_new_object(), *b = json_object_new_object();

        if (!a || !b || json_add_string(a, "event", "ready") < 0 || json_add_string(b, "event", "end") < 0)
                return -ENOMEM;
        if (varlink_notify(link, a) < 0)
                return -EIO;
        return varlink_reply(link, b);
}

static int vl_method_ping(Varlink *link, json_object *parameters, VarlinkMethodFlags flags, void *userdata) {
        const char *text = NULL;

        ctx.pings++;
        (void) json_get_string(parameters, "text", &text);
        snprintf(ctx.last_ping, sizeof(ctx.last_ping), "%s%s", text ?: "",
                 (flags & VARLINK_METHOD_ONEWAY) ? " (oneway)" : "");
        /* a reply to a oneway call is accepted and dropped */
        return varlink_reply(link, NULL);
}

static int vl_method_stats(Varlink *link, json_object *parameters, VarlinkMethodFlags flags,
                           void *userdata) {
        _cleanup_(json_object_putp) json_object *r = json_object_new_object();

        if (!r || json_add_int64(r, "pings", ctx.pings) < 0 ||
            json_add_int64(r, "connects", ctx.connects) < 0 ||
            json_add_int64(r, "disconnects", ctx.disconnects) < 0 ||
            json_add_int64(r, "doubleDisconnects", ctx.double_disconnects) < 0 ||
            json_add_int64(r, "accessChecks", ctx.access_checks) < 0 ||
            json_add_int64(r, "upgrades", ctx.upgrades) < 0 ||
            json_add_int64(r, "upgradesFailed", ctx.upgrades_failed) < 0 ||
            json_add_int64(r, "subscribersGone", ctx.subscribers_gone) < 0 ||
            json_add_string(r, "lastPing", ctx.last_ping[0] ? ctx.last_ping : NULL) < 0)
                return -ENOMEM;
        return varlink_reply(link, r);
}

typedef struct Deferred {
        Varlink *link;
        json_object *parameters;
} Deferred;

static int on_deferred_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Deferred *d = userdata;

        (void) varlink_reply(d->link, d->parameters);
        varlink_unref(d->link);
        json_object_put(d->parameters);
        free(d);
        return 0; /* a one-shot floating source: the loop frees it */
}

static int vl_method_deferred(Varlink *link, json_object *parameters, VarlinkMethodFlags flags,
                              void *userdata) {
        Deferred *d = calloc(1, sizeof(Deferred));
        int r;

        if (!d)
                return -ENOMEM;
        d->link = varlink_ref(link);
        d->parameters = json_object_get(parameters);
        /* replied from a later loop iteration: the connection must wait, and keep later calls queued.
         * DeferredLong answers 100 ms later; both timers are exact, so a Deferred call answers first. */
        bool slow = streq(varlink_get_current_method(link), "io.example.Test.DeferredLong");
        r = sd_event_add_time_relative(ctx.event, NULL, CLOCK_MONOTONIC, slow ? 100000 : 2000, 1,
                                       on_deferred_timer, d);
        if (r < 0) {
                varlink_unref(d->link);
                json_object_put(d->parameters);
                free(d);
        }
        return r;
}

static int on_raw_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        char buf[256];
        ssize_t n = read(fd, buf, sizeof(buf));

        if (n <= 0) {
                (void) sd_event_source_set_enabled(s, SD_EVENT_OFF); /* floating: freed with the loop */
                close(fd);
                return 0;
        }
        for (ssize_t i = 0; i < n; i++)
                buf[i] = (char) toupper((unsigned char) buf[i]);
        (void) write(fd, buf, (size_t) n);
        return 0;
}

static void on_upgraded(int fd, int error, void *userdata) {
        if (error < 0) {
                ctx.upgrades_failed++;
                return;
        }
        ctx.upgrades++;
        /* raw bytes right behind the reply: the client must get them as leftover or from the fd */
        (void) write(fd, "welcome\n", 8);
        if (sd_event_add_io(ctx.event, NULL, fd, EPOLLIN, on_raw_io, NULL) < 0)
                close(fd);
}

static int vl_method_upgrade(Varlink *link, json_object *parameters, VarlinkMethodFlags flags,
                             void *userdata) {
        _cleanup_(json_object_putp) json_object *r = json_object_new_object();
        _cleanup_free_ char *padding = NULL;
        int64_t size = 0;

        if (!(flags & VARLINK_METHOD_UPGRADE))
                return varlink_error(link, "io.example.Test.NotUpgraded", NULL);
        (void) json_get_int64(parameters, "padding", &size);
        if (size < 0 || size > 8 * 1024 * 1024)
                return varlink_error_invalid_parameter(link, "padding");
        /* a reply too big for the socket buffer: it is only out once the peer reads */
        if (size > 0) {
                padding = malloc((size_t) size + 1);
                if (!padding)
                        return -ENOMEM;
                memset(padding, 'p', (size_t) size);
                padding[size] = '\0';
        }
        if (!r || json_add_bool(r, "ready", true) < 0 || json_add_string(r, "padding", padding) < 0)
                return -ENOMEM;
        return varlink_reply_and_upgrade(link, r, on_upgraded, NULL);
}

static int vl_method_subscribe(Varlink *link, json_object *parameters, VarlinkMethodFlags flags,
                               void *userdata) {
        _cleanup_(json_object_putp) json_object *p = json_object_new_object();

        if (ctx.subscriber)
                return -EBUSY;
        if (!p || json_add_string(p, "event", "ready") < 0)
                return -ENOMEM;
        ctx.subscriber = varlink_ref(link); /* never answered finally: only the peer ends it */
        return varlink_notify(link, p);
}

/* Reads the start of the file passed at `index`; `take` keeps it from the layer (and closes it here). */
static int vl_method_fd(Varlink *link, json_object *parameters, VarlinkMethodFlags flags, void *userdata) {
        _cleanup_(json_object_putp) json_object *r = json_object_new_object();
        char buf[64] = {};
        int64_t index = -1;
        bool take = false;
        ssize_t n;
        int fd;

        (void) json_get_int64(parameters, "index", &index);
        (void) json_get_bool(parameters, "take", &take);
        if (index < 0)
                return varlink_error_invalid_parameter(link, "index");
        fd = take ? varlink_take_fd(link, (size_t) index) : varlink_peek_fd(link, (size_t) index);
        if (fd < 0)
                return varlink_error(link, "io.example.Test.NoFd", NULL);
        n = pread(fd, buf, sizeof(buf) - 1, 0);
        if (take)
                close(fd);
        if (n < 0)
                return -errno;
        if (!r || json_add_string(r, "content", buf) < 0 ||
            json_add_int64(r, "count", (int64_t) varlink_get_n_fds(link)) < 0)
                return -ENOMEM;
        return varlink_reply(link, r);
}

static int vl_method_secret(Varlink *link, json_object *parameters, VarlinkMethodFlags flags,
                            void *userdata) {
        return varlink_reply(link, NULL);
}

static const struct {
        const char *method;
        VarlinkMethod callback;
} bindings[] = {
        { "io.example.Test.Echo", vl_method_echo },
        { "io.example.Test.Check", vl_method_check },
        { "io.example.Test.Fail", vl_method_fail },
        { "io.example.Test.Count", vl_method_count },
        { "io.example.Test.Watch", vl_method_watch },
        { "io.example.Test.Ping", vl_method_ping },
        { "io.example.Test.Stats", vl_method_stats },
        { "io.example.Test.Deferred", vl_method_deferred },
        { "io.example.Test.DeferredLong", vl_method_deferred },
        { "io.example.Test.Upgrade", vl_method_upgrade },
        { "io.example.Test.Secret", vl_method_secret },
        { "io.example.Test.Subscribe", vl_method_subscribe },
        { "io.example.Test.Fd", vl_method_fd },
};

static void server_setup(TestServer *t) {
        test_server_init(t);
        ctx = (Context){ .event = t->event };
        assert_int_equal(varlink_server_set_info(t->server, "Example Vendor", "test-varlink-server", "42",
                                                 "https://example.org"),
                         0);
        assert_int_equal(varlink_server_add_interface(t->server, &test_interface), 0);
        assert_int_equal(varlink_server_add_interface(t->server, &test_interface), -EEXIST);
        for (size_t i = 0; i < ELEMENTSOF(bindings); i++)
                assert_int_equal(
                        varlink_server_bind_method(t->server, bindings[i].method, bindings[i].callback), 0);
        assert_int_equal(varlink_server_bind_method(t->server, "io.example.Test.Nope", vl_method_echo),
                         -ENOENT);
        assert_int_equal(varlink_server_bind_method(t->server, "io.example.Test.Echo", vl_method_echo),
                         -EEXIST);
        assert_int_equal(varlink_server_bind_connect(t->server, on_connect), 0);
        assert_int_equal(varlink_server_bind_disconnect(t->server, on_disconnect), 0);
        assert_int_equal(varlink_server_set_access_check(t->server, access_check), 0);
}

static int group_setup(void **state) {
        TestServer *t = calloc(1, sizeof(TestServer));

        assert_non_null(t);
        server_setup(t);
        assert_int_equal(varlink_server_set_allow_fd_passing_input(t->server, true), 0);
        test_server_run(t);
        *state = t;
        return 0;
}

static int group_teardown(void **state) {
        TestServer *t = *state;

        test_server_stop(t);
        test_server_done(t); /* closes what is left: every connection got its disconnect callback */
        assert_int_equal(ctx.connects, ctx.disconnects);
        assert_int_equal(ctx.double_disconnects, 0);
        free(t);
        return 0;
}

/* ---- client side helpers ---- */

static Varlink *connect_to(TestServer *t) {
        Varlink *link = NULL;
        _cleanup_free_ char *address = NULL;

        assert_true(asprintf(&address, "unix:%s", t->path) > 0);
        assert_int_equal(varlink_connect_address(&link, address), 0);
        return link;
}

static json_object *call_ok(Varlink *link, const char *method, const char *params_json) {
        _cleanup_(json_object_putp) json_object *params =
                params_json ? json_tokener_parse(params_json) : NULL;
        json_object *reply = NULL;
        const char *error = NULL;

        assert_int_equal(varlink_call(link, method, params, &reply, &error), 0);
        if (error)
                fail_msg("%s failed: %s %s", method, error, json_object_to_json_string(reply));
        assert_non_null(reply);
        return reply;
}

/* Calls and expects error `expected`; returns its parameters (owned by the link). */
static json_object *call_error(Varlink *link, const char *method, const char *params_json,
                               const char *expected) {
        _cleanup_(json_object_putp) json_object *params =
                params_json ? json_tokener_parse(params_json) : NULL;
        json_object *reply = NULL;
        const char *error = NULL;

        assert_int_equal(varlink_call(link, method, params, &reply, &error), 0);
        if (!error || !streq(error, expected))
                fail_msg("%s %s: expected %s, got %s", method, params_json ?: "", expected,
                         error ?: "success");
        return reply;
}

static int64_t get_int(json_object *o, const char *key) {
        int64_t v = -1;

        assert_int_equal(json_get_int64(o, key, &v), 0);
        return v;
}

static const char *get_str(json_object *o, const char *key) {
        const char *s = NULL;

        assert_int_equal(json_get_string(o, key, &s), 0);
        return s;
}

static int64_t stat_of(TestServer *t, const char *key) {
        _cleanup_(varlink_unrefp) Varlink *link = connect_to(t);
        return get_int(call_ok(link, "io.example.Test.Stats", NULL), key);
}

/* Disconnects are processed asynchronously: ask until only the asking connection is left open (bounded).
 * A missing disconnect callback never gets there, a doubled one overshoots. */
static void wait_for_all_disconnected(TestServer *t) {
        for (unsigned i = 0;; i++) {
                _cleanup_(varlink_unrefp) Varlink *link = connect_to(t);
                json_object *r = call_ok(link, "io.example.Test.Stats", NULL);
                int64_t c = get_int(r, "connects"), d = get_int(r, "disconnects");

                if (d == c - 1)
                        return;
                if (d > c - 1 || i >= 2000)
                        fail_msg("%" PRIi64 " connects, %" PRIi64 " disconnects", c, d);
                usleep(1000);
        }
}

/* ---- tests ---- */

static void test_dispatch(void **state) {
        _cleanup_(varlink_unrefp) Varlink *link = connect_to(*state);
        json_object *r;

        r = call_ok(link, "io.example.Test.Echo", "{\"text\":\"hi \\u00e9 there\"}");
        assert_string_equal(get_str(r, "text"), "hi \xc3\xa9 there");
        assert_null(varlink_get_current_method(link)); /* client side: idle */

        r = call_error(link, "io.example.Test.Nope", NULL, VARLINK_ERROR_METHOD_NOT_FOUND);
        assert_string_equal(get_str(r, "method"), "io.example.Test.Nope");
        r = call_error(link, "io.example.Nope.Foo", NULL, VARLINK_ERROR_INTERFACE_NOT_FOUND);
        assert_string_equal(get_str(r, "interface"), "io.example.Nope");
        r = call_error(link, "NoDots", NULL, VARLINK_ERROR_METHOD_NOT_FOUND);
        r = call_error(link, "io.example.Test.Unbound", NULL, VARLINK_ERROR_METHOD_NOT_IMPLEMENTED);
        assert_string_equal(get_str(r, "method"), "io.example.Test.Unbound");

        /* the connection survives all of that */
        r = call_ok(link, "io.example.Test.Echo", "{\"text\":\"still here\"}");
        assert_string_equal(get_str(r, "text"), "still here");
}

static void test_errno_error(void **state) {
        _cleanup_(varlink_unrefp) Varlink *link = connect_to(*state);
        json_object *r;

        r = call_error(link, "io.example.Test.Fail", "{\"errno\":2}", VARLINK_ERROR_SYSTEM);
        assert_string_equal(get_str(r, "origin"), "linux");
        assert_int_equal(get_int(r, "errno"), ENOENT);
        assert_string_equal(get_str(r, "errnoName"), "ENOENT");
        assert_non_null(get_str(r, "message"));
        r = call_error(link, "io.example.Test.Fail", "{\"errno\":0}", VARLINK_ERROR_SYSTEM);
        assert_int_equal(get_int(r, "errno"), EIO);
}

static void assert_invalid(Varlink *link, const char *params, const char *field) {
        json_object *r = call_error(link, "io.example.Test.Check", params, VARLINK_ERROR_INVALID_PARAMETER);
        const char *got = get_str(r, "parameter");

        if (!streq(got, field))
                fail_msg("%s: InvalidParameter names %s, expected %s", params, got, field);
}

static void test_validation(void **state) {
        _cleanup_(varlink_unrefp) Varlink *link = connect_to(*state);
        json_object *r;

        r = call_ok(link, "io.example.Test.Check",
                    "{\"name\":\"a\",\"count\":1,\"ratio\":2,\"color\":\"green\",\"flag\":null,"
                    "\"config\":{\"size\":3,\"mode\":\"safe\",\"item\":{\"id\":1,\"label\":null,\"tags\":["
                    "\"x\"]},"
                    "\"extra\":{\"k\":1}},\"items\":[{\"id\":2,\"tags\":[]}],\"grid\":[[1,2],null,[]],"
                    "\"blob\":{\"anything\":[1,{\"goes\":null}]}}");
        assert_true(json_object_get_boolean(json_object_object_get(r, "ok")));

        assert_invalid(link, "{\"count\":1,\"config\":{\"size\":3,\"mode\":\"safe\"}}", "name");
        assert_invalid(link, "{\"name\":null,\"count\":1,\"config\":{\"size\":3,\"mode\":\"safe\"}}",
                       "name");
        assert_invalid(link, "{\"name\":\"a\",\"count\":\"1\",\"config\":{\"size\":3,\"mode\":\"safe\"}}",
                       "count");
        assert_invalid(
                link,
                "{\"name\":\"a\",\"count\":1,\"ratio\":\"x\",\"config\":{\"size\":3,\"mode\":\"safe\"}}",
                "ratio");
        assert_invalid(link,
                       "{\"name\":\"a\",\"count\":1,\"color\":\"purple\",\"config\":{\"size\":3,\"mode\":"
                       "\"safe\"}}",
                       "color");
        assert_invalid(link, "{\"name\":\"a\",\"count\":1,\"config\":{\"size\":3,\"mode\":\"slow\"}}",
                       "mode");
        assert_invalid(link, "{\"name\":\"a\",\"count\":1,\"config\":{\"mode\":\"safe\"}}", "size");
        assert_invalid(link, "{\"name\":\"a\",\"count\":1,\"config\":[]}", "config");
        assert_invalid(link,
                       "{\"name\":\"a\",\"count\":1,\"config\":{\"size\":3,\"mode\":\"safe\","
                       "\"item\":{\"id\":1,\"tags\":[1]}}}",
                       "tags");
        assert_invalid(link,
                       "{\"name\":\"a\",\"count\":1,\"config\":{\"size\":3,\"mode\":\"safe\","
                       "\"extra\":{\"k\":\"v\"}}}",
                       "extra");
        assert_invalid(link,
                       "{\"name\":\"a\",\"count\":1,\"config\":{\"size\":3,\"mode\":\"safe\"},"
                       "\"items\":[{\"id\":1,\"tags\":[],\"bogus\":1}]}",
                       "bogus");
        assert_invalid(link,
                       "{\"name\":\"a\",\"count\":1,\"config\":{\"size\":3,\"mode\":\"safe\"},"
                       "\"items\":[null]}",
                       "items");
        assert_invalid(link,
                       "{\"name\":\"a\",\"count\":1,\"config\":{\"size\":3,\"mode\":\"safe\"},"
                       "\"grid\":[[1,null]]}",
                       "grid");
        assert_invalid(link,
                       "{\"name\":\"a\",\"count\":1,\"config\":{\"size\":3,\"mode\":\"safe\"},"
                       "\"blob\":[1]}",
                       "blob");
        assert_invalid(link,
                       "{\"name\":\"a\",\"count\":1,\"config\":{\"size\":3,\"mode\":\"safe\"},\"zzz\":1}",
                       "zzz");
}

static void test_oneway(void **state) {
        TestServer *t = *state;
        _cleanup_(varlink_unrefp) Varlink *link = connect_to(t);
        static const char batch[] =
                "{\"method\":\"io.example.Test.Ping\",\"parameters\":{\"text\":\"raw\"},\"oneway\":true}\0"
                "{\"method\":\"io.example.Test.Stats\"}";
        _cleanup_free_ char *m = NULL;
        int64_t before = stat_of(t, "pings");
        json_object *r;
        int fd;

        assert_int_equal(varlink_send_oneway(link, "io.example.Test.Ping", NULL), 0); /* invalid: no reply */
        assert_int_equal(varlink_send_oneway(link, "io.example.Test.Nope", NULL), 0); /* unknown: no reply */
        {
                _cleanup_(json_object_putp) json_object *p = json_tokener_parse("{\"text\":\"one\"}");
                assert_int_equal(varlink_send_oneway(link, "io.example.Test.Ping", p), 0);
        }
        /* the next reply on this connection is the Stats reply: nothing was sent for the oneway calls */
        r = call_ok(link, "io.example.Test.Stats", NULL);
        assert_int_equal(get_int(r, "pings"), before + 1);
        assert_string_equal(get_str(r, "lastPing"), "one (oneway)");

        /* the same at byte level, both calls in one write */
        fd = test_connect_raw(t);
        test_write_all(fd, batch, sizeof(batch));
        m = test_read_message(fd);
        assert_non_null(m);
        assert_non_null(strstr(m, "\"pings\":"));
        assert_null(strstr(m, "error"));
        close(fd);
        assert_int_equal(stat_of(t, "pings"), before + 2);
}

static void test_more(void **state) {
        _cleanup_(varlink_unrefp) Varlink *link = connect_to(*state);
        _cleanup_(json_object_putp) json_object *p = json_tokener_parse("{\"n\":5}");
        const char *error = NULL;
        json_object *r = NULL;
        bool continues = true;
        int64_t expect = 1;

        assert_int_equal(varlink_observe(link, "io.example.Test.Count", p), 0);
        assert_int_equal(varlink_call(link, "io.example.Test.Stats", NULL, &r, &error), -EBUSY);
        while (continues) {
                assert_int_equal(varlink_observe_next(link, &r, &error, &continues), 0);
                assert_null(error);
                assert_int_equal(get_int(r, "i"), expect);
                assert_int_equal(continues, expect < 5);
                expect++;
        }
        assert_int_equal(expect, 6);
        assert_int_equal(varlink_observe_next(link, &r, &error, &continues), -EBUSY);

        /* without more the method answers once */
        r = call_ok(link, "io.example.Test.Count", "{\"n\":3}");
        assert_int_equal(get_int(r, "i"), 3);

        /* a requires-more method without more */
        call_error(link, "io.example.Test.Watch", NULL, VARLINK_ERROR_EXPECTED_MORE);
        assert_int_equal(varlink_observe(link, "io.example.Test.Watch", NULL), 0);
        assert_int_equal(varlink_observe_next(link, &r, &error, &continues), 0);
        assert_string_equal(get_str(r, "event"), "ready");
        assert_true(continues);
        assert_int_equal(varlink_observe_next(link, &r, &error, &continues), 0);
        assert_string_equal(get_str(r, "event"), "end");
        assert_false(continues);

        /* an error ends a more call */
        assert_int_equal(varlink_observe(link, "io.example.Test.Nope", NULL), 0);
        assert_int_equal(varlink_observe_next(link, &r, &error, &continues), 0);
        assert_string_equal(error, VARLINK_ERROR_METHOD_NOT_FOUND);
        assert_false(continues);
}

static void test_upgrade(void **state) {
        TestServer *t = *state;
        _cleanup_(varlink_unrefp) Varlink *link = connect_to(t);
        _cleanup_free_ char *leftover = NULL;
        int64_t upgrades = stat_of(t, "upgrades");
        size_t leftover_size = 0, got = 0;
        const char *error = NULL;
        json_object *r = NULL;
        char buf[64];
        int fd = -1;

        /* the handler sees when upgrade was not asked for */
        call_error(link, "io.example.Test.Upgrade", NULL, "io.example.Test.NotUpgraded");

        assert_int_equal(varlink_call_and_upgrade(link, "io.example.Test.Upgrade", NULL, &r, &error, &fd,
                                                  &leftover, &leftover_size),
                         0);
        assert_null(error);
        assert_true(json_object_get_boolean(json_object_object_get(r, "ready")));
        assert_true(fd >= 0);
        /* the Varlink object is done; the socket now carries raw bytes both ways */
        assert_int_equal(varlink_call(link, "io.example.Test.Stats", NULL, &r, &error), -ENOTCONN);

        assert_true(leftover_size <= 8);
        memcpy(buf, leftover ?: "", leftover_size);
        got = leftover_size;
        while (got < 8) {
                ssize_t n = read(fd, buf + got, 8 - got);
                assert_true(n > 0);
                got += (size_t) n;
        }
        assert_memory_equal(buf, "welcome\n", 8);

        test_write_all(fd, "raw bytes\0ok", 12);
        got = 0;
        while (got < 12) {
                ssize_t n = read(fd, buf + got, 12 - got);
                assert_true(n > 0);
                got += (size_t) n;
        }
        assert_memory_equal(buf, "RAW BYTES\0OK", 12);
        close(fd);
        assert_int_equal(stat_of(t, "upgrades"), upgrades + 1);
}

#define UPGRADE_PADDING (2 * 1024 * 1024)

static void send_upgrade_call(int fd) {
        _cleanup_free_ char *call = NULL;
        int n;

        n = asprintf(&call, "{\"method\":\"io.example.Test.Upgrade\",\"parameters\":{\"padding\":%d},"
                     "\"upgrade\":true}", UPGRADE_PADDING);
        assert_true(n > 0);
        test_write_all(fd, call, (size_t) n + 1);
}

/* The reply of an upgrade is written by the loop like any other: while one peer does not read it, the
 * others are served; once it reads, the socket is handed over behind the complete reply. */
static void test_upgrade_peer_not_reading(void **state) {
        TestServer *t = *state;
        _cleanup_(varlink_unrefp) Varlink *other = connect_to(t);
        int64_t upgrades = stat_of(t, "upgrades"), failed = stat_of(t, "upgradesFailed");
        size_t size = 0, allocated = UPGRADE_PADDING + 4096;
        _cleanup_free_ char *buf = malloc(allocated);
        char *nul = NULL;
        json_object *r;
        char raw[4];
        int fd;

        assert_non_null(buf);
        fd = test_connect_raw(t);
        send_upgrade_call(fd);

        /* Another client is answered while the reply waits (a blocking flush would keep the loop for its
         * 45 s timeout, and this call would time out first). */
        assert_int_equal(varlink_set_relative_timeout(other, 10 * 1000000ULL), 0);
        for (unsigned i = 0; i < 3; i++) {
                r = call_ok(other, "io.example.Test.Echo", "{\"text\":\"meanwhile\"}");
                assert_string_equal(get_str(r, "text"), "meanwhile");
        }
        assert_int_equal(stat_of(t, "upgrades"), upgrades); /* not handed over yet */

        /* Now the peer reads: the whole reply, then the raw bytes of the upgraded connection. */
        while (!nul || (size_t) (buf + size - nul) < 1 + 8) {
                ssize_t n;

                assert_true(size < allocated);
                n = read(fd, buf + size, allocated - size);
                assert_true(n > 0);
                size += (size_t) n;
                if (!nul)
                        nul = memchr(buf, 0, size);
        }
        assert_true((size_t) (nul - buf) > UPGRADE_PADDING);
        assert_non_null(strstr(buf, "\"ready\":true"));
        assert_memory_equal(nul + 1, "welcome\n", 8);
        assert_int_equal((size_t) (buf + size - nul), 1 + 8);
        test_write_all(fd, "abc", 3);
        for (size_t got = 0; got < 3;) {
                ssize_t n = read(fd, raw + got, 3 - got);
                assert_true(n > 0);
                got += (size_t) n;
        }
        assert_memory_equal(raw, "ABC", 3);
        close(fd);
        assert_int_equal(stat_of(t, "upgrades"), upgrades + 1);

        /* A peer that leaves before reading its reply: the handler hears of it, nothing is handed over. */
        fd = test_connect_raw(t);
        send_upgrade_call(fd);
        assert_int_equal(read(fd, raw, 1), 1); /* the reply is on its way */
        close(fd);
        for (unsigned i = 0; stat_of(t, "upgradesFailed") != failed + 1; i++) {
                assert_true(i < 10000);
                usleep(1000);
        }
        assert_int_equal(stat_of(t, "upgrades"), upgrades + 1);
}

/* Raw bytes that arrive together with the upgrade reply must not be lost: a scripted peer sends both in one
 * write before the client even reads. */
static void test_upgrade_leftover(void **state) {
        static const char answer[] = "{\"parameters\":{\"ready\":true}}\0raw\0after";
        _cleanup_(varlink_unrefp) Varlink *link = NULL;
        _cleanup_free_ char *leftover = NULL, *call = NULL;
        size_t leftover_size = 0;
        const char *error = NULL;
        json_object *r = NULL;
        int sv[2], fd = -1;
        char c;

        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        assert_int_equal(varlink_connect_fd(&link, sv[0]), 0);
        test_write_all(sv[1], answer, sizeof(answer) - 1);
        assert_int_equal(varlink_call_and_upgrade(link, "io.example.Test.Upgrade", NULL, &r, &error, &fd,
                                                  &leftover, &leftover_size),
                         0);
        assert_null(error);
        assert_true(json_object_get_boolean(json_object_object_get(r, "ready")));
        assert_int_equal(leftover_size, 9);
        assert_memory_equal(leftover, "raw\0after", 9);

        /* the call went out with upgrade set */
        call = test_read_message(sv[1]);
        assert_non_null(call);
        assert_non_null(strstr(call, "\"upgrade\":true"));
        /* and the handed-over fd is the same connection */
        test_write_all(fd, "x", 1);
        assert_int_equal(read(sv[1], &c, 1), 1);
        assert_int_equal(c, 'x');
        close(fd);
        close(sv[1]);
}

static void test_deferred(void **state) {
        TestServer *t = *state;
        _cleanup_(varlink_unrefp) Varlink *link = connect_to(t);
        static const char batch[] =
                "{\"method\":\"io.example.Test.Deferred\",\"parameters\":{\"text\":\"first\"}}\0"
                "{\"method\":\"io.example.Test.Echo\",\"parameters\":{\"text\":\"second\"}}";
        _cleanup_free_ char *a = NULL, *b = NULL;
        json_object *r;
        int fd;

        r = call_ok(link, "io.example.Test.Deferred", "{\"text\":\"later\"}");
        assert_string_equal(get_str(r, "text"), "later");

        /* a call pipelined behind a deferred one is answered after it, in order */
        fd = test_connect_raw(t);
        test_write_all(fd, batch, sizeof(batch));
        a = test_read_message(fd);
        b = test_read_message(fd);
        assert_non_null(a);
        assert_non_null(b);
        assert_non_null(strstr(a, "first"));
        assert_non_null(strstr(b, "second"));
        close(fd);

        /* the peer leaves before the deferred reply: the late reply must not hurt the server */
        fd = test_connect_raw(t);
        test_write_all(fd, batch, sizeof(batch));
        close(fd);
        r = call_ok(link, "io.example.Test.Echo", "{\"text\":\"alive\"}");
        assert_string_equal(get_str(r, "text"), "alive");
}

/* A oneway call whose handler answers later (as the manager's Start, Stop, Delete and Create do) holds the
 * connection like any other call: its late answer must not become the reply to the call behind it. Found by
 * fuzz-varlink-server. */
static void test_deferred_oneway(void **state) {
        TestServer *t = *state;
        static const char batch[] =
                "{\"method\":\"io.example.Test.Deferred\",\"parameters\":{\"text\":\"first\"},"
                "\"oneway\":true}\0"
                "{\"method\":\"io.example.Test.DeferredLong\",\"parameters\":{\"text\":\"second\"}}\0"
                "{\"method\":\"io.example.Test.Echo\",\"parameters\":{\"text\":\"third\"}}";
        _cleanup_free_ char *a = NULL, *b = NULL;
        int fd;

        fd = test_connect_raw(t);
        test_write_all(fd, batch, sizeof(batch));
        a = test_read_message(fd);
        b = test_read_message(fd);
        assert_non_null(a);
        assert_non_null(b);
        assert_non_null(strstr(a, "second"));
        assert_non_null(strstr(b, "third"));
        close(fd);
}

/* A bad message ends the connection, but the calls before it were accepted: their replies still go out
 * first. Found by fuzz-varlink-server. */
static void test_replies_before_bad_message(void **state) {
        TestServer *t = *state;
        static const char batch[] =
                "{\"method\":\"io.example.Test.Echo\",\"parameters\":{\"text\":\"first\"}}\0"
                "{\"method\":\"io.example.Test.Echo\",\"parameters\":{\"text\":\"second\"}}\0"
                "{not json";
        _cleanup_free_ char *a = NULL, *b = NULL;
        int fd;

        fd = test_connect_raw(t);
        test_write_all(fd, batch, sizeof(batch));
        a = test_read_message(fd);
        b = test_read_message(fd);
        assert_non_null(a);
        assert_non_null(b);
        assert_non_null(strstr(a, "first"));
        assert_non_null(strstr(b, "second"));
        assert_int_equal(test_read_until_eof(fd), 0);
        close(fd);
}

/* A call that is never finished (a subscription) still notices when its peer goes away. */
static void test_subscriber_gone(void **state) {
        TestServer *t = *state;
        Varlink *link = connect_to(t);
        const char *error = NULL;
        json_object *r = NULL;
        bool continues = false;

        assert_int_equal(varlink_observe(link, "io.example.Test.Subscribe", NULL), 0);
        assert_int_equal(varlink_observe_next(link, &r, &error, &continues), 0);
        assert_null(error);
        assert_true(continues);
        assert_string_equal(get_str(r, "event"), "ready");
        varlink_unref(link);

        for (unsigned i = 0; stat_of(t, "subscribersGone") < 1; i++) {
                assert_true(i < 2000);
                usleep(1000);
        }
}

static void test_access_check(void **state) {
        TestServer *t = *state;
        _cleanup_(varlink_unrefp) Varlink *link = connect_to(t);
        int64_t checks;

        call_error(link, "io.example.Test.Secret", NULL, VARLINK_ERROR_PERMISSION_DENIED);
        checks = get_int(call_ok(link, "io.example.Test.Stats", NULL), "accessChecks");
        /* org.varlink.service is open to everyone and not checked */
        call_ok(link, "org.varlink.service.GetInfo", NULL);
        call_ok(link, "org.varlink.service.GetInterfaceDescription", "{\"interface\":\"io.example.Test\"}");
        assert_int_equal(get_int(call_ok(link, "io.example.Test.Stats", NULL), "accessChecks"), checks + 1);
}

static void test_introspection(void **state) {
        _cleanup_(varlink_unrefp) Varlink *link = connect_to(*state);
        _cleanup_free_ char *expected = varlink_idl_format(&test_interface);
        VarlinkInterface *parsed = NULL;
        json_object *r, *list;

        r = call_ok(link, "org.varlink.service.GetInfo", NULL);
        assert_string_equal(get_str(r, "vendor"), "Example Vendor");
        assert_string_equal(get_str(r, "product"), "test-varlink-server");
        assert_string_equal(get_str(r, "version"), "42");
        assert_string_equal(get_str(r, "url"), "https://example.org");
        assert_true(json_object_object_get_ex(r, "interfaces", &list));
        assert_int_equal(json_object_array_length(list), 2);
        assert_string_equal(json_object_get_string(json_object_array_get_idx(list, 0)),
                            "org.varlink.service");
        assert_string_equal(json_object_get_string(json_object_array_get_idx(list, 1)), "io.example.Test");

        r = call_ok(link, "org.varlink.service.GetInterfaceDescription",
                    "{\"interface\":\"io.example.Test\"}");
        assert_string_equal(get_str(r, "description"), expected);
        assert_int_equal(varlink_idl_parse(get_str(r, "description"), &parsed, NULL), 0);
        assert_non_null(varlink_idl_find_symbol(parsed, VARLINK_SYMBOL_METHOD, "Watch"));
        assert_int_equal(varlink_idl_find_symbol(parsed, VARLINK_SYMBOL_METHOD, "Watch")->flags,
                         VARLINK_REQUIRES_MORE);
        varlink_interface_free(parsed);

        r = call_ok(link, "org.varlink.service.GetInterfaceDescription",
                    "{\"interface\":\"org.varlink.service\"}");
        assert_non_null(strstr(get_str(r, "description"), "method GetInterfaceDescription("));
        r = call_error(link, "org.varlink.service.GetInterfaceDescription", "{\"interface\":\"no.such\"}",
                       VARLINK_ERROR_INTERFACE_NOT_FOUND);
        assert_string_equal(get_str(r, "interface"), "no.such");
        r = call_error(link, "org.varlink.service.GetInterfaceDescription", "{}",
                       VARLINK_ERROR_INVALID_PARAMETER);
        assert_string_equal(get_str(r, "parameter"), "interface");
}

static void test_peer_credentials(void **state) {
        _cleanup_(varlink_unrefp) Varlink *link = connect_to(*state);
        uid_t uid;
        gid_t gid;
        pid_t pid;

        assert_int_equal(varlink_get_peer_uid(link, &uid), 0);
        assert_int_equal(varlink_get_peer_gid(link, &gid), 0);
        assert_int_equal(varlink_get_peer_pid(link, &pid), 0);
        assert_int_equal(uid, getuid());
        assert_int_equal(gid, getgid());
        assert_int_equal(pid, getpid()); /* the server runs in a thread of this process */
}

/* Accepts one connection from a child that set its supplementary groups to `groups` first, and returns
 * what the link says about the peer's groups. */
static size_t peer_groups_of_child(const gid_t *groups, size_t n, gid_t *ret, size_t max) {
        char dir[] = "/tmp/test-peergroups-XXXXXX", path[64];
        _cleanup_(varlink_unrefp) Varlink *link = NULL;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        const gid_t *got = NULL;
        int lfd, cfd, status;
        size_t n_got = 0;
        pid_t pid;

        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/sock", dir);
        memcpy(sa.sun_path, path, strlen(path));
        lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(lfd >= 0);
        assert_int_equal(bind(lfd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        assert_int_equal(listen(lfd, 1), 0);

        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                char c;

                if (setgroups(n, groups) < 0 || fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                        _exit(1);
                (void) read(fd, &c, 1); /* until the parent is done looking */
                _exit(0);
        }
        cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        assert_true(cfd >= 0);
        assert_int_equal(varlink_connect_fd(&link, cfd), 0);
        assert_int_equal(varlink_get_peer_groups(link, &got, &n_got), 0);
        assert_true(n_got <= max);
        memcpy(ret, got, n_got * sizeof(gid_t));
        link = varlink_unref(link); /* closes: the child exits */
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        close(lfd);
        unlink(path);
        rmdir(dir);
        return n_got;
}

/* The groups are the peer process's own, as the kernel saw them at connect (issue 6 item 3): a process that
 * dropped a group no longer has it, whatever the user database says. */
static void test_peer_groups(void **state) {
        static const gid_t some[] = { 4242, 4343 };
        gid_t got[16];
        size_t n;

        if (geteuid() != 0)
                skip(); /* setgroups() needs CAP_SETGID */
        n = peer_groups_of_child(some, ELEMENTSOF(some), got, ELEMENTSOF(got));
        assert_int_equal(n, 2);
        assert_true((got[0] == 4242 && got[1] == 4343) || (got[0] == 4343 && got[1] == 4242));
        n = peer_groups_of_child(NULL, 0, got, ELEMENTSOF(got));
        assert_int_equal(n, 0);
}

static void test_disconnect_once(void **state) {
        TestServer *t = *state;

        /* open and close some in various ways; each one is announced and reported gone exactly once */
        for (int i = 0; i < 6; i++) {
                _cleanup_(varlink_unrefp) Varlink *link = connect_to(t);
                int fd;

                if (i % 2)
                        call_ok(link, "io.example.Test.Echo", "{\"text\":\"x\"}");
                if (i == 4)
                        varlink_close(link);
                if (i == 5) {
                        /* gone in the middle of a message */
                        fd = test_connect_raw(t);
                        test_write_all(fd, "{\"method\":", 10);
                        close(fd);
                }
        }
        wait_for_all_disconnected(t);
        assert_int_equal(stat_of(t, "doubleDisconnects"), 0);
}

/* ---- file descriptors passed with calls ---- */

static int memfd_with(const char *content) {
        int fd = memfd_create("test", MFD_CLOEXEC);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, content, strlen(content)), (ssize_t) strlen(content));
        return fd;
}

static void test_fd_passing(void **state) {
        _cleanup_(varlink_unrefp) Varlink *link = connect_to(*state);
        json_object *r;
        int p[2];
        char c;

        /* fds ride with the call; parameters name them by index */
        assert_int_equal(varlink_push_fd(link, memfd_with("zero")), 0);
        assert_int_equal(varlink_push_fd(link, memfd_with("one")), 1);
        r = call_ok(link, "io.example.Test.Fd", "{\"index\":1}");
        assert_string_equal(get_str(r, "content"), "one");
        assert_int_equal(get_int(r, "count"), 2);
        /* they belonged to that call only */
        r = call_error(link, "io.example.Test.Fd", "{\"index\":0}", "io.example.Test.NoFd");
        assert_int_equal(varlink_push_fd(link, memfd_with("x")), 0);
        r = call_error(link, "io.example.Test.Fd", "{\"index\":1}", "io.example.Test.NoFd");

        /* an fd the handler does not take is closed when the call is done: the pipe's only writer goes */
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        assert_int_equal(varlink_push_fd(link, memfd_with("kept")), 0);
        assert_int_equal(varlink_push_fd(link, p[1]), 1);
        r = call_ok(link, "io.example.Test.Fd", "{\"index\":0}");
        assert_string_equal(get_str(r, "content"), "kept");
        assert_int_equal(read(p[0], &c, 1), 0);
        close(p[0]);

        /* a taken fd is the handler's; taking twice fails */
        assert_int_equal(varlink_push_fd(link, memfd_with("mine")), 0);
        r = call_ok(link, "io.example.Test.Fd", "{\"index\":0,\"take\":true}");
        assert_string_equal(get_str(r, "content"), "mine");
        r = call_ok(link, "io.example.Test.Echo", "{\"text\":\"still\"}");
}

/* Sends data in one sendmsg() with n fds (copies of fd) attached. */
static void send_with_fds(int sock, const char *data, size_t size, int fd, size_t n) {
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int) * 32)];
        } control = {};
        struct iovec iov = { .iov_base = (void *) data, .iov_len = size };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control };
        struct cmsghdr *c;
        int fds[32];

        assert_true(n > 0 && n <= ELEMENTSOF(fds));
        for (size_t i = 0; i < n; i++)
                fds[i] = fd;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * n);
        c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * n);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
        assert_int_equal(sendmsg(sock, &mh, MSG_NOSIGNAL), (ssize_t) size);
}

/* As sd-varlink: fds come with the first byte of a message, at most 16; anything else ends the connection
 * without a reply. */
static void test_fd_passing_violations(void **state) {
        static const char call[] = "{\"method\":\"io.example.Test.Fd\",\"parameters\":{\"index\":0}}";
        TestServer *t = *state;
        int fd, mem = memfd_with("x");

        /* in the middle of a message */
        fd = test_connect_raw(t);
        test_write_all(fd, call, 10);
        usleep(10000); /* let the server read the first part on its own */
        send_with_fds(fd, call + 10, sizeof(call) - 10, mem, 1);
        assert_int_equal(test_read_until_eof(fd), 0);
        close(fd);

        /* too many */
        fd = test_connect_raw(t);
        send_with_fds(fd, call, sizeof(call), mem, VARLINK_FDS_PER_MESSAGE_MAX + 1);
        assert_int_equal(test_read_until_eof(fd), 0);
        close(fd);

        /* the most there may be */
        fd = test_connect_raw(t);
        send_with_fds(fd, call, sizeof(call), mem, VARLINK_FDS_PER_MESSAGE_MAX);
        _cleanup_free_ char *reply = test_read_message(fd);
        assert_non_null(reply);
        assert_non_null(strstr(reply, "\"count\":16"));
        close(fd);
        close(mem);
}

/* A server that did not allow fd passing receives none (the kernel drops them with the bytes). */
static void test_fd_passing_off(void **state) {
        _cleanup_(varlink_unrefp) Varlink *link = NULL;
        TestServer t;

        server_setup(&t);
        test_server_run(&t);
        link = connect_to(&t);
        assert_int_equal(varlink_push_fd(link, memfd_with("x")), 0);
        call_error(link, "io.example.Test.Fd", "{\"index\":0}", "io.example.Test.NoFd");
        link = varlink_unref(link);
        test_server_stop(&t);
        test_server_done(&t);
}

/* ---- connection caps: a server of their own ---- */

static void test_caps(void **state) {
        TestServer t;
        Varlink *links[3] = {};
        json_object *r = NULL;
        const char *error = NULL;
        int k;

        server_setup(&t);
        assert_int_equal(varlink_server_set_connections_per_uid_max(t.server, 2), 0);
        test_server_run(&t);

        links[0] = connect_to(&t);
        links[1] = connect_to(&t);
        call_ok(links[0], "io.example.Test.Echo", "{\"text\":\"a\"}");
        call_ok(links[1], "io.example.Test.Echo", "{\"text\":\"b\"}");
        /* the third connection of this UID is accepted by the kernel, then dropped by the server */
        links[2] = connect_to(&t);
        k = varlink_call(links[2], "io.example.Test.Echo", NULL, &r, &error);
        assert_true(k == -ECONNRESET || k == -EPIPE);
        links[2] = varlink_unref(links[2]);

        /* once one goes away there is room again (the server notices the close asynchronously) */
        links[0] = varlink_unref(links[0]);
        for (unsigned i = 0;; i++) {
                _cleanup_(varlink_unrefp) Varlink *l = connect_to(&t);
                k = varlink_call(l, "io.example.Test.Echo", NULL, &r, &error);
                if (k >= 0)
                        break;
                assert_true(i < 2000);
                usleep(1000);
        }
        links[1] = varlink_unref(links[1]);
        test_server_stop(&t);
        test_server_done(&t);
        assert_int_equal(ctx.connects, ctx.disconnects);

        /* the total cap */
        server_setup(&t);
        assert_int_equal(varlink_server_set_connections_max(t.server, 1), 0);
        test_server_run(&t);
        links[0] = connect_to(&t);
        call_ok(links[0], "io.example.Test.Echo", "{\"text\":\"a\"}");
        links[1] = connect_to(&t);
        k = varlink_call(links[1], "io.example.Test.Echo", NULL, &r, &error);
        assert_true(k == -ECONNRESET || k == -EPIPE);
        call_ok(links[0], "io.example.Test.Echo", "{\"text\":\"still\"}");
        links[0] = varlink_unref(links[0]);
        links[1] = varlink_unref(links[1]);
        test_server_stop(&t);
        test_server_done(&t);
        assert_int_equal(ctx.connects, ctx.disconnects);
}

/* ---- peers that pipeline calls and do not read the replies: the loop is driven by hand here ---- */

#define PIPELINE_CALL "{\"method\":\"io.example.Test.Echo\",\"parameters\":{\"text\":\"" \
        "0123456789012345678901234567890123456789012345678901234567890123456789\"}}"
#define PIPELINE_REPLY_MAX 256 /* an Echo reply is shorter */

typedef struct Pipeliner {
        int fd; /* the peer's end, non-blocking */
        unsigned sent, received;
        size_t partial; /* bytes of the call being written */
        size_t reply_bytes; /* bytes of the reply being read */
} Pipeliner;

static void pipeliner_init(Pipeliner *p, VarlinkServer *server) {
        int sv[2], small = 4096;

        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
        /* Small kernel buffers: what the server cannot send has to wait in its own memory. */
        assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
        assert_int_equal(setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
        assert_int_equal(varlink_server_add_connection(server, sv[0], NULL), 0);
        *p = (Pipeliner){ .fd = sv[1] };
}

/* Writes calls until the socket takes no more or `total` were sent. */
static void pipeliner_write(Pipeliner *p, unsigned total) {
        static const char call[] = PIPELINE_CALL;

        while (p->sent < total) {
                ssize_t n = send(p->fd, call + p->partial, sizeof(call) - p->partial, MSG_NOSIGNAL);
                if (n < 0) {
                        assert_int_equal(errno, EAGAIN);
                        return;
                }
                p->partial += (size_t) n;
                if (p->partial == sizeof(call)) {
                        p->partial = 0;
                        p->sent++;
                }
        }
}

/* Reads what is there and counts complete replies. */
static void pipeliner_read(Pipeliner *p) {
        char buf[4096];

        for (;;) {
                ssize_t n = read(p->fd, buf, sizeof(buf));
                if (n < 0) {
                        assert_int_equal(errno, EAGAIN);
                        return;
                }
                assert_true(n > 0); /* the server must not hang up */
                for (ssize_t i = 0; i < n; i++) {
                        p->reply_bytes++;
                        if (buf[i] == '\0') {
                                assert_true(p->reply_bytes <= PIPELINE_REPLY_MAX);
                                p->reply_bytes = 0;
                                p->received++;
                        }
                }
        }
}

static void run_loop_dry(TestServer *t) {
        while (sd_event_run(t->event, 0) > 0)
                ;
}

/* n peers of this UID pipeline `calls` calls each without reading: the server's unsent output for the UID
 * stays within `bound` plus one reply, however much they send; once they read, every call is answered. */
static void pipeline(size_t per_connection, size_t per_uid, size_t n, unsigned calls, size_t bound) {
        Pipeliner peers[4];
        TestServer t;
        bool progress;

        assert_true(n <= ELEMENTSOF(peers));
        server_setup(&t);
        assert_int_equal(varlink_server_set_output_max(t.server, per_connection, per_uid), 0);
        for (size_t i = 0; i < n; i++)
                pipeliner_init(&peers[i], t.server);

        /* Nobody reads: the peers write until their sockets are full. */
        do {
                unsigned before = 0, after = 0;

                for (size_t i = 0; i < n; i++) {
                        before += peers[i].sent;
                        pipeliner_write(&peers[i], calls);
                        after += peers[i].sent;
                }
                run_loop_dry(&t);
                assert_true(varlink_server_buffered_output(t.server, getuid()) <= bound + PIPELINE_REPLY_MAX);
                progress = after > before;
        } while (progress);
        for (size_t i = 0; i < n; i++)
                assert_true(peers[i].sent < calls); /* the server stopped taking calls */
        assert_int_equal(varlink_server_current_connections(t.server), n);

        /* Now they read (and send the rest): every call gets its reply. */
        for (unsigned rounds = 0;; rounds++) {
                bool done = true;

                for (size_t i = 0; i < n; i++) {
                        pipeliner_read(&peers[i]);
                        pipeliner_write(&peers[i], calls);
                        run_loop_dry(&t);
                        assert_true(varlink_server_buffered_output(t.server, getuid()) <=
                                    bound + PIPELINE_REPLY_MAX);
                        done = done && peers[i].received == calls;
                }
                if (done)
                        break;
                assert_true(rounds < 1000000);
        }
        for (size_t i = 0; i < n; i++)
                close(peers[i].fd);
        run_loop_dry(&t);
        assert_int_equal(varlink_server_current_connections(t.server), 0);
        assert_int_equal(varlink_server_buffered_output(t.server, getuid()), 0);
        test_server_done(&t);
}

static void test_unread_replies_per_connection(void **state) {
        pipeline(16 * 1024, 1024 * 1024, 1, 20000, 16 * 1024);
}

static void test_unread_replies_per_uid(void **state) {
        /* the UID's bound is below one connection's: together the peers may not pass it */
        pipeline(64 * 1024, 24 * 1024, 3, 5000, 24 * 1024);
}

static void test_client_timeout(void **state) {
        TestServer *t = *state;
        _cleanup_(varlink_unrefp) Varlink *link = connect_to(t), *other = connect_to(t);
        _cleanup_(json_object_putp) json_object *p = json_tokener_parse("{\"text\":\"x\"}");
        json_object *r = NULL;
        const char *error = NULL;

        /* Deferred answers after 2 ms; a 1 µs budget cannot be met, and the connection is given up */
        assert_int_equal(varlink_set_relative_timeout(link, 1), 0);
        assert_int_equal(varlink_call(link, "io.example.Test.Deferred", p, &r, &error), -ETIMEDOUT);
        assert_int_equal(varlink_call(link, "io.example.Test.Stats", NULL, &r, &error), -ENOTCONN);
        /* a later deferred call returns only after the abandoned one's timer ran: nothing stays pending */
        call_ok(other, "io.example.Test.Deferred", "{\"text\":\"y\"}");
}

/* Socket activation, in a child so the fds and environment of this process stay untouched. */
static int listen_auto_in_child(const char *names) {
        int fd, status;
        pid_t pid;

        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                VarlinkServer *s = NULL;
                char buf[32];
                int r;

                struct sockaddr sa = { .sa_family = AF_UNIX };

                /* binding just the family autobinds an abstract address */
                fd = socket(AF_UNIX, SOCK_STREAM, 0);
                if (fd < 0 || bind(fd, &sa, sizeof(sa_family_t)) < 0 || listen(fd, 1) < 0 ||
                    dup2(fd, 3) != 3 || dup2(fd, 4) != 4)
                        _exit(100);
                snprintf(buf, sizeof(buf), "%d", (int) getpid());
                setenv("LISTEN_PID", buf, 1);
                setenv("LISTEN_FDS", "2", 1);
                if (names)
                        setenv("LISTEN_FDNAMES", names, 1);
                else
                        unsetenv("LISTEN_FDNAMES");
                if (varlink_server_new(&s) < 0)
                        _exit(101);
                r = varlink_server_listen_auto(s);
                _exit(r < 0 ? 102 : r);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        return WEXITSTATUS(status);
}

static void test_listen_auto(void **state) {
        assert_int_equal(listen_auto_in_child("varlink:other"), 1);
        assert_int_equal(listen_auto_in_child("varlink:varlink"), 2);
        assert_int_equal(listen_auto_in_child("other:stored"), 0);
        assert_int_equal(listen_auto_in_child(NULL), 2);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_dispatch),
                cmocka_unit_test(test_errno_error),
                cmocka_unit_test(test_validation),
                cmocka_unit_test(test_oneway),
                cmocka_unit_test(test_more),
                cmocka_unit_test(test_upgrade),
                cmocka_unit_test(test_upgrade_peer_not_reading),
                cmocka_unit_test(test_fd_passing),
                cmocka_unit_test(test_fd_passing_violations),
                cmocka_unit_test(test_deferred),
                cmocka_unit_test(test_deferred_oneway),
                cmocka_unit_test(test_replies_before_bad_message),
                cmocka_unit_test(test_subscriber_gone),
                cmocka_unit_test(test_access_check),
                cmocka_unit_test(test_introspection),
                cmocka_unit_test(test_peer_credentials),
                cmocka_unit_test(test_disconnect_once),
                cmocka_unit_test(test_client_timeout),
        };
        const struct CMUnitTest solo[] = {
                cmocka_unit_test(test_caps),
                cmocka_unit_test(test_listen_auto),
                cmocka_unit_test(test_peer_groups),
                cmocka_unit_test(test_fd_passing_off),
                cmocka_unit_test(test_upgrade_leftover),
                cmocka_unit_test(test_unread_replies_per_connection),
                cmocka_unit_test(test_unread_replies_per_uid),
        };
        int r;

        r = cmocka_run_group_tests_name("shared server", tests, group_setup, group_teardown);
        return r + cmocka_run_group_tests_name("own servers", solo, NULL, NULL);
}
