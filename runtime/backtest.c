/* backtest.c — BACKTEST jobs: fetch the window in chunks, replay bar by bar in event-loop slices. */
#include "clock.h"
#include "backtest.h"

#include <event2/event.h>
#include <libpq-fe.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bar_store.h"
#include "bars.h"
#include "db.h"
#include "config.h"
#include "instruments.h"
#include "jobs.h"
#include "log.h"
#include "marketdata.h"
#include "pnl.h"
#include "policy.h"
#include "status.h"

#define DB_TIMEOUT_MS 3000
#define FEATURE_BARS 300
#define CHUNK_BARS 1500 /* below marketdata's 2000-bar cap per call */
#define FUTURE_SLACK_S 5

struct backtest {
    char bot_id[37], job_id[37], trace_id[33], module[160], user_id[37];
    int registered,
        cancelled; /* in the jobs registry; the sweep ended the job (callbacks free, nothing more) */
    json_t *bot, *params;
    struct event_base *base;
    struct event *timer;
    struct policy_gen *gen;
    json_t
        *md_candidates; /* market-data provider ids, taken once at the first chunk (every chunk uses them) */
    time_t start, end, cursor;
    long tf_s;
    struct bar_series series;
    char provider[64];
    int chunks;
    json_t *jbars, *prev_features, *trades, *open_trade, *blocked;
    size_t i;
    double tick_size, slip;
    double qty, avg, realized, realized_today, peak, max_dd;
    long day;
    int has_pending;
    double pending_q;
    long long order_t[64];
    int n_orders, n_fills;
    double gross_profit, gross_loss; /* points x contracts of the closing fills that won / lost (>= 0) */
    struct pnl_point *equity;        /* cumulative realized points at each fill, full resolution */
    size_t n_equity, cap_equity;
};

static int active; /* backtests from the request to their end; at most cfg.max_backtests */

int backtest_active(void)
{
    return active;
}

static double num(const json_t *o, const char *key, double def)
{
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : json_is_string(v) ? atof(json_string_value(v)) : def;
}

static const char *bot_str(const struct backtest *b, const char *key)
{
    return json_string_value(json_object_get(b->bot, key));
}

static void bt_free(struct backtest *b)
{
    if (b->registered) jobs_unregister(b->job_id);
    if (b->timer) event_free(b->timer);
    bars_free(&b->series);
    json_decref(b->bot);
    json_decref(b->jbars);
    json_decref(b->prev_features);
    json_decref(b->trades);
    json_decref(b->open_trade);
    json_decref(b->blocked);
    json_decref(b->md_candidates);
    free(b->equity);
    policy_release(b->gen);
    free(b);
    active--;
}

/* jobs.c ended the job (deadline: state TIMEOUT; or another instance ended its row: state NULL). The row is
 * written already; the work stops: freed now when only the replay timer is pending, else by the pending
 * callback (bars fetch or query), which checks cancelled first. */
static void bt_cancel(void *arg, const char *state, const char *code)
{
    struct backtest *b = arg;
    LOG_WARN(b->trace_id, "backtest stopped", "job=%s bot=%s state=%s code=%s", b->job_id, b->bot_id,
             state ? state : "ended elsewhere", code ? code : "-");
    b->registered = 0; /* jobs.c has forgotten it */
    b->cancelled = 1;
    if (b->timer && evtimer_pending(b->timer, NULL)) bt_free(b);
}

/* ---- job transitions ---- */

#define TRANSITION_SQL                                                                                       \
    "WITH j AS (UPDATE jobs SET state = $2, result = COALESCE($3::jsonb, result), error_code = $4, "         \
    "  started_at = CASE WHEN $2 = 'RUNNING' THEN gh_now() ELSE started_at END, "                            \
    "  finished_at = CASE WHEN $2 IN ('SUCCEEDED', 'FAILED') THEN gh_now() ELSE finished_at END "            \
    "  WHERE id = $1::uuid AND state = $5 RETURNING id) "                                                    \
    "INSERT INTO job_run_events (job_id, from_state, to_state, reason_code, trace_id, metadata) "            \
    "SELECT id, $5, $2, $4, $6, $7::jsonb FROM j RETURNING id"

static void on_finished(struct pg_result *res, const char *err, void *arg)
{
    struct backtest *b = arg;
    if (!res || PQntuples(res) != 1)
        LOG_ERROR(b->trace_id, "backtest job update failed", "job=%s error=\"%s\"", b->job_id,
                  err ? err : "no row");
    bt_free(b);
}

/* Ends the job (state SUCCEEDED or FAILED); frees b once written. result is stolen (may be NULL). */
static void finish(struct backtest *b, const char *state, json_t *result, const char *error_code,
                   const char *reason)
{
    char *res_text = result ? json_dumps(result, JSON_COMPACT) : NULL;
    json_t *meta = json_pack("{s:s, s:I, s:i}", "reason_human", reason ? reason : "", "bars",
                             (json_int_t)b->series.n, "chunks", b->chunks);
    if (b->provider[0]) json_object_set_new(meta, "provider", json_string(b->provider));
    char *meta_text = json_dumps(meta, JSON_COMPACT);
    const char *p[7] = {b->job_id, state, res_text, error_code, "RUNNING", b->trace_id, meta_text};
    LOG_INFO(b->trace_id, "backtest done", "job=%s bot=%s state=%s error=%s bars=%zu", b->job_id, b->bot_id,
             state, error_code ? error_code : "-", b->series.n);
    int rc = db_query(TRANSITION_SQL, 7, p, DB_TIMEOUT_MS, on_finished, b);
    free(res_text);
    free(meta_text);
    json_decref(meta);
    json_decref(result);
    if (rc < 0) {
        LOG_ERROR(b->trace_id, "backtest job update not queued", "job=%s", b->job_id);
        bt_free(b);
    }
}

/* ---- simulation ---- */

static json_t *new_trade(long long t, double q, double price)
{
    return json_pack("{s:I, s:s, s:f, s:f, s:f}", "entry_t", (json_int_t)t, "side", q > 0 ? "BUY" : "SELL",
                     "qty", fabs(q), "entry_price", price, "pnl", 0.0);
}

/* Appends (t, equity points) to the full-resolution equity series; a point that cannot be stored is dropped
 * (out of memory: the statistics then miss it, nothing else). */
static void add_equity_point(struct backtest *b, double t, double equity)
{
    if (b->n_equity == b->cap_equity) {
        size_t cap = b->cap_equity ? b->cap_equity * 2 : 64;
        struct pnl_point *e = realloc(b->equity, cap * sizeof *e);
        if (!e) return;
        b->equity = e;
        b->cap_equity = cap;
    }
    b->equity[b->n_equity++] = (struct pnl_point){t, equity};
}

/* Fills signed q at price at bar time t: position, realized PnL and round-trip trades. */
static void fill(struct backtest *b, long long t, double q, double price)
{
    double old = b->qty, before = b->realized;
    if (old == 0 || (old > 0) == (q > 0)) {
        b->avg = (b->avg * fabs(old) + price * fabs(q)) / (fabs(old) + fabs(q));
        b->qty = old + q;
        if (!b->open_trade)
            b->open_trade = new_trade(t, q, price);
        else {
            json_object_set_new(b->open_trade, "qty", json_real(fabs(b->qty)));
            json_object_set_new(b->open_trade, "entry_price", json_real(b->avg));
        }
    } else {
        double closing = fmin(fabs(old), fabs(q));
        b->realized += closing * (price - b->avg) * (old > 0 ? 1 : -1);
        b->qty = old + q;
        if (fabs(b->qty) < 1e-12) b->qty = 0;
        int flipped = b->qty != 0 && (b->qty > 0) != (old > 0);
        if (b->qty == 0)
            b->avg = 0;
        else if (flipped)
            b->avg = price;
        double pnl = num(b->open_trade, "pnl", 0) + (b->realized - before);
        json_object_set_new(b->open_trade, "pnl", json_real(pnl));
        if (b->qty == 0 || flipped) {
            json_object_set_new(b->open_trade, "exit_t", json_integer((json_int_t)t));
            json_object_set_new(b->open_trade, "exit_price", json_real(price));
            json_array_append_new(b->trades, b->open_trade);
            b->open_trade = flipped ? new_trade(t, b->qty, price) : NULL;
        }
    }
    b->realized_today += b->realized - before;
    b->n_fills++;
    if (b->realized > before) b->gross_profit += b->realized - before;
    if (b->realized < before) b->gross_loss += before - b->realized;
    add_equity_point(b, (double)t, b->realized);
}

static json_t *call(struct backtest *b, const char *module, const char *fn, const json_t *a, const json_t *c,
                    char *err, size_t errlen)
{
    const json_t *args[2] = {a, c};
    return policy_call_first(b->gen, module, fn, args, c ? 2 : 1, err, errlen);
}

/* The contract multiplier of the bot's symbol (scripts/instruments.lua multiplier_of): > 0, or 0 with reason
 * filled when it is unknown. */
static double multiplier_of(struct backtest *b, char *reason, size_t reasonlen)
{
    return instruments_multiplier(b->gen, bot_str(b, "symbol"), reason, reasonlen);
}

/* The equity series of /pnl's definition: {start, 0}, cumulative realized − fees at each fill, {end, realized
 * + unrealized}; times RFC 3339, equity x scale (the multiplier, or 1 for points); at most PNL_MAX_POINTS
 * points. *max_dd is the series' max drawdown at full resolution, in the same unit. */
static json_t *equity_json(struct backtest *b, double unrealized, double scale, double *max_dd)
{
    size_t n = b->n_equity + 2, k;
    struct pnl_point *all = malloc(n * sizeof *all), *few = malloc(PNL_MAX_POINTS * sizeof *few);
    json_t *out = json_array();
    *max_dd = 0;
    if (!all || !few) {
        free(all);
        free(few);
        return out;
    }
    all[0] = (struct pnl_point){(double)b->start, 0};
    for (size_t i = 0; i < b->n_equity; i++)
        all[i + 1] = (struct pnl_point){b->equity[i].t, b->equity[i].equity * scale};
    all[n - 1] = (struct pnl_point){(double)b->end, (b->realized + unrealized) * scale};
    *max_dd = pnl_max_drawdown(all, n);
    k = pnl_bucket(all, n, few, PNL_MAX_POINTS);
    for (size_t i = 0; i < k; i++) {
        char iso[32];
        clock_rfc3339((time_t)few[i].t, iso);
        json_array_append_new(out, json_pack("{s:s, s:f}", "t", iso, "equity", few[i].equity));
    }
    free(all);
    free(few);
    return out;
}

static json_t *result_json(struct backtest *b)
{
    size_t i, wins = 0, n = json_array_size(b->trades);
    json_t *tr;
    char reason[256] = "";
    json_array_foreach(b->trades, i, tr) if (num(tr, "pnl", 0) > 0) wins++;
    double last_close = b->series.n ? b->series.bars[b->series.n - 1].c : 0;
    double unrealized = b->qty * (last_close - b->avg), pf, dd;
    double mult = multiplier_of(b, reason, sizeof reason);
    json_t *equity = equity_json(b, unrealized, mult > 0 ? mult : 1, &dd);
    json_t *out = json_pack(
        "{s:O, s:I, s:f, s:f, s:f, s:I, s:s, s:i, s:i, s:O, s:{s:f, s:f, s:f}, s:f, s:f}", "trades",
        b->trades, "trade_count", (json_int_t)n, "pnl", b->realized, "max_drawdown", b->max_dd, "win_rate",
        n ? (double)wins / (double)n : 0.0, "bars", (json_int_t)b->series.n, "provider", b->provider,
        "orders", b->n_orders, "fills", b->n_fills, "blocked", b->blocked, "open_position", "qty", b->qty,
        "avg_price", b->avg, "unrealized", unrealized, "slippage_ticks", b->slip, "tick_size", b->tick_size);
    /* the /pnl statistics (fees are not modelled in a replay: 0) */
    json_object_set_new(out, "profit_factor",
                        pnl_profit_factor(b->gross_profit, b->gross_loss, &pf) == 0 ? json_real(pf)
                                                                                    : json_null());
    json_object_set_new(out, "fees", json_real(0));
    json_object_set_new(out, "multiplier", mult > 0 ? json_real(mult) : json_null());
    json_object_set_new(out, "pnl_usd", mult > 0 ? json_real(b->realized * mult) : json_null());
    json_object_set_new(out, "max_drawdown_usd", mult > 0 ? json_real(dd) : json_null());
    json_object_set_new(out, "equity", equity);
    json_object_set_new(out, "equity_unit", json_string(mult > 0 ? "USD" : "points"));
    if (mult <= 0) json_object_set_new(out, "unknown_reason", json_string(reason));
    return out;
}

/* One bar: fill the pending order at its open, then features, decide, session + risk. 0, or -1 after finish.
 */
static int step(struct backtest *b)
{
    char err[1024] = "";
    size_t i = b->i, n = json_array_size(b->jbars);
    json_t *bar = json_array_get(b->jbars, i);
    long long t = (long long)num(bar, "t", 0);
    double close = num(bar, "c", 0);
    if (b->has_pending) {
        double price = num(bar, "o", 0) + (b->pending_q > 0 ? 1 : -1) * b->slip * b->tick_size;
        fill(b, t, b->pending_q, price);
        b->has_pending = 0;
    }
    long day = (long)(t / 86400);
    if (day != b->day) {
        b->day = day;
        b->realized_today = 0;
    }
    json_t *window = json_array();
    for (size_t k = i + 1 > FEATURE_BARS ? i + 1 - FEATURE_BARS : 0; k <= i; k++)
        json_array_append(window, json_array_get(b->jbars, k));
    json_t *features = call(b, "scripts/features.lua", "compute", window, b->params, err, sizeof err);
    json_decref(window);
    if (!json_is_object(features)) {
        json_decref(features);
        LOG_ERROR(b->trace_id, "backtest features failed", "job=%s error=\"%s\"", b->job_id, err);
        finish(b, "FAILED", NULL, "POLICY_ERROR", "scripts/features.lua failed during the replay.");
        return -1;
    }
    json_t *ctx = json_pack("{s:O, s:O, s:{s:f, s:f}, s:O}", "features", features, "prev_features",
                            b->prev_features ? b->prev_features : json_null(), "position", "qty", b->qty,
                            "avg_price", b->avg, "params", b->params);
    json_t *decision = call(b, b->module, "decide", ctx, NULL, err, sizeof err);
    json_decref(ctx);
    json_decref(b->prev_features);
    b->prev_features = features;
    const char *action = json_string_value(json_object_get(decision, "action"));
    if (!json_is_object(decision) || !action) {
        json_decref(decision);
        LOG_ERROR(b->trace_id, "backtest decide failed", "job=%s error=\"%s\"", b->job_id, err);
        finish(b, "FAILED", NULL, "POLICY_ERROR",
               "The strategy failed or returned no action during the replay.");
        return -1;
    }
    if (strcmp(action, "HOLD") != 0 &&
        i + 1 < n) { /* an order on the last bar could never fill: not placed */
        const char *side = json_string_value(json_object_get(decision, "side"));
        double q = num(decision, "qty", 1), unreal = b->qty * (close - b->avg), equity = b->realized + unreal;
        int recent = 0;
        for (int k = 0; k < b->n_orders && k < 64; k++)
            if (b->order_t[k] > t - 60) recent++;
        json_t *ts = json_integer((json_int_t)t), *sym = json_string(bot_str(b, "symbol"));
        json_t *market = call(b, "scripts/market_hours.lua", "session", ts, sym, err, sizeof err);
        json_decref(ts);
        json_decref(sym);
        json_t *rctx = json_pack(
            "{s:{s:s, s:f}, s:{s:f, s:f}, s:{s:f, s:f, s:f, s:f}, s:i, s:O, s:O, s:s}", "order", "side",
            side ? side : "BUY", "qty", q, "position", "qty", b->qty, "avg_price", b->avg, "pnl",
            "realized_today", b->realized_today, "unrealized", unreal, "equity_peak", fmax(b->peak, equity),
            "equity", equity, "orders_last_minute", recent, "market", market ? market : json_null(), "limits",
            json_object_get(b->params, "risk") ? json_object_get(b->params, "risk") : json_null(), "stage",
            bot_str(b, "stage"));
        json_t *risk = call(b, "scripts/risk.lua", "check", rctx, NULL, err, sizeof err);
        json_decref(rctx);
        json_decref(market);
        if (!json_is_object(risk)) {
            json_decref(risk);
            json_decref(decision);
            LOG_ERROR(b->trace_id, "backtest risk failed", "job=%s error=\"%s\"", b->job_id, err);
            finish(b, "FAILED", NULL, "POLICY_ERROR", "scripts/risk.lua failed during the replay.");
            return -1;
        }
        if (json_is_true(json_object_get(risk, "allowed"))) {
            b->has_pending = 1;
            b->pending_q = (side && strcmp(side, "SELL") == 0) ? -q : q;
            b->order_t[b->n_orders % 64] = t;
            b->n_orders++;
        } else {
            const char *code = json_string_value(json_object_get(risk, "reason_code"));
            if (!code) code = "RISK_LIMIT";
            json_object_set_new(b->blocked, code,
                                json_integer(json_integer_value(json_object_get(b->blocked, code)) + 1));
        }
        json_decref(risk);
    }
    json_decref(decision);
    double equity = b->realized + b->qty * (close - b->avg);
    if (equity > b->peak) b->peak = equity;
    if (b->peak - equity > b->max_dd) b->max_dd = b->peak - equity;
    b->i++;
    return 0;
}

static void on_slice(evutil_socket_t fd, short what, void *arg)
{
    struct backtest *b = arg;
    (void)fd;
    (void)what;
    size_t n = json_array_size(b->jbars);
    for (int k = 0; k < BACKTEST_SLICE && b->i < n; k++)
        if (step(b) < 0) return;
    if (b->i < n) {
        struct timeval zero = {0, 0};
        evtimer_add(b->timer, &zero);
        return;
    }
    finish(b, "SUCCEEDED", result_json(b), NULL, NULL);
}

static void replay(struct backtest *b)
{
    if (b->series.n == 0) {
        finish(b, "FAILED", NULL, "DATA_UNAVAILABLE",
               "The market-data providers served no bars for this window.");
        return;
    }
    snprintf(b->module, sizeof b->module, "scripts/strategies/%s.lua", bot_str(b, "strategy"));
    b->jbars = bars_to_json(&b->series, 0);
    b->timer = evtimer_new(b->base, on_slice, b);
    if (!b->jbars || !b->timer) {
        finish(b, "FAILED", NULL, "INTERNAL", "Out of memory preparing the replay.");
        return;
    }
    struct timeval zero = {0, 0};
    evtimer_add(b->timer, &zero);
}

/* ---- bars, chunk by chunk ---- */

static void fetch_next(struct backtest *b);

static int all_no_data(const json_t *attempts)
{
    size_t i;
    json_t *a;
    if (json_array_size(attempts) == 0) return 0;
    json_array_foreach(attempts, i,
                       a) if (strcmp(json_string_value(json_object_get(a, "outcome")), "NO_DATA")) return 0;
    return 1;
}

static void on_chunk(const struct marketdata_result *r, void *arg)
{
    struct backtest *b = arg;
    if (b->cancelled) {
        bt_free(b);
        return;
    }
    if (r->provider_id && !b->provider[0] && r->ok)
        snprintf(b->provider, sizeof b->provider, "%s", r->provider_id);
    if (!r->ok && !all_no_data(r->attempts)) {
        char reason[256];
        snprintf(reason, sizeof reason,
                 "No market-data provider served bars for the window (last outcome %s).",
                 r->error_code ? r->error_code : "DATA_UNAVAILABLE");
        finish(b, "FAILED", NULL, "DATA_UNAVAILABLE", reason);
        return;
    }
    if (r->ok && r->bars) {
        size_t first = b->series.n;
        long long lo = (long long)b->start * 1000, hi = (long long)b->end * 1000;
        for (size_t k = 0; k < r->bars->n; k++) {
            const struct bar *x = &r->bars->bars[k];
            if (x->t_ms < lo || x->t_ms >= hi) continue;
            if (b->series.n && x->t_ms <= b->series.bars[b->series.n - 1].t_ms) continue;
            if (b->series.n == b->series.cap) {
                size_t cap = b->series.cap ? b->series.cap * 2 : 1024;
                struct bar *nb = realloc(b->series.bars, cap * sizeof *nb);
                if (!nb) {
                    finish(b, "FAILED", NULL, "INTERNAL", "Out of memory collecting bars.");
                    return;
                }
                b->series.bars = nb;
                b->series.cap = cap;
            }
            b->series.bars[b->series.n++] = *x;
        }
        /* the bars this chunk adds to the replay, kept for the chart */
        bar_store_write(bot_str(b, "symbol"), bot_str(b, "timeframe"), b->series.bars + first,
                        b->series.n - first, r->provider_id, b->trace_id);
    }
    fetch_next(b);
}

static void fetch_next(struct backtest *b)
{
    if (b->cursor >= b->end) {
        replay(b);
        return;
    }
    time_t chunk_end = b->cursor + (time_t)CHUNK_BARS * b->tf_s;
    if (chunk_end > b->end) chunk_end = b->end;
    int minutes = (int)((chunk_end - b->cursor + 59) / 60);
    if (!b->md_candidates)
        b->md_candidates = status_candidates(status_decision(), "market_data"); /* once per job */
    struct marketdata_request mr = {bot_str(b, "symbol"),
                                    bot_str(b, "timeframe"),
                                    minutes,
                                    chunk_end,
                                    b->bot_id,
                                    NULL,
                                    b->job_id,
                                    b->trace_id,
                                    b->gen,
                                    b->md_candidates};
    b->cursor = chunk_end;
    b->chunks++;
    if (marketdata_fetch_for(&mr, b->user_id[0] ? b->user_id : NULL, on_chunk, b) < 0)
        finish(b, "FAILED", NULL, "DATA_UNAVAILABLE", "The bar request could not be built.");
}

static long timeframe_seconds(const char *tf)
{
    char *endp;
    long n = tf ? strtol(tf, &endp, 10) : 0;
    if (n <= 0) return 60;
    switch (*endp) {
    case 's':
        return n;
    case 'h':
        return n * 3600;
    case 'd':
        return n * 86400;
    default:
        return n * 60;
    }
}

static void on_running(struct pg_result *res, const char *err, void *arg)
{
    struct backtest *b = arg;
    if (b->cancelled) {
        bt_free(b);
        return;
    }
    if (!res || PQntuples(res) != 1) {
        LOG_ERROR(b->trace_id, "backtest could not start", "job=%s error=\"%s\"", b->job_id,
                  err ? err : "no row");
        bt_free(b);
        return;
    }
    fetch_next(b);
}

/* ---- the exported lifecycle: new, window, run (or discard) ---- */

struct backtest *backtest_new(struct event_base *base, const char *bot_id, const char *trace_id,
                              const char *user_id)
{
    struct backtest *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    active++;
    snprintf(b->bot_id, sizeof b->bot_id, "%s", bot_id);
    snprintf(b->trace_id, sizeof b->trace_id, "%s", trace_id);
    snprintf(b->user_id, sizeof b->user_id, "%s", user_id ? user_id : ""); /* "": service token */
    b->base = base;
    b->gen = policy_retain(policy_current());
    b->trades = json_array();
    b->blocked = json_object();
    b->day = -1;
    return b;
}

int backtest_set_window(struct backtest *b, json_t *bot, double start, double end, double now,
                        const char **field, const char **why)
{
    *field = *why = NULL;
    if (end <= start)
        *field = "end", *why = "end must be after start.";
    else if (end - start > BACKTEST_MAX_DAYS * 86400.0)
        *field = "end", *why = "A backtest window is at most 7 days.";
    else if (end > now + FUTURE_SLACK_S)
        *field = "end", *why = "end must not be in the future.";
    if (*field) {
        json_decref(bot);
        return -1;
    }
    b->bot = bot;
    b->params = json_object_get(b->bot, "params");
    if (!json_is_object(b->params))
        json_object_set_new(b->bot, "params", json_object()), b->params = json_object_get(b->bot, "params");
    b->start = (time_t)ceil(start);
    b->end = (time_t)floor(end);
    b->cursor = b->start;
    b->tf_s = timeframe_seconds(bot_str(b, "timeframe"));
    b->tick_size = num(b->params, "tick_size", 0.25);
    b->slip = num(b->params, "slippage_ticks", 1);
    return 0;
}

json_t *backtest_job_params(const struct backtest *b)
{
    char s_iso[32], e_iso[32];
    clock_rfc3339((time_t)b->start, s_iso);
    clock_rfc3339((time_t)b->end, e_iso);
    return json_pack("{s:s, s:s, s:O, s:O, s:O, s:f, s:f}", "start", s_iso, "end", e_iso, "symbol",
                     json_object_get(b->bot, "symbol"), "timeframe", json_object_get(b->bot, "timeframe"),
                     "strategy", json_object_get(b->bot, "strategy"), "slippage_ticks", b->slip, "tick_size",
                     b->tick_size);
}

void backtest_run(struct backtest *b, const char *job_id)
{
    snprintf(b->job_id, sizeof b->job_id, "%s", job_id);
    if (jobs_register(b->job_id, bt_cancel, b) == 0) b->registered = 1;
    const char *p[7] = {b->job_id, "RUNNING", NULL, NULL, "QUEUED", b->trace_id, "{}"};
    if (db_query(TRANSITION_SQL, 7, p, DB_TIMEOUT_MS, on_running, b) < 0) {
        LOG_ERROR(b->trace_id, "backtest start not queued", "job=%s", b->job_id);
        bt_free(b);
    }
}

void backtest_discard(struct backtest *b)
{
    bt_free(b);
}
