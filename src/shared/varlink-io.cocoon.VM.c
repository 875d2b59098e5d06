/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Interface io.cocoon.VM: create, run, watch and remove virtual machines. */
#include "varlink-interfaces.h"

static const char *const state_values[] = { "creating", "created", "running", "stopped", "error", NULL };

static const VarlinkSymbol type_state = {
        .kind = VARLINK_SYMBOL_ENUM_TYPE,
        .name = "State",
        .enum_values = state_values,
        .doc = "creating -> created -> running <-> stopped; any -> error.",
};

static const VarlinkField runtime_fields[] = {
        { .name = "unit", .type = VARLINK_STRING, .doc = "cocoon-vm@<id>.service" },
        { .name = "activeState", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE },
        { .name = "subState", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE },
        { .name = "mainPID", .type = VARLINK_INT, .flags = VARLINK_NULLABLE },
        { .name = "memoryCurrent", .type = VARLINK_INT, .flags = VARLINK_NULLABLE, .doc = "Bytes." },
        { .name = "cpuUsageNSec", .type = VARLINK_INT, .flags = VARLINK_NULLABLE },
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
        { .name = "networkConfigs", .type = VARLINK_OBJECT, .flags = VARLINK_NULLABLE | VARLINK_ARRAY },
        { .name = "bootConfig", .type = VARLINK_OBJECT, .flags = VARLINK_NULLABLE },
        { .name = "firstBooted", .type = VARLINK_BOOL, .flags = VARLINK_NULLABLE },
        { .name = "snapshotIds", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE | VARLINK_ARRAY },
        { .name = "imageBlobIds", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE | VARLINK_ARRAY },
        { .name = "createdAt", .type = VARLINK_STRING, .doc = "RFC 3339." },
        { .name = "updatedAt", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE },
        { .name = "startedAt", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE },
        { .name = "stoppedAt", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE },
        { .name = "runDir", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE },
        { .name = "logDir", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE },
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

static const VarlinkSymbol method_list = {
        .kind = VARLINK_SYMBOL_METHOD,
        .name = "List",
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

static const VarlinkSymbol *const symbols[] = {
        &type_state,
        &type_runtime,
        &type_vm,
        &method_list,
        &method_inspect,
        &error_no_such_vm,
        &error_ambiguous,
        &error_name_in_use,
        &error_invalid_state,
        &error_invalid_configuration,
        &error_not_supported,
        &error_hypervisor_failed,
        NULL,
};

const VarlinkInterface vl_interface_io_cocoon_VM = {
        .name = "io.cocoon.VM",
        .symbols = symbols,
        .doc = "Virtual machines.",
};
