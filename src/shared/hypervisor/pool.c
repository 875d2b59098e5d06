/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A bounded, best-effort worker pool for batch VM operations (Start/Stop/Delete of several references). */
#include <errno.h>
#include <stdint.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "pool.h"

typedef struct Pool {
        size_t n_items;
        size_t next; /* next index to hand out; taken with an atomic fetch-add */
        PoolItemFunc fn;
        void *userdata;
        int *results; /* the caller's array or NULL */

        pthread_mutex_t lock; /* protects the two fields below */
        size_t first_failed;  /* lowest failed index, SIZE_MAX when none */
        int first_result;
} Pool;

static void pool_record_failure(Pool *pool, size_t i, int r) {
        pthread_mutex_lock(&pool->lock);
        if (i < pool->first_failed) {
                pool->first_failed = i;
                pool->first_result = r;
        }
        pthread_mutex_unlock(&pool->lock);
}

/* Each worker takes the next free index until none are left, so a slow item never idles the others. */
static void *pool_worker(void *p) {
        Pool *pool = p;

        for (;;) {
                size_t i = __atomic_fetch_add(&pool->next, 1, __ATOMIC_RELAXED);
                if (i >= pool->n_items)
                        return NULL;
                int r = pool->fn(i, pool->userdata);

                /* Each index is written by exactly one thread; pthread_join() publishes it. */
                if (pool->results)
                        pool->results[i] = r;
                if (r < 0)
                        pool_record_failure(pool, i, r);
        }
}

static unsigned online_cpus(void) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);

        return n > 0 ? (unsigned) n : 1U;
}

int pool_run(size_t n_items, unsigned max_parallel, PoolItemFunc fn, void *userdata, int *ret_results) {
        _cleanup_free_ pthread_t *threads = NULL;
        size_t n_threads, started = 0;
        Pool pool;

        if (!fn)
                return -EINVAL;
        if (n_items == 0)
                return 0;

        pool = (Pool) {
                .n_items = n_items,
                .fn = fn,
                .userdata = userdata,
                .results = ret_results,
                .lock = PTHREAD_MUTEX_INITIALIZER,
                .first_failed = SIZE_MAX,
        };

        if (max_parallel == 0)
                max_parallel = online_cpus();
        n_threads = MIN((size_t) max_parallel, n_items);

        /* The caller is one of the workers: n_threads - 1 extra threads. */
        if (n_threads > 1) {
                threads = calloc(n_threads - 1, sizeof(pthread_t));
                if (!threads)
                        log_debug("Out of memory for pool threads, running items in the calling thread.");
        }
        for (size_t t = 0; threads && t < n_threads - 1; t++) {
                int r = pthread_create(&threads[t], NULL, pool_worker, &pool);
                if (r != 0) {
                        log_debug_errno(r, "Failed to start a pool thread, continuing with %zu: %m",
                                        started + 1);
                        break;
                }
                started++;
        }

        pool_worker(&pool);
        for (size_t t = 0; t < started; t++)
                (void) pthread_join(threads[t], NULL);

        pthread_mutex_destroy(&pool.lock);
        return pool.first_failed == SIZE_MAX ? 0 : pool.first_result;
}
