/* api_bars.h — GET /api/bots/:id/bars: the bars the bot's ticks and backtests used (market_bars, written by
 * bar_store.c), for the bot page's price chart. */
#ifndef GATEHOUSE_API_BARS_H
#define GATEHOUSE_API_BARS_H

struct http_ctx;

/* GET /api/bots/:id/bars?from=&to=&limit= — {symbol, timeframe, bars: [{t, o, h, l, c, v, provider}]} for the
 * bot's symbol and timeframe, oldest first, bar starts t in [from, to]. to defaults to gh_now(), from to 24 h
 * before to; limit defaults to 2000 (1 to 10000), the newest kept. 400 VALIDATION_FAILED naming from, to
 * (not RFC 3339, or from after to) or limit; 404 for an unknown or non-UUID bot id. */
void api_bars_list(struct http_ctx *ctx);

#endif
