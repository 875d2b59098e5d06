/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for the libraries loaded on first use (dlopen-util.c and its modules): no program links them
 * (readelf -d of the built programs, named in $COCOON_PROGRAMS), each loader resolves its whole table, and
 * a missing library or symbol is -EOPNOTSUPP with no half-filled table, logged as an error unless the
 * library is optional (isa-l). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "dlopen-archive.h"
#include "dlopen-curl.h"
#include "dlopen-ext2fs.h"
#include "dlopen-gcrypt.h"
#include "dlopen-isal.h"
#include "dlopen-nl.h"
#include "dlopen-util.h"
#include "macro.h"

/* What every process would pay for at exec, with the dozens of libraries they pull (libcurl alone: gnutls,
 * krb5, ldap, ssh2, ...). libgcrypt is not here: libsystemd needs it. */
static const char *const lazy_prefixes[] = {
        "libcurl", "libarchive", "libnl-", "libext2fs", "libcom_err", "libcrypto", "libssl", "libisal",
};

static bool has_prefix(const char *s, const char *prefix) {
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void test_programs_need_none(void **state) {
        const char *programs = getenv("COCOON_PROGRAMS");
        if (!programs)
                skip();
        _cleanup_free_ char *list = strdup(programs);
        assert_non_null(list);

        unsigned n_programs = 0;
        for (char *p = strtok(list, ":"); p; p = strtok(NULL, ":"), n_programs++) {
                _cleanup_free_ char *cmd = NULL;
                char line[512];
                unsigned n_needed = 0;
                bool has_libc = false;

                assert_true(asprintf(&cmd, "readelf -d -W '%s'", p) > 0);
                FILE *f = popen(cmd, "r");
                assert_non_null(f);
                while (fgets(line, sizeof(line), f)) {
                        /*  0x0000000000000001 (NEEDED)             Shared library: [libc.so.6] */
                        if (!strstr(line, "(NEEDED)"))
                                continue;
                        char *lib = strchr(line, '[');
                        assert_non_null(lib);
                        lib++;
                        n_needed++;
                        has_libc = has_libc || has_prefix(lib, "libc.so.");
                        for (size_t i = 0; i < ELEMENTSOF(lazy_prefixes); i++)
                                if (has_prefix(lib, lazy_prefixes[i]))
                                        fail_msg("%s needs %.*s: load it with dlopen (dlopen-util.h)", p,
                                                 (int) strcspn(lib, "]"), lib);
                }
                assert_int_equal(pclose(f), 0);
                /* The parse works: every program needs libc. */
                assert_true(n_needed > 0);
                assert_true(has_libc);
        }
        assert_int_equal(n_programs, 5);
}

static void test_loaders(void **state) {
        assert_int_equal(dlopen_curl(), 0);
        assert_int_equal(dlopen_archive(), 0);
        assert_int_equal(dlopen_ext2fs(), 0);
        assert_int_equal(dlopen_nl(), 0);
        assert_int_equal(dlopen_gcrypt(), 0);
        assert_int_equal(dlopen_isal(), 0);
        /* Once loaded, again is the same answer. */
        assert_int_equal(dlopen_curl(), 0);

#define ASSERT_LOADED(s) assert_non_null(sym_##s);
        DLOPEN_CURL_SYMBOLS(ASSERT_LOADED)
        DLOPEN_ARCHIVE_SYMBOLS(ASSERT_LOADED)
        DLOPEN_EXT2FS_SYMBOLS(ASSERT_LOADED)
        DLOPEN_NL_SYMBOLS(ASSERT_LOADED)
        DLOPEN_NL_ROUTE_SYMBOLS(ASSERT_LOADED)
        DLOPEN_GCRYPT_SYMBOLS(ASSERT_LOADED)
        DLOPEN_ISAL_SYMBOLS(ASSERT_LOADED)
#undef ASSERT_LOADED

        /* And they work, through the pointers (curl_easy_setopt's variadic long included). */
        CURL *c = sym_curl_easy_init();
        assert_non_null(c);
        assert_int_equal(sym_curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L), CURLE_OK);
        sym_curl_easy_cleanup(c);
        struct archive *a = sym_archive_write_new();
        assert_non_null(a);
        assert_int_equal(sym_archive_write_set_format_pax(a), ARCHIVE_OK);
        assert_int_equal(sym_archive_write_free(a), ARCHIVE_OK);
        struct rtnl_link *l = sym_rtnl_link_alloc();
        assert_non_null(l);
        sym_rtnl_link_set_mtu(l, 1400);
        assert_int_equal(sym_rtnl_link_get_mtu(l), 1400);
        sym_rtnl_link_put(l);
        assert_non_null(*sym_unixfd_io_manager);
        unsigned char md[32];
        sym_gcry_md_hash_buffer(GCRY_MD_SHA256, md, "", 0);
        assert_int_equal(md[0], 0xe3); /* SHA-256 of nothing: e3b0c442... */
        _cleanup_free_ struct inflate_state *st = calloc(1, sizeof(*st));
        assert_non_null(st);
        st->block_state = ISAL_BLOCK_FINISH;
        sym_isal_inflate_init(st);
        assert_int_equal(st->block_state, ISAL_BLOCK_NEW_HDR);
}

static void test_missing_library(void **state) {
        void *slot = NULL;
        const DlopenSymbol table[] = { { "archive_read_new", &slot } };

        assert_int_equal(dlopen_symbols("libcocoon-no-such-library.so.0", table, ELEMENTSOF(table)),
                         -EOPNOTSUPP);
        assert_null(slot);
}

static void test_missing_symbol(void **state) {
        void *first = NULL, *second = NULL;
        const DlopenSymbol table[] = {
                { "archive_read_new", &first },
                { "archive_no_such_function", &second },
        };

        assert_int_equal(dlopen_symbols("libarchive.so.13", table, ELEMENTSOF(table)), -EOPNOTSUPP);
        /* All or nothing: the symbol that was found is not left behind for a caller to trust. */
        assert_null(first);
        assert_null(second);
}

/* What loading a missing library writes to stderr (the log's target here). */
static size_t missing_library_log(bool optional) {
        void *slot = NULL;
        const DlopenSymbol table[] = { { "isal_inflate", &slot } };
        int fd = memfd_create("log", MFD_CLOEXEC), saved = dup(STDERR_FILENO);

        assert_true(fd >= 0 && saved >= 0);
        assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
        assert_int_equal(dlopen_symbols_full("libcocoon-no-such-library.so.0", table, ELEMENTSOF(table),
                                             optional),
                         -EOPNOTSUPP);
        assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
        close(saved);
        off_t size = lseek(fd, 0, SEEK_END);
        close(fd);
        assert_null(slot);
        return (size_t) size;
}

static void test_optional_library(void **state) {
        /* A required library's absence is an error for the journal; an optional one's is not (debug). */
        assert_true(missing_library_log(false) > 0);
        assert_int_equal(missing_library_log(true), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_programs_need_none),
                cmocka_unit_test(test_loaders),
                cmocka_unit_test(test_missing_library),
                cmocka_unit_test(test_missing_symbol),
                cmocka_unit_test(test_optional_library),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
