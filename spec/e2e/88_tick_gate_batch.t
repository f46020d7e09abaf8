# The gate of scheduled ticks is one policy call per batched load (issue 18, 5,000 bots): the ticks whose
# load came back in one statement are gated together by gates.lua safe_start_many against one snapshot, not by
# one safe_start call each (which pushed the whole status snapshot into Lua once per tick).
#   - two bots with the same phase in the second tick in the same dispatch: a fixture wrapper around
#     safe_start_many (in a copied home) names the bots of each call in a blocker, and a trace of one names
#     both;
#   - the answers stay per bot: one bot's open incident (bot_blockers, PAPER) blocks that bot only, while the
#     other bot of the same call runs;
#   - a safe_start_many that answers the wrong number of answers fails every tick of the call closed
#     (POLICY_ERROR, the reason names the count), and nothing is placed.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;
use Gatehouse::Sim;
use Gatehouse::Fixtures;

my $QUIET = { GATEHOUSE_BACKGROUND_VERIFY => 0, GATEHOUSE_ALERTS => 0 };
my $sim   = Gatehouse::Sim::start_sim();

my $HOLD = <<'LUA';
-- Test fixture: always HOLD.
return { name = "hold", requires_ai = false, params = {},
  decide = function(ctx)
    return { action = "HOLD", reason_code = "TEST_HOLD", reason_human = "hold", signals = {}, feature_keys_used = {} }
  end }
LUA

# Test fixture: every answer of safe_start_many refused by a blocker naming the bots of the call.
my $NAMING = <<'LUA';
-- Test fixture (spec 88): each answer also carries a blocker naming every bot of the call.
local real_many = M.safe_start_many
M.safe_start_many = function(reqs, snapshot)
  local answers = real_many(reqs, snapshot)
  local ids = {}
  for i, r in ipairs(reqs) do ids[i] = r.bot_id end
  table.sort(ids)
  for _, a in ipairs(answers) do
    a.allowed = false
    table.insert(a.blockers, 1, { code = "TEST_GATE_BATCH", severity = "SEV-2", scope = "bot", message = "batched",
      reason_human = "one safe_start_many call for " .. #reqs .. " ticks: " .. table.concat(ids, ",") })
  end
  return answers
end
LUA

# Test fixture: safe_start_many answers nothing.
my $SHORT = <<'LUA';
-- Test fixture (spec 88): no answers at all.
M.safe_start_many = function(reqs, snapshot) return {} end
LUA

sub home_with {
    my ($wrapper) = @_;
    my $home = fixture_home( flip => 0 );
    write_file( "$home/scripts/strategies/hold.lua", $HOLD );
    if ($wrapper) {
        my $gates = read_file("$home/gates.lua");
        $gates =~ s/\nreturn M\s*\z/\n$wrapper\nreturn M\n/ or BAIL_OUT('gates.lua does not end with return M');
        write_file( "$home/gates.lua", $gates );
    }
    return $home;
}

sub rows { my ( $srv, $sql ) = @_; [ psql_rows( $srv->db, $sql ) ] }

# scheduler.c phase_ms: FNV-1a of the id, modulo the interval (1 s): the bot's offset within each second.
sub phase_ms {
    my ($id) = @_;
    my $h = 2166136261;
    for my $c ( unpack 'C*', $id ) { $h = ( ( $h ^ $c ) * 16777619 ) % 4294967296 }
    return $h % 1000;
}

sub uuid4 {
    my @byte = map { int rand 256 } 1 .. 16;
    $byte[6] = ( $byte[6] & 0x0f ) | 0x40;
    $byte[8] = ( $byte[8] & 0x3f ) | 0x80;
    my $h = join '', map { sprintf '%02x', $_ } @byte;
    return join '-', substr( $h, 0, 8 ), substr( $h, 8, 4 ), substr( $h, 12, 4 ), substr( $h, 16, 4 ), substr( $h, 20 );
}

# Two ids ticking in the same 10 ms dispatch of every second.
sub same_phase_pair {
    my %seen;
    while (1) {
        my $id = uuid4();
        my $p  = phase_ms($id);
        return ( $seen{$p}, $id ) if $seen{$p};
        $seen{$p} = $id;
    }
}

sub start_server_with {
    my ($home) = @_;
    my $env = { %{ $sim->base_env( only => ['databento'] ) }, %$QUIET, GATEHOUSE_TICK_INTERVAL_S => 1 };
    my $srv = start_server( env => $env, home => $home, clock => AT_OPEN );
    is( $srv->post( '/api/integrations/verify', { provider_id => 'databento' } )->{json}{reason_code}, 'OK', 'databento verifies OK' );
    return $srv;
}

sub start_bots {
    my ( $srv, @ids ) = @_;
    for my $id (@ids) {
        psql_rows( $srv->db, "INSERT INTO bots (id, name, strategy, symbol, timeframe, stage) VALUES "
              . "('$id', 'gb-" . substr( $id, 0, 8 ) . "', 'hold', 'ESZ6', '1m', 'PAPER')" );
        my $r = $srv->post("/api/bots/$id/start");
        is( $r->{status}, 200, "bot $id started" ) or diag explain $r->{json};
    }
}

subtest 'ticks of one dispatch are gated by one safe_start_many call' => sub {
    my $srv = start_server_with( home_with($NAMING) );
    my ( $one, $two ) = same_phase_pair();
    is( phase_ms($one), phase_ms($two), "bots $one and $two share their phase (" . phase_ms($one) . ' ms)' );
    start_bots( $srv, $one, $two );
    my $pair = join ',', sort( $one, $two );
    my $both = wait_for( sub {
        rows( $srv, "SELECT reason_human FROM no_trade_traces WHERE bot_id = '$one' AND reason_code = 'TEST_GATE_BATCH' "
              . "AND reason_human LIKE '%for 2 ticks: $pair'" )->[0] }, 20, 'a trace of one call for both bots' );
    ok( $both, "a tick of $one was gated in the same call as ${two}'s: $both->[0]" );
    my $other = rows( $srv, "SELECT count(*) FROM no_trade_traces WHERE bot_id IN ('$one', '$two') "
          . "AND reason_code NOT IN ('TEST_GATE_BATCH')" )->[0][0];
    is( $other, 0, 'every scheduled tick of both bots went through safe_start_many (no trace of another reason)' );
    my $listed = rows( $srv, "SELECT count(*) FROM no_trade_traces WHERE bot_id = '$two' AND reason_code = 'TEST_GATE_BATCH' "
          . "AND reason_human LIKE '%$two%'" )->[0][0];
    cmp_ok( $listed, '>', 0, "each bot's own trace names it" );
    is( rows( $srv, "SELECT count(*) FROM orders WHERE bot_id IN ('$one', '$two')" )->[0][0], 0, 'nothing placed' );
    $srv->stop;
};

subtest 'one call, answers per bot: an incident of one bot blocks that bot only' => sub {
    my $srv = start_server_with( home_with(undef) );
    my ( $one, $two ) = same_phase_pair();
    start_bots( $srv, $one, $two );
    psql_rows( $srv->db, "INSERT INTO bot_blockers (bot_id, code, stages, reason_human, trace_id) VALUES "
          . "('$one', 'POSITION_MISMATCH', '{PAPER}', 'spec 88: the broker disagrees', 'spec88trace')" );
    my $blocked = wait_for( sub {
        rows( $srv, "SELECT max(created_at) FROM no_trade_traces WHERE bot_id = '$one' AND reason_code = 'POSITION_MISMATCH'" )->[0][0] },
        20, 'bot a blocked' );
    ok( $blocked, "bot ${one}'s ticks are refused POSITION_MISMATCH" );
    my $held = wait_for( sub {
        rows( $srv, "SELECT count(*) FROM no_trade_traces WHERE bot_id = '$two' AND reason_code = 'TEST_HOLD' "
              . "AND created_at > '$blocked'::timestamptz" )->[0][0] >= 2 }, 20, 'bot b still runs' );
    ok( $held, "bot $two, gated in the same calls, still ticks to its strategy (TEST_HOLD)" );
    is( rows( $srv, "SELECT count(*) FROM no_trade_traces WHERE bot_id = '$two' AND reason_code = 'POSITION_MISMATCH'" )->[0][0],
        0, "bot $two is never refused for bot ${one}'s incident" );
    $srv->stop;
};

subtest 'a safe_start_many without an answer per tick fails every tick of the call closed' => sub {
    my $srv = start_server_with( home_with($SHORT) );
    my ( $one, $two ) = same_phase_pair();
    start_bots( $srv, $one, $two );
    my $failed = wait_for( sub {
        rows( $srv, "SELECT reason_human FROM no_trade_traces WHERE bot_id = '$one' AND reason_code = 'POLICY_ERROR'" )->[0] },
        20, 'a POLICY_ERROR trace' );
    like( $failed && $failed->[0], qr/safe_start_many\(\) returned 0 answers for [12] requests/,
        'the tick is refused POLICY_ERROR naming the count' );
    ok( wait_for( sub { rows( $srv, "SELECT count(*) FROM no_trade_traces WHERE bot_id = '$two' AND reason_code = 'POLICY_ERROR'" )->[0][0] },
        20, 'b too' ), 'the other bot of the call too' );
    is( rows( $srv, "SELECT count(*) FROM no_trade_traces WHERE bot_id IN ('$one', '$two') AND reason_code NOT IN ('POLICY_ERROR')" )->[0][0],
        0, 'no tick went past the gate' );
    is( rows( $srv, "SELECT count(*) FROM orders WHERE bot_id IN ('$one', '$two')" )->[0][0], 0, 'nothing placed' );
    $srv->stop;
};

done_testing;
