# Soak, short form (issue 9 deliverable 6; the 60 s / 200-connection run is `make soak`): 200 wrk
# connections for 10 s mixing status reads, verifies and bot ticks (bench/soak.lua) while the scheduler
# ticks 10 PAPER bots every second. No answer may be a 5xx, no connection may fail, the server stays
# healthy, and its resident memory after a 4 s warm-up grows by at most 20 % (the 60 s soak holds 10 %;
# 10 s on a shared 2-core machine is too short for the tight bound).
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;
use Gatehouse::Sim;
use Gatehouse::Fixtures;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);

die "wrk is not installed (runtime/tools/deps.sh installs it; make test runs it)\n" unless grep { -x "$_/wrk" } split /:/, $ENV{PATH};

my $token = 'soak-spec-token-' . int( rand 1e9 );
my $sim   = start_sim( quiet => 1 );
my $env   = { %{ $sim->base_env }, GATEHOUSE_SERVICE_TOKEN => $token, GATEHOUSE_ALERTS => 0,
    GATEHOUSE_BACKGROUND_VERIFY => 0, GATEHOUSE_TICK_INTERVAL_S => 1, GATEHOUSE_LOG_LEVEL => 'warn' };
my $srv = start_server( env => $env, home => fixture_home(), clock => AT_OPEN );
is( $srv->post( '/api/integrations/verify', { all => \1 } )->{status}, 200, 'verify-all before the soak' );

my @bots;
for my $i ( 1 .. 10 ) {
    my ($row) = psql_rows( $srv->db, "INSERT INTO bots (name, strategy, symbol, timeframe, stage, params) VALUES "
          . "('soak$i', 'sma_cross', 'ESZ6', '1m', 'PAPER', '{\"tick_interval_s\": 1}'::jsonb) RETURNING id" );
    push @bots, $row->[0];
}
my $started = grep { $srv->post("/api/bots/$_/start")->{status} =~ /^20/ } @bots;
is( $started, 10, '10 PAPER bots running' );

my $cookie = $srv->jar->cookie_header;
my $out    = Gatehouse::Test::repo_root() . "/.soak-spec-$$.out";
my @providers = grep { $_ ne 'discord' } @SIM_PROVIDER_IDS;
my $pid = fork // die "fork: $!";
if ( !$pid ) {
    open STDOUT, '>', $out or POSIX::_exit(127);
    open STDERR, '>&', \*STDOUT;
    { exec 'wrk', '-t', 2, '-c', 200, '-d', '10s', '--timeout', '10s', '-s', Gatehouse::Test::repo_root() . '/bench/soak.lua',
        $srv->url, '--', ( length $cookie ? $cookie : '-' ), $srv->url, $token, join( ',', @bots ), join( ',', @providers ) };
    POSIX::_exit(127);
}
my $t0 = time;
my ( $base, $max ) = ( undef, 0 );
while ( waitpid( $pid, WNOHANG ) == 0 ) {
    if ( open my $fh, '<', '/proc/' . $srv->pid . '/status' ) {
        my ($rss) = map { /^VmRSS:\s+(\d+)/ ? $1 : () } <$fh>;
        if ( $rss && time - $t0 >= 4 ) { $base //= $rss; $max = $rss if $rss > $max }
    }
    sleep 0.5;
}
is( $? >> 8, 0, 'wrk ran' );
my $text = do { local ( @ARGV, $/ ) = $out; <> } // '';
unlink $out;
my %n = $text =~ /^bench\.(\w+)\s+(\d+)$/mg;
note($text);
cmp_ok( $n{reads} // 0, '>', 200, "status reads sent: " . ( $n{reads} // 0 ) );
cmp_ok( $n{verifies} // 0, '>', 20, "verifies sent: " . ( $n{verifies} // 0 ) );
cmp_ok( $n{ticks} // 0, '>', 20, "manual ticks sent: " . ( $n{ticks} // 0 ) );
cmp_ok( $n{s2} // 0, '>', 200, "2xx answers: " . ( $n{s2} // 0 ) );
is( $n{s5} // -1, 0, 'no 5xx answer' );
is( $n{s4} // -1, 0, 'no 4xx other than 429 (a tick already running)' );
unlike( $text, qr/Socket errors/, 'no connect, read, write or timeout error' );
is( $srv->get('/readyz')->{status}, 200, 'still ready afterwards' );
ok( defined $base, 'memory sampled after the warm-up' );
my $growth = $base ? ( $max - $base ) / $base * 100 : 0;
cmp_ok( $growth, '<=', 20, sprintf( 'RSS %.1f MB after warm-up, max %.1f MB (%+.1f %%)', ( $base // 0 ) / 1024, $max / 1024, $growth ) );
my ($ticked) = psql_rows( $srv->db, "SELECT count(*) FROM integration_usage_events WHERE operation = 'runner.tick'" );
cmp_ok( $ticked->[0], '>', 50, "bot ticks recorded during the soak: $ticked->[0]" );
is( $srv->stop, 0, 'clean stop' );
done_testing;
