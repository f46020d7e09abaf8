/* api_backtests.c — POST /api/bots/:id/backtests: validate, read the bot, insert the QUEUED job, answer 202,
 * then backtest_run. */
#include "api_backtests.h"

#include <event2/http.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "backtest.h"
#include "config.h"
#include "db.h"
#include "http.h"
#include "jobs.h"

#define DB_TIMEOUT_MS 3000
#define BACKTEST_RETRY_AFTER_S 5

struct create_req {
    struct http_ctx *ctx;
    struct backtest *b;
    char deadline_s[16];
};

// clang-format off
#define JOB_JSON \
    "json_build_object('id', j.id, 'bot_id', j.bot_id, 'kind', j.kind, 'state', j.state, 'params', j.params, "  \
    "'result', j.result, 'error_code', j.error_code, 'created_at', " API_TS("j.created_at") ", 'started_at', "   \
    API_TS("j.started_at") ", 'finished_at', " API_TS("j.finished_at") ", 'deadline_at', " API_TS("j.deadline_at")   \
    ", 'user_id', j.user_id, 'trace_id', j.trace_id)"
// clang-format on

static void on_created(struct pg_result *res, const char *err, void *arg)
{
    struct create_req *r = arg;
    struct http_ctx *ctx = r->ctx;
    struct backtest *b = r->b;
    free(r);
    if (!res || PQntuples(res) != 1) {
        api_reply_db_error(ctx, err ? err : "no row", "backtest job insert");
        backtest_discard(b);
        return;
    }
    json_t *job = api_decode(PQgetvalue(res, 0, 0));
    char job_id[37];
    snprintf(job_id, sizeof job_id, "%s", json_string_value(json_object_get(job, "id")));
    http_reply_json(ctx, 202, json_pack("{s:o}", "job", job ? job : json_null()));
    backtest_run(b, job_id);
}

/* Inserts the QUEUED job row of r's backtest (with its first job_run_events row); on_created answers. */
static void insert_job(struct create_req *r)
{
    struct http_ctx *ctx = r->ctx;
    json_t *jp = backtest_job_params(r->b);
    char *jp_text = json_dumps(jp, JSON_COMPACT);
    json_decref(jp);
    const char *user = http_user_id(ctx);
    const char *p[9] = {ctx->params[0],
                        jp_text,
                        ctx->trace_id,
                        r->deadline_s,
                        user && *user ? user : NULL,
                        jobs_owner_instance(),
                        jobs_owner_host(),
                        jobs_owner_node(),
                        jobs_owner_pid()};
    int rc = db_query(
        "WITH j AS (INSERT INTO jobs (bot_id, kind, state, params, trace_id, deadline_at, user_id, "
        "  owner_instance, owner_host, owner_node, owner_pid) "
        "  VALUES ($1::uuid, 'BACKTEST', 'QUEUED', $2::jsonb, $3, gh_now() + make_interval(secs => $4::int), "
        "  $5::uuid, nullif($6, ''), nullif($7, ''), nullif($8, ''), $9::int) RETURNING *), "
        "e AS (INSERT INTO job_run_events (job_id, from_state, to_state, trace_id, metadata) "
        "  SELECT id, NULL, 'QUEUED', $3, jsonb_build_object('user_id', user_id, 'deadline_at', deadline_at) "
        "  FROM j) "
        "SELECT " JOB_JSON "::text FROM j",
        9, p, DB_TIMEOUT_MS, on_created, r);
    free(jp_text);
    if (rc < 0) {
        api_reply_db_error(ctx, NULL, "backtest job insert");
        backtest_discard(r->b);
        free(r);
    }
}

static void on_bot(struct pg_result *res, const char *err, void *arg)
{
    struct create_req *r = arg;
    struct http_ctx *ctx = r->ctx;
    const char *field, *why;
    if (!res) {
        if (err && (strstr(err, "timestamp") || strstr(err, "out of range") || strstr(err, "date/time")))
            api_invalid(ctx, "start", "start and end must be valid RFC 3339 timestamps.");
        else
            api_reply_db_error(ctx, err, "bot read");
    } else if (PQntuples(res) == 0) {
        api_bot_not_found(ctx);
    } else {
        double start = atof(PQgetvalue(res, 0, 1)), end = atof(PQgetvalue(res, 0, 2)),
               now = atof(PQgetvalue(res, 0, 3));
        json_t *bot = api_decode(PQgetvalue(res, 0, 0));
        if (backtest_set_window(r->b, bot, start, end, now, &field, &why) < 0) {
            api_invalid(ctx, field, why);
        } else if (!json_is_object(bot)) {
            http_reply_error(ctx, 500, "INTERNAL", "The bot could not be decoded.", "Report the trace id.",
                             NULL);
        } else {
            insert_job(r);
            return;
        }
    }
    backtest_discard(r->b);
    free(r);
}

void api_backtests_create(struct http_ctx *ctx)
{
    char start[64], end[64];
    if (!api_id_ok(ctx)) return;
    const char *s = json_string_value(json_object_get(ctx->body, "start"));
    const char *e = json_string_value(json_object_get(ctx->body, "end"));
    if (!s || !api_rfc3339(s, start, sizeof start)) {
        api_invalid(ctx, "start", "start must be an RFC 3339 timestamp, e.g. 2026-01-31T14:00:00Z.");
        return;
    }
    if (!e || !api_rfc3339(e, end, sizeof end)) {
        api_invalid(ctx, "end", "end must be an RFC 3339 timestamp, e.g. 2026-01-31T16:00:00Z.");
        return;
    }
    json_t *dl = json_object_get(ctx->body, "deadline_s");
    if (dl && (!json_is_integer(dl) || json_integer_value(dl) < 1 || json_integer_value(dl) > 7 * 86400)) {
        api_invalid(ctx, "deadline_s", "deadline_s must be an integer number of seconds, 1 to 604800.");
        return;
    }
    int active = backtest_active();
    if (active >= cfg.max_backtests) { /* refused, not queued: a queue would be one more thing to bound */
        char reason[200], detail[24];
        snprintf(reason, sizeof reason,
                 "%d backtests are running on this instance, the most it runs at once "
                 "(GATEHOUSE_MAX_BACKTESTS).",
                 active);
        snprintf(detail, sizeof detail, "%d", BACKTEST_RETRY_AFTER_S);
        http_add_header(ctx, "Retry-After", detail);
        http_reply_error(ctx, 429, "RATE_LIMITED", reason,
                         "Wait for a running backtest to finish (GET /api/jobs/:id), then send it again.",
                         json_pack("{s:i, s:i, s:i}", "running", active, "max_backtests", cfg.max_backtests,
                                   "retry_after_s", BACKTEST_RETRY_AFTER_S));
        return;
    }
    struct create_req *r = malloc(sizeof *r);
    struct backtest *b = r ? backtest_new(evhttp_connection_get_base(evhttp_request_get_connection(ctx->req)),
                                          ctx->params[0], ctx->trace_id, http_user_id(ctx))
                           : NULL;
    if (!b) {
        free(r);
        http_reply_error(ctx, 500, "INTERNAL", "Out of memory.", NULL, NULL);
        return;
    }
    r->ctx = ctx;
    r->b = b;
    snprintf(r->deadline_s, sizeof r->deadline_s, "%lld",
             dl ? (long long)json_integer_value(dl) : (long long)cfg.job_deadline_s);
    const char *p[3] = {ctx->params[0], start, end};
    if (db_query("SELECT row_to_json(b)::text, extract(epoch FROM $2::timestamptz)::float8, "
                 "extract(epoch FROM $3::timestamptz)::float8, extract(epoch FROM gh_now())::float8 "
                 "FROM bots b WHERE b.id = $1::uuid",
                 3, p, DB_TIMEOUT_MS, on_bot, r) < 0) {
        free(r);
        backtest_discard(b);
        api_reply_db_error(ctx, NULL, "bot read");
    }
}
