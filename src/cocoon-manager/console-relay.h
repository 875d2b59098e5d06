/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The console relay of a running VM: the manager is the hypervisor console socket's one client; the relay
 * logs everything the guest prints and fans it out to any number of attached clients. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "console-log.h"
#include "macro.h"

/* Output a client has not taken yet, beyond what its socket buffers hold; past this it is dropped, so that
 * one stuck client never holds up the guest, the log or the other clients. */
#define CONSOLE_CLIENT_BUFFER_MAX (1024U * 1024U)
/* Client input waiting for the console; while it is full, clients are not read (backpressure, not loss). */
#define CONSOLE_INPUT_BUFFER_MAX (64U * 1024U)

typedef struct ConsoleRelay ConsoleRelay;

/* Called once when the console side ends (EOF or error: the hypervisor exited), after every client was
 * closed. The relay may be freed from inside the callback. */
typedef void (*ConsoleRelayEndCallback)(ConsoleRelay *relay, void *userdata);

/* Starts relaying console_fd (taken over in all cases, made non-blocking). log_path may be NULL (no log);
 * log_max_bytes 0 means no cap. A log that cannot be written is logged as a warning, the relay goes on. */
int console_relay_new(sd_event *event, const char *vm_id, int console_fd, const char *log_path,
                      uint64_t log_max_bytes, ConsoleRelay **ret);
/* Closes the console and every client, without calling the end callback. */
ConsoleRelay *console_relay_free(ConsoleRelay *relay);
DEFINE_TRIVIAL_CLEANUP_FUNC(ConsoleRelay *, console_relay_free);

/* Takes the output from the hypervisor's own record of it, the spool file it appends every byte to, instead
 * of from console_fd (which then only carries input and the end): what the guest printed while no relay ran
 * is logged first, the consumed part of the spool is punched out as the relay goes. */
int console_relay_set_spool(ConsoleRelay *relay, const char *spool_path);

void console_relay_set_end_callback(ConsoleRelay *relay, ConsoleRelayEndCallback callback, void *userdata);

/* Attaches a client (client_fd taken over in all cases, made non-blocking): it gets all output from now on;
 * its input goes to the console unless read_only. Client EOF or error detaches only that client. */
int console_relay_attach(ConsoleRelay *relay, int client_fd, bool read_only);
/* The same, but the client first gets the console log as it is now (the part filter selects; NULL: all of
 * it), then the live output: nothing is lost or repeated in between. */
int console_relay_attach_replay(ConsoleRelay *relay, int client_fd, bool read_only,
                                const ConsoleLogFilter *filter);

size_t console_relay_n_clients(const ConsoleRelay *relay);
const char *console_relay_get_vm_id(const ConsoleRelay *relay);
/* The log file the relay appends to, or NULL. */
const char *console_relay_get_log_path(const ConsoleRelay *relay);
