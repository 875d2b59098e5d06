/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A VM's serial console: a pty of the hypervisor (input and live output) and the spool file the hypervisor
 * itself appends every byte of output to, whether or not the manager is there to read it. */
#pragma once

#include <sys/types.h>

/* In the VM's log directory: the hypervisor's own record of the console (owned by the hypervisor's user,
 * read and emptied by the manager's relay into console.log), and a symlink to the console's pty. */
#define CONSOLE_SPOOL_NAME "console.spool"
#define CONSOLE_PTY_LINK_NAME "console.pty"

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
