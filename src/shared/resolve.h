/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reference resolution: a user's reference (id, name or id prefix) to exactly one record id. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "hashmap.h"
#include "store.h"

/* Shortest prefix that may select a record by id prefix. */
#define RESOLVE_PREFIX_MIN 3

/* Resolves ref against ids (id -> anything) and names (name -> id), in this order:
 *   1. ref is a present id;
 *   2. names[ref] is an id that is present (a dangling name is ignored);
 *   3. ref has >= RESOLVE_PREFIX_MIN characters and is the prefix of exactly one id (ids only, never names).
 * On success *ret_id points to the id string stored as key in ids (valid while the map is unchanged).
 * Errors: -EINVAL (empty ref), -ENOENT (nothing matches: NoSuchVM), -ENOTUNIQ (several ids start with ref:
 * AmbiguousReference; then, unlike the usual rule, *ret_candidates (optional) receives the matching ids,
 * sorted, owned by the caller). */
int resolve_ref(const Hashmap *ids, const Hashmap *names, const char *ref, const char **ret_id,
                char ***ret_candidates);

int store_resolve_ref(const Store *s, const char *ref, const char **ret_id, char ***ret_candidates);

/* The outcome for one reference of a batch. */
typedef struct RefResolution {
        const char *ref; /* borrowed from the caller's list */
        const char *id; /* on success: points into the store */
        int error; /* 0, -EINVAL, -ENOENT, -ENOTUNIQ */
        char **candidates; /* -ENOTUNIQ: the matching ids */
        bool duplicate; /* resolves to the same id as an earlier reference; callers skip it */
} RefResolution;

/* Resolves every reference of refs (NULL-terminated) on its own: one failure does not stop the others.
 * *ret is an array of strv_length(refs) results in input order; *ret_n_failed (optional) counts the
 * failures. Fails only on allocation failure. */
int store_resolve_refs(const Store *s, char *const *refs, RefResolution **ret, size_t *ret_n_failed);
RefResolution *ref_resolutions_free(RefResolution *r, size_t n);
