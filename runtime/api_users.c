/* api_users.c — user administration routes and the `gatehouse user add` subcommand (see api_users.h). */
#include "api_users.h"

#include <libpq-fe.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_auth.h"
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

static int role_ok(const char *r)
{
    return r && (strcmp(r, "admin") == 0 || strcmp(r, "operator") == 0 || strcmp(r, "viewer") == 0);
}

/* ---- list ---- */

static void on_list(struct pg_result *res, const char *err, void *arg)
{
    struct api_page *pg = arg;
    if (!res) {
        api_reply_db_error(pg->ctx, err, "users list");
        free(pg);
        return;
    }
    json_t *list = json_array(), *next = json_null();
    int n = PQntuples(res);
    for (int i = 0; i < n && i < pg->limit; i++)
        json_array_append_new(list, api_decode(PQgetvalue(res, i, 0)));
    if (n > pg->limit) next = json_string(PQgetvalue(res, (int)pg->limit - 1, 1));
    http_reply_json(pg->ctx, 200, json_pack("{s:o, s:o}", "users", list, "next_cursor", next));
    free(pg);
}

void api_users_list(struct http_ctx *ctx)
{
    char ts[64], uuid[40], lim[24];
    long limit;
    if (api_page_params(ctx, &limit, ts, sizeof ts, uuid, sizeof uuid) < 0) return;
    struct api_page *pg = api_page_new(ctx, limit);
    snprintf(lim, sizeof lim, "%ld", limit + 1);
    const char *p[3] = {ts[0] ? ts : NULL, uuid[0] ? uuid : NULL, lim};
    // clang-format off
    if (db_query("SELECT " API_AUTH_USER_JSON ", " API_TS("u.created_at") " || '_' || u.id FROM users u"
                 " WHERE ($1::timestamptz IS NULL OR (u.created_at, u.id) > ($1::timestamptz, $2::uuid))"
                 " ORDER BY u.created_at, u.id LIMIT $3::int",
                 3, p, DB_TIMEOUT_MS, on_list, pg) < 0)
        on_list(NULL, NULL, pg);
    // clang-format on
}

/* ---- create ---- */

struct create {
    struct http_ctx *ctx;
    char username[65], role[16];
    char *password, *email;
};

static void create_free(struct create *c)
{
    if (c->password) {
        sodium_memzero(c->password, strlen(c->password));
        free(c->password);
    }
    free(c->email);
    sodium_memzero(c, sizeof *c);
    free(c);
}

static void on_created(struct pg_result *res, const char *err, void *arg)
{
    struct create *c = arg;
    if (!res) {
        api_reply_db_error(c->ctx, err, "user insert");
    } else if (PQntuples(res) != 1) {
        http_reply_error(c->ctx, 409, "VALIDATION_FAILED",
                         "username taken: another user already has this username (or e-mail).",
                         "Choose another username.", json_pack("{s:s}", "field", "username"));
    } else {
        char msg[200];
        snprintf(msg, sizeof msg, "user %s created with role %s by %s", c->username, c->role,
                 c->ctx->auth.username);
        api_auth_log(c->ctx, "user_create", "allow", c->role, c->username);
        telemetry_system_event("auth.user_created", "info", c->username, msg, c->ctx->trace_id, NULL);
        http_reply_json(c->ctx, 201, json_pack("{s:o}", "user", api_decode(PQgetvalue(res, 0, 0))));
    }
    create_free(c);
}

static void create_hashed(const char *hash, void *arg)
{
    struct create *c = arg;
    if (!hash) {
        http_reply_error(c->ctx, 500, "INTERNAL", "The password could not be hashed (out of memory).", NULL,
                         NULL);
        create_free(c);
        return;
    }
    const char *p[4] = {c->username, hash, c->role, c->email};
    if (db_query(
            "WITH u AS (INSERT INTO users (username, password_hash, role, email) VALUES ($1, $2, $3, lower($4))"
            "  ON CONFLICT DO NOTHING RETURNING *) SELECT " API_AUTH_USER_JSON " FROM u",
            4, p, DB_TIMEOUT_MS, on_created, c) < 0)
        on_created(NULL, NULL, c);
}

void api_users_create(struct http_ctx *ctx)
{
    struct create *c = calloc(1, sizeof *c);
    const char *pw, *role = json_string_value(ctx->body ? json_object_get(ctx->body, "role") : NULL);
    json_t *email = ctx->body ? json_object_get(ctx->body, "email") : NULL;
    c->ctx = ctx;
    if (!ctx->body) {
        api_invalid(ctx, "body", "Send {username, password, role, email?}.");
        create_free(c);
        return;
    }
    if (!api_auth_username(ctx, "username", c->username) || !(pw = api_auth_password(ctx, "password"))) {
        create_free(c);
        return;
    }
    if (!role_ok(role)) {
        api_invalid(ctx, "role", "Field 'role' must be admin, operator or viewer.");
        create_free(c);
        return;
    }
    if (email && !json_is_null(email) &&
        (!json_is_string(email) || !strchr(json_string_value(email), '@') ||
         strlen(json_string_value(email)) > 254)) {
        api_invalid(ctx, "email", "Field 'email' must be an e-mail address (or omitted).");
        create_free(c);
        return;
    }
    snprintf(c->role, sizeof c->role, "%s", role);
    c->password = strdup(pw);
    c->email = json_is_string(email) ? strdup(json_string_value(email)) : NULL;
    if (auth_hash_then(c->password, create_hashed, c) < 0) {
        http_reply_error(ctx, 500, "INTERNAL", "The hashing worker is not running.", NULL, NULL);
        create_free(c);
    }
}

/* ---- patch ---- */

static void on_patched(struct pg_result *res, const char *err, void *arg)
{
    struct http_ctx *ctx = arg;
    if (!res) {
        api_reply_db_error(ctx, err, "user update");
        return;
    }
    if (strcmp(PQgetvalue(res, 0, 0), "0") == 0) {
        http_reply_error(ctx, 404, "NOT_FOUND", "No such user.", "Use an id from GET /api/users.", NULL);
        return;
    }
    if (PQgetisnull(res, 0, 1)) {
        http_reply_error(ctx, 409, "VALIDATION_FAILED",
                         "This change would leave gatehouse without an enabled admin.",
                         "Make another user admin first.", json_pack("{s:s}", "field", "role"));
        return;
    }
    session_forget_user(ctx->params[0]); /* the new role / disabled state applies at the next request */
    char msg[300];
    snprintf(msg, sizeof msg, "user %s changed by %s", ctx->params[0], ctx->auth.username);
    api_auth_log(ctx, "user_update", "allow", "patched", ctx->auth.username);
    telemetry_system_event("auth.user_updated", "info", ctx->params[0], msg, ctx->trace_id, NULL);
    http_reply_json(ctx, 200, json_pack("{s:o}", "user", api_decode(PQgetvalue(res, 0, 1))));
}

void api_users_patch(struct http_ctx *ctx)
{
    json_t *role = ctx->body ? json_object_get(ctx->body, "role") : NULL;
    json_t *disabled = ctx->body ? json_object_get(ctx->body, "disabled") : NULL;
    if (!id_is_uuid(ctx->params[0])) {
        http_reply_error(ctx, 404, "NOT_FOUND", "No such user.", "Use an id from GET /api/users.", NULL);
        return;
    }
    if (role && !role_ok(json_string_value(role))) {
        api_invalid(ctx, "role", "Field 'role' must be admin, operator or viewer.");
        return;
    }
    if (disabled && !json_is_boolean(disabled)) {
        api_invalid(ctx, "disabled", "Field 'disabled' must be a boolean.");
        return;
    }
    const char *p[3] = {ctx->params[0], role ? json_string_value(role) : NULL,
                        disabled ? (json_is_true(disabled) ? "t" : "f") : NULL};
    if (db_query(
            "WITH up AS (UPDATE users u SET role = coalesce($2, u.role),"
            "    disabled_at = CASE WHEN $3::boolean IS NULL THEN u.disabled_at"
            "                       WHEN $3::boolean THEN coalesce(u.disabled_at, gh_now()) ELSE NULL END"
            "  WHERE u.id = $1::uuid AND (EXISTS (SELECT 1 FROM users a WHERE a.role = 'admin'"
            "        AND a.disabled_at IS NULL AND a.id <> $1::uuid)"
            "     OR (coalesce($2, u.role) = 'admin' AND NOT coalesce($3::boolean, u.disabled_at IS NOT NULL)))"
            "  RETURNING u.*),"
            " s AS (DELETE FROM sessions WHERE user_id = $1::uuid AND $3::boolean IS TRUE"
            "  AND EXISTS (SELECT 1 FROM up))"
            " SELECT (SELECT count(*) FROM users WHERE id = $1::uuid), (SELECT " API_AUTH_USER_JSON
            " FROM up u)",
            3, p, DB_TIMEOUT_MS, on_patched, ctx) < 0)
        on_patched(NULL, NULL, ctx);
}

/* ---- gatehouse user add ---- */

/* The new password: GATEHOUSE_USER_PASSWORD, else the first line of stdin. Read here, not in config.c: it is
 * an input of this one command (never a command-line argument, so it stays out of ps and shell history), not
 * a setting of the server, and it is read only when the command runs, then never kept. */
static int read_password(char *out, size_t len)
{
    const char *v = getenv("GATEHOUSE_USER_PASSWORD");
    if (v && *v) {
        snprintf(out, len, "%s", v);
        return 0;
    }
    if (!fgets(out, (int)len, stdin)) return -1;
    out[strcspn(out, "\r\n")] = '\0';
    return 0;
}

int api_users_cli(int argc, char **argv)
{
    const char *username = NULL, *role = "admin", *email = NULL;
    int reset_2fa = 0, rc = 1;
    char pw[AUTH_PASSWORD_MAX + 2], hash[AUTH_PWHASH_LEN], name[65];
    PGconn *pg = NULL;
    PGresult *res = NULL;

    if (argc < 1 || strcmp(argv[0], "add") != 0) goto usage;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--role") == 0 && i + 1 < argc)
            role = argv[++i];
        else if (strcmp(argv[i], "--email") == 0 && i + 1 < argc)
            email = argv[++i];
        else if (strcmp(argv[i], "--reset-2fa") == 0)
            reset_2fa = 1;
        else if (argv[i][0] != '-' && !username)
            username = argv[i];
        else
            goto usage;
    }
    if (!username || !role_ok(role) || strlen(username) > 64) goto usage;
    for (size_t i = 0; i <= strlen(username); i++) {
        char c = username[i];
        name[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
        if (c && !strchr("abcdefghijklmnopqrstuvwxyz0123456789._@-", name[i])) goto usage;
    }
    if (read_password(pw, sizeof pw) < 0 || strlen(pw) < AUTH_PASSWORD_MIN ||
        strlen(pw) > AUTH_PASSWORD_MAX) {
        fprintf(
            stderr,
            "gatehouse user add: the password (GATEHOUSE_USER_PASSWORD or stdin) must be %d to %d characters\n",
            AUTH_PASSWORD_MIN, AUTH_PASSWORD_MAX);
        goto out;
    }
    if (auth_password_hash(pw, hash) < 0) {
        fprintf(stderr, "gatehouse user add: hashing failed (out of memory?)\n");
        goto out;
    }
    pg = PQconnectdb(cfg.database_url);
    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "gatehouse user add: cannot connect to the database\n");
        goto out;
    }
    const char *p[5] = {name, hash, role, email, reset_2fa ? "t" : "f"};
    res = PQexecParams(
        pg,
        "WITH u AS (INSERT INTO users (username, password_hash, role, email) VALUES ($1, $2, $3, lower($4))"
        "  ON CONFLICT (lower(username)) DO UPDATE SET password_hash = EXCLUDED.password_hash,"
        "    role = EXCLUDED.role, disabled_at = NULL, email = coalesce(EXCLUDED.email, users.email),"
        "    two_factor_enabled = users.two_factor_enabled AND NOT $5::boolean,"
        "    two_factor_secret_encrypted = CASE WHEN $5::boolean THEN NULL ELSE users.two_factor_secret_encrypted END,"
        "    two_factor_backup_codes_hash = CASE WHEN $5::boolean THEN NULL ELSE users.two_factor_backup_codes_hash END,"
        "    two_factor_last_step = CASE WHEN $5::boolean THEN NULL ELSE users.two_factor_last_step END"
        "  RETURNING id, (xmax = 0) AS inserted),"
        " s AS (DELETE FROM sessions WHERE user_id IN (SELECT id FROM u))"
        " SELECT id, inserted FROM u",
        5, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        fprintf(stderr, "gatehouse user add: %s", PQresultErrorMessage(res));
        goto out;
    }
    printf("%s user %s (role %s, id %s)%s\n", strcmp(PQgetvalue(res, 0, 1), "t") == 0 ? "created" : "reset",
           name, role, PQgetvalue(res, 0, 0), reset_2fa ? "; 2FA turned off" : "");
    LOG_INFO(NULL, "auth decision", "event=user_add decision=allow reason=cli user=\"%s\" role=%s", name,
             role);
    rc = 0;
    goto out;
usage:
    fprintf(stderr,
            "usage: gatehouse user add USERNAME [--role admin|operator|viewer] [--email E] [--reset-2fa]\n"
            "       (password from GATEHOUSE_USER_PASSWORD or the first line of stdin)\n");
    rc = 2;
out:
    sodium_memzero(pw, sizeof pw);
    if (res) PQclear(res);
    if (pg) PQfinish(pg);
    return rc;
}
