/* api_telemetry.h — usage events reported by external runners (proof of use of calls they make). */
#ifndef GATEHOUSE_API_TELEMETRY_H
#define GATEHOUSE_API_TELEMETRY_H

struct http_ctx;

/* POST /api/telemetry/usage-events {events: [...]} with Authorization: Bearer <GATEHOUSE_SERVICE_TOKEN>.
 * Validates every event (all or nothing), hands them to telemetry, answers 202 {accepted}. */
void api_telemetry_ingest(struct http_ctx *ctx);

/* 1 when the request carries the service token (constant-time compare); 0 otherwise. */
int api_telemetry_has_service_token(const struct http_ctx *ctx);

#endif
