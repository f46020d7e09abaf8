/* api_ai_ops.c — GET /api/ai-ops: one aggregate query over the window's llm.chat usage events. */
#include "api_ai_ops.h"

#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "integrations.h"
#include "clock.h"
#include "config.h"
#include "db.h"
#include "http.h"
#include "policy.h"
#include "providers.h"

#define DB_TIMEOUT_MS 5000
#define MAX_WINDOW_H 720 /* 30 days: the default usage-event retention */

/* Rows: one per (provider, model) and one per provider (model NULL), as JSON text, provider rows first. The
 * provider_id = ANY($1) filter keeps the scan on the (provider_id, created_at) index. */
// clang-format off
static const char *AI_OPS_SQL =
    "WITH w AS (SELECT e.id, e.provider_id, coalesce(nullif(e.metadata->>'model', ''), 'unknown') AS model, e.status, "
    "  e.error_code, e.latency_ms, e.created_at, e.trace_id, "
    "  CASE WHEN jsonb_typeof(e.metadata->'input_tokens') = 'number' THEN (e.metadata->>'input_tokens')::numeric END AS in_tok, "
    "  CASE WHEN jsonb_typeof(e.metadata->'output_tokens') = 'number' THEN (e.metadata->>'output_tokens')::numeric END AS out_tok, "
    "  CASE WHEN jsonb_typeof(e.metadata->'purpose') = 'string' THEN e.metadata->>'purpose' ELSE 'untagged' END AS purpose "
    "  FROM integration_usage_events e WHERE e.operation = 'llm.chat' AND e.provider_id = ANY($1::text[]) "
    "  AND e.created_at > gh_now() - make_interval(hours => $2::int)), "
    "agg AS (SELECT provider_id, CASE WHEN GROUPING(model) = 1 THEN NULL ELSE model END AS model, count(*) AS calls, "
    "  count(*) FILTER (WHERE status = 'OK') AS ok, count(*) FILTER (WHERE status = 'ERROR') AS errors, "
    "  percentile_disc(0.5) WITHIN GROUP (ORDER BY latency_ms) AS p50, "
    "  percentile_disc(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95, sum(in_tok) AS in_tok, sum(out_tok) AS out_tok "
    "  FROM w GROUP BY GROUPING SETS ((provider_id, model), (provider_id))), "
    "codes AS (SELECT provider_id, model, json_object_agg(error_code, n ORDER BY error_code) AS j FROM "
    "  (SELECT provider_id, CASE WHEN GROUPING(model) = 1 THEN NULL ELSE model END AS model, error_code, count(*) AS n "
    "   FROM w WHERE error_code IS NOT NULL GROUP BY GROUPING SETS ((provider_id, model, error_code), (provider_id, error_code))) x "
    "  GROUP BY provider_id, model), "
    "purposes AS (SELECT provider_id, model, json_object_agg(purpose, n ORDER BY purpose) AS j FROM "
    "  (SELECT provider_id, CASE WHEN GROUPING(model) = 1 THEN NULL ELSE model END AS model, purpose, count(*) AS n "
    "   FROM w GROUP BY GROUPING SETS ((provider_id, model, purpose), (provider_id, purpose))) x "
    "  GROUP BY provider_id, model), "
    "last AS ((SELECT DISTINCT ON (provider_id, model) provider_id, model, created_at, trace_id, status, error_code "
    "   FROM w ORDER BY provider_id, model, created_at DESC, id DESC) "
    "  UNION ALL (SELECT DISTINCT ON (provider_id) provider_id, NULL, created_at, trace_id, status, error_code "
    "   FROM w ORDER BY provider_id, created_at DESC, id DESC)) "
    "SELECT json_build_object('provider_id', a.provider_id, 'model', a.model, 'calls', a.calls, 'ok', a.ok, "
    "  'errors', a.errors, 'errors_by_code', coalesce(c.j, '{}'::json), 'latency_ms', json_build_object('p50', a.p50, "
    "  'p95', a.p95), 'input_tokens', a.in_tok, 'output_tokens', a.out_tok, 'purposes', coalesce(p.j, '{}'::json), "
    "  'last_call_at', " API_TS("l.created_at") ", 'last_trace_id', l.trace_id, 'last_status', l.status, "
    "  'last_error_code', l.error_code)::text, "
    "  " API_TS("(gh_now() - make_interval(hours => $2::int))") ", " API_TS("gh_now()") " "
    "FROM agg a LEFT JOIN codes c ON c.provider_id = a.provider_id AND c.model IS NOT DISTINCT FROM a.model "
    "LEFT JOIN purposes p ON p.provider_id = a.provider_id AND p.model IS NOT DISTINCT FROM a.model "
    "LEFT JOIN last l ON l.provider_id = a.provider_id AND l.model IS NOT DISTINCT FROM a.model "
    "ORDER BY a.provider_id, a.model NULLS FIRST";
// clang-format on

struct ai_req {
    struct http_ctx *ctx;
    int window_h;
};

/* The registry's LLM providers as a Postgres text[] literal ("{openai,anthropic}"); ids are [a-z0-9_]. */
static char *llm_ids_literal(const struct provider_registry *reg)
{
    size_t cap = 3, n = 0;
    for (size_t i = 0; reg && i < reg->count; i++)
        cap += strlen(reg->providers[i].id) + 1;
    char *out = malloc(cap);
    if (!out) return NULL;
    out[n++] = '{';
    for (size_t i = 0; reg && i < reg->count; i++) {
        if (strcmp(reg->providers[i].category, "llm") != 0) continue;
        n += (size_t)snprintf(out + n, cap - n, "%s%s", n > 1 ? "," : "", reg->providers[i].id);
    }
    snprintf(out + n, cap - n, "}");
    return out;
}

/* A provider entry with zero counts and its configuration state; the query's rows fill it. */
static json_t *empty_provider(const struct provider_def *p)
{
    struct provider_facts f;
    integrations_facts(p, cfg.verify_ttl_s, &f);
    json_decref(f.missing);
    return json_pack(
        "{s:s, s:s, s:b, s:b, s:s, s:i, s:i, s:i, s:{}, s:{s:n, s:n}, s:n, s:n, s:{}, s:n, s:n, s:n, s:n, s:[]}",
        "provider_id", p->id, "label", p->label, "configured", f.configured, "connected", f.connected,
        "state", f.state, "calls", 0, "ok", 0, "errors", 0, "errors_by_code", "latency_ms", "p50", "p95",
        "input_tokens", "output_tokens", "purposes", "last_call_at", "last_trace_id", "last_status",
        "last_error_code", "models");
}

static void add_total(json_t *totals, const char *key, const json_t *v)
{
    if (!json_is_number(v)) return;
    json_t *cur = json_object_get(totals, key);
    json_object_set_new(totals, key,
                        json_integer((json_int_t)(json_number_value(cur) + json_number_value(v))));
}

static void on_rows(struct pg_result *res, const char *err, void *arg)
{
    struct ai_req *r = arg;
    const struct provider_registry *reg = policy_providers(policy_current());
    json_t *providers = json_array(), *by_id = json_object();
    json_t *totals =
        json_pack("{s:i, s:i, s:i, s:i}", "calls", 0, "errors", 0, "input_tokens", 0, "output_tokens", 0);
    if (!res) {
        api_reply_db_error(r->ctx, err, "AI Ops");
        json_decref(providers);
        json_decref(by_id);
        json_decref(totals);
        free(r);
        return;
    }
    for (size_t i = 0; reg && i < reg->count; i++) {
        if (strcmp(reg->providers[i].category, "llm") != 0) continue;
        json_t *p = empty_provider(&reg->providers[i]);
        json_array_append_new(providers, p);
        json_object_set(by_id, reg->providers[i].id, p);
    }
    for (int i = 0; i < PQntuples(res); i++) {
        json_t *row = json_loads(PQgetvalue(res, i, 0), 0, NULL);
        json_t *p = json_object_get(by_id, json_string_value(json_object_get(row, "provider_id")));
        if (p && json_is_null(json_object_get(row, "model"))) { /* the provider's own row */
            json_object_del(row, "model");
            json_object_update_existing(p, row);
            const char *keys[] = {"calls", "errors", "input_tokens", "output_tokens"};
            for (int k = 0; k < 4; k++)
                add_total(totals, keys[k], json_object_get(row, keys[k]));
        } else if (p) {
            json_object_del(row, "provider_id");
            json_array_append(json_object_get(p, "models"), row);
        }
        json_decref(row);
    }
    const char *since = PQntuples(res) ? PQgetvalue(res, 0, 1) : NULL,
               *until = PQntuples(res) ? PQgetvalue(res, 0, 2) : NULL;
    time_t now = clock_wall_s();
    json_t *since_j = since ? json_string(since) : clock_json_time(now - (time_t)r->window_h * 3600);
    json_t *until_j = until ? json_string(until) : clock_json_time(now);
    http_reply_json(r->ctx, 200,
                    json_pack("{s:i, s:o, s:o, s:o, s:o}", "window_h", r->window_h, "since", since_j, "until",
                              until_j, "totals", totals, "providers", providers));
    json_decref(by_id);
    free(r);
}

void api_ai_ops(struct http_ctx *ctx)
{
    const char *w = http_query(ctx, "window_h");
    char *end, hours[16];
    long window_h = w ? strtol(w, &end, 10) : 24;
    if (w && (!*w || *end || window_h < 1 || window_h > MAX_WINDOW_H)) {
        api_invalid(ctx, "window_h",
                    "window_h must be an integer number of hours from 1 to 720 (default 24).");
        return;
    }
    char *ids = llm_ids_literal(policy_providers(policy_current()));
    struct ai_req *r = calloc(1, sizeof *r);
    snprintf(hours, sizeof hours, "%ld", window_h);
    r->ctx = ctx;
    r->window_h = (int)window_h;
    const char *params[2] = {ids, hours};
    if (!ids || db_query(AI_OPS_SQL, 2, params, DB_TIMEOUT_MS, on_rows, r) < 0) {
        free(r);
        api_reply_db_error(ctx, NULL, "AI Ops");
    }
    free(ids);
}
