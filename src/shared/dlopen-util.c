/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dlfcn.h>
#include <errno.h>

#include "dlopen-util.h"
#include "log.h"

int dlopen_symbols_full(const char *soname, const DlopenSymbol *table, size_t n, bool optional) {
        /* An optional library's absence is no fault: its callers take their other way, so it is no
         * error for the journal. */
        int level = optional ? LOG_DEBUG : LOG_ERR;
        const char *consequence =
                optional ? "going on without it" : "the operations that need it fail with EOPNOTSUPP";

        /* RTLD_NODELETE: never unloaded, so the sym_ pointers stay valid for the life of the process. */
        void *dl = dlopen(soname, RTLD_NOW | RTLD_NODELETE);
        if (!dl) {
                log_full_errno(level, 0, "%s cannot be loaded (%s): %s", soname, dlerror(), consequence);
                return -EOPNOTSUPP;
        }
        for (size_t i = 0; i < n; i++) {
                *table[i].slot = dlsym(dl, table[i].name);
                if (*table[i].slot)
                        continue;
                log_full_errno(level, 0, "%s has no symbol %s: %s", soname, table[i].name, consequence);
                for (size_t j = 0; j < i; j++)
                        *table[j].slot = NULL;
                (void) dlclose(dl);
                return -EOPNOTSUPP;
        }
        return 0;
}
