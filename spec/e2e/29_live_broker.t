# LIVE orders reach the broker (runtime/broker.c): with every LIVE gate passing (market data and Ironbeam
# verified, trading enabled) a LIVE tick logs in to Ironbeam, reads the trader's accounts and places one market
# order: the order row is SUBMITTED with broker "ironbeam" and the broker's order id, the simulator saw exactly
# one place request with the reference's JSON shape and a Bearer token, usage events broker.auth and
# broker.place_order are written (never a token), and no fill exists (fills come from the broker later). With
# trading disabled the order is BLOCKED LIVE_TRADING_DISABLED and nothing is sent; a broker rejection (HTTP 400
# on the place path) leaves the order REJECTED with the broker's reason and no fill. One attempt, no retries.
#
# Fixtures (in a copied home, never in the product): the `flip` strategy (ENTRY BUY 1 when flat) and market
# hours forced open, so the spec does not depend on the wall clock.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use JSON::PP;
use Gatehouse::Test;
use Gatehouse::Sim;
use Gatehouse::Fixtures;

my $QUIET = { GATEHOUSE_BACKGROUND_VERIFY => 0, GATEHOUSE_ALERTS => 0 };
my $sim   = Gatehouse::Sim::start_sim();


# A LIVE bot needs an autonomy tier that allows LIVE (issue 6): it earns one honestly, as an operator would —
# one PAPER tick (bars, risk check, decision trace, a simulated order), then the switch to LIVE and a scoring.
# Its PAPER order stays unfilled (it fills at the next bar), so the LIVE tick still starts flat.
sub new_bot {
    my ( $srv, $name ) = @_;
    my ($row) = psql_rows( $srv->db, "INSERT INTO bots (name, strategy, symbol, timeframe, stage, params) VALUES "
          . "('$name', 'flip', 'ESZ6', '1m', 'PAPER', '{}'::jsonb) RETURNING id" );
    my $id = $row->[0];
    is( tick( $srv, $id )->{tick}{outcome}, 'TRADED', "$name: one PAPER tick" );
    ok( wait_for( sub { @{ rows( $srv, "SELECT 1 FROM integration_usage_events WHERE bot_id = '$id' AND operation = 'risk.check'" ) } }, 5, 'ev' ),
        "$name: its events are recorded" );
    is( $srv->request( 'PATCH', "/api/bots/$id", { body => { stage => 'LIVE' } } )->{status}, 200, "$name: switched to LIVE" );
    my $tier = $srv->post("/api/bots/$id/autonomy-score")->{json}{autonomy_score}{autonomy_tier} // '';
    like( $tier, qr/^(LIMITED_AUTONOMY|FULL_AUTONOMY)$/, "$name: autonomy tier $tier allows LIVE" );
    return $id;
}

sub tick { my ( $srv, $id ) = @_; $srv->post("/api/bots/$id/tick")->{json} }
sub rows { my ( $srv, $sql ) = @_; [ psql_rows( $srv->db, $sql ) ] }
sub places { [ grep { $_->{path} =~ m{^/v2/order/[^/]+/place$} } @{ $sim->requests('ironbeam') } ] }

sub set_trading {
    my ( $srv, $on ) = @_;
    $srv->fresh_2fa if $on;    # turning live trading on needs a fresh 2FA
    my $r = $srv->request( 'PUT', '/api/settings/trading', { body => { enabled => $on ? JSON::PP::true : JSON::PP::false } } );
    is( $r->{status}, 200, 'PUT /api/settings/trading enabled=' . ( $on ? 'true' : 'false' ) );
    ok( wait_for( sub { my $s = $srv->get('/api/system/status')->{json}; ( $s->{trading}{enabled} ? 1 : 0 ) == $on }, 6, 'status' ),
        'system status follows' );
    select( undef, undef, undef, 2.5 ) if $on;    # the gate decision is re-evaluated from the db facts every 2 s
}

sub start_verified {
    my $env = { %{ $sim->base_env( only => [qw(databento ironbeam)] ) }, %$QUIET };
    my $srv = start_server( env => $env, home => fixture_home(), clock => AT_OPEN );
    for my $p (qw(databento ironbeam)) {
        my $r = $srv->post( '/api/integrations/verify', { provider_id => $p } );
        is( $r->{status}, 200, "verify $p" );
    }
    return $srv;
}

subtest 'trading disabled: LIVE order BLOCKED LIVE_TRADING_DISABLED, nothing sent' => sub {
    $sim->reset;
    $sim->config( broker_fill_mode => 'working' );    # the broker holds orders: fills come only from reconciliation
    my $srv = start_verified();
    $sim->clear_requests;
    my $id = new_bot( $srv, 'live_off' );
    my $t  = tick( $srv, $id )->{tick};
    is( $t->{order}{status}, 'BLOCKED', 'order BLOCKED' );
    is( $t->{order}{blocked_reason_code}, 'LIVE_TRADING_DISABLED', 'LIVE_TRADING_DISABLED' );
    is( scalar @{ places() }, 0, 'the broker saw no order' );
    is( rows( $srv, "SELECT count(*) FROM fills WHERE bot_id = '$id'" )->[0][0], 0, 'zero fills' );
    is( $srv->stop, 0, 'stopped' );
};

subtest 'every LIVE gate passes: order SUBMITTED at Ironbeam, one place request, zero fills' => sub {
    $sim->reset;
    $sim->config( broker_fill_mode => 'working' );    # the broker holds orders: fills come only from reconciliation
    my $srv = start_verified();
    set_trading( $srv, 1 );
    $sim->clear_requests;
    my $id = new_bot( $srv, 'live_on' );
    my $t  = tick( $srv, $id )->{tick};
    is( $t->{outcome}, 'TRADED', 'tick TRADED' );
    is( $t->{order}{status}, "SUBMITTED", "order SUBMITTED" ) or diag explain [ $t, rows( $srv, "SELECT blocked_reason_human FROM orders WHERE stage = 'LIVE'" ), [ map { [ $_->{method}, $_->{path}, $_->{body} ] } @{ $sim->requests("ironbeam") } ] ];
    is( $t->{order}{broker}, 'ironbeam', 'broker ironbeam' );
    ok( $t->{order}{broker_order_id}, 'with the broker order id' );
    my $o = wait_for( sub { rows( $srv, "SELECT status, broker, broker_order_id FROM orders WHERE bot_id = '$id' AND stage = 'LIVE'" )->[0] }, 5, 'order row' );
    is_deeply( $o, [ 'SUBMITTED', 'ironbeam', $t->{order}{broker_order_id} ], 'the order row: SUBMITTED, broker, broker_order_id' );

    my $pl = places();
    is( scalar @$pl, 1, 'the broker saw exactly one place request' );
    my $req = $pl->[0];
    is( $req->{method}, 'POST', 'POST' );
    like( $req->{headers}{authorization} // '', qr/^Bearer \S+$/, 'with a Bearer token' );
    my $b = decode_json( $req->{body} );
    my ($account) = $req->{path} =~ m{^/v2/order/([^/]+)/place$};
    is( $b->{accountId}, $account, 'accountId matches the path (from /info/trader)' );
    is( $b->{exchSym}, 'ESZ6', 'exchSym' );
    is( $b->{side}, 'BUY', 'side BUY' );
    ok( !ref $b->{quantity} && $b->{quantity} == 1 && $req->{body} =~ /"quantity":1[,}]/, 'quantity 1 (a number)' );
    is( $b->{orderType}, '1', 'orderType "1" (MKT)' );
    is( $b->{duration}, '0', 'duration "0" (DAY)' );
    ok( JSON::PP::is_bool( $b->{waitForOrderId} ) && $b->{waitForOrderId}, 'waitForOrderId true' );
    is( scalar( grep { $_->{path} eq '/v2/auth' } @{ $sim->requests('ironbeam') } ), 1, 'one login' );

    is( rows( $srv, "SELECT count(*) FROM fills WHERE bot_id = '$id'" )->[0][0], 0, 'zero fills' );
    ok( wait_for( sub { @{ rows( $srv, "SELECT 1 FROM integration_usage_events WHERE bot_id = '$id' AND provider_id = 'ironbeam' "
                . "AND operation = 'broker.place_order' AND status = 'OK' AND metadata->>'broker_order_id' = '$t->{order}{broker_order_id}' "
                . "AND metadata->>'action' = 'BUY' AND metadata->>'symbol' = 'ESZ6' AND run_id IS NOT NULL AND trace_id = '$t->{trace_id}'" ) } }, 5, 'event' ),
        'a broker.place_order OK usage event with action, symbol and broker_order_id' );
    ok( wait_for( sub { @{ rows( $srv, "SELECT 1 FROM integration_usage_events WHERE bot_id = '$id' AND provider_id = 'ironbeam' "
                . "AND operation = 'broker.auth' AND status = 'OK'" ) } }, 5, 'auth event' ),
        'a broker.auth OK usage event' );
    my $tok = $req->{headers}{authorization} =~ s/^Bearer //r;
    is( rows( $srv, "SELECT count(*) FROM integration_usage_events WHERE metadata::text LIKE '%' || \$\$$tok\$\$ || '%'" )->[0][0], 0,
        'no event holds the token' );
    is( $srv->stop, 0, 'stopped' );
};

subtest 'broker rejection: order REJECTED with the reason, one attempt, no fill' => sub {
    $sim->reset;
    $sim->config( broker_fill_mode => 'working' );    # the broker holds orders: fills come only from reconciliation
    my $srv = start_verified();
    set_trading( $srv, 1 );
    $sim->clear_requests;
    $sim->fault( provider => 'ironbeam', mode => 'status', status => 400, path => '/place' );
    my $id = new_bot( $srv, 'live_rej' );
    my $t  = tick( $srv, $id )->{tick};
    is( $t->{order}{status}, 'REJECTED', 'order REJECTED' ) or diag explain $t;
    is( $t->{order}{blocked_reason_code}, 'BROKER_REJECTED', 'reason code BROKER_REJECTED' );
    my $o = wait_for( sub { rows( $srv, "SELECT status, broker, broker_order_id, blocked_reason_human FROM orders WHERE bot_id = '$id' AND stage = 'LIVE'" )->[0] }, 5, 'order row' );
    is( $o->[0], 'REJECTED', 'the order row is REJECTED' );
    is( $o->[1], 'ironbeam', 'broker ironbeam' );
    ok( !defined $o->[2] || $o->[2] eq '', 'no broker order id' );
    like( $o->[3] // '', qr/HTTP 400.*Simulated HTTP 400/, "the broker's reason ($o->[3])" );
    is( scalar @{ places() }, 1, 'one attempt (no retry)' );
    is( rows( $srv, "SELECT count(*) FROM fills WHERE bot_id = '$id'" )->[0][0], 0, 'zero fills' );
    ok( wait_for( sub { @{ rows( $srv, "SELECT 1 FROM integration_usage_events WHERE bot_id = '$id' AND provider_id = 'ironbeam' "
                . "AND operation = 'broker.place_order' AND status = 'ERROR' AND error_code = 'BROKER_REJECTED'" ) } }, 5, 'event' ),
        'a broker.place_order ERROR usage event' );
    is( $srv->stop, 0, 'stopped' );
};

subtest 'simulator: Tradovate account list and placeorder answer like the reference' => sub {
    $sim->reset;
    $sim->config( broker_fill_mode => 'working' );    # the broker holds orders: fills come only from reconciliation
    my $a = $sim->post( '/tradovate/v1/auth/accesstokenrequest',
        { name => 'u1', password => 'p1', appId => 'a', appVersion => '1.0', cid => 1, sec => 's' } );
    my $tok = $a->{json}{accessToken};
    ok( $tok, 'token' );
    is( $sim->get('/tradovate/v1/account/list')->{status}, 401, 'account list needs the Bearer token' );
    my $l = $sim->get( '/tradovate/v1/account/list', { Authorization => "Bearer $tok" } )->{json};
    ok( $l->[0]{id} && $l->[0]{name}, 'account list: id and name' );
    my %o = ( accountSpec => $l->[0]{name}, accountId => $l->[0]{id}, action => 'Buy', symbol => 'ESZ6', orderQty => 1,
              orderType => 'Market', timeInForce => 'Day', isAutomated => JSON::PP::true );
    is( $sim->post( '/tradovate/v1/order/placeorder', \%o )->{status}, 401, 'placeorder needs the Bearer token' );
    my $r = $sim->post( '/tradovate/v1/order/placeorder', \%o, { Authorization => "Bearer $tok" } )->{json};
    is( $r->{failureReason}, 'Success', 'placeorder: failureReason Success' );
    ok( $r->{orderId}, 'with an orderId' );
    $r = $sim->post( '/tradovate/v1/order/placeorder', { %o, action => 'Hold' }, { Authorization => "Bearer $tok" } )->{json};
    isnt( $r->{failureReason}, 'Success', 'a malformed order is refused in the body' );
    ok( $r->{failureText}, 'with failureText' );
    is( scalar( grep { $_->{path} eq '/v1/order/placeorder' } @{ $sim->requests('tradovate') } ), 3, 'recorded in /__sim/requests' );
};

subtest 'Tradovate as the execution primary: one login, one placeorder in the reference shape, zero fills' => sub {
    $sim->reset;
    $sim->config( broker_fill_mode => 'working' );    # the broker holds orders: fills come only from reconciliation
    my $env = { %{ $sim->base_env( only => [qw(databento tradovate)] ) }, %$QUIET };
    my $srv = start_server( env => $env, home => fixture_home(), clock => AT_OPEN );
    for my $p (qw(databento tradovate)) {
        is( $srv->post( '/api/integrations/verify', { provider_id => $p } )->{json}{reason_code}, 'OK', "verify $p" );
    }
    set_trading( $srv, 1 );
    my $id = new_bot( $srv, 'live-tv' );
    $sim->clear_requests('tradovate');
    my $t = tick( $srv, $id )->{tick};
    is( $t->{order}{status}, 'SUBMITTED', 'order SUBMITTED' ) or diag explain $t;
    is( $t->{order}{broker}, 'tradovate', 'broker tradovate' );
    ok( $t->{order}{broker_order_id}, 'with the broker order id' );
    my @reqs = @{ $sim->requests('tradovate') };
    is( scalar( grep { $_->{path} eq '/v1/auth/accesstokenrequest' } @reqs ), 1, 'one login for the order (never a retry loop)' );
    my @places = grep { $_->{path} eq '/v1/order/placeorder' } @reqs;
    is( scalar @places, 1, 'exactly one placeorder' );
    my $body = ref $places[0]{body} ? $places[0]{body} : JSON::PP::decode_json( $places[0]{body} || '{}' );
    is( $body->{action}, 'Buy', 'action Buy' );
    is( $body->{orderQty}, 1, 'orderQty 1' );
    is( $body->{orderType}, 'Market', 'orderType Market' );
    ok( $body->{accountSpec} && $body->{accountId}, 'accountSpec and accountId from the account list' );
    ok( JSON::PP::is_bool( $body->{isAutomated} ) && $body->{isAutomated}, 'isAutomated true' );
    like( $places[0]{headers}{authorization} // '', qr/^Bearer \S+/, 'sent with the Bearer token' );
    is( rows( $srv, "SELECT count(*) FROM fills WHERE bot_id = '$id'" )->[0][0], 0, 'zero fills' );
    is( $srv->stop, 0, 'stopped' );
};

done_testing;
