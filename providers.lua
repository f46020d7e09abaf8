--[[ providers.lua — the provider registry policy of gatehouse (operator-edited).

INPUT
  Loading this chunk takes no input. Afterwards C calls `classify(r)` of a provider after every
  verify step, with a plain table (never a secret value, never userdata):
    r = { step = "<step name>",
          status = <integer HTTP status; 0 when there was no HTTP answer (always 0 for RESP)>,
          body = "<redacted, size-capped body; for RESP the reply line, e.g. '+PONG'>",
          json = <decoded body table, or nil when the body is not JSON>,
          transport_error = nil | "timeout" | "network",
          env = nil | "<env_hosts key in use, e.g. 'demo' | 'live'>" }   -- nil when *_BASE_URL wins
OUTPUT
  The chunk returns { schema_version = 1, categories, priority, providers } (shape checked by C).
  classify(r) returns outcome [, reason]: outcome is one of OK, AUTH_FAILED, NOT_ENTITLED,
  RATE_LIMITED, TIMEOUT, NETWORK_ERROR, PROVIDER_ERROR; reason is short human text that says what
  to do. Reasons are built from fixed strings only: no body text is ever echoed (bodies may hold
  provider-masked key fragments).

HOW C READS THE FIELDS
  * URL of an HTTP step = base .. step.path (+ step.query, + the `query` auth parameter), where
    base = value of base_url_env if set, else env_hosts.hosts[value of selector_env or default],
    else default_base_url. Where an SDK defines the *_BASE_URL variable with a path prefix
    (OPENAI_BASE_URL = https://api.openai.com/v1, XAI_BASE_URL, OPENROUTER_BASE_URL), the default
    carries the same prefix so a value shared with the bots' SDKs points the probe at the same place.
  * aliases = { REQUIRED_VAR = "ALIAS_VAR" }: the required variable counts as configured when the
    alias is set, and any *_env naming REQUIRED_VAR reads the alias when REQUIRED_VAR is empty.
    prefer_alias = true (Gemini only): when both are set the alias wins, as Google's SDK does.
  * Step outcome: the first step whose classify is not OK decides the verify outcome; steps after it
    are skipped, except `always_run` steps (logout), which still run when the token they need
    exists, and whose outcome counts only if every earlier step was OK.
  * token_from: the value of json_field in the JSON answer of step `step`, sent as header .. prefix.
  * json_body: POST body built by C; const_fields are defaults that optional_fields override when
    their variable is set; number_fields are sent as JSON numbers.
  * env_headers = { ["Header-Name"] = "ENV_VAR" }: sent only when the variable is set (secret).
  * no_retry (provider) / retry = false (step): one attempt; background re-verification must not
    repeat a no_retry provider after AUTH_FAILED or RATE_LIMITED until the operator presses Verify.
  * rate_limit applies to every outbound call to the provider (verify and bot calls alike).
]]

local OK, AUTH_FAILED, NOT_ENTITLED = "OK", "AUTH_FAILED", "NOT_ENTITLED"

-- Broker order states → gatehouse's (runtime/orders.h). Anything else still working reads ACCEPTED.
local IRONBEAM_STATUS = { FILLED = "FILLED", PARTIALLY_FILLED = "PARTIALLY_FILLED", CANCELLED = "CANCELLED",
                          REJECTED = "REJECTED", EXPIRED = "EXPIRED" }
local TRADOVATE_STATUS = { Filled = "FILLED", Canceled = "CANCELLED", Rejected = "REJECTED", Expired = "EXPIRED" }
local IRONBEAM_BEARER = { scheme = "token_from", step = "auth", json_field = "token", header = "Authorization",
                          prefix = "Bearer " }
local TRADOVATE_BEARER = { scheme = "token_from", step = "auth", json_field = "accessToken",
                           header = "Authorization", prefix = "Bearer " }
local RATE_LIMITED, TIMEOUT = "RATE_LIMITED", "TIMEOUT"
local NETWORK_ERROR, PROVIDER_ERROR = "NETWORK_ERROR", "PROVIDER_ERROR"

---------------------------------------------------------------------------------------------------
-- Small pure helpers
---------------------------------------------------------------------------------------------------

-- dig(t, "a", "b") is t.a.b, or nil as soon as a level is not a table.
local function dig(t, ...)
  for i = 1, select("#", ...) do
    if type(t) ~= "table" then return nil end
    t = t[(select(i, ...))]
  end
  return t
end

local function lower(v)
  if type(v) == "string" then return v:lower() end
  return ""
end

-- has(text, a, b, ...) is true when text contains any needle (plain find, no patterns).
local function has(text, ...)
  for i = 1, select("#", ...) do
    if text:find((select(i, ...)), 1, true) then return true end
  end
  return false
end

-- The decoded body: r.json from C, else a decode attempt (specs may hand only a body).
local function decoded(r)
  if type(r.json) == "table" then return r.json end
  if type(r.body) == "string" and r.body ~= "" then
    local v = cjson.decode(r.body)
    if type(v) == "table" then return v end
  end
  return nil
end

local function status_of(r)
  return math.tointeger(tonumber(r.status) or 0) or 0
end

local function is_2xx(status) return status >= 200 and status < 300 end

-- A JSON value is "present" when it is neither absent nor JSON null (cjson.null is userdata).
local function present(v) return v ~= nil and type(v) ~= "userdata" end

---------------------------------------------------------------------------------------------------
-- Shared classification rules
---------------------------------------------------------------------------------------------------

-- Outcome of a failed transport, or nil when an HTTP answer arrived.
local function transport_outcome(r, label)
  local te = r.transport_error
  if te == "timeout" then
    return TIMEOUT, label .. " did not answer before the verify deadline; retry, and check the network if it persists"
  end
  if te ~= nil then
    return NETWORK_ERROR, "could not reach " .. label .. " (DNS, TCP or TLS failure); check connectivity and the base URL"
  end
  if status_of(r) == 0 then
    return NETWORK_ERROR, "no HTTP answer from " .. label .. "; check connectivity and the base URL"
  end
  return nil
end

-- The default mapping of a non-2xx status. p = { label = ..., keys = "VARS to check" }.
local function status_outcome(status, p)
  local label = p.label
  if status == 401 then
    return AUTH_FAILED, label .. " rejected the credentials (HTTP 401): check " .. p.keys
  elseif status == 402 then
    return NOT_ENTITLED, label .. " accepted the key but the account needs payment or credit (HTTP 402)"
  elseif status == 403 then
    return NOT_ENTITLED, label .. " accepted the key but the plan does not include this endpoint (HTTP 403)"
  elseif status == 408 then
    return TIMEOUT, label .. " timed out the request (HTTP 408); retry later"
  elseif status == 429 then
    return RATE_LIMITED, label .. " is rate-limiting this key (HTTP 429); wait and retry"
  elseif status >= 500 then
    return PROVIDER_ERROR, label .. " is failing on its side (HTTP " .. status .. "); retry later"
  elseif status >= 300 and status < 400 then
    return PROVIDER_ERROR, label .. " answered with a redirect (HTTP " .. status .. "); check the base URL override"
  elseif status == 404 then
    return PROVIDER_ERROR, label .. " does not know the probe endpoint (HTTP 404); check the base URL override"
  end
  return PROVIDER_ERROR, label .. " refused the probe request (HTTP " .. status .. ")"
end

--[[ http_classifier(p) builds classify(r) for one HTTP step. p fields:
  label, keys     -- provider name and the variables named in AUTH_FAILED reasons
  ok(j, r)        -- on 2xx: true (→ OK, reason ok_reason or its 2nd value), an outcome string
                  -- plus reason, or false/nil (→ PROVIDER_ERROR: the body lacks `expect`)
  ok_reason, expect
  body_error(j, status, r)  -- optional; runs first on every answer; returns outcome, reason or nil
  status          -- optional { [code] = { outcome, reason } } overrides of status_outcome
  raw_ok          -- 2xx needs no JSON body (logout)                                          ]]
local function http_classifier(p)
  return function(r)
    local o, why = transport_outcome(r, p.label)
    if o then return o, why end
    local status = status_of(r)
    local j = decoded(r)
    if p.body_error then
      o, why = p.body_error(j, status, r)
      if o then return o, why end
    end
    if is_2xx(status) then
      if j == nil and not p.raw_ok then
        return PROVIDER_ERROR, p.label .. " answered HTTP " .. status ..
          " but the body is not the expected JSON (truncated, HTML or a proxy page?)"
      end
      local res, res_why = p.ok(j, r)
      if res == true then return OK, res_why or p.ok_reason end
      if type(res) == "string" then return res, res_why end
      return PROVIDER_ERROR, p.label .. " answered HTTP " .. status .. " without " .. p.expect
    end
    local mapped = p.status and p.status[status]
    if mapped then return mapped[1], mapped[2] end
    return status_outcome(status, p)
  end
end

-- steps_classifier{ name = classify, ... } dispatches on r.step (multi-step probes).
local function steps_classifier(by_step)
  return function(r)
    local c = by_step[r.step]
    if c == nil then
      return PROVIDER_ERROR, "no classifier for this verify step; fix providers.lua"
    end
    return c(r)
  end
end

-- OpenAI-style and Anthropic-style error envelopes: {"error":{"code"|"type",...}}.
local function llm_error(j, status)
  if is_2xx(status) then return nil end
  local code, kind = dig(j, "error", "code"), dig(j, "error", "type")
  if code == "invalid_api_key" or kind == "authentication_error" then
    return AUTH_FAILED, "the provider says the API key is invalid (" ..
      (code == "invalid_api_key" and "invalid_api_key" or "authentication_error") .. ")"
  elseif code == "insufficient_quota" then
    return NOT_ENTITLED, "the key is valid but its quota or billing is exhausted (insufficient_quota)"
  elseif kind == "permission_error" then
    return NOT_ENTITLED, "the key is valid but lacks permission for this endpoint (permission_error)"
  elseif kind == "rate_limit_error" then
    return RATE_LIMITED, "the provider is rate-limiting this key (rate_limit_error); wait and retry"
  elseif kind == "overloaded_error" then
    return PROVIDER_ERROR, "the provider is overloaded (overloaded_error); retry later"
  end
  return nil
end

local function has_list(field)
  return function(j) return type(j) == "table" and type(j[field]) == "table" end
end

-- Body shape checks that prove a real answer (not a proxy page that happens to say 200).
local function is_array(j) return type(j) == "table" and (j[1] ~= nil or next(j) == nil) end

---------------------------------------------------------------------------------------------------
-- Provider-specific body rules (each documented by reference/provider-apis.md)
---------------------------------------------------------------------------------------------------

-- Polygon: 403 {"status":"NOT_AUTHORIZED"} is a valid key without entitlement.
local function polygon_body(j, status)
  if dig(j, "status") == "NOT_AUTHORIZED" then
    return NOT_ENTITLED, "Polygon accepted the key but the plan does not include this data (NOT_AUTHORIZED)"
  end
  if status == 401 and has(lower(dig(j, "error")), "not provided") then
    return AUTH_FAILED, "no key reached Polygon: set POLYGON_API_KEY (or MASSIVE_API_KEY)"
  end
  return nil
end

-- Finnhub: errors come as {"error": "..."}; 403 means a premium endpoint for this key.
local function finnhub_body(j, status)
  local t = lower(dig(j, "error"))
  if t == "" then return nil end
  if has(t, "invalid api key") then
    return AUTH_FAILED, "Finnhub says the API key is invalid: check FINNHUB_API_KEY"
  elseif has(t, "access") or status == 403 then
    return NOT_ENTITLED, "Finnhub accepted the key but the plan does not include this endpoint"
  elseif has(t, "limit") or status == 429 then
    return RATE_LIMITED, "Finnhub is rate-limiting this key; wait and retry"
  end
  return nil
end

-- Alpha Vantage answers errors with HTTP 200 and one of Error Message / Note / Information.
local function alphavantage_body(j)
  local em = dig(j, "Error Message")
  if type(em) == "string" then
    if has(em:lower(), "apikey", "api key") then
      return AUTH_FAILED, "Alpha Vantage says the apikey is invalid or missing: check ALPHAVANTAGE_API_KEY"
    end
    return PROVIDER_ERROR, "Alpha Vantage rejected the probe request (Error Message)"
  end
  local note = dig(j, "Note")
  if type(note) ~= "string" then note = dig(j, "Information") end
  if type(note) ~= "string" then return nil end
  local t = note:lower()
  if has(t, "rate limit", "frequency", "per day", "per minute", "requests per", "calls per") then
    return RATE_LIMITED, "Alpha Vantage quota reached (HTTP 200 with Note/Information; free keys get 25 requests/day); retry tomorrow or upgrade"
  elseif has(t, "premium endpoint") then
    return NOT_ENTITLED, "Alpha Vantage accepted the key but this is a premium endpoint"
  elseif has(t, "demo") then
    return AUTH_FAILED, "Alpha Vantage's demo key only works on its demo URLs: set a real ALPHAVANTAGE_API_KEY"
  end
  -- The SDK treats any other Note/Information as a throttle message.
  return RATE_LIMITED, "Alpha Vantage returned a Note/Information message instead of data; retry later"
end

-- FMP: {"Error Message": "..."} possibly with HTTP 200 (v3); the status today is unconfirmed.
local function fmp_body(j, status)
  local t = lower(dig(j, "Error Message"))
  if t == "" then return nil end
  if has(t, "limit reach") then
    return RATE_LIMITED, "FMP quota reached (Limit Reach); wait for the quota to reset or upgrade"
  elseif has(t, "invalid api key") then
    return AUTH_FAILED, "FMP says the API key is invalid: check FMP_API_KEY"
  elseif has(t, "exclusive endpoint", "special endpoint", "restricted endpoint", "subscription") then
    return NOT_ENTITLED, "FMP accepted the key but the plan does not include this endpoint"
  end
  if is_2xx(status) then
    return PROVIDER_ERROR, "FMP answered an error message instead of a quote"
  end
  return nil
end

-- FRED: a bad key is HTTP 400 {"error_code":400,"error_message":"... api_key ..."}.
local function fred_body(j, status)
  local t = lower(dig(j, "error_message"))
  if t == "" then return nil end
  if has(t, "api_key") then
    return AUTH_FAILED, "FRED does not accept this api_key (not registered or not 32 lower-case characters): check FRED_API_KEY"
  elseif status == 429 or has(t, "too many", "rate limit") then
    return RATE_LIMITED, "FRED is rate-limiting this key; wait and retry"
  end
  return nil
end

-- Gemini: a bad key is HTTP 400 with error.details[].reason = "API_KEY_INVALID"; match on reason.
local function gemini_body(j, status)
  local err = dig(j, "error")
  if type(err) ~= "table" then return nil end
  local reasons = {}
  if type(err.details) == "table" then
    for _, d in ipairs(err.details) do
      if type(d) == "table" and type(d.reason) == "string" then reasons[d.reason] = true end
    end
  end
  if reasons.API_KEY_INVALID or reasons.API_KEY_EXPIRED
      or (status == 400 and has(lower(err.message), "api key not valid", "api key expired")) then
    return AUTH_FAILED, "Google rejected the key (API_KEY_INVALID): check GEMINI_API_KEY / GOOGLE_API_KEY"
  end
  if reasons.API_KEY_SERVICE_BLOCKED or reasons.SERVICE_DISABLED or err.status == "PERMISSION_DENIED" then
    return NOT_ENTITLED, "Google accepted the key but the Generative Language API is not enabled for it"
  end
  if err.status == "RESOURCE_EXHAUSTED" then
    return RATE_LIMITED, "Gemini quota exhausted for this project (RESOURCE_EXHAUSTED); wait and retry"
  end
  if err.status == "UNAUTHENTICATED" then
    return AUTH_FAILED, "Google did not accept the credentials: check GEMINI_API_KEY / GOOGLE_API_KEY"
  end
  return nil
end

-- xAI: a bad key is HTTP 400; GET /v1/api-key reports blocked/disabled keys with HTTP 200.
local function xai_body(j, status)
  if status == 400 then
    return AUTH_FAILED, "xAI rejected the key (HTTP 400, incorrect API key): check XAI_API_KEY"
  end
  if not is_2xx(status) or type(j) ~= "table" then return nil end
  if j.api_key_blocked == true then
    return AUTH_FAILED, "xAI reports this key as blocked (api_key_blocked): create a new key and update XAI_API_KEY"
  elseif j.api_key_disabled == true then
    return AUTH_FAILED, "xAI reports this key as disabled (api_key_disabled): enable it or update XAI_API_KEY"
  elseif j.team_blocked == true then
    return NOT_ENTITLED, "the key is valid but its xAI team is blocked (team_blocked): check billing"
  end
  return nil
end

-- OpenRouter: GET /key describes the key; no remaining credit means it cannot be used.
local function openrouter_ok(j)
  local data = dig(j, "data")
  if type(data) ~= "table" then return false end
  local left = data.limit_remaining
  if type(left) == "number" and left <= 0 then
    return NOT_ENTITLED, "the OpenRouter key is valid but has no credit left (limit_remaining <= 0)"
  end
  return true
end

-- Ironbeam: {"status":"ERROR","error":".."} bodies; isLive must match IRONBEAM_ENV.
local function ironbeam_auth_body(j, status)
  if is_2xx(status) and dig(j, "status") == "ERROR" then
    return AUTH_FAILED, "Ironbeam refused the login: check IRONBEAM_USERNAME, IRONBEAM_PASSWORD, IRONBEAM_API_KEY"
  end
  return nil
end

local function ironbeam_trader_ok(j, r)
  if dig(j, "status") ~= "OK" then return false end
  if r.env ~= nil and type(j.isLive) == "boolean" and j.isLive ~= (r.env == "live") then
    return NOT_ENTITLED, "Ironbeam credentials belong to a " .. (j.isLive and "live" or "demo") ..
      " account but IRONBEAM_ENV selects " .. tostring(r.env) .. "; fix IRONBEAM_ENV or the credentials"
  end
  return true, "Ironbeam login and trader info OK (" .. (j.isLive == true and "live" or "demo") .. " account)"
end

-- Tradovate: errors may be HTTP 200 with errorText; {"p-ticket",..} is a lock-out. The lock-out is
-- reported as RATE_LIMITED (a time penalty: retry later, never in a loop), not AUTH_FAILED, because
-- the credentials may be right; the reason says it may follow failed logins.
local function tradovate_body(j)
  if type(j) ~= "table" then return nil end
  if present(j["p-ticket"]) then
    local wait = tonumber(j["p-time"])
    local detail
    if j["p-captcha"] == true then
      detail = "CAPTCHA required: API logins are blocked for about an hour"
    elseif wait then
      detail = "wait " .. math.floor(wait) .. " s"
    else
      detail = "wait before the next attempt"
    end
    return RATE_LIMITED, "Tradovate locked out; do not retry (" .. detail ..
      "). Failed logins cause this: check TRADOVATE_USERNAME and TRADOVATE_PASSWORD first"
  end
  if type(j.errorText) == "string" and j.errorText ~= "" then
    return AUTH_FAILED, "Tradovate refused the login (errorText): check TRADOVATE_USERNAME, TRADOVATE_PASSWORD, " ..
      "TRADOVATE_APP_ID, TRADOVATE_CID, TRADOVATE_SECRET; press Verify once, never in a loop"
  end
  return nil
end

local function tradovate_auth_ok(j, r)
  if not present(j.accessToken) then return false end
  if r.env == "live" and j.hasLive == false then
    return NOT_ENTITLED, "Tradovate login OK but this user has no live access (TRADOVATE_ENV=live)"
  end
  return true
end

-- Discord: the URL is the secret, so an unknown webhook (404/10015) is a bad credential too.
local function discord_body(j, status)
  local code = dig(j, "code")
  if code == 50027 or (status == 401) then
    return AUTH_FAILED, "Discord says the webhook token is invalid (50027): copy the webhook URL again into DISCORD_WEBHOOK_URL"
  elseif code == 10015 or status == 404 then
    return AUTH_FAILED, "Discord does not know this webhook (10015, deleted or wrong id): update DISCORD_WEBHOOK_URL"
  elseif status >= 500 then
    return PROVIDER_ERROR, "Discord answered HTTP " .. status .. "; if it persists the webhook URL may be malformed"
  end
  return nil
end

-- Redis: status 0, body is the RESP reply line to PING (after AUTH from REDIS_URL).
local function classify_redis(r)
  if r.transport_error == "timeout" then
    return TIMEOUT, "Redis did not answer PING before the deadline"
  elseif r.transport_error ~= nil then
    return NETWORK_ERROR, "could not connect to Redis (refused, DNS or TLS); check host and port in REDIS_URL"
  end
  local line = type(r.body) == "string" and r.body:match("^[^\r\n]*") or ""
  local up = line:upper()
  if line == "+PONG" then
    return OK, "Redis answered PING with +PONG"
  elseif up:find("^%-NOAUTH") then
    return AUTH_FAILED, "Redis requires a password: put it in REDIS_URL (redis://:password@host:port)"
  elseif up:find("^%-WRONGPASS") or up:find("^%-ERR INVALID PASSWORD") then
    return AUTH_FAILED, "Redis rejected the username/password in REDIS_URL"
  elseif up:find("^%-ERR") and up:find("AUTH", 1, true) then
    return AUTH_FAILED, "Redis refused AUTH (no password configured on the server?): fix the credentials in REDIS_URL"
  elseif up:find("^%-NOPERM") then
    return NOT_ENTITLED, "the Redis ACL user in REDIS_URL may not run PING"
  elseif line == "" then
    return NETWORK_ERROR, "Redis closed the connection without a reply"
  end
  return PROVIDER_ERROR, "Redis gave an unexpected reply to PING (loading, busy or not Redis?)"
end

---------------------------------------------------------------------------------------------------
-- Templates
---------------------------------------------------------------------------------------------------

local WHERE = "the environment (Replit → Secrets, a systemd EnvironmentFile, or .env)"
local SUGGESTED_FIX = "Set ${MISSING} in " .. WHERE .. ", restart gatehouse, then press Verify for ${LABEL}."

-- setup(label, required, optional) spells out the exact steps; variable names are literal.
local function setup(label, required, optional)
  local s = "Add " .. required .. " to " .. WHERE .. "."
  if optional then s = s .. " Optional: " .. optional .. "." end
  return s .. " Restart gatehouse so it reads the new environment, then press Verify on the " ..
    label .. " row of Connections."
end

---------------------------------------------------------------------------------------------------
-- The registry
---------------------------------------------------------------------------------------------------

return {
  schema_version = 1,
  categories = { "market_data", "execution", "llm", "alt_data", "infra", "alerts" },

  -- Primary = first connected entry; the rest are backups (PRODUCT.md §2). fmp and fred are
  -- enrichment sources (calendar, macro), not bar feeds, so they are not in market_data.
  priority = {
    market_data = { "databento", "polygon", "finnhub", "alphavantage" },
    execution   = { "ironbeam", "tradovate" },
    llm         = { "openai", "anthropic", "google_gemini", "groq", "openrouter", "xai" },
  },

  -- required_for_autonomy: the market-data primaries (databento, polygon) and the primary broker
  -- (ironbeam) are true. Everything else is false: finnhub/alphavantage are fallbacks (the gate
  -- needs *one* market-data provider), tradovate is the optional backup broker, LLMs only gate
  -- AI-dependent actions (SEV-2), fmp/fred/unusual_whales are enrichment, redis is an optional
  -- cache/lock store and discord optional alerts (seeds 003 "optional"; gates.lua owns the rules).
  providers = {
    {
      id = "databento",
      label = "Databento",
      category = "market_data",
      role = "CME futures market data (primary)",
      required_env_vars = { "DATABENTO_API_KEY" },
      optional_env_vars = { "DATABENTO_BASE_URL", "DATABENTO_DATASET" },
      public_env_vars = { "DATABENTO_BASE_URL", "DATABENTO_DATASET" },
      base_url_env = "DATABENTO_BASE_URL",
      default_base_url = "https://hist.databento.com",
      required_for_autonomy = true,
      supports_verify = true,
      verify_ttl_s = 900,
      -- Databento rate-limits docs: 20 metadata req/s, 100 timeseries req/s, 100 connections.
      -- The stricter metadata figure is used for every call.
      rate_limit = { requests_per_s = 20, burst = 5, max_concurrency = 8 },
      verify = {
        timeout_ms = 5000,
        steps = {
          { name = "list_datasets", method = "GET", path = "/v0/metadata.list_datasets",
            auth = { scheme = "basic", user_env = "DATABENTO_API_KEY", password = "" },
            expect_status = 200 },
        },
      },
      -- 200 ["GLBX.MDP3",...]; 401 {"detail":"Not authenticated"}; 422 FastAPI detail list.
      classify = http_classifier {
        label = "Databento", keys = "DATABENTO_API_KEY",
        ok = is_array, expect = "a dataset list", ok_reason = "Databento listed the datasets for this key",
      },
      suggested_fix = SUGGESTED_FIX,
      setup_instructions = setup("Databento",
        "DATABENTO_API_KEY (your Databento API key: 32 characters starting with db-)",
        "DATABENTO_DATASET (default GLBX.MDP3 for CME futures) and DATABENTO_BASE_URL (default https://hist.databento.com)"),
      docs_url = "https://databento.com/docs/api-reference-historical",
      -- OHLCV for the runner: JSON lines, ts_event in ns, prices 1e-9 fixed point, no bar for a minute
      -- without trades (reference: databento ohlcv schema). {name} values are filled in by C.
      -- vars: {dataset} is DATABENTO_DATASET when set, else CME futures' GLBX.MDP3.
      bars = { method = "GET", path = "/v0/timeseries.get_range", format = "databento_json", timeout_ms = 5000,
               vars = { dataset = { env = "DATABENTO_DATASET", default = "GLBX.MDP3" } },
               query = { dataset = "{dataset}", symbols = "{symbol}", schema = "ohlcv-1m", encoding = "json",
                         stype_in = "raw_symbol", start = "{start_iso}", ["end"] = "{end_iso}" },
               auth = { scheme = "basic", user_env = "DATABENTO_API_KEY", password = "" } },
    },

    {
      id = "polygon",
      label = "Polygon.io (Massive)",
      category = "market_data",
      role = "US equities and futures market data (secondary)",
      required_env_vars = { "POLYGON_API_KEY" },
      optional_env_vars = { "MASSIVE_API_KEY", "POLYGON_BASE_URL" },
      public_env_vars = { "POLYGON_BASE_URL" },
      -- Polygon rebranded to Massive (2025); its SDK now reads MASSIVE_API_KEY. Old keys still work.
      aliases = { POLYGON_API_KEY = "MASSIVE_API_KEY" },
      base_url_env = "POLYGON_BASE_URL",
      -- Legacy host (PRODUCT.md §2), "supported for an extended period"; https://api.massive.com is
      -- the new one: set POLYGON_BASE_URL to switch.
      default_base_url = "https://api.polygon.io",
      required_for_autonomy = true,
      supports_verify = true,
      verify_ttl_s = 900,
      -- Polygon knowledge base: paid plans unlimited but stay under 100/s; the free plan allows only
      -- 5 requests/min (lower this for a free key).
      rate_limit = { requests_per_s = 50, burst = 10, max_concurrency = 8 },
      verify = {
        timeout_ms = 5000,
        steps = {
          { name = "market_status", method = "GET", path = "/v1/marketstatus/now",
            auth = { scheme = "bearer", env = "POLYGON_API_KEY" },
            expect_status = 200 },
        },
      },
      -- 200 {"market":..}; 401 {"status":"ERROR","error":"Unknown API Key"}; 403 NOT_AUTHORIZED.
      classify = http_classifier {
        label = "Polygon", keys = "POLYGON_API_KEY (or MASSIVE_API_KEY)",
        body_error = polygon_body,
        ok = function(j) return type(j.market) == "string" end,
        expect = "the market status", ok_reason = "Polygon returned the market status",
      },
      suggested_fix = "Set ${MISSING} (or its alias MASSIVE_API_KEY) in " .. WHERE ..
        ", restart gatehouse, then press Verify for ${LABEL}.",
      setup_instructions = setup("Polygon.io (Massive)",
        "POLYGON_API_KEY (your Polygon/Massive API key; MASSIVE_API_KEY is accepted instead)",
        "POLYGON_BASE_URL (default https://api.polygon.io; https://api.massive.com is the new host)"),
      docs_url = "https://polygon.io/docs",
      -- OHLCV for the runner: /v2/aggs, t in ms at the window start (reference: massive rest.json).
      bars = { method = "GET", path = "/v2/aggs/ticker/{symbol}/range/1/minute/{from_ms}/{to_ms}",
               format = "polygon_aggs", timeout_ms = 5000,
               query = { adjusted = "true", sort = "asc", limit = "5000" },
               auth = { scheme = "bearer", env = "POLYGON_API_KEY" } },
    },

    {
      id = "finnhub",
      label = "Finnhub",
      category = "market_data",
      role = "Equity quotes, news and alternative data (fallback)",
      required_env_vars = { "FINNHUB_API_KEY" },
      optional_env_vars = { "FINNHUB_BASE_URL" },
      public_env_vars = { "FINNHUB_BASE_URL" },
      base_url_env = "FINNHUB_BASE_URL",
      default_base_url = "https://finnhub.io",
      required_for_autonomy = false,
      supports_verify = true,
      verify_ttl_s = 900,
      -- finnhub.io/docs/api/rate-limit: 30 requests/s on every plan (free plan also 60/min).
      rate_limit = { requests_per_s = 30, burst = 10, max_concurrency = 4 },
      verify = {
        timeout_ms = 5000,
        steps = {
          { name = "quote", method = "GET", path = "/api/v1/quote", query = { symbol = "AAPL" },
            auth = { scheme = "header", header = "X-Finnhub-Token", env = "FINNHUB_API_KEY" },
            expect_status = 200 },
        },
      },
      -- 200 {"c","d","dp",..}; 401 {"error":"Invalid API key."}; 403 = premium endpoint.
      classify = http_classifier {
        label = "Finnhub", keys = "FINNHUB_API_KEY",
        body_error = finnhub_body,
        ok = function(j) return type(j.c) == "number" end,
        expect = "a quote", ok_reason = "Finnhub returned a quote",
      },
      suggested_fix = SUGGESTED_FIX,
      setup_instructions = setup("Finnhub", "FINNHUB_API_KEY (your Finnhub API key)",
        "FINNHUB_BASE_URL (default https://finnhub.io)"),
      docs_url = "https://finnhub.io/docs/api",
    },

    {
      id = "alphavantage",
      label = "Alpha Vantage",
      category = "market_data",
      role = "Equity quotes and intraday bars (last-resort fallback)",
      required_env_vars = { "ALPHAVANTAGE_API_KEY" },
      optional_env_vars = { "ALPHAVANTAGE_BASE_URL" },
      public_env_vars = { "ALPHAVANTAGE_BASE_URL" },
      base_url_env = "ALPHAVANTAGE_BASE_URL",
      default_base_url = "https://www.alphavantage.co",
      required_for_autonomy = false,
      supports_verify = true,
      -- Every call spends the free quota of 25 requests/day: re-verify at most 4 times a day.
      verify_ttl_s = 21600,
      -- Free plan 25 requests/day (formerly 5/min): one call at a time, one per second at most.
      rate_limit = { requests_per_s = 1, burst = 1, max_concurrency = 1 },
      verify = {
        timeout_ms = 5000,
        steps = {
          { name = "global_quote", method = "GET", path = "/query",
            query = { ["function"] = "GLOBAL_QUOTE", symbol = "IBM" },
            auth = { scheme = "query", param = "apikey", env = "ALPHAVANTAGE_API_KEY" },
            expect_status = 200 },
        },
      },
      -- Errors are HTTP 200 with "Error Message" (bad key), "Note"/"Information" (quota).
      classify = http_classifier {
        label = "Alpha Vantage", keys = "ALPHAVANTAGE_API_KEY",
        body_error = alphavantage_body,
        ok = function(j) return type(j["Global Quote"]) == "table" end,
        expect = "a Global Quote",
        -- Rejection of arbitrary keys is unconfirmed, so a pass is weak evidence; say so.
        ok_reason = "Alpha Vantage returned a quote (weak evidence: it may accept unregistered keys)",
      },
      suggested_fix = SUGGESTED_FIX,
      setup_instructions = setup("Alpha Vantage",
        "ALPHAVANTAGE_API_KEY (your Alpha Vantage key; each Verify spends one of the 25 free daily requests)",
        "ALPHAVANTAGE_BASE_URL (default https://www.alphavantage.co)"),
      docs_url = "https://www.alphavantage.co/documentation/",
    },

    {
      id = "fmp",
      label = "Financial Modeling Prep",
      category = "market_data",
      role = "Economic calendar and fundamentals (enrichment, not a bar feed)",
      required_env_vars = { "FMP_API_KEY" },
      optional_env_vars = { "FMP_BASE_URL" },
      public_env_vars = { "FMP_BASE_URL" },
      base_url_env = "FMP_BASE_URL",
      default_base_url = "https://financialmodelingprep.com",
      required_for_autonomy = false,
      supports_verify = true,
      -- The quote counts against the quota (free 250/day): hourly re-verification uses 24.
      verify_ttl_s = 3600,
      -- FMP: paid plans about 300/750/3000 per minute (300/min = 5/s); free 250/day.
      rate_limit = { requests_per_s = 5, burst = 2, max_concurrency = 2 },
      verify = {
        timeout_ms = 5000,
        steps = {
          { name = "quote", method = "GET", path = "/stable/quote", query = { symbol = "AAPL" },
            auth = { scheme = "query", param = "apikey", env = "FMP_API_KEY" },
            expect_status = 200 },
        },
      },
      -- 200 [{..}]; {"Error Message":"Invalid API KEY..."} possibly with HTTP 200.
      classify = http_classifier {
        label = "FMP", keys = "FMP_API_KEY",
        body_error = fmp_body,
        ok = is_array, expect = "a quote list", ok_reason = "FMP returned a quote",
      },
      suggested_fix = SUGGESTED_FIX,
      setup_instructions = setup("Financial Modeling Prep", "FMP_API_KEY (your FMP API key)",
        "FMP_BASE_URL (default https://financialmodelingprep.com)"),
      docs_url = "https://site.financialmodelingprep.com/developer/docs",
    },

    {
      id = "fred",
      label = "FRED (St. Louis Fed)",
      category = "market_data",
      role = "Macro-economic series (enrichment, not a bar feed)",
      required_env_vars = { "FRED_API_KEY" },
      optional_env_vars = { "FRED_BASE_URL" },
      public_env_vars = { "FRED_BASE_URL" },
      base_url_env = "FRED_BASE_URL",
      default_base_url = "https://api.stlouisfed.org",
      required_for_autonomy = false,
      supports_verify = true,
      verify_ttl_s = 900,
      -- FRED rate-limits with 429; the figure of 120/min is unconfirmed, so stay at 2/s.
      rate_limit = { requests_per_s = 2, burst = 2, max_concurrency = 2 },
      verify = {
        timeout_ms = 5000,
        steps = {
          { name = "series", method = "GET", path = "/fred/series",
            query = { series_id = "GNPCA", file_type = "json" },
            auth = { scheme = "query", param = "api_key", env = "FRED_API_KEY" },
            expect_status = 200 },
        },
      },
      -- 200 {"seriess":[..]}; 400 {"error_code":400,"error_message":"..api_key..not registered.."}.
      classify = http_classifier {
        label = "FRED", keys = "FRED_API_KEY",
        body_error = fred_body,
        ok = has_list("seriess"), expect = "a series description", ok_reason = "FRED returned the GNPCA series",
      },
      suggested_fix = SUGGESTED_FIX,
      setup_instructions = setup("FRED (St. Louis Fed)",
        "FRED_API_KEY (your FRED key: 32 lower-case letters and digits)",
        "FRED_BASE_URL (default https://api.stlouisfed.org)"),
      docs_url = "https://fred.stlouisfed.org/docs/api/fred/",
    },

    {
      id = "ironbeam",
      label = "Ironbeam",
      category = "execution",
      role = "Futures broker (primary execution)",
      required_env_vars = { "IRONBEAM_USERNAME", "IRONBEAM_PASSWORD", "IRONBEAM_API_KEY" },
      optional_env_vars = { "IRONBEAM_ENV", "IRONBEAM_BASE_URL" },
      public_env_vars = { "IRONBEAM_ENV", "IRONBEAM_BASE_URL" },
      base_url_env = "IRONBEAM_BASE_URL",
      default_base_url = "https://demo.ironbeamapi.com",
      env_hosts = { selector_env = "IRONBEAM_ENV", default = "demo",
                    hosts = { demo = "https://demo.ironbeamapi.com", live = "https://live.ironbeamapi.com" } },
      required_for_autonomy = true,
      supports_verify = true,
      verify_ttl_s = 900,
      -- 10 req/s (3rd-party client ironbeam-rs config; no official figure).
      rate_limit = { requests_per_s = 10, burst = 2, max_concurrency = 2 },
      -- Verify = login, read trader info, logout. Never an order.
      verify = {
        timeout_ms = 10000,
        steps = {
          -- The OpenAPI example and ironbeam-rs send "apiKey" (the schema spells it "apikey").
          { name = "auth", method = "POST", path = "/v2/auth", retry = false,
            auth = { scheme = "json_body",
                     fields = { username = "IRONBEAM_USERNAME", password = "IRONBEAM_PASSWORD",
                                apiKey = "IRONBEAM_API_KEY" } },
            expect_status = 200 },
          { name = "trader", method = "GET", path = "/v2/info/trader",
            auth = { scheme = "token_from", step = "auth", json_field = "token",
                     header = "Authorization", prefix = "Bearer " },
            expect_status = 200 },
          { name = "logout", method = "POST", path = "/v2/logout", retry = false, always_run = true,
            auth = { scheme = "token_from", step = "auth", json_field = "token",
                     header = "Authorization", prefix = "Bearer " },
            expect_status = 200 },
        },
      },
      -- auth 200 {"status":"OK","token"}; 401 {"status":"ERROR","error"}; 429 Too Many Requests;
      -- trader 200 {"status":"OK","accounts","isLive","traderId"}; logout 200 {"status":"OK"}.
      classify = steps_classifier {
        auth = http_classifier {
          label = "Ironbeam", keys = "IRONBEAM_USERNAME, IRONBEAM_PASSWORD, IRONBEAM_API_KEY",
          body_error = ironbeam_auth_body,
          ok = function(j) return j.status == "OK" and present(j.token) end,
          expect = "a session token", ok_reason = "Ironbeam login OK",
        },
        trader = http_classifier {
          label = "Ironbeam", keys = "IRONBEAM_USERNAME, IRONBEAM_PASSWORD, IRONBEAM_API_KEY",
          ok = ironbeam_trader_ok, expect = "trader info",
        },
        logout = http_classifier {
          label = "Ironbeam", keys = "IRONBEAM_USERNAME",
          raw_ok = true, ok = function() return true end, ok_reason = "Ironbeam session closed",
          -- A token that is already invalid means there is no session left to close.
          status = { [401] = { OK, "Ironbeam session already closed" } },
        },
      },
      suggested_fix = SUGGESTED_FIX,
      setup_instructions = setup("Ironbeam",
        "IRONBEAM_USERNAME (your Ironbeam account id), IRONBEAM_PASSWORD and IRONBEAM_API_KEY",
        "IRONBEAM_ENV (demo or live; default demo) and IRONBEAM_BASE_URL (overrides the demo/live host)"),
      docs_url = "https://docs.ironbeamapi.com/",
      -- LIVE orders (runtime/broker.c): steps like verify, run once per order (never retried). Vars filled in by
      -- C: {symbol}, {side} (side_values mapping of BUY/SELL), {qty} (integer), and {account_id} once captured.
      -- capture = { var = "json.path" } reads a later step's var from this step's answer (1-based array index).
      -- var_fields = { bodyField = "var" } adds vars to the JSON body (type kept: qty stays a number).
      -- result: order id field, and (optionally) a field that must equal accept_value; reason_fields explain a refusal.
      -- Reference §7: POST /order/{accountId}/place {accountId, exchSym, side, quantity, orderType "1" (MKT),
      -- duration "0" (DAY), waitForOrderId} -> {orderId, strategyId}. The bot's symbol is sent as exchSym as is.
      order = {
        timeout_ms = 10000,
        side_values = { BUY = "BUY", SELL = "SELL" },
        steps = {
          { name = "auth", operation = "broker.auth", method = "POST", path = "/v2/auth",
            auth = { scheme = "json_body",
                     fields = { username = "IRONBEAM_USERNAME", password = "IRONBEAM_PASSWORD",
                                apiKey = "IRONBEAM_API_KEY" } },
            token_field = "token" },
          { name = "accounts", operation = "broker.auth", method = "GET", path = "/v2/info/trader",
            auth = { scheme = "token_from", step = "auth", json_field = "token",
                     header = "Authorization", prefix = "Bearer " },
            capture = { account_id = "accounts.1" } },
          { name = "place", operation = "broker.place_order", method = "POST", path = "/v2/order/{account_id}/place",
            auth = { scheme = "token_from", step = "auth", json_field = "token",
                     header = "Authorization", prefix = "Bearer " },
            body = { orderType = "1", duration = "0", waitForOrderId = true },
            var_fields = { accountId = "account_id", exchSym = "symbol", side = "side", quantity = "qty" },
            result = { order_id = "orderId", reason_fields = { "error", "message" } } },
        },
        -- Reconciliation, cancel and modify (runtime/broker.h): each action runs the first session_steps
        -- steps above (login, account), then its own; parse(answer, vars) turns the broker's answer into
        -- gatehouse's shape. Reference: IronbeamAPI 2.1 — GET /order/{accountId}/{orderStatus},
        -- GET /order/{accountId}/fills, GET /account/{accountId}/positions (quantity unsigned, side LONG/SHORT),
        -- DELETE /order/{accountId}/cancel/{orderId}, PUT /order/{accountId}/update/{orderId}.
        session_steps = 2,
        actions = {
          orders = {
            steps = { { name = "orders", operation = "broker.order_status", method = "GET",
                        path = "/v2/order/{account_id}/ANY", auth = IRONBEAM_BEARER } },
            parse = function(a)
              local out = {}
              for _, o in ipairs(type(a) == "table" and type(a.orders) == "table" and a.orders or {}) do
                out[#out + 1] = { broker_order_id = tostring(o.orderId), status = IRONBEAM_STATUS[o.status] or "ACCEPTED",
                                  qty = o.quantity, filled_qty = o.fillQuantity or 0, avg_fill_price = o.fillPrice,
                                  reason = type(o.orderError) == "table" and o.orderError.errorText or nil }
              end
              return { orders = out }
            end },
          fills = {
            steps = { { name = "fills", operation = "broker.fills", method = "GET",
                        path = "/v2/order/{account_id}/fills", auth = IRONBEAM_BEARER } },
            parse = function(a)
              local out = {}
              for _, f in ipairs(type(a) == "table" and type(a.fills) == "table" and a.fills or {}) do
                out[#out + 1] = { broker_fill_id = tostring(f.orderUpdateId), broker_order_id = tostring(f.orderId),
                                  qty = f.fillQuantity, price = f.price or f.fillPrice,
                                  filled_at = type(f.timeOrderEvent) == "number" and f.timeOrderEvent / 1000 or nil }
              end
              return { fills = out }
            end },
          positions = {
            steps = { { name = "positions", operation = "broker.positions", method = "GET",
                        path = "/v2/account/{account_id}/positions", auth = IRONBEAM_BEARER } },
            parse = function(a, vars)
              local out = {}
              for _, p in ipairs(type(a) == "table" and type(a.positions) == "table" and a.positions or {}) do
                if p.exchSym == vars.symbol then
                  out[#out + 1] = { symbol = p.exchSym, avg_price = p.price,
                                    qty = (p.side == "SHORT" and -1 or 1) * (tonumber(p.quantity) or 0) }
                end
              end
              return { positions = out }
            end },
          cancel = {
            steps = { { name = "cancel", operation = "broker.cancel_order", method = "DELETE",
                        path = "/v2/order/{account_id}/cancel/{broker_order_id}", auth = IRONBEAM_BEARER } },
            parse = function(a)
              return { ok = type(a) == "table" and a.status == "OK", reason = type(a) == "table" and a.error or nil }
            end },
          modify = {
            steps = { { name = "modify", operation = "broker.modify_order", method = "PUT",
                        path = "/v2/order/{account_id}/update/{broker_order_id}", auth = IRONBEAM_BEARER,
                        var_fields = { orderId = "broker_order_id", quantity = "qty" } } },
            parse = function(a)
              return { ok = type(a) == "table" and a.status == "OK", reason = type(a) == "table" and a.error or nil }
            end },
        },
      },
    },

    {
      id = "tradovate",
      label = "Tradovate",
      category = "execution",
      role = "Futures broker (backup execution)",
      required_env_vars = { "TRADOVATE_USERNAME", "TRADOVATE_PASSWORD", "TRADOVATE_APP_ID",
                            "TRADOVATE_CID", "TRADOVATE_SECRET" },
      optional_env_vars = { "TRADOVATE_APP_VERSION", "TRADOVATE_DEVICE_ID", "TRADOVATE_ENV",
                            "TRADOVATE_BASE_URL" },
      public_env_vars = { "TRADOVATE_APP_VERSION", "TRADOVATE_ENV", "TRADOVATE_BASE_URL" },
      base_url_env = "TRADOVATE_BASE_URL",
      default_base_url = "https://demo.tradovateapi.com",
      env_hosts = { selector_env = "TRADOVATE_ENV", default = "demo",
                    hosts = { demo = "https://demo.tradovateapi.com", live = "https://live.tradovateapi.com" } },
      required_for_autonomy = false,
      supports_verify = true,
      -- Each verify is a login, and Tradovate penalises login bursts: re-verify hourly
      -- (its access token lives about 90 minutes).
      verify_ttl_s = 3600,
      -- Bad logins lock the user out (p-ticket): one attempt, never a retry loop.
      no_retry = true,
      -- No published cap; throttled with time penalties (example-api-faq): stay slow.
      rate_limit = { requests_per_s = 2, burst = 1, max_concurrency = 1 },
      verify = {
        timeout_ms = 10000,
        steps = {
          { name = "auth", method = "POST", path = "/v1/auth/accesstokenrequest", retry = false,
            auth = { scheme = "json_body",
                     fields = { name = "TRADOVATE_USERNAME", password = "TRADOVATE_PASSWORD",
                                appId = "TRADOVATE_APP_ID", cid = "TRADOVATE_CID", sec = "TRADOVATE_SECRET" },
                     optional_fields = { appVersion = "TRADOVATE_APP_VERSION", deviceId = "TRADOVATE_DEVICE_ID" },
                     const_fields = { appVersion = "1.0" },
                     number_fields = { "cid" } },
            expect_status = 200 },
          { name = "me", method = "GET", path = "/v1/auth/me", retry = false,
            auth = { scheme = "token_from", step = "auth", json_field = "accessToken",
                     header = "Authorization", prefix = "Bearer " },
            expect_status = 200 },
        },
      },
      -- auth {"accessToken","expirationTime","userId","hasLive",..} | {"errorText":".."} |
      -- {"p-ticket","p-time","p-captcha"}; me {"userId","name","fullName",..}.
      classify = steps_classifier {
        auth = http_classifier {
          label = "Tradovate",
          keys = "TRADOVATE_USERNAME, TRADOVATE_PASSWORD, TRADOVATE_APP_ID, TRADOVATE_CID, TRADOVATE_SECRET",
          body_error = tradovate_body, ok = tradovate_auth_ok,
          expect = "an access token", ok_reason = "Tradovate login OK",
        },
        me = http_classifier {
          label = "Tradovate",
          keys = "TRADOVATE_USERNAME, TRADOVATE_PASSWORD, TRADOVATE_APP_ID, TRADOVATE_CID, TRADOVATE_SECRET",
          body_error = tradovate_body,
          ok = function(j) return present(j.userId) end,
          expect = "the user profile", ok_reason = "Tradovate login and /auth/me OK",
        },
      },
      suggested_fix = "Set ${MISSING} in " .. WHERE ..
        ", restart gatehouse, then press Verify for ${LABEL} once (failed logins lock the account for about an hour).",
      setup_instructions = setup("Tradovate",
        "TRADOVATE_USERNAME, TRADOVATE_PASSWORD, TRADOVATE_APP_ID, TRADOVATE_CID and TRADOVATE_SECRET " ..
        "(the API key's cid and sec from Tradovate → Application Settings → API Access)",
        "TRADOVATE_APP_VERSION (default 1.0), TRADOVATE_DEVICE_ID (a stable id for this machine), " ..
        "TRADOVATE_ENV (demo or live; default demo) and TRADOVATE_BASE_URL (overrides the demo/live host). " ..
        "Press Verify once: repeated failed logins lock the account for about an hour"),
      docs_url = "https://api.tradovate.com/",
      -- LIVE orders (runtime/broker.c; same step fields as ironbeam's order). One login per order, never retried:
      -- failed logins lock the user out. Reference §8: POST /order/placeorder {accountSpec, accountId, action
      -- Buy|Sell, symbol, orderQty, orderType "Market", timeInForce "Day", isAutomated true} -> {orderId,
      -- failureReason "Success"|.., failureText}; a 200 alone is not acceptance.
      order = {
        timeout_ms = 10000,
        side_values = { BUY = "Buy", SELL = "Sell" },
        steps = {
          { name = "auth", operation = "broker.auth", method = "POST", path = "/v1/auth/accesstokenrequest",
            auth = { scheme = "json_body",
                     fields = { name = "TRADOVATE_USERNAME", password = "TRADOVATE_PASSWORD",
                                appId = "TRADOVATE_APP_ID", cid = "TRADOVATE_CID", sec = "TRADOVATE_SECRET" },
                     optional_fields = { appVersion = "TRADOVATE_APP_VERSION", deviceId = "TRADOVATE_DEVICE_ID" },
                     const_fields = { appVersion = "1.0" },
                     number_fields = { "cid" } },
            token_field = "accessToken", reason_fields = { "errorText" } },
          { name = "accounts", operation = "broker.auth", method = "GET", path = "/v1/account/list",
            auth = { scheme = "token_from", step = "auth", json_field = "accessToken",
                     header = "Authorization", prefix = "Bearer " },
            capture = { account_id = "1.id", account_spec = "1.name" } },
          { name = "place", operation = "broker.place_order", method = "POST", path = "/v1/order/placeorder",
            auth = { scheme = "token_from", step = "auth", json_field = "accessToken",
                     header = "Authorization", prefix = "Bearer " },
            body = { orderType = "Market", timeInForce = "Day", isAutomated = true },
            var_fields = { accountSpec = "account_spec", accountId = "account_id", action = "side",
                           symbol = "symbol", orderQty = "qty" },
            result = { order_id = "orderId", accept_field = "failureReason", accept_value = "Success",
                       reason_fields = { "failureText", "failureReason" } } },
        },
        -- Reconciliation, cancel and modify (runtime/broker.h), after the login and account steps. Reference:
        -- Tradovate REST — GET /order/list (ordStatus, no quantities), GET /fill/list, GET /contract/find?name=,
        -- GET /position/list (netPos signed, by contractId), POST /order/cancelorder {orderId},
        -- POST /order/modifyorder {orderId, orderQty, orderType, timeInForce}; refusals are 200 {failureReason}.
        session_steps = 2,
        actions = {
          orders = {
            steps = { { name = "orders", operation = "broker.order_status", method = "GET", path = "/v1/order/list",
                        auth = TRADOVATE_BEARER } },
            parse = function(a)
              local out = {}
              for _, o in ipairs(type(a) == "table" and a or {}) do
                out[#out + 1] = { broker_order_id = tostring(math.tointeger(o.id) or o.id),
                                  status = TRADOVATE_STATUS[o.ordStatus] or "ACCEPTED" }
              end
              return { orders = out }
            end },
          fills = {
            steps = { { name = "fills", operation = "broker.fills", method = "GET", path = "/v1/fill/list",
                        auth = TRADOVATE_BEARER } },
            parse = function(a)
              local out = {}
              for _, f in ipairs(type(a) == "table" and a or {}) do
                out[#out + 1] = { broker_fill_id = tostring(math.tointeger(f.id) or f.id),
                                  broker_order_id = tostring(math.tointeger(f.orderId) or f.orderId),
                                  qty = f.qty, price = f.price }
              end
              return { fills = out }
            end },
          positions = {
            steps = { { name = "contract", operation = "broker.positions", method = "GET", path = "/v1/contract/find",
                        query = { name = "{symbol}" }, auth = TRADOVATE_BEARER, capture = { contract_id = "id" } },
                      { name = "positions", operation = "broker.positions", method = "GET", path = "/v1/position/list",
                        auth = TRADOVATE_BEARER } },
            parse = function(a, vars)
              local out = {}
              for _, p in ipairs(type(a) == "table" and a or {}) do
                if tostring(math.tointeger(p.contractId) or p.contractId) == tostring(vars.contract_id) then
                  out[#out + 1] = { symbol = vars.symbol, qty = p.netPos or 0, avg_price = p.netPrice }
                end
              end
              return { positions = out }
            end },
          cancel = {
            steps = { { name = "cancel", operation = "broker.cancel_order", method = "POST", path = "/v1/order/cancelorder",
                        auth = TRADOVATE_BEARER, var_fields = { orderId = "broker_order_id_number" } } },
            parse = function(a)
              local refused = type(a) ~= "table" or (a.failureReason ~= nil and a.failureReason ~= "Success")
              return { ok = not refused, reason = type(a) == "table" and (a.failureText or a.failureReason) or nil }
            end },
          modify = {
            steps = { { name = "modify", operation = "broker.modify_order", method = "POST", path = "/v1/order/modifyorder",
                        auth = TRADOVATE_BEARER, body = { orderType = "Market", timeInForce = "Day" },
                        var_fields = { orderId = "broker_order_id_number", orderQty = "qty" } } },
            parse = function(a)
              local refused = type(a) ~= "table" or (a.failureReason ~= nil and a.failureReason ~= "Success")
              return { ok = not refused, reason = type(a) == "table" and (a.failureText or a.failureReason) or nil }
            end },
        },
      },
    },

    {
      id = "openai",
      label = "OpenAI",
      category = "llm",
      role = "LLM for AI-dependent decisions (first choice)",
      required_env_vars = { "OPENAI_API_KEY" },
      optional_env_vars = { "OPENAI_ORG_ID", "OPENAI_PROJECT_ID", "OPENAI_BASE_URL" },
      public_env_vars = { "OPENAI_BASE_URL" },
      base_url_env = "OPENAI_BASE_URL",
      -- Same convention as the SDK's OPENAI_BASE_URL (includes /v1).
      default_base_url = "https://api.openai.com/v1",
      required_for_autonomy = false,
      supports_verify = true,
      verify_ttl_s = 900,
      -- Limits are per org and reported in x-ratelimit-* headers; no fixed figure in the reference.
      rate_limit = { requests_per_s = 10, burst = 5, max_concurrency = 8 },
      verify = {
        timeout_ms = 5000,
        steps = {
          -- The SDK sends OpenAI-Organization / OpenAI-Project when set; so does the probe, so a
          -- key/project mismatch shows up here rather than in the first bot call.
          { name = "models", method = "GET", path = "/models",
            auth = { scheme = "bearer", env = "OPENAI_API_KEY" },
            env_headers = { ["OpenAI-Organization"] = "OPENAI_ORG_ID", ["OpenAI-Project"] = "OPENAI_PROJECT_ID" },
            expect_status = 200 },
        },
      },
      -- 200 {"object":"list","data":[..]}; 401 {"error":{"code":"invalid_api_key",..}}.
      classify = http_classifier {
        label = "OpenAI", keys = "OPENAI_API_KEY (and OPENAI_ORG_ID / OPENAI_PROJECT_ID if set)",
        body_error = llm_error, ok = has_list("data"),
        expect = "a model list", ok_reason = "OpenAI listed the models for this key",
      },
      suggested_fix = SUGGESTED_FIX,
      setup_instructions = setup("OpenAI", "OPENAI_API_KEY (your OpenAI API key, sk-...)",
        "OPENAI_ORG_ID, OPENAI_PROJECT_ID and OPENAI_BASE_URL (default https://api.openai.com/v1)"),
      docs_url = "https://platform.openai.com/docs/api-reference/models/list",
      -- The LLM call (runtime/llm.c): C builds the body {model, messages:[system, user], max_tokens} and
      -- reads choices[0].message.content and usage.prompt_tokens / completion_tokens (reference §OpenAI).
      chat = { method = "POST", path = "/chat/completions", format = "openai_chat", timeout_ms = 20000,
               default_model = "gpt-4o-mini",
               headers = { ["Content-Type"] = "application/json" },
               env_headers = { ["OpenAI-Organization"] = "OPENAI_ORG_ID", ["OpenAI-Project"] = "OPENAI_PROJECT_ID" },
               auth = { scheme = "bearer", env = "OPENAI_API_KEY" } },
    },

    {
      id = "anthropic",
      label = "Anthropic",
      category = "llm",
      role = "LLM for AI-dependent decisions (second choice)",
      required_env_vars = { "ANTHROPIC_API_KEY" },
      optional_env_vars = { "ANTHROPIC_BASE_URL" },
      public_env_vars = { "ANTHROPIC_BASE_URL" },
      base_url_env = "ANTHROPIC_BASE_URL",
      default_base_url = "https://api.anthropic.com",
      required_for_autonomy = false,
      supports_verify = true,
      verify_ttl_s = 900,
      -- Limits come in anthropic-ratelimit-* headers; no fixed figure in the reference.
      rate_limit = { requests_per_s = 10, burst = 5, max_concurrency = 8 },
      verify = {
        timeout_ms = 5000,
        steps = {
          { name = "models", method = "GET", path = "/v1/models",
            auth = { scheme = "header", header = "x-api-key", env = "ANTHROPIC_API_KEY" },
            headers = { ["anthropic-version"] = "2023-06-01" },
            expect_status = 200 },
        },
      },
      -- 200 {"data":[..],"has_more"}; 401 {"type":"error","error":{"type":"authentication_error"}}.
      classify = http_classifier {
        label = "Anthropic", keys = "ANTHROPIC_API_KEY",
        body_error = llm_error, ok = has_list("data"),
        expect = "a model list", ok_reason = "Anthropic listed the models for this key",
      },
      suggested_fix = SUGGESTED_FIX,
      setup_instructions = setup("Anthropic", "ANTHROPIC_API_KEY (your Anthropic API key, sk-ant-...)",
        "ANTHROPIC_BASE_URL (default https://api.anthropic.com)"),
      docs_url = "https://docs.anthropic.com/en/api/models-list",
      -- The LLM call (runtime/llm.c): C builds {model, system, messages:[user], max_tokens} and reads
      -- content[0].text and usage.input_tokens / output_tokens (reference §Anthropic).
      chat = { method = "POST", path = "/v1/messages", format = "anthropic_messages", timeout_ms = 20000,
               default_model = "claude-3-5-haiku-latest",
               headers = { ["Content-Type"] = "application/json", ["anthropic-version"] = "2023-06-01" },
               auth = { scheme = "header", header = "x-api-key", env = "ANTHROPIC_API_KEY" } },
    },

    {
      id = "google_gemini",
      label = "Google Gemini",
      category = "llm",
      role = "LLM for AI-dependent decisions (third choice)",
      required_env_vars = { "GEMINI_API_KEY" },
      optional_env_vars = { "GOOGLE_API_KEY", "GEMINI_BASE_URL" },
      public_env_vars = { "GEMINI_BASE_URL" },
      aliases = { GEMINI_API_KEY = "GOOGLE_API_KEY" },
      -- Google's docs: when both are set, GOOGLE_API_KEY wins. Probe the key the SDK will use.
      prefer_alias = true,
      base_url_env = "GEMINI_BASE_URL",
      default_base_url = "https://generativelanguage.googleapis.com",
      required_for_autonomy = false,
      supports_verify = true,
      verify_ttl_s = 900,
      -- Per-project RPM/TPM/RPD quotas (429 RESOURCE_EXHAUSTED); free tiers are a few RPM.
      rate_limit = { requests_per_s = 2, burst = 2, max_concurrency = 4 },
      verify = {
        timeout_ms = 5000,
        steps = {
          { name = "models", method = "GET", path = "/v1beta/models", query = { pageSize = "1" },
            auth = { scheme = "header", header = "x-goog-api-key", env = "GEMINI_API_KEY" },
            expect_status = 200 },
        },
      },
      -- 200 {"models":[..]}; 400 INVALID_ARGUMENT with details[].reason = API_KEY_INVALID.
      classify = http_classifier {
        label = "Google Gemini", keys = "GEMINI_API_KEY / GOOGLE_API_KEY",
        body_error = gemini_body, ok = has_list("models"),
        expect = "a model list", ok_reason = "Gemini listed the models for this key",
      },
      suggested_fix = "Set ${MISSING} (or its alias GOOGLE_API_KEY) in " .. WHERE ..
        ", restart gatehouse, then press Verify for ${LABEL}.",
      setup_instructions = setup("Google Gemini",
        "GEMINI_API_KEY (your Google AI Studio key; GOOGLE_API_KEY is accepted instead and wins when both are set)",
        "GEMINI_BASE_URL (default https://generativelanguage.googleapis.com)"),
      docs_url = "https://ai.google.dev/gemini-api/docs/api-key",
    },

    {
      id = "groq",
      label = "Groq",
      category = "llm",
      role = "LLM for AI-dependent decisions (fourth choice)",
      required_env_vars = { "GROQ_API_KEY" },
      optional_env_vars = { "GROQ_BASE_URL" },
      public_env_vars = { "GROQ_BASE_URL" },
      base_url_env = "GROQ_BASE_URL",
      -- Same convention as the SDK's GROQ_BASE_URL (host only; paths under /openai/v1).
      default_base_url = "https://api.groq.com",
      required_for_autonomy = false,
      supports_verify = true,
      verify_ttl_s = 900,
      -- Per-org RPM/RPD/TPM; free tiers are tens of requests a minute.
      rate_limit = { requests_per_s = 1, burst = 2, max_concurrency = 4 },
      verify = {
        timeout_ms = 5000,
        steps = {
          { name = "models", method = "GET", path = "/openai/v1/models",
            auth = { scheme = "bearer", env = "GROQ_API_KEY" },
            expect_status = 200 },
        },
      },
      -- 200 {"object":"list","data":[..]}; 401 {"error":{"code":"invalid_api_key"}}.
      classify = http_classifier {
        label = "Groq", keys = "GROQ_API_KEY",
        body_error = llm_error, ok = has_list("data"),
        expect = "a model list", ok_reason = "Groq listed the models for this key",
      },
      suggested_fix = SUGGESTED_FIX,
      setup_instructions = setup("Groq", "GROQ_API_KEY (your Groq API key, gsk_...)",
        "GROQ_BASE_URL (default https://api.groq.com)"),
      docs_url = "https://console.groq.com/docs/api-reference",
    },

    {
      id = "xai",
      label = "xAI (Grok)",
      category = "llm",
      role = "LLM for AI-dependent decisions (sixth choice)",
      required_env_vars = { "XAI_API_KEY" },
      optional_env_vars = { "XAI_BASE_URL" },
      public_env_vars = { "XAI_BASE_URL" },
      base_url_env = "XAI_BASE_URL",
      -- Same convention as XAI_BASE_URL in langchain-xai (includes /v1).
      default_base_url = "https://api.x.ai/v1",
      required_for_autonomy = false,
      supports_verify = true,
      verify_ttl_s = 900,
      -- No figure in the reference; conservative.
      rate_limit = { requests_per_s = 5, burst = 2, max_concurrency = 4 },
      verify = {
        timeout_ms = 5000,
        steps = {
          { name = "api_key", method = "GET", path = "/api-key",
            auth = { scheme = "bearer", env = "XAI_API_KEY" },
            expect_status = 200 },
        },
      },
      -- 200 {"api_key_id","api_key_blocked":false,"api_key_disabled":false,"team_blocked":false,..};
      -- 400 "Incorrect API key provided".
      classify = http_classifier {
        label = "xAI", keys = "XAI_API_KEY",
        body_error = xai_body,
        ok = function(j) return present(j.api_key_id) or present(j.redacted_api_key) end,
        expect = "the key description", ok_reason = "xAI reports the key as active",
      },
      suggested_fix = SUGGESTED_FIX,
      setup_instructions = setup("xAI (Grok)", "XAI_API_KEY (your xAI API key, xai-...)",
        "XAI_BASE_URL (default https://api.x.ai/v1)"),
      docs_url = "https://docs.x.ai/docs/api-reference",
    },

    {
      id = "openrouter",
      label = "OpenRouter",
      category = "llm",
      role = "LLM router for AI-dependent decisions (fifth choice)",
      required_env_vars = { "OPENROUTER_API_KEY" },
      optional_env_vars = { "OPENROUTER_BASE_URL" },
      public_env_vars = { "OPENROUTER_BASE_URL" },
      base_url_env = "OPENROUTER_BASE_URL",
      -- OpenAI-SDK-style base (includes /api/v1).
      default_base_url = "https://openrouter.ai/api/v1",
      required_for_autonomy = false,
      supports_verify = true,
      verify_ttl_s = 900,
      -- Limits per key, lower on free keys; no figure in the reference.
      rate_limit = { requests_per_s = 2, burst = 2, max_concurrency = 4 },
      verify = {
        timeout_ms = 5000,
        steps = {
          -- /models is public and proves nothing; /key needs the key.
          { name = "key", method = "GET", path = "/key",
            auth = { scheme = "bearer", env = "OPENROUTER_API_KEY" },
            expect_status = 200 },
        },
      },
      -- 200 {"data":{"label","limit","limit_remaining",..}}; 401 {"error":{"message":"User not found.","code":401}}.
      classify = http_classifier {
        label = "OpenRouter", keys = "OPENROUTER_API_KEY",
        body_error = llm_error, ok = openrouter_ok,
        expect = "the key description", ok_reason = "OpenRouter reports the key as valid",
      },
      suggested_fix = SUGGESTED_FIX,
      setup_instructions = setup("OpenRouter", "OPENROUTER_API_KEY (your OpenRouter key, sk-or-v1-...)",
        "OPENROUTER_BASE_URL (default https://openrouter.ai/api/v1)"),
      docs_url = "https://openrouter.ai/docs/api-reference/api-keys/get-current-key",
    },

    {
      id = "unusual_whales",
      label = "Unusual Whales",
      category = "alt_data",
      role = "Options flow and alternative data (enrichment)",
      required_env_vars = { "UNUSUAL_WHALES_API_KEY" },
      optional_env_vars = { "UW_API_KEY", "UNUSUAL_WHALES_BASE_URL" },
      public_env_vars = { "UNUSUAL_WHALES_BASE_URL" },
      -- The official MCP server reads UW_API_KEY.
      aliases = { UNUSUAL_WHALES_API_KEY = "UW_API_KEY" },
      base_url_env = "UNUSUAL_WHALES_BASE_URL",
      default_base_url = "https://api.unusualwhales.com",
      required_for_autonomy = false,
      supports_verify = true,
      -- The probe counts toward the daily quota: re-verify hourly.
      verify_ttl_s = 3600,
      -- Official MCP client default throttle: 120/min = 2/s.
      rate_limit = { requests_per_s = 2, burst = 2, max_concurrency = 2 },
      verify = {
        timeout_ms = 5000,
        steps = {
          -- A path from the vendor spec (invented paths return 404).
          { name = "stock_info", method = "GET", path = "/api/stock/AAPL/info",
            auth = { scheme = "bearer", env = "UNUSUAL_WHALES_API_KEY" },
            expect_status = 200 },
        },
      },
      -- 200 {"data":{..}}; 401 (body unconfirmed); 429 with retry-after.
      classify = http_classifier {
        label = "Unusual Whales", keys = "UNUSUAL_WHALES_API_KEY (or UW_API_KEY)",
        ok = has_list("data"), expect = "stock info", ok_reason = "Unusual Whales returned stock info",
      },
      suggested_fix = "Set ${MISSING} (or its alias UW_API_KEY) in " .. WHERE ..
        ", restart gatehouse, then press Verify for ${LABEL}.",
      setup_instructions = setup("Unusual Whales",
        "UNUSUAL_WHALES_API_KEY (your Unusual Whales API token; UW_API_KEY is accepted instead)",
        "UNUSUAL_WHALES_BASE_URL (default https://api.unusualwhales.com)"),
      docs_url = "https://api.unusualwhales.com/docs",
    },

    {
      id = "redis",
      label = "Redis",
      category = "infra",
      role = "Optional cache and locks",
      required_env_vars = { "REDIS_URL" },
      optional_env_vars = {},
      public_env_vars = {},
      base_url_env = nil,
      default_base_url = nil,
      required_for_autonomy = false,
      supports_verify = true,
      verify_ttl_s = 900,
      -- Local infrastructure, no vendor limit; keeps a verify storm bounded.
      rate_limit = { requests_per_s = 50, burst = 10, max_concurrency = 4 },
      verify = {
        timeout_ms = 3000,
        steps = {
          -- AUTH (user/password from the URL) then PING; read-only.
          { name = "ping", protocol = "resp", command = "PING", expect = "+PONG",
            auth = { scheme = "resp", env = "REDIS_URL" } },
        },
      },
      classify = classify_redis,
      suggested_fix = SUGGESTED_FIX,
      setup_instructions = setup("Redis",
        "REDIS_URL (redis://[user]:password@host:port/db, or rediss:// for TLS)"),
      docs_url = "https://redis.io/docs/latest/commands/ping/",
    },

    {
      id = "discord",
      label = "Discord webhook",
      category = "alerts",
      role = "Optional operator alerts",
      required_env_vars = { "DISCORD_WEBHOOK_URL" },
      optional_env_vars = {},
      public_env_vars = {},
      base_url_env = nil,
      default_base_url = nil,
      required_for_autonomy = false,
      supports_verify = true,
      verify_ttl_s = 900,
      -- Discord's per-webhook bucket is a few requests per second (not in the reference).
      rate_limit = { requests_per_s = 1, burst = 2, max_concurrency = 1 },
      verify = {
        timeout_ms = 5000,
        steps = {
          -- GET returns the webhook object and posts nothing. Never POST to verify.
          { name = "get_webhook", method = "GET",
            auth = { scheme = "url_env", env = "DISCORD_WEBHOOK_URL" },
            expect_status = 200 },
        },
      },
      -- 200 {"type":1,"id","name","channel_id","token",..}; 401 code 50027; 404 code 10015.
      classify = http_classifier {
        label = "Discord", keys = "DISCORD_WEBHOOK_URL",
        body_error = discord_body,
        ok = function(j) return present(j.id) and (present(j.channel_id) or present(j.token)) end,
        expect = "a webhook object", ok_reason = "Discord knows this webhook (nothing was posted)",
      },
      suggested_fix = SUGGESTED_FIX,
      setup_instructions = setup("Discord webhook",
        "DISCORD_WEBHOOK_URL (the full https://discord.com/api/webhooks/{id}/{token} URL from Channel → Integrations → Webhooks)"),
      docs_url = "https://discord.com/developers/docs/resources/webhook#get-webhook-with-token",
    },
  },
}
