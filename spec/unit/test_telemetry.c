/* test_telemetry.c — the telemetry writer without a database: record validation, the spill file (format,
 * mode, unique ids, RFC 3339 created_at), the "database down" path, the torn-tail repair at start, the
 * queue written to the file at stop, and records accepted after stop. The replay into Postgres is covered
 * end to end by spec/e2e/13_telemetry_outage.t and 14_proof_of_use.t. */
#include <event2/event.h>
#include <jansson.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "secret.h"
#include "tap.h"
#include "telemetry.h"

#define TRACE "0123456789abcdef0123456789abcdef"
#define BOT "11111111-1111-4111-8111-111111111111"

static char dir[] = "/tmp/gh-telemetry-XXXXXX";
static char spill[256], rejected[300];

static struct usage_event usage(const char *provider, const char *status)
{
    struct usage_event ev = {.provider_id = provider,
                             .operation = "marketdata.bars",
                             .status = status,
                             .bot_id = BOT,
                             .latency_ms = 12,
                             .records = 60,
                             .trace_id = TRACE};
    return ev;
}

static int usage_ok(void)
{
    struct usage_event ev = usage("databento", "OK");
    return telemetry_usage(&ev);
}

/* Every line of path parsed as JSON (an array), NULL when a line is not JSON. */
static json_t *read_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    json_t *arr = json_array();
    while (f && getline(&line, &cap, f) > 0) {
        json_t *o = json_loads(line, 0, NULL);
        if (!o) {
            json_decref(arr);
            arr = NULL;
            break;
        }
        json_array_append_new(arr, o);
    }
    free(line);
    if (f) fclose(f);
    return arr;
}

static void run_loop_ms(struct event_base *base, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
}

static void test_validation(void)
{
    struct usage_event ev = usage("databento", "OK");
    json_t *arr = json_array(), *nul = json_pack("{s:s#}", "x", "a\0b", (size_t)3);
    struct verification_record v = {.provider_id = "databento", .outcome = "OK", .trace_id = TRACE};

    ev.provider_id = NULL;
    tap_is_int(telemetry_usage(&ev), -1, "usage without provider_id refused");
    ev = usage("databento", "MAYBE");
    tap_is_int(telemetry_usage(&ev), -1, "unknown status refused");
    ev = usage("databento", "OK");
    ev.trace_id = "xyz";
    tap_is_int(telemetry_usage(&ev), -1, "trace id that is not 32 hex refused");
    ev = usage("databento", "OK");
    ev.bot_id = "not-a-uuid";
    tap_is_int(telemetry_usage(&ev), -1, "bot_id that is not a uuid refused");
    ev = usage("databento", "OK");
    ev.metadata = arr;
    tap_is_int(telemetry_usage(&ev), -1, "metadata that is not an object refused");
    ev.metadata = nul;
    tap_is_int(telemetry_usage(&ev), -1, "metadata holding a NUL character refused (jsonb cannot store it)");
    ev = usage("databento", "OK");
    ev.symbol = "ES\xff";
    tap_is_int(telemetry_usage(&ev), -1, "invalid UTF-8 refused");
    tap_is_int(telemetry_system_event("Policy.Reload", "info", NULL, "m", TRACE, NULL), -1,
               "system event kind must match the table's CHECK");
    tap_is_int(telemetry_system_event("policy..reload", "info", NULL, "m", TRACE, NULL), -1,
               "empty kind segment refused");
    tap_is_int(telemetry_system_event("policy.reload", "fatal", NULL, "m", TRACE, NULL), -1,
               "unknown severity refused");
    v.outcome = "FINE";
    tap_is_int(telemetry_verification(&v), -1, "unknown verify outcome refused");
    tap_is_int(telemetry_drain_pending(), 0, "refused records are not queued");
    json_decref(arr);
    json_decref(nul);
}

/* A spill file left by a crash: one good record, then a torn line without its newline. */
static void write_leftover(void)
{
    FILE *f = fopen(spill, "w");
    fprintf(f,
            "{\"table\":\"system_events\",\"event_uuid\":\"5f0c7c1e-8a43-4a8e-9d2f-0c1b2a3d4e5f\","
            "\"created_at\":\"2024-01-01T00:00:00.000001Z\",\"kind\":\"test.leftover\",\"severity\":\"info\","
            "\"subject\":null,\"message\":\"m\",\"trace_id\":\"" TRACE "\",\"metadata\":\"{}\"}\n"
            "{\"table\":\"integration_usage_ev");
    fclose(f);
}

static void test_spill_when_down(struct event_base *base)
{
    char err[256];
    json_t *md = json_pack("{s:[s,s]}", "feature_keys_used", "sma_20", "rsi_14");
    struct usage_event ev = usage("databento", "ERROR");
    struct verification_record v = {.provider_id = "polygon",
                                    .outcome = "AUTH_FAILED",
                                    .http_status = 401,
                                    .latency_ms = 80,
                                    .base_url_host = "api.polygon.io",
                                    .trace_id = TRACE};
    struct stat st;
    regex_t ts;
    regcomp(&ts, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z$",
            REG_EXTENDED | REG_NOSUB);

    write_leftover();
    tap_is_int(telemetry_start(base, spill, 30, err, sizeof err), 0, "telemetry_start without a database");
    char buf[256] = "";
    FILE *rf = fopen(rejected, "r");
    size_t got = rf ? fread(buf, 1, sizeof buf - 1, rf) : 0;
    if (rf) fclose(rf);
    tap_is_str(got ? buf : "", "{\"table\":\"integration_usage_ev\n",
               "the torn last line was set aside in <spill>.rejected");

    int accepted = 0;
    for (int i = 0; i < 9; i++)
        accepted += usage_ok() == 0;
    tap_is_int(accepted, 9, "9 usage events accepted");
    ev.error_code = "PROVIDER_TIMEOUT";
    ev.metadata = md;
    tap_is_int(telemetry_usage(&ev), 0, "ERROR usage event with metadata accepted");
    tap_is_int(telemetry_verification(&v), 0, "verification accepted");
    tap_is_int(telemetry_system_event("policy.reload", NULL, "providers.lua", "reloaded", TRACE, NULL), 0,
               "system event accepted (severity defaults to info)");
    tap_is_int(telemetry_drain_pending(), 12, "12 records pending before the writer runs");

    struct provider_usage u;
    telemetry_provider_usage("databento", &u);
    tap_is_int(u.count_24h, 10, "aggregates move at acceptance");
    tap_is_str(u.last_feature_used, "sma_20", "last feature from feature_keys_used[0]");
    tap_is_str(u.last_error_code_24h, "PROVIDER_TIMEOUT", "last error code");

    run_loop_ms(base, 350);
    tap_is_int(telemetry_drain_pending(), 0,
               "with the database unavailable everything went to the spill file");
    json_t *status = telemetry_status_json();
    tap_ok(json_is_true(json_object_get(status, "database_down")), "status says database_down");
    tap_is_int(json_integer_value(json_object_get(status, "spilled_total")), 12, "spilled_total = 12");
    tap_is_int(json_integer_value(json_object_get(status, "queue_capacity")), 65536, "queue capacity");
    tap_ok(json_integer_value(json_object_get(status, "spill_bytes")) > 0, "spill_bytes > 0");
    json_decref(status);

    json_t *lines = read_lines(spill);
    tap_ok(lines && json_array_size(lines) == 13, "spill file: 1 leftover + 12 lines, each valid JSON");
    json_t *ids = json_object(), *o;
    size_t i;
    int usage_rows = 0, verify_rows = 0, system_rows = 0, ts_ok = 1;
    json_array_foreach(lines, i, o)
    {
        const char *table = json_string_value(json_object_get(o, "table"));
        const char *id =
            json_string_value(json_object_get(o, strcmp(table, "system_events") ? "id" : "event_uuid"));
        const char *at = json_string_value(
            json_object_get(o, strcmp(table, "verifications") ? "created_at" : "verified_at"));
        if (id) json_object_set_new(ids, id, json_true());
        if (i > 0 && (!at || regexec(&ts, at, 0, NULL, 0) != 0)) ts_ok = 0;
        usage_rows += strcmp(table, "integration_usage_events") == 0;
        verify_rows += strcmp(table, "verifications") == 0;
        system_rows += strcmp(table, "system_events") == 0;
    }
    tap_is_int(json_object_size(ids), 13, "every record has its own id");
    tap_ok(ts_ok, "created_at is RFC 3339 UTC with microseconds");
    tap_ok(usage_rows == 10 && verify_rows == 1 && system_rows == 2,
           "a \"table\" field names each record's table");
    json_t *err_row = json_array_get(lines, 10);
    tap_is_str(json_string_value(json_object_get(err_row, "metadata")),
               "{\"feature_keys_used\":[\"sma_20\",\"rsi_14\"]}", "metadata kept as its compact JSON text");
    tap_is_str(json_string_value(json_object_get(err_row, "latency_ms")), "12", "numbers as text");
    tap_ok(json_is_null(json_object_get(err_row, "run_id")), "absent values are null");
    tap_is_str(json_string_value(json_object_get(json_array_get(lines, 11), "http_status")), "401",
               "verification row");
    json_decref(ids);
    json_decref(lines);
    json_decref(md);
    regfree(&ts);

    stat(spill, &st);
    tap_is_int(st.st_mode & 0777, 0600, "spill file mode 0600");
}

static void test_stop(void)
{
    for (int i = 0; i < 5; i++)
        usage_ok();
    /* the database is down: a record accepted now is appended to the spill file at once (nothing waits in
     * memory for a flush that cannot succeed), so nothing is queued at stop */
    tap_is_int(telemetry_drain_pending(), 0, "nothing queued at stop: accepted while down, spilled at once");
    telemetry_stop(500);
    json_t *lines = read_lines(spill);
    tap_is_int(json_array_size(lines), 18, "the 5 records are in the spill file after telemetry_stop");
    json_decref(lines);
    tap_is_int(usage_ok(), 0, "a record after stop is accepted");
    lines = read_lines(spill);
    tap_is_int(json_array_size(lines), 19, "... straight into the spill file");
    json_decref(lines);
}

int main(void)
{
    struct event_base *base = event_base_new();
    secret_init();
    log_threshold = (enum log_level)(LOG_LEVEL_ERROR + 1); /* expected warnings stay out of the output */
    memset(&cfg, 0, sizeof cfg); /* no DATABASE_URL: no seeding, no blocking connection */
    if (!mkdtemp(dir)) return 1;
    snprintf(spill, sizeof spill, "%s/spill.jsonl", dir);
    snprintf(rejected, sizeof rejected, "%s.rejected", spill);

    test_validation();
    test_spill_when_down(base);
    test_stop();

    unlink(spill);
    unlink(rejected);
    rmdir(dir);
    event_base_free(base);
    secret_shutdown();
    return tap_done();
}
