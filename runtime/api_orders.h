/* api_orders.h — order actions and the incidents of a bot:
 *   POST /api/orders/:id/cancel                 operator   cancel a working order (at the broker for LIVE)
 *   POST /api/orders/:id/modify {qty}           operator   lower the working quantity (never above the
 * current one: a modify never adds exposure the risk check has not seen) POST
 * /api/bots/:id/blockers/:code/ack {reason?} operator  acknowledge an open RISK_BREACH or POSITION_MISMATCH
 * (the bot may start again; its autonomy is scored again) POST /api/system/reconcile operator   start a
 * broker reconciliation pass now (reconcile.h) Every change is an order_events / bot_blockers row with the
 * caller's user id and the trace id. */
#ifndef GATEHOUSE_API_ORDERS_H
#define GATEHOUSE_API_ORDERS_H

struct http_ctx;

void api_orders_cancel(struct http_ctx *ctx);
void api_orders_modify(struct http_ctx *ctx);
void api_bots_blocker_ack(struct http_ctx *ctx);
void api_system_reconcile(struct http_ctx *ctx);

#endif
