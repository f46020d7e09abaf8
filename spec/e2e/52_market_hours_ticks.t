# The suite passes at any hour of any day, and a closed market is MARKET_CLOSED (issue 15).
#
# The tick pipeline runs at fixed instants — a Tuesday afternoon (open), a Saturday, the daily CME halt in
# winter and in summer time, both DST change days, Christmas, the first minutes after the Sunday open — each
# with its own server whose test clock (GATEHOUSE_TEST_CLOCK) starts at that instant and a provider simulator
# living at the same instant. The real scripts/market_hours.lua decides; the spec asserts the reason codes:
#   - open: the tick trades, with bars from Databento (the first minutes after a weekend still get a full
#     window of trading minutes);
#   - closed: MARKET_CLOSED naming the next open in UTC and exchange time, no provider called, no
#     marketdata.bars event, no DATA_UNAVAILABLE blocker while Databento verifies OK, an INFO notice
#     MARKET_CLOSED in /api/system/status and the bot's market session in GET /api/bots/:id.
# And the clock itself: /readyz shows it; serve refuses it against a real provider host or when malformed.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;
use Gatehouse::Sim;
use Gatehouse::Fixtures;

my $QUIET = { GATEHOUSE_BACKGROUND_VERIFY => 0, GATEHOUSE_ALERTS => 0 };
my $sim   = Gatehouse::Sim::start_sim();
my $env   = { %{ $sim->base_env( only => ['databento'] ) }, %$QUIET };

sub rows { my ( $srv, $sql ) = @_; [ psql_rows( $srv->db, $sql ) ] }

# instant => [ what, session, next open (UTC), next open (exchange clock) ]; session undef = open
my @CASES = (
    [ AT_OPEN,                '2026-12-08T15:00:00Z Tue 09:00 CST (RTH)' ],
    [ '2026-12-06T23:05:00Z', '2026-12-06T23:05:00Z Sun 17:05 CST, five minutes after the weekend open' ],
    [ AT_DST_START_OPEN,      'DST starts (Sun 2026-03-08 22:30Z = 17:30 CDT): open' ],
    [ AT_WEEKEND,             'Saturday 2026-12-05 22:00Z', 'WEEKEND', '2026-12-06T23:00:00Z', '2026-12-06T17:00:00-06:00' ],
    [ AT_HALT,                'the daily halt (Tue 2026-12-08 22:30Z = 16:30 CST)', 'MAINTENANCE', '2026-12-08T23:00:00Z',
      '2026-12-08T17:00:00-06:00' ],
    [ AT_SUMMER_HALT,         'the daily halt in summer (Tue 2026-07-14 21:30Z = 16:30 CDT)', 'MAINTENANCE',
      '2026-07-14T22:00:00Z', '2026-07-14T17:00:00-05:00' ],
    [ AT_DST_END_CLOSED,      'DST ends (Sun 2026-11-01 22:30Z = 16:30 CST): still the weekend', 'WEEKEND',
      '2026-11-01T23:00:00Z', '2026-11-01T17:00:00-06:00' ],
    [ AT_HOLIDAY,             'Christmas (Fri 2026-12-25 15:00Z)', 'HOLIDAY', '2026-12-27T23:00:00Z',
      '2026-12-27T17:00:00-06:00' ],
);

for my $c (@CASES) {
    my ( $at, $what, $session, $next_utc, $next_ex ) = @$c;
    subtest "tick at $what" => sub {
        my $srv = start_server( env => $env, home => fixture_home(), clock => $at );
        like( $srv->get('/readyz')->{json}{now}, qr/^\Q${\ substr( $at, 0, 15 )}\E/, "the server's clock reads $at" );
        is( $srv->post( '/api/integrations/verify', { provider_id => 'databento' } )->{json}{reason_code}, 'OK', 'databento verifies OK' );
        $sim->clear_requests('databento');
        my ($id) = map { $_->[0] } psql_rows( $srv->db, "INSERT INTO bots (name, strategy, symbol, timeframe, stage) "
              . "VALUES ('mh', 'flip', 'ESZ6', '1m', 'PAPER') RETURNING id" );
        my $t = $srv->post("/api/bots/$id/tick")->{json}{tick};
        my $bars_calls = scalar grep { $_->{path} =~ /timeseries\.get_range/ } @{ $sim->requests('databento') };
        if ( !defined $session ) {
            is( $t->{outcome}, 'TRADED', 'open: the tick trades' ) or diag explain $t;
            is( $t->{provider}, 'databento', 'bars from Databento' );
            cmp_ok( $t->{bars} // 0, '>=', 200, "a full window of trading minutes ($t->{bars} bars)" );
            is( $bars_calls, 1, 'one bars request reached the provider' );
            is( $srv->get("/api/bots/$id")->{json}{bot}{market}{open}, JSON::PP::true, 'GET /api/bots/:id: market open' );
        }
        else {
            is( $t->{outcome}, 'SUPPRESSED', 'closed: the tick is suppressed' ) or diag explain $t;
            is( $t->{reason_code}, 'MARKET_CLOSED', 'reason MARKET_CLOSED, not DATA_UNAVAILABLE' );
            is( $t->{market}{session}, $session, "session $session" );
            is( $t->{market}{next_open_utc}, $next_utc, "next open $next_utc" );
            is( $t->{market}{next_open_exchange}, $next_ex, "on the exchange clock $next_ex" );
            is( $bars_calls, 0, 'no provider was called' );
            my $tr = wait_for( sub { rows( $srv, "SELECT reason_code, reason_human FROM no_trade_traces WHERE bot_id = '$id'" )->[0] }, 5, 'trace' );
            is( $tr->[0], 'MARKET_CLOSED', 'a MARKET_CLOSED no-trade trace' );
            like( $tr->[1], qr/closed \(\Q$session\E\); it opens .* UTC \(\d\d:\d\d C[SD]T\)/, 'naming the next open in UTC and CT' );
            ok( wait_for( sub { rows( $srv, "SELECT count(*) FROM integration_usage_events WHERE bot_id = '$id' AND operation = 'runner.tick'" )->[0][0] }, 5, 'tick event' ),
                'the runner.tick event is written' );
            is( rows( $srv, "SELECT count(*) FROM integration_usage_events WHERE bot_id = '$id' AND operation = 'marketdata.bars'" )->[0][0],
                0, 'and no marketdata.bars event' );
            my $st = wait_for( sub {
                my $s = $srv->get('/api/system/status')->{json};
                ( grep { ( $_->{code} // '' ) eq 'MARKET_CLOSED' } @{ $s->{notices} || [] } ) ? $s : undef }, 10, 'notice' );
            ok( $st, 'system status carries a MARKET_CLOSED notice' ) or return;
            my ($n) = grep { $_->{code} eq 'MARKET_CLOSED' } @{ $st->{notices} };
            is( $n->{severity}, 'INFO', 'at INFO level' );
            is( $n->{next_open_at}, $next_utc, 'with the next open' );
            is_deeply( $n->{symbols}, ['ESZ6'], 'for the bots\' symbol' );
            is_deeply( [ grep { $_->{code} =~ /^(DATA_UNAVAILABLE|MARKET_CLOSED)$/ } @{ $st->{blockers} } ], [],
                       'no DATA_UNAVAILABLE (nor MARKET_CLOSED) blocker while the providers verify OK' );
            my ($db) = grep { $_->{name} eq 'databento' } @{ $st->{integrations} };
            is( $db->{status}, 'OK', 'Databento stays OK' );
            my $m = $srv->get("/api/bots/$id")->{json}{bot}{market};
            is_deeply( [ @$m{qw(open session next_open_at next_open_exchange)} ], [ JSON::PP::false, $session, $next_utc, $next_ex ],
                       'GET /api/bots/:id carries the market session' );
        }
        is( $srv->stop, 0, 'stopped' );
    };
}

subtest 'the test clock is shown, and refused where it could time a real provider' => sub {
    my $srv = start_server( env => $QUIET );
    is( $srv->get('/readyz')->{json}{clock}{source}, 'system', 'without GATEHOUSE_TEST_CLOCK: the system clock' );
    is( $srv->get('/api/system/status')->{json}{clock}{source}, 'system', 'and /api/system/status says so' );
    # the harness's guard: a bot that ticks on a server without a test clock fails the spec that did it
    my ($id) = map { $_->[0] } psql_rows( $srv->db, "INSERT INTO bots (name, strategy, symbol, timeframe, stage) "
          . "VALUES ('wall', 'sma_cross', 'ESZ6', '1m', 'PAPER') RETURNING id" );
    my $r = $srv->request( 'POST', "/api/bots/$id/tick", { wall_clock_ok => 1 } );
    is( $r->{status}, 200, 'a tick on the wall clock answers (whatever the day makes of it)' );
    ok( $srv->ran_on_wall_clock( 'POST', "/api/bots/$id/tick", $r ), 'the harness flags it: such a spec fails' );
    my $at = start_server( env => $QUIET, clock => AT_OPEN );
    ok( !$at->ran_on_wall_clock( 'POST', "/api/bots/$id/tick", $r ), 'not on a server started at an instant' );
    $at->stop;
    $srv->stop;
    $srv = start_server( env => $QUIET, clock => AT_WEEKEND );
    my $c = $srv->get('/api/system/status')->{json}{clock};
    is( $c->{source}, 'test', '/api/system/status shows a test clock' );
    is( $c->{setting}, AT_WEEKEND, 'with its setting' );
    like( $c->{reason_human}, qr/GATEHOUSE_TEST_CLOCK/, 'named' );
    $srv->stop;

    my $real = start_server( env => { %$QUIET, DATABENTO_API_KEY => 'db-real-host-key', GATEHOUSE_TEST_CLOCK => AT_OPEN }, wait => 0, auth => 0 );
    ok( wait_for( sub { !$real->alive }, 15, 'exit' ), 'serve refuses a test clock when a provider talks to a real host' );
    is( $real->exit_code, 1, 'exit status 1' );
    like( $real->log_text, qr/GATEHOUSE_TEST_CLOCK is a test setting and databento is configured against hist\.databento\.com/,
          'the log names the provider and its host' );

    my $bad = start_server( env => { %$QUIET, GATEHOUSE_TEST_CLOCK => 'next tuesday' }, wait => 0, auth => 0 );
    ok( wait_for( sub { !$bad->alive }, 15, 'exit' ), 'a malformed test clock is refused' );
    is( $bad->exit_code, 2, 'exit status 2 (configuration error)' );
    like( $bad->log_text, qr/GATEHOUSE_TEST_CLOCK: must be an RFC 3339 UTC instant/, 'with the expected format' );
};

done_testing;
