/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The console escape sequence (escape byte, then '.'): parsing the option and filtering keyboard input. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ESCAPE_CHAR_DEFAULT 0x1D /* Ctrl-] */
/* "^]" and the like, plus the NUL. */
#define ESCAPE_CHAR_FORMAT_MAX 3

typedef struct EscapeFilter {
        uint8_t escape;
        bool pending; /* the escape byte was seen and held back, waiting for the next byte */
} EscapeFilter;

/* One character ("x") or caret notation "^@".."^_", "^a".."^z". NUL, CR, LF, DEL and bytes >= 0x80 are
 * refused (-EINVAL): they occur in ordinary input or cannot be typed reliably. */
int escape_char_parse(const char *s, uint8_t *ret);
/* Control bytes as "^X", anything else as itself. Returns buf. */
const char *escape_char_format(uint8_t c, char buf[static ESCAPE_CHAR_FORMAT_MAX]);

void escape_filter_init(EscapeFilter *f, uint8_t escape);
/* Feeds keyboard input. Bytes to forward go to out (room for size + 1 bytes: a held-back escape byte may be
 * released), their count to *ret_out_size. Returns 1 when the escape sequence completed: out holds what
 * came before it, the rest of in is discarded. Returns 0 otherwise. A sequence may span calls. An escape
 * byte followed by anything but '.' is forwarded together with that byte. */
int escape_filter_feed(EscapeFilter *f, const uint8_t *in, size_t size, uint8_t *out, size_t *ret_out_size);
/* At the end of input: releases a held-back escape byte into out (room for 1). Returns the byte count. */
size_t escape_filter_flush(EscapeFilter *f, uint8_t *out);
