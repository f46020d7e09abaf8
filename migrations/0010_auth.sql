-- 0010_auth.sql — what runtime-native auth (issue 7) needs beyond 0001_init.sql.
--
-- sessions.id_hash is the sha256 of the cookie value and must never leave the server, so a session gets
-- a separate public id: the one GET /api/auth/sessions lists and DELETE /api/auth/sessions/:id revokes.
-- (ip, user_agent and last_seen_at already exist in 0001.) Brute-force counters and bans are kept in
-- memory of each instance, so no table here.

ALTER TABLE sessions ADD COLUMN public_id uuid NOT NULL DEFAULT gen_random_uuid();
CREATE UNIQUE INDEX sessions_public_id_key ON sessions (public_id);
CREATE INDEX sessions_user_created_idx ON sessions (user_id, created_at, public_id);

-- POST /api/auth/register creates the first user (admin) only while no user exists. Two registrations racing
-- on an empty table would both see it empty; this index lets at most one row ever be the registered-first
-- user, so the loser's INSERT ... ON CONFLICT DO NOTHING creates nothing and it answers 403.
ALTER TABLE users ADD COLUMN registered_first boolean NOT NULL DEFAULT false;
CREATE UNIQUE INDEX users_registered_first_key ON users (registered_first) WHERE registered_first;
