/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Test helpers for the Varlink layer: a server running its sd-event loop in a thread, raw socket I/O. */
#pragma once

#include <pthread.h>
#include <stddef.h>
#include <systemd/sd-event.h>

#include "varlink.h"

/* Everything about the server is set up in the main thread before test_server_run(); while the thread runs,
 * only the thread touches it, until test_server_stop() joined it. */
typedef struct TestServer {
        VarlinkServer *server;
        sd_event *event;
        pthread_t thread;
        int stop_pipe[2];
        sd_event_source *stop_source;
        char dir[64];
        char path[128];
} TestServer;

void test_server_init(TestServer *t); /* server, event loop, listening socket in a fresh temp dir */
void test_server_run(TestServer *t); /* starts the loop thread */
void test_server_stop(TestServer *t); /* stops and joins it */
void test_server_done(TestServer *t); /* frees everything, removes the temp dir */

/* A plain connected unix socket to the test server (for byte-level tests). */
int test_connect_raw(const TestServer *t);
/* Writes all of data. */
void test_write_all(int fd, const void *data, size_t size);
/* Reads one NUL-terminated message (blocking, 10 s poll limit per read); returns malloc'd text or NULL at
 * EOF. */
char *test_read_message(int fd);
/* Blocks until the peer closes (read returns 0 or an error); returns the number of bytes read before. */
size_t test_read_until_eof(int fd);
