# `gatehouse user add` (issue 7): creates a user from the shell (password from GATEHOUSE_USER_PASSWORD or
# stdin, never argv), and recovers an admin: a new password, the role back, re-enabled, its sessions ended,
# and with --reset-2fa its 2FA turned off.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;

my $QUIET = { GATEHOUSE_BACKGROUND_VERIFY => 0, GATEHOUSE_ALERTS => 0 };
my $db  = new_database();
my $bin = gatehouse_bin();
my %env = ( DATABASE_URL => $db, GATEHOUSE_HOME => repo_root() );

my ( $rc, $out, $err ) = run_cmd( [ $bin, 'user', 'add', 'Root', '--role', 'admin' ], env => { %env, GATEHOUSE_USER_PASSWORD => 'cli-password-one' } );
is( $rc, 0, 'user add on a fresh database (migrates first)' ) or diag $err;
like( $out, qr/created user root \(role admin, id [0-9a-f-]{36}\)/, 'reports the created user' );
unlike( $out . $err, qr/cli-password-one/, 'the password is not echoed' );
my ($row) = psql_rows( $db, q{SELECT role, password_hash LIKE '$argon2id$%' FROM users WHERE username = 'root'} );
is_deeply( $row, [ 'admin', 't' ], 'an admin with an argon2id hash' );

( $rc, $out, $err ) = run_cmd( [ $bin, 'user', 'add', 'viewer1', '--role', 'viewer' ], env => \%env, stdin => "from-stdin-pass\n" );
is( $rc, 0, 'password from stdin' ) or diag $err;
( $rc, undef, $err ) = run_cmd( [ $bin, 'user', 'add', 'x', '--role', 'admin' ], env => \%env, stdin => "short\n" );
is( $rc, 1, 'a password under 12 characters is refused' );
( $rc, undef, $err ) = run_cmd( [ $bin, 'user', 'add', 'x', '--role', 'king' ], env => { %env, GATEHOUSE_USER_PASSWORD => 'long-enough-pw' } );
is( $rc, 2, 'an unknown role is a usage error' );

my $srv = start_server( db => $db, env => $QUIET, auth => 0 );
error_ok( $srv->post( '/api/auth/register', { username => 'late', password => 'long-enough-pw' } ), 403, 'FORBIDDEN',
    'registration is closed once the CLI created users' );
is( $srv->login( 'root', 'cli-password-one' )->{status}, 200, 'the CLI admin signs in' );
my $v = $srv->client;
is( $v->login( 'viewer1', 'from-stdin-pass' )->{status}, 200, 'the stdin user signs in' );
is( $v->get('/api/auth/me')->{json}{user}{role}, 'viewer', 'as a viewer' );

# lock the admin out: disable it in the database, enroll 2FA (then "lose the phone")
$srv->enroll_2fa;
psql_rows( $db, q{UPDATE users SET role = 'viewer', disabled_at = gh_now() WHERE username = 'root'} );
( $rc, $out, $err ) = run_cmd( [ $bin, 'user', 'add', 'root', '--role', 'admin', '--reset-2fa' ],
    env => { %env, GATEHOUSE_USER_PASSWORD => 'cli-password-two' } );
is( $rc, 0, 'recovery: user add on an existing user' ) or diag $err;
like( $out, qr/reset user root .*2FA turned off/, 'reports the reset' );
( $row ) = psql_rows( $db, q{SELECT role, disabled_at IS NULL, two_factor_enabled, two_factor_secret_encrypted IS NULL FROM users WHERE username = 'root'} );
is_deeply( $row, [ 'admin', 't', 'f', 't' ], 'admin again, enabled, 2FA off and its secret gone' );
is( ( psql_rows( $db, q{SELECT count(*) FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.username = 'root'} ) )[0][0], 0,
    'its sessions are ended' );
sleep 6;    # another instance's cache may trust a session for up to 5 s; this one was told nothing
error_ok( $srv->get('/api/auth/me'), 401, 'UNAUTHENTICATED', 'the old session no longer works' );
error_ok( $srv->login( 'root', 'cli-password-one' ), 401, 'UNAUTHENTICATED', 'the old password no longer works' );
my $l = $srv->login( 'root', 'cli-password-two' );
is( $l->{status}, 200, 'the new password works' );
ok( !$l->{json}{requires_2fa}, 'without a second factor (reset)' );
is( $srv->stop, 0, 'stopped' );

done_testing;
