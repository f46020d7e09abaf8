-- soak.lua — wrk script for bench/soak.pl and spec/e2e/70_soak_short.t: every connection mixes
--   70 % GET /api/integrations/status | /api/system/status (alternating),
--   15 % POST /api/integrations/verify {provider_id} (round robin over the providers),
--   15 % POST /api/bots/:id/tick (round robin over the bots; the service token, as runners send it).
-- Arguments (after --): cookie-or-"-"  origin  service-token  comma-separated-bot-ids  comma-separated-providers
-- Counts answers by status class per thread; done() prints "bench.<key> <value>" lines that BenchKit parses.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

local function split(s)
  local t = {}
  for x in string.gmatch(s or "", "[^,]+") do t[#t + 1] = x end
  return t
end

function init(args)
  cookie, origin, token = args[1], args[2], args[3]
  bots, providers = split(args[4]), split(args[5])
  n, s2, s3, s4, s5, s429, reads, verifies, ticks = 0, 0, 0, 0, 0, 0, 0, 0, 0
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "1", 16) % 1000)
end

local function headers(post, bearer)
  local h = {}
  if cookie ~= "-" then h["Cookie"] = cookie end
  if post then
    h["Content-Type"] = "application/json"
    h["Origin"] = origin
  end
  if bearer then h["Authorization"] = "Bearer " .. token end
  return h
end

function request()
  n = n + 1
  local r = math.random(100)
  if r <= 15 and #providers > 0 then
    verifies = verifies + 1
    local p = providers[(n % #providers) + 1]
    return wrk.format("POST", "/api/integrations/verify", headers(true), '{"provider_id":"' .. p .. '"}')
  elseif r <= 30 and #bots > 0 then
    ticks = ticks + 1
    return wrk.format("POST", "/api/bots/" .. bots[(n % #bots) + 1] .. "/tick", headers(true, true), "")
  end
  reads = reads + 1
  return wrk.format("GET", (n % 2 == 0) and "/api/integrations/status" or "/api/system/status", headers(false))
end

function response(status, hdrs, body)
  if status >= 500 then s5 = s5 + 1
  elseif status == 429 then s429 = s429 + 1
  elseif status >= 400 then s4 = s4 + 1
  elseif status >= 300 then s3 = s3 + 1
  else s2 = s2 + 1 end
end

function done(summary, latency, requests)
  local keys = { "s2", "s3", "s4", "s5", "s429", "reads", "verifies", "ticks" }
  local total = {}
  for _, k in ipairs(keys) do total[k] = 0 end
  for _, t in ipairs(threads) do
    for _, k in ipairs(keys) do total[k] = total[k] + (t:get(k) or 0) end
  end
  for _, k in ipairs(keys) do io.write(string.format("bench.%s %d\n", k, total[k])) end
end
