/* provider_call.c — the provider-call engine: candidates in order, one request each under the provider's
 * limits, one classification, the attempts array and one usage event per attempt (see provider_call.h). */
#include "provider_call.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fetch.h"
#include "log.h"
#include "policy.h"
#include "probe.h"
#include "providers.h"
#include "telemetry.h"

static const char *const outcomes[] = {"OK",      "AUTH_FAILED",   "NOT_ENTITLED",   "RATE_LIMITED",
                                       "TIMEOUT", "NETWORK_ERROR", "PROVIDER_ERROR", NULL};

int provider_call_is_outcome(const char *s)
{
    for (const char *const *o = outcomes; s && *o; o++)
        if (strcmp(*o, s) == 0) return 1;
    return 0;
}

const char *provider_call_outcome_of(const struct fetch_response *r)
{
    if (r->status == FETCH_ETIMEOUT) return "TIMEOUT";
    if (r->status != FETCH_OK && r->status != FETCH_ETOOBIG) return "NETWORK_ERROR";
    if (r->http_status == 401) return "AUTH_FAILED";
    if (r->http_status == 402 || r->http_status == 403) return "NOT_ENTITLED";
    if (r->http_status == 429) return "RATE_LIMITED";
    if (r->status == FETCH_ETOOBIG || r->http_status < 200 || r->http_status >= 300) return "PROVIDER_ERROR";
    return "OK";
}

const char *provider_call_classify(struct policy_gen *gen, const struct provider_def *p, const json_t *arg,
                                   const char *trace_id, char *reason, size_t reasonlen)
{
    char err[1024], path[64], esc[1100];
    snprintf(path, sizeof path, "providers.%zu.classify", p->index);
    json_t *res = policy_call(gen, "providers.lua", path, arg, err, sizeof err);
    const char *got = json_string_value(json_array_get(res, 0));
    const char *why = json_string_value(json_array_get(res, 1));
    const char *outcome = NULL;
    for (const char *const *o = outcomes; got && *o && !outcome; o++)
        if (strcmp(*o, got) == 0) outcome = *o;
    if (!outcome) { /* a broken classifier fails closed */
        LOG_ERROR(trace_id, "classifier failed", "provider=%s error=\"%s\"", p->id,
                  log_escape(res ? "returned an unknown outcome" : err, esc, sizeof esc));
        outcome = "PROVIDER_ERROR";
        why = "The provider's classifier in providers.lua failed (POLICY_ERROR); see the log.";
    }
    snprintf(reason, reasonlen, "%s", why ? why : outcome);
    json_decref(res);
    return outcome;
}

struct pcall {
    struct provider_call c; /* copied; the string fields point into the buffers below */
    char op[32], operation[64], trace_id[33], bot_id[37], run_id[37], job_id[37], user_id[37];
    char symbol[64], timeframe[16];
    json_t *candidates, *vars, *step, *attempts;
    size_t next;
    int tried, http_status;
    const struct provider_def *p;
    const json_t *doc;
    const char *outcome;
    struct probe_request pr;
    provider_call_cb cb;
    void *arg;
};

static void call_next(struct pcall *k);

static const char *opt(const char *s)
{
    return s && *s ? s : NULL;
}

static const char *keep(char *buf, size_t len, const char *src)
{
    snprintf(buf, len, "%s", src ? src : "");
    return buf;
}

/* The request description of op for p: the caller's step, or bars / chat. */
static const json_t *description(const struct pcall *k, const struct provider_def *p)
{
    if (k->step) return k->step;
    if (strcmp(k->op, "bars") == 0) return p->bars;
    if (strcmp(k->op, "chat") == 0) return p->chat;
    return NULL;
}

static int timeout_for(const struct pcall *k, const struct provider_def *p)
{
    if (k->c.timeout_ms > 0) return k->c.timeout_ms;
    if (strcmp(k->op, "bars") == 0) return p->limits.bars_timeout_ms;
    if (strcmp(k->op, "chat") == 0) return p->limits.chat_timeout_ms;
    if (strcmp(k->op, "verify") == 0) return p->limits.verify_timeout_ms;
    return p->limits.order_timeout_ms;
}

/* The candidate's template vars: the call's, then the description's `vars` defaults ({name = {env, default}})
 * for names the call left out — provider knowledge such as Databento's dataset lives in providers.lua. */
static json_t *vars_for(struct pcall *k, const json_t *desc)
{
    json_t *own = k->c.vars_for ? k->c.vars_for(k->p, k->c.hook_arg) : NULL;
    json_t *vars = own ? own : k->vars ? json_deep_copy(k->vars) : json_object();
    const char *name;
    json_t *spec;
    json_object_foreach(json_object_get(desc, "vars"), name, spec)
    {
        const char *env = json_string_value(json_object_get(spec, "env"));
        const char *v = env ? probe_env(k->p, k->doc, env) : NULL;
        if (json_object_get(vars, name)) continue;
        if (v && *v)
            json_object_set_new(vars, name, json_string(v));
        else if (json_object_get(spec, "default"))
            json_object_set(vars, name, json_object_get(spec, "default"));
    }
    return vars;
}

static void finish_call(struct pcall *k, int ok)
{
    struct provider_call_result r = {ok, k->p, k->outcome, k->http_status, k->attempts};
    k->cb(&r, k->arg);
    probe_request_free(&k->pr);
    json_decref(k->candidates);
    json_decref(k->vars);
    json_decref(k->step);
    json_decref(k->attempts);
    policy_release(k->c.gen);
    free(k);
}

/* One classification, the attempt's record and its usage event. Returns the outcome. */
static const char *settle(struct pcall *k, const struct fetch_response *resp, const char *error, int latency)
{
    struct provider_answer a = {k->p, k->doc, k->pr.method ? &k->pr : NULL, resp, error, k->tried};
    struct provider_verdict v = {resp    ? provider_call_outcome_of(resp)
                                 : a.req ? "NETWORK_ERROR"
                                         : "AUTH_FAILED",
                                 -1, NULL};
    if (k->c.judge) k->c.judge(&a, &v, k->c.hook_arg);
    if (!v.outcome) v.outcome = "PROVIDER_ERROR";
    int ok = strcmp(v.outcome, "OK") == 0;
    json_t *meta = v.meta ? v.meta : json_object();
    if (k->c.failover) {
        json_object_set_new(meta, "attempt", json_integer(k->tried));
        json_object_set_new(meta, "failover", json_boolean(k->tried > 1));
    }
    if (k->c.operation) {
        struct usage_event ev = {.provider_id = k->p->id,
                                 .operation = k->c.operation,
                                 .status = ok ? "OK" : "ERROR",
                                 .bot_id = opt(k->bot_id),
                                 .run_id = opt(k->run_id),
                                 .job_id = opt(k->job_id),
                                 .user_id = opt(k->user_id),
                                 .latency_ms = latency,
                                 .symbol = opt(k->symbol),
                                 .timeframe = opt(k->timeframe),
                                 .records = v.records,
                                 .error_code = ok ? NULL : v.outcome,
                                 .trace_id = k->trace_id,
                                 .metadata = meta};
        telemetry_usage(&ev);
    }
    json_decref(meta);
    json_t *att =
        json_pack("{s:s, s:s, s:i}", "provider", k->p->id, "outcome", v.outcome, "latency_ms", latency);
    if (v.records >= 0) json_object_set_new(att, "records", json_integer(v.records));
    json_array_append_new(k->attempts, att);
    k->outcome = v.outcome;
    k->http_status = resp ? (int)resp->http_status : 0;
    probe_request_free(&k->pr);
    return v.outcome;
}

static void after_attempt(struct pcall *k, const char *outcome)
{
    if (strcmp(outcome, "OK") == 0)
        finish_call(k, 1);
    else if (k->c.failover)
        call_next(k);
    else
        finish_call(k, 0);
}

static void on_answer(const struct fetch_response *resp, void *arg)
{
    struct pcall *k = arg;
    after_attempt(k, settle(k, resp, NULL, (int)resp->total_ms));
}

/* Builds and sends the request to k->p. Returns NULL when it is in flight, else the settled outcome. */
static const char *send_to(struct pcall *k, const json_t *desc)
{
    char err[256];
    json_t *vars = vars_for(k, desc);
    int built =
        probe_build_with(k->p, k->doc, desc, vars, k->c.token_of, k->c.token_ctx, &k->pr, err, sizeof err);
    json_decref(vars);
    if (built < 0) {
        probe_request_free(&k->pr);
        return settle(k, NULL, err, 0);
    }
    if (k->c.prepare && k->c.prepare(k->p, &k->pr, k->c.hook_arg) < 0)
        return settle(k, NULL, "the request could not be prepared", 0);
    const struct provider_limits *l = &k->p->limits;
    struct fetch_request fr = {.method = k->pr.method,
                               .url = k->pr.url,
                               .headers = (const char *const *)k->pr.headers,
                               .body = k->pr.body,
                               .body_len = k->pr.body_len,
                               .userpwd = k->pr.userpwd,
                               .timeout_ms = timeout_for(k, k->p),
                               .max_response_bytes =
                                   k->c.max_response_bytes ? k->c.max_response_bytes : 1u << 20,
                               .limit_key = k->p->id,
                               .rate_per_s = l->rate_per_s,
                               .burst = l->burst,
                               .max_concurrency = l->max_concurrency};
    if (fetch_start(&fr, on_answer, k) > 0) return NULL;
    return settle(k, NULL, "the request could not be started", 0);
}

static void call_next(struct pcall *k)
{
    const struct provider_registry *reg = policy_providers(k->c.gen);
    while (reg && k->next < json_array_size(k->candidates)) {
        const struct provider_def *p =
            providers_find(reg, json_string_value(json_array_get(k->candidates, k->next++)));
        const json_t *desc = p ? description(k, p) : NULL;
        if (!desc) continue;
        k->p = p;
        k->doc = json_array_get(json_object_get(reg->doc, "providers"), p->index - 1);
        k->tried++;
        const char *outcome = send_to(k, desc);
        if (!outcome) return; /* in flight: on_answer continues */
        if (strcmp(outcome, "OK") == 0 || !k->c.failover) {
            after_attempt(k, outcome);
            return;
        }
    }
    finish_call(k, 0);
}

int provider_call_start(const struct provider_call *c, provider_call_cb cb, void *arg)
{
    if (!c || !c->gen || !c->op || !c->trace_id || !cb) return -1;
    struct pcall *k = calloc(1, sizeof *k);
    if (!k) return -1;
    k->c = *c;
    k->c.gen = policy_retain(c->gen);
    keep(k->op, sizeof k->op, c->op);
    k->c.operation = c->operation ? keep(k->operation, sizeof k->operation, c->operation) : NULL;
    keep(k->trace_id, sizeof k->trace_id, c->trace_id);
    keep(k->bot_id, sizeof k->bot_id, c->bot_id);
    keep(k->run_id, sizeof k->run_id, c->run_id);
    keep(k->job_id, sizeof k->job_id, c->job_id);
    keep(k->user_id, sizeof k->user_id, c->user_id);
    keep(k->symbol, sizeof k->symbol, c->symbol);
    keep(k->timeframe, sizeof k->timeframe, c->timeframe);
    k->candidates = json_is_array(c->candidates) ? json_copy((json_t *)c->candidates) : json_array();
    k->vars = c->vars ? json_deep_copy(c->vars) : NULL;
    k->step = c->step ? json_incref((json_t *)c->step) : NULL;
    k->attempts = json_array();
    k->cb = cb;
    k->arg = arg;
    call_next(k);
    return 0;
}
