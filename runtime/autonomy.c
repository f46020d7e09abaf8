/* autonomy.c — evidence SQL → scripts/autonomy.lua score_all() → autonomy_scores upsert (model in
 * autonomy.h). */
#include "autonomy.h"

#include <event2/event.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "config.h"
#include "db.h"
#include "id.h"
#include "log.h"
#include "policy.h"
#include "cadence.h"
#include "telemetry.h"

#define MODULE "scripts/autonomy.lua"
#define DB_TIMEOUT_MS 10000
#define MAX_PENDING 256
#define DEBOUNCE_MS 250
#define SLICE_BOTS                                                                                           \
    25 /* bots scored per event-loop turn (~2-3 ms): a 1,000-bot round never holds the loop for long */

static const char *const TIERS[] = {"LOCKED", "SUPERVISED", "LIMITED_AUTONOMY", "FULL_AUTONOMY", NULL};
static const char *const SUBS[] = {"autonomy_score",
                                   "data_reliability_score",
                                   "decision_quality_score",
                                   "risk_discipline_score",
                                   "execution_health_score",
                                   "supervisor_trust_score",
                                   NULL};

struct round {
    struct round *next_round; /* rounds being scored (S.scoring) */
    char trace_id[33];
    char *ids; /* Postgres uuid[] literal, or NULL for every bot */
    int periodic;
    struct policy_gen *gen;
    json_t *decision; /* the gate decision the round was started with (its system facts) */
    autonomy_done_cb cb;
    void *arg;
    /* scored in slices of SLICE_BOTS, one per loop turn, each slice upserted on its own */
    char **evidence;   /* each bot's evidence JSON text, parsed when its slice is scored */
    int *hb_timeout_s; /* each bot's heartbeat timeout (timeframe and tick interval rule) */
    size_t n_bots, next;
    json_t *system, *rows; /* rows: the stored rows, kept only for a caller (cb) */
    int upserts_pending, scored, scored_bots;
    char fail_code[32], fail_err[1024];
    double policy_ms, started_ms;
    int of_bots; /* a periodic round: the bots known (it scores those whose evidence changed) */
    struct event *slice;
};

static struct {
    struct event_base *base;
    struct event *debounce;
    autonomy_decision_fn decision; /* the gate decision of a debounced round (autonomy_init) */
    char pending[MAX_PENDING][37];
    int n_pending, pending_all, periodic_running;
    char pending_trace[33];
    time_t last_periodic, last_leader_tick;
    struct round *scoring;
    json_t *tick_decision; /* the gate decision of the periodic round whose bot list is being read */
} S;

/* What changed since the last periodic round (the model in autonomy.h): every bot of the last bot list, in
 * id order, with its dirty mark and when a periodic round last picked it; an open-addressing index by id for
 * the usage stream (one lookup per event). */
struct known_bot {
    char id[37];
    unsigned char dirty;
    time_t picked_at; /* 0: never scored by a periodic round of this process */
    long tail;        /* its usage rows in the 3 s before the watermark, as the last bot list counted them */
};

static struct {
    struct known_bot *bots;
    size_t n, cursor; /* cursor: the round-robin sweep's next bot */
    int32_t *slot;    /* index + 1 into bots, 0 = empty; cap slots (a power of 2, >= 2n) */
    size_t cap;
    int all; /* the next periodic round scores every bot, because of all_why */
    const char *all_why;
    char *facts;            /* the system facts of the last periodic round (their signature) */
    struct policy_gen *gen; /* the policy generation of the last periodic round (retained) */
    char watermark[40];     /* gh_now() of the last bot list: the usage rows read after it */
} K;

/* The next periodic round scores every bot (why: a static string, logged). */
static void want_all(const char *why)
{
    K.all = 1;
    K.all_why = why;
}

/* ---- round lifecycle ---- */

static void unlink_scoring(struct round *r)
{
    for (struct round **p = &S.scoring; *p; p = &(*p)->next_round)
        if (*p == r) {
            *p = r->next_round;
            return;
        }
}

static int by_bot_id(const void *a, const void *b)
{
    return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "bot_id")),
                  json_string_value(json_object_get(*(json_t *const *)b, "bot_id")));
}

/* The caller's rows in bot id order (slices may be stored out of order). */
static json_t *sorted_rows(const json_t *rows)
{
    size_t n = json_array_size(rows);
    json_t **v = calloc(n ? n : 1, sizeof *v), *out = json_array();
    for (size_t i = 0; i < n; i++)
        v[i] = json_array_get(rows, i);
    qsort(v, n, sizeof *v, by_bot_id);
    for (size_t i = 0; i < n; i++)
        json_array_append(out, v[i]);
    free(v);
    return out;
}

static void finish(struct round *r, const json_t *rows, const char *code, const char *err)
{
    if (code) LOG_ERROR(r->trace_id, "autonomy scoring failed", "code=%s error=\"%s\"", code, err ? err : "");
    if (r->cb) r->cb(rows, code, err, r->arg);
    if (r->periodic) S.periodic_running = 0;
    if (r->periodic && code) want_all("the last periodic round failed"); /* its bots may not be stored */
    unlink_scoring(r);
    if (r->slice) event_free(r->slice);
    for (size_t i = 0; i < r->n_bots; i++)
        free(r->evidence[i]);
    free(r->evidence);
    free(r->hb_timeout_s);
    json_decref(r->system);
    json_decref(r->decision);
    json_decref(r->rows);
    policy_release(r->gen);
    free(r->ids);
    free(r);
}

/* Records a failure; the round ends once no upsert of it is in flight any more. */
static void fail(struct round *r, const char *code, const char *err)
{
    if (r->fail_code[0]) return;
    snprintf(r->fail_code, sizeof r->fail_code, "%s", code);
    snprintf(r->fail_err, sizeof r->fail_err, "%s", err ? err : "");
}

/* Ends the round when every slice is scored (or it failed) and every upsert answered. */
static void maybe_finish(struct round *r)
{
    if (r->upserts_pending > 0 || (!r->scored && !r->fail_code[0])) return;
    if (r->fail_code[0]) {
        finish(r, NULL, r->fail_code, r->fail_err);
        return;
    }
    LOG_INFO(r->trace_id, "autonomy scored", "bots=%d policy_ms=%.2f periodic=%d of=%d round_ms=%.2f",
             r->scored_bots, r->policy_ms, r->periodic, r->of_bots, clock_now_ms() - r->started_ms);
    json_t *rows = r->cb ? sorted_rows(r->rows) : NULL;
    finish(r, rows, NULL, NULL);
    json_decref(rows);
}

/* ---- the evidence ---- */

/* $1 uuid[] | NULL (every bot), $2 window s, $3..$6 samples: bars, traces, risk checks, orders.
 * The usage slices' WHERE clauses are the predicates of migration 0073's partial indexes: change both
 * together (spec 74 checks the plans). */
static const char EVIDENCE_SQL[] =
    "WITH win AS (SELECT gh_now() - make_interval(secs => $2::int) AS since), "
    "lease AS (SELECT coalesce((SELECT holder IS NOT NULL AND expires_at > clock_timestamp() FROM leases "
    "  WHERE name = 'leader'), false) AS alive) "
    "SELECT b.id::text, b.timeframe, b.params->>'tick_interval_s', (SELECT alive FROM lease), json_build_object("
    " 'bot_id', b.id, 'name', b.name, 'stage', b.stage, 'desired_state', b.desired_state,"
    " 'bars', (SELECT json_build_object('ok', count(*) FILTER (WHERE status = 'OK'), 'err', count(*) FILTER (WHERE status = 'ERROR'),"
    "   'last_ok_at', extract(epoch FROM max(created_at) FILTER (WHERE status = 'OK')),"
    "   'last_err_at', extract(epoch FROM max(created_at) FILTER (WHERE status = 'ERROR')),"
    "   'last_error_code', (array_agg(error_code ORDER BY created_at DESC) FILTER (WHERE status = 'ERROR'))[1])"
    "   FROM (SELECT e.status, e.created_at, e.error_code FROM integration_usage_events e WHERE e.bot_id = b.id"
    "     AND e.operation IN ('marketdata.bars', 'marketdata.bars.shared') AND e.status IN ('OK', 'ERROR')"
    "     AND e.created_at > (SELECT since FROM win)"
    "     ORDER BY e.created_at DESC LIMIT $3::int) x),"
    " 'proof_24h', (SELECT count(*) FROM (SELECT 1 FROM integration_usage_events e WHERE e.bot_id = b.id AND e.status = 'OK'"
    "   AND (e.provider_id NOT IN ('runner', 'risk_engine', 'scheduler') OR e.operation = 'marketdata.bars.shared')"
    "   AND e.created_at > (SELECT since FROM win) LIMIT 1000) p),"
    " 'traces', (SELECT json_build_object('decisions', count(*) FILTER (WHERE k = 'D'), 'no_trades', count(*) FILTER (WHERE k = 'N'),"
    "   'policy_errors', count(*) FILTER (WHERE perr), 'last_decision_at', extract(epoch FROM max(created_at) FILTER (WHERE k = 'D')),"
    "   'last_no_trade_at', extract(epoch FROM max(created_at) FILTER (WHERE k = 'N')), 'avg_confidence', avg(confidence),"
    "   'confidence_n', count(confidence))"
    "   FROM ((SELECT 'D' AS k, d.created_at, d.confidence, false AS perr FROM decision_traces d WHERE d.bot_id = b.id"
    "       AND d.created_at > (SELECT since FROM win) ORDER BY d.created_at DESC LIMIT $4::int)"
    "     UNION ALL (SELECT 'N', n.created_at, NULL, n.reason_code = 'POLICY_ERROR' OR n.suppression_type = 'POLICY'"
    "       FROM no_trade_traces n WHERE n.bot_id = b.id AND n.created_at > (SELECT since FROM win)"
    "       ORDER BY n.created_at DESC LIMIT $4::int)) t),"
    " 'risk', (SELECT json_build_object('ok', count(*) FILTER (WHERE status = 'OK'), 'blocked', count(*) FILTER (WHERE status = 'BLOCKED'),"
    "   'error', count(*) FILTER (WHERE status = 'ERROR'),"
    "   'by_code', coalesce((SELECT json_object_agg(c, n) FROM (SELECT y.error_code AS c, count(*) AS n FROM (SELECT e.status, e.error_code"
    "       FROM integration_usage_events e WHERE e.bot_id = b.id AND e.operation = 'risk.check' AND e.created_at > (SELECT since FROM win)"
    "       ORDER BY e.created_at DESC LIMIT $5::int) y WHERE y.status = 'BLOCKED' AND y.error_code IS NOT NULL GROUP BY y.error_code) g), '{}'::json),"
    "   'usage', (SELECT d.risk_snapshot->'usage' FROM decision_traces d WHERE d.bot_id = b.id"
    "     AND d.created_at > (SELECT since FROM win) ORDER BY d.created_at DESC LIMIT 1))"
    "   FROM (SELECT e.status FROM integration_usage_events e WHERE e.bot_id = b.id AND e.operation = 'risk.check'"
    "     AND e.created_at > (SELECT since FROM win) ORDER BY e.created_at DESC LIMIT $5::int) x),"
    " 'orders', (SELECT json_build_object('total', count(*), 'filled', count(*) FILTER (WHERE status IN ('FILLED', 'PARTIALLY_FILLED')),"
    "   'submitted', count(*) FILTER (WHERE status = 'SUBMITTED'), 'intents', count(*) FILTER (WHERE status = 'INTENT'),"
    "   'blocked', count(*) FILTER (WHERE status = 'BLOCKED'), 'rejected', count(*) FILTER (WHERE status = 'REJECTED'),"
    "   'cancelled', count(*) FILTER (WHERE status = 'CANCELLED'), 'live', count(*) FILTER (WHERE stage = 'LIVE'),"
    "   'simulated_fills', coalesce(sum(n_sim), 0), 'real_fills', coalesce(sum(n_real), 0),"
    "   'avg_real_fill_latency_ms', avg(real_ms), 'avg_sim_fill_latency_ms', avg(sim_ms), 'avg_slippage_ticks', avg(slip))"
    "   FROM (SELECT o.status, o.stage, f.* FROM orders o LEFT JOIN LATERAL (SELECT count(*) FILTER (WHERE fl.simulated) AS n_sim,"
    "       count(*) FILTER (WHERE NOT fl.simulated) AS n_real,"
    "       avg(extract(epoch FROM fl.filled_at - o.created_at) * 1000) FILTER (WHERE NOT fl.simulated) AS real_ms,"
    "       avg(extract(epoch FROM fl.filled_at - o.created_at) * 1000) FILTER (WHERE fl.simulated) AS sim_ms,"
    "       avg(fl.slippage_ticks) AS slip FROM fills fl WHERE fl.order_id = o.id) f ON true"
    "     WHERE o.bot_id = b.id AND o.created_at > (SELECT since FROM win) ORDER BY o.created_at DESC LIMIT $6::int) x),"
    " 'instance', (SELECT json_build_object('state', i.state, 'breaker_state', i.breaker_state, 'restart_count', i.restart_count,"
    "   'heartbeat_age_s', extract(epoch FROM gh_now() - coalesce(i.last_heartbeat_at, i.started_at)))"
    "   FROM bot_instances i WHERE i.bot_id = b.id ORDER BY i.started_at DESC LIMIT 1),"
    " 'deaths', (SELECT count(*) FROM jobs j WHERE j.bot_id = b.id AND j.kind = 'RUNNER' AND j.state IN ('FAILED', 'TIMEOUT')"
    "   AND j.created_at > (SELECT since FROM win)),"
    " 'kills', (SELECT count(*) FROM system_events s WHERE s.kind = 'kill' AND s.subject = b.id::text"
    "   AND s.metadata->>'by' = 'supervisor' AND s.created_at > (SELECT since FROM win)),"
    " 'incidents', (SELECT coalesce(json_agg(x.code ORDER BY x.code), '[]'::json) FROM bot_blockers x"
    "   WHERE x.bot_id = b.id AND x.cleared_at IS NULL)"
    ")::text FROM bots b WHERE $1::uuid[] IS NULL OR b.id = ANY($1::uuid[]) ORDER BY b.id";

/* ---- the upsert ---- */

static const char UPSERT_SQL[] =
    "WITH x AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(bot_id uuid, autonomy_score int, "
    "  data_reliability_score int, decision_quality_score int, risk_discipline_score int, execution_health_score int, "
    "  supervisor_trust_score int, autonomy_tier text, breakdown jsonb)), "
    "prev AS (SELECT a.bot_id, a.autonomy_tier FROM autonomy_scores a JOIN x USING (bot_id)), "
    "up AS (INSERT INTO autonomy_scores AS a (bot_id, autonomy_score, data_reliability_score, decision_quality_score, "
    "  risk_discipline_score, execution_health_score, supervisor_trust_score, autonomy_tier, breakdown, last_updated_at) "
    "  SELECT x.bot_id, x.autonomy_score, x.data_reliability_score, x.decision_quality_score, x.risk_discipline_score, "
    "  x.execution_health_score, x.supervisor_trust_score, x.autonomy_tier, x.breakdown, gh_now() FROM x "
    "  WHERE EXISTS (SELECT 1 FROM bots WHERE id = x.bot_id) "
    "  ON CONFLICT (bot_id) DO UPDATE SET autonomy_score = EXCLUDED.autonomy_score, "
    "  data_reliability_score = EXCLUDED.data_reliability_score, decision_quality_score = EXCLUDED.decision_quality_score, "
    "  risk_discipline_score = EXCLUDED.risk_discipline_score, execution_health_score = EXCLUDED.execution_health_score, "
    "  supervisor_trust_score = EXCLUDED.supervisor_trust_score, autonomy_tier = EXCLUDED.autonomy_tier, "
    "  breakdown = EXCLUDED.breakdown, last_updated_at = EXCLUDED.last_updated_at RETURNING a.*) "
    "SELECT json_build_object('bot_id', up.bot_id, 'autonomy_score', up.autonomy_score, "
    "  'data_reliability_score', up.data_reliability_score, 'decision_quality_score', up.decision_quality_score, "
    "  'risk_discipline_score', up.risk_discipline_score, 'execution_health_score', up.execution_health_score, "
    "  'supervisor_trust_score', up.supervisor_trust_score, 'autonomy_tier', up.autonomy_tier, "
    "  'blockers', coalesce(up.breakdown->'blockers', '[]'::jsonb), 'breakdown', up.breakdown, "
    "  'last_updated_at', to_char(up.last_updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))::text, "
    "  prev.autonomy_tier, up.autonomy_tier FROM up LEFT JOIN prev USING (bot_id) ORDER BY up.bot_id";

/* A tier change is news: a system event with from, to, the score and the explaining blocker. */
static void record_tier_change(const json_t *row, const char *from, const char *trace_id)
{
    const char *to = json_string_value(json_object_get(row, "autonomy_tier"));
    const char *bot = json_string_value(json_object_get(row, "bot_id"));
    const json_t *why = autonomy_explaining_blocker(row);
    const char *code = json_string_value(json_object_get(why, "code"));
    char msg[200];
    int down = 0;
    for (int i = 0; TIERS[i]; i++) {
        if (from && strcmp(TIERS[i], from) == 0) down = 1; /* from seen before to: upgrade */
        if (strcmp(TIERS[i], to) == 0) {
            down = !down;
            break;
        }
    }
    snprintf(msg, sizeof msg, "autonomy tier %s -> %s (score %lld)%s%s", from ? from : "(none)", to,
             (long long)json_integer_value(json_object_get(row, "autonomy_score")), code ? ": " : "",
             code ? code : "");
    json_t *meta = json_pack("{s:o, s:s, s:O, s:o}", "from", from ? json_string(from) : json_null(), "to", to,
                             "autonomy_score", json_object_get(row, "autonomy_score"), "blocker",
                             why ? json_deep_copy(why) : json_null());
    telemetry_system_event("autonomy.tier", from && down ? "warning" : "info", bot, msg, trace_id,
                           meta); /* copies */
    json_decref(meta);
}

/* One slice's rows: a tier change becomes a system event; the rows are parsed only for those and for a
 * caller (a periodic round does not parse 1,000 breakdowns it does not need). */
static void on_upserted(struct pg_result *res, const char *err, void *arg)
{
    struct round *r = arg;
    r->upserts_pending--;
    if (!res) {
        fail(r, "DB_UNAVAILABLE", err);
        maybe_finish(r);
        return;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        const char *prev = PQgetisnull(res, i, 1) ? NULL : PQgetvalue(res, i, 1);
        int changed = !prev || strcmp(prev, PQgetvalue(res, i, 2)) != 0;
        if (!changed && !r->cb) continue;
        json_t *row = json_loads(PQgetvalue(res, i, 0), 0, NULL);
        if (!row) continue;
        if (changed) record_tier_change(row, prev, r->trace_id);
        if (r->cb) json_array_append(r->rows, row);
        json_decref(row);
    }
    maybe_finish(r);
}

/* ---- the policy call ---- */

/* 1 when one result of score_all() has the shape the table needs; fills why otherwise. */
static int valid_result(const json_t *v, char *why, size_t len)
{
    const char *tier = json_string_value(json_object_get(v, "autonomy_tier"));
    int known = 0;
    if (!json_is_object(v) || !json_is_string(json_object_get(v, "bot_id"))) {
        snprintf(why, len, "a result lacks bot_id");
        return 0;
    }
    for (int i = 0; SUBS[i]; i++) {
        json_t *s = json_object_get(v, SUBS[i]);
        if (!json_is_integer(s) || json_integer_value(s) < 0 || json_integer_value(s) > 100) {
            snprintf(why, len, "%s must be an integer 0-100", SUBS[i]);
            return 0;
        }
    }
    for (int i = 0; tier && TIERS[i]; i++)
        known |= strcmp(TIERS[i], tier) == 0;
    if (!known) {
        snprintf(why, len, "autonomy_tier must be LOCKED, SUPERVISED, LIMITED_AUTONOMY or FULL_AUTONOMY");
        return 0;
    }
    if (!json_is_object(json_object_get(v, "breakdown")) || !json_is_array(json_object_get(v, "blockers"))) {
        snprintf(why, len, "a result lacks breakdown or blockers");
        return 0;
    }
    return 1;
}

/* The system facts, from the gate decision the round was given (no second computation of the gates). */
static json_t *system_facts(const json_t *d, const char *lease_alive)
{
    const json_t *stack = json_object_get(d, "live_stack");
    json_t *blockers = json_array(), *b;
    size_t i;
    json_array_foreach(json_object_get(d, "blockers"), i, b) json_array_append_new(
        blockers, json_pack("{s:O, s:O, s:O}", "code", json_object_get(b, "code"), "severity",
                            json_object_get(b, "severity"), "scope",
                            json_object_get(b, "scope") ? json_object_get(b, "scope") : json_null()));
    json_t *md = json_object_get(json_object_get(stack, "marketData"), "primary");
    json_t *ex = json_object_get(json_object_get(stack, "execution"), "primary");
    return json_pack("{s:I, s:O, s:o, s:O, s:O, s:b}", "now", (json_int_t)clock_wall_s(), "system_status",
                     json_object_get(d, "system_status") ? json_object_get(d, "system_status") : json_null(),
                     "blockers", blockers, "market_data_primary", json_is_object(md) ? md : json_null(),
                     "execution_primary", json_is_object(ex) ? ex : json_null(), "leader_alive",
                     lease_alive && strcmp(lease_alive, "t") == 0);
}

/* Stores one slice's results, text as score_all() returned it (its own upsert, in flight while the next slice
 * is scored). */
static void store_slice(struct round *r, const char *text)
{
    const char *p[1] = {text};
    if (db_query(UPSERT_SQL, 1, p, DB_TIMEOUT_MS, on_upserted, r) < 0)
        fail(r, "DB_UNAVAILABLE", "the upsert could not be queued");
    else
        r->upserts_pending++;
}

/* The evidence of bots [from, to) as score_all() takes it. */
static json_t *slice_bots(const struct round *r, size_t from, size_t to)
{
    json_t *bots = json_array();
    for (size_t i = from; i < to; i++) {
        json_t *bot = json_loads(r->evidence[i], 0, NULL);
        if (!bot) continue;
        json_t *inst = json_object_get(bot, "instance");
        if (json_is_object(inst))
            json_object_set_new(inst, "heartbeat_timeout_s", json_integer(r->hb_timeout_s[i]));
        json_array_append_new(bots, bot);
    }
    return bots;
}

/* Scores and stores the next SLICE_BOTS bots with one score_all() call. The results go to the upsert as the
 * text the policy's value encodes to; each result's top level is checked first (valid_result). Returns 0, or
 * -1 on a policy failure (recorded with fail()). */
static int score_slice(struct round *r)
{
    char perr[1024], why[160];
    size_t end = r->next + SLICE_BOTS < r->n_bots ? r->next + SLICE_BOTS : r->n_bots;
    json_t *bots = slice_bots(r, r->next, end), *heads = NULL, *v;
    size_t n = json_array_size(bots), i;
    json_t *input = json_pack("{s:O, s:o}", "system", r->system, "bots", bots);
    double t0 = clock_now_ms();
    char *text = policy_call_list_text(r->gen, MODULE, "score_all", input, &heads, perr, sizeof perr);
    r->policy_ms += clock_now_ms() - t0;
    json_decref(input);
    int ok = text && json_array_size(heads) == n;
    if (text && !ok)
        snprintf(perr, sizeof perr,
                 "scripts/autonomy.lua score_all() returned another number of results than bots");
    json_array_foreach(heads, i, v) if (ok && !valid_result(v, why, sizeof why))
    {
        snprintf(perr, sizeof perr, "scripts/autonomy.lua score_all() result %zu: %s", r->next + i + 1, why);
        ok = 0;
    }
    if (ok && n) store_slice(r, text);
    free(text);
    json_decref(heads);
    r->next = end;
    r->scored_bots += ok ? (int)n : 0;
    if (!ok) fail(r, "POLICY_ERROR", perr);
    return ok ? 0 : -1;
}

/* One slice per loop turn (a zero timeout lets the loop serve I/O in between); the round ends when the last
 * slice's upsert has answered. */
static void on_slice(evutil_socket_t fd, short what, void *arg)
{
    struct round *r = arg;
    if (score_slice(r) < 0 || r->next >= r->n_bots) {
        r->scored = r->next >= r->n_bots;
        maybe_finish(r);
        return;
    }
    struct timeval now = {0, 0};
    evtimer_add(r->slice, &now);
}

static void on_evidence(struct pg_result *res, const char *err, void *arg)
{
    struct round *r = arg;
    if (!res) {
        finish(r, NULL, "DB_UNAVAILABLE", err);
        return;
    }
    int n = PQntuples(res);
    if (n == 0) {
        json_t *none = json_array();
        finish(r, none, NULL, NULL);
        json_decref(none);
        return;
    }
    /* kept as text: each slice parses its own bots, so no loop turn parses all of them */
    r->evidence = calloc((size_t)n, sizeof *r->evidence);
    r->hb_timeout_s = calloc((size_t)n, sizeof *r->hb_timeout_s);
    for (int i = 0; r->evidence && r->hb_timeout_s && i < n; i++) {
        if (!(r->evidence[i] = strdup(PQgetvalue(res, i, 4)))) break;
        r->hb_timeout_s[i] = cadence_heartbeat_timeout_s(
            PQgetvalue(res, i, 1), PQgetisnull(res, i, 2) ? NULL : PQgetvalue(res, i, 2));
        r->n_bots++;
    }
    r->system = system_facts(r->decision, PQgetvalue(res, 0, 3));
    r->rows = json_array();
    r->slice = evtimer_new(S.base, on_slice, r);
    if (r->n_bots < (size_t)n || !r->slice) {
        finish(r, NULL, "INTERNAL", "out of memory");
        return;
    }
    r->next_round = S.scoring;
    S.scoring = r;
    on_slice(-1, 0, r); /* the first slice now: a one-bot round answers without another loop turn */
}

/* Starts a round for ids (a uuid[] literal, taken) or every bot (NULL), judged with the gate decision d
 * (retained). Returns 0 or -1 (cb not called). */
static int start_round(char *ids, const json_t *d, const char *trace_id, int periodic, int of_bots,
                       autonomy_done_cb cb, void *arg)
{
    char perr[512], window[16], samples[4][16];
    static const char *const keys[] = {"bars", "traces", "risk", "orders"};
    struct policy_gen *g = policy_current();
    if (!g || !policy_has_function(g, MODULE, "score_all") ||
        !policy_has_function(g, MODULE, "evidence_spec")) {
        if (cb)
            cb(NULL, "POLICY_ERROR",
               "scripts/autonomy.lua is not loaded or lacks score_all()/evidence_spec()", arg);
        free(ids);
        return 0;
    }
    json_t *spec = policy_call(g, MODULE, "evidence_spec", NULL, perr, sizeof perr);
    json_t *o = json_array_get(spec, 0);
    snprintf(window, sizeof window, "%lld", (long long)json_number_value(json_object_get(o, "window_s")));
    for (int i = 0; i < 4; i++)
        snprintf(samples[i], sizeof samples[i], "%lld",
                 (long long)json_number_value(json_object_get(o, keys[i])));
    int ok = json_is_object(o) && atoll(window) > 0;
    json_decref(spec);
    if (!ok) {
        if (cb)
            cb(NULL, "POLICY_ERROR", "scripts/autonomy.lua evidence_spec() failed or returned no window_s",
               arg);
        free(ids);
        return 0;
    }
    struct round *r = calloc(1, sizeof *r);
    snprintf(r->trace_id, sizeof r->trace_id, "%s", trace_id);
    r->ids = ids;
    r->periodic = periodic;
    r->of_bots = of_bots;
    r->started_ms = clock_now_ms();
    r->gen = policy_retain(g);
    r->decision = json_incref((json_t *)d);
    r->cb = cb;
    r->arg = arg;
    const char *params[6] = {ids, window, samples[0], samples[1], samples[2], samples[3]};
    if (db_query(EVIDENCE_SQL, 6, params, DB_TIMEOUT_MS, on_evidence, r) < 0) {
        policy_release(r->gen);
        json_decref(r->decision);
        free(r->ids);
        free(r);
        return -1;
    }
    if (periodic) S.periodic_running = 1;
    return 0;
}

int autonomy_score(const char *bot_id, const json_t *decision, const char *trace_id, autonomy_done_cb cb,
                   void *arg)
{
    char *ids = NULL;
    if (bot_id) {
        if (!id_is_uuid(bot_id)) return -1;
        ids = malloc(40);
        snprintf(ids, 40, "{%s}", bot_id);
    }
    return start_round(ids, decision, trace_id, 0, 0, cb, arg);
}

/* ---- event-driven and periodic rounds ---- */

static void on_debounce(evutil_socket_t fd, short what, void *arg)
{
    char *ids = NULL;
    if (!S.pending_all && S.n_pending > 0) ids = id_list_literal(S.pending, S.n_pending);
    int any = S.pending_all || S.n_pending > 0;
    S.n_pending = S.pending_all = 0;
    if (any && start_round(ids, S.decision ? S.decision() : NULL, S.pending_trace, 0, 0, NULL, NULL) < 0)
        LOG_WARN(S.pending_trace, "autonomy rescore not queued", NULL);
}

/* ---- what changed: the dirty marks ---- */

static size_t slot_of(const char *id)
{
    size_t h = 1469598103934665603u; /* FNV-1a */
    for (const char *c = id; *c; c++)
        h = (h ^ (unsigned char)*c) * 1099511628211u;
    return h & (K.cap - 1);
}

static struct known_bot *known(const char *id)
{
    if (!K.cap || !id) return NULL;
    for (size_t i = slot_of(id);; i = (i + 1) & (K.cap - 1)) {
        if (!K.slot[i]) return NULL;
        if (strcmp(K.bots[K.slot[i] - 1].id, id) == 0) return &K.bots[K.slot[i] - 1];
    }
}

/* Rebuilds the index over K.bots. Returns 0 or -1 (out of memory: the index is then empty). */
static int reindex(void)
{
    size_t cap = 64;
    while (cap < 2 * K.n)
        cap <<= 1;
    free(K.slot);
    K.slot = calloc(cap, sizeof *K.slot);
    K.cap = K.slot ? cap : 0;
    if (!K.slot) return -1;
    for (size_t b = 0; b < K.n; b++) {
        size_t i = slot_of(K.bots[b].id);
        while (K.slot[i])
            i = (i + 1) & (K.cap - 1);
        K.slot[i] = (int32_t)(b + 1);
    }
    return 0;
}

void autonomy_note_bot(const char *bot_id)
{
    struct known_bot *b = known(bot_id);
    if (b) b->dirty = 1; /* a bot not known yet is new: the next bot list picks it */
}

void autonomy_note_usage(const struct usage_event *ev)
{
    if (ev->bot_id) autonomy_note_bot(ev->bot_id);
}

void autonomy_request(const char *bot_id, const char *trace_id)
{
    if (!S.debounce) return;
    if (!bot_id || !id_is_uuid(bot_id)) {
        S.pending_all = 1;
        want_all("every bot was asked for");
    } else {
        autonomy_note_bot(bot_id);
        int known_id = 0;
        for (int i = 0; i < S.n_pending; i++)
            known_id |= strcmp(S.pending[i], bot_id) == 0;
        if (!known_id && S.n_pending < MAX_PENDING)
            snprintf(S.pending[S.n_pending++], 37, "%s", bot_id);
        else if (!known_id)
            S.pending_all = 1;
    }
    if (trace_id)
        snprintf(S.pending_trace, sizeof S.pending_trace, "%s", trace_id);
    else
        id_trace_new(S.pending_trace);
    if (!evtimer_pending(S.debounce, NULL)) {
        struct timeval tv = {0, DEBOUNCE_MS * 1000};
        evtimer_add(S.debounce, &tv);
    }
}

/* ---- the periodic round: the bots whose evidence changed ---- */

/* The system facts of d as a signature: what every bot's score reads from the system (status, blockers,
 * primaries), without the clock and the primary's running counters (proof_24h, last_used_at), which move
 * with every call and would make every round a full one. malloc'd, or NULL. */
static char *facts_signature(const json_t *d)
{
    json_t *f = system_facts(d, NULL), *md;
    json_object_del(f, "now");
    if ((md = json_object_get(f, "market_data_primary")) && json_is_object(md)) {
        json_t *c = json_deep_copy(md);
        json_object_del(c, "proof_24h");
        json_object_del(c, "last_used_at");
        json_object_set_new(f, "market_data_primary", c);
    }
    char *sig = json_dumps(f, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(f);
    return sig;
}

/* Why the round must score every bot: asked to (start-up, leadership, a failed round: K.all), or the system
 * facts or the policy generation changed since the last periodic round (each moves every bot's score);
 * NULL when only the changed bots are scored. Records the new facts and generation. */
static const char *everything_changed(const json_t *d)
{
    char *sig = facts_signature(d);
    struct policy_gen *g = policy_current();
    const char *why = K.all                                           ? K.all_why
                      : !sig || !K.facts || strcmp(sig, K.facts) != 0 ? "system facts changed"
                      : g != K.gen                                    ? "policy reloaded"
                                                                      : NULL;
    free(K.facts);
    K.facts = sig;
    if (g != K.gen) {
        if (K.gen) policy_release(K.gen);
        K.gen = g ? policy_retain(g) : NULL;
    }
    K.all = 0;
    return why;
}

/* Merges the bot list res (BOT_LIST_SQL) into K.bots, keeping each known bot's marks; a bot is dirty when it
 * is new, or it has usage rows the last list did not count. Returns 0 or -1 (out of memory). */
static int merge_bot_list(struct pg_result *res)
{
    size_t n = (size_t)PQntuples(res), o = 0;
    struct known_bot *nb = calloc(n ? n : 1, sizeof *nb);
    if (!nb) return -1;
    for (size_t i = 0; i < n; i++) {
        const char *id = PQgetvalue(res, (int)i, 0);
        while (o < K.n && strcmp(K.bots[o].id, id) < 0)
            o++;
        snprintf(nb[i].id, sizeof nb[i].id, "%s", id);
        long overlap = atol(PQgetvalue(res, (int)i, 2));
        if (o < K.n && strcmp(K.bots[o].id, id) == 0) {
            nb[i].dirty = K.bots[o].dirty | (overlap > K.bots[o].tail); /* a row reached the table late */
            nb[i].picked_at = K.bots[o].picked_at;
        } else {
            nb[i].dirty = 1;
        }
        nb[i].dirty |= PQgetvalue(res, (int)i, 1)[0] == 't'; /* written by any instance after the watermark */
        nb[i].tail = atol(PQgetvalue(res, (int)i, 3));
    }
    if (K.cursor >= n) K.cursor = 0;
    free(K.bots);
    K.bots = nb;
    K.n = n;
    return reindex();
}

/* The bots of this periodic round: the dirty ones, those not picked for autonomy_sweep_s, and the next share
 * of the round-robin sweep (so the sweep is spread over its rounds, not one full round every sweep_s).
 * Fills ids (K.n entries) and returns their count; marks them clean. */
static int pick_bots(char (*ids)[37], const char *all, time_t now)
{
    size_t share = K.n * (size_t)cfg.autonomy_interval_s / (size_t)cfg.autonomy_sweep_s + 1;
    int n = 0;
    if (share > K.n) share = K.n;
    for (size_t k = 0; k < share; k++)
        K.bots[(K.cursor + k) % K.n].dirty = 1;
    K.cursor = K.n ? (K.cursor + share) % K.n : 0;
    for (size_t i = 0; i < K.n; i++) {
        struct known_bot *b = &K.bots[i];
        if (!all && !b->dirty && now - b->picked_at < cfg.autonomy_sweep_s) continue;
        memcpy(ids[n++], b->id, 37);
        b->dirty = 0;
        b->picked_at = now;
    }
    return n;
}

static void on_bot_list(struct pg_result *res, const char *err, void *arg)
{
    json_t *d = S.tick_decision;
    char trace[33];
    S.tick_decision = NULL;
    S.periodic_running = 0;
    id_trace_new(trace);
    if (!res || merge_bot_list(res) < 0) {
        LOG_WARN(trace, "autonomy round not started", "error=\"%s\"", res ? "out of memory" : err);
        want_all("the last bot list failed");
        json_decref(d);
        return;
    }
    if (PQntuples(res) > 0) snprintf(K.watermark, sizeof K.watermark, "%s", PQgetvalue(res, 0, 4));
    const char *all = everything_changed(d);
    if (all) LOG_INFO(trace, "autonomy round of every bot", "reason=\"%s\" bots=%zu", all, K.n);
    char(*ids)[37] = calloc(K.n ? K.n : 1, sizeof *ids);
    char *lit = NULL;
    int n = ids ? pick_bots(ids, all, clock_wall_s()) : 0;
    if (!ids || (n > 0 && (size_t)n < K.n && !(lit = id_list_literal((const char(*)[37])ids, n)))) {
        want_all("out of memory");
        n = 0;
    }
    free(ids);
    /* lit NULL with every bot picked: the round reads every bot (no id list to send) */
    if (n > 0 && start_round(lit, d, trace, 1, (int)K.n, NULL, NULL) < 0) {
        LOG_WARN(trace, "autonomy round not queued", NULL);
        want_all("the last round was not queued");
    }
    json_decref(d);
}

/* The bot list: every bot id (in id order); whether any instance wrote a usage row of it after the watermark
 * $1 (the last list's clock); its rows in the 3 s up to $1 now, and in the 3 s up to this read (the next list
 * compares the two: rows carry their acceptance time and reach the table with a writer's next batch, so a row
 * can land behind the watermark; counting that tail twice finds it, where re-reading 3 s of overlap marked
 * every bot of the last 3 s again); and the clock of this read (the next watermark). */
static const char BOT_LIST_SQL[] =
    "SELECT b.id::text, $1::timestamptz IS NOT NULL AND EXISTS (SELECT 1 FROM integration_usage_events e "
    "  WHERE e.bot_id = b.id AND e.created_at > $1::timestamptz), "
    " CASE WHEN $1::timestamptz IS NULL THEN 0 ELSE (SELECT count(*) FROM integration_usage_events e "
    "  WHERE e.bot_id = b.id AND e.created_at > $1::timestamptz - interval '3 s' AND e.created_at <= $1::timestamptz) END, "
    " (SELECT count(*) FROM integration_usage_events e "
    "  WHERE e.bot_id = b.id AND e.created_at > w.now - interval '3 s' AND e.created_at <= w.now), w.now::text "
    "FROM bots b CROSS JOIN (SELECT gh_now() AS now) w ORDER BY b.id";

void autonomy_leader_tick(const json_t *decision)
{
    time_t now = clock_wall_s();
    if (now - S.last_leader_tick > 3 * cfg.lease_s) want_all("start-up or (again) the leader");
    S.last_leader_tick = now;
    if (S.periodic_running || now - S.last_periodic < cfg.autonomy_interval_s) return;
    S.last_periodic = now;
    const char *p[1] = {K.watermark[0] && !K.all ? K.watermark : NULL};
    S.tick_decision = json_incref((json_t *)decision);
    if (db_query(BOT_LIST_SQL, 1, p, DB_TIMEOUT_MS, on_bot_list, NULL) < 0) {
        json_decref(S.tick_decision);
        S.tick_decision = NULL;
        LOG_WARN(NULL, "autonomy round not queued", NULL);
        return;
    }
    S.periodic_running = 1;
}

const json_t *autonomy_explaining_blocker(const json_t *row)
{
    const char *tier = json_string_value(json_object_get(row, "autonomy_tier"));
    const json_t *b;
    size_t i;
    if (tier && strcmp(tier, "LOCKED") == 0) {
        json_array_foreach(json_object_get(row, "blockers"), i, b)
        {
            const char *sev = json_string_value(json_object_get(b, "severity"));
            if (sev && strcmp(sev, "SEV-1") == 0) return b;
        }
    }
    b = json_array_get(json_object_get(json_object_get(row, "breakdown"), "missing_for_next_tier"), 0);
    return b ? b : json_array_get(json_object_get(row, "blockers"), 0);
}

int autonomy_init(struct event_base *base, autonomy_decision_fn decision)
{
    memset(&S, 0, sizeof S);
    memset(&K, 0, sizeof K);
    want_all("start-up or (again) the leader");
    S.base = base;
    S.decision = decision;
    S.debounce = evtimer_new(base, on_debounce, NULL);
    return S.debounce ? 0 : -1;
}

void autonomy_stop(void)
{
    /* rounds with an upsert in flight end when the pool answers it (db_pool_stop fails what is queued) */
    for (struct round *r = S.scoring, *next; r; r = next) {
        next = r->next_round;
        if (r->slice) event_free(r->slice);
        r->slice = NULL;
        fail(r, "INTERNAL", "gatehouse stopped while scoring");
        r->scored = 1;
        if (r->upserts_pending == 0) finish(r, NULL, r->fail_code, r->fail_err);
    }
    if (S.debounce) event_free(S.debounce);
    S.debounce = NULL;
    free(K.bots);
    free(K.slot);
    free(K.facts);
    if (K.gen) policy_release(K.gen);
    memset(&K, 0, sizeof K);
}
