/* test_bars.c — the OHLCV bar parsers (Databento JSON lines, Polygon aggs, Finnhub candles, Alpha Vantage
 * intraday): real-format samples captured from spec/support/sim/sim.js (formats per the provider reference),
 * fixed-point precision, provider errors, truncated bodies, skipped records, ordering/dedup/cap, US DST for
 * Alpha Vantage and bars_to_json. Every body is handed over in an exact-size heap copy without a NUL, so the
 * ASan build catches any read past len. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bars.h"
#include "tap.h"

typedef enum bars_status (*parser_fn)(const char *, size_t, struct bar_series *, size_t, size_t *);

/* Parses text from an exact-size copy (no terminating NUL). */
static enum bars_status parse(parser_fn fn, const char *text, struct bar_series *s, size_t max,
                              size_t *skipped)
{
    size_t n = strlen(text);
    char *buf = malloc(n ? n : 1);
    if (buf == NULL) return BARS_ENOMEM;
    memcpy(buf, text, n);
    enum bars_status st = fn(buf, n, s, max, skipped);
    free(buf);
    return st;
}

static int sorted_unique(const struct bar_series *s)
{
    for (size_t i = 1; i < s->n; i++)
        if (s->bars[i].t_ms <= s->bars[i - 1].t_ms) return 0;
    return 1;
}

static int find(const struct bar_series *s, long long t_ms)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->bars[i].t_ms == t_ms) return (int)i;
    return -1;
}

#define ST(got, exp, name) tap_is_str(bars_status_name(got), bars_status_name(exp), name)

/* sim: databento timeseries.get_range ESM4 ohlcv-1m 2024-03-12T20:52Z..21:02Z — 20:57 had no trade and 21:00
 * starts the CME daily halt (17:00 EDT), so those minutes have no record. */
static const char DB_SAMPLE[] =
    "{\"hd\":{\"ts_event\":\"1710276720000000000\",\"rtype\":33,\"publisher_id\":1,\"instrument_id\":56440},\"open\":\"4713500000000\",\"high\":\"4715750000000\",\"low\":\"4712750000000\",\"close\":\"4715750000000\",\"volume\":\"522\"}\n"
    "{\"hd\":{\"ts_event\":\"1710276780000000000\",\"rtype\":33,\"publisher_id\":1,\"instrument_id\":56440},\"open\":\"4715750000000\",\"high\":\"4716000000000\",\"low\":\"4715750000000\",\"close\":\"4716000000000\",\"volume\":\"347\"}\n"
    "{\"hd\":{\"ts_event\":\"1710276840000000000\",\"rtype\":33,\"publisher_id\":1,\"instrument_id\":56440},\"open\":\"4716000000000\",\"high\":\"4718000000000\",\"low\":\"4715250000000\",\"close\":\"4716500000000\",\"volume\":\"234\"}\n"
    "{\"hd\":{\"ts_event\":\"1710276900000000000\",\"rtype\":33,\"publisher_id\":1,\"instrument_id\":56440},\"open\":\"4716500000000\",\"high\":\"4717000000000\",\"low\":\"4714250000000\",\"close\":\"4714750000000\",\"volume\":\"299\"}\n"
    "{\"hd\":{\"ts_event\":\"1710276960000000000\",\"rtype\":33,\"publisher_id\":1,\"instrument_id\":56440},\"open\":\"4714750000000\",\"high\":\"4715250000000\",\"low\":\"4713000000000\",\"close\":\"4715250000000\",\"volume\":\"637\"}\n"
    "{\"hd\":{\"ts_event\":\"1710277080000000000\",\"rtype\":33,\"publisher_id\":1,\"instrument_id\":56440},\"open\":\"4717250000000\",\"high\":\"4717750000000\",\"low\":\"4716250000000\",\"close\":\"4717250000000\",\"volume\":\"623\"}\n"
    "{\"hd\":{\"ts_event\":\"1710277140000000000\",\"rtype\":33,\"publisher_id\":1,\"instrument_id\":56440},\"open\":\"4717250000000\",\"high\":\"4717750000000\",\"low\":\"4717250000000\",\"close\":\"4717750000000\",\"volume\":\"537\"}\n";

/* the same query with pretty_px=true&pretty_ts=true&map_symbols=true, end 20:56 */
static const char DB_PRETTY[] =
    "{\"hd\":{\"ts_event\":\"2024-03-12T20:52:00.000000000Z\",\"rtype\":33,\"publisher_id\":1,\"instrument_id\":56440},\"open\":\"4713.500000000\",\"high\":\"4715.750000000\",\"low\":\"4712.750000000\",\"close\":\"4715.750000000\",\"volume\":\"522\",\"symbol\":\"ESM4\"}\n"
    "{\"hd\":{\"ts_event\":\"2024-03-12T20:53:00.000000000Z\",\"rtype\":33,\"publisher_id\":1,\"instrument_id\":56440},\"open\":\"4715.750000000\",\"high\":\"4716.000000000\",\"low\":\"4715.750000000\",\"close\":\"4716.000000000\",\"volume\":\"347\",\"symbol\":\"ESM4\"}\n"
    "{\"hd\":{\"ts_event\":\"2024-03-12T20:54:00.000000000Z\",\"rtype\":33,\"publisher_id\":1,\"instrument_id\":56440},\"open\":\"4716.000000000\",\"high\":\"4718.000000000\",\"low\":\"4715.250000000\",\"close\":\"4716.500000000\",\"volume\":\"234\",\"symbol\":\"ESM4\"}\n"
    "{\"hd\":{\"ts_event\":\"2024-03-12T20:55:00.000000000Z\",\"rtype\":33,\"publisher_id\":1,\"instrument_id\":56440},\"open\":\"4716.500000000\",\"high\":\"4717.000000000\",\"low\":\"4714.250000000\",\"close\":\"4714.750000000\",\"volume\":\"299\",\"symbol\":\"ESM4\"}\n";

/* One Databento line with the given ts (ns) and o/h/l/c fixed-point strings. */
static char *db_line(char *buf, size_t sz, const char *ts, const char *o, const char *h, const char *l,
                     const char *c, const char *v)
{
    snprintf(
        buf, sz,
        "{\"hd\":{\"ts_event\":\"%s\",\"rtype\":33,\"publisher_id\":1,\"instrument_id\":1},\"open\":\"%s\","
        "\"high\":\"%s\",\"low\":\"%s\",\"close\":\"%s\",\"volume\":\"%s\"}\n",
        ts, o, h, l, c, v);
    return buf;
}

static void test_databento_sample(void)
{
    struct bar_series s = {0};
    size_t sk = 99;
    ST(parse(bars_parse_databento_json, DB_SAMPLE, &s, 1000, &sk), BARS_OK, "databento: sim sample parses");
    tap_is_int(sk, 0, "databento: nothing skipped");
    tap_is_int(s.n, 7, "databento: 7 records -> 7 bars (no bar invented for missing minutes)");
    tap_is_int(s.bars[0].t_ms, 1710276720000LL, "databento: ts_event ns -> ms (20:52Z)");
    tap_ok(s.bars[0].o == 4713.5 && s.bars[0].h == 4715.75 && s.bars[0].l == 4712.75 &&
               s.bars[0].c == 4715.75,
           "databento: first bar prices 4713.5/4715.75/4712.75/4715.75");
    tap_ok(s.bars[0].v == 522, "databento: quoted volume 522");
    tap_ok(find(&s, 1710277020000LL) < 0, "databento: the 20:57 gap stays a missing bar");
    tap_is_int(s.bars[5].t_ms, 1710277080000LL, "databento: the bar after the gap is 20:58");
    tap_ok(find(&s, 1710277200000LL) < 0, "databento: no bar in the CME halt (21:00Z)");
    tap_ok(sorted_unique(&s), "databento: sorted");
    tap_is_str(s.symbol, "", "databento: no symbol without map_symbols");
    bars_free(&s);
    tap_ok(s.bars == NULL && s.n == 0 && s.cap == 0, "bars_free resets the series");

    ST(parse(bars_parse_databento_json, DB_PRETTY, &s, 1000, &sk), BARS_OK,
       "databento pretty_px/pretty_ts parses");
    tap_is_int(s.n, 4, "databento pretty: 4 bars");
    tap_is_int(s.bars[0].t_ms, 1710276720000LL, "databento pretty: ISO ts_event -> same ms");
    tap_ok(s.bars[2].o == 4716.0 && s.bars[2].h == 4718.0 && s.bars[2].l == 4715.25 && s.bars[2].c == 4716.5,
           "databento pretty: decimal prices exact");
    tap_is_str(s.symbol, "ESM4", "databento: map_symbols fills the series symbol");
    bars_free(&s);

    ST(parse(bars_parse_databento_json, "", &s, 10, &sk), BARS_EMPTY,
       "databento: empty body (no trades) -> EMPTY");
    ST(parse(bars_parse_databento_json, "\n\r\n", &s, 10, &sk), BARS_EMPTY,
       "databento: blank lines -> EMPTY");
    ST(bars_parse_databento_json(NULL, 0, &s, 10, &sk), BARS_EMPTY, "databento: NULL, 0 -> EMPTY");
}

static void test_databento_fixed_point(void)
{
    struct bar_series s = {0};
    char body[2048], l1[512], l2[512], l3[512], l4[512];
    size_t sk;
    snprintf(body, sizeof body, "%s%s%s%s",
             db_line(l1, sizeof l1, "60000000000", "4123250000000", "4123250000000", "4123250000000",
                     "4123250000000", "1"),
             db_line(l2, sizeof l2, "120000000000", "1064500000001", "1064500000001", "1064500000001",
                     "1064500000001", "0"),
             db_line(l3, sizeof l3, "180000000000", "9000000000123456789", "9000000000123456789",
                     "9000000000123456789", "9000000000123456789", "18446744073709551"),
             db_line(l4, sizeof l4, "240000000000", "1", "1", "1", "1", "7"));
    ST(parse(bars_parse_databento_json, body, &s, 10, &sk), BARS_OK, "fixed point: parses");
    tap_is_int(s.n, 4, "fixed point: 4 bars");
    tap_ok(s.bars[0].o == 4123.25, "\"4123250000000\" -> 4123.25 exactly");
    tap_ok(s.bars[1].o == 1064.500000001, "\"1064500000001\" -> 1064.500000001 (correctly rounded)");
    tap_ok(fabs(s.bars[2].o - 9000000000.123456789) < 1e-5, "an int64 beyond 2^53 keeps its fraction");
    tap_ok(s.bars[3].o == 1e-9, "\"1\" -> 1e-9");
    tap_ok(s.bars[1].v == 0, "volume 0 is allowed");
    bars_free(&s);

    snprintf(
        body, sizeof body, "%s%s%s",
        db_line(l1, sizeof l1, "2024-01-02T00:01:00Z", "4123.25", "4123.25", "4123.25", "4123.25", "1"),
        db_line(l2, sizeof l2, "2024-01-02T00:02:00.5+00:00", "1064.5", "1064.5", "1064.5", "1064.5", "1"),
        db_line(l3, sizeof l3, "2024-01-02T00:03:00Z", "1.0000000001", "1", "1", "1", "1"));
    ST(parse(bars_parse_databento_json, body, &s, 10, &sk), BARS_OK, "pretty_px decimals parse");
    tap_is_int(s.n, 2, "pretty_px: 10 fraction digits is not a price");
    tap_is_int(sk, 1, "pretty_px: that record is counted as skipped");
    tap_ok(s.bars[0].o == 4123.25 && s.bars[1].o == 1064.5, "pretty_px: \"4123.25\", \"1064.5\" exact");
    tap_is_int(s.bars[0].t_ms, 1704153660000LL, "pretty_ts without fraction");
    tap_is_int(s.bars[1].t_ms, 1704153720500LL, "pretty_ts with fraction and +00:00");
    bars_free(&s);
}

static void test_databento_errors(void)
{
    struct bar_series s = {0};
    size_t sk = 99;
    char body[4096], l[8][512];
    ST(parse(bars_parse_databento_json, "{\"detail\":\"Not authenticated\"}", &s, 10, &sk), BARS_EPROVIDER,
       "databento 401 {\"detail\":..} -> EPROVIDER");
    ST(parse(bars_parse_databento_json,
             "{\n  \"detail\": [{\"loc\": [\"query\", \"dataset\"], \"msg\": \"field required\"}]\n}\n", &s,
             10, &sk),
       BARS_EPROVIDER, "databento 422 pretty-printed -> EPROVIDER");

    ST(parse(bars_parse_databento_json, DB_SAMPLE, &s, 100, &sk), BARS_OK,
       "databento: sample into the series");
    char cut[sizeof DB_SAMPLE];
    memcpy(cut, DB_SAMPLE, sizeof DB_SAMPLE);
    cut[sizeof DB_SAMPLE - 40] = '\0'; /* cut inside the last line */
    struct bar_series fresh = {0};
    ST(parse(bars_parse_databento_json, cut, &fresh, 100, &sk), BARS_EMALFORMED,
       "databento: truncated body -> EMALFORMED");
    tap_is_int(fresh.n, 0, "databento: nothing appended from a truncated body");
    ST(parse(bars_parse_databento_json, cut, &s, 100, &sk), BARS_EMALFORMED, "truncated body into a series");
    tap_is_int(s.n, 7, "databento: a failed parse leaves the series as it was");
    ST(parse(bars_parse_databento_json, "[1,2]\n", &fresh, 100, &sk), BARS_EMALFORMED, "a JSON array line");
    ST(parse(bars_parse_databento_json, "garbage", &fresh, 100, &sk), BARS_EMALFORMED, "a non-JSON body");
    bars_free(&s);

    snprintf(
        body, sizeof body, "%s%s%s%s%s%s%s%s",
        db_line(l[0], 512, "60000000000", "5000000000", "6000000000", "4000000000", "5500000000", "10"),
        db_line(l[1], 512, "120000000000", "5000000000", "4000000000", "6000000000", "5000000000",
                "1"), /* h<l */
        db_line(l[2], 512, "180000000000", "nan", "6000000000", "4000000000", "5000000000", "1"),
        db_line(l[3], 512, "240000000000", "-5000000000", "6000000000", "-6000000000", "5000000000", "1"),
        db_line(l[4], 512, "300000000000", "7000000000", "6000000000", "4000000000", "5000000000",
                "1"), /* o>h */
        db_line(l[5], 512, "360000000000", "9223372036854775807", "9223372036854775807", "4000000000",
                "5000000000", "1"), /* UNDEF_PRICE */
        db_line(l[6], 512, "420000000000", "5000000000", "6000000000", "4000000000", "3000000000",
                "1"), /* c<l */
        db_line(l[7], 512, "480000000000", "5000000000", "6000000000", "4000000000", "5000000000", "-1"));
    strcat(body,
           "{\"hd\":{\"ts_event\":\"540000000000\",\"rtype\":99},\"open\":\"1\",\"high\":\"1\",\"low\":\"1\","
           "\"close\":\"1\",\"volume\":\"1\"}\n");
    strcat(
        body,
        "{\"hd\":{\"ts_event\":\"600000000000\",\"rtype\":33},\"open\":\"1\",\"high\":\"1\",\"low\":\"1\"}\n");
    strcat(body, "{\"hd\":{\"ts_event\":\"soon\",\"rtype\":33},\"open\":\"1\",\"high\":\"1\",\"low\":\"1\","
                 "\"close\":\"1\",\"volume\":\"1\"}\n");
    strcat(
        body,
        "{\"hd\":{\"ts_event\":\"660000000000\",\"rtype\":33},\"open\":\"1e9\",\"high\":\"1\",\"low\":\"1\","
        "\"close\":\"1\",\"volume\":\"1\"}\n");
    ST(parse(bars_parse_databento_json, body, &s, 100, &sk), BARS_OK, "databento: good and bad records");
    tap_is_int(s.n, 1, "databento: only the good record is kept");
    tap_is_int(sk, 11,
               "databento: h<l, nan, negative, o>h, UNDEF, c<l, vol<0, rtype, missing, bad ts, 1e9 skipped");
    tap_ok(s.n == 1 && s.bars[0].o == 5.0 && s.bars[0].c == 5.5, "databento: the good record's values");
    bars_free(&s);

    ST(parse(bars_parse_databento_json, l[1], &s, 100, &sk), BARS_EMPTY,
       "databento: every record bad -> EMPTY");
    tap_is_int(sk, 1, "databento: ... with skipped counted");
    snprintf(body, sizeof body, "%s", l[0]);
    body[strlen(body) - 1] = '\0'; /* no trailing newline */
    ST(parse(bars_parse_databento_json, body, &s, 100, &sk), BARS_OK, "databento: last line without newline");
    tap_is_int(s.n, 1, "databento: ... is parsed");
    bars_free(&s);
}

static void test_order_dedup_cap(void)
{
    struct bar_series s = {0};
    char body[4096], l[6][512];
    size_t sk;
    /* out of order, 120 s twice: the later record (close 7) wins */
    snprintf(body, sizeof body, "%s%s%s%s",
             db_line(l[0], 512, "180000000000", "5000000000", "6000000000", "4000000000", "5000000000", "3"),
             db_line(l[1], 512, "120000000000", "5000000000", "6000000000", "4000000000", "5000000000", "2"),
             db_line(l[2], 512, "60000000000", "5000000000", "6000000000", "4000000000", "5000000000", "1"),
             db_line(l[3], 512, "120000000000", "5000000000", "7000000000", "4000000000", "7000000000", "9"));
    ST(parse(bars_parse_databento_json, body, &s, 100, &sk), BARS_OK, "order: unsorted body");
    tap_is_int(s.n, 3, "dedup: 4 records, 3 distinct times");
    tap_ok(sorted_unique(&s) && s.bars[0].t_ms == 60000 && s.bars[2].t_ms == 180000,
           "order: sorted ascending");
    tap_ok(s.bars[1].c == 7.0 && s.bars[1].v == 9, "dedup: the later duplicate replaces the earlier one");

    /* a second body overlapping the series: 180 s replaced, 240/300 s appended */
    snprintf(body, sizeof body, "%s%s%s",
             db_line(l[0], 512, "300000000000", "5000000000", "6000000000", "4000000000", "5000000000", "5"),
             db_line(l[1], 512, "180000000000", "5000000000", "6000000000", "4000000000", "4500000000", "33"),
             db_line(l[2], 512, "240000000000", "5000000000", "6000000000", "4000000000", "5000000000", "4"));
    ST(parse(bars_parse_databento_json, body, &s, 100, &sk), BARS_OK, "merge: second body");
    tap_is_int(s.n, 5, "merge: 3 + 3 - 1 overlap = 5 bars");
    tap_ok(sorted_unique(&s), "merge: still sorted and unique");
    tap_ok(s.bars[2].t_ms == 180000 && s.bars[2].v == 33, "merge: the new bar replaces the old one at 180 s");

    /* cap: keep the newest 3 */
    snprintf(body, sizeof body, "%s",
             db_line(l[0], 512, "30000000000", "5000000000", "6000000000", "4000000000", "5000000000", "1"));
    ST(parse(bars_parse_databento_json, body, &s, 3, &sk), BARS_OK, "cap: an older bar with max 3");
    tap_is_int(s.n, 3, "cap: 3 bars kept");
    tap_ok(s.bars[0].t_ms == 180000 && s.bars[2].t_ms == 300000, "cap: the newest are kept (180..300 s)");
    bars_free(&s);

    snprintf(body, sizeof body, "%s%s%s%s%s",
             db_line(l[0], 512, "60000000000", "5000000000", "6000000000", "4000000000", "5000000000", "1"),
             db_line(l[1], 512, "300000000000", "5000000000", "6000000000", "4000000000", "5000000000", "5"),
             db_line(l[2], 512, "120000000000", "5000000000", "6000000000", "4000000000", "5000000000", "2"),
             db_line(l[3], 512, "240000000000", "5000000000", "6000000000", "4000000000", "5000000000", "4"),
             db_line(l[4], 512, "180000000000", "5000000000", "6000000000", "4000000000", "5000000000", "3"));
    ST(parse(bars_parse_databento_json, body, &s, 2, &sk), BARS_OK, "cap: 5 records with max 2");
    tap_ok(s.n == 2 && s.bars[0].v == 4 && s.bars[1].v == 5, "cap: the 2 newest of one body");
    ST(parse(bars_parse_databento_json, body, &s, 0, &sk), BARS_OK, "cap: max 0 means BARS_MAX_LIMIT");
    tap_is_int(s.n, 5, "cap: max 0 keeps all");
    bars_free(&s);
}

/* sim: polygon /v2/aggs/ticker/AAPL/range/1/minute/1710252000000/1710252600000?limit=5 */
static const char POLY_SAMPLE[] =
    "{\"ticker\":\"AAPL\",\"queryCount\":5,\"resultsCount\":5,\"adjusted\":true,\"status\":\"OK\",\"request_id\":"
    "\"36df0fa4faa34c236b63f7f0819900c3\",\"count\":5,\"results\":[{\"v\":459204,\"vw\":177.7533,\"o\":177.72,"
    "\"c\":177.77,\"h\":177.77,\"l\":177.72,\"t\":1710252000000,\"n\":4544},{\"v\":51338,\"vw\":177.6767,\"o\":177.77,"
    "\"c\":177.61,\"h\":177.83,\"l\":177.59,\"t\":1710252060000,\"n\":565},{\"v\":45849,\"vw\":177.6133,\"o\":177.61,"
    "\"c\":177.62,\"h\":177.63,\"l\":177.59,\"t\":1710252120000,\"n\":471},{\"v\":146050,\"vw\":177.5533,\"o\":177.62,"
    "\"c\":177.52,\"h\":177.63,\"l\":177.51,\"t\":1710252180000,\"n\":1923},{\"v\":73580,\"vw\":177.4933,\"o\":177.52,"
    "\"c\":177.49,\"h\":177.52,\"l\":177.47,\"t\":1710252240000,\"n\":957}],\"next_url\":\"http://127.0.0.1:43393/"
    "polygon/v2/aggs/ticker/AAPL/range/1/minute/1710252240001/1710252600000?limit=5\"}";

static void test_polygon(void)
{
    struct bar_series s = {0};
    size_t sk = 99;
    char url[512];
    ST(parse(bars_parse_polygon_aggs, POLY_SAMPLE, &s, 100, &sk), BARS_OK, "polygon: sim sample parses");
    tap_is_int(s.n, 5, "polygon: 5 bars");
    tap_is_int(sk, 0, "polygon: none skipped");
    tap_is_int(s.bars[0].t_ms, 1710252000000LL, "polygon: t is ms");
    tap_ok(s.bars[0].o == 177.72 && s.bars[1].h == 177.83 && s.bars[1].l == 177.59 && s.bars[4].c == 177.49,
           "polygon: prices");
    tap_ok(s.bars[0].v == 459204, "polygon: volume");
    tap_is_str(s.symbol, "AAPL", "polygon: ticker fills the symbol");
    tap_is_int(bars_polygon_next_url(POLY_SAMPLE, strlen(POLY_SAMPLE), url, sizeof url), 1,
               "polygon: next_url");
    tap_ok(strstr(url, "/range/1/minute/1710252240001/") != NULL, "polygon: next_url copied");
    tap_is_int(bars_polygon_next_url(POLY_SAMPLE, strlen(POLY_SAMPLE), url, 10), -1,
               "next_url: too small a buffer");
    tap_is_int(bars_polygon_next_url("{\"status\":\"OK\"}", 15, url, sizeof url), 0, "next_url: none");
    ST(parse(
           bars_parse_polygon_aggs,
           "{\"ticker\":\"MSFT\",\"status\":\"OK\",\"resultsCount\":1,\"results\":[{\"o\":1,\"h\":1,\"l\":1,"
           "\"c\":1,\"v\":1,\"t\":1710252000000}]}",
           &s, 100, &sk),
       BARS_EMPTY, "polygon: another ticker's answer gives nothing");
    tap_is_int(sk, 1, "polygon: ... its record is skipped");
    tap_is_int(s.n, 5, "polygon: ... and the series is unchanged");
    bars_free(&s);

    ST(parse(bars_parse_polygon_aggs,
             "{\"status\":\"ERROR\",\"request_id\":\"x\",\"error\":\"Unknown API Key\"}", &s, 100, &sk),
       BARS_EPROVIDER, "polygon: Unknown API Key -> EPROVIDER");
    ST(parse(bars_parse_polygon_aggs, "{\"status\":\"NOT_AUTHORIZED\",\"message\":\"upgrade your plan\"}", &s,
             100, &sk),
       BARS_EPROVIDER, "polygon: NOT_AUTHORIZED -> EPROVIDER");
    ST(parse(bars_parse_polygon_aggs, "{\"error\":\"simulated HTTP 502\"}", &s, 100, &sk), BARS_EPROVIDER,
       "polygon: error without status -> EPROVIDER");
    ST(parse(
           bars_parse_polygon_aggs,
           "{\"ticker\":\"AAPL\",\"queryCount\":0,\"resultsCount\":0,\"adjusted\":true,\"status\":\"OK\",\"count\":0}",
           &s, 100, &sk),
       BARS_EMPTY, "polygon: resultsCount 0 without results -> EMPTY");
    ST(parse(bars_parse_polygon_aggs, "{\"status\":\"OK\",\"resultsCount\":3}", &s, 100, &sk),
       BARS_EMALFORMED, "polygon: resultsCount 3 without results -> EMALFORMED");
    ST(parse(bars_parse_polygon_aggs, "{\"status\":\"OK\",\"results\":{}}", &s, 100, &sk), BARS_EMALFORMED,
       "polygon: results not an array");
    char cut[sizeof POLY_SAMPLE];
    memcpy(cut, POLY_SAMPLE, sizeof POLY_SAMPLE);
    cut[300] = '\0';
    ST(parse(bars_parse_polygon_aggs, cut, &s, 100, &sk), BARS_EMALFORMED,
       "polygon: truncated -> EMALFORMED");
    ST(parse(bars_parse_polygon_aggs, "[]", &s, 100, &sk), BARS_EMALFORMED, "polygon: not an object");
    ST(parse(bars_parse_polygon_aggs, "{\"results\":[]}", &s, 100, &sk), BARS_EMALFORMED,
       "polygon: no status");
    ST(parse(
           bars_parse_polygon_aggs,
           "{\"status\":\"DELAYED\",\"results\":[{\"o\":10,\"h\":9,\"l\":11,\"c\":10,\"v\":1,\"t\":60000},"
           "{\"o\":null,\"h\":9,\"l\":8,\"c\":9,\"v\":1,\"t\":120000},{\"o\":9,\"h\":9,\"l\":8,\"c\":9,\"v\":1},"
           "{\"o\":9,\"h\":9,\"l\":8,\"c\":9,\"v\":1,\"t\":-60000},7,"
           "{\"o\":9,\"h\":9.5,\"l\":8,\"c\":9,\"v\":1.5,\"t\":180000}]}",
           &s, 100, &sk),
       BARS_OK, "polygon: DELAYED with bad records");
    tap_is_int(sk, 5, "polygon: h<l, null, no t, negative t, non-object skipped");
    tap_ok(s.n == 1 && s.bars[0].t_ms == 180000 && s.bars[0].v == 1.5, "polygon: the good record kept");
    bars_free(&s);
}

static void test_finnhub(void)
{
    struct bar_series s = {0};
    size_t sk = 99;
    ST(parse(bars_parse_finnhub_candles,
             "{\"c\":[217.68,221.03,219.89],\"h\":[222.49,221.5,220.94],\"l\":[217.19,217.1402,218.83],"
             "\"o\":[221.03,218.55,220],\"s\":\"ok\",\"t\":[1569297600,1569384000,1569470400],"
             "\"v\":[33463820,24018876,20730608]}",
             &s, 100, &sk),
       BARS_OK, "finnhub: candles parse");
    tap_is_int(s.n, 3, "finnhub: 3 bars");
    tap_is_int(s.bars[0].t_ms, 1569297600000LL, "finnhub: t seconds -> ms");
    tap_ok(s.bars[1].o == 218.55 && s.bars[1].h == 221.5 && s.bars[1].l == 217.1402 && s.bars[1].c == 221.03,
           "finnhub: parallel arrays line up");
    tap_ok(s.bars[2].v == 20730608, "finnhub: volume");
    bars_free(&s);
    ST(parse(bars_parse_finnhub_candles, "{\"s\":\"no_data\"}", &s, 100, &sk), BARS_EMPTY,
       "finnhub: no_data -> EMPTY");
    ST(parse(bars_parse_finnhub_candles, "{\"error\":\"Invalid API key.\"}", &s, 100, &sk), BARS_EPROVIDER,
       "finnhub: 401 -> EPROVIDER");
    ST(parse(bars_parse_finnhub_candles, "{\"error\":\"You don't have access to this resource.\"}", &s, 100,
             &sk),
       BARS_EPROVIDER, "finnhub: 403 premium -> EPROVIDER");
    ST(parse(bars_parse_finnhub_candles,
             "{\"c\":[1,2],\"h\":[1],\"l\":[1],\"o\":[1],\"s\":\"ok\",\"t\":[60],\"v\":[1]}", &s, 100, &sk),
       BARS_EMALFORMED, "finnhub: arrays of unequal length -> EMALFORMED");
    ST(parse(bars_parse_finnhub_candles, "{\"c\":[1],\"h\":[1],\"l\":[1],\"o\":[1],\"s\":\"ok\",\"t\":[60]}",
             &s, 100, &sk),
       BARS_EMALFORMED, "finnhub: a missing array -> EMALFORMED");
    ST(parse(bars_parse_finnhub_candles, "{\"c\":[1],\"h\":[1],\"l\":[1],\"o\":[1],\"t\":[60],\"v\":[1]}", &s,
             100, &sk),
       BARS_EMALFORMED, "finnhub: no s -> EMALFORMED");
    ST(parse(bars_parse_finnhub_candles, "{\"c\":[1,2,3", &s, 100, &sk), BARS_EMALFORMED,
       "finnhub: truncated");
    ST(parse(
           bars_parse_finnhub_candles,
           "{\"c\":[2,2,\"x\",2],\"h\":[3,1,3,3],\"l\":[1,2,1,1],\"o\":[2,2,2,2],\"s\":\"ok\",\"t\":[120,60,180,"
           "1e300],\"v\":[5,5,5,5]}",
           &s, 100, &sk),
       BARS_OK, "finnhub: bad elements");
    tap_is_int(sk, 3, "finnhub: h<l, a string price, an absurd t skipped");
    tap_ok(s.n == 1 && s.bars[0].t_ms == 120000, "finnhub: the good candle kept");
    bars_free(&s);
    /* found by fuzz_bars: an integer t whose milliseconds overflow a long long is skipped, not multiplied */
    ST(parse(bars_parse_finnhub_candles,
             "{\"c\":[2,2],\"h\":[3,3],\"l\":[1,1],\"o\":[2,2],\"s\":\"ok\",\"t\":[120,156938400099999999],"
             "\"v\":[5,5]}",
             &s, 100, &sk),
       BARS_OK, "finnhub: an integer t beyond the range");
    tap_ok(sk == 1 && s.n == 1 && s.bars[0].t_ms == 120000, "finnhub: ... is skipped, the good candle kept");
    bars_free(&s);
}

/* sim: alphavantage TIME_SERIES_INTRADAY IBM 1min, the first 3 of 100 entries (newest first, as served) */
static const char AV_SAMPLE[] =
    "{\"Meta Data\":{\"1. Information\":\"Intraday (1min) open, high, low, close prices and volume\",\"2. Symbol\":"
    "\"IBM\",\"3. Last Refreshed\":\"2026-11-24 07:57:00\",\"4. Interval\":\"1min\",\"5. Output Size\":\"Compact\","
    "\"6. Time Zone\":\"US/Eastern\"},\"Time Series (1min)\":{\"2026-11-24 07:57:00\":{\"1. open\":\"189.8700\","
    "\"2. high\":\"189.8700\",\"3. low\":\"189.7800\",\"4. close\":\"189.8100\",\"5. volume\":\"1043\"},"
    "\"2026-11-24 07:56:00\":{\"1. open\":\"189.7800\",\"2. high\":\"189.8700\",\"3. low\":\"189.7200\","
    "\"4. close\":\"189.8700\",\"5. volume\":\"671\"},\"2026-11-24 07:55:00\":{\"1. open\":\"189.8700\","
    "\"2. high\":\"189.8700\",\"3. low\":\"189.7600\",\"4. close\":\"189.7800\",\"5. volume\":\"1762\"}}}";

/* Parses one Alpha Vantage bar at the local time `key` in zone tz, returns its t_ms (or -1). */
static long long av_time(const char *key, const char *tz)
{
    char body[512];
    struct bar_series s = {0};
    size_t sk;
    snprintf(
        body, sizeof body,
        "{\"Meta Data\":{\"2. Symbol\":\"IBM\",\"6. Time Zone\":\"%s\"},\"Time Series (5min)\":{\"%s\":"
        "{\"1. open\":\"1\",\"2. high\":\"1\",\"3. low\":\"1\",\"4. close\":\"1\",\"5. volume\":\"1\"}}}",
        tz, key);
    long long t = parse(bars_parse_alphavantage_intraday, body, &s, 10, &sk) == BARS_OK ? s.bars[0].t_ms : -1;
    bars_free(&s);
    return t;
}

static void test_alphavantage(void)
{
    struct bar_series s = {0};
    size_t sk = 99;
    ST(parse(bars_parse_alphavantage_intraday, AV_SAMPLE, &s, 100, &sk), BARS_OK,
       "alphavantage: sim sample parses");
    tap_is_int(s.n, 3, "alphavantage: 3 bars");
    tap_ok(sorted_unique(&s), "alphavantage: newest-first keys come out sorted ascending");
    tap_is_int(s.bars[2].t_ms, 1795525020000LL, "alphavantage: 2026-11-24 07:57 EST -> 12:57Z");
    tap_ok(s.bars[2].o == 189.87 && s.bars[2].l == 189.78 && s.bars[2].c == 189.81 && s.bars[2].v == 1043,
           "alphavantage: string values");
    tap_is_str(s.symbol, "IBM", "alphavantage: 2. Symbol fills the symbol");
    bars_free(&s);

    /* US DST (expected values from the IANA America/New_York zone) */
    tap_is_int(av_time("2024-03-08 09:30:00", "US/Eastern"), 1709908200000LL,
               "DST: Fri before 2nd Sun of March, EST");
    tap_is_int(av_time("2024-03-11 09:30:00", "US/Eastern"), 1710163800000LL, "DST: Mon after, EDT");
    tap_is_int(av_time("2024-03-10 01:59:00", "US/Eastern"), 1710053940000LL,
               "DST: 01:59 on the switch day, EST");
    tap_is_int(av_time("2024-03-10 03:00:00", "US/Eastern"), 1710054000000LL,
               "DST: 03:00 on the switch day, EDT");
    tap_is_int(av_time("2024-11-01 09:30:00", "US/Eastern"), 1730467800000LL,
               "DST: Fri before 1st Sun of Nov, EDT");
    tap_is_int(av_time("2024-11-04 09:30:00", "US/Eastern"), 1730730600000LL, "DST: Mon after, EST");
    tap_is_int(av_time("2024-11-03 01:30:00", "US/Eastern"), 1730611800000LL,
               "DST: repeated hour read as EDT");
    tap_is_int(av_time("2024-11-03 02:00:00", "US/Eastern"), 1730617200000LL,
               "DST: 02:00 after fall back, EST");
    tap_is_int(av_time("2006-04-01 12:00:00", "US/Eastern"), 1143910800000LL, "DST 2006 rules: Apr 1, EST");
    tap_is_int(av_time("2006-04-02 03:00:00", "US/Eastern"), 1143961200000LL,
               "DST 2006 rules: 1st Sun Apr, EDT");
    tap_is_int(av_time("2006-10-29 00:30:00", "US/Eastern"), 1162096200000LL,
               "DST 2006 rules: last Sun Oct, EDT");
    tap_is_int(av_time("2006-10-29 02:00:00", "US/Eastern"), 1162105200000LL, "DST 2006 rules: after, EST");
    tap_is_int(av_time("2000-02-29 16:00:00", "America/New_York"), 951858000000LL,
               "leap day, America/New_York");
    tap_is_int(av_time("2024-07-01 12:00:00", "UTC"), 1719835200000LL, "Time Zone UTC taken as is");
    tap_is_int(av_time("2024-07-01 12:00:00", "Asia/Tokyo"), -1, "an unknown time zone is refused");
    tap_is_int(av_time("2023-02-29 12:00:00", "US/Eastern"), -1, "Feb 29 of a common year is not a time");
    tap_is_int(av_time("2024-07-01", "US/Eastern"), -1, "a date without time is not an intraday key");

    ST(parse(
           bars_parse_alphavantage_intraday,
           "{\"Error Message\":\"the parameter apikey is invalid or missing. Please claim your free API key on "
           "(https://www.alphavantage.co/support/#api-key). It should take less than 20 seconds.\"}",
           &s, 100, &sk),
       BARS_EPROVIDER, "alphavantage: Error Message (HTTP 200) -> EPROVIDER");
    ST(parse(bars_parse_alphavantage_intraday, "{\"Note\":\"Thank you for using Alpha Vantage! ...\"}", &s,
             100, &sk),
       BARS_EPROVIDER, "alphavantage: Note (rate limit) -> EPROVIDER");
    ST(parse(bars_parse_alphavantage_intraday, "{\"Information\":\"This is a premium endpoint.\"}", &s, 100,
             &sk),
       BARS_EPROVIDER, "alphavantage: Information -> EPROVIDER");
    ST(parse(bars_parse_alphavantage_intraday, "{\"Meta Data\":{}}", &s, 100, &sk), BARS_EMALFORMED,
       "alphavantage: no time series -> EMALFORMED");
    ST(parse(bars_parse_alphavantage_intraday, "{\"Meta Data\":{},\"Time Series (1min)\":{}}", &s, 100, &sk),
       BARS_EMPTY, "alphavantage: empty time series -> EMPTY");
    char cut[sizeof AV_SAMPLE];
    memcpy(cut, AV_SAMPLE, sizeof AV_SAMPLE);
    cut[sizeof AV_SAMPLE - 2] = '\0';
    ST(parse(bars_parse_alphavantage_intraday, cut, &s, 100, &sk), BARS_EMALFORMED,
       "alphavantage: truncated");
    ST(parse(
           bars_parse_alphavantage_intraday,
           "{\"Time Series (1min)\":{\"2024-07-01 09:30:00\":{\"1. open\":\"1\",\"2. high\":\"2\",\"3. low\":\"1\","
           "\"4. close\":\"1.5\",\"5. volume\":\"10\"},\"2024-07-01 09:31:00\":{\"1. open\":\"inf\",\"2. high\":"
           "\"2\",\"3. low\":\"1\",\"4. close\":\"1.5\",\"5. volume\":\"10\"},\"2024-07-01 09:32:00\":{\"1. open\":"
           "\" 1\",\"2. high\":\"2\",\"3. low\":\"1\",\"4. close\":\"1.5\",\"5. volume\":\"10\"},\"2024-07-01 "
           "25:00:00\":{\"1. open\":\"1\",\"2. high\":\"2\",\"3. low\":\"1\",\"4. close\":\"1.5\",\"5. volume\":"
           "\"10\"},\"2024-07-01 09:33:00\":{\"1. open\":\"1\"}}}",
           &s, 100, &sk),
       BARS_OK, "alphavantage: no Meta Data (US/Eastern assumed), bad records");
    tap_is_int(sk, 4, "alphavantage: inf, padded number, hour 25, missing fields skipped");
    tap_ok(s.n == 1 && s.bars[0].t_ms == 1719840600000LL, "alphavantage: 09:30 EDT -> 13:30Z");
    bars_free(&s);
}

static void test_to_json(void)
{
    struct bar_series s = {0};
    size_t sk;
    ST(parse(bars_parse_databento_json, DB_SAMPLE, &s, 100, &sk), BARS_OK, "to_json: sample");
    json_t *a = bars_to_json(&s, 2);
    tap_ok(json_is_array(a) && json_array_size(a) == 2, "to_json: last 2 bars");
    json_t *b = json_array_get(a, 1);
    tap_is_int(json_integer_value(json_object_get(b, "t")), 1710277140LL, "to_json: t in epoch seconds");
    tap_ok(json_real_value(json_object_get(b, "o")) == 4717.25 &&
               json_real_value(json_object_get(b, "h")) == 4717.75 &&
               json_real_value(json_object_get(b, "l")) == 4717.25 &&
               json_real_value(json_object_get(b, "c")) == 4717.75 &&
               json_real_value(json_object_get(b, "v")) == 537,
           "to_json: o,h,l,c,v");
    tap_is_int(json_integer_value(json_object_get(json_array_get(a, 0), "t")), 1710277080LL,
               "to_json: oldest first");
    json_decref(a);
    a = bars_to_json(&s, 0);
    tap_is_int(json_array_size(a), 7, "to_json: last_n 0 -> all");
    json_decref(a);
    a = bars_to_json(&s, 1000);
    tap_is_int(json_array_size(a), 7, "to_json: last_n > n -> all");
    json_decref(a);
    bars_free(&s);
    a = bars_to_json(&s, 5);
    tap_ok(json_is_array(a) && json_array_size(a) == 0, "to_json: empty series -> []");
    json_decref(a);
    tap_ok(bars_to_json(NULL, 1) == NULL, "to_json: NULL series -> NULL");
}

int main(void)
{
    test_databento_sample();
    test_databento_fixed_point();
    test_databento_errors();
    test_order_dedup_cap();
    test_polygon();
    test_finnhub();
    test_alphavantage();
    test_to_json();
    tap_is_str(bars_status_name(BARS_EPROVIDER), "EPROVIDER", "status name");
    tap_is_str(bars_status_name((enum bars_status)42), "UNKNOWN", "status name of an unknown value");
    return tap_done();
}
