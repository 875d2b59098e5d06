/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Running cocoon-unpack as a confined transient unit over one layer, and reading its answer. */
#include <errno.h>
#include <linux/capability.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs-util.h"
#include "json-util.h"
#include "oci-unpack.h"

/* A boot file the helper names must be a plain path below the tree: no "..", not absolute, no empty or
 * "." components. (The manager opens it RESOLVE_BENEATH without symlinks anyway.) */
static bool relative_path_is_safe(const char *p) {
        if (!p || p[0] == '\0' || p[0] == '/' || strlen(p) > 4096)
                return false;
        for (const char *c = p; *c;) {
                size_t n = strcspn(c, "/");
                if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
                        return false;
                c += n;
                if (*c == '/')
                        c++;
        }
        return p[strlen(p) - 1] != '/';
}

int oci_unpack_response_parse(const char *text, size_t size, OciLayerBoot *ret_boot, char **ret_error) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        const char *error, *kernel = NULL, *initrd = NULL;
        OciLayerBoot boot = {};

        if (json_parse(text, size, &o) < 0 || !json_object_is_type(o, json_type_object))
                return -EPROTO;
        if (json_get_string(o, "error", &error) >= 0) {
                bool invalid = false;

                (void) json_get_bool(o, "invalid", &invalid);
                *ret_error = strdup(error);
                return !*ret_error ? -ENOMEM : invalid ? -EBADMSG : -EIO;
        }
        if (json_get_string(o, "kernel", &kernel) == -EINVAL ||
            json_get_string(o, "initrd", &initrd) == -EINVAL || (kernel && !relative_path_is_safe(kernel)) ||
            (initrd && !relative_path_is_safe(initrd)))
                return -EPROTO;
        if ((kernel && !(boot.kernel = strdup(kernel))) || (initrd && !(boot.initrd = strdup(initrd)))) {
                oci_layer_boot_done(&boot);
                return -ENOMEM;
        }
        *ret_boot = boot;
        return 0;
}

#define CAP(c) (UINT64_C(1) << (c))

void oci_unpack_sandbox(const char *helper, const char *blobs_dir, const char *tmp_dir, char *bind[static 3],
                        char *bind_ro[static 2], UnitSandbox *ret) {
        bind[0] = (char *) blobs_dir;
        bind[1] = (char *) tmp_dir;
        bind[2] = NULL;
        bind_ro[0] = (char *) helper;
        bind_ro[1] = NULL;
        *ret = (UnitSandbox){
                .bind_paths = bind,
                .bind_read_only_paths = bind_ro,
                /* mkfs.erofs' lz4 is plain code: no W+X pages needed. */
                .capabilities = CAP(CAP_CHOWN) | CAP(CAP_DAC_OVERRIDE) | CAP(CAP_DAC_READ_SEARCH) |
                                CAP(CAP_FOWNER) | CAP(CAP_MKNOD) | CAP(CAP_SETFCAP) | CAP(CAP_SYS_ADMIN),
                .allow_suid_sgid = true,
        };
}

/* The helper's unit, named after the layer and the work directory's unique suffix (two pulls of the same
 * layer at once must not collide). */
static int unit_name_for(const char *digest, const char *work_dir, char **ret) {
        const char *base = strrchr(work_dir, '/');
        const char *hex = strchr(digest, ':');
        char *name = NULL;

        base = base ? base + 1 : work_dir;
        hex = hex ? hex + 1 : digest;
        if (asprintf(&name, OCI_UNPACK_UNIT_PREFIX "%.12s-%s.service", hex, base) < 0)
                return -ENOMEM;
        for (char *c = name; *c; c++)
                if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:-_.\\@", *c))
                        *c = '_';
        *ret = name;
        return 0;
}

static int fail(char **ret_error, int r, const char *fmt, ...) _printf_(3, 4);
static int fail(char **ret_error, int r, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(ret_error, fmt, ap) < 0)
                *ret_error = NULL;
        va_end(ap);
        return r;
}

int oci_unpack_run(const char *helper, const char *blobs_dir, const char *tmp_dir, int layer_fd,
                   const char *digest, const char *work_dir, const char *output, OciLayerBoot *ret_boot,
                   char **ret_error) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *unit = NULL, *unit_error = NULL, *response = NULL, *text = NULL,
                            *description = NULL;
        char *bind[3], *bind_ro[2];
        UnitSandbox sandbox;
        size_t size;
        int r;

        if (!helper)
                return fail(ret_error, -ENOENT,
                            "the layer unpacker cocoon-unpack is not installed next to "
                            "cocoon-manager");
        if (lseek(layer_fd, 0, SEEK_SET) < 0 && errno != ESPIPE)
                return fail(ret_error, -errno, "cannot rewind the layer: %m");
        if (unit_name_for(digest, work_dir, &unit) < 0 ||
            asprintf(&response, "%s/" OCI_UNPACK_RESPONSE, work_dir) < 0 ||
            asprintf(&description, "cocoon: unpack layer %s", digest) < 0)
                return -ENOMEM;

        char *argv[] = {(char *) helper, (char *) digest, (char *) work_dir, (char *) output, NULL};
        oci_unpack_sandbox(helper, blobs_dir, tmp_dir, bind, bind_ro, &sandbox);
        UnitSpec spec = {
                .description = description,
                .slice = "cocoon.slice",
                .argv = argv,
                .stdin_fd = layer_fd,
                .sandbox = &sandbox,
                .oneshot = true,
        };
        r = sd_bus_open_system(&bus);
        if (r < 0)
                return fail(ret_error, r, "cannot connect to systemd: %s", strerror(-r));
        r = unit_start_transient(bus, unit, &spec, &unit_error);
        if (r < 0)
                return fail(ret_error, r, "the layer unpacker %s failed: %s (journalctl -u %s)", unit,
                            unit_error ?: strerror(-r), unit);
        r = read_full_file(response, &text, &size);
        if (r < 0)
                return fail(ret_error, -EPROTO, "the layer unpacker %s gave no answer: %s", unit,
                            strerror(-r));
        r = oci_unpack_response_parse(text, size, ret_boot, ret_error);
        if (r == -EPROTO)
                return fail(ret_error, r, "the layer unpacker %s gave a malformed answer", unit);
        return r;
}
