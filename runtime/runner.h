/* runner.h — one bot tick (PRODUCT.md §6 "A bot tick", steps 1–7), asynchronous on the loop.
 *
 * 1 gate check for the bot's stage (data gates; LIVE gates again at execution) — fail closed with a
 *   no-trade trace and a BLOCKED runner.tick event;
 *   then the market calendar (scripts/market_hours.lua) at the tick's instant (clock.h): a closed market ends
 *   the tick here, before any provider is called — a MARKET_CLOSED no-trade trace naming the next open, and a
 *   risk check of the exit a held position would need (risk.lua blocks every order in a closed market);
 * 2 bars from the live-stack market-data primary with failover (marketdata.c), usage events per call, over
 * the last 240 minutes of trading (market_hours.lua lookback_start) — scheduled ticks share one fetch per
 *   symbol/timeframe and second (bar_share.c); pending PAPER orders fill at the open of the first newer bar
 *   plus slippage ticks;
 * 3 features (scripts/features.lua) and the strategy's decision (scripts/strategies/<name>.lua);
 * 4 the risk check (scripts/risk.lua, with the market session of step 1) → risk.check event;
 * 5 a decision trace for ENTRY/EXIT/ADJUST, else a no-trade trace (suppression type, reason, blocked_by);
 * 6 execution: PAPER order SUBMITTED (simulated fill next tick), SHADOW order INTENT (nothing sent), LIVE
 *   only when every LIVE gate passes — otherwise the order is BLOCKED with its reason and no fill exists;
 * 7 heartbeat of the bot's running instance and a runner.tick usage event. */
#ifndef GATEHOUSE_RUNNER_H
#define GATEHOUSE_RUNNER_H

#include <jansson.h>

struct policy_gen;

/* What a tick carries down its stages, taken once: the policy generation retained when the tick starts
 * (features, strategy, risk, bar_share, llm and broker all use it, so a reload mid-tick cannot mix two
 * generations), and at the gate the safe_start answer with the provider candidates of the status decision
 * read in the same turn of the loop (status_candidates): bars, the LLM and a LIVE order go to the providers
 * the tick was gated with. */
struct tick_env {
    struct policy_gen *gen;    /* retained; released when the tick ends */
    json_t *safe_start;        /* the gate's {allowed, blockers}; NULL before the gate */
    json_t *market_data, *llm; /* ordered provider ids (failover order) */
    json_t *execution;         /* [primary] or []: where a LIVE order goes (never a second broker) */
    json_t *execution_backups; /* who a refused LIVE order is attributed to when there is no primary */
};

/* Called once with the tick's summary (borrowed): {bot_id, run_id, trace_id, outcome (TRADED|SUPPRESSED|
 * BLOCKED|ERROR), reason_code, provider, bars, action, order {id, status}?, fills, latency_ms}, or with
 * NULL and err when the bot does not exist or the database is unavailable. */
typedef void (*runner_done_cb)(const json_t *summary, const char *err_code, const char *err, void *arg);

/* Runs one tick of bot_id (a UUID) on behalf of user_id (the operator who pressed Tick, or NULL): its usage
 * events, bar and LLM calls and LIVE broker calls carry that user id. Returns 0, or -1 if a tick of this bot
 * is already running (ticks of one bot never overlap). */
int runner_tick(const char *bot_id, const char *trace_id, const char *user_id, runner_done_cb cb, void *arg);

/* The lease a scheduled tick runs under (fleet.h): the epoch of the bot's shard lease when the scheduler
 * dispatched it, and the real-time slot it ticks (scheduler.c). Every order, fill, position change and trace
 * the tick writes is fenced with the epoch (gh_fence, migrations/0072_fleet.sql); its order carries the slot
 * and the idempotency key "<bot>:<epoch>:<slot>" (one order per bot and slot). A tick whose epoch is no
 * longer current ends BLOCKED with LEASE_LOST, a no-trade trace of that reason, and nothing placed. */
struct runner_lease {
    long long epoch, slot;
};

/* The scheduler's tick: as runner_tick, but the bars come from the fetch shared by every bot of the same
 * symbol/timeframe that ticks in this second (bar_share.h); the summary then names the fetch's tick in
 * bars_source_trace_id. lease: see above (copied). A manual tick (runner_tick) is fenced with the epoch its
 * bot's shard lease has when it starts, and carries no slot. */
int runner_tick_scheduled(const char *bot_id, const char *trace_id, const struct runner_lease *lease,
                          runner_done_cb cb, void *arg);

/* Ticks running now. */
int runner_active(void);

#endif
