/* sandbox.h — a Lua 5.4 state restricted to what policies may use (ARCHITECTURE.md "Sandbox").
 *
 * Libraries: base (minus load, loadfile, dofile, require, print, rawset, collectgarbage), string (minus
 * dump), table, math, utf8, cjson (cjson.safe) and rt. Text chunks only. Every call runs under an instruction
 * budget, a wall-clock deadline and the state's memory cap; exceeding one raises a Lua error that names the
 * budget. string.find/match/gmatch/gsub are sandbox_match.c's bounded copies; setmetatable refuses __gc and
 * __close. cjson keeps only encode, decode and null (its setters change a state-wide setting). Once sealed,
 * every global table (the libraries, rt, lib, spec) and _G are read-only proxies whose metatable is hidden,
 * the string metatable is hidden, and each chunk runs in an environment of its own, so one policy file cannot
 * change what another one sees. Only policy.c, sandbox.c, sandbox_match.c, sandbox_json.c and lrt.c include
 * Lua headers. The conversions between Lua values and JSON are sandbox_json.h. */
#ifndef GATEHOUSE_SANDBOX_H
#define GATEHOUSE_SANDBOX_H

#include <stddef.h>

struct lua_State;
struct sandbox;

struct sandbox_limits {
    size_t mem_bytes;  /* hard cap on the state's heap */
    long instr_budget; /* VM instructions per call */
    int deadline_ms;   /* wall clock per call */
};

/* Creates a sandboxed state with the allowed libraries opened and strict globals NOT yet enabled (the
 * caller may add globals, then calls sandbox_seal). Returns NULL with err filled on failure. */
struct sandbox *sandbox_new(const struct sandbox_limits *limits, char *err, size_t errlen);

/* Makes globals strict and frozen: reading an undefined global or assigning any global raises, every table
 * held by a global (and _G) becomes a read-only proxy, getmetatable("") returns false, and every later
 * sandbox_run_chunk gives its chunk its own environment (reads fall through to the globals, writes raise). */
void sandbox_seal(struct sandbox *sb);

/* Pushes a read-only proxy of the table at idx (+1): reads, pairs, ipairs and # see the table; a write raises
 * "attempt to modify read-only table '<name>' (key '<k>')"; getmetatable returns false. Shallow: tables held
 * by the table stay as they are. No allocation on reads. */
void sandbox_freeze(struct lua_State *L, int idx, const char *name);

/* Closes the state and frees everything. NULL is a no-op. */
void sandbox_free(struct sandbox *sb);

/* The underlying state, for policy.c and lrt.c only. */
struct lua_State *sandbox_state(struct sandbox *sb);

/* Bytes currently allocated by the state. */
size_t sandbox_memory(const struct sandbox *sb);

/* Loads the text chunk in buf (chunkname "@name" so errors read "name:line: message") and runs it under
 * the budgets, in an environment of its own once the sandbox is sealed. Stack effect: +1 (the chunk's first
 * result) on success, 0 on failure. Returns 0, or -1 with err filled ("name:line: message", or the budget
 * that was exceeded). */
int sandbox_run_chunk(struct sandbox *sb, const char *buf, size_t len, const char *name, char *err,
                      size_t errlen);

/* Calls the function below nargs arguments on the stack under the budgets, with a traceback handler.
 * Stack effect: -(nargs+1), +nresults on success; -(nargs+1) on failure. Returns 0 or -1 with err. */
int sandbox_pcall(struct sandbox *sb, int nargs, int nresults, char *err, size_t errlen);

/* For sandbox_match.c: counts steps of work done inside one C call against the current call's instruction
 * budget and checks its deadline; raises the budget's Lua error (does not return) once one is spent. */
void sandbox_charge_steps(struct lua_State *L, long steps);

#endif
