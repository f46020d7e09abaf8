/* marketdata.c — bars from the primary, then each connected backup, until one answers with bars. */
#include "clock.h"
#include "marketdata.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bars.h"
#include "fetch.h"
#include "policy.h"
#include "probe.h"
#include "providers.h"
#include "secret.h"
#include "status.h"
#include "telemetry.h"

#define MAX_BARS 2000

struct md_call {
    struct marketdata_request req;
    char symbol[32], timeframe[8], bot_id[37], run_id[37], job_id[37], trace_id[33], user_id[37];
    struct policy_gen *gen;
    json_t *candidates;                /* provider ids still to try */
    size_t next;
    const struct provider_def *p;
    struct probe_request pr;
    json_t *vars, *attempts;
    struct bar_series bars;
    marketdata_cb cb;
    void *arg;
};

static void try_next(struct md_call *c);

static void copy_opt(char *dst, size_t len, const char *src)
{
    snprintf(dst, len, "%s", src ? src : "");
}

/* The live stack's primary and connected backups, in priority order. */
static json_t *candidates_from_status(void)
{
    const json_t *md = json_object_get(json_object_get(status_decision(), "live_stack"), "marketData");
    json_t *out = json_array(), *entry;
    const json_t *primary = json_object_get(md, "primary");
    size_t i;
    if (json_is_object(primary)) json_array_append(out, json_object_get(primary, "providerId"));
    json_array_foreach(json_object_get(md, "backups"), i, entry) if (json_is_true(json_object_get(entry, "connected")))
        json_array_append(out, json_object_get(entry, "providerId"));
    return out;
}

static json_t *template_vars(const struct md_call *c)
{
    time_t end = c->req.end ? c->req.end : clock_wall_s();
    time_t start = end - (time_t)c->req.lookback_minutes * 60;
    char s[32], e[32];
    const char *dataset = secret_value("DATABENTO_DATASET");
    clock_rfc3339(start, s);
    clock_rfc3339(end, e);
    return json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:s}", "symbol", c->symbol, "timeframe", c->timeframe, "start_iso", s,
                     "end_iso", e, "from_ms", (json_int_t)start * 1000, "to_ms", (json_int_t)end * 1000, "dataset",
                     dataset ? dataset : "GLBX.MDP3");
}

static const char *outcome_of(const struct fetch_response *r, enum bars_status bs)
{
    if (r->status == FETCH_ETIMEOUT) return "TIMEOUT";
    if (r->status != FETCH_OK && r->status != FETCH_ETOOBIG) return "NETWORK_ERROR";
    if (r->http_status == 401) return "AUTH_FAILED";
    if (r->http_status == 402 || r->http_status == 403) return "NOT_ENTITLED";
    if (r->http_status == 429) return "RATE_LIMITED";
    if (r->http_status != 200 || bs == BARS_EMALFORMED || bs == BARS_EPROVIDER || bs == BARS_ENOMEM) return "PROVIDER_ERROR";
    return bs == BARS_EMPTY ? "NO_DATA" : "OK";
}

static enum bars_status parse(const char *format, const char *body, size_t len, struct bar_series *out)
{
    size_t skipped = 0;
    if (strcmp(format, "databento_json") == 0) return bars_parse_databento_json(body, len, out, MAX_BARS, &skipped);
    if (strcmp(format, "polygon_aggs") == 0) return bars_parse_polygon_aggs(body, len, out, MAX_BARS, &skipped);
    if (strcmp(format, "finnhub_candles") == 0) return bars_parse_finnhub_candles(body, len, out, MAX_BARS, &skipped);
    return bars_parse_alphavantage_intraday(body, len, out, MAX_BARS, &skipped);
}

static void record_attempt(struct md_call *c, const char *outcome, int latency, int records)
{
    json_t *meta = json_pack("{s:s, s:I, s:b}", "format", json_string_value(json_object_get(c->p->bars, "format")),
                             "attempt", (json_int_t)c->next, "failover", c->next > 1);
    struct usage_event ev = {.provider_id = c->p->id, .operation = "marketdata.bars",
                             .status = strcmp(outcome, "OK") == 0 ? "OK" : "ERROR",
                             .bot_id = c->bot_id[0] ? c->bot_id : NULL, .run_id = c->run_id[0] ? c->run_id : NULL,
                             .job_id = c->job_id[0] ? c->job_id : NULL, .user_id = c->user_id[0] ? c->user_id : NULL,
                             .latency_ms = latency, .symbol = c->symbol,
                             .timeframe = c->timeframe, .records = records,
                             .error_code = strcmp(outcome, "OK") == 0 ? NULL : outcome, .trace_id = c->trace_id,
                             .metadata = meta};
    telemetry_usage(&ev);
    json_decref(meta);
    json_array_append_new(c->attempts, json_pack("{s:s, s:s, s:i, s:i}", "provider", c->p->id, "outcome", outcome,
                                                 "latency_ms", latency, "records", records));
}

static void finish(struct md_call *c, int ok, const char *error_code)
{
    struct marketdata_result r = {ok, c->p ? c->p->id : NULL, &c->bars, error_code, c->attempts};
    c->cb(&r, c->arg);
    probe_request_free(&c->pr);
    bars_free(&c->bars);
    json_decref(c->candidates);
    json_decref(c->vars);
    json_decref(c->attempts);
    policy_release(c->gen);
    free(c);
}

static void on_bars(const struct fetch_response *resp, void *arg)
{
    struct md_call *c = arg;
    enum bars_status bs = BARS_EMALFORMED;
    if (resp->status == FETCH_OK && resp->http_status == 200) {
        bars_free(&c->bars);
        memset(&c->bars, 0, sizeof c->bars);
        bs = parse(json_string_value(json_object_get(c->p->bars, "format")), resp->body, resp->body_len, &c->bars);
    }
    const char *outcome = outcome_of(resp, bs);
    record_attempt(c, outcome, (int)resp->total_ms, strcmp(outcome, "OK") == 0 ? (int)c->bars.n : 0);
    probe_request_free(&c->pr);
    if (strcmp(outcome, "OK") == 0) {
        finish(c, 1, NULL);
        return;
    }
    try_next(c);
}

static void try_next(struct md_call *c)
{
    const struct provider_registry *reg = policy_providers(c->gen);
    char err[256];
    while (c->next < json_array_size(c->candidates)) {
        c->p = providers_find(reg, json_string_value(json_array_get(c->candidates, c->next++)));
        if (!c->p || !c->p->bars) continue;
        const json_t *doc = json_array_get(json_object_get(reg->doc, "providers"), c->p->index - 1);
        if (probe_build_with(c->p, doc, c->p->bars, c->vars, NULL, NULL, &c->pr, err, sizeof err) < 0) {
            record_attempt(c, "AUTH_FAILED", 0, 0);
            continue;
        }
        const json_t *rl = c->p->rate_limit;
        json_int_t tmo = json_integer_value(json_object_get(c->p->bars, "timeout_ms"));
        struct fetch_request fr = {.method = c->pr.method, .url = c->pr.url,
                                   .headers = (const char *const *)c->pr.headers, .body = c->pr.body,
                                   .body_len = c->pr.body_len, .userpwd = c->pr.userpwd,
                                   .timeout_ms = tmo > 0 ? (int)tmo : 5000, .max_response_bytes = 8u << 20,
                                   .limit_key = c->p->id,
                                   .rate_per_s = json_number_value(json_object_get(rl, "requests_per_s")),
                                   .burst = (int)json_integer_value(json_object_get(rl, "burst")),
                                   .max_concurrency = (int)json_integer_value(json_object_get(rl, "max_concurrency"))};
        if (fr.burst < 1) fr.burst = 1;
        if (fetch_start(&fr, on_bars, c) > 0) return;
        record_attempt(c, "NETWORK_ERROR", 0, 0);
        probe_request_free(&c->pr);
    }
    finish(c, 0, json_array_size(c->attempts) ? json_string_value(json_object_get(json_array_get(c->attempts, json_array_size(c->attempts) - 1), "outcome")) : "DATA_UNAVAILABLE");
}

int marketdata_fetch(const struct marketdata_request *req, marketdata_cb cb, void *arg)
{
    return marketdata_fetch_for(req, NULL, cb, arg);
}

int marketdata_fetch_for(const struct marketdata_request *req, const char *user_id, marketdata_cb cb, void *arg)
{
    struct md_call *c;
    if (!req || !req->symbol || !req->timeframe || !req->trace_id || req->lookback_minutes <= 0 || !cb) return -1;
    c = calloc(1, sizeof *c);
    c->req = *req;
    copy_opt(c->symbol, sizeof c->symbol, req->symbol);
    copy_opt(c->timeframe, sizeof c->timeframe, req->timeframe);
    copy_opt(c->bot_id, sizeof c->bot_id, req->bot_id);
    copy_opt(c->run_id, sizeof c->run_id, req->run_id);
    copy_opt(c->job_id, sizeof c->job_id, req->job_id);
    copy_opt(c->user_id, sizeof c->user_id, user_id);
    copy_opt(c->trace_id, sizeof c->trace_id, req->trace_id);
    c->gen = policy_retain(policy_current());
    c->candidates = candidates_from_status();
    c->vars = template_vars(c);
    c->attempts = json_array();
    c->cb = cb;
    c->arg = arg;
    if (json_array_size(c->candidates) == 0) {
        /* no connected market-data provider: nothing to call, the caller records the suppression */
        struct marketdata_result r = {0, NULL, &c->bars, "DATA_UNAVAILABLE", c->attempts};
        cb(&r, arg);
        json_decref(c->candidates);
        json_decref(c->vars);
        json_decref(c->attempts);
        policy_release(c->gen);
        free(c);
        return 0;
    }
    try_next(c);
    return 0;
}
