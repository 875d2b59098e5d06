/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Worker threads for slow work, with results handed back to the event loop through an eventfd. */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "job-queue.h"
#include "log.h"

typedef struct Job Job;
struct Job {
        JobWork work;
        JobDone done;
        void *userdata;
        int result;
        Job *next;
};

struct JobQueue {
        pthread_mutex_t lock;
        pthread_cond_t wakeup;
        Job *pending_head, *pending_tail; /* waiting for a thread */
        Job *finished;                    /* waiting for the loop (order does not matter) */
        pthread_t *threads;
        unsigned n_threads, max_threads;
        unsigned idle_threads; /* waiting for work (a woken one counts until it took a job) */
        unsigned n_pending;    /* jobs in pending_head..pending_tail */
        unsigned in_flight;
        bool stopping;      /* threads exit as soon as they are idle (job_queue_free) */
        bool shutting_down; /* no new work (job_queue_shutdown) */

        int event_fd;
        int cancel_fd;      /* readable once shutting down, for work that waits long */
        sd_event_source *event_source;

        JobQueueDrained drained;
        void *drained_userdata;
};

static void *worker_main(void *arg) {
        JobQueue *q = arg;

        pthread_mutex_lock(&q->lock);
        for (;;) {
                while (!q->pending_head && !q->stopping) {
                        q->idle_threads++;
                        pthread_cond_wait(&q->wakeup, &q->lock);
                        q->idle_threads--;
                }
                if (q->stopping)
                        break;
                Job *j = q->pending_head;
                q->pending_head = j->next;
                if (!q->pending_head)
                        q->pending_tail = NULL;
                q->n_pending--;
                pthread_mutex_unlock(&q->lock);

                j->result = j->work(j->userdata);

                pthread_mutex_lock(&q->lock);
                j->next = q->finished;
                q->finished = j;
                uint64_t one = 1;
                (void) !write(q->event_fd, &one, sizeof(one));
        }
        pthread_mutex_unlock(&q->lock);
        return NULL;
}

static int on_jobs_finished(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        JobQueue *q = userdata;
        uint64_t n;
        (void) !read(q->event_fd, &n, sizeof(n));

        pthread_mutex_lock(&q->lock);
        Job *list = TAKE_PTR(q->finished);
        pthread_mutex_unlock(&q->lock);

        while (list) {
                Job *j = list;
                list = j->next;
                q->in_flight--;
                j->done(j->result, j->userdata);
                free(j);
        }
        if (q->in_flight == 0 && q->drained)
                q->drained(q->drained_userdata);
        return 0;
}

int job_queue_new(sd_event *event, unsigned max_threads, JobQueue **ret) {
        _cleanup_free_ JobQueue *q = calloc(1, sizeof(JobQueue));
        if (!q)
                return -ENOMEM;
        q->max_threads = MAX(max_threads, 1U);
        q->threads = calloc(q->max_threads, sizeof(pthread_t));
        if (!q->threads)
                return -ENOMEM;
        q->cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        q->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        int r = q->event_fd < 0 || q->cancel_fd < 0 ? -errno : 0;
        if (r >= 0)
                r = sd_event_add_io(event, &q->event_source, q->event_fd, EPOLLIN, on_jobs_finished, q);
        if (r < 0) {
                safe_close(q->event_fd);
                safe_close(q->cancel_fd);
                free(q->threads);
                return r;
        }
        pthread_mutex_init(&q->lock, NULL);
        pthread_cond_init(&q->wakeup, NULL);
        *ret = TAKE_PTR(q);
        return 0;
}

/* Takes every job that has not started yet off the queue, for the caller to cancel. */
static Job *take_pending(JobQueue *q) {
        Job *pending = TAKE_PTR(q->pending_head);
        q->pending_tail = NULL;
        q->n_pending = 0;
        return pending;
}

void job_queue_shutdown(JobQueue *q) {
        if (!q || q->shutting_down)
                return;

        pthread_mutex_lock(&q->lock);
        q->shutting_down = true;
        /* Never-started jobs complete with -ECANCELED through the normal path, on the next iteration of the
         * loop: their done() answers their callers like any other result does. */
        Job *pending = take_pending(q);
        while (pending) {
                Job *j = pending;
                pending = j->next;
                j->result = -ECANCELED;
                j->next = q->finished;
                q->finished = j;
        }
        uint64_t one = 1;
        (void) !write(q->event_fd, &one, sizeof(one));
        pthread_mutex_unlock(&q->lock);

        /* Never read back: it stays readable for every poll() from now on. */
        (void) !write(q->cancel_fd, &one, sizeof(one));
}

bool job_queue_is_shutting_down(JobQueue *q) {
        return q->shutting_down;
}

int job_queue_cancel_fd(JobQueue *q) {
        return q->cancel_fd;
}

JobQueue *job_queue_free(JobQueue *q) {
        if (!q)
                return NULL;

        pthread_mutex_lock(&q->lock);
        q->stopping = true;
        /* A done() called below cannot queue work that no thread would run. */
        q->shutting_down = true;
        Job *pending = take_pending(q);
        pthread_cond_broadcast(&q->wakeup);
        pthread_mutex_unlock(&q->lock);
        (void) !write(q->cancel_fd, &(uint64_t) { 1 }, sizeof(uint64_t));

        for (unsigned i = 0; i < q->n_threads; i++)
                pthread_join(q->threads[i], NULL);

        /* Work that never started, then work that finished but was not yet seen by the loop. */
        while (pending) {
                Job *j = pending;
                pending = j->next;
                j->done(-ECANCELED, j->userdata);
                free(j);
        }
        while (q->finished) {
                Job *j = q->finished;
                q->finished = j->next;
                j->done(j->result, j->userdata);
                free(j);
        }

        sd_event_source_disable_unref(q->event_source);
        safe_close(q->event_fd);
        safe_close(q->cancel_fd);
        pthread_mutex_destroy(&q->lock);
        pthread_cond_destroy(&q->wakeup);
        free(q->threads);
        return mfree(q);
}

void job_queue_set_drained(JobQueue *q, JobQueueDrained callback, void *userdata) {
        q->drained = callback;
        q->drained_userdata = userdata;
}

int job_submit(JobQueue *q, JobWork work, JobDone done, void *userdata) {
        Job *j = calloc(1, sizeof(Job));
        if (!j)
                return -ENOMEM;
        j->work = work;
        j->done = done;
        j->userdata = userdata;

        pthread_mutex_lock(&q->lock);
        if (q->shutting_down) {
                pthread_mutex_unlock(&q->lock);
                free(j);
                return -ESHUTDOWN;
        }
        if (q->pending_tail)
                q->pending_tail->next = j;
        else
                q->pending_head = j;
        q->pending_tail = j;
        q->n_pending++;
        q->in_flight++;

        int r = 0;
        /* Threads are started on demand, up to the cap: an idle manager holds none. An idle thread that was
         * signalled still counts as idle until it wakes up and takes its job, so compare with the jobs
         * waiting: in a burst every job beyond the idle threads gets a thread of its own. */
        if (q->n_pending > q->idle_threads && q->n_threads < q->max_threads) {
                r = -pthread_create(&q->threads[q->n_threads], NULL, worker_main, q);
                if (r == 0)
                        q->n_threads++;
                else if (q->n_threads > 0)
                        r = 0; /* an existing thread will pick it up */
        }
        if (r < 0) {
                /* No thread exists to run it, so it is the only pending job: take it back. */
                q->pending_head = q->pending_tail = NULL;
                q->n_pending--;
                q->in_flight--;
                pthread_mutex_unlock(&q->lock);
                free(j);
                return r;
        }
        pthread_cond_signal(&q->wakeup);
        pthread_mutex_unlock(&q->lock);
        return 0;
}

unsigned job_queue_in_flight(JobQueue *q) {
        return q->in_flight;
}
