/* bars.c — OHLCV bar parsers; see bars.h for the contract. Each parser collects valid records into a batch
 * (with their position in the body), then commit() sorts it, keeps the later of equal start times, and
 * merges it into the series; nothing in the series changes before the body has been fully accepted. */
#include "bars.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

#define T_MS_MAX 253402300800000LL /* 10000-01-01T00:00:00Z: times must be below */
#define NS_PER_MS 1000000LL
#define NANO 1000000000LL

struct rec {
    struct bar b;
    size_t seq; /* position in the body: among equal t_ms the highest wins */
};

struct batch {
    struct rec *r;
    size_t n, cap, skipped;
    char symbol[sizeof((struct bar_series *)0)->symbol];
};

/* ------------------------------------------------------------------------------------------ batch / merge */

static int batch_init(struct batch *bt, size_t cap, const struct bar_series *out)
{
    memset(bt, 0, sizeof *bt);
    memcpy(bt->symbol, out->symbol, sizeof bt->symbol);
    bt->symbol[sizeof bt->symbol - 1] = '\0';
    if (cap == 0) return 0;
    if (cap > SIZE_MAX / sizeof *bt->r) return -1;
    bt->r = malloc(cap * sizeof *bt->r);
    if (bt->r == NULL) return -1;
    bt->cap = cap;
    return 0;
}

/* A symbol the answer names: adopted when the series has none; 0 when it names another one. Symbols that do
 * not fit (or are empty) are ignored. */
static int symbol_ok(struct batch *bt, const char *sym)
{
    if (sym == NULL) return 1;
    size_t n = strlen(sym);
    if (n == 0 || n >= sizeof bt->symbol) return 1;
    if (bt->symbol[0] == '\0') {
        memcpy(bt->symbol, sym, n + 1);
        return 1;
    }
    return strcmp(bt->symbol, sym) == 0;
}

static int bar_valid(const struct bar *b)
{
    if (!(isfinite(b->o) && isfinite(b->h) && isfinite(b->l) && isfinite(b->c) && isfinite(b->v))) return 0;
    if (b->o <= 0 || b->h <= 0 || b->l <= 0 || b->c <= 0 || b->v < 0) return 0;
    if (b->h < b->l || b->o < b->l || b->o > b->h || b->c < b->l || b->c > b->h) return 0;
    return b->t_ms >= 0 && b->t_ms < T_MS_MAX;
}

/* Appends the record when `ok` (every field parsed), valid and for this series' symbol; else counts it. */
static void batch_add(struct batch *bt, const struct bar *b, int ok, const char *sym)
{
    size_t seq = bt->n + bt->skipped;
    if (ok && bar_valid(b) && symbol_ok(bt, sym) && bt->n < bt->cap) {
        bt->r[bt->n].b = *b;
        bt->r[bt->n++].seq = seq;
    } else {
        bt->skipped++;
    }
}

static enum bars_status batch_fail(struct batch *bt, enum bars_status st)
{
    free(bt->r);
    bt->r = NULL;
    return st;
}

static int cmp_rec(const void *a, const void *b)
{
    const struct rec *x = a, *y = b;
    if (x->b.t_ms != y->b.t_ms) return x->b.t_ms < y->b.t_ms ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static enum bars_status commit(struct batch *bt, struct bar_series *out, size_t max_bars, size_t *skipped)
{
    size_t max = (max_bars == 0 || max_bars > BARS_MAX_LIMIT) ? BARS_MAX_LIMIT : max_bars;
    if (skipped) *skipped = bt->skipped;
    if (bt->n == 0) {
        memcpy(out->symbol, bt->symbol, sizeof out->symbol);
        return batch_fail(bt, BARS_EMPTY);
    }

    qsort(bt->r, bt->n, sizeof *bt->r, cmp_rec);
    size_t m = 0; /* keep the last (highest seq) record of each start time */
    for (size_t i = 0; i < bt->n; i++)
        if (i + 1 == bt->n || bt->r[i + 1].b.t_ms != bt->r[i].b.t_ms) bt->r[m++] = bt->r[i];

    /* only the newest `max` of either side can be among the newest `max` of the union */
    size_t nf = m > max ? m - max : 0, newn = m - nf;
    size_t of = out->n > max ? out->n - max : 0, oldn = out->n - of;
    size_t need = oldn + newn;
    if (need > out->cap) {
        struct bar *nb = realloc(out->bars, need * sizeof *nb);
        if (nb == NULL) {
            if (skipped) *skipped = 0;
            return batch_fail(bt, BARS_ENOMEM);
        }
        out->bars = nb;
        out->cap = need;
    }
    if (of) memmove(out->bars, out->bars + of, oldn * sizeof *out->bars);

    /* merge from the back: old bars in [0, i), new in r[nf, nf + j); the write index k stays >= i + j */
    size_t i = oldn, j = newn, k = need;
    while (j > 0) {
        const struct bar *nb = &bt->r[nf + j - 1].b;
        if (i > 0 && out->bars[i - 1].t_ms > nb->t_ms) {
            out->bars[--k] = out->bars[--i];
        } else {
            if (i > 0 && out->bars[i - 1].t_ms == nb->t_ms) i--; /* replaced by the later one */
            out->bars[--k] = *nb;
            j--;
        }
    }
    while (i > 0)
        out->bars[--k] = out->bars[--i];
    size_t count = need - k, start = k + (count > max ? count - max : 0);
    memmove(out->bars, out->bars + start, (need - start) * sizeof *out->bars);
    out->n = need - start;
    memcpy(out->symbol, bt->symbol, sizeof out->symbol);
    return batch_fail(bt, BARS_OK);
}

/* ------------------------------------------------------------------------------------------ scalars */

/* Digits only, value <= LLONG_MAX. */
static int parse_uint(const char *s, size_t len, long long *out)
{
    unsigned long long v = 0;
    if (len == 0) return 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > ((unsigned long long)LLONG_MAX - d) / 10) return 0;
        v = v * 10 + d;
    }
    *out = (long long)v;
    return 1;
}

/* "[-]digits" (already in 1e-9 units) or "[-]digits.digits" (at most 9 fraction digits) → exact nanos. */
static int parse_fixed9(const char *s, size_t len, long long *nanos)
{
    int neg = len > 0 && s[0] == '-';
    s += neg;
    len -= (size_t)neg;
    const char *dot = memchr(s, '.', len);
    long long v, ip, frac = 0;
    if (dot == NULL) {
        if (!parse_uint(s, len, &v)) return 0;
    } else {
        size_t il = (size_t)(dot - s), fl = len - il - 1;
        if (fl == 0 || fl > 9 || !parse_uint(s, il, &ip) || !parse_uint(dot + 1, fl, &frac)) return 0;
        for (size_t z = fl; z < 9; z++)
            frac *= 10;
        if (ip > (LLONG_MAX - frac) / NANO) return 0;
        v = ip * NANO + frac;
    }
    *nanos = neg ? -v : v;
    return 1;
}

/* Nanos → units, correctly rounded while exact in a double (|v| < 2^53), else as whole + fraction. */
static double nanos_to_double(long long v)
{
    if (v > -(1LL << 53) && v < (1LL << 53)) return (double)v / 1e9;
    return (double)(v / NANO) + (double)(v % NANO) / 1e9;
}

/* A strict decimal "[-]d[.d][e[+-]d]" (no inf/nan/hex/space) → double. */
static int parse_decimal(const char *s, size_t len, double *out)
{
    char buf[64];
    size_t i = 0, digits = 0;
    if (len == 0 || len >= sizeof buf) return 0;
    if (s[i] == '-') i++;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
        digits++;
    if (i < len && s[i] == '.')
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++)
            digits++;
    if (digits == 0) return 0;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        size_t ed = 0;
        if (++i < len && (s[i] == '+' || s[i] == '-')) i++;
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
            ed++;
        if (ed == 0) return 0;
    }
    if (i != len) return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    *out = strtod(buf, NULL);
    return 1;
}

/* A JSON number, or a string holding a strict decimal. */
static int num_of(const json_t *j, double *out)
{
    if (json_is_number(j)) {
        *out = json_number_value(j);
        return 1;
    }
    return json_is_string(j) && parse_decimal(json_string_value(j), json_string_length(j), out);
}

/* A JSON integer, an integral real, or a string of digits. */
static int int_of(const json_t *j, long long *out)
{
    if (json_is_integer(j)) {
        *out = (long long)json_integer_value(j);
        return 1;
    }
    if (json_is_real(j)) {
        double d = json_real_value(j);
        if (!(d >= -9e18 && d <= 9e18) || d != floor(d)) return 0;
        *out = (long long)d;
        return 1;
    }
    return json_is_string(j) && parse_uint(json_string_value(j), json_string_length(j), out);
}

/* ------------------------------------------------------------------------------------------ calendar */

struct civil {
    int y, mo, d, h, mi, s, ms, off_min;
};

static int days_in_month(int y, int m)
{
    static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return dm[m - 1] + (m == 2 && leap);
}

static int weekday(long long days) /* 0 = Sunday */
{
    return (int)(((days % 7) + 7 + 4) % 7);
}

static long long nth_sunday(int y, int m, int n)
{
    long long first = clock_days_from_civil(y, m, 1);
    return first + (7 - weekday(first)) % 7 + 7 * (n - 1);
}

static long long last_sunday(int y, int m)
{
    long long last = clock_days_from_civil(y, m, days_in_month(y, m));
    return last - weekday(last);
}

static int digits_at(const char *s, size_t len, size_t at, size_t n, int *v)
{
    long long x = 0;
    int ok = at + n <= len && parse_uint(s + at, n, &x);
    *v = (int)x;
    return ok;
}

/* "YYYY-MM-DD[T ]HH:MM:SS[.f+]" then, when zone is allowed, an optional "Z" or "+HH:MM"/"-HH:MM". */
static int parse_civil(const char *s, size_t len, struct civil *c, int zone)
{
    memset(c, 0, sizeof *c);
    if (len < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ') || s[13] != ':' ||
        s[16] != ':')
        return 0;
    if (!digits_at(s, len, 0, 4, &c->y) || !digits_at(s, len, 5, 2, &c->mo) ||
        !digits_at(s, len, 8, 2, &c->d) || !digits_at(s, len, 11, 2, &c->h) ||
        !digits_at(s, len, 14, 2, &c->mi) || !digits_at(s, len, 17, 2, &c->s))
        return 0;
    if (c->mo < 1 || c->mo > 12 || c->d < 1 || c->d > days_in_month(c->y, c->mo) || c->h > 23 || c->mi > 59 ||
        c->s > 59)
        return 0;
    size_t i = 19;
    if (i < len && s[i] == '.') {
        size_t f0 = ++i;
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
            if (i - f0 < 3) c->ms = c->ms * 10 + (s[i] - '0');
        if (i == f0) return 0;
        for (size_t z = i - f0; z < 3; z++)
            c->ms *= 10;
    }
    if (zone && i < len && s[i] == 'Z') {
        i++;
    } else if (zone && i < len && (s[i] == '+' || s[i] == '-')) {
        int oh, om;
        if (i + 6 != len || s[i + 3] != ':' || !digits_at(s, len, i + 1, 2, &oh) ||
            !digits_at(s, len, i + 4, 2, &om) || oh > 23 || om > 59)
            return 0;
        c->off_min = (s[i] == '-' ? -1 : 1) * (oh * 60 + om);
        i = len;
    }
    return i == len;
}

/* Local wall-clock time at UTC offset off_min (local = UTC + off) → epoch ms. */
static long long civil_ms(const struct civil *c, int off_min)
{
    long long min = clock_days_from_civil(c->y, c->mo, c->d) * 1440 + c->h * 60 + c->mi - off_min;
    return (min * 60 + c->s) * 1000 + c->ms;
}

/* US/Eastern wall-clock → epoch ms, with the US DST rules (see bars.h). */
static long long eastern_ms(const struct civil *c)
{
    long long start = c->y >= 2007 ? nth_sunday(c->y, 3, 2) : nth_sunday(c->y, 4, 1);
    long long end = c->y >= 2007 ? nth_sunday(c->y, 11, 1) : last_sunday(c->y, 10);
    long long local = clock_days_from_civil(c->y, c->mo, c->d) * 1440 + c->h * 60 + c->mi;
    int dst = local >= start * 1440 + 120 && local < end * 1440 + 120;
    return civil_ms(c, dst ? -240 : -300);
}

/* ------------------------------------------------------------------------------------------ Databento */

/* ts_event: ns (integer or digit string) or ISO 8601 (pretty_ts) → ms. */
static int db_time(const json_t *j, long long *t_ms)
{
    long long ns;
    struct civil c;
    if (int_of(j, &ns)) {
        if (ns < 0) return 0;
        *t_ms = ns / NS_PER_MS;
        return 1;
    }
    if (!json_is_string(j) || !parse_civil(json_string_value(j), json_string_length(j), &c, 1)) return 0;
    *t_ms = civil_ms(&c, c.off_min);
    return 1;
}

static int db_price(const json_t *j, double *out)
{
    long long v;
    if (json_is_integer(j))
        v = (long long)json_integer_value(j);
    else if (!json_is_string(j) || !parse_fixed9(json_string_value(j), json_string_length(j), &v))
        return 0;
    if (v == LLONG_MAX) return 0; /* UNDEF_PRICE */
    *out = nanos_to_double(v);
    return 1;
}

static void db_record(struct batch *bt, const json_t *rec)
{
    const json_t *hd = json_object_get(rec, "hd");
    struct bar b = {0};
    long long rtype = 0, vol = 0;
    int ok = json_is_object(hd) && db_time(json_object_get(hd, "ts_event"), &b.t_ms) &&
             int_of(json_object_get(hd, "rtype"), &rtype) && rtype >= 32 && rtype <= 35 &&
             db_price(json_object_get(rec, "open"), &b.o) && db_price(json_object_get(rec, "high"), &b.h) &&
             db_price(json_object_get(rec, "low"), &b.l) && db_price(json_object_get(rec, "close"), &b.c) &&
             int_of(json_object_get(rec, "volume"), &vol);
    b.v = (double)vol;
    batch_add(bt, &b, ok, json_string_value(json_object_get(rec, "symbol")));
}

static int is_error_doc(const json_t *j, const char *k1, const char *k2)
{
    return json_is_object(j) && (json_object_get(j, k1) != NULL || json_object_get(j, k2) != NULL);
}

enum bars_status bars_parse_databento_json(const char *body, size_t len, struct bar_series *out,
                                           size_t max_bars, size_t *skipped)
{
    struct batch bt;
    size_t lines = 1, pos = 0;
    if (skipped) *skipped = 0;
    if (out == NULL || (body == NULL && len > 0)) return BARS_EMALFORMED;
    for (const char *p = body; p != NULL && (size_t)(p - body) < len; lines++) {
        p = memchr(p, '\n', len - (size_t)(p - body));
        if (p) p++;
    }
    if (batch_init(&bt, lines, out)) return BARS_ENOMEM;
    while (pos < len) {
        const char *nl = memchr(body + pos, '\n', len - pos);
        size_t a = pos, e = nl ? (size_t)(nl - body) : len;
        pos = e + 1;
        while (a < e && (body[a] == ' ' || body[a] == '\t' || body[a] == '\r'))
            a++;
        while (e > a && (body[e - 1] == ' ' || body[e - 1] == '\t' || body[e - 1] == '\r'))
            e--;
        if (a == e) continue;
        json_error_t err;
        json_t *rec = json_loadb(body + a, e - a, 0, &err);
        if (!json_is_object(rec)) {
            /* not a JSON line: maybe a pretty-printed error document, else a broken or truncated body */
            json_decref(rec);
            rec = json_loadb(body, len, 0, &err);
            int prov = is_error_doc(rec, "detail", "error") && json_object_get(rec, "hd") == NULL;
            json_decref(rec);
            return batch_fail(&bt, prov ? BARS_EPROVIDER : BARS_EMALFORMED);
        }
        if (json_object_get(rec, "hd") == NULL && is_error_doc(rec, "detail", "error")) {
            json_decref(rec);
            return batch_fail(&bt, BARS_EPROVIDER);
        }
        db_record(&bt, rec);
        json_decref(rec);
    }
    return commit(&bt, out, max_bars, skipped);
}

/* ------------------------------------------------------------------------------------------ JSON documents
 */

static json_t *load_object(const char *body, size_t len)
{
    json_error_t err;
    json_t *root = body ? json_loadb(body, len, 0, &err) : NULL;
    if (json_is_object(root)) return root;
    json_decref(root);
    return NULL;
}

static enum bars_status done(json_t *root, enum bars_status st)
{
    json_decref(root);
    return st;
}

static int ohlcv_of(const json_t *o, const json_t *h, const json_t *l, const json_t *c, const json_t *v,
                    struct bar *b)
{
    return num_of(o, &b->o) && num_of(h, &b->h) && num_of(l, &b->l) && num_of(c, &b->c) && num_of(v, &b->v);
}

enum bars_status bars_parse_polygon_aggs(const char *body, size_t len, struct bar_series *out,
                                         size_t max_bars, size_t *skipped)
{
    struct batch bt;
    if (skipped) *skipped = 0;
    if (out == NULL) return BARS_EMALFORMED;
    json_t *root = load_object(body, len);
    if (root == NULL) return BARS_EMALFORMED;
    const char *status = json_string_value(json_object_get(root, "status"));
    if (status == NULL)
        return done(root, is_error_doc(root, "error", "message") ? BARS_EPROVIDER : BARS_EMALFORMED);
    if (strcmp(status, "OK") != 0 && strcmp(status, "DELAYED") != 0) return done(root, BARS_EPROVIDER);
    json_t *res = json_object_get(root, "results"), *rc = json_object_get(root, "resultsCount");
    if (res == NULL || json_is_null(res)) {
        if (json_is_integer(rc) && json_integer_value(rc) > 0) return done(root, BARS_EMALFORMED);
        res = NULL;
    } else if (!json_is_array(res)) {
        return done(root, BARS_EMALFORMED);
    }
    if (batch_init(&bt, json_array_size(res), out)) return done(root, BARS_ENOMEM);
    const char *ticker = json_string_value(json_object_get(root, "ticker"));
    for (size_t i = 0; i < json_array_size(res); i++) {
        const json_t *r = json_array_get(res, i);
        struct bar b = {0};
        int ok = json_is_object(r) && int_of(json_object_get(r, "t"), &b.t_ms) &&
                 ohlcv_of(json_object_get(r, "o"), json_object_get(r, "h"), json_object_get(r, "l"),
                          json_object_get(r, "c"), json_object_get(r, "v"), &b);
        batch_add(&bt, &b, ok, ticker);
    }
    return done(root, commit(&bt, out, max_bars, skipped));
}

int bars_polygon_next_url(const char *body, size_t len, char *buf, size_t bufsz)
{
    json_t *root = load_object(body, len);
    if (root == NULL) return -1;
    const json_t *u = json_object_get(root, "next_url");
    int rc = 0;
    if (json_is_string(u) && json_string_length(u) > 0) {
        size_t n = json_string_length(u);
        rc = -1;
        if (buf != NULL && n < bufsz) {
            memcpy(buf, json_string_value(u), n + 1);
            rc = 1;
        }
    }
    json_decref(root);
    return rc;
}

enum bars_status bars_parse_finnhub_candles(const char *body, size_t len, struct bar_series *out,
                                            size_t max_bars, size_t *skipped)
{
    static const char *const keys[6] = {"o", "h", "l", "c", "v", "t"};
    const json_t *a[6];
    struct batch bt;
    if (skipped) *skipped = 0;
    if (out == NULL) return BARS_EMALFORMED;
    json_t *root = load_object(body, len);
    if (root == NULL) return BARS_EMALFORMED;
    if (json_object_get(root, "error") != NULL) return done(root, BARS_EPROVIDER);
    const char *s = json_string_value(json_object_get(root, "s"));
    if (s == NULL || (strcmp(s, "ok") != 0 && strcmp(s, "no_data") != 0)) return done(root, BARS_EMALFORMED);
    size_t n = 0;
    if (strcmp(s, "ok") == 0) {
        for (int k = 0; k < 6; k++) {
            a[k] = json_object_get(root, keys[k]);
            if (!json_is_array(a[k]) || (k > 0 && json_array_size(a[k]) != n))
                return done(root, BARS_EMALFORMED);
            n = json_array_size(a[k]);
        }
    }
    if (batch_init(&bt, n, out)) return done(root, BARS_ENOMEM);
    for (size_t i = 0; i < n; i++) {
        struct bar b = {0};
        long long ts = -1;
        int ok = ohlcv_of(json_array_get(a[0], i), json_array_get(a[1], i), json_array_get(a[2], i),
                          json_array_get(a[3], i), json_array_get(a[4], i), &b) &&
                 int_of(json_array_get(a[5], i), &ts) && ts >= 0 && ts < T_MS_MAX / 1000;
        b.t_ms = ok ? ts * 1000 : 0; /* an out-of-range t is skipped, never multiplied (signed overflow) */
        batch_add(&bt, &b, ok, NULL);
    }
    return done(root, commit(&bt, out, max_bars, skipped));
}

/* ------------------------------------------------------------------------------------------ Alpha Vantage */

enum bars_status bars_parse_alphavantage_intraday(const char *body, size_t len, struct bar_series *out,
                                                  size_t max_bars, size_t *skipped)
{
    struct batch bt;
    const char *key, *tz = NULL;
    json_t *val, *series = NULL;
    if (skipped) *skipped = 0;
    if (out == NULL) return BARS_EMALFORMED;
    json_t *root = load_object(body, len);
    if (root == NULL) return BARS_EMALFORMED;
    if (json_object_get(root, "Error Message") != NULL) return done(root, BARS_EPROVIDER);
    json_object_foreach(root, key, val)
    {
        if (strncmp(key, "Time Series", 11) == 0 && series == NULL) series = val;
    }
    if (series == NULL)
        return done(root, is_error_doc(root, "Note", "Information") ? BARS_EPROVIDER : BARS_EMALFORMED);
    const json_t *meta = json_object_get(root, "Meta Data");
    if (!json_is_object(series) || (meta != NULL && !json_is_object(meta)))
        return done(root, BARS_EMALFORMED);
    json_object_foreach((json_t *)meta, key, val)
    {
        if (strlen(key) >= 9 && strcmp(key + strlen(key) - 9, "Time Zone") == 0)
            tz = json_is_string(val) ? json_string_value(val) : "";
    }
    int eastern = tz == NULL || strcmp(tz, "US/Eastern") == 0 || strcmp(tz, "America/New_York") == 0;
    if (!eastern && strcmp(tz, "UTC") != 0 && strcmp(tz, "GMT") != 0) return done(root, BARS_EMALFORMED);
    const char *sym = json_string_value(json_object_get(meta, "2. Symbol"));
    if (batch_init(&bt, json_object_size(series), out)) return done(root, BARS_ENOMEM);
    json_object_foreach(series, key, val)
    {
        struct bar b = {0};
        struct civil c;
        int ok = parse_civil(key, strlen(key), &c, 0) && json_is_object(val) &&
                 ohlcv_of(json_object_get(val, "1. open"), json_object_get(val, "2. high"),
                          json_object_get(val, "3. low"), json_object_get(val, "4. close"),
                          json_object_get(val, "5. volume"), &b);
        if (ok) b.t_ms = eastern ? eastern_ms(&c) : civil_ms(&c, 0);
        batch_add(&bt, &b, ok, sym);
    }
    return done(root, commit(&bt, out, max_bars, skipped));
}

/* ------------------------------------------------------------------------------------------ misc */

void bars_free(struct bar_series *s)
{
    if (s == NULL) return;
    free(s->bars);
    memset(s, 0, sizeof *s);
}

const char *bars_status_name(enum bars_status st)
{
    switch (st) {
    case BARS_OK:
        return "OK";
    case BARS_EMPTY:
        return "EMPTY";
    case BARS_EMALFORMED:
        return "EMALFORMED";
    case BARS_EPROVIDER:
        return "EPROVIDER";
    case BARS_ENOMEM:
        return "ENOMEM";
    }
    return "UNKNOWN";
}

json_t *bars_to_json(const struct bar_series *s, size_t last_n)
{
    if (s == NULL) return NULL;
    json_t *arr = json_array();
    if (arr == NULL) return NULL;
    size_t from = (last_n == 0 || last_n >= s->n) ? 0 : s->n - last_n;
    for (size_t i = from; i < s->n; i++) {
        const struct bar *b = &s->bars[i];
        long long t = b->t_ms / 1000 - (b->t_ms % 1000 < 0); /* floor */
        json_t *o = json_pack("{s:I,s:f,s:f,s:f,s:f,s:f}", "t", (json_int_t)t, "o", b->o, "h", b->h, "l",
                              b->l, "c", b->c, "v", b->v);
        if (o == NULL || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}
