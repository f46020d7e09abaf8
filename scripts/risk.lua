--[[ risk.lua — the pre-trade risk check of every order intent, in every stage (operator-edited).

INPUT
  check(ctx), before every order and also on HOLD ticks (C runs it every tick as proof of enforcement):
    ctx = { order    = { side = "BUY" | "SELL", qty = <positive integer contracts> } | nil (HOLD),
            position = { qty = n (signed: + long, − short, 0 flat), avg_price = n | nil },
            working  = nil | { buy = n, sell = n },  -- contracts of this bot's orders still working (not filled)
            pnl      = { realized_today = n, unrealized = n, equity_peak = n, equity = n },
                       -- points x contracts (price difference times contracts); multiplied here by the
                       -- symbol's contract multiplier into currency
            symbol   = nil | "ESZ6" …,            -- its root (ES) picks the multiplier; nil or unknown: 1
            orders_last_minute = n,              -- this bot's orders sent in the last 60 s
            market   = market_hours.lua's session(now, symbol) result,
            limits   = nil | { <some keys of `limits`> = n }   -- the bot's params overrides
            stage    = "PAPER" | "SHADOW" | "LIVE",
            tier     = nil | "LOCKED" | "SUPERVISED" | "LIMITED_AUTONOMY" | "FULL_AUTONOMY" }
    ctx not a table → raises (C fails closed). Any other malformed field is the violation INVALID_INPUT.
  review(ctx), after every fill and every minute for every running bot: the same ctx without `order`.
OUTPUT
  The chunk returns { enforcing = true, limits = { … }, check }. C reports `enforcing` to gates.lua
  (risk.enforcing; false makes gates block LIVE with RISK_ENGINE_NOT_ENFORCING).
  review(ctx) -> { breached = bool, reason_code = first violation | "OK", reason_human, violations,
                   usage = { contracts, daily_loss, drawdown }, limits }
    Held exposure against the limits (no order involved): MAX_CONTRACTS when the worst case of the position
    plus working orders, max(|qty + working.buy|, |qty − working.sell|), is above max_contracts;
    MAX_DAILY_LOSS / MAX_DRAWDOWN when reached, as in check. A breach makes C kill the bot, cancel its
    working orders, raise the SEV-1 RISK_BREACH bot blocker and an alert, and lock its autonomy until an
    operator acknowledges. Malformed input is INVALID_INPUT and is not a breach (check blocks orders then).
  check(ctx) -> { allowed = bool, enforcing = bool, reason_code, reason_human, violations = { code, … },
                  risk_snapshot = { limits = <effective limits>, usage = { contracts, daily_loss, drawdown,
                                    order_rate }, position_after, reduces_position, market_session, stage,
                                    tier } }
    reason_code = the first violation in the order below, or "OK"; reason_human joins every violation's
    text ("within limits" when none). allowed = no violation; with enforcing = false the violations are
    still reported but allowed is true (monitor only, never for LIVE).
    order = nil: nothing to block. Only stage, tier and position are validated (INVALID_INPUT); otherwise
    allowed = true, reason_code = "NO_ORDER", and risk_snapshot shows the current usage.

RULES (in this order)
  INVALID_INPUT    order.side not BUY/SELL or order.qty not a positive integer; position.qty not a number;
                   unknown stage or tier; for an order that is not reducing: a pnl field or
                   orders_last_minute missing. Blocks (fail closed: no fake zeros).
  MARKET_CLOSED    market.open is not true (MAINTENANCE, WEEKEND, HOLIDAY, or no market info). Blocks
                   every order, exits included: nothing can fill in a closed market and PAPER must not
                   fake a fill. While open (RTH or ETH) entries and exits are both allowed.
  A reducing order (it moves the worst-case position, working orders of its side included, toward 0
  without crossing it: an exit or partial exit) is checked by the two rules above only: it lowers risk, so the limits below never trap a position.
  EXPOSURE         orders in flight count: the order is judged against the worst case of the position plus
                   every working order of the same side (working.buy for a BUY, working.sell for a SELL), so
                   orders not yet filled can never take the position past a limit.
  MAX_CONTRACTS    |worst-case position after the order| > max_contracts (a flip past 0 counts as a new
                   position).
  MAX_DAILY_LOSS   −(realized_today + unrealized) ≥ max_daily_loss.
  MAX_DRAWDOWN     equity_peak − equity ≥ max_drawdown.
  ORDER_RATE       orders_last_minute ≥ max_orders_per_minute (this order would exceed the rate).

EFFECTIVE LIMITS
  1. `limits` below are ceilings: a bot's override applies only when it is a positive number below the
     ceiling (bot params can tighten a limit, never loosen it; anything else is ignored).
  2. tier LIMITED_AUTONOMY then halves max_contracts (rounded down, at least 1) and max_daily_loss:
     a bot that has earned limited autonomy trades with half the size and half the loss budget until
     it reaches FULL_AUTONOMY. Other tiers leave the limits alone (LOCKED and SUPERVISED are enforced
     at start by gates.lua). Stages share the same limits: PAPER rehearses exactly what LIVE would do.
  usage ratios = used / limit: contracts = |position after|, daily_loss = max(0, loss), drawdown =
  max(0, peak − equity), order_rate = orders_last_minute + 1; nil when the input is missing.
]]

local M = {
  enforcing = true,
  limits = { max_contracts = 2, max_daily_loss = 1000, max_drawdown = 2000, max_orders_per_minute = 6 },
  -- Currency per point per contract, by symbol root (CME/NYMEX/COMEX specifications). Operator-edited.
  multipliers = { ES = 50, MES = 5, NQ = 20, MNQ = 2, YM = 5, MYM = 0.5, RTY = 50, M2K = 5,
                  CL = 1000, MCL = 100, NG = 10000, GC = 100, MGC = 10, SI = 5000, ZN = 1000, ZB = 1000 },
}

-- The root of a futures symbol: "ESZ6" → "ES", "MNQH27" → "MNQ"; the symbol itself when it has no month code.
local function root_of(symbol)
  if type(symbol) ~= "string" then return nil end
  return symbol:match("^(%u+)[FGHJKMNQUVXZ]%d+$") or symbol
end

local function multiplier(symbol)
  local m = M.multipliers[root_of(symbol) or ""]
  return type(m) == "number" and m > 0 and m or 1
end

local STAGES = { PAPER = true, SHADOW = true, LIVE = true }
local TIERS = { LOCKED = true, SUPERVISED = true, LIMITED_AUTONOMY = true, FULL_AUTONOMY = true }
local LIMIT_KEYS = { "max_contracts", "max_daily_loss", "max_drawdown", "max_orders_per_minute" }

local function finite(x) return type(x) == "number" and x == x and x > -math.huge and x < math.huge end

local function effective_limits(overrides, tier)
  local l = {}
  for _, key in ipairs(LIMIT_KEYS) do
    local ceiling, o = M.limits[key], type(overrides) == "table" and overrides[key] or nil
    l[key] = (finite(o) and o > 0 and o < ceiling) and o or ceiling
  end
  if tier == "LIMITED_AUTONOMY" then
    l.max_contracts = math.max(1, l.max_contracts // 2)
    l.max_daily_loss = l.max_daily_loss / 2
  end
  return l
end

-- "2026-11-28T23:00:00Z" for an epoch second (days → civil date after H. Hinnant).
local function iso_utc(ts)
  ts = math.floor(ts)
  local y, m, d = lib.calendar.civil_of_days(ts // 86400)
  local sec = ts % 86400
  return ("%04d-%02d-%02dT%02d:%02d:%02dZ"):format(y, m, d, sec // 3600, sec % 3600 // 60, sec % 60)
end

local function ratio(used, limit) return used and used / limit or nil end

-- The numbers the rules need, and the names of the malformed fields (`bad`).
local function read_inputs(ctx)
  local order, position, pnl = ctx.order, ctx.position or {}, ctx.pnl or {}
  local working = type(ctx.working) == "table" and ctx.working or {}
  local x, bad = { has_order = order ~= nil, reduces = false, mult = multiplier(ctx.symbol) }, {}
  x.wbuy = finite(working.buy) and math.max(0, working.buy) or 0
  x.wsell = finite(working.sell) and math.max(0, working.sell) or 0
  if not STAGES[ctx.stage] then bad[#bad + 1] = "stage" end
  if ctx.tier ~= nil and not TIERS[ctx.tier] then bad[#bad + 1] = "tier" end
  x.pos = finite(position.qty) and position.qty or nil
  if not x.pos then bad[#bad + 1] = "position.qty" end
  if x.has_order then
    local qty = type(order) == "table" and math.type(order.qty) and math.tointeger(order.qty)
    local dir = type(order) == "table" and (order.side == "BUY" and 1 or order.side == "SELL" and -1) or nil
    if not dir then bad[#bad + 1] = "order.side" end
    if not qty or qty < 1 then bad[#bad + 1], qty = "order.qty", nil end
    -- the worst case on the order's side: the position plus every working order of that side
    local before = x.pos and (dir == 1 and x.pos + x.wbuy or dir == -1 and x.pos - x.wsell) or nil
    x.after = (before and qty) and before + dir * qty or nil
    x.reduces = x.after ~= nil and before ~= 0 and math.abs(x.after) < math.abs(before) and x.after * before >= 0
  else
    x.after = x.pos and (math.abs(x.pos + x.wbuy) >= math.abs(x.pos - x.wsell) and x.pos + x.wbuy or x.pos - x.wsell)
  end
  if finite(pnl.realized_today) and finite(pnl.unrealized) then
    x.loss = -(pnl.realized_today + pnl.unrealized) * x.mult
  end
  if finite(pnl.equity_peak) and finite(pnl.equity) then x.drawdown = (pnl.equity_peak - pnl.equity) * x.mult end
  if finite(ctx.orders_last_minute) then x.rate = ctx.orders_last_minute end
  if x.has_order and x.after ~= nil and not x.reduces then -- the limit rules will need these
    if not x.loss then bad[#bad + 1] = "pnl.realized_today/unrealized" end
    if not x.drawdown then bad[#bad + 1] = "pnl.equity_peak/equity" end
    if not x.rate then bad[#bad + 1] = "orders_last_minute" end
  end
  return x, bad
end

local function closed_text(market)
  local m = type(market) == "table" and market or {}
  local name = type(m.session) == "string" and m.session or "unknown"
  local nc = m.next_change
  local until_ = finite(nc) and nc >= 0 and nc < 2 ^ 40 and " until " .. iso_utc(nc) or ""
  return ("market is closed (%s%s): no orders, exits included"):format(name, until_)
end

-- MAX_CONTRACTS, MAX_DAILY_LOSS and MAX_DRAWDOWN of x against limits l (an order's, or held exposure's when held).
local function exposure_rules(x, l, violate, held)
  if math.abs(x.after) > l.max_contracts then
    violate("MAX_CONTRACTS", (held and "held %g contracts with working orders (worst case), limit %g"
                                   or "position would be %g contracts, limit %g"):format(math.abs(x.after), l.max_contracts))
  end
  if x.loss and x.loss >= l.max_daily_loss then
    violate("MAX_DAILY_LOSS", ("daily loss %.2f reached the limit %.2f"):format(x.loss, l.max_daily_loss))
  end
  if x.drawdown and x.drawdown >= l.max_drawdown then
    violate("MAX_DRAWDOWN", ("drawdown %.2f from the equity peak reached the limit %.2f"):format(x.drawdown,
                                                                                               l.max_drawdown))
  end
end

-- Violations of an order that does not reduce the position, in rule order.
local function limit_rules(x, l, violate)
  exposure_rules(x, l, violate, false)
  if x.rate and x.rate >= l.max_orders_per_minute then
    violate("ORDER_RATE", ("%g orders in the last minute, limit %g per minute"):format(x.rate,
                                                                                      l.max_orders_per_minute))
  end
end

local function check(ctx)
  if type(ctx) ~= "table" then error("risk.check: ctx must be a table", 2) end
  local violations, texts = {}, {}
  local function violate(code, text) violations[#violations + 1], texts[#texts + 1] = code, text end
  local x, bad = read_inputs(ctx)
  local tier = TIERS[ctx.tier] and ctx.tier or nil
  local limits = effective_limits(ctx.limits, tier)
  local market = ctx.market
  if #bad > 0 then violate("INVALID_INPUT", "risk input missing or malformed: " .. table.concat(bad, ", ")) end
  if x.has_order then
    if type(market) ~= "table" or market.open ~= true then violate("MARKET_CLOSED", closed_text(market)) end
    if x.after ~= nil and not x.reduces then limit_rules(x, limits, violate) end
  end
  local ok_code, ok_text = "OK", "within limits"
  if not x.has_order then ok_code, ok_text = "NO_ORDER", "no order to check (the strategy holds)" end
  return {
    allowed = #violations == 0 or M.enforcing ~= true,
    enforcing = M.enforcing == true,
    reason_code = violations[1] or ok_code,
    reason_human = #texts > 0 and table.concat(texts, "; ") or ok_text,
    violations = violations,
    risk_snapshot = {
      limits = limits,
      usage = { contracts = ratio(x.after and math.abs(x.after), limits.max_contracts),
                daily_loss = ratio(x.loss and math.max(0, x.loss), limits.max_daily_loss),
                drawdown = ratio(x.drawdown and math.max(0, x.drawdown), limits.max_drawdown),
                order_rate = ratio(x.rate and x.rate + 1, limits.max_orders_per_minute) },
      position_after = x.after, reduces_position = x.reduces, working = { buy = x.wbuy, sell = x.wsell },
      multiplier = x.mult, stage = STAGES[ctx.stage] and ctx.stage or nil,
      tier = tier, market_session = type(market) == "table" and market.session or nil,
    },
  }
end

local function review(ctx)
  if type(ctx) ~= "table" then error("risk.review: ctx must be a table", 2) end
  local violations, texts = {}, {}
  local function violate(code, text) violations[#violations + 1], texts[#texts + 1] = code, text end
  local x, bad = read_inputs({ position = ctx.position, working = ctx.working, pnl = ctx.pnl, symbol = ctx.symbol,
                               stage = ctx.stage, tier = ctx.tier })
  local limits = effective_limits(ctx.limits, TIERS[ctx.tier] and ctx.tier or nil)
  if #bad > 0 or x.after == nil then
    return { breached = false, reason_code = "INVALID_INPUT", violations = { "INVALID_INPUT" }, limits = limits,
             reason_human = "risk input missing or malformed: " .. table.concat(bad, ", "), usage = {} }
  end
  exposure_rules(x, limits, violate, true)
  return {
    breached = #violations > 0 and M.enforcing == true,
    reason_code = violations[1] or "OK",
    reason_human = #texts > 0 and table.concat(texts, "; ") or "held exposure within limits",
    violations = violations,
    limits = limits,
    usage = { contracts = ratio(math.abs(x.after), limits.max_contracts),
              daily_loss = ratio(x.loss and math.max(0, x.loss), limits.max_daily_loss),
              drawdown = ratio(x.drawdown and math.max(0, x.drawdown), limits.max_drawdown) },
  }
end

M.check = check
M.review = review
M.multiplier = multiplier
return M
