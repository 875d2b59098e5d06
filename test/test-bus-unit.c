/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for bus-unit: names and exit reasons anywhere, transient units only in tools/sandbox's systemd. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include <cmocka.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "bus-unit.h"
#include "id.h"
#include "log.h"

#define TEST_SLICE "cocoon-test.slice"
/* Upper bound for anything PID 1 does asynchronously; the tests never measure time. */
#define WAIT_STEPS 1000
#define WAIT_STEP_NSEC (10 * 1000 * 1000)

typedef struct Fixture {
        sd_bus *bus;
        char *unit;
        char tmpdir[64];
} Fixture;

static void sleep_step(void) {
        nanosleep(&(struct timespec) { .tv_nsec = WAIT_STEP_NSEC }, NULL);
}

static char *new_vm_unit(void) {
        char id[ID_LENGTH + 1], *unit;

        assert_int_equal(id_generate(id), 0);
        assert_int_equal(unit_name_for_vm(id, &unit), 0);
        return unit;
}

static int fixture_setup(void **state) {
        Fixture *f = calloc(1, sizeof(Fixture));

        assert_non_null(f);
        assert_int_equal(sd_bus_open_system(&f->bus), 0);
        f->unit = new_vm_unit();
        strcpy(f->tmpdir, "/tmp/test-bus-unit-XXXXXX");
        assert_non_null(mkdtemp(f->tmpdir));
        *state = f;
        return 0;
}

static int fixture_teardown(void **state) {
        Fixture *f = *state;
        char cmd[128];

        /* Leave nothing behind in PID 1, whatever the test did. */
        (void) unit_stop(f->bus, f->unit, true);
        (void) unit_reset_failed(f->bus, f->unit);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->tmpdir);
        (void) system(cmd);
        sd_bus_flush_close_unref(f->bus);
        free(f->unit);
        free(f);
        return 0;
}

/* Polls until the unit is gone (-ENOENT) or in a state other than `while_state`. */
static int wait_unit_leaves(sd_bus *bus, const char *unit, const char *while_state, UnitRuntime *ret) {
        for (int i = 0; i < WAIT_STEPS; i++) {
                UnitRuntime rt;
                int r = unit_get_runtime(bus, unit, &rt);
                if (r < 0)
                        return r;
                if (!streq(rt.active_state, while_state)) {
                        *ret = rt;
                        return 0;
                }
                unit_runtime_done(&rt);
                sleep_step();
        }
        return -ETIMEDOUT;
}

static void wait_unit_gone(sd_bus *bus, const char *unit) {
        UnitRuntime rt;
        int r;

        for (int i = 0; i < WAIT_STEPS; i++) {
                r = unit_get_runtime(bus, unit, &rt);
                if (r == -ENOENT)
                        return;
                assert_int_equal(r, 0);
                unit_runtime_done(&rt);
                sleep_step();
        }
        fail_msg("unit %s still loaded", unit);
}

static void start_sleep(Fixture *f) {
        char *argv[] = { (char *) "/bin/sleep", (char *) "1000", NULL };
        UnitSpec spec = {
                .description = "cocoon test sleeper",
                .slice = TEST_SLICE,
                .argv = argv,
                .timeout_stop_usec = 5 * 1000 * 1000,
        };
        char *message = NULL;
        int r;

        r = unit_start_transient(f->bus, f->unit, &spec, &message);
        if (r < 0)
                fail_msg("start %s: %s (%s)", f->unit, strerror(-r), message ?: "no message");
}

static char *read_file(const char *path) {
        static char buf[4096];
        FILE *fp = fopen(path, "re");
        size_t n;

        if (!fp)
                return NULL;
        n = fread(buf, 1, sizeof(buf) - 1, fp);
        buf[n] = '\0';
        fclose(fp);
        return buf;
}

static bool pid_in_slice(pid_t pid, const char *slice, const char *unit) {
        char path[64], needle[512];
        const char *content;

        snprintf(path, sizeof(path), "/proc/%i/cgroup", (int) pid);
        snprintf(needle, sizeof(needle), "/%s/%s\n", slice, unit);
        content = read_file(path);
        return content && strstr(content, needle);
}

static void test_unit_name_round_trip(void **state) {
        char id[ID_LENGTH + 1], *unit, *back;

        assert_int_equal(id_generate(id), 0);
        assert_int_equal(unit_name_for_vm(id, &unit), 0);
        assert_true(strncmp(unit, "cocoon-vm@", 10) == 0);
        assert_int_equal(unit_name_to_vm_id(unit, &back), 0);
        assert_string_equal(back, id);
        free(unit);
        free(back);

        assert_int_equal(unit_name_to_vm_id("cocoon-vm@abcdefghijklmnopqrstuvwxyz.service", &back), 0);
        assert_string_equal(back, "abcdefghijklmnopqrstuvwxyz");
        free(back);
}

/* A restore alternates between the two instances of a VM; both name the same VM. */
static void test_unit_name_alternate(void **state) {
        char *other, *back, *again;

        assert_int_equal(unit_name_vm_other("cocoon-vm@abcdefghijklmnopqrstuvwxyz.service", &other), 0);
        assert_string_equal(other, "cocoon-vm@abcdefghijklmnopqrstuvwxyz-r.service");
        assert_true(unit_name_is_vm_alternate(other));
        assert_false(unit_name_is_vm_alternate("cocoon-vm@abcdefghijklmnopqrstuvwxyz.service"));
        assert_int_equal(unit_name_to_vm_id(other, &back), 0);
        assert_string_equal(back, "abcdefghijklmnopqrstuvwxyz");
        assert_int_equal(unit_name_vm_other(other, &again), 0);
        assert_string_equal(again, "cocoon-vm@abcdefghijklmnopqrstuvwxyz.service");
        free(other);
        free(back);
        free(again);

        assert_int_equal(unit_name_to_vm_id("cocoon-vm@abcdefghijklmnopqrstuvwxyz-r-r.service", &back),
                         -EINVAL);
        assert_int_equal(unit_name_to_vm_id("cocoon-vm@abcdefghijklmnopqrstuvwxy-r.service", &back),
                         -EINVAL);
        assert_int_equal(unit_name_to_vm_id("cocoon-vm@-r.service", &back), -EINVAL);
        assert_int_equal(unit_name_vm_other("cocoon-vm@nope.service", &back), -EINVAL);
        assert_false(unit_name_is_vm_alternate(NULL));
}

static void test_unit_name_invalid(void **state) {
        static const char *const bad_units[] = {
                "cocoon-vm@.service",
                "cocoon-vm@abcdefghijklmnopqrstuvwxy.service",   /* 25 */
                "cocoon-vm@abcdefghijklmnopqrstuvwxyz2.service", /* 27 */
                "cocoon-vm@abcdefghijklmnopqrstuvwxy1.service",  /* '1' is not base32 */
                "cocoon-vm@Abcdefghijklmnopqrstuvwxyz.service",
                "cocoon-vm@abcdefghijklmnopqrstuvwxyz.scope",
                "cocoon-vm-abcdefghijklmnopqrstuvwxyz.service",
                "xcocoon-vm@abcdefghijklmnopqrstuvwxyz.service",
                "cocoon-vm@abcdefghijklmnopqrstuvwxyz.service.service",
                "",
        };
        char *s = NULL;

        for (size_t i = 0; i < sizeof(bad_units) / sizeof(bad_units[0]); i++)
                if (unit_name_to_vm_id(bad_units[i], &s) != -EINVAL)
                        fail_msg("accepted %s", bad_units[i]);
        assert_int_equal(unit_name_to_vm_id(NULL, &s), -EINVAL);
        assert_int_equal(unit_name_for_vm("abc", &s), -EINVAL);
        assert_int_equal(unit_name_for_vm("abcdefghijklmnopqrstuvwxy0", &s), -EINVAL);
        assert_int_equal(unit_name_for_vm(NULL, &s), -EINVAL);
        assert_null(s);
}

static void check_reason(const char *result, int code, int status, const char *want, bool want_clean) {
        char *reason = NULL;
        bool clean = !want_clean;

        assert_int_equal(unit_exit_reason(result, code, status, &reason, &clean), 0);
        assert_string_equal(reason, want);
        assert_int_equal(clean, want_clean);
        free(reason);
}

static void test_exit_reason(void **state) {
        check_reason("success", CLD_EXITED, 0, "powered off", true);
        check_reason("exit-code", CLD_EXITED, 1, "exited with status 1", false);
        check_reason("exit-code", CLD_EXITED, 203, "exited with status 203 (could not execute the binary)",
                     false);
        check_reason("signal", CLD_KILLED, SIGKILL, "killed by signal KILL", false);
        check_reason("core-dump", CLD_DUMPED, SIGSEGV, "killed by signal SEGV (core dumped)", false);
        check_reason("timeout", CLD_KILLED, SIGKILL, "timed out (killed by signal KILL)", false);
        check_reason("oom-kill", CLD_KILLED, SIGKILL, "killed by the OOM killer (killed by signal KILL)",
                     false);
        /* systemd counts SIGTERM as a clean end of a service; for a VM it is not a guest power-off. */
        check_reason("success", CLD_KILLED, SIGTERM, "killed by signal TERM", false);
        check_reason("resources", 0, 0, "systemd could not set up the unit", false);
        check_reason("success", 0, 0, "ended without running (success)", false);
        check_reason(NULL, 0, 0, "ended without running (unknown result)", false);
}

static void test_start_runtime_list_stop(void **state) {
        Fixture *f = *state;
        char *argv[] = { (char *) "/bin/sleep", (char *) "1000", NULL };
        UnitSpec spec = { .slice = TEST_SLICE, .argv = argv };
        UnitListEntry *list;
        char *message = NULL;
        UnitRuntime rt;
        bool found = false;
        size_t n;
        pid_t pid;

        start_sleep(f);

        assert_int_equal(unit_get_runtime(f->bus, f->unit, &rt), 0);
        assert_string_equal(rt.load_state, "loaded");
        assert_string_equal(rt.active_state, "active");
        assert_string_equal(rt.sub_state, "running");
        assert_true(rt.main_pid > 1);
        assert_int_equal(strlen(rt.invocation_id), 32);
        assert_true(rt.active_enter_timestamp > 0);
        /* MemoryCurrent/CPUUsageNSec stay unknown where systemd cannot use those controllers (cgroup v1). */
        assert_int_equal(rt.tasks_current, 1);
        pid = (pid_t) rt.main_pid;
        unit_runtime_done(&rt);
        assert_int_equal(kill(pid, 0), 0);
        assert_true(pid_in_slice(pid, TEST_SLICE, f->unit));

        /* The same name again while it runs is refused, not reset. */
        assert_int_equal(unit_start_transient(f->bus, f->unit, &spec, &message), -EEXIST);
        assert_non_null(message);
        assert_non_null(strstr(message, "already running"));
        free(message);
        assert_int_equal(kill(pid, 0), 0);

        assert_int_equal(unit_list(f->bus, "cocoon-vm@*.service", &list, &n), 0);
        for (size_t i = 0; i < n; i++)
                if (streq(list[i].name, f->unit)) {
                        found = true;
                        assert_string_equal(list[i].active_state, "active");
                        assert_string_equal(list[i].sub_state, "running");
                }
        unit_list_free(list, n);
        assert_true(found);
        assert_int_equal(unit_list(f->bus, "cocoon-vm@no-such-vm*", &list, &n), 0);
        assert_int_equal(n, 0);
        unit_list_free(list, n);

        assert_int_equal(unit_stop(f->bus, f->unit, true), 0);
        assert_int_equal(unit_get_runtime(f->bus, f->unit, &rt), -ENOENT);
        assert_int_equal(kill(pid, 0), -1);
        assert_int_equal(unit_stop(f->bus, f->unit, true), -ENOENT);
        assert_int_equal(unit_kill(f->bus, f->unit, "main", SIGTERM), -ENOENT);
        assert_int_equal(unit_reset_failed(f->bus, f->unit), -ENOENT);
}

static void test_stdout_environment_workdir(void **state) {
        Fixture *f = *state;
        char *argv[] = { (char *) "/bin/sh", (char *) "-c",
                         (char *) "echo hello; echo \"$COCOON_TEST\"; pwd; echo oops >&2", NULL };
        char *env[] = { (char *) "COCOON_TEST=from-environment", NULL };
        char logfile[128], want[256];
        FILE *fp;
        UnitSpec spec = {
                .slice = TEST_SLICE,
                .argv = argv,
                .stdout_path = logfile,
                .environment = env,
                .working_directory = f->tmpdir,
        };

        snprintf(logfile, sizeof(logfile), "%s/vm.log", f->tmpdir);
        fp = fopen(logfile, "we");
        assert_non_null(fp);
        fputs("earlier run\n", fp);
        fclose(fp);

        assert_int_equal(unit_start_transient(f->bus, f->unit, &spec, NULL), 0);
        wait_unit_gone(f->bus, f->unit);

        snprintf(want, sizeof(want), "earlier run\nhello\nfrom-environment\n%s\noops\n", f->tmpdir);
        assert_string_equal(read_file(logfile), want);
}

static void test_restart_after_sigkill(void **state) {
        Fixture *f = *state;
        UnitRuntime rt;
        pid_t first;
        int r;

        start_sleep(f);
        assert_int_equal(unit_get_runtime(f->bus, f->unit, &rt), 0);
        first = (pid_t) rt.main_pid;
        unit_runtime_done(&rt);
        assert_int_equal(kill(first, SIGKILL), 0);

        r = wait_unit_leaves(f->bus, f->unit, "active", &rt);
        if (r == 0)
                unit_runtime_done(&rt);
        else
                assert_int_equal(r, -ENOENT);

        start_sleep(f);
        assert_int_equal(unit_get_runtime(f->bus, f->unit, &rt), 0);
        assert_string_equal(rt.active_state, "active");
        assert_true(rt.main_pid > 1);
        assert_true((pid_t) rt.main_pid != first);
        unit_runtime_done(&rt);
}

/* A failed unit that PID 1 keeps (CollectMode=inactive, as a unit from elsewhere might have). */
static void make_failed_leftover(sd_bus *bus, const char *unit) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        const char *false_argv[] = { "/bin/false", NULL };
        sd_bus_message *m = NULL;
        UnitRuntime rt;
        int r;

        assert_int_equal(sd_bus_message_new_method_call(bus, &m, "org.freedesktop.systemd1",
                                                        "/org/freedesktop/systemd1",
                                                        "org.freedesktop.systemd1.Manager",
                                                        "StartTransientUnit"), 0);
        assert_true(sd_bus_message_append(m, "ssa(sv)a(sa(sv))", unit, "fail", 3,
                                          "Slice", "s", TEST_SLICE,
                                          "Type", "s", "exec",
                                          "ExecStart", "a(sasb)", 1, false_argv[0], 1, false_argv[0], 0,
                                          0) >= 0);
        r = sd_bus_call(bus, m, 0, &error, NULL);
        if (r < 0)
                fail_msg("raw StartTransientUnit: %s", error.message);
        sd_bus_message_unref(m);
        sd_bus_error_free(&error);

        for (int i = 0; i < WAIT_STEPS; i++) {
                assert_int_equal(unit_get_runtime(bus, unit, &rt), 0);
                bool failed = streq(rt.active_state, "failed");
                unit_runtime_done(&rt);
                if (failed)
                        return;
                sleep_step();
        }
        fail_msg("%s never failed", unit);
}

static void test_stale_failed_unit_is_reset(void **state) {
        Fixture *f = *state;
        UnitRuntime rt;

        make_failed_leftover(f->bus, f->unit);
        start_sleep(f);

        assert_int_equal(unit_get_runtime(f->bus, f->unit, &rt), 0);
        assert_string_equal(rt.active_state, "active");
        assert_string_equal(rt.sub_state, "running");
        assert_int_equal(kill((pid_t) rt.main_pid, 0), 0);
        unit_runtime_done(&rt);
}

static void test_failing_exec(void **state) {
        Fixture *f = *state;
        char *argv[] = { (char *) "/nonexistent/cocoon-test-binary", NULL };
        UnitSpec spec = { .slice = TEST_SLICE, .argv = argv };
        char *message = NULL;
        int r;

        r = unit_start_transient(f->bus, f->unit, &spec, &message);
        assert_true(r < 0);
        assert_non_null(message);
        fprintf(stderr, "# failing exec: %s (%s)\n", message, strerror(-r));
        assert_non_null(strstr(message, f->unit));
        /* The unit is collected at once; the reason must come from what PID 1 said before that. */
        assert_non_null(strstr(message, "exited with status 203"));
        free(message);
}

static void test_invalid_spec(void **state) {
        Fixture *f = *state;
        char *relative[] = { (char *) "sleep", (char *) "1", NULL };
        UnitSpec spec = { .argv = relative };

        assert_int_equal(unit_start_transient(f->bus, f->unit, &spec, NULL), -EINVAL);
        spec.argv = NULL;
        assert_int_equal(unit_start_transient(f->bus, f->unit, &spec, NULL), -EINVAL);
        /* ExecStop= needs an absolute path too. */
        char *absolute[] = { (char *) "/bin/sleep", (char *) "1", NULL };
        spec.argv = absolute;
        spec.exec_stop = relative;
        assert_int_equal(unit_start_transient(f->bus, f->unit, &spec, NULL), -EINVAL);
}

typedef struct WatchLog {
        const char *unit;
        bool running;
        bool inactive;
        bool failed;
        bool removed;
        bool removed_before_failed;
        char result[32];
        int code;
        int status;
        uint32_t pid;
} WatchLog;

static void watch_callback(const UnitStateChange *c, void *userdata) {
        WatchLog *wl = userdata;

        if (!streq(c->unit, wl->unit))
                return;
        if (c->removed) {
                wl->removed = true;
                wl->removed_before_failed = !wl->failed;
                return;
        }
        if (streq(c->active_state, "active") && streq(c->sub_state, "running") && c->main_pid > 0) {
                wl->running = true;
                wl->pid = c->main_pid;
        }
        if (streq(c->active_state, "failed") || streq(c->active_state, "inactive")) {
                wl->failed = wl->failed || streq(c->active_state, "failed");
                wl->inactive = wl->inactive || streq(c->active_state, "inactive");
                snprintf(wl->result, sizeof(wl->result), "%s", c->result);
                wl->code = c->exec_main_code;
                wl->status = c->exec_main_status;
        }
}

static void run_loop_until(sd_event *e, const bool *flag) {
        for (int i = 0; i < WAIT_STEPS && !*flag; i++)
                assert_true(sd_event_run(e, WAIT_STEP_NSEC / 1000) >= 0);
        assert_true(*flag);
}

static void test_watch_sees_sigkill(void **state) {
        Fixture *f = *state;
        WatchLog wl = { .unit = f->unit };
        UnitWatch *w = NULL;
        sd_event *e = NULL;
        sd_bus *bus = NULL;
        bool ready = false;
        char *reason = NULL;
        bool clean = true;

        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(sd_bus_open_system(&bus), 0);
        assert_int_equal(sd_bus_attach_event(bus, e, 0), 0);
        assert_int_equal(unit_watch_new(bus, UNIT_VM_PREFIX, watch_callback, &wl, &w), 0);
        for (int i = 0; i < WAIT_STEPS && !ready; i++) {
                assert_true(sd_event_run(e, WAIT_STEP_NSEC / 1000) >= 0);
                int r = unit_watch_is_ready(w);
                assert_true(r >= 0);
                ready = r > 0;
        }
        assert_true(ready);

        start_sleep(f);
        run_loop_until(e, &wl.running);
        assert_int_equal(kill((pid_t) wl.pid, SIGKILL), 0);
        run_loop_until(e, &wl.removed);

        assert_true(wl.failed);
        assert_false(wl.removed_before_failed);
        assert_string_equal(wl.result, "signal");
        assert_int_equal(wl.code, CLD_KILLED);
        assert_int_equal(wl.status, SIGKILL);
        assert_int_equal(unit_exit_reason(wl.result, wl.code, wl.status, &reason, &clean), 0);
        assert_string_equal(reason, "killed by signal KILL");
        assert_false(clean);
        free(reason);

        unit_watch_free(w);
        sd_bus_flush_close_unref(bus);
        sd_event_unref(e);
}

static void test_watch_sees_clean_exit(void **state) {
        Fixture *f = *state;
        char *argv[] = { (char *) "/bin/true", NULL };
        UnitSpec spec = { .slice = TEST_SLICE, .argv = argv };
        WatchLog wl = { .unit = f->unit };
        UnitWatch *w = NULL;
        sd_event *e = NULL;
        sd_bus *bus = NULL;
        char *reason = NULL;
        bool clean = false;

        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(sd_bus_open_system(&bus), 0);
        assert_int_equal(sd_bus_attach_event(bus, e, 0), 0);
        assert_int_equal(unit_watch_new(bus, UNIT_VM_PREFIX, watch_callback, &wl, &w), 0);
        for (int i = 0; i < WAIT_STEPS && unit_watch_is_ready(w) == 0; i++)
                assert_true(sd_event_run(e, WAIT_STEP_NSEC / 1000) >= 0);
        assert_int_equal(unit_watch_is_ready(w), 1);

        assert_int_equal(unit_start_transient(f->bus, f->unit, &spec, NULL), 0);
        run_loop_until(e, &wl.removed);
        assert_false(wl.failed);
        assert_true(wl.inactive);
        assert_string_equal(wl.result, "success");
        assert_int_equal(wl.code, CLD_EXITED);
        assert_int_equal(wl.status, 0);
        assert_int_equal(unit_exit_reason(wl.result, wl.code, wl.status, &reason, &clean), 0);
        assert_string_equal(reason, "powered off");
        assert_true(clean);
        free(reason);

        unit_watch_free(w);
        sd_bus_flush_close_unref(bus);
        sd_event_unref(e);
}

/* The live tests create transient units and a slice: only ever in tools/sandbox's private systemd, never
 * in a host's own (a developer machine or CI runner whose PID 1 is systemd). The sandbox sets
 * COCOON_SANDBOX=1 for the command and starts its systemd with container=cocoon-sandbox, which systemd
 * records in /run/systemd/container; both must hold. */
static bool in_cocoon_sandbox(void) {
        char marker[64] = "";
        FILE *fp;

        if (!streq(getenv("COCOON_SANDBOX") ?: "", "1"))
                return false;
        fp = fopen("/run/systemd/container", "re");
        if (!fp)
                return false;
        if (!fgets(marker, sizeof(marker), fp))
                marker[0] = '\0';
        fclose(fp);
        marker[strcspn(marker, "\n")] = '\0';
        return streq(marker, "cocoon-sandbox");
}

static bool have_systemd_bus(void) {
        char comm[32] = "";
        sd_bus *bus = NULL;
        FILE *fp;

        if (geteuid() != 0 || sd_booted() <= 0)
                return false;
        fp = fopen("/proc/1/comm", "re");
        if (!fp)
                return false;
        if (!fgets(comm, sizeof(comm), fp))
                comm[0] = '\0';
        fclose(fp);
        if (!streq(comm, "systemd\n"))
                return false;
        if (sd_bus_open_system(&bus) < 0)
                return false;
        sd_bus_flush_close_unref(bus);
        return true;
}

#define LIVE_TEST(f) cmocka_unit_test_setup_teardown(f, fixture_setup, fixture_teardown)

int main(void) {
        const struct CMUnitTest offline[] = {
                cmocka_unit_test(test_unit_name_round_trip),
                cmocka_unit_test(test_unit_name_alternate),
                cmocka_unit_test(test_unit_name_invalid),
                cmocka_unit_test(test_exit_reason),
        };
        const struct CMUnitTest live[] = {
                LIVE_TEST(test_start_runtime_list_stop),
                LIVE_TEST(test_stdout_environment_workdir),
                LIVE_TEST(test_restart_after_sigkill),
                LIVE_TEST(test_stale_failed_unit_is_reset),
                LIVE_TEST(test_failing_exec),
                LIVE_TEST(test_invalid_spec),
                LIVE_TEST(test_watch_sees_sigkill),
                LIVE_TEST(test_watch_sees_clean_exit),
        };
        int r;

        log_parse_environment();
        r = cmocka_run_group_tests_name("bus-unit offline", offline, NULL, NULL);
        if (r != 0)
                return EXIT_FAILURE;
        if (!in_cocoon_sandbox()) {
                fprintf(stderr, "Not in tools/sandbox (COCOON_SANDBOX=1 and its systemd): skipping the "
                                "transient unit tests, which never run against a host's own systemd.\n");
                return 77;
        }
        if (!have_systemd_bus()) {
                fprintf(stderr, "No systemd PID 1 with a system bus: skipping the transient unit tests.\n");
                return 77;
        }
        return cmocka_run_group_tests_name("bus-unit with systemd", live, NULL, NULL) == 0 ? EXIT_SUCCESS
                                                                                           : EXIT_FAILURE;
}
