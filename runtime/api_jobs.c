/* api_jobs.c — GET /api/jobs/:id, /api/bots/:id/runs and /api/bots/:id/proof. */
#include "api_jobs.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "db.h"
#include "http.h"
#include "id.h"

#define DB_TIMEOUT_MS 3000

/* Replies with {key: <decoded column 0>} or 404 when the row/value is missing. */
static void reply_object(struct http_ctx *ctx, struct pg_result *res, const char *err, const char *key,
                         const char *what)
{
    if (!res) {
        api_reply_db_error(ctx, err, what);
        return;
    }
    if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
        http_reply_error(ctx, 404, "NOT_FOUND", "No such job or bot.", "Check the id.", NULL);
        return;
    }
    json_t *v = api_decode(PQgetvalue(res, 0, 0));
    if (!v) {
        http_reply_error(ctx, 500, "INTERNAL", "The answer could not be decoded.", "Report the trace id.",
                         NULL);
        return;
    }
    http_reply_json(ctx, 200, json_pack("{s:o}", key, v));
}

/* ---- GET /api/jobs/:id ---- */

static void on_job(struct pg_result *res, const char *err, void *arg)
{
    reply_object(arg, res, err, "job", "job read");
}

void api_jobs_get(struct http_ctx *ctx)
{
    if (!id_is_uuid(ctx->params[0])) {
        http_reply_error(ctx, 404, "NOT_FOUND", "No such job.", "Check the job id.", NULL);
        return;
    }
    const char *p[1] = {ctx->params[0]};
    // clang-format off
    if (db_query("SELECT json_build_object('id', j.id, 'bot_id', j.bot_id, 'kind', j.kind, 'state', j.state, "
                 "'params', j.params, 'result', j.result, 'error_code', j.error_code, 'created_at', " API_TS("j.created_at")
                 ", 'started_at', " API_TS("j.started_at") ", 'finished_at', " API_TS("j.finished_at")
                 ", 'deadline_at', " API_TS("j.deadline_at") ", 'user_id', j.user_id, 'trace_id', j.trace_id, "
                 "'transitions', "
                 "(SELECT COALESCE(json_agg(json_build_object('id', e.id, 'from_state', e.from_state, 'to_state', "
                 "e.to_state, 'reason_code', e.reason_code, 'trace_id', e.trace_id, 'metadata', e.metadata, "
                 "'created_at', " API_TS("e.created_at") ") ORDER BY e.id), '[]'::json) "
                 "FROM job_run_events e WHERE e.job_id = j.id))::text FROM jobs j WHERE j.id = $1::uuid",
                 1, p, DB_TIMEOUT_MS, on_job, ctx) < 0)
        api_reply_db_error(ctx, NULL, "job read");
    // clang-format on
}

/* ---- GET /api/bots/:id/runs ---- */

static void on_runs(struct pg_result *res, const char *err, void *arg)
{
    struct api_page *r = arg;
    struct http_ctx *ctx = r->ctx;
    long limit = r->limit;
    free(r);
    if (!res) {
        api_reply_db_error(ctx, err, "runs list");
        return;
    }
    if (PQntuples(res) != 1 || PQgetvalue(res, 0, 0)[0] != 't') {
        api_bot_not_found(ctx);
        return;
    }
    json_t *runs = api_decode(PQgetvalue(res, 0, 1));
    if (!json_is_array(runs)) {
        json_decref(runs);
        http_reply_error(ctx, 500, "INTERNAL", "The runs could not be decoded.", "Report the trace id.",
                         NULL);
        return;
    }
    http_reply_json(ctx, 200,
                    json_pack("{s:s, s:o, s:o}", "bot_id", ctx->params[0], "runs", runs, "next_cursor",
                              api_page_next(runs, limit, "at")));
}

// clang-format off
/* $1 bot, $2 limit + 1, $3/$4 cursor: exists, then the bot's instances and jobs newest first (JSON). */
#define RUNS_SQL \
    "SELECT EXISTS (SELECT 1 FROM bots WHERE id = $1::uuid), " \
    "(SELECT COALESCE(json_agg(x.j ORDER BY x.at DESC, x.id DESC), '[]'::json)::text FROM (" \
    "  SELECT u.at, u.id, u.j || jsonb_build_object('at', " API_TS("u.at") ") AS j FROM (" \
    "    SELECT i.started_at AS at, i.id, jsonb_build_object('type', 'instance', 'id', i.id, 'state', i.state, " \
    "      'started_at', " API_TS("i.started_at") ", 'stopped_at', " API_TS("i.stopped_at") \
    ", 'last_heartbeat_at', " API_TS("i.last_heartbeat_at") ", 'restart_count', i.restart_count, " \
    "      'breaker_state', i.breaker_state, 'trace_id', i.trace_id) AS j " \
    "    FROM bot_instances i WHERE i.bot_id = $1::uuid " \
    "    UNION ALL " \
    "    SELECT jb.created_at, jb.id, jsonb_build_object('type', 'job', 'id', jb.id, 'kind', jb.kind, " \
    "      'state', jb.state, 'created_at', " API_TS("jb.created_at") ", 'started_at', " API_TS("jb.started_at") \
    ", 'finished_at', " API_TS("jb.finished_at") ", 'error_code', jb.error_code, 'trace_id', jb.trace_id) " \
    "    FROM jobs jb WHERE jb.bot_id = $1::uuid) u " \
    "  WHERE ($3::timestamptz IS NULL OR (u.at, u.id) < ($3::timestamptz, $4::uuid)) " \
    "  ORDER BY u.at DESC, u.id DESC LIMIT $2::int) x)"
// clang-format on

void api_bots_runs(struct http_ctx *ctx)
{
    api_page_query_bot(ctx, RUNS_SQL, on_runs, "runs list");
}

/* ---- GET /api/bots/:id/proof ---- */

static void on_proof(struct pg_result *res, const char *err, void *arg)
{
    struct http_ctx *ctx = arg;
    if (res && PQntuples(res) == 1 && PQgetisnull(res, 0, 0)) {
        api_bot_not_found(ctx);
        return;
    }
    reply_object(ctx, res, err, "proof", "proof read");
}

void api_bots_proof(struct http_ctx *ctx)
{
    if (!api_id_ok(ctx)) return;
    const char *p[1] = {ctx->params[0]};
    // clang-format off
    if (db_query(
            "WITH ev AS (SELECT * FROM integration_usage_events WHERE bot_id = $1::uuid "
            "    AND created_at > gh_now() - interval '24 hours'), "
            "ord AS (SELECT count(*) AS n FROM orders WHERE bot_id = $1::uuid AND status IN ('INTENT', 'SUBMITTED') "
            "    AND created_at > gh_now() - interval '24 hours'), "
            "fl AS (SELECT count(*) AS n FROM fills WHERE bot_id = $1::uuid AND filled_at > gh_now() - interval '24 hours'), "
            "agg AS (SELECT provider_id, count(*) AS calls, count(*) FILTER (WHERE status = 'ERROR') AS errors, "
            "    count(*) FILTER (WHERE status = 'BLOCKED') AS blocked, "
            "    COALESCE(sum(records) FILTER (WHERE operation = 'marketdata.bars'), 0) AS bars, "
            "    count(*) FILTER (WHERE operation = 'broker.place_order') AS place_orders, "
            "    count(*) FILTER (WHERE operation LIKE 'llm.%') AS llm_calls, "
            "    COALESCE(array_agg(DISTINCT metadata->>'model') FILTER (WHERE metadata->>'model' IS NOT NULL), '{}') AS models, "
            "    (array_agg(trace_id ORDER BY created_at DESC))[1] AS last_trace_id, max(created_at) AS last_used_at "
            "  FROM ev GROUP BY provider_id), "
            "li AS (SELECT * FROM bot_instances WHERE bot_id = $1::uuid ORDER BY started_at DESC, id DESC LIMIT 1), "
            "lj AS (SELECT * FROM jobs WHERE bot_id = $1::uuid ORDER BY created_at DESC, id DESC LIMIT 1) "
            "SELECT CASE WHEN b.id IS NULL THEN NULL ELSE json_build_object('bot_id', b.id, 'integrations', "
            "  (SELECT COALESCE(json_agg(json_build_object('provider_id', a.provider_id, 'calls', a.calls, "
            "     'errors', a.errors, 'blocked', a.blocked, 'bars', a.bars, "
            "     'order_intents', a.place_orders + CASE WHEN a.provider_id = 'runner' THEN (SELECT n FROM ord) ELSE 0 END, "
            "     'fills', CASE WHEN a.provider_id = 'runner' THEN (SELECT n FROM fl) ELSE 0 END, "
            "     'llm_calls', a.llm_calls, 'models', to_json(a.models), 'last_trace_id', a.last_trace_id, "
            "     'last_used_at', " API_TS("a.last_used_at") ") ORDER BY a.last_used_at DESC, a.provider_id), '[]'::json) FROM agg a), "
            "  'last_run', (SELECT json_build_object('id', li.id, 'state', li.state, 'started_at', " API_TS("li.started_at")
            ", 'last_heartbeat_at', " API_TS("li.last_heartbeat_at") ", 'restart_count', li.restart_count, "
            "     'breaker_state', li.breaker_state) FROM li), "
            "  'last_job', (SELECT json_build_object('id', lj.id, 'kind', lj.kind, 'state', lj.state) FROM lj), "
            "  'heartbeat_age_s', (SELECT floor(extract(epoch FROM gh_now() - li.last_heartbeat_at))::bigint FROM li), "
            "  'terminal_state', (SELECT CASE WHEN li.state IN ('STOPPED', 'DEAD', 'KILLED') THEN li.state END FROM li)"
            ") END::text FROM (SELECT $1::uuid AS q) q LEFT JOIN bots b ON b.id = q.q",
            1, p, DB_TIMEOUT_MS, on_proof, ctx) < 0)
        api_reply_db_error(ctx, NULL, "proof read");
    // clang-format on
}
