/* integrations.c — provider state: configured / verified / connected, and the state, status and error code
 * the views show (PRODUCT.md §4). */
#include "integrations.h"

#include <stdint.h>
#include <string.h>

#include "body_cache.h"
#include "clock.h"
#include "db.h"
#include "policy.h"
#include "providers.h"
#include "secret.h"
#include "usage_stats.h"

/* state / status / error_code from configuration and the latest verification (PRODUCT.md §4). */
static void derive_state(int configured, const struct verify_status *vst, int connected, const char **state,
                         const char **status, const char **error_code)
{
    *error_code = NULL;
    if (!configured) {
        *state = "NOT_CONFIGURED", *status = "BLOCKED", *error_code = "INTEGRATION_KEY_MISSING";
    } else if (connected) {
        *state = "VERIFIED", *status = "OK";
    } else if (vst->has_result && strcmp(vst->outcome, "OK") != 0) {
        *state = "DEGRADED", *status = "DEGRADED", *error_code = vst->outcome;
    } else {
        *state = "CONFIGURED", *status = "DEGRADED"; /* not verified yet, or its OK result outlived the TTL */
    }
}

void integrations_facts(const struct provider_def *p, int default_ttl_s, struct provider_facts *f)
{
    memset(f, 0, sizeof *f);
    f->missing = providers_missing_env(p);
    f->configured = json_array_size(f->missing) == 0;
    f->ttl_s = p->verify_ttl_s ? p->verify_ttl_s : default_ttl_s;
    verify_status_of(p->id, &f->vst);
    telemetry_provider_usage(p->id, &f->use);
    f->verified = f->vst.has_result && strcmp(f->vst.outcome, "OK") == 0;
    f->connected = f->configured && verify_connected(&f->vst, f->ttl_s, clock_wall_s());
    derive_state(f->configured, &f->vst, f->connected, &f->state, &f->status, &f->error_code);
}

uint64_t integrations_state_key(void)
{
    struct policy_gen *g = policy_current();
    uint64_t k = body_cache_mix_str(body_cache_mix(0, (uint64_t)(uintptr_t)g), policy_version_of(g));
    k = body_cache_mix(k,
                       (uint64_t)clock_wall_s()); /* TTLs, 24 h windows and timestamps move by the second */
    k = body_cache_mix(k, usage_stats_version());
    k = body_cache_mix(k, verify_version());
    k = body_cache_mix(k, (uint64_t)db_reachable());
    return body_cache_mix(k, (uint64_t)secret_count()); /* a new redaction literal re-redacts */
}
