/* llm.c — the LLM call: primary, then each connected fallback with a `chat` description, until one answers. */
#include "llm.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fetch.h"
#include "policy.h"
#include "probe.h"
#include "providers.h"
#include "status.h"
#include "telemetry.h"

#define MAX_ANSWER_BYTES (1u << 20)

struct llm_call {
    char purpose[64], bot_id[37], run_id[37], trace_id[33], user_id[37];
    char *system, *prompt;
    int max_tokens;
    struct policy_gen *gen;
    json_t *candidates;
    size_t next, attempts;
    const struct provider_def *p;
    const char *model;                 /* the chat description's default_model (borrowed from the registry) */
    struct probe_request pr;
    const char *last_error;
    llm_cb cb;
    void *arg;
};

static void try_next(struct llm_call *c);

/* The live stack's LLM primary and connected fallbacks, in priority order. */
static json_t *candidates_from_status(void)
{
    const json_t *llm = json_object_get(json_object_get(status_decision(), "live_stack"), "llm");
    const json_t *primary = json_object_get(llm, "primary"), *entry;
    json_t *out = json_array();
    size_t i;
    if (json_is_object(primary) && json_is_true(json_object_get(primary, "connected")))
        json_array_append(out, json_object_get(primary, "providerId"));
    json_array_foreach(json_object_get(llm, "fallbacks"), i, entry) if (json_is_true(json_object_get(entry, "connected")))
        json_array_append(out, json_object_get(entry, "providerId"));
    return out;
}

static char *build_body(const struct llm_call *c, const char *format)
{
    json_t *body;
    if (strcmp(format, "anthropic_messages") == 0)
        body = json_pack("{s:s, s:s, s:[{s:s, s:s}], s:i}", "model", c->model, "system", c->system, "messages", "role",
                         "user", "content", c->prompt, "max_tokens", c->max_tokens);
    else
        body = json_pack("{s:s, s:[{s:s, s:s}, {s:s, s:s}], s:i}", "model", c->model, "messages", "role", "system",
                         "content", c->system, "role", "user", "content", c->prompt, "max_tokens", c->max_tokens);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    return text;
}

static const char *outcome_of(const struct fetch_response *r)
{
    if (r->status == FETCH_ETIMEOUT) return "TIMEOUT";
    if (r->status != FETCH_OK) return "NETWORK_ERROR";
    if (r->http_status == 401) return "AUTH_FAILED";
    if (r->http_status == 402 || r->http_status == 403) return "NOT_ENTITLED";
    if (r->http_status == 429) return "RATE_LIMITED";
    if (r->http_status != 200) return "PROVIDER_ERROR";
    return NULL;
}

static void record_attempt(struct llm_call *c, const char *model, const char *error_code, int latency, long in_tok,
                           long out_tok)
{
    json_t *meta = json_pack("{s:s, s:s, s:o, s:o, s:I, s:b}", "model", model ? model : c->model, "purpose",
                             c->purpose, "input_tokens", in_tok >= 0 ? json_integer(in_tok) : json_null(),
                             "output_tokens", out_tok >= 0 ? json_integer(out_tok) : json_null(), "attempt",
                             (json_int_t)c->attempts, "failover", c->attempts > 1);
    struct usage_event ev = {.provider_id = c->p->id, .operation = "llm.chat", .status = error_code ? "ERROR" : "OK",
                             .bot_id = c->bot_id[0] ? c->bot_id : NULL, .run_id = c->run_id[0] ? c->run_id : NULL,
                             .user_id = c->user_id[0] ? c->user_id : NULL,
                             .latency_ms = latency, .records = -1, .error_code = error_code,
                             .trace_id = c->trace_id, .metadata = meta};
    telemetry_usage(&ev);
    json_decref(meta);
    c->last_error = error_code;
}

static void call_free(struct llm_call *c)
{
    probe_request_free(&c->pr);
    json_decref(c->candidates);
    policy_release(c->gen);
    if (c->system) memset(c->system, 0, strlen(c->system));
    if (c->prompt) memset(c->prompt, 0, strlen(c->prompt));
    free(c->system);
    free(c->prompt);
    free(c);
}

static void finish(struct llm_call *c, const char *provider, const char *model, const char *text, long in_tok,
                   long out_tok, const char *error_code)
{
    struct llm_result r = {text != NULL, provider, model, text, in_tok, out_tok, text ? NULL : error_code};
    c->cb(&r, c->arg);
    call_free(c);
}

static long tokens(const json_t *usage, const char *key)
{
    const json_t *v = json_object_get(usage, key);
    return json_is_integer(v) ? (long)json_integer_value(v) : -1;
}

static void on_answer(const struct fetch_response *resp, void *arg)
{
    struct llm_call *c = arg;
    const char *err = outcome_of(resp);
    probe_request_free(&c->pr);
    if (err) {
        record_attempt(c, NULL, err, (int)resp->total_ms, -1, -1);
        try_next(c);
        return;
    }
    json_t *doc = json_loadb(resp->body, resp->body_len, 0, NULL);
    const json_t *usage = json_object_get(doc, "usage"), *text;
    int anthropic = strcmp(json_string_value(json_object_get(c->p->chat, "format")), "anthropic_messages") == 0;
    if (anthropic)
        text = json_object_get(json_array_get(json_object_get(doc, "content"), 0), "text");
    else
        text = json_object_get(json_object_get(json_array_get(json_object_get(doc, "choices"), 0), "message"), "content");
    long in_tok = tokens(usage, anthropic ? "input_tokens" : "prompt_tokens");
    long out_tok = tokens(usage, anthropic ? "output_tokens" : "completion_tokens");
    const char *model = json_string_value(json_object_get(doc, "model"));
    if (!model) model = c->model;
    if (!json_is_string(text)) {
        record_attempt(c, model, "PROVIDER_ERROR", (int)resp->total_ms, in_tok, out_tok);
        json_decref(doc);
        try_next(c);
        return;
    }
    record_attempt(c, model, NULL, (int)resp->total_ms, in_tok, out_tok);
    finish(c, c->p->id, model, json_string_value(text), in_tok, out_tok, NULL);
    json_decref(doc);
}

static void try_next(struct llm_call *c)
{
    const struct provider_registry *reg = policy_providers(c->gen);
    char err[256];
    while (c->next < json_array_size(c->candidates)) {
        c->p = providers_find(reg, json_string_value(json_array_get(c->candidates, c->next++)));
        if (!c->p || !c->p->chat) continue;
        c->attempts++;
        c->model = json_string_value(json_object_get(c->p->chat, "default_model"));
        const json_t *doc = json_array_get(json_object_get(reg->doc, "providers"), c->p->index - 1);
        json_t *vars = json_pack("{s:s}", "model", c->model);
        int built = probe_build_with(c->p, doc, c->p->chat, vars, NULL, NULL, &c->pr, err, sizeof err);
        json_decref(vars);
        if (built < 0) {
            record_attempt(c, NULL, "AUTH_FAILED", 0, -1, -1);
            probe_request_free(&c->pr);
            continue;
        }
        free(c->pr.body);
        c->pr.body = build_body(c, json_string_value(json_object_get(c->p->chat, "format")));
        c->pr.body_len = c->pr.body ? strlen(c->pr.body) : 0;
        const json_t *rl = c->p->rate_limit;
        json_int_t tmo = json_integer_value(json_object_get(c->p->chat, "timeout_ms"));
        struct fetch_request fr = {.method = c->pr.method, .url = c->pr.url,
                                   .headers = (const char *const *)c->pr.headers, .body = c->pr.body,
                                   .body_len = c->pr.body_len, .userpwd = c->pr.userpwd,
                                   .timeout_ms = tmo > 0 ? (int)tmo : 20000, .max_response_bytes = MAX_ANSWER_BYTES,
                                   .limit_key = c->p->id,
                                   .rate_per_s = json_number_value(json_object_get(rl, "requests_per_s")),
                                   .burst = (int)json_integer_value(json_object_get(rl, "burst")),
                                   .max_concurrency = (int)json_integer_value(json_object_get(rl, "max_concurrency"))};
        if (fr.burst < 1) fr.burst = 1;
        if (c->pr.body && fetch_start(&fr, on_answer, c) > 0) return;
        record_attempt(c, NULL, "NETWORK_ERROR", 0, -1, -1);
        probe_request_free(&c->pr);
    }
    finish(c, c->p ? c->p->id : NULL, c->p ? c->model : NULL, NULL, -1, -1,
           c->last_error ? c->last_error : "LLM_UNAVAILABLE");
}

int llm_chat(const struct llm_request *req, llm_cb cb, void *arg)
{
    return llm_chat_for(req, NULL, cb, arg);
}

int llm_chat_for(const struct llm_request *req, const char *user_id, llm_cb cb, void *arg)
{
    if (!req || !req->system || !req->prompt || !req->trace_id || !cb) return -1;
    struct llm_call *c = calloc(1, sizeof *c);
    if (!c) return -1;
    snprintf(c->user_id, sizeof c->user_id, "%s", user_id ? user_id : "");
    snprintf(c->purpose, sizeof c->purpose, "%s", req->purpose ? req->purpose : "unspecified");
    snprintf(c->bot_id, sizeof c->bot_id, "%s", req->bot_id ? req->bot_id : "");
    snprintf(c->run_id, sizeof c->run_id, "%s", req->run_id ? req->run_id : "");
    snprintf(c->trace_id, sizeof c->trace_id, "%s", req->trace_id);
    c->system = strdup(req->system);
    c->prompt = strdup(req->prompt);
    c->max_tokens = req->max_tokens > 0 ? req->max_tokens : 64;
    c->gen = policy_retain(policy_current());
    c->candidates = candidates_from_status();
    c->cb = cb;
    c->arg = arg;
    try_next(c); /* no candidate: cb runs now with LLM_UNAVAILABLE */
    return 0;
}
