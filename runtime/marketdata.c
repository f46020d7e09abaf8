/* marketdata.c — the bars adapter of the provider-call engine: template vars in, bars out. */
#include "clock.h"
#include "marketdata.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bars.h"
#include "fetch.h"
#include "provider_call.h"
#include "providers.h"

#define MAX_BARS 2000
#define MAX_BARS_BYTES (8u << 20)

struct md_call {
    struct bar_series bars; /* the answer of the attempt that parsed OK */
    marketdata_cb cb;
    void *arg;
};

/* The window and the symbol as template vars; provider defaults (Databento's dataset) come from
 * providers.lua. */
static json_t *template_vars(const struct marketdata_request *req)
{
    time_t end = req->end ? req->end : clock_wall_s();
    time_t start = end - (time_t)req->lookback_minutes * 60;
    char s[32], e[32];
    clock_rfc3339(start, s);
    clock_rfc3339(end, e);
    return json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "symbol", req->symbol, "timeframe", req->timeframe,
                     "start_iso", s, "end_iso", e, "from_ms", (json_int_t)start * 1000, "to_ms",
                     (json_int_t)end * 1000);
}

static enum bars_status parse(const char *format, const char *body, size_t len, struct bar_series *out)
{
    size_t skipped = 0;
    if (strcmp(format, "databento_json") == 0)
        return bars_parse_databento_json(body, len, out, MAX_BARS, &skipped);
    if (strcmp(format, "polygon_aggs") == 0)
        return bars_parse_polygon_aggs(body, len, out, MAX_BARS, &skipped);
    if (strcmp(format, "finnhub_candles") == 0)
        return bars_parse_finnhub_candles(body, len, out, MAX_BARS, &skipped);
    return bars_parse_alphavantage_intraday(body, len, out, MAX_BARS, &skipped);
}

/* An HTTP 200 answer is only OK once it parses into bars: NO_DATA when empty, PROVIDER_ERROR when malformed.
 */
static void judge(const struct provider_answer *a, struct provider_verdict *v, void *arg)
{
    struct md_call *c = arg;
    const char *format = json_string_value(json_object_get(a->p->bars, "format"));
    v->records = 0;
    v->meta = json_pack("{s:s}", "format", format);
    if (strcmp(v->outcome, "OK") != 0) return;
    if (a->resp->status != FETCH_OK || a->resp->http_status != 200) {
        v->outcome = "PROVIDER_ERROR";
        return;
    }
    bars_free(&c->bars);
    memset(&c->bars, 0, sizeof c->bars);
    enum bars_status bs = parse(format, a->resp->body, a->resp->body_len, &c->bars);
    if (bs == BARS_EMALFORMED || bs == BARS_EPROVIDER || bs == BARS_ENOMEM)
        v->outcome = "PROVIDER_ERROR";
    else if (bs == BARS_EMPTY)
        v->outcome = "NO_DATA";
    else
        v->records = (int)c->bars.n;
}

static void on_done(const struct provider_call_result *r, void *arg)
{
    struct md_call *c = arg;
    struct marketdata_result out = {r->ok, r->p ? r->p->id : NULL, &c->bars,
                                    r->ok        ? NULL
                                    : r->outcome ? r->outcome
                                                 : "DATA_UNAVAILABLE",
                                    r->attempts};
    c->cb(&out, c->arg);
    bars_free(&c->bars);
    free(c);
}

int marketdata_fetch(const struct marketdata_request *req, marketdata_cb cb, void *arg)
{
    return marketdata_fetch_for(req, NULL, cb, arg);
}

int marketdata_fetch_for(const struct marketdata_request *req, const char *user_id, marketdata_cb cb,
                         void *arg)
{
    if (!req || !req->symbol || !req->timeframe || !req->trace_id || req->lookback_minutes <= 0 ||
        !req->gen || !cb)
        return -1;
    struct md_call *c = calloc(1, sizeof *c);
    if (!c) return -1;
    c->cb = cb;
    c->arg = arg;
    json_t *vars = template_vars(req);
    struct provider_call pc = {.gen = req->gen,
                               .candidates = req->candidates,
                               .op = "bars",
                               .vars = vars,
                               .operation = "marketdata.bars",
                               .trace_id = req->trace_id,
                               .bot_id = req->bot_id,
                               .run_id = req->run_id,
                               .job_id = req->job_id,
                               .user_id = user_id,
                               .symbol = req->symbol,
                               .timeframe = req->timeframe,
                               .failover = 1,
                               .max_response_bytes = MAX_BARS_BYTES,
                               .judge = judge,
                               .hook_arg = c};
    int rc = provider_call_start(&pc, on_done, c);
    json_decref(vars);
    if (rc < 0) free(c);
    return rc;
}
