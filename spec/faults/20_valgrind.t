# gatehouse serve under valgrind (docs/faults.md "Memory"; `make valgrind` runs only this file): start it with
# --leak-check=full, exercise the main routes (status, system status, verify through the simulator with a hung
# and a huge provider, telemetry ingest, bad JSON, an unknown route, a policy reload), SIGTERM it, and read
# valgrind's report: no invalid read or write, no use of uninitialised memory in gatehouse's own code, and
# "definitely lost: 0 bytes" (or every block freed) at shutdown.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;
use Gatehouse::Sim;
use Gatehouse::Faults;
use File::Temp qw(tempdir);

my $vg = ( grep { -x "$_/valgrind" } split /:/, $ENV{PATH} )[0];
plan skip_all => 'valgrind is not installed (runtime/tools/deps.sh valgrind)' unless $vg;
plan skip_all => 'the binary is built with AddressSanitizer (make asan), which cannot run under valgrind' if binary_is_asan();

my $TOKEN = 'svc-' . join '', map { sprintf '%02x', int rand 256 } 1 .. 16;
my $log   = tempdir( 'gh-valgrind-XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{GH_KEEP_TMP} ) . '/valgrind.log';
my $sim   = start_sim( quiet => 1 );
my $srv   = start_server(
    cmd => [ "$vg/valgrind", '--leak-check=full', '--show-leak-kinds=definite', '--errors-for-leak-kinds=definite',
        '--track-origins=no', '--num-callers=30', "--log-file=$log", gatehouse_bin(), $GH{cmd_serve} ],
    env     => { %{ $sim->base_env( only => [qw(databento polygon finnhub openai)] ) }, GATEHOUSE_SERVICE_TOKEN => $TOKEN },
    timeout => 180,
);
ok( $srv->alive, 'gatehouse serve runs under valgrind' );

my %t = ( timeout => 60 );
is( $srv->request( 'GET', $GH{healthz}, {%t} )->{status}, 200, '/healthz' );
is( $srv->request( 'GET', $GH{status}, {%t} )->{status}, 200, '/api/integrations/status' );
is( $srv->request( 'GET', '/api/system/status', {%t} )->{status}, 200, '/api/system/status' );
is( $srv->request( 'GET', '/metrics', {%t} )->{status}, 200, '/metrics' );
$sim->fault( provider => 'databento', mode => 'hang' );
$sim->fault( provider => 'polygon', mode => 'huge', size_bytes => 20_000_000 );
my $v = $srv->request( 'POST', $GH{verify}, { body => { all => JSON::PP::true() }, timeout => 90 } );
is( $v->{status}, 200, 'verify all (a hung and a huge provider among them)' );
my $ev = { provider_id => 'databento', operation => 'marketdata.bars', status => 'OK', metadata => { seq => 1 } };
is( $srv->request( 'POST', '/api/telemetry/usage-events',
        { body => { events => [ ($ev) x 20 ] }, headers => { Authorization => "Bearer $TOKEN" }, %t } )->{status}, 202, 'telemetry ingest' );
is( $srv->request( 'POST', $GH{verify}, { body => '{"provider_id": ', %t } )->{status}, 400, 'bad JSON' );
is( $srv->request( 'GET', '/api/nope', {%t} )->{status}, 404, 'unknown route' );
is( $srv->request( 'POST', $GH{policy_reload}, { body => { reason => 'valgrind' }, %t } )->{status}, 200, 'policy reload' );
$srv->request( 'GET', '/api/bots', {%t} );

is( $srv->stop( timeout => 120 ), 0, 'SIGTERM: clean exit under valgrind' );
my $report = read_file($log);
my @invalid = $report =~ /^==\d+== (Invalid (?:read|write|free)[^\n]*)/mg;
is( scalar @invalid, 0, 'no invalid read, write or free' ) or diag( join "\n", @invalid[ 0 .. ( $#invalid < 4 ? $#invalid : 4 ) ] );
my @uninit = $report =~ /^==\d+== ((?:Conditional jump|Use of uninitialised|Syscall param)[^\n]*)/mg;
is( scalar @uninit, 0, 'no use of uninitialised memory' ) or diag( join "\n", @uninit[ 0 .. ( $#uninit < 4 ? $#uninit : 4 ) ] );
my ($definite) = $report =~ /definitely lost: ([\d,]+) bytes/;
ok( ( defined $definite && $definite eq '0' ) || $report =~ /All heap blocks were freed/, 'definitely lost: 0 bytes at shutdown' )
  or diag( ( $report =~ /(==\d+== LEAK SUMMARY:.*?)(?:\n==\d+== \n|\z)/s )[0] // $report );
my ($summary) = $report =~ /(ERROR SUMMARY: [^\n]*)/;
like( $report, qr/HEAP SUMMARY:/, 'valgrind wrote its heap summary (the log is the server\'s, and it exited)' );
diag( "valgrind: $summary; " . join '; ', grep {defined} ( $report =~ /(in use at exit: [^\n]*)/ )[0],
    ( $report =~ /(total heap usage: [^\n]*)/ )[0], ( $report =~ /(definitely lost: [^\n]*|All heap blocks were freed)/ )[0] );
if ( $definite && $definite ne '0' ) {
    my @blocks = $report =~ /(==\d+== [\d,]+ (?:\([\d,]+ direct, [\d,]+ indirect\) )?bytes in [\d,]+ blocks are definitely lost.*?)\n==\d+== \n/sg;
    diag($_) for @blocks[ 0 .. ( $#blocks < 5 ? $#blocks : 5 ) ];
}
done_testing;
