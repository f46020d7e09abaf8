# Telemetry through a database outage (PRODUCT.md §5): while Postgres is down, accepted
# usage events spill to the local file and the ingest route keeps answering 202; when
# Postgres returns the spill is replayed and truncated, and every event is in the table
# exactly once. A SIGTERM while Postgres is down leaves the queued events in the spill
# file, replayed at the next start; a SIGTERM while it is up flushes them before exiting.
#
# Stopping Postgres would disturb the other specs' shared cluster, so this spec runs its
# own private cluster (runtime/tools/pg-embedded.sh) on its own port.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;
use File::Temp qw(tempdir);
use POSIX qw(:sys_wait_h);

my $INGEST = '/api/telemetry/usage-events';
my $TOKEN  = 'svc-' . join '', map { sprintf '%02x', int rand 256 } 1 .. 16;
my $BOT    = 'c3c3c3c3-0000-4000-8000-' . sprintf( '%012x', int rand 2**40 );

my $top = tempdir( 'gh-outage-XXXXXX', TMPDIR => 1, CLEANUP => 1 );
chmod 0711, $top;    # the cluster owner (postgres, when we are root) must enter it
my $pgdir = "$top/pg";
my $port  = free_port();
my $spill = "$top/spill.jsonl";
at_end( sub { run_cmd( [ pg_embedded(), 'destroy', $pgdir ], timeout => 60 ) } );

sub pg {
    my ( $rc, $out, $err ) = run_cmd( [ pg_embedded(), @_ ], env => { GATEHOUSE_PG_FAST => 1 }, timeout => 120 );
    chomp $out;
    return ( $rc, $out, $err );
}
my ( $rc, $url, $err ) = pg( 'start', $pgdir, '--port', $port );
is( $rc, 0, 'private cluster started' ) or BAIL_OUT("cannot start a private Postgres: $err");
# the shared cluster's fsync=off is fine here too: the spec is about gatehouse's own durability

my %env = ( GATEHOUSE_SERVICE_TOKEN => $TOKEN, GATEHOUSE_SPILL_FILE => $spill );
my $seq = 0;    # every event carries a unique metadata.seq: a duplicate would show as a repeated seq

# send($srv, $n) → HTTP status of one request with $n fresh events
sub send_events {
    my ( $srv, $n ) = @_;
    my @ev = map {
        {   provider_id => 'databento', operation => 'marketdata.bars', status => 'OK', bot_id => $BOT,
            latency_ms  => 5,           symbol    => 'NQ',              timeframe => '1m', records => 1,
            metadata    => { seq => ++$seq, feature_keys_used => ['ema_9'] }
        }
    } 1 .. $n;
    return $srv->post( $INGEST, { events => \@ev }, { Authorization => "Bearer $TOKEN" } )->{status};
}

# (rows, distinct ids, distinct seqs) in the table
sub table_counts {
    my ($row) = psql_rows( $url, q{SELECT count(*), count(DISTINCT id), count(DISTINCT metadata->>'seq') FROM integration_usage_events} );
    return @$row;
}

sub exactly_once {
    my ( $want, $desc ) = @_;
    my $ok = wait_for( sub { ( table_counts() )[0] >= $want }, 60, "$want rows ($desc)" );
    ok( $ok, "$desc: all $want events reached the table" );
    my ( $rows, $ids, $seqs ) = table_counts();
    is( $rows, $want, "$desc: count(*) = $want" );
    is( $ids,  $want, "$desc: count(DISTINCT id) = $want" );
    is( $seqs, $want, "$desc: every event exactly once (distinct seq = $want)" );
}

# runs `pg-embedded.sh stop` in the background, so the burst goes on while Postgres shuts down
sub stop_pg_async {
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ( !$pid ) {
        my ($code) = pg( 'stop', $pgdir );
        POSIX::_exit($code);
    }
    return $pid;
}

my $srv = start_server( db => $url, env => \%env, timeout => 30 );

# ---------------------------------------------------------------- burst through an outage
my @codes;
push @codes, send_events( $srv, 100 ) for 1 .. 8;
# a session for the status read below (made once Postgres is back)
is( $srv->login->{status}, 200, 'a sign-in before the outage' );
my $stopper = stop_pg_async();
push @codes, send_events( $srv, 100 ) for 9 .. 20;
waitpid( $stopper, 0 );
is( $? >> 8, 0, 'Postgres stopped mid-burst' );
push @codes, send_events( $srv, 100 ) for 21 .. 25;    # keep sending while it is down
is_deeply( [ grep { $_ != 202 } @codes ], [], 'every request during the outage was accepted (202)' );
my $sent = $seq;
is( $sent, 2500, '2500 events sent' );

ok( wait_for( sub { -s $spill }, 15, 'spill file' ), 'events spill to the file while Postgres is down' );
ok( wait_for( sub { $srv->log_records( msg => 'telemetry database down, spilling', spill => $spill ) }, 15, 'down log' ),
    'the transition is logged with the spill path' );
my $mode = ( stat $spill )[2] & 07777;
is( sprintf( '%o', $mode ), '600', 'the spill file is private (0600)' );

( $rc, undef, $err ) = pg( 'start', $pgdir, '--port', $port );
is( $rc, 0, 'Postgres back' ) or diag $err;
# read once Postgres is back: each 202 of the outage waited for its fdatasync, so the burst can outlast the 5 s a
# cached session is trusted without the database (spec 68); the in-memory aggregates are not re-seeded meanwhile
my $status = $srv->get( $GH{status} );
is( $status->{json}{providers}[0] && ( grep { $_->{id} eq 'databento' } @{ $status->{json}{providers} } )[0]{proof_of_use_count_24h},
    $sent, 'the aggregates count every event accepted during the outage' );
exactly_once( $sent, 'after the outage' );
ok( wait_for( sub { !-s $spill }, 30, 'spill truncated' ), 'the spill file is truncated once replayed' );
ok( wait_for( sub { $srv->log_records( msg => 'telemetry replay complete' ) }, 10, 'replay log' ), 'replay completion is logged' );

# ---------------------------------------------------------------- SIGTERM while Postgres is down
( $rc, undef, $err ) = pg( 'stop', $pgdir );
is( $rc, 0, 'Postgres stopped again' );
push @codes, send_events( $srv, 100 ) for 1 .. 3;
is( $srv->stop( timeout => 20 ), 0, 'SIGTERM with Postgres down: clean exit' );
ok( -s $spill, 'the queued events were written to the spill file at stop' );
( $rc, undef, $err ) = pg( 'start', $pgdir, '--port', $port );
is( $rc, 0, 'Postgres back' ) or diag $err;
$sent = $seq;
$srv = start_server( db => $url, env => \%env, timeout => 30 );
my ( $rows, $ids, $seqs ) = table_counts();
is( $rows, $sent, 'the leftover spill file was replayed during start-up' );
is( $ids,  $sent, '... with distinct ids' );
is( $seqs, $sent, '... every event exactly once' );
ok( !-s $spill, 'and the spill file is empty again' );
my $p = $srv->providers->{databento};
is( $p->{proof_of_use_count_24h}, $sent, 'the seeded aggregates include the replayed events' );

# ---------------------------------------------------------------- SIGTERM while Postgres is up
send_events( $srv, 1000 ) for 1 .. 5;
is( $srv->stop( timeout => 20 ), 0, 'SIGTERM right after a burst: clean exit' );
$sent = $seq;
( $rows, $ids, $seqs ) = table_counts();
is( $rows, $sent, 'the drain flushed every queued event before exiting' );
is( $seqs, $sent, '... exactly once' );
ok( !-s $spill, 'nothing was left to spill' );

( $rc, undef, $err ) = pg( 'stop', $pgdir );
done_testing;
