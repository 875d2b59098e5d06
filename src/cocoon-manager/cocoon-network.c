/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cocoon-network: sets up, checks and tears down the CNI networks of VMs for cocoon-manager, serving
 * io.cocoon.Network on its own socket (cocoon-network.socket, root only), started on the first call and
 * exiting when idle. It exists because the manager cannot: its sandbox has a private mount namespace (a
 * namespace bound under /run/netns there would be invisible to systemd's NetworkNamespacePath= and to
 * `ip netns`) and no CAP_SYS_ADMIN, and CNI plugins need the host's view (setns, iptables, sysctls). Long
 * lived, so that a NIC costs the plugins' work and not a unit's start.
 *
 * Every call names one VM: id, pluginDirectory, cacheDirectory (where each NIC's ADD result is kept for DEL
 * and CHECK), conflist (the checked conflist), uid and gid (the TAPs' owner), nics [{ifName, tap,
 * multiQueue, ip}]; Add and Ensure answer {"nics": [{ip, prefix, gateway, mac, dns}]} (Ensure also
 * "recreated"), failures are io.cocoon.Network.Failed with the plugin's text. Add: the namespace
 * cocoon-<id>, then per NIC CNI ADD, its TAP and the tc redirects; any failure undoes all of it (DEL in
 * reverse, namespace removed). Ensure: keeps a namespace whose TAPs exist and whose CHECK passes, else
 * deletes what is left and adds again asking IPAM for each NIC's recorded ip (CNI_ARGS IP=). Delete: DEL in
 * reverse for every NIC, best effort, then the namespace goes. Each call runs in a thread of its own; the
 * manager serializes the calls of one VM. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "config.h"
#include "fd-util.h"
#include "fs-util.h"
#include "json-util.h"
#include "log.h"
#include "macro.h"
#include "network-cni-tap.h"
#include "network-cni.h"
#include "network-netns.h"
#include "parse-util.h"
#include "strv-util.h"
#include "time-util.h"
#include "varlink-interfaces.h"
#include "varlink.h"

#define REQUEST_SIZE_MAX (1024U * 1024U)
#define NICS_MAX 8U

typedef struct Nic {
        const char *if_name;
        const char *tap;
        bool multi_queue;
        const char *ip; /* ask IPAM for this one (ensure) */
        CniResult *result;
        char mac[18];
} Nic;

typedef struct Request {
        const char *command;
        const char *id;
        const char *plugin_dir;
        const char *cache_dir;
        json_object *conflist_json;
        int64_t uid, gid;
        json_object *nics_json;
        json_object *lease_files_json;
        CniConflist *conflist;
        char *netns_name;
        char *netns_path;
        Nic nics[NICS_MAX];
        size_t n_nics;
} Request;

static void request_done(Request *q) {
        cni_conflist_free(q->conflist);
        free(q->netns_name);
        free(q->netns_path);
        for (size_t i = 0; i < q->n_nics; i++)
                cni_result_free(q->nics[i].result);
}

static int dispatch_object(const char *name, json_object *v, void *p) {
        *(json_object **) p = v;
        return 0;
}

static bool plain_ifname(const char *s) {
        return s && strlen(s) > 0 && strlen(s) < 16 && !strpbrk(s, "/: \t\n") && !streq(s, ".") &&
               !streq(s, "..");
}

static int request_parse_nics(Request *q, char **ret_error) {
        static const JsonDispatch table[] = {
                {"ifName", json_type_string, json_dispatch_const_string, offsetof(Nic, if_name),
                 JSON_MANDATORY},
                {"tap", json_type_string, json_dispatch_const_string, offsetof(Nic, tap), JSON_NULLABLE},
                {"multiQueue", json_type_boolean, json_dispatch_bool, offsetof(Nic, multi_queue), 0},
                {"ip", json_type_string, json_dispatch_const_string, offsetof(Nic, ip), JSON_NULLABLE},
                {},
        };
        size_t n = json_object_array_length(q->nics_json);
        /* A Delete may name no NIC (gc of a namespace alone) and needs no TAP names. */
        bool del = streq(q->command, "del");
        if ((n == 0 && !del) || n > NICS_MAX)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                Nic *nic = q->nics + i;
                if (json_dispatch(json_object_array_get_idx(q->nics_json, i), table, 0, nic, NULL) < 0 ||
                    !plain_ifname(nic->if_name) || (!del && !plain_ifname(nic->tap)) ||
                    (nic->tap && !plain_ifname(nic->tap)) ||
                    (nic->ip && strspn(nic->ip, "0123456789.") != strlen(nic->ip)))
                        return -EINVAL;
                q->n_nics++;
        }
        return 0;
}

static int request_parse(json_object *o, Request *q, char **ret_error) {
        static const JsonDispatch table[] = {
                {"id", json_type_string, json_dispatch_const_string, offsetof(Request, id), JSON_MANDATORY},
                {"pluginDirectory", json_type_string, json_dispatch_const_string,
                 offsetof(Request, plugin_dir), JSON_MANDATORY},
                {"cacheDirectory", json_type_string, json_dispatch_const_string,
                 offsetof(Request, cache_dir), JSON_MANDATORY},
                {"conflist", json_type_object, dispatch_object, offsetof(Request, conflist_json),
                 JSON_NULLABLE},
                {"uid", json_type_int, json_dispatch_int64, offsetof(Request, uid), 0},
                {"gid", json_type_int, json_dispatch_int64, offsetof(Request, gid), 0},
                {"nics", json_type_array, dispatch_object, offsetof(Request, nics_json), JSON_MANDATORY},
                {"leaseFiles", json_type_array, dispatch_object, offsetof(Request, lease_files_json),
                 JSON_NULLABLE},
                {},
        };
        int r = json_dispatch(o, table, 0, q, NULL);
        if (r < 0 || !q->command || q->plugin_dir[0] != '/' || q->cache_dir[0] != '/' || q->uid < 0 ||
            q->gid < 0 ||
            q->uid > UINT32_MAX || q->gid > UINT32_MAX)
                return -EINVAL;
        if (q->conflist_json) {
                const char *text = json_to_string(q->conflist_json);
                r = cni_conflist_parse(text, strlen(text), &q->conflist, ret_error);
                if (r < 0)
                        return r;
        } else if (!streq(q->command, "del"))
                return -EINVAL;
        if ((r = netns_name_for_vm(q->id, &q->netns_name)) < 0 ||
            (r = netns_path_for_vm(q->id, &q->netns_path)) < 0)
                return r;
        return request_parse_nics(q, ret_error);
}

static CniRuntime nic_runtime(const Request *q, const Nic *nic, char *args) {
        return (CniRuntime){.plugin_dir = q->plugin_dir,
                            .container_id = q->id,
                            .netns = q->netns_path,
                            .ifname = nic->if_name,
                            .args = args};
}

/* The ADD result of a NIC, as kept for DEL and CHECK; NULL when there is none. */
static json_object *cache_read(const Request *q, const Nic *nic) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        json_object *o = NULL;
        size_t size;
        if (asprintf(&path, "%s/%s.json", q->cache_dir, nic->if_name) < 0 ||
            read_full_file(path, &text, &size) < 0 || size > CNI_OUTPUT_SIZE_MAX ||
            json_parse(text, size, &o) < 0)
                return NULL;
        return o;
}

static int cache_write(const Request *q, const Nic *nic) {
        _cleanup_free_ char *path = NULL;
        const char *text = json_to_string(nic->result->json);
        if (mkdir_p(q->cache_dir, 0700) < 0 || asprintf(&path, "%s/%s.json", q->cache_dir, nic->if_name) < 0)
                return -ENOMEM;
        return write_file_atomic_at(AT_FDCWD, path, text, strlen(text), 0600);
}

static void cache_remove(const Request *q, const Nic *nic) {
        _cleanup_free_ char *path = NULL;
        if (asprintf(&path, "%s/%s.json", q->cache_dir, nic->if_name) >= 0)
                (void) unlink(path);
}

/* DEL of every NIC in reverse (those below n), best effort, then the namespace. */
static int teardown(Request *q, size_t n, char **ret_error) {
        int ret = 0;
        for (size_t i = n; i > 0; i--) {
                Nic *nic = q->nics + i - 1;
                _cleanup_(json_object_putp) json_object *prev = cache_read(q, nic);
                _cleanup_free_ char *error = NULL;
                CniRuntime rt = nic_runtime(q, nic, NULL);
                int r = q->conflist ? cni_del(q->conflist, &rt,
                                              prev ?: (nic->result ? nic->result->json : NULL), &error)
                                    : 0;
                if (r < 0) {
                        fprintf(stderr, "VM %s: DEL of %s failed: %s\n", q->id, nic->if_name,
                                error ?: strerror(-r));
                        if (ret == 0) {
                                ret = r;
                                if (ret_error)
                                        *ret_error = TAKE_PTR(error);
                        }
                }
                cache_remove(q, nic);
        }
        int r = netns_remove(q->netns_name);
        if (r < 0 && ret == 0) {
                ret = r;
                if (ret_error && asprintf(ret_error, "cannot remove network namespace %s: %s", q->netns_name,
                                          strerror(-r)) < 0)
                        *ret_error = NULL;
        }
        return ret;
}

static int add_nic(Request *q, Nic *nic, char **ret_error) {
        _cleanup_free_ char *args = NULL;
        if (nic->ip && asprintf(&args, "IgnoreUnknown=1;IP=%s", nic->ip) < 0)
                return -ENOMEM;
        CniRuntime rt = nic_runtime(q, nic, args);
        int r = cni_add(q->conflist, &rt, &nic->result, ret_error);
        if (r < 0)
                return r;
        CniTap tap = {.veth = nic->if_name,
                      .tap = nic->tap,
                      .multi_queue = nic->multi_queue,
                      .uid = (uid_t) q->uid,
                      .gid = (gid_t) q->gid};
        r = netns_run(q->netns_path, cni_tap_wire, &tap);
        if (r < 0) {
                if (asprintf(ret_error, "network '%s': cannot join %s to %s with a TAP: %s",
                             q->conflist->name, nic->if_name, nic->tap, strerror(-r)) < 0)
                        *ret_error = NULL;
                return r;
        }
        memcpy(nic->mac, tap.mac, sizeof(nic->mac));
        r = cache_write(q, nic);
        if (r < 0 &&
            asprintf(ret_error, "cannot keep the CNI result in %s: %s", q->cache_dir, strerror(-r)) < 0)
                *ret_error = NULL;
        return r;
}

static int command_add(Request *q, char **ret_error) {
        int r = netns_create(q->netns_name);
        /* Left by an add that was interrupted: the id is this VM's alone. */
        if (r == -EEXIST)
                r = netns_exists(q->netns_name) == 1 ? 0 : -EEXIST;
        if (r < 0) {
                if (asprintf(ret_error, "cannot create network namespace %s: %s", q->netns_name,
                             strerror(-r)) < 0)
                        *ret_error = NULL;
                return r;
        }
        for (size_t i = 0; i < q->n_nics; i++) {
                r = add_nic(q, q->nics + i, ret_error);
                if (r < 0) {
                        /* The failed NIC too: its ADD may have left half of its work (cni_add() deleted its
                         * chain, but the TAP step comes after). */
                        (void) teardown(q, i + 1, NULL);
                        return r;
                }
        }
        return 0;
}

/* 0 when the namespace, every TAP and every CHECK are fine. */
static int check_all(Request *q) {
        if (netns_exists(q->netns_name) != 1)
                return -ENOENT;
        for (size_t i = 0; i < q->n_nics; i++) {
                Nic *nic = q->nics + i;
                CniTap tap = {.veth = nic->if_name, .tap = nic->tap};
                _cleanup_(json_object_putp) json_object *prev = cache_read(q, nic);
                _cleanup_free_ char *error = NULL;
                if (netns_run(q->netns_path, cni_tap_check, &tap) < 0 || !prev)
                        return -ENODEV;
                CniRuntime rt = nic_runtime(q, nic, NULL);
                int r = cni_check(q->conflist, &rt, prev, &error);
                if (r < 0) {
                        fprintf(stderr, "VM %s: CHECK of %s failed, setting it up again: %s\n", q->id,
                                nic->if_name, error ?: strerror(-r));
                        return r;
                }
        }
        return 0;
}

static int response_add_nics(json_object *reply, const Request *q) {
        json_object *nics = json_object_new_array();
        if (!nics || json_add_object(reply, "nics", nics) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < q->n_nics; i++) {
                const Nic *nic = q->nics + i;
                json_object *o = json_object_new_object();
                if (!o || json_object_array_add(nics, o) < 0)
                        return -ENOMEM;
                if (!nic->result)
                        continue;
                if ((nic->result->ip && (json_add_string(o, "ip", nic->result->ip) < 0 ||
                                         json_add_int64(o, "prefix", nic->result->prefix) < 0)) ||
                    (nic->result->gateway && json_add_string(o, "gateway", nic->result->gateway) < 0) ||
                    json_add_string(o, "mac", nic->mac) < 0 ||
                    (nic->result->dns && json_add_strv(o, "dns", nic->result->dns) < 0))
                        return -ENOMEM;
        }
        return 0;
}

/* An IPAM lease file (host-local keeps "<container id>[\r\n<ifname>]" in <dataDir>/<network>/<ip>) that
 * names this VM: removed, when the DELs left it (its conflist is gone, or a plugin failed). Only a file
 * whose content starts with the VM's id is touched. */
static void lease_file_remove(const Request *q, const char *path) {
        _cleanup_free_ char *text = NULL;
        size_t size, n = strlen(q->id);
        if (!path || path[0] != '/' || strstr(path, "/../") || strstr(path, "/./") ||
            read_full_file(path, &text, &size) < 0 || size > 4096 || size < n ||
            strncmp(text, q->id, n) != 0 || (size > n && text[n] != '\r' && text[n] != '\n'))
                return;
        if (unlink(path) < 0)
                fprintf(stderr, "VM %s: cannot remove the lease %s: %s\n", q->id, path, strerror(errno));
}

static int run(Request *q, json_object *reply, char **ret_error) {
        int r;
        if (streq(q->command, "del")) {
                r = teardown(q, q->n_nics, ret_error);
                size_t n = q->lease_files_json ? json_object_array_length(q->lease_files_json) : 0;
                for (size_t i = 0; i < n; i++)
                        lease_file_remove(q, json_object_get_string(
                                                     json_object_array_get_idx(q->lease_files_json, i)));
                return r;
        }
        if (streq(q->command, "ensure")) {
                if (check_all(q) >= 0)
                        return json_add_bool(reply, "recreated", false);
                (void) teardown(q, q->n_nics, NULL);
                r = command_add(q, ret_error);
                if (r >= 0)
                        r = json_add_bool(reply, "recreated", true);
        } else if (streq(q->command, "add"))
                r = command_add(q, ret_error);
        else
                return -EINVAL;
        if (r >= 0)
                r = response_add_nics(reply, q);
        return r;
}

/* ---- the server ---- */

/* One call in flight: its work runs in a thread of its own (plugins may take seconds, and calls for other
 * VMs must not wait for them); the thread's end is seen on the event loop through a pipe, and the reply is
 * sent from there. */
typedef struct Call {
        struct Server *server;
        Varlink *link;
        const char *command;
        json_object *parameters; /* the thread's own copy */
        json_object *reply;
        char *error;
        int result;
        pthread_t thread;
        int done_pipe[2];
        sd_event_source *done_source;
} Call;

typedef struct Server {
        sd_event *event;
        VarlinkServer *varlink;
        sd_event_source *idle_timer;
        sd_event_source *exit_source;
        uint64_t exit_idle_usec;
        unsigned n_calls;
        bool shutting_down;
} Server;

static void server_check_idle(Server *s);

static int on_replies_sent(sd_event_source *source, void *userdata) {
        Server *s = userdata;
        return sd_event_exit(s->event, 0);
}

/* At shutdown, once no call is in flight: the last answers were only queued, so the exit waits for a turn
 * of the loop at idle priority, after the connections wrote them. */
static void server_maybe_exit(Server *s) {
        if (!s->shutting_down || s->n_calls > 0 || s->exit_source)
                return;
        int r = sd_event_add_defer(s->event, &s->exit_source, on_replies_sent, s);
        if (r >= 0)
                r = sd_event_source_set_priority(s->exit_source, SD_EVENT_PRIORITY_IDLE);
        if (r < 0)
                (void) sd_event_exit(s->event, 0);
}

static Call *call_free(Call *c) {
        if (!c)
                return NULL;
        sd_event_source_disable_unref(c->done_source);
        safe_close(c->done_pipe[0]);
        safe_close(c->done_pipe[1]);
        varlink_unref(c->link);
        json_object_put(c->parameters);
        json_object_put(c->reply);
        free(c->error);
        return mfree(c);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(Call *, call_free);

static void *call_thread(void *userdata) {
        Call *c = userdata;
        Request q = {.command = c->command};

        c->reply = json_object_new_object();
        int r = c->reply ? request_parse(c->parameters, &q, &c->error) : -ENOMEM;
        if (r < 0 && r != -ENOMEM && !c->error && asprintf(&c->error, "bad request: %s", strerror(-r)) < 0)
                c->error = NULL;
        if (r >= 0)
                r = run(&q, c->reply, &c->error);
        if (r < 0)
                fprintf(stderr, "VM %s: %s failed: %s\n", q.id ?: "?", c->command, c->error ?: strerror(-r));
        request_done(&q);
        c->result = r;
        /* Closing the write end wakes the loop (EOF on the read end). */
        c->done_pipe[1] = safe_close(c->done_pipe[1]);
        return NULL;
}

static int on_call_done(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        _cleanup_(call_freep) Call *c = userdata;
        Server *s = c->server;
        int r;

        (void) pthread_join(c->thread, NULL);
        if (c->result >= 0)
                r = varlink_reply(c->link, c->reply);
        else if (c->result == -ENOMEM && !c->error)
                r = varlink_error_errno(c->link, ENOMEM);
        else
                r = varlink_errorf(c->link, NETWORK_ERROR_FAILED, "%s", c->error ?: strerror(-c->result));
        if (r < 0)
                log_debug_errno(r, "The caller of %s went away before its answer: %m", c->command);
        s->n_calls--;
        server_check_idle(s);
        server_maybe_exit(s);
        return 0;
}

static int call_start(Varlink *link, json_object *parameters, const char *command, Server *s) {
        _cleanup_(call_freep) Call *c = calloc(1, sizeof(Call));
        int r;

        if (!c)
                return -ENOMEM;
        c->done_pipe[0] = c->done_pipe[1] = -EBADF;
        c->server = s;
        c->command = command;
        if (json_object_deep_copy(parameters, &c->parameters, NULL) < 0)
                return -ENOMEM;
        if (pipe2(c->done_pipe, O_CLOEXEC) < 0)
                return -errno;
        r = sd_event_add_io(s->event, &c->done_source, c->done_pipe[0], EPOLLIN, on_call_done, c);
        if (r < 0)
                return r;
        r = -pthread_create(&c->thread, NULL, call_thread, c);
        if (r < 0)
                return r;
        c->link = varlink_ref(link);
        s->n_calls++;
        server_check_idle(s);
        TAKE_PTR(c);
        return 0;
}

static int vl_method_add(Varlink *link, json_object *parameters, VarlinkMethodFlags flags, void *userdata) {
        return call_start(link, parameters, "add", userdata);
}

static int vl_method_ensure(Varlink *link, json_object *parameters, VarlinkMethodFlags flags,
                            void *userdata) {
        return call_start(link, parameters, "ensure", userdata);
}

static int vl_method_delete(Varlink *link, json_object *parameters, VarlinkMethodFlags flags,
                            void *userdata) {
        return call_start(link, parameters, "del", userdata);
}

/* Root only: the socket is 0600 already; this is the second lock, and a clear answer. */
static int access_check(Varlink *link, const char *method, void *userdata) {
        uid_t uid;
        if (varlink_get_peer_uid(link, &uid) >= 0 && uid == 0)
                return 0;
        _cleanup_(json_object_putp) json_object *p = json_object_new_object();
        if (!p || json_add_string(p, "method", method) < 0)
                return -ENOMEM;
        int r = varlink_error(link, COCOON_ERROR_PERMISSION_DENIED, p);
        return r < 0 ? r : 1;
}

static int on_idle_timer(sd_event_source *source, uint64_t usec, void *userdata) {
        Server *s = userdata;
        log_debug("Idle, exiting.");
        return sd_event_exit(s->event, 0);
}

/* As the manager: systemd keeps the listening socket and starts us again on the next connection. */
static void server_check_idle(Server *s) {
        if (s->exit_idle_usec == 0)
                return;
        if (s->n_calls > 0 || varlink_server_current_connections(s->varlink) > 0) {
                if (s->idle_timer)
                        (void) sd_event_source_set_enabled(s->idle_timer, SD_EVENT_OFF);
                return;
        }
        uint64_t when = now_usec(CLOCK_MONOTONIC) + s->exit_idle_usec;
        if (s->idle_timer) {
                (void) sd_event_source_set_time(s->idle_timer, when);
                (void) sd_event_source_set_enabled(s->idle_timer, SD_EVENT_ONESHOT);
                return;
        }
        int r = sd_event_add_time(s->event, &s->idle_timer, CLOCK_MONOTONIC, when, 0, on_idle_timer, s);
        if (r < 0)
                log_warning_errno(r, "Failed to arm the idle timer, staying: %m");
}

static int on_connect(VarlinkServer *server, Varlink *link, void *userdata) {
        server_check_idle(userdata);
        return 0;
}

static void on_disconnect(VarlinkServer *server, Varlink *link, void *userdata) {
        server_check_idle(userdata);
}

/* SIGTERM: the calls in flight are finished and answered first (a half set up network would be left to
 * gc otherwise). */
static int on_exit_signal(sd_event_source *source, const struct signalfd_siginfo *si, void *userdata) {
        Server *s = userdata;
        s->shutting_down = true;
        if (s->n_calls > 0)
                log_info("Finishing %u call(s) in flight, then exiting.", s->n_calls);
        server_maybe_exit(s);
        return 0;
}

static void help(void) {
        printf("cocoon-network [OPTIONS...]\n\n"
               "The network helper of cocoon-manager: serves io.cocoon.Network on %s (socket activation or "
               "--listen).\n\n"
               "  -h --help              Show this help\n"
               "     --listen=PATH       Bind this socket when not socket activated\n"
               "     --exit-idle-sec=N   Exit after N seconds without clients or calls (default 0: never)\n",
               COCOON_NETWORK_ADDRESS);
}

int main(int argc, char *argv[]) {
        enum { ARG_LISTEN = 0x100, ARG_EXIT_IDLE };
        static const struct option options[] = {
                {"help", no_argument, NULL, 'h'},
                {"listen", required_argument, NULL, ARG_LISTEN},
                {"exit-idle-sec", required_argument, NULL, ARG_EXIT_IDLE},
                {},
        };
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(varlink_server_unrefp) VarlinkServer *varlink = NULL;
        const char *listen_address = NULL;
        Server s = {};
        uint64_t sec;
        int c, r;

        log_parse_environment();
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return EXIT_SUCCESS;
                case ARG_LISTEN:
                        listen_address = optarg;
                        break;
                case ARG_EXIT_IDLE:
                        r = parse_uint64(optarg, &sec);
                        if (r < 0 || sec > UINT64_MAX / USEC_PER_SEC) {
                                log_error("Invalid --exit-idle-sec: %s", optarg);
                                return EXIT_FAILURE;
                        }
                        s.exit_idle_usec = sec * USEC_PER_SEC;
                        break;
                default:
                        return EXIT_FAILURE;
                }
        if (optind < argc) {
                log_error("%s takes no arguments.", argv[0]);
                return EXIT_FAILURE;
        }

        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        if ((r = sd_event_default(&event)) < 0 || (r = -pthread_sigmask(SIG_BLOCK, &mask, NULL)) < 0 ||
            (r = sd_event_add_signal(event, NULL, SIGTERM, on_exit_signal, &s)) < 0 ||
            (r = sd_event_add_signal(event, NULL, SIGINT, on_exit_signal, &s)) < 0 ||
            (r = varlink_server_new(&varlink)) < 0) {
                log_error_errno(r, "Failed to set up the event loop: %m");
                return EXIT_FAILURE;
        }
        s.event = event;
        s.varlink = varlink;
        varlink_server_set_userdata(varlink, &s);
        if ((r = varlink_server_set_info(varlink, "cocoon", "cocoon-network", COCOON_VERSION,
                                         "https://github.com/cocoonstack/cocoon")) < 0 ||
            (r = varlink_server_add_interface(varlink, &vl_interface_io_cocoon)) < 0 ||
            (r = varlink_server_add_interface(varlink, &vl_interface_io_cocoon_Network)) < 0 ||
            (r = varlink_server_bind_method(varlink, "io.cocoon.Network.Add", vl_method_add)) < 0 ||
            (r = varlink_server_bind_method(varlink, "io.cocoon.Network.Ensure", vl_method_ensure)) < 0 ||
            (r = varlink_server_bind_method(varlink, "io.cocoon.Network.Delete", vl_method_delete)) < 0 ||
            (r = varlink_server_set_access_check(varlink, access_check)) < 0 ||
            (r = varlink_server_bind_connect(varlink, on_connect)) < 0 ||
            (r = varlink_server_bind_disconnect(varlink, on_disconnect)) < 0) {
                log_error_errno(r, "Failed to set up the Varlink server: %m");
                return EXIT_FAILURE;
        }
        r = varlink_server_listen_auto(varlink);
        if (r == 0)
                r = varlink_server_listen_address(varlink, listen_address ?: COCOON_NETWORK_ADDRESS, 0600);
        if (r < 0) {
                log_error_errno(r, "Failed to listen: %m");
                return EXIT_FAILURE;
        }
        if ((r = varlink_server_attach_event(varlink, event, SD_EVENT_PRIORITY_NORMAL)) < 0) {
                log_error_errno(r, "Failed to attach the Varlink server: %m");
                return EXIT_FAILURE;
        }
        server_check_idle(&s);
        (void) sd_notify(false, "READY=1");
        r = sd_event_loop(event);
        sd_event_source_unref(s.idle_timer);
        sd_event_source_unref(s.exit_source);
        if (r < 0) {
                log_error_errno(r, "Event loop failed: %m");
                return EXIT_FAILURE;
        }
        return EXIT_SUCCESS;
}
