/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shell completion of cocoonctl: which words may come next on a partial command line. Verbs, aliases and
 * options come from cocoonctl's verb table; names of VMs, images, interfaces and methods from a lister (the
 * manager). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "ctl-options.h"

/* The one candidate printed when the word is a file name: the shell script completes files itself. Names of
 * VMs and images start with a letter or digit, so no candidate can look like it. */
#define CTL_COMPLETE_FILES ":files"

typedef enum CtlCompleteKind {
        CTL_COMPLETE_NOTHING,
        CTL_COMPLETE_VM,
        CTL_COMPLETE_IMAGE,
        CTL_COMPLETE_INTERFACE, /* the Varlink interfaces the manager serves */
        CTL_COMPLETE_METHOD,    /* their methods, "io.cocoon.VM.List" */
} CtlCompleteKind;

/* What completion needs of one row of cocoonctl's verb table. */
typedef struct CtlCompleteVerb {
        const char *group; /* NULL for top-level verbs */
        const char *name;
        const char *const *aliases; /* NULL-terminated, or NULL */
        /* "vm stop REF... [-f|--force]": its positional words say what each argument is (REF: a VM in group
         * vm, an image in group image; IMAGE: an image; INTERFACE: a Varlink interface; METHOD: one of
         * its methods; a trailing "..." repeats the word). */
        const char *usage;
        unsigned max_args;
        const CtlOption *options; /* the verb's own options */
        size_t n_options;
} CtlCompleteVerb;

/* Hands one VM, image, interface or method to the completion: its name, and its id (NULL if it has none).
 * Returns < 0 on failure, which the lister returns. */
typedef int (*CtlCompleteAddFn)(const char *name, const char *id, void *add_userdata);

/* Lists the VMs, images, interfaces or methods, calling add for each. `address` is the --address given on
 * the command line, or NULL. A failure (no manager) means no candidates, not an error. */
typedef int (*CtlCompleteListFn)(CtlCompleteKind kind, const char *address, CtlCompleteAddFn add,
                                 void *add_userdata, void *userdata);

typedef struct CtlCompleteTable {
        const CtlCompleteVerb *verbs;
        size_t n_verbs;
        /* Taken before the verb; the first n_global_options_after_verb of them after it too. */
        const CtlOption *global_options;
        size_t n_global_options;
        size_t n_global_options_after_verb;
        CtlCompleteListFn list;
        void *userdata;
} CtlCompleteTable;

/* The words after "cocoonctl" up to the cursor, the last one the word being completed ("" right after a
 * space; n_words 0 is the same as one empty word). Returns the candidates that start with that word, in
 * table order without duplicates, as a strv in *ret (NULL when there are none), or CTL_COMPLETE_FILES
 * alone. An option's value given as "--name=VALUE" completes to "--name=..." candidates. */
int ctl_complete(const CtlCompleteTable *t, char *const *words, size_t n_words, char ***ret);

/* Which kind of word argument number `index` (from 0) of the verb is, from its usage line. */
CtlCompleteKind ctl_complete_argument_kind(const CtlCompleteVerb *v, unsigned index);

/* "cocoonctl __complete WORDS...": ctl_complete() against the manager (a short timeout, nothing printed
 * when it cannot be reached), candidates printed one per line. Returns an exit code. */
int ctl_complete_main(const CtlCompleteVerb *verbs, size_t n_verbs, const CtlOption *global_options,
                      size_t n_global_options, size_t n_global_options_after_verb, char *const *words,
                      size_t n_words);
