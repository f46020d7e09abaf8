--[[ risk_spec.lua — policy spec for scripts/risk.lua.
Run: bin/gatehouse spec spec/policy/risk_spec.lua (inside the policy sandbox; TAP out).
Input: spec.policy("scripts/risk.lua") and spec.policy("scripts/market_hours.lua") (fresh loads); order
contexts shaped like the C runner's, one rule at a time, at and around every limit.
Output: assertions through spec.ok / spec.is / spec.same. ]]

local R = spec.policy("scripts/risk.lua")
local MH = spec.policy("scripts/market_hours.lua")

local RTH = { open = true, session = "RTH", next_change = 1795554000 }
local ETH = { open = true, session = "ETH", next_change = 1795555000 }
local WEEKEND = { open = false, session = "WEEKEND", next_change = 1795993200 } -- Sun 2026-11-29T23:00Z

local NONE = {} -- in `over`: remove the field

-- A flat PAPER bot in RTH buying 1, no losses, no recent orders; `over` replaces top-level fields.
local function ctx(over)
  local c = { order = { side = "BUY", qty = 1 }, position = { qty = 0 },
              pnl = { realized_today = 0, unrealized = 0, equity_peak = 10000, equity = 10000 },
              orders_last_minute = 0, market = RTH, stage = "PAPER" }
  for k, v in pairs(over or {}) do
    if v == NONE then c[k] = nil else c[k] = v end
  end
  return c
end

local function verdict(over) local r = R.check(ctx(over)); return { r.allowed, r.reason_code, r.violations } end
local function allowed(over, desc) spec.same(verdict(over), { true, "OK", {} }, desc .. " → allowed") end
local function blocked(over, codes, desc)
  spec.same(verdict(over), { false, codes[1], codes }, desc .. " → " .. table.concat(codes, ", "))
end
local function pos(q) return { qty = q, avg_price = q ~= 0 and 4500 or nil } end
local function order(side, qty) return { side = side, qty = qty } end

spec.is(R.enforcing, true, "the risk engine is enforcing")
spec.same(R.limits, { max_contracts = 2, max_daily_loss = 1000, max_drawdown = 2000, max_orders_per_minute = 6 },
          "default limits")
spec.ok(not pcall(R.check, nil), "a ctx that is not a table raises")

-- The happy path and the snapshot.
local r = R.check(ctx())
spec.same({ r.allowed, r.enforcing, r.reason_code, r.reason_human, r.violations },
          { true, true, "OK", "within limits", {} },
          "flat, RTH, no losses: BUY 1 is allowed")
spec.same(r.risk_snapshot, {
  limits = { max_contracts = 2, max_daily_loss = 1000, max_drawdown = 2000, max_orders_per_minute = 6 },
  usage = { contracts = 0.5, daily_loss = 0, drawdown = 0, order_rate = 1 / 6 },
  position_after = 1, reduces_position = false, stage = "PAPER", market_session = "RTH",
  working = { buy = 0, sell = 0 }, multiplier = 1,
}, "risk_snapshot: effective limits, usage ratios, position after, working orders, multiplier, session, stage")

-- MARKET_CLOSED: every order while closed; entries and exits while open (RTH or ETH).
blocked({ market = WEEKEND }, { "MARKET_CLOSED" }, "entry on the weekend")
blocked({ market = WEEKEND, position = pos(1), order = order("SELL", 1) }, { "MARKET_CLOSED" },
        "exit on the weekend (nothing can fill)")
blocked({ market = { open = false, session = "MAINTENANCE", next_change = 1795474800 } }, { "MARKET_CLOSED" },
        "entry in the daily maintenance break")
blocked({ market = { open = false, session = "HOLIDAY" } }, { "MARKET_CLOSED" }, "entry on a holiday")
blocked({ market = NONE }, { "MARKET_CLOSED" }, "no market info (fail closed)")
blocked({ market = { session = "RTH" } }, { "MARKET_CLOSED" }, "market without open = true")
allowed({ market = ETH }, "entry during ETH")
allowed({ market = ETH, position = pos(1), order = order("SELL", 1) }, "exit during ETH")
r = R.check(ctx({ market = WEEKEND }))
spec.ok(r.reason_human:find("WEEKEND", 1, true) and r.reason_human:find("2026-11-29T23:00:00Z", 1, true),
        "MARKET_CLOSED says which session and when it changes: " .. r.reason_human)
allowed({ market = MH.session(1795534200, "ESZ6") }, "with market_hours at Tue 09:30 CT (RTH)")
blocked({ market = MH.session(1795867200, "ESZ6") }, { "MARKET_CLOSED" }, "with market_hours on Saturday")
blocked({ market = MH.session(1798221600, "ESZ6") }, { "MARKET_CLOSED" }, "with market_hours on Christmas")

-- MAX_CONTRACTS (2): on the position after the order; reducing orders pass.
allowed({ position = pos(1), order = order("BUY", 1) }, "long 1 + BUY 1 = 2 (at the limit)")
blocked({ position = pos(2), order = order("BUY", 1) }, { "MAX_CONTRACTS" }, "long 2 + BUY 1 = 3")
blocked({ order = order("BUY", 3) }, { "MAX_CONTRACTS" }, "flat + BUY 3")
blocked({ position = pos(-2), order = order("SELL", 1) }, { "MAX_CONTRACTS" }, "short 2 + SELL 1 = −3")
allowed({ position = pos(5), order = order("SELL", 1) }, "long 5 (over the limit) + SELL 1 reduces")
allowed({ position = pos(-4), order = order("BUY", 4) }, "short 4 + BUY 4 closes")
blocked({ position = pos(1), order = order("SELL", 4) }, { "MAX_CONTRACTS" }, "long 1 + SELL 4 flips to −3")
allowed({ position = pos(1), order = order("SELL", 3) }, "long 1 + SELL 3 flips to −2 (within the limit)")
r = R.check(ctx({ position = pos(5), order = order("SELL", 1) }))
spec.same({ r.risk_snapshot.reduces_position, r.risk_snapshot.position_after, r.risk_snapshot.usage.contracts },
          { true, 4, 2 }, "a reducing order is flagged; usage.contracts = 4/2")

-- MAX_DAILY_LOSS (1000): realized today + unrealized.
blocked({ pnl = { realized_today = -600, unrealized = -400, equity_peak = 10000, equity = 9000 } },
        { "MAX_DAILY_LOSS" }, "loss 600 + 400 = 1000 (at the limit)")
allowed({ pnl = { realized_today = -600, unrealized = -399.99, equity_peak = 10000, equity = 9000 } },
        "loss 999.99")
allowed({ pnl = { realized_today = 500, unrealized = -1400, equity_peak = 10000, equity = 9100 } },
        "profit 500 and open loss 1400 = loss 900")
allowed({ pnl = { realized_today = -5000, unrealized = 0, equity_peak = 10000, equity = 9000 },
          position = pos(1), order = order("SELL", 1) }, "an exit past the daily loss limit")
r = R.check(ctx({ pnl = { realized_today = -250, unrealized = 0, equity_peak = 10000, equity = 9750 } }))
spec.is(r.risk_snapshot.usage.daily_loss, 0.25, "usage.daily_loss = 250 / 1000")

-- MAX_DRAWDOWN (2000): equity peak − equity.
blocked({ pnl = { realized_today = 0, unrealized = 0, equity_peak = 12000, equity = 10000 } },
        { "MAX_DRAWDOWN" }, "drawdown 2000 (at the limit)")
allowed({ pnl = { realized_today = 0, unrealized = 0, equity_peak = 11999, equity = 10000 } }, "drawdown 1999")
allowed({ pnl = { realized_today = 0, unrealized = 0, equity_peak = 15000, equity = 10000 },
          position = pos(-1), order = order("BUY", 1) }, "an exit past the drawdown limit")

-- ORDER_RATE (6 per minute): this order would be the 7th.
blocked({ orders_last_minute = 6 }, { "ORDER_RATE" }, "6 orders in the last minute")
allowed({ orders_last_minute = 5 }, "5 orders in the last minute")
allowed({ orders_last_minute = 40, position = pos(2), order = order("SELL", 2) }, "an exit above the order rate")
spec.is(R.check(ctx({ orders_last_minute = 2 })).risk_snapshot.usage.order_rate, 0.5, "usage.order_rate = (2+1)/6")

-- Several violations at once: fixed order, every text joined.
r = R.check(ctx({ market = WEEKEND, order = order("BUY", 3), orders_last_minute = 9,
                  pnl = { realized_today = -2000, unrealized = 0, equity_peak = 13000, equity = 10000 } }))
spec.same(r.violations, { "MARKET_CLOSED", "MAX_CONTRACTS", "MAX_DAILY_LOSS", "MAX_DRAWDOWN", "ORDER_RATE" },
          "every violation, in rule order")
spec.is(r.reason_code, "MARKET_CLOSED", "reason_code is the first violation")
local all = true
for _, words in ipairs({ "market is closed (WEEKEND until", "position would be 3 contracts", "daily loss 2000.00",
                         "drawdown 3000.00", "9 orders in the last minute" }) do
  all = all and r.reason_human:find(words, 1, true) ~= nil
end
spec.ok(all, "reason_human joins every violation's text: " .. r.reason_human)

-- Tier LIMITED_AUTONOMY halves max_contracts and max_daily_loss.
local LA = "LIMITED_AUTONOMY"
r = R.check(ctx({ tier = LA }))
spec.same({ r.risk_snapshot.limits, r.risk_snapshot.tier },
          { { max_contracts = 1, max_daily_loss = 500, max_drawdown = 2000, max_orders_per_minute = 6 }, LA },
          "LIMITED_AUTONOMY: max_contracts 1, max_daily_loss 500, the rest unchanged")
blocked({ tier = LA, position = pos(1), order = order("BUY", 1) }, { "MAX_CONTRACTS" },
        "LIMITED_AUTONOMY: long 1 + BUY 1")
blocked({ tier = LA, pnl = { realized_today = -500, unrealized = 0, equity_peak = 10000, equity = 9500 } },
        { "MAX_DAILY_LOSS" }, "LIMITED_AUTONOMY: loss 500")
allowed({ tier = LA, pnl = { realized_today = -499, unrealized = 0, equity_peak = 10000, equity = 9501 } },
        "LIMITED_AUTONOMY: loss 499")
allowed({ tier = "FULL_AUTONOMY", position = pos(1), order = order("BUY", 1) }, "FULL_AUTONOMY: long 1 + BUY 1")
allowed({ tier = "SUPERVISED", position = pos(1), order = order("BUY", 1) }, "SUPERVISED: limits unchanged")

-- Bot overrides tighten only.
blocked({ limits = { max_contracts = 1 }, position = pos(1), order = order("BUY", 1) }, { "MAX_CONTRACTS" },
        "override max_contracts = 1 tightens")
allowed({ limits = { max_contracts = 10 }, position = pos(1), order = order("BUY", 1) },
        "override max_contracts = 10 cannot loosen past 2 (but 2 is allowed)")
blocked({ limits = { max_contracts = 10 }, position = pos(2), order = order("BUY", 1) }, { "MAX_CONTRACTS" },
        "override max_contracts = 10 is ignored: long 2 + BUY 1 still blocked")
blocked({ limits = { max_orders_per_minute = 2 }, orders_last_minute = 2 }, { "ORDER_RATE" }, "override rate 2/min")
r = R.check(ctx({ limits = { max_daily_loss = "500", max_drawdown = -1, max_orders_per_minute = 0 / 0 } }))
spec.same(r.risk_snapshot.limits, R.limits, "malformed overrides (string, negative, NaN) are ignored")
r = R.check(ctx({ tier = LA, limits = { max_contracts = 1, max_daily_loss = 300 } }))
spec.same({ r.risk_snapshot.limits.max_contracts, r.risk_snapshot.limits.max_daily_loss }, { 1, 150 },
          "override then LIMITED_AUTONOMY: contracts stay at least 1, loss 300 halves to 150")

-- INVALID_INPUT (fail closed).
blocked({ order = order("HOLD", 1) }, { "INVALID_INPUT" }, "side HOLD")
blocked({ order = order("BUY", 0) }, { "INVALID_INPUT" }, "qty 0")
blocked({ order = order("BUY", 1.5) }, { "INVALID_INPUT" }, "qty 1.5")
blocked({ order = order("BUY", "1") }, { "INVALID_INPUT" }, "qty as a string")
blocked({ order = "BUY 1" }, { "INVALID_INPUT" }, "order is not a table")
blocked({ position = NONE }, { "INVALID_INPUT" }, "no position")
blocked({ pnl = NONE }, { "INVALID_INPUT" }, "entry without pnl (no fake zeros)")
blocked({ orders_last_minute = NONE }, { "INVALID_INPUT" }, "entry without orders_last_minute")
allowed({ pnl = NONE, orders_last_minute = NONE, position = pos(2), order = order("SELL", 1) },
        "an exit needs neither pnl nor the order count")
blocked({ stage = "DEMO" }, { "INVALID_INPUT" }, "unknown stage")
blocked({ tier = "GOLD" }, { "INVALID_INPUT" }, "unknown tier")
blocked({ order = order("BUY", 0), market = WEEKEND }, { "INVALID_INPUT", "MARKET_CLOSED" },
        "invalid input and closed market both reported")
r = R.check(ctx({ pnl = { realized_today = 0 } }))
spec.ok(r.reason_human:find("pnl.realized_today/unrealized", 1, true)
        and r.reason_human:find("pnl.equity_peak/equity", 1, true),
        "INVALID_INPUT names the missing fields: " .. r.reason_human)
spec.same({ r.risk_snapshot.usage.daily_loss, r.risk_snapshot.usage.drawdown }, { nil, nil },
          "usage ratios are nil (not 0) when their input is missing")

-- No order (a HOLD tick): nothing to block, the snapshot still shows usage; the context is still validated.
r = R.check(ctx({ order = NONE, market = WEEKEND, position = pos(2), orders_last_minute = 9,
                  pnl = { realized_today = -5000, unrealized = 0, equity_peak = 10000, equity = 5000 } }))
spec.same({ r.allowed, r.reason_code, r.violations, r.risk_snapshot.position_after, r.risk_snapshot.usage.contracts,
            r.risk_snapshot.usage.daily_loss }, { true, "NO_ORDER", {}, 2, 1, 5 },
          "no order: allowed, NO_ORDER, usage of the current position and loss even when closed and past limits")
blocked({ order = NONE, stage = "DEMO" }, { "INVALID_INPUT" }, "no order but an unknown stage")
blocked({ order = NONE, position = NONE }, { "INVALID_INPUT" }, "no order and no position")

-- Stages share one rule set.
for _, stage in ipairs({ "PAPER", "SHADOW", "LIVE" }) do
  blocked({ stage = stage, position = pos(2), order = order("BUY", 1) }, { "MAX_CONTRACTS" },
          stage .. ": long 2 + BUY 1")
  allowed({ stage = stage }, stage .. ": flat BUY 1")
end

-- enforcing = false (an operator edit): violations reported, nothing blocked.
R.enforcing = false
r = R.check(ctx({ position = pos(2), order = order("BUY", 1) }))
spec.same({ r.allowed, r.enforcing, r.reason_code, r.violations },
          { true, false, "MAX_CONTRACTS", { "MAX_CONTRACTS" } },
          "enforcing = false: reports MAX_CONTRACTS but allows")
R.enforcing = true

local t0 = rt.now()
for i = 1, 1000 do R.check(ctx({ orders_last_minute = i % 7, position = pos(i % 3) })) end
spec.ok(true, ("diagnostic: 1000 risk.check calls took %.2f ms"):format((rt.now() - t0) * 1000))

-- Exposure = position + working orders (issue 20): orders in flight count against max_contracts.
local function working(buy, sell) return { buy = buy, sell = sell } end
allowed({ working = working(1, 0) }, "flat, 1 BUY working, BUY 1 (worst case 2)")
blocked({ working = working(2, 0) }, { "MAX_CONTRACTS" }, "flat, 2 BUY working, BUY 1 (worst case 3)")
blocked({ position = pos(1), working = working(1, 0) }, { "MAX_CONTRACTS" }, "long 1, 1 BUY working, BUY 1 (worst case 3)")
allowed({ position = pos(2), working = working(0, 1), order = order("SELL", 1) }, "long 2, 1 SELL working, SELL 1: reducing")
allowed({ position = pos(1), working = working(5, 0), order = order("SELL", 1) }, "a SELL is judged on the sell side only")
blocked({ position = pos(-2), working = working(0, 0), order = order("SELL", 1) }, { "MAX_CONTRACTS" }, "short 2, SELL 1")
spec.same(R.check(ctx({ working = working(1, 0) })).risk_snapshot.working, { buy = 1, sell = 0 }, "the snapshot shows the working orders")
allowed({ working = "bad" }, "a malformed working table reads as none")

-- Contract multipliers: P&L comes in points x contracts; the limits are currency.
spec.is(R.multiplier("ESZ6"), 50, "ES: 50 per point")
spec.is(R.multiplier("MNQH27"), 2, "MNQ: 2 per point")
spec.is(R.multiplier("GCZ6"), 100, "GC: 100 per point")
spec.is(R.multiplier("XYZ"), 1, "an unknown root: 1")
blocked({ symbol = "ESZ6", pnl = { realized_today = -20, unrealized = 0, equity_peak = 0, equity = -20 } },
        { "MAX_DAILY_LOSS" }, "ES: -20 points = -1000 currency reaches max_daily_loss 1000")
allowed({ symbol = "MESZ6", pnl = { realized_today = -20, unrealized = 0, equity_peak = 0, equity = -20 } },
        "MES: -20 points = -100 currency")
spec.is(R.check(ctx({ symbol = "ESZ6" })).risk_snapshot.multiplier, 50, "the snapshot names the multiplier")

-- review: held exposure, no order.
local function review(over)
  local c = ctx(over)
  c.order = nil
  local r = R.review(c)
  return { r.breached, r.reason_code }
end
spec.same(review({}), { false, "OK" }, "review: flat, no loss → no breach")
spec.same(review({ position = pos(2) }), { false, "OK" }, "review: long 2 (the limit) → no breach")
spec.same(review({ position = pos(2), working = working(1, 0) }), { true, "MAX_CONTRACTS" }, "review: long 2 + 1 working → breach")
spec.same(review({ position = pos(-1), working = working(0, 2) }), { true, "MAX_CONTRACTS" }, "review: short 1 + 2 SELL working → breach")
spec.same(review({ symbol = "ESZ6", pnl = { realized_today = 0, unrealized = -25, equity_peak = 0, equity = -25 } }),
          { true, "MAX_DAILY_LOSS" }, "review: ES -25 points held = -1250 → breach")
spec.same(review({ pnl = { realized_today = 0, unrealized = 0, equity_peak = 3000, equity = 500 } }),
          { true, "MAX_DRAWDOWN" }, "review: drawdown 2500 → breach")
spec.same(review({ position = { qty = "x" } }), { false, "INVALID_INPUT" }, "review: malformed input is not a breach")
spec.same(review({ position = pos(1), tier = "LIMITED_AUTONOMY", stage = "LIVE", working = working(1, 0) }),
          { true, "MAX_CONTRACTS" }, "review: LIMITED_AUTONOMY halves max_contracts (2 held > 1)")
spec.ok(not pcall(R.review, nil), "review: a ctx that is not a table raises")
R.enforcing = false
spec.same(review({ position = pos(3) }), { false, "MAX_CONTRACTS" }, "review: monitor-only never acts on a breach")
R.enforcing = true
