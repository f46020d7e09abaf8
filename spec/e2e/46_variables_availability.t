# Variable availability and use (issue 6, deliverable 4): a variable's availability follows its source's health
# in the cached status evaluation — the market-data live stack OK → DEGRADED (Databento 503, Polygon serves)
# → BLOCKED (both failing) → OK again; a provider-sourced variable follows that provider — and a tick that
# uses a variable moves its last_seen_at and adds the bot to used_by_bot_ids. No value ever appears.
#
# Fixtures (in a copied home): the flip strategy (feature_keys_used = close), market hours forced open, and one
# extra catalog entry sourced from the fred provider.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;
use Gatehouse::Sim;
use Gatehouse::Fixtures;

my $QUIET = { GATEHOUSE_BACKGROUND_VERIFY => 0, GATEHOUSE_ALERTS => 0 };
my $sim   = Gatehouse::Sim::start_sim();

my $home = fixture_home();
edit_file( "$home/scripts/variables.lua", sub {
    my $t = shift;
    $t =~ s/(  variables = \{\n)/$1    v("fred_gnp", MD, "fred", "number", "Test fixture: a macro series from FRED."),\n/ or die 'variables';
    $t } );
my $env = { %{ $sim->base_env( only => [qw(databento polygon fred)] ) }, %$QUIET };
my $srv = start_server( env => $env, home => $home, clock => AT_OPEN );

sub vars {
    my $r = $srv->get('/api/variables?limit=500');
    die "variables: HTTP $r->{status}" unless $r->{status} == 200;
    return { map { $_->{name} => $_ } @{ $r->{json}{variables} } };
}
sub avail { my $v = vars()->{ $_[0] }; "$v->{availability}" }
sub verify { $srv->post( '/api/integrations/verify', { provider_id => $_[0] } )->{json} }
sub new_bot {
    my ( $name, $strategy ) = @_;
    my ($row) = psql_rows( $srv->db, "INSERT INTO bots (name, strategy, symbol, timeframe, stage) "
          . "VALUES ('$name', '$strategy', 'ESZ6', '1m', 'PAPER') RETURNING id" );
    return $row->[0];
}

ok( wait_for( sub { vars()->{fred_gnp} }, 10, 'catalog synced' ), 'the catalog (with the fixture entry) is synced' );
$srv->post( '/api/integrations/verify', { all => \1 } );

subtest 'healthy sources: OK, with the source named' => sub {
    my $v = vars();
    is( $v->{close}{availability}, 'OK', 'close (market-data live stack): OK' );
    like( $v->{close}{availability_reason}, qr/databento/, 'served by databento, the primary' );
    is( $v->{fred_gnp}{availability}, 'OK', 'fred_gnp (provider fred): OK' );
    is( $v->{fred_gnp}{source_kind}, 'provider', 'source_kind provider' );
    is( $v->{max_contracts}{availability}, 'OK', 'max_contracts (risk engine): OK' );
    is( $v->{position_qty}{availability}, 'OK', 'position_qty (runner): OK' );
    is( $v->{market_open}{availability}, 'OK', 'market_open (market hours): OK' );
    is( $v->{llm_regime}{availability}, 'BLOCKED', 'llm_regime: BLOCKED, no LLM configured' );
    is( $v->{fill_latency_ms}{availability}, 'BLOCKED', 'fill_latency_ms: BLOCKED, no broker configured' );
};

subtest 'a tick that uses a variable moves last_seen_at and lists the bot' => sub {
    my $bot = new_bot( 'vars-flip', 'flip' );
    my $t   = $srv->post("/api/bots/$bot/tick")->{json}{tick};
    is( $t->{outcome}, 'TRADED', 'the flip bot ticked' );
    my $ev = wait_for( sub { ( psql_rows( $srv->db, "SELECT metadata->'feature_keys_used' FROM integration_usage_events "
            . "WHERE bot_id = '$bot' AND operation = 'runner.tick'" ) )[0] }, 5, 'runner.tick event' );
    is( $ev && $ev->[0], '["close"]', 'the runner.tick event records feature_keys_used' );
    my $close = wait_for( sub { my $c = vars()->{close}; $c->{last_seen_at} ? $c : undef }, 5, 'last_seen_at' );
    ok( $close, 'close has a last_seen_at' );
    is_deeply( $close->{used_by_bot_ids}, [$bot], 'used_by_bot_ids lists the bot' );
    my $v = vars();
    ok( !defined $v->{vwap}{last_seen_at}, 'vwap, which the strategy did not use: still never seen' );
    is_deeply( $v->{vwap}{used_by_bot_ids}, [], 'and used by no bot' );

    sleep 1.2;
    $srv->post("/api/bots/$bot/tick");
    my $later = wait_for( sub { my $c = vars()->{close}; $c->{last_seen_at} gt $close->{last_seen_at} ? $c : undef }, 5, 'moved' );
    ok( $later, "a second tick moves last_seen_at ($close->{last_seen_at} → " . ( $later ? $later->{last_seen_at} : '?' ) . ')' );
    my ($db) = psql_rows( $srv->db, "SELECT " . 'to_char(last_seen_at AT TIME ZONE \'UTC\', \'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\')'
        . " FROM profit_variables WHERE name = 'close'" );
    is( $db->[0], $later && $later->{last_seen_at}, 'the API reads profit_variables.last_seen_at' );

    my $band = new_bot( 'vars-band', 'atr_band' );
    $srv->post("/api/bots/$band/tick");
    ok( wait_for( sub { @{ vars()->{atr_14}{used_by_bot_ids} } == 1 }, 5, 'atr_14 used' ), 'atr_band uses atr_14' );
    $v = vars();
    is_deeply( $v->{atr_14}{used_by_bot_ids}, [$band], 'atr_14: only the atr_band bot' );
    is_deeply( $v->{close}{used_by_bot_ids}, [ sort $bot, $band ], 'close: both bots' );

    # no value ever: none of the tick's feature values appears in the catalog response
    my ($snap) = psql_rows( $srv->db, "SELECT variables_snapshot::text FROM decision_traces WHERE bot_id = '$bot' LIMIT 1" );
    my @values = grep { length($_) >= 5 } ( $snap->[0] // "" ) =~ /:\s*(-?\d+\.\d+)/g;
    cmp_ok( scalar @values, '>', 3, 'the trace snapshot holds feature values (' . scalar(@values) . ')' );
    my $body = $srv->get('/api/variables?limit=500')->{content};
    is_deeply( [ grep { index( $body, $_ ) >= 0 } @values ], [], 'no feature value appears in /api/variables' );
};

subtest 'market data: OK → DEGRADED (failover) → BLOCKED → OK' => sub {
    $sim->fault( provider => 'databento', mode => 'status', status => 503 );
    is( verify('databento')->{reason_code}, 'PROVIDER_ERROR', 'databento verify fails (503)' );
    is( avail('close'), 'DEGRADED', 'close: DEGRADED' );
    my $v = vars();
    like( $v->{close}{availability_reason}, qr/polygon.*databento/, 'served by polygon, databento above it not connected' );
    is( $v->{vwap}{availability}, 'DEGRADED', 'every market-data variable follows (vwap)' );
    is( $v->{fred_gnp}{availability}, 'OK', 'the fred variable is unaffected' );
    is( $v->{max_contracts}{availability}, 'OK', 'internal ones too' );

    $sim->fault( provider => 'polygon', mode => 'status', status => 503 );
    isnt( verify('polygon')->{reason_code}, 'OK', 'polygon verify fails too' );
    is( avail('close'), 'BLOCKED', 'close: BLOCKED (no market-data primary)' );
    $v = vars();
    is( $v->{position_qty}{availability}, 'BLOCKED', 'the system is BLOCKED: no tick runs, nothing available' );
    like( $v->{close}{availability_reason}, qr/DATA_UNAVAILABLE/, 'the reason names the blocker' );

    $sim->clear_faults;
    verify($_) for qw(databento polygon);
    is( avail('close'), 'OK', 'faults cleared and verified: close OK again' );
    is( avail('position_qty'), 'OK', 'position_qty OK again' );
    is_deeply( [ map { $_->{name} } @{ $srv->get('/api/variables?availability=DEGRADED&limit=500')->{json}{variables} } ], [],
        '?availability=DEGRADED: none' );
};

subtest 'a provider-sourced variable follows its provider' => sub {
    $sim->fault( provider => 'fred', mode => 'status', status => 503 );
    isnt( verify('fred')->{reason_code}, 'OK', 'fred verify fails' );
    is( avail('fred_gnp'), 'DEGRADED', 'fred_gnp: DEGRADED' );
    like( vars()->{fred_gnp}{availability_reason}, qr/FRED|fred/i, 'the reason names the provider' );
    is( avail('close'), 'OK', 'market data unaffected' );
    is_deeply( [ map { $_->{name} } @{ $srv->get('/api/variables?availability=DEGRADED')->{json}{variables} } ], ['fred_gnp'],
        '?availability=DEGRADED lists it' );
    $sim->clear_faults;
    verify('fred');
    is( avail('fred_gnp'), 'OK', 'fred verified again: OK' );
};

is( $srv->stop, 0, 'stopped' );
done_testing;
