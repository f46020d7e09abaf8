/* api_strategies.h — the strategies the loaded policy generation offers, and a bot's params checked against
 * its strategy's schema (scripts/strategies/<name>.lua `schema`, judged by scripts/lib/params.lua validate).
 *
 * The schema lives in the policy files only: C reads it as plain data (policy_module_value) and hands it,
 * with the params, to lib.params.validate, so the API, the UI and the Lua specs apply one rule. */
#ifndef GATEHOUSE_API_STRATEGIES_H
#define GATEHOUSE_API_STRATEGIES_H

#include <jansson.h>

struct http_ctx;
struct policy_gen;

/* GET /api/strategies — {strategies: [{name, requires_ai, description, params: {key: {type, default, min,
 * max, enum, description}}}], common_params: {…}} from the generation in force: every
 * scripts/strategies/<name>.lua with decide(), by file name (what bots.strategy holds). A strategy without a
 * schema lists params {} and description null. 503 POLICY_ERROR when no generation is loaded. */
void api_strategies_list(struct http_ctx *ctx);

/* Checks params (a JSON object, borrowed) against the schema of strategy in g. Returns 0 when valid (or when
 * the strategy declares no schema); otherwise replies — 400 VALIDATION_FAILED {field: "params.<key>" or
 * "strategy" for an unknown strategy, reason_human stating the rule}, or 503 POLICY_ERROR when the check
 * itself fails — and returns -1. */
int api_strategies_check_params(struct http_ctx *ctx, struct policy_gen *g, const char *strategy,
                                const json_t *params);

#endif
