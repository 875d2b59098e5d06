/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for the manager's job queue: results come back on the loop, jobs in flight, the drained callback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "../src/cocoon-manager/job-queue.h"

#define N_JOBS 8

typedef struct Fixture {
        sd_event *event;
        JobQueue *queue;
        unsigned done_calls, drained_calls;
        unsigned in_flight_at_drained;
        int results[N_JOBS];
        bool chain; /* the first done() submits one more job */
} Fixture;

typedef struct Item {
        Fixture *f;
        unsigned index;
} Item;

static int work_square(void *userdata) {
        Item *it = userdata;
        return (int) (it->index * it->index);
}

static void on_done(int result, void *userdata);

static void submit(Fixture *f, unsigned index) {
        Item *it = calloc(1, sizeof(Item));
        assert_non_null(it);
        *it = (Item){.f = f, .index = index};
        assert_int_equal(job_submit(f->queue, work_square, on_done, it), 0);
}

static void on_done(int result, void *userdata) {
        Item *it = userdata;
        Fixture *f = it->f;

        f->results[it->index] = result;
        f->done_calls++;
        if (f->chain) {
                f->chain = false;
                submit(f, N_JOBS - 1);
        }
        free(it);
}

static void on_drained(void *userdata) {
        Fixture *f = userdata;
        f->drained_calls++;
        f->in_flight_at_drained = job_queue_in_flight(f->queue);
        (void) sd_event_exit(f->event, 0);
}

/* Only a guard against a hang: a missing drained call fails the test instead of meson's timeout. */
static int on_guard(sd_event_source *source, uint64_t usec, void *userdata) {
        return sd_event_exit(sd_event_source_get_event(source), -ETIMEDOUT);
}

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(Fixture));
        assert_non_null(f);
        assert_int_equal(sd_event_new(&f->event), 0);
        assert_int_equal(job_queue_new(f->event, 2, &f->queue), 0);
        job_queue_set_drained(f->queue, on_drained, f);
        assert_int_equal(sd_event_add_time_relative(f->event, NULL, CLOCK_MONOTONIC, 20 * 1000000ULL, 0,
                                                    on_guard, NULL),
                         0);
        for (unsigned i = 0; i < N_JOBS; i++)
                f->results[i] = -1;
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        job_queue_free(f->queue);
        sd_event_unref(f->event);
        free(f);
        return 0;
}

static void test_results_and_drained(void **state) {
        Fixture *f = *state;

        for (unsigned i = 0; i < N_JOBS - 1; i++)
                submit(f, i);
        assert_int_equal(job_queue_in_flight(f->queue), N_JOBS - 1);

        /* on_drained() ends the loop: it must come, and only once every job is done. */
        assert_int_equal(sd_event_loop(f->event), 0);
        assert_int_equal(f->done_calls, N_JOBS - 1);
        assert_int_equal(f->drained_calls, 1);
        assert_int_equal(f->in_flight_at_drained, 0);
        for (unsigned i = 0; i < N_JOBS - 1; i++)
                assert_int_equal(f->results[i], (int) (i * i));
}

/* A done() that submits more work keeps jobs in flight: no drained call until that one is done too. */
static void test_chained_job_delays_drained(void **state) {
        Fixture *f = *state;

        f->chain = true;
        submit(f, 3);
        assert_int_equal(sd_event_loop(f->event), 0);
        assert_int_equal(f->done_calls, 2);
        assert_int_equal(f->drained_calls, 1);
        assert_int_equal(f->in_flight_at_drained, 0);
        assert_int_equal(f->results[3], 9);
        assert_int_equal(f->results[N_JOBS - 1], (N_JOBS - 1) * (N_JOBS - 1));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_results_and_drained, setup, teardown),
                cmocka_unit_test_setup_teardown(test_chained_job_delays_drained, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
