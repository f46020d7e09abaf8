/* instances.c — every write of the bot lifecycle: instances, desired state, breaker columns (model in
 * instances.h). */
#include "instances.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "db.h"
#include "id.h"
#include "log.h"
#include "orders.h"

#define DB_TIMEOUT_MS 3000

/* ---- the statements ---- */

/* Operator start: $1 bot, $2 host, $3 trace. The bot is desired RUNNING; the new instance follows the bot's
 * latest. */
static const char INSTANCE_OPEN_SQL[] =
    "WITH b AS (UPDATE bots SET desired_state = 'RUNNING' WHERE id = $1), "
    "prev AS (SELECT * FROM bot_instances WHERE bot_id = $1 ORDER BY started_at DESC LIMIT 1), "
    "ins AS (INSERT INTO bot_instances (bot_id, state, started_at, last_heartbeat_at, host, trace_id, restart_count, "
    "  breaker_state, breaker_failures, breaker_opened_at) "
    "  SELECT $1, 'RUNNING', gh_now(), gh_now(), $2, $3, coalesce((SELECT restart_count + 1 FROM prev), 0), "
    "  coalesce((SELECT breaker_state FROM prev), 'CLOSED'), coalesce((SELECT breaker_failures FROM prev), 0), "
    "  (SELECT breaker_opened_at FROM prev) RETURNING *) "
    "SELECT row_to_json(ins)::text, id::text, restart_count, breaker_state FROM ins";

/* Supervisor restart: $1 the dead instance, $2 host, $3 trace. Only while the bot is desired RUNNING and none
 * is live; the dead instance hands its breaker over. */
static const char INSTANCE_RESTART_SQL[] =
    "WITH prev AS (SELECT i.* FROM bot_instances i JOIN bots b ON b.id = i.bot_id "
    "  WHERE i.id = $1 AND b.desired_state = 'RUNNING'), "
    "ins AS (INSERT INTO bot_instances (bot_id, state, started_at, last_heartbeat_at, host, trace_id, "
    "  restart_count, breaker_state, breaker_failures, breaker_opened_at) "
    "  SELECT bot_id, 'RUNNING', gh_now(), gh_now(), $2, $3, restart_count + 1, breaker_state, breaker_failures, "
    "  breaker_opened_at FROM prev "
    "  ON CONFLICT (bot_id) WHERE state IN ('STARTING', 'RUNNING') DO NOTHING RETURNING *), "
    "old AS (UPDATE bot_instances SET breaker_state = 'CLOSED', breaker_opened_at = NULL "
    "  WHERE id = $1 AND EXISTS (SELECT 1 FROM ins)) "
    "SELECT row_to_json(ins)::text, id::text, restart_count, breaker_state FROM ins";

/* Stop and kill: $1 bot (NULL: every bot with a live instance), $2 the end state (STOPPED | KILLED), $3
 * whether the bot's desired_state becomes $2 too. */
static const char INSTANCE_END_SQL[] =
    "WITH i AS (UPDATE bot_instances SET state = $2, stopped_at = gh_now() WHERE state IN ('STARTING', 'RUNNING') "
    "  AND ($1::uuid IS NULL OR bot_id = $1::uuid) RETURNING bot_id, row_to_json(bot_instances)::text AS j), "
    "b AS (UPDATE bots SET desired_state = $2 WHERE $3::boolean "
    "  AND (id = $1::uuid OR ($1::uuid IS NULL AND id IN (SELECT bot_id FROM i))) RETURNING id, name, params) "
    "SELECT coalesce(b.id, i.bot_id)::text, b.name, coalesce((b.params->>'flatten_on_kill')::boolean, false), i.j "
    "FROM b FULL JOIN i ON i.bot_id = b.id ORDER BY b.name";

/* $1 the bots ticked since the last flush (uuid[]). */
static const char INSTANCE_HEARTBEAT_SQL[] =
    "UPDATE bot_instances SET last_heartbeat_at = gh_now(), last_tick_at = gh_now() "
    "WHERE bot_id = ANY($1::uuid[]) AND state IN ('STARTING', 'RUNNING')";

/* $1 bot, $2 the tick's run id, $3 the breaker states a good tick closes (text[]), $4 the closed state. */
static const char INSTANCE_CLOSE_BREAKER_SQL[] =
    "UPDATE bot_instances SET breaker_state = $4, breaker_failures = 0, breaker_opened_at = NULL "
    "WHERE bot_id = $1 AND breaker_state <> $4 AND state IN ('STARTING', 'RUNNING', 'DEAD') "
    "AND EXISTS (SELECT 1 FROM bot_instances r WHERE r.id::text = $2 AND r.bot_id = $1 "
    "  AND r.state IN ('STARTING', 'RUNNING') AND r.breaker_state = ANY($3::text[])) RETURNING id";

/* $1 bot, $2 instance (NULL: the bot's live one), $3 the window (s): the breaker facts of the dying instance.
 */
static const char INSTANCE_DEATH_FACTS_SQL[] =
    "SELECT i.id::text, i.bot_id::text, b.stage, i.breaker_state, i.breaker_failures, "
    "  (SELECT count(*) FROM job_run_events e JOIN jobs j ON j.id = e.job_id "
    "    WHERE j.bot_id = i.bot_id AND j.kind = 'RUNNER' AND e.from_state = 'RUNNING' "
    "    AND e.to_state IN ('FAILED', 'TIMEOUT') AND e.created_at > gh_now() - make_interval(secs => $3::int)) "
    "FROM bot_instances i JOIN bots b ON b.id = i.bot_id "
    "WHERE i.bot_id = $1 AND i.state IN ('STARTING', 'RUNNING') AND ($2::text IS NULL OR i.id::text = $2)";

/* $1 instance, $2 job end (FAILED | TIMEOUT), $3 reason, $4 trace, $5 window (s), $6 instance end (DEAD |
 * KILLED), $7 failures, $8 the breaker state breaker_next() decided. */
static const char INSTANCE_DEATH_SQL[] =
    "WITH inst AS (UPDATE bot_instances i SET state = $6, stopped_at = gh_now(), breaker_failures = $7::int, "
    "  breaker_state = $8::text, breaker_opened_at = CASE WHEN $8::text = 'OPEN' AND i.breaker_state <> 'OPEN' "
    "  THEN gh_now() ELSE i.breaker_opened_at END "
    "  WHERE i.id = $1::uuid AND i.state IN ('STARTING', 'RUNNING') RETURNING i.id, i.bot_id, i.started_at), "
    "job AS (INSERT INTO jobs (bot_id, kind, state, params, error_code, started_at, finished_at, trace_id) "
    "  SELECT inst.bot_id, 'RUNNER', $2, jsonb_build_object('instance_id', inst.id), $3, inst.started_at, gh_now(), $4 "
    "  FROM inst RETURNING id), "
    "ev AS (INSERT INTO job_run_events (job_id, from_state, to_state, reason_code, trace_id, metadata, created_at) "
    "  SELECT job.id, v.f, v.t, v.r, $4, v.m, v.at FROM job, inst, LATERAL (VALUES "
    "   (NULL::text, 'QUEUED', 'RUNNER_STARTED', jsonb_build_object('instance_id', inst.id), inst.started_at), "
    "   ('QUEUED', 'RUNNING', 'RUNNER_STARTED', jsonb_build_object('instance_id', inst.id), inst.started_at), "
    "   ('RUNNING', $2, $3, jsonb_build_object('instance_id', inst.id, 'breaker_failures', $7::int, "
    "     'breaker_state', $8::text, 'window_s', $5::int, 'instance_state', $6::text), gh_now())) "
    "   AS v(f, t, r, m, at)) "
    "SELECT job.id::text FROM job";

/* The breakers the cool-down sweep looks at: each bot's latest instance, ended, OPEN, nothing live beside it.
 */
#define LATEST_OPEN_ENDED                                                                                    \
    "i.breaker_state = 'OPEN' AND i.state IN ('DEAD', 'KILLED') "                                            \
    "AND NOT EXISTS (SELECT 1 FROM bot_instances j WHERE j.bot_id = i.bot_id AND j.id <> i.id "              \
    "  AND (j.started_at > i.started_at OR j.state IN ('STARTING', 'RUNNING')))"

static const char INSTANCE_OPEN_BREAKERS_SQL[] =
    "SELECT i.id::text, extract(epoch FROM gh_now() - i.breaker_opened_at)::float8 FROM bot_instances i "
    "WHERE i.breaker_opened_at IS NOT NULL AND " LATEST_OPEN_ENDED;

/* $1 the instances breaker_next(CLOCK) turned HALF_OPEN (uuid[]), $2 that state. */
static const char INSTANCE_HALF_OPEN_SQL[] =
    "UPDATE bot_instances i SET breaker_state = $2 FROM bots b WHERE b.id = i.bot_id AND i.id = ANY($1::uuid[]) "
    "AND " LATEST_OPEN_ENDED " RETURNING i.id::text, i.bot_id::text, b.desired_state";

/* ---- helpers ---- */

static struct breaker_cfg breaker_cfg(void)
{
    struct breaker_cfg c = {cfg.breaker_failures, cfg.breaker_cooldown_s};
    return c;
}

static void copy(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "");
}

static const char *col(struct pg_result *res, int row, int c)
{
    return PQgetisnull(res, row, c) ? NULL : PQgetvalue(res, row, c);
}

/* ---- open ---- */

struct open_call {
    instance_open_cb cb;
    void *arg;
};

static void on_opened(struct pg_result *res, const char *err, void *arg)
{
    struct open_call *c = arg;
    if (!res) {
        c->cb(err ? err : "instance not written", NULL, c->arg);
    } else if (PQntuples(res) == 1) {
        struct instance_row row = {col(res, 0, 1), col(res, 0, 0), atoi(PQgetvalue(res, 0, 2)),
                                   col(res, 0, 3)};
        c->cb(NULL, &row, c->arg);
    } else {
        c->cb(NULL, NULL, c->arg);
    }
    free(c);
}

int instance_open(const struct instance_open_req *req, instance_open_cb cb, void *arg)
{
    struct open_call *c = calloc(1, sizeof *c);
    if (!c) return -1;
    c->cb = cb;
    c->arg = arg;
    int restart = req->after_instance_id != NULL;
    const char *p[3] = {restart ? req->after_instance_id : req->bot_id, req->host, req->trace_id};
    if (db_query(restart ? INSTANCE_RESTART_SQL : INSTANCE_OPEN_SQL, 3, p, DB_TIMEOUT_MS, on_opened, c) < 0) {
        free(c);
        return -1;
    }
    return 0;
}

/* ---- stop and kill ---- */

struct end_call {
    instance_end_cb cb;
    void *arg;
    int kill, flatten;
    char bot_id[37], reason[64], trace_id[33], user_id[37];
};

/* The kill's order side: the bot's working orders cancelled (kill-all: all, then each flattening bot). */
static void cancel_orders(const struct end_call *c, struct pg_result *res)
{
    const char *user = c->user_id[0] ? c->user_id : NULL;
    int n = res ? PQntuples(res) : 0;
    if (!c->bot_id[0]) {
        orders_cancel_working(NULL, c->reason, c->trace_id, user, 0);
        for (int i = 0; c->flatten && i < n; i++)
            if (strcmp(PQgetvalue(res, i, 2), "t") == 0)
                orders_cancel_working(PQgetvalue(res, i, 0), c->reason, c->trace_id, user, 1);
        return;
    }
    int flatten = c->flatten && n == 1 && strcmp(PQgetvalue(res, 0, 2), "t") == 0;
    orders_cancel_working(c->bot_id, c->reason, c->trace_id, user, flatten);
}

static void on_ended(struct pg_result *res, const char *err, void *arg)
{
    struct end_call *c = arg;
    int n = res ? PQntuples(res) : 0;
    struct instance_ended *rows = n ? calloc((size_t)n, sizeof *rows) : NULL;
    if (!res)
        LOG_ERROR(c->trace_id, "instance end not written", "bot=%s error=\"%s\"",
                  c->bot_id[0] ? c->bot_id : "*", err);
    if (c->kill) cancel_orders(c, res); /* also when the write failed: nothing more may fill */
    for (int i = 0; rows && i < n; i++) {
        rows[i].bot_id = PQgetvalue(res, i, 0);
        rows[i].name = col(res, i, 1);
        rows[i].flatten_on_kill = strcmp(PQgetvalue(res, i, 2), "t") == 0;
        rows[i].instance_json = col(res, i, 3);
    }
    if (c->cb) c->cb(res ? NULL : err ? err : "instance end not written", rows, rows ? n : 0, c->arg);
    free(rows);
    free(c);
}

static int end_instances(struct end_call *c, const char *bot_id, const char *state, int desired_too)
{
    const char *p[3] = {bot_id, state, desired_too ? "true" : "false"};
    if (db_query(INSTANCE_END_SQL, 3, p, DB_TIMEOUT_MS, on_ended, c) < 0) {
        free(c);
        return -1;
    }
    return 0;
}

int instance_stop(const char *bot_id, int desired_too, instance_end_cb cb, void *arg)
{
    struct end_call *c = calloc(1, sizeof *c);
    if (!c || !bot_id) {
        free(c);
        return -1;
    }
    c->cb = cb;
    c->arg = arg;
    copy(c->bot_id, sizeof c->bot_id, bot_id);
    return end_instances(c, bot_id, "STOPPED", desired_too);
}

int instance_kill(const struct instance_kill_req *k, instance_end_cb cb, void *arg)
{
    struct end_call *c = calloc(1, sizeof *c);
    if (!c) return -1;
    c->cb = cb;
    c->arg = arg;
    c->kill = 1;
    c->flatten = k->flatten;
    copy(c->bot_id, sizeof c->bot_id, k->bot_id);
    copy(c->reason, sizeof c->reason, k->reason);
    copy(c->trace_id, sizeof c->trace_id, k->trace_id);
    copy(c->user_id, sizeof c->user_id, k->user_id);
    if (db_query(INSTANCE_END_SQL, 3, (const char *[3]){k->bot_id, "KILLED", "true"}, DB_TIMEOUT_MS, on_ended,
                 c) < 0) {
        cancel_orders(c, NULL);
        free(c);
        return -1;
    }
    return 0;
}

/* ---- ticks ---- */

static void on_heartbeat(struct pg_result *res, const char *err, void *arg)
{
    if (!res) LOG_ERROR(NULL, "heartbeats not written", "error=\"%s\"", err);
}

/* The heartbeats since the last flush: one statement a second for all of them instead of one per tick. */
#define HEARTBEAT_BATCH 512
static struct {
    char bots[HEARTBEAT_BATCH][37];
    int n;
} hb;

void instance_heartbeats_flush(void)
{
    if (hb.n == 0) return;
    char *list = id_list_literal(hb.bots, hb.n);
    const char *p[1] = {list};
    hb.n = 0;
    if (!list || db_query(INSTANCE_HEARTBEAT_SQL, 1, p, DB_TIMEOUT_MS, on_heartbeat, NULL) < 0)
        LOG_ERROR(NULL, "heartbeats not queued", NULL);
    free(list); /* db_query copied it */
}

void instance_heartbeat(const char *bot_id, const char *trace_id)
{
    if (!bot_id || strlen(bot_id) != 36) return;
    if (hb.n == HEARTBEAT_BATCH) instance_heartbeats_flush();
    memcpy(hb.bots[hb.n++], bot_id, 37);
}

struct close_call {
    instance_closed_cb cb;
    void *arg;
};

static void on_closed(struct pg_result *res, const char *err, void *arg)
{
    struct close_call *c = arg;
    c->cb(res ? NULL : err ? err : "breaker not written", res && PQntuples(res) > 0, c->arg);
    free(c);
}

/* The states a good tick closes, as a Postgres text[] literal: what breaker_next() says (today {HALF_OPEN}).
 */
static void closing_states(char *out, size_t n)
{
    struct breaker_cfg bc = breaker_cfg();
    size_t at = (size_t)snprintf(out, n, "{");
    for (int s = BREAKER_CLOSED; s <= BREAKER_HALF_OPEN && at < n; s++)
        if (s != BREAKER_CLOSED &&
            breaker_next((enum breaker_state)s, 0, BREAKER_EV_GOOD_TICK, &bc, 0) == BREAKER_CLOSED)
            at += (size_t)snprintf(out + at, n - at, "%s%s", at > 1 ? "," : "",
                                   breaker_state_name((enum breaker_state)s));
    if (at < n) snprintf(out + at, n - at, "}");
}

int instance_breaker_closes(const char *state)
{
    enum breaker_state s;
    struct breaker_cfg bc = breaker_cfg();
    if (!state || breaker_state_parse(state, &s) < 0) return -1;
    return s != BREAKER_CLOSED && breaker_next(s, 0, BREAKER_EV_GOOD_TICK, &bc, 0) == BREAKER_CLOSED;
}

int instance_close_breaker(const char *bot_id, const char *run_id, instance_closed_cb cb, void *arg)
{
    char states[64];
    struct close_call *c = calloc(1, sizeof *c);
    if (!c) return -1;
    c->cb = cb;
    c->arg = arg;
    closing_states(states, sizeof states);
    const char *p[4] = {bot_id, run_id, states, breaker_state_name(BREAKER_CLOSED)};
    if (db_query(INSTANCE_CLOSE_BREAKER_SQL, 4, p, DB_TIMEOUT_MS, on_closed, c) < 0) {
        free(c);
        return -1;
    }
    return 0;
}

/* ---- death ---- */

struct death_call {
    instance_death_cb cb;
    void *arg;
    char bot_id[37], instance_id[37], stage[16], to_state[16], reason[64], trace_id[33];
    int kill;
    struct instance_death d;
};

static void death_done(struct death_call *c, const char *err, const struct instance_death *d)
{
    c->cb(err, d, c->arg);
    free(c);
}

static void on_death_written(struct pg_result *res, const char *err, void *arg)
{
    struct death_call *c = arg;
    if (!res || PQntuples(res) != 1) { /* ended meanwhile (another death won): nothing recorded */
        death_done(c, res ? NULL : err ? err : "death not written", NULL);
        return;
    }
    c->d.job_id = PQgetvalue(res, 0, 0);
    death_done(c, NULL, &c->d);
}

/* The facts arrived: breaker_next() decides, the second statement persists it. */
static void on_death_facts(struct pg_result *res, const char *err, void *arg)
{
    struct death_call *c = arg;
    char window[16], failures[16];
    struct breaker_cfg bc = breaker_cfg();
    if (!res || PQntuples(res) != 1) {
        death_done(c, res ? NULL : err ? err : "death facts not read", NULL);
        return;
    }
    copy(c->instance_id, sizeof c->instance_id, PQgetvalue(res, 0, 0));
    copy(c->bot_id, sizeof c->bot_id, PQgetvalue(res, 0, 1));
    copy(c->stage, sizeof c->stage, PQgetvalue(res, 0, 2));
    if (breaker_state_parse(PQgetvalue(res, 0, 3), &c->d.was) < 0) c->d.was = BREAKER_CLOSED;
    c->d.failures = breaker_failures(atoi(PQgetvalue(res, 0, 4)), atoi(PQgetvalue(res, 0, 5)));
    c->d.now = breaker_next(c->d.was, c->d.failures, BREAKER_EV_DEATH, &bc, 0);
    c->d.instance_id = c->instance_id;
    c->d.bot_id = c->bot_id;
    c->d.stage = c->stage;
    snprintf(window, sizeof window, "%d", cfg.breaker_window_s);
    snprintf(failures, sizeof failures, "%d", c->d.failures);
    const char *p[8] = {c->instance_id, c->to_state,
                        c->reason,      c->trace_id,
                        window,         c->kill ? "KILLED" : "DEAD",
                        failures,       breaker_state_name(c->d.now)};
    if (db_query(INSTANCE_DEATH_SQL, 8, p, DB_TIMEOUT_MS, on_death_written, c) < 0)
        death_done(c, "death not queued", NULL);
}

int instance_death(const struct instance_death_req *req, instance_death_cb cb, void *arg)
{
    char window[16];
    struct death_call *c = calloc(1, sizeof *c);
    if (!c) return -1;
    c->cb = cb;
    c->arg = arg;
    c->kill = req->kill;
    copy(c->bot_id, sizeof c->bot_id, req->bot_id);
    copy(c->to_state, sizeof c->to_state, req->to_state);
    copy(c->reason, sizeof c->reason, req->reason);
    copy(c->trace_id, sizeof c->trace_id, req->trace_id);
    snprintf(window, sizeof window, "%d", cfg.breaker_window_s);
    const char *p[3] = {req->bot_id, req->instance_id && req->instance_id[0] ? req->instance_id : NULL,
                        window};
    if (db_query(INSTANCE_DEATH_FACTS_SQL, 3, p, DB_TIMEOUT_MS, on_death_facts, c) < 0) {
        free(c);
        return -1;
    }
    return 0;
}

/* ---- cool-down ---- */

struct sweep_call {
    instance_half_open_cb cb;
    void *arg;
};

static void on_half_opened(struct pg_result *res, const char *err, void *arg)
{
    struct sweep_call *c = arg;
    int n = res ? PQntuples(res) : 0;
    struct instance_half_open *rows = n ? calloc((size_t)n, sizeof *rows) : NULL;
    for (int i = 0; rows && i < n; i++) {
        rows[i].instance_id = PQgetvalue(res, i, 0);
        rows[i].bot_id = PQgetvalue(res, i, 1);
        rows[i].desired_running = strcmp(PQgetvalue(res, i, 2), "RUNNING") == 0;
    }
    c->cb(res ? NULL : err ? err : "breaker not written", rows, rows ? n : 0, c->arg);
    free(rows);
    free(c);
}

/* The OPEN breakers arrived: breaker_next(CLOCK) picks those whose cool-down passed; one UPDATE persists
 * them. */
static void on_open_breakers(struct pg_result *res, const char *err, void *arg)
{
    struct sweep_call *c = arg;
    struct breaker_cfg bc = breaker_cfg();
    int n = res ? PQntuples(res) : 0, picked = 0;
    size_t len = (size_t)n * 38 + 3, at = 0;
    char *ids = res ? malloc(len) : NULL;
    if (!ids) {
        c->cb(res ? "out of memory" : err ? err : "breakers not read", NULL, 0, c->arg);
        free(c);
        return;
    }
    at += (size_t)snprintf(ids + at, len - at, "{");
    for (int i = 0; i < n; i++)
        if (breaker_next(BREAKER_OPEN, 0, BREAKER_EV_CLOCK, &bc, atof(PQgetvalue(res, i, 1))) ==
            BREAKER_HALF_OPEN)
            at += (size_t)snprintf(ids + at, len - at, "%s%s", picked++ ? "," : "", PQgetvalue(res, i, 0));
    snprintf(ids + at, len - at, "}");
    const char *p[2] = {ids, breaker_state_name(BREAKER_HALF_OPEN)};
    if (picked == 0) {
        c->cb(NULL, NULL, 0, c->arg);
        free(c);
    } else if (db_query(INSTANCE_HALF_OPEN_SQL, 2, p, DB_TIMEOUT_MS, on_half_opened, c) < 0) {
        c->cb("breaker write not queued", NULL, 0, c->arg);
        free(c);
    }
    free(ids);
}

int instance_half_open_sweep(instance_half_open_cb cb, void *arg)
{
    struct sweep_call *c = calloc(1, sizeof *c);
    if (!c) return -1;
    c->cb = cb;
    c->arg = arg;
    if (db_query(INSTANCE_OPEN_BREAKERS_SQL, 0, NULL, DB_TIMEOUT_MS, on_open_breakers, c) < 0) {
        free(c);
        return -1;
    }
    return 0;
}
