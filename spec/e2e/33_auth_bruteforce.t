# Brute force (issue 7): per-account and per-IP limits on login and 2FA — 5 failures within the window →
# a ban answered 429 RATE_LIMITED with Retry-After (even for the right password), logged and a system event;
# the ban lifts after its time. Window and ban are shortened by env (defaults 2 min / 5 min).
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;
use Time::HiRes qw(sleep time);

my $QUIET = { GATEHOUSE_BACKGROUND_VERIFY => 0, GATEHOUSE_ALERTS => 0 };
my $PW    = $GH{admin_password};

subtest 'six wrong passwords → 429 with Retry-After; the ban lifts after its time' => sub {
    my $srv = start_server( env => { %$QUIET, GATEHOUSE_AUTH_BAN_S => 4, GATEHOUSE_AUTH_WINDOW_S => 60 } );
    my $c = $srv->client;
    for my $i ( 1 .. 5 ) { error_ok( $c->login( 'admin', "wrong-password-$i" ), 401, 'UNAUTHENTICATED', "wrong password $i" ) }
    my $r = $c->login( 'admin', 'wrong-password-6' );
    error_ok( $r, 429, 'RATE_LIMITED', 'the sixth attempt' );
    like( $r->{headers}{'retry-after'} // '', qr/^\d+$/, 'Retry-After header' );
    ok( $r->{headers}{'retry-after'} >= 1 && $r->{headers}{'retry-after'} <= 5, "Retry-After within the ban ($r->{headers}{'retry-after'} s)" );
    is( $r->{json}{retry_after_s}, $r->{headers}{'retry-after'}, 'retry_after_s in the body' );
    error_ok( $c->login( 'admin', $PW ), 429, 'RATE_LIMITED', 'even the right password while banned' );
    ok( !$c->jar->get('gh_session'), 'no session' );
    is( $srv->get('/api/auth/me')->{status}, 200, 'an existing session is not affected' );
    ok( wait_for( sub { psql_rows( $srv->db, q{SELECT 1 FROM system_events WHERE kind = 'auth.ban'} ) }, 5, 'ban event' ),
        'the ban is an auth.ban system event' );
    ok( $srv->log_records( msg => 'auth decision', event => 'ban' ), 'and logged' );
    my @fails = $srv->log_records( msg => 'auth decision', event => 'login', decision => 'deny' );
    is( scalar @fails, 5, 'five login denials logged' );
    unlike( $srv->log_text, qr/wrong-password-/, 'no password in the log' );
    my $t0 = time;
    ok( wait_for( sub { $c->login( 'admin', $PW )->{status} == 200 }, 8, 'ban lifted' ), 'the ban lifts (GATEHOUSE_AUTH_BAN_S=4)' );
    cmp_ok( time - $t0, '<=', 6, 'within its time' );
    is( $c->get('/api/auth/me')->{status}, 200, 'signed in after the ban' );
    is( $srv->stop, 0, 'stopped' );
};

subtest 'per IP: failures across accounts ban the address' => sub {
    my $srv = start_server( env => { %$QUIET, GATEHOUSE_AUTH_BAN_S => 30 } );
    my $c = $srv->client;
    error_ok( $c->login( "user$_", 'some-password-x' ), 401, 'UNAUTHENTICATED', "unknown user$_" ) for 1 .. 5;
    my $r = $c->login( 'admin', $PW );
    error_ok( $r, 429, 'RATE_LIMITED', 'the admin from the same address is refused too' );
    ok( $r->{headers}{'retry-after'} > 20, 'Retry-After reflects GATEHOUSE_AUTH_BAN_S=30' );
    # 2fa/verify attempts count too (and are refused while banned)
    error_ok( $c->post( '/api/auth/2fa/verify', { temp_token => 'x' x 43, code => '123456' } ), 429, 'RATE_LIMITED',
        '2fa/verify from the banned address' );
    is( $srv->stop, 0, 'stopped' );
};

subtest '2FA failures count: five wrong temp tokens ban the address' => sub {
    my $srv = start_server( env => { %$QUIET, GATEHOUSE_AUTH_BAN_S => 30 } );
    my $c = $srv->client;
    error_ok( $c->post( '/api/auth/2fa/verify', { temp_token => ( chr( 64 + $_ ) x 43 ), code => '123456' } ), 401,
        'UNAUTHENTICATED', "bad temp token $_" ) for 1 .. 5;
    error_ok( $c->login( 'admin', $PW ), 429, 'RATE_LIMITED', 'then even a good login is refused' );
    is( $srv->stop, 0, 'stopped' );
};

done_testing;
