/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Runs the Varlink certification sequence (Start, Test01..Test11, End) with our client against a
 * third-party certification server. Usage: cert-client ADDRESS. Exits 0 when every step succeeded. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cert-common.h"
#include "cert-interface.h"
#include "json-util.h"
#include "varlink.h"

static const VarlinkInterface *const cert = &vl_interface_org_varlink_certification;
static Varlink *peer;
static char *client_id;

static int failf(const char *step, const char *what, json_object *o) {
        fprintf(stderr, "cert-client: %s: %s%s%s\n", step, what, o ? ": " : "",
                o ? json_object_to_json_string(o) : "");
        return -EPROTO;
}

/* One call; the reply must be a success that matches the method's declared output. Takes `parameters`. */
static int call(const char *name, json_object *parameters, json_object **ret) {
        _cleanup_(json_object_putp) json_object *p = parameters;
        const VarlinkSymbol *s = varlink_idl_find_symbol(cert, VARLINK_SYMBOL_METHOD, name);
        const char *error = NULL, *bad = NULL;
        char method[128];
        json_object *reply = NULL;
        int r;

        if (p)
                json_object_object_add(p, "client_id", json_object_new_string(client_id));
        snprintf(method, sizeof(method), "org.varlink.certification.%s", name);
        r = varlink_call(peer, method, p, &reply, &error);
        if (r < 0) {
                fprintf(stderr, "cert-client: %s: %s\n", name, strerror(-r));
                return r;
        }
        if (error)
                return failf(name, error, reply);
        if (varlink_idl_validate_fields(cert, s->output, reply, &bad) < 0) {
                fprintf(stderr, "cert-client: %s: reply field '%s' does not match the IDL\n", name, bad);
                return failf(name, "reply", reply);
        }
        printf("%s: %s\n", name, json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN));
        *ret = reply;
        return 0;
}

/* The reply's `key` must equal `wants` (taken); returns a new reference to the received value. */
static int take_value(const char *step, json_object *reply, const char *key, json_object *wants,
                      json_object **ret) {
        _cleanup_(json_object_putp) json_object *w = wants;
        json_object *v = NULL;

        (void) json_object_object_get_ex(reply, key, &v);
        if (!cert_json_equal(w, v))
                return failf(step, "unexpected value", reply);
        *ret = json_object_get(v);
        return 0;
}

/* Compares the peer's own description with ours, ignoring comments and flags (which have no syntax). */
static int check_description(void) {
        _cleanup_(json_object_putp) json_object *p =
                cert_object(1, "interface", json_object_new_string(cert->name));
        VarlinkInterface *parsed = NULL;
        const char *error = NULL, *text = NULL;
        json_object *reply = NULL;
        unsigned line = 0;
        int r;

        r = varlink_call(peer, "org.varlink.service.GetInterfaceDescription", p, &reply, &error);
        if (r < 0 || error || json_get_string(reply, "description", &text) < 0)
                return failf("GetInterfaceDescription", error ?: "failed", reply);
        r = varlink_idl_parse(text, &parsed, &line);
        if (r < 0) {
                fprintf(stderr, "cert-client: the peer's IDL does not parse (line %u):\n%s\n", line, text);
                return r;
        }
        for (const VarlinkSymbol *const *s = cert->symbols; *s && r >= 0; s++) {
                const VarlinkSymbol *o = varlink_idl_find_symbol(parsed, (*s)->kind, (*s)->name);
                VarlinkSymbol a = **s, b;
                const VarlinkSymbol *sa[] = { &a, NULL }, *sb[] = { &b, NULL };
                VarlinkInterface ia = { .name = "x.y", .symbols = sa },
                                 ib = { .name = "x.y", .symbols = sb };
                _cleanup_free_ char *ta = NULL, *tb = NULL;

                if (!o) {
                        fprintf(stderr, "cert-client: the peer's IDL lacks %s\n", (*s)->name);
                        r = -EPROTO;
                        break;
                }
                b = *o;
                a.doc = b.doc = NULL;
                a.flags = b.flags = 0;
                ta = varlink_idl_format(&ia);
                tb = varlink_idl_format(&ib);
                if (!ta || !tb || !streq(ta, tb)) {
                        fprintf(stderr, "cert-client: %s differs:\n%s\nvs. ours:\n%s\n", (*s)->name, tb, ta);
                        r = -EPROTO;
                }
        }
        varlink_interface_free(parsed);
        if (r >= 0)
                printf("GetInterfaceDescription: parsed, matches our declaration\n");
        return r;
}

static json_object *four_types(void) {
        return cert_object(4, "bool", json_object_new_boolean(false), "int", json_object_new_int64(2),
                           "float", json_object_new_double(CERT_PI), "string",
                           json_object_new_string(CERT_STRING));
}

static int run_tests_01_to_09(json_object **ret_mytype) {
        _cleanup_(json_object_putp) json_object *b = NULL, *i = NULL, *f = NULL, *s = NULL, *st = NULL,
                                                *m = NULL, *set = NULL;
        json_object *reply;
        int r;

        if ((r = call("Test01", json_object_new_object(), &reply)) < 0 ||
            (r = take_value("Test01", reply, "bool", json_object_new_boolean(true), &b)) < 0)
                return r;
        if ((r = call("Test02", cert_object(1, "bool", json_object_get(b)), &reply)) < 0 ||
            (r = take_value("Test02", reply, "int", json_object_new_int64(1), &i)) < 0)
                return r;
        if ((r = call("Test03", cert_object(1, "int", json_object_get(i)), &reply)) < 0 ||
            (r = take_value("Test03", reply, "float", json_object_new_double(1.0), &f)) < 0)
                return r;
        if ((r = call("Test04", cert_object(1, "float", json_object_get(f)), &reply)) < 0 ||
            (r = take_value("Test04", reply, "string", json_object_new_string("ping"), &s)) < 0)
                return r;
        if ((r = call("Test05", cert_object(1, "string", json_object_get(s)), &reply)) < 0)
                return r;
        {
                _cleanup_(json_object_putp) json_object *wants = four_types(), *copy = NULL;

                if (!cert_json_equal(wants, reply))
                        return failf("Test05", "unexpected value", reply);
                /* Test05's reply, as it came, is Test06's input */
                if (json_object_deep_copy(reply, &copy, NULL) < 0)
                        return -ENOMEM;
                r = call("Test06", TAKE_PTR(copy), &reply);
        }
        if (r < 0 || (r = take_value("Test06", reply, "struct", four_types(), &st)) < 0)
                return r;
        if ((r = call("Test07", cert_object(1, "struct", json_object_get(st)), &reply)) < 0 ||
            (r = take_value("Test07", reply, "map",
                            cert_object(2, "bar", json_object_new_string("Bar"), "foo",
                                        json_object_new_string("Foo")),
                            &m)) < 0)
                return r;
        if ((r = call("Test08", cert_object(1, "map", json_object_get(m)), &reply)) < 0 ||
            (r = take_value("Test08", reply, "set",
                            cert_object(3, "one", json_object_new_object(), "two", json_object_new_object(),
                                        "three", json_object_new_object()),
                            &set)) < 0)
                return r;
        if ((r = call("Test09", cert_object(1, "set", json_object_get(set)), &reply)) < 0)
                return r;
        return take_value("Test09", reply, "mytype", cert_mytype_new(), ret_mytype);
}

static int run_test10_11(json_object *mytype) {
        _cleanup_(json_object_putp) json_object *p = cert_object(
                2, "client_id", json_object_new_string(client_id), "mytype", json_object_get(mytype));
        _cleanup_(json_object_putp) json_object *replies = json_object_new_array();
        bool continues = true;
        int r;

        r = varlink_observe(peer, "org.varlink.certification.Test10", p);
        if (r < 0)
                return failf("Test10", strerror(-r), NULL);
        for (unsigned n = 1; continues; n++) {
                const char *error = NULL, *s = NULL;
                json_object *reply = NULL;
                char wants[32];

                r = varlink_observe_next(peer, &reply, &error, &continues);
                if (r < 0)
                        return failf("Test10", strerror(-r), NULL);
                if (error)
                        return failf("Test10", error, reply);
                snprintf(wants, sizeof(wants), "Reply number %u", n);
                if (json_get_string(reply, "string", &s) < 0 || !streq(s, wants) || n > CERT_REPLIES ||
                    (n == CERT_REPLIES) == continues)
                        return failf("Test10", "unexpected reply", reply);
                printf("Test10: %s%s\n", json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN),
                       continues ? " (continues)" : "");
                json_object_array_add(replies, json_object_new_string(s));
        }

        json_object_put(p);
        p = cert_object(2, "client_id", json_object_new_string(client_id), "last_more_replies",
                        json_object_get(replies));
        r = varlink_send_oneway(peer, "org.varlink.certification.Test11", p);
        if (r < 0)
                return failf("Test11", strerror(-r), NULL);
        printf("Test11: sent oneway\n");
        return 0;
}

int main(int argc, char *argv[]) {
        _cleanup_(json_object_putp) json_object *mytype = NULL, *id = NULL;
        json_object *reply;
        bool ok = false;
        int r;

        if (argc != 2) {
                fprintf(stderr, "Usage: %s ADDRESS\n", argv[0]);
                return 2;
        }
        setvbuf(stdout, NULL, _IOLBF, 0); /* keep stdout and stderr lines in order when piped */
        r = varlink_connect_address(&peer, argv[1]);
        if (r < 0) {
                fprintf(stderr, "cert-client: cannot connect to %s: %s\n", argv[1], strerror(-r));
                return 1;
        }

        r = check_description();
        if (r >= 0)
                r = call("Start", NULL, &reply);
        if (r >= 0) {
                const char *s = NULL;

                if (json_get_string(reply, "client_id", &s) < 0 || !(client_id = strdup(s)))
                        r = -EPROTO;
        }
        if (r >= 0)
                r = run_tests_01_to_09(&mytype);
        if (r >= 0)
                r = run_test10_11(mytype);
        if (r >= 0)
                r = call("End", json_object_new_object(), &reply);
        if (r >= 0)
                ok = json_object_get_boolean(json_object_object_get(reply, "all_ok"));

        printf("cert-client: %s\n", ok ? "all ok" : "FAILED");
        free(client_id);
        varlink_unref(peer);
        return ok ? 0 : 1;
}
