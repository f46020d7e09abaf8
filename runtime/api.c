/* api.c — the route handlers' shared replies, decoding, validation and pagination (see api.h). */
#include "api.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "http.h"
#include "id.h"
#include "log.h"

void api_invalid(struct http_ctx *ctx, const char *field, const char *reason_human)
{
    http_reply_error(ctx, 400, "VALIDATION_FAILED", reason_human,
                     "Correct the named field and send the request again.",
                     json_pack("{s:s}", "field", field));
}

void api_bot_not_found(struct http_ctx *ctx)
{
    http_reply_error(ctx, 404, "NOT_FOUND", "No bot has this id.", "Use an id listed by GET /api/bots.",
                     json_pack("{s:s}", "bot_id", ctx->params[0] ? ctx->params[0] : ""));
}

int api_id_ok(struct http_ctx *ctx)
{
    if (id_is_uuid(ctx->params[0])) return 1;
    api_bot_not_found(ctx);
    return 0;
}

void api_reply_db_error(struct http_ctx *ctx, const char *err, const char *what)
{
    char esc[600], reason[256];
    if (err && strncmp(err, "ERROR:", 6) == 0) { /* the statement itself failed: a bug, not an outage */
        LOG_ERROR(ctx->trace_id, "query failed", "what=\"%s\" error=\"%s\"", what,
                  log_escape(err, esc, sizeof esc));
        snprintf(reason, sizeof reason, "Postgres rejected the %s statement.", what);
        http_reply_error(ctx, 500, "INTERNAL", reason, "Report the trace id; the log line has the details.",
                         NULL);
        return;
    }
    LOG_WARN(ctx->trace_id, "database unavailable", "what=\"%s\" error=\"%s\"", what,
             log_escape(err ? err : "query queue full or pool stopped", esc, sizeof esc));
    snprintf(reason, sizeof reason, "Postgres could not run the %s query.", what);
    http_reply_error(ctx, 503, "DB_UNAVAILABLE", reason,
                     "Check that the database is reachable (see /readyz).", NULL);
}

json_t *api_decode(const char *text)
{
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    /* jsonb prints a huge real as a long integer jansson cannot hold: read such a row with reals instead */
    return v ? v : json_loads(text, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, NULL);
}

/* Walks v; field holds the path so far (length pos). On failure the path to the bad number is left in field.
 */
static int numbers_walk(const json_t *v, char *field, size_t fieldlen, size_t pos)
{
    if (json_is_real(v)) return fabs(json_real_value(v)) < 1e18;
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x)
        {
            int w = snprintf(field + pos, fieldlen - pos, ".%s", k);
            size_t next = w < 0 || (size_t)w >= fieldlen - pos ? fieldlen - 1 : pos + (size_t)w;
            if (!numbers_walk(x, field, fieldlen, next)) return 0;
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x)
        {
            int w = snprintf(field + pos, fieldlen - pos, "[%zu]", i);
            size_t next = w < 0 || (size_t)w >= fieldlen - pos ? fieldlen - 1 : pos + (size_t)w;
            if (!numbers_walk(x, field, fieldlen, next)) return 0;
        }
    }
    field[pos] = '\0';
    return 1;
}

int api_numbers_ok(const json_t *v, char *field, size_t fieldlen)
{
    size_t pos = strlen(field);
    if (fieldlen == 0 || pos >= fieldlen) return 1;
    return numbers_walk(v, field, fieldlen, pos);
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

int api_rfc3339(const char *s, char *out, size_t outlen)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, sec, oh, om;
    size_t n = s ? strlen(s) : 0, i = 19;
    if (n < 20 || n > 40 || n >= outlen) return 0;
    if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' || !digits(s + 8, 2, &d) ||
        !strchr("Tt ", s[10]) || !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) ||
        s[16] != ':' || !digits(s + 17, 2, &sec))
        return 0;
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 59) return 0;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > mdays[mo - 1] + (mo == 2 && leap)) return 0;
    if (s[i] == '.') {
        size_t f = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == f || i - f > 9) return 0;
    }
    memcpy(out, s, n + 1);
    out[10] = 'T';
    if (i + 1 == n && (s[i] == 'Z' || s[i] == 'z')) {
        out[i] = 'Z';
        return 1;
    }
    if (i + 6 != n || !strchr("+- ", s[i]) || !digits(s + i + 1, 2, &oh) || s[i + 3] != ':' ||
        !digits(s + i + 4, 2, &om) || oh > 23 || om > 59)
        return 0;
    if (out[i] == ' ') out[i] = '+'; /* an unencoded '+' in a query string arrives as a space */
    return 1;
}

int api_page_params(struct http_ctx *ctx, long *limit, char *ts, size_t tslen, char *uuid, size_t uuidlen)
{
    const char *lim = http_query(ctx, "limit"), *cursor = http_query(ctx, "cursor");
    char *end = NULL;
    *limit = 50;
    ts[0] = uuid[0] = '\0';
    if (lim) {
        *limit = strtol(lim, &end, 10);
        if (!*lim || *end || *limit < 1 || *limit > 500) {
            api_invalid(ctx, "limit", "limit must be an integer from 1 to 500 (default 50).");
            return -1;
        }
    }
    if (cursor) {
        const char *sep = strrchr(cursor, '_');
        char part[64];
        size_t n = sep ? (size_t)(sep - cursor) : 0;
        if (!sep || n == 0 || n >= sizeof part || !id_is_uuid(sep + 1) || strlen(sep + 1) >= uuidlen) {
            api_invalid(ctx, "cursor", "cursor is not a next_cursor value from this endpoint.");
            return -1;
        }
        memcpy(part, cursor, n);
        part[n] = '\0';
        if (!api_rfc3339(part, ts, tslen)) {
            api_invalid(ctx, "cursor", "cursor is not a next_cursor value from this endpoint.");
            return -1;
        }
        snprintf(uuid, uuidlen, "%s", sep + 1);
    }
    return 0;
}

struct api_page *api_page_new(struct http_ctx *ctx, long limit)
{
    struct api_page *pg = malloc(sizeof *pg);
    if (!pg) abort();
    pg->ctx = ctx;
    pg->limit = limit;
    return pg;
}

#define API_PAGE_DB_TIMEOUT_MS 5000

void api_page_query_bot(struct http_ctx *ctx, const char *sql,
                        void (*cb)(struct pg_result *, const char *, void *), const char *what)
{
    char ts[64], uuid[40], plus_one[24];
    long limit;
    if (!api_id_ok(ctx)) return;
    if (api_page_params(ctx, &limit, ts, sizeof ts, uuid, sizeof uuid) < 0) return;
    snprintf(plus_one, sizeof plus_one, "%ld", limit + 1);
    const char *p[4] = {ctx->params[0], plus_one, ts[0] ? ts : NULL, uuid[0] ? uuid : NULL};
    struct api_page *r = api_page_new(ctx, limit);
    if (db_query(sql, 4, p, API_PAGE_DB_TIMEOUT_MS, cb, r) < 0) {
        free(r);
        api_reply_db_error(ctx, NULL, what);
    }
}

json_t *api_page_next(json_t *rows, long limit, const char *at_key)
{
    if ((long)json_array_size(rows) <= limit) return json_null();
    json_t *last = json_array_get(rows, (size_t)limit - 1);
    json_t *next = json_sprintf("%s_%s", json_string_value(json_object_get(last, at_key)),
                                json_string_value(json_object_get(last, "id")));
    while ((long)json_array_size(rows) > limit)
        json_array_remove(rows, json_array_size(rows) - 1);
    return next;
}
