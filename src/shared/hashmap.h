/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A hash map from C strings to pointers: open addressing, linear probing, keyed SipHash-2-4. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

/* Keys are not copied: a key must stay valid, unchanged, while it is in the map (typically it points into
 * the value). Values are never NULL. Not thread-safe. Adding or removing entries invalidates iteration. */
typedef struct Hashmap Hashmap;

int hashmap_new(Hashmap **ret);
/* Frees the map only; keys and values belong to the caller. */
Hashmap *hashmap_free(Hashmap *h);
DEFINE_TRIVIAL_CLEANUP_FUNC(Hashmap *, hashmap_free);

/* Adds key -> value. -EEXIST if the key is present (the map is unchanged). */
int hashmap_put(Hashmap *h, const char *key, void *value);
/* Makes room so that the next n_extra insertions cannot fail. */
int hashmap_reserve(Hashmap *h, size_t n_extra);
/* Adds or replaces; on replacement the stored key pointer is updated to key as well. */
int hashmap_replace(Hashmap *h, const char *key, void *value);
/* NULL when absent. */
void *hashmap_get(const Hashmap *h, const char *key);
/* Like hashmap_get(), also returns the stored key pointer. */
void *hashmap_get2(const Hashmap *h, const char *key, const char **ret_key);
bool hashmap_contains(const Hashmap *h, const char *key);
/* Removes key and returns its value, or NULL when absent. */
void *hashmap_remove(Hashmap *h, const char *key);
size_t hashmap_size(const Hashmap *h);

/* Iteration in no particular order: start with *state = 0; returns false at the end. */
bool hashmap_iterate(const Hashmap *h, size_t *state, const char **ret_key, void **ret_value);

/* SipHash-2-4 of data under a 16-byte key (exposed for tests against the reference vectors). */
uint64_t siphash24(const void *data, size_t size, const uint8_t key[static 16]);
