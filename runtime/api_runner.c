/* api_runner.c — lifecycle routes; the tick itself is runner.c. */
#include "api_runner.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts.h"
#include "api.h"
#include "orders.h"
#include "autonomy.h"
#include "db.h"
#include "http.h"
#include "id.h"
#include "instances.h"
#include "runner.h"
#include "scheduler.h"
#include "status.h"
#include "supervisor.h"
#include "telemetry.h"

#define DB_TIMEOUT_MS 3000

enum lifecycle { LC_START, LC_RESTART, LC_STOP, LC_KILL };

struct call {
    struct http_ctx *ctx;
    enum lifecycle what;
    int running;
    json_t *bot;
};

static void refused(struct call *c, json_t *answer)
{
    json_t *blockers = json_object_get(answer, "blockers"), *first = json_array_get(blockers, 0);
    const char *code = json_string_value(json_object_get(first, "code"));
    const char *bot_id = c->ctx->params[0];
    struct usage_event ev = {.provider_id = "runner",
                             .operation = c->what == LC_RESTART ? "runner.restart" : "runner.start",
                             .status = "BLOCKED",
                             .bot_id = bot_id,
                             .latency_ms = -1,
                             .records = -1,
                             .error_code = code ? code : "POLICY_ERROR",
                             .trace_id = c->ctx->trace_id,
                             .user_id = http_user_id(c->ctx)};
    json_t *meta = http_user_meta(c->ctx, json_pack("{s:O}", "blocked_by", blockers));
    ev.metadata = meta;
    telemetry_usage(&ev);
    telemetry_system_event("bot.start_refused", "warning", bot_id, code ? code : "POLICY_ERROR",
                           c->ctx->trace_id, meta);
    json_decref(meta);
    http_reply_error(c->ctx, 409, code ? code : "POLICY_ERROR",
                     json_string_value(json_object_get(first, "reason_human"))
                         ? json_string_value(json_object_get(first, "reason_human"))
                         : "A safe-start gate refused the start.",
                     json_string_value(json_object_get(first, "suggested_fix")),
                     json_pack("{s:O, s:s}", "blockers", blockers, "bot_id", bot_id));
}

/* The lifecycle change was written (instance_json: the started or ended instance, NULL when none), or failed.
 */
static void lifecycle_written(struct call *c, const char *err, const char *instance_json)
{
    static const char *states[] = {"RUNNING", "RUNNING", "STOPPED", "KILLED"};
    static const char *kinds[] = {"bot.start", "bot.restart", "bot.stop", "kill"};
    if (err) {
        http_reply_error(c->ctx, 503, "DB_UNAVAILABLE", "The bot's instance could not be written.",
                         "Check the database.", NULL);
    } else {
        char msg[160];
        snprintf(msg, sizeof msg, "%s %s", json_string_value(json_object_get(c->bot, "name")),
                 states[c->what]);
        json_t *meta = http_user_meta(c->ctx, NULL);
        telemetry_system_event(kinds[c->what], c->what == LC_KILL ? "SEV-2" : "info", c->ctx->params[0], msg,
                               c->ctx->trace_id, meta);
        json_decref(meta);
        /* a kill's working orders were cancelled by instance_kill (flattened when the bot's params say) */
        if (c->what == LC_KILL)
            alerts_notify("kill", NULL, "SEV-2", "gatehouse: bot killed", msg, c->ctx->trace_id);
        autonomy_request(c->ctx->params[0], c->ctx->trace_id); /* running or not moves supervisor evidence */
        json_t *inst = instance_json ? json_loads(instance_json, 0, NULL) : json_null();
        http_reply_json(c->ctx, 200,
                        json_pack("{s:O, s:s, s:o}", "bot", c->bot, "state", states[c->what], "instance",
                                  inst ? inst : json_null()));
    }
    json_decref(c->bot);
    free(c);
}

static void on_ended(const char *err, const struct instance_ended *rows, int n, void *arg)
{
    lifecycle_written(arg, err, n ? rows[0].instance_json : NULL);
}

static void on_opened(const char *err, const struct instance_row *row, void *arg)
{
    lifecycle_written(arg, err, row ? row->json : NULL);
}

/* Writes the lifecycle change: stop (or kill) any running instance, or (start/restart) open a new RUNNING
 * one. */
static void write_lifecycle(struct call *c)
{
    struct scheduler_status sch;
    const char *bot_id = c->ctx->params[0];
    scheduler_status(&sch);
    if (c->what == LC_KILL) {
        struct instance_kill_req k = {.bot_id = bot_id,
                                      .reason = "KILLED",
                                      .trace_id = c->ctx->trace_id,
                                      .user_id = c->ctx->auth.user_id,
                                      .flatten = 1};
        if (instance_kill(&k, on_ended, c) < 0) lifecycle_written(c, "queue full", NULL);
        return;
    }
    if (c->what == LC_STOP) {
        if (instance_stop(bot_id, 1, on_ended, c) < 0) lifecycle_written(c, "queue full", NULL);
        return;
    }
    struct instance_open_req req = {.bot_id = bot_id, .host = sch.instance_id, .trace_id = c->ctx->trace_id};
    if (instance_open(&req, on_opened, c) < 0) lifecycle_written(c, "queue full", NULL);
}

static void on_stopped_for_restart(const char *err, const struct instance_ended *rows, int n, void *arg)
{
    struct call *c = arg;
    if (err) {
        http_reply_error(c->ctx, 503, "DB_UNAVAILABLE", "The running instance could not be stopped.", NULL,
                         NULL);
        json_decref(c->bot);
        free(c);
        return;
    }
    write_lifecycle(c);
}

/* The safe-start request of the bot: stage, AI, and its autonomy tier with the blocker that explains it. */
static json_t *start_request(const json_t *bot, const char *bot_id, const json_t *row)
{
    json_t *req = json_pack("{s:O, s:b, s:s}", "stage", json_object_get(bot, "stage"), "requires_ai",
                            json_is_true(json_object_get(bot, "requires_ai")), "bot_id", bot_id);
    const json_t *why = autonomy_explaining_blocker(row);
    char reason[600];
    json_object_set(req, "autonomy_tier", json_object_get(row, "autonomy_tier"));
    json_object_set(req, "autonomy_score", json_object_get(row, "autonomy_score"));
    if (why) {
        snprintf(reason, sizeof reason, "%s: %s", json_string_value(json_object_get(why, "code")),
                 json_string_value(json_object_get(why, "reason_human"))
                     ? json_string_value(json_object_get(why, "reason_human"))
                     : "");
        json_object_set_new(req, "autonomy_reason", json_string(reason));
        if (json_is_string(json_object_get(why, "suggested_fix")))
            json_object_set(req, "autonomy_fix", json_object_get(why, "suggested_fix"));
    }
    return req;
}

/* ---- the start decision (Start, Restart, and every place that shows whether a start would pass) ---- */

struct gate_call {
    json_t *bot;
    char bot_id[37], trace_id[33];
    api_runner_gate_cb cb;
    void *arg;
};

/* The bot's fresh autonomy score arrived: run the safe-start gates with its tier (fail closed without one).
 */
static void on_gate_scored(const json_t *rows, const char *code, const char *err, void *arg)
{
    struct gate_call *g = arg;
    const json_t *row = json_array_get(rows, 0);
    json_t *answer = NULL;
    if (!row && code && strcmp(code, "POLICY_ERROR") == 0) {
        answer = json_pack(
            "{s:b, s:[{s:s, s:s, s:s, s:s, s:s, s:s}]}", "allowed", 0, "blockers", "code", "POLICY_ERROR",
            "severity", "SEV-1", "scope", "bot", "reason_human",
            "The bot's autonomy tier could not be computed (scripts/autonomy.lua failed); the start fails closed.",
            "suggested_fix",
            "Fix scripts/autonomy.lua (the log and `gatehouse check` name the error), then reload.",
            "trace_id", g->trace_id);
    } else if (row) {
        json_t *req = start_request(g->bot, g->bot_id, row);
        answer = status_safe_start(req, g->trace_id);
        json_decref(req);
        json_object_set(answer, "autonomy_tier", json_object_get(row, "autonomy_tier"));
        json_object_set(answer, "autonomy_score", json_object_get(row, "autonomy_score"));
    }
    g->cb(answer, answer ? NULL : "DB_UNAVAILABLE", g->arg);
    json_decref(g->bot);
    free(g);
}

int api_runner_start_gate(const json_t *bot, const char *bot_id, const char *trace_id, api_runner_gate_cb cb,
                          void *arg)
{
    struct gate_call *g = calloc(1, sizeof *g);
    if (!g) {
        cb(NULL, "INTERNAL", arg);
        return -1;
    }
    g->bot = json_deep_copy(bot);
    snprintf(g->bot_id, sizeof g->bot_id, "%s", bot_id);
    snprintf(g->trace_id, sizeof g->trace_id, "%s", trace_id);
    g->cb = cb;
    g->arg = arg;
    /* the tier gate needs the bot's score from fresh evidence: score it, then gate (on_gate_scored) */
    if (autonomy_score(bot_id, status_decision(), trace_id, on_gate_scored, g) < 0) {
        on_gate_scored(NULL, "DB_UNAVAILABLE", "the autonomy scoring could not be queued", g);
        return -1;
    }
    return 0;
}

/* The start decision arrived: refuse (409) or write the lifecycle change. */
static void on_start_gate(json_t *answer, const char *code, void *arg)
{
    struct call *c = arg;
    if (!answer) {
        http_reply_error(c->ctx, 503, "DB_UNAVAILABLE", "The bot's autonomy evidence could not be read.",
                         "Check the database, then start again.", NULL);
        json_decref(c->bot);
        free(c);
        return;
    }
    if (!json_is_true(json_object_get(answer, "allowed"))) {
        refused(c, answer);
        json_decref(answer);
        json_decref(c->bot);
        free(c);
        return;
    }
    json_decref(answer);
    if (c->what == LC_RESTART && c->running) {
        /* two statements: the unique "one live instance per bot" index must see the old one stopped first */
        if (instance_stop(c->ctx->params[0], 0, on_stopped_for_restart, c) < 0)
            on_stopped_for_restart("queue full", NULL, 0, c);
        return;
    }
    write_lifecycle(c);
}

static void on_bot(struct pg_result *res, const char *err, void *arg)
{
    struct call *c = arg;
    if (!res || PQntuples(res) != 1) {
        if (res)
            http_reply_error(c->ctx, 404, "NOT_FOUND", "No such bot.", "Use an id from GET /api/bots.", NULL);
        else
            http_reply_error(c->ctx, 503, "DB_UNAVAILABLE", "The bot could not be read.",
                             "Check the database.", NULL);
        free(c);
        return;
    }
    c->bot = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    int running = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
    if (c->what == LC_START || c->what == LC_RESTART) {
        if (c->what == LC_START && running) {
            http_reply_error(c->ctx, 409, "VALIDATION_FAILED", "The bot is already running.", "Use restart.",
                             json_pack("{s:s}", "field", "state"));
            json_decref(c->bot);
            free(c);
            return;
        }
        c->running = running;
        api_runner_start_gate(c->bot, c->ctx->params[0], c->ctx->trace_id, on_start_gate, c);
        return;
    }
    write_lifecycle(c);
}

static void lifecycle(struct http_ctx *ctx, enum lifecycle what)
{
    struct call *c;
    if (!api_id_ok(ctx)) return;
    c = calloc(1, sizeof *c);
    c->ctx = ctx;
    c->what = what;
    const char *p[1] = {ctx->params[0]};
    if (db_query("SELECT row_to_json(b)::text, EXISTS (SELECT 1 FROM bot_instances i WHERE i.bot_id = b.id "
                 "AND i.state IN ('STARTING', 'RUNNING')) FROM bots b WHERE b.id = $1",
                 1, p, DB_TIMEOUT_MS, on_bot, c) < 0)
        on_bot(NULL, "queue full", c);
}

void api_runner_start(struct http_ctx *ctx)
{
    lifecycle(ctx, LC_START);
}
void api_runner_restart(struct http_ctx *ctx)
{
    lifecycle(ctx, LC_RESTART);
}
void api_runner_stop(struct http_ctx *ctx)
{
    lifecycle(ctx, LC_STOP);
}
void api_runner_kill(struct http_ctx *ctx)
{
    lifecycle(ctx, LC_KILL);
}

static void on_ticked(const json_t *summary, const char *code, const char *err, void *arg)
{
    struct http_ctx *ctx = arg;
    if (!summary) {
        if (strcmp(code, "NOT_FOUND") == 0)
            http_reply_error(ctx, 404, "NOT_FOUND", "No such bot.", "Use an id from GET /api/bots.", NULL);
        else
            http_reply_error(ctx, 503, "DB_UNAVAILABLE", err ? err : "The database is unavailable.",
                             "Check the database.", NULL);
        return;
    }
    supervisor_tick_finished(summary); /* a manual tick of the live instance counts like a scheduled one */
    http_reply_json(ctx, 200, json_pack("{s:O}", "tick", summary));
}

void api_runner_tick(struct http_ctx *ctx)
{
    if (!api_id_ok(ctx)) return;
    if (runner_tick(ctx->params[0], ctx->trace_id, http_user_id(ctx), on_ticked, ctx) < 0)
        http_reply_error(ctx, 429, "RATE_LIMITED", "A tick of this bot is already running.",
                         "Retry in a second.", NULL);
}

/* ---- kill-all ---- */

static void on_killed_all(const char *err, const struct instance_ended *rows, int n, void *arg)
{
    struct http_ctx *ctx = arg;
    if (err) {
        http_reply_error(ctx, 503, "DB_UNAVAILABLE", "The running instances could not be killed.",
                         "Check the database.", NULL);
        return;
    }
    json_t *bots = json_array();
    for (int i = 0; i < n; i++) {
        char msg[400];
        const char *id = rows[i].bot_id, *name = rows[i].name ? rows[i].name : rows[i].bot_id;
        snprintf(msg, sizeof msg, "%s KILLED (kill-all by %s)", name, ctx->auth.username);
        json_t *meta = http_user_meta(ctx, NULL);
        telemetry_system_event("kill", "SEV-2", id, msg, ctx->trace_id, meta);
        json_decref(meta);
        json_array_append_new(bots, json_pack("{s:s, s:s, s:s}", "id", id, "name", name, "state", "KILLED"));
    }
    char msg[400];
    snprintf(msg, sizeof msg, "kill-all by %s: %d running bot(s) killed", ctx->auth.username, n);
    json_t *meta = http_user_meta(ctx, NULL);
    telemetry_system_event("kill.all", "SEV-2", "bots", msg, ctx->trace_id, meta);
    json_decref(meta);
    alerts_notify("kill", NULL, "SEV-2", "gatehouse: all bots killed", msg, ctx->trace_id);
    /* instance_kill cancelled every working order of every bot and flattened the killed bots whose params say
     * so */
    http_reply_json(ctx, 200, json_pack("{s:i, s:o}", "killed", n, "bots", bots));
}

void api_runner_kill_all(struct http_ctx *ctx)
{
    /* the kill path of one bot (instance KILLED, desired_state KILLED), for every running instance at once */
    struct instance_kill_req k = {.bot_id = NULL,
                                  .reason = "KILLED",
                                  .trace_id = ctx->trace_id,
                                  .user_id = ctx->auth.user_id,
                                  .flatten = 1};
    if (instance_kill(&k, on_killed_all, ctx) < 0) on_killed_all("queue full", NULL, 0, ctx);
}
