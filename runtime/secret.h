/* secret.h — environment secrets, masked hints, the redactor, constant-time compare.
 *
 * Secrets live only in the process environment (PRODUCT.md §3). This module copies each tracked
 * value into guarded, locked libsodium memory, hands out borrowed pointers to provider-call code,
 * and owns the one redactor that every byte leaving the process passes through.
 *
 * Single-threaded: gatehouse runs one event loop, so none of these functions lock.
 */
#ifndef GATEHOUSE_SECRET_H
#define GATEHOUSE_SECRET_H

#include <stddef.h>

/* Smallest buffer secret_mask()/secret_mask_value() accept (the longest mask is 25 bytes). */
#define SECRET_MASK_BUFLEN 32

/* Initialise libsodium and the secret store. Returns 0, or -1 if sodium_init fails. Call first;
 * calling it again is harmless. */
/* Shortest value the redactor looks for. Shorter secret values would match inside ordinary output (digits of
 * trace ids and timestamps); gatehouse never emits them, warns when one is configured, and shows only the
 * mask. */
#define SECRET_MIN_REDACT 6

int secret_init(void);

/* Forget every tracked secret: values are wiped (sodium_free zeroes before unmapping) and every
 * buffer the module owns is freed. secret_init() may be called again afterwards. */
void secret_shutdown(void);

/* Start tracking env var NAME: reads getenv(NAME) now and copies the value into sodium_malloc'd
 * memory (which libsodium mlocks where the RLIMIT allows), then adds its redaction patterns.
 * Tracking the same name twice is a no-op. is_secret=0 marks a public variable (base URL, env
 * selector): its value is readable but never redacted. An unset or empty variable is tracked as
 * absent. Returns 0, or -1 (out of memory, NULL/empty name, or sodium_init failure). */
int secret_track(const char *name, int is_secret);

/* 1 if NAME is tracked and present with a non-empty value, else 0. */
int secret_present(const char *name);

/* The tracked value of NAME, or NULL if unset/empty/untracked. Borrowed pointer into module memory,
 * valid until secret_shutdown(). Only provider-call code in C may use it; it must never be formatted
 * into a log line, passed to Lua, or stored. */
const char *secret_value(const char *name);

/* Writes the masked hint of NAME's value into out (NUL-terminated): "••••" + last 4 bytes when the
 * value is longer than 8 bytes, "••••••••" when 8 bytes or fewer (UTF-8 bullets U+2022). A hint
 * byte outside [A-Za-z0-9-._~+/=:@] is itself shown as "•", so a mask is always safe to splice into
 * JSON, URLs, headers and log lines. Empty string if absent or untracked.
 * Returns 0, or -1 if outlen < SECRET_MASK_BUFLEN (out is then set to "" when outlen > 0). */
int secret_mask(const char *name, char *out, size_t outlen);

/* Same masking rule applied to an arbitrary value[0..len) (for values not read from the
 * environment). len 0 gives "". Returns 0, or -1 if outlen < SECRET_MASK_BUFLEN. */
int secret_mask_value(const char *value, size_t len, char *out, size_t outlen);

/* Redact: returns a malloc'd (caller frees), NUL-terminated copy of in[0..len) in which every
 * occurrence of every tracked secret value is replaced by that secret's mask; *outlen (may be NULL)
 * gets the new length. Binary-safe. Forms recognised, for values of 4 bytes or more:
 *  - raw;
 *  - URL-encoded: any byte as %XX in either hex case, '+' for space (so every encoder's choice of
 *    reserved set is covered);
 *  - JSON-escaped: \" \\ \/ \b \f \n \r \t and \uXXXX (surrogate pairs too) for any character;
 *  - base64 (standard or URL-safe alphabet, '+' '/' also as %2B %2F or \/) at each of the 3 byte
 *    alignments, so base64("user:" + key) as in HTTP Basic is caught;
 *  - hex, either case.
 * Values shorter than 4 bytes are redacted raw only. Public variables are never redacted.
 * Single pass over the input with a 2-byte candidate table; at each position every candidate
 * pattern is tried and the longest match wins (leftmost-longest); scanning resumes after it. When the
 * output of a pass still holds a secret (a mask hint joined with the following text), it is redacted again
 * (at most 8 passes; then the whole text is withheld as "[redacted]"). Returns NULL only on allocation
 * failure. */
char *secret_redact(const char *in, size_t len, size_t *outlen);

/* 1 if in[0..len) contains any tracked secret in any of the forms above, else 0. No allocation
 * (except rebuilding the pattern index after a track; on failure it answers 1, failing closed). */
int secret_contains(const char *in, size_t len);

/* Constant-time equality of a[0..alen) and b[0..blen): both are hashed with a per-process keyed
 * BLAKE2b (time proportional to each length, length mismatch included) and the fixed-size digests
 * are compared with sodium_memcmp. Returns 1 if equal, 0 if not. */
int secret_equal(const void *a, size_t alen, const void *b, size_t blen);

/* Register an extra literal secret that does not come from a provider variable (the password inside
 * DATABASE_URL, APP_ENC_KEY, GATEHOUSE_SERVICE_TOKEN) under LABEL; it is then readable through
 * secret_value(label) and redacted like any secret. Registering the same label with the same value
 * again is a no-op. Returns 0, or -1 on out of memory, NULL label, or when LABEL is already tracked
 * with a different value (refused rather than silently leaving one of the two unredacted). */
int secret_add_literal(const char *label, const char *value);

/* Number of tracked names, literals included (for tests and diagnostics). */
size_t secret_count(void);

#endif
