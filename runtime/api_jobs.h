/* api_jobs.h — jobs, runs and proof of use of a bot (PRODUCT.md §6 "Bots, runner, jobs"). */
#ifndef GATEHOUSE_API_JOBS_H
#define GATEHOUSE_API_JOBS_H

struct http_ctx;

/* GET /api/jobs/:id — {job: {id, bot_id, kind, state, params, result, error_code, created_at, started_at,
 * finished_at, deadline_at, user_id (who asked; null for the runtime's own jobs), trace_id, transitions:
 * [{id, from_state, to_state, reason_code, trace_id, metadata, created_at}]}}. 404 NOT_FOUND for an unknown
 * (or non-UUID) id. */
void api_jobs_get(struct http_ctx *ctx);

/* GET /api/bots/:id/runs?limit=&cursor= — {bot_id, runs: [...], next_cursor}: the bot's runner instances
 * ({type: "instance", id, state, started_at, stopped_at, last_heartbeat_at, restart_count, breaker_state})
 * and jobs ({type: "job", id, kind, state, created_at, started_at, finished_at, error_code}) merged newest
 * first by (started_at | created_at, id). The cursor is "<at>_<id>" of the last entry. */
void api_bots_runs(struct http_ctx *ctx);

/* GET /api/bots/:id/proof — {proof: {bot_id, integrations: [{provider_id, calls, errors, blocked, bars,
 * order_intents, fills, llm_calls, models, last_trace_id, last_used_at}], last_run, last_job,
 * heartbeat_age_s, terminal_state}} over the last 24 h of integration_usage_events for the bot. orders rows
 * (INTENT/SUBMITTED) and fills have no provider: they are counted under provider "runner" (the execution path
 * that wrote them), on top of broker.place_order events. */
void api_bots_proof(struct http_ctx *ctx);

#endif
