# Background re-verification: configured providers are verified without anyone pressing Verify, and
# re-verified shortly before their TTL runs out (10 % of the TTL plus up to 5 % jitter), so "connected"
# does not depend on an operator. A no_retry provider (Tradovate) is not retried in the background after
# AUTH_FAILED: an account lock-out must never come from a loop.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;
use Gatehouse::Sim;

my $sim  = Gatehouse::Sim::start_sim();
my $home = copy_home();
my $file = "$home/providers.lua";
my $src  = read_file($file);
# a 6 s TTL for databento so the re-verification happens within the test
my ( $s, $e ) = lua_entry_span( $src, 'databento' );
my $entry = substr( $src, $s, $e - $s );
$entry =~ s/verify_ttl_s\s*=\s*\d+/verify_ttl_s = 6/ or die 'databento has no verify_ttl_s';
substr( $src, $s, $e - $s ) = $entry;
write_file( $file, $src );

my $env = $sim->base_env( only => [qw(databento tradovate)], invalid => ['tradovate'] );
my $srv = start_server( env => $env, home => $home );

my $count = sub {
    my ($id) = @_;
    my ($row) = psql_rows( $srv->db, "SELECT count(*) FROM verifications WHERE provider_id = '$id'" );
    return $row->[0];
};

ok( wait_for( sub { $count->('databento') >= 1 }, 10, 'first background verify' ),
    'a configured provider is verified in the background without a request' );
my $p = $srv->providers->{databento};
is( $p->{state}, 'VERIFIED', 'databento VERIFIED by the background probe' );
ok( $p->{connected}, 'and connected' );
my ($first) = psql_rows( $srv->db,
    "SELECT extract(epoch FROM verified_at) FROM verifications WHERE provider_id = 'databento' ORDER BY verified_at LIMIT 1" );

ok( wait_for( sub { $count->('databento') >= 2 }, 12, 'second background verify' ), 're-verified before the TTL ran out' );
my ($second) = psql_rows( $srv->db,
    "SELECT extract(epoch FROM verified_at) FROM verifications WHERE provider_id = 'databento' ORDER BY verified_at OFFSET 1 LIMIT 1" );
my $gap = $second->[0] - $first->[0];
cmp_ok( $gap, '<=', 6, "the second probe came no later than the TTL (gap ${gap} s)" );
cmp_ok( $gap, '>=', 1, 'and not in a tight loop' );
ok( $srv->providers->{databento}{connected}, 'still connected: the TTL never lapsed' );

is( $count->('tradovate'), 1, 'tradovate (invalid credentials) was probed once' );
sleep 5;
is( $count->('tradovate'), 1, 'and not retried in the background after AUTH_FAILED (no_retry)' );
my $auth_calls = grep { $_->{path} =~ m{/auth/accesstokenrequest} } @{ $sim->requests('tradovate') };
is( $auth_calls, 1, 'the simulator saw exactly one Tradovate login attempt' );
is( $srv->providers->{tradovate}{state}, 'DEGRADED', 'tradovate DEGRADED' );

my $r = $srv->post( '/api/integrations/verify', { provider_id => 'tradovate' } );
is( $r->{json}{reason_code}, 'AUTH_FAILED', 'an operator can still press Verify' );
ok( wait_for( sub { $count->('tradovate') == 2 }, 5, 'manual probe row' ), 'which runs exactly one more probe' );

is( $srv->stop, 0, 'SIGTERM: exit status 0' );
done_testing;
