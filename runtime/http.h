/* http.h — the evhttp server: routing table, request context, JSON envelope, body limits, trace ids.
 *
 * Every response is JSON {"success": bool, "trace_id": "<32 hex>", ...}, sent with X-Trace-Id and passed
 * through the redactor. A handler must answer exactly once (now or later from a callback) with
 * http_reply_json or http_reply_error; the context is freed by that call. */
#ifndef GATEHOUSE_HTTP_H
#define GATEHOUSE_HTTP_H

#include <jansson.h>
#include <stddef.h>
#include <time.h>

struct event_base;
struct evhttp_request;

#define HTTP_MAX_PARAMS 4

struct http_ctx {
    struct evhttp_request *req;
    char trace_id[33];
    const char *method;                      /* "GET", "POST", ... */
    const char *route;                       /* matched route pattern (for metrics), NULL when none matched */
    char *path;                              /* decoded path, owned */
    const char *params[HTTP_MAX_PARAMS];     /* values of :name segments, in pattern order (point into path) */
    json_t *body;                            /* parsed JSON object, or NULL when the request had no body */
    struct evkeyvalq *query;                 /* parsed query string */
    double started_ms;                       /* monotonic clock at arrival */
};

typedef void (*http_handler)(struct http_ctx *ctx);

struct http_route {
    const char *method;  /* "GET", "POST", ...; HEAD is served by GET routes */
    const char *pattern; /* "/api/bots/:id/start" */
    http_handler handler;
};

/* Binds cfg.listen_host:cfg.listen_port and serves routes (a table ending with a NULL method, kept by the
 * caller for the server's lifetime). Returns 0, or -1 with err filled. */
int http_start(struct event_base *base, const struct http_route *routes, char *err, size_t errlen);

/* Stops accepting new connections (first step of a drain). */
void http_stop_accepting(void);

/* Requests received and not yet answered. */
int http_inflight(void);

/* Frees the server (closes idle keep-alive connections). */
void http_free(void);

/* Sends body (stolen) wrapped in the envelope: "success" defaults to status < 400, "trace_id" is set. */
void http_reply_json(struct http_ctx *ctx, int status, json_t *body);

/* Sends a successful envelope around pre-serialised members: {"success":<status < 400>,"trace_id":"..",
 * members}. members is the compact JSON of an object's members without its braces ("\"a\":1"), already
 * redacted (see body_cache.h); it is copied. */
void http_reply_members(struct http_ctx *ctx, int status, const char *members, size_t len);

/* Sends a non-JSON body (e.g. Prometheus text) with content_type; still redacted, still X-Trace-Id. */
void http_reply_raw(struct http_ctx *ctx, int status, const char *content_type, const char *body, size_t len);

/* Sends a JSON error: success false, error_code (from docs/error-codes.md), reason_human, and suggested_fix
 * when not NULL. extra (stolen, may be NULL) is merged in, e.g. {"field": "reason"}. */
void http_reply_error(struct http_ctx *ctx, int status, const char *error_code, const char *reason_human,
                      const char *suggested_fix, json_t *extra);

/* Value of query parameter name, or NULL. */
const char *http_query(const struct http_ctx *ctx, const char *name);

/* Parses a W3C traceparent header value; on success copies its 32-hex trace id into out and returns 0. */
int http_parse_traceparent(const char *value, char out[33]);

/* Writes a fresh random 32-hex trace id into out. */
void http_new_trace_id(char out[33]);

/* Writes a fresh random UUID v4 (36 characters, lower-case) into out: ids made here, not by Postgres, so a
 * replayed row keeps its id. */
void http_new_uuid(char out[37]);

/* An RFC 3339 UTC timestamp ("2026-11-24T12:00:00Z") as a new JSON string, or JSON null when t is 0. */
json_t *http_json_time(time_t t);

/* 1 when s is a trace id: exactly 32 lower-case hex characters. */
int http_is_trace_id(const char *s);

/* 1 when s is a canonical 36-character UUID (hex with dashes at 8-4-4-4-12). */
int http_is_uuid(const char *s);

/* Matches path against pattern ("/a/:id/b"); on success fills params (pointers into path copies kept in
 * scratch, which must be at least strlen(path)+1 bytes) and returns 1, else 0. */
int http_match(const char *pattern, const char *path, char *scratch, const char **params);

#endif
