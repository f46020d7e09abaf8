/* test_auth.c — runtime/auth.c primitives (tokens, backup codes, APP_ENC_KEY encryption bound to the user id,
 * argon2id parameters, the brute-force limiter) and http.c's refusal to start with a route of unset access.
 */
#include "auth.h"
#include "config.h"
#include "log.h"
#include "http.h"
#include "secret.h"
#include "tap.h"

#include <event2/event.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KEY_HEX "7f3c1e9a5b2d4f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8"
#define USER_A "11111111-2222-4333-8444-555555555555"
#define USER_B "99999999-2222-4333-8444-555555555555"

static void tokens(void)
{
    char t1[AUTH_TOKEN_LEN + 1], t2[AUTH_TOKEN_LEN + 1], h1[AUTH_HASH_HEX], h2[AUTH_HASH_HEX],
        again[AUTH_HASH_HEX];
    unsigned char raw[32];
    auth_new_token(t1, h1);
    auth_new_token(t2, h2);
    tap_is_int((long)strlen(t1), 43, "a token is 43 base64url characters (256 bits)");
    tap_ok(strcmp(t1, t2) != 0 && strcmp(h1, h2) != 0, "two tokens differ");
    tap_ok(strspn(t1, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == 43,
           "base64url alphabet");
    tap_is_int(auth_token_hash(t1, again, raw), 0, "a presented token hashes");
    tap_is_str(again, h1, "to the stored sha256");
    tap_ok(strstr(h1, t1) == NULL, "the stored form does not contain the token");
    tap_is_int(auth_token_hash("short", again, raw), -1, "wrong length refused");
    char bad[AUTH_TOKEN_LEN + 1];
    memcpy(bad, t1, sizeof bad);
    bad[5] = '=';
    tap_is_int(auth_token_hash(bad, again, raw), -1, "non-base64url character refused");
}

static void backup_codes(void)
{
    char c[AUTH_BACKUP_CODE_LEN + 1], n[AUTH_BACKUP_CODE_LEN + 1], h[AUTH_PWHASH_LEN];
    auth_new_backup_code(c);
    tap_is_int((long)strlen(c), 11, "backup code xxxxx-xxxxx");
    tap_ok(c[5] == '-', "dash in the middle");
    tap_is_int(auth_backup_normalise("ABCDE FGHJK", n), 0, "typed with upper case and a space");
    tap_is_str(n, "abcde-fghjk", "normalised");
    tap_is_int(auth_backup_normalise("abcde-fghj", n), -1, "9 characters refused");
    tap_is_int(auth_backup_normalise("abcde-fghj0", n), -1, "'0' is not in the alphabet");
    tap_is_int(auth_backup_hash(c, h), 0, "backup code hashed");
    tap_ok(strncmp(h, "$argon2id$v=19$m=19456,t=2,p=1$", 31) == 0, "argon2id, 19 MiB, 2 passes: %s", h);
    tap_ok(strstr(h, c) == NULL, "the hash does not contain the code");
}

static void passwords(void)
{
    char h[AUTH_PWHASH_LEN];
    tap_is_int(auth_password_hash("correct horse battery", h), 0, "password hashed");
    tap_ok(strncmp(h, "$argon2id$v=19$m=65536,t=2,p=1$", 31) == 0, "argon2id, 64 MiB (>= 19 MiB), 2 passes");
    tap_is_int(auth_password_verify(h, "correct horse battery"), 1, "right password verifies");
    tap_is_int(auth_password_verify(h, "correct horse batterY"), 0, "wrong password does not");
    tap_is_int(auth_password_verify(NULL, "anything at all"), 0, "unknown user (dummy hash) never verifies");
}

static void encryption(void)
{
    const unsigned char secret[20] = "12345678901234567890";
    unsigned char out[64];
    char *enc = NULL;
    tap_is_int(auth_enc_key_ok(), 0, "no APP_ENC_KEY: not ok");
    tap_is_int(auth_encrypt_secret(secret, 20, USER_A, &enc), -1, "no key: encryption fails closed");
    setenv("APP_ENC_KEY", KEY_HEX, 1);
    secret_track("APP_ENC_KEY", 1);
    tap_is_int(auth_enc_key_ok(), 1, "64 hex characters: ok");
    tap_is_int(auth_encrypt_secret(secret, 20, USER_A, &enc), 0, "encrypted");
    tap_ok(enc && strncmp(enc, "\\x", 2) == 0 && strlen(enc) == 2 + 2 * (24 + 20 + 16),
           "bytea hex: nonce || ct || tag");
    tap_ok(enc && !strstr(enc, "3132333435"), "no plaintext hex in the ciphertext");
    tap_is_int(auth_decrypt_secret(enc, USER_A, out, sizeof out), 20, "decrypts for the same user");
    tap_ok(memcmp(out, secret, 20) == 0, "the same secret");
    tap_is_int(auth_decrypt_secret(enc, USER_B, out, sizeof out), -1,
               "another user's id (AD) does not decrypt it");
    enc[10] = enc[10] == 'a' ? 'b' : 'a';
    tap_is_int(auth_decrypt_secret(enc, USER_A, out, sizeof out), -1,
               "a tampered ciphertext does not decrypt");
    free(enc);
}

static void limiter(void)
{
    cfg.auth_max_failures = 5;
    cfg.auth_window_s = 120;
    cfg.auth_ban_s = 1;
    long left = 0;
    for (int i = 1; i <= 4; i++)
        tap_ok(auth_limit_fail("user:alice") == 0, "failure %d: no ban", i);
    tap_is_int(auth_limit_banned("user:alice", &left), 0, "4 failures: not banned");
    tap_is_int(auth_limit_fail("user:alice"), 1, "5th failure starts the ban");
    tap_is_int(auth_limit_banned("user:alice", &left), 1, "banned");
    tap_ok(left >= 1 && left <= 2, "retry after ~1 s (got %ld)", left);
    tap_is_int(auth_limit_banned("user:bob", &left), 0, "another account is not banned");
    usleep(1200 * 1000);
    tap_is_int(auth_limit_banned("user:alice", &left), 0, "the ban lifts after ban_s");
    tap_is_int(auth_limit_fail("user:alice"), 0, "a failure after the ban starts a new count");
    auth_limit_clear("user:alice");
    for (int i = 1; i <= 4; i++)
        auth_limit_fail("user:alice");
    tap_is_int(auth_limit_banned("user:alice", &left), 0, "cleared by a success: 4 new failures do not ban");
    auth_limit_reset();
}

/* auth_failure / auth_banned: the IP and the account are counted apart, the longest ban wins. */
static void ban_accounting(void)
{
    struct auth_caller who = {"0123456789abcdef0123456789abcdef", "192.0.2.7"};
    struct auth_caller other = {"0123456789abcdef0123456789abcdef", "192.0.2.8"};
    long left = -1;
    log_set_level("warn"); /* the decisions are logged at info */
    cfg.auth_max_failures = 3;
    cfg.auth_window_s = 120;
    cfg.auth_ban_s = 60;
    auth_limit_reset();
    tap_is_int(auth_banned(&who, "carol", &left), 0, "nothing recorded: not banned");
    tap_is_int((int)left, 0, "... and no time left");
    for (int i = 0; i < 3; i++)
        auth_failure(&who, "carol");
    tap_is_int(auth_banned(&who, NULL, &left), 1, "3 failures ban the IP");
    tap_ok(left > 0 && left <= 60, "... for up to ban_s (got %ld)", left);
    tap_is_int(auth_banned(&other, "carol", &left), 1, "and the account, from another IP too");
    tap_is_int(auth_banned(&other, "dave", &left), 0, "another account from another IP is not banned");
    auth_failure(&other, NULL);
    tap_is_int(auth_banned(&other, NULL, &left), 0, "a failure without a username counts only for the IP");
    auth_limit_reset();
}

static void noop(struct http_ctx *ctx)
{
    (void)ctx;
}

static void unset_access(void)
{
    struct event_base *base = event_base_new();
    char err[256] = "";
    const struct http_route routes[] = {
        {"GET", "/healthz", noop, HTTP_ACCESS_PUBLIC},
        {"POST", "/api/new-thing", noop, HTTP_ACCESS_UNSET},
        {NULL, NULL, NULL, HTTP_ACCESS_UNSET},
    };
    config_load(err, sizeof err);
    tap_is_int(http_start(base, routes, err, sizeof err), -1, "http_start refuses a route without access");
    tap_ok(strstr(err, "/api/new-thing") != NULL, "and names it: %s", err);
    http_free();
    event_base_free(base);
}

int main(void)
{
    secret_init();
    unsetenv("APP_ENC_KEY");
    tokens();
    backup_codes();
    passwords();
    encryption();
    limiter();
    ban_accounting();
    unset_access();
    secret_shutdown();
    return tap_done();
}
