/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* org.varlink.certification served by our Varlink layer, for a third-party certification client.
 * Usage: cert-server SOCKET-PATH. Exits 0 once a client finished the sequence with every value right,
 * 1 when it finished with a mistake, 2 when nobody finished within 120 s. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-event.h>
#include <time.h>

#include "cert-common.h"
#include "cert-interface.h"
#include "json-util.h"
#include "varlink.h"

#define CLIENTS_MAX 16

typedef struct Client {
        char id[40];
        unsigned step; /* the last TestNN done (Start = 0) */
        bool ok;
} Client;

static Client clients[CLIENTS_MAX];
static unsigned n_clients;
static unsigned calls;

static int reply_take(Varlink *link, json_object *p) {
        int r;

        if (!p)
                return -ENOMEM;
        r = varlink_reply(link, p);
        json_object_put(p);
        return r;
}

/* Finds the caller's client and checks it calls step `step` next; replies with an error otherwise. */
static Client *client_for(Varlink *link, json_object *parameters, unsigned step) {
        const char *id = NULL;

        calls++;
        (void) json_get_string(parameters, "client_id", &id);
        for (unsigned i = 0; id && i < n_clients; i++)
                if (streq(clients[i].id, id)) {
                        if (clients[i].step + 1 != step)
                                clients[i].ok = false;
                        clients[i].step = step;
                        return &clients[i];
                }
        (void) varlink_error(link, "org.varlink.certification.ClientIdError", NULL);
        return NULL;
}

/* Compares a received value with the expected one (which it takes); a mismatch fails the client. */
static int expect(Varlink *link, Client *c, json_object *wants, json_object *got) {
        json_object *p;

        if (cert_json_equal(wants, got)) {
                json_object_put(wants);
                return 0;
        }
        fprintf(stderr, "cert-server: step %u: expected %s, got %s\n", c->step,
                json_object_to_json_string(wants), json_object_to_json_string(got));
        c->ok = false;
        p = cert_object(2, "wants", wants, "got", json_object_get(got));
        (void) varlink_error(link, "org.varlink.certification.CertificationError", p);
        json_object_put(p);
        return 1;
}

static json_object *field(json_object *o, const char *key) {
        json_object *v = NULL;

        (void) json_object_object_get_ex(o, key, &v);
        return v;
}

static json_object *four_types(void) {
        return cert_object(4, "bool", json_object_new_boolean(false), "int", json_object_new_int64(2),
                           "float", json_object_new_double(CERT_PI), "string",
                           json_object_new_string(CERT_STRING));
}

static int vl_method_start(Varlink *link, json_object *parameters, VarlinkMethodFlags flags,
                           void *userdata) {
        Client *c;

        calls++;
        if (n_clients >= CLIENTS_MAX)
                return -EBUSY;
        c = &clients[n_clients++];
        snprintf(c->id, sizeof(c->id), "cocoon-%ld-%u", (long) time(NULL), n_clients);
        c->ok = true;
        c->step = 0;
        return reply_take(link, cert_object(1, "client_id", json_object_new_string(c->id)));
}

static int vl_method_test01(Varlink *link, json_object *parameters, VarlinkMethodFlags flags,
                            void *userdata) {
        if (!client_for(link, parameters, 1))
                return 0;
        return reply_take(link, cert_object(1, "bool", json_object_new_boolean(true)));
}

static int vl_method_test02(Varlink *link, json_object *parameters, VarlinkMethodFlags flags,
                            void *userdata) {
        Client *c = client_for(link, parameters, 2);

        if (!c || expect(link, c, json_object_new_boolean(true), field(parameters, "bool")))
                return 0;
        return reply_take(link, cert_object(1, "int", json_object_new_int64(1)));
}

static int vl_method_test03(Varlink *link, json_object *parameters, VarlinkMethodFlags flags,
                            void *userdata) {
        Client *c = client_for(link, parameters, 3);

        if (!c || expect(link, c, json_object_new_int64(1), field(parameters, "int")))
                return 0;
        return reply_take(link, cert_object(1, "float", json_object_new_double(1.0)));
}

static int vl_method_test04(Varlink *link, json_object *parameters, VarlinkMethodFlags flags,
                            void *userdata) {
        Client *c = client_for(link, parameters, 4);

        if (!c || expect(link, c, json_object_new_double(1.0), field(parameters, "float")))
                return 0;
        return reply_take(link, cert_object(1, "string", json_object_new_string("ping")));
}

static int vl_method_test05(Varlink *link, json_object *parameters, VarlinkMethodFlags flags,
                            void *userdata) {
        Client *c = client_for(link, parameters, 5);

        if (!c || expect(link, c, json_object_new_string("ping"), field(parameters, "string")))
                return 0;
        return reply_take(link, four_types());
}

static int vl_method_test06(Varlink *link, json_object *parameters, VarlinkMethodFlags flags,
                            void *userdata) {
        _cleanup_(json_object_putp) json_object *got = json_object_get(parameters);
        Client *c = client_for(link, parameters, 6);
        json_object *wants;

        if (!c)
                return 0;
        wants = four_types();
        if (wants)
                json_object_object_add(wants, "client_id", json_object_new_string(c->id));
        if (expect(link, c, wants, got))
                return 0;
        return reply_take(link, cert_object(1, "struct", four_types()));
}

static int vl_method_test07(Varlink *link, json_object *parameters, VarlinkMethodFlags flags,
                            void *userdata) {
        Client *c = client_for(link, parameters, 7);

        if (!c || expect(link, c, four_types(), field(parameters, "struct")))
                return 0;
        return reply_take(link, cert_object(1, "map",
                                            cert_object(2, "bar", json_object_new_string("Bar"), "foo",
                                                        json_object_new_string("Foo"))));
}

static int vl_method_test08(Varlink *link, json_object *parameters, VarlinkMethodFlags flags,
                            void *userdata) {
        Client *c = client_for(link, parameters, 8);

        if (!c || expect(link, c,
                         cert_object(2, "bar", json_object_new_string("Bar"), "foo",
                                     json_object_new_string("Foo")),
                         field(parameters, "map")))
                return 0;
        return reply_take(
                link, cert_object(1, "set",
                                  cert_object(3, "one", json_object_new_object(), "two",
                                              json_object_new_object(), "three", json_object_new_object())));
}

static int vl_method_test09(Varlink *link, json_object *parameters, VarlinkMethodFlags flags,
                            void *userdata) {
        Client *c = client_for(link, parameters, 9);

        if (!c || expect(link, c,
                         cert_object(3, "one", json_object_new_object(), "two", json_object_new_object(),
                                     "three", json_object_new_object()),
                         field(parameters, "set")))
                return 0;
        return reply_take(link, cert_object(1, "mytype", cert_mytype_new()));
}

static int vl_method_test10(Varlink *link, json_object *parameters, VarlinkMethodFlags flags,
                            void *userdata) {
        Client *c = client_for(link, parameters, 10);
        int r;

        if (!c || expect(link, c, cert_mytype_new(), field(parameters, "mytype")))
                return 0;
        for (unsigned i = 1; i <= CERT_REPLIES; i++) {
                char s[32];

                snprintf(s, sizeof(s), "Reply number %u", i);
                json_object *p = cert_object(1, "string", json_object_new_string(s));
                if (!p)
                        return -ENOMEM;
                r = i < CERT_REPLIES ? varlink_notify(link, p) : varlink_reply(link, p);
                json_object_put(p);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int vl_method_test11(Varlink *link, json_object *parameters, VarlinkMethodFlags flags,
                            void *userdata) {
        Client *c = client_for(link, parameters, 11);
        json_object *wants;

        if (!c)
                return 0;
        if (!(flags & VARLINK_METHOD_ONEWAY)) {
                fprintf(stderr, "cert-server: Test11 was not called with oneway\n");
                c->ok = false;
        }
        wants = json_object_new_array();
        for (unsigned i = 1; wants && i <= CERT_REPLIES; i++) {
                char s[32];

                snprintf(s, sizeof(s), "Reply number %u", i);
                json_object_array_add(wants, json_object_new_string(s));
        }
        (void) expect(link, c, wants, field(parameters, "last_more_replies"));
        return varlink_reply(link, NULL); /* dropped: oneway */
}

static int vl_method_end(Varlink *link, json_object *parameters, VarlinkMethodFlags flags, void *userdata) {
        Client *c = client_for(link, parameters, 12);
        bool ok;
        int r;

        if (!c)
                return 0;
        ok = c->ok;
        r = reply_take(link, cert_object(1, "all_ok", json_object_new_boolean(ok)));
        if (r >= 0)
                r = varlink_flush(link); /* the loop ends after this iteration: send the reply now */
        (void) sd_event_exit(userdata, ok ? 0 : 1);
        return r;
}

static int on_watchdog(sd_event_source *s, uint64_t usec, void *userdata) {
        fprintf(stderr, "cert-server: no client finished the sequence in time\n");
        return sd_event_exit(sd_event_source_get_event(s), 2);
}

static const struct {
        const char *method;
        VarlinkMethod callback;
} methods[] = {
        { "org.varlink.certification.Start", vl_method_start },
        { "org.varlink.certification.Test01", vl_method_test01 },
        { "org.varlink.certification.Test02", vl_method_test02 },
        { "org.varlink.certification.Test03", vl_method_test03 },
        { "org.varlink.certification.Test04", vl_method_test04 },
        { "org.varlink.certification.Test05", vl_method_test05 },
        { "org.varlink.certification.Test06", vl_method_test06 },
        { "org.varlink.certification.Test07", vl_method_test07 },
        { "org.varlink.certification.Test08", vl_method_test08 },
        { "org.varlink.certification.Test09", vl_method_test09 },
        { "org.varlink.certification.Test10", vl_method_test10 },
        { "org.varlink.certification.Test11", vl_method_test11 },
        { "org.varlink.certification.End", vl_method_end },
};

int main(int argc, char *argv[]) {
        _cleanup_(varlink_server_unrefp) VarlinkServer *server = NULL;
        sd_event *event = NULL;
        int r, code;

        if (argc != 2) {
                fprintf(stderr, "Usage: %s SOCKET-PATH\n", argv[0]);
                return 2;
        }
        r = sd_event_new(&event);
        if (r >= 0)
                r = varlink_server_new(&server);
        if (r >= 0)
                r = varlink_server_set_info(server, "cocoon", "cert-server", "1",
                                            "https://github.com/cocoonstack");
        if (r >= 0)
                r = varlink_server_add_interface(server, &vl_interface_org_varlink_certification);
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(methods); i++)
                r = varlink_server_bind_method(server, methods[i].method, methods[i].callback);
        if (r >= 0) {
                varlink_server_set_userdata(server, event);
                r = varlink_server_listen_address(server, argv[1], 0600);
        }
        if (r >= 0)
                r = varlink_server_attach_event(server, event, 0);
        if (r >= 0)
                r = sd_event_add_time_relative(event, NULL, CLOCK_MONOTONIC, 120 * 1000000ULL, 0,
                                               on_watchdog, NULL);
        if (r < 0) {
                fprintf(stderr, "cert-server: setup failed: %s\n", strerror(-r));
                return 2;
        }

        fprintf(stderr, "cert-server: listening on %s\n", argv[1]);
        code = sd_event_loop(event);
        fprintf(stderr, "cert-server: %u calls, result %s\n", calls, code == 0 ? "all ok" : "FAILED");
        server = varlink_server_unref(server);
        sd_event_unref(event);
        return code < 0 ? 2 : code;
}
