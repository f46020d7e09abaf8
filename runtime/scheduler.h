/* scheduler.h — the scheduler loop and its leadership.
 *
 * A 1 s tick on the event loop records that the loop is alive (last tick, lag behind schedule). With
 * several instances on one database exactly one is leader: it holds a lease row in app_settings
 * ('scheduler_leader': instance id + expiry), renewed every 2 s and taken over by another instance once it
 * has expired (7 s, so within 9 s of its death). A lease rather than a session advisory lock, because queries go through a pool with no
 * session affinity; the guarantee is the same. Later issues hang bot ticks and supervision on the tick. */
#ifndef GATEHOUSE_SCHEDULER_H
#define GATEHOUSE_SCHEDULER_H

#include <time.h>

struct event_base;

struct scheduler_status {
    int active;          /* the tick timer is armed (staleness of last_tick_at is the gate policy's call) */
    int leader;          /* this instance holds the lease */
    time_t last_tick_at;
    int loop_lag_ms;     /* how late the last tick fired */
    char instance_id[37];
};

/* Starts the tick and the lease. Returns 0 or -1. */
int scheduler_start(struct event_base *base);

/* Stops; a held lease is released (best effort) so another instance takes over at once. */
void scheduler_stop(void);

void scheduler_status(struct scheduler_status *out);

#endif
