/* api_bots.c — GET/POST /api/bots, GET/PATCH /api/bots/:id, GET/PUT /api/settings/trading.
 *
 * Postgres builds each bot's JSON (json_build_object) in the same statement that reads or writes it, so
 * a handler is one round trip and the C side only decodes, checks and answers. */
#include "api_bots.h"

#include <libpq-fe.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "api_trading.h"
#include "api_runner.h"
#include "api_strategies.h"
#include "db.h"
#include "http.h"
#include "id.h"
#include "log.h"
#include "markets.h"
#include "policy.h"
#include "telemetry.h"

#define DB_TIMEOUT_MS 3000
#define MAX_PARAMS_BYTES 4096
#define MAX_NAME_CHARS 64
#define MAX_SYMBOL_CHARS 32
#define MAX_STRATEGY_CHARS 64

/* One bot as JSON; the table alias must be b. "instance" is its latest runner instance, or null. */
// clang-format off
#define BOT_JSON \
    "json_build_object('id', b.id, 'name', b.name, 'strategy', b.strategy, 'symbol', b.symbol, 'timeframe', "  \
    "b.timeframe, 'stage', b.stage, 'params', b.params, 'requires_ai', b.requires_ai, 'desired_state', "       \
    "b.desired_state, 'created_at', " API_TS("b.created_at") ", 'updated_at', " API_TS("b.updated_at")         \
    ", 'instance', (SELECT json_build_object('id', i.id, 'state', i.state, 'started_at', "                    \
    API_TS("i.started_at") ", 'stopped_at', " API_TS("i.stopped_at") ", 'last_heartbeat_at', "                \
    API_TS("i.last_heartbeat_at") ", 'last_tick_at', " API_TS("i.last_tick_at") ", 'breaker_state', "         \
    "i.breaker_state, 'breaker_opened_at', " API_TS("i.breaker_opened_at") ", 'breaker_failures', "          \
    "i.breaker_failures, 'restart_count', i.restart_count) FROM bot_instances i WHERE i.bot_id = b.id "        \
    "ORDER BY i.started_at DESC, i.id DESC LIMIT 1))"
// clang-format on

/* ---- field validation ---- */

struct bot_fields {
    const char *name, *strategy, *symbol, *timeframe, *stage;
    char *params;    /* compact JSON text (malloc'd) or NULL */
    int requires_ai; /* -1 = not given */
};

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80) n++;
    return n;
}

static int has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) return 1;
    return 0;
}

static int one_of(const char *s, const char *const *set)
{
    for (; *set; set++)
        if (strcmp(s, *set) == 0) return 1;
    return 0;
}

static const char *const TIMEFRAMES[] = {"1m", "5m", "15m", "1h", NULL};
static const char *const STAGES[] = {"PAPER", "SHADOW", "LIVE", NULL};

/* Strategies of generation g: scripts/strategies/<name>.lua files that have decide(). */
static json_t *available_strategies(struct policy_gen *g)
{
    json_t *st = policy_status_json(), *out = json_array(), *f;
    size_t i;
    json_array_foreach(json_object_get(st, "files"), i, f)
    {
        const char *name = json_string_value(f);
        size_t n = name ? strlen(name) : 0;
        if (n > 23 && strncmp(name, "scripts/strategies/", 19) == 0 && strcmp(name + n - 4, ".lua") == 0 &&
            policy_has_function(g, name, "decide"))
            json_array_append_new(out, json_stringn(name + 19, n - 23));
    }
    json_decref(st);
    return out;
}

/* Validates the fields present in body (all of them for a create). Returns 0, or -1 after replying. */
static int parse_fields(struct http_ctx *ctx, const json_t *body, int create, struct bot_fields *f)
{
    json_t *v;
    char reason[256];
    memset(f, 0, sizeof *f);
    f->requires_ai = -1;

    if ((v = json_object_get(body, "name")) || create) {
        const char *s = json_string_value(v);
        size_t n = s ? utf8_chars(s) : 0;
        if (!s || n < 1 || n > MAX_NAME_CHARS || has_control(s) || strspn(s, " ") == strlen(s)) {
            api_invalid(ctx, "name",
                        "Field 'name' must be a string of 1 to 64 characters (no control characters).");
            return -1;
        }
        f->name = s;
    }
    if (create) {
        const char *s = json_string_value(v = json_object_get(body, "strategy"));
        size_t n = s ? strlen(s) : 0;
        if (!s || n < 1 || n > MAX_STRATEGY_CHARS ||
            strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != n) {
            api_invalid(ctx, "strategy",
                        "Field 'strategy' must name a strategy script: scripts/strategies/<strategy>.lua "
                        "(letters, digits, '_' and '-').");
            return -1;
        }
        struct policy_gen *g = policy_current();
        char module[128];
        if (!g) {
            http_reply_error(ctx, 503, "POLICY_ERROR",
                             "No policy generation is loaded, so strategies cannot be checked.",
                             "Fix the policy files (see /readyz policy.last_reload_error) and reload.", NULL);
            return -1;
        }
        snprintf(module, sizeof module, "scripts/strategies/%s.lua", s);
        if (!policy_has_function(g, module, "decide")) {
            snprintf(reason, sizeof reason,
                     "Unknown strategy '%s': %s is not loaded or has no decide() function.", s, module);
            http_reply_error(ctx, 400, "VALIDATION_FAILED", reason,
                             "Use one of available_strategies, or add the script and reload the policies.",
                             json_pack("{s:s, s:o}", "field", "strategy", "available_strategies",
                                       available_strategies(g)));
            return -1;
        }
        f->strategy = s;

        s = json_string_value(v = json_object_get(body, "symbol"));
        n = s ? strlen(s) : 0;
        if (!s || n < 1 || n > MAX_SYMBOL_CHARS || strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.") != n) {
            api_invalid(ctx, "symbol",
                        "Field 'symbol' must be 1 to 32 characters of A-Z, 0-9 and '.' (e.g. ESZ6).");
            return -1;
        }
        f->symbol = s;
    }
    if ((v = json_object_get(body, "timeframe")) || create) {
        if (!json_is_string(v) || !one_of(json_string_value(v), TIMEFRAMES)) {
            api_invalid(ctx, "timeframe", "Field 'timeframe' must be one of 1m, 5m, 15m, 1h.");
            return -1;
        }
        f->timeframe = json_string_value(v);
    }
    if ((v = json_object_get(body, "stage"))) {
        if (!json_is_string(v) || !one_of(json_string_value(v), STAGES)) {
            api_invalid(ctx, "stage", "Field 'stage' must be PAPER, SHADOW or LIVE.");
            return -1;
        }
        f->stage = json_string_value(v);
    } else if (create) {
        f->stage = "PAPER";
    }
    if ((v = json_object_get(body, "requires_ai"))) {
        if (!json_is_boolean(v)) {
            api_invalid(ctx, "requires_ai", "Field 'requires_ai' must be a boolean.");
            return -1;
        }
        f->requires_ai = json_is_true(v);
    } else if (create) {
        f->requires_ai = 0;
    }
    /* last: the only field that allocates */
    if ((v = json_object_get(body, "params"))) {
        char field[256] = "params";
        if (!json_is_object(v)) {
            api_invalid(ctx, "params", "Field 'params' must be a JSON object.");
            return -1;
        }
        if (!api_numbers_ok(v, field, sizeof field)) {
            api_invalid(ctx, field, "Numbers in 'params' must lie within +/-1e18.");
            return -1;
        }
        f->params = json_dumps(v, JSON_COMPACT);
        if (!f->params || strlen(f->params) > MAX_PARAMS_BYTES) {
            free(f->params);
            f->params = NULL;
            api_invalid(ctx, "params", "Field 'params' must be at most 4 KiB once serialised.");
            return -1;
        }
    } else if (create) {
        f->params = strdup("{}");
    }
    return 0;
}

/* ---- GET /api/bots ---- */

static void on_bots_list(struct pg_result *res, const char *err, void *arg)
{
    struct api_page *r = arg;
    struct http_ctx *ctx = r->ctx;
    long limit = r->limit;
    free(r);
    if (!res) {
        api_reply_db_error(ctx, err, "bots list");
        return;
    }
    json_t *bots = json_array(), *next = json_null();
    int n = PQntuples(res);
    for (int i = 0; i < n && i < limit; i++) {
        json_t *b = api_decode(PQgetvalue(res, i, 0));
        if (!b) continue;
        json_object_set_new(b, "market", markets_for_symbol(json_string_value(json_object_get(b, "symbol"))));
        json_array_append_new(bots, b);
    }
    if (n > limit && json_array_size(bots) > 0) {
        json_t *last = json_array_get(bots, json_array_size(bots) - 1);
        next = json_sprintf("%s_%s", json_string_value(json_object_get(last, "created_at")),
                            json_string_value(json_object_get(last, "id")));
    }
    http_reply_json(ctx, 200,
                    json_pack("{s:o, s:o}", "bots", bots, "next_cursor", next ? next : json_null()));
}

void api_bots_list(struct http_ctx *ctx)
{
    char ts[64], uuid[40], plus_one[24];
    long limit;
    if (api_page_params(ctx, &limit, ts, sizeof ts, uuid, sizeof uuid) < 0) return;
    snprintf(plus_one, sizeof plus_one, "%ld", limit + 1);
    const char *params[3] = {plus_one, ts[0] ? ts : NULL, uuid[0] ? uuid : NULL};
    struct api_page *r = api_page_new(ctx, limit);
    if (db_query("SELECT " BOT_JSON "::text FROM bots b "
                 "WHERE ($2::timestamptz IS NULL OR (b.created_at, b.id) > ($2::timestamptz, $3::uuid)) "
                 "ORDER BY b.created_at, b.id LIMIT $1::int",
                 3, params, DB_TIMEOUT_MS, on_bots_list, r) < 0) {
        free(r);
        api_reply_db_error(ctx, NULL, "bots list");
    }
}

/* ---- POST /api/bots ---- */

static void on_bot_created(struct pg_result *res, const char *err, void *arg)
{
    struct http_ctx *ctx = arg;
    if (!res) {
        if (err && strstr(err, "bots_name_key")) {
            http_reply_error(ctx, 409, "VALIDATION_FAILED", "name taken: another bot already has this name.",
                             "Choose another name.", json_pack("{s:s}", "field", "name"));
            return;
        }
        api_reply_db_error(ctx, err, "bot insert");
        return;
    }
    if (PQntuples(res) == 0) {
        http_reply_error(ctx, 409, "VALIDATION_FAILED", "name taken: another bot already has this name.",
                         "Choose another name.", json_pack("{s:s}", "field", "name"));
        return;
    }
    json_t *bot = api_decode(PQgetvalue(res, 0, 0));
    if (!bot) {
        http_reply_error(ctx, 500, "INTERNAL", "The new bot could not be read back.", "Report the trace id.",
                         NULL);
        return;
    }
    json_t *meta = http_user_meta(ctx, json_pack("{s:O, s:O, s:O, s:O}", "name", json_object_get(bot, "name"),
                                                 "strategy", json_object_get(bot, "strategy"), "symbol",
                                                 json_object_get(bot, "symbol"), "stage",
                                                 json_object_get(bot, "stage")));
    telemetry_system_event("bot.created", "info", json_string_value(json_object_get(bot, "id")),
                           "Bot created", ctx->trace_id, meta);
    json_decref(meta);
    api_trading_portfolio_stale();
    http_reply_json(ctx, 201, json_pack("{s:o}", "bot", bot));
}

void api_bots_create(struct http_ctx *ctx)
{
    struct bot_fields f;
    if (!ctx->body) {
        api_invalid(ctx, "body",
                    "Send a JSON object {name, strategy, symbol, timeframe, stage?, params?, requires_ai?}.");
        return;
    }
    if (parse_fields(ctx, ctx->body, 1, &f) < 0) return;
    if (api_strategies_check_params(ctx, policy_current(), f.strategy, json_object_get(ctx->body, "params")) <
        0) {
        free(f.params);
        return;
    }
    const char *params[8] = {f.name,
                             f.strategy,
                             f.symbol,
                             f.timeframe,
                             f.stage,
                             f.params,
                             f.requires_ai ? "true" : "false",
                             http_user_id(ctx)};
    if (db_query(
            "INSERT INTO bots AS b (name, strategy, symbol, timeframe, stage, params, requires_ai, created_by) "
            "VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::boolean, $8::uuid) ON CONFLICT (name) DO NOTHING "
            "RETURNING " BOT_JSON "::text",
            8, params, DB_TIMEOUT_MS, on_bot_created, ctx) < 0)
        api_reply_db_error(ctx, NULL, "bot insert");
    free(f.params);
}

/* ---- GET /api/bots/:id ---- */

/* A reply waiting for the bot's start decision (api_runner_start_gate: the one Start takes, tier included).
 */
struct gated_reply {
    struct http_ctx *ctx;
    json_t *body; /* the answer, safe_start added when the decision arrives */
};

/* Without the bot's autonomy evidence the start would answer 503: the page says refused, and why. */
static json_t *gate_unavailable(const char *trace_id)
{
    return json_pack("{s:b, s:[{s:s, s:s, s:s, s:s, s:s, s:s}]}", "allowed", 0, "blockers", "code",
                     "DB_UNAVAILABLE", "severity", "SEV-1", "scope", "bot", "reason_human",
                     "The bot's autonomy evidence could not be read: a start would fail (503).",
                     "suggested_fix", "Check the database (see /readyz).", "trace_id", trace_id);
}

static void on_gate(json_t *answer, const char *err_code, void *arg)
{
    struct gated_reply *r = arg;
    json_object_set_new(r->body, "safe_start", answer ? answer : gate_unavailable(r->ctx->trace_id));
    http_reply_json(r->ctx, 200, r->body);
    free(r);
}

/* Replies 200 body once body.safe_start holds the start decision of bot (body is stolen). */
static void reply_with_gate(struct http_ctx *ctx, json_t *body, const json_t *bot)
{
    struct gated_reply *r = malloc(sizeof *r);
    if (!r) {
        json_decref(body);
        http_reply_error(ctx, 500, "INTERNAL", "Out of memory.", NULL, NULL);
        return;
    }
    r->ctx = ctx;
    r->body = body;
    api_runner_start_gate(bot, json_string_value(json_object_get(bot, "id")), ctx->trace_id, on_gate, r);
}

static void on_bot(struct pg_result *res, const char *err, void *arg)
{
    struct http_ctx *ctx = arg;
    if (!res) {
        api_reply_db_error(ctx, err, "bot read");
        return;
    }
    if (PQntuples(res) == 0) {
        api_bot_not_found(ctx);
        return;
    }
    json_t *bot = api_decode(PQgetvalue(res, 0, 0));
    if (!bot) {
        http_reply_error(ctx, 500, "INTERNAL", "The bot could not be decoded.", "Report the trace id.", NULL);
        return;
    }
    /* when its market trades: a closed market is not a gate (the bot may run; its ticks wait for the open) */
    json_object_set_new(bot, "market", markets_for_symbol(json_string_value(json_object_get(bot, "symbol"))));
    reply_with_gate(ctx, json_pack("{s:O}", "bot", bot), bot);
    json_decref(bot);
}

void api_bots_get(struct http_ctx *ctx)
{
    if (!api_id_ok(ctx)) return;
    const char *params[1] = {ctx->params[0]};
    if (db_query("SELECT " BOT_JSON "::text FROM bots b WHERE b.id = $1::uuid", 1, params, DB_TIMEOUT_MS,
                 on_bot, ctx) < 0)
        api_reply_db_error(ctx, NULL, "bot read");
}

/* ---- PATCH /api/bots/:id ---- */

struct patch_req {
    struct http_ctx *ctx;
    struct bot_fields f;           /* the fields sent (strings borrowed from ctx->body) */
    const char *strategy, *symbol; /* echoed back (must equal the bot's), or NULL */
    json_t *changed;               /* names of the fields sent */
    int to_live;
};

enum {
    P_FOUND,
    P_LIVE_REFUSED,
    P_STRATEGY,
    P_SYMBOL,
    P_NAME_TAKEN,
    P_RUNNING,
    P_DESIRED,
    P_OLD_STAGE,
    P_UPDATED,
    P_CURRENT
};

static void on_bot_patched(struct pg_result *res, const char *err, void *arg)
{
    struct patch_req *r = arg;
    struct http_ctx *ctx = r->ctx;
    json_t *changed = r->changed;
    int to_live = r->to_live;
    free(r);
    if (!res) {
        json_decref(changed);
        if (err && strstr(err, "bots_name_key")) {
            http_reply_error(ctx, 409, "VALIDATION_FAILED", "name taken: another bot already has this name.",
                             "Choose another name.", json_pack("{s:s}", "field", "name"));
            return;
        }
        api_reply_db_error(ctx, err, "bot update");
        return;
    }
#define COL(c) PQgetvalue(res, 0, c)
#define TRUE_AT(c) (!PQgetisnull(res, 0, c) && COL(c)[0] == 't')
    if (PQntuples(res) != 1 || atoi(COL(P_FOUND)) == 0) {
        json_decref(changed);
        api_bot_not_found(ctx);
        return;
    }
    if (TRUE_AT(P_STRATEGY) || TRUE_AT(P_SYMBOL)) {
        const char *field = TRUE_AT(P_STRATEGY) ? "strategy" : "symbol";
        char reason[160];
        json_decref(changed);
        snprintf(reason, sizeof reason, "Field '%s' cannot be changed after a bot is created.", field);
        http_reply_error(ctx, 400, "VALIDATION_FAILED", reason,
                         "Create a new bot with the other value instead.",
                         json_pack("{s:s}", "field", field));
        return;
    }
    if (TRUE_AT(P_NAME_TAKEN)) {
        json_decref(changed);
        http_reply_error(ctx, 409, "VALIDATION_FAILED", "name taken: another bot already has this name.",
                         "Choose another name.", json_pack("{s:s}", "field", "name"));
        return;
    }
    if (TRUE_AT(P_LIVE_REFUSED)) {
        char fix[200];
        json_decref(changed);
        snprintf(fix, sizeof fix,
                 "Stop it first (POST /api/bots/%s/stop), then change the stage; starting it as LIVE "
                 "runs the safe-start gates.",
                 ctx->params[0]);
        http_reply_error(ctx, 409, "VALIDATION_FAILED",
                         "The bot is running: its stage cannot be changed to LIVE while it runs.", fix,
                         json_pack("{s:s, s:s, s:b, s:s}", "field", "stage", "stage_now", COL(P_OLD_STAGE),
                                   "running", TRUE_AT(P_RUNNING), "desired_state", COL(P_DESIRED)));
        return;
    }
    int updated = !PQgetisnull(res, 0, P_UPDATED);
    json_t *bot = api_decode(COL(updated ? P_UPDATED : P_CURRENT));
    if (!bot) {
        json_decref(changed);
        http_reply_error(ctx, 500, "INTERNAL", "The bot could not be decoded.", "Report the trace id.", NULL);
        return;
    }
    if (updated) {
        const char *stage = json_string_value(json_object_get(bot, "stage"));
        json_t *meta = http_user_meta(ctx, json_pack("{s:O, s:s, s:s}", "fields", changed, "stage_from",
                                                     COL(P_OLD_STAGE), "stage_to", stage ? stage : ""));
        telemetry_system_event(
            "bot.updated",
            stage && strcmp(stage, "LIVE") == 0 && strcmp(COL(P_OLD_STAGE), "LIVE") ? "warning" : "info",
            json_string_value(json_object_get(bot, "id")), "Bot updated", ctx->trace_id, meta);
        json_decref(meta);
        api_trading_portfolio_stale();
    }
#undef COL
#undef TRUE_AT
    json_decref(changed);
    json_t *body = json_pack("{s:O, s:b}", "bot", bot, "changed", updated);
    if (to_live)
        reply_with_gate(ctx, body, bot);
    else
        http_reply_json(ctx, 200, body);
    json_decref(bot);
}

/* Runs the update of r (validated); frees r on a queueing failure, else on_bot_patched does. */
static void run_patch(struct patch_req *r)
{
    struct http_ctx *ctx = r->ctx;
    const struct bot_fields *f = &r->f;
    const char *params[8] = {ctx->params[0], f->name,
                             f->params,      f->stage,
                             f->timeframe,   f->requires_ai < 0 ? NULL : f->requires_ai ? "true" : "false",
                             r->strategy,    r->symbol};
    int rc = db_query(
        "WITH cur AS ("
        "  SELECT b.id, b.stage, b.strategy, b.symbol, b.desired_state,"
        "         EXISTS (SELECT 1 FROM bot_instances i WHERE i.bot_id = b.id"
        "                 AND i.state IN ('STARTING', 'RUNNING')) AS running"
        "  FROM bots b WHERE b.id = $1::uuid FOR UPDATE),"
        " chk AS ("
        "  SELECT cur.*,"
        "    ($4::text = 'LIVE' AND cur.stage <> 'LIVE' AND (cur.running OR cur.desired_state = 'RUNNING'))"
        "      AS live_refused,"
        "    ($7::text IS NOT NULL AND $7::text <> cur.strategy) AS strategy_changed,"
        "    ($8::text IS NOT NULL AND $8::text <> cur.symbol) AS symbol_changed,"
        "    ($2::text IS NOT NULL AND EXISTS (SELECT 1 FROM bots o WHERE o.name = $2::text AND o.id <> cur.id))"
        "      AS name_taken"
        "  FROM cur),"
        " upd AS ("
        "  UPDATE bots AS b SET name = COALESCE($2::text, b.name), params = COALESCE($3::jsonb, b.params),"
        "    stage = COALESCE($4::text, b.stage), timeframe = COALESCE($5::text, b.timeframe),"
        "    requires_ai = COALESCE($6::boolean, b.requires_ai)"
        "  FROM chk WHERE b.id = chk.id"
        "    AND NOT (chk.live_refused OR chk.strategy_changed OR chk.symbol_changed OR chk.name_taken)"
        "    AND (b.name, b.params, b.stage, b.timeframe, b.requires_ai) IS DISTINCT FROM"
        "        (COALESCE($2::text, b.name), COALESCE($3::jsonb, b.params), COALESCE($4::text, b.stage),"
        "         COALESCE($5::text, b.timeframe), COALESCE($6::boolean, b.requires_ai))"
        "  RETURNING " BOT_JSON "::text AS j)"
        " SELECT (SELECT count(*) FROM chk), chk.live_refused, chk.strategy_changed, chk.symbol_changed,"
        "   chk.name_taken, chk.running, chk.desired_state, chk.stage, (SELECT j FROM upd),"
        "   (SELECT " BOT_JSON "::text FROM bots b WHERE b.id = chk.id)"
        " FROM (SELECT 1) AS one LEFT JOIN chk ON true",
        8, params, DB_TIMEOUT_MS, on_bot_patched, r);
    free(r->f.params);
    r->f.params = NULL;
    if (rc < 0) {
        json_decref(r->changed);
        free(r);
        api_reply_db_error(ctx, NULL, "bot update");
    }
}

/* The bot's strategy arrived: new params are checked against its schema before the update runs. */
static void on_patch_strategy(struct pg_result *res, const char *err, void *arg)
{
    struct patch_req *r = arg;
    struct http_ctx *ctx = r->ctx;
    int ok = res && PQntuples(res) == 1;
    if (ok && api_strategies_check_params(ctx, policy_current(), PQgetvalue(res, 0, 0),
                                          json_object_get(ctx->body, "params")) == 0) {
        run_patch(r);
        return;
    }
    if (!res)
        api_reply_db_error(ctx, err, "bot read");
    else if (!ok)
        api_bot_not_found(ctx);
    free(r->f.params);
    json_decref(r->changed);
    free(r);
}

void api_bots_patch(struct http_ctx *ctx)
{
    json_t *v;
    static const char *const patchable[] = {"name", "params", "stage", "timeframe", "requires_ai", NULL};
    if (!api_id_ok(ctx)) return;
    if (!ctx->body) {
        api_invalid(ctx, "body",
                    "Send a JSON object with any of name, params, stage, timeframe, requires_ai.");
        return;
    }
    struct patch_req *r = calloc(1, sizeof *r);
    if (!r) {
        http_reply_error(ctx, 500, "INTERNAL", "Out of memory.", NULL, NULL);
        return;
    }
    r->ctx = ctx;
    if (parse_fields(ctx, ctx->body, 0, &r->f) < 0) {
        free(r);
        return;
    }
    /* strategy and symbol are fixed at creation; echoing the current value back (a UI sending the whole bot)
     * is fine */
    if ((v = json_object_get(ctx->body, "strategy")) && !(r->strategy = json_string_value(v))) {
        free(r->f.params);
        free(r);
        api_invalid(ctx, "strategy", "Field 'strategy' cannot be changed after a bot is created.");
        return;
    }
    if ((v = json_object_get(ctx->body, "symbol")) && !(r->symbol = json_string_value(v))) {
        free(r->f.params);
        free(r);
        api_invalid(ctx, "symbol", "Field 'symbol' cannot be changed after a bot is created.");
        return;
    }
    r->changed = json_array();
    r->to_live = r->f.stage && strcmp(r->f.stage, "LIVE") == 0;
    for (const char *const *p = patchable; *p; p++)
        if (json_object_get(ctx->body, *p)) json_array_append_new(r->changed, json_string(*p));
    if (!r->f.params) {
        run_patch(r);
        return;
    }
    const char *params[1] = {ctx->params[0]};
    if (db_query("SELECT strategy FROM bots WHERE id = $1::uuid", 1, params, DB_TIMEOUT_MS, on_patch_strategy,
                 r) < 0) {
        free(r->f.params);
        json_decref(r->changed);
        free(r);
        api_reply_db_error(ctx, NULL, "bot read");
    }
}

/* ---- POST /api/bots/:id/clone ---- */

struct clone_req {
    struct http_ctx *ctx;
    struct bot_fields f; /* name, stage (default PAPER); params: the overrides, merged over the source's */
};

static void clone_free(struct clone_req *r)
{
    free(r->f.params);
    free(r);
}

/* The source bot arrived (strategy, params): merge, check against the schema, insert the copy. */
static void on_clone_source(struct pg_result *res, const char *err, void *arg)
{
    struct clone_req *r = arg;
    struct http_ctx *ctx = r->ctx;
    if (!res || PQntuples(res) != 1) {
        if (res)
            api_bot_not_found(ctx);
        else
            api_reply_db_error(ctx, err, "bot read");
        clone_free(r);
        return;
    }
    json_t *merged = api_decode(PQgetvalue(res, 0, 1));
    if (!json_is_object(merged)) {
        json_decref(merged);
        merged = json_object();
    }
    json_object_update(merged, json_object_get(ctx->body, "params"));
    char *text = json_dumps(merged, JSON_COMPACT);
    int ok = api_strategies_check_params(ctx, policy_current(), PQgetvalue(res, 0, 0), merged) == 0;
    json_decref(merged);
    if (ok && (!text || strlen(text) > MAX_PARAMS_BYTES)) {
        api_invalid(ctx, "params", "The merged params must be at most 4 KiB once serialised.");
        ok = 0;
    }
    if (ok) { /* a refusal above has answered: ctx is gone */
        const char *params[5] = {ctx->params[0], r->f.name, r->f.stage ? r->f.stage : "PAPER", text,
                                 http_user_id(ctx)};
        if (db_query(
                "INSERT INTO bots AS b (name, strategy, symbol, timeframe, stage, params, requires_ai, created_by) "
                "SELECT $2, s.strategy, s.symbol, s.timeframe, $3, $4::jsonb, s.requires_ai, $5::uuid "
                "FROM bots s WHERE s.id = $1::uuid ON CONFLICT (name) DO NOTHING RETURNING " BOT_JSON
                "::text",
                5, params, DB_TIMEOUT_MS, on_bot_created, ctx) < 0)
            api_reply_db_error(ctx, NULL, "bot insert");
    }
    free(text);
    clone_free(r);
}

void api_bots_clone(struct http_ctx *ctx)
{
    if (!api_id_ok(ctx)) return;
    if (!ctx->body || !json_object_get(ctx->body, "name")) {
        api_invalid(ctx, "name",
                    "Send a JSON object {name, stage?, params?}: the new bot's name is required.");
        return;
    }
    struct clone_req *r = calloc(1, sizeof *r);
    if (!r) {
        http_reply_error(ctx, 500, "INTERNAL", "Out of memory.", NULL, NULL);
        return;
    }
    r->ctx = ctx;
    if (parse_fields(ctx, ctx->body, 0, &r->f) < 0) {
        free(r);
        return;
    }
    const char *params[1] = {ctx->params[0]};
    if (db_query("SELECT strategy, params::text FROM bots WHERE id = $1::uuid", 1, params, DB_TIMEOUT_MS,
                 on_clone_source, r) < 0) {
        clone_free(r);
        api_reply_db_error(ctx, NULL, "bot read");
    }
}

/* ---- /api/settings/trading ----
 * Auth arrives in a later issue: then PUT needs an admin session and, to turn trading on, a fresh 2FA
 * (PRODUCT.md §6 "Auth and 2FA"). Until then the route is open like every other /api route. */

static json_t *trading_json(const char *value_text, const char *updated_at)
{
    json_t *v = value_text ? api_decode(value_text) : NULL;
    const char *mode = json_string_value(json_object_get(v, "mode"));
    json_t *out =
        json_pack("{s:b, s:s, s:o}", "enabled", json_is_true(json_object_get(v, "enabled")), "mode",
                  mode ? mode : "PAPER", "updated_at", updated_at ? json_string(updated_at) : json_null());
    json_decref(v);
    return out;
}

static void on_trading(struct pg_result *res, const char *err, void *arg)
{
    struct http_ctx *ctx = arg;
    if (!res) {
        api_reply_db_error(ctx, err, "trading settings read");
        return;
    }
    int found = PQntuples(res) == 1; /* no row: the fail-closed default */
    http_reply_json(
        ctx, 200,
        json_pack("{s:o}", "trading",
                  trading_json(found ? PQgetvalue(res, 0, 0) : NULL, found ? PQgetvalue(res, 0, 1) : NULL)));
}

void api_settings_trading_get(struct http_ctx *ctx)
{
    // clang-format off
    if (db_query("SELECT value::text, " API_TS("updated_at") " FROM app_settings WHERE key = 'trading'", 0, NULL,
                 DB_TIMEOUT_MS, on_trading, ctx) < 0)
        api_reply_db_error(ctx, NULL, "trading settings read");
    // clang-format on
}

static void on_trading_put(struct pg_result *res, const char *err, void *arg)
{
    struct http_ctx *ctx = arg;
    if (!res || PQntuples(res) != 1) {
        api_reply_db_error(ctx, res ? "ERROR: upsert returned no row" : err, "trading settings update");
        return;
    }
    json_t *trading = trading_json(PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
    json_t *prev = PQgetisnull(res, 0, 2) ? NULL : api_decode(PQgetvalue(res, 0, 2));
    int on = json_is_true(json_object_get(trading, "enabled"));
    const char *mode = json_string_value(json_object_get(trading, "mode"));
    char msg[96];
    snprintf(msg, sizeof msg, "Trading switched %s (mode %s)", on ? "on" : "off", mode ? mode : "PAPER");
    json_t *meta = http_user_meta(ctx, json_pack("{s:b, s:b, s:s}", "enabled", on, "previous_enabled",
                                                 json_is_true(json_object_get(prev, "enabled")), "mode",
                                                 mode ? mode : "PAPER"));
    telemetry_system_event("trading.switch", on ? "warning" : "info", "trading", msg, ctx->trace_id, meta);
    LOG_INFO(ctx->trace_id, "trading switch", "enabled=%s mode=%s", on ? "true" : "false",
             mode ? mode : "PAPER");
    json_decref(meta);
    json_decref(prev);
    http_reply_json(ctx, 200, json_pack("{s:o}", "trading", trading));
}

void api_settings_trading_put(struct http_ctx *ctx)
{
    json_t *enabled = ctx->body ? json_object_get(ctx->body, "enabled") : NULL;
    if (!json_is_boolean(enabled)) {
        api_invalid(ctx, "enabled", "Field 'enabled' must be a boolean.");
        return;
    }
    /* turning live trading ON needs a 2FA verification within the fresh window; turning it off never does */
    if (json_is_true(enabled) && !ctx->auth.fresh_2fa) {
        http_reply_2fa_required(ctx);
        return;
    }
    const char *params[1] = {json_is_true(enabled) ? "true" : "false"};
    // clang-format off
    if (db_query("WITH old AS (SELECT value FROM app_settings WHERE key = 'trading'),"
                 " up AS (INSERT INTO app_settings AS s (key, value)"
                 "        VALUES ('trading', jsonb_build_object('enabled', $1::boolean, 'mode', 'PAPER'))"
                 "        ON CONFLICT (key) DO UPDATE SET value = '{\"mode\": \"PAPER\"}'::jsonb"
                 "          || CASE WHEN jsonb_typeof(s.value) = 'object' THEN s.value ELSE '{}'::jsonb END"
                 "          || jsonb_build_object('enabled', $1::boolean)"
                 "        RETURNING s.value, s.updated_at)"
                 " SELECT up.value::text, " API_TS("up.updated_at") ", (SELECT value::text FROM old) FROM up",
                 1, params, DB_TIMEOUT_MS, on_trading_put, ctx) < 0)
        api_reply_db_error(ctx, NULL, "trading settings update");
    // clang-format on
}
