/* image_json.c -- a pulled image (and its unpack report) as a JSON document: the job's
 * "image" evidence and the output of `vexxy image ... --json`. */
#include "common/setup.h"

#include <jansson.h>

#include "image/image.h"
#include "common/alloc.h" /* for vx_xasprintf() */
#include "common/json.h"  /* for vx_json_dump() */

static json_t *strv(char **v, size_t n)
{
    json_t *a = json_array();

    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static json_t *jstr(const char *s)
{
    return s ? json_string(s) : json_null();
}

char *vx_image_json(const struct vx_image *img, const struct vx_unpack_report *rep)
{
    json_t *o = json_object(), *layers = json_array(), *cfg = json_object(), *un = json_object();
    json_t *ports = json_array();
    char *s;

    for (size_t i = 0; i < img->n_layers; i++) {
        json_t *l = json_object();

        json_object_set_new(l, "digest", jstr(img->layers[i].digest));
        json_object_set_new(l, "media_type", jstr(img->layers[i].media_type));
        json_object_set_new(l, "size", json_integer(img->layers[i].size));
        json_object_set_new(l, "blob_path", jstr(img->layers[i].blob_path));
        json_array_append_new(layers, l);
    }
    for (size_t i = 0; i < img->config.n_exposed_ports; i++)
        json_array_append_new(ports, json_integer(img->config.exposed_ports[i]));
    json_object_set_new(cfg, "entrypoint", strv(img->config.entrypoint, img->config.n_entrypoint));
    json_object_set_new(cfg, "cmd", strv(img->config.cmd, img->config.n_cmd));
    json_object_set_new(cfg, "env", strv(img->config.env, img->config.n_env));
    json_object_set_new(cfg, "working_dir", jstr(img->config.working_dir));
    json_object_set_new(cfg, "user", jstr(img->config.user));
    json_object_set_new(cfg, "exposed_ports", ports);
    json_object_set_new(cfg, "labels", strv(img->config.labels, img->config.n_labels));
    if (rep) {
        json_object_set_new(un, "entries", json_integer(rep->entries));
        json_object_set_new(un, "bytes", json_integer(rep->bytes));
        json_object_set_new(un, "whiteouts", json_integer(rep->whiteouts));
        json_object_set_new(un, "skipped_devices", json_integer(rep->skipped_devices));
        json_object_set_new(un, "skipped", strv(rep->skipped, rep->n_skipped));
    }
    json_object_set_new(o, "source", jstr(img->source));
    json_object_set_new(o, "index_digest", jstr(img->index_digest));
    json_object_set_new(o, "manifest_digest", jstr(img->manifest_digest));
    json_object_set_new(o, "config_digest", jstr(img->config_digest));
    json_object_set_new(o, "platform", jstr(img->platform));
    json_object_set_new(o, "layers", layers);
    json_object_set_new(o, "config", cfg);
    json_object_set_new(cfg, "os", jstr(img->config.os));
    json_object_set_new(cfg, "architecture", jstr(img->config.architecture));
    json_object_set_new(cfg, "variant", jstr(img->config.variant));
    if (rep)
        json_object_set_new(o, "unpack", un);
    else
        json_decref(un);
    s = vx_json_dump(o);
    json_decref(o);
    return s;
}

/* The <name> of vx_image_purl (rules in image.h). */
static char *purl_name(const char *ref)
{
    bool local = false;
    const char *p = ref, *end, *prev = NULL;
    char *name;

    if (!strncmp(p, "docker://", 9)) {
        p += 9;
    } else if (!strncmp(p, "oci:", 4) || !strncmp(p, "oci-archive:", 12) ||
               !strncmp(p, "docker-archive:", 15)) {
        p = strchr(p, ':') + 1;
        local = true;
    }
    for (const char *q = p; *q; q++)
        if (*q == '/' && q[1]) {
            prev = p;
            p = q + 1;
        }
    end = p + strcspn(p, local ? ":" : ":@");
    if (local && end - p == 3 && !strncmp(p, "oci", 3) && prev) {
        end = p - 1;
        p = prev;
    }
    if (local) {
        const char *dot = memchr(p, '.', (size_t)(end - p));

        if (dot && dot > p)
            end = dot;
    }
    name = end > p ? vx_xstrndup(p, (size_t)(end - p)) : vx_xstrdup("image");
    for (char *c = name; *c; c++)
        if (!(*c >= 'a' && *c <= 'z') && !(*c >= '0' && *c <= '9') && *c != '-' && *c != '_' &&
            *c != '.')
            *c = *c >= 'A' && *c <= 'Z' ? (char)(*c - 'A' + 'a') : '-';
    return name;
}

char *vx_image_purl(const char *source, const char *digest)
{
    char *name = purl_name(source ? source : ""), *out;

    if (digest && strncmp(digest, "sha256:", 7) == 0)
        out = vx_xasprintf("pkg:oci/%s@sha256%%3A%s", name, digest + 7);
    else
        out = vx_xasprintf("pkg:oci/%s", name);
    free(name);
    return out;
}
