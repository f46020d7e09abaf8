/* bar_share.c — one market-data fetch per key and second, shared by the ticking bots (see bar_share.h). */
#include "bar_share.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bar_store.h"
#include "bars.h"
#include "clock.h"
#include "policy.h"
#include "telemetry.h"

#define MAX_CACHED 512 /* 10 symbols x 2 timeframes x (SHARE_GRACE_S + 1) seconds, and room */
#define SHARE_GRACE_S 5
#define MAX_MEMO 8

struct waiter {
    struct waiter *next;
    char bot_id[37], run_id[37], trace_id[33];
    double since_ms;
    int leader; /* the bot whose fetch this is: its marketdata.bars rows are already recorded */
    bar_share_cb cb;
    void *arg;
};

struct memo {
    struct policy_gen *gen;
    char *params_key;
    json_t *features, *prev;
};

struct bar_share {
    int refs, done, cached;
    char key[128];
    time_t end;
    struct policy_gen *gen;
    char symbol[32], timeframe[8], source_trace[33];
    struct waiter *waiters;
    /* the answer, once done */
    int ok;
    char provider[64], error_code[32];
    json_t *attempts;
    struct bar_series bars;
    json_t *bars_json;
    size_t bars_json_n;
    struct memo memo[MAX_MEMO];
    int n_memo;
};

static struct bar_share *cache[MAX_CACHED];
static int n_cached;

static void share_free(struct bar_share *s)
{
    for (int i = 0; i < s->n_memo; i++) {
        free(s->memo[i].params_key);
        json_decref(s->memo[i].features);
        json_decref(s->memo[i].prev);
        policy_release(s->memo[i].gen);
    }
    json_decref(s->attempts);
    json_decref(s->bars_json);
    bars_free(&s->bars);
    policy_release(s->gen);
    free(s);
}

void bar_share_release(struct bar_share *s)
{
    if (s && --s->refs == 0) share_free(s);
}

/* Removes entry i from the cache and drops the cache's reference. */
static void uncache_at(int i)
{
    struct bar_share *s = cache[i];
    cache[i] = cache[--n_cached];
    s->cached = 0;
    bar_share_release(s);
}

/* Drops shares whose second is more than SHARE_GRACE_S past: a tick that reaches its bars late (a loaded
 * instance) still finds the answer of its own second instead of fetching (and storing) it once more. */
static void expire(time_t now)
{
    for (int i = n_cached - 1; i >= 0; i--)
        if (cache[i]->end < now - SHARE_GRACE_S) uncache_at(i);
}

static struct bar_share *find(const char *key, const struct policy_gen *gen)
{
    for (int i = 0; i < n_cached; i++)
        if (cache[i]->gen == gen && strcmp(cache[i]->key, key) == 0) return cache[i];
    return NULL;
}

static int copy_series(struct bar_series *dst, const struct bar_series *src)
{
    memset(dst, 0, sizeof *dst);
    snprintf(dst->symbol, sizeof dst->symbol, "%s", src ? src->symbol : "");
    if (!src || src->n == 0) return 0;
    dst->bars = malloc(src->n * sizeof *dst->bars);
    if (!dst->bars) return -1;
    memcpy(dst->bars, src->bars, src->n * sizeof *dst->bars);
    dst->n = dst->cap = src->n;
    return 0;
}

/* The row of a bot served by another bot's fetch: a use of the shared answer, not a provider call. */
static void record_shared_use(const struct bar_share *s, const struct waiter *w)
{
    json_t *meta =
        json_pack("{s:o, s:s}", "provider", s->provider[0] ? json_string(s->provider) : json_null(),
                  "source_trace_id", s->source_trace);
    struct usage_event ev = {.provider_id = "runner",
                             .operation = "marketdata.bars.shared",
                             .status = s->ok ? "OK" : "ERROR",
                             .bot_id = w->bot_id[0] ? w->bot_id : NULL,
                             .run_id = w->run_id[0] ? w->run_id : NULL,
                             .latency_ms = (int)(clock_now_ms() - w->since_ms),
                             .symbol = s->symbol,
                             .timeframe = s->timeframe,
                             .records = s->ok ? (int)s->bars.n : 0,
                             .error_code = s->ok ? NULL : s->error_code,
                             .trace_id = w->trace_id,
                             .metadata = meta};
    telemetry_usage(&ev);
    json_decref(meta);
}

/* Hands the answer to one waiter; the waiter's reference passes to its callback. */
static void serve(struct bar_share *s, struct waiter *w)
{
    struct marketdata_result r = {s->ok, s->provider[0] ? s->provider : NULL, &s->bars,
                                  s->ok ? NULL : s->error_code, s->attempts};
    if (!w->leader) record_shared_use(s, w);
    w->cb(s, &r, !w->leader, w->arg);
    free(w);
}

static void on_fetched(const struct marketdata_result *r, void *arg)
{
    struct bar_share *s = arg;
    s->ok = r->ok && copy_series(&s->bars, r->bars) == 0;
    snprintf(s->provider, sizeof s->provider, "%s", r->provider_id ? r->provider_id : "");
    snprintf(s->error_code, sizeof s->error_code, "%s",
             r->ok           ? (s->ok ? "" : "DATA_UNAVAILABLE")
             : r->error_code ? r->error_code
                             : "DATA_UNAVAILABLE");
    s->attempts = json_incref((json_t *)r->attempts);
    s->done = 1;
    /* a failed answer is not shared beyond the bots already waiting: the next bot of the second tries again
     */
    if (!r->ok && s->cached)
        for (int i = 0; i < n_cached; i++)
            if (cache[i] == s) {
                uncache_at(i);
                break;
            }
    s->refs++; /* the fetch's own reference, held across the callbacks */
    while (s->waiters) {
        struct waiter *w = s->waiters;
        s->waiters = w->next;
        serve(s, w);
    }
    /* the bars this fetch served, kept for the chart: once per fetch whoever it served, after the waiters */
    if (s->ok) bar_store_tick(s->symbol, s->timeframe, &s->bars, s->provider, s->source_trace);
    bar_share_release(s); /* the fetch's own */
    bar_share_release(s); /* the reference marketdata_fetch held */
}

static struct waiter *waiter_new(const struct marketdata_request *req, int leader, bar_share_cb cb, void *arg)
{
    struct waiter *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    snprintf(w->bot_id, sizeof w->bot_id, "%s", req->bot_id ? req->bot_id : "");
    snprintf(w->run_id, sizeof w->run_id, "%s", req->run_id ? req->run_id : "");
    snprintf(w->trace_id, sizeof w->trace_id, "%s", req->trace_id);
    w->since_ms = clock_now_ms();
    w->leader = leader;
    w->cb = cb;
    w->arg = arg;
    return w;
}

/* A new share for req and its first waiter; the fetch starts (and may finish) here. */
static int start_share(const struct marketdata_request *req, time_t end, const char *key, int share,
                       const char *user_id, bar_share_cb cb, void *arg)
{
    struct bar_share *s = calloc(1, sizeof *s);
    if (!s) return -1;
    s->waiters = waiter_new(req, 1, cb, arg);
    if (!s->waiters) {
        free(s);
        return -1;
    }
    snprintf(s->key, sizeof s->key, "%s", key);
    snprintf(s->symbol, sizeof s->symbol, "%s", req->symbol);
    snprintf(s->timeframe, sizeof s->timeframe, "%s", req->timeframe);
    snprintf(s->source_trace, sizeof s->source_trace, "%s", req->trace_id);
    s->end = end;
    s->gen = policy_retain(req->gen);
    s->refs = 2; /* the first waiter's, and the fetch's */
    if (share && n_cached < MAX_CACHED) {
        s->refs++;
        s->cached = 1;
        cache[n_cached++] = s;
    }
    struct marketdata_request mr = *req;
    mr.end = end;
    if (marketdata_fetch_for(&mr, user_id, on_fetched, s) < 0) {
        /* cannot happen for a request validated above; answer the waiter as a failed fetch */
        struct marketdata_result r = {0, NULL, NULL, "DATA_UNAVAILABLE", NULL};
        json_t *none = json_array();
        r.attempts = none;
        on_fetched(&r, s);
        json_decref(none);
    }
    return 0;
}

int bar_share_fetch(const struct marketdata_request *req, int share, bar_share_cb cb, void *arg)
{
    return bar_share_fetch_for(req, share, NULL, cb, arg);
}

int bar_share_fetch_for(const struct marketdata_request *req, int share, const char *user_id, bar_share_cb cb,
                        void *arg)
{
    char key[128];
    if (!req || !req->symbol || !req->timeframe || !req->trace_id || req->lookback_minutes <= 0 ||
        !req->gen || !cb)
        return -1;
    time_t now = clock_wall_s(), end = req->end ? req->end : now;
    expire(now);
    snprintf(key, sizeof key, "%s|%s|%d|%lld", req->symbol, req->timeframe, req->lookback_minutes,
             (long long)end);
    struct bar_share *s = share ? find(key, req->gen) : NULL;
    /* a shared fetch serves many bots' scheduled ticks: it is nobody's in particular */
    if (!s) return start_share(req, end, key, share, share ? NULL : user_id, cb, arg);
    struct waiter *w = waiter_new(req, 0, cb, arg);
    if (!w) return -1;
    s->refs++;
    if (s->done) {
        serve(s, w);
        return 0;
    }
    w->next = s->waiters;
    s->waiters = w;
    return 0;
}

json_t *bar_share_bars_json(struct bar_share *s, size_t last_n)
{
    if (!s || !s->ok) return NULL;
    if (!s->bars_json || s->bars_json_n != last_n) {
        json_decref(s->bars_json);
        s->bars_json = bars_to_json(&s->bars, last_n);
        s->bars_json_n = last_n;
    }
    return s->bars_json;
}

/* features.lua compute(bars, params): the first result, or NULL (err filled). */
static json_t *compute(struct policy_gen *gen, const json_t *bars, const json_t *params, char *err,
                       size_t errlen)
{
    const json_t *args[2] = {bars, params};
    return policy_call_first(gen, "scripts/features.lua", "compute", args, params ? 2 : 1, err, errlen);
}

static struct memo *memo_find(struct bar_share *s, const struct policy_gen *gen, const char *params_key)
{
    for (int i = 0; i < s->n_memo; i++)
        if (s->memo[i].gen == gen && strcmp(s->memo[i].params_key, params_key) == 0) return &s->memo[i];
    return NULL;
}

/* Stores a computed pair; when the memo is full the pair is simply not kept. */
static void memo_put(struct bar_share *s, struct policy_gen *gen, char *params_key, json_t *features,
                     json_t *prev)
{
    if (s->n_memo >= MAX_MEMO) {
        free(params_key);
        return;
    }
    struct memo *m = &s->memo[s->n_memo++];
    m->gen = policy_retain(gen);
    m->params_key = params_key;
    m->features = json_incref(features);
    m->prev = json_incref(prev);
}

int bar_share_features(struct bar_share *s, size_t last_n, struct policy_gen *gen, const json_t *params,
                       json_t **features, json_t **prev, char *err, size_t errlen)
{
    json_t *bars = bar_share_bars_json(s, last_n);
    *features = *prev = NULL;
    if (!bars) {
        snprintf(err, errlen, "no bars");
        return -1;
    }
    char *params_key =
        params ? json_dumps(params, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : strdup("");
    struct memo *m = params_key ? memo_find(s, gen, params_key) : NULL;
    if (m) {
        free(params_key);
        *features = json_incref(m->features);
        *prev = json_incref(m->prev);
        return 0;
    }
    *features = compute(gen, bars, params, err, errlen);
    if (!json_is_object(*features)) {
        json_decref(*features);
        *features = NULL;
        free(params_key);
        return -1;
    }
    json_t *older = json_array();
    size_t n = json_array_size(bars);
    for (size_t i = 0; i + 1 < n; i++)
        json_array_append(older, json_array_get(bars, i));
    char perr[256];
    *prev = compute(gen, older, params, perr, sizeof perr);
    json_decref(older);
    if (params_key) memo_put(s, gen, params_key, *features, *prev);
    return 0;
}

const char *bar_share_source_trace(const struct bar_share *s)
{
    return s ? s->source_trace : "";
}

void bar_share_clear(void)
{
    while (n_cached > 0)
        uncache_at(n_cached - 1);
}
