/* test_http.c — router matching and W3C traceparent parsing. */
#include <string.h>

#include "config.h"
#include "http.h"
#include "id.h"
#include "secret.h"
#include "tap.h"

static void test_match(void)
{
    char scratch[256];
    const char *params[HTTP_MAX_PARAMS] = {0};

    tap_ok(http_match("/healthz", "/healthz", scratch, params), "a literal path matches itself");
    tap_ok(!http_match("/healthz", "/healthz/", scratch, params), "a trailing slash is a different route");
    tap_ok(!http_match("/api/integrations/status", "/api/integrations", scratch, params),
           "a prefix does not match");
    tap_ok(!http_match("/api/integrations", "/api/integrations/status", scratch, params),
           "a longer path does not match");
    tap_ok(http_match("/api/bots/:id/start", "/api/bots/42/start", scratch, params),
           "a :param segment matches");
    tap_is_str(params[0], "42", "the :param value is captured");
    tap_ok(!http_match("/api/bots/:id/start", "/api/bots//start", scratch, params),
           "an empty :param does not match");
    memset(params, 0, sizeof params);
    tap_ok(http_match("/a/:x/b/:y", "/a/1/b/two", scratch, params), "two params match");
    tap_is_str(params[0], "1", "first param");
    tap_is_str(params[1], "two", "second param");
    tap_ok(!http_match("/a/:x", "/b/1", scratch, params), "a literal mismatch before a param fails");
    tap_ok(http_match("/", "/", scratch, params), "the root matches");
}

static void test_traceparent(void)
{
    char id[33];
    tap_ok(http_parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", id) == 0,
           "the W3C example is accepted");
    tap_is_str(id, "4bf92f3577b34da6a3ce929d0e0e4736", "its trace id is reused");
    tap_ok(http_parse_traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01", id) < 0,
           "an all-zero trace id is rejected");
    tap_ok(http_parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", id) < 0,
           "an all-zero parent id is rejected");
    tap_ok(http_parse_traceparent("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", id) < 0,
           "upper-case hex is rejected");
    tap_ok(http_parse_traceparent("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", id) < 0,
           "version ff is rejected");
    tap_ok(http_parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", id) < 0,
           "version 00 with extra fields is rejected");
    tap_ok(http_parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", id) == 0,
           "a future version may carry extra fields");
    tap_ok(http_parse_traceparent("garbage", id) < 0, "garbage is rejected");
    tap_ok(http_parse_traceparent(NULL, id) < 0, "a missing header is rejected");
}

static void test_new_trace_id(void)
{
    char a[33], b[33];
    id_trace_new(a);
    id_trace_new(b);
    tap_is_int((long)strlen(a), 32, "a fresh trace id has 32 characters");
    tap_ok(strspn(a, "0123456789abcdef") == 32, "it is lower-case hex");
    tap_ok(strcmp(a, b) != 0, "two fresh trace ids differ");
}

static void dummy_handler(struct http_ctx *ctx)
{
    (void)ctx;
}

static void test_route_find(void)
{
    static const struct http_route table[] = {
        {"GET", "/api/bots", dummy_handler, HTTP_ACCESS_VIEWER},
        {"POST", "/api/bots", dummy_handler, HTTP_ACCESS_OPERATOR},
        {"POST", "/api/bots/:id/start", dummy_handler, HTTP_ACCESS_OPERATOR},
        {NULL, NULL, NULL, HTTP_ACCESS_UNSET},
    };
    char scratch[256], allow[64];
    const char *params[HTTP_MAX_PARAMS] = {0};
    const struct http_route *r =
        http_route_find(table, "POST", "/api/bots/b1/start", scratch, params, allow, sizeof allow);
    tap_ok(r == &table[2], "route_find: the POST :id route is found");
    tap_is_str(params[0], "b1", "route_find: its param is captured");
    tap_is_int(r ? (int)r->access : -1, HTTP_ACCESS_OPERATOR,
               "route_find: the row (and so its access) is returned");
    tap_ok(http_route_find(table, "HEAD", "/api/bots", scratch, params, allow, sizeof allow) == &table[0],
           "route_find: HEAD is served by the GET route");
    tap_ok(!http_route_find(table, "DELETE", "/api/bots", scratch, params, allow, sizeof allow),
           "route_find: an unrouted method finds nothing");
    tap_is_str(allow, "GET, POST", "route_find: ... and the Allow list names the methods of that path");
    tap_ok(!http_route_find(table, "GET", "/nope", scratch, params, allow, sizeof allow) && allow[0] == '\0',
           "route_find: an unknown path has an empty Allow list (404, not 405)");
}

static void test_parse_body(void)
{
    json_t *j = (json_t *)1;
    char reason[256];
    tap_is_int(http_parse_json_body(NULL, 0, 100, &j, reason, sizeof reason), HTTP_BODY_NONE,
               "body: empty is none");
    tap_ok(j == NULL, "body: ... with no object");
    tap_is_int(http_parse_json_body("{\"a\":1}", 7, 100, &j, reason, sizeof reason), HTTP_BODY_OK,
               "body: an object");
    tap_ok(json_is_object(j), "body: ... is returned");
    json_decref(j);
    tap_is_int(http_parse_json_body(NULL, 101, 100, &j, reason, sizeof reason), HTTP_BODY_TOO_LARGE,
               "body: over the limit is too large, unread");
    tap_is_int(http_parse_json_body("{\"a\":1,\"a\":2}", 13, 100, &j, reason, sizeof reason),
               HTTP_BODY_INVALID_JSON, "body: duplicate keys are invalid JSON");
    tap_ok(strstr(reason, "not valid JSON") != NULL, "body: ... and the reason says so");
    tap_is_int(http_parse_json_body("[1]", 3, 100, &j, reason, sizeof reason), HTTP_BODY_NOT_OBJECT,
               "body: an array is not an object");
    tap_ok(j == NULL, "body: ... and nothing is returned");
}

static void test_accepts_gzip(void)
{
    tap_ok(http_accepts_gzip("gzip"), "gzip");
    tap_ok(http_accepts_gzip("gzip, deflate, br"), "gzip first in a browser's list");
    tap_ok(http_accepts_gzip("br;q=1.0, gzip;q=0.8, *;q=0.1"), "gzip with a q-value");
    tap_ok(http_accepts_gzip("deflate,GZIP"), "case-insensitive, no spaces");
    tap_ok(http_accepts_gzip("x-gzip"), "x-gzip");
    tap_ok(!http_accepts_gzip("gzip;q=0"), "q=0 refuses gzip");
    tap_ok(!http_accepts_gzip("gzip ; q=0.0, identity"), "q=0.0 with spaces refuses gzip");
    tap_ok(!http_accepts_gzip("identity"), "identity only");
    tap_ok(!http_accepts_gzip("gzipped, xgzip"), "a token merely containing gzip is not gzip");
    tap_ok(!http_accepts_gzip(""), "empty");
    tap_ok(!http_accepts_gzip(NULL), "absent");
    tap_ok(!http_accepts_gzip(";;;,,, q=1"), "junk");
}

/* Trusted proxies (issue 21): CIDR parsing, membership, and the right-most untrusted X-Forwarded-For entry.
 */
static void test_client_ip(void)
{
    char out[64];
    struct config_cidr c;
    tap_ok(config_parse_cidr("10.0.0.0/8", &c) == 0 && c.bits == 8, "a v4 block parses");
    tap_ok(config_parse_cidr("::1", &c) == 0 && c.bits == 128, "a bare v6 address is a /128");
    tap_ok(config_parse_cidr("10.0.0.0/33", &c) < 0, "a prefix beyond 32 is refused");
    tap_ok(config_parse_cidr("example.com", &c) < 0, "a name is refused");
    tap_ok(config_parse_cidr("10.0.0.1/", &c) < 0, "an empty prefix is refused");

    memset(&cfg, 0, sizeof cfg);
    http_client_ip("127.0.0.1", "203.0.113.7", out, sizeof out);
    tap_is_str(out, "127.0.0.1", "no trusted proxies: X-Forwarded-For is ignored");
    config_parse_cidr("127.0.0.1", &cfg.trusted_proxies[0]);
    config_parse_cidr("10.9.0.0/16", &cfg.trusted_proxies[1]);
    cfg.n_trusted_proxies = 2;
    tap_ok(http_ip_trusted("10.9.200.1") && !http_ip_trusted("10.10.0.1"), "/16 membership");
    http_client_ip("127.0.0.1", "203.0.113.7", out, sizeof out);
    tap_is_str(out, "203.0.113.7", "a trusted peer: the forwarded address");
    http_client_ip("127.0.0.1", "198.51.100.1, 203.0.113.7 ,10.9.3.4", out, sizeof out);
    tap_is_str(out, "203.0.113.7", "the right-most untrusted entry, past a trusted hop");
    http_client_ip("127.0.0.1", "10.9.0.1,10.9.0.2", out, sizeof out);
    tap_is_str(out, "10.9.0.1", "all trusted: the left-most");
    http_client_ip("127.0.0.1", "1.2.3.4, garbage", out, sizeof out);
    tap_is_str(out, "127.0.0.1", "a malformed entry stops at the last trusted hop");
    http_client_ip("192.0.2.1", "203.0.113.7", out, sizeof out);
    tap_is_str(out, "192.0.2.1", "an untrusted peer: its own address");
    memset(&cfg, 0, sizeof cfg);
}

int main(void)
{
    secret_init();
    test_match();
    test_traceparent();
    test_new_trace_id();
    test_route_find();
    test_parse_body();
    test_accepts_gzip();
    test_client_ip();
    secret_shutdown();
    return tap_done();
}
