/* api_traces.c — GET/POST /api/bots/:id/decision-traces and /api/bots/:id/no-trade-traces. */
#include "api_traces.h"

#include <ctype.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "api_telemetry.h"
#include "db.h"
#include "http.h"
#include "id.h"
#include "secret.h"

#define DB_TIMEOUT_MS 3000
#define MAX_REASON_CHARS 2000
#define MAX_CODE_CHARS 64
#define MAX_BLOCKED_BY 64

/* One trace as JSON; the table alias must be t. */
// clang-format off
#define DECISION_JSON \
    "json_build_object('id', t.id, 'bot_id', t.bot_id, 'created_at', " API_TS("t.created_at")                  \
    ", 'decision_type', t.decision_type, 'reason_human', t.reason_human, 'reason_code', t.reason_code, "       \
    "'signals', t.signals, 'variables_snapshot', t.variables_snapshot, 'confidence', t.confidence, "           \
    "'expected_value', t.expected_value, 'risk_snapshot', t.risk_snapshot, 'trace_id', t.trace_id, "           \
    "'order_id', t.order_id, 'trade_log_id', t.trade_log_id)"
// clang-format on

// clang-format off
#define NO_TRADE_JSON                                                                                          \
    "json_build_object('id', t.id, 'bot_id', t.bot_id, 'created_at', " API_TS("t.created_at")                  \
    ", 'suppression_type', t.suppression_type, 'suppression_decision', t.suppression_decision, "               \
    "'reason_human', t.reason_human, 'reason_code', t.reason_code, 'blocked_by', t.blocked_by, "               \
    "'signals', t.signals, 'variables_snapshot', t.variables_snapshot, 'trace_id', t.trace_id)"
// clang-format on

/* $1 bot, $2 limit + 1, $3 since, $4 until, $5/$6 cursor (created_at, id). Newest first. */
#define LIST_SQL(table, json)                                                                                \
    "SELECT EXISTS (SELECT 1 FROM bots WHERE id = $1::uuid),"                                                \
    " (SELECT COALESCE(json_agg(x.j ORDER BY x.created_at DESC, x.id DESC), '[]'::json)::text FROM"          \
    "   (SELECT t.created_at, t.id, " json " AS j FROM " table " t WHERE t.bot_id = $1::uuid"                \
    "      AND ($3::timestamptz IS NULL OR t.created_at >= $3::timestamptz)"                                 \
    "      AND ($4::timestamptz IS NULL OR t.created_at < $4::timestamptz)"                                  \
    "      AND ($5::timestamptz IS NULL OR (t.created_at, t.id) < ($5::timestamptz, $6::uuid))"              \
    "    ORDER BY t.created_at DESC, t.id DESC LIMIT $2::int) x)"

/* ---- GET ---- */

static void on_list(struct pg_result *res, const char *err, void *arg)
{
    struct api_page *r = arg;
    struct http_ctx *ctx = r->ctx;
    long limit = r->limit;
    free(r);
    if (!res) {
        api_reply_db_error(ctx, err, "traces list");
        return;
    }
    if (PQntuples(res) != 1 || PQgetvalue(res, 0, 0)[0] != 't') {
        api_bot_not_found(ctx);
        return;
    }
    json_t *traces = api_decode(PQgetvalue(res, 0, 1));
    if (!json_is_array(traces)) {
        json_decref(traces);
        http_reply_error(ctx, 500, "INTERNAL", "The traces could not be decoded.", "Report the trace id.",
                         NULL);
        return;
    }
    http_reply_json(ctx, 200,
                    json_pack("{s:s, s:o, s:o}", "bot_id", ctx->params[0], "traces", traces, "next_cursor",
                              api_page_next(traces, limit, "created_at")));
}

static void list(struct http_ctx *ctx, const char *sql)
{
    char ts[64], uuid[40], plus_one[24], since[64] = "", until[64] = "";
    const char *s = http_query(ctx, "since"), *u = http_query(ctx, "until");
    long limit;
    if (!api_id_ok(ctx)) return;
    if (api_page_params(ctx, &limit, ts, sizeof ts, uuid, sizeof uuid) < 0) return;
    if (s && !api_rfc3339(s, since, sizeof since)) {
        api_invalid(ctx, "since", "since must be an RFC 3339 timestamp, e.g. 2026-01-31T14:00:00Z.");
        return;
    }
    if (u && !api_rfc3339(u, until, sizeof until)) {
        api_invalid(ctx, "until", "until must be an RFC 3339 timestamp, e.g. 2026-01-31T15:00:00Z.");
        return;
    }
    snprintf(plus_one, sizeof plus_one, "%ld", limit + 1);
    const char *params[6] = {ctx->params[0],   plus_one,          s ? since : NULL,
                             u ? until : NULL, ts[0] ? ts : NULL, uuid[0] ? uuid : NULL};
    struct api_page *r = api_page_new(ctx, limit);
    if (db_query(sql, 6, params, DB_TIMEOUT_MS, on_list, r) < 0) {
        free(r);
        api_reply_db_error(ctx, NULL, "traces list");
    }
}

void api_traces_decision_list(struct http_ctx *ctx)
{
    // clang-format off
    list(ctx, LIST_SQL("decision_traces", DECISION_JSON));
    // clang-format on
}

void api_traces_no_trade_list(struct http_ctx *ctx)
{
    // clang-format off
    list(ctx, LIST_SQL("no_trade_traces", NO_TRADE_JSON));
    // clang-format on
}

/* ---- POST: validation ---- */

/* Service token, bot id and body: the checks every POST starts with. Returns 1 to go on. */
static int post_preamble(struct http_ctx *ctx)
{
    if (!api_telemetry_has_service_token(ctx)) {
        http_reply_error(
            ctx, 401, "UNAUTHENTICATED",
            "Traces are written by runners only: this route needs the service token.",
            secret_value("GATEHOUSE_SERVICE_TOKEN")
                ? "Send Authorization: Bearer <GATEHOUSE_SERVICE_TOKEN>."
                : "Set GATEHOUSE_SERVICE_TOKEN in gatehouse's environment and give it to the runners.",
            NULL);
        return 0;
    }
    if (!api_id_ok(ctx)) return 0;
    if (!ctx->body) {
        api_invalid(ctx, "body", "Send the trace as a JSON object.");
        return 0;
    }
    return 1;
}

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80) n++;
    return n;
}

static int printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) return 0;
    return 1;
}

/* Required string of 1..max characters; codes are restricted to [A-Za-z0-9_.:-]. NULL after replying. */
static const char *text_field(struct http_ctx *ctx, const char *name, size_t max, int code)
{
    json_t *v = json_object_get(ctx->body, name);
    const char *s = json_string_value(v);
    char reason[200];
    size_t n = s ? utf8_chars(s) : 0;
    int ok =
        s && n >= 1 && n <= max &&
        (code ? strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-") == strlen(s)
              : (strcmp(name, "reason_human") == 0 || printable(s)));
    if (ok) return s;
    snprintf(reason, sizeof reason, "Field '%s' must be a string of 1 to %zu characters%s.", name, max,
             code ? " of A-Z, a-z, 0-9, '_', '.', ':' and '-'" : "");
    api_invalid(ctx, name, reason);
    return NULL;
}

/* Optional object (default {}), compact JSON text (malloc'd); NULL after replying. */
static char *object_field(struct http_ctx *ctx, const char *name)
{
    json_t *v = json_object_get(ctx->body, name);
    char field[256], reason[160];
    if (!v) return strdup("{}");
    snprintf(field, sizeof field, "%s", name);
    if (!json_is_object(v)) {
        snprintf(reason, sizeof reason, "Field '%s' must be a JSON object.", name);
        api_invalid(ctx, name, reason);
        return NULL;
    }
    if (!api_numbers_ok(v, field, sizeof field)) {
        snprintf(reason, sizeof reason, "Numbers in '%s' must lie within +/-1e18.", name);
        api_invalid(ctx, field, reason);
        return NULL;
    }
    return json_dumps(v, JSON_COMPACT);
}

/* Optional trace id (default: the request's), lower-cased into out. 0, or -1 after replying. */
static int trace_id_field(struct http_ctx *ctx, char out[33])
{
    json_t *v = json_object_get(ctx->body, "trace_id");
    const char *s = json_string_value(v);
    if (!v || json_is_null(v)) {
        memcpy(out, ctx->trace_id, 33);
        return 0;
    }
    if (!s || strlen(s) != 32 || strspn(s, "0123456789abcdefABCDEF") != 32 || strspn(s, "0") == 32) {
        api_invalid(ctx, "trace_id",
                    "Field 'trace_id' must be 32 hex characters (a W3C trace id, not all zeros).");
        return -1;
    }
    for (int i = 0; i < 32; i++)
        out[i] = (char)tolower((unsigned char)s[i]);
    out[32] = '\0';
    return 0;
}

/* Optional UUID or null. 0 with *out (NULL when absent), or -1 after replying. */
static int uuid_field(struct http_ctx *ctx, const char *name, const char **out)
{
    json_t *v = json_object_get(ctx->body, name);
    char reason[120];
    *out = NULL;
    if (!v || json_is_null(v)) return 0;
    if (json_is_string(v) && id_is_uuid(json_string_value(v))) {
        *out = json_string_value(v);
        return 0;
    }
    snprintf(reason, sizeof reason, "Field '%s' must be a UUID or null.", name);
    api_invalid(ctx, name, reason);
    return -1;
}

/* Optional number or null, within [lo, hi]. 0 with out ("" for NULL), or -1 after replying. */
static int number_field(struct http_ctx *ctx, const char *name, double lo, double hi, const char *range,
                        char *out, size_t outlen)
{
    json_t *v = json_object_get(ctx->body, name);
    char reason[120];
    out[0] = '\0';
    if (!v || json_is_null(v)) return 0;
    if (json_is_number(v) && json_number_value(v) >= lo && json_number_value(v) <= hi) {
        snprintf(out, outlen, "%.17g", json_number_value(v));
        return 0;
    }
    snprintf(reason, sizeof reason, "Field '%s' must be %s.", name, range);
    api_invalid(ctx, name, reason);
    return -1;
}

/* ---- POST: insert ---- */

static void on_created(struct pg_result *res, const char *err, void *arg)
{
    struct http_ctx *ctx = arg;
    if (!res) {
        api_reply_db_error(ctx, err, "trace insert");
        return;
    }
    if (PQntuples(res) != 1 || PQgetvalue(res, 0, 0)[0] != 't') {
        api_bot_not_found(ctx);
        return;
    }
    if (PQgetvalue(res, 0, 1)[0] != 't') {
        api_invalid(ctx, "order_id", "Field 'order_id' does not name an order of this bot.");
        return;
    }
    json_t *trace = PQgetisnull(res, 0, 2) ? NULL : api_decode(PQgetvalue(res, 0, 2));
    if (!trace) {
        http_reply_error(ctx, 500, "INTERNAL", "The new trace could not be read back.",
                         "Report the trace id.", NULL);
        return;
    }
    http_reply_json(ctx, 201, json_pack("{s:o}", "trace", trace));
}

static const char *const DECISION_TYPES[] = {"ENTRY", "EXIT", "ADJUST", NULL};

void api_traces_decision_create(struct http_ctx *ctx)
{
    const char *type, *reason_human, *reason_code, *order_id, *trade_log_id;
    char *signals = NULL, *vars = NULL, *risk = NULL, trace_id[33], confidence[40], ev[40];
    json_t *t;
    int ok = 0;
    if (!post_preamble(ctx)) return;
    t = json_object_get(ctx->body, "decision_type");
    type = json_string_value(t);
    for (const char *const *d = DECISION_TYPES; type && *d; d++)
        ok |= strcmp(type, *d) == 0;
    if (!ok) {
        api_invalid(ctx, "decision_type", "Field 'decision_type' must be ENTRY, EXIT or ADJUST.");
        return;
    }
    if (!(reason_human = text_field(ctx, "reason_human", MAX_REASON_CHARS, 0))) return;
    if (!(reason_code = text_field(ctx, "reason_code", MAX_CODE_CHARS, 1))) return;
    if (!(signals = object_field(ctx, "signals"))) goto out;
    if (!(vars = object_field(ctx, "variables_snapshot"))) goto out;
    if (number_field(ctx, "confidence", 0.0, 1.0, "a number from 0 to 1, or null", confidence,
                     sizeof confidence) < 0)
        goto out;
    if (number_field(ctx, "expected_value", -1e300, 1e300, "a number or null", ev, sizeof ev) < 0) goto out;
    if (!(risk = object_field(ctx, "risk_snapshot"))) goto out;
    if (trace_id_field(ctx, trace_id) < 0) goto out;
    if (uuid_field(ctx, "order_id", &order_id) < 0) goto out;
    if (uuid_field(ctx, "trade_log_id", &trade_log_id) < 0) goto out;
    {
        const char *params[12] = {ctx->params[0],
                                  type,
                                  reason_human,
                                  reason_code,
                                  signals,
                                  vars,
                                  confidence[0] ? confidence : NULL,
                                  ev[0] ? ev : NULL,
                                  risk,
                                  trace_id,
                                  order_id,
                                  trade_log_id};
        if (db_query(
                "WITH b AS (SELECT id FROM bots WHERE id = $1::uuid),"
                " o AS (SELECT ($11::uuid IS NULL OR EXISTS (SELECT 1 FROM orders"
                "        WHERE id = $11::uuid AND bot_id = $1::uuid)) AS ok),"
                " ins AS (INSERT INTO decision_traces AS t (bot_id, decision_type, reason_human, reason_code,"
                "          signals, variables_snapshot, confidence, expected_value, risk_snapshot, trace_id,"
                "          order_id, trade_log_id)"
                "        SELECT b.id, $2, $3, $4, $5::jsonb, $6::jsonb, $7::float8, $8::float8, $9::jsonb, $10,"
                "          $11::uuid, $12::uuid FROM b, o WHERE o.ok"
                "        RETURNING " DECISION_JSON "::text AS j)"
                " SELECT EXISTS (SELECT 1 FROM b), (SELECT ok FROM o), (SELECT j FROM ins)",
                12, params, DB_TIMEOUT_MS, on_created, ctx) < 0)
            api_reply_db_error(ctx, NULL, "trace insert");
    }
out:
    free(signals);
    free(vars);
    free(risk);
}

void api_traces_no_trade_create(struct http_ctx *ctx)
{
    const char *stype, *sdecision, *reason_human, *reason_code;
    char *blocked = NULL, *signals = NULL, *vars = NULL, trace_id[33];
    json_t *b, *x;
    size_t i;
    if (!post_preamble(ctx)) return;
    if (!(stype = text_field(ctx, "suppression_type", MAX_CODE_CHARS, 0))) return;
    if (!(sdecision = text_field(ctx, "suppression_decision", MAX_CODE_CHARS, 0))) return;
    if (!(reason_human = text_field(ctx, "reason_human", MAX_REASON_CHARS, 0))) return;
    if (!(reason_code = text_field(ctx, "reason_code", MAX_CODE_CHARS, 1))) return;
    b = json_object_get(ctx->body, "blocked_by");
    if (b && (!json_is_array(b) || json_array_size(b) > MAX_BLOCKED_BY)) {
        api_invalid(ctx, "blocked_by",
                    "Field 'blocked_by' must be an array of at most 64 strings (the gates that blocked).");
        return;
    }
    json_array_foreach(b, i, x)
    {
        const char *s = json_string_value(x);
        if (!s || !*s || utf8_chars(s) > 128 || !printable(s)) {
            char field[40];
            snprintf(field, sizeof field, "blocked_by[%zu]", i);
            api_invalid(ctx, field, "Each 'blocked_by' entry must be a string of 1 to 128 characters.");
            return;
        }
    }
    blocked = b ? json_dumps(b, JSON_COMPACT) : strdup("[]");
    if (!(signals = object_field(ctx, "signals"))) goto out;
    if (!(vars = object_field(ctx, "variables_snapshot"))) goto out;
    if (trace_id_field(ctx, trace_id) < 0) goto out;
    {
        const char *params[9] = {ctx->params[0], stype,   sdecision, reason_human, reason_code,
                                 blocked,        signals, vars,      trace_id};
        if (db_query(
                "WITH b AS (SELECT id FROM bots WHERE id = $1::uuid),"
                " ins AS (INSERT INTO no_trade_traces AS t (bot_id, suppression_type, suppression_decision,"
                "          reason_human, reason_code, blocked_by, signals, variables_snapshot, trace_id)"
                "        SELECT b.id, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8::jsonb, $9 FROM b"
                "        RETURNING " NO_TRADE_JSON "::text AS j)"
                " SELECT EXISTS (SELECT 1 FROM b), true, (SELECT j FROM ins)",
                9, params, DB_TIMEOUT_MS, on_created, ctx) < 0)
            api_reply_db_error(ctx, NULL, "trace insert");
    }
out:
    free(blocked);
    free(signals);
    free(vars);
}
