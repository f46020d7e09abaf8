/* sandbox_json.c — Lua values <-> JSON for policy calls: a Lua result into a jansson tree or straight into
 * JSON text, one level of it for a shape check, and JSON into plain Lua tables. */
#include "sandbox_json.h"

#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "textbuf.h"

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0: jansson's rules (no overlong forms, no
 * surrogates, nothing above U+10FFFF). */
static size_t utf8_sequence(const unsigned char *s, size_t n)
{
    unsigned c = s[0], cp;
    size_t len;
    if (c < 0x80) return 1;
    if (c < 0xC2 || c > 0xF4) return 0;
    len = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if (len > n) return 0;
    cp = c & (0x7Fu >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/* 1 when s[0..n) is valid UTF-8 (utf8_sequence's rules). */
static int utf8_valid(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0, len; i < n; i += len)
        if (!(len = u[i] < 0x80 ? 1 : utf8_sequence(u + i, n - i))) return 0;
    return 1;
}

/* Where a value sits in the value being converted: one link per level, on the C stack. Formatted only for an
 * error message ("breakdown.sub_scores[2].note"), so a conversion that succeeds builds no path text. */
struct json_path {
    const struct json_path *up;
    const char *key; /* the object key, or NULL: then index is the array position (1-based) */
    long index;
};

/* Writes the path p into buf ("value" for the root); returns the length written. */
static size_t format_path(const struct json_path *p, char *buf, size_t len)
{
    if (!p || (!p->up && !p->key && p->index == 0)) return (size_t)snprintf(buf, len, "value");
    size_t n = p->up && (p->up->up || p->up->key || p->up->index) ? format_path(p->up, buf, len) : 0;
    if (n >= len) return n;
    return n + (size_t)(p->key ? snprintf(buf + n, len - n, "%s%s", n ? "." : "", p->key)
                               : snprintf(buf + n, len - n, "[%ld]", p->index));
}

static void path_error(const struct json_path *p, char *err, size_t errlen, const char *what)
{
    char path[512];
    format_path(p, path, sizeof path);
    snprintf(err, errlen, "%s: %s", path, what);
}

static json_t *to_json_at(lua_State *L, int idx, int depth, const struct json_path *path, char *err,
                          size_t errlen);

/* Returns n when the table at idx is a sequence 1..n with no other keys, -1 otherwise. */
static long sequence_length(lua_State *L, int idx)
{
    long count = 0, n = (long)lua_rawlen(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (!lua_isinteger(L, -1)) {
            lua_pop(L, 1);
            return -1;
        }
        lua_Integer k = lua_tointeger(L, -1);
        if (k < 1 || k > n) {
            lua_pop(L, 1);
            return -1;
        }
        count++;
    }
    return count == n ? n : -1;
}

static json_t *table_to_json(lua_State *L, int idx, int depth, const struct json_path *path, char *err,
                             size_t errlen)
{
    long n = sequence_length(L, idx);
    json_t *out;

    if (n >= 0) {
        out = json_array();
        for (long i = 1; i <= n; i++) {
            struct json_path at = {path, NULL, i};
            lua_rawgeti(L, idx, i);
            json_t *v = to_json_at(L, lua_gettop(L), depth + 1, &at, err, errlen);
            lua_pop(L, 1);
            if (!v) goto fail;
            json_array_append_new(out, v);
        }
        return out;
    }
    out = json_object();
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            path_error(path, err, errlen, "table mixes array and non-string keys");
            lua_pop(L, 2);
            goto fail;
        }
        const char *key = lua_tostring(L, -2);
        size_t keylen = strlen(key); /* a key ends at a NUL, as jansson's json_object_set did */
        struct json_path at = {path, key, 0};
        if (!utf8_valid(key, keylen)) {
            path_error(&at, err, errlen, "key is not valid UTF-8");
            lua_pop(L, 2);
            goto fail;
        }
        json_t *v = to_json_at(L, lua_gettop(L), depth + 1, &at, err, errlen);
        if (!v) {
            lua_pop(L, 2);
            goto fail;
        }
        json_object_setn_new_nocheck(out, key, keylen, v);
        lua_pop(L, 1);
    }
    return out;
fail:
    json_decref(out);
    return NULL;
}

static json_t *to_json_at(lua_State *L, int idx, int depth, const struct json_path *path, char *err,
                          size_t errlen)
{
    if (depth > 32) {
        path_error(path, err, errlen, "nested deeper than 32 levels (or a cycle)");
        return NULL;
    }
    if (!lua_checkstack(L, 4)) {
        path_error(path, err, errlen, "Lua stack exhausted");
        return NULL;
    }
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        return json_null();
    case LUA_TBOOLEAN:
        return json_boolean(lua_toboolean(L, idx));
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) return json_integer((json_int_t)lua_tointeger(L, idx));
        if (!isfinite(lua_tonumber(L, idx))) {
            path_error(path, err, errlen, "number is not finite");
            return NULL;
        }
        return json_real(lua_tonumber(L, idx));
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        json_t *v = utf8_valid(s, len) ? json_stringn_nocheck(s, len) : NULL;
        if (!v)
            path_error(path, err, errlen, utf8_valid(s, len) ? "out of memory" : "string is not valid UTF-8");
        return v;
    }
    case LUA_TTABLE:
        return table_to_json(L, idx, depth, path, err, errlen);
    case LUA_TFUNCTION:
        return json_pack("{s:b}", "__function__", 1);
    default: {
        char what[64];
        snprintf(what, sizeof what, "unsupported %s value", luaL_typename(L, idx));
        path_error(path, err, errlen, what);
        return NULL;
    }
    }
}

json_t *sandbox_to_json(lua_State *L, int idx, char *err, size_t errlen)
{
    struct json_path root = {NULL, NULL, 0};
    int top = lua_gettop(L);
    json_t *v = to_json_at(L, lua_absindex(L, idx), 0, &root, err, errlen);
    lua_settop(L, top);
    return v;
}

static int push_json_at(lua_State *L, const json_t *json, int depth)
{
    if (depth > 32 || !lua_checkstack(L, 3)) return -1;
    switch (json_typeof(json)) {
    case JSON_OBJECT: {
        const char *key;
        json_t *v;
        lua_createtable(L, 0, (int)json_object_size(json));
        json_object_foreach((json_t *)json, key, v)
        {
            if (push_json_at(L, v, depth + 1) < 0) return -1;
            lua_setfield(L, -2, key);
        }
        return 0;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *v;
        lua_createtable(L, (int)json_array_size(json), 0);
        json_array_foreach(json, i, v)
        {
            if (push_json_at(L, v, depth + 1) < 0) return -1;
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        return 0;
    }
    case JSON_STRING:
        lua_pushlstring(L, json_string_value(json), json_string_length(json));
        return 0;
    case JSON_INTEGER:
        lua_pushinteger(L, (lua_Integer)json_integer_value(json));
        return 0;
    case JSON_REAL:
        lua_pushnumber(L, json_real_value(json));
        return 0;
    case JSON_TRUE:
    case JSON_FALSE:
        lua_pushboolean(L, json_is_true(json));
        return 0;
    default:
        lua_pushnil(L);
        return 0;
    }
}

int sandbox_push_json(lua_State *L, const json_t *json)
{
    int top = lua_gettop(L);
    if (push_json_at(L, json, 0) < 0) {
        lua_settop(L, top);
        lua_pushnil(L);
        return -1;
    }
    return 0;
}

/* ---- Lua -> JSON text, without the tree ---- */

/* Appends n bytes: in place while they fit (the common case: a result's text is written in a few KB), else
 * through textbuf_add, which grows the buffer. */
static inline void out_put(struct textbuf *o, const char *s, size_t n)
{
    if (o->len + n < o->cap) {
        memcpy(o->p + o->len, s, n);
        o->len += n;
        o->p[o->len] = '\0';
    } else {
        textbuf_add(o, s, n);
    }
}

static inline void out_char(struct textbuf *o, char c)
{
    out_put(o, &c, 1);
}

/* 1 for a byte json_dumps writes as it is: printable ASCII (and DEL) but the quote (0x22) and the backslash
 * (0x5C); 32 bytes a row. */
/* clang-format off */
static const unsigned char PLAIN_ASCII[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};
/* clang-format on */

static inline int plain_ascii(unsigned char c)
{
    return PLAIN_ASCII[c];
}

/* Writes s as a JSON string, escaped as json_dumps does. Returns 0, or -1 when s is not valid UTF-8. */
static int out_string(struct textbuf *o, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    out_char(o, '"');
    while (i < n) {
        size_t run = i;
        while (i < n && plain_ascii(u[i]))
            i++;
        for (size_t len; i < n && u[i] >= 0x80; i += len)
            if (!(len = utf8_sequence(u + i, n - i))) return -1;
        if (i > run) {
            out_put(o, s + run, i - run);
            continue;
        }
        unsigned char c = u[i++];
        const char *esc = c == '"'    ? "\\\""
                          : c == '\\' ? "\\\\"
                          : c == '\b' ? "\\b"
                          : c == '\f' ? "\\f"
                          : c == '\n' ? "\\n"
                          : c == '\r' ? "\\r"
                          : c == '\t' ? "\\t"
                                      : NULL;
        if (esc) {
            out_put(o, esc, 2);
        } else {
            char seq[8];
            snprintf(seq, sizeof seq, "\\u%04X", c);
            out_put(o, seq, 6);
        }
    }
    out_char(o, '"');
    return 0;
}

/* Writes v in decimal (no printf: most numbers of a result are integers). */
static void out_integer(struct textbuf *o, long long v)
{
    char b[24], *p = b + sizeof b;
    unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
    do
        *--p = (char)('0' + u % 10);
    while (u /= 10);
    if (v < 0) *--p = '-';
    out_put(o, p, (size_t)(b + sizeof b - p));
}

/* Writes a finite double as jansson does: %.17g, ".0" when it would read back as an integer, and an exponent
 * without '+' or leading zeros. A whole number below 1e15 (what %.17g writes as its digits) skips printf. */
static void out_real(struct textbuf *o, double v)
{
    char b[48];
    if (v == trunc(v) && fabs(v) < 1e15 && !(v == 0 && signbit(v))) {
        out_integer(o, (long long)v);
        out_put(o, ".0", 2);
        return;
    }
    int n = snprintf(b, sizeof b, "%.17g", v);
    if (n < 0 || (size_t)n >= sizeof b - 3) return;
    if (!strchr(b, '.') && !strchr(b, 'e')) {
        memcpy(b + n, ".0", 3);
        n += 2;
    }
    char *e = strchr(b, 'e');
    if (e) {
        char *start = e + 1, *end = e + 2;
        if (*start == '-') start++;
        while (*end == '0')
            end++;
        if (end != start) {
            memmove(start, end, (size_t)(b + n - end) + 1);
            n -= (int)(end - start);
        }
    }
    out_put(o, b, (size_t)n);
}

/* The text of the tables already written by one sandbox_to_json_text call, by table: a table met again (a
 * policy's result shares tables: the same blockers at the top and in the breakdown, one weights table for
 * every bot) is copied from the text written the first time instead of walked again. No Lua code runs while a
 * value is written, so a table's text cannot change in between, and a table reachable from the value cannot
 * be collected and its address reused. A slot holds one table (a collision forgets the older one). */
#define TEXT_MEMO_SLOTS 256
#define TEXT_MEMO_MIN_BYTES 32 /* smaller texts are cheaper to write again than to look up */

struct text_memo {
    const void *table;
    size_t off, len; /* its text: out.p[off, off + len) */
    int height;      /* how many levels its deepest value lies below it */
};

struct text_ctx {
    struct textbuf out;
    int deepest; /* the deepest level reached so far (for a table's height) */
    struct text_memo memo[TEXT_MEMO_SLOTS];
};

static int to_text_at(lua_State *L, int idx, int depth, const struct json_path *path, struct text_ctx *c,
                      char *err, size_t errlen);

static int table_to_text(lua_State *L, int idx, int depth, const struct json_path *path, struct text_ctx *c,
                         char *err, size_t errlen)
{
    struct textbuf *o = &c->out;
    long n = sequence_length(L, idx);
    if (n >= 0) {
        out_char(o, '[');
        for (long i = 1; i <= n; i++) {
            struct json_path at = {path, NULL, i};
            if (i > 1) out_char(o, ',');
            lua_rawgeti(L, idx, i);
            int rc = to_text_at(L, lua_gettop(L), depth + 1, &at, c, err, errlen);
            lua_pop(L, 1);
            if (rc < 0) return -1;
        }
        out_char(o, ']');
        return 0;
    }
    int first = 1;
    out_char(o, '{');
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            path_error(path, err, errlen, "table mixes array and non-string keys");
            lua_pop(L, 2);
            return -1;
        }
        const char *key = lua_tostring(L, -2);
        struct json_path at = {path, key, 0};
        if (!first) out_char(o, ',');
        first = 0;
        if (out_string(o, key, strlen(key)) < 0) {
            path_error(&at, err, errlen, "key is not valid UTF-8");
            lua_pop(L, 2);
            return -1;
        }
        out_char(o, ':');
        if (to_text_at(L, lua_gettop(L), depth + 1, &at, c, err, errlen) < 0) {
            lua_pop(L, 2);
            return -1;
        }
        lua_pop(L, 1);
    }
    out_char(o, '}');
    return 0;
}

/* table_to_text through the memo. A table's earlier text is reused only where writing it again could not
 * cross the depth limit (its height below this depth fits), so the errors stay those of sandbox_to_json. */
static int memo_table_to_text(lua_State *L, int idx, int depth, const struct json_path *path,
                              struct text_ctx *c, char *err, size_t errlen)
{
    const void *t = lua_topointer(L, idx);
    struct text_memo *m = &c->memo[((uintptr_t)t >> 4) & (TEXT_MEMO_SLOTS - 1)];
    if (m->table == t && depth + m->height <= 32) {
        if (textbuf_reserve(&c->out, m->len) == 0) out_put(&c->out, c->out.p + m->off, m->len);
        if (depth + m->height > c->deepest) c->deepest = depth + m->height;
        return 0;
    }
    size_t start = c->out.len;
    int deepest = c->deepest;
    c->deepest = depth;
    int rc = table_to_text(L, idx, depth, path, c, err, errlen);
    int height = c->deepest - depth;
    if (deepest > c->deepest) c->deepest = deepest;
    if (rc == 0 && !c->out.failed && c->out.len - start >= TEXT_MEMO_MIN_BYTES)
        *m = (struct text_memo){t, start, c->out.len - start, height};
    return rc;
}

static int to_text_at(lua_State *L, int idx, int depth, const struct json_path *path, struct text_ctx *c,
                      char *err, size_t errlen)
{
    struct textbuf *o = &c->out;
    if (depth > c->deepest) c->deepest = depth;
    if (depth > 32) {
        path_error(path, err, errlen, "nested deeper than 32 levels (or a cycle)");
        return -1;
    }
    if (!lua_checkstack(L, 4)) {
        path_error(path, err, errlen, "Lua stack exhausted");
        return -1;
    }
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        out_put(o, "null", 4);
        return 0;
    case LUA_TBOOLEAN:
        if (lua_toboolean(L, idx))
            out_put(o, "true", 4);
        else
            out_put(o, "false", 5);
        return 0;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            out_integer(o, (long long)lua_tointeger(L, idx));
            return 0;
        }
        if (!isfinite(lua_tonumber(L, idx))) {
            path_error(path, err, errlen, "number is not finite");
            return -1;
        }
        out_real(o, lua_tonumber(L, idx));
        return 0;
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        if (out_string(o, s, len) == 0) return 0;
        path_error(path, err, errlen, "string is not valid UTF-8");
        return -1;
    }
    case LUA_TTABLE:
        return memo_table_to_text(L, idx, depth, path, c, err, errlen);
    case LUA_TFUNCTION:
        out_put(o, "{\"__function__\":true}", 21);
        return 0;
    default: {
        char what[64];
        snprintf(what, sizeof what, "unsupported %s value", luaL_typename(L, idx));
        path_error(path, err, errlen, what);
        return -1;
    }
    }
}

char *sandbox_to_json_text(lua_State *L, int idx, size_t *len, char *err, size_t errlen)
{
    struct json_path root = {NULL, NULL, 0};
    struct text_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory writing JSON text");
        return NULL;
    }
    int top = lua_gettop(L);
    int rc = to_text_at(L, lua_absindex(L, idx), 0, &root, c, err, errlen);
    lua_settop(L, top);
    char *text = c->out.p;
    if (rc == 0 && c->out.failed) snprintf(err, errlen, "out of memory writing JSON text");
    if (rc < 0 || c->out.failed) {
        free(text);
        text = NULL;
    } else if (len) {
        *len = c->out.len;
    }
    free(c);
    return text;
}

json_t *sandbox_to_json_shallow(lua_State *L, int idx, char *err, size_t errlen)
{
    int top = lua_gettop(L);
    idx = lua_absindex(L, idx);
    if (lua_type(L, idx) != LUA_TTABLE || sequence_length(L, idx) >= 0) {
        snprintf(err, errlen, "value: not an object");
        return NULL;
    }
    json_t *out = json_object();
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) == LUA_TSTRING) {
            json_t *v;
            if (lua_type(L, -1) != LUA_TTABLE) {
                struct json_path root = {NULL, NULL, 0};
                v = to_json_at(L, lua_gettop(L), 1, &root, err, errlen);
            } else {
                v = sequence_length(L, lua_gettop(L)) >= 0 ? json_array() : json_object();
            }
            if (!v) {
                json_decref(out);
                lua_settop(L, top);
                return NULL;
            }
            json_object_set_new(out, lua_tostring(L, -2), v);
        }
        lua_pop(L, 1);
    }
    lua_settop(L, top);
    return out;
}
