/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cocoonctl: the command line client of cocoon-manager; parses options and dispatches verbs from a table. */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ctl-console.h"
#include "ctl-options.h"
#include "ctl-util.h"
#include "ctl-verbs.h"
#include "log.h"

bool arg_more = false;
bool arg_oneway = false;
static bool arg_help = false;
static bool arg_version = false;
const char *arg_kernel = NULL, *arg_initrd = NULL, *arg_rootfs = NULL, *arg_cmdline = NULL;

/* Verbs that take references take any number: the manager answers each one, so only memory limits them. */
#define ARGS_MAX UINT_MAX

/* Options every verb takes, and the only ones accepted before the verb. --json is global before the verb
 * but each verb declares it (OPT_JSON) when its output honours it. */
#define OPT_HELP CTL_FLAG("help", 'h', &arg_help, "Show this help")
#define OPT_VERSION CTL_FLAG("version", 0, &arg_version, "Show the version")
#define OPT_ADDRESS CTL_VALUE("address", 0, "PATH", &arg_address, "Manager socket (or $COCOON_ADDRESS)")
#define OPT_JSON CTL_FLAG("json", 0, &arg_json, "Print JSON instead of tables")

static const CtlOption global_options[] = { OPT_HELP, OPT_VERSION, OPT_ADDRESS, OPT_JSON };
/* After the verb: all global options but the last, --json. */
#define N_GLOBAL_OPTIONS_AFTER_VERB (ELEMENTSOF(global_options) - 1)
static const CtlOption options_json[] = { OPT_JSON };
static const CtlOption options_none[] = {};
static const CtlOption options_vm_create[] = {
        CTL_VALUE("name", 0, "NAME", &arg_name, "Name of the VM (default: generated)"),
        CTL_VALUE("cpu", 0, "N", &arg_cpu, "Virtual CPUs"),
        CTL_VALUE("memory", 0, "SIZE", &arg_memory, "Memory (e.g. 512M, 2G)"),
        CTL_VALUE("storage", 0, "SIZE", &arg_storage, "Size of the VM's writable root disk"),
        CTL_VALUE("backend", 0, "NAME", &arg_backend, "Hypervisor backend"),
        CTL_VALUE("accel", 0, "auto|kvm|tcg", &arg_accel, "Acceleration"),
        CTL_VALUE("append", 0, "ARGS", &arg_vm_cmdline, "Extra kernel command line arguments"),
        CTL_VALUE("nics", 0, "N", &arg_nics, "NICs, 0-8 (default 0, or 1 with --bridge)"),
        CTL_VALUE("bridge", 0, "BRIDGE", &arg_bridge, "Put the NICs on this host bridge (guest uses DHCP)"),
        OPT_JSON,
};
static const CtlOption options_vm_stop[] = {
        CTL_FLAG("force", 'f', &arg_force, "Stop the hypervisor at once, no graceful shutdown"),
        CTL_VALUE("timeout", 0, "SEC", &arg_timeout, "Graceful stop timeout (1..86400)"),
        OPT_JSON,
};
static const CtlOption options_vm_rm[] = {
        CTL_FLAG("force", 'f', &arg_force, "Stop running VMs first"),
        OPT_JSON,
};
static const CtlOption options_vm_status[] = {
        CTL_FLAG("event", 0, &arg_event, "Print the current state as events too"),
        OPT_JSON,
};
static const CtlOption options_vm_console[] = {
        CTL_FLAG("no-tty", 0, &arg_no_tty, "Pass stdin/stdout as they are (no raw mode, no escape)"),
        CTL_VALUE("escape-char", 0, "C", &arg_escape_char, "Escape character (default ^])"),
};
static const CtlOption options_vm_logs[] = {
        CTL_FLAG("follow", 'f', &arg_follow, "Keep printing new output"),
};
static const CtlOption options_image_import[] = {
        CTL_VALUE("kernel", 0, "PATH", &arg_kernel, "Kernel image (required)"),
        CTL_VALUE("initrd", 0, "PATH", &arg_initrd, "Initial ramdisk"),
        CTL_VALUE("rootfs", 0, "PATH", &arg_rootfs, "ext4 root file system image"),
        CTL_VALUE("cmdline", 0, "STR", &arg_cmdline, "Kernel command line"),
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
        { .group = "vm", .name = "list", ALIASES("ls", "ps"), .run = verb_vm_list, OPTS(options_json),
          .usage = "vm list", .help = "List VMs: ID NAME STATE BACKEND CPU MEMORY IP CREATED.",
          .example = "cocoonctl vm list --json" },
        { .group = "vm", .name = "inspect", .min_args = 1, .max_args = 1, .run = verb_vm_inspect,
          OPTS(options_json), .usage = "vm inspect REF",
          .help = "Show one VM (id, name or id prefix) as JSON.", .example = "cocoonctl vm inspect web" },
        { .group = "vm", .name = "create", .min_args = 1, .max_args = 1, .run = verb_vm_create,
          OPTS(options_vm_create),
          .usage = "vm create IMAGE [--name NAME] [--cpu N] [--memory SIZE] [--storage SIZE]",
          .help = "Create a VM from an image (also --backend, --accel auto|kvm|tcg, --append KERNEL-ARGS, "
                  "--nics N --bridge BRIDGE).",
          .example = "cocoonctl vm create debian --name web --cpu 2 --memory 1G" },
        { .group = "vm", .name = "run", .min_args = 1, .max_args = 1, .run = verb_vm_run,
          OPTS(options_vm_create), .usage = "vm run IMAGE [--name NAME] [...]",
          .help = "Create and start a VM (options as vm create).",
          .example = "cocoonctl vm run debian --name web" },
        { .group = "vm", .name = "start", .min_args = 1, .max_args = ARGS_MAX, .run = verb_vm_start,
          OPTS(options_json), .usage = "vm start REF...", .help = "Start VMs.",
          .example = "cocoonctl vm start web db" },
        { .group = "vm", .name = "stop", .min_args = 1, .max_args = ARGS_MAX, .run = verb_vm_stop,
          OPTS(options_vm_stop), .usage = "vm stop REF... [-f|--force] [--timeout SEC]",
          .help = "Stop VMs: ACPI power button, then systemd stops the hypervisor after the timeout.",
          .example = "cocoonctl vm stop --timeout 10 web" },
        { .group = "vm", .name = "rm", ALIASES("delete"), .min_args = 1, .max_args = ARGS_MAX,
          .run = verb_vm_rm, OPTS(options_vm_rm), .usage = "vm rm REF... [-f|--force]",
          .help = "Delete VMs (--force stops running ones first).", .example = "cocoonctl vm rm -f web" },
        { .group = "vm", .name = "status", .max_args = ARGS_MAX, .run = verb_vm_status,
          OPTS(options_vm_status), .usage = "vm status [REF...] [--event] [--json]",
          .help = "Show VMs, then every change as it happens (until interrupted).",
          .example = "cocoonctl vm status web" },
        { .group = "vm", .name = "console", .min_args = 1, .max_args = 1, .run = verb_vm_console,
          OPTS(options_vm_console), .usage = "vm console REF [--no-tty] [--escape-char C]",
          .help = "Attach to the serial console; leave with Ctrl-] then '.'.",
          .example = "cocoonctl vm console web" },
        { .group = "vm", .name = "logs", .min_args = 1, .max_args = 1, .run = verb_vm_logs,
          OPTS(options_vm_logs), .usage = "vm logs REF [-f|--follow]", .help = "Print the serial console log.",
          .example = "cocoonctl vm logs -f web" },
        { .group = "vm", .name = "debug", .min_args = 1, .max_args = 1, .run = verb_vm_debug,
          OPTS(options_json), .usage = "vm debug REF", .help = "Print the command line the VM's unit runs.",
          .example = "cocoonctl vm debug web" },
        { .group = "image", .name = "import", .min_args = 1, .max_args = 1, .run = verb_image_import,
          OPTS(options_image_import),
          .usage = "image import NAME --kernel PATH [--initrd PATH] [--rootfs PATH] [--cmdline STR]",
          .help = "Copy a kernel (and initrd, ext4 root file system, command line) into the image store.",
          .example = "cocoonctl image import debian --kernel vmlinuz --initrd initrd.img" },
        { .group = "image", .name = "list", ALIASES("ls"), .run = verb_image_list, OPTS(options_json),
          .usage = "image list", .help = "List images: NAME ID SIZE CREATED.",
          .example = "cocoonctl image list" },
        { .group = "image", .name = "inspect", .min_args = 1, .max_args = 1, .run = verb_image_inspect,
          OPTS(options_json), .usage = "image inspect REF", .help = "Show one image as JSON.",
          .example = "cocoonctl image inspect debian" },
        { .group = "image", .name = "rm", ALIASES("delete"), .min_args = 1, .max_args = ARGS_MAX,
          .run = verb_image_rm, OPTS(options_none), .usage = "image rm REF...",
          .help = "Delete images no VM was created from.", .example = "cocoonctl image rm debian" },
        { .name = "gc", .run = verb_gc, OPTS(options_json), .usage = "gc",
          .help = "Remove orphan VM directories, VMs stuck in creating, and unused image blobs.",
          .example = "cocoonctl gc" },
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
               "     --json           Print JSON instead of tables (commands whose output has a JSON form)\n"
               "     --address=PATH   Manager socket (default %s, or $COCOON_ADDRESS)\n"
               "\nEnvironment:\n"
               "  COCOON_CLIENT_TIMEOUT_SEC  How long to wait for the answer to a quick call (seconds, or\n"
               "                             infinity; default 45). Calls that wait for guests or copies\n"
               "                             (vm create|run|start|stop|rm, image import, gc) wait as\n"
               "                             long as the connection lives.\n",
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

/* Parses the verb's arguments (argv[0] is the verb's last word): its own options and the global ones. */
static int parse_verb_argv(const Verb *v, const char *verb_name, int argc, char **argv, int *ret_first) {
        size_t n = v->n_options + N_GLOBAL_OPTIONS_AFTER_VERB;
        _cleanup_free_ CtlOption *options = calloc(n, sizeof(CtlOption));
        if (!options)
                return log_oom();
        if (v->n_options > 0)
                memcpy(options, v->options, v->n_options * sizeof(CtlOption));
        memcpy(options + v->n_options, global_options, N_GLOBAL_OPTIONS_AFTER_VERB * sizeof(CtlOption));
        return ctl_options_parse(verb_name, options, n, false, argc, argv, ret_first);
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

/* Reports a command that names no verb; a group alone ("cocoonctl vm") lists the group's verbs. */
static void report_unknown_command(int n, char **words) {
        const char *hint;
        if (!group_exists(words[0])) {
                hint = verb_suggest(NULL, words[0]);
                fprintf(stderr, "cocoonctl: unknown command '%s'%s%s%s; see cocoonctl --help\n", words[0],
                        hint ? " (did you mean '" : "", hint ?: "", hint ? "'?)" : "");
        } else if (n < 2 || words[1][0] == '-') {
                fprintf(stderr, "cocoonctl: '%s' needs a command.\n\n", words[0]);
                help_group(stderr, words[0]);
        } else {
                hint = verb_suggest(words[0], words[1]);
                fprintf(stderr, "cocoonctl: unknown command '%s %s'%s%s%s%s%s; see cocoonctl %s --help\n",
                        words[0], words[1], hint ? " (did you mean '" : "", hint ? words[0] : "",
                        hint ? " " : "", hint ?: "", hint ? "'?)" : "", words[0]);
        }
}

static int check_arg_count(const Verb *v, const char *verb_name, unsigned n_args) {
        if (n_args < v->min_args)
                fprintf(stderr,
                        "cocoonctl %s: missing argument (%u given, at least %u needed); "
                        "usage: cocoonctl %s\n",
                        verb_name, n_args, v->min_args, v->usage);
        else if (n_args > v->max_args)
                fprintf(stderr,
                        "cocoonctl %s: too many arguments (%u given, at most %u taken); "
                        "usage: cocoonctl %s\n",
                        verb_name, n_args, v->max_args, v->usage);
        else
                return 0;
        return -EINVAL;
}

int main(int argc, char *argv[]) {
        log_parse_environment();

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
                fprintf(stderr, "cocoonctl: no command given; see cocoonctl --help\n");
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
        /* --json before the verb is parsed as global: the verb must still have a JSON form. */
        if (arg_json && !verb_has_option(v, "json")) {
                fprintf(stderr, "cocoonctl %s: option '--json' does not apply (no JSON output); "
                        "see 'cocoonctl %s --help'\n", verb_name, verb_name);
                return CTL_EXIT_USAGE;
        }

        unsigned n_args = (unsigned) (verb_argc - first);
        if (check_arg_count(v, verb_name, n_args) < 0)
                return CTL_EXIT_USAGE;
        return ctl_exit_code(v->run((int) n_args, verb_argv + first));
}
