/* integrations.h — provider state (PRODUCT.md §4): what configuration, the latest verification and the usage
 * evidence say about each provider of the registry, derived in one place for the status views, the
 * Secrets Checklist and the AI-ops and variables views.
 *
 * Domain layer: no HTTP types. Reads the loaded registry's definitions, verify.c's results, telemetry's usage
 * aggregates and the wall clock. */
#ifndef GATEHOUSE_INTEGRATIONS_H
#define GATEHOUSE_INTEGRATIONS_H

#include <jansson.h>
#include <stdint.h>

#include "telemetry.h"
#include "verify.h"

struct provider_def;

/* Everything the views and the gates know about one provider, derived once (PRODUCT.md §4). */
struct provider_facts {
    json_t *missing; /* new reference: required variables not set (the caller decrefs) */
    int configured, verified, connected, ttl_s;
    const char *state;      /* NOT_CONFIGURED | CONFIGURED | VERIFIED | DEGRADED */
    const char *status;     /* BLOCKED | DEGRADED | OK */
    const char *error_code; /* INTEGRATION_KEY_MISSING, the failing verify outcome, or NULL */
    struct verify_status vst;
    struct provider_usage use;
};

/* Fills f for p. */
void integrations_facts(const struct provider_def *p, int default_ttl_s, struct provider_facts *f);

/* Fingerprint of everything a provider's status view is derived from (policy generation, verify results,
 * usage aggregates, database reachability, the clock's second, the redactor's literals): equal keys mean
 * equal views, so the serialised body can be reused (body_cache.h). */
uint64_t integrations_state_key(void);

#endif
