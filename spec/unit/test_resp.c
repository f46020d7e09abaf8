/* test_resp.c — unit tests for runtime/resp.c against an in-process RESP server (evconnlistener on the same
 * loop): PING with and without AUTH, AUTH user+password, SELECT, WRONGPASS, NOAUTH, a silent server
 * (deadline), a refused port, rediss:// and malformed URLs, invalid requests, and shutdown while pending. */
#include "resp.h"
#include "tap.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_ARGS 4

static struct event_base *base;
static struct evconnlistener *listener;
static int port;
static int done_count;

/* server behaviour and what it saw */
static const char *srv_password; /* NULL: no AUTH required */
static int srv_silent;
static char srv_user[64];
static long srv_db = -1;

struct srv_conn {
    struct bufferevent *bev;
    int authed;
    struct srv_conn *prev, *next;
};
static struct srv_conn *srv_conns;

struct result {
    int calls;
    enum fetch_status status;
    char reply[256], error[256];
    int has_reply, has_error;
    double total_ms;
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* ---- the RESP server ---- */

/* Parses one "*N\r\n$len\r\narg\r\n..." array from p[0..n). Returns bytes consumed, 0 if incomplete, -1. */
static long parse_array(const char *p, size_t n, char args[MAX_ARGS][128], int *nargs)
{
    const char *end = p + n, *s = p;
    char *eol;
    if (n < 4 || *s != '*') return n ? (*s == '*' ? 0 : -1) : 0;
    long count = strtol(s + 1, &eol, 10);
    if (eol + 2 > end) return 0;
    if (count < 1 || count > MAX_ARGS || eol[0] != '\r') return -1;
    s = eol + 2;
    for (long i = 0; i < count; i++) {
        if (s + 4 > end) return 0;
        if (*s != '$') return -1;
        long len = strtol(s + 1, &eol, 10);
        if (eol + 2 > end) return 0;
        if (len < 0 || len > 127) return -1;
        s = eol + 2;
        if (s + len + 2 > end) return 0;
        memcpy(args[i], s, (size_t)len);
        args[i][len] = '\0';
        s += len + 2;
    }
    *nargs = (int)count;
    return s - p;
}

static const char *srv_answer(struct srv_conn *sc, char args[MAX_ARGS][128], int nargs)
{
    if (strcasecmp(args[0], "AUTH") == 0) {
        if (nargs == 3) snprintf(srv_user, sizeof srv_user, "%s", args[1]);
        if (!srv_password) return "-ERR AUTH called without any password configured for the default user.";
        if (strcmp(args[nargs - 1], srv_password) != 0)
            return "-WRONGPASS invalid username-password pair or user is disabled.";
        sc->authed = 1;
        return "+OK";
    }
    if (srv_password && !sc->authed) return "-NOAUTH Authentication required.";
    if (strcasecmp(args[0], "SELECT") == 0 && nargs == 2) {
        srv_db = strtol(args[1], NULL, 10);
        return "+OK";
    }
    if (strcasecmp(args[0], "PING") == 0) return "+PONG";
    return "-ERR unknown command";
}

static void srv_close(struct srv_conn *sc)
{
    if (sc->prev)
        sc->prev->next = sc->next;
    else
        srv_conns = sc->next;
    if (sc->next) sc->next->prev = sc->prev;
    bufferevent_free(sc->bev);
    free(sc);
}

static void srv_read(struct bufferevent *bev, void *arg)
{
    struct srv_conn *sc = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    char args[MAX_ARGS][128];
    int nargs = 0;
    if (srv_silent) {
        evbuffer_drain(in, evbuffer_get_length(in));
        return;
    }
    for (;;) {
        size_t n = evbuffer_get_length(in);
        long used = parse_array((const char *)evbuffer_pullup(in, -1), n, args, &nargs);
        if (used == 0) return;
        if (used < 0) {
            srv_close(sc);
            return;
        }
        evbuffer_drain(in, (size_t)used);
        evbuffer_add_printf(bufferevent_get_output(bev), "%s\r\n", srv_answer(sc, args, nargs));
    }
}

static void srv_event(struct bufferevent *bev, short what, void *arg)
{
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) srv_close(arg);
}

static void srv_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len, void *arg)
{
    struct srv_conn *sc = calloc(1, sizeof *sc);
    sc->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(sc->bev, srv_read, NULL, srv_event, sc);
    bufferevent_enable(sc->bev, EV_READ | EV_WRITE);
    sc->next = srv_conns;
    if (srv_conns) srv_conns->prev = sc;
    srv_conns = sc;
}

static int start_server(void)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sin;
    listener = evconnlistener_new_bind(base, srv_accept, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
                                       (struct sockaddr *)&sin, sizeof sin);
    if (!listener) return -1;
    getsockname(evconnlistener_get_fd(listener), (struct sockaddr *)&sin, &len);
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

/* ---- the client side ---- */

static void on_done(enum fetch_status st, const char *reply, double total_ms, const char *error, void *arg)
{
    struct result *r = arg;
    r->calls++;
    r->status = st;
    r->has_reply = reply != NULL;
    r->has_error = error != NULL;
    snprintf(r->reply, sizeof r->reply, "%s", reply ? reply : "");
    snprintf(r->error, sizeof r->error, "%s", error ? error : "");
    r->total_ms = total_ms;
    done_count++;
}

static void on_tick(evutil_socket_t fd, short what, void *arg) {}

static void run_until(int target, int max_ms)
{
    double deadline = now_ms() + max_ms;
    struct event *tick = event_new(base, -1, EV_PERSIST, on_tick, NULL);
    struct timeval tv = {0, 5000};
    event_add(tick, &tv);
    while (done_count < target && now_ms() < deadline)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(tick);
}

/* Runs one exchange to completion. url_fmt may hold one %d for the server port. */
static struct result exchange(const char *url_fmt, int p, int timeout_ms)
{
    struct result r = {0};
    char url[256];
    snprintf(url, sizeof url, url_fmt, p);
    struct resp_request req = {.url = url, .command = "PING", .timeout_ms = timeout_ms};
    int target = done_count + 1;
    if (resp_start(&req, on_done, &r) < 0) {
        r.calls = -1;
        return r;
    }
    memset(url, 0, sizeof url);      /* resp.c owns a copy */
    if (r.calls != 0) r.calls = 100; /* must not run inside resp_start */
    run_until(target, timeout_ms + 2000);
    return r;
}

static void test_ping(void)
{
    srv_password = NULL;
    struct result r = exchange("redis://127.0.0.1:%d", port, 2000);
    tap_is_int(r.calls, 1, "no password: callback once, not inside resp_start");
    tap_is_int(r.status, FETCH_OK, "no password: FETCH_OK");
    tap_is_str(r.reply, "+PONG", "no password: +PONG");
    tap_ok(!r.has_error && r.total_ms > 0, "no error on success (%.2f ms)", r.total_ms);
}

static void test_auth(void)
{
    srv_password = "right-pass";
    srv_db = -1;
    struct result r = exchange("redis://:right%%2Dpass@127.0.0.1:%d/3", port, 2000);
    tap_is_str(r.reply, "+PONG", "AUTH password (percent-decoded) then SELECT: +PONG");
    tap_is_int(srv_db, 3, "SELECT 3 sent");
    srv_db = -1;
    srv_user[0] = '\0';
    r = exchange("redis://probe%%40ops:right-pass@127.0.0.1:%d/0", port, 2000);
    tap_is_str(r.reply, "+PONG", "AUTH user password: +PONG");
    tap_is_str(srv_user, "probe@ops", "user sent percent-decoded");
    tap_is_int(srv_db, -1, "no SELECT for db 0");
    r = exchange("redis://:wrong-pass@127.0.0.1:%d/3", port, 2000);
    tap_is_int(r.status, FETCH_OK, "wrong password: still an answer (FETCH_OK)");
    tap_is_str(r.reply, "-WRONGPASS invalid username-password pair or user is disabled.",
               "AUTH error is the reply");
    r = exchange("redis://127.0.0.1:%d", port, 2000);
    tap_is_str(r.reply, "-NOAUTH Authentication required.",
               "no password against a protected server: -NOAUTH");
    srv_password = NULL;
}

static void test_failures(void)
{
    srv_silent = 1;
    struct result r = exchange("redis://127.0.0.1:%d", port, 200);
    srv_silent = 0;
    tap_is_int(r.status, FETCH_ETIMEOUT, "silent server: FETCH_ETIMEOUT");
    /* libevent schedules timers on CLOCK_MONOTONIC_COARSE (one kernel tick, 4-10 ms, behind the precise clock
     * the result is measured with), so a 200 ms deadline may fire up to one tick early. */
    tap_ok(r.total_ms >= 185 && r.total_ms < 400, "at the deadline (%.0f ms)", r.total_ms);
    tap_ok(!r.has_reply && r.has_error, "no reply, an error: %s", r.error);
    r = exchange("redis://:topsecret@127.0.0.1:%d", closed_port(), 2000);
    tap_is_int(r.status, FETCH_ENETWORK, "refused port: FETCH_ENETWORK");
    tap_ok(!strstr(r.error, "topsecret"), "error carries no password: %s", r.error);
    r = exchange("redis://localhost:%d", port, 2000);
    tap_is_str(r.reply, "+PONG", "a host name resolves through evdns (hosts file)");
}

static void test_bad_urls(void)
{
    struct result r = exchange("rediss://:pw@127.0.0.1:%d", port, 1000);
    tap_is_int(r.calls, 1, "rediss: callback once, later");
    tap_is_int(r.status, FETCH_EINTERNAL, "rediss: FETCH_EINTERNAL");
    tap_is_str(r.error, "TLS Redis (rediss://) is not supported by the verify probe", "rediss message");
    const char *bad[] = {"http://127.0.0.1:%d",       "redis://",          "redis://:pw@",
                         "redis://127.0.0.1:99999",   "redis://host:%dx",  "redis://host/abc",
                         "redis://:%%zz-secret@host", "redis://[::1:%d/0", "redis://ho st:%d"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        r = exchange(bad[i], port, 1000);
        tap_ok(r.calls == 1 && r.status == FETCH_EINTERNAL && strstr(r.error, "bad Redis URL") &&
                   !strstr(r.error, "secret") && !strstr(r.error, "127.0.0.1") && !strstr(r.error, "ho st"),
               "bad URL %zu rejected without quoting it: %s", i, r.error);
    }
    struct resp_request req = {.url = "redis://127.0.0.1", .command = "PING", .timeout_ms = 1000};
    struct result unused;
    req.timeout_ms = 0;
    tap_is_int(resp_start(&req, on_done, &unused), -1, "timeout 0 refused");
    req.timeout_ms = 1000;
    req.command = "PING\r\nFLUSHALL";
    tap_is_int(resp_start(&req, on_done, &unused), -1, "CR/LF in the command refused");
    req.command = "  ";
    tap_is_int(resp_start(&req, on_done, &unused), -1, "empty command refused");
    req.command = "PING";
    req.url = NULL;
    tap_is_int(resp_start(&req, on_done, &unused), -1, "no URL refused");
}

static void test_shutdown(void)
{
    struct result r = {0};
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", port);
    struct resp_request req = {.url = url, .command = "PING", .timeout_ms = 5000};
    srv_silent = 1;
    resp_start(&req, on_done, &r);
    run_until(done_count + 1, 100);
    tap_is_int(r.calls, 0, "pending before shutdown");
    resp_shutdown();
    tap_is_int(r.calls, 1, "resp_shutdown completes the pending exchange once");
    tap_is_int(r.status, FETCH_ECANCELLED, "with FETCH_ECANCELLED");
    tap_is_int(resp_start(&req, on_done, &r), -1, "resp_start refused after shutdown");
    srv_silent = 0;
}

int main(void)
{
    double t0 = now_ms();
    base = event_base_new();
    int listening = start_server() == 0;
    tap_ok(listening, "RESP server on 127.0.0.1:%d", port);
    tap_is_int(resp_init(base), 0, "resp_init");
    test_ping();
    test_auth();
    test_failures();
    test_bad_urls();
    test_shutdown();
    while (srv_conns)
        srv_close(srv_conns);
    evconnlistener_free(listener);
    event_base_free(base);
    tap_diag("resp tests took %.0f ms", now_ms() - t0);
    return tap_done();
}
