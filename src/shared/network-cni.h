/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* CNI networks: loading and checking conflists, running a conflist's plugin chain (ADD, DEL, CHECK) as the
 * CNI specification says, and reading what the plugins answer. Blocking: for worker threads and helpers. */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

#define CNI_CONFIG_DIRECTORY_DEFAULT "/etc/cni/net.d"
#define CNI_PLUGIN_DIRECTORY_DEFAULT "/usr/lib/cni"
/* Bounds on what is read: a conflist file, a plugin's output, the plugins of a chain, the conflists of a
 * directory. Real ones are a few hundred bytes and two or three plugins. */
#define CNI_CONFLIST_SIZE_MAX (256U * 1024U)
#define CNI_OUTPUT_SIZE_MAX (256U * 1024U)
#define CNI_PLUGINS_MAX 16U
#define CNI_CONFLISTS_MAX 256U
#define CNI_NAME_MAX 128U
/* How long one plugin may take: IPAM plugins may wait for a lock or a DHCP server. */
#define CNI_PLUGIN_TIMEOUT_USEC (30U * 1000U * 1000U)

typedef struct CniConflist {
        char *name;
        char *cni_version;
        bool disable_check;
        json_object *plugins; /* array of the plugin objects, each with a valid "type" */
        char *path; /* the file it came from, NULL when parsed from text */
} CniConflist;

CniConflist *cni_conflist_free(CniConflist *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(CniConflist *, cni_conflist_free);

/* "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0": the versions whose result format (ips[], interfaces[]) is
 * read here. */
bool cni_version_is_supported(const char *v);
/* CHECK exists from 0.4.0 on. */
bool cni_version_has_check(const char *v);
/* A network name as the spec allows it: [A-Za-z0-9][A-Za-z0-9_.-]*, at most CNI_NAME_MAX. */
bool cni_name_is_valid(const char *s);
/* A plugin type: a plain file name ([A-Za-z0-9][A-Za-z0-9_.-]*), never a path. */
bool cni_plugin_type_is_valid(const char *s);

/* Parses and checks one conflist: an object with a valid name, a supported cniVersion, 1..CNI_PLUGINS_MAX
 * plugin objects each with a valid type, optional disableCheck. -EINVAL (or -EBADMSG for bad JSON) with
 * *ret_error (optional, set only on failure) saying what is wrong. */
int cni_conflist_parse(const char *text, size_t size, CniConflist **ret, char **ret_error);

/* Loads the conflist called name (NULL: the first *.conflist by file name that parses) from dir; every
 * plugin must be an executable file in plugin_dir. -ENOENT: no such network (or none at all), *ret_error
 * says so; -EINVAL: the file is bad or a plugin is missing, *ret_error says which. Conflists that do not
 * parse are skipped while looking for a name (and named in the -ENOENT message). */
int cni_conflist_load(const char *dir, const char *plugin_dir, const char *name, CniConflist **ret,
                      char **ret_error);

/* What an ADD answered, in short: the first IPv4 address (ip NULL when there is none: DHCP or no IPAM),
 * the MAC of the interface ifname inside the sandbox (NULL when not said), DNS servers; and the whole
 * result, for the next plugin's prevResult and for DEL and CHECK later. */
typedef struct CniResult {
        char *ip;
        uint32_t prefix;
        char *gateway;
        char *mac;
        char **dns;
        json_object *json;
} CniResult;

CniResult *cni_result_free(CniResult *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(CniResult *, cni_result_free);

/* Parses a plugin's successful output: an object with a supported cniVersion, ips[] (address "a.b.c.d/p",
 * optional gateway and interface index), interfaces[] (name, mac, sandbox), dns.nameservers[]; bounded
 * sizes. ifname picks the interface whose MAC is reported. -EINVAL/-EBADMSG with *ret_error on garbage. */
int cni_result_parse(const char *text, size_t size, const char *ifname, CniResult **ret, char **ret_error);

/* A plugin's error output ({"code": N, "msg": "...", "details": "..."}) as one sentence; NULL when text is
 * not such an object. */
char *cni_error_message(const char *text, size_t size);

/* One attachment: which container, namespace and interface, and the extra CNI_ARGS ("K=V;K=V", may be
 * NULL). */
typedef struct CniRuntime {
        const char *plugin_dir;
        const char *container_id;
        const char *netns; /* path */
        const char *ifname;
        const char *args;
        uint64_t timeout_usec; /* per plugin; 0: CNI_PLUGIN_TIMEOUT_USEC */
} CniRuntime;

/* ADD through the chain in order, each plugin getting the previous result as prevResult. On failure the
 * plugins that were added are deleted again (in reverse) and *ret_error says which plugin failed and what
 * it said: -EPROTO a plugin reported an error, -EBADMSG its output is garbage, -ETIMEDOUT it took too long,
 * other -errno when it could not run. */
int cni_add(const CniConflist *c, const CniRuntime *rt, CniResult **ret, char **ret_error);
/* DEL through the chain in reverse with prev_result (the ADD's final result, may be NULL). Every plugin is
 * asked even after one failed; the first failure is returned. */
int cni_del(const CniConflist *c, const CniRuntime *rt, json_object *prev_result, char **ret_error);
/* CHECK through the chain in order with prev_result; 0 when the conflist's version has no CHECK or
 * disableCheck is set. */
int cni_check(const CniConflist *c, const CniRuntime *rt, json_object *prev_result, char **ret_error);
