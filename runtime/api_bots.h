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

#include <jansson.h>
#include <stddef.h>

struct http_ctx;
struct pg_result;

/* GET /api/bots?limit=&cursor= — {bots: [...], next_cursor}, oldest first by (created_at, id). Each bot
 * carries its latest runner instance under "instance" (null when it never ran). */
void api_bots_list(struct http_ctx *ctx);

/* POST /api/bots {name, strategy, symbol, timeframe, stage?, params?, requires_ai?} — 201 {bot}. The strategy
 * must be a loaded scripts/strategies/<name>.lua with a decide() function. A taken name is 409. */
void api_bots_create(struct http_ctx *ctx);

/* GET /api/bots/:id — {bot} with "instance" {state, started_at, last_heartbeat_at, breaker_state,
 * restart_count, ...} and "safe_start" (gates.safe_start's current answer for the bot's stage). */
void api_bots_get(struct http_ctx *ctx);

/* PATCH /api/bots/:id {name?, params?, stage?, timeframe?, requires_ai?} — {bot}. strategy and symbol are
 * fixed at creation (sending the current value is accepted). Moving a running bot to LIVE is refused 409. */
void api_bots_patch(struct http_ctx *ctx);

/* GET /api/settings/trading — {trading: {enabled, mode, updated_at}}. */
void api_settings_trading_get(struct http_ctx *ctx);

/* PUT /api/settings/trading {enabled} — stores app_settings 'trading', writes a "trading.switch" system event
 * with the request's trace id, answers {trading}. */
void api_settings_trading_put(struct http_ctx *ctx);

/* ---- helpers shared with api_traces.c ---- */

/* Parses ?limit= (default 50, 1..500) and ?cursor= ("<RFC 3339>_<uuid>", a next_cursor value). On success
 * returns 0 with limit, and ts/uuid ("" when there is no cursor); otherwise replies 400 and returns -1. */
int api_bots_page_params(struct http_ctx *ctx, long *limit, char *ts, size_t tslen, char *uuid, size_t uuidlen);

/* 1 when s is an RFC 3339 timestamp (date, 'T', time, optional fraction, 'Z' or ±hh:mm); writes a normalised
 * copy into out (a space before the offset, a '+' decoded from a query string, becomes '+'). */
int api_bots_rfc3339(const char *s, char *out, size_t outlen);

/* Answers a failed db_query: 503 DB_UNAVAILABLE for connection problems (err NULL = queue full / stopped),
 * 500 INTERNAL (logged with the trace id) for a statement error. what names the operation. */
void api_bots_reply_db_error(struct http_ctx *ctx, const char *err, const char *what);

/* Decodes a JSON text produced by Postgres (json_build_object / json_agg); NULL on failure. */
json_t *api_bots_decode(const char *text);

/* Checks that every number inside v fits what Postgres jsonb can hand back losslessly to jansson
 * (|x| < 1e18). Returns 1, or 0 with the offending path appended to field (e.g. "params.a.b"). */
int api_bots_numbers_ok(const json_t *v, char *field, size_t fieldlen);

/* 400 VALIDATION_FAILED naming field. */
void api_bots_invalid(struct http_ctx *ctx, const char *field, const char *reason_human);

/* 1 when the bot id route parameter is a UUID; otherwise answers 404 NOT_FOUND and returns 0. */
int api_bots_id_ok(struct http_ctx *ctx);

/* 404 NOT_FOUND for the bot of the route. */
void api_bots_not_found(struct http_ctx *ctx);

/* SQL expression formatting a timestamptz column as RFC 3339 UTC with microseconds. */
#define API_TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

#endif
