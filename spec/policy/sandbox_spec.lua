-- sandbox_spec.lua — what a policy can and cannot reach inside the gatehouse sandbox.
-- Input: none. Output: TAP assertions through the `spec` module (run by `gatehouse spec`).

local G = _G

for _, name in ipairs({ "io", "os", "debug", "package", "require", "load", "loadfile", "dofile",
                        "print", "rawset", "collectgarbage" }) do
  spec.is(rawget(G, name), nil, name .. " is not available to policies")
end
spec.is(string.dump, nil, "string.dump is removed")
spec.is(("x").dump, nil, "string.dump is not reachable through the string metatable either")

for _, name in ipairs({ "string", "table", "math", "utf8", "cjson", "rt", "pairs", "ipairs", "pcall",
                        "error", "type", "tostring", "tonumber", "select", "setmetatable", "rawget" }) do
  spec.ok(rawget(G, name) ~= nil, name .. " is available")
end

local ok, err = pcall(function() return undefined_name end)
spec.ok(not ok and tostring(err):find("read of undefined global 'undefined_name'", 1, true),
        "reading an undefined global raises")
ok, err = pcall(function() new_global = 1 end)
spec.ok(not ok and tostring(err):find("assignment to global 'new_global'", 1, true),
        "assigning a global raises")
ok = pcall(setmetatable, G, nil)
spec.ok(not ok, "the strict metatable of _G cannot be removed")
spec.is(getmetatable(G), false, "the metatable of _G is hidden")

local decoded = cjson.decode('{"a":[1,2,3],"b":"x"}')
spec.same(decoded, { a = { 1, 2, 3 }, b = "x" }, "cjson.decode works")
spec.is(cjson.decode("{not json"), nil, "cjson is the safe variant: bad input returns nil")
spec.is(type(rt.now()), "number", "rt.now returns a number")
spec.ok(rt.now() > 1.7e9, "rt.now is wall-clock seconds")
ok = pcall(rt.log, "loud", "x")
spec.ok(not ok, "rt.log rejects an unknown level")
