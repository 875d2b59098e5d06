/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A VM's serial console: the hypervisor's pty (checked before use) and where it is remembered. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <unistd.h>

#include "console.h"
#include "fd-util.h"
#include "macro.h"

/* Unix98 pty slaves: majors 136 to 143 (UNIX98_PTY_SLAVE_MAJOR and its extensions). */
#define PTS_MAJOR_FIRST 136U
#define PTS_MAJOR_LAST 143U

static bool pts_path_is_valid(const char *path) {
        if (!path || strncmp(path, "/dev/pts/", 9) != 0)
                return false;
        const char *n = path + 9;
        if (!*n || strlen(n) > 9)
                return false;
        return strspn(n, "0123456789") == strlen(n);
}

int console_pty_open(const char *path, uid_t owner_uid) {
        struct termios t;
        struct stat st;

        if (!pts_path_is_valid(path))
                return -EPERM;
        /* O_NOCTTY: never the manager's controlling terminal; O_NONBLOCK: a pty without a reader blocks. */
        _cleanup_close_ int fd = open(path, O_RDWR | O_NOCTTY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0)
                return negative_errno();
        if (fstat(fd, &st) < 0)
                return negative_errno();
        /* Another user's terminal (an operator's shell, a service) must never become a VM's console. */
        if (!S_ISCHR(st.st_mode) || major(st.st_rdev) < PTS_MAJOR_FIRST ||
            major(st.st_rdev) > PTS_MAJOR_LAST || st.st_uid != owner_uid)
                return -EPERM;
        /* Bytes pass unchanged both ways: no echo, no line editing, no signals, no CR/LF mapping. */
        if (tcgetattr(fd, &t) < 0)
                return negative_errno();
        cfmakeraw(&t);
        if (tcsetattr(fd, TCSANOW, &t) < 0)
                return negative_errno();
        return TAKE_FD(fd);
}

int console_pty_remember(const char *log_dir, const char *path) {
        _cleanup_free_ char *link = NULL, *tmp = NULL;

        if (!log_dir || !pts_path_is_valid(path))
                return -EINVAL;
        if (asprintf(&link, "%s/" CONSOLE_PTY_LINK_NAME, log_dir) < 0 ||
            asprintf(&tmp, "%s/." CONSOLE_PTY_LINK_NAME ".new", log_dir) < 0)
                return -ENOMEM;
        (void) unlink(tmp);
        if (symlink(path, tmp) < 0 || rename(tmp, link) < 0) {
                int r = negative_errno();
                (void) unlink(tmp);
                return r;
        }
        return 0;
}

int console_pty_reopen(const char *log_dir) {
        _cleanup_free_ char *link = NULL, *spool = NULL;
        char target[PATH_MAX];
        struct stat st;

        if (!log_dir)
                return -EINVAL;
        if (asprintf(&link, "%s/" CONSOLE_PTY_LINK_NAME, log_dir) < 0 ||
            asprintf(&spool, "%s/" CONSOLE_SPOOL_NAME, log_dir) < 0)
                return -ENOMEM;
        ssize_t n = readlink(link, target, sizeof(target) - 1);
        if (n < 0)
                return negative_errno();
        target[n] = '\0';
        /* The spool is created for the hypervisor's user before it starts: the pty must be that user's. */
        if (lstat(spool, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        return console_pty_open(target, st.st_uid);
}

int console_fifo_create(const char *run_dir, uid_t uid, gid_t gid) {
        _cleanup_free_ char *path = NULL;
        struct stat st;

        if (!run_dir || asprintf(&path, "%s/" CONSOLE_INPUT_FIFO_NAME, run_dir) < 0)
                return -ENOMEM;
        if (unlink(path) < 0 && errno != ENOENT)
                return negative_errno();
        if (mkfifo(path, 0600) < 0)
                return negative_errno();
        /* O_RDWR never blocks on a FIFO (Linux): there is a reader and a writer, ourselves. */
        _cleanup_close_ int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
        if (fd < 0 || fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISFIFO(st.st_mode))
                return -EBADFD;
        if (fchown(fd, uid, gid) < 0)
                return negative_errno();
        return TAKE_FD(fd);
}

int console_fifo_open(const char *run_dir, uid_t owner_uid) {
        _cleanup_free_ char *path = NULL;
        struct stat st;

        if (!run_dir || asprintf(&path, "%s/" CONSOLE_INPUT_FIFO_NAME, run_dir) < 0)
                return -ENOMEM;
        _cleanup_close_ int fd = open(path, O_WRONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISFIFO(st.st_mode) || st.st_uid != owner_uid)
                return -EPERM;
        return TAKE_FD(fd);
}

int console_reopen(const char *log_dir, const char *run_dir) {
        _cleanup_free_ char *spool = NULL;
        struct stat st;

        int fd = console_pty_reopen(log_dir);
        if (fd != -ENOENT)
                return fd;
        /* No pty: the FIFO's owner must be the spool's, the hypervisor's user. */
        if (asprintf(&spool, "%s/" CONSOLE_SPOOL_NAME, log_dir) < 0)
                return -ENOMEM;
        if (lstat(spool, &st) < 0)
                return negative_errno();
        return console_fifo_open(run_dir, st.st_uid);
}
