# The autonomy evidence read stays bounded however many usage rows a bot writes (issue 18, found by the
# hour-long soak): a bot whose refused manual ticks had written 35,000 runner.tick rows in an hour took 913 ms
# to read, because each slice of its usage rows (bars calls, risk checks, proof of use) walked every row of
# the bot in the window and dropped the others by filter. Migration 0073 gives each slice a partial index.
#
# The spec seeds one bot with 30,000 runner.tick rows beside a few hundred rows of each slice, then runs the
# product's own query (EVIDENCE_SQL, read from runtime/autonomy.c) under EXPLAIN ANALYZE: the scans of
# integration_usage_events must read no more rows than the slices' samples and drop none by filter. The
# evidence must equal the one a plain sequential scan computes, and the score route must answer with it.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use JSON::PP;
use Gatehouse::Test;
use Gatehouse::Fixtures;

my $srv = start_server( env => { GATEHOUSE_BACKGROUND_VERIFY => 0, GATEHOUSE_ALERTS => 0, GATEHOUSE_LOG_LEVEL => 'warn' },
                        home => fixture_home(), clock => AT_OPEN );
my $clock = 'SET gatehouse.clock_offset_ms = ' . int( $srv->clock_offset_ms ) . '; ';
sub rows { my ($sql) = @_; [ psql_rows( $srv->db, $clock . $sql ) ] }

my $id = rows("INSERT INTO bots (name, strategy, symbol, timeframe) VALUES ('heavy', 'sma_cross', 'ESZ6', '1m') RETURNING id")->[0][0];
my %seed = ( 'runner runner.tick ERROR' => [ 30000, '100 ms' ], 'databento marketdata.bars.shared OK' => [ 400, '9 s' ],
             'databento marketdata.bars ERROR' => [ 20, '1 s' ], 'risk_engine risk.check OK' => [ 300, '12 s' ] );
for my $kind ( sort keys %seed ) {
    my ( $provider, $op, $status ) = split / /, $kind;
    my ( $n, $step ) = @{ $seed{$kind} };
    rows( "INSERT INTO integration_usage_events (provider_id, operation, status, error_code, trace_id, created_at, bot_id) "
          . "SELECT '$provider', '$op', '$status', " . ( $status eq 'ERROR' ? "'UPSTREAM_5XX'" : 'NULL' ) . ", 'spec74', "
          . "gh_now() - j * interval '$step', '$id' FROM generate_series(1, $n) j" );
}
rows('ANALYZE integration_usage_events');

# The product's query, as compiled into the binary.
my $sql = c_string_constant( 'runtime/autonomy.c', 'EVIDENCE_SQL' ) // BAIL_OUT('EVIDENCE_SQL not found in runtime/autonomy.c');
# $2.. are scripts/autonomy.lua's evidence_spec(): window_s 86400; samples bars 100, traces 50, risk 100, orders 50
my $prepare = "PREPARE ev(uuid[], int, int, int, int, int) AS $sql; ";
my $execute = "EXECUTE ev(ARRAY['$id']::uuid[], 86400, 100, 50, 100, 50)";

sub usage_scans {    # every scan node of integration_usage_events (or a partition) in a JSON plan
    my ( $node, $out ) = @_;
    push @$out, $node if ( $node->{'Relation Name'} // '' ) =~ /^integration_usage_events/;
    usage_scans( $_, $out ) for @{ $node->{Plans} // [] };
    return $out;
}

my $plan = decode_json( join "\n", map { join "\t", @$_ } @{ rows( $prepare . "EXPLAIN (ANALYZE, FORMAT JSON) $execute" ) } );
my $scans = usage_scans( $plan->[0]{Plan}, [] );
my ( $read, $dropped ) = ( 0, 0 );
for my $s (@$scans) {
    my $loops = $s->{'Actual Loops'} || 0;
    $read    += ( $s->{'Actual Rows'} // 0 ) * $loops;
    $dropped += ( ( $s->{'Rows Removed by Filter'} // 0 ) + ( $s->{'Rows Removed by Index Recheck'} // 0 ) ) * $loops;
}
cmp_ok( scalar @$scans, '>', 0, 'the plan reads integration_usage_events' );
is( $dropped, 0, 'no usage row of the bot is read and dropped by filter (30,000 runner.tick rows are in the window)' );
# the slices' samples: bars 100, risk 100 (read twice: counts and codes), proof of use up to 1,000
cmp_ok( $read, '<=', 100 + 2 * 100 + 1000, "the scans read $read rows: the slices' samples, not the bot's 30,720 rows" );
my @indexes = sort { $a cmp $b } keys %{ { map { ( $_->{'Index Name'} // $_->{'Node Type'} ) => 1 } @$scans } };
diag "usage scans: @indexes" if $ENV{GH_VERBOSE};

sub evidence { decode_json( rows( $_[0] . $prepare . $execute )->[0][4] ) }
my $fast  = evidence('');
my $plain = evidence('SET enable_indexscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off; ');
is_deeply( $fast, $plain, 'the evidence equals the one a sequential scan computes' );
is( $fast->{bars}{ok},  80, 'bars: the newest 100 calls, 80 OK …' );
is( $fast->{bars}{err}, 20, '… and the 20 errors' );
is( $fast->{bars}{last_error_code}, 'UPSTREAM_5XX', 'with the last error code' );
is( $fast->{proof_24h}, 400, 'proof of use: the 400 shared bars calls (runner and risk rows are not proof)' );
is( $fast->{risk}{ok}, 100, 'risk: the newest 100 checks' );

my $r = $srv->post("/api/bots/$id/autonomy-score");
is( $r->{status}, 200, 'the score route answers for the bot' ) or diag $r->{content};
like( $r->{json}{autonomy_score}{autonomy_tier} // '', qr/^(LOCKED|SUPERVISED|LIMITED_AUTONOMY|FULL_AUTONOMY)$/, 'with a tier' );

done_testing;
