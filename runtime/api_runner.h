/* api_runner.h — bot lifecycle and ticks: POST /api/bots/:id/start|stop|restart|kill|tick. */
#ifndef GATEHOUSE_API_RUNNER_H
#define GATEHOUSE_API_RUNNER_H

struct http_ctx;

/* start/restart run the safe-start gates and fail closed (409 with the first blocker's code, every blocker,
 * suggested_fix, trace_id, and a BLOCKED usage event); on success a RUNNING bot instance exists. */
void api_runner_start(struct http_ctx *ctx);
void api_runner_restart(struct http_ctx *ctx);
/* stop: the running instance becomes STOPPED; kill: KILLED (system event + alert). */
void api_runner_stop(struct http_ctx *ctx);
void api_runner_kill(struct http_ctx *ctx);
/* POST /api/bots/kill-all (operator + fresh 2FA): every running instance becomes KILLED, desired_state KILLED;
 * one "kill" system event per bot, a kill.all event and a SEV-2 alert; answers {killed, bots}. */
void api_runner_kill_all(struct http_ctx *ctx);
/* tick: runs one tick now and answers its summary. */
void api_runner_tick(struct http_ctx *ctx);

#endif
