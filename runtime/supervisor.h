/* supervisor.h — runner supervision (PRODUCT.md §6 "Supervision"; seed 003 B2/B3).
 *
 * Model. The runner of a bot is its RUNNING (or STARTING) bot_instances row. It dies when
 *   - a tick ends in outcome ERROR (strategy/feature/risk policy failure, DB failure), reported by the tick's
 *     starter (the scheduler's done-callback, api_runner.c's for manual ticks) through
 * supervisor_tick_finished() — only when the tick ran for that instance (run_id = instance id);
 *   - its heartbeat (last_heartbeat_at, written by every tick; started_at if none yet) is older than
 *     3 × its tick interval, at least 30 s (GATEHOUSE_HEARTBEAT_TIMEOUT_S overrides), seen by the sweep.
 * A death marks the instance DEAD and records a RUNNER job for it (created lazily at its death, one per
 * instance: jobs.params.instance_id) with the FSM transitions in job_run_events: NULL→QUEUED, QUEUED→RUNNING
 * (both at the instance's start, reason RUNNER_STARTED) and RUNNING→FAILED (reason = the tick's reason code)
 * or RUNNING→TIMEOUT (reason HEARTBEAT_TIMEOUT), each with the trace id. breaker_failures becomes
 * min(carried counter, deaths of the bot within the window recounted from job_run_events) + 1: the window
 * (GATEHOUSE_BREAKER_WINDOW_S, default 1800) expires old deaths and a closed breaker resets the counter.
 *
 * Circuit breaker (carried on the bot's latest instance; a restart hands it to the new instance):
 *   CLOSED, failures < threshold (GATEHOUSE_BREAKER_FAILURES, default 3) → restart at once: a new RUNNING
 *     instance (restart_count + 1), only if bots.desired_state is still RUNNING — "supervisor.restart";
 *   failures ≥ threshold, or any death in HALF_OPEN → OPEN (breaker_opened_at = now), no restart — system
 *     event "breaker" SEV-2 + alert; gates.lua then refuses starts/ticks with CIRCUIT_OPEN. For a LIVE bot
 * the bot is also killed (bots.desired_state KILLED, event "kill" + alert); its DEAD instance keeps the OPEN
 *     breaker so the gates keep seeing it;
 *   OPEN for the cool-down (GATEHOUSE_BREAKER_COOLDOWN_S, default 600) → HALF_OPEN; if the bot is still
 *     desired RUNNING one probe instance is started; a TRADED/SUPPRESSED tick of a HALF_OPEN instance closes
 *     the breaker (CLOSED, failures 0); a death of the probe re-opens it.
 * Kill triggers (invariant breaches): a stuck runner (heartbeat older than 10 × interval, and older than the
 * heartbeat timeout) → its job TIMEOUT with reason RUNNER_STUCK, instance KILLED, bot desired KILLED, no
 * restart; a risk breach (tick reason MAX_DAILY_LOSS or MAX_DRAWDOWN) → kill for LIVE bots, a
 * "supervisor.risk_breach" event for the others.
 * Every action writes a system event with a trace id: the tick's for tick-driven actions, one new trace id
 * per sweep otherwise. Sweeps run on the scheduler leader only, at most every 2 s.
 * The supervisor decides what to do; the breaker's transitions are breaker_next() (breaker.h) and every write
 * to instances, desired state and breaker columns is instances.c's. */
#ifndef GATEHOUSE_SUPERVISOR_H
#define GATEHOUSE_SUPERVISOR_H

#include <jansson.h>

/* A tick ended: summary is runner.h's tick summary {bot_id, run_id, trace_id, outcome
 * (TRADED|SUPPRESSED|BLOCKED| ERROR), reason_code, ...} (borrowed). Called by whoever started the tick, from
 * its done-callback: the scheduler for scheduled ticks, api_runner.c for manual ones. Never blocks. */
void supervisor_tick_finished(const json_t *summary);

/* Called by the scheduler every second while it is the leader: heartbeat and cool-down sweeps. */
void supervisor_leader_tick(void);

#endif
