/* api_system.c — /healthz, /readyz, /api/policy/reload. */
#include "api_system.h"

#include <stdio.h>
#include <time.h>

#include "db.h"
#include "http.h"
#include "policy.h"

void api_system_healthz(struct http_ctx *ctx)
{
    http_reply_json(ctx, 200, json_pack("{s:s}", "status", "ok"));
}

void api_system_readyz(struct http_ctx *ctx)
{
    int db_ok = db_reachable(), policy_ok = policy_current() != NULL;
    int ready = db_ok && policy_ok;
    const char *db_err = db_last_error();
    json_t *body = json_pack("{s:b, s:b, s:{s:b, s:o, s:o}, s:o}", "success", ready, "ready", ready, "db",
                             "reachable", db_ok, "last_ok_at", http_json_time(db_last_ok_at()), "error",
                             db_err[0] ? json_string(db_err) : json_null(), "policy", policy_status_json());
    if (!ready) {
        json_object_set_new(body, "error_code", json_string(db_ok ? "POLICY_ERROR" : "DB_UNAVAILABLE"));
        json_object_set_new(body, "reason_human",
                            json_string(db_ok ? "No policy generation is loaded." : "Postgres is not reachable."));
    }
    http_reply_json(ctx, ready ? 200 : 503, body);
}

void api_system_policy_reload(struct http_ctx *ctx)
{
    json_t *reason = ctx->body ? json_object_get(ctx->body, "reason") : NULL;
    char err[2048], why[160];
    if (reason && !json_is_string(reason)) {
        http_reply_error(ctx, 400, "VALIDATION_FAILED", "Field 'reason' must be a string.", NULL,
                         json_pack("{s:s}", "field", "reason"));
        return;
    }
    snprintf(why, sizeof why, "api: %s", reason ? json_string_value(reason) : "reload requested");
    if (policy_reload(why, err, sizeof err) < 0) {
        http_reply_error(ctx, 200, "POLICY_ERROR", err,
                         "Fix the file and line named in the error, then reload again; the previous policy "
                         "generation keeps serving meanwhile.",
                         json_pack("{s:o}", "policy", policy_status_json()));
        return;
    }
    http_reply_json(ctx, 200, json_pack("{s:o}", "policy", policy_status_json()));
}
