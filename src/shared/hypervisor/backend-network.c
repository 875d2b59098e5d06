/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Backend part of CNI NICs: the conflist is picked and checked here, in the worker; the namespace, the
 * CNI plugins and the TAPs are the network helper's (cocoon-network, a socket-activated service outside the
 * manager's sandbox), called over Varlink from the worker; what it answers goes into the worker's copy of
 * the record. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "fs-util.h"
#include "json-util.h"
#include "log.h"
#include "network-cni.h"
#include "network-netns.h"
#include "sandbox.h"
#include "network-helper-client.h"
#include "varlink.h"

#define fail backend_fail
#define NETWORK_DIR_NAME "network"

static bool has_cni_nics(const VMRecord *rec) {
        for (size_t i = 0; i < rec->vm.n_network_configs; i++)
                if (rec->vm.network_configs[i].backend == NETWORK_BACKEND_CNI)
                        return true;
        return false;
}

const char *backend_network_netns_path(const VMRecord *rec) {
        for (size_t i = 0; i < rec->vm.n_network_configs; i++)
                if (rec->vm.network_configs[i].backend == NETWORK_BACKEND_CNI)
                        return rec->vm.network_configs[i].netns_path;
        return NULL;
}

static int load_conflist(BackendWork *w, CniConflist **ret) {
        _cleanup_free_ char *error = NULL;
        int r = cni_conflist_load(w->cni_config_dir, w->cni_plugin_dir, w->record->vm.config.network, ret,
                                  &error);
        if (r == -ENOMEM)
                return fail(w, r, "out of memory");
        if (r < 0) {
                w->failure = BACKEND_FAILURE_NETWORK_CONFIG;
                return fail(w, r, "%s", error ?: strerror(-r));
        }
        return 0;
}

static int build_request(BackendWork *w, const char *command, const CniConflist *c, const char *dir,
                         json_object **ret) {
        const VMRecord *rec = w->record;
        _cleanup_(json_object_putp) json_object *o = json_object_new_object(),
                                                *nics = json_object_new_array();
        _cleanup_free_ char *cache = NULL;
        uid_t uid = 0;
        gid_t gid = 0;

        if (!streq(command, "del")) {
                int r = hypervisor_user_lookup(&uid, &gid);
                if (r < 0)
                        return fail(w, r, "cannot find user %s: %m", HYPERVISOR_USER);
        }
        if (!o || !nics || asprintf(&cache, "%s/cache", dir) < 0 ||
            json_add_string(o, "id", rec->vm.id) < 0 ||
            json_add_string(o, "pluginDirectory", w->cni_plugin_dir) < 0 ||
            json_add_string(o, "cacheDirectory", cache) < 0 || json_add_int64(o, "uid", uid) < 0 ||
            json_add_int64(o, "gid", gid) < 0)
                return fail(w, -ENOMEM, "out of memory");
        if (c) {
                json_object *conflist = json_object_new_object();
                if (!conflist || json_add_object(o, "conflist", conflist) < 0 ||
                    json_add_string(conflist, "cniVersion", c->cni_version) < 0 ||
                    json_add_string(conflist, "name", c->name) < 0 ||
                    json_add_bool(conflist, "disableCheck", c->disable_check) < 0 ||
                    json_add_object(conflist, "plugins", json_object_get(c->plugins)) < 0)
                        return fail(w, -ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < rec->vm.n_network_configs; i++) {
                const NetworkConfig *n = rec->vm.network_configs + i;
                json_object *nic = json_object_new_object();
                char ifname[32];
                snprintf(ifname, sizeof(ifname), "eth%zu", i);
                if (n->backend != NETWORK_BACKEND_CNI) {
                        json_object_put(nic);
                        continue;
                }
                if (!nic || json_object_array_add(nics, nic) < 0 ||
                    json_add_string(nic, "ifName", ifname) < 0 || json_add_string(nic, "tap", n->tap) < 0 ||
                    json_add_bool(nic, "multiQueue", n->num_queues > 2 ||
                                                     (w->hypervisor && w->hypervisor->taps_multiqueue)) < 0 ||
                    (n->address && json_add_string(nic, "ip", n->address->ip) < 0))
                        return fail(w, -ENOMEM, "out of memory");
        }
        if (json_add_object(o, "nics", TAKE_PTR(nics)) < 0)
                return fail(w, -ENOMEM, "out of memory");
        *ret = TAKE_PTR(o);
        return 0;
}

static const char *helper_method(const char *command) {
        return streq(command, "add") ? "io.cocoon.Network.Add"
               : streq(command, "ensure") ? "io.cocoon.Network.Ensure"
                                          : "io.cocoon.Network.Delete";
}

/* Calls the helper for command and waits for its answer (in the worker: the event loop never waits);
 * *ret gets it. Its error, or its going away, is a failure of the work (NetworkFailed). */
static int run_helper(BackendWork *w, const char *command, const CniConflist *c, json_object **ret) {
        _cleanup_(json_object_putp) json_object *request = NULL, *reply = NULL;
        _cleanup_free_ char *dir = NULL, *error = NULL;
        int r;

        if (asprintf(&dir, "%s/" NETWORK_DIR_NAME, w->vm_dir) < 0)
                return fail(w, -ENOMEM, "out of memory");
        w->helper_answered = true; /* nothing asked of it yet, nothing to undo */
        if ((r = build_request(w, command, c, dir, &request)) < 0)
                return r;
        if (!w->network_address)
                return fail(w, -ENOMEM, "out of memory");
        /* Bounded by what the plugins may take: each NIC's chain, its undoing, and the wiring. */
        size_t n_plugins = c ? json_object_array_length(c->plugins) : 1;
        size_t n_nics = MAX(w->record->vm.n_network_configs, (size_t) 1);
        uint64_t timeout = (uint64_t) (2 * n_plugins + 1) * n_nics * CNI_PLUGIN_TIMEOUT_USEC +
                           VARLINK_DEFAULT_TIMEOUT_USEC;
        r = network_helper_call(w->network_address, helper_method(command), request, timeout, &reply,
                                &w->helper_answered, &error);
        if (r < 0) {
                w->failure = BACKEND_FAILURE_NETWORK;
                return fail(w, r, "%s", error ?: strerror(-r));
        }
        *ret = TAKE_PTR(reply);
        return 0;
}

/* The helper's answer for each CNI NIC: its MAC and the address IPAM granted (none: DHCP). */
static int apply_reply(BackendWork *w, json_object *reply) {
        VMRecord *rec = w->record;
        json_object *nics;
        size_t k = 0;

        if (!json_object_object_get_ex(reply, "nics", &nics) || !json_object_is_type(nics, json_type_array))
                return fail(w, -EBADMSG, "the network helper's answer has no NICs");
        for (size_t i = 0; i < rec->vm.n_network_configs; i++) {
                NetworkConfig *n = rec->vm.network_configs + i;
                json_object *o = json_object_array_get_idx(nics, k);
                const char *mac = NULL, *ip = NULL, *gateway = NULL;
                int64_t prefix = 0;
                if (n->backend != NETWORK_BACKEND_CNI)
                        continue;
                k++;
                if (!o || json_get_string(o, "mac", &mac) < 0)
                        return fail(w, -EBADMSG, "the network helper's answer lacks NIC %zu", i);
                (void) json_get_string(o, "gateway", &gateway);
                (void) json_get_int64(o, "prefix", &prefix);
                free(n->mac);
                n->address = network_address_free(n->address);
                if (!(n->mac = strdup(mac)))
                        return fail(w, -ENOMEM, "out of memory");
                if (json_get_string(o, "ip", &ip) < 0)
                        continue;
                n->address = calloc(1, sizeof(NetworkAddress));
                if (!n->address || !(n->address->ip = strdup(ip)) ||
                    (gateway && !(n->address->gateway = strdup(gateway))))
                        return fail(w, -ENOMEM, "out of memory");
                n->address->prefix = (uint32_t) MIN(MAX(prefix, (int64_t) 0), (int64_t) 32);
                json_object *dns;
                if (json_object_object_get_ex(o, "dns", &dns) &&
                    json_dispatch_strv("dns", dns, &n->address->dns) < 0)
                        return fail(w, -EBADMSG, "the network helper's answer has bad DNS servers");
        }
        const char *field = NULL;
        _cleanup_free_ char *message = NULL;
        if (network_configs_validate(rec->vm.network_configs, rec->vm.n_network_configs, &field, &message) <
            0)
                return fail(w, -EBADMSG, "the CNI network gave unusable settings: %s", message ?: "?");
        w->network_changed = true;
        return 0;
}

/* A network the create just set up needs no check at the first start (vm run: a second helper run would
 * double the NIC's cost). The mark holds the boot it was made in: a reboot since has taken the namespace. */
#define FRESH_FILE_NAME "fresh"

static char *fresh_path(BackendWork *w) {
        char *p = NULL;
        return asprintf(&p, "%s/" NETWORK_DIR_NAME "/" FRESH_FILE_NAME, w->vm_dir) < 0 ? NULL : p;
}

static char *boot_id(void) {
        char *text = NULL;
        size_t size;
        if (read_full_file("/proc/sys/kernel/random/boot_id", &text, &size) < 0)
                return NULL;
        text[strcspn(text, "\n")] = 0;
        return text;
}

static void fresh_mark(BackendWork *w) {
        _cleanup_free_ char *path = fresh_path(w), *id = boot_id();
        if (path && id)
                (void) write_file_atomic_at(AT_FDCWD, path, id, strlen(id), 0600);
}

/* Whether the mark is there and of this boot; it is used up either way, so that a start that failed
 * anyway (the namespace was deleted by hand) checks the next time. */
static bool fresh_take(BackendWork *w) {
        _cleanup_free_ char *path = fresh_path(w), *id = boot_id(), *text = NULL;
        size_t size;
        if (!path || read_full_file(path, &text, &size) < 0)
                return false;
        (void) unlink(path);
        return id && !w->record->vm.first_booted && streq(text, id);
}

int backend_network_add(BackendWork *w) {
        _cleanup_(cni_conflist_freep) CniConflist *c = NULL;
        _cleanup_(json_object_putp) json_object *reply = NULL;
        int r;

        if (!has_cni_nics(w->record))
                return 0;
        if ((r = load_conflist(w, &c)) < 0)
                return r;
        /* The network picked is recorded: later DELs and restarts must use the same one. */
        if (!w->record->vm.config.network && !(w->record->vm.config.network = strdup(c->name)))
                return fail(w, -ENOMEM, "out of memory");
        if ((r = run_helper(w, "add", c, &reply)) < 0) {
                /* A helper that answered has undone its part; one that died or hung has not: ask the next
                 * one (the socket starts it) to remove what may be left, keeping the first failure's
                 * message. */
                if (!w->helper_answered) {
                        _cleanup_free_ char *message = TAKE_PTR(w->message);
                        (void) backend_network_del(w);
                        free(w->message);
                        w->message = TAKE_PTR(message);
                        w->failure = BACKEND_FAILURE_NETWORK;
                }
                return r;
        }
        r = apply_reply(w, reply);
        if (r < 0)
                (void) backend_network_del(w);
        else
                fresh_mark(w);
        return r;
}

int backend_network_ensure(BackendWork *w) {
        _cleanup_(cni_conflist_freep) CniConflist *c = NULL;
        _cleanup_(json_object_putp) json_object *reply = NULL;
        bool recreated = false;
        int r;

        if (!has_cni_nics(w->record))
                return 0;
        if (fresh_take(w))
                return 0;
        if ((r = load_conflist(w, &c)) < 0 || (r = run_helper(w, "ensure", c, &reply)) < 0)
                return r;
        if (json_get_bool(reply, "recreated", &recreated) < 0 || !recreated)
                return 0;
        log_info("VM %s: its network namespace or TAPs were gone; set up again.", w->record->vm.id);
        return apply_reply(w, reply);
}

int backend_network_del(BackendWork *w) {
        _cleanup_(cni_conflist_freep) CniConflist *c = NULL;
        _cleanup_(json_object_putp) json_object *reply = NULL;
        _cleanup_free_ char *saved = NULL;
        int r;

        if (!has_cni_nics(w->record))
                return 0;
        /* Without its conflist (gone, or broken since) no plugin can be asked: the namespace still goes, and
         * what IPAM kept is left for gc. */
        if (load_conflist(w, &c) < 0) {
                log_warning("VM %s: %s; its CNI network is not told of its removal.", w->record->vm.id,
                            w->message ?: "?");
                saved = TAKE_PTR(w->message);
        }
        r = run_helper(w, "del", c, &reply);
        w->failure = BACKEND_FAILURE_HYPERVISOR;
        if (r < 0)
                log_warning("VM %s: removing its CNI network: %s", w->record->vm.id, w->message ?: "?");
        return r;
}
