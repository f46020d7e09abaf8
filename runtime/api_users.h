/* api_users.h — user administration (admin only): GET/POST /api/users, PATCH /api/users/:id, and the
 * `gatehouse user add` subcommand that creates or recovers a user from the shell. */
#ifndef GATEHOUSE_API_USERS_H
#define GATEHOUSE_API_USERS_H

struct http_ctx;

/* GET /api/users?limit=&cursor= — {users: [...], next_cursor}, oldest first. */
void api_users_list(struct http_ctx *ctx);

/* POST /api/users {username, password, role, email?} — 201 {user}; a taken username is 409. */
void api_users_create(struct http_ctx *ctx);

/* PATCH /api/users/:id {role?, disabled?} — {user}. Disabling ends the user's sessions; a change that would
 * leave no enabled admin is refused 409. */
void api_users_patch(struct http_ctx *ctx);

/* `gatehouse user add USERNAME [--role admin|operator|viewer] [--email E] [--reset-2fa]`: the password comes
 * from GATEHOUSE_USER_PASSWORD or the first line of stdin. Creates the user, or (recovery) resets an
 * existing user's password and role, re-enables it and ends its sessions; --reset-2fa also turns its 2FA
 * off. Connects to DATABASE_URL (migrating first). Returns the process exit code. */
int api_users_cli(int argc, char **argv);

#endif
