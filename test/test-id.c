/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for id: alphabet, length, uniqueness, validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "id.h"
#include "macro.h"

#define N_IDS 1000

static void test_generate_format(void **state) {
        char id[ID_LENGTH + 1];

        assert_int_equal(id_generate(id), 0);
        assert_int_equal(strlen(id), ID_LENGTH);
        for (size_t i = 0; i < ID_LENGTH; i++)
                assert_true((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= '2' && id[i] <= '7'));
        assert_true(id_is_valid(id));
}

static int cmp_ids(const void *a, const void *b) {
        return strcmp(a, b);
}

static void test_generate_unique_and_spread(void **state) {
        static char ids[N_IDS][ID_LENGTH + 1];
        bool seen[256] = {};
        size_t distinct = 0;

        for (size_t i = 0; i < N_IDS; i++) {
                assert_int_equal(id_generate(ids[i]), 0);
                for (size_t j = 0; j < ID_LENGTH; j++)
                        seen[(unsigned char) ids[i][j]] = true;
        }
        qsort(ids, N_IDS, sizeof(ids[0]), cmp_ids);
        for (size_t i = 1; i < N_IDS; i++)
                assert_string_not_equal(ids[i - 1], ids[i]);

        /* 26,000 random characters: every one of the 32 shows up (missing one has odds below 1e-300). */
        for (size_t c = 0; c < 256; c++)
                distinct += seen[c];
        assert_int_equal(distinct, 32);
}

static void test_is_valid(void **state) {
        assert_true(id_is_valid("abcdefghijklmnopqrstuvwxyz"));
        assert_true(id_is_valid("234567abcdefghijklmnopqrst"));
        assert_false(id_is_valid(NULL));
        assert_false(id_is_valid(""));
        assert_false(id_is_valid("abcdefghijklmnopqrstuvwxy")); /* 25 */
        assert_false(id_is_valid("abcdefghijklmnopqrstuvwxyza")); /* 27 */
        assert_false(id_is_valid("Abcdefghijklmnopqrstuvwxyz")); /* uppercase */
        assert_false(id_is_valid("0bcdefghijklmnopqrstuvwxyz"));
        assert_false(id_is_valid("1bcdefghijklmnopqrstuvwxyz"));
        assert_false(id_is_valid("8bcdefghijklmnopqrstuvwxyz"));
        assert_false(id_is_valid("abcdefghijklm-opqrstuvwxyz"));
        assert_false(id_char_is_valid('9'));
        assert_true(id_char_is_valid('7'));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_generate_format),
                cmocka_unit_test(test_generate_unique_and_spread),
                cmocka_unit_test(test_is_valid),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
