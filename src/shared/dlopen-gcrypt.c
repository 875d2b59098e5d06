/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "dlopen-gcrypt.h"

static int dlopen_gcrypt_symbols(void);
DEFINE_DLOPEN_LIBRARY(dlopen_gcrypt_symbols, "libgcrypt.so.20", DLOPEN_GCRYPT_SYMBOLS)

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_result = -EOPNOTSUPP;

static void init(void) {
        int r = dlopen_gcrypt_symbols();
        if (r < 0) {
                init_result = r;
                return;
        }
        /* libgcrypt wants gcry_check_version() before anything else, once per process; libsystemd may
         * have done it already. Only hashes here: no secure memory. */
        if (!sym_gcry_control(GCRYCTL_INITIALIZATION_FINISHED_P)) {
                if (!sym_gcry_check_version(NULL))
                        return;
                (void) sym_gcry_control(GCRYCTL_DISABLE_SECMEM, 0);
                (void) sym_gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0);
        }
        init_result = 0;
}

int dlopen_gcrypt(void) {
        (void) pthread_once(&init_once, init);
        return init_result;
}
