--[[ gates.lua — the gate policy of gatehouse: blockers, system status and live stack (operator-edited).

INPUT
  C builds a snapshot from in-memory state on every evaluation (plain tables, never a secret value;
  absent optional values are nil) and calls evaluate(snapshot) or safe_start(req, snapshot):
    snapshot = {
      now       = <epoch s>,                       -- rt.now() is used only when it is absent
      db        = { reachable = bool, state = "unknown" | "up" | "down", last_ok_at = <epoch s> },
                                                   -- unknown: no ping answered yet (reads as unreachable)
      policy    = { loaded = bool, version = "…", last_reload_error = nil | "gates.lua:42: …" },
      scheduler = { active = bool, leader = bool, last_tick_at = <epoch s>, loop_lag_ms = n },
      trading   = { enabled = bool, mode = "PAPER" | … },              -- global switch, default off
      risk      = { enforcing = bool, reason = "…" },
      priority  = providers.lua's priority table: { market_data = {ids}, execution = {ids}, llm = {ids} },
      providers = { <one per provider of providers.lua, registry order>: id, label, category,
                    configured, verified, connected, in_use, state, required_for_autonomy,
                    missing_env_vars, required_env_vars, last_verified_at, last_ok_at, last_used_at,
                    proof_24h, error_code, last_verify_outcome, reason_human, suggested_fix, … },
      breakers  = { { bot_id = "uuid", state = "OPEN" | "HALF_OPEN" | "CLOSED", bot_name = "…" }, … },
      bot_blockers = { { bot_id, bot_name, code = "POSITION_MISMATCH" | "RISK_BREACH", stages = { "LIVE", … },
                         reason_human }, … },                   -- open rows of the bot_blockers table
      redis     = nil | <the redis provider entry>,                -- else found in providers by id
      security  = { app_enc_key = bool },                          -- APP_ENC_KEY set and well formed
      fleet     = nil | { lease_s = n, shard_count = 64, alive_instances = n, unowned_shards = n,
                          unowned_max_s = n,               -- longest a shard has been unowned (s)
                          over_capacity = { { instance_id, host, owned_bots, capacity }, … } } }
                                                   -- fleet.c's last lease round; nil before the first
    req = { stage = "PAPER" | "SHADOW" | "LIVE", requires_ai = bool | nil, bot_id = "uuid" | nil,
            autonomy_tier = nil | "LOCKED" | "SUPERVISED" | "LIMITED_AUTONOMY" | "FULL_AUTONOMY",
            autonomy_score = nil | 0–100,                  -- scripts/autonomy.lua's result for the bot:
            autonomy_reason = nil | "…", autonomy_fix = nil | "…" }  -- its first blocker, in words
  A snapshot that is not a table raises (C fails closed); a missing sub-table reads as unhealthy.

OUTPUT
  The chunk returns { schema_version = 1, thresholds, evaluate, safe_start }.
  evaluate(snapshot) -> { system_status = "OK" | "DEGRADED" | "BLOCKED", autonomy_allowed = bool,
      blockers = { blocker, … },
      live_stack = { marketData = { primary = entry | nil, backups = { entry, … } },
                     execution  = { primary = entry | nil, backups = { entry, … } },
                     llm        = { primary = entry | nil, fallbacks = { entry, … } },
                     infra      = { db = "OK" | "BLOCKED", redis = "OK" | "DEGRADED" | "NOT_CONFIGURED",
                                    queue = "OK" | "DEGRADED" } } }
  safe_start(req, snapshot) -> { allowed = bool, blockers = { blocker, … } }   (allowed = no blocker)
  blocker = { code, severity = "SEV-1" | "SEV-2", message, reason_human, suggested_fix,
              integration = provider id | nil, scope, bot_id = "uuid" | nil }; C adds trace_id.
  entry = { providerId, configured, verified, connected, in_use, last_verified_at, last_used_at,
            proof_24h, missing_env_vars, error_code, suggested_fix } copied from the provider.
  Primary = the first provider of snapshot.priority[category] with connected = true; every other
  listed provider is a backup, in priority order, connected or not. Only listed providers take part
  (fmp and fred are enrichment, not bar feeds); a category without a list uses registry order.

  scope says what a blocker stops:
    system + SEV-1  everything: BLOCKED, autonomy_allowed = false, every start denied
    system + SEV-2  nothing; the system is DEGRADED (failover in effect, reload failed, loop lag)
    live            LIVE starts and LIVE orders (SEV-2: PAPER and SHADOW still run)
    ai              AI-dependent actions only (SEV-2)
    bot             that bot_id only (SEV-2; SEV-1 for bot_blockers: an incident on that bot, in its stages)
  system_status: any system SEV-1 → BLOCKED, else any other blocker → DEGRADED, else OK (one bot's incident
  never blocks the others). Blockers come SEV-1 first,
  otherwise in the order of the rules below (stable, deterministic). Note that the LIVE gates are
  SEV-2, so with live trading off (the default) the system reads DEGRADED, not OK.

CODES (evaluate)
  DB_UNAVAILABLE               SEV-1 system  db not reachable, or its last OK ping is older than db_stale_s
  POLICY_ERROR                 SEV-1 system  policy not loaded
                               SEV-2 system  loaded, but the last reload failed (old generation serving)
  HEARTBEAT_TIMEOUT            SEV-1 system  scheduler not active, or active without a tick within
                                             scheduler_stale_s (one code for both; message differs)
                               SEV-2 system  event-loop lag above loop_lag_warn_ms
  ENCRYPTION_KEY_MISSING       SEV-2 system  APP_ENC_KEY unset or malformed: 2FA cannot be set up or checked
                               (fails closed), so admins cannot turn live trading on
  INTEGRATION_KEY_MISSING      no provider of a category's priority list configured; the fix names the
                               variables of each, in priority order; integration = first listed:
                               SEV-1 system (market_data), SEV-2 live (execution), SEV-2 ai (llm)
  DATA_UNAVAILABLE             SEV-1 system  market data configured but none connected
                               SEV-2 live    the market-data primary is not required_for_autonomy
                                             (a fallback feed: PAPER/SHADOW run on it, LIVE does not)
  EXECUTION_BROKER_UNAVAILABLE SEV-2 live    a broker configured but none connected
  INTEGRATION_VERIFY_FAILED    SEV-2 ai      an LLM configured but none connected (failing or unverified)
                               SEV-2 system  a configured provider whose verify fails while its category
                                             has a primary, when it ranks above that primary (failover in
                                             effect) or is required_for_autonomy; one per provider
  FLEET_OVER_CAPACITY          SEV-2 system  one per fleet.over_capacity instance: it owns more running bots
                                             than its capacity (GATEHOUSE_CAPACITY)
  SHARDS_UNOWNED               SEV-2 system  fleet.unowned_shards > 0 for longer than 2 lease periods
                                             (unowned_max_s > 2 * lease_s): their bots are not ticked
                               (no fleet table: neither)
  LIVE_TRADING_DISABLED        SEV-2 live    trading.enabled is not true
  RISK_ENGINE_NOT_ENFORCING    SEV-2 live    risk.enforcing is not true
  CIRCUIT_OPEN                 SEV-2 bot     one per breaker whose state is not CLOSED or HALF_OPEN
  POSITION_MISMATCH            SEV-1 bot     the broker's position differs from the bot's LIVE fills (LIVE)
  RISK_BREACH                  SEV-1 bot     held exposure breached a risk limit; killed until acknowledged
  DATA_UNAVAILABLE (bars)      SEV-1 system  market data connected, but no connected provider serves bars
CODES (safe_start only)
  VALIDATION_FAILED            malformed req (unknown stage, tier or field type); returned alone
  AUTONOMY_TIER_LOCKED         tier LOCKED (any stage), or SUPERVISED asking for LIVE
  A start is denied by: every system SEV-1 blocker (every stage needs market data), the live-scope
  blockers when stage = LIVE, the ai-scope blockers when requires_ai, the CIRCUIT_OPEN of req.bot_id and
  its bot_blockers that list req.stage.
]]

local SEV1, SEV2 = "SEV-1", "SEV-2"
local util = lib.util -- EMPTY, tbl(v), num(v, default): scripts/lib/util.lua

---------------------------------------------------------------------------------------------------
-- Thresholds (operator-edited; read through the module table on every call). The single owner of these
-- facts: C reads scheduler_stale_s and loop_lag_warn_ms from here for /api/system/status
-- scheduler.loop_health (STALLED / LATE), so the API and the HEARTBEAT_TIMEOUT blockers always agree.
---------------------------------------------------------------------------------------------------

local M = {
  schema_version = 1,
  thresholds = {
    scheduler_stale_s = 10,  -- an active scheduler without a tick for longer → HEARTBEAT_TIMEOUT SEV-1
    db_stale_s = 10,         -- reachable, but no OK ping for longer (monitor pings every 0.5 s) → SEV-1
    loop_lag_warn_ms = 500,  -- event-loop lag above this → HEARTBEAT_TIMEOUT SEV-2 (DEGRADED)
  },
}

-- Where the live stack shows each category, and what its absence blocks.
local CATEGORIES = {
  { key = "market_data", stack = "marketData", rest = "backups", scope = "system", severity = SEV1,
    unavailable = "DATA_UNAVAILABLE", what = "market-data provider",
    impact = "no bot can run (every stage needs bars)" },
  { key = "execution", stack = "execution", rest = "backups", scope = "live", severity = SEV2,
    unavailable = "EXECUTION_BROKER_UNAVAILABLE", what = "execution broker",
    impact = "LIVE orders are blocked (PAPER and SHADOW still run)" },
  { key = "llm", stack = "llm", rest = "fallbacks", scope = "ai", severity = SEV2,
    unavailable = "INTEGRATION_VERIFY_FAILED", what = "LLM provider",
    impact = "AI-dependent actions are blocked (bots without AI still run)" },
}

-- What to check first for each verify outcome (providers.lua classify outcomes).
local OUTCOME_HINT = {
  AUTH_FAILED = "Check the credentials",
  NOT_ENTITLED = "Check entitlement / plan of the account",
  RATE_LIMITED = "Wait for the rate limit to reset",
  TIMEOUT = "Check network / the provider's status",
  NETWORK_ERROR = "Check network / DNS / the base URL override",
  PROVIDER_ERROR = "Check the provider's status (failing on its side) / network",
}

local STAGES = { PAPER = true, SHADOW = true, LIVE = true }
local TIERS = { LOCKED = true, SUPERVISED = true, LIMITED_AUTONOMY = true, FULL_AUTONOMY = true }

---------------------------------------------------------------------------------------------------
-- Small pure helpers
---------------------------------------------------------------------------------------------------

local tbl, num = util.tbl, util.num

local function label(p) return type(p.label) == "string" and p.label or tostring(p.id) end

-- "12 s ago" / "never".
local function ago(now, t)
  if type(t) ~= "number" then return "never" end
  return math.floor(now - t) .. " s ago"
end

-- The variables an operator must set for p: the missing ones, else all required ones.
local function vars_of(p)
  local v = p.missing_env_vars
  if type(v) ~= "table" or v[1] == nil then v = p.required_env_vars end
  if type(v) ~= "table" or v[1] == nil then return "the keys of " .. label(p) end
  return table.concat(v, ", ")
end

local function blocker(code, severity, scope, message, reason_human, suggested_fix, integration, bot_id)
  return { code = code, severity = severity, scope = scope, message = message,
           reason_human = reason_human, suggested_fix = suggested_fix,
           integration = integration, bot_id = bot_id }
end

-- verify_state(p): "missing" | "connected" | "failing" | "expired" | "unverified" (PRODUCT.md §4).
local function verify_state(p)
  if p.configured ~= true then return "missing" end
  if p.connected == true then return "connected" end
  local o = p.last_verify_outcome
  if (o ~= nil and o ~= "OK") or p.state == "DEGRADED" then return "failing" end
  if o == "OK" or p.verified == true then return "expired" end
  return "unverified"
end

local function outcome_of(p)
  local o = p.last_verify_outcome
  if type(o) ~= "string" or o == "OK" then o = p.error_code end
  return type(o) == "string" and o or "UNKNOWN"
end

-- The suggested fix for a configured provider that is not connected.
local function verify_fix(p, st)
  if st == "failing" then
    local o = outcome_of(p)
    local hint = OUTCOME_HINT[o] or "Check entitlement / network"
    if o == "AUTH_FAILED" then hint = hint .. " (" .. vars_of(p) .. ")" end
    local detail = p.reason_human or p.suggested_fix
    detail = type(detail) == "string" and detail ~= "" and (": " .. detail) or ""
    return hint .. " for " .. label(p) .. " (last verify " .. o .. detail .. "), then press Verify on Connections."
  elseif st == "expired" then
    return "Press Verify for " .. label(p) .. " on Connections: its last OK verify is older than its TTL."
  end
  return "Press Verify for " .. label(p) .. " on Connections: its keys are set but no probe has passed yet."
end

local function state_words(p, st)
  if st == "failing" then return "probe failing" end
  if st == "expired" then return "verification expired" end
  return "not verified yet"
end

---------------------------------------------------------------------------------------------------
-- Live stack
---------------------------------------------------------------------------------------------------

local function entry(p)
  local proof = p.proof_24h
  if proof == nil then proof = p.proof_of_use_count_24h end
  return { providerId = p.id, configured = p.configured == true, verified = p.verified == true,
           connected = p.connected == true, in_use = p.in_use == true,
           last_verified_at = p.last_verified_at, last_used_at = p.last_used_at, proof_24h = proof,
           missing_env_vars = p.missing_env_vars, error_code = p.error_code,
           suggested_fix = p.suggested_fix }
end

local function find(list, id)
  for i = 1, #list do
    if list[i].id == id then return list[i] end
  end
  return nil
end

-- The providers of category cat in priority order (unknown, duplicate or foreign ids are skipped).
local function ordered(cat, priority, providers, by_id)
  local list, ids = {}, priority[cat]
  if type(ids) == "table" and ids[1] ~= nil then
    for k = 1, #ids do
      local p = by_id[ids[k]]
      if p and p.category == cat and not find(list, p.id) then list[#list + 1] = p end
    end
  else
    for _, p in ipairs(providers) do
      if p.category == cat then list[#list + 1] = p end
    end
  end
  return list
end

-- Index of the first connected provider of list, or nil.
local function primary_index(list)
  for i = 1, #list do
    if list[i].connected == true then return i end
  end
  return nil
end

---------------------------------------------------------------------------------------------------
-- Rules
---------------------------------------------------------------------------------------------------

local function check_db(out, s, now, th)
  local db = tbl(s.db)
  local stale = type(db.last_ok_at) == "number" and now - db.last_ok_at > num(th.db_stale_s, 10)
  if db.reachable == true and not stale then return true end
  out[#out + 1] = blocker("DB_UNAVAILABLE", SEV1, "system", "Database unreachable",
    "Postgres has not answered (last OK ping " .. ago(now, db.last_ok_at) ..
      "); nothing that needs the database can run.",
    "Check DATABASE_URL and that Postgres is running; gatehouse reconnects by itself")
  return false
end

local function check_policy(out, s)
  local pol = tbl(s.policy)
  local err = type(pol.last_reload_error) == "string" and pol.last_reload_error ~= "" and pol.last_reload_error
  local where = err and err:match("([%w_%./%-]+%.lua:%d+)")
  local fix_what = where and ("Fix " .. where) or (err and ("Fix the error (" .. err .. ")") or "Fix the policy")
  if pol.loaded ~= true then
    out[#out + 1] = blocker("POLICY_ERROR", SEV1, "system", "Policies not loaded",
      "No policy generation is loaded" .. (err and (": " .. err) or "") .. "; nothing can be decided.",
      fix_what .. " (`gatehouse check` shows every error), then reload (SIGHUP or save the file).")
  elseif err then
    out[#out + 1] = blocker("POLICY_ERROR", SEV2, "system", "Policy reload failed",
      "The last reload failed (" .. err .. "); generation " .. tostring(pol.version) ..
        " keeps serving the previous rules.",
      fix_what .. ", then reload (SIGHUP or save the file); `gatehouse check` validates it first.")
  end
end

local function check_security(out, s)
  if tbl(s.security).app_enc_key == true then return end
  out[#out + 1] = blocker("ENCRYPTION_KEY_MISSING", SEV2, "system", "Encryption key missing",
    "APP_ENC_KEY is not set (or is not 64 hex characters): TOTP secrets cannot be encrypted, so 2FA " ..
      "enrollment and verification fail closed and live trading cannot be turned on.",
    "Set APP_ENC_KEY to the output of `gatehouse keygen` and restart gatehouse.")
end

local function check_scheduler(out, s, now, th)
  local sc = tbl(s.scheduler)
  local stale_s = num(th.scheduler_stale_s, 10)
  local healthy = false
  if sc.active ~= true then
    out[#out + 1] = blocker("HEARTBEAT_TIMEOUT", SEV1, "system", "Scheduler not running",
      "The scheduler/supervisor is not running (last tick " .. ago(now, sc.last_tick_at) ..
        "): no bot ticks, no supervision.",
      "Check the gatehouse log for scheduler and leadership errors (leadership needs Postgres); " ..
        "restart gatehouse if it does not resume.")
  elseif type(sc.last_tick_at) ~= "number" or now - sc.last_tick_at > stale_s then
    out[#out + 1] = blocker("HEARTBEAT_TIMEOUT", SEV1, "system", "Scheduler stalled",
      "The scheduler is active but its last tick was " .. ago(now, sc.last_tick_at) ..
        " (limit " .. stale_s .. " s): bots are not being ticked or supervised.",
      "Check the gatehouse log for a stuck tick or a blocked event loop; restart gatehouse if ticks do not resume.")
  else
    healthy = true
  end
  local lag, warn = tonumber(sc.loop_lag_ms), num(th.loop_lag_warn_ms, 500)
  if lag and lag > warn then
    out[#out + 1] = blocker("HEARTBEAT_TIMEOUT", SEV2, "system", "Event loop lagging",
      "The event loop lags " .. math.floor(lag) .. " ms (limit " .. warn .. " ms): ticks and probes run late.",
      "Check CPU load and the slowest policy or strategy in the log; reduce bots per instance if it persists.")
  end
  return healthy
end

-- The fleet (fleet.c's facts after each lease round; absent before the first round or without a fleet):
-- an instance owning more running bots than it is sized for, and shards nobody has held for longer than
-- two lease periods (a lease expires after one; a live instance claims a free shard at its next round).
local function check_fleet(out, s)
  if type(s.fleet) ~= "table" then return end
  local f = s.fleet
  for _, x in ipairs(tbl(f.over_capacity)) do
    if type(x) == "table" then
      local bots, cap = math.floor(num(x.owned_bots, 0)), math.floor(num(x.capacity, 0))
      out[#out + 1] = blocker("FLEET_OVER_CAPACITY", SEV2, "system",
        "Instance " .. tostring(x.host) .. " over capacity",
        "Instance " .. tostring(x.instance_id) .. " on " .. tostring(x.host) .. " owns " .. bots ..
          " running bots, above its capacity of " .. cap .. ": its ticks may run late.",
        "Add an instance (the shards rebalance by themselves) or raise GATEHOUSE_CAPACITY on " ..
          tostring(x.host) .. " if it can carry more.")
    end
  end
  local n, max_s, lease_s = num(f.unowned_shards, 0), num(f.unowned_max_s, 0), num(f.lease_s, 7)
  if n > 0 and max_s > 2 * lease_s then
    out[#out + 1] = blocker("SHARDS_UNOWNED", SEV2, "system", "Shards without an owner",
      math.floor(n) .. " of " .. math.floor(num(f.shard_count, 64)) .. " shards have had no owner for up to " ..
        math.floor(max_s) .. " s (more than 2 lease periods of " .. math.floor(lease_s) ..
        " s): their bots are not ticked.",
      "Start a gatehouse instance, or check the gatehouse logs for \"fleet:\" lines (lease errors, " ..
        "Postgres reachability) on the running ones.")
  end
end

-- The blocker of a category with no connected provider (one per missing requirement).
local function category_blocker(cat, list)
  local key = cat.key
  if list[1] == nil then
    return blocker(cat.unavailable, cat.severity, cat.scope, "No " .. cat.what .. " listed",
      "providers.lua lists no " .. cat.what .. ", so " .. cat.impact .. ".",
      "List at least one " .. key .. " provider in providers.lua (priority." .. key .. "), then reload.")
  end
  local first_configured, states = nil, {}
  for _, p in ipairs(list) do
    local st = verify_state(p)
    if st ~= "missing" then
      first_configured = first_configured or p
      states[#states + 1] = label(p) .. " (" .. (st == "failing" and outcome_of(p) or state_words(p, st)) .. ")"
    end
  end
  local top = list[1]
  if first_configured == nil then
    local fix = { "Set ", vars_of(top), " (", label(top), ") in the environment" }
    for i = 2, #list do
      fix[#fix + 1] = (i == 2) and ", or a backup: " or "; "
      fix[#fix + 1] = vars_of(list[i]) .. " (" .. label(list[i]) .. ")"
    end
    fix[#fix + 1] = "; then restart gatehouse and press Verify."
    return blocker("INTEGRATION_KEY_MISSING", cat.severity, cat.scope, "Missing " .. label(top) .. " keys",
      "No " .. cat.what .. " is configured, so " .. cat.impact .. ".", table.concat(fix), top.id)
  end
  local p = first_configured
  local st = verify_state(p)
  local fix = verify_fix(p, st)
  if p ~= top then -- the first choice has no keys: say how to add them too
    fix = fix .. " Or set " .. vars_of(top) .. " (" .. label(top) ..
      ") in the environment, restart and press Verify."
  end
  return blocker(cat.unavailable, cat.severity, cat.scope, label(p) .. " " .. state_words(p, st),
    "No " .. cat.what .. " is connected, so " .. cat.impact .. ". Configured: " ..
      table.concat(states, ", ") .. ".", fix, p.id)
end

-- A failing provider of a category that has a primary: above the primary, or required for autonomy.
local function verify_notice(p, primary, above, key)
  local why
  if above then
    why = label(p) .. " ranks above " .. label(primary) .. " in priority." .. key ..
      " but its last verify returned " .. outcome_of(p) .. "; " .. label(primary) ..
      " serves as primary (failover in effect)."
  else
    why = label(p) .. " is required for autonomy but its last verify returned " .. outcome_of(p) ..
      "; " .. label(primary) .. " remains primary with one backup fewer."
  end
  return blocker("INTEGRATION_VERIFY_FAILED", SEV2, "system", label(p) .. " probe failing", why,
    verify_fix(p, "failing"), p.id)
end

-- The LIVE data gate: the market-data primary must be a required_for_autonomy feed.
local function live_data_blocker(list, primary)
  local good = {}
  for _, p in ipairs(list) do
    if p.required_for_autonomy == true then good[#good + 1] = label(p) end
  end
  local which = good[1] and table.concat(good, " or ") or "a provider marked required_for_autonomy in providers.lua"
  return blocker("DATA_UNAVAILABLE", SEV2, "live", "LIVE needs a primary feed; running on " .. label(primary),
    "Market data runs on " .. label(primary) .. ", a fallback not marked required_for_autonomy: " ..
      "PAPER and SHADOW run on it, LIVE does not.",
    "Restore " .. which .. " (see its blocker or press Verify on Connections); LIVE can start once it is primary.",
    primary.id)
end

-- Bars: ticks need OHLCV bars, which only providers with a `bars` description in providers.lua serve
-- (snapshot field bars = true). A connected quote-only feed (Finnhub, Alpha Vantage) is not enough.
local function has_bars_feed(list)
  for _, p in ipairs(list) do
    if p.connected == true and p.bars == true then return true end
  end
  return false
end

local function no_bars_blocker(list)
  local connected, able = {}, {}
  for _, p in ipairs(list) do
    if p.connected == true then connected[#connected + 1] = label(p) end
    if p.bars == true then able[#able + 1] = label(p) end
  end
  return blocker("DATA_UNAVAILABLE", SEV1, "system", "No connected provider serves bars",
    "Connected market data (" .. table.concat(connected, ", ") .. ") serves quotes only; every tick needs bars, " ..
      "so no bot can run.",
    "Configure and verify a provider that serves bars (" .. (able[1] and table.concat(able, " or ") or
      "one with a bars description in providers.lua") .. "), then press Verify.")
end

-- Open bot blockers (bot_blockers table: POSITION_MISMATCH, RISK_BREACH): SEV-1, scope bot; they block the
-- bot's starts, ticks and orders in the stages they list.
local BOT_BLOCKER_FIX = {
  POSITION_MISMATCH = "Compare the broker's position and order history with the bot's fills; once they agree the " ..
    "next reconciliation (every minute) clears it.",
  RISK_BREACH = "Review the bot's trades and limits, then acknowledge the breach (POST /api/bots/:id/blockers/" ..
    "RISK_BREACH/ack, operator) before starting it again.",
}

local function bot_blocker(x)
  local name = type(x.bot_name) == "string" and x.bot_name or tostring(x.bot_id)
  local title = x.code == "RISK_BREACH" and ("Risk breach: " .. name .. " killed")
    or ("Position mismatch for " .. name)
  return blocker(x.code, SEV1, "bot", title, type(x.reason_human) == "string" and x.reason_human or title,
    BOT_BLOCKER_FIX[x.code] or "Resolve the incident, then acknowledge it.", nil, x.bot_id)
end

local function blocks_stage(x, stage)
  for _, st in ipairs(type(x.stages) == "table" and x.stages or {}) do
    if st == stage then return true end
  end
  return false
end

local function breaker_open(b) return b.state ~= "CLOSED" and b.state ~= "HALF_OPEN" end

local function breaker_blocker(b)
  local name = type(b.bot_name) == "string" and b.bot_name or tostring(b.bot_id)
  return blocker("CIRCUIT_OPEN", SEV2, "bot", "Circuit breaker open for " .. name,
    "The supervisor stopped restarting " .. name .. " after repeated failures; this bot is blocked, others run.",
    "Check the bot's last runs and errors on Bots, fix the cause, then wait for the half-open probe after " ..
      "the cool-down or restart it by hand.", nil, b.bot_id)
end

-- Every system, live and ai blocker (breakers apart), unsorted, in rule order; plus the live stack
-- when want_stack (safe_start skips building it).
local function gather(s, th, want_stack)
  local now = num(s.now, nil) or rt.now()
  local providers = tbl(s.providers)
  local priority = tbl(s.priority)
  local by_id = {}
  for i = 1, #providers do
    local p = providers[i]
    if type(p) == "table" and p.id ~= nil then by_id[p.id] = p end
  end
  local out = {}
  local db_ok = check_db(out, s, now, th)
  check_policy(out, s)
  local sched_ok = check_scheduler(out, s, now, th)
  check_security(out, s)
  check_fleet(out, s)

  local stack, lists, primaries = {}, {}, {}
  for _, cat in ipairs(CATEGORIES) do
    local list = ordered(cat.key, priority, providers, by_id)
    local pi = primary_index(list)
    if want_stack then
      local rest = {}
      for i, p in ipairs(list) do
        if i ~= pi then rest[#rest + 1] = entry(p) end
      end
      stack[cat.stack] = { primary = pi and entry(list[pi]) or nil, [cat.rest] = rest }
    end
    lists[cat.key], primaries[cat.key] = list, pi and list[pi]
  end

  -- Category gates in a fixed order: market data, execution, LIVE switches, llm.
  local md, md_primary = lists.market_data, primaries.market_data
  if not md_primary then out[#out + 1] = category_blocker(CATEGORIES[1], md) end
  if md_primary and not has_bars_feed(md) then out[#out + 1] = no_bars_blocker(md) end
  if not primaries.execution then out[#out + 1] = category_blocker(CATEGORIES[2], lists.execution) end
  local trading, risk = tbl(s.trading), tbl(s.risk)
  local risk_why = type(risk.reason) == "string" and risk.reason ~= "" and risk.reason
    or "The risk engine is not enforcing limits"
  if trading.enabled ~= true then
    out[#out + 1] = blocker("LIVE_TRADING_DISABLED", SEV2, "live", "Live trading disabled",
      "The global live-trading switch is off (the default): LIVE orders are blocked, PAPER and SHADOW run.",
      "An admin turns live trading on in Settings (needs a fresh 2FA) once the other LIVE gates pass.")
  end
  if risk.enforcing ~= true then
    out[#out + 1] = blocker("RISK_ENGINE_NOT_ENFORCING", SEV2, "live", "Risk engine not enforcing",
      risk_why .. ": LIVE orders are blocked.",
      "Load scripts/risk.lua (max contracts, daily loss, drawdown, order rate, market hours): " ..
        "`gatehouse check` shows why it is not loaded; then reload (SIGHUP or save the file).")
  end
  if md_primary and md_primary.required_for_autonomy ~= true then
    out[#out + 1] = live_data_blocker(md, md_primary)
  end
  if not primaries.llm then out[#out + 1] = category_blocker(CATEGORIES[3], lists.llm) end

  -- Failing providers while their category has a primary (failover notices), then a failing
  -- required_for_autonomy provider outside the lists; one blocker per provider (a category without
  -- a primary already has its blocker, which speaks for its listed providers).
  for _, cat in ipairs(CATEGORIES) do
    local primary = primaries[cat.key]
    if primary then
      local above = true
      for _, p in ipairs(lists[cat.key]) do
        if p == primary then
          above = false
        elseif verify_state(p) == "failing" and (above or p.required_for_autonomy == true) then
          out[#out + 1] = verify_notice(p, primary, above, cat.key)
        end
      end
    end
  end
  for i = 1, #providers do
    local p = providers[i]
    local list = lists[p.category]
    if p.required_for_autonomy == true and not (list and find(list, p.id)) and verify_state(p) == "failing" then
      out[#out + 1] = blocker("INTEGRATION_VERIFY_FAILED", SEV2, "system", label(p) .. " probe failing",
        label(p) .. " is required for autonomy but its last verify returned " .. outcome_of(p) .. ".",
        verify_fix(p, "failing"), p.id)
    end
  end

  local redis = type(s.redis) == "table" and s.redis or by_id.redis
  local redis_state = "NOT_CONFIGURED"
  if type(redis) == "table" and redis.configured == true then
    redis_state = redis.connected == true and "OK" or "DEGRADED"
  end
  stack.infra = { db = db_ok and "OK" or "BLOCKED", redis = redis_state,
                  queue = (db_ok and sched_ok) and "OK" or "DEGRADED" }
  return out, stack
end

-- Stable: SEV-1 first, each group in rule order.
local function sorted(list)
  local res = {}
  for _, b in ipairs(list) do
    if b.severity == SEV1 then res[#res + 1] = b end
  end
  for _, b in ipairs(list) do
    if b.severity ~= SEV1 then res[#res + 1] = b end
  end
  return res
end

---------------------------------------------------------------------------------------------------
-- Entry points
---------------------------------------------------------------------------------------------------

function M.evaluate(snapshot)
  if type(snapshot) ~= "table" then error("gates.evaluate: snapshot must be a table", 2) end
  local out, stack = gather(snapshot, tbl(M.thresholds), true)
  for _, b in ipairs(tbl(snapshot.breakers)) do
    if type(b) == "table" and breaker_open(b) then out[#out + 1] = breaker_blocker(b) end
  end
  for _, x in ipairs(tbl(snapshot.bot_blockers)) do
    if type(x) == "table" then out[#out + 1] = bot_blocker(x) end
  end
  local blockers = sorted(out)
  local status = "OK"
  for _, b in ipairs(blockers) do
    if b.severity == SEV1 and b.scope == "system" then status = "BLOCKED" break end
    status = "DEGRADED"
  end
  return { system_status = status, autonomy_allowed = status ~= "BLOCKED", blockers = blockers,
           live_stack = stack }
end

-- The VALIDATION_FAILED blocker of a malformed request, or nil.
local function invalid_request(req)
  local why
  if type(req) ~= "table" then
    why = "the request is not an object"
  elseif not STAGES[req.stage] then
    why = "unknown stage " .. (type(req.stage) == "string" and ("'" .. req.stage .. "'") or tostring(req.stage))
  elseif req.requires_ai ~= nil and type(req.requires_ai) ~= "boolean" then
    why = "requires_ai must be a boolean"
  elseif req.bot_id ~= nil and type(req.bot_id) ~= "string" then
    why = "bot_id must be a string"
  elseif req.autonomy_tier ~= nil and not TIERS[req.autonomy_tier] then
    why = "unknown autonomy_tier " .. tostring(req.autonomy_tier)
  elseif req.autonomy_score ~= nil and type(req.autonomy_score) ~= "number" then
    why = "autonomy_score must be a number"
  elseif (req.autonomy_reason ~= nil and type(req.autonomy_reason) ~= "string")
      or (req.autonomy_fix ~= nil and type(req.autonomy_fix) ~= "string") then
    why = "autonomy_reason and autonomy_fix must be strings"
  end
  if not why then return nil end
  return blocker("VALIDATION_FAILED", SEV2, "bot", "Invalid start request",
    "The start request is invalid: " .. why .. "; nothing was started.",
    "Send stage PAPER, SHADOW or LIVE; requires_ai a boolean; autonomy_tier LOCKED, SUPERVISED, " ..
      "LIMITED_AUTONOMY or FULL_AUTONOMY.", nil,
    type(req) == "table" and type(req.bot_id) == "string" and req.bot_id or nil)
end

-- safe_start's answer for one request, given the blockers gathered from its snapshot.
local function start_answer(req, snapshot, all)
  local bad = invalid_request(req)
  if bad then return { allowed = false, blockers = { bad } } end
  local live = req.stage == "LIVE"
  local out = {}
  for _, b in ipairs(all) do
    if (b.scope == "system" and b.severity == SEV1) or (live and b.scope == "live")
        or (req.requires_ai == true and b.scope == "ai") then
      out[#out + 1] = b
    end
  end
  if req.bot_id ~= nil then
    local breakers, bot_id = tbl(snapshot.breakers), req.bot_id
    for i = 1, #breakers do
      local b = breakers[i]
      if type(b) == "table" and b.bot_id == bot_id and breaker_open(b) then
        out[#out + 1] = breaker_blocker(b)
        break
      end
    end
  end
  if req.bot_id ~= nil then
    for _, x in ipairs(tbl(snapshot.bot_blockers)) do
      if type(x) == "table" and x.bot_id == req.bot_id and blocks_stage(x, req.stage) then
        out[#out + 1] = bot_blocker(x)
      end
    end
  end
  local tier = req.autonomy_tier
  if tier == "LOCKED" or (tier == "SUPERVISED" and live) then
    local score = type(req.autonomy_score) == "number" and (" (score " .. math.floor(req.autonomy_score) .. ")") or ""
    local why = type(req.autonomy_reason) == "string" and req.autonomy_reason ~= "" and (" " .. req.autonomy_reason) or ""
    local fix = type(req.autonomy_fix) == "string" and req.autonomy_fix ~= "" and (req.autonomy_fix .. " ") or ""
    out[#out + 1] = blocker("AUTONOMY_TIER_LOCKED", SEV2, "bot", "Autonomy tier " .. tier,
      (tier == "LOCKED" and "The bot's autonomy tier is LOCKED" .. score .. ": it may not start on its own."
        or "The bot's autonomy tier is SUPERVISED" .. score .. ": LIVE needs LIMITED_AUTONOMY or FULL_AUTONOMY.") .. why,
      fix .. "Raise the bot's autonomy score (GET /api/bots/:id/autonomy-score lists what is missing), " ..
        (tier == "LOCKED" and "then start it again." or "or start it as PAPER or SHADOW."),
      nil, req.bot_id)
  end
  return { allowed = out[1] == nil, blockers = sorted(out) }
end

function M.safe_start(req, snapshot)
  if type(snapshot) ~= "table" then error("gates.safe_start: snapshot must be a table", 2) end
  if invalid_request(req) then return start_answer(req, snapshot, {}) end
  return start_answer(req, snapshot, gather(snapshot, tbl(M.thresholds), false))
end

-- safe_start for many bots against one snapshot (PRODUCT.md §8: 1,000 bots in <= 20 ms): the system
-- blockers are gathered once; answers[i] is exactly what safe_start(reqs[i], snapshot) returns.
function M.safe_start_many(reqs, snapshot)
  if type(snapshot) ~= "table" then error("gates.safe_start_many: snapshot must be a table", 2) end
  if type(reqs) ~= "table" then error("gates.safe_start_many: reqs must be a list", 2) end
  local all = gather(snapshot, tbl(M.thresholds), false)
  local answers = {}
  for i = 1, #reqs do answers[i] = start_answer(reqs[i], snapshot, all) end
  return answers
end

return M
