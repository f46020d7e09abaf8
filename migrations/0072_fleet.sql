-- 0072_fleet.sql — a fleet of gatehouse instances sharing the bots on Postgres leases, with fencing
-- (issue 17; the design is docs/architecture.md "Fleet").
--
-- Every bot belongs to one of 64 shards (gh_shard_of: the first byte of md5(id) mod 64, fixed for the bot's
-- life). Each shard is a row of `leases` ('shard:0' .. 'shard:63'); the scheduler singletons (supervisor
-- sweeps, autonomy rounds, retention, background verify) run on the row 'leader'. A lease is held by one
-- instance until expires_at; every acquisition by anyone (a new holder, or the same holder after its lease
-- expired) adds 1 to its epoch, the fencing token. Lease times are Postgres's real clock (clock_timestamp()),
-- never gh_now(): a test clock is per process and instances would disagree on it.
--
-- A tick carries the epoch of its bot's shard as the scheduler dispatched it; every order, fill, position
-- change and decision trace it writes goes through gh_fence()/gh_fence_ok(), which holds the shard's fence
-- (gh_lease_lock) shared until the write commits and refuses (SQLSTATE GHL01, "LEASE_LOST: ...") unless that
-- epoch is still current and unexpired. A takeover takes the fence exclusively, so it waits for those writes,
-- and once it has committed no write with the old epoch can. The refused tick ends as a no-trade trace LEASE_LOST (written with its stale
-- epoch, unfenced, so the refusal itself is on record).

CREATE FUNCTION gh_shard_of(bot uuid) RETURNS smallint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT (get_byte(decode(md5(bot::text), 'hex'), 0) % 64)::smallint $$;

CREATE FUNCTION gh_shard_count() RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT 64 $$;

ALTER TABLE bots ADD COLUMN shard smallint GENERATED ALWAYS AS (gh_shard_of(id)) STORED;
CREATE INDEX bots_shard ON bots (shard);

-- One row per gatehouse process that ever joined (id = its instance id); last_seen is its heartbeat, written
-- with each lease round. An instance is alive while last_seen is younger than one lease period.
CREATE TABLE instances (
    id              text PRIMARY KEY,
    host            text NOT NULL,
    pid             integer NOT NULL,
    version         text NOT NULL,
    capacity        integer NOT NULL CHECK (capacity > 0),   -- bots it is sized for (GATEHOUSE_CAPACITY)
    lease_s         integer NOT NULL,                        -- its lease period
    started_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    last_seen       timestamptz NOT NULL DEFAULT clock_timestamp(),
    stopped_at      timestamptz,                             -- a clean shutdown released its leases
    loop_lag_ms     integer NOT NULL DEFAULT 0,
    lease_renew_ms  double precision                         -- round trip of its last lease round
);
CREATE INDEX instances_last_seen ON instances (last_seen);

CREATE TABLE leases (
    name         text PRIMARY KEY CHECK (name = 'leader' OR name ~ '^shard:[0-9]+$'),
    holder       text,                                       -- instances.id; NULL when released
    epoch        bigint NOT NULL DEFAULT 0,                  -- the fencing token: +1 at every acquisition
    acquired_at  timestamptz,
    renewed_at   timestamptz,
    expires_at   timestamptz NOT NULL DEFAULT clock_timestamp() -- held until then; free since then otherwise
);
INSERT INTO leases (name) SELECT 'shard:' || n FROM generate_series(0, 63) AS n;
INSERT INTO leases (name) VALUES ('leader');

-- Every epoch ever granted, for audits and the fleet spec: the write of an epoch-e row after epoch e+1 was
-- acquired is exactly what fencing forbids.
CREATE TABLE lease_epochs (
    name         text NOT NULL,
    epoch        bigint NOT NULL,
    holder       text NOT NULL,
    acquired_at  timestamptz NOT NULL,                 -- Postgres's real clock, as in leases
    acquired_at_app timestamptz NOT NULL DEFAULT gh_now(), -- the runtime's clock (gh_now), as rows' created_at
    PRIMARY KEY (name, epoch)
);

CREATE FUNCTION gh_record_lease_epoch() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO lease_epochs (name, epoch, holder, acquired_at) VALUES (NEW.name, NEW.epoch, NEW.holder, NEW.acquired_at);
    RETURN NEW;
END $$;
CREATE TRIGGER leases_epoch AFTER UPDATE OF epoch ON leases
    FOR EACH ROW WHEN (NEW.epoch <> OLD.epoch) EXECUTE FUNCTION gh_record_lease_epoch();

-- The old single-leader lease (app_settings 'scheduler_leader') is replaced by the row 'leader'.
DELETE FROM app_settings WHERE key = 'scheduler_leader';

-- The fence between a shard's writers and its takeover: fenced writes hold the shard's transaction-level
-- advisory lock (class 1735289, key = shard) shared until they commit; a claim or a release of a shard lease
-- takes it exclusively (gh_lease_lock) before it changes the row. A takeover therefore waits for the writes in
-- flight, and a write that waited for a takeover reads the new epoch (a volatile function's statements each
-- take a new snapshot). In memory: no row lock, no WAL record, no multixact per tick.
CREATE FUNCTION gh_lease_lock(p_name text) RETURNS boolean
    LANGUAGE plpgsql AS $$
BEGIN
    IF p_name LIKE 'shard:%' THEN
        PERFORM pg_advisory_xact_lock(1735289, substr(p_name, 7)::int);
    END IF;
    RETURN true;
END $$;

-- 1 when p_epoch is the current, unexpired epoch of p_bot's shard; the shard's fence stays held (shared) until
-- the caller's transaction ends, and the transaction's rows are stamped with the epoch (the lease_epoch
-- defaults below). NULL p_epoch: an unfenced write (an operator action, a broker reconciliation), always 1.
CREATE FUNCTION gh_fence_ok(p_bot uuid, p_epoch bigint) RETURNS boolean
    LANGUAGE plpgsql AS $$
DECLARE
    ok boolean;
BEGIN
    IF p_epoch IS NULL THEN
        RETURN true;
    END IF;
    PERFORM pg_advisory_xact_lock_shared(1735289, gh_shard_of(p_bot));
    SELECT l.epoch = p_epoch AND l.expires_at > clock_timestamp() INTO ok
      FROM leases l WHERE l.name = 'shard:' || gh_shard_of(p_bot);
    IF coalesce(ok, false) THEN
        PERFORM set_config('gatehouse.lease_epoch', p_epoch::text, true);
        RETURN true;
    END IF;
    RETURN false;
END $$;

-- gh_fence_ok, raising LEASE_LOST (SQLSTATE GHL01) instead of answering false.
CREATE FUNCTION gh_fence(p_bot uuid, p_epoch bigint) RETURNS boolean
    LANGUAGE plpgsql AS $$
BEGIN
    IF NOT gh_fence_ok(p_bot, p_epoch) THEN
        RAISE EXCEPTION 'LEASE_LOST: epoch % is no longer the current lease of bot %''s shard', p_epoch, p_bot
            USING ERRCODE = 'GHL01';
    END IF;
    RETURN true;
END $$;

-- The epoch the current transaction was fenced with (NULL when unfenced).
CREATE FUNCTION gh_fenced_epoch() RETURNS bigint
    LANGUAGE sql STABLE AS $$ SELECT nullif(current_setting('gatehouse.lease_epoch', true), '')::bigint $$;

-- Rows written by a tick carry its epoch. Added without a default, then given one, so existing rows are not
-- rewritten (they predate fencing: NULL).
ALTER TABLE orders ADD COLUMN lease_epoch bigint, ADD COLUMN tick_slot bigint, ADD COLUMN idempotency_key text;
ALTER TABLE orders ALTER COLUMN lease_epoch SET DEFAULT gh_fenced_epoch();
ALTER TABLE fills ADD COLUMN lease_epoch bigint;
ALTER TABLE fills ALTER COLUMN lease_epoch SET DEFAULT gh_fenced_epoch();
ALTER TABLE decision_traces ADD COLUMN lease_epoch bigint;
ALTER TABLE decision_traces ALTER COLUMN lease_epoch SET DEFAULT gh_fenced_epoch();
ALTER TABLE no_trade_traces ADD COLUMN lease_epoch bigint;
ALTER TABLE no_trade_traces ALTER COLUMN lease_epoch SET DEFAULT gh_fenced_epoch();
ALTER TABLE positions ADD COLUMN lease_epoch bigint;

-- A position changed in a fenced transaction (a fill, a mark) records the epoch that changed it.
CREATE FUNCTION gh_stamp_position_epoch() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    NEW.lease_epoch := coalesce(gh_fenced_epoch(), NEW.lease_epoch);
    RETURN NEW;
END $$;
CREATE TRIGGER positions_epoch BEFORE INSERT OR UPDATE ON positions
    FOR EACH ROW EXECUTE FUNCTION gh_stamp_position_epoch();

-- One order per bot and scheduled tick slot, whoever ticked it: the idempotency key (bot, epoch, slot) of a
-- broker order is unique, and so is (bot, slot) across epochs.
CREATE UNIQUE INDEX orders_bot_tick_slot ON orders (bot_id, tick_slot) WHERE tick_slot IS NOT NULL;
CREATE UNIQUE INDEX orders_idempotency_key ON orders (idempotency_key) WHERE idempotency_key IS NOT NULL;
