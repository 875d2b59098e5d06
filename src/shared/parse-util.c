/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Strict number and size parsers (no atoi: no sign surprises, no whitespace, no trailing garbage). */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <strings.h>

#include "macro.h"
#include "parse-util.h"

static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

/* Parses the leading run of digits; *end points after it. At least one digit is required. */
static int parse_digits_u64(const char *s, const char **end, uint64_t *ret) {
        uint64_t v = 0;
        const char *p = s;

        if (!is_digit(*p))
                return -EINVAL;
        for (; is_digit(*p); p++) {
                unsigned d = (unsigned) (*p - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }
        *end = p;
        *ret = v;
        return 0;
}

int parse_uint64(const char *s, uint64_t *ret) {
        const char *end;
        uint64_t v;
        int r;

        if (!s)
                return -EINVAL;
        r = parse_digits_u64(s, &end, &v);
        if (r < 0)
                return r;
        if (*end != '\0')
                return -EINVAL;
        *ret = v;
        return 0;
}

int parse_uint32(const char *s, uint32_t *ret) {
        uint64_t v;
        int r;

        r = parse_uint64(s, &v);
        if (r < 0)
                return r;
        if (v > UINT32_MAX)
                return -ERANGE;
        *ret = (uint32_t) v;
        return 0;
}

int parse_int64(const char *s, int64_t *ret) {
        bool negative = false;
        uint64_t v;
        int r;

        if (!s)
                return -EINVAL;
        if (*s == '-') {
                negative = true;
                s++;
        }
        r = parse_uint64(s, &v);
        if (r < 0)
                return r;
        if (negative) {
                if (v > (uint64_t) INT64_MAX + 1)
                        return -ERANGE;
                *ret = v == (uint64_t) INT64_MAX + 1 ? INT64_MIN : -(int64_t) v;
        } else {
                if (v > (uint64_t) INT64_MAX)
                        return -ERANGE;
                *ret = (int64_t) v;
        }
        return 0;
}

static const struct {
        char letter;
        uint64_t factor;
} size_units[] = {
        {'K', UINT64_C(1) << 10}, {'M', UINT64_C(1) << 20}, {'G', UINT64_C(1) << 30},
        {'T', UINT64_C(1) << 40}, {'P', UINT64_C(1) << 50}, {'E', UINT64_C(1) << 60},
};

/* The unit suffix: "", "B", or a letter followed by nothing, "i", "B" or "iB". SI-looking suffixes are the
 * same binary units as the IEC ones: "1G" has always meant 1 GiB here, and sizes of memory and disks are
 * never meant in powers of 1000. Returns the factor or 0. */
static uint64_t parse_size_unit(const char *p) {
        if (*p == '\0')
                return 1;
        if (strcasecmp(p, "b") == 0)
                return 1;
        for (size_t i = 0; i < ELEMENTSOF(size_units); i++) {
                if (*p != size_units[i].letter && *p != size_units[i].letter + ('a' - 'A'))
                        continue;
                const char *rest = p + 1;
                if (*rest == '\0' || strcasecmp(rest, "b") == 0 || strcasecmp(rest, "i") == 0 ||
                    strcasecmp(rest, "ib") == 0)
                        return size_units[i].factor;
                return 0;
        }
        return 0;
}

/* 0.<digits> (n <= 9 of them) of factor, truncated to whole bytes. With F the digits as an integer and
 * factor = q * 10^n + r, F * factor / 10^n = F * q + F * r / 10^n; both products stay below 2^63. */
static uint64_t fraction_bytes(const char *digits, size_t n, uint64_t factor) {
        uint64_t f = 0, pow10 = 1;

        for (size_t i = 0; i < n; i++) {
                f = f * 10 + (uint64_t) (digits[i] - '0');
                pow10 *= 10;
        }
        return f * (factor / pow10) + f * (factor % pow10) / pow10;
}

int parse_size(const char *s, uint64_t *ret) {
        const char *p, *frac = NULL;
        size_t n_frac = 0;
        uint64_t whole, factor, total;
        int r;

        if (!s)
                return -EINVAL;

        r = parse_digits_u64(s, &p, &whole);
        if (r < 0)
                return r;
        if (*p == '.') {
                frac = ++p;
                while (is_digit(*p))
                        p++;
                n_frac = (size_t) (p - frac);
                if (n_frac == 0 || n_frac > 9)
                        return -EINVAL;
        }

        factor = parse_size_unit(p);
        if (factor == 0)
                return -EINVAL;
        if (frac && factor == 1)
                return -EINVAL; /* a fraction of a byte */

        if (whole > UINT64_MAX / factor)
                return -ERANGE;
        total = whole * factor;
        if (frac) {
                uint64_t extra = fraction_bytes(frac, n_frac, factor);
                if (total > UINT64_MAX - extra)
                        return -ERANGE;
                total += extra;
        }

        *ret = total;
        return 0;
}

const char *format_size(uint64_t bytes, char buf[static FORMAT_SIZE_MAX]) {
        for (size_t i = ELEMENTSOF(size_units); i > 0; i--) {
                uint64_t factor = size_units[i - 1].factor;
                if (bytes < factor)
                        continue;

                uint64_t whole = bytes / factor, rem = bytes % factor;
                if (rem == 0)
                        snprintf(buf, FORMAT_SIZE_MAX, "%" PRIu64 "%ci", whole, size_units[i - 1].letter);
                else
                        /* rem < factor <= 2^60, so rem * 10 cannot overflow. */
                        snprintf(buf, FORMAT_SIZE_MAX, "%" PRIu64 ".%u%ci", whole,
                                 (unsigned) (rem * 10 / factor), size_units[i - 1].letter);
                return buf;
        }
        snprintf(buf, FORMAT_SIZE_MAX, "%" PRIu64 "B", bytes);
        return buf;
}
