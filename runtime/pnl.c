/* pnl.c — average cost, unrealized P&L and the equity statistics (contract in pnl.h). */
#include "pnl.h"

#include <math.h>

static double sign_of(double x)
{
    return (x > 0) - (x < 0);
}

double pnl_apply_fill(struct pnl_position *p, double signed_qty, double price, double *closed)
{
    double realized = 0, closing = 0, new_qty = p->qty + signed_qty;
    if (p->qty == 0 || sign_of(p->qty) == sign_of(signed_qty)) {
        double total = fabs(p->qty) + fabs(signed_qty);
        p->avg_price = total > 0 ? (p->avg_price * fabs(p->qty) + price * fabs(signed_qty)) / total : 0;
    } else {
        closing = fmin(fabs(p->qty), fabs(signed_qty));
        realized = closing * (price - p->avg_price) * sign_of(p->qty);
        if (new_qty == 0)
            p->avg_price = 0;
        else if (sign_of(new_qty) != sign_of(p->qty))
            p->avg_price = price;
    }
    p->qty = new_qty;
    if (closed) *closed = closing;
    return realized;
}

double pnl_unrealized(double mark, double avg_price, double qty, double multiplier)
{
    return (mark - avg_price) * qty * multiplier;
}

int pnl_win_rate(long long winning, long long closing, double *out)
{
    if (closing <= 0) return -1;
    *out = (double)winning / (double)closing;
    return 0;
}

int pnl_profit_factor(double gross_profit, double gross_loss, double *out)
{
    if (!(gross_loss > 0)) return -1;
    *out = gross_profit / gross_loss;
    return 0;
}

double pnl_max_drawdown(const struct pnl_point *pts, size_t n)
{
    double peak = 0, worst = 0;
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || pts[i].equity > peak) peak = pts[i].equity;
        if (peak - pts[i].equity > worst) worst = peak - pts[i].equity;
    }
    return worst;
}

/* Appends the lowest and the highest point of pts[lo, hi) to out in time order; returns the count added. */
static size_t bucket_extremes(const struct pnl_point *pts, size_t lo, size_t hi, struct pnl_point *out)
{
    size_t imin = lo, imax = lo;
    for (size_t i = lo + 1; i < hi; i++) {
        if (pts[i].equity < pts[imin].equity) imin = i;
        if (pts[i].equity > pts[imax].equity) imax = i;
    }
    if (imin == imax) {
        out[0] = pts[imin];
        return 1;
    }
    out[0] = pts[imin < imax ? imin : imax];
    out[1] = pts[imin < imax ? imax : imin];
    return 2;
}

size_t pnl_bucket(const struct pnl_point *pts, size_t n, struct pnl_point *out, size_t max)
{
    size_t k = 0, inner, buckets;
    if (n <= max || max < 4) {
        size_t m = n <= max ? n : max;
        for (size_t i = 0; i < m; i++)
            out[i] = pts[i];
        return m;
    }
    inner = n - 2;
    buckets = (max - 2) / 2;
    out[k++] = pts[0];
    for (size_t b = 0; b < buckets; b++) {
        size_t lo = 1 + inner * b / buckets, hi = 1 + inner * (b + 1) / buckets;
        if (hi > lo) k += bucket_extremes(pts, lo, hi, out + k);
    }
    out[k++] = pts[n - 1];
    return k;
}
