-- sandbox_spec.lua — what a policy can and cannot reach inside the gatehouse sandbox.
-- Input: none. Output: TAP assertions through the `spec` module (run by `gatehouse spec`).

local G = _G

-- _G is a read-only proxy of the globals (rawget sees nothing in it): a global is available when reading it
-- through _G does not raise the strict "undefined global" error.
local function global(name)
  local ok, v = pcall(function() return G[name] end)
  if ok then return v end
  return nil
end

for _, name in ipairs({ "io", "os", "debug", "package", "require", "load", "loadfile", "dofile",
                        "print", "rawset", "collectgarbage" }) do
  spec.is(global(name), nil, name .. " is not available to policies")
end
spec.is(string.dump, nil, "string.dump is removed")
spec.is(("x").dump, nil, "string.dump is not reachable through the string metatable either")

for _, name in ipairs({ "string", "table", "math", "utf8", "cjson", "rt", "pairs", "ipairs", "pcall",
                        "error", "type", "tostring", "tonumber", "select", "setmetatable", "rawget" }) do
  spec.ok(global(name) ~= nil, name .. " is available")
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

-- issue 19: the libraries are read-only proxies and every file has its own environment, so no policy file
-- can change what another one sees.
for _, lib in ipairs({ "string", "table", "math", "utf8", "cjson", "rt", "lib", "spec" }) do
  ok, err = pcall(function() G[lib].injected = 1 end)
  spec.ok(not ok and tostring(err):find("attempt to modify read-only table '" .. lib .. "'", 1, true),
          lib .. " is read-only")
  spec.is(getmetatable(G[lib]), false, "the metatable of " .. lib .. " is hidden")
end
ok, err = pcall(function() math.floor = function() return 0 end end)
spec.ok(not ok and tostring(err):find("attempt to modify read-only table 'math' (key 'floor')", 1, true),
        "math.floor cannot be replaced")
ok = pcall(function() G.math = {} end)
spec.ok(not ok, "_G.math cannot be replaced")
ok, err = pcall(function() math = {} end)
spec.ok(not ok and tostring(err):find("assignment to global 'math'", 1, true), "math cannot be reassigned")
spec.is(getmetatable(""), false, "getmetatable(\"\") does not hand out the string library")
ok = pcall(function() getmetatable("").__index.upper = nil end)
spec.ok(not ok, "the string methods cannot be reached through the string metatable")
spec.is(("abc"):upper(), "ABC", "string methods still work")
local n = 0
for _ in pairs(math) do n = n + 1 end
spec.ok(n > 20, "pairs() iterates a frozen library")
spec.is(#{ table.unpack({ 1, 2, 3 }) }, 3, "frozen libraries keep working")
spec.same({ cjson.encode_sparse_array, cjson.encode_max_depth, cjson.new }, {},
          "cjson's state-wide setters are not exposed")
spec.is(type(lib), "table", "lib (scripts/lib/*.lua) is available")

local decoded = cjson.decode('{"a":[1,2,3],"b":"x"}')
spec.same(decoded, { a = { 1, 2, 3 }, b = "x" }, "cjson.decode works")
spec.is(cjson.decode("{not json"), nil, "cjson is the safe variant: bad input returns nil")
spec.is(type(rt.now()), "number", "rt.now returns a number")
spec.ok(rt.now() > 1.7e9, "rt.now is wall-clock seconds")
ok = pcall(rt.log, "loud", "x")
spec.ok(not ok, "rt.log rejects an unknown level")

-- issue 21: string.find/match/gmatch/gsub are the sandbox's bounded matcher. Normal patterns behave as in Lua.
spec.same({ ("key = value"):find("(%w+)%s*=%s*(%w+)") }, { 1, 11, "key", "value" }, "find with captures")
spec.same({ ("hello world"):find("o w", 1, true) }, { 5, 7 }, "plain find")
spec.same({ ("hello"):find("l", -2) }, { 4, 4 }, "find from a negative init")
spec.is(("hello"):find("x"), nil, "find without a match returns nil")
spec.same({ ("2026-12-06"):match("^(%d+)%-(%d+)%-(%d+)$") }, { "2026", "12", "06" }, "match with anchored captures")
spec.same({ ("abc"):match("()b()") }, { 2, 3 }, "position captures")
spec.is(("f(a(b)c)d"):match("%b()"), "(a(b)c)", "%b balanced match")
spec.same({ ("THE (quick) fox"):find("%f[%a]%a+%f[%A]", 5) }, { 6, 10 }, "frontier pattern")
spec.is(("hello hello"):match("(h%a+) %1"), "hello", "back-reference %1")
spec.same({ ("a,b,,c"):gsub(",", ";") }, { "a;b;;c", 3 }, "gsub with a string")
spec.same({ ("abc"):gsub("%w", "%0%0") }, { "aabbcc", 3 }, "gsub with %0")
spec.same({ ("hello world"):gsub("(%w+)", "<%1>", 1) }, { "<hello> world", 1 }, "gsub with a limit")
spec.same({ ("$name is $age"):gsub("%$(%w+)", { name = "bob", age = 42 }) }, { "bob is 42", 2 }, "gsub with a table")
spec.same({ ("1 2 3"):gsub("%d", function(d) return tostring(d * 2) end) }, { "2 4 6", 3 }, "gsub with a function")
spec.same({ ("abc"):gsub("", "-") }, { "-a-b-c-", 4 }, "gsub with an empty pattern")
local words = {}
for k, v in ("a=1, b=2, c=3"):gmatch("(%w+)=(%w+)") do words[#words + 1] = k .. v end
spec.same(words, { "a1", "b2", "c3" }, "gmatch iteration with captures")
local n = 0
for _ in string.gmatch("one two three", "%a+") do n = n + 1 end
spec.is(n, 3, "gmatch without captures")
spec.is(string.match("  trim me  ", "^%s*(.-)%s*$"), "trim me", "lazy .- trimming")
spec.is(("[x]"):match("[%[%]]"), "[", "escaped brackets in a set")
spec.is(("x-9"):match("[a-z]%-[0-9]"), "x-9", "ranges in sets")
ok, err = pcall(string.find, "x", "[a")
spec.ok(not ok and tostring(err):find("malformed pattern", 1, true), "malformed patterns raise as in Lua")
ok, err = pcall(string.rep, "x", 1) -- keeps the library reachable
spec.ok(ok, "string.rep still works")

-- A pathological pattern raises instead of running for seconds inside one C call.
local t0 = rt.now()
ok, err = pcall(string.find, string.rep("a", 30) .. "b", ("a?"):rep(30) .. ("a"):rep(30))
spec.ok(not ok and tostring(err):find("pattern", 1, true), "a backtracking pattern raises: " .. tostring(err))
spec.ok(rt.now() - t0 < 1, "within a second")
t0 = rt.now()
ok, err = pcall(function() return string.rep("x", 20000):match(".-.-.-.-y") end)
spec.ok(not ok and tostring(err):find("pattern", 1, true), "nested .- on a long subject raises: " .. tostring(err))
ok, err = pcall(function() return string.rep("a", 5000):gsub("a*a*a*b", "") end)
spec.ok(not ok, "gsub with a backtracking pattern raises")
ok, err = pcall(function() for _ in string.rep("a", 5000):gmatch("a-a-a-b") do end end)
spec.ok(not ok, "gmatch with a backtracking pattern raises")
spec.ok(rt.now() - t0 < 2, "all within two seconds")

-- issue 21: no finalizers, no to-be-closed handlers (they run outside the budgets).
ok, err = pcall(setmetatable, {}, { __gc = function() end })
spec.ok(not ok and tostring(err):find("__gc", 1, true), "setmetatable refuses __gc")
ok, err = pcall(setmetatable, {}, { __close = function() end })
spec.ok(not ok and tostring(err):find("__close", 1, true), "setmetatable refuses __close")
local mt = { __index = function() return 1 end }
spec.is(setmetatable({}, mt).x, 1, "other metatables still work")
spec.is(("a\0b"):find("%z"), 2, "%z (deprecated in Lua, still accepted) is the NUL byte")
