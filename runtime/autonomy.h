/* autonomy.h — the autonomy score of every bot (PRODUCT.md §6 "Autonomy score"; rules in
 * scripts/autonomy.lua).
 *
 * A scoring round: scripts/autonomy.lua evidence_spec() says how much evidence to read; one SQL statement
 * gathers it for the bots of the round (bars calls, proof of use, traces, risk checks, orders and fills,
 * the latest instance with its breaker and heartbeat, deaths and supervisor kills in the window); the gate
 * decision the round is given (status.c's cached one, passed by whoever starts the round) adds the system
 * facts (market-data and broker primaries, risk engine, scheduler) and the scheduler lease says whether a
 * leader is alive; then, in slices of 25 bots, one per event-loop turn (so a 1,000-bot round never holds the
 * loop for more than a few ms), one score_all() call scores the slice and one INSERT ... ON CONFLICT upserts
 * its rows into autonomy_scores. A tier change writes a system event "autonomy.tier". The round ends when the
 * last slice's upsert has answered; a policy failure in a slice ends it with POLICY_ERROR (slices stored
 * before it keep their rows).
 *
 * Rounds run on the scheduler leader every GATEHOUSE_AUTONOMY_INTERVAL_S (default 30), and soon after events
 * that move the evidence (autonomy_request: breaker open/half-open/close, kill, start, stop) for the bots
 * concerned; start/restart score the bot right before the safe-start gates.
 *
 * A periodic round scores only the bots whose evidence changed since they were last picked (issue 18):
 * the leader keeps every bot id with a dirty mark. Marks come from the usage stream this process sees
 * (autonomy_note_usage: ticks, bars calls, risk checks, orders), from autonomy_request's events, and, for
 * evidence written by other instances of a fleet, from the round's bot list itself, which says per bot
 * whether any usage row was written since the previous list (a watermark, 3 s of overlap, one index probe
 * per bot). Time alone moves evidence too (windows expire, heartbeats age): a round-robin sweep adds
 * n * interval / GATEHOUSE_AUTONOMY_SWEEP_S (+1) bots to each round, and any bot not picked for sweep_s is
 * picked, so every bot is rescored at least every sweep_s (default 300). A change of the system facts
 * (status, blockers, primaries: not the primary's running counters), a new policy generation, a failed round,
 * becoming the leader and start-up score every bot. */
#ifndef GATEHOUSE_AUTONOMY_H
#define GATEHOUSE_AUTONOMY_H

#include <jansson.h>

struct event_base;

/* rows (borrowed): the upserted rows, one object per bot {bot_id, autonomy_score, data_reliability_score,
 * decision_quality_score, risk_discipline_score, execution_health_score, supervisor_trust_score,
 * autonomy_tier, blockers, breakdown, last_updated_at}; NULL with err_code (POLICY_ERROR | DB_UNAVAILABLE)
 * and err on failure. */
typedef void (*autonomy_done_cb)(const json_t *rows, const char *err_code, const char *err, void *arg);

/* The gate decision (status.h's {system_status, blockers, live_stack, ...}, borrowed) a round is judged with.
 */
typedef const json_t *(*autonomy_decision_fn)(void);

/* Sets up the debounce timer of autonomy_request; decision supplies the gate decision of those debounced
 * rounds (main.c wires status_decision). Returns 0 or -1. */
int autonomy_init(struct event_base *base, autonomy_decision_fn decision);
void autonomy_stop(void);

/* Scores bot_id (a UUID), or every bot when bot_id is NULL, and upserts the rows, with the system facts of
 * decision (the cached gate decision, status_decision(); retained for the round, may be NULL); cb is called
 * exactly once (cb may be NULL). Returns 0, or -1 when the round could not be queued (cb is then not called).
 */
int autonomy_score(const char *bot_id, const json_t *decision, const char *trace_id, autonomy_done_cb cb,
                   void *arg);

/* Marks bot_id's evidence as changed: the next periodic round scores it. O(1), never blocks; an unknown id
 * (a bot created since the last round's bot list) is ignored (the next list picks it as new). */
void autonomy_note_bot(const char *bot_id);

/* The usage stream's listener (main.c chains it with variables_note_usage): an event of a bot marks it. */
struct usage_event;
void autonomy_note_usage(const struct usage_event *ev);

/* Asks for bot_id to be rescored soon (debounced, batched; also marks it for the next periodic round). Never
 * blocks. */
void autonomy_request(const char *bot_id, const char *trace_id);

/* Called by the scheduler every second while it is the leader, with the cached gate decision: every
 * GATEHOUSE_AUTONOMY_INTERVAL_S, the periodic round of the bots whose evidence changed (see above). */
void autonomy_leader_tick(const json_t *decision);

/* The blocker of row (a scored bot) that explains its tier: the first SEV-1 blocker of a LOCKED bot, else the
 * first requirement missing for the next tier; NULL when none. Borrowed from row. */
const json_t *autonomy_explaining_blocker(const json_t *row);

#endif
