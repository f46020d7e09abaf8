--[[ autonomy.lua — how far each bot can be trusted to run alone, scored from evidence (operator-edited).

INPUT
  C gathers the evidence with SQL (runtime/autonomy.c) and calls, once per scoring round,
    score_all({ system = system, bots = { bot, … } })   → { result, … } (same order as bots)
  or score(bot, system) for one bot. evidence_spec() tells C how much evidence to read.
    system = { now = <epoch s>,
               system_status = "OK" | "DEGRADED" | "BLOCKED",          -- gates.lua's cached decision
               blockers = { { code, severity, scope, bot_id? }, … },   -- idem (read only for codes below)
               market_data_primary = nil | { providerId, connected, proof_24h, last_used_at },
               execution_primary   = nil | { providerId, connected },
               leader_alive = bool }                                   -- a scheduler lease is held
    bot = { bot_id, name, stage, desired_state,
            bars   = { ok, err, last_ok_at, last_err_at, last_error_code },   -- its last marketdata.bars calls,
                                                         -- or bars served to it by another bot's fetch of the same second
            proof_24h = n,                   -- its OK provider calls (not runner/risk_engine) and shared bars in the window
            traces = { decisions, no_trades, policy_errors, last_decision_at, last_no_trade_at,
                       avg_confidence, confidence_n },                        -- its latest traces
            risk   = { ok, blocked, error, by_code = { CODE = n },      -- its last risk.check events
                       usage = { contracts, daily_loss, drawdown, order_rate } },  -- latest decision's ratios
            orders = { total, filled, submitted, intents, blocked, rejected, cancelled, live, simulated_fills,
                       real_fills, avg_real_fill_latency_ms, avg_sim_fill_latency_ms, avg_slippage_ticks },
            instance = nil | { state, breaker_state, heartbeat_age_s, heartbeat_timeout_s, restart_count },
            deaths = n, kills = n,           -- runner deaths (FAILED/TIMEOUT) and kills in the window
            incidents = { "RISK_BREACH" | "POSITION_MISMATCH", … } }  -- open bot blockers (not yet acknowledged)
  Times are epoch seconds; absent values are nil. Counts cover at most evidence_spec()'s samples.

OUTPUT
  result = { bot_id, autonomy_score, data_reliability_score, decision_quality_score, risk_discipline_score,
             execution_health_score, supervisor_trust_score (integers 0–100),
             autonomy_tier = "LOCKED" | "SUPERVISED" | "LIMITED_AUTONOMY" | "FULL_AUTONOMY",
             blockers = { blocker, … }, breakdown = { … } }
  blocker = { code, severity ("SEV-1" locks the bot, "SEV-2" only holds it below a tier), requirement,
              needed_for (tier), reason_human, suggested_fix }
  breakdown = { schema_version, scored_at, window_s, weights,
                sub_scores = { <name> = { score, weight, evidence = { { key, value, effect, note? }, … },
                                          missing = { "…", … } } },
                tier_reason, next_tier,
                missing_for_next_tier = { { requirement, code, reason_human, suggested_fix }, … },
                blockers }
  evidence.effect is the points that evidence moved its sub-score (0 = looked at, no change); note says
  why in words for every evidence that moved a score (and a few fixed remarks). A failed requirement is a
  blocker (deduplicated across tiers) and, when it belongs to the next tier, an entry of
  missing_for_next_tier.

RULES
  Sub-scores start at 100 and evidence moves them (thresholds below). A sub-score without evidence for the
  bot is no_evidence_score (50) and names what is missing: a new bot is neither trusted nor distrusted.
  autonomy_score = the weighted mean of the sub-scores. The tier is the highest one whose requirements, and
  those of every tier below it, all hold:
    SUPERVISED        breaker not OPEN; a market-data primary connected; the bot's own bars not failing
                      (data_reliability ≥ data.lock_below when it has bars calls); score ≥ SUPERVISED.min_score.
                      Failing any of these is LOCKED (SEV-1): no autonomous start at all.
    LIMITED_AUTONOMY  score ≥ LIMITED_AUTONOMY.min_score; supervisor active (scheduler ticking, a leader);
                      breaker not HALF_OPEN; heartbeat fresh when running; data feed healthy (primary required
                      for autonomy, data_reliability ≥ data.healthy_min); risk engine enforcing; proof of use
                      > 0 in the window; a decision or no-trade trace within decision.recent_s.
    FULL_AUTONOMY     score ≥ FULL_AUTONOMY.min_score and every sub-score ≥ FULL_AUTONOMY.min_sub_score;
                      an execution broker connected; a decision trace within decision.decision_recent_s;
                      execution evidence (an order in the window that was not blocked or rejected).
  What the tiers allow is enforced elsewhere: gates.lua safe_start (LOCKED: no start; SUPERVISED: PAPER and
  SHADOW only, LIVE refused with AUTONOMY_TIER_LOCKED) and scripts/risk.lua (LIMITED_AUTONOMY trades LIVE
  with reduced limits; FULL_AUTONOMY with the normal ones).
]]

local M = {
  schema_version = 1,
  thresholds = {
    window_s = 86400,          -- evidence window (proof of use, traces, risk checks, orders, deaths, kills)
    samples = { bars = 100, traces = 50, risk = 100, orders = 50 },  -- latest rows read per bot and kind
    weights = { data_reliability = 0.25, decision_quality = 0.20, risk_discipline = 0.20,
                execution_health = 0.15, supervisor_trust = 0.20 },
    no_evidence_score = 50,
    tiers = {
      SUPERVISED = { min_score = 30 },
      LIMITED_AUTONOMY = { min_score = 60 },
      FULL_AUTONOMY = { min_score = 80, min_sub_score = 60 },
    },
    data = { lock_below = 20, healthy_min = 60, fresh_s = 900, stale_penalty = 30, fallback_cap = 70 },
    decision = { recent_s = 3600, decision_recent_s = 86400, stale_penalty = 30, min_confidence = 0.3,
                 low_confidence_penalty_max = 30, no_decisions_penalty = 10 },
    risk = { breach_penalty = 40, violation_penalty = 10, violation_penalty_max = 50, usage_warn = 0.9,
             usage_penalty = 15 },
    execution = { blocked_weight = 50, fill_latency_warn_ms = 2000, latency_penalty = 20,
                  slippage_warn_ticks = 2, slippage_penalty = 15, intents_only_cap = 75 },
    supervisor = { death_penalty = 15, death_penalty_max = 60, kill_penalty = 30, kill_penalty_max = 60,
                   heartbeat_penalty = 50, half_open_cap = 40 },
  },
}

local TIERS = { "LOCKED", "SUPERVISED", "LIMITED_AUTONOMY", "FULL_AUTONOMY" }
local LEVEL = { LOCKED = 0, SUPERVISED = 1, LIMITED_AUTONOMY = 2, FULL_AUTONOMY = 3 }
local SUBS = { "data_reliability", "decision_quality", "risk_discipline", "execution_health", "supervisor_trust" }
local BREACHES = { MAX_DAILY_LOSS = true, MAX_DRAWDOWN = true }   -- a limit hit, not just refused
local NEUTRAL = { MARKET_CLOSED = true }                           -- not the bot's doing
local USAGE_KEYS = { "contracts", "daily_loss", "drawdown", "order_rate" }  -- scripts/risk.lua usage ratios

---------------------------------------------------------------------------------------------------
-- Helpers
---------------------------------------------------------------------------------------------------

local tbl, num, EMPTY = lib.util.tbl, lib.util.num, lib.util.EMPTY -- scripts/lib/util.lua
local function clamp(x) return math.max(0, math.min(100, math.floor(x + 0.5))) end
local function pct(x) return math.floor(x * 100 + 0.5) end

local function has_blocker(sys, code, scope, severity)
  for _, b in ipairs(tbl(sys.blockers)) do
    if type(b) == "table" and b.code == code and (scope == nil or b.scope == scope)
        and (severity == nil or b.severity == severity) then
      return true
    end
  end
  return false
end

-- The system blockers every bot's rules look at, read once per system table (score_all scores a whole batch
-- against one system: these are the same for every bot of it). Weak keys: the cache dies with the batch.
local SYS_FACTS = setmetatable({}, { __mode = "k" })
local function sys_facts(sys)
  local c = SYS_FACTS[sys]
  if c == nil then
    c = { md_fallback = has_blocker(sys, "DATA_UNAVAILABLE", "live"),
          risk_enforcing = not has_blocker(sys, "RISK_ENGINE_NOT_ENFORCING"),
          heartbeat_timeout = has_blocker(sys, "HEARTBEAT_TIMEOUT", "system", "SEV-1") }
    SYS_FACTS[sys] = c
  end
  return c
end

local function new_sub() return { score = 100, evidence = {}, missing = {} } end

-- The note is a plain string (always kept) or a format string and its arguments, formatted only when the
-- evidence moved the score (neutral evidence keeps key and value). That keeps a 1,000-bot batch cheap.
local function add(s, key, value, effect, fmt, ...)
  local note
  if select("#", ...) == 0 then note = fmt elseif effect ~= 0 then note = fmt:format(...) end
  s.evidence[#s.evidence + 1] = { key = key, value = value, effect = effect, note = note }
  s.score = s.score + effect
end

local function no_evidence(s, th, key, note)
  s.missing[#s.missing + 1] = note
  add(s, key, 0, th.no_evidence_score - 100, note)
end

local function cap(s, max, key, value, note)
  if s.score > max then add(s, key, value, max - s.score, note) else add(s, key, value, 0, note) end
end

local function age(now, t)
  t = num(t, nil)
  return t and math.max(0, now - t) or nil
end

---------------------------------------------------------------------------------------------------
-- Sub-scores (each also records the facts the tier rules need in f)
---------------------------------------------------------------------------------------------------

local function data_reliability(b, sys, th, now, f)
  local s, d = new_sub(), th.data
  local bars = tbl(b.bars)
  local ok, err = num(bars.ok, 0), num(bars.err, 0)
  local primary = type(sys.market_data_primary) == "table" and sys.market_data_primary or nil
  f.md_available = primary ~= nil and primary.connected ~= false
  f.md_fallback = sys_facts(sys).md_fallback
  f.md_primary = primary and primary.providerId
  f.bars_total = ok + err
  if not f.md_available then
    add(s, "market_data_primary", nil, -100, "no market-data provider of the live stack is connected")
  elseif ok + err == 0 then
    no_evidence(s, th, "bars_calls", "no marketdata.bars call by this bot in the window")
  else
    local rate = err / (ok + err)
    add(s, "bars_error_rate", rate, -pct(rate), "%d of its last %d bars calls failed%s", err, ok + err,
      err > 0 and type(bars.last_error_code) == "string" and (" (last: " .. bars.last_error_code .. ")") or "")
    local a = age(now, bars.last_ok_at)
    f.bars_age = a
    if a and a > d.fresh_s then
      add(s, "bars_freshness_s", math.floor(a), -d.stale_penalty,
          "last successful bars call %d s ago (fresh within %d s)", math.floor(a), d.fresh_s)
    elseif a then
      add(s, "bars_freshness_s", math.floor(a), 0, "last successful bars call %d s ago", math.floor(a))
    end
  end
  if f.md_available then
    if f.md_fallback then
      cap(s, d.fallback_cap, "market_data_primary", f.md_primary,
          tostring(f.md_primary) .. " serves bars but is a fallback feed (not required_for_autonomy)")
    else
      add(s, "market_data_primary", f.md_primary, 0, "%s is the connected primary", tostring(f.md_primary))
    end
  end
  s.score = clamp(s.score)
  f.data_failing = f.bars_total > 0 and s.score < d.lock_below
  return s
end

local function decision_quality(b, sys, th, now, f)
  local s, d = new_sub(), th.decision
  local t = tbl(b.traces)
  local dec, nt, perr = num(t.decisions, 0), num(t.no_trades, 0), num(t.policy_errors, 0)
  f.decision_age = age(now, t.last_decision_at)
  local nt_age = age(now, t.last_no_trade_at)
  f.trace_age = (f.decision_age and nt_age) and math.min(f.decision_age, nt_age) or f.decision_age or nt_age
  if dec + nt == 0 then
    no_evidence(s, th, "traces", "no decision or no-trade trace in the window")
    s.score = clamp(s.score)
    return s
  end
  if f.trace_age > d.recent_s then
    add(s, "last_trace_age_s", math.floor(f.trace_age), -d.stale_penalty,
        "latest trace %d s ago (recent within %d s)", math.floor(f.trace_age), d.recent_s)
  else
    add(s, "last_trace_age_s", math.floor(f.trace_age), 0, "latest trace %d s ago", math.floor(f.trace_age))
  end
  local rate = perr / (dec + nt)
  add(s, "policy_error_rate", rate, -pct(rate),
      "%d of its last %d traces are strategy/policy failures", perr, dec + nt)
  if dec == 0 then
    add(s, "decisions", 0, -d.no_decisions_penalty, "only no-trade traces: no trade decision to judge yet")
  else
    local conf = num(t.avg_confidence, nil)
    if conf == nil then
      add(s, "avg_confidence", nil, 0, "%d decisions, none with a confidence", dec)
    elseif conf < d.min_confidence then
      add(s, "avg_confidence", conf, -math.min(d.low_confidence_penalty_max, pct(d.min_confidence - conf)),
          "average confidence %.2f of %d decisions is below %.2f", conf, dec, d.min_confidence)
    else
      add(s, "avg_confidence", conf, 0, "average confidence %.2f over %d decisions", conf, dec)
    end
  end
  s.score = clamp(s.score)
  return s
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do if type(k) == "string" then keys[#keys + 1] = k end end
  table.sort(keys)
  return keys
end

local function risk_discipline(b, sys, th, now, f)
  local s, r = new_sub(), th.risk
  local e = tbl(b.risk)
  f.risk_enforcing = sys_facts(sys).risk_enforcing
  if not f.risk_enforcing then
    add(s, "risk_engine", false, -100, "the risk engine is not enforcing (scripts/risk.lua)")
  end
  local ok, blocked, errors = num(e.ok, 0), num(e.blocked, 0), num(e.error, 0)
  local n = ok + blocked + errors
  if n == 0 then
    no_evidence(s, th, "risk_checks", "no risk.check for this bot in the window")
    s.score = clamp(s.score)
    return s
  end
  add(s, "risk_check_errors", errors, -pct(errors / n),
      "%d of its last %d risk checks failed to run", errors, n)
  local by_code, minor = tbl(e.by_code), 0
  for _, code in ipairs(next(by_code) == nil and EMPTY or sorted_keys(by_code)) do
    local k = num(by_code[code], 0)
    if BREACHES[code] then
      add(s, "violation." .. code, k, -r.breach_penalty * k, "%s hit %d time(s)", code, k)
    elseif NEUTRAL[code] then
      add(s, "violation." .. code, k, 0, "%s %d time(s): not the bot's doing", code, k)
    else
      local p = math.min(r.violation_penalty * k, r.violation_penalty_max - minor)
      minor = minor + p
      add(s, "violation." .. code, k, -p, "%s refused %d order(s)", code, k)
    end
  end
  local usage, which = nil, nil
  for _, k in ipairs(USAGE_KEYS) do   -- the latest decision's risk_snapshot.usage ratios (used / limit)
    local u = num(tbl(e.usage)[k], nil)
    if u and (usage == nil or u > usage) then usage, which = u, k end
  end
  if usage then
    add(s, "limit_usage", usage, usage >= r.usage_warn and -r.usage_penalty or 0,
        "latest decision used %d%% of %s", pct(usage), which)
  end
  s.score = clamp(s.score)
  return s
end

local function execution_health(b, sys, th, now, f)
  local s, x = new_sub(), th.execution
  local o = tbl(b.orders)
  local total = num(o.total, 0)
  local blocked, rejected = num(o.blocked, 0), num(o.rejected, 0)
  f.broker = type(sys.execution_primary) == "table" and sys.execution_primary.connected ~= false
  f.broker_id = f.broker and sys.execution_primary.providerId or nil
  f.executed = total - blocked - rejected
  if total == 0 then
    no_evidence(s, th, "orders", "no orders in the window")
    s.score = clamp(s.score)
    return s
  end
  add(s, "rejected_rate", rejected / total, -pct(rejected / total),
      "%d of its last %d orders rejected", rejected, total)
  add(s, "blocked_rate", blocked / total, -math.floor(blocked / total * x.blocked_weight + 0.5),
      "%d of its last %d orders blocked by a gate", blocked, total)
  local real, sim = num(o.real_fills, 0), num(o.simulated_fills, 0)
  local lat = num(o.avg_real_fill_latency_ms, nil)
  if real > 0 and lat then
    add(s, "fill_latency_ms", math.floor(lat), lat > x.fill_latency_warn_ms and -x.latency_penalty or 0,
        "%d broker fills, average latency %d ms", real, math.floor(lat))
  end
  if sim > 0 then
    add(s, "simulated_fills", sim, 0, "simulated (PAPER) fills: their latency is bar-driven, not judged")
  end
  local slip = num(o.avg_slippage_ticks, nil)
  if slip then
    add(s, "slippage_ticks", slip, slip > x.slippage_warn_ticks and -x.slippage_penalty or 0,
        "average slippage %.2f ticks", slip)
  end
  if num(o.intents, 0) > 0 and num(o.filled, 0) + num(o.submitted, 0) == 0 then
    cap(s, x.intents_only_cap, "intents_only", num(o.intents, 0), "SHADOW intents only: nothing was executed")
  end
  s.score = clamp(s.score)
  return s
end

local function supervisor_trust(b, sys, th, now, f)
  local s, sv = new_sub(), th.supervisor
  for _, code in ipairs(type(b.incidents) == "table" and b.incidents or EMPTY) do
    if code == "RISK_BREACH" then f.risk_breach = true end
    if code == "POSITION_MISMATCH" then f.position_mismatch = true end
  end
  if f.risk_breach then add(s, "risk_breach", true, -100, "risk breach not acknowledged: the bot was killed") end
  f.supervisor_active = not sys_facts(sys).heartbeat_timeout and sys.leader_alive ~= false
  if not f.supervisor_active then
    add(s, "supervisor", false, -100, "the scheduler/supervisor is not running (no fresh tick or no leader)")
  end
  local inst = type(b.instance) == "table" and b.instance or nil
  f.breaker = inst and inst.breaker_state or "CLOSED"
  if f.breaker == "OPEN" then
    add(s, "breaker", "OPEN", -100, "circuit breaker OPEN: restarts are blocked")
  elseif f.breaker == "HALF_OPEN" then
    cap(s, sv.half_open_cap, "breaker", "HALF_OPEN", "circuit breaker HALF_OPEN: one probe runs after repeated failures")
  end
  f.running = inst ~= nil and (inst.state == "RUNNING" or inst.state == "STARTING")
  f.heartbeat_stale = false
  if f.running then
    local a, limit = num(inst.heartbeat_age_s, nil), num(inst.heartbeat_timeout_s, 30)
    if a == nil or a > limit then
      f.heartbeat_stale = true
      add(s, "heartbeat_age_s", a, -sv.heartbeat_penalty,
          "running, but its heartbeat is %s old (timeout %d s)", a and (math.floor(a) .. " s") or "never", limit)
    else
      add(s, "heartbeat_age_s", math.floor(a), 0, "running, heartbeat %d s ago", math.floor(a))
    end
  else
    add(s, "running", false, 0, "not running: no heartbeat to judge")
  end
  local deaths, kills = num(b.deaths, 0), num(b.kills, 0)
  add(s, "deaths", deaths, -math.min(sv.death_penalty_max, sv.death_penalty * deaths),
      "%d runner death(s) in the window", deaths)
  if kills > 0 then
    add(s, "kills", kills, -math.min(sv.kill_penalty_max, sv.kill_penalty * kills),
        "%d kill(s) in the window", kills)
  end
  s.score = clamp(s.score)
  return s
end

local SCORERS = { data_reliability = data_reliability, decision_quality = decision_quality,
                  risk_discipline = risk_discipline, execution_health = execution_health,
                  supervisor_trust = supervisor_trust }

---------------------------------------------------------------------------------------------------
-- Requirements per tier (level = the lowest tier that needs it; group dedups blockers across tiers)
---------------------------------------------------------------------------------------------------

local REQUIREMENTS = {
  { id = "no_risk_breach", tier = "SUPERVISED", group = "incident", code = "RISK_BREACH",
    ok = function(f) return not f.risk_breach end,
    why = function() return "The bot breached a risk limit and was killed; the breach is not acknowledged." end,
    fix = "Review its trades and limits, then acknowledge the breach (POST /api/bots/:id/blockers/RISK_BREACH/ack)." },
  { id = "no_position_mismatch", tier = "LIMITED_AUTONOMY", group = "incident", code = "POSITION_MISMATCH",
    ok = function(f) return not f.position_mismatch end,
    why = function() return "The broker's position differs from the bot's LIVE fills." end,
    fix = "Reconcile the position with the broker; the next reconciliation clears it when they agree." },
  { id = "breaker_not_open", tier = "SUPERVISED", group = "breaker", code = "CIRCUIT_OPEN",
    ok = function(f) return f.breaker ~= "OPEN" end,
    why = function() return "The bot's circuit breaker is OPEN after repeated runner failures." end,
    fix = "Fix the cause (the bot's runs and errors show it), then wait for the half-open probe after the " ..
          "cool-down; the score is recomputed when the breaker closes." },
  { id = "market_data_available", tier = "SUPERVISED", group = "data", code = "DATA_UNAVAILABLE",
    ok = function(f) return f.md_available end,
    why = function() return "No market-data provider of the live stack is connected." end,
    fix = "Restore a market-data provider (see the DATA_UNAVAILABLE system blocker), then press Verify." },
  { id = "bot_data_not_failing", tier = "SUPERVISED", group = "data", code = "DATA_ERRORS",
    ok = function(f) return not f.data_failing end,
    why = function(f, th) return ("The bot's own bars calls are failing (data reliability %d < %d)."):format(
      f.subs.data_reliability, th.data.lock_below) end,
    fix = "Check the bot's symbol and timeframe against the provider and its marketdata.bars errors " ..
          "(GET /api/bots/:id/proof); fix them, tick it manually, then recompute the score." },
  { id = "min_score_supervised", tier = "SUPERVISED", group = "score", code = "AUTONOMY_SCORE_LOW",
    ok = function(f, th) return f.score >= th.tiers.SUPERVISED.min_score end,
    why = function(f, th) return ("Autonomy score %d is below %d."):format(f.score, th.tiers.SUPERVISED.min_score) end,
    fix = "Raise the lowest sub-scores in the breakdown (their evidence says what lowered them)." },

  { id = "min_score_limited", tier = "LIMITED_AUTONOMY", group = "score", code = "AUTONOMY_SCORE_LOW",
    ok = function(f, th) return f.score >= th.tiers.LIMITED_AUTONOMY.min_score end,
    why = function(f, th) return ("Autonomy score %d is below %d."):format(f.score, th.tiers.LIMITED_AUTONOMY.min_score) end,
    fix = "Raise the lowest sub-scores in the breakdown (their evidence says what lowered them)." },
  { id = "supervisor_active", tier = "LIMITED_AUTONOMY", group = "supervisor", code = "HEARTBEAT_TIMEOUT",
    ok = function(f) return f.supervisor_active end,
    why = function() return "The scheduler/supervisor is not active (no fresh tick or no leader)." end,
    fix = "Check the gatehouse log for scheduler and leadership errors; restart gatehouse if it does not resume." },
  { id = "breaker_closed", tier = "LIMITED_AUTONOMY", group = "breaker", code = "CIRCUIT_OPEN",
    ok = function(f) return f.breaker ~= "HALF_OPEN" end,
    why = function() return "The circuit breaker is HALF_OPEN: a probe runs after repeated failures." end,
    fix = "Let the half-open probe tick successfully; the breaker then closes and the score is recomputed." },
  { id = "heartbeat_fresh", tier = "LIMITED_AUTONOMY", group = "heartbeat", code = "HEARTBEAT_TIMEOUT",
    ok = function(f) return not f.heartbeat_stale end,
    why = function() return "The bot runs but its heartbeat is older than its timeout." end,
    fix = "Check why its ticks stopped (the gatehouse log, GET /api/bots/:id/runs); the supervisor restarts it." },
  { id = "data_feed_healthy", tier = "LIMITED_AUTONOMY", group = "data", code = "DATA_UNAVAILABLE",
    ok = function(f, th) return f.md_available and not f.md_fallback and f.subs.data_reliability >= th.data.healthy_min end,
    why = function(f, th)
      if f.md_fallback then return "Bars come from " .. tostring(f.md_primary) .. ", a fallback feed not required for autonomy." end
      return ("Data reliability %d is below %d."):format(f.subs.data_reliability, th.data.healthy_min)
    end,
    fix = "Restore the primary market-data feed and let the bot tick (PAPER is fine) so its bars calls succeed." },
  { id = "risk_engine_enforcing", tier = "LIMITED_AUTONOMY", group = "risk", code = "RISK_ENGINE_NOT_ENFORCING",
    ok = function(f) return f.risk_enforcing end,
    why = function() return "The risk engine is not enforcing limits." end,
    fix = "Load scripts/risk.lua with enforcing = true (`gatehouse check` shows why not), then reload." },
  { id = "proof_of_use", tier = "LIMITED_AUTONOMY", group = "proof", code = "NO_PROOF_OF_USE",
    ok = function(f) return f.proof > 0 end,
    why = function(f, th) return ("No proof of use: the bot made no successful provider call (market data, broker, " ..
      "LLM) in the last %d h."):format(th.window_s // 3600) end,
    fix = "Run the bot (start it as PAPER, or POST /api/bots/:id/tick) so it calls its providers, then recompute." },
  { id = "recent_traces", tier = "LIMITED_AUTONOMY", group = "traces", code = "NO_RECENT_TRACES",
    ok = function(f, th) return f.trace_age ~= nil and f.trace_age <= th.decision.recent_s end,
    why = function(f, th) return ("No decision or no-trade trace in the last %d s%s."):format(th.decision.recent_s,
      f.trace_age and (" (latest " .. math.floor(f.trace_age) .. " s ago)") or "") end,
    fix = "Let the bot tick (PAPER is fine): every tick leaves a decision or no-trade trace." },

  { id = "min_score_full", tier = "FULL_AUTONOMY", group = "score", code = "AUTONOMY_SCORE_LOW",
    ok = function(f, th) return f.score >= th.tiers.FULL_AUTONOMY.min_score end,
    why = function(f, th) return ("Autonomy score %d is below %d."):format(f.score, th.tiers.FULL_AUTONOMY.min_score) end,
    fix = "Raise the lowest sub-scores in the breakdown (their evidence says what lowered them)." },
  { id = "min_sub_scores", tier = "FULL_AUTONOMY", group = "sub_scores", code = "AUTONOMY_SCORE_LOW",
    ok = function(f, th) return f.low_subs[1] == nil end,
    why = function(f, th) return ("Sub-scores below %d: %s."):format(th.tiers.FULL_AUTONOMY.min_sub_score,
      table.concat(f.low_subs, ", ")) end,
    fix = "Each sub-score's evidence and missing list in the breakdown says what would raise it." },
  { id = "broker_healthy", tier = "FULL_AUTONOMY", group = "broker", code = "EXECUTION_BROKER_UNAVAILABLE",
    ok = function(f) return f.broker end,
    why = function() return "No execution broker is connected." end,
    fix = "Configure and verify a broker (Ironbeam or Tradovate) on Connections." },
  { id = "recent_decision_traces", tier = "FULL_AUTONOMY", group = "decisions", code = "NO_RECENT_DECISION_TRACES",
    ok = function(f, th) return f.decision_age ~= nil and f.decision_age <= th.decision.decision_recent_s end,
    why = function(f, th) return ("No decision trace (a trade decision) in the last %d s."):format(
      th.decision.decision_recent_s) end,
    fix = "Let the bot trade in PAPER: its ENTRY/EXIT decisions leave decision traces." },
  { id = "execution_evidence", tier = "FULL_AUTONOMY", group = "execution", code = "NO_EXECUTION_EVIDENCE",
    ok = function(f) return f.executed > 0 end,
    why = function() return "No order in the window went through (none, or all blocked/rejected)." end,
    fix = "Let the bot trade in PAPER or SHADOW so its orders show execution health." },
}

---------------------------------------------------------------------------------------------------
-- Scoring
---------------------------------------------------------------------------------------------------

local function score_one(b, sys, th, now)
  if type(b) ~= "table" then error("autonomy.score: bot must be a table", 3) end
  local f = { subs = {}, low_subs = {}, proof = num(b.proof_24h, 0) }
  local subs, total, weights = {}, 0, tbl(th.weights)
  for _, name in ipairs(SUBS) do
    local s = SCORERS[name](b, sys, th, now, f)
    s.weight = num(weights[name], 0)
    subs[name], f.subs[name] = s, s.score
    total = total + s.weight * s.score
    if s.score < th.tiers.FULL_AUTONOMY.min_sub_score then
      f.low_subs[#f.low_subs + 1] = name .. " " .. s.score
    end
  end
  local wsum = 0
  for i = 1, #SUBS do wsum = wsum + subs[SUBS[i]].weight end
  f.score = clamp(wsum > 0 and total / wsum or 0)

  local failed_at, blockers, seen = {}, {}, {}
  for _, r in ipairs(REQUIREMENTS) do
    if not r.ok(f, th) then
      local lvl = LEVEL[r.tier]
      local list = failed_at[lvl]
      if list == nil then list = {}; failed_at[lvl] = list end
      local item = { requirement = r.id, code = r.code, reason_human = r.why(f, th), suggested_fix = r.fix }
      list[#list + 1] = item
      if not seen[r.group] then
        seen[r.group] = true
        blockers[#blockers + 1] = { code = r.code, severity = lvl == 1 and "SEV-1" or "SEV-2", requirement = r.id,
                                    needed_for = r.tier, reason_human = item.reason_human, suggested_fix = r.fix }
      end
    end
  end
  local level = 0
  for l = 1, 3 do
    if failed_at[l] then break end
    level = l
  end
  local tier, next_tier = TIERS[level + 1], TIERS[level + 2]
  local missing = next_tier and failed_at[level + 1] or {}
  local reason = ("%s: score %d"):format(tier, f.score)
  if next_tier then
    reason = reason .. "; not " .. next_tier .. ": "
    for i, m in ipairs(missing) do
      reason = reason .. (i > 1 and ", " or "") .. m.requirement .. " (" .. m.code .. ")"
    end
  else
    reason = reason .. "; every requirement holds"
  end
  return {
    bot_id = b.bot_id,
    autonomy_score = f.score,
    data_reliability_score = f.subs.data_reliability,
    decision_quality_score = f.subs.decision_quality,
    risk_discipline_score = f.subs.risk_discipline,
    execution_health_score = f.subs.execution_health,
    supervisor_trust_score = f.subs.supervisor_trust,
    autonomy_tier = tier,
    blockers = blockers,
    breakdown = {
      schema_version = M.schema_version, scored_at = now, window_s = th.window_s, weights = weights,
      sub_scores = subs, tier_reason = reason, next_tier = next_tier,
      missing_for_next_tier = missing, blockers = blockers,
    },
  }
end

local function now_of(sys) return num(tbl(sys).now, nil) or rt.now() end

-- score(bot, system) -> result (see OUTPUT).
function M.score(bot, system)
  if type(system) ~= "table" then error("autonomy.score: system must be a table", 2) end
  return score_one(bot, system, M.thresholds, now_of(system))
end

-- score_all({ system, bots }) -> { result, … } in the order of bots: one call scores a whole batch.
function M.score_all(input)
  if type(input) ~= "table" or type(input.system) ~= "table" then
    error("autonomy.score_all: input must be { system = {…}, bots = {…} }", 2)
  end
  local sys, th, out = input.system, M.thresholds, {}
  local now = now_of(sys)
  for i, b in ipairs(tbl(input.bots)) do out[i] = score_one(b, sys, th, now) end
  return out
end

-- evidence_spec() -> { window_s, bars, traces, risk, orders }: how much evidence C reads per bot.
function M.evidence_spec()
  local s = tbl(M.thresholds.samples)
  return { window_s = num(M.thresholds.window_s, 86400), bars = num(s.bars, 100), traces = num(s.traces, 50),
           risk = num(s.risk, 100), orders = num(s.orders, 50) }
end

M.tiers = TIERS
return M
