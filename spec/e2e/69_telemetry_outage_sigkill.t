# Telemetry in the first seconds of a database outage (docs/faults.md "Telemetry: the first seconds of an
# outage"): the database goes away, events keep being posted and answered 202, and gatehouse is SIGKILLed
# 1.2 s later — well before the 5 s batch timeout would have declared a hung database down. Nothing can
# drain: whatever gatehouse acknowledged must already be in the spill file. The database comes back,
# gatehouse restarts on the same spill file (replayed at start-up) and the table holds every 202-acknowledged
# event exactly once. Two outages:
#   stopped — `pg-embedded.sh stop`, as spec 13 does (connections refused at once);
#   frozen  — the postmaster and its backends SIGSTOPped (a hung host: queries neither fail nor answer).
# Runs on its own private cluster (Gatehouse::Faults::private_cluster).
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;
use Gatehouse::Faults;
use File::Temp qw(tempdir);
use Time::HiRes qw(time);

my $INGEST = '/api/telemetry/usage-events';
my $TOKEN  = 'svc-' . join '', map { sprintf '%02x', int rand 256 } 1 .. 16;
my $BOT    = 'c9c9c9c9-0000-4000-8000-' . sprintf( '%012x', int rand 2**40 );
my $spill  = tempdir( 'gh-outkill-XXXXXX', TMPDIR => 1, CLEANUP => 1 ) . '/spill.jsonl';
my %env    = ( GATEHOUSE_SERVICE_TOKEN => $TOKEN, GATEHOUSE_SPILL_FILE => $spill );
my $pg     = private_cluster();
my $seq    = 0;

# posts $n fresh events tagged $tag; returns the HTTP status
sub send_events {
    my ( $srv, $n, $tag ) = @_;
    my @ev = map {
        {   provider_id => 'databento', operation => 'marketdata.bars', status => 'OK', bot_id => $BOT,
            latency_ms  => 5, symbol => 'NQ', timeframe => '1m', records => 1,
            metadata    => { seq => ++$seq, load => $tag }
        }
    } 1 .. $n;
    return $srv->post( $INGEST, { events => \@ev }, { Authorization => "Bearer $TOKEN" } )->{status};
}

sub pg_freeze {
    my $pm = pg_postmaster_pid($pg) or die 'no postmaster';
    my @all = ( $pm, Gatehouse::Faults::_children_of($pm) );
    kill 'STOP', @all;
    return sub { kill 'CONT', @all };
}

sub outage_round {
    my ($how) = @_;
    my $srv = start_server( db => $pg->{url}, env => \%env, timeout => 30 );
    my $acked = 0;
    for ( 1 .. 5 ) { $acked += 100 if send_events( $srv, 100, $how ) == 202 }
    ok( wait_for( sub { ( usage_counts( $pg->{url}, $how ) )[0] >= 500 }, 30, '500 rows' ), "$how: with Postgres up the first 500 events reach the table" );

    my $thaw;
    if   ( $how eq 'frozen' ) { $thaw = pg_freeze() }
    else                      { is( pg_stop($pg), 0, "$how: Postgres stopped" ) }
    my $t_out = time;
    my @codes;
    push @codes, send_events( $srv, 50, $how ) while time - $t_out < 1.2;    # well inside the 5 s batch timeout
    my $t_kill = time;
    $srv->signal('KILL');
    ok( wait_for( sub { !$srv->alive }, 5, 'server gone' ), sprintf '%s: SIGKILL %.2f s into the outage', $how, $t_kill - $t_out );
    is_deeply( [ grep { $_ != 202 } @codes ], [], "$how: " . scalar(@codes) . ' requests during the outage, all answered 202' );
    $acked += 50 * grep { $_ == 202 } @codes;

    if   ($thaw) { $thaw->() }
    else         { is( pg_start($pg), 0, "$how: Postgres back" ) }
    $srv = start_server( db => $pg->{url}, env => \%env, timeout => 30 );
    wait_for( sub { ( usage_counts( $pg->{url}, $how ) )[0] >= $acked }, 15, "$acked rows" );
    my ( $rows, $ids, $seqs ) = usage_counts( $pg->{url}, $how );
    diag( sprintf '%s: %d acknowledged (%d in the outage), %d in the table, %d lost', $how, $acked, 50 * @codes, $rows, $acked - $rows );
    is( $rows, $acked, "$how: every 202-acknowledged event is in the table ($acked)" );
    is( $ids,  $rows,  "$how: ... with distinct ids" );
    is( $seqs, $rows,  "$how: ... each exactly once" );
    is( $srv->stop( timeout => 20 ), 0, "$how: SIGTERM: clean exit" );
}

subtest "database $_, gatehouse SIGKILLed 1.2 s later" => sub { outage_round($_) } for qw(stopped frozen);

done_testing;
