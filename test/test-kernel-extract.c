/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for kernel-extract: bzImage payloads in every compression, hostile headers, the cached vmlinux, and
 * the real Debian kernel the test guest boots (its ELF entry point and program headers). */
#include <elf.h>
#include <fcntl.h>
#include <glob.h>
#include <lz4.h>
#include <lzma.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <cmocka.h>

#include "fd-util.h"
#include "fs-util.h"
#include "kernel-extract.h"
#include "macro.h"

#define PAYLOAD_START 1024 /* setup_sects = 1: the protected-mode code begins at sector 2 */

/* A fake ELF big enough to span several compression blocks and chunks. */
static uint8_t *make_elf(size_t size) {
        uint8_t *p = malloc(size);
        assert_non_null(p);
        uint32_t x = 12345;
        for (size_t i = 0; i < size; i++) {
                x = x * 1103515245 + 12345;
                p[i] = (uint8_t) ((i % 4096) < 2048 ? (x >> 24) : (i & 0x0f)); /* half noise, half pattern */
        }
        memcpy(p, "\177ELF", 4);
        return p;
}

static size_t compress_gzip(const uint8_t *in, size_t n, uint8_t *out, size_t cap) {
        z_stream z = {};
        assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
        z.next_in = (Bytef *) in;
        z.avail_in = (uInt) n;
        z.next_out = out;
        z.avail_out = (uInt) cap;
        assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
        size_t k = z.total_out;
        deflateEnd(&z);
        return k;
}

static size_t compress_xz(const uint8_t *in, size_t n, uint8_t *out, size_t cap) {
        size_t pos = 0;
        assert_int_equal(lzma_easy_buffer_encode(1, LZMA_CHECK_CRC32, NULL, in, n, out, &pos, cap), LZMA_OK);
        return pos;
}

static size_t compress_zstd(const uint8_t *in, size_t n, uint8_t *out, size_t cap) {
        size_t k = ZSTD_compress(out, cap, in, n, 3);
        assert_false(ZSTD_isError(k));
        return k;
}

static void put_le32(uint8_t *p, uint32_t v) {
        p[0] = (uint8_t) v;
        p[1] = (uint8_t) (v >> 8);
        p[2] = (uint8_t) (v >> 16);
        p[3] = (uint8_t) (v >> 24);
}

/* The legacy frame format, as the kernel's build writes it (lz4 -l): magic, then sized blocks. */
static size_t compress_lz4(const uint8_t *in, size_t n, uint8_t *out, size_t cap) {
        const size_t block = 8U << 20;
        size_t pos = 4;
        put_le32(out, 0x184C2102U);
        for (size_t off = 0; off < n; off += block) {
                int k = LZ4_compress_default((const char *) in + off, (char *) out + pos + 4,
                                             (int) MIN(block, n - off), (int) (cap - pos - 4));
                assert_true(k > 0);
                put_le32(out + pos, (uint32_t) k);
                pos += 4 + (size_t) k;
        }
        return pos;
}

typedef size_t (*CompressFunc)(const uint8_t *in, size_t n, uint8_t *out, size_t cap);

/* A bzImage around payload: the setup header's fields and the uncompressed size the kernel appends. */
static uint8_t *make_bzimage(const uint8_t *payload, size_t n, uint32_t uncompressed, size_t *ret_size) {
        size_t size = PAYLOAD_START + n + 4 + 512;
        uint8_t *b = calloc(1, size);
        assert_non_null(b);
        b[0x1f1] = 1;
        memcpy(b + 0x202, "HdrS", 4);
        b[0x206] = 0x0f;
        b[0x207] = 0x02;
        put_le32(b + 0x248, 0);
        put_le32(b + 0x24c, (uint32_t) n + 4);
        memcpy(b + PAYLOAD_START, payload, n);
        put_le32(b + PAYLOAD_START + n, uncompressed);
        *ret_size = size;
        return b;
}

static int write_temp(const uint8_t *data, size_t size, char *path) {
        int fd = mkostemp(path, O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(loop_write(fd, data, size), 0);
        return fd;
}

static void roundtrip(CompressFunc compress, KernelCompression expected, size_t n) {
        _cleanup_free_ uint8_t *elf = make_elf(n);
        size_t cap = n + n / 2 + 65536;
        _cleanup_free_ uint8_t *packed = malloc(cap);
        assert_non_null(packed);
        size_t k = compress(elf, n, packed, cap);
        size_t size, offset, length;
        KernelCompression c;
        _cleanup_free_ uint8_t *image = make_bzimage(packed, k, (uint32_t) n, &size);

        assert_int_equal(kernel_bzimage_payload(image, size, &offset, &length, &c), 0);
        assert_int_equal(c, expected);
        assert_int_equal(offset, PAYLOAD_START);
        assert_int_equal(length, k + 4);

        char in_path[] = "/tmp/test-kernel-extract-in-XXXXXX",
             out_path[] = "/tmp/test-kernel-extract-out-XXXXXX";
        _cleanup_close_ int in = write_temp(image, size, in_path);
        _cleanup_close_ int out = mkostemp(out_path, O_CLOEXEC);
        assert_true(out >= 0);
        assert_int_equal(kernel_extract_vmlinux_fd(in, out), 0);
        _cleanup_free_ char *result = NULL;
        size_t result_size;
        assert_int_equal(read_full_file(out_path, &result, &result_size), 0);
        assert_int_equal(result_size, n);
        assert_memory_equal(result, elf, n);

        /* Cut short inside the compressed data: an error, never a partial kernel taken for whole. */
        put_le32(image + 0x24c, (uint32_t) (k / 2));
        assert_int_equal(ftruncate(out, 0), 0);
        assert_int_equal(lseek(out, 0, SEEK_SET), 0);
        _cleanup_close_ int in2 = -EBADF;
        char in2_path[] = "/tmp/test-kernel-extract-in-XXXXXX";
        in2 = write_temp(image, size, in2_path);
        assert_int_equal(kernel_extract_vmlinux_fd(in2, out), -EBADMSG);

        unlink(in_path);
        unlink(in2_path);
        unlink(out_path);
}

static void test_gzip(void **state) {
        roundtrip(compress_gzip, KERNEL_COMPRESSION_GZIP, 1U << 20);
}

static void test_xz(void **state) {
        roundtrip(compress_xz, KERNEL_COMPRESSION_XZ, 1U << 20);
}

static void test_zstd(void **state) {
        roundtrip(compress_zstd, KERNEL_COMPRESSION_ZSTD, 1U << 20);
}

static void test_lz4(void **state) {
        roundtrip(compress_lz4, KERNEL_COMPRESSION_LZ4, 9U << 20); /* more than one block */
}

static void test_compression_strings(void **state) {
        for (KernelCompression c = 0; c < _KERNEL_COMPRESSION_MAX; c++)
                assert_int_equal(kernel_compression_from_string(kernel_compression_to_string(c)), c);
        assert_int_equal(kernel_compression_from_string("bzip2"), _KERNEL_COMPRESSION_INVALID);
        assert_null(kernel_compression_to_string(_KERNEL_COMPRESSION_MAX));
}

static void test_hostile_headers(void **state) {
        uint8_t payload[64] = {'B', 'Z', 'h', '9'};
        size_t size, offset, length;
        KernelCompression c;
        _cleanup_free_ uint8_t *image = make_bzimage(payload, sizeof(payload), 0, &size);

        /* bzip2: a real kernel compression, not one we take. */
        assert_int_equal(kernel_bzimage_payload(image, size, &offset, &length, &c), -EPROTONOSUPPORT);
        /* Payload past the end of the file. */
        put_le32(image + 0x248, (uint32_t) size);
        assert_int_equal(kernel_bzimage_payload(image, size, &offset, &length, &c), -EBADMSG);
        put_le32(image + 0x248, 0);
        put_le32(image + 0x24c, UINT32_MAX);
        assert_int_equal(kernel_bzimage_payload(image, size, &offset, &length, &c), -EBADMSG);
        put_le32(image + 0x24c, sizeof(payload));
        /* Boot protocol too old to have payload fields; no header at all; a short file. */
        image[0x207] = 0x02;
        image[0x206] = 0x07;
        assert_int_equal(kernel_bzimage_payload(image, size, &offset, &length, &c), -EBADMSG);
        image[0x206] = 0x0f;
        memcpy(image + 0x202, "HdrX", 4);
        assert_int_equal(kernel_bzimage_payload(image, size, &offset, &length, &c), -EBADMSG);
        assert_int_equal(kernel_bzimage_payload(image, 0x100, &offset, &length, &c), -EBADMSG);
}

static void test_payload_not_elf(void **state) {
        const size_t n = 65536;
        _cleanup_free_ uint8_t *data = make_elf(n), *packed = malloc(2 * n);
        memcpy(data, "MZ\0\0", 4); /* a PE file, say */
        size_t k = compress_zstd(data, n, packed, 2 * n), size;
        _cleanup_free_ uint8_t *image = make_bzimage(packed, k, (uint32_t) n, &size);
        char in_path[] = "/tmp/test-kernel-extract-in-XXXXXX",
             out_path[] = "/tmp/test-kernel-extract-out-XXXXXX";
        _cleanup_close_ int in = write_temp(image, size, in_path);
        _cleanup_close_ int out = mkostemp(out_path, O_CLOEXEC);
        assert_int_equal(kernel_extract_vmlinux_fd(in, out), -EBADMSG);
        unlink(in_path);
        unlink(out_path);
}

static void test_ensure_caches(void **state) {
        char dir[] = "/tmp/test-kernel-extract-dir-XXXXXX";
        assert_non_null(mkdtemp(dir));
        const size_t n = 1U << 20;
        _cleanup_free_ uint8_t *elf = make_elf(n), *packed = malloc(2 * n);
        size_t k = compress_gzip(elf, n, packed, 2 * n), size;
        _cleanup_free_ uint8_t *image = make_bzimage(packed, k, (uint32_t) n, &size);
        _cleanup_free_ char *kernel = NULL, *elf_path = NULL, *path = NULL, *again = NULL, *same = NULL;
        assert_true(asprintf(&kernel, "%s/abc.vmlinuz", dir) > 0);
        assert_true(asprintf(&elf_path, "%s/plain", dir) > 0);
        _cleanup_close_ int fd = open(kernel, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        assert_int_equal(loop_write(fd, image, size), 0);

        assert_int_equal(kernel_ensure_vmlinux(kernel, &path), 0);
        assert_true(strlen(path) == strlen(kernel) + strlen(KERNEL_VMLINUX_SUFFIX));
        assert_string_equal(path + strlen(kernel), KERNEL_VMLINUX_SUFFIX);
        struct stat st1, st2;
        assert_int_equal(stat(path, &st1), 0);
        assert_int_equal(st1.st_size, (off_t) n);
        assert_int_equal(st1.st_mode & 0777, 0644);
        /* The second call finds the first one's result: the same file, not rewritten. */
        assert_int_equal(kernel_ensure_vmlinux(kernel, &again), 0);
        assert_string_equal(again, path);
        assert_int_equal(stat(path, &st2), 0);
        assert_int_equal(st1.st_ino, st2.st_ino);

        /* An ELF kernel is its own vmlinux. */
        _cleanup_close_ int efd = open(elf_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        assert_int_equal(loop_write(efd, elf, n), 0);
        assert_int_equal(kernel_ensure_vmlinux(elf_path, &same), 0);
        assert_string_equal(same, elf_path);

        /* Nothing half-written stays next to the kernel when extraction fails. */
        _cleanup_free_ char *bad = NULL, *bad_path = NULL;
        assert_true(asprintf(&bad, "%s/bad.vmlinuz", dir) > 0);
        _cleanup_close_ int bfd = open(bad, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        assert_int_equal(loop_write(bfd, image, size / 2), 0);
        assert_true(kernel_ensure_vmlinux(bad, &bad_path) < 0);
        assert_null(bad_path);
        assert_int_equal(rm_rf(dir), 0);
}

/* The kernel package test/guest/build.sh downloads, in its cache: the bzImage out of it, or NULL. */
static char *find_debian_kernel(const char *tmpdir) {
        const char *candidates[] = {getenv("COCOON_GUEST_CACHE"), "guest/cache", "../guest/cache",
                                    "build/guest/cache"};
        for (size_t i = 0; i < ELEMENTSOF(candidates); i++) {
                _cleanup_free_ char *pattern = NULL, *cmd = NULL, *out = NULL;
                glob_t g = {};
                if (!candidates[i] || asprintf(&pattern, "%s/linux-image-*_amd64.deb", candidates[i]) < 0)
                        continue;
                if (glob(pattern, 0, NULL, &g) != 0 || g.gl_pathc == 0) {
                        globfree(&g);
                        continue;
                }
                assert_true(asprintf(&out, "%s/vmlinuz", tmpdir) > 0);
                assert_true(asprintf(&cmd,
                                     "dpkg-deb --fsys-tarfile '%s' | tar -xO --wildcards './boot/vmlinuz-*' "
                                     "> '%s'",
                                     g.gl_pathv[0], out) > 0);
                globfree(&g);
                if (system(cmd) == 0)
                        return TAKE_PTR(out);
        }
        return NULL;
}

static void test_debian_kernel(void **state) {
        char dir[] = "/tmp/test-kernel-extract-deb-XXXXXX";
        assert_non_null(mkdtemp(dir));
        _cleanup_free_ char *bzimage = find_debian_kernel(dir), *vmlinux = NULL, *data = NULL;
        if (!bzimage) {
                (void) rm_rf(dir);
                print_message(
                        "no linux-image .deb in the test guest's cache (test/guest/build.sh): skipped\n");
                skip();
        }
        size_t size, offset, length;
        KernelCompression c;
        _cleanup_close_ int fd = open(bzimage, O_RDONLY | O_CLOEXEC);
        struct stat st;
        assert_int_equal(fstat(fd, &st), 0);
        _cleanup_free_ uint8_t *image = malloc((size_t) st.st_size);
        assert_int_equal(pread(fd, image, (size_t) st.st_size, 0), st.st_size);
        assert_int_equal(kernel_bzimage_payload(image, (size_t) st.st_size, &offset, &length, &c), 0);
        assert_int_equal(c, KERNEL_COMPRESSION_XZ); /* Debian 12 builds with CONFIG_KERNEL_XZ */

        assert_int_equal(kernel_ensure_vmlinux(bzimage, &vmlinux), 0);
        _cleanup_close_ int vfd = open(vmlinux, O_RDONLY | O_CLOEXEC);
        assert_int_equal(fstat(vfd, &st), 0);
        size = (size_t) st.st_size;
        data = malloc(size);
        assert_int_equal(pread(vfd, data, size, 0), (ssize_t) size);

        /* A 64-bit x86 executable entered at CONFIG_PHYSICAL_START (16 MiB), the address the boot loaders
         * (and Firecracker) jump to. */
        const Elf64_Ehdr *eh = (const Elf64_Ehdr *) data;
        assert_memory_equal(eh->e_ident, ELFMAG, SELFMAG);
        assert_int_equal(eh->e_ident[EI_CLASS], ELFCLASS64);
        assert_int_equal(eh->e_type, ET_EXEC);
        assert_int_equal(eh->e_machine, EM_X86_64);
        assert_int_equal(eh->e_entry, 0x1000000);
        assert_int_equal(eh->e_phentsize, sizeof(Elf64_Phdr));
        assert_true(eh->e_phnum >= 2);
        assert_true(eh->e_phoff + (uint64_t) eh->e_phnum * sizeof(Elf64_Phdr) <= size);

        /* Every loadable segment lies inside the file; the first is loaded at 16 MiB physical, mapped at
         * the kernel's text address; one segment is the notes (Xen/PVH entry, build id). */
        const Elf64_Phdr *ph = (const Elf64_Phdr *) (data + eh->e_phoff);
        size_t loads = 0, notes = 0;
        for (size_t i = 0; i < eh->e_phnum; i++) {
                if (ph[i].p_type == PT_NOTE)
                        notes++;
                if (ph[i].p_type != PT_LOAD)
                        continue;
                assert_true(ph[i].p_offset + ph[i].p_filesz <= size);
                assert_true(ph[i].p_filesz <= ph[i].p_memsz);
                if (loads++ == 0) {
                        assert_int_equal(ph[i].p_paddr, 0x1000000);
                        assert_int_equal(ph[i].p_vaddr, 0xffffffff81000000ULL);
                        assert_true(ph[i].p_flags & PF_X);
                }
        }
        assert_true(loads >= 2);
        assert_true(notes >= 1);
        assert_int_equal(rm_rf(dir), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_compression_strings),
                cmocka_unit_test(test_gzip),
                cmocka_unit_test(test_xz),
                cmocka_unit_test(test_zstd),
                cmocka_unit_test(test_lz4),
                cmocka_unit_test(test_hostile_headers),
                cmocka_unit_test(test_payload_not_elf),
                cmocka_unit_test(test_ensure_caches),
                cmocka_unit_test(test_debian_kernel),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
