/* scheduler.h — the scheduler loop: bot ticks of this instance's shards, and the singletons on the leader.
 *
 * A 1 s tick on the event loop records that the loop is alive (last tick, lag behind schedule). With several
 * instances on one database, each ticks only the running bots of the shards whose leases it holds (fleet.h):
 * their list is re-read every second and at once when its shards change. The instance holding the leader
 * lease also runs the singletons: the supervisor's sweeps (with the risk watch and reconciliation) and the
 * periodic autonomy round.
 *
 * Each bot ticks every interval in its own slot of a real-time grid: slot n starts at n x interval + phase,
 * the phase (below 1 s) derived from its id, checked every 10 ms — so 500 bots ticking every second start
 * about one tick every 2 ms rather than 500 at once, and every instance agrees which slot a tick is (the test
 * clock's offset is left out). A tick carries its slot and its shard's lease epoch (runner.h); a bot whose
 * shard this instance no longer holds is not ticked. Scheduled ticks share market data per symbol/timeframe
 * and second (runner_tick_scheduled). A tick still running skips its slot.
 */
#ifndef GATEHOUSE_SCHEDULER_H
#define GATEHOUSE_SCHEDULER_H

#include <time.h>

struct event_base;

struct scheduler_status {
    int active; /* the tick timer is armed (staleness of last_tick_at is the gate policy's call) */
    int leader; /* this instance holds the leader lease (runs the singletons) */
    time_t last_tick_at;
    int loop_lag_ms; /* how late the last tick fired */
    char instance_id[37];
};

/* Starts the tick (fleet_start comes first). Returns 0 or -1. */
int scheduler_start(struct event_base *base);

/* Stops ticking (fleet_stop releases the leases). */
void scheduler_stop(void);

/* The scheduler's current facts. */
void scheduler_status(struct scheduler_status *out);

#endif
