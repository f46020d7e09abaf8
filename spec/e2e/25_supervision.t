# Supervision (PRODUCT.md §6, seed 003 B2/B3): a runner whose ticks fail dies, is restarted through the circuit
# breaker, and after three deaths the breaker opens (restarts refused with CIRCUIT_OPEN, listed in the system
# status); after the cool-down a healthy half-open probe closes it. A runner without heartbeat becomes TIMEOUT
# with HEARTBEAT_TIMEOUT and is restarted. Every transition is a job_run_events row with reason and trace id.
#
# Fixtures (in a copied home, never in the product): a strategy that raises, swapped for a healthy one (HOLD)
# and reloaded with SIGHUP.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;
use Gatehouse::Sim;
use Gatehouse::Fixtures;

my $QUIET = { GATEHOUSE_BACKGROUND_VERIFY => 0, GATEHOUSE_ALERTS => 0 };
my $sim   = Gatehouse::Sim::start_sim();

my $BOOM = <<'LUA';
-- Test fixture: every decision raises.
return { name = "sup", requires_ai = false, params = {},
  decide = function(ctx) error("boom") end }
LUA
my $HEALTHY = <<'LUA';
-- Test fixture: always HOLD.
return { name = "sup", requires_ai = false, params = {},
  decide = function(ctx)
    return { action = "HOLD", reason_code = "TEST_HOLD", reason_human = "hold", signals = {}, feature_keys_used = {} }
  end }
LUA

sub home_with {
    my ($strategy) = @_;
    my $home = copy_home();
    write_file( "$home/scripts/strategies/sup.lua", $strategy );
    return $home;
}

sub rows { my ( $srv, $sql ) = @_; [ psql_rows( $srv->db, $sql ) ] }

sub new_bot {
    my ( $srv, $name ) = @_;
    my ($row) = psql_rows( $srv->db, "INSERT INTO bots (name, strategy, symbol, timeframe, stage) VALUES "
          . "('$name', 'sup', 'ESZ6', '1m', 'PAPER') RETURNING id" );
    return $row->[0];
}

sub start_verified {
    my (%env) = @_;
    my $env = { %{ $sim->base_env( only => ['databento'] ) }, %$QUIET, GATEHOUSE_TICK_INTERVAL_S => 1, %env };
    my $srv = start_server( env => $env, home => home_with( delete $env->{_strategy} ), clock => AT_OPEN );
    $srv->post( '/api/integrations/verify', { provider_id => 'databento' } );
    return $srv;
}

subtest 'failing ticks: deaths, restarts, breaker OPEN, CIRCUIT_OPEN, half-open probe closes it' => sub {
    my $srv = start_verified( _strategy => $BOOM, GATEHOUSE_BREAKER_COOLDOWN_S => 6 );
    my $id  = new_bot( $srv, 'boomer' );
    is( $srv->post("/api/bots/$id/start")->{status}, 200, 'started' );
    # a LIVE bot cannot be started here (no broker): its running instance is written directly
    my ($live) = map { $_->[0] } psql_rows( $srv->db, "INSERT INTO bots (name, strategy, symbol, timeframe, stage, desired_state) "
          . "VALUES ('liveboom', 'sup', 'ESZ6', '1m', 'LIVE', 'RUNNING') RETURNING id" );
    psql_rows( $srv->db, "INSERT INTO bot_instances (bot_id, state, last_heartbeat_at) VALUES ('$live', 'RUNNING', gh_now())" );
    my $open = wait_for( sub {
        rows( $srv, "SELECT breaker_state, breaker_failures, state FROM bot_instances WHERE bot_id = '$id' "
              . "AND breaker_state = 'OPEN'" )->[0] }, 20, 'breaker open' );
    ok( $open, 'after three deaths the breaker is OPEN' );
    is( $open && $open->[1], 3, 'with 3 failures' );
    is( $open && $open->[2], 'DEAD', 'on the dead instance' );
    is( rows( $srv, "SELECT count(*) FROM bot_instances WHERE bot_id = '$id'" )->[0][0], 3, 'three instances (two restarts)' );
    is( rows( $srv, "SELECT max(restart_count) FROM bot_instances WHERE bot_id = '$id'" )->[0][0], 2, 'restart_count counts up' );
    is( rows( $srv, "SELECT count(*) FROM bot_instances WHERE bot_id = '$id' AND state IN ('STARTING', 'RUNNING')" )->[0][0], 0,
        'no restart while OPEN' );

    my $listed = wait_for( sub {
        my $s = $srv->get('/api/system/status')->{json};
        ( grep { $_->{bot_id} eq $id && $_->{state} eq 'OPEN' } @{ $s->{scheduler}{circuit_breakers} || [] } ) ? 1 : undef }, 5, 'listed' );
    ok( $listed, '/api/system/status scheduler.circuit_breakers lists the open breaker' );
    my $r = $srv->post("/api/bots/$id/restart");
    is( $r->{status}, 409, 'restart refused' );
    is( $r->{json}{error_code}, 'CIRCUIT_OPEN', 'with CIRCUIT_OPEN' );

    my $ev = rows( $srv, "SELECT e.from_state, e.to_state, e.reason_code, e.trace_id, e.metadata->>'instance_id' FROM job_run_events e "
          . "JOIN jobs j ON j.id = e.job_id WHERE j.bot_id = '$id' AND j.kind = 'RUNNER' ORDER BY e.id" );
    my @deaths = grep { $_->[0] eq 'RUNNING' } @$ev;
    is( scalar @deaths, 3, 'three RUNNING→FAILED transitions' );
    is_deeply( [ map { "$_->[1]:$_->[2]" } @deaths ], [ ('FAILED:POLICY_ERROR') x 3 ], 'FAILED with reason POLICY_ERROR' );
    is( ( scalar grep { is_hex32( $_->[3] ) } @$ev ), scalar @$ev, 'every transition carries a trace id' );
    is( ( scalar grep { ( $_->[0] // '' ) eq '' && $_->[1] eq 'QUEUED' } @$ev ), 3, 'each RUNNER job starts QUEUED' );
    is( rows( $srv, "SELECT count(*) FROM jobs WHERE bot_id = '$id' AND kind = 'RUNNER' AND state = 'FAILED' AND error_code = 'POLICY_ERROR'" )->[0][0],
        3, 'three FAILED RUNNER jobs' );
    my $se = wait_for( sub {
        my %k = map { $_->[0] => $_->[1] } @{ rows( $srv, "SELECT kind || ':' || severity, count(*) FROM system_events "
              . "WHERE subject = '$id' GROUP BY 1" ) };
        $k{'breaker:SEV-2'} && ( $k{'supervisor.death:warning'} // 0 ) >= 3 && ( $k{'supervisor.restart:warning'} // 0 ) >= 2 ? \%k : undef }, 5, 'events' );
    ok( $se, 'system events: supervisor.death ×3, supervisor.restart ×2, breaker SEV-2' );
    is( rows( $srv, "SELECT count(*) FROM system_events WHERE subject = '$id' AND kind LIKE 'supervisor.%' AND trace_id !~ '^[0-9a-f]{32}\$'" )->[0][0],
        0, 'with trace ids' );

    my $killed = wait_for( sub { rows( $srv, "SELECT desired_state FROM bots WHERE id = '$live' AND desired_state = 'KILLED'" )->[0] }, 10, 'live kill' );
    ok( $killed, 'LIVE bot: the open breaker kills it (desired_state KILLED)' );
    is( rows( $srv, "SELECT count(*) FROM bot_instances WHERE bot_id = '$live' AND state IN ('STARTING', 'RUNNING')" )->[0][0], 0,
        'LIVE bot: nothing runs' );
    ok( wait_for( sub { @{ rows( $srv, "SELECT 1 FROM system_events WHERE subject = '$live' AND kind = 'kill' AND severity = 'SEV-2'" ) } }, 5, 'kill ev' ),
        'LIVE bot: a kill event (SEV-2)' );

    write_file( $srv->home . '/scripts/strategies/sup.lua', $HEALTHY );
    $srv->signal('HUP');
    my $closed = wait_for( sub {
        rows( $srv, "SELECT 1 FROM bot_instances WHERE bot_id = '$id' AND state = 'RUNNING' AND breaker_state = 'CLOSED' "
              . "AND breaker_failures = 0" )->[0] }, 25, 'closed' );
    ok( $closed, 'after the cool-down a healthy half-open probe closes the breaker' );
    ok( @{ rows( $srv, "SELECT 1 FROM system_events WHERE subject = '$id' AND kind = 'breaker' AND metadata->>'to' = 'HALF_OPEN'" ) },
        'a breaker HALF_OPEN event' );
    ok( wait_for( sub { @{ rows( $srv, "SELECT 1 FROM system_events WHERE subject = '$id' AND kind = 'breaker' AND metadata->>'to' = 'CLOSED'" ) } }, 5, 'closed ev' ),
        'a breaker CLOSED event' );
    is( $srv->stop, 0, 'stopped' );
};

subtest 'no heartbeat: TIMEOUT with HEARTBEAT_TIMEOUT, then a restart' => sub {
    # one tick per hour: after its first tick the runner's heartbeat goes stale
    my $srv = start_verified( _strategy => $HEALTHY, GATEHOUSE_TICK_INTERVAL_S => 3600, GATEHOUSE_HEARTBEAT_TIMEOUT_S => 2 );
    my $id  = new_bot( $srv, 'sleeper' );
    is( $srv->post("/api/bots/$id/start")->{status}, 200, 'started' );
    my $t = wait_for( sub {
        rows( $srv, "SELECT e.reason_code, e.trace_id, j.state, j.error_code FROM job_run_events e JOIN jobs j ON j.id = e.job_id "
              . "WHERE j.bot_id = '$id' AND e.from_state = 'RUNNING' AND e.to_state = 'TIMEOUT'" )->[0] }, 10, 'timeout' );
    ok( $t, 'the stale runner became TIMEOUT' );
    is( $t && $t->[0], 'HEARTBEAT_TIMEOUT', 'reason HEARTBEAT_TIMEOUT' );
    ok( $t && is_hex32( $t->[1] ), 'with a trace id' );
    is_deeply( [ $t ? @$t[ 2, 3 ] : () ], [ 'TIMEOUT', 'HEARTBEAT_TIMEOUT' ], 'the RUNNER job is TIMEOUT / HEARTBEAT_TIMEOUT' );
    ok( wait_for( sub { rows( $srv, "SELECT 1 FROM bot_instances WHERE bot_id = '$id' AND restart_count = 1" )->[0] }, 5, 'restart' ),
        'the supervisor restarted it' );

    # stuck: no heartbeat for more than 10 × the tick interval → killed, no restart
    my $st = new_bot( $srv, 'stuck' );
    psql_rows( $srv->db, "UPDATE bots SET desired_state = 'RUNNING' WHERE id = '$st'" );
    psql_rows( $srv->db, "INSERT INTO bot_instances (bot_id, state, started_at, last_heartbeat_at, last_tick_at) "
          . "VALUES ('$st', 'RUNNING', gh_now() - interval '20 hours', gh_now() - interval '20 hours', gh_now())" );
    my $k = wait_for( sub {
        rows( $srv, "SELECT i.state, b.desired_state FROM bot_instances i JOIN bots b ON b.id = i.bot_id WHERE i.bot_id = '$st' AND i.state = 'KILLED'" )->[0] }, 10, 'stuck' );
    is_deeply( $k, [ 'KILLED', 'KILLED' ], 'a stuck runner is killed' );
    ok( @{ rows( $srv, "SELECT 1 FROM job_run_events e JOIN jobs j ON j.id = e.job_id WHERE j.bot_id = '$st' AND e.to_state = 'TIMEOUT' AND e.reason_code = 'RUNNER_STUCK'" ) },
        'its RUNNER job is TIMEOUT / RUNNER_STUCK' );
    is( rows( $srv, "SELECT count(*) FROM bot_instances WHERE bot_id = '$st'" )->[0][0], 1, 'and not restarted' );
    is( $srv->stop, 0, 'stopped' );
};

done_testing;
