/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for the registry client against a tiny HTTP server in a thread of the test (127.0.0.1 only):
 * bearer token flow with basic credentials from an auth.json, registry error messages, digest and size
 * verification, Authorization dropped on a redirect to another host; auth.json lookup and challenge
 * parsing on their own. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "oci-manifest.h"
#include "oci-registry.h"
#include "sha256-util.h"

/* sha256("hello") */
#define HELLO_HEX "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
#define HELLO_DIGEST "sha256:" HELLO_HEX
#define OTHER_DIGEST "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define MANIFEST "{\"schemaVersion\":2}"

static int server_fd = -1;
static int port;
static bool redirected_had_authorization;
static unsigned token_requests;

static void reply(int fd, const char *status, const char *extra, const char *body) {
        char head[1024];
        int n = snprintf(head, sizeof(head),
                         "HTTP/1.1 %s\r\nConnection: close\r\nContent-Length: %zu\r\n%s\r\n", status,
                         strlen(body), extra);
        (void) !write(fd, head, n);
        (void) !write(fd, body, strlen(body));
}

static void serve(int fd) {
        char req[8192] = "", path[2048] = "", extra[1024];
        size_t n = 0;
        bool bearer, basic;

        while (n < sizeof(req) - 1 && !strstr(req, "\r\n\r\n")) {
                ssize_t k = read(fd, req + n, sizeof(req) - 1 - n);
                if (k <= 0)
                        return;
                n += k;
                req[n] = '\0';
        }
        sscanf(req, "%*s %2047s", path);
        bearer = strstr(req, "Authorization: Bearer tok\r\n");
        /* base64("user:pass") */
        basic = strstr(req, "Authorization: Basic dXNlcjpwYXNz\r\n");

        if (strncmp(path, "/token?", 7) == 0) {
                token_requests++;
                if (!basic || !strstr(path, "service=svc") ||
                    !strstr(path, "scope=repository%3Arepo%3Apull"))
                        reply(fd, "401 Unauthorized", "", "{}");
                else
                        reply(fd, "200 OK", "Content-Type: application/json\r\n", "{\"token\":\"tok\"}");
                return;
        }
        if (strncmp(path, "/v2/elsewhere/", 14) == 0) {
                redirected_had_authorization = strstr(req, "Authorization:");
                reply(fd, "200 OK", "", "hello");
                return;
        }
        if (!bearer) {
                snprintf(extra, sizeof(extra),
                         "WWW-Authenticate: Bearer realm=\"http://127.0.0.1:%d/token\",service=\"svc\","
                         "scope=\"repository:repo:pull\"\r\n",
                         port);
                reply(fd, "401 Unauthorized", extra, "{\"errors\":[{\"code\":\"UNAUTHORIZED\"}]}");
                return;
        }
        if (strcmp(path, "/v2/repo/manifests/latest") == 0)
                reply(fd, "200 OK", "Content-Type: " OCI_MEDIA_TYPE_OCI_MANIFEST "\r\n", MANIFEST);
        else if (strcmp(path, "/v2/repo/blobs/" HELLO_DIGEST) == 0)
                reply(fd, "200 OK", "", "hello");
        else if (strcmp(path, "/v2/repo/blobs/" OTHER_DIGEST) == 0)
                reply(fd, "200 OK", "", "hellO");
        else if (strcmp(path, "/v2/repo/blobs/"
                              "sha256:2222222222222222222222222222222222222222222222222222222222222222") ==
                 0) {
                snprintf(extra, sizeof(extra), "Location: http://localhost:%d/v2/elsewhere/x\r\n", port);
                reply(fd, "307 Temporary Redirect", extra, "");
        } else
                reply(fd, "404 Not Found", "Content-Type: application/json\r\n",
                      "{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\",\"message\":\"manifest unknown\"}]}");
}

static void *server_thread(void *arg) {
        for (;;) {
                int fd = accept4(server_fd, NULL, NULL, SOCK_CLOEXEC);
                if (fd < 0)
                        return NULL;
                serve(fd);
                close(fd);
        }
}

static char auth_path[] = "/tmp/test-oci-registry-XXXXXX";

static int setup(void **state) {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t l = sizeof(sa);
        pthread_t t;
        int fd;

        server_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(server_fd >= 0);
        assert_int_equal(bind(server_fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        assert_int_equal(listen(server_fd, 16), 0);
        assert_int_equal(getsockname(server_fd, (struct sockaddr *) &sa, &l), 0);
        port = ntohs(sa.sin_port);
        assert_int_equal(pthread_create(&t, NULL, server_thread, NULL), 0);
        pthread_detach(t);

        fd = mkstemp(auth_path);
        assert_true(fd >= 0);
        dprintf(fd,
                "{\"auths\":{\"127.0.0.1:%d\":{\"auth\":\"dXNlcjpwYXNz\"},"
                "\"other.example/repo\":{\"auth\":\"b3RoZXI6eA==\"}}}",
                port);
        close(fd);
        return 0;
}

static int teardown(void **state) {
        unlink(auth_path);
        return 0;
}

static OciRegistry *registry_for(const char *repo, const char *auth_file) {
        _cleanup_(oci_reference_freep) OciReference *ref = NULL;
        OciRegistry *reg = NULL;
        char s[256];

        snprintf(s, sizeof(s), "127.0.0.1:%d/%s", port, repo);
        assert_int_equal(oci_reference_parse(s, &ref), 0);
        assert_int_equal(
                oci_registry_new(ref, &(OciRegistryOptions){.insecure = true, .auth_file = auth_file}, &reg),
                0);
        return reg;
}

static void test_manifest_with_token(void **state) {
        _cleanup_(oci_registry_freep) OciRegistry *reg = registry_for("repo", auth_path);
        _cleanup_free_ char *body = NULL, *ct = NULL, *b2 = NULL, *ct2 = NULL;
        char digest[OCI_DIGEST_LEN + 1], expected[SHA256_HEX_LEN + 1];
        size_t n;

        token_requests = 0;
        assert_int_equal(oci_registry_get_manifest(reg, "latest", &body, &n, &ct, digest), 0);
        assert_string_equal(body, MANIFEST);
        assert_int_equal(n, strlen(MANIFEST));
        assert_string_equal(ct, OCI_MEDIA_TYPE_OCI_MANIFEST);
        assert_int_equal(sha256_hex(MANIFEST, strlen(MANIFEST), expected), 0);
        assert_string_equal(digest + 7, expected);
        assert_int_equal(token_requests, 1);
        /* the token is kept for the next request */
        assert_int_equal(oci_registry_get_manifest(reg, "latest", &b2, &n, &ct2, digest), 0);
        assert_int_equal(token_requests, 1);
        assert_null(oci_registry_error(reg));
}

static void test_no_credentials(void **state) {
        _cleanup_(oci_registry_freep) OciRegistry *reg = registry_for("repo", "/nonexistent/auth.json");
        _cleanup_free_ char *body = NULL, *ct = NULL;
        char digest[OCI_DIGEST_LEN + 1];
        size_t n;

        assert_int_equal(oci_registry_get_manifest(reg, "latest", &body, &n, &ct, digest), -EACCES);
        assert_non_null(oci_registry_error(reg));
}

static void test_unknown_manifest(void **state) {
        _cleanup_(oci_registry_freep) OciRegistry *reg = registry_for("repo", auth_path);
        _cleanup_free_ char *body = NULL, *ct = NULL;
        char digest[OCI_DIGEST_LEN + 1];
        size_t n;

        assert_int_equal(oci_registry_get_manifest(reg, "nope", &body, &n, &ct, digest), -ENOENT);
        assert_non_null(strstr(oci_registry_error(reg), "MANIFEST_UNKNOWN: manifest unknown"));
        /* an unknown digest */
        assert_int_equal(oci_registry_get_manifest(reg, OTHER_DIGEST, &body, &n, &ct, digest), -ENOENT);
}

static void test_blobs(void **state) {
        _cleanup_(oci_registry_freep) OciRegistry *reg = registry_for("repo", auth_path);
        char path[] = "/tmp/test-oci-blob-XXXXXX", buf[16] = "";
        _cleanup_free_ char *data = NULL;
        size_t n;
        int fd;

        fd = mkstemp(path);
        assert_true(fd >= 0);
        unlink(path);
        assert_int_equal(oci_registry_fetch_blob(reg, HELLO_DIGEST, 5, fd, NULL, NULL), 0);
        assert_int_equal(pread(fd, buf, sizeof(buf), 0), 5);
        assert_string_equal(buf, "hello");
        /* wrong content, wrong announced sizes */
        assert_int_equal(oci_registry_fetch_blob(reg, OTHER_DIGEST, 5, fd, NULL, NULL), -EBADMSG);
        assert_non_null(strstr(oci_registry_error(reg), "not " OTHER_DIGEST));
        assert_int_equal(oci_registry_fetch_blob(reg, HELLO_DIGEST, 4, fd, NULL, NULL), -EBADMSG);
        assert_int_equal(oci_registry_fetch_blob(reg, HELLO_DIGEST, 6, fd, NULL, NULL), -EBADMSG);
        assert_int_equal(oci_registry_fetch_blob(reg, "sha256:x", 6, fd, NULL, NULL), -EINVAL);
        close(fd);

        assert_int_equal(oci_registry_get_blob(reg, HELLO_DIGEST, 5, 100, &data, &n), 0);
        assert_int_equal(n, 5);
        assert_memory_equal(data, "hello", 5);
}

static int cancel_progress(uint64_t bytes, void *userdata) {
        return -ECANCELED;
}

static void test_redirect_and_cancel(void **state) {
        _cleanup_(oci_registry_freep) OciRegistry *reg = registry_for("repo", auth_path);
        char path[] = "/tmp/test-oci-blob-XXXXXX";
        int fd;

        fd = mkstemp(path);
        assert_true(fd >= 0);
        unlink(path);
        redirected_had_authorization = true;
        assert_int_equal(oci_registry_fetch_blob(
                                 reg,
                                 "sha256:2222222222222222222222222222222222222222222222222222222222222222",
                                 5, fd, NULL, NULL),
                         -EBADMSG); /* "hello" is not that digest; what matters is who saw the token */
        assert_false(redirected_had_authorization);
        assert_int_equal(oci_registry_fetch_blob(reg, HELLO_DIGEST, 5, fd, cancel_progress, NULL),
                         -ECANCELED);
        close(fd);
}

static unsigned pipe_asked;

/* The reader of a full pipe is gone: asked with 0 bytes, the callback says so. */
static int reader_gone(uint64_t bytes, void *userdata) {
        if (bytes == 0)
                pipe_asked++;
        return bytes == 0 ? -EPIPE : 0;
}

/* A non-blocking pipe as the sink (the pull streams layers into the unpacker): a full pipe waits, asking the
 * progress callback, instead of failing with EAGAIN or blocking for good. */
static void test_pipe_sink(void **state) {
        _cleanup_(oci_registry_freep) OciRegistry *reg = registry_for("repo", auth_path);
        char buf[64 * 1024];
        int fds[2];
        ssize_t n;

        assert_int_equal(pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
        (void) fcntl(fds[1], F_SETPIPE_SZ, 4096);
        while (write(fds[1], buf, sizeof(buf)) > 0)
                ;
        assert_int_equal(errno, EAGAIN);
        assert_int_equal(oci_registry_fetch_blob(reg, HELLO_DIGEST, 5, fds[1], reader_gone, NULL), -EPIPE);
        assert_true(pipe_asked > 0);

        /* Room again: the blob goes through. */
        while (read(fds[0], buf, sizeof(buf)) > 0)
                ;
        assert_int_equal(oci_registry_fetch_blob(reg, HELLO_DIGEST, 5, fds[1], reader_gone, NULL), 0);
        n = read(fds[0], buf, sizeof(buf));
        assert_int_equal(n, 5);
        assert_memory_equal(buf, "hello", 5);
        close(fds[0]);
        close(fds[1]);
}

static void test_connection_refused(void **state) {
        _cleanup_(oci_reference_freep) OciReference *ref = NULL;
        _cleanup_(oci_registry_freep) OciRegistry *reg = NULL;
        _cleanup_free_ char *body = NULL, *ct = NULL;
        char digest[OCI_DIGEST_LEN + 1];
        size_t n;

        /* port 1 on the loopback: nothing listens there in a test sandbox */
        assert_int_equal(oci_reference_parse("127.0.0.1:1/x", &ref), 0);
        assert_int_equal(
                oci_registry_new(ref, &(OciRegistryOptions){.insecure = true, .auth_file = "/nonexistent"},
                                 &reg),
                0);
        assert_int_equal(oci_registry_get_manifest(reg, "latest", &body, &n, &ct, digest), -ECONNREFUSED);
        assert_non_null(oci_registry_error(reg));
}

static void test_auth_lookup(void **state) {
        char path[] = "/tmp/test-oci-auth-XXXXXX";
        char *user = NULL, *password = NULL;
        int fd;

        fd = mkstemp(path);
        assert_true(fd >= 0);
        dprintf(fd, "{\"auths\":{"
                    "\"https://index.docker.io/v1/\":{\"auth\":\"ZDpw\"}," /* d:p */
                    "\"quay.io\":{\"auth\":\"cTpw\"}," /* q:p */
                    "\"quay.io/org\":{\"auth\":\"bzpw\"}," /* o:p */
                    "\"bad.example\":{\"auth\":\"!!!\"},"
                    "\"nocolon.example\":{\"auth\":\"bm9jb2xvbg==\"},"
                    "\"quay.io.evil\":{\"auth\":\"ZTpw\"}}}");
        close(fd);

        assert_int_equal(oci_auth_lookup(path, "docker.io", "library/busybox", &user, &password), 0);
        assert_string_equal(user, "d");
        assert_string_equal(password, "p");
        free(user), free(password);
        assert_int_equal(oci_auth_lookup(path, "quay.io", "org/app", &user, &password), 0);
        assert_string_equal(user, "o");
        free(user), free(password);
        assert_int_equal(oci_auth_lookup(path, "quay.io", "organisation/app", &user, &password), 0);
        assert_string_equal(user, "q");
        free(user), free(password);
        assert_int_equal(oci_auth_lookup(path, "quay.i", "x", &user, &password), -ENOENT);
        assert_int_equal(oci_auth_lookup(path, "ghcr.io", "x", &user, &password), -ENOENT);
        assert_int_equal(oci_auth_lookup(path, "bad.example", "x", &user, &password), -EBADMSG);
        assert_int_equal(oci_auth_lookup(path, "nocolon.example", "x", &user, &password), -EBADMSG);
        assert_int_equal(oci_auth_lookup("/nonexistent", "quay.io", "x", &user, &password), -ENOENT);
        unlink(path);

        strcpy(path, "/tmp/test-oci-auth-XXXXXX");
        fd = mkstemp(path);
        assert_true(fd >= 0);
        dprintf(fd, "{\"auths\":[]}");
        close(fd);
        assert_int_equal(oci_auth_lookup(path, "quay.io", "x", &user, &password), -EBADMSG);
        unlink(path);
}

static void test_www_authenticate(void **state) {
        _cleanup_free_ char *scheme = NULL, *realm = NULL, *service = NULL, *scope = NULL;
        char *a, *b, *c, *d;

        assert_int_equal(
                oci_parse_www_authenticate("Bearer realm=\"https://auth.docker.io/token\","
                                           "service=\"registry.docker.io\",scope=\"repository:a/b:pull\"",
                                           &scheme, &realm, &service, &scope),
                0);
        assert_string_equal(scheme, "Bearer");
        assert_string_equal(realm, "https://auth.docker.io/token");
        assert_string_equal(service, "registry.docker.io");
        assert_string_equal(scope, "repository:a/b:pull");

        assert_int_equal(oci_parse_www_authenticate("Basic realm=Registry", &a, &b, &c, &d), 0);
        assert_string_equal(a, "Basic");
        assert_string_equal(b, "Registry");
        assert_null(c);
        assert_null(d);
        free(a), free(b);

        assert_int_equal(oci_parse_www_authenticate("Bearer realm=\"unterminated", &a, &b, &c, &d),
                         -EBADMSG);
        assert_int_equal(oci_parse_www_authenticate("", &a, &b, &c, &d), -EBADMSG);
        assert_int_equal(oci_parse_www_authenticate("Bearer novalue", &a, &b, &c, &d), -EBADMSG);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_manifest_with_token), cmocka_unit_test(test_no_credentials),
                cmocka_unit_test(test_unknown_manifest),    cmocka_unit_test(test_blobs),
                cmocka_unit_test(test_redirect_and_cancel), cmocka_unit_test(test_connection_refused),
                cmocka_unit_test(test_auth_lookup),         cmocka_unit_test(test_www_authenticate),
                cmocka_unit_test(test_pipe_sink),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
