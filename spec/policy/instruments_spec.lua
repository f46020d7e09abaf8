--[[ instruments_spec.lua — policy spec for scripts/instruments.lua and scripts/lib/symbol.lua.
Run: bin/gatehouse spec spec/policy/instruments_spec.lua (inside the policy sandbox; TAP out).
Output: assertions through spec.ok / spec.is / spec.same. ]]

local I = spec.policy("scripts/instruments.lua")

local function mult(symbol, want_m, want_root)
  local m, root = I.multiplier_of(symbol)
  spec.is(m, want_m, symbol .. ": multiplier " .. tostring(want_m))
  spec.is(root, want_root, symbol .. ": root " .. want_root)
end

mult("ESZ6", 50, "ES")
mult("ES", 50, "ES")
mult("ES.c.0", 50, "ES")
mult("ES Z6", 50, "ES")
mult("esz26", 50, "ES")
mult("MES.Z6", 5, "MES")
mult("MESH7", 5, "MES")
mult("NQH7", 20, "NQ")
mult("MNQM7", 2, "MNQ")
mult("CLF7", 1000, "CL")
mult("GCG7", 100, "GC")
mult("ZNH7", nil, "ZN")
mult("6EH7", nil, "6E")
spec.ok(not pcall(I.multiplier_of, nil), "a nil symbol raises")
spec.ok(not pcall(I.multiplier_of, 5), "a number raises")
spec.is(lib.symbol.root_of("ESZ6"), "ES", "lib.symbol.root_of without a known table")
