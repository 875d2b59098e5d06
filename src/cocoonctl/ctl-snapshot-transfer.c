/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cocoonctl snapshot export|import: snapshot archives between the manager and files or pipes. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl-progress.h"
#include "ctl-util.h"
#include "ctl-verbs.h"
#include "fd-util.h"
#include "json-util.h"
#include "log.h"
#include "snapshot-archive.h"

const char *arg_output_file = NULL, *arg_compress = NULL;

/* The raw connection after an upgrade: what the client read past the reply first, then the socket. */
typedef struct Stream {
        int fd;
        char *leftover;
        size_t leftover_size, leftover_pos;
} Stream;

static ssize_t stream_read(Stream *s, void *buf, size_t size) {
        if (s->leftover_pos < s->leftover_size) {
                size_t n = MIN(size, s->leftover_size - s->leftover_pos);
                memcpy(buf, s->leftover + s->leftover_pos, n);
                s->leftover_pos += n;
                return (ssize_t) n;
        }
        for (;;) {
                ssize_t n = read(s->fd, buf, size);
                if (n >= 0 || errno != EINTR)
                        return n < 0 ? -errno : n;
        }
}

/* Exactly size bytes; -EPIPE when the stream ends first. */
static int stream_read_exact(Stream *s, void *buf, size_t size) {
        for (size_t done = 0; done < size;) {
                ssize_t n = stream_read(s, (uint8_t *) buf + done, size - done);
                if (n < 0)
                        return (int) n;
                if (n == 0)
                        return -EPIPE;
                done += (size_t) n;
        }
        return 0;
}

/* The outcome the manager sends after an upgraded transfer: one Varlink message, NUL-terminated. On an
 * error reply, reports it and returns -EBADE; else 0 with *ret (the parameters, the caller's). */
static int stream_read_outcome(Stream *s, const char *what, json_object **ret) {
        _cleanup_free_ char *text = NULL;
        size_t size = 0, allocated = 0;
        for (;;) {
                char c;
                ssize_t n = stream_read(s, &c, 1);
                if (n < 0 && n != -ECONNRESET)
                        return ctl_log_errno((int) n, "%s: reading the manager's answer failed: %m", what);
                if (n <= 0)
                        return ctl_log_errno(
                                EPIPE, "%s: the manager closed the connection without an answer", what);
                if (c == '\0')
                        break;
                if (size + 2 > allocated) {
                        if (allocated >= 1024 * 1024)
                                return ctl_log_errno(EMSGSIZE, "%s: the manager's answer is too long", what);
                        allocated = MAX(allocated * 2, (size_t) 4096);
                        char *p = realloc(text, allocated);
                        if (!p)
                                return ctl_log_oom();
                        text = p;
                }
                text[size++] = c;
        }
        _cleanup_(json_object_putp) json_object *o = NULL;
        json_object *parameters = NULL;
        const char *error_id = NULL;
        if (!text || json_parse(text, size, &o) < 0 || !json_object_is_type(o, json_type_object))
                return ctl_log_errno(EBADMSG, "%s: the manager's answer is not JSON", what);
        (void) json_get_string(o, "error", &error_id);
        if (!json_object_object_get_ex(o, "parameters", &parameters))
                parameters = NULL;
        if (error_id)
                return ctl_report_error(error_id, parameters);
        *ret = parameters ? json_object_get(parameters) : json_object_new_object();
        return *ret ? 0 : ctl_log_oom();
}

static void show_progress(const char *verb, const char *name, uint64_t done, uint64_t total) {
        char progress[CTL_PROGRESS_MAX];
        if (ctl_format_progress((int64_t) done, (int64_t) total, progress))
                fprintf(stderr, "\r\033[K%s %s: %s", verb, name, progress);
        fflush(stderr);
}

static void clear_progress(bool shown) {
        if (shown)
                fprintf(stderr, "\r\033[K");
        fflush(stderr);
}

/* ---- export ---- */

/* Copies the archive's frames to out until the end frame, then reads the outcome. */
static int export_copy(Stream *s, int out, const char *name, uint64_t total) {
        _cleanup_free_ uint8_t *buf = malloc(SNAPSHOT_EXPORT_FRAME_MAX);
        bool tty = isatty(STDERR_FILENO), shown = false;
        uint64_t done = 0;
        int r;
        if (!buf)
                return ctl_log_oom();
        for (;;) {
                uint8_t header[4];
                r = stream_read_exact(s, header, sizeof(header));
                if (r < 0)
                        break;
                size_t size = (size_t) header[0] << 24 | (size_t) header[1] << 16 | (size_t) header[2] << 8 |
                              header[3];
                if (size == 0)
                        break;
                if (size > SNAPSHOT_EXPORT_FRAME_MAX) {
                        r = -EBADMSG;
                        break;
                }
                if ((r = stream_read_exact(s, buf, size)) < 0)
                        break;
                if ((r = loop_write(out, buf, size)) < 0) {
                        clear_progress(shown);
                        return ctl_log_errno(r, "cannot write the archive: %m");
                }
                done += size;
                if (tty) {
                        show_progress("Exporting", name, done, total);
                        shown = true;
                }
        }
        clear_progress(shown);
        if (r < 0)
                return ctl_log_errno(r, "the archive of %s is incomplete: the connection ended (%m)", name);
        _cleanup_(json_object_putp) json_object *outcome = NULL;
        return stream_read_outcome(s, "export", &outcome);
}

/* -o FILE: a temporary file next to it, renamed over it only once the archive is complete. */
static int export_open_output(const char *path, char **ret_temp, int *ret_fd) {
        _cleanup_free_ char *copy = strdup(path), *temp = NULL;
        if (!copy)
                return ctl_log_oom();
        const char *dir = dirname(copy);
        const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        if (asprintf(&temp, "%s/.%s.XXXXXX", dir, base) < 0)
                return ctl_log_oom();
        int fd = mkostemp(temp, O_CLOEXEC);
        if (fd < 0)
                return ctl_log_errno(errno, "cannot create a file next to %s: %m", path);
        *ret_fd = fd;
        *ret_temp = TAKE_PTR(temp);
        return 0;
}

int verb_snapshot_export(int argc, char **argv) {
        _cleanup_(varlink_unrefp) Varlink *link = NULL;
        _cleanup_(json_object_putp) json_object *p = json_object_new_object();
        _cleanup_free_ char *temp = NULL, *leftover = NULL;
        bool to_file = arg_output_file && !streq(arg_output_file, "-");
        json_object *reply = NULL, *snapshot = NULL;
        const char *error_id = NULL;
        _cleanup_close_ int fd = -EBADF, out = -EBADF;
        size_t leftover_size = 0;
        int r;

        if (!p || json_add_string(p, "snapshot", argv[0]) < 0 ||
            (arg_compress && json_add_string(p, "compression", arg_compress) < 0))
                return ctl_log_oom();
        if (!to_file && isatty(STDOUT_FILENO))
                return ctl_log_errno(EINVAL,
                                     "refusing to write an archive to a terminal: use -o FILE or a pipe");
        if ((r = ctl_connect(&link)) < 0)
                return r;
        (void) varlink_set_relative_timeout(link, UINT64_MAX);
        r = varlink_call_and_upgrade(link, "io.cocoon.Snapshot.Export", p, &reply, &error_id, &fd, &leftover,
                                     &leftover_size);
        if (r < 0)
                return ctl_log_errno(r, "calling io.cocoon.Snapshot.Export failed: %m");
        if (error_id)
                return ctl_report_error(error_id, reply);
        (void) json_object_object_get_ex(reply, "snapshot", &snapshot);
        const char *name = ctl_field_string(snapshot, "name") ?: argv[0];
        uint64_t total = (uint64_t) MAX(ctl_field_int(reply, "bytesTotal"), 0);

        if (to_file && (r = export_open_output(arg_output_file, &temp, &out)) < 0)
                return r;
        Stream s = {.fd = fd, .leftover = leftover, .leftover_size = leftover_size};
        r = export_copy(&s, to_file ? out : STDOUT_FILENO, name, total);
        if (r >= 0 && to_file && (fsync(out) < 0 || rename(temp, arg_output_file) < 0))
                r = ctl_log_errno(errno, "cannot write %s: %m", arg_output_file);
        if (r < 0 && temp)
                (void) unlink(temp);
        if (r < 0)
                return r;
        if (to_file)
                fprintf(stderr, "Snapshot %s exported to %s.\n", name, arg_output_file);
        return 0;
}

/* ---- import ---- */

static int import_reply(json_object *reply) {
        json_object *snapshot;
        if (!json_object_object_get_ex(reply, "snapshot", &snapshot))
                return ctl_log_errno(EBADMSG, "io.cocoon.Snapshot.Import reply has no snapshot");
        if (arg_json) {
                ctl_print_json(snapshot);
                return 0;
        }
        printf("%s\n", ctl_field_string(snapshot, "id") ?: "");
        fprintf(stderr, "Snapshot %s (%s) imported.\n", ctl_field_string(snapshot, "name") ?: "?",
                ctl_field_string(snapshot, "id") ?: "?");
        return 0;
}

int ctl_call_with_progress(Varlink *link, const char *method, json_object *parameters, const char *verb,
                           const char *what, json_object **ret_reply) {
        bool tty = isatty(STDERR_FILENO), shown = false;
        (void) varlink_set_relative_timeout(link, UINT64_MAX); /* a copy takes what it takes */
        int r = varlink_observe(link, method, parameters);
        for (;;) {
                json_object *reply = NULL;
                const char *error_id = NULL;
                bool continues = false;
                if (r >= 0)
                        r = varlink_observe_next(link, &reply, &error_id, &continues);
                if (r < 0 || error_id || !continues)
                        clear_progress(shown);
                if (r < 0)
                        return ctl_log_errno(r, "calling %s failed: %m", method);
                if (error_id)
                        return ctl_report_error(error_id, reply);
                if (!continues) {
                        *ret_reply = reply;
                        return 0;
                }
                if (tty) {
                        show_progress(verb, what, (uint64_t) MAX(ctl_field_int(reply, "bytesDone"), 0),
                                      (uint64_t) MAX(ctl_field_int(reply, "bytesTotal"), 0));
                        shown = true;
                }
        }
}

/* A file: opened with our own rights and passed with the call; the manager says how far it got. */
static int import_file(Varlink *link, json_object *p, const char *path) {
        json_object *reply = NULL;
        struct stat st;
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0 || fstat(fd, &st) < 0)
                return ctl_log_errno(errno, "%s: %m", path);
        if (!S_ISREG(st.st_mode))
                return ctl_log_errno(EBADFD, "%s: not a regular file (use - to read a pipe from stdin)", path);
        int index = varlink_push_fd(link, TAKE_FD(fd));
        if (index < 0)
                return ctl_log_errno(index, "cannot pass %s: %m", path);
        if (json_add_int64(p, "fileDescriptor", index) < 0)
                return ctl_log_oom();
        int r = ctl_call_with_progress(link, "io.cocoon.Snapshot.Import", p, "Importing", path, &reply);
        return r < 0 ? r : import_reply(reply);
}

/* stdin: streamed over the upgraded connection, then the manager's outcome. */
static int import_stdin(Varlink *link, json_object *p) {
        _cleanup_free_ char *leftover = NULL;
        _cleanup_free_ uint8_t *buf = malloc(SNAPSHOT_EXPORT_FRAME_MAX);
        _cleanup_close_ int fd = -EBADF;
        json_object *reply = NULL;
        const char *error_id = NULL;
        size_t leftover_size = 0;
        bool tty = isatty(STDERR_FILENO), shown = false;
        uint64_t done = 0;
        int r;

        if (!buf)
                return ctl_log_oom();
        (void) varlink_set_relative_timeout(link, UINT64_MAX);
        r = varlink_call_and_upgrade(link, "io.cocoon.Snapshot.Import", p, &reply, &error_id, &fd, &leftover,
                                     &leftover_size);
        if (r < 0)
                return ctl_log_errno(r, "calling io.cocoon.Snapshot.Import failed: %m");
        if (error_id)
                return ctl_report_error(error_id, reply);
        for (;;) {
                ssize_t n = read(STDIN_FILENO, buf, SNAPSHOT_EXPORT_FRAME_MAX);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        clear_progress(shown);
                        return ctl_log_errno(errno, "cannot read the archive from stdin: %m");
                }
                if (n == 0)
                        break;
                /* A manager that refused the archive stops reading: its answer is waiting. */
                if (loop_write_wait(fd, buf, (size_t) n, UINT64_MAX) < 0)
                        break;
                done += (uint64_t) n;
                if (tty) {
                        show_progress("Importing", "stdin", done, 0);
                        shown = true;
                }
        }
        clear_progress(shown);
        (void) shutdown(fd, SHUT_WR);
        Stream s = {.fd = fd, .leftover = leftover, .leftover_size = leftover_size};
        _cleanup_(json_object_putp) json_object *outcome = NULL;
        r = stream_read_outcome(&s, "import", &outcome);
        if (r < 0)
                return r;
        return import_reply(outcome);
}

int verb_snapshot_import(int argc, char **argv) {
        _cleanup_(varlink_unrefp) Varlink *link = NULL;
        _cleanup_(json_object_putp) json_object *p = json_object_new_object();
        int r;

        if (!p || (arg_name && json_add_string(p, "name", arg_name) < 0))
                return ctl_log_oom();
        if (streq(argv[0], "-") && isatty(STDIN_FILENO))
                return ctl_log_errno(EINVAL, "refusing to read an archive from a terminal: pipe one in");
        if ((r = ctl_connect(&link)) < 0)
                return r;
        return streq(argv[0], "-") ? import_stdin(link, p) : import_file(link, p, argv[0]);
}
