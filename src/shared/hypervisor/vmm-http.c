/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* HTTP/1.1 with JSON bodies over a VMM's unix API socket (libcurl); bounded retries of idempotent calls. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dlopen-curl.h"
#include "json-util.h"
#include "time-util.h"
#include "vmm-http.h"

static const char *const method_table[_VMM_HTTP_METHOD_MAX] = {
        [VMM_HTTP_GET] = "GET",
        [VMM_HTTP_PUT] = "PUT",
        [VMM_HTTP_PATCH] = "PATCH",
};

const char *vmm_http_method_to_string(VmmHttpMethod m) {
        return m >= 0 && m < _VMM_HTTP_METHOD_MAX ? method_table[m] : NULL;
}

void vmm_http_response_done(VmmHttpResponse *r) {
        if (!r)
                return;
        r->text = mfree(r->text);
        if (r->json)
                json_object_put(r->json);
        r->json = NULL;
}

/* curl_global_init() is not thread-safe, and the first calls may come from several workers at once. */
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result = CURLE_FAILED_INIT;

static void curl_init_once(void) {
        curl_init_result = sym_curl_global_init(CURL_GLOBAL_NOTHING);
}

typedef struct Buffer {
        char *data;
        size_t size;
        bool too_large;
} Buffer;

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata) {
        Buffer *b = userdata;
        size_t n = size * nmemb;
        if (b->size + n > VMM_HTTP_BODY_MAX) {
                b->too_large = true;
                return 0; /* curl fails the transfer with CURLE_WRITE_ERROR */
        }
        char *p = realloc(b->data, b->size + n + 1);
        if (!p)
                return 0;
        memcpy(p + b->size, ptr, n);
        b->size += n;
        p[b->size] = 0;
        b->data = p;
        return n;
}

static int curl_to_errno(CURLcode c) {
        switch (c) {
        case CURLE_COULDNT_CONNECT:
                return -ECONNREFUSED;
        case CURLE_OPERATION_TIMEDOUT:
                return -ETIMEDOUT;
        case CURLE_OUT_OF_MEMORY:
                return -ENOMEM;
        case CURLE_UNSUPPORTED_PROTOCOL:
        case CURLE_WEIRD_SERVER_REPLY:
                return -EPROTO;
        default:
                return -EIO;
        }
}

/* One try. 0 with *ret_status and the body when an answer came; -errno otherwise. */
static int attempt(const VmmHttpRequest *req, const char *payload, uint64_t timeout_usec, long *ret_status,
                   Buffer *body) {
        CURL *c = sym_curl_easy_init();
        struct curl_slist *headers = NULL;
        char url[512];
        int r = 0;

        if (!c)
                return -ENOMEM;
        snprintf(url, sizeof(url), "http://localhost%s", req->path);
        /* No "Expect: 100-continue": the VMMs' small HTTP servers answer requests, not expectations. */
        struct curl_slist *h = sym_curl_slist_append(NULL, "Accept: application/json");
        if (h)
                headers = h;
        if (h && payload)
                h = sym_curl_slist_append(headers, "Content-Type: application/json");
        if (h)
                h = sym_curl_slist_append(headers, "Expect:");
        if (!h) {
                r = -ENOMEM;
                goto finish;
        }

        (void) sym_curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, req->socket_path);
        (void) sym_curl_easy_setopt(c, CURLOPT_URL, url);
        (void) sym_curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_1_1);
        (void) sym_curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L); /* worker threads: no SIGALRM */
        (void) sym_curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
        (void) sym_curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, vmm_http_method_to_string(req->method));
        (void) sym_curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
        (void) sym_curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        (void) sym_curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
        if (payload) {
                (void) sym_curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload);
                (void) sym_curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long) strlen(payload));
        } else if (req->method != VMM_HTTP_GET)
                /* A body-less PUT still says so: Content-Length: 0. */
                (void) sym_curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
        if (req->method != VMM_HTTP_GET && !payload)
                (void) sym_curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
        if (timeout_usec > 0)
                (void) sym_curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long) MAX(timeout_usec / USEC_PER_MSEC, 1U));

        CURLcode cc = sym_curl_easy_perform(c);
        if (cc != CURLE_OK) {
                r = body->too_large ? -EMSGSIZE : curl_to_errno(cc);
                goto finish;
        }
        (void) sym_curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, ret_status);
finish:
        sym_curl_slist_free_all(headers);
        sym_curl_easy_cleanup(c);
        return r;
}

static bool may_retry(const VmmHttpRequest *req, int r, long status) {
        if (req->method != VMM_HTTP_GET && !req->idempotent)
                return false;
        if (r < 0)
                /* Nothing came back: nobody listening yet, or the connection broke. Not a timeout: the
                 * deadline is spent, and not a reply that was too large: it would be again. */
                return r == -ECONNREFUSED || r == -EIO || r == -ENOENT;
        return status == 429 || (status >= 500 && status <= 599);
}

static void sleep_usec(uint64_t usec) {
        struct timespec ts = { .tv_sec = usec / USEC_PER_SEC, .tv_nsec = (usec % USEC_PER_SEC) * 1000 };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

int vmm_http_call(const VmmHttpRequest *req, VmmHttpResponse *ret) {
        _cleanup_free_ char *payload = NULL;
        uint64_t deadline = req->timeout_usec > 0 ? now_usec(CLOCK_MONOTONIC) + req->timeout_usec : 0;
        uint64_t delay = VMM_HTTP_RETRY_DELAY_USEC;
        Buffer body = {};
        long status = 0;
        unsigned n = 0;
        int r;

        if (!req->socket_path || !req->path || req->path[0] != '/' || strlen(req->path) > 400 ||
            !vmm_http_method_to_string(req->method))
                return -EINVAL;
        r = dlopen_curl();
        if (r < 0)
                return r;
        (void) pthread_once(&curl_once, curl_init_once);
        if (curl_init_result != CURLE_OK)
                return -ENOMEM;
        if (req->body && !(payload = strdup(json_to_string(req->body))))
                return -ENOMEM;

        for (;;) {
                uint64_t left = 0;
                if (deadline > 0) {
                        uint64_t now = now_usec(CLOCK_MONOTONIC);
                        if (now >= deadline) {
                                r = -ETIMEDOUT;
                                break;
                        }
                        left = deadline - now;
                }
                body.data = mfree(body.data);
                body.size = 0;
                body.too_large = false;
                status = 0;
                n++;
                r = attempt(req, payload, left, &status, &body);
                if (n >= VMM_HTTP_MAX_ATTEMPTS || !may_retry(req, r, status))
                        break;
                if (deadline > 0 && now_usec(CLOCK_MONOTONIC) + delay >= deadline)
                        break;
                sleep_usec(delay);
                delay *= 2;
        }
        if (r < 0) {
                free(body.data);
                return r;
        }

        json_object *json = NULL;
        if (body.size > 0 && json_parse(body.data, body.size, &json) < 0)
                json = NULL; /* not JSON (Cloud Hypervisor's errors are text): the text stays */
        *ret = (VmmHttpResponse){
                .status = status,
                .text = body.data ?: strdup(""),
                .json = json,
                .attempts = n,
        };
        if (!ret->text) {
                vmm_http_response_done(ret);
                return -ENOMEM;
        }
        return 0;
}

int vmm_http_call_ok(const VmmHttpRequest *req, json_object **ret_json, char **ret_error) {
        VmmHttpResponse resp = {};
        int r = vmm_http_call(req, &resp);
        if (r < 0) {
                if (ret_error && asprintf(ret_error, "%s %s: %s", vmm_http_method_to_string(req->method),
                                          req->path, strerror(-r)) < 0)
                        *ret_error = NULL;
                return r;
        }
        if (resp.status < 200 || resp.status > 299) {
                /* The VMM's own words, on one line and bounded: they end up in operators' messages. */
                size_t len = strcspn(resp.text, "\n");
                if (ret_error && asprintf(ret_error, "%s %s: HTTP %ld%s%.*s",
                                          vmm_http_method_to_string(req->method), req->path, resp.status,
                                          len > 0 ? ": " : "", (int) MIN(len, 1024U), resp.text) < 0)
                        *ret_error = NULL;
                vmm_http_response_done(&resp);
                return -EIO;
        }
        if (ret_json)
                *ret_json = TAKE_PTR(resp.json);
        vmm_http_response_done(&resp);
        return 0;
}
