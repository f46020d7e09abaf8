/* scheduler.c — loop tick and lease-based leadership. */
#include "clock.h"
#include "scheduler.h"

#include <event2/event.h>
#include <libpq-fe.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "autonomy.h"
#include "config.h"
#include "db.h"
#include "cadence.h"
#include "id.h"
#include "log.h"
#include "runner.h"
#include "status.h"
#include "supervisor.h"

#include <stdlib.h>

#define TICK_MS 1000
#define LEASE_EVERY_TICKS 2
#define LEASE_S 7 /* renewed every 2 s: a dead leader is replaced within 9 s */

#define MAX_BOTS 4096
#define DISPATCH_MS 10 /* granularity of the staggered bot ticks */

struct due_bot {
    char id[37];
    int interval_s;
    double next_due_ms; /* clock_now_ms() at which its next tick starts */
};

static struct {
    struct event *tick, *dispatch;
    struct due_bot bots[MAX_BOTS], fresh[MAX_BOTS];
    int n_bots, list_pending, ticks_started;
    double expected_ms;
    time_t last_tick_at;
    int lag_ms, leader, lease_pending;
    unsigned ticks;
    char instance[37];
} S;

/* Hands the scheduler's facts to status (the snapshot gates.lua judges); called whenever one changes. */
static void push_facts(void)
{
    struct status_scheduler_facts f = {.active = S.tick != NULL,
                                       .leader = S.leader,
                                       .last_tick_at = S.last_tick_at,
                                       .loop_lag_ms = S.lag_ms};
    status_note_scheduler(&f);
}

static void on_lease(struct pg_result *res, const char *err, void *arg)
{
    int was = S.leader;
    S.lease_pending = 0;
    /* Without an answer the lease may have lapsed: stop acting as leader (fail closed). */
    S.leader = res && PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), S.instance) == 0;
    if (S.leader != was)
        LOG_INFO(NULL, S.leader ? "scheduler leadership acquired" : "scheduler leadership lost",
                 "instance=%s", S.instance);
    push_facts();
}

/* Takes the lease when it is free or expired, renews it when ours; answers with the holder. */
static void renew_lease(void)
{
    char lease_s[12];
    const char *params[2] = {S.instance, lease_s};
    snprintf(lease_s, sizeof lease_s, "%d", LEASE_S);
    if (S.lease_pending) return;
    if (db_query(
            "INSERT INTO app_settings (key, value) VALUES ('scheduler_leader', "
            "  jsonb_build_object('instance', $1::text, 'expires_at', gh_now() + make_interval(secs => $2::int))) "
            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value "
            "  WHERE app_settings.value->>'instance' = $1 "
            "     OR (app_settings.value->>'expires_at')::timestamptz < gh_now() "
            "RETURNING value->>'instance'",
            2, params, 1500, on_lease, NULL) == 0)
        S.lease_pending = 1;
}

/* ---- bot ticks (leader only) ---- */

/* A bot's fixed offset within its interval (at most 1 s), from its id: the fleet's ticks spread evenly over
 * each second instead of all starting at once, and a bot keeps its slot across list refreshes and leaders. */
static double phase_ms(const char *id, int interval_s)
{
    unsigned h = 2166136261u;
    for (const char *p = id; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    unsigned span = interval_s * 1000 < 1000 ? (unsigned)interval_s * 1000 : 1000;
    return (double)(h % span);
}

/* The first slot of a bot new to the list: its phase, and not before its interval since the last tick the
 * heartbeat recorded (a new leader does not tick a bot again early). */
static double first_due_ms(const char *id, int interval_s, const char *last_tick_epoch, double now_ms)
{
    double due = now_ms + phase_ms(id, interval_s);
    if (last_tick_epoch) {
        double wait_ms = ((double)atoll(last_tick_epoch) + interval_s - (double)clock_wall_s()) * 1000.0;
        if (now_ms + wait_ms > due) due = now_ms + wait_ms;
    }
    return due;
}

/* Rows come ordered by id, as the current list is: bots already known keep their next slot (a merge). */
static void on_bot_list(struct pg_result *res, const char *err, void *arg)
{
    double now_ms = clock_now_ms();
    int n = 0, old = 0;
    S.list_pending = 0;
    if (!res) return; /* keep the last list: a DB outage blocks ticks through the gates anyway */
    for (int i = 0; i < PQntuples(res) && n < MAX_BOTS; i++) {
        struct due_bot *b = &S.fresh[n++];
        snprintf(b->id, sizeof b->id, "%s", PQgetvalue(res, i, 0));
        b->interval_s =
            cadence_interval_s(PQgetvalue(res, i, 1), PQgetisnull(res, i, 2) ? NULL : PQgetvalue(res, i, 2));
        while (old < S.n_bots && strcmp(S.bots[old].id, b->id) < 0)
            old++;
        if (old < S.n_bots && strcmp(S.bots[old].id, b->id) == 0 && S.bots[old].interval_s == b->interval_s)
            b->next_due_ms = S.bots[old].next_due_ms;
        else
            b->next_due_ms = first_due_ms(b->id, b->interval_s,
                                          PQgetisnull(res, i, 3) ? NULL : PQgetvalue(res, i, 3), now_ms);
    }
    memcpy(S.bots, S.fresh, (size_t)n * sizeof *S.bots);
    S.n_bots = n;
}

/* The done-callback of a scheduled tick: the supervisor judges its outcome (death, risk kill, breaker close).
 */
static void on_scheduled_tick(const json_t *summary, const char *code, const char *err, void *arg)
{
    if (summary) supervisor_tick_finished(summary);
}

static void refresh_bot_list(void)
{
    if (!S.list_pending &&
        db_query("SELECT b.id::text, b.timeframe, b.params->>'tick_interval_s', "
                 "extract(epoch FROM i.last_tick_at)::bigint FROM bots b JOIN bot_instances i "
                 "ON i.bot_id = b.id AND i.state = 'RUNNING' ORDER BY b.id::text COLLATE \"C\"",
                 0, NULL, 1500, on_bot_list, NULL) == 0)
        S.list_pending = 1;
}

/* Starts the ticks whose slot has come. A tick still running (or not startable) skips its slot: ticks of
 * one bot never overlap, and a late fleet keeps its slots instead of bunching up. */
static void on_dispatch(evutil_socket_t fd, short what, void *arg)
{
    double now = clock_now_ms();
    char trace[33];
    if (!S.leader) return;
    for (int i = 0; i < S.n_bots; i++) {
        struct due_bot *b = &S.bots[i];
        if (b->next_due_ms > now) continue;
        id_trace_new(trace);
        if (runner_tick_scheduled(b->id, trace, on_scheduled_tick, NULL) == 0) S.ticks_started++;
        /* the next slot after now, in whole intervals: a late loop (or a regained lease) keeps each bot's
         * slot */
        double every = b->interval_s * 1000.0;
        b->next_due_ms += every * (floor((now - b->next_due_ms) / every) + 1);
    }
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    double now = clock_now_ms();
    S.lag_ms = S.expected_ms > 0 && now > S.expected_ms ? (int)(now - S.expected_ms) : 0;
    S.expected_ms = now + TICK_MS;
    S.last_tick_at = clock_wall_s();
    push_facts();
    if (S.ticks++ % LEASE_EVERY_TICKS == 0) renew_lease();
    if (S.leader) {
        refresh_bot_list(); /* exactly one instance ticks bots (on_dispatch) */
        supervisor_leader_tick();
        autonomy_leader_tick(status_decision()); /* the periodic autonomy round of every bot */
    }
}

int scheduler_start(struct event_base *base)
{
    struct timeval every = {TICK_MS / 1000, (TICK_MS % 1000) * 1000};
    memset(&S, 0, sizeof S);
    snprintf(S.instance, sizeof S.instance, "%s", id_instance());
    struct timeval dispatch_every = {0, DISPATCH_MS * 1000};
    S.tick = event_new(base, -1, EV_PERSIST, on_tick, NULL);
    if (!S.tick || event_add(S.tick, &every) < 0) return -1;
    S.dispatch = event_new(base, -1, EV_PERSIST, on_dispatch, NULL);
    if (!S.dispatch || event_add(S.dispatch, &dispatch_every) < 0) return -1;
    on_tick(-1, 0, NULL);
    return 0;
}

static void on_release(struct pg_result *res, const char *err, void *arg) {}

void scheduler_stop(void)
{
    if (S.leader) {
        const char *params[1] = {S.instance};
        db_query("DELETE FROM app_settings WHERE key = 'scheduler_leader' AND value->>'instance' = $1", 1,
                 params, 500, on_release, NULL);
    }
    if (S.tick) event_free(S.tick);
    if (S.dispatch) event_free(S.dispatch);
    S.tick = S.dispatch = NULL;
    S.leader = 0;
    push_facts();
}

void scheduler_status(struct scheduler_status *out)
{
    memset(out, 0, sizeof *out);
    out->active =
        S.tick != NULL; /* the timer is armed; gates.lua judges a stale last_tick_at (scheduler_stale_s) */
    out->leader = S.leader;
    out->last_tick_at = S.last_tick_at;
    out->loop_lag_ms = S.lag_ms;
    snprintf(out->instance_id, sizeof out->instance_id, "%s", S.instance);
}
