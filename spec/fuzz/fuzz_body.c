/* fuzz_body.c — libFuzzer target for request-body handling: the JSON envelope parse every route goes through
 * (http_parse_json_body, runtime/http.c) and the usage-event validation of POST /api/telemetry/usage-events
 * (api_telemetry_parse_event, runtime/api_telemetry.c). Built and run by `make fuzz`.
 *
 * The real policy of the repository is loaded once (GATEHOUSE_HOME = the working directory, which `make fuzz`
 * sets to the repository root), so provider ids are checked against providers.lua. The first input byte picks
 * the body limit (0: the default 1 MiB, else 64 × the byte value); the rest is the body. Checked contract: each
 * status agrees with its output (OK ⇒ an object, every other status ⇒ no object and a non-empty reason; a body
 * over the limit is never parsed); an accepted event has its required fields, a known status, and optional
 * strings within their limits; a refused event names a field of the event. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_telemetry.h"
#include "config.h"
#include "http.h"
#include "id.h"
#include "log.h"
#include "policy.h"
#include "providers.h"
#include "secret.h"
#include "telemetry.h"
#include "variables.h"

static const char *const fields[] = {"",          "provider_id", "operation", "status",    "bot_id",
                                     "run_id",    "job_id",      "symbol",    "timeframe", "error_code",
                                     "latency_ms", "records",    "trace_id",  "metadata",  NULL};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[2048];
    (void)argc, (void)argv;
    log_set_level("error"); /* the policy load logs at info */
    if (secret_init() < 0 || config_load(err, sizeof err) < 0) abort();
    if (providers_register_validator() < 0 || variables_register_validator() < 0) abort();
    if (policy_init(err, sizeof err) < 0) {
        fprintf(stderr, "fuzz_body: cannot load the policy (run from the repository root): %s\n", err);
        abort();
    }
    return 0;
}

static int known_field(const char *f)
{
    for (const char *const *k = fields; *k; k++)
        if (strcmp(*k, f) == 0) return 1;
    return 0;
}

static void check_event(json_t *o)
{
    static const char trace[] = "0123456789abcdef0123456789abcdef";
    struct usage_event ev;
    const char *bad = api_telemetry_parse_event(o, trace, &ev);
    if (bad) {
        if (!known_field(bad)) abort();
        return;
    }
    if (!ev.provider_id || !ev.operation || !ev.status || !ev.trace_id) abort();
    if (strcmp(ev.status, "OK") && strcmp(ev.status, "ERROR") && strcmp(ev.status, "BLOCKED")) abort();
    if (!*ev.operation || strlen(ev.operation) > 64) abort();
    if (ev.bot_id && !id_is_uuid(ev.bot_id)) abort();
    if (!id_is_trace_id(ev.trace_id)) abort();
    if (ev.symbol && (!*ev.symbol || strlen(ev.symbol) > 64)) abort();
    if (ev.latency_ms < -1 || ev.records < -1) abort();
    if (ev.metadata && !json_is_object(ev.metadata)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *body = NULL;
    char reason[512] = "";
    if (size < 1) return 0;
    size_t limit = data[0] ? (size_t)data[0] * 64 : cfg.max_body_bytes;
    size_t len = size - 1;
    char *buf = malloc(len ? len : 1); /* exact size, no NUL: as evbuffer_pullup hands it over */
    memcpy(buf, data + 1, len);

    enum http_body_status st = http_parse_json_body(len > limit ? NULL : buf, len, limit, &body, reason, sizeof reason);
    switch (st) {
    case HTTP_BODY_NONE:
        if (len != 0 || body) abort();
        break;
    case HTTP_BODY_TOO_LARGE:
        if (len <= limit || body || !reason[0]) abort();
        break;
    case HTTP_BODY_INVALID_JSON:
    case HTTP_BODY_NOT_OBJECT:
        if (len > limit || body || !reason[0]) abort();
        break;
    case HTTP_BODY_OK: {
        if (!json_is_object(body)) abort();
        json_t *events = json_object_get(body, "events"), *o;
        size_t i;
        if (json_is_array(events)) json_array_foreach(events, i, o) check_event(o);
        else check_event(body);
        break;
    }
    default:
        abort();
    }
    json_decref(body);
    free(buf);
    return 0;
}
