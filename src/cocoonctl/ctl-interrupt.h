/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Ctrl-C during a long VM call or gc: the wait ends at once, the manager carries on with the operation
 * (cocoonctl ops lists it, detached), and one line says so. */
#pragma once

#include <json-c/json.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "varlink.h"

/* 128 + SIGINT: what a shell reports for a command Ctrl-C ended. */
#define CTL_EXIT_INTERRUPTED 130

/* Longest ctl_interrupt_describe() output plus NUL; longer ones are cut. */
#define CTL_INTERRUPT_DESCRIBE_MAX 512

typedef struct CtlInterrupt {
        struct sigaction old; /* SIGINT's action before ctl_interrupt_catch() */
        bool caught;
} CtlInterrupt;

/* Until ctl_interrupt_release(), SIGINT shuts `link`'s connection down (so the wait for its reply ends at
 * once, with an error) and is remembered instead of killing us. */
int ctl_interrupt_catch(Varlink *link, CtlInterrupt *c);
/* Puts SIGINT's old action back. Returns whether SIGINT came meanwhile (false for a CtlInterrupt that
 * caught nothing: zeroed, or released already). */
bool ctl_interrupt_release(CtlInterrupt *c);

/* What the call is, as the user typed it: "vm stop of web, db", "vm run of web", "vm create from image
 * guest", "gc"; unknown methods by their name. */
const char *ctl_interrupt_describe(const char *method, json_object *parameters,
                                   char buf[static CTL_INTERRUPT_DESCRIBE_MAX]);
