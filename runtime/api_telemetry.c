/* api_telemetry.c — POST /api/telemetry/usage-events. */
#include "api_telemetry.h"

#include <ctype.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "id.h"
#include "policy.h"
#include "providers.h"
#include "secret.h"
#include "telemetry.h"

#define MAX_EVENTS 1000
#define MAX_METADATA_BYTES 4096

static const char *const subsystems[] = {"runner", "risk_engine", "scheduler", NULL};

int api_telemetry_has_service_token(const struct http_ctx *ctx)
{
    const char *token = secret_value("GATEHOUSE_SERVICE_TOKEN");
    const char *auth = evhttp_find_header(evhttp_request_get_input_headers(ctx->req), "Authorization");
    if (!token || !auth || strncmp(auth, "Bearer ", 7) != 0) return 0;
    return secret_equal(auth + 7, strlen(auth + 7), token, strlen(token));
}

static int is_known_source(const char *id)
{
    const struct provider_registry *reg = policy_providers(policy_current());
    for (const char *const *s = subsystems; *s; s++)
        if (strcmp(*s, id) == 0) return 1;
    return reg && providers_find(reg, id) != NULL;
}

static int is_code(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max) return 0;
    for (; *s; s++)
        if (!(isupper((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '_')) return 0;
    return 1;
}

/* Optional string field: absent/null -> *out NULL; else must be a string accepted by check. */
static int opt_string(json_t *ev, const char *key, const char **out, int (*check)(const char *))
{
    json_t *v = json_object_get(ev, key);
    *out = NULL;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_string(v) || (check && !check(json_string_value(v)))) return -1;
    *out = json_string_value(v);
    return 0;
}

static int short_text(const char *s)
{
    return strlen(s) > 0 && strlen(s) <= 64;
}

static int error_code_text(const char *s)
{
    return is_code(s, 64);
}

static int opt_int(json_t *ev, const char *key, int *out)
{
    json_t *v = json_object_get(ev, key);
    *out = -1;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 2000000000) return -1;
    *out = (int)json_integer_value(v);
    return 0;
}

const char *api_telemetry_parse_event(json_t *o, const char *trace_id, struct usage_event *ev)
{
    const char *status, *tid;
    memset(ev, 0, sizeof *ev);
    if (!json_is_object(o)) return "";
    ev->provider_id = json_string_value(json_object_get(o, "provider_id"));
    if (!ev->provider_id || !is_known_source(ev->provider_id)) return "provider_id";
    ev->operation = json_string_value(json_object_get(o, "operation"));
    if (!ev->operation || !short_text(ev->operation)) return "operation";
    status = json_string_value(json_object_get(o, "status"));
    if (!status || (strcmp(status, "OK") && strcmp(status, "ERROR") && strcmp(status, "BLOCKED")))
        return "status";
    ev->status = status;
    if (opt_string(o, "bot_id", &ev->bot_id, id_is_uuid) < 0) return "bot_id";
    if (opt_string(o, "run_id", &ev->run_id, id_is_uuid) < 0) return "run_id";
    if (opt_string(o, "job_id", &ev->job_id, id_is_uuid) < 0) return "job_id";
    if (opt_string(o, "symbol", &ev->symbol, short_text) < 0) return "symbol";
    if (opt_string(o, "timeframe", &ev->timeframe, short_text) < 0) return "timeframe";
    if (opt_string(o, "error_code", &ev->error_code, error_code_text) < 0) return "error_code";
    if (opt_int(o, "latency_ms", &ev->latency_ms) < 0) return "latency_ms";
    if (opt_int(o, "records", &ev->records) < 0) return "records";
    if (opt_string(o, "trace_id", &tid, id_is_trace_id) < 0) return "trace_id";
    ev->trace_id = tid ? tid : trace_id;
    json_t *meta = json_object_get(o, "metadata");
    if (meta && !json_is_null(meta)) {
        /* the size of its compact text, without building it (telemetry serialises it once, for the row) */
        size_t n = json_is_object(meta) ? json_dumpb(meta, NULL, 0, JSON_COMPACT) : 0;
        if (n == 0 || n > MAX_METADATA_BYTES) return "metadata";
        ev->metadata = meta;
    }
    return NULL;
}

/* A request waiting for its events to be durable. */
struct ingest_wait {
    struct http_ctx *ctx;
    size_t n;
};

static void not_durable(struct http_ctx *ctx)
{
    http_reply_error(
        ctx, 503, "TELEMETRY_NOT_DURABLE",
        "The usage events could not be committed to the database nor synced to the spill file in "
        "time; none of them is acknowledged.",
        "Send the batch again (the database or the spill file's disk is failing: see "
        "/api/system/status).",
        NULL);
}

/* The request's events are all durable (202), or not (503). */
static void on_durable(void *arg, int ok)
{
    struct ingest_wait *w = arg;
    struct http_ctx *ctx = w->ctx;
    size_t n = w->n;
    free(w);
    if (ok)
        http_reply_json(ctx, 202, json_pack("{s:I}", "accepted", (json_int_t)n));
    else
        not_durable(ctx);
}

void api_telemetry_ingest(struct http_ctx *ctx)
{
    json_t *events = ctx->body ? json_object_get(ctx->body, "events") : NULL, *o;
    struct usage_event *parsed;
    size_t i, n;
    char field[64];

    if (!api_telemetry_has_service_token(ctx)) {
        http_reply_error(
            ctx, 401, "UNAUTHENTICATED", "This route needs the runners' service token.",
            secret_value("GATEHOUSE_SERVICE_TOKEN")
                ? "Send Authorization: Bearer <GATEHOUSE_SERVICE_TOKEN>."
                : "Set GATEHOUSE_SERVICE_TOKEN in gatehouse's environment and give it to the runners.",
            NULL);
        return;
    }
    if (!json_is_array(events) || (n = json_array_size(events)) == 0 || n > MAX_EVENTS) {
        http_reply_error(ctx, 400, "VALIDATION_FAILED",
                         "Field 'events' must be an array of 1 to 1000 usage events.", NULL,
                         json_pack("{s:s}", "field", "events"));
        return;
    }
    parsed = calloc(n, sizeof *parsed);
    json_array_foreach(events, i, o)
    {
        const char *bad = api_telemetry_parse_event(o, ctx->trace_id, &parsed[i]);
        if (bad) {
            char reason[160];
            snprintf(field, sizeof field, "events[%zu]%s%s", i, *bad ? "." : "", bad);
            snprintf(reason, sizeof reason, "Field '%s' is missing or invalid.", field);
            free(parsed);
            http_reply_error(ctx, 400, "VALIDATION_FAILED", reason,
                             "See docs/api.md for the usage event fields.",
                             json_pack("{s:s}", "field", field));
            return;
        }
    }
    struct ingest_wait *w = malloc(sizeof *w);
    struct telemetry_ack *ack = w ? telemetry_ack_new(on_durable, w) : NULL;
    if (!ack) {
        free(w);
        free(parsed);
        not_durable(ctx);
        return;
    }
    w->ctx = ctx;
    w->n = n;
    for (i = 0; i < n; i++)
        telemetry_usage_acked(&parsed[i], ack);
    free(parsed);
    telemetry_ack_arm(ack); /* may answer right here (written to the synced spill file) */
}
