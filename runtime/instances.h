/* instances.h — the bot lifecycle's writes, in one place: every write to bot_instances, to bots.desired_state
 * and to the circuit-breaker columns goes through here (PRODUCT.md §6 "Supervision"; the model is in
 * supervisor.h, the breaker rule in breaker.h — this module persists breaker_next()'s decisions, it decides
 * nothing itself).
 *
 * Each function is one named SQL statement (two where a decision sits between reading and writing) and one
 * callback; callers get parsed rows, never a pg_result. Callbacks run on the loop, exactly once when the
 * function returned 0; on -1 (not queued) they are not called. err is non-NULL exactly when the database
 * failed. */
#ifndef GATEHOUSE_INSTANCES_H
#define GATEHOUSE_INSTANCES_H

#include "breaker.h"

/* ---- open (operator start/restart, supervisor restart or half-open probe) ---- */

struct instance_open_req {
    const char *bot_id, *host, *trace_id; /* host: the scheduler instance id of this process */
    /* NULL: an operator start — bots.desired_state becomes RUNNING and the new instance carries the bot's
     * latest instance's restart_count + 1 and breaker. Else the dead instance a supervisor restart follows:
     * only while the bot is still desired RUNNING and no other instance is live; it carries that instance's
     * restart_count + 1 and breaker, and the dead instance hands the breaker over (CLOSED, so only the latest
     * instance carries it). */
    const char *after_instance_id;
};

/* The opened instance (borrowed for the callback): NULL when none was opened (supervisor restart skipped). */
struct instance_row {
    const char *id, *json; /* json: row_to_json of the bot_instances row */
    int restart_count;
    const char *breaker_state;
};

typedef void (*instance_open_cb)(const char *err, const struct instance_row *row, void *arg);

/* Opens a RUNNING instance of req->bot_id. Returns 0 or -1. */
int instance_open(const struct instance_open_req *req, instance_open_cb cb, void *arg);

/* ---- stop and kill ---- */

/* One ended bot (borrowed for the callback). */
struct instance_ended {
    const char *bot_id, *name; /* name NULL when the bot row was not written (instance_stop, !desired_too) */
    int flatten_on_kill;       /* the bot's params.flatten_on_kill */
    const char *instance_json; /* row_to_json of the instance that was live, NULL when none was */
};

typedef void (*instance_end_cb)(const char *err, const struct instance_ended *rows, int n, void *arg);

/* Marks bot_id's live instance STOPPED; with desired_too the bot is desired STOPPED as well (operator Stop),
 * without it only the instance ends (the first half of an operator Restart). Rows: the bot (desired_too) or
 * its stopped instance. Returns 0 or -1. */
int instance_stop(const char *bot_id, int desired_too, instance_end_cb cb, void *arg);

struct instance_kill_req {
    const char *bot_id; /* NULL: every bot with a live instance (kill-all) */
    const char *reason; /* the orders' cancel reason (KILLED, RISK_BREACH, the supervisor's reason code) */
    const char *trace_id;
    const char *user_id; /* the operator, or NULL */
    int flatten;         /* 1: flatten the bots whose params.flatten_on_kill say so; 0: never */
};

/* The one kill: the live instance(s) KILLED and the bot(s) desired KILLED in one statement, then the bot's
 * working orders cancelled with orders_cancel_working() (kill-all: every working order, then the flattening
 * bots one by one) — also when the write failed, so nothing more may fill. Rows (kill-all: ordered by name):
 * the killed bots. cb may be NULL. Returns 0 or -1 (the orders are cancelled even then). */
int instance_kill(const struct instance_kill_req *k, instance_end_cb cb, void *arg);

/* ---- ticks ---- */

/* The heartbeat (last_heartbeat_at, last_tick_at) of bot_id's live instance: batched, written for every bot
 * of the batch by instance_heartbeats_flush (the scheduler calls it every second; a full batch flushes at
 * once). Fire-and-forget; a failure is logged. */
void instance_heartbeat(const char *bot_id, const char *trace_id);

/* Writes the batched heartbeats in one statement. */
void instance_heartbeats_flush(void);

/* A TRADED/SUPPRESSED tick of run_id (bot_id's live instance): when breaker_next(GOOD_TICK) closes its
 * breaker, the bot's breaker columns become CLOSED, 0 failures (on every live or DEAD instance still carrying
 * one). closed: 1 when it closed. Returns 0 or -1. */
typedef void (*instance_closed_cb)(const char *err, int closed, void *arg);
int instance_close_breaker(const char *bot_id, const char *run_id, instance_closed_cb cb, void *arg);

/* 1 when a good tick of an instance whose breaker is in state `state` (its name) may close it (what
 * instance_close_breaker would change), 0 when it cannot (CLOSED: a healthy bot's tick writes nothing), -1
 * for an unknown name. */
int instance_breaker_closes(const char *state);

/* ---- death ---- */

struct instance_death_req {
    const char *bot_id;
    const char *instance_id; /* the live instance that died; NULL or "": the bot's live instance */
    const char *to_state;    /* the RUNNER job's end: FAILED or TIMEOUT */
    const char *reason;      /* its reason code */
    const char *trace_id;
    int kill; /* 1: the instance ends KILLED (stuck runner), else DEAD */
};

/* The recorded death (borrowed for the callback); NULL when no such live instance exists (already ended). */
struct instance_death {
    const char *instance_id, *bot_id, *stage, *job_id;
    enum breaker_state was, now;
    int failures; /* in the window, this death included */
};

typedef void (*instance_death_cb)(const char *err, const struct instance_death *d, void *arg);

/* Reads the dying instance's breaker facts, decides with breaker_failures() and breaker_next(DEATH) (the
 * threshold and window from config.h), then marks it DEAD (or KILLED), stores the breaker's new state (opened
 * now when it turned OPEN) and records its RUNNER job with the transitions NULL→QUEUED, QUEUED→RUNNING (at
 * its start, RUNNER_STARTED) and RUNNING→to_state (reason). Returns 0 or -1. */
int instance_death(const struct instance_death_req *req, instance_death_cb cb, void *arg);

/* ---- cool-down ---- */

/* One breaker that went HALF_OPEN (borrowed for the callback). */
struct instance_half_open {
    const char *instance_id, *bot_id;
    int desired_running; /* the bot is desired RUNNING: the caller starts one probe */
};

typedef void (*instance_half_open_cb)(const char *err, const struct instance_half_open *rows, int n,
                                      void *arg);

/* The leader's cool-down sweep: each bot's latest instance, DEAD or KILLED with an OPEN breaker and no live
 * instance beside it, goes HALF_OPEN when breaker_next(CLOCK) says its cool-down (config.h) has passed. cb
 * gets the ones that did. Returns 0 or -1. */
int instance_half_open_sweep(instance_half_open_cb cb, void *arg);

#endif
