/* fleet.c — lease rounds: heartbeat and renew, read the fleet, claim or release (fleet.h). */
#include "fleet.h"

#include <event2/event.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "db.h"
#include "id.h"
#include "log.h"
#include "metrics.h"

#define ROUND_MS 1000        /* a lease round every second */
#define FAST_ROUND_MS 250    /* below this instance's share: pick released shards up quickly */
#define RELEASE_DELAY_MS 50  /* surplus shards stop ticking at once; released once their ticks ended... */
#define RELEASE_WAIT_MS 2000 /* ... or after this long at most (fencing refuses what still runs) */
#define DB_TIMEOUT_MS 1500

struct held {
    long long epoch;       /* 0: not held */
    double valid_until_ms; /* monotonic: the renewing statement's send time + the lease period */
    int releasing;         /* surplus: no new ticks, released shortly */
    double claimed_ms;     /* monotonic: when this instance acquired it (0: adopted or never) */
    double free_since_ms;  /* real epoch ms: the previous holder ticked nothing after this (0: unknown) */
};

static struct {
    struct event *round_timer, *release_timer;
    struct fleet_config cfg;
    char instance[37], host[256], pid[16], capacity[16], lease_s[16], version[64];
    struct held shards[FLEET_SHARDS], leader;
    int started, alive, lag_ms;
    int bots_in_shard[FLEET_SHARDS];
    unsigned long ownership_version, rounds_failed;
    double round_sent_ms, expected_round_ms, last_renew_ms, next_expiry_ms;
    double release_marked_ms; /* monotonic: when the surplus stopped ticking */
    json_t *facts;            /* fleet_facts(): from the last read */
    int (*busy)(int shard);   /* fleet_set_busy_probe */
    json_t *facts_read;       /* this round's, published after its claim */
} F;

/* ---- local view ---- */

static int valid_at(const struct held *h, double now_ms)
{
    return h->epoch > 0 && !h->releasing && now_ms < h->valid_until_ms;
}

static int valid(const struct held *h)
{
    return valid_at(h, clock_now_ms());
}

#define CATCH_UP_WINDOW_MS 5000 /* a hand-over's catch-up applies to the first reads after the claim */

double fleet_shard_free_since_ms(int shard)
{
    if (!fleet_shard_epoch(shard)) return 0;
    const struct held *h = &F.shards[shard];
    return h->claimed_ms > 0 && clock_now_ms() - h->claimed_ms < CATCH_UP_WINDOW_MS ? h->free_since_ms : 0;
}

long long fleet_shard_epoch(int shard)
{
    if (!F.started || shard < 0 || shard >= FLEET_SHARDS) return 0;
    return valid(&F.shards[shard]) ? F.shards[shard].epoch : 0;
}

int fleet_started(void)
{
    return F.started;
}

int fleet_is_leader(void)
{
    return F.started && valid(&F.leader);
}

unsigned long fleet_ownership_version(void)
{
    /* a lease that lapsed locally (no renewal answered in time) changes ownership without any event */
    unsigned long lapsed = 0;
    for (int i = 0; i < FLEET_SHARDS; i++)
        lapsed = lapsed * 31 + (unsigned long)(fleet_shard_epoch(i) != 0);
    return F.ownership_version * 1000003ul + lapsed;
}

static int owned_count(void)
{
    int n = 0;
    for (int i = 0; i < FLEET_SHARDS; i++)
        n += fleet_shard_epoch(i) != 0;
    return n;
}

int fleet_owned_shards_literal(char *out, unsigned long len)
{
    size_t used = 0;
    int n = 0;
    if (len < 3) return 0;
    out[used++] = '{';
    for (int i = 0; i < FLEET_SHARDS; i++) {
        if (!fleet_shard_epoch(i)) continue;
        int w = snprintf(out + used, len - used, "%s%d", n ? "," : "", i);
        if (w < 0 || (size_t)w >= len - used - 1) break;
        used += (size_t)w;
        n++;
    }
    out[used++] = '}';
    out[used] = '\0';
    return n;
}

const json_t *fleet_facts(void)
{
    return F.facts;
}

void fleet_status(struct fleet_status *out)
{
    memset(out, 0, sizeof *out);
    _Static_assert(sizeof out->instance_id == sizeof F.instance, "instance ids of one size");
    memcpy(out->instance_id, F.instance, sizeof F.instance); /* system/status asks on every request */
    out->started = F.started;
    out->lease_s = F.cfg.lease_s;
    out->capacity = F.cfg.capacity;
    /* one clock read for the 64 shards: system/status asks on every request (its cache key) */
    double now = clock_now_ms();
    out->leader = F.started && valid_at(&F.leader, now);
    for (int i = 0; F.started && i < FLEET_SHARDS; i++)
        if (valid_at(&F.shards[i], now)) {
            out->owned_shards++;
            out->owned_bots += F.bots_in_shard[i];
        }
    out->alive_instances = F.alive;
    out->last_renew_ms = F.last_renew_ms;
    out->rounds_failed = F.rounds_failed;
}

/* ---- the round ---- */

static void round_start(evutil_socket_t fd, short what, void *arg);

static void arm_round(double in_ms)
{
    if (!F.started || !F.round_timer) return;
    if (in_ms < 10) in_ms = 10;
    struct timeval tv = {(long)(in_ms / 1000), (long)fmod(in_ms, 1000.0) * 1000};
    F.expected_round_ms = clock_now_ms() + in_ms;
    evtimer_add(F.round_timer, &tv);
}

/* The next round: sooner below the share (released shards are waiting) or just after another instance's lease
 * is due to expire (a dead instance's shards are claimed as soon as Postgres lets them go). */
static void arm_next(int below_share)
{
    double in = below_share ? FAST_ROUND_MS : ROUND_MS;
    if (F.next_expiry_ms >= 0 && F.next_expiry_ms + 30 < in) in = F.next_expiry_ms + 30;
    arm_round(in);
}

static int shard_of_name(const char *name)
{
    if (strncmp(name, "shard:", 6) != 0) return -1;
    int s = atoi(name + 6);
    return s >= 0 && s < FLEET_SHARDS ? s : -1;
}

/* Adopts the leases a statement answered (name, epoch) as held until sent_ms + the lease period. */
static void adopt(struct pg_result *res, double sent_ms, int *claimed)
{
    for (int i = 0; i < PQntuples(res); i++) {
        const char *name = PQgetvalue(res, i, 0);
        long long epoch = atoll(PQgetvalue(res, i, 1));
        int s = shard_of_name(name);
        struct held *h = s >= 0 ? &F.shards[s] : strcmp(name, "leader") == 0 ? &F.leader : NULL;
        if (!h) continue;
        if (h->epoch != epoch) {
            if (s >= 0) F.ownership_version++;
            if (claimed && s >= 0) claimed[s] = 1;
            if (s < 0 || !claimed)
                LOG_INFO(NULL, s < 0 ? "fleet: leader lease acquired" : "fleet: shard lease adopted",
                         "instance=%s name=%s epoch=%lld", F.instance, name, epoch);
        }
        h->epoch = epoch;
        h->valid_until_ms = sent_ms + F.cfg.lease_s * 1000.0;
        if (claimed && PQnfields(res) > 2) { /* a claim: when the shard became free */
            h->claimed_ms = clock_now_ms();
            h->free_since_ms = atof(PQgetvalue(res, i, 2));
        }
    }
}

static void log_shards(const char *msg, const int *set)
{
    char list[256] = "";
    size_t used = 0;
    for (int i = 0; i < FLEET_SHARDS; i++)
        if (set[i]) {
            int w = snprintf(list + used, sizeof list - used, "%s%d", used ? "," : "", i);
            if (w < 0 || (size_t)w >= sizeof list - used) break;
            used += (size_t)w;
        }
    if (used) LOG_INFO(NULL, msg, "instance=%s shards=%s owned=%d", F.instance, list, owned_count());
}

/* The facts were read before this round's claim: shards it just claimed are no longer unowned (else a fresh
 * start would show every shard unowned since the last run until the next round). */
static void publish_facts(const int *claimed)
{
    int n = 0;
    for (int i = 0; claimed && i < FLEET_SHARDS; i++)
        n += claimed[i];
    json_t *unowned = json_object_get(F.facts_read, "unowned_shards");
    if (n && json_is_integer(unowned)) {
        json_int_t left = json_integer_value(unowned) - n;
        json_integer_set(unowned, left > 0 ? left : 0);
        if (left <= 0) json_object_set_new(F.facts_read, "unowned_max_s", json_real(0));
    }
    if (!F.facts_read) return;
    json_decref(F.facts);
    F.facts = F.facts_read;
    F.facts_read = NULL;
}

static void on_claimed(struct pg_result *res, const char *err, void *arg)
{
    double *sent = arg;
    int claimed[FLEET_SHARDS] = {0};
    if (res) {
        adopt(res, *sent, claimed);
        log_shards("fleet: claimed shards", claimed);
        publish_facts(claimed);
    } else
        LOG_WARN(NULL, "fleet: claim failed", "instance=%s error=\"%s\"", F.instance, err);
    publish_facts(NULL);
    free(sent);
    arm_next(owned_count() <
             FLEET_SHARDS / (F.alive > 0 ? F.alive : 1)); /* still below: released ones come */
}

/* Claims up to k free or expired shards (random ones, skipping rows another claimer holds locked), and the
 * leader lease when want_leader. The epoch goes up by one at each acquisition. */
static void claim(int k, int want_leader)
{
    char kk[12];
    double *sent = malloc(sizeof *sent);
    snprintf(kk, sizeof kk, "%d", k);
    const char *p[4] = {F.instance, F.lease_s, kk, want_leader ? "t" : "f"};
    *sent = clock_now_ms();
    if (db_query_urgent(
            "WITH s AS (SELECT name, expires_at AS was FROM leases WHERE name LIKE 'shard:%' "
            "  AND (holder IS NULL OR expires_at <= clock_timestamp()) ORDER BY random() LIMIT $3::int "
            "  FOR UPDATE SKIP LOCKED), "
            "ld AS (SELECT name, expires_at AS was FROM leases WHERE name = 'leader' AND $4::boolean "
            "  AND (holder IS NULL OR expires_at <= clock_timestamp()) FOR UPDATE SKIP LOCKED) "
            "UPDATE leases l SET holder = $1, epoch = l.epoch + 1, acquired_at = clock_timestamp(), "
            "  renewed_at = clock_timestamp(), expires_at = clock_timestamp() + make_interval(secs => $2::int) "
            "FROM (SELECT name, was FROM s UNION ALL SELECT name, was FROM ld) c WHERE l.name = c.name "
            "  AND gh_lease_lock(l.name) "
            "RETURNING l.name, l.epoch, extract(epoch FROM c.was) * 1000",
            4, p, DB_TIMEOUT_MS, on_claimed, sent) < 0) {
        publish_facts(NULL);
        free(sent);
        arm_next(0);
    }
}

static void on_released(struct pg_result *res, const char *err, void *arg)
{
    int released[FLEET_SHARDS] = {0};
    for (int i = 0; i < FLEET_SHARDS; i++)
        if (F.shards[i].releasing) {
            released[i] = 1;
            memset(&F.shards[i], 0, sizeof F.shards[i]);
        }
    if (res)
        log_shards("fleet: released shards", released);
    else /* not released: they expire after the lease period instead (we no longer tick them) */
        LOG_WARN(NULL, "fleet: release failed", "instance=%s error=\"%s\"", F.instance, err);
}

void fleet_set_busy_probe(int (*busy)(int shard))
{
    F.busy = busy;
}

/* 1 while a tick of a shard being released still runs here (and the wait has not run out). */
static int release_waits(void)
{
    if (!F.busy || clock_now_ms() - F.release_marked_ms > RELEASE_WAIT_MS) return 0;
    for (int i = 0; i < FLEET_SHARDS; i++)
        if (F.shards[i].releasing && F.busy(i)) return 1;
    return 0;
}

static void release_marked(evutil_socket_t fd, short what, void *arg)
{
    if (release_waits()) {
        struct timeval again = {0, RELEASE_DELAY_MS * 1000};
        evtimer_add(F.release_timer, &again);
        return;
    }
    char names[FLEET_SHARDS * 10 + 4];
    size_t used = 0;
    names[used++] = '{';
    for (int i = 0; i < FLEET_SHARDS; i++)
        if (F.shards[i].releasing)
            used += (size_t)snprintf(names + used, sizeof names - used, "%sshard:%d", used > 1 ? "," : "", i);
    names[used++] = '}';
    names[used] = '\0';
    char stopped_ago[32];
    snprintf(stopped_ago, sizeof stopped_ago, "%.3f", (clock_now_ms() - F.release_marked_ms) / 1000.0);
    const char *p[3] = {F.instance, names, stopped_ago};
    /* expires_at = the instant these shards stopped ticking here: the new owner catches up from it */
    if (db_query_urgent("UPDATE leases SET holder = NULL, "
                        "  expires_at = clock_timestamp() - make_interval(secs => $3::float8) "
                        "WHERE holder = $1 AND name = ANY($2::text[]) AND gh_lease_lock(name)",
                        3, p, DB_TIMEOUT_MS, on_released, NULL) < 0)
        on_released(NULL, "not queued", NULL);
}

/* Surplus above the share: those shards stop ticking now (fleet_shard_epoch answers 0) and are released a
 * moment later, once ticks already running have written. */
static void release(int k)
{
    struct timeval tv = {0, RELEASE_DELAY_MS * 1000};
    for (int i = FLEET_SHARDS - 1; i >= 0 && k > 0; i--)
        if (fleet_shard_epoch(i)) {
            F.shards[i].releasing = 1;
            k--;
        }
    F.ownership_version++;
    F.release_marked_ms = clock_now_ms();
    evtimer_add(F.release_timer, &tv);
}

static json_t *parse_json(struct pg_result *res, int col)
{
    json_t *v = PQgetisnull(res, 0, col) ? NULL : json_loads(PQgetvalue(res, 0, col), 0, NULL);
    return v ? v : json_array();
}

/* The fleet as Postgres sees it: alive instances, free shards, the next lease of another instance to expire,
 * running bots per shard, instances above their capacity; then claim, release or wait. */
static void on_fleet_read(struct pg_result *res, const char *err, void *arg)
{
    if (!res || PQntuples(res) != 1) {
        LOG_WARN(NULL, "fleet: read failed", "instance=%s error=\"%s\"", F.instance, err ? err : "no row");
        arm_next(0);
        return;
    }
    F.alive = atoi(PQgetvalue(res, 0, 0));
    int free_shards = atoi(PQgetvalue(res, 0, 1));
    int leader_free = strcmp(PQgetvalue(res, 0, 3), "t") == 0;
    F.next_expiry_ms = PQgetisnull(res, 0, 4) ? -1 : atof(PQgetvalue(res, 0, 4));
    memset(F.bots_in_shard, 0, sizeof F.bots_in_shard);
    json_t *per = parse_json(res, 5), *row;
    size_t i;
    json_array_foreach(per, i, row)
    {
        int s = (int)json_integer_value(json_array_get(row, 0));
        if (s >= 0 && s < FLEET_SHARDS) F.bots_in_shard[s] = (int)json_integer_value(json_array_get(row, 1));
    }
    json_decref(per);
    json_decref(F.facts_read);
    F.facts_read =
        json_pack("{s:i, s:i, s:i, s:i, s:f, s:o}", "lease_s", F.cfg.lease_s, "shard_count", FLEET_SHARDS,
                  "alive_instances", F.alive, "unowned_shards", free_shards, "unowned_max_s",
                  atof(PQgetvalue(res, 0, 2)), "over_capacity", parse_json(res, 6));
    int alive = F.alive > 0 ? F.alive : 1, mine = owned_count();
    int ceil_share = (FLEET_SHARDS + alive - 1) / alive, floor_share = FLEET_SHARDS / alive;
    int want = mine < ceil_share ? (ceil_share - mine < free_shards ? ceil_share - mine : free_shards) : 0;
    if (want > 0 || leader_free) {
        claim(want, leader_free); /* publishes the facts once it answered */
        return;
    }
    publish_facts(NULL);
    if (mine > ceil_share) {
        release(mine - ceil_share);
        arm_next(0);
    } else
        arm_next(mine < floor_share);
}

static void read_fleet(void)
{
    const char *p[1] = {F.instance};
    if (db_query_urgent(
            "SELECT (SELECT count(*) FROM instances WHERE stopped_at IS NULL "
            "    AND last_seen > clock_timestamp() - make_interval(secs => lease_s)), "
            "  (SELECT count(*) FROM leases WHERE name LIKE 'shard:%' "
            "    AND (holder IS NULL OR expires_at <= clock_timestamp())), "
            "  (SELECT coalesce(extract(epoch FROM clock_timestamp() - min(expires_at)), 0) FROM leases "
            "    WHERE name LIKE 'shard:%' AND (holder IS NULL OR expires_at <= clock_timestamp())), "
            "  (SELECT holder IS NULL OR expires_at <= clock_timestamp() FROM leases WHERE name = 'leader'), "
            "  (SELECT extract(epoch FROM min(expires_at) - clock_timestamp()) * 1000 FROM leases "
            "    WHERE holder IS NOT NULL AND holder <> $1 AND expires_at > clock_timestamp()), "
            "  (SELECT json_agg(json_build_array(shard, n)) FROM (SELECT b.shard, count(*) AS n FROM bots b "
            "    JOIN bot_instances i ON i.bot_id = b.id AND i.state = 'RUNNING' GROUP BY b.shard) x), "
            "  (SELECT json_agg(json_build_object('instance_id', i.id, 'host', i.host, 'owned_bots', o.n, "
            "      'capacity', i.capacity)) FROM instances i CROSS JOIN LATERAL (SELECT count(*) AS n "
            "      FROM leases l JOIN bots b ON l.name = 'shard:' || b.shard JOIN bot_instances bi "
            "      ON bi.bot_id = b.id AND bi.state = 'RUNNING' "
            "      WHERE l.holder = i.id AND l.expires_at > clock_timestamp()) o "
            "    WHERE i.stopped_at IS NULL AND i.last_seen > clock_timestamp() - make_interval(secs => i.lease_s) "
            "      AND o.n > i.capacity)",
            1, p, DB_TIMEOUT_MS, on_fleet_read, NULL) < 0)
        arm_next(0);
}

/* Leases this instance believed held but the renewal did not return are gone (expired while we were
 * paused, or taken over): they stop ticking at once. */
static void drop_unrenewed(const int *renewed)
{
    int lost[FLEET_SHARDS] = {0};
    for (int i = 0; i < FLEET_SHARDS; i++)
        if (F.shards[i].epoch && !renewed[i] && !F.shards[i].releasing) {
            lost[i] = 1;
            memset(&F.shards[i], 0, sizeof F.shards[i]);
            F.ownership_version++;
        }
    log_shards("fleet: lease lost", lost);
}

static void on_renewed(struct pg_result *res, const char *err, void *arg)
{
    int renewed[FLEET_SHARDS] = {0}, leader = 0;
    if (!res) {
        F.rounds_failed++;
        LOG_WARN(NULL, "fleet: renew failed", "instance=%s error=\"%s\"", F.instance, err);
        arm_next(0); /* the leases lapse locally on time; the next round tries again */
        return;
    }
    F.last_renew_ms = clock_now_ms() - F.round_sent_ms;
    metrics_lease_renew(F.last_renew_ms);
    for (int i = 0; i < PQntuples(res); i++) {
        int s = shard_of_name(PQgetvalue(res, i, 0));
        if (s >= 0) renewed[s] = 1;
        if (strcmp(PQgetvalue(res, i, 0), "leader") == 0) leader = 1;
    }
    drop_unrenewed(renewed);
    if (!leader && F.leader.epoch) {
        LOG_INFO(NULL, "fleet: leader lease lost", "instance=%s epoch=%lld", F.instance, F.leader.epoch);
        memset(&F.leader, 0, sizeof F.leader);
    }
    adopt(res, F.round_sent_ms, NULL);
    read_fleet();
}

/* Step 1: heartbeat this instance's row and renew every lease it still holds unexpired. */
static void round_start(evutil_socket_t fd, short what, void *arg)
{
    char lag[16], renew[32] = "";
    double now = clock_now_ms();
    F.lag_ms = F.expected_round_ms > 0 && now > F.expected_round_ms ? (int)(now - F.expected_round_ms) : 0;
    snprintf(lag, sizeof lag, "%d", F.lag_ms);
    if (F.last_renew_ms >= 0) snprintf(renew, sizeof renew, "%.3f", F.last_renew_ms);
    const char *p[8] = {F.instance, F.host, F.pid, F.version, F.capacity, F.lease_s, lag, renew};
    F.round_sent_ms = now;
    if (db_query_urgent(
            "WITH hb AS (INSERT INTO instances (id, host, pid, version, capacity, lease_s, loop_lag_ms, "
            "  lease_renew_ms) VALUES ($1, $2, $3::int, $4, $5::int, $6::int, $7::int, nullif($8, '')::float8) "
            "  ON CONFLICT (id) DO UPDATE SET last_seen = clock_timestamp(), stopped_at = NULL, "
            "  capacity = EXCLUDED.capacity, lease_s = EXCLUDED.lease_s, loop_lag_ms = EXCLUDED.loop_lag_ms, "
            "  lease_renew_ms = EXCLUDED.lease_renew_ms RETURNING 1) "
            "UPDATE leases SET expires_at = clock_timestamp() + make_interval(secs => $6::int), "
            "  renewed_at = clock_timestamp() "
            "WHERE holder = $1 AND expires_at > clock_timestamp() AND EXISTS (SELECT 1 FROM hb) "
            "RETURNING name, epoch",
            8, p, DB_TIMEOUT_MS, on_renewed, NULL) < 0) {
        F.rounds_failed++;
        arm_next(0);
    }
}

/* ---- start / stop ---- */

int fleet_start(struct event_base *base, const struct fleet_config *cfg)
{
    memset(&F, 0, sizeof F);
    F.cfg = *cfg;
    F.last_renew_ms = -1;
    F.next_expiry_ms = -1;
    snprintf(F.instance, sizeof F.instance, "%s", id_instance());
    if (gethostname(F.host, sizeof F.host) < 0) snprintf(F.host, sizeof F.host, "unknown");
    F.host[sizeof F.host - 1] = '\0';
    snprintf(F.pid, sizeof F.pid, "%ld", (long)getpid());
    snprintf(F.capacity, sizeof F.capacity, "%d", cfg->capacity);
    snprintf(F.lease_s, sizeof F.lease_s, "%d", cfg->lease_s);
    snprintf(F.version, sizeof F.version, "%s", cfg->version ? cfg->version : "unknown");
    F.round_timer = evtimer_new(base, round_start, NULL);
    F.release_timer = evtimer_new(base, release_marked, NULL);
    if (!F.round_timer || !F.release_timer) return -1;
    F.started = 1;
    LOG_INFO(NULL, "fleet: joined", "instance=%s host=\"%s\" lease_s=%d capacity=%d shards=%d", F.instance,
             F.host, cfg->lease_s, cfg->capacity, FLEET_SHARDS);
    round_start(-1, 0, NULL);
    return 0;
}

static void on_left(struct pg_result *res, const char *err, void *arg)
{
    if (!res) LOG_WARN(NULL, "fleet: leases not released at stop", "error=\"%s\"", err);
}

void fleet_stop(void)
{
    if (!F.started) return;
    const char *p[1] = {F.instance};
    F.started = 0;
    memset(F.shards, 0, sizeof F.shards);
    memset(&F.leader, 0, sizeof F.leader);
    F.ownership_version++;
    /* a data-modifying CTE runs whether or not the statement reads it */
    db_query_urgent(
        "WITH r AS (UPDATE leases SET holder = NULL, expires_at = clock_timestamp() "
        "  WHERE holder = $1 AND gh_lease_lock(name)) "
        "UPDATE instances SET stopped_at = clock_timestamp(), last_seen = clock_timestamp() WHERE id = $1",
        1, p, 500, on_left, NULL);
    if (F.round_timer) event_free(F.round_timer);
    if (F.release_timer) event_free(F.release_timer);
    F.round_timer = F.release_timer = NULL;
    json_decref(F.facts);
    json_decref(F.facts_read);
    F.facts = F.facts_read = NULL;
    LOG_INFO(NULL, "fleet: left", "instance=%s", F.instance);
}
