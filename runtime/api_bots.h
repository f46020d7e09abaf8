/* api_bots.h — bot CRUD and the global trading switch (PRODUCT.md §6 "Bots, runner, jobs").
 *
 * Every handler answers the JSON envelope; DB-backed ones run one parameterised statement through db_query
 * (3000 ms), answer 503 DB_UNAVAILABLE when Postgres cannot be reached and 404 NOT_FOUND for an unknown (or
 * non-UUID) bot id. Timestamps are RFC 3339 UTC with microseconds, so they double as cursor keys.
 *
 * Roles are enforced by http.c from the route table (docs/api.md "Access"); turning trading on also needs a
 * 2FA verification within the last 5 minutes (403 TWO_FACTOR_REQUIRED). */
#ifndef GATEHOUSE_API_BOTS_H
#define GATEHOUSE_API_BOTS_H

struct http_ctx;

/* GET /api/bots?limit=&cursor= — {bots: [...], next_cursor}, oldest first by (created_at, id). Each bot
 * carries its latest runner instance under "instance" (null when it never ran). */
void api_bots_list(struct http_ctx *ctx);

/* POST /api/bots {name, strategy, symbol, timeframe, stage?, params?, requires_ai?} — 201 {bot}. The strategy
 * must be a loaded scripts/strategies/<name>.lua with a decide() function, and params must match its schema
 * (api_strategies_check_params: 400 naming params.<key>; stored as sent). A taken name is 409. */
void api_bots_create(struct http_ctx *ctx);

/* GET /api/bots/:id — {bot} with "instance" {state, started_at, last_heartbeat_at, breaker_state,
 * restart_count, ...} and "safe_start" (gates.safe_start's current answer for the bot's stage). */
void api_bots_get(struct http_ctx *ctx);

/* PATCH /api/bots/:id {name?, params?, stage?, timeframe?, requires_ai?} — {bot}. strategy and symbol are
 * fixed at creation (sending the current value is accepted). New params replace the old ones and must match
 * the strategy's schema (400 naming params.<key>). Moving a running bot to LIVE is refused 409. */
void api_bots_patch(struct http_ctx *ctx);

/* POST /api/bots/:id/clone {name, stage? (default PAPER), params? (merged over the source's)} — 201 {bot}:
 * the source's strategy, symbol, timeframe and requires_ai, desired_state STOPPED. The merged params are
 * checked against the strategy's schema (400 VALIDATION_FAILED naming params.<key>); a taken name is 409. */
void api_bots_clone(struct http_ctx *ctx);

/* GET /api/settings/trading — {trading: {enabled, mode, updated_at}}. */
void api_settings_trading_get(struct http_ctx *ctx);

/* PUT /api/settings/trading {enabled} — stores app_settings 'trading', writes a "trading.switch" system event
 * with the request's trace id, answers {trading}. */
void api_settings_trading_put(struct http_ctx *ctx);

#endif
