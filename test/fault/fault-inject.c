/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fault injection for tests: write(), fsync(), fdatasync(), rename() and dlopen() fail or write short on
 * the calls that COCOON_FAULT selects. Built as a shared object for LD_PRELOAD (cocoon-manager in the
 * sandbox, cocoon-unpack in test-oci-unpack) and linked into unit tests, where its definitions take the
 * place of libc's.
 *
 * COCOON_FAULT is a ';'-separated list of rules OP:GLOB:WHICH[:ERRNO]:
 *   OP     write (fails without writing), short (writes half, at least one byte, and returns that),
 *          fsync (fsync() and fdatasync()), rename (rename(), renameat(), renameat2(): the target),
 *          dlopen (as if the library were not installed; the ERRNO is ignored)
 *   GLOB   fnmatch() pattern for the file's absolute path ('*' also matches '/'); for dlopen the name as
 *          the caller gives it ("libisal.so.2")
 *   WHICH  N: the Nth matching call only; N+: the Nth and every later one
 *   ERRNO  EIO (default), ENOSPC, EDQUOT, EROFS or a number
 * A failing call does nothing else: a failed fsync() leaves the data written, as the kernel does. Counting
 * starts again whenever COCOON_FAULT changes. Each injected fault is a line on COCOON_FAULT_LOG (a file,
 * appended) if set, so a test can check that its fault was hit. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fault-inject.h"

#define MAX_RULES 8

typedef enum FaultOp {
        FAULT_WRITE,
        FAULT_SHORT,
        FAULT_FSYNC,
        FAULT_RENAME,
        FAULT_DLOPEN,
} FaultOp;

static pthread_mutex_t fault_lock = PTHREAD_MUTEX_INITIALIZER;
static char fault_spec[4096];
static unsigned fault_counts[MAX_RULES];
static unsigned fault_injected;

static ssize_t (*real_write)(int, const void *, size_t);

static ssize_t raw_write(int fd, const void *buf, size_t n) {
        if (!real_write)
                real_write = (ssize_t (*)(int, const void *, size_t)) dlsym(RTLD_NEXT, "write");
        return real_write(fd, buf, n);
}

static int parse_errno(const char *s) {
        static const struct { const char *name; int value; } table[] = {
                { "EIO", EIO }, { "ENOSPC", ENOSPC }, { "EDQUOT", EDQUOT }, { "EROFS", EROFS },
        };
        if (!s || !*s)
                return EIO;
        for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
                if (strcmp(s, table[i].name) == 0)
                        return table[i].value;
        int v = atoi(s);
        return v > 0 ? v : EIO;
}

static bool op_matches(const char *name, FaultOp op) {
        switch (op) {
        case FAULT_WRITE:
                return strcmp(name, "write") == 0;
        case FAULT_SHORT:
                return strcmp(name, "short") == 0;
        case FAULT_FSYNC:
                return strcmp(name, "fsync") == 0;
        case FAULT_RENAME:
                return strcmp(name, "rename") == 0;
        case FAULT_DLOPEN:
                return strcmp(name, "dlopen") == 0;
        }
        return false;
}

static void log_fault(const char *rule, const char *path) {
        const char *log = getenv("COCOON_FAULT_LOG");
        char line[PATH_MAX + 256];
        int n;

        if (!log)
                return;
        n = snprintf(line, sizeof(line), "%s %s\n", rule, path);
        if (n <= 0)
                return;
        int fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
                return;
        (void) raw_write(fd, line, (size_t) n < sizeof(line) ? (size_t) n : sizeof(line) - 1);
        (void) close(fd);
}

/* Whether this call (op on path) is one to fail; *ret_errno says how. Only the ops whose path matches
 * count, so a rule's N is about its own file, whatever else the program does meanwhile. */
static bool fault_hit(FaultOp op, const char *path, int *ret_errno) {
        const char *env = getenv("COCOON_FAULT");
        char copy[sizeof(fault_spec)], *save = NULL;
        bool hit = false;
        unsigned i = 0;

        if (!env || !*env || !path)
                return false;
        if (strlen(env) >= sizeof(copy))
                return false;

        pthread_mutex_lock(&fault_lock);
        if (strcmp(env, fault_spec) != 0) {
                strcpy(fault_spec, env);
                memset(fault_counts, 0, sizeof(fault_counts));
        }
        strcpy(copy, env);
        for (char *rule = strtok_r(copy, ";", &save); rule && i < MAX_RULES;
             rule = strtok_r(NULL, ";", &save), i++) {
                char r[sizeof(copy)], *f[4] = {}, *p = r;
                strcpy(r, rule);
                for (unsigned k = 0; k < 4 && p; k++) {
                        f[k] = p;
                        /* Split on the first three ':' (a glob cannot hold one). */
                        p = k < 3 ? strchr(p, ':') : NULL;
                        if (p)
                                *p++ = '\0';
                }
                if (!f[0] || !f[1] || !f[2] || !op_matches(f[0], op))
                        continue;
                if (fnmatch(f[1], path, 0) != 0)
                        continue;
                char *end = NULL;
                unsigned long n = strtoul(f[2], &end, 10);
                bool and_later = end && *end == '+';
                unsigned count = ++fault_counts[i];
                if (count == n || (and_later && count >= n)) {
                        hit = true;
                        *ret_errno = parse_errno(f[3]);
                        fault_injected++;
                        log_fault(rule, path);
                        break;
                }
        }
        pthread_mutex_unlock(&fault_lock);
        return hit;
}

static bool fd_path(int fd, char *buf, size_t size) {
        char link[64];
        snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, buf, size - 1);
        if (n < 0)
                return false;
        buf[n] = '\0';
        return true;
}

/* The absolute path of name relative to dirfd (rename's target). */
static bool at_path(int dirfd, const char *name, char *buf, size_t size) {
        char dir[PATH_MAX];

        if (name[0] == '/')
                return snprintf(buf, size, "%s", name) < (int) size;
        if (dirfd == AT_FDCWD) {
                if (!getcwd(dir, sizeof(dir)))
                        return false;
        } else if (!fd_path(dirfd, dir, sizeof(dir)))
                return false;
        return snprintf(buf, size, "%s/%s", dir, name) < (int) size;
}

unsigned fault_inject_count(void) {
        pthread_mutex_lock(&fault_lock);
        unsigned n = fault_injected;
        pthread_mutex_unlock(&fault_lock);
        return n;
}

ssize_t write(int fd, const void *buf, size_t count) {
        char path[PATH_MAX];
        int e;

        if (getenv("COCOON_FAULT") && count > 0 && fd_path(fd, path, sizeof(path))) {
                if (fault_hit(FAULT_WRITE, path, &e)) {
                        errno = e;
                        return -1;
                }
                if (fault_hit(FAULT_SHORT, path, &e))
                        count = count > 1 ? count / 2 : 1;
        }
        return raw_write(fd, buf, count);
}

static int fsync_common(const char *sym, int fd) {
        char path[PATH_MAX];
        int e;

        if (getenv("COCOON_FAULT") && fd_path(fd, path, sizeof(path)) && fault_hit(FAULT_FSYNC, path, &e)) {
                errno = e;
                return -1;
        }
        int (*real)(int) = (int (*)(int)) dlsym(RTLD_NEXT, sym);
        return real(fd);
}

int fsync(int fd) {
        return fsync_common("fsync", fd);
}

int fdatasync(int fd) {
        return fsync_common("fdatasync", fd);
}

static bool rename_fails(int newdirfd, const char *newpath) {
        char path[PATH_MAX];
        int e;

        if (!getenv("COCOON_FAULT") || !newpath || !at_path(newdirfd, newpath, path, sizeof(path)))
                return false;
        if (!fault_hit(FAULT_RENAME, path, &e))
                return false;
        errno = e;
        return true;
}

int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned flags) {
        if (rename_fails(newdirfd, newpath))
                return -1;
        int (*real)(int, const char *, int, const char *, unsigned) =
                (int (*)(int, const char *, int, const char *, unsigned)) dlsym(RTLD_NEXT, "renameat2");
        return real(olddirfd, oldpath, newdirfd, newpath, flags);
}

int renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath) {
        if (rename_fails(newdirfd, newpath))
                return -1;
        int (*real)(int, const char *, int, const char *) =
                (int (*)(int, const char *, int, const char *)) dlsym(RTLD_NEXT, "renameat");
        return real(olddirfd, oldpath, newdirfd, newpath);
}

int rename(const char *oldpath, const char *newpath) {
        if (rename_fails(AT_FDCWD, newpath))
                return -1;
        int (*real)(const char *, const char *) =
                (int (*)(const char *, const char *)) dlsym(RTLD_NEXT, "rename");
        return real(oldpath, newpath);
}

void *dlopen(const char *file, int mode) {
        void *(*real)(const char *, int) = (void *(*)(const char *, int)) dlsym(RTLD_NEXT, "dlopen");
        int e;

        /* A library that is not there: the real dlopen() of a path that does not exist, so that dlerror()
         * says why as it would. */
        if (getenv("COCOON_FAULT") && file && fault_hit(FAULT_DLOPEN, file, &e))
                return real("/nonexistent/cocoon-fault-inject/library.so", mode);
        return real(file, mode);
}
