--[[ params_spec.lua — policy spec for scripts/lib/params.lua (lib.params) and the strategies' schemas.
Run: bin/gatehouse spec spec/policy/params_spec.lua (inside the policy sandbox; TAP out).
Input: lib.params and fresh loads of the three strategies; hand-written params, valid and not.
Output: assertions through spec.ok / spec.is / spec.same: validate's verdict (true, or the first bad field with
the rule in words), defaults, and every strategy's schema entries well formed with `params` = their defaults. ]]

local P = lib.params
local SMA = spec.policy("scripts/strategies/sma_cross.lua")
local ATR = spec.policy("scripts/strategies/atr_band.lua")
local LLM = spec.policy("scripts/strategies/llm_regime.lua")

local function bad(schema, params, field, reason, desc)
  local r = P.validate(schema, params, "s")
  spec.same(type(r) == "table" and { r.field, r.reason_human } or r, { field, reason }, desc)
end

spec.is(P.validate(SMA.schema, {}, "sma_cross"), true, "no params: valid (the defaults apply)")
spec.is(P.validate(SMA.schema, { qty = 3, fast = 5, slow = 20 }, "sma_cross"), true, "every key in range")
spec.is(P.validate(SMA.schema, { qty = 2.0 }, "sma_cross"), true, "an integral float is an integer (JSON 2.0)")
spec.is(P.validate(nil, { anything = { 1, 2 } }, "flip"), true, "no schema: params are not checked")
bad(SMA.schema, { qty = 0 }, "params.qty", "params.qty must be an integer from 1 to 100", "qty 0")
bad(SMA.schema, { qty = 101 }, "params.qty", "params.qty must be an integer from 1 to 100", "qty 101")
bad(SMA.schema, { qty = 1.5 }, "params.qty", "params.qty must be an integer from 1 to 100", "qty 1.5")
bad(SMA.schema, { qty = "1" }, "params.qty", "params.qty must be an integer from 1 to 100", "qty a string")
bad(ATR.schema, { k = 0 }, "params.k", "params.k must be a number from 0.1 to 10", "k 0")
bad(ATR.schema, { k = 0 / 0 }, "params.k", "params.k must be a number from 0.1 to 10", "k NaN")
bad(SMA.schema, { zeta = 1, alpha = 1 }, "params.alpha",
    "params.alpha is not a parameter of strategy s (known: bars_per_year, fast, flatten_on_kill, qty, risk, "
      .. "slippage_ticks, slow, tick_interval_s, tick_size)", "the first unknown key in key order")
bad(SMA.schema, { flatten_on_kill = 1 }, "params.flatten_on_kill", "params.flatten_on_kill must be true or false",
    "a common boolean")
bad(SMA.schema, { risk = 5 }, "params.risk", "params.risk must be an object", "risk not an object")
bad(SMA.schema, { risk = { max_contracts = 0 } }, "params.risk.max_contracts",
    "params.risk.max_contracts must be an integer from 1 to 10000", "inside risk")
bad(SMA.schema, { risk = { nope = 1 } }, "params.risk.nope",
    "params.risk.nope is not a parameter of params.risk (known: max_contracts, max_daily_loss, max_drawdown, "
      .. "max_orders_per_minute)", "an unknown key inside risk")
bad({ mode = { type = "string", enum = { "a", "b" } } }, { mode = "c" }, "params.mode",
    "params.mode must be a string (one of a, b)", "enum")
bad({ n = { type = "number", min = 0 } }, { n = -1 }, "params.n", "params.n must be a number of at least 0", "min only")
spec.same(P.defaults({ a = { type = "integer", default = 3 }, b = { type = "string" } }), { a = 3 }, "defaults")

for _, S in ipairs({ SMA, ATR, LLM }) do
  spec.same(S.params, P.defaults(S.schema), S.name .. ": params are the schema's defaults")
  spec.is(type(S.description), "string", S.name .. ": a description")
  for key, e in pairs(S.schema) do
    spec.ok(type(e.description) == "string" and e.default ~= nil and e.min and e.max, S.name .. "." .. key ..
            ": type, default, min, max, description")
    spec.is(P.validate(S.schema, { [key] = e.default }, S.name), true, S.name .. "." .. key .. ": its default is valid")
  end
end
