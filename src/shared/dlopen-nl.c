/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "dlopen-nl.h"

/* libnl-route-3 needs libnl-3 (its DT_NEEDED); each library resolves its own symbols. */
static int dlopen_nl_core(void);
static int dlopen_nl_route(void);
DEFINE_DLOPEN_LIBRARY(dlopen_nl_core, "libnl-3.so.200", DLOPEN_NL_SYMBOLS)
DEFINE_DLOPEN_LIBRARY(dlopen_nl_route, "libnl-route-3.so.200", DLOPEN_NL_ROUTE_SYMBOLS)

int dlopen_nl(void) {
        int r = dlopen_nl_core();
        if (r < 0)
                return r;
        return dlopen_nl_route();
}
