/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The snapshot archive import: any bytes, as an untrusted caller streams them. An archive is either
 * refused with a message or yields a valid record whose payload directory holds its payload names only. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fs-util.h"
#include "fuzz.h"
#include "snapshot-archive.h"

/* The scratch directory is on a tmpfs: the import fsyncs every file and the directory, which on the disk
 * made each input wait for the disk (7 inputs/s under load). One memfd and one directory fd for all inputs. */
static char dir[] = "/dev/shm/fuzz-snapshot-archive-XXXXXX";
static int in = -1, dir_fd = -1;

static void cleanup(void) {
        (void) rmdir(dir);
}

static void setup(void) {
        fuzz_check(mkdtemp(dir));
        fuzz_check(atexit(cleanup) == 0);
        in = memfd_create("archive", MFD_CLOEXEC);
        fuzz_check(in >= 0);
        dir_fd = open(dir, O_DIRECTORY | O_CLOEXEC);
        fuzz_check(dir_fd >= 0);
}

/* The scratch directory from its start: a dup shares the offset of dir_fd, which every input uses. */
static DIR *list_dir(void) {
        DIR *d = fdopendir(fcntl(dir_fd, F_DUPFD_CLOEXEC, 3));

        fuzz_check(d);
        rewinddir(d);
        return d;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(snapshot_freep) Snapshot *s = NULL;
        _cleanup_free_ char *error = NULL;

        if (in < 0)
                setup();
        fuzz_check(ftruncate(in, 0) == 0);
        fuzz_check(pwrite(in, data, size, 0) == (ssize_t) size);
        fuzz_check(lseek(in, 0, SEEK_SET) == 0);
        /* A small cap: a compressed bomb must stop at it, not fill the disk. */
        SnapshotArchiveIO io = {.cancel_fd = -EBADF, .max_bytes = 64U << 20};
        int r = snapshot_archive_read(in, dir_fd, &io, &s, &error);
        if (r < 0)
                fuzz_check(error && *error);
        else {
                fuzz_check(s && snapshot_validate(s, NULL, NULL) == 0);
                _cleanup_(closedirp) DIR *d = list_dir();
                struct dirent *de;
                while ((de = readdir(d)))
                        fuzz_check(streq(de->d_name, ".") || streq(de->d_name, "..") ||
                                   snapshot_payload_name_is_valid(s, de->d_name, NULL));
        }
        /* Empty it for the next input. */
        _cleanup_(closedirp) DIR *d = list_dir();
        struct dirent *de;
        while ((de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        fuzz_check(unlinkat(dir_fd, de->d_name, 0) == 0);
        return 0;
}
