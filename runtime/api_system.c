/* api_system.c — /healthz, /readyz, /api/policy/reload. */
#include "api_system.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alerts.h"
#include "api.h"
#include "integrations.h"
#include "body_cache.h"
#include "clock.h"
#include "config.h"
#include "db.h"
#include "http.h"
#include "id.h"
#include "markets.h"
#include "metrics.h"
#include "policy.h"
#include "providers.h"
#include "fleet.h"
#include "scheduler.h"
#include "status.h"
#include "telemetry.h"

void api_system_healthz(struct http_ctx *ctx)
{
    http_reply_json(ctx, 200, json_pack("{s:s}", "status", "ok"));
}

/* Which clock the runtime reads (clock.h): "system", or "test" with the setting and the offset. A test clock
 * is shown on /readyz and /api/system/status so it can never pass unnoticed. */
static json_t *clock_json(void)
{
    if (!clock_is_test()) return json_pack("{s:s}", "source", "system");
    return json_pack(
        "{s:s, s:s, s:I, s:s}", "source", "test", "setting", clock_test_setting(), "offset_ms",
        (json_int_t)clock_offset_ms(), "reason_human",
        "GATEHOUSE_TEST_CLOCK is set: the runtime's clock is shifted for tests (refused unless every "
        "configured provider is a loopback simulator).");
}

/* The database error for public responses: only what failed ("connect", "query", "ping"), never libpq's text
 * (it names the socket path, host and port); the full text is in the log. "" when there is none. */
static const char *public_db_error(char *out, size_t outlen)
{
    const char *e = db_last_error();
    size_t n = strcspn(e, ":");
    if (!e[0]) return "";
    snprintf(out, outlen, "%.*s failed (details in the server log)", (int)(n > 16 ? 16 : n), e);
    return out;
}

void api_system_readyz(struct http_ctx *ctx)
{
    int db_ok = db_reachable(), policy_ok = policy_current() != NULL;
    int ready = db_ok && policy_ok;
    char pub[64];
    const char *db_err = public_db_error(pub, sizeof pub);
    json_t *body =
        json_pack("{s:b, s:b, s:{s:b, s:s, s:o, s:o}, s:o}", "success", ready, "ready", ready, "db",
                  "reachable", db_ok, "state", db_state(), "last_ok_at", clock_json_time(db_last_ok_at()),
                  "error", db_err[0] ? json_string(db_err) : json_null(), "policy", policy_status_json());
    json_object_set_new(body, "clock", clock_json());
    json_object_set_new(body, "now", clock_json_time(clock_wall_s()));
    if (!ready) {
        json_object_set_new(body, "error_code", json_string(db_ok ? "POLICY_ERROR" : "DB_UNAVAILABLE"));
        json_object_set_new(body, "reason_human",
                            json_string(db_ok ? "No policy generation is loaded."
                                        : db_state_known()
                                            ? "Postgres is not reachable."
                                            : "Postgres has not answered its first ping yet."));
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

/* ---- GET /api/system/status ---- */

static json_t *integration_view(const struct provider_def *p)
{
    struct provider_facts f;
    integrations_facts(p, cfg.verify_ttl_s, &f);
    json_t *o = json_pack("{s:s, s:b, s:s, s:b, s:o, s:o, s:o, s:o, s:o}", "name", p->id, "connected",
                          f.connected, "status", f.status, "required_for_autonomy", p->required_for_autonomy,
                          "last_probe_at", clock_json_time(f.vst.has_result ? f.vst.verified_at : 0),
                          "last_ok_at", clock_json_time(f.vst.last_ok_at), "latency_ms",
                          f.vst.has_result ? json_integer(f.vst.latency_ms) : json_null(), "reason_code",
                          f.vst.has_result ? json_string(f.vst.outcome)
                          : f.error_code   ? json_string(f.error_code)
                                           : json_null(),
                          "reason_human", f.vst.has_result ? json_string(f.vst.reason_human) : json_null());
    if (!f.configured && !f.vst.has_result)
        json_object_set_new(o, "reason_human",
                            json_string("Not configured: required environment variables are missing."));
    json_decref(f.missing);
    return o;
}

/* The scheduler's health judged with gates.lua's own thresholds (its `thresholds` table is their single
 * owner, so scheduler.loop_health agrees with the HEARTBEAT_TIMEOUT blockers): STALLED past scheduler_stale_s
 * without a tick (its SEV-1), LATE above loop_lag_warn_ms of lag (its SEV-2). UNKNOWN when no gates.lua
 * thresholds load. */
static const char *loop_health(const struct scheduler_status *s)
{
    struct policy_gen *g = policy_current();
    double stale_s, lag_warn_ms;
    if (!s->active) return "STOPPED";
    if (policy_module_number(g, "gates.lua", "thresholds.scheduler_stale_s", &stale_s) < 0 ||
        policy_module_number(g, "gates.lua", "thresholds.loop_lag_warn_ms", &lag_warn_ms) < 0)
        return "UNKNOWN";
    if (!s->last_tick_at || (double)(clock_wall_s() - s->last_tick_at) > stale_s) return "STALLED";
    return s->loop_lag_ms > lag_warn_ms ? "LATE" : "OK";
}

/* gates.lua speaks epoch seconds and drops nil keys; the API speaks RFC 3339 and names every field. */
static void live_entry_view(json_t *entry)
{
    static const char *times[] = {"last_verified_at", "last_used_at"};
    for (size_t i = 0; json_is_object(entry) && i < sizeof times / sizeof *times; i++) {
        json_t *t = json_object_get(entry, times[i]);
        json_object_set_new(entry, times[i],
                            json_is_number(t) ? clock_json_time((time_t)json_number_value(t)) : json_null());
    }
}

/* Normalises the live stack of the decision for the API: every category present (a fail-closed decision, made
 * when gates.lua did not evaluate, has none: primary null, no backups), times RFC 3339, infra always named
 * with at least db and redis (the top-level infra block repeats them). */
static void live_stack_view(json_t *live, const char *redis)
{
    static const char *cats[][2] = {
        {"marketData", "backups"}, {"execution", "backups"}, {"llm", "fallbacks"}};
    for (size_t i = 0; i < sizeof cats / sizeof *cats; i++) {
        json_t *cat = json_object_get(live, cats[i][0]), *entry;
        size_t j;
        if (!json_is_object(cat)) {
            cat = json_object();
            json_object_set_new(live, cats[i][0], cat);
        }
        if (!json_object_get(cat, "primary")) json_object_set_new(cat, "primary", json_null());
        live_entry_view(json_object_get(cat, "primary"));
        if (!json_is_array(json_object_get(cat, cats[i][1])))
            json_object_set_new(cat, cats[i][1], json_array());
        json_array_foreach(json_object_get(cat, cats[i][1]), j, entry) live_entry_view(entry);
    }
    json_t *infra = json_object_get(live, "infra");
    if (!json_is_object(infra)) { /* no gates.lua verdict: the queue is not known to work */
        infra = json_pack("{s:s}", "queue", "DEGRADED");
        json_object_set_new(live, "infra", infra);
    }
    if (!json_is_string(json_object_get(infra, "db")))
        json_object_set_new(infra, "db", json_string(db_reachable() ? "OK" : "BLOCKED"));
    if (!json_is_string(json_object_get(infra, "redis")))
        json_object_set_new(infra, "redis", json_string(redis));
}

/* Counters that are not versioned (telemetry queue and totals, alert and policy-reload counters) may lag the
 * body by at most this much; everything else is part of the key. */
#define SYSTEM_STATUS_MAX_AGE_MS 100

static struct body_cache system_cache;

void api_system_status(struct http_ctx *ctx)
{
    const json_t *d = status_decision(), *facts = status_db_facts();
    const struct provider_registry *reg = policy_providers(policy_current());
    struct scheduler_status sch;
    scheduler_status(&sch);
    uint64_t key =
        body_cache_mix(body_cache_mix(integrations_state_key(), status_version()), markets_version());
    key = body_cache_mix(body_cache_mix(key, (uint64_t)sch.active), (uint64_t)sch.leader);
    key = body_cache_mix(body_cache_mix(key, (uint64_t)sch.last_tick_at), (uint64_t)sch.loop_lag_ms);
    struct fleet_status fl;
    fleet_status(&fl);
    key = body_cache_mix(body_cache_mix(key, (uint64_t)fl.owned_shards), (uint64_t)fl.owned_bots);
    if (body_cache_fresh(&system_cache, key, SYSTEM_STATUS_MAX_AGE_MS)) {
        http_reply_cached(ctx, 200, &system_cache);
        return;
    }
    json_t *integrations = json_array(), *blockers = json_deep_copy(json_object_get(d, "blockers"));
    json_t *live = json_deep_copy(json_object_get(d, "live_stack"));
    const char *st = json_string_value(json_object_get(d, "system_status"));
    int allowed = json_is_true(json_object_get(d, "autonomy_allowed"));

    if (!json_is_object(live)) {
        json_decref(live);
        live = json_object();
    }
    for (size_t i = 0; reg && i < reg->count; i++)
        json_array_append_new(integrations, integration_view(&reg->providers[i]));
    json_object_set_new(
        live, "autonomyGates",
        json_pack("{s:s, s:b, s:O}", "system_status", st, "autonomy_allowed", allowed, "blockers", blockers));
    const char *redis = json_string_value(
        json_object_get(json_object_get(json_object_get(d, "live_stack"), "infra"), "redis"));
    live_stack_view(live, redis ? redis : "NOT_CONFIGURED");
    /* the top-level infra repeats gates.lua's live_stack.infra verdict (one source), plus the scheduler */
    json_t *infra = json_object_get(live, "infra");
    json_t *body = json_pack(
        "{s:o, s:s, s:b, s:O, s:o, s:o, s:{s:s, s:O}, s:{s:O}, s:{s:b, s:b, s:o, s:s, s:i, s:s, s:O}, "
        "s:{s:O, s:O, s:s}, s:o, s:O, s:o, s:o, s:O, s:O}",
        "ts", clock_json_time(clock_wall_s()), "system_status", st, "autonomy_allowed", allowed, "blockers",
        blockers, "integrations", integrations, "live_stack", live, "autonomy", "global_status", st,
        "blockers", blockers, "bots", "byAutonomyTier", json_object_get(facts, "tiers"), "scheduler",
        "active", sch.active, "leader", sch.leader, "last_tick_at", clock_json_time(sch.last_tick_at),
        "loop_health", loop_health(&sch), "loop_lag_ms", sch.loop_lag_ms, "instance_id", sch.instance_id,
        "circuit_breakers", json_object_get(facts, "breakers"), "infra", "db", json_object_get(infra, "db"),
        "redis", json_object_get(infra, "redis"), "scheduler", sch.active ? "OK" : "BLOCKED", "policy",
        policy_status_json(), "trading", json_object_get(facts, "trading"), "telemetry",
        telemetry_status_json(), "alerts", alerts_status_json(), "evaluated_at",
        json_object_get(d, "evaluated_at"), "evaluation_trace_id", json_object_get(d, "trace_id"));
    json_t *sched = json_object_get(body, "scheduler");
    json_object_set_new(sched, "owned_shards", json_integer(fl.owned_shards));
    json_object_set_new(sched, "owned_bots", json_integer(fl.owned_bots));
    json_object_set_new(sched, "alive_instances", json_integer(fl.alive_instances));
    json_object_set_new(body, "clock", clock_json());
    /* when the bots' markets trade: info-level facts, never blockers (markets.h) */
    json_object_set_new(body, "markets",
                        markets_sessions() ? json_deep_copy(markets_sessions()) : json_array());
    json_object_set_new(body, "notices",
                        markets_notices() ? json_deep_copy(markets_notices()) : json_array());
    json_decref(blockers);
    if (body_cache_store(&system_cache, key, json_incref(body)) == 0) {
        json_decref(body);
        http_reply_cached(ctx, 200, &system_cache);
    } else {
        http_reply_json(ctx, 200, body);
    }
}

/* ---- POST /api/gates/check ---- */

void api_system_gates_check(struct http_ctx *ctx)
{
    json_t *stage = ctx->body ? json_object_get(ctx->body, "stage") : NULL;
    json_t *ai = ctx->body ? json_object_get(ctx->body, "requires_ai") : NULL;
    json_t *bot = ctx->body ? json_object_get(ctx->body, "bot_id") : NULL;
    if (!json_is_string(stage)) {
        http_reply_error(ctx, 400, "VALIDATION_FAILED", "Field 'stage' must be PAPER, SHADOW or LIVE.", NULL,
                         json_pack("{s:s}", "field", "stage"));
        return;
    }
    if (ai && !json_is_boolean(ai)) {
        http_reply_error(ctx, 400, "VALIDATION_FAILED", "Field 'requires_ai' must be a boolean.", NULL,
                         json_pack("{s:s}", "field", "requires_ai"));
        return;
    }
    if (bot && !json_is_null(bot) && !(json_is_string(bot) && id_is_uuid(json_string_value(bot)))) {
        http_reply_error(ctx, 400, "VALIDATION_FAILED", "Field 'bot_id' must be a UUID.", NULL,
                         json_pack("{s:s}", "field", "bot_id"));
        return;
    }
    json_t *req = json_pack("{s:O, s:b}", "stage", stage, "requires_ai", json_is_true(ai));
    if (json_is_string(bot)) json_object_set(req, "bot_id", bot);
    json_t *answer = status_safe_start(req, ctx->trace_id);
    json_object_set_new(answer, "stage", json_copy(stage));
    json_object_set_new(answer, "requires_ai", json_boolean(json_is_true(ai)));
    json_decref(req);
    http_reply_json(ctx, 200, answer);
}

/* ---- GET /api/system/events ---- */

static void on_system_events(struct pg_result *res, const char *err, void *arg)
{
    struct http_ctx *ctx = arg;
    json_t *events = json_array();
    if (!res) {
        json_decref(events);
        http_reply_error(ctx, 503, "DB_UNAVAILABLE", "System events could not be read from Postgres.",
                         "Check that the database is reachable (see /readyz).", NULL);
        return;
    }
    const char *lim = http_query(ctx, "limit");
    int limit = lim ? atoi(lim) : 50, n = PQntuples(res);
    for (int i = 0; i < n && i < limit; i++) {
        json_t *meta = json_loads(PQgetvalue(res, i, 7), 0, NULL);
        json_array_append_new(
            events, json_pack("{s:I, s:s, s:s, s:s, s:o, s:s, s:s, s:o}", "id",
                              (json_int_t)atoll(PQgetvalue(res, i, 0)), "created_at", PQgetvalue(res, i, 1),
                              "kind", PQgetvalue(res, i, 2), "severity", PQgetvalue(res, i, 3), "subject",
                              PQgetisnull(res, i, 4) ? json_null() : json_string(PQgetvalue(res, i, 4)),
                              "message", PQgetvalue(res, i, 5), "trace_id", PQgetvalue(res, i, 6), "metadata",
                              meta ? meta : json_object()));
    }
    json_t *next = n > limit ? json_sprintf("%s", PQgetvalue(res, limit - 1, 0)) : json_null();
    http_reply_json(ctx, 200, json_pack("{s:o, s:o}", "events", events, "next_cursor", next));
}

void api_system_events(struct http_ctx *ctx)
{
    const char *since = http_query(ctx, "since"), *kind = http_query(ctx, "kind"),
               *lim = http_query(ctx, "limit");
    const char *cursor = http_query(ctx, "cursor");
    char *end = NULL, plus_one[24];
    long limit = lim ? strtol(lim, &end, 10) : 50;
    if (lim && (*end || limit < 1 || limit > 500)) {
        http_reply_error(ctx, 400, "VALIDATION_FAILED", "limit must be an integer from 1 to 500.", NULL,
                         json_pack("{s:s}", "field", "limit"));
        return;
    }
    char since_norm[48];
    if (since && !api_rfc3339(since, since_norm, sizeof since_norm)) { /* checked here, never by Postgres */
        http_reply_error(
            ctx, 400, "VALIDATION_FAILED",
            "since must be an RFC 3339 timestamp such as 2026-12-01T10:00:00Z (a real date and time).", NULL,
            json_pack("{s:s}", "field", "since"));
        return;
    }
    if (since) since = since_norm;
    if (kind && (strlen(kind) > 64 || strspn(kind, "abcdefghijklmnopqrstuvwxyz_.") != strlen(kind))) {
        http_reply_error(ctx, 400, "VALIDATION_FAILED",
                         "kind must be an event kind such as verify or failover.", NULL,
                         json_pack("{s:s}", "field", "kind"));
        return;
    }
    if (cursor && (strlen(cursor) > 19 || strspn(cursor, "0123456789") != strlen(cursor) || !*cursor)) {
        http_reply_error(ctx, 400, "VALIDATION_FAILED",
                         "cursor is not a next_cursor value from this endpoint.", NULL,
                         json_pack("{s:s}", "field", "cursor"));
        return;
    }
    snprintf(plus_one, sizeof plus_one, "%ld", limit + 1);
    const char *params[4] = {since, kind, plus_one, cursor};
    if (db_query(
            "SELECT id, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), kind, severity, "
            "subject, message, trace_id, metadata::text FROM system_events "
            "WHERE ($1::timestamptz IS NULL OR created_at >= $1::timestamptz) "
            "AND ($2::text IS NULL OR kind = $2 OR kind LIKE $2 || '.%') "
            "AND ($4::bigint IS NULL OR id < $4::bigint) ORDER BY id DESC LIMIT $3::int",
            4, params, 3000, on_system_events, ctx) < 0)
        http_reply_error(ctx, 503, "DB_UNAVAILABLE", "The database queue is full or stopped.", NULL, NULL);
}

/* ---- POST /api/policy/dry-run ---- */

static int is_policy_name(const char *name)
{
    size_t n = strlen(name);
    if (strcmp(name, "providers.lua") == 0 || strcmp(name, "gates.lua") == 0) return 1;
    return n > 12 && n < 128 && strncmp(name, "scripts/", 8) == 0 && strcmp(name + n - 4, ".lua") == 0 &&
           !strstr(name, "..") && strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_./") == n;
}

static json_t *decision_changes(const json_t *cur, const json_t *cand)
{
    static const char *cats[] = {"marketData", "execution", "llm"};
    json_t *changes = json_object();
    const char *a = json_string_value(json_object_get(cur, "system_status"));
    const char *b = json_string_value(json_object_get(cand, "system_status"));
    if (a && b && strcmp(a, b))
        json_object_set_new(changes, "system_status", json_pack("{s:s, s:s}", "from", a, "to", b));
    for (int i = 0; i < 3; i++) {
        json_t *pa = json_object_get(
            json_object_get(json_object_get(json_object_get(cur, "live_stack"), cats[i]), "primary"),
            "providerId");
        json_t *pb = json_object_get(
            json_object_get(json_object_get(json_object_get(cand, "live_stack"), cats[i]), "primary"),
            "providerId");
        if (!json_equal(pa ? pa : json_null(), pb ? pb : json_null()))
            json_object_set_new(
                changes, cats[i],
                json_pack("{s:O, s:O}", "from", pa ? pa : json_null(), "to", pb ? pb : json_null()));
    }
    return changes;
}

void api_system_policy_dry_run(struct http_ctx *ctx)
{
    json_t *files = ctx->body ? json_object_get(ctx->body, "files") : NULL, *v;
    struct policy_override ov[16];
    size_t n = 0;
    const char *name;
    char err[2048];
    if (!json_is_object(files) || json_object_size(files) == 0 || json_object_size(files) > 16) {
        http_reply_error(
            ctx, 400, "VALIDATION_FAILED",
            "Field 'files' must map policy file names to candidate source text, e.g. {\"gates.lua\": \"...\"}.",
            NULL, json_pack("{s:s}", "field", "files"));
        return;
    }
    json_object_foreach(files, name, v)
    {
        if (!is_policy_name(name) || !json_is_string(v)) {
            char field[160];
            snprintf(field, sizeof field, "files.%.120s", name);
            http_reply_error(
                ctx, 400, "VALIDATION_FAILED",
                "Each entry must be providers.lua, gates.lua or scripts/<name>.lua with string content.",
                NULL, json_pack("{s:s}", "field", field));
            return;
        }
        ov[n].name = name;
        ov[n++].text = json_string_value(v);
    }
    json_t *current = json_deep_copy(status_decision());
    struct policy_gen *cand = policy_build_candidate(ov, n, err, sizeof err);
    if (!cand) {
        http_reply_json(ctx, 200,
                        json_pack("{s:b, s:b, s:s, s:s, s:o}", "success", 0, "valid", 0, "error_code",
                                  "POLICY_ERROR", "error", err, "current", current));
        return;
    }
    json_t *candidate = status_evaluate_with(cand, ctx->trace_id, err, sizeof err);
    json_t *changes = decision_changes(current, candidate);
    json_t *body =
        json_pack("{s:b, s:s, s:o, s:o, s:o}", "valid", 1, "candidate_version", policy_version_of(cand),
                  "current", current, "candidate", candidate, "changes", changes);
    policy_release(cand);
    http_reply_json(ctx, 200, body);
}

/* ---- GET /metrics ---- */

void api_system_metrics(struct http_ctx *ctx)
{
    size_t len = 0;
    char *text = metrics_render(&len);
    http_reply_raw(ctx, 200, "text/plain; version=0.0.4; charset=utf-8", text ? text : "", text ? len : 0);
    free(text);
}

/* The OpenAPI document is read once and kept: it describes this binary's routes, so a later edit of the
 * file on disk (without a restart) would describe routes the process does not serve. */
static char *openapi_text;
static size_t openapi_len;

static int openapi_load(void)
{
    char path[4096];
    config_path("docs/openapi.json", path, sizeof path);
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    char chunk[16384];
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (len + n > cap) {
            cap = (len + n) * 2;
            char *grown = realloc(buf, cap);
            if (!grown) {
                free(buf);
                fclose(f);
                return -1;
            }
            buf = grown;
        }
        memcpy(buf + len, chunk, n);
        len += n;
    }
    fclose(f);
    openapi_text = buf;
    openapi_len = len;
    return 0;
}

void api_system_openapi(struct http_ctx *ctx)
{
    if (!openapi_text && openapi_load() < 0) {
        http_reply_error(ctx, 404, "NOT_FOUND", "docs/openapi.json is not installed beside the policies.",
                         "Serve gatehouse from a checkout (GATEHOUSE_HOME) that contains docs/openapi.json.",
                         NULL);
        return;
    }
    http_reply_raw(ctx, 200, "application/json", openapi_text, openapi_len);
}

void api_system_free(void)
{
    body_cache_clear(&system_cache);
    free(openapi_text);
    openapi_text = NULL;
    openapi_len = 0;
}
