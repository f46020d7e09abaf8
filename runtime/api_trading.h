/* api_trading.h — what a bot holds and earned, and the portfolio (issue 16; docs/api.md "Trading"):
 *   GET /api/bots/:id/positions                     viewer  positions with mark, unrealized, realized, fees
 *   GET /api/bots/:id/orders?limit=&cursor=&status= viewer  orders, newest first
 *   GET /api/bots/:id/fills?limit=&cursor=          viewer  fills with the P&L each realized, newest first
 *   GET /api/bots/:id/pnl?window=1d|7d|30d|all&stage= viewer  P&L, statistics and the equity series of a
 * window GET /api/portfolio                              viewer  every bot's P&L and exposure, per stage
 * (never summed across stages); reads positions and today's pnl_daily Money is USD under average cost: points
 * x contracts x the contract multiplier (scripts/instruments.lua's multiplier_of) − fees. A money field whose
 * multiplier or mark is unknown is JSON null, and an unknown_reason beside it says why. */
#ifndef GATEHOUSE_API_TRADING_H
#define GATEHOUSE_API_TRADING_H

struct http_ctx;

void api_trading_positions(struct http_ctx *ctx);
void api_trading_orders(struct http_ctx *ctx);
void api_trading_fills(struct http_ctx *ctx);
void api_trading_pnl(struct http_ctx *ctx);
/* Served from a body built at most once a second and right after this process commits a fill (orders.h
 * orders_fills_version) or changes a bot (api_trading_portfolio_stale); as_of says when it was built. */
void api_trading_portfolio(struct http_ctx *ctx);

/* Marks the cached portfolio stale (a bot was created, cloned, renamed or moved to another stage): the next
 * read waits for a rebuild. */
void api_trading_portfolio_stale(void);

/* Frees the cached portfolio (shutdown). */
void api_trading_clear(void);

#endif
