/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shell completion of cocoonctl: reads a partial command line as cocoonctl's parser would, and lists the
 * verbs, options, option values or names (VMs, images, interfaces, methods) that may come next. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl-complete.h"
#include "macro.h"
#include "strv-util.h"

/* A growing strv: thousands of VM names are appended, strv_extend() would walk the list each time. */
typedef struct Candidates {
        char **l;
        size_t n, size;
} Candidates;

static void candidates_done(Candidates *c) {
        for (size_t i = 0; i < c->n; i++)
                free(c->l[i]);
        c->l = mfree(c->l);
        c->n = c->size = 0;
}

static bool startswith(const char *s, const char *prefix) {
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Appends prefix + word. */
static int candidates_push(Candidates *c, const char *prefix, const char *word) {
        size_t lp = strlen(prefix), lw = strlen(word);
        char *s;

        if (c->n + 2 > c->size) {
                size_t size = MAX((size_t) 16, c->size * 2);
                char **l = realloc(c->l, size * sizeof(char *));
                if (!l)
                        return -ENOMEM;
                c->l = l;
                c->size = size;
        }
        s = malloc(lp + lw + 1);
        if (!s)
                return -ENOMEM;
        memcpy(s, prefix, lp);
        memcpy(s + lp, word, lw + 1);
        c->l[c->n++] = s;
        c->l[c->n] = NULL;
        return 0;
}

/* Appends prefix + word if that starts with `cur`, the word typed so far; `prefix` is the part of `cur`
 * before the value ("--accel=") or "". Words from the table can repeat (aliases, groups) and are checked;
 * names from the manager are unique already. */
static int candidates_add(Candidates *c, const char *prefix, const char *word, const char *cur, bool dedup) {
        size_t lp = strlen(prefix);

        if (!startswith(cur, prefix) || !startswith(word, cur + lp))
                return 0;
        if (dedup)
                for (size_t i = 0; i < c->n; i++)
                        if (startswith(c->l[i], prefix) && streq(c->l[i] + lp, word))
                                return 0;
        return candidates_push(c, prefix, word);
}

/* A name the shell can take as one word: a manager's answer is not trusted to be one. */
static bool word_is_safe(const char *s) {
        if (isempty(s))
                return false;
        for (; *s; s++)
                if ((unsigned char) *s <= ' ' || *s == 0x7f)
                        return false;
        return true;
}

/* The options in effect at one point of the line: before the verb the global ones, after it the verb's
 * own and the global ones it takes too. */
typedef struct OptionSet {
        const CtlOption *a, *b;
        size_t n_a, n_b;
} OptionSet;

static const CtlOption *option_set_get(const OptionSet *s, size_t i) {
        return i < s->n_a ? s->a + i : i - s->n_a < s->n_b ? s->b + (i - s->n_a) : NULL;
}

/* A long option by its name or, as getopt_long accepts, a unique abbreviation. */
static const CtlOption *option_find_long(const OptionSet *s, const char *name, size_t len) {
        const CtlOption *o, *found = NULL;
        size_t n_found = 0;

        for (size_t i = 0; (o = option_set_get(s, i)); i++) {
                if (strncmp(o->name, name, len) != 0)
                        continue;
                if (o->name[len] == '\0')
                        return o;
                found = o;
                n_found++;
        }
        return n_found == 1 ? found : NULL;
}

static const CtlOption *option_find_short(const OptionSet *s, char c) {
        const CtlOption *o;

        for (size_t i = 0; (o = option_set_get(s, i)); i++)
                if (o->short_name == c)
                        return o;
        return NULL;
}

/* What one option word means: *ret_pending is the option whose value is the next word (NULL if none);
 * *ret_value its value when given in the same word ("--address=X", "-aX"). */
static void option_word_parse(const OptionSet *s, const char *w, const CtlOption **ret_option,
                              const CtlOption **ret_pending, const char **ret_value) {
        const CtlOption *o = NULL;

        *ret_option = *ret_pending = NULL;
        *ret_value = NULL;
        if (w[1] == '-') {
                size_t len = strcspn(w + 2, "=");
                o = option_find_long(s, w + 2, len);
                if (!o || !o->metavar)
                        return;
                *ret_option = o;
                if (w[2 + len] == '=')
                        *ret_value = w + 2 + len + 1;
                else
                        *ret_pending = o;
                return;
        }
        /* A cluster of short options: flags, then maybe one taking a value (the rest of the word, or the
         * next word). */
        for (const char *p = w + 1; *p; p++) {
                o = option_find_short(s, *p);
                if (!o || !o->metavar)
                        continue;
                *ret_option = o;
                if (p[1])
                        *ret_value = p + 1;
                else
                        *ret_pending = o;
                return;
        }
}

static CtlCompleteKind kind_of_word(const CtlCompleteVerb *v, const char *word, size_t len) {
        if (len == 3 && strncmp(word, "REF", 3) == 0) {
                if (v->group && streq(v->group, "vm"))
                        return CTL_COMPLETE_VM;
                if (v->group && streq(v->group, "image"))
                        return CTL_COMPLETE_IMAGE;
                return CTL_COMPLETE_NOTHING;
        }
        if (len == 2 && strncmp(word, "VM", 2) == 0)
                return CTL_COMPLETE_VM;
        if (len == 5 && strncmp(word, "IMAGE", 5) == 0)
                return CTL_COMPLETE_IMAGE;
        if (len == 9 && strncmp(word, "INTERFACE", 9) == 0)
                return CTL_COMPLETE_INTERFACE;
        if (len == 6 && strncmp(word, "METHOD", 6) == 0)
                return CTL_COMPLETE_METHOD;
        return CTL_COMPLETE_NOTHING;
}

CtlCompleteKind ctl_complete_argument_kind(const CtlCompleteVerb *v, unsigned index) {
        const char *p = v->usage, *last = NULL;
        size_t skip = v->group ? 2 : 1, last_len = 0;
        bool in_option = false, last_repeats = false;
        unsigned i = 0;

        while (p && *p) {
                size_t len = strcspn(p, " ");
                const char *tok = p, *end = p + len;

                p = *end ? end + 1 : end;
                if (len == 0)
                        continue;
                if (skip > 0) { /* the verb's own words */
                        skip--;
                        continue;
                }
                /* "[--name NAME]": the option's value is no argument. */
                if (in_option) {
                        in_option = end[-1] != ']';
                        continue;
                }
                if (tok[0] == '-' || (tok[0] == '[' && len > 1 && tok[1] == '-')) {
                        in_option = tok[0] == '[' && end[-1] != ']';
                        continue;
                }
                if (tok[0] == '[')
                        tok++;
                while (end > tok && end[-1] == ']')
                        end--;
                bool repeats = end - tok >= 3 && strncmp(end - 3, "...", 3) == 0;
                if (repeats)
                        end -= 3;
                /* "[...]", "[OPTIONS...]": options, no argument. */
                if (end <= tok || (end - tok == 7 && strncmp(tok, "OPTIONS", 7) == 0))
                        continue;
                if (i == index)
                        return kind_of_word(v, tok, (size_t) (end - tok));
                last = tok;
                last_len = (size_t) (end - tok);
                last_repeats = repeats;
                i++;
        }
        return last && last_repeats ? kind_of_word(v, last, last_len) : CTL_COMPLETE_NOTHING;
}

static bool verb_is_named(const CtlCompleteVerb *v, const char *word) {
        if (streq(v->name, word))
                return true;
        for (const char *const *a = v->aliases; a && *a; a++)
                if (streq(*a, word))
                        return true;
        return false;
}

/* The verb `word` names in `group` (NULL: a top-level verb). */
static const CtlCompleteVerb *verb_find(const CtlCompleteTable *t, const char *group, const char *word) {
        for (size_t i = 0; i < t->n_verbs; i++)
                if (streq_ptr(t->verbs[i].group, group) && verb_is_named(t->verbs + i, word))
                        return t->verbs + i;
        return NULL;
}

static bool group_exists(const CtlCompleteTable *t, const char *word) {
        for (size_t i = 0; i < t->n_verbs; i++)
                if (t->verbs[i].group && streq(t->verbs[i].group, word))
                        return true;
        return false;
}

/* How far the words before the one being completed got. */
typedef struct Line {
        const char *group;          /* a group named, its verb not yet */
        const CtlCompleteVerb *verb;
        OptionSet options;
        const CtlOption *pending; /* the option whose value the next word is */
        const char *address;      /* --address, for the lister */
        bool options_end;         /* "--" after the verb: only arguments follow */
        bool unknown;             /* a word names no verb: nothing can be completed */
        char **args;              /* the verb's arguments so far (borrowed words, not owned) */
        unsigned n_args;
} Line;

static void line_read_word(const CtlCompleteTable *t, Line *line, char *w) {
        if (line->pending) {
                if (streq(line->pending->name, "address"))
                        line->address = w;
                line->pending = NULL;
                return;
        }
        if (!line->options_end && w[0] == '-' && w[1] != '\0') {
                const CtlOption *o;
                const char *value;

                if (streq(w, "--")) {
                        line->options_end = line->verb != NULL;
                        return;
                }
                option_word_parse(&line->options, w, &o, &line->pending, &value);
                if (o && value && streq(o->name, "address"))
                        line->address = value;
                return;
        }
        if (line->verb) {
                line->args[line->n_args++] = w;
                return;
        }
        line->verb = verb_find(t, line->group, w);
        if (line->verb) {
                line->group = NULL;
                line->options = (OptionSet) {
                        .a = line->verb->options, .n_a = line->verb->n_options,
                        .b = t->global_options, .n_b = t->n_global_options_after_verb,
                };
        } else if (!line->group && group_exists(t, w))
                line->group = w;
        else
                line->unknown = true;
}

static int complete_value(const CtlOption *o, const char *prefix, const char *cur, Candidates *c) {
        const char *m = o->metavar;
        int r;

        if (streq(m, "PATH") || streq(m, "FILE") || streq(m, "DIR"))
                return candidates_push(c, "", CTL_COMPLETE_FILES);
        if (!strchr(m, '|')) /* a free value: NAME, SIZE, N, ... */
                return 0;
        for (const char *p = m; *p;) {
                size_t len = strcspn(p, "|");
                char choice[64];

                if (len < sizeof choice) {
                        memcpy(choice, p, len);
                        choice[len] = '\0';
                        r = candidates_add(c, prefix, choice, cur, true);
                        if (r < 0)
                                return r;
                }
                p += len + (p[len] == '|');
        }
        return 0;
}

static int complete_option(const Line *line, const char *cur, Candidates *c) {
        const CtlOption *o;
        int r;

        if (startswith(cur, "--") && strchr(cur, '=')) {
                size_t len = strcspn(cur + 2, "=");
                _cleanup_free_ char *prefix = strndup(cur, 2 + len + 1);

                if (!prefix)
                        return -ENOMEM;
                o = option_find_long(&line->options, cur + 2, len);
                return o && o->metavar ? complete_value(o, prefix, cur, c) : 0;
        }
        for (size_t i = 0; (o = option_set_get(&line->options, i)); i++) {
                _cleanup_free_ char *word = NULL;

                if (asprintf(&word, "--%s", o->name) < 0)
                        return -ENOMEM;
                r = candidates_add(c, "", word, cur, true);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* The names and ids a lister hands over for the word `cur`. */
typedef struct NameMatch {
        const char *cur;
        char *const *args;
        Candidates names, ids;
} NameMatch;

static int name_match_add_one(NameMatch *m, Candidates *c, const char *word) {
        if (!word_is_safe(word) || strv_contains(m->args, word))
                return 0;
        return candidates_add(c, "", word, m->cur, false);
}

static int name_match_add(const char *name, const char *id, void *userdata) {
        NameMatch *m = userdata;
        int r = 0;

        if (name)
                r = name_match_add_one(m, &m->names, name);
        /* Ids are long and say little: only once the typed word could be one. */
        if (r >= 0 && id && !isempty(m->cur))
                r = name_match_add_one(m, &m->ids, id);
        return r;
}

static int complete_names(const CtlCompleteTable *t, const Line *line, CtlCompleteKind kind, const char *cur,
                          Candidates *c) {
        NameMatch m = { .cur = cur, .args = line->args };
        int r = 0;

        /* A lister's failure (no manager) leaves no names, and is no error for completion. */
        if (t->list && t->list(kind, line->address, name_match_add, &m, t->userdata) >= 0)
                for (size_t i = 0; r >= 0 && i < m.names.n + m.ids.n; i++)
                        r = candidates_push(c, "", i < m.names.n ? m.names.l[i] : m.ids.l[i - m.names.n]);
        candidates_done(&m.names);
        candidates_done(&m.ids);
        return r;
}

static int complete_word(const CtlCompleteTable *t, const Line *line, const char *cur, Candidates *c) {
        int r;

        if (line->pending)
                return complete_value(line->pending, "", cur, c);
        if (!line->options_end && cur[0] == '-')
                return line->group ? 0 : complete_option(line, cur, c);
        if (line->verb) {
                if (line->n_args >= line->verb->max_args)
                        return 0;
                CtlCompleteKind kind = ctl_complete_argument_kind(line->verb, line->n_args);
                return kind == CTL_COMPLETE_NOTHING ? 0 : complete_names(t, line, kind, cur, c);
        }
        /* The verbs (names and aliases) of the group named, or the top-level verbs and the groups. */
        for (size_t i = 0; i < t->n_verbs; i++) {
                const CtlCompleteVerb *v = t->verbs + i;

                if (!streq_ptr(v->group, line->group)) {
                        if (!line->group && v->group) {
                                r = candidates_add(c, "", v->group, cur, true);
                                if (r < 0)
                                        return r;
                        }
                        continue;
                }
                r = candidates_add(c, "", v->name, cur, true);
                for (const char *const *a = v->aliases; r >= 0 && a && *a; a++)
                        r = candidates_add(c, "", *a, cur, true);
                if (r < 0)
                        return r;
        }
        return 0;
}

int ctl_complete(const CtlCompleteTable *t, char *const *words, size_t n_words, char ***ret) {
        _cleanup_free_ char **args = calloc(n_words + 1, sizeof(char *));
        Candidates c = {};
        Line line = {
                .options = { .a = t->global_options, .n_a = t->n_global_options },
                .args = args,
        };
        const char *cur = n_words > 0 ? words[n_words - 1] : "";
        int r;

        if (!args)
                return -ENOMEM;
        for (size_t i = 0; i + 1 < n_words && !line.unknown; i++)
                line_read_word(t, &line, words[i]);
        if (!line.unknown) {
                r = complete_word(t, &line, cur, &c);
                if (r < 0) {
                        candidates_done(&c);
                        return r;
                }
        }
        *ret = TAKE_PTR(c.l);
        return 0;
}
