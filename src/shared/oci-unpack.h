/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Turning a downloaded layer into an EROFS image through the cocoon-unpack helper, run as a transient unit
 * with only the rights unpacking needs, so that the manager keeps none of them. Blocking: worker threads. */
#pragma once

#include "bus-unit.h"
#include "oci-layer.h"

/* What the helper's unit may do (see oci_unpack_sandbox()): root with CAP_CHOWN, CAP_DAC_OVERRIDE,
 * CAP_DAC_READ_SEARCH, CAP_FOWNER (ownership, modes and times as the layer says), CAP_MKNOD (device nodes
 * and overlayfs whiteouts), CAP_SETFCAP (file capabilities), CAP_SYS_ADMIN (trusted.overlay.opaque); no
 * network, the host read-only but for the two store directories. */
#define OCI_UNPACK_UNIT_PREFIX "cocoon-unpack-"

/* The helper's answer file in its work directory: {"kernel": REL, "initrd": REL} (both optional) or
 * {"error": "...", "invalid": bool}. */
#define OCI_UNPACK_RESPONSE "response.json"
/* The tree the helper unpacks into, in its work directory. */
#define OCI_UNPACK_TREE "tree"

/* Parses the helper's answer. A layer the helper refused gives -EBADMSG with its reason in *ret_error,
 * another failure of the helper -EIO with what failed; an answer that does not parse, or names boot files
 * that are not plain relative paths, -EPROTO. */
int oci_unpack_response_parse(const char *text, size_t size, OciLayerBoot *ret_boot, char **ret_error);

/* The unit's sandbox for a store whose blobs and temporary directories are given (each writable at its
 * own path; everything else read-only), and the helper binary (bound read-only: a build tree may sit
 * where ProtectHome=/PrivateTmp= would hide it). bind arrays must hold 3 entries each. */
void oci_unpack_sandbox(const char *helper, const char *blobs_dir, const char *tmp_dir, char *bind[static 3],
                        char *bind_ro[static 2], UnitSandbox *ret);

/* Runs helper over the layer read from layer_fd (a file: any position is fine, it is rewound; or the read
 * end of a pipe the caller writes the layer into as it downloads it, the helper reading it all), digest
 * "sha256:<hex>", unpacking in work_dir (an empty 0700 directory of tmp_dir) and writing the image to
 * output (an existing file of blobs_dir). The boot files it found are paths below work_dir/tree. Errors:
 * -EBADMSG (the layer was refused; *ret_error says why), others with *ret_error saying what failed
 * (mkfs.erofs failed, the helper could not run, crashed or gave no answer). The caller removes work_dir and
 * output on failure. */
int oci_unpack_run(const char *helper, const char *blobs_dir, const char *tmp_dir, int layer_fd,
                   const char *digest, const char *work_dir, const char *output, OciLayerBoot *ret_boot,
                   char **ret_error);
