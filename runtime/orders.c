/* orders.c — transitions, fills, cancel, modify and the kill path's cancel-and-flatten (model in orders.h).
 */
#include "orders.h"

#include <libpq-fe.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "clock.h"
#include "db.h"
#include "id.h"
#include "log.h"
#include "policy.h"
#include "status.h"

#define DB_TIMEOUT_MS 3000

/* One asynchronous operation on one order (or one bot for flatten). */
struct op {
    char order_id[37], bot_id[37], trace_id[33], user_id[37], code[48];
    char stage[8], status[20], broker[64], broker_order_id[64], symbol[64], side[8];
    long long qty;
    struct cancel_group *group;
    orders_cb cb;
    void *arg;
};

struct cancel_group {
    char bot_id[37], trace_id[33], user_id[37], code[48];
    int pending, flatten;
};

static const char *opt(const char *s)
{
    return s && *s ? s : NULL;
}

static void done(struct op *o, int ok, const char *code, const char *human)
{
    if (!ok)
        LOG_WARN(o->trace_id, "order operation failed", "order=%s code=%s reason=\"%s\"",
                 o->order_id[0] ? o->order_id : "-", code ? code : "-", human ? human : "");
    if (o->cb) o->cb(ok, code, human, o->arg);
    free(o);
}

static struct op *op_new(const char *order_id, const char *trace_id, const char *user_id, orders_cb cb,
                         void *arg)
{
    struct op *o = calloc(1, sizeof *o);
    snprintf(o->order_id, sizeof o->order_id, "%s", order_id ? order_id : "");
    snprintf(o->trace_id, sizeof o->trace_id, "%s", trace_id ? trace_id : "");
    snprintf(o->user_id, sizeof o->user_id, "%s", user_id && id_is_uuid(user_id) ? user_id : "");
    o->cb = cb;
    o->arg = arg;
    return o;
}

/* A statement whose only outcome is success or a database error. */
static void on_written(struct pg_result *res, const char *err, void *arg)
{
    done(arg, res != NULL, res ? NULL : "DB_UNAVAILABLE", err);
}

static unsigned long long fills_version;

unsigned long long orders_fills_version(void)
{
    return fills_version;
}

/* A fill's statement ended: a committed fill moves the version first, so cb's readers see it. */
static void on_fill_written(struct pg_result *res, const char *err, void *arg)
{
    if (res) fills_version++;
    on_written(res, err, arg);
}

static int run(struct op *o, const char *sql, int n, const char *const *params, db_result_cb cb)
{
    if (db_query(sql, n, params, DB_TIMEOUT_MS, cb, o) == 0) return 0;
    free(o);
    return -1;
}

/* ---- fills and transitions ---- */

int orders_apply_fill(const struct order_fill *f, orders_cb cb, void *arg)
{
    char qty[32], price[32], slip[32], at[32];
    if (!f || !f->order_id || !f->trace_id || !(f->qty > 0) || !isfinite(f->price)) return -1;
    snprintf(qty, sizeof qty, "%.8f", f->qty);
    snprintf(price, sizeof price, "%.8f", f->price);
    snprintf(slip, sizeof slip, "%.4f", f->slippage_ticks);
    snprintf(at, sizeof at, "%.3f", f->filled_at > 0 ? f->filled_at : clock_wall());
    const char *p[7] = {f->order_id,
                        qty,
                        price,
                        f->simulated ? "true" : "false",
                        f->trace_id,
                        opt(f->broker_fill_id),
                        f->slippage_ticks >= 0 ? slip : NULL};
    char epoch[24] = "";
    if (f->lease_epoch) snprintf(epoch, sizeof epoch, "%lld", f->lease_epoch);
    const char *p9[9] = {p[0], p[1], p[2], p[3], p[4], p[5], p[6], at, epoch[0] ? epoch : NULL};
    return run(
        op_new(f->order_id, f->trace_id, NULL, cb, arg),
        "WITH f AS (SELECT gh_fence((SELECT bot_id FROM orders WHERE id = $1::uuid), $9::bigint)) "
        "SELECT gh_apply_fill($1::uuid, $2::numeric, $3::numeric, $4::boolean, $5, $6, 0, $7::numeric, "
        "to_timestamp($8::float8)) FROM f",
        9, p9, on_fill_written);
}

int orders_transition(const struct order_move *m, orders_cb cb, void *arg)
{
    if (!m || !m->order_id || !m->to || !m->trace_id) return -1;
    struct op *o = op_new(m->order_id, m->trace_id, m->user_id, cb, arg);
    const char *p[8] = {m->order_id, m->to,           opt(m->code),   opt(m->human),
                        m->trace_id, opt(o->user_id), opt(m->broker), opt(m->broker_order_id)};
    return run(o, "SELECT gh_order_transition($1::uuid, $2, $3, $4, $5, $6::uuid, '{}'::jsonb, $7, $8)", 8, p,
               on_written);
}

/* ---- cancel / modify ---- */

static void move_to_cancelled(struct op *o, const char *human)
{
    const char *p[5] = {o->order_id, o->code, human, o->trace_id, opt(o->user_id)};
    if (db_query("SELECT gh_order_transition($1::uuid, 'CANCELLED', $2, $3, $4, $5::uuid)", 5, p,
                 DB_TIMEOUT_MS, on_written, o) < 0)
        done(o, 0, "DB_UNAVAILABLE", "the cancel could not be recorded");
}

static void on_broker_cancel(const struct broker_result *r, void *arg)
{
    struct op *o = arg;
    if (!r->ok) {
        done(o, 0, r->error_code, r->reason);
        return;
    }
    char human[200];
    snprintf(human, sizeof human, "Cancelled at %s (%s).", r->provider_id, o->code);
    move_to_cancelled(o, human);
}

static void on_broker_modify(const struct broker_result *r, void *arg)
{
    struct op *o = arg;
    if (!r->ok) {
        done(o, 0, r->error_code, r->reason);
        return;
    }
    char qty[32];
    snprintf(qty, sizeof qty, "%lld", o->qty);
    const char *p[4] = {o->order_id, qty, o->trace_id, opt(o->user_id)};
    if (db_query("SELECT gh_order_modify($1::uuid, $2::numeric, $3, $4::uuid)", 4, p, DB_TIMEOUT_MS,
                 on_written, o) < 0)
        done(o, 0, "DB_UNAVAILABLE", "the modify could not be recorded");
}

static int is_working(const char *status)
{
    return strcmp(status, "SUBMITTED") == 0 || strcmp(status, "ACCEPTED") == 0 ||
           strcmp(status, "PARTIALLY_FILLED") == 0;
}

#define COPY_COL(o, field, res, col) snprintf((o)->field, sizeof(o)->field, "%s", PQgetvalue(res, 0, col))
#define ORDER_COLS                                                                                           \
    "id::text, bot_id::text, stage, status, coalesce(broker, ''), coalesce(broker_order_id, ''), symbol, "   \
    "(filled_qty)::text, (qty)::text"

/* Reads the order row into o; 0, or -1 after answering cb (not found / not working / database down). */
static int load_order(struct op *o, struct pg_result *res, const char *err)
{
    if (!res) {
        done(o, 0, "DB_UNAVAILABLE", err);
        return -1;
    }
    if (PQntuples(res) != 1) {
        done(o, 0, "NOT_FOUND", "No such order.");
        return -1;
    }
    COPY_COL(o, bot_id, res, 1);
    COPY_COL(o, stage, res, 2);
    COPY_COL(o, status, res, 3);
    COPY_COL(o, broker, res, 4);
    COPY_COL(o, broker_order_id, res, 5);
    COPY_COL(o, symbol, res, 6);
    if (!is_working(o->status)) {
        char human[160];
        snprintf(human, sizeof human,
                 "The order is %s: only SUBMITTED, ACCEPTED or PARTIALLY_FILLED orders can change.",
                 o->status);
        done(o, 0, "ORDER_NOT_WORKING", human);
        return -1;
    }
    return 0;
}

static void on_cancel_loaded(struct pg_result *res, const char *err, void *arg)
{
    struct op *o = arg;
    if (load_order(o, res, err) < 0) return;
    if (strcmp(o->stage, "LIVE") != 0 || !o->broker_order_id[0]) {
        move_to_cancelled(o, "Cancelled by gatehouse (no broker order to cancel).");
        return;
    }
    struct broker_action_req a = {.provider_id = o->broker,
                                  .action = "cancel",
                                  .broker_order_id = o->broker_order_id,
                                  .symbol = o->symbol,
                                  .bot_id = o->bot_id,
                                  .trace_id = o->trace_id,
                                  .user_id = opt(o->user_id),
                                  .gen = policy_current()};
    const char *p[1] = {o->order_id};
    struct op *mark = op_new(o->order_id, o->trace_id, NULL, NULL, NULL);
    if (run(mark, "UPDATE orders SET cancel_requested_at = gh_now() WHERE id = $1::uuid", 1, p, on_written) <
        0)
        LOG_WARN(o->trace_id, "cancel request not recorded", "order=%s", o->order_id);
    if (broker_action(&a, on_broker_cancel, o) < 0)
        done(o, 0, "INVALID_ORDER", "the cancel request could not be built");
}

int orders_cancel(const char *order_id, const char *reason_code, const char *trace_id, const char *user_id,
                  orders_cb cb, void *arg)
{
    if (!order_id || !id_is_uuid(order_id) || !trace_id) return -1;
    struct op *o = op_new(order_id, trace_id, user_id, cb, arg);
    snprintf(o->code, sizeof o->code, "%s", reason_code ? reason_code : "CANCELLED_BY_OPERATOR");
    const char *p[1] = {order_id};
    return run(o, "SELECT " ORDER_COLS " FROM orders WHERE id = $1::uuid", 1, p, on_cancel_loaded);
}

static void on_modify_loaded(struct pg_result *res, const char *err, void *arg)
{
    struct op *o = arg;
    if (load_order(o, res, err) < 0) return;
    if ((double)o->qty <= atof(PQgetvalue(res, 0, 7))) {
        done(o, 0, "VALIDATION_FAILED", "The new quantity must be above the quantity already filled.");
        return;
    }
    if (strcmp(o->stage, "LIVE") == 0 && o->broker_order_id[0]) {
        struct broker_action_req a = {.provider_id = o->broker,
                                      .action = "modify",
                                      .broker_order_id = o->broker_order_id,
                                      .qty = o->qty,
                                      .symbol = o->symbol,
                                      .bot_id = o->bot_id,
                                      .trace_id = o->trace_id,
                                      .user_id = opt(o->user_id),
                                      .gen = policy_current()};
        if (broker_action(&a, on_broker_modify, o) < 0)
            done(o, 0, "INVALID_ORDER", "the modify request could not be built");
        return;
    }
    struct broker_result local = {.ok = 1};
    on_broker_modify(&local, o);
}

int orders_modify(const char *order_id, long long qty, const char *trace_id, const char *user_id,
                  orders_cb cb, void *arg)
{
    if (!order_id || !id_is_uuid(order_id) || !trace_id || qty <= 0) return -1;
    struct op *o = op_new(order_id, trace_id, user_id, cb, arg);
    o->qty = qty;
    const char *p[1] = {order_id};
    return run(o, "SELECT " ORDER_COLS " FROM orders WHERE id = $1::uuid", 1, p, on_modify_loaded);
}

/* ---- kill: cancel every working order, then flatten ---- */

static void flatten(struct cancel_group *g);

static void group_step_done(struct cancel_group *g)
{
    if (--g->pending > 0) return;
    if (g->flatten && g->bot_id[0])
        flatten(g);
    else
        free(g);
}

static void on_group_cancel(int ok, const char *code, const char *human, void *arg)
{
    group_step_done(arg);
}

static void on_working_listed(struct pg_result *res, const char *err, void *arg)
{
    struct cancel_group *g = arg;
    g->pending = 1;
    if (!res) LOG_ERROR(g->trace_id, "kill: working orders not listed", "error=\"%s\"", err);
    for (int i = 0; res && i < PQntuples(res); i++) {
        g->pending++;
        if (orders_cancel(PQgetvalue(res, i, 0), g->code, g->trace_id, opt(g->user_id), on_group_cancel, g) <
            0)
            g->pending--;
    }
    group_step_done(g);
}

void orders_cancel_working(const char *bot_id, const char *reason_code, const char *trace_id,
                           const char *user_id, int flatten_after)
{
    struct cancel_group *g = calloc(1, sizeof *g);
    snprintf(g->bot_id, sizeof g->bot_id, "%s", bot_id ? bot_id : "");
    snprintf(g->trace_id, sizeof g->trace_id, "%s", trace_id);
    snprintf(g->user_id, sizeof g->user_id, "%s", user_id && id_is_uuid(user_id) ? user_id : "");
    snprintf(g->code, sizeof g->code, "%s", reason_code ? reason_code : "KILLED");
    g->flatten = flatten_after;
    const char *p[1] = {opt(g->bot_id)};
    // clang-format off
    if (db_query("SELECT id::text FROM orders WHERE ($1::uuid IS NULL OR bot_id = $1::uuid) AND status IN "
                 ORDERS_WORKING_SQL " ORDER BY created_at",
                 1, p, DB_TIMEOUT_MS, on_working_listed, g) < 0) {
        // clang-format on
        LOG_ERROR(trace_id, "kill: working orders not listed", "error=\"queue full\"");
        free(g);
    }
}

/* Flatten: the position of the bot's stage closed by a market order. */
struct flat {
    char order_id[37], bot_id[37], trace_id[33], user_id[37], symbol[64], side[8];
    long long qty;
    double mark;
    int has_mark;
};

static void on_flat_filled(int ok, const char *code, const char *human, void *arg)
{
    free(arg);
}

static void on_flat_sent(const struct broker_result *r, void *arg)
{
    struct flat *f = arg;
    struct order_move m = {.order_id = f->order_id,
                           .to = r->ok ? "SUBMITTED" : "REJECTED",
                           .trace_id = f->trace_id,
                           .code = r->ok ? NULL : r->error_code,
                           .human = r->ok ? NULL : r->reason,
                           .user_id = opt(f->user_id),
                           .broker = r->provider_id,
                           .broker_order_id = r->ok ? r->broker_order_id : NULL};
    if (orders_transition(&m, NULL, NULL) < 0)
        LOG_ERROR(f->trace_id, "flatten order not recorded", "order=%s", f->order_id);
    free(f);
}

static void on_flat_order(struct pg_result *res, const char *err, void *arg)
{
    struct flat *f = arg;
    if (!res || PQntuples(res) != 1) {
        LOG_ERROR(f->trace_id, "flatten order not written", "bot=%s error=\"%s\"", f->bot_id,
                  err ? err : "no row");
        free(f);
        return;
    }
    snprintf(f->order_id, sizeof f->order_id, "%s", PQgetvalue(res, 0, 0));
    if (strcmp(PQgetvalue(res, 0, 1), "LIVE") == 0) {
        struct broker_order o = {f->symbol,
                                 f->side,
                                 f->qty,
                                 f->bot_id,
                                 NULL,
                                 f->trace_id,
                                 opt(f->user_id),
                                 status_execution_provider(0),
                                 policy_current(),
                                 NULL};
        if (broker_place_order(&o, on_flat_sent, f) < 0) free(f);
        return;
    }
    if (!f->has_mark) { /* no price seen yet: the paper order stays SUBMITTED and fills at the next bar */
        free(f);
        return;
    }
    struct order_fill fill = {f->order_id, f->trace_id, (double)f->qty, f->mark, 1, NULL, -1, 0, 0};
    if (orders_apply_fill(&fill, on_flat_filled, f) < 0) free(f);
}

static void on_position_for_flatten(struct pg_result *res, const char *err, void *arg)
{
    struct cancel_group *g = arg;
    if (res && PQntuples(res) == 1) {
        double qty = atof(PQgetvalue(res, 0, 2));
        struct flat *f = calloc(1, sizeof *f);
        snprintf(f->bot_id, sizeof f->bot_id, "%s", g->bot_id);
        snprintf(f->trace_id, sizeof f->trace_id, "%s", g->trace_id);
        snprintf(f->user_id, sizeof f->user_id, "%s", g->user_id);
        snprintf(f->symbol, sizeof f->symbol, "%s", PQgetvalue(res, 0, 1));
        snprintf(f->side, sizeof f->side, "%s", qty > 0 ? "SELL" : "BUY");
        f->qty = llround(fabs(qty));
        f->has_mark = !PQgetisnull(res, 0, 3);
        f->mark = f->has_mark ? atof(PQgetvalue(res, 0, 3)) : 0;
        const char *stage = PQgetvalue(res, 0, 0);
        char sqty[32];
        snprintf(sqty, sizeof sqty, "%lld", f->qty);
        const char *p[6] = {f->bot_id, stage, f->symbol, f->side, sqty, f->trace_id};
        if (f->qty <= 0 ||
            db_query(
                "INSERT INTO orders (bot_id, stage, symbol, side, qty, order_type, status, trace_id) "
                "VALUES ($1, $2, $3, $4, $5::numeric, 'MARKET', CASE WHEN $2 = 'PAPER' THEN 'SUBMITTED' ELSE 'INTENT' END, $6) "
                "RETURNING id::text, stage",
                6, p, DB_TIMEOUT_MS, on_flat_order, f) < 0)
            free(f);
    } else if (!res) {
        LOG_ERROR(g->trace_id, "flatten: position not read", "bot=%s error=\"%s\"", g->bot_id, err);
    }
    free(g);
}

static void flatten(struct cancel_group *g)
{
    const char *p[1] = {g->bot_id};
    if (db_query("SELECT b.stage, p.symbol, p.qty::text, p.mark_price::text FROM bots b JOIN positions p "
                 "ON p.bot_id = b.id AND p.stage = b.stage AND p.symbol = b.symbol "
                 "WHERE b.id = $1::uuid AND b.stage IN ('PAPER', 'LIVE') AND p.qty <> 0",
                 1, p, DB_TIMEOUT_MS, on_position_for_flatten, g) < 0)
        free(g);
}
