/* scheduler.c — loop tick and lease-based leadership. */
#include "scheduler.h"

#include <event2/event.h>
#include <libpq-fe.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "log.h"

#define TICK_MS 1000
#define LEASE_EVERY_TICKS 2
#define LEASE_S 10

static struct {
    struct event *tick;
    double expected_ms;
    time_t last_tick_at;
    int lag_ms, leader, lease_pending;
    unsigned ticks;
    char instance[37];
} S;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void new_instance_id(char out[37])
{
    unsigned char b[16];
    randombytes_buf(b, sizeof b);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3],
             b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

static void on_lease(struct pg_result *res, const char *err, void *arg)
{
    int was = S.leader;
    S.lease_pending = 0;
    /* Without an answer the lease may have lapsed: stop acting as leader (fail closed). */
    S.leader = res && PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), S.instance) == 0;
    if (S.leader != was)
        LOG_INFO(NULL, S.leader ? "scheduler leadership acquired" : "scheduler leadership lost", "instance=%s",
                 S.instance);
}

/* Takes the lease when it is free or expired, renews it when ours; answers with the holder. */
static void renew_lease(void)
{
    char lease_s[12];
    const char *params[2] = {S.instance, lease_s};
    snprintf(lease_s, sizeof lease_s, "%d", LEASE_S);
    if (S.lease_pending) return;
    if (db_query("INSERT INTO app_settings (key, value) VALUES ('scheduler_leader', "
                 "  jsonb_build_object('instance', $1::text, 'expires_at', now() + make_interval(secs => $2::int))) "
                 "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value "
                 "  WHERE app_settings.value->>'instance' = $1 "
                 "     OR (app_settings.value->>'expires_at')::timestamptz < now() "
                 "RETURNING value->>'instance'",
                 2, params, 1500, on_lease, NULL) == 0)
        S.lease_pending = 1;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    double now = now_ms();
    S.lag_ms = S.expected_ms > 0 && now > S.expected_ms ? (int)(now - S.expected_ms) : 0;
    S.expected_ms = now + TICK_MS;
    S.last_tick_at = time(NULL);
    if (S.ticks++ % LEASE_EVERY_TICKS == 0) renew_lease();
}

int scheduler_start(struct event_base *base)
{
    struct timeval every = {TICK_MS / 1000, (TICK_MS % 1000) * 1000};
    memset(&S, 0, sizeof S);
    new_instance_id(S.instance);
    S.tick = event_new(base, -1, EV_PERSIST, on_tick, NULL);
    if (!S.tick || event_add(S.tick, &every) < 0) return -1;
    on_tick(-1, 0, NULL);
    return 0;
}

static void on_release(struct pg_result *res, const char *err, void *arg) {}

void scheduler_stop(void)
{
    if (S.leader) {
        const char *params[1] = {S.instance};
        db_query("DELETE FROM app_settings WHERE key = 'scheduler_leader' AND value->>'instance' = $1", 1, params,
                 500, on_release, NULL);
    }
    if (S.tick) event_free(S.tick);
    S.tick = NULL;
    S.leader = 0;
}

void scheduler_status(struct scheduler_status *out)
{
    memset(out, 0, sizeof *out);
    out->active = S.tick != NULL; /* the timer is armed; gates.lua judges a stale last_tick_at (scheduler_stale_s) */
    out->leader = S.leader;
    out->last_tick_at = S.last_tick_at;
    out->loop_lag_ms = S.lag_ms;
    snprintf(out->instance_id, sizeof out->instance_id, "%s", S.instance);
}
