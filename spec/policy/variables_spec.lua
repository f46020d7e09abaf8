--[[ variables_spec.lua — policy spec for scripts/variables.lua and its C validator.
Run: bin/gatehouse spec spec/policy/variables_spec.lua (inside the policy sandbox; TAP out).
Input: spec.policy("scripts/variables.lua"), spec.policy("scripts/features.lua"), spec.policy("providers.lua")
and the strategies; spec.validate_variables(tbl, providers_tbl) is the validator policy loads run.
Output: assertions through spec.ok / spec.is / spec.same; the runner prints the plan. ]]

local V = spec.policy("scripts/variables.lua")
local P = spec.policy("providers.lua")
local ok, err = spec.validate_variables(V, P)
spec.ok(ok == true, "the C validator accepts scripts/variables.lua" .. (err and (": " .. tostring(err)) or ""))
spec.is(V.schema_version, 1, "schema_version is 1")
spec.same(V.categories, { "market_data", "execution", "risk", "ai" }, "the four groups of PRODUCT.md §6")

local by_name, per_category = {}, {}
for _, v in ipairs(V.variables) do
  by_name[v.name] = v
  per_category[v.category] = (per_category[v.category] or 0) + 1
end
for _, c in ipairs(V.categories) do
  spec.ok((per_category[c] or 0) > 0, "category " .. c .. " has variables")
end

-- Every feature features.lua computes is declared, as a number served by the market-data live stack.
local F = spec.policy("scripts/features.lua")
for _, k in ipairs(F.keys) do
  local v = by_name[k] or {}
  spec.ok(v.category == "market_data" and v.source == "market_data" and v.variable_type == "number",
          "feature " .. k .. " is a market_data number from the market-data live stack")
end

-- The groups PRODUCT.md §6 names (OHLCV, VWAP, ATR, returns, volatility, session markers; fill latency,
-- slippage, position, exposure; max contracts, drawdown, violation flags; sentiment, regime, commentary).
local expected = {
  market_data = { "open", "high", "low", "close", "volume", "vwap", "atr_14", "ret_1", "realized_vol_20",
                  "minute_of_day_ct", "market_session", "market_open" },
  execution = { "fill_latency_ms", "slippage_ticks", "position_qty", "exposure_contracts" },
  risk = { "max_contracts", "drawdown", "violation_max_contracts", "violation_market_closed", "risk_allowed" },
  ai = { "llm_sentiment", "llm_regime", "llm_commentary" },
}
for cat, names in pairs(expected) do
  for _, n in ipairs(names) do
    spec.is(by_name[n] and by_name[n].category, cat, n .. " is declared under " .. cat)
  end
end
spec.is(by_name.llm_regime.source, "llm", "llm_regime comes from the LLM live stack")
spec.is(by_name.market_open.variable_type, "bool", "market_open is a bool")
spec.is(by_name.market_session.variable_type, "string", "market_session is a string")
spec.is(by_name.max_contracts.source, "risk_engine", "max_contracts comes from the risk engine")

-- Every key the shipped strategies put in feature_keys_used is declared (C records exactly these names).
local function flat_bars(n)
  local bars = {}
  for i = 1, n do bars[i] = { t = 1795534200 + 60 * i, o = 100, h = 101 + i % 3, l = 99 - i % 2, c = 100 + i % 5, v = 10 } end
  return bars
end
local feats = F.compute(flat_bars(60))
for _, s in ipairs({ "sma_cross", "atr_band", "llm_regime" }) do
  local S = spec.policy("scripts/strategies/" .. s .. ".lua")
  local d = S.decide({ features = feats, prev_features = feats, position = { qty = 0 }, params = {},
                       llm = { regime = "range", model = "m" } })
  local undeclared = {}
  for _, k in ipairs(d.feature_keys_used or {}) do
    if not by_name[k] then undeclared[#undeclared + 1] = k end
  end
  spec.ok(#(d.feature_keys_used or {}) > 0, s .. " reports feature_keys_used")
  spec.same(undeclared, {}, s .. ": every feature key it uses is declared")
end

-- No value ever: entries hold only the catalog fields.
local fields = { name = true, category = true, source = true, variable_type = true, description = true, state = true }
local extra = {}
for _, v in ipairs(V.variables) do
  for k in pairs(v) do if not fields[k] then extra[#extra + 1] = v.name .. "." .. k end end
end
spec.same(extra, {}, "entries carry catalog fields only (no values)")

---------------------------------------------------------------------------------------------------
-- The validator: each malformed declaration is refused with an error naming the entry
---------------------------------------------------------------------------------------------------

local function copy(t)
  local r = {}
  for k, x in pairs(t) do r[k] = type(x) == "table" and copy(x) or x end
  return r
end

local function with(mutate)
  local doc = copy(V)
  mutate(doc)
  return spec.validate_variables(doc, P)
end

local function refused(desc, pattern, mutate)
  local good, why = with(mutate)
  spec.ok(good == nil and type(why) == "string" and why:find(pattern) ~= nil,
          desc .. " → refused (" .. tostring(why) .. ")")
end

refused("unknown source", "variables%[3%] %(low%): source 'polgon'", function(d) d.variables[3].source = "polgon" end)
refused("bad variable_type", "variable_type must be number, bool or string",
        function(d) d.variables[1].variable_type = "float" end)
refused("duplicate name", "variables%[2%] %(open%): name 'open' is declared twice",
        function(d) d.variables[2].name = "open" end)
refused("upper-case name", "name must match", function(d) d.variables[1].name = "Close" end)
refused("category not listed", "category must be one of the listed categories",
        function(d) d.variables[1].category = "sentiment" end)
refused("empty description", "description must be a non%-empty string", function(d) d.variables[1].description = "" end)
refused("unknown state", "state must be ACTIVE or DEPRECATED", function(d) d.variables[1].state = "RETIRED" end)
refused("misspelt field", "unknown field 'decription'", function(d) d.variables[1].decription = "x" end)
refused("schema_version", "schema_version must be 1", function(d) d.schema_version = 2 end)
refused("no variables", "variables must be a list", function(d) d.variables = {} end)
refused("duplicate category", "is listed twice", function(d) d.categories[2] = "market_data" end)

local good = with(function(d) d.variables[1].state = nil end)
spec.ok(good == true, "state may be omitted (ACTIVE)")
good = with(function(d) d.variables[1].source = "fred" end)
spec.ok(good == true, "a provider id of providers.lua is a valid source")
local no_registry = spec.validate_variables(copy(V))
spec.ok(no_registry == true, "without a registry the catalog still validates (it names no provider id)")
local refused_id, why = spec.validate_variables((function()
  local d = copy(V)
  d.variables[1].source = "fred"
  return d
end)())
spec.ok(refused_id == nil and tostring(why):find("source 'fred'") ~= nil,
        "a provider id is unknown without a registry (" .. tostring(why) .. ")")
