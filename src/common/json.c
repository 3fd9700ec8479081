/* json.c -- jansson helpers (see json.h). */
#include "common/setup.h"

#include "common/json.h"
#include "common/alloc.h" /* for vx_xstrdup() */
#include "common/err.h"

int vx_json_parse(const char *text, size_t len, json_t **out, struct vx_err **err)
{
    json_error_t jerr;
    json_t *v;

    v = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!v)
        return vx_err_set(err, VX_E_INVALID, 0, "malformed json at line %d column %d: %s",
                          jerr.line, jerr.column, jerr.text);
    *out = v;
    return 0;
}

char *vx_json_dump(const json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    char *r;

    if (!s)
        return vx_xstrdup("null");
    /* jansson allocates with malloc; hand back memory from our own door for symmetry */
    r = vx_xstrdup(s);
    free(s);
    return r;
}

const char *vx_json_str(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);

    return json_is_string(v) ? json_string_value(v) : NULL;
}
