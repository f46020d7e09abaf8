# Trading safety (issue 20): exposure counts working orders, a kill cancels them at the broker, positions are
# reconciled with the broker, and a breach acts.
#   - PAPER: 5 ticks of a signalling strategy (flip: BUY 1 whenever flat) with max_contracts 2 never hold more
#     than 2 contracts, position plus working orders; the position equals its fills once they fill.
#   - LIVE against the simulated broker (Ironbeam and Tradovate, broker holding orders): 5 ticks send 2 orders;
#     Kill cancels both at the broker (the simulator's order book shows them cancelled), each cancel an
#     order_events row and a broker.cancel_order usage event under the broker's provider id.
#   - Reconciliation: the broker's fill is imported (order FILLED, a real fill, LIVE position 1); a position
#     changed at the broker raises POSITION_MISMATCH with both numbers and LIVE orders are BLOCKED; when the
#     numbers agree again the blocker clears.
#   - A breach (a held position far under water) kills the bot, cancels its working order, raises the SEV-1
#     RISK_BREACH blocker and a Discord alert, locks its autonomy, refuses its start until acknowledged.
# Every server runs at Tuesday 2026-12-08 15:00 UTC (AT_OPEN) with the fixture strategies.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use POSIX ();
use Time::HiRes qw(sleep);
use JSON::PP;
use Gatehouse::Test;
use Gatehouse::Sim;
use Gatehouse::Fixtures;

my $QUIET = { GATEHOUSE_BACKGROUND_VERIFY => 0, GATEHOUSE_ALERTS => 0 };
my $sim   = Gatehouse::Sim::start_sim();

sub tick { my ( $srv, $id ) = @_; $srv->post("/api/bots/$id/tick")->{json}{tick} }
sub rows { my ( $srv, $sql ) = @_; [ psql_rows( $srv->db, $sql ) ] }
sub one  { my ( $srv, $sql ) = @_; rows( $srv, $sql )->[0][0] }
sub book { my ($p) = @_; $sim->_call( 'GET', "/__sim/broker/orders?provider=$p" )->{orders} }

# One whole reconciliation pass: started (202), then finished (the next start is accepted again).
sub reconcile_pass {
    my ($srv) = @_;
    ok( wait_for( sub { $srv->post('/api/system/reconcile')->{status} == 202 }, 10, 'reconcile' ), 'a reconciliation pass starts' );
    ok( wait_for( sub { $srv->post('/api/system/reconcile')->{status} == 202 }, 10, 'reconcile' ), 'and ends' );
}

# position + working orders of a bot's stage (the exposure the risk check must bound)
sub exposure {
    my ( $srv, $id ) = @_;
    return one( $srv, "SELECT coalesce((SELECT qty FROM positions p JOIN bots b ON b.id = p.bot_id AND b.stage = p.stage "
          . "WHERE p.bot_id = '$id'), 0) + (SELECT coalesce(sum(qty - filled_qty), 0) FROM orders o JOIN bots b ON b.id = o.bot_id "
          . "AND b.stage = o.stage WHERE o.bot_id = '$id' AND o.side = 'BUY' AND o.status IN ('INTENT', 'SUBMITTED', 'ACCEPTED', 'PARTIALLY_FILLED'))" ) + 0;
}

sub paper_bot {
    my ( $srv, $name, $params ) = @_;
    my ($row) = psql_rows( $srv->db, "INSERT INTO bots (name, strategy, symbol, timeframe, stage, params) VALUES "
          . "('$name', 'flip', 'ESZ6', '1m', 'PAPER', '" . ( $params // '{}' ) . "'::jsonb) RETURNING id" );
    return $row->[0];
}

subtest 'PAPER: 5 ticks with max_contracts 2 never hold more than 2' => sub {
    my $srv = start_server( env => { %{ $sim->base_env( only => [qw(databento)] ) }, %$QUIET }, home => fixture_home(), clock => AT_OPEN );
    $srv->post( '/api/integrations/verify', { provider_id => 'databento' } );
    my $id = paper_bot( $srv, 'exposure', '{"risk": {"max_contracts": 2}}' );
    my ( @outcomes, $max ) = ();
    $max = 0;
    for ( 1 .. 5 ) {
        my $t = tick( $srv, $id );
        push @outcomes, "$t->{outcome}:" . ( $t->{reason_code} // '' );
        my $e = exposure( $srv, $id );
        $max = $e if $e > $max;
    }
    is_deeply( [ map { s/:.*//r } @outcomes[ 0, 1 ] ], [ 'TRADED', 'TRADED' ], 'the first two ticks send an order each' );
    is_deeply( [ @outcomes[ 2 .. 4 ] ], [ ('SUPPRESSED:MAX_CONTRACTS') x 3 ], 'the next three: MAX_CONTRACTS (working orders count)' )
      or diag explain \@outcomes;
    is( $max, 2, 'position + working orders never above 2' );
    is( one( $srv, "SELECT count(*) FROM orders WHERE bot_id = '$id'" ), 2, 'two orders written' );
    # the next bar fills both: move their creation back so the window holds a bar after them
    psql_rows( $srv->db, "UPDATE orders SET created_at = created_at - interval '3 minutes' WHERE bot_id = '$id'" );
    my $t = tick( $srv, $id );
    is( $t->{fills}, 2, 'the next tick fills both through the fill path' );
    is( one( $srv, "SELECT qty FROM positions WHERE bot_id = '$id' AND stage = 'PAPER'" ) + 0, 2, 'position 2' );
    is( one( $srv, "SELECT sum(CASE o.side WHEN 'BUY' THEN f.qty ELSE -f.qty END) FROM fills f JOIN orders o ON o.id = f.order_id WHERE f.bot_id = '$id'" ) + 0,
        2, 'the position equals its fills' );
    ok( exposure( $srv, $id ) <= 2, 'still within 2 after the fills' );
    is_deeply( rows( $srv, "SELECT e.from_status, e.to_status FROM order_events e JOIN orders o ON o.id = e.order_id "
              . "WHERE o.bot_id = '$id' AND e.to_status = 'FILLED' ORDER BY e.id" ), [ [ 'SUBMITTED', 'FILLED' ], [ 'SUBMITTED', 'FILLED' ] ],
        'each fill is an order_events row SUBMITTED -> FILLED' );
    is( one( $srv, "SELECT count(DISTINCT trace_id) FROM order_events e WHERE e.bot_id = '$id'" ) + 0, 3,
        'every transition carries its trace id (two creating ticks, one filling tick)' );
    ok( wait_for( sub { one( $srv, "SELECT count(*) FROM integration_usage_events WHERE bot_id = '$id' AND operation = 'runner.tick' "
                    . "AND user_id = (SELECT id FROM users WHERE username = 'admin')" ) == 6 }, 5, 'user' ),
        'every manual tick is in the trail with the user who pressed it' );
    is( $srv->stop, 0, 'stopped' );
};

# A LIVE bot earns its tier as an operator would (one PAPER tick, then LIVE and a scoring).
sub live_bot {
    my ( $srv, $name ) = @_;
    my $id = paper_bot( $srv, $name, '{"risk": {"max_contracts": 2}}' );
    is( tick( $srv, $id )->{outcome}, 'TRADED', "$name: one PAPER tick" );
    ok( wait_for( sub { @{ rows( $srv, "SELECT 1 FROM integration_usage_events WHERE bot_id = '$id' AND operation = 'risk.check'" ) } }, 5, 'ev' ),
        "$name: its events are recorded" );
    is( $srv->request( 'PATCH', "/api/bots/$id", { body => { stage => 'LIVE' } } )->{status}, 200, "$name: LIVE" );
    my $tier = $srv->post("/api/bots/$id/autonomy-score")->{json}{autonomy_score}{autonomy_tier} // '';
    like( $tier, qr/^(LIMITED_AUTONOMY|FULL_AUTONOMY)$/, "$name: tier $tier allows LIVE" );
    return $id;
}

sub live_server {
    my ($broker) = @_;
    my $env = { %{ $sim->base_env( only => [ 'databento', $broker ] ) }, %$QUIET };
    my $srv = start_server( env => $env, home => fixture_home(), clock => AT_OPEN );
    is( $srv->post( '/api/integrations/verify', { provider_id => $_ } )->{status}, 200, "verify $_" ) for 'databento', $broker;
    $srv->fresh_2fa;
    is( $srv->request( 'PUT', '/api/settings/trading', { body => { enabled => JSON::PP::true } } )->{status}, 200, 'live trading on' );
    ok( wait_for( sub { my $d = $srv->post( '/api/gates/check', { stage => 'LIVE' } )->{json}; $d && $d->{allowed} }, 8, 'gates' ),
        'the LIVE gates pass' );
    return $srv;
}

for my $broker (qw(ironbeam tradovate)) {
    subtest "LIVE at $broker: 5 ticks send 2 orders; Kill cancels them at the broker" => sub {
        $sim->reset;
        $sim->config( broker_fill_mode => 'working' );
        my $srv = live_server($broker);
        my $id  = live_bot( $srv, "live_$broker" );
        my @out = map { my $t = tick( $srv, $id ); "$t->{outcome}:" . ( $t->{order}{status} // $t->{reason_code} // '' ) } 1 .. 5;
        is_deeply( \@out, [ 'TRADED:SUBMITTED', 'TRADED:SUBMITTED', ('SUPPRESSED:MAX_CONTRACTS') x 3 ],
            'two orders SUBMITTED, then MAX_CONTRACTS: orders in flight count' ) or diag explain \@out;
        my $working = [ grep { $_->{status} eq 'WORKING' } @{ book($broker) } ];
        is( scalar @$working, 2, "$broker holds 2 working orders, never more" );
        is( $srv->post("/api/bots/$id/kill")->{status}, 200, 'Kill' );
        ok( wait_for( sub { my $b = book($broker); @$b == 2 && !grep { $_->{status} ne 'CANCELLED' } @$b }, 10, 'cancelled at broker' ),
            "the simulator's order book shows both CANCELLED" ) or diag explain book($broker);
        ok( wait_for( sub { one( $srv, "SELECT count(*) FROM orders WHERE bot_id = '$id' AND stage = 'LIVE' AND status = 'CANCELLED' "
                        . "AND blocked_reason_code = 'KILLED'" ) == 2 }, 10, 'cancelled in db' ),
            'both LIVE orders CANCELLED in gatehouse, reason KILLED' );
        is( one( $srv, "SELECT count(*) FROM order_events e JOIN orders o ON o.id = e.order_id WHERE o.bot_id = '$id' "
                  . "AND o.stage = 'LIVE' AND e.from_status = 'SUBMITTED' AND e.to_status = 'CANCELLED' AND e.user_id IS NOT NULL" ), 2,
            'each cancel is an order_events row with the operator who killed' );
        ok( wait_for( sub { one( $srv, "SELECT count(*) FROM integration_usage_events WHERE bot_id = '$id' AND provider_id = '$broker' "
                        . "AND operation = 'broker.cancel_order' AND status = 'OK'" ) == 2 }, 10, 'events' ),
            "two broker.cancel_order usage events under $broker" );
        ok( wait_for( sub { one( $srv, "SELECT count(*) FROM integration_usage_events WHERE bot_id = '$id' AND provider_id = '$broker' "
                        . "AND operation = 'broker.place_order' AND status = 'OK'" ) == 2 }, 10, 'place events' ),
            'and the two places' );
        is( $srv->stop, 0, 'stopped' );
    };
}

subtest 'a kill while the LIVE order is in flight still cancels it at the broker' => sub {
    $sim->reset;
    $sim->config( broker_fill_mode => 'working' );
    my $srv = live_server('ironbeam');
    my $id  = live_bot( $srv, 'inflight' );
    $sim->fault( provider => 'ironbeam', mode => 'latency', delay_ms => 1500, path => '/place', method => 'POST', count => 1 );
    my $pid = fork // die "fork: $!";
    if ( !$pid ) {    # the operator presses Kill while the place request waits at the broker
        sleep 0.5;
        $srv->post("/api/bots/$id/kill");
        POSIX::_exit(0);
    }
    my $t = tick( $srv, $id );
    waitpid $pid, 0;
    is( $t->{order}{status}, 'SUBMITTED', 'the broker took the order after the kill was recorded' );
    is( one( $srv, "SELECT desired_state FROM bots WHERE id = '$id'" ), 'KILLED', 'the bot was killed meanwhile' );
    ok( wait_for( sub { my $b = book('ironbeam'); @$b == 1 && $b->[0]{status} eq 'CANCELLED' }, 10, 'cancelled' ),
        'the order is cancelled at the broker as soon as it is known' ) or diag explain book('ironbeam');
    ok( wait_for( sub { one( $srv, "SELECT status || ':' || blocked_reason_code FROM orders WHERE bot_id = '$id' AND stage = 'LIVE'" ) eq 'CANCELLED:KILLED' }, 10, 'db' ),
        'and CANCELLED (KILLED) in gatehouse' );
    is( $srv->stop, 0, 'stopped' );
};

for my $broker (qw(ironbeam tradovate)) {
subtest "reconciliation at $broker: broker fills imported; a position mismatch blocks LIVE until it agrees" => sub {
    $sim->reset;    # fill mode: the broker fills market orders at once
    my $srv = live_server($broker);
    my $id  = live_bot( $srv, "recon_$broker" );
    my $t   = tick( $srv, $id );
    is( $t->{order}{status}, 'SUBMITTED', 'LIVE order SUBMITTED' );
    reconcile_pass($srv);
    ok( wait_for( sub { one( $srv, "SELECT status FROM orders WHERE bot_id = '$id' AND stage = 'LIVE'" ) eq 'FILLED' }, 10, 'filled' ),
        'the broker fill moves the order to FILLED' );
    is( one( $srv, "SELECT count(*) FROM fills f JOIN orders o ON o.id = f.order_id WHERE o.bot_id = '$id' AND o.stage = 'LIVE' "
              . "AND NOT f.simulated AND f.broker_fill_id IS NOT NULL" ), 1, 'one real fill with the broker fill id' );
    is( one( $srv, "SELECT qty FROM positions WHERE bot_id = '$id' AND stage = 'LIVE'" ) + 0, 1, 'LIVE position 1' );
    reconcile_pass($srv);
    is( one( $srv, "SELECT count(*) FROM fills WHERE bot_id = '$id' AND NOT simulated" ), 1, 'a repeat import adds nothing' );

    $sim->_call( 'POST', '/__sim/broker/positions', { provider => $broker, symbol => 'ESZ6', qty => 3 } );
    reconcile_pass($srv);
    my $b = wait_for( sub { rows( $srv, "SELECT reason_human, details->>'broker_qty', details->>'gatehouse_qty' FROM bot_blockers "
                . "WHERE bot_id = '$id' AND code = 'POSITION_MISMATCH' AND cleared_at IS NULL" )->[0] }, 10, 'mismatch' );
    ok( $b, 'POSITION_MISMATCH raised' ) or diag join "\n", grep { /reconcile|mismatch|broker call|policy call/ } $srv->log_lines;
    like( $b->[0] // '', qr/broker $broker says 3, gatehouse's fills say 1/, 'with both numbers' );
    ok( wait_for( sub { grep { $_->{code} eq 'POSITION_MISMATCH' && $_->{severity} eq 'SEV-1' && ( $_->{bot_id} // '' ) eq $id }
                    @{ $srv->get('/api/system/status')->{json}{blockers} || [] } }, 6, 'status' ),
        'a SEV-1 POSITION_MISMATCH blocker for that bot in the system status' );
    ok( wait_for( sub { one( $srv, "SELECT count(*) FROM system_events WHERE kind = 'position_mismatch' AND severity = 'SEV-1'" ) > 0 }, 5, 'ev' ),
        'a SEV-1 system event' );
    $t = tick( $srv, $id );
    is( $t->{outcome}, 'BLOCKED', 'the next LIVE tick is BLOCKED' );
    is( $t->{order}{blocked_reason_code}, 'POSITION_MISMATCH', 'its order BLOCKED with POSITION_MISMATCH' );

    $sim->_call( 'POST', '/__sim/broker/positions', { provider => $broker, symbol => 'ESZ6', qty => 1 } );
    reconcile_pass($srv);
    ok( wait_for( sub { one( $srv, "SELECT count(*) FROM bot_blockers WHERE bot_id = '$id' AND code = 'POSITION_MISMATCH' "
                    . "AND cleared_at IS NULL" ) == 0 }, 10, 'cleared' ), 'equal numbers clear it' );
    is( $srv->stop, 0, 'stopped' );
};
}

subtest 'a breach kills, cancels, alerts and locks until acknowledged' => sub {
    $sim->reset;
    $sim->clear_requests('discord');
    my $env = { %{ $sim->base_env( only => [qw(databento discord)] ) }, GATEHOUSE_BACKGROUND_VERIFY => 0 };
    my $srv = start_server( env => $env, home => fixture_home(), clock => AT_OPEN );
    $srv->post( '/api/integrations/verify', { provider_id => 'databento' } );
    my $id = paper_bot( $srv, 'breacher', '{"risk": {"max_daily_loss": 500}}' );
    is( tick( $srv, $id )->{outcome}, 'TRADED', 'a PAPER tick: one working order' );
    my $tier = $srv->post("/api/bots/$id/autonomy-score")->{json}{autonomy_score}{autonomy_tier} // '';
    isnt( $tier, 'LOCKED', "scored $tier" );
    is( $srv->post("/api/bots/$id/start")->{status}, 200, 'started' );
    # a position bought far above the market, through the one fill path: a loss of thousands held
    my ($oid) = psql_rows( $srv->db, "INSERT INTO orders (bot_id, stage, symbol, side, qty, order_type, status, trace_id) "
          . "VALUES ('$id', 'PAPER', 'ESZ6', 'BUY', 1, 'MARKET', 'SUBMITTED', 'spec') RETURNING id" );
    psql_rows( $srv->db, "SELECT gh_apply_fill('$oid->[0]', 1, 99999, true, 'spec')" );
    my $t = tick( $srv, $id );
    is( $t->{outcome}, 'BLOCKED', 'the tick ends BLOCKED' );
    is( $t->{reason_code}, 'RISK_BREACH', 'RISK_BREACH' );
    ok( wait_for( sub { one( $srv, "SELECT desired_state FROM bots WHERE id = '$id'" ) eq 'KILLED' }, 5, 'killed' ), 'the bot is killed' );
    is( one( $srv, "SELECT count(*) FROM bot_instances WHERE bot_id = '$id' AND state IN ('STARTING', 'RUNNING')" ), 0, 'no live instance' );
    ok( wait_for( sub { one( $srv, "SELECT count(*) FROM orders WHERE bot_id = '$id' AND status IN ('SUBMITTED', 'ACCEPTED', 'PARTIALLY_FILLED')" ) == 0 }, 5, 'cancel' ),
        'its working order is cancelled' );
    is( one( $srv, "SELECT blocked_reason_code FROM orders WHERE bot_id = '$id' AND status = 'CANCELLED'" ), 'RISK_BREACH', 'reason RISK_BREACH' );
    my $x = rows( $srv, "SELECT stages::text, details->'violations' FROM bot_blockers WHERE bot_id = '$id' AND code = 'RISK_BREACH' AND cleared_at IS NULL" );
    is( scalar @$x, 1, 'one open RISK_BREACH blocker' );
    like( $x->[0][1] // '', qr/MAX_DAILY_LOSS/, 'naming the violated limit' );
    ok( wait_for( sub { one( $srv, "SELECT count(*) FROM system_events WHERE kind = 'risk_breach' AND severity = 'SEV-1' AND subject = '$id'" ) == 1 }, 5, 'event' ),
        'a SEV-1 risk_breach system event' );
    ok( wait_for( sub { grep { $_->{method} eq 'POST' && ( $_->{body} // '' ) =~ /risk breach/i } @{ $sim->requests('discord') } }, 10, 'alert' ),
        'a Discord alert' );
    ok( wait_for( sub { grep { $_->{code} eq 'RISK_BREACH' && $_->{severity} eq 'SEV-1' } @{ $srv->get('/api/system/status')->{json}{blockers} || [] } }, 6, 'st' ),
        'the SEV-1 RISK_BREACH bot blocker is in the system status' );
    is( $srv->get('/api/system/status')->{json}{system_status}, 'DEGRADED', "one bot's incident does not block the system" );
    is( $srv->post("/api/bots/$id/autonomy-score")->{json}{autonomy_score}{autonomy_tier}, 'LOCKED', 'autonomy capped at LOCKED' );
    my $r = $srv->post("/api/bots/$id/start");
    is( $r->{status}, 409, 'start refused' );
    is( $r->{json}{error_code}, 'RISK_BREACH', 'with RISK_BREACH' );
    $t = tick( $srv, $id );
    is( $t->{reason_code}, 'RISK_BREACH', 'a manual tick is refused too' );
    $r = $srv->post( "/api/bots/$id/blockers/RISK_BREACH/ack", { reason => 'reviewed: injected position' } );
    is( $r->{status}, 200, 'an operator acknowledges' );
    is( one( $srv, "SELECT count(*) FROM bot_blockers WHERE bot_id = '$id' AND cleared_at IS NOT NULL AND cleared_by IS NOT NULL" ), 1,
        'the blocker is cleared by that user' );
    isnt( $srv->post("/api/bots/$id/autonomy-score")->{json}{autonomy_score}{autonomy_tier}, 'LOCKED', 'the lock is lifted' )
      or diag explain $srv->get("/api/bots/$id/autonomy-score")->{json};
    is( $srv->stop, 0, 'stopped' );
};

subtest 'operator actions: cancel and modify (PAPER and at the broker), kill-all flattens when the params say so' => sub {
    $sim->reset;
    $sim->config( broker_fill_mode => 'working' );
    my $srv = live_server('ironbeam');
    my $admin = one( $srv, "SELECT id FROM users WHERE username = 'admin'" );

    # PAPER: a working order of 3 lowered to 2, then cancelled
    my $pb = paper_bot( $srv, 'ops_paper', '{"flatten_on_kill": true}' );
    my ($po) = psql_rows( $srv->db, "INSERT INTO orders (bot_id, stage, symbol, side, qty, order_type, status, trace_id) "
          . "VALUES ('$pb', 'PAPER', 'ESZ6', 'BUY', 3, 'MARKET', 'SUBMITTED', 'spec') RETURNING id" );
    $po = $po->[0];
    my $r = $srv->post( "/api/orders/$po/modify", { qty => 5 } );
    is( $r->{status}, 400, 'modify upwards refused (a modify never adds exposure)' );
    is( $r->{json}{error_code}, 'VALIDATION_FAILED', 'VALIDATION_FAILED' );
    is( $srv->post( "/api/orders/$po/modify", { qty => 2 } )->{status}, 200, 'PAPER order lowered to 2' );
    is( one( $srv, "SELECT qty FROM orders WHERE id = '$po'" ) + 0, 2, 'qty 2' );
    is( one( $srv, "SELECT count(*) FROM order_events WHERE order_id = '$po' AND reason_code = 'MODIFIED' AND user_id = '$admin'" ), 1,
        'a MODIFIED order_events row with the operator' );
    is( $srv->post("/api/orders/$po/cancel")->{status}, 200, 'PAPER order cancelled' );
    is( one( $srv, "SELECT status || ':' || blocked_reason_code FROM orders WHERE id = '$po'" ), 'CANCELLED:CANCELLED_BY_OPERATOR', 'CANCELLED_BY_OPERATOR' );
    $r = $srv->post("/api/orders/$po/cancel");
    is( $r->{status}, 409, 'cancelling it again: 409' );
    is( $r->{json}{error_code}, 'ORDER_NOT_WORKING', 'ORDER_NOT_WORKING' );

    # LIVE: an order of 3 working at Ironbeam (placed through its real routes), lowered to 2, then cancelled there
    my %env = $sim->base_env( only => ['ironbeam'] );
    my $ib = $sim->base_url('ironbeam');
    my $tok = $sim->post( "$ib/v2/auth", { username => $env{IRONBEAM_USERNAME}, password => $env{IRONBEAM_PASSWORD}, apiKey => $env{IRONBEAM_API_KEY} } )->{json}{token};
    my $pl = $sim->post( "$ib/v2/order/$env{IRONBEAM_USERNAME}/place",
        { accountId => $env{IRONBEAM_USERNAME}, exchSym => 'ESZ6', side => 'BUY', quantity => 3, orderType => '1', duration => '0', waitForOrderId => JSON::PP::true },
        { Authorization => "Bearer $tok" } )->{json};
    ok( $pl->{orderId}, "Ironbeam holds order $pl->{orderId}" );
    my $lb = paper_bot( $srv, 'ops_live' );
    psql_rows( $srv->db, "UPDATE bots SET stage = 'LIVE' WHERE id = '$lb'" );
    my ($lo) = psql_rows( $srv->db, "INSERT INTO orders (bot_id, stage, symbol, side, qty, order_type, status, trace_id) "
          . "VALUES ('$lb', 'LIVE', 'ESZ6', 'BUY', 3, 'MARKET', 'INTENT', 'spec') RETURNING id" );
    $lo = $lo->[0];
    psql_rows( $srv->db, "SELECT gh_order_transition('$lo', 'SUBMITTED', NULL, NULL, 'spec', NULL, '{}', 'ironbeam', '$pl->{orderId}')" );
    is( $srv->post( "/api/orders/$lo/modify", { qty => 2 } )->{status}, 200, 'LIVE order lowered to 2' );
    my ($at) = grep { $_->{broker_order_id} eq $pl->{orderId} } @{ book('ironbeam') };
    is( $at->{qty}, 2, 'Ironbeam shows quantity 2 (PUT /v2/order/{account}/update/{id})' );
    is( $srv->post("/api/orders/$lo/cancel")->{status}, 200, 'LIVE order cancelled' );
    ($at) = grep { $_->{broker_order_id} eq $pl->{orderId} } @{ book('ironbeam') };
    is( $at->{status}, 'CANCELLED', 'Ironbeam shows it CANCELLED' );
    ok( wait_for( sub { one( $srv, "SELECT count(*) FROM integration_usage_events WHERE provider_id = 'ironbeam' AND status = 'OK' "
                    . "AND operation IN ('broker.modify_order', 'broker.cancel_order') AND user_id = '$admin'" ) == 2 }, 5, 'ev' ),
        'modify and cancel are usage events under ironbeam with the operator' );

    # kill-all: a running PAPER bot holding 1 with flatten_on_kill is flattened at its last mark
    # (the step-up first: enrolling hashes a password and ten backup codes, long enough for a mark refresh
    # to replace the mark set below)
    $srv->fresh_2fa;
    my ($fo) = psql_rows( $srv->db, "INSERT INTO orders (bot_id, stage, symbol, side, qty, order_type, status, trace_id) "
          . "VALUES ('$pb', 'PAPER', 'ESZ6', 'BUY', 1, 'MARKET', 'SUBMITTED', 'spec') RETURNING id" );
    psql_rows( $srv->db, "SELECT gh_apply_fill('$fo->[0]', 1, 5000, true, 'spec')" );
    psql_rows( $srv->db, "UPDATE positions SET mark_price = 5002 WHERE bot_id = '$pb'" );
    psql_rows( $srv->db, "INSERT INTO bot_instances (bot_id, state) VALUES ('$pb', 'RUNNING')" );
    is( $srv->post('/api/bots/kill-all')->{status}, 200, 'kill-all' );
    ok( wait_for( sub { one( $srv, "SELECT qty FROM positions WHERE bot_id = '$pb' AND stage = 'PAPER'" ) == 0 }, 10, 'flat' ),
        'the PAPER position is flattened' );
    is( one( $srv, "SELECT realized_pnl FROM positions WHERE bot_id = '$pb' AND stage = 'PAPER'" ) + 0, 2, 'at the last mark (+2 points realized)' );
    is( one( $srv, "SELECT side || ' ' || qty::int || ' ' || status FROM orders WHERE bot_id = '$pb' ORDER BY created_at DESC LIMIT 1" ),
        'SELL 1 FILLED', 'by a SELL 1 filled through the fill path' );
    is( $srv->stop, 0, 'stopped' );
};

subtest 'the minute sweep acts without a tick: a held position breaching its limit' => sub {
    my $env = { %{ $sim->base_env( only => [qw(databento)] ) }, %$QUIET, GATEHOUSE_RISK_SWEEP_EVERY_S => 1 };
    my $srv = start_server( env => $env, home => fixture_home(), clock => AT_OPEN );
    my $id = paper_bot( $srv, 'swept', '{"risk": {"max_contracts": 1}}' );
    # the bot is not running and never ticks: it holds 2 contracts (one filled order) with a mark from an earlier
    # tick — set in one transaction, so the 1 s sweep never sees the order still working (it would breach on the
    # working BUY 2 and cancel it before the fill)
    psql_rows( $srv->db, "DO \$\$ DECLARE o uuid; BEGIN "
          . "INSERT INTO orders (bot_id, stage, symbol, side, qty, order_type, status, trace_id) "
          . "VALUES ('$id', 'PAPER', 'ESZ6', 'BUY', 2, 'MARKET', 'SUBMITTED', 'spec') RETURNING id INTO o; "
          . "PERFORM gh_apply_fill(o, 2, 5000, true, 'spec'); "
          . "UPDATE positions SET mark_price = 5001 WHERE bot_id = '$id'; END \$\$" );
    my $x = wait_for( sub { rows( $srv, "SELECT details->>'reason_code', trace_id FROM bot_blockers WHERE bot_id = '$id' AND code = 'RISK_BREACH'" )->[0] }, 10, 'sweep' );
    is( $x->[0], 'MAX_CONTRACTS', 'the sweep raised RISK_BREACH for 2 held against max_contracts 1' );
    is( one( $srv, "SELECT desired_state FROM bots WHERE id = '$id'" ), 'KILLED', 'and killed the bot' );
    is( one( $srv, "SELECT count(*) FROM integration_usage_events WHERE bot_id = '$id' AND operation = 'marketdata.bars'" ), 0,
        'without calling any provider' );
    is( $srv->stop, 0, 'stopped' );
};

done_testing;
