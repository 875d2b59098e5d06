/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The uncompressed ELF vmlinux inside an x86 bzImage: finding the payload, decompressing it, caching it. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <lz4.h>
#include <lzma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "fd-util.h"
#include "fs-util.h"
#include "kernel-extract.h"
#include "macro.h"

/* The x86 boot protocol's setup header (Documentation/arch/x86/boot.rst). */
#define BOOT_SETUP_SECTS_OFFSET 0x1f1
#define BOOT_HEADER_MAGIC_OFFSET 0x202
#define BOOT_VERSION_OFFSET 0x206
#define BOOT_PAYLOAD_OFFSET_OFFSET 0x248
#define BOOT_PAYLOAD_LENGTH_OFFSET 0x24c
#define BOOT_PAYLOAD_MIN_VERSION 0x0208

/* A bzImage is read whole; a vmlinux bigger than this is no kernel but a decompression bomb. */
#define KERNEL_FILE_MAX ((size_t) 256U << 20)
#define VMLINUX_MAX ((uint64_t) 1U << 30)
#define CHUNK_SIZE ((size_t) 1U << 20)
/* The kernel's lz4 payload is the legacy frame format: blocks of at most 8 MiB each. */
#define LZ4_LEGACY_MAGIC 0x184C2102U
#define LZ4_LEGACY_BLOCK_MAX ((size_t) 8U << 20)

static const char *const compression_table[_KERNEL_COMPRESSION_MAX] = {
        [KERNEL_COMPRESSION_GZIP] = "gzip",
        [KERNEL_COMPRESSION_XZ] = "xz",
        [KERNEL_COMPRESSION_ZSTD] = "zstd",
        [KERNEL_COMPRESSION_LZ4] = "lz4",
};

const char *kernel_compression_to_string(KernelCompression c) {
        return c >= 0 && c < _KERNEL_COMPRESSION_MAX ? compression_table[c] : NULL;
}

KernelCompression kernel_compression_from_string(const char *s) {
        for (KernelCompression c = 0; s && c < _KERNEL_COMPRESSION_MAX; c++)
                if (streq(compression_table[c], s))
                        return c;
        return _KERNEL_COMPRESSION_INVALID;
}

static uint32_t le32(const uint8_t *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static const struct {
        KernelCompression compression;
        const uint8_t magic[6];
        size_t size;
} magic_table[] = {
        {KERNEL_COMPRESSION_GZIP, {0x1f, 0x8b}, 2},
        {KERNEL_COMPRESSION_XZ, {0xfd, '7', 'z', 'X', 'Z', 0x00}, 6},
        {KERNEL_COMPRESSION_ZSTD, {0x28, 0xb5, 0x2f, 0xfd}, 4},
        {KERNEL_COMPRESSION_LZ4, {0x02, 0x21, 0x4c, 0x18}, 4},
};

int kernel_bzimage_payload(const uint8_t *data, size_t size, size_t *ret_offset, size_t *ret_length,
                           KernelCompression *ret_compression) {
        if (!data || size < BOOT_PAYLOAD_LENGTH_OFFSET + 4 ||
            memcmp(data + BOOT_HEADER_MAGIC_OFFSET, "HdrS", 4) != 0)
                return -EBADMSG;
        uint16_t version = (uint16_t) (data[BOOT_VERSION_OFFSET] | data[BOOT_VERSION_OFFSET + 1] << 8);
        if (version < BOOT_PAYLOAD_MIN_VERSION)
                return -EBADMSG;
        /* The protected-mode code, which payload_offset counts from, follows the real-mode sectors. */
        size_t setup_sects = data[BOOT_SETUP_SECTS_OFFSET] ?: 4;
        size_t start = (setup_sects + 1) * 512;
        size_t offset = le32(data + BOOT_PAYLOAD_OFFSET_OFFSET),
               length = le32(data + BOOT_PAYLOAD_LENGTH_OFFSET);
        if (start > size || offset > size - start || length > size - start - offset || length < 8)
                return -EBADMSG;
        offset += start;
        for (size_t i = 0; i < ELEMENTSOF(magic_table); i++)
                if (memcmp(data + offset, magic_table[i].magic, magic_table[i].size) == 0) {
                        *ret_offset = offset;
                        *ret_length = length;
                        *ret_compression = magic_table[i].compression;
                        return 0;
                }
        return -EPROTONOSUPPORT;
}

/* Where decompressed bytes go: checked to be an ELF file from the first bytes on, and capped. */
typedef struct Sink {
        int fd;
        uint64_t written;
        uint8_t head[4];
} Sink;

static int sink_write(Sink *s, const void *p, size_t n) {
        static const uint8_t elf_magic[4] = {0x7f, 'E', 'L', 'F'};
        if (n == 0)
                return 0;
        if (n > VMLINUX_MAX - s->written)
                return -EFBIG;
        for (size_t i = 0; s->written + i < 4 && i < n; i++) {
                s->head[s->written + i] = ((const uint8_t *) p)[i];
                if (s->head[s->written + i] != elf_magic[s->written + i])
                        return -EBADMSG;
        }
        s->written += n;
        return loop_write(s->fd, p, n);
}

static int extract_gzip(const uint8_t *in, size_t size, Sink *s) {
        _cleanup_free_ uint8_t *out = malloc(CHUNK_SIZE);
        z_stream z = {};
        int r = 0, k;
        if (!out)
                return -ENOMEM;
        if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) /* 16: a gzip header, not zlib's */
                return -ENOMEM;
        z.next_in = (Bytef *) in;
        z.avail_in = (uInt) MIN(size, (size_t) UINT_MAX);
        do {
                z.next_out = out;
                z.avail_out = CHUNK_SIZE;
                k = inflate(&z, Z_NO_FLUSH);
                if (k != Z_OK && k != Z_STREAM_END) {
                        r = k == Z_MEM_ERROR ? -ENOMEM : -EBADMSG;
                        break;
                }
                r = sink_write(s, out, CHUNK_SIZE - z.avail_out);
                if (r >= 0 && k == Z_OK && z.avail_in == 0 && z.avail_out != 0)
                        r = -EBADMSG; /* truncated */
        } while (r >= 0 && k != Z_STREAM_END);
        inflateEnd(&z);
        return r;
}

static int extract_xz(const uint8_t *in, size_t size, Sink *s) {
        _cleanup_free_ uint8_t *out = malloc(CHUNK_SIZE);
        lzma_stream x = LZMA_STREAM_INIT;
        lzma_ret k;
        int r = 0;
        if (!out)
                return -ENOMEM;
        if (lzma_stream_decoder(&x, UINT64_MAX, 0) != LZMA_OK)
                return -ENOMEM;
        /* One stream: what follows it (the size the kernel's build appends) is not ours to read. */
        x.next_in = in;
        x.avail_in = size;
        do {
                x.next_out = out;
                x.avail_out = CHUNK_SIZE;
                k = lzma_code(&x, LZMA_RUN);
                if (k != LZMA_OK && k != LZMA_STREAM_END) {
                        r = k == LZMA_MEM_ERROR ? -ENOMEM : -EBADMSG;
                        break;
                }
                r = sink_write(s, out, CHUNK_SIZE - x.avail_out);
                if (r >= 0 && k == LZMA_OK && x.avail_in == 0 && x.avail_out != 0)
                        r = -EBADMSG;
        } while (r >= 0 && k != LZMA_STREAM_END);
        lzma_end(&x);
        return r;
}

static int extract_zstd(const uint8_t *in, size_t size, Sink *s) {
        _cleanup_free_ uint8_t *out = malloc(CHUNK_SIZE);
        ZSTD_DCtx *z = ZSTD_createDCtx();
        ZSTD_inBuffer ib = {in, size, 0};
        size_t k = 1;
        int r = 0;
        if (!out || !z) {
                ZSTD_freeDCtx(z);
                return -ENOMEM;
        }
        /* One frame: it ends where ZSTD_decompressStream() says 0; trailing bytes are not read. */
        while (r >= 0 && k != 0) {
                ZSTD_outBuffer ob = {out, CHUNK_SIZE, 0};
                k = ZSTD_decompressStream(z, &ob, &ib);
                if (ZSTD_isError(k)) {
                        r = -EBADMSG;
                        break;
                }
                r = sink_write(s, out, ob.pos);
                if (r >= 0 && k != 0 && ib.pos == ib.size && ob.pos < ob.size)
                        r = -EBADMSG;
        }
        ZSTD_freeDCtx(z);
        return r;
}

static int extract_lz4(const uint8_t *in, size_t size, Sink *s) {
        _cleanup_free_ char *out = malloc(LZ4_LEGACY_BLOCK_MAX);
        size_t pos = 4; /* the magic */
        bool any = false;
        if (!out)
                return -ENOMEM;
        while (size - pos >= 4) {
                uint32_t chunk = le32(in + pos);
                pos += 4;
                if (chunk == LZ4_LEGACY_MAGIC)
                        continue; /* another stream follows */
                if (chunk > size - pos || chunk > (uint32_t) LZ4_compressBound((int) LZ4_LEGACY_BLOCK_MAX)) {
                        /* The uncompressed size the kernel's build appends: the blocks are over. */
                        if (any && size - pos == 0)
                                return 0;
                        return -EBADMSG;
                }
                int n = LZ4_decompress_safe((const char *) in + pos, out, (int) chunk,
                                            (int) LZ4_LEGACY_BLOCK_MAX);
                if (n < 0)
                        return -EBADMSG;
                int r = sink_write(s, out, (size_t) n);
                if (r < 0)
                        return r;
                pos += chunk;
                any = true;
        }
        return any ? 0 : -EBADMSG;
}

typedef int (*ExtractFunc)(const uint8_t *in, size_t size, Sink *s);

static const ExtractFunc extract_table[_KERNEL_COMPRESSION_MAX] = {
        [KERNEL_COMPRESSION_GZIP] = extract_gzip,
        [KERNEL_COMPRESSION_XZ] = extract_xz,
        [KERNEL_COMPRESSION_ZSTD] = extract_zstd,
        [KERNEL_COMPRESSION_LZ4] = extract_lz4,
};

static int read_all_fd(int fd, uint8_t **ret, size_t *ret_size) {
        struct stat st;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        if ((uint64_t) st.st_size > KERNEL_FILE_MAX)
                return -EFBIG;
        size_t size = (size_t) st.st_size;
        _cleanup_free_ uint8_t *data = malloc(size ?: 1);
        if (!data)
                return -ENOMEM;
        for (size_t done = 0; done < size;) {
                ssize_t n = pread(fd, data + done, size - done, (off_t) done);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return -EIO; /* shrank while we read it */
                done += (size_t) n;
        }
        *ret = TAKE_PTR(data);
        *ret_size = size;
        return 0;
}

int kernel_extract_vmlinux_fd(int in_fd, int out_fd) {
        _cleanup_free_ uint8_t *data = NULL;
        size_t size = 0, offset, length;
        KernelCompression c;

        int r = read_all_fd(in_fd, &data, &size);
        if (r < 0)
                return r;
        r = kernel_bzimage_payload(data, size, &offset, &length, &c);
        if (r < 0)
                return r;
        Sink s = {.fd = out_fd};
        r = extract_table[c](data + offset, length, &s);
        if (r < 0)
                return r;
        return s.written >= 4 ? 0 : -EBADMSG;
}

static int fd_is_elf(int fd) {
        uint8_t head[4];
        ssize_t n = pread(fd, head, sizeof(head), 0);
        if (n < 0)
                return -errno;
        return n == 4 && memcmp(head, "\177ELF", 4) == 0;
}

int kernel_ensure_vmlinux(const char *kernel_path, char **ret_path) {
        _cleanup_free_ char *path = NULL, *tmp = NULL;
        _cleanup_close_ int in = -EBADF, out = -EBADF;
        int r;

        if (!kernel_path || kernel_path[0] != '/' || !ret_path)
                return -EINVAL;
        in = open(kernel_path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (in < 0)
                return -errno;
        r = fd_is_elf(in);
        if (r < 0)
                return r;
        if (r > 0) {
                path = strdup(kernel_path);
                if (!path)
                        return -ENOMEM;
                *ret_path = TAKE_PTR(path);
                return 0;
        }

        if (asprintf(&path, "%s" KERNEL_VMLINUX_SUFFIX, kernel_path) < 0)
                return -ENOMEM;
        /* Extracted before: only ever renamed into place complete. */
        _cleanup_close_ int cached = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        if (cached >= 0 && fd_is_elf(cached) > 0) {
                *ret_path = TAKE_PTR(path);
                return 0;
        }

        const char *slash = strrchr(kernel_path, '/');
        if (asprintf(&tmp, "%.*s/" TEMP_FILE_PREFIX "%s" KERNEL_VMLINUX_SUFFIX "-XXXXXX",
                     (int) (slash - kernel_path), kernel_path, slash + 1) < 0)
                return -ENOMEM;
        out = mkostemp(tmp, O_CLOEXEC);
        if (out < 0)
                return -errno;
        r = kernel_extract_vmlinux_fd(in, out);
        /* Readable by the hypervisor's user, as the kernel it comes from. */
        if (r >= 0 && fchmod(out, 0644) < 0)
                r = -errno;
        if (r >= 0 && fsync(out) < 0)
                r = -errno;
        if (r >= 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlink(tmp);
                return r;
        }
        *ret_path = TAKE_PTR(path);
        return 0;
}
