# Autonomy and the circuit breaker (issue 6, PRODUCT.md §7 acceptance 6): a PAPER bot earns LIMITED_AUTONOMY
# from real ticks; its strategy then starts failing, the supervisor opens the breaker after three deaths, and
# the event-driven rescoring lowers the bot to LOCKED with CIRCUIT_OPEN in its blockers (a restart is refused
# with CIRCUIT_OPEN and the tier blocker). The strategy is fixed, the half-open probe closes the breaker after
# the cool-down, and the next scoring restores the tier (the deaths stay visible as evidence).
#
# Fixtures (in a copied home, never in the product): strategy `swing`, rewritten and reloaded between
# phases (flip → raise → hold); market hours forced open.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;
use Gatehouse::Sim;
use Gatehouse::Fixtures;

my $FLIP = <<'LUA';
-- Test fixture: ENTRY BUY 1 when flat, EXIT when in a position.
return { name = "swing", requires_ai = false, params = {},
  decide = function(ctx)
    local q = ctx.position and ctx.position.qty or 0
    if q == 0 then
      return { action = "ENTRY", side = "BUY", qty = 1, reason_code = "TEST_ENTRY", reason_human = "flat: enter",
               confidence = 0.5, signals = {}, feature_keys_used = { "close" } }
    end
    return { action = "EXIT", side = q > 0 and "SELL" or "BUY", qty = math.abs(q), reason_code = "TEST_EXIT",
             reason_human = "in a position: exit", confidence = 0.5, signals = {}, feature_keys_used = { "close" } }
  end }
LUA
my $BOOM = <<'LUA';
-- Test fixture: every decision raises.
return { name = "swing", requires_ai = false, params = {}, decide = function(ctx) error("boom") end }
LUA
my $HOLD = <<'LUA';
-- Test fixture: always HOLD.
return { name = "swing", requires_ai = false, params = {},
  decide = function(ctx)
    return { action = "HOLD", reason_code = "TEST_HOLD", reason_human = "hold", signals = {}, feature_keys_used = {} }
  end }
LUA

my $sim  = Gatehouse::Sim::start_sim();
my $home = fixture_home();
write_file( "$home/scripts/strategies/swing.lua", $FLIP );
my $srv = start_server(
    env => { %{ $sim->base_env( only => ['databento'] ) }, GATEHOUSE_BACKGROUND_VERIFY => 0, GATEHOUSE_ALERTS => 0,
             GATEHOUSE_TICK_INTERVAL_S => 1, GATEHOUSE_BREAKER_COOLDOWN_S => 6 },
    home => $home, clock => AT_OPEN );
ok( wait_supervisor($srv), 'the supervisor runs and leads (autonomy above SUPERVISED needs it)' );
is( $srv->post( '/api/integrations/verify', { provider_id => 'databento' } )->{json}{reason_code}, 'OK', 'databento verified' );

sub rows { my ($sql) = @_; [ psql_rows( $srv->db, $sql ) ] }
sub stored { rows("SELECT autonomy_tier, breakdown::text FROM autonomy_scores WHERE bot_id = '$_[0]'")->[0] }

sub swap {
    my ($src) = @_;
    write_file( "$home/scripts/strategies/swing.lua", $src );
    is( $srv->post( '/api/policy/reload', { reason => 'spec 41' } )->{status}, 200, 'strategy swapped and reloaded' );
}

my $id = rows("INSERT INTO bots (name, strategy, symbol, timeframe, stage) VALUES ('breaker1', 'swing', 'ESZ6', '1m', 'PAPER') RETURNING id")->[0][0];

# earn a tier from real ticks
is( $srv->post("/api/bots/$id/tick")->{json}{tick}{outcome}, 'TRADED', 'tick 1 traded' );
rows("UPDATE orders SET created_at = created_at - interval '3 minutes' WHERE bot_id = '$id'");
is( $srv->post("/api/bots/$id/tick")->{json}{tick}{fills}, 1, 'tick 2 filled' );
# usage events reach the table within a flush (~100 ms), not with the tick's answer: score once they are there
ok( wait_for( sub { my $c = rows("SELECT count(*) FILTER (WHERE operation = 'marketdata.bars' AND status = 'OK'), "
                                 . "count(*) FILTER (WHERE operation = 'risk.check') FROM integration_usage_events WHERE bot_id = '$id'")->[0];
                    $c->[0] >= 2 && $c->[1] >= 2 }, 5, 'events' ),
    "the two ticks' bars calls and risk checks are recorded" );
my $before = $srv->post("/api/bots/$id/autonomy-score")->{json}{autonomy_score};
is( $before->{autonomy_tier}, 'LIMITED_AUTONOMY', 'the healthy bot is LIMITED_AUTONOMY' ) or diag explain $before->{blockers};
ok( !( grep { $_->{code} eq 'CIRCUIT_OPEN' } @{ $before->{blockers} } ), 'no CIRCUIT_OPEN blocker yet' );

# the strategy fails: deaths, breaker OPEN
swap($BOOM);
is( $srv->post("/api/bots/$id/start")->{status}, 200, 'started (LIMITED_AUTONOMY may run PAPER)' );
ok( wait_for( sub { rows("SELECT 1 FROM bot_instances WHERE bot_id = '$id' AND breaker_state = 'OPEN'")->[0] }, 25, 'open' ),
    'the supervisor opened the breaker' );
my $locked = wait_for( sub { my $s = stored($id); $s && $s->[0] eq 'LOCKED' ? $s : undef }, 5, 'rescored' );
ok( $locked, 'without any request the bot was rescored: LOCKED' );
my $open = $srv->get("/api/bots/$id/autonomy-score")->{json}{autonomy_score};
is( $open->{autonomy_tier}, 'LOCKED', 'GET: LOCKED' );
my ($cb) = grep { $_->{code} eq 'CIRCUIT_OPEN' } @{ $open->{blockers} };
ok( $cb, 'CIRCUIT_OPEN is among the blockers' );
is( $cb && $cb->{severity}, 'SEV-1', 'as a SEV-1 (locking) blocker' );
ok( $cb && $cb->{suggested_fix}, 'with a fix' );
is( $open->{supervisor_trust_score}, 0, 'supervisor trust 0 while the breaker is open' );
my %ev = map { $_->{key} => $_ } @{ $open->{breakdown}{sub_scores}{supervisor_trust}{evidence} };
is( $ev{breaker}{value}, 'OPEN', 'the breakdown names the breaker as the evidence' );
cmp_ok( $ev{deaths}{value}, '>=', 3, "and the deaths ($ev{deaths}{value})" );
ok( wait_for( sub { rows("SELECT 1 FROM system_events WHERE kind = 'autonomy.tier' AND subject = '$id' AND metadata->>'to' = 'LOCKED' AND severity = 'warning'")->[0] }, 5, 'ev' ),
    'a warning system event records the downgrade' );
ok( wait_for( sub { grep { $_->{bot_id} eq $id } @{ $srv->get('/api/system/status')->{json}{scheduler}{circuit_breakers} || [] } }, 5, 'listed' ),
    'the gates see the open breaker (status facts refresh every 2 s)' );
my $r = $srv->post("/api/bots/$id/restart");
is( $r->{status}, 409, 'restart refused' );
is( $r->{json}{error_code}, 'CIRCUIT_OPEN', 'first by CIRCUIT_OPEN' );
ok( ( grep { $_->{code} eq 'AUTONOMY_TIER_LOCKED' } @{ $r->{json}{blockers} } ), 'and by the LOCKED tier' );

# fixed: the half-open probe closes the breaker, the next scoring restores the tier
swap($HOLD);
ok( wait_for( sub { rows("SELECT 1 FROM system_events WHERE subject = '$id' AND kind = 'breaker' AND metadata->>'to' = 'CLOSED'")->[0] }, 30, 'closed' ),
    'the half-open probe closed the breaker' );
# (the HALF_OPEN probe is scored too: SUPERVISED with CIRCUIT_OPEN until the close is scored)
my $back = wait_for( sub { my $s = stored($id); $s && $s->[1] !~ /"CIRCUIT_OPEN"/ ? $s : undef }, 5, 'restored' );
ok( $back, 'rescored after the close, without being asked' );
my $after = $srv->get("/api/bots/$id/autonomy-score")->{json}{autonomy_score};
is( $after->{autonomy_tier}, $before->{autonomy_tier}, "the tier is restored ($after->{autonomy_tier})" );
ok( !( grep { $_->{code} eq 'CIRCUIT_OPEN' } @{ $after->{blockers} } ), 'CIRCUIT_OPEN is gone' );
cmp_ok( $after->{supervisor_trust_score}, '<', $before->{supervisor_trust_score}, 'the deaths still weigh on supervisor trust' );
ok( wait_for( sub { rows("SELECT 1 FROM system_events WHERE kind = 'autonomy.tier' AND subject = '$id' AND metadata->>'from' = 'LOCKED'")->[0] }, 5, 'ev' ),
    'a system event records the upgrade' );

is( $srv->stop, 0, 'stopped' );
done_testing;
