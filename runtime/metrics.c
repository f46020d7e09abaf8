/* metrics.c — Prometheus counters, histograms and gauges; see metrics.h.
 *
 * Each labelled family is an open-addressing table (linear probing) of series keyed by the tuple of label
 * values. The hot path hashes the caller's strings in place and compares them against the stored key
 * without copying or formatting anything; a series is allocated once, on the first sighting of its label
 * set. Escaping, sorting and number formatting happen only in metrics_render. */
#include "metrics.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "secret.h"
#include "textbuf.h"

#ifndef GATEHOUSE_VERSION
#define GATEHOUSE_VERSION "dev"
#endif

#define LABELS_MAX 3
#define BOUNDS_MAX 12
#define TABLE_SLOTS 2048 /* power of two, more than twice the most series a family can hold */
#define TABLE_MASK (TABLE_SLOTS - 1)
#define OTHER "other"
#define MS_MAX 1e9 /* clamp: one absurd observation must not turn _sum into +Inf forever */

enum family_kind { KIND_COUNTER, KIND_HISTOGRAM };

struct series {
    uint32_t hash;
    uint64_t count;               /* counter value, or the histogram's observation count */
    double sum_ms;                /* histogram: sum of observations (ms; seconds at render) */
    uint64_t buckets[BOUNDS_MAX]; /* histogram: per-bucket counts, not cumulative; above the last = +Inf */
    size_t key_len;
    char key[]; /* the label values, each NUL-terminated, back to back */
};

struct family {
    const char *name, *help;
    enum family_kind kind;
    int nlabels;
    const char *labels[LABELS_MAX];
    const double *bounds; /* histogram upper bounds in seconds, ascending; +Inf implied */
    int nbounds;
    int n; /* series held */
    struct series *slots[TABLE_SLOTS];
};

struct gauge {
    char *name, *help;
    double (*read)(void);
};

static const double http_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
static const double provider_bounds[] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
static const double lease_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
#define NBOUNDS(a) ((int)(sizeof a / sizeof a[0]))

static struct family http_total = {
    .name = "gatehouse_http_requests_total",
    .help = "HTTP requests answered, by route pattern, method and status code.",
    .kind = KIND_COUNTER,
    .nlabels = 3,
    .labels = {"route", "method", "status"},
};
static struct family http_duration = {
    .name = "gatehouse_http_request_duration_seconds",
    .help = "Time from request arrival to answer, by route pattern and method.",
    .kind = KIND_HISTOGRAM,
    .nlabels = 2,
    .labels = {"route", "method"},
    .bounds = http_bounds,
    .nbounds = NBOUNDS(http_bounds),
};
static struct family provider_total = {
    .name = "gatehouse_provider_calls_total",
    .help = "Outbound provider calls, by provider, operation and outcome.",
    .kind = KIND_COUNTER,
    .nlabels = 3,
    .labels = {"provider", "operation", "outcome"},
};
static struct family provider_duration = {
    .name = "gatehouse_provider_call_duration_seconds",
    .help = "Latency of outbound provider calls, by provider and operation.",
    .kind = KIND_HISTOGRAM,
    .nlabels = 2,
    .labels = {"provider", "operation"},
    .bounds = provider_bounds,
    .nbounds = NBOUNDS(provider_bounds),
};

static struct family lease_renew = {
    .name = "gatehouse_lease_renew_seconds",
    .help = "Round trip of the fleet's heartbeat-and-renew statement, once per lease round.",
    .kind = KIND_HISTOGRAM,
    .nlabels = 0,
    .bounds = lease_bounds,
    .nbounds = NBOUNDS(lease_bounds),
};

static struct family *const families[] = {&http_total, &http_duration, &provider_total, &provider_duration,
                                          &lease_renew};
#define NFAMILIES ((int)(sizeof families / sizeof families[0]))

/* Unlabelled families, for the gauge-name collision check (histogram suffixes are checked separately). */
static const char *const fixed_names[] = {
    "gatehouse_build_info",    "gatehouse_process_start_time_seconds", "gatehouse_policy_reloads_total",
    "gatehouse_system_status", "gatehouse_autonomy_allowed",
};

static uint64_t reloads_ok, reloads_error;
static int status_set, system_status, autonomy_allowed;
static double start_time; /* unix seconds; 0 = not read yet */
static struct gauge gauges[METRICS_GAUGES_MAX];
static int n_gauges;

/* ---- the label-set table ------------------------------------------------------------------------ */

/* FNV-1a over the values with a separator byte, so ("ab","c") and ("a","bc") differ. */
static uint32_t hash_values(const char *const *v, int n)
{
    uint32_t h = 2166136261u;
    for (int i = 0; i < n; i++) {
        for (const unsigned char *p = (const unsigned char *)v[i]; *p; p++)
            h = (h ^ *p) * 16777619u;
        h = (h ^ 0xffu) * 16777619u;
    }
    return h ^ (h >> 16); /* the probe uses the low bits */
}

static int key_equal(const struct series *s, const char *const *v, int n)
{
    const char *k = s->key;
    for (int i = 0; i < n; i++) {
        const char *a = v[i];
        while (*a && *a == *k) {
            a++;
            k++;
        }
        if (*a != *k) return 0;
        k++; /* past this value's NUL */
    }
    return 1;
}

/* The series for the tuple v (hash h), or NULL. The table is never full, so the probe ends on a hole. */
static struct series *lookup(const struct family *f, const char *const *v, uint32_t h)
{
    for (uint32_t i = h & TABLE_MASK;; i = (i + 1) & TABLE_MASK) {
        struct series *s = f->slots[i];
        if (!s) return NULL;
        if (s->hash == h && key_equal(s, v, f->nlabels)) return s;
    }
}

/* Adds a zeroed series for v. NULL on allocation failure (the observation is then dropped). */
static struct series *insert(struct family *f, const char *const *v, uint32_t h)
{
    size_t len = 0;
    struct series *s;
    uint32_t i;
    for (int j = 0; j < f->nlabels; j++)
        len += strlen(v[j]) + 1;
    if (!(s = calloc(1, sizeof *s + len))) return NULL;
    s->hash = h;
    s->key_len = len;
    len = 0;
    for (int j = 0; j < f->nlabels; j++) {
        size_t l = strlen(v[j]) + 1;
        memcpy(s->key + len, v[j], l);
        len += l;
    }
    for (i = h & TABLE_MASK; f->slots[i]; i = (i + 1) & TABLE_MASK)
        ;
    f->slots[i] = s;
    f->n++;
    return s;
}

/* 1 when s is well-formed UTF-8 (no overlongs, surrogates or code points above U+10FFFF). */
static int utf8_valid(const unsigned char *s)
{
    while (*s) {
        unsigned c = *s, n, cp;
        if (c < 0x80) {
            s++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF)
            n = 1, cp = c & 0x1F;
        else if (c >= 0xE0 && c <= 0xEF)
            n = 2, cp = c & 0x0F;
        else if (c >= 0xF0 && c <= 0xF4)
            n = 3, cp = c & 0x07;
        else
            return 0;
        for (unsigned k = 1; k <= n; k++) {
            if ((s[k] & 0xC0) != 0x80) return 0; /* also stops at the NUL */
            cp = (cp << 6) | (s[k] & 0x3F);
        }
        if (n == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) return 0;
        if (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) return 0;
        s += n + 1;
    }
    return 1;
}

/* A value kept as a label: short, UTF-8, and not a URL (a URL may carry a key in its query). */
static int value_ok(const char *s)
{
    return strlen(s) <= METRICS_VALUE_MAX && utf8_valid((const unsigned char *)s) && !strstr(s, "://");
}

/* Finds or adds the series for v under the family's bounds: an unusable value becomes "other"; a new set
 * past METRICS_SERIES_CAP keeps its other labels with the first one "other"; past the overflow cap every
 * label is "other" (that one set is always admitted, so nothing is dropped for lack of room). */
static struct series *first_sighting(struct family *f, const char *const *raw)
{
    const char *v[LABELS_MAX];
    struct series *s;
    uint32_t h;
    for (int i = 0; i < f->nlabels; i++)
        v[i] = value_ok(raw[i]) ? raw[i] : OTHER;
    h = hash_values(v, f->nlabels);
    if ((s = lookup(f, v, h))) return s;
    if (f->n < METRICS_SERIES_CAP) return insert(f, v, h);
    v[0] = OTHER;
    h = hash_values(v, f->nlabels);
    if ((s = lookup(f, v, h))) return s;
    if (f->n < METRICS_SERIES_CAP + METRICS_OVERFLOW_CAP) return insert(f, v, h);
    for (int i = 1; i < f->nlabels; i++)
        v[i] = OTHER;
    h = hash_values(v, f->nlabels);
    if ((s = lookup(f, v, h))) return s;
    return insert(f, v, h);
}

/* The hot path: one hash over the caller's strings and one probe when the set was seen before. */
static struct series *series_for(struct family *f, const char *const *v)
{
    struct series *s = lookup(f, v, hash_values(v, f->nlabels));
    return s ? s : first_sighting(f, v);
}

static void observe(const struct family *f, struct series *s, double ms)
{
    double sec;
    int i = 0;
    if (!(ms >= 0)) ms = 0; /* negative or NaN: a clock step, not a real duration */
    if (ms > MS_MAX) ms = MS_MAX;
    sec = ms / 1000.0;
    while (i < f->nbounds && sec > f->bounds[i])
        i++;
    if (i < f->nbounds) s->buckets[i]++;
    s->count++;
    s->sum_ms += ms;
}

/* ---- recording ---------------------------------------------------------------------------------- */

void metrics_http_request(const char *route, const char *method, int status, double ms)
{
    char code[4];
    const char *v[3];
    struct series *s;
    if (status >= 100 && status <= 599) {
        code[0] = (char)('0' + status / 100);
        code[1] = (char)('0' + status / 10 % 10);
        code[2] = (char)('0' + status % 10);
        code[3] = '\0';
    }
    v[0] = route ? route : "";
    v[1] = method ? method : "";
    v[2] = status >= 100 && status <= 599 ? code : OTHER;
    if ((s = series_for(&http_total, v))) s->count++;
    if ((s = series_for(&http_duration, v))) observe(&http_duration, s, ms);
}

void metrics_provider_call(const char *provider, const char *operation, const char *outcome, double ms)
{
    const char *v[3];
    struct series *s;
    v[0] = provider ? provider : "";
    v[1] = operation ? operation : "";
    v[2] = outcome ? outcome : "";
    if ((s = series_for(&provider_total, v))) s->count++;
    if ((s = series_for(&provider_duration, v))) observe(&provider_duration, s, ms);
}

void metrics_lease_renew(double ms)
{
    struct series *s = series_for(&lease_renew, NULL);
    if (s) observe(&lease_renew, s, ms);
}

void metrics_policy_reload(int ok)
{
    if (ok)
        reloads_ok++;
    else
        reloads_error++;
}

void metrics_set_system_status(int status, int allowed)
{
    status_set = 1;
    system_status = status >= 0 && status <= 2 ? status : 2;
    autonomy_allowed = allowed ? 1 : 0;
}

/* ---- gauges ------------------------------------------------------------------------------------- */

static int name_valid(const char *s)
{
    if (!s || !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_' || *s == ':')) return 0;
    for (s++; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' ||
              *s == ':'))
            return 0;
    return 1;
}

/* 1 when name is (or would render as a line of) a built-in family. */
static int name_builtin(const char *name)
{
    static const char *const suffixes[] = {"", "_bucket", "_sum", "_count"};
    for (size_t i = 0; i < sizeof fixed_names / sizeof fixed_names[0]; i++)
        if (strcmp(name, fixed_names[i]) == 0) return 1;
    for (int i = 0; i < NFAMILIES; i++) {
        size_t n = strlen(families[i]->name);
        if (strncmp(name, families[i]->name, n) != 0) continue;
        for (int k = 0; k < (families[i]->kind == KIND_HISTOGRAM ? 4 : 1); k++)
            if (strcmp(name + n, suffixes[k]) == 0) return 1;
    }
    return 0;
}

static void gauge_refused(const char *name, const char *why)
{
    char esc[160];
    LOG_WARN(NULL, "metrics gauge refused", "name=\"%s\" reason=\"%s\"",
             log_escape(name ? name : "", esc, sizeof esc), why);
}

void metrics_register_gauge(const char *name, const char *help, double (*read)(void))
{
    struct gauge *g = NULL;
    char *n, *h;
    if (!name_valid(name) || name_builtin(name)) {
        gauge_refused(name, "invalid or built-in name");
        return;
    }
    if (!read) {
        gauge_refused(name, "no callback");
        return;
    }
    for (int i = 0; i < n_gauges; i++)
        if (strcmp(gauges[i].name, name) == 0) g = &gauges[i];
    if (!g && n_gauges >= METRICS_GAUGES_MAX) {
        gauge_refused(name, "too many gauges");
        return;
    }
    n = strdup(name);
    h = strdup(help ? help : "");
    if (!n || !h) {
        free(n);
        free(h);
        gauge_refused(name, "out of memory");
        return;
    }
    if (!g) g = &gauges[n_gauges++];
    free(g->name);
    free(g->help);
    g->name = n;
    g->help = h;
    g->read = read;
}

/* ---- rendering ---------------------------------------------------------------------------------- */

/* Appends s escaped for a label value (escape_quote) or a HELP text: \\, \" and \n. */
static void buf_escaped(struct textbuf *b, const char *s, int escape_quote)
{
    const char *run = s;
    for (; *s; s++) {
        const char *rep = *s == '\\'                  ? "\\\\"
                          : *s == '\n'                ? "\\n"
                          : *s == '"' && escape_quote ? "\\\""
                                                      : NULL;
        if (!rep) continue;
        textbuf_add(b, run, (size_t)(s - run));
        textbuf_str(b, rep);
        run = s + 1;
    }
    textbuf_add(b, run, (size_t)(s - run));
}

/* Shortest of %.15g / %.16g / %.17g that reads back as v; NaN and infinities as the format spells them. */
static const char *fmt_double(double v, char out[32])
{
    if (isnan(v)) return "NaN";
    if (isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, 32, "%.*g", prec, v);
        if (strtod(out, NULL) == v) break;
    }
    return out;
}

static void buf_double(struct textbuf *b, double v)
{
    char tmp[32];
    textbuf_str(b, fmt_double(v, tmp));
}

static void buf_u64(struct textbuf *b, uint64_t v)
{
    char tmp[24];
    snprintf(tmp, sizeof tmp, "%" PRIu64, v);
    textbuf_str(b, tmp);
}

static void buf_header(struct textbuf *b, const char *name, const char *help, const char *type)
{
    textbuf_str(b, "# HELP ");
    textbuf_str(b, name);
    textbuf_str(b, " ");
    buf_escaped(b, help, 0);
    textbuf_str(b, "\n# TYPE ");
    textbuf_str(b, name);
    textbuf_str(b, " ");
    textbuf_str(b, type);
    textbuf_str(b, "\n");
}

/* name{labels of s[,le="..."]} */
static void buf_sample_name(struct textbuf *b, const struct family *f, const struct series *s,
                            const char *suffix, const char *le)
{
    const char *k = s->key;
    textbuf_str(b, f->name);
    textbuf_str(b, suffix);
    if (!f->nlabels && !le) {
        textbuf_str(b, " ");
        return;
    }
    textbuf_str(b, "{");
    for (int i = 0; i < f->nlabels; i++) {
        if (i) textbuf_str(b, ",");
        textbuf_str(b, f->labels[i]);
        textbuf_str(b, "=\"");
        buf_escaped(b, k, 1);
        textbuf_str(b, "\"");
        k += strlen(k) + 1;
    }
    if (le) {
        textbuf_str(b, f->nlabels ? ",le=\"" : "le=\"");
        textbuf_str(b, le);
        textbuf_str(b, "\"");
    }
    textbuf_str(b, "} ");
}

static void render_histogram_series(struct textbuf *b, const struct family *f, const struct series *s)
{
    uint64_t cum = 0;
    char le[32];
    for (int i = 0; i < f->nbounds; i++) {
        cum += s->buckets[i];
        buf_sample_name(b, f, s, "_bucket", fmt_double(f->bounds[i], le));
        buf_u64(b, cum);
        textbuf_str(b, "\n");
    }
    buf_sample_name(b, f, s, "_bucket", "+Inf");
    buf_u64(b, s->count);
    textbuf_str(b, "\n");
    buf_sample_name(b, f, s, "_sum", NULL);
    buf_double(b, s->sum_ms / 1000.0);
    textbuf_str(b, "\n");
    buf_sample_name(b, f, s, "_count", NULL);
    buf_u64(b, s->count);
    textbuf_str(b, "\n");
}

static int series_cmp(const void *a, const void *b)
{
    const struct series *x = *(const struct series *const *)a, *y = *(const struct series *const *)b;
    size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = memcmp(x->key, y->key, n);
    return c ? c : (x->key_len > y->key_len) - (x->key_len < y->key_len);
}

/* HELP, TYPE, then every series sorted by label values (stable output for scrapes and tests). */
static void render_family(struct textbuf *b, const struct family *f)
{
    struct series **all;
    int n = 0;
    static const struct series unobserved; /* an unlabelled family has its one series from the start */
    buf_header(b, f->name, f->help, f->kind == KIND_HISTOGRAM ? "histogram" : "counter");
    if (!f->n && !f->nlabels && f->kind == KIND_HISTOGRAM) render_histogram_series(b, f, &unobserved);
    if (!f->n) return;
    if (!(all = malloc((size_t)f->n * sizeof *all))) {
        b->failed = 1;
        return;
    }
    for (int i = 0; i < TABLE_SLOTS; i++)
        if (f->slots[i]) all[n++] = f->slots[i];
    qsort(all, (size_t)n, sizeof *all, series_cmp);
    for (int i = 0; i < n; i++) {
        if (f->kind == KIND_HISTOGRAM) {
            render_histogram_series(b, f, all[i]);
        } else {
            buf_sample_name(b, f, all[i], "", NULL);
            buf_u64(b, all[i]->count);
            textbuf_str(b, "\n");
        }
    }
    free(all);
}

static void render_gauge(struct textbuf *b, const char *name, const char *help, double v)
{
    buf_header(b, name, help, "gauge");
    textbuf_str(b, name);
    textbuf_str(b, " ");
    buf_double(b, v);
    textbuf_str(b, "\n");
}

/* Process start: the runtime's clock now minus the process's age from /proc (uptime - its start tick), so it
 * is right whichever call comes first; the first render's clock when /proc is unavailable. */
static double process_start_time(void)
{
    char line[1024], *p;
    unsigned long long ticks = 0;
    long hz = sysconf(_SC_CLK_TCK);
    FILE *f;
    if (start_time > 0) return start_time;
    if ((f = fopen("/proc/self/stat", "r"))) {
        size_t n = fread(line, 1, sizeof line - 1, f);
        line[n] = '\0';
        fclose(f);
        /* fields after the command name "(...)": state is field 3, starttime field 22 */
        if (!(p = strrchr(line, ')')) || sscanf(p + 1,
                                                " %*c %*s %*s %*s %*s %*s %*s %*s %*s %*s"
                                                " %*s %*s %*s %*s %*s %*s %*s %*s %*s %llu",
                                                &ticks) != 1)
            ticks = 0;
    }
    double uptime = 0;
    if ((f = fopen("/proc/uptime", "r"))) {
        if (fscanf(f, "%lf", &uptime) != 1) uptime = 0;
        fclose(f);
    }
    /* the process's age from the kernel, placed on the runtime's clock (clock.h): the same instant as every
     * other timestamp gatehouse writes, also under a test clock */
    start_time = clock_wall();
    if (uptime > 0 && ticks && hz > 0 && uptime >= (double)ticks / (double)hz)
        start_time -= uptime - (double)ticks / (double)hz;
    return start_time;
}

static void render_fixed(struct textbuf *b)
{
    buf_header(b, "gatehouse_build_info", "Build of the running gatehouse; the value is always 1.", "gauge");
    textbuf_str(b, "gatehouse_build_info{version=\"");
    buf_escaped(b, GATEHOUSE_VERSION, 1);
    textbuf_str(b, "\"} 1\n");
    render_gauge(b, "gatehouse_process_start_time_seconds", "Start time of the process since the unix epoch.",
                 process_start_time());
}

static void render_policy_and_status(struct textbuf *b)
{
    buf_header(b, "gatehouse_policy_reloads_total", "Policy reload attempts, by result (ok or error).",
               "counter");
    textbuf_str(b, "gatehouse_policy_reloads_total{result=\"error\"} ");
    buf_u64(b, reloads_error);
    textbuf_str(b, "\ngatehouse_policy_reloads_total{result=\"ok\"} ");
    buf_u64(b, reloads_ok);
    textbuf_str(b, "\n");
    if (!status_set) return;
    render_gauge(b, "gatehouse_system_status", "Current system status: 0 = OK, 1 = DEGRADED, 2 = BLOCKED.",
                 system_status);
    render_gauge(b, "gatehouse_autonomy_allowed", "1 when autonomous trading is currently allowed, else 0.",
                 autonomy_allowed);
}

char *metrics_render(size_t *len)
{
    struct textbuf b = {0};
    char *out;
    size_t n = 0;
    render_fixed(&b);
    for (int i = 0; i < NFAMILIES; i++)
        render_family(&b, families[i]);
    render_policy_and_status(&b);
    for (int i = 0; i < n_gauges; i++)
        render_gauge(&b, gauges[i].name, gauges[i].help, gauges[i].read());
    if (b.failed || !b.p) {
        free(b.p);
        return NULL;
    }
    out = secret_redact(b.p, b.len, &n); /* defence in depth: labels are ids, but nothing leaves unredacted */
    free(b.p);
    if (out && len) *len = n;
    return out;
}

void metrics_reset(void)
{
    for (int i = 0; i < NFAMILIES; i++) {
        for (int k = 0; k < TABLE_SLOTS; k++) {
            free(families[i]->slots[k]);
            families[i]->slots[k] = NULL;
        }
        families[i]->n = 0;
    }
    for (int i = 0; i < n_gauges; i++) {
        free(gauges[i].name);
        free(gauges[i].help);
    }
    memset(gauges, 0, sizeof gauges);
    n_gauges = 0;
    reloads_ok = reloads_error = 0;
    status_set = system_status = autonomy_allowed = 0;
    start_time = 0;
}
