/* gen_events.c — synthetic integration_usage_events rows in COPY text format, for the bench seeder.
 *
 *   gen_events COUNT DAYS SEED [END_EPOCH]
 *
 * Writes COUNT rows (tab-separated, the 16 columns of the table in declaration order) to stdout, spread
 * uniformly over the DAYS days that end at END_EPOCH (default now), so every daily partition of that range
 * gets rows. The mix is what a fleet of bots produces (PRODUCT.md §5): market data calls dominate, each tick
 * adds risk.check and runner.tick rows, LLM calls carry token counts, a few brokers place orders, a few
 * percent of calls fail or are blocked, and verify probes (no bot) are rare. 1,000 bots, deterministic for
 * a given SEED. Usage: gen_events 1000000 14 1 | psql -c "COPY integration_usage_events FROM STDIN". */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BOTS 1000

static uint64_t rng_state;

static uint64_t rnd(void) /* xorshift64* */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

static unsigned below(unsigned n)
{
    return (unsigned)((rnd() >> 11) % n);
}

static void hex(char *out, int n)
{
    static const char digits[] = "0123456789abcdef";
    uint64_t r = rnd();
    for (int i = 0; i < n; i++) {
        if (i % 16 == 15) r = rnd();
        out[i] = digits[r & 15];
        r >>= 4;
    }
}

/* A version-4 UUID from the generator. */
static void uuid(char out[37])
{
    hex(out, 36);
    out[8] = out[13] = out[18] = out[23] = '-';
    out[14] = '4';
    out[19] = "89ab"[rnd() & 3];
    out[36] = '\0';
}

struct source {
    const char *provider;
    const char *const *ops; /* NULL-terminated */
    int weight;             /* per mille */
    int latency_base, latency_spread;
    int llm;                /* metadata carries model and token counts */
};

static const char *const md_ops[] = {"marketdata.bars", "marketdata.bars", "marketdata.quote", NULL};
static const char *const broker_ops[] = {"broker.auth", "broker.place_order", "broker.positions", NULL};
static const char *const llm_ops[] = {"llm.chat", NULL};
static const char *const risk_ops[] = {"risk.check", NULL};
static const char *const runner_ops[] = {"runner.tick", "runner.tick", "runner.start", NULL};
static const char *const sched_ops[] = {"scheduler.lease", NULL};
static const char *const alert_ops[] = {"alerts.send", NULL};

static const struct source sources[] = {
    {"databento", md_ops, 230, 40, 160, 0},     {"polygon", md_ops, 80, 60, 200, 0},
    {"finnhub", md_ops, 20, 50, 150, 0},        {"alphavantage", md_ops, 10, 120, 400, 0},
    {"fmp", md_ops, 10, 80, 200, 0},            {"fred", md_ops, 5, 90, 200, 0},
    {"unusual_whales", md_ops, 5, 100, 300, 0}, {"ironbeam", broker_ops, 20, 70, 250, 0},
    {"tradovate", broker_ops, 20, 80, 250, 0},  {"openai", llm_ops, 30, 400, 1600, 1},
    {"anthropic", llm_ops, 20, 500, 1800, 1},   {"google_gemini", llm_ops, 10, 350, 1400, 1},
    {"groq", llm_ops, 10, 120, 500, 1},         {"xai", llm_ops, 5, 400, 1500, 1},
    {"openrouter", llm_ops, 5, 500, 1800, 1},   {"redis", sched_ops, 10, 1, 4, 0},
    {"discord", alert_ops, 5, 150, 300, 0},     {"risk_engine", risk_ops, 230, 0, 3, 0},
    {"runner", runner_ops, 240, 20, 90, 0},     {"scheduler", sched_ops, 20, 1, 5, 0},
};
#define NSOURCES (sizeof sources / sizeof *sources)

static const char *const symbols[] = {"ESZ6", "NQZ6", "CLF7", "GCG7", "SPY", "QQQ", "AAPL", "MSFT"};
static const char *const timeframes[] = {"1m", "1m", "5m", "15m", "1h"};
static const char *const models[] = {"gpt-4o-mini", "claude-3-5-haiku", "gemini-1.5-flash", "llama-3.1-8b"};
static const char *const errors[] = {"TIMEOUT", "PROVIDER_ERROR", "RATE_LIMITED", "NETWORK_ERROR"};
static const char *const features[] = {"close", "rsi_14", "atr_14", "vwap", "ema_20", "regime"};

static const struct source *pick_source(void)
{
    int total = 0, r;
    for (size_t i = 0; i < NSOURCES; i++) total += sources[i].weight;
    r = (int)below((unsigned)total);
    for (size_t i = 0; i < NSOURCES; i++) {
        if (r < sources[i].weight) return &sources[i];
        r -= sources[i].weight;
    }
    return &sources[0];
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: gen_events COUNT DAYS SEED [END_EPOCH]\n");
        return 2;
    }
    long long count = atoll(argv[1]);
    int days = atoi(argv[2]);
    rng_state = 0x9E3779B97F4A7C15ULL ^ (uint64_t)atoll(argv[3]) * 0xBF58476D1CE4E5B9ULL;
    if (!rng_state) rng_state = 1;
    time_t end = argc > 4 ? (time_t)atoll(argv[4]) : time(NULL);
    long long span_us = (long long)days * 86400LL * 1000000LL;
    static char bots[BOTS][37], buf[1 << 16];
    for (int i = 0; i < BOTS; i++) uuid(bots[i]);
    setvbuf(stdout, buf, _IOFBF, sizeof buf);

    for (long long n = 0; n < count; n++) {
        const struct source *s = pick_source();
        unsigned nops = 0;
        while (s->ops[nops]) nops++;
        const char *op = s->ops[below(nops)];
        unsigned roll = below(1000);
        int verify = roll < 8 && s->weight < 200, blocked = !verify && roll < 25, error = !verify && !blocked && roll < 65;
        const char *status = verify ? "VERIFY" : blocked ? "BLOCKED" : error ? "ERROR" : "OK";
        char id[37], run[37], trace[33], at[40];
        long long off_us = (long long)((rnd() >> 11) % (uint64_t)span_us);
        long long t_us = (long long)end * 1000000LL - off_us;
        time_t secs = (time_t)(t_us / 1000000LL);
        struct tm tm;
        gmtime_r(&secs, &tm);
        size_t k = strftime(at, sizeof at, "%Y-%m-%d %H:%M:%S", &tm);
        snprintf(at + k, sizeof at - k, ".%06lld+00", t_us % 1000000LL);
        uuid(id);
        hex(trace, 32);
        trace[32] = '\0';
        const char *bot = verify ? NULL : bots[below(BOTS)];
        int has_run = bot && below(10) < 9;
        if (has_run) uuid(run);
        int md = strncmp(op, "marketdata", 10) == 0;
        int latency = s->latency_base + (int)below((unsigned)s->latency_spread + 1);

        printf("%s\t%s\t\\N\t%s\t%s\t\\N\t%s\t%s\t%s\t", id, at, bot ? bot : "\\N", has_run ? run : "\\N",
               s->provider, verify ? "verify" : op, status);
        if (blocked) printf("\\N\t");
        else printf("%d\t", latency);
        if (md || strcmp(op, "runner.tick") == 0 || strcmp(op, "risk.check") == 0)
            printf("%s\t%s\t", symbols[below(8)], timeframes[below(5)]);
        else printf("\\N\t\\N\t");
        if (md && !error && !blocked) printf("%u\t", 50 + below(450));
        else printf("\\N\t");
        if (error || blocked) printf("%s\t", blocked ? "LIVE_TRADING_DISABLED" : errors[below(4)]);
        else printf("\\N\t");
        printf("%s\t", trace);
        if (s->llm && !verify)
            printf("{\"model\": \"%s\", \"purpose\": \"regime\", \"prompt_tokens\": %u, \"completion_tokens\": %u}\n",
                   models[below(4)], 200 + below(1800), 5 + below(60));
        else if (md && !verify)
            printf("{\"endpoint\": \"bars\", \"feature_keys_used\": [\"%s\", \"close\"]}\n", features[below(6)]);
        else if (strcmp(op, "broker.place_order") == 0)
            printf("{\"order_action\": \"%s\", \"qty\": %u}\n", below(2) ? "BUY" : "SELL", 1 + below(3));
        else
            printf("{}\n");
    }
    return fflush(stdout) == 0 ? 0 : 1;
}
