/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Worker threads for slow work (disks, hypervisor start, stop waits), with results handed back to the event
 * loop: the loop never blocks, and only the loop's thread touches the store and Varlink connections. */
#pragma once

#include <systemd/sd-event.h>

#include "macro.h"

typedef struct JobQueue JobQueue;

/* Runs in a worker thread. Must not touch manager state; returns >= 0 or -errno. */
typedef int (*JobWork)(void *userdata);
/* Runs on the event loop thread once the work is finished, with its result. Owns userdata from then on. */
typedef void (*JobDone)(int result, void *userdata);
/* Runs on the event loop thread after the done() calls that left no job in flight. */
typedef void (*JobQueueDrained)(void *userdata);

int job_queue_new(sd_event *event, unsigned max_threads, JobQueue **ret);
/* Waits for running work to finish (pending work that has not started is dropped, its done() is called with
 * -ECANCELED so it can free userdata). Meant for after job_queue_shutdown() drained the queue: done()
 * calls from here run after the loop, when replies can no longer be sent. */
JobQueue *job_queue_free(JobQueue *q);
DEFINE_TRIVIAL_CLEANUP_FUNC(JobQueue *, job_queue_free);

/* Not called from job_queue_free(). */
void job_queue_set_drained(JobQueue *q, JobQueueDrained callback, void *userdata);

/* -ESHUTDOWN once the queue is shutting down: the caller answers its call at once. */
int job_submit(JobQueue *q, JobWork work, JobDone done, void *userdata);

/* The start of a clean exit, on the loop: job_submit() refuses new work from now on, every job that has not
 * started completes with -ECANCELED (its done() runs on the loop, as for any result), and
 * job_queue_cancel_fd() becomes readable, so that work waiting for something slow can stop waiting. Running
 * work finishes; the drained callback comes when nothing is in flight any more. */
void job_queue_shutdown(JobQueue *q);
bool job_queue_is_shutting_down(JobQueue *q);
/* An fd that polls readable (POLLIN) once the queue is shutting down; for work running in a thread. Owned
 * by the queue, valid until job_queue_free(). */
int job_queue_cancel_fd(JobQueue *q);
/* Jobs submitted and not yet completed on the loop. */
unsigned job_queue_in_flight(JobQueue *q);
