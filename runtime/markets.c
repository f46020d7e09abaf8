/* markets.c — market sessions of the bots' symbols (scripts/market_hours.lua at the runtime's clock). */
#include "markets.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "db.h"
#include "log.h"
#include "policy.h"

#define REFRESH_MS 1000 /* sessions are recomputed every second (they change on the minute at most) */
#define SYMBOLS_EVERY 5 /* the symbols are re-read from Postgres every 5 refreshes */
#define DB_TIMEOUT_MS 2000

static struct {
    struct event *timer;
    json_t *symbols; /* [{symbol, bots, running}] from Postgres */
    json_t *sessions, *notices;
    unsigned long version;
    int refreshes, query_pending;
} M;

/* RFC 3339 text of an epoch-seconds member of o, or JSON null. */
static json_t *time_of(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? clock_json_time((time_t)json_number_value(v)) : json_null();
}

static json_t *copy_or_null(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return v ? json_deep_copy(v) : json_null();
}

/* The entry of calendar `session.calendar` in sessions, created from session the first time. */
static json_t *calendar_entry(json_t *sessions, const json_t *session)
{
    const char *cal = json_string_value(json_object_get(session, "calendar"));
    json_t *e;
    size_t i;
    json_array_foreach(sessions, i,
                       e) if (strcmp(json_string_value(json_object_get(e, "calendar")), cal) == 0) return e;
    e = json_pack("{s:s, s:o, s:o, s:b, s:o, s:o, s:o, s:o, s:o, s:o, s:[], s:i, s:i}", "calendar", cal,
                  "calendar_name", copy_or_null(session, "calendar_name"), "exchange",
                  copy_or_null(session, "exchange"), "open", json_is_true(json_object_get(session, "open")),
                  "session", copy_or_null(session, "session"), "next_change_at",
                  time_of(session, "next_change"), "next_open_at", time_of(session, "next_open"),
                  "next_open_exchange", copy_or_null(session, "next_open_exchange"), "next_close_at",
                  time_of(session, "next_close"), "reason_human", copy_or_null(session, "reason_human"),
                  "symbols", "bots", 0, "running_bots", 0);
    json_array_append_new(sessions, e);
    return e;
}

static void add_count(json_t *entry, const char *key, json_int_t n)
{
    json_object_set_new(entry, key, json_integer(json_integer_value(json_object_get(entry, key)) + n));
}

static json_t *notices_of(const json_t *sessions)
{
    json_t *out = json_array(), *e;
    size_t i;
    json_array_foreach(sessions, i, e)
    {
        if (json_is_true(json_object_get(e, "open"))) continue;
        char message[160];
        const char *name = json_string_value(json_object_get(e, "calendar_name"));
        const char *session = json_string_value(json_object_get(e, "session"));
        snprintf(message, sizeof message, "%s closed (%s)",
                 name ? name : json_string_value(json_object_get(e, "calendar")),
                 session ? session : "closed");
        json_array_append_new(
            out, json_pack("{s:s, s:s, s:s, s:O, s:O, s:O, s:O, s:O}", "code", "MARKET_CLOSED", "severity",
                           "INFO", "message", message, "reason_human", json_object_get(e, "reason_human"),
                           "calendar", json_object_get(e, "calendar"), "symbols",
                           json_object_get(e, "symbols"), "next_open_at", json_object_get(e, "next_open_at"),
                           "next_open_exchange", json_object_get(e, "next_open_exchange")));
    }
    return out;
}

/* The calendar of symbol (market_hours.lua's calendar_of), or NULL when the policy cannot say. */
static json_t *calendar_of(struct policy_gen *g, json_t *symbol)
{
    char err[512];
    const json_t *args[1] = {symbol};
    json_t *cal =
        g ? policy_call_first(g, "scripts/market_hours.lua", "calendar_of", args, 1, err, sizeof err) : NULL;
    if (json_is_string(cal)) return cal;
    json_decref(cal);
    return NULL;
}

/* Puts one symbol of every calendar to market_hours.lua's session() at the runtime's clock (the others share
 * its answer); groups the symbols by calendar. */
static void recompute(void)
{
    struct policy_gen *g = policy_retain(policy_current());
    json_t *sessions = json_array(), *row, *now = json_integer((json_int_t)clock_wall_s());
    char err[512];
    size_t i;
    json_array_foreach(M.symbols, i, row)
    {
        if (!g) break;
        json_t *e = NULL, *known = json_object_get(row, "calendar"), *c;
        size_t j;
        json_array_foreach(sessions, j, c) if (json_equal(json_object_get(c, "calendar"), known)) e = c;
        if (!e) {
            const json_t *args[2] = {now, json_object_get(row, "symbol")};
            json_t *s = policy_call_first(g, "scripts/market_hours.lua", "session", args, 2, err, sizeof err);
            if (!json_is_object(s) || !json_is_string(json_object_get(s, "calendar"))) {
                LOG_WARN(NULL, "market session unknown", "symbol=%s error=\"%s\"",
                         json_string_value(json_object_get(row, "symbol")),
                         s ? "no calendar in the answer" : err);
                json_decref(s);
                continue;
            }
            e = calendar_entry(sessions, s);
            json_decref(s);
        }
        json_array_append(json_object_get(e, "symbols"), json_object_get(row, "symbol"));
        add_count(e, "bots", json_integer_value(json_object_get(row, "bots")));
        add_count(e, "running_bots", json_integer_value(json_object_get(row, "running")));
    }
    json_decref(now);
    policy_release(g);
    if (M.sessions && json_equal(sessions, M.sessions)) {
        json_decref(sessions);
        return;
    }
    json_decref(M.sessions);
    json_decref(M.notices);
    M.sessions = sessions;
    M.notices = notices_of(sessions);
    M.version++;
}

static void on_symbols(struct pg_result *res, const char *err, void *arg)
{
    M.query_pending = 0;
    if (!res) return; /* keep the last known symbols; the DB blocker covers an outage */
    struct policy_gen *g = policy_retain(policy_current());
    json_t *list = json_array();
    for (int i = 0; i < PQntuples(res); i++) {
        json_t *sym = json_string(PQgetvalue(res, i, 0));
        if (!sym) continue; /* not UTF-8: no calendar can be named for it */
        json_t *row =
            json_pack("{s:o, s:I, s:I}", "symbol", sym, "bots", (json_int_t)atoll(PQgetvalue(res, i, 1)),
                      "running", (json_int_t)atoll(PQgetvalue(res, i, 2)));
        json_t *cal = calendar_of(g, sym);
        if (cal) json_object_set_new(row, "calendar", cal);
        json_array_append_new(list, row);
    }
    policy_release(g);
    json_decref(M.symbols);
    M.symbols = list;
    recompute();
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    if (M.refreshes++ % SYMBOLS_EVERY == 0 && !M.query_pending) {
        static const char *sql =
            "SELECT symbol, count(*), count(*) FILTER (WHERE desired_state = 'RUNNING') FROM bots "
            "GROUP BY symbol ORDER BY 3 DESC, 2 DESC, 1 LIMIT 200";
        if (db_query(sql, 0, NULL, DB_TIMEOUT_MS, on_symbols, NULL) == 0) M.query_pending = 1;
    }
    recompute();
}

/* The session fields a bot shows, from a calendar entry of M.sessions. */
static json_t *bot_view(const json_t *e)
{
    static const char *keys[] = {"open",        "session",      "calendar",           "calendar_name",
                                 "exchange",    "next_open_at", "next_open_exchange", "next_close_at",
                                 "reason_human"};
    json_t *o = json_object();
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        json_object_set(o, keys[i], json_object_get(e, keys[i]));
    return o;
}

json_t *markets_for_symbol(const char *symbol)
{
    json_t *row, *e;
    size_t i, j;
    if (!symbol) return json_null();
    json_array_foreach(M.symbols, i, row)
    {
        if (strcmp(json_string_value(json_object_get(row, "symbol")), symbol) != 0) continue;
        json_array_foreach(M.sessions, j,
                           e) if (json_equal(json_object_get(e, "calendar"),
                                             json_object_get(row, "calendar"))) return bot_view(e);
        break;
    }
    /* a symbol not seen yet (a bot created within the last refresh): asked directly */
    struct policy_gen *g = policy_retain(policy_current());
    json_t *now = json_integer((json_int_t)clock_wall_s()), *sym = json_string(symbol), *out = json_null();
    char err[512];
    const json_t *args[2] = {now, sym};
    json_t *s = g && sym
                    ? policy_call_first(g, "scripts/market_hours.lua", "session", args, 2, err, sizeof err)
                    : NULL;
    if (json_is_object(s) && json_is_string(json_object_get(s, "calendar"))) {
        json_t *tmp = json_array();
        out = bot_view(calendar_entry(tmp, s));
        json_decref(tmp);
    }
    json_decref(s);
    json_decref(sym);
    json_decref(now);
    policy_release(g);
    return out;
}

int markets_start(struct event_base *base)
{
    struct timeval every = {REFRESH_MS / 1000, (REFRESH_MS % 1000) * 1000};
    markets_stop();
    M.symbols = json_array();
    M.sessions = json_array();
    M.notices = json_array();
    M.timer = event_new(base, -1, EV_PERSIST, on_timer, NULL);
    if (!M.timer || event_add(M.timer, &every) < 0) return -1;
    on_timer(-1, 0, NULL);
    return 0;
}

void markets_stop(void)
{
    if (M.timer) event_free(M.timer);
    json_decref(M.symbols);
    json_decref(M.sessions);
    json_decref(M.notices);
    unsigned long version = M.version;
    memset(&M, 0, sizeof M);
    M.version = version + 1;
}

const json_t *markets_sessions(void)
{
    return M.sessions;
}

const json_t *markets_notices(void)
{
    return M.notices;
}

unsigned long markets_version(void)
{
    return M.version;
}
