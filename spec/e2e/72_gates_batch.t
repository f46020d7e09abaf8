# gates.lua safe_start_many (the batched gate check the bench measures for PRODUCT.md §8 "gates for 1,000
# bots in <= 20 ms"): for every request it answers exactly what safe_start answers alone — healthy and
# degraded snapshots, every stage and tier, requires_ai, a bot with an open breaker, an invalid request —
# and it is one policy call for 1,000 bots. Runs a Lua spec through `gatehouse spec` (the policy sandbox).
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;
use File::Temp qw(tempdir);

my $dir = tempdir( CLEANUP => 1 );
my $lua = <<'LUA';
local G = spec.policy("gates.lua")
local P = spec.policy("providers.lua")
local NOW = 1764000000
spec.is(type(G.safe_start_many), "function", "safe_start_many is a function")

local function snapshot(connected, failing)
  local s = { now = NOW, db = { reachable = true, last_ok_at = NOW }, policy = { loaded = true, version = "v" },
              scheduler = { active = true, leader = true, last_tick_at = NOW - 1, loop_lag_ms = 3 },
              trading = { enabled = true, mode = "LIVE" }, risk = { enforcing = true }, priority = P.priority,
              providers = {}, breakers = { { bot_id = "bot-7", bot_name = "seven", state = "OPEN" },
                                           { bot_id = "bot-8", bot_name = "eight", state = "CLOSED" } } }
  for i, p in ipairs(P.providers) do
    local e = { id = p.id, label = p.label, category = p.category, required_for_autonomy = p.required_for_autonomy,
                required_env_vars = p.required_env_vars, missing_env_vars = {}, configured = true, verified = false,
                connected = false, in_use = false, proof_24h = 0, state = "CONFIGURED",
                bars = type(p.bars) == "table" }  -- as C derives it: the provider serves bars
    if connected then
      e.verified, e.connected, e.state, e.last_verify_outcome = true, true, "VERIFIED", "OK"
      e.last_verified_at, e.last_ok_at = NOW - 60, NOW - 60
    end
    if failing and failing[p.id] then
      e.verified, e.connected, e.state, e.last_verify_outcome, e.error_code = false, false, "DEGRADED", "AUTH_FAILED", "AUTH_FAILED"
      e.last_verified_at, e.reason_human, e.suggested_fix = NOW - 30, p.label .. " refused the key", "Replace the key."
    end
    s.providers[i] = e
  end
  return s
end

local reqs = {}
for _, stage in ipairs({ "PAPER", "SHADOW", "LIVE" }) do
  for _, tier in ipairs({ "LOCKED", "SUPERVISED", "LIMITED_AUTONOMY", "FULL_AUTONOMY" }) do
    for _, ai in ipairs({ true, false }) do
      reqs[#reqs + 1] = { stage = stage, autonomy_tier = tier, requires_ai = ai, bot_id = "bot-" .. #reqs }
    end
  end
end
reqs[#reqs + 1] = { stage = "PAPER", bot_id = "bot-7" }      -- open breaker
reqs[#reqs + 1] = { stage = "MOON" }                          -- invalid
reqs[#reqs + 1] = { stage = "LIVE", requires_ai = "yes" }     -- invalid type

for name, snap in pairs({ healthy = snapshot(true), degraded = snapshot(true, { databento = true, openai = true }),
                          unverified = snapshot(false) }) do
  local many = G.safe_start_many(reqs, snap)
  spec.is(#many, #reqs, name .. ": one answer per request")
  local same, allowed, denied = 0, 0, 0
  for i, req in ipairs(reqs) do
    local one = G.safe_start(req, snap)
    if spec.same(many[i], one, name .. " request " .. i .. " (" .. tostring(req.stage) .. ")") then same = same + 1 end
    if one.allowed then allowed = allowed + 1 else denied = denied + 1 end
  end
  spec.is(same, #reqs, name .. ": every answer equals safe_start's")
  if name == "healthy" then spec.ok(allowed > 0 and denied > 0, "healthy: some allowed, some denied (tiers, breaker)") end
  if name == "unverified" then spec.is(allowed, 0, "unverified: nothing may start") end
end

local big, s = {}, snapshot(true)
for i = 1, 1000 do big[i] = { stage = (i % 3 == 0) and "LIVE" or "PAPER", bot_id = "bot-" .. i, autonomy_tier = "FULL_AUTONOMY" } end
local t0 = rt.now()
local answers = G.safe_start_many(big, s)
local ms = (rt.now() - t0) * 1000
spec.is(#answers, 1000, "1,000 bots in one call")
spec.ok(answers[7].allowed == false and answers[8].allowed == true, "bot-7 (open breaker) denied, bot-8 allowed")
spec.ok(true, string.format("timing: safe_start_many for 1,000 bots %.2f ms", ms))
LUA
write_file( "$dir/gates_batch_spec.lua", $lua );

my ( $code, $out, $err ) = run_cmd( [ gatehouse_bin(), 'spec', "$dir/gates_batch_spec.lua" ], env => { GATEHOUSE_HOME => repo_root() }, timeout => 60 );
is( $code, 0, 'the Lua spec ran to the end' ) or diag( $err . $out );
my @lines = split /\n/, $out;
my @ok     = grep { /^ok \d+/ } @lines;
my @not_ok = grep { /^not ok/ } @lines;
is( scalar @ok, 93, 'all 93 assertions ran and passed' );
is( scalar @not_ok, 0, 'no assertion failed' ) or diag( join "\n", @not_ok );
my ($timing) = grep { /timing:/ } @lines;
note($timing) if $timing;
done_testing;
