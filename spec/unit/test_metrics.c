/* test_metrics.c — the Prometheus exposition: exact counter and histogram lines (cumulative buckets, _sum,
 * _count), label escaping, values folded to "other" (bad values, the cardinality caps), registered gauges,
 * system status, policy reloads, redaction, reset, and a checker that parses every rendered line. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "metrics.h"
#include "secret.h"
#include "tap.h"

/* ---- a tiny exposition-format checker ---------------------------------------------------------------- */

#define MAX_FAMILIES 64

struct fam_seen {
    char name[128];
    int help, type, samples, closed; /* closed: another family's sample came after this one's */
    char kind[16];
};

static int name_char(char c, int first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
           (!first && c >= '0' && c <= '9');
}

/* Parses `name{label="v",...} value` at line[0..]; fills name; returns 1 when well formed. */
static int parse_sample(const char *line, char *name, size_t namecap)
{
    const char *p = line;
    size_t n = 0;
    char *end;
    if (!name_char(*p, 1)) return 0;
    while (name_char(*p, 0) && n + 1 < namecap)
        name[n++] = *p++;
    name[n] = '\0';
    if (*p == '{') {
        p++;
        while (*p != '}') {
            if (!name_char(*p, 1)) return 0;
            while (name_char(*p, 0))
                p++;
            if (*p++ != '=' || *p++ != '"') return 0;
            while (*p != '"') {
                if (!*p || *p == '\n') return 0;
                if (*p == '\\') {
                    p++;
                    if (*p != '\\' && *p != '"' && *p != 'n') return 0;
                }
                p++;
            }
            p++;
            if (*p == ',')
                p++;
            else if (*p != '}')
                return 0;
        }
        p++;
    }
    if (*p++ != ' ') return 0;
    if (!strcmp(p, "NaN") || !strcmp(p, "+Inf") || !strcmp(p, "-Inf")) return 1;
    strtod(p, &end);
    return end != p && *end == '\0';
}

static struct fam_seen *fam_get(struct fam_seen *f, int *n, const char *name)
{
    for (int i = 0; i < *n; i++)
        if (!strcmp(f[i].name, name)) return &f[i];
    if (*n >= MAX_FAMILIES) return NULL;
    memset(&f[*n], 0, sizeof f[*n]);
    snprintf(f[*n].name, sizeof f[*n].name, "%s", name);
    return &f[(*n)++];
}

/* The family a sample belongs to: a histogram's _bucket/_sum/_count lines belong to its base name. */
static struct fam_seen *fam_of_sample(struct fam_seen *f, int n, const char *name)
{
    static const char *const sfx[] = {"_bucket", "_sum", "_count"};
    for (int i = 0; i < n; i++) {
        size_t l = strlen(f[i].name);
        if (!strcmp(f[i].name, name)) return &f[i];
        if (strcmp(f[i].kind, "histogram") || strncmp(name, f[i].name, l)) continue;
        for (int k = 0; k < 3; k++)
            if (!strcmp(name + l, sfx[k])) return &f[i];
    }
    return NULL;
}

static int check_comment(const char *line, struct fam_seen *f, int *nf, char *why, size_t whylen)
{
    char name[128], kind[16] = "";
    int is_help = !strncmp(line, "# HELP ", 7), is_type = !strncmp(line, "# TYPE ", 7);
    struct fam_seen *fs;
    if (!is_help && !is_type) return 1; /* other comments are allowed */
    if (sscanf(line + 7, "%127s %15s", name, kind) < 1 || !(fs = fam_get(f, nf, name)))
        return snprintf(why, whylen, "bad comment: %s", line), 0;
    if (fs->samples) return snprintf(why, whylen, "HELP/TYPE after samples: %s", line), 0;
    if (is_help && fs->help++) return snprintf(why, whylen, "second HELP for %s", name), 0;
    if (is_type) {
        if (fs->type++) return snprintf(why, whylen, "second TYPE for %s", name), 0;
        if (strcmp(kind, "counter") && strcmp(kind, "gauge") && strcmp(kind, "histogram"))
            return snprintf(why, whylen, "bad TYPE %s", kind), 0;
        snprintf(fs->kind, sizeof fs->kind, "%s", kind);
    }
    return 1;
}

/* 1 when text is a well-formed exposition: every line ends in \n, every sample parses and belongs to a
 * family with exactly one HELP and one TYPE seen before it, each family's lines are contiguous, and no
 * sample line (name + labels) repeats. why gets the first problem. */
static int exposition_ok(const char *text, char *why, size_t whylen)
{
    static struct fam_seen f[MAX_FAMILIES];
    int nf = 0, ok = 1, nlines = 0;
    struct fam_seen *last = NULL;
    char *copy = strdup(text), *save = NULL, **keys;
    size_t len = strlen(text);
    why[0] = '\0';
    if (!len || text[len - 1] != '\n')
        return snprintf(why, whylen, "does not end in a newline"), free(copy), 0;
    keys = calloc(len, sizeof *keys);
    for (char *line = strtok_r(copy, "\n", &save); ok && line; line = strtok_r(NULL, "\n", &save)) {
        char name[128];
        struct fam_seen *fs;
        if (line[0] == '#') {
            ok = check_comment(line, f, &nf, why, whylen);
            continue;
        }
        if (!parse_sample(line, name, sizeof name)) {
            snprintf(why, whylen, "malformed line: %.200s", line);
            ok = 0;
        } else if (!(fs = fam_of_sample(f, nf, name)) || !fs->help || !fs->type) {
            snprintf(why, whylen, "sample without HELP and TYPE: %.200s", line);
            ok = 0;
        } else if (fs->closed) {
            snprintf(why, whylen, "family %s not contiguous", fs->name);
            ok = 0;
        } else {
            if (last && last != fs) last->closed = 1;
            last = fs;
            fs->samples++;
            *strrchr(line, ' ') = '\0';
            for (int i = 0; ok && i < nlines; i++)
                if (!strcmp(keys[i], line)) snprintf(why, whylen, "duplicate series %.200s", line), ok = 0;
            keys[nlines++] = line;
        }
    }
    for (int i = 0; ok && i < nf; i++)
        if (!f[i].help || !f[i].type) snprintf(why, whylen, "%s lacks HELP or TYPE", f[i].name), ok = 0;
    free(keys);
    free(copy);
    return ok;
}

/* ---- helpers ------------------------------------------------------------------------------------- */

static char *render(void)
{
    size_t len = 0;
    char *t = metrics_render(&len);
    tap_ok(t && strlen(t) == len, "render: a NUL-terminated buffer of the reported length");
    return t;
}

static int has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)); p++)
        if ((p == text || p[-1] == '\n') && p[n] == '\n') return 1;
    return 0;
}

static void line_is(const char *text, const char *line)
{
    if (!tap_ok(has_line(text, line), "line: %s", line)) tap_diag("not in the render");
}

static void no_line_starting(const char *text, const char *prefix, const char *name)
{
    int found = 0;
    size_t n = strlen(prefix);
    for (const char *p = text; *p; p = strchr(p, '\n') + 1) {
        if (!strncmp(p, prefix, n)) found = 1;
        if (!strchr(p, '\n')) break;
    }
    tap_ok(!found, "%s", name);
}

static int count_prefix(const char *text, const char *prefix)
{
    int n = 0;
    size_t l = strlen(prefix);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (!strncmp(p, prefix, l)) n++;
    return n;
}

static void well_formed(const char *text, const char *name)
{
    char why[512];
    if (!tap_ok(exposition_ok(text, why, sizeof why), "well-formed exposition: %s", name))
        tap_diag("%s", why);
}

/* ---- tests --------------------------------------------------------------------------------------- */

static void test_empty(void)
{
    char *t;
    metrics_reset();
    t = render();
    well_formed(t, "empty");
    line_is(t, "# TYPE gatehouse_build_info gauge");
    tap_ok(strstr(t, "\ngatehouse_build_info{version=\"") != NULL, "build_info with a version label");
    tap_ok(strstr(t, "\"} 1\n") != NULL, "build_info value 1");
    line_is(t, "# TYPE gatehouse_process_start_time_seconds gauge");
    {
        const char *p = strstr(t, "\ngatehouse_process_start_time_seconds ");
        double v = p ? strtod(p + 38, NULL) : 0;
        tap_ok(v > 1.5e9 && v <= (double)time(NULL) + 1, "process start time is a plausible unix time (%.0f)",
               v);
    }
    line_is(t, "# TYPE gatehouse_http_requests_total counter");
    line_is(t, "# TYPE gatehouse_http_request_duration_seconds histogram");
    line_is(t, "# TYPE gatehouse_provider_calls_total counter");
    line_is(t, "# TYPE gatehouse_provider_call_duration_seconds histogram");
    line_is(t, "gatehouse_policy_reloads_total{result=\"ok\"} 0");
    line_is(t, "gatehouse_policy_reloads_total{result=\"error\"} 0");
    no_line_starting(t, "gatehouse_system_status", "no system_status before it is set");
    no_line_starting(t, "gatehouse_http_requests_total{", "no http series yet");
    free(t);
}

static void test_http(void)
{
    char *t;
    const char *H = "gatehouse_http_request_duration_seconds";
    char line[256];
    static const char *const le[] = {"0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
                                     "0.1",    "0.25",  "0.5",    "1",     "2.5",  "+Inf"};
    static const int cum[] = {1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3};
    metrics_reset();
    metrics_http_request("/healthz", "GET", 200, 0.25);
    metrics_http_request("/healthz", "GET", 200, 2);
    metrics_http_request("/healthz", "GET", 503, 700);
    metrics_http_request("unmatched", "GET", 404, 0.5);
    metrics_http_request("/api/bots/:id", "POST", 201, 1);
    metrics_http_request("/x", "GET", 42, 1);   /* not an HTTP status */
    metrics_http_request("/x", "GET", 200, -5); /* clock step: observed as 0 */
    t = render();
    well_formed(t, "after http requests");
    line_is(t, "gatehouse_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"} 2");
    line_is(t, "gatehouse_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"503\"} 1");
    line_is(t, "gatehouse_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"} 1");
    line_is(t, "gatehouse_http_requests_total{route=\"/api/bots/:id\",method=\"POST\",status=\"201\"} 1");
    line_is(t, "gatehouse_http_requests_total{route=\"/x\",method=\"GET\",status=\"other\"} 1");
    /* /healthz GET: 0.25 ms, 2 ms, 700 ms (status does not split the histogram) */
    for (int i = 0; i < 13; i++) {
        snprintf(line, sizeof line, "%s_bucket{route=\"/healthz\",method=\"GET\",le=\"%s\"} %d", H, le[i],
                 cum[i]);
        line_is(t, line);
    }
    snprintf(line, sizeof line, "%s_sum{route=\"/healthz\",method=\"GET\"} 0.70225", H);
    line_is(t, line);
    snprintf(line, sizeof line, "%s_count{route=\"/healthz\",method=\"GET\"} 3", H);
    line_is(t, line);
    snprintf(line, sizeof line, "%s_bucket{route=\"/api/bots/:id\",method=\"POST\",le=\"0.001\"} 1", H);
    line_is(t, line); /* an observation on a bound lands in that bucket (le is <=) */
    snprintf(line, sizeof line, "%s_bucket{route=\"/api/bots/:id\",method=\"POST\",le=\"0.0005\"} 0", H);
    line_is(t, line);
    snprintf(line, sizeof line, "%s_sum{route=\"/x\",method=\"GET\"} 0.001", H);
    line_is(t, line);
    tap_ok(strstr(t, "route=\"/api/bots/:id\"") < strstr(t, "route=\"/healthz\"") &&
               strstr(t, "route=\"/healthz\"") < strstr(t, "route=\"unmatched\""),
           "series sorted by label values");
    free(t);
}

static void test_provider(void)
{
    char *t;
    const char *P =
        "gatehouse_provider_call_duration_seconds_bucket{provider=\"databento\",operation=\"verify\",le=";
    char line[256];
    metrics_reset();
    metrics_provider_call("databento", "verify", "OK", 120);
    metrics_provider_call("databento", "verify", "TIMEOUT", 15000);
    metrics_provider_call("openai", "llm.chat", "AUTH_FAILED", 10);
    metrics_provider_call(NULL, NULL, NULL, 1);
    t = render();
    well_formed(t, "after provider calls");
    line_is(t,
            "gatehouse_provider_calls_total{provider=\"databento\",operation=\"verify\",outcome=\"OK\"} 1");
    line_is(
        t,
        "gatehouse_provider_calls_total{provider=\"databento\",operation=\"verify\",outcome=\"TIMEOUT\"} 1");
    line_is(t, "gatehouse_provider_calls_total{provider=\"openai\",operation=\"llm.chat\",outcome=\"AUTH_"
               "FAILED\"} 1");
    line_is(t, "gatehouse_provider_calls_total{provider=\"\",operation=\"\",outcome=\"\"} 1");
    snprintf(line, sizeof line, "%s\"0.1\"} 0", P);
    line_is(t, line);
    snprintf(line, sizeof line, "%s\"0.25\"} 1", P);
    line_is(t, line);
    snprintf(line, sizeof line, "%s\"10\"} 1", P);
    line_is(t, line);
    snprintf(line, sizeof line, "%s\"+Inf\"} 2", P);
    line_is(t, line);
    line_is(
        t, "gatehouse_provider_call_duration_seconds_sum{provider=\"databento\",operation=\"verify\"} 15.12");
    line_is(t,
            "gatehouse_provider_call_duration_seconds_count{provider=\"databento\",operation=\"verify\"} 2");
    line_is(t, "gatehouse_provider_call_duration_seconds_bucket{provider=\"openai\",operation=\"llm.chat\","
               "le=\"0.01\"} 1");
    tap_is_int(count_prefix(t, "gatehouse_provider_call_duration_seconds_bucket{provider=\"databento\""), 11,
               "10 finite buckets + +Inf");
    free(t);
}

static void test_lease_renew(void)
{
    char *t;
    const char *L = "gatehouse_lease_renew_seconds";
    char line[160];
    metrics_reset();
    t = render();
    well_formed(t, "lease renew before any round");
    line_is(t, "# TYPE gatehouse_lease_renew_seconds histogram");
    line_is(t, "gatehouse_lease_renew_seconds_bucket{le=\"+Inf\"} 0");
    line_is(t, "gatehouse_lease_renew_seconds_count 0");
    line_is(t, "gatehouse_lease_renew_seconds_sum 0");
    free(t);
    metrics_lease_renew(0.5);
    metrics_lease_renew(4.5);
    metrics_lease_renew(1245);
    t = render();
    well_formed(t, "after lease rounds");
    snprintf(line, sizeof line, "%s_bucket{le=\"0.001\"} 1", L);
    line_is(t, line);
    snprintf(line, sizeof line, "%s_bucket{le=\"0.005\"} 2", L);
    line_is(t, line);
    snprintf(line, sizeof line, "%s_bucket{le=\"1\"} 2", L);
    line_is(t, line);
    snprintf(line, sizeof line, "%s_bucket{le=\"2.5\"} 3", L);
    line_is(t, line);
    snprintf(line, sizeof line, "%s_bucket{le=\"+Inf\"} 3", L);
    line_is(t, line);
    snprintf(line, sizeof line, "%s_sum 1.25", L);
    line_is(t, line);
    snprintf(line, sizeof line, "%s_count 3", L);
    line_is(t, line);
    tap_is_int(count_prefix(t, "gatehouse_lease_renew_seconds_bucket{"), 13, "12 finite buckets + +Inf");
    free(t);
}

static void test_escaping_and_bad_values(void)
{
    char *t, longv[200];
    metrics_reset();
    metrics_http_request("/a\"b\\c\nd", "GET", 200, 1);
    metrics_http_request("/bad\xff\xfe", "GET", 200, 1);           /* not UTF-8 */
    metrics_http_request("/over\xc0\xaflong", "GET", 200, 1);      /* overlong '/' */
    metrics_http_request("https://user:pw@host/x", "GET", 200, 1); /* a URL never becomes a label */
    memset(longv, 'a', sizeof longv - 1);
    longv[sizeof longv - 1] = '\0';
    metrics_http_request(longv, "GET", 200, 1);
    metrics_http_request("/caf\xc3\xa9/\xe2\x82\xac", "GET", 200, 1); /* valid UTF-8 stays */
    t = render();
    well_formed(t, "escaping");
    line_is(t, "gatehouse_http_requests_total{route=\"/a\\\"b\\\\c\\nd\",method=\"GET\",status=\"200\"} 1");
    line_is(t, "gatehouse_http_requests_total{route=\"other\",method=\"GET\",status=\"200\"} 4");
    line_is(
        t,
        "gatehouse_http_requests_total{route=\"/caf\xc3\xa9/\xe2\x82\xac\",method=\"GET\",status=\"200\"} 1");
    tap_ok(!strstr(t, "user:pw") && !strstr(t, "aaaaaaaaaaaaaaaaaaaa"), "URL and long value absent");
    free(t);
}

static void test_cardinality_cap(void)
{
    char *t, route[32], method[16];
    metrics_reset();
    for (int i = 0; i < 600; i++) {
        snprintf(route, sizeof route, "/r/%d", i);
        metrics_http_request(route, "GET", 200, 1);
    }
    t = render();
    well_formed(t, "at the cap");
    tap_is_int(count_prefix(t, "gatehouse_http_requests_total{"), METRICS_SERIES_CAP + 1,
               "512 series + one \"other\"");
    line_is(t, "gatehouse_http_requests_total{route=\"/r/0\",method=\"GET\",status=\"200\"} 1");
    line_is(t, "gatehouse_http_requests_total{route=\"/r/511\",method=\"GET\",status=\"200\"} 1");
    line_is(t, "gatehouse_http_requests_total{route=\"other\",method=\"GET\",status=\"200\"} 88");
    line_is(t, "gatehouse_http_request_duration_seconds_count{route=\"other\",method=\"GET\"} 88");
    tap_ok(!strstr(t, "\"/r/512\""), "the 513th route is not a label");
    free(t);
    /* past the cap the other labels are kept, up to the overflow cap; then everything is "other" */
    for (int j = 0; j < 2000; j++) {
        snprintf(method, sizeof method, "M%d", j);
        metrics_http_request("/new", method, 200, 1);
    }
    t = render();
    well_formed(t, "past the overflow cap");
    tap_is_int(count_prefix(t, "gatehouse_http_requests_total{"),
               METRICS_SERIES_CAP + METRICS_OVERFLOW_CAP + 1, "never more than cap + overflow + 1 series");
    line_is(t, "gatehouse_http_requests_total{route=\"other\",method=\"M0\",status=\"200\"} 1");
    line_is(t, "gatehouse_http_requests_total{route=\"other\",method=\"M62\",status=\"200\"} 1");
    line_is(t, "gatehouse_http_requests_total{route=\"other\",method=\"other\",status=\"other\"} 1937");
    line_is(t, "gatehouse_http_request_duration_seconds_count{route=\"other\",method=\"other\"} 1937");
    tap_ok(!strstr(t, "\"M63\""), "the 64th overflow set folds completely");
    free(t);
    /* the existing sets keep counting */
    metrics_http_request("/r/7", "GET", 200, 1);
    metrics_http_request("/r/9999", "GET", 200, 1);
    t = render();
    line_is(t, "gatehouse_http_requests_total{route=\"/r/7\",method=\"GET\",status=\"200\"} 2");
    line_is(t, "gatehouse_http_requests_total{route=\"other\",method=\"GET\",status=\"200\"} 89");
    free(t);
}

static double depth_value = 7;
static double read_depth(void)
{
    return depth_value;
}
static double read_ratio(void)
{
    return 0.125;
}
static double read_nan(void)
{
    return NAN;
}
static double read_big(void)
{
    return 12345678901.0;
}

static void test_gauges(void)
{
    char *t, name[64];
    metrics_reset();
    metrics_register_gauge("gatehouse_telemetry_queue_depth", "Records waiting for the writer.", read_depth);
    metrics_register_gauge("gatehouse_odd_help", "back\\slash and\nnewline", read_ratio);
    metrics_register_gauge("gatehouse_nan", "not a number", read_nan);
    metrics_register_gauge("gatehouse_big", "large", read_big);
    metrics_register_gauge("1bad", "x", read_ratio);
    metrics_register_gauge("bad-name", "x", read_ratio);
    metrics_register_gauge("", "x", read_ratio);
    metrics_register_gauge(NULL, "x", read_ratio);
    metrics_register_gauge("gatehouse_no_callback", "x", NULL);
    metrics_register_gauge("gatehouse_http_requests_total", "x", read_ratio);
    metrics_register_gauge("gatehouse_http_request_duration_seconds_sum", "x", read_ratio);
    metrics_register_gauge("gatehouse_system_status", "x", read_ratio);
    t = render();
    well_formed(t, "gauges");
    line_is(t, "# HELP gatehouse_telemetry_queue_depth Records waiting for the writer.");
    line_is(t, "# TYPE gatehouse_telemetry_queue_depth gauge");
    line_is(t, "gatehouse_telemetry_queue_depth 7");
    line_is(t, "# HELP gatehouse_odd_help back\\\\slash and\\nnewline");
    line_is(t, "gatehouse_odd_help 0.125");
    line_is(t, "gatehouse_nan NaN");
    line_is(t, "gatehouse_big 12345678901");
    tap_ok(!strstr(t, "1bad") && !strstr(t, "bad-name") && !strstr(t, "no_callback"),
           "invalid gauges refused");
    tap_is_int(count_prefix(t, "# TYPE gatehouse_http_requests_total "), 1,
               "a built-in name is not taken twice");
    no_line_starting(t, "gatehouse_system_status", "a gauge cannot pose as system_status");
    free(t);
    depth_value = 42;
    metrics_register_gauge("gatehouse_telemetry_queue_depth", "Queue depth (replaced).", read_ratio);
    t = render();
    line_is(t, "gatehouse_telemetry_queue_depth 0.125");
    line_is(t, "# HELP gatehouse_telemetry_queue_depth Queue depth (replaced).");
    tap_is_int(count_prefix(t, "# TYPE gatehouse_telemetry_queue_depth"), 1, "re-registering replaces");
    free(t);
    metrics_register_gauge("gatehouse_telemetry_queue_depth", "Records waiting for the writer.", read_depth);
    t = render();
    line_is(t, "gatehouse_telemetry_queue_depth 42");
    free(t);
    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof name, "gatehouse_g%d", i);
        metrics_register_gauge(name, "filler", read_ratio);
    }
    t = render();
    tap_is_int(count_prefix(t, "# TYPE "), 8 + METRICS_GAUGES_MAX, "at most 32 registered gauges");
    line_is(t, "gatehouse_g27 0.125");
    tap_ok(!strstr(t, "gatehouse_g28 "), "the 33rd gauge is refused");
    well_formed(t, "32 gauges");
    free(t);
}

static void test_status_and_reloads(void)
{
    char *t;
    metrics_reset();
    metrics_policy_reload(1);
    metrics_policy_reload(1);
    metrics_policy_reload(0);
    metrics_set_system_status(1, 0);
    t = render();
    well_formed(t, "status");
    line_is(t, "gatehouse_policy_reloads_total{result=\"ok\"} 2");
    line_is(t, "gatehouse_policy_reloads_total{result=\"error\"} 1");
    line_is(t, "# HELP gatehouse_system_status Current system status: 0 = OK, 1 = DEGRADED, 2 = BLOCKED.");
    line_is(t, "# TYPE gatehouse_system_status gauge");
    line_is(t, "gatehouse_system_status 1");
    line_is(t, "gatehouse_autonomy_allowed 0");
    free(t);
    metrics_set_system_status(0, 1);
    t = render();
    line_is(t, "gatehouse_system_status 0");
    line_is(t, "gatehouse_autonomy_allowed 1");
    free(t);
    metrics_set_system_status(9, 5); /* out of range: fail closed */
    t = render();
    line_is(t, "gatehouse_system_status 2");
    line_is(t, "gatehouse_autonomy_allowed 1");
    free(t);
}

static void test_redaction(void)
{
    char *t;
    metrics_reset();
    secret_init();
    tap_is_int(secret_add_literal("METRICS_TEST_KEY", "mtk-9f8e7d6c5b4a"), 0, "a tracked secret");
    metrics_provider_call("mtk-9f8e7d6c5b4a", "verify", "OK", 1); /* a caller's mistake */
    t = render();
    tap_ok(!strstr(t, "mtk-9f8e7d6c5b4a"), "a secret passed as a label value is redacted");
    tap_ok(strstr(t, "provider=\"\xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2"
                     "5b4a\"") != NULL,
           "... to its mask");
    well_formed(t, "after redaction");
    free(t);
    secret_shutdown();
}

static void test_reset(void)
{
    char *t;
    metrics_http_request("/healthz", "GET", 200, 1);
    metrics_provider_call("databento", "verify", "OK", 1);
    metrics_policy_reload(1);
    metrics_set_system_status(2, 0);
    metrics_register_gauge("gatehouse_telemetry_queue_depth", "d", read_depth);
    metrics_reset();
    t = render();
    no_line_starting(t, "gatehouse_http_requests_total{", "reset: no http series");
    no_line_starting(t, "gatehouse_provider_calls_total{", "reset: no provider series");
    no_line_starting(t, "gatehouse_system_status", "reset: status unset");
    no_line_starting(t, "gatehouse_telemetry_queue_depth", "reset: gauges gone");
    line_is(t, "gatehouse_policy_reloads_total{result=\"ok\"} 0");
    well_formed(t, "after reset");
    free(t);
}

static void test_checker_rejects(void)
{
    char why[512];
    tap_ok(!exposition_ok("# HELP a x\n# TYPE a counter\na 1", why, sizeof why),
           "checker: missing final newline");
    tap_ok(!exposition_ok("a 1\n", why, sizeof why), "checker: no HELP/TYPE");
    tap_ok(!exposition_ok("# HELP a x\n# TYPE a counter\na{l=\"x} 1\n", why, sizeof why),
           "checker: open quote");
    tap_ok(!exposition_ok("# HELP a x\n# TYPE a counter\na{l=\"x\"} 1\na{l=\"x\"} 2\n", why, sizeof why),
           "checker: duplicate series");
    tap_ok(!exposition_ok("# HELP a x\n# TYPE a counter\n# TYPE a gauge\na 1\n", why, sizeof why),
           "checker: second TYPE");
    tap_ok(!exposition_ok("# HELP a x\n# TYPE a counter\na one\n", why, sizeof why), "checker: bad value");
    tap_ok(exposition_ok("# HELP a x\n# TYPE a histogram\na_bucket{le=\"+Inf\"} 1\na_sum 0.5\na_count 1\n",
                         why, sizeof why),
           "checker: accepts a histogram");
}

static void test_hot_path(void)
{
    static const char *const routes[] = {"/healthz", "/readyz", "/api/integrations/status", "/api/bots/:id",
                                         "unmatched"};
    struct timespec a, b;
    double ns;
    const int N = 1000000;
    metrics_reset();
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < N; i++)
        metrics_http_request(routes[i % 5], i & 1 ? "GET" : "POST", 200 + (i & 3), 1.5);
    clock_gettime(CLOCK_MONOTONIC, &b);
    ns = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / N;
    tap_diag("metrics_http_request: %.0f ns per call", ns);
    tap_ok(ns < 5000, "hot path well under the 33 us/request budget of 30k req/s (%.0f ns)", ns);
    metrics_reset();
}

int main(void)
{
    log_set_level("error"); /* the refused gauges below warn on purpose */
    test_checker_rejects();
    test_empty();
    test_http();
    test_provider();
    test_lease_renew();
    test_escaping_and_bad_values();
    test_cardinality_cap();
    test_gauges();
    test_status_and_reloads();
    test_redaction();
    test_reset();
    test_hot_path();
    metrics_reset();
    return tap_done();
}
