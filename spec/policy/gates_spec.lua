--[[ gates_spec.lua — policy spec for gates.lua.
Run: bin/gatehouse spec spec/policy/gates_spec.lua (inside the policy sandbox; TAP out).
Input: spec.policy("gates.lua") and spec.policy("providers.lua") (fresh loads). Snapshots are built
from providers.lua's real registry and priority, shaped like the C snapshot (PRODUCT.md §4 states).
Output: assertions through spec.ok / spec.is / spec.same; the runner prints the plan. ]]

local G = spec.policy("gates.lua")
local P = spec.policy("providers.lua")
local NOW = 1764000000

spec.is(G.schema_version, 1, "schema_version is 1")
spec.is(G.thresholds.scheduler_stale_s, 10, "thresholds.scheduler_stale_s defaults to 10")
spec.is(type(G.evaluate), "function", "evaluate is a function")
spec.is(type(G.safe_start), "function", "safe_start is a function")

---------------------------------------------------------------------------------------------------
-- Snapshot builder
---------------------------------------------------------------------------------------------------

local REG = {}
for _, p in ipairs(P.providers) do REG[p.id] = p end

local function copy(t)
  local r = {}
  for i, v in ipairs(t) do r[i] = v end
  return r
end

-- One provider as C derives it. st: nil (no keys) | "connected" | "failing" | "configured".
local function provider(p, st, outcome)
  local e = { id = p.id, label = p.label, category = p.category, required_for_autonomy = p.required_for_autonomy,
              required_env_vars = copy(p.required_env_vars), missing_env_vars = {}, configured = st ~= nil,
              verified = st == "connected", connected = st == "connected", in_use = false, proof_24h = 0,
              bars = type(p.bars) == "table" }   -- C: the provider has a bars description
  if st == nil then
    e.state, e.error_code = "NOT_CONFIGURED", "INTEGRATION_KEY_MISSING"
    e.missing_env_vars = copy(p.required_env_vars)
    e.suggested_fix = p.suggested_fix:gsub("%${MISSING}", table.concat(p.required_env_vars, ", "))
      :gsub("%${LABEL}", p.label)
  elseif st == "connected" then
    e.state, e.last_verify_outcome, e.last_verified_at, e.last_ok_at = "VERIFIED", "OK", NOW - 60, NOW - 60
    e.verify_latency_ms = 120
  elseif st == "failing" then
    e.state = "DEGRADED"
    e.last_verify_outcome = outcome or "PROVIDER_ERROR"
    e.error_code = e.last_verify_outcome
    e.last_verified_at, e.last_ok_at = NOW - 30, NOW - 3600
    e.reason_human = p.label .. " is failing on its side (HTTP 503); retry later"
    e.suggested_fix = e.reason_human
  else
    e.state = "CONFIGURED"
  end
  return e
end

-- snapshot(states, over): states maps provider id → state; over overrides top-level tables.
local function snapshot(states, over)
  local s = {
    now = NOW,
    db = { reachable = true, last_ok_at = NOW },
    policy = { loaded = true, version = "abcd1234" },
    scheduler = { active = true, leader = true, last_tick_at = NOW - 1, loop_lag_ms = 3 },
    trading = { enabled = true, mode = "LIVE" },
    risk = { enforcing = true },
    priority = P.priority,
    providers = {},
    breakers = {},
    bot_blockers = {},
    security = { app_enc_key = true },
  }
  for i, p in ipairs(P.providers) do
    local st = states[p.id] or nil -- false: no keys
    if type(st) == "table" then
      s.providers[i] = provider(p, st[1], st[2])
    else
      s.providers[i] = provider(p, st)
    end
  end
  for k, v in pairs(over or {}) do s[k] = v end
  return s
end

-- Everything a LIVE start needs.
local HEALTHY = { databento = "connected", polygon = "connected", ironbeam = "connected", openai = "connected" }

local function with(base, changes)
  local r = {}
  for k, v in pairs(base) do r[k] = v end
  for k, v in pairs(changes) do r[k] = v end
  return r
end

local function codes(blockers)
  local r = {}
  for i, b in ipairs(blockers) do r[i] = b.code end
  return r
end

local function ids(entries)
  local r = {}
  for i, e in ipairs(entries) do r[i] = e.providerId end
  return r
end

local function find(blockers, code)
  for _, b in ipairs(blockers) do
    if b.code == code then return b end
  end
  return nil
end

local function has_text(s, needle) return type(s) == "string" and s:find(needle, 1, true) ~= nil end

---------------------------------------------------------------------------------------------------
-- Healthy baseline
---------------------------------------------------------------------------------------------------

local r = G.evaluate(snapshot(HEALTHY))
spec.is(r.system_status, "OK", "healthy: OK")
spec.is(r.autonomy_allowed, true, "healthy: autonomy allowed")
spec.same(r.blockers, {}, "healthy: no blockers")
spec.same(r.live_stack.infra, { db = "OK", redis = "NOT_CONFIGURED", queue = "OK" }, "healthy: infra")
spec.same(G.evaluate(snapshot(HEALTHY)), r, "evaluate is deterministic (same snapshot, same decision)")

---------------------------------------------------------------------------------------------------
-- No keys: one blocker per missing requirement, each naming the exact variables
---------------------------------------------------------------------------------------------------

r = G.evaluate(snapshot({}, { trading = { enabled = false, mode = "PAPER" },
  risk = { enforcing = false, reason = "scripts/risk.lua is not loaded" } }))
spec.is(r.system_status, "BLOCKED", "no keys: BLOCKED")
spec.is(r.autonomy_allowed, false, "no keys: autonomy not allowed")
local got = {}
for i, b in ipairs(r.blockers) do got[i] = { b.code, b.severity, b.scope, b.integration } end
spec.same(got, {
  { "INTEGRATION_KEY_MISSING", "SEV-1", "system", "databento" },
  { "INTEGRATION_KEY_MISSING", "SEV-2", "live", "ironbeam" },
  { "LIVE_TRADING_DISABLED", "SEV-2", "live" },
  { "RISK_ENGINE_NOT_ENFORCING", "SEV-2", "live" },
  { "INTEGRATION_KEY_MISSING", "SEV-2", "ai", "openai" },
}, "no keys: market data, broker, live switch, risk and LLM blockers, SEV-1 first")
for _, b in ipairs(r.blockers) do
  spec.ok(type(b.message) == "string" and type(b.reason_human) == "string" and type(b.suggested_fix) == "string",
    b.code .. " (" .. b.scope .. "): message, reason_human and suggested_fix are text")
end
local CAT_OF = { system = "market_data", live = "execution", ai = "llm" }
for _, b in ipairs(r.blockers) do
  if b.code == "INTEGRATION_KEY_MISSING" then
    local cat = CAT_OF[b.scope]
    for _, id in ipairs(P.priority[cat]) do
      for _, var in ipairs(REG[id].required_env_vars) do
        spec.ok(has_text(b.suggested_fix, var), cat .. " key blocker names " .. var)
      end
    end
    local first = REG[P.priority[cat][1]]
    local want = "Set " .. table.concat(first.required_env_vars, ", ") .. " (" .. first.label ..
      ") in the environment"
    spec.ok(has_text(b.suggested_fix, want), cat .. " key blocker names the primary's variables first")
  end
end
spec.is(find(r.blockers, "INTEGRATION_KEY_MISSING").suggested_fix,
  "Set DATABENTO_API_KEY (Databento) in the environment, or a backup: POLYGON_API_KEY (Polygon.io (Massive)); " ..
  "FINNHUB_API_KEY (Finnhub); ALPHAVANTAGE_API_KEY (Alpha Vantage); then restart gatehouse and press Verify.",
  "no keys: the market-data fix, literally")
spec.is(r.blockers[2].message, "Missing Ironbeam keys", "no keys: 'Missing Ironbeam keys'")
spec.ok(not has_text(r.blockers[1].suggested_fix, "FMP_API_KEY"), "fmp is not a bar feed: not offered as a backup")
spec.is(r.live_stack.marketData.primary, nil, "no keys: no market-data primary")
spec.same(ids(r.live_stack.marketData.backups), P.priority.market_data, "no keys: every listed feed is a backup")
spec.same(ids(r.live_stack.llm.fallbacks), P.priority.llm, "no keys: every LLM is a fallback")

---------------------------------------------------------------------------------------------------
-- Live stack: primary and backups by priority
---------------------------------------------------------------------------------------------------

local only_db = snapshot({ databento = "connected" })
r = G.evaluate(only_db)
spec.is(r.live_stack.marketData.primary.providerId, "databento", "only Databento: primary databento")
spec.same(ids(r.live_stack.marketData.backups), { "polygon", "finnhub", "alphavantage" },
  "only Databento: backups polygon, finnhub, alphavantage in order")
spec.same(r.live_stack.marketData.primary, { providerId = "databento", configured = true, verified = true,
  connected = true, in_use = false, last_verified_at = NOW - 60, proof_24h = 0, missing_env_vars = {} },
  "the entry is copied from the provider (seed 002 shape)")
spec.same(r.live_stack.marketData.backups[1], { providerId = "polygon", configured = false, verified = false,
  connected = false, in_use = false, proof_24h = 0, missing_env_vars = { "POLYGON_API_KEY" },
  error_code = "INTEGRATION_KEY_MISSING", suggested_fix = only_db.providers[2].suggested_fix },
  "a backup keeps its state, missing variables and fix")
spec.is(r.autonomy_allowed, true, "only Databento: autonomy allowed (no SEV-1)")
spec.is(r.live_stack.execution.primary, nil, "only Databento: no broker primary")
spec.same(ids(r.live_stack.execution.backups), { "ironbeam", "tradovate" }, "broker backups in priority order")

local failover = with(HEALTHY, { databento = "failing", polygon = "connected" })
r = G.evaluate(snapshot(failover))
spec.is(r.live_stack.marketData.primary.providerId, "polygon", "Databento failing: primary switches to polygon")
spec.same(ids(r.live_stack.marketData.backups), { "databento", "finnhub", "alphavantage" },
  "Databento failing: databento is listed first among the backups")
spec.is(r.system_status, "DEGRADED", "Databento failing: DEGRADED")
spec.is(r.autonomy_allowed, true, "Databento failing: autonomy still allowed")
spec.same(codes(r.blockers), { "INTEGRATION_VERIFY_FAILED" }, "Databento failing: one blocker")
spec.is(r.blockers[1].integration, "databento", "the blocker names databento")
spec.is(r.blockers[1].severity, "SEV-2", "failover is SEV-2")
spec.is(r.blockers[1].message, "Databento probe failing", "'Databento probe failing'")
spec.ok(has_text(r.blockers[1].suggested_fix, "PROVIDER_ERROR"), "the fix carries the failing outcome")

r = G.evaluate(snapshot(HEALTHY))
spec.is(r.live_stack.marketData.primary.providerId, "databento", "recovery: databento is primary again")
spec.is(r.system_status, "OK", "recovery: OK")

local edited = snapshot(HEALTHY, { priority = { market_data = { "polygon", "databento", "finnhub", "alphavantage" },
  execution = P.priority.execution, llm = P.priority.llm } })
r = G.evaluate(edited)
spec.is(r.live_stack.marketData.primary.providerId, "polygon", "priority edited (polygon first): polygon primary")
spec.same(ids(r.live_stack.marketData.backups), { "databento", "finnhub", "alphavantage" },
  "edited priority: backups")

r = G.evaluate(snapshot({ databento = "failing", polygon = "connected", ironbeam = "connected",
  openai = "connected" }))
spec.is(r.live_stack.marketData.primary.providerId, "polygon", "failover without finnhub keys: polygon")

r = G.evaluate(snapshot(with(HEALTHY, { databento = "configured", polygon = { "failing", "AUTH_FAILED" },
  finnhub = nil })))
spec.is(r.system_status, "BLOCKED", "market data configured but none connected: BLOCKED")
spec.same(codes(r.blockers), { "DATA_UNAVAILABLE" }, "one DATA_UNAVAILABLE, no duplicate for polygon")
spec.is(r.blockers[1].integration, "databento", "DATA_UNAVAILABLE names the first configured feed")
spec.ok(has_text(r.blockers[1].suggested_fix, "Press Verify for Databento"),
  "not verified yet: the fix says press Verify")
spec.ok(has_text(r.blockers[1].reason_human, "AUTH_FAILED"), "the reason lists polygon's failing outcome")

r = G.evaluate(snapshot(with(HEALTHY, { databento = { "failing", "NOT_ENTITLED" }, polygon = false })))
spec.is(r.blockers[1].message, "Databento probe failing", "only feed failing: 'Databento probe failing'")
local fix = r.blockers[1].suggested_fix
spec.ok(has_text(fix, "Check entitlement") and has_text(fix, "NOT_ENTITLED"),
  "only feed failing: 'Check entitlement ...' with the outcome")

r = G.evaluate(snapshot(with(HEALTHY, { polygon = "failing" })))
spec.same(codes(r.blockers), { "INTEGRATION_VERIFY_FAILED" }, "a required_for_autonomy backup failing: SEV-2")
spec.is(r.blockers[1].integration, "polygon", "... naming polygon")
r = G.evaluate(snapshot(with(HEALTHY, { finnhub = "failing" })))
spec.is(r.system_status, "OK", "a fallback below the primary failing (not required for autonomy): OK")
r = G.evaluate(snapshot(with(HEALTHY, { openai = "failing", anthropic = "connected" })))
spec.is(r.live_stack.llm.primary.providerId, "anthropic", "LLM failover: anthropic primary")
spec.same(codes(r.blockers), { "INTEGRATION_VERIFY_FAILED" }, "LLM failover: one SEV-2 notice")
spec.is(r.blockers[1].scope, "system", "a failover notice blocks nothing (scope system, SEV-2)")

---------------------------------------------------------------------------------------------------
-- System rules
---------------------------------------------------------------------------------------------------

r = G.evaluate(snapshot(HEALTHY, { db = { reachable = false, last_ok_at = NOW - 42 } }))
spec.is(r.system_status, "BLOCKED", "DB down: BLOCKED")
spec.is(r.blockers[1].code, "DB_UNAVAILABLE", "DB down: DB_UNAVAILABLE")
spec.is(r.blockers[1].severity, "SEV-1", "DB down: SEV-1")
spec.is(r.blockers[1].suggested_fix,
  "Check DATABASE_URL and that Postgres is running; gatehouse reconnects by itself", "DB down: the fix")
spec.same(r.live_stack.infra, { db = "BLOCKED", redis = "NOT_CONFIGURED", queue = "DEGRADED" }, "DB down: infra")
r = G.evaluate(snapshot(HEALTHY, { db = { reachable = true, last_ok_at = NOW - 60 } }))
spec.is(r.blockers[1] and r.blockers[1].code, "DB_UNAVAILABLE", "DB monitor silent past db_stale_s: DB_UNAVAILABLE")

r = G.evaluate(snapshot(HEALTHY, { policy = { loaded = true, version = "abcd1234",
  last_reload_error = "gates.lua:42: attempt to index a nil value (field 'x')" } }))
spec.is(r.system_status, "DEGRADED", "policy reload error: DEGRADED")
spec.same(codes(r.blockers), { "POLICY_ERROR" }, "policy reload error: POLICY_ERROR")
spec.is(r.blockers[1].severity, "SEV-2", "policy reload error: SEV-2 (old generation serving)")
spec.ok(has_text(r.blockers[1].suggested_fix, "Fix gates.lua:42"), "policy reload error: the fix names file:line")
-- APP_ENC_KEY missing: 2FA fails closed; a SEV-2 system notice (starts are not blocked by it)
for _, sec in ipairs({ { app_enc_key = false }, {} }) do
  r = G.evaluate(snapshot(HEALTHY, { security = sec }))
  spec.is(r.system_status, "DEGRADED", "APP_ENC_KEY missing: DEGRADED")
  spec.same(codes(r.blockers), { "ENCRYPTION_KEY_MISSING" }, "APP_ENC_KEY missing: ENCRYPTION_KEY_MISSING")
  spec.same({ r.blockers[1].severity, r.blockers[1].scope }, { "SEV-2", "system" }, "APP_ENC_KEY missing: SEV-2 system")
  spec.ok(has_text(r.blockers[1].suggested_fix, "gatehouse keygen"), "APP_ENC_KEY missing: the fix names keygen")
  spec.is(G.safe_start({ stage = "LIVE" }, snapshot(HEALTHY, { security = sec })).allowed, true,
    "APP_ENC_KEY missing: a LIVE start is not blocked by it")
end
r = G.evaluate(snapshot(HEALTHY, { security = nil }))
spec.same(codes(r.blockers), {}, "security table given: no ENCRYPTION_KEY_MISSING")

r = G.evaluate(snapshot(HEALTHY, { policy = { loaded = false } }))
spec.is(r.system_status, "BLOCKED", "policy not loaded: BLOCKED")
spec.same({ r.blockers[1].code, r.blockers[1].severity }, { "POLICY_ERROR", "SEV-1" },
  "policy not loaded: POLICY_ERROR SEV-1")

r = G.evaluate(snapshot(HEALTHY, { scheduler = { active = false, leader = false } }))
spec.is(r.system_status, "BLOCKED", "scheduler inactive: BLOCKED")
spec.is(r.blockers[1].code, "HEARTBEAT_TIMEOUT", "scheduler inactive: HEARTBEAT_TIMEOUT")
spec.is(r.live_stack.infra.queue, "DEGRADED", "scheduler inactive: queue DEGRADED")

local stale = snapshot(HEALTHY, { scheduler = { active = true, leader = true, last_tick_at = NOW - 30,
  loop_lag_ms = 2 } })
r = G.evaluate(stale)
spec.is(r.system_status, "BLOCKED", "last tick 30 s ago, scheduler_stale_s = 10: BLOCKED")
spec.is(r.blockers[1].code, "HEARTBEAT_TIMEOUT", "stale tick: HEARTBEAT_TIMEOUT")
G.thresholds.scheduler_stale_s = 60
r = G.evaluate(stale)
spec.is(r.system_status, "OK", "thresholds.scheduler_stale_s = 60 changes the decision: OK")
G.thresholds.scheduler_stale_s = 10

r = G.evaluate(snapshot(HEALTHY, { scheduler = { active = true, leader = true, last_tick_at = NOW,
  loop_lag_ms = 900 } }))
spec.same({ r.system_status, codes(r.blockers), r.blockers[1].severity },
  { "DEGRADED", { "HEARTBEAT_TIMEOUT" }, "SEV-2" },
  "loop lag above loop_lag_warn_ms: DEGRADED")

-- The fleet: absent (before fleet.c's first round) raises nothing; over capacity and long-unowned shards
-- are system SEV-2s (DEGRADED, autonomy still allowed, starts not denied).
local FLEET_OK = { lease_s = 7, shard_count = 64, alive_instances = 2, unowned_shards = 0, unowned_max_s = 0,
  over_capacity = {} }
r = G.evaluate(snapshot(HEALTHY, { fleet = nil }))
spec.same({ r.system_status, codes(r.blockers) }, { "OK", {} }, "no fleet facts: no fleet blocker")
r = G.evaluate(snapshot(HEALTHY, { fleet = FLEET_OK }))
spec.same({ r.system_status, codes(r.blockers) }, { "OK", {} }, "healthy fleet: no fleet blocker")
local over = with(FLEET_OK, { over_capacity = { { instance_id = "inst-a", host = "gh-a", owned_bots = 1500,
  capacity = 1000 } } })
r = G.evaluate(snapshot(HEALTHY, { fleet = over }))
spec.same({ r.system_status, r.autonomy_allowed, codes(r.blockers), r.blockers[1].severity, r.blockers[1].scope },
  { "DEGRADED", true, { "FLEET_OVER_CAPACITY" }, "SEV-2", "system" },
  "an instance over capacity: FLEET_OVER_CAPACITY SEV-2 system, DEGRADED, autonomy allowed")
local b = r.blockers[1]
spec.ok(has_text(b.reason_human, "inst-a") and has_text(b.reason_human, "gh-a") and
  has_text(b.reason_human, "1500") and has_text(b.reason_human, "1000"),
  "FLEET_OVER_CAPACITY names the instance, host, owned bots and capacity")
spec.ok(has_text(b.suggested_fix, "GATEHOUSE_CAPACITY") and has_text(b.suggested_fix, "Add an instance"),
  "FLEET_OVER_CAPACITY fix: add an instance or raise GATEHOUSE_CAPACITY")
spec.is(G.safe_start({ stage = "LIVE" }, snapshot(HEALTHY, { fleet = over })).allowed, true,
  "FLEET_OVER_CAPACITY does not deny a LIVE start")
r = G.evaluate(snapshot(HEALTHY, { fleet = with(FLEET_OK, { over_capacity = {
  { instance_id = "inst-a", host = "gh-a", owned_bots = 1500, capacity = 1000 },
  { instance_id = "inst-b", host = "gh-b", owned_bots = 3, capacity = 2 } } }) }))
spec.same(codes(r.blockers), { "FLEET_OVER_CAPACITY", "FLEET_OVER_CAPACITY" },
  "two instances over capacity: one blocker each")
r = G.evaluate(snapshot(HEALTHY, { fleet = with(FLEET_OK, { unowned_shards = 5, unowned_max_s = 14 }) }))
spec.same(codes(r.blockers), {}, "shards unowned for exactly 2 lease periods: no blocker yet")
r = G.evaluate(snapshot(HEALTHY, { fleet = with(FLEET_OK, { unowned_shards = 5, unowned_max_s = 15.2 }) }))
spec.same({ r.system_status, codes(r.blockers), r.blockers[1].severity, r.blockers[1].scope },
  { "DEGRADED", { "SHARDS_UNOWNED" }, "SEV-2", "system" },
  "5 shards unowned for 15 s > 2 * 7 s: SHARDS_UNOWNED SEV-2 system, DEGRADED")
spec.ok(has_text(r.blockers[1].reason_human, "5 of 64 shards") and has_text(r.blockers[1].reason_human, "15 s"),
  "SHARDS_UNOWNED names how many shards and for how long")
spec.ok(has_text(r.blockers[1].suggested_fix, "fleet:") and has_text(r.blockers[1].suggested_fix, "Start"),
  "SHARDS_UNOWNED fix: start an instance, check the fleet: log lines")
r = G.evaluate(snapshot(HEALTHY, { fleet = with(FLEET_OK, { lease_s = 30, unowned_shards = 5,
  unowned_max_s = 40 }) }))
spec.same(codes(r.blockers), {}, "lease_s = 30: 40 s unowned is within 2 lease periods")
r = G.evaluate(snapshot(HEALTHY, { fleet = with(FLEET_OK, { unowned_shards = 0, unowned_max_s = 100 }) }))
spec.same(codes(r.blockers), {}, "no unowned shard: no SHARDS_UNOWNED whatever unowned_max_s says")

local BOT, OTHER = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
local tripped = snapshot(HEALTHY, { breakers = { { bot_id = BOT, state = "OPEN", bot_name = "es-sma" },
  { bot_id = OTHER, state = "CLOSED", bot_name = "nq-rsi" } } })
r = G.evaluate(tripped)
spec.is(r.system_status, "DEGRADED", "breaker open: DEGRADED, not BLOCKED")
spec.is(r.autonomy_allowed, true, "breaker open: autonomy still allowed")
spec.same(codes(r.blockers), { "CIRCUIT_OPEN" }, "breaker open: one CIRCUIT_OPEN (the closed one adds none)")
spec.same({ r.blockers[1].bot_id, r.blockers[1].scope }, { BOT, "bot" }, "CIRCUIT_OPEN carries bot_id, scope bot")

r = G.evaluate(snapshot(HEALTHY, { db = { reachable = false }, policy = { loaded = true, version = "v",
  last_reload_error = "scripts/risk.lua:3: x" }, breakers = { { bot_id = BOT, state = "OPEN" } } }))
spec.same(codes(r.blockers), { "DB_UNAVAILABLE", "POLICY_ERROR", "CIRCUIT_OPEN" },
  "mixed: SEV-1 first, then rule order")

local redis_up = snapshot(with(HEALTHY, { redis = "connected" }))
spec.is(G.evaluate(redis_up).live_stack.infra.redis, "OK", "redis connected: OK")
r = G.evaluate(snapshot(with(HEALTHY, { redis = "failing" })))
spec.same({ r.live_stack.infra.redis, r.system_status }, { "DEGRADED", "OK" },
  "redis failing: infra.redis DEGRADED, no blocker (optional)")

---------------------------------------------------------------------------------------------------
-- safe_start
---------------------------------------------------------------------------------------------------

local paper_only = snapshot({ databento = "connected" }, { trading = { enabled = false, mode = "PAPER" },
  risk = { enforcing = false } })

-- decide(req, snap, want_codes, desc): allowed exactly when want_codes is empty; returns the decision.
local function decide(req, snap, want, desc)
  local d = G.safe_start(req, snap)
  spec.same({ d.allowed, codes(d.blockers) }, { want[1] == nil, want }, desc)
  return d
end

local d = decide({ stage = "PAPER", requires_ai = false }, paper_only, {},
  "PAPER allowed when market data is connected (no broker, live off, no LLM)")
decide({ stage = "SHADOW" }, paper_only, {}, "SHADOW allowed too")
decide({ stage = "PAPER" }, snapshot({}), { "INTEGRATION_KEY_MISSING" }, "PAPER denied without market data")
decide({ stage = "PAPER" }, snapshot(HEALTHY, { db = { reachable = false } }), { "DB_UNAVAILABLE" },
  "any SEV-1 denies every stage")

local LIVE = { stage = "LIVE" }
decide(LIVE, snapshot(HEALTHY, { trading = { enabled = false, mode = "PAPER" } }), { "LIVE_TRADING_DISABLED" },
  "LIVE denied: LIVE_TRADING_DISABLED")
d = decide(LIVE, snapshot(with(HEALTHY, { ironbeam = { "failing", "AUTH_FAILED" } })),
  { "EXECUTION_BROKER_UNAVAILABLE" }, "LIVE denied: EXECUTION_BROKER_UNAVAILABLE")
spec.ok(has_text(d.blockers[1].suggested_fix, "IRONBEAM_USERNAME, IRONBEAM_PASSWORD, IRONBEAM_API_KEY"),
  "broker AUTH_FAILED: the fix names the Ironbeam variables")
d = decide(LIVE, snapshot(with(HEALTHY, { ironbeam = false, tradovate = "failing" })),
  { "EXECUTION_BROKER_UNAVAILABLE" }, "Ironbeam without keys, Tradovate failing: EXECUTION_BROKER_UNAVAILABLE")
spec.is(d.blockers[1].integration, "tradovate", "... naming tradovate")
spec.ok(has_text(d.blockers[1].suggested_fix, "Or set IRONBEAM_USERNAME, IRONBEAM_PASSWORD, IRONBEAM_API_KEY"),
  "... and its fix also names the primary broker's variables")
decide(LIVE, snapshot(HEALTHY, { risk = { enforcing = false, reason = "scripts/risk.lua is not loaded" } }),
  { "RISK_ENGINE_NOT_ENFORCING" }, "LIVE denied: RISK_ENGINE_NOT_ENFORCING")
d = decide(LIVE, snapshot(with(HEALTHY, { ironbeam = false })), { "INTEGRATION_KEY_MISSING" },
  "LIVE denied: Ironbeam keys missing")
spec.ok(has_text(d.blockers[1].suggested_fix,
  "Set IRONBEAM_USERNAME, IRONBEAM_PASSWORD, IRONBEAM_API_KEY (Ironbeam) in the environment"),
  "'Missing Ironbeam keys' → set IRONBEAM_USERNAME, IRONBEAM_PASSWORD, IRONBEAM_API_KEY")
decide(LIVE, snapshot(with(HEALTHY, { ironbeam = false, tradovate = "connected" })), {},
  "LIVE allowed on the backup broker (tradovate)")
local on_fallback = snapshot(with(HEALTHY, { databento = false, polygon = false, finnhub = "connected" }))
-- Finnhub serves quotes, not bars (no bars description in providers.lua): no stage can tick on it (issue 20);
-- LIVE gets the bars blocker and the fallback-feed blocker.
decide(LIVE, on_fallback, { "DATA_UNAVAILABLE", "DATA_UNAVAILABLE" }, "LIVE denied on a quote-only fallback feed")
decide({ stage = "PAPER" }, on_fallback, { "DATA_UNAVAILABLE" }, "PAPER refused on a quote-only feed (ticks need bars)")
local on_polygon = snapshot(with(HEALTHY, { databento = false, polygon = "connected" }))
decide({ stage = "PAPER" }, on_polygon, {}, "PAPER runs on the bars backup (polygon)")
decide({ stage = "LIVE", requires_ai = true, bot_id = BOT, autonomy_tier = "FULL_AUTONOMY" }, snapshot(HEALTHY), {},
  "LIVE allowed when every gate passes")
decide(LIVE, snapshot(failover), {}, "LIVE allowed during failover to polygon (the notice blocks nothing)")

d = decide({ stage = "PAPER", requires_ai = true }, paper_only, { "INTEGRATION_KEY_MISSING" },
  "requires_ai denied without an LLM")
spec.is(d.blockers[1].scope, "ai", "... by the ai-scope blocker")
decide({ stage = "PAPER", requires_ai = true }, snapshot({ databento = "connected", anthropic = "configured" }),
  { "INTEGRATION_VERIFY_FAILED" }, "requires_ai denied when the LLM is configured but not verified")

d = decide({ stage = "PAPER", bot_id = BOT }, tripped, { "CIRCUIT_OPEN" }, "an open breaker denies that bot")
spec.is(d.blockers[1].bot_id, BOT, "... naming its bot_id")
decide({ stage = "PAPER", bot_id = OTHER }, tripped, {}, "... and only that bot")

decide({ stage = "YOLO" }, snapshot(HEALTHY), { "VALIDATION_FAILED" }, "unknown stage denied: VALIDATION_FAILED")
decide({}, snapshot(HEALTHY), { "VALIDATION_FAILED" }, "missing stage denied")
decide({ stage = "PAPER", autonomy_tier = "GODMODE" }, snapshot(HEALTHY), { "VALIDATION_FAILED" },
  "unknown tier denied")
decide({ stage = "PAPER", autonomy_tier = "LOCKED", bot_id = BOT }, snapshot(HEALTHY), { "AUTONOMY_TIER_LOCKED" },
  "LOCKED tier denied")
decide({ stage = "PAPER", autonomy_tier = "SUPERVISED" }, snapshot(HEALTHY), {}, "SUPERVISED may start PAPER")
decide({ stage = "LIVE", autonomy_tier = "SUPERVISED" }, snapshot(HEALTHY), { "AUTONOMY_TIER_LOCKED" },
  "SUPERVISED may not start LIVE")
d = decide({ stage = "PAPER", autonomy_tier = "LOCKED", bot_id = BOT, autonomy_score = 12,
             autonomy_reason = "The bot's own bars calls are failing.", autonomy_fix = "Check the symbol." },
           snapshot(HEALTHY), { "AUTONOMY_TIER_LOCKED" }, "LOCKED with the autonomy blocker's words")
spec.ok(has_text(d.blockers[1].reason_human, "LOCKED (score 12)") and has_text(d.blockers[1].reason_human, "bars calls are failing"),
  "the tier blocker says the score and why")
spec.ok(has_text(d.blockers[1].suggested_fix, "Check the symbol."), "and carries the autonomy fix")
decide({ stage = "PAPER", autonomy_tier = "LOCKED", autonomy_score = "low" }, snapshot(HEALTHY), { "VALIDATION_FAILED" },
  "autonomy_score of the wrong type denied")
decide({ stage = "LIVE", autonomy_tier = "LIMITED_AUTONOMY" }, snapshot(HEALTHY), {},
  "LIMITED_AUTONOMY may start LIVE (risk.lua reduces its limits)")
spec.ok(not pcall(G.evaluate, nil), "evaluate(nil) raises (C fails closed)")
r = G.evaluate({})
spec.same({ r.system_status, r.autonomy_allowed }, { "BLOCKED", false }, "an empty snapshot fails closed")

---------------------------------------------------------------------------------------------------
-- Scale: 1,000 bots
---------------------------------------------------------------------------------------------------

local big = snapshot(HEALTHY)
for i = 1, 1000 do
  big.breakers[i] = { bot_id = string.format("bot-%04d", i), state = (i % 2 == 0) and "OPEN" or "CLOSED",
                      bot_name = "bot " .. i }
end
local t0 = rt.now()
r = G.evaluate(big)
local t_eval = (rt.now() - t0) * 1000
spec.is(#r.blockers, 500, "1,000 breakers (500 open): 500 CIRCUIT_OPEN blockers")
for i = 1, 1000 do big.breakers[i].state = "OPEN" end
t0 = rt.now()
r = G.evaluate(big)
local t_eval_all = (rt.now() - t0) * 1000
spec.is(#r.blockers, 1000, "1,000 open breakers: 1,000 blockers")
t0 = rt.now()
local denied = 0
for i = 1, 1000 do
  local d_i = G.safe_start({ stage = "PAPER", bot_id = big.breakers[i].bot_id }, big)
  if not d_i.allowed then denied = denied + 1 end
end
local t_starts = (rt.now() - t0) * 1000
spec.is(denied, 1000, "1,000 safe_start calls, one per bot: each denied by its own breaker")
spec.ok(true, string.format("timing: evaluate 1,000 breakers %.2f ms (500 open), %.2f ms (1,000 open); " ..
  "1,000 safe_start calls %.2f ms", t_eval, t_eval_all, t_starts))

---------------------------------------------------------------------------------------------------
-- Bars gate and bot blockers (issue 20)
---------------------------------------------------------------------------------------------------

-- Only quote feeds connected (Finnhub): no bot can run — every tick needs bars.
r = G.evaluate(snapshot({ finnhub = "connected", ironbeam = "connected", openai = "connected" }))
local bars_b = r.blockers[1]
spec.same({ r.system_status, bars_b.code, bars_b.severity, bars_b.scope }, { "BLOCKED", "DATA_UNAVAILABLE", "SEV-1", "system" },
          "only Finnhub connected: DATA_UNAVAILABLE SEV-1 (no provider serves bars)")
spec.ok(bars_b.message:find("serves bars", 1, true) ~= nil, "... saying no connected provider serves bars")
spec.ok(bars_b.suggested_fix:find("Databento", 1, true) ~= nil, "... and naming the providers that do")
spec.is(G.safe_start({ stage = "PAPER" }, snapshot({ finnhub = "connected" })).allowed, false, "PAPER start refused on Finnhub alone")
spec.is(G.safe_start({ stage = "PAPER" }, snapshot({ polygon = "connected", finnhub = "connected" })).allowed, true,
        "PAPER start allowed once a bars provider is connected")

local incidents = snapshot(HEALTHY, { bot_blockers = {
  { bot_id = "bot-a", bot_name = "alpha", code = "RISK_BREACH", stages = { "PAPER", "SHADOW", "LIVE" },
    reason_human = "Risk breach (PAPER): daily loss 1250.00 reached the limit 1000.00." },
  { bot_id = "bot-b", bot_name = "beta", code = "POSITION_MISMATCH", stages = { "LIVE" },
    reason_human = "LIVE position on ESZ6: broker ironbeam says 3, gatehouse's fills say 1." } } })
r = G.evaluate(incidents)
spec.same({ r.system_status, r.autonomy_allowed }, { "DEGRADED", true }, "bot incidents: DEGRADED, never BLOCKED for the others")
spec.same({ r.blockers[1].code, r.blockers[1].severity, r.blockers[1].scope, r.blockers[1].bot_id },
          { "RISK_BREACH", "SEV-1", "bot", "bot-a" }, "RISK_BREACH: SEV-1, scope bot, its bot_id")
spec.is(r.blockers[2].code, "POSITION_MISMATCH", "POSITION_MISMATCH listed")
local function start_codes(req)
  local out = {}
  for _, b in ipairs(G.safe_start(req, incidents).blockers) do out[#out + 1] = b.code end
  return out
end
spec.same(start_codes({ stage = "PAPER", bot_id = "bot-a" }), { "RISK_BREACH" }, "RISK_BREACH refuses every stage of its bot")
spec.same(start_codes({ stage = "PAPER", bot_id = "bot-b" }), {}, "POSITION_MISMATCH leaves PAPER alone")
spec.same(start_codes({ stage = "LIVE", bot_id = "bot-b" }), { "POSITION_MISMATCH" }, "POSITION_MISMATCH refuses LIVE of its bot")
spec.same(start_codes({ stage = "LIVE", bot_id = "bot-c" }), {}, "other bots are not touched")
