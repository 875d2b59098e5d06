/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Per-verb options of cocoonctl: each verb declares a table; anything else is a usage error that names the
 * option and the verb, with a suggestion for near misses. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

typedef struct CtlOption {
        const char *name;    /* long name without "--" */
        char short_name;     /* 0: none */
        const char *metavar; /* NULL: a flag (sets *flag); else the option takes a value (sets *value) */
        bool *flag;
        const char **value;
        const char *help;
} CtlOption;

#define CTL_FLAG(n, s, f, h) { .name = (n), .short_name = (s), .flag = (f), .help = (h) }
#define CTL_VALUE(n, s, m, v, h) \
        { .name = (n), .short_name = (s), .metavar = (m), .value = (v), .help = (h) }

/* Edit distance (insertions, deletions, substitutions) between a and b; large strings cap at SIZE_MAX. */
size_t ctl_edit_distance(const char *a, const char *b);

/* The long option of `options` nearest to `given` (without "--", up to any '='), if within distance 2 and
 * closer than half its length; NULL otherwise. */
const char *ctl_option_suggest(const char *given, const CtlOption *options, size_t n_options);

/* Parses argv[1..argc) against `options` (getopt_long, options and positional arguments may mix, "--" ends
 * options, unless stop_at_word: then the first positional word ends them); argv[0] is not looked at. `verb`
 * ("vm stop", NULL before the verb) names the verb in messages. On success the positional
 * arguments are moved to argv[*ret_first..argc) and 0 returned; on a usage error prints one line on stderr
 * and returns -EINVAL. */
int ctl_options_parse(const char *verb, const CtlOption *options, size_t n_options, bool stop_at_word,
                      int argc, char **argv, int *ret_first);

/* Prints the option list of a verb's help ("  -f --force  ..."). */
void ctl_options_print_help(const CtlOption *options, size_t n_options);
