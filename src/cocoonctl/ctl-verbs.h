/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Every cocoonctl verb. A verb gets its positional arguments (after the verb's own words). */
#pragma once

/* ctl-status.c */
int verb_status(int argc, char **argv);
/* ctl-vm.c */
int verb_vm_list(int argc, char **argv);
int verb_vm_inspect(int argc, char **argv);
/* ctl-raw.c: raw Varlink access, like varlinkctl (which Debian 12 lacks) */
int verb_call(int argc, char **argv);
int verb_introspect(int argc, char **argv);

/* Options some verbs read (parsed once in cocoonctl.c). */
extern bool arg_more;
extern bool arg_oneway;
