/* lrt.c — Lua-facing runtime functions. Each states its stack effect; misuse raises (luaL_check*),
 * runtime failure returns nil, err (OpenResty's rule). */
#include "lrt.h"

#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "sandbox.h"
#include "sandbox_json.h"

/* rt.log(level, message) -> nothing. level is "debug"|"info"|"warn"|"error". Stack: [-2, +0]. */
static int rt_log(lua_State *L)
{
    static const char *levels[] = {"debug", "info", "warn", "error", NULL};
    int level = luaL_checkoption(L, 1, NULL, levels);
    const char *msg = luaL_checkstring(L, 2);
    char esc[1024];
    lua_Debug ar;
    char where[128] = "?";
    if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "Sl", &ar))
        snprintf(where, sizeof where, "%s:%d", ar.short_src, ar.currentline);
    LOG_AT((enum log_level)level, NULL, "policy log", "where=%s text=\"%s\"", where,
           log_escape(msg, esc, sizeof esc));
    return 0;
}

/* rt.now() -> the runtime's wall clock (clock.h: real time, or the test clock) in epoch seconds as a float.
 * Stack: [-0, +1]. */
static int rt_now(lua_State *L)
{
    lua_pushnumber(L, (lua_Number)clock_wall());
    return 1;
}

void lrt_open(lua_State *L)
{
    static const luaL_Reg fns[] = {{"log", rt_log}, {"now", rt_now}, {NULL, NULL}};
    luaL_newlib(L, fns);
    lua_setglobal(L, "rt");
}

/* ---- spec module ---- */

static const struct lrt_spec_hooks *spec_hooks;
static int spec_run, spec_failed;

void lrt_spec_report(int pass, const char *desc)
{
    spec_run++;
    if (!pass) spec_failed++;
    printf("%s %d - %s\n", pass ? "ok" : "not ok", spec_run, desc ? desc : "");
}

static void tap_diag(const char *label, const char *text)
{
    printf("#   %s: ", label);
    for (const char *p = text; *p; p++) {
        putchar(*p);
        if (*p == '\n' && p[1]) printf("#     ");
    }
    putchar('\n');
}

/* spec.ok(v, desc) -> boolean. Stack: [-2, +1]. */
static int spec_ok(lua_State *L)
{
    int pass = lua_toboolean(L, 1);
    lrt_spec_report(pass, luaL_optstring(L, 2, ""));
    lua_pushboolean(L, pass);
    return 1;
}

/* Appends a Lua-syntax rendering of the value at idx to out (depth-limited; keys in iteration order). */
static void dump_value(lua_State *L, int idx, char *out, size_t outlen, int depth)
{
    size_t n = strlen(out);
    idx = lua_absindex(L, idx);
    if (n + 8 >= outlen) return;
    if (lua_type(L, idx) == LUA_TSTRING) {
        snprintf(out + n, outlen - n, "\"%s\"", lua_tostring(L, idx));
    } else if (lua_type(L, idx) != LUA_TTABLE) {
        snprintf(out + n, outlen - n, "%s", luaL_tolstring(L, idx, NULL));
        lua_pop(L, 1);
    } else if (depth > 8 || !lua_checkstack(L, 4)) {
        snprintf(out + n, outlen - n, "{...}");
    } else {
        int first = 1;
        snprintf(out + n, outlen - n, "{");
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            n = strlen(out);
            snprintf(out + n, outlen - n, "%s[", first ? "" : ", ");
            dump_value(L, -2, out, outlen, depth + 1);
            n = strlen(out);
            snprintf(out + n, outlen - n, "]=");
            dump_value(L, -1, out, outlen, depth + 1);
            lua_pop(L, 1);
            first = 0;
        }
        n = strlen(out);
        snprintf(out + n, outlen - n, "}");
    }
}

static void describe_value(lua_State *L, int idx, char *out, size_t outlen)
{
    out[0] = '\0';
    dump_value(L, idx, out, outlen, 0);
}

/* Deep structural equality of the values at a and b (tables compared key by key, nil holes allowed). */
static int deep_equal(lua_State *L, int a, int b, int depth)
{
    a = lua_absindex(L, a);
    b = lua_absindex(L, b);
    if (lua_type(L, a) != lua_type(L, b)) return 0;
    if (lua_type(L, a) != LUA_TTABLE || lua_rawequal(L, a, b)) return lua_rawequal(L, a, b);
    if (depth > 32 || !lua_checkstack(L, 6)) return 0;
    lua_pushnil(L);
    while (lua_next(L, a)) { /* every key of a is in b with an equal value */
        lua_pushvalue(L, -2);
        lua_rawget(L, b);
        int same = deep_equal(L, -1, -2, depth + 1);
        lua_pop(L, 2);
        if (!same) {
            lua_pop(L, 1);
            return 0;
        }
    }
    lua_pushnil(L);
    while (lua_next(L, b)) { /* and b has no extra keys */
        lua_pop(L, 1);
        lua_pushvalue(L, -1);
        lua_rawget(L, a);
        int missing = lua_isnil(L, -1);
        lua_pop(L, 1);
        if (missing) {
            lua_pop(L, 1);
            return 0;
        }
    }
    return 1;
}

static int report_comparison(lua_State *L, int pass)
{
    lrt_spec_report(pass, luaL_optstring(L, 3, ""));
    if (!pass) {
        char got[2048], want[2048];
        describe_value(L, 1, got, sizeof got);
        describe_value(L, 2, want, sizeof want);
        tap_diag("got", got);
        tap_diag("expected", want);
    }
    lua_pushboolean(L, pass);
    return 1;
}

/* spec.is(got, want, desc) -> boolean; primitive equality (rawequal). Stack: [-3, +1]. */
static int spec_is(lua_State *L)
{
    luaL_checkany(L, 2);
    return report_comparison(L, lua_rawequal(L, 1, 2));
}

/* spec.same(got, want, desc) -> boolean; deep structural equality. Stack: [-3, +1]. */
static int spec_same(lua_State *L)
{
    luaL_checkany(L, 2);
    return report_comparison(L, deep_equal(L, 1, 2, 0));
}

/* spec.policy(name) -> the policy's returned value | nil, err. Stack: [-1, +1|2]. */
static int spec_policy(lua_State *L)
{
    char err[1024];
    const char *name = luaL_checkstring(L, 1);
    if (spec_hooks->load_policy(L, name, err, sizeof err) < 0) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    return 1;
}

/* spec.validate_providers(tbl) -> true | nil, err. Stack: [-1, +1|2]. */
static int spec_validate_providers(lua_State *L)
{
    char err[1024];
    luaL_checktype(L, 1, LUA_TTABLE);
    json_t *doc = sandbox_to_json(L, 1, err, sizeof err);
    int rc = doc ? spec_hooks->validate_providers(doc, err, sizeof err) : -1;
    json_decref(doc);
    if (rc < 0) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* spec.validate_variables(tbl, providers_tbl?) -> true | nil, err. Stack: [-1|2, +1|2]. */
static int spec_validate_variables(lua_State *L)
{
    char err[1024];
    json_t *providers = NULL, *doc;
    int rc = -1;
    luaL_checktype(L, 1, LUA_TTABLE);
    doc = sandbox_to_json(L, 1, err, sizeof err);
    if (doc && !lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        providers = sandbox_to_json(L, 2, err, sizeof err);
    }
    if (doc && (providers || lua_isnoneornil(L, 2)))
        rc = spec_hooks->validate_variables(doc, providers, err, sizeof err);
    json_decref(doc);
    json_decref(providers);
    if (rc < 0) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

void lrt_open_spec(lua_State *L, const struct lrt_spec_hooks *hooks)
{
    static const luaL_Reg fns[] = {{"ok", spec_ok},
                                   {"is", spec_is},
                                   {"same", spec_same},
                                   {"policy", spec_policy},
                                   {"validate_providers", spec_validate_providers},
                                   {"validate_variables", spec_validate_variables},
                                   {NULL, NULL}};
    spec_hooks = hooks;
    luaL_newlib(L, fns);
    lua_setglobal(L, "spec");
}

void lrt_spec_counts(int *run, int *failed)
{
    *run = spec_run;
    *failed = spec_failed;
}
