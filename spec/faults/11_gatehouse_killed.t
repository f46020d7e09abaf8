# gatehouse itself stopped under telemetry load (docs/faults.md "gatehouse stopped"): a child process posts
# usage events to the ingest route as fast as they are answered.
#   SIGTERM: the server stops accepting, drains, writes every queued event and exits 0 — every event it
#            acknowledged (202) is in the table, exactly once, and nothing is left in the spill file.
#   SIGKILL: nothing can drain. The events lost are those still in the in-memory queue or in the batch being
#            written: every lost event was acknowledged less than LOSS_WINDOW_MS before the kill (one flush
#            interval, 100 ms, plus the batch round trip), none is duplicated, and a restart on the same spill
#            file and database adds nothing twice. The measured window and count are printed (diag).
# Runs on a private cluster with synchronous_commit on (see Gatehouse::Faults::private_cluster).
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;
use Gatehouse::Faults;
use File::Temp qw(tempdir);
use Time::HiRes qw(time sleep);

my $LOSS_WINDOW_MS = 250;    # flush every 100 ms + one batch INSERT on a loaded 2-core machine
my $TOKEN = 'svc-' . join '', map { sprintf '%02x', int rand 256 } 1 .. 16;
my $spill = tempdir( 'gh-ghkill-XXXXXX', TMPDIR => 1, CLEANUP => 1 ) . '/spill.jsonl';
my %env   = ( GATEHOUSE_SERVICE_TOKEN => $TOKEN, GATEHOUSE_SPILL_FILE => $spill );
my $pg    = private_cluster();

# ---------------------------------------------------------------- SIGTERM under load
my $srv  = start_server( db => $pg->{url}, env => \%env, timeout => 30 );
my $load = start_ingest_load( $srv, token => $TOKEN, batch => 50 );
ok( $load->wait_acked( 5000, 30 ), 'SIGTERM case: the load is running (5000 events acknowledged)' );
my $t0   = time;
my $code = $srv->stop( timeout => 20 );
my $took = time - $t0;
$load->stop;
is( $code, 0, sprintf( 'SIGTERM under load: exit status 0 after %.2f s', $took ) );
ok( $srv->log_records( msg => $GH{log_stopped} ), 'the stop is logged' );
my $acked = $load->acked_count;
my ( $rows, $ids, $seqs ) = usage_counts( $pg->{url}, $load->tag );
is( $rows, $acked, "every acknowledged event is in the table at exit ($acked): nothing lost" );
is( $ids,  $rows,  '... with distinct ids' );
is( $seqs, $rows,  '... each exactly once' );
ok( !-s $spill, 'nothing was left to the spill file: the drain wrote it all to Postgres' );
diag( sprintf 'SIGTERM: %d events acknowledged, %d in the table, drain + exit %.2f s', $acked, $rows, $took );

# ---------------------------------------------------------------- SIGKILL under load (3 rounds)
for my $round ( 1 .. 3 ) {
    subtest "SIGKILL under load, round $round" => sub { sigkill_round($round) };
}

sub sigkill_round {
    my ($round) = @_;
    my $srv  = start_server( db => $pg->{url}, env => \%env, timeout => 30 );
    my $load = start_ingest_load( $srv, token => $TOKEN, batch => 50 );
    ok( $load->wait_acked( 3000 + 1000 * $round, 30 ), 'the load is running' );
    my $t_kill = time;
    $srv->signal('KILL');
    ok( wait_for( sub { !$srv->alive }, 5, 'server gone' ), 'SIGKILL: the server is gone' );
    $load->stop;
    my $acked = $load->acked_count;
    my ( $rows, $ids, $seqs ) = usage_counts( $pg->{url}, $load->tag );
    is( $ids,  $rows, 'no duplicated id' );
    is( $seqs, $rows, 'no event twice' );
    my %have = map { $_->[0] => 1 } psql_rows( $pg->{url},
        q{SELECT metadata->>'seq' FROM integration_usage_events WHERE metadata->>'load' = $1}, $load->tag );
    my ( $lost, $oldest_ms ) = ( 0, 0 );
    for my $r ( $load->acked ) {
        my $miss = grep { !$have{$_} } $r->[0] .. $r->[1];
        next unless $miss;
        $lost += $miss;
        my $age_ms = 1000 * ( $t_kill - $r->[4] );
        $oldest_ms = $age_ms if $age_ms > $oldest_ms;
    }
    is( $rows + $lost, $acked, 'acknowledged = in the table + lost (accounting adds up)' );
    cmp_ok( $oldest_ms, '<=', $LOSS_WINDOW_MS,
        sprintf( 'every lost event was acknowledged within %d ms of the kill (oldest lost: %.0f ms)', $LOSS_WINDOW_MS, $oldest_ms ) );
    my $in_window = 0;
    $in_window += $_->[1] - $_->[0] + 1 for grep { 1000 * ( $t_kill - $_->[4] ) <= $LOSS_WINDOW_MS } $load->acked;
    cmp_ok( $lost, '<=', $in_window, "lost ($lost) <= acknowledged in that window ($in_window)" );
    my @recs = $load->records;
    my $rate = @recs > 1 ? $acked / ( $recs[-1][4] - $recs[0][3] ) : 0;
    diag( sprintf 'SIGKILL round %d: %d acknowledged (%.0f/s), %d in the table, %d lost (%.2f%%), oldest lost acknowledged %.0f ms before the kill',
        $round, $acked, $rate, $rows, $lost, $acked ? 100 * $lost / $acked : 0, $oldest_ms );

    # the restart replays whatever had reached the spill file and duplicates nothing
    $srv = start_server( db => $pg->{url}, env => \%env, timeout => 30 );
    sleep 0.5;
    my ( $rows2, undef, $seqs2 ) = usage_counts( $pg->{url}, $load->tag );
    cmp_ok( $rows2, '>=', $rows, 'after a restart nothing disappeared' );
    is( $seqs2, $rows2, '... and nothing is there twice' );
    is( $srv->stop( timeout => 20 ), 0, 'SIGTERM: clean exit' );
}

done_testing;
