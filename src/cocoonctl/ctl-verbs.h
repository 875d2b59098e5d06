/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Every cocoonctl verb. A verb gets its positional arguments (after the verb's own words); argv[argc] is NULL,
 * as in main(). */
#pragma once

#include <stdbool.h>

/* ctl-status.c */
int verb_status(int argc, char **argv);
/* ctl-vm.c */
int verb_vm_list(int argc, char **argv);
int verb_vm_inspect(int argc, char **argv);
/* ctl-vm-lifecycle.c */
int verb_vm_create(int argc, char **argv);
int verb_vm_run(int argc, char **argv);
extern bool arg_console; /* vm run --console: attach to the console once started */
int verb_vm_start(int argc, char **argv);
int verb_vm_stop(int argc, char **argv);
int verb_vm_restart(int argc, char **argv);
int verb_vm_kill(int argc, char **argv);
int verb_vm_rm(int argc, char **argv);
int verb_vm_debug(int argc, char **argv);
extern const char *arg_name, *arg_cpu, *arg_memory, *arg_storage, *arg_backend, *arg_accel, *arg_vm_cmdline;
extern const char *arg_timeout, *arg_signal;
extern bool arg_force;
/* ctl-vm-status.c */
int verb_vm_status(int argc, char **argv);
int verb_vm_watch(int argc, char **argv);
extern bool arg_event;
extern const char *arg_nics, *arg_bridge, *arg_network;
/* ctl-image.c */
int verb_image_import(int argc, char **argv);
int verb_image_pull(int argc, char **argv);
int verb_image_list(int argc, char **argv);
int verb_image_inspect(int argc, char **argv);
int verb_image_rm(int argc, char **argv);
extern const char *arg_kernel, *arg_initrd, *arg_rootfs, *arg_cmdline;
extern bool arg_insecure;
/* ctl-snapshot.c */
int verb_snapshot_save(int argc, char **argv);
int verb_snapshot_list(int argc, char **argv);
int verb_snapshot_inspect(int argc, char **argv);
int verb_snapshot_rm(int argc, char **argv);
int verb_vm_clone(int argc, char **argv);
int verb_vm_restore(int argc, char **argv);
extern const char *arg_description, *arg_snapshot_vm;
extern bool arg_no_start;
/* ctl-snapshot-transfer.c */
int verb_snapshot_export(int argc, char **argv);
int verb_snapshot_import(int argc, char **argv);
extern const char *arg_output_file, *arg_compress;
/* Calls method with more and shows the bytesDone/bytesTotal of the replies before the final one on stderr
 * when it is a terminal ("VERB WHAT: 12M / 1G (1%)"); errors reported. *ret_reply is the link's. */
typedef struct Varlink Varlink;
typedef struct json_object json_object;
int ctl_call_with_progress(Varlink *link, const char *method, json_object *parameters, const char *verb,
                           const char *what, json_object **ret_reply);
/* ctl-gc.c */
int verb_gc(int argc, char **argv);
/* ctl-ops.c */
int verb_ops(int argc, char **argv);
/* ctl-raw.c: raw Varlink access, like varlinkctl (which Debian 12 lacks) */
int verb_call(int argc, char **argv);
int verb_introspect(int argc, char **argv);

/* Options some verbs read (each verb's option table in cocoonctl.c says which). */
extern bool arg_more;
extern bool arg_oneway;
