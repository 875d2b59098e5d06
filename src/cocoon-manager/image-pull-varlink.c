/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* io.cocoon.Image.Pull: an OCI pull in a worker thread (oci-pull.h), progress per layer to callers that
 * asked for more, cancelled when the caller goes away, the record written on the loop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image-varlink.h"
#include "job-queue.h"
#include "json-util.h"
#include "log.h"
#include "manager-operations.h"
#include "oci-manifest.h"
#include "oci-pull.h"
#include "oci-reference.h"
#include "strv-util.h"
#include "time-util.h"
#include "varlink-interfaces.h"

/* How often a caller that asked for more hears of a pull's progress. */
#define PULL_PROGRESS_INTERVAL_USEC (200 * USEC_PER_MSEC)

typedef struct PullCall {
        Manager *manager;
        Varlink *link;
        OciPull *pull;
        char *reference; /* as the caller wrote it; ImportOCI: the name */
        bool local; /* ImportOCI */
        OperationProgress progress; /* sums over the layers, for ListOperations; cancelled: caller gone */
        sd_event_source *progress_timer;
        char *progress_sent; /* the last progress reply, to send only changes */
} PullCall;

static PullCall *pull_call_free(PullCall *c) {
        if (!c)
                return NULL;
        operations_detach_progress(c->manager->operations, &c->progress);
        sd_event_source_disable_unref(c->progress_timer);
        oci_pull_free(c->pull);
        varlink_unref(c->link);
        free(c->reference);
        free(c->progress_sent);
        return mfree(c);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(PullCall *, pull_call_free);

static int reply_error(Varlink *link, const char *error_id, const char *key, const char *value,
                       const char *message) {
        _cleanup_(json_object_putp) json_object *p = json_object_new_object();
        if (!p || json_add_string(p, key, value) < 0 ||
            (message && json_add_string(p, "message", message) < 0))
                return -ENOMEM;
        return varlink_error(link, error_id, p);
}

/* {"bytesDone", "bytesTotal", "layers": [{"digest", "bytesDone", "bytesTotal"}]} as the pull is now. */
static int progress_json(PullCall *c, json_object **ret) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        size_t n = oci_pull_n_layers(c->pull);
        uint64_t sum_done = 0, sum_total = 0;
        json_object *a = json_object_new_array_ext((int) n);

        if (!o || !a || json_add_object(o, "layers", a) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                json_object *l = json_object_new_object();
                uint64_t done, total;

                oci_pull_layer_progress(c->pull, i, &done, &total);
                sum_done += done;
                sum_total += total;
                if (!l || json_object_array_add(a, l) < 0) {
                        json_object_put(l);
                        return -ENOMEM;
                }
                if (json_add_uint64(l, "bytesDone", done) < 0 || json_add_uint64(l, "bytesTotal", total) < 0)
                        return -ENOMEM;
        }
        atomic_store(&c->progress.done, sum_done);
        atomic_store(&c->progress.total, sum_total);
        if (json_add_uint64(o, "bytesDone", sum_done) < 0 || json_add_uint64(o, "bytesTotal", sum_total) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

static int on_progress_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        PullCall *c = userdata;
        _cleanup_(json_object_putp) json_object *p = NULL;

        if (oci_pull_n_layers(c->pull) > 0 && progress_json(c, &p) >= 0) {
                const char *text = json_to_string(p);
                if (text && !streq_ptr(text, c->progress_sent)) {
                        if (varlink_notify(c->link, p) < 0)
                                return sd_event_source_set_enabled(s, SD_EVENT_OFF);
                        free(c->progress_sent);
                        c->progress_sent = strdup(text);
                }
        }
        (void) sd_event_source_set_time_relative(s, PULL_PROGRESS_INTERVAL_USEC);
        return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

static int pull_work(void *userdata) {
        PullCall *c = userdata;
        return oci_pull_run(c->pull);
}

static void pull_done(int result, void *userdata) {
        _cleanup_(pull_call_freep) PullCall *c = userdata;
        _cleanup_strv_free_ char **pinned = NULL;
        const char *message = oci_pull_error(c->pull);
        const Image *img;

        if (atomic_load(&c->progress.cancelled)) {
                /* Freeing the pull drops what it fetched and nothing references. */
                log_info("Pull of %s cancelled: its caller went away.", oci_pull_name(c->pull));
                return;
        }
        if (result == -ECANCELED && c->manager->shutting_down) {
                /* Never started (the queue cancels what waits at shutdown): the caller may pull again. */
                (void) varlink_errorf(c->link, COCOON_ERROR_SHUTTING_DOWN, "%s",
                                      "cocoon-manager is shutting down; the pull did not start");
                return;
        }
        if (result >= 0) {
                result = manager_pinned_blob_ids(c->manager, &pinned);
                if (result >= 0)
                        result = oci_pull_commit(c->pull, (const char *const *) pinned, &img);
        }
        if (result >= 0) {
                _cleanup_(json_object_putp) json_object *reply = json_object_new_object();
                json_object *o;

                log_info("%s image %s (%s).", c->local ? "Imported" : "Pulled", img->name, img->digest);
                if (!reply || image_to_json(img, &o) < 0 || json_add_object(reply, "image", o) < 0)
                        (void) varlink_error_errno(c->link, ENOMEM);
                else
                        (void) varlink_reply(c->link, reply);
                return;
        }
        if (c->local) {
                if (result == -ENOENT || result == -EBADMSG || result == -EMEDIUMTYPE || result == -E2BIG)
                        (void) reply_error(c->link, IMAGE_ERROR_INVALID_IMAGE, "field", "fileDescriptor",
                                           message ?: "the image is not acceptable");
                else if (message) {
                        log_warning_errno(result, "Import of %s failed: %s", c->reference, message);
                        (void) reply_error(c->link, IMAGE_ERROR_PULL_FAILED, "reference", c->reference,
                                           message);
                } else
                        (void) varlink_error_errno(c->link, -result);
                return;
        }
        switch (result) {
        case -ENOENT:
                (void) reply_error(c->link, IMAGE_ERROR_NO_SUCH_IMAGE, "reference", c->reference, message);
                return;
        case -EACCES:
                (void) reply_error(c->link, IMAGE_ERROR_AUTHENTICATION_FAILED, "reference", c->reference,
                                   message);
                return;
        case -EBADMSG:
        case -EMEDIUMTYPE:
        case -E2BIG:
                (void) reply_error(c->link, IMAGE_ERROR_INVALID_IMAGE, "field", "reference",
                                   message ?: "the image is not acceptable");
                return;
        default:
                log_warning_errno(result, "Pull of %s failed: %s", oci_pull_name(c->pull), message ?: "%m");
                if (message)
                        (void) reply_error(c->link, IMAGE_ERROR_PULL_FAILED, "reference", c->reference,
                                           message);
                else
                        (void) varlink_error_errno(c->link, -result);
        }
}

/* [Images] InsecureRegistries= names the registry of reference (as normalized: docker.io, host:port). */
static bool registry_is_insecure(Manager *m, const char *reference) {
        _cleanup_(oci_reference_freep) OciReference *ref = NULL;

        return oci_reference_parse(reference, &ref) >= 0 &&
               strv_contains(m->config.insecure_registries, ref->domain);
}

typedef struct PullRequest {
        const char *reference;
        int insecure;
} PullRequest;

/* Both calls, a pull and an import of a local layout or archive, end the same way: the call is listed with its
 * progress (sent every PULL_PROGRESS_INTERVAL_USEC with `more`), and the work runs on a worker. Takes c. */
static int pull_call_submit(Manager *m, Varlink *link, VarlinkMethodFlags flags, PullCall *call) {
        _cleanup_(pull_call_freep) PullCall *c = call;
        int r;

        c->link = varlink_ref(link);
        (void) operations_attach_progress(m->operations, link, &c->progress);
        if (flags & VARLINK_METHOD_MORE) {
                r = sd_event_add_time_relative(m->event, &c->progress_timer, CLOCK_MONOTONIC,
                                               PULL_PROGRESS_INTERVAL_USEC, 0, on_progress_timer, c);
                if (r < 0)
                        return r;
        }
        r = job_submit(m->jobs, pull_work, pull_done, c);
        if (r < 0)
                return r;
        TAKE_PTR(c);
        return 0;
}

int vl_method_image_pull(Varlink *link, json_object *parameters, VarlinkMethodFlags flags, void *userdata) {
        static const JsonDispatch table[] = {
                {"reference", json_type_string, json_dispatch_const_string, offsetof(PullRequest, reference),
                 JSON_MANDATORY},
                {"insecure", json_type_boolean, json_dispatch_tristate, offsetof(PullRequest, insecure),
                 JSON_NULLABLE},
                {},
        };
        Manager *m = userdata;
        PullRequest req = {.insecure = -1};
        const char *bad = NULL;
        int r;

        r = json_dispatch(parameters, table, 0, &req, &bad);
        if (r < 0)
                return varlink_error_invalid_parameter(link, bad ?: "parameters");

        _cleanup_(pull_call_freep) PullCall *c = calloc(1, sizeof(PullCall));
        if (!c)
                return -ENOMEM;
        c->manager = m;
        c->reference = strdup(req.reference);
        if (!c->reference)
                return -ENOMEM;
        OciPullOptions options = {
                .insecure = req.insecure > 0 || registry_is_insecure(m, req.reference),
                .parallel = m->config.pull_parallel,
                .unpack_memory = m->config.unpack_memory,
                .cancel = &c->progress.cancelled,
                .unpack_helper = m->unpack_helper,
        };
        r = oci_pull_new(m->images, req.reference, &options, &c->pull);
        if (r == -EINVAL)
                return reply_error(
                        link, IMAGE_ERROR_INVALID_IMAGE, "field", "reference",
                        "not a valid image reference (e.g. busybox, registry.example:5000/app:v1, "
                        "name@sha256:<64 hex>)");
        if (r < 0)
                return r;
        const Image *existing;
        if (image_store_get(m->images, oci_pull_name(c->pull), &existing) >= 0 &&
            existing->type == IMAGE_TYPE_OCI && streq(existing->name, oci_pull_name(c->pull)))
                (void) oci_pull_set_known_digest(c->pull, existing->digest);
        return pull_call_submit(m, link, flags, TAKE_PTR(c));
}

typedef struct ImportOCIRequest {
        const char *name;
        int64_t fd_index;
        json_object *more; /* moreFileDescriptors: further layer files */
} ImportOCIRequest;

static int dispatch_array(const char *name, json_object *v, void *p) {
        *(json_object **) p = v;
        return 0;
}

/* Takes the passed descriptor at index v (a JSON integer) into *ret; -EINVAL when there is none. */
static int take_fd_index(Varlink *link, json_object *v, int *ret) {
        int64_t index;

        if (!json_object_is_type(v, json_type_int) || (index = json_object_get_int64(v)) < 0 ||
            index >= (int64_t) varlink_get_n_fds(link))
                return -EINVAL;
        *ret = varlink_take_fd(link, (size_t) index);
        return *ret < 0 ? -EINVAL : 0;
}

/* ImportOCI: a pull whose source is the caller's file (oci_pull_new_local()); the same worker, progress
 * and commit. */
int vl_method_image_import_oci(Varlink *link, json_object *parameters, VarlinkMethodFlags flags,
                               void *userdata) {
        static const JsonDispatch table[] = {
                {"name", json_type_string, json_dispatch_const_string, offsetof(ImportOCIRequest, name),
                 JSON_MANDATORY},
                {"fileDescriptor", json_type_int, json_dispatch_fd_index,
                 offsetof(ImportOCIRequest, fd_index), JSON_MANDATORY},
                {"moreFileDescriptors", json_type_array, dispatch_array, offsetof(ImportOCIRequest, more),
                 JSON_NULLABLE},
                {},
        };
        Manager *m = userdata;
        ImportOCIRequest req = {.fd_index = -1};
        const Image *existing;
        const char *bad = NULL;
        _cleanup_close_ int fd = -EBADF;
        uid_t uid;
        int r;

        r = json_dispatch(parameters, table, 0, &req, &bad);
        if (r < 0)
                return varlink_error_invalid_parameter(link, bad ?: "parameters");
        r = varlink_get_peer_uid(link, &uid);
        if (r < 0)
                return r;
        if (!image_name_is_valid(req.name))
                return reply_error(link, IMAGE_ERROR_INVALID_IMAGE, "field", "name",
                                   "not a valid image name");
        if (image_store_get(m->images, req.name, &existing) >= 0 && streq(existing->name, req.name))
                return reply_error(link, IMAGE_ERROR_NAME_IN_USE, "name", req.name,
                                   "an image with this name exists already");
        if (req.fd_index >= (int64_t) varlink_get_n_fds(link) ||
            (fd = varlink_take_fd(link, (size_t) req.fd_index)) < 0)
                return reply_error(link, IMAGE_ERROR_INVALID_IMAGE, "field", "fileDescriptor",
                                   "no such passed file descriptor");

        _cleanup_(pull_call_freep) PullCall *c = calloc(1, sizeof(PullCall));
        if (!c)
                return -ENOMEM;
        c->manager = m;
        c->local = true;
        c->reference = strdup(req.name);
        if (!c->reference)
                return -ENOMEM;
        OciPullOptions options = {
                .parallel = m->config.pull_parallel,
                .unpack_memory = m->config.unpack_memory,
                .cancel = &c->progress.cancelled,
                .unpack_helper = m->unpack_helper,
                .caller_uid = uid,
        };
        r = oci_pull_new_local(m->images, req.name, fd, &options, &c->pull);
        if (r < 0)
                return r;
        if (req.more && json_object_array_length(req.more) + 1 > OCI_LAYERS_MAX)
                return reply_error(link, IMAGE_ERROR_INVALID_IMAGE, "field", "moreFileDescriptors",
                                   "more layer files than an image may have");
        for (size_t i = 0; req.more && i < json_object_array_length(req.more); i++) {
                _cleanup_close_ int layer_fd = -EBADF;

                if (take_fd_index(link, json_object_array_get_idx(req.more, i), &layer_fd) < 0)
                        return reply_error(link, IMAGE_ERROR_INVALID_IMAGE, "field", "moreFileDescriptors",
                                           "no such passed file descriptor");
                r = oci_pull_add_local_layer(c->pull, layer_fd);
                if (r < 0)
                        return r;
        }
        return pull_call_submit(m, link, flags, TAKE_PTR(c));
}
