/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Running cocoon-unpack as a confined transient unit for a pull, the jobs it gets and its answers. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <linux/capability.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fd-util.h"
#include "fs-util.h"
#include "id.h"
#include "json-util.h"
#include "oci-reference.h"
#include "oci-unpack.h"

/* A boot file the helper names must be a plain path below the tree: no "..", not absolute, no empty or
 * "." components. (The manager opens it RESOLVE_BENEATH without symlinks anyway.) */
static bool relative_path_is_safe(const char *p) {
        if (!p || p[0] == '\0' || p[0] == '/' || strlen(p) > 4096)
                return false;
        for (const char *c = p; *c;) {
                size_t n = strcspn(c, "/");
                if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
                        return false;
                c += n;
                if (*c == '/')
                        c++;
        }
        return p[strlen(p) - 1] != '/';
}

int oci_unpack_answer_parse(const char *text, size_t size, OciLayerBoot *ret_boot, char **ret_error) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        const char *error, *kernel = NULL, *initrd = NULL;
        OciLayerBoot boot = {};

        if (json_parse(text, size, &o) < 0 || !json_object_is_type(o, json_type_object))
                return -EPROTO;
        if (json_get_string(o, "error", &error) >= 0) {
                bool invalid = false, retry = false;

                (void) json_get_bool(o, "invalid", &invalid);
                (void) json_get_bool(o, "retryOnDisk", &retry);
                *ret_error = strdup(error);
                return !*ret_error ? -ENOMEM : invalid ? -EBADMSG : retry ? -EAGAIN : -EIO;
        }
        if (json_get_string(o, "kernel", &kernel) == -EINVAL ||
            json_get_string(o, "initrd", &initrd) == -EINVAL || (kernel && !relative_path_is_safe(kernel)) ||
            (initrd && !relative_path_is_safe(initrd)))
                return -EPROTO;
        if ((kernel && !(boot.kernel = strdup(kernel))) || (initrd && !(boot.initrd = strdup(initrd)))) {
                oci_layer_boot_done(&boot);
                return -ENOMEM;
        }
        *ret_boot = boot;
        return 0;
}

#define CAP(c) (UINT64_C(1) << (c))

void oci_unpack_sandbox(const char *helper, const char *blobs_dir, const char *tmp_dir, uint64_t memory_max,
                        char *bind[static 3], char *bind_ro[static 2], UnitSandbox *ret) {
        bind[0] = (char *) blobs_dir;
        bind[1] = (char *) tmp_dir;
        bind[2] = NULL;
        bind_ro[0] = (char *) helper;
        bind_ro[1] = NULL;
        *ret = (UnitSandbox){
                .bind_paths = bind,
                .bind_read_only_paths = bind_ro,
                /* mkfs.erofs' lz4 is plain code: no W+X pages needed. */
                .capabilities = CAP(CAP_CHOWN) | CAP(CAP_DAC_OVERRIDE) | CAP(CAP_DAC_READ_SEARCH) |
                                CAP(CAP_FOWNER) | CAP(CAP_MKNOD) | CAP(CAP_SETFCAP) | CAP(CAP_SYS_ADMIN),
                .allow_suid_sgid = true,
                /* Over the manager's runtime directory: hidden from the helper, which has no business
                 * there. */
                .scratch_path = memory_max > 0 ? OCI_UNPACK_MEMORY_DIR : NULL,
                .scratch_size = memory_max,
        };
}

/* ---- jobs: one message each on the helper's socket ---- */

/* A job's text: {"digest", "workDir", "output", "layerSize", "onDisk"}; the layer and the answer pipe go
 * as SCM_RIGHTS. */
#define JOB_TEXT_MAX (16U * 1024U)
#define JOB_FDS 2

void oci_unpack_job_done(OciUnpackJob *job) {
        free(job->digest);
        free(job->work_dir);
        free(job->output);
        safe_close(job->layer_fd);
        safe_close(job->answer_fd);
        *job = (OciUnpackJob){.layer_fd = -EBADF, .answer_fd = -EBADF};
}

int oci_unpack_job_send(int sock, int layer_fd, const char *digest, const char *work_dir, const char *output,
                        uint64_t layer_size, bool on_disk, int *ret_answer_fd) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        _cleanup_close_ int answer_r = -EBADF, answer_w = -EBADF;
        const char *text;
        int pipefd[2];

        if (!o || json_add_string(o, "digest", digest) < 0 || json_add_string(o, "workDir", work_dir) < 0 ||
            json_add_string(o, "output", output) < 0 || json_add_uint64(o, "layerSize", layer_size) < 0 ||
            json_add_bool(o, "onDisk", on_disk) < 0 || !(text = json_to_string(o)))
                return -ENOMEM;
        if (strlen(text) >= JOB_TEXT_MAX)
                return -E2BIG;
        /* A file is read from where its offset is, and the helper shares that offset with us. */
        if (lseek(layer_fd, 0, SEEK_SET) < 0 && errno != ESPIPE)
                return -errno;
        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return -errno;
        answer_r = pipefd[0];
        answer_w = pipefd[1];

        /* Our write end goes when we return: the answer pipe ends when the helper's child closes its
         * copy, or when the job is dropped unread (the helper gone). */
        while (send_with_fds(sock, text, strlen(text), (int[JOB_FDS]){layer_fd, answer_w}, JOB_FDS, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        *ret_answer_fd = TAKE_FD(answer_r);
        return 0;
}

static int job_from_text(const char *text, size_t size, OciUnpackJob *job) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        const char *digest, *work_dir, *output;

        if (json_parse(text, size, &o) < 0 || !json_object_is_type(o, json_type_object) ||
            json_get_string(o, "digest", &digest) < 0 || json_get_string(o, "workDir", &work_dir) < 0 ||
            json_get_string(o, "output", &output) < 0)
                return -EBADMSG;
        if (!oci_digest_is_valid(digest) || work_dir[0] != '/' || output[0] != '/' ||
            json_get_uint64(o, "layerSize", &job->layer_size) < 0 || json_get_bool(o, "onDisk", &job->on_disk) < 0)
                return -EBADMSG;
        job->digest = strdup(digest);
        job->work_dir = strdup(work_dir);
        job->output = strdup(output);
        return job->digest && job->work_dir && job->output ? 0 : -ENOMEM;
}

int oci_unpack_job_receive(int sock, OciUnpackJob *ret) {
        _cleanup_(oci_unpack_job_done) OciUnpackJob job = {.layer_fd = -EBADF, .answer_fd = -EBADF};
        union {
                struct cmsghdr header;
                char buf[CMSG_SPACE(sizeof(int) * JOB_FDS)];
        } control = {};
        char text[JOB_TEXT_MAX];
        struct iovec iov = {.iov_base = text, .iov_len = sizeof(text)};
        struct msghdr msg = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = &control,
                .msg_controllen = sizeof(control.buf),
        };
        int fds[JOB_FDS], n_fds = 0;
        ssize_t n;

        do
                n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                        int k = (int) ((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
                        int *p = (int *) CMSG_DATA(c);

                        for (int i = 0; i < k; i++) {
                                if (n_fds < JOB_FDS)
                                        fds[n_fds++] = p[i];
                                else
                                        safe_close(p[i]);
                        }
                }
        if (n_fds > 0)
                job.layer_fd = fds[0];
        if (n_fds > 1)
                job.answer_fd = fds[1];
        if (n == 0 && n_fds == 0)
                return 0;
        if (n_fds != JOB_FDS || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
                return -EBADMSG;
        int r = job_from_text(text, (size_t) n, &job);
        if (r < 0)
                return r;
        *ret = job;
        job = (OciUnpackJob){.layer_fd = -EBADF, .answer_fd = -EBADF};
        return 1;
}

int oci_unpack_answer_read(int answer_fd, OciLayerBoot *ret_boot, char **ret_error) {
        _cleanup_free_ char *text = malloc(OCI_UNPACK_ANSWER_MAX);
        size_t size = 0;

        if (!text)
                return -ENOMEM;
        for (;;) {
                ssize_t n = read(answer_fd, text + size, OCI_UNPACK_ANSWER_MAX - size);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                size += (size_t) n;
                if (size == OCI_UNPACK_ANSWER_MAX)
                        return -EPROTO;
        }
        if (size == 0)
                return -ENODATA;
        return oci_unpack_answer_parse(text, size, ret_boot, ret_error);
}

/* ---- the unit ---- */

/* What the unit's thread shares with the pull; the last of the two to let go frees it. */
typedef struct UnpackUnit {
        atomic_int n_ref;
        char *name;
        char *helper, *blobs_dir, *tmp_dir;
        uint64_t memory_max;
        int peer_fd; /* the helper's end of the socket, the unit's stdin */
        pthread_mutex_t lock;
        bool finished;
        int result;  /* the unit's: < 0 it could not start or failed */
        char *error; /* then what systemd said */
} UnpackUnit;

struct OciUnpacker {
        pthread_mutex_t lock; /* jobs are sent from several threads; the unit may be replaced */
        UnpackUnit *unit;
        int sock;      /* ours */
        bool replaced; /* a new unit took over from one that was gone (see oci_unpacker_submit()) */
};

static void unpack_unit_unref(UnpackUnit *unit) {
        if (!unit || atomic_fetch_sub(&unit->n_ref, 1) > 1)
                return;
        free(unit->name);
        free(unit->helper);
        free(unit->blobs_dir);
        free(unit->tmp_dir);
        safe_close(unit->peer_fd);
        pthread_mutex_destroy(&unit->lock);
        free(unit->error);
        free(unit);
}

static void *unit_thread(void *userdata) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        UnpackUnit *unit = userdata;
        _cleanup_free_ char *error = NULL;
        char *bind[3], *bind_ro[2];
        UnitSandbox sandbox;
        int r;

        char *argv[] = {unit->helper, unit->memory_max > 0 ? (char *) OCI_UNPACK_MEMORY_DIR : NULL, NULL};
        oci_unpack_sandbox(unit->helper, unit->blobs_dir, unit->tmp_dir, unit->memory_max, bind, bind_ro,
                           &sandbox);
        UnitSpec spec = {
                .description = (char *) "cocoon: unpack image layers",
                .slice = "cocoon.slice",
                .argv = argv,
                .stdin_fd = unit->peer_fd,
                .sandbox = &sandbox,
                .oneshot = true,
        };
        r = sd_bus_open_system(&bus);
        if (r < 0)
                (void) asprintf(&error, "cannot connect to systemd: %s", strerror(-r));
        else
                /* Returns when the helper has exited (Type=oneshot). */
                r = unit_start_transient(bus, unit->name, &spec, &error);
        pthread_mutex_lock(&unit->lock);
        unit->finished = true;
        unit->result = r;
        unit->error = TAKE_PTR(error);
        pthread_mutex_unlock(&unit->lock);
        /* Jobs still queued on the socket are dropped with it now, their answer pipes with them: nobody
         * waits for an answer that cannot come. (After the result is known: who sees a pipe end here
         * reads why.) */
        unit->peer_fd = safe_close(unit->peer_fd);
        unpack_unit_unref(unit);
        return NULL;
}

/* Starts a unit for the helper: *ret_unit (one reference ours) and our end of its socket. */
static int unit_start(const char *helper, const char *blobs_dir, const char *tmp_dir, uint64_t memory_max,
                      UnpackUnit **ret_unit, int *ret_sock) {
        UnpackUnit *unit;
        char id[ID_LENGTH + 1];
        pthread_attr_t attr;
        pthread_t thread;
        int pair[2], r;

        unit = calloc(1, sizeof(*unit));
        if (!unit)
                return -ENOMEM;
        atomic_init(&unit->n_ref, 1);
        unit->peer_fd = -EBADF;
        pthread_mutex_init(&unit->lock, NULL);
        r = id_generate(id);
        if (r >= 0 && asprintf(&unit->name, OCI_UNPACK_UNIT_PREFIX "%.12s.service", id) < 0) {
                unit->name = NULL;
                r = -ENOMEM;
        }
        if (r >= 0) {
                unit->helper = strdup(helper);
                unit->blobs_dir = strdup(blobs_dir);
                unit->tmp_dir = strdup(tmp_dir);
                unit->memory_max = memory_max;
                if (!unit->helper || !unit->blobs_dir || !unit->tmp_dir)
                        r = -ENOMEM;
        }
        if (r >= 0 && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
                r = -errno;
        if (r < 0) {
                unpack_unit_unref(unit);
                return r;
        }
        unit->peer_fd = pair[1];

        /* Detached, holding its own reference: it lives until systemd says the unit ended, which the pull
         * has no reason to wait for once every answer is in. */
        atomic_fetch_add(&unit->n_ref, 1);
        r = -pthread_attr_init(&attr);
        if (r == 0) {
                (void) pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
                r = -pthread_create(&thread, &attr, unit_thread, unit);
                pthread_attr_destroy(&attr);
        }
        if (r < 0) {
                atomic_fetch_sub(&unit->n_ref, 1);
                unpack_unit_unref(unit);
                safe_close(pair[0]);
                return r;
        }
        *ret_unit = unit;
        *ret_sock = pair[0];
        return 0;
}

static int unpacker_new(const char *helper, const char *blobs_dir, const char *tmp_dir, uint64_t memory_max,
                        OciUnpacker **ret) {
        _cleanup_(oci_unpacker_freep) OciUnpacker *u = NULL;
        int r;

        if (!helper)
                return -ENOENT;
        u = calloc(1, sizeof(*u));
        if (!u)
                return -ENOMEM;
        u->sock = -EBADF;
        pthread_mutex_init(&u->lock, NULL);
        r = unit_start(helper, blobs_dir, tmp_dir, memory_max, &u->unit, &u->sock);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(u);
        return 0;
}

OciUnpacker *oci_unpacker_free(OciUnpacker *u) {
        if (!u)
                return NULL;
        /* The helper reads the end of its jobs, finishes those it has and exits. */
        safe_close(u->sock);
        unpack_unit_unref(u->unit);
        pthread_mutex_destroy(&u->lock);
        free(u);
        return NULL;
}

/* The spare: a helper started ahead, after a pull, so that the next one finds it running (systemd takes
 * tens of milliseconds to set up a confined unit, during which a download would wait). */
static pthread_mutex_t spare_lock = PTHREAD_MUTEX_INITIALIZER;
static OciUnpacker *spare;

static bool unpacker_is_for(const OciUnpacker *u, const char *helper, const char *blobs_dir,
                            const char *tmp_dir, uint64_t memory_max) {
        return streq(u->unit->helper, helper) && streq(u->unit->blobs_dir, blobs_dir) &&
               streq(u->unit->tmp_dir, tmp_dir) && u->unit->memory_max == memory_max;
}

int oci_unpacker_get(const char *helper, const char *blobs_dir, const char *tmp_dir, uint64_t memory_max,
                     OciUnpacker **ret) {
        _cleanup_(oci_unpacker_freep) OciUnpacker *other = NULL;

        if (!helper)
                return -ENOENT;
        pthread_mutex_lock(&spare_lock);
        if (spare && unpacker_is_for(spare, helper, blobs_dir, tmp_dir, memory_max)) {
                *ret = TAKE_PTR(spare);
                pthread_mutex_unlock(&spare_lock);
                return 0;
        }
        /* One for another store (tests): it goes. */
        other = TAKE_PTR(spare);
        pthread_mutex_unlock(&spare_lock);
        return unpacker_new(helper, blobs_dir, tmp_dir, memory_max, ret);
}

void oci_unpacker_prepare(const char *helper, const char *blobs_dir, const char *tmp_dir, uint64_t memory_max) {
        _cleanup_(oci_unpacker_freep) OciUnpacker *other = NULL;

        if (!helper)
                return;
        pthread_mutex_lock(&spare_lock);
        if (spare && unpacker_is_for(spare, helper, blobs_dir, tmp_dir, memory_max)) {
                pthread_mutex_unlock(&spare_lock);
                return;
        }
        other = TAKE_PTR(spare);
        /* Not started: the next pull starts its own. */
        (void) unpacker_new(helper, blobs_dir, tmp_dir, memory_max, &spare);
        pthread_mutex_unlock(&spare_lock);
}

void oci_unpacker_drop_spare(void) {
        pthread_mutex_lock(&spare_lock);
        spare = oci_unpacker_free(spare);
        pthread_mutex_unlock(&spare_lock);
}

static int fail(char **ret_error, int r, const char *fmt, ...) _printf_(3, 4);
static int fail(char **ret_error, int r, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(ret_error, fmt, ap) < 0)
                *ret_error = NULL;
        va_end(ap);
        return r;
}

/* Why the helper took no job or gave no answer: its unit's failure when systemd said so already. */
static int unit_failed(OciUnpacker *u, int r, const char *what, char **ret_error) {
        _cleanup_free_ char *unit_error = NULL;
        int unit_result = 0;

        pthread_mutex_lock(&u->unit->lock);
        if (u->unit->finished) {
                unit_result = u->unit->result;
                unit_error = u->unit->error ? strdup(u->unit->error) : NULL;
        }
        pthread_mutex_unlock(&u->unit->lock);
        if (unit_result < 0)
                return fail(ret_error, unit_result, "the layer unpacker %s failed: %s (journalctl -u %s)",
                            u->unit->name, unit_error ?: strerror(-unit_result), u->unit->name);
        return fail(ret_error, r, "the layer unpacker %s %s (journalctl -u %s)", u->unit->name, what,
                    u->unit->name);
}

int oci_unpacker_submit(OciUnpacker *u, int layer_fd, const char *digest, const char *work_dir,
                        const char *output, uint64_t layer_size, bool on_disk, int *ret_answer_fd,
                        char **ret_error) {
        int r;

        pthread_mutex_lock(&u->lock);
        r = oci_unpack_job_send(u->sock, layer_fd, digest, work_dir, output, layer_size, on_disk,
                                ret_answer_fd);
        if ((r == -EPIPE || r == -ECONNRESET) && !u->replaced) {
                UnpackUnit *unit;
                int sock;

                /* Gone before this job: a spare that waited too long and exited (it takes no job after
                 * it said so; those it took, it finishes), or one that died. Once, a new one. */
                u->replaced = true;
                r = unit_start(u->unit->helper, u->unit->blobs_dir, u->unit->tmp_dir, u->unit->memory_max,
                               &unit, &sock);
                if (r >= 0) {
                        unpack_unit_unref(u->unit);
                        safe_close(u->sock);
                        u->unit = unit;
                        u->sock = sock;
                        r = oci_unpack_job_send(u->sock, layer_fd, digest, work_dir, output, layer_size,
                                                on_disk, ret_answer_fd);
                }
        }
        if (r == -EPIPE || r == -ECONNRESET)
                r = unit_failed(u, -EIO, "is gone", ret_error);
        else if (r < 0)
                r = fail(ret_error, r, "cannot hand the layer to the unpacker: %s", strerror(-r));
        pthread_mutex_unlock(&u->lock);
        return r;
}

int oci_unpacker_wait(OciUnpacker *u, int answer_fd, OciLayerBoot *ret_boot, char **ret_error) {
        int r = oci_unpack_answer_read(answer_fd, ret_boot, ret_error);

        pthread_mutex_lock(&u->lock);
        if (r == -ENODATA)
                r = unit_failed(u, -EIO, "gave no answer", ret_error);
        else if (r == -EPROTO)
                r = fail(ret_error, r, "the layer unpacker %s gave a malformed answer", u->unit->name);
        pthread_mutex_unlock(&u->lock);
        return r;
}
