/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* CNI networks: conflists, the plugin chain (ADD, DEL, CHECK) and the plugins' results. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fd-util.h"
#include "fs-util.h"
#include "json-util.h"
#include "network-cni.h"
#include "parse-util.h"
#include "strv-util.h"
#include "time-util.h"

#define CNI_RESULT_ITEMS_MAX 64U
#define CNI_DNS_MAX 16U
/* The environment of a plugin: the CNI variables and a PATH for what plugins run (iptables, ...). */
#define CNI_PLUGIN_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static const char *const supported_versions[] = {"0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"};

static int set_error(char **ret_error, int r, const char *format, ...) _printf_(3, 4);
static int set_error(char **ret_error, int r, const char *format, ...) {
        va_list ap;
        if (!ret_error)
                return r;
        free(*ret_error);
        va_start(ap, format);
        if (vasprintf(ret_error, format, ap) < 0)
                *ret_error = NULL;
        va_end(ap);
        return r;
}

CniConflist *cni_conflist_free(CniConflist *c) {
        if (!c)
                return NULL;
        free(c->name);
        free(c->cni_version);
        json_object_put(c->plugins);
        free(c->path);
        free(c);
        return NULL;
}

CniResult *cni_result_free(CniResult *r) {
        if (!r)
                return NULL;
        free(r->ip);
        free(r->gateway);
        free(r->mac);
        strv_free(r->dns);
        json_object_put(r->json);
        free(r);
        return NULL;
}

bool cni_version_is_supported(const char *v) {
        for (size_t i = 0; v && i < ELEMENTSOF(supported_versions); i++)
                if (streq(v, supported_versions[i]))
                        return true;
        return false;
}

bool cni_version_has_check(const char *v) {
        return cni_version_is_supported(v) && !streq(v, "0.3.0") && !streq(v, "0.3.1");
}

static bool plain_name_is_valid(const char *s, size_t max) {
        size_t n = s ? strlen(s) : 0;
        if (n == 0 || n > max)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
                if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-')))
                        return false;
        }
        return true;
}

bool cni_name_is_valid(const char *s) {
        return plain_name_is_valid(s, CNI_NAME_MAX);
}

bool cni_plugin_type_is_valid(const char *s) {
        return plain_name_is_valid(s, NAME_MAX);
}

int cni_conflist_parse(const char *text, size_t size, CniConflist **ret, char **ret_error) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        _cleanup_(cni_conflist_freep) CniConflist *c = NULL;
        json_object *plugins = NULL, *v;
        const char *s;

        if (size > CNI_CONFLIST_SIZE_MAX)
                return set_error(ret_error, -EINVAL, "larger than %u bytes", CNI_CONFLIST_SIZE_MAX);
        if (json_parse(text, size, &o) < 0 || !json_object_is_type(o, json_type_object))
                return set_error(ret_error, -EBADMSG, "not a JSON object");
        if (json_get_string(o, "name", &s) < 0 || !cni_name_is_valid(s))
                return set_error(ret_error, -EINVAL, "name must be letters, digits, '_', '.' or '-'");
        c = calloc(1, sizeof(CniConflist));
        if (!c || !(c->name = strdup(s)))
                return -ENOMEM;
        if (json_get_string(o, "cniVersion", &s) < 0 || !cni_version_is_supported(s))
                return set_error(ret_error, -EINVAL,
                                 "cniVersion must be one of 0.3.0, 0.3.1, 0.4.0, 1.0.0, "
                                 "1.1.0");
        if (!(c->cni_version = strdup(s)))
                return -ENOMEM;
        if (json_object_object_get_ex(o, "disableCheck", &v) && !json_object_is_type(v, json_type_null)) {
                if (!json_object_is_type(v, json_type_boolean))
                        return set_error(ret_error, -EINVAL, "disableCheck must be a boolean");
                c->disable_check = json_object_get_boolean(v);
        }
        if (!json_object_object_get_ex(o, "plugins", &plugins) ||
            !json_object_is_type(plugins, json_type_array) || json_object_array_length(plugins) == 0 ||
            json_object_array_length(plugins) > CNI_PLUGINS_MAX)
                return set_error(ret_error, -EINVAL, "plugins must be a list of 1-%u plugins",
                                 CNI_PLUGINS_MAX);
        for (size_t i = 0; i < json_object_array_length(plugins); i++) {
                json_object *p = json_object_array_get_idx(plugins, i);
                if (!json_object_is_type(p, json_type_object) || json_get_string(p, "type", &s) < 0 ||
                    !cni_plugin_type_is_valid(s))
                        return set_error(ret_error, -EINVAL,
                                         "plugins[%zu]: type must name a plugin "
                                         "(a file name, not a path)",
                                         i);
        }
        c->plugins = json_object_get(plugins);
        *ret = TAKE_PTR(c);
        return 0;
}

static int conflist_check_plugins(const CniConflist *c, const char *plugin_dir, char **ret_error) {
        _cleanup_close_ int dir_fd = open(plugin_dir, O_DIRECTORY | O_CLOEXEC | O_PATH);
        if (dir_fd < 0)
                return set_error(ret_error, -EINVAL, "cannot open the plugin directory %s: %s", plugin_dir,
                                 strerror(errno));
        for (size_t i = 0; i < json_object_array_length(c->plugins); i++) {
                const char *type = NULL;
                struct stat st;
                (void) json_get_string(json_object_array_get_idx(c->plugins, i), "type", &type);
                if (fstatat(dir_fd, type, &st, 0) < 0 || !S_ISREG(st.st_mode) ||
                    faccessat(dir_fd, type, X_OK, AT_EACCESS) < 0)
                        return set_error(ret_error, -EINVAL,
                                         "network '%s': plugin '%s' is not an executable "
                                         "in %s",
                                         c->name, type, plugin_dir);
        }
        return 0;
}

static bool is_conflist_name(const char *n) {
        size_t l = strlen(n);
        return n[0] != '.' && l > strlen(".conflist") && streq(n + l - strlen(".conflist"), ".conflist");
}

int cni_conflist_load(const char *dir, const char *plugin_dir, const char *name, CniConflist **ret,
                      char **ret_error) {
        _cleanup_strv_free_ char **files = NULL, **bad = NULL;
        _cleanup_close_ int dir_fd = open(dir, O_DIRECTORY | O_CLOEXEC);
        _cleanup_free_ char *bad_joined = NULL;
        int r;

        if (dir_fd < 0)
                return set_error(ret_error, -ENOENT, "no CNI network: cannot open %s: %s", dir,
                                 strerror(errno));
        _cleanup_close_ int list_fd = dup(dir_fd);
        DIR *d = list_fd >= 0 ? fdopendir(list_fd) : NULL;
        if (!d)
                return -errno;
        TAKE_FD(list_fd);
        struct dirent *de;
        while ((de = readdir(d)))
                if (is_conflist_name(de->d_name) && strv_length(files) < CNI_CONFLISTS_MAX &&
                    strv_extend(&files, de->d_name) < 0) {
                        closedir(d);
                        return -ENOMEM;
                }
        closedir(d);
        strv_sort(files);

        for (char **f = files; f && *f; f++) {
                _cleanup_(cni_conflist_freep) CniConflist *c = NULL;
                _cleanup_free_ char *text = NULL, *error = NULL;
                size_t size;
                r = read_full_file_at(dir_fd, *f, CNI_CONFLIST_SIZE_MAX, &text, &size);
                if (r >= 0)
                        r = cni_conflist_parse(text, size, &c, &error);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        if (strv_extend(&bad, *f) < 0)
                                return -ENOMEM;
                        if (name)
                                continue;
                        return set_error(ret_error, -EINVAL, "%s/%s: %s", dir, *f, error ?: strerror(-r));
                }
                if (name && !streq(c->name, name))
                        continue;
                if (asprintf(&c->path, "%s/%s", dir, *f) < 0)
                        return -ENOMEM;
                r = conflist_check_plugins(c, plugin_dir, ret_error);
                if (r < 0)
                        return r;
                *ret = TAKE_PTR(c);
                return 0;
        }
        bad_joined = strv_join(bad, ", ");
        if (!name)
                return set_error(ret_error, -ENOENT, "no CNI network: no *.conflist in %s", dir);
        return set_error(ret_error, -ENOENT, "no CNI network '%s' in %s%s%s", name, dir,
                         bad ? "; unreadable: " : "", bad_joined ?: "");
}

/* ---- results ---- */

static bool ipv4_parse(const char *s, struct in_addr *ret) {
        return s && strlen(s) <= 15 && inet_pton(AF_INET, s, ret) == 1;
}

static bool mac_normalize(const char *s, char ret[static 18]) {
        unsigned b[6];
        char end;
        if (!s || strlen(s) != 17 ||
            sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &end) != 6)
                return false;
        for (size_t i = 0; i < 17; i++)
                if (i % 3 == 2 ? s[i] != ':' : !strchr("0123456789abcdefABCDEF", s[i]))
                        return false;
        snprintf(ret, 18, "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
        return true;
}

static int optional_array(json_object *o, const char *key, size_t max, json_object **ret) {
        json_object *v = NULL;
        *ret = NULL;
        if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
                return 0;
        if (!json_object_is_type(v, json_type_array) || json_object_array_length(v) > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

/* "a.b.c.d/p" into its address and prefix; 0 when it is IPv4, -EAFNOSUPPORT for another family. */
static int cidr_parse(const char *s, char **ret_ip, uint32_t *ret_prefix) {
        const char *slash = s ? strchr(s, '/') : NULL;
        char ip[16];
        struct in_addr a;
        uint32_t prefix;

        if (!slash || parse_uint32(slash + 1, &prefix) < 0)
                return -EINVAL;
        size_t len = (size_t) (slash - s);
        if (memchr(s, ':', len))
                return -EAFNOSUPPORT;
        if (len > 15)
                return -EINVAL;
        memcpy(ip, s, len);
        ip[len] = 0;
        if (!ipv4_parse(ip, &a) || prefix > 32)
                return -EINVAL;
        *ret_ip = strdup(ip);
        if (!*ret_ip)
                return -ENOMEM;
        *ret_prefix = prefix;
        return 0;
}

static int result_read_interfaces(json_object *o, const char *ifname, CniResult *res) {
        json_object *ifs;
        if (optional_array(o, "interfaces", CNI_RESULT_ITEMS_MAX, &ifs) < 0)
                return -EINVAL;
        for (size_t i = 0; ifs && i < json_object_array_length(ifs); i++) {
                json_object *e = json_object_array_get_idx(ifs, i);
                const char *name, *mac, *sandbox = NULL;
                char normalized[18];
                if (!json_object_is_type(e, json_type_object) || json_get_string(e, "name", &name) < 0)
                        return -EINVAL;
                int r = json_get_string(e, "sandbox", &sandbox);
                if (r == -EINVAL)
                        return r;
                r = json_get_string(e, "mac", &mac);
                if (r == -EINVAL || (r >= 0 && !mac_normalize(mac, normalized)))
                        return -EINVAL;
                if (r >= 0 && !res->mac && ifname && streq(name, ifname) && !isempty(sandbox) &&
                    !(res->mac = strdup(normalized)))
                        return -ENOMEM;
        }
        return 0;
}

static int result_read_ips(json_object *o, CniResult *res) {
        json_object *ips;
        if (optional_array(o, "ips", CNI_RESULT_ITEMS_MAX, &ips) < 0)
                return -EINVAL;
        for (size_t i = 0; ips && i < json_object_array_length(ips); i++) {
                json_object *e = json_object_array_get_idx(ips, i);
                const char *address, *gateway = NULL;
                _cleanup_free_ char *ip = NULL;
                uint32_t prefix;
                struct in_addr a;

                if (!json_object_is_type(e, json_type_object) || json_get_string(e, "address", &address) < 0)
                        return -EINVAL;
                int r = json_get_string(e, "gateway", &gateway);
                if (r == -EINVAL)
                        return r;
                r = cidr_parse(address, &ip, &prefix);
                if (r == -EAFNOSUPPORT)
                        continue; /* IPv6: the guest contract has IPv4 static addresses only */
                if (r < 0)
                        return r;
                if (gateway && !ipv4_parse(gateway, &a))
                        return -EINVAL;
                if (res->ip)
                        continue;
                res->ip = TAKE_PTR(ip);
                res->prefix = prefix;
                if (gateway && !(res->gateway = strdup(gateway)))
                        return -ENOMEM;
        }
        return 0;
}

static int result_read_dns(json_object *o, CniResult *res) {
        json_object *dns, *servers;
        struct in_addr a;
        if (!json_object_object_get_ex(o, "dns", &dns) || json_object_is_type(dns, json_type_null))
                return 0;
        if (!json_object_is_type(dns, json_type_object) ||
            optional_array(dns, "nameservers", CNI_DNS_MAX, &servers) < 0)
                return -EINVAL;
        for (size_t i = 0; servers && i < json_object_array_length(servers); i++) {
                json_object *s = json_object_array_get_idx(servers, i);
                if (!json_object_is_type(s, json_type_string))
                        return -EINVAL;
                /* IPv6 servers are skipped: ip= takes IPv4 ones. */
                if (ipv4_parse(json_object_get_string(s), &a) &&
                    strv_extend(&res->dns, json_object_get_string(s)) < 0)
                        return -ENOMEM;
        }
        return 0;
}

int cni_result_parse(const char *text, size_t size, const char *ifname, CniResult **ret, char **ret_error) {
        _cleanup_(cni_result_freep) CniResult *res = NULL;
        _cleanup_(json_object_putp) json_object *o = NULL;
        const char *version;
        int r;

        if (size > CNI_OUTPUT_SIZE_MAX)
                return set_error(ret_error, -EBADMSG, "result larger than %u bytes", CNI_OUTPUT_SIZE_MAX);
        if (json_parse(text, size, &o) < 0 || !json_object_is_type(o, json_type_object))
                return set_error(ret_error, -EBADMSG, "result is not a JSON object");
        if (json_get_string(o, "cniVersion", &version) < 0 || !cni_version_is_supported(version))
                return set_error(ret_error, -EBADMSG, "result has no supported cniVersion");
        res = calloc(1, sizeof(CniResult));
        if (!res)
                return -ENOMEM;
        if ((r = result_read_interfaces(o, ifname, res)) < 0 || (r = result_read_ips(o, res)) < 0 ||
            (r = result_read_dns(o, res)) < 0) {
                if (r == -ENOMEM)
                        return r;
                return set_error(ret_error, -EBADMSG, "result has malformed interfaces, ips or dns");
        }
        res->json = TAKE_PTR(o);
        *ret = TAKE_PTR(res);
        return 0;
}

char *cni_error_message(const char *text, size_t size) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        const char *msg = NULL, *details = NULL;
        int64_t code = 0;
        char *s = NULL;

        if (size == 0 || size > CNI_OUTPUT_SIZE_MAX || json_parse(text, size, &o) < 0 ||
            !json_object_is_type(o, json_type_object) || json_get_string(o, "msg", &msg) < 0)
                return NULL;
        (void) json_get_int64(o, "code", &code);
        (void) json_get_string(o, "details", &details);
        /* Bounded: a plugin's message ends up in a Varlink reply and the journal. */
        if (asprintf(&s, "%.512s%s%.512s (code %lld)", msg, isempty(details) ? "" : ": ", details ?: "",
                     (long long) code) < 0)
                return NULL;
        return s;
}

/* ---- running plugins ---- */

extern char **environ;

typedef struct PluginOutput {
        char *data;
        size_t size;
        int status; /* waitpid() status */
} PluginOutput;

static void plugin_output_done(PluginOutput *o) {
        free(o->data);
}

static int env_add(char ***env, const char *key, const char *value) {
        char *s;
        if (asprintf(&s, "%s=%s", key, value ?: "") < 0)
                return -ENOMEM;
        return strv_push(env, s);
}

static int plugin_env(const CniRuntime *rt, const char *command, char ***ret) {
        _cleanup_strv_free_ char **env = NULL;
        if (env_add(&env, "CNI_COMMAND", command) < 0 ||
            env_add(&env, "CNI_CONTAINERID", rt->container_id) < 0 ||
            env_add(&env, "CNI_NETNS", rt->netns) < 0 || env_add(&env, "CNI_IFNAME", rt->ifname) < 0 ||
            env_add(&env, "CNI_ARGS", rt->args) < 0 || env_add(&env, "CNI_PATH", rt->plugin_dir) < 0 ||
            strv_extend(&env, CNI_PLUGIN_PATH) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(env);
        return 0;
}

/* Feeds input, collects up to CNI_OUTPUT_SIZE_MAX of output until the plugin closes it, within the
 * deadline. */
static int plugin_talk(int in_fd, int out_fd, const char *input, size_t input_size, uint64_t deadline,
                       PluginOutput *out) {
        size_t written = 0, allocated = 0;
        bool in_open = true;

        while (out_fd >= 0) {
                struct pollfd p[2] = {{.fd = out_fd, .events = POLLIN},
                                      {.fd = in_open ? in_fd : -1, .events = POLLOUT}};
                uint64_t now = now_usec(CLOCK_MONOTONIC);
                if (now >= deadline)
                        return -ETIMEDOUT;
                int k = poll(p, 2, (int) MIN((deadline - now) / 1000 + 1, (uint64_t) INT32_MAX));
                if (k < 0 && errno != EINTR)
                        return -errno;
                if (k <= 0)
                        continue;
                if (in_open && p[1].revents) {
                        ssize_t n = written < input_size
                                            ? fd_write_nosignal(in_fd, input + written, input_size - written)
                                            : 0;
                        if (n < 0 && n != -EAGAIN && n != -EINTR)
                                written = input_size; /* the plugin stopped reading: its business */
                        else if (n > 0)
                                written += (size_t) n;
                        if (written >= input_size) {
                                (void) shutdown(in_fd, SHUT_WR);
                                in_open = false;
                        }
                }
                if (p[0].revents) {
                        if (out->size + 4096 + 1 > allocated) {
                                size_t n = MIN(MAX(allocated * 2, (size_t) 8192),
                                               (size_t) CNI_OUTPUT_SIZE_MAX + 4097);
                                char *d = realloc(out->data, n);
                                if (!d)
                                        return -ENOMEM;
                                out->data = d;
                                allocated = n;
                        }
                        ssize_t n = read(out_fd, out->data + out->size, 4096);
                        if (n < 0 && errno != EAGAIN && errno != EINTR)
                                return -errno;
                        if (n == 0)
                                break;
                        if (n > 0)
                                out->size += (size_t) n;
                        if (out->size > CNI_OUTPUT_SIZE_MAX)
                                return -EFBIG;
                }
        }
        if (out->data)
                out->data[out->size] = 0;
        return 0;
}

static int plugin_run(const CniRuntime *rt, const char *type, const char *command, const char *input,
                      PluginOutput *out) {
        _cleanup_strv_free_ char **env = NULL;
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int in_parent = -EBADF, in_child = -EBADF, out_parent = -EBADF, out_child = -EBADF;
        int sv[2], pp[2];
        pid_t pid;

        if (asprintf(&path, "%s/%s", rt->plugin_dir, type) < 0 || plugin_env(rt, command, &env) < 0)
                return -ENOMEM;
        /* stdin is a socket: writing to a plugin that exited early is EPIPE, never SIGPIPE. */
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                return -errno;
        in_parent = sv[0];
        in_child = sv[1];
        if (pipe2(pp, O_CLOEXEC) < 0)
                return -errno;
        out_parent = pp[0];
        out_child = pp[1];

        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, in_child, STDIN_FILENO);
        posix_spawn_file_actions_adddup2(&actions, out_child, STDOUT_FILENO);
        /* The plugin starts with no signal blocked and default dispositions, whatever its caller's thread
         * had (the helper blocks SIGTERM for its event loop). */
        posix_spawnattr_t attr;
        sigset_t none, all;
        sigemptyset(&none);
        sigfillset(&all);
        posix_spawnattr_init(&attr);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        posix_spawnattr_setsigmask(&attr, &none);
        posix_spawnattr_setsigdefault(&attr, &all);
        char *argv[] = {(char *) type, NULL};
        int r = posix_spawn(&pid, path, &actions, &attr, argv, env);
        posix_spawn_file_actions_destroy(&actions);
        posix_spawnattr_destroy(&attr);
        if (r != 0)
                return -r;
        in_child = safe_close(in_child);
        out_child = safe_close(out_child);
        (void) fd_nonblock(in_parent, true);
        (void) fd_nonblock(out_parent, true);

        uint64_t deadline = now_usec(CLOCK_MONOTONIC) + (rt->timeout_usec ?: CNI_PLUGIN_TIMEOUT_USEC);
        r = plugin_talk(in_parent, out_parent, input, strlen(input), deadline, out);
        if (r < 0)
                (void) kill(pid, SIGKILL);
        while (waitpid(pid, &out->status, 0) < 0)
                if (errno != EINTR)
                        return r < 0 ? r : -errno;
        return r;
}

/* The plugin's configuration as the spec has it on stdin: its object with the network's name and version,
 * and prevResult when there is one. */
static int plugin_input(const CniConflist *c, size_t index, json_object *prev_result, char **ret) {
        _cleanup_(json_object_putp) json_object *conf = NULL;
        json_object *p = json_object_array_get_idx(c->plugins, index);

        if (json_object_deep_copy(p, &conf, NULL) < 0 || json_add_string(conf, "name", c->name) < 0 ||
            json_add_string(conf, "cniVersion", c->cni_version) < 0)
                return -ENOMEM;
        if (prev_result) {
                json_object_object_del(conf, "prevResult");
                if (json_add_object(conf, "prevResult", json_object_get(prev_result)) < 0)
                        return -ENOMEM;
        }
        *ret = strdup(json_to_string(conf));
        return *ret ? 0 : -ENOMEM;
}

static const char *plugin_type(const CniConflist *c, size_t index) {
        const char *type = NULL;
        (void) json_get_string(json_object_array_get_idx(c->plugins, index), "type", &type);
        return type;
}

/* Runs one plugin; on success *ret_output (optional) has what it printed. */
static int plugin_call(const CniConflist *c, size_t index, const CniRuntime *rt, const char *command,
                       json_object *prev_result, PluginOutput *ret_output, char **ret_error) {
        _cleanup_(plugin_output_done) PluginOutput out = {};
        _cleanup_free_ char *input = NULL, *message = NULL;
        const char *type = plugin_type(c, index);

        int r = plugin_input(c, index, prev_result, &input);
        if (r < 0)
                return r;
        r = plugin_run(rt, type, command, input, &out);
        if (r == -ETIMEDOUT)
                return set_error(ret_error, r, "network '%s': plugin %s (%s) did not answer in time",
                                 c->name, type, command);
        if (r == -EFBIG)
                return set_error(ret_error, -EBADMSG, "network '%s': plugin %s (%s) printed too much",
                                 c->name, type, command);
        if (r < 0)
                return set_error(ret_error, r, "network '%s': cannot run plugin %s: %s", c->name, type,
                                 strerror(-r));
        if (WIFEXITED(out.status) && WEXITSTATUS(out.status) == 0) {
                if (ret_output)
                        *ret_output = out, out = (PluginOutput){};
                return 0;
        }
        message = cni_error_message(out.data, out.size);
        if (message)
                return set_error(ret_error, -EPROTO, "network '%s': plugin %s (%s) failed: %s", c->name,
                                 type, command, message);
        if (WIFEXITED(out.status))
                return set_error(ret_error, -EPROTO, "network '%s': plugin %s (%s) exited with status %d",
                                 c->name, type, command, WEXITSTATUS(out.status));
        return set_error(ret_error, -EPROTO, "network '%s': plugin %s (%s) was killed by signal %d", c->name,
                         type, command, WTERMSIG(out.status));
}

static int del_range(const CniConflist *c, size_t n, const CniRuntime *rt, json_object *prev_result,
                     char **ret_error) {
        int ret = 0;
        for (size_t i = n; i > 0; i--) {
                _cleanup_free_ char *error = NULL;
                int r = plugin_call(c, i - 1, rt, "DEL", prev_result, NULL, &error);
                if (r < 0 && ret == 0) {
                        ret = r;
                        if (ret_error) {
                                free(*ret_error);
                                *ret_error = TAKE_PTR(error);
                        }
                }
        }
        return ret;
}

int cni_add(const CniConflist *c, const CniRuntime *rt, CniResult **ret, char **ret_error) {
        _cleanup_(cni_result_freep) CniResult *result = NULL;
        size_t n = json_object_array_length(c->plugins);

        for (size_t i = 0; i < n; i++) {
                _cleanup_(plugin_output_done) PluginOutput out = {};
                _cleanup_free_ char *error = NULL;
                CniResult *next = NULL;
                int r = plugin_call(c, i, rt, "ADD", result ? result->json : NULL, &out, ret_error);
                if (r >= 0) {
                        r = cni_result_parse(out.data ?: "", out.size, rt->ifname, &next, &error);
                        if (r < 0 && r != -ENOMEM)
                                (void) set_error(ret_error, r,
                                                 "network '%s': plugin %s answered ADD with "
                                                 "garbage: %s",
                                                 c->name, plugin_type(c, i), error ?: "?");
                }
                if (r < 0) {
                        /* What the chain added so far goes again; the failed plugin is asked too (the spec:
                         * DEL must clean up after a partial ADD). */
                        (void) del_range(c, i + 1, rt, result ? result->json : NULL, NULL);
                        return r;
                }
                cni_result_free(result);
                result = next;
        }
        *ret = TAKE_PTR(result);
        return 0;
}

int cni_del(const CniConflist *c, const CniRuntime *rt, json_object *prev_result, char **ret_error) {
        return del_range(c, json_object_array_length(c->plugins), rt, prev_result, ret_error);
}

int cni_check(const CniConflist *c, const CniRuntime *rt, json_object *prev_result, char **ret_error) {
        if (!cni_version_has_check(c->cni_version) || c->disable_check)
                return 0;
        for (size_t i = 0; i < json_object_array_length(c->plugins); i++) {
                int r = plugin_call(c, i, rt, "CHECK", prev_result, NULL, ret_error);
                if (r < 0)
                        return r;
        }
        return 0;
}
