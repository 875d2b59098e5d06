/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* NULL-terminated string arrays (strv): length, lookup, copy, append; strv_free() is in macro.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "strv-util.h"

size_t strv_length(char *const *l) {
        size_t n = 0;

        for (; l && l[n]; n++)
                ;
        return n;
}

bool strv_contains(char *const *l, const char *s) {
        for (char *const *i = l; i && *i; i++)
                if (streq(*i, s))
                        return true;
        return false;
}

bool strv_equal(char *const *a, char *const *b) {
        size_t n = strv_length(a);

        if (n != strv_length(b))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!streq(a[i], b[i]))
                        return false;
        return true;
}

int strv_copy(char *const *l, char ***ret) {
        _cleanup_strv_free_ char **n = NULL;
        size_t len;

        if (!l) {
                *ret = NULL;
                return 0;
        }
        len = strv_length(l);
        n = calloc(len + 1, sizeof(char *));
        if (!n)
                return -ENOMEM;
        for (size_t i = 0; i < len; i++) {
                n[i] = strdup(l[i]);
                if (!n[i])
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(n);
        return 0;
}

int strv_push(char ***l, char *s) {
        size_t len = strv_length(*l);
        char **n;

        if (len > SIZE_MAX / sizeof(char *) - 2)
                return -ENOMEM;
        n = realloc(*l, (len + 2) * sizeof(char *));
        if (!n)
                return -ENOMEM;
        n[len] = s;
        n[len + 1] = NULL;
        *l = n;
        return 0;
}

int strv_extend(char ***l, const char *s) {
        char *c = strdup(s);
        if (!c)
                return -ENOMEM;
        int r = strv_push(l, c);
        if (r < 0)
                free(c);
        return r;
}

size_t strv_remove(char **l, const char *s) {
        size_t removed = 0;
        char **w = l;

        if (!l)
                return 0;
        for (char **i = l; *i; i++) {
                if (streq(*i, s)) {
                        free(*i);
                        removed++;
                } else
                        *w++ = *i;
        }
        *w = NULL;
        return removed;
}

bool strv_has_duplicates(char *const *l) {
        for (size_t i = 0; l && l[i]; i++)
                for (size_t j = i + 1; l[j]; j++)
                        if (streq(l[i], l[j]))
                                return true;
        return false;
}

static int strv_cmp(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

void strv_sort(char **l) {
        size_t n = strv_length(l);
        if (n > 1)
                qsort(l, n, sizeof(char *), strv_cmp);
}

char *strv_join(char *const *l, const char *separator) {
        size_t n = 1, k = strlen(separator);
        for (char *const *i = l; i && *i; i++)
                n += strlen(*i) + k;
        char *s = malloc(n), *p = s;
        if (!s)
                return NULL;
        *p = '\0';
        for (char *const *i = l; i && *i; i++) {
                if (i != l)
                        p = stpcpy(p, separator);
                p = stpcpy(p, *i);
        }
        return s;
}

int strv_extend_many(char ***l, ...) {
        va_list ap;
        int r = 0;
        va_start(ap, l);
        for (const char *s = va_arg(ap, const char *); s && r >= 0; s = va_arg(ap, const char *))
                r = strv_extend(l, s);
        va_end(ap);
        return r;
}

int strv_extendf(char ***l, const char *format, ...) {
        va_list ap;
        char *s;
        va_start(ap, format);
        int k = vasprintf(&s, format, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;
        int r = strv_push(l, s);
        if (r < 0)
                free(s);
        return r;
}
