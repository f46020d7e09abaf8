/* api_fleet.h — GET /api/system/instances: the fleet of gatehouse instances sharing the bots on Postgres
 * leases (migrations/0072_fleet.sql, fleet.h), read from the database so every instance answers the same. */
#ifndef GATEHOUSE_API_FLEET_H
#define GATEHOUSE_API_FLEET_H

struct http_ctx;

/* GET /api/system/instances — every instance seen within the last hour (alive ones first, then newest
 * first) with the leases it holds now, the running bots in its shards against its capacity, its heartbeat
 * age and lease round trip; the shards nobody holds (and for how long); the leader lease's holder. One SQL
 * statement; ages and as_of are Postgres's real clock (the leases' clock), never a test clock. */
void api_fleet_instances(struct http_ctx *ctx);

#endif
