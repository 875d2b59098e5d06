/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Turning downloaded layers into EROFS images through the cocoon-unpack helper, run as a transient unit
 * with only the rights unpacking needs, so that the manager keeps none of them. One unit serves a whole
 * pull: its stdin is a socket on which the pull hands it one layer after the other (a job: the layer's
 * descriptor and a pipe for the answer), and it unpacks each in a child process of its own, at the same
 * time. Starting a confined unit costs tens of milliseconds of systemd's time; one per layer, three at
 * once on a small host, made that the biggest part of a pull. Blocking: worker threads. */
#pragma once

#include "bus-unit.h"
#include "oci-layer.h"

/* What the helper's unit may do (see oci_unpack_sandbox()): root with CAP_CHOWN, CAP_DAC_OVERRIDE,
 * CAP_DAC_READ_SEARCH, CAP_FOWNER (ownership, modes and times as the layer says), CAP_MKNOD (device nodes
 * and overlayfs whiteouts), CAP_SETFCAP (file capabilities), CAP_SYS_ADMIN (trusted.overlay.opaque); no
 * network, the host read-only but for the two store directories. */
#define OCI_UNPACK_UNIT_PREFIX "cocoon-unpack-"

/* The tree the helper unpacks a layer into when it is on disk, in the job's work directory. */
#define OCI_UNPACK_TREE "tree"
/* How long the helper waits for a job, none at work, before it takes no more and exits: a spare
 * (oci_unpacker_prepare()) is not kept for ever. "cocoon-unpack --idle-exit=SEC" says otherwise. */
#define OCI_UNPACK_IDLE_EXIT_SEC 300
/* Where the helper's memory for trees (a tmpfs of the unit's own) is mounted, and the helper's argument
 * that says so: "cocoon-unpack [MEMORY_DIR]". */
#define OCI_UNPACK_MEMORY_DIR "/run/cocoon"
/* How much bigger than the layer (compressed) its tree is taken to be when memory is reserved for it; a
 * tree that needs more than the memory left goes to disk after all (the answer says to try again). */
#define OCI_UNPACK_EXPANSION 4U
/* The largest answer (JSON); the helper's are far smaller. */
#define OCI_UNPACK_ANSWER_MAX (64U * 1024U)

/* One layer to unpack, as the helper receives it. */
typedef struct OciUnpackJob {
        char *digest;   /* "sha256:<hex>": the EROFS UUID is derived from it */
        char *work_dir; /* absolute, an empty 0700 directory: the tree goes to work_dir/tree when not in
                         * memory, copies of the boot files of a tree in memory to work_dir */
        char *output;   /* absolute, an existing file the image is written to */
        uint64_t layer_size; /* as the manifest says (compressed): what the tree in memory may need */
        bool on_disk;   /* the tree on disk even when memory is free (a try again after memory ran out) */
        int layer_fd;   /* the layer (tar, plain, gzip or zstd), read to its end */
        int answer_fd;  /* where the answer goes (see oci_unpack_answer_parse()), then closed */
} OciUnpackJob;

void oci_unpack_job_done(OciUnpackJob *job);

/* Sends a job on sock (SOCK_SEQPACKET): layer_fd (a file, rewound first, or a pipe's read end; the caller
 * keeps its own descriptor) and a new pipe's write end go with it; *ret_answer_fd is that pipe's read end.
 * -EPIPE/-ECONNRESET: nobody serves sock any more. */
int oci_unpack_job_send(int sock, int layer_fd, const char *digest, const char *work_dir, const char *output,
                        uint64_t layer_size, bool on_disk, int *ret_answer_fd);

/* Receives the next job from sock: 1 and *ret (free with oci_unpack_job_done()), 0 at the end (the
 * sender closed its end), -EBADMSG for a message that is not a valid job (its descriptors closed). */
int oci_unpack_job_receive(int sock, OciUnpackJob *ret);

/* Parses an answer: {"kernel": REL, "initrd": REL} (both optional, paths below work_dir) or
 * {"error": "...", "invalid": bool, "retryOnDisk": bool}. A layer the helper refused gives -EBADMSG with
 * its reason in *ret_error, a tree in memory that did not fit -EAGAIN (the job is to be sent again, on
 * disk), another failure of the helper -EIO with what failed; an answer that does not parse, or names boot
 * files that are not plain relative paths, -EPROTO. */
int oci_unpack_answer_parse(const char *text, size_t size, OciLayerBoot *ret_boot, char **ret_error);

/* Reads an answer from answer_fd to its end and parses it; none at all (the helper died, or its unit
 * never started) is -ENODATA. */
int oci_unpack_answer_read(int answer_fd, OciLayerBoot *ret_boot, char **ret_error);

/* The unit's sandbox for a store whose blobs and temporary directories are given (each writable at its
 * own path; everything else read-only), and the helper binary (bound read-only: a build tree may sit
 * where ProtectHome=/PrivateTmp= would hide it), with memory_max bytes of memory for trees (a tmpfs at
 * OCI_UNPACK_MEMORY_DIR; 0: none, trees on disk). bind arrays must hold 3 entries each. */
void oci_unpack_sandbox(const char *helper, const char *blobs_dir, const char *tmp_dir, uint64_t memory_max,
                        char *bind[static 3], char *bind_ro[static 2], UnitSandbox *ret);

/* The helper's unit of one pull. */
typedef struct OciUnpacker OciUnpacker;

/* The spare helper started ahead by oci_unpacker_prepare() when it is for the same helper, store and
 * memory, else a new one: its unit started in a thread of its own, which waits for it to end and outlives
 * the OciUnpacker when it must (the pull does not wait for systemd to notice that the helper exited), with
 * memory_max bytes of memory for trees (see oci_unpack_sandbox()). -ENOENT: helper is NULL (not
 * installed). */
int oci_unpacker_get(const char *helper, const char *blobs_dir, const char *tmp_dir, uint64_t memory_max,
                     OciUnpacker **ret);
/* Starts a spare helper for the next oci_unpacker_get(), unless one is waiting already: called when a
 * pull is done with its own, so that the next pull does not wait for systemd to start one. A spare exits
 * by itself after OCI_UNPACK_IDLE_EXIT_SEC without a job (oci_unpacker_submit() then starts another). */
void oci_unpacker_prepare(const char *helper, const char *blobs_dir, const char *tmp_dir, uint64_t memory_max);
/* Lets the spare go (it exits). */
void oci_unpacker_drop_spare(void);

/* Tells the helper that no more jobs come: it finishes those it has and exits. */
OciUnpacker *oci_unpacker_free(OciUnpacker *u);
DEFINE_TRIVIAL_CLEANUP_FUNC(OciUnpacker *, oci_unpacker_free);

/* Hands one layer to the helper (thread-safe), see oci_unpack_job_send(): layer_fd a file, or the read end
 * of a pipe the caller then writes the layer into as it downloads it; then oci_unpacker_wait() with the
 * answer descriptor. A helper found gone (a spare that exited idle) is replaced by a new unit, once.
 * Errors with *ret_error saying what failed. */
int oci_unpacker_submit(OciUnpacker *u, int layer_fd, const char *digest, const char *work_dir,
                        const char *output, uint64_t layer_size, bool on_disk, int *ret_answer_fd,
                        char **ret_error);

/* Waits for the answer to a job: the boot files found (paths below work_dir), or -EBADMSG (the layer
 * was refused; *ret_error says why), -EAGAIN (its tree did not fit in memory: submit it again, on disk),
 * or another error with *ret_error saying what failed (mkfs.erofs
 * failed, the helper could not run, crashed or gave no answer). The caller removes work_dir and output
 * on failure. */
int oci_unpacker_wait(OciUnpacker *u, int answer_fd, OciLayerBoot *ret_boot, char **ret_error);
