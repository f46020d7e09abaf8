-- portfolio_check.sql — checks bench/portfolio_seed.sql against the real fill path: for one seeded bot of each
-- symbol and kind of ending (flat, short q, long q, long 2q: the four fill counts), the fills of its last UTC day are
-- replayed through gh_apply_fill (triggers on) on a copy of the bot and its orders, then compared with the seed:
-- every fill's realized_pnl and closed_qty, the day's pnl_daily row, the position's qty, avg_price and
-- last_fill_at, each order's filled_qty, status and avg_fill_price (to 1e-8: gh_apply_fill keeps a running
-- average, rounded at each fill in the 16th digit; the seed divides once). Everything is rolled back.
-- Output, one line per bot: name|symbol|fills replayed|differences|what differed
\set ON_ERROR_STOP on
SET jit = off;
BEGIN;
CREATE TEMP TABLE pf_check (name text, symbol text, fills int, diffs int, what text) ON COMMIT DROP;
DO $$
DECLARE
    b record;
    r record;
    copy_bot uuid;
    last_day date;
    n int;
    d_fills int;
    d_daily int;
    d_pos int;
    d_orders int;
BEGIN
    CREATE TEMP TABLE pf_map (seed_id uuid PRIMARY KEY, copy_id uuid) ON COMMIT DROP;
    FOR b IN SELECT DISTINCT ON (p.fill_count, p.symbol) p.bot_id, p.symbol, x.name
               FROM positions p JOIN bots x ON x.id = p.bot_id WHERE x.name LIKE 'pf-%'
              ORDER BY p.fill_count, p.symbol, x.name LOOP
        last_day := (SELECT max(day) FROM pnl_daily WHERE bot_id = b.bot_id);
        INSERT INTO bots (name, strategy, symbol, timeframe, stage, params)
        VALUES ('check-' || b.name, 'sma_cross', b.symbol, '1m', 'PAPER', '{}') RETURNING id INTO copy_bot;
        TRUNCATE pf_map;
        INSERT INTO pf_map
        SELECT o.id, gen_random_uuid() FROM orders o
         WHERE o.bot_id = b.bot_id AND (o.created_at AT TIME ZONE 'UTC')::date = last_day;
        INSERT INTO orders (id, bot_id, stage, symbol, side, qty, order_type, status, trace_id)
        SELECT m.copy_id, copy_bot, o.stage, o.symbol, o.side, o.qty, o.order_type, 'SUBMITTED', o.trace_id
          FROM pf_map m JOIN orders o ON o.id = m.seed_id;
        n := 0;
        FOR r IN SELECT fl.*, m.copy_id FROM fills fl JOIN pf_map m ON m.seed_id = fl.order_id
                  WHERE fl.bot_id = b.bot_id ORDER BY fl.seq LOOP
            PERFORM gh_apply_fill(r.copy_id, r.qty, r.price, true, r.trace_id, NULL, r.fee, NULL, r.filled_at);
            n := n + 1;
        END LOOP;

        SELECT count(*) INTO d_fills
          FROM (SELECT row_number() OVER (ORDER BY seq) AS k, realized_pnl, closed_qty FROM fills
                 WHERE bot_id = b.bot_id AND order_id IN (SELECT seed_id FROM pf_map)) s
          FULL JOIN (SELECT row_number() OVER (ORDER BY seq) AS k, realized_pnl, closed_qty FROM fills
                      WHERE bot_id = copy_bot) c USING (k)
         WHERE s.realized_pnl IS DISTINCT FROM c.realized_pnl OR s.closed_qty IS DISTINCT FROM c.closed_qty;
        SELECT count(*) INTO d_daily
          FROM pnl_daily s FULL JOIN (SELECT * FROM pnl_daily WHERE bot_id = copy_bot) c USING (day)
         WHERE s.bot_id = b.bot_id AND s.day = last_day
           AND (c.day IS NULL OR (s.realized_points, s.fees, s.fills, s.closing_fills, s.winning_fills,
                                  s.gross_profit_points, s.gross_loss_points)
                IS DISTINCT FROM (c.realized_points, c.fees, c.fills, c.closing_fills, c.winning_fills,
                                  c.gross_profit_points, c.gross_loss_points));
        SELECT count(*) INTO d_pos
          FROM positions s, positions c
         WHERE s.bot_id = b.bot_id AND c.bot_id = copy_bot
           AND (s.qty, s.avg_price, s.last_fill_at) IS DISTINCT FROM (c.qty, c.avg_price, c.last_fill_at);
        SELECT count(*) INTO d_orders
          FROM pf_map m JOIN orders s ON s.id = m.seed_id JOIN orders c ON c.id = m.copy_id
         WHERE (s.filled_qty, s.status, round(s.avg_fill_price, 8))
               IS DISTINCT FROM (c.filled_qty, c.status, round(c.avg_fill_price, 8));
        INSERT INTO pf_check VALUES (b.name, b.symbol, n, d_fills + d_daily + d_pos + d_orders,
            concat_ws(', ', CASE WHEN d_fills > 0 THEN d_fills || ' fills' END,
                      CASE WHEN d_daily > 0 THEN 'pnl_daily' END, CASE WHEN d_pos > 0 THEN 'position' END,
                      CASE WHEN d_orders > 0 THEN d_orders || ' orders' END));
    END LOOP;
END $$;
SELECT name, symbol, fills, diffs, what FROM pf_check ORDER BY name;
ROLLBACK;
