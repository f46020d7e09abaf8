/* provider_call.h — the provider-call engine.
 *
 * One outbound provider call, for every subsystem that talks to providers (market data, LLM, broker, verify):
 * for each candidate in order, find it in the generation's registry, build its request from the description
 * (probe_build_with: the op's table of the provider, or the caller's step), send it under the provider's
 * limits (fetch_start), classify the answer once (the C outcome map, refined by the caller's judge hook: a
 * format check, or for verify steps the provider's Lua classify through provider_call_classify), append
 * {provider, outcome, latency_ms, records?} to the attempts and record one usage event. With failover the
 * next candidate is tried until one answers OK; without it the first usable candidate is the only attempt
 * (orders are never retried).
 *
 * It sits on top of the registry (providers.h), the request builder (probe.h), fetch.c and the generation
 * (policy.h); providers.c itself stays below probe.c, so the module graph has no cycle. */
#ifndef GATEHOUSE_PROVIDER_CALL_H
#define GATEHOUSE_PROVIDER_CALL_H

#include <jansson.h>
#include <stddef.h>

struct provider_def;
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
 * could not be built, NETWORK_ERROR when it could not be started) and records -1; the hook may replace
 * outcome (a static string), set records, and set meta (a new object; taken by the engine and merged into the
 * usage event's metadata). status overrides the event status ("OK" / "ERROR" by default from outcome). */
struct provider_verdict {
    const char *outcome;
    int records;
    json_t *meta;
};

typedef void (*provider_call_judge_fn)(const struct provider_answer *a, struct provider_verdict *v,
                                       void *arg);

/* Builds the template vars for one candidate (new reference), or NULL to use provider_call.vars. */
typedef json_t *(*provider_call_vars_fn)(const struct provider_def *p, void *arg);

/* Adjusts a built request before it is sent (e.g. the LLM body). Returns 0, or -1 (the attempt is a
 * NETWORK_ERROR, as when the request cannot be started). */
typedef int (*provider_call_prepare_fn)(const struct provider_def *p, struct probe_request *req, void *arg);

struct provider_call {
    struct policy_gen *gen;   /* required; caller's reference, valid for the call (the engine retains) */
    const json_t *candidates; /* ordered provider ids (copied) */
    const char *op;           /* "bars" | "chat" | "order" | "verify" | an order action */
    const json_t *step;       /* the request description; NULL = the provider's `op` table (bars, chat) */
    const json_t *vars;       /* template vars (borrowed for the call; NULL = none) */
    const char *operation;    /* usage-event operation ("marketdata.bars"); NULL = no usage event */
    const char *trace_id;     /* required */
    const char *bot_id, *run_id, *job_id, *user_id, *symbol, *timeframe; /* usage-event columns or NULL */
    int failover;              /* 1: next candidate after a non-OK outcome */
    int timeout_ms;            /* 0 = the provider's limit for op */
    size_t max_response_bytes; /* 0 = 1 MiB */
    const char *(*token_of)(void *ctx,
                            const char *step_name); /* tokens of earlier steps (probe_build_with) */
    void *token_ctx;
    provider_call_vars_fn vars_for;
    provider_call_prepare_fn prepare;
    provider_call_judge_fn judge;
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
    const json_t *attempts; /* [{provider, outcome, latency_ms, records?}] in the order tried */
};

typedef void (*provider_call_cb)(const struct provider_call_result *r, void *arg);

/* Starts the call; cb runs exactly once, possibly before this returns (nothing to try, or no request could
 * be sent). Returns 0, or -1 on invalid input (no gen, trace id, op or callback; cb is not called). */
int provider_call_start(const struct provider_call *c, provider_call_cb cb, void *arg);

/* The engine's C outcome map of a transport result and HTTP status: OK, TIMEOUT, NETWORK_ERROR, AUTH_FAILED
 * (401), NOT_ENTITLED (402, 403), RATE_LIMITED (429), PROVIDER_ERROR (any other non-2xx, or an answer too
 * big). */
const char *provider_call_outcome_of(const struct fetch_response *r);

/* 1 when s is one of the outcomes above. */
int provider_call_is_outcome(const char *s);

/* Runs providers.lua's classify(arg) of p in generation gen (verify steps: arg {step, status, body, json?,
 * transport_error?, env?}). Returns the outcome (static string) and copies its reason into reason; a broken
 * classifier fails closed: PROVIDER_ERROR, logged under trace_id. */
const char *provider_call_classify(struct policy_gen *gen, const struct provider_def *p, const json_t *arg,
                                   const char *trace_id, char *reason, size_t reasonlen);

#endif
