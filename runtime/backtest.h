/* backtest.h — POST /api/bots/:id/backtests: a BACKTEST job that replays the bot's strategy over a past
 * window of bars from the market-data primary (PRODUCT.md §6 "Bots, runner, jobs").
 *
 * The job row goes QUEUED -> RUNNING -> SUCCEEDED | FAILED (error_code DATA_UNAVAILABLE or POLICY_ERROR), each
 * transition a job_run_events row with the request's trace id. The row records the signed-in user, the owner
 * process (runtime/jobs.h) and a deadline (the body's deadline_s, else GATEHOUSE_JOB_DEADLINE_S): the job sweep
 * ends it TIMEOUT past the deadline and cancels the work here (bt_cancel), or FAILED if this process dies. Bars are fetched in chunks (marketdata caps one
 * call at ~2000 bars); every attempt is a marketdata.bars usage event carrying the bot and job ids. The replay
 * runs on the event loop in slices (BACKTEST_SLICE bars per turn, zero timer between) so the server stays
 * responsive (the loop is the request's own). Per bar: features.compute over the last <= 300 bars, the strategy's decide, market_hours.session
 * at the bar's time and risk.check; an allowed order fills at the next bar's open +/- slippage_ticks*tick_size
 * (bot params, defaults 1 and 0.25). Same window and policies -> same result. */
#ifndef GATEHOUSE_BACKTEST_H
#define GATEHOUSE_BACKTEST_H

struct http_ctx;

#define BACKTEST_SLICE 200
#define BACKTEST_MAX_DAYS 7

/* POST /api/bots/:id/backtests {start, end} — 202 {job}. 400 VALIDATION_FAILED for a bad window (not RFC
 * 3339, end <= start, longer than 7 days, end in the future), 404 for an unknown bot, 429 RATE_LIMITED
 * (refused, not queued) while GATEHOUSE_MAX_BACKTESTS backtests run on this instance. */
void api_backtests_create(struct http_ctx *ctx);

/* Backtests currently running. */
int backtest_active(void);

#endif
