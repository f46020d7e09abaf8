-- 0070_trading.sql — what the position/P&L routes read without scanning fills (issue 16).
--
-- Money stays in points here (price points x contracts, as positions.realized_pnl already is): the USD figure
-- needs the contract multiplier, which is policy (scripts/instruments.lua), applied by C when it answers.
--
--   fills.closed_qty          contracts this fill closed (0 for an opening fill; a reversal closes the old side)
--   positions.fees            fees of every fill of that bot/stage/symbol (USD, as the fill path wrote them)
--   positions.fill_count      fills applied to that position
--   positions.last_fill_at    filled_at of the latest fill
--   pnl_daily                 one row per bot/stage/symbol and UTC day of filled_at: the sums /pnl and
--                             /portfolio read (realized points, fees, fill counts, gross profit/loss points)
--
-- gh_apply_fill() is replaced with the same signature and the same average-cost behaviour; it also maintains
-- the columns above and the fill's pnl_daily row in the same transaction. A "winning" closing fill is one whose
-- realized_pnl (gross, before fees) is > 0. Existing fills are back-filled in fills.seq order.

ALTER TABLE fills ADD COLUMN closed_qty numeric NOT NULL DEFAULT 0 CHECK (closed_qty >= 0);
ALTER TABLE positions
    ADD COLUMN fees         numeric NOT NULL DEFAULT 0,
    ADD COLUMN fill_count   bigint NOT NULL DEFAULT 0,
    ADD COLUMN last_fill_at timestamptz NULL;

CREATE TABLE pnl_daily (
    bot_id              uuid NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    stage               text NOT NULL CHECK (stage IN ('PAPER', 'SHADOW', 'LIVE')),
    symbol              text NOT NULL,
    day                 date NOT NULL,                 -- UTC day of fills.filled_at
    realized_points     numeric NOT NULL DEFAULT 0,    -- sum of fills.realized_pnl (points x contracts)
    fees                numeric NOT NULL DEFAULT 0,    -- sum of fills.fee (USD)
    fills               bigint NOT NULL DEFAULT 0,
    closing_fills       bigint NOT NULL DEFAULT 0,     -- fills with closed_qty > 0
    winning_fills       bigint NOT NULL DEFAULT 0,     -- closing fills with realized_pnl > 0
    gross_profit_points numeric NOT NULL DEFAULT 0,    -- sum of the positive realized_pnl
    gross_loss_points   numeric NOT NULL DEFAULT 0 CHECK (gross_loss_points >= 0), -- minus the negative ones
    PRIMARY KEY (bot_id, stage, symbol, day)
);
-- /api/portfolio reads today's rows of every bot.
CREATE INDEX pnl_daily_day_idx ON pnl_daily (day);

-- Adds one fill to its pnl_daily row.
CREATE FUNCTION gh_pnl_daily_add(p_bot uuid, p_stage text, p_symbol text, p_at timestamptz, p_realized numeric,
                                 p_fee numeric, p_closed numeric)
RETURNS void
LANGUAGE sql AS $$
    INSERT INTO pnl_daily AS d (bot_id, stage, symbol, day, realized_points, fees, fills, closing_fills,
                                winning_fills, gross_profit_points, gross_loss_points)
    VALUES (p_bot, p_stage, p_symbol, (p_at AT TIME ZONE 'UTC')::date, p_realized, p_fee, 1,
            CASE WHEN p_closed > 0 THEN 1 ELSE 0 END,
            CASE WHEN p_closed > 0 AND p_realized > 0 THEN 1 ELSE 0 END,
            greatest(p_realized, 0), greatest(-p_realized, 0))
    ON CONFLICT (bot_id, stage, symbol, day) DO UPDATE SET
        realized_points     = d.realized_points + EXCLUDED.realized_points,
        fees                = d.fees + EXCLUDED.fees,
        fills               = d.fills + 1,
        closing_fills       = d.closing_fills + EXCLUDED.closing_fills,
        winning_fills       = d.winning_fills + EXCLUDED.winning_fills,
        gross_profit_points = d.gross_profit_points + EXCLUDED.gross_profit_points,
        gross_loss_points   = d.gross_loss_points + EXCLUDED.gross_loss_points
$$;

-- Applies one fill: p_qty > 0 contracts of p_order at p_price. Returns the new fill's id, or NULL when
-- p_broker_fill_id was already imported. Average cost: adding to a position averages the price; reducing
-- realizes (price - avg) x closed x direction and keeps avg; crossing zero opens the remainder at p_price.
-- Simulated (paper) fills need a working order; real broker fills are also accepted on a CANCELLED or
-- EXPIRED order (the broker filled before the cancel took effect: the broker is the truth).
-- Also (0070): fills.closed_qty, positions.fees/fill_count/last_fill_at and the fill's pnl_daily row.
CREATE OR REPLACE FUNCTION gh_apply_fill(p_order uuid, p_qty numeric, p_price numeric, p_simulated boolean,
                                         p_trace text, p_broker_fill_id text DEFAULT NULL, p_fee numeric DEFAULT 0,
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
    v_fee numeric := coalesce(p_fee, 0);
    v_at timestamptz := coalesce(p_filled_at, gh_now());
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
                       broker_fill_id, realized_pnl, closed_qty)
    VALUES (p_order, o.bot_id, p_price, p_qty, v_fee, p_slippage, v_at, p_simulated, p_trace, p_broker_fill_id,
            realized, closing)
    RETURNING id INTO fill_id;
    UPDATE positions SET qty = new_qty, avg_price = new_avg, realized_pnl = realized_pnl + realized,
           opened_at = CASE WHEN new_qty = 0 THEN NULL
                            WHEN p.qty = 0 OR sign(new_qty) <> sign(p.qty) THEN gh_now()
                            ELSE opened_at END,
           fees = fees + v_fee, fill_count = fill_count + 1,
           last_fill_at = greatest(last_fill_at, v_at)
     WHERE bot_id = o.bot_id AND stage = o.stage AND symbol = o.symbol;
    PERFORM gh_pnl_daily_add(o.bot_id, o.stage, o.symbol, v_at, realized, v_fee, closing);
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

------------------------------------------------------------------------------
-- Back-fill from the fills already applied, replayed per bot/stage/symbol in fills.seq order.
------------------------------------------------------------------------------

DO $$
DECLARE
    r record;
    cur_key text := NULL;
    pos numeric := 0;
    closing numeric;
BEGIN
    FOR r IN SELECT f.id, f.qty, o.bot_id, o.stage, o.symbol,
                    CASE o.side WHEN 'BUY' THEN f.qty ELSE -f.qty END AS signed
               FROM fills f JOIN orders o ON o.id = f.order_id
              ORDER BY o.bot_id, o.stage, o.symbol, f.seq
    LOOP
        IF cur_key IS DISTINCT FROM r.bot_id::text || '/' || r.stage || '/' || r.symbol THEN
            cur_key := r.bot_id::text || '/' || r.stage || '/' || r.symbol;
            pos := 0;
        END IF;
        closing := CASE WHEN pos = 0 OR sign(pos) = sign(r.signed) THEN 0 ELSE least(abs(pos), r.qty) END;
        IF closing > 0 THEN
            UPDATE fills SET closed_qty = closing WHERE id = r.id;
        END IF;
        pos := pos + r.signed;
    END LOOP;
END;
$$;

UPDATE positions p SET fees = a.fees, fill_count = a.n, last_fill_at = a.last_at
  FROM (SELECT o.bot_id, o.stage, o.symbol, sum(f.fee) AS fees, count(*) AS n, max(f.filled_at) AS last_at
          FROM fills f JOIN orders o ON o.id = f.order_id
         GROUP BY o.bot_id, o.stage, o.symbol) a
 WHERE p.bot_id = a.bot_id AND p.stage = a.stage AND p.symbol = a.symbol;

INSERT INTO pnl_daily (bot_id, stage, symbol, day, realized_points, fees, fills, closing_fills, winning_fills,
                       gross_profit_points, gross_loss_points)
SELECT o.bot_id, o.stage, o.symbol, (f.filled_at AT TIME ZONE 'UTC')::date,
       sum(f.realized_pnl), sum(f.fee), count(*),
       count(*) FILTER (WHERE f.closed_qty > 0),
       count(*) FILTER (WHERE f.closed_qty > 0 AND f.realized_pnl > 0),
       sum(greatest(f.realized_pnl, 0)), sum(greatest(-f.realized_pnl, 0))
  FROM fills f JOIN orders o ON o.id = f.order_id
 GROUP BY o.bot_id, o.stage, o.symbol, (f.filled_at AT TIME ZONE 'UTC')::date;
