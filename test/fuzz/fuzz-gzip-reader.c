/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The isa-l gzip reader (gzip-reader.c) over any bytes, as a hostile layer gives them: it ends or fails
 * with a "corrupt gzip stream" message, never handing out more than its block at a time; what does not
 * start with a gzip header passes through unchanged. */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dlopen-archive.h"
#include "fuzz.h"
#include "gzip-reader.h"

static int in = -1;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(gzip_reader_freep) GzipReader *r = NULL;
        struct archive *a;
        const void *p;
        size_t total = 0;
        ssize_t n;

        if (in < 0) {
                fuzz_check(dlopen_archive() == 0);
                in = memfd_create("layer", MFD_CLOEXEC);
                fuzz_check(in >= 0);
        }
        fuzz_check(ftruncate(in, 0) == 0);
        fuzz_check(pwrite(in, data, size, 0) == (ssize_t) size);
        fuzz_check(lseek(in, 0, SEEK_SET) == 0);
        a = sym_archive_read_new();
        fuzz_check(a);
        fuzz_check(gzip_reader_new(in, &r) == 0);
        bool inflates = gzip_reader_inflates(r);

        while ((n = gzip_reader_read(a, r, &p)) > 0) {
                fuzz_check(n <= 64 * 1024);
                if (!inflates) /* passed through: the input itself, in order */
                        fuzz_check(total + (size_t) n <= size && memcmp(p, data + total, (size_t) n) == 0);
                total += (size_t) n;
        }
        if (n < 0) {
                fuzz_check(inflates);
                fuzz_check(strncmp(sym_archive_error_string(a), "corrupt gzip stream: ", 21) == 0);
                fuzz_check(gzip_reader_finish(r, a) == -EBADMSG);
        } else {
                fuzz_check(inflates || total == size);
                fuzz_check(gzip_reader_finish(r, a) == 0);
        }
        sym_archive_read_free(a);
        return 0;
}
