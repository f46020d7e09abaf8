# /healthz and /readyz: liveness, readiness with a reachable DB and loaded policies,
# the JSON envelope, one log line per request, readiness following the database.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;

my $srv = start_server();

my $h = $srv->get( $GH{healthz} );
is( $h->{status}, 200, 'GET /healthz is 200' );
envelope_ok( $h, 'healthz', success => 1 );
is( $h->{json}{status}, 'ok', 'healthz status is "ok"' );
like( $h->{headers}{'content-type'} // '', qr{^application/json}i, 'healthz is JSON' );

my $h2 = $srv->get( $GH{healthz} );
isnt( $h2->{json}{trace_id}, $h->{json}{trace_id}, 'each request gets its own trace id' );

my $r = $srv->get( $GH{readyz} );
is( $r->{status}, 200, 'GET /readyz is 200 with DB up and policies loaded' );
envelope_ok( $r, 'readyz', success => 1 );
my $j = $r->{json};
ok( json_bool( $j->{ready} ) && $j->{ready}, 'ready is JSON true' );
ok( json_bool( $j->{db}{reachable} ) && $j->{db}{reachable}, 'db.reachable is true' );
my $p = $j->{policy} || {};
ok( json_bool( $p->{loaded} ) && $p->{loaded}, 'policy.loaded is true' );
ok( defined $p->{version} && !ref $p->{version} && length $p->{version}, 'policy.version is a non-empty string' );
like( $p->{loaded_at} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/, 'policy.loaded_at is RFC 3339' );
is( ref $p->{files}, 'ARRAY', 'policy.files is an array' );
ok( ( grep { /(^|\/)providers\.lua$/ } map { ref $_ eq 'HASH' ? ( $_->{path} // $_->{name} // '' ) : $_ } @{ $p->{files} || [] } ),
    'policy.files names providers.lua' );
ok( exists $p->{last_reload_error} && !defined $p->{last_reload_error}, 'policy.last_reload_error is null' );

# One log line per request, carrying the request's trace id.
ok( wait_for( sub { scalar $srv->log_records( msg => $GH{log_request}, trace_id => $h->{json}{trace_id} ) }, 5,
        'request log line' ), 'the healthz request was logged with its trace id' );
my ($line) = $srv->log_records( msg => $GH{log_request}, trace_id => $r->{json}{trace_id} );
ok( $line, 'the readyz request was logged' );
is( $line->{method}, 'GET',           'request log line: method' );
is( $line->{path},   $GH{readyz},     'request log line: path' );
is( $line->{status}, 200,             'request log line: status' );
like( $line->{ms} // '', qr/^\d+(\.\d+)?$/, 'request log line: ms is a number' );
like( $line->{ts} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/, 'request log line: RFC 3339 ts' );
is( $line->{level}, 'info', 'request log line: level=info' );
my @bad = grep { !/\bts=\S+ .*\blevel=\w+/ } grep { /\S/ } $srv->log_lines;
is_deeply( \@bad, [], 'every log line is a key=value line with ts and level' );

# Readiness follows the database: refuse new connections to this database and cut
# the existing ones, and /readyz turns 503 while /healthz stays 200.
my ($dbname) = $srv->db =~ m{:///([^?]+)};
my $admin = db_url_for( $srv->db, 'postgres' );
psql_rows( $admin, qq{ALTER DATABASE "$dbname" WITH ALLOW_CONNECTIONS false} );
psql_rows( $admin, q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1}, $dbname );
my $down = wait_for( sub { my $x = $srv->get( $GH{readyz} ); $x->{status} == 503 ? $x : undef }, 15, 'readyz 503' );
ok( $down, '/readyz is 503 once the database is unreachable' );
if ($down) {
    envelope_ok( $down, 'readyz (db down)' );
    ok( !$down->{json}{ready}, 'ready is false' );
    ok( !$down->{json}{db}{reachable}, 'db.reachable is false' );
}
is( $srv->get( $GH{healthz} )->{status}, 200, '/healthz stays 200 while the database is down' );

psql_rows( $admin, qq{ALTER DATABASE "$dbname" WITH ALLOW_CONNECTIONS true} );
ok( wait_for( sub { $srv->get( $GH{readyz} )->{status} == 200 }, 20, 'readyz back to 200' ),
    '/readyz is 200 again when the database is back' );

is( $srv->stop, 0, 'SIGTERM: exit status 0' );
ok( scalar $srv->log_records( level => 'info', msg => $GH{log_stopped} ), 'a clean stop is logged' );

done_testing;
