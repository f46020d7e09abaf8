/* api_auth.c — register, login, 2fa/verify, logout, me, sessions (see api_auth.h). */
#include "api_auth.h"

#include <libpq-fe.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "auth.h"
#include "config.h"
#include "db.h"
#include "http.h"
#include "id.h"
#include "log.h"
#include "session.h"
#include "telemetry.h"

#define DB_TIMEOUT_MS 3000

/* ---- shared helpers ---- */

struct auth_caller *api_auth_caller(const struct http_ctx *ctx, struct auth_caller *who)
{
    snprintf(who->trace_id, sizeof who->trace_id, "%s", ctx->trace_id);
    snprintf(who->ip, sizeof who->ip, "%s", http_peer_ip(ctx));
    return who;
}

void api_auth_log(struct http_ctx *ctx, const char *event, const char *decision, const char *reason,
                  const char *username)
{
    struct auth_caller who;
    auth_log_decision(api_auth_caller(ctx, &who), event, decision, reason, username);
}

void api_auth_failure(struct http_ctx *ctx, const char *username)
{
    struct auth_caller who;
    auth_failure(api_auth_caller(ctx, &who), username);
}

int api_auth_banned(struct http_ctx *ctx, const char *username)
{
    struct auth_caller who;
    char retry[24];
    long left;
    if (!auth_banned(api_auth_caller(ctx, &who), username, &left)) return 0;
    snprintf(retry, sizeof retry, "%ld", left);
    http_add_header(ctx, "Retry-After", retry);
    http_reply_error(ctx, 429, "RATE_LIMITED",
                     "Too many failed sign-in attempts; this account or address is locked for a while.",
                     "Wait for the time in Retry-After, then try again.",
                     json_pack("{s:I}", "retry_after_s", (json_int_t)left));
    return 1;
}

int api_auth_username(struct http_ctx *ctx, const char *field, char out[65])
{
    json_t *v = ctx->body ? json_object_get(ctx->body, field) : NULL;
    const char *s = json_string_value(v);
    size_t n = s ? strlen(s) : 0;
    int ok = s && n >= 1 && n <= 64;
    for (size_t i = 0; ok && i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '@' ||
              c == '-'))
            ok = 0;
        out[i] = c;
    }
    if (!ok) {
        char reason[160];
        snprintf(reason, sizeof reason,
                 "Field '%s' must be 1 to 64 characters of a-z, 0-9, '.', '_', '@', '-'.", field);
        api_invalid(ctx, field, reason);
        return 0;
    }
    out[n] = '\0';
    return 1;
}

const char *api_auth_password(struct http_ctx *ctx, const char *field)
{
    const char *s = json_string_value(ctx->body ? json_object_get(ctx->body, field) : NULL);
    size_t n = s ? strlen(s) : 0;
    if (!s || n < AUTH_PASSWORD_MIN || n > AUTH_PASSWORD_MAX) {
        char reason[160];
        snprintf(reason, sizeof reason, "Field '%s' must be a string of %d to %d characters.", field,
                 AUTH_PASSWORD_MIN, AUTH_PASSWORD_MAX);
        api_invalid(ctx, field, reason);
        return NULL;
    }
    return s;
}

void api_auth_reply_no_key(struct http_ctx *ctx)
{
    http_reply_error(
        ctx, 503, "ENCRYPTION_KEY_MISSING",
        "APP_ENC_KEY is not set (or is not 64 hex characters), so TOTP secrets cannot be stored or read; "
        "2FA fails closed.",
        "Set APP_ENC_KEY to the output of `gatehouse keygen` and restart gatehouse.", NULL);
}

static void reply_unauthenticated(struct http_ctx *ctx, const char *reason)
{
    http_reply_error(ctx, 401, "UNAUTHENTICATED", reason, "Check the username and password and try again.",
                     NULL);
}

/* ---- register ---- */

struct reg {
    struct http_ctx *ctx;
    char username[65];
    char *password;
    char *email;
    json_t *user;
};

static void reg_free(struct reg *r)
{
    if (r->password) {
        sodium_memzero(r->password, strlen(r->password));
        free(r->password);
    }
    free(r->email);
    json_decref(r->user);
    sodium_memzero(r, sizeof *r);
    free(r);
}

static void on_reg_session(struct http_ctx *ctx, int rc, const char *public_id, const char *err, void *arg)
{
    struct reg *r = arg;
    if (rc < 0) {
        api_reply_db_error(ctx, err, "session create");
    } else {
        api_auth_log(ctx, "register", "allow", "first_user_admin", r->username);
        telemetry_system_event("auth.register", "info", r->username, "first user registered (admin)",
                               ctx->trace_id, NULL);
        http_reply_json(ctx, 201, json_pack("{s:O}", "user", r->user));
    }
    reg_free(r);
}

static void on_reg_insert(struct pg_result *res, const char *err, void *arg)
{
    struct reg *r = arg;
    if (!res) {
        api_reply_db_error(r->ctx, err, "user insert");
        reg_free(r);
        return;
    }
    if (PQntuples(res) != 1) {
        api_auth_log(r->ctx, "register", "deny", "users_exist", r->username);
        http_reply_error(r->ctx, 403, "FORBIDDEN", "Registration is closed: gatehouse already has users.",
                         "Ask an admin to create your account (POST /api/users).", NULL);
        reg_free(r);
        return;
    }
    r->user = api_decode(PQgetvalue(res, 0, 1));
    session_create(r->ctx, PQgetvalue(res, 0, 0), 0, on_reg_session, r);
}

static void reg_hashed(const char *hash, void *arg)
{
    struct reg *r = arg;
    if (!hash) {
        http_reply_error(r->ctx, 500, "INTERNAL", "The password could not be hashed (out of memory).", NULL,
                         NULL);
        reg_free(r);
        return;
    }
    const char *p[3] = {r->username, hash, r->email};
    if (db_query("WITH u AS (INSERT INTO users (username, email, password_hash, role, registered_first)"
                 "  SELECT $1, lower($3), $2, 'admin', true WHERE NOT EXISTS (SELECT 1 FROM users)"
                 "  ON CONFLICT DO NOTHING RETURNING *)"
                 " SELECT u.id, " API_AUTH_USER_JSON " FROM u",
                 3, p, DB_TIMEOUT_MS, on_reg_insert, r) < 0)
        on_reg_insert(NULL, NULL, r);
}

static void on_reg_exists(struct pg_result *res, const char *err, void *arg)
{
    struct reg *r = arg;
    if (!res) {
        api_reply_db_error(r->ctx, err, "user count");
        reg_free(r);
        return;
    }
    if (strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
        api_auth_log(r->ctx, "register", "deny", "users_exist", r->username);
        http_reply_error(r->ctx, 403, "FORBIDDEN", "Registration is closed: gatehouse already has users.",
                         "Ask an admin to create your account (POST /api/users).", NULL);
        reg_free(r);
        return;
    }
    if (auth_hash_then(r->password, reg_hashed, r) < 0) {
        http_reply_error(r->ctx, 500, "INTERNAL", "The hashing worker is not running.", NULL, NULL);
        reg_free(r);
    }
}

static int optional_email(struct http_ctx *ctx, char **out)
{
    json_t *v = json_object_get(ctx->body, "email");
    *out = NULL;
    if (!v || json_is_null(v)) return 1;
    const char *s = json_string_value(v);
    if (!s || strlen(s) < 3 || strlen(s) > 254 || !strchr(s, '@')) {
        api_invalid(ctx, "email", "Field 'email' must be an e-mail address (or omitted).");
        return 0;
    }
    *out = strdup(s);
    return 1;
}

void api_auth_register(struct http_ctx *ctx)
{
    struct reg *r = calloc(1, sizeof *r);
    const char *pw;
    r->ctx = ctx;
    if (!ctx->body) {
        api_invalid(ctx, "body", "Send {username, password, email?}.");
        reg_free(r);
        return;
    }
    if (!api_auth_username(ctx, "username", r->username) || !(pw = api_auth_password(ctx, "password")) ||
        !optional_email(ctx, &r->email)) {
        reg_free(r);
        return;
    }
    r->password = strdup(pw);
    if (db_query("SELECT EXISTS (SELECT 1 FROM users)", 0, NULL, DB_TIMEOUT_MS, on_reg_exists, r) < 0)
        on_reg_exists(NULL, NULL, r);
}

/* ---- login ---- */

struct login {
    struct http_ctx *ctx;
    char username[65];
    char *password;
    char *hash; /* NULL for an unknown user: verified against a dummy */
    char user_id[37];
    int two_factor, disabled, ok;
    json_t *user;
    char temp[AUTH_TOKEN_LEN + 1]; /* the temp token handed out when 2FA is on */
};

static void login_free(struct login *l)
{
    if (l->password) {
        sodium_memzero(l->password, strlen(l->password));
        free(l->password);
    }
    free(l->hash);
    json_decref(l->user);
    sodium_memzero(l, sizeof *l);
    free(l);
}

static void login_event(struct http_ctx *ctx, const char *kind, const char *severity, const char *who,
                        const char *msg)
{
    json_t *meta = json_pack("{s:s}", "ip", http_peer_ip(ctx));
    telemetry_system_event(kind, severity, who, msg, ctx->trace_id, meta);
    json_decref(meta);
}

static void on_login_session(struct http_ctx *ctx, int rc, const char *public_id, const char *err, void *arg)
{
    struct login *l = arg;
    if (rc < 0) {
        api_reply_db_error(ctx, err, "session create");
    } else {
        char key[320];
        snprintf(key, sizeof key, "user:%s", l->username);
        auth_limit_clear(key);
        api_auth_log(ctx, "login", "allow", "password", l->username);
        login_event(ctx, "auth.login", "info", l->username, "signed in (password)");
        http_reply_json(ctx, 200, json_pack("{s:b, s:O}", "requires_2fa", 0, "user", l->user));
    }
    login_free(l);
}

static void on_temp_token(struct pg_result *res, const char *err, void *arg)
{
    struct login *l = arg;
    if (!res) {
        api_reply_db_error(l->ctx, err, "temp token insert");
    } else {
        api_auth_log(l->ctx, "login", "allow", "password_ok_2fa_pending", l->username);
        http_reply_json(l->ctx, 200,
                        json_pack("{s:b, s:s, s:i}", "requires_2fa", 1, "temp_token", l->temp, "expires_in_s",
                                  cfg.temp_ttl_2fa_s));
    }
    login_free(l);
}

static void login_checked(void *arg)
{
    struct login *l = arg;
    if (!l->ok || l->disabled) {
        api_auth_log(l->ctx, "login", "deny",
                     !l->hash               ? "unknown_user"
                     : l->disabled && l->ok ? "disabled"
                                            : "bad_password",
                     l->username);
        api_auth_failure(l->ctx, l->username);
        login_event(l->ctx, "auth.login_failed", "info", l->username, "sign-in refused (bad credentials)");
        reply_unauthenticated(l->ctx, "Wrong username or password.");
        login_free(l);
        return;
    }
    if (l->two_factor) {
        char hex[AUTH_HASH_HEX], ttl[16];
        auth_new_token(l->temp, hex);
        snprintf(ttl, sizeof ttl, "%d", cfg.temp_ttl_2fa_s);
        const char *p[3] = {hex, l->user_id, ttl};
        if (db_query("INSERT INTO auth_temp_tokens (token_hash, user_id, expires_at)"
                     " VALUES (decode($1, 'hex'), $2, gh_now() + make_interval(secs => $3::int))",
                     3, p, DB_TIMEOUT_MS, on_temp_token, l) < 0)
            on_temp_token(NULL, NULL, l);
        return;
    }
    session_create(l->ctx, l->user_id, 0, on_login_session, l);
}

static void login_work(void *arg)
{
    struct login *l = arg;
    l->ok = auth_password_verify(l->hash, l->password);
}

static void on_login_user(struct pg_result *res, const char *err, void *arg)
{
    struct login *l = arg;
    if (!res) {
        api_reply_db_error(l->ctx, err, "user read");
        login_free(l);
        return;
    }
    if (PQntuples(res) == 1) {
        snprintf(l->user_id, sizeof l->user_id, "%s", PQgetvalue(res, 0, 0));
        l->hash = strdup(PQgetvalue(res, 0, 1));
        l->two_factor = strcmp(PQgetvalue(res, 0, 2), "t") == 0;
        l->disabled = strcmp(PQgetvalue(res, 0, 3), "t") == 0;
        l->user = api_decode(PQgetvalue(res, 0, 4));
    }
    if (auth_work(login_work, login_checked, l) < 0) {
        http_reply_error(l->ctx, 500, "INTERNAL", "The hashing worker is not running.", NULL, NULL);
        login_free(l);
    }
}

void api_auth_login(struct http_ctx *ctx)
{
    struct login *l = calloc(1, sizeof *l);
    const char *pw = json_string_value(ctx->body ? json_object_get(ctx->body, "password") : NULL);
    l->ctx = ctx;
    if (!api_auth_username(ctx, "username", l->username)) {
        login_free(l);
        return;
    }
    if (!pw || !*pw || strlen(pw) > AUTH_PASSWORD_MAX) {
        api_invalid(ctx, "password", "Field 'password' must be a non-empty string.");
        login_free(l);
        return;
    }
    if (api_auth_banned(ctx, l->username)) {
        login_free(l);
        return;
    }
    l->password = strdup(pw);
    const char *p[1] = {l->username};
    if (db_query(
            "SELECT u.id, u.password_hash, u.two_factor_enabled, u.disabled_at IS NOT NULL, " API_AUTH_USER_JSON
            " FROM users u WHERE lower(u.username) = lower($1)",
            1, p, DB_TIMEOUT_MS, on_login_user, l) < 0)
        on_login_user(NULL, NULL, l);
}

/* ---- 2fa/verify ---- */

struct verify {
    struct http_ctx *ctx;
    char user_id[37], username[300];
    json_t *user;
    int backup;
};

static void verify_free(struct verify *v)
{
    json_decref(v->user);
    free(v);
}

static void on_verify_session(struct http_ctx *ctx, int rc, const char *public_id, const char *err, void *arg)
{
    struct verify *v = arg;
    if (rc < 0) {
        api_reply_db_error(ctx, err, "session create");
    } else {
        char key[320];
        snprintf(key, sizeof key, "user:%s", v->username);
        auth_limit_clear(key);
        api_auth_log(ctx, "2fa_verify", "allow", v->backup ? "backup_code" : "totp", v->username);
        login_event(ctx, "auth.login", "info", v->username,
                    v->backup ? "signed in (password + backup code)" : "signed in (password + TOTP)");
        http_reply_json(
            ctx, 200, json_pack("{s:O, s:s}", "user", v->user, "method", v->backup ? "backup_code" : "totp"));
    }
    verify_free(v);
}

static void on_factor(enum auth_factor outcome, void *arg)
{
    struct verify *v = arg;
    struct http_ctx *ctx = v->ctx;
    if (outcome != AUTH_FACTOR_OK) {
        api_auth_reply_factor_failure(ctx, outcome, v->username);
        verify_free(v);
        return;
    }
    session_create(ctx, v->user_id, 1, on_verify_session, v);
}

static void on_temp_spent(struct pg_result *res, const char *err, void *arg)
{
    struct verify *v = arg;
    struct http_ctx *ctx = v->ctx;
    if (!res) {
        api_reply_db_error(ctx, err, "temp token read");
        verify_free(v);
        return;
    }
    if (PQntuples(res) != 1 || strcmp(PQgetvalue(res, 0, 2), "t") == 0) {
        api_auth_log(ctx, "2fa_verify", "deny", "temp_token_invalid_expired_or_used", NULL);
        api_auth_failure(ctx, NULL);
        http_reply_error(ctx, 401, "UNAUTHENTICATED", "The temp token is invalid, expired or already used.",
                         "Sign in again with POST /api/auth/login to get a new temp token.", NULL);
        verify_free(v);
        return;
    }
    snprintf(v->user_id, sizeof v->user_id, "%s", PQgetvalue(res, 0, 0));
    snprintf(v->username, sizeof v->username, "%s", PQgetvalue(res, 0, 1));
    v->user = api_decode(PQgetvalue(res, 0, 3));
    if (api_auth_banned(ctx, v->username)) {
        verify_free(v);
        return;
    }
    const char *code = json_string_value(json_object_get(ctx->body, "code"));
    const char *backup = json_string_value(json_object_get(ctx->body, "backup_code"));
    v->backup = code == NULL;
    struct auth_caller who;
    auth_factor_check(api_auth_caller(ctx, &who), v->user_id, v->username, code, backup, 1, on_factor, v);
}

/* Exactly one of code (string) / backup_code (string). 0 after answering 400. */
static int one_factor(struct http_ctx *ctx)
{
    json_t *c = json_object_get(ctx->body, "code"), *b = json_object_get(ctx->body, "backup_code");
    if (c && !json_is_string(c))
        return api_invalid(ctx, "code", "Field 'code' must be a string of 6 digits."), 0;
    if (b && !json_is_string(b))
        return api_invalid(ctx, "backup_code", "Field 'backup_code' must be a string."), 0;
    if (!c == !b) return api_invalid(ctx, "code", "Send exactly one of 'code' or 'backup_code'."), 0;
    return 1;
}

void api_auth_2fa_verify(struct http_ctx *ctx)
{
    const char *token = json_string_value(ctx->body ? json_object_get(ctx->body, "temp_token") : NULL);
    char hex[AUTH_HASH_HEX];
    unsigned char raw[32];
    if (!token) {
        api_invalid(ctx, "temp_token",
                    "Field 'temp_token' must be the string POST /api/auth/login returned.");
        return;
    }
    if (!one_factor(ctx) || api_auth_banned(ctx, NULL)) return;
    if (auth_token_hash(token, hex, raw) < 0) {
        api_auth_log(ctx, "2fa_verify", "deny", "temp_token_malformed", NULL);
        api_auth_failure(ctx, NULL);
        http_reply_error(ctx, 401, "UNAUTHENTICATED", "The temp token is invalid, expired or already used.",
                         "Sign in again with POST /api/auth/login to get a new temp token.", NULL);
        return;
    }
    struct verify *v = calloc(1, sizeof *v);
    v->ctx = ctx;
    const char *p[1] = {hex};
    /* spend the token first (single use whatever the outcome), then read its user */
    if (db_query(
            "WITH t AS (UPDATE auth_temp_tokens SET used_at = gh_now()"
            "  WHERE token_hash = decode($1, 'hex') AND used_at IS NULL AND expires_at > gh_now() RETURNING user_id),"
            " gone AS (DELETE FROM auth_temp_tokens WHERE expires_at < gh_now() - interval '1 day')"
            " SELECT u.id, u.username, u.disabled_at IS NOT NULL, " API_AUTH_USER_JSON
            " FROM t JOIN users u ON u.id = t.user_id",
            1, p, DB_TIMEOUT_MS, on_temp_spent, v) < 0)
        on_temp_spent(NULL, NULL, v);
}

/* ---- logout, me ---- */

static void on_logout(struct pg_result *res, const char *err, void *arg)
{
    struct http_ctx *ctx = arg;
    if (!res) {
        api_reply_db_error(ctx, err, "logout");
        return;
    }
    session_clear_cookie(ctx);
    api_auth_log(ctx, "logout", "allow", "session_deleted", ctx->auth.username);
    http_reply_json(ctx, 200, json_pack("{s:b}", "logged_out", 1));
}

void api_auth_logout(struct http_ctx *ctx)
{
    char hex[AUTH_HASH_HEX];
    sodium_bin2hex(hex, sizeof hex, ctx->auth.session_hash, 32);
    session_forget(ctx->auth.session_hash);
    const char *p[1] = {hex};
    if (db_query("DELETE FROM sessions WHERE id_hash = decode($1, 'hex')", 1, p, DB_TIMEOUT_MS, on_logout,
                 ctx) < 0)
        on_logout(NULL, NULL, ctx);
}

static void on_me(struct pg_result *res, const char *err, void *arg)
{
    struct http_ctx *ctx = arg;
    if (!res || PQntuples(res) != 1) {
        if (res)
            http_reply_error(ctx, 401, "UNAUTHENTICATED", "The signed-in user no longer exists.",
                             "Sign in again.", NULL);
        else
            api_reply_db_error(ctx, err, "user read");
        return;
    }
    json_t *u = api_decode(PQgetvalue(res, 0, 0));
    json_object_set_new(u, "session_id", json_string(ctx->auth.session_id));
    json_object_set_new(u, "fresh_2fa", json_boolean(ctx->auth.fresh_2fa));
    http_reply_json(ctx, 200, json_pack("{s:o}", "user", u));
}

void api_auth_me(struct http_ctx *ctx)
{
    const char *p[1] = {ctx->auth.user_id};
    if (db_query("SELECT " API_AUTH_USER_JSON " FROM users u WHERE u.id = $1", 1, p, DB_TIMEOUT_MS, on_me,
                 ctx) < 0)
        on_me(NULL, NULL, ctx);
}

/* ---- sessions ---- */

static void on_sessions(struct pg_result *res, const char *err, void *arg)
{
    struct api_page *pg = arg;
    struct http_ctx *ctx = pg->ctx;
    if (!res) {
        api_reply_db_error(ctx, err, "sessions list");
        free(pg);
        return;
    }
    json_t *list = json_array(), *next = json_null();
    int n = PQntuples(res);
    for (int i = 0; i < n && i < pg->limit; i++)
        json_array_append_new(list, api_decode(PQgetvalue(res, i, 0)));
    if (n > pg->limit) {
        char cur[128];
        snprintf(cur, sizeof cur, "%s", PQgetvalue(res, (int)pg->limit - 1, 1));
        next = json_string(cur);
    }
    http_reply_json(ctx, 200, json_pack("{s:o, s:o}", "sessions", list, "next_cursor", next));
    free(pg);
}

void api_auth_sessions_list(struct http_ctx *ctx)
{
    char ts[64], uuid[40], lim[24], idle[16];
    long limit;
    if (api_page_params(ctx, &limit, ts, sizeof ts, uuid, sizeof uuid) < 0) return;
    struct api_page *pg = api_page_new(ctx, limit);
    snprintf(lim, sizeof lim, "%ld", limit + 1);
    snprintf(idle, sizeof idle, "%d", cfg.session_idle_s);
    const char *p[6] = {
        ctx->auth.user_id, ctx->auth.session_id, ts[0] ? ts : NULL, uuid[0] ? uuid : NULL, lim, idle};
    // clang-format off
    if (db_query("SELECT json_build_object('id', s.public_id, 'created_at', " API_TS("s.created_at") ","
                 "  'last_seen_at', " API_TS("s.last_seen_at") ", 'expires_at', " API_TS("s.expires_at") ","
                 "  'idle_expires_at', " API_TS("(s.last_seen_at + make_interval(secs => $6::int))") ","
                 "  'ip', s.ip, 'user_agent', s.user_agent, 'two_factor_verified_at', "
                 API_TS("s.two_factor_verified_at") ", 'current', s.public_id::text = $2)::text,"
                 "  " API_TS("s.created_at") " || '_' || s.public_id"
                 " FROM sessions s WHERE s.user_id = $1 AND s.revoked_at IS NULL AND s.expires_at > gh_now()"
                 "  AND s.last_seen_at > gh_now() - make_interval(secs => $6::int)"
                 "  AND ($3::timestamptz IS NULL OR (s.created_at, s.public_id) > ($3::timestamptz, $4::uuid))"
                 " ORDER BY s.created_at, s.public_id LIMIT $5::int",
                 6, p, DB_TIMEOUT_MS, on_sessions, pg) < 0)
        on_sessions(NULL, NULL, pg);
    // clang-format on
}

static void on_revoked(struct pg_result *res, const char *err, void *arg)
{
    struct http_ctx *ctx = arg;
    unsigned char hash[32];
    size_t n = 0;
    if (!res) {
        api_reply_db_error(ctx, err, "session revoke");
        return;
    }
    if (PQntuples(res) != 1) {
        http_reply_error(ctx, 404, "NOT_FOUND", "No such session of yours.",
                         "Use an id from GET /api/auth/sessions.", NULL);
        return;
    }
    if (sodium_hex2bin(hash, sizeof hash, PQgetvalue(res, 0, 0), 64, NULL, &n, NULL) == 0 && n == 32)
        session_forget(hash);
    int current = strcmp(ctx->params[0], ctx->auth.session_id) == 0;
    if (current) session_clear_cookie(ctx);
    api_auth_log(ctx, "session_revoke", "allow", current ? "current_session" : "other_session",
                 ctx->auth.username);
    http_reply_json(ctx, 200,
                    json_pack("{s:b, s:s, s:b}", "revoked", 1, "id", ctx->params[0], "current", current));
}

void api_auth_sessions_revoke(struct http_ctx *ctx)
{
    if (!id_is_uuid(ctx->params[0])) {
        http_reply_error(ctx, 404, "NOT_FOUND", "No such session of yours.",
                         "Use an id from GET /api/auth/sessions.", NULL);
        return;
    }
    const char *p[2] = {ctx->params[0], ctx->auth.user_id};
    if (db_query(
            "DELETE FROM sessions WHERE public_id = $1::uuid AND user_id = $2 RETURNING encode(id_hash, 'hex')",
            2, p, DB_TIMEOUT_MS, on_revoked, ctx) < 0)
        on_revoked(NULL, NULL, ctx);
}

void api_auth_reply_factor_failure(struct http_ctx *ctx, enum auth_factor outcome, const char *username)
{
    switch (outcome) {
    case AUTH_FACTOR_REPLAY:
        api_auth_failure(ctx, username);
        http_reply_error(
            ctx, 401, "UNAUTHENTICATED",
            "This code was already used: a TOTP code is accepted once only. The attempt was refused and "
            "recorded (if you did not just use it, someone else may have your code).",
            "Wait for the next code in your authenticator app (up to 30 s) and enter that one.",
            json_pack("{s:b}", "replay", 1));
        return;
    case AUTH_FACTOR_INVALID:
        api_auth_failure(ctx, username);
        http_reply_error(
            ctx, 401, "UNAUTHENTICATED", "The code is wrong (or the backup code was already used).",
            "Enter the current 6-digit code from your authenticator app, or an unused backup code.", NULL);
        return;
    case AUTH_FACTOR_NOT_ENROLLED:
        http_reply_error(ctx, 409, "VALIDATION_FAILED",
                         "Two-factor authentication is not set up for this account.",
                         "Enroll with POST /api/auth/2fa/setup, then /api/auth/2fa/confirm.",
                         json_pack("{s:s}", "field", "code"));
        return;
    case AUTH_FACTOR_NO_KEY:
        api_auth_reply_no_key(ctx);
        return;
    default:
        api_reply_db_error(ctx, NULL, "second factor check");
        return;
    }
}
