/* sandbox_match.h — string.find/match/gmatch/gsub for the sandbox with a bounded amount of work.
 *
 * Lua's own matcher backtracks inside one C call, where neither the instruction hook nor the deadline can
 * fire (issue 21: one pattern held the event loop 20 s). These are the same functions, with the semantics of
 * Lua 5.4's lstrlib, that count their steps (one per match() call, per character scanned by a repetition,
 * %b or a plain find candidate) and raise a Lua error past SANDBOX_PATTERN_STEPS steps in one call; every
 * step also counts against the sandbox's instruction budget (the charge function given at install). */
#ifndef GATEHOUSE_SANDBOX_MATCH_H
#define GATEHOUSE_SANDBOX_MATCH_H

struct lua_State;

#define SANDBOX_PATTERN_STEPS 2000000L /* matcher steps in one string.* call (~10-50 ms) */

/* Charges n matcher steps against the running sandbox's instruction budget (may raise a Lua error). */
typedef void (*sandbox_match_charge_fn)(struct lua_State *L, long n);

/* Replaces find, match, gmatch and gsub in the table at the top of the stack (the string library, which is
 * also the string metatable's __index); every step is also passed to charge (the sandbox's
 * sandbox_charge_steps: given by the caller, so this file does not depend on the sandbox). Stack unchanged.
 */
void sandbox_match_install(struct lua_State *L, sandbox_match_charge_fn charge);

#endif
