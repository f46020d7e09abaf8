/* db.c — the monitor connection: PQconnectStart/PQconnectPoll and PQsendQuery driven by socket events. */
#include "db.h"

#include <event2/event.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "secret.h"

#define PING_EVERY_MS 1000
#define PING_DEADLINE_MS 1500

enum monitor_state { MON_IDLE, MON_CONNECTING, MON_QUERYING, MON_READY };

static struct {
    struct event_base *base;
    char *conninfo;
    PGconn *conn;
    enum monitor_state state;
    struct event *io, *tick, *deadline;
    int reachable;
    time_t last_ok_at;
    char last_error[512];
} mon;

static void on_io(evutil_socket_t fd, short what, void *arg);

static void set_failure(const char *what, const char *detail)
{
    char esc[512];
    snprintf(mon.last_error, sizeof mon.last_error, "%s: %s", what, detail && *detail ? detail : "unknown error");
    mon.last_error[strcspn(mon.last_error, "\n")] = '\0';
    if (mon.reachable)
        LOG_ERROR(NULL, "database unreachable", "error=\"%s\"", log_escape(mon.last_error, esc, sizeof esc));
    mon.reachable = 0;
}

static void drop_connection(void)
{
    if (mon.io) event_free(mon.io);
    mon.io = NULL;
    event_del(mon.deadline);
    if (mon.conn) PQfinish(mon.conn);
    mon.conn = NULL;
    mon.state = MON_IDLE;
}

/* Re-arms the socket event for the direction libpq asks for. */
static void watch_socket(short what)
{
    if (mon.io) event_free(mon.io);
    mon.io = event_new(mon.base, PQsocket(mon.conn), what, on_io, NULL);
    event_add(mon.io, NULL);
}

static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static void begin_connect(void)
{
    struct timeval dl = {PING_DEADLINE_MS / 1000, (PING_DEADLINE_MS % 1000) * 1000};
    mon.conn = PQconnectStart(mon.conninfo);
    if (!mon.conn || PQstatus(mon.conn) == CONNECTION_BAD) {
        set_failure("connect", mon.conn ? PQerrorMessage(mon.conn) : "out of memory");
        drop_connection();
        return;
    }
    PQsetNoticeProcessor(mon.conn, ignore_notice, NULL);
    mon.state = MON_CONNECTING;
    event_add(mon.deadline, &dl);
    watch_socket(EV_WRITE);
}

static void begin_ping(void)
{
    struct timeval dl = {PING_DEADLINE_MS / 1000, (PING_DEADLINE_MS % 1000) * 1000};
    if (!PQsendQuery(mon.conn, "SELECT 1")) {
        set_failure("ping", PQerrorMessage(mon.conn));
        drop_connection();
        return;
    }
    mon.state = MON_QUERYING;
    event_add(mon.deadline, &dl);
    PQflush(mon.conn);
    watch_socket(EV_READ);
}

static void on_connect_progress(void)
{
    switch (PQconnectPoll(mon.conn)) {
    case PGRES_POLLING_READING:
        watch_socket(EV_READ);
        return;
    case PGRES_POLLING_WRITING:
        watch_socket(EV_WRITE);
        return;
    case PGRES_POLLING_OK:
        if (PQsetnonblocking(mon.conn, 1) != 0) break;
        event_del(mon.deadline);
        begin_ping();
        return;
    default:
        break;
    }
    set_failure("connect", PQerrorMessage(mon.conn));
    drop_connection();
}

static void on_ping_result(void)
{
    PGresult *res;
    int ok = 1;
    if (!PQconsumeInput(mon.conn)) {
        set_failure("ping", PQerrorMessage(mon.conn));
        drop_connection();
        return;
    }
    if (PQisBusy(mon.conn)) { /* more to read: wait for the socket again */
        event_add(mon.io, NULL);
        return;
    }
    while ((res = PQgetResult(mon.conn))) {
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            ok = 0;
            set_failure("ping", PQresultErrorMessage(res));
        }
        PQclear(res);
    }
    event_del(mon.deadline);
    if (mon.io) event_free(mon.io);
    mon.io = NULL;
    if (!ok) {
        drop_connection();
        return;
    }
    if (!mon.reachable) LOG_INFO(NULL, "database reachable", NULL);
    mon.reachable = 1;
    mon.last_ok_at = time(NULL);
    mon.last_error[0] = '\0';
    mon.state = MON_READY;
}

static void on_io(evutil_socket_t fd, short what, void *arg)
{
    if (mon.state == MON_CONNECTING)
        on_connect_progress();
    else if (mon.state == MON_QUERYING)
        on_ping_result();
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    set_failure(mon.state == MON_CONNECTING ? "connect" : "ping", "no answer within 1500 ms");
    drop_connection();
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    if (mon.state == MON_IDLE)
        begin_connect();
    else if (mon.state == MON_READY) {
        if (PQstatus(mon.conn) != CONNECTION_OK) {
            set_failure("connection", PQerrorMessage(mon.conn));
            drop_connection();
            begin_connect();
        } else {
            begin_ping();
        }
    }
}

int db_monitor_start(struct event_base *base, const char *conninfo, char *err, size_t errlen)
{
    struct timeval every = {PING_EVERY_MS / 1000, (PING_EVERY_MS % 1000) * 1000};
    memset(&mon, 0, sizeof mon);
    mon.base = base;
    mon.conninfo = strdup(conninfo);
    mon.tick = event_new(base, -1, EV_PERSIST, on_tick, NULL);
    mon.deadline = evtimer_new(base, on_deadline, NULL);
    if (!mon.conninfo || !mon.tick || !mon.deadline || event_add(mon.tick, &every) < 0) {
        snprintf(err, errlen, "cannot start the database monitor");
        return -1;
    }
    begin_connect();
    return 0;
}

void db_monitor_stop(void)
{
    drop_connection();
    if (mon.tick) event_free(mon.tick);
    if (mon.deadline) event_free(mon.deadline);
    free(mon.conninfo);
    memset(&mon, 0, sizeof mon);
}

int db_reachable(void)
{
    return mon.reachable;
}

time_t db_last_ok_at(void)
{
    return mon.last_ok_at;
}

const char *db_last_error(void)
{
    return mon.last_error;
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
        if (strcmp(o->keyword, "password") == 0 && o->val && *o->val) rc = secret_add_literal("DATABASE_URL password", o->val);
    PQconninfoFree(opts);
    return rc;
}
