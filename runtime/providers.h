/* providers.h — the provider registry declared by providers.lua, validated and held in C.
 *
 * policy.c converts the table providers.lua returns into JSON and hands it to the validator registered by
 * providers_register_validator; providers_from_json validates it (types,
 * unique ids, known categories, priority entries naming known providers of that category, env var names)
 * and builds an immutable registry. Presence of environment variables is answered by secret.c. */
#ifndef GATEHOUSE_PROVIDERS_H
#define GATEHOUSE_PROVIDERS_H

#include <jansson.h>
#include <stddef.h>

struct provider_alias {
    const char *var;   /* required variable */
    const char *alias; /* variable that may satisfy it instead */
};

/* Outbound limits of a provider, parsed once when the registry is loaded (rate_limit and the per-operation
 * timeout_ms of bars / chat / order / verify). A zero timeout means the engine's default for the operation.
 */
struct provider_limits {
    double rate_per_s;   /* rate_limit.requests_per_s (<= 0: none) */
    int burst;           /* rate_limit.burst, at least 1 */
    int max_concurrency; /* rate_limit.max_concurrency (<= 0: none) */
    int bars_timeout_ms, chat_timeout_ms, order_timeout_ms, verify_timeout_ms;
};

struct provider_def {
    const char *id, *label, *category, *role, *docs_url;
    const char **required_env, **optional_env, **public_env;
    size_t n_required, n_optional, n_public;
    struct provider_alias *aliases;
    size_t n_aliases;
    const char *base_url_env;                         /* override variable, or NULL */
    const char *default_base_url;                     /* or NULL (redis, discord) */
    const char *host_selector_env, *host_default_key; /* env_hosts: e.g. IRONBEAM_ENV / "demo" */
    json_t *env_hosts; /* {"demo": url, "live": url} or NULL (borrowed from doc) */
    int required_for_autonomy, supports_verify, verify_ttl_s;
    const char *suggested_fix, *setup_instructions; /* templates: ${MISSING} ${REQUIRED} ${LABEL} ${ID} */
    json_t *verify, *rate_limit;                    /* borrowed from doc; executed by the verify subsystem */
    json_t *bars;  /* how to fetch OHLCV bars (market data), or NULL (borrowed) */
    json_t *chat;  /* how to call the LLM (openai_chat / anthropic_messages), or NULL (borrowed) */
    json_t *order; /* how to place a LIVE market order (broker.c), or NULL (borrowed) */
    struct provider_limits limits;
    size_t index; /* 1-based position in providers.lua's `providers` array */
};

struct provider_registry {
    struct provider_def *providers;
    size_t count;
    json_t *categories; /* array of strings (borrowed) */
    json_t *priority;   /* category -> array of ids (borrowed) */
    json_t *doc;        /* owned reference to the whole document */
};

/* Validates doc and builds a registry. Takes a new reference to doc. Returns NULL with err filled as
 * "providers.lua: <path>: <problem>" when the document is malformed. */
struct provider_registry *providers_from_json(json_t *doc, char *err, size_t errlen);

/* Registers providers.lua's validator with policy.c (providers_from_json, error lines, providers_track_env):
 * a generation then holds the registry, read with policy_providers. Call before policy_init, policy_check,
 * policy_build_candidate or policy_run_specs. Returns 0 or -1. */
int providers_register_validator(void);

/* Frees a registry (NULL is a no-op). */
void providers_free(struct provider_registry *reg);

/* Looks a provider up by id; NULL when unknown. */
const struct provider_def *providers_find(const struct provider_registry *reg, const char *id);

/* Calls secret_track for every variable the registry names (secret unless listed in public_env_vars).
 * Returns 0 or -1 on allocation failure. */
int providers_track_env(const struct provider_registry *reg);

/* 1 when the required variable `var` of p is present directly or through its alias. */
int providers_var_present(const struct provider_def *p, const char *var);

/* Array of the required variables of p that are missing (new reference). Empty means configured. */
json_t *providers_missing_env(const struct provider_def *p);

/* The base URL in effect for p: its *_BASE_URL override, else the env_hosts choice, else the default.
 * *overridden is set to 1 when the override variable supplied it. NULL for providers without HTTP. */
const char *providers_base_url(const struct provider_def *p, int *overridden);

/* Expands ${MISSING} ${REQUIRED} ${LABEL} ${ID} in tmpl for p. Returns a malloc'd string. */
char *providers_expand(const struct provider_def *p, const char *tmpl, const json_t *missing);

/* Extracts the host (and port, when present) of a URL into out; "" when it has none. Never copies userinfo.
 */
void providers_url_host(const char *url, char *out, size_t outlen);

#endif
