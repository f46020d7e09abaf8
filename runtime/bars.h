/* bars.h — OHLCV bar parsers for the market-data providers (Databento JSON lines, Polygon/Massive /v2/aggs,
 * Finnhub /stock/candle, Alpha Vantage TIME_SERIES_INTRADAY) and their conversion to JSON for the Lua
 * feature policy. Pure: no I/O, no clock, no globals; depends on jansson and libm only.
 *
 * A struct bar_series is valid when zero-initialised (`struct bar_series s = {0};`) and is released with
 * bars_free(). Its bars are always sorted by t_ms, strictly increasing (one bar per start time).
 *
 * Contract shared by the four parsers:
 *   - body/len: the HTTP answer body; never read past len, need not be NUL-terminated, may be binary.
 *   - The parsed bars are merged into out: sorted by t_ms; a bar with the same t_ms as one already in out, or
 *     as an earlier record of the same body, replaces it (the later one wins); then only the newest max_bars
 *     are kept (max_bars 0 or above BARS_MAX_LIMIT means BARS_MAX_LIMIT).
 *   - A record is skipped (and counted in *skipped) when a field is missing or not a number, a price is
 *     NaN/inf/negative/zero, the volume is NaN/inf/negative, h < l, o or c lies outside [l, h], its time is
 *     unparsable or outside [1970, 10000), or it names another symbol than out->symbol.
 *   - out->symbol is filled from the answer (when it names one) if it was empty.
 *   - skipped may be NULL; otherwise it is set (not added to) to the number of records skipped in this call.
 *   - Returns BARS_OK when at least one bar was taken; BARS_EMPTY when the answer is valid but gave no bar
 *     (no records, "no_data", or every record skipped: see *skipped); BARS_EPROVIDER when the answer is an
 *     error/refusal document; BARS_EMALFORMED when it is not the expected format (bad/truncated JSON, wrong
 *     types, arrays of different lengths, unknown time zone); BARS_ENOMEM on allocation failure.
 *     On EMALFORMED, EPROVIDER and ENOMEM out is left untouched (and *skipped is 0). */
#ifndef GATEHOUSE_BARS_H
#define GATEHOUSE_BARS_H

#include <stddef.h>

#include <jansson.h>

#define BARS_MAX_LIMIT 1000000 /* hard cap on bars kept in one series (48 MB) */

struct bar {
    long long t_ms; /* bar start, epoch ms UTC */
    double o, h, l, c, v;
};

struct bar_series {
    struct bar *bars; /* sorted by t_ms, strictly increasing */
    size_t n, cap;
    char symbol[32]; /* "" when unknown */
};

enum bars_status {
    BARS_OK = 0,
    BARS_EMPTY /* valid answer, no bars */,
    BARS_EMALFORMED,
    BARS_EPROVIDER /* answer says error, e.g. status:"ERROR" */,
    BARS_ENOMEM
};

/* Databento timeseries.get_range, schema ohlcv-1s/1m/1h/1d (rtype 32..35), encoding=json: one JSON object per
 * line, {"hd":{"ts_event":"<ns>","rtype":33,...},"open":"<int*1e-9>",...,"volume":"<n>"[,"symbol":".."]}.
 * ts_event: ns integer (quoted or not) or ISO 8601 UTC (pretty_ts); prices: fixed-point 1e-9 integers, parsed
 * exactly as int64 (quoted or not), or decimal strings with at most 9 fraction digits (pretty_px). An empty
 * body is BARS_EMPTY (no minute traded); a line that is not JSON (e.g. a truncated last line) makes the whole
 * body BARS_EMALFORMED; {"detail":..} (the FastAPI error shape) is BARS_EPROVIDER. */
enum bars_status bars_parse_databento_json(const char *body, size_t len, struct bar_series *out,
                                           size_t max_bars, size_t *skipped);

/* Polygon/Massive GET /v2/aggs/ticker/{t}/range/..: {"status":"OK"|"DELAYED","ticker",..,"resultsCount",
 * "results":[{"o","h","l","c","v","vw","t"(ms),"n"}],"next_url"?}. Any other status, or an "error" member,
 * is BARS_EPROVIDER. No "results" (with resultsCount absent or 0) is BARS_EMPTY. next_url is not followed:
 * see bars_polygon_next_url(). */
enum bars_status bars_parse_polygon_aggs(const char *body, size_t len, struct bar_series *out,
                                         size_t max_bars, size_t *skipped);

/* Finnhub GET /api/v1/stock/candle: {"c":[..],"h":[..],"l":[..],"o":[..],"t":[unix s],"v":[..],"s":"ok"}.
 * "s":"no_data" is BARS_EMPTY; {"error":..} is BARS_EPROVIDER; arrays of unequal length are BARS_EMALFORMED.
 */
enum bars_status bars_parse_finnhub_candles(const char *body, size_t len, struct bar_series *out,
                                            size_t max_bars, size_t *skipped);

/* Alpha Vantage TIME_SERIES_INTRADAY: {"Meta Data":{..,"6. Time Zone":"US/Eastern"},"Time Series (<n>min)":
 * {"YYYY-MM-DD HH:MM:SS":{"1. open":"..","2. high","3. low","4. close","5. volume"}}}. Keys are local times
 * in the meta time zone: US/Eastern (or America/New_York; also assumed when Meta Data has none) is converted
 * to UTC with the US DST rules (2007+: second Sunday of March to first Sunday of November; 1987-2006: first
 * Sunday of April to last Sunday of October; at 02:00 local). The repeated hour at the end of DST is read as
 * daylight time, the skipped hour at its start as daylight time too. UTC/GMT is taken as is; any other zone
 * is BARS_EMALFORMED. "Error Message", or "Note"/"Information" without a time series (quota, premium), is
 * BARS_EPROVIDER. */
enum bars_status bars_parse_alphavantage_intraday(const char *body, size_t len, struct bar_series *out,
                                                  size_t max_bars, size_t *skipped);

/* Copies the "next_url" of a Polygon aggs answer into buf (NUL-terminated). Returns 1 when copied, 0 when the
 * answer has none, -1 when the body is not a JSON object or the URL does not fit in bufsz. */
int bars_polygon_next_url(const char *body, size_t len, char *buf, size_t bufsz);

/* Frees the bars and resets s to the zero state (symbol cleared). NULL is allowed. */
void bars_free(struct bar_series *s);

/* "OK", "EMPTY", "EMALFORMED", "EPROVIDER", "ENOMEM"; "UNKNOWN" for other values. Static storage. */
const char *bars_status_name(enum bars_status st);

/* Converts the last last_n bars of s (all when last_n is 0 or larger than s->n) to a new JSON array of
 * {"t": epoch seconds (integer, floor of t_ms/1000), "o","h","l","c","v": reals}, oldest first, for the Lua
 * feature policy. Returns a new reference, or NULL when s is NULL or on allocation failure. */
json_t *bars_to_json(const struct bar_series *s, size_t last_n);

#endif
