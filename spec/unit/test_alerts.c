/* test_alerts.c — unit tests for runtime/alerts.c against an in-process evhttp "Discord" on the same loop:
 * not configured → nothing queued; the body shape (content, embed title/description/color/footer,
 * allowed_mentions) and headers; secrets in the text are masked (provider key and the webhook token); dedup;
 * a 429 retried once after retry_after; a second 429 given up (and the key may be sent again); truncation and
 * UTF-8 clean-up; the rate limit (burst 3, then one per 2 s); a network error; queue full; usage events;
 * shutdown with a POST in flight. */
#include "alerts.h"
#include "fetch.h"
#include "log.h"
#include "secret.h"
#include "tap.h"
#include "telemetry.h"

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

#define DB_KEY "db-canary-Q7x9Zk2LmN4p"
#define TOKEN "tok-canary-webhook-8Hs2Kd9Wq1"
#define MAX_REQS 32

static struct event_base *base;
static struct evhttp *server;
static int port;

static struct {
    char path[256], content_type[128];
    char *body;
    double at;
} reqs[MAX_REQS];
static int n_reqs;
static int answer_429; /* the next n POSTs get 429 */
static int hang;       /* never answer */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void handle(struct evhttp_request *req, void *arg)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
    if (n_reqs < MAX_REQS) {
        snprintf(reqs[n_reqs].path, sizeof reqs[n_reqs].path, "%s", evhttp_request_get_uri(req));
        snprintf(reqs[n_reqs].content_type, sizeof reqs[n_reqs].content_type, "%s", ct ? ct : "");
        reqs[n_reqs].body = calloc(1, len + 1);
        evbuffer_copyout(in, reqs[n_reqs].body, len);
        reqs[n_reqs].at = now_ms();
        n_reqs++;
    }
    if (hang) return;
    struct evbuffer *out = evbuffer_new();
    if (answer_429 > 0) {
        answer_429--;
        evbuffer_add_printf(
            out, "{\"message\":\"You are being rate limited.\",\"retry_after\":0.3,\"global\":false}");
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
        evhttp_send_reply(req, 429, "Too Many Requests", out);
    } else {
        evhttp_send_reply(req, 204, "No Content", NULL);
    }
    evbuffer_free(out);
}

static int start_server(void)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof sin;
    server = evhttp_new(base);
    evhttp_set_gencb(server, handle, NULL);
    evhttp_set_allowed_methods(server, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
    struct evhttp_bound_socket *bound = evhttp_bind_socket_with_handle(server, "127.0.0.1", 0);
    if (!bound) return -1;
    if (getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&sin, &len) < 0) return -1;
    port = ntohs(sin.sin_port);
    return 0;
}

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

static void on_tick(evutil_socket_t fd, short what, void *arg) {}

static long stat_of(const char *field)
{
    json_t *s = alerts_status_json();
    long v = (long)json_integer_value(json_object_get(s, field));
    json_decref(s);
    return v;
}

/* Runs the loop until n_reqs >= want_reqs and the queue is empty (want_idle), or max_ms passes. */
static int run_until(int want_reqs, int want_idle, int max_ms)
{
    double deadline = now_ms() + max_ms;
    struct event *tick = event_new(base, -1, EV_PERSIST, on_tick, NULL);
    struct timeval tv = {0, 5000};
    int ok = 0;
    event_add(tick, &tv);
    while (now_ms() < deadline) {
        event_base_loop(base, EVLOOP_ONCE);
        if (n_reqs >= want_reqs && (!want_idle || stat_of("queued") == 0)) {
            ok = 1;
            break;
        }
    }
    event_free(tick);
    return ok;
}

static void run_for(int ms)
{
    run_until(1 << 30, 0, ms);
}

static void configure(const char *url)
{
    secret_shutdown();
    secret_init();
    if (url)
        setenv("DISCORD_WEBHOOK_URL", url, 1);
    else
        unsetenv("DISCORD_WEBHOOK_URL");
    setenv("DATABENTO_API_KEY", DB_KEY, 1);
    secret_track("DATABENTO_API_KEY", 1);
    alerts_init(base);
}

static json_t *body_json(int i)
{
    return i < n_reqs ? json_loads(reqs[i].body, 0, NULL) : NULL;
}

static const char *embed_str(json_t *b, const char *k)
{
    return json_string_value(json_object_get(json_array_get(json_object_get(b, "embeds"), 0), k));
}

static int valid_utf8(const char *s)
{
    json_t *j = json_string(s);
    int ok = j != NULL;
    json_decref(j);
    return ok;
}

static void test_not_configured(void)
{
    configure(NULL);
    tap_is_int(alerts_notify("system_status", "k", "SEV-1", "t", "x", NULL), 0, "not configured: dropped");
    json_t *s = alerts_status_json();
    tap_ok(json_is_false(json_object_get(s, "configured")), "not configured: configured false");
    tap_ok(json_is_null(json_object_get(s, "last_error")), "last_error null before any failure");
    json_decref(s);
    run_for(50);
    tap_is_int(n_reqs, 0, "not configured: nothing sent");
}

static void test_send_and_redact(void)
{
    char url[256], text[512];
    const char *trace = "0123456789abcdef0123456789abcdef";
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/webhooks/123/%s", port, TOKEN);
    configure(url);
    json_t *s = alerts_status_json();
    tap_ok(json_is_true(json_object_get(s, "configured")), "configured true");
    json_decref(s);
    snprintf(text, sizeof text, "key=%s token=%s url=%s\nsecond line\x01", DB_KEY, TOKEN, url);
    tap_is_int(alerts_notify("system_status", "system_status:BLOCKED", "SEV-1", "System BLOCKED " DB_KEY,
                             text, trace),
               1, "notify queued");
    tap_is_int(alerts_notify("system_status", "system_status:BLOCKED", "SEV-1", "again", "again", trace), 0,
               "same dedup key: dropped");
    tap_is_int(stat_of("dropped_total"), 1, "dropped_total counts the duplicate");
    tap_ok(run_until(1, 1, 3000), "the POST arrives");
    tap_is_str(reqs[0].path, "/api/webhooks/123/" TOKEN, "POSTed to the webhook URL");
    tap_is_str(reqs[0].content_type, "application/json", "Content-Type: application/json");
    tap_ok(strstr(reqs[0].body, DB_KEY) == NULL, "provider key in title/text is not in the body");
    tap_ok(strstr(reqs[0].body, TOKEN) == NULL, "webhook token in the text is not in the body");
    tap_ok(strstr(reqs[0].body, "\xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2") != NULL,
           "masks appear instead");
    tap_ok(!secret_contains(reqs[0].body, strlen(reqs[0].body)), "no secret in any encoding");
    json_t *b = body_json(0);
    tap_ok(json_is_object(b), "body is JSON");
    tap_ok(strncmp(json_string_value(json_object_get(b, "content")), "[SEV-1] System BLOCKED", 22) == 0,
           "content names severity and title");
    tap_ok(strncmp(embed_str(b, "title"), "System BLOCKED", 14) == 0, "embed title");
    tap_ok(strstr(embed_str(b, "description"), "\nsecond line?") != NULL,
           "description keeps newlines, masks controls");
    json_t *fo = json_object_get(json_array_get(json_object_get(b, "embeds"), 0), "footer");
    tap_is_str(json_string_value(json_object_get(fo, "text")), "trace_id 0123456789abcdef0123456789abcdef",
               "footer carries the trace id");
    tap_is_int(
        (int)json_integer_value(json_object_get(json_array_get(json_object_get(b, "embeds"), 0), "color")),
        0xE74C3C, "SEV-1 is red");
    json_t *am = json_object_get(json_object_get(b, "allowed_mentions"), "parse");
    tap_ok(json_is_array(am) && json_array_size(am) == 0, "allowed_mentions.parse is []");
    json_decref(b);
    tap_is_int(stat_of("sent_total"), 1, "sent_total 1");
    struct provider_usage u;
    telemetry_provider_usage("discord", &u);
    tap_is_int((int)u.count_24h, 1, "one discord usage event");
    tap_is_str(u.last_trace_id, trace, "usage event carries the alert's trace id");
    tap_is_int(alerts_notify("system_status", "system_status:OK", "info", "System OK", "", trace), 1,
               "a new key (transition) is queued");
    tap_ok(run_until(2, 1, 3000), "and sent");
}

static void test_429(void)
{
    int before = n_reqs;
    answer_429 = 1;
    tap_is_int(alerts_notify("failover", "failover:a", "warning", "Failover", "x", NULL), 1,
               "queued (429 once)");
    tap_ok(run_until(before + 2, 1, 9000), "retried after the 429");
    tap_ok(reqs[before + 1].at - reqs[before].at >= 300, "retry waited retry_after (%.0f ms)",
           reqs[before + 1].at - reqs[before].at);
    tap_is_str(reqs[before + 1].body, reqs[before].body, "the same message is retried");
    tap_is_int(stat_of("sent_total"), 3, "delivered");
    struct provider_usage u;
    telemetry_provider_usage("discord", &u);
    tap_is_int((int)u.errors_24h, 1, "the 429 attempt is an ERROR usage event");
    tap_is_str(u.last_error_code, "RATE_LIMITED", "with error_code RATE_LIMITED");

    before = n_reqs;
    answer_429 = 2;
    tap_is_int(alerts_notify("breaker", "breaker:b", "SEV-2", "Breaker", "x", NULL), 1, "queued (429 twice)");
    tap_ok(run_until(before + 2, 1, 9000), "two attempts");
    run_for(400);
    tap_is_int(n_reqs - before, 2, "retried once only");
    tap_is_int(stat_of("failed_total"), 1, "failed_total 1");
    json_t *s = alerts_status_json();
    tap_ok(json_is_string(json_object_get(s, "last_error")), "last_error set: %s",
           json_string_value(json_object_get(s, "last_error")));
    json_decref(s);
    tap_is_int(alerts_notify("breaker", "breaker:b", "SEV-2", "Breaker", "x", NULL), 1,
               "an undelivered key can be sent again");
    tap_ok(run_until(before + 3, 1, 9000), "sent");
}

static void test_truncation(void)
{
    char *title = malloc(1001), *text = malloc(10001);
    int before = n_reqs;
    memset(title, 'T', 1000);
    title[1000] = '\0';
    for (int i = 0; i < 10000; i += 2)
        memcpy(text + i, "\xc3\xa9", 2); /* é: truncation must not split it */
    text[10000] = '\0';
    text[7] = (char)0xff; /* an invalid byte */
    tap_is_int(alerts_notify("policy", "policy:long", "info", title, text, NULL), 1, "long alert queued");
    tap_ok(run_until(before + 1, 1, 9000), "sent");
    json_t *b = body_json(before);
    const char *t = embed_str(b, "title"), *d = embed_str(b, "description");
    tap_ok(t && strlen(t) <= 256 && strstr(t, "\xe2\x80\xa6"), "title cut to 256 bytes with an ellipsis");
    tap_ok(d && strlen(d) <= 4096 && valid_utf8(d), "description cut to 4096 bytes, valid UTF-8");
    tap_ok(strlen(json_string_value(json_object_get(b, "content"))) <= 2000, "content within 2000");
    json_decref(b);
    free(title);
    free(text);
}

static void test_rate_limit(void)
{
    /* the bucket is drained by now (several sends within a second or two): refill it first */
    run_for(6100);
    int before = n_reqs;
    char key[32];
    for (int i = 0; i < 4; i++) {
        snprintf(key, sizeof key, "kill:%d", i);
        alerts_notify("kill", key, "SEV-1", "Kill", "x", NULL);
    }
    tap_ok(run_until(before + 4, 1, 6000), "four alerts sent");
    double burst = reqs[before + 2].at - reqs[before].at, fourth = reqs[before + 3].at - reqs[before].at;
    tap_ok(burst < 1000, "a burst of 3 goes at once (%.0f ms)", burst);
    tap_ok(fourth >= 1800, "the 4th waits for the 1-per-2 s refill (%.0f ms)", fourth);
}

static void test_network_error_and_queue(void)
{
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/webhooks/123/%s", closed_port(), TOKEN);
    configure(url);
    tap_is_int(alerts_notify("system_status", "s:x", "SEV-1", "down", "x", NULL), 1,
               "queued to a dead webhook");
    run_until(0, 1, 8000);
    tap_is_int(stat_of("failed_total"), 1, "network error counted as failed");
    struct provider_usage u;
    telemetry_provider_usage("discord", &u);
    tap_is_str(u.last_error_code, "NETWORK_ERROR", "usage event NETWORK_ERROR");

    int queued = 0;
    char key[32];
    for (int i = 0; i < 70; i++) {
        snprintf(key, sizeof key, "q:%d", i);
        queued += alerts_notify("policy", key, "info", "q", "x", NULL);
    }
    tap_is_int(queued, 64, "the queue holds 64");
    tap_is_int(stat_of("dropped_total"), 6, "the rest are dropped");
    alerts_shutdown();
    tap_is_int(alerts_notify("policy", "after", "info", "q", "x", NULL), 0, "after shutdown: dropped");
}

static void test_shutdown_inflight(void)
{
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/webhooks/123/%s", port, TOKEN);
    configure(url);
    hang = 1;
    int before = n_reqs;
    alerts_notify("kill", "kill:hang", "SEV-1", "Kill", "x", NULL);
    run_until(before + 1, 0, 3000);
    tap_is_int(stat_of("queued"), 1, "one POST in flight");
    alerts_shutdown(); /* the cancelled callback runs later and must not touch the freed queue */
    run_for(100);
    fetch_shutdown();
    tap_ok(1, "shutdown with a POST in flight");
}

int main(void)
{
    log_set_level("error"); /* the warnings of the failure cases are expected */
    base = event_base_new();
    if (!base || start_server() < 0 || fetch_init(base) < 0) {
        printf("Bail out! set-up failed\n");
        return 1;
    }
    test_not_configured();
    test_send_and_redact();
    test_429();
    test_truncation();
    test_rate_limit();
    test_network_error_and_queue();
    test_shutdown_inflight();
    for (int i = 0; i < n_reqs; i++)
        free(reqs[i].body);
    evhttp_free(server);
    event_base_free(base);
    secret_shutdown();
    return tap_done();
}
