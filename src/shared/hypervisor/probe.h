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

/* The host TSC frequency in kHz, 0 when unknown: from CPUID leaf 0x15 (with 0x16), else the hypervisor's
 * timing leaf 0x40000010, else the kernel's own calibration as /proc/cpuinfo shows it (bogomips, on a CPU
 * with a constant TSC). Never the current "cpu MHz", which frequency scaling moves. */
uint64_t host_tsc_khz(void);

/* The parsing steps of host_tsc_khz(), 0 when the input gives no frequency. `denominator`, `numerator` and
 * `crystal_hz` are EAX, EBX and ECX of CPUID leaf 0x15, `base_mhz` is EAX of leaf 0x16 (0 if absent). */
uint64_t tsc_khz_from_cpuid(uint32_t denominator, uint32_t numerator, uint32_t crystal_hz,
                            uint32_t base_mhz);
uint64_t tsc_khz_from_cpuinfo(const char *cpuinfo);
