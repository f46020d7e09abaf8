/* broker.c — runs a broker's steps (providers.lua `order`: place, and its `actions`) one after another, once,
 * on the loop. */
#include "broker.h"

#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fetch.h"
#include "log.h"
#include "policy.h"
#include "probe.h"
#include "provider_call.h"
#include "providers.h"

#define MAX_STEPS 8

struct order_call {
    char symbol[64], side[8], bot_id[37], run_id[37], trace_id[33], user_id[37];
    char action[16];          /* "" = place; else a key of order.actions */
    char broker_order_id[64]; /* the order an action is about ("" for lists) */
    long long qty;
    json_t *steps; /* the session steps then the action's steps (place: order.steps) */
    struct policy_gen *gen;
    const struct provider_def *p;
    const json_t *doc;       /* p's table in the registry document (borrowed from gen) */
    size_t step;             /* index of the step in flight */
    char *tokens[MAX_STEPS]; /* secret: token captured from step i's answer; wiped on free */
    json_t *vars;
    /* the verdict of the step in flight (set by judge) */
    const char *code; /* NULL = the step succeeded */
    char reason[512];
    char order_id[64]; /* the placed order's id */
    int final;         /* the step ended the call (place or the action's parse) */
    json_t *data;      /* an action's parse result */
    broker_cb cb;
    void *arg;
};

static void copy_opt(char *dst, size_t len, const char *src)
{
    snprintf(dst, len, "%s", src ? src : "");
}

static const json_t *steps_of(const struct order_call *c)
{
    return c->steps;
}

static const json_t *cur_step(const struct order_call *c)
{
    return json_array_get(steps_of(c), c->step);
}

static const char *token_of(void *ctx, const char *step_name)
{
    struct order_call *c = ctx;
    const json_t *st;
    size_t i;
    json_array_foreach(steps_of(c), i, st) if (i < MAX_STEPS && step_name &&
                                               strcmp(json_string_value(json_object_get(st, "name")),
                                                      step_name) == 0) return c->tokens[i];
    return NULL;
}

/* "accounts.1" / "1.id": object keys and 1-based array indexes separated by dots. */
static json_t *dig_path(json_t *root, const char *path)
{
    char buf[128], *save = NULL;
    json_t *cur = root;
    snprintf(buf, sizeof buf, "%s", path);
    for (char *seg = strtok_r(buf, ".", &save); seg && cur; seg = strtok_r(NULL, ".", &save)) {
        if (json_is_array(cur)) {
            long idx = strtol(seg, NULL, 10);
            cur = idx >= 1 ? json_array_get(cur, (size_t)idx - 1) : NULL;
        } else {
            cur = json_object_get(cur, seg);
        }
    }
    return cur;
}

/* Replaces every value of p's variables found in s with "***" (brokers may echo what they were sent). */
static void scrub(const struct order_call *c, char *s)
{
    const char **lists[2] = {c->p->required_env, c->p->optional_env};
    size_t ns[2] = {c->p->n_required, c->p->n_optional};
    for (int l = 0; l < 2; l++)
        for (size_t i = 0; i < ns[l]; i++) {
            const char *v = probe_env(c->p, c->doc, lists[l][i]);
            size_t vl = v ? strlen(v) : 0;
            char *hit;
            if (vl < 4) continue;
            while ((hit = strstr(s, v)) != NULL) {
                memmove(hit + 3, hit + vl, strlen(hit + vl) + 1);
                memcpy(hit, "***", 3);
            }
        }
    for (int i = 0; i < MAX_STEPS; i++) {
        char *hit;
        size_t vl = c->tokens[i] ? strlen(c->tokens[i]) : 0;
        while (vl >= 4 && (hit = strstr(s, c->tokens[i])) != NULL) {
            memmove(hit + 3, hit + vl, strlen(hit + vl) + 1);
            memcpy(hit, "***", 3);
        }
    }
}

/* The first string among the step's (or its result's) reason_fields in the answer, or NULL. */
static const char *broker_reason(const json_t *step, const json_t *answer)
{
    const json_t *lists[2] = {json_object_get(step, "reason_fields"),
                              json_object_get(json_object_get(step, "result"), "reason_fields")};
    const json_t *f;
    size_t i;
    for (int l = 0; l < 2; l++)
        json_array_foreach(lists[l], i, f)
        {
            const char *v = json_string_value(json_object_get(answer, json_string_value(f)));
            if (v && *v) return v;
        }
    return NULL;
}

/* The usage-event metadata of the current step: {action, symbol, step, qty?, broker_order_id?, http_status?,
 * env?}. */
static json_t *step_meta(const struct order_call *c, const char *broker_order_id, long http_status,
                         const char *env)
{
    json_t *meta = json_pack("{s:s, s:s, s:s}", "action", c->action[0] ? c->action : c->side, "symbol",
                             c->symbol, "step", json_string_value(json_object_get(cur_step(c), "name")));
    if (!c->action[0] || c->qty > 0) json_object_set_new(meta, "qty", json_integer((json_int_t)c->qty));
    if (broker_order_id || c->broker_order_id[0])
        json_object_set_new(meta, "broker_order_id",
                            json_string(broker_order_id ? broker_order_id : c->broker_order_id));
    if (http_status > 0) json_object_set_new(meta, "http_status", json_integer(http_status));
    if (env) json_object_set_new(meta, "env", json_string(env));
    return meta;
}

static void finish_with(struct order_call *c, const char *broker_order_id, const char *error_code,
                        const char *reason, const json_t *data)
{
    char why[512];
    snprintf(why, sizeof why, "%s", reason ? reason : "");
    if (c->p) scrub(c, why);
    struct broker_result r = {error_code == NULL, c->p ? c->p->id : NULL,  broker_order_id,
                              error_code,         error_code ? why : NULL, data};
    const char *what = c->action[0] ? c->action : "place";
    if (error_code)
        LOG_WARN(c->trace_id, "broker call failed", "broker=%s action=%s code=%s", c->p ? c->p->id : "-",
                 what, error_code);
    else
        LOG_INFO(c->trace_id, "broker call done", "broker=%s action=%s order=%s", c->p->id, what,
                 broker_order_id         ? broker_order_id
                 : c->broker_order_id[0] ? c->broker_order_id
                                         : "-");
    c->cb(&r, c->arg);
    for (int i = 0; i < MAX_STEPS; i++)
        if (c->tokens[i]) {
            sodium_memzero(c->tokens[i], strlen(c->tokens[i]));
            free(c->tokens[i]);
        }
    json_decref(c->vars);
    json_decref(c->steps);
    json_decref(c->data);
    policy_release(c->gen);
    free(c);
}

static void finish(struct order_call *c, const char *broker_order_id, const char *error_code,
                   const char *reason)
{
    finish_with(c, broker_order_id, error_code, reason, NULL);
}

/* Sets the current step's verdict: code NULL = the step succeeded. */
static void verdict(struct order_call *c, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void verdict(struct order_call *c, const char *code, const char *fmt, ...)
{
    va_list ap;
    c->code = code;
    va_start(ap, fmt);
    vsnprintf(c->reason, sizeof c->reason, fmt, ap);
    va_end(ap);
}

/* The last step of an action answered 2xx: the provider's Lua parse(answer, vars) normalizes it into c->data.
 */
static void parse_action(struct order_call *c, const json_t *answer)
{
    char path[160], err[512];
    snprintf(path, sizeof path, "providers.%zu.order.actions.%s.parse", c->p->index, c->action);
    json_t *vars = json_deep_copy(c->vars);
    const json_t *args[2] = {answer ? answer : json_null(), vars};
    json_t *data = policy_call_first(c->gen, "providers.lua", path, args, 2, err, sizeof err);
    json_decref(vars);
    const char *refused = json_is_false(json_object_get(data, "ok"))
                              ? json_string_value(json_object_get(data, "reason"))
                              : NULL;
    c->final = 1;
    if (!json_is_object(data)) {
        verdict(c, "PROVIDER_ERROR", "%s %s answer could not be read: %s", c->p->label, c->action, err);
        json_decref(data);
        return;
    }
    if (json_is_false(json_object_get(data, "ok")))
        verdict(c, "BROKER_REJECTED", "%s refused the %s%s%s", c->p->label, c->action, refused ? ": " : "",
                refused ? refused : "");
    c->data = data;
}

/* Wipes every string in an answer (it may hold a token) before it is freed. */
static void wipe_json(json_t *j)
{
    const char *key;
    json_t *v;
    size_t i;
    if (json_is_string(j))
        sodium_memzero((char *)json_string_value(j), json_string_length(j));
    else if (json_is_object(j))
        json_object_foreach(j, key, v) wipe_json(v);
    else if (json_is_array(j))
        json_array_foreach(j, i, v) wipe_json(v);
}

/* Transport and HTTP status of a step's answer: sets the verdict on failure. */
static void judge_transport(struct order_call *c, const struct fetch_response *resp, const json_t *answer,
                            int is_place)
{
    const json_t *step = cur_step(c);
    const char *label = c->p->label, *name = json_string_value(json_object_get(step, "name"));
    long hs = resp->http_status;
    if (resp->status == FETCH_ETIMEOUT) {
        verdict(c, "TIMEOUT", "%s did not answer the %s request in time%s", label, name,
                is_place ? "; the order's fate is unknown, check the broker before acting" : "");
    } else if (resp->status != FETCH_OK) {
        verdict(c, "NETWORK_ERROR", "%s %s request failed: %s", label, name,
                resp->error ? resp->error : "network error");
    } else if (hs < 200 || hs >= 300) {
        const char *said = broker_reason(step, answer);
        int is_final = is_place || (c->action[0] && c->step + 1 == json_array_size(steps_of(c)));
        if (!said) said = json_string_value(json_object_get(answer, "error"));
        verdict(c,
                hs == 429                           ? "RATE_LIMITED"
                : is_final && hs >= 400 && hs < 500 ? "BROKER_REJECTED"
                : hs == 401 || hs == 403            ? "AUTH_FAILED"
                                                    : "PROVIDER_ERROR",
                "%s refused the %s request (HTTP %ld)%s%s", label, name, hs, said ? ": " : "",
                said ? said : "");
    }
}

/* A 2xx answer: the login token, the captures, then (last step) the action's parse or the placed order's id.
 */
static void judge_answer(struct order_call *c, json_t *answer, const json_t *result)
{
    const json_t *step = cur_step(c);
    const char *label = c->p->label, *key, *said = broker_reason(step, answer);
    const char *token_field = json_string_value(json_object_get(step, "token_field"));
    json_t *v;
    if (token_field) {
        const char *tok = json_string_value(json_object_get(answer, token_field));
        if (!tok || !*tok) {
            int locked = json_object_get(answer, "p-ticket") != NULL;
            verdict(c, locked ? "RATE_LIMITED" : "AUTH_FAILED", "%s login failed%s%s", label,
                    locked ? ": locked out (time penalty); do not retry"
                    : said ? ": "
                           : " (no token in the answer)",
                    locked ? ""
                    : said ? said
                           : "");
            return;
        }
        if (c->step < MAX_STEPS) c->tokens[c->step] = strdup(tok);
    }
    json_object_foreach(json_object_get(step, "capture"), key, v)
    {
        json_t *got = dig_path(answer, json_string_value(v));
        if (!json_is_string(got) && !json_is_integer(got)) {
            verdict(c, "PROVIDER_ERROR", "%s answer to %s has no %s", label,
                    json_string_value(json_object_get(step, "name")), json_string_value(v));
            return;
        }
        json_object_set_new(c->vars, key, json_deep_copy(got)); /* the answer is wiped after the step */
    }
    if (c->action[0] && c->step + 1 == json_array_size(steps_of(c))) {
        parse_action(c, answer);
        return;
    }
    if (!result) return;
    const char *accept = json_string_value(json_object_get(result, "accept_field"));
    const char *want = json_string_value(json_object_get(result, "accept_value"));
    const char *got = accept ? json_string_value(json_object_get(answer, accept)) : NULL;
    json_t *oid = json_object_get(answer, json_string_value(json_object_get(result, "order_id")));
    if (json_is_string(oid))
        snprintf(c->order_id, sizeof c->order_id, "%s", json_string_value(oid));
    else if (json_is_integer(oid))
        snprintf(c->order_id, sizeof c->order_id, "%lld", (long long)json_integer_value(oid));
    c->final = 1;
    if (accept && (!got || !want || strcmp(got, want) != 0))
        verdict(c, "BROKER_REJECTED", "%s rejected the order%s%s", label, said ? ": " : "", said ? said : "");
    else if (!c->order_id[0])
        verdict(c, "PROVIDER_ERROR", "%s answered without an order id; check the broker before acting",
                label);
}

/* The engine's judge hook: the broker's reading of one step's answer (or of why it was never sent). */
static void judge(const struct provider_answer *a, struct provider_verdict *v, void *arg)
{
    struct order_call *c = arg;
    const json_t *result = json_object_get(cur_step(c), "result");
    json_t *answer = NULL;
    c->code = NULL;
    c->final = 0;
    c->order_id[0] = '\0';
    if (!a->resp && !a->req) {
        verdict(c, "AUTH_FAILED", "%s order request could not be built: %s", c->p->label, a->error);
    } else if (!a->resp) {
        verdict(c, "NETWORK_ERROR", "the broker request could not be started");
    } else {
        if (a->resp->status == FETCH_OK)
            answer = json_loadb(a->resp->body ? a->resp->body : "", a->resp->body_len, 0, NULL);
        judge_transport(c, a->resp, answer, result != NULL);
        if (!c->code) judge_answer(c, answer, result);
    }
    wipe_json(answer);
    json_decref(answer);
    v->outcome = c->code ? c->code : "OK";
    v->meta = step_meta(c, !c->code && c->order_id[0] ? c->order_id : NULL,
                        a->resp ? a->resp->http_status : 0, a->req ? a->req->env_key : NULL);
}

static void run_step(struct order_call *c);

static void on_step(const struct provider_call_result *r, void *arg)
{
    struct order_call *c = arg;
    if (!r->p)
        finish(c, NULL, "NO_BROKER", "The broker is not in providers.lua; nothing was sent.");
    else if (c->code)
        finish_with(c, NULL, c->code, c->reason, c->data);
    else if (c->final)
        finish_with(c, c->order_id[0] ? c->order_id : NULL, NULL, NULL, c->data);
    else {
        c->step++;
        run_step(c);
    }
}

static void run_step(struct order_call *c)
{
    const json_t *step = cur_step(c);
    if (!step) {
        finish(c, NULL, "PROVIDER_ERROR", "the broker's order description has no place step");
        return;
    }
    json_t *candidate = json_pack("[s]", c->p->id);
    struct provider_call pc = {.gen = c->gen,
                               .candidates = candidate,
                               .op = c->action[0] ? c->action : "order",
                               .step = step,
                               .vars = c->vars,
                               .operation = json_string_value(json_object_get(step, "operation")),
                               .trace_id = c->trace_id,
                               .bot_id = c->bot_id,
                               .run_id = c->run_id,
                               .user_id = c->user_id,
                               .symbol = c->symbol,
                               .failover = 0,
                               .max_response_bytes = 1u << 20,
                               .token_of = token_of,
                               .token_ctx = c,
                               .judge = judge,
                               .hook_arg = c};
    int rc = provider_call_start(&pc, on_step, c);
    json_decref(candidate);
    if (rc < 0) finish(c, NULL, "NETWORK_ERROR", "the broker request could not be started");
}

/* A call with its copied inputs and a retained generation; p and doc are looked up by the caller. */
static struct order_call *call_new(struct policy_gen *gen, const char *symbol, const char *bot_id,
                                   const char *run_id, const char *trace_id, const char *user_id,
                                   broker_cb cb, void *arg)
{
    struct order_call *c = calloc(1, sizeof *c);
    copy_opt(c->symbol, sizeof c->symbol, symbol);
    copy_opt(c->bot_id, sizeof c->bot_id, bot_id);
    copy_opt(c->run_id, sizeof c->run_id, run_id);
    copy_opt(c->trace_id, sizeof c->trace_id, trace_id);
    copy_opt(c->user_id, sizeof c->user_id, user_id);
    c->cb = cb;
    c->arg = arg;
    c->gen = policy_retain(gen);
    return c;
}

/* Finds provider id's order description in c's generation: 0, or -1 after finishing c with NO_BROKER. */
static int bind_provider(struct order_call *c, const char *id)
{
    const struct provider_registry *reg = policy_providers(c->gen);
    c->p = id && reg ? providers_find(reg, id) : NULL;
    if (!c->p || !c->p->order) {
        c->p = NULL;
        finish(c, NULL, "NO_BROKER",
               id ? "The broker has no order description in providers.lua; nothing was sent."
                  : "No broker is connected (live_stack.execution.primary); nothing was sent.");
        return -1;
    }
    c->doc = json_array_get(json_object_get(reg->doc, "providers"), c->p->index - 1);
    return 0;
}

int broker_place_order(const struct broker_order *o, broker_cb cb, void *arg)
{
    if (!o || !cb || !o->symbol || !o->side || !o->trace_id || o->qty <= 0 || !o->gen ||
        (strcmp(o->side, "BUY") != 0 && strcmp(o->side, "SELL") != 0))
        return -1;
    struct order_call *c =
        call_new(o->gen, o->symbol, o->bot_id, o->run_id, o->trace_id, o->user_id, cb, arg);
    copy_opt(c->side, sizeof c->side, o->side);
    c->qty = o->qty;
    /* one broker per order: the first candidate, never a second one */
    const char *id = o->provider_id ? o->provider_id : json_string_value(json_array_get(o->candidates, 0));
    if (bind_provider(c, id) < 0) return 0;
    c->steps = json_incref(json_object_get(c->p->order, "steps"));
    const char *side =
        json_string_value(json_object_get(json_object_get(c->p->order, "side_values"), c->side));
    c->vars = json_pack("{s:s, s:s, s:I}", "symbol", c->symbol, "side", side ? side : c->side, "qty",
                        (json_int_t)c->qty);
    run_step(c);
    return 0;
}

const char *broker_stage_status(const char *stage, int live_allowed)
{
    if (stage && strcmp(stage, "PAPER") == 0) return "SUBMITTED";
    if (stage && strcmp(stage, "SHADOW") == 0) return "INTENT";
    return live_allowed ? "INTENT" : "BLOCKED";
}

int broker_submit(const char *stage, const char *status, const struct broker_order *o, broker_cb cb,
                  void *arg)
{
    if (!stage || !status || strcmp(stage, "LIVE") != 0 || strcmp(status, "INTENT") != 0) return 0;
    return broker_place_order(o, cb, arg) == 0 ? 1 : -1;
}

static double number(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : json_is_string(v) ? atof(json_string_value(v)) : 0;
}

double broker_paper_fill_price(const json_t *bars, double created_epoch, int buy, double tick_size,
                               double slippage_ticks)
{
    const json_t *bar;
    size_t i;
    json_array_foreach(bars, i, bar) if (number(bar, "t") > created_epoch) return number(bar, "o") +
        (buy ? 1 : -1) * slippage_ticks * tick_size;
    return 0;
}

int broker_has_action(struct policy_gen *gen, const char *provider_id, const char *action)
{
    const struct provider_registry *reg = gen ? policy_providers(gen) : NULL;
    const struct provider_def *p = reg && provider_id ? providers_find(reg, provider_id) : NULL;
    return p && p->order && json_is_object(json_object_get(json_object_get(p->order, "actions"), action));
}

int broker_action(const struct broker_action_req *a, broker_cb cb, void *arg)
{
    if (!a || !cb || !a->provider_id || !a->action || !a->trace_id || !a->gen || strlen(a->action) >= 16)
        return -1;
    struct order_call *c = call_new(a->gen, a->symbol, a->bot_id, NULL, a->trace_id, a->user_id, cb, arg);
    snprintf(c->action, sizeof c->action, "%s", a->action);
    copy_opt(c->broker_order_id, sizeof c->broker_order_id, a->broker_order_id);
    c->qty = a->qty;
    if (bind_provider(c, a->provider_id) < 0) return 0;
    const json_t *act = json_object_get(json_object_get(c->p->order, "actions"), a->action);
    json_int_t session = json_integer_value(json_object_get(c->p->order, "session_steps"));
    if (!json_is_object(act)) {
        finish(c, NULL, "NO_BROKER",
               "The broker's order description has no such action in providers.lua; nothing was sent.");
        return 0;
    }
    c->steps = json_array();
    for (json_int_t i = 0; i < session; i++)
        json_array_append(c->steps, json_array_get(json_object_get(c->p->order, "steps"), (size_t)i));
    json_array_extend(c->steps, json_object_get(act, "steps"));
    c->vars = json_pack("{s:s, s:s}", "symbol", c->symbol, "broker_order_id", c->broker_order_id);
    /* brokers with numeric order ids (Tradovate) send them as JSON numbers */
    char *end = NULL;
    long long numeric = c->broker_order_id[0] ? strtoll(c->broker_order_id, &end, 10) : 0;
    if (end && *end == '\0')
        json_object_set_new(c->vars, "broker_order_id_number", json_integer((json_int_t)numeric));
    if (a->qty > 0) json_object_set_new(c->vars, "qty", json_integer((json_int_t)a->qty));
    run_step(c);
    return 0;
}
