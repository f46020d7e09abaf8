/* api.h — helpers shared by the route handlers (api_*.c): the database-error reply, 400/404 replies, decoding
 * what Postgres built, request validation (RFC 3339 text, jsonb-safe numbers) and cursor pagination.
 *
 * HTTP layer: handlers include it; domain modules never do. Cursors are "<RFC 3339 with microseconds>_<uuid>"
 * (a row's timestamp and id), listed oldest or newest first by (timestamp, id). */
#ifndef GATEHOUSE_API_H
#define GATEHOUSE_API_H

#include <jansson.h>
#include <stddef.h>

struct pg_result;

struct http_ctx;

/* Parses ?limit= (default 50, 1..500) and ?cursor= ("<RFC 3339>_<uuid>", a next_cursor value). On success
 * returns 0 with limit, and ts/uuid ("" when there is no cursor); otherwise replies 400 and returns -1. */
int api_page_params(struct http_ctx *ctx, long *limit, char *ts, size_t tslen, char *uuid, size_t uuidlen);

/* 1 when s is an RFC 3339 timestamp (date, 'T', time, optional fraction, 'Z' or ±hh:mm); writes a normalised
 * copy into out (a space before the offset, a '+' decoded from a query string, becomes '+'). */
int api_rfc3339(const char *s, char *out, size_t outlen);

/* Answers a failed db_query: 503 DB_UNAVAILABLE for connection problems (err NULL = queue full / stopped),
 * 500 INTERNAL (logged with the trace id) for a statement error. what names the operation. */
void api_reply_db_error(struct http_ctx *ctx, const char *err, const char *what);

/* Decodes a JSON text produced by Postgres (json_build_object / json_agg); NULL on failure. */
json_t *api_decode(const char *text);

/* Checks that every number inside v fits what Postgres jsonb can hand back losslessly to jansson
 * (|x| < 1e18). Returns 1, or 0 with the offending path appended to field (e.g. "params.a.b"). */
int api_numbers_ok(const json_t *v, char *field, size_t fieldlen);

/* 400 VALIDATION_FAILED naming field. */
void api_invalid(struct http_ctx *ctx, const char *field, const char *reason_human);

/* 1 when the bot id route parameter (params[0]) is a UUID; otherwise answers 404 NOT_FOUND
 * (api_bot_not_found) and returns 0. */
int api_id_ok(struct http_ctx *ctx);

/* 404 NOT_FOUND for the bot of the route. */
void api_bot_not_found(struct http_ctx *ctx);

/* SQL expression formatting a timestamptz column as RFC 3339 UTC with microseconds. */
#define API_TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

/* The request of a cursor-paginated list, carried to its db_query callback: api_page_new mallocs it, the
 * callback frees it. */
struct api_page {
    struct http_ctx *ctx;
    long limit;
};

/* A new api_page for ctx and limit (never NULL: aborts when out of memory). */
struct api_page *api_page_new(struct http_ctx *ctx, long limit);

/* Runs a cursor-paginated list of the route's bot: checks the :id and the limit/cursor parameters (replying
 * 400/404 itself), then queries sql with $1 the bot id, $2 limit + 1, $3/$4 the cursor's time and id (NULL
 * without a cursor); cb receives a struct api_page * and frees it. A query that cannot be queued answers the
 * database error naming what. */
void api_page_query_bot(struct http_ctx *ctx, const char *sql,
                        void (*cb)(struct pg_result *, const char *, void *), const char *what);

/* Trims rows, a JSON array read with LIMIT limit + 1, to its first limit entries and returns the next_cursor
 * (new reference): "<at>_<id>" of the last kept entry's at_key and "id" members, or JSON null when the array
 * was not longer than limit. */
json_t *api_page_next(json_t *rows, long limit, const char *at_key);

#endif
