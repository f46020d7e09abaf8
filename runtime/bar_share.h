/* bar_share.h — market data shared by the bots that tick in the same second.
 *
 * Scheduled ticks of many bots on one symbol would each fetch and parse the same bars (and, through a
 * provider's rate limit, starve each other). A shared fetch is keyed by (symbol, timeframe, lookback,
 * window end second, policy generation): the first bot of a second starts one marketdata_fetch and every
 * bot of that key that ticks while it runs, or later in the same second, is served from it. The generation is
 * the caller's (req->gen, the tick's): a share never mixes two generations. The candidates are the first
 * bot's (every tick of a second is gated against the same cached decision). The bars as JSON and the features
 * computed from them (scripts/features.lua, memoized per bot params) are built once per share. A private
 * (unshared) fetch uses the same handle, so the runner has one code path: manual ticks always fetch fresh.
 *
 * Telemetry stays one row per call: the first bot's fetch records its marketdata.bars rows (the real
 * provider calls). Every other bot served from the share records one `runner` / `marketdata.bars.shared`
 * row: status OK or ERROR, records, its wait in latency_ms, metadata {provider, source_trace_id}.
 *
 * Single-threaded (the event loop). Entries expire when their second has passed. */
#ifndef GATEHOUSE_BAR_SHARE_H
#define GATEHOUSE_BAR_SHARE_H

#include <jansson.h>

#include "marketdata.h"

struct policy_gen;
struct bar_share;

/* r is the fetch's outcome (r->bars is also held by s); shared is 1 when another bot's fetch served it.
 * The callee owns one reference to s and drops it with bar_share_release(). */
typedef void (*bar_share_cb)(struct bar_share *s, const struct marketdata_result *r, int shared, void *arg);

/* Fetches bars for req (req->end 0 = now; req->gen and req->candidates as marketdata_fetch). share 1 joins or
 * serves from the shared fetch of the key, share 0 always starts a private one. cb runs exactly once,
 * possibly before this returns. Returns 0, or -1 on invalid input (cb is then not called). */
int bar_share_fetch(const struct marketdata_request *req, int share, bar_share_cb cb, void *arg);

/* As bar_share_fetch, for a tick a signed-in user asked for (uuid text or NULL): a private fetch (share 0)
 * records its marketdata.bars usage events with the user; a shared fetch ignores it. */
int bar_share_fetch_for(const struct marketdata_request *req, int share, const char *user_id, bar_share_cb cb,
                        void *arg);

/* The newest last_n bars of the answer as JSON (bars_to_json shape), built once; borrowed, valid while s is
 * held, never to be modified. NULL when the fetch failed. */
json_t *bar_share_bars_json(struct bar_share *s, size_t last_n);

/* scripts/features.lua compute(bars, params) over bar_share_bars_json(s, last_n), and over the same bars
 * without the newest one (*prev; NULL when that call fails), memoized per (gen, params). New references in
 * features and prev. Returns 0, or -1 when compute over all bars failed (err filled; nothing memoized). */
int bar_share_features(struct bar_share *s, size_t last_n, struct policy_gen *gen, const json_t *params,
                       json_t **features, json_t **prev, char *err, size_t errlen);

/* The trace id of the tick whose fetch made this answer. */
const char *bar_share_source_trace(const struct bar_share *s);

/* Drops one reference. NULL is allowed. */
void bar_share_release(struct bar_share *s);

/* Drops every cached share (shutdown; pending fetches finish and free their own). */
void bar_share_clear(void);

#endif
