/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Progress of a long operation as people read it: "12.0M / 1.0G (1%)". */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Longest output of ctl_format_progress() plus NUL. */
#define CTL_PROGRESS_MAX 96

/* "DONE / TOTAL (P%)" in buf, or "DONE" when total is not known (<= 0); the share stays at most 100 % even
 * when a file grew during the copy. NULL (nothing to show) when done < 0. */
const char *ctl_format_progress(int64_t done, int64_t total, char buf[static CTL_PROGRESS_MAX]);
