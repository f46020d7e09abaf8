/* http.c — evhttp server on the event loop: routing, envelope, limits, request logs. */
#include "clock.h"
#include "http.h"
#include "id.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/http_struct.h>
#include <event2/keyvalq_struct.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sodium.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <zlib.h>
#include "body_cache.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "secret.h"

static struct evhttp *server;
static struct evhttp_bound_socket *bound;
static const struct http_route *route_table;
static int inflight;
static http_handler fallback_handler;
static http_session_resolver session_resolver;
static int (*service_token_check)(const struct http_ctx *ctx);
static struct event *deadline_timer;
static struct event *log_flusher;    /* writes the request log lines batched during one event loop pass */
static struct http_ctx *dispatching; /* the request dispatch() is serving; NULL once it is answered */
static unsigned long clients_gone;

/* ---- trace ids ---- */

static int is_lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

int http_parse_traceparent(const char *v, char out[33])
{
    /* version "-" trace-id(32) "-" parent-id(16) "-" flags(2); future versions may append fields. */
    if (!v || strlen(v) < 55 || v[2] != '-' || v[35] != '-' || v[52] != '-') return -1;
    if (!is_lower_hex(v, 2) || strncmp(v, "ff", 2) == 0 || !is_lower_hex(v + 3, 32) ||
        !is_lower_hex(v + 36, 16) || !is_lower_hex(v + 53, 2))
        return -1;
    if (strncmp(v, "00", 2) == 0 && v[55] != '\0') return -1;
    if (strspn(v + 3, "0") >= 32 || strspn(v + 36, "0") >= 16) return -1; /* all-zero ids are invalid */
    memcpy(out, v + 3, 32);
    out[32] = '\0';
    return 0;
}

/* ---- routing ---- */

int http_match(const char *pattern, const char *path, char *scratch, const char **params)
{
    int nparams = 0;
    const char *p = pattern, *s = path;
    char *w = scratch;
    while (*p && *s) {
        if (*p != '/' || *s != '/') return 0;
        p++, s++;
        size_t plen = strcspn(p, "/"), slen = strcspn(s, "/");
        if (*p == ':') {
            if (slen == 0 || nparams >= HTTP_MAX_PARAMS) return 0;
            memcpy(w, s, slen);
            w[slen] = '\0';
            params[nparams++] = w;
            w += slen + 1;
        } else if (plen != slen || strncmp(p, s, plen) != 0) {
            return 0;
        }
        p += plen, s += slen;
    }
    return *p == '\0' && *s == '\0';
}

static const char *method_name(enum evhttp_cmd_type cmd)
{
    switch (cmd) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    case EVHTTP_REQ_OPTIONS:
        return "OPTIONS";
    case EVHTTP_REQ_TRACE:
        return "TRACE";
    case EVHTTP_REQ_CONNECT:
        return "CONNECT";
    case EVHTTP_REQ_PATCH:
        return "PATCH";
    }
    return "UNKNOWN";
}

static int method_matches(const char *route_method, const char *method)
{
    return strcmp(route_method, method) == 0 ||
           (strcmp(method, "HEAD") == 0 && strcmp(route_method, "GET") == 0);
}

const struct http_route *http_route_find(const struct http_route *table, const char *method, const char *path,
                                         char *scratch, const char **params, char *allow, size_t allowlen)
{
    if (allowlen) allow[0] = '\0';
    for (const struct http_route *r = table; r->method; r++) {
        const char *found[HTTP_MAX_PARAMS] = {0};
        if (!http_match(r->pattern, path, scratch, found)) continue;
        if (method_matches(r->method, method)) {
            memcpy(params, found, sizeof found);
            return r;
        }
        if (allowlen && !strstr(allow, r->method)) {
            size_t n = strlen(allow);
            snprintf(allow + n, allowlen - n, "%s%s", n ? ", " : "", r->method);
        }
    }
    return NULL;
}

/* Finds the handler for ctx; fills ctx->params and ctx->access. When only the method differs, fills allow
 * ("GET, POST"). */
static http_handler route(struct http_ctx *ctx, char *scratch, char *allow, size_t allowlen)
{
    const struct http_route *r =
        http_route_find(route_table, ctx->method, ctx->path, scratch, ctx->params, allow, allowlen);
    if (!r) return NULL;
    ctx->route = r->pattern;
    ctx->access = r->access;
    return r->handler;
}

/* ---- replies ---- */

static void set_header(struct evhttp_request *req, const char *name, const char *value)
{
    size_t n;
    char *clean = secret_redact(value, strlen(value), &n);
    evhttp_add_header(evhttp_request_get_output_headers(req), name, clean ? clean : "");
    free(clean);
}

/* ---- clients that leave mid-request ----
 * A request still unanswered when dispatch() returns waits for async work (a session lookup, a verify, a
 * tick, a password hash). Its client may leave meanwhile. Two signals show it: libevent's close callback
 * (libevent saw the end of the stream and closed the connection; it then detaches the unanswered request from
 * it and leaves the request to us) and an EV_CLOSED watch on the socket (libevent stops reading a connection
 * once its request has arrived, so alone it would notice only when writing the answer). The work then runs to
 * its end as designed and answers; the answer is dropped (drop_gone) without writing to, or touching, a
 * request libevent freed. A client that leaves during the session lookup gets no handler (on_session). */

int http_client_gone(const struct http_ctx *ctx)
{
    return ctx->gone;
}

static double clients_gone_gauge(void)
{
    return (double)clients_gone;
}

/* Stops watching ctx's client (before its answer is sent, or when it is dropped). */
static void unwatch_client(struct http_ctx *ctx)
{
    if (ctx->watch) event_free(ctx->watch);
    ctx->watch = NULL;
    if (ctx->conn) evhttp_connection_set_closecb(ctx->conn, NULL, NULL);
}

/* The client of ctx left: counted and logged once. */
static void mark_gone(struct http_ctx *ctx, const char *seen_by)
{
    char esc[512];
    if (ctx->watch) event_free(ctx->watch);
    ctx->watch = NULL;
    if (ctx->gone) return;
    ctx->gone = 1;
    clients_gone++;
    LOG_INFO(ctx->trace_id, "client gone", "method=%s path=\"%s\" route=\"%s\" ms=%.2f seen_by=%s",
             ctx->method, log_escape(ctx->path ? ctx->path : "", esc, sizeof esc),
             ctx->route ? ctx->route : "unmatched", clock_now_ms() - ctx->started_ms, seen_by);
}

/* libevent frees ctx's connection. An unanswered request was detached from it first (end of stream, timeout)
 * and stays ours; one still attached (the server is being freed) is freed with it: never touched again. */
static void on_conn_closed(struct evhttp_connection *conn, void *arg)
{
    struct http_ctx *ctx = arg;
    (void)conn;
    if (ctx->req && evhttp_request_get_connection(ctx->req)) ctx->req = NULL;
    ctx->conn = NULL;
    mark_gone(ctx, "close");
}

/* The peer closed its end of ctx's socket (EPOLLRDHUP) while libevent was not reading it. */
static void on_peer_closed(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    mark_gone(arg, "socket");
}

/* ctx is still unanswered after dispatch(): watch its connection for the client leaving. */
static void watch_client(struct http_ctx *ctx)
{
    struct evhttp_connection *conn = evhttp_request_get_connection(ctx->req);
    if (!conn) return;
    ctx->conn = conn;
    evhttp_connection_set_closecb(conn, on_conn_closed, ctx);
    struct event_base *base = evhttp_connection_get_base(conn);
    evutil_socket_t fd = bufferevent_getfd(evhttp_connection_get_bufferevent(conn));
    if (fd < 0 || !(event_base_get_features(base) & EV_FEATURE_EARLY_CLOSE))
        return; /* the close callback only */
    ctx->watch = event_new(base, fd, EV_CLOSED, on_peer_closed, ctx);
    if (ctx->watch && event_add(ctx->watch, NULL) < 0) {
        event_free(ctx->watch);
        ctx->watch = NULL;
    }
}

static void free_ctx(struct http_ctx *ctx)
{
    if (ctx == dispatching) dispatching = NULL;
    json_decref(ctx->body);
    if (ctx->query) {
        evhttp_clear_headers(ctx->query);
        free(ctx->query);
    }
    free(ctx->path);
    free(ctx);
    inflight--;
}

/* The answer (status) to a request whose client left: nothing is written. A connection libevent still holds
 * is closed, which frees the request with it; a request libevent detached from its closed connection is freed
 * here. Then the request log line (client_gone=1), the metrics sample (status 499: client closed request) and
 * the context. */
static void drop_gone(struct http_ctx *ctx, int status)
{
    char esc[512];
    unwatch_client(ctx);
    if (ctx->conn)
        evhttp_connection_free(ctx->conn);
    else if (ctx->req)
        evhttp_request_free(ctx->req);
    LOG_INFO(ctx->trace_id, "request", "method=%s path=\"%s\" status=%d ms=%.2f bytes=0 client_gone=1",
             ctx->method, log_escape(ctx->path ? ctx->path : "", esc, sizeof esc), status,
             clock_now_ms() - ctx->started_ms);
    metrics_http_request(ctx->route ? ctx->route : "unmatched", ctx->method, 499,
                         clock_now_ms() - ctx->started_ms);
    free_ctx(ctx);
}

/* Sends out (freed here) with status, then the request log line, the metrics sample, and frees ctx. bytes is
 * what the body holds; encoding is named in the log line when not NULL. */
static void send_logged(struct http_ctx *ctx, int status, struct evbuffer *out, size_t bytes,
                        const char *encoding)
{
    unwatch_client(
        ctx); /* the close callback must not outlive ctx: the connection may close after the reply */
    evhttp_send_reply(ctx->req, status, NULL, out);
    double ms = clock_now_ms() - ctx->started_ms;
    log_request(ctx->trace_id, ctx->method, ctx->path, status, ms, bytes, encoding);
    metrics_http_request(ctx->route ? ctx->route : "unmatched", ctx->method, status, ms);
    evbuffer_free(out);
    free_ctx(ctx);
}

/* The envelope's head for pre-serialised members: {"success":..,"trace_id":".."[,]. Returns its length. */
static size_t envelope_head(const struct http_ctx *ctx, int status, int has_members, char head[80])
{
    static const char ok[] = "{\"success\":true,\"trace_id\":\"",
                      failed[] = "{\"success\":false,\"trace_id\":\"";
    const char *start = status < 400 ? ok : failed;
    size_t n = status < 400 ? sizeof ok - 1 : sizeof failed - 1, tlen = strnlen(ctx->trace_id, 32);
    memcpy(head, start, n);
    memcpy(head + n, ctx->trace_id, tlen); /* 32 hex characters */
    n += tlen;
    head[n++] = '"';
    if (has_members) head[n++] = ',';
    head[n] = '\0';
    return n;
}

/* JSON response headers; the values are constants and a hex trace id (nothing for the redactor). */
static void add_json_headers(struct http_ctx *ctx, const char *encoding)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(ctx->req);
    evhttp_add_header(h, "Content-Type", "application/json; charset=utf-8");
    if (encoding) evhttp_add_header(h, "Content-Encoding", encoding);
    evhttp_add_header(h, "X-Trace-Id", ctx->trace_id);
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
}

static void send_json(struct http_ctx *ctx, int status, json_t *envelope)
{
    struct evbuffer *out = evbuffer_new();
    char *text = json_dumps(envelope, JSON_COMPACT);
    size_t len = 0;
    char *clean = text ? secret_redact(text, strlen(text), &len) : NULL;

    if (!clean) { /* out of memory: still answer, without details */
        status = 500;
        free(clean);
        clean = strdup("{\"success\":false,\"error_code\":\"INTERNAL\"}");
        len = clean ? strlen(clean) : 0;
    }
    set_header(ctx->req, "Content-Type", "application/json; charset=utf-8");
    set_header(ctx->req, "X-Trace-Id", ctx->trace_id);
    set_header(ctx->req, "Cache-Control", "no-store");
    set_header(ctx->req, "X-Content-Type-Options", "nosniff");
    if (clean) evbuffer_add(out, clean, len);
    free(clean);
    free(text);
    json_decref(envelope);
    send_logged(ctx, status, out, len, NULL);
}

void http_reply_members(struct http_ctx *ctx, int status, const char *members, size_t len)
{
    if (ctx->gone) {
        drop_gone(ctx, status);
        return;
    }
    struct evbuffer *out = evbuffer_new();
    char head[80];
    add_json_headers(ctx, NULL);
    size_t n = envelope_head(ctx, status, len > 0, head);
    evbuffer_expand(out, n + len + 1);
    evbuffer_add(out, head, n);
    evbuffer_add(out, members, len);
    evbuffer_add(out, "}", 1);
    send_logged(ctx, status, out, n + len + 1, NULL);
}

int http_accepts_gzip(const char *v)
{
    while (v && *v) {
        while (*v == ' ' || *v == '\t' || *v == ',')
            v++;
        const char *tok = v;
        while (*v && *v != ',' && *v != ';' && *v != ' ' && *v != '\t')
            v++;
        size_t n = (size_t)(v - tok);
        double q = 1;
        while (*v == ' ' || *v == '\t')
            v++;
        while (*v == ';') { /* parameters: only q matters */
            v++;
            while (*v == ' ' || *v == '\t')
                v++;
            if ((v[0] == 'q' || v[0] == 'Q') && v[1] == '=') q = strtod(v + 2, NULL);
            while (*v && *v != ',' && *v != ';')
                v++;
        }
        if (((n == 4 && strncasecmp(tok, "gzip", 4) == 0) ||
             (n == 6 && strncasecmp(tok, "x-gzip", 6) == 0)) &&
            q > 0)
            return 1;
        while (*v && *v != ',')
            v++;
    }
    return 0;
}

/* Adds len cached bytes (c->members or c->deflated of a body_cache) to out by reference, not by copy: the
 * bytes stay alive until libevent has written them, even if the cache is rebuilt meanwhile. */
static void add_cached_bytes(struct evbuffer *out, const void *bytes, size_t len)
{
    if (!len) return;
    void *ref = body_cache_retain(bytes);
    if (evbuffer_add_reference(out, bytes, len, body_cache_release, ref) < 0) {
        body_cache_release(bytes, len, ref);
        evbuffer_add(out, bytes, len);
    }
}

/* A stored (uncompressed) deflate block of len <= 65535 bytes; final marks the last block of the stream. */
static void add_stored_block(struct evbuffer *out, const char *data, size_t len, int final)
{
    unsigned char h[5] = {final ? 1 : 0, (unsigned char)(len & 0xff), (unsigned char)(len >> 8),
                          (unsigned char)(~len & 0xff), (unsigned char)((~len >> 8) & 0xff)};
    evbuffer_add(out, h, sizeof h);
    evbuffer_add(out, data, len);
}

/* gzip member: header, the envelope head as a stored block, the cached deflate data, "}" as the final stored
 * block, then CRC-32 and length of the whole text (the members' CRC combined, not recomputed). */
static size_t add_gzip_body(struct evbuffer *out, const char *head, size_t head_len,
                            const struct body_cache *c)
{
    static const unsigned char gz_header[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
    static uLong brace_crc, brace_op; /* CRC-32 of "}" and the operator appending one byte */
    if (!brace_op) {
        brace_crc = crc32(0L, (const unsigned char *)"}", 1);
        brace_op = crc32_combine_gen(1);
    }
    uLong crc = crc32(0L, (const unsigned char *)head, (uInt)head_len);
    crc = crc32_combine_op(crc, c->crc, c->crc_op);
    crc = crc32_combine_op(crc, brace_crc, brace_op);
    size_t total = head_len + c->len + 1;
    unsigned char trailer[8];
    for (int i = 0; i < 4; i++) {
        trailer[i] = (unsigned char)(crc >> (8 * i));
        trailer[4 + i] = (unsigned char)(total >> (8 * i));
    }
    evbuffer_add(out, gz_header, sizeof gz_header);
    add_stored_block(out, head, head_len, 0);
    add_cached_bytes(out, c->deflated, c->deflated_len);
    add_stored_block(out, "}", 1, 1);
    evbuffer_add(out, trailer, sizeof trailer);
    return sizeof gz_header + 5 + head_len + c->deflated_len + 6 + sizeof trailer;
}

void http_reply_cached(struct http_ctx *ctx, int status, struct body_cache *c)
{
    if (ctx->gone) {
        drop_gone(ctx, status);
        return;
    }
    const char *ae = evhttp_find_header(evhttp_request_get_input_headers(ctx->req), "Accept-Encoding");
    evhttp_add_header(evhttp_request_get_output_headers(ctx->req), "Vary", "Accept-Encoding");
    struct evbuffer *out = evbuffer_new();
    char head[80];
    if (!http_accepts_gzip(ae) || body_cache_deflate(c) < 0) {
        add_json_headers(ctx, NULL);
        size_t n = envelope_head(ctx, status, c->len > 0, head);
        evbuffer_add(out, head, n);
        add_cached_bytes(out, c->members, c->len);
        evbuffer_add(out, "}", 1);
        send_logged(ctx, status, out, n + c->len + 1, NULL);
        return;
    }
    add_json_headers(ctx, "gzip");
    size_t n = envelope_head(ctx, status, c->len > 0, head);
    size_t sent = add_gzip_body(out, head, n, c);
    send_logged(ctx, status, out, sent, "gzip");
}

void http_reply_raw(struct http_ctx *ctx, int status, const char *content_type, const char *body, size_t len)
{
    if (ctx->gone) {
        drop_gone(ctx, status);
        return;
    }
    struct evbuffer *out = evbuffer_new();
    size_t clean_len = 0;
    char *clean = secret_redact(body ? body : "", body ? len : 0, &clean_len);
    set_header(ctx->req, "Content-Type", content_type);
    set_header(ctx->req, "X-Trace-Id", ctx->trace_id);
    set_header(ctx->req, "Cache-Control", "no-store");
    if (clean) evbuffer_add(out, clean, clean_len);
    free(clean);
    send_logged(ctx, status, out, clean_len, NULL);
}

void http_reply_static(struct http_ctx *ctx, int status, const char *const *headers, const char *body,
                       size_t len)
{
    if (ctx->gone) {
        drop_gone(ctx, status);
        return;
    }
    struct evbuffer *out = evbuffer_new();
    for (const char *const *h = headers; h && h[0] && h[1]; h += 2)
        evhttp_add_header(evhttp_request_get_output_headers(ctx->req), h[0], h[1]);
    set_header(ctx->req, "X-Trace-Id", ctx->trace_id);
    if (body && len) evbuffer_add(out, body, len);
    send_logged(ctx, status, out, len, NULL);
}

void http_set_fallback(http_handler handler)
{
    fallback_handler = handler;
}

void http_reply_json(struct http_ctx *ctx, int status, json_t *body)
{
    if (ctx->gone) {
        json_decref(body);
        drop_gone(ctx, status);
        return;
    }
    json_t *envelope = json_pack("{s:b, s:s}", "success", status < 400, "trace_id", ctx->trace_id);
    if (body) json_object_update(envelope, body);
    json_object_set_new(envelope, "trace_id", json_string(ctx->trace_id));
    json_decref(body);
    send_json(ctx, status, envelope);
}

void http_reply_error(struct http_ctx *ctx, int status, const char *error_code, const char *reason_human,
                      const char *suggested_fix, json_t *extra)
{
    json_t *body =
        json_pack("{s:b, s:s, s:s}", "success", 0, "error_code", error_code, "reason_human", reason_human);
    if (suggested_fix) json_object_set_new(body, "suggested_fix", json_string(suggested_fix));
    if (extra) {
        json_object_update(body, extra);
        json_decref(extra);
    }
    http_reply_json(ctx, status, body);
}

const char *http_query(const struct http_ctx *ctx, const char *name)
{
    return ctx->query ? evhttp_find_header(ctx->query, name) : NULL;
}

const char *http_header(const struct http_ctx *ctx, const char *name)
{
    if (!ctx->req) return NULL; /* freed with its connection (on_conn_closed) */
    return evhttp_find_header(evhttp_request_get_input_headers(ctx->req), name);
}

void http_add_header(struct http_ctx *ctx, const char *name, const char *value)
{
    if (ctx->gone) return; /* no answer will be written */
    set_header(ctx->req, name, value);
}

const char *http_peer_ip(const struct http_ctx *ctx)
{
    return ctx->client_ip;
}

int http_ip_trusted(const char *ip)
{
    unsigned char a[16];
    int family = inet_pton(AF_INET, ip, a) == 1 ? AF_INET : inet_pton(AF_INET6, ip, a) == 1 ? AF_INET6 : 0;
    for (int i = 0; family && i < cfg.n_trusted_proxies; i++) {
        const struct config_cidr *c = &cfg.trusted_proxies[i];
        if (c->family != family) continue;
        int full = c->bits / 8, rest = c->bits % 8;
        if (memcmp(a, c->addr, (size_t)full) != 0) continue;
        if (rest && ((a[full] ^ c->addr[full]) & (0xff << (8 - rest)) & 0xff)) continue;
        return 1;
    }
    return 0;
}

void http_client_ip(const char *peer, const char *xff, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s", peer ? peer : "");
    if (!xff || !cfg.n_trusted_proxies) return;
    size_t end = strlen(xff);
    while (http_ip_trusted(out) && end > 0) {
        size_t start = end;
        while (start > 0 && xff[start - 1] != ',')
            start--;
        size_t a = start, b = end;
        while (a < b && (xff[a] == ' ' || xff[a] == '\t'))
            a++;
        while (b > a && (xff[b - 1] == ' ' || xff[b - 1] == '\t'))
            b--;
        char item[64];
        unsigned char bin[16];
        if (b - a == 0 || b - a >= sizeof item) return;
        memcpy(item, xff + a, b - a);
        item[b - a] = '\0';
        if (inet_pton(AF_INET, item, bin) != 1 && inet_pton(AF_INET6, item, bin) != 1)
            return; /* malformed: stop */
        snprintf(out, outlen, "%s", item);
        end = start > 0 ? start - 1 : 0;
    }
}

/* Fills ctx->client_ip from the TCP peer and, behind a trusted proxy, X-Forwarded-For (every line of it). */
static void set_client_ip(struct http_ctx *ctx)
{
    struct evhttp_connection *conn = evhttp_request_get_connection(ctx->req);
    const char *addr = NULL;
    ev_uint16_t port = 0;
    char xff[2048];
    size_t n = 0;
    if (conn) evhttp_connection_get_peer(conn, (char **)&addr, &port);
    xff[0] = '\0';
    if (cfg.n_trusted_proxies && addr && http_ip_trusted(addr)) {
        for (struct evkeyval *h = evhttp_request_get_input_headers(ctx->req)->tqh_first; h;
             h = h->next.tqe_next)
            if (strcasecmp(h->key, "X-Forwarded-For") == 0 && n + strlen(h->value) + 2 < sizeof xff)
                n += (size_t)snprintf(xff + n, sizeof xff - n, "%s%s", n ? "," : "", h->value);
    }
    http_client_ip(addr, xff[0] ? xff : NULL, ctx->client_ip, sizeof ctx->client_ip);
}

int http_host_allowed(const char *host)
{
    if (!host) return 0;
    for (int i = 0; i < cfg.n_allowed_hosts; i++)
        if (strcasecmp(host, cfg.allowed_hosts[i]) == 0) return 1;
    return 0;
}

int http_origin_ok(const struct http_ctx *ctx)
{
    const char *origin = http_header(ctx, "Origin");
    const char *scheme = cfg.cookie_secure ? "https://" : "http://";
    if (!origin) return 0;
    if (cfg.origin) return strcmp(origin, cfg.origin) == 0;
    /* never the request's own Host (a rebinding page controls both): one of the configured hosts */
    return strncasecmp(origin, scheme, strlen(scheme)) == 0 && http_host_allowed(origin + strlen(scheme));
}

void http_set_auth_hooks(http_session_resolver resolver, int (*has_service_token)(const struct http_ctx *ctx))
{
    session_resolver = resolver;
    service_token_check = has_service_token;
}

/* ---- request intake ---- */

static int method_has_body(const char *method)
{
    return strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0 ||
           strcmp(method, "DELETE") == 0;
}

enum http_body_status http_parse_json_body(const char *buf, size_t len, size_t limit, json_t **out,
                                           char *reason, size_t reasonlen)
{
    json_error_t jerr;
    *out = NULL;
    if (len == 0) return HTTP_BODY_NONE;
    if (len > limit) {
        snprintf(reason, reasonlen, "The request body is %zu bytes; the limit is %zu bytes.", len, limit);
        return HTTP_BODY_TOO_LARGE;
    }
    *out = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!*out) {
        snprintf(reason, reasonlen, "The request body is not valid JSON (line %d, column %d: %s).", jerr.line,
                 jerr.column, jerr.text);
        return HTTP_BODY_INVALID_JSON;
    }
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        snprintf(reason, reasonlen, "The request body must be a JSON object.");
        return HTTP_BODY_NOT_OBJECT;
    }
    return HTTP_BODY_OK;
}

/* A string value passed through the redactor: a new reference. A redacted text that is no longer valid
 * UTF-8 (a match cut a multi-byte character) becomes "[redacted]". NULL on allocation failure. */
static json_t *redact_string(const char *s, size_t n)
{
    size_t outn = 0;
    char *r;
    json_t *o;

    if (!secret_contains(s, n)) return json_stringn(s, n);
    if (!(r = secret_redact(s, n, &outn))) return NULL;
    o = json_stringn(r, outn);
    free(r);
    return o ? o : json_string("[redacted]");
}

/* A copy of v in which every string, object keys included, has passed the redactor (new reference; NULL on
 * allocation failure). Numbers, booleans and null are shared. */
static json_t *redact_json(json_t *v)
{
    json_t *out, *e, *k, *c;
    const char *key;
    size_t i;

    switch (json_typeof(v)) {
    case JSON_STRING:
        return redact_string(json_string_value(v), json_string_length(v));
    case JSON_ARRAY:
        if (!(out = json_array())) return NULL;
        json_array_foreach(v, i, e)
        {
            if (!(c = redact_json(e)) || json_array_append_new(out, c) < 0) goto fail;
        }
        return out;
    case JSON_OBJECT:
        if (!(out = json_object())) return NULL;
        json_object_foreach(v, key, e)
        {
            if (!(k = redact_string(key, strlen(key)))) goto fail;
            c = redact_json(e);
            if (!c || json_object_set_new(out, json_string_value(k), c) < 0) {
                json_decref(k);
                goto fail;
            }
            json_decref(k);
        }
        return out;
    default:
        return json_incref(v);
    }
fail:
    json_decref(out);
    return NULL;
}

/* Secrets at rest (PRODUCT.md §3, docs/faults.md "Secrets at rest"): the one choke point for request bodies.
 * When the raw body holds a tracked secret in any form the redactor knows, ctx->body is replaced by a copy
 * whose every string and key is redacted, so no handler can write the secret to Postgres, a log or a reply.
 * Returns 0, or -1 on allocation failure (after a 500). */
static int redact_body(struct http_ctx *ctx, const char *buf, size_t len)
{
    json_t *r;

    if (!ctx->body || !secret_contains(buf, len)) return 0;
    if (!(r = redact_json(ctx->body))) {
        http_reply_error(ctx, 500, "INTERNAL", "Out of memory while redacting the request body.",
                         "Retry the request.", NULL);
        return -1;
    }
    json_decref(ctx->body);
    ctx->body = r;
    return 0;
}

/* Parses the body into ctx->body (redacted: see redact_body). Returns 0, or -1 after replying with the error.
 */
static int read_json_body(struct http_ctx *ctx)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(ctx->req);
    size_t len = evbuffer_get_length(in);
    char reason[512];
    const char *buf = len && len <= cfg.max_body_bytes ? (const char *)evbuffer_pullup(in, -1) : NULL;

    switch (http_parse_json_body(buf, len, cfg.max_body_bytes, &ctx->body, reason, sizeof reason)) {
    case HTTP_BODY_NONE:
        return 0;
    case HTTP_BODY_OK:
        return redact_body(ctx, buf, len);
    case HTTP_BODY_TOO_LARGE:
        http_reply_error(ctx, 413, "PAYLOAD_TOO_LARGE", reason, "Send a smaller JSON body.",
                         json_pack("{s:I}", "limit_bytes", (json_int_t)cfg.max_body_bytes));
        return -1;
    case HTTP_BODY_INVALID_JSON:
        http_reply_error(ctx, 400, "INVALID_JSON", reason,
                         "Send a JSON object with Content-Type: application/json.", NULL);
        return -1;
    case HTTP_BODY_NOT_OBJECT:
        http_reply_error(ctx, 400, "VALIDATION_FAILED", reason,
                         "Wrap the fields in an object, e.g. {\"provider_id\": \"databento\"}.",
                         json_pack("{s:s}", "field", "body"));
        return -1;
    }
    return -1;
}

static struct http_ctx *new_ctx(struct evhttp_request *req)
{
    struct http_ctx *ctx = calloc(1, sizeof *ctx);
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *raw_path = uri ? evhttp_uri_get_path(uri) : NULL;
    const char *raw_query = uri ? evhttp_uri_get_query(uri) : NULL;
    const char *tp = evhttp_find_header(evhttp_request_get_input_headers(req), "traceparent");
    size_t plen = 0;

    ctx->req = req;
    ctx->started_ms = clock_now_ms();
    ctx->method = method_name(evhttp_request_get_command(req));
    if (http_parse_traceparent(tp, ctx->trace_id) < 0) id_trace_new(ctx->trace_id);
    set_client_ip(ctx);
    ctx->path = evhttp_uridecode(raw_path && *raw_path ? raw_path : "/", 0, &plen);
    if (ctx->path && strlen(ctx->path) != plen) ctx->path[0] = '\0'; /* NUL inside the path: reject below */
    if (raw_query) {
        ctx->query = calloc(1, sizeof *ctx->query);
        ctx->query->tqh_first = NULL; /* TAILQ_INIT without <sys/queue.h> */
        ctx->query->tqh_last = &ctx->query->tqh_first;
        evhttp_parse_query_str(raw_query, ctx->query);
    }
    inflight++;
    return ctx;
}

/* ---- access control (every route, before its handler) ---- */

static void run_handler(struct http_ctx *ctx)
{
    if (method_has_body(ctx->method) && read_json_body(ctx) < 0) return;
    ctx->handler(ctx);
}

static void deny_origin(struct http_ctx *ctx)
{
    const char *origin = http_header(ctx, "Origin");
    char esc[256], reason[400];
    snprintf(
        reason, sizeof reason,
        "The Origin check refused this %s: Origin %s is not this server's origin (cross-site request forgery "
        "protection).",
        ctx->method, origin ? log_escape(origin, esc, sizeof esc) : "is missing and");
    LOG_WARN(ctx->trace_id, "auth decision", "decision=deny reason=origin method=%s route=\"%s\"",
             ctx->method, ctx->route);
    http_reply_error(
        ctx, 403, "FORBIDDEN", reason,
        "Send state-changing requests from the gatehouse web UI (same origin), with an Origin header "
        "equal to the server's origin; runners use the service token instead.",
        json_pack("{s:s}", "check", "origin"));
}

static int role_needed(enum http_access a)
{
    switch (a) {
    case HTTP_ACCESS_VIEWER:
        return HTTP_ROLE_VIEWER;
    case HTTP_ACCESS_OPERATOR:
    case HTTP_ACCESS_OPERATOR_OR_SERVICE:
    case HTTP_ACCESS_OPERATOR_FRESH_2FA:
        return HTTP_ROLE_OPERATOR;
    case HTTP_ACCESS_ADMIN:
        return HTTP_ROLE_ADMIN;
    default:
        return HTTP_ROLE_ADMIN + 1; /* unset/unknown: nobody */
    }
}

static const char *role_name(int role)
{
    return role == HTTP_ROLE_ADMIN ? "admin" : role == HTTP_ROLE_OPERATOR ? "operator" : "viewer";
}

static void on_session(struct http_ctx *ctx, int outcome)
{
    char reason[300];
    if (ctx->gone) { /* the client left during the lookup: its handler is not started */
        LOG_INFO(ctx->trace_id, "request cancelled", "stage=session_lookup route=\"%s %s\"", ctx->method,
                 ctx->route ? ctx->route : "unmatched");
        drop_gone(ctx, 499);
        return;
    }
    if (outcome < 0) {
        http_reply_error(ctx, 503, "DB_UNAVAILABLE",
                         "The session could not be checked: the database is unreachable.",
                         "Check DATABASE_URL and that Postgres is running, then retry.", NULL);
        return;
    }
    if (outcome > 0 || !ctx->auth.session) {
        http_reply_error(ctx, 401, "UNAUTHENTICATED", "This route needs a signed-in session.",
                         "Sign in with POST /api/auth/login (and /api/auth/2fa/verify when 2FA is on).",
                         NULL);
        return;
    }
    if (method_has_body(ctx->method) && !http_origin_ok(ctx)) {
        deny_origin(ctx);
        return;
    }
    int need = role_needed(ctx->access);
    if ((int)ctx->auth.role < need) {
        snprintf(reason, sizeof reason, "Your role (%s) may not %s %s; it needs the %s role.",
                 role_name(ctx->auth.role), ctx->method, ctx->route, role_name(need));
        LOG_INFO(ctx->trace_id, "auth decision",
                 "decision=deny reason=role user_id=%s role=%s route=\"%s %s\"", ctx->auth.user_id,
                 role_name(ctx->auth.role), ctx->method, ctx->route);
        http_reply_error(
            ctx, 403, "FORBIDDEN", reason, "Ask an admin for a higher role.",
            json_pack("{s:s, s:s}", "role", role_name(ctx->auth.role), "required_role", role_name(need)));
        return;
    }
    if (ctx->access == HTTP_ACCESS_OPERATOR_FRESH_2FA && !ctx->auth.fresh_2fa) {
        http_reply_2fa_required(ctx);
        return;
    }
    run_handler(ctx);
}

void http_reply_2fa_required(struct http_ctx *ctx)
{
    LOG_INFO(ctx->trace_id, "auth decision",
             "decision=deny reason=two_factor_required user_id=%s route=\"%s %s\"", ctx->auth.user_id,
             ctx->method, ctx->route);
    http_reply_error(
        ctx, 403, "TWO_FACTOR_REQUIRED",
        ctx->auth.two_factor_enabled
            ? "This action needs a 2FA verification within the last 5 minutes."
            : "This action needs two-factor authentication, which is not enabled for your account.",
        ctx->auth.two_factor_enabled
            ? "Confirm a current code with POST /api/auth/2fa/step-up {code}, then retry."
            : "Enroll with POST /api/auth/2fa/setup and /api/auth/2fa/confirm, then retry.",
        NULL);
}

static void authorize(struct http_ctx *ctx)
{
    int service = service_token_check && service_token_check(ctx);
    switch (ctx->access) {
    case HTTP_ACCESS_PUBLIC:
        /* no session needed; a browser's cross-site POST (login CSRF) is still refused */
        if (method_has_body(ctx->method) && http_header(ctx, "Origin") && !http_origin_ok(ctx)) {
            deny_origin(ctx);
            return;
        }
        run_handler(ctx);
        return;
    case HTTP_ACCESS_SERVICE:
    case HTTP_ACCESS_OPERATOR_OR_SERVICE:
        if (service) {
            ctx->auth.service = 1;
            run_handler(ctx);
            return;
        }
        if (ctx->access == HTTP_ACCESS_SERVICE) {
            http_reply_error(ctx, 401, "UNAUTHENTICATED", "This route needs the runners' service token.",
                             "Send Authorization: Bearer <GATEHOUSE_SERVICE_TOKEN>.", NULL);
            return;
        }
        break;
    case HTTP_ACCESS_UNSET:
        http_reply_error(ctx, 403, "FORBIDDEN", "This route has no access rule.", NULL, NULL);
        return;
    default:
        break;
    }
    if (!session_resolver) {
        on_session(ctx, 1);
        return;
    }
    session_resolver(ctx, on_session);
}

/* 0 when the request names one of the allowed hosts (its Host header, and the authority of an absolute URI);
 * else answers 421 MISDIRECTED_REQUEST and returns -1. HTTP/1.0 may omit Host. */
static int check_host(struct http_ctx *ctx)
{
    const char *host = http_header(ctx, "Host");
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(ctx->req);
    const char *uri_host = uri ? evhttp_uri_get_host(uri) : NULL;
    char authority[300], esc[128], reason[400];
    int ok = host ? http_host_allowed(host) : ctx->req->major == 1 && ctx->req->minor == 0;
    if (ok && uri_host) {
        int port = evhttp_uri_get_port(uri);
        snprintf(authority, sizeof authority, port >= 0 ? "%s:%d" : "%s", uri_host, port);
        ok = http_host_allowed(authority);
    }
    if (ok) return 0;
    snprintf(
        reason, sizeof reason,
        "This server does not answer for %s%s (DNS rebinding protection): only its configured host names are "
        "served.",
        host ? "Host " : "a request without a Host header", host ? log_escape(host, esc, sizeof esc) : "");
    LOG_WARN(ctx->trace_id, "host refused", "host=\"%s\" method=%s path=\"%s\"", host ? esc : "", ctx->method,
             log_escape(ctx->path ? ctx->path : "", authority, sizeof authority));
    http_reply_error(
        ctx, 421, "MISDIRECTED_REQUEST", reason,
        "Open gatehouse by its listen address or localhost, or add the name to GATEHOUSE_ALLOWED_HOSTS.",
        NULL);
    return -1;
}

/* Bytes of the request line and headers as received (approximately: names, values, separators). */
static size_t header_bytes(struct evhttp_request *req)
{
    const char *uri = evhttp_request_get_uri(req);
    size_t n = (uri ? strlen(uri) : 0) + 16;
    for (struct evkeyval *h = evhttp_request_get_input_headers(req)->tqh_first; h; h = h->next.tqe_next)
        n += strlen(h->key) + strlen(h->value) + 4;
    return n;
}

/* 0 when the request's headers fit and its method is one HTTP defines; else answers 431 HEADERS_TOO_LARGE or
 * 501 NOT_IMPLEMENTED as JSON and returns -1. */
static int check_request_shape(struct http_ctx *ctx)
{
    char reason[200];
    size_t n = header_bytes(ctx->req);
    if (n > cfg.max_header_bytes) {
        snprintf(reason, sizeof reason, "The request line and headers are %zu bytes; the limit is %zu bytes.",
                 n, cfg.max_header_bytes);
        http_reply_error(ctx, 431, "HEADERS_TOO_LARGE", reason,
                         "Send fewer or shorter headers (cookies included).",
                         json_pack("{s:I}", "limit_bytes", (json_int_t)cfg.max_header_bytes));
        return -1;
    }
    if (strcmp(ctx->method, "UNKNOWN") == 0 || strcmp(ctx->method, "CONNECT") == 0) {
        http_reply_error(ctx, 501, "NOT_IMPLEMENTED", "This request method is not implemented by gatehouse.",
                         "Use GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS as docs/api.md lists per route.",
                         NULL);
        return -1;
    }
    return 0;
}

/* ---- read deadline: a request's line, headers and body must arrive within cfg.read_timeout_s ----
 * libevent's timeout is an inactivity timeout (reset by every byte), so a client trickling one byte a second
 * would hold its connection for ever. Each accepted connection gets a deadline, cleared when a complete
 * request reaches dispatch() and set again (the idle keep-alive allowance plus the read timeout) when its
 * reply is sent. A connection past its deadline is shut down (libevent then frees it). We hold a reference on
 * each connection's bufferevent so the pointer stays valid; evhttp freeing it clears its callbacks, and the
 * sweep then drops our reference (the socket closes within one sweep, HTTP_SWEEP_MS). */
#define HTTP_SWEEP_MS 250
#define HTTP_IDLE_S 30

struct conn_deadline {
    struct bufferevent *bev;
    double deadline_ms; /* 0: a request is being served (no deadline) */
    struct conn_deadline *next;
};
static struct conn_deadline *deadlines;

static struct conn_deadline *deadline_of(struct bufferevent *bev)
{
    for (struct conn_deadline *d = deadlines; d; d = d->next)
        if (d->bev == bev) return d;
    return NULL;
}

static struct bufferevent *new_conn_bev(struct event_base *base, void *arg)
{
    (void)arg;
    struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    struct conn_deadline *d = bev ? calloc(1, sizeof *d) : NULL;
    if (!d) return bev; /* out of memory: served without a deadline rather than not at all */
    bufferevent_incref(bev);
    d->bev = bev;
    d->deadline_ms = clock_now_ms() + cfg.read_timeout_s * 1000.0;
    d->next = deadlines;
    deadlines = d;
    return bev;
}

static void sweep_deadlines(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    double now = clock_now_ms();
    for (struct conn_deadline **p = &deadlines; *p;) {
        struct conn_deadline *d = *p;
        bufferevent_event_cb eventcb = NULL;
        void *cbarg = NULL;
        bufferevent_getcb(d->bev, NULL, NULL, &eventcb, &cbarg);
        if (!eventcb && !cbarg) { /* evhttp freed the connection: drop our reference (closes the socket) */
            *p = d->next;
            bufferevent_decref(d->bev);
            free(d);
            continue;
        }
        if (d->deadline_ms > 0 && now > d->deadline_ms) {
            evutil_socket_t s = bufferevent_getfd(d->bev);
            LOG_WARN(NULL, "slow request dropped", "timeout_s=%d", cfg.read_timeout_s);
            if (s >= 0)
                shutdown(s, SHUT_RDWR); /* libevent sees the end of the stream and frees the connection */
            d->deadline_ms = 0;
        }
        p = &d->next;
    }
}

/* A complete request arrived on req's connection: no deadline while it is served. */
static void deadline_clear(struct evhttp_request *req)
{
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    struct conn_deadline *d = conn ? deadline_of(evhttp_connection_get_bufferevent(conn)) : NULL;
    if (d) d->deadline_ms = 0;
}

/* The reply to req was sent: the next request on the connection must arrive (idle allowance + read timeout).
 */
static void deadline_rearm(struct evhttp_request *req, void *arg)
{
    struct bufferevent *bev = arg;
    struct conn_deadline *d = deadline_of(bev);
    (void)req;
    if (d) d->deadline_ms = clock_now_ms() + (HTTP_IDLE_S + cfg.read_timeout_s) * 1000.0;
}

/* Checks, routes and authorizes ctx, then runs its handler (or answers the error). */
static void intake(struct http_ctx *ctx, struct evhttp_request *req)
{
    char allow[128];
    char *scratch;
    http_handler handler;

    if (check_request_shape(ctx) < 0 || check_host(ctx) < 0) return;
    if (!ctx->path || ctx->path[0] != '/') {
        if (!ctx->path) ctx->path = strdup("?");
        http_reply_error(ctx, 400, "VALIDATION_FAILED", "The request path is not valid.", NULL,
                         json_pack("{s:s}", "field", "path"));
        return;
    }
    size_t plen = strlen(ctx->path) + 1;
    char small[256];                                       /* the usual path: no allocation for the scratch */
    scratch = plen <= sizeof small ? small : malloc(plen); /* never longer than the path */
    if (!scratch) {
        http_reply_error(ctx, 500, "INTERNAL", "Out of memory.", NULL, NULL);
        return;
    }
    handler = route(ctx, scratch, allow, sizeof allow);
    if (!handler) {
        if (scratch != small) free(scratch);
        if (!allow[0] && fallback_handler && method_matches("GET", ctx->method) &&
            strcmp(ctx->path, "/api") != 0 && strncmp(ctx->path, "/api/", 5) != 0) {
            fallback_handler(ctx); /* the web files: public, no session */
            return;
        }
        if (allow[0]) {
            set_header(req, "Allow", allow);
            char reason[256];
            snprintf(reason, sizeof reason, "%s is not allowed on this route; allowed: %s.", ctx->method,
                     allow);
            http_reply_error(ctx, 405, "METHOD_NOT_ALLOWED", reason, NULL,
                             json_pack("{s:s}", "allow", allow));
        } else {
            http_reply_error(ctx, 404, "NOT_FOUND", "No such route.",
                             "See docs/api.md for the routes gatehouse serves.", NULL);
        }
        return;
    }
    /* params point into scratch; keep it alive with the context by moving it after the path (a route without
     * parameters needs nothing kept). */
    char *joined = ctx->path;
    if (ctx->params[0] && (joined = realloc(ctx->path, plen * 2))) {
        for (int i = 0; i < HTTP_MAX_PARAMS; i++)
            if (ctx->params[i]) ctx->params[i] = joined + plen + (ctx->params[i] - scratch);
        memcpy(joined + plen, scratch, plen);
        ctx->path = joined;
    }
    if (scratch != small) free(scratch);
    if (!joined) {
        memset(ctx->params, 0, sizeof ctx->params);
        http_reply_error(ctx, 500, "INTERNAL", "Out of memory.", NULL, NULL);
        return;
    }
    ctx->handler = handler;
    authorize(ctx);
}

static void dispatch(struct evhttp_request *req, void *arg)
{
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    deadline_clear(req);
    if (conn) evhttp_request_set_on_complete_cb(req, deadline_rearm, evhttp_connection_get_bufferevent(conn));
    dispatching = new_ctx(req);
    intake(dispatching, req);
    if (dispatching) watch_client(dispatching); /* unanswered: async work runs on; its client may leave */
    dispatching = NULL;
}

static void on_log_flush(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    log_flush();
}

/* log_defer's hook: the batch is written once the loop has run this pass's other callbacks. */
static void schedule_log_flush(void)
{
    event_active(log_flusher, EV_TIMEOUT, 1);
}

int http_start(struct event_base *base, const struct http_route *routes, char *err, size_t errlen)
{
    for (const struct http_route *r = routes; r->method; r++)
        if (r->access == HTTP_ACCESS_UNSET) {
            snprintf(err, errlen, "route %s %s has no access rule (set .access in the route table)",
                     r->method, r->pattern);
            return -1;
        }
    route_table = routes;
    server = evhttp_new(base);
    if (!server) {
        snprintf(err, errlen, "evhttp_new failed");
        return -1;
    }
    /* every method reaches dispatch(), unknown ones too, so they get the JSON envelope (501), not libevent's
     * page */
    evhttp_set_allowed_methods(server, 0xffff);
    /* libevent 2.1 cannot answer an over-long body with our JSON error before reading it, so it reads up to
     * a transport cap and dispatch() answers 413 as JSON; only bodies above the cap get libevent's own 413.
     */
    evhttp_set_max_body_size(server, (ev_ssize_t)(cfg.max_body_bytes * 4 + 65536));
    /* the same for headers: dispatch() answers 431 as JSON above cfg.max_header_bytes; only headers above
     * this transport cap get libevent's own 413 page */
    evhttp_set_max_headers_size(
        server, (ev_ssize_t)(cfg.max_header_bytes * 4 > 65536 ? cfg.max_header_bytes * 4 : 65536));
    evhttp_set_timeout(server, HTTP_IDLE_S); /* inactivity (idle keep-alive, stalled writes) */
    evhttp_set_bevcb(server, new_conn_bev, NULL);
    deadline_timer = event_new(base, -1, EV_PERSIST, sweep_deadlines, NULL);
    struct timeval every = {0, HTTP_SWEEP_MS * 1000};
    if (!deadline_timer || event_add(deadline_timer, &every) < 0) {
        snprintf(err, errlen, "cannot start the request deadline timer");
        return -1;
    }
    /* one write(2) per loop pass for the request log lines instead of one per request */
    log_flusher = event_new(base, -1, 0, on_log_flush, NULL);
    if (log_flusher) log_defer(schedule_log_flush);
    evhttp_set_gencb(server, dispatch, NULL);
    metrics_register_gauge("gatehouse_http_clients_gone",
                           "HTTP requests whose client disconnected before the answer, since start.",
                           clients_gone_gauge);
    bound = evhttp_bind_socket_with_handle(server, cfg.listen_host, (ev_uint16_t)cfg.listen_port);
    if (!bound) {
        snprintf(err, errlen, "cannot listen on %s:%d (in use, or not a local address?)", cfg.listen_host,
                 cfg.listen_port);
        return -1;
    }
    /* Accepted sockets inherit TCP_NODELAY from the listener (Linux): without it a body larger than one
     * segment waits for the peer's delayed ACK (~40 ms) under keep-alive, e.g. the 28 KB status views. */
    int one = 1;
    if (setsockopt(evhttp_bound_socket_get_fd(bound), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
        LOG_WARN(NULL, "cannot set TCP_NODELAY on the listening socket", NULL);
    return 0;
}

void http_stop_accepting(void)
{
    if (server && bound) evhttp_del_accept_socket(server, bound);
    bound = NULL;
}

int http_inflight(void)
{
    return inflight;
}

void http_free(void)
{
    if (server) evhttp_free(server);
    server = NULL;
    bound = NULL;
    if (deadline_timer) event_free(deadline_timer);
    deadline_timer = NULL;
    log_defer(NULL); /* writes what is pending */
    if (log_flusher) event_free(log_flusher);
    log_flusher = NULL;
    while (deadlines) {
        struct conn_deadline *d = deadlines;
        deadlines = d->next;
        bufferevent_decref(d->bev);
        free(d);
    }
}

const char *http_user_id(const struct http_ctx *ctx)
{
    return ctx && ctx->auth.session && ctx->auth.user_id[0] ? ctx->auth.user_id : NULL;
}

json_t *http_user_meta(const struct http_ctx *ctx, json_t *meta)
{
    const char *uid = http_user_id(ctx);
    if (!uid) return meta;
    if (!meta) meta = json_object();
    json_object_set_new(meta, "user_id", json_string(uid));
    json_object_set_new(meta, "username", json_string(ctx->auth.username));
    return meta;
}
