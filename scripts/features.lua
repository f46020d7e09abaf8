--[[ features.lua — the market-data features every strategy decides on (operator-edited).

INPUT
  compute(bars, params)
    bars   = { { t = <epoch s, bar open, UTC>, o = n, h = n, l = n, c = n, v = n }, … } oldest first, as
             C normalizes them from the market-data primary (Databento ns / Polygon ms → seconds,
             fixed-point prices → numbers). Bars are not required to be contiguous (minutes without
             trades have no bar). bars not a table, or a bar field not a finite number → raises.
    params = the bot's params (a table) or nil; read here: fast (default 10), slow (default 30) — SMA
             periods, positive integers; bars_per_year (default 252 * 1380, i.e. 1-minute bars over
             the 23-hour Globex day) — annualization of realized_vol_20; set it for other timeframes.
OUTPUT
  The chunk returns { keys, compute }. keys lists every name compute can return (catalog order).
  compute(bars, params) -> { <key> = number | nil } — a value that needs more bars than given is nil,
  never 0 (the key is absent from the table and so from the JSON C builds; C must not default it):
    open, high, low, close, volume
                     o, h, l, c, v of the last bar                                 (1 bar)
    ret_1, ret_5     simple returns c[n] / c[n-k] − 1                              (2 / 6 bars)
    sma_fast         mean of the last `fast` closes                                (fast bars)
    sma_slow         mean of the last `slow` closes                                (slow bars)
    ema_20           EMA, α = 2/21, seeded with the SMA of the first 20 given closes (20 bars)
    vwap             Σ(typical·v) / Σv, typical = (h+l+c)/3, over the given bars of the last bar's CME
                     trade date (a trade date starts at 17:00 CT, so it resets at the Globex open);
                     nil when that volume is 0
    atr_14           Wilder ATR: TR = max(h−l, |h−c_prev|, |l−c_prev|) from bar 2 on; seed = mean of
                     the first 14 TRs, then atr = (13·atr + TR) / 14                 (15 bars)
    realized_vol_20  sample stdev (n−1) of the last 20 one-bar log returns × sqrt(bars_per_year) (21 bars)
    bars             #bars                                                          (0 bars)
    last_t           t of the last bar                                              (1 bar)
    minute_of_day_ct CT wall-clock minute (0–1439) of last_t, US DST rules          (1 bar)
  A return or volatility that would divide by or take the log of a non-positive price is nil.
  One pass per indicator: 200 bars cost well under a millisecond.
]]

local KEYS = { "open", "high", "low", "close", "volume", "ret_1", "ret_5", "sma_fast", "sma_slow", "ema_20",
               "vwap", "atr_14", "realized_vol_20", "bars", "last_t", "minute_of_day_ct" }

local DAY, CST, CDT = lib.calendar.DAY, lib.calendar.CST, lib.calendar.CDT
local utc_offset_ct = lib.calendar.utc_offset_ct -- America/Chicago offset at a UTC second (scripts/lib/)
local TRADE_DAY_START = 17 * 3600 -- CT second of day at which a Globex trade date begins

local function period(params, name, default)
  local p = params and params[name]
  if p == nil then return default end
  local i = math.tointeger(p)
  if not i or i < 1 or i > 100000 then
    error(("features.compute: params.%s must be an integer from 1 to 100000"):format(name), 3)
  end
  return i
end

local function sma(bars, n, p)
  if n < p then return nil end
  local s = 0
  for i = n - p + 1, n do s = s + bars[i].c end
  return s / p
end

local function ret(bars, n, k)
  if n <= k or bars[n - k].c <= 0 then return nil end
  return bars[n].c / bars[n - k].c - 1
end

local function ema(bars, n, p)
  if n < p then return nil end
  local e = sma(bars, p, p)
  local a = 2 / (p + 1)
  for i = p + 1, n do e = e + a * (bars[i].c - e) end
  return e
end

local function atr(bars, n, p)
  if n < p + 1 then return nil end
  local a = 0
  for i = 2, n do
    local b, pc = bars[i], bars[i - 1].c
    local tr = math.max(b.h - b.l, math.abs(b.h - pc), math.abs(b.l - pc))
    if i <= p + 1 then
      a = a + tr / p
    else
      a = (a * (p - 1) + tr) / p
    end
  end
  return a
end

local function realized_vol(bars, n, p, per_year)
  if n < p + 1 then return nil end
  local r, mean = {}, 0
  for i = n - p + 1, n do
    local c0, c1 = bars[i - 1].c, bars[i].c
    if c0 <= 0 or c1 <= 0 then return nil end
    local x = math.log(c1 / c0)
    r[#r + 1] = x
    mean = mean + x / p
  end
  local ss = 0
  for i = 1, p do ss = ss + (r[i] - mean) ^ 2 end
  return math.sqrt(ss / (p - 1)) * math.sqrt(per_year)
end

-- UTC second at which the CME trade date of UTC second ts began: the latest 17:00 CT at or before ts.
local function trade_day_start(ts)
  local lt = ts + utc_offset_ct(ts)
  local start = (lt - TRADE_DAY_START) // DAY * DAY + TRADE_DAY_START -- CT wall clock
  local utc = start - CST
  if utc_offset_ct(utc) == CDT then utc = start - CDT end
  return utc
end

local function vwap(bars, n)
  if n < 1 then return nil end
  local since = trade_day_start(bars[n].t)
  local pv, vol = 0, 0
  for i = n, 1, -1 do
    local b = bars[i]
    if b.t < since then break end
    pv = pv + (b.h + b.l + b.c) / 3 * b.v
    vol = vol + b.v
  end
  if vol <= 0 then return nil end
  return pv / vol
end

local function check_bars(bars)
  if type(bars) ~= "table" then error("features.compute: bars must be an array of bars", 3) end
  for i = 1, #bars do
    local b = bars[i]
    if type(b) ~= "table" then error(("features.compute: bars[%d] is not a table"):format(i), 3) end
    local t, o, h, l, c, v = b.t, b.o, b.h, b.l, b.c, b.v
    if type(t) ~= "number" or type(o) ~= "number" or type(h) ~= "number" or type(l) ~= "number"
      or type(c) ~= "number" or type(v) ~= "number" then
      error(("features.compute: bars[%d] needs numbers t, o, h, l, c, v"):format(i), 3)
    end
    local sum = t + o + h + l + c + v -- NaN or ±inf in any field makes it non-finite (C rejects those)
    if sum ~= sum or sum == math.huge or sum == -math.huge then
      error(("features.compute: bars[%d] has a non-finite number"):format(i), 3)
    end
  end
end

local function compute(bars, params)
  check_bars(bars)
  if params ~= nil and type(params) ~= "table" then error("features.compute: params must be a table", 2) end
  local n = #bars
  local fast, slow = period(params, "fast", 10), period(params, "slow", 30)
  local per_year = params and params.bars_per_year or 252 * 1380
  if type(per_year) ~= "number" or not (per_year > 0 and per_year < math.huge) then
    error("features.compute: params.bars_per_year must be a positive number", 2)
  end
  local f = { bars = n }
  if n == 0 then return f end
  local last = bars[n]
  local lt = last.t + utc_offset_ct(last.t)
  f.open, f.high, f.low, f.close, f.volume, f.last_t = last.o, last.h, last.l, last.c, last.v, last.t
  f.minute_of_day_ct = math.tointeger((lt % DAY) // 60) or (lt % DAY) // 60
  f.ret_1, f.ret_5 = ret(bars, n, 1), ret(bars, n, 5)
  f.sma_fast, f.sma_slow = sma(bars, n, fast), sma(bars, n, slow)
  f.ema_20 = ema(bars, n, 20)
  f.vwap = vwap(bars, n)
  f.atr_14 = atr(bars, n, 14)
  f.realized_vol_20 = realized_vol(bars, n, 20, per_year)
  return f
end

return { keys = KEYS, compute = compute }
