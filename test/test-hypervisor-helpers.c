/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for the hypervisor helpers: ip= parameters, netmasks, base files, blob pins, cleanup, sockets. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#include <cmocka.h>

#include "fs-util.h"
#include "helpers.h"
#include "macro.h"
#include "strv-util.h"

#define HEX_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HEX_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define HEX_C "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define BLOBS "/var/lib/cocoon/images/blobs/"

/* The examples of the predecessor's contract (cocoon-behavior.md 3.1), verbatim. */
#define ONE_NIC_TWO_DNS \
        " cocoon.hostname=web ip=10.22.0.5::10.22.0.1:255.255.0.0:web:eth0:off:8.8.8.8:1.1.1.1"
#define ONE_NIC_ONE_DNS " cocoon.hostname=web ip=10.22.0.5::10.22.0.1:255.255.0.0:web:eth0:off:8.8.8.8"
#define THREE_NICS_NO_DNS \
        " cocoon.hostname=web ip=10.0.0.2:::255.255.255.0:web:eth0:off" \
        " ip=10.1.0.3::10.1.0.1:255.255.255.0:web:eth2:off"

/* ---- build_ip_params ---- */

static NetworkAddress addr(const char *ip, const char *gw, uint32_t prefix) {
        return (NetworkAddress) { .ip = (char *) ip, .gateway = (char *) gw, .prefix = prefix };
}

static void assert_ip_params(const NetworkConfig *nics, size_t n, char *const *dns, const char *expected) {
        _cleanup_free_ char *s = NULL;

        assert_int_equal(build_ip_params(nics, n, "web", dns, &s), 0);
        assert_string_equal(s, expected);
}

static void test_ip_params_one_nic_two_dns(void **state) {
        NetworkAddress a = addr("10.22.0.5", "10.22.0.1", 16);
        NetworkConfig nic = { .tap = (char *) "tap0", .address = &a };
        char *dns[] = { (char *) "8.8.8.8", (char *) "1.1.1.1", NULL };

        assert_ip_params(&nic, 1, dns, ONE_NIC_TWO_DNS);
}

static void test_ip_params_gaps_no_dns(void **state) {
        NetworkAddress a0 = addr("10.0.0.2", NULL, 24), a2 = addr("10.1.0.3", "10.1.0.1", 24);
        NetworkConfig nics[3] = { { .address = &a0 }, { .address = NULL }, { .address = &a2 } };
        char *no_dns[] = { NULL };

        assert_ip_params(nics, 3, no_dns, THREE_NICS_NO_DNS);
        assert_ip_params(nics, 3, NULL, THREE_NICS_NO_DNS);
}

static void test_ip_params_one_dns(void **state) {
        NetworkAddress a = addr("10.22.0.5", "10.22.0.1", 16);
        NetworkConfig nic = { .address = &a };
        char *dns[] = { (char *) "8.8.8.8", NULL };

        assert_ip_params(&nic, 1, dns, ONE_NIC_ONE_DNS);
}

static void test_ip_params_edges(void **state) {
        NetworkAddress a = addr("10.22.0.5", "10.22.0.1", 16);
        NetworkConfig nic = { .address = &a }, dhcp = {};
        char *three_dns[] = { (char *) "8.8.8.8", (char *) "1.1.1.1", (char *) "9.9.9.9", NULL };
        char *bad_dns[] = { (char *) "8.8.8.8 panic=1", NULL };
        char *s = NULL;

        /* The kernel has two DNS slots: the third server is dropped, not appended. */
        assert_ip_params(&nic, 1, three_dns, ONE_NIC_TWO_DNS);
        /* Only DHCP NICs, or none: the hostname alone. */
        assert_ip_params(&dhcp, 1, three_dns, " cocoon.hostname=web");
        assert_ip_params(NULL, 0, NULL, " cocoon.hostname=web");

        /* Anything that could smuggle extra kernel parameters is refused. */
        assert_int_equal(build_ip_params(&nic, 1, "web", bad_dns, &s), -EINVAL);
        assert_int_equal(build_ip_params(&nic, 1, "web x=1", NULL, &s), -EINVAL);
        a.ip = (char *) "10.22.0.5 init=/bin/sh";
        assert_int_equal(build_ip_params(&nic, 1, "web", NULL, &s), -EINVAL);
        a = addr("10.22.0.5", "gw", 16);
        assert_int_equal(build_ip_params(&nic, 1, "web", NULL, &s), -EINVAL);
        a = addr("10.22.0.5", NULL, 33);
        assert_int_equal(build_ip_params(&nic, 1, "web", NULL, &s), -EINVAL);
        assert_null(s);
}

/* ---- build_guest_network ---- */

/* The text, then newlines up to exactly GUEST_NETWORK_SIZE bytes. */
static void assert_guest_network(const NetworkConfig *nics, size_t n, char *const *dns, const char *text) {
        _cleanup_free_ char *s = NULL;
        size_t len = strlen(text);

        assert_int_equal(build_guest_network(nics, n, "web", dns, &s), 0);
        assert_int_equal(strlen(s), GUEST_NETWORK_SIZE);
        assert_memory_equal(s, text, len);
        for (size_t i = len; i < GUEST_NETWORK_SIZE; i++)
                assert_int_equal(s[i], '\n');
}

static void test_guest_network(void **state) {
        NetworkAddress a0 = addr("10.0.0.2", NULL, 24), a2 = addr("10.1.0.3", "10.1.0.1", 24);
        NetworkConfig nics[3] = {
                { .mac = (char *) "02:00:00:00:00:01", .address = &a0 },
                { .mac = (char *) "02:00:00:00:00:02" },
                { .address = &a2 },
        };
        char *dns[] = { (char *) "8.8.8.8", NULL };

        /* The ip= parameters are build_ip_params()'s, one NIC a line, DHCP NICs say so. */
        assert_guest_network(nics, 3, dns,
                             "cocoon.hostname=web\n"
                             "eth0 mac=02:00:00:00:00:01 ip=10.0.0.2:::255.255.255.0:web:eth0:off:8.8.8.8\n"
                             "eth1 mac=02:00:00:00:00:02 dhcp\n"
                             "eth2 ip=10.1.0.3::10.1.0.1:255.255.255.0:web:eth2:off:8.8.8.8\n");
        assert_guest_network(NULL, 0, NULL, "cocoon.hostname=web\n");
        /* The most the manager allows (8 NICs, a name of 63 characters, two DNS servers) fits. */
        _cleanup_free_ char *s = NULL;
        NetworkAddress big = addr("255.255.255.255", "255.255.255.255", 32);
        NetworkConfig eight[8];
        char *two_dns[] = { (char *) "255.255.255.255", (char *) "255.255.255.255", NULL };
        char name[64];
        memset(name, 'a', 63);
        name[63] = 0;
        for (size_t i = 0; i < 8; i++)
                eight[i] = (NetworkConfig) { .mac = (char *) "02:00:00:00:00:01", .address = &big };
        assert_int_equal(build_guest_network(eight, 8, name, two_dns, &s), 0);
        assert_int_equal(strlen(s), GUEST_NETWORK_SIZE);
        s = mfree(s);
}

static void test_guest_network_refused(void **state) {
        NetworkAddress a = addr("10.22.0.5", "10.22.0.1", 16);
        NetworkConfig nic = { .mac = (char *) "02:00:00:00:00:01", .address = &a }, many[40];
        char *two_dns[] = { (char *) "255.255.255.255", (char *) "255.255.255.255", NULL };
        char *s = NULL;

        /* Too long for the fixed size: refused, not cut. 40 NICs of ~110 bytes each. */
        for (size_t i = 0; i < ELEMENTSOF(many); i++)
                many[i] = nic;
        assert_int_equal(build_guest_network(many, ELEMENTSOF(many), "web", two_dns, &s), -E2BIG);
        /* Anything that could add a line or a field the guest would read. */
        nic.mac = (char *) "02:00:00:00:00:01\neth1";
        assert_int_equal(build_guest_network(&nic, 1, "web", NULL, &s), -EINVAL);
        nic.mac = (char *) "02:00:00:00:00:0g";
        assert_int_equal(build_guest_network(&nic, 1, "web", NULL, &s), -EINVAL);
        nic.mac = (char *) "02-00-00-00-00-01";
        assert_int_equal(build_guest_network(&nic, 1, "web", NULL, &s), -EINVAL);
        nic.mac = NULL;
        assert_int_equal(build_guest_network(&nic, 1, "web\nx", NULL, &s), -EINVAL);
        a.ip = (char *) "10.22.0.5\neth9";
        assert_int_equal(build_guest_network(&nic, 1, "web", NULL, &s), -EINVAL);
        assert_null(s);
}

/* ---- prefix_to_netmask ---- */

static void test_prefix_to_netmask(void **state) {
        static const struct {
                int prefix;
                const char *mask;
        } cases[] = {
                { 0, "0.0.0.0" },         { 1, "128.0.0.0" },       { 16, "255.255.0.0" },
                { 20, "255.255.240.0" },  { 24, "255.255.255.0" },  { 31, "255.255.255.254" },
                { 32, "255.255.255.255" },
        };
        char *s = NULL;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *m = NULL;

                assert_int_equal(prefix_to_netmask(cases[i].prefix, &m), 0);
                assert_string_equal(m, cases[i].mask);
        }
        assert_int_equal(prefix_to_netmask(-1, &s), -EINVAL);
        assert_int_equal(prefix_to_netmask(33, &s), -EINVAL);
        assert_null(s);
}

/* ---- blob_hex_from_path ---- */

static void assert_blob_hex(const char *path, const char *expected) {
        _cleanup_free_ char *s = NULL;

        assert_int_equal(blob_hex_from_path(path, &s), 0);
        assert_string_equal(s, expected);
}

static void test_blob_hex_from_path(void **state) {
        char *s = NULL;

        assert_blob_hex("/var/lib/cocoon/images/blobs/abc123.erofs", "abc123");
        assert_blob_hex(BLOBS HEX_C ".qcow2", HEX_C);
        assert_blob_hex("/x/a.tar.gz", "a.tar"); /* only the last extension goes, as in the seed */
        assert_blob_hex("/x.d/noext", "noext"); /* a dot in a directory is not an extension */
        assert_blob_hex("/x/noext", "noext");
        assert_blob_hex("abc.erofs", "abc");
        assert_int_equal(blob_hex_from_path("/x/.erofs", &s), -EINVAL);
        assert_int_equal(blob_hex_from_path("/x/", &s), -EINVAL);
        assert_int_equal(blob_hex_from_path("", &s), -EINVAL);
        assert_null(s);

}

/* ---- files in a temporary directory ---- */

typedef struct Dir {
        char path[64];
} Dir;

static int dir_setup(void **state) {
        Dir *d = calloc(1, sizeof(Dir));

        assert_non_null(d);
        strcpy(d->path, "/tmp/test-hv-helpers-XXXXXX");
        assert_non_null(mkdtemp(d->path));
        *state = d;
        return 0;
}

static int dir_teardown(void **state) {
        Dir *d = *state;

        assert_int_equal(rm_rf(d->path), 0);
        free(d);
        return 0;
}

static char *path_in(const Dir *d, const char *name) {
        char *p;

        assert_true(asprintf(&p, "%s/%s", d->path, name) > 0);
        return p;
}

static char *touch(const Dir *d, const char *name) {
        char *p = path_in(d, name);

        assert_int_equal(write_file_atomic_at(AT_FDCWD, p, "x", 1, 0644), 0);
        return p;
}

/* An EROFS image as mkfs.erofs writes them as far as verify_base_files() reads: a superblock at 1024 that
 * counts blocks of 4096 bytes, in a file of size bytes. */
static char *erofs(const Dir *d, const char *name, uint32_t blocks, size_t size) {
        _cleanup_free_ uint8_t *data = calloc(1, size);
        char *p = path_in(d, name);

        assert_non_null(data);
        assert_true(size >= EROFS_SUPER_OFFSET + EROFS_SUPER_SIZE);
        uint8_t *sb = data + EROFS_SUPER_OFFSET;
        for (int i = 0; i < 4; i++) {
                sb[i] = (uint8_t) (EROFS_SUPER_MAGIC >> (8 * i));
                sb[36 + i] = (uint8_t) (blocks >> (8 * i));
        }
        sb[12] = 12;
        assert_int_equal(write_file_atomic_at(AT_FDCWD, p, data, size, 0444), 0);
        return p;
}

static void test_verify_base_files_erofs(void **state) {
        Dir *d = *state;
        _cleanup_free_ char *whole = erofs(d, "whole.erofs", 2, 8192), *cut = erofs(d, "cut.erofs", 3, 8192),
                            *junk = touch(d, "junk.erofs"), *raw = touch(d, "rootfs.rootfs");
        StorageConfig storage[] = { { .path = whole, .read_only = true, .role = STORAGE_ROLE_LAYER } };
        char *bad = NULL;

        assert_int_equal(verify_base_files(storage, 1, NULL, &bad), 0);
        /* A layer shorter than its superblock says (a truncated blob), or no EROFS at all, is named. */
        storage[0].path = cut;
        assert_int_equal(verify_base_files(storage, 1, NULL, &bad), -EBADMSG);
        assert_string_equal(bad, cut);
        bad = mfree(bad);
        storage[0].path = junk;
        assert_int_equal(verify_base_files(storage, 1, NULL, &bad), -EBADMSG);
        assert_string_equal(bad, junk);
        bad = mfree(bad);
        /* Other layers (a local image's root file system) are only checked to be there. */
        storage[0].path = raw;
        assert_int_equal(verify_base_files(storage, 1, NULL, &bad), 0);
}

static void test_verify_base_files(void **state) {
        Dir *d = *state;
        _cleanup_free_ char *layer0 = erofs(d, "layer0.erofs", 1, 4096),
                            *layer1 = erofs(d, "layer1.erofs", 1, 4096), *kernel = touch(d, "vmlinuz"), *missing = path_in(d, "missing.erofs"),
                            *cow = path_in(d, "cow.raw"), *subdir = path_in(d, "subdir");
        StorageConfig storage[] = {
                { .path = layer0, .read_only = true, .role = STORAGE_ROLE_LAYER },
                { .path = layer1, .read_only = true, .role = STORAGE_ROLE_LAYER },
                { .path = cow, .role = STORAGE_ROLE_COW }, /* absent, but not a base file */
        };
        BootConfig boot = { .kernel_path = kernel };
        char *bad = NULL;

        assert_int_equal(verify_base_files(storage, ELEMENTSOF(storage), &boot, &bad), 0);
        assert_null(bad);
        assert_int_equal(verify_base_files(storage, ELEMENTSOF(storage), NULL, NULL), 0);

        /* A missing layer is named. */
        storage[1].path = missing;
        assert_int_equal(verify_base_files(storage, ELEMENTSOF(storage), &boot, &bad), -ENOENT);
        assert_string_equal(bad, missing);
        bad = mfree(bad);
        storage[1].path = layer1;

        /* A missing initrd is named. */
        boot.initrd_path = missing;
        assert_int_equal(verify_base_files(storage, ELEMENTSOF(storage), &boot, &bad), -ENOENT);
        assert_string_equal(bad, missing);
        bad = mfree(bad);

        /* A directory is not a usable kernel. */
        assert_int_equal(mkdir(subdir, 0755), 0);
        boot = (BootConfig) { .kernel_path = subdir };
        assert_int_equal(verify_base_files(storage, ELEMENTSOF(storage), &boot, &bad), -EISDIR);
        assert_string_equal(bad, subdir);
        bad = mfree(bad);

        /* Nor is a missing firmware. */
        boot = (BootConfig) { .firmware_path = missing };
        assert_int_equal(verify_base_files(NULL, 0, &boot, &bad), -ENOENT);
        assert_string_equal(bad, missing);
        free(bad);
}

static void test_extract_blob_ids(void **state) {
        StorageConfig storage[] = {
                { .path = (char *) BLOBS HEX_B ".erofs", .role = STORAGE_ROLE_LAYER },
                { .path = (char *) BLOBS HEX_A ".erofs", .role = STORAGE_ROLE_LAYER },
                { .path = (char *) BLOBS HEX_B ".erofs", .role = STORAGE_ROLE_LAYER },
                { .path = (char *) "/var/lib/cocoon/images/blobs/abc123.erofs", .role = STORAGE_ROLE_LAYER },
                { .path = (char *) "/var/lib/cocoon/vms/" HEX_C "x/cow.raw", .role = STORAGE_ROLE_COW },
                { .path = (char *) "/var/lib/cocoon/vms/abc/data-db.raw", .role = STORAGE_ROLE_DATA },
        };
        BootConfig boot = {
                .kernel_path = (char *) "/var/lib/cocoon/images/boot/" HEX_C "/vmlinuz",
                .initrd_path = (char *) BLOBS HEX_A ".initrd",
                .firmware_path = (char *) "/usr/share/OVMF/OVMF_CODE.fd",
        };
        _cleanup_strv_free_ char **ids = NULL, **none = NULL, **cloud = NULL;
        StorageConfig cloudimg = { .path = (char *) BLOBS HEX_C ".qcow2" };

        assert_int_equal(extract_blob_ids(storage, ELEMENTSOF(storage), &boot, &ids), 0);
        assert_non_null(ids);
        /* Unique and sorted; the non-digest blob, the VM's own disks and the system firmware pin nothing. */
        assert_string_equal(ids[0], HEX_C);
        assert_string_equal(ids[1], HEX_A);
        assert_string_equal(ids[2], HEX_B);
        assert_null(ids[3]);

        assert_int_equal(extract_blob_ids(NULL, 0, NULL, &none), 0);
        assert_non_null(none);
        assert_null(none[0]);

        assert_int_equal(extract_blob_ids(&cloudimg, 1, NULL, &cloud), 0);
        assert_string_equal(cloud[0], HEX_C);
        assert_null(cloud[1]);
}

static void test_remove_vm_dirs(void **state) {
        Dir *d = *state;
        _cleanup_free_ char *run = path_in(d, "run"), *log = path_in(d, "log"),
                            *deep = path_in(d, "run/a/b"), *file = NULL;
        struct stat st;

        assert_int_equal(mkdir_p(deep, 0750), 0);
        assert_int_equal(mkdir(log, 0750), 0);
        file = touch(d, "log/hypervisor.log");

        assert_int_equal(remove_vm_dirs(run, log), 0);
        assert_int_equal(stat(run, &st), -1);
        assert_int_equal(errno, ENOENT);
        assert_int_equal(stat(log, &st), -1);
        assert_int_equal(errno, ENOENT);
        assert_int_equal(stat(d->path, &st), 0);

        /* Already gone, or never set: fine. */
        assert_int_equal(remove_vm_dirs(run, log), 0);
        assert_int_equal(remove_vm_dirs(NULL, ""), 0);
}

static void test_cleanup_runtime_files(void **state) {
        Dir *d = *state;
        _cleanup_free_ char *a = touch(d, "api.sock"), *p = touch(d, "ch.pid"), *keep = touch(d, "cow.raw"),
                            *gone = path_in(d, "gone");
        const char *const files[] = { "api.sock", "console.sock", "ch.pid", NULL };
        const char *const bad[] = { "../cow.raw", NULL };
        struct stat st;

        assert_int_equal(cleanup_runtime_files(d->path, files), 0);
        assert_int_equal(stat(a, &st), -1);
        assert_int_equal(stat(p, &st), -1);
        assert_int_equal(stat(keep, &st), 0);

        assert_int_equal(cleanup_runtime_files(d->path, bad), -EINVAL);
        assert_int_equal(stat(keep, &st), 0);
        assert_int_equal(cleanup_runtime_files(gone, files), 0);
        assert_int_equal(cleanup_runtime_files(d->path, NULL), 0);
}

/* ---- wait_for_socket ---- */

static void sleep_msec(long ms) {
        nanosleep(&(struct timespec) { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L }, NULL);
}

static _noreturn_ void child_listen_after(const char *path, long delay_ms) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;

        sleep_msec(delay_ms);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        strncpy(sa.sun_path, path, sizeof(sa.sun_path) - 1);
        if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fd, 8) < 0)
                _exit(1);
        for (;;)
                pause();
}

static pid_t spawn(void (*body)(const char *), const char *path) {
        pid_t pid = fork();

        assert_true(pid >= 0);
        if (pid == 0) {
                body(path);
                _exit(0);
        }
        return pid;
}

static void kill_and_reap(pid_t pid) {
        int status;

        (void) kill(pid, SIGKILL);
        assert_int_equal(waitpid(pid, &status, 0), pid);
}

static void body_listen_late(const char *path) {
        child_listen_after(path, 100);
}

static void body_exit_at_once(const char *path) {
        _exit(3);
}

static void body_sleep(const char *path) {
        for (;;)
                pause();
}

static void test_wait_for_socket_ready(void **state) {
        Dir *d = *state;
        _cleanup_free_ char *sock = path_in(d, "api.sock");
        pid_t pid = spawn(body_listen_late, sock);

        assert_int_equal(wait_for_socket(sock, pid, 30 * USEC_PER_SEC), 0);
        /* Ready stays ready. */
        assert_int_equal(wait_for_socket(sock, pid, 0), 0);
        kill_and_reap(pid);
}

static void test_wait_for_socket_process_died(void **state) {
        Dir *d = *state;
        _cleanup_free_ char *sock = path_in(d, "api.sock");
        pid_t pid = spawn(body_exit_at_once, sock);

        /* The child is a zombie until reaped below: it must still count as dead. With a kill(pid, 0) check
         * this would run into the timeout (-ETIMEDOUT) instead. */
        assert_int_equal(wait_for_socket(sock, pid, 30 * USEC_PER_SEC), -ESRCH);
        kill_and_reap(pid);

        /* Reaped: the pid is gone altogether. */
        assert_int_equal(wait_for_socket(sock, pid, 30 * USEC_PER_SEC), -ESRCH);
}

static void test_wait_for_socket_timeout(void **state) {
        Dir *d = *state;
        _cleanup_free_ char *sock = path_in(d, "api.sock"), *plain = touch(d, "plain");
        pid_t pid = spawn(body_sleep, sock);

        assert_int_equal(wait_for_socket(sock, pid, 200 * USEC_PER_MSEC), -ETIMEDOUT);
        /* A file that is not a listening socket is "not ready yet", not an error. */
        assert_int_equal(wait_for_socket(plain, pid, 50 * USEC_PER_MSEC), -ETIMEDOUT);
        kill_and_reap(pid);
}

static _noreturn_ void body_bind_then_listen(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;

        /* The socket file appears (an inotify event) while connect() is still refused: the wait must go on
         * trying, not only wait for the next event, which never comes. */
        sleep_msec(50);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        strncpy(sa.sun_path, path, sizeof(sa.sun_path) - 1);
        if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                _exit(1);
        sleep_msec(100);
        if (listen(fd, 8) < 0)
                _exit(1);
        for (;;)
                pause();
}

static void body_mkdir_then_listen(const char *path) {
        _cleanup_free_ char *dir = strdup(path);
        assert_non_null(dir);
        *strrchr(dir, '/') = 0;
        sleep_msec(50);
        if (mkdir(dir, 0700) < 0)
                _exit(1);
        child_listen_after(path, 0);
}

static void test_wait_for_socket_bound_before_listening(void **state) {
        Dir *d = *state;
        _cleanup_free_ char *sock = path_in(d, "api.sock");
        pid_t pid = spawn(body_bind_then_listen, sock);

        assert_int_equal(wait_for_socket(sock, pid, 30 * USEC_PER_SEC), 0);
        kill_and_reap(pid);
}

static void test_wait_for_socket_dir_missing(void **state) {
        Dir *d = *state;
        _cleanup_free_ char *sub = path_in(d, "later"), *sock = NULL;
        assert_true(asprintf(&sock, "%s/api.sock", sub) > 0);
        pid_t pid = spawn(body_mkdir_then_listen, sock);

        /* No directory to watch yet: the wait falls back to polling and still sees the socket. */
        assert_int_equal(wait_for_socket(sock, pid, 30 * USEC_PER_SEC), 0);
        kill_and_reap(pid);
}

static void test_wait_for_socket_bad_input(void **state) {
        char long_path[200];

        memset(long_path, 'a', sizeof(long_path) - 1);
        long_path[0] = '/';
        long_path[sizeof(long_path) - 1] = '\0';
        assert_int_equal(wait_for_socket(long_path, getpid(), USEC_PER_SEC), -ENAMETOOLONG);
        assert_int_equal(wait_for_socket("/tmp/x", 0, USEC_PER_SEC), -EINVAL);
        assert_int_equal(wait_for_socket_pidfd("/tmp/x", -1, USEC_PER_SEC), -EINVAL);
}

/* ---- memory_files_unclaimed ---- */

static void make_sparse(const char *path, off_t size, size_t written) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        char buf[4096] = { 1 };
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, size), 0);
        for (size_t i = 0; i < written; i += sizeof(buf))
                assert_int_equal(pwrite(fd, buf, sizeof(buf), (off_t) i), (ssize_t) sizeof(buf));
        assert_int_equal(fsync(fd), 0);
        close(fd);
}

static uint64_t unclaimed_of(const char *path) {
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        return (uint64_t) st.st_size - (uint64_t) st.st_blocks * 512;
}

static void test_memory_files_unclaimed(void **state) {
        Dir *d = *state;
        _cleanup_free_ char *a = path_in(d, "a"), *a_ram = path_in(d, "a/ram"), *b = path_in(d, "b"),
                            *b_r = path_in(d, "b/r"), *b_ram = path_in(d, "b/r/ram"), *c = path_in(d, "c"),
                            *c_other = path_in(d, "c/cow.raw"), *gone = path_in(d, "gone");
        uint64_t n = 1;

        assert_int_equal(memory_files_unclaimed(d->path, &n), 0);
        assert_int_equal(n, 0);
        assert_int_equal(mkdir(a, 0700), 0);
        assert_int_equal(mkdir(b, 0700), 0);
        assert_int_equal(mkdir(b_r, 0700), 0);
        assert_int_equal(mkdir(c, 0700), 0);
        make_sparse(a_ram, 8 << 20, 64 << 10);  /* a booted guest that touched 64 KiB */
        make_sparse(b_ram, 4 << 20, 0);         /* a restored guest's, in its r/ directory */
        make_sparse(c_other, 16 << 20, 0);      /* not a RAM file: never counted */
        assert_int_equal(memory_files_unclaimed(d->path, &n), 0);
        assert_int_equal(n, unclaimed_of(a_ram) + unclaimed_of(b_ram));
        assert_true(n > (8 << 20) && n <= (12 << 20));
        assert_int_equal(memory_files_unclaimed(gone, &n), 0);
        assert_int_equal(n, 0);
        assert_int_equal(unlink(a_ram), 0);
        assert_int_equal(unlink(b_ram), 0);
        assert_int_equal(unlink(c_other), 0);
        assert_int_equal(rmdir(b_r), 0);
        assert_int_equal(rmdir(a), 0);
        assert_int_equal(rmdir(b), 0);
        assert_int_equal(rmdir(c), 0);
}

/* ---- the OCI kernel command line (cocoon-behavior.md 4.1, 5.1) ---- */

/* Linux's names for virtio disks: a..z, then aa..zz, then aaa (bijective base 26, virtblk_name_format()). */
static void test_virtio_disk_name(void **state) {
        static const struct {
                size_t i;
                const char *name;
        } cases[] = { { 0, "vda" },    { 1, "vdb" },     { 25, "vdz" },      { 26, "vdaa" },
                      { 27, "vdab" },  { 51, "vdaz" },   { 52, "vdba" },     { 701, "vdzz" },
                      { 702, "vdaaa" }, { 18277, "vdzzz" }, { 18278, "vdaaaa" } };
        for (size_t k = 0; k < ELEMENTSOF(cases); k++) {
                _cleanup_free_ char *s = NULL;
                assert_int_equal(virtio_disk_name(cases[k].i, &s), 0);
                assert_string_equal(s, cases[k].name);
        }
        /* Every index up to 702 has a name of its own. */
        _cleanup_strv_free_ char **seen = NULL;
        for (size_t i = 0; i <= 702; i++) {
                char *name = NULL;
                assert_int_equal(virtio_disk_name(i, &name), 0);
                assert_false(strv_contains(seen, name));
                assert_int_equal(strv_push(&seen, name), 0);
        }
        /* The largest index still has a name (14 letters). */
        _cleanup_free_ char *last = NULL;
        assert_int_equal(virtio_disk_name(SIZE_MAX, &last), 0);
        assert_int_equal(strlen(last), strlen("vd") + 14);
}

#define LAYER(n) { .path = BLOBS "x.erofs", .read_only = true, .serial = (char *) "cocoon-layer" #n, \
                   .role = STORAGE_ROLE_LAYER }
#define COW { .path = (char *) "/var/lib/cocoon/vms/X/cow.raw", .serial = (char *) "cocoon-cow", \
              .role = STORAGE_ROLE_COW }

static void test_overlay_cmdline(void **state) {
        StorageConfig two[] = { LAYER(0), LAYER(1), COW };
        StorageConfig three[] = { LAYER(0), LAYER(1), LAYER(2), COW,
                                  { .path = (char *) "/d", .serial = (char *) "data",
                                    .role = STORAGE_ROLE_DATA } };
        char *s = NULL;

        /* cocoon-behavior.md 4.1, byte for byte with the example's two layers. */
        assert_int_equal(build_overlay_cmdline("console=hvc0 loglevel=3", false, two, ELEMENTSOF(two), NULL,
                                               &s), 0);
        assert_string_equal(s, "console=hvc0 loglevel=3 boot=cocoon-overlay cocoon.layers=cocoon-layer1,"
                               "cocoon-layer0 cocoon.cow=cocoon-cow clocksource=kvm-clock rw");
        free(s);
        /* The user's parameters follow. */
        assert_int_equal(build_overlay_cmdline("console=ttyS0 loglevel=3", false, two, ELEMENTSOF(two),
                                               "quiet x=1", &s), 0);
        assert_string_equal(s, "console=ttyS0 loglevel=3 boot=cocoon-overlay cocoon.layers=cocoon-layer1,"
                               "cocoon-layer0 cocoon.cow=cocoon-cow clocksource=kvm-clock rw quiet x=1");
        free(s);
        /* 5.1: Firecracker's guests find disks by path, in drive order; data disks do not count. */
        assert_int_equal(build_overlay_cmdline("console=ttyS0 reboot=k loglevel=3 pci=off i8042.noaux "
                                               "8250.nr_uarts=1", true, three, ELEMENTSOF(three), "", &s),
                         0);
        assert_string_equal(s, "console=ttyS0 reboot=k loglevel=3 pci=off i8042.noaux 8250.nr_uarts=1 "
                               "boot=cocoon-overlay cocoon.layers=/dev/vdc,/dev/vdb,/dev/vda "
                               "cocoon.cow=/dev/vdd clocksource=kvm-clock rw");
        free(s);
        /* No layer, no COW disk, no head: nothing to boot an overlay from. */
        assert_int_equal(build_overlay_cmdline("console=ttyS0", false, two + 2, 1, NULL, &s), -EINVAL);
        assert_int_equal(build_overlay_cmdline("console=ttyS0", false, two, 2, NULL, &s), -EINVAL);
        assert_int_equal(build_overlay_cmdline("", false, two, ELEMENTSOF(two), NULL, &s), -EINVAL);
        /* A layer without a serial cannot be found by serial. */
        StorageConfig unnamed[] = { { .path = (char *) "/l", .read_only = true, .serial = (char *) "",
                                      .role = STORAGE_ROLE_LAYER }, COW };
        assert_int_equal(build_overlay_cmdline("console=ttyS0", false, unnamed, 2, NULL, &s), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_ip_params_one_nic_two_dns),
                cmocka_unit_test(test_ip_params_gaps_no_dns),
                cmocka_unit_test(test_ip_params_one_dns),
                cmocka_unit_test(test_ip_params_edges),
                cmocka_unit_test(test_guest_network),
                cmocka_unit_test(test_guest_network_refused),
                cmocka_unit_test(test_prefix_to_netmask),
                cmocka_unit_test(test_virtio_disk_name),
                cmocka_unit_test(test_overlay_cmdline),
                cmocka_unit_test(test_blob_hex_from_path),
                cmocka_unit_test_setup_teardown(test_verify_base_files, dir_setup, dir_teardown),
                cmocka_unit_test_setup_teardown(test_verify_base_files_erofs, dir_setup, dir_teardown),
                cmocka_unit_test(test_extract_blob_ids),
                cmocka_unit_test_setup_teardown(test_remove_vm_dirs, dir_setup, dir_teardown),
                cmocka_unit_test_setup_teardown(test_cleanup_runtime_files, dir_setup, dir_teardown),
                cmocka_unit_test_setup_teardown(test_memory_files_unclaimed, dir_setup, dir_teardown),
                cmocka_unit_test_setup_teardown(test_wait_for_socket_ready, dir_setup, dir_teardown),
                cmocka_unit_test_setup_teardown(test_wait_for_socket_process_died, dir_setup, dir_teardown),
                cmocka_unit_test_setup_teardown(test_wait_for_socket_timeout, dir_setup, dir_teardown),
                cmocka_unit_test_setup_teardown(test_wait_for_socket_bound_before_listening, dir_setup,
                                                dir_teardown),
                cmocka_unit_test_setup_teardown(test_wait_for_socket_dir_missing, dir_setup, dir_teardown),
                cmocka_unit_test(test_wait_for_socket_bad_input),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
