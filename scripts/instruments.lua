--[[ instruments.lua — the contract table gatehouse values positions with (operator-edited).

INPUT
  multiplier_of(symbol)
    symbol = "ESZ6" | "ES" | "MES.Z6" | "ES.c.0" | "ES Z6" | … (a string; anything else raises). Its root
             (lib.symbol.root_of, the same parse as market_hours.lua's) picks the row of MULTIPLIERS.
OUTPUT
  The chunk returns { multipliers, multiplier_of }.
  multiplier_of(symbol) -> multiplier, root   (USD per point per contract)
                        -> nil, root          when the root is not listed: C then answers every money field
                                              of that symbol as null with unknown_reason
                                              "no contract multiplier for root XX in scripts/instruments.lua".
  Money in the API is USD = points x qty x multiplier − fees (docs/api.md, the trading routes).

SOURCE
  CME Group contract specifications: E-mini S&P 500 (ES) $50 x index, E-mini Nasdaq-100 (NQ) $20 x index,
  Micro E-mini S&P 500 (MES) $5, Micro E-mini Nasdaq-100 (MNQ) $2, WTI crude oil (CL) 1,000 barrels,
  gold (GC) 100 troy ounces. Add a row here before trading another root.
]]

local MULTIPLIERS = {
  ES = 50,
  NQ = 20,
  MES = 5,
  MNQ = 2,
  CL = 1000,
  GC = 100,
}

for root, m in pairs(MULTIPLIERS) do
  if type(m) ~= "number" or m <= 0 then
    error(("instruments.lua: multipliers.%s must be a positive number"):format(root), 0)
  end
end

local function multiplier_of(symbol)
  if type(symbol) ~= "string" then error("instruments.multiplier_of: symbol must be a string", 2) end
  local root = lib.symbol.root_of(symbol, MULTIPLIERS)
  return MULTIPLIERS[root], root
end

return { multipliers = MULTIPLIERS, multiplier_of = multiplier_of }
