-- portfolio_seed.sql — the data of the issue-16 bench row (bench/bench.pl, step "portfolio"): :bots PAPER bots,
-- each with one fill a minute for :days days up to :'at' (floored to a 3-hour boundary, so that every order and
-- every UTC day starts and ends flat), in set-based SQL: 21.6 M gh_apply_fill calls would take hours.
-- Run on a fresh, migrated database in three phases (psql -v phase=…):
--
--   prepare        bots, the per-bot/per-block order plan (bench_pf_* scratch tables), fills' indexes dropped
--   fills          -v part=P -v parts=N: the fills of the bots with rank % N = P (the parts run concurrently)
--   finish         fills' indexes rebuilt, then orders, pnl_daily and positions aggregated from the fills
--
-- The fills follow a 4-minute cycle per bot, q = 1 + rank % 3 contracts:
--   +0  BUY  2q @ p0   opens long 2q (avg p0)                      realized 0,            closed 0
--   +1  SELL  q @ p1   partial close                                realized q (p1 - p0),  closed q
--   +2  SELL 2q @ p2   reversal: closes q, opens short q (avg p2)   realized q (p2 - p0),  closed q
--   +3  BUY   q @ p3   closes the short: flat                       realized q (p2 - p3),  closed q
-- which is what gh_apply_fill's average cost gives (every position is opened by one fill, so its average price
-- is that fill's price, with no rounding), here in closed form. Each bot has 8 blocks of 3 hours a day, each with
-- one BUY and one SELL order (FILLED, qty = the sum of its fills). The last 0-3 fills of the last cycle are left
-- out for 3 bots in 4 (rank % 4), so the run ends with flat, short q, long q and long 2q positions. Bots trade
-- ESZ6, NQZ6, MESZ6, CLF7 and ZBH7 (ZB has no multiplier in scripts/instruments.lua). bench/portfolio_check.sql
-- then replays one bot-day of each kind of ending through gh_apply_fill and compares.
--
-- The user triggers of orders/fills (guards, order_events rows) and the foreign-key checks are off while
-- seeding (session_replication_role = replica): the rows are consistent by construction; the check verifies it.
\set ON_ERROR_STOP on
SET session_replication_role = replica;
SET work_mem = '256MB';
SET maintenance_work_mem = '512MB';
SET jit = off;
SELECT :'phase' = 'prepare' AS is_prepare, :'phase' = 'fills' AS is_fills, :'phase' = 'finish' AS is_finish \gset

-- price path in ticks: a slow triangle swing plus a little noise (integer arithmetic: cheap per row)
CREATE FUNCTION pg_temp.pf_tk(base int, amp int, b int, i int) RETURNS int
LANGUAGE sql IMMUTABLE AS $$
    SELECT base + amp * (abs((i + b * 997) % 4114 - 2057) - 1028) / 1028 + (i * 7919 + b * 104729) % 13 - 6
$$;

\if :is_prepare
BEGIN;
CREATE UNLOGGED TABLE bench_pf_span AS
SELECT to_timestamp(floor(extract(epoch FROM :'at'::timestamptz) / 10800) * 10800) AS until,
       (:days)::int * 1440 AS n;
CREATE UNLOGGED TABLE bench_pf_sym (sk int PRIMARY KEY, symbol text, tick numeric, base int, amp int, fee numeric);
INSERT INTO bench_pf_sym VALUES
    (0, 'ESZ6', 0.25, 20000, 400, 2.25), (1, 'ESZ6', 0.25, 20000, 400, 2.25), (2, 'ESZ6', 0.25, 20000, 400, 2.25),
    (3, 'ESZ6', 0.25, 20000, 400, 2.25), (4, 'NQZ6', 0.25, 72000, 1200, 2.25), (5, 'NQZ6', 0.25, 72000, 1200, 2.25),
    (6, 'MESZ6', 0.25, 20000, 400, 0.62), (7, 'MESZ6', 0.25, 20000, 400, 0.62), (8, 'CLF7', 0.01, 7000, 300, 2.50),
    (9, 'ZBH7', 0.03125, 3680, 64, 1.75);
INSERT INTO bots (name, strategy, symbol, timeframe, stage, params, created_at)
SELECT 'pf-' || lpad(g::text, 4, '0'), 'sma_cross', s.symbol, '1m', 'PAPER', '{}',
       (SELECT until - make_interval(mins => n + 60) FROM bench_pf_span)
  FROM generate_series(1, :bots) g JOIN bench_pf_sym s ON s.sk = g % 10;
-- bots ranked in id order (the fills go in in that order); cut: fills left out at the end
CREATE UNLOGGED TABLE bench_pf_bot AS
SELECT r.b, r.bot_id, r.b % 4 AS cut, s.symbol, s.tick, s.base, s.amp, s.fee
  FROM (SELECT row_number() OVER (ORDER BY id)::int AS b, id AS bot_id, name FROM bots WHERE name LIKE 'pf-%') r
  JOIN bench_pf_sym s ON s.sk = substr(r.name, 4)::int % 10;
-- one row per bot and 3-hour block, with its two orders
CREATE UNLOGGED TABLE bench_pf_block AS
SELECT p.*, j, p.b % 3 + 1 AS q, gen_random_uuid() AS buy_id, gen_random_uuid() AS sell_id,
       replace(gen_random_uuid()::text, '-', '') AS buy_trace, replace(gen_random_uuid()::text, '-', '') AS sell_trace
  FROM bench_pf_bot p, generate_series(0, (SELECT n FROM bench_pf_span) / 180 - 1) j
 ORDER BY p.b, j;
-- fills' secondary indexes are dropped and rebuilt from their own definitions after the load (several times
-- faster than maintaining four B-trees, one on random uuids, row by row)
CREATE UNLOGGED TABLE bench_pf_index AS
SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = 'fills' AND indexname <> 'fills_pkey';
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT indexname FROM bench_pf_index LOOP
        EXECUTE format('DROP INDEX %I', r.indexname);
    END LOOP;
END $$;
ALTER TABLE fills DROP CONSTRAINT fills_pkey;
COMMIT;
\endif

\if :is_fills
INSERT INTO fills (id, order_id, bot_id, price, qty, fee, filled_at, simulated, trace_id, seq, realized_pnl, closed_qty)
SELECT gen_random_uuid(), CASE WHEN v.ph IN (0, 3) THEN k.buy_id ELSE k.sell_id END, k.bot_id, v.t * k.tick, v.qty,
       v.qty * k.fee, sp.until - make_interval(mins => sp.n - c.i0 - v.ph), true,
       CASE WHEN v.ph IN (0, 3) THEN k.buy_trace ELSE k.sell_trace END,
       (k.b - 1)::bigint * sp.n + c.i0 + v.ph + 1, v.r * k.tick, v.closed
  FROM bench_pf_span sp, bench_pf_block k,
       LATERAL (SELECT i0, pg_temp.pf_tk(k.base, k.amp, k.b, i0) AS t0, pg_temp.pf_tk(k.base, k.amp, k.b, i0 + 1) AS t1,
                       pg_temp.pf_tk(k.base, k.amp, k.b, i0 + 2) AS t2, pg_temp.pf_tk(k.base, k.amp, k.b, i0 + 3) AS t3
                  FROM generate_series(k.j * 180, k.j * 180 + 176, 4) i0) c,
       LATERAL (VALUES (0, 2 * k.q, c.t0, 0, 0),
                       (1, k.q, c.t1, k.q * (c.t1 - c.t0), k.q),
                       (2, 2 * k.q, c.t2, k.q * (c.t2 - c.t0), k.q),
                       (3, k.q, c.t3, k.q * (c.t2 - c.t3), k.q)) v(ph, qty, t, r, closed)
 WHERE k.b % :parts = :part AND c.i0 + v.ph < sp.n - k.cut;
\endif

\if :is_finish
ALTER TABLE fills ADD CONSTRAINT fills_pkey PRIMARY KEY (id);
SELECT indexdef || ';' FROM bench_pf_index ORDER BY indexname \gexec
ANALYZE fills;
SELECT setval('fills_seq_seq', (SELECT count(*) * max(n) FROM bench_pf_bot, bench_pf_span)) AS seq_end \gset

BEGIN;
-- one pass over the fills: sums per order and UTC day, from which orders, pnl_daily and positions are built
CREATE TEMP TABLE pf_agg AS
SELECT f.order_id, (f.filled_at AT TIME ZONE 'UTC')::date AS day, sum(f.qty) AS qty, sum(f.price * f.qty) AS pq,
       min(f.filled_at) AS first_at, max(f.filled_at) AS last_at, sum(f.realized_pnl) AS realized, sum(f.fee) AS fees,
       count(*) AS fills, count(*) FILTER (WHERE f.closed_qty > 0) AS closing,
       count(*) FILTER (WHERE f.closed_qty > 0 AND f.realized_pnl > 0) AS winning,
       sum(greatest(f.realized_pnl, 0)) AS gross_profit, sum(greatest(-f.realized_pnl, 0)) AS gross_loss,
       max(f.seq) FILTER (WHERE f.closed_qty < f.qty) AS last_open_seq
  FROM fills f GROUP BY 1, 2;
CREATE TEMP TABLE pf_order AS
SELECT o.id, o.bot_id, o.symbol, o.side, o.trace, a.qty, a.pq, a.first_at, a.last_at
  FROM (SELECT buy_id AS id, bot_id, symbol, 'BUY' AS side, buy_trace AS trace FROM bench_pf_block
        UNION ALL SELECT sell_id, bot_id, symbol, 'SELL', sell_trace FROM bench_pf_block) o
  JOIN (SELECT order_id, sum(qty) AS qty, sum(pq) AS pq, min(first_at) AS first_at, max(last_at) AS last_at
          FROM pf_agg GROUP BY order_id) a ON a.order_id = o.id;

INSERT INTO orders (id, bot_id, stage, symbol, side, qty, order_type, status, created_at, updated_at, trace_id,
                    filled_qty, avg_fill_price)
SELECT id, bot_id, 'PAPER', symbol, side, qty, 'MARKET', 'FILLED', first_at, last_at, trace, qty, pq / qty
  FROM pf_order ORDER BY bot_id, first_at;

INSERT INTO pnl_daily (bot_id, stage, symbol, day, realized_points, fees, fills, closing_fills, winning_fills,
                       gross_profit_points, gross_loss_points)
SELECT o.bot_id, 'PAPER', o.symbol, a.day, sum(a.realized), sum(a.fees), sum(a.fills), sum(a.closing), sum(a.winning),
       sum(a.gross_profit), sum(a.gross_loss)
  FROM pf_agg a JOIN pf_order o ON o.id = a.order_id
 GROUP BY o.bot_id, o.symbol, a.day;

-- the open position's average price is the price of the fill that opened it (see the cycle above); the mark is
-- the price path at the seed's end, as a tick would have seen it
INSERT INTO positions (bot_id, stage, symbol, qty, avg_price, realized_pnl, opened_at, mark_price, marked_at, fees,
                       fill_count, last_fill_at, updated_at)
SELECT t.bot_id, 'PAPER', t.symbol, t.qty, CASE WHEN t.qty = 0 THEN 0 ELSE lo.price END, t.realized,
       CASE WHEN t.qty = 0 THEN NULL ELSE lo.filled_at END, pb.tick * pg_temp.pf_tk(pb.base, pb.amp, pb.b, sp.n),
       sp.until, t.fees, t.fills, t.last_at, t.last_at
  FROM (SELECT o.bot_id, o.symbol, sum(CASE o.side WHEN 'BUY' THEN a.qty ELSE -a.qty END) AS qty,
               sum(a.realized) AS realized, sum(a.fees) AS fees, sum(a.fills) AS fills, max(a.last_at) AS last_at,
               max(a.last_open_seq) AS last_open_seq
          FROM pf_agg a JOIN pf_order o ON o.id = a.order_id GROUP BY o.bot_id, o.symbol) t
  JOIN bench_pf_bot pb ON pb.bot_id = t.bot_id
  CROSS JOIN bench_pf_span sp
  LEFT JOIN LATERAL (SELECT price, filled_at FROM fills WHERE bot_id = t.bot_id AND seq = t.last_open_seq LIMIT 1) lo ON true;
DROP TABLE bench_pf_span, bench_pf_sym, bench_pf_bot, bench_pf_block, bench_pf_index;
COMMIT;
-- vacuumed and analysed now, so that autovacuum does not scan the fresh rows during the measurement
VACUUM (ANALYZE) fills;
VACUUM (ANALYZE) orders;
VACUUM (ANALYZE) pnl_daily;
VACUUM (ANALYZE) positions;
VACUUM (ANALYZE) bots;
\endif
