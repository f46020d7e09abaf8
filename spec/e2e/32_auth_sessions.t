# Sessions (issue 7): cookie attributes (HttpOnly, SameSite=Strict, Path=/; __Host- prefix and Secure with
# GATEHOUSE_COOKIE_SECURE=1), the id stored only as a hash, rotation at login, server-side logout (the old
# cookie replayed → 401), idle and absolute expiry (short values by env), list and revoke.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Digest::SHA qw(sha256_hex);
use Gatehouse::Test;
use Time::HiRes qw(sleep);

my $QUIET = { GATEHOUSE_BACKGROUND_VERIFY => 0, GATEHOUSE_ALERTS => 0 };
my $PW    = $GH{admin_password};

sub set_cookies { my $h = $_[0]{headers}{'set-cookie'}; ref $h ? @$h : defined $h ? ($h) : () }

subtest 'cookie attributes, hashed storage, rotation, logout' => sub {
    my $srv = start_server( env => $QUIET, auth => 0 );
    my $r = $srv->post( '/api/auth/register', { username => 'admin', password => $PW } );
    is( $r->{status}, 201, 'registered' );
    my ($sc) = grep {/^gh_session=/} set_cookies($r);
    ok( $sc, 'Set-Cookie gh_session' );
    like( $sc, qr/^gh_session=[A-Za-z0-9_-]{43};/, 'value: 256 random bits, base64url' );
    like( $sc, qr/;\s*HttpOnly(;|$)/i, 'HttpOnly' );
    like( $sc, qr/;\s*SameSite=Strict(;|$)/i, 'SameSite=Strict' );
    like( $sc, qr/;\s*Path=\/(;|$)/, 'Path=/' );
    unlike( $sc, qr/;\s*Secure/i, 'no Secure over plain http (GATEHOUSE_COOKIE_SECURE unset)' );
    like( $sc, qr/;\s*Max-Age=43200(;|$)/, 'Max-Age = the absolute timeout (43200 s default)' );
    my $first = $srv->jar->get('gh_session');
    my @rows = psql_rows( $srv->db, q{SELECT encode(id_hash, 'hex') FROM sessions} );
    is_deeply( \@rows, [ [ sha256_hex($first) ] ], 'the row holds sha256(cookie), not the cookie' );

    # login again: a new session (rotation), the one the request carried is gone
    $r = $srv->login( 'admin', $PW );
    is( $r->{status}, 200, 'login' );
    ok( !$r->{json}{requires_2fa}, 'no 2FA on this account: a session at once' );
    is( $r->{json}{user}{username}, 'admin', 'user object' );
    my $second = $srv->jar->get('gh_session');
    isnt( $second, $first, 'login rotates the session id' );
    my $old = $srv->client;
    $old->jar->set( gh_session => $first );
    error_ok( $old->get('/api/auth/me'), 401, 'UNAUTHENTICATED', 'the pre-login session is invalid' );
    is( $srv->get('/api/auth/me')->{status}, 200, 'the new one works' );

    # logout: row deleted, cookie cleared, the old value replayed → 401
    $r = $srv->logout;
    is( $r->{status}, 200, 'logout' );
    my ($clear) = grep {/^gh_session=/} set_cookies($r);
    like( $clear // '', qr/^gh_session=;.*Max-Age=0/i, 'the cookie is cleared (Max-Age=0)' );
    is( ( psql_rows( $srv->db, q{SELECT count(*) FROM sessions WHERE id_hash = sha256(convert_to($1, 'UTF8'))}, $second ) )[0][0], 0,
        'the session row is deleted' );
    my $replay = $srv->client;
    $replay->jar->set( gh_session => $second );
    error_ok( $replay->get('/api/auth/me'), 401, 'UNAUTHENTICATED', 'the old cookie value replayed after logout' );
    error_ok( $replay->post( '/api/bots', { name => 'x' } ), 401, 'UNAUTHENTICATED', 'also for a POST' );
    error_ok( $srv->get('/api/auth/me'), 401, 'UNAUTHENTICATED', 'the logged-out client' );

    # wrong password / unknown user: the same 401
    my $a = $srv->login( 'admin', 'wrong-password-x' );
    my $b = $srv->login( 'nobody', 'wrong-password-x' );
    error_ok( $a, 401, 'UNAUTHENTICATED', 'wrong password' );
    error_ok( $b, 401, 'UNAUTHENTICATED', 'unknown user' );
    is( $a->{json}{reason_human}, $b->{json}{reason_human}, 'indistinguishable answers' );
    is( $srv->stop, 0, 'stopped' );
};

subtest 'sessions: list and revoke' => sub {
    my $srv = start_server( env => $QUIET );
    my $other = $srv->client;
    is( $other->login( 'admin', $PW, )->{status}, 200, 'a second session' );
    my $r = $srv->request( 'GET', '/api/auth/sessions', { headers => { 'User-Agent' => 'ua-x' } } );
    is( $r->{status}, 200, 'GET /api/auth/sessions' );
    my @s = @{ $r->{json}{sessions} || [] };
    is( scalar @s, 2, 'two sessions' );
    my ($cur) = grep { $_->{current} } @s;
    my ($oth) = grep { !$_->{current} } @s;
    ok( $cur && $oth, 'one is current' );
    like( $oth->{id}, qr/^[0-9a-f-]{36}$/, 'a public id (UUID)' );
    is( $oth->{ip}, '127.0.0.1', 'ip' );
    like( $oth->{user_agent}, qr/gatehouse-e2e/, 'user agent' );
    like( $oth->{$_}, qr/^\d{4}-\d\d-\d\dT[\d:.]+Z$/, "$_ RFC 3339" ) for qw(created_at last_seen_at expires_at idle_expires_at);
    my $sess_hashes = join ' ', map { $_->[0] } psql_rows( $srv->db, q{SELECT encode(id_hash, 'hex') FROM sessions} );
    unlike( $r->{content}, qr/\Q$_\E/, 'no session hash in the list' ) for split ' ', $sess_hashes;
    is( $srv->request( 'DELETE', "/api/auth/sessions/$oth->{id}" )->{status}, 200, 'revoke the other session' );
    error_ok( $other->get('/api/auth/me'), 401, 'UNAUTHENTICATED', 'the revoked session' );
    is( $srv->get('/api/auth/me')->{status}, 200, 'the current one still works' );
    error_ok( $srv->request( 'DELETE', "/api/auth/sessions/$oth->{id}" ), 404, 'NOT_FOUND', 'revoking it again' );
    is( $srv->stop, 0, 'stopped' );
};

subtest 'idle and absolute expiry' => sub {
    my $srv = start_server( env => { %$QUIET, GATEHOUSE_SESSION_IDLE_S => 3, GATEHOUSE_SESSION_ABSOLUTE_S => 8 } );
    for ( 1 .. 3 ) {
        sleep 1.5;
        is( $srv->get('/api/auth/me')->{status}, 200, "used every 1.5 s: alive (${_})" );
    }
    sleep 3.6;
    error_ok( $srv->get('/api/auth/me'), 401, 'UNAUTHENTICATED', 'idle 3.6 s > GATEHOUSE_SESSION_IDLE_S=3' );
    my $c = $srv->client;
    is( $c->login( 'admin', $PW )->{status}, 200, 'a new session' );
    my $deadline = time + 12;
    my ( $alive_until, $dead_at );
    while ( time < $deadline ) {
        my $st = $c->get('/api/auth/me')->{status};
        if ( $st == 200 ) { $alive_until = time }
        else { $dead_at = time; last }
        sleep 1;
    }
    ok( $dead_at, 'kept busy, the session still ends (absolute timeout 8 s)' );
    error_ok( $c->get('/api/auth/me'), 401, 'UNAUTHENTICATED', 'after the absolute timeout' );
    is( $srv->stop, 0, 'stopped' );
};

subtest 'TLS mode: __Host- prefix and Secure' => sub {
    my $srv = start_server( env => { %$QUIET, GATEHOUSE_COOKIE_SECURE => 1 }, auth => 0 );
    my $origin = { Origin => 'https://127.0.0.1:' . $srv->port };    # the browser's origin behind a TLS proxy
    my $r = $srv->post( '/api/auth/register', { username => 'admin', password => $PW }, $origin );
    is( $r->{status}, 201, 'registered' );
    my ($sc) = set_cookies($r);
    like( $sc, qr/^__Host-gh_session=[A-Za-z0-9_-]{43};/, 'cookie name __Host-gh_session' );
    like( $sc, qr/;\s*Secure(;|$)/i, 'Secure' );
    like( $sc, qr/;\s*HttpOnly(;|$)/i, 'HttpOnly' );
    like( $sc, qr/;\s*SameSite=Strict(;|$)/i, 'SameSite=Strict' );
    like( $sc, qr/;\s*Path=\/(;|$)/, 'Path=/ (required by __Host-)' );
    unlike( $sc, qr/Domain=/i, 'no Domain (required by __Host-)' );
    is( $srv->get('/api/auth/me')->{status}, 200, 'the __Host- cookie authenticates' );
    $srv->jar->set( gh_session => $srv->jar->get('__Host-gh_session') );
    my $plain = $srv->client;
    $plain->jar->set( gh_session => $srv->jar->get('__Host-gh_session') );
    error_ok( $plain->get('/api/auth/me'), 401, 'UNAUTHENTICATED', 'the un-prefixed name is not read in TLS mode' );
    error_ok( $srv->post( '/api/bots', { name => 'x' } ), 403, 'FORBIDDEN', 'an http:// Origin is refused in TLS mode' );
    isnt( $srv->post( '/api/bots', { name => 'x' }, $origin )->{status}, 403, 'the https:// origin passes' );
    is( $srv->stop, 0, 'stopped' );
};

done_testing;
