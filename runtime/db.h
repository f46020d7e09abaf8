/* db.h — Postgres access on the event loop.
 *
 * A small pool of connections driven with libpq's non-blocking API (PQconnectStart/PQconnectPoll,
 * PQsendQueryParams/PQconsumeInput) and socket events: nothing on the loop ever waits for Postgres. A
 * monitor pings through the pool every 500 ms with a 1 s deadline so /readyz and the gates know within
 * about 1.5 s when the database stops answering, and when it is back. Lost connections are re-opened in
 * the background with backoff. */
#ifndef GATEHOUSE_DB_H
#define GATEHOUSE_DB_H

#include <stddef.h>
#include <time.h>

struct event_base;

/* 1 when the last ping succeeded within its deadline and no later failure was seen. */
int db_reachable(void);

/* "unknown" until the monitor's first ping has answered (success, error or deadline), then "up" or "down".
 * Nothing may report a database transition out of "unknown": before the first answer nobody knows. */
const char *db_state(void);

/* 1 once the first ping has answered (db_state() is no longer "unknown"). */
int db_state_known(void);

/* Wall-clock time of the last successful ping (0 if none). */
time_t db_last_ok_at(void);

/* The last connection/ping error (redaction happens when it is printed), or "" when healthy. */
const char *db_last_error(void);

/* ---- async query pool ---- */

struct pg_result;

/* Called exactly once per db_query, from the loop: res is the result on success (freed by db.c after the
 * callback returns; PGRES_COMMAND_OK or PGRES_TUPLES_OK), or NULL with err (a one-line, secret-free
 * message: server error, timeout, connection lost, pool stopped). */
typedef void (*db_result_cb)(struct pg_result *res, const char *err, void *arg);

/* Opens `size` non-blocking connections for db_query. Connections that fail are retried in the
 * background; queries wait for one (within their deadline). Returns 0, or -1 with err. */
int db_pool_start(struct event_base *base, const char *conninfo, int size, char *err, size_t errlen);

/* Fails every queued and running query (callbacks with err "pool stopped") and closes the connections. */
void db_pool_stop(void);

/* Queues a parameterised query (text parameters, NULL = SQL NULL; all copied). timeout_ms bounds queueing
 * plus execution; on expiry the connection running it is dropped (libpq 15 has no non-blocking cancel) and
 * re-opened. Returns 0, or -1 when the queue is full or the pool is stopped (no callback then). */
int db_query(const char *sql, int nparams, const char *const *params, int timeout_ms, db_result_cb cb,
             void *arg);

/* As db_query, but queued ahead of every waiting query (the monitor's ping goes the same way): for the
 * fleet's lease rounds, which must never wait behind a backlog of ticks — a lease that lapses while its
 * renewal waits in the queue would move every bot of its shard. */
int db_query_urgent(const char *sql, int nparams, const char *const *params, int timeout_ms, db_result_cb cb,
                    void *arg);

/* As db_query for a COPY ... FROM STDIN: sql is sent with the simple protocol (no parameters; several
 * statements separated by ';' run as one transaction) and its COPY is fed data[0..len) in COPY text format.
 * Takes data (a malloc'd buffer; freed by db.c, also on failure). Returns 0, or -1 (no callback then). */
int db_copy(const char *sql, char *data, size_t len, int timeout_ms, db_result_cb cb, void *arg);

/* The Postgres array literal of n text values: {"v1",NULL,"v\"2"} (every element quoted, `"` and `\` escaped;
 * a NULL value is SQL NULL). value_at(ctx, i) gives the i-th value. Returns malloc'd text, or NULL (out of
 * memory). For one parameter per column of a batch: INSERT ... SELECT FROM unnest($1::uuid[], ...). */
char *db_array_literal(size_t n, const char *(*value_at)(const void *ctx, size_t i), const void *ctx);

/* Queries queued or running. */
int db_pending(void);

/* Number of pool connections currently usable. */
int db_pool_connected(void);

/* Writes the libpq `options` fragment that gives a session the runtime's clock offset (gh_now() in SQL reads
 * it: migrations/0040_clock.sql), e.g. "-c gatehouse.clock_offset_ms=0". Returns out. */
char *db_clock_option(char *out, size_t len);

/* Registers the password of conninfo (if any) with the redactor. Returns 0 or -1. */
int db_register_secret(const char *conninfo);

#endif
