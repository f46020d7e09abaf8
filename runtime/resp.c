/* resp.c — a minimal non-blocking Redis (RESP) client for the verify probe.
 *
 * One exchange per request: parse redis://[user[:password]@]host[:port][/db], connect with a bufferevent
 * and evdns (no blocking DNS), send AUTH / SELECT / the command as RESP arrays in one write, then read reply
 * lines. An AUTH or SELECT error line ends the exchange as the reply; otherwise the command's first reply
 * line is the reply. The URL, the decoded credentials and the outgoing bytes live in one sodium_malloc'd
 * region that the output buffer references without copying; it is wiped when the exchange ends. Completion is
 * recorded first and delivered from a zero timer, so the callback runs once and never inside resp_start. */
#include "clock.h"
#include "resp.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define RESP_DEFAULT_PORT 6379
#define RESP_MAX_LINE 4096
#define RESP_MAX_ARGS 8
#define RESP_URL_HELP "expected redis://[user[:password]@]host[:port][/db]"

struct resp_conn {
    resp_cb cb;
    void *arg;
    struct resp_conn *prev, *next;
    struct bufferevent *bev;
    struct event *timer; /* deadline, then the zero timer that delivers */
    char *arena;         /* sodium_malloc'd: URL copy, host, user, password, outgoing bytes */
    size_t arena_len, arena_used;
    const char *host, *user, *password;
    int port;
    long db;
    int preamble; /* AUTH/SELECT replies still to read before the command's reply */
    int timeout_ms;
    int done;
    double start_ms, total_ms;
    enum fetch_status status;
    char reply[512];
    char error[160];
};

static struct event_base *loop_base;
static struct evdns_base *dns;
static struct resp_conn *conns;

/* ---- completion ---- */

/* Records the outcome and schedules delivery; the bufferevent is silenced now and freed at delivery, since
 * this may run inside a libevent call on it. */
static void conn_finish(struct resp_conn *c, enum fetch_status st, const char *reply, const char *error)
{
    if (c->done) return;
    c->done = 1;
    c->status = st;
    c->total_ms = clock_now_ms() - c->start_ms;
    snprintf(c->reply, sizeof c->reply, "%s", reply ? reply : "");
    snprintf(c->error, sizeof c->error, "%s", error ? error : "");
    if (c->bev) {
        bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
        bufferevent_disable(c->bev, EV_READ | EV_WRITE);
    }
    struct timeval zero = {0, 0};
    evtimer_add(c->timer, &zero);
}

static void conn_free(struct resp_conn *c)
{
    if (c->bev) bufferevent_free(c->bev); /* drops the output's reference into the arena first */
    if (c->arena) sodium_free(c->arena);  /* zeroes the URL, credentials and AUTH bytes */
    if (c->timer) event_free(c->timer);
    free(c);
}

static void conn_deliver(struct resp_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        conns = c->next;
    if (c->next) c->next->prev = c->prev;
    resp_cb cb = c->cb;
    void *arg = c->arg;
    enum fetch_status st = c->status;
    double total = c->total_ms;
    char reply[sizeof c->reply], error[sizeof c->error];
    memcpy(reply, c->reply, sizeof reply);
    memcpy(error, c->error, sizeof error);
    conn_free(c); /* before the callback, which may shut the client down */
    cb(st, st == FETCH_OK ? reply : NULL, total, st == FETCH_OK ? NULL : error, arg);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct resp_conn *c = arg;
    char error[96];
    if (c->done) {
        conn_deliver(c);
        return;
    }
    snprintf(error, sizeof error, "no Redis reply within %d ms", c->timeout_ms);
    conn_finish(c, FETCH_ETIMEOUT, NULL, error);
}

/* ---- URL parsing (into the arena) ---- */

static char *arena_take(struct resp_conn *c, size_t n)
{
    if (c->arena_len - c->arena_used < n) return NULL;
    char *p = c->arena + c->arena_used;
    c->arena_used += n;
    return p;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..n) into a NUL-terminated arena copy. Returns NULL on a bad escape or %00. */
static const char *decode_part(struct resp_conn *c, const char *s, size_t n)
{
    char *out = arena_take(c, n + 1), *w = out;
    if (!out) return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            *w++ = s[i];
            continue;
        }
        int hi = i + 2 < n ? hexval(s[i + 1]) : -1;
        int lo = hi >= 0 ? hexval(s[i + 2]) : -1;
        if (lo < 0 || (hi == 0 && lo == 0)) return NULL;
        *w++ = (char)(hi * 16 + lo);
        i += 2;
    }
    *w = '\0';
    return out;
}

static int parse_userinfo(struct resp_conn *c, const char *s, size_t n)
{
    const char *colon = memchr(s, ':', n);
    size_t ulen = colon ? (size_t)(colon - s) : n;
    c->user = decode_part(c, s, ulen);
    c->password = colon ? decode_part(c, colon + 1, n - ulen - 1) : "";
    return c->user && c->password ? 0 : -1;
}

static int parse_number(const char *s, size_t n, long max, long *out)
{
    long v = 0;
    if (n == 0 || n > 10) return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v > max) return -1;
    *out = v;
    return 0;
}

/* host[:port][/db], host a name, an IPv4 address or a bracketed IPv6 address. */
static int parse_hostpart(struct resp_conn *c, const char *s)
{
    const char *end = s + strlen(s), *slash = strchr(s, '/'), *h = s, *hend;
    const char *stop = slash ? slash : end;
    long port = RESP_DEFAULT_PORT, db = 0;
    if (*s == '[') {
        h = s + 1;
        hend = memchr(h, ']', (size_t)(stop - h));
        if (!hend || (hend + 1 != stop && hend[1] != ':')) return -1;
    } else {
        hend = memchr(s, ':', (size_t)(stop - s));
        if (!hend) hend = stop;
    }
    const char *colon = *s == '[' ? (hend + 1 < stop ? hend + 1 : NULL) : (hend < stop ? hend : NULL);
    if (hend == h ||
        strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:") < (size_t)(hend - h))
        return -1;
    if (colon && (parse_number(colon + 1, (size_t)(stop - colon - 1), 65535, &port) < 0 || port == 0))
        return -1;
    if (slash && slash[1] && parse_number(slash + 1, strlen(slash + 1), 2147483647L, &db) < 0) return -1;
    char *host = arena_take(c, (size_t)(hend - h) + 1);
    if (!host) return -1;
    memcpy(host, h, (size_t)(hend - h));
    host[hend - h] = '\0';
    c->host = host;
    c->port = (int)port;
    c->db = db;
    return 0;
}

/* Fills host/port/db/user/password. The last '@' ends the userinfo, so an unencoded '@', '/' or '?' in a
 * password still parses. Messages never quote the URL. Returns 0, or -1 with err set. */
static int parse_url(struct resp_conn *c, const char *url, char *err, size_t errlen)
{
    if (strncasecmp(url, "rediss://", 9) == 0) {
        snprintf(err, errlen, "TLS Redis (rediss://) is not supported by the verify probe");
        return -1;
    }
    if (strncasecmp(url, "redis://", 8) != 0) {
        snprintf(err, errlen, "bad Redis URL: %s", RESP_URL_HELP);
        return -1;
    }
    char *copy = arena_take(c, strlen(url) + 1);
    if (!copy) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    strcpy(copy, url);
    const char *rest = copy + 8, *at = strrchr(rest, '@');
    c->user = c->password = "";
    if ((at && parse_userinfo(c, rest, (size_t)(at - rest)) < 0) ||
        parse_hostpart(c, at ? at + 1 : rest) < 0) {
        snprintf(err, errlen, "bad Redis URL: %s", RESP_URL_HELP);
        return -1;
    }
    return 0;
}

/* ---- the outgoing bytes ---- */

static int put_array(struct resp_conn *c, const char *const *args, int n)
{
    for (int i = -1; i < n; i++) {
        char head[32];
        size_t alen = i < 0 ? 0 : strlen(args[i]);
        int hl =
            i < 0 ? snprintf(head, sizeof head, "*%d\r\n", n) : snprintf(head, sizeof head, "$%zu\r\n", alen);
        char *w = arena_take(c, (size_t)hl + (i < 0 ? 0 : alen + 2));
        if (!w) return -1;
        memcpy(w, head, (size_t)hl);
        if (i >= 0) {
            memcpy(w + hl, args[i], alen);
            memcpy(w + hl + alen, "\r\n", 2);
        }
    }
    return 0;
}

/* Splits the command on spaces (in place, in the arena). Returns the argument count, or -1. */
static int split_command(char *cmd, const char **args)
{
    int n = 0;
    for (char *tok = strtok(cmd, " "); tok; tok = strtok(NULL, " ")) {
        if (n == RESP_MAX_ARGS) return -1;
        args[n++] = tok;
    }
    return n > 0 ? n : -1;
}

/* Writes AUTH, SELECT and the command; returns a pointer to the bytes and their length in *len, or NULL. */
static const char *build_payload(struct resp_conn *c, const char *command, size_t *len)
{
    const char *args[RESP_MAX_ARGS];
    char *cmd = arena_take(c, strlen(command) + 1), dbtext[24];
    if (!cmd) return NULL;
    strcpy(cmd, command);
    int nargs = split_command(cmd, args);
    if (nargs < 0) return NULL;
    size_t start = c->arena_used;
    if (*c->password) {
        const char *auth[3] = {"AUTH", *c->user ? c->user : c->password, c->password};
        if (put_array(c, auth, *c->user ? 3 : 2) < 0) return NULL;
        c->preamble++;
    }
    if (c->db > 0) {
        snprintf(dbtext, sizeof dbtext, "%ld", c->db);
        const char *sel[2] = {"SELECT", dbtext};
        if (put_array(c, sel, 2) < 0) return NULL;
        c->preamble++;
    }
    if (put_array(c, args, nargs) < 0) return NULL;
    *len = c->arena_used - start;
    return c->arena + start;
}

/* ---- the connection ---- */

static void on_line(struct resp_conn *c, const char *line)
{
    if (c->preamble > 0 && line[0] != '-') {
        c->preamble--; /* +OK to AUTH or SELECT */
        return;
    }
    conn_finish(c, FETCH_OK, line, NULL);
}

static void on_read(struct bufferevent *bev, void *arg)
{
    struct resp_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    while (!c->done) {
        size_t n = 0;
        char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
        if (!line) {
            if (evbuffer_get_length(in) > RESP_MAX_LINE)
                conn_finish(c, FETCH_ENETWORK, NULL, "Redis reply line too long");
            return;
        }
        on_line(c, line);
        free(line);
    }
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    struct resp_conn *c = arg;
    char error[160];
    if (what & BEV_EVENT_CONNECTED) return;
    int dns_err = bufferevent_socket_get_dns_error(bev);
    if (dns_err)
        snprintf(error, sizeof error, "could not resolve the Redis host (%s)", evutil_gai_strerror(dns_err));
    else if (what & BEV_EVENT_EOF)
        snprintf(error, sizeof error, "Redis closed the connection before replying");
    else
        snprintf(error, sizeof error, "Redis connection failed (%s)",
                 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    conn_finish(c, FETCH_ENETWORK, NULL, error);
}

static void conn_connect(struct resp_conn *c, const char *payload, size_t len)
{
    c->bev = bufferevent_socket_new(loop_base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!c->bev || evbuffer_add_reference(bufferevent_get_output(c->bev), payload, len, NULL, NULL) < 0) {
        conn_finish(c, FETCH_EINTERNAL, NULL, "could not allocate the Redis connection");
        return;
    }
    bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    /* Errors may be reported through on_event before this returns; conn_finish tolerates that. */
    if (bufferevent_socket_connect_hostname(c->bev, dns, AF_UNSPEC, c->host, c->port) < 0)
        conn_finish(c, FETCH_ENETWORK, NULL, "could not start connecting to Redis");
}

static struct resp_conn *conn_new(const struct resp_request *req, resp_cb cb, void *arg)
{
    struct resp_conn *c = calloc(1, sizeof *c);
    size_t ulen = strlen(req->url), clen = strlen(req->command);
    if (!c) return NULL;
    c->arena_len = 4 * (ulen + 1) + 3 * (clen + 1) + 32 * RESP_MAX_ARGS + 256;
    c->arena = sodium_malloc(c->arena_len);
    c->timer = evtimer_new(loop_base, on_timer, c);
    if (!c->arena || !c->timer) {
        conn_free(c);
        return NULL;
    }
    c->cb = cb;
    c->arg = arg;
    c->timeout_ms = req->timeout_ms;
    c->start_ms = clock_now_ms();
    c->next = conns;
    if (conns) conns->prev = c;
    conns = c;
    return c;
}

static int request_ok(const struct resp_request *req)
{
    if (!req || !req->url || !req->command || req->timeout_ms <= 0) return 0;
    if (strlen(req->command) > 512 || strpbrk(req->command, "\r\n")) return 0;
    return strspn(req->command, " ") < strlen(req->command);
}

/* ---- public API ---- */

/* Creates the evdns base on base (nameservers from /etc/resolv.conf, hosts file; the resolver keeps no event
 * armed while idle, so an idle client does not keep the loop alive). Returns 0, or -1. */
int resp_init(struct event_base *base)
{
    if (dns) return base == loop_base ? 0 : -1;
    if (!base || sodium_init() < 0) return -1; /* sodium_malloc needs it; harmless when main already ran it */
    int flags = EVDNS_BASE_DISABLE_WHEN_INACTIVE;
    dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS | flags);
    if (!dns) dns = evdns_base_new(base, flags); /* no usable resolv.conf: numeric hosts still work */
    if (!dns) return -1;
    loop_base = base;
    return 0;
}

/* Completes every pending exchange with FETCH_ECANCELLED (synchronously), wipes their memory, then frees the
 * DNS base. Harmless when not initialised. */
void resp_shutdown(void)
{
    while (conns) {
        struct resp_conn *c = conns;
        conn_finish(c, FETCH_ECANCELLED, NULL, "cancelled at shutdown");
        evtimer_del(c->timer);
        conn_deliver(c);
    }
    if (dns) evdns_base_free(dns, 1); /* 1: pending lookups fail now, releasing their bufferevents */
    dns = NULL;
    loop_base = NULL;
}

/* Starts the exchange; req is copied (the URL into sodium memory) and may be freed on return. A bad or
 * unsupported URL completes with FETCH_EINTERNAL through the callback. Returns 0, or -1 when the request is
 * invalid (no URL/command, CR/LF in the command, timeout <= 0), resp_init has not run or memory ran out. */
int resp_start(const struct resp_request *req, resp_cb cb, void *arg)
{
    if (!dns || !cb || !request_ok(req)) return -1;
    struct resp_conn *c = conn_new(req, cb, arg);
    char err[160];
    size_t len = 0;
    const char *payload;
    if (!c) return -1;
    struct timeval tv = {req->timeout_ms / 1000, (req->timeout_ms % 1000) * 1000};
    evtimer_add(c->timer, &tv);
    if (parse_url(c, req->url, err, sizeof err) < 0) {
        conn_finish(c, FETCH_EINTERNAL, NULL, err);
        return 0;
    }
    if (!(payload = build_payload(c, req->command, &len))) {
        conn_finish(c, FETCH_EINTERNAL, NULL, "could not build the Redis command");
        return 0;
    }
    conn_connect(c, payload, len);
    return 0;
}
