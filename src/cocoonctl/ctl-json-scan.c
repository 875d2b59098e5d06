/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reading big replies without building a json-c tree: validation, iteration, json-c-identical pretty output.
 * A list of 10,000 VMs parsed into json-c objects cost the client most of its time (a hash table allocated
 * per object); scanning the text costs a fraction of that. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "ctl-json-scan.h"
#include "macro.h"

static bool is_ws(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static const char *skip_ws(const char *p, const char *end) {
        while (p < end && is_ws(*p))
                p++;
        return p;
}

static int hex_value(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

static int read_hex4(const char *p, const char *end) {
        if (end - p < 4)
                return -1;
        int v = 0;
        for (int i = 0; i < 4; i++) {
                int h = hex_value(p[i]);
                if (h < 0)
                        return -1;
                v = v << 4 | h;
        }
        return v;
}

/* Length of the well-formed UTF-8 sequence at p (RFC 3629: no overlongs, no surrogates), 0 if there is none.
 */
static size_t utf8_length(const unsigned char *p, const unsigned char *end) {
        size_t n;
        uint32_t min, c;
        if (p[0] < 0x80)
                return 1;
        if ((p[0] & 0xe0) == 0xc0)
                n = 2, min = 0x80, c = p[0] & 0x1f;
        else if ((p[0] & 0xf0) == 0xe0)
                n = 3, min = 0x800, c = p[0] & 0x0f;
        else if ((p[0] & 0xf8) == 0xf0)
                n = 4, min = 0x10000, c = p[0] & 0x07;
        else
                return 0;
        if ((size_t) (end - p) < n)
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((p[i] & 0xc0) != 0x80)
                        return 0;
                c = c << 6 | (p[i] & 0x3f);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
                return 0;
        return n;
}

/* p is at the opening quote; returns the byte after the closing one, NULL if malformed. */
static const char *scan_string(const char *p, const char *end) {
        for (p++; p < end;) {
                /* Most bytes are plain ASCII: through them in a tight loop. */
                while (p < end && (unsigned char) *p >= 0x20 && (unsigned char) *p < 0x80 && *p != '"' &&
                       *p != '\\')
                        p++;
                if (p >= end)
                        break;
                unsigned char c = (unsigned char) *p;
                if (c == '"')
                        return p + 1;
                if (c < 0x20)
                        return NULL;
                if (c == '\\') {
                        if (end - p < 2)
                                return NULL;
                        switch (p[1]) {
                        case '"':
                        case '\\':
                        case '/':
                        case 'b':
                        case 'f':
                        case 'n':
                        case 'r':
                        case 't':
                                p += 2;
                                continue;
                        case 'u': {
                                int v = read_hex4(p + 2, end);
                                if (v <= 0) /* malformed, or NUL, which no Varlink string may hold */
                                        return NULL;
                                p += 6;
                                continue;
                        }
                        default:
                                return NULL;
                        }
                }
                size_t n = utf8_length((const unsigned char *) p, (const unsigned char *) end);
                if (n == 0)
                        return NULL;
                p += n;
        }
        return NULL;
}

static const char *scan_digits(const char *p, const char *end) {
        const char *start = p;
        while (p < end && *p >= '0' && *p <= '9')
                p++;
        return p > start ? p : NULL;
}

static const char *scan_number(const char *p, const char *end) {
        if (p < end && *p == '-')
                p++;
        if (p < end && *p == '0')
                p++;
        else if (!(p = scan_digits(p, end)))
                return NULL;
        if (p < end && *p == '.' && !(p = scan_digits(p + 1, end)))
                return NULL;
        if (p < end && (*p == 'e' || *p == 'E')) {
                p++;
                if (p < end && (*p == '+' || *p == '-'))
                        p++;
                if (!(p = scan_digits(p, end)))
                        return NULL;
        }
        return p;
}

static const char *scan_literal(const char *p, const char *end, const char *word) {
        size_t n = strlen(word);
        return (size_t) (end - p) >= n && memcmp(p, word, n) == 0 ? p + n : NULL;
}

static bool keys_equal(JsonSpan a, JsonSpan b);

/* Keys seen in one object so far: a repeated one makes the message invalid, as the Varlink layer's parser
 * has it (json-c would keep the last of two). Most objects have a handful of keys: those stay on the stack.
 */
typedef struct KeySet {
        JsonSpan fixed[32];
        JsonSpan *keys;
        size_t n, allocated;
} KeySet;

static int key_set_add(KeySet *set, JsonSpan key) {
        for (size_t i = 0; i < set->n; i++)
                if (keys_equal(set->keys[i], key))
                        return -EEXIST;
        if (set->n == set->allocated) {
                size_t n = set->allocated * 2;
                JsonSpan *k = set->keys == set->fixed ? malloc(n * sizeof(JsonSpan))
                                                      : reallocarray(set->keys, n, sizeof(JsonSpan));
                if (!k)
                        return -ENOMEM;
                if (set->keys == set->fixed)
                        memcpy(k, set->fixed, sizeof(set->fixed));
                set->keys = k;
                set->allocated = n;
        }
        set->keys[set->n++] = key;
        return 0;
}

static void key_set_done(KeySet *set) {
        if (set->keys != set->fixed)
                free(set->keys);
}

static const char *scan_value(const char *p, const char *end, unsigned depth);

static const char *scan_object(const char *p, const char *end, unsigned depth) {
        KeySet set = {.n = 0, .allocated = ELEMENTSOF(set.fixed)};
        set.keys = set.fixed;
        const char *q;

        p = skip_ws(p + 1, end);
        if (p < end && *p == '}')
                return p + 1;
        for (;;) {
                if (p >= end || *p != '"' || !(q = scan_string(p, end)) ||
                    key_set_add(&set, (JsonSpan){p + 1, (size_t) (q - p - 2)}) < 0)
                        break;
                p = skip_ws(q, end);
                if (p >= end || *p != ':')
                        break;
                if (!(p = scan_value(skip_ws(p + 1, end), end, depth + 1)))
                        break;
                p = skip_ws(p, end);
                if (p >= end)
                        break;
                if (*p == '}') {
                        key_set_done(&set);
                        return p + 1;
                }
                if (*p != ',')
                        break;
                p = skip_ws(p + 1, end);
        }
        key_set_done(&set);
        return NULL;
}

/* p is at a value (no leading whitespace); returns the byte after it, NULL if malformed. */
static const char *scan_value(const char *p, const char *end, unsigned depth) {
        if (p >= end)
                return NULL;
        if ((*p == '{' || *p == '[') && depth >= JSON_SCAN_DEPTH_MAX)
                return NULL;
        switch (*p) {
        case '{':
                return scan_object(p, end, depth);
        case '[': {
                p = skip_ws(p + 1, end);
                if (p < end && *p == ']')
                        return p + 1;
                for (;;) {
                        if (!(p = scan_value(p, end, depth + 1)))
                                return NULL;
                        p = skip_ws(p, end);
                        if (p >= end)
                                return NULL;
                        if (*p == ']')
                                return p + 1;
                        if (*p != ',')
                                return NULL;
                        p = skip_ws(p + 1, end);
                }
        }
        case '"':
                return scan_string(p, end);
        case 't':
                return scan_literal(p, end, "true");
        case 'f':
                return scan_literal(p, end, "false");
        case 'n':
                return scan_literal(p, end, "null");
        default:
                return scan_number(p, end);
        }
}

int json_scan_validate(const char *text, size_t size) {
        const char *end = text + size;
        const char *p = scan_value(skip_ws(text, end), end, 0);
        return p && skip_ws(p, end) == end ? 0 : -EBADMSG;
}

/* Skipping over validated text: strings by their quotes, containers by counting brackets. */
static const char *skip_string(const char *p, const char *end) {
        for (p++; p < end;) {
                while (p < end && *p != '"' && *p != '\\')
                        p++;
                if (p >= end)
                        break;
                if (*p == '"')
                        return p + 1;
                p += 2;
        }
        return end;
}

static const char *skip_value(const char *p, const char *end) {
        if (p >= end)
                return end;
        if (*p == '"')
                return skip_string(p, end);
        if (*p != '{' && *p != '[') {
                while (p < end && *p != ',' && *p != ']' && *p != '}' && !is_ws(*p))
                        p++;
                return p;
        }
        for (size_t depth = 0; p < end;) {
                char c = *p;
                if (c == '"') {
                        p = skip_string(p, end);
                        continue;
                }
                if (c == '{' || c == '[')
                        depth++;
                else if ((c == '}' || c == ']') && --depth == 0)
                        return p + 1;
                p++;
        }
        return end;
}

int json_iter_init(JsonIter *it, JsonSpan span, bool object) {
        if (span.n < 2 || span.p[0] != (object ? '{' : '['))
                return -EINVAL;
        *it = (JsonIter){
                .p = skip_ws(span.p + 1, span.p + span.n), .end = span.p + span.n - 1, .object = object};
        return 0;
}

int json_iter_next(JsonIter *it, JsonSpan *ret_key, JsonSpan *ret_value) {
        const char *p = skip_ws(it->p, it->end), *q;
        if (p >= it->end)
                return 0;
        if (*p == ',')
                p = skip_ws(p + 1, it->end);
        if (it->object) {
                if (*p != '"')
                        return -EBADMSG;
                q = skip_string(p, it->end);
                if (ret_key)
                        *ret_key = (JsonSpan){p + 1, (size_t) (q - p - 2)};
                p = skip_ws(q, it->end);
                if (p >= it->end || *p != ':')
                        return -EBADMSG;
                p = skip_ws(p + 1, it->end);
        }
        if (p >= it->end)
                return -EBADMSG;
        q = skip_value(p, it->end);
        if (ret_value)
                *ret_value = (JsonSpan){p, (size_t) (q - p)};
        it->p = q;
        return 1;
}

/* Appends the code point c as UTF-8. */
static size_t utf8_encode(uint32_t c, char *out) {
        if (c < 0x80) {
                out[0] = (char) c;
                return 1;
        }
        if (c < 0x800) {
                out[0] = (char) (0xc0 | c >> 6);
                out[1] = (char) (0x80 | (c & 0x3f));
                return 2;
        }
        if (c < 0x10000) {
                out[0] = (char) (0xe0 | c >> 12);
                out[1] = (char) (0x80 | (c >> 6 & 0x3f));
                out[2] = (char) (0x80 | (c & 0x3f));
                return 3;
        }
        out[0] = (char) (0xf0 | c >> 18);
        out[1] = (char) (0x80 | (c >> 12 & 0x3f));
        out[2] = (char) (0x80 | (c >> 6 & 0x3f));
        out[3] = (char) (0x80 | (c & 0x3f));
        return 4;
}

/* Decodes one character of a string's body at *p (a validated string) into out; returns its byte count. */
static size_t unescape_one(const char **p, const char *end, char out[4]) {
        const char *s = *p;
        if (*s != '\\') {
                out[0] = *s;
                *p = s + 1;
                return 1;
        }
        static const char simple[] = {['"'] = '"',  ['\\'] = '\\', ['/'] = '/',  ['b'] = '\b',
                                      ['f'] = '\f', ['n'] = '\n',  ['r'] = '\r', ['t'] = '\t'};
        if (s[1] != 'u') {
                out[0] = simple[(unsigned char) s[1]];
                *p = s + 2;
                return 1;
        }
        uint32_t c = (uint32_t) read_hex4(s + 2, end);
        *p = s + 6;
        if (c >= 0xd800 && c <= 0xdbff) {
                int low = end - *p >= 6 && (*p)[0] == '\\' && (*p)[1] == 'u' ? read_hex4(*p + 2, end) : -1;
                if (low >= 0xdc00 && low <= 0xdfff) {
                        c = 0x10000 + ((c - 0xd800) << 10) + ((uint32_t) low - 0xdc00);
                        *p += 6;
                } else
                        c = 0xfffd; /* a lone surrogate: json-c substitutes the replacement character */
        } else if (c >= 0xdc00 && c <= 0xdfff)
                c = 0xfffd;
        return utf8_encode(c, out);
}

bool json_key_equal(JsonSpan raw, const char *key) {
        size_t n = strlen(key);
        if (!memchr(raw.p, '\\', raw.n))
                return raw.n == n && memcmp(raw.p, key, n) == 0;
        const char *p = raw.p, *end = raw.p + raw.n;
        for (size_t i = 0; p < end;) {
                char c[4];
                size_t k = unescape_one(&p, end, c);
                if (i + k > n || memcmp(key + i, c, k) != 0)
                        return false;
                i += k;
                if (p == end)
                        return i == n;
        }
        return n == 0;
}

/* Unescapes a raw key into buf, which holds raw.n bytes (decoding never makes it longer). */
static size_t unescape_key(JsonSpan raw, char *buf) {
        const char *p = raw.p, *end = raw.p + raw.n;
        size_t n = 0;
        while (p < end)
                n += unescape_one(&p, end, buf + n);
        return n;
}

static bool keys_equal(JsonSpan a, JsonSpan b) {
        if (!memchr(a.p, '\\', a.n) && !memchr(b.p, '\\', b.n))
                return a.n == b.n && memcmp(a.p, b.p, a.n) == 0;
        /* \u escapes need up to 4 bytes of room while they are decoded: keep 4 spare. */
        _cleanup_free_ char *x = malloc(a.n + 4), *y = malloc(b.n + 4);
        if (!x || !y)
                return true; /* cannot tell: refuse the message rather than miss a repeated key */
        size_t m = unescape_key(a, x), n = unescape_key(b, y);
        return m == n && memcmp(x, y, m) == 0;
}

int json_object_find(JsonSpan object, const char *key, JsonSpan *ret) {
        JsonIter it;
        JsonSpan k, v;
        bool found = false;
        int r;

        if ((r = json_iter_init(&it, object, true)) < 0)
                return r;
        while ((r = json_iter_next(&it, &k, &v)) > 0)
                if (json_key_equal(k, key)) {
                        *ret = v;
                        found = true;
                }
        if (r < 0)
                return r;
        return found ? 0 : -ENOENT;
}

int json_span_string(JsonSpan value, char *buf, size_t size) {
        if (value.n < 2 || value.p[0] != '"')
                return -EINVAL;
        const char *p = value.p + 1, *end = value.p + value.n - 1;
        size_t i = 0;
        while (p < end) {
                char c[4];
                size_t k = unescape_one(&p, end, c);
                if (i + k >= size)
                        return -ENOBUFS;
                memcpy(buf + i, c, k);
                i += k;
        }
        if (size == 0)
                return -ENOBUFS;
        buf[i] = '\0';
        return 0;
}

int json_span_int64(JsonSpan value, int64_t *ret) {
        char buf[24];
        if (value.n == 0 || value.n >= sizeof(buf) || memchr(value.p, '.', value.n) ||
            memchr(value.p, 'e', value.n) || memchr(value.p, 'E', value.n) ||
            !(value.p[0] == '-' || (value.p[0] >= '0' && value.p[0] <= '9')))
                return -EINVAL;
        memcpy(buf, value.p, value.n);
        buf[value.n] = '\0';
        char *e;
        errno = 0;
        long long v = strtoll(buf, &e, 10);
        if (*e != '\0')
                return -EINVAL;
        if (errno == ERANGE)
                return -ERANGE;
        *ret = (int64_t) v;
        return 0;
}

/* The escapes json-c writes (json_escape_str() with JSON_C_TO_STRING_NOSLASHESCAPE). */
static void print_string(FILE *f, JsonSpan value) {
        static const char hex[] = "0123456789abcdef";
        const char *p = value.p + 1, *end = value.p + value.n - 1;
        putc_unlocked('"', f);
        while (p < end) {
                /* Runs without escapes go out in one piece. */
                const char *run = p;
                while (p < end && *p != '\\' && *p != '"' && (unsigned char) *p >= 0x20)
                        p++;
                if (p > run)
                        fwrite_unlocked(run, 1, (size_t) (p - run), f);
                if (p >= end)
                        break;
                char c[4];
                size_t k = unescape_one(&p, end, c);
                for (size_t i = 0; i < k; i++) {
                        unsigned char u = (unsigned char) c[i];
                        switch (u) {
                        case '\b':
                                fputs_unlocked("\\b", f);
                                break;
                        case '\n':
                                fputs_unlocked("\\n", f);
                                break;
                        case '\r':
                                fputs_unlocked("\\r", f);
                                break;
                        case '\t':
                                fputs_unlocked("\\t", f);
                                break;
                        case '\f':
                                fputs_unlocked("\\f", f);
                                break;
                        case '"':
                                fputs_unlocked("\\\"", f);
                                break;
                        case '\\':
                                fputs_unlocked("\\\\", f);
                                break;
                        default:
                                if (u < 0x20) {
                                        fputs_unlocked("\\u00", f);
                                        putc_unlocked(hex[u >> 4], f);
                                        putc_unlocked(hex[u & 0xf], f);
                                } else
                                        putc_unlocked((char) u, f);
                        }
                }
        }
        putc_unlocked('"', f);
}

static void print_indent(FILE *f, unsigned level) {
        static const char spaces[] = "                                                                ";
        for (size_t n = (size_t) level * 2; n > 0;) {
                size_t k = MIN(n, sizeof(spaces) - 1);
                fwrite_unlocked(spaces, 1, k, f);
                n -= k;
        }
}

/* json-c prints integers it parsed in canonical form; doubles as they were written. */
static void print_number(FILE *f, JsonSpan value) {
        int64_t v;
        if (json_span_int64(value, &v) >= 0)
                fprintf(f, "%" PRId64, v);
        else
                fwrite_unlocked(value.p, 1, value.n, f);
}

static int print_value(FILE *f, JsonSpan value, unsigned level) {
        JsonIter it;
        JsonSpan k, v;
        bool had_children = false;
        int r;

        switch (value.p[0]) {
        case '{':
        case '[': {
                bool object = value.p[0] == '{';
                if ((r = json_iter_init(&it, value, object)) < 0)
                        return r;
                fputs_unlocked(object ? "{\n" : "[\n", f);
                while ((r = json_iter_next(&it, &k, &v)) > 0) {
                        if (had_children)
                                fputs_unlocked(",\n", f);
                        had_children = true;
                        print_indent(f, level + 1);
                        if (object) {
                                print_string(f, (JsonSpan){k.p - 1, k.n + 2});
                                fputs_unlocked(": ", f);
                        }
                        if ((r = print_value(f, v, level + 1)) < 0)
                                return r;
                }
                if (r < 0)
                        return r;
                if (had_children)
                        putc_unlocked('\n', f);
                print_indent(f, level);
                putc_unlocked(object ? '}' : ']', f);
                return 0;
        }
        case '"':
                print_string(f, value);
                return 0;
        case 't':
        case 'f':
        case 'n':
                fwrite_unlocked(value.p, 1, value.n, f);
                return 0;
        default:
                print_number(f, value);
                return 0;
        }
}

int json_span_print_pretty(FILE *f, JsonSpan value) {
        if (value.n == 0)
                return -EINVAL;
        int r = print_value(f, value, 0);
        if (r < 0)
                return r;
        putc_unlocked('\n', f);
        return 0;
}
