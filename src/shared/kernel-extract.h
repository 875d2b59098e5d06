/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The uncompressed ELF vmlinux inside an x86 bzImage, for hypervisors that boot only ELF (Firecracker). */
#pragma once

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

/* The compressions a bzImage's payload comes in that we decompress. */
typedef enum KernelCompression {
        KERNEL_COMPRESSION_GZIP,
        KERNEL_COMPRESSION_XZ,
        KERNEL_COMPRESSION_ZSTD,
        KERNEL_COMPRESSION_LZ4,
        _KERNEL_COMPRESSION_MAX,
        _KERNEL_COMPRESSION_INVALID = -EINVAL,
} KernelCompression;

const char *kernel_compression_to_string(KernelCompression c);
KernelCompression kernel_compression_from_string(const char *s);

/* Next to the kernel file: <kernel><suffix> holds its vmlinux once extracted. */
#define KERNEL_VMLINUX_SUFFIX ".vmlinux"

/* Where a bzImage's compressed payload is (the boot protocol's setup header: payload_offset and
 * payload_length, protocol 2.08 and later) and how it is compressed (from its magic). data is the whole
 * file. -EBADMSG when it is no bzImage or the header points outside the file, -EPROTONOSUPPORT for a
 * compression not in KernelCompression (bzip2, lzma, lzo). */
int kernel_bzimage_payload(const uint8_t *data, size_t size, size_t *ret_offset, size_t *ret_length,
                           KernelCompression *ret_compression);

/* Decompresses the payload of the bzImage read from in_fd into out_fd (written from its current offset).
 * The result must be an ELF file (-EBADMSG otherwise). Blocking, for worker threads. */
int kernel_extract_vmlinux_fd(int in_fd, int out_fd);

/* The path of an uncompressed ELF kernel for kernel_path: kernel_path itself when it is ELF already, else
 * <kernel_path>.vmlinux, extracted on first use (atomically: a temporary file renamed into place, 0644) and
 * reused afterwards. Blocking, for worker threads. */
int kernel_ensure_vmlinux(const char *kernel_path, char **ret_path);
