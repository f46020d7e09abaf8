/* metrics.h — Prometheus metrics: counters and histograms updated on the loop, rendered as the text
 * exposition format 0.0.4 for GET /metrics.
 *
 * Families (every name starts with "gatehouse_"):
 *   http_requests_total{route,method,status}            counter   (route = matched pattern or "unmatched")
 *   http_request_duration_seconds{route,method}         histogram 0.0005 s … 2.5 s
 *   provider_calls_total{provider,operation,outcome}    counter
 *   provider_call_duration_seconds{provider,operation}  histogram 0.01 s … 10 s
 *   lease_renew_seconds                                 histogram 0.001 s … 5 s (no labels: rendered from the
 *                                                       start, with zero counts until the first round)
 *   policy_reloads_total{result="ok"|"error"}           counter
 *   system_status (0 OK, 1 DEGRADED, 2 BLOCKED), autonomy_allowed (0/1)   gauges, once set
 *   build_info{version}, process_start_time_seconds     gauges
 *   + gauges registered with metrics_register_gauge, read at render time.
 *
 * Label cardinality is bounded: each labelled family holds at most METRICS_SERIES_CAP label sets; past
 * that its first label (route / provider) folds to "other", and past METRICS_SERIES_CAP +
 * METRICS_OVERFLOW_CAP every label does. A value that is longer than METRICS_VALUE_MAX bytes, not UTF-8,
 * or looks like a URL ("://") is also recorded as "other". Label values are only what callers pass
 * (route patterns, provider ids, enum outcomes): never a raw path, URL or secret.
 *
 * Single-threaded (the loop thread). After the first sighting of a label set, recording it allocates
 * nothing: an open-addressing table keyed by the label tuple. */
#ifndef GATEHOUSE_METRICS_H
#define GATEHOUSE_METRICS_H

#include <stddef.h>

#define METRICS_SERIES_CAP 512  /* distinct label sets per family before folding to "other" */
#define METRICS_OVERFLOW_CAP 64 /* extra sets of the form {first label = "other", rest kept} */
#define METRICS_VALUE_MAX 128   /* longest label value kept as is (bytes) */
#define METRICS_GAUGES_MAX 32   /* registered gauges */

/* Counts one answered HTTP request. route is the matched route PATTERN ("/api/bots/:id") or "unmatched"
   for 404s (bounded cardinality: never the raw path). status is the exact code (100..599, anything else is
   recorded as "other"); ms is the time from arrival to answer, observed into the duration histogram.
   Strings are borrowed for the call only. */
void metrics_http_request(const char *route, const char *method, int status, double ms);

/* Counts one outbound provider call: provider id, operation ("verify", "marketdata.bars", "alerts.send"...),
   outcome ("OK", "AUTH_FAILED", "TIMEOUT", ... or "ERROR"), latency in ms (into the duration histogram,
   labelled by provider and operation). NULL strings count as "". Strings are borrowed for the call only. */
void metrics_provider_call(const char *provider, const char *operation, const char *outcome, double ms);

/* Observes the round trip (ms) of one fleet lease round's heartbeat-and-renew statement (fleet.c, once per
   round) into gatehouse_lease_renew_seconds. */
void metrics_lease_renew(double ms);

/* Counts a policy reload attempt (ok = 1 success, 0 failure). */
void metrics_policy_reload(int ok);

/* Sets the current system status (0 OK, 1 DEGRADED, 2 BLOCKED) and autonomy_allowed. Until the first call
   neither gauge is rendered (an unknown status is not reported as OK). A status outside 0..2 renders as 2. */
void metrics_set_system_status(int status, int autonomy_allowed);

/* Registers a gauge read at render time: name (e.g. "gatehouse_telemetry_queue_depth"), help text, and a
   callback returning the value. Up to 32 gauges. name and help are copied. Registering a name again replaces
   its help and callback. An invalid name (not [a-zA-Z_:][a-zA-Z0-9_:]*, or a built-in family's), a NULL
   callback, or a full table is refused with a warning in the log. The callback runs on the loop and must
   not block. */
void metrics_register_gauge(const char *name, const char *help, double (*read)(void));

/* Renders the Prometheus text exposition (format 0.0.4) into a malloc'd NUL-terminated buffer; *len gets
   its length. Families in a fixed order, series sorted by label values, every line ending in "\n"; the
   text passes through the redactor (secret_redact) before it is returned. Caller frees. NULL on
   allocation failure. */
char *metrics_render(size_t *len);

/* Frees everything (tests, shutdown): every series, gauge and setting returns to its initial state. */
void metrics_reset(void);

#endif
