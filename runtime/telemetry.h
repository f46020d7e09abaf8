/* telemetry.h — proof of use. Every provider call and every internal subsystem step becomes a row of
 * integration_usage_events (PRODUCT.md §5); verifications and system events travel the same way.
 *
 * Writers never block: records enter a bounded in-memory queue, drained in batches by one writer on the
 * db pool (COPY FROM STDIN for a first send; INSERT ... ON CONFLICT DO NOTHING for replays and re-sends, so
 * a replay after an ambiguous failure is exactly once: ids are made here). The ingest route alone waits:
 * telemetry_ack_new. When Postgres cannot take a batch, the batch is appended to a local spill file
 * (JSON lines) and replayed when the database answers again; nothing is lost on an outage or a clean stop.
 * The writer also keeps daily partitions ahead (every instance), and the fleet's leader drops those past the
 * retention period (telemetry_retention_due).
 *
 * Per-provider rolling aggregates (24 h counts by minute, last use, last bot, last feature, last error,
 * latency ring for p50/p95) live in memory, are seeded from the database at start-up, and are updated as
 * records are accepted, so status endpoints never scan the events table. */
#ifndef GATEHOUSE_TELEMETRY_H
#define GATEHOUSE_TELEMETRY_H

#include "usage_stats.h" /* struct provider_usage */
#include <jansson.h>
#include <stddef.h>
#include <time.h>

struct event_base;

struct usage_event {
    const char *provider_id; /* required: "databento", or a subsystem: "runner", "risk_engine", "scheduler" */
    const char *operation;   /* required: "verify", "marketdata.bars", "broker.place_order", "llm.chat" ... */
    const char *status;      /* required: "OK" | "ERROR" | "BLOCKED" | "VERIFY" */
    const char *bot_id, *run_id, *job_id, *user_id; /* uuid text or NULL */
    int latency_ms;                                 /* < 0 = NULL */
    const char *symbol, *timeframe;                 /* or NULL */
    int records;                                    /* < 0 = NULL */
    const char *error_code;                         /* or NULL */
    const char *trace_id;                           /* required, 32 hex */
    const json_t *metadata; /* safe metadata object (borrowed) or NULL; never secrets, prompts, responses */
};

struct verification_record {
    const char *provider_id, *outcome, *base_url_host, *reason_human, *trace_id, *user_id;
    int http_status; /* <= 0 = NULL */
    int latency_ms;
    time_t verified_at;
};

/* Starts the writer on base: seeds aggregates from the database (may block: start-up only), replays a
 * leftover spill file, arms the flush and partition-maintenance timers. spill_path is the spill file.
 * Returns 0, or -1 with err. Needs db_pool_start first. */
int telemetry_start(struct event_base *base, const char *spill_path, int retention_days, char *err,
                    size_t errlen);

/* Flushes what it can within timeout_ms (to the database, else to the spill file) and stops. Call it after
 * the loop has exited and before db_pool_stop: it writes the queue (and the batch in flight, whose late
 * callback is then ignored) through a short-lived blocking connection, the rest to the spill file. Records
 * accepted after it go straight to the spill file (one fsync'd write each). */
void telemetry_stop(int timeout_ms);

/* Records accepted but not yet in the database or the spill file (queued + the batch in flight). main keeps
 * the loop running during a SIGTERM drain until this is 0 (or its drain deadline passes). */
int telemetry_drain_pending(void);

/* Accepts a usage event (copied) and updates the aggregates. Never waits on the database. Returns 0, or -1
 * when the record is invalid (missing required fields). A full queue spills to the file instead of dropping;
 * so does a writer that is down or suspects the database (a batch unanswered for 250 ms): one write(2), no
 * fsync. */
int telemetry_usage(const struct usage_event *ev);

/* A request waiting for its usage events to be durable (POST /api/telemetry/usage-events answers 202 only
 * then). done(arg, ok) runs once, on the loop: ok 1 when every event given with telemetry_usage_acked is
 * committed in Postgres or appended and fdatasync'd to the spill file (batches and syncs are shared by every
 * waiting request: group commit, group fsync); ok 0 when one was lost or 5 s passed first (the events then go
 * on to the database or the file; the caller must not call them accepted). */
struct telemetry_ack;
typedef void (*telemetry_ack_cb)(void *arg, int ok);

/* A new waiting request (NULL when out of memory). done cannot run before telemetry_ack_arm. */
struct telemetry_ack *telemetry_ack_new(telemetry_ack_cb done, void *arg);

/* As telemetry_usage, and the event counts for ack. */
int telemetry_usage_acked(const struct usage_event *ev, struct telemetry_ack *ack);

/* Every event of the request has been given: done runs as soon as they are durable (possibly right now). The
 * ack is freed by telemetry once done has run and its records are settled. */
void telemetry_ack_arm(struct telemetry_ack *ack);

/* Called for every usage event telemetry_usage accepted (after the aggregates), on the loop; ev is borrowed
 * for the call only. One listener (NULL removes it); it must not block. */
typedef void (*telemetry_usage_listener)(const struct usage_event *ev);
void telemetry_set_usage_listener(telemetry_usage_listener fn);

/* Accepts a verification row (copied). 0 or -1. */
int telemetry_verification(const struct verification_record *v);

/* Accepts a system event (copied): kind like "policy.reload", severity info|warning|SEV-2|SEV-1. 0 or -1. */
int telemetry_system_event(const char *kind, const char *severity, const char *subject, const char *message,
                           const char *trace_id, const json_t *metadata);

/* Fills out with the aggregates of provider_id (zeros / -1 / "" when it has none). */
void telemetry_provider_usage(const char *provider_id, struct provider_usage *out);

/* New object {queue_depth, queue_capacity, spill_bytes, written_total, written_batches_total (queue batches
 * committed), spilled_total, replayed_total, dropped_total, rejected_total, database_down, last_flush_at,
 * last_error} for /metrics and /api/system/status. */
json_t *telemetry_status_json(void);

/* Drops the usage-event partitions past the retention period when the last drop was an hour ago or more (or
 * never). A singleton: the scheduler calls it every second on the fleet's leader only. */
void telemetry_retention_due(void);

#endif
