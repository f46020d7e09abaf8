/* risk_watch.h — breaches act (PRODUCT.md §6 risk; issue "trading safety").
 *
 * After every fill (each tick reviews the held position once its paper fills are applied) and every minute
 * (risk_watch_sweep, on the scheduler leader, for every running bot and every bot holding a position or
 * working orders) scripts/risk.lua review(ctx) judges the held exposure: position plus working orders, daily
 * loss, drawdown. A breach:
 *   - raises the bot blocker RISK_BREACH (bot_blockers, SEV-1, every stage) — gates.lua then refuses its
 * start and ticks, and scripts/autonomy.lua caps the bot at LOCKED — until an operator acknowledges it (POST
 * /api/bots/:id/blockers/RISK_BREACH/ack);
 *   - kills the bot (instance KILLED, desired_state KILLED) and cancels its working orders (orders.h; at the
 *     broker for LIVE), flattening when its params say flatten_on_kill = true;
 *   - writes the system event risk_breach (SEV-1) and sends an alert.
 * One open RISK_BREACH per bot: a second breach while one is open does nothing more. */
#ifndef GATEHOUSE_RISK_WATCH_H
#define GATEHOUSE_RISK_WATCH_H

#include <jansson.h>

struct policy_gen;

/* What scripts/risk.lua is told about a bot (check and review alike). position: the positions row as JSON
 * (qty, avg_price, realized_pnl, equity_peak; NULL or {} when flat and never traded); mark: the last close (0
 * = none); market and limits may be NULL. */
struct risk_view {
    const json_t *position;
    double mark, realized_today, working_buy, working_sell;
    const json_t *market, *limits;
    const char *stage, *symbol;
};

/* The risk policy's ctx for v (a new object, without order, orders_last_minute or tier): position, working
 * orders, P&L in points x contracts (risk.lua applies the contract multiplier): unrealized at the mark,
 * equity = realized + unrealized, equity_peak = the stored peak raised to what is seen now (never below 0).
 */
json_t *risk_watch_context(const struct risk_view *v);

/* risk.lua review(ctx) in generation g: a new object {breached, reason_code, reason_human, violations, usage,
 * limits}, or NULL when the policy failed (logged; no breach is acted on without the policy's verdict). */
json_t *risk_watch_review(struct policy_gen *g, const json_t *ctx, const char *trace_id);

/* Acts on a breach verdict (only read) of bot_id in stage (as above). Fire and forget. */
void risk_watch_breach(const char *bot_id, const char *bot_name, const char *stage, const json_t *verdict,
                       const char *trace_id);

/* The minute sweep; call every second from the leader: runs at most once per 60 s
 * (GATEHOUSE_RISK_SWEEP_EVERY_S overrides). It judges the last mark a tick stored (positions.mark_price): no
 * provider is called. */
void risk_watch_sweep(void);

#endif
