/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for SHA-256 through the dlopen()ed libgcrypt: FIPS 180-2 vectors, streaming equals one-shot. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sha256-util.h"

static void test_vectors(void **state) {
        char hex[SHA256_HEX_LEN + 1];

        assert_int_equal(sha256_hex("abc", 3, hex), 0);
        assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_int_equal(sha256_hex("", 0, hex), 0);
        assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_streaming(void **state) {
        static const char text[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
        _cleanup_(sha256_freep) Sha256 *h = NULL;
        char one[SHA256_HEX_LEN + 1], pieces[SHA256_HEX_LEN + 1];

        assert_int_equal(sha256_hex(text, strlen(text), one), 0);
        assert_string_equal(one, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
        assert_int_equal(sha256_new(&h), 0);
        for (size_t i = 0; i < strlen(text); i += 5)
                assert_int_equal(sha256_update(h, text + i, strlen(text) - i < 5 ? strlen(text) - i : 5), 0);
        assert_int_equal(sha256_final_hex(h, pieces), 0);
        assert_string_equal(pieces, one);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_vectors),
                cmocka_unit_test(test_streaming),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
