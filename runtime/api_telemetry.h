/* api_telemetry.h — usage events reported by external runners (proof of use of calls they make). */
#ifndef GATEHOUSE_API_TELEMETRY_H
#define GATEHOUSE_API_TELEMETRY_H

#include <jansson.h>

struct http_ctx;

/* POST /api/telemetry/usage-events {events: [...]} with Authorization: Bearer <GATEHOUSE_SERVICE_TOKEN>.
 * Validates every event (all or nothing), hands them to telemetry, answers 202 {accepted} once every one
 * of them is committed in Postgres or fdatasync'd to the spill file (telemetry_ack_new), else 503
 * TELEMETRY_NOT_DURABLE. */
void api_telemetry_ingest(struct http_ctx *ctx);

/* 1 when the request carries the service token (constant-time compare); 0 otherwise. */
int api_telemetry_has_service_token(const struct http_ctx *ctx);

struct usage_event;
/* Validates one usage event of an ingest body and fills ev (pointers borrowed from o; trace_id is the default
 * trace id). Returns NULL, or the name of the first bad field ("" when o is not an object). provider_id must
 * be a subsystem or a provider of the policy in force. No I/O. */
const char *api_telemetry_parse_event(json_t *o, const char *trace_id, struct usage_event *ev);

#endif
