# The embedded Postgres of `make run`: runtime/tools/pg-embedded.sh keeps data across
# stop/start (also in its fallback location when the directory is out of reach of the
# postgres user), and runtime/tools/run.sh serves without DATABASE_URL.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;
use File::Temp qw(tempdir);
use File::Path qw(remove_tree);

my $pg = pg_embedded();
my @clusters;
at_end( sub { run_cmd( [ $pg, 'destroy', $_ ], timeout => 60 ) for @clusters } );

sub pg { my ( $rc, $out, $err ) = run_cmd( [ $pg, @_ ], env => { GATEHOUSE_PG_FAST => 1 }, timeout => 120 ); chomp $out; return ( $rc, $out, $err ) }

sub keeps_data {
    my ( $dir, $label ) = @_;
    push @clusters, $dir;
    my ( $rc, $url, $err ) = pg( 'start', $dir );
    is( $rc, 0, "$label: start exits 0" ) or diag $err;
    like( $url, qr{^postgresql:///gatehouse\?host=/\S+&user=gatehouse$}, "$label: prints one DATABASE_URL line" );
    my ($st) = pg( 'status', $dir );
    is( $st, 0, "$label: status says running" );
    my ( undef, $url2 ) = pg( 'url', $dir );
    is( $url2, $url, "$label: url prints the same URL" );
    psql_rows( $url, 'CREATE TABLE kept (v text); INSERT INTO kept VALUES ($1)', "row-$label" );

    my ( $rc2, $again ) = pg( 'start', $dir );
    is_deeply( [ $rc2, $again ], [ 0, $url ], "$label: start while running reuses the cluster" );

    is( ( pg( 'stop', $dir ) )[0], 0, "$label: stop exits 0" );
    isnt( ( pg( 'status', $dir ) )[0], 0, "$label: status says stopped" );
    is( ( pg( 'stop', $dir ) )[0], 0, "$label: stop when stopped is fine" );

    my ( $rc3, $url3 ) = pg( 'start', $dir );
    is( $rc3, 0, "$label: start again" );
    is( $url3, $url, "$label: same URL" );
    is_deeply( [ psql_rows( $url3, 'SELECT v FROM kept' ) ], [ ["row-$label"] ], "$label: the row survived stop/start" );
    my ($sock) = $url =~ /host=([^&]+)/;
    my $mode = ( stat $sock )[2] & 07777;
    is( sprintf( '%o', $mode ), '700', "$label: socket directory is 0700" );
    is( ( pg( 'stop', $dir ) )[0], 0, "$label: stop" );
    return $url;
}

# ---- a directory the postgres user can reach ----
my $top = tempdir( 'gh-embed-XXXXXX', TMPDIR => 1, CLEANUP => 1 );
chmod 0711, $top;
my $url = keeps_data( "$top/var", 'reachable dir' );
like( $url, qr{host=\Q$top\E/var/pgsock}, 'the socket lives in DIR/pgsock' );
ok( -f "$top/var/pg.log", 'the log is DIR/pg.log' );

# ---- with a TCP port ----
my $port = free_port();
my ( $rc, $purl ) = pg( 'start', "$top/var", '--port', $port );
is( $rc, 0, '--port: start' );
like( $purl, qr{&port=$port$}, '--port: the URL names the port' );
my $tcp = IO::Socket::INET->new( PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 2 );
ok( $tcp, '--port: listens on 127.0.0.1' );
close $tcp if $tcp;
is_deeply( [ psql_rows( $purl, 'SELECT v FROM kept' ) ], [ ['row-reachable dir'] ], '--port: same data' );
pg( 'stop', "$top/var" );

# ---- as root, a directory the postgres user cannot enter: fallback location ----
SKIP: {
    skip 'fallback location is for root', 8 unless $> == 0;
    my $closed = tempdir( 'gh-closed-XXXXXX', TMPDIR => 1, CLEANUP => 1 );
    chmod 0700, $closed;
    my ( $rc0, undef, $err0 ) = pg( 'start', "$closed/var" );
    like( $err0, qr{/var/tmp/gatehouse-pg-}, 'says on stderr where the cluster went' );
    pg( 'stop', "$closed/var" );
    my $furl = keeps_data( "$closed/var", 'unreachable dir' );
    like( $furl, qr{host=/var/tmp/gatehouse-pg-[0-9a-f]+/pgsock}, 'fallback cluster under /var/tmp' );
}

# ---- run.sh: serve without DATABASE_URL ----
my $var = "$top/runvar";
push @clusters, $var;
my $srv = start_server(
    cmd     => ['runtime/tools/run.sh'],
    db      => undef,
    env     => { GATEHOUSE_VAR => $var, GATEHOUSE_PG_FAST => 1, GATEHOUSE_BIN => gatehouse_bin() },
    timeout => 60,
);
# the first readiness ping lands shortly after the listener opens (later under ASan)
my $ready = wait_for( sub { my $r = $srv->get( $GH{readyz} ); $r->{status} == 200 ? $r : undef }, 10, 'ready' )
  || $srv->get( $GH{readyz} );
is( $ready->{status}, 200, 'run.sh without DATABASE_URL: /readyz is 200' );
ok( $ready->{json}{db}{reachable}, 'run.sh: the embedded database is reachable' );
ok( -d "$var/pgdata" || -f "$var/pg.location", 'run.sh put the cluster under GATEHOUSE_VAR' );
is( $srv->stop, 0, 'run.sh: SIGTERM stops the server with status 0' );
is( ( pg( 'status', $var ) )[0], 0, 'the embedded cluster keeps running after the server stops' );
is( ( pg( 'stop', $var ) )[0], 0, 'and stops with pg-embedded.sh stop' );

done_testing;
