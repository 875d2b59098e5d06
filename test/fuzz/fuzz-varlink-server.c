/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A whole Varlink server, as the manager sets it up (the io.cocoon.* interface tables, an access check,
 * fd passing on), fed the input as a peer's bytes over a socketpair: framing, call parsing, lookup, access
 * check, parameter validation, replies, more and upgrade. The handlers only answer (fuzz the server, not
 * the manager): immediately, with intermediate replies for "more" calls, after an upgrade, or later from
 * the event loop (deferred, as the manager's jobs do), so a peer gone before the answer is covered too.
 * Checked: every message the server writes is a JSON object, and the server closes the connection once
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

static bool method_has_suffix(Varlink *link, const char *suffix) {
        const char *m = varlink_get_current_method(link);
        size_t l = m ? strlen(m) : 0, s = strlen(suffix);

        return l >= s && streq(m + l - s, suffix);
}

static int on_deferred(sd_event_source *s, void *userdata) {
        Varlink *link = userdata;

        (void) varlink_reply(link, NULL); /* -ENOTCONN when the peer went away meanwhile */
        varlink_unref(link);
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
        if (method_has_suffix(link, ".Start") || method_has_suffix(link, ".Stop")) {
                r = sd_event_add_defer(e, NULL, on_deferred, varlink_ref(link));
                if (r < 0) {
                        varlink_unref(link);
                        return r;
                }
                pending_deferred++;
                return 0;
        }
        if (method_has_suffix(link, ".Inspect"))
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

/* Reads what the server wrote; checks every complete message. Returns whether anything came. */
static bool read_replies(int fd, char **buf, size_t *size) {
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

                        if (json_parse(*buf, l, &o) < 0 || !json_object_is_type(o, json_type_object)) {
                                fprintf(stderr, "server sent no JSON object: %.*s\n", (int) l, *buf);
                                abort();
                        }
                        memmove(*buf, end + 1, *size - l - 1);
                        *size -= l + 1;
                }
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        /* One server for all inputs: setting it up (verifying the interface tables) cost more than most
         * inputs. Each input leaves it as it found it: its connection closed, no answer pending. */
        static sd_event *e;
        static VarlinkServer *s;
        _cleanup_free_ char *replies = NULL;
        size_t offset = 0, replies_size = 0;
        unsigned idle = 0;
        int pair[2];

        if (!s) {
                log_set_max_level(LOG_CRIT); /* every bad message is a debug line otherwise */
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
                if (read_replies(pair[1], &replies, &replies_size))
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

        close(pair[1]);
        return 0;
}
