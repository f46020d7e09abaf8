/* totp.c — RFC 6238 / RFC 4226 codes and base32 (see totp.h). */
#include "totp.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

static const char B32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

uint64_t totp_step(time_t t)
{
    return t < 0 ? 0 : (uint64_t)t / TOTP_PERIOD_S;
}

long totp_hotp(const unsigned char *key, size_t keylen, uint64_t counter, int digits)
{
    unsigned char msg[8], md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    long mod = 1;
    if (!key || keylen == 0 || digits < 6 || digits > 8) return -1;
    for (int i = 7; i >= 0; i--, counter >>= 8)
        msg[i] = (unsigned char)(counter & 0xff);
    if (!HMAC(EVP_sha1(), key, (int)keylen, msg, sizeof msg, md, &mdlen) || mdlen != 20) return -1;
    int off = md[19] & 0x0f;
    unsigned long bin = ((unsigned long)(md[off] & 0x7f) << 24) | ((unsigned long)md[off + 1] << 16) |
                        ((unsigned long)md[off + 2] << 8) | (unsigned long)md[off + 3];
    for (int i = 0; i < digits; i++)
        mod *= 10;
    sodium_memzero(md, sizeof md);
    return (long)(bin % (unsigned long)mod);
}

char *totp_format(long code, int digits, char *out, size_t outlen)
{
    snprintf(out, outlen, "%0*ld", digits, code);
    return out;
}

static int six_digits(const char *code)
{
    if (!code || strlen(code) != TOTP_DIGITS) return 0;
    for (int i = 0; i < TOTP_DIGITS; i++)
        if (code[i] < '0' || code[i] > '9') return 0;
    return 1;
}

enum totp_result totp_verify(const unsigned char *key, size_t keylen, const char *code, time_t now,
                             int64_t last_step, int64_t *matched_step)
{
    uint64_t t = totp_step(now);
    int ok = 0, replay = 0;
    int64_t match = -1;
    if (!six_digits(code)) return TOTP_INVALID;
    /* every candidate is computed and compared, so timing does not tell which step matched */
    for (int d = -1; d <= 1; d++) {
        char want[24];
        if (d < 0 && t == 0) continue;
        uint64_t step = t + (uint64_t)(int64_t)d;
        long c = totp_hotp(key, keylen, step, TOTP_DIGITS);
        if (c < 0) return TOTP_INVALID;
        totp_format(c, TOTP_DIGITS, want, sizeof want);
        int eq = sodium_memcmp(want, code, TOTP_DIGITS) == 0;
        sodium_memzero(want, sizeof want);
        if (!eq) continue;
        if ((int64_t)step > last_step) {
            if (!ok) match = (int64_t)step; /* the earliest fresh step that matches */
            ok = 1;
        } else {
            replay = 1;
        }
    }
    if (ok) {
        if (matched_step) *matched_step = match;
        return TOTP_OK;
    }
    return replay ? TOTP_REPLAY : TOTP_INVALID;
}

int totp_base32_encode(const unsigned char *in, size_t len, char *out, size_t outlen)
{
    size_t need = (len * 8 + 4) / 5, o = 0;
    unsigned buf = 0;
    int bits = 0;
    if (outlen < need + 1) return -1;
    for (size_t i = 0; i < len; i++) {
        buf = (buf << 8) | in[i];
        bits += 8;
        while (bits >= 5) {
            out[o++] = B32[(buf >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    if (bits > 0) out[o++] = B32[(buf << (5 - bits)) & 31];
    out[o] = '\0';
    return (int)o;
}

int totp_base32_decode(const char *in, unsigned char *out, size_t outlen)
{
    unsigned buf = 0;
    int bits = 0;
    size_t o = 0;
    for (const char *p = in; *p; p++) {
        char c = *p;
        if (c == ' ' || c == '-' || c == '=') continue;
        if (c >= 'a' && c <= 'z') c = (char)(c - 'a' + 'A');
        const char *at = strchr(B32, c);
        if (!at || c == '\0') return -1;
        buf = (buf << 5) | (unsigned)(at - B32);
        bits += 5;
        if (bits >= 8) {
            if (o >= outlen) return -1;
            out[o++] = (unsigned char)((buf >> (bits - 8)) & 0xff);
            bits -= 8;
        }
    }
    return (int)o;
}
