/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What this host can run: hypervisor binaries, their versions, hardware virtualization. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* Absolute path of an executable: `name` itself when it contains a '/', else searched in $PATH (or a default
 * PATH when unset). -ENOENT when not found. */
int find_executable(const char *name, char **ret_path);

/* First version-looking word printed by `path --version` (e.g. "7.2.22"). Runs a process: call it off the
 * event loop or once and cache the result. */
int binary_version(const char *path, char **ret_version);

/* True only when the CPU really offers hardware virtualization to KVM (kvm_intel/kvm_amd loaded, or vmx/svm
 * in /proc/cpuinfo) and /dev/kvm opens. A kvm-pvm /dev/kvm (a KVM without VT-x/AMD-V, as on nested cloud
 * hosts) makes stock guest kernels crash, so it does not count. */
bool host_has_hardware_virtualization(void);

/* The host TSC frequency in kHz from /proc/cpuinfo ("cpu MHz"), 0 when unknown. */
uint64_t host_tsc_khz(void);
