/* marketdata.h — OHLCV bars from the caller's market-data candidates (the live stack's primary, then its
 * connected backups, in priority order), on the provider-call engine (provider_call_start, op "bars"):
 * requests are built from each provider's `bars` description in providers.lua (secrets substituted in C),
 * failover and classification are the engine's; this file parses the answer into bars. Every attempt is a
 * marketdata.bars usage event (metadata {format, attempt, failover}). */
#ifndef GATEHOUSE_MARKETDATA_H
#define GATEHOUSE_MARKETDATA_H

#include <jansson.h>
#include <time.h>

struct bar_series;
struct policy_gen;

struct marketdata_request {
    const char *symbol, *timeframe;
    int lookback_minutes;
    time_t end; /* exclusive end of the window (0 = now) */
    const char *bot_id, *run_id, *job_id, *trace_id;
    struct policy_gen *gen;   /* required: caller's reference, valid for the call (retained inside) */
    const json_t *candidates; /* ordered market-data provider ids (copied); NULL or [] = none */
};

struct marketdata_result {
    int ok;
    const char *provider_id;       /* who served the bars (or the last one tried) */
    const struct bar_series *bars; /* valid during the callback only */
    const char *error_code;        /* DATA_UNAVAILABLE or the last attempt's outcome when !ok */
    const json_t *attempts;        /* [{provider, outcome, latency_ms, records}] in the order tried */
};

typedef void (*marketdata_cb)(const struct marketdata_result *r, void *arg);

/* Starts fetching; cb runs exactly once — before this returns when no provider can be tried (no candidate).
 * Returns 0, or -1 on invalid input (no callback, no generation). */
int marketdata_fetch(const struct marketdata_request *req, marketdata_cb cb, void *arg);

/* As marketdata_fetch, on behalf of a signed-in user (uuid text, copied; NULL = none): every marketdata.bars
 * usage event of the fetch carries it. */
int marketdata_fetch_for(const struct marketdata_request *req, const char *user_id, marketdata_cb cb,
                         void *arg);

#endif
