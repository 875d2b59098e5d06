/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cocoon-manager: option parsing, start-up (lock, records, Varlink), the event loop, clean exit. */
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <systemd/sd-daemon.h>

#include "config.h"
#include "hypervisor.h"
#include "console-relay.h"
#include "image-store.h"
#include "oci-unpack.h"
#include "job-queue.h"
#include "snapshot-store.h"
#include "snapshot-varlink.h"
#include "qemu.h"
#include "varlink-interfaces.h"
#include "vm-console.h"
#include "vm-events.h"
#include "vm-machined.h"
#include "vm-task.h"
#include "vm-unit.h"
#include "vm.h"
#include "bus-unit.h"
#include "fs-util.h"
#include "log.h"
#include "manager.h"
#include "manager-operations.h"
#include "parse-util.h"
#include "strv-util.h"
#include "time-util.h"

static const char *arg_state_dir = COCOON_STATE_DIR;
static const char *arg_run_dir = COCOON_RUN_DIR;
static const char *arg_log_dir = COCOON_LOG_DIR;
static const char *arg_listen = NULL;
static const char *arg_config = NULL;
static uint64_t arg_exit_idle_usec = 0;

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        /* Workers first: their results still refer to the store. */
        job_queue_free(m->jobs);
        sd_event_source_unref(m->exit_source);
        sd_event_source_disable_unref(m->group_watch);
        vm_events_free_all(m);
        vm_machined_free(m);
        vm_console_free_log_streams(m);
        varlink_server_unref(m->varlink_server);
        /* After the workers: their done() detach progress and end held operations. */
        m->operations = operations_free(m->operations);
        m->gc_links = strv_free(m->gc_links);
        sd_event_source_unref(m->idle_timer);
        if (m->consoles) {
                size_t state = 0;
                void *relay;
                while (hashmap_iterate(m->consoles, &state, NULL, &relay))
                        console_relay_free(relay);
                hashmap_free(m->consoles);
        }
        hashmap_free(m->vm_tasks);
        vm_unit_free_all(m);
        vm_free_all(m);
        unit_watch_free(m->unit_watch);
        sd_bus_flush_close_unref(m->bus);
        /* A spare layer unpacker waiting for a pull exits now rather than with us. */
        oci_unpacker_drop_spare();
        image_store_free(m->images);
        snapshot_store_free(m->snapshots);
        cocoon_config_done(&m->config);
        store_free(m->store);
        sd_event_unref(m->event);
        free(m->state_dir);
        free(m->run_dir);
        free(m->log_dir);
        free(m->listen_address);
        describe_state_free(m->describe);
        free(m->stop_helper);
        free(m->unpack_helper);
        free(m->network_address);
        return mfree(m);
}

static void help(void) {
        printf("cocoon-manager [OPTIONS...]\n\n"
               "The cocoon microVM manager: serves Varlink on %s (socket activation or --listen).\n\n"
               "  -h --help              Show this help\n"
               "     --version           Show the version\n"
               "     --state-dir=PATH    Records and disks (default %s)\n"
               "     --run-dir=PATH      Sockets (default %s)\n"
               "     --log-dir=PATH      Hypervisor and console logs (default %s)\n"
               "     --listen=PATH       Bind this socket when not socket activated\n"
               "     --config=PATH       Configuration file (default %s)\n"
               "     --exit-idle-sec=N   Exit after N seconds without clients, running VMs or pending work\n",
               COCOON_MANAGER_ADDRESS, COCOON_STATE_DIR, COCOON_RUN_DIR, COCOON_LOG_DIR, COCOON_CONF_FILE);
}

static int parse_argv(int argc, char *argv[]) {
        enum { ARG_VERSION = 0x100, ARG_STATE_DIR, ARG_RUN_DIR, ARG_LOG_DIR, ARG_LISTEN, ARG_EXIT_IDLE, ARG_CONFIG };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "state-dir", required_argument, NULL, ARG_STATE_DIR },
                { "run-dir", required_argument, NULL, ARG_RUN_DIR },
                { "log-dir", required_argument, NULL, ARG_LOG_DIR },
                { "listen", required_argument, NULL, ARG_LISTEN },
                { "exit-idle-sec", required_argument, NULL, ARG_EXIT_IDLE },
                { "config", required_argument, NULL, ARG_CONFIG },
                {},
        };
        uint64_t sec;
        int c, r;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("cocoon-manager %s\n", COCOON_VERSION);
                        return 0;
                case ARG_STATE_DIR:
                        arg_state_dir = optarg;
                        break;
                case ARG_RUN_DIR:
                        arg_run_dir = optarg;
                        break;
                case ARG_LOG_DIR:
                        arg_log_dir = optarg;
                        break;
                case ARG_LISTEN:
                        arg_listen = optarg;
                        break;
                case ARG_CONFIG:
                        arg_config = optarg;
                        break;
                case ARG_EXIT_IDLE:
                        r = parse_uint64(optarg, &sec);
                        if (r < 0 || sec > UINT64_MAX / USEC_PER_SEC)
                                return log_error_errno(r < 0 ? r : -ERANGE, "Invalid --exit-idle-sec: %s", optarg);
                        arg_exit_idle_usec = sec * USEC_PER_SEC;
                        break;
                default:
                        return -EINVAL;
                }
        if (optind < argc)
                return log_error_errno(EINVAL, "cocoon-manager takes no positional arguments.");
        return 1;
}

static int on_replies_sent(sd_event_source *s, void *userdata) {
        Manager *m = userdata;
        log_info("Every operation is answered; exiting.");
        /* Without the bus the exit is a failure: Restart=on-failure brings a manager that connects. */
        return sd_event_exit(m->event, m->bus_lost ? EXIT_FAILURE : 0);
}

/* Exits once nothing is in flight. The last answers were only queued on their connections: the exit waits
 * for one more turn of the loop at idle priority, after every connection that can take its bytes did. */
static void manager_maybe_exit(Manager *m) {
        if (!m->shutting_down || job_queue_in_flight(m->jobs) > 0 || m->exit_source)
                return;
        /* Watch calls never end by themselves: they end now, with a declared error, not a bare hangup. */
        vm_events_end_all(m, COCOON_ERROR_SHUTTING_DOWN, "cocoon-manager is exiting; watch again");
        int r = sd_event_add_defer(m->event, &m->exit_source, on_replies_sent, m);
        if (r >= 0)
                r = sd_event_source_set_priority(m->exit_source, SD_EVENT_PRIORITY_IDLE);
        if (r < 0) {
                log_warning_errno(r, "Failed to schedule the exit, exiting now: %m");
                (void) sd_event_exit(m->event, m->bus_lost ? EXIT_FAILURE : 0);
        }
}

/* The job that finished last may have been the only thing keeping us from an idle exit, or a shutdown. */
static void on_jobs_drained(void *userdata) {
        Manager *m = userdata;
        manager_check_idle(m);
        manager_maybe_exit(m);
}

/* SIGTERM/SIGINT: every call accepted so far gets its answer before we go. Work not started yet is
 * answered with io.cocoon.ShuttingDown, running work finishes or, where it waits for a guest, stops waiting
 * (the wait goes on in systemd, see backend_stop()). VMs keep running: they are systemd's units. */
static void manager_shut_down(Manager *m, const char *why) {
        if (m->shutting_down)
                return;
        m->shutting_down = true;
        (void) sd_notify(false, "STOPPING=1\nSTATUS=Answering the calls in flight.");
        log_info("%s; answering %u operation(s) in flight, then exiting.", why, job_queue_in_flight(m->jobs));
        job_queue_shutdown(m->jobs);
        manager_maybe_exit(m);
}

static int on_exit_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        manager_shut_down(userdata, si->ssi_signo == SIGINT ? "Received SIGINT" : "Received SIGTERM");
        return 0;
}

/* The system bus went away (dbus restarted): the unit watch is gone with it, so crashes and stops of VMs
 * would go unseen. Starting over is what a new manager does best: it reconnects and reconciles every record
 * with what systemd runs, off anyone's call. So this one answers what is in flight and exits with a failure
 * (Restart=on-failure); VMs keep running, they are systemd's units. */
static int on_bus_disconnected(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;

        m->bus_lost = true;
        manager_shut_down(m, "Lost the connection to the system bus");
        return 0;
}

/* The helpers are installed next to us (libexecdir, or the build directory). NULL when missing. */
static char *find_helper(const char *name) {
        _cleanup_free_ char *self = realpath("/proc/self/exe", NULL);
        char *helper = NULL;
        char *slash = self ? strrchr(self, '/') : NULL;
        if (!slash)
                return NULL;
        *slash = 0;
        if (asprintf(&helper, "%s/%s", self, name) < 0)
                return NULL;
        if (access(helper, X_OK) < 0)
                return mfree(helper);
        return helper;
}

static int manager_new(Manager **ret) {
        _cleanup_(manager_freep) Manager *m = calloc(1, sizeof(Manager));
        if (!m)
                return log_oom();
        m->state_dir = strdup(arg_state_dir);
        m->run_dir = strdup(arg_run_dir);
        m->log_dir = strdup(arg_log_dir);
        if (!m->state_dir || !m->run_dir || !m->log_dir)
                return log_oom();
        if (arg_listen && !(m->listen_address = strdup(arg_listen)))
                return log_oom();
        m->exit_idle_usec = arg_exit_idle_usec;
        m->vm_event = vm_events_emit;
        m->vm_event_machined = vm_machined_event;
        /* The VM units' ExecStop= helper. */
        m->stop_helper = find_helper("cocoon-vm-stop");
        if (!m->stop_helper)
                log_warning("cocoon-vm-stop is missing next to the manager: a graceful stop of a VM gives its "
                            "guest no time once systemd takes over.");
        m->unpack_helper = find_helper("cocoon-unpack");
        m->network_address = strdup(COCOON_NETWORK_ADDRESS);


        _cleanup_free_ char *config_error = NULL;
        int r = cocoon_config_load(arg_config, &m->config, &config_error);
        if (r < 0)
                return log_error_errno(r, "Bad configuration: %s", config_error ?: "?");
        /* Ignored settings are most often typos: say so (Describe repeats them for cocoonctl status). */
        for (char **w = m->config.warnings; w && *w; w++)
                log_warning("%s", *w);
        /* Host facts, read once: they do not change while we run. */
        m->host_accel = accel_resolve(ACCEL_AUTO);
        m->host_tsc_khz = host_tsc_khz();
        /* systemd wants an absolute ExecStart path; resolve every Binary= once, as $PATH says now. */
        for (size_t i = 0; i < hypervisor_table_size; i++) {
                const char *type = hypervisor_table[i]->type;
                char **binary = cocoon_config_backend_binary_field(&m->config, type), *path = NULL;
                if (!binary)
                        continue;
                if (find_executable(*binary, &path) >= 0) {
                        free(*binary);
                        *binary = path;
                } else if (streq(type, "qemu") || streq(m->config.default_backend, type))
                        log_warning("The %s binary %s was not found; its VMs cannot start.", type, *binary);
        }

        r = sd_event_default(&m->event);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate event loop: %m");
        if (hashmap_new(&m->vm_tasks) < 0 || hashmap_new(&m->consoles) < 0)
                return log_oom();
        r = job_queue_new(m->event, m->config.pool_size, &m->jobs);
        if (r < 0)
                return log_error_errno(r, "Failed to set up worker threads: %m");
        job_queue_set_drained(m->jobs, on_jobs_drained, m);
        /* Membership of this group grants access (see manager-varlink.c). */
        r = manager_group_init(m);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

static int manager_open_store(Manager *m) {
        int r = mkdir_p(m->state_dir, 0700);
        if (r < 0)
                return log_error_errno(r, "Failed to create %s: %m", m->state_dir);
        r = store_open(m->state_dir, &m->store);
        if (r == -EBUSY)
                return log_error_errno(r, "Another cocoon-manager owns %s; refusing to start.", m->state_dir);
        if (r < 0)
                return log_error_errno(r, "Failed to load records from %s: %m", m->state_dir);
        size_t state = 0;
        const char *id;
        while (store_iterate_quarantined(m->store, &state, &id))
                log_vm_error_errno(id, EBADMSG, "Record of VM %s could not be loaded; moved aside as "
                                   "%s/vms/%s/vm.json.corrupt-*. Serving the others.", id, m->state_dir, id);
        log_info("Loaded %zu VM records from %s (%u moved aside as corrupt).", store_count(m->store),
                 m->state_dir, store_corrupt_count(m->store));
        return 0;
}

static int manager_startup(Manager *m) {
        int r;

        /* SIGTERM/SIGINT end the loop once every call in flight is answered (on_exit_signal()). */
        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_error_errno(errno, "Failed to block signals: %m");
        r = sd_event_add_signal(m->event, NULL, SIGTERM, on_exit_signal, m);
        if (r >= 0)
                r = sd_event_add_signal(m->event, NULL, SIGINT, on_exit_signal, m);
        if (r < 0)
                return log_error_errno(r, "Failed to watch signals: %m");
        /* A client that goes away mid-write must not kill us. */
        signal(SIGPIPE, SIG_IGN);

        r = manager_open_store(m);
        if (r < 0)
                return r;
        r = image_store_open(m->state_dir, &m->images);
        if (r < 0)
                return log_error_errno(r, "Failed to load images from %s: %m", m->state_dir);
        r = snapshot_store_open(m->state_dir, &m->snapshots);
        if (r < 0)
                return log_error_errno(r, "Failed to load snapshots from %s: %m", m->state_dir);

        /* systemd owns the VMs' processes: talk to it before serving anyone, so that the records we hand
         * out are already reconciled with what really runs. */
        r = sd_bus_open_system(&m->bus);
        if (r < 0) {
                /* Records can still be listed and inspected (benchmarks, rescue); VMs cannot run. */
                log_warning_errno(r, "Cannot connect to the system bus, VMs cannot be started: %m");
                return manager_varlink_init(m);
        }
        r = sd_bus_attach_event(m->bus, m->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return log_error_errno(r, "Failed to attach the bus: %m");
        /* sd-bus delivers a local Disconnected signal when the connection drops. */
        r = sd_bus_match_signal(m->bus, NULL, "org.freedesktop.DBus.Local", "/org/freedesktop/DBus/Local",
                                "org.freedesktop.DBus.Local", "Disconnected", on_bus_disconnected, m);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the bus connection: %m");
        r = vm_unit_start(m);
        if (r < 0)
                return r;
        vm_machined_sync_all(m);
        r = vm_task_roll_back_creates(m);
        if (r < 0)
                return r;
        r = snapshot_recover_leftovers(m);
        if (r < 0)
                return log_error_errno(r, "Failed to recover interrupted snapshots: %m");
        return manager_varlink_init(m);
}

int main(int argc, char *argv[]) {
        /* One malloc arena for all threads: the workers do little allocation, and an arena per worker thread
         * would cost more resident memory than the manager's own data. */
        (void) mallopt(M_ARENA_MAX, 1);
        /* Big buffers (1 MiB image copy buffers, large replies) come from mmap and go back at free; glibc's
         * adaptive threshold would otherwise move them into the heap for good after the first one. */
        (void) mallopt(M_MMAP_THRESHOLD, 128 * 1024);
        /* Under systemd our stderr is the journal stream: log to the journal directly with fields. */
        if (getenv("JOURNAL_STREAM") || getenv("INVOCATION_ID"))
                log_set_target(LOG_TARGET_JOURNAL);
        log_parse_environment();

        int r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;

        _cleanup_(manager_freep) Manager *m = NULL;
        r = manager_new(&m);
        if (r < 0)
                return EXIT_FAILURE;
        r = manager_startup(m);
        if (r < 0)
                return EXIT_FAILURE;

        (void) sd_notify(false, "READY=1\nSTATUS=Serving.");
        log_info("cocoon-manager %s ready.", COCOON_VERSION);
        r = sd_event_loop(m->event);
        (void) sd_notify(false, "STOPPING=1");
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m"), EXIT_FAILURE;
        log_info("cocoon-manager exiting.");
        return r == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
