/* sandbox.c — the restricted Lua state: allocator cap, instruction/deadline hook, strict globals. */
#include "sandbox.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
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
