/* ref.c -- image references ("nginx:1.25", "localhost:5000/a/b@sha256:...") and image
 * sources ("docker://REF", "oci:DIR[:TAG]", "oci-archive:FILE[:TAG]",
 * "docker-archive:FILE[:REF]").
 *
 * DESIGN
 * - Grammar (Docker's distribution/reference): [HOST[:PORT]/]COMPONENT(/COMPONENT)*[:TAG][@DIGEST].
 *   The first '/'-separated part is a host only when it contains '.' or ':' or is
 *   "localhost" (Docker's rule; "library/nginx" is a path). A host is DNS labels or an IPv6
 *   literal in brackets, optionally ":PORT". Path components are lowercase [a-z0-9]
 *   separated by '.', '_', '__' or a run of '-'. A tag is [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}.
 *   Only sha256 digests are accepted (64 lowercase hex); other algorithms are named in the
 *   error. The whole string is capped at 4096 bytes.
 * - Normalisation: no host -> "docker.io"; "index.docker.io" -> "docker.io"; a one-part
 *   path on docker.io gets "library/". The tag defaults to "latest" only without a digest.
 * - Sources: the transport prefix decides; a path may not contain ':' in our syntax, so the
 *   first ':' after the prefix ends the path (skopeo splits the same way for oci:). The
 *   docker-archive selector is a whole reference ("nginx:1.25"), hence the first ':'.
 */
#include "common/setup.h"

#include "image/image.h"

#include <ctype.h>

#include "common/alloc.h" /* vx_xstrdup, vx_xasprintf */
#include "common/err.h"   /* vx_err_set */

#define REF_MAX 4096
#define TAG_MAX 128

static bool lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* One path component: [a-z0-9]+ ((\.|_|__|-+)[a-z0-9]+)* */
static bool component_ok(const char *s, size_t n)
{
    size_t i = 0;

    if (n == 0 || !lower_alnum(s[0]))
        return false;
    while (i < n) {
        while (i < n && lower_alnum(s[i]))
            i++;
        if (i == n)
            return true;
        /* a separator */
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
        if (i == n || !lower_alnum(s[i]))
            return false;
    }
    return true;
}

static bool label_ok(const char *s, size_t n)
{
    if (n == 0 || n > 63 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-')
            return false;
    return true;
}

/* HOST[:PORT] where HOST is dotted labels or [IPv6]. */
static bool host_ok(const char *s, size_t n)
{
    size_t hend = n;
    const char *colon;

    if (n == 0)
        return false;
    if (s[0] == '[') {
        const char *rb = memchr(s, ']', n);

        if (!rb || rb - s < 3)
            return false;
        for (const char *p = s + 1; p < rb; p++)
            if (!isxdigit((unsigned char)*p) && *p != ':' && *p != '.')
                return false;
        hend = (size_t)(rb - s) + 1;
        if (hend == n)
            return true;
        if (s[hend] != ':')
            return false;
    } else {
        size_t start = 0;

        colon = memchr(s, ':', n);
        if (colon)
            hend = (size_t)(colon - s);
        for (size_t i = 0; i <= hend; i++) {
            if (i == hend || s[i] == '.') {
                if (!label_ok(s + start, i - start))
                    return false;
                start = i + 1;
            }
        }
        if (hend == n)
            return true;
    }
    /* ":PORT" */
    if (hend + 1 >= n || n - hend - 1 > 5)
        return false;
    for (size_t i = hend + 1; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

static bool tag_ok(const char *t)
{
    size_t n = strlen(t);

    if (n == 0 || n > TAG_MAX)
        return false;
    if (!isalnum((unsigned char)t[0]) && t[0] != '_')
        return false;
    for (size_t i = 1; i < n; i++)
        if (!isalnum((unsigned char)t[i]) && t[i] != '_' && t[i] != '.' && t[i] != '-')
            return false;
    return true;
}

static int digest_check(const char *d, struct vx_err **err)
{
    const char *colon = strchr(d, ':');

    if (!colon || colon == d)
        return vx_err_set(err, VX_E_INVALID, 0, "digest '%s' has no algorithm", d);
    if ((size_t)(colon - d) != 6 || strncmp(d, "sha256", 6) != 0)
        return vx_err_set(err, VX_E_INVALID, 0,
                          "digest algorithm '%.*s' is not supported (sha256 only)",
                          (int)(colon - d) > 32 ? 32 : (int)(colon - d), d);
    if (strlen(colon + 1) != 64)
        return vx_err_set(err, VX_E_INVALID, 0, "sha256 digest must have 64 hex characters");
    for (const char *p = colon + 1; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return vx_err_set(err, VX_E_INVALID, 0, "sha256 digest must be lowercase hex");
    return 0;
}

int vx_image_ref_parse(const char *s, struct vx_image_ref *out, struct vx_err **err)
{
    char *work = NULL, *name, *at, *slash, *colon, *path;
    const char *registry = "docker.io";
    int rc = 0;

    memset(out, 0, sizeof(*out));
    if (!s || !*s)
        return vx_err_set(err, VX_E_INVALID, 0, "empty image reference");
    if (strlen(s) > REF_MAX)
        return vx_err_set(err, VX_E_INVALID, 0, "image reference longer than %d bytes", REF_MAX);
    work = vx_xstrdup(s);
    name = work;
    if ((at = strchr(name, '@'))) {
        *at = '\0';
        if ((rc = digest_check(at + 1, err)) < 0)
            goto out;
        out->digest = vx_xstrdup(at + 1);
    }
    slash = strrchr(name, '/');
    colon = strrchr(slash ? slash : name, ':');
    if (colon) {
        *colon = '\0';
        if (!tag_ok(colon + 1)) {
            rc = vx_err_set(err, VX_E_INVALID, 0, "invalid tag '%.*s'", 128, colon + 1);
            goto out;
        }
        out->tag = vx_xstrdup(colon + 1);
    }
    path = name;
    slash = strchr(name, '/');
    if (slash) {
        size_t hn = (size_t)(slash - name);

        if (memchr(name, '.', hn) || memchr(name, ':', hn) ||
            (hn == 9 && strncmp(name, "localhost", 9) == 0)) {
            *slash = '\0';
            if (!host_ok(name, hn)) {
                rc = vx_err_set(err, VX_E_INVALID, 0, "invalid registry host '%.*s'", 256, name);
                goto out;
            }
            registry = name;
            path = slash + 1;
        }
    }
    if (!*path) {
        rc = vx_err_set(err, VX_E_INVALID, 0, "image reference '%.*s' has no repository", 256, s);
        goto out;
    }
    for (char *p = path;;) {
        char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);

        if (!component_ok(p, n)) {
            bool upper = false;

            for (size_t i = 0; i < n; i++)
                upper |= isupper((unsigned char)p[i]) != 0;
            rc = vx_err_set(err, VX_E_INVALID, 0,
                            upper ? "repository name must be lowercase: '%.*s'"
                                  : "invalid repository path component '%.*s'",
                            (int)(n > 256 ? 256 : n), p);
            goto out;
        }
        if (!e)
            break;
        p = e + 1;
    }
    if (strcmp(registry, "index.docker.io") == 0)
        registry = "docker.io";
    out->registry = vx_xstrdup(registry);
    if (strcmp(registry, "docker.io") == 0 && !strchr(path, '/'))
        out->repository = vx_xasprintf("library/%s", path);
    else
        out->repository = vx_xstrdup(path);
    if (!out->tag && !out->digest)
        out->tag = vx_xstrdup("latest");
out:
    if (rc < 0)
        vx_image_ref_release(out);
    free(work);
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
    return vx_xasprintf("%s/%s%s%s%s%s", r->registry, r->repository, r->tag ? ":" : "",
                        r->tag ? r->tag : "", r->digest ? "@" : "", r->digest ? r->digest : "");
}

/* "PATH[:SEL]" after a transport prefix. */
static int split_path(const char *rest, const char *what, struct vx_image_source *out,
                      struct vx_err **err)
{
    const char *colon = strchr(rest, ':');

    if (colon) {
        out->path = vx_xstrndup(rest, (size_t)(colon - rest));
        if (colon[1] == '\0')
            return vx_err_set(err, VX_E_INVALID, 0, "%s: empty selector after ':'", what);
        out->tag = vx_xstrdup(colon + 1);
    } else {
        out->path = vx_xstrdup(rest);
    }
    if (!*out->path)
        return vx_err_set(err, VX_E_INVALID, 0, "%s: empty path", what);
    return 0;
}

int vx_image_source_parse(const char *s, struct vx_image_source *out, struct vx_err **err)
{
    static const struct {
        const char *prefix;
        enum vx_image_transport t;
    } tr[] = {
        {"oci:", VX_IMAGE_OCI_DIR},
        {"oci-archive:", VX_IMAGE_OCI_ARCHIVE},
        {"docker-archive:", VX_IMAGE_DOCKER_ARCHIVE},
    };
    int rc = 0;

    memset(out, 0, sizeof(*out));
    if (!s || !*s)
        return vx_err_set(err, VX_E_INVALID, 0, "empty image source");
    if (strlen(s) > REF_MAX + 32)
        return vx_err_set(err, VX_E_INVALID, 0, "image source longer than %d bytes", REF_MAX);
    for (size_t i = 0; i < VX_ARRAY_SIZE(tr); i++) {
        size_t n = strlen(tr[i].prefix);

        if (strncmp(s, tr[i].prefix, n) == 0) {
            out->transport = tr[i].t;
            rc = split_path(s + n, tr[i].prefix, out, err);
            if (rc == 0 && out->tag && tr[i].t == VX_IMAGE_DOCKER_ARCHIVE) {
                struct vx_image_ref tmp;

                rc = vx_image_ref_parse(out->tag, &tmp, err);
                vx_image_ref_release(&tmp);
            }
            goto out;
        }
    }
    out->transport = VX_IMAGE_DOCKER;
    if (strncmp(s, "docker://", 9) == 0)
        s += 9;
    rc = vx_image_ref_parse(s, &out->ref, err);
out:
    if (rc < 0)
        vx_image_source_release(out);
    return rc;
}

void vx_image_source_release(struct vx_image_source *src)
{
    if (!src)
        return;
    vx_image_ref_release(&src->ref);
    free(src->path);
    free(src->tag);
    memset(src, 0, sizeof(*src));
}
