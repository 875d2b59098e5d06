/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Progress of a long operation as people read it, for cocoonctl ops and image import. */
#include <inttypes.h>
#include <stdio.h>

#include "ctl-progress.h"
#include "macro.h"
#include "parse-util.h"

const char *ctl_format_progress(int64_t done, int64_t total, char buf[static CTL_PROGRESS_MAX]) {
        char d[FORMAT_SIZE_MAX], t[FORMAT_SIZE_MAX];
        int64_t part = MIN(done, total);

        if (done < 0)
                return NULL;
        if (total <= 0) {
                snprintf(buf, CTL_PROGRESS_MAX, "%s", format_size((uint64_t) done, d));
                return buf;
        }
        /* part * 100 would overflow past INT64_MAX / 100 bytes; then a coarser division does. */
        int64_t percent = total > INT64_MAX / 100 ? part / (total / 100) : part * 100 / total;
        snprintf(buf, CTL_PROGRESS_MAX, "%s / %s (%" PRId64 "%%)", format_size((uint64_t) done, d),
                 format_size((uint64_t) total, t), percent);
        return buf;
}
