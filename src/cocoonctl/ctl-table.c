/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A small text table for people: columns padded by two spaces, header in capitals. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl-table.h"

/* Cells live back to back in one buffer (a list of 10,000 VMs has 70,000 of them: one allocation each cost
 * more than the rest of the table). */
struct Table {
        size_t n_columns;
        size_t n_cells; /* header included */
        size_t n_allocated;
        size_t *offsets; /* row-major, into text */
        size_t *width; /* per column */
        char *text;
        size_t text_size, text_allocated;
};

Table *table_free(Table *t) {
        if (!t)
                return NULL;
        free(t->offsets);
        free(t->width);
        free(t->text);
        return mfree(t);
}

static int grow(void **p, size_t *allocated, size_t need, size_t element) {
        if (need <= *allocated)
                return 0;
        size_t n = MAX(*allocated * 2, need + 64);
        void *q = reallocarray(*p, n, element);
        if (!q)
                return -ENOMEM;
        *p = q;
        *allocated = n;
        return 0;
}

static int table_append_row(Table *t, const char *const *cells) {
        size_t n_allocated = t->n_allocated;
        int r = grow((void **) &t->offsets, &n_allocated, t->n_cells + t->n_columns, sizeof(size_t));
        if (r < 0)
                return r;
        t->n_allocated = n_allocated;
        for (size_t i = 0; i < t->n_columns; i++) {
                const char *s = cells[i] ?: "-";
                size_t n = strlen(s);
                if ((r = grow((void **) &t->text, &t->text_allocated, t->text_size + n + 1, 1)) < 0)
                        return r;
                memcpy(t->text + t->text_size, s, n + 1);
                t->offsets[t->n_cells++] = t->text_size;
                t->text_size += n + 1;
                t->width[i] = MAX(t->width[i], n);
        }
        return 0;
}

int table_new(Table **ret, const char *const *headers, size_t n_columns) {
        _cleanup_(table_freep) Table *t = calloc(1, sizeof(Table));
        if (!t || !(t->width = calloc(n_columns, sizeof(size_t))))
                return -ENOMEM;
        t->n_columns = n_columns;
        int r = table_append_row(t, headers);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(t);
        return 0;
}

int table_add_row(Table *t, const char *const *cells) {
        return table_append_row(t, cells);
}

size_t table_rows(const Table *t) {
        return t->n_cells / t->n_columns - 1;
}

int table_print(const Table *t) {
        static const char spaces[] = "                                ";
        for (size_t i = 0; i < t->n_cells; i++) {
                size_t column = i % t->n_columns;
                const char *s = t->text + t->offsets[i];
                size_t n = strlen(s);
                fwrite_unlocked(s, 1, n, stdout);
                if (column == t->n_columns - 1) {
                        putc_unlocked('\n', stdout);
                        continue;
                }
                for (size_t pad = t->width[column] - n + 2; pad > 0;) {
                        size_t k = MIN(pad, sizeof(spaces) - 1);
                        fwrite_unlocked(spaces, 1, k, stdout);
                        pad -= k;
                }
        }
        return 0;
}
