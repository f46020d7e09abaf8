/* fetch.h — outbound HTTP(S): libcurl multi driven by the libevent loop (curl's multi-event pattern).
 *
 * Nothing blocks: fetch_start queues a transfer and returns; the callback runs later from the loop, exactly
 * once per started request (also on timeout, on cancel and at shutdown). Requests carrying a limit_key share
 * a token bucket (rate_per_s, burst) and a concurrency cap; a request waiting for its turn still counts its
 * total deadline from fetch_start. Secret-bearing inputs (URL, headers, userpwd, body) are copied into
 * sodium-guarded memory and wiped when the transfer ends; fetch.c never logs them unredacted. */
#ifndef GATEHOUSE_FETCH_H
#define GATEHOUSE_FETCH_H

#include <stddef.h>

struct event_base;

enum fetch_status {
    FETCH_OK = 0,     /* an HTTP answer arrived (any status code) */
    FETCH_ETIMEOUT,   /* connect or total deadline passed (including time queued for the limiter) */
    FETCH_ENETWORK,   /* DNS, refused, reset, TLS failure */
    FETCH_ETOOBIG,    /* the response exceeded max_response_bytes (body holds the first bytes) */
    FETCH_ECANCELLED, /* fetch_cancel or fetch_shutdown */
    FETCH_EINTERNAL   /* out of memory, curl misuse */
};

struct fetch_request {
    const char *method;         /* "GET", "POST", ... */
    const char *url;            /* may contain a secret (query-parameter auth) */
    const char *const *headers; /* "Name: value" strings, NULL-terminated, or NULL */
    const char *body;           /* request body or NULL */
    size_t body_len;
    const char *userpwd;       /* "user:password" for HTTP Basic, or NULL */
    int connect_timeout_ms;    /* 0 = min(timeout_ms, 5000) */
    int timeout_ms;            /* total deadline, > 0 */
    size_t max_response_bytes; /* 0 = 1 MiB */
    const char *limit_key;     /* e.g. provider id; NULL = not limited */
    double rate_per_s;         /* token refill rate for limit_key (<= 0: no rate limit) */
    int burst;                 /* bucket size (>= 1) */
    int max_concurrency;       /* in-flight cap for limit_key (<= 0: none) */
};

struct fetch_response {
    enum fetch_status status;
    long http_status; /* 0 when no HTTP answer */
    const char *body; /* NUL-terminated, owned by fetch.c, valid during the callback only */
    size_t body_len;
    const char *content_type; /* or NULL; valid during the callback only */
    double total_ms;          /* from fetch_start to completion, including limiter wait */
    double queued_ms;         /* time spent waiting for the limiter */
    const char *error;        /* short, secret-free description when status != FETCH_OK */
};

typedef void (*fetch_cb)(const struct fetch_response *resp, void *arg);

/* Initialises curl (global) and the multi handle on base. Returns 0 or -1. */
int fetch_init(struct event_base *base);

/* Cancels every pending transfer (callbacks run with FETCH_ECANCELLED) and frees everything. */
void fetch_shutdown(void);

/* Starts a request. Returns a handle > 0, or -1 when the request is invalid (no callback then).
 * The callback is never invoked from inside fetch_start. */
long fetch_start(const struct fetch_request *req, fetch_cb cb, void *arg);

/* Cancels a pending request: its callback runs with FETCH_ECANCELLED (from the loop, not re-entrantly).
 * Unknown or finished handles are ignored. */
void fetch_cancel(long handle);

/* Transfers started and not yet completed (for metrics and drain). */
int fetch_inflight(void);

/* Name of a status ("OK", "TIMEOUT", ...). */
const char *fetch_status_name(enum fetch_status st);

#endif
