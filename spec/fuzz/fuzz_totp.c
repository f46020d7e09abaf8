/* fuzz_totp.c — libFuzzer target for second-factor input (runtime/totp.c, runtime/auth.c). Built and run by
 * `make fuzz`.
 *
 * The input is up to five lines, each what a client or the database can put in front of these pure functions:
 *   1. a base32 TOTP secret (as typed from an otpauth:// URL; totp_base32_decode)
 *   2. a TOTP code (the "code" field of /api/auth/2fa/verify, confirm, step-up; totp_verify)
 *   3. a backup code (the "backup_code" field; auth_backup_normalise)
 *   4. a session token (the cookie; auth_token_hash)
 *   5. a unix time in decimal (default: derived from the input), and the last accepted step is derived from it.
 * Missing lines are empty strings. Checked contract:
 *   - base32: a decode never writes past its buffer; decode(encode(bytes)) gives the bytes back; decoding is
 *     case-insensitive (the lower-cased text decodes to the same bytes);
 *   - totp_verify: anything that is not exactly 6 ASCII digits is TOTP_INVALID; TOTP_OK only for a step in
 *     [t-1, t+1] above last_step whose HOTP is the code; TOTP_REPLAY only when such a step <= last_step
 *     matches; the real code of step t is accepted once (last_step -1) and is a replay once t+1 was used;
 *   - backup codes: a normalised code is "xxxxx-xxxxx" of lower-case letters/digits, equal to the input with
 *     dashes and spaces dropped and lower-cased, and normalising it again gives itself;
 *   - session tokens: hashed only when 43 base64url characters; the hash is 64 lower-case hex characters,
 *     the hex of raw, and the same for the same token. */
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "totp.h"

#define FIELDS 5
#define FIELD_MAX 512

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    if (sodium_init() < 0) abort();
    return 0;
}

/* Splits data on '\n' into NUL-terminated fields (each cut at FIELD_MAX - 1 bytes and at an inner NUL). */
static void split(const uint8_t *data, size_t size, char f[FIELDS][FIELD_MAX])
{
    size_t k = 0, w = 0;
    memset(f, 0, (size_t)FIELDS * FIELD_MAX);
    for (size_t i = 0; i < size && k < FIELDS; i++) {
        if (data[i] == '\n') {
            k++, w = 0;
            continue;
        }
        if (w < FIELD_MAX - 1) f[k][w++] = (char)data[i];
    }
}

static int six_ascii_digits(const char *s)
{
    if (strlen(s) != 6) return 0;
    for (int i = 0; i < 6; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    return 1;
}

static int code_of_step(const unsigned char *key, size_t keylen, uint64_t step, const char *code)
{
    char want[16];
    long c = totp_hotp(key, keylen, step, TOTP_DIGITS);
    if (c < 0) abort();
    totp_format(c, TOTP_DIGITS, want, sizeof want);
    return strcmp(want, code) == 0;
}

static void check_base32(const char *text, unsigned char *key, int *keylen)
{
    unsigned char guard[FIELD_MAX + 16], again[FIELD_MAX], lower_out[FIELD_MAX];
    char enc[FIELD_MAX * 2], lower[FIELD_MAX];
    memset(guard, 0xA5, sizeof guard);
    int n = totp_base32_decode(text, guard, FIELD_MAX);
    for (size_t i = FIELD_MAX; i < sizeof guard; i++)
        if (guard[i] != 0xA5) abort(); /* wrote past outlen */
    *keylen = n;
    if (n < 0) return;
    if (n > FIELD_MAX) abort();
    memcpy(key, guard, (size_t)n);
    if (totp_base32_encode(key, (size_t)n, enc, sizeof enc) < 0) abort();
    if (totp_base32_decode(enc, again, sizeof again) != n || memcmp(again, key, (size_t)n) != 0) abort();
    size_t len = strlen(text);
    for (size_t i = 0; i <= len; i++) lower[i] = (char)(text[i] >= 'A' && text[i] <= 'Z' ? text[i] - 'A' + 'a' : text[i]);
    if (totp_base32_decode(lower, lower_out, sizeof lower_out) != n || memcmp(lower_out, key, (size_t)n) != 0) abort();
}

static void check_totp(const unsigned char *key, size_t keylen, const char *code, time_t now, int64_t last_step)
{
    uint64_t t = totp_step(now);
    int64_t m = -7;
    enum totp_result r = totp_verify(key, keylen, code, now, last_step, &m);
    if (!six_ascii_digits(code) && r != TOTP_INVALID) abort();
    int fresh = 0, stale = 0;
    for (int d = -1; d <= 1 && six_ascii_digits(code); d++) {
        if (d < 0 && t == 0) continue;
        uint64_t step = t + (uint64_t)(int64_t)d;
        if (!code_of_step(key, keylen, step, code)) continue;
        if ((int64_t)step > last_step) fresh = 1;
        else stale = 1;
    }
    if (r == TOTP_OK && (!fresh || m <= last_step || (uint64_t)m + 1 < t || (uint64_t)m > t + 1 ||
                         !code_of_step(key, keylen, (uint64_t)m, code)))
        abort();
    if (r == TOTP_REPLAY && (fresh || !stale)) abort();
    if (r == TOTP_INVALID && (fresh || stale)) abort();

    /* the real code of step t: accepted once, a replay after step t+1 was accepted */
    char real[16];
    totp_format(totp_hotp(key, keylen, t, TOTP_DIGITS), TOTP_DIGITS, real, sizeof real);
    if (totp_verify(key, keylen, real, now, -1, &m) != TOTP_OK || (uint64_t)m > t) abort();
    if (totp_verify(key, keylen, real, now, (int64_t)t + 1, &m) != TOTP_REPLAY) abort();
}

static void check_backup(const char *in)
{
    char out[AUTH_BACKUP_CODE_LEN + 1], again[AUTH_BACKUP_CODE_LEN + 1], plain[FIELD_MAX];
    size_t n = 0;
    if (auth_backup_normalise(in, out) < 0) return;
    if (strlen(out) != AUTH_BACKUP_CODE_LEN || out[5] != '-') abort();
    for (int i = 0; i < AUTH_BACKUP_CODE_LEN; i++)
        if (i != 5 && !((out[i] >= 'a' && out[i] <= 'z') || (out[i] >= '2' && out[i] <= '9'))) abort();
    for (const char *p = in; *p; p++)
        if (*p != '-' && *p != ' ') plain[n++] = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
    if (n != 10 || memcmp(plain, out, 5) != 0 || memcmp(plain + 5, out + 6, 5) != 0) abort();
    if (auth_backup_normalise(out, again) < 0 || strcmp(again, out) != 0) abort();
}

static void check_token(const char *token)
{
    char hex[AUTH_HASH_HEX], hex2[AUTH_HASH_HEX], from_raw[AUTH_HASH_HEX];
    unsigned char raw[32], raw2[32];
    int ok = strlen(token) == AUTH_TOKEN_LEN && strspn(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                                               "0123456789-_") == AUTH_TOKEN_LEN;
    int r = auth_token_hash(token, hex, raw);
    if ((r == 0) != ok) abort();
    if (r < 0) return;
    if (strlen(hex) != 64 || strspn(hex, "0123456789abcdef") != 64) abort();
    sodium_bin2hex(from_raw, sizeof from_raw, raw, sizeof raw);
    if (strcmp(from_raw, hex) != 0) abort();
    if (auth_token_hash(token, hex2, raw2) != 0 || strcmp(hex, hex2) != 0 || memcmp(raw, raw2, 32) != 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char f[FIELDS][FIELD_MAX];
    unsigned char key[FIELD_MAX];
    static const unsigned char fallback[TOTP_SECRET_BYTES] = "12345678901234567890"; /* RFC 6238's key */
    int keylen = -1;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < size; i++) h = (h ^ data[i]) * 16777619u; /* FNV-1a: a time when line 5 is absent */

    split(data, size, f);
    check_base32(f[0], key, &keylen);
    time_t now = f[4][0] ? (time_t)(strtoull(f[4], NULL, 10) % (1ull << 40)) : (time_t)(1700000000u + (h % 100000000u));
    uint64_t t = totp_step(now);
    int64_t last_step = (int64_t)t - 2 + (int64_t)(h % 5); /* below, inside and above the window */
    if (keylen > 0) check_totp(key, (size_t)keylen, f[1], now, last_step);
    else check_totp(fallback, sizeof fallback, f[1], now, last_step);
    check_backup(f[2]);
    check_token(f[3]);
    return 0;
}
