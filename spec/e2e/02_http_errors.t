# HTTP errors: every failure is a JSON envelope with error_code, reason_human and a
# 32-hex trace id (also in X-Trace-Id) — never an HTML page, never a crash.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;

my $LIMIT = 1024;
my $srv = start_server( env => { $GH{env_max_body} => $LIMIT } );
my $reload = $GH{policy_reload};

# --- unknown routes ---
for my $path ( '/nope', '/api/nope/deeper', '/api/integrations/status/extra', '/healthz/' . ( 'x' x 300 ) ) {
    my $r = $srv->get($path);
    error_ok( $r, 404, 'NOT_FOUND', 'GET ' . substr( $path, 0, 40 ) );
    unlike( $r->{content}, qr/<html/i, 'no HTML error page' );
}
error_ok( $srv->request( 'POST', '/api/nope', { body => {} } ), 404, 'NOT_FOUND', 'POST to an unknown route' );

# --- known path, wrong method ---
for my $case ( [ 'DELETE', $GH{healthz}, 'GET' ], [ 'POST', $GH{readyz}, 'GET' ], [ 'PUT', $GH{status}, 'GET' ],
    [ 'GET', $reload, 'POST' ] )
{
    my ( $method, $path, $allowed ) = @$case;
    my $r = $srv->request( $method, $path, {} );
    error_ok( $r, 405, 'METHOD_NOT_ALLOWED', "$method $path" );
    like( $r->{headers}{allow} // '', qr/\b\Q$allowed\E\b/, "$method $path: Allow header names $allowed" );
}

# --- request bodies on POST /api/policy/reload ---
my $ok = $srv->post( $reload, undef );
is( $ok->{status}, 200, 'reload without a body is 200' );
envelope_ok( $ok, 'reload without a body', success => 1 );

$ok = $srv->post( $reload, { reason => 'spec', unknown_field => [ 1, 2 ] } );
is( $ok->{status}, 200, 'unknown fields are ignored' );
envelope_ok( $ok, 'reload with an unknown field', success => 1 );

for my $bad ( '{bad', '{"reason": "x",}', "\x00\x01", '{"reason": "unterminated' ) {
    my $r = $srv->post( $reload, $bad );
    error_ok( $r, 400, 'INVALID_JSON', 'malformed JSON ' . ( $bad =~ s/[^ -~]/?/gr ) );
}

my $arr = $srv->post( $reload, '[1, 2]' );
is( $arr->{status}, 400, 'a JSON array body is rejected with 400' );
like( $arr->{json}{error_code} // '', qr/^(VALIDATION_FAILED|INVALID_JSON)$/, 'array body: VALIDATION_FAILED or INVALID_JSON' );

for my $v ( 5, [], { a => 1 }, JSON::PP::true ) {
    my $r = $srv->post( $reload, { reason => $v } );
    error_ok( $r, 400, 'VALIDATION_FAILED', 'reason of type ' . ( ref $v || 'number' ) );
    my $j = $r->{json} || {};
    my $names = ( ( $j->{field} // '' ) eq 'reason' )
      || ( ref $j->{fields} eq 'ARRAY' && grep { ( ref $_ ? $_->{field} // '' : $_ ) eq 'reason' } @{ $j->{fields} } )
      || ( ( $j->{reason_human} // '' ) =~ /\breason\b/ );
    ok( $names, 'the error names the field "reason"' ) or diag explain $j;
}

# --- body size limit ---
my $just = '{"reason":"' . ( 'a' x ( $LIMIT - 14 ) ) . '"}';
is( length $just, $LIMIT - 1, 'a body just under the limit ...' );
my $r = $srv->post( $reload, $just );
is( $r->{status}, 200, '... is accepted' );

my $big = '{"reason":"' . ( 'b' x ( 4 * $LIMIT ) ) . '"}';
$r = $srv->post( $reload, $big );
error_ok( $r, 413, 'PAYLOAD_TOO_LARGE', "a ${\ length $big}-byte body over a $LIMIT-byte limit" );

# the same over the limit even when the body is not JSON at all
$r = $srv->post( $reload, 'z' x ( 2 * $LIMIT ) );
error_ok( $r, 413, 'PAYLOAD_TOO_LARGE', 'an oversized non-JSON body' );

# --- the server is still fine, and errors were logged with their status ---
is( $srv->get( $GH{healthz} )->{status}, 200, 'still healthy after all the errors' );
my @logged = map { $_->{status} } $srv->log_records( msg => $GH{log_request} );
for my $code ( 404, 405, 400, 413 ) {
    ok( ( grep { $_ eq $code } @logged ), "a $code request was logged" );
}
is( $srv->stop, 0, 'SIGTERM: exit status 0' );

done_testing;
