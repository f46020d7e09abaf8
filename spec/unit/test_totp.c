/* test_totp.c — runtime/totp.c against RFC 6238 Appendix B (SHA1, 8 digits, the 20-byte ASCII seed),
 * RFC 4226 Appendix D (6 digits), the ±1 step window, replay rejection and base32 (RFC 4648 §10). */
#include "tap.h"
#include "totp.h"

#include <stdint.h>
#include <string.h>

static const unsigned char SEED[] = "12345678901234567890";

static void rfc6238_vectors(void)
{
    static const struct {
        long long t;
        const char *code;
    } v[] = {
        {59, "94287082"},         {1111111109, "07081804"}, {1111111111, "14050471"},
        {1234567890, "89005924"}, {2000000000, "69279037"}, {20000000000LL, "65353130"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char got[16], name[96];
        totp_format(totp_hotp(SEED, 20, totp_step((time_t)v[i].t), 8), 8, got, sizeof got);
        snprintf(name, sizeof name, "RFC 6238 SHA1 8 digits at t=%lld", v[i].t);
        tap_is_str(got, v[i].code, name);
        /* 6-digit truncation = the 8-digit value mod 10^6 */
        totp_format(totp_hotp(SEED, 20, totp_step((time_t)v[i].t), 6), 6, got, sizeof got);
        snprintf(name, sizeof name, "6-digit truncation at t=%lld", v[i].t);
        tap_is_str(got, v[i].code + 2, name);
    }
    tap_is_int((long)totp_step((time_t)20000000000LL), 0x27BC86AA, "T beyond 32 bits (2038+) is kept");
}

static void rfc4226_vectors(void)
{
    static const char *v[] = {"755224", "287082", "359152", "969429", "338314",
                              "254676", "287922", "162583", "399871", "520489"};
    for (int i = 0; i < 10; i++) {
        char got[16], name[64];
        totp_format(totp_hotp(SEED, 20, (uint64_t)i, 6), 6, got, sizeof got);
        snprintf(name, sizeof name, "RFC 4226 HOTP counter %d", i);
        tap_is_str(got, v[i], name);
    }
    tap_is_int(totp_hotp(SEED, 20, 0, 5), -1, "5 digits refused");
    tap_is_int(totp_hotp(SEED, 0, 0, 6), -1, "empty key refused");
}

static void window_and_replay(void)
{
    const time_t now = 1111111111; /* step 0x23523ED */
    char prev[8], cur[8], next[8], far[8];
    int64_t step = -1;
    uint64_t t = totp_step(now);
    totp_format(totp_hotp(SEED, 20, t - 1, 6), 6, prev, sizeof prev);
    totp_format(totp_hotp(SEED, 20, t, 6), 6, cur, sizeof cur);
    totp_format(totp_hotp(SEED, 20, t + 1, 6), 6, next, sizeof next);
    totp_format(totp_hotp(SEED, 20, t + 2, 6), 6, far, sizeof far);

    tap_is_int(totp_verify(SEED, 20, cur, now, -1, &step), TOTP_OK, "current step accepted");
    tap_is_int((long)step, (long)t, "matched step reported");
    tap_is_int(totp_verify(SEED, 20, prev, now, -1, &step), TOTP_OK,
               "previous step accepted (one step of delay)");
    tap_is_int(totp_verify(SEED, 20, next, now, -1, &step), TOTP_OK, "next step accepted (clock skew)");
    tap_is_int(totp_verify(SEED, 20, far, now, -1, &step), TOTP_INVALID, "two steps ahead rejected");
    tap_is_int(totp_verify(SEED, 20, cur, now, (int64_t)t, &step), TOTP_REPLAY, "same code again: replay");
    tap_is_int(totp_verify(SEED, 20, prev, now, (int64_t)t, &step), TOTP_REPLAY,
               "an older code inside the window after a newer one: replay");
    tap_is_int(totp_verify(SEED, 20, next, now, (int64_t)t, &step), TOTP_OK,
               "a newer step after the last one is fine");
    tap_is_int(totp_verify(SEED, 20, "12345", now, -1, &step), TOTP_INVALID, "5 characters rejected");
    tap_is_int(totp_verify(SEED, 20, "12a456", now, -1, &step), TOTP_INVALID, "non-digits rejected");
    tap_is_int(totp_verify(SEED, 20, "1234567", now, -1, &step), TOTP_INVALID, "7 digits rejected");
    tap_is_int(totp_verify(SEED, 20, NULL, now, -1, &step), TOTP_INVALID, "NULL rejected");
}

static void base32(void)
{
    static const struct {
        const char *in, *out;
    } v[] = {
        {"", ""},
        {"f", "MY"},
        {"fo", "MZXQ"},
        {"foo", "MZXW6"},
        {"foob", "MZXW6YQ"},
        {"fooba", "MZXW6YTB"},
        {"foobar", "MZXW6YTBOI"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char enc[32], name[64];
        unsigned char dec[32];
        totp_base32_encode((const unsigned char *)v[i].in, strlen(v[i].in), enc, sizeof enc);
        snprintf(name, sizeof name, "base32(\"%s\")", v[i].in);
        tap_is_str(enc, v[i].out, name);
        int n = totp_base32_decode(v[i].out, dec, sizeof dec);
        tap_ok(n == (int)strlen(v[i].in) && memcmp(dec, v[i].in, (size_t)n) == 0, "decode %s", v[i].out);
    }
    char enc[40];
    unsigned char dec[32];
    tap_is_int(totp_base32_encode(SEED, 20, enc, sizeof enc), 32, "20 bytes -> 32 characters");
    tap_is_str(enc, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "RFC seed in base32");
    tap_is_int(totp_base32_decode("gezd gnbv-gy3t qojq gezdgnbvgy3tqojq====", dec, sizeof dec), 20,
               "lower case, spaces, dashes and padding accepted");
    tap_ok(memcmp(dec, SEED, 20) == 0, "decoded seed matches");
    tap_is_int(totp_base32_decode("GEZ1", dec, sizeof dec), -1, "'1' is not base32");
    tap_is_int(totp_base32_encode(SEED, 20, enc, 32), -1, "too small an output buffer refused");
}

int main(void)
{
    rfc6238_vectors();
    rfc4226_vectors();
    window_and_replay();
    base32();
    return tap_done();
}
