/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "dlopen-curl.h"

DEFINE_DLOPEN_LIBRARY(dlopen_curl, "libcurl.so.4", DLOPEN_CURL_SYMBOLS)
