/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A hash map from C strings to pointers: open addressing, linear probing, keyed SipHash-2-4. */
#include <sys/random.h>

#include "hashmap.h"

#define HASHMAP_MIN_BUCKETS 16U

typedef struct Bucket {
        const char *key; /* NULL: empty */
        void *value;
        uint64_t hash;
} Bucket;

struct Hashmap {
        Bucket *buckets;
        size_t n_buckets; /* a power of two */
        size_t n_entries;
        /* A per-map random key: names come from users, who must not be able to force collisions. */
        uint8_t hash_key[16];
};

static uint64_t rotl64(uint64_t x, unsigned b) {
        return (x << b) | (x >> (64 - b));
}

static void sip_round(uint64_t v[4]) {
        v[0] += v[1];
        v[1] = rotl64(v[1], 13);
        v[1] ^= v[0];
        v[0] = rotl64(v[0], 32);
        v[2] += v[3];
        v[3] = rotl64(v[3], 16);
        v[3] ^= v[2];
        v[0] += v[3];
        v[3] = rotl64(v[3], 21);
        v[3] ^= v[0];
        v[2] += v[1];
        v[1] = rotl64(v[1], 17);
        v[1] ^= v[2];
        v[2] = rotl64(v[2], 32);
}

static uint64_t load_le64(const uint8_t *p) {
        uint64_t x = 0;
        for (unsigned i = 0; i < 8; i++)
                x |= (uint64_t) p[i] << (8 * i);
        return x;
}

uint64_t siphash24(const void *data, size_t size, const uint8_t key[static 16]) {
        const uint8_t *p = data;
        uint64_t k0 = load_le64(key), k1 = load_le64(key + 8);
        uint64_t v[4] = {
                k0 ^ UINT64_C(0x736f6d6570736575),
                k1 ^ UINT64_C(0x646f72616e646f6d),
                k0 ^ UINT64_C(0x6c7967656e657261),
                k1 ^ UINT64_C(0x7465646279746573),
        };
        size_t full = size - size % 8;

        for (size_t i = 0; i < full; i += 8) {
                uint64_t m = load_le64(p + i);
                v[3] ^= m;
                sip_round(v);
                sip_round(v);
                v[0] ^= m;
        }

        /* Last block: remaining bytes, zero padded, length in the top byte. */
        uint64_t b = (uint64_t) (size & 0xff) << 56;
        for (size_t i = 0; i < size % 8; i++)
                b |= (uint64_t) p[full + i] << (8 * i);
        v[3] ^= b;
        sip_round(v);
        sip_round(v);
        v[0] ^= b;

        v[2] ^= 0xff;
        for (unsigned i = 0; i < 4; i++)
                sip_round(v);
        return v[0] ^ v[1] ^ v[2] ^ v[3];
}

static uint64_t hashmap_hash(const Hashmap *h, const char *key) {
        return siphash24(key, strlen(key), h->hash_key);
}

int hashmap_new(Hashmap **ret) {
        Hashmap *h;

        h = calloc(1, sizeof(Hashmap));
        if (!h)
                return -ENOMEM;
        h->buckets = calloc(HASHMAP_MIN_BUCKETS, sizeof(Bucket));
        if (!h->buckets) {
                free(h);
                return -ENOMEM;
        }
        h->n_buckets = HASHMAP_MIN_BUCKETS;

        /* GRND_NONBLOCK: early at boot a weaker key beats blocking; the key only spreads buckets. */
        if (getrandom(h->hash_key, sizeof(h->hash_key), GRND_NONBLOCK) != (ssize_t) sizeof(h->hash_key)) {
                uint64_t seed = (uint64_t) (uintptr_t) h ^ (uint64_t) getpid();
                memcpy(h->hash_key, &seed, sizeof(seed));
        }

        *ret = h;
        return 0;
}

Hashmap *hashmap_free(Hashmap *h) {
        if (!h)
                return NULL;
        free(h->buckets);
        free(h);
        return NULL;
}

/* The bucket holding key, or the empty bucket where it would go. */
static size_t hashmap_find_slot(const Hashmap *h, const char *key, uint64_t hash) {
        size_t mask = h->n_buckets - 1;

        for (size_t i = (size_t) hash & mask;; i = (i + 1) & mask) {
                const Bucket *b = &h->buckets[i];
                if (!b->key)
                        return i;
                if (b->hash == hash && streq(b->key, key))
                        return i;
        }
}

static int hashmap_resize(Hashmap *h, size_t n_buckets) {
        Bucket *old = h->buckets;
        size_t n_old = h->n_buckets;
        Bucket *n;

        n = calloc(n_buckets, sizeof(Bucket));
        if (!n)
                return -ENOMEM;
        h->buckets = n;
        h->n_buckets = n_buckets;
        for (size_t i = 0; i < n_old; i++) {
                if (!old[i].key)
                        continue;
                size_t slot = hashmap_find_slot(h, old[i].key, old[i].hash);
                h->buckets[slot] = old[i];
        }
        free(old);
        return 0;
}

/* Grow past 3/4 full: linear probing degrades quickly beyond that. */
static bool hashmap_fits(const Hashmap *h, size_t n_entries) {
        return n_entries <= h->n_buckets / 4 * 3;
}

int hashmap_reserve(Hashmap *h, size_t n_extra) {
        size_t want = h->n_buckets;

        if (n_extra > SIZE_MAX / 2 - h->n_entries)
                return -ENOMEM;
        while (want / 4 * 3 < h->n_entries + n_extra) {
                if (want > SIZE_MAX / 2 / sizeof(Bucket))
                        return -ENOMEM;
                want *= 2;
        }
        if (want == h->n_buckets)
                return 0;
        return hashmap_resize(h, want);
}

static int hashmap_insert(Hashmap *h, const char *key, void *value, bool replace) {
        uint64_t hash;
        size_t slot;
        int r;

        if (!key || !value)
                return -EINVAL;

        hash = hashmap_hash(h, key);
        slot = hashmap_find_slot(h, key, hash);
        if (h->buckets[slot].key) {
                if (!replace)
                        return -EEXIST;
                h->buckets[slot].key = key;
                h->buckets[slot].value = value;
                return 0;
        }

        if (!hashmap_fits(h, h->n_entries + 1)) {
                r = hashmap_reserve(h, 1);
                if (r < 0)
                        return r;
                slot = hashmap_find_slot(h, key, hash);
        }

        h->buckets[slot] = (Bucket){.key = key, .value = value, .hash = hash};
        h->n_entries++;
        return 0;
}

int hashmap_put(Hashmap *h, const char *key, void *value) {
        return hashmap_insert(h, key, value, false);
}

int hashmap_replace(Hashmap *h, const char *key, void *value) {
        return hashmap_insert(h, key, value, true);
}

void *hashmap_get2(const Hashmap *h, const char *key, const char **ret_key) {
        if (!h || !key)
                return NULL;

        const Bucket *b = &h->buckets[hashmap_find_slot(h, key, hashmap_hash(h, key))];
        if (!b->key)
                return NULL;
        if (ret_key)
                *ret_key = b->key;
        return b->value;
}

void *hashmap_get(const Hashmap *h, const char *key) {
        return hashmap_get2(h, key, NULL);
}

bool hashmap_contains(const Hashmap *h, const char *key) {
        return hashmap_get(h, key) != NULL;
}

void *hashmap_remove(Hashmap *h, const char *key) {
        size_t mask, i, j;
        void *value;

        if (!h || !key)
                return NULL;

        mask = h->n_buckets - 1;
        i = hashmap_find_slot(h, key, hashmap_hash(h, key));
        if (!h->buckets[i].key)
                return NULL;
        value = h->buckets[i].value;

        /* Backward-shift deletion: move later members of the probe run into the hole so that no lookup
         * stops early at it, without tombstones that would slowly fill the table. */
        for (j = (i + 1) & mask; h->buckets[j].key; j = (j + 1) & mask) {
                size_t home = (size_t) h->buckets[j].hash & mask;
                /* Entry j may move to the hole at i only if its home is not cyclically in (i, j]. */
                bool home_in_range = i <= j ? (home > i && home <= j) : (home > i || home <= j);
                if (home_in_range)
                        continue;
                h->buckets[i] = h->buckets[j];
                i = j;
        }
        h->buckets[i] = (Bucket){};
        h->n_entries--;

        if (h->n_buckets > HASHMAP_MIN_BUCKETS && h->n_entries * 8 < h->n_buckets)
                (void) hashmap_resize(h, h->n_buckets / 2); /* failure only wastes memory */

        return value;
}

size_t hashmap_size(const Hashmap *h) {
        return h ? h->n_entries : 0;
}

bool hashmap_iterate(const Hashmap *h, size_t *state, const char **ret_key, void **ret_value) {
        if (!h)
                return false;

        for (size_t i = *state; i < h->n_buckets; i++) {
                if (!h->buckets[i].key)
                        continue;
                *state = i + 1;
                if (ret_key)
                        *ret_key = h->buckets[i].key;
                if (ret_value)
                        *ret_value = h->buckets[i].value;
                return true;
        }
        *state = h->n_buckets;
        return false;
}
