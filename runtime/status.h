/* status.h — the one computation of system status (PRODUCT.md §6 "System status", "Gates").
 *
 * Every 500 ms, and at once after each verify probe, C builds a plain snapshot (providers, database,
 * policy, scheduler, trading switch, risk engine, open breakers) and gates.lua's evaluate() turns it into
 * the decision: system_status, autonomy_allowed, blockers, live_stack. The decision is cached, so every
 * status read is cheap and consistent. Transitions are recorded: a system-status change and a change of a
 * live-stack primary (failover) each write a system event with from, to, reason and trace id, and raise an
 * alert. Anything malformed from the policy fails closed (BLOCKED, POLICY_ERROR). */
#ifndef GATEHOUSE_STATUS_H
#define GATEHOUSE_STATUS_H

#include <jansson.h>
#include <time.h>

struct event_base;
struct policy_gen;

/* The scheduler's facts as the snapshot shows them (pushed by scheduler.c; status does not read the
 * scheduler). */
struct status_scheduler_facts {
    int active;          /* the tick timer is armed */
    int leader;          /* this instance holds the lease */
    time_t last_tick_at; /* 0 before the first tick */
    int loop_lag_ms;     /* how late the last tick fired */
};

/* Records the scheduler's facts (copied); the scheduler calls it whenever one of them changes (each loop
 * tick, a lease answer, start and stop). Until the first call they are all zero (no scheduler). */
void status_note_scheduler(const struct status_scheduler_facts *facts);

/* Starts the evaluation timer and the database facts refresh. Returns 0 or -1. */
int status_start(struct event_base *base);
void status_stop(void);

/* Re-evaluates now; trace_id (may be NULL) is the cause recorded on any transition. While the database state
 * is unknown (no ping answered yet: db_state()) the decision is cached but no transition is recorded; the
 * first decision with a known state is announced as the transition from "(start)". */
void status_refresh(const char *trace_id);

/* The cached decision (borrowed; valid until the next evaluation): {system_status, autonomy_allowed,
 * blockers[] (with trace_id), live_stack, evaluated_at, trace_id}. Never NULL after status_start. */
const json_t *status_decision(void);

/* The provider id of the live stack's execution primary in the cached decision (borrowed, like the decision),
 * or, with or_backup, its first listed backup when none is connected; NULL when there is none. */
const char *status_execution_provider(int or_backup);

/* The ordered provider ids of one live-stack category of decision (a status_decision(), or a reference the
 * caller kept), as a new array: "market_data" = the primary, then the connected backups; "llm" = the primary
 * when connected, then the connected fallbacks; "execution" = the primary (orders never fail over; empty when
 * there is none); "execution_backups" = the listed execution backups. Callers take the lists once per unit of
 * work (a tick, a backtest, an order) and pass them down (marketdata, llm, broker). NULL decision or unknown
 * category: []. */
json_t *status_candidates(const json_t *decision, const char *category);

/* New snapshot as handed to gates.lua, built against generation g (the current one when NULL). */
json_t *status_snapshot(struct policy_gen *g);

/* Runs gates.safe_start for {stage, requires_ai, bot_id?, autonomy_tier?}. Returns a new object
 * {allowed, blockers[]} (blockers carry trace_id); fails closed on policy errors. */
json_t *status_safe_start(const json_t *req, const char *trace_id);

/* status_safe_start for every request of the array reqs against one snapshot, trace_ids[i] being reqs[i]'s:
 * one call of gates.lua safe_start_many (its system blockers gathered once) when the policy has it, else one
 * safe_start per request. Returns a new array, answers[i] as status_safe_start(reqs[i], trace_ids[i]) returns
 * it; a malformed answer fails closed on its own, a failed call fails every request closed. */
json_t *status_safe_start_many(const json_t *reqs, const char *const *trace_ids);

/* Evaluates g (a candidate generation) on its own snapshot; a new decision object, or NULL with err. */
json_t *status_evaluate_with(struct policy_gen *g, const char *trace_id, char *err, size_t errlen);

/* Facts read from the database every 2 s: {trading {enabled, mode}, tiers {...}, breakers [...]}. */
const json_t *status_db_facts(void);

/* A number that changes with every new decision and every facts refresh (cache key for status views). */
unsigned long status_version(void);

#endif
