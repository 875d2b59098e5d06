/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A bounded, best-effort worker pool for batch VM operations (Start/Stop/Delete of several references). */
#pragma once

#include <stddef.h>

/* One item of work: >= 0 success, negative errno failure. */
typedef int (*PoolItemFunc)(size_t index, void *userdata);

/* Runs fn(i, userdata) for every i in [0, n_items), at most max_parallel at a time (0: one per online CPU),
 * and returns when all have finished. Best effort: a failing item never stops the others. ret_results
 * (optional, n_items entries) receives each item's result in input order; it is filled even when this
 * returns a failure (that is its purpose). Returns 0 when every item succeeded, else the result of the
 * first failed item in input order; -EINVAL (nothing ran) when fn is NULL. Allocates nothing per item and
 * cannot fail on its own: the calling thread works too, and if threads cannot be created, fewer do the
 * work. fn runs concurrently with itself: it must be thread-safe for distinct indexes. */
int pool_run(size_t n_items, unsigned max_parallel, PoolItemFunc fn, void *userdata, int *ret_results);
