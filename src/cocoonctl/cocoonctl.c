/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cocoonctl: the command line client of cocoon-manager; parses options and dispatches verbs from a table. */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ctl-complete.h"
#include "ctl-console.h"
#include "ctl-options.h"
#include "ctl-util.h"
#include "ctl-verbs.h"
#include "log.h"
#include "strv-util.h"

bool arg_more = false;
bool arg_oneway = false;
static bool arg_help = false;
static bool arg_version = false;
const char *arg_kernel = NULL, *arg_initrd = NULL, *arg_rootfs = NULL, *arg_cmdline = NULL;
bool arg_insecure = false;

/* Verbs that take references take any number: the manager answers each one, so only memory limits them. */
#define ARGS_MAX UINT_MAX

/* Options every verb takes, and the only ones accepted before the verb. --json is global before the verb
 * but each verb declares it (OPT_JSON) when its output honours it. */
#define OPT_HELP CTL_FLAG("help", 'h', &arg_help, "Show this help")
#define OPT_VERSION CTL_FLAG("version", 0, &arg_version, "Show the version")
#define OPT_ADDRESS                                                                                       \
        CTL_VALUE("address", 0, "PATH", &arg_address,                                                     \
                  "Manager socket (default: $COCOON_ADDRESS, else " COCOON_MANAGER_ADDRESS ")")
#define OPT_JSON CTL_FLAG("json", 0, &arg_json, "Print JSON instead of tables")

static const CtlOption global_options[] = { OPT_HELP, OPT_VERSION, OPT_ADDRESS, OPT_JSON };
/* After the verb: all global options but the last, --json. */
#define N_GLOBAL_OPTIONS_AFTER_VERB (ELEMENTSOF(global_options) - 1)
static const CtlOption options_json[] = { OPT_JSON };
/* For verbs without options of their own (none today: every verb that prints takes --json). */
static const CtlOption options_none[] _unused_ = {};
/* The list verbs: vm list, image list. */
static const CtlOption options_list[] = {
        CTL_FLAG("quiet", 'q', &arg_quiet, "Print the full ids only, one per line"),
        CTL_FLAG("no-headers", 0, &arg_no_headers, "Print no header line"),
        CTL_FLAG("no-trunc", 0, &arg_no_trunc, "Show full ids and names, whatever the width"),
        CTL_VALUE("output", 'o', "FORMAT", &arg_output,
                  "table (fits the terminal), wide (full ids, absolute times, ERROR) or json "
                  "(default: table)"),
        OPT_JSON,
};
#define OPT_NO_TTY \
        CTL_FLAG("no-tty", 0, &arg_no_tty, "Pass stdin/stdout as they are (no raw mode, no escape)")
#define OPT_ESCAPE_CHAR CTL_VALUE("escape-char", 0, "C", &arg_escape_char, "Escape character (default: ^])")
static const CtlOption options_vm_create[] = {
        CTL_VALUE("name", 0, "NAME", &arg_name, "Name of the VM (default: generated)"),
        CTL_VALUE("cpu", 0, "N", &arg_cpu, "Virtual CPUs (default: 1)"),
        CTL_VALUE("memory", 0, "SIZE", &arg_memory, "Memory, e.g. 512M, 2Gi (default: 256Mi)"),
        CTL_VALUE("storage", 0, "SIZE", &arg_storage, "Size of the VM's writable root disk (default: 1Gi)"),
        CTL_VALUE("backend", 0, "NAME", &arg_backend,
                  "Hypervisor backend: qemu, cloud-hypervisor, firecracker "
                  "(default: DefaultBackend= of cocoon.conf)"),
        CTL_VALUE("accel", 0, "auto|kvm|tcg", &arg_accel,
                  "Acceleration (default: Accel= of cocoon.conf, auto)"),
        CTL_VALUE("append", 0, "ARGS", &arg_vm_cmdline,
                  "Extra kernel command line arguments (default: none)"),
        CTL_VALUE("nics", 0, "N", &arg_nics, "NICs, 0-8 (default: 0, or 1 with --bridge or --network)"),
        CTL_VALUE("bridge", 0, "BRIDGE", &arg_bridge,
                  "Put the NICs on this host bridge; the guest uses DHCP (default: none)"),
        CTL_VALUE("network", 0, "NAME", &arg_network,
                  "CNI network of the NICs (default: the first *.conflist of ConfigDirectory=)"),
        OPT_JSON,
        /* vm run's own: vm create takes all but the last N_VM_RUN_ONLY_OPTIONS. */
        CTL_FLAG("console", 0, &arg_console, "Attach to the serial console once started (as vm console)"),
        OPT_NO_TTY,
        OPT_ESCAPE_CHAR,
};
#define N_VM_RUN_ONLY_OPTIONS 3
static const CtlOption options_vm_stop[] = {
        CTL_FLAG("force", 'f', &arg_force, "Stop the hypervisor at once, no graceful shutdown"),
        CTL_VALUE("timeout", 0, "SEC", &arg_timeout,
                  "Graceful stop timeout, 1..86400 (default: StopTimeoutSec= of cocoon.conf, 30)"),
        OPT_JSON,
};
static const CtlOption options_vm_restart[] = {
        CTL_FLAG("force", 'f', &arg_force, "Stop the hypervisor at once, no graceful shutdown"),
        CTL_VALUE("timeout", 0, "SEC", &arg_timeout,
                  "Graceful stop timeout (1..86400; default StopTimeoutSec= of cocoon.conf)"),
        OPT_JSON,
};
static const CtlOption options_vm_kill[] = {
        CTL_VALUE("signal", 's', "SIG", &arg_signal,
                  "HUP, INT, QUIT, KILL, USR1, USR2, TERM, CONT or STOP (default KILL)"),
        OPT_JSON,
};
static const CtlOption options_vm_rm[] = {
        CTL_FLAG("force", 'f', &arg_force, "Stop running VMs first"),
        OPT_JSON,
};
static const CtlOption options_vm_watch[] = {
        CTL_FLAG("event", 0, &arg_event, "Print the current state as events too"),
        OPT_JSON,
};
static const CtlOption options_vm_console[] = {
        OPT_NO_TTY,
        OPT_ESCAPE_CHAR,
        CTL_FLAG("replay", 0, &arg_replay, "Print the end of the console log before attaching"),
        CTL_VALUE("lines", 'n', "N", &arg_lines, "Lines --replay prints (default: 100)"),
};
static const CtlOption options_vm_logs[] = {
        CTL_FLAG("follow", 'f', &arg_follow, "Keep printing new output"),
        CTL_VALUE("lines", 'n', "N", &arg_lines, "Print only the last N lines (default: all)"),
        CTL_VALUE("since", 0, "TIME", &arg_since,
                  "Lines logged since TIME: RFC 3339, '2026-12-06 20:00' or 10m, 2h ago (default: all)"),
};
static const CtlOption options_image_import[] = {
        CTL_VALUE("kernel", 0, "PATH", &arg_kernel, "Kernel image (required)"),
        CTL_VALUE("initrd", 0, "PATH", &arg_initrd, "Initial ramdisk (default: none)"),
        CTL_VALUE("rootfs", 0, "PATH", &arg_rootfs, "ext4 root file system image (default: none)"),
        CTL_VALUE("cmdline", 0, "STR", &arg_cmdline, "Kernel command line (default: empty)"),
        OPT_JSON,
};
static const CtlOption options_image_pull[] = {
        CTL_FLAG("insecure", 0, &arg_insecure, "Plain HTTP to the registry (default: HTTPS)"),
        OPT_JSON,
};
static const CtlOption options_snapshot_save[] = {
        CTL_VALUE("name", 0, "NAME", &arg_name, "Snapshot name (default: <vm name>-snap-<8 of the id>)"),
        CTL_VALUE("description", 0, "TEXT", &arg_description, "Free text (default: none)"),
        OPT_JSON,
};
static const CtlOption options_snapshot_list[] = {
        CTL_VALUE("vm", 0, "REF", &arg_snapshot_vm, "Only the snapshots of this VM (default: all)"),
        OPT_JSON,
};
static const CtlOption options_snapshot_export[] = {
        CTL_VALUE("output", 'o', "FILE", &arg_output_file,
                  "Write to FILE, complete or not at all (default and -: stdout, not a terminal)"),
        CTL_VALUE("compress", 0, "gzip|zstd", &arg_compress, "Compress the archive (default: none)"),
};
static const CtlOption options_snapshot_import[] = {
        CTL_VALUE("name", 0, "NAME", &arg_name, "Name of the imported snapshot (default: the archive's)"),
        OPT_JSON,
};
static const CtlOption options_vm_clone[] = {
        CTL_VALUE("name", 0, "NAME", &arg_name, "Name of the VM (default: <snapshot>-clone-<8 of the id>)"),
        CTL_VALUE("cpu", 0, "N", &arg_cpu, "Virtual CPUs (default and only value: the snapshot's)"),
        CTL_VALUE("memory", 0, "SIZE", &arg_memory, "Memory (default and only value: the snapshot's)"),
        CTL_VALUE("storage", 0, "SIZE", &arg_storage, "Root disk size (default: the snapshot's; only more)"),
        CTL_FLAG("no-start", 0, &arg_no_start, "Only copy the disks; a later start boots them"),
        OPT_JSON,
};
static const CtlOption options_call[] = {
        CTL_FLAG("more", 0, &arg_more, "Ask for several replies (streams)"),
        CTL_FLAG("oneway", 0, &arg_oneway, "Ask for no reply"),
        OPT_JSON,
};

typedef struct Verb {
        const char *group; /* NULL for top-level verbs */
        const char *name;
        const char *const *aliases; /* other names of the verb in its group (NULL-terminated), or NULL */
        unsigned min_args;
        unsigned max_args;
        int (*run)(int argc, char **argv);
        const CtlOption *options; /* the verb's own options; the global ones come on top */
        size_t n_options;
        const char *usage;
        const char *help;
        const char *example; /* one command line showing typical use */
} Verb;

#define OPTS(t) .options = (t), .n_options = ELEMENTSOF(t)
#define ALIASES(...) .aliases = (const char *const[]) { __VA_ARGS__, NULL }

/* A new verb: a row here (and a CtlOption table above if it has options of its own). test-ctl-usage checks
 * that every row has an example. */
static const Verb verbs[] = {
        { .name = "status", .run = verb_status, OPTS(options_json), .usage = "status",
          .help = "Show the manager's version, directories, backends and VM counts.",
          .example = "cocoonctl status --json" },
        { .group = "vm", .name = "list", ALIASES("ls", "ps"), .run = verb_vm_list, OPTS(options_list),
          .usage = "vm list [-q] [-o table|wide|json]",
          .help = "List VMs: ID NAME STATE BACKEND CPU MEMORY IP CREATED (-o wide: ERROR too).",
          .example = "cocoonctl vm list -q | cocoonctl vm rm -f -" },
        { .group = "vm", .name = "inspect", .min_args = 1, .max_args = 1, .run = verb_vm_inspect,
          OPTS(options_json), .usage = "vm inspect REF",
          .help = "Show one VM (id, name or id prefix) as JSON.", .example = "cocoonctl vm inspect web" },
        { .group = "vm", .name = "create", .min_args = 1, .max_args = 1, .run = verb_vm_create,
          .options = options_vm_create, .n_options = ELEMENTSOF(options_vm_create) - N_VM_RUN_ONLY_OPTIONS,
          .usage = "vm create IMAGE [--name NAME] [--cpu N] [--memory SIZE] [--storage SIZE]",
          .help = "Create a VM from an image (also --backend, --accel auto|kvm|tcg, --append KERNEL-ARGS, "
                  "--nics N [--network NAME | --bridge BRIDGE]).",
          .example = "cocoonctl vm create debian --name web --cpu 2 --memory 1G" },
        { .group = "vm", .name = "run", .min_args = 1, .max_args = 1, .run = verb_vm_run,
          OPTS(options_vm_create), .usage = "vm run IMAGE [--name NAME] [...] [--console [--no-tty]]",
          .help = "Create and start a VM (options as vm create); --console attaches to its console.",
          .example = "cocoonctl vm run debian --name web" },
        { .group = "vm", .name = "start", .min_args = 1, .max_args = ARGS_MAX, .run = verb_vm_start,
          OPTS(options_json), .usage = "vm start REF...", .help = "Start VMs.",
          .example = "cocoonctl vm start web db" },
        { .group = "vm", .name = "stop", .min_args = 1, .max_args = ARGS_MAX, .run = verb_vm_stop,
          OPTS(options_vm_stop), .usage = "vm stop REF... [-f|--force] [--timeout SEC]",
          .help = "Stop VMs: ACPI power button, then systemd stops the hypervisor after the timeout.",
          .example = "cocoonctl vm stop --timeout 10 web" },
        { .group = "vm", .name = "restart", .min_args = 1, .max_args = ARGS_MAX, .run = verb_vm_restart,
          OPTS(options_vm_restart), .usage = "vm restart REF... [-f|--force] [--timeout SEC]",
          .help = "Restart VMs: stop as vm stop does, then start (a VM that is not running is started).",
          .example = "cocoonctl vm restart web" },
        { .group = "vm", .name = "kill", .min_args = 1, .max_args = ARGS_MAX, .run = verb_vm_kill,
          OPTS(options_vm_kill), .usage = "vm kill REF... [-s|--signal SIG]",
          .help = "Send a signal to the hypervisor at once, also during a stop in flight.",
          .example = "cocoonctl vm kill --signal TERM web" },
        { .group = "vm", .name = "rm", ALIASES("delete"), .min_args = 1, .max_args = ARGS_MAX,
          .run = verb_vm_rm, OPTS(options_vm_rm), .usage = "vm rm REF... [-f|--force]",
          .help = "Delete VMs (--force stops running ones first).", .example = "cocoonctl vm rm -f web" },
        { .group = "vm", .name = "status", .min_args = 1, .max_args = ARGS_MAX, .run = verb_vm_status,
          OPTS(options_json), .usage = "vm status REF... [--json]",
          .help = "Print each VM's state; exit 0 running, 3 stopped/created, 4 not found, 5 in transition, "
                  "6 error (the highest for several).",
          .example = "cocoonctl vm status web || echo not running" },
        { .group = "vm", .name = "watch", .max_args = ARGS_MAX, .run = verb_vm_watch,
          OPTS(options_vm_watch), .usage = "vm watch [REF...] [--event] [--json]",
          .help = "Show VMs, then every change as it happens, with a timestamp; a watch of named VMs ends "
                  "when all of them are removed.",
          .example = "cocoonctl vm watch --event" },
        { .group = "vm", .name = "console", .min_args = 1, .max_args = 1, .run = verb_vm_console,
          OPTS(options_vm_console),
          .usage = "vm console REF [--no-tty] [--escape-char C] [--replay [-n N]]",
          .help = "Attach to the serial console; leave with Ctrl-] then '.'.",
          .example = "cocoonctl vm console web" },
        { .group = "vm", .name = "logs", .min_args = 1, .max_args = 1, .run = verb_vm_logs,
          OPTS(options_vm_logs), .usage = "vm logs REF [-f|--follow] [-n|--lines N] [--since TIME]",
          .help = "Print the serial console log.",
          .example = "cocoonctl vm logs -f web" },
        { .group = "vm", .name = "debug", .min_args = 1, .max_args = 1, .run = verb_vm_debug,
          OPTS(options_json), .usage = "vm debug REF",
          .help = "Print the command line the VM's unit runs and the API calls of its start.",
          .example = "cocoonctl vm debug web" },
        { .group = "image", .name = "import", .min_args = 1, .max_args = ARGS_MAX,
          .run = verb_image_import,
          OPTS(options_image_import),
          .usage = "image import NAME (--kernel PATH [--initrd PATH] [--rootfs PATH] [--cmdline STR] "
                   "| FILE...)",
          .help = "Copy a kernel (and initrd, ext4 root file system, command line) into the image store, "
                  "or import FILE: an OCI layout directory or a docker/OCI archive, plain or gzipped, or "
                  "layer tars, one a layer, bottom first (its layers as EROFS); "
                  "progress on a terminal, Ctrl-C cancels (exit 130).",
          .example = "cocoonctl image import debian --kernel vmlinuz --initrd initrd.img" },
        { .group = "image", .name = "pull", .min_args = 1, .max_args = ARGS_MAX, .run = verb_image_pull,
          OPTS(options_image_pull), .usage = "image pull REF... [--insecure]",
          .help = "Pull OCI images from their registries (credentials: /etc/cocoon/auth.json); prints the "
                  "ids. On a terminal, one progress line per layer.",
          .example = "cocoonctl image pull --insecure 127.0.0.1:5000/app:v1" },
        { .group = "image", .name = "list", ALIASES("ls"), .run = verb_image_list, OPTS(options_list),
          .usage = "image list [-q] [-o table|wide|json]",
          .help = "List images: TYPE NAME ID SIZE CREATED (-o wide: DIGEST too).",
          .example = "cocoonctl image list -o wide" },
        { .group = "image", .name = "inspect", .min_args = 1, .max_args = 1, .run = verb_image_inspect,
          OPTS(options_json), .usage = "image inspect REF", .help = "Show one image as JSON.",
          .example = "cocoonctl image inspect debian" },
        { .group = "image", .name = "rm", ALIASES("delete"), .min_args = 1, .max_args = ARGS_MAX,
          .run = verb_image_rm, OPTS(options_json), .usage = "image rm REF...",
          .help = "Delete images no VM was created from.", .example = "cocoonctl image rm debian" },
        { .group = "vm", .name = "clone", .min_args = 1, .max_args = 1, .run = verb_vm_clone,
          OPTS(options_vm_clone), .usage = "vm clone SNAPSHOT [--name NAME] [...]",
          .help = "Create a VM from a snapshot and resume the saved guest in it (also --storage SIZE, "
                  "--no-start); print its id.",
          .example = "cocoonctl vm clone web-warm --name web2" },
        { .group = "vm", .name = "restore", .min_args = 2, .max_args = 2, .run = verb_vm_restore,
          OPTS(options_json), .usage = "vm restore VM SNAPSHOT",
          .help = "Put a running VM back to one of its own snapshots: a new hypervisor resumes the saved "
                  "guest with the snapshot's disks and replaces the old one; nothing changes if it fails.",
          .example = "cocoonctl vm restore web web-warm" },
        { .group = "snapshot", .name = "save", .min_args = 1, .max_args = 1, .run = verb_snapshot_save,
          OPTS(options_snapshot_save), .usage = "snapshot save VM [--name NAME] [...]",
          .help = "Save a running VM's state and disks as a snapshot (also --description TEXT; the VM "
                  "pauses meanwhile); print its id.",
          .example = "cocoonctl snapshot save web --name web-warm" },
        { .group = "snapshot", .name = "list", ALIASES("ls"), .run = verb_snapshot_list,
          OPTS(options_snapshot_list), .usage = "snapshot list [--vm REF]",
          .help = "List snapshots: ID NAME CPU MEMORY VM CREATED DESCRIPTION.",
          .example = "cocoonctl snapshot list --vm web" },
        { .group = "snapshot", .name = "inspect", .min_args = 1, .max_args = 1, .run = verb_snapshot_inspect,
          OPTS(options_json), .usage = "snapshot inspect REF", .help = "Show one snapshot as JSON.",
          .example = "cocoonctl snapshot inspect web-warm" },
        { .group = "snapshot", .name = "rm", ALIASES("delete"), .min_args = 1, .max_args = ARGS_MAX,
          .run = verb_snapshot_rm, OPTS(options_json), .usage = "snapshot rm REF...",
          .help = "Delete snapshots (and their ids from their VMs' snapshotIds).",
          .example = "cocoonctl snapshot rm web-warm" },
        { .group = "snapshot", .name = "export", .min_args = 1, .max_args = 1,
          .run = verb_snapshot_export, OPTS(options_snapshot_export),
          .usage = "snapshot export REF [-o FILE|-] [--compress gzip|zstd]",
          .help = "Write a snapshot as one tar archive (snapshot.json first, sparse disks stay sparse).",
          .example = "cocoonctl snapshot export web-warm -o web-warm.tar.zst --compress zstd" },
        { .group = "snapshot", .name = "import", .min_args = 1, .max_args = 1,
          .run = verb_snapshot_import,
          OPTS(options_snapshot_import), .usage = "snapshot import FILE|- [--name NAME]",
          .help = "Check and add a snapshot archive (FILE, or - for stdin); print its id.",
          .example = "cocoonctl snapshot export web-warm -o - | ssh host cocoonctl snapshot import -" },
        { .name = "gc", .run = verb_gc, OPTS(options_json), .usage = "gc",
          .help = "Remove orphan VM directories, VMs stuck in creating, interrupted snapshots, and unused "
                  "image blobs.",
          .example = "cocoonctl gc" },
        { .name = "ops", .run = verb_ops, OPTS(options_json), .usage = "ops",
          .help = "List the operations the manager has in flight: ID METHOD TARGET STARTED UID CALLER "
                  "PROGRESS (CALLER gone: Ctrl-C ended the wait, the work goes on).",
          .example = "cocoonctl ops --json" },
        { .name = "call", .min_args = 1, .max_args = 2, .run = verb_call, OPTS(options_call),
          .usage = "call METHOD [JSON] [--more] [--oneway]",
          .help = "Call any Varlink method of the manager and print the reply (raw access, like varlinkctl).",
          .example = "cocoonctl call io.cocoon.VM.List '{}'" },
        { .name = "introspect", .min_args = 1, .max_args = 1, .run = verb_introspect, OPTS(options_json),
          .usage = "introspect INTERFACE",
          .help = "Print the IDL of an interface the manager serves (e.g. io.cocoon.VM).",
          .example = "cocoonctl introspect io.cocoon.VM" },
};

static void help_all(void) {
        printf("cocoonctl [OPTIONS...] COMMAND ...\n\n"
               "Manage cocoon microVMs through cocoon-manager.\n\n"
               "Commands:\n");
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                printf("  %-42s %s\n", verbs[i].usage, verbs[i].help);
        printf("\nOptions (each command takes its own too: see cocoonctl COMMAND --help):\n"
               "  -h --help            Show this help (or the help of the given command)\n"
               "     --version        Show the version\n"
               "     --json           Print JSON instead of tables (commands whose output has a JSON form);\n"
               "                      errors then are JSON objects on stderr\n"
               "     --address=PATH   Manager socket (default %s, or $COCOON_ADDRESS)\n"
               "\nEnvironment:\n"
               "  COCOON_CLIENT_TIMEOUT_SEC  How long to wait for the answer to a quick call (seconds, or\n"
               "                             infinity; default 45). Calls that wait for guests or copies\n"
               "                             (vm create|run|start|stop|rm, image import, gc) wait as\n"
               "                             long as the connection lives.\n"
               "  COLUMNS                    The width tables fit when stdout is not a terminal.\n"
               "\nExit status:\n"
               "  0  success\n"
               "  1  failure (every reference of a batch failed, or the call did)\n"
               "  2  usage error\n"
               "  3  partial failure: some references of a batch failed, the others succeeded\n"
               "\nA single - for REF... reads the references from standard input, one per line.\n",
               COCOON_MANAGER_ADDRESS);
}

static bool verb_has_option(const Verb *v, const char *name) {
        for (size_t i = 0; i < v->n_options; i++)
                if (streq(v->options[i].name, name))
                        return true;
        return false;
}

static void help_verb(const Verb *v) {
        printf("cocoonctl %s\n\n%s\n", v->usage, v->help);
        if (v->aliases) {
                printf("\nAliases:");
                for (const char *const *a = v->aliases; *a; a++)
                        printf(" %s%s%s", v->group ?: "", v->group ? " " : "", *a);
                printf("\n");
        }
        printf("\nOptions:\n");
        ctl_options_print_help(v->options, v->n_options);
        /* The global options, except --json which is the verb's to declare. */
        ctl_options_print_help(global_options, N_GLOBAL_OPTIONS_AFTER_VERB);
        printf("\nExample:\n  %s\n", v->example);
}

/* The verbs of one group, for "cocoonctl vm" (on stderr, a usage error) and "cocoonctl vm --help". */
static void help_group(FILE *f, const char *group) {
        fprintf(f, "cocoonctl %s COMMAND ...\n\nCommands:\n", group);
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (verbs[i].group && streq(verbs[i].group, group))
                        fprintf(f, "  %-42s %s\n", verbs[i].usage, verbs[i].help);
        fprintf(f, "\nSee 'cocoonctl %s COMMAND --help' for a command's options.\n", group);
}

/* Parses the verb's arguments (argv[0] is the verb's last word): its own options and the global ones. --json
 * is parsed for every verb, so that a verb without a JSON form can say why (check_json()). */
static int parse_verb_argv(const Verb *v, const char *verb_name, int argc, char **argv, int *ret_first) {
        size_t n_global = verb_has_option(v, "json") ? N_GLOBAL_OPTIONS_AFTER_VERB
                                                     : ELEMENTSOF(global_options);
        size_t n = v->n_options + n_global;
        _cleanup_free_ CtlOption *options = calloc(n, sizeof(CtlOption));
        if (!options)
                return ctl_log_oom();
        if (v->n_options > 0)
                memcpy(options, v->options, v->n_options * sizeof(CtlOption));
        memcpy(options + v->n_options, global_options, n_global * sizeof(CtlOption));
        return ctl_options_parse(verb_name, options, n, false, argc, argv, ret_first);
}

/* Verbs whose output is not made of records: --json is refused with the reason. */
static const struct {
        const char *verb;
        const char *reason;
} no_json_verbs[] = {
        { "vm console", "the console is a byte stream, not records" },
        { "vm logs", "the console log is a byte stream, not records" },
        { "snapshot export", "the archive is a byte stream, not records" },
};

/* --json (before or after the verb) needs a verb with a JSON form. */
static int check_json(const Verb *v, const char *verb_name) {
        const char *reason = "it has no JSON output";
        if (!arg_json || verb_has_option(v, "json"))
                return 0;
        for (size_t i = 0; i < ELEMENTSOF(no_json_verbs); i++)
                if (streq(no_json_verbs[i].verb, verb_name))
                        reason = no_json_verbs[i].reason;
        return ctl_usage_error(verb_name, "--json",
                               "option '--json' does not apply: %s; see 'cocoonctl %s --help'", reason,
                               verb_name);
}

/* A single "-" for a verb taking REF...: the references come from stdin, one per line, so that
 * "cocoonctl vm list -q | cocoonctl vm rm -f -" works. *refs owns what *argv then points to. */
static int expand_stdin_refs(const Verb *v, const char *verb_name, int *argc, char ***argv, char ***refs) {
        if (v->max_args != ARGS_MAX || *argc != 1 || !streq((*argv)[0], "-"))
                return 0;
        int r = ctl_read_refs(stdin, refs);
        if (r == -ENOMEM)
                return ctl_log_oom();
        if (r == -EINVAL)
                return ctl_log_errno(r, "%s: standard input holds a NUL byte; give one reference per line",
                                     verb_name);
        if (r < 0)
                return ctl_log_errno(r, "%s: cannot read references from standard input: %m", verb_name);
        *argc = (int) strv_length(*refs);
        *argv = *refs;
        return 0;
}

static bool verb_is_named(const Verb *v, const char *word) {
        if (streq(v->name, word))
                return true;
        for (const char *const *a = v->aliases; a && *a; a++)
                if (streq(*a, word))
                        return true;
        return false;
}

/* Finds the verb named by the first one or two positional words (names or aliases); *ret_words says how many
 * it used. */
static const Verb *verb_find(int n, char **words, int *ret_words) {
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
                const Verb *v = verbs + i;
                if (!v->group && n >= 1 && verb_is_named(v, words[0])) {
                        *ret_words = 1;
                        return v;
                }
                if (v->group && n >= 2 && streq(words[0], v->group) && verb_is_named(v, words[1])) {
                        *ret_words = 2;
                        return v;
                }
        }
        return NULL;
}

static bool group_exists(const char *word) {
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (verbs[i].group && streq(verbs[i].group, word))
                        return true;
        return false;
}

static bool words_ask_help(int n, char **words) {
        for (int i = 0; i < n; i++)
                if (streq(words[i], "--help") || streq(words[i], "-h"))
                        return true;
        return false;
}

/* The verb name (in `group`, or top-level when NULL) nearest to `word`, for "did you mean". */
static const char *verb_suggest(const char *group, const char *word) {
        const char *best = NULL;
        size_t best_d = SIZE_MAX;
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
                const Verb *v = verbs + i;
                const char *candidate = group ? v->name : (v->group ?: v->name);
                if (group && !(v->group && streq(v->group, group)))
                        continue;
                size_t d = ctl_edit_distance(word, candidate);
                if (d < best_d) {
                        best_d = d;
                        best = candidate;
                }
        }
        return best_d <= 2 && best_d < strlen(word) ? best : NULL;
}

/* Reports a command that names no verb; a group alone ("cocoonctl vm") lists the group's verbs (as text: a
 * JSON error is the one line). */
static void report_unknown_command(int n, char **words) {
        const char *hint;
        if (!group_exists(words[0])) {
                hint = verb_suggest(NULL, words[0]);
                (void) ctl_usage_error(NULL, NULL, "unknown command '%s'%s%s%s; see cocoonctl --help",
                                       words[0], hint ? " (did you mean '" : "", hint ?: "",
                                       hint ? "'?)" : "");
        } else if (n < 2 || words[1][0] == '-') {
                if (arg_json || arg_json_errors) {
                        (void) ctl_usage_error(NULL, NULL, "'%s' needs a command; see cocoonctl %s --help",
                                               words[0], words[0]);
                        return;
                }
                fprintf(stderr, "cocoonctl: '%s' needs a command.\n\n", words[0]);
                help_group(stderr, words[0]);
        } else {
                hint = verb_suggest(words[0], words[1]);
                (void) ctl_usage_error(NULL, NULL,
                                       "unknown command '%s %s'%s%s%s%s%s; see cocoonctl %s --help",
                                       words[0], words[1], hint ? " (did you mean '" : "",
                                       hint ? words[0] : "", hint ? " " : "", hint ?: "", hint ? "'?)" : "",
                                       words[0]);
        }
}

static int check_arg_count(const Verb *v, const char *verb_name, unsigned n_args) {
        if (n_args < v->min_args)
                return ctl_usage_error(verb_name, NULL,
                                       "missing argument (%u given, at least %u needed); "
                                       "usage: cocoonctl %s",
                                       n_args, v->min_args, v->usage);
        if (n_args > v->max_args)
                return ctl_usage_error(verb_name, NULL,
                                       "too many arguments (%u given, at most %u taken); "
                                       "usage: cocoonctl %s",
                                       n_args, v->max_args, v->usage);
        return 0;
}

/* "cocoonctl __complete WORDS...", for the shell completion scripts: no verb row, so --help never shows
 * it; the verbs, their aliases and options come from the table above. */
static int complete_main(int argc, char **argv) {
        _cleanup_free_ CtlCompleteVerb *cv = calloc(ELEMENTSOF(verbs), sizeof(CtlCompleteVerb));
        if (!cv)
                return CTL_EXIT_FAILURE;
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                cv[i] = (CtlCompleteVerb) {
                        .group = verbs[i].group, .name = verbs[i].name, .aliases = verbs[i].aliases,
                        .usage = verbs[i].usage, .max_args = verbs[i].max_args,
                        .options = verbs[i].options, .n_options = verbs[i].n_options,
                };
        return ctl_complete_main(cv, ELEMENTSOF(verbs), global_options, ELEMENTSOF(global_options),
                                 N_GLOBAL_OPTIONS_AFTER_VERB, argv, (size_t) argc);
}

int main(int argc, char *argv[]) {
        log_parse_environment();
        if (argc >= 2 && streq(argv[1], "__complete"))
                return complete_main(argc - 2, argv + 2);
        /* Before parsing, which stops at the first usage error, maybe before it reaches --json. */
        arg_json_errors = ctl_argv_wants_json(argc, argv);

        /* Before the verb only the global options are known, and the first word ends them. */
        int first;
        int r = ctl_options_parse(NULL, global_options, ELEMENTSOF(global_options), /* stop_at_word= */ true,
                                  argc, argv, &first);
        if (r < 0)
                return r == -ENOMEM ? CTL_EXIT_FAILURE : CTL_EXIT_USAGE;
        if (arg_version) {
                printf("cocoonctl %s\n", COCOON_VERSION);
                return 0;
        }

        int n = argc - first;
        char **words = argv + first;
        if (n == 0) {
                if (arg_help) {
                        help_all();
                        return 0;
                }
                (void) ctl_usage_error(NULL, NULL, "no command given; see cocoonctl --help");
                return CTL_EXIT_USAGE;
        }

        int used;
        const Verb *v = verb_find(n, words, &used);
        if (!v) {
                if (arg_help || words_ask_help(n, words)) {
                        if (group_exists(words[0]))
                                help_group(stdout, words[0]);
                        else
                                help_all();
                        return 0;
                }
                report_unknown_command(n, words);
                return CTL_EXIT_USAGE;
        }

        char verb_name[64];
        snprintf(verb_name, sizeof verb_name, "%s%s%s", v->group ?: "", v->group ? " " : "", v->name);

        /* The verb's arguments, with its last word standing in for argv[0]. */
        int verb_argc = n - used + 1;
        char **verb_argv = words + used - 1;
        r = parse_verb_argv(v, verb_name, verb_argc, verb_argv, &first);
        if (r == -ENOMEM)
                return CTL_EXIT_FAILURE;
        if (r < 0)
                return CTL_EXIT_USAGE;
        if (arg_version) {
                printf("cocoonctl %s\n", COCOON_VERSION);
                return 0;
        }
        if (arg_help) {
                help_verb(v);
                return 0;
        }
        if (check_json(v, verb_name) < 0)
                return CTL_EXIT_USAGE;
        if (verb_has_option(v, "output") && ctl_output_resolve(verb_name) < 0)
                return CTL_EXIT_USAGE;

        _cleanup_(strv_freep) char **stdin_refs = NULL;
        int n_args = verb_argc - first;
        char **args = verb_argv + first;
        if (expand_stdin_refs(v, verb_name, &n_args, &args, &stdin_refs) < 0)
                return CTL_EXIT_FAILURE;
        if (stdin_refs && n_args == 0) {
                fprintf(stderr, "cocoonctl %s: no references on standard input, nothing to do\n", verb_name);
                return 0;
        }
        if (check_arg_count(v, verb_name, (unsigned) n_args) < 0)
                return CTL_EXIT_USAGE;
        return ctl_exit_code(v->run(n_args, args));
}
