/* test_secret.c — unit tests for runtime/secret.c: masking, presence, the redactor in every
 * encoding it promises, constant-time compare, literals, shutdown, and a redaction benchmark. */
#include "secret.h"
#include "tap.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define B "\xe2\x80\xa2"
#define B4 B B B B
#define B8 B4 B4

#define KEY "CANARY_k3y+Va/lue=A1b2" /* reserved URL chars: + / = */
#define KEY_MASK B4 "A1b2"
#define SK "sk-live-4f9c2d7e8a1b6c3d"
#define SK_MASK B4 "6c3d"
#define SPACEY "open sesame phrase 42"
#define JSONY "p\xc3\xa4\"ss\\w/rd<\n\x01Zz9Q" /* UTF-8, quote, backslash, slash, controls */
#define EMOJI "emo\xf0\x9f\x98\x80-key-9f3a"   /* needs a surrogate pair as \uXXXX */
#define SYM "tok~en?>abc~?>xyz~?>qq"           /* ASCII whose base64 contains '+' and '/' */
#define PUBLIC_URL "https://api.example.test/v2"

static char *redact_str(const char *in)
{
    return secret_redact(in, strlen(in), NULL);
}

static void is_redacted(const char *in, const char *expected, const char *name)
{
    char *out = redact_str(in);
    tap_is_str(out, expected, name);
    free(out);
}

static char *cat3(const char *a, const char *b, const char *c)
{
    size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
    char *s = malloc(la + lb + lc + 1);
    memcpy(s, a, la);
    memcpy(s + la, b, lb);
    memcpy(s + la + lb, c, lc + 1);
    return s;
}

/* Percent-encodes everything but RFC 3986 unreserved characters (and `keep`). */
static void url_encode(const char *s, int upper, int plus_space, const char *keep, char *out)
{
    const char *hex = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~", *p) || (keep && strchr(keep, *p))) {
            *out++ = (char)*p;
        } else if (*p == ' ' && plus_space) {
            *out++ = '+';
        } else {
            *out++ = '%';
            *out++ = hex[*p >> 4];
            *out++ = hex[*p & 15];
        }
    }
    *out = '\0';
}

static void hex_encode(const char *s, int upper, char *out)
{
    const char *hex = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        *out++ = hex[*p >> 4];
        *out++ = hex[*p & 15];
    }
    *out = '\0';
}

/* "Basic " + base64(prefix + value + suffix) must come back as the base64 characters that do not
 * depend on value, with value's mask in between. */
static void check_b64(const char *prefix, const char *value, const char *suffix, int variant,
                      const char *mask, const char *name)
{
    char *plain = cat3(prefix, value, suffix), b64[512], in[600], expected[700];
    size_t plen = strlen(prefix), vlen = strlen(value);
    sodium_bin2base64(b64, sizeof b64, (unsigned char *)plain, strlen(plain), variant);
    size_t s = (8 * plen + 5) / 6, e = 8 * (plen + vlen) / 6;
    snprintf(in, sizeof in, "Authorization: Basic %s\r\n", b64);
    snprintf(expected, sizeof expected, "Authorization: Basic %.*s%s%s\r\n", (int)s, b64, mask, b64 + e);
    tap_ok(secret_contains(in, strlen(in)), "contains: %s", name);
    is_redacted(in, expected, name);
    free(plain);
}

static void test_store_and_masks(void)
{
    char m[SECRET_MASK_BUFLEN];
    tap_is_int(secret_init(), 0, "secret_init");
    tap_is_int(secret_count(), 0, "empty store");
    const char *names[] = {"GH_KEY",   "GH_SK",     "GH_EIGHT", "GH_SHORT", "GH_EMPTY",
                           "GH_UNSET", "GH_SPACEY", "GH_JSONY", "GH_EMOJI", "GH_SYM"};
    int ok = 1;
    for (size_t k = 0; k < sizeof names / sizeof *names; k++)
        ok &= secret_track(names[k], 1) == 0;
    ok &= secret_track("GH_PUBLIC", 0) == 0;
    tap_ok(ok, "track 11 names");
    tap_is_int(secret_count(), 11, "count");
    tap_is_int(secret_track("GH_KEY", 1), 0, "tracking twice is ok");
    tap_is_int(secret_count(), 11, "... and a no-op");
    tap_is_int(secret_track(NULL, 1), -1, "NULL name refused");

    tap_is_int(secret_present("GH_KEY"), 1, "present: set");
    tap_is_int(secret_present("GH_EMPTY"), 0, "present: empty");
    tap_is_int(secret_present("GH_UNSET"), 0, "present: unset");
    tap_is_int(secret_present("GH_NOT_TRACKED"), 0, "present: untracked");
    tap_is_int(secret_present("GH_PUBLIC"), 1, "present: public");
    tap_is_str(secret_value("GH_KEY"), KEY, "value: copied from env");
    tap_ok(secret_value("GH_KEY") != getenv("GH_KEY"), "value: a private copy");
    tap_is_str(secret_value("GH_EMPTY"), NULL, "value: empty is NULL");
    tap_is_str(secret_value("GH_UNSET"), NULL, "value: unset is NULL");
    tap_is_str(secret_value("GH_NOT_TRACKED"), NULL, "value: untracked is NULL");
    tap_is_str(secret_value("GH_PUBLIC"), PUBLIC_URL, "value: public readable");

    tap_ok(secret_mask("GH_KEY", m, sizeof m) == 0 && strcmp(m, KEY_MASK) == 0, "mask long: %s", m);
    tap_ok(memcmp(m, "\xe2\x80\xa2\xe2\x80\xa2", 6) == 0, "mask uses UTF-8 U+2022 bullets");
    secret_mask("GH_EIGHT", m, sizeof m);
    tap_is_str(m, B8, "mask: exactly 8 bytes fully masked");
    secret_mask("GH_SHORT", m, sizeof m);
    tap_is_str(m, B8, "mask: short fully masked");
    secret_mask("GH_EMPTY", m, sizeof m);
    tap_is_str(m, "", "mask: empty is empty string");
    secret_mask("GH_NOT_TRACKED", m, sizeof m);
    tap_is_str(m, "", "mask: untracked is empty string");
    tap_is_int(secret_mask("GH_KEY", m, 31), -1, "mask: 31-byte buffer refused");
    tap_is_str(m, "", "... and left empty");
    secret_mask_value("123456789", 9, m, sizeof m);
    tap_is_str(m, B4 "6789", "mask_value: 9 bytes shows last 4");
    secret_mask_value("12345678", 8, m, sizeof m);
    tap_is_str(m, B8, "mask_value: 8 bytes fully masked");
    secret_mask_value("x", 0, m, sizeof m);
    tap_is_str(m, "", "mask_value: empty");
    secret_mask_value("abcdefghij\"x<", 13, m, sizeof m);
    tap_is_str(m, B4 "j" B "x" B, "mask_value: unsafe hint bytes become bullets");
    secret_mask("GH_JSONY", m, sizeof m);
    tap_is_str(m, B4 "Zz9Q", "mask: JSONY");
}

static void test_raw_and_public(void)
{
    is_redacted("Authorization: Bearer " KEY "\n", "Authorization: Bearer " KEY_MASK "\n", "raw");
    is_redacted(KEY, KEY_MASK, "raw: whole buffer");
    is_redacted(KEY " tail", KEY_MASK " tail", "raw: at start");
    is_redacted("head " KEY, "head " KEY_MASK, "raw: at end");
    is_redacted(KEY KEY, KEY_MASK KEY_MASK, "raw: adjacent occurrences");
    is_redacted("a=" KEY "&b=" SK, "a=" KEY_MASK "&b=" SK_MASK, "raw: two secrets");
    is_redacted("x"
                "12345678"
                "y",
                "x" B8 "y", "raw: 8-byte secret");
    is_redacted("base=" PUBLIC_URL, "base=" PUBLIC_URL, "public variable not redacted");
    is_redacted("CANARY_k3y+Va/lue=A1b", "CANARY_k3y+Va/lue=A1b", "prefix of a secret untouched");
    is_redacted("ANARY_k3y+Va/lue=A1b2", "ANARY_k3y+Va/lue=A1b2", "suffix of a secret untouched");
    const char *body = "{\"status\":\"ok\",\"items\":[1,2,3],\"note\":\"50% off \\u00e4 \\/x\"}";
    size_t n;
    char *out = secret_redact(body, strlen(body), &n);
    tap_ok(out && n == strlen(body) && strcmp(out, body) == 0, "clean JSON body unchanged");
    free(out);
    out = secret_redact("", 0, &n);
    tap_ok(out && n == 0 && out[0] == '\0', "empty input gives empty string");
    free(out);
}

static void test_short_secret(void)
{
    is_redacted("x abc y", "x abc y", "a secret shorter than SECRET_MIN_REDACT is not pattern-matched");
    is_redacted("trace 0abc9f", "trace 0abc9f", "so it cannot corrupt ordinary output such as trace ids");
}

static void test_url_encoded(void)
{
    char enc[256], in[300];
    is_redacted("q=CANARY_k3y%2BVa%2Flue%3DA1b2&x=1", "q=" KEY_MASK "&x=1", "url: upper hex");
    is_redacted("q=CANARY_k3y%2bVa%2flue%3dA1b2&x=1", "q=" KEY_MASK "&x=1", "url: lower hex");
    is_redacted("q=CANARY_k3y%2BVa/lue%3DA1b2", "q=" KEY_MASK, "url: '/' kept (python quote)");
    url_encode(KEY, 1, 0, NULL, enc);
    snprintf(in, sizeof in, "%%%s%%", enc);
    is_redacted(in, "%" KEY_MASK "%", "url: next to literal percents");
    const char *all = "%43%41%4e%41%52%59%5f%6b%33%79%2b%56%61%2f%6c%75%65%3d%41%31%62%32";
    is_redacted(all, KEY_MASK, "url: every byte encoded");
    is_redacted("p=open+sesame+phrase+42;", "p=" B4 "e" B "42;", "url: '+' for space");
    is_redacted("p=open%20sesame%20phrase%2042", "p=" B4 "e" B "42", "url: %20 for space");
    url_encode(JSONY, 0, 1, NULL, enc);
    snprintf(in, sizeof in, "?p=%s", enc);
    is_redacted(in, "?p=" B4 "Zz9Q", "url: UTF-8 and control bytes");
    tap_ok(secret_contains(all, strlen(all)), "contains: url-encoded");
}

static void test_json_escaped(void)
{
    is_redacted("{\"p\":\"p\xc3\xa4\\\"ss\\\\w/rd<\\n\\u0001Zz9Q\"}", "{\"p\":\"" B4 "Zz9Q\"}",
                "json: JSON.stringify style");
    is_redacted("{\"p\":\"p\\u00e4\\\"ss\\\\w\\/rd\\u003c\\n\\u0001Zz9Q\"}", "{\"p\":\"" B4 "Zz9Q\"}",
                "json: ensure_ascii + \\/ + Go's \\u003c");
    is_redacted("{\"p\":\"p\\u00E4\\u0022ss\\u005cw\\u002frd\\u003C\\u000a\\u0001Zz9Q\"}",
                "{\"p\":\"" B4 "Zz9Q\"}", "json: everything \\u-escaped, upper hex");
    is_redacted("[\"emo\\ud83d\\ude00-key-9f3a\"]", "[\"" B4 "9f3a\"]", "json: surrogate pair");
    is_redacted("[\"" EMOJI "\"]", "[\"" B4 "9f3a\"]", "json: raw UTF-8");
    is_redacted("[\"emo\\ud83d-key-9f3a\"]", "[\"emo\\ud83d-key-9f3a\"]", "json: lone surrogate no match");
    is_redacted("{\"k\":\"CANARY_k3y+Va\\/lue=A1b2\"}", "{\"k\":\"" KEY_MASK "\"}", "json: \\/ in key");
}

static void test_base64(void)
{
    int std = sodium_base64_VARIANT_ORIGINAL, url = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
    check_b64("", KEY, ":", std, KEY_MASK, "base64(KEY:) as HTTP Basic, alignment 0");
    check_b64("user:", KEY, "", std, KEY_MASK, "base64(user:KEY), alignment 2");
    check_b64("x", KEY, "", std, KEY_MASK, "base64 alignment 1");
    check_b64("xy", KEY, "!", std, KEY_MASK, "base64 alignment 2");
    check_b64("xyz", KEY, "", std, KEY_MASK, "base64 alignment 0 after a group");
    check_b64("u:", SK, "", std, SK_MASK, "base64 of a second secret");
    for (int a = 0; a < 3; a++) {
        char plain[64], s64[128], u64[128], name[80];
        snprintf(plain, sizeof plain, "%.*s%s", a, "ab", SYM);
        sodium_bin2base64(s64, sizeof s64, (unsigned char *)plain, strlen(plain), std);
        sodium_bin2base64(u64, sizeof u64, (unsigned char *)plain, strlen(plain), url);
        tap_ok(strcmp(s64, u64) != 0 && strcspn(u64, "-_") < strlen(u64), "SYM base64 has 62/63 (%s)", u64);
        snprintf(name, sizeof name, "url-safe base64 alignment %d", a);
        check_b64(a ? (a == 1 ? "a" : "ab") : "", SYM, "", url, B4 B B "qq", name);
        snprintf(name, sizeof name, "std base64 with + and / alignment %d", a);
        check_b64(a ? (a == 1 ? "a" : "ab") : "", SYM, "", std, B4 B B "qq", name);
    }
    char plain[64], b64[128], esc[256], in[300], *out;
    snprintf(plain, sizeof plain, "ab%s", SYM); /* alignment 2: has both + and / */
    sodium_bin2base64(b64, sizeof b64, (unsigned char *)plain, strlen(plain), std);
    url_encode(b64, 1, 0, NULL, esc);
    out = redact_str(esc);
    tap_ok(out && strstr(out, B4 B B "qq") && !secret_contains(out, strlen(out)),
           "base64 then url-encoded: %s", out);
    free(out);
    size_t o = 0;
    for (const char *p = b64; *p; p++) {
        if (*p == '/') esc[o++] = '\\';
        esc[o++] = *p;
    }
    esc[o] = '\0';
    snprintf(in, sizeof in, "{\"b\":\"%s\"}", esc);
    tap_ok(strstr(in, "\\/") != NULL, "json-escaped base64 has \\/");
    out = redact_str(in);
    tap_ok(out && strstr(out, B4 B B "qq") && !secret_contains(out, strlen(out)),
           "base64 inside JSON with \\/: %s", out);
    free(out);
}

static void test_hex_overlap_binary(void)
{
    char hex[128], in[200];
    hex_encode(KEY, 0, hex);
    snprintf(in, sizeof in, "id=%s;", hex);
    is_redacted(in, "id=" KEY_MASK ";", "hex lower");
    hex_encode(KEY, 1, hex);
    is_redacted(hex, KEY_MASK, "hex upper");

    tap_is_int(secret_add_literal("OVL_A", "overlapAAAA1111"), 0, "literal OVL_A");
    tap_is_int(secret_add_literal("OVL_B", "AAAA1111tailBBBB"), 0, "literal OVL_B");
    tap_is_int(secret_add_literal("OVL_D", "prefixSAME"), 0, "literal OVL_D (shorter, registered first)");
    tap_is_int(secret_add_literal("OVL_C", "prefixSAME-longer99"), 0, "literal OVL_C");
    is_redacted("overlapAAAA1111tailBBBB", B4 "1111tailBBBB", "overlap: leftmost wins");
    is_redacted("<AAAA1111tailBBBB>", "<" B4 "BBBB>", "overlap: second alone");
    is_redacted("prefixSAME-longer99", B4 "er99", "same start: longest wins");
    is_redacted("prefixSAME-long",
                B4 "SAME"
                   "-long",
                "same start: shorter when longer absent");
    /* found by fuzz_redact: one secret's last 4 (shown in its mask) + the text after it spell another secret
     */
    tap_is_int(secret_add_literal("CHAIN_A", "chainHEAD-x9p@ss"), 0, "literal CHAIN_A");
    tap_is_int(secret_add_literal("CHAIN_B", "p@ss:w0rd-tail77"), 0,
               "literal CHAIN_B (starts with CHAIN_A's hint)");
    is_redacted("chainHEAD-x9p@ss:w0rd-tail77", B4 B4 "il77", "chain: a hint never completes another secret");
    is_redacted("<p@ss:w0rd-tail77>", "<" B4 "il77>", "chain: the second alone");

    const char bin[] = "\0\0" KEY "\0" KEY "\0";
    const char want[] = "\0\0" KEY_MASK "\0" KEY_MASK "\0";
    size_t n;
    char *out = secret_redact(bin, sizeof bin - 1, &n);
    tap_ok(out && n == sizeof want - 1 && memcmp(out, want, n) == 0 && out[n] == '\0',
           "binary-safe: NUL bytes around secrets");
    free(out);
    tap_ok(secret_contains(bin, sizeof bin - 1), "contains: after NULs");
    tap_ok(!secret_contains(bin, 2 + strlen(KEY) - 1), "contains: truncated secret is not there");
    tap_ok(!secret_contains("nothing to see", 14), "contains: clean text");
    tap_ok(secret_contains("x" SK, strlen(SK) + 1), "contains: raw at end");
}

static void test_equal_and_literals(void)
{
    tap_is_int(secret_equal("token-abc", 9, "token-abc", 9), 1, "equal: same");
    tap_is_int(secret_equal("token-abc", 9, "token-abd", 9), 0, "equal: differs at end");
    tap_is_int(secret_equal("token-abc", 9, "token-ab", 8), 0, "equal: prefix, different length");
    tap_is_int(secret_equal("", 0, "", 0), 1, "equal: both empty");
    tap_is_int(secret_equal(NULL, 0, "x", 1), 0, "equal: empty vs non-empty");

    size_t before = secret_count();
    tap_is_int(secret_add_literal("DATABASE_URL.password", "pg-pass-Zq81xx"), 0, "add_literal");
    tap_is_int(secret_count(), before + 1, "add_literal counted");
    tap_is_int(secret_present("DATABASE_URL.password"), 1, "literal present");
    tap_is_str(secret_value("DATABASE_URL.password"), "pg-pass-Zq81xx", "literal value");
    is_redacted("postgres://gh:pg-pass-Zq81xx@db/x", "postgres://gh:" B4 "81xx@db/x", "literal redacted");
    is_redacted("pw=pg%2Dpass%2DZq81xx", "pw=" B4 "81xx", "literal redacted url-encoded");
    tap_is_int(secret_add_literal("DATABASE_URL.password", "pg-pass-Zq81xx"), 0, "same literal again");
    tap_is_int(secret_count(), before + 1, "... is a no-op");
    tap_is_int(secret_add_literal("DATABASE_URL.password", "other"), -1, "conflicting value refused");
    tap_is_int(secret_add_literal("GH_PUBLIC", PUBLIC_URL), 0, "literal promotes public var");
    is_redacted("base=" PUBLIC_URL, "base=" B4 "t/v2", "... which is then redacted");
}

static void test_shutdown_reinit(void)
{
    secret_shutdown();
    tap_is_int(secret_count(), 0, "shutdown: store empty");
    tap_is_str(secret_value("GH_KEY"), NULL, "shutdown: value gone");
    is_redacted("k=" KEY, "k=" KEY, "shutdown: nothing redacted");
    secret_shutdown();
    tap_is_int(secret_init(), 0, "re-init");
    tap_is_int(secret_track("GH_KEY", 1), 0, "re-track");
    is_redacted("k=" KEY, "k=" KEY_MASK, "re-init: redacts again");
    tap_is_int(secret_add_literal("ONE", "Q"), 0, "1-byte literal");
    tap_is_int(secret_add_literal("SIX", "Zv9Qx7"), 0, "6-byte literal");
    is_redacted("QZv9Qx7Q", "Q" B8 "Q", "a 6-byte secret is redacted; a 1-byte one is not");
    secret_shutdown();
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 32);
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static double bench_ns_per_byte(const char *body, size_t len, int iters)
{
    double t0 = now_ns();
    for (int k = 0; k < iters; k++)
        free(secret_redact(body, len, NULL));
    return (now_ns() - t0) / ((double)iters * len);
}

static void build_body(char *body, size_t len, char secrets[60][40], int dirty)
{
    static const char words[][10] = {"\"price\":", "12.50,",   "\"sym\":", "\"AAPL\",", " ",
                                     "{",          "},",       "\"ts\":",  "17000,",    "\"ok\"",
                                     "true,",      "\"msg\":", "\"fill\","};
    size_t o = 0;
    int n = 0;
    while (o < len - 200) {
        if (dirty && rng() % 40 == 0) {
            const char *s = secrets[n++ % 60];
            char enc[200];
            switch (rng() % 3) {
            case 0:
                o += (size_t)snprintf(body + o, 200, "\"%s\",", s);
                break;
            case 1:
                url_encode(s, 1, 1, NULL, enc);
                o += (size_t)snprintf(body + o, 200, "%s&", enc);
                break;
            default:
                sodium_bin2base64(enc, sizeof enc, (unsigned char *)s, strlen(s),
                                  sodium_base64_VARIANT_ORIGINAL);
                o += (size_t)snprintf(body + o, 200, "Basic %s,", enc);
            }
            continue;
        }
        const char *w = words[rng() % (sizeof words / sizeof *words)];
        memcpy(body + o, w, strlen(w));
        o += strlen(w);
    }
    memset(body + o, ' ', len - o);
    body[len] = '\0';
}

static void test_bench(void)
{
    enum { LEN = 8192, ITERS = 3000 };
    static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_";
    char secrets[60][40], name[32], *clean = malloc(LEN + 1), *dirty = malloc(LEN + 1);
    secret_init();
    for (int k = 0; k < 60; k++) {
        int n = 28 + (int)(rng() % 9);
        for (int j = 0; j < n; j++)
            secrets[k][j] = alpha[rng() % (sizeof alpha - 1)];
        secrets[k][n] = '\0';
        snprintf(name, sizeof name, "GH_BENCH_%d", k);
        setenv(name, secrets[k], 1);
        secret_track(name, 1);
    }
    build_body(clean, LEN, secrets, 0);
    build_body(dirty, LEN, secrets, 1);
    size_t n;
    char *out = secret_redact(clean, LEN, &n);
    tap_ok(out && n == LEN && memcmp(out, clean, LEN) == 0, "bench: clean 8 KiB body unchanged");
    free(out);
    tap_ok(secret_contains(dirty, LEN), "bench: dirty body has secrets");
    out = secret_redact(dirty, LEN, &n);
    tap_ok(out && !secret_contains(out, n), "bench: dirty body fully redacted");
    free(out);
    double c = bench_ns_per_byte(clean, LEN, ITERS), d = bench_ns_per_byte(dirty, LEN, ITERS);
    tap_diag("redact 8 KiB, 60 secrets x 6 patterns: clean %.2f ns/byte, with secrets %.2f ns/byte", c, d);
    free(clean);
    free(dirty);
    secret_shutdown();
}

int main(void)
{
    setenv("GH_KEY", KEY, 1);
    setenv("GH_SK", SK, 1);
    setenv("GH_EIGHT", "12345678", 1);
    setenv("GH_SHORT", "abc", 1);
    setenv("GH_EMPTY", "", 1);
    unsetenv("GH_UNSET");
    setenv("GH_SPACEY", SPACEY, 1);
    setenv("GH_JSONY", JSONY, 1);
    setenv("GH_EMOJI", EMOJI, 1);
    setenv("GH_SYM", SYM, 1);
    setenv("GH_PUBLIC", PUBLIC_URL, 1);

    test_store_and_masks();
    test_raw_and_public();
    test_short_secret();
    test_url_encoded();
    test_json_escaped();
    test_base64();
    test_hex_overlap_binary();
    test_equal_and_literals();
    test_shutdown_reinit();
    test_bench();
    return tap_done();
}
