/* totp.h — RFC 6238 TOTP (HMAC-SHA1 from OpenSSL libcrypto, 30 s steps), RFC 4648 base32, and the
 * one-code-once rule.
 *
 * Pure functions: no I/O, no globals, so the RFC vectors run as a unit test (spec/unit/test_totp.c).
 * gatehouse issues SHA1 / 6 digits / 30 s only (what authenticator apps accept); the digit count is a
 * parameter so the 8-digit vectors of RFC 6238 Appendix B can be checked too. */
#ifndef GATEHOUSE_TOTP_H
#define GATEHOUSE_TOTP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define TOTP_PERIOD_S 30
#define TOTP_DIGITS 6
#define TOTP_SECRET_BYTES 20 /* 160 bits, RFC 4226 R6's recommendation */

enum totp_result { TOTP_OK = 0, TOTP_INVALID, TOTP_REPLAY };

/* The RFC 6238 time step of unix time t (T0 = 0, X = 30 s). */
uint64_t totp_step(time_t t);

/* HOTP(key, counter) truncated to digits (6..8) as in RFC 4226 §5.3: 0..10^digits-1, or -1 on a bad
 * argument or an HMAC failure. */
long totp_hotp(const unsigned char *key, size_t keylen, uint64_t counter, int digits);

/* Formats code with leading zeros into out (digits + 1 bytes at least). Returns out. */
char *totp_format(long code, int digits, char *out, size_t outlen);

/* Checks a 6-digit code against steps now-1, now, now+1 (RFC 6238 §5.2: one step of network delay).
 * last_step is the last accepted step for this secret (-1 when none). Returns TOTP_OK and sets
 * *matched_step when the code matches a step > last_step; TOTP_REPLAY when it only matches a step
 * <= last_step (the same code again, or an older one inside the window); TOTP_INVALID otherwise
 * (including a code that is not exactly 6 ASCII digits). Comparisons are constant-time. */
enum totp_result totp_verify(const unsigned char *key, size_t keylen, const char *code, time_t now,
                             int64_t last_step, int64_t *matched_step);

/* RFC 4648 base32 (A-Z2-7) of in[0..len) without padding into out. Returns the length written, or -1
 * when outlen is too small (needs ceil(len*8/5)+1). */
int totp_base32_encode(const unsigned char *in, size_t len, char *out, size_t outlen);

/* Decodes base32 text (case-insensitive; spaces, dashes and '=' padding ignored) into out. Returns the
 * number of bytes, or -1 on an invalid character or when outlen is too small. */
int totp_base32_decode(const char *in, unsigned char *out, size_t outlen);

#endif
