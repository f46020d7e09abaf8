/* scheduler.h — the scheduler loop and its leadership.
 *
 * A 1 s tick on the event loop records that the loop is alive (last tick, lag behind schedule). With
 * several instances on one database exactly one is leader: it holds a lease row in app_settings
 * ('scheduler_leader': instance id + expiry), renewed every 2 s and taken over by another instance once it
 * has expired (7 s, so within 9 s of its death). A lease rather than a session advisory lock, because queries
 * go through a pool with no session affinity; the guarantee is the same.
 *
 * The leader ticks the running bots: their list is refreshed every second, and each bot ticks every
 * interval in its own slot (an offset below 1 s derived from its id, checked every 10 ms), so 500 bots
 * ticking every second start about one tick every 2 ms rather than 500 at once. Scheduled ticks share
 * market data per symbol/timeframe and second (runner_tick_scheduled). A tick still running skips its slot.
 */
#ifndef GATEHOUSE_SCHEDULER_H
#define GATEHOUSE_SCHEDULER_H

#include <time.h>

struct event_base;

struct scheduler_status {
    int active; /* the tick timer is armed (staleness of last_tick_at is the gate policy's call) */
    int leader; /* this instance holds the lease */
    time_t last_tick_at;
    int loop_lag_ms; /* how late the last tick fired */
    char instance_id[37];
};

/* Starts the tick and the lease. Returns 0 or -1. */
int scheduler_start(struct event_base *base);

/* Stops; a held lease is released (best effort) so another instance takes over at once. */
void scheduler_stop(void);

/* The scheduler's current facts. */
void scheduler_status(struct scheduler_status *out);

#endif
