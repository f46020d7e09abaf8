/* secret.c — environment secrets, masked hints, the redactor, constant-time compare.
 *
 * Storage: one entry per tracked name. The value and every derived form that is itself secret
 * (the base64 cores) live in a single sodium_malloc'd block per entry: guard pages, mlock'd where
 * the RLIMIT allows, zeroed by sodium_free. Names, masks and the candidate index are ordinary heap.
 *
 * Redactor: each secret contributes a few "patterns" (raw bytes, an escape-aware text matcher that
 * decodes URL and JSON escapes on the fly, three base64 cores, hex). Rather than enumerate every
 * encoder's output as fixed strings, the text matcher compares decoded input against the value, so
 * %2b vs %2B, '/' vs %2F vs \/, \u0041 vs A all match one pattern. Every pattern registers the
 * 2-byte input prefixes it can start with in a 64 Ki-bucket table (CSR layout, 8 KiB bitmap in
 * front), so the scan does one bit test per input byte and runs matchers only where a pattern can
 * start. JSON \uXXXX escapes get a side table keyed by the decoded first byte.
 *
 * Single-threaded by design (one event loop): the store and index are plain globals, no locking.
 */
#include "secret.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SECRET_MIN_ENCODED 4 /* shorter values are redacted raw only */
#define SECRET_MASK_MAX 25   /* 8 bullets * 3 bytes + NUL */
#define SECRET_NKEYS 65536
#define SECRET_MAX_HEADS 8
#define BULLET "\xe2\x80\xa2"

enum pattern_kind { PAT_RAW, PAT_TEXT, PAT_B64, PAT_HEX };

struct secret_entry {
    char *name;
    unsigned char *mem; /* sodium_malloc: value, NUL, then the three base64 cores */
    size_t len;
    size_t b64_off[3], b64_len[3];
    int is_secret;
    char mask[SECRET_MASK_MAX];
};

struct secret_pattern {
    uint32_t entry;
    uint8_t kind;
    uint8_t align; /* base64 alignment, PAT_B64 only */
};

struct key_pair {
    uint32_t key; /* 0..65535: 2-byte prefix; 65536 + b: \u escape decoding to first byte b */
    uint32_t pat;
};

struct secret_index {
    uint64_t bits[SECRET_NKEYS / 64]; /* 2-byte prefix has candidates */
    uint8_t special[256];             /* first byte needs a look beyond the bitmap */
    uint32_t *start;                  /* SECRET_NKEYS + 256 + 1 bucket offsets into ids */
    uint32_t *ids;                    /* pattern ids, grouped by key */
    struct secret_pattern *pats;
    size_t npats;
};

static struct {
    int ready;
    int dirty; /* index must be rebuilt before the next scan */
    struct secret_entry *v;
    size_t n, cap;
    struct secret_index ix;
    unsigned char hash_key[crypto_generichash_KEYBYTES];
} S;

static const char HEXU[] = "0123456789ABCDEF";
static const char HEXL[] = "0123456789abcdef";
static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* ---------------------------------------------------------------- small helpers */

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

static int hex2(const unsigned char *p)
{
    int hi = hexval(p[0]), lo = hexval(p[1]);
    return (hi < 0 || lo < 0) ? -1 : hi << 4 | lo;
}

static long hex4(const unsigned char *p)
{
    int a = hex2(p), b = hex2(p + 2);
    return (a < 0 || b < 0) ? -1 : (long)a << 8 | b;
}

/* The letter of JSON's two-character escape for c, or 0. */
static unsigned char json_short_letter(unsigned char c)
{
    switch (c) {
    case '"':
        return '"';
    case '\\':
        return '\\';
    case '/':
        return '/';
    case '\b':
        return 'b';
    case '\f':
        return 'f';
    case '\n':
        return 'n';
    case '\r':
        return 'r';
    case '\t':
        return 't';
    default:
        return 0;
    }
}

static int json_short_value(unsigned char letter)
{
    switch (letter) {
    case '"':
    case '\\':
    case '/':
        return letter;
    case 'b':
        return '\b';
    case 'f':
        return '\f';
    case 'n':
        return '\n';
    case 'r':
        return '\r';
    case 't':
        return '\t';
    default:
        return -1;
    }
}

static size_t utf8_encode(unsigned long cp, unsigned char *o)
{
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | cp >> 6);
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | cp >> 12);
        o[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | cp >> 18);
    o[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes a JSON \uXXXX escape (and a following low surrogate) at in[p], which must start with
 * "\u". Returns the input length consumed and the UTF-8 bytes in o (length in *olen), or 0 if malformed. */
static size_t json_u_decode(const unsigned char *in, size_t len, size_t p, unsigned char *o, size_t *olen)
{
    if (len - p < 6) return 0;
    long cp = hex4(in + p + 2);
    if (cp < 0 || (cp >= 0xDC00 && cp < 0xE000)) return 0;
    if (cp >= 0xD800 && cp < 0xDC00) {
        if (len - p < 12 || in[p + 6] != '\\' || in[p + 7] != 'u') return 0;
        long lo = hex4(in + p + 8);
        if (lo < 0xDC00 || lo >= 0xE000) return 0;
        *olen = utf8_encode(0x10000 + ((unsigned long)(cp - 0xD800) << 10) + (unsigned long)(lo - 0xDC00), o);
        return 12;
    }
    *olen = utf8_encode((unsigned long)cp, o);
    return 6;
}

/* ---------------------------------------------------------------- masks */

static int mask_tail_safe(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           (c && strchr("-._~+/=:@", c) != NULL);
}

static void mask_build(const unsigned char *v, size_t len, char *out)
{
    size_t o = 0;
    if (len == 0) {
        out[0] = '\0';
        return;
    }
    if (len <= 8) {
        for (int k = 0; k < 8; k++, o += 3)
            memcpy(out + o, BULLET, 3);
        out[o] = '\0';
        return;
    }
    for (int k = 0; k < 4; k++, o += 3)
        memcpy(out + o, BULLET, 3);
    for (size_t k = len - 4; k < len; k++) {
        if (mask_tail_safe(v[k])) {
            out[o++] = (char)v[k];
        } else {
            memcpy(out + o, BULLET, 3);
            o += 3;
        }
    }
    out[o] = '\0';
}

int secret_mask_value(const char *value, size_t len, char *out, size_t outlen)
{
    if (out == NULL || outlen < SECRET_MASK_BUFLEN) {
        if (out != NULL && outlen > 0) out[0] = '\0';
        return -1;
    }
    mask_build((const unsigned char *)value, value ? len : 0, out);
    return 0;
}

/* ---------------------------------------------------------------- the store */

static int ensure_ready(void)
{
    if (S.ready) return 0;
    if (sodium_init() < 0) return -1;
    randombytes_buf(S.hash_key, sizeof S.hash_key);
    S.ready = 1;
    return 0;
}

int secret_init(void)
{
    return ensure_ready();
}

static struct secret_entry *find_entry(const char *name)
{
    if (name == NULL) return NULL;
    for (size_t k = 0; k < S.n; k++)
        if (strcmp(S.v[k].name, name) == 0) return &S.v[k];
    return NULL;
}

/* Writes the base64 (standard alphabet) characters that depend only on v when v sits at byte
 * offset `align` (0..2) of a 3-byte group: the partial characters at either edge are left out. */
static size_t b64_core(const unsigned char *v, size_t n, size_t align, unsigned char *out)
{
    size_t skip = (8 * align + 5) / 6, emitted = 0, o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t k = 0; k < align + n; k++) {
        acc = acc << 8 | (k < align ? 0 : v[k - align]);
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            if (emitted++ >= skip) out[o++] = (unsigned char)B64[acc >> bits & 63];
        }
        acc &= (1u << bits) - 1;
    }
    return o;
}

static int entry_fill(struct secret_entry *e, const char *name, const char *value, int is_secret)
{
    size_t n = value ? strlen(value) : 0;
    memset(e, 0, sizeof *e);
    e->name = strdup(name);
    if (e->name == NULL) return -1;
    e->is_secret = is_secret;
    if (n == 0) return 0;
    e->mem = sodium_malloc(n + 1 + 3 * (n + 6) * 4 / 3);
    if (e->mem == NULL) {
        free(e->name);
        return -1;
    }
    memcpy(e->mem, value, n + 1);
    e->len = n;
    size_t off = n + 1;
    for (size_t a = 0; a < 3; a++) {
        e->b64_off[a] = off;
        e->b64_len[a] = b64_core(e->mem, n, a, e->mem + off);
        off += e->b64_len[a];
    }
    mask_build(e->mem, n, e->mask);
    return 0;
}

static int store_add(const char *name, const char *value, int is_secret)
{
    if (ensure_ready() < 0) return -1;
    if (S.n == S.cap) {
        size_t cap = S.cap ? S.cap * 2 : 16;
        struct secret_entry *v = realloc(S.v, cap * sizeof *v);
        if (v == NULL) return -1;
        S.v = v;
        S.cap = cap;
    }
    if (entry_fill(&S.v[S.n], name, value, is_secret) < 0) return -1;
    S.n++;
    S.dirty = 1;
    return 0;
}

int secret_track(const char *name, int is_secret)
{
    if (name == NULL || name[0] == '\0') return -1;
    if (find_entry(name) != NULL) return 0;
    return store_add(name, getenv(name), is_secret != 0);
}

int secret_add_literal(const char *label, const char *value)
{
    if (label == NULL || label[0] == '\0') return -1;
    struct secret_entry *e = find_entry(label);
    if (e == NULL) return store_add(label, value, 1);
    size_t n = value ? strlen(value) : 0;
    if (n != e->len || (n > 0 && sodium_memcmp(e->mem, value, n) != 0)) return -1;
    if (!e->is_secret) {
        e->is_secret = 1;
        S.dirty = 1;
    }
    return 0;
}

int secret_present(const char *name)
{
    struct secret_entry *e = find_entry(name);
    return e != NULL && e->len > 0;
}

const char *secret_value(const char *name)
{
    struct secret_entry *e = find_entry(name);
    return (e != NULL && e->len > 0) ? (const char *)e->mem : NULL;
}

int secret_mask(const char *name, char *out, size_t outlen)
{
    if (out == NULL || outlen < SECRET_MASK_BUFLEN) return secret_mask_value(NULL, 0, out, outlen);
    struct secret_entry *e = find_entry(name);
    memcpy(out, e ? e->mask : "", e ? strlen(e->mask) + 1 : 1);
    return 0;
}

size_t secret_count(void)
{
    return S.n;
}

static void index_free(void)
{
    free(S.ix.start);
    free(S.ix.ids);
    free(S.ix.pats);
    memset(&S.ix, 0, sizeof S.ix);
}

void secret_shutdown(void)
{
    for (size_t k = 0; k < S.n; k++) {
        sodium_free(S.v[k].mem); /* zeroes the value and cores before unmapping */
        sodium_memzero(S.v[k].mask, sizeof S.v[k].mask);
        free(S.v[k].name);
    }
    free(S.v);
    index_free();
    sodium_memzero(S.hash_key, sizeof S.hash_key);
    memset(&S, 0, sizeof S);
}

int secret_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    static const unsigned char empty[1];
    unsigned char da[crypto_generichash_BYTES], db[crypto_generichash_BYTES];
    if (ensure_ready() < 0) return 0;
    crypto_generichash(da, sizeof da, alen ? a : empty, alen, S.hash_key, sizeof S.hash_key);
    crypto_generichash(db, sizeof db, blen ? b : empty, blen, S.hash_key, sizeof S.hash_key);
    int eq = sodium_memcmp(da, db, sizeof da) == 0;
    sodium_memzero(da, sizeof da);
    sodium_memzero(db, sizeof db);
    return eq;
}

/* ---------------------------------------------------------------- matchers */

/* Matches one encoded unit of the text form at in[p] against v[j..]: %XX, '+' for space, a JSON
 * escape, or the literal byte (tried last, so a literal '%' or '\' in v still matches raw).
 * Returns input bytes consumed (0: no match) and the value bytes covered in *used. */
static size_t text_unit(const unsigned char *in, size_t len, size_t p, const unsigned char *v, size_t vleft,
                        size_t *used)
{
    unsigned char c = in[p], u[4];
    size_t ulen;
    *used = 1;
    if (c == '%' && len - p >= 3 && hex2(in + p + 1) == v[0]) return 3;
    if (c == '+' && v[0] == ' ') return 1;
    if (c == '\\' && len - p >= 2) {
        if (json_short_value(in[p + 1]) == v[0]) return 2;
        size_t n = in[p + 1] == 'u' ? json_u_decode(in, len, p, u, &ulen) : 0;
        if (n > 0 && ulen <= vleft && memcmp(u, v, ulen) == 0) {
            *used = ulen;
            return n;
        }
    }
    return c == v[0] ? 1 : 0;
}

static size_t match_text(const unsigned char *in, size_t len, size_t i, const struct secret_entry *e)
{
    size_t p = i, j = 0, used;
    while (j < e->len) {
        if (p >= len) return 0;
        size_t n = text_unit(in, len, p, e->mem + j, e->len - j, &used);
        if (n == 0) return 0;
        p += n;
        j += used;
    }
    return p - i;
}

/* One base64 character t at in[p]: literal, URL-safe alphabet, or '+' '/' percent- or JSON-escaped. */
static size_t b64_unit(const unsigned char *in, size_t len, size_t p, unsigned char t)
{
    unsigned char c = in[p];
    if (c == t) return 1;
    if (t != '+' && t != '/') return 0;
    if (c == (t == '+' ? '-' : '_')) return 1;
    if (c == '%' && len - p >= 3 && hex2(in + p + 1) == t) return 3;
    if (t == '/' && c == '\\' && len - p >= 2 && in[p + 1] == '/') return 2;
    return 0;
}

static size_t match_b64(const unsigned char *in, size_t len, size_t i, const struct secret_entry *e,
                        int align)
{
    const unsigned char *b = e->mem + e->b64_off[align];
    size_t p = i;
    for (size_t k = 0; k < e->b64_len[align]; k++) {
        size_t n = p < len ? b64_unit(in, len, p, b[k]) : 0;
        if (n == 0) return 0;
        p += n;
    }
    return p - i;
}

static size_t match_hex(const unsigned char *in, size_t len, size_t i, const struct secret_entry *e)
{
    if (len - i < 2 * e->len) return 0;
    for (size_t j = 0; j < e->len; j++)
        if (hex2(in + i + 2 * j) != e->mem[j]) return 0;
    return 2 * e->len;
}

static size_t match_pattern(const struct secret_pattern *pt, const unsigned char *in, size_t len, size_t i)
{
    const struct secret_entry *e = &S.v[pt->entry];
    switch (pt->kind) {
    case PAT_RAW:
        return (len - i >= e->len && memcmp(in + i, e->mem, e->len) == 0) ? e->len : 0;
    case PAT_TEXT:
        return match_text(in, len, i, e);
    case PAT_B64:
        return match_b64(in, len, i, e, pt->align);
    default:
        return match_hex(in, len, i, e);
    }
}

/* ---------------------------------------------------------------- index build */

/* A possible encoding of a pattern's first unit, cut to its first 2 bytes. */
struct head {
    unsigned char b[2];
    int n;
};

static int text_heads(unsigned char c, struct head *h)
{
    int n = 0;
    h[n++] = (struct head){{c, 0}, 1};
    h[n++] = (struct head){{'%', (unsigned char)HEXU[c >> 4]}, 2};
    h[n++] = (struct head){{'%', (unsigned char)HEXL[c >> 4]}, 2};
    if (c == ' ') h[n++] = (struct head){{'+', 0}, 1};
    if (json_short_letter(c)) h[n++] = (struct head){{'\\', json_short_letter(c)}, 2};
    return n; /* the \uXXXX forms go to the side table instead */
}

static int text_firsts(unsigned char c, unsigned char *f)
{
    int n = 0;
    f[n++] = c;
    f[n++] = '%';
    f[n++] = '\\';
    if (c == ' ') f[n++] = '+';
    return n;
}

static int b64_heads(unsigned char t, struct head *h)
{
    int n = 0;
    h[n++] = (struct head){{t, 0}, 1};
    if (t == '+' || t == '/') {
        h[n++] = (struct head){{t == '+' ? '-' : '_', 0}, 1};
        h[n++] = (struct head){{'%', '2'}, 2};
    }
    if (t == '/') h[n++] = (struct head){{'\\', '/'}, 2};
    return n;
}

static int b64_firsts(unsigned char t, unsigned char *f)
{
    struct head h[SECRET_MAX_HEADS];
    int nh = b64_heads(t, h);
    for (int k = 0; k < nh; k++)
        f[k] = h[k].b[0];
    return nh;
}

static int hex_heads(unsigned char c, struct head *h)
{
    const char *hi[2] = {HEXU, HEXL};
    int n = 0;
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++)
            h[n++] = (struct head){{(unsigned char)hi[a][c >> 4], (unsigned char)hi[b][c & 15]}, 2};
    return n;
}

/* Cross product of first-unit heads and the possible first bytes of the second unit. */
static int cross_keys(const struct head *h, int nh, const unsigned char *f, int nf, uint32_t *keys)
{
    int n = 0;
    for (int a = 0; a < nh; a++) {
        if (h[a].n == 2) {
            keys[n++] = (uint32_t)h[a].b[0] << 8 | h[a].b[1];
            continue;
        }
        for (int b = 0; b < nf; b++)
            keys[n++] = (uint32_t)h[a].b[0] << 8 | f[b];
    }
    return n;
}

/* Every key pattern pt can start at. Returns the count (at most 64). */
static int pattern_keys(const struct secret_pattern *pt, uint32_t *keys)
{
    const struct secret_entry *e = &S.v[pt->entry];
    const unsigned char *v = e->mem;
    struct head h[SECRET_MAX_HEADS];
    unsigned char f[SECRET_MAX_HEADS];
    int n;
    switch (pt->kind) {
    case PAT_RAW:
        keys[0] = (uint32_t)v[0] << 8 | v[1];
        return 1;
    case PAT_TEXT:
        n = cross_keys(h, text_heads(v[0], h), f, text_firsts(v[1], f), keys);
        keys[n++] = SECRET_NKEYS + v[0]; /* \uXXXX whose UTF-8 starts with v[0] */
        return n;
    case PAT_B64:
        v = e->mem + e->b64_off[pt->align];
        return cross_keys(h, b64_heads(v[0], h), f, b64_firsts(v[1], f), keys);
    default:
        n = hex_heads(v[0], h);
        return cross_keys(h, n, f, 0, keys);
    }
}

static int collect_patterns(void)
{
    /* at most RAW + TEXT + HEX + 3 x B64 per entry */
    S.ix.pats = malloc((S.n ? S.n : 1) * 6 * sizeof *S.ix.pats);
    if (S.ix.pats == NULL) return -1;
    for (uint32_t k = 0; k < S.n; k++) {
        const struct secret_entry *e = &S.v[k];
        /* Values shorter than SECRET_MIN_REDACT would be "found" inside ordinary output (a 4-digit id inside
         * every trace id and timestamp): they are tracked and masked in hints, never pattern-matched. */
        if (!e->is_secret || e->len < SECRET_MIN_REDACT) continue;
        S.ix.pats[S.ix.npats++] = (struct secret_pattern){k, PAT_RAW, 0};
        if (e->len < SECRET_MIN_ENCODED) continue;
        S.ix.pats[S.ix.npats++] = (struct secret_pattern){k, PAT_TEXT, 0};
        S.ix.pats[S.ix.npats++] = (struct secret_pattern){k, PAT_HEX, 0};
        for (uint8_t a = 0; a < 3; a++)
            S.ix.pats[S.ix.npats++] = (struct secret_pattern){k, PAT_B64, a};
    }
    return 0;
}

static int key_pair_cmp(const void *x, const void *y)
{
    const struct key_pair *a = x, *b = y;
    if (a->key != b->key) return a->key < b->key ? -1 : 1;
    return (a->pat > b->pat) - (a->pat < b->pat);
}

/* Builds the sorted, de-duplicated (key, pattern) list. */
static struct key_pair *collect_pairs(size_t *npairs)
{
    struct key_pair *kp = malloc((S.ix.npats ? S.ix.npats : 1) * 64 * sizeof *kp);
    uint32_t keys[64];
    size_t n = 0;
    if (kp == NULL) return NULL;
    for (uint32_t p = 0; p < S.ix.npats; p++) {
        int nk = pattern_keys(&S.ix.pats[p], keys);
        for (int k = 0; k < nk; k++)
            kp[n++] = (struct key_pair){keys[k], p};
    }
    qsort(kp, n, sizeof *kp, key_pair_cmp);
    size_t w = 0;
    for (size_t r = 0; r < n; r++)
        if (w == 0 || kp[r].key != kp[w - 1].key || kp[r].pat != kp[w - 1].pat) kp[w++] = kp[r];
    *npairs = w;
    return kp;
}

static int index_build(void)
{
    size_t npairs = 0;
    struct key_pair *kp = NULL;
    int rc = -1;
    index_free();
    S.ix.start = calloc(SECRET_NKEYS + 256 + 1, sizeof *S.ix.start);
    if (S.ix.start == NULL || collect_patterns() < 0) goto done;
    if ((kp = collect_pairs(&npairs)) == NULL) goto done;
    S.ix.ids = malloc((npairs ? npairs : 1) * sizeof *S.ix.ids);
    if (S.ix.ids == NULL) goto done;
    for (size_t k = 0; k < npairs; k++) {
        uint32_t key = kp[k].key;
        S.ix.ids[k] = kp[k].pat;
        S.ix.start[key + 1]++;
        if (key < SECRET_NKEYS)
            S.ix.bits[key >> 6] |= (uint64_t)1 << (key & 63);
        else
            S.ix.special['\\'] = 1;
    }
    for (size_t k = 0; k < SECRET_NKEYS + 256; k++)
        S.ix.start[k + 1] += S.ix.start[k];
    for (size_t c = 0; c < 256; c++)
        if (S.ix.special[c]) memset(&S.ix.bits[c << 2], 0xFF, 4 * sizeof S.ix.bits[0]);
    S.dirty = 0;
    rc = 0;
done:
    free(kp);
    if (rc < 0) index_free();
    return rc;
}

/* ---------------------------------------------------------------- scanning */

struct hit {
    size_t pos, len;
    uint32_t entry;
};

static void try_bucket(uint32_t key, const unsigned char *in, size_t len, size_t i, struct hit *best)
{
    for (uint32_t k = S.ix.start[key]; k < S.ix.start[key + 1]; k++) {
        const struct secret_pattern *pt = &S.ix.pats[S.ix.ids[k]];
        size_t m = match_pattern(pt, in, len, i);
        if (m > best->len) {
            best->len = m;
            best->entry = pt->entry;
        }
    }
}

/* Longest match starting exactly at in[i], if any. */
static int match_at(const unsigned char *in, size_t len, size_t i, struct hit *best)
{
    unsigned char c = in[i];
    best->pos = i;
    best->len = 0;
    if (len - i >= 2) try_bucket((uint32_t)c << 8 | in[i + 1], in, len, i, best);
    if (!S.ix.special[c]) return best->len > 0;
    if (c == '\\' && len - i >= 6 && in[i + 1] == 'u') {
        unsigned char u[4];
        size_t ulen;
        if (json_u_decode(in, len, i, u, &ulen) > 0) try_bucket(SECRET_NKEYS + u[0], in, len, i, best);
    }
    return best->len > 0;
}

/* Finds the leftmost match at or after `from`. The hot loop: one bit test per input byte (special
 * first bytes have all 256 of their keys set, see index_build). */
static int scan(const unsigned char *in, size_t len, size_t from, struct hit *h)
{
    if (from >= len) return 0;
    uint32_t key = in[from];
    for (size_t i = from; i + 1 < len; i++) {
        key = (key << 8 | in[i + 1]) & 0xFFFF;
        if ((S.ix.bits[key >> 6] >> (key & 63) & 1) && match_at(in, len, i, h)) return 1;
    }
    return S.ix.special[in[len - 1]] && match_at(in, len, len - 1, h);
}

static int index_ready(void)
{
    return (S.dirty || S.ix.start == NULL) ? index_build() : 0;
}

struct outbuf {
    char *d;
    size_t n, cap;
};

static int out_put(struct outbuf *o, const void *p, size_t n)
{
    if (o->cap - o->n < n + 1) {
        size_t cap = o->cap * 2 > o->n + n + 1 ? o->cap * 2 : o->n + n + 1;
        char *d = realloc(o->d, cap);
        if (d == NULL) return -1;
        o->d = d;
        o->cap = cap;
    }
    if (n > 0) memcpy(o->d + o->n, p, n);
    o->n += n;
    return 0;
}

/* One leftmost-longest pass; *found is set when a secret was masked. */
static char *redact_pass(const char *in, size_t len, size_t *outlen, int *found)
{
    const unsigned char *s = (const unsigned char *)in;
    struct outbuf o = {malloc(len + 1), 0, len + 1};
    struct hit h;
    size_t at = 0;
    *found = 0;
    if (o.d == NULL || (len > 0 && index_ready() < 0)) goto fail;
    while (at < len && scan(s, len, at, &h)) {
        const char *mask = S.v[h.entry].mask;
        if (out_put(&o, s + at, h.pos - at) < 0 || out_put(&o, mask, strlen(mask)) < 0) goto fail;
        at = h.pos + h.len;
        *found = 1;
    }
    if (out_put(&o, s + at, len - at) < 0) goto fail;
    o.d[o.n] = '\0';
    *outlen = o.n;
    return o.d;
fail:
    free(o.d);
    return NULL;
}

#define REDACT_MAX_PASSES 8

char *secret_redact(const char *in, size_t len, size_t *outlen)
{
    static const char withheld[] = "[redacted]";
    size_t n = 0;
    int found = 0;
    char *out = redact_pass(in, len, &n, &found);
    /* A mask's last-4 hint joined with the text after it can spell another secret (one secret's tail is
     * another's head; found by fuzz_redact): pass again until no secret is left. */
    for (int pass = 1; out && found && pass < REDACT_MAX_PASSES; pass++) {
        char *again = redact_pass(out, n, &n, &found);
        free(out);
        out = again;
    }
    if (out && found && secret_contains(out, n)) { /* still not clean: withhold the whole text */
        free(out);
        out = strdup(withheld);
        n = sizeof withheld - 1;
    }
    if (out && outlen != NULL) *outlen = n;
    return out;
}

int secret_contains(const char *in, size_t len)
{
    struct hit h;
    if (len == 0) return 0;
    if (index_ready() < 0) return 1; /* cannot prove it clean: fail closed */
    return scan((const unsigned char *)in, len, 0, &h);
}
