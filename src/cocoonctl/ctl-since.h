/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The TIME of `vm logs --since TIME`: a timestamp or a duration ago. */
#pragma once

#include <stdint.h>

/* Parses s as RFC 3339 with a zone ("2026-12-06T20:00:00Z", "2026-12-06 20:00:00+01:00"), a local time
 * ("2026-12-06 20:00", "2026-12-06T20:00:30", "2026-12-06": midnight), or a duration before now_usec: a
 * count and s, m, h or d ("90s", "10m", "2h", "1d"). Returns microseconds since the epoch (> 0); -EINVAL
 * for anything else, -ERANGE before 1970-01-01 00:00:01 UTC. */
int ctl_parse_since(const char *s, uint64_t now_usec, uint64_t *ret);
