/* risk_watch.c — held-exposure review and the breach action (model in risk_watch.h). */
#include "risk_watch.h"

#include <libpq-fe.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts.h"
#include "autonomy.h"
#include "clock.h"
#include "config.h"
#include "db.h"
#include "id.h"
#include "instances.h"
#include "log.h"
#include "orders.h"
#include "policy.h"
#include "telemetry.h"

#define DB_TIMEOUT_MS 3000

static time_t last_sweep;
static int sweep_pending;

static double field(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : json_is_string(v) ? atof(json_string_value(v)) : 0;
}

json_t *risk_watch_context(const struct risk_view *v)
{
    double qty = field(v->position, "qty"), avg = field(v->position, "avg_price");
    double unreal = qty != 0 && v->mark > 0 ? qty * (v->mark - avg) : 0;
    double equity = field(v->position, "realized_pnl") + unreal;
    double peak = fmax(fmax(field(v->position, "equity_peak"), equity), 0.0);
    return json_pack("{s:{s:f, s:f}, s:{s:f, s:f}, s:{s:f, s:f, s:f, s:f}, s:O, s:O, s:s, s:s}", "position",
                     "qty", qty, "avg_price", avg, "working", "buy", v->working_buy, "sell", v->working_sell,
                     "pnl", "realized_today", v->realized_today, "unrealized", unreal, "equity_peak", peak,
                     "equity", equity, "market", v->market ? v->market : json_null(), "limits",
                     v->limits ? v->limits : json_null(), "stage", v->stage ? v->stage : "", "symbol",
                     v->symbol ? v->symbol : "");
}

json_t *risk_watch_review(struct policy_gen *g, const json_t *ctx, const char *trace_id)
{
    char err[1024];
    const json_t *args[1] = {ctx};
    json_t *v = g ? policy_call_first(g, "scripts/risk.lua", "review", args, 1, err, sizeof err) : NULL;
    if (!json_is_object(v)) {
        LOG_ERROR(trace_id, "policy call failed", "module=scripts/risk.lua fn=review error=\"%s\"",
                  g ? err : "no policy");
        json_decref(v);
        return NULL;
    }
    return v;
}

struct breach {
    char bot_id[37], name[128], stage[8], trace_id[33], human[600];
};

static void on_killed(const char *err, const struct instance_ended *rows, int n, void *arg)
{
    struct breach *b = arg;
    if (err) LOG_ERROR(b->trace_id, "risk breach: kill not written", "bot=%s error=\"%s\"", b->bot_id, err);
    autonomy_request(b->bot_id, b->trace_id);
    free(b);
}

static void on_blocker(struct pg_result *res, const char *err, void *arg)
{
    struct breach *b = arg;
    if (!res) {
        LOG_ERROR(b->trace_id, "risk breach: blocker not written", "bot=%s error=\"%s\"", b->bot_id, err);
    } else if (PQntuples(res) == 0) { /* already open: the bot was killed then */
        free(b);
        return;
    }
    char msg[1024], dedup[80];
    snprintf(msg, sizeof msg,
             "%s (%s) breached its risk limits: %s. Killed, working orders cancelled; autonomy LOCKED "
             "until an operator acknowledges.",
             b->name, b->stage, b->human);
    snprintf(dedup, sizeof dedup, "risk_breach:%s", b->bot_id);
    telemetry_system_event("risk_breach", "SEV-1", b->bot_id, msg, b->trace_id, NULL);
    alerts_notify("risk_breach", dedup, "SEV-1", "gatehouse: risk breach, bot killed", msg, b->trace_id);
    LOG_WARN(b->trace_id, "risk breach", "bot=%s %s", b->bot_id, b->human);
    /* working orders are cancelled (flattened when the bot's params say so) even when the kill write fails */
    struct instance_kill_req k = {
        .bot_id = b->bot_id, .reason = "RISK_BREACH", .trace_id = b->trace_id, .flatten = 1};
    if (instance_kill(&k, on_killed, b) < 0) on_killed("queue full", NULL, 0, b);
}

void risk_watch_breach(const char *bot_id, const char *bot_name, const char *stage, const json_t *verdict,
                       const char *trace_id)
{
    struct breach *b = calloc(1, sizeof *b);
    snprintf(b->bot_id, sizeof b->bot_id, "%s", bot_id);
    snprintf(b->name, sizeof b->name, "%s", bot_name ? bot_name : bot_id);
    snprintf(b->stage, sizeof b->stage, "%s", stage ? stage : "");
    snprintf(b->trace_id, sizeof b->trace_id, "%s", trace_id);
    const char *why = json_string_value(json_object_get(verdict, "reason_human"));
    snprintf(b->human, sizeof b->human, "%s", why ? why : "risk limits exceeded");
    char *details = json_dumps(verdict, JSON_COMPACT);
    char human[700];
    snprintf(human, sizeof human,
             "Risk breach (%s): %s. The bot was killed; acknowledge the breach to start it again.", b->stage,
             b->human);
    const char *p[4] = {bot_id, human, details ? details : "{}", trace_id};
    if (db_query("INSERT INTO bot_blockers (bot_id, code, stages, reason_human, details, trace_id) "
                 "VALUES ($1, 'RISK_BREACH', ARRAY['PAPER', 'SHADOW', 'LIVE'], $2, $3::jsonb, $4) "
                 "ON CONFLICT (bot_id, code) WHERE cleared_at IS NULL DO NOTHING RETURNING id",
                 4, p, DB_TIMEOUT_MS, on_blocker, b) < 0)
        on_blocker(NULL, "queue full", b);
    free(details);
}

/* ---- the minute sweep ---- */

static void on_sweep_rows(struct pg_result *res, const char *err, void *arg)
{
    char *trace = arg;
    sweep_pending = 0;
    if (!res) {
        LOG_ERROR(trace, "risk sweep failed", "error=\"%s\"", err);
        free(trace);
        return;
    }
    struct policy_gen *g = policy_retain(policy_current());
    for (int i = 0; i < PQntuples(res); i++) {
        json_t *pos = json_loads(PQgetvalue(res, i, 3), 0, NULL);
        json_t *limits = PQgetisnull(res, i, 8) ? NULL : json_loads(PQgetvalue(res, i, 8), 0, NULL);
        const char *stage = PQgetvalue(res, i, 2);
        struct risk_view rv = {pos,
                               PQgetisnull(res, i, 4) ? 0 : atof(PQgetvalue(res, i, 4)),
                               atof(PQgetvalue(res, i, 5)),
                               atof(PQgetvalue(res, i, 6)),
                               atof(PQgetvalue(res, i, 7)),
                               NULL,
                               limits,
                               stage,
                               PQgetvalue(res, i, 9)};
        json_t *ctx = risk_watch_context(&rv);
        if (!PQgetisnull(res, i, 10)) json_object_set_new(ctx, "tier", json_string(PQgetvalue(res, i, 10)));
        json_t *v = risk_watch_review(g, ctx, trace);
        if (json_is_true(json_object_get(v, "breached")))
            risk_watch_breach(PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), stage, v, trace);
        json_decref(v);
        json_decref(ctx);
        json_decref(limits);
        json_decref(pos);
    }
    policy_release(g);
    LOG_INFO(trace, "risk sweep", "bots=%d", PQntuples(res));
    free(trace);
}

void risk_watch_sweep(void)
{
    time_t now = clock_wall_s();
    if (sweep_pending || now - last_sweep < cfg.risk_sweep_every_s) return;
    last_sweep = now;
    char trace[33];
    id_trace_new(trace);
    char *t = strdup(trace);
    /* every bot running, holding a position or with working orders, and no open RISK_BREACH yet */
    // clang-format off
    if (db_query(
            "SELECT b.id::text, b.name, b.stage, coalesce(row_to_json(p)::text, '{}'), p.mark_price::text, "
            ORDERS_REALIZED_TODAY_SQL("b.id", "b.stage") "::text, " ORDERS_WORKING_QTY_SQL("b.id", "b.stage", "BUY")
            "::text, " ORDERS_WORKING_QTY_SQL("b.id", "b.stage", "SELL") "::text, (b.params->'risk')::text, b.symbol, "
            "CASE WHEN b.stage = 'LIVE' THEN a.autonomy_tier END "
            "FROM bots b LEFT JOIN positions p ON p.bot_id = b.id AND p.stage = b.stage AND p.symbol = b.symbol "
            "LEFT JOIN autonomy_scores a ON a.bot_id = b.id "
            "WHERE (b.desired_state = 'RUNNING' OR coalesce(p.qty, 0) <> 0 "
            "       OR EXISTS (SELECT 1 FROM orders o WHERE o.bot_id = b.id AND o.status IN " ORDERS_WORKING_SQL ")) "
            "AND NOT EXISTS (SELECT 1 FROM bot_blockers x WHERE x.bot_id = b.id AND x.code = 'RISK_BREACH' "
            "                AND x.cleared_at IS NULL)",
            0, NULL, DB_TIMEOUT_MS, on_sweep_rows, t) == 0)
        sweep_pending = 1;
    // clang-format on
    else
        free(t);
}
