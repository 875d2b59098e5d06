/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for hashmap: SipHash reference vectors, semantics, 10k inserts and removals in mixed order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "hashmap.h"
#include "macro.h"

#define N_KEYS 10000

static void test_siphash_vectors(void **state) {
        uint8_t key[16], msg[64];

        for (unsigned i = 0; i < 16; i++)
                key[i] = (uint8_t) i;
        for (unsigned i = 0; i < 64; i++)
                msg[i] = (uint8_t) i;

        /* From the SipHash paper (Aumasson, Bernstein): key 00..0f, messages 00..(n-1). */
        assert_true(siphash24(msg, 0, key) == UINT64_C(0x726fdb47dd0e0e31));
        assert_true(siphash24(msg, 15, key) == UINT64_C(0xa129ca6149be45e5));
        /* Different lengths give different hashes: the length is part of the last block. */
        assert_true(siphash24(msg, 8, key) != siphash24(msg, 7, key));
}

static void test_basics(void **state) {
        _cleanup_(hashmap_freep) Hashmap *h = NULL;
        char a[] = "alpha", b[] = "beta", a2[] = "alpha";
        int va = 1, vb = 2, vc = 3;
        const char *key;

        assert_int_equal(hashmap_new(&h), 0);
        assert_int_equal(hashmap_size(h), 0);
        assert_null(hashmap_get(h, "alpha"));

        assert_int_equal(hashmap_put(h, a, &va), 0);
        assert_int_equal(hashmap_put(h, b, &vb), 0);
        assert_int_equal(hashmap_put(h, a2, &vc), -EEXIST); /* equal string, not equal pointer */
        assert_ptr_equal(hashmap_get(h, "alpha"), &va);
        assert_int_equal(hashmap_put(h, a, NULL), -EINVAL);
        assert_int_equal(hashmap_size(h), 2);

        /* Replace updates the value and the stored key pointer. */
        assert_int_equal(hashmap_replace(h, a2, &vc), 0);
        assert_ptr_equal(hashmap_get2(h, "alpha", &key), &vc);
        assert_ptr_equal(key, a2);
        assert_int_equal(hashmap_size(h), 2);

        assert_true(hashmap_contains(h, "beta"));
        assert_ptr_equal(hashmap_remove(h, "beta"), &vb);
        assert_false(hashmap_contains(h, "beta"));
        assert_null(hashmap_remove(h, "beta"));
        assert_int_equal(hashmap_size(h), 1);

        /* The empty string is a key like any other. */
        assert_int_equal(hashmap_put(h, "", &va), 0);
        assert_ptr_equal(hashmap_get(h, ""), &va);

        assert_null(hashmap_get(NULL, "x"));
        assert_int_equal(hashmap_size(NULL), 0);
}

/* A fixed-seed generator: the order is scrambled, the test reproducible. */
static uint32_t next_random(uint32_t *s) {
        *s = *s * 1103515245u + 12345u;
        return *s >> 8;
}

static void check_members(const Hashmap *h, char keys[][16], const bool *present) {
        size_t n = 0;

        for (size_t i = 0; i < N_KEYS; i++) {
                void *v = hashmap_get(h, keys[i]);
                if (present[i]) {
                        assert_ptr_equal(v, keys[i]);
                        n++;
                } else
                        assert_null(v);
        }
        assert_int_equal(hashmap_size(h), n);

        /* Iteration visits each member exactly once. */
        size_t state = 0, visited = 0;
        const char *key;
        void *value;
        while (hashmap_iterate(h, &state, &key, &value)) {
                assert_ptr_equal(key, value);
                size_t i = (size_t) ((char(*)[16]) value - keys);
                assert_true(i < N_KEYS && present[i]);
                visited++;
        }
        assert_int_equal(visited, n);
}

static void test_many(void **state) {
        _cleanup_(hashmap_freep) Hashmap *h = NULL;
        static char keys[N_KEYS][16];
        static bool present[N_KEYS];
        size_t order[N_KEYS];
        uint32_t seed = 42;

        assert_int_equal(hashmap_new(&h), 0);
        for (size_t i = 0; i < N_KEYS; i++) {
                snprintf(keys[i], sizeof(keys[i]), "vm-%zu", i);
                order[i] = i;
        }
        for (size_t i = N_KEYS - 1; i > 0; i--) {
                size_t j = next_random(&seed) % (i + 1), t = order[i];
                order[i] = order[j];
                order[j] = t;
        }

        for (size_t i = 0; i < N_KEYS; i++) {
                assert_int_equal(hashmap_put(h, keys[order[i]], keys[order[i]]), 0);
                present[order[i]] = true;
        }
        check_members(h, keys, present);

        /* Remove a random half in random order: backward-shift deletion must keep every probe run intact. */
        for (size_t i = 0; i < N_KEYS; i += 2) {
                assert_ptr_equal(hashmap_remove(h, keys[order[i]]), keys[order[i]]);
                present[order[i]] = false;
        }
        check_members(h, keys, present);

        /* Put them back, then remove everything (the map shrinks on the way). */
        for (size_t i = 0; i < N_KEYS; i += 2) {
                assert_int_equal(hashmap_put(h, keys[order[i]], keys[order[i]]), 0);
                present[order[i]] = true;
        }
        check_members(h, keys, present);
        for (size_t i = 0; i < N_KEYS; i++) {
                assert_ptr_equal(hashmap_remove(h, keys[i]), keys[i]);
                present[i] = false;
                if (i % 1000 == 0)
                        check_members(h, keys, present);
        }
        assert_int_equal(hashmap_size(h), 0);

        /* Reserved room takes the inserts. */
        assert_int_equal(hashmap_reserve(h, N_KEYS), 0);
        for (size_t i = 0; i < N_KEYS; i++)
                assert_int_equal(hashmap_put(h, keys[i], keys[i]), 0);
        assert_int_equal(hashmap_size(h), N_KEYS);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_siphash_vectors),
                cmocka_unit_test(test_basics),
                cmocka_unit_test(test_many),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
