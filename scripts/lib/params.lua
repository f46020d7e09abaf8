--[[ lib/params.lua — a bot's params checked against its strategy's parameter schema (lib.params).

INPUT
  validate(schema, params, strategy)
    schema   = the strategy file's `schema` table, or nil (a strategy without one: params are not checked):
               { <key> = { type = "integer" | "number" | "string" | "boolean", default = v, min = n?, max = n?,
                           enum = { v, … }?, description = "…" }, … }
    params   = the params the operator sent (a table; C has already checked it is a JSON object)
    strategy = the strategy's name, for the messages
  COMMON: the params every bot may carry whatever its strategy, read by C and by the other policy files
  (tick_size / slippage_ticks: the PAPER and backtest fill model; bars_per_year: features.lua; flatten_on_kill:
  a kill closes the position; tick_interval_s: the bot's cadence; risk: risk.lua's per-bot limit overrides,
  an object checked against its `fields`). A strategy's own key of the same name wins.
OUTPUT
  validate -> true when every key is known and valid, else { field = "params.<key>[.<sub>]",
  reason_human = the rule, e.g. "params.qty must be an integer from 1 to 100" } for the first bad key in
  key order. An unknown key is { field = "params.<key>", reason_human = "params.<key> is not a parameter of
  strategy <s> (known: a, b, …)" }. A value the schema itself cannot judge (a schema entry without a known
  type) raises: the policy is wrong, not the request.
  defaults(schema) -> { <key> = default } of the entries that have one.
]]

local COMMON = {
  tick_size = { type = "number", default = 0.25, min = 1e-9, max = 1e6,
                description = "price increment of the contract, in points (PAPER and backtest fills)" },
  slippage_ticks = { type = "number", default = 1, min = 0, max = 1000,
                     description = "ticks of adverse slippage applied to simulated fills" },
  bars_per_year = { type = "number", default = 252 * 1380, min = 1, max = 1e9,
                    description = "bars in a year, to annualise realized volatility (features.lua)" },
  flatten_on_kill = { type = "boolean", default = false,
                      description = "a kill also closes the bot's open position" },
  tick_interval_s = { type = "integer", min = 1, max = 86400,
                      description = "seconds between ticks (default: the timeframe's bar length)" },
  risk = { type = "object", description = "per-bot risk limits: each may only tighten risk.lua's ceiling",
           fields = {
             max_contracts = { type = "integer", min = 1, max = 10000, description = "largest position" },
             max_daily_loss = { type = "number", min = 0, max = 1e12, description = "loss per day (USD)" },
             max_drawdown = { type = "number", min = 0, max = 1e12, description = "peak-to-trough loss (USD)" },
             max_orders_per_minute = { type = "integer", min = 1, max = 10000,
                                       description = "orders sent per minute" },
           } },
}

local NOUN = { integer = "an integer", number = "a number", string = "a string", boolean = "true or false",
               object = "an object" }

local function fmt(v)
  if math.type(v) == "float" and v == math.floor(v) and math.abs(v) < 1e15 then
    return ("%d"):format(v)
  end
  return tostring(v)
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  return keys
end

-- The rule of one entry as words: "params.qty must be an integer from 1 to 100".
local function rule(field, s)
  local noun = NOUN[s.type]
  if not noun then error(("lib.params: %s has unknown schema type %s"):format(field, tostring(s.type)), 3) end
  local words = field .. " must be " .. noun
  if s.enum then
    local shown = {}
    for i, v in ipairs(s.enum) do shown[i] = fmt(v) end
    return words .. " (one of " .. table.concat(shown, ", ") .. ")"
  elseif s.min and s.max then
    return ("%s from %s to %s"):format(words, fmt(s.min), fmt(s.max))
  elseif s.min then
    return ("%s of at least %s"):format(words, fmt(s.min))
  elseif s.max then
    return ("%s of at most %s"):format(words, fmt(s.max))
  end
  return words
end

local function type_ok(v, t)
  if t == "integer" then return math.type(v) ~= nil and math.tointeger(v) ~= nil end
  if t == "number" then return type(v) == "number" and v == v and math.abs(v) < math.huge end
  if t == "object" then return type(v) == "table" end
  return type(v) == t
end

local function in_enum(v, enum)
  for _, e in ipairs(enum) do if e == v then return true end end
  return false
end

local check_all

-- nil when v satisfies entry s, else the error table.
local function check(field, v, s)
  local bad = { field = field, reason_human = rule(field, s) }
  if not type_ok(v, s.type) then return bad end
  if s.type == "object" then return check_all(field, v, s.fields or {}, nil) end
  if s.enum and not in_enum(v, s.enum) then return bad end
  if s.min and v < s.min or s.max and v > s.max then return bad end
  return nil
end

-- The first error among params' keys against entries, or nil. strategy names the owner of an unknown key.
check_all = function(prefix, params, entries, strategy)
  for _, k in ipairs(sorted_keys(params)) do
    local field = prefix .. "." .. tostring(k)
    local s = entries[k]
    if type(k) ~= "string" or not s then
      local known = table.concat(sorted_keys(entries), ", ")
      local owner = strategy and ("strategy " .. strategy) or prefix
      return { field = field,
               reason_human = ("%s is not a parameter of %s (known: %s)"):format(field, owner, known) }
    end
    local e = check(field, params[k], s)
    if e then return e end
  end
  return nil
end

local function merged(schema)
  local all = {}
  for k, s in pairs(COMMON) do all[k] = s end
  for k, s in pairs(schema) do all[k] = s end
  return all
end

local function validate(schema, params, strategy)
  if schema == nil then return true end
  if type(schema) ~= "table" then error("lib.params.validate: schema must be a table or nil", 2) end
  if type(params) ~= "table" then
    return { field = "params", reason_human = "params must be an object" }
  end
  return check_all("params", params, merged(schema), tostring(strategy or "?")) or true
end

local function defaults(schema)
  local d = {}
  for k, s in pairs(schema) do
    if s.default ~= nil then d[k] = s.default end
  end
  return d
end

return { COMMON = COMMON, validate = validate, defaults = defaults }
