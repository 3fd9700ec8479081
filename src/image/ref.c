/* ref.c -- image references parsed and normalised the way Docker does.
 *
 * Grammar (docker/distribution "reference"): [HOST[:PORT]/]PATH[:TAG][@DIGEST]. The first
 * '/'-separated component is a registry host only when it contains '.' or ':' or is
 * "localhost"; otherwise the whole name is a Docker Hub repository. Path components are
 * [a-z0-9]+ joined by '.', '_', '__' or one or more '-'. Docker Hub names are normalised:
 * no host -> "docker.io", "index.docker.io" -> "docker.io", a one-component Hub name gets
 * "library/". The tag defaults to "latest" only when neither tag nor digest was given.
 */
#include "common/setup.h"

#include "image/image.h"
#include "image/image_int.h" /* module-private helpers */

#include <ctype.h>

#include "common/alloc.h" /* vx_xstrndup, vx_xasprintf */
#include "common/err.h"   /* error values */
#include "common/util.h"  /* vx_digest_valid */

#define NAME_MAX_LEN 255 /* docker's limit on the whole name */
#define TAG_MAX_LEN 128

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* One path component of [s, s+n): alnum runs separated by '.', '_', '__' or '-'+. */
static bool component_valid(const char *s, size_t n)
{
    size_t i = 0;

    if (n == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
        return false;
    while (i < n) {
        if (is_lower_alnum(s[i])) {
            i++;
            continue;
        }
        if (s[i] == '.') {
            i++;
        } else if (s[i] == '_') {
            i++;
            if (i < n && s[i] == '_')
                i++;
        } else if (s[i] == '-') {
            while (i < n && s[i] == '-')
                i++;
        } else {
            return false;
        }
        /* a separator must be followed by an alnum */
        if (i >= n || !is_lower_alnum(s[i]))
            return false;
    }
    return true;
}

/* Host name (labels of [A-Za-z0-9-], no leading/trailing '-') with an optional :port. */
static bool host_valid(const char *s, size_t n)
{
    const char *colon = memchr(s, ':', n);
    size_t hn = colon ? (size_t)(colon - s) : n;
    size_t label = 0;

    if (hn == 0)
        return false;
    for (size_t i = 0; i < hn; i++) {
        char c = s[i];

        if (c == '.') {
            if (label == 0 || s[i - 1] == '-')
                return false;
            label = 0;
        } else if (isalnum((unsigned char)c) || (c == '-' && label > 0)) {
            label++;
        } else {
            return false;
        }
    }
    if (label == 0 || s[hn - 1] == '-')
        return false;
    if (colon) {
        size_t pn = n - hn - 1;

        if (pn == 0 || pn > 5)
            return false;
        for (size_t i = hn + 1; i < n; i++)
            if (!isdigit((unsigned char)s[i]))
                return false;
    }
    return true;
}

static bool tag_valid(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > TAG_MAX_LEN)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];

        if (isalnum((unsigned char)c) || c == '_' || (i > 0 && (c == '.' || c == '-')))
            continue;
        return false;
    }
    return true;
}

bool vx_image_tag_valid(const char *s)
{
    return tag_valid(s);
}

int vx_image_ref_parse(const char *s, struct vx_image_ref *out, struct vx_err **err)
{
    struct vx_image_ref r = {0};
    const char *at, *name, *end, *slash, *colon = NULL, *p;
    int rc;

    memset(out, 0, sizeof(*out));
    if (!s || !*s)
        return vx_err_set(err, VX_E_INVALID, 0, "empty image reference");
    at = strchr(s, '@');
    end = at ? at : s + strlen(s);
    if (at) {
        if (!vx_digest_valid(at + 1)) {
            rc = vx_err_set(err, VX_E_INVALID, 0,
                            "image reference '%s': digest '%s' is not sha256:<64 lowercase hex>",
                            s, at + 1);
            goto fail;
        }
        r.digest = vx_xstrdup(at + 1);
    }
    name = s;
    slash = memchr(s, '/', (size_t)(end - s));
    if (slash) {
        size_t hn = (size_t)(slash - s);

        if (memchr(s, '.', hn) || memchr(s, ':', hn) || (hn == 9 && !memcmp(s, "localhost", 9))) {
            if (!host_valid(s, hn)) {
                rc = vx_err_set(err, VX_E_INVALID, 0, "image reference '%s': bad registry host "
                                "'%.*s'", s, (int)hn, s);
                goto fail;
            }
            r.registry = vx_xstrndup(s, hn);
            name = slash + 1;
        }
    }
    /* after the host, a ':' can only introduce the tag */
    for (p = name; p < end; p++)
        if (*p == ':')
            colon = p;
    if (colon) {
        r.tag = vx_xstrndup(colon + 1, (size_t)(end - colon - 1));
        if (!tag_valid(r.tag)) {
            rc = vx_err_set(err, VX_E_INVALID, 0, "image reference '%s': bad tag '%s' (want "
                            "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})", s, r.tag);
            goto fail;
        }
        end = colon;
    }
    if (end == name) {
        rc = vx_err_set(err, VX_E_INVALID, 0, "image reference '%s': missing repository name", s);
        goto fail;
    }
    if ((size_t)(end - s) > NAME_MAX_LEN) {
        rc = vx_err_set(err, VX_E_INVALID, 0, "image reference '%.40s...': name longer than %d",
                        s, NAME_MAX_LEN);
        goto fail;
    }
    for (p = name; p <= end; p++) {
        const char *c0 = p, *c1 = memchr(p, '/', (size_t)(end - p));

        if (!c1)
            c1 = end;
        if (!component_valid(c0, (size_t)(c1 - c0))) {
            bool upper = false;

            for (const char *q = c0; q < c1; q++)
                upper |= isupper((unsigned char)*q) != 0;
            rc = vx_err_set(err, VX_E_INVALID, 0, "image reference '%s': %s '%.*s'", s,
                            upper ? "repository name must be lowercase:"
                                  : "bad repository path component",
                            (int)(c1 - c0), c0);
            goto fail;
        }
        p = c1;
    }
    if (!r.registry || !strcmp(r.registry, "index.docker.io")) {
        free(r.registry);
        r.registry = vx_xstrdup("docker.io");
    }
    if (!strcmp(r.registry, "docker.io") && !memchr(name, '/', (size_t)(end - name)))
        r.repository = vx_xasprintf("library/%.*s", (int)(end - name), name);
    else
        r.repository = vx_xstrndup(name, (size_t)(end - name));
    if (!r.tag && !r.digest)
        r.tag = vx_xstrdup("latest");
    *out = r;
    return 0;
fail:
    vx_image_ref_release(&r);
    return rc;
}

void vx_image_ref_release(struct vx_image_ref *r)
{
    if (!r)
        return;
    free(r->registry);
    free(r->repository);
    free(r->tag);
    free(r->digest);
    memset(r, 0, sizeof(*r));
}

char *vx_image_ref_str(const struct vx_image_ref *r)
{
    return vx_xasprintf("%s/%s%s%s%s%s", r->registry ? r->registry : "docker.io",
                        r->repository ? r->repository : "", r->tag ? ":" : "",
                        r->tag ? r->tag : "", r->digest ? "@" : "", r->digest ? r->digest : "");
}
