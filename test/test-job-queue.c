/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for the manager's job queue: results come back on the loop, jobs in flight, the drained callback. */
#include <poll.h>
#include <pthread.h>
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

/* A burst of jobs runs at once, one thread each (up to the cap): every job waits until all of them are
 * running. Run one after another, the first would give up waiting and fail. */
#define N_BURST 4
#define BURST_WAIT_SEC 10

typedef struct Burst {
        pthread_mutex_t lock;
        pthread_cond_t changed;
        unsigned running;
        unsigned done_ok, done_calls;
        sd_event *event;
} Burst;

static int work_rendezvous(void *userdata) {
        Burst *b = userdata;
        struct timespec deadline;
        int r = 0;

        assert_int_equal(clock_gettime(CLOCK_REALTIME, &deadline), 0);
        deadline.tv_sec += BURST_WAIT_SEC;
        pthread_mutex_lock(&b->lock);
        b->running++;
        pthread_cond_broadcast(&b->changed);
        while (b->running < N_BURST && r == 0)
                r = pthread_cond_timedwait(&b->changed, &b->lock, &deadline);
        bool all = b->running >= N_BURST;
        pthread_mutex_unlock(&b->lock);
        return all ? 0 : -ETIMEDOUT;
}

static void on_rendezvous_done(int result, void *userdata) {
        Burst *b = userdata;
        b->done_calls++;
        if (result == 0)
                b->done_ok++;
}

static int work_nothing(void *userdata) {
        return 0;
}

static void on_counted(int result, void *userdata) {
        unsigned *counter = userdata;
        (*counter)++;
}

static void test_burst_runs_in_parallel(void **state) {
        Burst b = { .lock = PTHREAD_MUTEX_INITIALIZER, .changed = PTHREAD_COND_INITIALIZER };
        JobQueue *q = NULL;

        assert_int_equal(sd_event_new(&b.event), 0);
        assert_int_equal(job_queue_new(b.event, N_BURST, &q), 0);
        /* One job first: its thread is idle when the burst comes, which is where the burst used to go
         * serial (the one idle thread seemed enough for every job). */
        unsigned warmup = 0;
        assert_int_equal(job_submit(q, work_nothing, on_counted, &warmup), 0);
        while (warmup == 0)
                assert_true(sd_event_run(b.event, UINT64_MAX) >= 0);

        for (unsigned i = 0; i < N_BURST; i++)
                assert_int_equal(job_submit(q, work_rendezvous, on_rendezvous_done, &b), 0);
        /* Bounded: a job gives up after BURST_WAIT_SEC, so this ends either way. */
        while (b.done_calls < N_BURST)
                assert_true(sd_event_run(b.event, UINT64_MAX) >= 0);
        assert_int_equal(b.done_ok, N_BURST);
        job_queue_free(q);
        sd_event_unref(b.event);
}

/* Shutdown: the running job is told to stop waiting and finishes with its own result, the jobs that never
 * started are answered with -ECANCELED on the loop, and nothing new is accepted, not even from a done(). */
typedef struct Shutdown {
        JobQueue *queue;
        int results[3];
        unsigned done_calls, drained_calls;
        int resubmit; /* what job_submit() said inside a done() */
        bool started;
        pthread_mutex_t lock;
        pthread_cond_t changed;
} Shutdown;

typedef struct ShutdownItem {
        Shutdown *s;
        unsigned index;
} ShutdownItem;

/* Waits for the cancel fd, as a stop waiting for a guest does. */
static int work_wait_cancel(void *userdata) {
        ShutdownItem *it = userdata;
        pthread_mutex_lock(&it->s->lock);
        it->s->started = true;
        pthread_cond_broadcast(&it->s->changed);
        pthread_mutex_unlock(&it->s->lock);

        struct pollfd p = { .fd = job_queue_cancel_fd(it->s->queue), .events = POLLIN };
        return poll(&p, 1, 20 * 1000) == 1 ? 42 : -ETIMEDOUT;
}

static void on_shutdown_done(int result, void *userdata) {
        ShutdownItem *it = userdata;
        Shutdown *s = it->s;
        s->results[it->index] = result;
        s->done_calls++;
        s->resubmit = job_submit(s->queue, work_nothing, on_counted, &s->done_calls);
}

static void on_shutdown_drained(void *userdata) {
        Shutdown *s = userdata;
        s->drained_calls++;
}

static void test_shutdown_answers_everything(void **state) {
        Shutdown s = { .lock = PTHREAD_MUTEX_INITIALIZER, .changed = PTHREAD_COND_INITIALIZER };
        ShutdownItem items[3];
        sd_event *event = NULL;

        assert_int_equal(sd_event_new(&event), 0);
        assert_int_equal(job_queue_new(event, 1, &s.queue), 0);
        job_queue_set_drained(s.queue, on_shutdown_drained, &s);
        for (unsigned i = 0; i < 3; i++) {
                items[i] = (ShutdownItem) { .s = &s, .index = i };
                s.results[i] = 1;
                assert_int_equal(job_submit(s.queue, work_wait_cancel, on_shutdown_done, items + i), 0);
        }
        /* One thread: job 0 runs, jobs 1 and 2 wait for it. */
        pthread_mutex_lock(&s.lock);
        while (!s.started)
                pthread_cond_wait(&s.changed, &s.lock);
        pthread_mutex_unlock(&s.lock);

        assert_false(job_queue_is_shutting_down(s.queue));
        job_queue_shutdown(s.queue);
        assert_true(job_queue_is_shutting_down(s.queue));
        assert_int_equal(job_submit(s.queue, work_nothing, on_counted, &s.done_calls), -ESHUTDOWN);

        while (s.drained_calls == 0)
                assert_true(sd_event_run(event, 30 * 1000000ULL) > 0);
        assert_int_equal(s.done_calls, 3);
        assert_int_equal(s.results[0], 42);
        assert_int_equal(s.results[1], -ECANCELED);
        assert_int_equal(s.results[2], -ECANCELED);
        assert_int_equal(s.resubmit, -ESHUTDOWN);
        assert_int_equal(job_queue_in_flight(s.queue), 0);

        /* Nothing left for free() to answer after the loop. */
        job_queue_free(s.queue);
        assert_int_equal(s.done_calls, 3);
        sd_event_unref(event);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_results_and_drained, setup, teardown),
                cmocka_unit_test_setup_teardown(test_chained_job_delays_drained, setup, teardown),
                cmocka_unit_test(test_burst_runs_in_parallel),
                cmocka_unit_test(test_shutdown_answers_everything),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
