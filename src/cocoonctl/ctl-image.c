/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cocoonctl image …: import, list, inspect and remove images. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctl-interrupt.h"
#include "ctl-progress.h"
#include "ctl-table.h"
#include "ctl-util.h"
#include "ctl-verbs.h"
#include "json-util.h"
#include "log.h"
#include "parse-util.h"
#include "time-util.h"

/* Opens a file for import (of --option, or NULL: a layer file) with our own rights: the manager reads what
 * we pass it and opens no path of ours, so what we may read is exactly what we can import. Only regular
 * files; O_NONBLOCK so a FIFO is refused instead of hanging the open. */
static int open_image_file(const char *option, const char *path, int *ret_fd) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        const char *dashes = option ? "--" : "", *space = option ? " " : "";

        option = option ?: "";
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return ctl_log_errno(errno, "%s%s%s%s: %m", dashes, option, space, path);
        if (fstat(fd, &st) < 0)
                return ctl_log_errno(errno, "%s%s%s%s: %m", dashes, option, space, path);
        if (!S_ISREG(st.st_mode))
                return ctl_log_errno(EBADFD, "%s%s%s%s: not a regular file", dashes, option, space, path);
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* Ctrl-C during an import: the handler shuts the connection down, which ends the wait for the reply at once
 * and tells the manager to cancel (it drops what it copied so far). */
static volatile sig_atomic_t import_interrupted = 0;
static volatile sig_atomic_t import_fd = -1;

static void on_import_sigint(int sig) {
        import_interrupted = 1;
        if (import_fd >= 0)
                (void) shutdown(import_fd, SHUT_RDWR);
}

/* One redrawn line on a terminal: "Importing NAME: 12.0M / 1.0G (1%)". */
static void import_show_progress(const char *name, json_object *reply) {
        char progress[CTL_PROGRESS_MAX];

        if (!ctl_format_progress(ctl_field_int(reply, "bytesDone"), ctl_field_int(reply, "bytesTotal"),
                                 progress))
                return;
        fprintf(stderr, "\r\033[KImporting %s: %s", name, progress);
        fflush(stderr);
}

/* Calls Import with more: the manager sends the bytes copied as it goes, shown on stderr when it is a
 * terminal (nothing on a pipe), then the image. Returns 0 with *ret_reply (owned by the link), < 0 on
 * failure (reported), or CTL_ERROR_EXIT(130) when interrupted by Ctrl-C. */
static int import_call(Varlink *link, const char *name, json_object *parameters, json_object **ret_reply) {
        static const char method[] = "io.cocoon.Image.Import";
        struct sigaction sa = { .sa_handler = on_import_sigint }; /* no SA_RESTART: poll() must wake */
        bool tty = isatty(STDERR_FILENO), shown = false;
        int r;

        (void) varlink_set_relative_timeout(link, UINT64_MAX); /* a copy takes what it takes */
        import_fd = varlink_get_fd(link);
        if (sigaction(SIGINT, &sa, NULL) < 0)
                return ctl_log_errno(negative_errno(), "cannot catch SIGINT: %m");
        r = varlink_observe(link, method, parameters);
        for (;;) {
                json_object *reply = NULL;
                const char *error_id = NULL;
                bool continues = false;

                if (r >= 0)
                        r = varlink_observe_next(link, &reply, &error_id, &continues);
                if (shown && (r < 0 || error_id || !continues)) {
                        fprintf(stderr, "\r\033[K");
                        fflush(stderr);
                }
                /* An answer that made it before Ctrl-C stands; a connection Ctrl-C ended is a cancel. */
                if (r < 0 && import_interrupted) {
                        (void) ctl_log_errno(ECANCELED, "import cancelled");
                        return CTL_ERROR_EXIT(CTL_EXIT_INTERRUPTED);
                }
                if (r < 0)
                        return ctl_log_errno(r, "calling %s failed (%m); the manager cancels the import "
                                             "when its caller goes away", method);
                if (error_id)
                        return ctl_report_error(error_id, reply);
                if (!continues) {
                        *ret_reply = reply;
                        return 0;
                }
                if (tty) {
                        import_show_progress(name, reply);
                        shown = true;
                }
        }
}

static int pull_call(Varlink *link, const char *method, json_object *parameters, const char *source,
                     json_object **ret_reply);

/* image import NAME FILE…: an OCI layout directory or a docker/OCI archive, or layer tars (several files:
 * each one a layer), opened with our rights and passed open (the manager reads below a directory only
 * what we could read ourselves). */
static int import_oci(const char *name, char **paths, int n_paths) {
        _cleanup_(varlink_unrefp) Varlink *link = NULL;
        _cleanup_(json_object_putp) json_object *parameters = json_object_new_object();
        const char *path = paths[0];
        _cleanup_close_ int fd = -EBADF;
        json_object *reply = NULL, *image, *more = NULL;
        struct stat st;
        int r, index;

        if (arg_kernel || arg_initrd || arg_rootfs || arg_cmdline)
                return ctl_log_errno(EINVAL, "image import NAME FILE takes no --kernel, --initrd, --rootfs "
                                             "or --cmdline: the image brings its own");
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return ctl_log_errno(errno, "%s: %m", path);
        if (fstat(fd, &st) < 0)
                return ctl_log_errno(errno, "%s: %m", path);
        if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
                return ctl_log_errno(EBADFD, "%s: not a directory or a regular file", path);
        if (!parameters || json_add_string(parameters, "name", name) < 0)
                return ctl_log_oom();
        r = ctl_connect(&link);
        if (r < 0)
                return r;
        index = varlink_push_fd(link, TAKE_FD(fd));
        if (index < 0)
                return ctl_log_errno(index, "cannot pass %s: %m", path);
        if (json_add_int64(parameters, "fileDescriptor", index) < 0)
                return ctl_log_oom();
        if (n_paths > 1 && ((more = json_object_new_array()) == NULL ||
                            json_add_object(parameters, "moreFileDescriptors", more) < 0))
                return ctl_log_oom();
        for (int i = 1; i < n_paths; i++) {
                _cleanup_close_ int layer_fd = -EBADF;

                r = open_image_file(NULL, paths[i], &layer_fd);
                if (r < 0)
                        return r;
                index = varlink_push_fd(link, TAKE_FD(layer_fd));
                if (index < 0)
                        return ctl_log_errno(index, "cannot pass %s: %m", paths[i]);
                if (json_object_array_add(more, json_object_new_int64(index)) < 0)
                        return ctl_log_oom();
        }
        /* Errors name the first file; the manager's message says which layer file when it is another. */
        r = pull_call(link, "io.cocoon.Image.ImportOCI", parameters, path, &reply);
        if (r != 0)
                return r;
        if (!json_object_object_get_ex(reply, "image", &image))
                return ctl_log_errno(EBADMSG, "io.cocoon.Image.ImportOCI reply has no image");
        if (arg_json)
                ctl_print_json(image);
        else
                printf("%s\n", ctl_field_string(image, "id") ?: "");
        return 0;
}

int verb_image_import(int argc, char **argv) {
        static const char *const options[] = { "kernel", "initrd", "rootfs" };
        static const char *const fd_keys[] = { "kernelFileDescriptor", "initrdFileDescriptor",
                                               "rootfsFileDescriptor" };
        _cleanup_(varlink_unrefp) Varlink *link = NULL;
        _cleanup_(json_object_putp) json_object *parameters = json_object_new_object();
        const char *paths[] = { arg_kernel, arg_initrd, arg_rootfs };
        int fds[ELEMENTSOF(paths)] = { -EBADF, -EBADF, -EBADF };
        json_object *reply = NULL, *image;
        int r = 0;

        if (argc >= 2)
                return import_oci(argv[0], argv + 1, argc - 1);
        if (!arg_kernel)
                return ctl_log_errno(EINVAL, "image import needs --kernel PATH, or a FILE (an OCI layout "
                                             "directory or a docker/OCI archive)");
        if (!parameters || json_add_string(parameters, "name", argv[0]) < 0)
                return ctl_log_oom();
        if (arg_cmdline && json_add_string(parameters, "cmdline", arg_cmdline) < 0)
                return ctl_log_oom();
        for (size_t i = 0; i < ELEMENTSOF(paths) && r >= 0; i++)
                if (paths[i])
                        r = open_image_file(options[i], paths[i], &fds[i]);
        if (r >= 0)
                r = ctl_connect(&link);
        /* The files travel with the call (SCM_RIGHTS); the parameters say which is which. */
        for (size_t i = 0; i < ELEMENTSOF(fds); i++) {
                int index;

                if (fds[i] < 0)
                        continue;
                if (r < 0) {
                        safe_close(fds[i]);
                        continue;
                }
                index = varlink_push_fd(link, TAKE_FD(fds[i]));
                if (index < 0)
                        r = ctl_log_errno(index, "cannot pass --%s: %m", options[i]);
                else if (json_add_int64(parameters, fd_keys[i], index) < 0)
                        r = ctl_log_oom();
        }
        if (r < 0)
                return r;

        r = import_call(link, argv[0], parameters, &reply);
        if (r != 0)
                return r;
        if (!json_object_object_get_ex(reply, "image", &image))
                return ctl_log_errno(EBADMSG, "io.cocoon.Image.Import reply has no image");
        if (arg_json)
                ctl_print_json(image);
        else
                printf("%s\n", ctl_field_string(image, "id") ?: "");
        return 0;
}

/* ---- pull ---- */

/* The layer lines drawn last time, to move the cursor back over them. */
static size_t pull_lines_shown = 0;

static void pull_clear_progress(void) {
        for (; pull_lines_shown > 0; pull_lines_shown--)
                fprintf(stderr, "\033[1A\r\033[K");
        fflush(stderr);
}

/* One line per layer, redrawn in place: "Layer 2/3: 1.2M / 3.4M (35%)", like podman pull. */
static void pull_show_progress(json_object *reply) {
        json_object *layers;
        size_t n;

        if (!json_object_object_get_ex(reply, "layers", &layers) ||
            !json_object_is_type(layers, json_type_array))
                return;
        pull_clear_progress();
        n = json_object_array_length(layers);
        for (size_t i = 0; i < n; i++) {
                json_object *l = json_object_array_get_idx(layers, i);
                char progress[CTL_PROGRESS_MAX];

                if (!ctl_format_progress(ctl_field_int(l, "bytesDone"), ctl_field_int(l, "bytesTotal"),
                                         progress))
                        continue;
                fprintf(stderr, "Layer %zu/%zu: %s\n", i + 1, n, progress);
                pull_lines_shown++;
        }
        fflush(stderr);
}

/* source: the file an import reads, named in its errors (the manager only ever sees its descriptor). */
static int pull_call(Varlink *link, const char *method, json_object *parameters, const char *source,
                     json_object **ret_reply) {
        struct sigaction sa = { .sa_handler = on_import_sigint };
        bool tty = isatty(STDERR_FILENO);
        int r;

        (void) varlink_set_relative_timeout(link, UINT64_MAX); /* a download takes what it takes */
        import_fd = varlink_get_fd(link);
        if (sigaction(SIGINT, &sa, NULL) < 0)
                return ctl_log_errno(negative_errno(), "cannot catch SIGINT: %m");
        r = varlink_observe(link, method, parameters);
        for (;;) {
                json_object *reply = NULL;
                const char *error_id = NULL;
                bool continues = false;

                if (r >= 0)
                        r = varlink_observe_next(link, &reply, &error_id, &continues);
                if (r < 0 || error_id || !continues)
                        pull_clear_progress();
                if (r < 0 && import_interrupted) {
                        (void) ctl_log_errno(ECANCELED, "%s cancelled",
                                             streq(method, "io.cocoon.Image.Pull") ? "pull" : "import");
                        return CTL_ERROR_EXIT(CTL_EXIT_INTERRUPTED);
                }
                if (r < 0)
                        return ctl_log_errno(r, "calling %s failed (%m); the manager cancels it "
                                             "when its caller goes away", method);
                if (error_id && source) {
                        ctl_report_ref_error("image import", source, error_id,
                                             ctl_field_string(reply, "message"));
                        return -EBADE;
                }
                if (error_id)
                        return ctl_report_error(error_id, reply);
                if (!continues) {
                        *ret_reply = reply;
                        return 0;
                }
                if (tty)
                        pull_show_progress(reply);
        }
}

/* Pulls each reference in turn (one connection each: a pull's progress replies belong to its call). */
int verb_image_pull(int argc, char **argv) {
        _cleanup_(json_object_putp) json_object *pulled = json_object_new_array();
        int result = 0;

        if (!pulled)
                return ctl_log_oom();
        for (int i = 0; i < argc; i++) {
                _cleanup_(varlink_unrefp) Varlink *link = NULL;
                _cleanup_(json_object_putp) json_object *parameters = json_object_new_object();
                json_object *reply = NULL, *image;
                int r;

                if (!parameters || json_add_string(parameters, "reference", argv[i]) < 0 ||
                    (arg_insecure && json_add_bool(parameters, "insecure", true) < 0))
                        return ctl_log_oom();
                r = ctl_connect(&link);
                if (r < 0)
                        return r;
                r = pull_call(link, "io.cocoon.Image.Pull", parameters, NULL, &reply);
                if (r != 0) {
                        if (import_interrupted)
                                return r;
                        result = r;
                        continue;
                }
                if (!json_object_object_get_ex(reply, "image", &image))
                        return ctl_log_errno(EBADMSG, "io.cocoon.Image.Pull reply has no image");
                if (arg_json)
                        json_object_array_add(pulled, json_object_get(image));
                else
                        printf("%s\n", ctl_field_string(image, "id") ?: "");
        }
        if (arg_json)
                ctl_print_json(pulled);
        return result;
}

static int image_table_add(Table *t, json_object *image, uint64_t now) {
        char size[FORMAT_SIZE_MAX] = "-", created[64], id[CTL_SHORT_ID_LENGTH + 1], digest[20] = "-";
        const char *type = ctl_field_string(image, "type"), *d = ctl_field_string(image, "digest");
        json_object *v;

        if (arg_quiet) {
                const char *cells[] = { ctl_field_string(image, "id") };
                return table_add_row(t, cells);
        }
        if (json_object_object_get_ex(image, "size", &v) && json_object_is_type(v, json_type_int))
                format_size((uint64_t) json_object_get_int64(v), size);
        ctl_format_created(ctl_field_string(image, "createdAt"), now, created, sizeof(created));
        /* "sha256:" and 12 hex digits, as docker shortens ids; all of it with --no-trunc (-o json has it) */
        if (d)
                snprintf(digest, sizeof(digest), "%s", d);
        const char *cells[] = {
                type ?: "local",
                ctl_field_string(image, "name"),
                ctl_id_cell(ctl_field_string(image, "id"), id),
                size,
                created,
                arg_no_trunc && d ? d : digest,
        };
        return table_add_row(t, cells);
}

int verb_image_list(int argc, char **argv) {
        /* DIGEST only with -o wide: a table must fit 80 columns. */
        static const char *const headers[] = {"TYPE", "NAME", "ID", "SIZE", "CREATED", "DIGEST"};
        _cleanup_(varlink_unrefp) Varlink *link = NULL;
        _cleanup_(table_freep) Table *t = NULL;
        json_object *reply = NULL, *images;

        int r = ctl_connect(&link);
        if (r < 0)
                return r;
        r = ctl_call(link, "io.cocoon.Image.List", NULL, &reply);
        if (r < 0)
                return r;
        if (!json_object_object_get_ex(reply, "images", &images) ||
            !json_object_is_type(images, json_type_array))
                return ctl_log_errno(EBADMSG, "io.cocoon.Image.List reply has no images array");
        if (arg_json) {
                ctl_print_json(images);
                return 0;
        }
        if (ctl_list_table_new(&t, headers, ELEMENTSOF(headers) - 1, ELEMENTSOF(headers), 1) < 0)
                return ctl_log_oom();
        uint64_t now = now_usec(CLOCK_REALTIME);
        for (size_t i = 0; i < json_object_array_length(images); i++)
                if (image_table_add(t, json_object_array_get_idx(images, i), now) < 0)
                        return ctl_log_oom();
        /* Nothing to list is not an error, and says so where a pipe does not count it as a line. */
        if (table_rows(t) == 0) {
                if (!arg_quiet)
                        fprintf(stderr, "No images found.\n");
                return 0;
        }
        return table_print(t);
}

int verb_image_inspect(int argc, char **argv) {
        _cleanup_(varlink_unrefp) Varlink *link = NULL;
        _cleanup_(json_object_putp) json_object *parameters = json_object_new_object();
        json_object *reply = NULL, *image;

        if (!parameters || json_add_string(parameters, "ref", argv[0]) < 0)
                return ctl_log_oom();
        int r = ctl_connect(&link);
        if (r < 0)
                return r;
        r = ctl_call(link, "io.cocoon.Image.Inspect", parameters, &reply);
        if (r < 0)
                return r;
        if (!json_object_object_get_ex(reply, "image", &image))
                return ctl_log_errno(EBADMSG, "io.cocoon.Image.Inspect reply has no image");
        ctl_print_json(image);
        return 0;
}

/* Removes each reference in turn; reports every failure. The id is looked up first: it is what the
 * removal prints, as vm rm does, and what is removed, so a name re-used meanwhile is not. */
int verb_image_rm(int argc, char **argv) {
        _cleanup_(varlink_unrefp) Varlink *link = NULL;
        _cleanup_(json_object_putp) json_object *removed = json_object_new_array();
        size_t n_ok = 0, n_failed = 0;

        if (!removed)
                return ctl_log_oom();
        int r = ctl_connect(&link);
        if (r < 0)
                return r;
        for (int i = 0; i < argc; i++) {
                _cleanup_(json_object_putp) json_object *parameters = json_object_new_object();
                json_object *reply = NULL, *image = NULL;
                const char *id = NULL;

                if (!parameters || json_add_string(parameters, "ref", argv[i]) < 0)
                        return ctl_log_oom();
                r = ctl_call(link, "io.cocoon.Image.Inspect", parameters, &reply);
                if (r >= 0 && (!json_object_object_get_ex(reply, "image", &image) ||
                               json_get_string(image, "id", &id) < 0))
                        r = ctl_log_errno(EBADMSG, "io.cocoon.Image.Inspect reply has no image id");
                if (r >= 0) {
                        _cleanup_free_ char *copy = strdup(id); /* the reply lives until the next call */
                        json_object_put(parameters);
                        parameters = json_object_new_object();
                        if (!copy || !parameters || json_add_string(parameters, "ref", copy) < 0)
                                return ctl_log_oom();
                        r = ctl_call(link, "io.cocoon.Image.Delete", parameters, NULL);
                        if (r >= 0 && json_object_array_add(removed, json_object_new_string(copy)) < 0)
                                return ctl_log_oom();
                        if (r >= 0 && !arg_json)
                                printf("%s\n", copy);
                }
                if (r < 0)
                        n_failed++;
                else
                        n_ok++;
        }
        if (arg_json)
                ctl_print_json(removed);
        return ctl_batch_result(n_ok, n_failed);
}
