/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for the worker pool: per-item results in order, isolated failures, bounded parallelism. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "macro.h"
#include "pool.h"

#define N_ITEMS 40

typedef struct Counters {
        unsigned running;      /* items inside fn right now */
        unsigned max_running;  /* the most seen at once */
        unsigned calls[N_ITEMS];
} Counters;

static void note_max(Counters *c, unsigned now) {
        unsigned seen = __atomic_load_n(&c->max_running, __ATOMIC_SEQ_CST);

        while (now > seen &&
               !__atomic_compare_exchange_n(&c->max_running, &seen, now, false, __ATOMIC_SEQ_CST,
                                            __ATOMIC_SEQ_CST))
                ;
}

/* Fails items divisible by 3 with -(index + 1) so each failure is recognizable; stays inside fn a little so
 * that concurrent items overlap. */
static int item(size_t i, void *userdata) {
        Counters *c = userdata;
        unsigned now = __atomic_add_fetch(&c->running, 1, __ATOMIC_SEQ_CST);

        note_max(c, now);
        __atomic_add_fetch(&c->calls[i], 1, __ATOMIC_SEQ_CST);
        nanosleep(&(struct timespec) { .tv_nsec = 2 * 1000 * 1000 }, NULL);
        __atomic_sub_fetch(&c->running, 1, __ATOMIC_SEQ_CST);

        return i % 3 == 0 ? -(int) (i + 1) : (int) i;
}

static void run_and_check(unsigned max_parallel, unsigned expected_bound) {
        Counters c = {};
        int results[N_ITEMS];

        /* Item 0 fails with -1: the first failure in input order is the return value. */
        assert_int_equal(pool_run(N_ITEMS, max_parallel, item, &c, results), -1);

        for (size_t i = 0; i < N_ITEMS; i++) {
                /* Every item ran exactly once, failures did not stop the others, results are in order. */
                assert_int_equal(c.calls[i], 1);
                assert_int_equal(results[i], i % 3 == 0 ? -(int) (i + 1) : (int) i);
        }
        assert_int_equal(c.running, 0);
        assert_true(c.max_running >= 1);
        assert_true(c.max_running <= expected_bound);
}

static void test_bounded(void **state) {
        run_and_check(1, 1);
        run_and_check(3, 3);
        run_and_check(8, 8);
}

static int rendezvous(size_t i, void *userdata) {
        unsigned *arrived = userdata;

        __atomic_add_fetch(arrived, 1, __ATOMIC_SEQ_CST);
        for (unsigned spins = 0; spins < 10000; spins++) {
                if (__atomic_load_n(arrived, __ATOMIC_SEQ_CST) >= 4)
                        return 0;
                nanosleep(&(struct timespec) { .tv_nsec = 1000 * 1000 }, NULL);
        }
        return -ETIMEDOUT;
}

static void test_rendezvous(void **state) {
        unsigned arrived = 0;
        int results[4];

        /* Four items that can only finish together prove that four run concurrently. */
        assert_int_equal(pool_run(4, 4, rendezvous, &arrived, results), 0);
        for (size_t i = 0; i < 4; i++)
                assert_int_equal(results[i], 0);
}

static int succeed(size_t i, void *userdata) {
        return 0;
}

static void test_edges(void **state) {
        int results[2] = { 7, 7 };

        assert_int_equal(pool_run(0, 4, succeed, NULL, NULL), 0);
        assert_int_equal(pool_run(2, 0, succeed, NULL, results), 0); /* 0: one per CPU */
        assert_int_equal(results[0], 0);
        assert_int_equal(results[1], 0);
        assert_int_equal(pool_run(2, 4, NULL, NULL, NULL), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_bounded),
                cmocka_unit_test(test_rendezvous),
                cmocka_unit_test(test_edges),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
