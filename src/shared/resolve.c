/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reference resolution: a user's reference (id, name or id prefix) to exactly one record id. */
#include "id.h"
#include "resolve.h"
#include "strv-util.h"

/* Only a string of ID characters shorter than an ID can be the prefix of one. */
static bool could_be_id_prefix(const char *ref) {
        size_t n = 0;

        for (; ref[n]; n++)
                if (n >= ID_LENGTH || !id_char_is_valid(ref[n]))
                        return false;
        return n >= RESOLVE_PREFIX_MIN;
}

static int resolve_prefix(const Hashmap *ids, const char *ref, const char **ret_id, char ***ret_candidates) {
        _cleanup_strv_free_ char **candidates = NULL;
        const char *found = NULL, *key;
        size_t state = 0, n_found = 0, len = strlen(ref);
        int r;

        /* A linear scan: prefixes are rare next to exact ids and names, and an index for prefixes would cost
         * on every put. */
        while (hashmap_iterate(ids, &state, &key, NULL)) {
                if (strncmp(key, ref, len) != 0)
                        continue;
                if (n_found++ == 0) {
                        found = key;
                        continue;
                }
                if (!ret_candidates)
                        continue;
                if (n_found == 2) {
                        r = strv_extend(&candidates, found);
                        if (r < 0)
                                return r;
                }
                r = strv_extend(&candidates, key);
                if (r < 0)
                        return r;
        }

        if (n_found == 0)
                return -ENOENT;
        if (n_found > 1) {
                if (ret_candidates) {
                        strv_sort(candidates);
                        *ret_candidates = TAKE_PTR(candidates);
                }
                return -ENOTUNIQ;
        }
        *ret_id = found;
        return 0;
}

int resolve_ref(const Hashmap *ids, const Hashmap *names, const char *ref, const char **ret_id,
                char ***ret_candidates) {
        const char *key, *id;

        if (isempty(ref))
                return -EINVAL;

        if (hashmap_get2(ids, ref, &key)) {
                *ret_id = key;
                return 0;
        }

        id = hashmap_get(names, ref);
        if (id && hashmap_get2(ids, id, &key)) {
                *ret_id = key;
                return 0;
        }

        if (!could_be_id_prefix(ref))
                return -ENOENT;
        return resolve_prefix(ids, ref, ret_id, ret_candidates);
}

int store_resolve_ref(const Store *s, const char *ref, const char **ret_id, char ***ret_candidates) {
        return resolve_ref(store_get_ids(s), store_get_names(s), ref, ret_id, ret_candidates);
}

RefResolution *ref_resolutions_free(RefResolution *r, size_t n) {
        if (!r)
                return NULL;
        for (size_t i = 0; i < n; i++)
                strv_free(r[i].candidates);
        return mfree(r);
}

int store_resolve_refs(const Store *s, char *const *refs, RefResolution **ret, size_t *ret_n_failed) {
        _cleanup_(hashmap_freep) Hashmap *seen = NULL;
        RefResolution *results;
        size_t n = strv_length(refs), n_failed = 0;
        int r;

        r = hashmap_new(&seen);
        if (r < 0)
                return r;
        results = calloc(n + 1, sizeof(RefResolution)); /* + 1: calloc(0) may return NULL */
        if (!results)
                return -ENOMEM;

        for (size_t i = 0; i < n; i++) {
                RefResolution *x = &results[i];

                x->ref = refs[i];
                x->error = store_resolve_ref(s, refs[i], &x->id, &x->candidates);
                if (x->error == -ENOMEM) {
                        ref_resolutions_free(results, n);
                        return -ENOMEM;
                }
                if (x->error < 0) {
                        x->id = NULL;
                        n_failed++;
                        continue;
                }
                /* Two references to one VM (say its name and its id) must not act on it twice. */
                r = hashmap_put(seen, x->id, (void *) x->id);
                if (r == -EEXIST)
                        x->duplicate = true;
                else if (r < 0) {
                        ref_resolutions_free(results, n);
                        return r;
                }
        }

        if (ret_n_failed)
                *ret_n_failed = n_failed;
        *ret = results;
        return 0;
}
