/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* OCI distribution client over libcurl: requests, authentication (bearer token, basic), blob streaming
 * with sha256 verification, credentials from containers-auth.json. */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "dlopen-curl.h"
#include "fd-util.h"
#include "json-util.h"
#include "oci-manifest.h"
#include "oci-registry.h"
#include "sha256-util.h"

/* Error bodies and token replies are small; more is not worth keeping. */
#define OCI_SMALL_BODY_MAX (64U * 1024)
#define OCI_AUTH_FILE_MAX (1024U * 1024)
#define OCI_CONNECT_TIMEOUT_SEC 30L
/* A transfer slower than 1 byte/s for this long is dead (no overall timeout: layers may be big). */
#define OCI_STALL_TIMEOUT_SEC 60L

/* Idle handles kept: a pull's threads at once by default (3 layers, the pull's own) and some; a handle
 * beyond them is cleaned up after its request, its connections closed. */
#define OCI_REGISTRY_IDLE_HANDLES 8

struct OciRegistry {
        char *base_url; /* "https://host[:port]/v2/<repository>" */
        char *repository;
        bool insecure;
        const atomic_bool *cancel, *stop;
        char *user, *password; /* NULL: no credentials */

        pthread_mutex_t lock; /* guards what follows: threads share a token */
        char *token; /* bearer token, NULL: none yet */
        bool use_basic; /* the registry asked for basic auth */
        char *error; /* first failure's message */
        /* Handles between requests, each with its connections: the next request on any thread reuses
         * one, and with it a connection to the same host (no new TCP and TLS handshake per blob).
         * libcurl does not share one connection cache between threads; a handle is used by one
         * request at a time. */
        CURL *idle[OCI_REGISTRY_IDLE_HANDLES];
        size_t n_idle;
};

typedef struct Request {
        OciRegistry *reg;
        const char *url;
        const char *accept;
        /* sink of a 2xx body: fd >= 0, or memory up to max */
        int fd;
        char *buf;
        size_t n, max;
        Sha256 *hash;
        uint64_t expected; /* 0: unknown */
        uint64_t received;
        OciProgress progress;
        void *userdata;
        /* the current response */
        long status;
        char *content_type;
        char *www_authenticate;
        char *err_body;
        size_t err_n;
        int error; /* set by a callback that stopped the transfer */
} Request;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void curl_init_once(void) {
        curl_init_result = sym_curl_global_init(CURL_GLOBAL_DEFAULT);
}

void oci_error_keep_first(pthread_mutex_t *lock, char **error, const char *fmt, va_list ap) {
        char *m;

        if (vasprintf(&m, fmt, ap) < 0)
                m = NULL;
        pthread_mutex_lock(lock);
        if (!*error)
                *error = m;
        else
                free(m);
        pthread_mutex_unlock(lock);
}

static void registry_set_error(OciRegistry *reg, const char *fmt, ...) _printf_(2, 3);
static void registry_set_error(OciRegistry *reg, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        oci_error_keep_first(&reg->lock, &reg->error, fmt, ap);
        va_end(ap);
}

const char *oci_registry_error(OciRegistry *reg) {
        const char *e;

        pthread_mutex_lock(&reg->lock);
        e = reg->error;
        pthread_mutex_unlock(&reg->lock);
        return e;
}

/* ---- credentials ---- */

static int base64_decode(const char *s, char **ret) {
        static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        size_t n = strlen(s), o = 0;
        unsigned acc = 0, bits = 0;
        _cleanup_free_ char *out = NULL;

        out = malloc(n / 4 * 3 + 4);
        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const char *p;

                if (s[i] == '=') {
                        /* padding only at the end */
                        for (size_t j = i; j < n; j++)
                                if (s[j] != '=')
                                        return -EBADMSG;
                        break;
                }
                p = s[i] ? strchr(alphabet, s[i]) : NULL;
                if (!p)
                        return -EBADMSG;
                acc = (acc << 6) | (unsigned) (p - alphabet);
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        out[o++] = (char) ((acc >> bits) & 0xff);
                }
        }
        out[o] = '\0';
        if (memchr(out, '\0', o))
                return -EBADMSG;
        *ret = TAKE_PTR(out);
        return 0;
}

/* An auths key as a "host[/path]" comparable with "<domain>/<repository>". */
static char *auth_key_normalize(const char *key) {
        const char *k = key;
        char *s;
        size_t n;

        if (strncmp(k, "https://", 8) == 0)
                k += 8;
        else if (strncmp(k, "http://", 7) == 0)
                k += 7;
        s = strdup(k);
        if (!s)
                return NULL;
        n = strlen(s);
        if (n >= 4 && strcmp(s + n - 4, "/v1/") == 0)
                s[n -= 4] = '\0';
        else if (n >= 3 && (strcmp(s + n - 3, "/v1") == 0 || strcmp(s + n - 3, "/v2") == 0))
                s[n -= 3] = '\0';
        while (n > 0 && s[n - 1] == '/')
                s[--n] = '\0';
        if (strncmp(s, "index.docker.io", 15) == 0 || strncmp(s, "registry-1.docker.io", 20) == 0) {
                const char *rest = s + (s[0] == 'i' ? 15 : 20);
                char *t;
                if (rest[0] != '\0' && rest[0] != '/')
                        return s;
                if (asprintf(&t, "docker.io%s", rest) < 0)
                        t = NULL;
                free(s);
                return t;
        }
        return s;
}

int oci_auth_lookup(const char *path, const char *domain, const char *repository, char **ret_user,
                    char **ret_password) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        _cleanup_free_ char *text = NULL, *full = NULL, *decoded = NULL, *user = NULL, *password = NULL;
        _cleanup_close_ int fd = -EBADF;
        json_object *auths, *best = NULL;
        size_t best_len = 0, n = 0;
        char *colon;
        ssize_t k;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return errno == ENOENT ? -ENOENT : -errno;
        text = malloc(OCI_AUTH_FILE_MAX + 1);
        if (!text)
                return -ENOMEM;
        while ((k = read(fd, text + n, OCI_AUTH_FILE_MAX + 1 - n)) > 0)
                n += k;
        if (k < 0)
                return -errno;
        if (n > OCI_AUTH_FILE_MAX)
                return -EBADMSG;
        if (json_parse(text, n, &o) < 0 || !json_object_is_type(o, json_type_object))
                return -EBADMSG;
        if (!json_object_object_get_ex(o, "auths", &auths))
                return -ENOENT;
        if (!json_object_is_type(auths, json_type_object))
                return -EBADMSG;
        if (asprintf(&full, "%s/%s", domain, repository) < 0)
                return -ENOMEM;

        json_object_object_foreach(auths, key, value) {
                _cleanup_free_ char *nk = auth_key_normalize(key);
                size_t l;

                if (!nk)
                        return -ENOMEM;
                l = strlen(nk);
                if (strncmp(full, nk, l) != 0 || (full[l] != '\0' && full[l] != '/'))
                        continue;
                /* a bare host key must be the whole domain, not a prefix of one */
                if (l < strlen(domain))
                        continue;
                if (l > best_len) {
                        best = value;
                        best_len = l;
                }
        }
        if (!best)
                return -ENOENT;
        {
                const char *auth;
                int r = json_get_string(best, "auth", &auth);
                if (r == -ENXIO)
                        return -ENOENT;
                if (r < 0 || base64_decode(auth, &decoded) < 0)
                        return -EBADMSG;
        }
        colon = strchr(decoded, ':');
        if (!colon || colon == decoded)
                return -EBADMSG;
        user = strndup(decoded, colon - decoded);
        password = strdup(colon + 1);
        if (!user || !password)
                return -ENOMEM;
        *ret_user = TAKE_PTR(user);
        *ret_password = TAKE_PTR(password);
        return 0;
}

/* ---- WWW-Authenticate ---- */

int oci_parse_www_authenticate(const char *header, char **ret_scheme, char **ret_realm, char **ret_service,
                               char **ret_scope) {
        _cleanup_free_ char *scheme = NULL, *realm = NULL, *service = NULL, *scope = NULL;
        const char *p = header;
        size_t n;

        p += strspn(p, " \t");
        n = strcspn(p, " \t");
        if (n == 0)
                return -EBADMSG;
        scheme = strndup(p, n);
        if (!scheme)
                return -ENOMEM;
        p += n;

        for (;;) {
                _cleanup_free_ char *key = NULL, *value = NULL;
                size_t vn = 0;

                p += strspn(p, " \t,");
                if (*p == '\0')
                        break;
                n = strcspn(p, "= \t,");
                if (n == 0 || p[n] != '=')
                        return -EBADMSG;
                key = strndup(p, n);
                value = malloc(strlen(p) + 1);
                if (!key || !value)
                        return -ENOMEM;
                p += n + 1;
                if (*p == '"') {
                        for (p++; *p != '"'; p++) {
                                if (*p == '\0')
                                        return -EBADMSG;
                                if (*p == '\\' && p[1] != '\0')
                                        p++;
                                value[vn++] = *p;
                        }
                        p++;
                } else
                        while (*p != '\0' && *p != ',' && *p != ' ' && *p != '\t')
                                value[vn++] = *p++;
                value[vn] = '\0';

                if (strcasecmp(key, "realm") == 0)
                        free(realm), realm = TAKE_PTR(value);
                else if (strcasecmp(key, "service") == 0)
                        free(service), service = TAKE_PTR(value);
                else if (strcasecmp(key, "scope") == 0)
                        free(scope), scope = TAKE_PTR(value);
        }

        *ret_scheme = TAKE_PTR(scheme);
        *ret_realm = TAKE_PTR(realm);
        *ret_service = TAKE_PTR(service);
        *ret_scope = TAKE_PTR(scope);
        return 0;
}

/* ---- requests ---- */

static bool status_ok(long s) {
        return s >= 200 && s < 300;
}

static size_t header_cb(char *data, size_t size, size_t nmemb, void *userdata) {
        Request *req = userdata;
        size_t n = size * nmemb, vn;
        char **target = NULL;
        const char *v;

        if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
                /* a new response (after a redirect or 100-continue): forget the previous one's headers */
                const char *sp = memchr(data, ' ', n);
                free(req->content_type);
                free(req->www_authenticate);
                req->content_type = req->www_authenticate = NULL;
                /* write_cb() needs the status before the body: a 2xx body is content, others are errors */
                req->status = sp ? strtol(sp + 1, NULL, 10) : 0;
                return n;
        }
        if (n > 13 && strncasecmp(data, "Content-Type:", 13) == 0)
                target = &req->content_type, v = data + 13;
        else if (n > 17 && strncasecmp(data, "WWW-Authenticate:", 17) == 0)
                target = &req->www_authenticate, v = data + 17;
        else
                return n;
        vn = n - (v - data);
        while (vn > 0 && (*v == ' ' || *v == '\t'))
                v++, vn--;
        while (vn > 0 && (v[vn - 1] == '\r' || v[vn - 1] == '\n' || v[vn - 1] == ' '))
                vn--;
        free(*target);
        *target = strndup(v, vn);
        return n;
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *userdata) {
        Request *req = userdata;
        size_t n = size * nmemb;

        if (!status_ok(req->status)) {
                size_t room = OCI_SMALL_BODY_MAX - req->err_n, take = MIN(room, n);
                char *b = realloc(req->err_body, req->err_n + take + 1);
                if (!b)
                        return req->error = -ENOMEM, 0;
                req->err_body = b;
                memcpy(b + req->err_n, data, take);
                req->err_n += take;
                b[req->err_n] = '\0';
                return n;
        }

        if (req->expected > 0 && req->received + n > req->expected)
                return req->error = -EBADMSG, 0;
        req->received += n;
        if (req->hash && sha256_update(req->hash, data, n) < 0)
                return req->error = -ENOMEM, 0;

        if (req->fd >= 0) {
                size_t done = 0;
                while (done < n) {
                        ssize_t k = write(req->fd, data + done, n - done);
                        if (k < 0) {
                                if (errno == EINTR)
                                        continue;
                                if (errno == EAGAIN) {
                                        /* A non-blocking sink (a pipe to a reader): wait for room, and ask
                                         * the progress callback (0 bytes) whether the reader is still
                                         * there, so that a reader gone never blocks the transfer. */
                                        struct pollfd pfd = {.fd = req->fd, .events = POLLOUT};
                                        int r;

                                        (void) poll(&pfd, 1, 100);
                                        if ((req->reg->cancel && atomic_load(req->reg->cancel)) ||
                                            (req->reg->stop && atomic_load(req->reg->stop)))
                                                return req->error = -ECANCELED, 0;
                                        if (req->progress && (r = req->progress(0, req->userdata)) < 0)
                                                return req->error = r, 0;
                                        continue;
                                }
                                return req->error = -errno, 0;
                        }
                        done += k;
                }
        } else {
                char *b;
                if (req->n + n > req->max)
                        return req->error = -EBADMSG, 0;
                b = realloc(req->buf, req->n + n + 1);
                if (!b)
                        return req->error = -ENOMEM, 0;
                req->buf = b;
                memcpy(b + req->n, data, n);
                req->n += n;
                b[req->n] = '\0';
        }

        if (req->progress) {
                int r = req->progress(n, req->userdata);
                if (r < 0)
                        return req->error = r, 0;
        }
        return n;
}

static int xferinfo_cb(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow) {
        Request *req = userdata;

        if ((req->reg->cancel && atomic_load(req->reg->cancel)) ||
            (req->reg->stop && atomic_load(req->reg->stop))) {
                req->error = -ECANCELED;
                return 1;
        }
        return 0;
}

static int curl_code_to_errno(CURLcode c) {
        switch (c) {
        case CURLE_COULDNT_CONNECT:
                return -ECONNREFUSED;
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
                return -EHOSTUNREACH;
        case CURLE_OPERATION_TIMEDOUT:
                return -ETIMEDOUT;
        case CURLE_OUT_OF_MEMORY:
                return -ENOMEM;
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_UNSUPPORTED_PROTOCOL:
        case CURLE_TOO_MANY_REDIRECTS:
        case CURLE_WEIRD_SERVER_REPLY:
        case CURLE_HTTP2:
                return -EPROTO;
        default:
                return -EIO;
        }
}

/* An idle handle (its options reset, its connections kept), or a new one. */
static CURL *handle_get(OciRegistry *reg) {
        CURL *curl = NULL;

        pthread_mutex_lock(&reg->lock);
        if (reg->n_idle > 0)
                curl = reg->idle[--reg->n_idle];
        pthread_mutex_unlock(&reg->lock);
        if (!curl)
                return sym_curl_easy_init();
        sym_curl_easy_reset(curl);
        return curl;
}

static void handle_put(OciRegistry *reg, CURL *curl) {
        pthread_mutex_lock(&reg->lock);
        if (reg->n_idle < ELEMENTSOF(reg->idle)) {
                reg->idle[reg->n_idle++] = curl;
                curl = NULL;
        }
        pthread_mutex_unlock(&reg->lock);
        if (curl)
                sym_curl_easy_cleanup(curl);
}

/* One HTTP exchange as the request says, following redirects. Authorization goes only to the first host:
 * libcurl drops custom Authorization headers and CURLOPT_USERPWD on a redirect to another host. */
#define OCI_BLOB_BUFFER_SIZE (256L * 1024L)

static int request_perform(Request *req, const char *authorization, const char *user, const char *password) {
        _cleanup_free_ char *auth_header = NULL, *accept_header = NULL;
        struct curl_slist *headers = NULL;
        char errbuf[CURL_ERROR_SIZE] = "";
        CURL *curl;
        CURLcode c;
        int r = 0;

        curl = handle_get(req->reg);
        if (!curl)
                return -ENOMEM;
        if (req->accept && asprintf(&accept_header, "Accept: %s", req->accept) < 0)
                accept_header = NULL;
        if (authorization && asprintf(&auth_header, "Authorization: %s", authorization) < 0)
                auth_header = NULL;
        if ((req->accept && !accept_header) || (authorization && !auth_header)) {
                handle_put(req->reg, curl);
                return -ENOMEM;
        }
        if (accept_header)
                headers = sym_curl_slist_append(headers, accept_header);
        if (auth_header)
                headers = sym_curl_slist_append(headers, auth_header);

        sym_curl_easy_setopt(curl, CURLOPT_URL, req->url);
        sym_curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        sym_curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
        sym_curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 8L);
        sym_curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, req->reg->insecure ? "http,https" : "https");
        sym_curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, req->reg->insecure ? "http,https" : "https");
        sym_curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, OCI_CONNECT_TIMEOUT_SEC);
        sym_curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
        sym_curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, OCI_STALL_TIMEOUT_SEC);
        sym_curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        sym_curl_easy_setopt(curl, CURLOPT_USERAGENT, "cocoon/" COCOON_VERSION);
        sym_curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
        sym_curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, header_cb);
        sym_curl_easy_setopt(curl, CURLOPT_HEADERDATA, req);
        sym_curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_cb);
        sym_curl_easy_setopt(curl, CURLOPT_WRITEDATA, req);
        sym_curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, xferinfo_cb);
        sym_curl_easy_setopt(curl, CURLOPT_XFERINFODATA, req);
        sym_curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
        if (req->fd >= 0)
                /* A layer: fewer, larger pieces into the unpacker's pipe (libcurl's default is 16 KiB). */
                sym_curl_easy_setopt(curl, CURLOPT_BUFFERSIZE, OCI_BLOB_BUFFER_SIZE);
        if (user) {
                sym_curl_easy_setopt(curl, CURLOPT_HTTPAUTH, (long) CURLAUTH_BASIC);
                sym_curl_easy_setopt(curl, CURLOPT_USERNAME, user);
                sym_curl_easy_setopt(curl, CURLOPT_PASSWORD, password);
        }

        req->status = 0;
        c = sym_curl_easy_perform(curl);
        if (c != CURLE_OK) {
                if (req->error < 0)
                        r = req->error;
                else {
                        r = curl_code_to_errno(c);
                        registry_set_error(req->reg, "%s: %s", req->url,
                                           errbuf[0] ? errbuf : sym_curl_easy_strerror(c));
                }
        } else
                sym_curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &req->status);

        sym_curl_slist_free_all(headers);
        handle_put(req->reg, curl);
        return r;
}

static void request_reset(Request *req) {
        free(req->content_type);
        free(req->www_authenticate);
        free(req->err_body);
        req->content_type = req->www_authenticate = req->err_body = NULL;
        req->err_n = 0;
        req->error = 0;
        req->status = 0;
}

static void request_done(Request *req) {
        request_reset(req);
        free(req->buf);
        req->buf = NULL;
}

/* The registry's JSON error body ({"errors":[{"code","message"}]}) as one line, else the HTTP status. */
static void request_set_error(Request *req) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        json_object *errors, *e;
        const char *code = NULL, *message = NULL;

        if (req->err_body && json_parse(req->err_body, req->err_n, &o) >= 0 &&
            json_object_object_get_ex(o, "errors", &errors) &&
            json_object_is_type(errors, json_type_array) && json_object_array_length(errors) > 0) {
                e = json_object_array_get_idx(errors, 0);
                if (json_object_is_type(e, json_type_object)) {
                        (void) json_get_string(e, "code", &code);
                        (void) json_get_string(e, "message", &message);
                }
        }
        if (code || message)
                registry_set_error(req->reg, "%s: %s%s%s (HTTP %ld)", req->url, code ?: "",
                                   code && message ? ": " : "", message ?: "", req->status);
        else
                registry_set_error(req->reg, "%s: HTTP %ld", req->url, req->status);
}

static int status_to_errno(long status) {
        if (status == 401 || status == 403)
                return -EACCES;
        if (status == 404)
                return -ENOENT;
        return -EPROTO;
}

/* Asks the token endpoint of a Bearer challenge for a pull token of our repository. */
static int registry_fetch_token(OciRegistry *reg, const char *realm, const char *service,
                                const char *scope) {
        _cleanup_free_ char *url = NULL, *default_scope = NULL, *token = NULL;
        _cleanup_(json_object_putp) json_object *o = NULL;
        Request req = {.reg = reg, .fd = -EBADF, .max = OCI_SMALL_BODY_MAX};
        const char *t;
        CURL *esc;
        int r;

        if (strncmp(realm, "https://", 8) != 0 && !(reg->insecure && strncmp(realm, "http://", 7) == 0)) {
                registry_set_error(reg, "refusing token realm %s (not https)", realm);
                return -EACCES;
        }
        if (!scope && asprintf(&default_scope, "repository:%s:pull", reg->repository) < 0)
                return -ENOMEM;
        esc = sym_curl_easy_init();
        if (!esc)
                return -ENOMEM;
        {
                char *s = service ? sym_curl_easy_escape(esc, service, 0) : NULL;
                char *sc = sym_curl_easy_escape(esc, scope ?: default_scope, 0);
                if (sc && (!service || s))
                        r = asprintf(&url, "%s%cservice=%s&scope=%s", realm, strchr(realm, '?') ? '&' : '?',
                                     s ?: "", sc);
                else
                        r = -1;
                sym_curl_free(s);
                sym_curl_free(sc);
        }
        sym_curl_easy_cleanup(esc);
        if (r < 0)
                return -ENOMEM;

        req.url = url;
        r = request_perform(&req, NULL, reg->user, reg->password);
        if (r >= 0 && !status_ok(req.status)) {
                request_set_error(&req);
                r = status_to_errno(req.status);
                if (r == -ENOENT)
                        r = -EACCES;
        }
        if (r >= 0 && (json_parse(req.buf ?: "", req.n, &o) < 0 ||
                       (json_get_string(o, "token", &t) < 0 && json_get_string(o, "access_token", &t) < 0) ||
                       strpbrk(t, "\r\n") || t[0] == '\0')) {
                registry_set_error(reg, "%s: no token in the reply", realm);
                r = -EACCES;
        }
        if (r >= 0) {
                token = strdup(t);
                if (!token)
                        r = -ENOMEM;
        }
        request_done(&req);
        if (r < 0)
                return r;

        pthread_mutex_lock(&reg->lock);
        free(reg->token);
        reg->token = TAKE_PTR(token);
        pthread_mutex_unlock(&reg->lock);
        return 0;
}

/* Answers a 401's challenge: fetches a token (Bearer) or switches to basic auth. -EACCES when we have
 * nothing to offer. */
static int registry_authenticate(OciRegistry *reg, const char *challenge) {
        _cleanup_free_ char *scheme = NULL, *realm = NULL, *service = NULL, *scope = NULL;

        if (!challenge || oci_parse_www_authenticate(challenge, &scheme, &realm, &service, &scope) < 0) {
                registry_set_error(reg, "registry requires authentication and sent no usable challenge");
                return -EACCES;
        }
        if (strcasecmp(scheme, "Bearer") == 0 && realm)
                return registry_fetch_token(reg, realm, service, scope);
        if (strcasecmp(scheme, "Basic") == 0) {
                if (!reg->user) {
                        registry_set_error(reg, "registry requires authentication, no credentials for it");
                        return -EACCES;
                }
                pthread_mutex_lock(&reg->lock);
                reg->use_basic = true;
                pthread_mutex_unlock(&reg->lock);
                return 0;
        }
        registry_set_error(reg, "registry wants unsupported authentication \"%s\"", scheme);
        return -EACCES;
}

/* A request with authentication: on a 401 answers the challenge once and retries. A 2xx body went to the
 * request's sink; anything else is an error with the registry's message kept. */
static int registry_request(Request *req) {
        OciRegistry *reg = req->reg;
        int r;

        for (unsigned attempt = 0;; attempt++) {
                _cleanup_free_ char *authorization = NULL;
                bool basic;

                pthread_mutex_lock(&reg->lock);
                basic = reg->use_basic;
                if (reg->token && asprintf(&authorization, "Bearer %s", reg->token) < 0)
                        authorization = NULL;
                pthread_mutex_unlock(&reg->lock);

                request_reset(req);
                r = request_perform(req, authorization, basic ? reg->user : NULL,
                                    basic ? reg->password : NULL);
                if (r < 0)
                        return r;
                if (status_ok(req->status))
                        return 0;
                if (req->status == 401 && attempt == 0) {
                        r = registry_authenticate(reg, req->www_authenticate);
                        if (r < 0)
                                return r;
                        continue;
                }
                request_set_error(req);
                return status_to_errno(req->status);
        }
}

/* ---- public ---- */

int oci_registry_new(const OciReference *ref, const OciRegistryOptions *options, OciRegistry **ret) {
        _cleanup_(oci_registry_freep) OciRegistry *reg = NULL;
        int r;

        r = dlopen_curl();
        if (r < 0)
                return r;
        pthread_once(&curl_once, curl_init_once);
        if (curl_init_result != CURLE_OK)
                return -EIO;

        reg = calloc(1, sizeof(*reg));
        if (!reg)
                return -ENOMEM;
        pthread_mutex_init(&reg->lock, NULL);
        reg->insecure = options && options->insecure;
        reg->cancel = options ? options->cancel : NULL;
        reg->stop = options ? options->stop : NULL;
        reg->repository = strdup(ref->repository);
        if (!reg->repository)
                return -ENOMEM;
        if (asprintf(&reg->base_url, "%s://%s/v2/%s", reg->insecure ? "http" : "https",
                     oci_reference_api_host(ref), ref->repository) < 0) {
                reg->base_url = NULL;
                return -ENOMEM;
        }

        r = oci_auth_lookup(options && options->auth_file ? options->auth_file : OCI_AUTH_FILE_DEFAULT,
                            ref->domain, ref->repository, &reg->user, &reg->password);
        if (r < 0 && r != -ENOENT)
                return r;

        *ret = TAKE_PTR(reg);
        return 0;
}

OciRegistry *oci_registry_free(OciRegistry *reg) {
        if (!reg)
                return NULL;
        free(reg->base_url);
        free(reg->repository);
        free(reg->user);
        if (reg->password)
                explicit_bzero(reg->password, strlen(reg->password));
        free(reg->password);
        free(reg->token);
        free(reg->error);
        for (size_t i = 0; i < reg->n_idle; i++)
                sym_curl_easy_cleanup(reg->idle[i]);
        pthread_mutex_destroy(&reg->lock);
        free(reg);
        return NULL;
}

static int check_digest(OciRegistry *reg, Sha256 *h, const char *digest, const char *url) {
        char hex[SHA256_HEX_LEN + 1];
        int r;

        r = sha256_final_hex(h, hex);
        if (r < 0)
                return r;
        if (digest && strcmp(digest + strlen(OCI_DIGEST_PREFIX), hex) != 0) {
                registry_set_error(reg, "%s: content has digest sha256:%s, not %s", url, hex, digest);
                return -EBADMSG;
        }
        return 0;
}

int oci_registry_get_manifest(OciRegistry *reg, const char *ref, char **ret_body, size_t *ret_size,
                              char **ret_content_type, char ret_digest[static OCI_DIGEST_LEN + 1]) {
        _cleanup_(sha256_freep) Sha256 *h = NULL;
        _cleanup_free_ char *url = NULL;
        char hex[SHA256_HEX_LEN + 1];
        Request req = {
                .reg = reg, .fd = -EBADF, .max = OCI_MANIFEST_SIZE_MAX, .accept = OCI_MANIFEST_ACCEPT};
        int r;

        if (asprintf(&url, "%s/manifests/%s", reg->base_url, ref) < 0)
                return -ENOMEM;
        req.url = url;
        r = registry_request(&req);
        if (r == -EBADMSG)
                registry_set_error(reg, "%s: manifest larger than %u bytes", url, OCI_MANIFEST_SIZE_MAX);
        if (r >= 0)
                r = sha256_new(&h);
        if (r >= 0)
                r = sha256_update(h, req.buf ?: "", req.n);
        if (r >= 0)
                r = sha256_final_hex(h, hex);
        if (r >= 0 && oci_digest_is_valid(ref) && strcmp(ref + strlen(OCI_DIGEST_PREFIX), hex) != 0) {
                registry_set_error(reg, "%s: manifest has digest sha256:%s", url, hex);
                r = -EBADMSG;
        }
        if (r < 0) {
                request_done(&req);
                return r;
        }
        snprintf(ret_digest, OCI_DIGEST_LEN + 1, OCI_DIGEST_PREFIX "%s", hex);
        *ret_content_type = TAKE_PTR(req.content_type);
        *ret_size = req.n;
        *ret_body = req.buf ? TAKE_PTR(req.buf) : strdup("");
        request_done(&req);
        return *ret_body ? 0 : -ENOMEM;
}

static int registry_blob(OciRegistry *reg, const char *digest, uint64_t size, Request *req) {
        _cleanup_(sha256_freep) Sha256 *h = NULL;
        _cleanup_free_ char *url = NULL;
        int r;

        if (!oci_digest_is_valid(digest))
                return -EINVAL;
        if (asprintf(&url, "%s/blobs/%s", reg->base_url, digest) < 0)
                return -ENOMEM;
        r = sha256_new(&h);
        if (r < 0)
                return r;
        req->url = url;
        req->hash = h;
        req->expected = size;
        r = registry_request(req);
        if (r == -EBADMSG)
                registry_set_error(reg, "%s: more than the %llu bytes the manifest announced", url,
                                   (unsigned long long) size);
        if (r >= 0 && req->received != size) {
                registry_set_error(reg, "%s: %llu bytes, the manifest announced %llu", url,
                                   (unsigned long long) req->received, (unsigned long long) size);
                r = -EBADMSG;
        }
        if (r >= 0)
                r = check_digest(reg, h, digest, url);
        req->hash = NULL;
        req->url = NULL;
        return r;
}

int oci_registry_fetch_blob(OciRegistry *reg, const char *digest, uint64_t size, int fd,
                            OciProgress progress, void *userdata) {
        Request req = {.reg = reg, .fd = fd, .progress = progress, .userdata = userdata};
        int r;

        if (fd < 0 || size == 0)
                return -EINVAL;
        r = registry_blob(reg, digest, size, &req);
        request_done(&req);
        return r;
}

int oci_registry_get_blob(OciRegistry *reg, const char *digest, uint64_t size, size_t max, char **ret,
                          size_t *ret_size) {
        Request req = {.reg = reg, .fd = -EBADF, .max = max};
        int r;

        if (size == 0 || size > max)
                return -EINVAL;
        r = registry_blob(reg, digest, size, &req);
        if (r >= 0) {
                *ret = TAKE_PTR(req.buf);
                *ret_size = req.n;
        }
        request_done(&req);
        return r;
}
