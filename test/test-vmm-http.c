/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for the VMM HTTP client against a small HTTP/1.1 server on a unix socket, in a thread. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "json-util.h"
#include "macro.h"
#include "time-util.h"
#include "vmm-http.h"

#define MAX_SCRIPT 8

/* The server answers the i-th request with script[i] (the last entry repeats), and records each request. */
typedef struct Server {
        char dir[64];
        char socket[96];
        int fd;
        pthread_t thread;
        const char *script[MAX_SCRIPT];
        size_t n_script;
        unsigned n_requests;
        char method[16];
        char path[256];
        char headers[2048];
        char body[4096];
} Server;

static Server server;

/* Reads one request: the header, then Content-Length bytes of body. */
static int read_request(int fd) {
        char buf[8192];
        size_t n = 0;
        char *end = NULL;

        while (!(end = memmem(buf, n, "\r\n\r\n", 4))) {
                ssize_t k = read(fd, buf + n, sizeof(buf) - 1 - n);
                if (k <= 0)
                        return -1;
                n += (size_t) k;
        }
        size_t header_len = (size_t) (end - buf) + 4;
        buf[n] = 0;
        unsigned long content_length = 0;
        char *cl = strcasestr(buf, "\r\nContent-Length:");
        if (cl && cl < end)
                content_length = strtoul(cl + 17, NULL, 10);
        while (n < header_len + content_length) {
                ssize_t k = read(fd, buf + n, sizeof(buf) - 1 - n);
                if (k <= 0)
                        return -1;
                n += (size_t) k;
        }
        buf[n] = 0;
        sscanf(buf, "%15s %255s", server.method, server.path);
        snprintf(server.headers, sizeof(server.headers), "%.*s", (int) header_len, buf);
        snprintf(server.body, sizeof(server.body), "%s", buf + header_len);
        return 0;
}

static void *serve(void *userdata) {
        for (;;) {
                int c = accept4(server.fd, NULL, NULL, SOCK_CLOEXEC);
                if (c < 0)
                        return NULL;
                if (read_request(c) == 0) {
                        size_t i = MIN((size_t) server.n_requests, server.n_script - 1);
                        server.n_requests++;
                        const char *answer = server.script[i];
                        /* "close": hang up without an answer, as a VMM that crashed mid-call. */
                        if (!streq(answer, "close"))
                                (void) !write(c, answer, strlen(answer));
                }
                close(c);
        }
}

static void server_start(const char *first, ...) {
        va_list ap;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        server.n_script = 0;
        server.n_requests = 0;
        va_start(ap, first);
        for (const char *s = first; s && server.n_script < MAX_SCRIPT; s = va_arg(ap, const char *))
                server.script[server.n_script++] = s;
        va_end(ap);
        server.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(server.fd >= 0);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", server.socket);
        (void) unlink(server.socket);
        assert_int_equal(bind(server.fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        assert_int_equal(listen(server.fd, 8), 0);
        assert_int_equal(pthread_create(&server.thread, NULL, serve, NULL), 0);
}

static void server_stop(void) {
        /* shutdown() wakes the accept() of the thread; it then ends. */
        (void) shutdown(server.fd, SHUT_RDWR);
        assert_int_equal(pthread_join(server.thread, NULL), 0);
        close(server.fd);
        (void) unlink(server.socket);
}

static int setup(void **state) {
        snprintf(server.dir, sizeof(server.dir), "/tmp/test-vmm-http-XXXXXX");
        if (!mkdtemp(server.dir))
                return -1;
        snprintf(server.socket, sizeof(server.socket), "%s/api.sock", server.dir);
        return 0;
}

static int teardown(void **state) {
        (void) unlink(server.socket);
        (void) rmdir(server.dir);
        return 0;
}

#define OK_JSON "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 26\r\n\r\n" \
                "{\"state\":\"Running\",\"n\":42}"
#define NO_CONTENT "HTTP/1.1 204 No Content\r\n\r\n"
#define ERROR_500 "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 18\r\n\r\nVM is not created\n"
#define BUSY_503 "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"
#define LIMIT_429 "HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\n\r\n"
#define BAD_400 "HTTP/1.1 400 Bad Request\r\nContent-Length: 35\r\n\r\n" \
                "{\"fault_message\":\"unknown field x\"}"

static VmmHttpRequest request(VmmHttpMethod method, const char *path, bool idempotent) {
        return (VmmHttpRequest){
                .socket_path = server.socket,
                .method = method,
                .path = path,
                .idempotent = idempotent,
                .timeout_usec = 10 * USEC_PER_SEC,
        };
}

static void test_get_json(void **state) {
        VmmHttpResponse resp = {};
        VmmHttpRequest req = request(VMM_HTTP_GET, "/api/v1/vm.info", false);
        int64_t n = 0;

        server_start(OK_JSON, NULL);
        assert_int_equal(vmm_http_call(&req, &resp), 0);
        server_stop();
        assert_int_equal(resp.status, 200);
        assert_int_equal(resp.attempts, 1);
        assert_non_null(resp.json);
        assert_int_equal(json_get_int64(resp.json, "n", &n), 0);
        assert_int_equal(n, 42);
        assert_string_equal(server.method, "GET");
        assert_string_equal(server.path, "/api/v1/vm.info");
        assert_non_null(strstr(server.headers, "Host: localhost"));
        vmm_http_response_done(&resp);
}

static void test_put_body(void **state) {
        _cleanup_(json_object_putp) json_object *body = json_object_new_object();
        _cleanup_(json_object_putp) json_object *reply = NULL;
        _cleanup_free_ char *error = NULL;
        VmmHttpRequest req = request(VMM_HTTP_PUT, "/api/v1/vm.snapshot", false);

        assert_int_equal(json_add_string(body, "destination_url", "file:///tmp/snap"), 0);
        req.body = body;
        server_start(NO_CONTENT, NULL);
        assert_int_equal(vmm_http_call_ok(&req, &reply, &error), 0);
        server_stop();
        assert_null(reply);
        assert_null(error);
        assert_string_equal(server.method, "PUT");
        assert_string_equal(server.path, "/api/v1/vm.snapshot");
        assert_string_equal(server.body, "{\"destination_url\":\"file:///tmp/snap\"}");
        assert_non_null(strstr(server.headers, "Content-Type: application/json"));
        assert_null(strstr(server.headers, "Expect:"));
}

static void test_put_no_body(void **state) {
        VmmHttpRequest req = request(VMM_HTTP_PUT, "/api/v1/vm.pause", true);

        server_start(NO_CONTENT, NULL);
        assert_int_equal(vmm_http_call_ok(&req, NULL, NULL), 0);
        server_stop();
        assert_string_equal(server.method, "PUT");
        assert_non_null(strstr(server.headers, "Content-Length: 0"));
        assert_string_equal(server.body, "");
}

static void test_non_idempotent_never_retried(void **state) {
        _cleanup_free_ char *error = NULL;
        VmmHttpRequest req = request(VMM_HTTP_PUT, "/api/v1/vm.boot", false);

        server_start(ERROR_500, NO_CONTENT, NULL);
        assert_int_equal(vmm_http_call_ok(&req, NULL, &error), -EIO);
        server_stop();
        assert_int_equal(server.n_requests, 1);
        assert_string_equal(error, "PUT /api/v1/vm.boot: HTTP 500: VM is not created");

        /* A connection that breaks without an answer is not retried either: the VMM may have acted. */
        server_start("close", NO_CONTENT, NULL);
        assert_true(vmm_http_call_ok(&req, NULL, NULL) < 0);
        server_stop();
        assert_int_equal(server.n_requests, 1);
}

static void test_idempotent_retried(void **state) {
        VmmHttpResponse resp = {};
        VmmHttpRequest put = request(VMM_HTTP_PUT, "/api/v1/vm.pause", true);
        VmmHttpRequest get = request(VMM_HTTP_GET, "/api/v1/vm.info", false);

        server_start(ERROR_500, BUSY_503, NO_CONTENT, NULL);
        assert_int_equal(vmm_http_call(&put, &resp), 0);
        server_stop();
        assert_int_equal(resp.status, 204);
        assert_int_equal(resp.attempts, 3);
        assert_int_equal(server.n_requests, 3);
        vmm_http_response_done(&resp);

        server_start(LIMIT_429, "close", OK_JSON, NULL);
        assert_int_equal(vmm_http_call(&get, &resp), 0);
        server_stop();
        assert_int_equal(resp.status, 200);
        assert_int_equal(server.n_requests, 3);
        vmm_http_response_done(&resp);
}

static void test_retries_bounded(void **state) {
        VmmHttpResponse resp = {};
        VmmHttpRequest get = request(VMM_HTTP_GET, "/api/v1/vm.info", false);

        server_start(BUSY_503, NULL);
        assert_int_equal(vmm_http_call(&get, &resp), 0);
        server_stop();
        assert_int_equal(resp.status, 503);
        assert_int_equal(resp.attempts, VMM_HTTP_MAX_ATTEMPTS);
        assert_int_equal(server.n_requests, VMM_HTTP_MAX_ATTEMPTS);
        vmm_http_response_done(&resp);
}

static void test_client_errors_not_retried(void **state) {
        _cleanup_free_ char *error = NULL;
        _cleanup_(json_object_putp) json_object *reply = NULL;
        VmmHttpRequest put = request(VMM_HTTP_PUT, "/api/v1/vm.pause", true);

        server_start(BAD_400, NO_CONTENT, NULL);
        assert_int_equal(vmm_http_call_ok(&put, &reply, &error), -EIO);
        server_stop();
        assert_int_equal(server.n_requests, 1);
        assert_null(reply);
        assert_string_equal(error,
                            "PUT /api/v1/vm.pause: HTTP 400: {\"fault_message\":\"unknown field x\"}");
}

static void test_no_server(void **state) {
        _cleanup_free_ char *error = NULL;
        VmmHttpRequest boot = request(VMM_HTTP_PUT, "/api/v1/vm.boot", false);
        VmmHttpRequest get = request(VMM_HTTP_GET, "/api/v1/vm.info", false);
        VmmHttpResponse resp = {};

        (void) unlink(server.socket);
        assert_int_equal(vmm_http_call_ok(&boot, NULL, &error), -ECONNREFUSED);
        assert_non_null(strstr(error, "/api/v1/vm.boot"));

        /* Retried, but within the call's time. */
        get.timeout_usec = 2 * USEC_PER_SEC;
        uint64_t start = now_usec(CLOCK_MONOTONIC);
        assert_int_equal(vmm_http_call(&get, &resp), -ECONNREFUSED);
        assert_true(now_usec(CLOCK_MONOTONIC) - start < 2 * USEC_PER_SEC);
}

static void test_bad_request(void **state) {
        VmmHttpResponse resp = {};
        VmmHttpRequest req = request(VMM_HTTP_GET, "api/v1/vm.info", false);

        assert_int_equal(vmm_http_call(&req, &resp), -EINVAL);
        req = request(_VMM_HTTP_METHOD_MAX, "/api/v1/vm.info", false);
        assert_int_equal(vmm_http_call(&req, &resp), -EINVAL);
        assert_string_equal(vmm_http_method_to_string(VMM_HTTP_PATCH), "PATCH");
        assert_null(vmm_http_method_to_string(_VMM_HTTP_METHOD_MAX));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_get_json),
                cmocka_unit_test(test_put_body),
                cmocka_unit_test(test_put_no_body),
                cmocka_unit_test(test_non_idempotent_never_retried),
                cmocka_unit_test(test_idempotent_retried),
                cmocka_unit_test(test_retries_bounded),
                cmocka_unit_test(test_client_errors_not_retried),
                cmocka_unit_test(test_no_server),
                cmocka_unit_test(test_bad_request),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
