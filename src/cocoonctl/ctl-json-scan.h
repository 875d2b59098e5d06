/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reading big replies without building a json-c tree: a validating scanner over the reply's text, iterators
 * over objects and arrays, and a printer that writes a value exactly as json-c's pretty printer would. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Nesting limit, as the Varlink layer's parser has. */
#define JSON_SCAN_DEPTH_MAX 64

/* Checks that text[0, size) is exactly one JSON value (RFC 8259: strict grammar, UTF-8 strings, nesting up
 * to JSON_SCAN_DEPTH_MAX) with nothing but whitespace around it. 0 or -EBADMSG. Everything below assumes
 * text that passed this check. */
int json_scan_validate(const char *text, size_t size);

/* Where a value starts and ends; type is its first byte ('{', '[', '"', 't', 'f', 'n' or a number's). */
typedef struct JsonSpan {
        const char *p;
        size_t n;
} JsonSpan;

/* Steps through the members of an object or the elements of an array. */
typedef struct JsonIter {
        const char *p, *end;
        bool object;
} JsonIter;

/* -EINVAL when span is not an object (object) or array (!object). */
int json_iter_init(JsonIter *it, JsonSpan span, bool object);
/* 1 and the next member (ret_key: the raw key between its quotes, still escaped), 0 at the end. */
int json_iter_next(JsonIter *it, JsonSpan *ret_key, JsonSpan *ret_value);

/* Whether a raw key (escaped, as json_iter_next() returns it) spells `key`. */
bool json_key_equal(JsonSpan raw, const char *key);
/* The value of `key` in an object span: 0, -ENOENT, -EINVAL. */
int json_object_find(JsonSpan object, const char *key, JsonSpan *ret);

/* A string value, unescaped, into buf (NUL-terminated; a string with NUL in it or longer than size - 1 is
 * -ENOBUFS). -EINVAL when the value is not a string. */
int json_span_string(JsonSpan value, char *buf, size_t size);
/* An integer value (no fraction, no exponent) that fits int64_t: 0, else -EINVAL / -ERANGE. */
int json_span_int64(JsonSpan value, int64_t *ret);

/* Writes value to f the way json_object_to_json_string_ext(…, JSON_C_TO_STRING_PRETTY |
 * JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE) prints its parsed tree, then a newline. */
int json_span_print_pretty(FILE *f, JsonSpan value);
