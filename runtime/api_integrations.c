/* api_integrations.c — GET /api/integrations/status. */
#include "api_integrations.h"

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "db.h"
#include "http.h"
#include "policy.h"
#include "providers.h"
#include "secret.h"

void api_integrations_url_host(const char *url, char *out, size_t outlen)
{
    const char *start, *end, *at;
    size_t n;
    out[0] = '\0';
    if (!url || !(start = strstr(url, "://"))) return;
    start += 3;
    end = start + strcspn(start, "/?#");
    at = memchr(start, '@', (size_t)(end - start));
    if (at) start = at + 1; /* userinfo may hold a password: never part of the host */
    n = (size_t)(end - start);
    if (n >= outlen) n = outlen - 1;
    memcpy(out, start, n);
    out[n] = '\0';
}

static json_t *string_array(const char **list, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(arr, json_string(list[i]));
    return arr;
}

static void add_masks(json_t *masked, const char **vars, size_t n)
{
    char hint[64];
    for (size_t i = 0; i < n; i++)
        if (secret_present(vars[i]) && secret_mask(vars[i], hint, sizeof hint) == 0)
            json_object_set_new(masked, vars[i], json_string(hint));
}

/* Host in use: the base URL's host, or for URL-valued credentials (Redis, Discord) the host of that URL. */
static json_t *base_url_host(const struct provider_def *p, int *overridden)
{
    char host[256];
    const char *url = providers_base_url(p, overridden);
    if (!url && p->n_required == 1 && strstr(p->required_env[0], "URL")) url = secret_value(p->required_env[0]);
    api_integrations_url_host(url, host, sizeof host);
    return host[0] ? json_string(host) : json_null();
}

json_t *api_integrations_provider_json(const struct provider_def *p, int default_ttl_s)
{
    json_t *missing = providers_missing_env(p), *masked = json_object();
    int configured = json_array_size(missing) == 0, overridden = 0;
    char *fix = configured ? NULL : providers_expand(p, p->suggested_fix, missing);
    char *setup = providers_expand(p, p->setup_instructions, missing);
    json_t *host = base_url_host(p, &overridden);

    add_masks(masked, p->required_env, p->n_required);
    add_masks(masked, p->optional_env, p->n_optional);
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:o, s:b, s:b, s:b, s:b, s:s, s:s, s:b, s:b, s:o, s:o, s:o, s:o, s:o, s:b, s:n, s:i}",
        "id", p->id, "label", p->label, "category", p->category, "role", p->role ? json_string(p->role) : json_null(),
        "configured", configured, "verified", 0, "connected", 0, "in_use", 0, "state",
        configured ? "CONFIGURED" : "NOT_CONFIGURED", "status", configured ? "DEGRADED" : "BLOCKED",
        "required_for_autonomy", p->required_for_autonomy, "supports_verify", p->supports_verify, "required_env_vars",
        string_array(p->required_env, p->n_required), "optional_env_vars", string_array(p->optional_env, p->n_optional),
        "missing_env_vars", missing, "masked", masked, "base_url_host", host, "base_url_overridden", overridden,
        "last_verified_at", "verify_ttl_s", p->verify_ttl_s ? p->verify_ttl_s : default_ttl_s);
    json_t *rest = json_pack("{s:n, s:n, s:n, s:i, s:n, s:n, s:{s:n, s:n, s:n}, s:o, s:o, s:s, s:o}", "last_used_at",
                             "last_used_by_bot_id", "last_feature_used", "proof_of_use_count_24h", 0,
                             "last_error_code", "last_error_code_24h", "latency_ms", "last", "p50", "p95",
                             "error_code", configured ? json_null() : json_string("INTEGRATION_KEY_MISSING"),
                             "suggested_fix", fix ? json_string(fix) : json_null(), "setup_instructions", setup,
                             "docs_url", p->docs_url ? json_string(p->docs_url) : json_null());
    json_object_update(o, rest);
    json_decref(rest);
    free(fix);
    free(setup);
    return o;
}

void api_integrations_status(struct http_ctx *ctx)
{
    const struct provider_registry *reg = policy_providers(policy_current());
    json_t *list = json_array();
    if (!reg) {
        json_decref(list);
        http_reply_error(ctx, 503, "POLICY_ERROR", "No provider registry is loaded.",
                         "Fix providers.lua (see /readyz policy.last_reload_error) and reload.", NULL);
        return;
    }
    for (size_t i = 0; i < reg->count; i++)
        json_array_append_new(list, api_integrations_provider_json(&reg->providers[i], cfg.verify_ttl_s));
    /* Postgres is infrastructure, never optional; Supabase is gone and its variables are not needed. */
    json_t *infra = json_pack("{s:{s:s, s:b, s:b, s:b}}", "database", "env_var", "DATABASE_URL", "required", 1,
                              "configured", cfg.database_url != NULL, "reachable", db_reachable());
    json_t *not_needed = json_pack("{s:[s,s,s], s:s}", "env_vars", "SUPABASE_URL", "SUPABASE_ANON_KEY",
                                   "SUPABASE_SERVICE_ROLE_KEY", "reason",
                                   "gatehouse does not use Supabase: SUPABASE_* variables are no longer needed.");
    http_reply_json(ctx, 200,
                    json_pack("{s:o, s:o, s:o, s:o}", "providers", list, "priority", json_copy(reg->priority),
                              "infrastructure", infra, "no_longer_needed", not_needed));
}
