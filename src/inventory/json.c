/* json.c -- vx_inventory_json: the inventory as the JSON document of `vexxy inventory --json`
 * (DESIGN.md §2).
 *
 * {"distro":{"id","version_id"},"packages":[{"arch","files","location","n_files","n_mapped",
 *  "name","purl","source_name","source_version","type","version"}],"unmapped":[purl...],
 *  "warnings":[...],"warnings_dropped":N}
 * Canonical: keys sorted, packages sorted by purl (then location, name), each package's
 * files sorted. "files" are the canonical paths the package owns in the index (directories
 * left out: every package lists /usr); before the index is built they are the paths as the
 * database listed them. Absent optional fields are left out, never null.
 */
#include "common/setup.h"

#include "inventory/inventory.h"

#include "common/alloc.h"
#include "common/json.h" /* jansson + sorted dump */

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
    if (!c)
        c = strcmp(p->name, q->name);
    return c ? c : (x->i < y->i ? -1 : x->i > y->i);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* json_string refuses invalid UTF-8: such a byte sequence is escaped as \xHH text */
static json_t *jstr(const char *s)
{
    json_t *j = json_string(s);
    char *esc;
    size_t o = 0;

    if (j)
        return j;
    esc = vx_xmalloc(strlen(s) * 4 + 1);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c < 0x80) {
            esc[o++] = (char)*c;
        } else {
            snprintf(esc + o, 5, "\\x%02x", *c);
            o += 4;
        }
    }
    esc[o] = '\0';
    j = json_string(esc);
    free(esc);
    return j ? j : json_string("");
}

static void set_str(json_t *o, const char *k, const char *v)
{
    if (v)
        json_object_set_new(o, k, jstr(v));
}

char *vx_inventory_json(const struct vx_inventory *inv, bool with_files)
{
    json_t *root = json_object(), *pkgs = json_array(), *unm = json_array();
    json_t *warn = json_array(), **files = NULL;
    struct order *ord = vx_xcalloc(inv->n_pkgs ? inv->n_pkgs : 1, sizeof(*ord));
    size_t *unmapped, n_unmapped;
    char **ups;
    char *out;

    /* each package's owned paths, collected in one pass over the sorted index */
    if (with_files) {
        files = vx_xcalloc(inv->n_pkgs ? inv->n_pkgs : 1, sizeof(*files));
        for (size_t i = 0; i < inv->n_pkgs; i++)
            files[i] = json_array();
        if (inv->n_owners) {
            for (size_t k = 0; k < inv->n_owners; k++)
                if (!inv->owners[k].is_dir)
                    json_array_append_new(files[inv->owners[k].pkg], jstr(inv->owners[k].path));
        } else {
            for (size_t i = 0; i < inv->n_pkgs; i++) {
                char **c = vx_xcalloc(inv->pkgs[i].n_files + 1, sizeof(*c));
                if (inv->pkgs[i].n_files)
                    memcpy(c, inv->pkgs[i].files, inv->pkgs[i].n_files * sizeof(*c));
                qsort(c, inv->pkgs[i].n_files, sizeof(*c), cmp_str);
                for (size_t f = 0; f < inv->pkgs[i].n_files; f++)
                    json_array_append_new(files[i], jstr(c[f]));
                free(c);
            }
        }
    }
    for (size_t i = 0; i < inv->n_pkgs; i++)
        ord[i] = (struct order){inv, i};
    qsort(ord, inv->n_pkgs, sizeof(*ord), by_purl);
    for (size_t k = 0; k < inv->n_pkgs; k++) {
        const struct vx_pkg *p = &inv->pkgs[ord[k].i];
        json_t *o = json_object();

        json_object_set_new(o, "name", jstr(p->name));
        json_object_set_new(o, "version", jstr(p->version));
        json_object_set_new(o, "type", json_string(vx_pkg_type_name(p->type)));
        if (p->purl)
            json_object_set_new(o, "purl", jstr(p->purl));
        if (p->arch)
            json_object_set_new(o, "arch", jstr(p->arch));
        if (p->namespace)
            json_object_set_new(o, "namespace", jstr(p->namespace));
        if (p->source_name)
            json_object_set_new(o, "source_name", jstr(p->source_name));
        if (p->source_version)
            json_object_set_new(o, "source_version", jstr(p->source_version));
        if (p->location)
            json_object_set_new(o, "location", jstr(p->location));
        json_object_set_new(o, "n_files", json_integer((json_int_t)p->n_files));
        json_object_set_new(o, "n_mapped", json_integer((json_int_t)p->n_mapped));
        if (with_files) {
            json_object_set_new(o, "files", files[ord[k].i]);
            files[ord[k].i] = NULL;
        }
        json_array_append_new(pkgs, o);
    }
    unmapped = vx_inventory_unmapped(inv, &n_unmapped);
    ups = vx_xcalloc(n_unmapped + 1, sizeof(*ups));
    for (size_t i = 0; i < n_unmapped; i++)
        ups[i] =
            inv->pkgs[unmapped[i]].purl ? inv->pkgs[unmapped[i]].purl : inv->pkgs[unmapped[i]].name;
    qsort(ups, n_unmapped, sizeof(*ups), cmp_str);
    for (size_t i = 0; i < n_unmapped; i++)
        json_array_append_new(unm, jstr(ups[i]));
    for (size_t i = 0; i < inv->n_warnings; i++)
        json_array_append_new(warn, jstr(inv->warnings[i]));
    json_object_set_new(root, "packages", pkgs);
    json_object_set_new(root, "unmapped", unm);
    json_object_set_new(root, "warnings", warn);
    if (inv->warnings_dropped)
        json_object_set_new(root, "warnings_dropped", json_integer(inv->warnings_dropped));
    if (inv->distro_id || inv->distro_version) {
        json_t *d = json_object();
        set_str(d, "id", inv->distro_id);
        set_str(d, "version_id", inv->distro_version);
        json_object_set_new(root, "distro", d);
    }
    out = vx_json_dump(root);
    json_decref(root);
    free(ord);
    free(unmapped);
    free(ups);
    if (files) {
        for (size_t i = 0; i < inv->n_pkgs; i++)
            json_decref(files[i]);
        free(files);
    }
    return out;
}
