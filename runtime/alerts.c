/* alerts.c — Discord webhook alerts: dedup, a bounded queue, one POST in flight, one retry after a 429.
 *
 * A message is built (redacted, truncated, checked) when it is queued, so the caller's strings need not
 * outlive the call. The queue head is the message being sent: it leaves the queue when its POST succeeds or
 * finally fails. While Discord asks us to wait (429 retry_after) nothing else is sent, since its rate limit
 * applies to the whole webhook. */
#include "id.h"
#include "clock.h"
#include "alerts.h"

#include <event2/event.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fetch.h"
#include "fleet.h"
#include "log.h"
#include "secret.h"
#include "telemetry.h"

#define ALERTS_ENV "DISCORD_WEBHOOK_URL"
#define ALERTS_TOKEN_LABEL "DISCORD_WEBHOOK_URL:token"
#define QUEUE_CAP 64
#define DEDUP_CAP 128
#define DEDUP_WINDOW_MS (10.0 * 60.0 * 1000.0)
#define SEND_TIMEOUT_MS 5000
#define LIMITER_ALLOWANCE_MS 2000 /* fetch counts the limiter's wait (<= one refill) against the deadline */
#define RATE_PER_S 0.5            /* at most one message per 2 s ... */
#define BURST 3                   /* ... with a burst of 3 */
#define RETRY_AFTER_DEFAULT_MS 2000
#define RETRY_AFTER_MAX_MS 60000
#define KEY_MAX 128

/* Discord's limits (characters; counting bytes is stricter, so byte limits are safe). */
#define CONTENT_MAX 2000
#define TITLE_MAX 256
#define DESCRIPTION_MAX 4096

struct alert_msg {
    char kind[33];
    char trace_id[33];
    char dedup_key[KEY_MAX + 1];
    char *body;
    size_t body_len;
    int attempt;  /* attempts started */
    int orphaned; /* alerts_shutdown ran while this POST was in flight: the callback frees it */
    double started_ms;
};

struct dedup_entry {
    char key[KEY_MAX + 1];
    double at_ms;
};

static struct {
    struct event_base *base;
    struct alert_msg *queue[QUEUE_CAP];
    int head, count;
    struct alert_msg *inflight;
    long handle;
    int waiting_retry;
    struct event *pump, *retry;
    struct dedup_entry dedup[DEDUP_CAP];
    int n_dedup;
    long sent_total, failed_total, dropped_total;
    char last_error[200];
} A;

/* ---- text: redacted, valid UTF-8 without control characters, truncated on a character boundary ---- */

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0 when it is not one. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    size_t len = s[0] < 0x80                    ? 1
                 : s[0] >= 0xc2 && s[0] <= 0xdf ? 2
                 : s[0] >= 0xe0 && s[0] <= 0xef ? 3
                 : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4
                                                : 0;
    unsigned int cp = s[0] & (0x7f >> len);
    if (len <= 1 || n < len) return len <= n ? len : 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (len == 3 && cp < 0x800) return 0;                      /* overlong */
    if (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) return 0; /* overlong, beyond Unicode */
    if (cp >= 0xd800 && cp <= 0xdfff) return 0;                /* a surrogate */
    return len;
}

/* malloc'd copy of in, redacted, invalid bytes and control characters (but \n and \t when multiline) as '?',
 * at most max bytes: a longer text is cut on a character boundary and ends with "…" (max >= 4).
 * NULL on out of memory. */
static char *clean_text(const char *in, size_t max, int multiline)
{
    size_t rlen, o = 0, last_fit = 0;
    char *red = secret_redact(in ? in : "", in ? strlen(in) : 0, &rlen);
    char *out;
    if (!red) return NULL;
    if (!(out = malloc(rlen + 4))) {
        free(red);
        return NULL;
    }
    for (size_t i = 0; i < rlen;) {
        const unsigned char *s = (const unsigned char *)red + i;
        size_t n = utf8_seq(s, rlen - i);
        if (o + (n ? n : 1) <= max - 3) last_fit = o + (n ? n : 1);
        if (n == 0 ||
            (n == 1 && (s[0] < 0x20 || s[0] == 0x7f) && !(multiline && (s[0] == '\n' || s[0] == '\t')))) {
            out[o++] = '?';
            i += n ? n : 1;
        } else {
            memcpy(out + o, s, n);
            o += n;
            i += n;
        }
    }
    sodium_memzero(red, rlen);
    free(red);
    if (o > max) {
        o = last_fit;
        memcpy(out + o, "\xe2\x80\xa6", 3); /* … */
        o += 3;
    }
    out[o] = '\0';
    return out;
}

static int severity_color(const char *severity)
{
    if (strcmp(severity, "SEV-1") == 0) return 0xE74C3C;   /* red */
    if (strcmp(severity, "SEV-2") == 0) return 0xE67E22;   /* orange */
    if (strcmp(severity, "warning") == 0) return 0xF1C40F; /* yellow */
    return 0x3498DB;                                       /* info: blue */
}

/* ---- dedup ---- */

static void dedup_expire(double now)
{
    for (int i = 0; i < A.n_dedup;) {
        if (now - A.dedup[i].at_ms >= DEDUP_WINDOW_MS)
            A.dedup[i] = A.dedup[--A.n_dedup];
        else
            i++;
    }
}

static struct dedup_entry *dedup_find(const char *key)
{
    for (int i = 0; i < A.n_dedup; i++)
        if (strcmp(A.dedup[i].key, key) == 0) return &A.dedup[i];
    return NULL;
}

static void dedup_add(const char *key, double now)
{
    struct dedup_entry *e;
    if (A.n_dedup < DEDUP_CAP) {
        e = &A.dedup[A.n_dedup++];
    } else { /* full of live keys: the oldest one goes */
        e = &A.dedup[0];
        for (int i = 1; i < A.n_dedup; i++)
            if (A.dedup[i].at_ms < e->at_ms) e = &A.dedup[i];
    }
    snprintf(e->key, sizeof e->key, "%s", key);
    e->at_ms = now;
}

/* A message that could not be delivered may be sent again by a later notify with the same key. */
static void dedup_forget(const char *key)
{
    struct dedup_entry *e = dedup_find(key);
    if (e) *e = A.dedup[--A.n_dedup];
}

/* ---- the message ---- */

static char *build_body(const char *kind, const char *severity, const char *title, const char *text,
                        const char *trace_id, size_t *len)
{
    char *t = clean_text(title && *title ? title : kind, TITLE_MAX, 0);
    char *d = clean_text(text, DESCRIPTION_MAX, 1);
    char *sev = clean_text(severity, 16, 0);
    char *c = NULL, *head = NULL, *json = NULL, *out = NULL, footer[48], ts[32];
    json_t *root = NULL;
    if (!t || !d || !sev) goto done;
    if (!(head = malloc(strlen(sev) + strlen(t) + 4))) goto done;
    sprintf(head, "[%s] %s", sev, t);
    if (!(c = clean_text(head, CONTENT_MAX, 0))) goto done;
    snprintf(footer, sizeof footer, "trace_id %s", trace_id);
    clock_rfc3339(clock_wall_s(), ts);
    root = json_pack("{s:s, s:[{s:s, s:s, s:i, s:{s:s}, s:s}], s:{s:[]}}", "content", c, "embeds", "title", t,
                     "description", d, "color", severity_color(severity), "footer", "text", footer,
                     "timestamp", ts, "allowed_mentions", "parse");
    if (!root || !(json = json_dumps(root, JSON_COMPACT))) goto done;
    /* the fields were redacted one by one; the whole body once more, and never a body that still holds one */
    out = secret_redact(json, strlen(json), len);
    if (out && secret_contains(out, *len)) {
        LOG_ERROR(trace_id, "alert dropped: its body still holds a secret after redaction", "kind=%s", kind);
        free(out);
        out = NULL;
    }
done:
    json_decref(root);
    free(json);
    free(head);
    free(c);
    free(sev);
    free(d);
    free(t);
    return out;
}

static void msg_free(struct alert_msg *m)
{
    if (!m) return;
    if (m->body) sodium_memzero(m->body, m->body_len);
    free(m->body);
    free(m);
}

/* ---- sending ---- */

static void schedule_pump(void)
{
    if (A.pump) event_active(A.pump, EV_TIMEOUT, 1);
}

/* last_error: secret-free by construction (status codes, fetch's error text), redacted all the same */
static void set_last_error(const char *raw)
{
    char *red = clean_text(raw, sizeof A.last_error - 1, 0);
    snprintf(A.last_error, sizeof A.last_error, "%s", red ? red : "alert failed");
    free(red);
}

static void record_attempt(const struct alert_msg *m, const char *status, const char *error_code,
                           long http_status)
{
    json_t *meta =
        json_pack("{s:s, s:i, s:i}", "kind", m->kind, "http_status", (int)http_status, "attempt", m->attempt);
    struct usage_event ev = {.provider_id = "discord",
                             .operation = "alerts.send",
                             .status = status,
                             .latency_ms = (int)(clock_now_ms() - m->started_ms),
                             .records = -1,
                             .error_code = error_code,
                             .trace_id = m->trace_id,
                             .metadata = meta};
    if (telemetry_usage(&ev) < 0) LOG_WARN(m->trace_id, "alert usage event refused", "kind=%s", m->kind);
    json_decref(meta);
}

/* The queue head is done (sent or given up). */
static void pop_head(void)
{
    A.queue[A.head] = NULL;
    A.head = (A.head + 1) % QUEUE_CAP;
    A.count--;
}

/* Discord's retry_after (seconds, may be fractional) from a 429 body; the default when absent. */
static int retry_after_ms(const struct fetch_response *r)
{
    json_t *j = r->body ? json_loadb(r->body, r->body_len, 0, NULL) : NULL;
    json_t *v = json_is_object(j) ? json_object_get(j, "retry_after") : NULL;
    double ms = json_is_number(v) ? json_number_value(v) * 1000.0 : -1.0;
    json_decref(j);
    if (ms < 0 || ms != ms) return RETRY_AFTER_DEFAULT_MS;
    if (ms > RETRY_AFTER_MAX_MS) ms = RETRY_AFTER_MAX_MS;
    return (int)ms + 50; /* a little past the reset */
}

static void give_up(struct alert_msg *m, const char *error_code)
{
    char esc[sizeof A.last_error * 2];
    A.failed_total++;
    LOG_WARN(m->trace_id, "alert not delivered", "kind=%s error_code=%s attempts=%d error=\"%s\"", m->kind,
             error_code, m->attempt, log_escape(A.last_error, esc, sizeof esc));
    dedup_forget(m->dedup_key);
    pop_head();
    msg_free(m);
}

/* error_code of a failed attempt, NULL when it succeeded */
static const char *classify(const struct fetch_response *r, long hs)
{
    if (r->status == FETCH_OK) {
        if (hs >= 200 && hs < 300) return NULL;
        if (hs == 429) return "RATE_LIMITED";
        if (hs == 401 || hs == 403 || hs == 404)
            return "AUTH_FAILED"; /* bad token, unknown or deleted webhook */
        return "PROVIDER_ERROR";
    }
    if (r->status == FETCH_ETIMEOUT) return "TIMEOUT";
    if (r->status == FETCH_ETOOBIG) return "PROVIDER_ERROR";
    return "NETWORK_ERROR";
}

static void on_sent(const struct fetch_response *r, void *arg)
{
    struct alert_msg *m = arg;
    long hs = r->status == FETCH_OK ? r->http_status : 0;
    const char *code = classify(r, hs);
    char why[200];

    record_attempt(m, code ? "ERROR" : "OK", code, hs);
    if (m->orphaned) { /* after alerts_shutdown: nothing else is left to update */
        msg_free(m);
        return;
    }
    A.inflight = NULL;
    A.handle = 0;
    if (!code) {
        A.sent_total++;
        LOG_INFO(m->trace_id, "alert sent", "kind=%s http_status=%ld attempts=%d", m->kind, hs, m->attempt);
        pop_head();
        msg_free(m);
        schedule_pump();
        return;
    }
    if (r->status == FETCH_OK)
        snprintf(why, sizeof why, "Discord answered HTTP %ld%s", hs, hs == 429 ? " (rate limited)" : "");
    else
        snprintf(why, sizeof why, "%s", r->error ? r->error : fetch_status_name(r->status));
    set_last_error(why);
    if (hs == 429 && m->attempt == 1 && A.retry) {
        int wait = retry_after_ms(r);
        struct timeval tv = {wait / 1000, (wait % 1000) * 1000};
        LOG_INFO(m->trace_id, "alert rate limited; retrying once", "kind=%s retry_after_ms=%d", m->kind,
                 wait);
        A.waiting_retry = 1;
        evtimer_add(A.retry, &tv);
        return;
    }
    give_up(m, code);
    schedule_pump();
}

static void start_send(struct alert_msg *m)
{
    static const char *const headers[] = {"Content-Type: application/json", "User-Agent: gatehouse-alerts/1",
                                          NULL};
    const char *url = secret_value(ALERTS_ENV);
    struct fetch_request req = {.method = "POST",
                                .url = url,
                                .headers = headers,
                                .body = m->body,
                                .body_len = m->body_len,
                                .timeout_ms = SEND_TIMEOUT_MS + LIMITER_ALLOWANCE_MS,
                                .connect_timeout_ms = SEND_TIMEOUT_MS,
                                .max_response_bytes = 64 * 1024,
                                .limit_key = "discord",
                                .rate_per_s = RATE_PER_S,
                                .burst = BURST,
                                .max_concurrency = 1};
    m->attempt++;
    m->started_ms = clock_now_ms();
    if (!url || (A.handle = fetch_start(&req, on_sent, m)) < 0) {
        A.handle = 0;
        set_last_error(url ? "the request could not be started" : "DISCORD_WEBHOOK_URL is not set");
        record_attempt(m, "ERROR", "NETWORK_ERROR", 0);
        give_up(m, "NETWORK_ERROR");
        schedule_pump();
        return;
    }
    A.inflight = m;
}

static void on_pump(evutil_socket_t fd, short what, void *arg)
{
    if (A.inflight || A.waiting_retry || A.count == 0) return;
    start_send(A.queue[A.head]);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    A.waiting_retry = 0;
    if (A.count > 0 && !A.inflight) start_send(A.queue[A.head]);
}

/* ---- public ---- */

/* The token part of .../webhooks/{id}/{token} is a secret on its own: Discord echoes it (the webhook object,
 * some errors) without the rest of the URL, so the redactor learns it as a literal too. */
static void track_token(void)
{
    const char *url = secret_value(ALERTS_ENV), *p, *end;
    char *tok;
    size_t n;
    if (!url || !(p = strstr(url, "/webhooks/")) || !(p = strchr(p + strlen("/webhooks/"), '/'))) return;
    p++;
    end = p + strcspn(p, "/?#");
    n = (size_t)(end - p);
    if (n < SECRET_MIN_REDACT || !(tok = sodium_malloc(n + 1))) return;
    memcpy(tok, p, n);
    tok[n] = '\0';
    if (secret_add_literal(ALERTS_TOKEN_LABEL, tok) < 0)
        LOG_WARN(NULL, "alerts: cannot track the webhook token", NULL);
    sodium_free(tok);
}

int alerts_init(struct event_base *base)
{
    alerts_shutdown();
    A.base = base;
    A.pump = event_new(base, -1, 0, on_pump, NULL);
    A.retry = evtimer_new(base, on_retry, NULL);
    if (secret_track(ALERTS_ENV, 1) < 0 || !A.pump || !A.retry)
        LOG_WARN(NULL, "alerts: set-up failed; alerts are not sent", NULL);
    track_token();
    LOG_INFO(NULL, "alerts armed", "configured=%s", secret_present(ALERTS_ENV) ? "true" : "false");
    return 0;
}

void alerts_shutdown(void)
{
    if (A.inflight) {
        A.inflight->orphaned = 1; /* fetch delivers the cancel later; on_sent frees it */
        A.queue[A.head] = NULL;
        fetch_cancel(A.handle);
    }
    for (int i = 0; i < A.count; i++)
        msg_free(A.queue[(A.head + i) % QUEUE_CAP]);
    if (A.pump) event_free(A.pump);
    if (A.retry) event_free(A.retry);
    memset(&A, 0, sizeof A);
}

/* Kinds every instance of a fleet observes alike (each evaluates the same status): sent by the leader only,
 * so a fleet of three sends one. The others (a kill, a breaker, a policy reload) are sent by the instance
 * where they happened. */
static int fleet_wide(const char *kind)
{
    return strcmp(kind, "system_status") == 0 || strcmp(kind, "failover") == 0;
}

int alerts_notify(const char *kind, const char *dedup_key, const char *severity, const char *title,
                  const char *text, const char *trace_id)
{
    char key[KEY_MAX + 1];
    double now = clock_now_ms();
    struct alert_msg *m;
    if (!A.pump || !A.retry || !secret_present(ALERTS_ENV)) return 0;
    if (!kind || !*kind) kind = "alert";
    if (fleet_wide(kind) && !fleet_is_leader()) return 0; /* the leader alerts what every instance sees */
    if (!severity || !*severity) severity = "info";
    if (dedup_key && *dedup_key)
        snprintf(key, sizeof key, "%s", dedup_key);
    else
        snprintf(key, sizeof key, "%s:%s", kind, title ? title : "");
    dedup_expire(now);
    if (dedup_find(key) || A.count >= QUEUE_CAP) {
        A.dropped_total++;
        if (A.count >= QUEUE_CAP) {
            char esc[80];
            LOG_WARN(id_is_trace_id(trace_id) ? trace_id : NULL, "alert dropped: queue full", "kind=\"%s\"",
                     log_escape(kind, esc, sizeof esc));
        }
        return 0;
    }
    if (!(m = calloc(1, sizeof *m))) return 0;
    /* kind is a short tag (log lines, metadata): [A-Za-z0-9_.-], anything else becomes '_' */
    snprintf(m->kind, sizeof m->kind, "%s", kind);
    for (char *c = m->kind; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_' ||
              *c == '.' || *c == '-'))
            *c = '_';
    snprintf(m->dedup_key, sizeof m->dedup_key, "%s", key);
    if (id_is_trace_id(trace_id)) {
        memcpy(m->trace_id, trace_id, 33);
    } else {
        unsigned char raw[16];
        randombytes_buf(raw, sizeof raw);
        sodium_bin2hex(m->trace_id, sizeof m->trace_id, raw, sizeof raw);
    }
    if (!(m->body = build_body(m->kind, severity, title, text, m->trace_id, &m->body_len))) {
        msg_free(m);
        return 0;
    }
    dedup_add(key, now);
    A.queue[(A.head + A.count) % QUEUE_CAP] = m;
    A.count++;
    schedule_pump();
    return 1;
}

json_t *alerts_status_json(void)
{
    return json_pack("{s:b, s:i, s:I, s:I, s:I, s:o}", "configured", secret_present(ALERTS_ENV) && A.pump,
                     "queued", A.count, "sent_total", (json_int_t)A.sent_total, "failed_total",
                     (json_int_t)A.failed_total, "dropped_total", (json_int_t)A.dropped_total, "last_error",
                     A.last_error[0] ? json_string(A.last_error) : json_null());
}
