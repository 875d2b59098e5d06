/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cocoonctl vm console / vm logs: io.cocoon.VM.Console with upgrade, then raw bytes between the terminal and
 * the manager's console relay. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "ctl-console.h"
#include "ctl-escape.h"
#include "ctl-since.h"
#include "ctl-util.h"
#include "fd-util.h"
#include "json-util.h"
#include "log.h"
#include "parse-util.h"
#include "time-util.h"

#define PUMP_BUFFER_SIZE (64U * 1024U)

bool arg_no_tty = false;
bool arg_follow = false;
const char *arg_escape_char = NULL;
const char *arg_lines = NULL;
bool arg_replay = false;
const char *arg_since = NULL;

/* ---- the terminal: raw mode that is undone on every way out ---- */

typedef struct TerminalState {
        bool raw;
        struct termios saved;
} TerminalState;

static int terminal_make_raw(TerminalState *t) {
        struct termios raw;

        if (tcgetattr(STDIN_FILENO, &t->saved) < 0)
                return negative_errno();
        raw = t->saved;
        cfmakeraw(&raw);
        if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) < 0)
                return negative_errno();
        t->raw = true;
        return 0;
}

static void terminal_restore(TerminalState *t) {
        if (!t->raw)
                return;
        (void) tcsetattr(STDIN_FILENO, TCSANOW, &t->saved);
        t->raw = false;
}

/* ---- signals: SIGINT/SIGTERM/SIGHUP end the session through the normal path (so the terminal is restored);
 * SIGPIPE is ignored, a closed peer shows up as EPIPE instead ---- */

typedef struct SignalState {
        int fd;
        bool blocked;
        sigset_t old_mask;
        struct sigaction old_pipe;
} SignalState;

static int signals_take(SignalState *s) {
        sigset_t mask;
        struct sigaction ignore = { .sa_handler = SIG_IGN };

        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGHUP);
        if (sigprocmask(SIG_BLOCK, &mask, &s->old_mask) < 0)
                return negative_errno();
        s->blocked = true;
        if (sigaction(SIGPIPE, &ignore, &s->old_pipe) < 0)
                return negative_errno();
        s->fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        if (s->fd < 0)
                return negative_errno();
        return 0;
}

static void signals_release(SignalState *s) {
        struct signalfd_siginfo si;

        /* Consume what arrived, or it would kill us the moment the old mask is back: the session is over
         * and the terminal restored, which is all those signals asked for. */
        while (s->fd >= 0 && read(s->fd, &si, sizeof(si)) == (ssize_t) sizeof(si))
                ;
        s->fd = safe_close(s->fd);
        if (!s->blocked)
                return;
        (void) sigaction(SIGPIPE, &s->old_pipe, NULL);
        (void) sigprocmask(SIG_SETMASK, &s->old_mask, NULL);
        s->blocked = false;
}

/* ---- the pump ---- */

typedef struct Pump {
        int sock;
        int signal_fd;
        bool use_stdin;   /* console: stdin goes to the VM; logs: stdin is left alone */
        bool tty;         /* escape filter; stdin EOF ends the session */
        bool stdin_eof;
        bool shut_wr;
        EscapeFilter filter;
        size_t to_remote_len;
        uint8_t to_remote[PUMP_BUFFER_SIZE];
        uint8_t buf[PUMP_BUFFER_SIZE];
} Pump;

/* The session ends cleanly when the manager closes (VM stopped, log fully sent, detached), the user types
 * the escape sequence, the terminal goes away, stdout is closed ("| head") or a signal comes.
 * Returns 1 when the session ends, 0 to go on, < 0 on error. */
static int pump_from_remote(Pump *p) {
        ssize_t n = read(p->sock, p->buf, sizeof(p->buf));
        if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                        return 0;
                if (errno != ECONNRESET)
                        return negative_errno();
                n = 0; /* the manager going away hard is still the end of the stream */
        }
        if (n == 0)
                return 1;
        int r = loop_write_wait(STDOUT_FILENO, p->buf, (size_t) n, UINT64_MAX);
        return r == -EPIPE ? 1 : r;
}

static int pump_from_stdin(Pump *p) {
        /* One byte of room stays free for an escape byte the filter may release. */
        size_t room = sizeof(p->to_remote) - p->to_remote_len - 1, out = 0;
        ssize_t n = read(STDIN_FILENO, p->buf, MIN(room, sizeof(p->buf)));
        if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                        return 0;
                if (errno != EIO)
                        return negative_errno();
                n = 0; /* EIO: the terminal hung up */
        }
        if (n == 0) {
                if (p->tty)
                        return 1;
                p->stdin_eof = true;
                p->to_remote_len += escape_filter_flush(&p->filter, p->to_remote + p->to_remote_len);
                return 0;
        }
        if (!p->tty) {
                memcpy(p->to_remote + p->to_remote_len, p->buf, (size_t) n);
                p->to_remote_len += (size_t) n;
                return 0;
        }
        int r = escape_filter_feed(&p->filter, p->buf, (size_t) n, p->to_remote + p->to_remote_len, &out);
        p->to_remote_len += out;
        return r > 0;
}

static int pump_to_remote(Pump *p) {
        ssize_t n = send(p->sock, p->to_remote, p->to_remote_len, MSG_NOSIGNAL);
        if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                        return 0;
                if (errno != EPIPE && errno != ECONNRESET)
                        return negative_errno();
                /* The reading side sees the end next; what was typed is lost with the session. */
                p->to_remote_len = 0;
                return 0;
        }
        memmove(p->to_remote, p->to_remote + n, p->to_remote_len - (size_t) n);
        p->to_remote_len -= (size_t) n;
        return 0;
}

static int pump_run(Pump *p) {
        int r;

        for (;;) {
                bool read_stdin = p->use_stdin && !p->stdin_eof &&
                                  p->to_remote_len + 1 < sizeof(p->to_remote);
                struct pollfd fds[3] = {
                        { .fd = p->sock, .events = POLLIN | (p->to_remote_len > 0 ? POLLOUT : 0) },
                        { .fd = p->signal_fd, .events = POLLIN },
                        { .fd = read_stdin ? STDIN_FILENO : -1, .events = POLLIN },
                };

                if (poll(fds, ELEMENTSOF(fds), -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (fds[1].revents)
                        return 0;
                if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
                        r = pump_from_remote(p);
                        if (r != 0)
                                return r < 0 ? r : 0;
                }
                if (fds[2].revents & (POLLIN | POLLHUP | POLLERR)) {
                        r = pump_from_stdin(p);
                        if (r != 0)
                                return r < 0 ? r : 0;
                }
                if (p->to_remote_len > 0 && ((fds[0].revents & POLLOUT) || fds[2].revents)) {
                        r = pump_to_remote(p);
                        if (r < 0)
                                return r;
                }
                if (p->stdin_eof && !p->shut_wr && p->to_remote_len == 0) {
                        /* Tell the manager we are done sending; its output keeps coming until it closes. */
                        if (shutdown(p->sock, SHUT_WR) < 0 && errno != ENOTCONN)
                                return negative_errno();
                        p->shut_wr = true;
                }
        }
}

/* ---- the call ---- */

typedef struct ConsoleSession {
        int fd;
        char *name;
        char *leftover; /* raw bytes that came with the reply */
        size_t leftover_size;
} ConsoleSession;

static void console_session_done(ConsoleSession *s) {
        s->fd = safe_close(s->fd);
        s->name = mfree(s->name);
        s->leftover = mfree(s->leftover);
        s->leftover_size = 0;
}

/* lines: of the replay, UINT64_MAX for all; since: RFC 3339, NULL for all. */
static int console_open(const char *ref, bool read_only, bool replay, uint64_t lines, const char *since,
                        bool follow, ConsoleSession *ret) {
        _cleanup_(varlink_unrefp) Varlink *link = NULL;
        _cleanup_(json_object_putp) json_object *params = json_object_new_object();
        _cleanup_free_ char *leftover = NULL;
        _cleanup_close_ int fd = -EBADF;
        json_object *reply = NULL;
        const char *error_id = NULL, *name = NULL;
        size_t leftover_size = 0;

        if (!params || json_add_string(params, "ref", ref) < 0 ||
            json_add_bool(params, "readOnly", read_only) < 0 ||
            json_add_bool(params, "replay", replay) < 0 || json_add_bool(params, "follow", follow) < 0 ||
            (replay && lines != UINT64_MAX && json_add_int64(params, "lines", (int64_t) lines) < 0) ||
            (replay && since && json_add_string(params, "since", since) < 0))
                return ctl_log_oom();

        int r = ctl_connect(&link);
        if (r < 0)
                return r;
        r = varlink_call_and_upgrade(link, "io.cocoon.VM.Console", params, &reply, &error_id, &fd, &leftover,
                                     &leftover_size);
        if (r < 0)
                return ctl_log_errno(r, "calling io.cocoon.VM.Console failed: %m");
        if (error_id)
                return ctl_report_error(error_id, reply);

        (void) json_get_string(reply, "name", &name);
        char *n = strdup(name ?: ref);
        if (!n)
                return ctl_log_oom();
        *ret = (ConsoleSession) {
                .fd = TAKE_FD(fd),
                .name = n,
                .leftover = TAKE_PTR(leftover),
                .leftover_size = leftover_size,
        };
        return 0;
}

/* Runs the session over an open connection. Signals and SIGPIPE are taken for its duration. */
static int console_pump(ConsoleSession *s, bool use_stdin, bool tty, uint8_t escape) {
        _cleanup_free_ Pump *p = NULL;
        TerminalState term = {};
        SignalState sig = { .fd = -EBADF };
        int r;

        p = calloc(1, sizeof(Pump));
        if (!p)
                return ctl_log_oom();
        p->sock = s->fd;
        p->use_stdin = use_stdin;
        p->tty = tty;
        escape_filter_init(&p->filter, escape);

        r = fd_nonblock(s->fd, true);
        if (r >= 0)
                r = signals_take(&sig);
        if (r >= 0 && s->leftover_size > 0)
                r = loop_write_wait(STDOUT_FILENO, s->leftover, s->leftover_size, UINT64_MAX);
        if (r >= 0 && tty)
                r = terminal_make_raw(&term);
        if (r >= 0) {
                p->signal_fd = sig.fd;
                r = pump_run(p);
        }
        terminal_restore(&term);
        signals_release(&sig);
        return r;
}

/* --lines N: the count, or `fallback` when not given. */
static int parse_lines(uint64_t fallback, uint64_t *ret) {
        uint64_t n;

        if (!arg_lines) {
                *ret = fallback;
                return 0;
        }
        if (parse_uint64(arg_lines, &n) < 0 || n > INT64_MAX)
                return ctl_log_errno(EINVAL, "invalid --lines '%s' (a count of lines, 0 or more)",
                                     arg_lines);
        *ret = n;
        return 0;
}

int ctl_console_prepare(CtlConsoleOptions *ret) {
        uint8_t escape = ESCAPE_CHAR_DEFAULT;
        bool tty = !arg_no_tty;

        if (arg_escape_char && escape_char_parse(arg_escape_char, &escape) < 0)
                return ctl_log_errno(EINVAL,
                                     "invalid escape character '%s': use one character or ^X "
                                     "(not NUL, CR, LF, DEL or non-ASCII)",
                                     arg_escape_char);
        if (tty && !isatty(STDIN_FILENO))
                return ctl_log_errno(ENOTTY, "stdin is not a terminal (use --no-tty to pipe the console)");
        *ret = (CtlConsoleOptions) { .escape = escape, .tty = tty };
        return 0;
}

int ctl_console_attach(const char *ref, const CtlConsoleOptions *o, bool replay, uint64_t lines) {
        ConsoleSession s = { .fd = -EBADF };
        char shown[ESCAPE_CHAR_FORMAT_MAX];
        uint8_t escape = o->escape;
        bool tty = o->tty;

        int r = console_open(ref, false, replay, lines, NULL, true, &s);
        if (r < 0)
                return r;
        if (tty)
                /* Before the replay's bytes, which the session prints first. */
                fprintf(stderr, "Connected to %s (escape: %s .)\n", s.name,
                        escape_char_format(escape, shown));

        r = console_pump(&s, true, tty, escape);
        if (tty)
                /* The guest's last line may be unfinished (a prompt): start a fresh one. */
                fprintf(stderr, "\nDisconnected from %s.\n", s.name);
        console_session_done(&s);
        if (r < 0)
                return ctl_log_errno(r, "console failed: %m");
        return 0;
}

int verb_vm_console(int argc, char **argv) {
        CtlConsoleOptions o;
        uint64_t lines;

        if (arg_lines && !arg_replay)
                return ctl_log_errno(EINVAL, "--lines needs --replay");
        if (parse_lines(CONSOLE_REPLAY_LINES_DEFAULT, &lines) < 0)
                return -EINVAL;
        int r = ctl_console_prepare(&o);
        if (r < 0)
                return r;
        return ctl_console_attach(argv[0], &o, arg_replay, lines);
}

/* --since TIME as the manager takes it: RFC 3339 in UTC. */
static int parse_since(char **ret) {
        uint64_t usec;

        *ret = NULL;
        if (!arg_since)
                return 0;
        if (ctl_parse_since(arg_since, now_usec(CLOCK_REALTIME), &usec) < 0)
                return ctl_log_errno(EINVAL,
                                     "invalid --since '%s' (e.g. 2026-12-06T20:00:00Z, '2026-12-06 20:00' "
                                     "in local time, 10m, 2h, 1d)",
                                     arg_since);
        return timestamp_format_rfc3339(usec, ret);
}

int verb_vm_logs(int argc, char **argv) {
        ConsoleSession s = { .fd = -EBADF };
        _cleanup_free_ char *since = NULL;
        uint64_t lines;

        if (parse_lines(UINT64_MAX, &lines) < 0 || parse_since(&since) < 0)
                return -EINVAL;
        int r = console_open(argv[0], true, true, lines, since, arg_follow, &s);
        if (r < 0)
                return r;
        r = console_pump(&s, false, false, 0);
        console_session_done(&s);
        if (r < 0)
                return ctl_log_errno(r, "reading the console log failed: %m");
        return 0;
}
