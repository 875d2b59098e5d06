/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Record IDs: 26 characters of lowercase RFC 4648 base32 (a-z, 2-7) from the kernel CSPRNG. */
#include <stdint.h>
#include <sys/random.h>

#include "id.h"
#include "macro.h"

static const char id_alphabet[32] = "abcdefghijklmnopqrstuvwxyz234567";

static int random_bytes(void *p, size_t n) {
        uint8_t *b = p;

        while (n > 0) {
                ssize_t k = getrandom(b, n, 0);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                b += k;
                n -= (size_t) k;
        }
        return 0;
}

int id_generate(char ret[static ID_LENGTH + 1]) {
        uint8_t bytes[ID_LENGTH];
        int r;

        r = random_bytes(bytes, sizeof(bytes));
        if (r < 0)
                return r;

        /* 256 is a multiple of 32, so taking the low 5 bits of each byte keeps the distribution uniform. */
        for (size_t i = 0; i < ID_LENGTH; i++)
                ret[i] = id_alphabet[bytes[i] & 31];
        ret[ID_LENGTH] = '\0';
        return 0;
}

bool id_char_is_valid(char c) {
        return (c >= 'a' && c <= 'z') || (c >= '2' && c <= '7');
}

bool id_is_valid(const char *s) {
        if (!s)
                return false;

        size_t i;
        for (i = 0; s[i]; i++)
                if (i >= ID_LENGTH || !id_char_is_valid(s[i]))
                        return false;
        return i == ID_LENGTH;
}
