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
void api_trading_portfolio(struct http_ctx *ctx);

#endif
