/* json.h -- the project's door to jansson (STYLE.md R20).
 *
 * Parsing happens at the edges (API bodies, config files, stored JSON columns). These
 * helpers add the caps and error shape the project needs on top of jansson.
 */
#ifndef VX_COMMON_JSON_H
#define VX_COMMON_JSON_H

#include <stddef.h>
#include <jansson.h>

struct vx_err;

/* Parses exactly one JSON value from text[0..len) (jansson rejects invalid UTF-8 and
 * nesting deeper than its compiled limit). Caller owns the result (json_decref). Errors:
 * -VX_E_INVALID with line/column in the message. */
int vx_json_parse(const char *text, size_t len, json_t **out, struct vx_err **err);
/* Compact, key-sorted serialisation; caller frees with free(3). Never NULL. */
char *vx_json_dump(const json_t *v);
/* Borrowed string member or NULL if absent / not a string. */
const char *vx_json_str(const json_t *obj, const char *key);

#endif
