/* variables.c — validates scripts/variables.lua, syncs profit_variables, batches feature usage. */
#include "variables.h"

#include <event2/event.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "db.h"
#include "id.h"
#include "log.h"
#include "policy.h"
#include "providers.h"
#include "telemetry.h"

#define NAME_MAX_LEN 63
#define DESCRIPTION_MAX 500
#define DB_TIMEOUT_MS 5000
#define SYNC_RETRY_MS 2000
#define FLUSH_EVERY_MS 1000
#define PENDING_MAX_NAMES 2048
#define PENDING_MAX_BOTS 256

static const char *const TYPES[] = {"number", "bool", "string", NULL};
static const char *const STATES[] = {"ACTIVE", "DEPRECATED", NULL};
static const char *const LIVE_STACK[] = {"market_data", "execution", "llm", NULL};
static const char *const INTERNAL[] = {"runner", "risk_engine", "market_hours", NULL};
static const char *const FIELDS[] = {"name",        "category", "source", "variable_type",
                                     "description", "state",    NULL};

static int one_of(const char *s, const char *const *set)
{
    for (; s && *set; set++)
        if (strcmp(s, *set) == 0) return 1;
    return 0;
}

/* ---- validation ---- */

static int valid_name(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > NAME_MAX_LEN || !(s[0] >= 'a' && s[0] <= 'z')) return 0;
    for (size_t i = 1; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_')) return 0;
    return 1;
}

const char *variables_source_kind(const char *source, const struct provider_registry *reg)
{
    if (!source) return NULL;
    if (one_of(source, LIVE_STACK)) return "live_stack";
    if (one_of(source, INTERNAL)) return "internal";
    if (reg && providers_find(reg, source)) return "provider";
    return NULL;
}

/* Checks the categories list; fills err and returns -1 when malformed. */
static int check_categories(const json_t *cats, char *err, size_t errlen)
{
    size_t i, j;
    json_t *c;
    if (!json_is_array(cats) || json_array_size(cats) == 0 || json_array_size(cats) > 32) {
        snprintf(err, errlen, "categories must be a list of 1 to 32 category names");
        return -1;
    }
    json_array_foreach(cats, i, c)
    {
        if (!valid_name(json_string_value(c))) {
            snprintf(err, errlen, "categories[%zu] must be a lower-case name ([a-z][a-z0-9_]*)", i + 1);
            return -1;
        }
        for (j = 0; j < i; j++)
            if (json_equal(json_array_get(cats, j), c)) {
                snprintf(err, errlen, "categories[%zu] '%s' is listed twice", i + 1, json_string_value(c));
                return -1;
            }
    }
    return 0;
}

static int category_known(const json_t *cats, const char *name)
{
    size_t i;
    json_t *c;
    json_array_foreach(cats, i, c) if (name && strcmp(json_string_value(c), name) == 0) return 1;
    return 0;
}

/* Validates one entry (1-based index i) and returns its normalized copy, or NULL with err. seen: names so
 * far. */
static json_t *check_entry(const json_t *e, size_t i, const json_t *cats, const struct provider_registry *reg,
                           json_t *seen, char *err, size_t errlen)
{
    const char *name = json_string_value(json_object_get(e, "name")), *key, *kind;
    const char *category, *source, *type, *state, *desc;
    json_t *value;
    char label[128];
    if (!json_is_object(e)) {
        snprintf(err, errlen,
                 "variables[%zu]: must be a table {name, category, source, variable_type, description}", i);
        return NULL;
    }
    snprintf(label, sizeof label, "variables[%zu]%s%.*s%s", i, name ? " (" : "", NAME_MAX_LEN + 1,
             name ? name : "", name ? ")" : "");
    json_object_foreach((json_t *)e, key, value) if (!one_of(key, FIELDS))
    {
        snprintf(
            err, errlen,
            "%s: unknown field '%.64s' (fields: name, category, source, variable_type, description, state)",
            label, key);
        return NULL;
    }
    category = json_string_value(json_object_get(e, "category"));
    source = json_string_value(json_object_get(e, "source"));
    type = json_string_value(json_object_get(e, "variable_type"));
    desc = json_string_value(json_object_get(e, "description"));
    value = json_object_get(e, "state");
    state = value ? json_string_value(value) : "ACTIVE";
    kind = variables_source_kind(source, reg);
    if (!valid_name(name))
        snprintf(err, errlen, "%s: name must match [a-z][a-z0-9_]* (at most %d characters)", label,
                 NAME_MAX_LEN);
    else if (json_object_get(seen, name))
        snprintf(err, errlen, "%s: name '%s' is declared twice", label, name);
    else if (!category_known(cats, category))
        snprintf(err, errlen, "%s: category must be one of the listed categories", label);
    else if (!kind)
        snprintf(
            err, errlen,
            "%s: source '%.64s' is not a live-stack category (market_data, execution, llm), a provider id of "
            "providers.lua, or an internal source (runner, risk_engine, market_hours)",
            label, source ? source : "(missing)");
    else if (!one_of(type, TYPES))
        snprintf(err, errlen, "%s: variable_type must be number, bool or string", label);
    else if (!desc || !*desc || strlen(desc) > DESCRIPTION_MAX)
        snprintf(err, errlen, "%s: description must be a non-empty string of at most %d bytes", label,
                 DESCRIPTION_MAX);
    else if (!one_of(state, STATES))
        snprintf(err, errlen, "%s: state must be ACTIVE or DEPRECATED", label);
    else {
        json_object_set_new(seen, name, json_true());
        return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "name", name, "category", category, "source",
                         source, "source_kind", kind, "variable_type", type, "state", state, "description",
                         desc);
    }
    return NULL;
}

json_t *variables_catalog_from_json(const json_t *doc, const struct provider_registry *reg, char *err,
                                    size_t errlen)
{
    const json_t *cats = json_object_get(doc, "categories"), *list = json_object_get(doc, "variables"), *e;
    json_t *out, *seen;
    size_t i;
    if (!json_is_object(doc)) {
        snprintf(err, errlen, "must return a table {schema_version, categories, variables}");
        return NULL;
    }
    if (!json_is_integer(json_object_get(doc, "schema_version")) ||
        json_integer_value(json_object_get(doc, "schema_version")) != 1) {
        snprintf(err, errlen, "schema_version must be 1");
        return NULL;
    }
    if (check_categories(cats, err, errlen) < 0) return NULL;
    if (!json_is_array(list) || json_array_size(list) == 0 || json_array_size(list) > VARIABLES_MAX) {
        snprintf(err, errlen, "variables must be a list of 1 to %d entries", VARIABLES_MAX);
        return NULL;
    }
    out = json_array();
    seen = json_object();
    json_array_foreach(list, i, e)
    {
        json_t *v = check_entry(e, i + 1, cats, reg, seen, err, errlen);
        if (!v) {
            json_decref(out);
            out = NULL;
            break;
        }
        json_array_append_new(out, v);
    }
    json_decref(seen);
    return out;
}

/* ---- sync: profit_variables from the catalog in force ---- */

static struct {
    struct event_base *base;
    struct event *retry, *flush_timer;
    int sync_running, sync_again, synced;
    char sync_trace[33];
    json_t *pending;   /* name -> {seen: epoch s, bots: {bot_id: true}} */
    json_t *in_flight; /* the batch being written, merged back on failure */
} V;

static const char *SYNC_SQL =
    "WITH decl AS (SELECT d.name, d.category, d.source, d.variable_type, d.state, d.description "
    "  FROM jsonb_to_recordset($1::jsonb) AS d(name text, category text, source text, variable_type text, "
    "  state text, description text)), "
    "up AS (INSERT INTO profit_variables AS v (name, category, source_integration, variable_type, state, description) "
    "  SELECT name, category, source, variable_type, state, description FROM decl "
    "  ON CONFLICT (name) DO UPDATE SET category = EXCLUDED.category, source_integration = EXCLUDED.source_integration, "
    "  variable_type = EXCLUDED.variable_type, state = EXCLUDED.state, description = EXCLUDED.description, "
    "  last_updated_at = gh_now() "
    "  WHERE (v.category, v.source_integration, v.variable_type, v.state, v.description) IS DISTINCT FROM "
    "  (EXCLUDED.category, EXCLUDED.source_integration, EXCLUDED.variable_type, EXCLUDED.state, EXCLUDED.description) "
    "  RETURNING (xmax = 0) AS inserted), "
    "dep AS (UPDATE profit_variables SET state = 'DEPRECATED', last_updated_at = gh_now() "
    "  WHERE state <> 'DEPRECATED' AND name NOT IN (SELECT name FROM decl) RETURNING 1) "
    "SELECT (SELECT count(*) FROM up WHERE inserted), (SELECT count(*) FROM up WHERE NOT inserted), "
    "  (SELECT count(*) FROM dep), (SELECT count(*) FROM decl)";

static void run_sync(void);

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    run_sync();
}

static void on_synced(struct pg_result *res, const char *err, void *arg)
{
    char *version = arg;
    V.sync_running = 0;
    if (!res || PQntuples(res) != 1) {
        struct timeval tv = {SYNC_RETRY_MS / 1000, (SYNC_RETRY_MS % 1000) * 1000};
        LOG_WARN(V.sync_trace, "variable catalog sync failed; retrying", "error=\"%s\"",
                 err ? err : "no row");
        if (V.retry) event_add(V.retry, &tv);
        free(version);
        return;
    }
    long added = atol(PQgetvalue(res, 0, 0)), updated = atol(PQgetvalue(res, 0, 1));
    long deprecated = atol(PQgetvalue(res, 0, 2)), declared = atol(PQgetvalue(res, 0, 3));
    V.synced = 1;
    LOG_INFO(V.sync_trace, "variable catalog synced",
             "version=%s declared=%ld added=%ld updated=%ld deprecated=%ld", version, declared, added,
             updated, deprecated);
    if (added || updated || deprecated) {
        char msg[256];
        snprintf(msg, sizeof msg, "variable catalog %s: %ld declared, %ld added, %ld updated, %ld deprecated",
                 version, declared, added, updated, deprecated);
        json_t *meta = json_pack("{s:s, s:I, s:I, s:I, s:I}", "policy_version", version, "declared",
                                 (json_int_t)declared, "added", (json_int_t)added, "updated",
                                 (json_int_t)updated, "deprecated", (json_int_t)deprecated);
        telemetry_system_event("variables.sync", "info", "variables", msg, V.sync_trace, meta);
        json_decref(meta);
    }
    free(version);
    if (V.sync_again) {
        V.sync_again = 0;
        run_sync();
    }
}

static void run_sync(void)
{
    struct policy_gen *g = policy_current();
    const json_t *catalog = policy_variables(g);
    if (!g) return; /* no generation: nothing declared to sync; the next successful load syncs */
    if (V.sync_running) {
        V.sync_again = 1;
        return;
    }
    char *text = json_dumps(catalog ? catalog : json_array(), JSON_COMPACT);
    char *version = strdup(policy_version_of(g));
    const char *params[1] = {text};
    V.sync_running = 1;
    if (!text || !version || db_query(SYNC_SQL, 1, params, DB_TIMEOUT_MS, on_synced, version) < 0)
        on_synced(NULL, "query not queued", version ? version : strdup("?"));
    free(text);
}

void variables_sync(const char *trace_id)
{
    if (trace_id && id_is_trace_id(trace_id))
        snprintf(V.sync_trace, sizeof V.sync_trace, "%s", trace_id);
    else
        id_trace_new(V.sync_trace);
    if (V.retry) event_del(V.retry);
    run_sync();
}

int variables_synced(void)
{
    return V.synced;
}

/* ---- usage: last_seen_at / used_by_bot_ids ---- */

/* Adds batch (name -> {seen, bots}) into into, keeping the latest seen and the union of bots (bounded). */
static void merge_pending(json_t *into, const json_t *batch)
{
    const char *name, *bot;
    json_t *b, *v;
    json_object_foreach((json_t *)batch, name, b)
    {
        json_t *cur = json_object_get(into, name);
        if (!cur) {
            if (json_object_size(into) >= PENDING_MAX_NAMES) continue;
            cur = json_pack("{s:f, s:{}}", "seen", 0.0, "bots");
            json_object_set_new(into, name, cur);
        }
        double seen = json_number_value(json_object_get(b, "seen"));
        if (seen > json_number_value(json_object_get(cur, "seen")))
            json_object_set_new(cur, "seen", json_real(seen));
        json_t *bots = json_object_get(cur, "bots");
        json_object_foreach(json_object_get(b, "bots"), bot, v) if (json_object_size(bots) < PENDING_MAX_BOTS)
            json_object_set_new(bots, bot, json_true());
    }
}

void variables_note_usage(const struct usage_event *ev)
{
    const json_t *keys = json_object_get(ev->metadata, "feature_keys_used"), *k;
    size_t i;
    if (!ev->bot_id || !json_is_array(keys) || json_array_size(keys) == 0 || !V.pending) return;
    json_t *one = json_object();
    json_array_foreach(keys, i, k)
    {
        if (i >= 64 || !valid_name(json_string_value(k))) continue;
        json_object_set_new(
            one, json_string_value(k),
            json_pack("{s:f, s:{s:b}}", "seen", (double)clock_wall_s(), "bots", ev->bot_id, 1));
    }
    merge_pending(V.pending, one);
    json_decref(one);
}

static const char *FLUSH_SQL =
    "UPDATE profit_variables v SET last_seen_at = GREATEST(v.last_seen_at, u.seen_at), "
    "used_by_bot_ids = (SELECT coalesce(jsonb_agg(s.x ORDER BY s.x), '[]'::jsonb) FROM "
    "  (SELECT jsonb_array_elements_text(v.used_by_bot_ids) AS x UNION SELECT jsonb_array_elements_text(u.bots)) s) "
    "FROM (SELECT r.name, to_timestamp(r.seen) AS seen_at, r.bots "
    "  FROM jsonb_to_recordset($1::jsonb) AS r(name text, seen float8, bots jsonb)) u "
    "WHERE v.name = u.name";

static void on_flushed(struct pg_result *res, const char *err, void *arg)
{
    if (!res) {
        LOG_WARN(NULL, "variable usage not written; kept for the next batch", "error=\"%s\"", err);
        if (V.pending) merge_pending(V.pending, V.in_flight);
    }
    json_decref(V.in_flight);
    V.in_flight = NULL;
}

static void on_flush_timer(evutil_socket_t fd, short what, void *arg)
{
    const char *name;
    json_t *b, *rows;
    if (V.in_flight || !V.synced || json_object_size(V.pending) == 0) return;
    V.in_flight = V.pending;
    V.pending = json_object();
    rows = json_array();
    json_object_foreach(V.in_flight, name, b)
    {
        json_t *bots = json_array();
        const char *bot;
        json_t *ignored;
        json_object_foreach(json_object_get(b, "bots"), bot, ignored)
            json_array_append_new(bots, json_string(bot));
        json_array_append_new(rows, json_pack("{s:s, s:O, s:o}", "name", name, "seen",
                                              json_object_get(b, "seen"), "bots", bots));
    }
    char *text = json_dumps(rows, JSON_COMPACT);
    const char *params[1] = {text};
    json_decref(rows);
    if (!text || db_query(FLUSH_SQL, 1, params, DB_TIMEOUT_MS, on_flushed, NULL) < 0)
        on_flushed(NULL, "query not queued", NULL);
    free(text);
}

int variables_start(struct event_base *base)
{
    struct timeval every = {FLUSH_EVERY_MS / 1000, (FLUSH_EVERY_MS % 1000) * 1000};
    V.base = base;
    V.pending = json_object();
    V.retry = evtimer_new(base, on_retry, NULL);
    V.flush_timer = event_new(base, -1, EV_PERSIST, on_flush_timer, NULL);
    if (!V.pending || !V.retry || !V.flush_timer || event_add(V.flush_timer, &every) < 0) return -1;
    return 0;
}

void variables_stop(void)
{
    if (V.retry) event_free(V.retry);
    if (V.flush_timer) event_free(V.flush_timer);
    json_decref(V.pending);
    json_decref(V.in_flight);
    memset(&V, 0, sizeof V);
}

/* ---- the validator of scripts/variables.lua, registered with policy.c ---- */

/* Prefixes a catalog error with "scripts/variables.lua:LINE: " (the line of the entry's name literal, when
 * found). */
static void catalog_error(const json_t *doc, const char *inner, char *err, size_t errlen)
{
    size_t n;
    int occurrence = 0, line = 0;
    const json_t *list = json_object_get(doc, "variables");
    const char *name = NULL;
    if (sscanf(inner, "variables[%zu]", &n) == 1 && n > 0)
        name = json_string_value(json_object_get(json_array_get(list, n - 1), "name"));
    for (size_t i = 0; name && i < n; i++) {
        const char *other = json_string_value(json_object_get(json_array_get(list, i), "name"));
        occurrence += other && strcmp(other, name) == 0;
    }
    if (name) line = policy_source_line("scripts/variables.lua", name, occurrence, 1);
    if (line)
        snprintf(err, errlen, "scripts/variables.lua:%d: %s", line, inner);
    else
        snprintf(err, errlen, "scripts/variables.lua: %s", inner);
}

/* policy_validator_fn of scripts/variables.lua: the catalog against g's registry (an empty catalog when the
 * file is absent). */
static void *validate_catalog(json_t *doc, const struct policy_gen *g, int spec, char *err, size_t errlen)
{
    char inner[1024];
    json_t *catalog;
    if (!doc) return json_array();
    if (spec) return variables_catalog_from_json(doc, policy_providers(g), err, errlen);
    catalog = variables_catalog_from_json(doc, policy_providers(g), inner, sizeof inner);
    if (!catalog) catalog_error(doc, inner, err, errlen);
    return catalog;
}

static void free_catalog(void *catalog)
{
    json_decref(catalog);
}

int variables_register_validator(void)
{
    return policy_register_validator("scripts/variables.lua", validate_catalog, free_catalog);
}
