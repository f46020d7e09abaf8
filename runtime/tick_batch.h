/* tick_batch.h — the no-trade traces of many ticks written by one statement (issue 18: at most one Postgres
 * commit per tick at 5,000 bots).
 *
 * A tick that ends without an order queues its trace here; the queue is written every TICK_BATCH_FLUSH_MS
 * (or at once when it holds TICK_BATCH_MAX rows) by one INSERT ... SELECT over all queued rows (one array
 * parameter per field). Fencing means what it meant for the single-row write it replaces: every shard and
 * epoch of the batch calls gh_fence_ok once (which holds the shard's fence shared until the batch commits)
 * and each row takes its shard and epoch's answer; a row whose epoch is no longer current is written as
 * LEASE_LOST with its stale epoch, the other rows as given. When the batch statement fails as a whole (a
 * deadlock against a multi-shard lease change, a row the table refuses), every row is retried on its own, so
 * one bad row never costs the others their trace. Each row's callback runs once its row is durable (or
 * failed): a tick's latency stays decision-to-durable. */
#ifndef GATEHOUSE_TICK_BATCH_H
#define GATEHOUSE_TICK_BATCH_H

struct event_base;

#define TICK_BATCH_FLUSH_MS 5 /* the longest a queued trace waits for its batch */
#define TICK_BATCH_MAX 400    /* rows per statement (10 parameters each); bots per read */

/* One no-trade trace (all strings copied; NULL = SQL NULL). blocked_by, signals and variables are JSON text;
 * epoch is the tick's lease epoch as decimal text. */
struct tick_trace {
    const char *bot_id, *suppression_type, *decision, *reason_human, *reason_code, *blocked_by, *signals,
        *variables, *trace_id, *epoch;
};

/* Called once per queued trace from the loop: written_code is the reason_code the row was written with
 * ("LEASE_LOST" when its fence refused it), or NULL with err when it was not written. */
typedef void (*tick_trace_cb)(const char *written_code, const char *err, void *arg);

/* Queues tr for the next batch. Returns 0, or -1 (out of memory: no callback then). */
int tick_batch_trace(const struct tick_trace *tr, tick_trace_cb cb, void *arg);

/* ---- reads: one statement for the bots whose ticks started in the same loop turn ---- */

struct pg_result;

/* Called once per queued read from the loop: row is the index of the bot's row in res (-1 when the statement
 * returned none for it), or res is NULL with err. res is freed after the callback returns. */
typedef void (*tick_read_cb)(struct pg_result *res, int row, const char *err, void *arg);

/* Called once per statement, after the row callbacks of all its reads: what the reads' callbacks queued can
 * be handled together (runner.c gates all the ticks of one load with one policy call). */
typedef void (*tick_read_end_cb)(void);

/* Queues a read of bot_id by sql, a statement over $1::uuid[] that returns at most one row per bot with the
 * bot's id as text in column id_col. The reads queued with the same sql (the same pointer: a constant) in one
 * loop turn go out as one statement at the end of the turn; they pass the same end (or NULL). Returns 0, or
 * -1 (no callback then). */
int tick_batch_read(const char *sql, int id_col, const char *bot_id, tick_read_cb cb, tick_read_end_cb end,
                    void *arg);

/* Arms the flush timer on base. Before it (unit tests), every trace is written at once as a batch of one. */
int tick_batch_start(struct event_base *base);

/* Writes what is queued now and stops batching (later traces go out at once); frees the timer. */
void tick_batch_stop(void);

/* The human reason of a trace its fence refused. */
#define TICK_BATCH_LEASE_LOST_HUMAN                                                                          \
    "This instance no longer holds the lease of the bot's shard (its epoch moved on or expired): another "   \
    "instance ticks the bot now, and this tick wrote and placed nothing."

#endif
