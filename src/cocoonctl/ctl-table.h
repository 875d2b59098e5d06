/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A small text table for people: columns padded by two spaces, header in capitals, fitted to a width. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "macro.h"

typedef struct Table Table;

int table_new(Table **ret, const char *const *headers, size_t n_columns);
Table *table_free(Table *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(Table *, table_free);
/* Adds one row; `cells` has n_columns entries (NULL is printed as "-"). Cells are copied. */
int table_add_row(Table *t, const char *const *cells);
size_t table_rows(const Table *t);

/* Whether the header line is printed (default: yes). */
void table_set_header(Table *t, bool header);
/* The width the table should fit in (0: no limit, the default). When it is wider, the shrinkable column
 * is narrowed (not below its header, nor below TABLE_SHRINK_MIN) and its longer cells end in an
 * ellipsis; the other columns stay whole, so a table may still be wider than this. */
void table_set_width(Table *t, size_t width);
#define TABLE_SHRINK_MIN 8
/* The column narrowed to fit (SIZE_MAX: none, the default). */
void table_set_shrinkable(Table *t, size_t column);
/* "…" (UTF-8) or "..." (anything else). Default "…". */
void table_set_ellipsis(Table *t, const char *ellipsis);

int table_print(const Table *t);
int table_print_to(const Table *t, FILE *f);

/* The width tables get: the terminal's columns when stdout is one (TIOCGWINSZ), else $COLUMNS when set to
 * a positive number, else 0 (no limit: a pipe gets whole lines). */
size_t table_output_width(void);
