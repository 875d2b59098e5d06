/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for the QMP client against a real qemu-system-x86_64 (microvm, TCG, paused by -S: no guest). */
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers.h"
#include "json-util.h"
#include "macro.h"
#include "qmp.h"
#include "time-util.h"

#define LONG_TIMEOUT (10 * USEC_PER_SEC)
#define SHORT_TIMEOUT (300 * USEC_PER_MSEC)

typedef struct Qemu {
        char dir[64];
        char socket[96];
        pid_t pid; /* 0 once reaped */
} Qemu;

static const char *qemu_binary(void) {
        const char *b = getenv("COCOON_TEST_QEMU");

        return b ?: "/usr/bin/qemu-system-x86_64";
}

static _noreturn_ void exec_qemu(const Qemu *qemu) {
        char qmp[PATH_MAX + 32], log[PATH_MAX];
        int fd;

        snprintf(qmp, sizeof(qmp), "unix:%s,server=on,wait=off", qemu->socket);
        snprintf(log, sizeof(log), "%s/qemu.log", qemu->dir);
        fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd >= 0) {
                dup2(fd, STDOUT_FILENO);
                dup2(fd, STDERR_FILENO);
        }
        execl(qemu_binary(), qemu_binary(), "-M", "microvm,accel=tcg", "-m", "64", "-name", "test-qmp",
              "-nodefaults", "-no-user-config", "-display", "none", "-S", "-qmp", qmp, (char *) NULL);
        _exit(127);
}

/* Starts a paused QEMU and waits until its QMP socket accepts connections. */
static int qemu_setup(void **state) {
        Qemu *qemu = calloc(1, sizeof(Qemu));

        assert_non_null(qemu);
        snprintf(qemu->dir, sizeof(qemu->dir), "/tmp/test-qmp-XXXXXX");
        assert_non_null(mkdtemp(qemu->dir));
        snprintf(qemu->socket, sizeof(qemu->socket), "%s/api.sock", qemu->dir);

        qemu->pid = fork();
        assert_true(qemu->pid >= 0);
        if (qemu->pid == 0)
                exec_qemu(qemu);

        assert_int_equal(wait_for_socket(qemu->socket, qemu->pid, LONG_TIMEOUT), 0);

        *state = qemu;
        return 0;
}

static int qemu_teardown(void **state) {
        Qemu *qemu = *state;
        char log[PATH_MAX];

        if (qemu->pid > 0) {
                kill(qemu->pid, SIGKILL);
                waitpid(qemu->pid, NULL, 0);
        }
        snprintf(log, sizeof(log), "%s/qemu.log", qemu->dir);
        unlink(log);
        unlink(qemu->socket);
        rmdir(qemu->dir);
        free(qemu);
        return 0;
}

static const char *return_string(json_object *ret, const char *key) {
        const char *s = NULL;

        assert_int_equal(json_get_string(ret, key, &s), 0);
        return s;
}

static void test_connect_status_version(void **state) {
        Qemu *qemu = *state;
        _cleanup_(qmp_freep) Qmp *q = NULL;
        _cleanup_(json_object_putp) json_object *status = NULL, *hmp = NULL, *args = NULL;
        unsigned major = 0, minor = 0, micro = 0;
        char expected[64];
        bool running = true;

        assert_int_equal(qmp_connect(qemu->socket, LONG_TIMEOUT, &q), 0);
        assert_non_null(q);

        /* -S: the machine is created but has never run. */
        assert_int_equal(qmp_execute(q, "query-status", NULL, LONG_TIMEOUT, &status, NULL), 0);
        assert_string_equal(return_string(status, "status"), "prelaunch");
        assert_int_equal(json_get_bool(status, "running", &running), 0);
        assert_false(running);

        /* Arguments reach QEMU (and stay the caller's): HMP "info version" starts with the greeting's
         * version. */
        qmp_get_version(q, &major, &minor, &micro);
        assert_true(major >= 2);
        args = json_object_new_object();
        assert_int_equal(json_add_string(args, "command-line", "info version"), 0);
        assert_int_equal(qmp_execute(q, "human-monitor-command", args, LONG_TIMEOUT, &hmp, NULL), 0);
        assert_true(json_object_is_type(hmp, json_type_string));
        snprintf(expected, sizeof(expected), "%u.%u.%u", major, minor, micro);
        assert_memory_equal(json_object_get_string(hmp), expected, strlen(expected));
        assert_non_null(json_object_object_get(args, "command-line"));
}

static void test_error_reply(void **state) {
        Qemu *qemu = *state;
        _cleanup_(qmp_freep) Qmp *q = NULL;
        _cleanup_(json_object_putp) json_object *status = NULL;
        _cleanup_free_ char *desc = NULL;
        json_object *untouched = (json_object *) 0x1;

        assert_int_equal(qmp_connect(qemu->socket, LONG_TIMEOUT, &q), 0);

        assert_int_equal(qmp_execute(q, "cocoon-no-such-command", NULL, LONG_TIMEOUT, &untouched, &desc),
                         -EIO);
        assert_non_null(desc);
        assert_non_null(strstr(desc, "cocoon-no-such-command"));
        assert_ptr_equal(untouched, (json_object *) 0x1);

        /* An error reply leaves the connection usable. */
        assert_int_equal(qmp_execute(q, "query-status", NULL, LONG_TIMEOUT, &status, NULL), 0);
        assert_string_equal(return_string(status, "status"), "prelaunch");
}

/* A descriptor travels with the command that names it (SCM_RIGHTS): QEMU holds it under that name until
 * closefd, which fails for a name it does not hold. */
static void test_execute_with_fd(void **state) {
        Qemu *qemu = *state;
        _cleanup_(qmp_freep) Qmp *q = NULL;
        _cleanup_(json_object_putp) json_object *args = json_object_new_object();
        _cleanup_free_ char *desc = NULL;
        int pipe_fds[2];

        assert_int_equal(qmp_connect(qemu->socket, LONG_TIMEOUT, &q), 0);
        assert_int_equal(json_add_string(args, "fdname", "cocoon-test"), 0);
        /* Without a descriptor QEMU refuses getfd. */
        assert_int_equal(qmp_execute(q, "getfd", args, LONG_TIMEOUT, NULL, &desc), -EIO);
        assert_non_null(desc);
        assert_int_equal(qmp_execute(q, "closefd", args, LONG_TIMEOUT, NULL, NULL), -EIO);

        assert_int_equal(pipe2(pipe_fds, O_CLOEXEC), 0);
        assert_int_equal(qmp_execute_with_fd(q, "getfd", args, pipe_fds[1], LONG_TIMEOUT, NULL, NULL), 0);
        /* Ours stays ours: QEMU got a duplicate. */
        assert_true(fcntl(pipe_fds[1], F_GETFD) >= 0);
        assert_int_equal(qmp_execute(q, "closefd", args, LONG_TIMEOUT, NULL, NULL), 0);
        assert_int_equal(qmp_execute(q, "closefd", args, LONG_TIMEOUT, NULL, NULL), -EIO);
        close(pipe_fds[0]);
        close(pipe_fds[1]);
}

static void test_events_are_queued(void **state) {
        Qemu *qemu = *state;
        _cleanup_(qmp_freep) Qmp *q = NULL;
        _cleanup_(json_object_putp) json_object *status = NULL;

        assert_int_equal(qmp_connect(qemu->socket, LONG_TIMEOUT, &q), 0);

        /* QEMU emits RESUME and STOP while these two commands run; both must be kept for later. */
        assert_int_equal(qmp_execute(q, "cont", NULL, LONG_TIMEOUT, NULL, NULL), 0);
        assert_int_equal(qmp_execute(q, "stop", NULL, LONG_TIMEOUT, NULL, NULL), 0);

        /* STOP is taken first although RESUME came earlier; RESUME stays queued and needs no waiting. */
        assert_int_equal(qmp_wait_event(q, "STOP", LONG_TIMEOUT, NULL), 0);
        assert_int_equal(qmp_wait_event(q, "RESUME", 0, NULL), 0);
        /* Each event is delivered once. */
        assert_int_equal(qmp_wait_event(q, "RESUME", SHORT_TIMEOUT, NULL), -ETIMEDOUT);

        assert_int_equal(qmp_execute(q, "query-status", NULL, LONG_TIMEOUT, &status, NULL), 0);
        assert_string_equal(return_string(status, "status"), "paused");
}

static void test_quit_then_connection_reset(void **state) {
        Qemu *qemu = *state;
        _cleanup_(qmp_freep) Qmp *q = NULL;
        _cleanup_(json_object_putp) json_object *data = NULL;
        bool guest = true;
        int r, status;

        assert_int_equal(qmp_connect(qemu->socket, LONG_TIMEOUT, &q), 0);

        /* QEMU may close the socket before its reply to "quit" is read. */
        r = qmp_execute(q, "quit", NULL, LONG_TIMEOUT, NULL, NULL);
        assert_true(r == 0 || r == -ECONNRESET);

        assert_int_equal(qmp_wait_event(q, "SHUTDOWN", LONG_TIMEOUT, &data), 0);
        assert_non_null(data);
        assert_string_equal(return_string(data, "reason"), "host-qmp-quit");
        assert_int_equal(json_get_bool(data, "guest", &guest), 0);
        assert_false(guest);

        assert_int_equal(waitpid(qemu->pid, &status, 0), qemu->pid);
        qemu->pid = 0;
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);

        assert_int_equal(qmp_execute(q, "query-status", NULL, LONG_TIMEOUT, NULL, NULL), -ECONNRESET);
        assert_int_equal(qmp_wait_event(q, "STOP", LONG_TIMEOUT, NULL), -ECONNRESET);
}

static void test_timeouts(void **state) {
        Qemu *qemu = *state;
        _cleanup_(qmp_freep) Qmp *q = NULL, *other = NULL;
        _cleanup_(json_object_putp) json_object *status = NULL;

        assert_int_equal(qmp_connect(qemu->socket, LONG_TIMEOUT, &q), 0);

        assert_int_equal(qmp_wait_event(q, "COCOON_NEVER", SHORT_TIMEOUT, NULL), -ETIMEDOUT);

        /* A frozen QEMU does not answer. Its late reply to query-name must not pass for the reply to the
         * next command: query-status has to see its own answer. */
        assert_int_equal(kill(qemu->pid, SIGSTOP), 0);
        assert_int_equal(qmp_execute(q, "query-name", NULL, SHORT_TIMEOUT, NULL, NULL), -ETIMEDOUT);
        assert_int_equal(kill(qemu->pid, SIGCONT), 0);
        assert_int_equal(qmp_execute(q, "query-status", NULL, LONG_TIMEOUT, &status, NULL), 0);
        assert_string_equal(return_string(status, "status"), "prelaunch");

        /* QEMU serves one QMP client at a time: the second one never gets its greeting. */
        assert_int_equal(qmp_connect(qemu->socket, SHORT_TIMEOUT, &other), -ETIMEDOUT);
        assert_null(other);
        q = qmp_free(q);
        assert_int_equal(qmp_connect(qemu->socket, LONG_TIMEOUT, &other), 0);
}

static void test_connect_errors(void **state) {
        _cleanup_(qmp_freep) Qmp *q = NULL;
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        char dir[] = "/tmp/test-qmp-XXXXXX", path[64], longpath[200];
        int fd;

        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/api.sock", dir);
        assert_int_equal(qmp_connect(path, SHORT_TIMEOUT, &q), -ENOENT);

        /* A socket file left behind by a dead QEMU. */
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        assert_int_equal(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        safe_close(fd);
        assert_int_equal(qmp_connect(path, SHORT_TIMEOUT, &q), -ECONNREFUSED);

        memset(longpath, 'x', sizeof(longpath) - 1);
        longpath[0] = '/';
        longpath[sizeof(longpath) - 1] = '\0';
        assert_int_equal(qmp_connect(longpath, SHORT_TIMEOUT, &q), -ENAMETOOLONG);
        assert_null(q);

        unlink(path);
        rmdir(dir);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_connect_status_version, qemu_setup, qemu_teardown),
                cmocka_unit_test_setup_teardown(test_error_reply, qemu_setup, qemu_teardown),
                cmocka_unit_test_setup_teardown(test_execute_with_fd, qemu_setup, qemu_teardown),
                cmocka_unit_test_setup_teardown(test_events_are_queued, qemu_setup, qemu_teardown),
                cmocka_unit_test_setup_teardown(test_quit_then_connection_reset, qemu_setup, qemu_teardown),
                cmocka_unit_test_setup_teardown(test_timeouts, qemu_setup, qemu_teardown),
                cmocka_unit_test(test_connect_errors),
        };

        if (access(qemu_binary(), X_OK) < 0) {
                fprintf(stderr, "%s not found, skipping\n", qemu_binary());
                return 77; /* meson: skipped */
        }

        return cmocka_run_group_tests(tests, NULL, NULL);
}
