/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* NULL-terminated string arrays (strv): length, lookup, copy, append; strv_free() is in macro.h. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

size_t strv_length(char *const *l);
bool strv_contains(char *const *l, const char *s);
bool strv_equal(char *const *a, char *const *b); /* NULL equals empty */
/* A deep copy; NULL stays NULL. */
int strv_copy(char *const *l, char ***ret);
/* Appends a copy of s. */
int strv_extend(char ***l, const char *s);
/* Appends s itself (ownership moves in on success only). */
int strv_push(char ***l, char *s);
/* Appends a copy of every argument up to the terminating NULL. */
int strv_extend_many(char ***l, ...);
/* Appends the formatted string. */
int strv_extendf(char ***l, const char *format, ...) _printf_(2, 3);
/* Removes every entry equal to s; returns how many. */
size_t strv_remove(char **l, const char *s);
/* True if some entry occurs twice. O(n^2): for the short lists in records. */
bool strv_has_duplicates(char *const *l);
/* Sorts in place with strcmp(). */
void strv_sort(char **l);

/* The strings joined by separator ("" for an empty or NULL list); NULL on out of memory. */
char *strv_join(char *const *l, const char *separator);
