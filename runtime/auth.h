/* auth.h — the primitives of runtime-native auth (PRODUCT.md §6 "Auth and 2FA"): the argon2id
 * worker thread, password and backup-code hashing, random tokens, the APP_ENC_KEY encryption of TOTP
 * secrets, the brute-force limiter with its ban accounting, and the second-factor check. Sessions are
 * session.c; the routes are api_auth.c, api_2fa.c and api_users.c.
 *
 * Nothing here logs a password, a code, a token or a secret; callers log only user ids, usernames, IPs
 * and outcomes. The settings (session timeouts, the brute-force limits) are cfg.session_* / cfg.auth_* /
 * cfg.*_2fa_s (config.h). */
#ifndef GATEHOUSE_AUTH_H
#define GATEHOUSE_AUTH_H

#include <stddef.h>
#include <time.h>

struct event_base;

#define AUTH_TOKEN_LEN 43   /* 32 random bytes, base64url without padding */
#define AUTH_HASH_HEX 65    /* sha256 as 64 hex characters + NUL */
#define AUTH_PWHASH_LEN 128 /* crypto_pwhash_STRBYTES */
#define AUTH_BACKUP_CODES 10
#define AUTH_BACKUP_CODE_LEN 11 /* "xxxxx-xxxxx": 10 characters of a 32-letter alphabet = 50 bits */
#define AUTH_PASSWORD_MIN 12
#define AUTH_PASSWORD_MAX 1024

/* Starts the hashing worker (a thread + a completion pipe watched by the loop).
 * Returns 0, or -1 with err. */
int auth_start(struct event_base *base, char *err, size_t errlen);

/* Stops the worker after its current job; queued jobs still get their done callback (with the work not
 * run when cancelled is set in their arg by the caller's own design: see auth_work). */
void auth_stop(void);

/* Runs work(arg) on the worker thread, then done(arg) on the loop. work must touch only arg (no loop
 * state, no logging). Returns 0, or -1 when the worker is not running (nothing is called then). */
int auth_work(void (*work)(void *arg), void (*done)(void *arg), void *arg);

/* Called on the loop with the argon2id PHC string of a password (valid during the call only), or NULL when it
 * could not be hashed (out of memory). */
typedef void (*auth_hashed_cb)(const char *hash, void *arg);

/* Hashes a copy of password (auth_password_hash) on the worker, then calls done(hash, arg) on the loop; the
 * copy and the hash are wiped afterwards. Returns 0, or -1 when the worker is not running or memory is short
 * (done is not called then). */
int auth_hash_then(const char *password, auth_hashed_cb done, void *arg);

/* ---- hashing (blocking: the worker thread or the CLI) ---- */

/* argon2id (libsodium crypto_pwhash_str, 64 MiB, 2 passes) of pw into out. Returns 0 or -1. */
int auth_password_hash(const char *pw, char out[AUTH_PWHASH_LEN]);

/* 1 when pw matches hash (a PHC argon2id string); 0 otherwise. A NULL hash burns the same time against a
 * dummy hash and answers 0, so an unknown username costs what a known one does. */
int auth_password_verify(const char *hash, const char *pw);

/* argon2id with OWASP's floor (19 MiB, 2 passes) for backup codes: ten are hashed and tried at once. */
int auth_backup_hash(const char *code, char out[AUTH_PWHASH_LEN]);

/* Normalises a typed backup code (lower case, dashes and spaces dropped, then "xxxxx-xxxxx") into out;
 * -1 when it cannot be one. */
int auth_backup_normalise(const char *in, char out[AUTH_BACKUP_CODE_LEN + 1]);

/* ---- tokens ---- */

/* A fresh session id / temp token: 32 random bytes as base64url (out) and its sha256 as hex (hash_hex),
 * the only form stored. */
void auth_new_token(char out[AUTH_TOKEN_LEN + 1], char hash_hex[AUTH_HASH_HEX]);

/* sha256 hex of a presented token; -1 when it is not AUTH_TOKEN_LEN base64url characters. */
int auth_token_hash(const char *token, char hash_hex[AUTH_HASH_HEX], unsigned char raw[32]);

/* A fresh backup code "xxxxx-xxxxx" (alphabet without look-alikes). */
void auth_new_backup_code(char out[AUTH_BACKUP_CODE_LEN + 1]);

/* ---- APP_ENC_KEY: TOTP secrets at rest ---- */

/* 1 when APP_ENC_KEY is set to 64 hex characters (32 bytes). */
int auth_enc_key_ok(void);

/* XChaCha20-Poly1305 of secret with AD "users.two_factor_secret_encrypted|<user_id>|v1"; writes
 * "\\x" + hex(nonce || ciphertext+tag) (a bytea literal) into a malloc'd *out. Returns 0 or -1 (no key). */
int auth_encrypt_secret(const unsigned char *secret, size_t len, const char *user_id, char **out);

/* Opens what auth_encrypt_secret produced (as Postgres prints bytea: "\\x..."), for user_id only. Returns
 * the secret length, or -1 (no key, malformed, or the tag/AD does not match). */
int auth_decrypt_secret(const char *bytea_hex, const char *user_id, unsigned char *out, size_t outlen);

/* ---- brute-force limiter (per account and per IP, in memory of this instance) ---- */

/* 1 when key (e.g. "user:alice" or "ip:127.0.0.1") is banned now; *retry_after_s gets the seconds left.
 * The table holds 4096 keys; an active ban is never evicted (the least recently used counter without a
 * ban is). When every slot holds an active ban, any key not in the table is refused too (fail closed)
 * until the first ban ends. */
int auth_limit_banned(const char *key, long *retry_after_s);

/* Records a failure of key. Returns 1 when this failure starts a ban (max_failures within window_s). */
int auth_limit_fail(const char *key);

/* Forgets the failures of key (after a successful sign-in). */
void auth_limit_clear(const char *key);

/* Drops every counter and ban (tests, shutdown). */
void auth_limit_reset(void);

/* ---- decisions, ban accounting, the second factor (domain: callers pass ids, never a request) ---- */

/* Who is asking: the request's trace id and client IP (copied by whoever keeps it). */
struct auth_caller {
    char trace_id[33];
    char ip[64];
};

/* Logs one auth decision as msg="auth decision": event (login, register, 2fa_verify, ...), decision
 * (allow|deny), reason, the username (escaped) and who->ip. */
void auth_log_decision(const struct auth_caller *who, const char *event, const char *decision,
                       const char *reason, const char *username);

/* Records a failed attempt for who->ip and the account username (may be NULL); a failure that starts a ban is
 * logged and becomes an auth.ban system event. */
void auth_failure(const struct auth_caller *who, const char *username);

/* 1 when who->ip or the account (username may be NULL) is banned now (the refusal is logged), 0 otherwise;
 * *retry_after_s gets the longest time left (0 when not banned). */
int auth_banned(const struct auth_caller *who, const char *username, long *retry_after_s);

/* Outcome of a second-factor check. */
enum auth_factor {
    AUTH_FACTOR_OK,
    AUTH_FACTOR_INVALID,      /* wrong or malformed code, or a used backup code */
    AUTH_FACTOR_REPLAY,       /* the TOTP step was already used */
    AUTH_FACTOR_NOT_ENROLLED, /* no (enabled) 2FA for the user */
    AUTH_FACTOR_NO_KEY,       /* APP_ENC_KEY missing, or the secret cannot be decrypted */
    AUTH_FACTOR_DB_ERROR,     /* Postgres could not answer, or the worker is not running */
};

typedef void (*auth_factor_cb)(enum auth_factor outcome, void *arg);

/* Checks code (6 digits, TOTP) or backup_code for user_id. enrolled_only: the user's 2FA must be enabled
 * (confirm passes 0: the secret is set up but not enabled yet). A matched TOTP step is recorded with a
 * compare-and-set on users.two_factor_last_step (a second use of it is AUTH_FACTOR_REPLAY, logged, an
 * auth.totp_replay event); a matched backup code is removed (single use). Denials are logged with
 * auth_log_decision. cb runs once, maybe later from the loop. */
void auth_factor_check(const struct auth_caller *who, const char *user_id, const char *username,
                       const char *code, const char *backup_code, int enrolled_only, auth_factor_cb cb,
                       void *arg);

#endif
