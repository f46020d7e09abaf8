/* session.h — login sessions: the cookie, the Postgres rows (id stored only as sha256), and a small
 * in-memory cache.
 *
 * The cookie is gh_session (HttpOnly; SameSite=Strict; Path=/), or __Host-gh_session with Secure when
 * GATEHOUSE_COOKIE_SECURE=1. Its value is 256 random bits (base64url); sessions.id_hash holds its sha256.
 * A session ends at logout (row deleted), after GATEHOUSE_SESSION_IDLE_S without a request, or
 * GATEHOUSE_SESSION_ABSOLUTE_S after login, whichever comes first.
 *
 * Cache: a session checked against Postgres within the last SESSION_RECHECK_S seconds is trusted from
 * memory (idle and absolute limits are still applied from memory), so each request does not cost a
 * query, and status pages stay readable while Postgres is briefly down. Logout, revoke, disable and role
 * changes drop the entry on this instance at once; another instance notices within SESSION_RECHECK_S. */
#ifndef GATEHOUSE_SESSION_H
#define GATEHOUSE_SESSION_H

#include "http.h"

#define SESSION_RECHECK_S 5

/* The http.c session resolver (see http_session_resolver). */
void session_resolve(struct http_ctx *ctx, http_session_done done);

/* Called once by session_create: 0 with the new session's public id, or -1 (database error, err set). */
typedef void (*session_created_cb)(struct http_ctx *ctx, int rc, const char *public_id, const char *err,
                                   void *arg);

/* Creates a session for user_id (rotation: a session cookie the request carried is deleted first),
 * marks it 2FA-verified now when two_factor_verified, and adds its Set-Cookie header to ctx's reply.
 * cb runs once from the loop. */
void session_create(struct http_ctx *ctx, const char *user_id, int two_factor_verified, session_created_cb cb,
                    void *arg);

/* Adds the Set-Cookie header that clears the session cookie. */
void session_clear_cookie(struct http_ctx *ctx);

/* Drops a session (by its sha256) from this instance's cache. */
void session_forget(const unsigned char hash[32]);

/* Drops every cached session of user_id (disable, role change). */
void session_forget_user(const char *user_id);

/* Marks the cached session hash as 2FA-verified now (step-up, confirm). */
void session_mark_2fa(const unsigned char hash[32]);

/* The name of the session cookie in this mode. */
const char *session_cookie_name(void);

/* Frees the cache. */
void session_shutdown(void);

#endif
