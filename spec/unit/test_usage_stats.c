/* test_usage_stats.c — rolling per-provider aggregates: 24 h minute buckets, VERIFY excluded from use,
 * last bot/feature/error, nearest-rank p50/p95 and the 256-sample latency ring. */
#include <string.h>

#include "tap.h"
#include "usage_stats.h"

#define T0 ((time_t)1700000000) /* a fixed clock: tests never read the real one */
#define TRACE "0123456789abcdef0123456789abcdef"
#define BOT_A "11111111-1111-4111-8111-111111111111"
#define BOT_B "22222222-2222-4222-8222-222222222222"

static struct provider_usage get(const char *provider, time_t now)
{
    struct provider_usage u;
    usage_stats_get(provider, now, &u);
    return u;
}

static void test_unknown_provider(void)
{
    struct provider_usage u = get("nobody", T0);
    tap_is_int(u.count_24h, 0, "unknown provider: count 0");
    tap_is_int(u.last_used_at, 0, "unknown provider: never used");
    tap_is_str(u.last_used_by_bot_id, "", "unknown provider: no bot");
    tap_is_int(u.latency_last_ms, -1, "unknown provider: latency last -1");
    tap_is_int(u.latency_p50_ms, -1, "unknown provider: p50 -1");
    tap_is_int(u.latency_p95_ms, -1, "unknown provider: p95 -1");
}

static void test_window(void)
{
    usage_stats_reset();
    /* 3 calls at T0, 2 of them errors; 1 call 10 minutes later; 1 call 23 h 59 min earlier */
    usage_stats_record("databento", T0, "OK", BOT_A, "sma_20", NULL, 10, TRACE);
    usage_stats_record("databento", T0 + 5, "ERROR", BOT_A, "sma_20", "PROVIDER_TIMEOUT", 20, TRACE);
    usage_stats_record("databento", T0 + 7, "ERROR", BOT_A, "sma_20", "PROVIDER_5XX", 30, TRACE);
    usage_stats_record("databento", T0 + 600, "OK", BOT_A, "sma_20", NULL, 40, TRACE);
    usage_stats_record("databento", T0 - 86340, "BLOCKED", BOT_A, "x", NULL, -1, TRACE);

    struct provider_usage u = get("databento", T0);
    tap_is_int(u.count_24h, 5, "every use row of the last 24 h counts (BLOCKED too, a future minute too)");
    tap_is_int(u.errors_24h, 2, "ERROR rows are counted as errors");
    u = get("databento", T0 + 60);
    tap_is_int(u.count_24h, 4, "the row from 23:59 ago rolls out when its minute is 24 h old");
    u = get("databento", T0 - (T0 % 60) + 86400 - 1);
    tap_is_int(u.count_24h, 4, "a minute still counts 23:59 after it started");
    u = get("databento", T0 - (T0 % 60) + 86400);
    tap_is_int(u.count_24h, 1, "T0's minute rolls out exactly 24 h after it began");
    tap_is_int(u.errors_24h, 0, "its errors roll out with it");
    u = get("databento", T0 + 600 + 86400);
    tap_is_int(u.count_24h, 0, "everything rolls out after 24 h");

    /* a slot reused by a later day starts from zero */
    usage_stats_record("databento", T0 + 86400, "OK", BOT_A, "sma_20", NULL, -1, TRACE);
    u = get("databento", T0 + 86400);
    tap_is_int(u.count_24h, 2, "a bucket reused a day later forgets the old minute (1 new + T0+600)");
    /* a row older than what its slot holds is outside every window: ignored */
    usage_stats_record("databento", T0 - 86400 * 2, "OK", BOT_A, "sma_20", NULL, -1, TRACE);
    u = get("databento", T0 + 86400);
    tap_is_int(u.count_24h, 2, "a row two days old does not disturb the bucket");

    usage_stats_add_counts("databento", T0 + 86400 + 30, 1000, 7);
    u = get("databento", T0 + 86400 + 30);
    tap_is_int(u.count_24h, 1002, "seeded counts add to the minute");
    tap_is_int(u.errors_24h, 7, "seeded errors add to the minute");
}

static void test_verify_excluded(void)
{
    usage_stats_reset();
    usage_stats_record("polygon", T0, "OK", BOT_A, "vwap", NULL, 15, TRACE);
    usage_stats_record("polygon", T0 + 10, "VERIFY", NULL, "verify", "AUTH_FAILED", 900,
                       "ffffffffffffffffffffffffffffffff");
    struct provider_usage u = get("polygon", T0 + 20);
    tap_is_int(u.count_24h, 1, "VERIFY is not use: count unchanged");
    tap_is_int(u.last_used_at, T0, "VERIFY does not move last_used_at");
    tap_is_str(u.last_used_by_bot_id, BOT_A, "VERIFY does not change the last bot");
    tap_is_str(u.last_feature_used, "vwap", "VERIFY does not change the last feature");
    tap_is_str(u.last_trace_id, TRACE, "VERIFY does not change the last trace id");
    tap_is_int(u.latency_last_ms, 15, "VERIFY latency is not mixed into use latency");
    tap_is_int(u.latency_p95_ms, 15, "VERIFY latency is not in the percentiles");
    tap_is_str(u.last_error_code, "AUTH_FAILED", "VERIFY error codes do update last_error_code");
    tap_is_str(u.last_error_code_24h, "AUTH_FAILED", "... and last_error_code_24h");

    usage_stats_reset();
    usage_stats_record("polygon", T0, "VERIFY", NULL, "verify", NULL, 100, TRACE);
    u = get("polygon", T0);
    tap_ok(u.count_24h == 0 && u.last_used_at == 0 && u.latency_last_ms == -1,
           "a provider with only VERIFY rows is not in use and has no latency");
}

static void test_last_fields(void)
{
    usage_stats_reset();
    usage_stats_record("openai", T0, "OK", BOT_A, "regime", NULL, 5, TRACE);
    usage_stats_record("openai", T0 + 1, "ERROR", BOT_B, "atr_14", "LLM_RATE_LIMITED", 6,
                       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    struct provider_usage u = get("openai", T0 + 2);
    tap_is_str(u.last_used_by_bot_id, BOT_B, "last bot is the latest caller");
    tap_is_str(u.last_feature_used, "atr_14", "last feature is the latest one");
    tap_is_str(u.last_trace_id, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "last trace id is the latest one");
    tap_is_int(u.last_used_at, T0 + 1, "last_used_at is the latest call");
    tap_is_str(u.last_error_code, "LLM_RATE_LIMITED", "last error code");

    usage_stats_record("openai", T0 + 3, "OK", NULL, NULL, NULL, -1, TRACE);
    u = get("openai", T0 + 3);
    tap_is_str(u.last_used_by_bot_id, "", "a later call without a bot clears the last bot");
    tap_is_str(u.last_error_code, "LLM_RATE_LIMITED", "a success keeps the last error code");
    tap_is_int(u.latency_last_ms, 6, "a call without latency keeps the last latency");

    /* an older row arriving late (seeding, replay) does not override newer last fields */
    usage_stats_record("openai", T0 - 100, "ERROR", BOT_A, "old", "OLD_CODE", 1, TRACE);
    u = get("openai", T0 + 4);
    tap_is_int(u.last_used_at, T0 + 3, "an older row does not move last_used_at back");
    tap_is_str(u.last_error_code, "LLM_RATE_LIMITED", "an older error does not replace a newer one");
    tap_is_int(u.latency_last_ms, 1, "latency samples are kept in arrival order");

    u = get("openai", T0 + 1 + 86399);
    tap_is_str(u.last_error_code_24h, "LLM_RATE_LIMITED", "last_error_code_24h just under 24 h");
    u = get("openai", T0 + 1 + 86400);
    tap_is_str(u.last_error_code_24h, "", "last_error_code_24h empty once the error is 24 h old");
    tap_is_str(u.last_error_code, "LLM_RATE_LIMITED", "last_error_code is kept forever");

    usage_stats_set_last_use("openai", T0 + 10, BOT_A, "seeded", TRACE);
    usage_stats_set_last_error("openai", T0 + 10, "SEEDED");
    u = get("openai", T0 + 10);
    tap_is_str(u.last_feature_used, "seeded", "set_last_use sets newer fields");
    tap_is_str(u.last_error_code, "SEEDED", "set_last_error sets a newer code");

    /* long values are cut on a UTF-8 boundary */
    char feat[200];
    memset(feat, 'a', 62);
    strcpy(feat + 62, "\xc3\xa9zzz"); /* "é" straddles the 63-byte limit */
    usage_stats_record("openai", T0 + 20, "OK", BOT_A, feat, NULL, -1, TRACE);
    u = get("openai", T0 + 20);
    tap_is_int(strlen(u.last_feature_used), 62, "truncation drops a split multi-byte character");

    tap_is_int(usage_stats_record("", T0, "OK", NULL, NULL, NULL, 1, TRACE), -1, "empty provider id refused");
    memset(feat, 'p', 100);
    feat[100] = '\0';
    tap_is_int(usage_stats_record(feat, T0, "OK", NULL, NULL, NULL, 1, TRACE), -1,
               "overlong provider id refused");
    tap_is_int(usage_stats_record("runner", T0, "OK", NULL, NULL, NULL, 1, TRACE), 0,
               "subsystems are providers too");
}

static void test_percentiles(void)
{
    usage_stats_reset();
    /* 1..20 shuffled: nearest rank p50 = 10th = 10, p95 = 19th = 19 */
    int vals[20] = {7, 3, 20, 1, 15, 9, 12, 18, 5, 2, 11, 19, 4, 16, 8, 14, 6, 17, 13, 10};
    for (int i = 0; i < 20; i++)
        usage_stats_record("alpaca", T0 + i, "OK", BOT_A, "f", NULL, vals[i], TRACE);
    struct provider_usage u = get("alpaca", T0 + 30);
    tap_is_int(u.latency_p50_ms, 10, "p50 nearest rank of 1..20 is 10");
    tap_is_int(u.latency_p95_ms, 19, "p95 nearest rank of 1..20 is 19");
    tap_is_int(u.latency_last_ms, 10, "last latency is the last sample");

    usage_stats_reset();
    usage_stats_record("alpaca", T0, "OK", BOT_A, "f", NULL, 42, TRACE);
    u = get("alpaca", T0);
    tap_ok(u.latency_p50_ms == 42 && u.latency_p95_ms == 42, "one sample: p50 = p95 = it");

    usage_stats_reset();
    int four[4] = {100, 1, 50, 7}; /* sorted 1 7 50 100: p50 rank 2 = 7, p95 rank 4 = 100 */
    for (int i = 0; i < 4; i++)
        usage_stats_add_latency("alpaca", four[i]);
    u = get("alpaca", T0);
    tap_is_int(u.latency_p50_ms, 7, "p50 of 4 samples is the 2nd smallest");
    tap_is_int(u.latency_p95_ms, 100, "p95 of 4 samples is the largest");
}

static void test_ring_wrap(void)
{
    usage_stats_reset();
    /* 256 slow samples, then 256 fast ones: the slow ones must all be gone */
    for (int i = 0; i < USAGE_STATS_RING; i++)
        usage_stats_record("tradovate", T0, "OK", BOT_A, "f", NULL, 1000 + i, TRACE);
    struct provider_usage u = get("tradovate", T0);
    tap_is_int(u.latency_p50_ms, 1127, "full ring: p50 = 128th of 1000..1255");
    tap_is_int(u.latency_p95_ms, 1243, "full ring: p95 = 244th of 1000..1255");
    /* 243 zeros overwrite the 243 oldest (1000..1242): 13 slow samples left, the smallest is rank 244 = p95
     */
    for (int i = 0; i < 243; i++)
        usage_stats_record("tradovate", T0, "OK", BOT_A, "f", NULL, 0, TRACE);
    u = get("tradovate", T0);
    tap_is_int(u.latency_p95_ms, 1243, "after 243 more, the oldest 243 are gone and 1243 is p95");
    tap_is_int(u.latency_p50_ms, 0, "p50 = 0");
    usage_stats_record("tradovate", T0, "OK", BOT_A, "f", NULL, 0, TRACE);
    u = get("tradovate", T0);
    tap_is_int(u.latency_p95_ms, 0, "one more overwrites 1243: p95 drops to 0");
    tap_is_int(u.latency_last_ms, 0, "last = 0");
    for (int i = 0; i < 12; i++)
        usage_stats_record("tradovate", T0, "OK", BOT_A, "f", NULL, 5, TRACE);
    u = get("tradovate", T0);
    tap_is_int(u.latency_p95_ms, 0, "after 256 new samples: 244 zeros, 12 fives, p95 = 0");
    tap_is_int(u.latency_last_ms, 5, "last = 5");
    tap_is_int(u.count_24h, 2 * USAGE_STATS_RING, "all 512 calls counted in the same minute");
}

static void test_many_providers(void)
{
    char id[32];
    int ok = 1;
    usage_stats_reset();
    for (int i = 0; i < USAGE_STATS_MAX_PROVIDERS; i++) {
        snprintf(id, sizeof id, "p%d", i);
        ok &= usage_stats_record(id, T0, "OK", NULL, NULL, NULL, i, TRACE) == 0;
    }
    tap_ok(ok, "%d distinct providers are aggregated", USAGE_STATS_MAX_PROVIDERS);
    tap_is_int(usage_stats_record("one-too-many", T0, "OK", NULL, NULL, NULL, 1, TRACE), -1,
               "beyond the bound a new id is refused");
    tap_is_int(get("p777", T0).latency_last_ms, 777, "lookups still find each provider");
    usage_stats_reset();
    tap_is_int(get("p777", T0).count_24h, 0, "reset forgets everything");
}

int main(void)
{
    test_unknown_provider();
    test_window();
    test_verify_excluded();
    test_last_fields();
    test_percentiles();
    test_ring_wrap();
    test_many_providers();
    usage_stats_reset();
    return tap_done();
}
