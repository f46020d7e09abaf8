/* test_pnl.c — pnl.h by hand-computed cases: average cost (adds, a partial close, a reversal long 2 → sell 3
 * → short 1, a short covered), unrealized, win rate, profit factor, max drawdown and the equity bucketing. */
#include <math.h>
#include <stdlib.h>

#include "pnl.h"
#include "tap.h"

#define NEAR(a, b) (fabs((a) - (b)) < 1e-9)

static void average_cost(void)
{
    struct pnl_position p = {0, 0};
    double closed = -1, r;

    r = pnl_apply_fill(&p, 3, 100, &closed);
    tap_ok(NEAR(r, 0) && NEAR(closed, 0) && NEAR(p.qty, 3) && NEAR(p.avg_price, 100),
           "buy 3 @100 opens long 3 @100");
    r = pnl_apply_fill(&p, 1, 104, &closed);
    tap_ok(NEAR(r, 0) && NEAR(p.qty, 4) && NEAR(p.avg_price, 101), "buy 1 @104 averages: long 4 @101");
    r = pnl_apply_fill(&p, -1, 105, &closed);
    tap_ok(NEAR(r, 4) && NEAR(closed, 1), "partial close: sell 1 @105 realizes (105 - 101) x 1 = 4 points");
    tap_ok(NEAR(p.qty, 3) && NEAR(p.avg_price, 101), "partial close keeps the average: long 3 @101");
    r = pnl_apply_fill(&p, -3, 99, &closed);
    tap_ok(NEAR(r, -6) && NEAR(closed, 3) && NEAR(p.qty, 0) && NEAR(p.avg_price, 0),
           "sell 3 @99 closes flat: (99 - 101) x 3 = -6 points, avg 0");

    p = (struct pnl_position){0, 0};
    pnl_apply_fill(&p, 2, 100, NULL);
    r = pnl_apply_fill(&p, -3, 110, &closed);
    tap_ok(NEAR(r, 20) && NEAR(closed, 2),
           "reversal: long 2 @100, sell 3 @110 closes 2 for (110 - 100) x 2 = 20");
    tap_ok(NEAR(p.qty, -1) && NEAR(p.avg_price, 110), "reversal: the remaining 1 opens short @110");
    r = pnl_apply_fill(&p, 1, 112, &closed);
    tap_ok(NEAR(r, -2) && NEAR(closed, 1) && NEAR(p.qty, 0), "covering short 1 @110 at 112 loses 2 points");

    p = (struct pnl_position){0, 0};
    pnl_apply_fill(&p, -2, 50, NULL);
    r = pnl_apply_fill(&p, 1, 45, &closed);
    tap_ok(NEAR(r, 5) && NEAR(p.qty, -1) && NEAR(p.avg_price, 50),
           "short 2 @50, buy 1 @45: +5 points, short 1 @50");
}

static void money(void)
{
    double v = -1;
    tap_ok(NEAR(pnl_unrealized(4010, 4000, -1, 50), -500), "short 1 ES @4000 marked 4010: -500 USD");
    tap_ok(NEAR(pnl_unrealized(5002.25, 5000, 2, 5), 22.5), "long 2 MES @5000 marked 5002.25: +22.50 USD");
    tap_ok(NEAR(pnl_unrealized(70, 70, 0, 1000), 0), "flat: 0");
    tap_ok(pnl_win_rate(2, 3, &v) == 0 && NEAR(v, 2.0 / 3.0), "win rate 2 of 3");
    tap_ok(pnl_win_rate(0, 0, &v) == -1, "win rate without a closing fill is unknown");
    tap_ok(pnl_profit_factor(300, 120, &v) == 0 && NEAR(v, 2.5), "profit factor 300 / 120 = 2.5");
    tap_ok(pnl_profit_factor(300, 0, &v) == -1, "profit factor without a loss is unknown");
}

static void drawdown(void)
{
    struct pnl_point s[] = {{0, 0}, {1, 100}, {2, 40}, {3, 150}, {4, 20}, {5, 60}};
    struct pnl_point down[] = {{0, 0}, {1, -50}, {2, -20}};
    struct pnl_point up[] = {{0, 0}, {1, 10}, {2, 30}};
    tap_ok(NEAR(pnl_max_drawdown(s, 6), 130), "peak 150 then 20: drawdown 130");
    tap_ok(NEAR(pnl_max_drawdown(down, 3), 50), "from the starting 0 down to -50: drawdown 50");
    tap_ok(NEAR(pnl_max_drawdown(up, 3), 0), "only rising: drawdown 0");
    tap_ok(NEAR(pnl_max_drawdown(s, 1), 0), "one point: 0");
}

static void bucketing(void)
{
    enum { N = 10002 };
    struct pnl_point *pts = malloc(N * sizeof *pts), out[PNL_MAX_POINTS];
    size_t k, i, low = 0, high = 0, ordered = 1;
    for (i = 0; i < N; i++)
        pts[i] = (struct pnl_point){(double)i, (double)(i % 7)};
    pts[5000].equity = -1000; /* the deepest point */
    pts[7000].equity = 2000;  /* the highest */
    k = pnl_bucket(pts, N, out, PNL_MAX_POINTS);
    tap_ok(k <= PNL_MAX_POINTS && k > PNL_MAX_POINTS / 2, "10002 points become at most 500 (%zu)", k);
    tap_ok(out[0].t == 0 && out[k - 1].t == N - 1, "the first and the last point are kept");
    for (i = 0; i < k; i++) {
        if (out[i].equity == -1000) low = 1;
        if (out[i].equity == 2000) high = 1;
        if (i > 0 && !(out[i].t > out[i - 1].t)) ordered = 0;
    }
    tap_ok(low && high, "the lowest and the highest point survive the bucketing");
    tap_ok(ordered, "the points stay in time order");
    tap_ok(NEAR(pnl_max_drawdown(pts, N), 2000),
           "full resolution: the peak 2000 falls back to 0 (6 → -1000 is only 1006)");
    k = pnl_bucket(pts, 6, out, PNL_MAX_POINTS);
    tap_ok(k == 6 && out[5].t == 5, "a short series is kept whole");
    free(pts);
}

int main(void)
{
    average_cost();
    money();
    drawdown();
    bucketing();
    return tap_done();
}
