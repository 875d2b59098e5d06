/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A small text table for people: columns padded by two spaces, header in capitals. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl-table.h"

struct Table {
        size_t n_columns;
        size_t n_cells;     /* header included */
        size_t n_allocated;
        char **cells;       /* row-major */
};

Table *table_free(Table *t) {
        if (!t)
                return NULL;
        for (size_t i = 0; i < t->n_cells; i++)
                free(t->cells[i]);
        free(t->cells);
        return mfree(t);
}

static int table_append_row(Table *t, const char *const *cells) {
        if (t->n_cells + t->n_columns > t->n_allocated) {
                size_t n = MAX(t->n_allocated * 2, t->n_cells + t->n_columns + 16);
                char **c = reallocarray(t->cells, n, sizeof(char *));
                if (!c)
                        return -ENOMEM;
                t->cells = c;
                t->n_allocated = n;
        }
        for (size_t i = 0; i < t->n_columns; i++) {
                char *s = strdup(cells[i] ?: "-");
                if (!s)
                        return -ENOMEM;
                t->cells[t->n_cells++] = s;
        }
        return 0;
}

int table_new(Table **ret, const char *const *headers, size_t n_columns) {
        _cleanup_(table_freep) Table *t = calloc(1, sizeof(Table));
        if (!t)
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
        _cleanup_free_ size_t *width = calloc(t->n_columns, sizeof(size_t));
        if (!width)
                return -ENOMEM;
        for (size_t i = 0; i < t->n_cells; i++)
                width[i % t->n_columns] = MAX(width[i % t->n_columns], strlen(t->cells[i]));

        for (size_t i = 0; i < t->n_cells; i++) {
                size_t column = i % t->n_columns;
                bool last = column == t->n_columns - 1;
                if (last)
                        printf("%s\n", t->cells[i]);
                else
                        printf("%-*s  ", (int) width[column], t->cells[i]);
        }
        return 0;
}
