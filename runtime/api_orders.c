/* api_orders.c — cancel, modify, acknowledge, reconcile (routes in api_orders.h). */
#include "api_orders.h"

#include <jansson.h>
#include <libpq-fe.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "autonomy.h"
#include "db.h"
#include "http.h"
#include "id.h"
#include "orders.h"
#include "reconcile.h"
#include "telemetry.h"

#define DB_TIMEOUT_MS 3000

static int status_of_code(const char *code)
{
    if (!code) return 500;
    if (strcmp(code, "NOT_FOUND") == 0) return 404;
    if (strcmp(code, "ORDER_NOT_WORKING") == 0) return 409;
    if (strcmp(code, "VALIDATION_FAILED") == 0) return 400;
    if (strcmp(code, "DB_UNAVAILABLE") == 0) return 503;
    return 502; /* the broker refused or could not be reached */
}

static void on_order_done(int ok, const char *code, const char *human, void *arg)
{
    struct http_ctx *ctx = arg;
    if (!ok) {
        http_reply_error(ctx, status_of_code(code), code ? code : "PROVIDER_ERROR",
                         human ? human : "The order could not be changed.",
                         strcmp(code ? code : "", "ORDER_NOT_WORKING") == 0
                             ? "Only working orders can change."
                             : "Check the broker drawer on Connections; the order is unchanged in gatehouse.",
                         NULL);
        return;
    }
    http_reply_json(ctx, 200, json_pack("{s:s, s:b}", "order_id", ctx->params[0], "ok", 1));
}

static int require_order_id(struct http_ctx *ctx)
{
    if (id_is_uuid(ctx->params[0])) return 0;
    http_reply_error(ctx, 400, "VALIDATION_FAILED", "The order id must be a UUID.", NULL, NULL);
    return -1;
}

void api_orders_cancel(struct http_ctx *ctx)
{
    if (require_order_id(ctx) < 0) return;
    if (orders_cancel(ctx->params[0], "CANCELLED_BY_OPERATOR", ctx->trace_id, ctx->auth.user_id,
                      on_order_done, ctx) < 0)
        http_reply_error(ctx, 503, "DB_UNAVAILABLE", "The cancel could not be queued.", "Check the database.",
                         NULL);
}

static void on_modify_checked(struct pg_result *res, const char *err, void *arg)
{
    struct http_ctx *ctx = arg;
    long long qty = (long long)json_integer_value(json_object_get(ctx->body, "qty"));
    if (!res) {
        http_reply_error(ctx, 503, "DB_UNAVAILABLE", "The order could not be read.", "Check the database.",
                         NULL);
    } else if (PQntuples(res) != 1) {
        http_reply_error(ctx, 404, "NOT_FOUND", "No such order.", NULL, NULL);
    } else if ((double)qty >= atof(PQgetvalue(res, 0, 0))) {
        http_reply_error(
            ctx, 400, "VALIDATION_FAILED",
            "qty must be below the order's current quantity: a modify lowers the working size, it never adds "
            "exposure the risk check has not seen.",
            "Send a smaller qty, or let the bot place a new order.", json_pack("{s:s}", "field", "qty"));
    } else if (orders_modify(ctx->params[0], qty, ctx->trace_id, ctx->auth.user_id, on_order_done, ctx) < 0) {
        http_reply_error(ctx, 503, "DB_UNAVAILABLE", "The modify could not be queued.", "Check the database.",
                         NULL);
    }
}

void api_orders_modify(struct http_ctx *ctx)
{
    if (require_order_id(ctx) < 0) return;
    json_t *q = json_object_get(ctx->body, "qty");
    if (!json_is_integer(q) || json_integer_value(q) < 1) {
        http_reply_error(ctx, 400, "VALIDATION_FAILED", "qty must be a positive whole number of contracts.",
                         "Send {\"qty\": n}.", json_pack("{s:s}", "field", "qty"));
        return;
    }
    const char *p[1] = {ctx->params[0]};
    if (db_query("SELECT qty::text FROM orders WHERE id = $1::uuid", 1, p, DB_TIMEOUT_MS, on_modify_checked,
                 ctx) < 0)
        http_reply_error(ctx, 503, "DB_UNAVAILABLE", "The order could not be read.", "Check the database.",
                         NULL);
}

static void on_acked(struct pg_result *res, const char *err, void *arg)
{
    struct http_ctx *ctx = arg;
    if (!res) {
        http_reply_error(ctx, 503, "DB_UNAVAILABLE", "The acknowledgement could not be written.",
                         "Check the database.", NULL);
        return;
    }
    if (PQntuples(res) != 1) {
        http_reply_error(ctx, 404, "NOT_FOUND", "The bot has no open blocker with this code.",
                         "GET /api/system/status lists the open bot blockers.", NULL);
        return;
    }
    char msg[300];
    snprintf(msg, sizeof msg, "%s of bot %s acknowledged by %s", ctx->params[1], ctx->params[0],
             ctx->auth.username);
    telemetry_system_event("blocker_ack", "info", ctx->params[0], msg, ctx->trace_id, NULL);
    autonomy_request(ctx->params[0], ctx->trace_id);
    http_reply_json(ctx, 200,
                    json_pack("{s:s, s:s, s:s, s:s}", "bot_id", ctx->params[0], "code", ctx->params[1],
                              "cleared_at", PQgetvalue(res, 0, 0), "cleared_by", ctx->auth.username));
}

void api_bots_blocker_ack(struct http_ctx *ctx)
{
    const char *code = ctx->params[1];
    if (!id_is_uuid(ctx->params[0]) || !code ||
        (strcmp(code, "RISK_BREACH") != 0 && strcmp(code, "POSITION_MISMATCH") != 0)) {
        http_reply_error(ctx, 400, "VALIDATION_FAILED",
                         "The bot id must be a UUID and the code RISK_BREACH or POSITION_MISMATCH.", NULL,
                         NULL);
        return;
    }
    const char *reason = json_string_value(json_object_get(ctx->body, "reason"));
    const char *p[4] = {ctx->params[0], code, ctx->auth.user_id[0] ? ctx->auth.user_id : NULL,
                        reason ? reason : "acknowledged"};
    if (db_query(
            "UPDATE bot_blockers SET cleared_at = gh_now(), cleared_by = $3::uuid, clear_reason = left($4, 500) "
            "WHERE bot_id = $1::uuid AND code = $2 AND cleared_at IS NULL "
            "RETURNING to_char(cleared_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
            4, p, DB_TIMEOUT_MS, on_acked, ctx) < 0)
        http_reply_error(ctx, 503, "DB_UNAVAILABLE", "The acknowledgement could not be queued.",
                         "Check the database.", NULL);
}

void api_system_reconcile(struct http_ctx *ctx)
{
    if (reconcile_now(ctx->trace_id) < 0) {
        http_reply_error(ctx, 409, "RECONCILE_RUNNING", "A reconciliation pass is already running.",
                         "Wait a few seconds.", NULL);
        return;
    }
    http_reply_json(ctx, 202, json_pack("{s:b}", "started", 1));
}
