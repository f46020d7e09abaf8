# Issue 21, the low findings of the red-team pass:
# - trusted proxies: X-Forwarded-For is honoured only from GATEHOUSE_TRUSTED_PROXIES (default none), as the
#   right-most untrusted address, for logs, the sign-in limiter and sessions;
# - log injection: a policy reload's reason with a newline and quotes stays one log record;
# - GET /api/system/events?since=<not a timestamp> is 400 VALIDATION_FAILED (field since), never 503;
# - /readyz during a database outage shows no connection details (socket path, host=, port).
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;
use File::Temp qw(tempdir);

my $QUIET = { GATEHOUSE_BACKGROUND_VERIFY => 0, GATEHOUSE_ALERTS => 0, GATEHOUSE_AUTH_BAN_S => 60 };
my $PW    = $GH{admin_password};

sub login_from {
    my ( $c, $xff, $user, $pw ) = @_;
    return $c->request( 'POST', '/api/auth/login',
        { body => { username => $user, password => $pw }, headers => { 'X-Forwarded-For' => $xff } } );
}

subtest 'without GATEHOUSE_TRUSTED_PROXIES, X-Forwarded-For is ignored' => sub {
    my $srv = start_server( env => $QUIET );
    my $c = $srv->client;
    error_ok( login_from( $c, "10.0.0.$_", "user$_", 'some-password-x' ), 401, 'UNAUTHENTICATED', "failure $_ (XFF 10.0.0.$_)" )
      for 1 .. 5;
    error_ok( login_from( $c, '10.0.0.99', 'admin', $PW ), 429, 'RATE_LIMITED', 'a new forwarded address is still the banned peer' );
    my @d = $srv->log_records( msg => 'auth decision', event => 'login' );
    ok( @d && !grep( { ( $_->{ip} // '' ) ne '127.0.0.1' } @d ), 'every auth decision logs the peer 127.0.0.1' );
    is( $srv->stop, 0, 'stopped' );
};

subtest 'with 127.0.0.1 trusted, the limiter counts each forwarded address' => sub {
    my $srv = start_server( env => { %$QUIET, GATEHOUSE_TRUSTED_PROXIES => '127.0.0.1, 10.9.0.0/16' } );
    my $c = $srv->client;
    error_ok( login_from( $c, '203.0.113.7', "user$_", 'some-password-x' ), 401, 'UNAUTHENTICATED', "failure $_ from 203.0.113.7" )
      for 1 .. 5;
    error_ok( login_from( $c, '203.0.113.7', 'admin', $PW ), 429, 'RATE_LIMITED', '203.0.113.7 is banned' );
    my $ok = login_from( $c, '203.0.113.8', 'admin', $PW );
    is( $ok->{status}, 200, '203.0.113.8 is counted separately and signs in' );
    # a client cannot escape by prepending addresses: the right-most untrusted one counts (10.9.x is a trusted hop)
    error_ok( login_from( $srv->client, '198.51.100.1, 203.0.113.7, 10.9.3.4', 'admin', $PW ), 429, 'RATE_LIMITED',
        'spoofed left-most entries: the right-most untrusted address (203.0.113.7) is still banned' );
    ok( $srv->log_records( msg => 'auth decision', event => 'login', ip => '203.0.113.7' ), 'the forwarded address is logged' );
    my ($row) = psql_rows( $srv->db, q{SELECT count(*) FROM sessions WHERE ip::text LIKE '203.0.113.8%'} );
    is( $row->[0], 1, 'the session records the forwarded address' );
    is( $srv->stop, 0, 'stopped' );
};

subtest 'a reload reason with a newline and quotes stays one log record' => sub {
    my $srv = start_server( env => $QUIET );
    my $reason = qq{spec\n level=error msg="fake" ts=x\r\x01};
    is( $srv->post( '/api/policy/reload', { reason => $reason } )->{status}, 200, 'reload' );
    ok( !grep( {/^\s*level=error|msg="fake"/} $srv->log_lines ), 'no forged line' );
    ok( !$srv->log_records( msg => 'fake' ), 'no record with msg=fake' );
    my @loaded = grep { ( $_->{reason} // '' ) =~ /^api: spec/ } $srv->log_records( msg => 'policy loaded' );
    is( scalar @loaded, 1, 'one policy loaded record' );
    is( $loaded[0]{level}, 'info', 'its level is its own' );
    like( $loaded[0]{reason} // '', qr/level=error msg="fake"/, 'the reason is kept, escaped' );
    is( $srv->stop, 0, 'stopped' );
};

subtest '/api/system/events validates since before any SQL' => sub {
    my $srv = start_server( env => $QUIET );
    for my $bad ( 'bad', '2026-13-45T00:00:00Z', '9999999999', '2026-02-30 10:00:00', '2026-12-01T25:00:00Z' ) {
        my $r = $srv->get( '/api/system/events?since=' . $bad =~ s/ /%20/gr );
        error_ok( $r, 400, 'VALIDATION_FAILED', "since=$bad" );
        is( $r->{json}{field}, 'since', "since=$bad: field names the parameter" );
    }
    is( $srv->get('/api/system/events?since=2026-12-01T10:00:00Z')->{status}, 200, 'a good since' );
    is( $srv->get('/api/system/events?since=2026-12-01T10:00:00.5%2B01:00')->{status}, 200, 'with a fraction and an offset' );
    is( $srv->stop, 0, 'stopped' );
};

subtest '/readyz during an outage shows no connection details' => sub {
    my $top = tempdir( 'gh-readyz-XXXXXX', TMPDIR => 1, CLEANUP => 1 );
    chmod 0711, $top;
    my $pgdir = "$top/pg";
    at_end( sub { run_cmd( [ pg_embedded(), 'destroy', $pgdir ], timeout => 60 ) } );
    my ( $rc, $url, $err ) = run_cmd( [ pg_embedded(), 'start', $pgdir, '--port', free_port() ], env => { GATEHOUSE_PG_FAST => 1 }, timeout => 120 );
    chomp $url;
    is( $rc, 0, 'private cluster started' ) or return;
    my $srv = start_server( db => $url, env => $QUIET );
    is( $srv->get('/readyz')->{status}, 200, 'ready' );
    ( $rc, undef, $err ) = run_cmd( [ pg_embedded(), 'stop', $pgdir ], env => { GATEHOUSE_PG_FAST => 1 }, timeout => 120 );
    is( $rc, 0, 'Postgres stopped' );
    my $r;
    ok( wait_for( sub { $r = $srv->get('/readyz'); $r->{status} == 503 && $r->{json}{db}{error} }, 20, 'readyz 503' ),
        '/readyz answers 503 with an error' );
    my $text = $r->{content};
    unlike( $text, qr/host=|port=|\.s\.PGSQL|pgsock|\Q$top\E|\/tmp\//, 'no socket path, host or port' ) or diag $text;
    unlike( $text, qr/\Q$url\E/, 'no connection string' );
    like( $r->{json}{db}{error} // '', qr/\w/, 'the error still names what failed' );
    is( $srv->stop( timeout => 20 ), 0, 'stopped' );
};

done_testing;
