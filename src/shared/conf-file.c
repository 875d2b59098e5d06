/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The manager's configuration: /etc/cocoon/cocoon.conf plus cocoon.conf.d/ drop-ins, INI like systemd's. */
#include <ctype.h>
#include <dirent.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>

#include "conf-file.h"
#include "config.h"
#include "fs-util.h"
#include "hypervisor.h"
#include "log.h"
#include "macro.h"
#include "network-dns.h"
#include "network-cni.h"
#include "parse-util.h"
#include "strv-util.h"
#include "time-util.h"
#include "vm-types.h"

#define DEFAULT_STOP_TIMEOUT_SEC 30U
#define DEFAULT_KILL_GRACE_SEC 5U
#define DEFAULT_CONSOLE_LOG_MAX_BYTES (UINT64_C(1) << 20)
#define DROPIN_SUFFIX ".conf"

static const char *const accel_table[_ACCEL_MAX] = {
        [ACCEL_AUTO] = "auto",
        [ACCEL_KVM] = "kvm",
        [ACCEL_TCG] = "tcg",
};

const char *accel_to_string(Accel a) {
        if (a < 0 || a >= _ACCEL_MAX)
                return NULL;
        return accel_table[a];
}

Accel accel_from_string(const char *s) {
        if (!s)
                return _ACCEL_INVALID;
        for (size_t i = 0; i < ELEMENTSOF(accel_table); i++)
                if (streq(accel_table[i], s))
                        return (Accel) i;
        return _ACCEL_INVALID;
}

/* ---- value parsers: value is trimmed; field points into the CocoonConfig ---- */

typedef int (*ConfigParser)(const char *value, void *field);

static int config_parse_sec(const char *value, void *field) {
        uint64_t sec;
        int r;

        r = parse_uint64(value, &sec);
        if (r < 0)
                return r;
        /* 0 would mean "no timeout at all" to systemd's TimeoutStopUSec: never what anyone wants here. */
        if (sec == 0)
                return -EINVAL;
        if (sec > UINT64_MAX / USEC_PER_SEC)
                return -ERANGE;
        *(uint64_t *) field = sec * USEC_PER_SEC;
        return 0;
}

static int config_parse_pool_size(const char *value, void *field) {
        uint32_t n;
        int r;

        r = parse_uint32(value, &n);
        if (r < 0)
                return r;
        if (n == 0 || n > COCOON_CONFIG_POOL_SIZE_MAX)
                return -ERANGE;
        *(unsigned *) field = n;
        return 0;
}

static int config_parse_size(const char *value, void *field) {
        uint64_t n;
        int r;

        r = parse_size(value, &n);
        if (r < 0)
                return r;
        if (n == 0)
                return -EINVAL;
        *(uint64_t *) field = n;
        return 0;
}

/* A size that may be 0 (none). */
static int config_parse_size_or_none(const char *value, void *field) {
        return parse_size(value, (uint64_t *) field);
}

static int config_parse_accel(const char *value, void *field) {
        Accel a = accel_from_string(value);

        if (a < 0)
                return a;
        *(Accel *) field = a;
        return 0;
}

static int replace_string(char **field, const char *value) {
        char *s = strdup(value);

        if (!s)
                return -ENOMEM;
        free(*field);
        *field = s;
        return 0;
}

static int config_parse_backend(const char *value, void *field) {
        if (!streq(value, COCOON_BACKEND_AUTO) && !hypervisor_find(value))
                return -EINVAL;
        return replace_string(field, value);
}

/* A command name searched in $PATH, or an absolute path; nothing that a shell or a relative lookup could
 * reinterpret. */
static int config_parse_binary(const char *value, void *field) {
        if (isempty(value) || (strchr(value, '/') && value[0] != '/'))
                return -EINVAL;
        for (const char *p = value; *p; p++)
                if ((unsigned char) *p <= ' ' || *p == 0x7f)
                        return -EINVAL;
        return replace_string(field, value);
}

static int config_parse_dns(const char *value, void *field) {
        char **l;
        int r = dns_servers_parse(value, &l);
        if (r < 0)
                return r;
        strv_free(*(char ***) field);
        *(char ***) field = l;
        return 0;
}

static bool has_suffix(const char *s, const char *suffix) {
        size_t n = strlen(s), m = strlen(suffix);
        return n >= m && streq(s + n - m, suffix);
}

/* An absolute directory path without "." or ".." components (CNI_PATH takes no ':'). */
static int config_parse_directory(const char *value, void *field) {
        if (isempty(value) || value[0] != '/' || strlen(value) >= PATH_MAX || strstr(value, "/./") ||
            strstr(value, "/../") || has_suffix(value, "/.") || has_suffix(value, "/.."))
                return -EINVAL;
        for (const char *p = value; *p; p++)
                if ((unsigned char) *p < ' ' || *p == 0x7f || *p == ':')
                        return -EINVAL;
        return replace_string(field, value);
}

static int config_parse_pull_parallel(const char *value, void *field) {
        uint32_t n;
        int r;

        r = parse_uint32(value, &n);
        if (r < 0)
                return r;
        if (n == 0 || n > COCOON_CONFIG_PULL_PARALLEL_MAX)
                return -ERANGE;
        *(unsigned *) field = n;
        return 0;
}

/* Whitespace-separated host[:port] names: letters, digits, '.', '-', ':', '[', ']' (IPv6). */
static int config_parse_registries(const char *value, void *field) {
        _cleanup_strv_free_ char **l = NULL;
        const char *p = value;

        for (;;) {
                size_t n;
                char *s;

                p += strspn(p, " \t");
                n = strcspn(p, " \t");
                if (n == 0)
                        break;
                for (size_t i = 0; i < n; i++)
                        if (!isalnum((unsigned char) p[i]) && !strchr(".-:[]", p[i]))
                                return -EINVAL;
                s = strndup(p, n);
                if (!s || strv_push(&l, s) < 0) {
                        free(s);
                        return -ENOMEM;
                }
                p += n;
        }
        strv_free(*(char ***) field);
        *(char ***) field = TAKE_PTR(l);
        return 0;
}

typedef struct ConfigItem {
        const char *section;
        const char *key;
        ConfigParser parse;
        size_t offset;
} ConfigItem;

static const ConfigItem config_items[] = {
#define FIELD(f) offsetof(CocoonConfig, f)
        { "Manager", "StopTimeoutSec", config_parse_sec, FIELD(stop_timeout_usec) },
        { "Manager", "KillGraceSec", config_parse_sec, FIELD(kill_grace_usec) },
        { "Manager", "PoolSize", config_parse_pool_size, FIELD(pool_size) },
        { "Manager", "DefaultBackend", config_parse_backend, FIELD(default_backend) },
        { "Manager", "ConsoleLogMaxBytes", config_parse_size, FIELD(console_log_max_bytes) },
        { "QEMU", "Accel", config_parse_accel, FIELD(qemu_accel) },
        { "QEMU", "Binary", config_parse_binary, FIELD(qemu_binary) },
        { "Network", "DNS", config_parse_dns, FIELD(network_dns) },
        { "Network", "ConfigDirectory", config_parse_directory, FIELD(cni_config_dir) },
        { "Network", "PluginDirectory", config_parse_directory, FIELD(cni_plugin_dir) },
        { "Images", "PullParallel", config_parse_pull_parallel, FIELD(pull_parallel) },
        { "Images", "InsecureRegistries", config_parse_registries, FIELD(insecure_registries) },
        { "Images", "UnpackMemory", config_parse_size_or_none, FIELD(unpack_memory) },
        { "CloudHypervisor", "Binary", config_parse_binary, FIELD(cloud_hypervisor_binary) },
        { "Firecracker", "Binary", config_parse_binary, FIELD(firecracker_binary) },
#undef FIELD
};

static const ConfigItem *config_item_find(const char *section, const char *key) {
        for (size_t i = 0; i < ELEMENTSOF(config_items); i++)
                if (streq(config_items[i].section, section) && streq(config_items[i].key, key))
                        return config_items + i;
        return NULL;
}

static bool config_section_known(const char *section) {
        for (size_t i = 0; i < ELEMENTSOF(config_items); i++)
                if (streq(config_items[i].section, section))
                        return true;
        return false;
}

void cocoon_config_done(CocoonConfig *c) {
        if (!c)
                return;
        c->default_backend = mfree(c->default_backend);
        c->qemu_binary = mfree(c->qemu_binary);
        c->network_dns = strv_free(c->network_dns);
        c->cni_config_dir = mfree(c->cni_config_dir);
        c->cni_plugin_dir = mfree(c->cni_plugin_dir);
        c->insecure_registries = strv_free(c->insecure_registries);
        c->cloud_hypervisor_binary = mfree(c->cloud_hypervisor_binary);
        c->firecracker_binary = mfree(c->firecracker_binary);
        c->warnings = strv_free(c->warnings);
}

/* Workers mostly wait (for a hypervisor's sockets, for systemd's jobs, for a guest to power off), so a small
 * host still runs a batch of eight starts at once; bigger hosts get one per CPU. */
#define POOL_SIZE_MIN_DEFAULT 8U

static unsigned default_pool_size(void) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);

        n = MAX(n, (long) POOL_SIZE_MIN_DEFAULT);
        return (unsigned) MIN((unsigned long) n, (unsigned long) COCOON_CONFIG_POOL_SIZE_MAX);
}

/* A quarter of the RAM: what a pull's tmpfs may hold at most (its pages can be swapped out, and only a
 * pull's trees, removed as each layer's image is made, are ever in it). */
static uint64_t default_unpack_memory(void) {
        long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGESIZE);

        return pages > 0 && page_size > 0 ? (uint64_t) pages * (uint64_t) page_size / 4 : 0;
}

int cocoon_config_defaults(CocoonConfig *ret) {
        _cleanup_(cocoon_config_done) CocoonConfig c = {
                .stop_timeout_usec = DEFAULT_STOP_TIMEOUT_SEC * USEC_PER_SEC,
                .kill_grace_usec = DEFAULT_KILL_GRACE_SEC * USEC_PER_SEC,
                .pool_size = default_pool_size(),
                .console_log_max_bytes = DEFAULT_CONSOLE_LOG_MAX_BYTES,
                .qemu_accel = ACCEL_AUTO,
                .pull_parallel = 3,
                .unpack_memory = default_unpack_memory(),
        };

        c.default_backend = strdup(COCOON_BACKEND_AUTO);
        c.qemu_binary = strdup("qemu-system-x86_64");
        c.cni_config_dir = strdup(CNI_CONFIG_DIRECTORY_DEFAULT);
        c.cni_plugin_dir = strdup(CNI_PLUGIN_DIRECTORY_DEFAULT);
        c.cloud_hypervisor_binary = strdup("cloud-hypervisor");
        c.firecracker_binary = strdup("firecracker");
        if (!c.default_backend || !c.qemu_binary || !c.cni_config_dir || !c.cni_plugin_dir ||
            !c.cloud_hypervisor_binary || !c.firecracker_binary)
                return -ENOMEM;

        *ret = c;
        c = (CocoonConfig) {};
        return 0;
}

/* ---- the file format ---- */

/* Stores the message in *ret_error (if wanted) and returns error; -ENOMEM if the message cannot be made. */
static _printf_(3, 4) int set_error(char **ret_error, int error, const char *format, ...) {
        va_list ap;
        char *s;
        int k;

        if (!ret_error)
                return error;
        va_start(ap, format);
        k = vasprintf(&s, format, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;
        free(*ret_error);
        *ret_error = s;
        return error;
}

static char *strstrip(char *s) {
        char *end;

        while (*s == ' ' || *s == '\t' || *s == '\r')
                s++;
        end = s + strlen(s);
        while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
                end--;
        *end = '\0';
        return s;
}

typedef struct ParseState {
        const char *file;
        unsigned line;
        char *section; /* NULL before the first header */
        bool section_known;
        char **error;
        char ***warnings;
} ParseState;

/* One line in *st->warnings, also logged at debug (the caller decides how loud to be). */
static _printf_(2, 3) int add_warning(ParseState *st, const char *format, ...) {
        va_list ap;
        char *s;
        int k, r;

        va_start(ap, format);
        k = vasprintf(&s, format, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;
        log_debug("%s", s);
        r = strv_push(st->warnings, s);
        if (r < 0)
                free(s);
        return r;
}

static int parse_section_header(ParseState *st, char *l) {
        size_t len = strlen(l);
        char *name;

        if (l[len - 1] != ']')
                return set_error(st->error, -EINVAL, "%s:%u: Section header without ']'",
                                 st->file, st->line);
        l[len - 1] = '\0';
        name = strstrip(l + 1);
        if (isempty(name))
                return set_error(st->error, -EINVAL, "%s:%u: Empty section name", st->file, st->line);

        st->section_known = config_section_known(name);
        if (!st->section_known) {
                int r = add_warning(st, "%s:%u: Unknown section [%s], its settings are ignored.", st->file,
                                    st->line, name);
                if (r < 0)
                        return r;
        }
        return replace_string(&st->section, name);
}

static int parse_assignment(CocoonConfig *c, ParseState *st, char *l) {
        const ConfigItem *item;
        char *eq, *key, *value;
        int r;

        eq = strchr(l, '=');
        if (!eq)
                return set_error(st->error, -EINVAL, "%s:%u: Expected [Section] or Key=Value",
                                 st->file, st->line);
        *eq = '\0';
        key = strstrip(l);
        value = strstrip(eq + 1);
        if (isempty(key))
                return set_error(st->error, -EINVAL, "%s:%u: Assignment without a key", st->file, st->line);
        if (!st->section)
                return set_error(st->error, -EINVAL, "%s:%u: %s= outside of a section",
                                 st->file, st->line, key);

        item = config_item_find(st->section, key);
        if (!item) {
                if (!st->section_known)
                        return 0; /* said once, at its header */
                return add_warning(st, "%s:%u: Unknown setting %s= in [%s], ignored.", st->file, st->line,
                                   key, st->section);
        }

        r = item->parse(value, (uint8_t *) c + item->offset);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return set_error(st->error, -EINVAL, "%s:%u: Invalid value for [%s] %s=: \"%s\"",
                                 st->file, st->line, st->section, key, value);
        return 0;
}

/* Applies the text of one file (modified in place) to c. */
static int config_parse_text(CocoonConfig *c, const char *file, char *text, char **error) {
        ParseState st = { .file = file, .error = error, .warnings = &c->warnings };
        char *next = text;
        int r = 0;

        while (next && r >= 0) {
                char *l = next;

                next = strchr(l, '\n');
                if (next)
                        *next++ = '\0';
                st.line++;

                l = strstrip(l);
                if (l[0] == '\0' || l[0] == '#' || l[0] == ';')
                        continue;
                if (l[0] == '[')
                        r = parse_section_header(&st, l);
                else
                        r = parse_assignment(c, &st, l);
        }

        free(st.section);
        return r;
}

static int config_parse_file(CocoonConfig *c, const char *file, char **error) {
        _cleanup_free_ char *text = NULL;
        size_t size;
        int r;

        r = read_full_file(file, &text, &size);
        if (r == -ENOENT) {
                log_debug("Configuration file %s does not exist, skipping.", file);
                return 0;
        }
        if (r < 0)
                return set_error(error, r, "%s: %s", file, strerror(-r));
        if (strlen(text) != size)
                return set_error(error, -EINVAL, "%s: Contains a NUL byte", file);

        return config_parse_text(c, file, text, error);
}

static bool dropin_name_is_valid(const char *name) {
        size_t l = strlen(name), s = strlen(DROPIN_SUFFIX);

        return name[0] != '.' && l > s && streq(name + l - s, DROPIN_SUFFIX);
}

/* The drop-ins of dir in lexical order, as full paths; missing dir = none. */
static int config_list_dropins(const char *dir, char ***ret) {
        _cleanup_strv_free_ char **paths = NULL;
        _cleanup_(closedirp) DIR *d = NULL;
        int r;

        d = opendir(dir);
        if (!d) {
                if (errno != ENOENT)
                        return negative_errno();
                *ret = NULL;
                return 0;
        }

        for (;;) {
                _cleanup_free_ char *p = NULL;
                struct dirent *de;
                struct stat st;

                errno = 0;
                de = readdir(d);
                if (!de) {
                        if (errno != 0)
                                return negative_errno();
                        break;
                }
                if (!dropin_name_is_valid(de->d_name))
                        continue;
                if (asprintf(&p, "%s/%s", dir, de->d_name) < 0)
                        return -ENOMEM;
                /* Only regular files (or symlinks to them): a subdirectory named x.conf is not a drop-in. */
                if (stat(p, &st) < 0 || !S_ISREG(st.st_mode)) {
                        log_debug("Skipping %s: not a regular file.", p);
                        continue;
                }
                r = strv_push(&paths, p);
                if (r < 0)
                        return r;
                TAKE_PTR(p);
        }

        if (paths)
                strv_sort(paths);
        *ret = TAKE_PTR(paths);
        return 0;
}

/* The main file, then the drop-ins. */
static int config_parse_all(CocoonConfig *c, const char *path, char **error) {
        _cleanup_strv_free_ char **dropins = NULL;
        _cleanup_free_ char *dir = NULL;
        int r;

        r = config_parse_file(c, path, error);
        if (r < 0)
                return r;

        if (asprintf(&dir, "%s.d", path) < 0)
                return -ENOMEM;
        r = config_list_dropins(dir, &dropins);
        if (r < 0)
                return set_error(error, r, "%s: %s", dir, strerror(-r));
        for (char **p = dropins; p && *p; p++) {
                r = config_parse_file(c, *p, error);
                if (r < 0)
                        return r;
        }
        return 0;
}

int cocoon_config_load(const char *path, CocoonConfig *ret, char **ret_error) {
        _cleanup_(cocoon_config_done) CocoonConfig c = {};
        _cleanup_free_ char *error = NULL;
        int r;

        if (!ret)
                return -EINVAL;
        if (!path)
                path = COCOON_CONF_FILE;

        r = cocoon_config_defaults(&c);
        if (r < 0)
                return r;

        r = config_parse_all(&c, path, &error);
        if (r < 0) {
                if (ret_error)
                        *ret_error = TAKE_PTR(error);
                return r;
        }

        *ret = c;
        c = (CocoonConfig) {};
        return 0;
}

char **cocoon_config_backend_binary_field(CocoonConfig *c, const char *backend) {
        /* Only backends this build has: a record naming another one finds no binary. */
        if (!hypervisor_find(backend))
                return NULL;
        if (streq(backend, "qemu"))
                return &c->qemu_binary;
        if (streq(backend, "cloud-hypervisor"))
                return &c->cloud_hypervisor_binary;
        if (streq(backend, "firecracker"))
                return &c->firecracker_binary;
        return NULL;
}

const char *cocoon_config_backend_binary(const CocoonConfig *c, const char *backend) {
        char **field = cocoon_config_backend_binary_field((CocoonConfig *) c, backend);
        return field ? *field : NULL;
}
