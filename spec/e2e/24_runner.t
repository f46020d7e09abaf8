# Bots that really run (issue 5): a PAPER tick leaves marketdata.bars, risk.check and runner.tick events with
# its bot and run ids and grows proof of use by exactly those calls; trades leave decision traces and orders
# (PAPER fills at the next bar's open + slippage; SHADOW records intents; LIVE without broker/trading is
# BLOCKED with its reason and no fill); every suppression leaves a no-trade trace with its reason; starting
# without market data is refused fail-closed; Databento failing mid-run moves the bars to Polygon.
#
# Fixtures (in a copied home, never in the product): a strategy that enters when flat and exits when in a
# position. Every server runs at a fixed instant (AT_OPEN: Tuesday 09:00 CST; AT_WEEKEND: Saturday) with the
# real market calendar and the simulator at the same instant, so the spec does not depend on the wall clock.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;
use Gatehouse::Sim;
use Gatehouse::Fixtures;

my $QUIET = { GATEHOUSE_BACKGROUND_VERIFY => 0, GATEHOUSE_ALERTS => 0 };
my $sim   = Gatehouse::Sim::start_sim();


sub new_bot {
    my ( $srv, %b ) = @_;
    my $params = $b{params} || '{}';
    my ($row) = psql_rows( $srv->db, "INSERT INTO bots (name, strategy, symbol, timeframe, stage, params) VALUES "
          . "('$b{name}', '$b{strategy}', 'ESZ6', '1m', '$b{stage}', '$params'::jsonb) RETURNING id" );
    return $row->[0];
}

sub tick { my ( $srv, $id ) = @_; $srv->post("/api/bots/$id/tick")->{json} }
sub rows { my ( $srv, $sql ) = @_; [ psql_rows( $srv->db, $sql ) ] }

subtest 'start refused without market data (fail closed)' => sub {
    my $env = { %{ $sim->base_env( only => ['databento'] ) }, %$QUIET };    # configured, never verified
    my $srv = start_server( env => $env, home => fixture_home(), clock => AT_OPEN );
    my $id  = new_bot( $srv, name => 'nodata', strategy => 'flip', stage => 'PAPER' );
    my $r   = $srv->post("/api/bots/$id/start");
    is( $r->{status}, 409, 'start refused' );
    is( $r->{json}{error_code}, 'DATA_UNAVAILABLE', 'DATA_UNAVAILABLE' );
    ok( $r->{json}{suggested_fix}, 'with a suggested fix' );
    ok( is_hex32( $r->{json}{trace_id} ), 'and a trace id' );
    ok( wait_for( sub { @{ rows( $srv, "SELECT 1 FROM integration_usage_events WHERE bot_id = '$id' AND status = 'BLOCKED' AND operation = 'runner.start'" ) } }, 5, 'blocked event' ),
        'a BLOCKED usage event is written' );
    is( rows( $srv, "SELECT count(*) FROM bot_instances WHERE bot_id = '$id'" )->[0][0], 0, 'nothing runs' );
    my $t = tick( $srv, $id );
    is( $t->{tick}{outcome}, 'BLOCKED', 'a manual tick is blocked by the gate' );
    is( $t->{tick}{reason_code}, 'DATA_UNAVAILABLE', 'reason DATA_UNAVAILABLE' );
    is( $srv->stop, 0, 'stopped' );
};

subtest 'PAPER: events, proof, decision trace, order, simulated fill at the next bar' => sub {
    my $env = { %{ $sim->base_env( only => [qw(databento polygon)] ) }, %$QUIET };
    my $srv = start_server( env => $env, home => fixture_home(), clock => AT_OPEN );
    $srv->post( '/api/integrations/verify', { all => \1 } );
    my $before = $srv->providers->{databento}{proof_of_use_count_24h};
    my $id = new_bot( $srv, name => 'paper1', strategy => 'flip', stage => 'PAPER' );
    my $t = tick( $srv, $id )->{tick};
    is( $t->{outcome}, 'TRADED', 'the tick traded' );
    is( $t->{provider}, 'databento', 'bars from the primary' );
    cmp_ok( $t->{bars}, '>', 10, "bars parsed ($t->{bars})" );
    is( $t->{order}{status}, 'SUBMITTED', 'PAPER order submitted' );
    ok( $t->{decision_trace_id}, 'a decision trace' );
    my $ev = wait_for( sub {
        my $r = rows( $srv, "SELECT operation, provider_id, symbol, timeframe, records, run_id FROM integration_usage_events "
              . "WHERE bot_id = '$id' ORDER BY created_at" );
        @$r >= 3 ? $r : undef }, 5, 'events' );
    my %ops = map { $_->[0] => $_ } @$ev;
    ok( $ops{'marketdata.bars'}, 'marketdata.bars event' );
    is( $ops{'marketdata.bars'}[2], 'ESZ6', 'with the symbol' );
    is( $ops{'marketdata.bars'}[3], '1m', 'the timeframe' );
    is( $ops{'marketdata.bars'}[4], $t->{bars}, 'and the record count' );
    ok( $ops{'risk.check'}, 'risk.check event' );
    ok( $ops{'runner.tick'}, 'runner.tick event' );
    is( ( scalar grep { $_->[5] eq $t->{run_id} } @$ev ), scalar @$ev, 'every event carries the run id' );
    ok( wait_for( sub { $srv->providers->{databento}{proof_of_use_count_24h} == $before + 1 }, 5, 'proof' ),
        'databento proof of use grew by exactly one call' );
    is( $srv->providers->{databento}{last_used_by_bot_id}, $id, 'last used by this bot' );
    my $dt = rows( $srv, "SELECT decision_type, reason_code, variables_snapshot->>'data_provider', trace_id FROM decision_traces WHERE bot_id = '$id'" );
    is_deeply( [ @{ $dt->[0] }[ 0 .. 2 ] ], [ 'ENTRY', 'TEST_ENTRY', 'databento' ], 'decision trace: ENTRY, reason, provider' );
    is( $dt->[0][3], $t->{trace_id}, 'with the tick trace id' );
    is( rows( $srv, "SELECT count(*) FROM fills WHERE bot_id = '$id'" )->[0][0], 0, 'no fill before the next bar' );

    sleep 61 - ( time % 60 ) if $ENV{GH_SLOW};    # the simulator's newest bar is the last complete minute
    psql_rows( $srv->db, "UPDATE orders SET created_at = created_at - interval '3 minutes' WHERE bot_id = '$id'" );
    $t = tick( $srv, $id )->{tick};
    is( $t->{fills}, 1, 'the pending order filled on the next tick' );
    my $f = wait_for( sub { rows( $srv, "SELECT f.price::float8, f.simulated, p.qty::float8 FROM fills f JOIN positions p ON p.bot_id = f.bot_id WHERE f.bot_id = '$id'" )->[0] }, 5, 'fill' );
    ok( $f && $f->[1] eq 't', 'a simulated fill' );
    is( $f->[2], 1, 'position long 1' );
    is( $t->{action}, 'EXIT', 'the strategy then exits' );
    is( $srv->stop, 0, 'stopped' );
};

subtest 'SHADOW records intents; LIVE without broker or trading is BLOCKED with no fill' => sub {
    my $env = { %{ $sim->base_env( only => [qw(databento)] ) }, %$QUIET };
    my $srv = start_server( env => $env, home => fixture_home(), clock => AT_OPEN );
    $srv->post( '/api/integrations/verify', { provider_id => 'databento' } );
    my $sh = new_bot( $srv, name => 'shadow1', strategy => 'flip', stage => 'SHADOW' );
    my $t = tick( $srv, $sh )->{tick};
    is( $t->{order}{status}, 'INTENT', 'SHADOW: order intent recorded, nothing sent' );
    my $lv = new_bot( $srv, name => 'live1', strategy => 'flip', stage => 'LIVE' );
    $t = tick( $srv, $lv )->{tick};
    is( $t->{order}{status}, 'BLOCKED', 'LIVE order BLOCKED' );
    like( $t->{order}{blocked_reason_code}, qr/^(EXECUTION_BROKER_UNAVAILABLE|LIVE_TRADING_DISABLED|INTEGRATION_KEY_MISSING)$/,
        "with the gate's reason ($t->{order}{blocked_reason_code})" );
    my $o = wait_for( sub { rows( $srv, "SELECT status, blocked_reason_code FROM orders WHERE bot_id = '$lv'" )->[0] }, 5, 'order row' );
    is( $o->[0], 'BLOCKED', 'the order row is BLOCKED' );
    ok( $o->[1], 'with blocked_reason_code' );
    is( rows( $srv, "SELECT count(*) FROM fills WHERE bot_id IN ('$sh', '$lv')" )->[0][0], 0, 'zero fills' );
    ok( wait_for( sub { @{ rows( $srv, "SELECT 1 FROM integration_usage_events WHERE bot_id = '$lv' AND operation = 'broker.place_order' AND status = 'BLOCKED'" ) } }, 5, 'event' ),
        'a BLOCKED broker.place_order usage event' );
    is( $srv->stop, 0, 'stopped' );
};

subtest 'suppressions leave no-trade traces with the matching reason' => sub {
    my $env = { %{ $sim->base_env( only => [qw(databento)] ) }, %$QUIET };
    # Saturday: the market is closed, whatever day the suite runs on
    my $srv = start_server( env => $env, home => fixture_home(), clock => AT_WEEKEND );
    $srv->post( '/api/integrations/verify', { provider_id => 'databento' } );
    $sim->clear_requests('databento');
    my $id = new_bot( $srv, name => 'closed1', strategy => 'flip', stage => 'PAPER' );
    my $t = tick( $srv, $id )->{tick};
    is( $t->{reason_code}, 'MARKET_CLOSED', 'market closed: MARKET_CLOSED' );
    is( $t->{outcome}, 'SUPPRESSED', 'a suppressed tick' );
    is( $t->{market}{next_open_utc}, '2026-12-06T23:00:00Z', 'the tick names the next open (UTC)' );
    is( $t->{market}{next_open_exchange}, '2026-12-06T17:00:00-06:00', 'and on the exchange clock' );
    my $ns = new_bot( $srv, name => 'nosignal', strategy => 'sma_cross', stage => 'PAPER', params => '{"fast": 5, "slow": 20}' );
    is( tick( $srv, $ns )->{tick}{reason_code}, 'MARKET_CLOSED', 'sma_cross: MARKET_CLOSED too' );
    my $rl = new_bot( $srv, name => 'risky', strategy => 'flip', stage => 'PAPER', params => '{"risk": {"max_contracts": 1}}' );
    psql_rows( $srv->db, "INSERT INTO positions (bot_id, symbol, qty, avg_price) VALUES ('$rl', 'ESZ6', -1, 4000)" );
    # a short of 1: its exit (BUY 1) would reduce the position, but risk.lua blocks every order in a closed market
    is( tick( $srv, $rl )->{tick}{reason_code}, 'MARKET_CLOSED', 'closed market blocks exits too' );
    is( scalar @{ $sim->requests('databento') }, 0, 'no provider was called for a closed market' );
    my $tr = wait_for( sub {
        my $r = rows( $srv, "SELECT bot_id, suppression_type, reason_human, blocked_by::text FROM no_trade_traces WHERE reason_code = 'MARKET_CLOSED'" );
        @$r == 3 ? { map { $_->[0] => $_ } @$r } : undef }, 5, 'traces' );
    ok( $tr, 'a MARKET_CLOSED no-trade trace per tick' );
    is( $tr->{$id}[1], 'MARKET_CLOSED', 'suppression type MARKET_CLOSED' );
    like( $tr->{$id}[2], qr/closed \(WEEKEND\); it opens Sun 2026-12-06 23:00 UTC \(17:00 CST\)/, 'reason names the next open' );
    like( $tr->{$rl}[2], qr/Holding 1 contract: the exit waits for the open \(risk\.lua: market is closed .*exits included/,
          'with a position: the risk rule for exits is stated' );
    like( $tr->{$id}[3], qr/MARKET_CLOSED/, 'blocked_by names MARKET_CLOSED' );
    ok( wait_for( sub { @{ rows( $srv, "SELECT 1 FROM integration_usage_events WHERE bot_id = '$rl' AND operation = 'risk.check' AND status = 'BLOCKED' AND error_code = 'MARKET_CLOSED'" ) } }, 5, 'risk event' ),
        'the closed-market tick still runs the risk check (BLOCKED MARKET_CLOSED for the exit)' );
    is( rows( $srv, "SELECT count(*) FROM integration_usage_events WHERE bot_id IN ('$id', '$ns', '$rl') AND operation = 'marketdata.bars'" )->[0][0],
        0, 'and writes no marketdata.bars event' );
    is( $srv->stop, 0, 'stopped' );

    # Tuesday, market open: a breaker and a failing provider
    $srv = start_server( env => $env, home => fixture_home(), clock => AT_OPEN );
    $srv->post( '/api/integrations/verify', { provider_id => 'databento' } );
    $id = new_bot( $srv, name => 'open1', strategy => 'flip', stage => 'PAPER' );
    psql_rows( $srv->db, "INSERT INTO bot_instances (bot_id, state, breaker_state, breaker_opened_at) VALUES ('$id', 'RUNNING', 'OPEN', gh_now())" );
    ok( wait_for( sub { tick( $srv, $id )->{tick}{reason_code} eq 'CIRCUIT_OPEN' }, 6, 'breaker' ), 'breaker open: CIRCUIT_OPEN' );
    $sim->fault( provider => 'databento', mode => 'status', status => 503 );
    my $nd = new_bot( $srv, name => 'nodata2', strategy => 'flip', stage => 'PAPER' );
    is( tick( $srv, $nd )->{tick}{reason_code}, 'DATA_UNAVAILABLE', 'data unavailable: DATA_UNAVAILABLE' );
    $sim->clear_faults('databento');
    $tr = wait_for( sub {
        my $r = rows( $srv, "SELECT reason_code, suppression_type, blocked_by::text FROM no_trade_traces" );
        my %c = map { $_->[0] => $_ } @$r;
        ( $c{CIRCUIT_OPEN} && $c{DATA_UNAVAILABLE} ) ? \%c : undef }, 5, 'traces' );
    ok( $tr, 'no-trade traces for breaker open and data unavailable' );
    like( $tr->{CIRCUIT_OPEN}[2], qr/CIRCUIT_OPEN/, 'blocked_by names CIRCUIT_OPEN' );
    like( $tr->{DATA_UNAVAILABLE}[2], qr/DATA_UNAVAILABLE/, 'blocked_by names DATA_UNAVAILABLE' );
    is( $srv->stop, 0, 'stopped' );
};

subtest 'risk limit and no signal' => sub {
    my $env = { %{ $sim->base_env( only => [qw(databento)] ) }, %$QUIET };
    my $srv = start_server( env => $env, home => fixture_home(), clock => AT_OPEN );
    $srv->post( '/api/integrations/verify', { provider_id => 'databento' } );
    my $rl = new_bot( $srv, name => 'risky2', strategy => 'flip', stage => 'PAPER' );
    psql_rows( $srv->db, "INSERT INTO orders (bot_id, stage, symbol, side, qty, order_type, status, trace_id) "
          . "SELECT '$rl', 'PAPER', 'ESZ6', 'BUY', 1, 'MARKET', 'INTENT', 'x' FROM generate_series(1, 6)" );
    my $t = tick( $srv, $rl )->{tick};
    is( $t->{reason_code}, 'ORDER_RATE', 'six orders in the last minute: ORDER_RATE' );
    is( $t->{suppression_type}, 'RISK', 'suppression type RISK' );
    is( $srv->stop, 0, 'stopped' );
};

subtest 'Databento failing mid-run: the next ticks take bars from Polygon' => sub {
    my $env = { %{ $sim->base_env( only => [qw(databento polygon)] ) }, %$QUIET };
    my $srv = start_server( env => $env, home => fixture_home(), clock => AT_OPEN );
    $srv->post( '/api/integrations/verify', { all => \1 } );
    my $id = new_bot( $srv, name => 'failover1', strategy => 'sma_cross', stage => 'PAPER' );
    is( tick( $srv, $id )->{tick}{provider}, 'databento', 'first tick: databento' );
    $sim->fault( provider => 'databento', mode => 'status', status => 503 );
    my $t = tick( $srv, $id )->{tick};
    is( $t->{provider}, 'polygon', 'databento failing: polygon served the bars' );
    is_deeply( [ map { "$_->{provider}:$_->{outcome}" } @{ $t->{data_attempts} } ], [ 'databento:PROVIDER_ERROR', 'polygon:OK' ],
        'the attempts say which provider failed and which served' );
    my $last = wait_for( sub {
        my $r = rows( $srv, "SELECT variables_snapshot->>'data_provider' FROM no_trade_traces WHERE bot_id = '$id' ORDER BY created_at DESC LIMIT 1" );
        my $d = rows( $srv, "SELECT variables_snapshot->>'data_provider' FROM decision_traces WHERE bot_id = '$id' ORDER BY created_at DESC LIMIT 1" );
        ( $r->[0] && $r->[0][0] eq 'polygon' ) || ( $d->[0] && $d->[0][0] eq 'polygon' ) }, 5, 'trace' );
    ok( $last, 'the trace names polygon as the data provider' );
    $sim->clear_faults('databento');
    is( $srv->stop, 0, 'stopped' );
};

done_testing;
