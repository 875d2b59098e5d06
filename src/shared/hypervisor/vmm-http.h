/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* HTTP/1.1 with JSON bodies over a VMM's unix API socket (Cloud Hypervisor, Firecracker), with libcurl.
 * Blocking: worker threads only. */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "macro.h"

typedef enum VmmHttpMethod {
        VMM_HTTP_GET,
        VMM_HTTP_PUT,
        VMM_HTTP_PATCH,
        _VMM_HTTP_METHOD_MAX,
} VmmHttpMethod;

const char *vmm_http_method_to_string(VmmHttpMethod m);

/* How often an idempotent call is tried at most, and the first pause between tries (doubled each time). */
#define VMM_HTTP_MAX_ATTEMPTS 5U
#define VMM_HTTP_RETRY_DELAY_USEC (50U * 1000U)
/* A reply body larger than this is refused (-EMSGSIZE): no VMM answer is anywhere near it. */
#define VMM_HTTP_BODY_MAX (4U * 1024U * 1024U)

typedef struct VmmHttpRequest {
        const char *socket_path; /* the VMM's API socket */
        VmmHttpMethod method;
        const char *path;        /* absolute, e.g. "/api/v1/vm.info" */
        json_object *body;       /* sent as application/json; NULL: no body */
        /* A PUT/PATCH that may be sent twice without harm (vm.pause, vm.shutdown, …). Only then, and for
         * every GET, a failed try is repeated: on a connection error, a 5xx or a 429. Never mark calls
         * that create or change state once (vm.boot, vm.add-net, vm.snapshot, vm.restore, InstanceStart,
         * /snapshot/create, /snapshot/load): a reply lost after the VMM acted would apply them twice. */
        bool idempotent;
        uint64_t timeout_usec;   /* for the whole call, every try included; 0: no limit */
} VmmHttpRequest;

typedef struct VmmHttpResponse {
        long status;       /* the HTTP status of the last try */
        char *text;        /* the body as received ("" when empty), NUL-terminated */
        json_object *json; /* the body parsed, when it is JSON; else NULL */
        unsigned attempts; /* how many tries were made */
} VmmHttpResponse;

void vmm_http_response_done(VmmHttpResponse *r);

/* Performs the call (retrying as described above). Returns 0 when an answer came, whatever its status
 * (the caller looks at ret->status), or -errno when none did: -ENOENT/-ECONNREFUSED (no socket, nobody
 * listening), -ETIMEDOUT, -EMSGSIZE (reply too large), -EPROTO (not HTTP), -EIO (connection lost). ret
 * is filled on success only. */
int vmm_http_call(const VmmHttpRequest *req, VmmHttpResponse *ret);

/* vmm_http_call() that also requires a 2xx status. Another status is -EIO; ret_error (optional) then
 * gets "HTTP <status>: <the VMM's error body>", and on a transport failure what failed. ret_json
 * (optional) gets the parsed reply (NULL when there is none). */
int vmm_http_call_ok(const VmmHttpRequest *req, json_object **ret_json, char **ret_error);
