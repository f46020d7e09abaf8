# The runtime serves the built Observatory (issue 8; runtime/static.c): index.html and the hashed assets with
# their content types, a strong ETag (If-None-Match → 304), Cache-Control, a strict Content-Security-Policy
# (no inline script: index.html has no inline script or style), nosniff; public (no session); browser
# navigations to client routes get index.html; /api stays JSON (404 for an unknown route, 401 without a
# session); no path leaves web/dist; a missing build is a JSON 404 that says how to build it.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;

my $ROOT = repo_root();
my $DIST = "$ROOT/web/dist";
ok( -f "$DIST/index.html", 'web/dist is built (make web)' ) or BAIL_OUT('web/dist not built');

my $QUIET = { GATEHOUSE_BACKGROUND_VERIFY => 0, GATEHOUSE_ALERTS => 0 };
my $srv  = start_server( env => { %$QUIET, GATEHOUSE_WEB_DIR => $DIST }, auth => 0 );
my $anon = $srv->client;    # no session: the web files are public

my $idx = $anon->get('/');
is( $idx->{status}, 200, 'GET / → 200 without a session' );
like( $idx->{headers}{'content-type'}, qr{^text/html; charset=utf-8}, 'text/html' );
my $csp = $idx->{headers}{'content-security-policy'} // '';
like( $csp, qr/default-src 'self'/, 'CSP default-src self' );
like( $csp, qr/script-src 'self'(?:;|$)/, "CSP script-src 'self' only (no unsafe-inline, no eval)" );
unlike( $csp, qr/unsafe-inline|unsafe-eval|\*/, 'no unsafe-inline, unsafe-eval or wildcard' );
like( $csp, qr/frame-ancestors 'none'/, 'no framing' );
is( $idx->{headers}{'x-content-type-options'}, 'nosniff', 'nosniff' );
is( $idx->{headers}{'cache-control'}, 'no-cache', 'index.html is always revalidated' );
like( $idx->{headers}{etag} // '', qr/^"[0-9a-f]{32}"$/, 'a strong ETag' );
ok( is_hex32( $idx->{headers}{'x-trace-id'} ), 'X-Trace-Id on static answers too' );
unlike( $idx->{content}, qr/<script(?![^>]*\bsrc=)[^>]*>/i, 'index.html has no inline script' );
unlike( $idx->{content}, qr/<style|\sstyle=|\son\w+=/i, 'no inline style or event handler attribute' );

my $again = $anon->get( '/', { 'If-None-Match' => $idx->{headers}{etag} } );
is( $again->{status}, 304, 'If-None-Match with the ETag → 304' );
is( $again->{content}, '', '304 has no body' );
is( $anon->get( '/', { 'If-None-Match' => '"0000"' } )->{status}, 200, 'another ETag → 200' );

my ($js)  = $idx->{content} =~ m{<script type="module" src="(/assets/[^"]+\.js)"};
my ($css) = $idx->{content} =~ m{<link rel="stylesheet" href="(/assets/[^"]+\.css)"};
ok( $js,  "index.html loads the bundle ($js)" );
ok( $css, "and the stylesheet ($css)" );
my $j = $anon->get($js);
is( $j->{status}, 200, 'bundle 200' );
like( $j->{headers}{'content-type'}, qr{^text/javascript}, 'bundle is text/javascript' );
like( $j->{headers}{'cache-control'}, qr/immutable/, 'hashed asset cached as immutable' );
is( length $j->{content}, -s "$DIST$js", 'the bytes of the file' );
like( $anon->get($css)->{headers}{'content-type'}, qr{^text/css}, 'stylesheet is text/css' );

my $deep = $anon->get( '/bots/123', { Accept => 'text/html,application/xhtml+xml' } );
is( $deep->{status}, 200, 'a browser navigation to a client route → index.html' );
is( $deep->{content}, $idx->{content}, 'the same index.html' );

my $api = $anon->get('/api/no-such-route');
is( $api->{status}, 404, '/api/<unknown> is still the JSON 404' );
is( $api->{json}{error_code}, 'NOT_FOUND', 'NOT_FOUND' );
is( $anon->get( '/api/system/status', { Accept => 'text/html' } )->{status}, 401, '/api never falls back to the page: 401 without a session' );

for my $p ( '/assets/../../providers.lua', '/assets/%2e%2e/index.html', '/assets/.hidden', '/assets/x/y.js', '/providers.lua', '/assets/nope.js' ) {
    my $r = $anon->get($p);
    is( $r->{status}, 404, "$p → 404" );
    is( $r->{json}{error_code}, 'NOT_FOUND', "$p → JSON NOT_FOUND" );
}
is( $anon->request( 'POST', '/', { body => {} } )->{status}, 404, 'POST / is not a static answer' );
my $metrics = $anon->get('/metrics')->{content};
like( $metrics, qr{gatehouse_http_requests_total\{route="/assets/:name",method="GET",status="200"\}}, 'metrics: assets under a pattern label' );
like( $metrics, qr{gatehouse_http_requests_total\{route="/",method="GET",status="304"\}}, 'metrics: index (304) under "/"' );
like( $metrics, qr{gatehouse_http_requests_total\{route="unmatched",method="GET",status="404"\}}, 'metrics: a missing file counts as unmatched' );
is( $srv->stop, 0, 'stopped' );

# no build: a JSON 404 saying how to build it
my $none = start_server( env => { %$QUIET, GATEHOUSE_WEB_DIR => "$ROOT/web/no-such-dist" }, auth => 0 );
my $r = $none->client->get('/');
is( $r->{status}, 404, 'no build → 404' );
like( $r->{json}{suggested_fix} // '', qr/make web/, 'the fix says make web' );
is( $none->stop, 0, 'stopped' );

done_testing;
