/* sandbox.c — the restricted Lua state: allocator cap, instruction/deadline hook, strict globals. */
#include "sandbox.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sandbox_match.h"

/* Debian's lua-cjson static archive exports this without declaring it in a header. */
int luaopen_cjson_safe(lua_State *L);

#define HOOK_EVERY 1000 /* instructions between hook calls */

struct sandbox {
    lua_State *L;
    struct sandbox_limits limits;
    size_t used;
    long instructions;        /* executed in the current call */
    struct timespec deadline; /* of the current call */
    const char *budget_hit;   /* which budget stopped the current call, or NULL */
    char budget_what[96];     /* its message, raised again at every instruction once spent */
    int depth;                /* nested sandbox_pcall calls: only the outermost arms the budgets */
};

static void *capped_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct sandbox *sb = ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        sb->used -= old;
        return NULL;
    }
    if (nsize > old && sb->used - old + nsize > sb->limits.mem_bytes) {
        sb->budget_hit = "memory";
        return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (p) sb->used = sb->used - old + nsize;
    return p;
}

static int past_deadline(const struct timespec *deadline)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > deadline->tv_sec ||
           (now.tv_sec == deadline->tv_sec && now.tv_nsec > deadline->tv_nsec);
}

static void budget_hook(lua_State *L, lua_Debug *ar);
static void set_own_environment(lua_State *L);

/* Raises "file:line: <what> exceeded" at the Lua code that was running when the hook fired. */
static void raise_budget(lua_State *L, const char *what)
{
    lua_Debug ar;
    if (lua_getstack(L, 0, &ar) && lua_getinfo(L, "Sl", &ar) && ar.currentline > 0)
        luaL_error(L, "%s:%d: %s exceeded", ar.short_src, ar.currentline, what);
    luaL_error(L, "%s exceeded", what);
}

/* Once a budget is spent the hook fires before every instruction and raises each time: a policy that wraps
 * its loop in pcall catches one error, but the very next instruction outside that pcall raises again, so the
 * error climbs every level of pcall until it reaches sandbox_pcall (before this, `while true do pcall(f) end`
 * with a looping f swallowed every budget error and blocked the event loop forever). */
static void spend_budget(lua_State *L, struct sandbox *sb, const char *which)
{
    sb->budget_hit = which;
    lua_sethook(L, budget_hook, LUA_MASKCOUNT, 1);
    raise_budget(L, sb->budget_what);
}

static void budget_hook(lua_State *L, lua_Debug *ar)
{
    struct sandbox *sb;
    (void)ar;
    lua_getallocf(L, (void **)&sb);
    if (sb->budget_hit && strcmp(sb->budget_hit, "memory") != 0) raise_budget(L, sb->budget_what);
    sb->instructions += HOOK_EVERY;
    if (sb->instructions > sb->limits.instr_budget) {
        snprintf(sb->budget_what, sizeof sb->budget_what, "instruction budget (%ld instructions)",
                 sb->limits.instr_budget);
        spend_budget(L, sb, "instruction");
    }
    if ((sb->instructions / HOOK_EVERY) % 64 == 0 && past_deadline(&sb->deadline)) {
        snprintf(sb->budget_what, sizeof sb->budget_what, "deadline budget (%d ms)", sb->limits.deadline_ms);
        spend_budget(L, sb, "deadline");
    }
}

void sandbox_charge_steps(lua_State *L, long steps)
{
    struct sandbox *sb;
    lua_getallocf(L, (void **)&sb);
    if (sb->budget_hit && strcmp(sb->budget_hit, "memory") != 0) spend_budget(L, sb, sb->budget_hit);
    sb->instructions += steps;
    if (sb->instructions > sb->limits.instr_budget) {
        snprintf(sb->budget_what, sizeof sb->budget_what,
                 "instruction budget (%ld instructions, pattern matching)", sb->limits.instr_budget);
        spend_budget(L, sb, "instruction");
    }
    if (past_deadline(&sb->deadline)) {
        snprintf(sb->budget_what, sizeof sb->budget_what, "deadline budget (%d ms, pattern matching)",
                 sb->limits.deadline_ms);
        spend_budget(L, sb, "deadline");
    }
}

static void arm_budgets(struct sandbox *sb)
{
    clock_gettime(CLOCK_MONOTONIC, &sb->deadline);
    sb->deadline.tv_sec += sb->limits.deadline_ms / 1000;
    sb->deadline.tv_nsec += (long)(sb->limits.deadline_ms % 1000) * 1000000L;
    if (sb->deadline.tv_nsec >= 1000000000L) {
        sb->deadline.tv_sec++;
        sb->deadline.tv_nsec -= 1000000000L;
    }
    sb->instructions = 0;
    sb->budget_hit = NULL;
    lua_sethook(sb->L, budget_hook, LUA_MASKCOUNT, HOOK_EVERY);
}

static void describe_error(struct sandbox *sb, int status, char *err, size_t errlen)
{
    lua_State *L = sb->L;
    const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "(error object is not a string)";
    if (status == LUA_ERRMEM || (sb->budget_hit && strcmp(sb->budget_hit, "memory") == 0))
        snprintf(err, errlen, "memory budget exceeded (%zu MiB): %s", sb->limits.mem_bytes >> 20, msg);
    else
        snprintf(err, errlen, "%s", msg);
    lua_pop(L, 1);
}

/* Message handler: appends a traceback to string errors (budget and memory errors stay short). */
static int traceback_handler(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (!msg) msg = luaL_typename(L, 1);
    if (strstr(msg, "budget (") || strstr(msg, "not enough memory")) {
        lua_pushstring(L, msg);
        return 1;
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

int sandbox_pcall(struct sandbox *sb, int nargs, int nresults, char *err, size_t errlen)
{
    lua_State *L = sb->L;
    int base = lua_gettop(L) - nargs; /* index of the function */
    int status;

    if (!lua_checkstack(L, 4)) {
        snprintf(err, errlen, "Lua stack exhausted");
        lua_settop(L, base - 1);
        return -1;
    }
    lua_pushcfunction(L, traceback_handler);
    lua_insert(L, base);
    if (sb->depth++ == 0) arm_budgets(sb);
    status = lua_pcall(L, nargs, nresults, base);
    if (--sb->depth == 0) lua_sethook(L, NULL, 0, 0);
    lua_remove(L, base);
    if (status != LUA_OK) {
        describe_error(sb, status, err, errlen);
        return -1;
    }
    /* Garbage created by the call is collected outside the budget so the next call starts clean. */
    if (sb->used > sb->limits.mem_bytes / 2) lua_gc(L, LUA_GCCOLLECT);
    return 0;
}

int sandbox_run_chunk(struct sandbox *sb, const char *buf, size_t len, const char *name, char *err,
                      size_t errlen)
{
    char chunkname[512];
    int status;
    snprintf(chunkname, sizeof chunkname, "@%s", name);
    if (sb->depth == 0) sb->budget_hit = NULL;
    status = luaL_loadbufferx(sb->L, buf, len, chunkname, "t");
    if (status != LUA_OK) {
        describe_error(sb, status, err, errlen);
    } else {
        set_own_environment(sb->L);
        if (sandbox_pcall(sb, 0, 1, err, errlen) == 0) return 0;
    }
    /* Loading reports one line, "file:line: message": the traceback of a main chunk adds nothing. */
    err[strcspn(err, "\n")] = '\0';
    if (strncmp(err, name, strlen(name)) != 0) {
        char inner[1024];
        snprintf(inner, sizeof inner, "%s", err);
        snprintf(err, errlen, "%s: %s", name, inner);
    }
    return -1;
}

/* ---- strict globals ---- */

static int strict_index(lua_State *L)
{
    return luaL_error(L, "read of undefined global '%s'", lua_tostring(L, 2) ? lua_tostring(L, 2) : "?");
}

static int strict_newindex(lua_State *L)
{
    return luaL_error(L, "assignment to global '%s' (declare it local)",
                      lua_tostring(L, 2) ? lua_tostring(L, 2) : "?");
}

/* ---- read-only library proxies and per-file environments ---- */

/* The metatable every file's environment shares (registry key: its address). */
static const char env_mt_key = 'e';

/* __newindex of a read-only proxy; upvalue 1 names the table. */
static int readonly_newindex(lua_State *L)
{
    return luaL_error(L, "attempt to modify read-only table '%s' (key '%s')",
                      lua_tostring(L, lua_upvalueindex(1)), lua_tostring(L, 2) ? lua_tostring(L, 2) : "?");
}

/* __pairs of a read-only proxy: iterates the table behind it (upvalue 1). */
static int readonly_pairs(lua_State *L)
{
    lua_getglobal(L, "next");
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushnil(L);
    return 3;
}

/* __len of a read-only proxy: the length of the table behind it (upvalue 1). */
static int readonly_len(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)lua_rawlen(L, lua_upvalueindex(1)));
    return 1;
}

void sandbox_freeze(lua_State *L, int idx, const char *name)
{
    idx = lua_absindex(L, idx);
    lua_newtable(L); /* the proxy: always empty, so every write reaches __newindex */
    lua_createtable(L, 0, 5);
    lua_pushvalue(L, idx);
    lua_setfield(L, -2, "__index"); /* reads go straight to the table (no function call, no allocation) */
    lua_pushstring(L, name);
    lua_pushcclosure(L, readonly_newindex, 1);
    lua_setfield(L, -2, "__newindex");
    lua_pushvalue(L, idx);
    lua_pushcclosure(L, readonly_pairs, 1);
    lua_setfield(L, -2, "__pairs");
    lua_pushvalue(L, idx);
    lua_pushcclosure(L, readonly_len, 1);
    lua_setfield(L, -2, "__len");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
}

/* Replaces every table held by a global (the libraries, rt, spec, lib) with its read-only proxy, _G with a
 * read-only proxy of the globals, and hides the string metatable. Stack effect: 0. */
static void freeze_globals(lua_State *L)
{
    lua_pushglobaltable(L);
    int g = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, g)) {
        if (lua_type(L, -1) == LUA_TTABLE && lua_type(L, -2) == LUA_TSTRING && !lua_rawequal(L, -1, g)) {
            sandbox_freeze(L, -1, lua_tostring(L, -2));
            lua_pushvalue(L, -3);
            lua_insert(L, -2);
            lua_rawset(L, g); /* an existing key: replacing its value during lua_next is allowed */
        }
        lua_pop(L, 1);
    }
    sandbox_freeze(L, g, "_G");
    lua_setfield(L, g, "_G"); /* exists already: a raw write, before the strict metatable */
    lua_pop(L, 1);
    lua_pushliteral(L, "");
    if (lua_getmetatable(L, -1)) {
        lua_pushboolean(L, 0);
        lua_setfield(L, -2, "__metatable"); /* getmetatable("") no longer hands out the string library */
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

void sandbox_seal(struct sandbox *sb)
{
    lua_State *L = sb->L;
    freeze_globals(L);
    lua_pushglobaltable(L);
    lua_newtable(L);
    lua_pushcfunction(L, strict_index);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, strict_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable"); /* setmetatable(_G, nil) cannot undo this */
    lua_setmetatable(L, -2);
    /* A file's environment: empty, reads fall through to the (strict) globals, every write raises. */
    lua_createtable(L, 0, 3);
    lua_pushvalue(L, -2);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, strict_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_rawsetp(L, LUA_REGISTRYINDEX, &env_mt_key);
    lua_pop(L, 1);
}

/* Gives the chunk on top of the stack a fresh environment of its own (after sandbox_seal). Stack effect: 0.
 */
static void set_own_environment(lua_State *L)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &env_mt_key) != LUA_TTABLE) {
        lua_pop(L, 1);
        return;
    }
    lua_newtable(L);
    lua_insert(L, -2);
    lua_setmetatable(L, -2);
    if (!lua_setupvalue(L, -2, 1)) lua_pop(L, 1); /* a main chunk's first upvalue is _ENV */
}

/* Message handler of the sandbox's xpcall; upvalue 1 is the policy's handler. After a budget is spent the
 * error is raised from inside the hook, where Lua runs a message handler with hooks off: the policy's handler
 * would then run unbudgeted (`xpcall(loop, function() while true do end end)` never returned). So once a
 * budget is spent the error passes through untouched; otherwise the policy's handler runs as usual. */
static int guarded_message_handler(lua_State *L)
{
    struct sandbox *sb;
    lua_getallocf(L, (void **)&sb);
    if (sb->budget_hit && strcmp(sb->budget_hit, "memory") != 0) return 1;
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

/* xpcall(f, msgh, ...) with msgh behind guarded_message_handler. Stack effect: returns status, results. */
static int sandbox_xpcall(lua_State *L)
{
    int n = lua_gettop(L), status;
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_pushvalue(L, 2);
    lua_pushcclosure(L, guarded_message_handler, 1);
    lua_replace(L, 2); /* f, handler, args... */
    lua_pushvalue(L, 1);
    lua_insert(L, 3); /* f, handler, f, args... */
    status = lua_pcall(L, n - 2, LUA_MULTRET, 2);
    lua_pushboolean(L, status == LUA_OK);
    lua_replace(L, 2); /* f, status, results or the error... */
    return lua_gettop(L) - 1;
}

/* setmetatable(t, mt) that refuses a metatable with __gc or __close (issue 21): finalizers run with the
 * debug hooks off (Lua's GCTM), so a looping __gc ran outside every budget — during a collection or when
 * lua_close freed the generation — and froze the server for good. Upvalue 1 is the base setmetatable.
 * Lua marks a table for finalization only when setmetatable sees __gc, so checking here is enough. */
static int sandbox_setmetatable(lua_State *L)
{
    static const char *refused[] = {"__gc", "__close", NULL};
    if (lua_type(L, 2) == LUA_TTABLE)
        for (const char **name = refused; *name; name++) {
            lua_pushstring(L, *name);
            if (lua_rawget(L, 2) != LUA_TNIL) /* Lua finds __gc with a raw read too */
                return luaL_error(L,
                                  "setmetatable: a metatable with %s is not allowed in policies "
                                  "(finalizers and to-be-closed handlers would run outside the budgets)",
                                  *name);
            lua_settop(L, 2);
        }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

/* Keeps only encode, decode and null in the cjson table on top of the stack: its configuration setters
 * (encode_sparse_array, encode_max_depth, ...) change one state-wide setting, so one file could change how
 * every other file's cjson behaves. Stack effect: 0. */
static void restrict_cjson(lua_State *L)
{
    static const char *kept[] = {"encode", "decode", "null", NULL};
    lua_createtable(L, 0, 3);
    for (const char **name = kept; *name; name++) {
        lua_getfield(L, -2, *name);
        lua_setfield(L, -2, *name);
    }
    lua_pushvalue(L, -1);
    lua_setglobal(L, "cjson");
    lua_replace(L, -2);
}

static void open_allowed_libraries(lua_State *L)
{
    static const luaL_Reg libs[] = {{LUA_GNAME, luaopen_base},       {LUA_STRLIBNAME, luaopen_string},
                                    {LUA_TABLIBNAME, luaopen_table}, {LUA_MATHLIBNAME, luaopen_math},
                                    {LUA_UTF8LIBNAME, luaopen_utf8}, {NULL, NULL}};
    static const char *removed[] = {"load",  "loadfile", "dofile",         "require",
                                    "print", "rawset",   "collectgarbage", NULL};

    for (const luaL_Reg *lib = libs; lib->func; lib++) {
        luaL_requiref(L, lib->name, lib->func, 1);
        lua_pop(L, 1);
    }
    for (const char **name = removed; *name; name++) {
        lua_pushnil(L);
        lua_setglobal(L, *name);
    }
    lua_pushcfunction(L, sandbox_xpcall);
    lua_setglobal(L, "xpcall");
    lua_getglobal(L, "setmetatable");
    lua_pushcclosure(L, sandbox_setmetatable, 1);
    lua_setglobal(L, "setmetatable");
    lua_getglobal(L, LUA_STRLIBNAME);
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
    sandbox_match_install(
        L, sandbox_charge_steps); /* bounded find/match/gmatch/gsub (also the string metatable's __index) */
    lua_pop(L, 1);
    luaL_requiref(L, "cjson", luaopen_cjson_safe, 1);
    restrict_cjson(L);
    lua_pop(L, 1);
    /* The loaded-modules table would hand out the unrestricted library tables again. */
    lua_pushnil(L);
    lua_setfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
}

struct sandbox *sandbox_new(const struct sandbox_limits *limits, char *err, size_t errlen)
{
    struct sandbox *sb = calloc(1, sizeof *sb);
    if (!sb) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    sb->limits = *limits;
    sb->L = lua_newstate(capped_alloc, sb);
    if (!sb->L) {
        snprintf(err, errlen, "cannot create Lua state (memory cap %zu bytes)", limits->mem_bytes);
        free(sb);
        return NULL;
    }
    open_allowed_libraries(sb->L);
    return sb;
}

void sandbox_free(struct sandbox *sb)
{
    if (!sb) return;
    /* Closed under a fresh budget: whatever Lua code lua_close runs with hooks on (to-be-closed handlers)
     * stops at the budget. Finalizers run with hooks off, which is why setmetatable refuses __gc. */
    sb->depth = 1;
    arm_budgets(sb);
    lua_close(sb->L);
    free(sb);
}

lua_State *sandbox_state(struct sandbox *sb)
{
    return sb->L;
}

size_t sandbox_memory(const struct sandbox *sb)
{
    return sb->used;
}

/* ---- Lua <-> JSON ---- */

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
        struct json_path at = {path, key, 0};
        json_t *v = to_json_at(L, lua_gettop(L), depth + 1, &at, err, errlen);
        if (!v) {
            lua_pop(L, 2);
            goto fail;
        }
        json_object_set_new(out, key, v);
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
        json_t *v = json_stringn(s, len);
        if (!v) path_error(path, err, errlen, "string is not valid UTF-8");
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
