/* markets.h — the market sessions of the bots' symbols, for the system status and the Observatory.
 *
 * Every second: the distinct symbols of the bots (from Postgres, refreshed every few seconds) are put to
 * scripts/market_hours.lua at the runtime's clock and grouped by calendar. A closed market is an info-level
 * fact (MARKET_CLOSED with the next open in UTC and exchange time), never a blocker: the gates decide whether
 * bots may run, the calendar only says when they can trade. */
#ifndef GATEHOUSE_MARKETS_H
#define GATEHOUSE_MARKETS_H

#include <event2/event.h>
#include <jansson.h>

/* Starts the refresh timer on base. Returns 0, or -1 when the timer cannot be created. */
int markets_start(struct event_base *base);

/* Stops the timer and frees the state. */
void markets_stop(void);

/* [{calendar, calendar_name, exchange, open, session, next_change_at, next_open_at, next_open_exchange,
 *   next_close_at, reason_human, symbols[], bots, running_bots}], calendars in the order of the bots' symbols
 * (most running bots first). Borrowed; NULL before markets_start. */
const json_t *markets_sessions(void);

/* [{code "MARKET_CLOSED", severity "INFO", message, reason_human, calendar, symbols[], next_open_at,
 *   next_open_exchange}] for every closed calendar that bots trade on. Borrowed; NULL before markets_start.
 */
const json_t *markets_notices(void);

/* The market session of symbol for a bot: {open, session, calendar, calendar_name, exchange, next_open_at,
 * next_open_exchange, next_close_at, reason_human} (a new reference), or JSON null when the calendar cannot
 * say (no policy, a failing market_hours.lua). */
json_t *markets_for_symbol(const char *symbol);

/* Bumped whenever the sessions or notices change (a key of cached status bodies). */
unsigned long markets_version(void);

#endif
