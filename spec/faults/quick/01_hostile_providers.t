# Hostile providers (docs/faults.md "Providers"): a provider that never answers, one that drips its body one
# byte every 200 ms (slowloris), one that sends a 200 MB body (with a Content-Length, and chunked without one)
# and one that sends a truncated JSON body. Every probe must end within its own timeout (plus a small margin)
# with the right outcome, the server must keep answering /healthz meanwhile, gatehouse must stop reading a huge
# body at its response cap (the simulator sees the connection closed early), and the server's peak resident
# memory (VmHWM from /proc) must not grow by more than HWM_BUDGET_MB over the whole run.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;
use Gatehouse::Sim;
use Gatehouse::Faults;
use JSON::PP;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);
use File::Temp qw(tempdir);

my $HWM_BUDGET_MB = 32;     # the response cap is 1 MiB per transfer; 200 MB bodies must not get near RSS
my $PROBE_MS      = 5000;   # verify timeout_ms of the faulted providers in providers.lua
my $MARGIN_MS     = 1500;   # scheduling slack on a loaded 2-core machine
my $VERIFY        = $GH{verify};

my $sim = start_sim( quiet => 1 );
my $srv = start_server( env => scalar $sim->base_env );
my ( undef, $hwm0 ) = proc_mem_kb( $srv->pid );
ok( $hwm0, "baseline peak RSS: ${\ int( ($hwm0 // 0) / 1024 ) } MB" );

my %fault = (
    databento    => { mode => 'hang' },
    polygon      => { mode => 'drip', delay_ms => 200 },
    finnhub      => { mode => 'huge', size_bytes => 200_000_000 },
    alphavantage => { mode => 'huge', size_bytes => 200_000_000, chunked => JSON::PP::true },
    fmp          => { mode => 'malformed' },
);
my %want = ( databento => 'TIMEOUT', polygon => 'TIMEOUT', finnhub => 'PROVIDER_ERROR', alphavantage => 'PROVIDER_ERROR',
    fmp => 'PROVIDER_ERROR' );

# runs `verify all` in a child (through the harness) while the parent polls /healthz and the memory
sub verify_all_in_child {
    my $file = tempdir( 'gh-hostile-XXXXXX', TMPDIR => 1, CLEANUP => 1 ) . '/verify.json';
    my $pid  = fork;
    die "fork: $!" unless defined $pid;
    if ( !$pid ) {
        my $t0 = time;
        my $r  = eval { $srv->request( 'POST', $VERIFY, { body => { all => JSON::PP::true }, timeout => 30 } ) };
        my $out = { status => $r ? $r->{status} : 0, json => $r ? $r->{json} : undef, elapsed => time - $t0 };
        eval { write_file( $file, JSON::PP->new->encode($out) ) };
        POSIX::_exit(0);
    }
    return ( $pid, $file );
}

for my $round ( 1 .. 2 ) {    # twice: the second round shows nothing accumulates
    subtest "round $round: every hostile provider at once" => sub {
        $sim->clear_faults;
        $sim->clear_requests;
        $sim->fault( provider => $_, %{ $fault{$_} } ) for sort keys %fault;
        my ( $pid, $file ) = verify_all_in_child();
        my ( $hz_fail, $hwm_max, @hz ) = ( 0, $hwm0 );
        while ( waitpid( $pid, WNOHANG ) == 0 ) {
            my $t = time;
            my $h = $srv->request( 'GET', $GH{healthz}, { timeout => 3 } );
            push @hz, time - $t;
            $hz_fail++ unless $h->{status} == 200;
            my ( undef, $hwm ) = proc_mem_kb( $srv->pid );
            $hwm_max = $hwm if $hwm && $hwm > $hwm_max;
            sleep 0.1;
        }
        my $res = eval { decode_json( read_file($file) ) } || {};
        is( $res->{status}, 200, 'verify all answered 200' );
        cmp_ok( $res->{elapsed}, '<', ( $PROBE_MS + $MARGIN_MS ) / 1000,
            sprintf( 'verify all took %.2f s: about the slowest probe (%d ms), not the sum', $res->{elapsed}, $PROBE_MS ) );
        my %by = map { $_->{provider_id} => $_ } @{ $res->{json}{results} || [] };
        for my $id ( sort keys %want ) {
            my $r = $by{$id} || {};
            is( $r->{reason_code}, $want{$id}, "$id ($fault{$id}{mode}" . ( $fault{$id}{chunked} ? ', chunked' : '' ) . "): $want{$id}" )
              or diag( JSON::PP->new->canonical->encode($r) );
            cmp_ok( $r->{latency_ms} // 1e9, '<=', $PROBE_MS + $MARGIN_MS, "$id: the probe ended within its budget ($r->{latency_ms} ms)" );
        }
        is( $by{openai}{reason_code}, 'OK', 'an unfaulted provider in the same fan-out is still OK' );
        for my $id (qw(finnhub alphavantage)) {
            my ($req) = grep { defined $_->{bytes_sent} } @{ $sim->requests($id) };
            ok( $req, "$id: the simulator streamed the huge body" ) or next;
            ok( $req->{closed_early}, "$id: gatehouse hung up before the end of the 200 MB body" );
            cmp_ok( $req->{bytes_sent}, '<', 32 * 1024 * 1024,
                sprintf( '%s: it read %.1f MB of 200 MB (response cap 1 MiB + socket buffers)', $id, $req->{bytes_sent} / 1048576 ) );
        }
        is( $hz_fail, 0, sprintf( '/healthz answered 200 all along (%d polls)', scalar @hz ) );
        my ($worst) = sort { $b <=> $a } @hz;
        cmp_ok( $worst // 0, '<', 1, sprintf( 'slowest /healthz during the faults: %.0f ms', 1000 * ( $worst // 0 ) ) );
        my $growth = ( $hwm_max - $hwm0 ) / 1024;
        cmp_ok( $growth, '<', $HWM_BUDGET_MB, sprintf( 'peak RSS grew by %.1f MB (budget %d MB)', $growth, $HWM_BUDGET_MB ) );
        diag( sprintf( 'round %d: verify all %.2f s, peak RSS +%.1f MB, slowest healthz %.0f ms', $round, $res->{elapsed}, $growth, 1000 * ( $worst // 0 ) ) );
    };
}

# a hung provider must not hold the connection forever either: the simulator sees the socket closed
$sim->clear_faults;
my $r = $srv->post( $VERIFY, { provider_id => 'databento' } );
is( $r->{json}{reason_code}, 'OK', 'with the faults cleared the same provider verifies OK again' );
ok( $srv->alive, 'the server survived every hostile provider' );
is( $srv->stop, 0, 'SIGTERM: clean exit' );
done_testing;
