/* alerts.h — operator alerts to a Discord webhook (DISCORD_WEBHOOK_URL), best effort and never in the way.
 *
 * A small bounded queue drained one POST at a time through fetch.c (limit_key "discord": at most one message
 * per 2 s with a burst of 3), each POST within a 5 s deadline (plus the limiter's wait). A 429 is retried
 * once after the answer's retry_after. Every text is passed through the redactor before it enters the body,
 * and the body is checked again before it leaves; the webhook URL (the secret) is never logged or stored.
 * Every send attempt becomes a usage event (provider "discord", operation "alerts.send"). The same dedup_key
 * within 10 minutes is sent once. In a fleet (fleet.h) the kinds every instance observes alike
 * (system_status, failover) are sent by the leader only; an instance sends the others itself. Verification
 * (GET on the webhook) belongs to verify.c: alerts only POST. */
#ifndef GATEHOUSE_ALERTS_H
#define GATEHOUSE_ALERTS_H

#include <jansson.h>

struct event_base;

/* Arms the sender on base. Alerts are sent only when DISCORD_WEBHOOK_URL is configured. Returns 0. */
int alerts_init(struct event_base *base);

/* Forgets the queue and frees the timers; a POST in flight is cancelled (its usage event still records the
 * attempt when fetch delivers the cancel). Call before fetch_shutdown and event_base_free. */
void alerts_shutdown(void);

/* Queues an alert: kind ("system_status", "failover", "breaker", "kill", "policy"), dedup_key (same key
   within the dedup window → sent once; e.g. "system_status:BLOCKED"), severity
   ("info","warning","SEV-2","SEV-1"), title and text (plain text; redacted before sending; truncated to
   Discord's limits), trace_id. Never blocks, never fails its caller; an alert failure never gates anything.
   Returns 1 if queued, 0 if dropped (duplicate, not configured, queue full). */
int alerts_notify(const char *kind, const char *dedup_key, const char *severity, const char *title,
                  const char *text, const char *trace_id);

/* New JSON object {configured, queued, sent_total, failed_total, dropped_total, last_error} for status views.
 * queued counts messages not yet finished (the one in flight included); dropped_total counts duplicates and
 * queue-full drops; last_error is a secret-free string or null. */
json_t *alerts_status_json(void);

#endif
