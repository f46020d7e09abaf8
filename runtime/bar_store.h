/* bar_store.h — the bars ticks and backtests used, kept in market_bars (migrations/0071_market_bars.sql) for
 * the bot page's price chart (GET /api/bots/:id/bars).
 *
 * Writes are fire-and-forget through db_query (failures are logged with the caller's trace id, never
 * retried): one multi-row INSERT … ON CONFLICT DO UPDATE per call, the rows passed as one JSON parameter. The
 * tick path remembers, per symbol/timeframe (one small entry each), the start of the newest bar it wrote, and
 * sends only the bars from that one on: the newer bars plus the last one again, since it can still change.
 * Single-threaded (the event loop). */
#ifndef GATEHOUSE_BAR_STORE_H
#define GATEHOUSE_BAR_STORE_H

#include <stddef.h>

#include "bars.h"

/* The tick path: writes the bars of s (a fetch's answer for symbol/timeframe, served by provider) that start
 * at or after the last bar written for that key, and moves the mark when the write succeeds. Call once per
 * fetch.
 */
void bar_store_tick(const char *symbol, const char *timeframe, const struct bar_series *s,
                    const char *provider, const char *trace_id);

/* Writes bars[0..n) as they are (a backtest's replayed chunk); the tick path's mark is not touched. */
void bar_store_write(const char *symbol, const char *timeframe, const struct bar *bars, size_t n,
                     const char *provider, const char *trace_id);

/* Forgets every mark (shutdown, tests). */
void bar_store_clear(void);

#endif
