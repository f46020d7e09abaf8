/* jobs.h — the jobs table's deadlines, ownership and crash recovery (PRODUCT.md §6 "Bots, runner, jobs").
 *
 * A job runs inside the process that accepted it (a BACKTEST replays on that process's loop). Each job row
 * records its owner: the scheduler instance id, the host name, a node key ("<boot id>/<pid namespace>") and
 * the pid. Every instance sweeps every JOBS_SWEEP_MS (and once at start):
 *
 *   heartbeat  last_heartbeat_at = now on the open (QUEUED/RUNNING) jobs this instance owns; a registered
 *              local job whose row is no longer open (ended by another instance's sweep) is cancelled;
 *   deadline   every open job past deadline_at → TIMEOUT, error_code JOB_TIMEOUT, a job_run_events row
 *              (the job's own trace id); if the job runs here its work is cancelled;
 *   recovery   an open job owned by another instance whose owner is gone → FAILED, error_code
 *              JOB_INTERRUPTED, a job_run_events row. The owner is gone when it ran on this node and its pid
 *              no longer exists (or is ours: a previous process with our pid), or when it has not heartbeated
 *              the job for JOBS_ORPHAN_S, wherever it ran. A live instance heartbeats its jobs every sweep,
 * so no instance ever fails the job of another live one. Interrupted jobs are never re-queued: the work lived
 * in the dead process, and a backtest is cheap to submit again.
 *
 * Concurrent sweeps of several instances are safe: each transition is one statement that locks the rows it
 * changes (FOR UPDATE SKIP LOCKED) and re-checks their state, so a job gets exactly one terminal event. */
#ifndef GATEHOUSE_JOBS_H
#define GATEHOUSE_JOBS_H

struct event_base;

#define JOBS_SWEEP_MS 2000
#define JOBS_ORPHAN_S 30

/* Called once when the sweep ended a local job (state "TIMEOUT", code JOB_TIMEOUT; or the row was ended by
 * another instance: state NULL). The owner stops the work and frees it; jobs_unregister is still expected. */
typedef void (*jobs_cancel_cb)(void *arg, const char *state, const char *error_code);

/* Starts the sweep timer and runs the first sweep (crash recovery) at once. Needs the scheduler started
 * (its instance id owns the jobs). Returns 0 or -1. */
int jobs_start(struct event_base *base);

void jobs_stop(void);

/* The owner columns for a job row this process creates (static strings; valid after jobs_start). pid is
 * decimal text. */
const char *jobs_owner_instance(void);
const char *jobs_owner_host(void);
const char *jobs_owner_node(void);
const char *jobs_owner_pid(void);

/* Tracks a job running in this process so the sweep can cancel it. job_id is copied. Returns 0 or -1. */
int jobs_register(const char *job_id, jobs_cancel_cb cancel, void *arg);

/* Forgets the job (no-op when unknown). */
void jobs_unregister(const char *job_id);

/* Sweeps completed since start (for /metrics and specs waiting on a sweep). */
unsigned long jobs_sweeps(void);

#endif
