# HTTP transport hardening (issue 21), with raw sockets:
# - an unknown method (BREW) or a method no route serves (TRACE) gets the JSON envelope (501 NOT_IMPLEMENTED /
#   405 METHOD_NOT_ALLOWED), never libevent's HTML page;
# - request headers above GATEHOUSE_MAX_HEADER_BYTES (default 16 KiB; e.g. one 20 kB header) get 431
#   HEADERS_TOO_LARGE as JSON;
# - a slow sender (headers one byte per second) is dropped within GATEHOUSE_READ_TIMEOUT_S (+ 1 s) and /healthz
#   keeps answering meanwhile; so is a body that trickles.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;
use IO::Socket::INET;
use IO::Select;
use POSIX ();
use JSON::PP;
use Time::HiRes qw(time sleep);

my $JSON = JSON::PP->new->utf8->canonical;

sub raw { my ( $srv, $text ) = @_; raw_http( $srv->port, $text ) }

sub json_error {
    my ( $r, $status, $code, $desc ) = @_;
    is( $r->{status}, $status, "$desc: HTTP $status" );
    like( $r->{headers}{'content-type'} // '', qr{application/json}, "$desc: JSON" );
    unlike( $r->{content}, qr/<html/i, "$desc: no HTML page" );
    is( ref $r->{json} eq 'HASH' && $r->{json}{error_code}, $code, "$desc: $code" );
    ok( ref $r->{json} eq 'HASH' && is_hex32( $r->{json}{trace_id} ), "$desc: trace_id" );
}

my $srv  = start_server( env => { GATEHOUSE_BACKGROUND_VERIFY => 0, GATEHOUSE_ALERTS => 0, GATEHOUSE_READ_TIMEOUT_S => 3 } );
my $host = "Host: 127.0.0.1:" . $srv->port . "\r\nConnection: close\r\n";

subtest 'unknown and unserved methods get the JSON envelope' => sub {
    json_error( raw( $srv, "BREW / HTTP/1.1\r\n$host\r\n" ), 501, 'NOT_IMPLEMENTED', 'BREW /' );
    json_error( raw( $srv, "BREW /healthz HTTP/1.1\r\n$host\r\n" ), 501, 'NOT_IMPLEMENTED', 'BREW /healthz' );
    my $t = raw( $srv, "TRACE /healthz HTTP/1.1\r\n$host\r\n" );
    json_error( $t, 405, 'METHOD_NOT_ALLOWED', 'TRACE /healthz' );
    like( $t->{headers}{allow} // '', qr/\bGET\b/, 'TRACE: Allow names GET' );
};

subtest 'oversized headers get 431 as JSON' => sub {
    my $big = 'a' x 20000;
    json_error( raw( $srv, "GET /healthz HTTP/1.1\r\n${host}X-Big: $big\r\n\r\n" ), 431, 'HEADERS_TOO_LARGE', 'one 20 kB header' );
    my $many = join '', map { "X-H$_: " . ( 'b' x 100 ) . "\r\n" } 1 .. 200;
    json_error( raw( $srv, "GET /healthz HTTP/1.1\r\n$host$many\r\n" ), 431, 'HEADERS_TOO_LARGE', '200 headers of 100 bytes' );
    is( raw( $srv, "GET /healthz HTTP/1.1\r\n${host}X-Ok: " . ( 'c' x 8000 ) . "\r\n\r\n" )->{status}, 200, 'an 8 kB header is fine' );
};

# trickle($text, $every_s) → seconds until the server closed the connection (undef when it never did within 20 s)
sub trickle {
    my ( $text, $every ) = @_;
    my $s = IO::Socket::INET->new( PeerAddr => '127.0.0.1', PeerPort => $srv->port, Timeout => 5 ) or die "connect: $!";
    my $sel = IO::Select->new($s);
    my $t0  = time;
    my $i   = 0;
    local $SIG{PIPE} = 'IGNORE';
    while ( time - $t0 < 20 ) {
        if ( $i < length $text ) { syswrite( $s, substr( $text, $i++, 1 ) ) // return time - $t0 }
        if ( $sel->can_read($every) ) {
            my $n = sysread( $s, my $buf, 4096 );
            return time - $t0 if !$n;    # closed (an answer before the close is fine too)
        }
    }
    return undef;
}

subtest 'slow senders are dropped within the read timeout; /healthz keeps answering' => sub {
    my $pid = fork // die "fork: $!";
    if ( !$pid ) {
        my $t = trickle( "GET /healthz HTTP/1.1\r\n${host}X-Slow: " . ( 'd' x 100 ) . "\r\n\r\n", 1 );
        print STDERR '# headers at 1 byte/s: closed after ' . ( defined $t ? sprintf( '%.2f', $t ) : 'never' ) . " s\n";
        POSIX::_exit( defined $t && $t <= 4.5 ? 0 : 1 );    # never the harness's END (it stops the servers)
    }
    my $healthy = 0;
    for ( 1 .. 10 ) { $healthy++ if $srv->get('/healthz')->{status} == 200; sleep 0.1 }
    is( $healthy, 10, '/healthz answers while a header trickles' );
    waitpid( $pid, 0 );
    is( $? >> 8, 0, 'headers at one byte a second: closed within 3 s + 1.5 s' );
    my $body = '{"reason":"' . ( 'e' x 100 ) . '"}';
    my $t = trickle( "POST /api/policy/reload HTTP/1.1\r\n${host}Content-Type: application/json\r\nContent-Length: "
          . length($body) . "\r\n\r\n" . $body, 0.5 );
    ok( defined $t && $t <= 4.5, 'a body at two bytes a second: closed within the bound (' . ( $t // 'never' ) . ' s)' );
    is( $srv->get('/healthz')->{status}, 200, '/healthz still answers' );
};

is( $srv->stop, 0, 'stopped' );
done_testing;
