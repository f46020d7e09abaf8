--[[ strategies/atr_band.lua — mean reversion around the slow SMA with an ATR-wide band.

INPUT
  decide(ctx), once per closed bar:
    ctx = { features = features.lua's compute() of the bars up to this bar, prev_features (unused),
            position = { qty = n (signed: + long, − short, 0 flat), avg_price = n | nil },
            params   = this file's params overlaid with the bot's params (C merges), llm = nil }
    params: qty (contracts per entry, default 1), k (band half-width in ATRs, default 2, > 0);
    slow (default 30) is listed so that C hands it to features.compute, which owns the period.
OUTPUT
  The chunk returns { name = "atr_band", description, schema = SCHEMA (lib.params),
    requires_ai = false, params, decide }.
  decide(ctx) -> { action = "ENTRY" | "EXIT" | "HOLD", side = "BUY" | "SELL" | nil, qty = n | nil,
                   reason_code, reason_human, confidence = 0..1, expected_value = n | nil,
                   signals = { close, sma_slow, atr_14, k, lower, upper, band = "BELOW"|"INSIDE"|"ABOVE",
                               position },
                   feature_keys_used = { "close", "sma_slow", "atr_14" } }
  lower = sma_slow − k·atr_14, upper = sma_slow + k·atr_14.
    flat:  close < lower → ENTRY BUY (ATR_BAND_BELOW); close > upper → ENTRY SELL (ATR_BAND_ABOVE);
           else HOLD NO_SIGNAL
    long:  close ≥ lower (back inside, or through to the other side) → EXIT SELL qty (ATR_BAND_REENTRY);
           still below → HOLD ALREADY_IN_POSITION
    short: close ≤ upper → EXIT BUY |qty| (ATR_BAND_REENTRY); still above → HOLD ALREADY_IN_POSITION
  INSUFFICIENT_DATA when close, sma_slow or atr_14 is nil (or atr_14 is 0); INVALID_PARAMS for a bad
  qty or k. confidence on an entry = 0.5 + 0.5·min(1, distance beyond the band / atr_14); 1 on an exit
  (a met exit rule that only reduces risk); 0 on HOLD.
  expected_value on an entry = |sma_slow − close| · qty, the price points back to the mean if it
  reverts (before costs); nil otherwise. ADJUST is never returned.
]]

-- The parameter schema (lib.params validates a bot's params against it; /api/strategies lists it);
-- DEFAULTS are its defaults.
local SCHEMA = {
  qty = { type = "integer", default = 1, min = 1, max = 100, description = "contracts per entry" },
  k = { type = "number", default = 2, min = 0.1, max = 10, description = "band half-width, in ATRs (14 bars)" },
  slow = { type = "integer", default = 30, min = 1, max = 1000, description = "bars of the slow SMA" },
}
local DESCRIPTION = "Mean reversion: enters outside a k-ATR band around the slow SMA, exits back inside it."
local DEFAULTS = lib.params.defaults(SCHEMA)

-- signals is never empty: C's JSON conversion would turn {} into [].
local function hold(code, human, signals, used)
  return { action = "HOLD", reason_code = code, reason_human = human, confidence = 0, signals = signals,
           feature_keys_used = used }
end

local function decide(ctx)
  if type(ctx) ~= "table" then error("atr_band.decide: ctx must be a table", 2) end
  local f, params = ctx.features or {}, ctx.params or {}
  local used = { "close", "sma_slow", "atr_14" }
  local pos = ctx.position and ctx.position.qty or 0
  if type(pos) ~= "number" then error("atr_band.decide: position.qty must be a number", 2) end
  pos = math.tointeger(pos) or pos -- C sends JSON reals (1.0): contracts go back as integers
  local qty, k = math.tointeger(params.qty or DEFAULTS.qty), params.k or DEFAULTS.k
  if not qty or qty < 1 or type(k) ~= "number" or not (k > 0 and k < math.huge) then
    return hold("INVALID_PARAMS", "params.qty must be a positive integer and params.k a positive number",
                { position = pos }, used)
  end
  local close, mid, atr = f.close, f.sma_slow, f.atr_14
  local s = { close = close, sma_slow = mid, atr_14 = atr, k = k, position = pos }
  if not (close and mid and atr) or atr <= 0 then
    return hold("INSUFFICIENT_DATA", "not enough bars yet for the slow SMA and the 14-bar ATR", s, used)
  end
  local lower, upper = mid - k * atr, mid + k * atr
  s.lower, s.upper = lower, upper
  s.band = close < lower and "BELOW" or close > upper and "ABOVE" or "INSIDE"
  local where = ("close %.6g, band [%.6g, %.6g] (SMA %.6g +/- %g ATR %.4g)"):format(close, lower, upper, mid, k,
                                                                                   atr)
  if (pos > 0 and close < lower) or (pos < 0 and close > upper) then
    return hold("ALREADY_IN_POSITION", where .. "; still outside the band: holding the position", s, used)
  elseif pos ~= 0 then
    return { action = "EXIT", side = pos > 0 and "SELL" or "BUY", qty = math.abs(pos), confidence = 1,
             reason_code = "ATR_BAND_REENTRY", signals = s, feature_keys_used = used,
             reason_human = where .. "; back inside the band: closing the " .. (pos > 0 and "long" or "short") }
  end
  if s.band == "INSIDE" then return hold("NO_SIGNAL", where .. "; inside the band", s, used) end
  local buy = s.band == "BELOW"
  local beyond = buy and lower - close or close - upper
  return { action = "ENTRY", side = buy and "BUY" or "SELL", qty = qty,
           reason_code = buy and "ATR_BAND_BELOW" or "ATR_BAND_ABOVE",
           reason_human = where .. (buy and "; below the band: buying for a reversion to the mean"
                                        or "; above the band: selling for a reversion to the mean"),
           confidence = 0.5 + 0.5 * math.min(1, beyond / atr), expected_value = math.abs(mid - close) * qty,
           signals = s, feature_keys_used = used }
end

return { name = "atr_band", requires_ai = false, description = DESCRIPTION, schema = SCHEMA, params = DEFAULTS,
         decide = decide }
