/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Watching the VMs' units: crashes and guest power-offs seen at once, reconciliation at start, console relays. */
#pragma once

#include "manager.h"

/* Subscribes to systemd's unit signals on the manager's bus and reconciles records with the units that run:
 * VMs keep running across a manager restart; units without a record are reported and stopped. */
int vm_monitor_start(Manager *m);

/* The serial console of a running VM: the relay keeps console.log and serves `Console` clients. */
void manager_console_attach(Manager *m, const char *id, int console_fd);
void manager_console_detach(Manager *m, const char *id);
