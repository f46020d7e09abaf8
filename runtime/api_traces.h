/* api_traces.h — explainability: decision traces ("why it traded") and no-trade traces ("why it did not"),
 * PRODUCT.md §6 "Bots, runner, jobs" and seed 003 part D.
 *
 * GET: ?limit= (default 50, max 500), ?cursor= (a next_cursor), ?since= / ?until= (RFC 3339; the window is
 * since <= created_at < until) → {bot_id, traces: [...], next_cursor}, newest first.
 * POST: runners only — Authorization: Bearer <GATEHOUSE_SERVICE_TOKEN> (constant-time compare), else 401
 * UNAUTHENTICATED; never a browser session. → 201 {trace}. trace_id defaults to the request's.
 * Unknown or non-UUID bot → 404 NOT_FOUND; Postgres unreachable → 503 DB_UNAVAILABLE. */
#ifndef GATEHOUSE_API_TRACES_H
#define GATEHOUSE_API_TRACES_H

struct http_ctx;

/* GET /api/bots/:id/decision-traces */
void api_traces_decision_list(struct http_ctx *ctx);

/* POST /api/bots/:id/decision-traces {decision_type (ENTRY|EXIT|ADJUST), reason_human, reason_code,
 * signals?, variables_snapshot?, confidence? (0..1 | null), expected_value? (number | null), risk_snapshot?,
 * trace_id? (32 hex), order_id? (uuid of an order of this bot), trade_log_id? (uuid)} */
void api_traces_decision_create(struct http_ctx *ctx);

/* GET /api/bots/:id/no-trade-traces */
void api_traces_no_trade_list(struct http_ctx *ctx);

/* POST /api/bots/:id/no-trade-traces {suppression_type, suppression_decision, reason_human, reason_code,
 * blocked_by? (array of strings), signals?, variables_snapshot?, trace_id?} */
void api_traces_no_trade_create(struct http_ctx *ctx);

#endif
