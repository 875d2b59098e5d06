/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Clock reading and RFC 3339 timestamps (UTC, microsecond precision) as used in records. */
#pragma once

#include <stdint.h>
#include <time.h>

#ifndef USEC_PER_SEC
#define USEC_PER_SEC ((uint64_t) 1000000ULL)
#endif
#ifndef USEC_PER_MSEC
#define USEC_PER_MSEC ((uint64_t) 1000ULL)
#endif
#ifndef NSEC_PER_USEC
#define NSEC_PER_USEC ((uint64_t) 1000ULL)
#endif

/* Longest output of timestamp_format_rfc3339() plus NUL: "9999-12-31T23:59:59.999999Z". */
#define RFC3339_MAX (sizeof("9999-12-31T23:59:59.999999Z"))

/* Microseconds on the given clock (CLOCK_REALTIME for records, CLOCK_MONOTONIC for timeouts). */
uint64_t now_usec(clockid_t clock);

/* Microseconds since the epoch -> "YYYY-MM-DDTHH:MM:SS.uuuuuuZ". Always six fraction digits so that the
 * strings sort like the times they name. -ERANGE past year 9999. */
int timestamp_format_rfc3339(uint64_t usec, char **ret);

/* RFC 3339 -> microseconds since the epoch. Accepts 'T'/'t' and ' ' as separator, 'Z'/'z' or a numeric
 * offset, and 0-9 fraction digits (digits past microseconds are truncated). Times before 1970 are -ERANGE,
 * anything malformed is -EINVAL. */
int timestamp_parse_rfc3339(const char *s, uint64_t *ret);
