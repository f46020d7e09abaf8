/* db.c — the async query pool and the reachability monitor. One connection runs one query at a time;
 * queries wait in a FIFO for an idle connection (the monitor's ping goes to the front). Every query has a
 * deadline timer from the moment it is queued. A busy pool is not an unreachable database: a ping that
 * timed out waiting for a connection while Postgres answered another query within PING_DEADLINE_MS does
 * not mark it unreachable. */
#include "db.h"

#include <event2/event.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "secret.h"

#define MAX_CONNS 16
#define MAX_QUEUED 20000
#define PING_EVERY_MS 500
#define PING_DEADLINE_MS 1000
#define START_GRACE_MS 10000

enum conn_state { CONN_DOWN, CONN_CONNECTING, CONN_IDLE, CONN_BUSY };

struct query {
    char *sql;
    int nparams;
    char **params;
    db_result_cb cb;
    void *arg;
    struct event *deadline;
    struct conn *running_on; /* NULL while queued */
    struct query *next;
    char *copy; /* db_copy: the COPY data (owned), fed when the server asks for it; else NULL */
    size_t copy_len;
    int timeout_ms;
    double queued_at_ms; /* clock_now_ms() when queued */
};

/* The least time a query has to run once a connection takes it. The deadline counts from queueing; a query
 * that spent nearly all of it waiting for a busy pool would otherwise have its connection dropped moments
 * after it started (libpq 15 has no non-blocking cancel), and under overload every such drop costs Postgres a
 * new backend and the pool a reconnect: throughput then falls as load grows instead of levelling off. */
#define RUN_FLOOR_MS 1000

struct conn {
    PGconn *pg;
    enum conn_state state;
    struct event *io, *retry;
    struct query *query;
    PGresult *last; /* the last result of the running query so far */
    int backoff_ms;
};

#define MAX_PARAMS 64
/* Server settings of every pool session. JIT off: the evidence queries are large correlated plans whose
 * estimated cost crosses jit_above_cost, and Postgres then spent ~5 s compiling each autonomy round (measured
 * on 1,000 bots: 5.4 s of JIT for 0.3 s of execution), starving the bots' tick queries of CPU. */
#define SESSION_OPTIONS "-c jit=off"

static struct {
    struct event_base *base;
    char *conninfo;
    PQconninfoOption *parsed; /* conninfo as keywords, options extended with SESSION_OPTIONS */
    const char *keys[MAX_PARAMS], *vals[MAX_PARAMS];
    char *options;
    struct conn conns[MAX_CONNS];
    int size;
    struct query *head, *tail;
    int queued, running;
    int stopped;
    struct event *ping_timer;
    int ping_pending;
    int ping_answered; /* 0 until the first ping answered (ok or not): the state is "unknown" till then */
    int reachable;
    time_t last_ok_at;
    double last_answer_ms; /* clock_now_ms() of the last answer Postgres sent to any query */
    double started_ms;     /* clock_now_ms() of db_pool_start */
    char last_error[512];
} pool;

static void dispatch(void);
static void conn_connect(struct conn *c);

/* ---- queries ---- */

static void free_query(struct query *q)
{
    for (int i = 0; i < q->nparams; i++)
        free(q->params[i]);
    free(q->params);
    free(q->sql);
    free(q->copy);
    if (q->deadline) event_free(q->deadline);
    free(q);
}

/* Delivers the outcome and frees the query. */
static void finish_query(struct query *q, PGresult *res, const char *err)
{
    if (q->running_on) pool.running--;
    q->cb(res, err, q->arg);
    free_query(q);
}

static void unlink_queued(struct query *q)
{
    struct query **pp = &pool.head, *prev = NULL;
    for (; *pp; prev = *pp, pp = &(*pp)->next)
        if (*pp == q) {
            *pp = q->next;
            if (pool.tail == q) pool.tail = prev;
            pool.queued--;
            return;
        }
}

/* ---- connections ---- */

/* 1 when Postgres is reachable and answered a query within the last PING_DEADLINE_MS: a timeout now means a
 * busy pool, not a database that is down. */
static int busy_not_down(void)
{
    return pool.reachable && pool.last_answer_ms > 0 &&
           clock_now_ms() - pool.last_answer_ms < PING_DEADLINE_MS;
}

static void conn_watch(struct conn *c, short what);

static void record_failure(const char *what, const char *detail)
{
    char esc[512];
    snprintf(pool.last_error, sizeof pool.last_error, "%s: %s", what,
             detail && *detail ? detail : "unknown error");
    pool.last_error[strcspn(pool.last_error, "\n")] = '\0';
    if (pool.reachable)
        LOG_ERROR(NULL, "database unreachable", "error=\"%s\"", log_escape(pool.last_error, esc, sizeof esc));
    pool.reachable = 0;
}

static void conn_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    conn_connect(arg);
}

/* Closes c, fails its running query with err, and schedules a reconnect with backoff. */
static void conn_drop(struct conn *c, const char *err)
{
    struct query *q = c->query;
    if (c->io) event_free(c->io);
    c->io = NULL;
    if (c->pg) PQfinish(c->pg);
    c->pg = NULL;
    c->query = NULL;
    PQclear(c->last);
    c->last = NULL;
    c->state = CONN_DOWN;
    if (q) finish_query(q, NULL, err);
    if (pool.stopped) return;
    c->backoff_ms = c->backoff_ms ? (c->backoff_ms * 2 > 2000 ? 2000 : c->backoff_ms * 2) : 100;
    struct timeval tv = {c->backoff_ms / 1000, (c->backoff_ms % 1000) * 1000};
    evtimer_add(c->retry, &tv);
}

static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static void on_connect_progress(struct conn *c)
{
    switch (PQconnectPoll(c->pg)) {
    case PGRES_POLLING_READING:
        conn_watch(c, EV_READ);
        return;
    case PGRES_POLLING_WRITING:
        conn_watch(c, EV_WRITE);
        return;
    case PGRES_POLLING_OK:
        if (PQsetnonblocking(c->pg, 1) == 0) {
            if (c->io) event_free(c->io);
            c->io = NULL;
            c->state = CONN_IDLE;
            c->backoff_ms = 0;
            dispatch();
            return;
        }
        /* fall through */
    default:
        record_failure("connect", PQerrorMessage(c->pg));
        conn_drop(c, "connection failed");
    }
}

/* Feeds a db_copy query's data and ends the COPY (libpq buffers it: in non-blocking mode it grows its output
 * buffer rather than refuse). Returns 0, or -1 when the connection failed. */
static int copy_feed(struct conn *c)
{
    struct query *q = c->query;
    if (!q->copy || PQputCopyData(c->pg, q->copy, (int)q->copy_len) != 1)
        return PQputCopyEnd(c->pg, "no data") == 1 ? 0 : -1;
    free(q->copy);
    q->copy = NULL;
    return PQputCopyEnd(c->pg, NULL) == 1 ? 0 : -1;
}

/* Collects the results of c's query as libpq gets them (a COPY ... FROM STDIN among them is fed its data);
 * once the last has come, keeps the last one. The partial result is held in c->last between calls. */
static void on_query_input(struct conn *c)
{
    PGresult *res;
    struct query *q = c->query;
    if (!PQconsumeInput(c->pg)) {
        record_failure("query", PQerrorMessage(c->pg));
        conn_drop(c, "connection lost");
        return;
    }
    for (;;) {
        if (PQisBusy(c->pg)) {
            conn_watch(c, EV_READ);
            return;
        }
        if (!(res = PQgetResult(c->pg))) break;
        if (PQresultStatus(res) == PGRES_COPY_IN) {
            PQclear(res);
            int flushed = copy_feed(c) < 0 ? -1 : PQflush(c->pg);
            if (flushed < 0) {
                record_failure("query", PQerrorMessage(c->pg));
                conn_drop(c, "connection lost");
                return;
            }
            if (flushed == 1) {
                conn_watch(c, EV_READ | EV_WRITE);
                return;
            }
            continue;
        }
        PQclear(c->last);
        c->last = res;
    }
    PGresult *last = c->last;
    c->last = NULL;
    if (c->io) event_free(c->io);
    c->io = NULL;
    c->query = NULL;
    /* Settle the connection before the callback runs: it may queue the next query onto c. */
    if (PQstatus(c->pg) != CONNECTION_OK) {
        conn_drop(c, "connection lost");
    } else {
        c->state = CONN_IDLE;
        if (last) pool.last_answer_ms = clock_now_ms();
    }
    ExecStatusType st = last ? PQresultStatus(last) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        finish_query(q, last, NULL);
    } else {
        char err[512];
        snprintf(err, sizeof err, "%s", last ? PQresultErrorMessage(last) : "no result");
        err[strcspn(err, "\n")] = '\0';
        finish_query(q, NULL, err);
    }
    PQclear(last);
    dispatch();
}

static void on_conn_io(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    if (c->state == CONN_CONNECTING) {
        on_connect_progress(c);
    } else if (c->state == CONN_BUSY) {
        int flushed = PQflush(c->pg);
        if (flushed < 0) {
            record_failure("query", PQerrorMessage(c->pg));
            conn_drop(c, "connection lost");
        } else if (flushed == 1) {
            conn_watch(c, EV_READ | EV_WRITE);
        } else {
            on_query_input(c);
        }
    }
}

static void conn_watch(struct conn *c, short what)
{
    if (c->io) event_free(c->io);
    c->io = event_new(pool.base, PQsocket(c->pg), what, on_conn_io, c);
    event_add(c->io, NULL);
}

static void conn_connect(struct conn *c)
{
    if (pool.stopped || c->state != CONN_DOWN) return;
    c->pg = pool.keys[0] ? PQconnectStartParams(pool.keys, pool.vals, 0) : PQconnectStart(pool.conninfo);
    if (!c->pg || PQstatus(c->pg) == CONNECTION_BAD) {
        record_failure("connect", c->pg ? PQerrorMessage(c->pg) : "out of memory");
        conn_drop(c, "connection failed");
        return;
    }
    PQsetNoticeProcessor(c->pg, ignore_notice, NULL);
    c->state = CONN_CONNECTING;
    conn_watch(c, EV_WRITE);
}

/* Re-arms q's deadline so that it has at least min(RUN_FLOOR_MS, its timeout) left from now. */
static void run_time_floor(struct query *q)
{
    int floor_ms = q->timeout_ms < RUN_FLOOR_MS ? q->timeout_ms : RUN_FLOOR_MS;
    double left = q->timeout_ms - (clock_now_ms() - q->queued_at_ms);
    if (left >= floor_ms) return;
    struct timeval tv = {floor_ms / 1000, (floor_ms % 1000) * 1000};
    evtimer_add(q->deadline, &tv);
}

static void conn_run(struct conn *c, struct query *q)
{
    c->query = q;
    c->state = CONN_BUSY;
    q->running_on = c;
    pool.running++;
    run_time_floor(q);
    if (!(q->copy ? PQsendQuery(c->pg, q->sql)
                  : PQsendQueryParams(c->pg, q->sql, q->nparams, NULL, (const char *const *)q->params, NULL,
                                      NULL, 0))) {
        record_failure("query", PQerrorMessage(c->pg));
        conn_drop(c, "send failed");
        return;
    }
    conn_watch(c, PQflush(c->pg) == 1 ? EV_READ | EV_WRITE : EV_READ);
}

static void dispatch(void)
{
    for (int i = 0; i < pool.size && pool.head; i++) {
        struct conn *c = &pool.conns[i];
        if (c->state != CONN_IDLE) continue;
        struct query *q = pool.head;
        pool.head = q->next;
        if (!pool.head) pool.tail = NULL;
        pool.queued--;
        q->next = NULL;
        conn_run(c, q);
    }
}

static void on_query_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct query *q = arg;
    if (q->running_on) {
        /* libpq 15 has no non-blocking cancel: drop the connection; it reconnects in the background. The
         * deadline counts from queueing (with at least RUN_FLOOR_MS to run, see run_time_floor): a query
         * that spent it waiting for a busy pool says nothing about Postgres while Postgres keeps answering
         * other queries. */
        if (!busy_not_down()) record_failure("query", "deadline exceeded");
        conn_drop(q->running_on, "query deadline exceeded");
    } else {
        unlink_queued(q);
        finish_query(q, NULL,
                     pool.reachable ? "timed out waiting for a database connection" : "database unavailable");
    }
}

/* Queues a query at the back of the FIFO, or at its front (the monitor's ping). */
static struct query *enqueue(const char *sql, int nparams, const char *const *params, int timeout_ms,
                             db_result_cb cb, void *arg, int front)
{
    struct query *q;
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    if (pool.stopped || !pool.base || pool.queued >= MAX_QUEUED || !(q = calloc(1, sizeof *q))) return NULL;
    q->sql = strdup(sql);
    q->nparams = nparams;
    q->params = calloc((size_t)(nparams > 0 ? nparams : 1), sizeof *q->params);
    for (int i = 0; i < nparams; i++)
        q->params[i] = params[i] ? strdup(params[i]) : NULL;
    q->cb = cb;
    q->arg = arg;
    q->timeout_ms = timeout_ms;
    q->queued_at_ms = clock_now_ms();
    q->deadline = evtimer_new(pool.base, on_query_deadline, q);
    evtimer_add(q->deadline, &tv);
    if (front) {
        q->next = pool.head;
        pool.head = q;
        if (!pool.tail) pool.tail = q;
    } else {
        if (pool.tail)
            pool.tail->next = q;
        else
            pool.head = q;
        pool.tail = q;
    }
    pool.queued++;
    return q;
}

int db_query(const char *sql, int nparams, const char *const *params, int timeout_ms, db_result_cb cb,
             void *arg)
{
    if (!enqueue(sql, nparams, params, timeout_ms, cb, arg, 0)) return -1;
    dispatch();
    return 0;
}

int db_query_urgent(const char *sql, int nparams, const char *const *params, int timeout_ms, db_result_cb cb,
                    void *arg)
{
    if (!enqueue(sql, nparams, params, timeout_ms, cb, arg, 1)) return -1;
    dispatch();
    return 0;
}

int db_copy(const char *sql, char *data, size_t len, int timeout_ms, db_result_cb cb, void *arg)
{
    struct query *q = enqueue(sql, 0, NULL, timeout_ms, cb, arg, 0);
    if (!q) {
        free(data);
        return -1;
    }
    q->copy = data;
    q->copy_len = len;
    dispatch();
    return 0;
}

/* ---- monitor ---- */

/* 1 while the pool, started less than START_GRACE_MS ago, has never reached Postgres nor failed to: its
 * connections are still being opened (a slow start-up on a loaded machine), so a ping that timed out waiting
 * for one says nothing yet. A Postgres that accepts but never answers is "down" after the grace. */
static int still_connecting(void)
{
    if (pool.reachable || pool.last_error[0] || clock_now_ms() - pool.started_ms > START_GRACE_MS) return 0;
    for (int i = 0; i < pool.size; i++)
        if (pool.conns[i].state == CONN_CONNECTING) return 1;
    return 0;
}

static void on_ping(struct pg_result *res, const char *err, void *arg)
{
    pool.ping_pending = 0;
    if (!res && !pool.ping_answered && still_connecting()) return; /* the state stays "unknown" */
    pool.ping_answered = 1;
    if (!res) {
        /* failures of a running query or of a connection were recorded where they happened; a ping that
         * only waited too long for a connection while Postgres kept answering means busy, not down */
        if (!busy_not_down()) record_failure("ping", err);
        return;
    }
    if (!pool.reachable) LOG_INFO(NULL, "database reachable", NULL);
    pool.reachable = 1;
    pool.last_ok_at = clock_wall_s();
    pool.last_error[0] = '\0';
}

static void on_ping_timer(evutil_socket_t fd, short what, void *arg)
{
    if (pool.ping_pending) return;
    if (db_query_urgent("SELECT 1", 0, NULL, PING_DEADLINE_MS, on_ping, NULL) == 0) pool.ping_pending = 1;
}

char *db_clock_option(char *out, size_t len)
{
    snprintf(out, len, "-c gatehouse.clock_offset_ms=%lld", clock_offset_ms());
    return out;
}

/* The connection parameters: conninfo's own, with SESSION_OPTIONS and the clock offset appended to its
 * options. A conninfo that libpq cannot parse is passed as is (libpq reports the error when connecting). */
static void build_params(const char *conninfo)
{
    int n = 0;
    const char *options = NULL;
    pool.parsed = PQconninfoParse(conninfo, NULL);
    if (!pool.parsed) return;
    for (PQconninfoOption *o = pool.parsed; o->keyword && n < MAX_PARAMS - 2; o++) {
        if (!o->val) continue;
        if (strcmp(o->keyword, "options") == 0) {
            options = o->val;
            continue;
        }
        pool.keys[n] = o->keyword;
        pool.vals[n++] = o->val;
    }
    char clock_option[64];
    db_clock_option(clock_option, sizeof clock_option);
    size_t len = (options ? strlen(options) : 0) + sizeof SESSION_OPTIONS + strlen(clock_option) + 2;
    pool.options = malloc(len);
    if (!pool.options) {
        pool.keys[0] = NULL;
        return;
    }
    snprintf(pool.options, len, "%s%s%s %s", options ? options : "", options ? " " : "", SESSION_OPTIONS,
             clock_option);
    pool.keys[n] = "options";
    pool.vals[n++] = pool.options;
    pool.keys[n] = pool.vals[n] = NULL;
}

int db_pool_start(struct event_base *base, const char *conninfo, int size, char *err, size_t errlen)
{
    struct timeval every = {0, PING_EVERY_MS * 1000};
    memset(&pool, 0, sizeof pool);
    pool.base = base;
    pool.conninfo = strdup(conninfo);
    build_params(conninfo);
    pool.size = size < 1 ? 1 : size > MAX_CONNS ? MAX_CONNS : size;
    for (int i = 0; i < pool.size; i++)
        pool.conns[i].retry = evtimer_new(base, conn_retry_cb, &pool.conns[i]);
    pool.ping_timer = event_new(base, -1, EV_PERSIST, on_ping_timer, NULL);
    if (!pool.conninfo || !pool.ping_timer || event_add(pool.ping_timer, &every) < 0) {
        snprintf(err, errlen, "cannot start the database pool");
        return -1;
    }
    pool.started_ms = clock_now_ms();
    for (int i = 0; i < pool.size; i++)
        conn_connect(&pool.conns[i]);
    on_ping_timer(-1, 0, NULL);
    return 0;
}

void db_pool_stop(void)
{
    if (!pool.base) return;
    pool.stopped = 1;
    while (pool.head) {
        struct query *q = pool.head;
        pool.head = q->next;
        pool.queued--;
        finish_query(q, NULL, "pool stopped");
    }
    pool.tail = NULL;
    for (int i = 0; i < pool.size; i++) {
        conn_drop(&pool.conns[i], "pool stopped");
        event_free(pool.conns[i].retry);
    }
    event_free(pool.ping_timer);
    free(pool.conninfo);
    free(pool.options);
    if (pool.parsed) PQconninfoFree(pool.parsed);
    memset(&pool, 0, sizeof pool);
}

int db_pending(void)
{
    return pool.queued + pool.running;
}

int db_pool_connected(void)
{
    int n = 0;
    for (int i = 0; i < pool.size; i++)
        n += pool.conns[i].state == CONN_IDLE || pool.conns[i].state == CONN_BUSY;
    return n;
}

int db_reachable(void)
{
    return pool.reachable;
}

const char *db_state(void)
{
    return !pool.ping_answered ? "unknown" : pool.reachable ? "up" : "down";
}

int db_state_known(void)
{
    return pool.ping_answered;
}

time_t db_last_ok_at(void)
{
    return pool.last_ok_at;
}

const char *db_last_error(void)
{
    return pool.last_error;
}

int db_register_secret(const char *conninfo)
{
    char *errmsg = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &errmsg);
    int rc = 0;
    if (!opts) {
        PQfreemem(errmsg);
        return 0; /* malformed: libpq will report it when connecting */
    }
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (strcmp(o->keyword, "password") == 0 && o->val && *o->val)
            rc = secret_add_literal("DATABASE_URL password", o->val);
    PQconninfoFree(opts);
    return rc;
}

char *db_array_literal(size_t n, const char *(*value_at)(const void *ctx, size_t i), const void *ctx)
{
    size_t cap = 3, len = 0;
    for (size_t r = 0; r < n; r++) {
        const char *v = value_at(ctx, r);
        cap += v ? 2 * strlen(v) + 3 : 5;
    }
    char *out = malloc(cap);
    if (!out) return NULL;
    out[len++] = '{';
    for (size_t r = 0; r < n; r++) {
        const char *v = value_at(ctx, r);
        if (r) out[len++] = ',';
        if (!v) {
            memcpy(out + len, "NULL", 4);
            len += 4;
            continue;
        }
        out[len++] = '"';
        for (; *v; v++) {
            if (*v == '"' || *v == '\\') out[len++] = '\\';
            out[len++] = *v;
        }
        out[len++] = '"';
    }
    out[len++] = '}';
    out[len] = '\0';
    return out;
}
