/* db.h — Postgres access on the event loop.
 *
 * This part: a monitor connection, opened and polled with libpq's non-blocking API, that pings the
 * database every second with a 1.5 s deadline, so /readyz knows whether Postgres is reachable without ever
 * blocking the loop. Lost connections are dropped and re-opened on the next tick. */
#ifndef GATEHOUSE_DB_H
#define GATEHOUSE_DB_H

#include <stddef.h>
#include <time.h>

struct event_base;

/* Starts the monitor for conninfo (copied). Returns 0, or -1 with err. */
int db_monitor_start(struct event_base *base, const char *conninfo, char *err, size_t errlen);

/* Stops the monitor and closes its connection. */
void db_monitor_stop(void);

/* 1 when the last ping succeeded within its deadline and no later failure was seen. */
int db_reachable(void);

/* Wall-clock time of the last successful ping (0 if none). */
time_t db_last_ok_at(void);

/* The last connection/ping error (redaction happens when it is printed), or "" when healthy. */
const char *db_last_error(void);

/* Registers the password of conninfo (if any) with the redactor. Returns 0 or -1. */
int db_register_secret(const char *conninfo);

#endif
