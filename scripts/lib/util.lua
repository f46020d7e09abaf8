--[[ lib/util.lua — small pure helpers shared by every policy as lib.util.

  EMPTY         a read-only empty table: the stand-in for an absent sub-table (writing to it raises), so
                `util.tbl(x).field` never fails on a missing x. Never return it as a result.
  tbl(v)        -> v when v is a table, else EMPTY
  num(v, d)     -> tonumber(v), or d when v is not a number (nil, a non-numeric string, NaN)
]]

local EMPTY = setmetatable({}, {
  __newindex = function(_, k) error("util.EMPTY is read-only (key '" .. tostring(k) .. "')", 2) end,
  __metatable = false,
})

local function tbl(v) return type(v) == "table" and v or EMPTY end

local function num(v, d)
  v = tonumber(v)
  if v == nil or v ~= v then return d end
  return v
end

return { EMPTY = EMPTY, tbl = tbl, num = num }
