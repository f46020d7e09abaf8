/* pnl.h — the P&L arithmetic of the trading routes (and of anything else that values fills): average-cost
 * position steps, unrealized P&L, the equity series and its statistics. Pure functions: no I/O, no globals.
 *
 * Units: prices in points; realized/unrealized "points" are price points x contracts; USD = points x contract
 * multiplier (scripts/instruments.lua). Average cost is migrations/0070_trading.sql's gh_apply_fill: adding
 * to a position averages the price; reducing realizes (price − avg) x closed x direction and keeps avg;
 * crossing zero opens the remainder at the fill price. */
#ifndef GATEHOUSE_PNL_H
#define GATEHOUSE_PNL_H

#include <stddef.h>

/* The most points an equity series is answered with. */
#define PNL_MAX_POINTS 500

/* One position under average cost: signed contracts (> 0 long) and the average entry price (0 when flat). */
struct pnl_position {
    double qty;
    double avg_price;
};

/* Applies a fill of signed_qty contracts (> 0 buy, < 0 sell) at price to p. Returns the realized P&L in
 * points x contracts (0 for an opening fill) and sets *closed (when not NULL) to the contracts the fill
 * closed. */
double pnl_apply_fill(struct pnl_position *p, double signed_qty, double price, double *closed);

/* Unrealized P&L in USD of qty signed contracts entered at avg_price and marked at mark:
 * (mark − avg_price) x qty x multiplier. */
double pnl_unrealized(double mark, double avg_price, double qty, double multiplier);

/* Winning closing fills / closing fills: 0 with *out set, or -1 (unknown) when closing is 0. */
int pnl_win_rate(long long winning, long long closing, double *out);

/* Gross profit / gross loss (both >= 0): 0 with *out set, or -1 (unknown) when there is no loss. */
int pnl_profit_factor(double gross_profit, double gross_loss, double *out);

/* One point of an equity series: t in epoch seconds, equity in USD. */
struct pnl_point {
    double t;
    double equity;
};

/* The largest fall of pts[0..n)'s equity from a running peak (>= 0; 0 for fewer than two points). Run it on
 * the full-resolution series, before pnl_bucket. */
double pnl_max_drawdown(const struct pnl_point *pts, size_t n);

/* Reduces pts[0..n) (time order) to at most max (>= 4) points in out (room for max): all of them when n <=
 * max; otherwise the first and the last point, and the points in between cut into (max − 2) / 2 equal runs,
 * each represented by its lowest and its highest point in time order (so the drawdowns stay visible). Returns
 * the count written. */
size_t pnl_bucket(const struct pnl_point *pts, size_t n, struct pnl_point *out, size_t max);

#endif
