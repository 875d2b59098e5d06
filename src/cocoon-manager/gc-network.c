/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Garbage collection of CNI namespaces and leases (see gc-network.h). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd-util.h"
#include "fs-util.h"
#include "gc-network.h"
#include "id.h"
#include "json-util.h"
#include "log.h"
#include "macro.h"
#include "network-cni.h"
#include "network-helper-client.h"
#include "network-netns.h"
#include "strv-util.h"
#include "varlink.h"

#define LEASE_SIZE_MAX 4096U
#define GC_HELPER_TIMEOUT_USEC (120ULL * 1000000ULL)

void gc_network_found_done(GcNetworkFound *f) {
        f->netns_ids = strv_free(f->netns_ids);
        for (size_t i = 0; i < f->n_leases; i++) {
                free(f->leases[i].id);
                free(f->leases[i].path);
                free(f->leases[i].network);
                free(f->leases[i].ifname);
        }
        f->leases = mfree(f->leases);
        f->n_leases = 0;
}

static int list_netns(const char *netns_dir, char ***ids) {
        _cleanup_(closedirp) DIR *d = opendir(netns_dir);
        struct dirent *de;
        if (!d)
                return errno == ENOENT ? 0 : -errno;
        while ((de = readdir(d)))
                if (strncmp(de->d_name, NETNS_VM_PREFIX, strlen(NETNS_VM_PREFIX)) == 0 &&
                    id_is_valid(de->d_name + strlen(NETNS_VM_PREFIX)) &&
                    strv_extend(ids, de->d_name + strlen(NETNS_VM_PREFIX)) < 0)
                        return -ENOMEM;
        return 0;
}

/* host-local's lease: "<id>" or "<id>\r\n<ifname>". */
static int lease_read(int dirfd, const char *name, char **ret_id, char **ret_ifname) {
        _cleanup_free_ char *text = NULL;
        size_t size;
        int r = read_full_file_at(dirfd, name, LEASE_SIZE_MAX, &text, &size);
        if (r < 0)
                return r;
        size_t n = strcspn(text, "\r\n");
        char *rest = text + n + strspn(text + n, "\r\n");
        rest[strcspn(rest, "\r\n")] = 0;
        text[n] = 0;
        if (!id_is_valid(text))
                return -EINVAL;
        *ret_ifname = rest[0] && strlen(rest) < 16 && !strpbrk(rest, "/: ") ? strdup(rest) : NULL;
        *ret_id = TAKE_PTR(text);
        return 0;
}

static int list_leases(const char *dir, const char *network, GcNetworkFound *f) {
        _cleanup_(closedirp) DIR *d = opendir(dir);
        struct dirent *de;
        if (!d)
                return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
        while ((de = readdir(d))) {
                _cleanup_free_ char *id = NULL, *ifname = NULL, *path = NULL;
                if (de->d_name[0] == '.' || streq(de->d_name, "lock") ||
                    strncmp(de->d_name, "last_reserved_ip", strlen("last_reserved_ip")) == 0 ||
                    (de->d_type != DT_REG && de->d_type != DT_UNKNOWN))
                        continue;
                if (lease_read(dirfd(d), de->d_name, &id, &ifname) < 0)
                        continue;
                if (asprintf(&path, "%s/%s", dir, de->d_name) < 0)
                        return -ENOMEM;
                GcLease *l = realloc(f->leases, (f->n_leases + 1) * sizeof(GcLease));
                if (!l)
                        return -ENOMEM;
                f->leases = l;
                l[f->n_leases] =
                        (GcLease){.id = TAKE_PTR(id), .path = TAKE_PTR(path), .ifname = TAKE_PTR(ifname)};
                if (network && !(l[f->n_leases].network = strdup(network))) {
                        free(l[f->n_leases].id);
                        free(l[f->n_leases].path);
                        free(l[f->n_leases].ifname);
                        return -ENOMEM;
                }
                f->n_leases++;
        }
        return 0;
}

/* The lease directory of each conflist of dir whose chain has host-local IPAM: <dataDir>/<name>. */
static int conflist_lease_dirs(const char *dir, const char *lease_dir, char ***ret_dirs, char ***ret_names) {
        _cleanup_(closedirp) DIR *d = opendir(dir);
        struct dirent *de;
        if (!d)
                return errno == ENOENT ? 0 : -errno;
        while ((de = readdir(d))) {
                _cleanup_(cni_conflist_freep) CniConflist *c = NULL;
                _cleanup_free_ char *text = NULL, *error = NULL;
                size_t size, n = strlen(de->d_name);
                if (de->d_name[0] == '.' || n <= strlen(".conflist") ||
                    !streq(de->d_name + n - strlen(".conflist"), ".conflist") ||
                    read_full_file_at(dirfd(d), de->d_name, CNI_CONFLIST_SIZE_MAX, &text, &size) < 0 ||
                    cni_conflist_parse(text, size, &c, &error) < 0)
                        continue;
                for (size_t i = 0; i < json_object_array_length(c->plugins); i++) {
                        json_object *ipam, *p = json_object_array_get_idx(c->plugins, i);
                        const char *type = NULL, *data_dir = NULL;
                        char *path;
                        if (!json_object_object_get_ex(p, "ipam", &ipam) ||
                            json_get_string(ipam, "type", &type) < 0 || !streq(type, "host-local"))
                                continue;
                        (void) json_get_string(ipam, "dataDir", &data_dir);
                        if (asprintf(&path, "%s/%s", data_dir ?: lease_dir, c->name) < 0)
                                return -ENOMEM;
                        if (strv_contains(*ret_dirs, path)) {
                                free(path);
                                continue;
                        }
                        if (strv_push(ret_dirs, path) < 0) {
                                free(path);
                                return -ENOMEM;
                        }
                        if (strv_extend(ret_names, c->name) < 0)
                                return -ENOMEM;
                }
        }
        return 0;
}

int gc_network_list(const char *netns_dir, const char *config_dir, const char *lease_dir,
                    GcNetworkFound *ret) {
        _cleanup_strv_free_ char **dirs = NULL, **names = NULL;
        GcNetworkFound f = {};
        int r;

        if ((r = list_netns(netns_dir, &f.netns_ids)) < 0)
                log_warning_errno(r, "Failed to list %s: %m", netns_dir);
        if ((r = conflist_lease_dirs(config_dir, lease_dir, &dirs, &names)) < 0)
                log_warning_errno(r, "Failed to read the conflists of %s: %m", config_dir);
        for (size_t i = 0; dirs && dirs[i]; i++)
                if ((r = list_leases(dirs[i], names[i], &f)) < 0)
                        log_warning_errno(r, "Failed to list the leases in %s: %m", dirs[i]);
        /* Directories of networks no conflist names any more: their leases go as files. */
        _cleanup_(closedirp) DIR *d = opendir(lease_dir);
        struct dirent *de;
        while (d && (de = readdir(d))) {
                _cleanup_free_ char *path = NULL;
                if (de->d_name[0] == '.' || asprintf(&path, "%s/%s", lease_dir, de->d_name) < 0 ||
                    strv_contains(dirs, path))
                        continue;
                if ((r = list_leases(path, NULL, &f)) < 0)
                        log_warning_errno(r, "Failed to list the leases in %s: %m", path);
        }
        if (r == -ENOMEM) {
                gc_network_found_done(&f);
                return r;
        }
        *ret = f;
        return 0;
}

int gc_network_found_ids(const GcNetworkFound *f, char ***ret) {
        _cleanup_strv_free_ char **ids = NULL;
        if (strv_copy(f->netns_ids, &ids) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < f->n_leases; i++)
                if (!strv_contains(ids, f->leases[i].id) && strv_extend(&ids, f->leases[i].id) < 0)
                        return -ENOMEM;
        *ret = TAKE_PTR(ids);
        return 0;
}

/* One Delete: the VM's network in one conflist (network NULL: none, no plugin is asked). */
static int remove_one(const char *address, const char *config_dir, const char *plugin_dir,
                      const char *cache_base, const char *id, const char *network, const GcNetworkFound *f) {
        _cleanup_(json_object_putp) json_object *request = json_object_new_object(),
                                                *nics = json_object_new_array(),
                                                *files = json_object_new_array();
        _cleanup_(cni_conflist_freep) CniConflist *c = NULL;
        _cleanup_free_ char *cache = NULL, *error = NULL;
        _cleanup_strv_free_ char **ifnames = NULL;
        bool answered;

        if (!request || !nics || !files || asprintf(&cache, "%s/%s/network/cache", cache_base, id) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < f->n_leases; i++) {
                const GcLease *l = f->leases + i;
                if (!streq(l->id, id) || !streq_ptr(l->network, network))
                        continue;
                const char *ifname = l->ifname ?: "eth0";
                if (json_object_array_add(files, json_object_new_string(l->path)) < 0)
                        return -ENOMEM;
                if (network && !strv_contains(ifnames, ifname) && strv_extend(&ifnames, ifname) < 0)
                        return -ENOMEM;
        }
        if (network && cni_conflist_load(config_dir, plugin_dir, network, &c, &error) < 0)
                log_warning("VM %s: %s; its leases go without CNI DEL.", id, error ?: "?");
        for (char **n = c ? ifnames : NULL; n && *n; n++) {
                json_object *nic = json_object_new_object();
                if (!nic || json_object_array_add(nics, nic) < 0 || json_add_string(nic, "ifName", *n) < 0)
                        return -ENOMEM;
        }
        if (json_add_string(request, "id", id) < 0 ||
            json_add_string(request, "pluginDirectory", plugin_dir) < 0 ||
            json_add_string(request, "cacheDirectory", cache) < 0 ||
            json_add_object(request, "nics", json_object_get(nics)) < 0 ||
            json_add_object(request, "leaseFiles", json_object_get(files)) < 0)
                return -ENOMEM;
        if (c) {
                json_object *conflist = json_object_new_object();
                if (!conflist || json_add_object(request, "conflist", conflist) < 0 ||
                    json_add_string(conflist, "cniVersion", c->cni_version) < 0 ||
                    json_add_string(conflist, "name", c->name) < 0 ||
                    json_add_bool(conflist, "disableCheck", c->disable_check) < 0 ||
                    json_add_object(conflist, "plugins", json_object_get(c->plugins)) < 0)
                        return -ENOMEM;
        }
        free(TAKE_PTR(error));
        int r = network_helper_call(address, "io.cocoon.Network.Delete", request, GC_HELPER_TIMEOUT_USEC,
                                    NULL, &answered, &error);
        if (r < 0)
                log_warning("Removing the network of VM %s, a VM no longer there: %s", id,
                            error ?: strerror(-r));
        return r;
}

int gc_network_remove(const char *address, const char *config_dir, const char *plugin_dir,
                      const char *netns_dir, const char *cache_base, char *const *orphans,
                      const GcNetworkFound *f, char ***ret_removed_netns, char ***ret_removed_leases) {
        for (char *const *id = orphans; id && *id; id++) {
                _cleanup_strv_free_ char **networks = NULL;
                bool without_network = false;
                for (size_t i = 0; i < f->n_leases; i++) {
                        if (!streq(f->leases[i].id, *id))
                                continue;
                        if (!f->leases[i].network)
                                without_network = true;
                        else if (!strv_contains(networks, f->leases[i].network) &&
                                 strv_extend(&networks, f->leases[i].network) < 0)
                                return -ENOMEM;
                }
                for (char **n = networks; n && *n; n++)
                        if (remove_one(address, config_dir, plugin_dir, cache_base, *id, *n, f) == -ENOMEM)
                                return -ENOMEM;
                if ((without_network || !networks) &&
                    remove_one(address, config_dir, plugin_dir, cache_base, *id, NULL, f) == -ENOMEM)
                        return -ENOMEM;

                _cleanup_free_ char *path = NULL;
                if (asprintf(&path, "%s/" NETNS_VM_PREFIX "%s", netns_dir, *id) < 0)
                        return -ENOMEM;
                if (strv_contains(f->netns_ids, *id) && access(path, F_OK) < 0 && errno == ENOENT &&
                    strv_extend(ret_removed_netns, path + strlen(netns_dir) + 1) < 0)
                        return -ENOMEM;
                for (size_t i = 0; i < f->n_leases; i++)
                        if (streq(f->leases[i].id, *id) && access(f->leases[i].path, F_OK) < 0 &&
                            errno == ENOENT && strv_extend(ret_removed_leases, f->leases[i].path) < 0)
                                return -ENOMEM;
        }
        return 0;
}
