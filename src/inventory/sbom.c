/* sbom.c -- vx_inventory_cyclonedx: a CycloneDX 1.6 JSON SBOM of the image's packages.
 *
 * metadata.component is the image (type "container", its purl as bom-ref); every package is
 * a component of type "library" with its purl as bom-ref (a purl two packages share gets
 * "#<n>" appended for the second, bom-refs must be unique), name, version, group (maven
 * groupId, npm scope, Go module prefix), and evidence.occurrences listing the files it owns
 * (canonical paths from the index, directories left out), at most MAX_OCCURRENCES each so a
 * package with 100k files does not make a 50 MB SBOM. Components are sorted by purl, keys
 * sorted: the document is deterministic except for serialNumber and timestamp.
 */
#include "common/setup.h"

#include "inventory/inventory.h"

#include "common/alloc.h"
#include "common/json.h" /* jansson + sorted dump */
#include "common/util.h" /* vx_uuid4, vx_time_iso8601 */

#define MAX_OCCURRENCES 1000

struct order {
    const struct vx_inventory *inv;
    size_t i;
};

static int by_purl(const void *a, const void *b)
{
    const struct order *x = a, *y = b;
    const struct vx_pkg *p = &x->inv->pkgs[x->i], *q = &y->inv->pkgs[y->i];
    int c = strcmp(p->purl ? p->purl : "", q->purl ? q->purl : "");

    if (!c)
        c = strcmp(p->location ? p->location : "", q->location ? q->location : "");
    return c ? c : (x->i < y->i ? -1 : x->i > y->i);
}

/* strings from an image may be any bytes: invalid UTF-8 becomes '?' */
static json_t *jstr(const char *s)
{
    json_t *j = json_string(s ? s : "");
    char *c;

    if (j)
        return j;
    c = vx_xstrdup(s);
    for (unsigned char *p = (unsigned char *)c; *p; p++)
        if (*p >= 0x80)
            *p = '?';
    j = json_string(c);
    free(c);
    return j ? j : json_string("");
}

/* owner_used (n_owners entries) or NULL for every package and file. */
static char *cyclonedx(const struct vx_inventory *inv, const char *image_purl,
                       const char *serial_uuid, int64_t timestamp_ms, const bool *owner_used)
{
    json_t *root = json_object(), *meta = json_object(), *comps = json_array();
    json_t *tools = json_object(), *tcomps = json_array(), *tool = json_object();
    json_t **occ = vx_xcalloc(inv->n_pkgs ? inv->n_pkgs : 1, sizeof(*occ));
    size_t *n_occ = vx_xcalloc(inv->n_pkgs ? inv->n_pkgs : 1, sizeof(*n_occ));
    bool *used = vx_xcalloc(inv->n_pkgs ? inv->n_pkgs : 1, sizeof(*used));
    struct order *ord = vx_xcalloc(inv->n_pkgs ? inv->n_pkgs : 1, sizeof(*ord));
    char uuid[37], ts[32], *out;
    const char *prev = NULL;
    size_t dup = 0;

    if (!serial_uuid) {
        vx_uuid4(uuid);
        serial_uuid = uuid;
    }
    json_object_set_new(root, "bomFormat", json_string("CycloneDX"));
    json_object_set_new(root, "specVersion", json_string("1.6"));
    json_object_set_new(root, "version", json_integer(1));
    out = vx_xasprintf("urn:uuid:%s", serial_uuid);
    json_object_set_new(root, "serialNumber", jstr(out));
    free(out);
    json_object_set_new(meta, "timestamp",
                        json_string(vx_time_iso8601(timestamp_ms, ts, sizeof(ts))));
    json_object_set_new(tool, "type", json_string("application"));
    json_object_set_new(tool, "name", json_string("vexxy"));
    json_object_set_new(tool, "version", json_string(VX_VERSION));
    json_array_append_new(tcomps, tool);
    json_object_set_new(tools, "components", tcomps);
    json_object_set_new(meta, "tools", tools);
    if (image_purl) {
        json_t *c = json_object();
        char *stripped = vx_purl_strip(image_purl);
        const char *nm = image_purl;
        /* name: the purl's name part when it is a purl, else the string itself */
        if (stripped) {
            const char *at = strchr(stripped, '@');
            if (at)
                stripped[at - stripped] = '\0';
            nm = strrchr(stripped, '/') ? strrchr(stripped, '/') + 1 : stripped;
        }
        json_object_set_new(c, "type", json_string("container"));
        json_object_set_new(c, "name", jstr(nm));
        json_object_set_new(c, "bom-ref", jstr(image_purl));
        if (!strncmp(image_purl, "pkg:", 4))
            json_object_set_new(c, "purl", jstr(image_purl));
        json_object_set_new(meta, "component", c);
        free(stripped);
    }
    json_object_set_new(root, "metadata", meta);

    for (size_t i = 0; i < inv->n_pkgs; i++)
        occ[i] = json_array();
    for (size_t k = 0; k < inv->n_owners; k++) {
        const struct vx_inv_owner *o = &inv->owners[k];
        json_t *l;
        if (owner_used && owner_used[k])
            used[o->pkg] = true;
        if (o->is_dir || n_occ[o->pkg] >= MAX_OCCURRENCES || (owner_used && !owner_used[k]))
            continue;
        l = json_object();
        json_object_set_new(l, "location", jstr(o->path));
        json_array_append_new(occ[o->pkg], l);
        n_occ[o->pkg]++;
    }
    for (size_t i = 0; i < inv->n_pkgs; i++)
        ord[i] = (struct order){inv, i};
    qsort(ord, inv->n_pkgs, sizeof(*ord), by_purl);
    for (size_t k = 0; k < inv->n_pkgs; k++) {
        const struct vx_pkg *p = &inv->pkgs[ord[k].i];
        const char *purl = p->purl ? p->purl : p->name;
        json_t *c;
        char *ref;

        if (owner_used && !used[ord[k].i])
            continue;
        c = json_object();
        dup = prev && !strcmp(prev, purl) ? dup + 1 : 0;
        prev = purl;
        ref = dup ? vx_xasprintf("%s#%zu", purl, dup + 1) : vx_xstrdup(purl);
        json_object_set_new(c, "type", json_string("library"));
        json_object_set_new(c, "bom-ref", jstr(ref));
        json_object_set_new(c, "name", jstr(p->name));
        json_object_set_new(c, "version", jstr(p->version));
        if (p->purl)
            json_object_set_new(c, "purl", jstr(p->purl));
        if (p->namespace &&
            (p->type == VX_PKG_MAVEN || p->type == VX_PKG_NPM || p->type == VX_PKG_GOLANG))
            json_object_set_new(c, "group", jstr(p->namespace));
        if (json_array_size(occ[ord[k].i])) {
            json_t *ev = json_object();
            json_object_set_new(ev, "occurrences", occ[ord[k].i]);
            occ[ord[k].i] = NULL;
            json_object_set_new(c, "evidence", ev);
        }
        json_array_append_new(comps, c);
        free(ref);
    }
    json_object_set_new(root, "components", comps);
    out = vx_json_dump(root);
    json_decref(root);
    for (size_t i = 0; i < inv->n_pkgs; i++)
        json_decref(occ[i]);
    free(occ);
    free(n_occ);
    free(used);
    free(ord);
    return out;
}

char *vx_inventory_cyclonedx(const struct vx_inventory *inv, const char *image_purl,
                             const char *serial_uuid, int64_t timestamp_ms)
{
    return cyclonedx(inv, image_purl, serial_uuid, timestamp_ms, NULL);
}

char *vx_inventory_cyclonedx_used(const struct vx_inventory *inv, const char *image_purl,
                                  const char *serial_uuid, int64_t timestamp_ms,
                                  const bool *owner_used)
{
    return cyclonedx(inv, image_purl, serial_uuid, timestamp_ms, owner_used);
}
