/* runner.c — the tick pipeline as a chain of callbacks; each step owns one stage of runner.h's list. */
#include "clock.h"
#include "runner.h"

#include <libpq-fe.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bar_share.h"
#include "bars.h"
#include "broker.h"
#include "db.h"
#include "id.h"
#include "idset.h"
#include "instances.h"
#include "llm.h"
#include "log.h"
#include "fleet.h"
#include "marketdata.h"
#include "orders.h"
#include "risk_watch.h"
#include "policy.h"
#include "status.h"
#include "telemetry.h"
#include "tick_batch.h"

#define LOOKBACK_MINUTES 240
#define BARS_FOR_FEATURES 300 /* newest bars handed to features.lua */
#define MAX_TICKING 1024
#define DB_TIMEOUT_MS 3000

struct tick {
    char bot_id[37], run_id[37], trace_id[33];
    char user_id[37]; /* the operator who pressed Tick, "" for scheduled ticks */
    json_t *bot, *position, *pending, *summary;
    int orders_last_minute;
    double working_buy,
        working_sell;      /* contracts of this bot's working orders (stage of the bot), not yet filled */
    double realized_today; /* realized P&L of today's fills (UTC day), points x contracts */
    size_t next_fill;      /* fill_pending: index of the next pending paper order */
    int fills;
    char tier[24]; /* autonomy_scores.autonomy_tier, "" when the bot was never scored */
    int autonomy_score;
    struct tick_env env;
    json_t *bars, *features, *prev_features, *decision, *risk, *market;
    char provider[64];
    struct bar_share
        *share;     /* the bars of this tick (shared with the other bots of its second, or private) */
    int share_bars; /* scheduled ticks share market data; manual ticks fetch fresh */
    time_t now;     /* the tick's instant (clock.h): market hours, the bars' window and risk read it */
    struct runner_lease lease;          /* epoch (0 until known for a manual tick) and slot (-1: manual) */
    char epoch[24], slot[24];           /* as text for the fenced statements ("" slot: manual) */
    char end_outcome[16], end_code[64]; /* a no-trade ending, kept while its trace is written */
    double started_ms;
    runner_done_cb cb;
    void *arg;
};

/* The bots with a tick running: ticks of one bot never overlap. */
static struct idset *ticking;

static const char *bot_str(const struct tick *t, const char *key)
{
    return json_string_value(json_object_get(t->bot, key));
}

static double num(const json_t *o, const char *key, double def)
{
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : json_is_string(v) ? atof(json_string_value(v)) : def;
}

/* ---- bookkeeping ---- */

static int claim(const char *bot_id)
{
    if (!ticking && !(ticking = idset_new(MAX_TICKING))) return -1;
    return idset_add(ticking, bot_id);
}

static void release_claim(const char *bot_id)
{
    if (ticking) idset_remove(ticking, bot_id);
}

int runner_active(void)
{
    return ticking ? (int)idset_count(ticking) : 0;
}

static void on_write(struct pg_result *res, const char *err, void *arg)
{
    if (!res) LOG_ERROR((const char *)arg, "runner write failed", "error=\"%s\"", err);
    free(arg);
}

/* Fire-and-forget write; failures are logged with the tick's trace id. */
static void write_sql(const struct tick *t, const char *sql, int n, const char *const *params)
{
    char *trace = strdup(t->trace_id);
    if (db_query(sql, n, params, DB_TIMEOUT_MS, on_write, trace) < 0) {
        LOG_ERROR(t->trace_id, "runner write not queued", NULL);
        free(trace);
    }
}

/* ---- the tick's environment ---- */

static void env_release(struct tick_env *env)
{
    json_decref(env->safe_start);
    json_decref(env->market_data);
    json_decref(env->llm);
    json_decref(env->execution);
    json_decref(env->execution_backups);
    policy_release(env->gen);
    memset(env, 0, sizeof *env);
}

/* The gate's answer and the candidates of the decision it was taken against (the same loop turn). */
static void env_gated(struct tick_env *env, json_t *answer)
{
    const json_t *decision = status_decision();
    env->safe_start = answer;
    env->market_data = status_candidates(decision, "market_data");
    env->llm = status_candidates(decision, "llm");
    env->execution = status_candidates(decision, "execution");
    env->execution_backups = status_candidates(decision, "execution_backups");
}

static void usage(const struct tick *t, const char *provider, const char *op, const char *status, int latency,
                  const char *error_code, json_t *meta)
{
    struct usage_event ev = {.provider_id = provider,
                             .operation = op,
                             .status = status,
                             .bot_id = t->bot_id,
                             .run_id = t->run_id,
                             .user_id = t->user_id[0] ? t->user_id : NULL,
                             .latency_ms = latency,
                             .symbol = bot_str(t, "symbol"),
                             .timeframe = bot_str(t, "timeframe"),
                             .records = -1,
                             .error_code = error_code,
                             .trace_id = t->trace_id,
                             .metadata = meta};
    telemetry_usage(&ev);
    json_decref(meta);
}

/* Ends the tick: runner.tick event, heartbeat, summary to the caller. */
static void finish(struct tick *t, const char *outcome, const char *reason_code)
{
    int latency = (int)(clock_now_ms() - t->started_ms);
    json_object_set_new(t->summary, "outcome", json_string(outcome));
    json_object_set_new(t->summary, "reason_code", reason_code ? json_string(reason_code) : json_null());
    json_object_set_new(t->summary, "latency_ms", json_integer(latency));
    json_t *meta =
        json_pack("{s:s, s:o, s:o}", "outcome", outcome, "provider",
                  t->provider[0] ? json_string(t->provider) : json_null(), "action",
                  json_incref(json_object_get(t->summary, "action") ? json_object_get(t->summary, "action")
                                                                    : json_null()));
    /* the variables the strategy decided on: the variable catalog's last_seen_at / used_by_bot_ids come from
     * here */
    if (json_object_get(t->summary, "bars_source_trace_id"))
        json_object_set(meta, "bars_source_trace_id", json_object_get(t->summary, "bars_source_trace_id"));
    /* who ticked which slot under which epoch: the fleet's proof of one tick per bot and slot */
    json_object_set_new(meta, "instance_id", json_string(id_instance()));
    json_object_set_new(meta, "lease_epoch", json_integer(t->lease.epoch));
    if (t->lease.slot >= 0) json_object_set_new(meta, "tick_slot", json_integer(t->lease.slot));
    if (json_is_array(json_object_get(t->summary, "feature_keys_used")))
        json_object_set(meta, "feature_keys_used", json_object_get(t->summary, "feature_keys_used"));
    usage(t, "runner", "runner.tick",
          strcmp(outcome, "BLOCKED") == 0 ? "BLOCKED"
          : strcmp(outcome, "ERROR") == 0 ? "ERROR"
                                          : "OK",
          latency, strcmp(outcome, "TRADED") && strcmp(outcome, "SUPPRESSED") ? reason_code : NULL, meta);
    instance_heartbeat(t->bot_id, t->trace_id);
    LOG_INFO(t->trace_id, "tick", "bot=%s outcome=%s reason=%s provider=%s ms=%d epoch=%lld slot=%s",
             t->bot_id, outcome, reason_code ? reason_code : "-", t->provider[0] ? t->provider : "-", latency,
             t->lease.epoch, t->slot[0] ? t->slot : "-");
    t->cb(t->summary, NULL, NULL, t->arg);
    release_claim(t->bot_id);
    json_decref(t->bot);
    json_decref(t->position);
    json_decref(t->pending);
    json_decref(t->summary);
    json_decref(t->bars);
    json_decref(t->features);
    json_decref(t->prev_features);
    json_decref(t->decision);
    json_decref(t->risk);
    json_decref(t->market);
    bar_share_release(t->share);
    env_release(&t->env);
    free(t);
}

/* ---- traces ---- */

/* Compact JSON text of v, or "{}" when v is NULL (never a temporary object: that would leak). */
static char *json_text_or_empty(const json_t *v)
{
    return v ? json_dumps(v, JSON_COMPACT) : strdup("{}");
}

/* The variables snapshot of a trace: the features plus which provider served the bars. */
static char *snapshot_build(const struct tick *t)
{
    json_t *v = t->features ? json_deep_copy(t->features) : json_object();
    json_object_set_new(v, "data_provider", t->provider[0] ? json_string(t->provider) : json_null());
    if (json_is_object(t->market))
        json_object_set(v, "market_session", json_object_get(t->market, "session"));
    char *text = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    return text;
}

/* The bots of one bar share, params and market second have the same snapshot: its text is kept for them,
 * keyed by the (pinned) features and market objects and the provider. */
#define SNAPSHOT_MEMO 32
static struct snapshot_memo {
    json_t *features, *market;
    char provider[64];
    char *text;
} snap_memo[SNAPSHOT_MEMO];
static int snap_next;

static char *snapshot_text(const struct tick *t)
{
    if (!t->features) return snapshot_build(t);
    for (int i = 0; i < SNAPSHOT_MEMO; i++) {
        struct snapshot_memo *m = &snap_memo[i];
        if (m->text && m->features == t->features && m->market == t->market &&
            strcmp(m->provider, t->provider) == 0)
            return strdup(m->text);
    }
    char *text = snapshot_build(t);
    if (!text) return NULL;
    struct snapshot_memo *m = &snap_memo[snap_next];
    snap_next = (snap_next + 1) % SNAPSHOT_MEMO;
    json_decref(m->features);
    json_decref(m->market);
    free(m->text);
    m->features = json_incref(t->features); /* pinned: the pointers stay theirs while they key the text */
    m->market = json_incref(t->market);
    snprintf(m->provider, sizeof m->provider, "%s", t->provider);
    m->text = strdup(text);
    return text;
}

#define LEASE_LOST_HUMAN TICK_BATCH_LEASE_LOST_HUMAN

/* The no-trade trace is written: a fence refusal turned it into LEASE_LOST (and so the tick's outcome). */
static void on_no_trade_written(const char *written_code, const char *err, void *arg)
{
    struct tick *t = arg;
    if (!written_code)
        LOG_ERROR(t->trace_id, "no-trade trace not written", "error=\"%s\"", err);
    else if (strcmp(written_code, "LEASE_LOST") == 0 && strcmp(t->end_code, "LEASE_LOST") != 0) {
        LOG_WARN(t->trace_id, "fleet: tick fenced", "bot=%s epoch=%s", t->bot_id, t->epoch);
        json_object_set_new(t->summary, "suppression_type", json_string("LEASE"));
        json_object_set_new(t->summary, "blocked_by", json_pack("[s]", "LEASE_LOST"));
        snprintf(t->end_outcome, sizeof t->end_outcome, "BLOCKED");
        snprintf(t->end_code, sizeof t->end_code, "LEASE_LOST");
    }
    finish(t, t->end_outcome, t->end_code[0] ? t->end_code : NULL);
}

/* Ends the tick with a no-trade trace. The trace is fenced with the tick's epoch: when the epoch is no longer
 * current the row is written as LEASE_LOST instead (with the stale epoch, so the refusal is on record) and
 * the tick ends BLOCKED with that code. */
static void no_trade(struct tick *t, const char *suppression_type, const char *reason_code,
                     const char *reason_human, json_t *blocked_by, const char *outcome)
{
    json_t *signals = json_incref(json_object_get(t->decision, "signals"));
    char *sig = json_text_or_empty(signals);
    char *vars = snapshot_text(t);
    char *blk = json_dumps(blocked_by, JSON_COMPACT);
    struct tick_trace tr = {t->bot_id,
                            suppression_type,
                            strcmp(outcome, "BLOCKED") == 0 ? "BLOCKED" : "SKIP",
                            reason_human,
                            reason_code,
                            blk,
                            sig,
                            vars,
                            t->trace_id,
                            t->epoch};
    snprintf(t->end_outcome, sizeof t->end_outcome, "%s", outcome);
    snprintf(t->end_code, sizeof t->end_code, "%s", reason_code ? reason_code : "");
    json_object_set_new(t->summary, "suppression_type", json_string(suppression_type));
    json_object_set_new(t->summary, "blocked_by", blocked_by);
    /* written with the other ticks' traces of the next few ms: one statement, fenced per row */
    if (tick_batch_trace(&tr, on_no_trade_written, t) < 0) {
        LOG_ERROR(t->trace_id, "no-trade trace not queued", NULL);
        finish(t, outcome, reason_code);
    }
    free(sig);
    free(vars);
    free(blk);
    json_decref(signals);
}

/* Ends a tick whose writes fencing refused (or whose lease lapsed before a LIVE send): no order in the
 * summary, a LEASE_LOST no-trade trace, BLOCKED. */
static void lease_lost(struct tick *t)
{
    json_object_del(t->summary, "order");
    no_trade(t, "LEASE", "LEASE_LOST", LEASE_LOST_HUMAN, json_pack("[s]", "LEASE_LOST"), "BLOCKED");
}

static json_t *codes_of(const json_t *blockers)
{
    json_t *out = json_array(), *b;
    size_t i;
    json_array_foreach(blockers, i, b) json_array_append(out, json_object_get(b, "code"));
    return out;
}

/* ---- policies ---- */

static json_t *call1(struct tick *t, const char *module, const char *fn, const json_t *a, const json_t *b)
{
    char err[1024];
    const json_t *args[2] = {a, b};
    json_t *first = policy_call_first(t->env.gen, module, fn, args, b ? 2 : 1, err, sizeof err);
    if (!first) LOG_ERROR(t->trace_id, "policy call failed", "module=%s fn=%s error=\"%s\"", module, fn, err);
    return first;
}

/* Runs scripts/risk.lua check(rctx) (rctx consumed) into t->risk and writes the risk.check usage event. The
 * tier sets LIVE limits (risk.lua reduces them for LIMITED_AUTONOMY); PAPER/SHADOW keep the normal ones. */
static void check_risk(struct tick *t, json_t *rctx, const char *action)
{
    if (t->tier[0] && strcmp(bot_str(t, "stage"), "LIVE") == 0)
        json_object_set_new(rctx, "tier", json_string(t->tier));
    double r0 = clock_now_ms();
    t->risk = call1(t, "scripts/risk.lua", "check", rctx, NULL);
    json_decref(rctx);
    int allowed = json_is_true(json_object_get(t->risk, "allowed"));
    const char *code = json_string_value(json_object_get(t->risk, "reason_code"));
    usage(t, "risk_engine", "risk.check",
          !t->risk  ? "ERROR"
          : allowed ? "OK"
                    : "BLOCKED",
          (int)(clock_now_ms() - r0),
          !t->risk  ? "RISK_ENGINE_NOT_ENFORCING"
          : allowed ? NULL
                    : code,
          json_pack("{s:s, s:O}", "action", action, "violations",
                    json_object_get(t->risk, "violations") ? json_object_get(t->risk, "violations")
                                                           : json_array()));
}

static json_t *risk_context(struct tick *t, double mark);
static int held_breach(struct tick *t);

/* ---- paper fills: the same path as broker fills (orders.h) ---- */

static void decide_and_act(struct tick *t);

static void fill_next(struct tick *t);

static void on_position_reloaded(struct pg_result *res, const char *err, void *arg)
{
    struct tick *t = arg;
    if (res && PQntuples(res) == 1) {
        json_decref(t->position);
        t->position = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
        if (!t->position) t->position = json_object();
        t->realized_today = atof(PQgetvalue(res, 0, 1));
        t->working_buy = atof(PQgetvalue(res, 0, 2));
        t->working_sell = atof(PQgetvalue(res, 0, 3));
    } else if (!res) {
        no_trade(t, "POLICY", "DB_UNAVAILABLE",
                 "The position could not be read after the fills; no order without it.",
                 json_pack("[s]", "DB_UNAVAILABLE"), "ERROR");
        return;
    }
    json_object_set_new(t->summary, "fills", json_integer(t->fills));
    decide_and_act(t);
}

#define POSITION_SQL(bot, stage)                                                                             \
    "(SELECT row_to_json(p) FROM positions p WHERE p.bot_id = " bot " AND p.stage = " stage                  \
    " AND p.symbol = b.symbol)"

/* After the fills: the position, today's realized P&L and the working orders as they now are. */
static void reload_position(struct tick *t)
{
    const char *p[1] = {t->bot_id};
    // clang-format off
    if (db_query("SELECT coalesce(" POSITION_SQL("b.id", "b.stage") "::text, '{}'), " ORDERS_REALIZED_TODAY_SQL("b.id", "b.stage")
                 "::text, " ORDERS_WORKING_QTY_SQL("b.id", "b.stage", "BUY") "::text, " ORDERS_WORKING_QTY_SQL("b.id", "b.stage", "SELL")
                 "::text FROM bots b WHERE b.id = $1",
                 1, p, DB_TIMEOUT_MS, on_position_reloaded, t) < 0)
        no_trade(t, "POLICY", "DB_UNAVAILABLE", "The position could not be read after the fills.",
                 json_pack("[s]", "DB_UNAVAILABLE"), "ERROR");
    // clang-format on
}

static void on_paper_fill(int ok, const char *code, const char *human, void *arg)
{
    struct tick *t = arg;
    if (!ok && human && strstr(human, "LEASE_LOST")) {
        lease_lost(t);
        return;
    }
    if (ok)
        t->fills++;
    else
        LOG_ERROR(t->trace_id, "paper fill failed", "code=%s error=\"%s\"", code ? code : "-",
                  human ? human : "");
    fill_next(t);
}

/* Fills pending PAPER orders one after another (each its own transaction through gh_apply_fill), then reloads
 * the position; a tick with nothing to fill goes straight on. */
static void fill_next(struct tick *t)
{
    while (t->next_fill < json_array_size(t->pending)) {
        const json_t *o = json_array_get(t->pending, t->next_fill++);
        const json_t *params_obj = json_object_get(t->bot, "params");
        const char *side = json_string_value(json_object_get(o, "side"));
        double price =
            broker_paper_fill_price(t->bars, num(o, "created_epoch", 0), side && strcmp(side, "BUY") == 0,
                                    num(params_obj, "tick_size", 0.25), num(params_obj, "slippage_ticks", 1));
        if (price <= 0) continue;
        struct order_fill f = {
            json_string_value(json_object_get(o, "id")), t->trace_id, num(o, "qty", 0), price, 1, NULL,
            num(params_obj, "slippage_ticks", 1),        0,           t->lease.epoch};
        if (orders_apply_fill(&f, on_paper_fill, t) == 0) return;
        LOG_ERROR(t->trace_id, "paper fill not queued", NULL);
    }
    if (t->fills > 0)
        reload_position(t);
    else {
        json_object_set_new(t->summary, "fills", json_integer(0));
        decide_and_act(t);
    }
}

/* ---- execution ---- */

/* The status the order is written with (broker_stage_status); a LIVE order passes the LIVE gates first, here
 * at execution (a refusal fills blockers). */
static const char *order_status_for(const struct tick *t, json_t **blockers)
{
    const char *stage = bot_str(t, "stage");
    *blockers = NULL;
    if (strcmp(stage, "PAPER") == 0 || strcmp(stage, "SHADOW") == 0) return broker_stage_status(stage, 0);
    json_t *req = json_pack("{s:s, s:b, s:s}", "stage", "LIVE", "requires_ai",
                            json_is_true(json_object_get(t->bot, "requires_ai")), "bot_id", t->bot_id);
    /* LIVE orders need an autonomy tier that allows LIVE (gates.lua); a bot never scored has none: fail
     * closed */
    json_object_set_new(req, "autonomy_tier", json_string(t->tier[0] ? t->tier : "LOCKED"));
    if (t->tier[0])
        json_object_set_new(req, "autonomy_score", json_integer(t->autonomy_score));
    else
        json_object_set_new(req, "autonomy_reason", json_string("The bot has no autonomy score yet."));
    json_t *answer = status_safe_start(req, t->trace_id);
    json_decref(req);
    int allowed = json_is_true(json_object_get(answer, "allowed"));
    if (!allowed) *blockers = json_incref(json_object_get(answer, "blockers"));
    json_decref(answer);
    /* allowed: an INTENT that trade() writes and on_trade_written submits (SUBMITTED or REJECTED by the
     * answer) */
    return broker_stage_status(stage, allowed);
}

/* The tick's outcome is the order's fate: BLOCKED and REJECTED orders end the tick BLOCKED with their code.
 */
static void finish_with_order(struct tick *t)
{
    json_t *order = json_object_get(t->summary, "order");
    const char *status = json_string_value(json_object_get(order, "status"));
    const char *code = json_string_value(json_object_get(order, "blocked_reason_code"));
    if (status && (strcmp(status, "BLOCKED") == 0 || strcmp(status, "REJECTED") == 0))
        finish(t, "BLOCKED", code ? code : status);
    else
        finish(t, "TRADED", json_string_value(json_object_get(t->decision, "reason_code")));
}

/* A kill that landed while the broker call was in flight found the order still INTENT and could not cancel
 * it: once SUBMITTED, an order of a bot no longer desired RUNNING is cancelled at the broker at once. */
static void on_desired_state(struct pg_result *res, const char *err, void *arg)
{
    struct tick *t = arg;
    const char *order_id = json_string_value(json_object_get(json_object_get(t->summary, "order"), "id"));
    if (res && PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "KILLED") == 0 && order_id &&
        orders_cancel(order_id, "KILLED", t->trace_id, NULL, NULL, NULL) < 0)
        LOG_ERROR(t->trace_id, "order of a killed bot not cancelled", "order=%s", order_id);
    finish_with_order(t);
}

static void on_live_moved(int ok, const char *code, const char *human, void *arg)
{
    struct tick *t = arg;
    const char *status = json_string_value(json_object_get(json_object_get(t->summary, "order"), "status"));
    const char *p[1] = {t->bot_id};
    if (!ok)
        LOG_ERROR(t->trace_id, "LIVE order state not recorded", "code=%s error=\"%s\"", code ? code : "-",
                  human ? human : "");
    if (ok && status && strcmp(status, "SUBMITTED") == 0 &&
        db_query("SELECT desired_state FROM bots WHERE id = $1", 1, p, DB_TIMEOUT_MS, on_desired_state, t) ==
            0)
        return;
    finish_with_order(t);
}

/* The broker's answer to a LIVE order: INTENT → SUBMITTED with its order id, or → REJECTED with its reason.
 * Never a fill: fills come from the broker (reconcile.h). */
static void on_broker(const struct broker_result *r, void *arg)
{
    struct tick *t = arg;
    json_t *order = json_object_get(t->summary, "order");
    json_object_set_new(order, "status", json_string(r->ok ? "SUBMITTED" : "REJECTED"));
    if (r->provider_id) json_object_set_new(order, "broker", json_string(r->provider_id));
    if (r->ok)
        json_object_set_new(order, "broker_order_id", json_string(r->broker_order_id));
    else
        json_object_set_new(order, "blocked_reason_code", json_string(r->error_code));
    struct order_move m = {.order_id = json_string_value(json_object_get(order, "id")),
                           .to = r->ok ? "SUBMITTED" : "REJECTED",
                           .trace_id = t->trace_id,
                           .code = r->ok ? NULL : r->error_code,
                           .human = r->ok ? NULL : r->reason,
                           .broker = r->provider_id,
                           .broker_order_id = r->ok ? r->broker_order_id : NULL};
    if (orders_transition(&m, on_live_moved, t) < 0) finish_with_order(t);
}

/* Submits the written order for the bot's stage: a LIVE INTENT goes to the broker (on_broker records its
 * answer); PAPER and SHADOW orders send nothing and the tick ends with the order as written. */
/* A scheduled LIVE order goes to the broker only while this instance still holds the lease it was written
 * under (by the monotonic clock: a process paused past its lease finds it lapsed). Otherwise the INTENT is
 * cancelled with LEASE_LOST and nothing is sent. Returns 1 when it may be sent. */
static int lease_still_held(struct tick *t)
{
    if (t->lease.slot < 0) return 1; /* manual: fenced at the INTENT's write */
    return fleet_shard_epoch((int)num(t->bot, "shard", -1)) == t->lease.epoch;
}

static void on_intent_cancelled(int ok, const char *code, const char *human, void *arg)
{
    struct tick *t = arg;
    if (!ok) LOG_ERROR(t->trace_id, "fenced INTENT not cancelled", "error=\"%s\"", human ? human : "");
    lease_lost(t);
}

static void submit(struct tick *t, const char *status)
{
    if (strcmp(status, "INTENT") == 0 && strcmp(bot_str(t, "stage"), "LIVE") == 0 && !lease_still_held(t)) {
        struct order_move m = {
            .order_id = json_string_value(json_object_get(json_object_get(t->summary, "order"), "id")),
            .to = "CANCELLED",
            .trace_id = t->trace_id,
            .code = "LEASE_LOST",
            .human = LEASE_LOST_HUMAN};
        if (orders_transition(&m, on_intent_cancelled, t) == 0) return;
        on_intent_cancelled(0, NULL, "not queued", t);
        return;
    }
    double q = num(t->decision, "qty", 1);
    struct broker_order o = {bot_str(t, "symbol"),
                             json_string_value(json_object_get(t->decision, "side")),
                             (long long)llround(q),
                             t->bot_id,
                             t->run_id,
                             t->trace_id,
                             t->user_id[0] ? t->user_id : NULL,
                             NULL,
                             t->env.gen,
                             t->env.execution};
    int sent = broker_submit(bot_str(t, "stage"), status, &o, on_broker, t);
    if (sent > 0) return;
    if (sent == 0) {
        finish_with_order(t);
        return;
    }
    struct broker_result bad = {
        0, NULL, NULL, "INVALID_ORDER", "The order cannot be sent: the side must be BUY or SELL.", NULL};
    on_broker(&bad, t);
}

static void on_trade_written(struct pg_result *res, const char *err, void *arg)
{
    struct tick *t = arg;
    if (!res && err && strstr(err, "LEASE_LOST")) {
        lease_lost(t);
        return;
    }
    if (!res && err && strstr(err, "orders_bot_tick_slot")) {
        json_object_del(t->summary, "order");
        no_trade(
            t, "LEASE", "TICK_SLOT_TAKEN",
            "Another tick of this bot already placed the order of this tick slot; this one placed nothing.",
            json_pack("[s]", "TICK_SLOT_TAKEN"), "BLOCKED");
        return;
    }
    if (!res || PQntuples(res) != 1) {
        LOG_ERROR(t->trace_id, "trade write failed", "error=\"%s\"", err ? err : "no row");
        finish(t, "ERROR", "DB_UNAVAILABLE");
        return;
    }
    json_object_set_new(t->summary, "decision_trace_id", json_string(PQgetvalue(res, 0, 1)));
    json_object_set_new(json_object_get(t->summary, "order"), "id", json_string(PQgetvalue(res, 0, 0)));
    submit(t, json_string_value(json_object_get(json_object_get(t->summary, "order"), "status")));
}

/* Writes the decision trace and the order row (status INTENT, BLOCKED, or SUBMITTED for PAPER: the creations
 * orders.h allows). code/human: the blocked reason (or NULL). blockers (may be NULL) is only read. A LIVE
 * INTENT is committed before the broker is called (on_trade_written sends it). */
static void write_trade(struct tick *t, const char *status, const json_t *blockers, const char *code,
                        const char *human)
{
    char *sig = json_text_or_empty(json_object_get(t->decision, "signals"));
    char *vars = snapshot_text(t);
    char *risk = json_text_or_empty(json_object_get(t->risk, "risk_snapshot"));
    char conf[32] = "", ev[32] = "", qty[32];
    json_t *c = json_object_get(t->decision, "confidence"),
           *e = json_object_get(t->decision, "expected_value");
    if (json_is_number(c)) snprintf(conf, sizeof conf, "%.6f", json_number_value(c));
    if (json_is_number(e)) snprintf(ev, sizeof ev, "%.6f", json_number_value(e));
    snprintf(qty, sizeof qty, "%.6f", num(t->decision, "qty", 1));
    const char *p[15] = {t->bot_id,
                         json_string_value(json_object_get(t->decision, "action")),
                         json_string_value(json_object_get(t->decision, "reason_human")),
                         json_string_value(json_object_get(t->decision, "reason_code")),
                         sig,
                         vars,
                         conf[0] ? conf : NULL,
                         ev[0] ? ev : NULL,
                         risk,
                         t->trace_id,
                         bot_str(t, "stage"),
                         bot_str(t, "symbol"),
                         json_string_value(json_object_get(t->decision, "side")),
                         qty,
                         status};
    const char *p2[21];
    memcpy(p2, p, sizeof p);
    p2[15] = code;
    p2[16] = code ? (human ? human : code) : NULL;
    p2[17] = NULL;
    p2[18] = NULL;
    p2[19] = t->epoch;
    p2[20] = t->slot;
    json_t *order = json_pack("{s:s, s:o}", "status", status, "blocked_reason_code",
                              code ? json_string(code) : json_null());
    json_object_set_new(t->summary, "order", order);
    if (blockers) json_object_set_new(t->summary, "blocked_by", codes_of(blockers));
    if (db_query(
            "WITH f AS (SELECT gh_fence($1::uuid, $20::bigint)), "
            "tr AS (INSERT INTO decision_traces (bot_id, decision_type, reason_human, reason_code, signals, "
            "  variables_snapshot, confidence, expected_value, risk_snapshot, trace_id) "
            "  SELECT $1, $2, $3, $4, $5::jsonb, $6::jsonb, $7::float8, $8::float8, $9::jsonb, $10 FROM f "
            "  RETURNING id) "
            "INSERT INTO orders (bot_id, stage, symbol, side, qty, order_type, status, blocked_reason_code, "
            "  blocked_reason_human, broker, broker_order_id, decision_trace_id, trace_id, tick_slot, "
            "  idempotency_key) "
            "SELECT $1, $11, $12, $13, $14::numeric, 'MARKET', $15, $16, $17, $18, $19, tr.id, $10, "
            "  nullif($21::text, '')::bigint, CASE WHEN $21::text = '' THEN NULL "
            "  ELSE $1::text || ':' || $20::bigint::text || ':' || $21::text END FROM tr "
            "RETURNING id::text, decision_trace_id::text",
            21, p2, DB_TIMEOUT_MS, on_trade_written, t) < 0)
        finish(t, "ERROR", "DB_UNAVAILABLE");
    free(sig);
    free(vars);
    free(risk);
}

static void trade(struct tick *t)
{
    json_t *blockers = NULL;
    const char *status = order_status_for(t, &blockers);
    const char *code =
        blockers ? json_string_value(json_object_get(json_array_get(blockers, 0), "code")) : NULL;
    const char *human =
        blockers ? json_string_value(json_object_get(json_array_get(blockers, 0), "reason_human")) : NULL;
    int live = strcmp(bot_str(t, "stage"), "LIVE") == 0;
    double q = num(t->decision, "qty", 1);
    if (live && strcmp(status, "INTENT") == 0) {
        if (q == (double)llround(q) && q >= 1) {
            write_trade(t, "INTENT", NULL, NULL, NULL); /* committed first; on_trade_written sends it */
            return;
        }
        status = "BLOCKED";
        code = "INVALID_ORDER";
        human = "The order cannot be sent: the quantity must be a whole number of contracts.";
    }
    /* a refused order is a usage event of the broker it was for: the primary, else the first backup */
    const char *broker = json_string_value(json_array_get(t->env.execution, 0));
    if (!broker) broker = json_string_value(json_array_get(t->env.execution_backups, 0));
    if (live)
        usage(t, broker ? broker : "runner", "broker.place_order", "BLOCKED", 0, code,
              json_pack("{s:s, s:s, s:f}", "action", json_string_value(json_object_get(t->decision, "side")),
                        "stage", "LIVE", "qty", q));
    write_trade(t, status, blockers, code, human);
    json_decref(blockers); /* code and human point into it: released only after db_query copied them */
}

/* ---- decision ---- */

static void decide_with(struct tick *t, json_t *ctx, const char *module);

/* A strategy with llm_request(ctx) waits here for the LLM answer; ctx.llm is set only when one answered. */
struct llm_wait {
    struct tick *t;
    json_t *ctx;
    char module[160];
};

/* The answer's regime: the "regime" member of a JSON object answer (the simulator's shape), else the text. */
static json_t *regime_of(const char *text)
{
    json_t *doc = json_loads(text, JSON_DECODE_ANY, NULL);
    const char *r = json_string_value(json_object_get(doc, "regime"));
    char buf[65];
    snprintf(buf, sizeof buf, "%s", r ? r : text);
    json_decref(doc);
    json_t *out = json_string(buf); /* NULL when the cut left broken UTF-8 */
    return out ? out : json_string("");
}

static void on_llm(const struct llm_result *r, void *arg)
{
    struct llm_wait *w = arg;
    json_object_set_new(w->t->summary, "llm",
                        json_pack("{s:b, s:o, s:o, s:o}", "ok", r->ok, "provider",
                                  r->provider_id ? json_string(r->provider_id) : json_null(), "model",
                                  r->model ? json_string(r->model) : json_null(), "error_code",
                                  r->error_code ? json_string(r->error_code) : json_null()));
    if (r->ok)
        json_object_set_new(
            w->ctx, "llm",
            json_pack("{s:o, s:s}", "regime", regime_of(r->text), "model", r->model ? r->model : ""));
    decide_with(w->t, w->ctx, w->module);
    free(w);
}

static void decide_and_act(struct tick *t)
{
    char module[160], err[1024];
    const json_t *params = json_object_get(t->bot, "params");
    if (held_breach(t)) return;
    /* features over the tick's bars (and without the newest bar), computed once per share and params */
    if (bar_share_features(t->share, BARS_FOR_FEATURES, t->env.gen, params, &t->features, &t->prev_features,
                           err, sizeof err) < 0) {
        LOG_ERROR(t->trace_id, "policy call failed", "module=scripts/features.lua fn=compute error=\"%s\"",
                  err);
        no_trade(t, "POLICY", "POLICY_ERROR", "scripts/features.lua failed; the tick fails closed.",
                 json_pack("[s]", "POLICY_ERROR"), "ERROR");
        return;
    }
    snprintf(module, sizeof module, "scripts/strategies/%s.lua", bot_str(t, "strategy"));
    json_t *ctx = json_pack("{s:O, s:O, s:{s:f, s:f}, s:o}", "features", t->features, "prev_features",
                            t->prev_features ? t->prev_features : json_null(), "position", "qty",
                            num(t->position, "qty", 0), "avg_price", num(t->position, "avg_price", 0),
                            "params", params ? json_incref((json_t *)params) : json_object());
    if (policy_has_function(t->env.gen, module, "llm_request")) {
        json_t *q = call1(t, module, "llm_request", ctx, NULL);
        struct llm_request lr = {json_string_value(json_object_get(q, "purpose")),
                                 json_string_value(json_object_get(q, "system")),
                                 json_string_value(json_object_get(q, "prompt")),
                                 (int)json_integer_value(json_object_get(q, "max_tokens")),
                                 t->bot_id,
                                 t->run_id,
                                 t->trace_id,
                                 t->env.gen,
                                 t->env.llm};
        struct llm_wait *w = calloc(1, sizeof *w);
        w->t = t;
        w->ctx = ctx;
        snprintf(w->module, sizeof w->module, "%s", module);
        /* no request (llm_request failed): decide runs without ctx.llm and holds LLM_UNAVAILABLE */
        int started = json_is_object(q) && lr.system && lr.prompt &&
                      llm_chat_for(&lr, t->user_id[0] ? t->user_id : NULL, on_llm, w) == 0;
        json_decref(q);
        if (!started) {
            free(w);
            decide_with(t, ctx, module);
        }
        return;
    }
    decide_with(t, ctx, module);
}

/* The risk policy's view of the bot at price `mark` (new object): position, working orders, P&L in points x
 * contracts (risk.lua applies the contract multiplier), the market, limits, stage, symbol. The equity peak is
 * the stored one (positions.equity_peak) raised to what is seen now. */
static json_t *risk_context(struct tick *t, double mark)
{
    const json_t *params = json_object_get(t->bot, "params");
    struct risk_view v = {t->position,
                          mark,
                          t->realized_today,
                          t->working_buy,
                          t->working_sell,
                          t->market,
                          json_object_get(params, "risk"),
                          bot_str(t, "stage"),
                          bot_str(t, "symbol")};
    return risk_watch_context(&v);
}

/* The mark of the bot's position (the tick's last close) and its equity peak, kept for the minute sweep. */
static void write_mark(struct tick *t, double mark, const json_t *rctx)
{
    char smark[32], speak[32];
    if (!(mark > 0) || !json_object_get(t->position, "qty")) return;
    snprintf(smark, sizeof smark, "%.8f", mark);
    snprintf(speak, sizeof speak, "%.8f", num(json_object_get(rctx, "pnl"), "equity_peak", 0));
    const char *p[5] = {t->bot_id, bot_str(t, "stage"), smark, speak, t->epoch};
    write_sql(t,
              "UPDATE positions p SET mark_price = $3::numeric, marked_at = gh_now(), "
              "equity_peak = greatest(p.equity_peak, $4::numeric) "
              "FROM bots b WHERE b.id = $1 AND p.bot_id = b.id AND p.stage = $2 AND p.symbol = b.symbol "
              "AND gh_fence_ok($1::uuid, $5::bigint)",
              5, p);
}

/* Held exposure after the fills: risk.lua review(ctx). A breach kills the bot (risk_watch.h) and ends the
 * tick BLOCKED with RISK_BREACH; returns 1 then, else 0. */
static int held_breach(struct tick *t)
{
    double mark = num(json_array_get(t->bars, json_array_size(t->bars) - 1), "c", 0);
    json_t *ctx = risk_context(t, mark);
    write_mark(t, mark, ctx);
    json_t *verdict = risk_watch_review(t->env.gen, ctx, t->trace_id);
    json_decref(ctx);
    if (!json_is_true(json_object_get(verdict, "breached"))) {
        json_decref(verdict);
        return 0;
    }
    risk_watch_breach(t->bot_id, bot_str(t, "name"), bot_str(t, "stage"), verdict, t->trace_id);
    json_object_set(t->summary, "risk_breach", verdict);
    char human[600];
    snprintf(human, sizeof human,
             "Risk breach on the held position: %s. The bot is killed and its working orders "
             "cancelled; an operator must acknowledge the breach.",
             json_string_value(json_object_get(verdict, "reason_human"))
                 ? json_string_value(json_object_get(verdict, "reason_human"))
                 : "limits exceeded");
    json_t *codes = json_deep_copy(json_object_get(verdict, "violations"));
    json_array_insert_new(codes, 0, json_string("RISK_BREACH"));
    json_decref(verdict);
    no_trade(t, "RISK", "RISK_BREACH", human, codes, "BLOCKED");
    return 1;
}

/* Takes ctx (consumed): decide, market hours, risk, then trade or a no-trade trace. */
static void decide_with(struct tick *t, json_t *ctx, const char *module)
{
    size_t n = json_array_size(t->bars);
    t->decision = call1(t, module, "decide", ctx, NULL);
    json_decref(ctx);
    if (!json_is_object(t->decision) || !json_is_string(json_object_get(t->decision, "action"))) {
        no_trade(t, "POLICY", "POLICY_ERROR",
                 "The strategy failed or returned no action; the tick fails closed.",
                 json_pack("[s]", "POLICY_ERROR"), "ERROR");
        return;
    }
    json_object_set(t->summary, "action", json_object_get(t->decision, "action"));
    json_object_set(t->summary, "feature_keys_used", json_object_get(t->decision, "feature_keys_used"));

    /* the risk check runs on every tick (proof that the risk engine is enforcing), with the market session
     * the tick opened with (market_open) */
    const char *action = json_string_value(json_object_get(t->decision, "action"));
    int hold = strcmp(action, "HOLD") == 0;
    json_t *rctx = risk_context(t, num(json_array_get(t->bars, n - 1), "c", 0));
    json_object_set_new(rctx, "order",
                        hold ? json_null()
                             : json_pack("{s:s, s:f}", "side",
                                         json_string_value(json_object_get(t->decision, "side"))
                                             ? json_string_value(json_object_get(t->decision, "side"))
                                             : "BUY",
                                         "qty", num(t->decision, "qty", 1)));
    json_object_set_new(rctx, "orders_last_minute", json_integer(t->orders_last_minute));
    check_risk(t, rctx, action);
    int allowed = json_is_true(json_object_get(t->risk, "allowed"));
    const char *risk_code = json_string_value(json_object_get(t->risk, "reason_code"));
    if (!json_is_object(t->risk)) {
        no_trade(t, "RISK", "RISK_ENGINE_NOT_ENFORCING",
                 "scripts/risk.lua failed; no order without a risk check.",
                 json_pack("[s]", "RISK_ENGINE_NOT_ENFORCING"), "BLOCKED");
    } else if (hold) {
        const char *rc = json_string_value(json_object_get(t->decision, "reason_code"));
        no_trade(t, "NO_SIGNAL", rc ? rc : "NO_SIGNAL",
                 json_string_value(json_object_get(t->decision, "reason_human"))
                     ? json_string_value(json_object_get(t->decision, "reason_human"))
                     : "The strategy saw no signal.",
                 json_array(), "SUPPRESSED");
    } else if (!allowed) {
        json_t *v = json_object_get(t->risk, "violations");
        no_trade(t, risk_code && strcmp(risk_code, "MARKET_CLOSED") == 0 ? "MARKET_CLOSED" : "RISK",
                 risk_code ? risk_code : "RISK_LIMIT",
                 json_string_value(json_object_get(t->risk, "reason_human"))
                     ? json_string_value(json_object_get(t->risk, "reason_human"))
                     : "The risk check refused the order.",
                 json_is_array(v) && json_array_size(v)
                     ? json_incref(v)
                     : json_pack("[s]", risk_code ? risk_code : "RISK_LIMIT"),
                 "SUPPRESSED");
    } else {
        trade(t);
    }
}

/* ---- bars ---- */

static void on_bars(struct bar_share *share, const struct marketdata_result *r, int shared, void *arg)
{
    struct tick *t = arg;
    t->share = share;
    json_object_set(t->summary, "data_attempts", (json_t *)r->attempts);
    /* served by the fetch of another bot's tick in this second: which one, for the trail */
    if (shared)
        json_object_set_new(t->summary, "bars_source_trace_id", json_string(bar_share_source_trace(share)));
    if (r->provider_id) snprintf(t->provider, sizeof t->provider, "%s", r->provider_id);
    if (!r->ok) {
        json_object_set_new(t->summary, "provider", json_null());
        no_trade(t, "DATA_UNAVAILABLE", "DATA_UNAVAILABLE",
                 "No market-data provider of the live stack served bars for this tick.",
                 json_pack("[s]", "DATA_UNAVAILABLE"), "SUPPRESSED");
        return;
    }
    t->bars = json_incref(bar_share_bars_json(share, BARS_FOR_FEATURES));
    json_object_set_new(t->summary, "provider", json_string(r->provider_id));
    json_object_set_new(t->summary, "bars", json_integer((json_int_t)json_array_size(t->bars)));
    if (json_array_size(t->bars) == 0) {
        no_trade(t, "DATA_UNAVAILABLE", "DATA_UNAVAILABLE",
                 "The provider answered without bars for this window.", json_pack("[s]", "DATA_UNAVAILABLE"),
                 "SUPPRESSED");
        return;
    }
    fill_next(t);
}

/* ---- market hours: asked before any provider is ---- */

/* The market's session and lookback of one symbol at one second under one policy generation: asked of
 * market_hours.lua once for all the bots ticking it in that second. */
#define SESSION_MEMO 32
static struct session_memo {
    struct policy_gen *gen; /* retained: the key's pointer cannot be reused while the entry lives */
    char symbol[32];
    time_t now;
    json_t *session;
    int lookback; /* -1 until asked */
} sess_memo[SESSION_MEMO];
static int sess_next;

static struct session_memo *session_memo_find(const struct tick *t)
{
    const char *sym = bot_str(t, "symbol");
    for (int i = 0; sym && i < SESSION_MEMO; i++)
        if (sess_memo[i].session && sess_memo[i].gen == t->env.gen && sess_memo[i].now == t->now &&
            strcmp(sess_memo[i].symbol, sym) == 0)
            return &sess_memo[i];
    return NULL;
}

static void session_memo_put(const struct tick *t, json_t *session)
{
    const char *sym = bot_str(t, "symbol");
    if (!sym || strlen(sym) >= sizeof sess_memo[0].symbol) return;
    struct session_memo *m = &sess_memo[sess_next];
    sess_next = (sess_next + 1) % SESSION_MEMO;
    policy_release(m->gen);
    json_decref(m->session);
    m->gen = policy_retain(t->env.gen);
    snprintf(m->symbol, sizeof m->symbol, "%s", sym);
    m->now = t->now;
    m->session = json_incref(session);
    m->lookback = -1;
}

/* The market's session at the tick's instant (scripts/market_hours.lua), kept in t->market; NULL when the
 * policy failed. */
static json_t *market_session(struct tick *t)
{
    struct session_memo *memo = session_memo_find(t);
    if (memo) return json_incref(memo->session);
    json_t *ts = json_integer((json_int_t)t->now), *sym = json_string(bot_str(t, "symbol"));
    json_t *m = call1(t, "scripts/market_hours.lua", "session", ts, sym);
    json_decref(ts);
    json_decref(sym);
    if (json_is_object(m) && json_is_boolean(json_object_get(m, "open"))) {
        session_memo_put(t, m);
        return m;
    }
    json_decref(m);
    return NULL;
}

/* Minutes of wall clock that hold LOOKBACK_MINUTES of open market before the tick (market_hours.lua's
 * lookback_start walks back over halts and weekends), so the first tick after a closure still sees a full
 * window of bars. LOOKBACK_MINUTES when the policy has no lookback_start. */
static int lookback_ask(struct tick *t)
{
    char err[1024];
    if (!policy_has_function(t->env.gen, "scripts/market_hours.lua", "lookback_start"))
        return LOOKBACK_MINUTES;
    json_t *ts = json_integer((json_int_t)t->now), *mins = json_integer(LOOKBACK_MINUTES);
    json_t *sym = json_string(bot_str(t, "symbol"));
    const json_t *args[3] = {ts, mins, sym};
    json_t *start =
        policy_call_first(t->env.gen, "scripts/market_hours.lua", "lookback_start", args, 3, err, sizeof err);
    if (!start)
        LOG_ERROR(t->trace_id, "policy call failed",
                  "module=scripts/market_hours.lua fn=lookback_start error=\"%s\"", err);
    json_decref(ts);
    json_decref(mins);
    json_decref(sym);
    double from = json_is_number(start) ? json_number_value(start) : 0;
    json_decref(start);
    if (from <= 0 || from >= (double)t->now) return LOOKBACK_MINUTES;
    return (int)ceil(((double)t->now - from) / 60.0);
}

static int lookback_minutes(struct tick *t)
{
    struct session_memo *memo = session_memo_find(t);
    if (memo && memo->lookback >= 0) return memo->lookback;
    int mins = lookback_ask(t);
    if (memo) memo->lookback = mins;
    return mins;
}

/* The risk check of a closed-market tick: the exit that would flatten the position (or no order when flat),
 * so the trace states what risk.lua does with exits in a closed market. Writes the risk.check event. */
static void closed_market_risk(struct tick *t)
{
    double qty = num(t->position, "qty", 0);
    json_t *rctx = risk_context(t, num(t->position, "mark_price", 0));
    json_object_set_new(
        rctx, "order",
        qty == 0 ? json_null() : json_pack("{s:s, s:f}", "side", qty > 0 ? "SELL" : "BUY", "qty", fabs(qty)));
    check_risk(t, rctx, qty == 0 ? "NONE" : "EXIT");
}

/* A closed market ends the tick before any provider is called: a MARKET_CLOSED no-trade trace naming the next
 * open (UTC and exchange time) and, when a position is held, what the risk policy does with its exit. */
static void market_closed(struct tick *t)
{
    char human[1024];
    double qty = num(t->position, "qty", 0);
    const char *why = json_string_value(json_object_get(t->market, "reason_human"));
    closed_market_risk(t);
    const char *risk_text = json_string_value(json_object_get(t->risk, "reason_human"));
    if (qty == 0)
        snprintf(human, sizeof human, "%s. Flat: nothing to do until the open; no market data was requested.",
                 why ? why : "The market is closed");
    else
        snprintf(human, sizeof human,
                 "%s. Holding %g contract%s: the exit waits for the open (risk.lua: %s); no market "
                 "data was requested.",
                 why ? why : "The market is closed", fabs(qty), fabs(qty) == 1 ? "" : "s",
                 risk_text ? risk_text : "no risk answer");
    json_object_set_new(t->summary, "market", json_deep_copy(t->market));
    no_trade(t, "MARKET_CLOSED", "MARKET_CLOSED", human, json_pack("[s]", "MARKET_CLOSED"), "SUPPRESSED");
}

/* 1 when the tick goes on to market data; 0 when it ended here (market closed, or the calendar failed: fail
 * closed with POLICY_ERROR, no provider called). */
static int market_open(struct tick *t)
{
    t->market = market_session(t);
    if (!t->market) {
        no_trade(t, "POLICY", "POLICY_ERROR",
                 "scripts/market_hours.lua failed; the tick fails closed before any "
                 "provider is called.",
                 json_pack("[s]", "POLICY_ERROR"), "ERROR");
        return 0;
    }
    if (json_is_true(json_object_get(t->market, "open"))) return 1;
    market_closed(t);
    return 0;
}

/* ---- start: load the bot, gate it ---- */

/* The tick's request to gates.lua safe_start. LIVE bots run the data gates here; their LIVE gates decide at
 * execution (an order BLOCKED with reason). */
static json_t *gate_request(const struct tick *t)
{
    const char *stage = bot_str(t, "stage");
    return json_pack("{s:s, s:b, s:s}", "stage", strcmp(stage, "LIVE") == 0 ? "SHADOW" : stage, "requires_ai",
                     json_is_true(json_object_get(t->bot, "requires_ai")), "bot_id", t->bot_id);
}

/* Takes the gate's answer (consumed). 0 when the tick may go on; -1 when it ended refused. */
static int gated(struct tick *t, json_t *answer)
{
    env_gated(&t->env, answer); /* the tick's answer and candidates: every later stage reads these */
    if (json_is_true(json_object_get(answer, "allowed"))) return 0;
    json_t *blockers = json_object_get(answer, "blockers"), *first = json_array_get(blockers, 0);
    const char *code = json_string_value(json_object_get(first, "code"));
    json_object_set(t->summary, "blockers", blockers);
    no_trade(t, strcmp(code ? code : "", "CIRCUIT_OPEN") == 0 ? "CIRCUIT_OPEN" : "GATE",
             code ? code : "POLICY_ERROR",
             json_string_value(json_object_get(first, "reason_human"))
                 ? json_string_value(json_object_get(first, "reason_human"))
                 : "A gate refused the tick.",
             codes_of(blockers), "BLOCKED");
    return -1;
}

/* After the gate: the market calendar, then the bars (on_bars goes on). */
static void fetch_bars(struct tick *t)
{
    if (!market_open(t)) return;
    struct marketdata_request mr = {bot_str(t, "symbol"),
                                    bot_str(t, "timeframe"),
                                    lookback_minutes(t),
                                    t->now,
                                    t->bot_id,
                                    t->run_id,
                                    NULL,
                                    t->trace_id,
                                    t->env.gen,
                                    t->env.market_data};
    if (bar_share_fetch_for(&mr, t->share_bars, t->user_id[0] ? t->user_id : NULL, on_bars, t) < 0)
        no_trade(t, "DATA_UNAVAILABLE", "DATA_UNAVAILABLE", "The bar request could not be built.",
                 json_pack("[s]", "DATA_UNAVAILABLE"), "ERROR");
}

/* The ticks loaded by one batched read, waiting for their gate: one gates.lua call for all of them at the end
 * of the read (on_loads_end), in the same loop turn as their load. */
static struct {
    struct tick **t;
    size_t n, cap;
} gate_wait;

static int gate_wait_add(struct tick *t)
{
    if (gate_wait.n == gate_wait.cap) {
        size_t cap = gate_wait.cap ? gate_wait.cap * 2 : 64;
        struct tick **grown = realloc(gate_wait.t, cap * sizeof *grown);
        if (!grown) return -1;
        gate_wait.t = grown;
        gate_wait.cap = cap;
    }
    gate_wait.t[gate_wait.n++] = t;
    return 0;
}

/* Gates every waiting tick with one status_safe_start_many, then each allowed tick goes on to its bars. */
static void on_loads_end(void)
{
    size_t n = gate_wait.n;
    struct tick **ticks = gate_wait.t;
    if (n == 0) return;
    gate_wait.t = NULL; /* a tick that goes on may start others: they wait in a new list */
    gate_wait.n = gate_wait.cap = 0;
    json_t *reqs = json_array();
    const char **traces = malloc(n * sizeof *traces);
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(reqs, gate_request(ticks[i]));
        if (traces) traces[i] = ticks[i]->trace_id;
    }
    json_t *answers = traces ? status_safe_start_many(reqs, traces) : NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *answer = json_incref(json_array_get(answers, i));
        if (!answer) answer = status_safe_start(json_array_get(reqs, i), ticks[i]->trace_id);
        if (gated(ticks[i], answer) == 0) fetch_bars(ticks[i]);
    }
    json_decref(answers);
    json_decref(reqs);
    free(traces);
    free(ticks);
}

/* The JSON text of column col, or a new empty array/object when it is NULL or unparseable. */
static json_t *parse_col(PGresult *res, int row, int col, int as_array)
{
    json_t *v = PQgetisnull(res, row, col) ? NULL : json_loads(PQgetvalue(res, row, col), 0, NULL);
    return v ? v : as_array ? json_array() : json_object();
}

/* The bot's row (row of res) of the load that batched this tick with the others started in its loop turn. */
static void on_loaded(struct pg_result *res, int row, const char *err, void *arg)
{
    struct tick *t = arg;
    if (!res || row < 0) {
        t->cb(NULL, res ? "NOT_FOUND" : "DB_UNAVAILABLE", res ? "No such bot." : err, t->arg);
        release_claim(t->bot_id);
        json_decref(t->summary);
        env_release(&t->env);
        free(t);
        return;
    }
    t->bot = parse_col(res, row, 0, 0);
    t->position = parse_col(res, row, 1, 0);
    t->orders_last_minute = atoi(PQgetvalue(res, row, 2));
    t->pending = parse_col(res, row, 3, 1);
    if (!PQgetisnull(res, row, 4)) snprintf(t->run_id, sizeof t->run_id, "%s", PQgetvalue(res, row, 4));
    if (!PQgetisnull(res, row, 5)) {
        snprintf(t->tier, sizeof t->tier, "%s", PQgetvalue(res, row, 5));
        t->autonomy_score = atoi(PQgetvalue(res, row, 6));
    }
    t->realized_today = atof(PQgetvalue(res, row, 7));
    t->working_buy = atof(PQgetvalue(res, row, 8));
    t->working_sell = atof(PQgetvalue(res, row, 9));
    if (t->lease.slot < 0) t->lease.epoch = atoll(PQgetvalue(res, row, 10)); /* manual: the current epoch */
    snprintf(t->epoch, sizeof t->epoch, "%lld", t->lease.epoch);
    json_object_set_new(t->summary, "run_id", json_string(t->run_id));
    json_object_set_new(t->summary, "lease_epoch", json_integer(t->lease.epoch));
    if (t->lease.slot >= 0) json_object_set_new(t->summary, "tick_slot", json_integer(t->lease.slot));
    if (!PQgetisnull(res, row, 12)) /* the breaker of the run's instance, for supervisor_tick_finished */
        json_object_set_new(t->summary, "breaker_state", json_string(PQgetvalue(res, row, 12)));
    if (gate_wait_add(t) < 0) { /* no room to wait for the batch's gate: gated on its own */
        json_t *req = gate_request(t);
        json_t *answer = status_safe_start(req, t->trace_id);
        json_decref(req);
        if (gated(t, answer) == 0) fetch_bars(t);
    }
}

/* The tick's load: the bot, its position, orders and fleet epoch; one statement for the ticks started in the
 * same loop turn (tick_batch.h), the bot's id in column LOAD_ID_COL. */
#define LOAD_ID_COL 11
// clang-format off
static const char LOAD_SQL[] = "SELECT row_to_json(b)::text, " POSITION_SQL("b.id", "b.stage") "::text, "
                 "(SELECT count(*) FROM orders o WHERE o.bot_id = b.id AND o.created_at > gh_now() - interval '1 minute'), "
                 "(SELECT json_agg(json_build_object('id', o.id, 'side', o.side, 'qty', o.qty - o.filled_qty, "
                 "   'created_epoch', extract(epoch FROM o.created_at)) ORDER BY o.created_at)::text "
                 "   FROM orders o WHERE o.bot_id = b.id AND o.status IN ('SUBMITTED', 'PARTIALLY_FILLED') AND o.stage = 'PAPER'), "
                 "(SELECT i.id::text FROM bot_instances i WHERE i.bot_id = b.id AND i.state IN ('STARTING', 'RUNNING') "
                 "   ORDER BY i.started_at DESC LIMIT 1), a.autonomy_tier, a.autonomy_score, "
                 ORDERS_REALIZED_TODAY_SQL("b.id", "b.stage") "::text, " ORDERS_WORKING_QTY_SQL("b.id", "b.stage", "BUY") "::text, "
                 ORDERS_WORKING_QTY_SQL("b.id", "b.stage", "SELL") "::text, "
                 "(SELECT l.epoch FROM leases l WHERE l.name = 'shard:' || b.shard), b.id::text, "
                 "(SELECT i.breaker_state FROM bot_instances i WHERE i.bot_id = b.id AND i.state IN ('STARTING', 'RUNNING') "
                 "   ORDER BY i.started_at DESC LIMIT 1) "
                 "FROM bots b LEFT JOIN autonomy_scores a ON a.bot_id = b.id WHERE b.id = ANY($1::uuid[])";
// clang-format on

static int start_tick(const char *bot_id, const char *trace_id, const char *user_id,
                      const struct runner_lease *lease, runner_done_cb cb, void *arg)
{
    struct tick *t;
    if (!bot_id || !id_is_uuid(bot_id) || claim(bot_id) < 0) return -1;
    t = calloc(1, sizeof *t);
    t->share_bars = lease != NULL; /* scheduled ticks share bars; manual ticks fetch fresh */
    t->lease = lease ? *lease : (struct runner_lease){0, -1};
    if (lease) snprintf(t->slot, sizeof t->slot, "%lld", lease->slot);
    snprintf(t->user_id, sizeof t->user_id, "%s", user_id && id_is_uuid(user_id) ? user_id : "");
    snprintf(t->bot_id, sizeof t->bot_id, "%s", bot_id);
    snprintf(t->trace_id, sizeof t->trace_id, "%s", trace_id);
    id_uuid_new(t->run_id); /* a manual tick outside a running instance is its own run */
    t->started_ms = clock_now_ms();
    t->now = clock_wall_s();
    t->cb = cb;
    t->arg = arg;
    t->env.gen = policy_retain(policy_current());
    t->summary = json_pack("{s:s, s:s}", "bot_id", t->bot_id, "trace_id", t->trace_id);
    if (tick_batch_read(LOAD_SQL, LOAD_ID_COL, t->bot_id, on_loaded, on_loads_end, t) < 0) {
        // clang-format on
        release_claim(t->bot_id);
        json_decref(t->summary);
        env_release(&t->env);
        free(t);
        return -1;
    }
    return 0;
}

int runner_tick(const char *bot_id, const char *trace_id, const char *user_id, runner_done_cb cb, void *arg)
{
    return start_tick(bot_id, trace_id, user_id, NULL, cb, arg);
}

int runner_tick_scheduled(const char *bot_id, const char *trace_id, const struct runner_lease *lease,
                          runner_done_cb cb, void *arg)
{
    return lease ? start_tick(bot_id, trace_id, NULL, lease, cb, arg) : -1;
}
