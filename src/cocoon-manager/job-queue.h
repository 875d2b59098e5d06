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
 * -ECANCELED so it can free userdata). */
JobQueue *job_queue_free(JobQueue *q);
DEFINE_TRIVIAL_CLEANUP_FUNC(JobQueue *, job_queue_free);

/* Not called from job_queue_free(). */
void job_queue_set_drained(JobQueue *q, JobQueueDrained callback, void *userdata);

int job_submit(JobQueue *q, JobWork work, JobDone done, void *userdata);
/* Jobs submitted and not yet completed on the loop. */
unsigned job_queue_in_flight(JobQueue *q);
