/* supervisor.c — deaths, restarts through the circuit breaker, kill triggers (model in supervisor.h). */
#include "supervisor.h"

#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alerts.h"
#include "breaker.h"
#include "instances.h"
#include "reconcile.h"
#include "risk_watch.h"
#include "autonomy.h"
#include "clock.h"
#include "config.h"
#include "db.h"
#include "id.h"
#include "log.h"
#include "cadence.h"
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

static void event(const char *kind, const char *severity, const char *bot_id, const char *msg,
                  const char *trace_id, json_t *meta)
{
    telemetry_system_event(kind, severity, bot_id, msg, trace_id, meta);
    LOG_INFO(trace_id, "supervisor", "kind=%s bot=%s %s", kind, bot_id, msg);
    json_decref(meta);
}

/* ---- kill ---- */

static void kill_bot(const char *bot_id, const char *why, const char *trace_id)
{
    char msg[200], dedup[80];
    /* the supervisor's kill cancels the working orders without flattening */
    struct instance_kill_req k = {
        .bot_id = bot_id, .reason = why, .trace_id = trace_id, .user_id = NULL, .flatten = 0};
    if (instance_kill(&k, NULL, NULL) < 0)
        LOG_ERROR(trace_id, "supervisor kill not queued", "bot=%s", bot_id);
    snprintf(msg, sizeof msg, "bot %s killed by the supervisor: %s", bot_id, why);
    snprintf(dedup, sizeof dedup, "kill:%s", bot_id);
    event("kill", "SEV-2", bot_id, msg, trace_id,
          json_pack("{s:s, s:s}", "reason_code", why, "by", "supervisor"));
    autonomy_request(bot_id, trace_id);
    alerts_notify("kill", dedup, "SEV-2", "gatehouse: bot killed", msg, trace_id);
}

/* ---- restart ---- */

static void on_restarted(const char *err, const struct instance_row *row, void *arg)
{
    struct act *a = arg;
    if (err) {
        LOG_ERROR(a->trace_id, "supervisor restart failed", "bot=%s error=\"%s\"", a->bot_id, err);
    } else if (row) {
        char msg[160];
        snprintf(msg, sizeof msg, "runner restarted (restart_count %d, breaker %s)", row->restart_count,
                 row->breaker_state);
        event("supervisor.restart", "warning", a->bot_id, msg, a->trace_id,
              json_pack("{s:s, s:s, s:i, s:s, s:s}", "instance_id", row->id, "previous_instance_id",
                        a->inst_id, "restart_count", row->restart_count, "breaker_state", row->breaker_state,
                        "reason_code", a->reason));
    } else {
        event("supervisor.restart_skipped", "info", a->bot_id,
              "no restart: the bot is not desired RUNNING or already runs", a->trace_id,
              json_pack("{s:s}", "previous_instance_id", a->inst_id));
    }
    free(a);
}

/* Opens a new RUNNING instance after the dead one (a->inst_id), carrying restart_count + 1 and the breaker
 * (instance_open hands it over). Takes a. */
static void restart(struct act *a)
{
    struct instance_open_req req = {
        .bot_id = a->bot_id, .host = id_instance(), .trace_id = a->trace_id, .after_instance_id = a->inst_id};
    if (instance_open(&req, on_restarted, a) < 0) {
        LOG_ERROR(a->trace_id, "supervisor restart not queued", "bot=%s", a->bot_id);
        free(a);
    }
}

/* ---- death ---- */

static void on_death(const char *err, const struct instance_death *d, void *arg)
{
    struct act *a = arg;
    if (!d) {
        if (err)
            LOG_ERROR(a->trace_id, "supervisor death not recorded", "bot=%s error=\"%s\"", a->bot_id, err);
        free(a);
        return;
    }
    const char *was = breaker_state_name(d->was), *now_state = breaker_state_name(d->now);
    char msg[200];
    str_copy(a->inst_id, sizeof a->inst_id, d->instance_id);
    snprintf(msg, sizeof msg, "runner %s %s (%s); breaker %s, %d failure(s) in the window", a->inst_id,
             a->to_state, a->reason, now_state, d->failures);
    autonomy_request(a->bot_id, a->trace_id); /* a death, and maybe an open breaker, lower its trust */
    event("supervisor.death", "warning", a->bot_id, msg, a->trace_id,
          json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:s}", "instance_id", a->inst_id, "job_id", d->job_id,
                    "to_state", a->to_state, "reason_code", a->reason, "breaker_failures", d->failures,
                    "breaker_state", now_state, "stage", d->stage));
    if (a->kill) {
        kill_bot(a->bot_id, a->reason, a->trace_id);
        free(a);
        return;
    }
    if (d->now == BREAKER_OPEN) {
        char dedup[80];
        snprintf(msg, sizeof msg, "circuit breaker OPEN for bot %s after %d failure(s)%s; restarts blocked",
                 a->bot_id, d->failures, d->was == BREAKER_HALF_OPEN ? " (half-open probe died)" : "");
        snprintf(dedup, sizeof dedup, "breaker:%s", a->bot_id);
        event("breaker", "SEV-2", a->bot_id, msg, a->trace_id,
              json_pack("{s:s, s:s, s:s, s:i, s:s}", "from", was, "to", "OPEN", "instance_id", a->inst_id,
                        "breaker_failures", d->failures, "reason_code", a->reason));
        alerts_notify("breaker", dedup, "SEV-2", "gatehouse: circuit breaker open", msg, a->trace_id);
        if (strcmp(d->stage, "LIVE") == 0) kill_bot(a->bot_id, "CIRCUIT_OPEN", a->trace_id);
        free(a);
        return;
    }
    restart(a); /* takes a */
}

/* Records the death of the live instance a->inst_id (or, when empty, the bot's live instance): instance_death
 * persists breaker_next()'s decision and the RUNNER job. Takes a. */
static void death(struct act *a)
{
    struct instance_death_req req = {.bot_id = a->bot_id,
                                     .instance_id = a->inst_id,
                                     .to_state = a->to_state,
                                     .reason = a->reason,
                                     .trace_id = a->trace_id,
                                     .kill = a->kill};
    if (instance_death(&req, on_death, a) < 0) {
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

static void on_closed(const char *err, int closed, void *arg)
{
    struct act *a = arg;
    if (closed) {
        event("breaker", "info", a->bot_id, "circuit breaker CLOSED: the half-open probe ticked successfully",
              a->trace_id,
              json_pack("{s:s, s:s, s:s}", "from", "HALF_OPEN", "to", "CLOSED", "instance_id", a->inst_id));
        autonomy_request(a->bot_id, a->trace_id);
    } else if (err)
        LOG_ERROR(a->trace_id, "supervisor breaker close failed", "bot=%s error=\"%s\"", a->bot_id, err);
    free(a);
}

static void on_risk_stage(struct pg_result *res, const char *err, void *arg)
{
    struct act *a = arg;
    if (res && PQntuples(res) == 1) {
        if (strcmp(PQgetvalue(res, 0, 0), "LIVE") == 0)
            kill_bot(a->bot_id, a->reason, a->trace_id);
        else
            event("supervisor.risk_breach", "warning", a->bot_id,
                  "risk limit breached; the risk check refused the order", a->trace_id,
                  json_pack("{s:s, s:s}", "reason_code", a->reason, "stage", PQgetvalue(res, 0, 0)));
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
    if (!bot_id || !outcome || !id_is_uuid(bot_id) || !run_id || !id_is_uuid(run_id)) return;
    if (strcmp(outcome, "ERROR") == 0) {
        /* only a tick of the live instance kills it: run_id is the instance id (a random id outside one) */
        death(new_act(bot_id, run_id, "FAILED", reason_code ? reason_code : "TICK_ERROR", trace_id, 0));
        return;
    }
    if (reason_code &&
        (strcmp(reason_code, "MAX_DAILY_LOSS") == 0 || strcmp(reason_code, "MAX_DRAWDOWN") == 0)) {
        struct act *a = new_act(bot_id, run_id, "", reason_code, trace_id, 0);
        const char *p[1] = {bot_id};
        if (db_query("SELECT stage FROM bots WHERE id = $1", 1, p, DB_TIMEOUT_MS, on_risk_stage, a) < 0)
            free(a);
    }
    /* the breaker of the tick's instance as the tick loaded it: a CLOSED one stays closed without a write
     * (one statement per healthy tick saved); unknown (a manual tick's summary without it): ask the database
     */
    const char *breaker = json_string_value(json_object_get(summary, "breaker_state"));
    if ((strcmp(outcome, "TRADED") == 0 || strcmp(outcome, "SUPPRESSED") == 0) &&
        instance_breaker_closes(breaker) != 0) {
        struct act *a = new_act(bot_id, run_id, "", "", trace_id, 0);
        if (instance_close_breaker(bot_id, run_id, on_closed, a) < 0) free(a);
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
        const char *tf = PQgetvalue(res, i, 2),
                   *param = PQgetisnull(res, i, 3) ? NULL : PQgetvalue(res, i, 3);
        int interval = cadence_interval_s(tf, param), timeout = cadence_heartbeat_timeout_s(tf, param);
        long stuck = 10L * interval, age = atol(PQgetvalue(res, i, 4));
        if (age > stuck && stuck > timeout)
            death(new_act(PQgetvalue(res, i, 1), PQgetvalue(res, i, 0), "TIMEOUT", "RUNNER_STUCK", trace, 1));
        else if (age > timeout)
            death(new_act(PQgetvalue(res, i, 1), PQgetvalue(res, i, 0), "TIMEOUT", "HEARTBEAT_TIMEOUT", trace,
                          0));
    }
    free(trace);
}

static void on_half_open(const char *err, const struct instance_half_open *rows, int n, void *arg)
{
    char *trace = arg;
    S.sweep_pending--;
    if (err) {
        LOG_ERROR(trace, "supervisor cool-down sweep failed", "error=\"%s\"", err);
        free(trace);
        return;
    }
    for (int i = 0; i < n; i++) {
        const char *inst = rows[i].instance_id, *bot = rows[i].bot_id;
        int probe = rows[i].desired_running;
        event("breaker", "warning", bot,
              probe ? "circuit breaker HALF_OPEN after the cool-down; one probe restart"
                    : "circuit breaker HALF_OPEN after the cool-down; the bot is not desired RUNNING",
              trace,
              json_pack("{s:s, s:s, s:s, s:b}", "from", "OPEN", "to", "HALF_OPEN", "instance_id", inst,
                        "probe", probe));
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
    char trace[33];
    if (S.sweep_pending > 0 || now - S.last_sweep < SWEEP_EVERY_S) return;
    S.last_sweep = now;
    id_trace_new(trace);
    char *t1 = strdup(trace), *t2 = strdup(trace);
    if (db_query(
            "SELECT i.id::text, i.bot_id::text, b.timeframe, b.params->>'tick_interval_s', "
            "extract(epoch FROM gh_now() - coalesce(i.last_heartbeat_at, i.started_at))::bigint "
            "FROM bot_instances i JOIN bots b ON b.id = i.bot_id WHERE i.state IN ('STARTING', 'RUNNING')",
            0, NULL, DB_TIMEOUT_MS, on_live, t1) == 0)
        S.sweep_pending++;
    else
        free(t1);
    /* only the bot's latest instance carries its breaker; no live instance may exist beside it */
    if (instance_half_open_sweep(on_half_open, t2) == 0)
        S.sweep_pending++;
    else
        free(t2);
}
