/* broker.h — one LIVE market order sent to the live stack's execution primary (Ironbeam or Tradovate).
 *
 * The request sequence comes from the provider's `order` description in providers.lua (login, account lookup,
 * place); secrets are substituted in C (probe.c) and never logged or put in events. Every broker call is a
 * usage event (provider id, operation broker.auth | broker.place_order, OK/ERROR, latency, bot/run/trace ids,
 * metadata {action, qty, symbol, step, broker_order_id?}). One attempt per order: nothing is retried (Tradovate
 * locks users out after failed logins). Demo hosts unless the provider's env selector says live. */
#ifndef GATEHOUSE_BROKER_H
#define GATEHOUSE_BROKER_H

struct broker_order {
    const char *symbol;                /* sent as the broker symbol as is */
    const char *side;                  /* "BUY" | "SELL" */
    long long qty;                     /* > 0 contracts */
    const char *bot_id, *run_id, *trace_id;
};

struct broker_result {
    int ok;                            /* 1 = the broker accepted the order (SUBMITTED) */
    const char *provider_id;           /* the broker used, or NULL when none is connected */
    const char *broker_order_id;       /* when ok */
    const char *error_code;            /* when !ok: NO_BROKER, AUTH_FAILED, BROKER_REJECTED, TIMEOUT, NETWORK_ERROR,
                                        * RATE_LIMITED, PROVIDER_ERROR, INVALID_ORDER */
    const char *reason;                /* when !ok: secret-free human reason (the broker's text when it gave one) */
};

typedef void (*broker_cb)(const struct broker_result *r, void *arg);

/* Starts placing the order; cb runs exactly once (before this returns when nothing can be sent). Returns 0,
 * or -1 on invalid input (no callback then). */
int broker_place_order(const struct broker_order *o, broker_cb cb, void *arg);

#endif
