/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What a unit's own processes wrote to the journal, read back for error messages. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-journal.h>

#include "strv-util.h"
#include "time-util.h"
#include "unit-journal.h"

/* The MESSAGE= of the current entry as one printable line; NULL when it has none (-ENOMEM aside). */
static int entry_message(sd_journal *j, char **ret) {
        const void *data;
        size_t size;
        int r = sd_journal_get_data(j, "MESSAGE", &data, &size);
        if (r < 0) {
                *ret = NULL;
                return r == -ENOENT ? 0 : r;
        }
        const char *text = (const char *) data + strlen("MESSAGE=");
        size_t n = MIN(size - strlen("MESSAGE="), (size_t) UNIT_JOURNAL_LINE_MAX);
        char *line = strndup(text, n);
        if (!line)
                return -ENOMEM;
        for (char *p = line; *p; p++)
                if ((unsigned char) *p < ' ' || *p == 0x7f)
                        *p = '?';
        *ret = line;
        return 0;
}

/* Reads on from the current position; keeps the last max_lines in ring (max_lines slots used as a ring
 * buffer, *n counting every line seen). */
static int read_entries(sd_journal *j, char **ring, size_t max_lines, size_t *n) {
        int r;
        while ((r = sd_journal_next(j)) > 0) {
                char *line;
                if ((r = entry_message(j, &line)) < 0)
                        return r;
                if (!line)
                        continue;
                free(ring[*n % max_lines]);
                ring[*n % max_lines] = line;
                (*n)++;
        }
        return r;
}

/* The ring's slots, all of them: moved-out ones are NULL, so it is not a strv. */
typedef struct Ring {
        char **slots;
        size_t size;
} Ring;

static void ring_done(Ring *ring) {
        for (size_t i = 0; ring->slots && i < ring->size; i++)
                free(ring->slots[i]);
        free(ring->slots);
}

static int add_match(sd_journal *j, const char *field, const char *value) {
        _cleanup_free_ char *match = NULL;
        if (asprintf(&match, "%s=%s", field, value) < 0)
                return -ENOMEM;
        return sd_journal_add_match(j, match, 0);
}

int unit_journal_tail(const char *unit, const char *invocation_id, uint64_t since_usec, size_t max_lines,
                      uint64_t wait_usec, char ***ret_lines) {
        _cleanup_(sd_journal_closep) sd_journal *j = NULL;
        _cleanup_(ring_done) Ring ring = { .size = max_lines };
        size_t n = 0;
        int r;

        if (!unit || max_lines == 0 || !ret_lines)
                return -EINVAL;
        ring.slots = calloc(max_lines, sizeof(char *));
        if (!ring.slots)
                return -ENOMEM;
        r = sd_journal_open(&j, SD_JOURNAL_LOCAL_ONLY | SD_JOURNAL_SYSTEM);
        if (r < 0)
                return r;
        if ((r = add_match(j, "_SYSTEMD_UNIT", unit)) < 0)
                return r;
        if (invocation_id && invocation_id[0] &&
            (r = add_match(j, "_SYSTEMD_INVOCATION_ID", invocation_id)) < 0)
                return r;
        if ((r = sd_journal_seek_realtime_usec(j, since_usec)) < 0)
                return r;

        uint64_t deadline = now_usec(CLOCK_MONOTONIC) + wait_usec;
        for (;;) {
                if ((r = read_entries(j, ring.slots, max_lines, &n)) < 0)
                        return r;
                uint64_t now = now_usec(CLOCK_MONOTONIC);
                if (n > 0 || now >= deadline)
                        break;
                r = sd_journal_wait(j, deadline - now);
                if (r < 0)
                        return r;
        }

        /* Oldest first. */
        _cleanup_strv_free_ char **lines = NULL;
        size_t first = n > max_lines ? n - max_lines : 0;
        for (size_t i = first; i < n; i++) {
                if ((r = strv_push(&lines, ring.slots[i % max_lines])) < 0)
                        return r;
                ring.slots[i % max_lines] = NULL;
        }
        *ret_lines = TAKE_PTR(lines);
        return 0;
}

char *unit_journal_format(char *const *lines) {
        size_t size = 1;
        for (char *const *l = lines; l && *l; l++)
                size += strlen(*l) + 3;
        char *text = malloc(size), *p = text;
        if (!text)
                return NULL;
        *p = 0;
        for (char *const *l = lines; l && *l; l++)
                p += sprintf(p, "%s  %s", l == lines ? "" : "\n", *l);
        return text;
}
