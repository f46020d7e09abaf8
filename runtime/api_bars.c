/* api_bars.c — GET /api/bots/:id/bars (see api_bars.h). */
#include "api_bars.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>

#include "api.h"
#include "db.h"
#include "http.h"

#define DB_TIMEOUT_MS 3000
#define DEFAULT_LIMIT 2000
#define MAX_LIMIT 10000

// clang-format off
#define BARS_SQL                                                                                             \
    "WITH b AS (SELECT symbol, timeframe FROM bots WHERE id = $1::uuid),"                                    \
    " w AS (SELECT COALESCE($3::timestamptz, gh_now()) AS hi),"                                              \
    " win AS (SELECT hi, COALESCE($2::timestamptz, hi - interval '24 hours') AS lo FROM w),"                  \
    " r AS (SELECT m.* FROM market_bars m, b, win WHERE m.symbol = b.symbol AND m.timeframe = b.timeframe"   \
    "       AND m.t >= win.lo AND m.t <= win.hi ORDER BY m.t DESC LIMIT $4::int)"                            \
    " SELECT b.symbol, b.timeframe, (SELECT COALESCE(json_agg(json_build_object('t', " API_TS("r.t")         \
    "   , 'o', r.open, 'h', r.high, 'l', r.low, 'c', r.close, 'v', r.volume, 'provider', r.provider)"       \
    "   ORDER BY r.t), '[]')::text FROM r), (SELECT lo > hi FROM win) FROM b"
// clang-format on

static void on_bars(struct pg_result *res, const char *err, void *arg)
{
    struct http_ctx *ctx = arg;
    if (!res) {
        api_reply_db_error(ctx, err, "bars read");
        return;
    }
    if (PQntuples(res) != 1) {
        api_bot_not_found(ctx);
        return;
    }
    if (PQgetvalue(res, 0, 3)[0] == 't') {
        api_invalid(ctx, "from", "Query parameter 'from' must not be after 'to' (default: now).");
        return;
    }
    json_t *bars = api_decode(PQgetvalue(res, 0, 2));
    if (!json_is_array(bars)) {
        json_decref(bars);
        http_reply_error(ctx, 500, "INTERNAL", "The bars could not be decoded.", "Report the trace id.",
                         NULL);
        return;
    }
    http_reply_json(ctx, 200,
                    json_pack("{s:s, s:s, s:o}", "symbol", PQgetvalue(res, 0, 0), "timeframe",
                              PQgetvalue(res, 0, 1), "bars", bars));
}

/* Reads ?name= as RFC 3339 into out ("" when absent). 0, or -1 after answering 400 naming it. */
static int time_param(struct http_ctx *ctx, const char *name, char *out, size_t outlen)
{
    const char *s = http_query(ctx, name);
    char reason[160];
    out[0] = '\0';
    if (!s || api_rfc3339(s, out, outlen)) return 0;
    snprintf(reason, sizeof reason,
             "Query parameter '%s' must be an RFC 3339 timestamp (e.g. 2026-12-08T15:00:00Z).", name);
    api_invalid(ctx, name, reason);
    return -1;
}

void api_bars_list(struct http_ctx *ctx)
{
    char from[64], to[64], limit_text[24];
    const char *lim = http_query(ctx, "limit");
    long limit = DEFAULT_LIMIT;
    if (!api_id_ok(ctx)) return;
    if (time_param(ctx, "from", from, sizeof from) < 0 || time_param(ctx, "to", to, sizeof to) < 0) return;
    if (lim) {
        char *end = NULL;
        limit = strtol(lim, &end, 10);
        if (!*lim || *end || limit < 1 || limit > MAX_LIMIT) {
            api_invalid(ctx, "limit", "limit must be an integer from 1 to 10000 (default 2000).");
            return;
        }
    }
    snprintf(limit_text, sizeof limit_text, "%ld", limit);
    const char *params[4] = {ctx->params[0], from[0] ? from : NULL, to[0] ? to : NULL, limit_text};
    if (db_query(BARS_SQL, 4, params, DB_TIMEOUT_MS, on_bars, ctx) < 0)
        api_reply_db_error(ctx, NULL, "bars read");
}
