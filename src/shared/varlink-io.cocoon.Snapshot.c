/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Interface io.cocoon.Snapshot: save a running VM's state and disks, list, inspect and delete snapshots. */
#include "varlink-interfaces.h"

static const char *const memory_format_values[] = {"file", "stream", NULL};

static const VarlinkField snapshot_fields[] = {
        {.name = "id", .type = VARLINK_STRING, .doc = "26 characters of lowercase base32."},
        {.name = "name", .type = VARLINK_STRING, .doc = "Unique among snapshots."},
        {.name = "description", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE},
        {.name = "createdAt", .type = VARLINK_STRING, .doc = "RFC 3339."},
        {.name = "vm", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE, .doc = "Id of the source VM."},
        {.name = "backend", .type = VARLINK_STRING},
        {.name = "hypervisorVersion", .type = VARLINK_STRING, .doc = "Of the binary that wrote the state."},
        {.name = "machine", .type = VARLINK_STRING},
        {.name = "cpuModel", .type = VARLINK_STRING},
        {.name = "accel", .type = VARLINK_STRING, .doc = "kvm or tcg."},
        {.name = "memoryFormat",
         .type = VARLINK_ENUM_INLINE,
         .enum_values = memory_format_values,
         .doc = "file: the guest's RAM is a file of the snapshot that clones map copy-on-write; stream: it is "
                "in the saved state (a snapshot of a clone, whose RAM is private)."},
        {.name = "config",
         .type = VARLINK_OBJECT,
         .doc = "cpu, memory, storage (bytes), image, imageDigest."},
        {.name = "storageConfigs",
         .type = VARLINK_OBJECT,
         .flags = VARLINK_ARRAY,
         .doc = "The source's disks; the writable ones are in the snapshot."},
        {.name = "imageBlobIds",
         .type = VARLINK_STRING,
         .flags = VARLINK_NULLABLE | VARLINK_ARRAY,
         .doc = "Image blobs the snapshot keeps from garbage collection."},
        {},
};

static const VarlinkSymbol type_snapshot = {
        .kind = VARLINK_SYMBOL_STRUCT_TYPE,
        .name = "Snapshot",
        .input = snapshot_fields,
        .doc = "A complete snapshot: what a clone needs, and what it must match.",
};

static const VarlinkField save_in[] = {
        {.name = "vm", .type = VARLINK_STRING, .doc = "The running VM: id, name, or unique id prefix."},
        {.name = "name",
         .type = VARLINK_STRING,
         .flags = VARLINK_NULLABLE,
         .doc = "[A-Za-z0-9][A-Za-z0-9._-]{0,62}; default <vm name>-snap-<8 characters of the id>."},
        {.name = "description",
         .type = VARLINK_STRING,
         .flags = VARLINK_NULLABLE,
         .doc = "Up to 1024 printable characters."},
        {},
};

static const VarlinkField snapshot_out[] = {
        {.name = "snapshot", .type = VARLINK_NAMED, .named_type = "Snapshot"},
        {},
};

static const VarlinkField save_out[] = {
        {.name = "snapshot",
         .type = VARLINK_NAMED,
         .named_type = "Snapshot",
         .flags = VARLINK_NULLABLE,
         .doc = "In the final reply."},
        {.name = "bytesDone",
         .type = VARLINK_INT,
         .flags = VARLINK_NULLABLE,
         .doc = "In the replies before it (continues: true), when called with more: the state's bytes and "
                "the disk copies' data written so far."},
        {.name = "bytesTotal",
         .type = VARLINK_INT,
         .flags = VARLINK_NULLABLE,
         .doc = "With bytesDone: about what the save writes, the guest's memory and its disks' data."},
        {},
};

static const VarlinkSymbol method_save = {
        .kind = VARLINK_SYMBOL_METHOD,
        .name = "Save",
        .flags = VARLINK_SUPPORTS_MORE,
        .input = save_in,
        .output = save_out,
        .doc = "Pauses the VM, writes its device and RAM state and a copy of every writable disk into a new "
               "snapshot, and resumes it (also when the save fails or the caller leaves). Serialized with "
               "the "
               "VM's other operations. Listed only once complete.",
};

static const VarlinkField list_in[] = {
        {.name = "vm",
         .type = VARLINK_STRING,
         .flags = VARLINK_NULLABLE,
         .doc = "Only the snapshots of this VM (reference)."},
        {},
};

static const VarlinkField list_out[] = {
        {.name = "snapshots", .type = VARLINK_NAMED, .named_type = "Snapshot", .flags = VARLINK_ARRAY},
        {},
};

static const VarlinkSymbol method_list = {
        .kind = VARLINK_SYMBOL_METHOD,
        .name = "List",
        .input = list_in,
        .output = list_out,
        .doc = "Complete snapshots, oldest first.",
};

static const VarlinkField ref_in[] = {
        {.name = "ref",
         .type = VARLINK_STRING,
         .doc = "Id, name, or unique id prefix of at least 3 characters."},
        {},
};

static const VarlinkSymbol method_inspect = {
        .kind = VARLINK_SYMBOL_METHOD,
        .name = "Inspect",
        .input = ref_in,
        .output = snapshot_out,
        .doc = "One snapshot by reference.",
};

static const VarlinkField delete_out[] = {
        {.name = "id", .type = VARLINK_STRING},
        {},
};

static const VarlinkSymbol method_delete = {
        .kind = VARLINK_SYMBOL_METHOD,
        .name = "Delete",
        .input = ref_in,
        .output = delete_out,
        .doc = "Removes a snapshot and its files, and its id from the source VM's snapshotIds.",
};

static const VarlinkField export_in[] = {
        {.name = "snapshot",
         .type = VARLINK_STRING,
         .doc = "Id, name, or unique id prefix of at least 3 characters."},
        {.name = "compression",
         .type = VARLINK_STRING,
         .flags = VARLINK_NULLABLE,
         .doc = "none (default), gzip or zstd."},
        {},
};

static const VarlinkField export_out[] = {
        {.name = "snapshot", .type = VARLINK_NAMED, .named_type = "Snapshot"},
        {.name = "bytesTotal", .type = VARLINK_INT, .doc = "The payload's data, before compression."},
        {},
};

static const VarlinkSymbol method_export = {
        .kind = VARLINK_SYMBOL_METHOD,
        .name = "Export",
        .flags = VARLINK_SUPPORTS_UPGRADE,
        .input = export_in,
        .output = export_out,
        .doc = "Called with upgrade: after the reply the connection carries the snapshot as one pax tar "
               "(snapshot.json first, then the payload; sparse files as sparse entries) in frames: a 4-byte "
               "big-endian length and that many bytes; a frame of length 0 ends the archive and is followed "
               "by the outcome as one Varlink message (JSON and a NUL byte): {\"parameters\": "
               "{\"bytesDone\": "
               "N}}, or {\"error\": \"io.cocoon.Snapshot.SnapshotFailed\", \"parameters\": {...}} when the "
               "archive is incomplete. A reader that takes nothing for 60 s is dropped. The snapshot cannot "
               "be deleted meanwhile.",
};

static const VarlinkField import_in[] = {
        {.name = "fileDescriptor",
         .type = VARLINK_INT,
         .flags = VARLINK_NULLABLE,
         .doc = "Index of a descriptor passed with the call that the archive is read from. Without it, "
                "call with upgrade and send the archive after the reply."},
        {.name = "name",
         .type = VARLINK_STRING,
         .flags = VARLINK_NULLABLE,
         .doc = "The imported snapshot's name; default the archive's."},
        {},
};

static const VarlinkField import_out[] = {
        {.name = "snapshot",
         .type = VARLINK_NAMED,
         .named_type = "Snapshot",
         .flags = VARLINK_NULLABLE,
         .doc = "The imported snapshot (final reply)."},
        {.name = "bytesDone",
         .type = VARLINK_INT,
         .flags = VARLINK_NULLABLE,
         .doc = "Progress (replies with continues, when called with more): archive bytes read."},
        {.name = "bytesTotal",
         .type = VARLINK_INT,
         .flags = VARLINK_NULLABLE,
         .doc = "The archive's size, when it is a file."},
        {},
};

static const VarlinkSymbol method_import = {
        .kind = VARLINK_SYMBOL_METHOD,
        .name = "Import",
        .flags = VARLINK_SUPPORTS_MORE | VARLINK_SUPPORTS_UPGRADE,
        .input = import_in,
        .output = import_out,
        .doc = "Reads a snapshot archive (as Export writes it; plain, gzip or zstd) as untrusted input: "
               "regular files only, plain names of the payload snapshot.json describes, each once, sizes "
               "within the record's bounds and the free space, snapshot.json first and valid. The "
               "snapshot keeps its id unless one with that id exists here (then it gets a new one) and "
               "needs a name no other snapshot has. Nothing is kept on any failure. With upgrade (no "
               "fileDescriptor) the reply is empty, the caller sends the archive and shuts down its "
               "sending side, and the outcome follows on the connection as one Varlink message (JSON "
               "and a NUL byte): the final reply or error.",
};

static const VarlinkField invalid_archive_fields[] = {
        {.name = "message", .type = VARLINK_STRING, .doc = "What is wrong with the archive."},
        {},
};

static const VarlinkField reference_fields[] = {
        {.name = "reference", .type = VARLINK_STRING},
        {.name = "candidates",
         .type = VARLINK_STRING,
         .flags = VARLINK_NULLABLE | VARLINK_ARRAY,
         .doc = "Ids sharing the prefix, when it is ambiguous."},
        {.name = "message", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE},
        {},
};

static const VarlinkField name_in_use_fields[] = {
        {.name = "name", .type = VARLINK_STRING},
        {.name = "id", .type = VARLINK_STRING, .doc = "The snapshot that has it."},
        {.name = "message", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE},
        {},
};

static const VarlinkField invalid_state_fields[] = {
        {.name = "id", .type = VARLINK_STRING},
        {.name = "state", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE},
        {.name = "message", .type = VARLINK_STRING},
        {},
};

static const VarlinkField field_message_fields[] = {
        {.name = "field", .type = VARLINK_STRING, .doc = "The parameter (or record field) at fault."},
        {.name = "message", .type = VARLINK_STRING},
        {},
};

static const VarlinkField failed_fields[] = {
        {.name = "id", .type = VARLINK_STRING, .flags = VARLINK_NULLABLE, .doc = "The VM."},
        {.name = "message", .type = VARLINK_STRING},
        {},
};

static const VarlinkSymbol error_no_such_snapshot = {
        .kind = VARLINK_SYMBOL_ERROR,
        .name = "NoSuchSnapshot",
        .input = reference_fields,
        .doc = "No snapshot, or several, match the reference.",
};
static const VarlinkSymbol error_no_such_vm = {
        .kind = VARLINK_SYMBOL_ERROR,
        .name = "NoSuchVM",
        .input = reference_fields,
        .doc = "No VM, or several, match the reference.",
};
static const VarlinkSymbol error_name_in_use = {
        .kind = VARLINK_SYMBOL_ERROR,
        .name = "NameInUse",
        .input = name_in_use_fields,
};
static const VarlinkSymbol error_invalid_state = {
        .kind = VARLINK_SYMBOL_ERROR,
        .name = "InvalidState",
        .input = invalid_state_fields,
        .doc = "The VM is not running.",
};
static const VarlinkSymbol error_invalid_configuration = {
        .kind = VARLINK_SYMBOL_ERROR,
        .name = "InvalidConfiguration",
        .input = field_message_fields,
};
static const VarlinkSymbol error_incompatible_snapshot = {
        .kind = VARLINK_SYMBOL_ERROR,
        .name = "IncompatibleSnapshot",
        .input = field_message_fields,
        .doc = "The snapshot cannot be used here: field names what differs (backend, hypervisorVersion, "
               "machine, cpuModel, accel) or what is missing (files).",
};
static const VarlinkSymbol error_snapshot_failed = {
        .kind = VARLINK_SYMBOL_ERROR,
        .name = "SnapshotFailed",
        .input = failed_fields,
        .doc = "The hypervisor or a copy failed; nothing was kept and the VM runs on.",
};

static const VarlinkSymbol error_invalid_archive = {
        .kind = VARLINK_SYMBOL_ERROR,
        .name = "InvalidArchive",
        .input = invalid_archive_fields,
        .doc = "The archive was refused; nothing of it was kept.",
};

static const VarlinkSymbol *const symbols[] = {
        &type_snapshot,
        &method_save,
        &method_list,
        &method_inspect,
        &method_delete,
        &method_export,
        &method_import,
        &error_no_such_snapshot,
        &error_no_such_vm,
        &error_name_in_use,
        &error_invalid_state,
        &error_invalid_configuration,
        &error_incompatible_snapshot,
        &error_snapshot_failed,
        &error_invalid_archive,
        NULL,
};

const VarlinkInterface vl_interface_io_cocoon_Snapshot = {
        .name = "io.cocoon.Snapshot",
        .symbols = symbols,
        .doc = "Snapshots of running VMs: device and RAM state plus disk copies, for clones.",
};
