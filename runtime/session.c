/* session.c — session cookie, rows and cache (see session.h). */
#include "session.h"

#include <libpq-fe.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "clock.h"
#include "config.h"
#include "db.h"
#include "log.h"

#define DB_TIMEOUT_MS 3000
#define CACHE_SLOTS 2048

struct cached {
    unsigned char hash[32];
    struct http_principal who;
    time_t expires_at;    /* absolute limit */
    time_t last_seen;     /* idle limit base, as seen by this instance */
    time_t checked_at;    /* last confirmation by Postgres */
    time_t two_factor_at; /* 0 = never */
    time_t recheck_at;    /* when this instance's Postgres re-check was sent; 0 = none in flight */
    int used;
};

static struct cached *cache;

const char *session_cookie_name(void)
{
    return cfg.cookie_secure ? "__Host-gh_session" : "gh_session";
}

/* ---- cache ---- */

static struct cached *cache_find(const unsigned char hash[32])
{
    for (int i = 0; cache && i < CACHE_SLOTS; i++)
        if (cache[i].used && sodium_memcmp(cache[i].hash, hash, 32) == 0) return &cache[i];
    return NULL;
}

static struct cached *cache_slot(const unsigned char hash[32])
{
    struct cached *c = cache_find(hash), *oldest = NULL;
    if (c) return c;
    if (!cache && !(cache = calloc(CACHE_SLOTS, sizeof *cache))) return NULL;
    for (int i = 0; i < CACHE_SLOTS; i++) {
        if (!cache[i].used) return &cache[i];
        if (!oldest || cache[i].last_seen < oldest->last_seen) oldest = &cache[i];
    }
    return oldest;
}

void session_forget(const unsigned char hash[32])
{
    struct cached *c = cache_find(hash);
    if (c) sodium_memzero(c, sizeof *c);
}

void session_forget_user(const char *user_id)
{
    for (int i = 0; cache && i < CACHE_SLOTS; i++)
        if (cache[i].used && strcmp(cache[i].who.user_id, user_id) == 0)
            sodium_memzero(&cache[i], sizeof cache[i]);
}

void session_mark_2fa(const unsigned char hash[32])
{
    struct cached *c = cache_find(hash);
    if (c) c->two_factor_at = clock_wall_s();
}

void session_shutdown(void)
{
    if (cache) sodium_memzero(cache, CACHE_SLOTS * sizeof *cache);
    free(cache);
    cache = NULL;
}

static int locally_valid(const struct cached *c, time_t now)
{
    return c && now < c->expires_at && now - c->last_seen < cfg.session_idle_s;
}

/* Whether c may stand in for Postgres when a re-check failed: confirmed within the last SESSION_RECHECK_S
 * seconds (docs/api.md "Access"). A failed re-check never extends the trust, so a cached session stops
 * working SESSION_RECHECK_S after its last confirmation however long the outage lasts. */
static int outage_trusted(const struct cached *c, time_t now)
{
    return locally_valid(c, now) && now - c->checked_at < SESSION_RECHECK_S;
}

static void fill_principal(struct http_ctx *ctx, struct cached *c, time_t now)
{
    ctx->auth = c->who;
    ctx->auth.session = 1;
    memcpy(ctx->auth.session_hash, c->hash, 32);
    /* whole seconds, rounded down on both sides: the window may close up to 1 s early, never late */
    ctx->auth.fresh_2fa = c->two_factor_at && now - c->two_factor_at < cfg.fresh_2fa_s;
    c->last_seen = now;
}

/* ---- cookie ---- */

/* Copies the session cookie's value from the Cookie header into out; -1 when absent. */
static int read_cookie(const struct http_ctx *ctx, char *out, size_t outlen)
{
    const char *h = http_header(ctx, "Cookie"), *name = session_cookie_name();
    size_t nlen = strlen(name);
    for (const char *p = h; p && *p;) {
        while (*p == ' ' || *p == ';')
            p++;
        size_t len = strcspn(p, ";");
        if (len > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
            size_t vlen = len - nlen - 1;
            if (vlen >= outlen) return -1;
            memcpy(out, p + nlen + 1, vlen);
            out[vlen] = '\0';
            return 0;
        }
        p += len;
    }
    return -1;
}

static void set_cookie(struct http_ctx *ctx, const char *value, int max_age)
{
    char v[256];
    snprintf(v, sizeof v, "%s=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%d%s", session_cookie_name(),
             value, max_age, cfg.cookie_secure ? "; Secure" : "");
    http_add_header(ctx, "Set-Cookie", v);
}

void session_clear_cookie(struct http_ctx *ctx)
{
    set_cookie(ctx, "", 0);
}

/* ---- resolve ---- */

/* Caches the session row res (columns: user id, username, role, two_factor_enabled, public id, expires_at
 * and two_factor_verified_at as epoch seconds) under hash, confirmed now. */
static struct cached *cache_put(const unsigned char hash[32], struct pg_result *res, time_t now)
{
    struct cached *c = cache_slot(hash);
    if (!c) return NULL;
    memset(c, 0, sizeof *c);
    c->used = 1;
    memcpy(c->hash, hash, 32);
    snprintf(c->who.user_id, sizeof c->who.user_id, "%s", PQgetvalue(res, 0, 0));
    snprintf(c->who.username, sizeof c->who.username, "%s", PQgetvalue(res, 0, 1));
    const char *role = PQgetvalue(res, 0, 2);
    c->who.role = strcmp(role, "admin") == 0      ? HTTP_ROLE_ADMIN
                  : strcmp(role, "operator") == 0 ? HTTP_ROLE_OPERATOR
                                                  : HTTP_ROLE_VIEWER;
    c->who.two_factor_enabled = strcmp(PQgetvalue(res, 0, 3), "t") == 0;
    snprintf(c->who.session_id, sizeof c->who.session_id, "%s", PQgetvalue(res, 0, 4));
    c->expires_at = (time_t)atoll(PQgetvalue(res, 0, 5));
    c->two_factor_at = (time_t)atoll(PQgetvalue(res, 0, 6));
    c->checked_at = c->last_seen = now;
    return c;
}

#define SESSION_COLUMNS                                                                                             \
    "u.id, u.username, u.role, u.two_factor_enabled, s.public_id, floor(extract(epoch FROM s.expires_at))::bigint," \
    " coalesce(floor(extract(epoch FROM s.two_factor_verified_at))::bigint, 0)"

struct lookup {
    struct http_ctx *ctx;
    http_session_done done;
    unsigned char hash[32];
};

static void on_lookup(struct pg_result *res, const char *err, void *arg)
{
    struct lookup *l = arg;
    time_t now = clock_wall_s();
    struct cached *c = cache_find(l->hash);
    if (!res) {
        /* Postgres unreachable: a session confirmed recently enough is still good (read-mostly status pages
         * keep working in an outage); anything else fails closed */
        if (c) c->recheck_at = 0; /* the next request tries Postgres again, not the cache */
        if (outage_trusted(c, now)) {
            fill_principal(l->ctx, c, now);
            l->done(l->ctx, 0);
        } else {
            l->done(l->ctx, -1);
        }
        free(l);
        return;
    }
    if (PQntuples(res) != 1) {
        if (c) sodium_memzero(c, sizeof *c);
        l->done(l->ctx, 1);
        free(l);
        return;
    }
    if (!(c = cache_put(l->hash, res, now))) {
        l->done(l->ctx, -1);
        free(l);
        return;
    }
    fill_principal(l->ctx, c, now);
    l->done(l->ctx, 0);
    free(l);
}

void session_resolve(struct http_ctx *ctx, http_session_done done)
{
    char token[128], hex[AUTH_HASH_HEX], idle[16], seen[24];
    unsigned char hash[32];
    time_t now = clock_wall_s();
    struct cached *c;
    struct lookup *l;

    if (read_cookie(ctx, token, sizeof token) < 0 || auth_token_hash(token, hex, hash) < 0) {
        done(ctx, 1);
        return;
    }
    sodium_memzero(token, sizeof token);
    c = cache_find(hash);
    if (c && !locally_valid(c, now)) {
        sodium_memzero(c, sizeof *c);
        c = NULL;
    }
    /* one re-check in flight per session: requests arriving meanwhile are served from the cache (as they
     * were a moment before), not each sent to Postgres (~20 identical UPDATEs per re-check at 20,000 req/s)
     */
    /* (a re-check in flight covers at most the second it fell due in: a hung Postgres does not stretch
     * the cache's trust past SESSION_RECHECK_S + 1 s) */
    if (c && (now - c->checked_at < SESSION_RECHECK_S ||
              (c->recheck_at && now - c->recheck_at < DB_TIMEOUT_MS / 1000 &&
               now - c->checked_at <= SESSION_RECHECK_S))) {
        fill_principal(ctx, c, now);
        done(ctx, 0);
        return;
    }
    if (c) c->recheck_at = now;
    l = calloc(1, sizeof *l);
    l->ctx = ctx;
    l->done = done;
    memcpy(l->hash, hash, 32);
    snprintf(idle, sizeof idle, "%d", cfg.session_idle_s);
    snprintf(seen, sizeof seen, "%lld", c ? (long long)c->last_seen : 0LL);
    const char *p[3] = {hex, idle, seen};
    /* one statement: validity (not expired, not idle), last_seen_at bump, the user's current role */
    if (db_query(
            "WITH s AS (UPDATE sessions SET last_seen_at = gh_now()"
            "  WHERE id_hash = decode($1, 'hex') AND revoked_at IS NULL AND expires_at > gh_now()"
            /* the idle base is the later of the row's and this instance's last sighting: requests
             * served from the cache do not write last_seen_at */
            "    AND greatest(last_seen_at, to_timestamp($3::bigint)) > gh_now() - make_interval(secs => $2::int)"
            "  RETURNING user_id, public_id, expires_at, two_factor_verified_at)"
            " SELECT " SESSION_COLUMNS " FROM s JOIN users u ON u.id = s.user_id WHERE u.disabled_at IS NULL",
            3, p, DB_TIMEOUT_MS, on_lookup, l) < 0)
        on_lookup(NULL, "queue full", l);
}

/* ---- create ---- */

struct create {
    struct http_ctx *ctx;
    session_created_cb cb;
    void *arg;
    char token[AUTH_TOKEN_LEN + 1];
    unsigned char hash[32];
};

static void on_created(struct pg_result *res, const char *err, void *arg)
{
    struct create *cr = arg;
    if (!res || PQntuples(res) != 1) {
        cr->cb(cr->ctx, -1, NULL, res ? "no row" : err, cr->arg);
    } else {
        /* cached at once: the new session works even if Postgres goes away right after the sign-in */
        cache_put(cr->hash, res, clock_wall_s());
        set_cookie(cr->ctx, cr->token, cfg.session_absolute_s);
        cr->cb(cr->ctx, 0, PQgetvalue(res, 0, 4), NULL, cr->arg);
    }
    sodium_memzero(cr, sizeof *cr);
    free(cr);
}

void session_create(struct http_ctx *ctx, const char *user_id, int two_factor_verified, session_created_cb cb,
                    void *arg)
{
    struct create *cr = calloc(1, sizeof *cr);
    char hex[AUTH_HASH_HEX], old_hex[AUTH_HASH_HEX] = "", abs_s[16], old[128];
    unsigned char old_hash[32];
    const char *ua = http_header(ctx, "User-Agent");
    char ua_short[256];

    cr->ctx = ctx;
    cr->cb = cb;
    cr->arg = arg;
    auth_new_token(cr->token, hex);
    sodium_hex2bin(cr->hash, sizeof cr->hash, hex, 64, NULL, NULL, NULL);
    /* rotation: the session the request came with (if any) ends here */
    if (read_cookie(ctx, old, sizeof old) == 0 && auth_token_hash(old, old_hex, old_hash) == 0)
        session_forget(old_hash);
    sodium_memzero(old, sizeof old);
    snprintf(abs_s, sizeof abs_s, "%d", cfg.session_absolute_s);
    snprintf(ua_short, sizeof ua_short, "%s", ua ? ua : "");
    const char *p[7] = {hex,
                        user_id,
                        abs_s,
                        two_factor_verified ? "t" : "f",
                        http_peer_ip(ctx),
                        ua_short,
                        old_hex[0] ? old_hex : NULL};
    if (db_query(
            "WITH gone AS (DELETE FROM sessions WHERE id_hash = decode($7, 'hex')"
            "    OR (expires_at < gh_now() - interval '1 day')),"
            " ins AS (INSERT INTO sessions (id_hash, user_id, expires_at, two_factor_verified_at, ip, user_agent)"
            "  VALUES (decode($1, 'hex'), $2, gh_now() + make_interval(secs => $3::int),"
            "          CASE WHEN $4::boolean THEN gh_now() END, nullif($5, ''), nullif($6, ''))"
            "  RETURNING *)"
            " SELECT " SESSION_COLUMNS " FROM ins s JOIN users u ON u.id = s.user_id",
            7, p, DB_TIMEOUT_MS, on_created, cr) < 0)
        on_created(NULL, "queue full", cr);
}
