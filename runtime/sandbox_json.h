/* sandbox_json.h — Lua values <-> JSON for policy calls (the rules are sandbox_to_json's). Only policy.c and
 * lrt.c call these; the Lua state is the sandbox's. */
#ifndef GATEHOUSE_SANDBOX_JSON_H
#define GATEHOUSE_SANDBOX_JSON_H

#include <jansson.h>
#include <stddef.h>

struct lua_State;

/* Converts the Lua value at idx into JSON: strings, numbers, booleans, nil -> null; tables with keys 1..n
 * become arrays (an empty table is an array), tables with string keys objects; functions become the object
 * {"__function__": true}. Anything else (userdata, cycles, mixed keys, depth > 32) is an error.
 * Returns a new reference, or NULL with err filled ("path: problem"). Stack unchanged. */
json_t *sandbox_to_json(struct lua_State *L, int idx, char *err, size_t errlen);

/* Pushes a plain Lua table/value built from json (stack effect +1). Returns 0, or -1 if too deep. */
int sandbox_push_json(struct lua_State *L, const json_t *json);

/* The Lua value at idx as compact JSON text by sandbox_to_json's rules — the same text
 * json_dumps(JSON_COMPACT | JSON_ENCODE_ANY) writes of sandbox_to_json's tree — without building the tree.
 * Returns a malloc'd NUL-terminated string (*len its length when len is not NULL), or NULL with err filled.
 * Stack unchanged. */
char *sandbox_to_json_text(struct lua_State *L, int idx, size_t *len, char *err, size_t errlen);

/* The top level of the object (string-keyed table) at idx: its scalar members converted, each table member an
 * empty array or an empty object as sandbox_to_json would make it; for checking the shape of a value whose
 * text sandbox_to_json_text writes. A new reference, or NULL with err filled. Stack unchanged. */
json_t *sandbox_to_json_shallow(struct lua_State *L, int idx, char *err, size_t errlen);

#endif
