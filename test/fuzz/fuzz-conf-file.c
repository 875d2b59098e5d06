/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cocoon.conf: the bytes are the configuration file cocoon_config_load() reads. It loads with every value
 * in its documented range, or fails with -EINVAL and a "<file>:<line>: ..." message. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "conf-file.h"
#include "fuzz.h"
#include "macro.h"

/* One file, rewritten for every input, in a directory of our own (no drop-in directory next to it), on a
 * tmpfs: ext4 flushes a file truncated to zero when it is closed, which made every input a disk write. */
static char dir[] = "/dev/shm/fuzz-conf-file-XXXXXX";
static char path[64];
static int fd = -1;

static void cleanup(void) {
        (void) unlink(path);
        (void) rmdir(dir);
}

static void setup(void) {
        fuzz_check(mkdtemp(dir));
        fuzz_check(atexit(cleanup) == 0);
        snprintf(path, sizeof(path), "%s/cocoon.conf", dir);
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        fuzz_check(fd >= 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(cocoon_config_done) CocoonConfig c = {};
        _cleanup_free_ char *error = NULL;
        int r;

        if (fd < 0)
                setup();
        fuzz_check(ftruncate(fd, 0) == 0);
        fuzz_check(pwrite(fd, data, size, 0) == (ssize_t) size);

        r = cocoon_config_load(path, &c, &error);
        if (r < 0) {
                fuzz_check(r == -EINVAL || r == -ENOMEM);
                if (r == -EINVAL)
                        fuzz_check(error && strncmp(error, path, strlen(path)) == 0);
                return 0;
        }

        fuzz_check(c.stop_timeout_usec > 0);
        fuzz_check(c.kill_grace_usec > 0);
        fuzz_check(c.pool_size >= 1 && c.pool_size <= COCOON_CONFIG_POOL_SIZE_MAX);
        fuzz_check(c.console_log_max_bytes > 0);
        fuzz_check(c.qemu_accel >= 0 && c.qemu_accel < _ACCEL_MAX);
        fuzz_check(c.default_backend && c.qemu_binary);
        /* DefaultBackend= is auto (resolved when the manager starts) or a backend this build has. */
        fuzz_check(streq(c.default_backend, "auto") || cocoon_config_backend_binary(&c, c.default_backend));
        fuzz_check(c.cni_config_dir && c.cni_plugin_dir);
        fuzz_check(c.pull_parallel >= 1 && c.pull_parallel <= COCOON_CONFIG_PULL_PARALLEL_MAX);
        for (char **w = c.warnings; w && *w; w++)
                fuzz_check(strncmp(*w, path, strlen(path)) == 0);
        return 0;
}
