/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SHA-256 from OpenSSL's libcrypto, loaded on first use (dlopen-crypto.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "dlopen-crypto.h"
#include "sha256-util.h"

struct Sha256 {
        EVP_MD_CTX *ctx;
};

int sha256_new(Sha256 **ret) {
        int r = dlopen_crypto();
        if (r < 0)
                return r;

        Sha256 *h = calloc(1, sizeof(Sha256));
        if (!h)
                return -ENOMEM;
        h->ctx = sym_EVP_MD_CTX_new();
        if (!h->ctx || sym_EVP_DigestInit_ex(h->ctx, sym_EVP_sha256(), NULL) != 1) {
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
                sym_EVP_MD_CTX_free(h->ctx);
        return mfree(h);
}

int sha256_update(Sha256 *h, const void *data, size_t size) {
        return sym_EVP_DigestUpdate(h->ctx, data, size) == 1 ? 0 : -EIO;
}

int sha256_final_hex(Sha256 *h, char ret[static SHA256_HEX_LEN + 1]) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned md_len = 0;

        if (sym_EVP_DigestFinal_ex(h->ctx, md, &md_len) != 1 || md_len * 2 != SHA256_HEX_LEN)
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
