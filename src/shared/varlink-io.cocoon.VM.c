/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Interface io.cocoon.VM: create, run, watch and remove virtual machines. */
#include "varlink-interfaces.h"

static const char *const state_values[] = { "creating", "created", "running", "stopped", "error", "stopping",
                                             NULL };

static const VarlinkSymbol type_state = {
        .kind = VARLINK_SYMBOL_ENUM_TYPE,
        .name = "State",
        .enum_values = state_values,
        .doc = "creating -> created -> running <-> stopped; any -> error. stopping: a stop is in flight "
               "(the record still says running).",
};

static const VarlinkField runtime_fields[] = {
        { .name = "unit", .type = VARLINK_STRING, .doc = "cocoon-vm@<id>.service" },
        { .name = "activeState", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE },
        { .name = "subState", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE },
        { .name = "mainPID", .type = VARLINK_INT, .flags = VARLINK_NULLABLE },
        { .name = "memoryCurrent", .type = VARLINK_INT, .flags = VARLINK_NULLABLE, .doc = "Bytes." },
        { .name = "cpuUsageNSec", .type = VARLINK_INT, .flags = VARLINK_NULLABLE },
        { .name = "tasksCurrent", .type = VARLINK_INT, .flags = VARLINK_NULLABLE },
        { .name = "accelerator", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE,
          .doc = "kvm or tcg: what the hypervisor runs with." },
        { .name = "activeSince", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE, .doc = "RFC 3339." },
        {},
};

static const VarlinkSymbol type_runtime = {
        .kind = VARLINK_SYMBOL_STRUCT_TYPE,
        .name = "Runtime",
        .input = runtime_fields,
        .doc = "What systemd says about the VM's unit right now.",
};

static const VarlinkField vm_fields[] = {
        { .name = "id", .type = VARLINK_STRING, .doc = "26 characters of lowercase base32." },
        { .name = "name", .type = VARLINK_STRING },
        { .name = "state", .type = VARLINK_NAMED, .named_type = "State" },
        { .name = "backend", .type = VARLINK_STRING },
        { .name = "config", .type = VARLINK_OBJECT, .doc = "cpu, memory (bytes), storage, image, ..." },
        { .name = "storageConfigs", .type = VARLINK_OBJECT, .flags = VARLINK_NULLABLE | VARLINK_ARRAY },
        { .name = "networkConfigs", .type = VARLINK_OBJECT, .flags = VARLINK_NULLABLE | VARLINK_ARRAY,
          .doc = "One per NIC: tap, mac, backend (bridge), bridgeDev, network {ip, gateway, prefix} when "
                 "static." },
        { .name = "firstBooted", .type = VARLINK_BOOL, .flags = VARLINK_NULLABLE },
        { .name = "snapshotIds", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE | VARLINK_ARRAY },
        { .name = "createdAt", .type = VARLINK_STRING, .doc = "RFC 3339." },
        { .name = "updatedAt", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE },
        { .name = "startedAt", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE },
        { .name = "stoppedAt", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE },
        { .name = "unit", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE, .doc = "cocoon-vm@<id>.service" },
        { .name = "errorReason", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE,
          .doc = "Why the VM is in state error (e.g. killed by signal KILL)." },
        { .name = "runtime", .type = VARLINK_NAMED, .named_type = "Runtime", .flags = VARLINK_NULLABLE },
        {},
};

static const VarlinkSymbol type_vm = {
        .kind = VARLINK_SYMBOL_STRUCT_TYPE,
        .name = "VM",
        .input = vm_fields,
        .doc = "A VM record, plus runtime facts from systemd where known.",
};

static const VarlinkField list_out[] = {
        { .name = "vms", .type = VARLINK_NAMED, .named_type = "VM", .flags = VARLINK_ARRAY },
        {},
};

static const VarlinkField list_in[] = {
        { .name = "summary", .type = VARLINK_BOOL, .flags = VARLINK_NULLABLE,
          .doc = "Only id, name, backend, state, config.cpu/memory, createdAt, errorReason, ip (the NICs' "
                 "static addresses, comma-separated; fast for tables)." },
        {},
};

static const VarlinkSymbol method_list = {
        .kind = VARLINK_SYMBOL_METHOD,
        .name = "List",
        .input = list_in,
        .output = list_out,
        .doc = "All VMs, oldest first.",
};

static const VarlinkField ref_in[] = {
        { .name = "ref", .type = VARLINK_STRING, .doc = "Id, name, or unique id prefix of at least 3 characters." },
        {},
};

static const VarlinkField inspect_out[] = {
        { .name = "vm", .type = VARLINK_NAMED, .named_type = "VM" },
        {},
};

static const VarlinkSymbol method_inspect = {
        .kind = VARLINK_SYMBOL_METHOD,
        .name = "Inspect",
        .input = ref_in,
        .output = inspect_out,
        .doc = "One VM by reference.",
};

static const VarlinkField create_in[] = {
        { .name = "name", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE,
          .doc = "[A-Za-z0-9][A-Za-z0-9._-]{0,62}, unique; default <image>-<8 characters of the id>." },
        { .name = "image", .type = VARLINK_STRING, .doc = "Image name or id (see io.cocoon.Image)." },
        { .name = "cpu", .type = VARLINK_INT, .flags = VARLINK_NULLABLE, .doc = "vCPUs (default 1)." },
        { .name = "memory", .type = VARLINK_INT, .flags = VARLINK_NULLABLE, .doc = "Bytes (default 256 MiB)." },
        { .name = "storage", .type = VARLINK_INT, .flags = VARLINK_NULLABLE,
          .doc = "Bytes of the writable COW disk when the image has a root filesystem (default 1 GiB)." },
        { .name = "backend", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE,
          .doc = "qemu, cloud-hypervisor, firecracker; default: the manager's defaultBackend. One that is "
                 "not available is NotSupported." },
        { .name = "accel", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE,
          .doc = "auto, kvm or tcg (QEMU only; default from cocoon.conf)." },
        { .name = "cmdline", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE,
          .doc = "Appended to the image's kernel command line." },
        { .name = "start", .type = VARLINK_BOOL, .flags = VARLINK_NULLABLE, .doc = "Start it once created." },
        { .name = "nics", .type = VARLINK_INT, .flags = VARLINK_NULLABLE,
          .doc = "NICs, 0-8 (default 0, or 1 with bridge or network); NIC i is the guest's eth<i>." },
        { .name = "bridge", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE,
          .doc = "An existing bridge in the manager's network namespace: each NIC is a TAP on it, created "
                 "at start and removed at stop; the guest gets its address by DHCP." },
        { .name = "network", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE,
          .doc = "CNI mode (NICs without bridge): the name of a conflist in [Network] ConfigDirectory= of "
                 "cocoon.conf; default the first *.conflist by file name. Each NIC is eth<i> in the VM's "
                 "network namespace cocoon-<id> (CNI ADD at create, DEL at delete) joined to a TAP; the "
                 "guest gets the address IPAM granted on its kernel command line." },
        {},
};

static const VarlinkSymbol method_create = {
        .kind = VARLINK_SYMBOL_METHOD,
        .name = "Create",
        .input = create_in,
        .output = inspect_out,
        .doc = "Creates a VM from an image (and starts it with start=true).",
};

static const VarlinkField result_fields[] = {
        { .name = "reference", .type = VARLINK_STRING },
        { .name = "id", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE },
        { .name = "error", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE, .doc = "Null on success." },
        { .name = "message", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE },
        {},
};

static const VarlinkSymbol type_result = {
        .kind = VARLINK_SYMBOL_STRUCT_TYPE,
        .name = "Result",
        .input = result_fields,
        .doc = "The outcome for one reference of a batch call.",
};

static const VarlinkField batch_out[] = {
        { .name = "results", .type = VARLINK_NAMED, .named_type = "Result", .flags = VARLINK_ARRAY },
        {},
};

static const VarlinkField refs_in[] = {
        { .name = "refs", .type = VARLINK_STRING, .flags = VARLINK_ARRAY },
        {},
};

static const VarlinkField stop_in[] = {
        { .name = "refs", .type = VARLINK_STRING, .flags = VARLINK_ARRAY },
        { .name = "force", .type = VARLINK_BOOL, .flags = VARLINK_NULLABLE,
          .doc = "Skip the ACPI power button; systemd terminates the hypervisor." },
        { .name = "timeoutSec", .type = VARLINK_INT, .flags = VARLINK_NULLABLE,
          .doc = "How long the guest may take to power off (default StopTimeoutSec=)." },
        {},
};

static const VarlinkField delete_in[] = {
        { .name = "refs", .type = VARLINK_STRING, .flags = VARLINK_ARRAY },
        { .name = "force", .type = VARLINK_BOOL, .flags = VARLINK_NULLABLE, .doc = "Stop running VMs first." },
        {},
};

static const VarlinkField restart_in[] = {
        { .name = "refs", .type = VARLINK_STRING, .flags = VARLINK_ARRAY },
        { .name = "force", .type = VARLINK_BOOL, .flags = VARLINK_NULLABLE,
          .doc = "Stop without the ACPI power button (as Stop with force)." },
        { .name = "timeoutSec", .type = VARLINK_INT, .flags = VARLINK_NULLABLE,
          .doc = "How long the guest may take to power off (default StopTimeoutSec=)." },
        {},
};

static const VarlinkField kill_in[] = {
        { .name = "refs", .type = VARLINK_STRING, .flags = VARLINK_ARRAY },
        { .name = "signal", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE,
          .doc = "HUP, INT, QUIT, KILL, USR1, USR2, TERM, CONT or STOP, SIG prefix optional "
                 "(default KILL)." },
        {},
};

static const VarlinkSymbol method_restart = {
        .kind = VARLINK_SYMBOL_METHOD, .name = "Restart", .input = restart_in, .output = batch_out,
        .doc = "Stops VMs as Stop does, then starts them; a VM that is not running is started.",
};
static const VarlinkSymbol method_kill = {
        .kind = VARLINK_SYMBOL_METHOD, .name = "Kill", .input = kill_in, .output = batch_out,
        .doc = "Sends a signal to the hypervisor through systemd (KillUnit), at once, also during a stop in "
               "flight. The VM then ends as the hypervisor exits (stopped when a stop was in flight).",
};

static const VarlinkSymbol method_start = {
        .kind = VARLINK_SYMBOL_METHOD, .name = "Start", .input = refs_in, .output = batch_out,
        .doc = "Starts VMs; one result per reference.",
};
static const VarlinkSymbol method_stop = {
        .kind = VARLINK_SYMBOL_METHOD, .name = "Stop", .input = stop_in, .output = batch_out,
        .doc = "Stops VMs: power button, then systemd stops the unit after the timeout.",
};
static const VarlinkSymbol method_delete = {
        .kind = VARLINK_SYMBOL_METHOD, .name = "Delete", .input = delete_in, .output = batch_out,
        .doc = "Removes VMs with their unit, record and directories.",
};

static const VarlinkField watch_in[] = {
        { .name = "refs", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE | VARLINK_ARRAY,
          .doc = "Only these VMs (default: all)." },
        {},
};

static const char *const event_values[] = { "current", "added", "changed", "removed", NULL };

static const VarlinkField watch_out[] = {
        { .name = "event", .type = VARLINK_ENUM_INLINE, .enum_values = event_values },
        { .name = "id", .type = VARLINK_STRING },
        { .name = "vm", .type = VARLINK_NAMED, .named_type = "VM", .flags = VARLINK_NULLABLE,
          .doc = "Absent for removed." },
        {},
};

static const VarlinkSymbol method_watch = {
        .kind = VARLINK_SYMBOL_METHOD, .name = "Watch", .flags = VARLINK_REQUIRES_MORE,
        .input = watch_in, .output = watch_out,
        .doc = "The current VMs (event current), then every change as it happens.",
};

static const VarlinkField debug_out[] = {
        { .name = "unit", .type = VARLINK_STRING },
        { .name = "argv", .type = VARLINK_STRING, .flags = VARLINK_ARRAY },
        { .name = "apiCalls", .type = VARLINK_STRING, .flags = VARLINK_ARRAY,
          .doc = "The calls a start makes on the hypervisor's API socket once it runs, in order." },
        {},
};

static const VarlinkSymbol method_debug = {
        .kind = VARLINK_SYMBOL_METHOD, .name = "Debug", .input = ref_in, .output = debug_out,
        .doc = "The command line the VM's unit runs and the API calls of its start (dry run).",
};

static const VarlinkField no_such_vm_fields[] = {
        { .name = "reference", .type = VARLINK_STRING },
        { .name = "message", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE },
        {},
};

static const VarlinkField ambiguous_fields[] = {
        { .name = "reference", .type = VARLINK_STRING },
        { .name = "candidates", .type = VARLINK_STRING, .flags = VARLINK_ARRAY },
        { .name = "message", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE },
        {},
};

static const VarlinkField name_in_use_fields[] = {
        { .name = "name", .type = VARLINK_STRING },
        { .name = "id", .type = VARLINK_STRING, .doc = "The VM that has the name." },
        { .name = "message", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE },
        {},
};

static const VarlinkField invalid_state_fields[] = {
        { .name = "id", .type = VARLINK_STRING },
        { .name = "state", .type = VARLINK_NAMED, .named_type = "State" },
        { .name = "message", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE },
        {},
};

static const VarlinkField invalid_configuration_fields[] = {
        { .name = "field", .type = VARLINK_STRING },
        { .name = "message", .type = VARLINK_STRING },
        {},
};

static const VarlinkField message_fields[] = {
        { .name = "message", .type = VARLINK_STRING },
        {},
};

static const VarlinkField hypervisor_failed_fields[] = {
        { .name = "id", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE },
        { .name = "message", .type = VARLINK_STRING },
        {},
};

static const VarlinkSymbol error_no_such_vm = {
        .kind = VARLINK_SYMBOL_ERROR, .name = "NoSuchVM", .input = no_such_vm_fields,
};
static const VarlinkSymbol error_ambiguous = {
        .kind = VARLINK_SYMBOL_ERROR, .name = "AmbiguousReference", .input = ambiguous_fields,
        .doc = "The prefix matches several VMs.",
};
static const VarlinkSymbol error_name_in_use = {
        .kind = VARLINK_SYMBOL_ERROR, .name = "NameInUse", .input = name_in_use_fields,
};
static const VarlinkSymbol error_invalid_state = {
        .kind = VARLINK_SYMBOL_ERROR, .name = "InvalidState", .input = invalid_state_fields,
        .doc = "The operation is not allowed in the VM's current state.",
};
static const VarlinkSymbol error_invalid_configuration = {
        .kind = VARLINK_SYMBOL_ERROR, .name = "InvalidConfiguration", .input = invalid_configuration_fields,
};
static const VarlinkSymbol error_not_supported = {
        .kind = VARLINK_SYMBOL_ERROR, .name = "NotSupported", .input = message_fields,
};
static const VarlinkSymbol error_hypervisor_failed = {
        .kind = VARLINK_SYMBOL_ERROR, .name = "HypervisorFailed", .input = hypervisor_failed_fields,
};
static const VarlinkSymbol error_record_not_written = {
        .kind = VARLINK_SYMBOL_ERROR, .name = "RecordNotWritten", .input = hypervisor_failed_fields,
        .doc = "The VM's record could not be written (e.g. the disk is full): the operation was undone where "
               "it could be (a started hypervisor is stopped, a created VM removed), and the call fails.",
};
static const VarlinkSymbol error_network_failed = {
        .kind = VARLINK_SYMBOL_ERROR, .name = "NetworkFailed", .input = hypervisor_failed_fields,
        .doc = "Setting up or checking the VM's CNI network failed (a plugin's error, its IPAM out of "
               "addresses, the network helper); message has the plugin's own text. Nothing of the failed "
               "setup is left.",
};
static const VarlinkSymbol error_subscriber_too_slow = {
        .kind = VARLINK_SYMBOL_ERROR, .name = "SubscriberTooSlow", .input = message_fields,
        .doc = "Ends a Watch whose caller let too many events pile up unread; watch again.",
};

static const VarlinkField console_in[] = {
        { .name = "ref", .type = VARLINK_STRING, .doc = "Id, name, or id prefix of at least 3 characters." },
        { .name = "readOnly", .type = VARLINK_BOOL, .flags = VARLINK_NULLABLE,
          .doc = "Drop what the caller sends (default false)." },
        { .name = "replay", .type = VARLINK_BOOL, .flags = VARLINK_NULLABLE,
          .doc = "Send the console log first (default false); works for stopped VMs too." },
        { .name = "follow", .type = VARLINK_BOOL, .flags = VARLINK_NULLABLE,
          .doc = "Then relay the live console (default true); needs a running VM." },
        { .name = "lines", .type = VARLINK_INT, .flags = VARLINK_NULLABLE,
          .doc = "With replay: only the last this many lines of the log (default all); a last line without "
                 "its newline counts. Found by reading backwards, so a big log is not sent whole." },
        { .name = "since", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE,
          .doc = "With replay: only the lines logged since this RFC 3339 time (default all), to the second; "
                 "with lines, the last of those." },
        {},
};

static const VarlinkField console_out[] = {
        { .name = "id", .type = VARLINK_STRING },
        { .name = "name", .type = VARLINK_STRING },
        {},
};

static const VarlinkSymbol method_console = {
        .kind = VARLINK_SYMBOL_METHOD, .name = "Console", .flags = VARLINK_SUPPORTS_UPGRADE,
        .input = console_in, .output = console_out,
        .doc = "Call with upgrade; after the reply the connection carries raw console bytes.",
};

static const VarlinkField clone_in[] = {
        { .name = "snapshot", .type = VARLINK_STRING,
          .doc = "Snapshot id, name, or id prefix of at least 3 characters (see io.cocoon.Snapshot)." },
        { .name = "name", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE,
          .doc = "Unique; default <snapshot name>-clone-<8 characters of the id>." },
        { .name = "cpu", .type = VARLINK_INT, .flags = VARLINK_NULLABLE,
          .doc = "Must equal the snapshot's (the vCPUs are in the saved state)." },
        { .name = "memory", .type = VARLINK_INT, .flags = VARLINK_NULLABLE,
          .doc = "Bytes; must equal the snapshot's (the RAM is in the saved state)." },
        { .name = "storage", .type = VARLINK_INT, .flags = VARLINK_NULLABLE,
          .doc = "Bytes of the COW disk: the snapshot's (default) or more, never less." },
        { .name = "start", .type = VARLINK_BOOL, .flags = VARLINK_NULLABLE,
          .doc = "Resume the snapshot's guest (default true); false: only created, the saved state kept in "
                 "the VM's directory, and its first Start resumes the saved guest." },
        {},
};

static const VarlinkSymbol method_clone = {
        .kind = VARLINK_SYMBOL_METHOD, .name = "Clone", .input = clone_in, .output = inspect_out,
        .doc = "A new VM (id, name, unit, generation ID) from a snapshot: its disks copied, the hypervisor "
               "loading the saved state and resuming it. Nothing stays behind when it fails.",
};

static const VarlinkField restore_in[] = {
        { .name = "vm", .type = VARLINK_STRING, .doc = "Id, name, or id prefix of at least 3 characters." },
        { .name = "snapshot", .type = VARLINK_STRING,
          .doc = "One of the VM's own snapshots: id, name, or id prefix of at least 3 characters." },
        {},
};

static const VarlinkSymbol method_restore = {
        .kind = VARLINK_SYMBOL_METHOD, .name = "Restore", .input = restore_in, .output = inspect_out,
        .doc = "A running VM back to one of its own snapshots, atomically: the restored hypervisor starts "
               "as the VM's other unit (cocoon-vm@<id>.service and cocoon-vm@<id>-r.service take turns) "
               "from copies of the snapshot's disks; only once it runs are the disks swapped, the record's "
               "unit changed and the old unit stopped. Any failure before that leaves the VM as it was "
               "(same process, same disks, running). A VM with NICs is refused (NotSupported).",
};

static const VarlinkField no_such_snapshot_fields[] = {
        { .name = "reference", .type = VARLINK_STRING },
        { .name = "message", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE },
        {},
};

static const VarlinkSymbol error_no_such_snapshot = {
        .kind = VARLINK_SYMBOL_ERROR, .name = "NoSuchSnapshot", .input = no_such_snapshot_fields,
        .doc = "No snapshot, or several, match the reference.",
};
static const VarlinkSymbol error_incompatible_snapshot = {
        .kind = VARLINK_SYMBOL_ERROR, .name = "IncompatibleSnapshot", .input = invalid_configuration_fields,
        .doc = "The snapshot cannot run here; field names what differs: backend, hypervisorVersion, "
               "machine, cpuModel or accel; for Restore also cpu, memory or storageConfigs.",
};

static const VarlinkSymbol *const symbols[] = {
        &type_state,
        &type_runtime,
        &type_vm,
        &method_list,
        &method_inspect,
        &type_result,
        &method_create,
        &method_start,
        &method_stop,
        &method_delete,
        &method_restart,
        &method_kill,
        &method_watch,
        &method_debug,
        &method_console,
        &method_clone,
        &method_restore,
        &error_no_such_vm,
        &error_ambiguous,
        &error_name_in_use,
        &error_invalid_state,
        &error_invalid_configuration,
        &error_not_supported,
        &error_hypervisor_failed,
        &error_record_not_written,
        &error_network_failed,
        &error_subscriber_too_slow,
        &error_no_such_snapshot,
        &error_incompatible_snapshot,
        NULL,
};

const VarlinkInterface vl_interface_io_cocoon_VM = {
        .name = "io.cocoon.VM",
        .symbols = symbols,
        .doc = "Virtual machines.",
};
