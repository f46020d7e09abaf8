/* api_system.h — liveness, readiness and policy administration routes. */
#ifndef GATEHOUSE_API_SYSTEM_H
#define GATEHOUSE_API_SYSTEM_H

struct http_ctx;

/* GET /healthz — the process answers (no dependencies checked). */
void api_system_healthz(struct http_ctx *ctx);

/* GET /readyz — 200 when the database is reachable and a policy generation is loaded, else 503. */
void api_system_readyz(struct http_ctx *ctx);

/* POST /api/policy/reload {reason?} — rebuilds the policy generation now; reports the outcome. */
void api_system_policy_reload(struct http_ctx *ctx);

/* GET /api/system/status — the canonical health view (PRODUCT.md §6), from the cached gate decision. */
void api_system_status(struct http_ctx *ctx);

/* POST /api/gates/check {stage, requires_ai?, bot_id?} — gates.safe_start's answer: {allowed, blockers}. */
void api_system_gates_check(struct http_ctx *ctx);

/* GET /api/system/events?since=&kind=&limit=&cursor= — system events, newest first. */
void api_system_events(struct http_ctx *ctx);

/* POST /api/policy/dry-run {files: {"gates.lua": text, ...}} — validates candidate policy texts in a scratch
 * generation and returns the decision they would produce beside the current one. Nothing is installed. */
void api_system_policy_dry_run(struct http_ctx *ctx);

/* GET /metrics — Prometheus text exposition. */
void api_system_metrics(struct http_ctx *ctx);

/* GET /api/openapi.json: docs/openapi.json (under GATEHOUSE_HOME), read on first use and kept for the life
 * of the process; 404 NOT_FOUND when the file is missing. */
void api_system_openapi(struct http_ctx *ctx);

/* Frees the cached OpenAPI document and the cached system status body (shutdown, after http_free). */
void api_system_free(void);

#endif
