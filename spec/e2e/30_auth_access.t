# Access control on every route (issue 7): the route table of runtime/main.c walked unauthenticated (every
# non-public route → 401 UNAUTHENTICATED JSON), the service token, roles (viewer / operator / admin),
# the CSRF Origin check, and registration closing after the first user. Real server, real Postgres, the
# provider simulator for a bot that can really start.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;
use Gatehouse::Sim;
use Gatehouse::Fixtures;

my $QUIET = { GATEHOUSE_BACKGROUND_VERIFY => 0, GATEHOUSE_ALERTS => 0 };
my $UUID  = '0b5e7c1a-3f2d-4e6b-9a8c-1d2e3f4a5b6c';

# [method, pattern, access] of every route of runtime/main.c
my @ROUTES;
{
    my $src = read_file( repo_root() . '/runtime/main.c' );
    while ( $src =~ /\{"(GET|POST|PUT|PATCH|DELETE)", "([^"]+)", \w+, HTTP_ACCESS_(\w+)\}/g ) { push @ROUTES, [ $1, $2, $3 ] }
}
cmp_ok( scalar @ROUTES, '>=', 45, 'the route table has ' . scalar(@ROUTES) . ' routes, each with an access' );
ok( !( grep { $_->[2] eq 'UNSET' } @ROUTES ), 'no route has access UNSET' );
my %PUBLIC = map { ( "$_->[0] $_->[1]" => 1 ) } grep { $_->[2] eq 'PUBLIC' } @ROUTES;
is_deeply( [ sort keys %PUBLIC ],
    [ sort 'GET /healthz', 'GET /readyz', 'GET /metrics', 'GET /api/openapi.json', 'POST /api/auth/register', 'POST /api/auth/login', 'POST /api/auth/2fa/verify' ],
    'public routes: health, readiness, metrics, the OpenAPI document, register, login, 2fa/verify — nothing else' );

my $docs = read_file( repo_root() . '/docs/api.md' );
for my $r (@ROUTES) {
    my ( $m, $p, $a ) = @$r;
    my $w = access_word($a);
    ok( $docs =~ /^\|\s*\Q$m\E\s*\|\s*`\Q$p\E`\s*\|\s*\Q$w\E\s*\|/m, "docs/api.md \"Access\" lists $m $p as $w" );
}

sub access_word {
    my %w = ( PUBLIC => 'public', SERVICE => 'service token', VIEWER => 'viewer', OPERATOR => 'operator',
              OPERATOR_OR_SERVICE => 'operator or service token', ADMIN => 'admin', OPERATOR_FRESH_2FA => 'operator + fresh 2FA' );
    return $w{ $_[0] } // $_[0];
}

subtest 'every non-public route without a session: 401 UNAUTHENTICATED JSON' => sub {
    my $srv = start_server( env => $QUIET, auth => 0 );
    for my $r (@ROUTES) {
        my ( $m, $p, $a ) = @$r;
        ( my $path = $p ) =~ s/:id/$UUID/g;
        my $res = $srv->request( $m, $path, { body => ( $m eq 'GET' || $m eq 'DELETE' ? undef : {} ) } );
        if ( $a eq 'PUBLIC' ) {
            isnt( $res->{status}, 401, "$m $p is public" );
            next;
        }
        error_ok( $res, 401, 'UNAUTHENTICATED', "$m $p ($a)" );
    }
    # a forged or stale cookie is no session either
    $srv->jar->set( gh_session => 'A' x 43 );
    error_ok( $srv->get('/api/bots'), 401, 'UNAUTHENTICATED', 'unknown session cookie' );
    $srv->jar->set( gh_session => 'not-a-token' );
    error_ok( $srv->get('/api/bots'), 401, 'UNAUTHENTICATED', 'malformed session cookie' );
    is( $srv->stop, 0, 'stopped' );
};

subtest 'service token: runner routes only' => sub {
    my $srv = start_server( env => $QUIET, auth => 0 );
    my $svc = $srv->service_headers;
    my $r = $srv->post( '/api/telemetry/usage-events', { events => [] }, $svc );
    is( $r->{status}, 400, 'usage-events with the token reaches the handler (400 for an empty list)' );
    $r = $srv->post( '/api/telemetry/usage-events', { events => [] }, { %$svc, Origin => 'http://evil.example' } );
    is( $r->{status}, 400, 'service-token requests are exempt from the Origin check' );
    error_ok( $srv->post( '/api/telemetry/usage-events', { events => [] }, { Authorization => 'Bearer wrong' } ), 401,
        'UNAUTHENTICATED', 'a wrong token' );
    isnt( $srv->post( "/api/bots/$UUID/tick", undef, $svc )->{status}, 401, 'tick accepts the service token' );
    error_ok( $srv->get( '/api/bots', $svc ), 401, 'UNAUTHENTICATED', 'the token is not a session for GET /api/bots' );
    error_ok( $srv->post( "/api/bots/$UUID/start", undef, $svc ), 401, 'UNAUTHENTICATED', 'nor for start' );
    is( $srv->stop, 0, 'stopped' );
};

subtest 'roles: viewer reads, operator runs bots, admin manages users and the switch' => sub {
    my $sim = Gatehouse::Sim::start_sim( quiet => 1 );
    my $env = { %{ $sim->base_env( only => [qw(databento polygon)] ) }, %$QUIET };
    my $srv = start_server( env => $env, home => fixture_home(), clock => AT_OPEN );
    my $me  = $srv->get('/api/auth/me');
    is( $me->{json}{user}{role}, 'admin', 'the first (registered) user is admin' );
    is( $srv->post( '/api/integrations/verify', { all => \1 } )->{status}, 200, 'admin verifies' );

    my %pw = ( viewer => 'viewer-password-123', operator => 'operator-password-123' );
    for my $role (qw(viewer operator)) {
        my $r = $srv->post( '/api/users', { username => "the-$role", password => $pw{$role}, role => $role } );
        is( $r->{status}, 201, "admin creates a $role" );
        is( $r->{json}{user}{role}, $role, 'with that role' );
        ok( !exists $r->{json}{user}{password_hash}, 'no password hash in the answer' );
    }
    my $users = $srv->get('/api/users')->{json}{users};
    is( scalar @$users, 3, 'GET /api/users lists 3 users' );
    my %id = map { $_->{username} => $_->{id} } @$users;
    error_ok( $srv->post( '/api/users', { username => 'the-viewer', password => 'another-pass-1234', role => 'viewer' } ), 409,
        'VALIDATION_FAILED', 'a taken username' );
    error_ok( $srv->post( '/api/users', { username => 'x', password => 'short', role => 'viewer' } ), 400, 'VALIDATION_FAILED',
        'a password under 12 characters' );
    error_ok( $srv->post( '/api/users', { username => 'y', password => 'long-enough-pw', role => 'god' } ), 400,
        'VALIDATION_FAILED', 'an unknown role' );

    my $bot = $srv->post( '/api/bots', { name => 'rb', strategy => 'flip', symbol => 'ESZ6', timeframe => '1m' } )->{json}{bot}{id};
    ok( $bot, 'a bot' );

    my $viewer = $srv->client;
    is( $viewer->login( 'the-viewer', $pw{viewer} )->{status}, 200, 'viewer signs in' );
    is( $viewer->get('/api/bots')->{status}, 200, 'viewer: GET /api/bots' );
    is( $viewer->get('/api/system/status')->{status}, 200, 'viewer: GET /api/system/status' );
    is( $viewer->get("/api/bots/$bot")->{status}, 200, 'viewer: GET /api/bots/:id' );
    my $f = $viewer->post( '/api/integrations/verify', { provider_id => 'databento' } );
    error_ok( $f, 403, 'FORBIDDEN', 'viewer: verify' );
    is_deeply( [ $f->{json}{role}, $f->{json}{required_role} ], [ 'viewer', 'operator' ], 'names the role and the one needed' );
    error_ok( $viewer->post("/api/bots/$bot/start"), 403, 'FORBIDDEN', 'viewer: start' );
    error_ok( $viewer->post( '/api/bots', { name => 'v' } ), 403, 'FORBIDDEN', 'viewer: create a bot' );
    error_ok( $viewer->get('/api/users'), 403, 'FORBIDDEN', 'viewer: list users' );
    error_ok( $viewer->request( 'PUT', '/api/settings/trading', { body => { enabled => \0 } } ), 403, 'FORBIDDEN', 'viewer: trading switch' );
    is( $viewer->get('/api/auth/me')->{json}{user}{username}, 'the-viewer', 'viewer: /me' );

    my $op = $srv->client;
    is( $op->login( 'the-operator', $pw{operator} )->{status}, 200, 'operator signs in' );
    my $st = $op->post("/api/bots/$bot/start");
    is( $st->{status}, 200, 'operator: start' ) or diag $st->{content};
    is( $st->{json}{state}, 'RUNNING', 'the bot runs' );
    is( $op->post("/api/bots/$bot/stop")->{status}, 200, 'operator: stop' );
    is( $op->post( '/api/integrations/verify', { provider_id => 'databento' } )->{status}, 200, 'operator: verify' );
    error_ok( $op->get('/api/users'), 403, 'FORBIDDEN', 'operator: list users' );
    error_ok( $op->post( '/api/users', { username => 'z', password => 'long-enough-pw', role => 'admin' } ), 403, 'FORBIDDEN',
        'operator: create a user' );
    error_ok( $op->request( 'PATCH', "/api/users/$id{'the-operator'}", { body => { role => 'admin' } } ), 403, 'FORBIDDEN',
        'operator: promote itself' );
    error_ok( $op->request( 'PUT', '/api/settings/trading', { body => { enabled => \0 } } ), 403, 'FORBIDDEN', 'operator: trading switch' );
    error_ok( $op->post('/api/policy/reload'), 403, 'FORBIDDEN', 'operator: policy reload' );

    # admin changes a role: it applies at the operator's next request
    my $p = $srv->request( 'PATCH', "/api/users/$id{'the-operator'}", { body => { role => 'viewer' } } );
    is( $p->{json}{user}{role}, 'viewer', 'admin demotes the operator' );
    error_ok( $op->post("/api/bots/$bot/start"), 403, 'FORBIDDEN', 'the demoted user cannot start any more' );
    # disabling ends the user's sessions
    is( $srv->request( 'PATCH', "/api/users/$id{'the-viewer'}", { body => { disabled => \1 } } )->{json}{user}{disabled}, 1,
        'admin disables the viewer' );
    error_ok( $viewer->get('/api/bots'), 401, 'UNAUTHENTICATED', 'the disabled user is signed out' );
    error_ok( $viewer->login( 'the-viewer', $pw{viewer} ), 401, 'UNAUTHENTICATED', 'and cannot sign in' );
    # the last admin cannot be demoted or disabled
    error_ok( $srv->request( 'PATCH', "/api/users/$id{admin}", { body => { role => 'operator' } } ), 409, 'VALIDATION_FAILED',
        'demoting the last admin' );
    error_ok( $srv->request( 'PATCH', "/api/users/$id{admin}", { body => { disabled => \1 } } ), 409, 'VALIDATION_FAILED',
        'disabling the last admin' );
    error_ok( $srv->request( 'PATCH', "/api/users/$UUID", { body => { role => 'viewer' } } ), 404, 'NOT_FOUND', 'unknown user' );
    my @ev = psql_rows( $srv->db, q{SELECT kind FROM system_events WHERE kind LIKE 'auth.%' ORDER BY id} );
    ok( ( grep { $_->[0] eq 'auth.user_created' } @ev ) == 2, 'user creations are system events' );
    is( $srv->stop, 0, 'stopped' );
};

subtest 'CSRF: state-changing requests with a session need this server\'s Origin' => sub {
    my $srv = start_server( env => $QUIET );
    my $body = { name => 'csrf', strategy => 'sma_cross', symbol => 'ESZ6', timeframe => '1m' };
    my $r = $srv->post( '/api/bots', $body, { Origin => 'http://evil.example' } );
    error_ok( $r, 403, 'FORBIDDEN', 'cross-origin POST' );
    is( $r->{json}{check}, 'origin', 'the answer names the Origin check' );
    like( $r->{json}{reason_human}, qr/Origin/, 'reason_human names the Origin check' );
    error_ok( $srv->post( '/api/bots', $body, { Origin => undef } ), 403, 'FORBIDDEN', 'POST without Origin' );
    error_ok( $srv->request( 'PUT', '/api/settings/trading', { body => { enabled => \0 }, headers => { Origin => 'null' } } ), 403,
        'FORBIDDEN', 'PUT with Origin: null' );
    error_ok( $srv->post( '/api/auth/logout', undef, { Origin => 'https://127.0.0.1:' . $srv->port } ), 403, 'FORBIDDEN',
        'https origin while served over http' );
    is( scalar psql_rows( $srv->db, q{SELECT 1 FROM bots WHERE name = 'csrf'} ), 0, 'nothing was created' );
    is( $srv->post( '/api/bots', $body )->{status}, 201, 'same-origin POST works' );
    is( $srv->get('/api/bots')->{status}, 200, 'GET needs no Origin' );
    # a cross-site login form post (login CSRF) is refused too
    error_ok( $srv->client->post( '/api/auth/login', { username => 'admin', password => 'x' x 12 }, { Origin => 'http://evil.example' } ),
        403, 'FORBIDDEN', 'cross-origin login' );
    is( $srv->stop, 0, 'stopped' );
};

subtest 'registration: only the first user, then 403' => sub {
    my $srv = start_server( env => $QUIET, auth => 0 );
    error_ok( $srv->post( '/api/auth/register', { username => 'first', password => 'short' } ), 400, 'VALIDATION_FAILED',
        'a password under 12 characters' );
    error_ok( $srv->post( '/api/auth/register', { username => 'bad name', password => 'long-enough-pw' } ), 400,
        'VALIDATION_FAILED', 'a username with a space' );
    my $r = $srv->post( '/api/auth/register', { username => 'First', password => 'long-enough-pw', email => 'Ops@Example.com' } );
    is( $r->{status}, 201, 'the first registration' );
    is_deeply( [ @{ $r->{json}{user} }{qw(username email role)} ], [ 'first', 'ops@example.com', 'admin' ],
        'lower-cased, admin' );
    ok( $srv->jar->get('gh_session'), 'and signed in' );
    is( $srv->get('/api/auth/me')->{json}{user}{username}, 'first', '/me' );
    error_ok( $srv->client->post( '/api/auth/register', { username => 'second', password => 'long-enough-pw' } ), 403,
        'FORBIDDEN', 'a second registration' );
    is( ( psql_rows( $srv->db, 'SELECT count(*) FROM users' ) )[0][0], 1, 'one user' );
    is( $srv->stop, 0, 'stopped' );
};

done_testing;
