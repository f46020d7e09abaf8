# Shared market data (runtime/bar_share.c): the scheduled ticks of bots trading one symbol/timeframe share
# one Databento bars fetch per second. The first bot's fetch records the real marketdata.bars call; every
# other bot served from it records a runner / marketdata.bars.shared row naming that call's trace id; the
# simulator sees exactly the real calls. Manual ticks always fetch fresh. Shared rows count as the bot's bars
# evidence for its autonomy score. The scheduler spreads the fleet's ticks over each second.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Time::HiRes qw(time sleep);
use Gatehouse::Test;
use Gatehouse::Sim;
use Gatehouse::Fixtures;

my $sim = Gatehouse::Sim::start_sim();
my $db  = new_database();
my $srv = start_server( db => $db, env => { %{ $sim->base_env( only => ['databento'] ) }, GATEHOUSE_BACKGROUND_VERIFY => 0,
                                            GATEHOUSE_ALERTS => 0, GATEHOUSE_TICK_INTERVAL_S => 1 }, clock => AT_OPEN );
is( $srv->post( '/api/integrations/verify', { provider_id => 'databento' } )->{json}{reason_code}, 'OK', 'databento verified' );

my $N = 12;
my @ids = map { $_->[0] } psql_rows( $db,
    "INSERT INTO bots (name, strategy, symbol, timeframe, stage) SELECT 'share-' || g, 'sma_cross', 'ESZ6', '1m', 'PAPER' "
      . "FROM generate_series(1, $N) g RETURNING id" );
is( scalar @ids, $N, "$N PAPER bots on ESZ6 1m" );
my $in = join ',', map {"'$_'"} @ids;
sub bars_requests { scalar grep { ( $_->{path} // '' ) =~ /timeseries/ } @{ $sim->requests('databento') } }

$sim->clear_requests('databento');
is( $srv->post("/api/bots/$_/start")->{status}, 200, 'bot started' ) for @ids;
sleep 5;
$srv->post("/api/bots/$_/stop") for @ids;
sleep 1.5;    # the last ticks' rows reach the table
my $seen_by_sim = bars_requests();

my ($c) = psql_rows( $db, "SELECT count(*) FILTER (WHERE operation = 'runner.tick'), "
      . "count(*) FILTER (WHERE operation = 'marketdata.bars'), count(*) FILTER (WHERE operation = 'marketdata.bars.shared'), "
      . "count(*) FILTER (WHERE operation = 'runner.tick' AND status <> 'OK') "
      . "FROM integration_usage_events WHERE bot_id IN ($in)" );
my ( $ticks, $real, $shared, $not_ok ) = @$c;
diag("ticks $ticks, real bars calls $real, shared $shared, simulator saw $seen_by_sim");
cmp_ok( $ticks, '>=', 3 * $N, "the bots ticked every second ($ticks ticks)" );
is( $not_ok, 0, 'every tick completed' );
is( $real + $shared, $ticks, 'every tick got its bars: from its own call or from a shared one' );
cmp_ok( $real, '<=', $ticks / 3, "one real call served several bots ($real real calls for $ticks ticks)" );
cmp_ok( $shared, '>', 0, 'shared rows recorded' );
is( $seen_by_sim, $real, 'the simulator saw exactly the recorded marketdata.bars calls' );

my ($orphans) = psql_rows( $db, "SELECT count(*) FROM integration_usage_events s WHERE s.bot_id IN ($in) "
      . "AND s.operation = 'marketdata.bars.shared' AND NOT EXISTS (SELECT 1 FROM integration_usage_events r "
      . "WHERE r.trace_id = s.metadata->>'source_trace_id' AND r.operation = 'marketdata.bars' AND r.status = 'OK' "
      . "AND r.provider_id = s.metadata->>'provider' AND r.symbol = s.symbol AND r.bot_id IN ($in))" );
is( $orphans->[0], 0, 'each shared row names a real, successful marketdata.bars call of the same symbol' );
my ($shape) = psql_rows( $db, "SELECT provider_id, status, records > 0, timeframe FROM integration_usage_events "
      . "WHERE bot_id IN ($in) AND operation = 'marketdata.bars.shared' LIMIT 1" );
is_deeply( $shape, [ 'runner', 'OK', 't', '1m' ], 'a shared row is a runner row (a use of the answer, not a provider call)' );
my ($named) = psql_rows( $db, "SELECT count(*) FROM integration_usage_events t JOIN integration_usage_events s "
      . "ON s.trace_id = t.trace_id AND s.operation = 'marketdata.bars.shared' WHERE t.operation = 'runner.tick' "
      . "AND t.bot_id IN ($in) AND t.metadata->>'bars_source_trace_id' = s.metadata->>'source_trace_id'" );
is( $named->[0], $shared, "each shared tick's runner.tick row names the fetch it used" );

# the ticks are spread over the second (each bot has its own slot), not started all at once
my ($spread) = psql_rows( $db, "SELECT count(DISTINCT bot_id), max(ms) - min(ms) FROM (SELECT DISTINCT ON (bot_id) bot_id, "
      . "(extract(milliseconds FROM created_at - make_interval(secs => latency_ms / 1000.0))::int % 1000) AS ms "
      . "FROM integration_usage_events WHERE bot_id IN ($in) AND operation = 'runner.tick' ORDER BY bot_id, created_at DESC) x" );
is( $spread->[0], $N, 'every bot ticked' );
cmp_ok( $spread->[1], '>', 300, "tick starts spread over the second ($spread->[1] ms between the first and last slot)" );

# a bot that never made a call itself still has its bars evidence (the shared rows)
my ($follower) = psql_rows( $db, "SELECT b FROM unnest(ARRAY[$in]::uuid[]) b WHERE NOT EXISTS (SELECT 1 FROM integration_usage_events e "
      . "WHERE e.bot_id = b AND e.operation = 'marketdata.bars') LIMIT 1" );
SKIP: {
    skip 'every bot led a fetch at least once', 2 unless $follower;
    my $s = $srv->post("/api/bots/$follower->[0]/autonomy-score")->{json}{autonomy_score};
    my %ev = map { $_->{key} => $_ } @{ $s->{breakdown}{sub_scores}{data_reliability}{evidence} };
    is( $ev{bars_error_rate}{value}, 0, 'a follower bot: bars evidence from its shared rows, error rate 0' );
    unlike( join( ' ', @{ $s->{breakdown}{sub_scores}{data_reliability}{missing} || [] } ), qr/marketdata\.bars/,
            'no "no marketdata.bars call" gap' );
}

# manual ticks always fetch fresh, even two in the same second on one symbol
$sim->clear_requests('databento');
my @manual = map { $srv->post("/api/bots/$_/tick") } @ids[ 0, 1 ];
is( $_->{status}, 200, 'manual tick answered' ) for @manual;
ok( !exists $_->{json}{bars_source_trace_id}, 'a manual tick is not served from a share' ) for @manual;
is( bars_requests(), 2, 'two manual ticks: two Databento calls' );
done_testing;
