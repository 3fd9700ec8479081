/* reach.c -- the verdict rules of DESIGN.md §10 and the confidence formula of
 * docs/verdicts.md.
 *
 * DESIGN
 * Findings are grouped into one verdict per (vulnerability, package): findings of the same
 * package whose ids or aliases meet are one group, so two scanners reporting CVE-X and its
 * GHSA alias never get two statements. Then, per group, in this order (the first rule that
 * applies decides):
 *   1. unbound finding: an OS package type (deb/apk/rpm) whose database we read, with no
 *      package of that name at any version -> not_affected/component_not_present; anything
 *      else -> under_investigation (we cannot prove absence of what we cannot see);
 *   2. the report is about another version than the image has, and the image's version is
 *      at or past the fixed version (the ecosystem's ordering) -> fixed;
 *   3. package owns no file present in the image (unmapped) -> under_investigation;
 *   4. no run or no profile, or a workload that exited before the window ended ->
 *      under_investigation (even when some code ran: the run was not adequate);
 *   5. a code file of the package was executed, mapped executable, used as interpreter, or
 *      opened when it is code by its name (shared objects, programs, scripts, bytecode:
 *      fanotify sees the open of a library, not its mmap) -> affected, unless the finding
 *      names vulnerable symbols and every one was resolved, probed and counted 0 with a
 *      complete profile (function level: not_affected), or none of them exists in the
 *      package's binaries (vulnerable_code_not_present);
 *   6. a Go module or Java archive sharing a binary/jar with others, whose file ran, with no
 *      symbol data -> under_investigation (file level cannot tell modules apart);
 *   7. the profile lost events -> under_investigation;
 *   8. a package with no code file whose data files were read -> affected (the data was
 *      consumed); otherwise not_affected/vulnerable_code_not_in_execute_path with the
 *      confidence of the run, and under_investigation when that is below the threshold.
 * Reasons are one line and name the figures they rest on.
 */
#include "common/setup.h"

#include "reach/reach.h"

#include <math.h>

#include "findings/findings.h"   /* the findings and their binding */
#include "inventory/inventory.h" /* packages, owners index, purls */
#include "trace/trace.h"         /* the profile */
#include "common/alloc.h"
#include "common/err.h"
#include "common/json.h" /* jansson objects as hash maps */

#define MAX_FILES_KEPT   200
#define MAX_TOUCHED_KEPT 200

/* ---- small helpers ------------------------------------------------------------------------ */

static bool has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);

    return n >= m && strcmp(s + n - m, suf) == 0;
}

/* True if the path is code by its name: shared objects (libx.so, libx.so.1.2), programs in
 * bin/sbin/libexec dirs, the dynamic loader, scripts and bytecode of interpreted languages.
 * Conservative on purpose: a false "code" only turns a not_affected into affected. */
static bool is_code_path(const char *p)
{
    static const char *const exts[] = {".so",  ".py", ".pyc",  ".pyo", ".js",  ".mjs", ".cjs",
                                       ".rb",  ".pl", ".pm",   ".php", ".sh",  ".jar", ".class",
                                       ".war", ".ko", ".node", ".lua", ".tcl", NULL};
    const char *base = strrchr(p, '/');

    base = base ? base + 1 : p;
    if (strstr(p, "/bin/") || strstr(p, "/sbin/") || strstr(p, "/libexec/"))
        return true;
    if (strstr(base, ".so.") || strncmp(base, "ld-linux", 8) == 0)
        return true;
    for (size_t i = 0; exts[i]; i++)
        if (has_suffix(base, exts[i]))
            return true;
    return false;
}

static void how_str(unsigned how, char *out, size_t len)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {{VX_HOW_EXEC, "exec"},
                 {VX_HOW_MMAP_EXEC, "mmap-exec"},
                 {VX_HOW_INTERP, "interp"},
                 {VX_HOW_OPEN, "open"},
                 {VX_HOW_NEEDED, "needed"}};
    size_t off = 0;

    out[0] = '\0';
    for (size_t i = 0; i < VX_ARRAY_SIZE(names); i++) {
        if (!(how & names[i].bit))
            continue;
        off += (size_t)snprintf(out + off, off < len ? len - off : 0, "%s%s", off ? "," : "",
                                names[i].name);
        if (off >= len)
            break;
    }
}

static void add_str(char ***arr, size_t *n, size_t *cap, char *s)
{
    *arr = vx_xgrow(*arr, sizeof(**arr), *n + 1, cap);
    (*arr)[(*n)++] = s;
}

/* The profile's entry for a canonical path. The profile keeps files sorted by path
 * (trace.h), so a binary search; reach does not need the trace module's code. */
static const struct vx_trace_file *profile_file(const struct vx_trace_profile *p, const char *path)
{
    size_t lo = 0, hi = p->n_files;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(p->files[mid].path, path);

        if (c == 0)
            return &p->files[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* ---- the run factor ------------------------------------------------------------------------- */

/* Run-level confidence in [0,1] from measured figures (docs/verdicts.md). */
static double run_factor(const struct vx_run_facts *rf, const struct vx_trace_profile *prof,
                         char **why)
{
    double c = 1.0, cover;

    if (!rf || !rf->ran || !prof) {
        *why = vx_xstrdup("the workload did not run under the tracer");
        return 0.0;
    }
    if (!rf->stayed_up) {
        *why = vx_xasprintf("the workload exited (code %d) after %" PRId64
                            " ms, before the observation window ended",
                            rf->exit_code, rf->window_ms);
        return 0.3 * fmin(1.0, rf->window_wanted_ms > 0
                                   ? (double)rf->window_ms / (double)rf->window_wanted_ms
                                   : 1.0);
    }
    cover =
        rf->window_wanted_ms > 0 ? fmin(1.0, (double)rf->window_ms / rf->window_wanted_ms) : 1.0;
    c *= 0.5 + 0.5 * cover;
    if (rf->health_checked)
        c *= rf->health_ok ? 1.0 : 0.5;
    else
        c *= 0.9;
    if (rf->requests > 0) {
        c *= fmin(1.0, 0.85 + 0.03 * (double)rf->endpoints);
        if (rf->status_5xx * 2 > rf->requests)
            c *= 0.9;
    } else {
        c *= 0.85;
    }
    if (rf->test_script_ran && rf->test_script_exit != 0)
        c *= 0.8;
    *why = vx_xasprintf("up for %" PRId64 " of %" PRId64 " ms, health check %s, %" PRId64
                        " requests reaching %" PRId64 " endpoints, test script %s",
                        rf->window_ms, rf->window_wanted_ms,
                        !rf->health_checked ? "not configured"
                        : rf->health_ok     ? "passed"
                                            : "failed",
                        rf->requests, rf->endpoints,
                        !rf->test_script_ran        ? "not given"
                        : rf->test_script_exit == 0 ? "passed"
                                                    : "failed");
    return c;
}

/* ---- grouping ----------------------------------------------------------------------------- */

struct group {
    long pkg;
    size_t first; /* finding that names the group */
    size_t *members;
    size_t n, cap;
};

static bool ids_meet(const struct vx_finding *a, const struct vx_finding *b)
{
    if (strcmp(a->id, b->id) == 0)
        return true;
    for (size_t i = 0; i < a->n_aliases; i++) {
        if (strcmp(a->aliases[i], b->id) == 0)
            return true;
        for (size_t j = 0; j < b->n_aliases; j++)
            if (strcmp(a->aliases[i], b->aliases[j]) == 0)
                return true;
    }
    for (size_t j = 0; j < b->n_aliases; j++)
        if (strcmp(a->id, b->aliases[j]) == 0)
            return true;
    return false;
}

/* The identity of an unbound finding's package (purl without qualifiers, else
 * type/name@version). Caller frees. */
static char *unbound_key(const struct vx_finding *f)
{
    char *k = f->purl ? vx_purl_strip(f->purl) : NULL;

    if (!k)
        k = vx_xasprintf("%s/%s@%s", f->type ? f->type : "?", f->name ? f->name : "?",
                         f->version ? f->version : "?");
    return k;
}

/* The groups of one unbound package identity, oldest first. */
struct key_groups {
    size_t *idx;
    size_t n, cap;
};

/* Groups findings: by package (bound) or package identity (unbound), then by meeting ids.
 * Per package the groups are few, so a linear search inside the package is fine; the
 * packages themselves are found through a per-package head index, and unbound identities
 * through a hash map (a jansson object: identity -> slot in kg), so neither costs a scan of
 * every group per finding. */
static struct group *make_groups(const struct vx_findings *f, size_t n_pkgs, size_t *n_groups)
{
    struct group *g = NULL;
    size_t ng = 0, cap = 0;
    size_t *head = vx_xcalloc(n_pkgs + 1, sizeof(*head)); /* 1 + first group index, by pkg */
    size_t *next = NULL, cap_next = 0;                    /* chain of groups of a pkg */
    json_t *by_key = json_object();                       /* unbound identity -> slot */
    struct key_groups *kg = NULL;
    size_t n_kg = 0, cap_kg = 0;

    for (size_t i = 0; i < f->n; i++) {
        const struct vx_finding *fi = &f->items[i];
        long pkg = fi->pkg >= 0 && (size_t)fi->pkg < n_pkgs ? fi->pkg : -1;
        char *key = NULL;
        size_t found = SIZE_MAX, slot = SIZE_MAX;

        if (!fi->id)
            continue;
        if (pkg >= 0) {
            for (size_t gi = head[pkg]; gi; gi = next[gi - 1])
                if (ids_meet(&f->items[g[gi - 1].first], fi)) {
                    found = gi - 1;
                    break;
                }
        } else {
            json_t *s;

            key = unbound_key(fi);
            s = json_object_get(by_key, key);
            if (s) {
                slot = (size_t)json_integer_value(s);
                for (size_t k = 0; k < kg[slot].n; k++)
                    if (ids_meet(&f->items[g[kg[slot].idx[k]].first], fi)) {
                        found = kg[slot].idx[k];
                        break;
                    }
            } else {
                kg = vx_xgrow(kg, sizeof(*kg), n_kg + 1, &cap_kg);
                memset(&kg[n_kg], 0, sizeof(kg[n_kg]));
                slot = n_kg++;
                /* nocheck: an identity is any text, not necessarily UTF-8 */
                json_object_set_new_nocheck(by_key, key, json_integer((json_int_t)slot));
            }
        }
        if (found == SIZE_MAX) {
            g = vx_xgrow(g, sizeof(*g), ng + 1, &cap);
            next = vx_xgrow(next, sizeof(*next), ng + 1, &cap_next);
            memset(&g[ng], 0, sizeof(g[ng]));
            g[ng].pkg = pkg;
            g[ng].first = i;
            next[ng] = 0;
            if (pkg >= 0) {
                next[ng] = head[pkg];
                head[pkg] = ng + 1;
            } else {
                struct key_groups *k = &kg[slot];

                k->idx = vx_xgrow(k->idx, sizeof(*k->idx), k->n + 1, &k->cap);
                k->idx[k->n++] = ng;
            }
            found = ng++;
        }
        g[found].members =
            vx_xgrow(g[found].members, sizeof(size_t), g[found].n + 1, &g[found].cap);
        g[found].members[g[found].n++] = i;
        free(key);
    }
    for (size_t i = 0; i < n_kg; i++)
        free(kg[i].idx);
    free(kg);
    json_decref(by_key);
    free(head);
    free(next);
    *n_groups = ng;
    return g;
}

/* ---- per-package file view ---------------------------------------------------------------- */

/* What the run did to one package's files. The same for every verdict of the package, so it
 * is computed once (on the package's first verdict) and the verdicts share its lists. */
struct pkg_evidence {
    bool done;
    size_t code_files, code_touched, data_touched;
    bool strong;            /* exec / mmap-exec / interp seen, not only an open */
    const char *first_code; /* borrowed from the owners index */
    char **files;           /* first MAX_FILES_KEPT paths: one block (see pack), or NULL */
    size_t n_files;
    char **touched; /* first MAX_TOUCHED_KEPT "path (how)": one block, or NULL */
    size_t n_touched;
};

struct pkg_files {
    const char **paths; /* canonical present paths (borrowed from the owners index) */
    const struct vx_trace_file **seen; /* each path's profile entry, or NULL */
    size_t n, cap, cap_seen;
    struct pkg_evidence ev;
};

/* n strings "a[i]" (or "a[i] (b[i])" when b is given) in one allocation: the pointer array
 * first, the text after it, so one free(3) releases the lot. NULL when n is 0. */
static char **pack(const char *const *a, const char *const *b, size_t n)
{
    size_t bytes = n * sizeof(char *), off;
    char **out;
    char *text;

    if (n == 0)
        return NULL;
    for (size_t i = 0; i < n; i++)
        bytes += strlen(a[i]) + 1 + (b ? strlen(b[i]) + 3 : 0);
    out = vx_xmalloc(bytes);
    text = (char *)(out + n);
    off = 0;
    for (size_t i = 0; i < n; i++) {
        size_t left = bytes - n * sizeof(char *) - off;
        int len = b ? snprintf(text + off, left, "%s (%s)", a[i], b[i])
                    : snprintf(text + off, left, "%s", a[i]);

        out[i] = text + off;
        off += (size_t)len + 1;
    }
    return out;
}

/* Each package's present paths, each with its profile entry. The owners index and the
 * profile are both sorted by path (strcmp), so one merge walk over the two finds every entry;
 * should the owners turn out not to be in order, the rest is looked up one by one. */
static struct pkg_files *files_by_pkg(const struct vx_inventory *inv,
                                      const struct vx_trace_profile *prof)
{
    struct pkg_files *pf = vx_xcalloc(inv->n_pkgs + 1, sizeof(*pf));
    bool in_order = true;
    size_t j = 0;

    for (size_t i = 0; i < inv->n_owners; i++) {
        const struct vx_inv_owner *o = &inv->owners[i];
        const struct vx_trace_file *tf = NULL;
        struct pkg_files *p;

        if (i > 0 && in_order && strcmp(inv->owners[i - 1].path, o->path) > 0)
            in_order = false;
        if (!o->present || o->pkg >= inv->n_pkgs)
            continue;
        if (prof && in_order) {
            int c = 1;

            while (j < prof->n_files && (c = strcmp(prof->files[j].path, o->path)) < 0)
                j++;
            if (j < prof->n_files && c == 0)
                tf = &prof->files[j];
        } else if (prof) {
            tf = profile_file(prof, o->path);
        }
        p = &pf[o->pkg];
        p->paths = vx_xgrow(p->paths, sizeof(*p->paths), p->n + 1, &p->cap);
        p->seen = vx_xgrow(p->seen, sizeof(*p->seen), p->n + 1, &p->cap_seen);
        p->seen[p->n] = tf;
        p->paths[p->n++] = o->path;
    }
    return pf;
}

/* ---- one verdict ---------------------------------------------------------------------------- */

/* A package under one of its names (its own or its source's). */
struct name_ent {
    const char *name; /* borrowed from the inventory */
    int type;
    size_t pkg;
};

struct ctx {
    const struct vx_inventory *inv;
    const struct vx_findings *f;
    const struct vx_trace_profile *prof;
    const struct vx_reach_opts *opts;
    struct pkg_files *pf;
    double run_c;
    const char *run_why;
    bool complete;
    bool exited_early; /* the workload exited before the observation window ended */
    int64_t lost;
    void **blocks; /* the packs of every pkg_evidence, handed to the result */
    size_t n_blocks, cap_blocks;
    struct name_ent *names; /* see build_names */
    size_t n_names;
    size_t n_of_type[VX_PKG_TYPE_COUNT];
    bool names_built;
};

static bool os_type(const char *t)
{
    return t && (!strcmp(t, "deb") || !strcmp(t, "apk") || !strcmp(t, "rpm"));
}

static int cmp_name_ent(const void *a, const void *b)
{
    const struct name_ent *x = a, *y = b;
    int c = x->type != y->type ? (x->type < y->type ? -1 : 1) : strcmp(x->name, y->name);

    return c ? c : (x->pkg > y->pkg) - (x->pkg < y->pkg);
}

/* The inventory's packages by (type, name) and (type, source name), sorted, and the count
 * of packages of each type: built on the first unbound finding. */
static void build_names(struct ctx *c)
{
    size_t n = 0;

    c->names = vx_xcalloc(2 * c->inv->n_pkgs + 1, sizeof(*c->names));
    for (size_t i = 0; i < c->inv->n_pkgs; i++) {
        const struct vx_pkg *p = &c->inv->pkgs[i];

        if ((unsigned)p->type < VX_PKG_TYPE_COUNT)
            c->n_of_type[p->type]++;
        c->names[n++] = (struct name_ent){p->name, (int)p->type, i};
        if (p->source_name)
            c->names[n++] = (struct name_ent){p->source_name, (int)p->type, i};
    }
    qsort(c->names, n, sizeof(*c->names), cmp_name_ent);
    c->n_names = n;
    c->names_built = true;
}

/* rule 1: a finding bound to nothing */
static void decide_unbound(struct ctx *c, const struct vx_finding *fi, struct vx_verdict *v)
{
    int t = fi->type ? vx_pkg_type_parse(fi->type) : -1;
    size_t n_of_type = 0;
    bool have_name = false;
    const char *other_version = NULL;

    if (t >= 0 && fi->name) {
        struct name_ent want = {fi->name, t, 0};
        size_t lo = 0, hi;

        if (!c->names_built)
            build_names(c);
        n_of_type = c->n_of_type[t];
        hi = c->n_names;
        while (lo < hi) { /* first entry >= (t, name, 0) */
            size_t mid = lo + (hi - lo) / 2;

            if (cmp_name_ent(&c->names[mid], &want) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        /* a scanner may name the source package; then the package is there in some form.
         * Of several packages with that name, the last in inventory order gives the version
         * (entries are sorted by package index, so the last match) */
        for (; lo < c->n_names && c->names[lo].type == t && !strcmp(c->names[lo].name, fi->name);
             lo++) {
            have_name = true;
            other_version = c->inv->pkgs[c->names[lo].pkg].version;
        }
    }
    v->status = VX_VEX_UNDER_INVESTIGATION;
    v->confidence = 0.0;
    if (os_type(fi->type) && n_of_type > 0 && !have_name) {
        v->status = VX_VEX_NOT_AFFECTED;
        v->justification = VX_JUST_COMPONENT_NOT_PRESENT;
        v->confidence = 0.95;
        v->reason = vx_xasprintf("package '%s' is not installed in the image: its %s database "
                                 "lists %zu packages and not this one",
                                 fi->name, fi->type, n_of_type);
    } else if (have_name) {
        v->reason = vx_xasprintf("the report names '%s' %s but the image has version %s", fi->name,
                                 fi->version ? fi->version : "?", other_version);
    } else {
        v->reason = vx_xasprintf("package '%s' of the report was not found by the inventory (%s)",
                                 fi->name   ? fi->name
                                 : fi->purl ? fi->purl
                                            : "?",
                                 fi->unbound_reason ? fi->unbound_reason : "no reason given");
    }
}

/* The symbols named by the group's findings, looked up in the profile among the package's
 * files. *named = how many names; *absent = names no file of the package has; *zero = names
 * probed and counted 0; *called = names counted > 0 (appended to v->symbols_called). */
static void symbol_view(const struct ctx *c, const struct group *g, const struct pkg_files *pf,
                        struct vx_verdict *v, size_t *named, size_t *absent, size_t *zero,
                        size_t *called, size_t *unknown)
{
    size_t cap = 0;

    *named = *absent = *zero = *called = *unknown = 0;
    for (size_t m = 0; m < g->n; m++) {
        const struct vx_finding *fi = &c->f->items[g->members[m]];

        for (size_t s = 0; s < fi->n_symbols; s++) {
            bool any_resolved = false, any_attached = false, any_hit = false, seen = false;

            (*named)++;
            for (size_t k = 0; c->prof && k < c->prof->n_symbols; k++) {
                const struct vx_trace_symbol *ts = &c->prof->symbols[k];
                bool ours = false;

                if (strcmp(ts->symbol, fi->symbols[s]) != 0)
                    continue;
                for (size_t p = 0; p < pf->n && !ours; p++)
                    ours = strcmp(pf->paths[p], ts->path) == 0;
                if (!ours)
                    continue;
                seen = true;
                any_resolved |= ts->resolved;
                any_attached |= ts->attached;
                any_hit |= ts->count > 0;
            }
            if (!seen)
                (*unknown)++;
            else if (any_hit) {
                (*called)++;
                add_str(&v->symbols_called, &v->n_symbols_called, &cap, vx_xstrdup(fi->symbols[s]));
            } else if (!any_resolved)
                (*absent)++;
            else if (any_attached)
                (*zero)++;
            else
                (*unknown)++;
        }
    }
}

/* Fills pf->ev: the package's present files and what touched them. */
static void package_evidence(struct ctx *c, struct pkg_files *pf)
{
    struct pkg_evidence *ev = &pf->ev;
    const char *tpaths[MAX_TOUCHED_KEPT];
    char hows[MAX_TOUCHED_KEPT][64];
    const char *hp[MAX_TOUCHED_KEPT];
    size_t nt = 0;

    ev->done = true;
    for (size_t i = 0; i < pf->n; i++) {
        const struct vx_trace_file *tf = pf->seen[i];
        bool code = is_code_path(pf->paths[i]);

        ev->code_files += code;
        if (!tf)
            continue;
        if (tf->how & (VX_HOW_EXEC | VX_HOW_MMAP_EXEC | VX_HOW_INTERP)) {
            ev->strong = true;
            code = true;
        }
        if (code) {
            ev->code_touched++;
            if (!ev->first_code)
                ev->first_code = pf->paths[i];
        } else {
            ev->data_touched++;
        }
        if (nt < MAX_TOUCHED_KEPT) {
            how_str(tf->how, hows[nt], sizeof(hows[nt]));
            hp[nt] = hows[nt];
            tpaths[nt++] = pf->paths[i];
        }
    }
    ev->n_files = pf->n < MAX_FILES_KEPT ? pf->n : MAX_FILES_KEPT;
    ev->files = pack(pf->paths, NULL, ev->n_files);
    ev->n_touched = nt;
    ev->touched = pack(tpaths, hp, nt);
    c->blocks = vx_xgrow(c->blocks, sizeof(*c->blocks), c->n_blocks + 2, &c->cap_blocks);
    if (ev->files)
        c->blocks[c->n_blocks++] = ev->files;
    if (ev->touched)
        c->blocks[c->n_blocks++] = ev->touched;
}

static void decide_bound(struct ctx *c, const struct group *g, struct vx_verdict *v)
{
    const struct vx_pkg *p = &c->inv->pkgs[g->pkg];
    struct pkg_files *pf = &c->pf[g->pkg];
    const struct vx_finding *f0 = &c->f->items[g->first];
    size_t code_files, code_touched, data_touched;
    bool strong;
    size_t named, absent, zero, called, unknown;
    const char *first_code;
    double conf;

    /* evidence: the package's present files and what touched them (shared by its verdicts) */
    if (!pf->ev.done)
        package_evidence(c, pf);
    code_files = pf->ev.code_files;
    code_touched = pf->ev.code_touched;
    data_touched = pf->ev.data_touched;
    strong = pf->ev.strong;
    first_code = pf->ev.first_code;
    v->n_files_total = (int64_t)pf->n;
    v->files = pf->ev.files;
    v->n_files = pf->ev.n_files;
    v->touched = pf->ev.touched;
    v->n_touched = pf->ev.n_touched;

    /* rule 2: fixed */
    /* Only when the report is about another version than the image has: if the scanner saw
     * this very version and still reported it, its own ordering said "not fixed", and a
     * disagreement of version orderings must never hide a CVE. */
    if (f0->fixed_version && *f0->fixed_version && !strchr(f0->fixed_version, ',') && f0->version &&
        strcmp(f0->version, p->version) != 0 &&
        vx_version_cmp(vx_pkg_type_name(p->type), p->version, f0->fixed_version) >= 0) {
        v->status = VX_VEX_FIXED;
        v->confidence = 0.9;
        v->reason = vx_xasprintf("installed %s %s is at or past the fixed version %s", p->name,
                                 p->version, f0->fixed_version);
        return;
    }
    /* rule 3: unmapped */
    if (pf->n == 0) {
        v->status = VX_VEX_UNDER_INVESTIGATION;
        v->reason = vx_xasprintf("package %s %s owns no file we could find in the image, so "
                                 "file evidence cannot judge it",
                                 p->name, p->version);
        return;
    }
    /* rule 4: no run */
    if (!c->prof || c->run_c <= 0.0) {
        v->status = VX_VEX_UNDER_INVESTIGATION;
        v->reason = vx_xasprintf("no usable run: %s", c->run_why);
        return;
    }
    /* rule 4b: a workload that exited before the window ended did not run as it would in
     * production (crash, bad config, missing input): nothing is decided on such a run, not
     * even affected (DESIGN.md §10: run failed or too short) */
    if (c->exited_early) {
        v->status = VX_VEX_UNDER_INVESTIGATION;
        v->reason = vx_xasprintf("%s%s", c->run_why,
                                 code_touched ? "; code of the package did run before that" : "");
        return;
    }
    symbol_view(c, g, pf, v, &named, &absent, &zero, &called, &unknown);
    /* rule 5: code ran */
    if (code_touched > 0) {
        if (named > 0 && called == 0 && unknown == 0 && absent == named) {
            v->status = VX_VEX_NOT_AFFECTED;
            v->justification = VX_JUST_VULNERABLE_CODE_NOT_PRESENT;
            v->confidence = 0.9;
            v->reason = vx_xasprintf("none of the %zu named vulnerable function(s) exists in the "
                                     "binaries of %s",
                                     named, p->name);
            return;
        }
        if (named > 0 && called == 0 && unknown == 0 && absent + zero == named && zero > 0 &&
            c->complete) {
            conf = c->run_c * 0.9;
            v->status =
                conf >= c->opts->threshold ? VX_VEX_NOT_AFFECTED : VX_VEX_UNDER_INVESTIGATION;
            v->justification = v->status == VX_VEX_NOT_AFFECTED
                                   ? VX_JUST_VULNERABLE_CODE_NOT_IN_EXECUTE_PATH
                                   : VX_JUST_NONE;
            v->confidence = conf;
            v->reason = vx_xasprintf("%s was loaded but its %zu named vulnerable function(s) "
                                     "were never called (uprobes, nothing lost)%s",
                                     p->name, zero,
                                     v->status == VX_VEX_NOT_AFFECTED
                                         ? ""
                                         : "; confidence of the run below the threshold");
            return;
        }
        if ((p->type == VX_PKG_GOLANG || p->type == VX_PKG_MAVEN) && called == 0) {
            v->status = VX_VEX_UNDER_INVESTIGATION;
            v->reason = vx_xasprintf("%s shares the %s that ran with other modules and the "
                                     "finding names no function we could count",
                                     p->name, p->type == VX_PKG_GOLANG ? "binary" : "archive");
            return;
        }
        v->status = VX_VEX_AFFECTED;
        v->confidence = called > 0 ? 0.99 : strong ? 0.95 : 0.85;
        if (called > 0)
            v->reason = vx_xasprintf("vulnerable function %s of %s was called",
                                     v->symbols_called[0], p->name);
        else
            v->reason = vx_xasprintf("%zu code file(s) of %s %s were %s during the run, e.g. %s",
                                     code_touched, p->name, p->version,
                                     strong ? "executed or mapped" : "loaded", first_code);
        return;
    }
    /* rule 7: incomplete profile */
    if (!c->complete) {
        v->status = VX_VEX_UNDER_INVESTIGATION;
        v->reason = vx_xasprintf("no file of %s was seen, but the tracer lost %" PRId64
                                 " event(s), so absence proves nothing",
                                 p->name, c->lost);
        return;
    }
    /* rule 8 */
    if (code_files == 0 && data_touched > 0) {
        v->status = VX_VEX_AFFECTED;
        v->confidence = 0.8;
        v->reason = vx_xasprintf("%s ships no code but %zu of its data file(s) were read, "
                                 "e.g. %s",
                                 p->name, data_touched, v->touched[0]);
        return;
    }
    conf = c->run_c * (data_touched > 0 ? 0.9 : 1.0);
    v->confidence = conf;
    if (conf < c->opts->threshold) {
        v->status = VX_VEX_UNDER_INVESTIGATION;
        v->reason = vx_xasprintf("none of the %zu file(s) of %s ran, but the run's confidence "
                                 "%.2f is below the threshold %.2f (%s)",
                                 pf->n, p->name, conf, c->opts->threshold, c->run_why);
        return;
    }
    v->status = VX_VEX_NOT_AFFECTED;
    v->justification = VX_JUST_VULNERABLE_CODE_NOT_IN_EXECUTE_PATH;
    if (data_touched > 0)
        v->reason = vx_xasprintf("none of the %zu code file(s) of %s ran; only %zu data file(s) "
                                 "were read (%s)",
                                 code_files, p->name, data_touched, c->run_why);
    else
        v->reason = vx_xasprintf("none of the %zu file(s) of %s was opened, executed or mapped "
                                 "(%s)",
                                 pf->n, p->name, c->run_why);
}

/* ---- the whole result ------------------------------------------------------------------------ */

static void verdict_release(struct vx_verdict *v)
{
    free(v->findings);
    free(v->reason);
    /* files and touched belong to the result (shared by the package's verdicts) */
    for (size_t i = 0; i < v->n_symbols_called; i++)
        free(v->symbols_called[i]);
    free(v->symbols_called);
}

void vx_reach_result_free(struct vx_reach_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        verdict_release(&r->verdicts[i]);
    free(r->verdicts);
    for (size_t i = 0; i < r->n_shared; i++)
        free(r->shared[i]);
    free(r->shared);
    free(r->run_reason);
    free(r);
}

/* Sort key context: qsort has no user argument, so verdicts carry what they sort by. */
struct sortable {
    struct vx_verdict v;
    const char *purl;
};

static int cmp_verdict(const void *a, const void *b)
{
    const struct sortable *x = a, *y = b;
    int c = strcmp(x->v.vuln_id, y->v.vuln_id);

    return c ? c : strcmp(x->purl ? x->purl : "", y->purl ? y->purl : "");
}

int vx_reach_decide(const struct vx_inventory *inv, const struct vx_findings *f,
                    const struct vx_trace_profile *profile, const struct vx_run_facts *facts,
                    const struct vx_reach_opts *opts, struct vx_reach_result **out,
                    struct vx_err **err)
{
    static const struct vx_findings no_findings;
    struct vx_reach_opts defaults = {.threshold = 0.7};
    struct vx_reach_result *r = NULL;
    struct sortable *tmp = NULL;
    struct group *g = NULL;
    char *run_why = NULL;
    struct ctx c = {0};
    size_t ng = 0;

    if (!inv)
        return vx_err_set(err, VX_E_INTERNAL, 0, "reach: no inventory");
    if (!f)
        f = &no_findings;
    if (!opts || !(opts->threshold > 0.0 && opts->threshold <= 1.0))
        opts = &defaults;
    c.inv = inv;
    c.f = f;
    c.prof = profile;
    c.opts = opts;
    c.pf = files_by_pkg(inv, profile);
    c.run_c = run_factor(facts, profile, &run_why);
    c.run_why = run_why;
    c.complete = profile && profile->complete;
    c.exited_early = facts && facts->ran && !facts->stayed_up;
    for (size_t i = 0; profile && i < profile->n_backends; i++)
        c.lost += profile->backends[i].lost;

    g = make_groups(f, inv->n_pkgs, &ng);
    tmp = vx_xcalloc(ng + 1, sizeof(*tmp));
    for (size_t i = 0; i < ng; i++) {
        struct vx_verdict *v = &tmp[i].v;
        const struct vx_finding *f0 = &f->items[g[i].first];

        v->vuln_id = f0->id;
        v->pkg = g[i].pkg;
        v->status = VX_VEX_UNDER_INVESTIGATION;
        if (g[i].pkg < 0)
            decide_unbound(&c, f0, v);
        else
            decide_bound(&c, &g[i], v);
        v->findings = g[i].members; /* moved after the rules, which read the group */
        v->n_findings = g[i].n;
        g[i].members = NULL;
        tmp[i].purl = g[i].pkg >= 0 ? inv->pkgs[g[i].pkg].purl : f0->purl;
    }
    qsort(tmp, ng, sizeof(*tmp), cmp_verdict);

    r = vx_xcalloc(1, sizeof(*r));
    r->verdicts = vx_xcalloc(ng + 1, sizeof(*r->verdicts));
    for (size_t i = 0; i < ng; i++) {
        r->verdicts[i] = tmp[i].v;
        switch (tmp[i].v.status) {
        case VX_VEX_AFFECTED:
            r->n_affected++;
            break;
        case VX_VEX_NOT_AFFECTED:
            r->n_not_affected++;
            break;
        case VX_VEX_FIXED:
            r->n_fixed++;
            break;
        default:
            r->n_under_investigation++;
        }
    }
    r->n = ng;
    r->run_confidence = c.run_c;
    r->run_reason = run_why;
    r->profile_complete = c.complete;
    r->shared = c.blocks;
    r->n_shared = c.n_blocks;
    run_why = NULL;
    *out = r;

    for (size_t i = 0; i < ng; i++)
        free(g[i].members);
    free(g);
    free(tmp);
    for (size_t i = 0; i < inv->n_pkgs; i++) {
        free(c.pf[i].paths);
        free(c.pf[i].seen);
    }
    free(c.pf);
    free(c.names);
    free(run_why);
    return 0;
}
