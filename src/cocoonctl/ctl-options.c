/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Per-verb option parsing of cocoonctl: getopt_long over a verb's table; usage errors say what is wrong. */
#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl-options.h"
#include "ctl-util.h"
#include "macro.h"

/* Option names are short; longer input is not a near miss of anything. */
#define EDIT_DISTANCE_MAX_LEN 64

size_t ctl_edit_distance(const char *a, const char *b) {
        size_t la = strlen(a), lb = strlen(b);
        size_t row[EDIT_DISTANCE_MAX_LEN + 1];

        if (la > EDIT_DISTANCE_MAX_LEN || lb > EDIT_DISTANCE_MAX_LEN)
                return SIZE_MAX;

        /* One row of the Levenshtein matrix is enough: row[j] is the distance of a[0..i) and b[0..j). */
        for (size_t j = 0; j <= lb; j++)
                row[j] = j;
        for (size_t i = 1; i <= la; i++) {
                size_t diagonal = row[0];
                row[0] = i;
                for (size_t j = 1; j <= lb; j++) {
                        size_t above = row[j];
                        size_t best = diagonal + (a[i - 1] != b[j - 1]);
                        if (above + 1 < best)
                                best = above + 1;
                        if (row[j - 1] + 1 < best)
                                best = row[j - 1] + 1;
                        row[j] = best;
                        diagonal = above;
                }
        }
        return row[lb];
}

const char *ctl_option_suggest(const char *given, const CtlOption *options, size_t n_options) {
        char name[EDIT_DISTANCE_MAX_LEN + 1];
        size_t len = strcspn(given, "=");
        const char *best = NULL;
        size_t best_distance = SIZE_MAX;

        if (len == 0 || len > EDIT_DISTANCE_MAX_LEN)
                return NULL;
        memcpy(name, given, len);
        name[len] = '\0';

        for (size_t i = 0; i < n_options; i++) {
                size_t d = ctl_edit_distance(name, options[i].name);
                /* Two edits of a three-letter word make any word: only suggest what stays recognisable. */
                if (d <= 2 && d * 2 < strlen(options[i].name) && d < best_distance) {
                        best = options[i].name;
                        best_distance = d;
                }
        }
        return best;
}

/* How many long options `prefix` abbreviates (getopt_long accepts unique abbreviations). */
static size_t count_prefix_matches(const char *prefix, size_t len, const CtlOption *options,
                                   size_t n_options) {
        size_t n = 0;
        for (size_t i = 0; i < n_options; i++)
                if (strncmp(options[i].name, prefix, len) == 0)
                        n++;
        return n;
}

static void report_bad_option(const char *verb, const char *who, const char *arg, int opt,
                              const CtlOption *options, size_t n_options) {
        char option[EDIT_DISTANCE_MAX_LEN + 3];

        if (opt > 0 && opt < 0x100) { /* a short option */
                snprintf(option, sizeof option, "-%c", opt);
                (void) ctl_usage_error(verb, option, "unknown option '%s'; see '%s --help'", option, who);
                return;
        }
        /* The option as given, up to any '=' (long names are cut to what the edit distance looks at). */
        assert(arg);
        size_t n = MIN(strcspn(arg, "="), sizeof option - 1);
        memcpy(option, arg, n);
        option[n] = '\0';
        if (opt >= 0x100) { /* a known long option given a value it does not take */
                (void) ctl_usage_error(verb, option, "option '%.*s' takes no value; see '%s --help'",
                                       (int) strcspn(arg, "="), arg, who);
                return;
        }

        const char *name = arg + 2;
        size_t len = strcspn(name, "=");
        if (count_prefix_matches(name, len, options, n_options) > 1) {
                (void) ctl_usage_error(verb, option, "option '--%.*s' is ambiguous; see '%s --help'",
                                       (int) len, name, who);
                return;
        }
        const char *suggestion = ctl_option_suggest(name, options, n_options);
        if (suggestion)
                (void) ctl_usage_error(verb, option, "unknown option '--%.*s'; did you mean '--%s'?",
                                       (int) len, name, suggestion);
        else
                (void) ctl_usage_error(verb, option, "unknown option '--%.*s'; see '%s --help'", (int) len,
                                       name, who);
}

int ctl_options_parse(const char *verb, const CtlOption *options, size_t n_options, bool stop_at_word,
                      int argc, char **argv, int *ret_first) {
        /* '+' (if asked) stops at the first word; a leading ':' reports a missing value as ':' rather than
         * '?'. A long option's index in `options` is its val - 0x100. */
        _cleanup_free_ struct option *longopts = calloc(n_options + 1, sizeof(struct option));
        _cleanup_free_ char *shortopts = malloc(2 + 2 * n_options + 1);
        char who[128];
        size_t k = 0;
        int c;

        if (!longopts || !shortopts)
                return -ENOMEM;
        snprintf(who, sizeof who, "cocoonctl%s%s", verb ? " " : "", verb ?: "");
        if (stop_at_word)
                shortopts[k++] = '+';
        shortopts[k++] = ':';
        for (size_t i = 0; i < n_options; i++) {
                longopts[i] = (struct option) {
                        .name = options[i].name,
                        .has_arg = options[i].metavar ? required_argument : no_argument,
                        .val = (int) (0x100 + i),
                };
                if (options[i].short_name) {
                        shortopts[k++] = options[i].short_name;
                        if (options[i].metavar)
                                shortopts[k++] = ':';
                }
        }
        shortopts[k] = '\0';

        opterr = 0;
        optind = 0; /* glibc: 0 re-initialises getopt, so each parse starts afresh */
        while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) >= 0) {
                const CtlOption *o = NULL;

                if (c == '?') {
                        report_bad_option(verb, who, argv[optind - 1], optopt, options, n_options);
                        return -EINVAL;
                }
                if (c == ':') {
                        return ctl_usage_error(verb, argv[optind - 1],
                                               "option '%s' needs a value; see '%s --help'",
                                               argv[optind - 1], who);
                }
                if (c >= 0x100 && (size_t) (c - 0x100) < n_options)
                        o = options + (c - 0x100);
                else
                        for (size_t i = 0; i < n_options && !o; i++)
                                if (options[i].short_name == c)
                                        o = options + i;
                assert(o);
                if (o->metavar)
                        *o->value = optarg;
                else
                        *o->flag = true;
        }
        *ret_first = optind;
        return 0;
}

void ctl_options_print_help(const CtlOption *options, size_t n_options) {
        for (size_t i = 0; i < n_options; i++) {
                char left[64];
                const CtlOption *o = options + i;
                if (o->short_name)
                        snprintf(left, sizeof left, "-%c --%s%s%s", o->short_name, o->name,
                                 o->metavar ? "=" : "", o->metavar ?: "");
                else
                        snprintf(left, sizeof left, "   --%s%s%s", o->name, o->metavar ? "=" : "",
                                 o->metavar ?: "");
                printf("  %-26s %s\n", left, o->help);
        }
}
