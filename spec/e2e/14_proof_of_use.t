# Proof of use (PRODUCT.md §4–§5): usage events posted by a runner become rows of
# integration_usage_events exactly once, with the request's trace id, and move the
# in-memory aggregates of GET /api/integrations/status (24 h count, last use, last bot,
# last feature, last error, latency percentiles). A restart seeds the aggregates from the
# database (24 h window, VERIFY rows are not use), and partition maintenance drops
# partitions past the retention period.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Digest::MD5 qw(md5_hex);
use Gatehouse::Test;
use File::Temp qw(tempdir);
use POSIX qw(ceil);
use Time::HiRes qw(time);

my $INGEST = '/api/telemetry/usage-events';
my $TOKEN  = 'svc-' . join '', map { sprintf '%02x', int rand 256 } 1 .. 16;
my $BOT_A  = 'a1a1a1a1-0000-4000-8000-' . sprintf( '%012x', int rand 2**40 );
my $BOT_B  = 'b2b2b2b2-0000-4000-8000-' . sprintf( '%012x', int rand 2**40 );
my $tmp    = tempdir( 'gh-pou-XXXXXX', TMPDIR => 1, CLEANUP => 1 );
my $db     = new_database();
my %env    = ( GATEHOUSE_SERVICE_TOKEN => $TOKEN, GATEHOUSE_SPILL_FILE => "$tmp/spill.jsonl" );

sub rand_hex { join '', map { sprintf '%x', int rand 16 } 1 .. $_[0] }

# post_events($srv, \@events) → (response, trace id sent in traceparent)
sub post_events {
    my ( $srv, $events, %o ) = @_;
    my $tid = rand_hex(32);
    my %h = ( traceparent => "00-$tid-" . rand_hex(16) . '-01' );
    $h{Authorization} = "Bearer $TOKEN" unless $o{no_token};
    return ( $srv->post( $INGEST, { events => $events }, \%h ), $tid );
}

sub event {
    my (%f) = @_;
    return {
        provider_id => 'databento', operation => 'marketdata.bars', status => 'OK', symbol => 'ES',
        timeframe   => '1m',        records   => 60,
        %f,
    };
}

sub nearest_rank {
    my ( $pct, @v ) = @_;
    my @s = sort { $a <=> $b } @v;
    my $rank = ceil( $pct * @s / 100 );
    $rank = 1 if $rank < 1;
    return $s[ $rank - 1 ];
}

sub db_count { ( psql_rows( $db, $_[0], @_[ 1 .. $#_ ] ) )[0][0] }

my $srv = start_server( db => $db, env => \%env );

# ---------------------------------------------------------------- before any use
my $p = $srv->providers->{databento};
is( $p->{proof_of_use_count_24h}, 0, 'fresh database: databento count 0' );
ok( !defined $p->{last_used_at},        'never used: last_used_at null' );
ok( !defined $p->{last_used_by_bot_id}, 'never used: last_used_by_bot_id null' );
ok( json_bool( $p->{in_use} ) && !$p->{in_use}, 'not in use' );

# ---------------------------------------------------------------- N events of bot A
my $N = 37;
my @lat_a = map { ( $_ * 7919 ) % 400 + 1 } 1 .. $N;    # distinct, shuffled latencies
my @events = map { event( bot_id => $BOT_A, latency_ms => $lat_a[$_], metadata => { feature_keys_used => [ 'sma_20', 'rsi_14' ], seq => $_ } ) } 0 .. $N - 2;
my ( $res, $tid ) = post_events( $srv, \@events );
is( $res->{status}, 202, "POST $INGEST: 202" ) or diag $res->{content};
is( $res->{json}{accepted}, $N - 1, 'accepted = number of events' );
is( $res->{json}{trace_id}, $tid,   'the request keeps the traceparent trace id' );
# the last call alone, so its created_at is unambiguously the latest
my ( $res1, $tid1 ) = post_events( $srv, [ event( bot_id => $BOT_A, latency_ms => $lat_a[-1], metadata => { feature => 'vwap_dev' } ) ] );
is( $res1->{status}, 202, 'a single event: 202' );

$p = $srv->providers->{databento};
is( $p->{proof_of_use_count_24h}, $N, "count grew by exactly $N (aggregates move at acceptance)" );
ok( $p->{in_use}, 'in_use once there is proof of use' );
is( $p->{last_used_by_bot_id}, $BOT_A, 'last_used_by_bot_id is the bot' );
is( $p->{last_feature_used}, 'vwap_dev', 'last_feature_used from metadata.feature of the latest call' );
like( $p->{last_used_at} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/, 'last_used_at is RFC 3339 UTC' );
is( $p->{latency_ms}{last}, $lat_a[-1], 'latency last' );
is( $p->{latency_ms}{p50}, nearest_rank( 50, @lat_a ), 'latency p50 (nearest rank)' );
is( $p->{latency_ms}{p95}, nearest_rank( 95, @lat_a ), 'latency p95 (nearest rank)' );
ok( !defined $p->{last_error_code_24h}, 'no error yet' );
is( $srv->providers->{polygon}{proof_of_use_count_24h}, 0, 'another provider is untouched' );

# the rows: exactly N-1 with the request's trace id, distinct ids, the fields as sent
ok( wait_for( sub { db_count( 'SELECT count(*) FROM integration_usage_events WHERE trace_id = $1', $tid ) == $N - 1 }, 10, 'rows of the first request' ),
    'the first request\'s rows are in the database' );
is( db_count( 'SELECT count(*) FROM integration_usage_events WHERE trace_id = $1', $tid ), $N - 1, "exactly @{[ $N - 1 ]} rows carry the request's trace id" );
is( db_count( 'SELECT count(DISTINCT id) FROM integration_usage_events WHERE trace_id = $1', $tid ), $N - 1, 'each with its own id' );
ok( wait_for( sub { db_count( 'SELECT count(*) FROM integration_usage_events WHERE trace_id = $1', $tid1 ) == 1 }, 10, 'row of the single event' ),
    'the single event is in the database under its own trace id' );
is( db_count(q{SELECT count(*) FROM integration_usage_events}), $N, "exactly $N rows in all" );
my ($row) = psql_rows( $db, q{SELECT provider_id, operation, status, bot_id, symbol, timeframe, records, metadata->'feature_keys_used'->>0,
    created_at > gh_now() - interval '5 minutes' AND created_at <= gh_now() FROM integration_usage_events WHERE trace_id = $1 AND metadata->>'seq' = '3'}, $tid );
is_deeply( $row, [ 'databento', 'marketdata.bars', 'OK', $BOT_A, 'ES', '1m', '60', 'sma_20', 't' ], 'a row holds the fields as sent, created_at is now' );
is( db_count( q{SELECT latency_ms FROM integration_usage_events WHERE trace_id = $1 AND metadata->>'seq' = '5'}, $tid ), $lat_a[5], 'latency_ms stored' );

# ---------------------------------------------------------------- refused requests add nothing
my ($unauth) = post_events( $srv, [ event( bot_id => $BOT_A ) ], no_token => 1 );
is( $unauth->{status}, 401, 'no service token: 401' );
my ($bad) = post_events( $srv, [ event( bot_id => $BOT_A ), event( status => 'VERIFY' ) ] );
is( $bad->{status}, 400, 'status VERIFY cannot be posted: 400' );
is( $srv->providers->{databento}{proof_of_use_count_24h}, $N, 'refused requests do not count' );

# ---------------------------------------------------------------- ERROR rows of bot B
my $M     = 4;
my @lat_b = ( 900, 15, 3000, 42 );
my ( $res2, $tid2 ) = post_events( $srv, [ map { event( bot_id => $BOT_B, status => 'ERROR', error_code => 'PROVIDER_TIMEOUT', latency_ms => $lat_b[$_] ) } 0 .. $M - 2 ] );
is( $res2->{status}, 202, 'ERROR events: 202' );
my ($res3) = post_events( $srv, [ event( bot_id => $BOT_B, status => 'ERROR', error_code => 'PROVIDER_5XX', latency_ms => $lat_b[-1], metadata => { feature_keys_used => ['atr_14'] } ) ] );
is( $res3->{status}, 202, 'last ERROR event: 202' );
$p = $srv->providers->{databento};
is( $p->{proof_of_use_count_24h}, $N + $M, 'errors count as use' );
is( $p->{last_used_by_bot_id}, $BOT_B, 'last bot is now bot B' );
is( $p->{last_feature_used}, 'atr_14', 'last feature from feature_keys_used[0]' );
is( $p->{last_error_code_24h}, 'PROVIDER_5XX', 'last_error_code_24h set by the latest ERROR row' );
is( $p->{last_error_code}, 'PROVIDER_5XX', 'last_error_code too' );
my @all_lat = ( @lat_a, @lat_b );
is( $p->{latency_ms}{p95}, nearest_rank( 95, @all_lat ), 'p95 over every sample' );
ok( wait_for( sub { db_count(q{SELECT count(*) FROM integration_usage_events}) == $N + $M }, 10, 'all rows' ), 'every row is in the database' );
is( db_count( q{SELECT count(*) FROM integration_usage_events WHERE status = 'ERROR' AND bot_id = $1 AND error_code IS NOT NULL}, $BOT_B ), $M, 'ERROR rows stored with their code' );

# ---------------------------------------------------------------- rows the restart must weigh
# One OK row 23 h old (inside the window), one 25 h old (outside), and a VERIFY probe with an
# error code (not use, but its code is the latest error). A partition 40 days old must go.
psql_rows( $db, q{INSERT INTO integration_usage_events (provider_id, operation, status, trace_id, created_at, bot_id)
    VALUES ('databento', 'marketdata.bars', 'OK', $1, gh_now() - interval '23 hours', $2),
           ('databento', 'marketdata.bars', 'OK', $1, gh_now() - interval '25 hours', $2)}, rand_hex(32), $BOT_A );
psql_rows( $db, q{INSERT INTO integration_usage_events (provider_id, operation, status, error_code, latency_ms, trace_id, created_at)
    VALUES ('databento', 'verify', 'VERIFY', 'AUTH_FAILED', 5000, $1, gh_now())}, rand_hex(32) );
psql_rows( $db, q{SELECT gh_ensure_usage_partitions(((gh_now() AT TIME ZONE 'UTC')::date - 40), 1)} );
my $old_part = 'integration_usage_events_p' . ( psql_rows( $db, q{SELECT to_char((gh_now() AT TIME ZONE 'UTC')::date - 40, 'YYYYMMDD')} ) )[0][0];
is( db_count( 'SELECT count(*) FROM pg_class WHERE relname = $1', $old_part ), 1, "an old partition $old_part exists" );

my $before = $srv->providers->{databento};
is( $srv->stop, 0, 'SIGTERM: clean exit' );

# ---------------------------------------------------------------- restart: seeded from the database
$srv = start_server( db => $db, env => \%env );
$p = $srv->providers->{databento};
is( $p->{proof_of_use_count_24h}, $N + $M + 1, 'after a restart the 24 h count is seeded (the 25 h old row and VERIFY excluded)' );
is( $p->{last_used_by_bot_id}, $BOT_B, 'last bot survives the restart' );
is( $p->{last_feature_used}, 'atr_14', 'last feature survives the restart' );
is( $p->{last_used_at}, $before->{last_used_at}, 'last_used_at survives the restart' );
is( $p->{last_error_code_24h}, 'AUTH_FAILED', 'a VERIFY row\'s error code is the latest error' );
is( $p->{latency_ms}{last}, $lat_b[-1], 'latency last survives (VERIFY latency excluded)' );
is( $p->{latency_ms}{p50}, nearest_rank( 50, @all_lat ), 'p50 survives' );
is( $p->{latency_ms}{p95}, nearest_rank( 95, @all_lat ), 'p95 survives' );
ok( wait_for( sub { db_count( 'SELECT count(*) FROM pg_class WHERE relname = $1', $old_part ) == 0 }, 10, 'retention drop' ),
    'partition maintenance dropped the partition past the retention period' );
my $today = 'integration_usage_events_p' . ( psql_rows( $db, q{SELECT to_char((gh_now() AT TIME ZONE 'UTC')::date + 7, 'YYYYMMDD')} ) )[0][0];
is( db_count( 'SELECT count(*) FROM pg_class WHERE relname = $1', $today ), 1, 'partitions exist a week ahead' );

# new use after the restart adds to the seeded count
my ($res4) = post_events( $srv, [ event( bot_id => $BOT_A, latency_ms => 1 ) ] );
is( $res4->{status}, 202, 'after restart: 202' );

# a 202 means committed (issue 18: the batch is written with COPY ... FROM STDIN before the answer): the row is
# there at once, and text COPY has to escape (backslash, tab, newline, CR, \N) arrives unchanged
my $odd = "a\\b\tc\nd\re \"q\" \\N";
my ( $res5, $tid5 ) = post_events( $srv, [ event( provider_id => 'scheduler', operation => "op\\x", symbol => $odd,
    metadata => { note => $odd, 'k\\ey' => [ "\t", '\\N' ] } ) ] );
is( $res5->{status}, 202, 'awkward text: 202' );
# compared in SQL (md5 of each value): psql's own output cannot carry a tab or a newline unmangled
my ($odd_row) = psql_rows( $db, q{SELECT md5(operation), md5(symbol), md5(metadata->>'note'), md5(metadata->'k\ey'->>0),
    md5(metadata->'k\ey'->>1) FROM integration_usage_events WHERE trace_id = $1}, $tid5 );
is_deeply( $odd_row, [ map { md5_hex($_) } "op\\x", $odd, $odd, "\t", '\\N' ],
    '... its row is in the table right after the 202, every character as sent' );
is( $srv->providers->{databento}{proof_of_use_count_24h}, $N + $M + 2, 'and the count keeps growing from the seeded value' );
is( $srv->stop, 0, 'clean exit' );
is( db_count(q{SELECT count(*) FROM integration_usage_events WHERE provider_id = 'databento' AND status <> 'VERIFY' AND created_at > gh_now() - interval '24 hours'}),
    $N + $M + 2, 'the database agrees with the aggregates' )
    or diag explain [ psql_rows( $db, q{SELECT provider_id, status, trace_id, created_at, metadata FROM integration_usage_events ORDER BY created_at} ) ];
ok( !-s "$tmp/spill.jsonl", 'nothing left in the spill file' );

done_testing;
