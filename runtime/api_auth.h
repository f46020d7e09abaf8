/* api_auth.h — the auth routes (PRODUCT.md §6 "Auth and 2FA"; docs/api.md "Auth").
 *
 * Every handler answers the JSON envelope with trace_id; every decision is logged as msg="auth decision"
 * (event, decision, reason, user, ip — never a password, code, token or secret), and sign-ins, bans and
 * TOTP replays are also system events (auth.login, auth.login_failed, auth.ban, auth.totp_replay). */
#ifndef GATEHOUSE_API_AUTH_H
#define GATEHOUSE_API_AUTH_H

#include <jansson.h>

#include "auth.h"

struct http_ctx;
struct auth_caller;

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

/* ---- shared by api_auth.c, api_2fa.c, api_users.c ---- */

/* SQL: the public JSON text of user row alias u (id, username, email, role, two_factor_enabled,
 * two_factor_enrolled_at, two_factor_last_verified_at, disabled, created_at). */
#define API_AUTH_USER_JSON                                                                                                                \
    "json_build_object('id', u.id, 'username', u.username, 'email', u.email, 'role', u.role,"                                             \
    " 'two_factor_enabled', u.two_factor_enabled,"                                                                                        \
    " 'two_factor_enrolled_at', " API_TS(                                                                                                 \
        "u.two_factor_enrolled_at") ","                                                                                                   \
                                    " 'two_factor_last_verified_at', " API_TS(                                                            \
                                        "u.two_factor_last_verified_at") ","                                                              \
                                                                         " 'disabled', u.disabled_at IS NOT NULL, 'created_at', " API_TS( \
                                                                             "u.created_at") ")::text"

/* Fills who with ctx's trace id and client IP (http_peer_ip) for the auth.c calls; returns who. */
struct auth_caller *api_auth_caller(const struct http_ctx *ctx, struct auth_caller *who);

/* Logs one auth decision (auth_log_decision for ctx): event (login, register, 2fa_verify, ...), decision
 * (allow|deny), reason, the username (escaped) and the peer IP. */
void api_auth_log(struct http_ctx *ctx, const char *event, const char *decision, const char *reason,
                  const char *username);

/* auth_failure for ctx: records a failure for the account (username may be NULL) and the IP; a failure that
 * starts a ban is logged and becomes an auth.ban system event. */
void api_auth_failure(struct http_ctx *ctx, const char *username);

/* auth_banned for ctx: 1 (after answering 429 RATE_LIMITED with Retry-After) when the IP or the account
 * (username may be NULL) is banned; 0 otherwise. */
int api_auth_banned(struct http_ctx *ctx, const char *username);

/* Username rule: 1..64 characters of a-z 0-9 . _ @ -, lower-cased into out. 0 (after answering 400) when
 * field is missing or malformed. */
int api_auth_username(struct http_ctx *ctx, const char *field, char out[65]);

/* Password rule: a string of AUTH_PASSWORD_MIN..AUTH_PASSWORD_MAX bytes. Returns it (borrowed from the body),
 * or NULL after answering 400. */
const char *api_auth_password(struct http_ctx *ctx, const char *field);

/* 503 ENCRYPTION_KEY_MISSING. */
void api_auth_reply_no_key(struct http_ctx *ctx);

/* Answers a failed factor check (401 UNAUTHENTICATED naming a replay, 409, 503) and records the failure
 * (api_auth_failure) for a wrong or replayed code. */
void api_auth_reply_factor_failure(struct http_ctx *ctx, enum auth_factor outcome, const char *username);

#endif
