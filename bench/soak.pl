#!/usr/bin/env perl
# soak.pl — issue 9 deliverable 6: SOAK_CONNS (200) connections for SOAK_SECONDS (60) mixing status reads,
# verifies and bot ticks (bench/soak.lua) against gatehouse with the provider simulator and SOAK_BOTS (20)
# PAPER bots that the scheduler also ticks every second. Passes when no answer is a 5xx, no socket error
# occurred, and the resident memory never exceeds its level after the warm-up (SOAK_WARMUP_S, 15 s) by more
# than 10 %. Prints one table; exit 1 on failure. Called by bench/soak.sh (`make soak`).
use strict;
use warnings;
use FindBin qw($Bin);
use lib "$Bin/lib", "$Bin/../spec/support";
use BenchKit;
use Gatehouse::Sim ();
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);
use JSON::PP ();

my $DIR   = $ENV{BENCH_DIR}     or die "BENCH_DIR is not set (run make soak)\n";
my $BIN   = $ENV{GATEHOUSE_BIN} or die "GATEHOUSE_BIN is not set\n";
my $ADMIN = $ENV{DATABASE_URL}  or die "DATABASE_URL is not set\n";
my $SECS  = $ENV{SOAK_SECONDS}  || 60;
my $CONNS = $ENV{SOAK_CONNS}    || 200;
my $WARM  = $ENV{SOAK_WARMUP_S} || 15;
my $NBOTS = $ENV{SOAK_BOTS}     || 20;
my $TOKEN = 'soak-service-token-' . int( rand 1e9 );

( my $DB = $ADMIN ) =~ s{:///postgres\?}{:///gatehouse_soak?};
psql( $ADMIN, 'DROP DATABASE IF EXISTS gatehouse_soak WITH (FORCE)' );
psql( $ADMIN, 'CREATE DATABASE gatehouse_soak' );
my $home = BenchKit::Server->make_home("$DIR/home-soak");
my $sim  = Gatehouse::Sim::start_sim( quiet => 1 );
my $srv  = BenchKit::Server->start( bin => $BIN, home => $home, db => $DB, log => "$DIR/soak-gatehouse.log",
    env => { %{ $sim->base_env }, GATEHOUSE_SERVICE_TOKEN => $TOKEN, GATEHOUSE_ALERTS => 0,
        GATEHOUSE_BACKGROUND_VERIFY => 0, GATEHOUSE_TICK_INTERVAL_S => 1, GATEHOUSE_SPILL_FILE => "$DIR/soak-spill.jsonl",
        # 15 % of the soak's requests are verifies of a few providers: it measures the shared-probe path, not
        # the per-provider cool-down (GATEHOUSE_VERIFY_COOLDOWN_MS, which would answer most of them 429)
        GATEHOUSE_VERIFY_COOLDOWN_MS => 0,
        # a fixed instant with the market open (the simulator beside it): the soak ticks do real work any day
        GATEHOUSE_TEST_CLOCK => $ENV{SOAK_AT} || '2026-12-08T15:00:00Z' } );
$sim->set_clock( $srv->clock_offset_ms );
my $v = $srv->post( '/api/integrations/verify', { all => JSON::PP::true } );
die "verify-all failed: $v->{status}\n" unless $v->{status} == 200;
psql( $DB, "INSERT INTO bots (name, strategy, symbol, timeframe, stage, params) SELECT 'soak-' || g, 'sma_cross', "
      . "'ESZ6', '1m', 'PAPER', '{\"tick_interval_s\": 1}'::jsonb FROM generate_series(1, $NBOTS) g" );
my @bots = split /\n/, psql( $DB, "SELECT id FROM bots ORDER BY name" );
$srv->post("/api/bots/$_/start") for @bots;
my @providers = grep { $_ ne 'discord' } @Gatehouse::Sim::SIM_PROVIDER_IDS;

BenchKit::say_step("soak: $CONNS connections, ${SECS}s, warm-up ${WARM}s; $NBOTS bots ticking every second");
my $out = "$DIR/soak-wrk.out";
my $pid = fork // die;
if ( !$pid ) {
    open STDOUT, '>', $out or die;
    open STDERR, '>&', \*STDOUT;
    { exec 'wrk', '-t', 2, '-c', $CONNS, '-d', "${SECS}s", '--timeout', '10s', '--latency', '-s', "$Bin/soak.lua", $srv->url,
      '--', $srv->{cookie} // '-', $srv->url, $TOKEN, join( ',', @bots ), join( ',', @providers ) };
    POSIX::_exit(127);
}
my $t0 = time;
my ( $base, $max, @samples ) = ( undef, 0 );
while ( waitpid( $pid, WNOHANG ) == 0 ) {
    my $rss = proc_rss_kb( $srv->pid ) // 0;
    push @samples, [ sprintf( '%.0f', time - $t0 ), $rss, proc_rss_parts_kb( $srv->pid ) ];
    if ( time - $t0 >= $WARM ) { $base //= $rss; $max = $rss if $rss > $max }
    sleep 1;
}
# the resident set at each quarter of the run (the sample nearest each instant): a long soak shows its shape
sub rss_quarters {
    my @s = @_;
    return '-' unless @s;
    my $end = $s[-1][0] || 1;
    return join ' / ', map {
        my $want = $end * $_ / 4;
        my ($near) = sort { abs( $a->[0] - $want ) <=> abs( $b->[0] - $want ) } @s;
        sprintf '%.1f', $near->[1] / 1024
    } 1 .. 4;
}
my $wrk = parse_wrk( do { local ( @ARGV, $/ ) = $out; <> } );
my $alive = $srv->get('/healthz')->{status} == 200;
# the heap as glibc sees it at the end (heap.h): bytes in use, freed but kept, and the trims made
my $metrics = $srv->get('/metrics')->{content} // '';
my %heap = map { $metrics =~ /^gatehouse_heap_\Q$_\E (\S+)$/m ? ( $_ => $1 ) : ( $_ => 0 ) } qw(in_use_bytes kept_free_bytes trims);
$srv->stop;
$sim->stop;
$base ||= $max || 1;
my $growth = ( $max - $base ) / $base * 100;
my @rows = (
    [ 'answers (2xx / 429 busy / other 4xx / 5xx)', 'no 5xx, no other 4xx', "$wrk->{s2} / $wrk->{s429} / $wrk->{s4} / $wrk->{s5}",
        ( $wrk->{s5} == 0 && $wrk->{s4} == 0 ) ? 'PASS' : 'FAIL' ],
    [ 'socket errors (connect/read/write/timeout)', '0', $wrk->{socket_errors}, $wrk->{socket_errors} == 0 ? 'PASS' : 'FAIL' ],
    [ 'mix: status reads / verifies / ticks sent', 'info', "$wrk->{reads} / $wrk->{verifies} / $wrk->{ticks}", 'info' ],
    [ 'throughput, p99 latency', 'info', sprintf( '%.0f req/s, p99 %.1f ms', $wrk->{rps}, $wrk->{p99} // 0 ), 'info' ],
    [ 'RSS at 25 / 50 / 75 / 100 % of the run (MB)', 'info', rss_quarters(@samples), 'info' ],
    [ 'of which anonymous (heap, stacks) (MB)', 'info', rss_quarters( map { [ $_->[0], $_->[2] // 0 ] } @samples ), 'info' ],
    [ 'of which file-backed (binary, libraries) (MB)', 'info', rss_quarters( map { [ $_->[0], $_->[3] // 0 ] } @samples ), 'info' ],
    [ 'heap at the end: in use / kept free (MB) / trims', 'info',
        sprintf( '%.1f / %.1f / %d', $heap{in_use_bytes} / 1048576, $heap{kept_free_bytes} / 1048576, $heap{trims} ), 'info' ],
    [ "RSS after warm-up -> max", '<= +10 %', sprintf( '%.1f MB -> %.1f MB (%+.1f %%)', $base / 1024, $max / 1024, $growth ), $growth <= 10 ? 'PASS' : 'FAIL' ],
    [ 'server alive and healthy at the end', 'yes', $alive ? 'yes' : 'no', $alive ? 'PASS' : 'FAIL' ],
);
print "\nsoak: $CONNS connections, ${SECS}s\n";
my @w = ( 0, 0, 0, 0 );
for my $r ( [ 'figure', 'target', 'measured', 'result' ], @rows ) { $w[$_] = length $r->[$_] > $w[$_] ? length $r->[$_] : $w[$_] for 0 .. 3 }
my $table = '';
for my $r ( [ 'figure', 'target', 'measured', 'result' ], [ map { '-' x $_ } @w ], @rows ) {
    $table .= sprintf "| %-*s | %-*s | %-*s | %-*s |\n", map { ( $w[$_], $r->[$_] ) } 0 .. 3;
}
print $table;
my $m = machine_info();
open my $md, '>', "$DIR/soak-results.md" or die $!;
print $md "gatehouse soak — $m->{date}, commit $m->{commit}; $CONNS connections, ${SECS}s, warm-up ${WARM}s, $NBOTS bots; "
  . "load average at the end: $m->{load}\n\n$table";
close $md;
open my $fh, '>', "$DIR/soak-results.json" or die $!;
print $fh json_encode( { wrk => { map { $_ => $wrk->{$_} } grep { $_ ne 'raw' } keys %$wrk }, rss_kb => \@samples,
    base_kb => $base, max_kb => $max, growth_pct => $growth, heap => \%heap, alive => $alive ? 1 : 0 } );
close $fh;
exit( ( grep { $_->[3] eq 'FAIL' } @rows ) ? 1 : 0 );
