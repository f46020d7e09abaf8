-- 0071_market_bars.sql — the bars ticks and backtests actually used (issue 16: the bot page's price chart).
--
-- Written by runtime/bar_store.c, fire-and-forget, one multi-row INSERT … ON CONFLICT DO UPDATE per fetch:
--   * the tick path (bar_share.c, once per market-data fetch, not once per bot served from a shared fetch)
--     writes the bars newer than the last one it wrote for the symbol/timeframe, plus that last bar again
--     (a bar can still change while it forms);
--   * a backtest (backtest.c) writes the bars of each chunk it replays.
-- The later write of a bar wins (provider and written_at included). Read by GET /api/bots/:id/bars (the bot's
-- symbol and timeframe, t between from and to).

CREATE TABLE market_bars (
    symbol     text        NOT NULL,
    timeframe  text        NOT NULL,
    t          timestamptz NOT NULL,  -- bar start
    open       numeric     NOT NULL,
    high       numeric     NOT NULL,
    low        numeric     NOT NULL,
    close      numeric     NOT NULL,
    volume     numeric     NOT NULL,
    provider   text        NULL,      -- the provider id that served it
    written_at timestamptz NOT NULL DEFAULT gh_now(),
    PRIMARY KEY (symbol, timeframe, t)
);
