/* api_integrations.c — GET /api/integrations/status. */
#include "api_integrations.h"
#include "integrations.h"

#include <stdlib.h>
#include <string.h>

#include "body_cache.h"
#include "clock.h"
#include "config.h"
#include "usage_stats.h"
#include <libpq-fe.h>
#include "telemetry.h"
#include "verify.h"
#include <time.h>
#include "db.h"
#include "http.h"
#include "id.h"
#include "policy.h"
#include "providers.h"
#include "secret.h"

static json_t *string_array(const char **list, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_string(list[i]));
    return arr;
}

static void add_masks(json_t *masked, const char **vars, size_t n)
{
    char hint[64];
    for (size_t i = 0; i < n; i++)
        if (secret_present(vars[i]) && secret_mask(vars[i], hint, sizeof hint) == 0)
            json_object_set_new(masked, vars[i], json_string(hint));
}

/* Host in use: the base URL's host, or for URL-valued credentials (Redis, Discord) the host of that URL. */
static json_t *base_url_host(const struct provider_def *p, int *overridden)
{
    char host[256];
    const char *url = providers_base_url(p, overridden);
    if (!url && p->n_required == 1 && strstr(p->required_env[0], "URL"))
        url = secret_value(p->required_env[0]);
    providers_url_host(url, host, sizeof host);
    return host[0] ? json_string(host) : json_null();
}

static json_t *int_or_null(int v)
{
    return v < 0 ? json_null() : json_integer(v);
}

static json_t *str_or_null(const char *s)
{
    return s && *s ? json_string(s) : json_null();
}

json_t *api_integrations_provider_json(const struct provider_def *p, int default_ttl_s)
{
    struct provider_facts f;
    integrations_facts(p, default_ttl_s, &f);
    json_t *missing = f.missing, *masked = json_object();
    int configured = f.configured, connected = f.connected, overridden = 0, ttl = f.ttl_s;
    struct verify_status vst = f.vst;
    struct provider_usage use = f.use;
    const char *state = f.state, *status = f.status, *error_code = f.error_code;
    char *fix, *setup = providers_expand(p, p->setup_instructions, missing);
    json_t *host = base_url_host(p, &overridden);

    fix = !configured  ? providers_expand(p, p->suggested_fix, missing)
          : error_code ? strdup(vst.reason_human)
                       : NULL;
    add_masks(masked, p->required_env, p->n_required);
    add_masks(masked, p->optional_env, p->n_optional);
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:o, s:b, s:b, s:b, s:b, s:s, s:s, s:b, s:b, s:o, s:o, s:o, s:o, s:o, s:b, s:o, s:i}",
        "id", p->id, "label", p->label, "category", p->category, "role", str_or_null(p->role), "configured",
        configured, "verified", vst.has_result && strcmp(vst.outcome, "OK") == 0, "connected", connected,
        "in_use", use.count_24h > 0, "state", state, "status", status, "required_for_autonomy",
        p->required_for_autonomy, "supports_verify", p->supports_verify, "required_env_vars",
        string_array(p->required_env, p->n_required), "optional_env_vars",
        string_array(p->optional_env, p->n_optional), "missing_env_vars", missing, "masked", masked,
        "base_url_host", host, "base_url_overridden", overridden, "last_verified_at",
        clock_json_time(vst.has_result ? vst.verified_at : 0), "verify_ttl_s", ttl);
    json_t *rest = json_pack(
        "{s:o, s:o, s:o, s:o, s:o, s:I, s:o, s:o, s:{s:o, s:o, s:o}, s:o, s:o, s:o, s:s, s:o, s:b, s:o}",
        "last_ok_at", clock_json_time(vst.last_ok_at), "last_verify_outcome",
        str_or_null(vst.has_result ? vst.outcome : NULL), "last_used_at", clock_json_time(use.last_used_at),
        "last_used_by_bot_id", str_or_null(use.last_used_by_bot_id), "last_feature_used",
        str_or_null(use.last_feature_used), "proof_of_use_count_24h", (json_int_t)use.count_24h,
        "last_error_code", str_or_null(use.last_error_code), "last_error_code_24h",
        str_or_null(use.last_error_code_24h), "latency_ms", "last", int_or_null(use.latency_last_ms), "p50",
        int_or_null(use.latency_p50_ms), "p95", int_or_null(use.latency_p95_ms), "verify_latency_ms",
        vst.has_result ? json_integer(vst.latency_ms) : json_null(), "error_code", str_or_null(error_code),
        "suggested_fix", str_or_null(fix), "setup_instructions", setup, "docs_url", str_or_null(p->docs_url),
        "verify_running", vst.running, "last_trace_id", str_or_null(use.last_trace_id));
    json_object_update(o, rest);
    json_decref(rest);
    free(fix);
    free(setup);
    return o;
}

static struct body_cache status_cache;

void api_integrations_status(struct http_ctx *ctx)
{
    const struct provider_registry *reg = policy_providers(policy_current());
    uint64_t key = integrations_state_key();
    json_t *list;
    if (reg && body_cache_fresh(&status_cache, key, 0)) {
        http_reply_cached(ctx, 200, &status_cache);
        return;
    }
    list = json_array();
    if (!reg) {
        json_decref(list);
        http_reply_error(ctx, 503, "POLICY_ERROR", "No provider registry is loaded.",
                         "Fix providers.lua (see /readyz policy.last_reload_error) and reload.", NULL);
        return;
    }
    for (size_t i = 0; i < reg->count; i++)
        json_array_append_new(list, api_integrations_provider_json(&reg->providers[i], cfg.verify_ttl_s));
    /* Postgres is infrastructure, never optional; Supabase is gone and its variables are not needed. */
    json_t *infra = json_pack("{s:{s:s, s:b, s:b, s:b}}", "database", "env_var", "DATABASE_URL", "required",
                              1, "configured", cfg.database_url != NULL, "reachable", db_reachable());
    json_t *not_needed = json_pack(
        "{s:[s,s,s], s:s}", "env_vars", "SUPABASE_URL", "SUPABASE_ANON_KEY", "SUPABASE_SERVICE_ROLE_KEY",
        "reason", "gatehouse does not use Supabase: SUPABASE_* variables are no longer needed.");
    json_t *body = json_pack("{s:o, s:o, s:o, s:o}", "providers", list, "priority", json_copy(reg->priority),
                             "infrastructure", infra, "no_longer_needed", not_needed);
    if (body_cache_store(&status_cache, key, json_incref(body)) == 0) {
        json_decref(body);
        http_reply_cached(ctx, 200, &status_cache);
    } else {
        http_reply_json(ctx, 200, body);
    }
}

/* ---- POST /api/integrations/verify ---- */

struct verify_call {
    struct http_ctx *ctx;
    int pending;
    json_t *results; /* verify-all: one entry per provider */
    char key[64];    /* the cool-down key: a provider id, or "*" for verify-all */
};

/* ---- the cool-down: a requested probe of a provider is not repeated back to back ---- */

#define COOLDOWN_SLOTS 128

static struct {
    char key[64];
    double done_ms; /* when the last requested probe of key completed (clock_now_ms) */
} cooldowns[COOLDOWN_SLOTS];

/* The cool-down entry of key, created (recycling the oldest) when create is set; NULL otherwise. */
static double *cooldown_of(const char *key, int create)
{
    int oldest = 0;
    for (int i = 0; i < COOLDOWN_SLOTS; i++) {
        if (strcmp(cooldowns[i].key, key) == 0) return &cooldowns[i].done_ms;
        if (cooldowns[i].done_ms < cooldowns[oldest].done_ms) oldest = i;
    }
    if (!create) return NULL;
    snprintf(cooldowns[oldest].key, sizeof cooldowns[oldest].key, "%s", key);
    return &cooldowns[oldest].done_ms;
}

static void cooldown_mark(const char *key)
{
    double *d = cooldown_of(key, 1);
    if (d) *d = clock_now_ms();
}

/* Answers 429 RATE_LIMITED and returns 1 when key completed a requested probe less than
 * GATEHOUSE_VERIFY_COOLDOWN_MS ago (a probe still running is joined instead: never refused). */
static int cooldown_refused(struct http_ctx *ctx, const char *key, const char *what)
{
    double *d = cooldown_of(key, 0);
    double left = d && cfg.verify_cooldown_ms > 0 ? *d + cfg.verify_cooldown_ms - clock_now_ms() : 0;
    char reason[300], retry[24];
    if (left <= 0) return 0;
    long retry_s = (long)((left + 999) / 1000);
    snprintf(retry, sizeof retry, "%ld", retry_s);
    snprintf(reason, sizeof reason,
             "%s was verified less than %d ms ago; verify probes are not repeated back to back.", what,
             cfg.verify_cooldown_ms);
    http_add_header(ctx, "Retry-After", retry);
    http_reply_error(ctx, 429, "RATE_LIMITED", reason,
                     "Wait for the time in Retry-After (its last result is in GET /api/integrations/status).",
                     json_pack("{s:s, s:I, s:i}", "provider_id", key, "retry_after_ms", (json_int_t)left,
                               "cooldown_ms", cfg.verify_cooldown_ms));
    return 1;
}

static json_t *result_json(const struct verify_result *r)
{
    json_t *o = json_pack("{s:b, s:s, s:s, s:s, s:s, s:i, s:o}", "success", strcmp(r->outcome, "OK") == 0,
                          "status", r->state, "reason_code", r->outcome, "reason_human", r->reason_human,
                          "provider_id", r->provider_id, "latency_ms", r->latency_ms, "verified_at",
                          clock_json_time(r->verified_at));
    if (r->http_status > 0) json_object_set_new(o, "http_status", json_integer(r->http_status));
    return o;
}

static void on_single_verified(const struct verify_result *r, void *arg)
{
    struct verify_call *call = arg;
    json_t *body = result_json(r);
    if (strcmp(r->trace_id, call->ctx->trace_id) != 0) /* joined a probe another request started */
        json_object_set_new(body, "probe_trace_id", json_string(r->trace_id));
    cooldown_mark(call->key);
    http_reply_json(call->ctx, 200, body);
    free(call);
}

static void on_one_of_all_verified(const struct verify_result *r, void *arg)
{
    struct verify_call *call = arg;
    json_array_append_new(call->results, result_json(r));
    if (--call->pending > 0) return;
    size_t i, ok = 0;
    json_t *v;
    json_array_foreach(call->results, i, v) ok += json_is_true(json_object_get(v, "success"));
    cooldown_mark("*");
    http_reply_json(call->ctx, 200,
                    json_pack("{s:b, s:o, s:I, s:I}", "success", ok == json_array_size(call->results),
                              "results", call->results, "verified",
                              (json_int_t)json_array_size(call->results), "ok", (json_int_t)ok));
    free(call);
}

static void verify_all(struct http_ctx *ctx, const struct provider_registry *reg)
{
    struct verify_call *call = calloc(1, sizeof *call);
    char err[256];
    call->ctx = ctx;
    call->results = json_array();
    call->pending = 1; /* held until every probe has been started */
    for (size_t i = 0; i < reg->count; i++) {
        const struct provider_def *p = &reg->providers[i];
        json_t *missing = providers_missing_env(p);
        if (p->supports_verify && json_array_size(missing) == 0) {
            call->pending++;
            if (verify_start(p->id, ctx->trace_id, http_user_id(ctx), on_one_of_all_verified, call, err,
                             sizeof err) < 0)
                call->pending--;
        }
        json_decref(missing);
    }
    if (--call->pending == 0) {
        http_reply_json(ctx, 200,
                        json_pack("{s:b, s:o, s:i, s:i, s:s}", "success", 0, "results", call->results,
                                  "verified", 0, "ok", 0, "reason_human",
                                  "No configured provider has a verify probe."));
        free(call);
    }
}

void api_integrations_verify(struct http_ctx *ctx)
{
    const struct provider_registry *reg = policy_providers(policy_current());
    json_t *id = ctx->body ? json_object_get(ctx->body, "provider_id") : NULL;
    const struct provider_def *p;
    char err[256], reason[512];
    if (!id && ctx->body) id = json_object_get(ctx->body, "provider");
    if (!reg) {
        http_reply_error(ctx, 503, "POLICY_ERROR", "No provider registry is loaded.",
                         "Fix providers.lua and reload.", NULL);
        return;
    }
    if (ctx->body && json_is_true(json_object_get(ctx->body, "all"))) {
        if (cooldown_refused(ctx, "*", "Every provider")) return;
        verify_all(ctx, reg);
        return;
    }
    if (!json_is_string(id)) {
        http_reply_error(ctx, 400, "VALIDATION_FAILED", "Field 'provider_id' must be a provider id string.",
                         "Send {\"provider_id\": \"databento\"}, or {\"all\": true}.",
                         json_pack("{s:s}", "field", "provider_id"));
        return;
    }
    if (!(p = providers_find(reg, json_string_value(id)))) {
        snprintf(reason, sizeof reason, "'%s' is not a provider of providers.lua.", json_string_value(id));
        http_reply_error(ctx, 404, "UNKNOWN_PROVIDER", reason,
                         "Use an id listed by GET /api/integrations/status.", NULL);
        return;
    }
    json_t *missing = providers_missing_env(p);
    if (json_array_size(missing) > 0) {
        char *fix = providers_expand(p, p->suggested_fix, missing);
        snprintf(reason, sizeof reason, "%s is not configured: required environment variables are missing.",
                 p->label);
        http_reply_error(ctx, 409, "INTEGRATION_KEY_MISSING", reason, fix,
                         json_pack("{s:s, s:o}", "provider_id", p->id, "missing_env_vars", missing));
        free(fix);
        return;
    }
    json_decref(missing);
    struct verify_status vst;
    verify_status_of(p->id, &vst);
    if (!vst.running && cooldown_refused(ctx, p->id, p->label)) return;
    struct verify_call *call = calloc(1, sizeof *call);
    call->ctx = ctx;
    snprintf(call->key, sizeof call->key, "%s", p->id);
    if (verify_start(p->id, ctx->trace_id, http_user_id(ctx), on_single_verified, call, err, sizeof err) <
        0) {
        free(call);
        http_reply_error(ctx, 400, "VALIDATION_FAILED", err, NULL,
                         json_pack("{s:s}", "field", "provider_id"));
    }
}

/* ---- GET /api/integrations/:id/events ---- */

static int valid_cursor(const char *c, char *ts, size_t tslen, char *uuid, size_t uuidlen)
{
    const char *sep = c ? strrchr(c, '_') : NULL;
    size_t n = sep ? (size_t)(sep - c) : 0;
    if (!sep || n == 0 || n >= tslen || strspn(c, "0123456789-:.TZ") != n || !id_is_uuid(sep + 1)) return 0;
    memcpy(ts, c, n);
    ts[n] = '\0';
    snprintf(uuid, uuidlen, "%s", sep + 1);
    return 1;
}

static void on_events(struct pg_result *res, const char *err, void *arg)
{
    struct http_ctx *ctx = arg;
    json_t *events = json_array();
    static const char *cols[] = {"id",        "created_at", "bot_id",     "run_id",  "job_id",
                                 "operation", "status",     "latency_ms", "symbol",  "timeframe",
                                 "records",   "error_code", "trace_id",   "metadata"};
    if (!res) {
        json_decref(events);
        http_reply_error(ctx, 503, "DB_UNAVAILABLE", "The usage events could not be read from Postgres.",
                         "Check that the database is reachable (see /readyz).", NULL);
        return;
    }
    int n = PQntuples(res), limit = atoi(http_query(ctx, "limit") ? http_query(ctx, "limit") : "50");
    for (int i = 0; i < n && i < (limit > 0 ? limit : 50); i++) {
        json_t *row = json_object();
        for (int c = 0; c < 14; c++) {
            json_t *v = json_null();
            if (!PQgetisnull(res, i, c)) {
                const char *s = PQgetvalue(res, i, c);
                if (c == 7 || c == 10)
                    v = json_integer(atoll(s));
                else if (c == 13)
                    v = json_loads(s, 0, NULL);
                else
                    v = json_string(s);
            }
            json_object_set_new(row, cols[c], v ? v : json_null());
        }
        json_array_append_new(events, row);
    }
    json_t *next = json_null();
    if (n > limit && limit > 0) {
        char cursor[128];
        snprintf(cursor, sizeof cursor, "%s_%s", PQgetvalue(res, limit - 1, 1),
                 PQgetvalue(res, limit - 1, 0));
        next = json_string(cursor);
    }
    http_reply_json(
        ctx, 200,
        json_pack("{s:s, s:o, s:o}", "provider_id", ctx->params[0], "events", events, "next_cursor", next));
}

void api_integrations_events(struct http_ctx *ctx)
{
    const struct provider_registry *reg = policy_providers(policy_current());
    const char *lim = http_query(ctx, "limit"), *cursor = http_query(ctx, "cursor");
    char limit_plus_one[24], ts[64] = "", uuid[40] = "", *end = NULL;
    long limit = lim ? strtol(lim, &end, 10) : 50;
    if (!reg || !providers_find(reg, ctx->params[0])) {
        http_reply_error(ctx, 404, "UNKNOWN_PROVIDER", "No such provider.",
                         "Use an id listed by GET /api/integrations/status.", NULL);
        return;
    }
    if ((lim && (*end || limit < 1 || limit > 500))) {
        http_reply_error(ctx, 400, "VALIDATION_FAILED", "limit must be an integer from 1 to 500.", NULL,
                         json_pack("{s:s}", "field", "limit"));
        return;
    }
    if (cursor && !valid_cursor(cursor, ts, sizeof ts, uuid, sizeof uuid)) {
        http_reply_error(ctx, 400, "VALIDATION_FAILED",
                         "cursor is not a next_cursor value from this endpoint.", NULL,
                         json_pack("{s:s}", "field", "cursor"));
        return;
    }
    snprintf(limit_plus_one, sizeof limit_plus_one, "%ld", limit + 1);
    const char *params[4] = {ctx->params[0], limit_plus_one, cursor ? ts : NULL, cursor ? uuid : NULL};
    if (db_query(
            "SELECT id, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), bot_id, run_id, "
            "job_id, operation, status, latency_ms, symbol, timeframe, records, error_code, trace_id, metadata::text "
            "FROM integration_usage_events WHERE provider_id = $1 "
            "AND ($3::timestamptz IS NULL OR (created_at, id) < ($3::timestamptz, $4::uuid)) "
            "ORDER BY created_at DESC, id DESC LIMIT $2::int",
            4, params, 3000, on_events, ctx) < 0)
        http_reply_error(ctx, 503, "DB_UNAVAILABLE", "The database queue is full or stopped.", NULL, NULL);
}

void api_integrations_free(void)
{
    body_cache_clear(&status_cache);
}
