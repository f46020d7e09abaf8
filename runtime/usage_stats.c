/* usage_stats.c — per-provider rolling aggregates; see usage_stats.h. Pure: no I/O, clock passed in. */
#include "usage_stats.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SECONDS_24H 86400
#define HASH_SLOTS 256

/* One minute of the 24 h window. `minute` (unix minutes) says which minute the counts belong to, so a slot
 * reused a day later is recognised as stale instead of being cleared by a sweep. */
struct minute_bucket {
    int64_t minute;
    uint32_t count, errors;
};

struct provider_stats {
    char id[USAGE_STATS_ID_MAX + 1];
    struct provider_stats *next; /* hash chain */
    struct minute_bucket buckets[USAGE_STATS_WINDOW_MIN];
    time_t last_used_at, last_error_at;
    char last_used_by_bot_id[37];
    char last_feature_used[64];
    char last_error_code[64];
    char last_trace_id[33];
    int latency[USAGE_STATS_RING];
    int latency_n, latency_head; /* samples held; slot of the next write */
    int latency_last;
};

static struct provider_stats *slots[HASH_SLOTS];
static int n_providers;

static unsigned hash_id(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % HASH_SLOTS;
}

/* Copies src into dst[cap] ("" for NULL), cutting on a UTF-8 character boundary so a truncated value is
 * still valid UTF-8 (json_string refuses anything else). */
static void copy_utf8(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    if (n >= cap) {
        n = cap - 1;
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--; /* src[n] starts the dropped part */
    }
    if (n) memcpy(dst, src, n);
    dst[n] = '\0';
}

static struct provider_stats *find(const char *id)
{
    if (!id || !*id || strlen(id) > USAGE_STATS_ID_MAX) return NULL;
    for (struct provider_stats *p = slots[hash_id(id)]; p; p = p->next)
        if (strcmp(p->id, id) == 0) return p;
    return NULL;
}

/* The entry for id, created on first use. NULL when the id is unusable or the table is full. */
static unsigned long version; /* bumped by every change: lets readers cache what they derive */

unsigned long usage_stats_version(void)
{
    return version;
}

static struct provider_stats *find_or_add(const char *id)
{
    version++;
    struct provider_stats *p = find(id);
    unsigned h;
    if (p || !id || !*id || strlen(id) > USAGE_STATS_ID_MAX || n_providers >= USAGE_STATS_MAX_PROVIDERS)
        return p;
    if (!(p = calloc(1, sizeof *p))) return NULL;
    memcpy(p->id, id, strlen(id) + 1);
    for (int i = 0; i < USAGE_STATS_WINDOW_MIN; i++)
        p->buckets[i].minute = INT64_MIN;
    p->latency_last = -1;
    h = hash_id(id);
    p->next = slots[h];
    slots[h] = p;
    n_providers++;
    return p;
}

static int64_t minute_of(time_t t)
{
    int64_t s = (int64_t)t;
    return s >= 0 ? s / 60 : -((-s + 59) / 60); /* floor, also before 1970 */
}

static void add_to_minute(struct provider_stats *p, time_t at, long count, long errors)
{
    int64_t m = minute_of(at);
    struct minute_bucket *b =
        &p->buckets[((m % USAGE_STATS_WINDOW_MIN) + USAGE_STATS_WINDOW_MIN) % USAGE_STATS_WINDOW_MIN];
    if (b->minute > m)
        return; /* a newer minute holds the slot: `at` is more than 24 h older, outside any window */
    if (b->minute < m) {
        b->minute = m;
        b->count = b->errors = 0;
    }
    b->count += (uint32_t)(count > 0 ? count : 0);
    b->errors += (uint32_t)(errors > 0 ? errors : 0);
}

static void push_latency(struct provider_stats *p, int ms)
{
    p->latency[p->latency_head] = ms;
    p->latency_head = (p->latency_head + 1) % USAGE_STATS_RING;
    if (p->latency_n < USAGE_STATS_RING) p->latency_n++;
    p->latency_last = ms;
}

static void set_last_use(struct provider_stats *p, time_t at, const char *bot_id, const char *feature,
                         const char *trace_id)
{
    if (p->last_used_at && at < p->last_used_at) return; /* ties: the later call wins */
    p->last_used_at = at;
    copy_utf8(p->last_used_by_bot_id, sizeof p->last_used_by_bot_id, bot_id);
    copy_utf8(p->last_feature_used, sizeof p->last_feature_used, feature);
    copy_utf8(p->last_trace_id, sizeof p->last_trace_id, trace_id);
}

static void set_last_error(struct provider_stats *p, time_t at, const char *code)
{
    if (!code || !*code) return;
    if (p->last_error_code[0] && at < p->last_error_at) return;
    p->last_error_at = at;
    copy_utf8(p->last_error_code, sizeof p->last_error_code, code);
}

int usage_stats_record(const char *provider, time_t at, const char *status, const char *bot_id,
                       const char *feature, const char *error_code, int latency_ms, const char *trace_id)
{
    struct provider_stats *p = find_or_add(provider);
    int is_verify = status && strcmp(status, "VERIFY") == 0;
    if (!p) return -1;
    if (!is_verify) {
        add_to_minute(p, at, 1, status && strcmp(status, "ERROR") == 0);
        set_last_use(p, at, bot_id, feature, trace_id);
        if (latency_ms >= 0) push_latency(p, latency_ms);
    }
    set_last_error(p, at, error_code);
    return 0;
}

int usage_stats_add_counts(const char *provider, time_t at, long count, long errors)
{
    struct provider_stats *p = find_or_add(provider);
    if (!p) return -1;
    add_to_minute(p, at, count, errors);
    return 0;
}

int usage_stats_add_latency(const char *provider, int latency_ms)
{
    struct provider_stats *p = find_or_add(provider);
    if (!p || latency_ms < 0) return -1;
    push_latency(p, latency_ms);
    return 0;
}

int usage_stats_set_last_use(const char *provider, time_t at, const char *bot_id, const char *feature,
                             const char *trace_id)
{
    struct provider_stats *p = find_or_add(provider);
    if (!p) return -1;
    set_last_use(p, at, bot_id, feature, trace_id);
    return 0;
}

int usage_stats_set_last_error(const char *provider, time_t at, const char *error_code)
{
    struct provider_stats *p = find_or_add(provider);
    if (!p) return -1;
    set_last_error(p, at, error_code);
    return 0;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Nearest rank: the smallest sample with at least pct % of the samples at or below it. */
static int nearest_rank(const int *sorted, int n, int pct)
{
    int rank = (pct * n + 99) / 100;
    if (rank < 1) rank = 1;
    return sorted[rank - 1];
}

static void fill_counts(const struct provider_stats *p, time_t now, struct provider_usage *out)
{
    int64_t cur = minute_of(now);
    for (int i = 0; i < USAGE_STATS_WINDOW_MIN; i++) {
        const struct minute_bucket *b = &p->buckets[i];
        /* in (now - 24 h, now]; a minute slightly in the future (clock skew) still counts */
        if (b->minute == INT64_MIN || cur - b->minute >= USAGE_STATS_WINDOW_MIN) continue;
        out->count_24h += b->count;
        out->errors_24h += b->errors;
    }
}

void usage_stats_get(const char *provider, time_t now, struct provider_usage *out)
{
    const struct provider_stats *p = find(provider);
    int sorted[USAGE_STATS_RING];
    memset(out, 0, sizeof *out);
    out->latency_last_ms = out->latency_p50_ms = out->latency_p95_ms = -1;
    if (!p) return;
    fill_counts(p, now, out);
    out->last_used_at = p->last_used_at;
    memcpy(out->last_used_by_bot_id, p->last_used_by_bot_id, sizeof out->last_used_by_bot_id);
    memcpy(out->last_feature_used, p->last_feature_used, sizeof out->last_feature_used);
    memcpy(out->last_error_code, p->last_error_code, sizeof out->last_error_code);
    if (p->last_error_code[0] && now - p->last_error_at < SECONDS_24H)
        memcpy(out->last_error_code_24h, p->last_error_code, sizeof out->last_error_code_24h);
    memcpy(out->last_trace_id, p->last_trace_id, sizeof out->last_trace_id);
    if (p->latency_n > 0) {
        memcpy(sorted, p->latency,
               sizeof(int) * (size_t)p->latency_n); /* the ring's first n slots are filled */
        qsort(sorted, (size_t)p->latency_n, sizeof(int), cmp_int);
        out->latency_last_ms = p->latency_last;
        out->latency_p50_ms = nearest_rank(sorted, p->latency_n, 50);
        out->latency_p95_ms = nearest_rank(sorted, p->latency_n, 95);
    }
}

void usage_stats_reset(void)
{
    for (int i = 0; i < HASH_SLOTS; i++) {
        struct provider_stats *p = slots[i], *next;
        for (; p; p = next) {
            next = p->next;
            free(p);
        }
        slots[i] = NULL;
    }
    n_providers = 0;
    version++;
}
