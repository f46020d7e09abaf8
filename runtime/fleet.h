/* fleet.h — instances sharing the bots on Postgres leases, with fencing (issue 17; migrations/0072_fleet.sql,
 * docs/architecture.md "Fleet").
 *
 * Every bot is in one of 64 shards (bots.shard). Each instance heartbeats its `instances` row and holds some
 * shard leases ('shard:N' rows of `leases`), plus maybe the lease 'leader' for the singleton jobs. A lease
 * round runs every second (sooner when a lease of another instance is about to expire, or while this
 * instance is below its share):
 *   1. heartbeat and renew every lease this instance still holds unexpired (one statement);
 *   2. read the fleet: alive instances (last_seen younger than one lease period), shards per instance,
 *      unowned shards (fleet_facts);
 *   3. claim free or expired shards up to ceil(64 / alive instances) with one
 *      UPDATE ... WHERE holder IS NULL OR expired ... RETURNING epoch (FOR UPDATE SKIP LOCKED; the epoch goes
 *      up by one at every acquisition) and the leader lease when it is free; or, above that share, stop
 *      ticking the surplus shards at once and release them once their running ticks ended (the new owner
 *      bumps the epoch).
 * A lease counts as held locally only until the monotonic instant its renewing statement was sent plus the
 * lease period: earlier than Postgres's expiry, so a paused process (SIGSTOP, a stalled VM) never believes
 * in a lease Postgres already let go. */
#ifndef GATEHOUSE_FLEET_H
#define GATEHOUSE_FLEET_H

#include <jansson.h>

struct event_base;

#define FLEET_SHARDS 64 /* = gh_shard_count() of migration 0072 */

struct fleet_config {
    int lease_s;         /* lease period (GATEHOUSE_LEASE_S, default 7) */
    int capacity;        /* bots this instance is sized for (GATEHOUSE_CAPACITY, default 1000) */
    const char *version; /* the build's version, shown in GET /api/system/instances */
};

/* Starts the lease rounds (the first one at once). Returns 0 or -1. */
int fleet_start(struct event_base *base, const struct fleet_config *cfg);

/* Stops the rounds; every lease this instance holds is released and its instances row marked stopped (best
 * effort, asynchronous), so the others take over at their next round instead of after the lease period. */
void fleet_stop(void);

/* 1 between fleet_start and fleet_stop: a process without a fleet (a unit test, a CLI command) is alone,
 * so the callers of fleet_is_leader() act as its leader then. */
int fleet_started(void);

/* 1 while this instance holds the leader lease (locally valid): the singleton jobs run only then. */
int fleet_is_leader(void);

/* The epoch under which this instance may tick the bots of shard (0..63) now: > 0 while it holds that shard's
 * lease (locally valid, not being released), else 0. */
long long fleet_shard_epoch(int shard);

/* For a shard this instance claimed in the last 5 s: the real epoch milliseconds since which its previous
 * holder ticked nothing (the instant it stopped before releasing, or its lease's expiry) — the scheduler
 * ticks a slot that began after it (in its first half), so a hand-over loses few slots. 0 otherwise. */
double fleet_shard_free_since_ms(int shard);

/* Writes the shards this instance may tick now as a Postgres array literal ("{1,7,12}", "{}" for none) into
 * out (len bytes; 256 is enough). Returns the count. */
int fleet_owned_shards_literal(char *out, unsigned long len);

/* The scheduler's answer to "is a tick of this shard still running here?": a surplus shard is released once
 * its running ticks have ended (at most 2 s after it stopped ticking), so a rebalance refuses none of them.
 */
void fleet_set_busy_probe(int (*busy)(int shard));

/* Changes whenever the set of shards this instance may tick changes (the scheduler then re-reads its bots).
 */
unsigned long fleet_ownership_version(void);

/* This instance's fleet facts. */
struct fleet_status {
    char instance_id[37];
    int started;          /* fleet_start succeeded and fleet_stop was not called */
    int lease_s;          /* lease period */
    int capacity;         /* bots it is sized for */
    int leader;           /* holds the leader lease */
    int owned_shards;     /* shard leases it may tick now */
    int owned_bots;       /* running bots in those shards, as of the last round */
    int alive_instances;  /* as of the last round, this one included */
    double last_renew_ms; /* round trip of the last heartbeat-and-renew statement; -1 before the first */
    unsigned long rounds_failed; /* rounds whose renew failed (database errors) */
};

void fleet_status(struct fleet_status *out);

/* The fleet as the last round read it, for the status snapshot (gates.lua's `fleet`): {lease_s, shard_count,
 * alive_instances, unowned_shards, unowned_max_s, over_capacity: [{instance_id, host, owned_bots,
 * capacity}]}. Borrowed, valid until the next round; NULL before the first round and after fleet_stop. */
const json_t *fleet_facts(void);

#endif
