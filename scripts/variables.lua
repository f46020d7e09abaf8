--[[ variables.lua — the variable catalog: which signals the platform offers bots (operator-edited).

A catalog of what exists, never values. C (runtime/variables.c) validates this table whenever a policy
generation is built (a bad entry fails the load, like providers.lua), upserts it into profit_variables
by name at start-up and after every reload (a name no longer listed becomes DEPRECATED; nothing is
deleted), and GET /api/variables adds what is computed: availability from the source's health,
last_seen_at and used_by_bot_ids from the feature_keys_used that ticks record.

INPUT
  None: plain data, read once per generation.
OUTPUT
  The chunk returns { schema_version = 1, categories, variables }.
    categories = { "market_data", "execution", "risk", "ai" } — the groups of PRODUCT.md §6.
    variables  = { entry, … }, entry = {
      name          = the key a strategy's decide() lists in feature_keys_used (features.lua's keys,
                      strategy outputs): ^[a-z][a-z0-9_]*$, at most 63 characters, unique;
      category      = one of categories;
      source        = where the value comes from, one of
                        "market_data" | "execution" | "llm"  the live stack's primary of that category
                                                             (failing over to its backups);
                        a provider id of providers.lua       that provider only (e.g. "fred");
                        "runner" | "risk_engine" | "market_hours"
                                                             internal: the tick pipeline, scripts/risk.lua,
                                                             scripts/market_hours.lua;
      variable_type = "number" | "bool" | "string";
      description   = what it is, where it is computed, when it is nil (one or two sentences);
      state         = "ACTIVE" | "DEPRECATED" (optional, default ACTIVE) }
  Unknown fields are errors (a typo must not silently drop a field).

AVAILABILITY (computed per request by C from the cached status evaluation; no provider is called)
  live-stack source  BLOCKED without a primary; DEGRADED when a configured provider ranked above the
                     primary is not connected (failover in effect); else OK.
  provider source    that provider's status: OK (connected), DEGRADED (failing or not verified),
                     BLOCKED (not configured).
  internal source    OK; risk_engine is BLOCKED while scripts/risk.lua is not enforcing.
  Any variable is BLOCKED while the system is BLOCKED (no tick runs), and a DEPRECATED one always.
]]

local MD, EXEC, RISK, AI = "market_data", "execution", "risk", "ai"

local function v(name, category, source, variable_type, description)
  return { name = name, category = category, source = source, variable_type = variable_type,
           description = description, state = "ACTIVE" }
end

return {
  schema_version = 1,
  categories = { MD, EXEC, RISK, AI },
  variables = {
    -- Market data: features.lua computes these from the bars of the live stack's market-data primary.
    v("open", MD, "market_data", "number", "Open of the last closed bar (OHLCV)."),
    v("high", MD, "market_data", "number", "High of the last closed bar (OHLCV)."),
    v("low", MD, "market_data", "number", "Low of the last closed bar (OHLCV)."),
    v("close", MD, "market_data", "number", "Close of the last closed bar (OHLCV)."),
    v("volume", MD, "market_data", "number", "Volume of the last closed bar (OHLCV)."),
    v("bars", MD, "market_data", "number", "Number of bars in the tick's lookback window."),
    v("last_t", MD, "market_data", "number", "Open time of the last bar, epoch seconds UTC."),
    v("ret_1", MD, "market_data", "number", "Simple one-bar return of the close; nil with fewer than 2 bars."),
    v("ret_5", MD, "market_data", "number", "Simple five-bar return of the close; nil with fewer than 6 bars."),
    v("sma_fast", MD, "market_data", "number", "Mean of the last params.fast closes (default 10)."),
    v("sma_slow", MD, "market_data", "number", "Mean of the last params.slow closes (default 30)."),
    v("ema_20", MD, "market_data", "number", "20-bar exponential moving average of the close."),
    v("vwap", MD, "market_data", "number",
      "Volume-weighted typical price since the start of the CME trade date (17:00 CT); nil on zero volume."),
    v("atr_14", MD, "market_data", "number", "Wilder 14-bar average true range; nil with fewer than 15 bars."),
    v("realized_vol_20", MD, "market_data", "number",
      "Annualized sample volatility of the last 20 one-bar log returns (params.bars_per_year)."),
    v("minute_of_day_ct", MD, "market_data", "number",
      "Session marker: US Central wall-clock minute (0-1439) of the last bar."),
    v("market_open", MD, "market_hours", "bool",
      "Session marker: true in RTH and ETH of the CME Globex calendar in scripts/market_hours.lua."),
    v("market_session", MD, "market_hours", "string",
      "Session marker: RTH, ETH, MAINTENANCE, WEEKEND or HOLIDAY (scripts/market_hours.lua)."),

    -- Order / execution: the runner's position book and fills, and the broker of the live stack.
    v("position_qty", EXEC, "runner", "number", "Signed contracts held by the bot (+ long, - short, 0 flat)."),
    v("position_avg_price", EXEC, "runner", "number", "Average entry price of the open position."),
    v("realized_pnl", EXEC, "runner", "number", "Realized profit and loss of the bot's position book (price points)."),
    v("unrealized_pnl", EXEC, "runner", "number", "Open position marked at the last close (price points)."),
    v("exposure_contracts", EXEC, "risk_engine", "number",
      "Absolute contracts the bot would hold after the order under check (risk snapshot position_after)."),
    v("slippage_ticks", EXEC, "runner", "number",
      "Slippage applied to a PAPER fill (params.slippage_ticks, default 1 tick at the next bar's open)."),
    v("fill_latency_ms", EXEC, "execution", "number",
      "Round trip of a LIVE order to the execution primary (broker.place_order latency); PAPER has none."),

    -- Risk: scripts/risk.lua's check() on every tick.
    v("max_contracts", RISK, "risk_engine", "number", "Effective contract ceiling after the bot's overrides and tier."),
    v("max_daily_loss", RISK, "risk_engine", "number", "Effective daily loss limit (currency)."),
    v("max_drawdown", RISK, "risk_engine", "number", "Effective drawdown limit from the equity peak (currency)."),
    v("max_orders_per_minute", RISK, "risk_engine", "number", "Effective order-rate limit."),
    v("daily_loss", RISK, "risk_engine", "number", "Today's loss: -(realized today + unrealized), at least 0."),
    v("drawdown", RISK, "risk_engine", "number", "Equity peak minus equity, at least 0."),
    v("orders_last_minute", RISK, "risk_engine", "number", "Orders the bot sent in the last 60 seconds."),
    v("risk_allowed", RISK, "risk_engine", "bool", "Whether the last risk check allowed the order."),
    v("risk_reason_code", RISK, "risk_engine", "string", "First violation of the last check, OK, or NO_ORDER."),
    v("violation_market_closed", RISK, "risk_engine", "bool", "Violation flag: MARKET_CLOSED."),
    v("violation_max_contracts", RISK, "risk_engine", "bool", "Violation flag: MAX_CONTRACTS."),
    v("violation_max_daily_loss", RISK, "risk_engine", "bool", "Violation flag: MAX_DAILY_LOSS."),
    v("violation_max_drawdown", RISK, "risk_engine", "bool", "Violation flag: MAX_DRAWDOWN."),
    v("violation_order_rate", RISK, "risk_engine", "bool", "Violation flag: ORDER_RATE."),

    -- AI: answers of the live stack's LLM primary (fallbacks in priority order) to a strategy's
    -- llm_request; prompts and answers are never stored, only the purpose tag, model and token counts.
    v("llm_regime", AI, "llm", "string",
      "Regime classification (trend, range, volatile) asked with purpose regime_classification (llm_regime)."),
    v("llm_model", AI, "llm", "string", "Model that answered the tick's LLM request."),
    v("llm_sentiment", AI, "llm", "string",
      "Sentiment tag asked with purpose sentiment; no built-in strategy requests it yet."),
    v("llm_commentary", AI, "llm", "string",
      "Strategy commentary asked with purpose commentary; handed to the strategy only, never stored."),
  },
}
