/* fuzz_pattern.c — libFuzzer target for the sandbox's bounded matcher (runtime/sandbox_match.c, issue 21).
 * Built and run by `make fuzz`.
 *
 * Input: byte 0 picks the call (find, find plain, match, gmatch, gsub with a string, a function or a table,
 * or the rest run as a small policy chunk); the rest is "pattern\0subject" (no NUL: the whole rest is the
 * pattern and the subject is it repeated). Checked contract: every call returns (or raises) within
 * BOUND_MS even for a pathological pattern; and whenever the sandbox answers without an error, unmodified
 * Lua 5.4 (a plain state with the stock string library) gives the same results — the stock matcher is only
 * asked after the bounded one finished within its step limit, so it finishes too. */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sandbox.h"

#define BOUND_MS 2000 /* generous under ASan; an unbounded pattern runs for seconds to hours */

static struct sandbox *sb;
static lua_State *ref; /* stock Lua */

static const char *const calls[] = {
    "local s, p = ... return string.find(s, p)",
    "local s, p = ... return string.find(s, p, 1, true)",
    "local s, p = ... return string.match(s, p)",
    "local s, p = ... local out = {} for a, b in string.gmatch(s, p) do out[#out + 1] = tostring(a) .. '|' .. tostring(b) if #out > 64 then break end end return table.concat(out, ',')",
    "local s, p = ... return string.gsub(s, p, '<%0>')",
    "local s, p = ... return string.gsub(s, p, function(c) return #c % 2 == 0 and c or nil end)",
    "local s, p = ... return string.gsub(s, p, { a = 'A', [''] = 'E' })",
};
#define N_CALLS (sizeof calls / sizeof calls[0])

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct sandbox_limits lim = {32u << 20, 5000000L, 1000};
    char err[256];
    (void)argc, (void)argv;
    if (!(sb = sandbox_new(&lim, err, sizeof err))) abort();
    sandbox_seal(sb);
    ref = luaL_newstate();
    luaL_openlibs(ref);
    return 0;
}

static long elapsed_ms(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Runs calls[which] with (s, p) in L; returns 0 and pushes a string of the results, or -1 (error). */
static int run(lua_State *L, struct sandbox *box, size_t which, const char *s, size_t ls, const char *p, size_t lp)
{
    char err[1024];
    int top = lua_gettop(L);
    if (luaL_loadbufferx(L, calls[which], strlen(calls[which]), "=call", "t") != LUA_OK) abort();
    lua_pushlstring(L, s, ls);
    lua_pushlstring(L, p, lp);
    int rc = box ? sandbox_pcall(box, 2, LUA_MULTRET, err, sizeof err) : (lua_pcall(L, 2, LUA_MULTRET, 0) == LUA_OK ? 0 : -1);
    if (rc < 0) {
        if (!box && getenv("FUZZ_PATTERN_DEBUG")) fprintf(stderr, "stock: %s\n", lua_tostring(L, -1));
        lua_settop(L, top);
        return -1;
    }
    luaL_Buffer b;
    int n = lua_gettop(L);
    luaL_buffinit(L, &b);
    for (int i = top + 1; i <= n; i++) {
        lua_pushvalue(L, i);
        luaL_addvalue(&b);
        luaL_addchar(&b, '\t');
    }
    luaL_pushresult(&b);
    lua_replace(L, top + 1);
    lua_settop(L, top + 1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct timespec t0;
    char err[1024];
    if (size < 1) return 0;
    size_t which = data[0] % (N_CALLS + 1);
    const char *rest = (const char *)data + 1;
    size_t n = size - 1;
    lua_State *L = sandbox_state(sb);

    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (which == N_CALLS) { /* a small policy chunk under the budgets */
        if (sandbox_run_chunk(sb, rest, n, "fuzz.lua", err, sizeof err) == 0) lua_pop(L, 1);
        if (elapsed_ms(&t0) > BOUND_MS) abort();
        lua_settop(L, 0);
        return 0;
    }
    const char *nul = memchr(rest, '\0', n);
    const char *p = rest, *s;
    size_t lp = nul ? (size_t)(nul - rest) : n, ls;
    char *owned = NULL;
    if (nul) {
        s = nul + 1;
        ls = n - lp - 1;
    } else { /* the subject is the pattern repeated: the shape of the pathological cases */
        ls = lp * 8;
        owned = malloc(ls + 1);
        for (size_t i = 0; i < 8; i++) memcpy(owned + i * lp, p, lp);
        s = owned;
    }
    int rc = run(L, sb, which, s, ls, p, lp);
    long took = elapsed_ms(&t0);
    if (took > BOUND_MS) {
        fprintf(stderr, "bounded matcher took %ld ms\n", took);
        abort();
    }
    if (rc == 0) {
        size_t la, lb;
        const char *a = lua_tolstring(L, -1, &la);
        if (run(ref, NULL, which, s, ls, p, lp) != 0) {
            fprintf(stderr, "sandbox answered %.*s but stock Lua raised\n", (int)la, a);
            abort();
        }
        const char *bb = lua_tolstring(ref, -1, &lb);
        if (la != lb || memcmp(a, bb, la) != 0) {
            fprintf(stderr, "sandbox %.*s\nstock   %.*s\n", (int)la, a, (int)lb, bb);
            abort();
        }
        lua_settop(ref, 0);
    }
    lua_settop(L, 0);
    free(owned);
    return 0;
}
