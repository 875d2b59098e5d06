/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cocoon-network: sets up, checks and tears down the CNI network of one VM, run by cocoon-manager as a
 * short-lived transient unit. The manager itself cannot: its sandbox has a private mount namespace (a
 * namespace bound under /run/netns there would be invisible to systemd's NetworkNamespacePath= and to
 * `ip netns`) and no CAP_SYS_ADMIN, and CNI plugins need the host's view (setns, iptables, sysctls).
 *
 *   cocoon-network REQUEST RESPONSE
 *
 * REQUEST is a JSON object the manager wrote: command (add, del, ensure), id, pluginDirectory,
 * cacheDirectory (where each NIC's ADD result is kept for DEL and CHECK), conflist (the checked conflist),
 * uid and gid (the TAPs' owner), nics [{ifName, tap, multiQueue, ip}]. RESPONSE gets {"nics": [{ip, prefix,
 * gateway, mac, dns}], "recreated": bool} or {"error": "..."}; the exit status is 0 whenever it was
 * written. add: the namespace cocoon-<id>, then per NIC CNI ADD, its TAP and the tc redirects; any failure
 * undoes all of it (DEL in reverse, namespace removed). ensure: keeps a namespace whose TAPs exist and whose
 * CHECK passes, else deletes what is left and adds again asking IPAM for each NIC's recorded ip
 * (CNI_ARGS IP=). del: DEL in reverse for every NIC, best effort, then the namespace goes. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs-util.h"
#include "json-util.h"
#include "macro.h"
#include "network-cni-tap.h"
#include "network-cni.h"
#include "network-netns.h"
#include "strv-util.h"

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
                {"tap", json_type_string, json_dispatch_const_string, offsetof(Nic, tap), JSON_MANDATORY},
                {"multiQueue", json_type_boolean, json_dispatch_bool, offsetof(Nic, multi_queue), 0},
                {"ip", json_type_string, json_dispatch_const_string, offsetof(Nic, ip), JSON_NULLABLE},
                {},
        };
        size_t n = json_object_array_length(q->nics_json);
        if (n == 0 || n > NICS_MAX)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                Nic *nic = q->nics + i;
                if (json_dispatch(json_object_array_get_idx(q->nics_json, i), table, 0, nic, NULL) < 0 ||
                    !plain_ifname(nic->if_name) || !plain_ifname(nic->tap) ||
                    (nic->ip && strspn(nic->ip, "0123456789.") != strlen(nic->ip)))
                        return -EINVAL;
                q->n_nics++;
        }
        return 0;
}

static int request_parse(json_object *o, Request *q, char **ret_error) {
        static const JsonDispatch table[] = {
                {"command", json_type_string, json_dispatch_const_string, offsetof(Request, command),
                 JSON_MANDATORY},
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
                {},
        };
        int r = json_dispatch(o, table, 0, q, NULL);
        if (r < 0 || q->plugin_dir[0] != '/' || q->cache_dir[0] != '/' || q->uid < 0 || q->gid < 0 ||
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

static int run(Request *q, json_object *reply, char **ret_error) {
        int r;
        if (streq(q->command, "del"))
                return teardown(q, q->n_nics, ret_error);
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

int main(int argc, char *argv[]) {
        _cleanup_(json_object_putp) json_object *request = NULL, *reply = json_object_new_object();
        _cleanup_free_ char *text = NULL, *error = NULL;
        Request q = {};
        size_t size;
        int r;

        if (argc != 3 || argv[2][0] != '/') {
                fprintf(stderr, "Usage: %s REQUEST RESPONSE (written by cocoon-manager)\n", argv[0]);
                return EXIT_FAILURE;
        }
        if (!reply)
                return EXIT_FAILURE;
        r = read_full_file(argv[1], &text, &size);
        if (r >= 0 && size > REQUEST_SIZE_MAX)
                r = -EFBIG;
        if (r >= 0)
                r = json_parse(text, size, &request);
        if (r >= 0)
                r = request_parse(request, &q, &error);
        if (r < 0 && !error && asprintf(&error, "bad request %s: %s", argv[1], strerror(-r)) < 0)
                error = NULL;
        if (r >= 0)
                r = run(&q, reply, &error);
        if (r < 0) {
                json_object_put(reply);
                reply = json_object_new_object();
                if (!reply || json_add_string(reply, "error", error ?: strerror(-r)) < 0)
                        return EXIT_FAILURE;
                fprintf(stderr, "VM %s: %s failed: %s\n", q.id ?: "?", q.command ?: "?",
                        error ?: strerror(-r));
        }
        request_done(&q);
        const char *out = json_to_string(reply);
        r = write_file_atomic_at(AT_FDCWD, argv[2], out, strlen(out), 0600);
        if (r < 0) {
                fprintf(stderr, "Cannot write %s: %s\n", argv[2], strerror(-r));
                return EXIT_FAILURE;
        }
        return EXIT_SUCCESS;
}
