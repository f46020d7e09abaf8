/* api_integrations.h — the Secrets Checklist view of the provider registry. */
#ifndef GATEHOUSE_API_INTEGRATIONS_H
#define GATEHOUSE_API_INTEGRATIONS_H

#include <jansson.h>
#include <stdint.h>

#include "telemetry.h"
#include "verify.h"

struct http_ctx;
struct provider_def;

/* Everything the views and the gates know about one provider, derived once (PRODUCT.md §4). */
struct provider_facts {
    json_t *missing;         /* new reference: required variables not set (the caller decrefs) */
    int configured, verified, connected, ttl_s;
    const char *state;       /* NOT_CONFIGURED | CONFIGURED | VERIFIED | DEGRADED */
    const char *status;      /* BLOCKED | DEGRADED | OK */
    const char *error_code;  /* INTEGRATION_KEY_MISSING, the failing verify outcome, or NULL */
    struct verify_status vst;
    struct provider_usage use;
};

/* Fills f for p. */
void api_integrations_facts(const struct provider_def *p, int default_ttl_s, struct provider_facts *f);

/* Fingerprint of everything a provider's status view is derived from (policy generation, verify results,
 * usage aggregates, database reachability, the clock's second, the redactor's literals): equal keys mean
 * equal views, so the serialised body can be reused (body_cache.h). */
uint64_t api_integrations_state_key(void);

/* GET /api/integrations/status — every provider with its configuration state (PRODUCT.md §6); the body is
 * rebuilt only when api_integrations_state_key() changes. */
void api_integrations_status(struct http_ctx *ctx);

/* POST /api/integrations/verify {provider_id | provider} or {all: true} — runs the probe(s) and answers with
 * the outcome (HTTP 200 for a completed probe whatever its outcome; 404/409/400 otherwise). */
void api_integrations_verify(struct http_ctx *ctx);

/* GET /api/integrations/:id/events?limit=&cursor= — the provider's latest usage events, newest first. */
void api_integrations_events(struct http_ctx *ctx);

/* The status entry of one provider (new reference). Fields that need verification or telemetry evidence
 * are false / null / 0 until that evidence exists. */
json_t *api_integrations_provider_json(const struct provider_def *p, int default_ttl_s);

/* Extracts the host (and port, when present) of a URL into out; "" when it has none. Never copies userinfo. */
void api_integrations_url_host(const char *url, char *out, size_t outlen);

/* Frees the cached status body (shutdown, after http_free). */
void api_integrations_free(void);

#endif
