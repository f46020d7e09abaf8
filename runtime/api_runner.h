/* api_runner.h — bot lifecycle and ticks: POST /api/bots/:id/start|stop|restart|kill|tick. */
#ifndef GATEHOUSE_API_RUNNER_H
#define GATEHOUSE_API_RUNNER_H

#include <jansson.h>

struct http_ctx;

/* start/restart run the safe-start gates and fail closed (409 with the first blocker's code, every blocker,
 * suggested_fix, trace_id, and a BLOCKED usage event); on success a RUNNING bot instance exists. */
void api_runner_start(struct http_ctx *ctx);
void api_runner_restart(struct http_ctx *ctx);
/* stop: the running instance becomes STOPPED; kill: KILLED (system event + alert). */
void api_runner_stop(struct http_ctx *ctx);
void api_runner_kill(struct http_ctx *ctx);
/* POST /api/bots/kill-all (operator + fresh 2FA): every running instance becomes KILLED, desired_state
 * KILLED; one "kill" system event per bot, a kill.all event and a SEV-2 alert; answers {killed, bots}. */
void api_runner_kill_all(struct http_ctx *ctx);
/* tick: runs one tick now and answers its summary. */
void api_runner_tick(struct http_ctx *ctx);

/* answer: {allowed, blockers, autonomy_tier, autonomy_score} (owned by the callee: decref it), or NULL with
 * err_code DB_UNAVAILABLE when the bot's autonomy evidence could not be read. */
typedef void (*api_runner_gate_cb)(json_t *answer, const char *err_code, void *arg);

/* The start decision of a bot, exactly as POST /api/bots/:id/start takes it: a fresh autonomy score of the
 * bot (autonomy_score), then gates.lua safe_start() with its stage, AI need and tier — so a LOCKED bot is
 * refused AUTONOMY_TIER_LOCKED wherever the answer is shown (GET /api/bots/:id safe_start, the Observatory).
 * bot is the bot's row (stage, requires_ai; copied). cb is called exactly once, possibly before this returns.
 * Returns 0, or -1 when the scoring could not be queued (cb got NULL). */
int api_runner_start_gate(const json_t *bot, const char *bot_id, const char *trace_id, api_runner_gate_cb cb,
                          void *arg);

#endif
