/* broker.c — runs a broker's `order` steps (providers.lua) one after another, once, on the loop. */
#include "broker.h"

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fetch.h"
#include "log.h"
#include "policy.h"
#include "probe.h"
#include "providers.h"
#include "status.h"
#include "telemetry.h"

#define MAX_STEPS 8

struct order_call {
    char symbol[64], side[8], bot_id[37], run_id[37], trace_id[33];
    long long qty;
    struct policy_gen *gen;
    const struct provider_def *p;
    const json_t *doc;                 /* p's table in the registry document (borrowed from gen) */
    size_t step;                       /* index of the step in flight */
    char *tokens[MAX_STEPS];           /* secret: token captured from step i's answer; wiped on free */
    json_t *vars;
    struct probe_request pr;
    broker_cb cb;
    void *arg;
};

static void copy_opt(char *dst, size_t len, const char *src)
{
    snprintf(dst, len, "%s", src ? src : "");
}

static const json_t *steps_of(const struct order_call *c)
{
    return json_object_get(c->p->order, "steps");
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
                                                strcmp(json_string_value(json_object_get(st, "name")), step_name) == 0) return c->tokens[i];
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
    for (int l = 0; l < 2; l++) json_array_foreach(lists[l], i, f) {
            const char *v = json_string_value(json_object_get(answer, json_string_value(f)));
            if (v && *v) return v;
        }
    return NULL;
}

static void event(struct order_call *c, const char *status, int latency, const char *error_code,
                  const char *broker_order_id, long http_status)
{
    const json_t *step = cur_step(c);
    json_t *meta = json_pack("{s:s, s:I, s:s, s:s}", "action", c->side, "qty", (json_int_t)c->qty, "symbol", c->symbol,
                             "step", json_string_value(json_object_get(step, "name")));
    if (broker_order_id) json_object_set_new(meta, "broker_order_id", json_string(broker_order_id));
    if (http_status > 0) json_object_set_new(meta, "http_status", json_integer(http_status));
    if (c->pr.env_key) json_object_set_new(meta, "env", json_string(c->pr.env_key));
    struct usage_event ev = {.provider_id = c->p->id, .operation = json_string_value(json_object_get(step, "operation")),
                             .status = status, .bot_id = c->bot_id[0] ? c->bot_id : NULL,
                             .run_id = c->run_id[0] ? c->run_id : NULL, .latency_ms = latency, .symbol = c->symbol,
                             .records = -1, .error_code = error_code, .trace_id = c->trace_id, .metadata = meta};
    telemetry_usage(&ev);
    json_decref(meta);
}

static void finish(struct order_call *c, const char *broker_order_id, const char *error_code, const char *reason)
{
    char why[512];
    snprintf(why, sizeof why, "%s", reason ? reason : "");
    if (c->p) scrub(c, why);
    struct broker_result r = {error_code == NULL, c->p ? c->p->id : NULL, broker_order_id, error_code,
                              error_code ? why : NULL};
    if (error_code)
        LOG_WARN(c->trace_id, "broker order not placed", "broker=%s code=%s", c->p ? c->p->id : "-", error_code);
    else
        LOG_INFO(c->trace_id, "broker order placed", "broker=%s order=%s", c->p->id, broker_order_id);
    c->cb(&r, c->arg);
    probe_request_free(&c->pr);
    for (int i = 0; i < MAX_STEPS; i++)
        if (c->tokens[i]) {
            sodium_memzero(c->tokens[i], strlen(c->tokens[i]));
            free(c->tokens[i]);
        }
    json_decref(c->vars);
    policy_release(c->gen);
    free(c);
}

static void run_step(struct order_call *c);

/* Wipes every string in an answer (it may hold a token) before it is freed. */
static void wipe_json(json_t *j)
{
    const char *key;
    json_t *v;
    size_t i;
    if (json_is_string(j)) sodium_memzero((char *)json_string_value(j), json_string_length(j));
    else if (json_is_object(j)) json_object_foreach(j, key, v) wipe_json(v);
    else if (json_is_array(j)) json_array_foreach(j, i, v) wipe_json(v);
}

static void on_answer(const struct fetch_response *resp, void *arg)
{
    struct order_call *c = arg;
    const json_t *step = cur_step(c);
    const char *label = c->p->label;
    const json_t *result = json_object_get(step, "result");
    int is_place = result != NULL;
    int latency = (int)resp->total_ms;
    long hs = resp->http_status;
    char reason[400];
    const char *code = NULL;
    json_t *answer = NULL;

    if (resp->status == FETCH_ETIMEOUT) {
        code = "TIMEOUT";
        snprintf(reason, sizeof reason, "%s did not answer the %s request in time%s", label,
                 json_string_value(json_object_get(step, "name")),
                 is_place ? "; the order's fate is unknown, check the broker before acting" : "");
    } else if (resp->status != FETCH_OK) {
        code = "NETWORK_ERROR";
        snprintf(reason, sizeof reason, "%s %s request failed: %s", label, json_string_value(json_object_get(step, "name")),
                 resp->error ? resp->error : "network error");
    } else {
        answer = json_loadb(resp->body ? resp->body : "", resp->body_len, 0, NULL);
        const char *said = broker_reason(step, answer);
        if (!said) said = json_string_value(json_object_get(answer, "error"));
        if (hs < 200 || hs >= 300) {
            code = hs == 429 ? "RATE_LIMITED" : is_place && hs >= 400 && hs < 500 ? "BROKER_REJECTED"
                                               : hs == 401 || hs == 403 ? "AUTH_FAILED" : "PROVIDER_ERROR";
            snprintf(reason, sizeof reason, "%s refused the %s request (HTTP %ld)%s%s", label,
                     json_string_value(json_object_get(step, "name")), hs, said ? ": " : "", said ? said : "");
        }
    }
    if (!code) {
        const char *token_field = json_string_value(json_object_get(step, "token_field"));
        const char *key, *said = broker_reason(step, answer);
        json_t *v;
        if (token_field) {
            const char *tok = json_string_value(json_object_get(answer, token_field));
            if (!tok || !*tok) {
                int locked = json_object_get(answer, "p-ticket") != NULL;
                code = locked ? "RATE_LIMITED" : "AUTH_FAILED";
                snprintf(reason, sizeof reason, "%s login failed%s%s", label,
                         locked ? ": locked out (time penalty); do not retry" : said ? ": " : " (no token in the answer)",
                         locked ? "" : said ? said : "");
            } else if (c->step < MAX_STEPS) {
                c->tokens[c->step] = strdup(tok);
            }
        }
        json_object_foreach(json_object_get(step, "capture"), key, v) if (!code) {
            json_t *got = dig_path(answer, json_string_value(v));
            if (json_is_string(got) || json_is_integer(got)) {
                json_object_set_new(c->vars, key, json_deep_copy(got)); /* the answer is wiped below */
            } else {
                code = "PROVIDER_ERROR";
                snprintf(reason, sizeof reason, "%s answer to %s has no %s", label,
                         json_string_value(json_object_get(step, "name")), json_string_value(v));
            }
        }
        if (!code && is_place) {
            const char *accept = json_string_value(json_object_get(result, "accept_field"));
            const char *want = json_string_value(json_object_get(result, "accept_value"));
            const char *got = accept ? json_string_value(json_object_get(answer, accept)) : NULL;
            json_t *oid = json_object_get(answer, json_string_value(json_object_get(result, "order_id")));
            char idbuf[64] = "";
            if (json_is_string(oid)) snprintf(idbuf, sizeof idbuf, "%s", json_string_value(oid));
            else if (json_is_integer(oid)) snprintf(idbuf, sizeof idbuf, "%lld", (long long)json_integer_value(oid));
            if (accept && (!got || !want || strcmp(got, want) != 0)) {
                code = "BROKER_REJECTED";
                snprintf(reason, sizeof reason, "%s rejected the order%s%s", label, said ? ": " : "", said ? said : "");
            } else if (!idbuf[0]) {
                code = "PROVIDER_ERROR";
                snprintf(reason, sizeof reason, "%s answered without an order id; check the broker before acting", label);
            } else {
                event(c, "OK", latency, NULL, idbuf, hs);
                wipe_json(answer);
                json_decref(answer);
                finish(c, idbuf, NULL, NULL);
                return;
            }
        }
    }
    wipe_json(answer);
    json_decref(answer);
    if (code) {
        event(c, "ERROR", latency, code, NULL, hs);
        finish(c, NULL, code, reason);
        return;
    }
    event(c, "OK", latency, NULL, NULL, hs);
    probe_request_free(&c->pr);
    c->step++;
    run_step(c);
}

static void run_step(struct order_call *c)
{
    const json_t *step = cur_step(c);
    char err[256];
    if (!step) {
        finish(c, NULL, "PROVIDER_ERROR", "the broker's order description has no place step");
        return;
    }
    if (probe_build_with(c->p, c->doc, step, c->vars, token_of, c, &c->pr, err, sizeof err) < 0) {
        char reason[400];
        snprintf(reason, sizeof reason, "%s order request could not be built: %s", c->p->label, err);
        event(c, "ERROR", 0, "AUTH_FAILED", NULL, 0);
        finish(c, NULL, "AUTH_FAILED", reason);
        return;
    }
    const json_t *rl = c->p->rate_limit;
    json_int_t tmo = json_integer_value(json_object_get(c->p->order, "timeout_ms"));
    struct fetch_request fr = {.method = c->pr.method, .url = c->pr.url, .headers = (const char *const *)c->pr.headers,
                               .body = c->pr.body, .body_len = c->pr.body_len, .userpwd = c->pr.userpwd,
                               .timeout_ms = tmo > 0 ? (int)tmo : 10000, .max_response_bytes = 1u << 20,
                               .limit_key = c->p->id,
                               .rate_per_s = json_number_value(json_object_get(rl, "requests_per_s")),
                               .burst = (int)json_integer_value(json_object_get(rl, "burst")),
                               .max_concurrency = (int)json_integer_value(json_object_get(rl, "max_concurrency"))};
    if (fr.burst < 1) fr.burst = 1;
    if (fetch_start(&fr, on_answer, c) > 0) return;
    event(c, "ERROR", 0, "NETWORK_ERROR", NULL, 0);
    finish(c, NULL, "NETWORK_ERROR", "the broker request could not be started");
}

int broker_place_order(const struct broker_order *o, broker_cb cb, void *arg)
{
    if (!o || !cb || !o->symbol || !o->side || !o->trace_id || o->qty <= 0 ||
        (strcmp(o->side, "BUY") != 0 && strcmp(o->side, "SELL") != 0))
        return -1;
    struct order_call *c = calloc(1, sizeof *c);
    copy_opt(c->symbol, sizeof c->symbol, o->symbol);
    copy_opt(c->side, sizeof c->side, o->side);
    copy_opt(c->bot_id, sizeof c->bot_id, o->bot_id);
    copy_opt(c->run_id, sizeof c->run_id, o->run_id);
    copy_opt(c->trace_id, sizeof c->trace_id, o->trace_id);
    c->qty = o->qty;
    c->cb = cb;
    c->arg = arg;
    c->gen = policy_retain(policy_current());
    const struct provider_registry *reg = policy_providers(c->gen);
    const char *id = json_string_value(json_object_get(
        json_object_get(json_object_get(json_object_get(status_decision(), "live_stack"), "execution"), "primary"), "providerId"));
    c->p = id ? providers_find(reg, id) : NULL;
    if (!c->p || !c->p->order) {
        const struct provider_def *none = NULL;
        c->p = none;
        finish(c, NULL, "NO_BROKER", id ? "The connected broker has no order description in providers.lua; nothing was sent."
                                         : "No broker is connected (live_stack.execution.primary); nothing was sent.");
        return 0;
    }
    c->doc = json_array_get(json_object_get(reg->doc, "providers"), c->p->index - 1);
    const char *side = json_string_value(json_object_get(json_object_get(c->p->order, "side_values"), c->side));
    c->vars = json_pack("{s:s, s:s, s:I}", "symbol", c->symbol, "side", side ? side : c->side, "qty", (json_int_t)c->qty);
    run_step(c);
    return 0;
}
