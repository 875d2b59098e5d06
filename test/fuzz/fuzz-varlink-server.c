/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A whole Varlink server, as the manager sets it up (the io.cocoon.* interface tables, an access check,
 * fd passing on), fed the input as a peer's bytes over a socketpair: framing, call parsing, lookup, access
 * check, parameter validation, replies, more and upgrade. The handlers only answer (fuzz the server, not
 * the manager): immediately, with intermediate replies for "more" calls, after an upgrade, or later from
 * the event loop (deferred, as the manager's jobs do), so a peer gone before the answer is covered too.
 * Checked: every message the server writes is a JSON object; every call that wants an answer gets exactly
 * one final reply (deferred answers echo their call's parameters); the server closes the connection once
 * the peer finished sending and read everything (no hang), with no deferred answer left behind. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"
#include "json-util.h"
#include "log.h"
#include "macro.h"
#include "varlink.h"
#include "varlink-interfaces.h"

#define CHUNK 512U
#define IDLE_ROUNDS_MAX 1000U

static const VarlinkInterface *const interfaces[] = {
        &vl_interface_io_cocoon,
        &vl_interface_io_cocoon_Manager,
        &vl_interface_io_cocoon_VM,
        &vl_interface_io_cocoon_Image,
};

static unsigned pending_deferred;

static bool has_suffix(const char *s, const char *suffix) {
        size_t l = s ? strlen(s) : 0, n = strlen(suffix);

        return l >= n && streq(s + l - n, suffix);
}

/* The methods whose answers come later, from the event loop. */
static bool method_is_deferred(const char *method) {
        return has_suffix(method, ".Start") || has_suffix(method, ".Stop");
}

typedef struct Deferred {
        Varlink *link;
        json_object *parameters;
} Deferred;

static int on_deferred(sd_event_source *s, void *userdata) {
        Deferred *d = userdata;

        /* The answer names its call: the peer checks that it is the reply to that call. -ENOTCONN when the
         * peer went away meanwhile. */
        (void) varlink_reply(d->link, d->parameters);
        varlink_unref(d->link);
        json_object_put(d->parameters);
        free(d);
        sd_event_source_unref(s);
        pending_deferred--;
        return 0;
}

static void on_upgraded(int fd, int error, void *userdata) {
        if (fd >= 0)
                close(fd);
}

static int method_answer(Varlink *link, json_object *parameters, VarlinkMethodFlags flags, void *userdata) {
        sd_event *e = userdata;
        int r;

        if (flags & VARLINK_METHOD_UPGRADE)
                return varlink_reply_and_upgrade(link, NULL, on_upgraded, NULL);
        if (flags & VARLINK_METHOD_MORE) {
                r = varlink_notify(link, parameters);
                if (r < 0)
                        return r;
        }
        /* Starts and stops answer later, as the manager's do once their job ran. */
        if (method_is_deferred(varlink_get_current_method(link))) {
                Deferred *d = calloc(1, sizeof(Deferred));

                if (!d)
                        return -ENOMEM;
                r = sd_event_add_defer(e, NULL, on_deferred, d);
                if (r < 0) {
                        free(d);
                        return r;
                }
                d->link = varlink_ref(link);
                d->parameters = json_object_get(parameters);
                pending_deferred++;
                return 0;
        }
        if (has_suffix(varlink_get_current_method(link), ".Inspect"))
                return -ENOENT; /* a handler failing: the layer answers io.cocoon.System */
        return varlink_reply(link, parameters);
}

/* Deletes are refused, so the refusal path (a reply from the access check) is covered. */
static int access_check(Varlink *link, const char *method, void *userdata) {
        const char *dot = strrchr(method, '.');

        if (!dot || !streq(dot, ".Delete"))
                return 0;
        return varlink_error(link, COCOON_ERROR_PERMISSION_DENIED, NULL) < 0 ? -EIO : 1;
}

static VarlinkServer *server_new(sd_event *e) {
        _cleanup_(varlink_server_unrefp) VarlinkServer *s = NULL;

        fuzz_check(varlink_server_new(&s) == 0);
        fuzz_check(varlink_server_set_info(s, "cocoon", "fuzz-varlink-server", "0", "https://") == 0);
        varlink_server_set_userdata(s, e);
        for (size_t i = 0; i < ELEMENTSOF(interfaces); i++) {
                fuzz_check(varlink_server_add_interface(s, interfaces[i]) == 0);
                for (const VarlinkSymbol *const *p = interfaces[i]->symbols; *p; p++) {
                        _cleanup_free_ char *m = NULL;

                        if ((*p)->kind != VARLINK_SYMBOL_METHOD)
                                continue;
                        fuzz_check(asprintf(&m, "%s.%s", interfaces[i]->name, (*p)->name) > 0);
                        fuzz_check(varlink_server_bind_method(s, m, method_answer) == 0);
                }
        }
        fuzz_check(varlink_server_set_access_check(s, access_check) == 0);
        fuzz_check(varlink_server_set_allow_fd_passing_input(s, true) == 0);
        fuzz_check(varlink_server_attach_event(s, e, 0) == 0);
        return TAKE_PTR(s);
}

/* The peer's view of its own bytes, by the rules of varlink-framing.c and parse_call(): a message is
 * what precedes a NUL, one JSON object (depth 64, valid UTF-8, no repeated key, no NUL in strings), with
 * "method" a string, "parameters" an object or null, the flags booleans or null, "oneway" alone. Counts
 * the calls that want a final reply, up to the first message that breaks a rule (the server hangs up
 * there). An upgrade call ends the Varlink conversation only when it succeeds: after an error reply the
 * connection stays Varlink and the calls that follow are served (read_replies() tells which). */
static bool call_is_valid(json_object *o, bool *ret_oneway, bool *ret_upgrade) {
        static const char *const flag_keys[] = { "oneway", "more", "upgrade" };
        bool set[ELEMENTSOF(flag_keys)] = {};
        json_object *v;

        if (!json_object_object_get_ex(o, "method", &v) || !json_object_is_type(v, json_type_string))
                return false;
        if (json_object_object_get_ex(o, "parameters", &v) && v && !json_object_is_type(v, json_type_object))
                return false;
        for (size_t i = 0; i < ELEMENTSOF(flag_keys); i++) {
                if (!json_object_object_get_ex(o, flag_keys[i], &v) || !v)
                        continue;
                if (!json_object_is_type(v, json_type_boolean))
                        return false;
                set[i] = json_object_get_boolean(v);
        }
        if (set[0] && (set[1] || set[2]))
                return false;
        *ret_oneway = set[0];
        *ret_upgrade = set[2];
        return true;
}

/* One entry per call that wants a final reply, in order (calls are served one at a time): the parameters
 * its reply must echo (the deferred Start and Stop answers), or NULL when not checked; and in *upgrades
 * (the same indexes) whether the call asked for an upgrade. */
static json_object *expected_answers(const uint8_t *data, size_t size, json_object **upgrades) {
        json_object *answers = json_object_new_array();

        *upgrades = json_object_new_array();
        fuzz_check(answers && *upgrades);
        for (const char *p = (const char *) data, *end = p + size, *nul; p < end; p = nul + 1) {
                _cleanup_(json_object_putp) json_object *o = NULL;
                json_object *method, *parameters = NULL;
                json_tokener *tok;
                bool oneway, upgrade, trailing = false;
                size_t used;

                nul = memchr(p, '\0', (size_t) (end - p));
                if (!nul)
                        break; /* truncated: the server hangs up once it sees the end */
                tok = json_tokener_new_ex(64);
                fuzz_check(tok);
                json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
                o = json_tokener_parse_ex(tok, p, (int) (nul - p));
                used = o ? json_tokener_get_parse_end(tok) : 0;
                json_tokener_free(tok);
                if (!o || !json_object_is_type(o, json_type_object) || json_verify_text(o, p, used) < 0)
                        break;
                for (const char *c = p + used; c < nul; c++)
                        trailing = trailing || !strchr(" \t\r\n", *c);
                if (trailing || !call_is_valid(o, &oneway, &upgrade))
                        break;
                if (!oneway) {
                        fuzz_check(json_object_object_get_ex(o, "method", &method));
                        (void) json_object_object_get_ex(o, "parameters", &parameters);
                        if (upgrade || !method_is_deferred(json_object_get_string(method)))
                                parameters = NULL;
                        fuzz_check(json_object_array_add(answers, json_object_get(parameters)) == 0);
                        fuzz_check(json_object_array_add(*upgrades, json_object_new_boolean(upgrade)) == 0);
                }
        }
        return answers;
}

/* Reads what the server wrote; checks every complete message, and every final reply (one without
 * "continues") against the answer expected for its call. A successful reply to an upgrade call ends what
 * may come: *limit, the number of final replies expected, becomes its index + 1. Returns whether anything
 * came. */
static bool read_replies(int fd, char **buf, size_t *size, json_object *answers, json_object *upgrades,
                         size_t *limit, size_t *n_final) {
        bool got = false;

        for (;;) {
                char chunk[4096];
                ssize_t n = read(fd, chunk, sizeof(chunk));

                if (n <= 0)
                        return got;
                got = true;
                char *b = realloc(*buf, *size + (size_t) n);
                fuzz_check(b);
                memcpy(b + *size, chunk, (size_t) n);
                *buf = b;
                *size += (size_t) n;

                char *end;
                while ((end = memchr(*buf, '\0', *size))) {
                        _cleanup_(json_object_putp) json_object *o = NULL;
                        size_t l = (size_t) (end - *buf);
                        json_object *c, *want, *got_parameters = NULL;

                        if (getenv("FUZZ_DEBUG"))
                                fprintf(stderr, "reply: %.*s\n", (int) l, *buf);
                        if (json_parse(*buf, l, &o) < 0 || !json_object_is_type(o, json_type_object)) {
                                fprintf(stderr, "server sent no JSON object: %.*s\n", (int) l, *buf);
                                abort();
                        }
                        memmove(*buf, end + 1, *size - l - 1);
                        *size -= l + 1;
                        if (json_object_object_get_ex(o, "continues", &c) && json_object_get_boolean(c))
                                continue;

                        /* The n-th final reply answers the n-th call that wants one. */
                        fuzz_check(*n_final < *limit);
                        if (json_object_get_boolean(json_object_array_get_idx(upgrades, *n_final)) &&
                            !json_object_object_get_ex(o, "error", NULL))
                                *limit = *n_final + 1;
                        want = json_object_array_get_idx(answers, (*n_final)++);
                        (void) json_object_object_get_ex(o, "parameters", &got_parameters);
                        if (want && !json_object_object_get_ex(o, "error", NULL) &&
                            !json_object_equal(want, got_parameters)) {
                                fprintf(stderr, "reply %s answers another call than %s\n",
                                        json_to_string(o), json_to_string(want));
                                abort();
                        }
                }
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        /* One server for all inputs: setting it up (verifying the interface tables) cost more than most
         * inputs. Each input leaves it as it found it: its connection closed, no answer pending. */
        static sd_event *e;
        static VarlinkServer *s;
        _cleanup_free_ char *replies = NULL;
        _cleanup_(json_object_putp) json_object *upgrades = NULL;
        _cleanup_(json_object_putp) json_object *answers = expected_answers(data, size, &upgrades);
        size_t offset = 0, replies_size = 0, n_final = 0, limit = json_object_array_length(answers);
        unsigned idle = 0;
        int pair[2];

        if (!s) {
                /* A debug line per bad input otherwise; FUZZ_DEBUG=1 shows them, and every reply. */
                log_set_max_level(getenv("FUZZ_DEBUG") ? LOG_DEBUG : LOG_CRIT);
                fuzz_check(sd_event_new(&e) >= 0);
                s = server_new(e);
        }
        fuzz_check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) == 0);
        fuzz_check(varlink_server_add_connection(s, pair[0], NULL) == 0);
        if (size == 0)
                fuzz_check(shutdown(pair[1], SHUT_WR) == 0);

        for (;;) {
                bool progress = false;
                int r;

                if (offset < size) {
                        ssize_t n = send(pair[1], data + offset, MIN(size - offset, (size_t) CHUNK),
                                         MSG_NOSIGNAL);

                        if (n > 0) {
                                offset += (size_t) n;
                                progress = true;
                                if (offset == size)
                                        fuzz_check(shutdown(pair[1], SHUT_WR) == 0);
                        } else if (n < 0 && errno == EPIPE)
                                offset = size; /* the server closed: the rest cannot matter */
                        else
                                fuzz_check(n < 0 && errno == EAGAIN);
                }
                if (read_replies(pair[1], &replies, &replies_size, answers, upgrades, &limit, &n_final))
                        progress = true;
                r = sd_event_run(e, 0);
                fuzz_check(r >= 0);
                if (r > 0)
                        progress = true;

                if (offset == size && varlink_server_current_connections(s) == 0 && pending_deferred == 0)
                        break;
                idle = progress ? 0 : idle + 1;
                /* The peer sent everything and took every reply: the server must finish the connection. */
                fuzz_check(idle < IDLE_ROUNDS_MAX);
        }

        /* What the server wrote before it closed. */
        (void) read_replies(pair[1], &replies, &replies_size, answers, upgrades, &limit, &n_final);
        close(pair[1]);

        /* Every call that wants an answer got exactly one (up to a successful upgrade). */
        if (n_final != limit)
                fprintf(stderr, "%zu final replies, %zu calls wanting one\n", n_final, limit);
        fuzz_check(n_final == limit);
        return 0;
}
