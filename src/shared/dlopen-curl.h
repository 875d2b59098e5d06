/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libcurl, loaded on first use (see dlopen-util.h): registry pulls and the HTTP APIs of Cloud Hypervisor and
 * Firecracker. curl_easy_setopt() and curl_easy_getinfo() lose the type checks of <curl/typecheck-gcc.h>
 * through the pointers: pass long, curl_off_t, pointers and callbacks exactly as their options say. */
#pragma once

#include <curl/curl.h>

#include "dlopen-util.h"

#define DLOPEN_CURL_SYMBOLS(X) \
        X(curl_global_init)    \
        X(curl_easy_init)      \
        X(curl_easy_reset)     \
        X(curl_easy_cleanup)   \
        X(curl_easy_setopt)    \
        X(curl_easy_getinfo)   \
        X(curl_easy_perform)   \
        X(curl_easy_strerror)  \
        X(curl_easy_escape)    \
        X(curl_free)           \
        X(curl_slist_append)   \
        X(curl_slist_free_all)

DLOPEN_CURL_SYMBOLS(DLOPEN_SYM_DECLARE)

/* 0, or -EOPNOTSUPP when libcurl.so.4 cannot be loaded. Thread-safe; loads once. */
int dlopen_curl(void);
