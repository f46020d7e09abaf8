/* api_variables.c — GET /api/variables: catalog rows from profit_variables, availability from cached health.
 */
#include "api_variables.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "integrations.h"
#include "config.h"
#include "db.h"
#include "http.h"
#include "policy.h"
#include "providers.h"
#include "status.h"
#include "variables.h"

#define DB_TIMEOUT_MS 3000
#define UUID_RE "'^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'"

/* ---- availability ---- */

static const char *or_else(const char *s, const char *fallback)
{
    return s ? s : fallback;
}

static json_t *verdict(const char *availability, const char *reason)
{
    return json_pack("{s:s, s:s}", "availability", availability, "reason", reason);
}

/* The first blocker of the cached decision with this code and severity (NULL: any severity), or NULL. */
static const json_t *blocker_with(const char *code, const char *severity)
{
    size_t i;
    json_t *b;
    json_array_foreach(json_object_get(status_decision(), "blockers"), i, b)
    {
        const char *c = json_string_value(json_object_get(b, "code")),
                   *s = json_string_value(json_object_get(b, "severity"));
        if ((!code || (c && strcmp(c, code) == 0)) && (!severity || (s && strcmp(s, severity) == 0)))
            return b;
    }
    return NULL;
}

static const json_t *stack_entry(const json_t *list, const char *id)
{
    size_t i;
    json_t *e;
    json_array_foreach(list, i,
                       e) if (strcmp(or_else(json_string_value(json_object_get(e, "providerId")), ""), id) ==
                              0) return e;
    return NULL;
}

/* live-stack source: BLOCKED without a primary, DEGRADED when a configured provider ranked above the primary
 * is not connected (failover in effect), else OK. */
static json_t *live_stack_health(const char *category, const struct provider_registry *reg)
{
    const char *key = strcmp(category, "market_data") == 0 ? "marketData" : category;
    const json_t *cat = json_object_get(json_object_get(status_decision(), "live_stack"), key);
    const json_t *primary = json_object_get(cat, "primary"), *id;
    const json_t *rest = json_object_get(cat, strcmp(category, "llm") == 0 ? "fallbacks" : "backups");
    const char *pid = json_string_value(json_object_get(primary, "providerId"));
    char reason[512];
    size_t i;
    if (!pid) {
        snprintf(reason, sizeof reason,
                 "No %s provider of the live stack is connected, so nothing serves this variable.", category);
        return verdict("BLOCKED", reason);
    }
    json_array_foreach(json_object_get(reg ? reg->priority : NULL, category), i, id)
    {
        const char *above = json_string_value(id);
        if (!above || strcmp(above, pid) == 0) break;
        const json_t *e = stack_entry(rest, above);
        if (e && json_is_true(json_object_get(e, "configured")) &&
            !json_is_true(json_object_get(e, "connected"))) {
            const char *code = json_string_value(json_object_get(e, "error_code"));
            snprintf(reason, sizeof reason,
                     "Served by %s, a backup: %s ranks above it but is not connected%s%s%s.", pid, above,
                     code ? " (" : "", code ? code : "", code ? ")" : "");
            return verdict("DEGRADED", reason);
        }
    }
    snprintf(reason, sizeof reason, "Served by %s, the %s primary of the live stack.", pid, category);
    return verdict("OK", reason);
}

static json_t *provider_health(const struct provider_def *p)
{
    struct provider_facts f;
    char reason[512];
    integrations_facts(p, cfg.verify_ttl_s, &f);
    if (!f.configured) {
        char *missing = json_dumps(f.missing, JSON_COMPACT);
        snprintf(reason, sizeof reason, "%s is not configured (missing %s).", p->label,
                 missing ? missing : "variables");
        free(missing);
    } else if (f.connected) {
        snprintf(reason, sizeof reason, "%s is connected (verified within its TTL).", p->label);
    } else {
        snprintf(reason, sizeof reason, "%s is %s%s%s%s.", p->label, f.state, f.error_code ? " (" : "",
                 f.error_code ? f.error_code : "", f.error_code ? ")" : "");
    }
    json_decref(f.missing);
    return verdict(f.status, reason);
}

static json_t *internal_health(const char *source)
{
    struct policy_gen *g = policy_current();
    const json_t *b;
    if (strcmp(source, "risk_engine") == 0) {
        if ((b = blocker_with("RISK_ENGINE_NOT_ENFORCING", NULL)))
            return verdict("BLOCKED", or_else(json_string_value(json_object_get(b, "reason_human")),
                                              "The risk engine is not enforcing."));
        return verdict("OK", "Computed by scripts/risk.lua's check() on every tick (enforcing).");
    }
    if (strcmp(source, "market_hours") == 0)
        return policy_has_function(g, "scripts/market_hours.lua", "session")
                   ? verdict("OK", "Computed by scripts/market_hours.lua on every tick.")
                   : verdict("BLOCKED", "scripts/market_hours.lua is not loaded or has no session().");
    return verdict("OK", "Computed by the tick pipeline from the bot's own records.");
}

json_t *api_variables_availability(const char *source, const char *state)
{
    const struct provider_registry *reg = policy_providers(policy_current());
    const char *kind = variables_source_kind(source, reg);
    const json_t *b;
    char reason[600];
    if (state && strcmp(state, "DEPRECATED") == 0)
        return verdict(
            "BLOCKED",
            "Deprecated: no longer declared ACTIVE in scripts/variables.lua; strategies should stop using it.");
    if ((b = blocker_with(NULL, "SEV-1"))) {
        snprintf(reason, sizeof reason, "The system is BLOCKED (%s): no tick runs. %s",
                 or_else(json_string_value(json_object_get(b, "code")), "?"),
                 or_else(json_string_value(json_object_get(b, "reason_human")), ""));
        return verdict("BLOCKED", reason);
    }
    if (!kind) {
        snprintf(reason, sizeof reason, "Source '%.64s' is not known to the policy in force.",
                 source ? source : "");
        return verdict("BLOCKED", reason);
    }
    if (strcmp(kind, "live_stack") == 0) return live_stack_health(source, reg);
    if (strcmp(kind, "provider") == 0) return provider_health(providers_find(reg, source));
    return internal_health(source);
}

/* ---- GET /api/variables ---- */

struct list_req {
    struct http_ctx *ctx;
    long limit;
    char availability[16];
};

static void on_rows(struct pg_result *res, const char *err, void *arg)
{
    struct list_req *r = arg;
    struct http_ctx *ctx = r->ctx;
    json_t *vars = json_array(), *health = json_object(), *next = json_null();
    int n;
    if (!res) {
        api_reply_db_error(ctx, err, "variables list");
        goto out;
    }
    n = PQntuples(res);
    for (int i = 0; i < n; i++) {
        json_t *v = json_loads(PQgetvalue(res, i, 0), 0, NULL);
        const char *source = json_string_value(json_object_get(v, "source_integration"));
        const char *state = json_string_value(json_object_get(v, "state"));
        char key[160];
        if (!v) continue;
        snprintf(key, sizeof key, "%s|%s", state ? state : "", source ? source : "");
        json_t *h = json_object_get(health, key); /* one derivation per (state, source) */
        if (!h) json_object_set_new(health, key, h = api_variables_availability(source, state));
        const char *avail = json_string_value(json_object_get(h, "availability"));
        if (r->availability[0] && strcmp(avail, r->availability) != 0) {
            json_decref(v);
            continue;
        }
        if ((long)json_array_size(vars) == r->limit) { /* one more matches: there is a next page */
            json_decref(next);
            next =
                json_string(json_string_value(json_object_get(json_array_get(vars, r->limit - 1), "name")));
            json_decref(v);
            break;
        }
        json_object_set_new(
            v, "source_kind",
            json_string(
                or_else(variables_source_kind(source, policy_providers(policy_current())), "unknown")));
        json_object_set(v, "availability", json_object_get(h, "availability"));
        json_object_set(v, "availability_reason", json_object_get(h, "reason"));
        json_array_append_new(vars, v);
    }
    http_reply_json(
        ctx, 200,
        json_pack("{s:O, s:O, s:b}", "variables", vars, "next_cursor", next, "synced", variables_synced()));
out:
    json_decref(vars);
    json_decref(health);
    json_decref(next);
    free(r);
}

static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63) return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_')) return 0;
    return 1;
}

/* Reads the filters; answers 400 and returns -1 on a bad one. */
static int read_filters(struct http_ctx *ctx, struct list_req *r, const char **category, const char **state,
                        const char **cursor)
{
    const char *lim = http_query(ctx, "limit"), *avail = http_query(ctx, "availability");
    char *end;
    *category = http_query(ctx, "category");
    *state = http_query(ctx, "state");
    *cursor = http_query(ctx, "cursor");
    r->limit = lim ? strtol(lim, &end, 10) : 50;
    if (lim && (!*lim || *end || r->limit < 1 || r->limit > 500)) {
        api_invalid(ctx, "limit", "limit must be an integer from 1 to 500 (default 50).");
        return -1;
    }
    if (*category && !valid_name(*category)) {
        api_invalid(ctx, "category",
                    "category must be a category name such as market_data, execution, risk or ai.");
        return -1;
    }
    if (avail && strcmp(avail, "OK") && strcmp(avail, "DEGRADED") && strcmp(avail, "BLOCKED")) {
        api_invalid(ctx, "availability", "availability must be OK, DEGRADED or BLOCKED.");
        return -1;
    }
    if (*state && strcmp(*state, "ACTIVE") && strcmp(*state, "DEPRECATED")) {
        api_invalid(ctx, "state", "state must be ACTIVE or DEPRECATED.");
        return -1;
    }
    if (*cursor && !valid_name(*cursor)) {
        api_invalid(ctx, "cursor", "cursor is not a next_cursor value from this endpoint.");
        return -1;
    }
    snprintf(r->availability, sizeof r->availability, "%s", avail ? avail : "");
    return 0;
}

void api_variables_list(struct http_ctx *ctx)
{
    const char *category, *state, *cursor;
    struct list_req *r = calloc(1, sizeof *r);
    r->ctx = ctx;
    if (read_filters(ctx, r, &category, &state, &cursor) < 0) {
        free(r);
        return;
    }
    const char *params[3] = {category, state, cursor};
    /* the catalog is small (at most a few hundred rows): availability is derived in C, so the filter on it
     * and the page cut happen there, over the rows after the cursor */
    // clang-format off
    if (db_query("SELECT json_build_object('name', v.name, 'category', v.category, "
                 "'source_integration', v.source_integration, 'variable_type', v.variable_type, 'state', v.state, "
                 "'description', v.description, 'profit_contribution_estimate', v.profit_contribution_estimate, "
                 "'last_updated_at', " API_TS("v.last_updated_at") ", 'last_seen_at', " API_TS("v.last_seen_at") ", "
                 "'used_by_bot_ids', coalesce((SELECT json_agg(b.id::text ORDER BY b.id::text) FROM bots b WHERE b.id IN "
                 "  (SELECT e::uuid FROM jsonb_array_elements_text(v.used_by_bot_ids) e WHERE e ~ " UUID_RE ")), '[]'::json))::text "
                 "FROM profit_variables v WHERE ($1::text IS NULL OR v.category = $1) AND ($2::text IS NULL OR v.state = $2) "
                 "AND ($3::text IS NULL OR v.name > $3) ORDER BY v.name",
                 3, params, DB_TIMEOUT_MS, on_rows, r) < 0) {
        // clang-format on
        free(r);
        api_reply_db_error(ctx, NULL, "variables list");
    }
}
