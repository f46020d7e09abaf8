/* status.c — snapshot -> gates.lua -> cached decision; transitions become events and alerts. */
#include "status.h"

#include <event2/event.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alerts.h"
#include "body_cache.h"
#include "fleet.h"
#include "integrations.h"
#include "auth.h"
#include "clock.h"
#include "config.h"
#include "db.h"
#include "id.h"
#include "log.h"
#include "metrics.h"
#include "policy.h"
#include "providers.h"
#include "telemetry.h"
#include "verify.h"

#define EVALUATE_EVERY_MS 500
#define FACTS_EVERY_MS 2000

static struct {
    struct event *eval_timer, *facts_timer;
    json_t *decision;       /* cached */
    json_t *blocker_traces; /* "code|integration|bot" -> trace id of the evaluation that first raised it */
    json_t *facts;          /* from the database */
    int facts_pending;
    unsigned long version; /* bumped by every new decision and every facts refresh */
    int baseline; /* 1 once a decision was made with the database state known: transitions count from it */
} S;

/* kept outside S: the scheduler starts (and pushes) before status_start clears S */
static struct status_scheduler_facts sched;

void status_note_scheduler(const struct status_scheduler_facts *facts)
{
    sched = *facts;
}

/* ---- snapshot ---- */

static json_t *num_or_null(time_t t)
{
    return t ? json_integer((json_int_t)t) : json_null();
}

static json_t *provider_snapshot(const struct provider_def *p)
{
    struct provider_facts f;
    integrations_facts(p, cfg.verify_ttl_s, &f);
    json_t *req = json_array();
    for (size_t i = 0; i < p->n_required; i++)
        json_array_append_new(req, json_string(p->required_env[i]));
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:b, s:b, s:b, s:b, s:s, s:b, s:o, s:o, s:o, s:o, s:o, s:I}", "id", p->id, "label",
        p->label, "category", p->category, "configured", f.configured, "verified", f.verified, "connected",
        f.connected, "in_use", f.use.count_24h > 0, "state", f.state, "required_for_autonomy",
        p->required_for_autonomy, "missing_env_vars", f.missing, "required_env_vars", req, "last_verified_at",
        num_or_null(f.vst.has_result ? f.vst.verified_at : 0), "last_ok_at", num_or_null(f.vst.last_ok_at),
        "last_used_at", num_or_null(f.use.last_used_at), "proof_24h", (json_int_t)f.use.count_24h);
    json_object_set_new(o, "bars",
                        json_boolean(p->bars != NULL)); /* serves OHLCV bars (gates.lua's bars gate) */
    if (f.error_code) json_object_set_new(o, "error_code", json_string(f.error_code));
    if (f.vst.has_result) {
        json_object_set_new(o, "last_verify_outcome", json_string(f.vst.outcome));
        json_object_set_new(o, "reason_human", json_string(f.vst.reason_human));
        json_object_set_new(o, "verify_latency_ms", json_integer(f.vst.latency_ms));
        if (f.error_code && f.configured)
            json_object_set_new(o, "suggested_fix", json_string(f.vst.reason_human));
    }
    if (!f.configured) {
        char *fix = providers_expand(p, p->suggested_fix, f.missing);
        json_object_set_new(o, "suggested_fix", json_string(fix));
        free(fix);
    }
    return o;
}

json_t *status_snapshot(struct policy_gen *g)
{
    const struct status_scheduler_facts sch = sched;
    if (!g) g = policy_current();
    const struct provider_registry *reg = policy_providers(g);
    /* enforcing = the risk policy is loaded, has check(), and declares itself enforcing (not monitor-only) */
    int risk = policy_has_function(g, "scripts/risk.lua", "check") &&
               policy_module_flag(g, "scripts/risk.lua", "enforcing");
    json_t *providers = json_array(), *trading = json_object_get(S.facts, "trading");
    for (size_t i = 0; reg && i < reg->count; i++)
        json_array_append_new(providers, provider_snapshot(&reg->providers[i]));
    json_t *snap = json_pack(
        "{s:I, s:{s:b, s:s, s:o}, s:{s:b, s:o, s:o}, s:{s:b, s:b, s:o, s:i}, s:o, s:{s:b, s:s}, s:o, s:o, s:o}",
        "now", (json_int_t)clock_wall_s(), "db", "reachable", db_reachable(), "state", db_state(),
        "last_ok_at", num_or_null(db_last_ok_at()), "policy", "loaded", g != NULL, "version",
        g ? json_string(policy_version_of(g)) : json_null(), "last_reload_error",
        policy_last_error() ? json_string(policy_last_error()) : json_null(), "scheduler", "active",
        sch.active, "leader", sch.leader, "last_tick_at", num_or_null(sch.last_tick_at), "loop_lag_ms",
        sch.loop_lag_ms, "trading",
        trading ? json_deep_copy(trading) : json_pack("{s:b, s:s}", "enabled", 0, "mode", "PAPER"), "risk",
        "enforcing", risk, "reason",
        risk ? "scripts/risk.lua is loaded and enforcing"
             : "scripts/risk.lua is not loaded, or enforcing = false",
        "priority", reg ? json_deep_copy(reg->priority) : json_object(), "providers", providers, "breakers",
        json_deep_copy(json_object_get(S.facts, "breakers") ? json_object_get(S.facts, "breakers")
                                                            : json_array()));
    json_object_set_new(snap, "bot_blockers",
                        json_deep_copy(json_object_get(S.facts, "bot_blockers")
                                           ? json_object_get(S.facts, "bot_blockers")
                                           : json_array()));
    json_object_set_new(snap, "security", json_pack("{s:b}", "app_enc_key", auth_enc_key_ok()));
    /* the fleet as its last lease round read it (absent before the first: no fleet blocker) */
    if (fleet_facts()) json_object_set_new(snap, "fleet", json_deep_copy(fleet_facts()));
    return snap;
}

/* ---- decisions ---- */

static json_t *fail_closed(const char *why, const char *trace_id)
{
    return json_pack(
        "{s:s, s:b, s:[{s:s, s:s, s:s, s:s, s:s, s:s, s:s}], s:{}}", "system_status", "BLOCKED",
        "autonomy_allowed", 0, "blockers", "code", "POLICY_ERROR", "severity", "SEV-1", "message",
        "Gate policy failed", "reason_human", why, "suggested_fix",
        "Fix gates.lua (see /readyz policy.last_reload_error and the log); every gate fails closed "
        "until it evaluates.",
        "scope", "system", "trace_id", trace_id, "live_stack");
}

/* Checks the shape evaluate() returned; fills why on failure. */
static int valid_decision(const json_t *d, char *why, size_t len)
{
    const char *st = json_string_value(json_object_get(d, "system_status"));
    json_t *b = json_object_get(d, "blockers"), *v;
    size_t i;
    if (!json_is_object(d) || !st || (strcmp(st, "OK") && strcmp(st, "DEGRADED") && strcmp(st, "BLOCKED")) ||
        !json_is_boolean(json_object_get(d, "autonomy_allowed")) || !json_is_array(b) ||
        !json_is_object(json_object_get(d, "live_stack"))) {
        snprintf(why, len, "gates.lua evaluate() returned a malformed decision");
        return 0;
    }
    json_array_foreach(b, i, v) if (!json_is_string(json_object_get(v, "code")) ||
                                    !json_is_string(json_object_get(v, "severity")))
    {
        snprintf(why, len, "gates.lua evaluate(): blockers[%zu] lacks code or severity", i + 1);
        return 0;
    }
    return 1;
}

/* The string member key of o, or dflt when it is missing or not a string. */
static const char *str_or(const json_t *o, const char *key, const char *dflt)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v ? v : dflt;
}

/* Gives every blocker the trace id of the evaluation that first raised it (stable while it persists). */
static void attach_traces(json_t *blockers, json_t *known, json_t *next, const char *trace_id)
{
    size_t i;
    json_t *b;
    json_array_foreach(blockers, i, b)
    {
        char key[256];
        snprintf(key, sizeof key, "%s|%s|%s", json_string_value(json_object_get(b, "code")),
                 str_or(b, "integration", ""), str_or(b, "bot_id", ""));
        json_t *t = known ? json_object_get(known, key) : NULL;
        json_t *tid = t ? json_copy(t) : json_string(trace_id);
        json_object_set(b, "trace_id", tid);
        if (next) json_object_set(next, key, tid);
        json_decref(tid);
        if (!json_object_get(b, "reason_human") && json_object_get(b, "message"))
            json_object_set(b, "reason_human", json_object_get(b, "message"));
    }
}

json_t *status_evaluate_with(struct policy_gen *g, const char *trace_id, char *err, size_t errlen)
{
    json_t *snap = status_snapshot(g), *d;
    char why[256];
    if (!g || !policy_has_function(g, "gates.lua", "evaluate")) {
        json_decref(snap);
        return fail_closed("gates.lua is not loaded or has no evaluate()", trace_id);
    }
    const json_t *args[1] = {snap};
    d = policy_call_first(g, "gates.lua", "evaluate", args, snap ? 1 : 0, err, errlen);
    json_decref(snap);
    if (!d || !valid_decision(d, why, sizeof why)) {
        json_t *fc = fail_closed(d ? why : err, trace_id);
        LOG_ERROR(trace_id, "gate policy failed", "error=\"%s\"", d ? why : err);
        json_decref(d);
        return fc;
    }
    return d;
}

static const char *primary_of(const json_t *d, const char *category)
{
    return json_string_value(json_object_get(
        json_object_get(json_object_get(json_object_get(d, "live_stack"), category), "primary"),
        "providerId"));
}

/* Alert text: the transition, then up to three blockers with what to do about them. */
static void alert_text(const char *message, const json_t *blockers, char *out, size_t len)
{
    size_t i, n = (size_t)snprintf(out, len, "%s", message);
    json_t *b;
    json_array_foreach(blockers, i, b)
    {
        if (i == 3 || n >= len) break;
        n += (size_t)snprintf(out + n, len - n, "\n- %s (%s): %s Fix: %s",
                              json_string_value(json_object_get(b, "code")),
                              json_string_value(json_object_get(b, "severity")),
                              str_or(b, "reason_human", ""), str_or(b, "suggested_fix", "-"));
    }
}

/* Writes the system event (kind) and raises the alert (alert_kind: system_status, failover ...). */
static void record_transition(const char *kind, const char *alert_kind, const char *severity,
                              const char *subject, const char *message, json_t *meta, const char *trace_id,
                              const char *dedup, const json_t *blockers)
{
    char title[160], text[1800];
    telemetry_system_event(kind, severity, subject, message, trace_id, meta);
    LOG_WARN(trace_id, "status transition", "kind=%s subject=%s message=\"%s\"", kind, subject, message);
    snprintf(title, sizeof title, "gatehouse: %s", message);
    alert_text(message, blockers, text, sizeof text);
    alerts_notify(alert_kind, dedup, severity, title, text, trace_id);
    json_decref(meta);
}

static void detect_transitions(const json_t *old, const json_t *now, const char *trace_id)
{
    static const char *cats[] = {"marketData", "execution", "llm"};
    const char *was = json_string_value(json_object_get(old, "system_status"));
    const char *is = json_string_value(json_object_get(now, "system_status"));
    char msg[512], dedup[96];
    if (!was || strcmp(was, is) != 0) {
        const char *first =
            json_string_value(json_object_get(json_array_get(json_object_get(now, "blockers"), 0), "code"));
        snprintf(msg, sizeof msg, "system status %s -> %s%s%s", was ? was : "(start)", is, first ? ": " : "",
                 first ? first : "");
        snprintf(dedup, sizeof dedup, "system_status:%s", is);
        record_transition("gate.status", "system_status",
                          strcmp(is, "BLOCKED") == 0 ? "SEV-1"
                          : strcmp(is, "OK")         ? "SEV-2"
                                                     : "info",
                          "system", msg,
                          json_pack("{s:o, s:s, s:o}", "from", was ? json_string(was) : json_null(), "to", is,
                                    "blockers", json_deep_copy(json_object_get(now, "blockers"))),
                          trace_id, dedup, json_object_get(now, "blockers"));
    }
    for (int i = 0; old && i < 3; i++) {
        const char *from = primary_of(old, cats[i]), *to = primary_of(now, cats[i]);
        if ((from == NULL) == (to == NULL) && (!from || strcmp(from, to) == 0)) continue;
        snprintf(msg, sizeof msg, "%s primary %s -> %s", cats[i], from ? from : "none", to ? to : "none");
        json_t *meta = json_pack("{s:s, s:o, s:o, s:s}", "category", cats[i], "from",
                                 from ? json_string(from) : json_null(), "to",
                                 to ? json_string(to) : json_null(), "reason",
                                 !from ? "a provider became connected"
                                 : to  ? "the primary is no longer connected; the next in priority took over"
                                       : "the primary is no longer connected and no backup is");
        if (!from) { /* a first primary is news, not a failover: recorded, not alerted */
            telemetry_system_event("live_stack.primary", "info", cats[i], msg, trace_id, meta);
            json_decref(meta);
            continue;
        }
        snprintf(dedup, sizeof dedup, "failover:%s:%s:%s", cats[i], from, to ? to : "none");
        record_transition("failover", "failover", to ? "warning" : "SEV-1", cats[i], msg, meta, trace_id,
                          dedup, json_object_get(now, "blockers"));
    }
}

void status_refresh(const char *trace_id)
{
    char err[1024], fresh[33];
    if (!trace_id) {
        id_trace_new(fresh);
        trace_id = fresh;
    }
    json_t *d = status_evaluate_with(policy_current(), trace_id, err, sizeof err);
    json_t *traces = json_object();
    attach_traces(json_object_get(d, "blockers"), S.blocker_traces, traces, trace_id);
    json_object_set_new(d, "evaluated_at", clock_json_time(clock_wall_s()));
    json_object_set_new(d, "trace_id", json_string(trace_id));
    /* Before the first database ping answers, the database is "unknown", not down: the decision fails closed
     * (DB_UNAVAILABLE) but is no transition; the first decision with a known state is the one announced. */
    if (db_state_known()) {
        detect_transitions(S.baseline ? S.decision : NULL, d, trace_id);
        S.baseline = 1;
    }
    json_decref(S.decision);
    json_decref(S.blocker_traces);
    S.decision = d;
    S.blocker_traces = traces;
    S.version++;
    const char *st = json_string_value(json_object_get(d, "system_status"));
    metrics_set_system_status(strcmp(st, "OK") == 0         ? 0
                              : strcmp(st, "DEGRADED") == 0 ? 1
                                                            : 2,
                              json_is_true(json_object_get(d, "autonomy_allowed")));
}

const json_t *status_decision(void)
{
    return S.decision;
}

const char *status_execution_provider(int or_backup)
{
    const json_t *ex = json_object_get(json_object_get(status_decision(), "live_stack"), "execution");
    const char *id = json_string_value(json_object_get(json_object_get(ex, "primary"), "providerId"));
    if (!id && or_backup)
        id = json_string_value(
            json_object_get(json_array_get(json_object_get(ex, "backups"), 0), "providerId"));
    return id;
}

json_t *status_candidates(const json_t *decision, const char *category)
{
    const json_t *stack = json_object_get(decision, "live_stack"), *entry;
    json_t *out = json_array();
    size_t i;
    if (!category) return out;
    if (strcmp(category, "market_data") == 0) {
        const json_t *md = json_object_get(stack, "marketData"), *primary = json_object_get(md, "primary");
        if (json_is_object(primary)) json_array_append(out, json_object_get(primary, "providerId"));
        json_array_foreach(json_object_get(md, "backups"), i,
                           entry) if (json_is_true(json_object_get(entry, "connected")))
            json_array_append(out, json_object_get(entry, "providerId"));
    } else if (strcmp(category, "llm") == 0) {
        const json_t *llm = json_object_get(stack, "llm"), *primary = json_object_get(llm, "primary");
        if (json_is_object(primary) && json_is_true(json_object_get(primary, "connected")))
            json_array_append(out, json_object_get(primary, "providerId"));
        json_array_foreach(json_object_get(llm, "fallbacks"), i,
                           entry) if (json_is_true(json_object_get(entry, "connected")))
            json_array_append(out, json_object_get(entry, "providerId"));
    } else if (strcmp(category, "execution") == 0) {
        const json_t *id =
            json_object_get(json_object_get(json_object_get(stack, "execution"), "primary"), "providerId");
        if (json_is_string(id)) json_array_append(out, (json_t *)id);
    } else if (strcmp(category, "execution_backups") == 0) {
        json_array_foreach(json_object_get(json_object_get(stack, "execution"), "backups"), i,
                           entry) if (json_is_string(json_object_get(entry, "providerId")))
            json_array_append(out, json_object_get(entry, "providerId"));
    }
    /* a malformed entry (no providerId) would be a null: drop it */
    for (i = json_array_size(out); i-- > 0;)
        if (!json_is_string(json_array_get(out, i))) json_array_remove(out, i);
    return out;
}

/* The snapshot for safe_start, rebuilt only when what it is made of changes (every bot tick asks twice). */
static json_t *shared_snap;
static uint64_t snap_key;

static json_t *shared_snapshot(struct policy_gen *g)
{
    const struct status_scheduler_facts sch = sched;
    uint64_t k = body_cache_mix(integrations_state_key(), (uint64_t)(uintptr_t)g);
    k = body_cache_mix(body_cache_mix(k, S.version), (uint64_t)db_last_ok_at());
    k = body_cache_mix(body_cache_mix(k, (uint64_t)sch.active), (uint64_t)sch.leader);
    k = body_cache_mix(body_cache_mix(k, (uint64_t)sch.last_tick_at), (uint64_t)sch.loop_lag_ms);
    k = body_cache_mix_str(k, policy_last_error());
    if (!shared_snap || k != snap_key) {
        json_decref(shared_snap);
        shared_snap = status_snapshot(g);
        snap_key = k;
    }
    return json_incref(shared_snap);
}

/* A refused start naming why the gate policy could not answer (fail closed). */
static json_t *start_failed(const char *why, const char *trace_id)
{
    json_t *fc = fail_closed(why, trace_id);
    json_t *out = json_pack("{s:b, s:O}", "allowed", 0, "blockers", json_object_get(fc, "blockers"));
    json_decref(fc);
    return out;
}

/* 1 when out has safe_start's shape {allowed = bool, blockers = [...]}. */
static int valid_start_answer(const json_t *out)
{
    return json_is_object(out) && json_is_boolean(json_object_get(out, "allowed")) &&
           json_is_array(json_object_get(out, "blockers"));
}

json_t *status_safe_start(const json_t *req, const char *trace_id)
{
    struct policy_gen *g = policy_current();
    char err[1024];
    json_t *snap, *out;
    if (!g || !policy_has_function(g, "gates.lua", "safe_start"))
        return start_failed("gates.lua is not loaded or has no safe_start()", trace_id);
    snap = shared_snapshot(g);
    const json_t *args[2] = {req, snap};
    out = policy_call_first(g, "gates.lua", "safe_start", args, 2, err, sizeof err);
    json_decref(snap);
    if (!valid_start_answer(out)) {
        json_t *failed =
            start_failed(out ? "gates.lua safe_start() returned a malformed answer" : err, trace_id);
        json_decref(out);
        return failed;
    }
    attach_traces(json_object_get(out, "blockers"), NULL, NULL, trace_id);
    return out;
}

json_t *status_safe_start_many(const json_t *reqs, const char *const *trace_ids)
{
    struct policy_gen *g = policy_current();
    size_t n = json_array_size(reqs);
    json_t *answers = json_array(), *got = NULL;
    char err[1024] = "gates.lua safe_start_many() returned a malformed answer";
    if (!g || !policy_has_function(g, "gates.lua", "safe_start_many")) {
        for (size_t i = 0; i < n; i++)
            json_array_append_new(answers, status_safe_start(json_array_get(reqs, i), trace_ids[i]));
        return answers;
    }
    json_t *snap = shared_snapshot(g);
    const json_t *args[2] = {reqs, snap};
    got = policy_call_first(g, "gates.lua", "safe_start_many", args, 2, err, sizeof err);
    json_decref(snap);
    if (json_is_array(got) && json_array_size(got) != n) {
        snprintf(err, sizeof err, "gates.lua safe_start_many() returned %zu answers for %zu requests",
                 json_array_size(got), n);
        json_decref(got);
        got = NULL;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *out = json_array_get(got, i);
        if (!valid_start_answer(out)) {
            json_array_append_new(answers, start_failed(got ? "gates.lua safe_start_many() returned a "
                                                              "malformed answer"
                                                            : err,
                                                        trace_ids[i]));
            continue;
        }
        attach_traces(json_object_get(out, "blockers"), NULL, NULL, trace_ids[i]);
        json_array_append(answers, out);
    }
    json_decref(got);
    return answers;
}

/* ---- database facts: trading switch, autonomy tiers, open breakers ---- */

enum fact { FACT_TRADING, FACT_TIERS, FACT_BREAKERS, FACT_BOT_BLOCKERS };

static void on_fact(struct pg_result *res, const char *err, void *arg)
{
    enum fact which = (enum fact)(long)arg;
    S.facts_pending--;
    if (!res) return; /* keep the last known facts; the DB blocker covers an outage */
    S.version++;
    if (which == FACT_TRADING && PQntuples(res) == 1) {
        json_t *v = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
        if (json_is_object(v))
            json_object_set_new(S.facts, "trading",
                                json_pack("{s:b, s:s}", "enabled",
                                          json_is_true(json_object_get(v, "enabled")), "mode",
                                          json_string_value(json_object_get(v, "mode"))
                                              ? json_string_value(json_object_get(v, "mode"))
                                              : "PAPER"));
        json_decref(v);
    } else if (which == FACT_TIERS) {
        json_t *tiers = json_pack("{s:i, s:i, s:i, s:i}", "LOCKED", 0, "SUPERVISED", 0, "LIMITED_AUTONOMY", 0,
                                  "FULL_AUTONOMY", 0);
        for (int i = 0; i < PQntuples(res); i++)
            json_object_set_new(tiers, PQgetvalue(res, i, 0), json_integer(atoll(PQgetvalue(res, i, 1))));
        json_object_set_new(S.facts, "tiers", tiers);
    } else if (which == FACT_BREAKERS) {
        json_t *list = json_array();
        for (int i = 0; i < PQntuples(res); i++)
            json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s}", "bot_id", PQgetvalue(res, i, 0),
                                                  "bot_name", PQgetvalue(res, i, 1), "state",
                                                  PQgetvalue(res, i, 2), "opened_at", PQgetvalue(res, i, 3)));
        json_object_set_new(S.facts, "breakers", list);
    } else if (which == FACT_BOT_BLOCKERS) {
        json_t *list = json_array();
        for (int i = 0; i < PQntuples(res); i++) {
            json_t *x = json_loads(PQgetvalue(res, i, 0), 0, NULL);
            if (x) json_array_append_new(list, x);
        }
        json_object_set_new(S.facts, "bot_blockers", list);
    }
}

static void refresh_facts(evutil_socket_t fd, short what, void *arg)
{
    static const char *sql[] = {
        "SELECT value::text FROM app_settings WHERE key = 'trading'",
        "SELECT autonomy_tier, count(*) FROM autonomy_scores GROUP BY autonomy_tier",
        "SELECT b.id::text, b.name, i.breaker_state, coalesce(to_char(i.breaker_opened_at AT TIME ZONE 'UTC', "
        "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '') FROM bot_instances i JOIN bots b ON b.id = i.bot_id "
        "WHERE i.breaker_state <> 'CLOSED' AND i.state IN ('STARTING', 'RUNNING', 'DEAD')",
        "SELECT json_build_object('bot_id', x.bot_id, 'bot_name', b.name, 'code', x.code, 'stages', x.stages, "
        "'reason_human', x.reason_human, 'raised_at', x.raised_at)::text FROM bot_blockers x JOIN bots b ON b.id = x.bot_id "
        "WHERE x.cleared_at IS NULL ORDER BY x.raised_at"};
    if (S.facts_pending) return;
    for (long i = 0; i < 4; i++)
        if (db_query(sql[i], 0, NULL, 1500, on_fact, (void *)i) == 0) S.facts_pending++;
}

const json_t *status_db_facts(void)
{
    return S.facts;
}

unsigned long status_version(void)
{
    return S.version;
}

static void on_eval_timer(evutil_socket_t fd, short what, void *arg)
{
    status_refresh(NULL);
}

static void on_probe_done(const char *provider_id, const char *trace_id)
{
    status_refresh(trace_id);
}

int status_start(struct event_base *base)
{
    struct timeval eval = {0, EVALUATE_EVERY_MS * 1000}, facts = {FACTS_EVERY_MS / 1000, 0};
    unsigned long version = S.version;
    memset(&S, 0, sizeof S);
    S.version = version + 1; /* a restarted engine never matches a body cached before */
    S.facts = json_pack("{s:{s:b, s:s}, s:{s:i, s:i, s:i, s:i}, s:[]}", "trading", "enabled", 0, "mode",
                        "PAPER", "tiers", "LOCKED", 0, "SUPERVISED", 0, "LIMITED_AUTONOMY", 0,
                        "FULL_AUTONOMY", 0, "breakers");
    json_object_set_new(S.facts, "bot_blockers", json_array());
    S.eval_timer = event_new(base, -1, EV_PERSIST, on_eval_timer, NULL);
    S.facts_timer = event_new(base, -1, EV_PERSIST, refresh_facts, NULL);
    if (!S.eval_timer || !S.facts_timer || event_add(S.eval_timer, &eval) < 0 ||
        event_add(S.facts_timer, &facts) < 0)
        return -1;
    verify_set_listener(on_probe_done);
    refresh_facts(-1, 0, NULL);
    status_refresh(NULL);
    return 0;
}

void status_stop(void)
{
    verify_set_listener(NULL);
    if (S.eval_timer) event_free(S.eval_timer);
    if (S.facts_timer) event_free(S.facts_timer);
    json_decref(S.decision);
    json_decref(S.blocker_traces);
    json_decref(S.facts);
    json_decref(shared_snap);
    shared_snap = NULL;
    memset(&S, 0, sizeof S);
}
