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

struct event;
struct event_base;
struct evhttp_connection;
struct evhttp_request;

#define HTTP_MAX_PARAMS 4

/* Who may call a route. Every route names one; the zero value is "unset" and http_start refuses a table
 * holding one, so a new route can never become public by accident. http.c enforces it before the handler
 * runs: 401 UNAUTHENTICATED without a valid session (or service token), 403 FORBIDDEN for a role below the
 * route's, 403 TWO_FACTOR_REQUIRED without a 2FA verification in the last 5 minutes. */
enum http_access {
    HTTP_ACCESS_UNSET = 0,
    HTTP_ACCESS_PUBLIC,              /* anyone: health, readiness, metrics, login/register/2fa verify */
    HTTP_ACCESS_SERVICE,             /* Authorization: Bearer $GATEHOUSE_SERVICE_TOKEN only */
    HTTP_ACCESS_VIEWER,              /* any signed-in user (viewer, operator, admin) */
    HTTP_ACCESS_OPERATOR,            /* operator or admin */
    HTTP_ACCESS_OPERATOR_OR_SERVICE, /* operator/admin session, or the service token */
    HTTP_ACCESS_ADMIN,               /* admin */
    HTTP_ACCESS_OPERATOR_FRESH_2FA,  /* operator or admin whose session passed 2FA within the fresh window */
};

/* Roles, ordered: a higher role may do everything a lower one may. */
enum http_role { HTTP_ROLE_NONE = 0, HTTP_ROLE_VIEWER, HTTP_ROLE_OPERATOR, HTTP_ROLE_ADMIN };

/* The caller of a request, filled by the session resolver (auth.c) or the service-token check. */
struct http_principal {
    int session; /* 1: authenticated by a session cookie */
    int service; /* 1: authenticated by the service token */
    enum http_role role;
    char user_id[37];
    char username[65];
    char session_id[37]; /* the session's public id (never the cookie value) */
    unsigned char session_hash[32];
    int two_factor_enabled;
    int fresh_2fa; /* 1: this session passed 2FA within the fresh window */
};

struct http_ctx {
    struct evhttp_request *req;
    char trace_id[33];
    const char *method;                    /* "GET", "POST", ... */
    const char *route;                     /* matched route pattern (for metrics), NULL when none matched */
    char *path;                            /* decoded path, owned */
    const char *params[HTTP_MAX_PARAMS];   /* values of :name segments, in pattern order (point into path) */
    json_t *body;                          /* parsed JSON object, or NULL when the request had no body */
    struct evkeyvalq *query;               /* parsed query string */
    double started_ms;                     /* monotonic clock at arrival */
    struct http_principal auth;            /* who is calling (zeroed for public routes without a session) */
    void (*handler)(struct http_ctx *ctx); /* the matched route's handler (run after the access check) */
    enum http_access access;               /* the matched route's access */
    char client_ip[64];                    /* the client's address (http_peer_ip) */
    /* a request still in flight when dispatch returns is watched for its client leaving (http.c only): */
    int gone;                       /* 1: the client disconnected before the answer */
    struct evhttp_connection *conn; /* its connection while libevent holds it, else NULL */
    struct event *watch;            /* EV_CLOSED watch on the connection's socket, or NULL */
};

/* The signed-in user on whose behalf the request runs (uuid text, valid for the request), or NULL (service
 * token, public route). Work a request starts passes it on to the rows and events it causes. */
const char *http_user_id(const struct http_ctx *ctx);

/* Adds {user_id, username} of the signed-in user to meta (a new object when meta is NULL) and returns it;
 * meta unchanged without one. For the metadata of the system events a request causes (system_events has no
 * user column). */
json_t *http_user_meta(const struct http_ctx *ctx, json_t *meta);

typedef void (*http_handler)(struct http_ctx *ctx);

struct http_route {
    const char *method;  /* "GET", "POST", ...; HEAD is served by GET routes */
    const char *pattern; /* "/api/bots/:id/start" */
    http_handler handler;
    enum http_access access;
};

/* 1 when the client of ctx disconnected before its answer (seen by libevent's close callback or a peer-close
 * watch on the socket). Async work may check it to skip steps whose only consumer was the client; it must
 * still answer once (http_reply_*): the answer is then dropped — nothing is written, the evhttp request is
 * released without being touched again, the log line says client_gone=1 and the metrics count status 499. The
 * gauge gatehouse_http_clients_gone counts such requests since start. */
int http_client_gone(const struct http_ctx *ctx);

/* Resolves the session of ctx (its cookie) and calls done exactly once, maybe later from the loop, with
 * 0 after filling ctx->auth, 1 when there is no valid session, or -1 when the session store (Postgres) is
 * unreachable and nothing cached vouches for the cookie. */
typedef void (*http_session_done)(struct http_ctx *ctx, int outcome);
typedef void (*http_session_resolver)(struct http_ctx *ctx, http_session_done done);

/* Installs the session resolver and the service-token check (1 when ctx carries the token). Without a
 * resolver every non-public route answers 401. */
void http_set_auth_hooks(http_session_resolver resolver,
                         int (*has_service_token)(const struct http_ctx *ctx));

/* 403 TWO_FACTOR_REQUIRED (for handlers that need a fresh 2FA only in some cases, e.g. enabling trading). */
void http_reply_2fa_required(struct http_ctx *ctx);

/* The value of request header name, or NULL. */
const char *http_header(const struct http_ctx *ctx, const char *name);

/* Adds a response header (e.g. Set-Cookie) to be sent with the reply; redacted like every header. */
void http_add_header(struct http_ctx *ctx, const char *name, const char *value);

/* The client's IP address as text ("127.0.0.1"), or "" when unknown: the TCP peer, or — when the peer is one
 * of GATEHOUSE_TRUSTED_PROXIES — the right-most address of X-Forwarded-For that is not a trusted proxy. Used
 * by logs, the sign-in limiter and sessions. */
const char *http_peer_ip(const struct http_ctx *ctx);

/* 1 when the address text ip lies in one of cfg.trusted_proxies, else 0 (also for text that is no address).
 */
int http_ip_trusted(const char *ip);

/* The client address of a request from peer with X-Forwarded-For values xff (all the header's lines joined
 * with ",", or NULL): peer itself unless it is trusted; else, walking xff from the right, the first address
 * that is not trusted (the left-most when all are; a malformed entry stops the walk at the last trusted hop).
 * Writes it into out. Pure but for cfg. */
void http_client_ip(const char *peer, const char *xff, char *out, size_t outlen);

/* 1 when the request's Origin header names this server (GATEHOUSE_ORIGIN when set, else
 * http[s]://<one of the allowed hosts> — never the request's own Host —, https when
 * GATEHOUSE_COOKIE_SECURE=1), 0 when it names another origin or is absent. */
int http_origin_ok(const struct http_ctx *ctx);

/* 1 when host ("name" or "name:port", any case) is one of cfg.allowed_hosts, else 0 (NULL is 0). Every
 * request is checked before routing: another Host is 421 MISDIRECTED_REQUEST. */
int http_host_allowed(const char *host);

/* Binds cfg.listen_host:cfg.listen_port and serves routes (a table ending with a NULL method, kept by the
 * caller for the server's lifetime). Returns 0, or -1 with err filled — also when a route's access is
 * HTTP_ACCESS_UNSET. */
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

struct body_cache;

/* http_reply_members for a cached body, gzip-encoded (Content-Encoding: gzip, Vary: Accept-Encoding) when
 * the request accepts gzip: the cached members are deflated once per body (body_cache_deflate), each
 * request only frames its own envelope around them. Identity otherwise, or when deflating fails. */
void http_reply_cached(struct http_ctx *ctx, int status, struct body_cache *c);

/* 1 when the Accept-Encoding value names gzip (or x-gzip) with a q-value above 0. NULL is 0. */
int http_accepts_gzip(const char *accept_encoding);

/* Sends a non-JSON body (e.g. Prometheus text) with content_type; still redacted, still X-Trace-Id. */
void http_reply_raw(struct http_ctx *ctx, int status, const char *content_type, const char *body, size_t len);

/* Sends a public build file (static.c) verbatim — not redacted: it holds no runtime data — with headers
 * (name, value, ..., NULL) and X-Trace-Id; body NULL/len 0 for a 304. */
void http_reply_static(struct http_ctx *ctx, int status, const char *const *headers, const char *body,
                       size_t len);

/* Handler for GET/HEAD requests that no route matched and whose path is outside /api/ (the web files);
 * without one they get the JSON 404. */
void http_set_fallback(http_handler handler);

/* Sends a JSON error: success false, error_code (from docs/error-codes.md), reason_human, and suggested_fix
 * when not NULL. extra (stolen, may be NULL) is merged in, e.g. {"field": "reason"}. */
void http_reply_error(struct http_ctx *ctx, int status, const char *error_code, const char *reason_human,
                      const char *suggested_fix, json_t *extra);

/* Value of query parameter name, or NULL. */
const char *http_query(const struct http_ctx *ctx, const char *name);

/* Parses a W3C traceparent header value; on success copies its 32-hex trace id into out and returns 0. */
int http_parse_traceparent(const char *value, char out[33]);

/* Matches path against pattern ("/a/:id/b"); on success fills params (pointers into path copies kept in
 * scratch, which must be at least strlen(path)+1 bytes) and returns 1, else 0. */
int http_match(const char *pattern, const char *path, char *scratch, const char **params);

/* Finds the first route of table (ended by a NULL method) whose pattern matches path and whose method is
 * method (HEAD is served by GET routes). On a match fills params as http_match does (scratch: strlen(path)+1
 * bytes) and returns the route. Otherwise returns NULL and, when allowlen > 0, writes into allow the methods
 * of the routes whose pattern matched ("GET, POST"; "" when none did: a 404 rather than a 405). Pure: no I/O,
 * no globals. */
const struct http_route *http_route_find(const struct http_route *table, const char *method, const char *path,
                                         char *scratch, const char **params, char *allow, size_t allowlen);

enum http_body_status {
    HTTP_BODY_OK,           /* *out is a new JSON object */
    HTTP_BODY_NONE,         /* empty body: *out NULL */
    HTTP_BODY_TOO_LARGE,    /* len > limit (413 PAYLOAD_TOO_LARGE) */
    HTTP_BODY_INVALID_JSON, /* not JSON, or duplicate keys (400 INVALID_JSON) */
    HTTP_BODY_NOT_OBJECT,   /* JSON but not an object (400 VALIDATION_FAILED, field "body") */
};

/* Parses a request body buf[0..len) (not NUL-terminated; may be NULL when len is 0 or len > limit) as the
 * JSON object every route expects. Fills reason (for reason_human) on every status but OK/NONE. Pure. */
enum http_body_status http_parse_json_body(const char *buf, size_t len, size_t limit, json_t **out,
                                           char *reason, size_t reasonlen);

#endif
