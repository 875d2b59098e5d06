/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Image reference parsing and normalization after Docker's reference package (grammar in reference.go,
 * normalization in normalize.go of distribution/reference). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci-reference.h"

/* Longer input cannot be a valid reference (name ≤ 255, tag ≤ 128, digest 71, separators). */
#define OCI_REFERENCE_INPUT_MAX 512

static bool is_lower_alnum(char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c) {
        return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static bool is_hex_lower(char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

bool oci_digest_is_valid(const char *s) {
        if (!s || strncmp(s, OCI_DIGEST_PREFIX, strlen(OCI_DIGEST_PREFIX)) != 0)
                return false;
        s += strlen(OCI_DIGEST_PREFIX);
        for (size_t i = 0; i < 64; i++)
                if (!is_hex_lower(s[i]))
                        return false;
        return s[64] == '\0';
}

/* [\w][\w.-]{0,127} */
static bool tag_is_valid(const char *s, size_t n) {
        if (n == 0 || n > OCI_TAG_MAX)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                bool word = is_alnum(c) || c == '_';
                if (!word && (i == 0 || (c != '.' && c != '-')))
                        return false;
        }
        return true;
}

/* path-component: [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*, components joined by single '/'. */
static bool repository_is_valid(const char *s, size_t n) {
        size_t i = 0;

        if (n == 0)
                return false;
        for (;;) {
                /* one component */
                if (i >= n || !is_lower_alnum(s[i]))
                        return false;
                while (i < n && is_lower_alnum(s[i]))
                        i++;
                while (i < n && s[i] != '/') {
                        size_t sep = i;
                        if (s[i] == '.')
                                i++;
                        else if (s[i] == '_')
                                i += (i + 1 < n && s[i + 1] == '_') ? 2 : 1;
                        else if (s[i] == '-')
                                while (i < n && s[i] == '-')
                                        i++;
                        else
                                return false;
                        if (i == sep || i >= n || !is_lower_alnum(s[i]))
                                return false;
                        while (i < n && is_lower_alnum(s[i]))
                                i++;
                }
                if (i == n)
                        return true;
                i++; /* '/' */
        }
}

/* domain-name: components [a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])? joined by '.', or [IPv6 hex and colons];
 * then an optional :[0-9]+ port. */
static bool domain_is_valid(const char *s, size_t n) {
        size_t i = 0;

        if (n == 0)
                return false;
        if (s[0] == '[') {
                i = 1;
                while (i < n && (is_hex_lower(s[i]) || (s[i] >= 'A' && s[i] <= 'F') || s[i] == ':'))
                        i++;
                if (i == 1 || i >= n || s[i] != ']')
                        return false;
                i++;
        } else
                for (;;) {
                        size_t start = i;
                        while (i < n && (is_alnum(s[i]) || s[i] == '-'))
                                i++;
                        if (i == start || s[start] == '-' || s[i - 1] == '-')
                                return false;
                        if (i < n && s[i] == '.') {
                                i++;
                                continue;
                        }
                        break;
                }
        if (i == n)
                return true;
        if (s[i] != ':' || i + 1 == n)
                return false;
        for (i++; i < n; i++)
                if (s[i] < '0' || s[i] > '9')
                        return false;
        return true;
}

/* splitDockerDomain(): the first component is a registry only if it looks like a host (has a '.' or ':',
 * is "localhost", or has uppercase letters, which repositories never have). */
static int split_domain(const char *name, char **ret_domain, char **ret_repository) {
        _cleanup_free_ char *domain = NULL, *repository = NULL;
        const char *slash = strchr(name, '/');
        bool is_domain = false;

        if (slash) {
                size_t n = slash - name;
                is_domain = memchr(name, '.', n) || memchr(name, ':', n) ||
                            (n == strlen("localhost") && strncmp(name, "localhost", n) == 0);
                for (size_t i = 0; i < n && !is_domain; i++)
                        if (name[i] >= 'A' && name[i] <= 'Z')
                                is_domain = true;
        }

        if (is_domain) {
                domain = strndup(name, slash - name);
                repository = strdup(slash + 1);
        } else {
                domain = strdup(OCI_DEFAULT_DOMAIN);
                repository = strdup(name);
        }
        if (!domain || !repository)
                return -ENOMEM;

        if (strcmp(domain, "index.docker.io") == 0) {
                free(domain);
                domain = strdup(OCI_DEFAULT_DOMAIN);
                if (!domain)
                        return -ENOMEM;
        }
        if (strcmp(domain, OCI_DEFAULT_DOMAIN) == 0 && !strchr(repository, '/')) {
                char *l;
                if (asprintf(&l, "library/%s", repository) < 0)
                        return -ENOMEM;
                free(repository);
                repository = l;
        }

        *ret_domain = TAKE_PTR(domain);
        *ret_repository = TAKE_PTR(repository);
        return 0;
}

OciReference *oci_reference_free(OciReference *r) {
        if (!r)
                return NULL;
        free(r->domain);
        free(r->repository);
        free(r->tag);
        free(r->digest);
        free(r);
        return NULL;
}

int oci_reference_parse(const char *s, OciReference **ret) {
        _cleanup_(oci_reference_freep) OciReference *r = NULL;
        _cleanup_free_ char *name = NULL;
        const char *at, *colon, *slash;
        size_t n;

        if (!s || !ret)
                return -EINVAL;
        n = strnlen(s, OCI_REFERENCE_INPUT_MAX + 1);
        if (n == 0 || n > OCI_REFERENCE_INPUT_MAX)
                return -EINVAL;

        /* Docker refuses names that are a bare image ID, so an ID is never mistaken for a repository. */
        if (n == 64) {
                bool all_hex = true;
                for (size_t i = 0; i < n && all_hex; i++)
                        all_hex = is_hex_lower(s[i]);
                if (all_hex)
                        return -EINVAL;
        }

        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;

        at = strchr(s, '@');
        if (at) {
                if (!oci_digest_is_valid(at + 1))
                        return -EINVAL;
                r->digest = strdup(at + 1);
                if (!r->digest)
                        return -ENOMEM;
                n = at - s;
        }

        /* A tag is a ':' after the last '/' (a ':' before it belongs to the registry's port). */
        slash = memrchr(s, '/', n);
        colon = memrchr(slash ? slash : s, ':', n - (slash ? (size_t) (slash - s) : 0));
        if (colon) {
                size_t tn = n - (colon - s) - 1;
                if (!tag_is_valid(colon + 1, tn))
                        return -EINVAL;
                r->tag = strndup(colon + 1, tn);
                if (!r->tag)
                        return -ENOMEM;
                n = colon - s;
        }

        name = strndup(s, n);
        if (!name)
                return -ENOMEM;
        if (split_domain(name, &r->domain, &r->repository) < 0)
                return -ENOMEM;

        if (!domain_is_valid(r->domain, strlen(r->domain)) ||
            !repository_is_valid(r->repository, strlen(r->repository)) ||
            strlen(r->domain) + 1 + strlen(r->repository) > OCI_NAME_MAX)
                return -EINVAL;

        if (!r->tag && !r->digest) {
                r->tag = strdup("latest");
                if (!r->tag)
                        return -ENOMEM;
        }

        *ret = TAKE_PTR(r);
        return 0;
}

int oci_reference_to_string(const OciReference *r, char **ret) {
        if (asprintf(ret, "%s/%s%s%s%s%s", r->domain, r->repository, r->tag ? ":" : "", r->tag ?: "",
                     r->digest ? "@" : "", r->digest ?: "") < 0)
                return -ENOMEM;
        return 0;
}

const char *oci_reference_api_host(const OciReference *r) {
        return strcmp(r->domain, OCI_DEFAULT_DOMAIN) == 0 ? OCI_DEFAULT_API_HOST : r->domain;
}

const char *oci_reference_manifest_ref(const OciReference *r) {
        return r->digest ?: r->tag;
}
