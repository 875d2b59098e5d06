/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Optional libraries loaded on first use (dlopen), as systemd does: merely linking libcurl, libarchive,
 * libnl or libext2fs costs every process that links them resident memory (their relocations and data,
 * and those of the dozens of libraries they pull) and exec time, although most processes never call
 * them (cocoon-vm-stop runs twice per VM stop). Each library has one module (dlopen-curl.h, ...) listing
 * the symbols used in an X-macro; call sites call sym_<name>() after that module's dlopen_<lib>(). */
#pragma once

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

typedef struct DlopenSymbol {
        const char *name;
        void **slot;
} DlopenSymbol;

/* Loads soname (RTLD_NOW, never unloaded: the libraries keep global state and atexit handlers) and
 * resolves every symbol of the table, all or nothing. -EOPNOTSUPP, logged once with dlerror()'s reason,
 * when the library or one symbol is missing: at error level, or at debug level only when the library is
 * optional (its callers do without it, as the layer unpacker does without isa-l). Not thread-safe by
 * itself: each module calls it under its pthread_once. */
int dlopen_symbols_full(const char *soname, const DlopenSymbol *table, size_t n, bool optional);
static inline int dlopen_symbols(const char *soname, const DlopenSymbol *table, size_t n) {
        return dlopen_symbols_full(soname, table, n, false);
}

/* For the X-macro lists: sym_<name> has the exact type of <name> as its header declares it. A
 * function-like macro of the same name (curl_easy_setopt's type checks) is not expanded here, as no
 * parenthesis follows the name. */
#define DLOPEN_SYM_DECLARE(s) extern typeof(s) *sym_##s;
#define DLOPEN_SYM_DEFINE(s) typeof(s) *sym_##s = NULL;
#define DLOPEN_SYM_ENTRY(s) { #s, (void **) &sym_##s },

/* The body of one module: the sym_ pointers, their table, and int func(void) that loads them once
 * (pthread_once: the first callers may be several worker threads at once) and returns 0 or -EOPNOTSUPP.
 * optional as for dlopen_symbols_full(). */
#define DEFINE_DLOPEN_LIBRARY_FULL(func, soname, LIST, optional)                                        \
        LIST(DLOPEN_SYM_DEFINE)                                                                         \
        static const DlopenSymbol func##_table[] = { LIST(DLOPEN_SYM_ENTRY) };                          \
        static pthread_once_t func##_once = PTHREAD_ONCE_INIT;                                          \
        static int func##_result = -EOPNOTSUPP;                                                         \
        static void func##_load(void) {                                                                 \
                func##_result = dlopen_symbols_full(soname, func##_table, ELEMENTSOF(func##_table),     \
                                                    optional);                                          \
        }                                                                                               \
        int func(void) {                                                                                \
                (void) pthread_once(&func##_once, func##_load);                                         \
                return func##_result;                                                                   \
        }
#define DEFINE_DLOPEN_LIBRARY(func, soname, LIST) DEFINE_DLOPEN_LIBRARY_FULL(func, soname, LIST, false)
