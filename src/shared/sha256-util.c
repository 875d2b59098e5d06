/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SHA-256 from libgcrypt, loaded on first use (dlopen-gcrypt.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "dlopen-gcrypt.h"
#include "sha256-util.h"

struct Sha256 {
        gcry_md_hd_t md;
};

int sha256_new(Sha256 **ret) {
        int r = dlopen_gcrypt();
        if (r < 0)
                return r;

        Sha256 *h = calloc(1, sizeof(Sha256));
        if (!h)
                return -ENOMEM;
        if (sym_gcry_md_open(&h->md, GCRY_MD_SHA256, 0) != 0) {
                sha256_free(h);
                return -EIO;
        }
        *ret = h;
        return 0;
}

Sha256 *sha256_free(Sha256 *h) {
        if (!h)
                return NULL;
        if (h->md)
                sym_gcry_md_close(h->md);
        return mfree(h);
}

int sha256_update(Sha256 *h, const void *data, size_t size) {
        sym_gcry_md_write(h->md, data, size);
        return 0;
}

int sha256_final_hex(Sha256 *h, char ret[static SHA256_HEX_LEN + 1]) {
        /* Finalizes; the digest lives as long as the handle. */
        const unsigned char *md = sym_gcry_md_read(h->md, GCRY_MD_SHA256);

        if (!md)
                return -EIO;
        for (unsigned i = 0; i < SHA256_HEX_LEN / 2; i++)
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
