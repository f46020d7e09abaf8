/* api_integrations.h — the Secrets Checklist view of the provider registry. */
#ifndef GATEHOUSE_API_INTEGRATIONS_H
#define GATEHOUSE_API_INTEGRATIONS_H

#include <jansson.h>

struct http_ctx;
struct provider_def;

/* GET /api/integrations/status — every provider with its configuration state (PRODUCT.md §6); the body is
 * rebuilt only when integrations_state_key() changes. */
void api_integrations_status(struct http_ctx *ctx);

/* POST /api/integrations/verify {provider_id | provider} or {all: true} — runs the probe(s) and answers with
 * the outcome (HTTP 200 for a completed probe whatever its outcome; 404/409/400 otherwise). */
void api_integrations_verify(struct http_ctx *ctx);

/* GET /api/integrations/:id/events?limit=&cursor= — the provider's latest usage events, newest first. */
void api_integrations_events(struct http_ctx *ctx);

/* The status entry of one provider (new reference). Fields that need verification or telemetry evidence
 * are false / null / 0 until that evidence exists. */
json_t *api_integrations_provider_json(const struct provider_def *p, int default_ttl_s);

/* Frees the cached status body (shutdown, after http_free). */
void api_integrations_free(void);

#endif
