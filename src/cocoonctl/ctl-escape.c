/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The console escape sequence (escape byte, then '.'): parsing the option and filtering keyboard input. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ctl-escape.h"

static bool escape_char_is_usable(uint8_t c) {
        return c != 0 && c != '\r' && c != '\n' && c < 0x7F;
}

int escape_char_parse(const char *s, uint8_t *ret) {
        uint8_t c;

        if (!s || !ret)
                return -EINVAL;
        if (strlen(s) == 1)
                c = (uint8_t) s[0];
        else if (strlen(s) == 2 && s[0] == '^') {
                uint8_t x = (uint8_t) s[1];
                if (x >= 'a' && x <= 'z')
                        x = (uint8_t) (x - 'a' + 'A');
                if (x < '@' || x > '_')
                        return -EINVAL;
                c = (uint8_t) (x - '@');
        } else
                return -EINVAL;

        if (!escape_char_is_usable(c))
                return -EINVAL;
        *ret = c;
        return 0;
}

const char *escape_char_format(uint8_t c, char buf[static ESCAPE_CHAR_FORMAT_MAX]) {
        if (c >= 0x01 && c <= 0x1F) {
                buf[0] = '^';
                buf[1] = (char) (c + '@');
                buf[2] = '\0';
        } else {
                buf[0] = (char) c;
                buf[1] = '\0';
        }
        return buf;
}

void escape_filter_init(EscapeFilter *f, uint8_t escape) {
        *f = (EscapeFilter) { .escape = escape };
}

int escape_filter_feed(EscapeFilter *f, const uint8_t *in, size_t size, uint8_t *out, size_t *ret_out_size) {
        size_t n = 0;

        for (size_t i = 0; i < size; i++) {
                uint8_t c = in[i];

                if (f->pending) {
                        f->pending = false;
                        if (c == '.') {
                                *ret_out_size = n;
                                return 1;
                        }
                        /* Not the sequence after all: the held-back byte was meant for the guest. */
                        out[n++] = f->escape;
                        out[n++] = c;
                        continue;
                }
                if (c == f->escape)
                        f->pending = true;
                else
                        out[n++] = c;
        }
        *ret_out_size = n;
        return 0;
}

size_t escape_filter_flush(EscapeFilter *f, uint8_t *out) {
        if (!f->pending)
                return 0;
        f->pending = false;
        out[0] = f->escape;
        return 1;
}
