--[[ lib/symbol.lua — futures symbol parsing shared by every policy as lib.symbol.

  root_of(symbol, known) -> root
    The root of a futures symbol: "ESZ6" → ES, "MES.Z6" → MES, "ES.c.0" → ES, "ES Z6" → ES, "6EH7" → 6E.
    symbol: a string (not a string → raises). known: optional table whose keys are roots; a leading word that
    is itself a known root is kept whole (so a root ending in a month letter and digits is not cut).
    The month-code suffix ([FGHJKMNQUVXZ] then one or two digits) is dropped otherwise.
]]

local function root_of(symbol, known)
  if type(symbol) ~= "string" then error("symbol.root_of: symbol must be a string", 2) end
  local s = symbol:upper():match("^%s*([%w]+)") or ""
  if type(known) == "table" and known[s] ~= nil then return s end
  local r = s:match("^(%w-)[FGHJKMNQUVXZ]%d%d?$")
  return r and r ~= "" and r or s
end

return { root_of = root_of }
