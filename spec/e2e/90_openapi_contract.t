# The OpenAPI contract (docs/openapi.json): generated from runtime/tools/openapi.mjs and up to date,
# served at /api/openapi.json, and covering exactly the route table of runtime/main.c. (Every response of
# every end-to-end spec is validated against it by the harness — Gatehouse::OpenAPI via
# Gatehouse::Test::Server::request — so a shape change without a document change fails the spec that saw it.)
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use JSON::PP;
use Gatehouse::Test;
use Gatehouse::OpenAPI qw(route_keys validate check_response);

my $root = repo_root();
my $file = "$root/docs/openapi.json";
ok( -f $file, 'docs/openapi.json exists' );
my $doc = JSON::PP->new->decode( read_file($file) );
is( $doc->{openapi}, '3.1.0', 'an OpenAPI 3.1 document' );

# 1. The committed document is what the generator produces.
my ( $gen_exit, $gen_out ) = run_cmd( [ 'node', "$root/runtime/tools/openapi.mjs" ] );
is( $gen_exit, 0, 'the generator runs' );
ok( $gen_out eq read_file($file), 'docs/openapi.json is up to date (run: make openapi)' );

# 2. The document and the route table name the same routes.
my $main = read_file("$root/runtime/main.c");
my %table;    # "METHOD /path" => the access of its row (HTTP_ACCESS_X in runtime/http.h)
my %ACCESS = ( PUBLIC => 'public', SERVICE => 'service', VIEWER => 'viewer', OPERATOR => 'operator',
    OPERATOR_OR_SERVICE => 'operator_or_service', ADMIN => 'admin', OPERATOR_FRESH_2FA => 'operator_2fa' );
while ( $main =~ /\{\s*"(GET|POST|PUT|PATCH|DELETE)"\s*,\s*"([^"]+)"\s*,\s*\w+\s*,\s*HTTP_ACCESS_(\w+)\s*\}/g ) {
    my ( $method, $p, $access ) = ( $1, $2, $3 );
    $p =~ s/:([a-z_]+)/{$1}/g;
    $table{"$method $p"} = $ACCESS{$access} // "unknown HTTP_ACCESS_$access";
}
cmp_ok( scalar keys %table, '>=', 30, 'the route table was read from runtime/main.c' );
my %documented = map { $_ => 1 } route_keys();
my @undocumented = grep { !$documented{$_} } sort keys %table;
my @phantom      = grep { !$table{$_} } sort keys %documented;
is_deeply( \@undocumented, [], 'every route of runtime/main.c is documented in docs/openapi.json' );
is_deeply( \@phantom,      [], 'docs/openapi.json documents no route the server lacks' );

# 3. Every operation names its access and documents a success response.
for my $key ( sort keys %documented ) {
    my ( $m, $p ) = split / /, $key, 2;
    my $op = $doc->{paths}{$p}{ lc $m };
    is( $op->{'x-access'} // '', $table{$key} // '', "$key: x-access is the access of its route row ($table{$key})" )
        if $table{$key};
    ok( ( grep { /\A2\d\d\z/ } keys %{ $op->{responses} } ), "$key documents a 2xx response" );
}

# 4. Served by the runtime, byte for byte.
my $srv = start_server();
my $r   = $srv->get('/api/openapi.json');
is( $r->{status}, 200, 'GET /api/openapi.json is 200' );
like( $r->{headers}{'content-type'} // '', qr{^application/json}, 'served as JSON' );
is( $r->{content}, read_file($file), 'the served document is docs/openapi.json' );

# 5. The validator itself catches what it must (so a silent validator cannot pass the suite).
my @bad = check_response( 'GET', '/api/system/status', { status => 200, headers => { 'content-type' => 'application/json' },
        json => { success => JSON::PP::true, trace_id => 'x' } } );
ok( ( grep {/trace_id/} @bad ),     'a malformed trace id is reported' );
ok( ( grep {/system_status/} @bad ), 'a missing required field is reported' );
my @undoc = check_response( 'GET', '/api/no-such-route', { status => 200, headers => { 'content-type' => 'application/json' }, json => {} } );
like( $undoc[0] // '', qr/undocumented route/, 'a 200 from an undocumented /api route is reported' );
is_deeply( [ check_response( 'GET', '/api/no-such-route', { status => 404, headers => {}, json => undef } ) ], [],
    'the global JSON 404 is not a contract violation' );
my @wrong = check_response( 'GET', '/api/bots', { status => 200, headers => { 'content-type' => 'application/json' },
        json => { success => JSON::PP::true, trace_id => 'a' x 32, bots => [ { id => 1 } ] } } );
ok( ( grep {/bots\[0\]\.id: expected string/} @wrong ), 'a wrong field type inside a list is reported' );

done_testing;
