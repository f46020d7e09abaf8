/* api_backtests.h — POST /api/bots/:id/backtests: creates a BACKTEST job and hands it to the engine
 * (backtest.h). */
#ifndef GATEHOUSE_API_BACKTESTS_H
#define GATEHOUSE_API_BACKTESTS_H

struct http_ctx;

/* POST /api/bots/:id/backtests {start, end, deadline_s?} — 202 {job}. 400 VALIDATION_FAILED for a bad window
 * (not RFC 3339, end <= start, longer than 7 days, end in the future) or deadline_s, 404 for an unknown bot,
 * 429 RATE_LIMITED (refused, not queued) while GATEHOUSE_MAX_BACKTESTS backtests run on this instance. */
void api_backtests_create(struct http_ctx *ctx);

#endif
