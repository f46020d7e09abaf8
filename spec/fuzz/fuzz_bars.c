/* fuzz_bars.c — libFuzzer target for the bar parsers (runtime/bars.c). Built and run by `make fuzz`.
 *
 * The first input byte picks the parser (low 2 bits) and max_bars (bits 2..7: 0..63, 0 = BARS_MAX_LIMIT); the
 * rest is the body, handed over in an exact-size heap copy (no NUL), parsed into a fresh series and then
 * again into the same series (the merge path). Every answer is checked against the contract: a known status,
 * bars strictly increasing, n <= max, no bar NaN/inf/non-positive or with o/c outside [l, h], and the status
 * agreeing with what was appended; bars_to_json and bars_polygon_next_url run on the result too.
 *
 * Only this target: make VARIANT=fuzz build/fuzz/fuzz_bars && spec/fuzz/run.sh build/fuzz/fuzz_bars
 * (seeds in spec/fuzz/corpus/bars stay as they are; new inputs go to build/fuzz/corpus/bars.) */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bars.h"

typedef enum bars_status (*parser_fn)(const char *, size_t, struct bar_series *, size_t, size_t *);

static void check(const struct bar_series *s, size_t before, enum bars_status st, size_t max, size_t skipped)
{
    size_t cap = max == 0 ? BARS_MAX_LIMIT : max;
    if (st > BARS_ENOMEM) abort();
    if (st != BARS_OK && st != BARS_EMPTY && (s->n != before || skipped != 0)) abort();
    if (st == BARS_EMPTY && s->n != before) abort();
    if (st == BARS_OK && s->n == 0) abort();
    if (s->n > s->cap || s->n > cap) abort();
    if (s->symbol[sizeof s->symbol - 1] != '\0') abort();
    for (size_t i = 0; i < s->n; i++) {
        const struct bar *b = &s->bars[i];
        if (i > 0 && b->t_ms <= s->bars[i - 1].t_ms) abort();
        if (!(isfinite(b->o) && isfinite(b->h) && isfinite(b->l) && isfinite(b->c) && isfinite(b->v))) abort();
        if (!(b->l > 0 && b->l <= b->o && b->o <= b->h && b->l <= b->c && b->c <= b->h && b->v >= 0)) abort();
        if (b->t_ms < 0) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const parser_fn parsers[4] = {bars_parse_databento_json, bars_parse_polygon_aggs,
                                         bars_parse_finnhub_candles, bars_parse_alphavantage_intraday};
    if (size < 1) return 0;
    parser_fn fn = parsers[data[0] & 3];
    size_t max = (size_t)(data[0] >> 2);
    size_t len = size - 1;
    char *body = malloc(len ? len : 1);
    if (body == NULL) return 0;
    memcpy(body, data + 1, len);

    struct bar_series s = {0};
    size_t skipped = 0;
    for (int round = 0; round < 2; round++) {
        size_t before = s.n;
        enum bars_status st = fn(body, len, &s, max, &skipped);
        check(&s, before, st, max, skipped);
        (void)bars_status_name(st);
    }
    json_t *j = bars_to_json(&s, max);
    if (j == NULL || json_array_size(j) != (max == 0 || max > s.n ? s.n : max)) abort();
    json_decref(j);
    char url[64];
    if (bars_polygon_next_url(body, len, url, sizeof url) == 1 && strlen(url) >= sizeof url) abort();
    bars_free(&s);
    free(body);
    return 0;
}
