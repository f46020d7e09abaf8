/* verify.c — runs verify probes step by step on the loop and records their outcomes. */
#include "clock.h"
#include "verify.h"

#include <event2/event.h>
#include <libpq-fe.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "db.h"
#include "fetch.h"
#include "fleet.h"
#include "id.h"
#include "log.h"
#include "policy.h"
#include "probe.h"
#include "provider_call.h"
#include "providers.h"
#include "resp.h"
#include "secret.h"
#include "telemetry.h"

#define MAX_TRACKED 64
#define MAX_STEPS 8
#define BODY_CAP_FOR_POLICY 8192
#define TICK_MS 2000

struct waiter {
    verify_done_cb cb;
    void *arg;
    struct waiter *next;
};

struct probe {
    struct policy_gen *gen;
    const struct provider_def *p;
    const json_t *doc; /* the provider's table in the registry document */
    const json_t *steps;
    size_t step; /* index of the running step */
    double started_ms, deadline_ms;
    char trace_id[33], user_id[37];
    char *tokens[MAX_STEPS]; /* token captured from each step's answer (sodium-wiped) */
    char outcome[24], reason[512];
    int decided, http_status;
    int cancelled;            /* the step in flight was cancelled (shutdown): the probe ends */
    struct probe_request req; /* the RESP step's request (HTTP steps are built by the engine) */
    struct waiter *waiters;
    struct entry *entry;
};

struct entry {
    char id[64];
    struct verify_status st;
    struct probe *running;
    int hold_background; /* no_retry provider after AUTH_FAILED/RATE_LIMITED: wait for an operator */
    time_t next_background_at;
};

static verify_listener listener;

void verify_set_listener(verify_listener fn)
{
    listener = fn;
}

static struct {
    struct event_base *base;
    struct entry entries[MAX_TRACKED];
    int count, running, background, refresh_pending;
    struct event *tick;
    unsigned long version; /* bumped whenever a provider's verify status changes */
} vs;

static struct entry *entry_for(const char *id, int create)
{
    for (int i = 0; i < vs.count; i++)
        if (strcmp(vs.entries[i].id, id) == 0) return &vs.entries[i];
    if (!create || vs.count >= MAX_TRACKED) return NULL;
    struct entry *e = &vs.entries[vs.count++];
    memset(e, 0, sizeof *e);
    snprintf(e->id, sizeof e->id, "%s", id);
    return e;
}

static void run_step(struct probe *pr);

/* ---- recording ---- */

static void record(struct probe *pr, int latency_ms)
{
    char host[256] = "";
    int overridden;
    const char *base = providers_base_url(pr->p, &overridden);
    providers_url_host(base, host, sizeof host);
    json_t *meta = json_pack("{s:s, s:i, s:s}", "endpoint", "verify", "http_status", pr->http_status,
                             "outcome", pr->outcome);
    struct usage_event ev = {.provider_id = pr->p->id,
                             .operation = "verify",
                             .status = "VERIFY",
                             .user_id = pr->user_id[0] ? pr->user_id : NULL,
                             .latency_ms = latency_ms,
                             .records = -1,
                             .error_code = strcmp(pr->outcome, "OK") ? pr->outcome : NULL,
                             .trace_id = pr->trace_id,
                             .metadata = meta};
    struct verification_record v = {.provider_id = pr->p->id,
                                    .outcome = pr->outcome,
                                    .base_url_host = host,
                                    .reason_human = pr->reason,
                                    .trace_id = pr->trace_id,
                                    .user_id = pr->user_id[0] ? pr->user_id : NULL,
                                    .http_status = pr->http_status,
                                    .latency_ms = latency_ms,
                                    .verified_at = clock_wall_s()};
    char message[768];
    snprintf(message, sizeof message, "%s verify: %s — %s", pr->p->label, pr->outcome, pr->reason);
    telemetry_usage(&ev);
    telemetry_verification(&v);
    telemetry_system_event("verify", strcmp(pr->outcome, "OK") ? "warning" : "info", pr->p->id, message,
                           pr->trace_id, meta);
    json_decref(meta);
}

static void finish(struct probe *pr)
{
    struct entry *e = pr->entry;
    int latency = (int)(clock_now_ms() - pr->started_ms);
    time_t now = clock_wall_s();
    char esc[600];

    if (!pr->decided) {
        snprintf(pr->outcome, sizeof pr->outcome, "OK");
        if (!pr->reason[0] || strcmp(pr->reason, "OK") == 0)
            snprintf(pr->reason, sizeof pr->reason, "%s answered every probe step", pr->p->label);
    }
    snprintf(e->st.outcome, sizeof e->st.outcome, "%s", pr->outcome);
    snprintf(e->st.reason_human, sizeof e->st.reason_human, "%s", pr->reason);
    e->st.has_result = 1;
    e->st.running = 0;
    e->st.verified_at = now;
    vs.version++;
    e->st.latency_ms = latency;
    e->st.http_status = pr->http_status;
    if (strcmp(pr->outcome, "OK") == 0) e->st.last_ok_at = now;
    e->hold_background =
        json_is_true(json_object_get(pr->doc, "no_retry")) &&
        (strcmp(pr->outcome, "AUTH_FAILED") == 0 || strcmp(pr->outcome, "RATE_LIMITED") == 0);
    e->next_background_at = 0;
    e->running = NULL;
    vs.running--;
    record(pr, latency);
    LOG_INFO(pr->trace_id, "verify finished", "provider=%s outcome=%s ms=%d http_status=%d reason=\"%s\"",
             pr->p->id, pr->outcome, latency, pr->http_status, log_escape(pr->reason, esc, sizeof esc));

    if (listener) listener(pr->p->id, pr->trace_id);
    struct verify_result r = {
        pr->p->id,       pr->outcome, pr->reason, strcmp(pr->outcome, "OK") ? "DEGRADED" : "VERIFIED",
        pr->http_status, latency,     now,        pr->trace_id};
    for (struct waiter *w = pr->waiters, *next; w; w = next) {
        next = w->next;
        w->cb(&r, w->arg);
        free(w);
    }
    for (int i = 0; i < MAX_STEPS; i++)
        if (pr->tokens[i]) {
            sodium_memzero(pr->tokens[i], strlen(pr->tokens[i]));
            free(pr->tokens[i]);
        }
    probe_request_free(&pr->req);
    policy_release(pr->gen);
    free(pr);
}

/* ---- classification ---- */

static int step_index(struct probe *pr, const char *name)
{
    for (size_t i = 0; name && i < json_array_size(pr->steps); i++)
        if (strcmp(json_string_value(json_object_get(json_array_get(pr->steps, i), "name")), name) == 0)
            return (int)i;
    return -1;
}

static const char *token_of(void *ctx, const char *step_name)
{
    struct probe *pr = ctx;
    int i = step_index(pr, step_name);
    return i >= 0 && i < MAX_STEPS ? pr->tokens[i] : NULL;
}

/* json_field names that later steps take from this step's answer (tokens). */
static void capture_tokens(struct probe *pr, json_t *answer)
{
    const char *name = json_string_value(json_object_get(json_array_get(pr->steps, pr->step), "name"));
    for (size_t i = pr->step + 1; i < json_array_size(pr->steps); i++) {
        const json_t *auth = json_object_get(json_array_get(pr->steps, i), "auth");
        const char *from = json_string_value(json_object_get(auth, "step"));
        const char *field = json_string_value(json_object_get(auth, "json_field"));
        json_t *tok = field ? json_object_get(answer, field) : NULL;
        if (!from || strcmp(from, name) != 0 || !json_is_string(tok) || pr->step >= MAX_STEPS) continue;
        if (!pr->tokens[pr->step]) pr->tokens[pr->step] = strdup(json_string_value(tok));
        /* the classifier may see that a token came back, never the token itself */
        sodium_memzero((char *)json_string_value(tok), json_string_length(tok));
        json_object_set_new(answer, field, json_string("••••"));
    }
}

/* Redacts and caps the body for the policy, replacing captured tokens too. Returns a malloc'd string. */
static char *body_for_policy(struct probe *pr, const char *body, size_t len, size_t *outlen)
{
    char *clean = secret_redact(body ? body : "", body ? len : 0, outlen);
    if (!clean) return NULL;
    for (int i = 0; i < MAX_STEPS; i++) {
        char *at;
        size_t tl = pr->tokens[i] ? strlen(pr->tokens[i]) : 0;
        while (tl >= 4 && (at = strstr(clean, pr->tokens[i]))) {
            memset(at, '*', tl);
        }
    }
    if (*outlen > BODY_CAP_FOR_POLICY) {
        clean[BODY_CAP_FOR_POLICY] = '\0';
        *outlen = BODY_CAP_FOR_POLICY;
    }
    return clean;
}

/* Judges one step's answer with the provider's Lua classify (redacted, capped body; tokens masked); the first
 * non-OK step decides the probe. Returns the step's outcome. */
static const char *classify(struct probe *pr, int http_status, const char *body, size_t len,
                            const char *transport_error, const char *env_key)
{
    const json_t *step = json_array_get(pr->steps, pr->step);
    const char *name = json_string_value(json_object_get(step, "name"));
    char reason[512];
    size_t clean_len = 0;
    json_t *raw = body && len ? json_loadb(body, len, 0, NULL) : NULL;
    if (raw) capture_tokens(pr, raw);
    char *clean = body_for_policy(pr, body, len, &clean_len);
    json_t *decoded = clean && raw ? json_loadb(clean, clean_len, 0, NULL) : NULL;
    if (raw && !decoded) decoded = json_incref(raw); /* cap cut the JSON: hand over the token-masked parse */
    json_t *arg =
        json_pack("{s:s, s:i, s:s}", "step", name, "status", http_status, "body", clean ? clean : "");
    if (decoded) json_object_set_new(arg, "json", decoded);
    if (transport_error) json_object_set_new(arg, "transport_error", json_string(transport_error));
    if (env_key) json_object_set_new(arg, "env", json_string(env_key));
    json_decref(raw);
    free(clean);

    const char *outcome = provider_call_classify(pr->gen, pr->p, arg, pr->trace_id, reason, sizeof reason);
    json_decref(arg);
    if (!pr->decided && strcmp(outcome, "OK") != 0) {
        pr->decided = 1;
        pr->http_status = http_status;
        snprintf(pr->outcome, sizeof pr->outcome, "%s", outcome);
        snprintf(pr->reason, sizeof pr->reason, "%s", reason);
    } else if (!pr->decided && (pr->step == 0 || !json_is_true(json_object_get(step, "always_run")))) {
        pr->http_status = http_status; /* the last substantive step speaks for an OK probe, not the logout */
        snprintf(pr->reason, sizeof pr->reason, "%s", reason);
    }
    return outcome;
}

/* ---- step execution ---- */

static const char *transport_name(enum fetch_status st)
{
    return st == FETCH_ETIMEOUT ? "timeout" : st == FETCH_OK ? NULL : "network";
}

static void next_step(struct probe *pr)
{
    probe_request_free(&pr->req);
    pr->step++;
    run_step(pr);
}

/* The engine's judge hook for an HTTP step: the provider's Lua classify, or the probe's own verdicts when the
 * step could not be built or was cancelled (shutdown). */
static void judge_step(const struct provider_answer *a, struct provider_verdict *v, void *arg)
{
    struct probe *pr = arg;
    const struct fetch_response *resp = a->resp;
    if (!resp && !a->req) {
        if (!pr->decided) {
            pr->decided = 1;
            snprintf(pr->outcome, sizeof pr->outcome, "AUTH_FAILED");
            snprintf(pr->reason, sizeof pr->reason, "The probe could not be built: %s.", a->error);
        }
        v->outcome = "AUTH_FAILED";
    } else if (!resp) {
        v->outcome = classify(pr, 0, NULL, 0, "network", a->req->env_key);
    } else if (resp->status == FETCH_ECANCELLED) {
        if (!pr->decided) {
            pr->decided = 1;
            snprintf(pr->outcome, sizeof pr->outcome, "NETWORK_ERROR");
            snprintf(pr->reason, sizeof pr->reason, "The probe was cancelled (gatehouse is shutting down).");
        }
        pr->cancelled = 1;
        v->outcome = "NETWORK_ERROR";
    } else {
        v->outcome =
            classify(pr, (int)resp->http_status, resp->body, resp->body_len,
                     resp->status == FETCH_ETOOBIG ? NULL : transport_name(resp->status), a->req->env_key);
    }
}

static void on_step_done(const struct provider_call_result *r, void *arg)
{
    struct probe *pr = arg;
    (void)r;
    if (pr->cancelled) {
        pr->step = json_array_size(pr->steps);
        finish(pr);
        return;
    }
    next_step(pr);
}

static void on_resp_done(enum fetch_status status, const char *reply, double total_ms, const char *error,
                         void *arg)
{
    struct probe *pr = arg;
    classify(pr, 0, reply, reply ? strlen(reply) : 0,
             transport_name(status == FETCH_EINTERNAL ? FETCH_ENETWORK : status), NULL);
    next_step(pr);
}

/* An HTTP step on the provider-call engine: one attempt at this provider, within the probe's remaining time.
 */
static void start_http(struct probe *pr, const json_t *step, int remaining_ms)
{
    json_t *candidate = json_pack("[s]", pr->p->id);
    struct provider_call pc = {.gen = pr->gen,
                               .candidates = candidate,
                               .op = "verify",
                               .step = step,
                               .trace_id = pr->trace_id,
                               .user_id = pr->user_id,
                               .timeout_ms = remaining_ms,
                               .max_response_bytes = 256 * 1024,
                               .token_of = token_of,
                               .token_ctx = pr,
                               .judge = judge_step,
                               .hook_arg = pr};
    int rc = provider_call_start(&pc, on_step_done, pr);
    json_decref(candidate);
    if (rc < 0) {
        classify(pr, 0, NULL, 0, "network", NULL);
        next_step(pr);
    }
}

/* A Redis step: RESP over a socket (resp.c), outside the HTTP engine. */
static void start_resp(struct probe *pr, const json_t *step, int remaining_ms)
{
    char err[256];
    if (probe_build(pr->p, pr->doc, step, token_of, pr, &pr->req, err, sizeof err) < 0) {
        if (!pr->decided) {
            pr->decided = 1;
            snprintf(pr->outcome, sizeof pr->outcome, "AUTH_FAILED");
            snprintf(pr->reason, sizeof pr->reason, "The probe could not be built: %s.", err);
        }
        next_step(pr);
        return;
    }
    struct resp_request rr = {pr->req.url, pr->req.resp_command, remaining_ms};
    if (resp_start(&rr, on_resp_done, pr) < 0) {
        classify(pr, 0, NULL, 0, "network", NULL);
        next_step(pr);
    }
}

/* Skips steps after a failure, except always_run steps whose token exists. */
static int should_run(struct probe *pr, const json_t *step)
{
    if (!pr->decided) return 1;
    if (!json_is_true(json_object_get(step, "always_run"))) return 0;
    const char *from = json_string_value(json_object_get(json_object_get(step, "auth"), "step"));
    return from && token_of(pr, from) != NULL;
}

static void run_step(struct probe *pr)
{
    int remaining;
    const json_t *step;

    for (;; pr->step++) {
        if (pr->step >= json_array_size(pr->steps)) {
            finish(pr);
            return;
        }
        step = json_array_get(pr->steps, pr->step);
        if (should_run(pr, step)) break;
    }
    remaining = (int)(pr->deadline_ms - clock_now_ms());
    if (remaining <= 0) {
        classify(pr, 0, NULL, 0, "timeout", NULL);
        pr->step = json_array_size(pr->steps);
        finish(pr);
        return;
    }
    const char *scheme = json_string_value(json_object_get(json_object_get(step, "auth"), "scheme"));
    if (scheme && strcmp(scheme, "resp") == 0)
        start_resp(pr, step, remaining);
    else
        start_http(pr, step, remaining);
}

/* ---- public ---- */

int verify_start(const char *provider_id, const char *trace_id, const char *user_id, verify_done_cb cb,
                 void *arg, char *err, size_t errlen)
{
    struct policy_gen *g = policy_current();
    const struct provider_registry *reg = policy_providers(g);
    const struct provider_def *p = reg ? providers_find(reg, provider_id) : NULL;
    struct entry *e;
    struct waiter *w;

    if (!p || !p->supports_verify || !(e = entry_for(p->id, 1))) {
        snprintf(err, errlen, p ? "%s has no verify probe" : "unknown provider", provider_id);
        return -1;
    }
    w = calloc(1, sizeof *w);
    w->cb = cb;
    w->arg = arg;
    if (e->running) { /* join the running probe: one attempt serves every caller */
        w->next = e->running->waiters;
        e->running->waiters = w;
        return 0;
    }
    struct probe *pr = calloc(1, sizeof *pr);
    pr->gen = policy_retain(g);
    pr->p = p;
    pr->doc = json_array_get(json_object_get(reg->doc, "providers"), p->index - 1);
    pr->steps = json_object_get(p->verify, "steps");
    pr->started_ms = clock_now_ms();
    pr->deadline_ms = pr->started_ms + (double)json_integer_value(json_object_get(p->verify, "timeout_ms"));
    snprintf(pr->trace_id, sizeof pr->trace_id, "%s", trace_id);
    snprintf(pr->user_id, sizeof pr->user_id, "%s", user_id ? user_id : "");
    pr->waiters = w;
    pr->entry = e;
    e->running = pr;
    e->st.running = 1;
    e->hold_background = 0;
    vs.version++;
    vs.running++;
    run_step(pr);
    return 0;
}

void verify_status_of(const char *provider_id, struct verify_status *out)
{
    struct entry *e = entry_for(provider_id, 0);
    if (e)
        *out = e->st;
    else
        memset(out, 0, sizeof *out);
}

int verify_connected(const struct verify_status *st, int ttl_s, time_t now)
{
    return st->has_result && strcmp(st->outcome, "OK") == 0 && now < st->verified_at + ttl_s;
}

int verify_running(void)
{
    return vs.running;
}

unsigned long verify_version(void)
{
    return vs.version;
}

/* ---- background re-verification ---- */

static void on_background_done(const struct verify_result *r, void *arg)
{
    (void)r;
    (void)arg;
}

/* When a configured provider's result is due: never verified, or within lead time of its TTL (10 % of the
 * TTL plus up to 5 % jitter, chosen once per result, plus one timer period so the check is never late). */
static time_t due_at(struct entry *e, int ttl_s)
{
    if (!e->st.has_result) return 0;
    if (!e->next_background_at) {
        int lead = ttl_s / 10 + (int)randombytes_uniform((uint32_t)(ttl_s / 20 + 1)) + TICK_MS / 1000;
        e->next_background_at = e->st.verified_at + ttl_s - lead;
    }
    return e->next_background_at;
}

/* The latest verification per provider (and its latest OK), as seed_from_database and the followers read it.
 */
#define LATEST_SQL                                                                                           \
    "SELECT DISTINCT ON (provider_id) provider_id, outcome, coalesce(reason_human, ''), "                    \
    "extract(epoch FROM verified_at)::bigint, coalesce(latency_ms, 0), coalesce(http_status, 0), "           \
    "coalesce((SELECT extract(epoch FROM max(v2.verified_at))::bigint FROM verifications v2 "                \
    "          WHERE v2.provider_id = v.provider_id AND v2.outcome = 'OK'), 0) "                             \
    "FROM verifications v ORDER BY provider_id, verified_at DESC"

/* Takes row i of LATEST_SQL as the provider's status when it is newer than what this instance knows and no
 * probe of it runs here. Returns 1 when it did. */
static int adopt_row(PGresult *res, int i)
{
    struct entry *e = entry_for(PQgetvalue(res, i, 0), 1);
    time_t at = (time_t)atoll(PQgetvalue(res, i, 3));
    if (!e || e->running || (e->st.has_result && at <= e->st.verified_at)) return 0;
    e->st.has_result = 1;
    snprintf(e->st.outcome, sizeof e->st.outcome, "%s", PQgetvalue(res, i, 1));
    snprintf(e->st.reason_human, sizeof e->st.reason_human, "%s", PQgetvalue(res, i, 2));
    e->st.verified_at = at;
    e->st.latency_ms = atoi(PQgetvalue(res, i, 4));
    e->st.http_status = atoi(PQgetvalue(res, i, 5));
    e->st.last_ok_at = (time_t)atoll(PQgetvalue(res, i, 6));
    vs.version++;
    return 1;
}

/* A follower's refresh: the verifications the leader's background probes (or any instance's operator)
 * recorded become this instance's status too. */
static void on_latest(struct pg_result *res, const char *err, void *arg)
{
    vs.refresh_pending = 0;
    if (!res) return; /* the database is down: the gates see that directly */
    for (int i = 0; i < PQntuples(res); i++)
        if (adopt_row(res, i) && listener) listener(PQgetvalue(res, i, 0), NULL);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    if (!fleet_is_leader()) { /* background verify is a singleton of the fleet: followers read its results */
        if (!vs.refresh_pending && db_query(LATEST_SQL, 0, NULL, 2000, on_latest, NULL) == 0)
            vs.refresh_pending = 1;
        return;
    }
    const struct provider_registry *reg = policy_providers(policy_current());
    time_t now = clock_wall_s();
    char err[256], trace[33];
    for (size_t i = 0; reg && i < reg->count; i++) {
        const struct provider_def *p = &reg->providers[i];
        json_t *missing;
        struct entry *e;
        if (!p->supports_verify || !(e = entry_for(p->id, 1)) || e->running || e->hold_background) continue;
        if (now < due_at(e, p->verify_ttl_s ? p->verify_ttl_s : cfg.verify_ttl_s)) continue;
        missing = providers_missing_env(p);
        if (json_array_size(missing) == 0) {
            id_trace_new(trace);
            verify_start(p->id, trace, NULL, on_background_done, NULL, err, sizeof err);
        }
        json_decref(missing);
    }
}

/* Loads the latest verification per provider so a restart does not forget what was proven. */
static int seed_from_database(const char *conninfo, char *err, size_t errlen)
{
    PGconn *conn = PQconnectdb(conninfo);
    PGresult *res;
    if (PQstatus(conn) != CONNECTION_OK) {
        snprintf(err, errlen, "verify seed: cannot connect: %s", PQerrorMessage(conn));
        err[strcspn(err, "\n")] = '\0';
        PQfinish(conn);
        return -1;
    }
    res = PQexec(conn, LATEST_SQL);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "verify seed: %s", PQresultErrorMessage(res));
        err[strcspn(err, "\n")] = '\0';
        PQclear(res);
        PQfinish(conn);
        return -1;
    }
    for (int i = 0; i < PQntuples(res); i++)
        adopt_row(res, i);
    PQclear(res);
    PQfinish(conn);
    return 0;
}

int verify_init(struct event_base *base, const char *conninfo, int background, char *err, size_t errlen)
{
    struct timeval every = {TICK_MS / 1000, (TICK_MS % 1000) * 1000};
    memset(&vs, 0, sizeof vs);
    vs.base = base;
    vs.background = background;
    if (seed_from_database(conninfo, err, errlen) < 0) return -1;
    if (background) {
        vs.tick = event_new(base, -1, EV_PERSIST, on_tick, NULL);
        if (!vs.tick || event_add(vs.tick, &every) < 0) {
            snprintf(err, errlen, "cannot arm the background verifier");
            return -1;
        }
    }
    return 0;
}

void verify_shutdown(void)
{
    if (vs.tick) event_free(vs.tick);
    vs.tick = NULL;
}
