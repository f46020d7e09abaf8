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

#endif
