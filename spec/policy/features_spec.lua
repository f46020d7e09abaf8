--[[ features_spec.lua — policy spec for scripts/features.lua.
Run: bin/gatehouse spec spec/policy/features_spec.lua (inside the policy sandbox; TAP out).
Input: spec.policy("scripts/features.lua") (fresh load); small bar sets whose indicators are worked
out by hand in the comments, and a 200-bar series for timing.
Output: assertions through spec.ok / spec.is / spec.same; timing printed as a passing diagnostic. ]]

local F = spec.policy("scripts/features.lua")
local T0 = 1795534200 -- Tue 2026-11-24T15:30:00Z = 09:30 CST

local function near(got, want, desc, tol)
  local ok = type(got) == "number" and math.abs(got - want) <= (tol or 1e-9) * math.max(1, math.abs(want))
  spec.ok(ok, desc .. (ok and "" or (" (got %s, want %.12g)"):format(tostring(got), want)))
end

-- Bars one minute apart from T0 with the given closes; h = c + 1, l = c − 1, o = c, v = 10.
local function series(closes, t0)
  local bars = {}
  for i, c in ipairs(closes) do
    bars[i] = { t = (t0 or T0) + 60 * (i - 1), o = c, h = c + 1, l = c - 1, c = c, v = 10 }
  end
  return bars
end

local function rep(x, n)
  local r = {}
  for i = 1, n do r[i] = x end
  return r
end

spec.same(F.keys, { "open", "high", "low", "close", "volume", "ret_1", "ret_5", "sma_fast", "sma_slow", "ema_20", "vwap", "atr_14",
                    "realized_vol_20", "bars", "last_t", "minute_of_day_ct" }, "keys lists every feature")

-- No bars / one bar: only what one bar defines; the rest nil, never 0.
spec.same(F.compute({}), { bars = 0 }, "no bars: only bars = 0")
local one = F.compute({ { t = T0, o = 10, h = 11, l = 9, c = 10.5, v = 4 } })
spec.same(one, { bars = 1, open = 10, high = 11, low = 9, close = 10.5, volume = 4, last_t = T0,
                 minute_of_day_ct = 570, vwap = (11 + 9 + 10.5) / 3 },
          "one bar: OHLCV of the bar, last_t, minute_of_day_ct (09:30 CT = 570), vwap = typical price")

-- Returns and SMAs on closes 100..105 with fast = 3, slow = 5.
local f = F.compute(series({ 100, 101, 102, 103, 104, 105 }), { fast = 3, slow = 5 })
near(f.ret_1, 105 / 104 - 1, "ret_1 = 105/104 − 1")
near(f.ret_5, 0.05, "ret_5 = 105/100 − 1 = 0.05")
spec.is(f.sma_fast, 104.0, "sma_fast(3) = (103+104+105)/3 = 104")
spec.is(f.sma_slow, 103.0, "sma_slow(5) = (101+…+105)/5 = 103")
spec.is(f.ema_20, nil, "ema_20 is nil with 6 bars")
spec.is(f.atr_14, nil, "atr_14 is nil with 6 bars")
spec.is(f.realized_vol_20, nil, "realized_vol_20 is nil with 6 bars")
spec.is(f.bars, 6, "bars = 6")
spec.is(f.last_t, T0 + 300, "last_t = t of the last bar")
spec.is(f.minute_of_day_ct, 575, "minute_of_day_ct = 09:35 CT = 575")
local d = F.compute(series({ 100, 101, 102, 103, 104, 105 }))
spec.ok(d.sma_fast == nil and d.sma_slow == nil, "default periods 10/30 need more than 6 bars: nil")
spec.is(F.compute(series({ 100, 101, 102, 103, 104 })).ret_5, nil, "ret_5 needs 6 bars")
spec.is(F.compute(series(rep(7, 10))).sma_fast, 7.0, "default fast = 10 with exactly 10 bars")
spec.is(F.compute(series(rep(7, 29))).sma_slow, nil, "default slow = 30 is nil with 29 bars")
spec.is(F.compute(series(rep(7, 30))).sma_slow, 7.0, "default slow = 30 with exactly 30 bars")

-- EMA 20: twenty closes of 50 seed it at 50; a 21st close of 71 moves it by 2/21·21 = 2.
spec.is(F.compute(series(rep(50, 19))).ema_20, nil, "ema_20 is nil with 19 bars")
spec.is(F.compute(series(rep(50, 20))).ema_20, 50.0, "ema_20 = SMA seed 50 with 20 bars")
local closes = rep(50, 20)
closes[21] = 71
near(F.compute(series(closes)).ema_20, 52, "ema_20 = 50 + 2/21·(71 − 50) = 52")

-- VWAP: typical prices 10 (v 100) and 11 (v 300) → (1000 + 3300) / 400 = 10.75.
local vb = { { t = T0, o = 10, h = 11, l = 9, c = 10, v = 100 },
             { t = T0 + 60, o = 10, h = 12, l = 10, c = 11, v = 300 } }
spec.is(F.compute(vb).vwap, 10.75, "vwap = Σ typical·v / Σv = 10.75")
local zero = { { t = T0, o = 1, h = 1, l = 1, c = 1, v = 0 }, { t = T0 + 60, o = 1, h = 1, l = 1, c = 1, v = 0 } }
spec.is(F.compute(zero).vwap, nil, "vwap is nil when the session has no volume")
-- Trade date resets at 17:00 CT: Mon 2026-11-23 16:58 and 16:59 CT belong to Mon; 17:00 and 17:01 to Tue.
local reset_t = 1795474800 -- 2026-11-23T23:00:00Z = Mon 17:00 CST
local sess = {
  { t = reset_t - 120, o = 1, h = 100, l = 100, c = 100, v = 1000 },
  { t = reset_t - 60, o = 1, h = 100, l = 100, c = 100, v = 1000 },
  { t = reset_t, o = 1, h = 20, l = 20, c = 20, v = 1 },
  { t = reset_t + 60, o = 1, h = 30, l = 30, c = 30, v = 3 },
}
spec.is(F.compute(sess).vwap, 27.5, "vwap resets at the 17:00 CT Globex open: (20·1 + 30·3) / 4 = 27.5")
spec.is(F.compute({ sess[1], sess[2] }).vwap, 100.0, "before 17:00 CT the previous trade date's bars count")

-- ATR 14: TR = 2 on every bar (h − l = 2, no gaps) → seed 2; a 16th bar (prev c 100, h 110, l 104)
-- has TR = max(6, |110 − 100|, |104 − 100|) = 10 → Wilder (13·2 + 10) / 14 = 36/14.
spec.is(F.compute(series(rep(100, 14))).atr_14, nil, "atr_14 is nil with 14 bars (13 true ranges)")
near(F.compute(series(rep(100, 15))).atr_14, 2, "atr_14 = mean of the first 14 TRs = 2")
local ab = series(rep(100, 15))
ab[16] = { t = T0 + 15 * 60, o = 105, h = 110, l = 104, c = 108, v = 10 }
near(F.compute(ab).atr_14, 36 / 14, "atr_14 Wilder step with a gap: (13·2 + 10) / 14")
local gap = series(rep(100, 15))
gap[2] = { t = T0 + 60, o = 95, h = 96, l = 94, c = 95, v = 10 } -- TR = max(2, |96−100|, |94−100|) = 6
gap[3].c, gap[3].h, gap[3].l = 100, 101, 99                        -- TR = max(2, |101−95|, |99−95|) = 6
near(F.compute(gap).atr_14, (6 + 6 + 12 * 2) / 14, "atr_14 uses the previous close in the true range")

-- Realized vol: closes 100, 110, 100, … → 20 log returns ±ln 1.1, mean 0, sample stdev ln(1.1)·√(20/19).
local zig = {}
for i = 1, 21 do zig[i] = i % 2 == 1 and 100 or 110 end
local sd = math.log(1.1) * math.sqrt(20 / 19)
spec.is(F.compute(series({ table.unpack(zig, 1, 20) })).realized_vol_20, nil, "realized_vol_20 is nil with 20 bars")
near(F.compute(series(zig), { bars_per_year = 1 }).realized_vol_20, sd, "realized_vol_20 raw = sample stdev")
near(F.compute(series(zig)).realized_vol_20, sd * math.sqrt(252 * 1380),
     "realized_vol_20 annualized by sqrt(252·1380)")
spec.is(F.compute(series(rep(100, 21))).realized_vol_20, 0.0, "realized_vol_20 = 0 for a flat series")

-- Bad prices give nil, not a number.
spec.is(F.compute(series({ 0, 5 })).ret_1, nil, "ret_1 is nil after a zero close")
local neg = series(zig)
neg[5].c = -1
spec.is(F.compute(neg).realized_vol_20, nil, "realized_vol_20 is nil with a non-positive close")

-- minute_of_day_ct follows DST.
spec.is(F.compute(series({ 1 }, 1784122200)).minute_of_day_ct, 510, "2026-07-15T13:30Z = 08:30 CDT = 510")
spec.is(F.compute(series({ 1 }, 1795474800)).minute_of_day_ct, 1020, "2026-11-23T23:00Z = 17:00 CST = 1020")
spec.is(F.compute(series({ 1 }, 1795488000)).minute_of_day_ct, 1240, "2026-11-24T02:40Z = Mon 20:40 CST = 1240")

-- Misuse raises (C fails closed).
spec.ok(not pcall(F.compute, nil), "bars = nil raises")
spec.ok(not pcall(F.compute, { { t = T0, o = 1, h = 1, l = 1, c = "1", v = 1 } }), "a string price raises")
spec.ok(not pcall(F.compute, series({ 1, 0 / 0 })), "a NaN price raises")
spec.ok(not pcall(F.compute, series({ 1, math.huge })), "an infinite price raises")
spec.ok(not pcall(F.compute, series({ 1, 2 }), { fast = 0 }), "params.fast = 0 raises")
spec.ok(not pcall(F.compute, series({ 1, 2 }), { slow = 2.5 }), "a fractional period raises")
spec.ok(not pcall(F.compute, series({ 1, 2 }), { bars_per_year = -1 }), "a negative bars_per_year raises")

-- 200 bars: every feature present, and the cost of one call.
local big, c = {}, 4500
for i = 1, 200 do
  c = c + math.sin(i / 7) * 3
  big[i] = { t = T0 + 60 * (i - 1), o = c - 0.5, h = c + 2, l = c - 2, c = c, v = 100 + i % 17 }
end
local full = F.compute(big)
local missing = {}
for _, k in ipairs(F.keys) do if full[k] == nil then missing[#missing + 1] = k end end
spec.same(missing, {}, "200 bars: every key has a value")
local N = 200
local t0 = rt.now()
for _ = 1, N do F.compute(big) end
local ms = (rt.now() - t0) * 1000 / N
spec.ok(true, ("diagnostic: features.compute over 200 bars took %.3f ms per call"):format(ms))
spec.ok(ms < 5, "200-bar features stay far below the 1 s call budget (< 5 ms even on a slow CI)")
