/* telemetry.c — proof of use: record queue, batch writer, spill file + replay, aggregates; see telemetry.h.
 *
 * Records are held as rows of text parameters (one allocation each) in a bounded FIFO. One batch at a time
 * (≤ TELEMETRY_BATCH_MAX consecutive rows of one table; the next one fills meanwhile) goes to Postgres — two
 * when both are first sends of queue rows (pump_second). Usage
 * rows taken from the queue and never sent before go as one `COPY ... FROM STDIN` (db_copy: libpq's
 * asynchronous copy on the loop): nothing of them can be in the table yet, so no conflict handling is needed.
 * Everything else — a spill replay, a re-send after an ambiguous failure, the other tables — goes through
 * db_query as one idempotent INSERT with parameters only: usage events as INSERT ... SELECT FROM unnest() of
 * one array per column, the others as a VALUES list. Ids and created_at are set at acceptance, so a re-sent
 * batch is harmless: usage events and verifications use ON CONFLICT DO NOTHING on their primary key; system
 * events (bigserial id) carry a client uuid in metadata->>'event_uuid' and are inserted WHERE NOT EXISTS,
 * which is exactly once except for the narrow race of a re-send overlapping a still-running first attempt.
 *
 * Spill file (format and file handling in telemetry_spill.c): fsync'd after each batch written. A failed
 * batch is spilled and the writer turns "down": from then on the queue drains into the file every tick, and
 * every second one chunk of the file is re-sent as a probe. Once a chunk goes in, the writer is up again and
 * replays the rest back to back; when the whole file is in the database it is truncated. The replay position
 * lives in memory only: after a crash the file is replayed from its start, which the idempotent INSERTs make
 * harmless. Before the writer knows the database is down, a queue batch unanswered for SUSPECT_AFTER_MS makes
 * it suspect: the batch in flight is copied to the file, the queue drains into it and new records are
 * appended at acceptance, so a crash in the first seconds of an outage loses at most what was accepted in the
 * last SUSPECT_AFTER_MS + one tick (docs/faults.md).
 *
 * Durable acknowledgement (the ingest route's 202): a record may carry an ack (telemetry_ack_new). It is
 * settled when its batch commits (batch_done) or when it is in the spill file and fdatasync'd (rows_spilled:
 * at once after a synced write, else at the next sync, which an unsynced write with acks asks for at once, so
 * every write of one loop pass shares one fdatasync); a record freed otherwise was lost and fails its ack.
 * A queued record with an ack arms a LINGER_MS timer so its batch leaves soon, not at the next flush tick.
 *
 * I/O in a caller's stack happens only when the queue is full or the writer is down or suspect: the record is
 * then appended to the spill file with one write(2) (fsync'd by the next tick). Start-up (seeding, leftover
 * spill) and telemetry_stop (after the loop has exited) use a short-lived blocking connection to
 * cfg.database_url. */
#include "telemetry.h"
#include "secret.h"
#include "metrics.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "db.h"
#include "id.h"
#include "log.h"
#include "telemetry_spill.h"
#include "usage_stats.h"

#define QUEUE_CAP 65536
#define BATCH_SOON 500                        /* queued rows that trigger a flush before the next tick */
#define TAKE_WINDOW (4 * TELEMETRY_BATCH_MAX) /* queued rows a batch picks its table's rows from */
#define BATCH_TIMEOUT_MS 5000                 /* queueing + execution of one batch on the pool */
#define FLUSH_EVERY_MS 100
#define REPLAY_EVERY_S 1
#define PARTITION_EVERY_S 3600
#define SUSPECT_AFTER_MS 250 /* a queue batch unanswered this long: records stop living only in memory */
#define POISON_TRIES 5       /* a chunk refused this often while the database answers pings is bisected */

static struct {
    struct event_base *base;
    struct event *flush_ev, *replay_ev, *partition_ev;
    int started, stopping, down, retention_days;
    double retention_ran_ms;   /* monotonic: the last retention drop (telemetry_retention_due) */
    int q_head, q_count;       /* the FIFO is `queue` below (kept out of W so W's initialiser stays small) */
    struct telemetry_batch b;  /* the batch in flight (queue, spill chunk, re-send), or rows left behind */
    struct telemetry_batch b2; /* a second queue batch in flight beside a queue batch in b (pump_second) */
    unsigned next_id;
    int poison_tries, chunk_max;
    long written_total, replayed_total, replayed_since_down, dropped_total;
    long written_batches_total; /* queue batches committed (written_total / this: rows per batch) */
    time_t last_flush_at;
    char last_error[256];
} W = {.chunk_max = TELEMETRY_BATCH_MAX};

static struct telemetry_rec *queue[QUEUE_CAP];

/* ---------------------------------------------------------------- records */

#define HEX "0123456789abcdefABCDEF"

/* NULL (SQL NULL) or a canonical UUID. */
static int is_uuid_or_null(const char *s)
{
    return !s || id_is_uuid(s);
}

/* Valid UTF-8 (the database refuses anything else, and one bad row would fail its whole batch). */
static int is_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (p && *p) {
        int n = *p < 0x80             ? 0
                : (*p & 0xE0) == 0xC0 ? 1
                : (*p & 0xF0) == 0xE0 ? 2
                : (*p & 0xF8) == 0xF0 ? 3
                                      : -1;
        if (n < 0 || (n == 1 && *p < 0xC2) || (n == 3 && *p > 0xF4)) return 0;
        for (p++; n > 0; n--, p++)
            if ((*p & 0xC0) != 0x80) return 0;
    }
    return 1;
}

static int one_of(const char *s, const char *const *set)
{
    for (; s && *set; set++)
        if (strcmp(s, *set) == 0) return 1;
    return 0;
}

/* Dumps metadata (NULL = {}) to compact JSON text, the record's own copy. NULL when it is not an object or
 * holds a NUL character (jsonb refuses \u0000). */
static char *metadata_text(const json_t *md)
{
    char *s;
    if (!md) return strdup("{}");
    if (!json_is_object(md) || !(s = json_dumps(md, JSON_COMPACT))) return NULL;
    for (char *p = strstr(s, "\\u0000"); p; p = strstr(p + 1, "\\u0000")) {
        int slashes = 0;
        for (char *q = p; q >= s && *q == '\\'; q--)
            slashes++;
        if (slashes % 2) { /* an escape, not an escaped backslash followed by "u0000" */
            free(s);
            return NULL;
        }
    }
    return s;
}

/* metadata.feature_keys_used[0], else metadata.feature, else the operation (same rule as the seeding SQL). */
static const char *feature_of(const json_t *md, const char *operation)
{
    const json_t *f = json_array_get(json_object_get(md, "feature_keys_used"), 0);
    if (json_is_string(f)) return json_string_value(f);
    f = json_object_get(md, "feature");
    return json_is_string(f) ? json_string_value(f) : operation;
}

/* ---------------------------------------------------------------- acknowledgements (durable 202) */

#define ACK_TIMEOUT_MS 5000 /* a request whose records are not durable by then is answered "not accepted" */
#define LINGER_MS 2 /* a batch holding a waiting request's rows leaves this long after the first of them */

struct telemetry_ack {
    telemetry_ack_cb done; /* NULL once answered */
    void *arg;
    int pending; /* records of the request not durable yet, + 1 until telemetry_ack_arm */
    int failed;  /* one of them was lost */
    double deadline_ms;
    struct telemetry_ack *prev, *next; /* the waiting list, oldest first (while done is set) */
};

static struct {
    struct telemetry_ack *head, *tail;
} waiting;

/* Acks of records appended to the spill file but not fsync'd yet (one entry per record): released by the next
 * successful sync (sync_ev, run once per loop pass: one fdatasync for every write of the pass). */
static struct {
    struct telemetry_ack **v;
    int n, cap;
} unsynced;

static struct event *sync_ev, *linger_ev;

static void ack_answer(struct telemetry_ack *a, int ok)
{
    telemetry_ack_cb done = a->done;
    if (!done) return;
    a->done = NULL;
    if (a->prev)
        a->prev->next = a->next;
    else
        waiting.head = a->next;
    if (a->next)
        a->next->prev = a->prev;
    else
        waiting.tail = a->prev;
    a->prev = a->next = NULL;
    done(a->arg, ok);
}

/* One record of a is durable (ok) or lost (!ok); the last one answers the request. */
static void ack_put(struct telemetry_ack *a, int ok)
{
    if (!ok) a->failed = 1;
    if (--a->pending > 0) return;
    ack_answer(a, !a->failed);
    free(a);
}

/* Settles the acks of rows (each record's ack is dropped from it). */
static void rows_ack(struct telemetry_rec *const *rows, int n, int ok)
{
    for (int i = 0; i < n; i++) {
        struct telemetry_ack *a = rows[i]->ack;
        rows[i]->ack = NULL;
        if (a) ack_put(a, ok);
    }
}

static void rec_free(struct telemetry_rec *r)
{
    if (r) rows_ack(&r, 1, 0);
    free(r);
}

static void unsynced_release(void)
{
    struct telemetry_ack **v = unsynced.v;
    int n = unsynced.n;
    unsynced.v = NULL;
    unsynced.n = unsynced.cap = 0;
    for (int i = 0; i < n; i++)
        ack_put(v[i], 1);
    free(v);
}

/* rows were just appended to the spill file: their acks are settled now when the file is synced, else at the
 * next sync (asked for now). */
static void rows_spilled(struct telemetry_rec *const *rows, int n)
{
    int synced = !telemetry_spill_state()->dirty;
    for (int i = 0; i < n; i++) {
        struct telemetry_ack *a = rows[i]->ack;
        if (!a) continue;
        rows[i]->ack = NULL;
        if (synced) {
            ack_put(a, 1);
            continue;
        }
        if (unsynced.n == unsynced.cap) {
            int cap = unsynced.cap ? unsynced.cap * 2 : 1024;
            struct telemetry_ack **v = realloc(unsynced.v, sizeof *v * (size_t)cap);
            if (!v) {
                ack_put(a, 0);
                continue;
            }
            unsynced.v = v;
            unsynced.cap = cap;
        }
        unsynced.v[unsynced.n++] = a;
    }
    if (synced)
        unsynced_release(); /* a synced write covers the earlier ones too */
    else if (unsynced.n && sync_ev)
        event_active(sync_ev, EV_TIMEOUT, 1);
}

static void on_sync(evutil_socket_t fd, short what, void *arg)
{
    if (telemetry_spill_sync_if_dirty() == 0) unsynced_release();
}

/* Answers the requests that waited ACK_TIMEOUT_MS (their records go on: to the database or the file). */
static void acks_expire(double now)
{
    while (waiting.head && waiting.head->deadline_ms <= now)
        ack_answer(waiting.head, 0);
}

struct telemetry_ack *telemetry_ack_new(telemetry_ack_cb done, void *arg)
{
    struct telemetry_ack *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    a->done = done;
    a->arg = arg;
    a->pending = 1;
    a->deadline_ms = clock_now_ms() + ACK_TIMEOUT_MS;
    a->prev = waiting.tail;
    if (waiting.tail)
        waiting.tail->next = a;
    else
        waiting.head = a;
    waiting.tail = a;
    return a;
}

void telemetry_ack_arm(struct telemetry_ack *a)
{
    ack_put(a, 1);
}

/* Appends rows to the spill file (fdatasync when sync) and settles their acks. 0, or -1 (nothing written). */
static int spill(struct telemetry_rec *const *rows, int n, int sync)
{
    if (telemetry_spill_write(rows, n, sync, W.last_error, sizeof W.last_error) < 0) return -1;
    rows_spilled(rows, n);
    return 0;
}

/* ---------------------------------------------------------------- batches */

/* Empties the spill file once every line of it is in the database. */
static void replay_finished_check(void)
{
    if (!telemetry_spill_truncate_if_replayed()) return;
    LOG_WARN(NULL, "telemetry replay complete", "replayed=%ld", W.replayed_since_down);
    W.replayed_since_down = 0;
}

/* Frees the rows of b; a row still holding an ack was lost for its request. */
static void batch_free_rows(struct telemetry_batch *b)
{
    for (int i = 0; i < b->n; i++)
        rec_free(b->rows[i]);
    b->n = 0;
}

static const char copy_sql[] =
    "COPY integration_usage_events (id, created_at, user_id, bot_id, run_id, job_id, provider_id, operation, "
    "status, latency_ms, symbol, timeframe, records, error_code, trace_id, metadata) FROM STDIN";

/* The rows of b in COPY text format (tab-separated, \N for NULL, backslash escapes), *len its length.
 * Caller frees; NULL when out of memory. */
static char *copy_text(const struct telemetry_batch *b, size_t *len)
{
    int ncols = telemetry_tables[b->rows[0]->table].ncols;
    size_t cap = 1, n = 0;
    for (int r = 0; r < b->n; r++)
        for (int c = 0; c < ncols; c++)
            cap += b->rows[r]->v[c] ? 2 * strlen(b->rows[r]->v[c]) + 1 : 3;
    char *out = malloc(cap);
    if (!out) return NULL;
    for (int r = 0; r < b->n; r++)
        for (int c = 0; c < ncols; c++) {
            const char *v = b->rows[r]->v[c];
            if (!v) {
                memcpy(out + n, "\\N", 2);
                n += 2;
            }
            for (; v && *v; v++) {
                char e = *v == '\\' ? '\\' : *v == '\t' ? 't' : *v == '\n' ? 'n' : *v == '\r' ? 'r' : 0;
                if (e) {
                    out[n++] = '\\';
                    out[n++] = e;
                } else {
                    out[n++] = *v;
                }
            }
            out[n++] = c == ncols - 1 ? '\n' : '\t';
        }
    *len = n;
    return out;
}

/* The statement of one batch: its SQL and text parameters. */
struct stmt {
    char *sql;
    const char **params;
    int nparams;
    char *arrays[TELEMETRY_MAX_COLS]; /* owned array literals (unnest form) */
};

/* One column of a batch, for db_array_literal. */
struct batch_column {
    const struct telemetry_batch *b;
    int col;
};

static const char *batch_value_at(const void *ctx, size_t r)
{
    const struct batch_column *c = ctx;
    return c->b->rows[r]->v[c->col];
}

/* Postgres array literal of column col over the batch's rows: {"v1",NULL,"v\"2"}. Caller frees. */
static char *array_literal(const struct telemetry_batch *b, int col)
{
    struct batch_column c = {b, col};
    return db_array_literal((size_t)b->n, batch_value_at, &c);
}

/* head + "($1,...),(...)" + tail for n rows of t. Caller frees. */
static char *values_sql(const struct telemetry_table_def *t, int n)
{
    size_t cap = strlen(t->sql_head) + strlen(t->sql_tail) + (size_t)n * (size_t)t->ncols * 9 + 16, len;
    char *sql = malloc(cap);
    int p = 1;
    if (!sql) return NULL;
    len = (size_t)snprintf(sql, cap, "%s", t->sql_head);
    for (int r = 0; r < n; r++)
        for (int c = 0; c < t->ncols; c++)
            len += (size_t)snprintf(sql + len, cap - len, "%s$%d%s", c == 0 ? (r ? ",(" : "(") : ",", p++,
                                    c == t->ncols - 1 ? ")" : "");
    snprintf(sql + len, cap - len, "%s", t->sql_tail);
    return sql;
}

static void stmt_free(struct stmt *st)
{
    free(st->sql);
    free(st->params);
    for (int c = 0; c < TELEMETRY_MAX_COLS; c++)
        free(st->arrays[c]);
    memset(st, 0, sizeof *st);
}

/* Builds the INSERT of batch b: one array per column where the table has an unnest form, else a VALUES
 * list with one parameter per value. Returns 0, or -1 (out of memory; st is then empty). */
static int stmt_build(const struct telemetry_batch *b, struct stmt *st)
{
    const struct telemetry_table_def *t = &telemetry_tables[b->rows[0]->table];
    memset(st, 0, sizeof *st);
    if (t->unnest_sql) {
        st->nparams = t->ncols;
        st->sql = strdup(t->unnest_sql);
        st->params = malloc(sizeof *st->params * (size_t)t->ncols);
        for (int c = 0; st->params && c < t->ncols; c++)
            if (!(st->params[c] = st->arrays[c] = array_literal(b, c))) break;
        if (st->sql && st->params && st->params[t->ncols - 1]) return 0;
    } else {
        st->nparams = b->n * t->ncols;
        st->sql = values_sql(t, b->n);
        st->params = malloc(sizeof *st->params * (size_t)st->nparams);
        for (int r = 0; st->params && r < b->n; r++)
            for (int c = 0; c < t->ncols; c++)
                st->params[r * t->ncols + c] = b->rows[r]->v[c];
        if (st->sql && st->params) return 0;
    }
    stmt_free(st);
    return -1;
}

static void set_down(const char *err)
{
    char esc[512], path[512];
    snprintf(W.last_error, sizeof W.last_error, "%s", err ? err : "unknown error");
    if (W.down) return;
    W.down = 1;
    LOG_WARN(NULL, "telemetry database down, spilling", "spill=\"%s\" error=\"%s\"",
             log_escape(telemetry_spill_state()->path, path, sizeof path),
             log_escape(W.last_error, esc, sizeof esc));
}

static void set_up(void)
{
    if (!W.down) return;
    W.down = 0;
    LOG_WARN(NULL, "telemetry database back, replaying", "spill_bytes=%lld",
             (long long)telemetry_spill_pending());
}

/* A replay chunk that keeps failing while the database answers pings holds a row the database refuses:
 * shrink the chunk to one row, and set that row aside once it alone keeps failing. */
static void replay_failed_while_reachable(struct telemetry_batch *b, const char *err)
{
    /* a timeout says nothing about the rows (a lock, a slow disk): never count it */
    if (!db_reachable() || (err && (strcasestr(err, "timeout") || strcasestr(err, "timed out")))) return;
    if (++W.poison_tries < POISON_TRIES) return;
    W.poison_tries = 0;
    if (W.chunk_max > 1) {
        W.chunk_max = 1;
        return;
    }
    json_t *o = telemetry_rec_to_json(b->rows[0]);
    char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (line) {
        telemetry_spill_reject_line(line, W.last_error);
        telemetry_spill_replayed_to(b->spill_end);
    }
    free(line);
    json_decref(o);
}

static void batch_done(struct telemetry_batch *b)
{
    W.last_flush_at = clock_wall_s();
    if (b->from_spill) {
        W.replayed_total += b->n;
        W.replayed_since_down += b->n;
        telemetry_spill_replayed_to(b->spill_end);
        W.poison_tries = 0;
        if (W.chunk_max == 1) W.chunk_max = TELEMETRY_BATCH_MAX; /* past the suspect row */
    } else {
        W.written_total += b->n;
        W.written_batches_total++;
        rows_ack(b->rows, b->n, 1);
    }
    batch_free_rows(b);
    set_up();
    replay_finished_check();
}

/* The batch did not go in: queue rows are spilled (kept in b if even that fails, retried next tick); a
 * spill chunk is simply dropped from memory, its lines are still in the file. */
static void batch_failed(struct telemetry_batch *b, const char *err)
{
    set_down(err);
    b->fresh = 0; /* it may have gone in after all: a re-send must be idempotent */
    if (b->from_spill) {
        replay_failed_while_reachable(b, err);
        batch_free_rows(b);
    } else if (b->spilled || spill(b->rows, b->n, 1) == 0) {
        batch_free_rows(b);
    }
    b->spilled = 0;
}

static void pump(void);
static void pump_second(void);
static void queue_spill_all(void);

static void on_batch_result(struct pg_result *res, const char *err, void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    struct telemetry_batch *b = id == W.b.id ? &W.b : id == W.b2.id ? &W.b2 : NULL;
    if (!b || W.stopping) return; /* taken over by telemetry_stop */
    b->id = 0;
    if (res)
        batch_done(b);
    else {
        batch_failed(b, err);
        if (W.down)
            queue_spill_all(); /* at once, not at the next tick: nothing answered 202 waits in memory */
    }
    if (!W.down && (W.q_count > 0 || telemetry_spill_pending() > 0))
        pump(); /* keep draining: a batch holds one table only */
}

/* Sends b: usage rows never sent before as a plain COPY (fastest; nothing of them can be in the table yet),
 * anything else (a replay, a re-send, the other tables) as the idempotent INSERT of stmt_build. */
static void batch_send(struct telemetry_batch *b)
{
    struct stmt st = {0};
    int built, rc;
    unsigned id = ++W.next_id ? W.next_id : ++W.next_id;
    b->id = id;
    b->sent_ms = clock_now_ms();
    b->spilled = 0;
    if (b->fresh && !b->from_spill && b->rows[0]->table == TELEMETRY_T_USAGE) {
        size_t len = 0;
        char *data = copy_text(b, &len);
        built = data != NULL;
        rc = built ? db_copy(copy_sql, data, len, BATCH_TIMEOUT_MS, on_batch_result, (void *)(uintptr_t)id)
                   : -1;
    } else {
        built = stmt_build(b, &st) == 0;
        rc = built ? db_query(st.sql, st.nparams, st.params, BATCH_TIMEOUT_MS, on_batch_result,
                              (void *)(uintptr_t)id)
                   : -1;
    }
    if (rc < 0) {
        b->id = 0;
        batch_failed(b, built ? "the database pool refused the query" : "out of memory");
    }
    stmt_free(&st);
}

/* Moves into b up to TELEMETRY_BATCH_MAX queued rows of the head's table, picked from the first TAKE_WINDOW
 * queued rows: producers interleave the tables (a verify queues a usage, a verification and a system row),
 * and taking only consecutive rows made most batches one row long, so the writer fell behind under load and
 * the queue grew. The window is partitioned stably in place: the taken rows, in their order, end up in the
 * slots just before the new head (so an un-take is still "head -= n"), the others keep their order behind
 * them. The order of each table's rows is kept; the tables have no order between them (no foreign keys among
 * them). */
static void queue_take(struct telemetry_batch *b)
{
    static struct telemetry_rec *others[TAKE_WINDOW];
    int n_others = 0, scanned = 0;
    b->n = 0;
    b->from_spill = 0;
    b->fresh = 1;
    if (!W.q_count) return;
    enum telemetry_table t = queue[W.q_head]->table;
    while (scanned < W.q_count && scanned < TAKE_WINDOW && b->n < TELEMETRY_BATCH_MAX) {
        struct telemetry_rec *r = queue[(W.q_head + scanned++) % QUEUE_CAP];
        if (r->table == t)
            b->rows[b->n++] = r;
        else
            others[n_others++] = r;
    }
    for (int i = 0; i < b->n; i++)
        queue[(W.q_head + i) % QUEUE_CAP] = b->rows[i];
    for (int i = 0; i < n_others; i++)
        queue[(W.q_head + b->n + i) % QUEUE_CAP] = others[i];
    W.q_head = (W.q_head + b->n) % QUEUE_CAP;
    W.q_count -= b->n;
}

/* While the database is down, the queue drains into the spill file (one fsync per pass). */
static void queue_spill_all(void)
{
    if (W.b.id) return;
    for (;;) {
        if (!W.b.n) queue_take(&W.b); /* rows a failed spill write left in W.b go first */
        if (!W.b.n) return;
        if (!W.b.from_spill && spill(W.b.rows, W.b.n, 0) < 0) return; /* kept, retried next tick */
        batch_free_rows(&W.b);
    }
}

static int suspect(void);

/* A second queue batch goes out beside a queue batch in flight (both first sends, as COPY): Postgres writes
 * and commits them in parallel on two connections (each commit waits for its WAL flush) while the queue
 * fills. Not while the writer is down or suspect, nor beside a replay or a re-send. */
static void pump_second(void)
{
    if (W.stopping || W.down || !W.b.id || !W.b.fresh || W.b2.id || W.b2.n || !W.q_count || suspect()) return;
    queue_take(&W.b2);
    batch_send(&W.b2);
}

/* Starts the next batch when none is in flight: a batch left over from a failed spill write first, then
 * the queue and the spill file in turn. */
static void pump(void)
{
    static int prefer_spill;
    if (W.stopping) return;
    if (W.b2.n && !W.b2.id && spill(W.b2.rows, W.b2.n, 1) == 0) /* a failed second batch's rows */
        batch_free_rows(&W.b2);
    if (W.b.id) {
        pump_second();
        return;
    }
    if (W.b.n) { /* rows a failed spill write left behind: the file, else the database (also a probe) */
        if (W.down && spill(W.b.rows, W.b.n, 1) == 0)
            batch_free_rows(&W.b);
        else
            batch_send(&W.b);
        return;
    }
    if (W.down) return; /* the replay timer probes */
    prefer_spill = !prefer_spill;
    if (telemetry_spill_pending() > 0 && (prefer_spill || !W.q_count) &&
        telemetry_spill_load_chunk(&W.b, W.chunk_max))
        batch_send(&W.b);
    else if (W.q_count) {
        queue_take(&W.b);
        batch_send(&W.b);
        pump_second();
    }
}

/* 1 while the database may be gone without the writer knowing yet: a queue batch has been in flight for
 * SUSPECT_AFTER_MS (a hung server, or a pool waiting for a connection, answers only at the BATCH_TIMEOUT_MS
 * deadline). Records are then not kept in memory only: see suspect_spill. */
static int suspect(void)
{
    if (W.down || W.stopping) return 0;
    double now = clock_now_ms();
    return (W.b.id && !W.b.from_spill && now - W.b.sent_ms >= SUSPECT_AFTER_MS) ||
           (W.b2.id && now - W.b2.sent_ms >= SUSPECT_AFTER_MS);
}

/* While suspect: the queue batch in flight is copied to the spill file once (it stays in flight; if it then
 * commits, the replay of its lines inserts nothing: ids are set at acceptance, the INSERTs are idempotent)
 * and the queue drains into the file, where the replay picks it up. No fsync here: a write(2) survives a
 * crash of the process; the tick's telemetry_spill_sync_if_dirty covers the machine. */
static void suspect_spill(void)
{
    static struct telemetry_batch tmp;
    if (W.b.id && !W.b.from_spill && !W.b.spilled && spill(W.b.rows, W.b.n, 0) == 0) W.b.spilled = 1;
    if (W.b2.id && !W.b2.spilled && spill(W.b2.rows, W.b2.n, 0) == 0) W.b2.spilled = 1;
    while (W.q_count) {
        queue_take(&tmp);
        if (spill(tmp.rows, tmp.n, 0) < 0) { /* back to the head */
            W.q_head = (W.q_head - tmp.n + QUEUE_CAP) % QUEUE_CAP;
            W.q_count += tmp.n;
            tmp.n = 0;
            return;
        }
        batch_free_rows(&tmp);
    }
}

static void on_flush_tick(evutil_socket_t fd, short what, void *arg)
{
    if (W.down)
        queue_spill_all();
    else if (suspect())
        suspect_spill();
    if (telemetry_spill_sync_if_dirty() == 0 && unsynced.n) unsynced_release();
    acks_expire(clock_now_ms());
    pump();
}

static void on_linger(evutil_socket_t fd, short what, void *arg)
{
    pump();
}

static void on_replay_tick(evutil_socket_t fd, short what, void *arg)
{
    if (W.stopping || W.b.id || W.b.n || telemetry_spill_pending() <= 0) return;
    telemetry_spill_sync_if_dirty();
    if (telemetry_spill_load_chunk(&W.b, W.chunk_max))
        batch_send(&W.b);
    else
        replay_finished_check(); /* only rejected lines were left */
}

/* ---------------------------------------------------------------- accepting records */

/* Queues r (owned), or when the queue is full appends it to the spill file right here. ack (or NULL) waits
 * for r to be durable. */
static int accept_rec(struct telemetry_rec *r, struct telemetry_ack *ack)
{
    if (!r) return -1;
    if (ack) {
        r->ack = ack;
        ack->pending++;
    }
    /* down or suspect: straight to the file (one write(2)), so a 202 never rests on memory alone; if the
     * file cannot take it, the queue keeps it (and the tick retries) */
    if (!W.stopping && W.q_count < QUEUE_CAP && (W.down || suspect()) && spill(&r, 1, 0) == 0) {
        free(r);
        return 0;
    }
    if (W.q_count >= QUEUE_CAP || W.stopping) {
        int rc = spill(&r, 1, W.stopping);
        if (rc < 0) {
            W.dropped_total++;
            LOG_ERROR(NULL, "telemetry record lost: queue full and spill file unwritable", NULL);
        }
        rec_free(r);
        return rc;
    }
    queue[(W.q_head + W.q_count) % QUEUE_CAP] = r;
    W.q_count++;
    int room = !W.b.id || !W.b2.id;
    if (W.q_count >= BATCH_SOON && W.flush_ev && room)
        event_active(W.flush_ev, EV_TIMEOUT, 1);
    else if (ack && linger_ev && room && !evtimer_pending(linger_ev, NULL)) {
        struct timeval tv = {0, LINGER_MS * 1000};
        evtimer_add(linger_ev, &tv);
    }
    return 0;
}

static void int_text(int v, char out[16])
{
    snprintf(out, 16, "%d", v);
}

static telemetry_usage_listener usage_listener;

void telemetry_set_usage_listener(telemetry_usage_listener fn)
{
    usage_listener = fn;
}

/* telemetry_usage / telemetry_usage_acked. */
static int usage_accept(const struct usage_event *ev, struct telemetry_ack *ack)
{
    static const char *const statuses[] = {"OK", "ERROR", "BLOCKED", "VERIFY", NULL};
    char id[37], at[32], lat[16], recs[16];
    const char *texts[] = {ev->provider_id, ev->operation,  ev->symbol,
                           ev->timeframe,   ev->error_code, ev->trace_id};
    char *md;
    time_t now;
    if (!ev->provider_id || !*ev->provider_id || !ev->operation || !*ev->operation ||
        !one_of(ev->status, statuses) || !id_is_trace_id(ev->trace_id) || !is_uuid_or_null(ev->bot_id) ||
        !is_uuid_or_null(ev->run_id) || !is_uuid_or_null(ev->job_id) || !is_uuid_or_null(ev->user_id))
        return -1;
    /* every usage row is one provider/subsystem call: count it for /metrics (a verify's outcome is its error
     * code) */
    metrics_provider_call(ev->provider_id, ev->operation,
                          strcmp(ev->status, "VERIFY") ? ev->status
                          : ev->error_code             ? ev->error_code
                                                       : "OK",
                          ev->latency_ms >= 0 ? ev->latency_ms : 0);
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++)
        if (!is_utf8(texts[i])) return -1;
    if (!(md = metadata_text(ev->metadata))) return -1;
    id_uuid_new(id);
    now = clock_rfc3339_us(0, at);
    int_text(ev->latency_ms, lat);
    int_text(ev->records, recs);
    // clang-format off
    const char *vals[16] = {id, at, ev->user_id, ev->bot_id, ev->run_id, ev->job_id, ev->provider_id, ev->operation,
                            ev->status, ev->latency_ms < 0 ? NULL : lat, ev->symbol, ev->timeframe,
                            ev->records < 0 ? NULL : recs, ev->error_code, ev->trace_id, md};
    // clang-format on
    int rc = accept_rec(telemetry_rec_new(TELEMETRY_T_USAGE, vals), ack);
    if (rc == 0) {
        usage_stats_record(ev->provider_id, now, ev->status, ev->bot_id,
                           feature_of(ev->metadata, ev->operation), ev->error_code, ev->latency_ms,
                           ev->trace_id);
        if (usage_listener) usage_listener(ev);
    }
    free(md);
    return rc;
}

int telemetry_usage(const struct usage_event *ev)
{
    return usage_accept(ev, NULL);
}

int telemetry_usage_acked(const struct usage_event *ev, struct telemetry_ack *ack)
{
    return usage_accept(ev, ack);
}

int telemetry_verification(const struct verification_record *v)
{
    static const char *const outcomes[] = {"OK",      "AUTH_FAILED",   "NOT_ENTITLED",   "RATE_LIMITED",
                                           "TIMEOUT", "NETWORK_ERROR", "PROVIDER_ERROR", NULL};
    char id[37], at[32], hs[16], lat[16];
    if (!v->provider_id || !*v->provider_id || !one_of(v->outcome, outcomes) ||
        !id_is_trace_id(v->trace_id) || !is_uuid_or_null(v->user_id) || !is_utf8(v->provider_id) ||
        !is_utf8(v->base_url_host) || !is_utf8(v->reason_human))
        return -1;
    id_uuid_new(id);
    clock_rfc3339_us(v->verified_at > 0 ? v->verified_at : 0, at);
    int_text(v->http_status, hs);
    int_text(v->latency_ms, lat);
    // clang-format off
    const char *vals[10] = {id, v->provider_id, v->outcome, v->http_status > 0 ? hs : NULL,
                            v->latency_ms < 0 ? NULL : lat, v->base_url_host, v->reason_human ? v->reason_human : "",
                            v->trace_id, at, v->user_id};
    // clang-format on
    return accept_rec(telemetry_rec_new(TELEMETRY_T_VERIFY, vals), NULL);
}

/* The kind CHECK of system_events: ^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$ */
static int is_kind(const char *k)
{
    if (!k || !(*k >= 'a' && *k <= 'z')) return 0;
    for (const char *p = k; *p; p++) {
        int word = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_';
        if (!word && !(*p == '.' && p[1] && p[1] != '.')) return 0;
    }
    return 1;
}

int telemetry_system_event(const char *kind, const char *severity, const char *subject, const char *message,
                           const char *trace_id, const json_t *metadata)
{
    static const char *const severities[] = {"info", "warning", "SEV-2", "SEV-1", NULL};
    char id[37], at[32];
    char *md;
    if (!severity) severity = "info";
    if (!is_kind(kind) || !one_of(severity, severities) || !id_is_trace_id(trace_id) || !is_utf8(subject) ||
        !is_utf8(message))
        return -1;
    if (!(md = metadata_text(metadata))) return -1;
    id_uuid_new(id);
    clock_rfc3339_us(0, at);
    const char *vals[8] = {id, at, kind, severity, subject, message ? message : "", trace_id, md};
    int rc = accept_rec(telemetry_rec_new(TELEMETRY_T_SYSTEM, vals), NULL);
    free(md);
    return rc;
}

void telemetry_provider_usage(const char *provider_id, struct provider_usage *out)
{
    usage_stats_get(provider_id, clock_wall_s(), out);
}

int telemetry_drain_pending(void)
{
    return W.q_count + (W.b.from_spill ? 0 : W.b.n) + W.b2.n + unsynced.n;
}

json_t *telemetry_status_json(void)
{
    char at[32];
    if (W.last_flush_at) clock_rfc3339_us(W.last_flush_at, at);
    return json_pack("{s:i, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b, s:o, s:o}", "queue_depth", W.q_count,
                     "queue_capacity", QUEUE_CAP, "spill_bytes", (json_int_t)telemetry_spill_pending(),
                     "written_total", (json_int_t)W.written_total, "written_batches_total",
                     (json_int_t)W.written_batches_total, "spilled_total",
                     (json_int_t)telemetry_spill_state()->spilled_total, "replayed_total",
                     (json_int_t)W.replayed_total, "dropped_total", (json_int_t)W.dropped_total,
                     "rejected_total", (json_int_t)telemetry_spill_state()->rejected_total, "database_down",
                     W.down, "last_flush_at", W.last_flush_at ? json_string(at) : json_null(), "last_error",
                     W.last_error[0] ? json_string(W.last_error) : json_null());
}

/* ---------------------------------------------------------------- blocking connection (start/stop only) */

static PGconn *sync_connect(int timeout_ms)
{
    char ct[16], opts[128], clock_option[64];
    snprintf(ct, sizeof ct, "%d", timeout_ms < 2000 ? 2 : timeout_ms / 1000);
    snprintf(opts, sizeof opts, "-c statement_timeout=%d %s", timeout_ms > 0 ? timeout_ms : 1,
             db_clock_option(clock_option, sizeof clock_option));
    const char *keys[] = {"dbname", "connect_timeout", "options", NULL};
    const char *vals[] = {cfg.database_url, ct, opts, NULL};
    PGconn *c;
    if (!cfg.database_url) return NULL;
    c = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(c) == CONNECTION_OK) return c;
    snprintf(W.last_error, sizeof W.last_error, "cannot connect: %s", PQerrorMessage(c));
    W.last_error[strcspn(W.last_error, "\n")] = '\0';
    PQfinish(c);
    return NULL;
}

/* Runs one query; returns the result (caller PQclear) or NULL with W.last_error set. */
static PGresult *sync_exec(PGconn *c, const char *sql, int n, const char *const *params, ExecStatusType want)
{
    PGresult *res = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) == want) return res;
    snprintf(W.last_error, sizeof W.last_error, "%s", PQresultErrorMessage(res));
    W.last_error[strcspn(W.last_error, "\n")] = '\0';
    PQclear(res);
    return NULL;
}

static int sync_send(PGconn *c, struct telemetry_batch *b)
{
    struct stmt st;
    PGresult *res =
        stmt_build(b, &st) == 0 ? sync_exec(c, st.sql, st.nparams, st.params, PGRES_COMMAND_OK) : NULL;
    stmt_free(&st);
    PQclear(res);
    if (!res) return -1;
    batch_done(b);
    return 0;
}

/* Replays the spill file through c until it is empty, a chunk fails, or the deadline passes. */
static void sync_replay(PGconn *c, time_t deadline)
{
    struct telemetry_batch *b = &W.b;
    while (telemetry_spill_pending() > 0 && clock_wall_s() < deadline &&
           telemetry_spill_load_chunk(b, W.chunk_max))
        if (sync_send(c, b) < 0) {
            batch_free_rows(b);
            return;
        }
    replay_finished_check();
}

/* ---------------------------------------------------------------- seeding */

#define FEATURE_SQL                                                                                          \
    "CASE WHEN jsonb_typeof(metadata->'feature_keys_used'->0) = 'string' THEN "                              \
    "metadata->'feature_keys_used'->>0 "                                                                     \
    "WHEN jsonb_typeof(metadata->'feature') = 'string' THEN metadata->>'feature' ELSE operation END"

static const char seed_counts_sql[] =
    "SELECT provider_id, floor(extract(epoch FROM created_at) / 60)::bigint * 60, count(*), "
    "count(*) FILTER (WHERE status = 'ERROR') FROM integration_usage_events "
    "WHERE created_at > to_timestamp($1::bigint) AND status <> 'VERIFY' GROUP BY 1, 2";

static const char seed_latency_sql[] =
    "SELECT provider_id, latency_ms FROM (SELECT provider_id, latency_ms, row_number() OVER "
    "(PARTITION BY provider_id ORDER BY created_at DESC, id DESC) AS rn FROM integration_usage_events "
    "WHERE created_at > to_timestamp($1::bigint) AND status <> 'VERIFY' AND latency_ms IS NOT NULL) s "
    "WHERE rn <= 256 ORDER BY provider_id, rn DESC";

/* Last use and last error per provider; a loose index scan finds the providers. $1 bounds the search. */
static const char seed_last_sql[] =
    "WITH RECURSIVE p(id) AS (SELECT min(provider_id) FROM integration_usage_events "
    "WHERE created_at > to_timestamp($1::bigint) UNION ALL SELECT (SELECT min(provider_id) FROM "
    "integration_usage_events WHERE provider_id > p.id AND created_at > to_timestamp($1::bigint)) FROM p "
    "WHERE p.id IS NOT NULL) "
    "SELECT p.id, u.at, u.bot_id, u.feature, u.trace_id, e.at, e.error_code FROM p "
    "LEFT JOIN LATERAL (SELECT floor(extract(epoch FROM created_at))::bigint AS at, bot_id::text AS "
    "bot_id, " FEATURE_SQL
    " AS feature, trace_id FROM integration_usage_events WHERE provider_id = p.id AND status <> 'VERIFY' "
    "AND created_at > to_timestamp($1::bigint) ORDER BY created_at DESC LIMIT 1) u ON true "
    "LEFT JOIN LATERAL (SELECT floor(extract(epoch FROM created_at))::bigint AS at, error_code "
    "FROM integration_usage_events WHERE provider_id = p.id AND error_code IS NOT NULL "
    "AND created_at > to_timestamp($1::bigint) ORDER BY created_at DESC LIMIT 1) e ON true WHERE p.id IS NOT "
    "NULL";

static const char *cell(PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

static int seed(PGconn *c, time_t now)
{
    char cutoff[32], zero[] = "0";
    const char *p[1] = {cutoff};
    PGresult *r;
    snprintf(cutoff, sizeof cutoff, "%lld", (long long)now - 86400);
    if (!(r = sync_exec(c, seed_counts_sql, 1, p, PGRES_TUPLES_OK))) return -1;
    for (int i = 0; i < PQntuples(r); i++)
        usage_stats_add_counts(cell(r, i, 0), (time_t)atoll(cell(r, i, 1)), atol(cell(r, i, 2)),
                               atol(cell(r, i, 3)));
    PQclear(r);
    if (!(r = sync_exec(c, seed_latency_sql, 1, p, PGRES_TUPLES_OK))) return -1;
    for (int i = 0; i < PQntuples(r); i++)
        usage_stats_add_latency(cell(r, i, 0), atoi(cell(r, i, 1)));
    PQclear(r);
    /* all time first (last_used_at outlives 24 h); on a huge table fall back to the last 24 h */
    p[0] = zero;
    if (!(r = sync_exec(c, seed_last_sql, 1, p, PGRES_TUPLES_OK))) {
        LOG_WARN(NULL, "telemetry: last-use seeding limited to 24 h", "error=\"%s\"", W.last_error);
        p[0] = cutoff;
        if (!(r = sync_exec(c, seed_last_sql, 1, p, PGRES_TUPLES_OK))) return -1;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        if (cell(r, i, 1))
            usage_stats_set_last_use(cell(r, i, 0), (time_t)atoll(cell(r, i, 1)), cell(r, i, 2),
                                     cell(r, i, 3), cell(r, i, 4));
        if (cell(r, i, 5))
            usage_stats_set_last_error(cell(r, i, 0), (time_t)atoll(cell(r, i, 5)), cell(r, i, 6));
    }
    PQclear(r);
    return 0;
}

/* ---------------------------------------------------------------- partitions */

static void on_partition_result(struct pg_result *res, const char *err, void *arg)
{
    char esc[512];
    if (err)
        LOG_WARN(NULL, "telemetry partition maintenance failed", "step=%s error=\"%s\"", (const char *)arg,
                 log_escape(err, esc, sizeof esc));
}

static void on_partition_tick(evutil_socket_t fd, short what, void *arg)
{
    if (W.stopping) return;
    db_query("SELECT gh_ensure_usage_partitions(((gh_now() AT TIME ZONE 'UTC')::date - 1), 9)", 0, NULL,
             60000, on_partition_result, "ensure");
}

void telemetry_retention_due(void)
{
    char days[16];
    const char *p[1] = {days};
    double now = clock_now_ms();
    if (W.stopping || W.retention_days <= 0) return;
    if (W.retention_ran_ms > 0 && now - W.retention_ran_ms < PARTITION_EVERY_S * 1000.0) return;
    W.retention_ran_ms = now;
    snprintf(days, sizeof days, "%d", W.retention_days);
    db_query("SELECT gh_drop_usage_partitions_before(((gh_now() AT TIME ZONE 'UTC')::date - $1::int))", 1, p,
             60000, on_partition_result, "drop");
}

/* ---------------------------------------------------------------- start / stop */

static struct event *timer_new(void (*cb)(evutil_socket_t, short, void *), long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    struct event *ev = event_new(W.base, -1, EV_PERSIST, cb, NULL);
    if (ev && event_add(ev, &tv) < 0) {
        event_free(ev);
        ev = NULL;
    }
    return ev;
}

int telemetry_start(struct event_base *base, const char *spill_path, int retention_days, char *err,
                    size_t errlen)
{
    PGconn *c;
    char esc[512];
    if (W.started) {
        snprintf(err, errlen, "telemetry is already started");
        return -1;
    }
    if (telemetry_spill_set_path(spill_path) < 0) {
        snprintf(err, errlen, "telemetry spill path is empty or too long");
        return -1;
    }
    if (telemetry_spill_open() < 0) {
        snprintf(err, errlen, "cannot open the telemetry spill file %s: %s", spill_path, strerror(errno));
        return -1;
    }
    W.base = base;
    W.retention_days = retention_days;
    W.stopping = W.down = 0;
    telemetry_spill_repair_tail();
    if ((c = sync_connect(10000))) {
        if (telemetry_spill_state()->bytes)
            sync_replay(c, clock_wall_s() + 30); /* before seeding, so the aggregates include it */
        if (seed(c, clock_wall_s()) < 0)
            LOG_WARN(NULL, "telemetry aggregates not seeded", "error=\"%s\"",
                     log_escape(W.last_error, esc, sizeof esc));
        PQfinish(c);
    } else if (cfg.database_url) {
        LOG_WARN(NULL, "telemetry aggregates not seeded", "error=\"%s\"",
                 log_escape(W.last_error, esc, sizeof esc));
    }
    W.flush_ev = timer_new(on_flush_tick, FLUSH_EVERY_MS);
    W.replay_ev = timer_new(on_replay_tick, REPLAY_EVERY_S * 1000);
    W.partition_ev = timer_new(on_partition_tick, PARTITION_EVERY_S * 1000L);
    sync_ev = event_new(base, -1, 0, on_sync, NULL);
    linger_ev = evtimer_new(base, on_linger, NULL);
    if (!W.flush_ev || !W.replay_ev || !W.partition_ev || !sync_ev || !linger_ev) {
        snprintf(err, errlen, "cannot create the telemetry timers");
        return -1;
    }
    on_partition_tick(-1, 0, NULL);
    W.started = 1;
    if (telemetry_spill_pending() > 0)
        LOG_WARN(NULL, "telemetry spill file pending", "spill=\"%s\" bytes=%lld",
                 log_escape(telemetry_spill_state()->path, esc, sizeof esc),
                 (long long)telemetry_spill_pending());
    return 0;
}

static void free_timer(struct event **ev)
{
    if (*ev) event_free(*ev);
    *ev = NULL;
}

/* Writes the batch in hand and the queue through c (when not NULL) or else to the spill file. */
static void stop_drain(PGconn *c, time_t deadline)
{
    struct telemetry_batch *b = &W.b;
    if (b->from_spill) batch_free_rows(b); /* still in the file */
    if (W.b2.n && !(c && clock_wall_s() < deadline && sync_send(c, &W.b2) == 0)) {
        c = NULL;
        if (spill(W.b2.rows, W.b2.n, 1) < 0) W.dropped_total += W.b2.n;
        batch_free_rows(&W.b2);
    }
    for (;;) {
        if (!b->n) queue_take(b);
        if (!b->n) return;
        if (c && clock_wall_s() < deadline && sync_send(c, b) == 0) continue;
        c = NULL; /* one failure: the rest goes to the file without further waiting */
        if (spill(b->rows, b->n, 1) < 0) W.dropped_total += b->n;
        batch_free_rows(b);
    }
}

void telemetry_stop(int timeout_ms)
{
    PGconn *c = NULL;
    time_t deadline = clock_wall_s() + (timeout_ms > 0 ? (timeout_ms + 999) / 1000 : 0);
    W.stopping = 1; /* late db_query callbacks are ignored from now on */
    W.b.id = W.b2.id = 0;
    free_timer(&W.flush_ev);
    free_timer(&W.replay_ev);
    free_timer(&W.partition_ev);
    free_timer(&sync_ev);
    free_timer(&linger_ev);
    if (!W.down && timeout_ms > 0 && (W.q_count || W.b.n || W.b2.n || telemetry_spill_pending() > 0))
        c = sync_connect(timeout_ms);
    stop_drain(c, deadline);
    if (c && telemetry_spill_pending() > 0) sync_replay(c, deadline);
    if (c) PQfinish(c);
    if (telemetry_spill_sync_if_dirty() == 0) unsynced_release();
    for (int i = 0; i < unsynced.n; i++) /* the file could not be synced */
        ack_put(unsynced.v[i], 0);
    unsynced.n = 0;
    acks_expire(1e300); /* nothing of theirs is left in memory: none is still waiting */
    if (W.dropped_total) LOG_ERROR(NULL, "telemetry records lost at stop", "count=%ld", W.dropped_total);
    telemetry_spill_close();
    W.started = 0;
    usage_stats_reset();
}
