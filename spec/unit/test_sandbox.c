/* test_sandbox.c — the call budgets hold even when the policy catches their errors with pcall; the sealed
 * sandbox's libraries are read-only and each chunk has its own environment, at no allocation per read; a
 * value that cannot become JSON is named by its path. */
#include <jansson.h>
#include <lua.h>
#include <string.h>
#include <time.h>

#include "sandbox.h"
#include "sandbox_json.h"
#include "tap.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

/* Runs src in a fresh sandbox with the given limits; returns 0/-1 like sandbox_run_chunk, err filled. */
static int run(const char *src, long instr, int deadline_ms, char *err, size_t errlen, double *took)
{
    struct sandbox_limits lim = {16u << 20, instr, deadline_ms};
    struct sandbox *sb = sandbox_new(&lim, err, errlen);
    double t0 = now_s();
    int rc;
    if (!sb) return -2;
    sandbox_seal(sb);
    rc = sandbox_run_chunk(sb, src, strlen(src), "t.lua", err, errlen);
    *took = now_s() - t0;
    sandbox_free(sb);
    return rc;
}

/* Two chunks in one sealed sandbox: the first tries to change what the second sees. */
static void test_isolation(void)
{
    struct sandbox_limits lim = {16u << 20, 2000000, 1000};
    char err[512] = "";
    struct sandbox *sb = sandbox_new(&lim, err, sizeof err);
    static const char probe[] =
        "local hits = 0\n"
        "for _, f in ipairs({ function() math.floor = nil end, function() string.upper = nil end,\n"
        "                     function() _G.math = {} end, function() math = {} end, function() shared = 1 end,\n"
        "                     function() getmetatable('').__index.upper = nil end, function() table.insert = nil end }) do\n"
        "  if pcall(f) then hits = hits + 1 end\n"
        "end\n"
        "return hits";
    static const char victim[] =
        "assert(math.floor(1.5) == 1 and ('a'):upper() == 'A' and string.upper('b') == 'B')\n"
        "local ok = pcall(function() return shared end)\n"
        "assert(not ok, 'a global of another chunk is visible')\n"
        "return function(n) local s = 0 for i = 1, n do s = s + math.floor(i / 2) + math.max(i, 1) end return s end";
    lua_State *L;
    size_t before;
    if (!sb) {
        tap_ok(0, "sandbox_new: %s", err);
        return;
    }
    sandbox_seal(sb);
    L = sandbox_state(sb);
    tap_ok(sandbox_run_chunk(sb, probe, strlen(probe), "probe.lua", err, sizeof err) == 0 &&
               lua_tointeger(L, -1) == 0,
           "a chunk can change no library, no global and not the string metatable (%s)", err);
    lua_settop(L, 0);
    tap_ok(sandbox_run_chunk(sb, victim, strlen(victim), "victim.lua", err, sizeof err) == 0,
           "the next chunk sees the real libraries and not the first chunk's globals (%s)", err);
    lua_pushvalue(L, -1);
    lua_pushinteger(L, 1000);
    sandbox_pcall(sb, 1, 1, err, sizeof err);
    lua_pop(L, 1);
    before = sandbox_memory(sb);
    lua_pushinteger(L, 100000);
    tap_ok(sandbox_pcall(sb, 1, 1, err, sizeof err) == 0, "100,000 reads through the read-only proxies (%s)",
           err);
    tap_ok(sandbox_memory(sb) == before, "... allocate nothing (%zu bytes before, %zu after)", before,
           sandbox_memory(sb));
    sandbox_free(sb);
}

/* sandbox_to_json: what converts, and an error names the value's path (built only when there is an error). */
static void test_to_json(void)
{
    struct sandbox_limits lim = {16u << 20, 2000000, 1000};
    char err[512] = "";
    struct sandbox *sb = sandbox_new(&lim, err, sizeof err);
    static const struct {
        const char *src, *want; /* want: the compact JSON, or "!" and the error */
    } cases[] = {
        {"return { a = { 1, 2, { b = 'x' } }, e = {} }", "{\"a\": [1, 2, {\"b\": \"x\"}], \"e\": []}"},
        {"return { 1.5, true }", "[1.5, true]"},
        {"return 0/0", "!value: number is not finite"},
        {"return { a = { 1, { b = { c = 1/0 } } } }", "!a[2].b.c: number is not finite"},
        {"return { { x = { [1] = 1, y = 2 } } }", "![1].x: table mixes array and non-string keys"},
    };
    if (!sb) {
        tap_ok(0, "sandbox_new: %s", err);
        return;
    }
    lua_State *L = sandbox_state(sb);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        err[0] = '\0';
        lua_settop(L, 0);
        if (sandbox_run_chunk(sb, cases[i].src, strlen(cases[i].src), "j.lua", err, sizeof err) != 0) {
            tap_ok(0, "%s: %s", cases[i].src, err);
            continue;
        }
        json_t *v = sandbox_to_json(L, -1, err, sizeof err);
        char *text = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_SORT_KEYS) : NULL;
        if (cases[i].want[0] == '!')
            tap_ok(!v && strcmp(err, cases[i].want + 1) == 0, "%s -> error \"%s\" (got \"%s\")", cases[i].src,
                   cases[i].want + 1, err);
        else
            tap_ok(text && strcmp(text, cases[i].want) == 0, "%s -> %s (got %s)", cases[i].src, cases[i].want,
                   text ? text : err);
        free(text);
        json_decref(v);
    }
    sandbox_free(sb);
}

/* sandbox_to_json_text writes the text json_dumps writes of sandbox_to_json's tree, and fails the same way.
 */
static void test_to_json_text(void)
{
    struct sandbox_limits lim = {16u << 20, 2000000, 1000};
    char err[512] = "", err2[512] = "";
    struct sandbox *sb = sandbox_new(&lim, err, sizeof err);
    static const char *const cases[] = {
        "return { a = { 1, 2, { b = 'x' } }, e = {}, f = { {}, { {} } } }",
        "return { 'q\"b\\\\s/\\b\\f\\n\\r\\t\\1\\31\\127', '\\195\\169 \\226\\130\\172 \\240\\157\\132\\158', '' }",
        "return { 0.1, 1e20, 1e-5, -0.0, 123456789.0, 2^53, 1/3, -2.5e-300, 1e300 }",
        "return { 0.0, -123.0, 999999999999999.0, -999999999999999.0, 1e15, 1e16, 2^63, -2^63, 1e17, 0.5 }",
        "return { -7, 0, math.maxinteger, math.mininteger, true, false }",
        "return { fn = math.floor, n = 3, nested = { deeper = { list = { 1, 'two', { three = 3 } } } } }",
        "return 'plain'",
        "return 42",
        "return nil",
        "return 0/0",
        "return { a = { 1, { b = { c = 1/0 } } } }",
        "return { { x = { [1] = 1, y = 2 } } }",
        "return { s = 'ok', bad = '\\255' }",
        "local t = {} t.self = t return t",
        "return { [1] = 1, [3] = 3 }",
        "local s = { a = 1, b = { 1, 2, 'shared text long enough to be remembered' } } "
        "return { x = s, y = s, z = { s, { s } }, w = { b = s.b } }",
        /* t is 30 levels deep: met at the top it fits, met again under 3 more levels it does not */
        "local t = {} local p = t for i = 1, 29 do p.n = { v = 'a value long enough to be kept' } p = p.n end "
        "return { t, { { { t } } } }",
        "local t = {} local p = t for i = 1, 29 do p.n = { v = 'a value long enough to be kept' } p = p.n end "
        "return { { { { t } } }, t }",
        /* u's t is copied from the text of the t before it: u's height must still count t's levels */
        "local t = {} local p = t for i = 1, 27 do p.n = { v = 'a value long enough to be kept' } p = p.n end "
        "local u = { a = t } return { t, u, { { { u } } } }",
        "return { ok = 1, ['k\\255'] = 2 }",
    };
    if (!sb) {
        tap_ok(0, "sandbox_new: %s", err);
        return;
    }
    lua_State *L = sandbox_state(sb);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        err[0] = err2[0] = '\0';
        lua_settop(L, 0);
        if (sandbox_run_chunk(sb, cases[i], strlen(cases[i]), "j.lua", err, sizeof err) != 0) {
            tap_ok(0, "%s: %s", cases[i], err);
            continue;
        }
        json_t *v = sandbox_to_json(L, -1, err, sizeof err);
        char *want = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        size_t len = 0;
        int top = lua_gettop(L);
        char *got = sandbox_to_json_text(L, -1, &len, err2, sizeof err2);
        if (want)
            tap_ok(got && strcmp(got, want) == 0 && len == strlen(want), "text of %s is %s (got %s)",
                   cases[i], want, got ? got : err2);
        else
            tap_ok(!got && strcmp(err, err2) == 0, "%s fails as the tree does: \"%s\" (got \"%s\")", cases[i],
                   err, got ? got : err2);
        tap_ok(lua_gettop(L) == top, "... stack unchanged");
        free(want);
        free(got);
        json_decref(v);
    }
    lua_settop(L, 0);
    static const char shallow[] =
        "return { a = 1, b = { 1, 2 }, c = { x = { y = 1 } }, d = 's', e = {}, f = 0.5 }";
    sandbox_run_chunk(sb, shallow, strlen(shallow), "s.lua", err, sizeof err);
    json_t *head = sandbox_to_json_shallow(L, -1, err, sizeof err);
    char *text = head ? json_dumps(head, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    tap_ok(text && strcmp(text, "{\"a\":1,\"b\":[],\"c\":{},\"d\":\"s\",\"e\":[],\"f\":0.5}") == 0,
           "the shallow head keeps scalars and empties tables by kind (%s)", text ? text : err);
    free(text);
    json_decref(head);
    lua_settop(L, 0);
    sandbox_run_chunk(sb, "return { 1, 2 }", 15, "s.lua", err, sizeof err);
    head = sandbox_to_json_shallow(L, -1, err, sizeof err);
    tap_ok(!head && strstr(err, "not an object"), "a list has no shallow head (%s)", err);
    sandbox_free(sb);
}

int main(void)
{
    char err[512];
    double took;
    static const struct {
        const char *name, *src;
    } loops[] = {
        {"a plain loop", "while true do end"},
        {"a loop inside pcall, retried forever", "while true do pcall(function() while true do end end) end"},
        {"nested pcalls",
         "while true do pcall(function() while true do pcall(function() while true do end end) end end) end"},
        {"xpcall with a handler that loops",
         "while true do xpcall(function() while true do end end, function() while true do end end) end"},
        {"pcall(error) in a loop", "local n = 0 while true do n = n + 1 pcall(error, 'x') end"},
    };
    for (size_t i = 0; i < sizeof loops / sizeof *loops; i++) {
        int rc = run(loops[i].src, 2000000, 60000, err, sizeof err, &took);
        tap_ok(rc == -1 && strstr(err, "instruction budget"), "instruction budget stops %s (%s)",
               loops[i].name, err);
        tap_ok(took < 5, "... promptly (%.3f s)", took);
        rc = run(loops[i].src, 2000000000L, 200, err, sizeof err, &took);
        tap_ok(rc == -1 && strstr(err, "deadline budget"), "deadline budget stops %s (%s)", loops[i].name,
               err);
        tap_ok(took < 2, "... within the deadline plus a margin (%.3f s)", took);
    }
    err[0] = 0;
    tap_ok(run("local ok = pcall(error, 'x') assert(ok == false)", 2000000, 1000, err, sizeof err, &took) ==
               0,
           "a policy may still catch its own errors with pcall (%s)", err);
    tap_ok(
        run("local ok, m, extra = xpcall(function(a, b) error(a .. b, 0) end, function(m) return 'handled: ' .. m end, 'x', 'y')\n"
            "assert(ok == false and m == 'handled: xy' and extra == nil, tostring(m))\n"
            "local ok2, r1, r2 = xpcall(function(a) return a, 2 end, tostring, 1)\n"
            "assert(ok2 == true and r1 == 1 and r2 == 2)",
            2000000, 1000, err, sizeof err, &took) == 0,
        "xpcall keeps its meaning: the handler sees ordinary errors, arguments and results pass (%s)", err);
    test_isolation();
    test_to_json();
    test_to_json_text();
    return tap_done();
}
