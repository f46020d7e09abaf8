/* api_auth.h — the auth routes (PRODUCT.md §6 "Auth and 2FA"; docs/api.md "Auth").
 *
 * Every handler answers the JSON envelope with trace_id; every decision is logged as msg="auth decision"
 * (event, decision, reason, user, ip — never a password, code, token or secret), and sign-ins, bans and
 * TOTP replays are also system events (auth.login, auth.login_failed, auth.ban, auth.totp_replay). */
#ifndef GATEHOUSE_API_AUTH_H
#define GATEHOUSE_API_AUTH_H

#include <jansson.h>

struct http_ctx;

/* POST /api/auth/register {username, password, email?} — 201 {user} + session cookie; only while no user
 * exists (the first user is admin), else 403 FORBIDDEN. */
void api_auth_register(struct http_ctx *ctx);

/* POST /api/auth/login {username, password} — {requires_2fa: false, user} + cookie, or {requires_2fa: true,
 * temp_token, expires_in_s}; 401 on bad credentials; 429 RATE_LIMITED + Retry-After while banned. */
void api_auth_login(struct http_ctx *ctx);

/* POST /api/auth/2fa/verify {temp_token, code | backup_code} — {user, method} + cookie (2FA-verified). The
 * temp token is spent by this call whatever its outcome. */
void api_auth_2fa_verify(struct http_ctx *ctx);

/* POST /api/auth/logout — deletes the session row, clears the cookie. */
void api_auth_logout(struct http_ctx *ctx);

/* GET /api/auth/me — {user}. */
void api_auth_me(struct http_ctx *ctx);

/* GET /api/auth/sessions — the caller's live sessions {sessions: [...], next_cursor}. */
void api_auth_sessions_list(struct http_ctx *ctx);

/* DELETE /api/auth/sessions/:id — revokes one of the caller's sessions (by public id). */
void api_auth_sessions_revoke(struct http_ctx *ctx);

/* POST /api/auth/2fa/setup {password} (the password again; a wrong one counts as a failed sign-in), /confirm
 * {code} (enables 2FA, ends the user's other sessions, is NOT a step-up), /backup-codes {code}, /step-up
 * {code | backup_code}: api_2fa.c */
void api_auth_2fa_setup(struct http_ctx *ctx);
void api_auth_2fa_confirm(struct http_ctx *ctx);
void api_auth_2fa_backup_codes(struct http_ctx *ctx);
void api_auth_2fa_step_up(struct http_ctx *ctx);

/* ---- shared by api_auth.c, api_2fa.c, api_users.c ---- */

/* SQL: the public JSON text of user row alias u (id, username, email, role, two_factor_enabled,
 * two_factor_enrolled_at, two_factor_last_verified_at, disabled, created_at). */
#define API_AUTH_USER_JSON                                                                                       \
    "json_build_object('id', u.id, 'username', u.username, 'email', u.email, 'role', u.role,"                    \
    " 'two_factor_enabled', u.two_factor_enabled,"                                                               \
    " 'two_factor_enrolled_at', " API_TS("u.two_factor_enrolled_at") ","                                          \
    " 'two_factor_last_verified_at', " API_TS("u.two_factor_last_verified_at") ","                                \
    " 'disabled', u.disabled_at IS NOT NULL, 'created_at', " API_TS("u.created_at") ")::text"

/* Logs one auth decision: event (login, register, 2fa_verify, ...), decision (allow|deny), reason, the
 * username (escaped) and the peer IP. */
void api_auth_log(struct http_ctx *ctx, const char *event, const char *decision, const char *reason,
                  const char *username);

/* Records a failure for the account (username may be NULL) and the IP; a failure that starts a ban is logged
 * and becomes an auth.ban system event. */
void api_auth_failure(struct http_ctx *ctx, const char *username);

/* 1 (after answering 429 RATE_LIMITED with Retry-After) when the IP or the account (username may be NULL)
 * is banned; 0 otherwise. */
int api_auth_banned(struct http_ctx *ctx, const char *username);

/* Username rule: 1..64 characters of a-z 0-9 . _ @ -, lower-cased into out. 0 (after answering 400) when
 * field is missing or malformed. */
int api_auth_username(struct http_ctx *ctx, const char *field, char out[65]);

/* Password rule: a string of AUTH_PASSWORD_MIN..AUTH_PASSWORD_MAX bytes. Returns it (borrowed from the body),
 * or NULL after answering 400. */
const char *api_auth_password(struct http_ctx *ctx, const char *field);

/* 503 ENCRYPTION_KEY_MISSING. */
void api_auth_reply_no_key(struct http_ctx *ctx);

/* The second-factor check shared by 2fa/verify, confirm, backup-codes and step-up. */
enum factor_outcome { FACTOR_OK, FACTOR_INVALID, FACTOR_REPLAY, FACTOR_NOT_ENROLLED, FACTOR_NO_KEY, FACTOR_DB_ERROR };

typedef void (*factor_cb)(struct http_ctx *ctx, enum factor_outcome outcome, void *arg);

/* Checks code (6 digits, TOTP) or backup_code for user_id. enrolled_only: the user's 2FA must be enabled
 * (confirm passes 0: the secret is set up but not enabled yet). A matched TOTP step is recorded with a
 * compare-and-set on users.two_factor_last_step (a second use of it is FACTOR_REPLAY, logged, an
 * auth.totp_replay event); a matched backup code is removed (single use). cb runs once. */
void api_2fa_check(struct http_ctx *ctx, const char *user_id, const char *username, const char *code,
                   const char *backup_code, int enrolled_only, factor_cb cb, void *arg);

/* Answers a failed factor check (401 UNAUTHENTICATED naming a replay, 409, 503) and records the failure. */
void api_2fa_reply_failure(struct http_ctx *ctx, enum factor_outcome outcome, const char *username);

#endif
