/* test_fetch.c — unit tests for runtime/fetch.c against an in-process evhttp server on the same event loop:
 * answers, status codes, deadlines (while other transfers proceed), response caps, refused connections,
 * headers/Basic auth/bodies, redirects not followed, cancel, the per-key limiter (rate and concurrency,
 * deadline while queued), shutdown with pending transfers, and re-initialisation. */
#include "fetch.h"
#include "tap.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static struct event_base *base;
static struct evhttp *server;
static int port;
static int done_count, completion_seq;
static int slow_active, slow_max;

struct slow_reply {
    struct evhttp_request *req;
    struct event *ev;
};

struct result {
    int calls, order;
    enum fetch_status status;
    long http_status;
    char body[8192];
    size_t body_len, body_strlen;
    char content_type[128];
    char error[160];
    int has_error;
    double total_ms, queued_ms, done_at;
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* ---- the server ---- */

static long query_long(struct evhttp_request *req, const char *name, long dflt)
{
    struct evkeyvalq q = {0};
    const char *raw = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    long v = dflt;
    if (raw && evhttp_parse_query_str(raw, &q) == 0) {
        const char *s = evhttp_find_header(&q, name);
        if (s) v = strtol(s, NULL, 10);
    }
    evhttp_clear_headers(&q);
    return v;
}

static void reply_text(struct evhttp_request *req, int code, const char *ctype, const char *body, size_t len)
{
    struct evbuffer *out = evbuffer_new();
    evbuffer_add(out, body, len);
    if (ctype) evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", ctype);
    evhttp_send_reply(req, code, NULL, out);
    evbuffer_free(out);
}

static void on_slow_timer(evutil_socket_t fd, short what, void *arg)
{
    struct slow_reply *s = arg;
    slow_active--;
    reply_text(s->req, 200, "text/plain", "slow", 4);
    event_free(s->ev);
    free(s);
}

static void handle_slow(struct evhttp_request *req)
{
    struct slow_reply *s = calloc(1, sizeof *s);
    long ms = query_long(req, "ms", 100);
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    s->req = req;
    s->ev = evtimer_new(base, on_slow_timer, s);
    evtimer_add(s->ev, &tv);
    if (++slow_active > slow_max) slow_max = slow_active;
}

static void handle_echo(struct evhttp_request *req)
{
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    const char *auth = evhttp_find_header(h, "Authorization"), *key = evhttp_find_header(h, "X-Api-Key");
    const char *method = "OTHER";
    switch (evhttp_request_get_command(req)) {
    case EVHTTP_REQ_GET:
        method = "GET";
        break;
    case EVHTTP_REQ_POST:
        method = "POST";
        break;
    case EVHTTP_REQ_PUT:
        method = "PUT";
        break;
    default:
        break;
    }
    char text[4096];
    size_t blen = evbuffer_get_length(in);
    int n = snprintf(text, sizeof text, "method=%s\nauth=%s\nx-api-key=%s\nbody=%.*s", method,
                     auth ? auth : "-", key ? key : "-", (int)blen, (const char *)evbuffer_pullup(in, -1));
    reply_text(req, 200, "text/plain", text, (size_t)n);
}

static void handle(struct evhttp_request *req, void *arg)
{
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    if (strcmp(path, "/ok") == 0) {
        reply_text(req, 200, "application/json", "{\"ok\":true}", 11);
    } else if (strcmp(path, "/status/503") == 0) {
        reply_text(req, 503, "application/json", "{\"ok\":false}", 12);
    } else if (strcmp(path, "/slow") == 0) {
        handle_slow(req);
    } else if (strcmp(path, "/hang") == 0) {
        /* never answered: the client's deadline, cancel or shutdown closes the connection */
    } else if (strcmp(path, "/big") == 0) {
        size_t n = (size_t)query_long(req, "n", 100);
        char *buf = malloc(n);
        memset(buf, 'x', n);
        reply_text(req, 200, "application/octet-stream", buf, n);
        free(buf);
    } else if (strcmp(path, "/echo") == 0) {
        handle_echo(req);
    } else if (strcmp(path, "/redirect") == 0) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Location", "/ok");
        reply_text(req, 302, "text/plain", "moved", 5);
    } else {
        reply_text(req, 404, "text/plain", "no", 2);
    }
}

static int start_server(void)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof sin;
    server = evhttp_new(base);
    evhttp_set_gencb(server, handle, NULL);
    evhttp_set_allowed_methods(server, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT | EVHTTP_REQ_HEAD);
    struct evhttp_bound_socket *bound = evhttp_bind_socket_with_handle(server, "127.0.0.1", 0);
    if (!bound) return -1;
    if (getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&sin, &len) < 0) return -1;
    port = ntohs(sin.sin_port);
    return 0;
}

/* A port nobody listens on: bind, read the port, close. */
static int closed_port(void)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sin;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    bind(fd, (struct sockaddr *)&sin, sizeof sin);
    getsockname(fd, (struct sockaddr *)&sin, &len);
    close(fd);
    return ntohs(sin.sin_port);
}

/* ---- the client side ---- */

static void on_done(const struct fetch_response *r, void *arg)
{
    struct result *res = arg;
    res->calls++;
    res->order = ++completion_seq;
    res->status = r->status;
    res->http_status = r->http_status;
    size_t keep = r->body_len < sizeof res->body - 1 ? r->body_len : sizeof res->body - 1;
    memcpy(res->body, r->body, keep);
    res->body[keep] = '\0';
    res->body_len = r->body_len;
    res->body_strlen = strlen(r->body); /* NUL-terminated right after body_len */
    snprintf(res->content_type, sizeof res->content_type, "%s", r->content_type ? r->content_type : "");
    res->has_error = r->error != NULL;
    snprintf(res->error, sizeof res->error, "%s", r->error ? r->error : "");
    res->total_ms = r->total_ms;
    res->queued_ms = r->queued_ms;
    res->done_at = now_ms();
    done_count++;
}

static void on_tick(evutil_socket_t fd, short what, void *arg) {}

/* Runs the loop until done_count reaches target or max_ms passes. Returns 1 when reached. */
static int run_until(int target, int max_ms)
{
    double deadline = now_ms() + max_ms;
    struct event *tick = event_new(base, -1, EV_PERSIST, on_tick, NULL);
    struct timeval tv = {0, 5000};
    event_add(tick, &tv);
    while (done_count < target && now_ms() < deadline)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(tick);
    return done_count >= target;
}

static void run_for(int ms)
{
    run_until(1 << 30, ms);
}

static char *url_for(char *buf, size_t len, const char *path)
{
    snprintf(buf, len, "http://127.0.0.1:%d%s", port, path);
    return buf;
}

static struct fetch_request get(const char *url, int timeout_ms)
{
    struct fetch_request r = {.method = "GET", .url = url, .timeout_ms = timeout_ms};
    return r;
}

static long start(struct fetch_request r, struct result *res)
{
    memset(res, 0, sizeof *res);
    return fetch_start(&r, on_done, res);
}

/* ---- tests ---- */

static void test_invalid(void)
{
    struct result res;
    char url[128];
    tap_is_int(start(get(NULL, 1000), &res), -1, "no URL is refused");
    tap_is_int(start(get("ftp://127.0.0.1/x", 1000), &res), -1, "a non-HTTP scheme is refused");
    tap_is_int(start(get(url_for(url, sizeof url, "/ok"), 0), &res), -1, "timeout 0 is refused");
    const char *bad_headers[] = {"X-A: 1\r\nX-Injected: 2", NULL};
    struct fetch_request r = get(url, 1000);
    r.headers = bad_headers;
    tap_is_int(start(r, &res), -1, "a header with CR/LF is refused");
    r = get(url, 1000);
    r.method = "get";
    tap_is_int(start(r, &res), -1, "a lower-case method is refused");
    tap_is_int(fetch_inflight(), 0, "nothing in flight after refusals");
    tap_is_str(fetch_status_name(FETCH_ETOOBIG), "TOO_BIG", "status names");
}

static void test_ok_and_status(void)
{
    struct result ok, unavailable;
    char u1[128], u2[128];
    int base_count = done_count;
    tap_ok(start(get(url_for(u1, sizeof u1, "/ok"), 2000), &ok) > 0, "fetch_start returns a handle");
    start(get(url_for(u2, sizeof u2, "/status/503"), 2000), &unavailable);
    tap_is_int(ok.calls, 0, "the callback does not run inside fetch_start");
    tap_is_int(fetch_inflight(), 2, "two in flight");
    run_until(base_count + 2, 3000);
    tap_is_int(ok.status, FETCH_OK, "/ok: FETCH_OK");
    tap_is_int(ok.http_status, 200, "/ok: HTTP 200");
    tap_is_str(ok.body, "{\"ok\":true}", "/ok: body");
    tap_is_int(ok.body_len, 11, "/ok: body_len");
    tap_is_str(ok.content_type, "application/json", "/ok: content type captured");
    tap_ok(!ok.has_error, "/ok: no error string");
    tap_ok(ok.queued_ms < 5, "/ok: no limiter wait (%.2f ms)", ok.queued_ms);
    tap_is_int(unavailable.status, FETCH_OK, "503 is an HTTP answer: FETCH_OK");
    tap_is_int(unavailable.http_status, 503, "503 reported as http_status");
    tap_is_int(ok.calls + unavailable.calls, 2, "each callback ran once");
}

static void test_timeout_does_not_block(void)
{
    struct result hang, ok;
    char u1[160], u2[128];
    int base_count = done_count;
    start(get(url_for(u1, sizeof u1, "/hang?api_key=sekrit-777"), 300), &hang);
    start(get(url_for(u2, sizeof u2, "/ok"), 2000), &ok);
    run_until(base_count + 2, 2000);
    tap_is_int(hang.status, FETCH_ETIMEOUT, "/hang: FETCH_ETIMEOUT");
    tap_ok(hang.total_ms >= 290 && hang.total_ms < 500, "timed out near the deadline (%.1f ms)",
           hang.total_ms);
    tap_is_int(hang.http_status, 0, "no HTTP status on timeout");
    tap_ok(ok.status == FETCH_OK && ok.order < hang.order, "an /ok started later completed first");
    tap_ok(strstr(hang.error, "request timed out") != NULL,
           "connected, so the request (not connect) timed out");
    tap_ok(!strstr(hang.error, "sekrit") && !strstr(hang.error, "127.0.0.1") && !strstr(hang.error, "hang"),
           "timeout error names no URL part: %s", hang.error);
}

static void test_size_cap(void)
{
    struct result big, exact, large;
    char u1[128], u2[128], u3[128];
    int base_count = done_count;
    start(get(url_for(u3, sizeof u3, "/big?n=200000"), 2000), &large);
    struct fetch_request r = get(url_for(u1, sizeof u1, "/big?n=50000"), 2000);
    r.max_response_bytes = 1000;
    start(r, &big);
    r = get(url_for(u2, sizeof u2, "/big?n=1000"), 2000);
    r.max_response_bytes = 1000;
    start(r, &exact);
    run_until(base_count + 3, 3000);
    tap_is_int(large.status, FETCH_OK, "200000 bytes under the default 1 MiB cap: FETCH_OK");
    tap_ok(large.body_len == 200000 && large.body_strlen == 200000, "whole body, NUL-terminated");
    tap_is_int(big.status, FETCH_ETOOBIG, "50000 bytes over a 1000 cap: FETCH_ETOOBIG");
    tap_is_int(big.body_len, 1000, "the first 1000 bytes are kept");
    tap_ok(big.body[0] == 'x' && big.body[999] == 'x' && big.body_strlen == 1000,
           "kept bytes are the body's");
    tap_ok(strstr(big.error, "1000") != NULL, "error states the cap: %s", big.error);
    tap_is_int(exact.status, FETCH_OK, "exactly the cap is fine");
    tap_is_int(exact.body_len, 1000, "all 1000 bytes");
}

static void test_refused(void)
{
    struct result res;
    char url[160];
    int base_count = done_count;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x?token=sekrit-999", closed_port());
    start(get(url, 2000), &res);
    run_until(base_count + 1, 3000);
    tap_is_int(res.status, FETCH_ENETWORK, "refused port: FETCH_ENETWORK");
    tap_is_int(res.http_status, 0, "no HTTP status");
    tap_ok(res.has_error && !strstr(res.error, "sekrit") && !strstr(res.error, "127.0.0.1"),
           "network error names no URL part: %s", res.error);
}

static void test_headers_auth_body(void)
{
    struct result post, put;
    char u[128];
    const char *headers[] = {"X-Api-Key: key-abc-123", "Accept: text/plain", NULL};
    char body[] = "{\"a\":1}";
    int base_count = done_count;
    struct fetch_request r = get(url_for(u, sizeof u, "/echo"), 2000);
    r.method = "POST";
    r.headers = headers;
    r.userpwd = "alice:s3cret";
    r.body = body;
    r.body_len = strlen(body);
    start(r, &post);
    memset(body, 0, sizeof body); /* fetch.c owns a copy */
    r.method = "PUT";
    r.userpwd = NULL;
    r.body = "put-body";
    r.body_len = 8;
    start(r, &put);
    run_until(base_count + 2, 3000);
    tap_ok(strstr(post.body, "method=POST\n") != NULL, "POST arrived");
    tap_ok(strstr(post.body, "auth=Basic YWxpY2U6czNjcmV0\n") != NULL, "HTTP Basic from userpwd");
    tap_ok(strstr(post.body, "x-api-key=key-abc-123\n") != NULL, "custom header arrived");
    tap_ok(strstr(post.body, "body={\"a\":1}") != NULL, "POST body arrived (copied at start)");
    tap_ok(strstr(put.body, "method=PUT\n") && strstr(put.body, "body=put-body"), "PUT with a body");
    tap_ok(strstr(put.body, "auth=-\n") != NULL, "no Authorization without userpwd");
}

static void test_redirect(void)
{
    struct result res;
    char u[128];
    int base_count = done_count;
    start(get(url_for(u, sizeof u, "/redirect"), 2000), &res);
    run_until(base_count + 1, 3000);
    tap_is_int(res.status, FETCH_OK, "redirect: FETCH_OK");
    tap_is_int(res.http_status, 302, "redirect not followed: 302 reported");
    tap_is_str(res.body, "moved", "the redirect's own body");
}

static void test_cancel(void)
{
    struct result res, queued;
    char u[128];
    int base_count = done_count;
    long h = start(get(url_for(u, sizeof u, "/hang"), 5000), &res);
    struct fetch_request r = get(u, 5000);
    r.limit_key = "cancel-key";
    r.max_concurrency = 1;
    struct result holder;
    long h1 = start(r, &holder);
    long h2 = start(r, &queued);
    run_for(30);
    fetch_cancel(h);
    fetch_cancel(h2);
    tap_is_int(res.calls + queued.calls, 0, "no callback inside fetch_cancel");
    fetch_cancel(h);
    fetch_cancel(987654321);
    run_until(base_count + 2, 1000);
    run_for(50);
    tap_is_int(res.calls, 1, "cancelled callback ran exactly once");
    tap_is_int(res.status, FETCH_ECANCELLED, "FETCH_ECANCELLED");
    tap_is_int(queued.calls, 1, "cancelled queued request ran once");
    tap_is_int(queued.status, FETCH_ECANCELLED, "queued: FETCH_ECANCELLED");
    fetch_cancel(h1);
    run_until(base_count + 3, 1000);
    tap_is_int(holder.status, FETCH_ECANCELLED, "running limited request cancelled");
}

static void test_rate_limit(void)
{
    struct result res[5];
    char u[128];
    int base_count = done_count;
    double t0 = now_ms();
    for (int i = 0; i < 5; i++) {
        struct fetch_request r = get(url_for(u, sizeof u, "/ok"), 3000);
        r.limit_key = "rate-key";
        r.rate_per_s = 10;
        r.burst = 1;
        start(r, &res[i]);
    }
    tap_is_int(fetch_inflight(), 5, "queued requests count as in flight");
    run_until(base_count + 5, 3000);
    double took = now_ms() - t0;
    int all_ok = 1, grows = 1;
    for (int i = 0; i < 5; i++) {
        all_ok &= res[i].status == FETCH_OK;
        if (i > 0) grows &= res[i].queued_ms > res[i - 1].queued_ms + 50;
    }
    tap_ok(all_ok, "5 rate-limited requests succeed");
    tap_ok(took >= 390, "rate 10/s burst 1: 5 requests take >= ~400 ms (%.0f ms)", took);
    tap_ok(res[0].queued_ms < 5, "the first uses the full bucket (%.1f ms)", res[0].queued_ms);
    tap_ok(grows, "queued_ms grows (%.0f, %.0f, %.0f, %.0f, %.0f)", res[0].queued_ms, res[1].queued_ms,
           res[2].queued_ms, res[3].queued_ms, res[4].queued_ms);
    tap_ok(res[4].total_ms >= res[4].queued_ms, "total_ms includes the wait");
}

static void test_concurrency(void)
{
    struct result res[3];
    char u[128];
    int base_count = done_count;
    double t0 = now_ms();
    slow_max = 0;
    for (int i = 0; i < 3; i++) {
        struct fetch_request r = get(url_for(u, sizeof u, "/slow?ms=150"), 3000);
        r.limit_key = "conc-key";
        r.max_concurrency = 1;
        start(r, &res[i]);
    }
    run_until(base_count + 3, 3000);
    double took = now_ms() - t0;
    tap_ok(res[0].status == FETCH_OK && res[1].status == FETCH_OK && res[2].status == FETCH_OK,
           "3 capped /slow requests succeed");
    tap_ok(took >= 440, "max_concurrency 1 serialises (%.0f ms)", took);
    tap_is_int(slow_max, 1, "the server never saw two at once");
    tap_ok(res[0].order < res[1].order && res[1].order < res[2].order, "FIFO order");
}

static void test_queued_deadline(void)
{
    struct result running, waiting;
    char u1[128], u2[128];
    int base_count = done_count;
    struct fetch_request r = get(url_for(u1, sizeof u1, "/slow?ms=400"), 2000);
    r.limit_key = "deadline-key";
    r.max_concurrency = 1;
    start(r, &running);
    r = get(url_for(u2, sizeof u2, "/ok"), 150);
    r.limit_key = "deadline-key";
    r.max_concurrency = 1;
    start(r, &waiting);
    run_until(base_count + 2, 3000);
    tap_is_int(waiting.status, FETCH_ETIMEOUT, "queued past its deadline: FETCH_ETIMEOUT");
    tap_is_str(waiting.error, "rate limiter wait exceeded the deadline", "limiter error text");
    tap_ok(waiting.total_ms >= 145 && waiting.total_ms < 300, "at its deadline (%.0f ms)", waiting.total_ms);
    tap_ok(waiting.queued_ms >= 145, "queued_ms covers the wait (%.0f ms)", waiting.queued_ms);
    tap_is_int(running.status, FETCH_OK, "the running one still completes");
    tap_is_int(fetch_inflight(), 0, "fetch_inflight back to 0");
}

static int shutdown_calls;
static void on_shutdown_done(const struct fetch_response *r, void *arg)
{
    if (r->status == FETCH_ECANCELLED)
        shutdown_calls++;
    else
        shutdown_calls += 100;
}

static void test_shutdown(void)
{
    char u[128];
    struct fetch_request r = get(url_for(u, sizeof u, "/hang"), 5000);
    for (int i = 0; i < 2; i++)
        fetch_start(&r, on_shutdown_done, NULL);
    r.limit_key = "shutdown-key";
    r.max_concurrency = 1;
    for (int i = 0; i < 2; i++)
        fetch_start(&r, on_shutdown_done, NULL);
    run_for(50);
    tap_is_int(fetch_inflight(), 4, "4 pending before shutdown (one queued)");
    fetch_shutdown();
    tap_is_int(shutdown_calls, 4, "fetch_shutdown: each callback once with FETCH_ECANCELLED");
    tap_is_int(fetch_inflight(), 0, "nothing in flight after shutdown");
    run_for(50);
    tap_is_int(shutdown_calls, 4, "no late callbacks");
    tap_is_int(fetch_start(&r, on_shutdown_done, NULL), -1, "fetch_start refused after shutdown");
}

static void test_reinit(void)
{
    struct result res;
    char u[128];
    int base_count = done_count;
    tap_is_int(fetch_init(base), 0, "fetch_init again after shutdown");
    start(get(url_for(u, sizeof u, "/ok"), 2000), &res);
    run_until(base_count + 1, 2000);
    tap_is_int(res.status, FETCH_OK, "works after re-init");
    fetch_shutdown();
}

int main(void)
{
    double t0 = now_ms();
    base = event_base_new();
    int listening = start_server() == 0;
    tap_ok(listening, "test server listening on 127.0.0.1:%d", port);
    tap_is_int(fetch_init(base), 0, "fetch_init");
    test_invalid();
    test_ok_and_status();
    test_timeout_does_not_block();
    test_size_cap();
    test_refused();
    test_headers_auth_body();
    test_redirect();
    test_cancel();
    test_rate_limit();
    test_concurrency();
    test_queued_deadline();
    test_shutdown();
    test_reinit();
    evhttp_free(server);
    event_base_free(base);
    tap_diag("fetch tests took %.0f ms", now_ms() - t0);
    return tap_done();
}
