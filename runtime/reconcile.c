/* reconcile.c — broker fills, order states and positions compared with gatehouse's (model in reconcile.h). */
#include "reconcile.h"

#include <jansson.h>
#include <libpq-fe.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts.h"
#include "broker.h"
#include "clock.h"
#include "config.h"
#include "db.h"
#include "id.h"
#include "log.h"
#include "orders.h"
#include "policy.h"
#include "status.h"
#include "telemetry.h"

#define DB_TIMEOUT_MS 3000

struct pass {
    char trace_id[33];
    PGresult *pairs; /* (broker, symbol) rows, copied */
    int i;           /* pair in progress */
    json_t *ours;    /* broker_order_id -> {id, status} of the pair's LIVE orders */
    json_t *list;    /* the broker's fills of the pair, applied one by one */
    size_t k;
    int pending;
};

static struct pass *running;
static time_t last_pass;

int reconcile_running(void)
{
    return running != NULL;
}

static const char *pair_broker(const struct pass *p)
{
    return PQgetvalue(p->pairs, p->i, 0);
}

static const char *pair_symbol(const struct pass *p)
{
    return PQgetvalue(p->pairs, p->i, 1);
}

static void next_pair(struct pass *p);

static void end_pass(struct pass *p)
{
    PQclear(p->pairs);
    json_decref(p->ours);
    json_decref(p->list);
    free(p);
    running = NULL;
}

static void call(struct pass *p, const char *action, broker_cb cb)
{
    struct broker_action_req a = {.provider_id = pair_broker(p),
                                  .action = action,
                                  .symbol = pair_symbol(p),
                                  .trace_id = p->trace_id,
                                  .gen = policy_current()};
    if (broker_action(&a, cb, p) < 0) next_pair(p);
}

/* ---- 3. positions ---- */

static void on_compared(struct pg_result *res, const char *err, void *arg)
{
    struct pass *p = arg;
    for (int r = 0; res && r < PQntuples(res); r++) {
        const char *bot = PQgetvalue(res, r, 0), *what = PQgetvalue(res, r, 1),
                   *human = PQgetvalue(res, r, 2);
        if (strcmp(what, "raised") == 0) {
            char dedup[80];
            snprintf(dedup, sizeof dedup, "position_mismatch:%s", bot);
            telemetry_system_event("position_mismatch", "SEV-1", bot, human, p->trace_id, NULL);
            alerts_notify("position_mismatch", dedup, "SEV-1", "gatehouse: position mismatch, LIVE blocked",
                          human, p->trace_id);
            LOG_WARN(p->trace_id, "position mismatch", "bot=%s %s", bot, human);
        } else {
            telemetry_system_event("position_reconciled", "info", bot, human, p->trace_id, NULL);
        }
    }
    if (!res) LOG_ERROR(p->trace_id, "reconcile: positions not compared", "error=\"%s\"", err);
    next_pair(p);
}

static void on_broker_positions(const struct broker_result *r, void *arg)
{
    struct pass *p = arg;
    if (!r->ok) {
        next_pair(p);
        return;
    }
    double qty = 0;
    const json_t *pos;
    size_t i;
    json_array_foreach(json_object_get(r->data, "positions"), i, pos)
    {
        const json_t *q = json_object_get(pos, "qty");
        qty += json_is_number(q) ? json_number_value(q) : 0;
    }
    char sqty[32];
    snprintf(sqty, sizeof sqty, "%.8f", qty);
    const char *params[4] = {pair_symbol(p), sqty, pair_broker(p), p->trace_id};
    /* gatehouse's LIVE position on the symbol vs the broker's: raise (or refresh) or clear POSITION_MISMATCH
     * on every LIVE bot of the symbol. Not while a LIVE order on the symbol is working (INTENT, SUBMITTED,
     * ACCEPTED, PARTIALLY_FILLED): it may fill at the broker between this pass's fills and its positions
     * call, so the two sides are compared only once nothing is in flight (the next pass, at the latest in a
     * minute). */
    if (db_query(
            "WITH ours AS (SELECT coalesce(sum(qty), 0) AS q FROM positions WHERE stage = 'LIVE' AND symbol = $1::text "
            "  HAVING NOT EXISTS (SELECT 1 FROM orders WHERE stage = 'LIVE' AND symbol = $1::text "
            "  AND status IN ('INTENT', 'SUBMITTED', 'ACCEPTED', 'PARTIALLY_FILLED'))), "
            "bots_of AS (SELECT id FROM bots WHERE stage = 'LIVE' AND symbol = $1::text), "
            "txt AS (SELECT format('%s position on %s: broker %s says %s, gatehouse''s fills say %s. LIVE is blocked "
            "for this bot until they agree (check the broker''s order history; gatehouse re-compares every minute).', "
            "  'LIVE', $1::text, $3::text, trim_scale($2::numeric), trim_scale(ours.q)) AS h, ours.q FROM ours), "
            "raised AS (INSERT INTO bot_blockers (bot_id, code, stages, reason_human, details, trace_id) "
            "  SELECT b.id, 'POSITION_MISMATCH', ARRAY['LIVE'], txt.h, jsonb_build_object('broker', $3::text, 'symbol', $1::text, "
            "  'broker_qty', $2::numeric, 'gatehouse_qty', txt.q), $4::text FROM bots_of b, txt WHERE txt.q <> $2::numeric "
            "  ON CONFLICT (bot_id, code) WHERE cleared_at IS NULL DO UPDATE SET reason_human = EXCLUDED.reason_human, "
            "  details = EXCLUDED.details RETURNING bot_id, (xmax = 0) AS fresh, reason_human), "
            "cleared AS (UPDATE bot_blockers x SET cleared_at = gh_now(), clear_reason = 'RECONCILED' FROM txt "
            "  WHERE txt.q = $2::numeric AND x.code = 'POSITION_MISMATCH' AND x.cleared_at IS NULL "
            "  AND x.bot_id IN (SELECT id FROM bots_of) RETURNING x.bot_id) "
            "SELECT bot_id::text, 'raised', reason_human FROM raised WHERE fresh "
            "UNION ALL SELECT c.bot_id::text, 'cleared', format('Position on %s reconciled with %s: both at %s.', $1::text, $3::text, "
            "  trim_scale($2::numeric)) FROM cleared c",
            4, params, DB_TIMEOUT_MS, on_compared, p) < 0)
        next_pair(p);
}

/* ---- 2. order states ---- */

static void on_moved(int ok, const char *code, const char *human, void *arg)
{
    struct pass *p = arg;
    if (--p->pending == 0) call(p, "positions", on_broker_positions);
}

static void on_broker_orders(const struct broker_result *r, void *arg)
{
    struct pass *p = arg;
    if (!r->ok) {
        next_pair(p);
        return;
    }
    const json_t *o;
    size_t i;
    p->pending = 1;
    json_array_foreach(json_object_get(r->data, "orders"), i, o)
    {
        const char *bid = json_string_value(json_object_get(o, "broker_order_id"));
        const char *to = json_string_value(json_object_get(o, "status"));
        const json_t *mine = bid ? json_object_get(p->ours, bid) : NULL;
        const char *cur = json_string_value(json_object_get(mine, "status"));
        if (!mine || !to || !cur) continue;
        int final = strcmp(to, "CANCELLED") == 0 || strcmp(to, "REJECTED") == 0 || strcmp(to, "EXPIRED") == 0;
        int accept = strcmp(to, "ACCEPTED") == 0 && strcmp(cur, "SUBMITTED") == 0;
        int working = strcmp(cur, "SUBMITTED") == 0 || strcmp(cur, "ACCEPTED") == 0 ||
                      strcmp(cur, "PARTIALLY_FILLED") == 0;
        if (!working || (!final && !accept) || strcmp(to, cur) == 0) continue;
        char human[200];
        snprintf(human, sizeof human, "%s reports the order %s.", pair_broker(p), to);
        const char *why = json_string_value(json_object_get(o, "reason"));
        struct order_move m = {.order_id = json_string_value(json_object_get(mine, "id")),
                               .to = to,
                               .trace_id = p->trace_id,
                               .code = !final                         ? NULL
                                       : strcmp(to, "REJECTED") == 0  ? "BROKER_REJECTED"
                                       : strcmp(to, "CANCELLED") == 0 ? "CANCELLED_AT_BROKER"
                                                                      : "EXPIRED_AT_BROKER",
                               .human = final ? (why ? why : human) : NULL};
        p->pending++;
        if (orders_transition(&m, on_moved, p) < 0) p->pending--;
    }
    on_moved(1, NULL, NULL, p);
}

/* ---- 1. fills ---- */

static void load_ours(struct pass *p, db_result_cb cb);

static void apply_next_fill(struct pass *p);

static void on_fill_applied(int ok, const char *code, const char *human, void *arg)
{
    apply_next_fill(arg);
}

static void on_ours_reloaded(struct pg_result *res, const char *err, void *arg);

static void apply_next_fill(struct pass *p)
{
    while (p->k < json_array_size(p->list)) {
        const json_t *f = json_array_get(p->list, p->k++);
        const char *bid = json_string_value(json_object_get(f, "broker_order_id"));
        const json_t *mine = bid ? json_object_get(p->ours, bid) : NULL;
        const char *fid = json_string_value(json_object_get(f, "broker_fill_id"));
        const json_t *q = json_object_get(f, "qty"), *px = json_object_get(f, "price"),
                     *at = json_object_get(f, "filled_at");
        if (!mine || !fid || !json_is_number(q) || !json_is_number(px)) continue;
        struct order_fill fill = {json_string_value(json_object_get(mine, "id")),
                                  p->trace_id,
                                  json_number_value(q),
                                  json_number_value(px),
                                  0,
                                  fid,
                                  -1,
                                  json_is_number(at) ? json_number_value(at) : 0,
                                  0}; /* a broker's fill: it happened, whoever holds the lease */
        if (orders_apply_fill(&fill, on_fill_applied, p) == 0) return;
    }
    load_ours(p, on_ours_reloaded); /* the states after the fills, for step 2 */
}

static void on_broker_fills(const struct broker_result *r, void *arg)
{
    struct pass *p = arg;
    if (!r->ok) {
        next_pair(p);
        return;
    }
    json_decref(p->list);
    p->list = json_deep_copy(json_object_get(r->data, "fills"));
    if (!json_is_array(p->list)) p->list = json_array();
    p->k = 0;
    apply_next_fill(p);
}

/* broker_order_id -> {id, status} of the pair's LIVE orders that can still change (late fills included). */
static int read_ours(struct pass *p, struct pg_result *res, const char *err)
{
    if (!res) {
        LOG_ERROR(p->trace_id, "reconcile: orders not read", "error=\"%s\"", err);
        next_pair(p);
        return -1;
    }
    json_decref(p->ours);
    p->ours = json_object();
    for (int r = 0; r < PQntuples(res); r++)
        json_object_set_new(
            p->ours, PQgetvalue(res, r, 0),
            json_pack("{s:s, s:s}", "id", PQgetvalue(res, r, 1), "status", PQgetvalue(res, r, 2)));
    return 0;
}

static void on_ours_reloaded(struct pg_result *res, const char *err, void *arg)
{
    struct pass *p = arg;
    if (read_ours(p, res, err) == 0) call(p, "orders", on_broker_orders);
}

static void on_ours(struct pg_result *res, const char *err, void *arg)
{
    struct pass *p = arg;
    if (read_ours(p, res, err) == 0) call(p, "fills", on_broker_fills);
}

static void load_ours(struct pass *p, db_result_cb cb)
{
    const char *params[2] = {pair_broker(p), pair_symbol(p)};
    // clang-format off
    if (db_query("SELECT broker_order_id, id::text, status FROM orders WHERE stage = 'LIVE' AND broker = $1 AND symbol = $2 "
                 "AND broker_order_id IS NOT NULL AND (status IN " ORDERS_WORKING_SQL " OR (status IN ('CANCELLED', 'EXPIRED') "
                 "AND updated_at > gh_now() - interval '1 day'))",
                 2, params, DB_TIMEOUT_MS, cb, p) < 0)
        next_pair(p);
    // clang-format on
}

static void next_pair(struct pass *p)
{
    p->i++;
    if (p->i >= PQntuples(p->pairs)) {
        end_pass(p);
        return;
    }
    load_ours(p, on_ours);
}

static void on_pairs(struct pg_result *res, const char *err, void *arg)
{
    struct pass *p = arg;
    if (!res) {
        LOG_ERROR(p->trace_id, "reconcile: LIVE symbols not read", "error=\"%s\"", err);
        end_pass(p);
        return;
    }
    p->pairs = PQcopyResult(res, PG_COPYRES_TUPLES | PG_COPYRES_ATTRS);
    p->i = -1;
    next_pair(p);
}

int reconcile_now(const char *trace_id)
{
    if (running) return -1;
    const char *primary = status_execution_provider(0);
    struct pass *p = calloc(1, sizeof *p);
    snprintf(p->trace_id, sizeof p->trace_id, "%s", trace_id);
    running = p;
    last_pass = clock_wall_s();
    const char *params[1] = {primary};
    // clang-format off
    if (db_query("SELECT DISTINCT broker, symbol FROM ("
                 " SELECT coalesce((SELECT o.broker FROM orders o WHERE o.bot_id = b.id AND o.stage = 'LIVE' "
                 "   AND o.broker IS NOT NULL ORDER BY o.created_at DESC LIMIT 1), $1) AS broker, b.symbol FROM bots b "
                 " WHERE b.stage = 'LIVE' AND (b.desired_state = 'RUNNING' OR EXISTS (SELECT 1 FROM positions x "
                 "   WHERE x.bot_id = b.id AND x.stage = 'LIVE' AND x.qty <> 0)) "
                 " UNION SELECT broker, symbol FROM orders WHERE stage = 'LIVE' AND status IN " ORDERS_WORKING_SQL
                 ") s WHERE broker IS NOT NULL ORDER BY broker, symbol",
                 1, params, DB_TIMEOUT_MS, on_pairs, p) < 0) {
        // clang-format on
        running = NULL;
        free(p);
        return -1;
    }
    return 0;
}

void reconcile_sweep(void)
{
    if (running || (last_pass && clock_wall_s() - last_pass < cfg.reconcile_every_s)) return;
    char trace[33];
    id_trace_new(trace);
    reconcile_now(trace);
}
