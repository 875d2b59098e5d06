/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for cocoonctl's shell completion: verbs, aliases, options, option values and names on a partial
 * command line, against a verb table like cocoonctl's and a fake manager. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../src/cocoonctl/ctl-complete.h"
#include "macro.h"
#include "strv-util.h"

static bool flag;
static const char *value;

static const CtlOption global_options[] = {
        CTL_FLAG("help", 'h', &flag, "help"),
        CTL_VALUE("address", 0, "PATH", &value, "address"),
        CTL_FLAG("json", 0, &flag, "json"),
};
static const CtlOption options_json[] = { CTL_FLAG("json", 0, &flag, "json") };
static const CtlOption options_create[] = {
        CTL_VALUE("name", 0, "NAME", &value, "name"),
        CTL_VALUE("accel", 0, "auto|kvm|tcg", &value, "accel"),
        CTL_VALUE("append", 0, "ARGS", &value, "append"),
};
static const CtlOption options_stop[] = {
        CTL_FLAG("force", 'f', &flag, "force"),
        CTL_VALUE("timeout", 't', "SEC", &value, "timeout"),
        CTL_FLAG("help", 'h', &flag, "a verb repeating a global option: listed once"),
};
static const CtlOption options_import[] = {
        CTL_VALUE("kernel", 0, "PATH", &value, "kernel"),
        CTL_VALUE("initrd", 0, "PATH", &value, "initrd"),
};

#define OPTS(t) .options = (t), .n_options = ELEMENTSOF(t)
#define ALIASES(...) .aliases = (const char *const[]) { __VA_ARGS__, NULL }

static const CtlCompleteVerb verbs[] = {
        { .name = "status", .usage = "status", OPTS(options_json) },
        { .group = "vm", .name = "list", ALIASES("ls", "ps"), .usage = "vm list", OPTS(options_json) },
        { .group = "vm", .name = "create", .usage = "vm create IMAGE [--name NAME] [...]", .max_args = 1,
          OPTS(options_create) },
        { .group = "vm", .name = "start", .usage = "vm start REF...", .max_args = UINT32_MAX,
          OPTS(options_json) },
        { .group = "vm", .name = "stop", .usage = "vm stop REF... [-f|--force] [--timeout SEC]",
          .max_args = UINT32_MAX, OPTS(options_stop) },
        { .group = "vm", .name = "rm", ALIASES("delete"), .usage = "vm rm REF... [-f|--force]",
          .max_args = UINT32_MAX, OPTS(options_stop) },
        { .group = "vm", .name = "status", .usage = "vm status [REF...] [--event] [--json]",
          .max_args = UINT32_MAX, OPTS(options_json) },
        { .group = "vm", .name = "inspect", .usage = "vm inspect REF", .max_args = 1, OPTS(options_json) },
        { .group = "image", .name = "import", .usage = "image import NAME --kernel PATH [--initrd PATH]",
          .max_args = 1, OPTS(options_import) },
        { .group = "image", .name = "list", ALIASES("ls"), .usage = "image list", OPTS(options_json) },
        { .group = "image", .name = "rm", ALIASES("delete"), .usage = "image rm REF...",
          .max_args = UINT32_MAX },
        { .name = "gc", .usage = "gc", OPTS(options_json) },
        { .name = "call", .usage = "call METHOD [JSON] [--more] [--oneway]", .max_args = 2,
          OPTS(options_json) },
        { .name = "introspect", .usage = "introspect INTERFACE", .max_args = 1 },
};

/* The fake manager: what it was asked, and whether it answers. */
static CtlCompleteKind listed_kind;
static char listed_address_buf[64];
static const char *listed_address; /* a copy: the words are gone when the test looks */
static unsigned n_list_calls;
static bool manager_down;

static int fake_list(CtlCompleteKind kind, const char *address, CtlCompleteAddFn add, void *add_userdata,
                     void *userdata) {
        /* Ids parallel to the names; a name the shell cannot take as one word still has a usable id. */
        static const char *const vm_names[] = { "web", "db", "web2", "bad name", "", NULL };
        static const char *const vm_ids[] = {
                "wq3k5eg1d2h7s0c8v4b6n9m1aa", "db5xxxxxxxxxxxxxxxxxxxxxxx", NULL,
                "bad5xxxxxxxxxxxxxxxxxxxxxx", NULL,
        };
        static const char *const image_names[] = { "debian", "alpine", NULL };
        static const char *const image_ids[] = { "im0xxxxxxxxxxxxxxxxxxxxxxx", NULL };
        static const char *const interfaces[] = { "io.cocoon.VM", "org.varlink.service", NULL };
        static const char *const methods[] = { "io.cocoon.VM.List", "io.cocoon.VM.Start", NULL };
        const char *const *names = methods, *const *ids = NULL;

        if (kind == CTL_COMPLETE_VM) {
                names = vm_names;
                ids = vm_ids;
        } else if (kind == CTL_COMPLETE_IMAGE) {
                names = image_names;
                ids = image_ids;
        } else if (kind == CTL_COMPLETE_INTERFACE)
                names = interfaces;
        listed_kind = kind;
        listed_address = NULL;
        if (address) {
                assert_true(strlen(address) < sizeof listed_address_buf);
                listed_address = strcpy(listed_address_buf, address);
        }
        n_list_calls++;
        if (manager_down) {
                /* Names handed over before a failure (a timeout half way) are not offered either. */
                assert_int_equal(add(names[0], NULL, add_userdata), 0);
                return -ETIMEDOUT;
        }
        for (size_t i = 0; names[i]; i++) {
                int r = add(names[i], ids ? ids[i] : NULL, add_userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}

static const CtlCompleteTable table = {
        .verbs = verbs,
        .n_verbs = ELEMENTSOF(verbs),
        .global_options = global_options,
        .n_global_options = ELEMENTSOF(global_options),
        .n_global_options_after_verb = ELEMENTSOF(global_options) - 1, /* not --json */
        .list = fake_list,
};

/* Completes `line` split at spaces; a trailing space means an empty word under the cursor. Returns the
 * candidates joined by spaces ("" for none); the caller frees. */
static char *complete(const char *line) {
        _cleanup_strv_free_ char **words = NULL, **candidates = NULL;
        const char *p = line;

        for (;;) {
                size_t len = strcspn(p, " ");
                _cleanup_free_ char *w = strndup(p, len);
                assert_non_null(w);
                assert_int_equal(strv_push(&words, w), 0);
                w = NULL;
                if (!p[len])
                        break;
                p += len + 1;
        }
        listed_address = NULL;
        listed_kind = CTL_COMPLETE_NOTHING;
        assert_int_equal(ctl_complete(&table, words, strv_length(words), &candidates), 0);
        char *joined = strv_join(candidates, " ");
        assert_non_null(joined);
        return joined;
}

#define assert_completes(line, expected)                        \
        do {                                                    \
                _cleanup_free_ char *_got = complete(line);     \
                assert_string_equal(_got, (expected));          \
        } while (0)

static void test_verbs(void **state) {
        /* Top-level verbs and each group once, in table order. */
        assert_completes("", "status vm image gc call introspect");
        assert_completes("v", "vm");
        assert_completes("im", "image");
        assert_completes("x", "");
        /* A group's verbs with their aliases; the same alias in another group does not leak in. */
        assert_completes("vm ", "list ls ps create start stop rm delete status inspect");
        assert_completes("vm s", "start stop status");
        assert_completes("image ", "import list ls rm delete");
        assert_completes("image l", "list ls");
        /* An unknown word ends completion. */
        assert_completes("bogus ", "");
        assert_completes("vm bogus ", "");
        assert_completes("vm bogus --", "");
        /* Global options before the verb, their values skipped. */
        assert_completes("--json v", "vm");
        assert_completes("--address /run/x vm ls", "ls");
        assert_completes("--address=/run/x vm ls", "ls");
        /* n_words 0 is one empty word. */
        _cleanup_strv_free_ char **candidates = NULL;
        assert_int_equal(ctl_complete(&table, NULL, 0, &candidates), 0);
        assert_string_equal(candidates[0], "status");
}

static void test_options(void **state) {
        /* Before the verb: every global option. */
        assert_completes("-", "--help --address --json");
        assert_completes("--a", "--address");
        /* After it: the verb's own, then the global ones it takes (not --json), each once. */
        assert_completes("vm stop --", "--force --timeout --help --address");
        assert_completes("vm stop web -", "--force --timeout --help --address");
        assert_completes("vm stop --f", "--force");
        assert_completes("vm list --", "--json --help --address");
        assert_completes("vm rm --j", "");
        /* Between group and verb nothing is an option. */
        assert_completes("vm --", "");
        /* After "--" a word starting with '-' is an argument. */
        assert_completes("vm stop -- -", "");
}

static void test_option_values(void **state) {
        /* Choices of a metavar "a|b|c", as a separate word or after '='. */
        assert_completes("vm create --accel ", "auto kvm tcg");
        assert_completes("vm create --accel k", "kvm");
        assert_completes("vm create --accel=", "--accel=auto --accel=kvm --accel=tcg");
        assert_completes("vm create --accel=t", "--accel=tcg");
        /* An abbreviated option keeps the user's spelling. */
        assert_completes("vm create --acc=a", "--acc=auto");
        /* Paths: the shell completes files. */
        assert_completes("image import x --kernel ", CTL_COMPLETE_FILES);
        assert_completes("image import x --initrd=/bo", CTL_COMPLETE_FILES);
        assert_completes("--address ", CTL_COMPLETE_FILES);
        /* A free value (NAME, SEC) has no candidates, and is not taken for an argument. */
        assert_completes("vm create --name ", "");
        assert_completes("vm stop --timeout ", "");
        assert_completes("vm stop -t ", "");
        assert_completes("vm stop -ft ", "");
        n_list_calls = 0;
        assert_completes("vm stop --timeout 5 ", "web db web2");
        assert_completes("vm stop -t5 ", "web db web2");
        assert_int_equal(n_list_calls, 2);
        /* A value option nobody knows: nothing. */
        assert_completes("vm create --bogus=", "");
}

static void test_names(void **state) {
        /* VMs for a REF in group vm; names only (ids once typed); unsafe names dropped. */
        assert_completes("vm start ", "web db web2");
        assert_int_equal(listed_kind, CTL_COMPLETE_VM);
        assert_completes("vm start w", "web web2 wq3k5eg1d2h7s0c8v4b6n9m1aa");
        assert_completes("vm start db", "db db5xxxxxxxxxxxxxxxxxxxxxxx");
        assert_completes("vm start b", "bad5xxxxxxxxxxxxxxxxxxxxxx");
        assert_completes("vm ls ", "");
        /* Names already on the line are not offered again. */
        assert_completes("vm rm web ", "db web2");
        assert_completes("vm delete -f web db w", "web2 wq3k5eg1d2h7s0c8v4b6n9m1aa");
        assert_completes("vm stop -- ", "web db web2");
        assert_completes("vm status ", "web db web2");
        /* One argument at most: none after it. */
        assert_completes("vm inspect ", "web db web2");
        assert_completes("vm inspect web ", "");
        /* Images: IMAGE, and REF in group image; NAME is a new name. */
        assert_completes("vm create ", "debian alpine");
        assert_int_equal(listed_kind, CTL_COMPLETE_IMAGE);
        assert_completes("vm create --name x a", "alpine");
        assert_completes("image rm ", "debian alpine");
        assert_completes("image rm i", "im0xxxxxxxxxxxxxxxxxxxxxxx");
        n_list_calls = 0;
        assert_completes("image import ", "");
        assert_int_equal(n_list_calls, 0);
        /* Interfaces for INTERFACE. */
        assert_completes("introspect ", "io.cocoon.VM org.varlink.service");
        assert_int_equal(listed_kind, CTL_COMPLETE_INTERFACE);
        assert_completes("introspect o", "org.varlink.service");
        assert_completes("introspect io.cocoon.VM ", "");
        /* Methods for METHOD, nothing for the JSON after it. */
        assert_completes("call io.cocoon.VM.S", "io.cocoon.VM.Start");
        assert_int_equal(listed_kind, CTL_COMPLETE_METHOD);
        n_list_calls = 0;
        assert_completes("call io.cocoon.VM.List ", "");
        assert_completes("call --json io.cocoon.VM.List {} ", "");
        assert_int_equal(n_list_calls, 0);
        /* The --address on the line is where names come from. */
        assert_completes("--address /run/other vm start ", "web db web2");
        assert_string_equal(listed_address, "/run/other");
        assert_completes("vm start --address=/run/b ", "web db web2");
        assert_string_equal(listed_address, "/run/b");
        assert_completes("vm start ", "web db web2");
        assert_null(listed_address);
        /* No manager: no names, no error. */
        manager_down = true;
        assert_completes("vm start ", "");
        manager_down = false;
}

static void test_argument_kind(void **state) {
        const CtlCompleteVerb create = { .group = "vm", .name = "run",
                                         .usage = "vm run IMAGE [--name NAME] [...]" };
        const CtlCompleteVerb status = { .group = "vm", .name = "status",
                                         .usage = "vm status [REF...] [--event]" };
        const CtlCompleteVerb stop = { .group = "vm", .name = "stop",
                                       .usage = "vm stop REF... [-f|--force] [--timeout SEC]" };
        const CtlCompleteVerb import = { .group = "image", .name = "import",
                                         .usage = "image import NAME --kernel PATH [--initrd PATH]" };
        const CtlCompleteVerb inspect = { .group = "image", .name = "inspect",
                                          .usage = "image inspect REF" };
        const CtlCompleteVerb clone = { .group = "vm", .name = "clone", .usage = "vm clone VM NAME" };
        const CtlCompleteVerb call = { .name = "call", .usage = "call METHOD [JSON] [--more]" };
        const CtlCompleteVerb top_ref = { .name = "x", .usage = "x REF" };
        const CtlCompleteVerb options_first = { .group = "vm", .name = "x",
                                                .usage = "vm x [OPTIONS...] REF..." };
        const CtlCompleteVerb introspect = { .name = "introspect", .usage = "introspect INTERFACE" };

        assert_int_equal(ctl_complete_argument_kind(&create, 0), CTL_COMPLETE_IMAGE);
        assert_int_equal(ctl_complete_argument_kind(&create, 1), CTL_COMPLETE_NOTHING);
        assert_int_equal(ctl_complete_argument_kind(&status, 0), CTL_COMPLETE_VM);
        assert_int_equal(ctl_complete_argument_kind(&status, 7), CTL_COMPLETE_VM);
        assert_int_equal(ctl_complete_argument_kind(&stop, 3), CTL_COMPLETE_VM);
        assert_int_equal(ctl_complete_argument_kind(&import, 0), CTL_COMPLETE_NOTHING);
        assert_int_equal(ctl_complete_argument_kind(&import, 1), CTL_COMPLETE_NOTHING);
        assert_int_equal(ctl_complete_argument_kind(&inspect, 0), CTL_COMPLETE_IMAGE);
        assert_int_equal(ctl_complete_argument_kind(&inspect, 1), CTL_COMPLETE_NOTHING);
        assert_int_equal(ctl_complete_argument_kind(&clone, 0), CTL_COMPLETE_VM);
        assert_int_equal(ctl_complete_argument_kind(&clone, 1), CTL_COMPLETE_NOTHING);
        assert_int_equal(ctl_complete_argument_kind(&call, 0), CTL_COMPLETE_METHOD);
        assert_int_equal(ctl_complete_argument_kind(&call, 1), CTL_COMPLETE_NOTHING);
        assert_int_equal(ctl_complete_argument_kind(&call, 2), CTL_COMPLETE_NOTHING);
        assert_int_equal(ctl_complete_argument_kind(&top_ref, 0), CTL_COMPLETE_NOTHING);
        assert_int_equal(ctl_complete_argument_kind(&options_first, 0), CTL_COMPLETE_VM);
        assert_int_equal(ctl_complete_argument_kind(&options_first, 2), CTL_COMPLETE_VM);
        assert_int_equal(ctl_complete_argument_kind(&introspect, 0), CTL_COMPLETE_INTERFACE);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_verbs),
                cmocka_unit_test(test_options),
                cmocka_unit_test(test_option_values),
                cmocka_unit_test(test_names),
                cmocka_unit_test(test_argument_kind),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
