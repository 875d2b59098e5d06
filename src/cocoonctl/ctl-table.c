/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A small text table for people: columns padded by two spaces, header in capitals, fitted to a width. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "ctl-table.h"
#include "parse-util.h"

/* Cells live back to back in one buffer (a list of 10,000 VMs has 70,000 of them: one allocation each cost
 * more than the rest of the table). */
struct Table {
        size_t n_columns;
        size_t n_cells; /* header included */
        size_t n_allocated;
        size_t *offsets; /* row-major, into text */
        size_t *width; /* per column, of the rows below the header */
        size_t *header_width;
        char *text;
        size_t text_size, text_allocated;

        bool no_header;
        size_t max_width; /* 0: no limit */
        size_t shrinkable; /* SIZE_MAX: none */
        const char *ellipsis;
};

Table *table_free(Table *t) {
        if (!t)
                return NULL;
        free(t->offsets);
        free(t->width);
        free(t->header_width);
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
                /* A cell is one line of text: a newline would break the table, an escape sequence in
                 * text from elsewhere (an error reason) would reach the terminal. */
                for (char *c = t->text + t->text_size; *c; c++)
                        if ((unsigned char) *c < 0x20 || *c == 0x7f)
                                *c = ' ';
                if (t->n_cells < t->n_columns)
                        t->header_width[i] = n;
                else
                        t->width[i] = MAX(t->width[i], n);
                t->offsets[t->n_cells++] = t->text_size;
                t->text_size += n + 1;
        }
        return 0;
}

int table_new(Table **ret, const char *const *headers, size_t n_columns) {
        _cleanup_(table_freep) Table *t = calloc(1, sizeof(Table));
        if (!t || !(t->width = calloc(n_columns, sizeof(size_t))) ||
            !(t->header_width = calloc(n_columns, sizeof(size_t))))
                return -ENOMEM;
        t->n_columns = n_columns;
        t->shrinkable = SIZE_MAX;
        t->ellipsis = "…";
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

void table_set_header(Table *t, bool header) {
        t->no_header = !header;
}

void table_set_width(Table *t, size_t width) {
        t->max_width = width;
}

void table_set_shrinkable(Table *t, size_t column) {
        t->shrinkable = column < t->n_columns ? column : SIZE_MAX;
}

void table_set_ellipsis(Table *t, const char *ellipsis) {
        t->ellipsis = ellipsis;
}

/* The width of every column as printed: its widest cell (the header's too, if printed), the shrinkable one
 * narrowed as far as needed and allowed to fit max_width. */
static void column_widths(const Table *t, size_t *widths) {
        size_t total = 0;
        for (size_t i = 0; i < t->n_columns; i++) {
                widths[i] = t->no_header ? t->width[i] : MAX(t->width[i], t->header_width[i]);
                total += widths[i] + (i + 1 < t->n_columns ? 2 : 0);
        }
        if (t->max_width == 0 || total <= t->max_width || t->shrinkable == SIZE_MAX)
                return;
        size_t c = t->shrinkable, excess = total - t->max_width;
        size_t floor = MAX(t->no_header ? 0 : t->header_width[c], (size_t) TABLE_SHRINK_MIN);
        if (widths[c] <= floor)
                return;
        widths[c] = widths[c] - floor > excess ? widths[c] - excess : floor;
}

static void pad(FILE *f, size_t n) {
        static const char spaces[] = "                                ";
        while (n > 0) {
                size_t k = MIN(n, sizeof(spaces) - 1);
                fwrite_unlocked(spaces, 1, k, f);
                n -= k;
        }
}

int table_print_to(const Table *t, FILE *f) {
        _cleanup_free_ size_t *widths = calloc(t->n_columns, sizeof(size_t));
        size_t ellipsis_bytes = strlen(t->ellipsis);
        /* "…" is one column in three bytes; "..." three in three. Cells are ASCII (names, ids, states). */
        size_t ellipsis_columns = streq(t->ellipsis, "…") ? 1 : ellipsis_bytes;

        if (!widths)
                return -ENOMEM;
        column_widths(t, widths);
        for (size_t i = t->no_header ? t->n_columns : 0; i < t->n_cells; i++) {
                size_t column = i % t->n_columns;
                const char *s = t->text + t->offsets[i];
                size_t n = strlen(s), shown = n;

                if (n > widths[column] && widths[column] > ellipsis_columns) {
                        fwrite_unlocked(s, 1, widths[column] - ellipsis_columns, f);
                        fwrite_unlocked(t->ellipsis, 1, ellipsis_bytes, f);
                        shown = widths[column];
                } else
                        fwrite_unlocked(s, 1, n, f);
                if (column == t->n_columns - 1) {
                        putc_unlocked('\n', f);
                        continue;
                }
                pad(f, widths[column] - MIN(shown, widths[column]) + 2);
        }
        return 0;
}

int table_print(const Table *t) {
        return table_print_to(t, stdout);
}

size_t table_output_width(void) {
        struct winsize ws = {};
        const char *e;
        uint64_t columns;

        if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) >= 0 && ws.ws_col > 0)
                return ws.ws_col;
        e = getenv("COLUMNS");
        if (e && parse_uint64(e, &columns) >= 0 && columns > 0 && columns <= 100000)
                return (size_t) columns;
        return 0;
}
