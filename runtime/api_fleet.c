/* api_fleet.c — GET /api/system/instances (see api_fleet.h). */
#include "api_fleet.h"

#include <libpq-fe.h>
#include <stdio.h>

#include "api.h"
#include "config.h"
#include "db.h"
#include "http.h"

#define DB_TIMEOUT_MS 3000

/* One statement over instances, leases and the running bots per shard (bots.shard, bot_instances RUNNING).
 * A lease is held while its holder is set and it has not expired (clock_timestamp(): the clock the leases
 * are written with); a shard not held has been unowned since its expires_at. An instance is alive while it
 * is not stopped and its heartbeat is younger than its lease period; gone ones stay listed for an hour. $1:
 * this instance's lease period (GATEHOUSE_LEASE_S). */
// clang-format off
#define FLEET_SQL                                                                                                  \
    "WITH c AS (SELECT clock_timestamp() AS t), "                                                                  \
    "held AS (SELECT l.holder, l.name, CASE WHEN l.name = 'leader' THEN NULL ELSE substr(l.name, 7)::int END "     \
    "  AS shard FROM leases l, c WHERE l.holder IS NOT NULL AND l.expires_at > c.t), "                             \
    "run AS (SELECT b.shard::int AS shard, count(*)::int AS n FROM bots b JOIN bot_instances bi "                  \
    "  ON bi.bot_id = b.id AND bi.state = 'RUNNING' GROUP BY b.shard), "                                           \
    "inst AS (SELECT i.*, (i.stopped_at IS NULL AND i.last_seen > c.t - i.lease_s * interval '1 second') "         \
    "  AS alive, round(extract(epoch FROM c.t - i.last_seen)::numeric, 3) AS age_s, "                              \
    "  EXISTS (SELECT 1 FROM held h WHERE h.holder = i.id AND h.name = 'leader') AS leader, "                      \
    "  (SELECT coalesce(array_agg(h.shard ORDER BY h.shard), '{}') FROM held h "                                   \
    "   WHERE h.holder = i.id AND h.shard IS NOT NULL) AS shards "                                                 \
    "  FROM instances i, c WHERE i.last_seen > c.t - interval '1 hour'), "                                         \
    "inst2 AS (SELECT inst.*, (SELECT coalesce(sum(r.n), 0)::int FROM run r WHERE r.shard = ANY (inst.shards)) "   \
    "  AS owned_bots FROM inst), "                                                                                 \
    "free AS (SELECT substr(l.name, 7)::int AS shard, "                                                            \
    "  round(greatest(extract(epoch FROM c.t - l.expires_at), 0)::numeric, 3) AS unowned_for_s "                   \
    "  FROM leases l, c WHERE l.name <> 'leader' AND NOT (l.holder IS NOT NULL AND l.expires_at > c.t)) "          \
    "SELECT json_build_object("                                                                                    \
    " 'instances', (SELECT coalesce(json_agg(json_build_object('id', x.id, 'host', x.host, 'pid', x.pid, "         \
    "   'version', x.version, 'capacity', x.capacity, 'lease_s', x.lease_s, "                                      \
    "   'started_at', " API_TS("x.started_at") ", 'last_seen', " API_TS("x.last_seen") ", "                        \
    "   'last_seen_age_s', x.age_s, 'alive', x.alive, 'stopped_at', " API_TS("x.stopped_at") ", "                  \
    "   'leader', x.leader, 'shards', to_json(x.shards), 'owned_shards', cardinality(x.shards), "                  \
    "   'owned_bots', x.owned_bots, 'over_capacity', x.owned_bots > x.capacity, "                                  \
    "   'loop_lag_ms', x.loop_lag_ms, 'lease_renew_ms', x.lease_renew_ms) "                                        \
    "   ORDER BY x.alive DESC, x.started_at DESC, x.id), '[]'::json) FROM inst2 x), "                              \
    " 'shards', json_build_object('count', gh_shard_count(), "                                                     \
    "   'owned', (SELECT count(*) FROM held WHERE shard IS NOT NULL), "                                            \
    "   'unowned', (SELECT coalesce(json_agg(json_build_object('shard', f.shard, 'unowned_for_s', "                \
    "     f.unowned_for_s, 'running_bots', coalesce(r.n, 0)) ORDER BY f.shard), '[]'::json) "                      \
    "     FROM free f LEFT JOIN run r ON r.shard = f.shard)), "                                                    \
    " 'leader', (SELECT holder FROM held WHERE name = 'leader'), "                                                 \
    " 'lease_s', $1::int, "                                                    \
    " 'as_of', " API_TS("c.t") ")::text FROM c"
// clang-format on

static void on_instances(struct pg_result *res, const char *err, void *arg)
{
    struct http_ctx *ctx = arg;
    if (!res) {
        api_reply_db_error(ctx, err, "fleet read");
        return;
    }
    json_t *body = PQntuples(res) == 1 ? api_decode(PQgetvalue(res, 0, 0)) : NULL;
    if (!body) {
        http_reply_error(ctx, 500, "INTERNAL", "The fleet answer could not be decoded.",
                         "Report the trace id.", NULL);
        return;
    }
    http_reply_json(ctx, 200, body);
}

void api_fleet_instances(struct http_ctx *ctx)
{
    char lease_s[16];
    snprintf(lease_s, sizeof lease_s, "%d", cfg.lease_s);
    const char *params[1] = {lease_s};
    if (db_query(FLEET_SQL, 1, params, DB_TIMEOUT_MS, on_instances, ctx) < 0)
        api_reply_db_error(ctx, NULL, "fleet read");
}
