/* reconcile.h — LIVE orders and positions reconciled with the broker (Ironbeam, Tradovate).
 *
 * On the scheduler leader, at its first second and then every minute (GATEHOUSE_RECONCILE_EVERY_S, default
 * 60), for every (broker, symbol) that LIVE bots trade — a LIVE bot that runs, holds a LIVE position or has
 * LIVE orders working; its broker is the one of its latest LIVE order, else the live stack's execution
 * primary:
 *   1. fills: the broker's fills of gatehouse's orders are imported through orders.h (gh_apply_fill with the
 *      broker's fill id: a repeat import is a no-op), moving orders to PARTIALLY_FILLED / FILLED;
 *   2. orders: each working order takes the broker's state (ACCEPTED, CANCELLED, REJECTED, EXPIRED);
 *   3. positions: the broker's net position on the symbol is compared with the sum of gatehouse's LIVE
 * positions on it. A difference raises the SEV-1 bot blocker POSITION_MISMATCH on every LIVE bot of the
 * symbol (LIVE blocked; the reason states both numbers), a system event and an alert; equal numbers clear it.
 * Every broker call is a usage event under the broker's provider id (broker.h). A broker that cannot be
 * reached changes nothing (the next pass retries); it never clears a mismatch. */
#ifndef GATEHOUSE_RECONCILE_H
#define GATEHOUSE_RECONCILE_H

/* Called every second by the scheduler leader; runs a pass when one is due and none is in flight. */
void reconcile_sweep(void);

/* Starts a pass now (API: POST /api/system/reconcile). Returns 0, or -1 when one is already running. */
int reconcile_now(const char *trace_id);

/* 1 while a pass is in flight. */
int reconcile_running(void);

#endif
