/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* io.cocoon.Snapshot.Export and Import: snapshot archives over Varlink, the bytes moved by worker threads.
 */
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd-util.h"
#include "fs-util.h"
#include "id.h"
#include "job-queue.h"
#include "json-util.h"
#include "log.h"
#include "manager-operations.h"
#include "snapshot-archive.h"
#include "snapshot-store.h"
#include "snapshot-transfer.h"
#include "snapshot-varlink.h"
#include "store.h"
#include "time-util.h"
#include "varlink-interfaces.h"

/* A peer that takes (export) or sends (import) nothing this long is dropped: it holds a worker meanwhile. */
#define TRANSFER_STALL_USEC (60 * USEC_PER_SEC)
/* How often a caller that asked for more hears of an import's progress. */
#define TRANSFER_PROGRESS_INTERVAL_USEC (200 * USEC_PER_MSEC)

/* A Varlink message on a connection that left Varlink: the outcome after an upgraded transfer. */
static int write_message(int fd, const char *error_id, json_object *parameters,
                         const SnapshotArchiveIO *io) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        if (!o || (error_id && json_add_string(o, "error", error_id) < 0))
                return -ENOMEM;
        if (parameters && json_object_object_add(o, "parameters", json_object_get(parameters)) < 0)
                return -ENOMEM;
        const char *text = json_to_string(o);
        int r = snapshot_archive_write_all(fd, text, strlen(text), io);
        return r < 0 ? r : snapshot_archive_write_all(fd, "", 1, io);
}

static json_object *message_parameters(const char *id, const char *message) {
        json_object *p = json_object_new_object();
        if (p && ((id && json_add_string(p, "id", id) < 0) || json_add_string(p, "message", message) < 0))
                p = (json_object_put(p), NULL);
        return p;
}

/* ---- Export ---- */

typedef struct ExportCall {
        Manager *manager;
        Varlink *link; /* until the reply */
        char id[ID_LENGTH + 1];
        char *dir;
        SnapshotCompression compression;
        int cancel_fd; /* the job queue's: a clean exit stops the transfer */
        int fd; /* the upgraded connection */
        uint64_t total;
        int result;
        char *error;
        uint64_t operation;          /* listed in ListOperations until the archive is written */
        OperationProgress progress;
} ExportCall;

static void export_call_free(ExportCall *c) {
        Snapshot *s = snapshot_store_get(c->manager->snapshots, c->id);
        if (s && s->users > 0)
                s->users--;
        operations_detach_progress(c->manager->operations, &c->progress);
        operations_end(c->manager->operations, c->operation);
        varlink_unref(c->link);
        safe_close(c->fd);
        free(c->dir);
        free(c->error);
        free(c);
}

static int export_measure_work(void *userdata) {
        ExportCall *c = userdata;
        _cleanup_close_ int dir_fd = open(c->dir, O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (dir_fd < 0)
                return -errno;
        return snapshot_archive_measure(dir_fd, &c->total, &c->error);
}

/* The archive code's progress callback (a worker's): the bytes done, for ListOperations and more replies. */
static int transfer_progress(uint64_t done, uint64_t total, void *userdata) {
        OperationProgress *p = userdata;
        atomic_store(&p->done, done);
        return 0;
}

static int export_work(void *userdata) {
        ExportCall *c = userdata;
        SnapshotArchiveIO io = {.cancel_fd = c->cancel_fd,
                                .stall_usec = TRANSFER_STALL_USEC,
                                .framed = true,
                                .progress = transfer_progress,
                                .userdata = &c->progress};
        _cleanup_close_ int dir_fd = open(c->dir, O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        int r = dir_fd < 0 ? -errno : snapshot_archive_write(dir_fd, c->fd, c->compression, &io, &c->error);

        /* The end frame and the outcome, unless the reader is what failed. */
        if (r == -ETIMEDOUT || r == -EPIPE || r == -ECONNRESET)
                return r;
        static const uint8_t end[4] = {};
        _cleanup_(json_object_putp) json_object *p = NULL;
        if (r >= 0)
                p = json_object_new_object();
        else
                p = message_parameters(c->id, c->error ?: strerror(-r));
        if (!p || (r >= 0 && json_add_uint64(p, "bytesDone", c->total) < 0))
                return -ENOMEM;
        int k = snapshot_archive_write_all(c->fd, end, sizeof(end), &io);
        if (k >= 0)
                k = write_message(c->fd, r < 0 ? SNAPSHOT_ERROR_SNAPSHOT_FAILED : NULL, p, &io);
        return r < 0 ? r : k;
}

static void export_done(int result, void *userdata) {
        ExportCall *c = userdata;
        if (result < 0)
                log_warning("Export of snapshot %s failed: %s", c->id, c->error ?: strerror(-result));
        else
                log_info("Snapshot %s exported.", c->id);
        Manager *m = c->manager;
        export_call_free(c);
        manager_check_idle(m);
}

static void export_upgraded(int fd, int error, void *userdata) {
        ExportCall *c = userdata;
        Manager *m = c->manager;
        if (error < 0) {
                log_debug_errno(error, "Export client of snapshot %s left before the reply: %m", c->id);
                return export_call_free(c);
        }
        c->fd = fd;
        c->link = varlink_unref(c->link);
        operations_upgraded(m->operations, c->operation);
        int r = job_submit(m->jobs, export_work, export_done, c);
        if (r < 0)
                return export_call_free(c); /* shutting down: closing says the archive is incomplete */
        /* The upgrade took the connection off the server's count and may have armed the idle timer. */
        manager_check_idle(m);
}

static void export_measured(int result, void *userdata) {
        ExportCall *c = userdata;
        Snapshot *s = snapshot_store_get(c->manager->snapshots, c->id);
        _cleanup_(json_object_putp) json_object *reply = json_object_new_object();
        json_object *o = NULL;
        int r;

        if (result == -ECANCELED) {
                (void) varlink_errorf(c->link, COCOON_ERROR_SHUTTING_DOWN, "the manager is shutting down");
                return export_call_free(c);
        }
        if (result < 0 || !s) {
                _cleanup_(json_object_putp) json_object *p =
                        message_parameters(c->id, c->error ?: "the snapshot's files are unusable");
                (void) varlink_error(c->link, SNAPSHOT_ERROR_SNAPSHOT_FAILED, p);
                return export_call_free(c);
        }
        if (!reply || (r = snapshot_to_public_json(s, &o)) < 0 ||
            (r = json_add_object(reply, "snapshot", o)) < 0 ||
            (r = json_add_uint64(reply, "bytesTotal", c->total)) < 0) {
                (void) varlink_error_errno(c->link, ENOMEM);
                return export_call_free(c);
        }
        atomic_store(&c->progress.total, c->total);
        r = varlink_reply_and_upgrade(c->link, reply, export_upgraded, c);
        if (r < 0) {
                log_warning_errno(r, "Failed to upgrade the export connection: %m");
                export_call_free(c);
        }
}

int vl_method_snapshot_export(Varlink *link, json_object *parameters, VarlinkMethodFlags flags,
                              void *userdata) {
        Manager *m = userdata;
        const char *ref, *compression = NULL;
        const Snapshot *cs;

        if (json_get_string(parameters, "snapshot", &ref) < 0)
                return varlink_error_invalid_parameter(link, "snapshot");
        if (json_get_string(parameters, "compression", &compression) == -EINVAL)
                return varlink_error_invalid_parameter(link, "compression");
        SnapshotCompression comp =
                compression ? snapshot_compression_from_string(compression) : SNAPSHOT_COMPRESSION_NONE;
        if (comp < 0)
                return varlink_error_field(link, SNAPSHOT_ERROR_INVALID_CONFIGURATION, "compression",
                                           "compression must be none, gzip or zstd");
        if (!(flags & VARLINK_METHOD_UPGRADE))
                return varlink_error_field(link, SNAPSHOT_ERROR_INVALID_CONFIGURATION, "upgrade",
                                           "Export requires upgrade: after the reply the connection carries "
                                           "the archive");
        int r = snapshot_store_resolve(m->snapshots, ref, &cs, NULL);
        if (r < 0)
                return snapshot_reply_reference_error(link, SNAPSHOT_ERROR_NO_SUCH_SNAPSHOT, "snapshot", ref, r, NULL);
        ExportCall *c = calloc(1, sizeof(ExportCall));
        if (!c)
                return -ENOMEM;
        *c = (ExportCall){
                .manager = m, .compression = comp, .fd = -EBADF, .cancel_fd = job_queue_cancel_fd(m->jobs)};
        memcpy(c->id, cs->id, sizeof(c->id));
        if ((r = snapshot_store_dir(m->snapshots, c->id, &c->dir)) < 0) {
                free(c);
                return r;
        }
        /* Delete refuses while the archive is being read. */
        snapshot_store_get(m->snapshots, c->id)->users++;
        c->link = varlink_ref(link);
        /* Listed, with progress, until the archive is written: past the reply, on the upgraded socket. */
        c->operation = operations_hold(m->operations, link);
        (void) operations_attach_progress(m->operations, link, &c->progress);
        r = job_submit(m->jobs, export_measure_work, export_measured, c);
        if (r < 0) {
                export_call_free(c);
                return varlink_errorf(link, COCOON_ERROR_SHUTTING_DOWN, "the manager is shutting down");
        }
        return 0;
}

/* ---- Import ---- */

typedef struct ImportCall {
        Manager *manager;
        Varlink *link; /* the call, when the archive came as a descriptor; NULL once upgraded */
        int in_fd; /* the descriptor, or the upgraded connection */
        bool upgraded;
        char *name; /* asked for */
        int cancel_fd;
        SnapshotArchiveReader *reader;
        char id[ID_LENGTH + 1]; /* the pending record, once registered */
        char *dir;
        char *error;
        OperationProgress progress; /* also ListOperations' */
        uint64_t operation;         /* listed until the import ends, also past an upgrade */
        uint64_t progress_sent;
        sd_event_source *progress_timer;
} ImportCall;

static ImportCall *import_call_free(ImportCall *c) {
        if (!c)
                return NULL;
        operations_detach_progress(c->manager->operations, &c->progress);
        operations_end(c->manager->operations, c->operation);
        sd_event_source_disable_unref(c->progress_timer);
        snapshot_archive_reader_free(c->reader);
        varlink_unref(c->link);
        safe_close(c->in_fd);
        free(c->name);
        free(c->dir);
        free(c->error);
        return mfree(c);
}

/* The outcome, to whichever way the caller waits for it; then the call is over. */
static void import_finish(ImportCall *c, const char *error_id, json_object *parameters) {
        Manager *m = c->manager;
        /* Nothing stays: the record now, the files in a worker (gc finds what that leaves). */
        if (error_id && !isempty(c->id))
                (void) snapshot_drop(m, c->id, NULL);
        if (c->link && error_id)
                (void) varlink_error(c->link, error_id, parameters);
        else if (c->link)
                (void) varlink_reply(c->link, parameters);
        else if (c->upgraded) {
                SnapshotArchiveIO io = {.cancel_fd = -EBADF, .stall_usec = 1};
                (void) fd_nonblock(c->in_fd, true);
                /* The peer waits for it with an empty socket buffer this way: it fits. */
                (void) write_message(c->in_fd, error_id, parameters, &io);
        }
        import_call_free(c);
        manager_check_idle(m);
}

static void import_fail(ImportCall *c, const char *error_id, const char *message) {
        _cleanup_(json_object_putp) json_object *p = message_parameters(NULL, message);
        import_finish(c, error_id, p);
}

static void import_fail_result(ImportCall *c, int result) {
        if (result == -ECANCELED)
                return import_fail(c, COCOON_ERROR_SHUTTING_DOWN, "the manager is shutting down");
        if (result == -EBADMSG || result == -ETIMEDOUT)
                return import_fail(c, SNAPSHOT_ERROR_INVALID_ARCHIVE, c->error ?: "the archive is invalid");
        _cleanup_free_ char *message = NULL;
        if (asprintf(&message, "cannot import the archive: %s", c->error ?: strerror(-result)) < 0)
                message = NULL;
        import_fail(c, SNAPSHOT_ERROR_SNAPSHOT_FAILED, message ?: "cannot import the archive");
}

static SnapshotArchiveIO import_io(ImportCall *c) {
        return (SnapshotArchiveIO){.cancel_fd = c->cancel_fd,
                                   .stall_usec = TRANSFER_STALL_USEC,
                                   .progress = transfer_progress,
                                   .userdata = &c->progress};
}

static int import_open_work(void *userdata) {
        ImportCall *c = userdata;
        SnapshotArchiveIO io = import_io(c);
        struct stat st;
        if (fstat(c->in_fd, &st) >= 0 && S_ISREG(st.st_mode))
                atomic_store(&c->progress.total, (uint64_t) st.st_size);
        return snapshot_archive_reader_open(c->in_fd, &io, &c->reader, &c->error);
}

static int import_extract_work(void *userdata) {
        ImportCall *c = userdata;
        _cleanup_close_ int dir_fd = open(c->dir, O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (dir_fd < 0)
                return -errno;
        return snapshot_archive_reader_extract(c->reader, snapshot_archive_reader_snapshot(c->reader),
                                               dir_fd, &c->error);
}

static void import_extracted(int result, void *userdata) {
        ImportCall *c = userdata;
        Manager *m = c->manager;
        if (result < 0)
                return import_fail_result(c, result);
        int r = snapshot_store_commit(m->snapshots, c->id);
        const Snapshot *s = snapshot_store_get(m->snapshots, c->id);
        _cleanup_(json_object_putp) json_object *reply = json_object_new_object();
        json_object *o = NULL;
        if (r < 0 || !s || !reply || snapshot_to_public_json(s, &o) < 0 ||
            json_add_object(reply, "snapshot", o) < 0)
                return import_fail(c, SNAPSHOT_ERROR_SNAPSHOT_FAILED, "cannot record the imported snapshot");
        log_info("Snapshot %s (%s) imported.", s->id, s->name);
        import_finish(c, NULL, reply);
}

/* What the record names outside its payload must be this host's image blobs, and its writable disks its
 * VM's directory: an archive must not make a clone attach any other file of the host. */
static int import_check_paths(Manager *m, const Snapshot *s, char **ret_message) {
        _cleanup_free_ char *blobs = NULL, *vm_dir = NULL;
        const VMRecord *vm = s->vm;
        if (asprintf(&blobs, "%s/images/blobs/", m->state_dir) < 0 ||
            store_vm_dir(m->store, vm->vm.id, &vm_dir) < 0)
                return -ENOMEM;
        const char *boot[] = {vm->boot_config ? vm->boot_config->kernel_path : NULL,
                              vm->boot_config ? vm->boot_config->initrd_path : NULL,
                              vm->boot_config ? vm->boot_config->firmware_path : NULL};
        for (size_t i = 0; i < ELEMENTSOF(boot) + vm->vm.n_storage_configs; i++) {
                const StorageConfig *d =
                        i >= ELEMENTSOF(boot) ? vm->vm.storage_configs + i - ELEMENTSOF(boot) : NULL;
                const char *path = d ? d->path : boot[i];
                const char *prefix = d && !d->read_only ? vm_dir : blobs;
                size_t l = strlen(prefix);
                if (!path)
                        continue;
                if (d && !d->read_only ? !(strncmp(path, prefix, l) == 0 && path[l] == '/')
                                       : strncmp(path, prefix, l) != 0)
                        goto bad;
                const char *rest = path + l + (d && !d->read_only ? 1 : 0);
                if (isempty(rest) || strchr(rest, '/') || rest[0] == '.')
                        goto bad;
                continue;
        bad:
                return asprintf(ret_message,
                                "snapshot.json names %s outside %s: the archive may only refer to image "
                                "blobs "
                                "and its own disks",
                                path, prefix) < 0
                               ? -ENOMEM
                               : -EBADMSG;
        }
        return 0;
}

/* A copy of the archive's record for the store, with this host's id and the name asked for. */
static int import_record(ImportCall *c, Snapshot **ret) {
        const Snapshot *src = snapshot_archive_reader_snapshot(c->reader);
        _cleanup_(json_object_putp) json_object *o = NULL;
        _cleanup_(snapshot_freep) Snapshot *s = NULL;
        int r = snapshot_to_json(src, &o);
        if (r < 0 || (r = snapshot_from_json(o, &s, NULL)) < 0)
                return r;
        /* Kept unless taken here (by the same snapshot imported twice, or a clash). */
        if (snapshot_store_get(c->manager->snapshots, s->id) && (r = id_generate(s->id)) < 0)
                return r;
        if (c->name) {
                free(s->name);
                if (!(s->name = strdup(c->name)))
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(s);
        return 0;
}

static void import_opened(int result, void *userdata) {
        ImportCall *c = userdata;
        Manager *m = c->manager;
        _cleanup_(snapshot_freep) Snapshot *s = NULL;
        _cleanup_free_ char *message = NULL;
        int r;

        if (result < 0)
                return import_fail_result(c, result);
        r = import_check_paths(m, snapshot_archive_reader_snapshot(c->reader), &message);
        if (r == -EBADMSG)
                return import_fail(c, SNAPSHOT_ERROR_INVALID_ARCHIVE, message);
        if (r < 0 || (r = import_record(c, &s)) < 0)
                return import_fail_result(c, r);
        const Snapshot *other = snapshot_store_get_by_name(m->snapshots, s->name);
        if (other) {
                _cleanup_(json_object_putp) json_object *p = json_object_new_object();
                char text[256];
                snprintf(text, sizeof(text),
                         "snapshot name '%s' is already used by %s; import it under another name", s->name,
                         other->id);
                if (p && json_add_string(p, "name", s->name) >= 0 &&
                    json_add_string(p, "id", other->id) >= 0 && json_add_string(p, "message", text) >= 0)
                        return import_finish(c, SNAPSHOT_ERROR_NAME_IN_USE, p);
                return import_fail_result(c, -ENOMEM);
        }
        memcpy(c->id, s->id, sizeof(c->id));
        /* Registered pending before a byte of payload is written: a crash leaves what gc removes. */
        if ((r = snapshot_store_dir(m->snapshots, c->id, &c->dir)) < 0 ||
            (r = snapshot_store_begin(m->snapshots, TAKE_PTR(s))) < 0) {
                c->id[0] = '\0';
                return import_fail_result(c, r);
        }
        r = job_submit(m->jobs, import_extract_work, import_extracted, c);
        if (r < 0)
                return import_fail_result(c, -ECANCELED);
}

static int import_start(ImportCall *c) {
        int r = job_submit(c->manager->jobs, import_open_work, import_opened, c);
        if (r < 0)
                return r;
        manager_check_idle(c->manager);
        return 0;
}

static void import_upgraded(int fd, int error, void *userdata) {
        ImportCall *c = userdata;
        if (error < 0) {
                log_debug_errno(error, "Import client left before the reply: %m");
                import_call_free(c);
                return;
        }
        c->in_fd = fd;
        c->upgraded = true;
        c->link = varlink_unref(c->link);
        operations_upgraded(c->manager->operations, c->operation);
        if (import_start(c) < 0) {
                import_call_free(c); /* shutting down: closing without an outcome says it failed */
                return;
        }
}

/* On the loop: a "continues" reply with the archive bytes read so far, when they changed. */
static int on_import_progress(sd_event_source *s, uint64_t usec, void *userdata) {
        ImportCall *c = userdata;
        uint64_t done = atomic_load(&c->progress.done), total = atomic_load(&c->progress.total);
        if (c->link && done != c->progress_sent) {
                _cleanup_(json_object_putp) json_object *p = json_object_new_object();
                if (p && json_add_uint64(p, "bytesDone", done) >= 0 &&
                    (total == 0 || json_add_uint64(p, "bytesTotal", total) >= 0)) {
                        if (varlink_notify(c->link, p) < 0)
                                return sd_event_source_set_enabled(s, SD_EVENT_OFF);
                        c->progress_sent = done;
                }
        }
        (void) sd_event_source_set_time_relative(s, TRANSFER_PROGRESS_INTERVAL_USEC);
        return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

typedef struct ImportRequest {
        int64_t fd_index;
        const char *name;
} ImportRequest;

int vl_method_snapshot_import(Varlink *link, json_object *parameters, VarlinkMethodFlags flags,
                              void *userdata) {
        static const JsonDispatch table[] = {
                {"fileDescriptor", json_type_int, json_dispatch_fd_index, offsetof(ImportRequest, fd_index),
                 JSON_NULLABLE},
                {"name", json_type_string, json_dispatch_const_string, offsetof(ImportRequest, name),
                 JSON_NULLABLE},
                {},
        };
        Manager *m = userdata;
        ImportRequest req = {.fd_index = -1};
        const char *bad = NULL;
        int r = json_dispatch(parameters, table, 0, &req, &bad);
        if (r < 0)
                return varlink_error_invalid_parameter(link, bad ?: "parameters");
        if (req.name && !vm_name_is_valid(req.name))
                return varlink_error_field(
                        link, SNAPSHOT_ERROR_INVALID_CONFIGURATION, "name",
                        "name must be 1-63 characters of A-Z a-z 0-9 . _ -, starting with "
                        "a letter or digit");
        if (req.fd_index >= 0 && (size_t) req.fd_index >= varlink_get_n_fds(link))
                return varlink_error_field(link, SNAPSHOT_ERROR_INVALID_CONFIGURATION, "fileDescriptor",
                                           "no file descriptor with that index came with the call");
        if (req.fd_index < 0 && !(flags & VARLINK_METHOD_UPGRADE))
                return varlink_error_field(
                        link, SNAPSHOT_ERROR_INVALID_CONFIGURATION, "fileDescriptor",
                        "pass the archive as a descriptor, or call with upgrade and send it "
                        "after the reply");

        ImportCall *c = calloc(1, sizeof(ImportCall));
        if (!c)
                return -ENOMEM;
        c->manager = m;
        c->in_fd = -EBADF;
        c->cancel_fd = job_queue_cancel_fd(m->jobs);
        if (req.name && !(c->name = strdup(req.name))) {
                import_call_free(c);
                return -ENOMEM;
        }
        c->link = varlink_ref(link);
        c->operation = operations_hold(m->operations, link);
        (void) operations_attach_progress(m->operations, link, &c->progress);
        if (req.fd_index < 0) {
                _cleanup_(json_object_putp) json_object *reply = json_object_new_object();
                r = reply ? varlink_reply_and_upgrade(link, reply, import_upgraded, c) : -ENOMEM;
                if (r < 0)
                        import_call_free(c);
                return r;
        }
        c->in_fd = varlink_take_fd(link, (size_t) req.fd_index);
        if (c->in_fd < 0) {
                import_call_free(c);
                return varlink_error_field(link, SNAPSHOT_ERROR_INVALID_CONFIGURATION, "fileDescriptor",
                                           "that descriptor is unusable");
        }
        if (flags & VARLINK_METHOD_MORE) {
                r = sd_event_add_time_relative(m->event, &c->progress_timer, CLOCK_MONOTONIC,
                                               TRANSFER_PROGRESS_INTERVAL_USEC, 0, on_import_progress, c);
                if (r < 0) {
                        import_call_free(c);
                        return r;
                }
        }
        r = import_start(c);
        if (r < 0) {
                import_call_free(c);
                return varlink_errorf(link, COCOON_ERROR_SHUTTING_DOWN, "the manager is shutting down");
        }
        return 0;
}
