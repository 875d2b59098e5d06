/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The TIME of `vm logs --since TIME`: RFC 3339, a local date and time, or a duration ago. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "ctl-since.h"
#include "macro.h"
#include "parse-util.h"
#include "time-util.h"

static const struct {
        char unit;
        uint64_t usec;
} duration_units[] = {
        { 's', USEC_PER_SEC },
        { 'm', 60 * USEC_PER_SEC },
        { 'h', 3600 * USEC_PER_SEC },
        { 'd', 86400 * USEC_PER_SEC },
};

/* "10m": 1 when s is a duration (its value in *ret), 0 when it is not one, < 0 when one out of range. */
static int parse_duration(const char *s, uint64_t *ret) {
        size_t n = strlen(s);
        uint64_t count;

        if (n < 2 || s[0] < '0' || s[0] > '9')
                return 0;
        for (size_t i = 0; i < ELEMENTSOF(duration_units); i++) {
                if (s[n - 1] != duration_units[i].unit)
                        continue;
                char digits[32];
                if (n - 1 >= sizeof(digits))
                        return -ERANGE;
                memcpy(digits, s, n - 1);
                digits[n - 1] = 0;
                int r = parse_uint64(digits, &count);
                if (r < 0)
                        return r == -ERANGE ? r : 0;
                if (count > UINT64_MAX / duration_units[i].usec)
                        return -ERANGE;
                *ret = count * duration_units[i].usec;
                return 1;
        }
        return 0;
}

/* A date and time without a zone: local time, as the operator's clock shows it. */
static int parse_local(const char *s, uint64_t *ret) {
        static const char *const formats[] = {
                "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d",
        };

        for (size_t i = 0; i < ELEMENTSOF(formats); i++) {
                struct tm tm = {};
                const char *end = strptime(s, formats[i], &tm);
                if (!end || *end != '\0')
                        continue;
                tm.tm_isdst = -1;
                time_t t = mktime(&tm);
                if (t == (time_t) -1 || t <= 0)
                        return -ERANGE;
                *ret = (uint64_t) t * USEC_PER_SEC;
                return 0;
        }
        return -EINVAL;
}

int ctl_parse_since(const char *s, uint64_t now_usec, uint64_t *ret) {
        uint64_t usec, ago;
        int r;

        if (!s || !ret)
                return -EINVAL;
        r = parse_duration(s, &ago);
        if (r < 0)
                return r;
        if (r > 0) {
                if (ago >= now_usec)
                        return -ERANGE;
                *ret = now_usec - ago;
                return 0;
        }
        r = timestamp_parse_rfc3339(s, &usec);
        if (r == -EINVAL)
                r = parse_local(s, &usec);
        if (r < 0)
                return r;
        if (usec == 0)
                return -ERANGE; /* 0 means "no --since" on the wire's side */
        *ret = usec;
        return 0;
}
