/* providers.h — the provider registry declared by providers.lua, validated and held in C.
 *
 * policy.c converts the table providers.lua returns into JSON; providers_from_json validates it (types,
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
 * timeout_ms of bars / chat / order / verify). A zero timeout means the engine's default for the operation. */
struct provider_limits {
    double rate_per_s;            /* rate_limit.requests_per_s (<= 0: none) */
    int burst;                    /* rate_limit.burst, at least 1 */
    int max_concurrency;          /* rate_limit.max_concurrency (<= 0: none) */
    int bars_timeout_ms, chat_timeout_ms, order_timeout_ms, verify_timeout_ms;
};

struct provider_def {
    const char *id, *label, *category, *role, *docs_url;
    const char **required_env, **optional_env, **public_env;
    size_t n_required, n_optional, n_public;
    struct provider_alias *aliases;
    size_t n_aliases;
    const char *base_url_env;     /* override variable, or NULL */
    const char *default_base_url; /* or NULL (redis, discord) */
    const char *host_selector_env, *host_default_key; /* env_hosts: e.g. IRONBEAM_ENV / "demo" */
    json_t *env_hosts;            /* {"demo": url, "live": url} or NULL (borrowed from doc) */
    int required_for_autonomy, supports_verify, verify_ttl_s;
    const char *suggested_fix, *setup_instructions; /* templates: ${MISSING} ${REQUIRED} ${LABEL} ${ID} */
    json_t *verify, *rate_limit;  /* borrowed from doc; executed by the verify subsystem */
    json_t *bars;                 /* how to fetch OHLCV bars (market data), or NULL (borrowed) */
    json_t *chat;                 /* how to call the LLM (openai_chat / anthropic_messages), or NULL (borrowed) */
    json_t *order;                /* how to place a LIVE market order (broker.c), or NULL (borrowed) */
    struct provider_limits limits;
    size_t index;                 /* 1-based position in providers.lua's `providers` array */
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

/* Frees a registry (NULL is a no-op). */
void providers_free(struct provider_registry *reg);

/* Looks a provider up by id; NULL when unknown. */
const struct provider_def *providers_find(const struct provider_registry *reg, const char *id);

/* ---- the provider-call engine ----
 *
 * One outbound provider call, for every subsystem that talks to providers (market data, LLM, broker, verify):
 * for each candidate in order, find it in the generation's registry, build its request from the description
 * (probe_build_with: the op's table of the provider, or the caller's step), send it under the provider's limits
 * (fetch_start), classify the answer once (the C outcome map, refined by the caller's judge hook: a format check,
 * or for verify steps the provider's Lua classify through providers_classify), append {provider, outcome, latency_ms, records?} to the attempts and record one usage event.
 * With failover the next candidate is tried until one answers OK; without it the first usable candidate is
 * the only attempt (orders are never retried). */

struct policy_gen;
struct probe_request;
struct fetch_response;

/* What the engine saw of one attempt, handed to the caller's hooks. */
struct provider_answer {
    const struct provider_def *p;
    const json_t *doc;                 /* p's table in the registry document */
    const struct probe_request *req;   /* the request sent (env_key), or NULL when it could not be built */
    const struct fetch_response *resp; /* NULL when the request could not be built or started */
    const char *error;                 /* secret-free reason when resp is NULL */
    int attempt;                       /* 1-based among the candidates actually tried */
};

/* The judge hook's verdict. The engine fills outcome from its C map (NULL resp: AUTH_FAILED when the request
 * could not be built, NETWORK_ERROR when it could not be started) and records -1; the hook may replace outcome
 * (a static string), set records, and set meta (a new object; taken by the engine and merged into the usage
 * event's metadata). status overrides the event status ("OK" / "ERROR" by default from outcome). */
struct provider_verdict {
    const char *outcome;
    int records;
    json_t *meta;
};

typedef void (*providers_judge_fn)(const struct provider_answer *a, struct provider_verdict *v, void *arg);

/* Builds the template vars for one candidate (new reference), or NULL to use provider_call.vars. */
typedef json_t *(*providers_vars_fn)(const struct provider_def *p, void *arg);

/* Adjusts a built request before it is sent (e.g. the LLM body). Returns 0, or -1 (the attempt is a
 * NETWORK_ERROR, as when the request cannot be started). */
typedef int (*providers_prepare_fn)(const struct provider_def *p, struct probe_request *req, void *arg);

struct provider_call {
    struct policy_gen *gen;            /* required; caller's reference, valid for the call (the engine retains) */
    const json_t *candidates;          /* ordered provider ids (copied) */
    const char *op;                    /* "bars" | "chat" | "order" | "verify" | an order action */
    const json_t *step;                /* the request description; NULL = the provider's `op` table (bars, chat) */
    const json_t *vars;                /* template vars (borrowed for the call; NULL = none) */
    const char *operation;             /* usage-event operation ("marketdata.bars"); NULL = no usage event */
    const char *trace_id;              /* required */
    const char *bot_id, *run_id, *job_id, *user_id, *symbol, *timeframe; /* usage-event columns or NULL */
    int failover;                      /* 1: next candidate after a non-OK outcome */
    int timeout_ms;                    /* 0 = the provider's limit for op */
    size_t max_response_bytes;         /* 0 = 1 MiB */
    const char *(*token_of)(void *ctx, const char *step_name); /* tokens of earlier steps (probe_build_with) */
    void *token_ctx;
    providers_vars_fn vars_for;
    providers_prepare_fn prepare;
    providers_judge_fn judge;
    void *hook_arg;
};

/* The end of a call: ok when an attempt's outcome was OK. p is the provider that answered, or the last one
 * tried (NULL when none could be tried); outcome is that attempt's, or NULL when no candidate was usable
 * (unknown ids, no description for op); http_status is that attempt's (0 when none). */
struct provider_call_result {
    int ok;
    const struct provider_def *p;
    const char *outcome;
    int http_status;
    const json_t *attempts;            /* [{provider, outcome, latency_ms, records?}] in the order tried */
};

typedef void (*providers_call_cb)(const struct provider_call_result *r, void *arg);

/* Starts the call; cb runs exactly once, possibly before this returns (nothing to try, or no request could
 * be sent). Returns 0, or -1 on invalid input (no gen, trace id, op or callback; cb is not called). */
int providers_call(const struct provider_call *c, providers_call_cb cb, void *arg);

/* The engine's C outcome map of a transport result and HTTP status: OK, TIMEOUT, NETWORK_ERROR, AUTH_FAILED (401),
 * NOT_ENTITLED (402, 403), RATE_LIMITED (429), PROVIDER_ERROR (any other non-2xx, or an answer too big). */
const char *providers_outcome_of(const struct fetch_response *r);

/* 1 when s is one of the outcomes above. */
int providers_is_outcome(const char *s);

/* Runs providers.lua's classify(arg) of p in generation gen (verify steps: arg {step, status, body, json?,
 * transport_error?, env?}). Returns the outcome (static string) and copies its reason into reason; a broken
 * classifier fails closed: PROVIDER_ERROR, logged under trace_id. */
const char *providers_classify(struct policy_gen *gen, const struct provider_def *p, const json_t *arg,
                               const char *trace_id, char *reason, size_t reasonlen);

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

/* Extracts the host (and port, when present) of a URL into out; "" when it has none. Never copies userinfo. */
void providers_url_host(const char *url, char *out, size_t outlen);

#endif
