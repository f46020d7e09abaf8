--[[ providers_spec.lua — policy spec for providers.lua.
Run: bin/gatehouse spec spec/policy/providers_spec.lua (inside the policy sandbox; TAP out).
Input: spec.policy("providers.lua") (a fresh load per call), spec.validate_providers (the C validator).
Output: assertions through spec.ok / spec.is / spec.same; the runner prints the plan.
Expected values are written out literally from PRODUCT.md §2 and reference/provider-apis.md. ]]

local P = spec.policy("providers.lua")
local ok, err = spec.validate_providers(P)
spec.ok(ok == true, "the C validator accepts providers.lua" .. (err and (": " .. tostring(err)) or ""))
spec.is(P.schema_version, 1, "schema_version is 1")
spec.same(P.categories, { "market_data", "execution", "llm", "alt_data", "infra", "alerts" }, "categories")

---------------------------------------------------------------------------------------------------
-- Registry contents (PRODUCT.md §2, in table order)
---------------------------------------------------------------------------------------------------

local EXPECTED = {
  { id = "databento", category = "market_data", required = { "DATABENTO_API_KEY" },
    optional = { "DATABENTO_BASE_URL", "DATABENTO_DATASET" } },
  { id = "polygon", category = "market_data", required = { "POLYGON_API_KEY" },
    optional = { "MASSIVE_API_KEY", "POLYGON_BASE_URL" } },
  { id = "finnhub", category = "market_data", required = { "FINNHUB_API_KEY" },
    optional = { "FINNHUB_BASE_URL" } },
  { id = "alphavantage", category = "market_data", required = { "ALPHAVANTAGE_API_KEY" },
    optional = { "ALPHAVANTAGE_BASE_URL" } },
  { id = "fmp", category = "market_data", required = { "FMP_API_KEY" }, optional = { "FMP_BASE_URL" } },
  { id = "fred", category = "market_data", required = { "FRED_API_KEY" }, optional = { "FRED_BASE_URL" } },
  { id = "ironbeam", category = "execution",
    required = { "IRONBEAM_USERNAME", "IRONBEAM_PASSWORD", "IRONBEAM_API_KEY" },
    optional = { "IRONBEAM_ENV", "IRONBEAM_BASE_URL" } },
  { id = "tradovate", category = "execution",
    required = { "TRADOVATE_USERNAME", "TRADOVATE_PASSWORD", "TRADOVATE_APP_ID", "TRADOVATE_CID", "TRADOVATE_SECRET" },
    optional = { "TRADOVATE_APP_VERSION", "TRADOVATE_DEVICE_ID", "TRADOVATE_ENV", "TRADOVATE_BASE_URL" } },
  { id = "openai", category = "llm", required = { "OPENAI_API_KEY" },
    optional = { "OPENAI_ORG_ID", "OPENAI_PROJECT_ID", "OPENAI_BASE_URL" } },
  { id = "anthropic", category = "llm", required = { "ANTHROPIC_API_KEY" }, optional = { "ANTHROPIC_BASE_URL" } },
  { id = "google_gemini", category = "llm", required = { "GEMINI_API_KEY" },
    optional = { "GOOGLE_API_KEY", "GEMINI_BASE_URL" } },
  { id = "groq", category = "llm", required = { "GROQ_API_KEY" }, optional = { "GROQ_BASE_URL" } },
  { id = "xai", category = "llm", required = { "XAI_API_KEY" }, optional = { "XAI_BASE_URL" } },
  { id = "openrouter", category = "llm", required = { "OPENROUTER_API_KEY" }, optional = { "OPENROUTER_BASE_URL" } },
  { id = "unusual_whales", category = "alt_data", required = { "UNUSUAL_WHALES_API_KEY" },
    optional = { "UW_API_KEY", "UNUSUAL_WHALES_BASE_URL" } },
  { id = "redis", category = "infra", required = { "REDIS_URL" }, optional = {} },
  { id = "discord", category = "alerts", required = { "DISCORD_WEBHOOK_URL" }, optional = {} },
}

spec.is(#P.providers, 17, "17 providers")
local ids, by_id = {}, {}
for i, p in ipairs(P.providers) do
  ids[i] = p.id
  by_id[p.id] = p
end
local expected_ids = {}
for i, e in ipairs(EXPECTED) do expected_ids[i] = e.id end
spec.same(ids, expected_ids, "provider ids, in PRODUCT.md order")

for _, e in ipairs(EXPECTED) do
  local p = by_id[e.id] or {}
  spec.is(p.category, e.category, e.id .. ": category")
  spec.same(p.required_env_vars, e.required, e.id .. ": required_env_vars")
  spec.same(p.optional_env_vars, e.optional, e.id .. ": optional_env_vars")
  spec.ok(type(p.label) == "string" and p.label ~= "", e.id .. ": has a label")
  spec.ok(type(p.role) == "string" and p.role ~= "", e.id .. ": has a role")
  spec.ok(type(p.docs_url) == "string" and p.docs_url:find("^https://") ~= nil, e.id .. ": docs_url is https")
end

spec.same(P.priority, {
  market_data = { "databento", "polygon", "finnhub", "alphavantage" },
  execution   = { "ironbeam", "tradovate" },
  llm         = { "openai", "anthropic", "google_gemini", "groq", "openrouter", "xai" },
}, "priority orders (fmp and fred are not bar feeds)")

spec.same(by_id.polygon.aliases, { POLYGON_API_KEY = "MASSIVE_API_KEY" }, "polygon alias MASSIVE_API_KEY")
spec.same(by_id.google_gemini.aliases, { GEMINI_API_KEY = "GOOGLE_API_KEY" }, "gemini alias GOOGLE_API_KEY")
spec.is(by_id.google_gemini.prefer_alias, true, "gemini: GOOGLE_API_KEY wins when both are set (Google docs)")
spec.same(by_id.unusual_whales.aliases, { UNUSUAL_WHALES_API_KEY = "UW_API_KEY" }, "unusual_whales alias UW_API_KEY")

local AUTONOMY = {
  databento = true, polygon = true, ironbeam = true,
  finnhub = false, alphavantage = false, fmp = false, fred = false, tradovate = false,
  openai = false, anthropic = false, google_gemini = false, groq = false, xai = false, openrouter = false,
  unusual_whales = false, redis = false, discord = false,
}
for id, want in pairs(AUTONOMY) do
  spec.is(by_id[id].required_for_autonomy, want, id .. ": required_for_autonomy = " .. tostring(want))
end

---------------------------------------------------------------------------------------------------
-- Hosts and probes: real hosts, real paths, nothing with side effects
---------------------------------------------------------------------------------------------------

local BASE = {
  databento = "https://hist.databento.com", polygon = "https://api.polygon.io", finnhub = "https://finnhub.io",
  alphavantage = "https://www.alphavantage.co", fmp = "https://financialmodelingprep.com",
  fred = "https://api.stlouisfed.org", ironbeam = "https://demo.ironbeamapi.com",
  tradovate = "https://demo.tradovateapi.com", openai = "https://api.openai.com/v1",
  anthropic = "https://api.anthropic.com", google_gemini = "https://generativelanguage.googleapis.com",
  groq = "https://api.groq.com", xai = "https://api.x.ai/v1", openrouter = "https://openrouter.ai/api/v1",
  unusual_whales = "https://api.unusualwhales.com",
}
for _, e in ipairs(EXPECTED) do
  local p = by_id[e.id]
  spec.is(p.default_base_url, BASE[e.id], e.id .. ": default_base_url")
  if BASE[e.id] then
    local override = nil
    for _, v in ipairs(e.optional) do
      if v:find("_BASE_URL$") then override = v end
    end
    spec.is(p.base_url_env, override, e.id .. ": base_url_env is its *_BASE_URL")
  else
    spec.is(p.base_url_env, nil, e.id .. ": no base URL override (URL lives in the secret)")
  end
end

spec.same(by_id.ironbeam.env_hosts, { selector_env = "IRONBEAM_ENV", default = "demo",
  hosts = { demo = "https://demo.ironbeamapi.com", live = "https://live.ironbeamapi.com" } }, "ironbeam demo/live hosts")
spec.same(by_id.tradovate.env_hosts, { selector_env = "TRADOVATE_ENV", default = "demo",
  hosts = { demo = "https://demo.tradovateapi.com", live = "https://live.tradovateapi.com" } }, "tradovate demo/live hosts")

-- method, path and auth scheme of every step, in order.
local PROBES = {
  databento = { { "GET", "/v0/metadata.list_datasets", "basic" } },
  polygon = { { "GET", "/v1/marketstatus/now", "bearer" } },
  finnhub = { { "GET", "/api/v1/quote", "header" } },
  alphavantage = { { "GET", "/query", "query" } },
  fmp = { { "GET", "/stable/quote", "query" } },
  fred = { { "GET", "/fred/series", "query" } },
  ironbeam = { { "POST", "/v2/auth", "json_body" }, { "GET", "/v2/info/trader", "token_from" },
               { "POST", "/v2/logout", "token_from" } },
  tradovate = { { "POST", "/v1/auth/accesstokenrequest", "json_body" }, { "GET", "/v1/auth/me", "token_from" } },
  openai = { { "GET", "/models", "bearer" } },
  anthropic = { { "GET", "/v1/models", "header" } },
  google_gemini = { { "GET", "/v1beta/models", "header" } },
  groq = { { "GET", "/openai/v1/models", "bearer" } },
  xai = { { "GET", "/api-key", "bearer" } },
  openrouter = { { "GET", "/key", "bearer" } },
  unusual_whales = { { "GET", "/api/stock/AAPL/info", "bearer" } },
  redis = { { nil, nil, "resp" } },
  discord = { { "GET", nil, "url_env" } },
}
for _, e in ipairs(EXPECTED) do
  local p = by_id[e.id]
  spec.is(p.supports_verify, true, e.id .. ": supports_verify")
  local got = {}
  for i, s in ipairs(p.verify.steps) do got[i] = { s.method, s.path, s.auth.scheme } end
  spec.same(got, PROBES[e.id], e.id .. ": probe steps (method, path, auth scheme)")
  spec.ok(math.type(p.verify.timeout_ms) == "integer" and p.verify.timeout_ms > 0 and p.verify.timeout_ms <= 10000,
    e.id .. ": verify timeout is a strict integer deadline <= 10 s")
  -- every variable a probe reads is declared by the provider
  local declared = {}
  for _, v in ipairs(p.required_env_vars) do declared[v] = true end
  for _, v in ipairs(p.optional_env_vars) do declared[v] = true end
  local undeclared = {}
  for _, s in ipairs(p.verify.steps) do
    local a = s.auth
    local refs = { a.env, a.user_env, a.password_env }
    for _, f in ipairs({ "fields", "optional_fields" }) do
      for _, v in pairs(a[f] or {}) do refs[#refs + 1] = v end
    end
    for _, v in pairs(s.env_headers or {}) do refs[#refs + 1] = v end
    for _, v in pairs(refs) do
      if not declared[v] then undeclared[#undeclared + 1] = v end
    end
    spec.ok(s.path == nil or not s.path:lower():find("order", 1, true), e.id .. "/" .. s.name .. ": never touches orders")
  end
  spec.same(undeclared, {}, e.id .. ": probes read only declared variables")
end

spec.same(by_id.databento.verify.steps[1].auth,
  { scheme = "basic", user_env = "DATABENTO_API_KEY", password = "" }, "databento: Basic, key as user, empty password")
spec.same(by_id.finnhub.verify.steps[1].auth,
  { scheme = "header", header = "X-Finnhub-Token", env = "FINNHUB_API_KEY" }, "finnhub: X-Finnhub-Token header")
spec.same(by_id.alphavantage.verify.steps[1].query, { ["function"] = "GLOBAL_QUOTE", symbol = "IBM" }, "alphavantage: GLOBAL_QUOTE IBM")
spec.same(by_id.fred.verify.steps[1].query, { series_id = "GNPCA", file_type = "json" }, "fred: GNPCA as JSON")
spec.same(by_id.fred.verify.steps[1].auth, { scheme = "query", param = "api_key", env = "FRED_API_KEY" }, "fred: api_key query")
spec.same(by_id.anthropic.verify.steps[1].headers, { ["anthropic-version"] = "2023-06-01" }, "anthropic: version header")
spec.is(by_id.anthropic.verify.steps[1].auth.header, "x-api-key", "anthropic: x-api-key")
spec.is(by_id.google_gemini.verify.steps[1].auth.header, "x-goog-api-key", "gemini: x-goog-api-key")
spec.is(by_id.redis.verify.steps[1].command, "PING", "redis: PING")
spec.is(by_id.redis.verify.steps[1].expect, "+PONG", "redis: expects +PONG")
spec.is(by_id.discord.verify.steps[1].method, "GET", "discord: GET only, never POST")

spec.same(by_id.ironbeam.verify.steps[1].auth.fields,
  { username = "IRONBEAM_USERNAME", password = "IRONBEAM_PASSWORD", apiKey = "IRONBEAM_API_KEY" }, "ironbeam: auth body")
spec.same(by_id.ironbeam.verify.steps[2].auth,
  { scheme = "token_from", step = "auth", json_field = "token", header = "Authorization", prefix = "Bearer " },
  "ironbeam: trader uses the auth token")
spec.is(by_id.ironbeam.verify.steps[3].always_run, true, "ironbeam: logout always runs")

local tv = by_id.tradovate
spec.same(tv.verify.steps[1].auth.fields, { name = "TRADOVATE_USERNAME", password = "TRADOVATE_PASSWORD",
  appId = "TRADOVATE_APP_ID", cid = "TRADOVATE_CID", sec = "TRADOVATE_SECRET" }, "tradovate: access token body")
spec.same(tv.verify.steps[1].auth.optional_fields,
  { appVersion = "TRADOVATE_APP_VERSION", deviceId = "TRADOVATE_DEVICE_ID" }, "tradovate: optional body fields")
spec.is(tv.verify.steps[2].auth.json_field, "accessToken", "tradovate: /auth/me uses accessToken")
spec.is(tv.no_retry, true, "tradovate: no_retry (lock-out after bad logins)")
for _, s in ipairs(tv.verify.steps) do
  spec.is(s.retry, false, "tradovate/" .. s.name .. ": retry = false")
end

---------------------------------------------------------------------------------------------------
-- Secrets, limits, TTLs, templates
---------------------------------------------------------------------------------------------------

for _, e in ipairs(EXPECTED) do
  local p = by_id[e.id]
  local declared = {}
  for _, v in ipairs(e.required) do declared[v] = true end
  for _, v in ipairs(e.optional) do declared[v] = true end
  for _, v in ipairs(p.public_env_vars) do
    spec.ok(declared[v] and (v:find("_BASE_URL$") or v:find("_ENV$") or v == "DATABENTO_DATASET"
      or v == "TRADOVATE_APP_VERSION"), e.id .. ": " .. v .. " may be public (not a credential)")
  end
  for _, v in ipairs(e.required) do
    local public = false
    for _, pv in ipairs(p.public_env_vars) do public = public or pv == v end
    spec.ok(not public, e.id .. ": required " .. v .. " is treated as secret")
  end
  local rl = p.rate_limit or {}
  spec.ok(math.type(rl.requests_per_s) == "integer" and rl.requests_per_s > 0
    and math.type(rl.burst) == "integer" and rl.burst > 0
    and math.type(rl.max_concurrency) == "integer" and rl.max_concurrency > 0, e.id .. ": rate_limit positive integers")
  spec.ok(math.type(p.verify_ttl_s) == "integer" and p.verify_ttl_s > 0, e.id .. ": verify_ttl_s positive integer")

  spec.ok(p.suggested_fix:find("${MISSING}", 1, true) ~= nil, e.id .. ": suggested_fix names ${MISSING}")
  local si = p.setup_instructions
  for _, v in ipairs(e.required) do
    spec.ok(si:find(v, 1, true) ~= nil, e.id .. ": setup_instructions name " .. v)
  end
  spec.ok(si:find("Replit", 1, true) and si:find("EnvironmentFile", 1, true) and si:find(".env", 1, true),
    e.id .. ": setup_instructions say where to set variables")
  spec.ok(si:lower():find("restart", 1, true) and si:find("Verify", 1, true), e.id .. ": setup_instructions say restart, then Verify")
end
-- Background re-verification must not burn Alpha Vantage's 25 free requests a day.
spec.ok(86400 // by_id.alphavantage.verify_ttl_s <= 25, "alphavantage: re-verification stays within 25 requests/day")
spec.is(by_id.databento.rate_limit.requests_per_s, 20, "databento: 20 metadata requests/s (Databento docs)")

---------------------------------------------------------------------------------------------------
-- Classifiers on realistic answers (bodies from reference/provider-apis.md)
---------------------------------------------------------------------------------------------------

-- r as C builds it: json decoded from the body, or nil when the body is not JSON.
local function answer(step, status, body, extra)
  local r = { step = step, status = status, body = body or "" }
  if body then r.json = cjson.decode(body) end
  for k, v in pairs(extra or {}) do r[k] = v end
  return r
end

local function first_step(id) return by_id[id].verify.steps[1].name end

-- { id, step (nil = first), status, body, extra r fields, expected outcome, description }
local CASES = {
  { "databento", nil, 200, '["GLBX.MDP3","XNAS.ITCH"]', nil, "OK", "200 dataset list" },
  { "databento", nil, 401, '{"detail":"Not authenticated"}', nil, "AUTH_FAILED", "401 Not authenticated" },
  { "databento", nil, 422, '{"detail":[{"loc":["query","dataset"],"msg":"bad","type":"value_error"}]}', nil,
    "PROVIDER_ERROR", "422 FastAPI detail" },
  { "databento", nil, 503, "Service Unavailable", nil, "PROVIDER_ERROR", "503 (simulator failover)" },
  { "databento", nil, 200, "<html><body>Sign in to the Wi-Fi</body></html>", nil, "PROVIDER_ERROR",
    "200 with an HTML body is not proof" },
  { "databento", nil, 200, '["GLBX.MDP3","XNAS', nil, "PROVIDER_ERROR", "200 with a truncated body" },

  { "polygon", nil, 200, '{"market":"closed","serverTime":"2024-06-01T10:00:00-04:00","exchanges":{"nasdaq":"closed",'
    .. '"nyse":"closed"},"currencies":{"crypto":"open","fx":"open"},"earlyHours":false,"afterHours":false}',
    nil, "OK", "200 market status" },
  { "polygon", nil, 401, '{"status":"ERROR","request_id":"a1b2","error":"Unknown API Key"}', nil, "AUTH_FAILED",
    "401 Unknown API Key" },
  { "polygon", nil, 401, '{"status":"ERROR","request_id":"a1b2","error":"API Key was not provided"}', nil,
    "AUTH_FAILED", "401 API Key was not provided" },
  { "polygon", nil, 403, '{"status":"NOT_AUTHORIZED","request_id":"a1b2","message":"You are not entitled to this data.'
    .. ' Please upgrade your plan at https://polygon.io/pricing"}', nil, "NOT_ENTITLED", "403 NOT_AUTHORIZED" },
  { "polygon", nil, 200, '{"status":"OK","request_id":"a1b2"}', nil, "PROVIDER_ERROR", "200 without market status" },

  { "finnhub", nil, 200, '{"c":261.74,"d":0.41,"dp":0.1569,"h":263.31,"l":260.68,"o":261.07,"pc":261.33,"t":1727467200}',
    nil, "OK", "200 quote" },
  { "finnhub", nil, 401, '{"error":"Invalid API key."}', nil, "AUTH_FAILED", "401 Invalid API key" },
  { "finnhub", nil, 403, '{"error":"You don\'t have access to this resource."}', nil, "NOT_ENTITLED", "403 premium" },
  { "finnhub", nil, 429, '{"error":"API limit reached. Please try again later. Remaining Limit: 0"}', nil,
    "RATE_LIMITED", "429 API limit reached" },

  { "alphavantage", nil, 200, '{"Global Quote":{"01. symbol":"IBM","05. price":"182.5200","07. latest trading day":"2024-05-31"}}',
    nil, "OK", "200 Global Quote" },
  { "alphavantage", nil, 200, '{"Error Message":"the parameter apikey is invalid or missing. Please claim your free API key'
    .. ' on (https://www.alphavantage.co/support/#api-key). It should take less than 20 seconds."}', nil,
    "AUTH_FAILED", "200 + Error Message (apikey invalid)" },
  { "alphavantage", nil, 200, '{"Note":"Thank you for using Alpha Vantage! Our standard API call frequency is 5 calls per'
    .. ' minute and 500 calls per day. Please visit https://www.alphavantage.co/premium/ if you would like to target a'
    .. ' higher API call frequency."}', nil, "RATE_LIMITED", "200 + Note (call frequency)" },
  { "alphavantage", nil, 200, '{"Information":"We have detected your API key as ABCD and our standard API rate limit is'
    .. ' 25 requests per day. Please subscribe to any of the premium plans at https://www.alphavantage.co/premium/ to'
    .. ' instantly remove all daily rate limits."}', nil, "RATE_LIMITED", "200 + Information (25 requests per day)" },
  { "alphavantage", nil, 200, '{"Information":"Thank you for using Alpha Vantage! This is a premium endpoint. You may'
    .. ' subscribe to any of the premium plans at https://www.alphavantage.co/premium/ to instantly unlock all premium'
    .. ' endpoints"}', nil, "NOT_ENTITLED", "200 + Information (premium endpoint)" },
  { "alphavantage", nil, 200, "{}", nil, "PROVIDER_ERROR", "200 without a quote" },

  { "fmp", nil, 200, '[{"symbol":"AAPL","name":"Apple Inc.","price":232.8,"exchange":"NASDAQ"}]', nil, "OK", "200 quote list" },
  { "fmp", nil, 200, '{"Error Message":"Invalid API KEY. Please retry or visit our documentation to create one FREE'
    .. ' https://financialmodelingprep.com/developer/docs"}', nil, "AUTH_FAILED", "200 + Error Message (Invalid API KEY)" },
  { "fmp", nil, 401, '{"Error Message":"Invalid API KEY. Please retry or visit our documentation to create one FREE'
    .. ' https://financialmodelingprep.com/developer/docs"}', nil, "AUTH_FAILED", "401 + Error Message" },
  { "fmp", nil, 429, '{"Error Message":"Limit Reach . Please upgrade your plan or visit our documentation for more'
    .. ' details at https://site.financialmodelingprep.com/developer/docs/pricing"}', nil, "RATE_LIMITED", "429 Limit Reach" },
  { "fmp", nil, 402, '{"Error Message":"Restricted Endpoint: This endpoint is not available under your current'
    .. ' subscription please visit our subscription page to upgrade your plan"}', nil, "NOT_ENTITLED", "402 restricted" },

  { "fred", nil, 200, '{"realtime_start":"2024-06-01","realtime_end":"2024-06-01","seriess":[{"id":"GNPCA",'
    .. '"title":"Real Gross National Product","frequency":"Annual"}]}', nil, "OK", "200 seriess" },
  { "fred", nil, 400, '{"error_code":400,"error_message":"Bad Request.  The value for variable api_key is not registered.'
    .. '  Read https://fred.stlouisfed.org/docs/api/api_key.html for more information."}', nil, "AUTH_FAILED",
    "400 api_key not registered" },
  { "fred", nil, 400, '{"error_code":400,"error_message":"Bad Request.  Variable api_key is not a 32 character'
    .. ' alpha-numeric lower-case string.  Read https://fred.stlouisfed.org/docs/api/api_key.html for more information."}',
    nil, "AUTH_FAILED", "400 malformed api_key" },
  { "fred", nil, 400, '{"error_code":400,"error_message":"Bad Request.  The series does not exist."}', nil,
    "PROVIDER_ERROR", "400 not about the key" },
  { "fred", nil, 429, '{"error_code":429,"error_message":"Too Many Requests.  Exceeded Rate Limit"}', nil,
    "RATE_LIMITED", "429" },

  { "ironbeam", "auth", 200, '{"status":"OK","message":"OK","token":"eyJhbGciOiJIUzI1NiJ9.e30.sig"}', nil, "OK", "auth 200 token" },
  { "ironbeam", "auth", 401, '{"status":"ERROR","error":"Missing username or password"}', nil, "AUTH_FAILED", "auth 401" },
  { "ironbeam", "auth", 200, '{"status":"ERROR","error":"Invalid credentials"}', nil, "AUTH_FAILED", "auth 200 status ERROR" },
  { "ironbeam", "auth", 429, '{"error":"Too Many Requests","status":"ERROR"}', nil, "RATE_LIMITED", "auth 429" },
  { "ironbeam", "trader", 200, '{"status":"OK","accounts":["51234"],"isLive":false,"traderId":"51234"}', { env = "demo" },
    "OK", "trader 200 demo account on demo" },
  { "ironbeam", "trader", 200, '{"status":"OK","accounts":["51234"],"isLive":true,"traderId":"51234"}', { env = "demo" },
    "NOT_ENTITLED", "trader: live account while IRONBEAM_ENV=demo" },
  { "ironbeam", "trader", 200, '{"status":"OK","accounts":["51234"],"isLive":true,"traderId":"51234"}', { env = "live" },
    "OK", "trader: live account on live" },
  { "ironbeam", "trader", 401, '{"error":"Unauthorized","status":"ERROR"}', nil, "AUTH_FAILED", "trader 401 token refused" },
  { "ironbeam", "logout", 200, '{"status":"OK"}', nil, "OK", "logout 200" },
  { "ironbeam", "logout", 401, '{"error":"Unauthorized","status":"ERROR"}', nil, "OK", "logout 401: already closed" },
  { "ironbeam", "logout", 503, "", nil, "PROVIDER_ERROR", "logout 503" },

  { "tradovate", "auth", 200, '{"accessToken":"eyJhbGciOi.x.y","mdAccessToken":"eyJhbGciOi.m.d",'
    .. '"expirationTime":"2024-06-01T12:00:00.000Z","userStatus":"Active","userId":123456,"name":"trader1","hasLive":false}',
    nil, "OK", "accesstokenrequest 200 token" },
  { "tradovate", "auth", 200, '{"errorText":"Incorrect username or password. Please try again, noting that passwords'
    .. ' are case-sensitive."}', nil, "AUTH_FAILED", "200 + errorText" },
  { "tradovate", "auth", 200, '{"p-ticket":"9a8b7c6d","p-time":3600,"p-captcha":true}', nil, "RATE_LIMITED",
    "200 + p-ticket (lock-out)" },
  { "tradovate", "auth", 200, '{"p-ticket":"9a8b7c6d","p-time":15}', nil, "RATE_LIMITED", "200 + p-ticket with p-time" },
  { "tradovate", "auth", 200, '{"accessToken":"eyJ.x.y","userId":1,"name":"t","hasLive":false}', { env = "live" },
    "NOT_ENTITLED", "no live access while TRADOVATE_ENV=live" },
  { "tradovate", "me", 200, '{"userId":123456,"name":"trader1","fullName":"Trader One","email":"t@example.com",'
    .. '"emailVerified":true,"isTrial":false}', nil, "OK", "/auth/me 200" },
  { "tradovate", "me", 401, "", nil, "AUTH_FAILED", "/auth/me 401" },

  { "openai", nil, 200, '{"object":"list","data":[{"id":"gpt-4o","object":"model","created":1715367049,"owned_by":"system"}]}',
    nil, "OK", "200 model list" },
  { "openai", nil, 401, '{"error":{"message":"Incorrect API key provided: sk-ab***cd. You can find your API key at'
    .. ' https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}',
    nil, "AUTH_FAILED", "401 invalid_api_key" },
  { "openai", nil, 429, '{"error":{"message":"You exceeded your current quota, please check your plan and billing'
    .. ' details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}', nil, "NOT_ENTITLED",
    "429 insufficient_quota is billing, not a rate limit" },
  { "openai", nil, 429, '{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}',
    nil, "RATE_LIMITED", "429 rate_limit_exceeded" },

  { "anthropic", nil, 200, '{"data":[{"type":"model","id":"claude-3-5-sonnet-20241022","display_name":"Claude 3.5 Sonnet",'
    .. '"created_at":"2024-10-22T00:00:00Z"}],"has_more":false,"first_id":"claude-3-5-sonnet-20241022","last_id":"claude-3-5-sonnet-20241022"}',
    nil, "OK", "200 model list" },
  { "anthropic", nil, 401, '{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"},'
    .. '"request_id":"req_011CS"}', nil, "AUTH_FAILED", "401 authentication_error" },
  { "anthropic", nil, 403, '{"type":"error","error":{"type":"permission_error","message":"no access"}}', nil,
    "NOT_ENTITLED", "403 permission_error" },
  { "anthropic", nil, 529, '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}', nil,
    "PROVIDER_ERROR", "529 overloaded_error" },

  { "google_gemini", nil, 200, '{"models":[{"name":"models/gemini-1.5-flash","inputTokenLimit":1048576,'
    .. '"outputTokenLimit":8192,"supportedGenerationMethods":["generateContent"]}],"nextPageToken":"Ch0"}', nil, "OK",
    "200 model list" },
  { "google_gemini", nil, 400, '{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.",'
    .. '"status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID",'
    .. '"domain":"googleapis.com","metadata":{"service":"generativelanguage.googleapis.com"}}]}}', nil, "AUTH_FAILED",
    "400 API_KEY_INVALID" },
  { "google_gemini", nil, 400, '{"error":{"code":400,"message":"Invalid value at page_size","status":"INVALID_ARGUMENT"}}',
    nil, "PROVIDER_ERROR", "400 not about the key" },
  { "google_gemini", nil, 429, '{"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED"}}',
    nil, "RATE_LIMITED", "429 RESOURCE_EXHAUSTED" },

  { "groq", nil, 200, '{"object":"list","data":[{"id":"llama-3.1-8b-instant","object":"model","owned_by":"Meta"}]}', nil,
    "OK", "200 model list" },
  { "groq", nil, 401, '{"error":{"message":"Invalid API Key","type":"invalid_request_error","code":"invalid_api_key"}}',
    nil, "AUTH_FAILED", "401 invalid_api_key" },

  { "xai", nil, 200, '{"redacted_api_key":"xai-...Wd4Q","user_id":"u-1","name":"bots","team_id":"t-1","acls":["api-key:model:*"],'
    .. '"api_key_id":"k-1","team_blocked":false,"api_key_blocked":false,"api_key_disabled":false}', nil, "OK", "200 active key" },
  { "xai", nil, 200, '{"redacted_api_key":"xai-...Wd4Q","api_key_id":"k-1","team_blocked":false,"api_key_blocked":true,'
    .. '"api_key_disabled":false}', nil, "AUTH_FAILED", "200 api_key_blocked" },
  { "xai", nil, 200, '{"redacted_api_key":"xai-...Wd4Q","api_key_id":"k-1","team_blocked":false,"api_key_blocked":false,'
    .. '"api_key_disabled":true}', nil, "AUTH_FAILED", "200 api_key_disabled" },
  { "xai", nil, 200, '{"redacted_api_key":"xai-...Wd4Q","api_key_id":"k-1","team_blocked":true,"api_key_blocked":false,'
    .. '"api_key_disabled":false}', nil, "NOT_ENTITLED", "200 team_blocked" },
  { "xai", nil, 400, "Incorrect API key provided: xa***ys. You can obtain an API key from https://console.x.ai.", nil,
    "AUTH_FAILED", "400 Incorrect API key (plain text)" },

  { "openrouter", nil, 200, '{"data":{"label":"sk-or-v1-abc...xyz","limit":null,"limit_remaining":null,"limit_reset":null,'
    .. '"usage":0.25,"usage_daily":0,"is_free_tier":false,"is_provisioning_key":false}}', nil, "OK", "200 key info" },
  { "openrouter", nil, 200, '{"data":{"label":"sk-or-v1-abc...xyz","limit":5,"limit_remaining":0,"usage":5,'
    .. '"is_free_tier":true,"is_provisioning_key":false}}', nil, "NOT_ENTITLED", "200 with no credit left" },
  { "openrouter", nil, 401, '{"error":{"message":"User not found.","code":401}}', nil, "AUTH_FAILED", "401 User not found" },

  { "unusual_whales", nil, 200, '{"data":{"ticker":"AAPL","full_name":"Apple Inc.","sector":"Technology"}}', nil, "OK",
    "200 stock info" },
  { "unusual_whales", nil, 401, "", nil, "AUTH_FAILED", "401" },
  { "unusual_whales", nil, 404, '{"message":"Not found"}', nil, "PROVIDER_ERROR", "404 (wrong path or base URL)" },

  { "redis", nil, 0, "+PONG", nil, "OK", "+PONG" },
  { "redis", nil, 0, "-NOAUTH Authentication required.", nil, "AUTH_FAILED", "-NOAUTH" },
  { "redis", nil, 0, "-WRONGPASS invalid username-password pair or user is disabled.", nil, "AUTH_FAILED", "-WRONGPASS" },
  { "redis", nil, 0, "-ERR invalid password", nil, "AUTH_FAILED", "-ERR invalid password (old servers)" },
  { "redis", nil, 0, "-NOPERM User bots has no permissions to run the 'ping' command", nil, "NOT_ENTITLED", "-NOPERM" },
  { "redis", nil, 0, "-LOADING Redis is loading the dataset in memory", nil, "PROVIDER_ERROR", "-LOADING" },
  { "redis", nil, 0, "", { transport_error = "network" }, "NETWORK_ERROR", "connection refused" },
  { "redis", nil, 0, "", { transport_error = "timeout" }, "TIMEOUT", "no reply in time" },

  { "discord", nil, 200, '{"type":1,"id":"1234567890","name":"alerts","avatar":null,"channel_id":"2345678901",'
    .. '"guild_id":"3456789012","application_id":null,"token":"aBcD"}', nil, "OK", "200 webhook object" },
  { "discord", nil, 401, '{"message":"Invalid Webhook Token","code":50027}', nil, "AUTH_FAILED", "401 code 50027" },
  { "discord", nil, 404, '{"message":"Unknown Webhook","code":10015}', nil, "AUTH_FAILED", "404 code 10015" },
  { "discord", nil, 500, '{"message":"500: Internal Server Error","code":0}', nil, "PROVIDER_ERROR", "500" },
  { "discord", nil, 200, "<!doctype html><html></html>", nil, "PROVIDER_ERROR", "200 HTML page is not a webhook" },
}

for _, c in ipairs(CASES) do
  local id, step, status, body, extra, want, desc = c[1], c[2], c[3], c[4], c[5], c[6], c[7]
  local outcome, reason = by_id[id].classify(answer(step or first_step(id), status, body, extra))
  spec.is(outcome, want, id .. ": " .. desc .. " → " .. want)
  spec.ok(type(reason) == "string" and reason ~= "" and #reason <= 300, id .. ": " .. desc .. " has a short reason")
end

-- The lock-out reason tells the operator not to retry.
local _, lock_reason = by_id.tradovate.classify(answer("auth", 200, '{"p-ticket":"9a8b7c6d","p-time":15}'))
spec.ok(lock_reason:find("locked out", 1, true) and lock_reason:find("do not retry", 1, true)
  and lock_reason:find("15 s", 1, true), "tradovate: lock-out reason says locked out, do not retry, wait 15 s")

-- Rules shared by every HTTP provider (first step).
local SHARED = {
  { 401, "", nil, "AUTH_FAILED", "401" },
  { 429, "", nil, "RATE_LIMITED", "429" },
  { 503, "<html>Service Unavailable</html>", nil, "PROVIDER_ERROR", "503" },
  { 502, "", nil, "PROVIDER_ERROR", "502" },
  { 0, "", { transport_error = "timeout" }, "TIMEOUT", "transport timeout" },
  { 0, "", { transport_error = "network" }, "NETWORK_ERROR", "transport network error" },
  { 0, "", nil, "NETWORK_ERROR", "no HTTP answer" },
}
for _, e in ipairs(EXPECTED) do
  if e.id ~= "redis" then
    for _, c in ipairs(SHARED) do
      local outcome = by_id[e.id].classify(answer(first_step(e.id), c[1], c[2], c[3]))
      spec.is(outcome, c[4], e.id .. ": " .. c[5] .. " → " .. c[4])
    end
  end
end

-- Reasons never echo body text: a canary planted in every error field must not come back.
local CANARY = "CANARYc4n4ry9z"
local CANARY_BODIES = {
  '{"error":{"message":"Incorrect API key provided: ' .. CANARY .. '","code":"invalid_api_key","type":"x"}}',
  '{"error":"' .. CANARY .. '","status":"ERROR","detail":"' .. CANARY .. '","message":"' .. CANARY .. '"}',
  '{"Error Message":"apikey ' .. CANARY .. '","Note":"' .. CANARY .. '","errorText":"' .. CANARY .. '"}',
  '{"error_message":"api_key ' .. CANARY .. '","p-ticket":"' .. CANARY .. '","p-time":"' .. CANARY .. '"}',
  "-WRONGPASS " .. CANARY,
  CANARY,
}
local leaks = {}
for _, e in ipairs(EXPECTED) do
  for _, step in ipairs(by_id[e.id].verify.steps) do
    for _, status in ipairs({ 0, 200, 400, 401, 403, 404, 429, 500 }) do
      for _, body in ipairs(CANARY_BODIES) do
        local outcome, reason = by_id[e.id].classify(answer(step.name, status, body))
        if type(outcome) ~= "string" or (reason and reason:find(CANARY, 1, true)) then
          leaks[#leaks + 1] = e.id .. "/" .. step.name .. "/" .. status
        end
      end
    end
  end
end
spec.same(leaks, {}, "no classifier echoes body text into its reason, and every answer gets an outcome")

---------------------------------------------------------------------------------------------------
-- The C validator rejects broken registries (copy, mutate, validate)
---------------------------------------------------------------------------------------------------

local function copy(v)
  if type(v) ~= "table" then return v end
  local t = {}
  for k, x in pairs(v) do t[k] = copy(x) end
  return t
end

local dup = copy(P)
dup.providers[#dup.providers + 1] = copy(dup.providers[1])
local res, msg = spec.validate_providers(dup)
spec.ok(res == nil and type(msg) == "string", "validator rejects a duplicate id: " .. tostring(msg))

local badcat = copy(P)
badcat.providers[1].category = "weather"
res, msg = spec.validate_providers(badcat)
spec.ok(res == nil and type(msg) == "string", "validator rejects an unknown category: " .. tostring(msg))

local badprio = copy(P)
table.insert(badprio.priority.market_data, "bloomberg")
res, msg = spec.validate_providers(badprio)
spec.ok(res == nil and type(msg) == "string", "validator rejects a priority entry naming an unknown provider: " .. tostring(msg))

local crossprio = copy(P)
table.insert(crossprio.priority.execution, "openai")
res, msg = spec.validate_providers(crossprio)
spec.ok(res == nil and type(msg) == "string", "validator rejects a priority entry of another category: " .. tostring(msg))

-- Mutating a copy leaves the policy alone; each spec.policy call is a fresh load.
spec.ok(spec.validate_providers(spec.policy("providers.lua")) == true, "a fresh load still validates")
