/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cocoonctl vm console / vm logs: a VM's serial console, interactive or as a log. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* Options these verbs read; cocoonctl.c sets them while parsing the command line. */
extern bool arg_no_tty;              /* --no-tty: pump stdin/stdout as they are, no raw mode, no escape */
extern bool arg_follow;              /* -f --follow: vm logs keeps printing new output */
extern const char *arg_escape_char;  /* --escape-char=C: NULL means ^] */
extern const char *arg_lines;        /* -n --lines=N: the last N lines (vm logs, vm console --replay) */
extern bool arg_replay;              /* --replay: vm console prints the end of the log first */
extern const char *arg_since;        /* --since=TIME: vm logs prints the lines logged since TIME */

/* Lines vm console --replay prints without --lines: about a screen, enough to show the login prompt. */
#define CONSOLE_REPLAY_LINES_DEFAULT 100

/* How to attach, from --no-tty and --escape-char. */
typedef struct CtlConsoleOptions {
        uint8_t escape;
        bool tty;
} CtlConsoleOptions;

/* Checks --escape-char and, unless --no-tty, that stdin is a terminal; prints the problem. Called before
 * anything is changed (vm run --console checks before it creates the VM). */
int ctl_console_prepare(CtlConsoleOptions *ret);
/* Attaches to the console of ref until the escape sequence, the end of input (--no-tty) or of the VM;
 * with replay, the last `lines` lines of the log (UINT64_MAX: all of it) come first. */
int ctl_console_attach(const char *ref, const CtlConsoleOptions *o, bool replay, uint64_t lines);

/* vm console REF */
int verb_vm_console(int argc, char **argv);
/* vm logs REF */
int verb_vm_logs(int argc, char **argv);
