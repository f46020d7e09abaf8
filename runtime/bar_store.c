/* bar_store.c — market_bars writes for the tick path and backtests (see bar_store.h). */
#include "bar_store.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"

#define DB_TIMEOUT_MS 5000
#define MAX_MARKS 4096 /* symbol/timeframe pairs remembered; beyond that a fetch writes all its bars */

// clang-format off
#define UPSERT_SQL                                                                                           \
    "INSERT INTO market_bars AS m (symbol, timeframe, t, open, high, low, close, volume, provider) "          \
    "SELECT $1, $2, to_timestamp(x.t / 1000.0), x.o, x.h, x.l, x.c, x.v, $3 "                                 \
    "FROM json_to_recordset($4::json) AS x(t bigint, o numeric, h numeric, l numeric, c numeric, v numeric) "\
    "ON CONFLICT (symbol, timeframe, t) DO UPDATE SET open = EXCLUDED.open, high = EXCLUDED.high, "          \
    "low = EXCLUDED.low, close = EXCLUDED.close, volume = EXCLUDED.volume, provider = EXCLUDED.provider, "   \
    "written_at = gh_now()"
// clang-format on

struct mark {
    char symbol[32], timeframe[8];
    long long last_t_ms; /* start of the newest bar written; -1 = none yet */
};

static struct mark *marks;
static size_t n_marks, cap_marks;

/* What a write's callback needs: the trace for the log, and the mark to move on success (key "" = none). */
struct pending {
    char trace_id[33], symbol[32], timeframe[8];
    long long newest_t_ms;
};

static struct mark *find_mark(const char *symbol, const char *timeframe, int create)
{
    for (size_t i = 0; i < n_marks; i++)
        if (strcmp(marks[i].symbol, symbol) == 0 && strcmp(marks[i].timeframe, timeframe) == 0)
            return &marks[i];
    if (!create || n_marks >= MAX_MARKS) return NULL;
    if (n_marks == cap_marks) {
        size_t cap = cap_marks ? cap_marks * 2 : 16;
        struct mark *m = realloc(marks, cap * sizeof *m);
        if (!m) return NULL;
        marks = m;
        cap_marks = cap;
    }
    struct mark *m = &marks[n_marks++];
    snprintf(m->symbol, sizeof m->symbol, "%s", symbol);
    snprintf(m->timeframe, sizeof m->timeframe, "%s", timeframe);
    m->last_t_ms = -1;
    return m;
}

static void on_written(struct pg_result *res, const char *err, void *arg)
{
    struct pending *p = arg;
    if (!res)
        LOG_WARN(p->trace_id, "market_bars write failed", "symbol=%s timeframe=%s error=\"%s\"", p->symbol,
                 p->timeframe, err ? err : "-");
    else if (p->newest_t_ms >= 0) {
        struct mark *m = find_mark(p->symbol, p->timeframe, 1);
        if (m && p->newest_t_ms > m->last_t_ms) m->last_t_ms = p->newest_t_ms;
    }
    free(p);
}

/* The bars as a JSON array text [{"t":ms,"o":…},…] (malloc'd); non-finite bars are left out. NULL when out of
 * memory or when no bar is left. */
static char *rows_json(const struct bar *bars, size_t n)
{
    size_t cap = n * 160 + 8, len = 0;
    char *out = malloc(cap);
    if (!out) return NULL;
    out[len++] = '[';
    for (size_t i = 0; i < n; i++) {
        const struct bar *b = &bars[i];
        if (!isfinite(b->o) || !isfinite(b->h) || !isfinite(b->l) || !isfinite(b->c) || !isfinite(b->v))
            continue;
        int w = snprintf(out + len, cap - len,
                         "%s{\"t\":%lld,\"o\":%.17g,\"h\":%.17g,\"l\":%.17g,\"c\":%.17g,\"v\":%.17g}",
                         len > 1 ? "," : "", b->t_ms, b->o, b->h, b->l, b->c, b->v);
        if (w < 0 || (size_t)w >= cap - len) {
            free(out);
            return NULL;
        }
        len += (size_t)w;
    }
    if (len == 1) {
        free(out);
        return NULL;
    }
    out[len++] = ']';
    out[len] = '\0';
    return out;
}

/* Queues the upsert of bars[0..n); newest_t_ms >= 0 moves the tick mark of the key once written. */
static void upsert(const char *symbol, const char *timeframe, const struct bar *bars, size_t n,
                   const char *provider, const char *trace_id, long long newest_t_ms)
{
    if (!symbol || !timeframe || !bars || n == 0) return;
    char *rows = rows_json(bars, n);
    struct pending *p = rows ? calloc(1, sizeof *p) : NULL;
    if (!p) {
        free(rows);
        return;
    }
    snprintf(p->trace_id, sizeof p->trace_id, "%s", trace_id ? trace_id : "");
    snprintf(p->symbol, sizeof p->symbol, "%s", symbol);
    snprintf(p->timeframe, sizeof p->timeframe, "%s", timeframe);
    p->newest_t_ms = newest_t_ms;
    const char *params[4] = {symbol, timeframe, provider && provider[0] ? provider : NULL, rows};
    if (db_query(UPSERT_SQL, 4, params, DB_TIMEOUT_MS, on_written, p) < 0) {
        LOG_WARN(trace_id, "market_bars write not queued", "symbol=%s timeframe=%s", symbol, timeframe);
        free(p);
    }
    free(rows);
}

void bar_store_tick(const char *symbol, const char *timeframe, const struct bar_series *s,
                    const char *provider, const char *trace_id)
{
    if (!symbol || !timeframe || !s || s->n == 0) return;
    struct mark *m = find_mark(symbol, timeframe, 1);
    size_t first = 0;
    if (m)
        while (first < s->n && s->bars[first].t_ms < m->last_t_ms)
            first++;
    upsert(symbol, timeframe, s->bars + first, s->n - first, provider, trace_id, s->bars[s->n - 1].t_ms);
}

void bar_store_write(const char *symbol, const char *timeframe, const struct bar *bars, size_t n,
                     const char *provider, const char *trace_id)
{
    upsert(symbol, timeframe, bars, n, provider, trace_id, -1);
}

void bar_store_clear(void)
{
    free(marks);
    marks = NULL;
    n_marks = cap_marks = 0;
}
