--[[ autonomy_spec.lua — policy spec for scripts/autonomy.lua.
Run: bin/gatehouse spec spec/policy/autonomy_spec.lua (inside the policy sandbox; TAP out).
Input: spec.policy("scripts/autonomy.lua") (a fresh load); system and bot evidence shaped like
runtime/autonomy.c's, one kind of evidence changed at a time.
Output: assertions through spec.ok / spec.is / spec.same. ]]

local A = spec.policy("scripts/autonomy.lua")
local NOW = 1764000000

spec.is(A.schema_version, 1, "schema_version is 1")
spec.is(type(A.score_all), "function", "score_all is a function")
spec.same(A.evidence_spec(), { window_s = 86400, bars = 100, traces = 50, risk = 100, orders = 50 },
          "evidence_spec reads the thresholds")
spec.ok(not pcall(A.score_all, nil), "score_all without input raises")
spec.ok(not pcall(A.score, nil, {}), "score of a non-table bot raises")

---------------------------------------------------------------------------------------------------
-- Builders
---------------------------------------------------------------------------------------------------

local function merge(base, over)
  local r = {}
  for k, v in pairs(base) do r[k] = v end
  for k, v in pairs(over or {}) do r[k] = v end
  return r
end

-- A healthy system: Databento primary, a broker, no blockers, a leader.
local function system(over)
  return merge({
    now = NOW, system_status = "DEGRADED", blockers = {},
    market_data_primary = { providerId = "databento", connected = true, proof_24h = 10, last_used_at = NOW - 5 },
    execution_primary = { providerId = "ironbeam", connected = true },
    leader_alive = true,
  }, over)
end

-- A bot with a healthy PAPER history: bars OK, traces, risk checks, orders with simulated fills.
local function healthy(over)
  return merge({
    bot_id = "00000000-0000-4000-8000-000000000001", name = "b1", stage = "PAPER", desired_state = "RUNNING",
    bars = { ok = 20, err = 0, last_ok_at = NOW - 30 },
    proof_24h = 20,
    traces = { decisions = 4, no_trades = 16, policy_errors = 0, last_decision_at = NOW - 60,
               last_no_trade_at = NOW - 30, avg_confidence = 0.6, confidence_n = 4 },
    risk = { ok = 20, blocked = 0, error = 0, by_code = {}, usage = { contracts = 0.5, daily_loss = 0 } },
    orders = { total = 4, filled = 3, submitted = 1, intents = 0, blocked = 0, rejected = 0, cancelled = 0,
               live = 0, simulated_fills = 3, real_fills = 0, avg_sim_fill_latency_ms = 60000,
               avg_slippage_ticks = 1 },
    instance = { state = "RUNNING", breaker_state = "CLOSED", heartbeat_age_s = 5, heartbeat_timeout_s = 30,
                 restart_count = 0 },
    deaths = 0, kills = 0,
  }, over)
end

local function codes(list)
  local r = {}
  for i, b in ipairs(list) do r[i] = b.code end
  return r
end

local function has(list, code)
  for _, b in ipairs(list) do if b.code == code then return b end end
  return nil
end

local function missing_ids(r)
  local ids = {}
  for i, m in ipairs(r.breakdown.missing_for_next_tier) do ids[i] = m.requirement end
  return ids
end

---------------------------------------------------------------------------------------------------
-- Healthy evidence → FULL_AUTONOMY; the shape
---------------------------------------------------------------------------------------------------

local r = A.score(healthy(), system())
spec.is(r.autonomy_tier, "FULL_AUTONOMY", "healthy evidence, broker connected: FULL_AUTONOMY")
spec.is(r.autonomy_score, 100, "healthy: score 100")
spec.same(codes(r.blockers), {}, "healthy: no blockers")
spec.is(r.breakdown.next_tier, nil, "FULL: no next tier")
spec.same(r.breakdown.missing_for_next_tier, {}, "FULL: nothing missing")
spec.is(r.bot_id, "00000000-0000-4000-8000-000000000001", "bot_id is echoed")
for _, k in ipairs({ "data_reliability_score", "decision_quality_score", "risk_discipline_score",
                     "execution_health_score", "supervisor_trust_score" }) do
  spec.ok(math.type(r[k]) == "integer" and r[k] >= 0 and r[k] <= 100, k .. " is an integer 0–100")
end
spec.ok(#r.breakdown.sub_scores.execution_health.evidence > 0, "execution evidence is listed")
local simnote = false
for _, e in ipairs(r.breakdown.sub_scores.execution_health.evidence) do
  if e.key == "simulated_fills" then simnote = e.note:find("simulated") ~= nil end
end
spec.ok(simnote, "simulated fills are named as simulated")

-- Batch: one call, same order, same answers.
local batch = A.score_all({ system = system(), bots = { healthy(), healthy({ bot_id = "x2", proof_24h = 0 }) } })
spec.is(#batch, 2, "score_all returns one result per bot")
spec.same({ batch[1].autonomy_tier, batch[2].bot_id }, { "FULL_AUTONOMY", "x2" }, "score_all keeps the order")
spec.same(A.score_all({ system = system(), bots = {} }), {}, "score_all of no bots is empty")

---------------------------------------------------------------------------------------------------
-- A new bot: no history, healthy data/supervisor → SUPERVISED (PAPER can start)
---------------------------------------------------------------------------------------------------

local new = { bot_id = "n1", name = "new", stage = "PAPER", desired_state = "STOPPED", bars = {}, traces = {},
              risk = { by_code = {} }, orders = {}, proof_24h = 0, deaths = 0, kills = 0 }
r = A.score(new, system())
spec.is(r.autonomy_tier, "SUPERVISED", "a new bot with healthy data and supervisor: SUPERVISED")
spec.is(r.data_reliability_score, 50, "no bars calls: data reliability is the no-evidence score")
spec.ok(#r.breakdown.sub_scores.data_reliability.missing == 1, "and names the missing evidence")
spec.is(r.execution_health_score, 50, "no orders: no evidence (never invented)")
spec.ok(has(r.blockers, "NO_PROOF_OF_USE"), "new bot: NO_PROOF_OF_USE blocker")
spec.is(has(r.blockers, "NO_PROOF_OF_USE").severity, "SEV-2", "which only holds it below LIMITED (SEV-2)")
local ids = missing_ids(r)
spec.ok(table.concat(ids, ","):find("proof_of_use") and table.concat(ids, ","):find("recent_traces"),
        "missing_for_next_tier lists proof of use and recent traces (" .. table.concat(ids, ",") .. ")")

---------------------------------------------------------------------------------------------------
-- Each FULL requirement, one at a time
---------------------------------------------------------------------------------------------------

r = A.score(healthy(), system({ execution_primary = false }))
spec.is(r.autonomy_tier, "LIMITED_AUTONOMY", "no broker: LIMITED_AUTONOMY")
spec.same(missing_ids(r), { "broker_healthy" }, "no broker: the breakdown says why not FULL")
spec.ok(r.breakdown.tier_reason:find("EXECUTION_BROKER_UNAVAILABLE"), "tier_reason names the code")

r = A.score(healthy({ proof_24h = 0 }), system())
spec.ok(r.autonomy_tier ~= "FULL_AUTONOMY", "zero proof of use: not FULL_AUTONOMY")
spec.is(r.autonomy_tier, "SUPERVISED", "zero proof of use: SUPERVISED (proof is needed from LIMITED up)")
local b = has(r.blockers, "NO_PROOF_OF_USE")
spec.ok(b and b.reason_human:find("proof of use") and b.suggested_fix ~= nil, "the blocker names the missing evidence")

r = A.score(healthy({ traces = merge(healthy().traces, { last_decision_at = NOW - 90000 }) }), system())
spec.is(r.autonomy_tier, "LIMITED_AUTONOMY", "no decision trace in 24 h: LIMITED")
spec.same(missing_ids(r), { "recent_decision_traces" }, "names recent_decision_traces")

r = A.score(healthy({ orders = { total = 2, blocked = 2 } }), system())
spec.ok(has(r.blockers, "NO_EXECUTION_EVIDENCE"), "only blocked orders: NO_EXECUTION_EVIDENCE")

r = A.score(healthy({ orders = {} }), system())
spec.is(r.execution_health_score, 50, "no orders: execution no-evidence score")
spec.ok(has(r.blockers, "NO_EXECUTION_EVIDENCE"), "no orders: not FULL")

r = A.score(healthy(), system({ blockers = { { code = "RISK_ENGINE_NOT_ENFORCING", severity = "SEV-2", scope = "live" } } }))
spec.is(r.risk_discipline_score, 0, "risk engine not enforcing: risk discipline 0")
spec.is(r.autonomy_tier, "SUPERVISED", "risk engine not enforcing: SUPERVISED")
spec.ok(has(r.blockers, "RISK_ENGINE_NOT_ENFORCING"), "with RISK_ENGINE_NOT_ENFORCING")

r = A.score(healthy(), system({ leader_alive = false }))
spec.ok(has(r.blockers, "HEARTBEAT_TIMEOUT") and r.autonomy_tier == "SUPERVISED", "no scheduler leader: SUPERVISED")

r = A.score(healthy(), system({ blockers = { { code = "DATA_UNAVAILABLE", severity = "SEV-2", scope = "live" } },
                                market_data_primary = { providerId = "polygon", connected = true } }))
spec.is(r.data_reliability_score, 70, "fallback feed: data reliability capped at 70")
spec.is(r.autonomy_tier, "SUPERVISED", "fallback feed: SUPERVISED (no LIVE on a fallback)")

---------------------------------------------------------------------------------------------------
-- LOCKED: bad evidence
---------------------------------------------------------------------------------------------------

r = A.score(healthy({ instance = merge(healthy().instance, { breaker_state = "OPEN", state = "DEAD" }) }), system())
spec.is(r.autonomy_tier, "LOCKED", "breaker OPEN: LOCKED")
spec.is(r.supervisor_trust_score, 0, "breaker OPEN: supervisor trust 0")
b = has(r.blockers, "CIRCUIT_OPEN")
spec.ok(b and b.severity == "SEV-1" and b.suggested_fix, "CIRCUIT_OPEN blocker, SEV-1, with a fix")
spec.is(#(function() local n = {} for _, x in ipairs(r.blockers) do if x.code == "CIRCUIT_OPEN" then n[#n + 1] = x end end return n end)(), 1,
        "one CIRCUIT_OPEN blocker, not one per tier")

r = A.score(healthy({ instance = merge(healthy().instance, { breaker_state = "HALF_OPEN" }) }), system())
spec.is(r.autonomy_tier, "SUPERVISED", "breaker HALF_OPEN: SUPERVISED")
spec.is(r.supervisor_trust_score, 40, "breaker HALF_OPEN: supervisor trust capped at 40")

r = A.score(healthy(), system({ market_data_primary = false }))
spec.is(r.autonomy_tier, "LOCKED", "no market-data primary: LOCKED")
spec.is(codes(r.blockers)[1], "DATA_UNAVAILABLE", "with DATA_UNAVAILABLE first")

r = A.score(healthy({ bars = { ok = 0, err = 20, last_err_at = NOW - 10, last_error_code = "PROVIDER_ERROR" } }), system())
spec.is(r.data_reliability_score, 0, "every bars call failing: data reliability 0")
spec.is(r.autonomy_tier, "LOCKED", "its own bars failing: LOCKED")
spec.ok(has(r.blockers, "DATA_ERRORS").reason_human:find("failing"), "DATA_ERRORS says the bars are failing")
spec.ok(r.breakdown.sub_scores.data_reliability.evidence[1].note:find("PROVIDER_ERROR"), "the evidence names the error")

---------------------------------------------------------------------------------------------------
-- Evidence moves sub-scores
---------------------------------------------------------------------------------------------------

r = A.score(healthy({ bars = { ok = 15, err = 5, last_ok_at = NOW - 30 } }), system())
spec.is(r.data_reliability_score, 75, "25 % bars errors: data reliability 75")
r = A.score(healthy({ bars = { ok = 20, err = 0, last_ok_at = NOW - 2000 } }), system())
spec.is(r.data_reliability_score, 70, "last OK bars 2000 s ago: stale, 70")

r = A.score(healthy({ traces = merge(healthy().traces, { policy_errors = 5 }) }), system())
spec.is(r.decision_quality_score, 75, "5 of 20 traces are policy failures: decision quality 75")
r = A.score(healthy({ traces = merge(healthy().traces, { avg_confidence = 0.1 }) }), system())
spec.is(r.decision_quality_score, 80, "average confidence 0.1: decision quality 80")
r = A.score(healthy({ traces = merge(healthy().traces, { last_decision_at = NOW - 7200, last_no_trade_at = NOW - 7200 }) }),
            system())
spec.is(r.decision_quality_score, 70, "latest trace 2 h ago: decision quality 70")
spec.ok(has(r.blockers, "NO_RECENT_TRACES") and r.autonomy_tier == "SUPERVISED", "and NO_RECENT_TRACES holds it SUPERVISED")

r = A.score(healthy({ risk = { ok = 18, blocked = 2, error = 0, by_code = { MAX_DAILY_LOSS = 1, MARKET_CLOSED = 1 } } }),
            system())
spec.is(r.risk_discipline_score, 60, "one daily-loss breach: risk discipline 60; MARKET_CLOSED is neutral")
r = A.score(healthy({ risk = { ok = 10, blocked = 10, error = 0, by_code = { ORDER_RATE = 10 } } }), system())
spec.is(r.risk_discipline_score, 50, "ten ORDER_RATE refusals: capped penalty, 50")
r = A.score(healthy({ risk = merge(healthy().risk, { usage = { contracts = 0.5, drawdown = 0.95 } }) }), system())
spec.is(r.risk_discipline_score, 85, "95 % of a limit used: risk discipline 85")

r = A.score(healthy({ orders = { total = 4, filled = 2, rejected = 2, real_fills = 2, avg_real_fill_latency_ms = 5000 } }),
            system())
spec.is(r.execution_health_score, 30, "half rejected and slow broker fills: execution health 30")
r = A.score(healthy({ orders = { total = 3, intents = 3 } }), system())
spec.is(r.execution_health_score, 75, "SHADOW intents only: capped at 75")

r = A.score(healthy({ deaths = 2, kills = 1 }), system())
spec.is(r.supervisor_trust_score, 40, "two deaths and a kill: supervisor trust 40")
r = A.score(healthy({ instance = merge(healthy().instance, { heartbeat_age_s = 100 }) }), system())
spec.is(r.supervisor_trust_score, 50, "stale heartbeat: supervisor trust 50")
spec.ok(has(r.blockers, "HEARTBEAT_TIMEOUT"), "stale heartbeat: HEARTBEAT_TIMEOUT blocker")

---------------------------------------------------------------------------------------------------
-- Thresholds are read on every call
---------------------------------------------------------------------------------------------------

local keep = A.thresholds.tiers.LIMITED_AUTONOMY.min_score
A.thresholds.tiers.LIMITED_AUTONOMY.min_score = 101
r = A.score(healthy(), system())
spec.is(r.autonomy_tier, "SUPERVISED", "LIMITED min_score 101: the same bot drops to SUPERVISED")
spec.ok(has(r.blockers, "AUTONOMY_SCORE_LOW").reason_human:find("101"), "and the blocker names the threshold")
A.thresholds.tiers.LIMITED_AUTONOMY.min_score = keep

---------------------------------------------------------------------------------------------------
-- Budget: 1,000 bots in one call
---------------------------------------------------------------------------------------------------

local bots = {}
for i = 1, 1000 do bots[i] = healthy({ bot_id = "b" .. i, proof_24h = i % 3 }) end
local t0 = rt.now()
local all = A.score_all({ system = system(), bots = bots })
local ms = (rt.now() - t0) * 1000
spec.is(#all, 1000, "1,000 bots scored in one call")
spec.ok(ms < 200, ("1,000 bots scored in %.1f ms (policy alone)"):format(ms))
