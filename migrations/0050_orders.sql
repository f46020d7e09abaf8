-- 0050_orders.sql — one order state machine, positions derived from fills atomically, bot blockers.
--
-- Orders move through one state machine (runtime/orders.h states it for C):
--
--   INTENT ─► SUBMITTED ─► ACCEPTED ─► PARTIALLY_FILLED ─► FILLED
--     │          │  │          │  │          │
--     │          │  └──────────┴──┴──────────┴─► CANCELLED | EXPIRED
--     │          └─► REJECTED ◄─ ACCEPTED
--     └─► BLOCKED | REJECTED | CANCELLED
--
-- An order is created INTENT (a LIVE order is committed as INTENT before the broker is called), BLOCKED (a
-- gate refused it; never sent), or SUBMITTED when it is a PAPER order (the paper engine takes it at once).
-- Every later change of status goes through gh_order_transition(), which checks the transition against
-- gh_order_legal() and writes one order_events row with its trace id; a trigger refuses any other UPDATE of
-- orders.status. Fills go through gh_apply_fill() only — paper fills and broker fills alike — which locks the
-- order, then the position row, inserts the fill, moves the order to PARTIALLY_FILLED / FILLED and updates the
-- position in the same transaction: concurrent fills of one bot serialize on the position row, so a position
-- always equals the fills applied in fills.seq order.

ALTER TABLE orders DROP CONSTRAINT orders_status_check;
ALTER TABLE orders ADD CONSTRAINT orders_status_check
    CHECK (status IN ('INTENT', 'BLOCKED', 'SUBMITTED', 'ACCEPTED', 'PARTIALLY_FILLED', 'FILLED',
                      'CANCELLED', 'REJECTED', 'EXPIRED'));
ALTER TABLE orders
    ADD COLUMN filled_qty      numeric NOT NULL DEFAULT 0 CHECK (filled_qty >= 0),
    ADD COLUMN avg_fill_price  numeric NULL,
    ADD COLUMN cancel_requested_at timestamptz NULL,
    ADD CONSTRAINT orders_not_overfilled CHECK (filled_qty <= qty);
-- The working orders of a bot (risk exposure, reconciliation, kill) are read on every tick.
CREATE INDEX orders_working_idx ON orders (bot_id)
    WHERE status IN ('INTENT', 'SUBMITTED', 'ACCEPTED', 'PARTIALLY_FILLED');

CREATE TABLE order_events (
    id           bigserial PRIMARY KEY,
    order_id     uuid NOT NULL REFERENCES orders (id),
    bot_id       uuid NOT NULL,
    from_status  text NULL,      -- NULL for the creation event
    to_status    text NOT NULL,
    reason_code  text NULL,
    reason_human text NULL,
    filled_qty   numeric NOT NULL DEFAULT 0,
    trace_id     text NOT NULL,
    user_id      uuid NULL,      -- the operator who caused it (cancel, modify, kill), NULL for the runtime
    metadata     jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    created_at   timestamptz NOT NULL DEFAULT gh_now()
);
CREATE INDEX order_events_order_idx ON order_events (order_id, id);

CREATE FUNCTION gh_order_legal(from_s text, to_s text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE from_s
        WHEN 'INTENT'           THEN to_s IN ('SUBMITTED', 'BLOCKED', 'REJECTED', 'CANCELLED')
        WHEN 'SUBMITTED'        THEN to_s IN ('ACCEPTED', 'PARTIALLY_FILLED', 'FILLED', 'CANCELLED', 'REJECTED', 'EXPIRED')
        WHEN 'ACCEPTED'         THEN to_s IN ('PARTIALLY_FILLED', 'FILLED', 'CANCELLED', 'REJECTED', 'EXPIRED')
        WHEN 'PARTIALLY_FILLED' THEN to_s IN ('PARTIALLY_FILLED', 'FILLED', 'CANCELLED', 'EXPIRED')
        ELSE false
    END
$$;

-- Creation: INTENT or BLOCKED, or SUBMITTED for PAPER; the creation event is written here.
CREATE FUNCTION gh_orders_created() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO order_events (order_id, bot_id, from_status, to_status, reason_code, reason_human, trace_id)
    VALUES (NEW.id, NEW.bot_id, NULL, NEW.status, NEW.blocked_reason_code, NEW.blocked_reason_human, NEW.trace_id);
    RETURN NULL;
END;
$$;
CREATE FUNCTION gh_orders_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NOT (NEW.status IN ('INTENT', 'BLOCKED') OR (NEW.status = 'SUBMITTED' AND NEW.stage = 'PAPER')) THEN
            RAISE EXCEPTION 'an order is created INTENT or BLOCKED (PAPER: SUBMITTED), not %', NEW.status
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
    END IF;
    IF NEW.status IS DISTINCT FROM OLD.status
       AND coalesce(current_setting('gatehouse.order_transition', true), '') <> 'on' THEN
        RAISE EXCEPTION 'order % status % -> %: use gh_order_transition()', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER orders_guard BEFORE INSERT OR UPDATE ON orders
    FOR EACH ROW EXECUTE FUNCTION gh_orders_guard();
CREATE TRIGGER orders_created AFTER INSERT ON orders
    FOR EACH ROW EXECUTE FUNCTION gh_orders_created();

-- Moves an order to p_to. Returns true when it moved, false when it already was in p_to (idempotent:
-- reconciliation may see the same broker state twice). An illegal transition raises (check_violation).
-- p_code/p_human: the reason (stored on the order for REJECTED/CANCELLED/EXPIRED/BLOCKED). p_broker and
-- p_broker_order_id are set when given (INTENT -> SUBMITTED of a LIVE order).
CREATE FUNCTION gh_order_transition(p_order uuid, p_to text, p_code text, p_human text, p_trace text,
                                    p_user uuid DEFAULT NULL, p_meta jsonb DEFAULT '{}',
                                    p_broker text DEFAULT NULL, p_broker_order_id text DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    o orders;
BEGIN
    SELECT * INTO o FROM orders WHERE id = p_order FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no order %', p_order USING ERRCODE = 'no_data_found';
    END IF;
    IF o.status = p_to AND p_to <> 'PARTIALLY_FILLED' THEN
        RETURN false;
    END IF;
    IF NOT gh_order_legal(o.status, p_to) THEN
        RAISE EXCEPTION 'order % cannot go from % to %', p_order, o.status, p_to USING ERRCODE = 'check_violation';
    END IF;
    PERFORM set_config('gatehouse.order_transition', 'on', true);
    UPDATE orders SET status = p_to,
           blocked_reason_code  = CASE WHEN p_to IN ('BLOCKED', 'REJECTED', 'CANCELLED', 'EXPIRED')
                                       THEN coalesce(p_code, blocked_reason_code) ELSE blocked_reason_code END,
           blocked_reason_human = CASE WHEN p_to IN ('BLOCKED', 'REJECTED', 'CANCELLED', 'EXPIRED')
                                       THEN coalesce(p_human, p_code, blocked_reason_human) ELSE blocked_reason_human END,
           broker = coalesce(p_broker, broker),
           broker_order_id = coalesce(p_broker_order_id, broker_order_id)
     WHERE id = p_order;
    PERFORM set_config('gatehouse.order_transition', '', true);
    INSERT INTO order_events (order_id, bot_id, from_status, to_status, reason_code, reason_human, filled_qty,
                              trace_id, user_id, metadata)
    VALUES (p_order, o.bot_id, o.status, p_to, p_code, p_human, o.filled_qty, p_trace, p_user, coalesce(p_meta, '{}'));
    RETURN true;
END;
$$;

------------------------------------------------------------------------------
-- Positions from fills
------------------------------------------------------------------------------

-- PAPER, SHADOW and LIVE positions are kept apart: paper money is never live money. Every position so far
-- came from PAPER fills (LIVE orders had no fills before this migration).
ALTER TABLE positions ADD COLUMN stage text NOT NULL DEFAULT 'PAPER' CHECK (stage IN ('PAPER', 'SHADOW', 'LIVE'));
ALTER TABLE positions DROP CONSTRAINT positions_pkey;
ALTER TABLE positions ADD PRIMARY KEY (bot_id, stage, symbol);
ALTER TABLE positions
    ADD COLUMN opened_at   timestamptz NULL,         -- when the current non-flat position opened
    ADD COLUMN equity_peak numeric NOT NULL DEFAULT 0, -- best realized + unrealized seen (points x contracts)
    ADD COLUMN mark_price  numeric NULL,              -- the last close a tick saw (unrealized, flatten)
    ADD COLUMN marked_at   timestamptz NULL;

ALTER TABLE fills
    ADD COLUMN seq            bigserial,             -- application order (positions follow it)
    ADD COLUMN broker_fill_id text NULL,             -- the broker's fill id (imports are idempotent)
    ADD COLUMN realized_pnl   numeric NOT NULL DEFAULT 0; -- points x contracts this fill closed
CREATE UNIQUE INDEX fills_broker_fill_key ON fills (order_id, broker_fill_id) WHERE broker_fill_id IS NOT NULL;
CREATE INDEX fills_bot_seq_idx ON fills (bot_id, seq);

-- Applies one fill: p_qty > 0 contracts of p_order at p_price. Returns the new fill's id, or NULL when
-- p_broker_fill_id was already imported. Average cost: adding to a position averages the price; reducing
-- realizes (price - avg) x closed x direction and keeps avg; crossing zero opens the remainder at p_price.
-- Simulated (paper) fills need a working order; real broker fills are also accepted on a CANCELLED or
-- EXPIRED order (the broker filled before the cancel took effect: the broker is the truth).
CREATE FUNCTION gh_apply_fill(p_order uuid, p_qty numeric, p_price numeric, p_simulated boolean, p_trace text,
                              p_broker_fill_id text DEFAULT NULL, p_fee numeric DEFAULT 0,
                              p_slippage numeric DEFAULT NULL, p_filled_at timestamptz DEFAULT NULL)
RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    o orders;
    p positions;
    f numeric;          -- signed fill
    closing numeric := 0;
    realized numeric := 0;
    new_qty numeric;
    new_avg numeric;
    fill_id uuid;
    to_status text;
BEGIN
    IF p_qty IS NULL OR p_qty <= 0 OR p_price IS NULL THEN
        RAISE EXCEPTION 'a fill needs a positive quantity and a price' USING ERRCODE = 'check_violation';
    END IF;
    SELECT * INTO o FROM orders WHERE id = p_order FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no order %', p_order USING ERRCODE = 'no_data_found';
    END IF;
    IF p_broker_fill_id IS NOT NULL
       AND EXISTS (SELECT 1 FROM fills WHERE order_id = p_order AND broker_fill_id = p_broker_fill_id) THEN
        RETURN NULL;
    END IF;
    IF NOT (o.status IN ('SUBMITTED', 'ACCEPTED', 'PARTIALLY_FILLED')
            OR (NOT p_simulated AND o.status IN ('CANCELLED', 'EXPIRED'))) THEN
        RAISE EXCEPTION 'order % is % and cannot be filled', p_order, o.status USING ERRCODE = 'check_violation';
    END IF;
    IF o.filled_qty + p_qty > o.qty THEN
        RAISE EXCEPTION 'fill of % overfills order % (% of % filled)', p_qty, p_order, o.filled_qty, o.qty
            USING ERRCODE = 'check_violation';
    END IF;

    INSERT INTO positions (bot_id, stage, symbol) VALUES (o.bot_id, o.stage, o.symbol) ON CONFLICT DO NOTHING;
    SELECT * INTO p FROM positions WHERE bot_id = o.bot_id AND stage = o.stage AND symbol = o.symbol FOR UPDATE;
    f := CASE o.side WHEN 'BUY' THEN p_qty ELSE -p_qty END;
    new_qty := p.qty + f;
    IF p.qty = 0 OR sign(p.qty) = sign(f) THEN
        new_avg := (p.avg_price * abs(p.qty) + p_price * abs(f)) / (abs(p.qty) + abs(f));
    ELSE
        closing := least(abs(p.qty), abs(f));
        realized := closing * (p_price - p.avg_price) * sign(p.qty);
        new_avg := CASE WHEN new_qty = 0 THEN 0
                        WHEN sign(new_qty) <> sign(p.qty) THEN p_price
                        ELSE p.avg_price END;
    END IF;

    INSERT INTO fills (order_id, bot_id, price, qty, fee, slippage_ticks, filled_at, simulated, trace_id,
                       broker_fill_id, realized_pnl)
    VALUES (p_order, o.bot_id, p_price, p_qty, coalesce(p_fee, 0), p_slippage, coalesce(p_filled_at, gh_now()),
            p_simulated, p_trace, p_broker_fill_id, realized)
    RETURNING id INTO fill_id;
    UPDATE positions SET qty = new_qty, avg_price = new_avg, realized_pnl = realized_pnl + realized,
           opened_at = CASE WHEN new_qty = 0 THEN NULL
                            WHEN p.qty = 0 OR sign(new_qty) <> sign(p.qty) THEN gh_now()
                            ELSE opened_at END
     WHERE bot_id = o.bot_id AND stage = o.stage AND symbol = o.symbol;
    UPDATE orders SET filled_qty = o.filled_qty + p_qty,
           avg_fill_price = (coalesce(o.avg_fill_price, 0) * o.filled_qty + p_price * p_qty) / (o.filled_qty + p_qty)
     WHERE id = p_order;
    IF o.status IN ('SUBMITTED', 'ACCEPTED', 'PARTIALLY_FILLED') THEN
        to_status := CASE WHEN o.filled_qty + p_qty = o.qty THEN 'FILLED' ELSE 'PARTIALLY_FILLED' END;
        PERFORM gh_order_transition(p_order, to_status, NULL, NULL, p_trace, NULL,
                                    jsonb_build_object('fill_id', fill_id, 'fill_qty', p_qty, 'fill_price', p_price));
    ELSE
        INSERT INTO order_events (order_id, bot_id, from_status, to_status, reason_code, reason_human, filled_qty,
                                  trace_id, metadata)
        VALUES (p_order, o.bot_id, o.status, o.status, 'LATE_FILL',
                'The broker filled part of the order before it became ' || o.status || '.', o.filled_qty + p_qty,
                p_trace, jsonb_build_object('fill_id', fill_id, 'fill_qty', p_qty, 'fill_price', p_price));
    END IF;
    RETURN fill_id;
END;
$$;

-- Changes the working quantity of an order (modify): never below what is filled. One order_events row.
CREATE FUNCTION gh_order_modify(p_order uuid, p_qty numeric, p_trace text, p_user uuid DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    o orders;
BEGIN
    SELECT * INTO o FROM orders WHERE id = p_order FOR UPDATE;
    IF NOT FOUND OR o.status NOT IN ('SUBMITTED', 'ACCEPTED', 'PARTIALLY_FILLED') OR p_qty <= o.filled_qty THEN
        RETURN false;
    END IF;
    UPDATE orders SET qty = p_qty WHERE id = p_order;
    INSERT INTO order_events (order_id, bot_id, from_status, to_status, reason_code, filled_qty, trace_id, user_id,
                              metadata)
    VALUES (p_order, o.bot_id, o.status, o.status, 'MODIFIED', o.filled_qty, p_trace, p_user,
            jsonb_build_object('qty_before', o.qty, 'qty_after', p_qty));
    RETURN true;
END;
$$;

------------------------------------------------------------------------------
-- Bot blockers: per-bot incidents that hold a bot until they clear (POSITION_MISMATCH) or an operator
-- acknowledges them (RISK_BREACH). gates.lua turns the open ones into SEV-1 bot blockers.
------------------------------------------------------------------------------

CREATE TABLE bot_blockers (
    id               bigserial PRIMARY KEY,
    bot_id           uuid NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    code             text NOT NULL CHECK (code IN ('POSITION_MISMATCH', 'RISK_BREACH')),
    stages           text[] NOT NULL,             -- the stages it blocks for that bot
    reason_human     text NOT NULL,
    details          jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(details) = 'object'),
    trace_id         text NOT NULL,
    raised_at        timestamptz NOT NULL DEFAULT gh_now(),
    cleared_at       timestamptz NULL,
    cleared_by       uuid NULL REFERENCES users (id) ON DELETE SET NULL,
    clear_reason     text NULL
);
CREATE UNIQUE INDEX bot_blockers_one_open ON bot_blockers (bot_id, code) WHERE cleared_at IS NULL;
