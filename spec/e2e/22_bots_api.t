# Bots API and the global trading switch (PRODUCT.md §6 "Bots, runner, jobs", conventions of every route):
# create / read / list / patch with every validation error naming its field, unique names (409), strategy
# names checked against the loaded scripts/strategies/*.lua, the latest runner instance on GET, "no LIVE
# while running" on PATCH, cursor pagination, the trading switch (default off → on → off, each flip a
# trading.switch system event carrying the request's trace id), 404s and 503 DB_UNAVAILABLE.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use File::Path qw(make_path);
use Time::HiRes qw(sleep);
use Gatehouse::Test;

my $QUIET = { GATEHOUSE_BACKGROUND_VERIFY => 0, GATEHOUSE_ALERTS => 0 };
my $UUID  = qr/\A[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\z/;
my $TS    = qr/\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z\z/;
my $NOBOT = '00000000-0000-4000-8000-000000000000';

# A home whose scripts/strategies/sma_cross.lua exists (the real one, or a minimal stand-in).
sub strategy_home {
    my $home = copy_home();
    make_path("$home/scripts/strategies");
    write_file( "$home/scripts/strategies/sma_cross.lua", <<'LUA' ) unless -f "$home/scripts/strategies/sma_cross.lua";
return { name = "sma_cross", requires_ai = false,
         decide = function(ctx) return { action = "HOLD", reason_code = "NO_SIGNAL", reason_human = "test" } end }
LUA
    # a strategy without a parameter schema: its params are not checked (the 4 KiB size rule still is)
    write_file( "$home/scripts/strategies/freeform.lua", <<'LUA' );
return { name = "freeform", requires_ai = false,
         decide = function(ctx) return { action = "HOLD", reason_code = "NO_SIGNAL", reason_human = "test" } end }
LUA
    return $home;
}

sub patch { my ( $srv, $path, $body ) = @_; $srv->request( 'PATCH', $path, { body => $body } ) }
sub put   { my ( $srv, $path, $body ) = @_; $srv->request( 'PUT', $path, { body => $body } ) }

sub bot_body { +{ name => $_[0], strategy => 'sma_cross', symbol => 'ESZ6', timeframe => '1m', @_[ 1 .. $#_ ] } }

# A validation error: 400 VALIDATION_FAILED naming $field.
sub invalid_ok {
    my ( $res, $field, $desc ) = @_;
    error_ok( $res, 400, 'VALIDATION_FAILED', $desc );
    is( ( $res->{json} || {} )->{field}, $field, "$desc: field is $field" );
}

my $home = strategy_home();

subtest 'create, read, list' => sub {
    my $srv = start_server( home => $home, env => $QUIET );
    my $r = $srv->get('/api/bots');
    is( $r->{status}, 200, 'empty list answers 200' );
    envelope_ok( $r, 'list', success => 1 );
    is_deeply( $r->{json}{bots}, [], 'no bots yet' );
    ok( exists $r->{json}{next_cursor} && !defined $r->{json}{next_cursor}, 'next_cursor null' );

    $r = $srv->post( '/api/bots', bot_body('alpha') );
    is( $r->{status}, 201, 'POST /api/bots → 201' );
    envelope_ok( $r, 'create', success => 1 );
    my $b = $r->{json}{bot};
    like( $b->{id}, $UUID, 'id is a UUID' );
    is( $b->{name},      'alpha',     'name' );
    is( $b->{strategy},  'sma_cross', 'strategy' );
    is( $b->{symbol},    'ESZ6',      'symbol' );
    is( $b->{timeframe}, '1m',        'timeframe' );
    is( $b->{stage},     'PAPER',     'stage defaults to PAPER' );
    is_deeply( $b->{params}, {}, 'params default {}' );
    ok( json_bool( $b->{requires_ai} ) && !$b->{requires_ai}, 'requires_ai defaults to false (a JSON boolean)' );
    like( $b->{created_at}, $TS, 'created_at is RFC 3339 UTC' );
    like( $b->{updated_at}, $TS, 'updated_at is RFC 3339 UTC' );
    ok( exists $b->{instance} && !defined $b->{instance}, 'no runner instance yet' );
    my ($row) = psql_rows( $srv->db, 'SELECT name, strategy, symbol, timeframe, stage, params::text, requires_ai FROM bots WHERE id = $1', $b->{id} );
    is_deeply( $row, [ 'alpha', 'sma_cross', 'ESZ6', '1m', 'PAPER', '{}', 'f' ], 'the row in bots' );
    ok( wait_for( sub { psql_rows( $srv->db, q{SELECT 1 FROM system_events WHERE kind = 'bot.created' AND subject = $1 AND trace_id = $2}, $b->{id}, $r->{json}{trace_id} ) }, 5, 'bot.created event' ),
        'a bot.created system event with the trace id' );

    $r = $srv->post( '/api/bots', bot_body( 'beta', stage => 'SHADOW', timeframe => '15m', symbol => 'MES.Z6',
                                            params => { fast => 5, slow => 20, qty => 2 }, requires_ai => JSON::PP::true,
                                            color => 'red' ) );
    is( $r->{status}, 201, 'every field given, plus an unknown one (ignored) → 201' );
    $b = $r->{json}{bot};
    is( $b->{stage}, 'SHADOW', 'stage SHADOW' );
    is( $b->{timeframe}, '15m', 'timeframe 15m' );
    is( $b->{symbol}, 'MES.Z6', 'symbol with a dot' );
    is_deeply( $b->{params}, { fast => 5, slow => 20, qty => 2 }, 'params stored as given' );
    ok( $b->{requires_ai}, 'requires_ai true' );
    ok( !exists $b->{color}, 'the unknown field is not stored' );
    my $beta = $b->{id};

    my $name64 = "\x{e9}" x 64;    # 64 characters, 128 bytes
    $r = $srv->post( '/api/bots', bot_body($name64) );
    is( $r->{status}, 201, 'a 64-character name (multi-byte) is accepted' );
    is( $r->{json}{bot}{name}, $name64, 'and comes back intact' );
    is( $srv->post( '/api/bots', bot_body( 'p4k', strategy => 'freeform', params => { s => 'x' x 4080 } ) )->{status}, 201, 'params just under 4 KiB accepted' );

    $r = $srv->get("/api/bots/$beta");
    is( $r->{status}, 200, 'GET /api/bots/:id' );
    envelope_ok( $r, 'get', success => 1 );
    is( $r->{json}{bot}{id}, $beta, 'the bot' );
    is( $r->{json}{bot}{name}, 'beta', 'its name' );
    ok( !defined $r->{json}{bot}{instance}, 'instance null before any run' );
    ok( json_bool( $r->{json}{safe_start}{allowed} ), 'safe_start.allowed is a boolean' );
    is( ref $r->{json}{safe_start}{blockers}, 'ARRAY', 'safe_start.blockers is an array' );

    psql_rows( $srv->db, q{INSERT INTO bot_instances (bot_id, state, started_at, last_heartbeat_at, restart_count, breaker_state)
                           VALUES ($1, 'STOPPED', gh_now() - interval '1 hour', gh_now() - interval '50 minutes', 0, 'CLOSED')}, $beta );
    psql_rows( $srv->db, q{INSERT INTO bot_instances (bot_id, state, started_at, last_heartbeat_at, restart_count, breaker_state, breaker_failures)
                           VALUES ($1, 'RUNNING', gh_now(), gh_now(), 2, 'HALF_OPEN', 1)}, $beta );
    my $i = $srv->get("/api/bots/$beta")->{json}{bot}{instance};
    is( $i->{state}, 'RUNNING', 'the latest instance: state' );
    is( $i->{restart_count}, 2, 'restart_count' );
    is( $i->{breaker_state}, 'HALF_OPEN', 'breaker_state' );
    like( $i->{started_at}, $TS, 'started_at' );
    like( $i->{last_heartbeat_at}, $TS, 'last_heartbeat_at' );

    $r = $srv->get('/api/bots');
    is( scalar @{ $r->{json}{bots} }, 4, 'the list has the four bots' );
    is_deeply( [ map { $_->{name} } @{ $r->{json}{bots} } ], [ 'alpha', 'beta', $name64, 'p4k' ], 'oldest first' );
    my ($lb) = grep { $_->{id} eq $beta } @{ $r->{json}{bots} };
    is( $lb->{instance}{state}, 'RUNNING', 'list entries carry the latest instance too' );

    error_ok( $srv->get("/api/bots/$NOBOT"), 404, 'NOT_FOUND', 'unknown bot id' );
    error_ok( $srv->get('/api/bots/not-a-uuid'), 404, 'NOT_FOUND', 'non-UUID id' );
    error_ok( $srv->get('/api/bots/12345678-1234-1234-1234-12345678901g'), 404, 'NOT_FOUND', 'almost a UUID' );
    is( $srv->stop, 0, 'stopped cleanly' );
};

subtest 'create: every validation error names its field' => sub {
    my $srv = start_server( home => $home, env => $QUIET );
    my @cases = (
        [ 'name missing',            { strategy => 'sma_cross', symbol => 'ESZ6', timeframe => '1m' }, 'name' ],
        [ 'name empty',              bot_body(''),          'name' ],
        [ 'name blank',              bot_body('   '),       'name' ],
        [ 'name 65 characters',      bot_body( 'n' x 65 ),  'name' ],
        [ 'name a number',           bot_body(42),          'name' ],
        [ 'name with a newline',     bot_body("a\nb"),      'name' ],
        [ 'strategy missing',        { name => 'x', symbol => 'ESZ6', timeframe => '1m' }, 'strategy' ],
        [ 'strategy not a string',   bot_body( 'x', strategy => 5 ),            'strategy' ],
        [ 'strategy unknown',        bot_body( 'x', strategy => 'nope' ),       'strategy' ],
        [ 'strategy path traversal', bot_body( 'x', strategy => '../gates' ),   'strategy' ],
        [ 'strategy with .lua',      bot_body( 'x', strategy => 'sma_cross.lua' ), 'strategy' ],
        [ 'symbol missing',          { name => 'x', strategy => 'sma_cross', timeframe => '1m' }, 'symbol' ],
        [ 'symbol lower case',       bot_body( 'x', symbol => 'esz6' ),         'symbol' ],
        [ 'symbol with a space',     bot_body( 'x', symbol => 'ES Z6' ),        'symbol' ],
        [ 'symbol 33 characters',    bot_body( 'x', symbol => 'A' x 33 ),       'symbol' ],
        [ 'symbol empty',            bot_body( 'x', symbol => '' ),             'symbol' ],
        [ 'symbol a number',         bot_body( 'x', symbol => 5 ),              'symbol' ],
        [ 'timeframe missing',       { name => 'x', strategy => 'sma_cross', symbol => 'ESZ6' }, 'timeframe' ],
        [ 'timeframe 2m',            bot_body( 'x', timeframe => '2m' ),        'timeframe' ],
        [ 'timeframe a number',      bot_body( 'x', timeframe => 1 ),           'timeframe' ],
        [ 'stage lower case',        bot_body( 'x', stage => 'live' ),          'stage' ],
        [ 'stage null',              bot_body( 'x', stage => undef ),           'stage' ],
        [ 'params an array',         bot_body( 'x', params => [] ),             'params' ],
        [ 'params a string',         bot_body( 'x', params => '{}' ),           'params' ],
        [ 'params over 4 KiB',       bot_body( 'x', params => { s => 'x' x 4100 } ), 'params' ],
        [ 'params number too big',   bot_body( 'x', params => { a => { b => 1e300 } } ), 'params.a.b' ],
        [ 'requires_ai a string',    bot_body( 'x', requires_ai => 'yes' ),     'requires_ai' ],
        [ 'requires_ai a number',    bot_body( 'x', requires_ai => 1 ),         'requires_ai' ],
    );
    for my $c (@cases) {
        my ( $desc, $body, $field ) = @$c;
        invalid_ok( $srv->post( '/api/bots', $body ), $field, $desc );
    }
    my $r = $srv->post( '/api/bots', bot_body( 'x', strategy => 'nope' ) );
    like( $r->{json}{reason_human}, qr/nope/, 'unknown strategy: the reason names it' );
    ok( ( grep { $_ eq 'sma_cross' } @{ $r->{json}{available_strategies} || [] } ), 'and lists the available strategies' );
    invalid_ok( $srv->post( '/api/bots', [ bot_body('x') ] ), 'body', 'a JSON array body' );
    error_ok( $srv->post( '/api/bots', '{"name": ' ), 400, 'INVALID_JSON', 'broken JSON' );
    invalid_ok( $srv->post('/api/bots'), 'body', 'no body' );
    is( ( psql_rows( $srv->db, 'SELECT count(*) FROM bots' ) )[0][0], 0, 'nothing was stored' );

    is( $srv->post( '/api/bots', bot_body('dup') )->{status}, 201, 'first "dup"' );
    $r = $srv->post( '/api/bots', bot_body( 'dup', symbol => 'NQZ6' ) );
    error_ok( $r, 409, 'VALIDATION_FAILED', 'same name again' );
    is( $r->{json}{field}, 'name', '409 names the field' );
    like( $r->{json}{reason_human}, qr/name taken/, 'reason: name taken' );
    is( ( psql_rows( $srv->db, q{SELECT count(*) FROM bots WHERE name = 'dup'} ) )[0][0], 1, 'still one "dup"' );
    is( $srv->stop, 0, 'stopped cleanly' );
};

subtest 'patch' => sub {
    my $srv = start_server( home => $home, env => $QUIET );
    my $id = $srv->post( '/api/bots', bot_body('gamma') )->{json}{bot}{id};
    my $other = $srv->post( '/api/bots', bot_body('delta') )->{json}{bot}{id};
    ok( $id && $other, 'two bots' );
    my $before = $srv->get("/api/bots/$id")->{json}{bot};
    sleep 0.02;

    my $r = patch( $srv, "/api/bots/$id", { name => 'gamma2', params => { fast => 3 }, timeframe => '5m',
                                            requires_ai => JSON::PP::true, stage => 'SHADOW', whatever => 1 } );
    is( $r->{status}, 200, 'PATCH → 200' );
    envelope_ok( $r, 'patch', success => 1 );
    my $b = $r->{json}{bot};
    is( $b->{name}, 'gamma2', 'name changed' );
    is_deeply( $b->{params}, { fast => 3 }, 'params replaced' );
    is( $b->{timeframe}, '5m', 'timeframe changed' );
    ok( $b->{requires_ai}, 'requires_ai changed' );
    is( $b->{stage}, 'SHADOW', 'stage changed' );
    is( $b->{strategy}, 'sma_cross', 'strategy kept' );
    ok( $r->{json}{changed}, 'changed: true' );
    ok( $b->{updated_at} gt $before->{updated_at}, 'updated_at moved' );
    is_deeply( [ psql_rows( $srv->db, 'SELECT name, stage, timeframe, requires_ai, params::text FROM bots WHERE id = $1', $id ) ],
               [ [ 'gamma2', 'SHADOW', '5m', 't', '{"fast": 3}' ] ], 'the row' );
    ok( wait_for( sub { psql_rows( $srv->db, q{SELECT 1 FROM system_events WHERE kind = 'bot.updated' AND subject = $1 AND trace_id = $2}, $id, $r->{json}{trace_id} ) }, 5, 'bot.updated event' ),
        'a bot.updated system event with the trace id' );

    $r = patch( $srv, "/api/bots/$id", {} );
    is( $r->{status}, 200, 'an empty PATCH answers the bot' );
    ok( !$r->{json}{changed}, 'changed: false' );
    is( $r->{json}{bot}{updated_at}, $b->{updated_at}, 'updated_at untouched' );
    $r = patch( $srv, "/api/bots/$id", { %$b, name => 'gamma3' } );
    is( $r->{status}, 200, 'the whole bot echoed back (same strategy and symbol) is accepted' );
    is( $r->{json}{bot}{name}, 'gamma3', 'with its change' );

    invalid_ok( patch( $srv, "/api/bots/$id", { strategy => 'atr_band' } ), 'strategy', 'strategy cannot change' );
    invalid_ok( patch( $srv, "/api/bots/$id", { symbol => 'NQZ6' } ), 'symbol', 'symbol cannot change' );
    invalid_ok( patch( $srv, "/api/bots/$id", { symbol => 7 } ), 'symbol', 'symbol of the wrong type' );
    invalid_ok( patch( $srv, "/api/bots/$id", { stage => 'BOGUS' } ), 'stage', 'bad stage' );
    invalid_ok( patch( $srv, "/api/bots/$id", { timeframe => '4h' } ), 'timeframe', 'bad timeframe' );
    invalid_ok( patch( $srv, "/api/bots/$id", { name => '' } ), 'name', 'empty name' );
    invalid_ok( patch( $srv, "/api/bots/$id", { name => undef } ), 'name', 'null name' );
    invalid_ok( patch( $srv, "/api/bots/$id", { params => [1] } ), 'params', 'params an array' );
    invalid_ok( patch( $srv, "/api/bots/$id", { params => { s => 'y' x 5000 } } ), 'params', 'params over 4 KiB' );
    invalid_ok( patch( $srv, "/api/bots/$id", { requires_ai => 'no' } ), 'requires_ai', 'requires_ai a string' );
    $r = patch( $srv, "/api/bots/$id", { name => 'delta' } );
    error_ok( $r, 409, 'VALIDATION_FAILED', 'renaming onto a taken name' );
    is( $r->{json}{field}, 'name', 'names the field' );
    is( ( psql_rows( $srv->db, 'SELECT name FROM bots WHERE id = $1', $id ) )[0][0], 'gamma3', 'the failed PATCHes changed nothing' );

    error_ok( patch( $srv, "/api/bots/$NOBOT", { name => 'zz' } ), 404, 'NOT_FOUND', 'PATCH unknown bot' );
    error_ok( patch( $srv, '/api/bots/nope', { name => 'zz' } ), 404, 'NOT_FOUND', 'PATCH non-UUID id' );

    # LIVE while running is refused; stopped, it is accepted (starting it later runs the gates).
    psql_rows( $srv->db, q{INSERT INTO bot_instances (bot_id, state) VALUES ($1, 'RUNNING')}, $id );
    $r = patch( $srv, "/api/bots/$id", { stage => 'LIVE' } );
    error_ok( $r, 409, 'VALIDATION_FAILED', 'stage LIVE while running' );
    is( $r->{json}{field}, 'stage', 'names the stage field' );
    like( $r->{json}{reason_human}, qr/running/i, 'reason: it is running' );
    like( $r->{json}{suggested_fix}, qr/stop/i, 'fix: stop it first' );
    is( ( psql_rows( $srv->db, 'SELECT stage FROM bots WHERE id = $1', $id ) )[0][0], 'SHADOW', 'stage unchanged' );
    is( patch( $srv, "/api/bots/$id", { stage => 'PAPER', params => { fast => 4 } } )->{status}, 200,
        'other changes (and non-LIVE stages) are fine while running' );
    psql_rows( $srv->db, q{UPDATE bot_instances SET state = 'STOPPED', stopped_at = gh_now() WHERE bot_id = $1}, $id );
    psql_rows( $srv->db, q{UPDATE bots SET desired_state = 'RUNNING' WHERE id = $1}, $id );
    error_ok( patch( $srv, "/api/bots/$id", { stage => 'LIVE' } ), 409, 'VALIDATION_FAILED',
              'stage LIVE while the operator wants it running (supervisor about to restart it)' );
    psql_rows( $srv->db, q{UPDATE bots SET desired_state = 'STOPPED' WHERE id = $1}, $id );
    $r = patch( $srv, "/api/bots/$id", { stage => 'LIVE' } );
    is( $r->{status}, 200, 'stopped: stage LIVE accepted' );
    is( $r->{json}{bot}{stage}, 'LIVE', 'now LIVE' );
    ok( json_bool( $r->{json}{safe_start}{allowed} ), 'the answer previews the LIVE safe-start gates' );
    ok( !$r->{json}{safe_start}{allowed}, 'which refuse LIVE here (trading off, no broker)' );
    psql_rows( $srv->db, q{INSERT INTO bot_instances (bot_id, state) VALUES ($1, 'STARTING')}, $id );
    is( patch( $srv, "/api/bots/$id", { stage => 'LIVE', name => 'gamma-live' } )->{status}, 200,
        'already LIVE: staying LIVE while running is not a change of stage' );
    is( $srv->stop, 0, 'stopped cleanly' );
};

subtest 'pagination: 7 bots, limit 3' => sub {
    my $srv = start_server( home => $home, env => $QUIET );
    my @ids;
    for my $n ( 1 .. 7 ) {
        my $r = $srv->post( '/api/bots', bot_body("bot$n") );
        push @ids, $r->{json}{bot}{id};
    }
    is( scalar( grep {defined} @ids ), 7, 'seven bots created' );
    # two bots with the same created_at: the id breaks the tie
    psql_rows( $srv->db, q{UPDATE bots SET created_at = (SELECT created_at FROM bots WHERE name = 'bot4') WHERE name = 'bot5'} );
    my ( @seen, @pages, $cursor );
    for ( 1 .. 5 ) {
        my $r = $srv->get( '/api/bots?limit=3' . ( defined $cursor ? "&cursor=$cursor" : '' ) );
        is( $r->{status}, 200, 'page ' . ( @pages + 1 ) ) or last;
        push @pages, scalar @{ $r->{json}{bots} };
        push @seen, map { $_->{id} } @{ $r->{json}{bots} };
        $cursor = $r->{json}{next_cursor};
        last unless defined $cursor;
    }
    is_deeply( \@pages, [ 3, 3, 1 ], 'pages of 3, 3, 1; next_cursor null after the last' );
    is_deeply( [ sort @seen ], [ sort @ids ], 'every bot exactly once' );
    is( $seen[0], $ids[0], 'oldest first' );
    my $all = $srv->get('/api/bots')->{json};
    is( scalar @{ $all->{bots} }, 7, 'default limit 50 returns all seven' );
    ok( !defined $all->{next_cursor}, 'with no next_cursor' );
    is( scalar @{ $srv->get('/api/bots?limit=7')->{json}{bots} }, 7, 'limit equal to the count' );
    ok( !defined $srv->get('/api/bots?limit=7')->{json}{next_cursor}, 'has no next page' );
    is( scalar @{ $srv->get('/api/bots?limit=500')->{json}{bots} }, 7, 'limit 500 is allowed' );
    invalid_ok( $srv->get("/api/bots?limit=$_"), 'limit', "limit=$_" ) for ( '0', '501', 'abc', '-1', '3x', '' );
    invalid_ok( $srv->get("/api/bots?cursor=$_"), 'cursor', "cursor=$_" )
      for ( 'garbage', '2026-01-01T00:00:00Z', "2026-13-01T00:00:00Z_$ids[0]", "2026-01-01T00:00:00Z_nope" );
    is( $srv->stop, 0, 'stopped cleanly' );
};

subtest 'trading switch: default off → on → off, each a system event' => sub {
    my $srv = start_server( home => $home, env => $QUIET );
    my $r = $srv->get('/api/settings/trading');
    is( $r->{status}, 200, 'GET /api/settings/trading' );
    envelope_ok( $r, 'trading get', success => 1 );
    ok( json_bool( $r->{json}{trading}{enabled} ) && !$r->{json}{trading}{enabled}, 'off by default (fail closed)' );
    is( $r->{json}{trading}{mode}, 'PAPER', 'mode PAPER' );
    like( $r->{json}{trading}{updated_at}, $TS, 'updated_at RFC 3339' );

    $srv->fresh_2fa;    # turning live trading on needs a 2FA verification in the last 5 minutes
    my @traces;
    for my $on ( 1, 0 ) {
        my $tp = sprintf '00-%032x-%016x-01', int( rand 2**31 ) + 1, 7;
        $r = $srv->request( 'PUT', '/api/settings/trading', { body => { enabled => $on ? JSON::PP::true : JSON::PP::false },
                                                               headers => { traceparent => $tp } } );
        is( $r->{status}, 200, 'PUT enabled=' . ( $on ? 'true' : 'false' ) );
        envelope_ok( $r, 'trading put', success => 1 );
        is( ( $r->{json}{trading}{enabled} ? 1 : 0 ), $on, 'answers the new value' );
        is( $r->{json}{trading}{mode}, 'PAPER', 'mode kept' );
        is( $r->{json}{trace_id}, substr( $tp, 3, 32 ), 'the incoming traceparent is the trace id' );
        push @traces, $r->{json}{trace_id};
        is( ( $srv->get('/api/settings/trading')->{json}{trading}{enabled} ? 1 : 0 ), $on, 'GET reads it back' );
        my ($v) = psql_rows( $srv->db, q{SELECT value->>'enabled', value->>'mode' FROM app_settings WHERE key = 'trading'} );
        is_deeply( $v, [ $on ? 'true' : 'false', 'PAPER' ], 'app_settings row' );
        ok( wait_for( sub { my $s = $srv->get('/api/system/status')->{json}; ( $s->{trading}{enabled} ? 1 : 0 ) == $on }, 6, 'status' ),
            'system status follows' );
    }
    my @ev = wait_for( sub {
        my @rows = psql_rows( $srv->db, q{SELECT trace_id, metadata->>'enabled', metadata->>'previous_enabled', severity
                                          FROM system_events WHERE kind = 'trading.switch' ORDER BY id} );
        @rows == 2 ? \@rows : undef;
    }, 5, 'two trading.switch events' );
    my $rows = $ev[0] || [];
    is( scalar @$rows, 2, 'two trading.switch system events' );
    is_deeply( [ map { $_->[0] } @$rows ], \@traces, 'carrying the requests\' trace ids' );
    is_deeply( [ map { [ @$_[ 1, 2 ] ] } @$rows ], [ [ 'true', 'false' ], [ 'false', 'true' ] ], 'with the new and previous values' );
    is( $rows->[0][3], 'warning', 'switching on is a warning' );

    invalid_ok( put( $srv, '/api/settings/trading', { enabled => 'yes' } ), 'enabled', 'enabled a string' );
    invalid_ok( put( $srv, '/api/settings/trading', { enabled => 1 } ), 'enabled', 'enabled a number' );
    invalid_ok( put( $srv, '/api/settings/trading', {} ), 'enabled', 'enabled missing' );
    invalid_ok( put( $srv, '/api/settings/trading', undef ), 'enabled', 'no body' );
    is( ( psql_rows( $srv->db, q{SELECT count(*) FROM system_events WHERE kind = 'trading.switch'} ) )[0][0], 2, 'no event for refused PUTs' );

    # a missing row reads as the fail-closed default, and PUT recreates it
    psql_rows( $srv->db, q{DELETE FROM app_settings WHERE key = 'trading'} );
    $r = $srv->get('/api/settings/trading');
    ok( !$r->{json}{trading}{enabled} && !defined $r->{json}{trading}{updated_at}, 'no row: off, updated_at null' );
    $r = put( $srv, '/api/settings/trading', { enabled => JSON::PP::false } );
    is( $r->{status}, 200, 'PUT recreates the row' );
    is( ( psql_rows( $srv->db, q{SELECT value->>'mode' FROM app_settings WHERE key = 'trading'} ) )[0][0], 'PAPER', 'with mode PAPER' );
    is( $srv->stop, 0, 'stopped cleanly' );
};

subtest 'Postgres unreachable: 503 DB_UNAVAILABLE' => sub {
    my $pgdir = File::Temp::tempdir( CLEANUP => 1 );
    chmod 0755, $pgdir;
    my $port = free_port();
    my $pg = sub { run_cmd( [ pg_embedded(), @_ ], env => { GATEHOUSE_PG_FAST => 1 }, timeout => 120 ) };
    at_end( sub { $pg->( 'destroy', $pgdir ) } );
    my ( $rc, $url ) = $pg->( 'start', $pgdir, '--port', $port );
    is( $rc, 0, 'private cluster started' ) or return;
    chomp $url;
    my $srv = start_server( home => $home, env => $QUIET, db => $url );
    my $id = $srv->post( '/api/bots', bot_body('omega') )->{json}{bot}{id};
    ok( $id, 'a bot' );
    $srv->fresh_2fa;    # so the trading PUT below reaches the database
    ($rc) = $pg->( 'stop', $pgdir );
    is( $rc, 0, 'Postgres stopped' );
    error_ok( $srv->get('/api/bots'), 503, 'DB_UNAVAILABLE', 'list' );
    error_ok( $srv->get("/api/bots/$id"), 503, 'DB_UNAVAILABLE', 'get' );
    error_ok( $srv->post( '/api/bots', bot_body('psi') ), 503, 'DB_UNAVAILABLE', 'create' );
    error_ok( patch( $srv, "/api/bots/$id", { name => 'psi' } ), 503, 'DB_UNAVAILABLE', 'patch' );
    error_ok( $srv->get('/api/settings/trading'), 503, 'DB_UNAVAILABLE', 'trading get' );
    error_ok( put( $srv, '/api/settings/trading', { enabled => JSON::PP::true } ), 503, 'DB_UNAVAILABLE', 'trading put' );
    ($rc) = $pg->( 'start', $pgdir, '--port', $port );
    ok( wait_for( sub { $srv->get('/api/bots')->{status} == 200 }, 10, 'recovery' ), 'answers again once Postgres is back' );
    is( $srv->stop, 0, 'stopped cleanly' );
};

done_testing;
