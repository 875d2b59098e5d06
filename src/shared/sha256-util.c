/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SHA-256 from OpenSSL's libcrypto, loaded on first use (dlopen, as systemd does for optional libraries). */
#include <dlfcn.h>
#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>

#include "sha256-util.h"

/* The few libcrypto entry points we use, resolved once. */
static struct {
        typeof(EVP_MD_CTX_new) *md_ctx_new;
        typeof(EVP_MD_CTX_free) *md_ctx_free;
        typeof(EVP_sha256) *sha256;
        typeof(EVP_DigestInit_ex) *digest_init_ex;
        typeof(EVP_DigestUpdate) *digest_update;
        typeof(EVP_DigestFinal_ex) *digest_final_ex;
} sym;

static const struct {
        const char *name;
        void **slot;
} symbol_table[] = {
        { "EVP_MD_CTX_new", (void **) &sym.md_ctx_new },
        { "EVP_MD_CTX_free", (void **) &sym.md_ctx_free },
        { "EVP_sha256", (void **) &sym.sha256 },
        { "EVP_DigestInit_ex", (void **) &sym.digest_init_ex },
        { "EVP_DigestUpdate", (void **) &sym.digest_update },
        { "EVP_DigestFinal_ex", (void **) &sym.digest_final_ex },
};

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int load_result = -EOPNOTSUPP;

static void load_libcrypto(void) {
        /* Never unloaded: OpenSSL keeps global state and exit handlers. */
        void *dl = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_NODELETE);
        if (!dl)
                return;
        for (size_t i = 0; i < ELEMENTSOF(symbol_table); i++) {
                *symbol_table[i].slot = dlsym(dl, symbol_table[i].name);
                if (!*symbol_table[i].slot)
                        return;
        }
        load_result = 0;
}

struct Sha256 {
        EVP_MD_CTX *ctx;
};

int sha256_new(Sha256 **ret) {
        (void) pthread_once(&load_once, load_libcrypto);
        if (load_result < 0)
                return load_result;

        Sha256 *h = calloc(1, sizeof(Sha256));
        if (!h)
                return -ENOMEM;
        h->ctx = sym.md_ctx_new();
        if (!h->ctx || sym.digest_init_ex(h->ctx, sym.sha256(), NULL) != 1) {
                sha256_free(h);
                return -EIO;
        }
        *ret = h;
        return 0;
}

Sha256 *sha256_free(Sha256 *h) {
        if (!h)
                return NULL;
        if (h->ctx)
                sym.md_ctx_free(h->ctx);
        return mfree(h);
}

int sha256_update(Sha256 *h, const void *data, size_t size) {
        return sym.digest_update(h->ctx, data, size) == 1 ? 0 : -EIO;
}

int sha256_final_hex(Sha256 *h, char ret[static SHA256_HEX_LEN + 1]) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned md_len = 0;

        if (sym.digest_final_ex(h->ctx, md, &md_len) != 1 || md_len * 2 != SHA256_HEX_LEN)
                return -EIO;
        for (unsigned i = 0; i < md_len; i++)
                sprintf(ret + 2 * i, "%02x", md[i]);
        return 0;
}

int sha256_hex(const void *data, size_t size, char ret[static SHA256_HEX_LEN + 1]) {
        _cleanup_(sha256_freep) Sha256 *h = NULL;
        int r = sha256_new(&h);
        if (r >= 0)
                r = sha256_update(h, data, size);
        if (r >= 0)
                r = sha256_final_hex(h, ret);
        return r;
}
