/* config.c -- the image config blob (OCI image config / Docker container config) parsed into
 * struct vx_image_config, with caps: the config is registry input, so counts and string
 * lengths are bounded and wrong types are errors, never crashes. Also the table of layer
 * media types we can unpack. */
#include "common/setup.h"

#include "image/pull_int.h"

#include <jansson.h>

#include "image/image.h"  /* struct vx_image_config */
#include "common/alloc.h" /* vx_xcalloc, vx_xstrdup */
#include "common/err.h"   /* vx_err_set */
#include "common/json.h"  /* vx_json_parse */

#define CFG_MAX_ITEMS 4096
#define CFG_MAX_STR   65536

static int str_field(json_t *o, const char *key, char **out, struct vx_err **err)
{
    json_t *v = json_object_get(o, key);

    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v) || json_string_length(v) > CFG_MAX_STR)
        return vx_err_set(err, VX_E_UNPROCESSABLE, 0, "image config: '%s' is not a string", key);
    if (json_string_length(v) > 0)
        *out = vx_xstrdup(json_string_value(v));
    return 0;
}

static int strv_field(json_t *o, const char *key, char ***out, size_t *n, struct vx_err **err)
{
    json_t *v = json_object_get(o, key), *e;
    size_t i;

    *out = NULL;
    *n = 0;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_array(v) || json_array_size(v) > CFG_MAX_ITEMS)
        return vx_err_set(err, VX_E_UNPROCESSABLE, 0,
                          "image config: '%s' is not an array of at most %d strings", key,
                          CFG_MAX_ITEMS);
    *out = vx_xcalloc(json_array_size(v) + 1, sizeof(char *));
    json_array_foreach(v, i, e)
    {
        if (!json_is_string(e) || json_string_length(e) > CFG_MAX_STR)
            return vx_err_set(err, VX_E_UNPROCESSABLE, 0, "image config: '%s'[%zu] is not a string",
                              key, i);
        (*out)[(*n)++] = vx_xstrdup(json_string_value(e));
    }
    return 0;
}

int vx_image_config_parse(const char *json, size_t len, struct vx_image_config *out,
                          struct vx_err **err)
{
    json_t *root = NULL, *c, *v, *val;
    const char *k;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = vx_json_parse(json, len, &root, err)) < 0)
        return vx_err_wrap(err, "image config");
    if (!json_is_object(root)) {
        rc = vx_err_set(err, VX_E_UNPROCESSABLE, 0, "image config is not a json object");
        goto out;
    }
    if ((rc = str_field(root, "os", &out->os, err)) < 0 ||
        (rc = str_field(root, "architecture", &out->architecture, err)) < 0 ||
        (rc = str_field(root, "variant", &out->variant, err)) < 0)
        goto out;
    c = json_object_get(root, "config");
    if (!c || json_is_null(c))
        goto out;
    if (!json_is_object(c)) {
        rc = vx_err_set(err, VX_E_UNPROCESSABLE, 0, "image config: 'config' is not an object");
        goto out;
    }
    if ((rc = strv_field(c, "Entrypoint", &out->entrypoint, &out->n_entrypoint, err)) < 0 ||
        (rc = strv_field(c, "Cmd", &out->cmd, &out->n_cmd, err)) < 0 ||
        (rc = strv_field(c, "Env", &out->env, &out->n_env, err)) < 0 ||
        (rc = str_field(c, "WorkingDir", &out->working_dir, err)) < 0 ||
        (rc = str_field(c, "User", &out->user, err)) < 0)
        goto out;
    v = json_object_get(c, "ExposedPorts");
    if (json_is_object(v)) {
        size_t n = json_object_size(v);

        if (n > CFG_MAX_ITEMS) {
            rc = vx_err_set(err, VX_E_UNPROCESSABLE, 0, "image config: too many ExposedPorts");
            goto out;
        }
        out->exposed_ports = vx_xcalloc(n + 1, sizeof(int));
        json_object_foreach(v, k, val)
        {
            char proto[8] = "tcp";
            int port = 0, used = 0;

            /* "80/tcp", "53/udp" or a bare "8080" (tcp) */
            if (sscanf(k, "%d%n/%7[a-z]%n", &port, &used, proto, &used) < 1 || port <= 0 ||
                port > 65535 || k[used] != '\0')
                continue;
            if (strcmp(proto, "tcp") == 0)
                out->exposed_ports[out->n_exposed_ports++] = port;
        }
    }
    v = json_object_get(c, "Labels");
    if (json_is_object(v)) {
        size_t n = json_object_size(v);

        if (n > CFG_MAX_ITEMS) {
            rc = vx_err_set(err, VX_E_UNPROCESSABLE, 0, "image config: too many Labels");
            goto out;
        }
        out->labels = vx_xcalloc(n + 1, sizeof(char *));
        json_object_foreach(v, k, val)
        {
            if (!json_is_string(val) || strlen(k) > CFG_MAX_STR ||
                json_string_length(val) > CFG_MAX_STR)
                continue;
            out->labels[out->n_labels++] = vx_xasprintf("%s=%s", k, json_string_value(val));
        }
    }
out:
    json_decref(root);
    if (rc < 0)
        vx_image_config_release(out);
    return rc;
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void vx_image_config_release(struct vx_image_config *c)
{
    strv_free(c->entrypoint, c->n_entrypoint);
    strv_free(c->cmd, c->n_cmd);
    strv_free(c->env, c->n_env);
    strv_free(c->labels, c->n_labels);
    free(c->working_dir);
    free(c->user);
    free(c->exposed_ports);
    free(c->os);
    free(c->architecture);
    free(c->variant);
    memset(c, 0, sizeof(*c));
}

bool vx_layer_media_type_ok(const char *mt)
{
    static const char *const ok[] = {
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.oci.image.layer.v1.tar+zstd",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
        "application/vnd.docker.image.rootfs.diff.tar",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    };

    for (size_t i = 0; mt && i < VX_ARRAY_SIZE(ok); i++)
        if (strcmp(mt, ok[i]) == 0)
            return true;
    return false;
}
