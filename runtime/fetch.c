/* fetch.c — outbound HTTP(S): libcurl multi on the libevent loop, per-key limiter, deadlines, response caps.
 *
 * The curl side follows curl's docs/examples/multi-event.c: CURLMOPT_SOCKETFUNCTION keeps one event per
 * socket, CURLMOPT_TIMERFUNCTION one evtimer, and every curl_multi_socket_action is followed by a sweep of
 * curl_multi_info_read. A transfer moves QUEUED (waiting for its limiter) → RUNNING (an easy handle in the
 * multi) → DONE (result recorded, secrets wiped) and is delivered from a zero timer, so a callback never
 * runs inside fetch_start/fetch_cancel and always runs exactly once. */
#include "clock.h"
#include "fetch.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <math.h>
#include <sodium.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log.h"

#define FETCH_DEFAULT_MAX_BYTES (1024 * 1024)
#define FETCH_DEFAULT_CONNECT_MS 5000
#define FETCH_LIMITER_WAIT_ERROR "rate limiter wait exceeded the deadline"

enum xfer_state { XFER_QUEUED, XFER_RUNNING, XFER_DONE };

struct fetch_limiter;

struct fetch_xfer {
    long id;
    enum xfer_state state;
    fetch_cb cb;
    void *arg;
    struct fetch_xfer *prev, *next; /* every transfer not yet delivered */
    struct fetch_xfer *qnext;       /* limiter FIFO */
    struct fetch_limiter *lim;
    int holds_slot;        /* counted in lim->active */
    struct event *ev;      /* deadline while QUEUED; zero timer for delivery once DONE */
    CURL *easy;            /* RUNNING only */
    unsigned char *secret; /* sodium_malloc'd: header nodes, URL, userpwd, header strings, body */
    struct curl_slist *headers;
    char *url, *userpwd, *body;
    size_t body_len;
    char method[16];
    int connect_timeout_ms;
    size_t max_bytes;
    double start_ms, launch_ms, deadline_ms;
    char *resp_body; /* malloc'd, grows up to max_bytes + 1, wiped on free */
    size_t resp_len, resp_cap;
    int too_big;
    char *content_type;
    struct fetch_response result;
    char error[160];
};

struct fetch_limiter {
    char *key;
    double rate, tokens, refilled_ms;
    int burst, max_concurrency, active, pumping;
    struct fetch_xfer *head, *tail;
    struct event *wake;
    struct fetch_limiter *next;
};

struct fetch_sock {
    struct event *ev;
    curl_socket_t fd;
    struct fetch_sock *prev, *next;
};

static struct event_base *loop_base;
static CURLM *multi;
static struct event *curl_timer;
static struct fetch_xfer *xfers;
static struct fetch_limiter *limiters;
static struct fetch_sock *socks;
static long next_id = 1;
static int inflight, shutting_down;

static struct timeval ms_to_tv(double ms)
{
    long whole = ms <= 0 ? 0 : (long)ceil(ms);
    struct timeval tv = {whole / 1000, (whole % 1000) * 1000};
    return tv;
}

static void check_multi_info(void);
static void limiter_pump(struct fetch_limiter *lim);
static void on_limiter_wake(evutil_socket_t fd, short what, void *arg);

/* ---- completion and delivery ---- */

/* Returns the easy handle to curl and wipes every copy of the caller's inputs. Safe to call twice. */
static void xfer_release_secrets(struct fetch_xfer *x)
{
    if (x->easy) {
        curl_multi_remove_handle(multi, x->easy);
        curl_easy_cleanup(x->easy); /* before the wipe: curl may still point at our URL and header copies */
        x->easy = NULL;
    }
    if (x->secret) sodium_free(x->secret); /* sodium_free zeroes the whole region first */
    x->secret = NULL;
    x->url = x->userpwd = x->body = NULL;
    x->headers = NULL;
}

static void xfer_unqueue(struct fetch_xfer *x)
{
    struct fetch_limiter *lim = x->lim;
    struct fetch_xfer **pp = &lim->head, *prev = NULL;
    while (*pp && *pp != x) {
        prev = *pp;
        pp = &(*pp)->qnext;
    }
    if (!*pp) return;
    *pp = x->qnext;
    if (lim->tail == x) lim->tail = prev;
    x->qnext = NULL;
}

/* Records the outcome, frees curl and secret memory, frees the limiter slot and schedules delivery.
 * Never calls the user's callback. */
static void xfer_finish(struct fetch_xfer *x, enum fetch_status st, const char *error)
{
    double now = clock_now_ms();
    if (x->state == XFER_DONE) return;
    if (x->state == XFER_QUEUED && x->lim) xfer_unqueue(x);
    if (x->state == XFER_QUEUED) x->launch_ms = now;
    x->state = XFER_DONE;
    xfer_release_secrets(x);
    x->result.status = st;
    x->result.total_ms = now - x->start_ms;
    x->result.queued_ms = x->launch_ms - x->start_ms;
    if (st != FETCH_OK) {
        snprintf(x->error, sizeof x->error, "%s", error ? error : fetch_status_name(st));
        x->result.error = x->error;
    }
    if (x->holds_slot) {
        x->holds_slot = 0;
        x->lim->active--;
        if (!x->lim->pumping && !shutting_down) limiter_pump(x->lim);
    }
    struct timeval zero = {0, 0};
    evtimer_add(x->ev, &zero);
}

static void xfer_free(struct fetch_xfer *x)
{
    xfer_release_secrets(x);
    if (x->ev) event_free(x->ev);
    if (x->resp_body) {
        sodium_memzero(x->resp_body, x->resp_cap);
        free(x->resp_body);
    }
    free(x->content_type);
    free(x);
}

static void xfer_unlink(struct fetch_xfer *x)
{
    if (x->prev)
        x->prev->next = x->next;
    else
        xfers = x->next;
    if (x->next) x->next->prev = x->prev;
    x->prev = x->next = NULL;
    inflight--;
}

/* Unlinks first, so the callback may start, cancel or even shut down without seeing this transfer. */
static void xfer_deliver(struct fetch_xfer *x)
{
    xfer_unlink(x);
    x->result.body = x->resp_body ? x->resp_body : "";
    x->result.body_len = x->resp_len;
    x->result.content_type = x->content_type;
    x->cb(&x->result, x->arg);
    xfer_free(x);
}

static void on_xfer_timer(evutil_socket_t fd, short what, void *arg)
{
    struct fetch_xfer *x = arg;
    if (x->state == XFER_DONE)
        xfer_deliver(x);
    else if (x->state == XFER_QUEUED)
        xfer_finish(x, FETCH_ETIMEOUT, FETCH_LIMITER_WAIT_ERROR);
}

/* ---- curl result mapping ---- */

static enum fetch_status classify(CURLcode rc, int too_big)
{
    switch (rc) {
    case CURLE_OK:
        return FETCH_OK;
    case CURLE_OPERATION_TIMEDOUT:
        return FETCH_ETIMEOUT;
    case CURLE_WRITE_ERROR:
        return too_big ? FETCH_ETOOBIG : FETCH_EINTERNAL;
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_HTTP3:
    case CURLE_QUIC_CONNECT_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CLIENTCERT:
    case CURLE_USE_SSL_FAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
        return FETCH_ENETWORK;
    default:
        return FETCH_EINTERNAL;
    }
}

/* Builds the error text from the CURLcode alone: curl's error buffer may name the host or URL. */
static void describe(struct fetch_xfer *x, CURLcode rc, enum fetch_status st, char *out, size_t outlen)
{
    curl_off_t connected_us = 0;
    if (st == FETCH_ETOOBIG) {
        snprintf(out, outlen, "response exceeded %zu bytes", x->max_bytes);
    } else if (st == FETCH_ETIMEOUT) {
        /* pretransfer, not connect time: a reused connection reports connect time 0 */
        curl_easy_getinfo(x->easy, CURLINFO_PRETRANSFER_TIME_T, &connected_us);
        snprintf(out, outlen, "%s (deadline %.0f ms)",
                 connected_us > 0 ? "request timed out" : "connect timed out", x->deadline_ms - x->start_ms);
    } else {
        snprintf(out, outlen, "%s (curl %d)", curl_easy_strerror(rc), (int)rc);
    }
}

/* A transfer left the multi: read what curl knows, then finish. */
static void xfer_curl_done(struct fetch_xfer *x, CURLcode rc)
{
    enum fetch_status st = classify(rc, x->too_big);
    char error[160] = "";
    char *ctype = NULL;

    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->result.http_status);
    curl_easy_getinfo(x->easy, CURLINFO_CONTENT_TYPE, &ctype);
    if (ctype) x->content_type = strdup(ctype);
    if (st != FETCH_OK) describe(x, rc, st, error, sizeof error);
    if (st == FETCH_ENETWORK || st == FETCH_ETIMEOUT) x->result.http_status = 0;
    xfer_finish(x, st, error);
}

static void check_multi_info(void)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(multi, &left))) {
        if (msg->msg != CURLMSG_DONE) continue;
        CURL *easy = msg->easy_handle;
        CURLcode rc = msg->data.result; /* msg is invalid once the handle is removed */
        char *priv = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
        if (priv) xfer_curl_done((struct fetch_xfer *)(void *)priv, rc);
    }
}

/* ---- curl ↔ libevent glue (multi-event.c) ---- */

static void on_socket_ready(evutil_socket_t fd, short events, void *arg)
{
    int running = 0;
    int flags = ((events & EV_READ) ? CURL_CSELECT_IN : 0) | ((events & EV_WRITE) ? CURL_CSELECT_OUT : 0);
    curl_multi_socket_action(multi, fd, flags, &running);
    check_multi_info();
}

static void on_curl_timeout(evutil_socket_t fd, short events, void *arg)
{
    int running = 0;
    curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_multi_info();
}

static void sock_forget(struct fetch_sock *s)
{
    if (s->ev) event_free(s->ev);
    if (s->prev)
        s->prev->next = s->next;
    else
        socks = s->next;
    if (s->next) s->next->prev = s->prev;
    free(s);
}

static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *sockp)
{
    struct fetch_sock *s = sockp;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            sock_forget(s);
            curl_multi_assign(multi, fd, NULL);
        }
        return 0;
    }
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s) return -1;
        s->fd = fd;
        s->next = socks;
        if (socks) socks->prev = s;
        socks = s;
        curl_multi_assign(multi, fd, s);
    }
    if (s->ev) event_free(s->ev);
    short kind =
        (short)(((what & CURL_POLL_IN) ? EV_READ : 0) | ((what & CURL_POLL_OUT) ? EV_WRITE : 0) | EV_PERSIST);
    s->ev = event_new(loop_base, fd, kind, on_socket_ready, NULL);
    if (!s->ev || event_add(s->ev, NULL) < 0) return -1;
    return 0;
}

/* timeout_ms -1 deletes the timer; 0 fires from the loop on its next turn, never from here. */
static int on_curl_timer(CURLM *m, long timeout_ms, void *userp)
{
    if (timeout_ms < 0) {
        evtimer_del(curl_timer);
        return 0;
    }
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    return evtimer_add(curl_timer, &tv) < 0 ? -1 : 0;
}

/* ---- starting a transfer ---- */

/* Grows the body buffer geometrically up to max_bytes + 1, wiping the old copy (bodies may carry tokens). */
static int body_reserve(struct fetch_xfer *x, size_t need)
{
    if (need <= x->resp_cap) return 0;
    size_t cap = x->resp_cap ? x->resp_cap : 16384;
    while (cap < need)
        cap *= 2;
    if (cap > x->max_bytes + 1) cap = x->max_bytes + 1;
    char *grown = malloc(cap);
    if (!grown) return -1;
    if (x->resp_body) {
        memcpy(grown, x->resp_body, x->resp_len + 1);
        sodium_memzero(x->resp_body, x->resp_cap);
        free(x->resp_body);
    }
    x->resp_body = grown;
    x->resp_cap = cap;
    return 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct fetch_xfer *x = arg;
    size_t n = size * nmemb, room = x->max_bytes - x->resp_len;
    size_t take = n < room ? n : room;
    if (body_reserve(x, x->resp_len + take + 1) < 0) return 0; /* CURLE_WRITE_ERROR, not too_big: internal */
    memcpy(x->resp_body + x->resp_len, data, take);
    x->resp_len += take;
    x->resp_body[x->resp_len] = '\0';
    if (take < n) x->too_big = 1; /* the short count makes curl stop with CURLE_WRITE_ERROR */
    return take;
}

static int set_method(CURL *e, struct fetch_xfer *x)
{
    int rc = 0;
    if (strcmp(x->method, "HEAD") == 0) return curl_easy_setopt(e, CURLOPT_NOBODY, 1L) != CURLE_OK;
    if (x->body || strcmp(x->method, "POST") == 0) {
        rc |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->body_len) != CURLE_OK;
        rc |= curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->body ? x->body : "") != CURLE_OK;
    }
    if (strcmp(x->method, "GET") != 0 && strcmp(x->method, "POST") != 0)
        rc |= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, x->method) != CURLE_OK;
    return rc;
}

/* Configures the easy handle; remaining_ms > 0 is what is left of the deadline. Returns 0 or -1. */
static int configure_easy(CURL *e, struct fetch_xfer *x, long remaining_ms)
{
    long connect_ms = x->connect_timeout_ms < remaining_ms ? x->connect_timeout_ms : remaining_ms;
    int rc = 0;
    rc |= curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)x) != CURLE_OK;
    rc |= curl_easy_setopt(e, CURLOPT_URL, x->url) != CURLE_OK;
    rc |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK;
    rc |= curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") != CURLE_OK;
    rc |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK;
    rc |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
    rc |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_ms) != CURLE_OK;
    rc |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, remaining_ms) != CURLE_OK;
    rc |= curl_easy_setopt(e, CURLOPT_USERAGENT, "gatehouse") != CURLE_OK;
    rc |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK;
    rc |= curl_easy_setopt(e, CURLOPT_WRITEDATA, x) != CURLE_OK;
    if (x->headers) rc |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers) != CURLE_OK;
    if (x->userpwd) {
        rc |= curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC) != CURLE_OK;
        rc |= curl_easy_setopt(e, CURLOPT_USERPWD, x->userpwd) != CURLE_OK;
    }
    rc |= set_method(e, x);
    return rc ? -1 : 0;
}

/* Hands a transfer to curl now; failures finish it (delivered later from the loop). */
static void xfer_launch(struct fetch_xfer *x)
{
    double now = clock_now_ms();
    double remaining = x->deadline_ms - now;
    x->launch_ms = now;
    if (remaining < 1) {
        xfer_finish(x, FETCH_ETIMEOUT, x->lim ? FETCH_LIMITER_WAIT_ERROR : "deadline exceeded");
        return;
    }
    evtimer_del(x->ev);
    x->state = XFER_RUNNING;
    x->easy = curl_easy_init();
    if (!x->easy || configure_easy(x->easy, x, (long)ceil(remaining)) < 0) {
        xfer_finish(x, FETCH_EINTERNAL, "could not configure the transfer");
        return;
    }
    if (curl_multi_add_handle(multi, x->easy) != CURLM_OK) {
        curl_easy_cleanup(x->easy);
        x->easy = NULL;
        LOG_WARN(NULL, "fetch: curl_multi_add_handle failed", "id=%ld", x->id);
        xfer_finish(x, FETCH_EINTERNAL, "could not start the transfer");
    }
}

/* ---- limiter: token bucket + concurrency cap per key ---- */

static struct fetch_limiter *limiter_get(const struct fetch_request *req)
{
    struct fetch_limiter *lim = limiters;
    while (lim && strcmp(lim->key, req->limit_key) != 0)
        lim = lim->next;
    if (!lim) {
        lim = calloc(1, sizeof *lim);
        if (!lim) return NULL;
        lim->key = strdup(req->limit_key);
        lim->wake = evtimer_new(loop_base, on_limiter_wake, lim);
        if (!lim->key || !lim->wake) {
            if (lim->wake) event_free(lim->wake);
            free(lim->key);
            free(lim);
            return NULL;
        }
        lim->burst = req->burst >= 1 ? req->burst : 1;
        lim->tokens = lim->burst; /* starts full */
        lim->refilled_ms = clock_now_ms();
        lim->next = limiters;
        limiters = lim;
    }
    /* The newest request's settings win (the registry may be reloaded). */
    lim->rate = req->rate_per_s;
    lim->burst = req->burst >= 1 ? req->burst : 1;
    lim->max_concurrency = req->max_concurrency;
    if (lim->tokens > lim->burst) lim->tokens = lim->burst;
    return lim;
}

static void limiter_refill(struct fetch_limiter *lim, double now)
{
    if (lim->rate > 0) {
        lim->tokens += (now - lim->refilled_ms) * lim->rate / 1000.0;
        if (lim->tokens > lim->burst) lim->tokens = lim->burst;
    }
    lim->refilled_ms = now;
}

/* Returns 0 and takes a token and a slot, -1 when waiting for a slot, or the ms until the next token. */
static double limiter_take(struct fetch_limiter *lim, double now)
{
    if (lim->max_concurrency > 0 && lim->active >= lim->max_concurrency) return -1;
    if (lim->rate > 0) {
        limiter_refill(lim, now);
        if (lim->tokens < 1.0 - 1e-9) return (1.0 - lim->tokens) * 1000.0 / lim->rate + 1.0;
        lim->tokens -= 1.0;
    }
    lim->active++;
    return 0;
}

/* Starts queued transfers in FIFO order while the key allows it; otherwise arms the wake timer. */
static void limiter_pump(struct fetch_limiter *lim)
{
    lim->pumping = 1;
    while (lim->head) {
        struct fetch_xfer *x = lim->head;
        double now = clock_now_ms();
        if (x->deadline_ms - now < 1) {
            xfer_finish(x, FETCH_ETIMEOUT, FETCH_LIMITER_WAIT_ERROR);
            continue;
        }
        double wait = limiter_take(lim, now);
        if (wait < 0) break; /* a finishing transfer pumps again */
        if (wait > 0) {
            struct timeval tv = ms_to_tv(wait);
            evtimer_add(lim->wake, &tv);
            break;
        }
        xfer_unqueue(x);
        x->holds_slot = 1;
        xfer_launch(x);
    }
    lim->pumping = 0;
}

static void on_limiter_wake(evutil_socket_t fd, short what, void *arg)
{
    limiter_pump(arg);
}

static void limiter_free_all(void)
{
    while (limiters) {
        struct fetch_limiter *lim = limiters;
        limiters = lim->next;
        event_free(lim->wake);
        free(lim->key);
        free(lim);
    }
}

/* ---- request intake ---- */

static int header_ok(const char *h)
{
    return h && strpbrk(h, ":;") && !strpbrk(h, "\r\n"); /* "Name;" sends an empty header in curl */
}

static int request_ok(const struct fetch_request *req)
{
    if (!req || !req->url || req->timeout_ms <= 0 || req->connect_timeout_ms < 0) return 0;
    if (strncasecmp(req->url, "http://", 7) != 0 && strncasecmp(req->url, "https://", 8) != 0) return 0;
    if (strpbrk(req->url, "\r\n") || (req->userpwd && strpbrk(req->userpwd, "\r\n"))) return 0;
    if (req->body_len && !req->body) return 0;
    const char *m = req->method ? req->method : "GET";
    if (!*m || strlen(m) > 15 || strspn(m, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != strlen(m)) return 0;
    for (const char *const *h = req->headers; h && *h; h++)
        if (!header_ok(*h)) return 0;
    return 1;
}

/* Copies the secret-bearing inputs into one sodium_malloc'd region: header nodes first (aligned), then the
 * strings and the body. curl reads the list in place, so the nodes are ours and never curl_slist_free_all'd.
 */
static int copy_secrets(struct fetch_xfer *x, const struct fetch_request *req)
{
    size_t nh = 0, strings = strlen(req->url) + 1 + (req->userpwd ? strlen(req->userpwd) + 1 : 0);
    for (const char *const *h = req->headers; h && *h; h++, nh++)
        strings += strlen(*h) + 1;
    size_t nodes = nh * sizeof(struct curl_slist), align = alignof(max_align_t);
    size_t total = (nodes + strings + req->body_len + 1 + align - 1) / align * align;
    /* sodium_malloc places the region against a guard page: a size that is a multiple of the alignment
     * keeps its start aligned for the nodes. */
    x->secret = sodium_malloc(total);
    if (!x->secret) return -1;
    struct curl_slist *node = (struct curl_slist *)(void *)x->secret;
    char *w = (char *)x->secret + nodes;
    x->url = strcpy(w, req->url), w += strlen(req->url) + 1;
    if (req->userpwd) x->userpwd = strcpy(w, req->userpwd), w += strlen(req->userpwd) + 1;
    for (size_t i = 0; i < nh; i++) {
        node[i].data = strcpy(w, req->headers[i]);
        node[i].next = i + 1 < nh ? &node[i + 1] : NULL;
        w += strlen(req->headers[i]) + 1;
    }
    x->headers = nh ? node : NULL;
    if (req->body) {
        if (req->body_len) memcpy(w, req->body, req->body_len);
        w[req->body_len] = '\0';
        x->body = w;
        x->body_len = req->body_len;
    }
    return 0;
}

static struct fetch_xfer *xfer_new(const struct fetch_request *req, fetch_cb cb, void *arg)
{
    struct fetch_xfer *x = calloc(1, sizeof *x);
    if (!x) return NULL;
    x->ev = evtimer_new(loop_base, on_xfer_timer, x);
    if (!x->ev || copy_secrets(x, req) < 0) {
        xfer_free(x);
        return NULL;
    }
    x->cb = cb;
    x->arg = arg;
    snprintf(x->method, sizeof x->method, "%s", req->method ? req->method : "GET");
    x->max_bytes = req->max_response_bytes ? req->max_response_bytes : FETCH_DEFAULT_MAX_BYTES;
    x->connect_timeout_ms = req->connect_timeout_ms;
    if (x->connect_timeout_ms == 0)
        x->connect_timeout_ms =
            req->timeout_ms < FETCH_DEFAULT_CONNECT_MS ? req->timeout_ms : FETCH_DEFAULT_CONNECT_MS;
    x->start_ms = x->launch_ms = clock_now_ms();
    x->deadline_ms = x->start_ms + req->timeout_ms;
    return x;
}

/* ---- public API ---- */

/* Initialises curl (global) and the multi handle on base. Returns 0, or -1 (already initialised on another
 * base, or curl/libevent allocation failure). Pair with fetch_shutdown(). */
int fetch_init(struct event_base *base)
{
    if (multi) return base == loop_base ? 0 : -1;
    if (!base || sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return -1;
    loop_base = base;
    multi = curl_multi_init();
    curl_timer = evtimer_new(base, on_curl_timeout, NULL);
    if (!multi || !curl_timer) goto fail;
    curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    shutting_down = 0;
    return 0;
fail:
    if (curl_timer) event_free(curl_timer);
    if (multi) curl_multi_cleanup(multi);
    curl_timer = NULL;
    multi = NULL;
    loop_base = NULL;
    curl_global_cleanup();
    return -1;
}

/* Cancels every pending transfer — each callback runs once, synchronously, with FETCH_ECANCELLED (or with
 * its real result if it had already completed) — then frees curl, the limiters and the timers. Callbacks
 * may not start new requests meanwhile (fetch_start returns -1). Calling it twice is harmless. */
void fetch_shutdown(void)
{
    if (!multi || shutting_down) return;
    shutting_down = 1;
    while (xfers) {
        struct fetch_xfer *x = xfers;
        xfer_finish(x, FETCH_ECANCELLED, "cancelled at shutdown");
        evtimer_del(x->ev);
        xfer_deliver(x);
    }
    curl_multi_cleanup(multi); /* may still report sockets as removed: the glue must exist until here */
    multi = NULL;
    while (socks)
        sock_forget(socks);
    event_free(curl_timer);
    curl_timer = NULL;
    limiter_free_all();
    curl_global_cleanup();
    loop_base = NULL;
    shutting_down = 0;
}

/* Starts a request: every input is copied (secret-bearing ones into sodium memory), so req may be freed on
 * return. Returns a handle > 0, or -1 when the request is invalid, fetch_init has not run, shutdown is in
 * progress or memory ran out (no callback then). cb runs exactly once, later, from the loop. */
long fetch_start(const struct fetch_request *req, fetch_cb cb, void *arg)
{
    if (!multi || shutting_down || !cb || !request_ok(req)) return -1;
    struct fetch_limiter *lim = NULL;
    if (req->limit_key && !(lim = limiter_get(req))) return -1;
    struct fetch_xfer *x = xfer_new(req, cb, arg);
    if (!x) return -1;
    x->id = next_id++;
    x->next = xfers;
    if (xfers) xfers->prev = x;
    xfers = x;
    inflight++;
    if (!lim) {
        xfer_launch(x);
        return x->id;
    }
    x->lim = lim;
    x->state = XFER_QUEUED;
    struct timeval tv = ms_to_tv(x->deadline_ms - x->start_ms);
    evtimer_add(x->ev, &tv);
    if (lim->tail)
        lim->tail->qnext = x;
    else
        lim->head = x;
    lim->tail = x;
    if (!evtimer_pending(lim->wake, NULL) && !lim->pumping) limiter_pump(lim);
    return x->id;
}

/* Cancels a pending request; its callback runs later from the loop with FETCH_ECANCELLED. Unknown, finished
 * or already-cancelled handles are ignored. */
void fetch_cancel(long handle)
{
    for (struct fetch_xfer *x = xfers; x; x = x->next) {
        if (x->id != handle) continue;
        xfer_finish(x, FETCH_ECANCELLED, "cancelled");
        return;
    }
}

/* Transfers started and not yet delivered, queued ones included. */
int fetch_inflight(void)
{
    return inflight;
}

/* Stable upper-case name of a status, for logs and classification ("OK", "TIMEOUT", ...). */
const char *fetch_status_name(enum fetch_status st)
{
    switch (st) {
    case FETCH_OK:
        return "OK";
    case FETCH_ETIMEOUT:
        return "TIMEOUT";
    case FETCH_ENETWORK:
        return "NETWORK";
    case FETCH_ETOOBIG:
        return "TOO_BIG";
    case FETCH_ECANCELLED:
        return "CANCELLED";
    case FETCH_EINTERNAL:
        return "INTERNAL";
    }
    return "UNKNOWN";
}
