/* scheduler.c — loop tick, bot ticks of this instance's shards, the leader's singletons (scheduler.h). */
#include "clock.h"
#include "scheduler.h"

#include <event2/event.h>
#include <libpq-fe.h>
#include <math.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "autonomy.h"
#include "config.h"
#include "db.h"
#include "fleet.h"
#include "cadence.h"
#include "id.h"
#include "instances.h"
#include "log.h"
#include "runner.h"
#include "status.h"
#include "supervisor.h"
#include "telemetry.h"

#include <stdlib.h>

#define TICK_MS 1000

#define MAX_BOTS 8192
#define DISPATCH_MS 10 /* granularity of the staggered bot ticks */

struct due_bot {
    char id[37];
    int interval_s, shard;
    double next_due_ms;  /* clock_now_ms() at which its next tick starts */
    long long next_slot; /* the real-time slot that tick is (scheduler.h) */
};

static void refresh_bot_list(void);

static struct {
    struct event *tick, *dispatch;
    struct due_bot bots[MAX_BOTS], fresh[MAX_BOTS];
    int n_bots, list_pending, list_again, ticks_started;
    unsigned long list_version; /* fleet_ownership_version() the list was read for */
    int running[FLEET_SHARDS];  /* scheduled ticks running per shard (a release waits for them) */
    double expected_ms;
    time_t last_tick_at;
    int lag_ms, leader;
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

/* ---- bot ticks (the bots of the shards this instance holds) ---- */

/* A bot's fixed offset within its interval (at most 1 s), from its id: the fleet's ticks spread evenly over
 * each second instead of all starting at once, and a bot keeps its slot across list refreshes and owners. */
static double phase_ms(const char *id, int interval_s)
{
    unsigned h = 2166136261u;
    for (const char *p = id; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    unsigned span = interval_s * 1000 < 1000 ? (unsigned)interval_s * 1000 : 1000;
    return (double)(h % span);
}

/* Real time in ms (the test clock's offset removed): the same instant on every instance of the fleet. */
static double real_ms(void)
{
    return clock_wall() * 1000.0 - (double)clock_offset_ms();
}

/* The first slot of a bot new to this instance's list: the next slot on the real-time grid (slot n starts at
 * n x interval + phase), so every instance agrees which slot a tick is — or, just after a hand-over, the slot
 * under way when it began after the previous owner stopped ticking (fleet_shard_free_since_ms) and is not yet
 * half over. */
static void first_due(struct due_bot *b, double now_ms)
{
    double every = b->interval_s * 1000.0, phase = phase_ms(b->id, b->interval_s), real = real_ms();
    long long slot = (long long)ceil((real - phase) / every);
    double free_since = fleet_shard_free_since_ms(b->shard);
    /* a hand-over: the slot under way began after the previous owner stopped, so nobody ticked it — now, if
     * it is still in its first half (the next slot then comes at least half an interval later) */
    double under_way = (double)(slot - 1) * every + phase;
    if (free_since > 0 && under_way >= free_since && real - under_way <= every / 2) slot--;
    b->next_slot = slot;
    b->next_due_ms = now_ms + ((double)slot * every + phase - real);
}

/* Rows come ordered by id, as the current list is: bots already known keep their next slot (a merge). */
static void on_bot_list(struct pg_result *res, const char *err, void *arg)
{
    double now_ms = clock_now_ms();
    int n = 0, old = 0;
    S.list_pending = 0;
    if (!res) return; /* keep the last list: dispatch still checks each bot's shard lease */
    for (int i = 0; i < PQntuples(res) && n < MAX_BOTS; i++) {
        struct due_bot *b = &S.fresh[n++];
        snprintf(b->id, sizeof b->id, "%s", PQgetvalue(res, i, 0));
        b->interval_s =
            cadence_interval_s(PQgetvalue(res, i, 1), PQgetisnull(res, i, 2) ? NULL : PQgetvalue(res, i, 2));
        b->shard = atoi(PQgetvalue(res, i, 3));
        while (old < S.n_bots && strcmp(S.bots[old].id, b->id) < 0)
            old++;
        if (old < S.n_bots && strcmp(S.bots[old].id, b->id) == 0 && S.bots[old].interval_s == b->interval_s) {
            b->next_due_ms = S.bots[old].next_due_ms;
            b->next_slot = S.bots[old].next_slot;
        } else
            first_due(b, now_ms);
    }
    memcpy(S.bots, S.fresh, (size_t)n * sizeof *S.bots);
    S.n_bots = n;
    if (S.list_again) {
        S.list_again = 0;
        refresh_bot_list();
    }
}

/* The done-callback of a scheduled tick: the supervisor judges its outcome (death, risk kill, breaker close).
 */
static void on_scheduled_tick(const json_t *summary, const char *code, const char *err, void *arg)
{
    int shard = (int)(intptr_t)arg;
    if (shard >= 0 && shard < FLEET_SHARDS && S.running[shard] > 0) S.running[shard]--;
    if (summary) supervisor_tick_finished(summary);
}

/* fleet.h's busy probe: scheduled ticks of shard still running here. */
static int shard_busy(int shard)
{
    return shard >= 0 && shard < FLEET_SHARDS && S.running[shard] > 0;
}

/* The running bots of the shards this instance holds now. */
static void refresh_bot_list(void)
{
    char shards[256];
    const char *p[1] = {shards};
    if (S.list_pending) {
        S.list_again = 1; /* ownership changed while a read was running: read again after it */
        return;
    }
    S.list_version = fleet_ownership_version();
    fleet_owned_shards_literal(shards, sizeof shards);
    if (db_query("SELECT b.id::text, b.timeframe, b.params->>'tick_interval_s', b.shard FROM bots b "
                 "JOIN bot_instances i ON i.bot_id = b.id AND i.state = 'RUNNING' "
                 "WHERE b.shard = ANY($1::smallint[]) ORDER BY b.id::text COLLATE \"C\"",
                 1, p, 1500, on_bot_list, NULL) == 0)
        S.list_pending = 1;
}

/* Starts the ticks whose slot has come, each under its shard's lease epoch. A bot whose shard this instance
 * no longer holds is not ticked (its slot passes). A tick still running (or not startable) skips its slot:
 * ticks of one bot never overlap, and a late fleet keeps its slots instead of bunching up. */
static void on_dispatch(evutil_socket_t fd, short what, void *arg)
{
    double now = clock_now_ms();
    char trace[33];
    if (fleet_ownership_version() != S.list_version) refresh_bot_list();
    for (int i = 0; i < S.n_bots; i++) {
        struct due_bot *b = &S.bots[i];
        if (b->next_due_ms > now) continue;
        long long epoch = fleet_shard_epoch(b->shard);
        if (epoch > 0) {
            struct runner_lease lease = {epoch, b->next_slot};
            id_trace_new(trace);
            if (runner_tick_scheduled(b->id, trace, &lease, on_scheduled_tick, (void *)(intptr_t)b->shard) ==
                0) {
                S.ticks_started++;
                S.running[b->shard]++;
            }
        }
        /* the next slot after now, in whole intervals: a late loop (or a regained lease) keeps each bot's
         * slot */
        double every = b->interval_s * 1000.0;
        long long skip = (long long)floor((now - b->next_due_ms) / every) + 1;
        b->next_due_ms += every * (double)skip;
        b->next_slot += skip;
    }
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    double now = clock_now_ms();
    S.lag_ms = S.expected_ms > 0 && now > S.expected_ms ? (int)(now - S.expected_ms) : 0;
    S.expected_ms = now + TICK_MS;
    S.last_tick_at = clock_wall_s();
    S.ticks++;
    S.leader = fleet_is_leader();
    push_facts();
    instance_heartbeats_flush(); /* the last second's tick heartbeats, in one statement */
    refresh_bot_list();          /* each instance ticks the bots of its shards (on_dispatch) */
    if (S.leader) {              /* the singletons: one instance of the fleet */
        supervisor_leader_tick();
        telemetry_retention_due();
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
    fleet_set_busy_probe(shard_busy);
    on_tick(-1, 0, NULL);
    return 0;
}

void scheduler_stop(void)
{
    fleet_set_busy_probe(NULL);
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
    out->leader = fleet_is_leader();
    out->last_tick_at = S.last_tick_at;
    out->loop_lag_ms = S.lag_ms;
    _Static_assert(sizeof out->instance_id == sizeof S.instance, "instance ids of one size");
    memcpy(out->instance_id, S.instance, sizeof S.instance); /* system/status asks on every request */
}
