# Issue 21 (red team, Medium): the sign-in limiter evicted active bans when its 4096-slot table filled —
# 4,200 2fa/verify failures from different addresses lifted a ban in 1.3 s. Now an active ban is never
# evicted (the least recently used counter without a ban is), and when every slot holds a ban a new key is
# refused with 429 (fail closed) until a ban ends.
#
# Distinct client addresses: every address of 127.0.0.0/8 is local on Linux, so the flood binds its
# sockets to 127.0.x.y (the limiter keys on the peer address).
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;
use IO::Socket::INET;
use JSON::PP;
use Time::HiRes qw(time);

my $QUIET = { GATEHOUSE_BACKGROUND_VERIFY => 0, GATEHOUSE_ALERTS => 0 };
my $PW    = $GH{admin_password};
my $JSON  = JSON::PP->new->canonical;

# post_from($srv, $local_ip, $path, \%body) → (status, headers text, decoded body): one request from that address
sub post_from {
    my ( $srv, $ip, $path, $body ) = @_;
    my $b = $JSON->encode($body);
    my $r = raw_http( $srv->port, "POST $path HTTP/1.1\r\nHost: 127.0.0.1:" . $srv->port . "\r\nContent-Type: application/json\r\n"
          . "Content-Length: " . length($b) . "\r\nConnection: close\r\n\r\n$b", local_addr => $ip );
    return ( $r->{status}, $r->{head}, $r->{json} // {} );
}

my $BAD_VERIFY = { temp_token => 'x' x 10, code => '123456' };    # malformed temp token: a failure per address
sub flood_addr { my $i = shift; sprintf '127.0.%d.%d', 1 + int( $i / 250 ), 1 + $i % 250 }

# ---------------------------------------------------------------- bans survive a full table
my $srv = start_server( env => { %$QUIET, GATEHOUSE_AUTH_BAN_S => 600, GATEHOUSE_AUTH_WINDOW_S => 600 } );
my ($st) = post_from( $srv, '127.0.0.2', '/api/auth/2fa/verify', $BAD_VERIFY );
is( $st, 401, 'a bad 2fa/verify from 127.0.0.2 is a failure' );
post_from( $srv, '127.0.0.2', '/api/auth/2fa/verify', $BAD_VERIFY ) for 2 .. 5;
($st) = post_from( $srv, '127.0.0.2', '/api/auth/2fa/verify', $BAD_VERIFY );
is( $st, 429, 'five failures: the address 127.0.0.2 is banned' );
# the account: five wrong passwords from another address ban user:admin (and that address)
post_from( $srv, '127.0.0.3', '/api/auth/login', { username => 'admin', password => "wrong-password-$_" } ) for 1 .. 5;
($st) = post_from( $srv, '127.0.0.4', '/api/auth/login', { username => 'admin', password => $PW } );
is( $st, 429, 'five wrong passwords: the account admin is banned (even the right password from a new address)' );

my ( $t0, %seen ) = (time);
for my $i ( 0 .. 4199 ) { my ($s) = post_from( $srv, flood_addr($i), '/api/auth/2fa/verify', $BAD_VERIFY ); $seen{$s}++ }
my $took = time - $t0;
note sprintf 'flood: 4,200 failures from 4,200 addresses in %.1f s (%s)', $took, join ', ', map {"$_ x$seen{$_}"} sort keys %seen;
is( $seen{401} // 0, 4200, '4,200 failures from 4,200 distinct addresses, each counted (401)' );

my ( $s2, $h2, $j2 ) = post_from( $srv, '127.0.0.2', '/api/auth/2fa/verify', $BAD_VERIFY );
is( $s2, 429, 'the IP ban of 127.0.0.2 still holds after the flood' );
is( $j2->{error_code}, 'RATE_LIMITED', 'RATE_LIMITED' );
like( $h2, qr/^Retry-After: \d+/mi, 'with Retry-After' );
($st) = post_from( $srv, '127.0.0.5', '/api/auth/login', { username => 'admin', password => $PW } );
is( $st, 429, 'the account ban of admin still holds after the flood' );
is( $srv->stop, 0, 'stopped' );

# ---------------------------------------------------------------- a table full of bans fails closed
$srv = start_server( env => { %$QUIET, GATEHOUSE_AUTH_MAX_FAILURES => 1, GATEHOUSE_AUTH_BAN_S => 600 } );
%seen = ();
for my $i ( 0 .. 4099 ) { my ($s) = post_from( $srv, flood_addr($i), '/api/auth/2fa/verify', $BAD_VERIFY ); $seen{$s}++ }
note 'every failure bans its address: ' . join ', ', map {"$_ x$seen{$_}"} sort keys %seen;
( $st, my $h ) = post_from( $srv, flood_addr(0), '/api/auth/2fa/verify', $BAD_VERIFY );
is( $st, 429, 'the first banned address is still banned' );
( $st, $h, my $j ) = post_from( $srv, '127.0.200.1', '/api/auth/2fa/verify', $BAD_VERIFY );
is( $st, 429, 'with every slot holding a ban, a new address is refused (fail closed)' );
is( $j->{error_code}, 'RATE_LIMITED', 'RATE_LIMITED' );
like( $h, qr/^Retry-After: \d+/mi, 'with Retry-After' );
is( $srv->stop, 0, 'stopped' );

done_testing;
