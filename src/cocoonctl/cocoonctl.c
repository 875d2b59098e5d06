/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cocoonctl: the command line client of cocoon-manager; parses options and dispatches verbs from a table. */
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "ctl-console.h"
#include "ctl-util.h"
#include "ctl-verbs.h"
#include "log.h"

bool arg_more = false;
bool arg_oneway = false;
static bool arg_help = false;
const char *arg_kernel = NULL, *arg_initrd = NULL, *arg_rootfs = NULL, *arg_cmdline = NULL;

/* Verbs that take references take any number: the manager answers each one, so only memory limits them. */
#define ARGS_MAX UINT_MAX

typedef struct Verb {
        const char *group; /* NULL for top-level verbs */
        const char *name;
        unsigned min_args;
        unsigned max_args;
        int (*run)(int argc, char **argv);
        const char *usage;
        const char *help;
} Verb;

static const Verb verbs[] = {
        { NULL, "status", 0, 0, verb_status, "status", "Show the manager's version, directories, backends and VM counts." },
        { "vm", "list", 0, 0, verb_vm_list, "vm list", "List VMs: ID NAME STATE BACKEND CPU MEMORY CREATED." },
        { "vm", "ls", 0, 0, verb_vm_list, "vm ls", "Alias of vm list." },
        { "vm", "inspect", 1, 1, verb_vm_inspect, "vm inspect REF", "Show one VM (id, name or id prefix) as JSON." },
        { "vm", "create", 1, 1, verb_vm_create, "vm create IMAGE [--name NAME] [--cpu N] [--memory SIZE] [--storage SIZE]",
          "Create a VM from an image (also --backend, --accel auto|kvm|tcg, --append KERNEL-ARGS)." },
        { "vm", "run", 1, 1, verb_vm_run, "vm run IMAGE [--name NAME] [...]", "Create and start a VM (options as vm create)." },
        { "vm", "start", 1, ARGS_MAX, verb_vm_start, "vm start REF...", "Start VMs." },
        { "vm", "stop", 1, ARGS_MAX, verb_vm_stop, "vm stop REF... [--force] [--timeout SEC]",
          "Stop VMs: ACPI power button, then systemd stops the hypervisor after the timeout." },
        { "vm", "rm", 1, ARGS_MAX, verb_vm_rm, "vm rm REF... [--force]",
          "Delete VMs (--force stops running ones first)." },
        { "vm", "status", 0, ARGS_MAX, verb_vm_status, "vm status [REF...] [--event] [--json]",
          "Show VMs, then every change as it happens (until interrupted)." },
        { "vm", "console", 1, 1, verb_vm_console, "vm console REF [--no-tty] [--escape-char C]",
          "Attach to the serial console; leave with Ctrl-] then '.'." },
        { "vm", "logs", 1, 1, verb_vm_logs, "vm logs REF [--follow]", "Print the serial console log." },
        { "vm", "debug", 1, 1, verb_vm_debug, "vm debug REF", "Print the command line the VM's unit runs." },
        { "image", "import", 1, 1, verb_image_import,
          "image import NAME --kernel PATH [--initrd PATH] [--rootfs PATH] [--cmdline STR]",
          "Copy a kernel (and initrd, ext4 root file system, command line) into the image store." },
        { "image", "list", 0, 0, verb_image_list, "image list", "List images: NAME ID SIZE CREATED." },
        { "image", "ls", 0, 0, verb_image_list, "image ls", "Alias of image list." },
        { "image", "inspect", 1, 1, verb_image_inspect, "image inspect REF", "Show one image as JSON." },
        { "image", "rm", 1, ARGS_MAX, verb_image_rm, "image rm REF...", "Delete images no VM uses." },
        { NULL, "gc", 0, 0, verb_gc, "gc",
          "Remove orphan VM directories, VMs stuck in creating, and unused image blobs." },
        { NULL, "call", 1, 2, verb_call, "call METHOD [JSON] [--more] [--oneway]",
          "Call any Varlink method of the manager and print the reply (raw access, like varlinkctl)." },
        { NULL, "introspect", 1, 1, verb_introspect, "introspect INTERFACE",
          "Print the IDL of an interface the manager serves (e.g. io.cocoon.VM)." },
};

static void help_all(void) {
        printf("cocoonctl [OPTIONS...] COMMAND ...\n\n"
               "Manage cocoon microVMs through cocoon-manager.\n\n"
               "Commands:\n");
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                printf("  %-42s %s\n", verbs[i].usage, verbs[i].help);
        printf("\nOptions:\n"
               "  -h --help            Show this help (or the help of the given command)\n"
               "     --version        Show the version\n"
               "     --json           Print JSON instead of tables\n"
               "     --address=PATH   Manager socket (default %s, or $COCOON_ADDRESS)\n"
               "\nEnvironment:\n"
               "  COCOON_CLIENT_TIMEOUT_SEC  How long to wait for the answer to a quick call (seconds, or\n"
               "                             infinity; default 45). Calls that wait for guests or copies\n"
               "                             (vm create|run|start|stop|rm, image import, gc) wait as\n"
               "                             long as the connection lives.\n",
               COCOON_MANAGER_ADDRESS);
}

static void help_verb(const Verb *v) {
        printf("cocoonctl %s\n\n%s\n", v->usage, v->help);
}

enum {
        ARG_VERSION = 0x100,
        ARG_JSON,
        ARG_ADDRESS,
        ARG_MORE,
        ARG_ONEWAY,
        ARG_NAME,
        ARG_CPU,
        ARG_MEMORY,
        ARG_STORAGE,
        ARG_BACKEND,
        ARG_ACCEL,
        ARG_VM_CMDLINE,
        ARG_FORCE,
        ARG_TIMEOUT,
        ARG_EVENT,
        ARG_NO_TTY,
        ARG_FOLLOW,
        ARG_ESCAPE_CHAR,
        ARG_KERNEL,
        ARG_INITRD,
        ARG_ROOTFS,
        ARG_CMDLINE,
};

static int parse_argv(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "json", no_argument, NULL, ARG_JSON },
                { "address", required_argument, NULL, ARG_ADDRESS },
                { "more", no_argument, NULL, ARG_MORE },
                { "oneway", no_argument, NULL, ARG_ONEWAY },
                { "name", required_argument, NULL, ARG_NAME },
                { "cpu", required_argument, NULL, ARG_CPU },
                { "memory", required_argument, NULL, ARG_MEMORY },
                { "storage", required_argument, NULL, ARG_STORAGE },
                { "backend", required_argument, NULL, ARG_BACKEND },
                { "accel", required_argument, NULL, ARG_ACCEL },
                { "append", required_argument, NULL, ARG_VM_CMDLINE },
                { "force", no_argument, NULL, ARG_FORCE },
                { "timeout", required_argument, NULL, ARG_TIMEOUT },
                { "event", no_argument, NULL, ARG_EVENT },
                { "no-tty", no_argument, NULL, ARG_NO_TTY },
                { "follow", no_argument, NULL, ARG_FOLLOW },
                { "escape-char", required_argument, NULL, ARG_ESCAPE_CHAR },
                { "kernel", required_argument, NULL, ARG_KERNEL },
                { "initrd", required_argument, NULL, ARG_INITRD },
                { "rootfs", required_argument, NULL, ARG_ROOTFS },
                { "cmdline", required_argument, NULL, ARG_CMDLINE },
                {},
        };
        int c;

        /* Options may follow the verb ("cocoonctl vm list --json"), as with systemctl. */
        while ((c = getopt_long(argc, argv, "hf", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        arg_help = true;
                        break;
                case 'f':
                        arg_follow = true;
                        break;
                case ARG_VERSION:
                        printf("cocoonctl %s\n", COCOON_VERSION);
                        return 0;
                case ARG_JSON:
                        arg_json = true;
                        break;
                case ARG_ADDRESS:
                        arg_address = optarg;
                        break;
                case ARG_MORE:
                        arg_more = true;
                        break;
                case ARG_ONEWAY:
                        arg_oneway = true;
                        break;
                case ARG_NAME:
                        arg_name = optarg;
                        break;
                case ARG_CPU:
                        arg_cpu = optarg;
                        break;
                case ARG_MEMORY:
                        arg_memory = optarg;
                        break;
                case ARG_STORAGE:
                        arg_storage = optarg;
                        break;
                case ARG_BACKEND:
                        arg_backend = optarg;
                        break;
                case ARG_ACCEL:
                        arg_accel = optarg;
                        break;
                case ARG_VM_CMDLINE:
                        arg_vm_cmdline = optarg;
                        break;
                case ARG_FORCE:
                        arg_force = true;
                        break;
                case ARG_TIMEOUT:
                        arg_timeout = optarg;
                        break;
                case ARG_EVENT:
                        arg_event = true;
                        break;
                case ARG_NO_TTY:
                        arg_no_tty = true;
                        break;
                case ARG_FOLLOW:
                        arg_follow = true;
                        break;
                case ARG_ESCAPE_CHAR:
                        arg_escape_char = optarg;
                        break;
                case ARG_KERNEL:
                        arg_kernel = optarg;
                        break;
                case ARG_INITRD:
                        arg_initrd = optarg;
                        break;
                case ARG_ROOTFS:
                        arg_rootfs = optarg;
                        break;
                case ARG_CMDLINE:
                        arg_cmdline = optarg;
                        break;
                case '?':
                        return -EINVAL;
                default:
                        return -EINVAL;
                }
        return 1;
}

/* Finds the verb named by the first one or two positional words; *ret_words says how many it used. */
static const Verb *verb_find(int n, char **words, int *ret_words) {
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
                const Verb *v = verbs + i;
                if (!v->group && n >= 1 && streq(words[0], v->name)) {
                        *ret_words = 1;
                        return v;
                }
                if (v->group && n >= 2 && streq(words[0], v->group) && streq(words[1], v->name)) {
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

int main(int argc, char *argv[]) {
        log_parse_environment();

        int r = parse_argv(argc, argv);
        if (r < 0)
                return CTL_EXIT_USAGE;
        if (r == 0)
                return 0;

        int n = argc - optind;
        char **words = argv + optind;
        if (n == 0) {
                if (arg_help) {
                        help_all();
                        return 0;
                }
                fprintf(stderr, "cocoonctl: no command given; see cocoonctl --help\n");
                return CTL_EXIT_USAGE;
        }

        int used;
        const Verb *v = verb_find(n, words, &used);
        if (!v) {
                if (group_exists(words[0]))
                        fprintf(stderr, "cocoonctl: unknown command '%s %s'; see cocoonctl --help\n", words[0],
                                n > 1 ? words[1] : "");
                else
                        fprintf(stderr, "cocoonctl: unknown command '%s'; see cocoonctl --help\n", words[0]);
                return arg_help ? (help_all(), 0) : CTL_EXIT_USAGE;
        }
        if (arg_help) {
                help_verb(v);
                return 0;
        }

        unsigned n_args = (unsigned) (n - used);
        if (n_args < v->min_args || n_args > v->max_args) {
                fprintf(stderr, "cocoonctl: usage: cocoonctl %s\n", v->usage);
                return CTL_EXIT_USAGE;
        }
        return ctl_exit_code(v->run((int) n_args, words + used));
}
