/* test_providers_call.c — the provider-call engine (provider_call_start) against an in-process evhttp server
 * on the same event loop: failover in candidate order, unknown and description-less candidates skipped, one
 * attempt without failover, the C outcome map (5xx, 401, 403, 429, timeout, refused), the judge hook (format
 * checks, records, metadata), the attempts array and one usage event per attempt, limits parsed once at load,
 * provider defaults of template vars from providers.lua, and the bars adapter (marketdata_fetch) on top of
 * it. */
#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "fetch.h"
#include "marketdata.h"
#include "bars.h"
#include "policy.h"
#include "provider_call.h"
#include "providers.h"
#include "tap.h"
#include "telemetry.h"
#include "variables.h"

static struct event_base *base;
static struct evhttp *server;
static int port, dead_port;
static char hits[1024]; /* the paths the server saw, in order, ';'-separated */

static const char POLY_OK[] =
    "{\"status\":\"OK\",\"resultsCount\":2,\"results\":[{\"v\":10,\"o\":1.0,\"c\":1.5,\"h\":2.0,\"l\":0.5,"
    "\"t\":1710252000000},{\"v\":11,\"o\":1.5,\"c\":1.7,\"h\":1.8,\"l\":1.4,\"t\":1710252060000}]}";
static const char POLY_EMPTY[] = "{\"status\":\"OK\",\"resultsCount\":0,\"results\":[]}";

/* ---- the server: /s/<code> answers that status, /ok and /empty answer bars, /slow never in time ---- */

static void on_slow(evutil_socket_t fd, short what, void *arg)
{
    struct evhttp_request *req = arg;
    (void)fd;
    (void)what;
    evhttp_send_reply(req, 200, "OK", NULL);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    struct evbuffer *out = evbuffer_new();
    (void)arg;
    snprintf(hits + strlen(hits), sizeof hits - strlen(hits), "%s;", path);
    if (strncmp(path, "/s/", 3) == 0) {
        evbuffer_add_printf(out, "{\"error\":\"status %s\"}", path + 3);
        evhttp_send_reply(req, atoi(path + 3), "X", out);
    } else if (strncmp(path, "/ok", 3) == 0) {
        evbuffer_add(out, POLY_OK, strlen(POLY_OK));
        evhttp_send_reply(req, 200, "OK", out);
    } else if (strcmp(path, "/empty") == 0) {
        evbuffer_add(out, POLY_EMPTY, strlen(POLY_EMPTY));
        evhttp_send_reply(req, 200, "OK", out);
    } else if (strcmp(path, "/slow") == 0) {
        struct timeval tv = {1, 0};
        event_base_once(base, -1, EV_TIMEOUT, on_slow, req, &tv);
    } else {
        evhttp_send_reply(req, 404, "Not Found", out);
    }
    evbuffer_free(out);
}

static int start_server(void)
{
    struct evhttp_bound_socket *h;
    server = evhttp_new(base);
    evhttp_set_gencb(server, on_request, NULL);
    h = evhttp_bind_socket_with_handle(server, "127.0.0.1", 0);
    if (!h) return -1;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    getsockname(evhttp_bound_socket_get_fd(h), (struct sockaddr *)&ss, &len);
    port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    /* a port nobody listens on: bind, read the port, close */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(fd, (struct sockaddr *)&a, sizeof a);
    len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    dead_port = ntohs(a.sin_port);
    close(fd);
    return 0;
}

/* ---- the generation: the repository's policies with a test providers.lua ---- */

static void provider(char *buf, size_t len, const char *id, int p, const char *path, const char *extra)
{
    size_t n = strlen(buf);
    char up[16];
    size_t i;
    for (i = 0; id[i] && i + 1 < sizeof up; i++)
        up[i] = (char)(id[i] >= 'a' && id[i] <= 'z' ? id[i] - 32 : id[i]);
    up[i] = '\0';
    snprintf(
        buf + n, len - n,
        "{ id = '%s', label = '%s', category = 'market_data', required_env_vars = { 'TEST_%s_KEY' },"
        " optional_env_vars = { 'TEST_%s_DATASET' }, public_env_vars = { 'TEST_%s_DATASET' },"
        " default_base_url = 'http://127.0.0.1:%d', supports_verify = false, suggested_fix = 'x',"
        " setup_instructions = 'y', rate_limit = { requests_per_s = 100, burst = 7, max_concurrency = 3 }%s%s%s%s },\n",
        id, id, up, up, up, p, path ? ", bars = { method = 'GET', path = '" : "", path ? path : "",
        path ? "', format = 'polygon_aggs', timeout_ms = 300 " : "", path ? (extra ? extra : "}") : "");
}

static struct policy_gen *test_generation(void)
{
    static char lua[8192];
    char err[1024];
    snprintf(lua, sizeof lua,
             "return { schema_version = 1, categories = { 'market_data' },\n"
             " priority = { market_data = { 'p500', 'p401', 'pok' } },\n providers = {\n");
    provider(lua, sizeof lua, "p500", port, "/s/500", NULL);
    provider(lua, sizeof lua, "p401", port, "/s/401", NULL);
    provider(lua, sizeof lua, "p403", port, "/s/403", NULL);
    provider(lua, sizeof lua, "p429", port, "/s/429", NULL);
    provider(lua, sizeof lua, "pslow", port, "/slow", NULL);
    provider(lua, sizeof lua, "pdead", dead_port, "/ok", NULL);
    provider(lua, sizeof lua, "pempty", port, "/empty", NULL);
    provider(lua, sizeof lua, "pok", port, "/ok/{symbol}/{dataset}",
             ", vars = { dataset = { env = 'TEST_POK_DATASET', default = 'DFLT' } } }");
    provider(lua, sizeof lua, "pnobars", port, NULL, NULL);
    snprintf(lua + strlen(lua), sizeof lua - strlen(lua), "} }\n");
    struct policy_override o = {"providers.lua", lua};
    struct policy_gen *g = policy_build_candidate(&o, 1, err, sizeof err);
    if (!g) tap_diag("generation: %s", err);
    return g;
}

/* ---- a call and its observation ---- */

struct seen {
    int calls, ok;
    char provider[32], outcome[32];
    json_t *attempts;
};

static int events, events_ok, events_failover;
static char event_ops[256];

static void on_usage(const struct usage_event *ev)
{
    events++;
    if (strcmp(ev->status, "OK") == 0) events_ok++;
    if (json_is_true(json_object_get(ev->metadata, "failover"))) events_failover++;
    snprintf(event_ops + strlen(event_ops), sizeof event_ops - strlen(event_ops), "%s:%s;", ev->provider_id,
             ev->error_code ? ev->error_code : "OK");
}

static void on_done(const struct provider_call_result *r, void *arg)
{
    struct seen *s = arg;
    s->calls++;
    s->ok = r->ok;
    snprintf(s->provider, sizeof s->provider, "%s", r->p ? r->p->id : "");
    snprintf(s->outcome, sizeof s->outcome, "%s", r->outcome ? r->outcome : "");
    s->attempts = json_deep_copy(r->attempts);
    event_base_loopbreak(base);
}

static void reset(struct seen *s)
{
    json_decref(s->attempts);
    memset(s, 0, sizeof *s);
    hits[0] = '\0';
    event_ops[0] = '\0';
    events = events_ok = events_failover = 0;
}

static void run(struct policy_gen *g, const char *ids, int failover, provider_call_judge_fn judge,
                struct seen *s)
{
    json_t *cand = json_loads(ids, 0, NULL);
    json_t *vars = json_pack("{s:s}", "symbol", "ES");
    struct provider_call c = {.gen = g,
                              .candidates = cand,
                              .op = "bars",
                              .vars = vars,
                              .operation = "marketdata.bars",
                              .trace_id = "0123456789abcdef0123456789abcdef",
                              .failover = failover,
                              .judge = judge};
    reset(s);
    tap_is_int(provider_call_start(&c, on_done, s), 0, "provider_call_start starts");
    json_decref(cand);
    json_decref(vars);
    if (!s->calls) event_base_dispatch(base);
}

static const char *attempt_outcome(const struct seen *s, size_t i)
{
    return json_string_value(json_object_get(json_array_get(s->attempts, i), "outcome"));
}

static const char *attempt_provider(const struct seen *s, size_t i)
{
    return json_string_value(json_object_get(json_array_get(s->attempts, i), "provider"));
}

/* A format check like marketdata's: an empty answer is NO_DATA, and records counts the bars. */
static void judge_bars(const struct provider_answer *a, struct provider_verdict *v, void *arg)
{
    (void)arg;
    v->records = 0;
    v->meta = json_pack("{s:s}", "format", "polygon_aggs");
    if (strcmp(v->outcome, "OK") != 0) return;
    v->records = strstr(a->resp->body, "\"resultsCount\":0") ? 0 : 2;
    if (v->records == 0) v->outcome = "NO_DATA";
}

/* ---- tests ---- */

static void test_limits(struct policy_gen *g)
{
    const struct provider_def *p = providers_find(policy_providers(g), "pok");
    tap_ok(p && p->limits.burst == 7 && p->limits.max_concurrency == 3 && p->limits.rate_per_s == 100,
           "rate_limit is parsed into the provider's limits at load");
    tap_ok(p && p->limits.bars_timeout_ms == 300 && p->limits.chat_timeout_ms == 20000 &&
               p->limits.order_timeout_ms == 10000,
           "per-operation timeouts: the description's, else the defaults");
}

static void test_failover(struct policy_gen *g)
{
    struct seen s = {0};
    run(g, "[\"p500\", \"p401\", \"pok\"]", 1, NULL, &s);
    tap_ok(s.calls == 1 && s.ok && strcmp(s.provider, "pok") == 0,
           "failover ends at the first provider that answers");
    tap_is_int((long)json_array_size(s.attempts), 3, "three attempts");
    tap_ok(attempt_provider(&s, 0) && strcmp(attempt_provider(&s, 0), "p500") == 0 &&
               strcmp(attempt_provider(&s, 1), "p401") == 0 && strcmp(attempt_provider(&s, 2), "pok") == 0,
           "attempts in candidate order");
    tap_ok(attempt_outcome(&s, 0) && strcmp(attempt_outcome(&s, 0), "PROVIDER_ERROR") == 0 &&
               strcmp(attempt_outcome(&s, 1), "AUTH_FAILED") == 0 &&
               strcmp(attempt_outcome(&s, 2), "OK") == 0,
           "500 -> PROVIDER_ERROR, 401 -> AUTH_FAILED, 200 -> OK");
    tap_is_str(hits, "/s/500;/s/401;/ok/ES/DFLT;", "the server saw the three requests in order");
    tap_ok(json_is_integer(json_object_get(json_array_get(s.attempts, 0), "latency_ms")),
           "attempts carry latency_ms");
    tap_is_int(events, 3, "one usage event per attempt");
    tap_is_int(events_ok, 1, "one of them OK");
    tap_is_int(events_failover, 2, "the second and third are marked failover");
    tap_is_str(event_ops, "p500:PROVIDER_ERROR;p401:AUTH_FAILED;pok:OK;",
               "events name provider and error code");
    reset(&s);
}

static void test_skips_and_single(struct policy_gen *g)
{
    struct seen s = {0};
    run(g, "[\"nope\", \"pnobars\", \"pok\"]", 1, NULL, &s);
    tap_ok(s.ok && json_array_size(s.attempts) == 1 && strcmp(attempt_provider(&s, 0), "pok") == 0,
           "unknown ids and providers without the op's description are skipped, not attempted");

    run(g, "[\"p500\", \"pok\"]", 0, NULL, &s);
    tap_ok(!s.ok && json_array_size(s.attempts) == 1 && strcmp(s.outcome, "PROVIDER_ERROR") == 0 &&
               strcmp(s.provider, "p500") == 0,
           "without failover only the first candidate is tried");
    tap_is_str(hits, "/s/500;", "the second candidate never saw a request");

    run(g, "[]", 1, NULL, &s);
    tap_ok(s.calls == 1 && !s.ok && !s.outcome[0] && !s.provider[0] && json_array_size(s.attempts) == 0,
           "no candidate: the callback runs at once with no outcome and no attempt");
    tap_is_int(events, 0, "and no usage event");
    reset(&s);
}

static void test_classification(struct policy_gen *g)
{
    struct seen s = {0};
    run(g, "[\"p403\", \"p429\", \"pslow\", \"pdead\"]", 1, NULL, &s);
    tap_ok(!s.ok && json_array_size(s.attempts) == 4, "every candidate failed");
    tap_ok(attempt_outcome(&s, 0) && strcmp(attempt_outcome(&s, 0), "NOT_ENTITLED") == 0,
           "403 -> NOT_ENTITLED");
    tap_ok(attempt_outcome(&s, 1) && strcmp(attempt_outcome(&s, 1), "RATE_LIMITED") == 0,
           "429 -> RATE_LIMITED");
    tap_ok(attempt_outcome(&s, 2) && strcmp(attempt_outcome(&s, 2), "TIMEOUT") == 0,
           "past timeout_ms -> TIMEOUT");
    tap_ok(attempt_outcome(&s, 3) && strcmp(attempt_outcome(&s, 3), "NETWORK_ERROR") == 0,
           "refused -> NETWORK_ERROR");
    tap_ok(strcmp(s.outcome, "NETWORK_ERROR") == 0 && strcmp(s.provider, "pdead") == 0,
           "the result names the last attempt");

    run(g, "[\"pempty\", \"pok\"]", 1, judge_bars, &s);
    tap_ok(s.ok && strcmp(attempt_outcome(&s, 0), "NO_DATA") == 0,
           "the judge hook turns an empty 200 into NO_DATA");
    tap_ok(json_integer_value(json_object_get(json_array_get(s.attempts, 0), "records")) == 0 &&
               json_integer_value(json_object_get(json_array_get(s.attempts, 1), "records")) == 2,
           "records from the judge go into the attempts");
    tap_ok(strcmp(s.provider, "pok") == 0, "a judged failure fails over like a transport one");
    reset(&s);
}

struct md_seen {
    int calls, ok;
    size_t n;
    char provider[32], error[32];
};

static void on_bars(const struct marketdata_result *r, void *arg)
{
    struct md_seen *m = arg;
    m->calls++;
    m->ok = r->ok;
    m->n = r->bars ? r->bars->n : 0;
    snprintf(m->provider, sizeof m->provider, "%s", r->provider_id ? r->provider_id : "");
    snprintf(m->error, sizeof m->error, "%s", r->error_code ? r->error_code : "");
    event_base_loopbreak(base);
}

static void test_marketdata(struct policy_gen *g)
{
    struct md_seen m = {0};
    json_t *cand = json_pack("[s, s, s]", "pempty", "p500", "pok");
    struct marketdata_request req = {"ES", "1m", 60, 0, NULL, NULL, NULL, "0123456789abcdef0123456789abcdef",
                                     g,    cand};
    hits[0] = '\0';
    tap_is_int(marketdata_fetch(&req, on_bars, &m), 0, "marketdata_fetch starts on the engine");
    if (!m.calls) event_base_dispatch(base);
    tap_ok(m.ok && m.n == 2 && strcmp(m.provider, "pok") == 0,
           "the bars adapter parses the answer of the third");
    tap_is_str(hits, "/empty;/s/500;/ok/ES/DFLT;", "the dataset default comes from the description's vars");

    struct md_seen none = {0};
    struct marketdata_request empty = req;
    empty.candidates = NULL;
    tap_is_int(marketdata_fetch(&empty, on_bars, &none), 0, "no candidates: starts");
    tap_ok(none.calls == 1 && !none.ok && strcmp(none.error, "DATA_UNAVAILABLE") == 0,
           "no candidates: DATA_UNAVAILABLE at once");
    req.gen = NULL;
    tap_is_int(marketdata_fetch(&req, on_bars, &m), -1, "a request without a generation is refused");
    json_decref(cand);
}

int main(void)
{
    char err[512];
    base = event_base_new();
    if (config_load(err, sizeof err) < 0 || fetch_init(base) < 0 || start_server() < 0) {
        tap_diag("setup: %s", err);
        return 1;
    }
    telemetry_set_usage_listener(on_usage);
    if (providers_register_validator() < 0 || variables_register_validator() < 0) return 1;
    if (policy_init(err, sizeof err) < 0) tap_diag("policy_init: %s", err);
    struct policy_gen *g = test_generation();
    if (!g) return 1;
    test_limits(g);
    test_failover(g);
    test_skips_and_single(g);
    test_classification(g);
    test_marketdata(g);
    policy_release(g);
    fetch_shutdown();
    evhttp_free(server);
    event_base_free(base);
    return tap_done();
}
