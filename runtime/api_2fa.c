/* api_2fa.c — TOTP enrollment, backup codes and step-up (see api_2fa.h); the second-factor check itself is
 * auth_factor_check (auth.c). */
#include "api_2fa.h"

#include "api_auth.h"

#include <libpq-fe.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "auth.h"
#include "config.h"
#include "clock.h"
#include "db.h"
#include "http.h"
#include "log.h"
#include "session.h"
#include "telemetry.h"
#include "totp.h"

#define DB_TIMEOUT_MS 3000
#define ISSUER "gatehouse"

/* ---- setup ---- */

static void url_encode(const char *in, char *out, size_t len)
{
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p && o + 4 < len; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~", *p))
            out[o++] = (char)*p;
        else
            o += (size_t)snprintf(out + o, len - o, "%%%02X", *p);
    }
    out[o] = '\0';
}

struct setup {
    struct http_ctx *ctx;
    char b32[64];
};

static void on_setup(struct pg_result *res, const char *err, void *arg)
{
    struct setup *s = arg;
    struct http_ctx *ctx = s->ctx;
    if (!res) {
        api_reply_db_error(ctx, err, "2fa setup");
    } else if (PQntuples(res) != 1) {
        http_reply_error(
            ctx, 409, "VALIDATION_FAILED", "Two-factor authentication is already enabled for this account.",
            "Regenerate backup codes with POST /api/auth/2fa/backup-codes; an admin can reset 2FA with "
            "`gatehouse user add USERNAME --reset-2fa`.",
            json_pack("{s:s}", "field", "two_factor_enabled"));
    } else {
        char label[200], url[400];
        url_encode(ctx->auth.username, label, sizeof label);
        snprintf(url, sizeof url,
                 "otpauth://totp/%s:%s?secret=%s&issuer=%s&algorithm=SHA1&digits=%d&period=%d", ISSUER, label,
                 s->b32, ISSUER, TOTP_DIGITS, TOTP_PERIOD_S);
        api_auth_log(ctx, "2fa_setup", "allow", "secret_issued", ctx->auth.username);
        http_reply_json(ctx, 200,
                        json_pack("{s:s, s:s, s:{s:s, s:s}, s:s, s:s, s:i, s:i}", "otpauth_url", url,
                                  "secret_base32", s->b32, "qr", "format", "otpauth", "text", url, "issuer",
                                  ISSUER, "algorithm", "SHA1", "digits", TOTP_DIGITS, "period",
                                  TOTP_PERIOD_S));
        sodium_memzero(url, sizeof url);
    }
    sodium_memzero(s, sizeof *s);
    free(s);
}

/* Issues a new secret (the password was checked): replaces an unconfirmed one, never an enabled 2FA. */
static void setup_issue(struct http_ctx *ctx)
{
    unsigned char secret[TOTP_SECRET_BYTES];
    char *enc = NULL;
    struct setup *s = calloc(1, sizeof *s);
    s->ctx = ctx;
    randombytes_buf(secret, sizeof secret);
    totp_base32_encode(secret, sizeof secret, s->b32, sizeof s->b32);
    int rc = auth_encrypt_secret(secret, sizeof secret, ctx->auth.user_id, &enc);
    sodium_memzero(secret, sizeof secret);
    if (rc < 0) {
        free(enc);
        free(s);
        api_auth_reply_no_key(ctx);
        return;
    }
    const char *p[2] = {ctx->auth.user_id, enc};
    /* a new secret replaces an unconfirmed one; an enabled 2FA is never replaced here */
    if (db_query("UPDATE users SET two_factor_secret_encrypted = $2::bytea, two_factor_last_step = NULL"
                 " WHERE id = $1 AND NOT two_factor_enabled RETURNING 1",
                 2, p, DB_TIMEOUT_MS, on_setup, s) < 0)
        on_setup(NULL, NULL, s);
    free(enc);
}

/* The password re-check of setup: a stolen session cookie alone must not enroll a second factor. */
struct reauth {
    struct http_ctx *ctx;
    char *password;
    char *hash;
    int ok;
};

static void reauth_free(struct reauth *r)
{
    if (r->password) {
        sodium_memzero(r->password, strlen(r->password));
        free(r->password);
    }
    free(r->hash);
    sodium_memzero(r, sizeof *r);
    free(r);
}

static void reauth_work(void *arg)
{
    struct reauth *r = arg;
    r->ok = auth_password_verify(r->hash, r->password);
}

static void reauth_checked(void *arg)
{
    struct reauth *r = arg;
    struct http_ctx *ctx = r->ctx;
    if (!r->ok) {
        api_auth_log(ctx, "2fa_setup", "deny", "bad_password", ctx->auth.username);
        api_auth_failure(ctx, ctx->auth.username); /* counted like a failed sign-in */
        http_reply_error(ctx, 401, "UNAUTHENTICATED",
                         "The password is wrong: setting up 2FA needs the account password.",
                         "Enter the password of this account.", json_pack("{s:s}", "field", "password"));
    } else {
        setup_issue(ctx);
    }
    reauth_free(r);
}

static void on_reauth_user(struct pg_result *res, const char *err, void *arg)
{
    struct reauth *r = arg;
    if (!res) {
        api_reply_db_error(r->ctx, err, "user read");
        reauth_free(r);
        return;
    }
    if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)) r->hash = strdup(PQgetvalue(res, 0, 0));
    if (auth_work(reauth_work, reauth_checked, r) < 0) {
        http_reply_error(r->ctx, 500, "INTERNAL", "The hashing worker is not running.", NULL, NULL);
        reauth_free(r);
    }
}

void api_auth_2fa_setup(struct http_ctx *ctx)
{
    const char *pw = json_string_value(ctx->body ? json_object_get(ctx->body, "password") : NULL);
    if (!auth_enc_key_ok()) {
        api_auth_log(ctx, "2fa_setup", "deny", "encryption_key_missing", ctx->auth.username);
        api_auth_reply_no_key(ctx);
        return;
    }
    if (!pw || !*pw || strlen(pw) > AUTH_PASSWORD_MAX) {
        api_invalid(ctx, "password",
                    "Field 'password' must be the account password (setting up 2FA needs it again).");
        return;
    }
    if (api_auth_banned(ctx, ctx->auth.username)) return;
    struct reauth *r = calloc(1, sizeof *r);
    r->ctx = ctx;
    r->password = strdup(pw);
    const char *p[1] = {ctx->auth.user_id};
    if (db_query("SELECT password_hash FROM users WHERE id = $1 AND disabled_at IS NULL", 1, p, DB_TIMEOUT_MS,
                 on_reauth_user, r) < 0)
        on_reauth_user(NULL, NULL, r);
}

/* ---- confirm and backup-code regeneration ---- */

struct codes {
    struct http_ctx *ctx;
    int confirm; /* 1: 2fa/confirm (enables 2FA), 0: regeneration */
    char plain[AUTH_BACKUP_CODES][AUTH_BACKUP_CODE_LEN + 1];
    char hashes[AUTH_BACKUP_CODES][AUTH_PWHASH_LEN];
    int ok;
};

static void codes_free(struct codes *c)
{
    sodium_memzero(c, sizeof *c);
    free(c);
}

static void on_codes_stored(struct pg_result *res, const char *err, void *arg)
{
    struct codes *c = arg;
    struct http_ctx *ctx = c->ctx;
    if (!res) {
        api_reply_db_error(ctx, err, "backup codes store");
    } else if (PQntuples(res) != 1) {
        http_reply_error(ctx, 409, "VALIDATION_FAILED",
                         c->confirm ? "Two-factor authentication is already enabled (or was not set up)."
                                    : "Two-factor authentication is not enabled for this account.",
                         c->confirm ? "Use POST /api/auth/2fa/setup first." : "Enroll first.",
                         json_pack("{s:s}", "field", "code"));
    } else {
        json_t *list = json_array();
        for (int i = 0; i < AUTH_BACKUP_CODES; i++)
            json_array_append_new(list, json_string(c->plain[i]));
        if (c->confirm) {
            /* enrollment is not a step-up (the session keeps its own 2FA time), and it ends the user's other
             * sessions, on this instance at once (their rows are gone: the current one re-reads its row) */
            session_forget_user(ctx->auth.user_id);
        } else {
            session_mark_2fa(ctx->auth.session_hash);
        }
        api_auth_log(ctx, c->confirm ? "2fa_confirm" : "backup_codes", "allow",
                     c->confirm ? "two_factor_enabled" : "regenerated", ctx->auth.username);
        telemetry_system_event(
            c->confirm ? "auth.2fa_enabled" : "auth.backup_codes", "info", ctx->auth.username,
            c->confirm ? "two-factor authentication enabled (TOTP)" : "backup codes regenerated",
            ctx->trace_id, NULL);
        http_reply_json(
            ctx, 200,
            json_pack("{s:o, s:o}", "backup_codes", list, "user", api_decode(PQgetvalue(res, 0, 0))));
    }
    codes_free(c);
}

static void codes_work(void *arg)
{
    struct codes *c = arg;
    c->ok = 1;
    for (int i = 0; i < AUTH_BACKUP_CODES; i++)
        if (auth_backup_hash(c->plain[i], c->hashes[i]) < 0) c->ok = 0;
}

static void codes_hashed(void *arg)
{
    struct codes *c = arg;
    char hex[AUTH_HASH_HEX];
    if (!c->ok) {
        http_reply_error(c->ctx, 500, "INTERNAL", "The backup codes could not be hashed (out of memory).",
                         NULL, NULL);
        codes_free(c);
        return;
    }
    json_t *arr = json_array();
    for (int i = 0; i < AUTH_BACKUP_CODES; i++)
        json_array_append_new(arr, json_string(c->hashes[i]));
    char *text = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    sodium_bin2hex(hex, sizeof hex, c->ctx->auth.session_hash, 32);
    const char *p[4] = {c->ctx->auth.user_id, text, c->confirm ? "t" : "f", hex};
    if (db_query(
            "WITH u AS (UPDATE users SET two_factor_backup_codes_hash = $2::jsonb,"
            "    two_factor_enabled = true,"
            "    two_factor_enrolled_at = CASE WHEN $3::boolean THEN gh_now() ELSE two_factor_enrolled_at END,"
            "    two_factor_last_verified_at = gh_now()"
            "  WHERE id = $1 AND two_factor_secret_encrypted IS NOT NULL AND two_factor_enabled <> $3::boolean"
            "  RETURNING *),"
            /* regeneration (a current code) is a step-up; confirm is not, and ends the other sessions */
            " s AS (UPDATE sessions SET two_factor_verified_at = gh_now()"
            "  WHERE id_hash = decode($4, 'hex') AND NOT $3::boolean AND EXISTS (SELECT 1 FROM u)),"
            " gone AS (DELETE FROM sessions WHERE user_id = $1 AND id_hash <> decode($4, 'hex')"
            "  AND $3::boolean AND EXISTS (SELECT 1 FROM u))"
            " SELECT " API_AUTH_USER_JSON " FROM u",
            4, p, DB_TIMEOUT_MS, on_codes_stored, c) < 0)
        on_codes_stored(NULL, NULL, c);
    free(text);
}

static void on_codes_factor(enum auth_factor outcome, void *arg)
{
    struct codes *c = arg;
    struct http_ctx *ctx = c->ctx;
    if (outcome != AUTH_FACTOR_OK) {
        api_auth_reply_factor_failure(ctx, outcome, ctx->auth.username);
        codes_free(c);
        return;
    }
    for (int i = 0; i < AUTH_BACKUP_CODES; i++)
        auth_new_backup_code(c->plain[i]);
    if (auth_work(codes_work, codes_hashed, c) < 0) {
        http_reply_error(ctx, 500, "INTERNAL", "The hashing worker is not running.", NULL, NULL);
        codes_free(c);
    }
}

/* The 6-digit code field of confirm / backup-codes; NULL after answering 400. */
static const char *code_field(struct http_ctx *ctx)
{
    const char *code = json_string_value(ctx->body ? json_object_get(ctx->body, "code") : NULL);
    if (!code) api_invalid(ctx, "code", "Field 'code' must be the 6-digit code of your authenticator app.");
    return code;
}

static void codes_route(struct http_ctx *ctx, int confirm)
{
    const char *code = code_field(ctx);
    if (!code || api_auth_banned(ctx, ctx->auth.username)) return;
    struct codes *c = calloc(1, sizeof *c);
    c->ctx = ctx;
    c->confirm = confirm;
    struct auth_caller who;
    auth_factor_check(api_auth_caller(ctx, &who), ctx->auth.user_id, ctx->auth.username, code, NULL, !confirm,
                      on_codes_factor, c);
}

void api_auth_2fa_confirm(struct http_ctx *ctx)
{
    codes_route(ctx, 1);
}

void api_auth_2fa_backup_codes(struct http_ctx *ctx)
{
    codes_route(ctx, 0);
}

/* ---- step-up ---- */

static void on_stepped_up(struct pg_result *res, const char *err, void *arg)
{
    struct http_ctx *ctx = arg;
    if (!res) {
        api_reply_db_error(ctx, err, "step-up");
        return;
    }
    session_mark_2fa(ctx->auth.session_hash);
    api_auth_log(ctx, "2fa_step_up", "allow", "fresh_2fa", ctx->auth.username);
    http_reply_json(ctx, 200, json_pack("{s:b, s:i}", "fresh_2fa", 1, "fresh_for_s", cfg.fresh_2fa_s));
}

static void on_step_up_factor(enum auth_factor outcome, void *arg)
{
    struct http_ctx *ctx = arg;
    char hex[AUTH_HASH_HEX];
    if (outcome != AUTH_FACTOR_OK) {
        api_auth_reply_factor_failure(ctx, outcome, ctx->auth.username);
        return;
    }
    sodium_bin2hex(hex, sizeof hex, ctx->auth.session_hash, 32);
    const char *p[1] = {hex};
    if (db_query("UPDATE sessions SET two_factor_verified_at = gh_now() WHERE id_hash = decode($1, 'hex')", 1,
                 p, DB_TIMEOUT_MS, on_stepped_up, ctx) < 0)
        on_stepped_up(NULL, NULL, ctx);
}

void api_auth_2fa_step_up(struct http_ctx *ctx)
{
    json_t *c = ctx->body ? json_object_get(ctx->body, "code") : NULL;
    json_t *b = ctx->body ? json_object_get(ctx->body, "backup_code") : NULL;
    if ((c && !json_is_string(c)) || (b && !json_is_string(b)) || !c == !b) {
        api_invalid(ctx, "code", "Send exactly one of 'code' (6 digits) or 'backup_code'.");
        return;
    }
    if (api_auth_banned(ctx, ctx->auth.username)) return;
    struct auth_caller who;
    auth_factor_check(api_auth_caller(ctx, &who), ctx->auth.user_id, ctx->auth.username, json_string_value(c),
                      json_string_value(b), 1, on_step_up_factor, ctx);
}
