/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A VM's serial console: a pty of the hypervisor (input and live output) and the spool file the hypervisor
 * itself appends every byte of output to, whether or not the manager is there to read it. */
#pragma once

#include <sys/types.h>

/* In the VM's log directory: the hypervisor's own record of the console (owned by the hypervisor's user,
 * read and emptied by the manager's relay into console.log), and a symlink to the console's pty. */
#define CONSOLE_SPOOL_NAME "console.spool"
#define CONSOLE_PTY_LINK_NAME "console.pty"
/* In the run directory of a VM whose serial console is the hypervisor's stdin (Firecracker): the FIFO the
 * relay writes the console's input to. The hypervisor's stdin holds it open for reading and writing, so it
 * never sees an end of input, whichever manager (or none) writes to it. */
#define CONSOLE_INPUT_FIFO_NAME "console.in"

/* Opens the pty slave at path (as a hypervisor reported it: never trusted) for the relay: only a
 * /dev/pts/<n> terminal owned by owner_uid is accepted (-EPERM otherwise); it is put in raw mode and
 * non-blocking mode. Returns the fd. */
int console_pty_open(const char *path, uid_t owner_uid);

/* Remembers the pty of a started VM as <log_dir>/console.pty (replaced atomically), so that a manager
 * started later finds the console again. */
int console_pty_remember(const char *log_dir, const char *path);

/* The console of a running VM after a manager restart: the remembered pty, opened as console_pty_open()
 * does, for the owner of the VM's spool. -ENOENT if nothing was remembered. */
int console_pty_reopen(const char *log_dir);

/* Creates the input FIFO in run_dir (replacing a stale one), owned by uid:gid, mode 0600, and returns it
 * opened for reading and writing: the hypervisor's stdin. */
int console_fifo_create(const char *run_dir, uid_t uid, gid_t gid);

/* The relay's side of the input FIFO: opened for writing, non-blocking; it reports an error once the last
 * reader, the hypervisor's stdin, is gone. -ENXIO when nobody reads it (the hypervisor is gone), -EPERM
 * when it is not a FIFO of owner_uid. */
int console_fifo_open(const char *run_dir, uid_t owner_uid);

/* The console of a running VM after a manager restart, whichever kind it has: the remembered pty
 * (console_pty_reopen()), else the input FIFO in run_dir. */
int console_reopen(const char *log_dir, const char *run_dir);
