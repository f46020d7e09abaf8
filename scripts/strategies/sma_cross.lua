--[[ strategies/sma_cross.lua — trend following on a fast/slow simple-moving-average cross.

INPUT
  decide(ctx), once per closed bar:
    ctx = { features      = features.lua's compute() of the bars up to this bar,
            prev_features = the same for the bars up to the previous bar, or nil,
            position      = { qty = n (signed: + long, − short, 0 flat), avg_price = n | nil },
            params        = this file's params overlaid with the bot's params (C merges),
            llm           = nil (requires_ai = false: C makes no LLM call for this strategy) }
    params: qty (contracts per entry, default 1); fast / slow (default 10 / 30) are listed so that C
    hands the same merged params to features.compute, which owns those periods.
OUTPUT
  The chunk returns { name = "sma_cross", description, schema = SCHEMA (lib.params),
    requires_ai = false, params, decide }.
  decide(ctx) -> { action = "ENTRY" | "EXIT" | "HOLD", side = "BUY" | "SELL" | nil, qty = n | nil,
                   reason_code, reason_human, confidence = 0..1, expected_value = nil,
                   signals = { sma_fast, sma_slow, prev_sma_fast, prev_sma_slow, spread, cross, position },
                   feature_keys_used = { "sma_fast", "sma_slow"[, "atr_14"] } }
  Cross up   = prev fast ≤ prev slow and fast > slow; cross down is the mirror image.
    cross up:   short → EXIT BUY |qty|; flat → ENTRY BUY params.qty; long → HOLD ALREADY_IN_POSITION
    cross down: long → EXIT SELL qty;   flat → ENTRY SELL params.qty; short → HOLD ALREADY_IN_POSITION
    An exit does not reverse: the opposite entry waits for the next cross.
  reason_code: SMA_CROSS_UP | SMA_CROSS_DOWN | NO_SIGNAL | INSUFFICIENT_DATA (a needed feature or
  prev_features is nil) | ALREADY_IN_POSITION | INVALID_PARAMS (params.qty not a positive integer).
  confidence = 0.5 + 0.5·min(1, |fast − slow| / atr_14) on a cross (0.5 without atr_14); 0 on HOLD.
  expected_value: nil (this strategy makes no estimate). ADJUST is never returned.
]]

-- The parameter schema (lib.params validates a bot's params against it; /api/strategies lists it);
-- DEFAULTS are its defaults.
local SCHEMA = {
  qty = { type = "integer", default = 1, min = 1, max = 100, description = "contracts per entry" },
  fast = { type = "integer", default = 10, min = 1, max = 1000, description = "bars of the fast SMA" },
  slow = { type = "integer", default = 30, min = 1, max = 1000, description = "bars of the slow SMA" },
}
local DESCRIPTION = "Trend following: enters on a fast/slow SMA cross, exits on the opposite cross."
local DEFAULTS = lib.params.defaults(SCHEMA)

-- signals is never empty: C's JSON conversion would turn {} into [].
local function hold(code, human, signals, used)
  return { action = "HOLD", reason_code = code, reason_human = human, confidence = 0, signals = signals,
           feature_keys_used = used }
end

local function decide(ctx)
  if type(ctx) ~= "table" then error("sma_cross.decide: ctx must be a table", 2) end
  local f, pf, params = ctx.features or {}, ctx.prev_features or {}, ctx.params or {}
  local used = { "sma_fast", "sma_slow" }
  local pos = ctx.position and ctx.position.qty or 0
  if type(pos) ~= "number" then error("sma_cross.decide: position.qty must be a number", 2) end
  pos = math.tointeger(pos) or pos -- C sends JSON reals (1.0): contracts go back as integers
  local qty = math.tointeger(params.qty or DEFAULTS.qty)
  if not qty or qty < 1 then
    return hold("INVALID_PARAMS", "params.qty must be a positive integer number of contracts",
                { position = pos }, used)
  end
  local fast, slow, pfast, pslow = f.sma_fast, f.sma_slow, pf.sma_fast, pf.sma_slow
  local signals = { sma_fast = fast, sma_slow = slow, prev_sma_fast = pfast, prev_sma_slow = pslow,
                    position = pos }
  if not (fast and slow and pfast and pslow) then
    return hold("INSUFFICIENT_DATA",
                "not enough bars yet for both moving averages on this and the previous bar", signals, used)
  end
  local spread, prev_spread = fast - slow, pfast - pslow
  local cross = (prev_spread <= 0 and spread > 0) and "UP"
    or (prev_spread >= 0 and spread < 0) and "DOWN" or "NONE"
  signals.spread, signals.cross = spread, cross
  if cross == "NONE" then
    return hold("NO_SIGNAL", ("no cross: fast SMA %s slow SMA (spread %.4g)"):format(
      spread > 0 and "stays above" or spread < 0 and "stays below" or "equals", spread), signals, used)
  end
  local code = cross == "UP" and "SMA_CROSS_UP" or "SMA_CROSS_DOWN"
  local words = ("fast SMA %.6g crossed %s slow SMA %.6g"):format(fast, cross == "UP" and "above" or "below",
                                                                 slow)
  local confidence = 0.5
  if f.atr_14 and f.atr_14 > 0 then
    confidence = 0.5 + 0.5 * math.min(1, math.abs(spread) / f.atr_14)
    used[#used + 1] = "atr_14"
  end
  local want = cross == "UP" and 1 or -1                      -- the direction the cross points to
  if pos * want > 0 then
    return hold("ALREADY_IN_POSITION", words .. "; already " .. (want > 0 and "long" or "short"), signals, used)
  end
  local r = { side = want > 0 and "BUY" or "SELL", reason_code = code, confidence = confidence,
              signals = signals, feature_keys_used = used }
  if pos ~= 0 then
    r.action, r.qty = "EXIT", math.abs(pos)
    r.reason_human = words .. ("; closing the %s of %g"):format(pos > 0 and "long" or "short", math.abs(pos))
  else
    r.action, r.qty = "ENTRY", qty
    r.reason_human = words .. ("; entering %s %d"):format(want > 0 and "long" or "short", qty)
  end
  return r
end

return { name = "sma_cross", requires_ai = false, description = DESCRIPTION, schema = SCHEMA, params = DEFAULTS,
         decide = decide }
