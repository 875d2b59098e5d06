/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Clock reading and RFC 3339 timestamps (UTC, microsecond precision) as used in records. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "macro.h"
#include "time-util.h"

uint64_t now_usec(clockid_t clock) {
        struct timespec ts;

        /* Only fails for an invalid clock id, which is a programming error. */
        if (clock_gettime(clock, &ts) < 0)
                abort();
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / NSEC_PER_USEC;
}

int timestamp_format_rfc3339(uint64_t usec, char **ret) {
        char buf[RFC3339_MAX];
        struct tm tm;
        time_t sec;

        /* 253402300800 is 10000-01-01T00:00:00Z. */
        if (usec / USEC_PER_SEC >= 253402300800ULL)
                return -ERANGE;

        sec = (time_t) (usec / USEC_PER_SEC);
        if (!gmtime_r(&sec, &tm))
                return -ERANGE;

        int n = snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%06uZ", tm.tm_year + 1900,
                         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                         (unsigned) (usec % USEC_PER_SEC));
        if (n < 0 || (size_t) n >= sizeof(buf))
                return -ERANGE;

        char *s = strdup(buf);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

/* Reads exactly n decimal digits. */
static bool parse_digits(const char **p, unsigned n, int *ret) {
        int v = 0;

        for (unsigned i = 0; i < n; i++) {
                char c = (*p)[i];
                if (c < '0' || c > '9')
                        return false;
                v = v * 10 + (c - '0');
        }
        *p += n;
        *ret = v;
        return true;
}

static bool expect_char(const char **p, char c) {
        if (**p != c)
                return false;
        (*p)++;
        return true;
}

static bool is_leap_year(int y) {
        return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int year, int month) {
        static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        return month == 2 && is_leap_year(year) ? 29 : days[month - 1];
}

/* Fraction after '.': at least one digit; digits past the sixth only need to be digits. */
static bool parse_fraction(const char **p, uint64_t *ret) {
        uint64_t frac = 0;
        unsigned n = 0;

        while (**p >= '0' && **p <= '9') {
                if (n < 6)
                        frac = frac * 10 + (uint64_t) (**p - '0');
                n++;
                (*p)++;
        }
        if (n == 0)
                return false;
        for (; n < 6; n++)
                frac *= 10;
        *ret = frac;
        return true;
}

/* "Z" or "+hh:mm"/"-hh:mm" -> seconds east of UTC. */
static bool parse_offset(const char **p, int64_t *ret) {
        int sign, hh, mm;

        if (**p == 'Z' || **p == 'z') {
                (*p)++;
                *ret = 0;
                return true;
        }
        if (**p != '+' && **p != '-')
                return false;
        sign = **p == '-' ? -1 : 1;
        (*p)++;
        if (!parse_digits(p, 2, &hh) || !expect_char(p, ':') || !parse_digits(p, 2, &mm))
                return false;
        if (hh > 23 || mm > 59)
                return false;
        *ret = sign * (int64_t) (hh * 3600 + mm * 60);
        return true;
}

int timestamp_parse_rfc3339(const char *s, uint64_t *ret) {
        int year, month, day, hour, minute, second;
        uint64_t frac = 0;
        int64_t offset;
        const char *p = s;

        if (!s)
                return -EINVAL;

        if (!parse_digits(&p, 4, &year) || !expect_char(&p, '-') || !parse_digits(&p, 2, &month) ||
            !expect_char(&p, '-') || !parse_digits(&p, 2, &day))
                return -EINVAL;
        if (*p != 'T' && *p != 't' && *p != ' ')
                return -EINVAL;
        p++;
        if (!parse_digits(&p, 2, &hour) || !expect_char(&p, ':') || !parse_digits(&p, 2, &minute) ||
            !expect_char(&p, ':') || !parse_digits(&p, 2, &second))
                return -EINVAL;
        if (*p == '.' || *p == ',') {
                p++;
                if (!parse_fraction(&p, &frac))
                        return -EINVAL;
        }
        if (!parse_offset(&p, &offset) || *p != '\0')
                return -EINVAL;

        /* Leap seconds (:60) are not accepted: nothing we record ever carries one. */
        if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) || hour > 23 ||
            minute > 59 || second > 59)
                return -EINVAL;

        struct tm tm = {
                .tm_year = year - 1900,
                .tm_mon = month - 1,
                .tm_mday = day,
                .tm_hour = hour,
                .tm_min = minute,
                .tm_sec = second,
        };
        time_t t = timegm(&tm);
        if (t == (time_t) -1 && year != 1969)
                return -ERANGE;

        int64_t utc = (int64_t) t - offset;
        if (utc < 0)
                return -ERANGE;

        *ret = (uint64_t) utc * USEC_PER_SEC + frac;
        return 0;
}
