/* orders.h — the one door of C to the order state machine (migrations/0050_orders.sql).
 *
 * States: INTENT → SUBMITTED → ACCEPTED → PARTIALLY_FILLED → FILLED | CANCELLED | REJECTED | EXPIRED, plus
 * BLOCKED (a gate refused it, never sent). An order is created INTENT or BLOCKED (PAPER: SUBMITTED). Every
 * later change goes through gh_order_transition() (legal moves only, one order_events row with the trace id
 * each) and every fill — paper and broker alike — through gh_apply_fill(), which updates the order and the
 * bot's position for that stage in one transaction. Nothing else in C writes orders.status, fills or
 * positions. Working orders: SUBMITTED, ACCEPTED, PARTIALLY_FILLED (and a LIVE INTENT while its broker call
 * is in flight). */
#ifndef GATEHOUSE_ORDERS_H
#define GATEHOUSE_ORDERS_H

/* SQL list of the working statuses, for IN (...) clauses. */
#define ORDERS_WORKING_SQL "('SUBMITTED', 'ACCEPTED', 'PARTIALLY_FILLED')"

/* SQL scalar: the contracts still to fill of bot's orders of one side in stage (bot, stage: SQL expressions;
 * side: 'BUY' or 'SELL' as a literal) — working orders, and a LIVE INTENT whose broker call is in flight. The
 * exposure scripts/risk.lua adds to the position (runner ticks and the minute sweep read the same number). */
#define ORDERS_WORKING_QTY_SQL(bot, stage, side)                                                             \
    "(SELECT coalesce(sum(o.qty - o.filled_qty), 0) FROM orders o WHERE o.bot_id = " bot                     \
    " AND o.stage = " stage " AND o.side = '" side "' AND (o.status IN " ORDERS_WORKING_SQL                  \
    " OR (o.status = 'INTENT' AND o.stage = 'LIVE')))"

/* SQL scalar: the P&L realized by bot's fills of stage since 00:00 UTC of today (gh_now()), points x
 * contracts. */
#define ORDERS_REALIZED_TODAY_SQL(bot, stage)                                                                        \
    "(SELECT coalesce(sum(f.realized_pnl), 0) FROM fills f JOIN orders o ON o.id = f.order_id WHERE f.bot_id = " bot \
    " AND o.stage = " stage                                                                                          \
    " AND f.filled_at >= date_trunc('day', gh_now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"

/* ok = 1 on success; code is an error code of docs/error-codes.md when !ok (ORDER_NOT_WORKING, NOT_FOUND,
 * DB_UNAVAILABLE, or the broker's code), human its reason. Runs exactly once, from the loop. */
typedef void (*orders_cb)(int ok, const char *code, const char *human, void *arg);

struct order_fill {
    const char *order_id, *trace_id;
    double qty, price;          /* qty > 0 contracts */
    int simulated;              /* 1 = paper fill, 0 = broker fill */
    const char *broker_fill_id; /* broker fills: the broker's id (a repeat import is a no-op), else NULL */
    double slippage_ticks;      /* < 0 = none */
    double filled_at;           /* epoch seconds; 0 = now (the clock of clock.h) */
    long long lease_epoch; /* a tick's fill: the lease epoch it is fenced with (gh_fence); 0 = unfenced */
};

/* Applies one fill (gh_apply_fill); with a lease_epoch only while it is current (else the error names
 * LEASE_LOST and nothing is written). cb may be NULL (errors are logged). Returns 0, or -1 when not queued.
 */
int orders_apply_fill(const struct order_fill *f, orders_cb cb, void *arg);

/* A counter that grows each time this process commits a fill (before the fill's cb runs): views that cache
 * positions or P&L (the portfolio) rebuild when it moved. Fills written by other processes are not counted.
 */
unsigned long long orders_fills_version(void);

struct order_move {
    const char *order_id, *to, *trace_id;
    const char *code, *human;             /* the reason (REJECTED, CANCELLED, EXPIRED), or NULL */
    const char *user_id;                  /* the operator who caused it, or NULL */
    const char *broker, *broker_order_id; /* set on INTENT → SUBMITTED of a LIVE order, else NULL */
};

/* Moves an order (gh_order_transition). cb may be NULL. Returns 0, or -1 when not queued. */
int orders_transition(const struct order_move *m, orders_cb cb, void *arg);

/* Cancels one working order: locally for PAPER/SHADOW (and a LIVE INTENT never sent), at its broker first for
 * a LIVE order (CANCELLED only once the broker confirmed). cb may be NULL. Returns 0 or -1 when not queued.
 */
int orders_cancel(const char *order_id, const char *reason_code, const char *trace_id, const char *user_id,
                  orders_cb cb, void *arg);

/* Changes the working quantity of one order (at the broker first for LIVE). Returns 0 or -1. */
int orders_modify(const char *order_id, long long qty, const char *trace_id, const char *user_id,
                  orders_cb cb, void *arg);

/* Kill path: cancels every working order of bot_id (NULL = of every bot) with reason_code; with flatten, then
 * closes the bot's position with a market order (PAPER: filled at the last mark; LIVE: sent to the broker).
 * Fire and forget: each step is an order_events row, a usage event for broker calls, a log line on failure.
 */
void orders_cancel_working(const char *bot_id, const char *reason_code, const char *trace_id,
                           const char *user_id, int flatten);

#endif
