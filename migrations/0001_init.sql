-- 0001_init.sql — gatehouse data model (PostgreSQL 15).
--
-- Applied once, inside one transaction, by `gatehouse migrate` (the runner owns
-- BEGIN/COMMIT and the schema_migrations bookkeeping). Forward-only: later
-- changes go in 0002_*.sql and up, never edits to this file once shipped.
--
-- Conventions
--   * ids are uuid DEFAULT gen_random_uuid() (core since PG13, no extension);
--     high-volume append-only logs (system_events, job_run_events) use bigserial.
--   * every timestamp is timestamptz; created_at/updated_at default to now().
--   * enumerated text columns carry CHECK constraints instead of PG enums, so a
--     later migration can widen a set with a plain DROP/ADD CONSTRAINT.
--   * updated_at is maintained by the gh_touch_updated_at() trigger; C code does
--     not need to set it.
--   * secrets never reach this database (PRODUCT.md §3): there is deliberately no
--     column for provider keys, tokens or prompts.

------------------------------------------------------------------------------
-- Shared helpers
------------------------------------------------------------------------------

CREATE FUNCTION gh_touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

------------------------------------------------------------------------------
-- Auth: users, sessions, 2FA temp tokens
------------------------------------------------------------------------------

CREATE TABLE users (
    id                           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- Login identifier. citext is unavailable, so C stores it lower-cased (the
    -- CHECK enforces that) and looks it up with lower(username) = lower($1),
    -- which uses users_username_lower_key.
    username                     text NOT NULL
                                 CHECK (username = lower(username) AND length(username) BETWEEN 1 AND 254),
    email                        text NULL
                                 CHECK (email IS NULL OR email = lower(email)),
    password_hash                text NOT NULL
                                 CHECK (password_hash LIKE '$argon2id$%'),  -- PHC string from libsodium
    role                         text NOT NULL DEFAULT 'viewer'
                                 CHECK (role IN ('admin', 'operator', 'viewer')),
    two_factor_enabled           boolean NOT NULL DEFAULT false,
    -- libsodium AEAD (APP_ENC_KEY) output: nonce || ciphertext+tag. Written at
    -- 2fa/setup while two_factor_enabled is still false; 2fa/confirm flips it.
    two_factor_secret_encrypted  bytea NULL,
    two_factor_method            text NOT NULL DEFAULT 'TOTP'
                                 CHECK (two_factor_method IN ('TOTP')),
    -- JSON array of argon2id strings, one per unused backup code; a code is
    -- removed from the array when consumed (single use).
    two_factor_backup_codes_hash jsonb NULL
                                 CHECK (two_factor_backup_codes_hash IS NULL
                                        OR jsonb_typeof(two_factor_backup_codes_hash) = 'array'),
    two_factor_enrolled_at       timestamptz NULL,
    two_factor_last_verified_at  timestamptz NULL,
    -- Last accepted RFC 6238 time step (unix_time / 30). A code whose step is
    -- <= this value is a replay and is rejected (update with a compare-and-set).
    two_factor_last_step         bigint NULL,
    created_at                   timestamptz NOT NULL DEFAULT now(),
    updated_at                   timestamptz NOT NULL DEFAULT now(),
    disabled_at                  timestamptz NULL,
    -- Fail closed: 2FA cannot be "on" without a secret to check codes against.
    CONSTRAINT users_2fa_needs_secret
        CHECK (NOT two_factor_enabled OR two_factor_secret_encrypted IS NOT NULL)
);
CREATE UNIQUE INDEX users_username_lower_key ON users (lower(username));
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email)) WHERE email IS NOT NULL;
CREATE TRIGGER users_touch BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION gh_touch_updated_at();

CREATE TABLE sessions (
    -- sha256 of the random cookie id; the raw id only ever lives in the cookie.
    id_hash                bytea PRIMARY KEY CHECK (octet_length(id_hash) = 32),
    user_id                uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at             timestamptz NOT NULL DEFAULT now(),
    last_seen_at           timestamptz NOT NULL DEFAULT now(),  -- idle timeout base
    expires_at             timestamptz NOT NULL,                 -- absolute timeout
    revoked_at             timestamptz NULL,                     -- logout / rotation
    two_factor_verified_at timestamptz NULL,                     -- "fresh 2FA" checks
    ip                     text NULL,
    user_agent             text NULL
);
CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);  -- purge of expired rows

-- Short-lived, single-use token returned by /api/auth/login when 2FA is on and
-- exchanged at /api/auth/2fa/verify. Stored hashed like session ids.
CREATE TABLE auth_temp_tokens (
    token_hash  bytea PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz NULL   -- consume with UPDATE ... WHERE used_at IS NULL
);
CREATE INDEX auth_temp_tokens_expires_idx ON auth_temp_tokens (expires_at);

------------------------------------------------------------------------------
-- Global settings
------------------------------------------------------------------------------

CREATE TABLE app_settings (
    key         text PRIMARY KEY,
    value       jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    updated_by  uuid NULL REFERENCES users (id) ON DELETE SET NULL
);
CREATE TRIGGER app_settings_touch BEFORE UPDATE ON app_settings
    FOR EACH ROW EXECUTE FUNCTION gh_touch_updated_at();

-- Trading is off until an admin with a fresh 2FA turns it on (fail closed).
INSERT INTO app_settings (key, value) VALUES
    ('trading',   '{"enabled": false, "mode": "PAPER"}'),
    ('retention', '{"days": 30}')
ON CONFLICT (key) DO NOTHING;

------------------------------------------------------------------------------
-- Integrations: verifications and system events
------------------------------------------------------------------------------

CREATE TABLE verifications (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    provider_id    text NOT NULL,  -- ids live in providers.lua, so no FK
    outcome        text NOT NULL
                   CHECK (outcome IN ('OK', 'AUTH_FAILED', 'NOT_ENTITLED', 'RATE_LIMITED',
                                      'TIMEOUT', 'NETWORK_ERROR', 'PROVIDER_ERROR')),
    http_status    int NULL,       -- NULL for TIMEOUT / NETWORK_ERROR / non-HTTP probes (redis)
    latency_ms     int NULL,
    base_url_host  text NULL,      -- host only, never a URL with credentials
    reason_human   text NOT NULL DEFAULT '',
    trace_id       text NOT NULL,
    verified_at    timestamptz NOT NULL DEFAULT now(),
    user_id        uuid NULL REFERENCES users (id) ON DELETE SET NULL  -- NULL = background re-verify
);
-- Latest probe per provider: SELECT DISTINCT ON (provider_id) ... ORDER BY provider_id, verified_at DESC.
CREATE INDEX verifications_provider_time_idx ON verifications (provider_id, verified_at DESC);

CREATE TABLE system_events (
    id          bigserial PRIMARY KEY,
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- Open-ended dotted family name ('policy.reload', 'verify', 'failover',
    -- 'breaker', 'kill', 'login', 'gate', 'fsm', ...); only the shape is checked.
    kind        text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$'),
    severity    text NOT NULL DEFAULT 'info'
                CHECK (severity IN ('info', 'warning', 'SEV-2', 'SEV-1')),
    subject     text NULL,          -- provider id, bot id, username ...
    message     text NOT NULL,
    trace_id    text NOT NULL,
    metadata    jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object')
);
CREATE INDEX system_events_time_idx ON system_events (created_at DESC);
CREATE INDEX system_events_kind_time_idx ON system_events (kind, created_at DESC);

------------------------------------------------------------------------------
-- Bots, runner instances, jobs
------------------------------------------------------------------------------

CREATE TABLE bots (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name           text NOT NULL UNIQUE,
    strategy       text NOT NULL,  -- script name under scripts/strategies
    symbol         text NOT NULL,
    timeframe      text NOT NULL,  -- e.g. '1m'; parsed by the scheduler
    stage          text NOT NULL DEFAULT 'PAPER' CHECK (stage IN ('PAPER', 'SHADOW', 'LIVE')),
    params         jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(params) = 'object'),
    requires_ai    boolean NOT NULL DEFAULT false,
    -- What the operator asked for; the supervisor reconciles instances toward it.
    desired_state  text NOT NULL DEFAULT 'STOPPED'
                   CHECK (desired_state IN ('STOPPED', 'RUNNING', 'KILLED')),
    created_by     uuid NULL REFERENCES users (id) ON DELETE SET NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER bots_touch BEFORE UPDATE ON bots
    FOR EACH ROW EXECUTE FUNCTION gh_touch_updated_at();

-- Runner registry. Circuit-breaker state lives on the instance row; the
-- supervisor restarts a runner by updating this row (restart_count + 1), or
-- carries breaker fields forward if it creates a new one.
CREATE TABLE bot_instances (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    bot_id             uuid NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    state              text NOT NULL DEFAULT 'STARTING'
                       CHECK (state IN ('STARTING', 'RUNNING', 'STOPPED', 'DEAD', 'KILLED')),
    started_at         timestamptz NOT NULL DEFAULT now(),
    stopped_at         timestamptz NULL,
    last_heartbeat_at  timestamptz NULL,
    last_tick_at       timestamptz NULL,
    restart_count      int NOT NULL DEFAULT 0 CHECK (restart_count >= 0),
    breaker_state      text NOT NULL DEFAULT 'CLOSED'
                       CHECK (breaker_state IN ('CLOSED', 'OPEN', 'HALF_OPEN')),
    breaker_opened_at  timestamptz NULL,
    breaker_failures   int NOT NULL DEFAULT 0 CHECK (breaker_failures >= 0),
    host               text NULL,   -- gatehouse instance that owns the runner
    trace_id           text NULL
);
CREATE INDEX bot_instances_bot_idx ON bot_instances (bot_id, started_at DESC);
-- Safety invariant: a bot never has two live runners (double orders).
CREATE UNIQUE INDEX bot_instances_one_live_per_bot
    ON bot_instances (bot_id) WHERE state IN ('STARTING', 'RUNNING');
-- Supervisor / timeout worker scan of live runners by heartbeat age.
CREATE INDEX bot_instances_live_heartbeat_idx
    ON bot_instances (last_heartbeat_at) WHERE state IN ('STARTING', 'RUNNING');

CREATE TABLE jobs (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    bot_id             uuid NULL REFERENCES bots (id) ON DELETE SET NULL,
    kind               text NOT NULL CHECK (kind IN ('TICK', 'BACKTEST', 'RUNNER', 'VERIFY')),
    state              text NOT NULL DEFAULT 'QUEUED'
                       CHECK (state IN ('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'TIMEOUT', 'CANCELLED')),
    params             jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(params) = 'object'),
    result             jsonb NULL,
    error_code         text NULL,   -- from the error catalog, e.g. HEARTBEAT_TIMEOUT
    created_at         timestamptz NOT NULL DEFAULT now(),
    started_at         timestamptz NULL,
    finished_at        timestamptz NULL,
    deadline_at        timestamptz NULL,
    last_heartbeat_at  timestamptz NULL,
    trace_id           text NOT NULL
);
CREATE INDEX jobs_bot_time_idx ON jobs (bot_id, created_at DESC, id) WHERE bot_id IS NOT NULL;
-- Timeout worker: only non-terminal jobs are ever scanned.
CREATE INDEX jobs_active_deadline_idx ON jobs (deadline_at) WHERE state IN ('QUEUED', 'RUNNING');

CREATE TABLE job_run_events (
    id          bigserial PRIMARY KEY,
    job_id      uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    from_state  text NULL   -- NULL for the creation event
                CHECK (from_state IN ('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'TIMEOUT', 'CANCELLED')),
    to_state    text NOT NULL
                CHECK (to_state IN ('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'TIMEOUT', 'CANCELLED')),
    reason_code text NULL,
    trace_id    text NOT NULL,
    metadata    jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX job_run_events_job_idx ON job_run_events (job_id, id);

------------------------------------------------------------------------------
-- Explainability: decision and no-trade traces
------------------------------------------------------------------------------

CREATE TABLE decision_traces (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    bot_id              uuid NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    -- Seed compatibility (003 D1): there is no trade_log table; runners may put
    -- the fill id or their own trade id here. Plain uuid, no FK.
    trade_log_id        uuid NULL,
    order_id            uuid NULL,  -- FK added after orders exists (circular reference)
    created_at          timestamptz NOT NULL DEFAULT now(),
    decision_type       text NOT NULL CHECK (decision_type IN ('ENTRY', 'EXIT', 'ADJUST')),
    reason_human        text NOT NULL,
    reason_code         text NOT NULL,
    signals             jsonb NOT NULL DEFAULT '{}',
    variables_snapshot  jsonb NOT NULL DEFAULT '{}',
    confidence          double precision NULL,
    expected_value      double precision NULL,
    risk_snapshot       jsonb NOT NULL DEFAULT '{}',
    trace_id            text NOT NULL
);
-- Keyset pagination: WHERE bot_id = $1 AND (created_at, id) < ($cursor_ts, $cursor_id)
-- ORDER BY created_at DESC, id DESC.
CREATE INDEX decision_traces_bot_time_idx ON decision_traces (bot_id, created_at DESC, id);

CREATE TABLE no_trade_traces (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    bot_id                uuid NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    created_at            timestamptz NOT NULL DEFAULT now(),
    -- Vocabulary (risk gate, market closed, no signal, data unavailable,
    -- circuit open, ...) is owned by the Lua policies, so not constrained here.
    suppression_type      text NOT NULL,
    suppression_decision  text NOT NULL,
    reason_human          text NOT NULL,
    reason_code           text NOT NULL,
    blocked_by            jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(blocked_by) = 'array'),
    signals               jsonb NOT NULL DEFAULT '{}',
    variables_snapshot    jsonb NOT NULL DEFAULT '{}',
    trace_id              text NOT NULL
);
CREATE INDEX no_trade_traces_bot_time_idx ON no_trade_traces (bot_id, created_at DESC, id);

------------------------------------------------------------------------------
-- Autonomy score and variable catalog
------------------------------------------------------------------------------

-- One row per bot (bot_id is the key): POST recompute is
-- INSERT ... ON CONFLICT (bot_id) DO UPDATE.
CREATE TABLE autonomy_scores (
    bot_id                  uuid PRIMARY KEY REFERENCES bots (id) ON DELETE CASCADE,
    autonomy_score          int NOT NULL CHECK (autonomy_score BETWEEN 0 AND 100),
    data_reliability_score  int NOT NULL CHECK (data_reliability_score BETWEEN 0 AND 100),
    decision_quality_score  int NOT NULL CHECK (decision_quality_score BETWEEN 0 AND 100),
    risk_discipline_score   int NOT NULL CHECK (risk_discipline_score BETWEEN 0 AND 100),
    execution_health_score  int NOT NULL CHECK (execution_health_score BETWEEN 0 AND 100),
    supervisor_trust_score  int NOT NULL CHECK (supervisor_trust_score BETWEEN 0 AND 100),
    autonomy_tier           text NOT NULL DEFAULT 'LOCKED'
                            CHECK (autonomy_tier IN ('LOCKED', 'SUPERVISED', 'LIMITED_AUTONOMY', 'FULL_AUTONOMY')),
    breakdown               jsonb NOT NULL DEFAULT '{}',
    last_updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX autonomy_scores_tier_idx ON autonomy_scores (autonomy_tier);

-- Catalog of what exists; values are never stored. availability and
-- last_seen_at are computed at read time, not columns.
CREATE TABLE profit_variables (
    id                            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name                          text NOT NULL UNIQUE,  -- matches feature_keys_used entries
    category                      text NOT NULL,         -- market_data | execution | risk | ai ...
    source_integration            text NULL,             -- provider id or internal subsystem
    variable_type                 text NOT NULL CHECK (variable_type IN ('number', 'bool', 'string')),
    state                         text NOT NULL DEFAULT 'ACTIVE' CHECK (state IN ('ACTIVE', 'DEPRECATED')),
    last_updated_at               timestamptz NOT NULL DEFAULT now(),
    used_by_bot_ids               jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(used_by_bot_ids) = 'array'),
    profit_contribution_estimate  double precision NULL,
    description                   text NOT NULL DEFAULT ''
);

------------------------------------------------------------------------------
-- Execution: orders, fills, positions
------------------------------------------------------------------------------

CREATE TABLE orders (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- Orders and fills are an audit trail: deleting a bot that traded is refused.
    bot_id                uuid NOT NULL REFERENCES bots (id),
    instance_id           uuid NULL REFERENCES bot_instances (id) ON DELETE SET NULL,
    stage                 text NOT NULL CHECK (stage IN ('PAPER', 'SHADOW', 'LIVE')),
    broker                text NULL,    -- provider id; NULL for PAPER / SHADOW
    symbol                text NOT NULL,
    side                  text NOT NULL CHECK (side IN ('BUY', 'SELL')),
    qty                   numeric NOT NULL CHECK (qty > 0),
    order_type            text NOT NULL CHECK (order_type IN ('MARKET', 'LIMIT', 'STOP')),
    limit_price           numeric NULL,
    stop_price            numeric NULL,  -- beyond the brief: STOP orders need a trigger price
    status                text NOT NULL DEFAULT 'INTENT'
                          CHECK (status IN ('INTENT', 'BLOCKED', 'SUBMITTED', 'FILLED',
                                            'PARTIALLY_FILLED', 'CANCELLED', 'REJECTED')),
    blocked_reason_code   text NULL,
    blocked_reason_human  text NULL,
    broker_order_id       text NULL,
    decision_trace_id     uuid NULL REFERENCES decision_traces (id) ON DELETE SET NULL,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    trace_id              text NOT NULL,
    CONSTRAINT orders_limit_has_price CHECK (order_type <> 'LIMIT' OR limit_price IS NOT NULL),
    CONSTRAINT orders_stop_has_price  CHECK (order_type <> 'STOP' OR stop_price IS NOT NULL),
    -- A BLOCKED order always says why (PRODUCT.md §6 step 6).
    CONSTRAINT orders_blocked_has_reason
        CHECK (status <> 'BLOCKED' OR blocked_reason_code IS NOT NULL)
);
CREATE INDEX orders_bot_time_idx ON orders (bot_id, created_at DESC, id);
CREATE INDEX orders_decision_trace_idx ON orders (decision_trace_id) WHERE decision_trace_id IS NOT NULL;
CREATE UNIQUE INDEX orders_broker_order_key
    ON orders (broker, broker_order_id) WHERE broker_order_id IS NOT NULL;
CREATE TRIGGER orders_touch BEFORE UPDATE ON orders
    FOR EACH ROW EXECUTE FUNCTION gh_touch_updated_at();

ALTER TABLE decision_traces
    ADD CONSTRAINT decision_traces_order_fk
    FOREIGN KEY (order_id) REFERENCES orders (id) ON DELETE SET NULL;

CREATE TABLE fills (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    order_id        uuid NOT NULL REFERENCES orders (id),
    bot_id          uuid NOT NULL REFERENCES bots (id),  -- denormalised for per-bot proof queries
    price           numeric NOT NULL,
    qty             numeric NOT NULL CHECK (qty > 0),
    fee             numeric NOT NULL DEFAULT 0,
    slippage_ticks  numeric NULL,
    filled_at       timestamptz NOT NULL DEFAULT now(),
    simulated       boolean NOT NULL,  -- no default on purpose: C must say which
    trace_id        text NOT NULL
);
CREATE INDEX fills_order_idx ON fills (order_id);
CREATE INDEX fills_bot_time_idx ON fills (bot_id, filled_at DESC);

-- "Never a fake fill": a database-level backstop for the execution rules.
-- Blocked orders get no fills; LIVE orders get only real (simulated = false)
-- fills; PAPER/SHADOW orders only simulated ones; bot_id must match the order.
CREATE FUNCTION gh_fills_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    o record;
BEGIN
    SELECT bot_id, stage, status INTO o FROM orders WHERE id = NEW.order_id;
    IF NOT FOUND THEN
        RETURN NEW;  -- the FK reports the missing order
    END IF;
    IF o.bot_id <> NEW.bot_id THEN
        RAISE EXCEPTION 'fill bot_id % does not match order bot_id %', NEW.bot_id, o.bot_id
            USING ERRCODE = 'check_violation';
    END IF;
    IF o.status = 'BLOCKED' THEN
        RAISE EXCEPTION 'order % is BLOCKED and cannot be filled', NEW.order_id
            USING ERRCODE = 'check_violation';
    END IF;
    IF (o.stage = 'LIVE') = NEW.simulated THEN
        RAISE EXCEPTION 'fill simulated=% does not fit a % order', NEW.simulated, o.stage
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER fills_guard BEFORE INSERT OR UPDATE ON fills
    FOR EACH ROW EXECUTE FUNCTION gh_fills_guard();

-- One row per (bot, symbol). qty is signed: > 0 long, < 0 short, 0 flat.
CREATE TABLE positions (
    bot_id          uuid NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    symbol          text NOT NULL,
    qty             numeric NOT NULL DEFAULT 0,
    avg_price       numeric NOT NULL DEFAULT 0,
    realized_pnl    numeric NOT NULL DEFAULT 0,
    unrealized_pnl  numeric NOT NULL DEFAULT 0,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (bot_id, symbol)
);
CREATE TRIGGER positions_touch BEFORE UPDATE ON positions
    FOR EACH ROW EXECUTE FUNCTION gh_touch_updated_at();

------------------------------------------------------------------------------
-- Telemetry: integration_usage_events (PRODUCT.md §5)
------------------------------------------------------------------------------

-- Append-only, the hottest table (>= 40k rows/s via COPY). Deliberately:
--   * no foreign keys (rows outlive bots/jobs; FK checks would cost ingest);
--   * only the status CHECK (a batch must not fail on a cosmetic value);
--   * range-partitioned by UTC day so retention is DROP TABLE, not DELETE.
-- The primary key must include the partition key, hence (id, created_at).
CREATE TABLE integration_usage_events (
    id           uuid NOT NULL DEFAULT gen_random_uuid(),
    created_at   timestamptz NOT NULL DEFAULT now(),
    user_id      uuid NULL,
    bot_id       uuid NULL,
    run_id       uuid NULL,
    job_id       uuid NULL,
    provider_id  text NOT NULL,  -- provider id or internal subsystem (risk_engine, runner, scheduler)
    operation    text NOT NULL,  -- marketdata.bars, broker.auth, llm.chat, risk.check, verify ...
    status       text NOT NULL CHECK (status IN ('OK', 'ERROR', 'BLOCKED', 'VERIFY')),
    latency_ms   int NULL,
    symbol       text NULL,
    timeframe    text NULL,
    records      int NULL,
    error_code   text NULL,
    trace_id     text NOT NULL,
    metadata     jsonb NOT NULL DEFAULT '{}',  -- safe fields only, never prompts or secrets
    PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);

-- Catches rows for days without a partition (clock skew, missed maintenance),
-- so an insert never fails for lack of a partition.
CREATE TABLE integration_usage_events_default
    PARTITION OF integration_usage_events DEFAULT;

CREATE INDEX usage_events_provider_time_idx
    ON integration_usage_events (provider_id, created_at DESC);
CREATE INDEX usage_events_bot_time_idx
    ON integration_usage_events (bot_id, created_at DESC) WHERE bot_id IS NOT NULL;
CREATE INDEX usage_events_trace_idx
    ON integration_usage_events (trace_id);

-- gh_ensure_usage_partitions(from_day, days) -> int (partitions created)
--
-- Makes sure a daily partition integration_usage_events_pYYYYMMDD exists for
-- each UTC day from_day .. from_day + days - 1, bounds
-- [day 00:00:00+00, day+1 00:00:00+00). Idempotent: a call where every
-- partition exists takes no lock and returns 0.
--
-- Rows already in the DEFAULT partition for a missing day are MOVED into the
-- new partition (never lost, never left behind): the partition is built as a
-- standalone table, the day's rows are moved into it with DELETE ... RETURNING,
-- then it is ATTACHed. While working, the parent is locked in EXCLUSIVE mode
-- (reads continue, inserts wait a few ms), so no row can slip into the default
-- partition between the move and the attach, and concurrent callers serialise.
CREATE FUNCTION gh_ensure_usage_partitions(from_day date, days int)
RETURNS int
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
    d        date;
    part     text;
    lo       text;
    hi       text;
    created  int := 0;
    locked   boolean := false;
    moved    bigint;
BEGIN
    IF from_day IS NULL OR days IS NULL OR days < 0 OR days > 366 THEN
        RAISE EXCEPTION 'gh_ensure_usage_partitions: bad arguments (%, %)', from_day, days;
    END IF;

    FOR i IN 0 .. days - 1 LOOP
        d    := from_day + i;
        part := 'integration_usage_events_p' || to_char(d, 'YYYYMMDD');

        IF to_regclass(quote_ident(part)) IS NOT NULL THEN
            -- Exists: fine if attached to the parent; a stray detached table
            -- of that name is an operator problem worth shouting about.
            IF NOT EXISTS (SELECT 1 FROM pg_inherits
                           WHERE inhrelid = to_regclass(quote_ident(part))
                             AND inhparent = 'integration_usage_events'::regclass) THEN
                RAISE EXCEPTION 'table % exists but is not a partition of integration_usage_events', part;
            END IF;
            CONTINUE;
        END IF;

        IF NOT locked THEN
            LOCK TABLE ONLY integration_usage_events IN EXCLUSIVE MODE;
            locked := true;
            -- Another caller may have created it while we waited for the lock.
            IF to_regclass(quote_ident(part)) IS NOT NULL THEN
                CONTINUE;
            END IF;
        END IF;

        lo := to_char(d,     'YYYY-MM-DD') || ' 00:00:00+00';
        hi := to_char(d + 1, 'YYYY-MM-DD') || ' 00:00:00+00';

        EXECUTE format('CREATE TABLE %I (LIKE integration_usage_events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                       part);
        EXECUTE format('WITH m AS (DELETE FROM integration_usage_events_default
                                    WHERE created_at >= %L::timestamptz AND created_at < %L::timestamptz
                                    RETURNING *)
                        INSERT INTO %I SELECT * FROM m', lo, hi, part);
        GET DIAGNOSTICS moved = ROW_COUNT;
        -- ATTACH builds the parent's indexes (incl. the primary key) on the new table.
        EXECUTE format('ALTER TABLE integration_usage_events ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                       part, lo, hi);
        IF moved > 0 THEN
            RAISE NOTICE 'gh_ensure_usage_partitions: moved % rows from default into %', moved, part;
        END IF;
        created := created + 1;
    END LOOP;

    RETURN created;
END;
$$;

-- gh_drop_usage_partitions_before(cutoff) -> int (partitions dropped)
--
-- Retention: drops every daily partition whose day is < cutoff (UTC), i.e.
-- whose data is entirely older than cutoff 00:00:00+00, and deletes rows older
-- than that from the DEFAULT partition too (not counted in the result).
-- Only tables named integration_usage_events_pYYYYMMDD attached to the parent
-- are considered. Typical call: gh_drop_usage_partitions_before(utc_today - retention_days).
CREATE FUNCTION gh_drop_usage_partitions_before(cutoff date)
RETURNS int
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
    r        record;
    dropped  int := 0;
BEGIN
    IF cutoff IS NULL THEN
        RAISE EXCEPTION 'gh_drop_usage_partitions_before: cutoff is NULL';
    END IF;

    FOR r IN
        SELECT c.relname
          FROM pg_inherits i
          JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'integration_usage_events'::regclass
           AND c.relname ~ '^integration_usage_events_p[0-9]{8}$'
           AND to_date(substring(c.relname from '[0-9]{8}$'), 'YYYYMMDD') < cutoff
         ORDER BY c.relname
    LOOP
        EXECUTE format('DROP TABLE %I', r.relname);
        dropped := dropped + 1;
    END LOOP;

    DELETE FROM integration_usage_events_default
     WHERE created_at < (to_char(cutoff, 'YYYY-MM-DD') || ' 00:00:00+00')::timestamptz;

    RETURN dropped;
END;
$$;

-- Yesterday .. 7 days ahead, by UTC calendar day (partition bounds are UTC).
SELECT gh_ensure_usage_partitions(((now() AT TIME ZONE 'UTC')::date) - 1, 9);
