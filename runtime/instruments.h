/* instruments.h — contract multipliers of futures symbols, from the policy file scripts/instruments.lua
 * (multiplier_of(symbol) -> multiplier | nil, root). Used wherever points become USD (api_trading, backtest).
 */
#ifndef GATEHOUSE_INSTRUMENTS_H
#define GATEHOUSE_INSTRUMENTS_H

#include <stddef.h>

struct policy_gen;

/* The contract multiplier of symbol under generation g: > 0, or 0 with reason (NUL-terminated, reasonlen > 0)
 * saying why it is unknown — the root is not in the table, the file is not loaded (g NULL included), or the
 * call failed. */
double instruments_multiplier(struct policy_gen *g, const char *symbol, char *reason, size_t reasonlen);

#endif
