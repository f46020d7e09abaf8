/* supervisor.c — deaths, restarts through the circuit breaker, kill triggers (model in supervisor.h). */
#include "supervisor.h"

#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alerts.h"
#include "orders.h"
#include "reconcile.h"
#include "risk_watch.h"
#include "autonomy.h"
#include "clock.h"
#include "config.h"
#include "db.h"
#include "http.h"
#include "log.h"
#include "scheduler.h"
#include "telemetry.h"

#define DB_TIMEOUT_MS 3000
#define SWEEP_EVERY_S 2

struct act {
    char bot_id[37], inst_id[37], trace_id[33];
    char to_state[16], reason[64];
    int kill; /* stuck runner: KILLED, no restart */
};

static struct {
    time_t last_sweep;
    int sweep_pending;
} S;

static void str_copy(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "");
}

static void on_ignored(struct pg_result *res, const char *err, void *arg)
{
    if (!res) LOG_ERROR((const char *)arg, "supervisor write failed", "error=\"%s\"", err);
    free(arg);
}

static void event(const char *kind, const char *severity, const char *bot_id, const char *msg, const char *trace_id,
                  json_t *meta)
{
    telemetry_system_event(kind, severity, bot_id, msg, trace_id, meta);
    LOG_INFO(trace_id, "supervisor", "kind=%s bot=%s %s", kind, bot_id, msg);
    json_decref(meta);
}

/* ---- kill ---- */

static void kill_bot(const char *bot_id, const char *why, const char *trace_id)
{
    char msg[200], dedup[80], *trace = strdup(trace_id);
    const char *p[1] = {bot_id};
    if (db_query("WITH i AS (UPDATE bot_instances SET state = 'KILLED', stopped_at = gh_now() WHERE bot_id = $1 "
                 "  AND state IN ('STARTING', 'RUNNING') RETURNING id) "
                 "UPDATE bots SET desired_state = 'KILLED' WHERE id = $1",
                 1, p, DB_TIMEOUT_MS, on_ignored, trace) < 0)
        free(trace);
    snprintf(msg, sizeof msg, "bot %s killed by the supervisor: %s", bot_id, why);
    snprintf(dedup, sizeof dedup, "kill:%s", bot_id);
    event("kill", "SEV-2", bot_id, msg, trace_id, json_pack("{s:s, s:s}", "reason_code", why, "by", "supervisor"));
    autonomy_request(bot_id, trace_id);
    alerts_notify("kill", dedup, "SEV-2", "gatehouse: bot killed", msg, trace_id);
    orders_cancel_working(bot_id, why, trace_id, NULL, 0);
}

/* ---- restart ---- */

static void on_restarted(struct pg_result *res, const char *err, void *arg)
{
    struct act *a = arg;
    if (!res) {
        LOG_ERROR(a->trace_id, "supervisor restart failed", "bot=%s error=\"%s\"", a->bot_id, err);
    } else if (PQntuples(res) == 1) {
        char msg[160];
        snprintf(msg, sizeof msg, "runner restarted (restart_count %s, breaker %s)", PQgetvalue(res, 0, 1),
                 PQgetvalue(res, 0, 2));
        event("supervisor.restart", "warning", a->bot_id, msg, a->trace_id,
              json_pack("{s:s, s:s, s:i, s:s, s:s}", "instance_id", PQgetvalue(res, 0, 0), "previous_instance_id",
                        a->inst_id, "restart_count", atoi(PQgetvalue(res, 0, 1)), "breaker_state", PQgetvalue(res, 0, 2),
                        "reason_code", a->reason));
    } else {
        event("supervisor.restart_skipped", "info", a->bot_id, "no restart: the bot is not desired RUNNING or already runs",
              a->trace_id, json_pack("{s:s}", "previous_instance_id", a->inst_id));
    }
    free(a);
}

/* Opens a new RUNNING instance after the dead one (a->inst_id), carrying restart_count + 1 and the breaker; the
 * dead instance hands its breaker over so only the latest instance carries it. */
static void restart(struct act *a)
{
    struct scheduler_status sch;
    scheduler_status(&sch);
    const char *p[3] = {a->inst_id, sch.instance_id, a->trace_id};
    if (db_query("WITH prev AS (SELECT i.* FROM bot_instances i JOIN bots b ON b.id = i.bot_id "
                 "  WHERE i.id = $1 AND b.desired_state = 'RUNNING'), "
                 "ins AS (INSERT INTO bot_instances (bot_id, state, started_at, last_heartbeat_at, host, trace_id, "
                 "  restart_count, breaker_state, breaker_failures, breaker_opened_at) "
                 "  SELECT bot_id, 'RUNNING', gh_now(), gh_now(), $2, $3, restart_count + 1, breaker_state, breaker_failures, "
                 "  breaker_opened_at FROM prev "
                 "  ON CONFLICT (bot_id) WHERE state IN ('STARTING', 'RUNNING') DO NOTHING "
                 "  RETURNING id, restart_count, breaker_state), "
                 "old AS (UPDATE bot_instances SET breaker_state = 'CLOSED', breaker_opened_at = NULL "
                 "  WHERE id = $1 AND EXISTS (SELECT 1 FROM ins)) "
                 "SELECT id::text, restart_count, breaker_state FROM ins",
                 3, p, DB_TIMEOUT_MS, on_restarted, a) < 0) {
        LOG_ERROR(a->trace_id, "supervisor restart not queued", "bot=%s", a->bot_id);
        free(a);
    }
}

/* ---- death ---- */

static void on_death(struct pg_result *res, const char *err, void *arg)
{
    struct act *a = arg;
    if (!res || PQntuples(res) != 1) {
        if (!res) LOG_ERROR(a->trace_id, "supervisor death not recorded", "bot=%s error=\"%s\"", a->bot_id, err);
        free(a);
        return;
    }
    const char *stage = PQgetvalue(res, 0, 2), *was = PQgetvalue(res, 0, 3), *now_state = PQgetvalue(res, 0, 4);
    int failures = atoi(PQgetvalue(res, 0, 5));
    char msg[200];
    str_copy(a->inst_id, sizeof a->inst_id, PQgetvalue(res, 0, 0));
    snprintf(msg, sizeof msg, "runner %s %s (%s); breaker %s, %d failure(s) in the window", a->inst_id, a->to_state,
             a->reason, now_state, failures);
    autonomy_request(a->bot_id, a->trace_id); /* a death, and maybe an open breaker, lower its trust */
    event("supervisor.death", "warning", a->bot_id, msg, a->trace_id,
          json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:s}", "instance_id", a->inst_id, "job_id", PQgetvalue(res, 0, 6),
                    "to_state", a->to_state, "reason_code", a->reason, "breaker_failures", failures, "breaker_state",
                    now_state, "stage", stage));
    if (a->kill) {
        kill_bot(a->bot_id, a->reason, a->trace_id);
        free(a);
        return;
    }
    if (strcmp(now_state, "OPEN") == 0) {
        char dedup[80];
        snprintf(msg, sizeof msg, "circuit breaker OPEN for bot %s after %d failure(s)%s; restarts blocked", a->bot_id,
                 failures, strcmp(was, "HALF_OPEN") == 0 ? " (half-open probe died)" : "");
        snprintf(dedup, sizeof dedup, "breaker:%s", a->bot_id);
        event("breaker", "SEV-2", a->bot_id, msg, a->trace_id,
              json_pack("{s:s, s:s, s:s, s:i, s:s}", "from", was, "to", "OPEN", "instance_id", a->inst_id,
                        "breaker_failures", failures, "reason_code", a->reason));
        alerts_notify("breaker", dedup, "SEV-2", "gatehouse: circuit breaker open", msg, a->trace_id);
        if (strcmp(stage, "LIVE") == 0) kill_bot(a->bot_id, "CIRCUIT_OPEN", a->trace_id);
        free(a);
        return;
    }
    restart(a); /* takes a */
}

/* Marks the live instance a->inst_id (or, when empty, the bot's live instance) dead and records its RUNNER job
 * with the FSM transitions; the breaker decision is taken in the same statement. */
static void death(struct act *a)
{
    char window[16], threshold[16];
    snprintf(window, sizeof window, "%d", cfg.breaker_window_s);
    snprintf(threshold, sizeof threshold, "%d", cfg.breaker_failures);
    const char *p[7] = {a->bot_id, a->inst_id[0] ? a->inst_id : NULL, a->to_state, a->reason, a->trace_id, window,
                        threshold};
    const char *final_state = a->kill ? "KILLED" : "DEAD";
    const char *p8[8] = {p[0], p[1], p[2], p[3], p[4], p[5], p[6], final_state};
    if (db_query("WITH cur AS (SELECT i.id, i.bot_id, i.started_at, i.breaker_state, b.stage, "
                 "  least(i.breaker_failures, (SELECT count(*) FROM job_run_events e JOIN jobs j ON j.id = e.job_id "
                 "    WHERE j.bot_id = i.bot_id AND j.kind = 'RUNNER' AND e.from_state = 'RUNNING' "
                 "    AND e.to_state IN ('FAILED', 'TIMEOUT') AND e.created_at > gh_now() - make_interval(secs => $6::int)))::int "
                 "  + 1 AS failures "
                 "  FROM bot_instances i JOIN bots b ON b.id = i.bot_id "
                 "  WHERE i.bot_id = $1 AND i.state IN ('STARTING', 'RUNNING') AND ($2::text IS NULL OR i.id::text = $2)), "
                 "dec AS (SELECT cur.*, CASE WHEN breaker_state = 'HALF_OPEN' OR failures >= $7::int THEN 'OPEN' "
                 "  ELSE breaker_state END AS new_breaker FROM cur), "
                 "inst AS (UPDATE bot_instances i SET state = $8, stopped_at = gh_now(), breaker_failures = d.failures, "
                 "  breaker_state = d.new_breaker, breaker_opened_at = CASE WHEN d.new_breaker = 'OPEN' AND "
                 "  i.breaker_state <> 'OPEN' THEN gh_now() ELSE i.breaker_opened_at END "
                 "  FROM dec d WHERE i.id = d.id AND i.state IN ('STARTING', 'RUNNING') RETURNING i.id), "
                 "job AS (INSERT INTO jobs (bot_id, kind, state, params, error_code, started_at, finished_at, trace_id) "
                 "  SELECT d.bot_id, 'RUNNER', $3, jsonb_build_object('instance_id', d.id), $4, d.started_at, gh_now(), $5 "
                 "  FROM dec d JOIN inst ON inst.id = d.id RETURNING id), "
                 "ev AS (INSERT INTO job_run_events (job_id, from_state, to_state, reason_code, trace_id, metadata, created_at) "
                 "  SELECT job.id, v.f, v.t, v.r, $5, v.m, v.at FROM job, dec d, LATERAL (VALUES "
                 "   (NULL::text, 'QUEUED', 'RUNNER_STARTED', jsonb_build_object('instance_id', d.id), d.started_at), "
                 "   ('QUEUED', 'RUNNING', 'RUNNER_STARTED', jsonb_build_object('instance_id', d.id), d.started_at), "
                 "   ('RUNNING', $3, $4, jsonb_build_object('instance_id', d.id, 'breaker_failures', d.failures, "
                 "     'breaker_state', d.new_breaker, 'window_s', $6::int, 'instance_state', $8::text), gh_now())) "
                 "   AS v(f, t, r, m, at)) "
                 "SELECT d.id::text, d.bot_id::text, d.stage, d.breaker_state, d.new_breaker, d.failures, job.id::text "
                 "FROM dec d, job",
                 8, p8, DB_TIMEOUT_MS, on_death, a) < 0) {
        LOG_ERROR(a->trace_id, "supervisor death not queued", "bot=%s", a->bot_id);
        free(a);
    }
}

static struct act *new_act(const char *bot_id, const char *inst_id, const char *to_state, const char *reason,
                           const char *trace_id, int kill)
{
    struct act *a = calloc(1, sizeof *a);
    str_copy(a->bot_id, sizeof a->bot_id, bot_id);
    str_copy(a->inst_id, sizeof a->inst_id, inst_id);
    str_copy(a->to_state, sizeof a->to_state, to_state);
    str_copy(a->reason, sizeof a->reason, reason);
    str_copy(a->trace_id, sizeof a->trace_id, trace_id);
    a->kill = kill;
    return a;
}

/* ---- tick results ---- */

static void on_closed(struct pg_result *res, const char *err, void *arg)
{
    struct act *a = arg;
    if (res && PQntuples(res) > 0) {
        event("breaker", "info", a->bot_id, "circuit breaker CLOSED: the half-open probe ticked successfully", a->trace_id,
              json_pack("{s:s, s:s, s:s}", "from", "HALF_OPEN", "to", "CLOSED", "instance_id", a->inst_id));
        autonomy_request(a->bot_id, a->trace_id);
    }
    else if (!res)
        LOG_ERROR(a->trace_id, "supervisor breaker close failed", "bot=%s error=\"%s\"", a->bot_id, err);
    free(a);
}

static void on_risk_stage(struct pg_result *res, const char *err, void *arg)
{
    struct act *a = arg;
    if (res && PQntuples(res) == 1) {
        if (strcmp(PQgetvalue(res, 0, 0), "LIVE") == 0) kill_bot(a->bot_id, a->reason, a->trace_id);
        else
            event("supervisor.risk_breach", "warning", a->bot_id, "risk limit breached; the risk check refused the order",
                  a->trace_id, json_pack("{s:s, s:s}", "reason_code", a->reason, "stage", PQgetvalue(res, 0, 0)));
    }
    free(a);
}

void supervisor_tick_finished(const json_t *summary)
{
    const char *bot_id = json_string_value(json_object_get(summary, "bot_id"));
    const char *run_id = json_string_value(json_object_get(summary, "run_id"));
    const char *trace_id = json_string_value(json_object_get(summary, "trace_id"));
    const char *outcome = json_string_value(json_object_get(summary, "outcome"));
    const char *reason_code = json_string_value(json_object_get(summary, "reason_code"));
    if (!bot_id || !outcome || !http_is_uuid(bot_id) || !run_id || !http_is_uuid(run_id)) return;
    if (strcmp(outcome, "ERROR") == 0) {
        /* only a tick of the live instance kills it: run_id is the instance id (a random id outside one) */
        death(new_act(bot_id, run_id, "FAILED", reason_code ? reason_code : "TICK_ERROR", trace_id, 0));
        return;
    }
    if (reason_code && (strcmp(reason_code, "MAX_DAILY_LOSS") == 0 || strcmp(reason_code, "MAX_DRAWDOWN") == 0)) {
        struct act *a = new_act(bot_id, run_id, "", reason_code, trace_id, 0);
        const char *p[1] = {bot_id};
        if (db_query("SELECT stage FROM bots WHERE id = $1", 1, p, DB_TIMEOUT_MS, on_risk_stage, a) < 0) free(a);
    }
    if (strcmp(outcome, "TRADED") == 0 || strcmp(outcome, "SUPPRESSED") == 0) {
        struct act *a = new_act(bot_id, run_id, "", "", trace_id, 0);
        const char *p[2] = {bot_id, run_id};
        if (db_query("UPDATE bot_instances SET breaker_state = 'CLOSED', breaker_failures = 0, breaker_opened_at = NULL "
                     "WHERE bot_id = $1 AND breaker_state <> 'CLOSED' AND state IN ('STARTING', 'RUNNING', 'DEAD') "
                     "AND EXISTS (SELECT 1 FROM bot_instances r WHERE r.id::text = $2 AND r.bot_id = $1 "
                     "  AND r.state IN ('STARTING', 'RUNNING') AND r.breaker_state = 'HALF_OPEN') RETURNING id",
                     2, p, DB_TIMEOUT_MS, on_closed, a) < 0)
            free(a);
    }
}

/* ---- sweeps (leader) ---- */

static void on_live(struct pg_result *res, const char *err, void *arg)
{
    char *trace = arg;
    S.sweep_pending--;
    if (!res) {
        LOG_ERROR(trace, "supervisor sweep failed", "error=\"%s\"", err);
        free(trace);
        return;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        int interval = scheduler_interval_s(PQgetvalue(res, i, 2), PQgetisnull(res, i, 3) ? NULL : PQgetvalue(res, i, 3));
        int timeout = scheduler_heartbeat_timeout_s(PQgetvalue(res, i, 2), PQgetisnull(res, i, 3) ? NULL : PQgetvalue(res, i, 3));
        long stuck = 10L * interval, age = atol(PQgetvalue(res, i, 4));
        if (age > stuck && stuck > timeout)
            death(new_act(PQgetvalue(res, i, 1), PQgetvalue(res, i, 0), "TIMEOUT", "RUNNER_STUCK", trace, 1));
        else if (age > timeout)
            death(new_act(PQgetvalue(res, i, 1), PQgetvalue(res, i, 0), "TIMEOUT", "HEARTBEAT_TIMEOUT", trace, 0));
    }
    free(trace);
}

static void on_half_open(struct pg_result *res, const char *err, void *arg)
{
    char *trace = arg;
    S.sweep_pending--;
    if (!res) {
        LOG_ERROR(trace, "supervisor cool-down sweep failed", "error=\"%s\"", err);
        free(trace);
        return;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        const char *inst = PQgetvalue(res, i, 0), *bot = PQgetvalue(res, i, 1);
        int probe = strcmp(PQgetvalue(res, i, 2), "RUNNING") == 0;
        event("breaker", "warning", bot, probe ? "circuit breaker HALF_OPEN after the cool-down; one probe restart"
                                               : "circuit breaker HALF_OPEN after the cool-down; the bot is not desired RUNNING",
              trace, json_pack("{s:s, s:s, s:s, s:b}", "from", "OPEN", "to", "HALF_OPEN", "instance_id", inst, "probe", probe));
        autonomy_request(bot, trace);
        if (probe) restart(new_act(bot, inst, "", "BREAKER_HALF_OPEN_PROBE", trace, 0));
    }
    free(trace);
}

void supervisor_leader_tick(void)
{
    time_t now = clock_wall_s();
    risk_watch_sweep();
    reconcile_sweep();
    char trace[33], cooldown[16];
    if (S.sweep_pending > 0 || now - S.last_sweep < SWEEP_EVERY_S) return;
    S.last_sweep = now;
    http_new_trace_id(trace);
    char *t1 = strdup(trace), *t2 = strdup(trace);
    if (db_query("SELECT i.id::text, i.bot_id::text, b.timeframe, b.params->>'tick_interval_s', "
                 "extract(epoch FROM gh_now() - coalesce(i.last_heartbeat_at, i.started_at))::bigint "
                 "FROM bot_instances i JOIN bots b ON b.id = i.bot_id WHERE i.state IN ('STARTING', 'RUNNING')",
                 0, NULL, DB_TIMEOUT_MS, on_live, t1) == 0)
        S.sweep_pending++;
    else free(t1);
    snprintf(cooldown, sizeof cooldown, "%d", cfg.breaker_cooldown_s);
    const char *p[1] = {cooldown};
    /* only the bot's latest instance carries its breaker; no live instance may exist beside it */
    if (db_query("UPDATE bot_instances i SET breaker_state = 'HALF_OPEN' FROM bots b WHERE b.id = i.bot_id "
                 "AND i.breaker_state = 'OPEN' AND i.state IN ('DEAD', 'KILLED') "
                 "AND i.breaker_opened_at < gh_now() - make_interval(secs => $1::int) "
                 "AND NOT EXISTS (SELECT 1 FROM bot_instances j WHERE j.bot_id = i.bot_id AND j.id <> i.id "
                 "  AND (j.started_at > i.started_at OR j.state IN ('STARTING', 'RUNNING'))) "
                 "RETURNING i.id::text, i.bot_id::text, b.desired_state",
                 1, p, DB_TIMEOUT_MS, on_half_open, t2) == 0)
        S.sweep_pending++;
    else free(t2);
}
