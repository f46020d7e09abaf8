--[[ strategies_spec.lua — policy spec for scripts/strategies/{sma_cross,atr_band,llm_regime}.lua.
Run: bin/gatehouse spec spec/policy/strategies_spec.lua (inside the policy sandbox; TAP out).
Input: fresh loads of the three strategies and scripts/features.lua; hand-built feature tables (and one
bar series through features.compute) for every cross, band edge and hold.
Output: assertions through spec.ok / spec.is / spec.same; every decision made here is also checked
against the decision shape the C runner reads. ]]

local F = spec.policy("scripts/features.lua")
local SMA = spec.policy("scripts/strategies/sma_cross.lua")
local ATR = spec.policy("scripts/strategies/atr_band.lua")
local LLM = spec.policy("scripts/strategies/llm_regime.lua")

local seen = {} -- every decision, for the shape check at the end

local function run(S, ctx)
  ctx.params = ctx.params or {}
  for k, v in pairs(S.params) do if ctx.params[k] == nil then ctx.params[k] = v end end -- C's merge
  ctx.position = ctx.position or { qty = 0 }
  local d = S.decide(ctx)
  seen[#seen + 1] = { S.name, d }
  return d
end

local function expect(d, action, side, qty, code, desc)
  spec.same({ d.action, d.side, d.qty, d.reason_code }, { action, side, qty, code },
            ("%s → %s %s %s %s"):format(desc, action, side or "-", qty or "-", code))
end

local function feats(fast, slow, extra)
  local f = { sma_fast = fast, sma_slow = slow }
  for k, v in pairs(extra or {}) do f[k] = v end
  return f
end

---------------------------------------------------------------------------------------------------
-- Shapes
---------------------------------------------------------------------------------------------------
spec.same({ SMA.name, SMA.requires_ai, SMA.params.qty, type(SMA.decide) }, { "sma_cross", false, 1, "function" },
          "sma_cross: name, requires_ai = false, params.qty = 1, decide")
spec.same({ ATR.name, ATR.requires_ai, ATR.params.qty, ATR.params.k, type(ATR.decide) },
          { "atr_band", false, 1, 2, "function" }, "atr_band: name, requires_ai = false, qty 1, k 2, decide")
spec.same({ LLM.name, LLM.requires_ai, type(LLM.llm_request), type(LLM.decide) },
          { "llm_regime", true, "function", "function" }, "llm_regime: requires_ai = true, llm_request, decide")

---------------------------------------------------------------------------------------------------
-- sma_cross
---------------------------------------------------------------------------------------------------
local up_prev, up_now = feats(99, 100), feats(101, 100)
local d = run(SMA, { features = up_now, prev_features = up_prev })
expect(d, "ENTRY", "BUY", 1, "SMA_CROSS_UP", "sma_cross: cross up while flat")
spec.is(d.confidence, 0.5, "sma_cross: confidence 0.5 without atr_14")
spec.same(d.feature_keys_used, { "sma_fast", "sma_slow" }, "sma_cross: feature_keys_used")
spec.same({ d.signals.cross, d.signals.spread, d.signals.prev_sma_fast }, { "UP", 1, 99 }, "sma_cross: signals")
spec.ok(d.reason_human:find("crossed above", 1, true), "sma_cross: reason_human says what crossed")

d = run(SMA, { features = feats(101, 100, { atr_14 = 4 }), prev_features = up_prev })
spec.is(d.confidence, 0.625, "sma_cross: confidence 0.5 + 0.5·|spread|/atr = 0.625")
spec.same(d.feature_keys_used, { "sma_fast", "sma_slow", "atr_14" }, "sma_cross: atr_14 listed when used")
expect(run(SMA, { features = up_now, prev_features = up_prev, position = { qty = -2, avg_price = 101 } }),
       "EXIT", "BUY", 2, "SMA_CROSS_UP", "sma_cross: cross up while short 2 (exit, no reversal)")
expect(run(SMA, { features = up_now, prev_features = up_prev, position = { qty = 1, avg_price = 99 } }),
       "HOLD", nil, nil, "ALREADY_IN_POSITION", "sma_cross: cross up while already long")
expect(run(SMA, { features = feats(99, 100), prev_features = feats(101, 100), params = { qty = 3 } }),
       "ENTRY", "SELL", 3, "SMA_CROSS_DOWN", "sma_cross: cross down while flat, params.qty = 3")
expect(run(SMA, { features = feats(99, 100), prev_features = feats(101, 100), position = { qty = 1 } }),
       "EXIT", "SELL", 1, "SMA_CROSS_DOWN", "sma_cross: cross down while long 1")
expect(run(SMA, { features = feats(99, 100), prev_features = feats(101, 100), position = { qty = -1 } }),
       "HOLD", nil, nil, "ALREADY_IN_POSITION", "sma_cross: cross down while already short")
expect(run(SMA, { features = feats(101, 100), prev_features = feats(100, 100) }),
       "ENTRY", "BUY", 1, "SMA_CROSS_UP", "sma_cross: from equal to above is a cross up")
d = run(SMA, { features = feats(102, 100), prev_features = feats(101, 100) })
expect(d, "HOLD", nil, nil, "NO_SIGNAL", "sma_cross: fast stays above slow")
spec.is(d.confidence, 0, "sma_cross: a HOLD has confidence 0")
expect(run(SMA, { features = feats(100, 100), prev_features = feats(100, 100) }),
       "HOLD", nil, nil, "NO_SIGNAL", "sma_cross: equal on both bars is no cross")
expect(run(SMA, { features = feats(98, 100), prev_features = feats(97, 100), position = { qty = 1 } }),
       "HOLD", nil, nil, "NO_SIGNAL", "sma_cross: long with no cross holds (no signal)")
expect(run(SMA, { features = up_now, prev_features = nil }),
       "HOLD", nil, nil, "INSUFFICIENT_DATA", "sma_cross: no prev_features")
expect(run(SMA, { features = feats(101, nil), prev_features = up_prev }),
       "HOLD", nil, nil, "INSUFFICIENT_DATA", "sma_cross: sma_slow nil (not enough bars)")
expect(run(SMA, { features = up_now, prev_features = up_prev, params = { qty = 0 } }),
       "HOLD", nil, nil, "INVALID_PARAMS", "sma_cross: params.qty = 0")
expect(run(SMA, { features = up_now, prev_features = up_prev, params = { qty = 1.5 } }),
       "HOLD", nil, nil, "INVALID_PARAMS", "sma_cross: fractional params.qty")

-- Through features.compute: closes 10 9 8 7 6 5 6 8 10 with SMA 3/5.
-- bar 8: sma3 = (5+6+8)/3 = 6.33 < sma5 = 6.4; bar 9: sma3 = 8 > sma5 = 7 → cross up on bar 9.
local closes, bars = { 10, 9, 8, 7, 6, 5, 6, 8, 10 }, {}
for i, c in ipairs(closes) do
  bars[i] = { t = 1795534200 + 60 * i, o = c, h = c + 0.5, l = c - 0.5, c = c, v = 5 }
end
local p = { fast = 3, slow = 5 }
local function upto(n) return F.compute({ table.unpack(bars, 1, n) }, p) end
expect(run(SMA, { features = upto(8), prev_features = upto(7), params = { fast = 3, slow = 5 } }),
       "HOLD", nil, nil, "NO_SIGNAL", "sma_cross on real features: bar 8 still below")
expect(run(SMA, { features = upto(9), prev_features = upto(8), params = { fast = 3, slow = 5 } }),
       "ENTRY", "BUY", 1, "SMA_CROSS_UP", "sma_cross on real features: bar 9 crosses up")
expect(run(SMA, { features = upto(5), prev_features = upto(4), params = { fast = 3, slow = 5 } }),
       "HOLD", nil, nil, "INSUFFICIENT_DATA", "sma_cross on real features: bar 5 has no previous sma_slow")

---------------------------------------------------------------------------------------------------
-- atr_band (sma_slow 100, atr 2, k 2 → band [96, 104])
---------------------------------------------------------------------------------------------------
local function band(close, extra)
  local f = { close = close, sma_slow = 100, atr_14 = 2 }
  for k, v in pairs(extra or {}) do f[k] = v end
  return f
end
d = run(ATR, { features = band(95) })
expect(d, "ENTRY", "BUY", 1, "ATR_BAND_BELOW", "atr_band: close 95 below the lower band 96")
spec.same({ d.expected_value, d.confidence, d.signals.lower, d.signals.upper, d.signals.band },
          { 5, 0.75, 96, 104, "BELOW" },
          "atr_band: expected_value 5 points to the mean, confidence 0.5 + 0.5·1/2, band signals")
spec.same(d.feature_keys_used, { "close", "sma_slow", "atr_14" }, "atr_band: feature_keys_used")
d = run(ATR, { features = band(105.5), params = { qty = 2 } })
expect(d, "ENTRY", "SELL", 2, "ATR_BAND_ABOVE", "atr_band: close 105.5 above the upper band 104, qty 2")
spec.same({ d.expected_value, d.confidence }, { 11, 0.875 }, "atr_band: ev 5.5·2, confidence 0.5 + 0.5·1.5/2")
spec.is(run(ATR, { features = band(90) }).confidence, 1, "atr_band: confidence caps at 1 (3 ATR beyond)")
expect(run(ATR, { features = band(100) }), "HOLD", nil, nil, "NO_SIGNAL", "atr_band: close at the mean")
expect(run(ATR, { features = band(96) }), "HOLD", nil, nil, "NO_SIGNAL", "atr_band: close on the lower band")
expect(run(ATR, { features = band(104) }), "HOLD", nil, nil, "NO_SIGNAL", "atr_band: close on the upper band")
expect(run(ATR, { features = band(95), position = { qty = 1 } }),
       "HOLD", nil, nil, "ALREADY_IN_POSITION", "atr_band: long and still below the band")
d = run(ATR, { features = band(97), position = { qty = 1 } })
expect(d, "EXIT", "SELL", 1, "ATR_BAND_REENTRY", "atr_band: long and back inside the band")
spec.same({ d.confidence, d.expected_value }, { 1, nil }, "atr_band: an exit has confidence 1 and no ev")
expect(run(ATR, { features = band(110), position = { qty = 2 } }),
       "EXIT", "SELL", 2, "ATR_BAND_REENTRY", "atr_band: long and through to above the band")
expect(run(ATR, { features = band(105), position = { qty = -2 } }),
       "HOLD", nil, nil, "ALREADY_IN_POSITION", "atr_band: short and still above the band")
expect(run(ATR, { features = band(103), position = { qty = -2 } }),
       "EXIT", "BUY", 2, "ATR_BAND_REENTRY", "atr_band: short and back inside the band")
expect(run(ATR, { features = band(97.5), params = { k = 1 } }),
       "ENTRY", "BUY", 1, "ATR_BAND_BELOW", "atr_band: k = 1 narrows the band to [98, 102]")
expect(run(ATR, { features = { close = 95, sma_slow = 100 } }),
       "HOLD", nil, nil, "INSUFFICIENT_DATA", "atr_band: atr_14 nil")
expect(run(ATR, { features = band(95, { atr_14 = 0 }) }), "HOLD", nil, nil, "INSUFFICIENT_DATA",
       "atr_band: atr_14 = 0")
expect(run(ATR, { features = {} }), "HOLD", nil, nil, "INSUFFICIENT_DATA", "atr_band: no features")
expect(run(ATR, { features = band(95), params = { k = -1 } }), "HOLD", nil, nil, "INVALID_PARAMS",
       "atr_band: k = -1")

---------------------------------------------------------------------------------------------------
-- llm_regime
---------------------------------------------------------------------------------------------------
local full = { close = 95, ret_1 = -0.001, ret_5 = -0.004, sma_fast = 101, sma_slow = 100, atr_14 = 2,
               realized_vol_20 = 0.1834, vwap = 99.5, bars = 200, last_t = 1795534200, minute_of_day_ct = 570 }
local prev = { close = 96, sma_fast = 99, sma_slow = 100, atr_14 = 2 }
local req = LLM.llm_request({ features = full, prev_features = prev, position = { qty = 3, avg_price = 4321 },
                              params = { qty = 1, note = "SYMBOL-ESZ6" } })
spec.same({ req.purpose, req.max_tokens, type(req.system) }, { "regime_classification", 20, "string" },
          "llm_request: purpose, max_tokens 20, system text")
spec.ok(req.prompt:find("close=95 ", 1, true) and req.prompt:find("atr_14=2 ", 1, true)
        and req.prompt:find("realized_vol_20=0.1834", 1, true), "llm_request: prompt carries feature numbers")
spec.ok(req.prompt:find("ema_20=na", 1, true), "llm_request: a nil feature reads na")
spec.ok(not req.prompt:find("ESZ6", 1, true) and not req.prompt:find("4321", 1, true)
        and not req.prompt:find("1795534200", 1, true),
        "llm_request: no params, position or timestamp in the prompt")
spec.ok(#req.prompt < 300, "llm_request: the prompt is short (" .. #req.prompt .. " bytes)")
spec.ok(not req.prompt:gsub("[%w_]+=[-%d.e+na]+", ""):find("%d"),
        "llm_request: every number is a key=value feature")
spec.ok(not pcall(LLM.llm_request, { features = { close = "95" } }), "llm_request: a string feature raises")

local M = { model = "gpt-4o-mini" }
local function llm(regime) return { regime = regime, model = M.model } end
expect(run(LLM, { features = full, prev_features = prev }),
       "HOLD", nil, nil, "LLM_UNAVAILABLE", "llm_regime: ctx.llm nil")
expect(run(LLM, { features = { close = 95 }, llm = llm("trend") }),
       "HOLD", nil, nil, "INSUFFICIENT_DATA", "llm_regime: not enough features")
expect(run(LLM, { features = { close = 95 } }), "HOLD", nil, nil, "INSUFFICIENT_DATA",
       "llm_regime: missing data is reported before a missing LLM")
d = run(LLM, { features = full, prev_features = prev, llm = llm("trend") })
expect(d, "ENTRY", "BUY", 1, "SMA_CROSS_UP", "llm_regime: trend + fast crosses above slow")
spec.ok(d.reason_human:find("^regime trend %(gpt%-4o%-mini%): "), "llm_regime: reason_human names regime and model")
spec.same({ d.signals.regime, d.signals.llm_model }, { "trend", "gpt-4o-mini" }, "llm_regime: regime signals")
spec.same(d.feature_keys_used, { "close", "sma_fast", "sma_slow", "atr_14", "llm_regime" },
          "llm_regime: feature_keys_used names llm_regime")
spec.is(d.confidence, 0.75, "llm_regime: trend confidence 0.5 + 0.5·|1|/2")
for _, r in ipairs({ "  Trend\n", "TREND.", "trend, clearly" }) do
  expect(run(LLM, { features = full, prev_features = prev, llm = llm(r) }),
         "ENTRY", "BUY", 1, "SMA_CROSS_UP", ("llm_regime: [%s] reads as trend"):format(r:gsub("%c", " ")))
end
d = run(LLM, { features = full, prev_features = prev, llm = { regime = "tr\xC3\xA9nd \xFF", model = "m\xFF\n1" } })
spec.same({ d.reason_code, d.signals.regime, d.signals.llm_model }, { "REGIME_UNCERTAIN", "tr", "m1" },
          "llm_regime: non-ASCII answer and model are reduced to ASCII (no broken UTF-8 reaches C)")
expect(run(LLM, { features = full, prev_features = prev, llm = llm("trend"), position = { qty = -1 } }),
       "EXIT", "BUY", 1, "SMA_CROSS_UP", "llm_regime: trend cross up while short exits")
expect(run(LLM, { features = full, prev_features = nil, llm = llm("trend") }),
       "HOLD", nil, nil, "INSUFFICIENT_DATA", "llm_regime: trend needs prev_features")
expect(run(LLM, { features = full, prev_features = { sma_fast = 102, sma_slow = 100 }, llm = llm("trend") }),
       "HOLD", nil, nil, "NO_SIGNAL", "llm_regime: trend without a cross")
d = run(LLM, { features = full, prev_features = prev, llm = llm("range") })
expect(d, "ENTRY", "BUY", 1, "ATR_BAND_BELOW", "llm_regime: range + close 95 below the band [96, 104]")
spec.same({ d.expected_value, d.confidence }, { 5, 0.75 }, "llm_regime: range ev and confidence as atr_band")
local inside = { close = 97, sma_fast = 101, sma_slow = 100, atr_14 = 2 }
expect(run(LLM, { features = inside, llm = llm("range"), position = { qty = 2 } }),
       "EXIT", "SELL", 2, "ATR_BAND_REENTRY", "llm_regime: range, long back inside the band")
expect(run(LLM, { features = inside, llm = llm("range") }),
       "HOLD", nil, nil, "NO_SIGNAL", "llm_regime: range, flat inside the band")
expect(run(LLM, { features = full, llm = llm("range"), position = { qty = 1 } }),
       "HOLD", nil, nil, "ALREADY_IN_POSITION", "llm_regime: range, long still below the band")
expect(run(LLM, { features = { close = 106, sma_fast = 101, sma_slow = 100, atr_14 = 2 }, llm = llm("range") }),
       "ENTRY", "SELL", 1, "ATR_BAND_ABOVE", "llm_regime: range, close 106 above the band")
for _, r in ipairs({ "volatile", "unknown", "", "bullish!" }) do
  expect(run(LLM, { features = full, prev_features = prev, llm = llm(r) }),
         "HOLD", nil, nil, "REGIME_UNCERTAIN", ("llm_regime: regime %q"):format(r))
end
expect(run(LLM, { features = full, prev_features = prev, llm = { model = "x" } }),
       "HOLD", nil, nil, "REGIME_UNCERTAIN", "llm_regime: an answer without a regime")
d = run(LLM, { features = full, prev_features = prev, llm = llm("volatile"), position = { qty = 1 } })
expect(d, "HOLD", nil, nil, "REGIME_UNCERTAIN", "llm_regime: volatile holds an open position")
expect(run(LLM, { features = full, prev_features = prev, llm = llm("trend"), params = { qty = -1 } }),
       "HOLD", nil, nil, "INVALID_PARAMS", "llm_regime: params.qty = -1")

-- As C sends it: through JSON, so contracts arrive as reals (1.0) and absent features as missing keys.
local wire = cjson.decode(cjson.encode({ features = up_now, prev_features = up_prev, position = { qty = -2.0 },
                                         params = { qty = 1.0 } }))
d = run(SMA, wire)
expect(d, "EXIT", "BUY", 2, "SMA_CROSS_UP", "sma_cross: a JSON round-tripped ctx (qty −2.0)")
spec.is(math.type(d.qty), "integer", "sma_cross: qty goes back as an integer")
d = run(ATR, cjson.decode(cjson.encode({ features = band(97), position = { qty = 1.0 }, params = { qty = 1.0 } })))
spec.same({ d.action, d.qty, math.type(d.qty) }, { "EXIT", 1, "integer" }, "atr_band: a JSON ctx exits 1 contract")
d = run(LLM, cjson.decode(cjson.encode({ features = full, position = { qty = 0.0 }, llm = llm("range") })))
spec.same({ d.action, d.qty, math.type(d.qty) }, { "ENTRY", 1, "integer" }, "llm_regime: a JSON ctx enters 1")

---------------------------------------------------------------------------------------------------
-- Every decision above has the shape the C runner reads.
---------------------------------------------------------------------------------------------------
local known = { llm_regime = true }
for _, k in ipairs(F.keys) do known[k] = true end
local ACTIONS = { ENTRY = true, EXIT = true, ADJUST = true, HOLD = true }
local bad = {}
for i, e in ipairs(seen) do
  local name, r = e[1], e[2]
  local ok = ACTIONS[r.action] and type(r.reason_code) == "string" and r.reason_code:match("^[A-Z_]+$")
    and type(r.reason_human) == "string" and #r.reason_human > 0
    and type(r.confidence) == "number" and r.confidence >= 0 and r.confidence <= 1
    and (r.expected_value == nil or type(r.expected_value) == "number")
    and type(r.signals) == "table" and next(r.signals) ~= nil -- {} would reach C as a JSON array
    and type(r.feature_keys_used) == "table" and #r.feature_keys_used > 0
  if r.action == "HOLD" then
    ok = ok and r.side == nil and r.qty == nil
  else
    ok = ok and (r.side == "BUY" or r.side == "SELL") and math.type(r.qty) == "integer" and r.qty > 0
  end
  for _, k in ipairs(r.feature_keys_used or {}) do ok = ok and known[k] end
  for k, v in pairs(r.signals or {}) do
    local t = type(v)
    ok = ok and type(k) == "string" and (t == "number" or t == "string" or t == "boolean")
  end
  if not ok then bad[#bad + 1] = ("#%d %s %s %s"):format(i, name, tostring(r.action), tostring(r.reason_code)) end
end
spec.same(bad, {}, ("all %d decisions have the runner's shape"):format(#seen))

local t0 = rt.now()
for _ = 1, 1000 do
  SMA.decide({ features = up_now, prev_features = up_prev, position = { qty = 0 }, params = SMA.params })
  ATR.decide({ features = band(95), position = { qty = 0 }, params = ATR.params })
  LLM.decide({ features = full, prev_features = prev, position = { qty = 0 }, params = LLM.params,
               llm = llm("range") })
end
spec.ok(true, ("diagnostic: 1000 × three decide() calls took %.2f ms"):format((rt.now() - t0) * 1000))
