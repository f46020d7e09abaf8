/* backtest.h — the backtest engine: a BACKTEST job that replays the bot's strategy over a past
 * window of bars from the market-data primary (PRODUCT.md §6 "Bots, runner, jobs"); the route
 * that creates the job is api_backtests.c.
 *
 * The job row goes QUEUED -> RUNNING -> SUCCEEDED | FAILED (error_code DATA_UNAVAILABLE or POLICY_ERROR),
 * each transition a job_run_events row with the request's trace id. The row records the signed-in user, the
 * owner process (runtime/jobs.h) and a deadline (the body's deadline_s, else GATEHOUSE_JOB_DEADLINE_S): the
 * job sweep ends it TIMEOUT past the deadline and cancels the work here (bt_cancel), or FAILED if this
 * process dies. Bars are fetched in chunks (marketdata caps one call at ~2000 bars); every attempt is a
 * marketdata.bars usage event carrying the bot and job ids. The replay runs on the event loop in slices
 * (BACKTEST_SLICE bars per turn, zero timer between) so the server stays responsive (the loop is the
 * request's own). Per bar: features.compute over the last <= 300 bars, the strategy's decide,
 * market_hours.session at the bar's time and risk.check; an allowed order fills at the next bar's open +/-
 * slippage_ticks*tick_size (bot params, defaults 1 and 0.25). Same window and policies -> same result. */
#ifndef GATEHOUSE_BACKTEST_H
#define GATEHOUSE_BACKTEST_H

#include <jansson.h>

struct event_base;
struct backtest;

#define BACKTEST_SLICE 200
#define BACKTEST_MAX_DAYS 7

/* Takes one of the GATEHOUSE_MAX_BACKTESTS places (the caller checks backtest_active() first) and makes a
 * backtest of bot bot_id for the request with trace id trace_id and signed-in user user_id (NULL: the service
 * token), running on base with the current policy generation retained. NULL when out of memory. */
struct backtest *backtest_new(struct event_base *base, const char *bot_id, const char *trace_id,
                              const char *user_id);

/* Gives b its bot row (bot: an object, stolen) and its window [start, end] in epoch seconds, now being the
 * database's clock. Returns 0, or -1 with *field and *why (for 400 VALIDATION_FAILED) when end <= start, the
 * window is longer than BACKTEST_MAX_DAYS days or end is in the future (bot is then freed). */
int backtest_set_window(struct backtest *b, json_t *bot, double start, double end, double now,
                        const char **field, const char **why);

/* The job row's params for b (new reference): {start, end, symbol, timeframe, strategy, slippage_ticks,
 * tick_size}. After backtest_set_window. */
json_t *backtest_job_params(const struct backtest *b);

/* Runs b as the QUEUED job job_id: registers it with the job sweep, moves it to RUNNING, fetches the bars and
 * replays. b belongs to the engine from now on (freed when the job ends). */
void backtest_run(struct backtest *b, const char *job_id);

/* Frees a backtest that will not run (its place is given back). */
void backtest_discard(struct backtest *b);

/* Backtests currently running (from backtest_new to their end). */
int backtest_active(void);

#endif
