/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dlfcn.h>
#include <errno.h>

#include "dlopen-util.h"
#include "log.h"

int dlopen_symbols(const char *soname, const DlopenSymbol *table, size_t n) {
        /* RTLD_NODELETE: never unloaded, so the sym_ pointers stay valid for the life of the process. */
        void *dl = dlopen(soname, RTLD_NOW | RTLD_NODELETE);
        if (!dl) {
                log_error("%s cannot be loaded (%s): the operations that need it fail with EOPNOTSUPP",
                          soname, dlerror());
                return -EOPNOTSUPP;
        }
        for (size_t i = 0; i < n; i++) {
                *table[i].slot = dlsym(dl, table[i].name);
                if (*table[i].slot)
                        continue;
                log_error("%s has no symbol %s: the operations that need it fail with EOPNOTSUPP", soname,
                          table[i].name);
                for (size_t j = 0; j < i; j++)
                        *table[j].slot = NULL;
                (void) dlclose(dl);
                return -EOPNOTSUPP;
        }
        return 0;
}
