/* broker.h — LIVE market orders sent to the live stack's execution primary (Ironbeam or Tradovate), and the
 * broker's other actions (cancel, modify, orders, fills, positions) used by reconciliation and kill.
 *
 * The request sequence comes from the provider's `order` description in providers.lua (login, account lookup,
 * place); secrets are substituted in C (probe.c) and never logged or put in events. Every broker call is a
 * usage event (provider id, operation broker.auth | broker.place_order, OK/ERROR, latency, bot/run/trace ids,
 * metadata {action, qty, symbol, step, broker_order_id?}). One attempt per order: nothing is retried
 * (Tradovate locks users out after failed logins). Demo hosts unless the provider's env selector says live.
 *
 * Each step is one call of the provider-call engine (provider_call_start, op "order" or the action, no
 * failover, the provider's order timeout and rate limit); this file sequences the steps and reads the answers
 * (tokens, captures, the order id, the action's Lua parse). */
#ifndef GATEHOUSE_BROKER_H
#define GATEHOUSE_BROKER_H

#include <jansson.h>

struct policy_gen;

struct broker_order {
    const char *symbol; /* sent as the broker symbol as is */
    const char *side;   /* "BUY" | "SELL" */
    long long qty;      /* > 0 contracts */
    const char *bot_id, *run_id, *trace_id;
    const char *user_id;      /* the operator who caused it (flatten on kill), or NULL */
    const char *provider_id;  /* NULL = the first of candidates */
    struct policy_gen *gen;   /* required: caller's reference, valid for the call (retained inside) */
    const json_t *candidates; /* the execution candidates (the live stack's primary); only the first is
                               * used: an order is never sent to a second broker */
};

struct broker_result {
    int ok;                      /* 1 = the broker accepted the order (SUBMITTED) */
    const char *provider_id;     /* the broker used, or NULL when none is connected */
    const char *broker_order_id; /* when ok */
    const char *error_code;      /* when !ok: NO_BROKER, AUTH_FAILED, BROKER_REJECTED, TIMEOUT, NETWORK_ERROR,
                                  * RATE_LIMITED, PROVIDER_ERROR, INVALID_ORDER */
    const char *reason;          /* when !ok: secret-free human reason (the broker's text when it gave one) */
    const json_t *data; /* actions: what the provider's parse() returned (borrowed; NULL for place) */
};

typedef void (*broker_cb)(const struct broker_result *r, void *arg);

/* Starts placing the order; cb runs exactly once (before this returns when nothing can be sent: NO_BROKER
 * when neither provider_id nor a candidate names a broker with an order description). Returns 0, or -1 on
 * invalid input (no callback then). */
int broker_place_order(const struct broker_order *o, broker_cb cb, void *arg);

/* One broker action of providers.lua `order.actions` (after the `order.session_steps` login steps):
 *   cancel    {broker_order_id}        → parse returns {ok = bool, reason?}
 *   modify    {broker_order_id, qty}   → {ok = bool, reason?}
 *   orders    {symbol?}                → {orders = {{broker_order_id, status, filled_qty, avg_fill_price?,
 * qty?}, …}} fills     {symbol?}                → {fills = {{broker_fill_id, broker_order_id, qty, price,
 * filled_at?}, …}} positions {symbol}                 → {positions = {{symbol, qty (signed), avg_price?}, …}}
 * status is one of the order states of orders.h. Every call is a usage event under the broker's provider id
 * (operation from the step, e.g. broker.cancel_order). cb runs exactly once. Returns 0, or -1 on bad input.
 */
struct broker_action_req {
    const char *provider_id, *action;
    const char *broker_order_id; /* cancel / modify */
    long long qty;               /* modify: the new quantity */
    const char *symbol, *bot_id, *trace_id, *user_id;
    struct policy_gen *gen; /* required: caller's reference, valid for the call (retained inside) */
};
int broker_action(const struct broker_action_req *a, broker_cb cb, void *arg);

/* ---- stage semantics: what "submit this order" means for a bot's stage ----
 * PAPER  simulated: the order is written SUBMITTED, nothing is sent, and it fills at the open of the first
 * bar that started after it plus slippage against it (broker_paper_fill_price), through the fill path broker
 *        fills take (orders.h);
 * SHADOW an INTENT: written, never sent, never filled;
 * LIVE   an INTENT written first, then sent to the broker once (broker_submit); BLOCKED when the caller's
 * LIVE gate refused it (the broker never reads the gates: the caller passes their answer). */

/* The status an order of stage is written with: PAPER SUBMITTED, SHADOW INTENT, LIVE (and any other stage,
 * which takes LIVE's rule) INTENT when live_allowed, else BLOCKED. */
const char *broker_stage_status(const char *stage, int live_allowed);

/* Submits a written order for its stage. Returns 1 when it was sent (LIVE INTENT: broker_place_order; cb runs
 * exactly once), 0 when the stage sends nothing (PAPER, SHADOW, or any order not a LIVE INTENT; cb is not
 * called), -1 on invalid input (no callback). */
int broker_submit(const char *stage, const char *status, const struct broker_order *o, broker_cb cb,
                  void *arg);

/* The PAPER fill price of an order (BUY when buy) created at created_epoch: the open of the first of bars
 * (bars_to_json shape: {t (epoch s), o, ...}, oldest first) that started after it, plus slippage_ticks x
 * tick_size against the order; 0 when no such bar exists yet. */
double broker_paper_fill_price(const json_t *bars, double created_epoch, int buy, double tick_size,
                               double slippage_ticks);

/* 1 when the provider declares the action in generation gen's providers.lua (order.actions). */
int broker_has_action(struct policy_gen *gen, const char *provider_id, const char *action);

#endif
