/* tick_batch.c — many ticks' no-trade traces in one fenced statement (tick_batch.h). */
#include "tick_batch.h"

#include <event2/event.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "id.h"
#include "log.h"

#define NFIELDS 10
#define TRACE_FIELD 8 /* the trace id: how a returned row finds its trace */
#define DB_TIMEOUT_MS 3000

struct entry {
    const char *f[NFIELDS]; /* into the same allocation */
    tick_trace_cb cb;
    void *arg;
    int done;
};

struct batch {
    int n;
    struct entry *e[TICK_BATCH_MAX];
};

struct reader {
    char bot_id[37];
    tick_read_cb cb;
    void *arg;
};

struct reads {
    const char *sql;
    tick_read_end_cb end;
    int id_col, n;
    char ids[TICK_BATCH_MAX][37];
    struct reader r[TICK_BATCH_MAX];
};

static struct {
    struct event *timer, *read_ev;
    int armed;
    struct batch *q;  /* the rows of the next statement */
    struct reads *rq; /* the reads of this loop turn */
} B;

/* One allocation: the entry, then its strings. */
static struct entry *entry_new(const struct tick_trace *tr, tick_trace_cb cb, void *arg)
{
    const char *src[NFIELDS] = {
        tr->bot_id,     tr->suppression_type, tr->decision,  tr->reason_human, tr->reason_code,
        tr->blocked_by, tr->signals,          tr->variables, tr->trace_id,     tr->epoch};
    size_t len[NFIELDS], total = sizeof(struct entry);
    for (int i = 0; i < NFIELDS; i++) {
        len[i] = src[i] ? strlen(src[i]) + 1 : 0;
        total += len[i];
    }
    struct entry *e = malloc(total);
    if (!e) return NULL;
    char *p = (char *)(e + 1);
    for (int i = 0; i < NFIELDS; i++) {
        e->f[i] = src[i] ? memcpy(p, src[i], len[i]) : NULL;
        p += len[i];
    }
    e->cb = cb;
    e->arg = arg;
    e->done = 0;
    return e;
}

static void entry_done(struct entry *e, const char *code, const char *err)
{
    e->done = 1;
    e->cb(code, err, e->arg);
}

/* A result row by its key (a bot id, a trace id): the rows sorted by key and searched per caller, not
 * compared n x rows times. */
struct row_id {
    const char *id;
    int row;
};

static int row_id_cmp(const void *a, const void *b)
{
    return strcmp(((const struct row_id *)a)->id, ((const struct row_id *)b)->id);
}

/* Fills by[] with the first max rows of res (none when res is NULL), keyed by column col and sorted; returns
 * how many. */
static int rows_by_key(PGresult *res, int col, struct row_id *by, int max)
{
    int rows = res ? PQntuples(res) : 0;
    if (rows > max) rows = max;
    for (int r = 0; r < rows; r++)
        by[r] = (struct row_id){PQgetvalue(res, r, col), r};
    qsort(by, (size_t)rows, sizeof *by, row_id_cmp);
    return rows;
}

/* The row whose key is key in by[0..n) (rows_by_key), or -1. */
static int row_of(const struct row_id *by, int n, const char *key)
{
    struct row_id want = {key, -1};
    const struct row_id *hit = bsearch(&want, by, (size_t)n, sizeof *by, row_id_cmp);
    return hit ? hit->row : -1;
}

/* The statement of every batch: $1 is the LEASE_LOST reason, $2..$11 one array per field (a constant text,
 * so Postgres plans a small statement, not a VALUES list of 10 parameters a row). The fence is taken once per
 * shard and epoch of the batch (gh_fence_ok of one of its bots: the same shard lock and lease row for all of
 * them), shards in ascending order so two batches take their shared fences in the same order; every row gets
 * its group's answer. */
static const char BATCH_SQL[] =
    "WITH r AS (SELECT * FROM unnest($2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::jsonb[], "
    "  $8::jsonb[], $9::jsonb[], $10::text[], $11::bigint[]) "
    "  AS r (bot_id, st, sd, rh, rc, blk, sig, vars, trace_id, epoch)), "
    "s AS MATERIALIZED (SELECT r.*, gh_shard_of(r.bot_id) AS shard FROM r), "
    "k AS MATERIALIZED (SELECT shard, epoch, gh_fence_ok(min(bot_id::text)::uuid, epoch) AS ok FROM s "
    "  GROUP BY shard, epoch ORDER BY shard), "
    "f AS (SELECT s.*, k.ok FROM s JOIN k ON k.shard = s.shard AND k.epoch IS NOT DISTINCT FROM s.epoch) "
    "INSERT INTO no_trade_traces (bot_id, suppression_type, suppression_decision, reason_human, "
    "  reason_code, blocked_by, signals, variables_snapshot, trace_id, lease_epoch) "
    "SELECT bot_id, CASE WHEN ok THEN st ELSE 'LEASE' END, CASE WHEN ok THEN sd ELSE 'BLOCKED' END, "
    "  CASE WHEN ok THEN rh ELSE $1 END, CASE WHEN ok THEN rc ELSE 'LEASE_LOST' END, "
    "  CASE WHEN ok THEN blk ELSE '[\"LEASE_LOST\"]'::jsonb END, sig, vars, trace_id, epoch FROM f "
    "RETURNING trace_id, reason_code";

/* One field of a batch's rows, for db_array_literal. */
struct batch_field {
    const struct batch *b;
    int field;
};

static const char *batch_value_at(const void *ctx, size_t i)
{
    const struct batch_field *f = ctx;
    return f->b->e[i]->f[f->field];
}

static void send_batch(struct batch *b);

/* Each row of the result finds its trace by trace id; a batch that failed is retried row by row. */
static void on_batch(struct pg_result *res, const char *err, void *arg)
{
    struct batch *b = arg;
    if (!res && b->n > 1) {
        LOG_WARN(NULL, "no-trade batch failed; writing its rows one by one", "rows=%d error=\"%s\"", b->n,
                 err);
        for (int i = 0; i < b->n; i++) {
            struct batch *one = malloc(sizeof *one);
            if (!one) {
                entry_done(b->e[i], NULL, "out of memory");
                free(b->e[i]);
                continue;
            }
            one->n = 1;
            one->e[0] = b->e[i];
            send_batch(one);
        }
        free(b);
        return;
    }
    struct row_id by_trace[TICK_BATCH_MAX]; /* one row per entry */
    int rows = rows_by_key(res, 0, by_trace, TICK_BATCH_MAX);
    for (int i = 0; i < b->n; i++) {
        int row = b->e[i]->f[TRACE_FIELD] ? row_of(by_trace, rows, b->e[i]->f[TRACE_FIELD]) : -1;
        if (row >= 0) entry_done(b->e[i], PQgetvalue(res, row, 1), NULL);
    }
    for (int i = 0; i < b->n; i++) {
        if (!b->e[i]->done) entry_done(b->e[i], NULL, res ? "no row written" : err);
        free(b->e[i]);
    }
    free(b);
}

/* Queues b's statement; when it cannot be queued, every row fails at once. Takes b. */
static void send_batch(struct batch *b)
{
    char *arrays[NFIELDS] = {0};
    const char *params[1 + NFIELDS] = {TICK_BATCH_LEASE_LOST_HUMAN};
    int queued = 0, built = 1;
    for (int f = 0; f < NFIELDS && built; f++) {
        struct batch_field field = {b, f};
        built = (params[1 + f] = arrays[f] = db_array_literal((size_t)b->n, batch_value_at, &field)) != NULL;
    }
    if (built) queued = db_query(BATCH_SQL, 1 + NFIELDS, params, DB_TIMEOUT_MS, on_batch, b) == 0;
    for (int f = 0; f < NFIELDS; f++)
        free(arrays[f]);
    if (queued) return;
    for (int i = 0; i < b->n; i++) {
        entry_done(b->e[i], NULL, "the no-trade trace could not be queued");
        free(b->e[i]);
    }
    free(b);
}

static void flush(void)
{
    struct batch *b = B.q;
    B.q = NULL;
    if (b && b->n)
        send_batch(b);
    else
        free(b);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    B.armed = 0;
    flush();
}

int tick_batch_trace(const struct tick_trace *tr, tick_trace_cb cb, void *arg)
{
    if (!B.q && !(B.q = calloc(1, sizeof *B.q))) return -1;
    struct entry *e = entry_new(tr, cb, arg);
    if (!e) return -1;
    B.q->e[B.q->n++] = e;
    if (B.q->n == TICK_BATCH_MAX || !B.timer) {
        flush();
    } else if (!B.armed) {
        struct timeval tv = {0, TICK_BATCH_FLUSH_MS * 1000};
        if (event_add(B.timer, &tv) == 0)
            B.armed = 1;
        else
            flush();
    }
    return 0;
}

/* ---- reads ---- */

static void on_reads(struct pg_result *res, const char *err, void *arg)
{
    struct reads *q = arg;
    struct row_id by_id[TICK_BATCH_MAX]; /* at most one row per read */
    int rows = rows_by_key(res, q->id_col, by_id, TICK_BATCH_MAX);
    for (int i = 0; i < q->n; i++)
        q->r[i].cb(res, row_of(by_id, rows, q->r[i].bot_id), res ? NULL : err, q->r[i].arg);
    if (q->end) q->end();
    free(q);
}

/* Queues q's statement. Returns 0 (q is on_reads' now) or -1 (q untouched, no callback). */
static int send_reads(struct reads *q)
{
    char *list = id_list_literal((const char(*)[37])q->ids, q->n);
    const char *p[1] = {list};
    int rc = list && db_query(q->sql, 1, p, DB_TIMEOUT_MS, on_reads, q) == 0 ? 0 : -1;
    free(list); /* db_query copied it */
    return rc;
}

static void flush_reads(void)
{
    struct reads *q = B.rq;
    B.rq = NULL;
    if (!q || send_reads(q) == 0) return;
    for (int i = 0; i < q->n; i++)
        q->r[i].cb(NULL, -1, "the read could not be queued", q->r[i].arg);
    if (q->end) q->end();
    free(q);
}

static void on_read_ev(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    flush_reads();
}

int tick_batch_read(const char *sql, int id_col, const char *bot_id, tick_read_cb cb, tick_read_end_cb end,
                    void *arg)
{
    if (!bot_id || strlen(bot_id) != 36) return -1;
    if (B.rq && (B.rq->sql != sql || B.rq->id_col != id_col)) flush_reads();
    if (!B.rq) {
        if (!(B.rq = malloc(sizeof *B.rq))) return -1;
        B.rq->sql = sql;
        B.rq->end = end;
        B.rq->id_col = id_col;
        B.rq->n = 0;
        if (B.read_ev)
            event_active(B.read_ev, EV_TIMEOUT, 1); /* runs once this loop turn's events are done */
    }
    struct reader *r = &B.rq->r[B.rq->n];
    memcpy(r->bot_id, bot_id, 37);
    memcpy(B.rq->ids[B.rq->n], bot_id, 37);
    r->cb = cb;
    r->arg = arg;
    B.rq->n++;
    if (!B.read_ev) { /* not started (unit tests): at once, and a refusal is this caller's */
        struct reads *q = B.rq;
        B.rq = NULL;
        if (send_reads(q) == 0) return 0;
        free(q);
        return -1;
    }
    if (B.rq->n == TICK_BATCH_MAX) flush_reads();
    return 0;
}

int tick_batch_start(struct event_base *base)
{
    if (B.timer) return 0;
    B.timer = evtimer_new(base, on_timer, NULL);
    B.read_ev = event_new(base, -1, 0, on_read_ev, NULL);
    return B.timer && B.read_ev ? 0 : -1;
}

void tick_batch_stop(void)
{
    if (B.timer) event_free(B.timer);
    if (B.read_ev) event_free(B.read_ev);
    B.timer = B.read_ev = NULL;
    B.armed = 0;
    flush();
    flush_reads();
}
