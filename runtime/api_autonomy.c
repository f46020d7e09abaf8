/* api_autonomy.c — the autonomy score routes; the scoring itself is autonomy.c. */
#include "api_autonomy.h"

#include <libpq-fe.h>
#include <string.h>

#include "autonomy.h"
#include "db.h"
#include "http.h"
#include "id.h"
#include "status.h"

#define DB_TIMEOUT_MS 3000

static int require_uuid(struct http_ctx *ctx)
{
    if (id_is_uuid(ctx->params[0])) return 0;
    http_reply_error(ctx, 404, "NOT_FOUND", "No such bot.", "Use an id from GET /api/bots.", NULL);
    return -1;
}

static void on_scored(const json_t *rows, const char *code, const char *err, void *arg)
{
    struct http_ctx *ctx = arg;
    json_t *row = json_array_get(rows, 0);
    if (!rows) {
        if (strcmp(code, "POLICY_ERROR") == 0)
            http_reply_error(
                ctx, 503, "POLICY_ERROR", err ? err : "scripts/autonomy.lua failed.",
                "Fix scripts/autonomy.lua (`gatehouse check` and the log name the error), then reload.",
                NULL);
        else
            http_reply_error(ctx, 503, "DB_UNAVAILABLE",
                             "The evidence could not be read or the score written.",
                             "Check the database; the previous score is kept.", NULL);
    } else if (!row) {
        http_reply_error(ctx, 404, "NOT_FOUND", "No such bot.", "Use an id from GET /api/bots.", NULL);
    } else {
        http_reply_json(ctx, 200, json_pack("{s:O}", "autonomy_score", row));
    }
}

static void score_now(struct http_ctx *ctx)
{
    if (autonomy_score(ctx->params[0], status_decision(), ctx->trace_id, on_scored, ctx) < 0)
        http_reply_error(ctx, 503, "DB_UNAVAILABLE", "The scoring could not be queued.", "Retry in a second.",
                         NULL);
}

static void on_row(struct pg_result *res, const char *err, void *arg)
{
    struct http_ctx *ctx = arg;
    if (!res) {
        http_reply_error(ctx, 503, "DB_UNAVAILABLE", "The score could not be read.", "Check the database.",
                         NULL);
        return;
    }
    if (PQntuples(res) == 0) {
        http_reply_error(ctx, 404, "NOT_FOUND", "No such bot.", "Use an id from GET /api/bots.", NULL);
        return;
    }
    json_t *row = PQgetisnull(res, 0, 0) ? NULL : json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    if (!row) {
        score_now(ctx); /* never scored yet: its latest score is the one computed now */
        return;
    }
    http_reply_json(ctx, 200, json_pack("{s:o}", "autonomy_score", row));
}

void api_autonomy_get(struct http_ctx *ctx)
{
    if (require_uuid(ctx) < 0) return;
    const char *p[1] = {ctx->params[0]};
    if (db_query(
            "SELECT (SELECT json_build_object('bot_id', a.bot_id, 'autonomy_score', a.autonomy_score, "
            "  'data_reliability_score', a.data_reliability_score, 'decision_quality_score', a.decision_quality_score, "
            "  'risk_discipline_score', a.risk_discipline_score, 'execution_health_score', a.execution_health_score, "
            "  'supervisor_trust_score', a.supervisor_trust_score, 'autonomy_tier', a.autonomy_tier, "
            "  'blockers', coalesce(a.breakdown->'blockers', '[]'::jsonb), 'breakdown', a.breakdown, "
            "  'last_updated_at', to_char(a.last_updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))::text "
            "  FROM autonomy_scores a WHERE a.bot_id = b.id) FROM bots b WHERE b.id = $1",
            1, p, DB_TIMEOUT_MS, on_row, ctx) < 0)
        http_reply_error(ctx, 503, "DB_UNAVAILABLE", "The score could not be read.", "Retry in a second.",
                         NULL);
}

void api_autonomy_recompute(struct http_ctx *ctx)
{
    if (require_uuid(ctx) < 0) return;
    score_now(ctx);
}
