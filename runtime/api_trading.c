/* api_trading.c — positions, orders, fills, P&L and the portfolio (routes in api_trading.h). */
#include "api_trading.h"

#include <jansson.h>
#include <libpq-fe.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "body_cache.h"
#include "clock.h"
#include "db.h"
#include "http.h"
#include "instruments.h"
#include "log.h"
#include "orders.h"
#include "pnl.h"
#include "policy.h"

#define DB_TIMEOUT_MS 5000
#define REASON_LEN 1024

/* ---- multipliers and unknowns ---- */

/* The contract multipliers of the symbols of one answer: value[symbol] is a JSON real, or null with
 * reason[symbol] saying why. */
struct mults {
    json_t *value;
    json_t *reason;
};

static void mults_init(struct mults *m)
{
    m->value = json_object();
    m->reason = json_object();
}

static void mults_free(struct mults *m)
{
    json_decref(m->value);
    json_decref(m->reason);
}

/* Asks the policy generation in force for symbol's multiplier (once per symbol). */
static void mults_add(struct mults *m, const char *symbol)
{
    char reason[600];
    if (!symbol || json_object_get(m->value, symbol)) return;
    double mult = instruments_multiplier(policy_current(), symbol, reason, sizeof reason);
    if (mult > 0) {
        json_object_set_new(m->value, symbol, json_real(mult));
    } else {
        json_object_set_new(m->value, symbol, json_null());
        json_object_set_new(m->reason, symbol, json_string(reason));
    }
}

/* Appends r to buf ("; "-separated) unless buf already says it. */
static void reason_add(char *buf, size_t len, const char *r)
{
    size_t used = strlen(buf);
    if (!r || !r[0] || strstr(buf, r)) return;
    snprintf(buf + used, len - used, "%s%s", used ? "; " : "", r);
}

/* 1 with *out set when symbol's multiplier is known; 0 with the reason appended to why otherwise. */
static int mult_of(const struct mults *m, const char *symbol, double *out, char *why, size_t whylen)
{
    json_t *v = json_object_get(m->value, symbol ? symbol : "");
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return 1;
    }
    reason_add(why, whylen, json_string_value(json_object_get(m->reason, symbol ? symbol : "")));
    return 0;
}

static double num(const json_t *o, const char *key)
{
    return json_number_value(json_object_get(o, key));
}

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

/* A money field: the value when known, else JSON null. */
static json_t *money(int known, double v)
{
    return known ? json_real(v) : json_null();
}

/* One position as the valuation needs it. */
struct pos_view {
    const char *stage, *symbol;
    double qty, avg_price, mark, realized_points, fees;
    int has_mark;
};

/* Unrealized USD of position v: 1 with *out set, or 0 with the reason (no mark, no multiplier) added to why.
 */
static int unrealized_value(const struct pos_view *v, const struct mults *m, double *out, char *why,
                            size_t whylen)
{
    double mult;
    char r[300];
    if (v->qty == 0) {
        *out = 0;
        return 1;
    }
    if (!v->has_mark) {
        snprintf(r, sizeof r, "no mark for %s yet: no tick has priced the open position", v->symbol);
        reason_add(why, whylen, r);
        return 0;
    }
    if (!mult_of(m, v->symbol, &mult, why, whylen)) return 0;
    *out = pnl_unrealized(v->mark, v->avg_price, v->qty, mult);
    return 1;
}

/* unrealized_value of position row p ({symbol, qty, avg_price, mark}). */
static int unrealized_of(const json_t *p, const struct mults *m, double *out, char *why, size_t whylen)
{
    struct pos_view v = {.symbol = str(p, "symbol"),
                         .qty = num(p, "qty"),
                         .avg_price = num(p, "avg_price"),
                         .mark = num(p, "mark"),
                         .has_mark = json_is_number(json_object_get(p, "mark"))};
    return unrealized_value(&v, m, out, why, whylen);
}

static void reply_rows_error(struct http_ctx *ctx, const char *what)
{
    char reason[200];
    snprintf(reason, sizeof reason, "The %s could not be decoded.", what);
    http_reply_error(ctx, 500, "INTERNAL", reason, "Report the trace id.", NULL);
}

/* ---- GET /api/bots/:id/positions ---- */

// clang-format off
#define POSITIONS_SQL                                                                                         \
    "SELECT EXISTS (SELECT 1 FROM bots WHERE id = $1::uuid),"                                                \
    " (SELECT coalesce(json_agg(json_build_object('stage', p.stage, 'symbol', p.symbol, 'qty', p.qty,"         \
    "   'avg_price', p.avg_price, 'mark', p.mark_price, 'marked_at', " API_TS("p.marked_at") ","              \
    "   'realized_points', p.realized_pnl, 'fees', p.fees, 'fill_count', p.fill_count,"                       \
    "   'opened_at', " API_TS("p.opened_at") ", 'last_fill_at', " API_TS("p.last_fill_at") ")"                 \
    "   ORDER BY p.stage, p.symbol), '[]')::text"                                                             \
    "  FROM positions p WHERE p.bot_id = $1::uuid AND (p.qty <> 0 OR p.realized_pnl <> 0))"
// clang-format on

/* Adds multiplier, realized, unrealized (USD) and unknown_reason to position row p. */
static void value_position(json_t *p, const struct mults *m)
{
    char why[REASON_LEN] = "";
    double mult = 0, unrealized = 0;
    int known_mult = mult_of(m, str(p, "symbol"), &mult, why, sizeof why);
    int known_unrealized = unrealized_of(p, m, &unrealized, why, sizeof why);
    json_object_set_new(p, "multiplier", money(known_mult, mult));
    json_object_set_new(p, "realized", money(known_mult, num(p, "realized_points") * mult));
    json_object_set_new(p, "unrealized", money(known_unrealized, unrealized));
    if (why[0]) json_object_set_new(p, "unknown_reason", json_string(why));
}

static void on_positions(struct pg_result *res, const char *err, void *arg)
{
    struct http_ctx *ctx = arg;
    struct mults m;
    size_t i;
    json_t *p, *rows;
    if (!res) {
        api_reply_db_error(ctx, err, "positions");
        return;
    }
    if (PQntuples(res) != 1 || PQgetvalue(res, 0, 0)[0] != 't') {
        api_bot_not_found(ctx);
        return;
    }
    rows = api_decode(PQgetvalue(res, 0, 1));
    if (!json_is_array(rows)) {
        json_decref(rows);
        reply_rows_error(ctx, "positions");
        return;
    }
    mults_init(&m);
    json_array_foreach(rows, i, p) mults_add(&m, str(p, "symbol"));
    json_array_foreach(rows, i, p) value_position(p, &m);
    mults_free(&m);
    http_reply_json(ctx, 200, json_pack("{s:s, s:o}", "bot_id", ctx->params[0], "positions", rows));
}

void api_trading_positions(struct http_ctx *ctx)
{
    if (!api_id_ok(ctx)) return;
    const char *p[1] = {ctx->params[0]};
    if (db_query(POSITIONS_SQL, 1, p, DB_TIMEOUT_MS, on_positions, ctx) < 0)
        api_reply_db_error(ctx, NULL, "positions");
}

/* ---- GET /api/bots/:id/orders and /fills: cursor pages ---- */

// clang-format off
#define ORDER_JSON                                                                                            \
    "json_build_object('id', o.id, 'created_at', " API_TS("o.created_at") ", 'updated_at', "                  \
    API_TS("o.updated_at") ", 'stage', o.stage, 'broker', o.broker, 'broker_order_id', o.broker_order_id,"     \
    " 'symbol', o.symbol, 'side', o.side, 'qty', o.qty, 'order_type', o.order_type, 'limit_price',"            \
    " o.limit_price, 'stop_price', o.stop_price, 'status', o.status, 'filled_qty', o.filled_qty,"              \
    " 'avg_fill_price', o.avg_fill_price, 'reason_code', o.blocked_reason_code, 'reason_human',"              \
    " o.blocked_reason_human, 'decision_trace_id', o.decision_trace_id, 'trace_id', o.trace_id)"

/* $1 bot, $2 limit + 1, $3 status or NULL, $4/$5 cursor (created_at, id). Newest first. */
#define ORDERS_SQL                                                                                            \
    "SELECT EXISTS (SELECT 1 FROM bots WHERE id = $1::uuid),"                                                \
    " (SELECT coalesce(json_agg(x.j ORDER BY x.created_at DESC, x.id DESC), '[]')::text FROM"                \
    "   (SELECT o.created_at, o.id, " ORDER_JSON " AS j FROM orders o WHERE o.bot_id = $1::uuid"              \
    "      AND ($3::text IS NULL OR o.status = $3::text)"                                                     \
    "      AND ($4::timestamptz IS NULL OR (o.created_at, o.id) < ($4::timestamptz, $5::uuid))"               \
    "    ORDER BY o.created_at DESC, o.id DESC LIMIT $2::int) x)"

#define FILL_JSON                                                                                             \
    "json_build_object('id', f.id, 'order_id', f.order_id, 'filled_at', " API_TS("f.filled_at") ","           \
    " 'stage', o.stage, 'symbol', o.symbol, 'side', o.side, 'qty', f.qty, 'price', f.price, 'fee', f.fee,"     \
    " 'realized_points', f.realized_pnl, 'closed_qty', f.closed_qty, 'simulated', f.simulated,"               \
    " 'decision_trace_id', o.decision_trace_id, 'trace_id', f.trace_id)"

/* $1 bot, $2 limit + 1, $3/$4 cursor (filled_at, id). Newest first. */
#define FILLS_SQL                                                                                             \
    "SELECT EXISTS (SELECT 1 FROM bots WHERE id = $1::uuid),"                                                \
    " (SELECT coalesce(json_agg(x.j ORDER BY x.filled_at DESC, x.id DESC), '[]')::text FROM"                 \
    "   (SELECT f.filled_at, f.id, " FILL_JSON " AS j FROM fills f JOIN orders o ON o.id = f.order_id"        \
    "     WHERE f.bot_id = $1::uuid"                                                                          \
    "       AND ($3::timestamptz IS NULL OR (f.filled_at, f.id) < ($3::timestamptz, $4::uuid))"              \
    "     ORDER BY f.filled_at DESC, f.id DESC LIMIT $2::int) x)"
// clang-format on

/* A decoded page, or NULL after answering (404 for an unknown bot, 500/503). */
static json_t *page_rows(struct http_ctx *ctx, struct pg_result *res, const char *err, const char *what)
{
    json_t *rows;
    if (!res) {
        api_reply_db_error(ctx, err, what);
        return NULL;
    }
    if (PQntuples(res) != 1 || PQgetvalue(res, 0, 0)[0] != 't') {
        api_bot_not_found(ctx);
        return NULL;
    }
    rows = api_decode(PQgetvalue(res, 0, 1));
    if (json_is_array(rows)) return rows;
    json_decref(rows);
    reply_rows_error(ctx, what);
    return NULL;
}

static void on_orders(struct pg_result *res, const char *err, void *arg)
{
    struct api_page *r = arg;
    struct http_ctx *ctx = r->ctx;
    long limit = r->limit;
    json_t *rows;
    free(r);
    if (!(rows = page_rows(ctx, res, err, "orders"))) return;
    http_reply_json(ctx, 200,
                    json_pack("{s:s, s:o, s:o}", "bot_id", ctx->params[0], "orders", rows, "next_cursor",
                              api_page_next(rows, limit, "created_at")));
}

static int status_ok(const char *s)
{
    static const char *const all[] = {"INTENT", "BLOCKED",   "SUBMITTED", "ACCEPTED", "PARTIALLY_FILLED",
                                      "FILLED", "CANCELLED", "REJECTED",  "EXPIRED",  NULL};
    for (const char *const *a = all; *a; a++)
        if (strcmp(*a, s) == 0) return 1;
    return 0;
}

void api_trading_orders(struct http_ctx *ctx)
{
    char ts[64], uuid[40], plus_one[24];
    const char *status = http_query(ctx, "status");
    long limit;
    if (!api_id_ok(ctx)) return;
    if (api_page_params(ctx, &limit, ts, sizeof ts, uuid, sizeof uuid) < 0) return;
    if (status && !status_ok(status)) {
        api_invalid(ctx, "status",
                    "status must be one of INTENT, BLOCKED, SUBMITTED, ACCEPTED, PARTIALLY_FILLED, FILLED, "
                    "CANCELLED, REJECTED, EXPIRED.");
        return;
    }
    snprintf(plus_one, sizeof plus_one, "%ld", limit + 1);
    const char *p[5] = {ctx->params[0], plus_one, status, ts[0] ? ts : NULL, uuid[0] ? uuid : NULL};
    struct api_page *r = api_page_new(ctx, limit);
    if (db_query(ORDERS_SQL, 5, p, DB_TIMEOUT_MS, on_orders, r) < 0) {
        free(r);
        api_reply_db_error(ctx, NULL, "orders");
    }
}

/* Adds realized (USD, null when the multiplier is unknown) and unknown_reason to fill row f. */
static void value_fill(json_t *f, const struct mults *m)
{
    char why[REASON_LEN] = "";
    double mult = 0;
    int known = mult_of(m, str(f, "symbol"), &mult, why, sizeof why);
    json_object_set_new(f, "realized", money(known, num(f, "realized_points") * mult));
    if (why[0]) json_object_set_new(f, "unknown_reason", json_string(why));
}

static void on_fills(struct pg_result *res, const char *err, void *arg)
{
    struct api_page *r = arg;
    struct http_ctx *ctx = r->ctx;
    long limit = r->limit;
    struct mults m;
    size_t i;
    json_t *rows, *f, *next;
    free(r);
    if (!(rows = page_rows(ctx, res, err, "fills"))) return;
    next = api_page_next(rows, limit, "filled_at");
    mults_init(&m);
    json_array_foreach(rows, i, f) mults_add(&m, str(f, "symbol"));
    json_array_foreach(rows, i, f) value_fill(f, &m);
    mults_free(&m);
    http_reply_json(
        ctx, 200, json_pack("{s:s, s:o, s:o}", "bot_id", ctx->params[0], "fills", rows, "next_cursor", next));
}

void api_trading_fills(struct http_ctx *ctx)
{
    api_page_query_bot(ctx, FILLS_SQL, on_fills, "fills");
}

/* ---- GET /api/bots/:id/pnl ---- */

/* $1 bot: exists, the bot's stage, its positions ({stage, symbol, qty, avg_price, mark}). */
#define PNL_BOT_SQL                                                                                          \
    "SELECT EXISTS (SELECT 1 FROM bots WHERE id = $1::uuid), (SELECT stage FROM bots WHERE id = $1::uuid),"  \
    " (SELECT coalesce(json_agg(json_build_object('stage', p.stage, 'symbol', p.symbol, 'qty', p.qty,"       \
    "   'avg_price', p.avg_price, 'mark', p.mark_price)), '[]')::text FROM positions p"                      \
    "  WHERE p.bot_id = $1::uuid)"

// clang-format off
/* $1 bot, $2 stage, $3 window ('all' or an interval), $4 multipliers {symbol: number|null}. One row:
 * since, until (RFC 3339 and epoch), realized USD, fees, realized points, fills, closing fills, winning fills,
 * gross profit and loss USD, fills without a multiplier, and the equity after each fill as "epoch equity,...". */
#define PNL_FILLS_SQL                                                                                         \
    "WITH w AS (SELECT gh_now() AS until, CASE WHEN $3::text = 'all' THEN least("                             \
    "     (SELECT created_at FROM bots WHERE id = $1::uuid), gh_now(), (SELECT min(f.filled_at) FROM fills f"   \
    "      JOIN orders o ON o.id = f.order_id WHERE f.bot_id = $1::uuid AND o.stage = $2::text))"             \
    "   ELSE gh_now() - $3::interval END AS since),"                                                         \
    " x AS (SELECT f.seq, f.filled_at, f.fee, f.realized_pnl AS pts, f.closed_qty,"                           \
    "   ($4::jsonb ->> o.symbol)::numeric AS m FROM fills f JOIN orders o ON o.id = f.order_id, w"             \
    "   WHERE f.bot_id = $1::uuid AND o.stage = $2::text AND f.filled_at >= w.since AND f.filled_at <= w.until),"\
    " e AS (SELECT seq, filled_at, sum(coalesce(pts * m, 0) - fee) OVER (ORDER BY seq) AS equity FROM x)"     \
    "SELECT " API_TS("w.since") ", " API_TS("w.until") ", extract(epoch FROM w.since)::text,"                \
    " extract(epoch FROM w.until)::text,"                                                                     \
    " (SELECT coalesce(sum(pts * m), 0)::text FROM x), (SELECT coalesce(sum(fee), 0)::text FROM x),"          \
    " (SELECT coalesce(sum(pts), 0)::text FROM x), (SELECT count(*) FROM x),"                                 \
    " (SELECT count(*) FROM x WHERE closed_qty > 0), (SELECT count(*) FROM x WHERE closed_qty > 0 AND pts > 0),"\
    " (SELECT coalesce(sum(greatest(pts * m, 0)), 0)::text FROM x),"                                          \
    " (SELECT coalesce(sum(greatest(-pts * m, 0)), 0)::text FROM x),"                                         \
    " (SELECT count(*) FROM x WHERE m IS NULL),"                                                               \
    " (SELECT coalesce(string_agg(extract(epoch FROM filled_at)::text || ' ' || equity::text, ','"            \
    "   ORDER BY seq), '') FROM e)"                                                                           \
    " FROM w"
// clang-format on

struct pnl_req {
    struct http_ctx *ctx;
    char window[8];
    char stage[16];
    json_t *positions; /* the bot's position rows of every stage */
    struct mults m;
};

static void pnl_req_free(struct pnl_req *r)
{
    json_decref(r->positions);
    mults_free(&r->m);
    free(r);
}

/* Writes epoch seconds as RFC 3339 UTC with microseconds (API_TS's format). */
static void format_ts(double epoch, char *out, size_t len)
{
    double whole = floor(epoch);
    int usec = (int)lround((epoch - whole) * 1e6);
    time_t t = (time_t)whole;
    struct tm tm;
    char day[32];
    if (usec >= 1000000) {
        t++;
        usec -= 1000000;
    }
    gmtime_r(&t, &tm);
    strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, len, "%.19s.%06dZ", day, usec % 1000000);
}

/* Parses "epoch equity,epoch equity,..." into pts after the starting point {since, 0}, then appends
 * {until, net}. Returns the count (pts has room for fills + 2). */
static size_t equity_points(const char *text, long fills, double since, double until, double net,
                            struct pnl_point *pts)
{
    size_t n = 0;
    char *end;
    pts[n++] = (struct pnl_point){since, 0};
    for (const char *s = text; *s && (long)n <= fills;) {
        double t = strtod(s, &end), e;
        if (end == s) break;
        e = strtod(end, &end);
        pts[n++] = (struct pnl_point){t, e};
        s = *end == ',' ? end + 1 : end;
    }
    pts[n++] = (struct pnl_point){until, net};
    return n;
}

/* The bucketed series as [{t, equity}]. */
static json_t *equity_json(const struct pnl_point *pts, size_t n)
{
    struct pnl_point kept[PNL_MAX_POINTS];
    size_t k = pnl_bucket(pts, n, kept, PNL_MAX_POINTS);
    json_t *out = json_array();
    char ts[64];
    for (size_t i = 0; i < k; i++) {
        format_ts(kept[i].t, ts, sizeof ts);
        json_array_append_new(out, json_pack("{s:s, s:f}", "t", ts, "equity", kept[i].equity));
    }
    return out;
}

/* Unrealized USD of the open positions of stage: 1 with *out, or 0 with why filled. */
static int pnl_unrealized_of(const struct pnl_req *r, double *out, char *why, size_t whylen)
{
    size_t i;
    json_t *p;
    int known = 1;
    *out = 0;
    json_array_foreach(r->positions, i, p)
    {
        double u;
        if (strcmp(str(p, "stage"), r->stage) != 0) continue;
        if (unrealized_of(p, &r->m, &u, why, whylen))
            *out += u;
        else
            known = 0;
    }
    return known;
}

/* Appends the unknown_reason of every symbol of stage without a multiplier to why. */
static void pnl_unknown_multipliers(const struct pnl_req *r, char *why, size_t whylen)
{
    size_t i;
    json_t *p;
    double ignored;
    json_array_foreach(r->positions, i, p)
    {
        if (strcmp(str(p, "stage"), r->stage) == 0) mult_of(&r->m, str(p, "symbol"), &ignored, why, whylen);
    }
}

/* The equity series at full resolution (its max drawdown into *dd), answered bucketed; NULL when out of
 * memory. */
static json_t *pnl_equity(struct pg_result *res, long fills, double net, double *dd)
{
    struct pnl_point *pts = malloc(((size_t)fills + 2) * sizeof *pts);
    json_t *out;
    size_t n;
    if (!pts) return NULL;
    n = equity_points(PQgetvalue(res, 0, 13), fills, atof(PQgetvalue(res, 0, 2)), atof(PQgetvalue(res, 0, 3)),
                      net, pts);
    *dd = pnl_max_drawdown(pts, n);
    out = equity_json(pts, n);
    free(pts);
    return out;
}

static void pnl_answer(struct pnl_req *r, struct pg_result *res)
{
    char why[REASON_LEN] = "";
    double realized = atof(PQgetvalue(res, 0, 4)), fees = atof(PQgetvalue(res, 0, 5));
    double gross_profit = atof(PQgetvalue(res, 0, 10)), gross_loss = atof(PQgetvalue(res, 0, 11));
    long fills = atol(PQgetvalue(res, 0, 7)), closing = atol(PQgetvalue(res, 0, 8));
    long winning = atol(PQgetvalue(res, 0, 9));
    double unrealized = 0, win_rate = 0, pf = 0, dd = 0, net;
    int realized_known = atol(PQgetvalue(res, 0, 12)) == 0, unrealized_known, net_known;
    json_t *equity = NULL, *pnl;
    if (!realized_known) pnl_unknown_multipliers(r, why, sizeof why);
    unrealized_known = pnl_unrealized_of(r, &unrealized, why, sizeof why);
    net_known = realized_known && unrealized_known;
    net = realized + unrealized - fees;
    if (net_known) equity = pnl_equity(res, fills, net, &dd);
    pnl = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:f, s:o, s:f, s:I, s:I, s:I}", "window",
                    r->window, "stage", r->stage, "since", PQgetvalue(res, 0, 0), "until",
                    PQgetvalue(res, 0, 1), "method", "average_cost", "currency", "USD", "realized",
                    money(realized_known, realized), "unrealized", money(unrealized_known, unrealized),
                    "fees", fees, "net", money(net_known, net), "realized_points",
                    atof(PQgetvalue(res, 0, 6)), "fills", (json_int_t)fills, "closing_fills",
                    (json_int_t)closing, "trade_count", (json_int_t)closing);
    json_object_set_new(pnl, "win_rate",
                        pnl_win_rate(winning, closing, &win_rate) == 0 ? json_real(win_rate) : json_null());
    json_object_set_new(pnl, "profit_factor",
                        realized_known && pnl_profit_factor(gross_profit, gross_loss, &pf) == 0
                            ? json_real(pf)
                            : json_null());
    json_object_set_new(pnl, "max_drawdown", money(equity != NULL, dd));
    json_object_set_new(pnl, "equity", equity ? equity : json_null());
    if (why[0]) json_object_set_new(pnl, "unknown_reason", json_string(why));
    http_reply_json(r->ctx, 200, json_pack("{s:s, s:o}", "bot_id", r->ctx->params[0], "pnl", pnl));
}

static void on_pnl_fills(struct pg_result *res, const char *err, void *arg)
{
    struct pnl_req *r = arg;
    if (!res || PQntuples(res) != 1)
        api_reply_db_error(r->ctx, res ? "ERROR: no row" : err, "pnl");
    else
        pnl_answer(r, res);
    pnl_req_free(r);
}

static const char *window_interval(const char *w)
{
    if (strcmp(w, "1d") == 0) return "1 day";
    if (strcmp(w, "7d") == 0) return "7 days";
    if (strcmp(w, "30d") == 0) return "30 days";
    if (strcmp(w, "all") == 0) return "all";
    return NULL;
}

static void on_pnl_bot(struct pg_result *res, const char *err, void *arg)
{
    struct pnl_req *r = arg;
    struct http_ctx *ctx = r->ctx;
    size_t i;
    json_t *p;
    char *mults_text;
    if (!res) {
        api_reply_db_error(ctx, err, "pnl");
        pnl_req_free(r);
        return;
    }
    if (PQntuples(res) != 1 || PQgetvalue(res, 0, 0)[0] != 't') {
        api_bot_not_found(ctx);
        pnl_req_free(r);
        return;
    }
    if (!r->stage[0]) snprintf(r->stage, sizeof r->stage, "%s", PQgetvalue(res, 0, 1));
    r->positions = api_decode(PQgetvalue(res, 0, 2));
    if (!json_is_array(r->positions)) {
        reply_rows_error(ctx, "positions");
        pnl_req_free(r);
        return;
    }
    json_array_foreach(r->positions, i, p) mults_add(&r->m, str(p, "symbol"));
    mults_text = json_dumps(r->m.value, JSON_COMPACT);
    const char *params[4] = {ctx->params[0], r->stage, window_interval(r->window), mults_text};
    if (!mults_text || db_query(PNL_FILLS_SQL, 4, params, DB_TIMEOUT_MS, on_pnl_fills, r) < 0) {
        api_reply_db_error(ctx, NULL, "pnl");
        pnl_req_free(r);
    }
    free(mults_text);
}

void api_trading_pnl(struct http_ctx *ctx)
{
    const char *window = http_query(ctx, "window"), *stage = http_query(ctx, "stage");
    struct pnl_req *r;
    if (!api_id_ok(ctx)) return;
    if (!window) window = "7d";
    if (!window_interval(window)) {
        api_invalid(ctx, "window", "window must be 1d, 7d, 30d or all.");
        return;
    }
    if (stage && strcmp(stage, "PAPER") != 0 && strcmp(stage, "SHADOW") != 0 && strcmp(stage, "LIVE") != 0) {
        api_invalid(ctx, "stage", "stage must be PAPER, SHADOW or LIVE (default: the bot's stage).");
        return;
    }
    if (!(r = calloc(1, sizeof *r))) {
        http_reply_error(ctx, 500, "INTERNAL", "Out of memory.", "Retry.", NULL);
        return;
    }
    r->ctx = ctx;
    snprintf(r->window, sizeof r->window, "%s", window);
    snprintf(r->stage, sizeof r->stage, "%s", stage ? stage : "");
    mults_init(&r->m);
    const char *p[1] = {ctx->params[0]};
    if (db_query(PNL_BOT_SQL, 1, p, DB_TIMEOUT_MS, on_pnl_bot, r) < 0) {
        api_reply_db_error(ctx, NULL, "pnl");
        pnl_req_free(r);
    }
}

/* ---- GET /api/portfolio ---- */

// clang-format off
/* One row per bot and position (a bot without positions: one row with NULL position columns), with the
 * position's pnl_daily row of today; as_of and day on every row (one row with a NULL bot when there is no
 * bot). Ordered by bot, then stage. No fill is read. */
#define PORTFOLIO_SQL                                                                                         \
    "SELECT " API_TS("gh_now()") ", to_char((gh_now() AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD'),"            \
    " x.id, x.name, x.bot_stage, x.bot_symbol, x.stage, x.symbol, x.qty::float8, x.avg_price::float8,"         \
    " x.mark_price::float8, x.realized_pnl::float8, x.fees::float8, " API_TS("x.last_fill_at") ","            \
    " x.day_points::float8, x.day_fees::float8"                                                               \
    " FROM (SELECT 1) one LEFT JOIN (SELECT b.id, b.name, b.stage AS bot_stage, b.symbol AS bot_symbol,"        \
    "   p.stage, p.symbol, p.qty, p.avg_price, p.mark_price, p.realized_pnl, p.fees, p.last_fill_at,"          \
    "   d.realized_points AS day_points, d.fees AS day_fees"                                                  \
    "   FROM bots b LEFT JOIN positions p ON p.bot_id = b.id"                                                 \
    "   LEFT JOIN pnl_daily d ON d.bot_id = p.bot_id AND d.stage = p.stage AND d.symbol = p.symbol"            \
    "    AND d.day = (gh_now() AT TIME ZONE 'UTC')::date) x ON true"                                          \
    " ORDER BY x.name, x.id, x.stage, x.symbol"
// clang-format on

enum {
    PF_AS_OF,
    PF_DAY,
    PF_BOT,
    PF_NAME,
    PF_BOT_STAGE,
    PF_BOT_SYMBOL,
    PF_STAGE,
    PF_SYMBOL,
    PF_QTY,
    PF_AVG,
    PF_MARK,
    PF_REALIZED,
    PF_FEES,
    PF_LAST_FILL,
    PF_DAY_POINTS,
    PF_DAY_FEES
};

/* Money of one bot row or stage total, with what is unknown. */
struct acc {
    double realized, unrealized, fees, day_net;
    int realized_known, unrealized_known, day_known;
    char why[REASON_LEN];
};

static void acc_init(struct acc *a)
{
    memset(a, 0, sizeof *a);
    a->realized_known = a->unrealized_known = a->day_known = 1;
}

static void acc_add(struct acc *into, const struct acc *a)
{
    into->realized += a->realized;
    into->unrealized += a->unrealized;
    into->fees += a->fees;
    into->day_net += a->day_net;
    into->realized_known &= a->realized_known;
    into->unrealized_known &= a->unrealized_known;
    into->day_known &= a->day_known;
    reason_add(into->why, sizeof into->why, a->why);
}

/* Sets realized, unrealized, fees, net, day_net and unknown_reason of o from a. */
static void acc_put(json_t *o, const struct acc *a)
{
    json_object_set_new(o, "realized", money(a->realized_known, a->realized));
    json_object_set_new(o, "unrealized", money(a->unrealized_known, a->unrealized));
    json_object_set_new(o, "fees", json_real(a->fees));
    json_object_set_new(
        o, "net", money(a->realized_known && a->unrealized_known, a->realized + a->unrealized - a->fees));
    json_object_set_new(o, "day_net", money(a->day_known, a->day_net));
    if (a->why[0]) json_object_set_new(o, "unknown_reason", json_string(a->why));
}

/* Adds open position v (multiplier mult, known or not) to the exposure row of its stage and symbol. */
static void exposure_add(json_t *exposure, const struct pos_view *v, int known, double mult)
{
    char key[300];
    json_t *e;
    snprintf(key, sizeof key, "%s|%s", v->stage, v->symbol);
    if (!(e = json_object_get(exposure, key))) {
        e = json_pack("{s:s, s:s, s:f, s:f, s:f, s:i}", "stage", v->stage, "symbol", v->symbol, "net_qty",
                      0.0, "gross_qty", 0.0, "notional", 0.0, "bots", 0);
        json_object_set_new(exposure, key, e);
    }
    json_object_set_new(e, "net_qty", json_real(num(e, "net_qty") + v->qty));
    json_object_set_new(e, "gross_qty", json_real(num(e, "gross_qty") + fabs(v->qty)));
    json_object_set_new(e, "bots", json_integer(json_integer_value(json_object_get(e, "bots")) + 1));
    if (known && v->has_mark && json_is_number(json_object_get(e, "notional")))
        json_object_set_new(e, "notional", json_real(num(e, "notional") + fabs(v->qty) * v->mark * mult));
    else
        json_object_set_new(e, "notional", json_null());
}

/* Adds position v and its pnl_daily row of today (day_points/day_fees, has_day) to a. */
static void acc_position(struct acc *a, const struct pos_view *v, int has_day, double day_points,
                         double day_fees, const struct mults *m, json_t *exposure)
{
    double mult = 0, u;
    int known = mult_of(m, v->symbol, &mult, a->why, sizeof a->why);
    a->realized += known ? v->realized_points * mult : 0;
    a->realized_known &= known;
    a->fees += v->fees;
    if (unrealized_value(v, m, &u, a->why, sizeof a->why))
        a->unrealized += u;
    else
        a->unrealized_known = 0;
    if (has_day) {
        a->day_net += known ? day_points * mult - day_fees : 0;
        a->day_known &= known;
    }
    if (v->qty != 0) exposure_add(exposure, v, known, mult);
}

static const char *const STAGES[] = {"PAPER", "SHADOW", "LIVE"};

static int stage_index(const char *stage)
{
    for (int i = 0; i < 3; i++)
        if (strcmp(STAGES[i], stage) == 0) return i;
    return 0;
}

/* The portfolio being built from the ordered rows: one bot row per bot and stage. */
struct portfolio {
    struct pg_result *res;
    struct mults m;
    struct acc totals[3];
    long bots[3], open[3];
    json_t *rows, *exposure;
};

/* Emits the row of bot r (a row index of res) in stage from a, its own position (row index or -1) and its
 * last fill. */
static void portfolio_emit(struct portfolio *pf, int r, const char *stage, const struct acc *a, int own,
                           const char *last_fill)
{
    struct pg_result *res = pf->res;
    int s = stage_index(stage);
    json_t *row =
        json_pack("{s:s, s:s, s:s, s:s}", "bot_id", PQgetvalue(res, r, PF_BOT), "name",
                  PQgetvalue(res, r, PF_NAME), "stage", stage, "symbol", PQgetvalue(res, r, PF_BOT_SYMBOL));
    json_object_set_new(row, "position_qty", json_real(own >= 0 ? atof(PQgetvalue(res, own, PF_QTY)) : 0));
    json_object_set_new(row, "avg_price",
                        own >= 0 ? json_real(atof(PQgetvalue(res, own, PF_AVG))) : json_null());
    json_object_set_new(row, "mark",
                        own >= 0 && !PQgetisnull(res, own, PF_MARK)
                            ? json_real(atof(PQgetvalue(res, own, PF_MARK)))
                            : json_null());
    json_object_set_new(row, "last_fill_at", last_fill ? json_string(last_fill) : json_null());
    acc_put(row, a);
    json_array_append_new(pf->rows, row);
    acc_add(&pf->totals[s], a);
    pf->bots[s]++;
}

/* Rows [first, end) are one bot's positions (or its one row without any): emits a row per stage. */
static void portfolio_bot(struct portfolio *pf, int first, int end)
{
    struct pg_result *res = pf->res;
    const char *bot_stage = PQgetvalue(res, first, PF_BOT_STAGE),
               *bot_symbol = PQgetvalue(res, first, PF_BOT_SYMBOL);
    int current_seen = 0;
    for (int r = first; r < end && !PQgetisnull(res, r, PF_STAGE);) {
        const char *stage = PQgetvalue(res, r, PF_STAGE), *last = NULL;
        int own = -1;
        struct acc a;
        acc_init(&a);
        int start = r;
        for (; r < end && strcmp(PQgetvalue(res, r, PF_STAGE), stage) == 0; r++) {
            struct pos_view v = {.stage = stage,
                                 .symbol = PQgetvalue(res, r, PF_SYMBOL),
                                 .qty = atof(PQgetvalue(res, r, PF_QTY)),
                                 .avg_price = atof(PQgetvalue(res, r, PF_AVG)),
                                 .mark = atof(PQgetvalue(res, r, PF_MARK)),
                                 .has_mark = !PQgetisnull(res, r, PF_MARK),
                                 .realized_points = atof(PQgetvalue(res, r, PF_REALIZED)),
                                 .fees = atof(PQgetvalue(res, r, PF_FEES))};
            acc_position(&a, &v, !PQgetisnull(res, r, PF_DAY_POINTS), atof(PQgetvalue(res, r, PF_DAY_POINTS)),
                         atof(PQgetvalue(res, r, PF_DAY_FEES)), &pf->m, pf->exposure);
            if (v.qty != 0) pf->open[stage_index(stage)]++;
            if (strcmp(v.symbol, bot_symbol) == 0) own = r;
            if (!PQgetisnull(res, r, PF_LAST_FILL) &&
                (!last || strcmp(PQgetvalue(res, r, PF_LAST_FILL), last) > 0))
                last = PQgetvalue(res, r, PF_LAST_FILL);
        }
        portfolio_emit(pf, start, stage, &a, own, last);
        if (strcmp(stage, bot_stage) == 0) current_seen = 1;
    }
    if (!current_seen) {
        struct acc a;
        acc_init(&a);
        portfolio_emit(pf, first, bot_stage, &a, -1, NULL);
    }
}

static json_t *portfolio_of(struct pg_result *res)
{
    struct portfolio pf = {.res = res, .rows = json_array(), .exposure = json_object()};
    json_t *stages = json_object(), *expo_list = json_array(), *e;
    const char *k;
    int n = PQntuples(res);
    mults_init(&pf.m);
    for (int s = 0; s < 3; s++)
        acc_init(&pf.totals[s]);
    for (int r = 0; r < n; r++)
        if (!PQgetisnull(res, r, PF_SYMBOL)) mults_add(&pf.m, PQgetvalue(res, r, PF_SYMBOL));
    for (int r = 0; r < n && !PQgetisnull(res, r, PF_BOT);) {
        int first = r;
        while (r < n && strcmp(PQgetvalue(res, r, PF_BOT), PQgetvalue(res, first, PF_BOT)) == 0)
            r++;
        portfolio_bot(&pf, first, r);
    }
    for (int s = 0; s < 3; s++) {
        json_t *t =
            json_pack("{s:I, s:I}", "bots", (json_int_t)pf.bots[s], "open_positions", (json_int_t)pf.open[s]);
        acc_put(t, &pf.totals[s]);
        json_object_set_new(stages, STAGES[s], t);
    }
    json_object_foreach(pf.exposure, k, e) json_array_append(expo_list, e);
    json_decref(pf.exposure);
    mults_free(&pf.m);
    return json_pack("{s:s, s:s, s:o, s:o, s:o}", "as_of", PQgetvalue(res, 0, PF_AS_OF), "day",
                     PQgetvalue(res, 0, PF_DAY), "stages", stages, "bots", pf.rows, "exposure", expo_list);
}

/* The portfolio is built at most once per PORTFOLIO_MAX_AGE_MS and right after this process commits a fill
 * or changes a bot (version): a read of a body whose version is current is answered from the cache (stale
 * by age: answered at once while one rebuild runs); a read after a version change waits for a build that
 * started after it. Writes by other processes show within the max age; the body's as_of says when. */
#define PORTFOLIO_MAX_AGE_MS 1000.0

struct portfolio_waiter {
    struct http_ctx *ctx;
    unsigned long long need; /* the version the answer must include */
};

static struct {
    struct body_cache body;
    unsigned long long body_version, stale_count, build_version;
    int building;
    struct portfolio_waiter *waiters;
    size_t n_waiters, cap_waiters;
} pf_cache;

static unsigned long long portfolio_version(void)
{
    return orders_fills_version() + pf_cache.stale_count;
}

void api_trading_portfolio_stale(void)
{
    pf_cache.stale_count++;
}

static void portfolio_build(void);

/* Answers the waiters a build of version v serves (all of them on failure, with the error); keeps the
 * others. */
static void portfolio_answer_waiters(unsigned long long v, const char *err)
{
    size_t kept = 0;
    for (size_t i = 0; i < pf_cache.n_waiters; i++) {
        struct portfolio_waiter w = pf_cache.waiters[i];
        if (!err && w.need > v)
            pf_cache.waiters[kept++] = w;
        else if (err)
            api_reply_db_error(w.ctx, err, "portfolio");
        else
            http_reply_cached(w.ctx, 200, &pf_cache.body);
    }
    pf_cache.n_waiters = kept;
}

static void on_portfolio(struct pg_result *res, const char *err, void *arg)
{
    (void)arg;
    unsigned long long v = pf_cache.build_version;
    double t0 = clock_now_ms();
    pf_cache.building = 0;
    if (!res || PQntuples(res) < 1) {
        portfolio_answer_waiters(v, res ? "ERROR: no row" : err ? err : "ERROR: no answer");
    } else if (body_cache_store(&pf_cache.body, v, json_pack("{s:o}", "portfolio", portfolio_of(res))) < 0) {
        pf_cache.body_version = 0;
        portfolio_answer_waiters(v, "ERROR: out of memory");
    } else {
        pf_cache.body_version = v;
        LOG_INFO(NULL, "portfolio built", "rows=%d bytes=%zu build_ms=%.2f", PQntuples(res),
                 pf_cache.body.len, clock_now_ms() - t0);
        portfolio_answer_waiters(v, NULL);
    }
    if (pf_cache.n_waiters > 0) portfolio_build();
}

/* Starts one build of the current version unless one is running. */
static void portfolio_build(void)
{
    if (pf_cache.building) return;
    pf_cache.building = 1;
    pf_cache.build_version = portfolio_version();
    if (db_query(PORTFOLIO_SQL, 0, NULL, DB_TIMEOUT_MS, on_portfolio, NULL) < 0) {
        pf_cache.building = 0;
        portfolio_answer_waiters(pf_cache.build_version, "ERROR: not queued");
    }
}

static int portfolio_wait(struct http_ctx *ctx, unsigned long long need)
{
    if (pf_cache.n_waiters == pf_cache.cap_waiters) {
        size_t cap = pf_cache.cap_waiters ? 2 * pf_cache.cap_waiters : 16;
        struct portfolio_waiter *w = realloc(pf_cache.waiters, cap * sizeof *w);
        if (!w) return -1;
        pf_cache.waiters = w;
        pf_cache.cap_waiters = cap;
    }
    pf_cache.waiters[pf_cache.n_waiters++] = (struct portfolio_waiter){ctx, need};
    return 0;
}

void api_trading_portfolio(struct http_ctx *ctx)
{
    unsigned long long v = portfolio_version();
    if (pf_cache.body.members && pf_cache.body_version == v) {
        if (!body_cache_fresh(&pf_cache.body, pf_cache.body.key, PORTFOLIO_MAX_AGE_MS)) portfolio_build();
        http_reply_cached(ctx, 200, &pf_cache.body);
        return;
    }
    if (portfolio_wait(ctx, v) < 0) {
        http_reply_error(ctx, 500, "INTERNAL", "Out of memory.", "Retry.", NULL);
        return;
    }
    portfolio_build();
}

void api_trading_clear(void)
{
    body_cache_clear(&pf_cache.body);
    free(pf_cache.waiters);
    memset(&pf_cache, 0, sizeof pf_cache);
}
