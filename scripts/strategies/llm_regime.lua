--[[ strategies/llm_regime.lua — an LLM labels the market regime; a fixed rule trades each regime.

INPUT
  llm_request(ctx) and decide(ctx), once per closed bar, with
    ctx = { features = features.lua's compute() of the bars up to this bar,
            prev_features = the same up to the previous bar, or nil,
            position = { qty = n (signed: + long, − short, 0 flat), avg_price = n | nil },
            params   = this file's params overlaid with the bot's params (C merges),
            llm      = nil | { regime = "trend" | "range" | "volatile" | <anything>, model = "…" } }
  C calls llm_request(ctx) first (llm = nil), sends the request to the LLM primary with the LLM gate
  passing, turns the answer's first word into ctx.llm.regime (ctx.llm = nil when there is no LLM, the
  call failed or the gate blocks AI actions), then calls decide(ctx).
    params: qty (default 1), k (default 2); fast / slow (default 10 / 30) are listed so that C hands
    them to features.compute.
OUTPUT
  The chunk returns { name = "llm_regime", description, schema = SCHEMA (lib.params),
    requires_ai = true, params, llm_request, decide }.
  llm_request(ctx) -> { purpose = "regime_classification", system = "<fixed text>",
                        prompt = "<feature numbers only: no symbol, position, params or free text>",
                        max_tokens = 20 }; always a table (a nil feature is written as "na").
  decide(ctx) -> the decision shape of sma_cross.lua / atr_band.lua, plus signals.regime and
  signals.llm_model; feature_keys_used also names "llm_regime". Checked in this order:
    INSUFFICIENT_DATA  close, sma_fast, sma_slow or atr_14 is nil (before asking whether the LLM answered)
    LLM_UNAVAILABLE    ctx.llm is nil (HOLD)
    regime (its first word of ASCII letters, lower-cased: " Trend." reads trend):
      "trend"  → sma_cross rules (cross up: ENTRY BUY / EXIT a short; cross down: ENTRY SELL / EXIT a long;
                 needs prev_features, else INSUFFICIENT_DATA)
      "range"  → atr_band rules (k·ATR band around sma_slow: enter outside it, exit back inside)
      other    → HOLD REGIME_UNCERTAIN (volatile, unknown or empty). An open position is held, not closed:
                 risk.lua's loss and drawdown limits bound it.
  Reason codes come from the rule used (SMA_CROSS_UP, ATR_BAND_BELOW, NO_SIGNAL, …); reason_human
  starts with "regime <r> (<model>): ". confidence is the rule's confidence (0 on HOLD).
  The two rules are small copies of sma_cross.lua and atr_band.lua (policy files cannot require each
  other); keep them in step when editing either.
]]

-- The parameter schema (lib.params validates a bot's params against it; /api/strategies lists it);
-- DEFAULTS are its defaults.
local SCHEMA = {
  qty = { type = "integer", default = 1, min = 1, max = 100, description = "contracts per entry" },
  k = { type = "number", default = 2, min = 0.1, max = 10, description = "band half-width, in ATRs (14 bars)" },
  fast = { type = "integer", default = 10, min = 1, max = 1000, description = "bars of the fast SMA" },
  slow = { type = "integer", default = 30, min = 1, max = 1000, description = "bars of the slow SMA" },
}
local DESCRIPTION = "An LLM labels the regime each bar: trend trades the SMA cross, range trades the ATR band, "
  .. "other regimes hold."
local DEFAULTS = lib.params.defaults(SCHEMA)
local PROMPT_KEYS = { "close", "ret_1", "ret_5", "sma_fast", "sma_slow", "ema_20", "vwap", "atr_14",
                      "realized_vol_20" }
local SYSTEM = "You classify the regime of a futures market from numeric features of its latest bar. "
  .. "Answer with exactly one lower-case word: trend, range or volatile."

local function num(x) return x == nil and "na" or ("%.6g"):format(x) end

local function llm_request(ctx)
  if type(ctx) ~= "table" then error("llm_regime.llm_request: ctx must be a table", 2) end
  local f, parts = ctx.features or {}, {}
  for _, key in ipairs(PROMPT_KEYS) do
    if f[key] ~= nil and type(f[key]) ~= "number" then
      error("llm_regime.llm_request: features." .. key .. " must be a number", 2)
    end
    parts[#parts + 1] = key .. "=" .. num(f[key])
  end
  return { purpose = "regime_classification", system = SYSTEM, max_tokens = 20,
           prompt = "Features: " .. table.concat(parts, " ") .. ". Regime?" }
end

local function hold(code, human, s, used)
  return { action = "HOLD", reason_code = code, reason_human = human, confidence = 0, signals = s,
           feature_keys_used = used }
end

-- A trade toward `want` (+1 buy, −1 sell): EXIT an opposite position, ENTRY when flat, HOLD when
-- already on that side. ev = price points per contract expected on an entry, or nil.
local function act(want, pos, qty, code, words, confidence, ev, s, used)
  if pos * want > 0 then return hold("ALREADY_IN_POSITION", words .. "; already in the position", s, used) end
  local r = { side = want > 0 and "BUY" or "SELL", reason_code = code, confidence = confidence, signals = s,
              feature_keys_used = used }
  if pos ~= 0 then
    r.action, r.qty, r.reason_human = "EXIT", math.abs(pos), words .. "; closing the position"
  else
    r.action, r.qty, r.expected_value, r.reason_human = "ENTRY", qty, ev and ev * qty, words .. "; entering"
  end
  return r
end

local function trend_rule(f, pf, pos, qty, s, used)
  if not (pf and pf.sma_fast and pf.sma_slow) then
    return hold("INSUFFICIENT_DATA", "no previous bar's moving averages to detect a cross", s, used)
  end
  local spread, prev = f.sma_fast - f.sma_slow, pf.sma_fast - pf.sma_slow
  s.spread = spread
  local want = (prev <= 0 and spread > 0) and 1 or (prev >= 0 and spread < 0) and -1 or 0
  if want == 0 then return hold("NO_SIGNAL", "trend rule: no fast/slow SMA cross", s, used) end
  local words = ("fast SMA crossed %s slow SMA (spread %.4g)"):format(want > 0 and "above" or "below", spread)
  return act(want, pos, qty, want > 0 and "SMA_CROSS_UP" or "SMA_CROSS_DOWN", words,
             0.5 + 0.5 * math.min(1, math.abs(spread) / f.atr_14), nil, s, used)
end

local function range_rule(f, pos, qty, k, s, used)
  local lower, upper, c = f.sma_slow - k * f.atr_14, f.sma_slow + k * f.atr_14, f.close
  s.lower, s.upper = lower, upper
  local where = ("close %.6g, band [%.6g, %.6g]"):format(c, lower, upper)
  if pos > 0 and c >= lower or pos < 0 and c <= upper then
    return act(pos > 0 and -1 or 1, pos, qty, "ATR_BAND_REENTRY", where .. "; back inside the band", 1, nil, s,
               used)
  end
  if pos ~= 0 then return hold("ALREADY_IN_POSITION", where .. "; still outside the band", s, used) end
  if c >= lower and c <= upper then return hold("NO_SIGNAL", where .. "; inside the band", s, used) end
  local want = c < lower and 1 or -1
  local beyond = want > 0 and lower - c or c - upper
  return act(want, pos, qty, want > 0 and "ATR_BAND_BELOW" or "ATR_BAND_ABOVE", where .. "; outside the band",
             0.5 + 0.5 * math.min(1, beyond / f.atr_14), math.abs(f.sma_slow - c), s, used)
end

local function decide(ctx)
  if type(ctx) ~= "table" then error("llm_regime.decide: ctx must be a table", 2) end
  local f, params = ctx.features or {}, ctx.params or {}
  local used = { "close", "sma_fast", "sma_slow", "atr_14", "llm_regime" }
  local pos = ctx.position and ctx.position.qty or 0
  if type(pos) ~= "number" then error("llm_regime.decide: position.qty must be a number", 2) end
  pos = math.tointeger(pos) or pos -- C sends JSON reals (1.0): contracts go back as integers
  local qty, k = math.tointeger(params.qty or DEFAULTS.qty), params.k or DEFAULTS.k
  if not qty or qty < 1 or type(k) ~= "number" or not (k > 0 and k < math.huge) then
    return hold("INVALID_PARAMS", "params.qty must be a positive integer and params.k a positive number",
                { position = pos }, used)
  end
  local s = { close = f.close, sma_fast = f.sma_fast, sma_slow = f.sma_slow, atr_14 = f.atr_14, k = k,
              position = pos }
  if not (f.close and f.sma_fast and f.sma_slow and f.atr_14) or f.atr_14 <= 0 then
    return hold("INSUFFICIENT_DATA", "not enough bars yet for the moving averages and the 14-bar ATR", s, used)
  end
  if type(ctx.llm) ~= "table" then
    return hold("LLM_UNAVAILABLE", "no regime classification from an LLM this bar; not trading", s, used)
  end
  -- Both strings come from outside (the LLM's answer, the provider's model id): reduced to plain ASCII
  -- and capped, so a reason text can never carry arbitrary model output or broken UTF-8.
  local raw, model = ctx.llm.regime, ctx.llm.model
  local regime = type(raw) == "string" and (raw:lower():match("[%a_%-]+") or ""):sub(1, 32) or ""
  model = type(model) == "string" and model:gsub("[^%w%._%-/:]", ""):sub(1, 64) or ""
  if model == "" then model = "unknown model" end
  s.regime, s.llm_model = regime, model
  local r
  if regime == "trend" then
    r = trend_rule(f, ctx.prev_features, pos, qty, s, used)
  elseif regime == "range" then
    r = range_rule(f, pos, qty, k, s, used)
  else
    r = hold("REGIME_UNCERTAIN", "no rule trades this regime; holding", s, used)
  end
  r.reason_human = ("regime %s (%s): %s"):format(regime ~= "" and regime or "empty", model, r.reason_human)
  return r
end

return { name = "llm_regime", requires_ai = true, description = DESCRIPTION, schema = SCHEMA, params = DEFAULTS,
         llm_request = llm_request, decide = decide }
