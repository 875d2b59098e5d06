/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Interface io.cocoon.Manager: the manager itself (description, garbage collection). */
#include "varlink-interfaces.h"

static const VarlinkField backend_fields[] = {
        { .name = "name", .type = VARLINK_STRING,
          .doc = "A backend this build implements: qemu, cloud-hypervisor, firecracker." },
        { .name = "available", .type = VARLINK_BOOL,
          .doc = "Whether the binary the configuration names is an executable that answers --version." },
        { .name = "path", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE },
        { .name = "version", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE },
        {},
};

static const VarlinkSymbol type_backend = {
        .kind = VARLINK_SYMBOL_STRUCT_TYPE,
        .name = "Backend",
        .input = backend_fields,
        .doc = "A hypervisor backend this build implements and whether this host can run it.",
};

static const VarlinkField describe_out[] = {
        { .name = "version", .type = VARLINK_STRING },
        { .name = "stateDirectory", .type = VARLINK_STRING },
        { .name = "runtimeDirectory", .type = VARLINK_STRING },
        { .name = "logDirectory", .type = VARLINK_STRING },
        { .name = "backends", .type = VARLINK_NAMED, .named_type = "Backend", .flags = VARLINK_ARRAY },
        { .name = "defaultBackend", .type = VARLINK_STRING,
          .doc = "The backend of a VM created without one: DefaultBackend=, auto resolved (cloud-hypervisor "
                 "when available, else qemu)." },
        { .name = "accelerator", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE,
          .doc = "kvm or tcg: what Accel=auto chooses on this host." },
        { .name = "vms", .type = VARLINK_INT, .doc = "Number of VM records." },
        { .name = "vmsByState", .type = VARLINK_INT, .flags = VARLINK_MAP },
        { .name = "corruptRecords", .type = VARLINK_INT,
          .doc = "Records moved aside at start because they failed to parse." },
        { .name = "connections", .type = VARLINK_INT },
        { .name = "configWarnings", .type = VARLINK_STRING, .flags = VARLINK_ARRAY,
          .doc = "Settings of cocoon.conf (and its drop-ins) ignored at start, one "
                 "\"<file>:<line>: <what>\" each: unknown sections and keys." },
        {},
};

static const VarlinkSymbol method_describe = {
        .kind = VARLINK_SYMBOL_METHOD,
        .name = "Describe",
        .output = describe_out,
        .doc = "Version, directories, the backends this build implements, record counts and configuration "
               "warnings.",
};

static const VarlinkField garbage_collect_out[] = {
        { .name = "removedDirectories", .type = VARLINK_STRING, .flags = VARLINK_ARRAY },
        { .name = "removedRecords", .type = VARLINK_STRING, .flags = VARLINK_ARRAY,
          .doc = "Ids of VMs left in state creating for over 24 hours." },
        { .name = "removedBlobs", .type = VARLINK_STRING, .flags = VARLINK_ARRAY,
          .doc = "Image blob files no image and no VM referenced." },
        { .name = "removedLinks", .type = VARLINK_STRING, .flags = VARLINK_ARRAY,
          .doc = "TAP devices named like a VM's NIC (cocoon, 8 characters of an id, a digit) whose VM is "
                 "gone, or is stopped, failed or created with no operation in flight." },
        { .name = "removedNetworkNamespaces", .type = VARLINK_STRING, .flags = VARLINK_ARRAY,
          .doc = "Network namespaces cocoon-<id> (under /run/netns) of no VM." },
        { .name = "removedLeases", .type = VARLINK_STRING, .flags = VARLINK_ARRAY,
          .doc = "IPAM (host-local) lease files naming a VM that is gone: released through CNI DEL where "
                 "the conflist still exists, else removed." },
        {},
};

static const VarlinkSymbol method_garbage_collect = {
        .kind = VARLINK_SYMBOL_METHOD,
        .name = "GarbageCollect",
        .output = garbage_collect_out,
        .doc = "Removes VM directories without a record, VMs stuck in state creating, unused image blobs, "
               "TAPs no VM uses, and the CNI namespaces and leases of VMs that are gone. Never touches a VM "
               "with an operation in flight or a record that failed to load.",
};

static const VarlinkField operation_fields[] = {
        { .name = "id", .type = VARLINK_INT, .doc = "Counts up from 1 for each manager process." },
        { .name = "method", .type = VARLINK_STRING, .doc = "The method called, e.g. io.cocoon.VM.Stop." },
        { .name = "vms", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE | VARLINK_ARRAY,
          .doc = "The VM references the call named (refs or ref), or the name Create gives the new VM." },
        { .name = "image", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE,
          .doc = "The image: the name Import gives it, or the image Create uses." },
        { .name = "snapshot", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE,
          .doc = "The snapshot: the one Export, Delete, Clone or Restore reads (as the caller named it), or "
                 "the name Save or Import gives the new one." },
        { .name = "startedAt", .type = VARLINK_STRING, .doc = "When the call came, RFC 3339." },
        { .name = "uid", .type = VARLINK_INT, .flags = VARLINK_NULLABLE, .doc = "The caller's uid." },
        { .name = "detached", .type = VARLINK_BOOL,
          .doc = "The caller went away (Ctrl-C) and the work goes on without it: a VM operation or "
                 "GarbageCollect stays listed, so marked, until its work ends." },
        { .name = "bytesDone", .type = VARLINK_INT, .flags = VARLINK_NULLABLE,
          .doc = "Bytes copied so far, for operations that report progress (Image and Snapshot Import, "
                 "Snapshot Export: bytes of the payload's data)." },
        { .name = "bytesTotal", .type = VARLINK_INT, .flags = VARLINK_NULLABLE,
          .doc = "Bytes to copy in all, once known." },
        {},
};

static const VarlinkSymbol type_operation = {
        .kind = VARLINK_SYMBOL_STRUCT_TYPE,
        .name = "Operation",
        .input = operation_fields,
        .doc = "A long call the manager is working on.",
};

static const VarlinkField list_operations_out[] = {
        { .name = "operations", .type = VARLINK_NAMED, .named_type = "Operation", .flags = VARLINK_ARRAY,
          .doc = "Oldest first." },
        {},
};

static const VarlinkSymbol method_list_operations = {
        .kind = VARLINK_SYMBOL_METHOD,
        .name = "ListOperations",
        .output = list_operations_out,
        .doc = "The operations in flight: VM Create, Start, Stop, Delete, Kill, Restart, Clone, Restore, "
               "Image Import, Snapshot Save, Delete, Export and Import and GarbageCollect calls the "
               "manager works on. When a caller disconnects, its Image Import is cancelled and goes off "
               "the list; VM operations, GarbageCollect and Snapshot Export and Import carry on and stay "
               "listed, detached, until their work ends (Export and Import also past their upgrade).",
};

static const VarlinkSymbol *const symbols[] = {
        &type_backend,
        &type_operation,
        &method_describe,
        &method_garbage_collect,
        &method_list_operations,
        NULL,
};

const VarlinkInterface vl_interface_io_cocoon_Manager = {
        .name = "io.cocoon.Manager",
        .symbols = symbols,
        .doc = "The cocoon manager.",
};
