# DNS rebinding (issue 21): a page of evil.example whose name was rebound to 127.0.0.1 talks to gatehouse
# with Host: evil.example:PORT and Origin http://evil.example:PORT — before the fix it registered the first
# admin, signed in and changed state, since the CSRF check compared Origin with that same Host. Only the
# configured hosts (GATEHOUSE_ALLOWED_HOSTS; default the listen address and the localhost names, with and
# without the port) are served; any other Host, or none on HTTP/1.1, is 421 MISDIRECTED_REQUEST and changes
# nothing. Raw sockets: HTTP::Tiny cannot send a Host of its own.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;
use IO::Socket::INET;
use JSON::PP;

my $JSON  = JSON::PP->new->utf8->canonical;
my $QUIET = { GATEHOUSE_BACKGROUND_VERIFY => 0, GATEHOUSE_ALERTS => 0 };

# raw($srv, $method, $path, \%headers, $body) → { status, headers, json, content }; headers given in order,
# undef Host = none at all.
sub raw {
    my ( $srv, $method, $path, $h, $body, $proto ) = @_;
    my $req = "$method $path " . ( $proto // 'HTTP/1.1' ) . "\r\n";
    for my $k ( sort keys %$h ) { $req .= "$k: $h->{$k}\r\n" if defined $h->{$k} }
    $req .= "Connection: close\r\n";
    if ( defined $body ) {
        $req .= "Content-Type: application/json\r\nContent-Length: " . length($body) . "\r\n";
    }
    return raw_http( $srv->port, "$req\r\n" . ( $body // '' ) );
}

sub misdirected {
    my ( $r, $desc ) = @_;
    is( $r->{status}, 421, "$desc: 421" ) or diag substr( $r->{content}, 0, 300 );
    is( ref $r->{json} eq 'HASH' && $r->{json}{error_code}, 'MISDIRECTED_REQUEST', "$desc: MISDIRECTED_REQUEST envelope" );
    ok( ref $r->{json} eq 'HASH' && is_hex32( $r->{json}{trace_id} ), "$desc: trace_id" );
}

my $PW = $GH{admin_password};

subtest 'a rebinding page can neither register, sign in nor change state' => sub {
    my $srv = start_server( auth => 0, env => $QUIET );
    my $port = $srv->port;
    my %evil = ( Host => "evil.example:$port", Origin => "http://evil.example:$port" );
    my $reg = $JSON->encode( { username => 'mallory', password => 'mallory-password-123' } );
    misdirected( raw( $srv, 'POST', '/api/auth/register', \%evil, $reg ), 'register via evil.example' );
    is( ( psql_rows( $srv->db, 'SELECT count(*) FROM users' ) )[0][0], 0, 'no user was created' );
    misdirected( raw( $srv, 'GET', '/api/auth/me', { Host => "evil.example:$port" } ), 'GET via evil.example' );
    misdirected( raw( $srv, 'GET', '/healthz', { Host => 'evil.example' } ), 'GET /healthz with Host evil.example' );
    misdirected( raw( $srv, 'GET', '/healthz', {} ), 'HTTP/1.1 without a Host' );

    # the real admin registers through an allowed host; the rebinding page then tries its password and a cookie
    $srv->_auto_auth;
    is( $srv->get('/api/auth/me')->{status}, 200, 'the admin signed in through 127.0.0.1:PORT' );
    my $login = $JSON->encode( { username => $GH{admin_user}, password => $PW } );
    my $r = raw( $srv, 'POST', '/api/auth/login', \%evil, $login );
    misdirected( $r, 'login via evil.example' );
    ok( !grep( {/set-cookie/i} keys %{ $r->{headers} } ), 'no cookie set' );
    my $cookie = $srv->jar->cookie_header;
    misdirected( raw( $srv, 'POST', '/api/policy/reload', { %evil, Cookie => $cookie }, '{"reason":"rebound"}' ),
        'policy reload with the admin cookie via evil.example' );
    misdirected( raw( $srv, 'POST', '/api/users', { %evil, Cookie => $cookie },
        $JSON->encode( { username => 'mallory', password => 'mallory-password-123', role => 'admin' } ) ),
        'add an admin via evil.example' );
    is( ( psql_rows( $srv->db, q{SELECT count(*) FROM users WHERE username = 'mallory'} ) )[0][0], 0, 'no user mallory' );
    ok( !$srv->log_records( msg => 'policy loaded', reason => qr/rebound/ ), 'no reload happened' );

    # the default hosts work, each with and without the port, and the Origin is checked against them
    for my $host ( "127.0.0.1:$port", '127.0.0.1', "localhost:$port", 'localhost', "[::1]:$port", '[::1]', "LOCALHOST:$port" ) {
        is( raw( $srv, 'GET', '/healthz', { Host => $host } )->{status}, 200, "Host $host is served" );
    }
    my $ok = raw( $srv, 'POST', '/api/policy/reload',
        { Host => "localhost:$port", Origin => "http://localhost:$port", Cookie => $cookie }, '{"reason":"local"}' );
    is( $ok->{status}, 200, 'a state change through localhost:PORT with its own Origin works' );
    my $cross = raw( $srv, 'POST', '/api/policy/reload',
        { Host => "127.0.0.1:$port", Origin => "http://evil.example:$port", Cookie => $cookie }, '{"reason":"x"}' );
    is( $cross->{status}, 403, 'an allowed Host with a foreign Origin is still refused (CSRF)' );
    is( $cross->{json}{check}, 'origin', '... by the Origin check' );
    is( raw( $srv, 'GET', '/healthz', {}, undef, 'HTTP/1.0' )->{status}, 200, 'HTTP/1.0 without a Host is served' );
    is( $srv->stop, 0, 'stopped' );
};

subtest 'GATEHOUSE_ALLOWED_HOSTS adds a configured host' => sub {
    my $srv = start_server( env => { %$QUIET, GATEHOUSE_ALLOWED_HOSTS => 'gatehouse.lan:8443, other.lan' } );
    my $port = $srv->port;
    is( raw( $srv, 'GET', '/healthz', { Host => 'gatehouse.lan:8443' } )->{status}, 200, 'the configured host is served' );
    is( raw( $srv, 'GET', '/healthz', { Host => 'other.lan' } )->{status}, 200, 'the second configured host is served' );
    misdirected( raw( $srv, 'GET', '/healthz', { Host => 'gatehouse.lan:9999' } ), 'a configured name on another port' );
    misdirected( raw( $srv, 'GET', '/healthz', { Host => 'evil.example' } ), 'an unlisted host' );
    my $cookie = $srv->jar->cookie_header;
    is( raw( $srv, 'POST', '/api/policy/reload',
        { Host => 'gatehouse.lan:8443', Origin => 'http://gatehouse.lan:8443', Cookie => $cookie }, '{}' )->{status},
        200, 'a state change through the configured host with its Origin' );
    is( $srv->stop, 0, 'stopped' );
};

done_testing;
