/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A small text table for people: columns padded by two spaces, header in capitals. */
#pragma once

#include <stddef.h>

#include "macro.h"

typedef struct Table Table;

int table_new(Table **ret, const char *const *headers, size_t n_columns);
Table *table_free(Table *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(Table *, table_free);
/* Adds one row; `cells` has n_columns entries (NULL is printed as "-"). Cells are copied. */
int table_add_row(Table *t, const char *const *cells);
size_t table_rows(const Table *t);
int table_print(const Table *t);
