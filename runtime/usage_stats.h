/* usage_stats.h — per-provider rolling usage aggregates (PRODUCT.md §5), pure in-memory, no I/O.
 *
 * For each provider id (or subsystem such as "runner"): a 24 h count of use rows and of ERROR rows in 1440
 * one-minute buckets, the last use (time, bot, feature, trace id), the latest error code (all time, and
 * whether it falls within 24 h), and a ring of the last 256 latency samples for p50/p95 (nearest rank).
 * Time is always passed in, so tests control the clock.
 *
 * VERIFY rows (verify probes) are not use: they never touch the counts, the last-use fields or the latency
 * ring, but their error codes do update the last error. telemetry.c feeds this module as records are
 * accepted and seeds it from the database at start-up. Single-threaded (one event loop), no locks. */
#ifndef GATEHOUSE_USAGE_STATS_H
#define GATEHOUSE_USAGE_STATS_H

#include <time.h>

/* One provider's aggregates as usage_stats_get answers them (telemetry_usage_of passes them on). */
struct provider_usage {
    long count_24h;      /* usage rows in the last 24 h, VERIFY excluded */
    long errors_24h;     /* of those, status ERROR */
    time_t last_used_at; /* 0 = never (VERIFY excluded) */
    char last_used_by_bot_id[37];
    char last_feature_used[64];
    char last_error_code[64];     /* latest non-null error_code of any row (VERIFY included), "" if none */
    char last_error_code_24h[64]; /* same, within 24 h */
    char last_trace_id[33];
    int latency_last_ms, latency_p50_ms, latency_p95_ms; /* -1 = no sample */
};

#define USAGE_STATS_WINDOW_MIN 1440    /* 24 h of one-minute buckets */
#define USAGE_STATS_RING 256           /* latency samples kept per provider */
#define USAGE_STATS_MAX_PROVIDERS 1024 /* bound on distinct ids (memory: about 20 KB each) */
#define USAGE_STATS_ID_MAX 63          /* longest provider id aggregated */

/* Records one row: status "OK" | "ERROR" | "BLOCKED" | "VERIFY". For a use row (any status but VERIFY)
 * adds 1 to the minute of `at` (and to its errors when status is ERROR), sets the last use when `at` is
 * not older than the current one, and adds latency_ms (< 0 = none) to the ring. For any row a non-empty
 * error_code becomes the last error when `at` is not older than the current one. bot_id, feature,
 * error_code, trace_id may be NULL; strings are copied (truncated on a UTF-8 boundary to the
 * struct provider_usage sizes). Returns 0, or -1 when the provider id is empty or too long, or the table
 * is full (the row is then not aggregated). */
int usage_stats_record(const char *provider, time_t at, const char *status, const char *bot_id,
                       const char *feature, const char *error_code, int latency_ms, const char *trace_id);

/* A number that changes whenever any aggregate may have changed (cache key for derived views). */
unsigned long usage_stats_version(void);

/* Seeding: adds count use rows (errors of them ERROR) to the minute of `at`. 0 or -1 as above. */
int usage_stats_add_counts(const char *provider, time_t at, long count, long errors);

/* Seeding: appends one latency sample (ms >= 0) to the ring; it becomes the last latency. 0 or -1. */
int usage_stats_add_latency(const char *provider, int latency_ms);

/* Seeding: sets the last use unless the known one is newer. 0 or -1. */
int usage_stats_set_last_use(const char *provider, time_t at, const char *bot_id, const char *feature,
                             const char *trace_id);

/* Seeding: sets the last error code unless the known one is newer; NULL/"" is ignored. 0 or -1. */
int usage_stats_set_last_error(const char *provider, time_t at, const char *error_code);

/* Fills out for provider as seen at `now`: counts of the minutes in (now - 24 h, now], last_error_code_24h
 * only when the last error is less than 24 h old, p50/p95 by nearest rank over the ring. A provider without
 * data gives zeros, "" and -1 latencies. */
void usage_stats_get(const char *provider, time_t now, struct provider_usage *out);

/* Forgets every provider and frees the table. */
void usage_stats_reset(void);

#endif
