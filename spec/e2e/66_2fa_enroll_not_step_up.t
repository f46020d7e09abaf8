# Issue 21 (red team, Medium): 2FA enrollment must not count as a step-up. A stolen cookie of an account
# without 2FA could set up 2FA, confirm it (counted as a fresh 2FA), turn live trading on, and lock the owner
# out while the owner's sessions survived. Now: 2fa/setup needs the account password again (a wrong one is a
# sign-in failure counted by the limiter), confirm enables 2FA without making the session "fresh" (a step-up
# with a new code is still needed for live actions), and enrollment ends the user's other sessions.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;

my $PW  = $GH{admin_password};
my $srv = start_server( env => { GATEHOUSE_BACKGROUND_VERIFY => 0, GATEHOUSE_ALERTS => 0, GATEHOUSE_AUTH_MAX_FAILURES => 3,
                                 GATEHOUSE_AUTH_BAN_S => 2, GATEHOUSE_AUTH_WINDOW_S => 60 } );

# the owner's other session (another browser), signed in before the attacker's enrollment
my $owner = $srv->client;
is( $owner->login( 'admin', $PW )->{status}, 200, "the owner's other session" );
is( $owner->get('/api/auth/me')->{status}, 200, 'works' );

# ---------------------------------------------------------------- setup needs the password
my $r = $srv->post('/api/auth/2fa/setup');
error_ok( $r, 400, 'VALIDATION_FAILED', 'setup without the password' );
is( $r->{json}{field}, 'password', 'names the password field' );
ok( !$r->{json}{secret_base32}, 'no secret issued' );
$r = $srv->post( '/api/auth/2fa/setup', { password => 'not-the-password-1' } );
error_ok( $r, 401, 'UNAUTHENTICATED', 'setup with a wrong password' );
ok( !( psql_rows( $srv->db, q{SELECT 1 FROM users WHERE two_factor_secret_encrypted IS NOT NULL} ) ), 'no secret stored' );
ok( wait_for( sub { $srv->log_records( msg => 'auth decision', event => '2fa_setup', decision => 'deny' ) }, 5, 'deny log' ),
    'the refusal is an auth decision in the log' );
# counted by the sign-in limiter (GATEHOUSE_AUTH_MAX_FAILURES=3): two more wrong ones ban the account
error_ok( $srv->post( '/api/auth/2fa/setup', { password => "not-the-password-$_" } ), 401, 'UNAUTHENTICATED', "wrong password $_" ) for 2 .. 3;
$r = $srv->post( '/api/auth/2fa/setup', { password => $PW } );
error_ok( $r, 429, 'RATE_LIMITED', 'after 3 wrong passwords even the right one is refused (the ban)' );
ok( $r->{headers}{'retry-after'}, 'with Retry-After' );
my $setup = wait_for( sub { my $s = $srv->post( '/api/auth/2fa/setup', { password => $PW } ); $s->{status} == 200 ? $s : undef },
    8, 'the ban (2 s) ends' );
ok( $setup, 'setup with the right password once the ban is over' );
my $secret = $setup && $setup->{json}{secret_base32};
like( $secret // '', qr/^[A-Z2-7]{32}$/, 'a secret' );

# ---------------------------------------------------------------- confirm is not a step-up
my $c = $srv->post( '/api/auth/2fa/confirm', { code => $srv->next_totp($secret) } );
is( $c->{status}, 200, 'confirm' ) or diag $c->{content};
is( scalar @{ $c->{json}{backup_codes} || [] }, 10, 'ten backup codes' );
my $me = $srv->get('/api/auth/me')->{json}{user};
ok( $me->{two_factor_enabled}, '2FA is on' );
ok( !$me->{fresh_2fa}, '/me: the session is NOT freshly 2FA-verified by the enrollment' );
my $t = $srv->request( 'PUT', '/api/settings/trading', { body => { enabled => \1 } } );
error_ok( $t, 403, 'TWO_FACTOR_REQUIRED', 'trading on right after the enrollment' );
like( $t->{json}{suggested_fix} // '', qr{step-up}, 'the fix names the step-up' );
error_ok( $srv->post('/api/bots/kill-all'), 403, 'TWO_FACTOR_REQUIRED', 'kill-all right after the enrollment' );
is( ( psql_rows( $srv->db, q{SELECT count(*) FROM sessions WHERE two_factor_verified_at IS NOT NULL} ) )[0][0], 0,
    'no session row is marked 2FA-verified' );

# ---------------------------------------------------------------- the owner's other sessions are ended
error_ok( $owner->get('/api/auth/me'), 401, 'UNAUTHENTICATED', "the user's other session ended with the enrollment" );
is( $srv->get('/api/auth/me')->{status}, 200, 'the enrolling session itself goes on' );
is( ( psql_rows( $srv->db, q{SELECT count(*) FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.username = 'admin'} ) )[0][0],
    1, 'one session row left' );

# ---------------------------------------------------------------- a step-up with a new code makes it fresh
my $su = $srv->post( '/api/auth/2fa/step-up', { code => $srv->next_totp($secret) } );
is( $su->{status}, 200, 'step-up with the next code' ) or diag $su->{content};
ok( $srv->get('/api/auth/me')->{json}{user}{fresh_2fa}, '/me: fresh now' );
is( $srv->request( 'PUT', '/api/settings/trading', { body => { enabled => \1 } } )->{status}, 200, 'trading on after the step-up' );
is( $srv->request( 'PUT', '/api/settings/trading', { body => { enabled => \0 } } )->{status}, 200, 'and off' );
is( $srv->stop, 0, 'stopped' );

done_testing;
