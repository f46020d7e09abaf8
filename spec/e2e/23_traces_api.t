# Explainability traces (PRODUCT.md §6 "Bots, runner, jobs", seed 003 part D): decision traces ("why it
# traded") and no-trade traces ("why not"). POST is for runners only — the service token, compared in
# constant time; no token, a wrong one or none configured is 401 — and validates every field, naming it.
# GET pages newest first with limit/cursor and filters by a since/until window (since <= t < until).
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use File::Path qw(make_path);
use Gatehouse::Test;

my $TOKEN = 'svc-' . join '', map { ( 'a' .. 'z', 'A' .. 'Z', '0' .. '9' )[ rand 62 ] } 1 .. 32;
my %ENV_ = ( GATEHOUSE_BACKGROUND_VERIFY => 0, GATEHOUSE_ALERTS => 0, GATEHOUSE_SERVICE_TOKEN => $TOKEN );
my $AUTH  = { Authorization => "Bearer $TOKEN" };
my $UUID  = qr/\A[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\z/;
my $TS    = qr/\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z\z/;
my $NOBOT = '00000000-0000-4000-8000-000000000000';

sub strategy_home {
    my $home = copy_home();
    make_path("$home/scripts/strategies");
    write_file( "$home/scripts/strategies/sma_cross.lua", <<'LUA' ) unless -f "$home/scripts/strategies/sma_cross.lua";
return { name = "sma_cross", requires_ai = false,
         decide = function(ctx) return { action = "HOLD", reason_code = "NO_SIGNAL", reason_human = "test" } end }
LUA
    return $home;
}

sub new_bot {
    my ( $srv, $name ) = @_;
    my $r = $srv->post( '/api/bots', { name => $name, strategy => 'sma_cross', symbol => 'ESZ6', timeframe => '1m' } );
    return $r->{json}{bot}{id} // die "bot $name not created: $r->{content}";
}

sub invalid_ok {
    my ( $res, $field, $desc ) = @_;
    error_ok( $res, 400, 'VALIDATION_FAILED', $desc );
    is( ( $res->{json} || {} )->{field}, $field, "$desc: field is $field" );
}

sub decision { +{ decision_type => 'ENTRY', reason_human => 'Fast SMA crossed above slow', reason_code => 'SMA_CROSS_UP', @_ } }
sub no_trade {
    +{ suppression_type => 'RISK_GATE', suppression_decision => 'SKIP', reason_human => 'Market closed',
       reason_code => 'MARKET_CLOSED', blocked_by => [ 'market_hours', 'risk.max_daily_loss' ], @_ };
}

my $home = strategy_home();

subtest 'POST needs the service token' => sub {
    my $srv = start_server( home => $home, env => \%ENV_ );
    my $bot = new_bot( $srv, 'tok' );
    for my $kind (qw(decision-traces no-trade-traces)) {
        my $body = $kind eq 'decision-traces' ? decision() : no_trade();
        my $path = "/api/bots/$bot/$kind";
        error_ok( $srv->post( $path, $body ), 401, 'UNAUTHENTICATED', "$kind: no token" );
        error_ok( $srv->post( $path, $body, { Authorization => 'Bearer svc-wrong' } ), 401, 'UNAUTHENTICATED', "$kind: wrong token" );
        error_ok( $srv->post( $path, $body, { Authorization => 'Bearer ' . substr( $TOKEN, 0, -1 ) } ), 401, 'UNAUTHENTICATED', "$kind: token prefix" );
        error_ok( $srv->post( $path, $body, { Authorization => "Bearer ${TOKEN}x" } ), 401, 'UNAUTHENTICATED', "$kind: token plus a character" );
        error_ok( $srv->post( $path, $body, { Authorization => $TOKEN } ), 401, 'UNAUTHENTICATED', "$kind: token without Bearer" );
        error_ok( $srv->post( $path, $body, { 'X-Service-Token' => $TOKEN } ), 401, 'UNAUTHENTICATED', "$kind: token in another header" );
        error_ok( $srv->post( "/api/bots/$NOBOT/$kind", $body ), 401, 'UNAUTHENTICATED', "$kind: unknown bot without a token is still 401" );
        error_ok( $srv->post( "/api/bots/xyz/$kind", {} ), 401, 'UNAUTHENTICATED', "$kind: anything without a token is 401" );
        my $r = $srv->post( $path, $body, $AUTH );
        is( $r->{status}, 201, "$kind: with the token → 201" );
        ok( !grep( { index( $_->{content}, $TOKEN ) >= 0 } $srv->responses ), "$kind: the token never appears in a response" );
    }
    is( ( psql_rows( $srv->db, 'SELECT (SELECT count(*) FROM decision_traces) + (SELECT count(*) FROM no_trade_traces)' ) )[0][0], 2,
        'only the two authorised POSTs were stored' );
    is( $srv->stop, 0, 'stopped cleanly' );

    $srv = start_server( home => $home, env => { %ENV_, GATEHOUSE_SERVICE_TOKEN => undef } );
    $bot = new_bot( $srv, 'notoken' );
    my $r = $srv->post( "/api/bots/$bot/decision-traces", decision(), { Authorization => 'Bearer ' } );
    error_ok( $r, 401, 'UNAUTHENTICATED', 'no service token configured: empty bearer refused' );
    like( $r->{json}{suggested_fix}, qr/GATEHOUSE_SERVICE_TOKEN/, 'the fix names GATEHOUSE_SERVICE_TOKEN' );
    error_ok( $srv->post( "/api/bots/$bot/no-trade-traces", no_trade(), $AUTH ), 401, 'UNAUTHENTICATED',
              'no service token configured: any token refused' );
    is( $srv->stop, 0, 'stopped cleanly' );
};

subtest 'POST decision traces' => sub {
    my $srv = start_server( home => $home, env => \%ENV_ );
    my $bot = new_bot( $srv, 'dec' );
    my $path = "/api/bots/$bot/decision-traces";
    my $r = $srv->post( $path, decision( signals => { sma_fast => 101.5, sma_slow => 100.25, cross => 'up' },
                                         variables_snapshot => { atr_14 => 2.5 }, confidence => 0.75, expected_value => -12.5,
                                         risk_snapshot => { max_contracts => 2, ok => JSON::PP::true }, unknown => 'ignored' ), $AUTH );
    is( $r->{status}, 201, 'POST → 201' );
    envelope_ok( $r, 'decision trace', success => 1 );
    my $t = $r->{json}{trace};
    like( $t->{id}, $UUID, 'id' );
    is( $t->{bot_id}, $bot, 'bot_id' );
    like( $t->{created_at}, $TS, 'created_at RFC 3339 UTC' );
    is( $t->{decision_type}, 'ENTRY', 'decision_type' );
    is( $t->{reason_human}, 'Fast SMA crossed above slow', 'reason_human' );
    is( $t->{reason_code}, 'SMA_CROSS_UP', 'reason_code' );
    is_deeply( $t->{signals}, { sma_fast => 101.5, sma_slow => 100.25, cross => 'up' }, 'signals' );
    is_deeply( $t->{variables_snapshot}, { atr_14 => 2.5 }, 'variables_snapshot' );
    is( $t->{confidence}, 0.75, 'confidence' );
    is( $t->{expected_value}, -12.5, 'expected_value' );
    is( $t->{risk_snapshot}{max_contracts}, 2, 'risk_snapshot' );
    is( $t->{trace_id}, $r->{json}{trace_id}, 'trace_id defaults to the request\'s' );
    ok( !defined $t->{order_id}, 'order_id null' );
    my ($row) = psql_rows( $srv->db, 'SELECT bot_id, decision_type, reason_code, confidence, trace_id FROM decision_traces WHERE id = $1', $t->{id} );
    is_deeply( $row, [ $bot, 'ENTRY', 'SMA_CROSS_UP', '0.75', $r->{json}{trace_id} ], 'the row' );

    my $tid = 'ABCDEF0123456789ABCDEF0123456789';
    $r = $srv->post( $path, decision( decision_type => 'EXIT', trace_id => $tid, confidence => undef, expected_value => undef ), $AUTH );
    is( $r->{status}, 201, 'EXIT with an explicit trace id and null numbers' );
    is( $r->{json}{trace}{trace_id}, lc $tid, 'the given trace id (lower-cased)' );
    ok( !defined $r->{json}{trace}{confidence} && !defined $r->{json}{trace}{expected_value}, 'null confidence / expected_value' );
    is_deeply( [ @{ $r->{json}{trace} }{qw(signals variables_snapshot risk_snapshot)} ], [ {}, {}, {} ], 'objects default to {}' );
    is( $srv->post( $path, decision( decision_type => 'ADJUST', confidence => 0, expected_value => 3 ), $AUTH )->{status}, 201, 'ADJUST, confidence 0' );
    is( $srv->post( $path, decision( confidence => 1 ), $AUTH )->{status}, 201, 'confidence 1' );

    # order_id must be an order of this bot
    my ($oid) = psql_rows( $srv->db, q{INSERT INTO orders (bot_id, stage, symbol, side, qty, order_type, status, trace_id)
                                       VALUES ($1, 'PAPER', 'ESZ6', 'BUY', 1, 'MARKET', 'SUBMITTED', $2) RETURNING id}, $bot, 'f' x 32 );
    if ($oid) {
        $r = $srv->post( $path, decision( order_id => $oid->[0] ), $AUTH );
        is( $r->{status}, 201, 'order_id of an order of this bot' );
        is( $r->{json}{trace}{order_id}, $oid->[0], 'stored' );
        my $other = new_bot( $srv, 'other' );
        invalid_ok( $srv->post( "/api/bots/$other/decision-traces", decision( order_id => $oid->[0] ), $AUTH ), 'order_id',
                    'an order of another bot' );
    }
    invalid_ok( $srv->post( $path, decision( order_id => '11111111-2222-4333-8444-555555555555' ), $AUTH ), 'order_id', 'unknown order' );

    my @cases = (
        [ 'decision_type missing',   { reason_human => 'x', reason_code => 'X' }, 'decision_type' ],
        [ 'decision_type HOLD',      decision( decision_type => 'HOLD' ),        'decision_type' ],
        [ 'decision_type lower',     decision( decision_type => 'entry' ),       'decision_type' ],
        [ 'decision_type number',    decision( decision_type => 1 ),             'decision_type' ],
        [ 'reason_human missing',    { decision_type => 'ENTRY', reason_code => 'X' }, 'reason_human' ],
        [ 'reason_human empty',      decision( reason_human => '' ),             'reason_human' ],
        [ 'reason_human number',     decision( reason_human => 5 ),              'reason_human' ],
        [ 'reason_human too long',   decision( reason_human => 'x' x 2001 ),     'reason_human' ],
        [ 'reason_code missing',     { decision_type => 'ENTRY', reason_human => 'x' }, 'reason_code' ],
        [ 'reason_code with spaces', decision( reason_code => 'NO SIGNAL' ),     'reason_code' ],
        [ 'reason_code too long',    decision( reason_code => 'X' x 65 ),        'reason_code' ],
        [ 'signals an array',        decision( signals => [] ),                  'signals' ],
        [ 'signals null',            decision( signals => undef ),               'signals' ],
        [ 'signals huge number',     decision( signals => { a => [ 1, 1e300 ] } ), 'signals.a[1]' ],
        [ 'variables_snapshot text', decision( variables_snapshot => 'x' ),      'variables_snapshot' ],
        [ 'confidence above 1',      decision( confidence => 1.5 ),              'confidence' ],
        [ 'confidence below 0',      decision( confidence => -0.1 ),             'confidence' ],
        [ 'confidence a string',     decision( confidence => '0.5' ),            'confidence' ],
        [ 'expected_value a string', decision( expected_value => 'big' ),        'expected_value' ],
        [ 'risk_snapshot an array',  decision( risk_snapshot => [ 1 ] ),         'risk_snapshot' ],
        [ 'trace_id short',          decision( trace_id => 'abc' ),              'trace_id' ],
        [ 'trace_id not hex',        decision( trace_id => 'g' x 32 ),           'trace_id' ],
        [ 'trace_id all zeros',      decision( trace_id => '0' x 32 ),           'trace_id' ],
        [ 'trace_id a number',       decision( trace_id => 12 ),                 'trace_id' ],
        [ 'order_id not a uuid',     decision( order_id => 'order-1' ),          'order_id' ],
        [ 'trade_log_id not a uuid', decision( trade_log_id => 7 ),              'trade_log_id' ],
    );
    my ($before) = psql_rows( $srv->db, 'SELECT count(*) FROM decision_traces' );
    invalid_ok( $srv->post( $path, $_->[1], $AUTH ), $_->[2], $_->[0] ) for @cases;
    invalid_ok( $srv->post( $path, undef, $AUTH ), 'body', 'no body' );
    error_ok( $srv->post( $path, '{"decision_type":', $AUTH ), 400, 'INVALID_JSON', 'broken JSON' );
    is_deeply( [ psql_rows( $srv->db, 'SELECT count(*) FROM decision_traces' ) ], [$before], 'none of them stored anything' );

    error_ok( $srv->post( "/api/bots/$NOBOT/decision-traces", decision(), $AUTH ), 404, 'NOT_FOUND', 'unknown bot' );
    error_ok( $srv->post( '/api/bots/nope/decision-traces', decision(), $AUTH ), 404, 'NOT_FOUND', 'non-UUID bot id' );
    is( $srv->stop, 0, 'stopped cleanly' );
};

subtest 'POST no-trade traces' => sub {
    my $srv = start_server( home => $home, env => \%ENV_ );
    my $bot = new_bot( $srv, 'nt' );
    my $path = "/api/bots/$bot/no-trade-traces";
    my $r = $srv->post( $path, no_trade( signals => { sma_fast => 1 }, variables_snapshot => { session => 'closed' } ), $AUTH );
    is( $r->{status}, 201, 'POST → 201' );
    envelope_ok( $r, 'no-trade trace', success => 1 );
    my $t = $r->{json}{trace};
    like( $t->{id}, $UUID, 'id' );
    is( $t->{bot_id}, $bot, 'bot_id' );
    like( $t->{created_at}, $TS, 'created_at' );
    is( $t->{suppression_type}, 'RISK_GATE', 'suppression_type' );
    is( $t->{suppression_decision}, 'SKIP', 'suppression_decision' );
    is( $t->{reason_code}, 'MARKET_CLOSED', 'reason_code' );
    is( $t->{reason_human}, 'Market closed', 'reason_human' );
    is_deeply( $t->{blocked_by}, [ 'market_hours', 'risk.max_daily_loss' ], 'blocked_by: the gates that blocked' );
    is_deeply( $t->{signals}, { sma_fast => 1 }, 'signals' );
    is_deeply( $t->{variables_snapshot}, { session => 'closed' }, 'variables_snapshot' );
    is( $t->{trace_id}, $r->{json}{trace_id}, 'trace_id defaults to the request\'s' );
    is( ( psql_rows( $srv->db, 'SELECT blocked_by::text FROM no_trade_traces WHERE id = $1', $t->{id} ) )[0][0],
        '["market_hours", "risk.max_daily_loss"]', 'the row' );
    $r = $srv->post( $path, { suppression_type => 'no signal', suppression_decision => 'HOLD', reason_human => 'Nothing to do',
                              reason_code => 'NO_SIGNAL', trace_id => 'a' x 32 }, $AUTH );
    is( $r->{status}, 201, 'minimal body' );
    is_deeply( $r->{json}{trace}{blocked_by}, [], 'blocked_by defaults to []' );
    is( $r->{json}{trace}{trace_id}, 'a' x 32, 'explicit trace id' );

    my @cases = (
        [ 'suppression_type missing',     no_trade( suppression_type => undef ),     'suppression_type' ],
        [ 'suppression_type empty',       no_trade( suppression_type => '' ),        'suppression_type' ],
        [ 'suppression_type a number',    no_trade( suppression_type => 3 ),         'suppression_type' ],
        [ 'suppression_decision missing', no_trade( suppression_decision => undef ), 'suppression_decision' ],
        [ 'reason_human missing',         no_trade( reason_human => undef ),         'reason_human' ],
        [ 'reason_code bad',              no_trade( reason_code => 'no/signal' ),    'reason_code' ],
        [ 'blocked_by a string',          no_trade( blocked_by => 'risk' ),          'blocked_by' ],
        [ 'blocked_by an object',         no_trade( blocked_by => { a => 1 } ),      'blocked_by' ],
        [ 'blocked_by with a number',     no_trade( blocked_by => [ 'risk', 5 ] ),   'blocked_by[1]' ],
        [ 'blocked_by with an empty one', no_trade( blocked_by => [''] ),            'blocked_by[0]' ],
        [ 'blocked_by too many',          no_trade( blocked_by => [ ('g') x 65 ] ),  'blocked_by' ],
        [ 'signals a string',             no_trade( signals => 's' ),                'signals' ],
        [ 'variables_snapshot an array',  no_trade( variables_snapshot => [] ),      'variables_snapshot' ],
        [ 'trace_id bad',                 no_trade( trace_id => 'xyz' ),             'trace_id' ],
    );
    for my $c (@cases) {
        my $body = $c->[1];
        delete $body->{$_} for grep { !defined $body->{$_} } keys %$body;    # undef here means "missing"
        invalid_ok( $srv->post( $path, $body, $AUTH ), $c->[2], $c->[0] );
    }
    is( ( psql_rows( $srv->db, 'SELECT count(*) FROM no_trade_traces' ) )[0][0], 2, 'only the two valid traces stored' );
    error_ok( $srv->post( "/api/bots/$NOBOT/no-trade-traces", no_trade(), $AUTH ), 404, 'NOT_FOUND', 'unknown bot' );
    is( $srv->stop, 0, 'stopped cleanly' );
};

subtest 'GET: newest first, cursor pages, since/until window' => sub {
    my $srv = start_server( home => $home, env => \%ENV_ );
    my $bot = new_bot( $srv, 'reader' );
    my $other = new_bot( $srv, 'bystander' );
    my $empty = new_bot( $srv, 'silent' );
    # ten decision traces one minute apart (12:00 .. 12:09 UTC), two sharing 12:05; plus noise on another bot
    psql_rows( $srv->db, q{INSERT INTO decision_traces (bot_id, created_at, decision_type, reason_human, reason_code, trace_id)
                           SELECT $1, timestamptz '2026-03-02 12:00:00+00' + (LEAST(g, 5) + GREATEST(g - 6, 0)) * interval '1 minute',
                                  'ENTRY', 'trace ' || g, 'R' || g, lpad(to_hex(g + 1), 32, '0')
                           FROM generate_series(0, 9) g}, $bot );
    psql_rows( $srv->db, q{INSERT INTO decision_traces (bot_id, created_at, decision_type, reason_human, reason_code, trace_id)
                           VALUES ($1, '2026-03-02 12:03:00+00', 'EXIT', 'other bot', 'OTHER', $2)}, $other, 'e' x 32 );
    psql_rows( $srv->db, q{INSERT INTO no_trade_traces (bot_id, created_at, suppression_type, suppression_decision, reason_human, reason_code, trace_id)
                           SELECT $1, timestamptz '2026-03-02 12:00:00+00' + g * interval '1 minute', 'NO_SIGNAL', 'HOLD', 'nt ' || g, 'N' || g,
                                  lpad(to_hex(g + 100), 32, '0')
                           FROM generate_series(0, 4) g}, $bot );

    my $base = "/api/bots/$bot/decision-traces";
    my $r = $srv->get($base);
    is( $r->{status}, 200, 'GET decision traces' );
    envelope_ok( $r, 'decision list', success => 1 );
    my @all = @{ $r->{json}{traces} };
    is( scalar @all, 10, 'all ten, and only this bot\'s' );
    ok( !defined $r->{json}{next_cursor}, 'no next page' );
    is( $r->{json}{bot_id}, $bot, 'bot_id echoed' );
    my @times = map { $_->{created_at} } @all;
    is_deeply( \@times, [ reverse sort @times ], 'newest first' );
    like( $all[0]{created_at}, qr/\A2026-03-02T12:08:00(?:\.0+)?Z\z/, 'the newest is 12:08 (RFC 3339 UTC)' );
    is( $all[0]{reason_code}, 'R9', 'R9 first' );
    like( $all[0]{trace_id}, qr/\A[0-9a-f]{32}\z/, 'each trace has its trace_id' );

    my ( @pages, @seen, $cursor );
    for ( 1 .. 6 ) {
        $r = $srv->get( "$base?limit=3" . ( defined $cursor ? "&cursor=$cursor" : '' ) );
        is( $r->{status}, 200, 'page ' . ( @pages + 1 ) ) or last;
        push @pages, scalar @{ $r->{json}{traces} };
        push @seen, map { $_->{id} } @{ $r->{json}{traces} };
        $cursor = $r->{json}{next_cursor};
        last unless defined $cursor;
    }
    is_deeply( \@pages, [ 3, 3, 3, 1 ], 'limit 3: pages of 3, 3, 3, 1 (ties at 12:05 split by id)' );
    is_deeply( \@seen, [ map { $_->{id} } @all ], 'the pages, joined, are the whole list in order' );

    $r = $srv->get("$base?since=2026-03-02T12:02:00Z&until=2026-03-02T12:06:00Z");
    is_deeply( [ sort map { $_->{reason_code} } @{ $r->{json}{traces} } ], [qw(R2 R3 R4 R5 R6)],
               'since inclusive, until exclusive: 12:02 .. 12:05' )
      or diag explain [ map { "$_->{created_at} $_->{reason_code}" } @{ $r->{json}{traces} } ];
    $r = $srv->get("$base?since=2026-03-02T14:02:00%2B02:00&until=2026-03-02T14:04:00%2B02:00");
    is( scalar @{ $r->{json}{traces} }, 2, 'offsets are honoured (+02:00, encoded)' );
    $r = $srv->get("$base?since=2026-03-02T14:02:00+02:00&until=2026-03-02T14:04:00+02:00");
    is( scalar @{ $r->{json}{traces} }, 2, 'an unencoded + in the offset works too' );
    $r = $srv->get("$base?since=2026-03-02T12:07:00.000Z");
    is( scalar @{ $r->{json}{traces} }, 2, 'since alone (with a fraction)' );
    $r = $srv->get("$base?until=2026-03-02T12:01:00Z");
    is( scalar @{ $r->{json}{traces} }, 1, 'until alone' );
    $r = $srv->get("$base?since=2026-03-02T12:09:00Z");
    is_deeply( $r->{json}{traces}, [], 'an empty window' );

    # cursor pages inside a window
    ( @seen, $cursor ) = ();
    for ( 1 .. 5 ) {
        $r = $srv->get( "$base?since=2026-03-02T12:01:00Z&until=2026-03-02T12:08:00Z&limit=2" . ( defined $cursor ? "&cursor=$cursor" : '' ) );
        push @seen, map { $_->{reason_code} } @{ $r->{json}{traces} };
        $cursor = $r->{json}{next_cursor};
        last unless defined $cursor;
    }
    is_deeply( [ sort @seen ], [qw(R1 R2 R3 R4 R5 R6 R7 R8)], 'paging through a window (limit 2) sees its eight traces once' );

    invalid_ok( $srv->get("$base?since=$_"), 'since', "since=$_" )
      for ( 'yesterday', '2026-03-02', '2026-02-30T00:00:00Z', '2026-03-02T24:00:00Z', '2026-03-02T12:00:00', '2026-03-02T12:00:00+2' );
    invalid_ok( $srv->get("$base?until=1709380800"), 'until', 'until as epoch seconds' );
    invalid_ok( $srv->get("$base?limit=$_"), 'limit', "limit=$_" ) for ( '0', '501', 'x' );
    invalid_ok( $srv->get("$base?cursor=$_"), 'cursor', "cursor=$_" ) for ( 'abc', "2026-03-02T12:00:00Z_$NOBOT" . 'x' );

    $r = $srv->get("/api/bots/$empty/decision-traces");
    is( $r->{status}, 200, 'a bot without traces' );
    is_deeply( $r->{json}{traces}, [], 'has an empty list' );
    ok( !defined $r->{json}{next_cursor}, 'and no next page' );
    error_ok( $srv->get("/api/bots/$NOBOT/decision-traces"), 404, 'NOT_FOUND', 'unknown bot' );
    error_ok( $srv->get('/api/bots/zzz/decision-traces'), 404, 'NOT_FOUND', 'non-UUID bot id' );
    is( $srv->get("$base?limit=3")->{json}{traces}[0]{id}, $all[0]{id}, 'GET needs no token' );

    my $nt = "/api/bots/$bot/no-trade-traces";
    $r = $srv->get("$nt?limit=2");
    is( $r->{status}, 200, 'GET no-trade traces' );
    envelope_ok( $r, 'no-trade list', success => 1 );
    is_deeply( [ map { $_->{reason_code} } @{ $r->{json}{traces} } ], [qw(N4 N3)], 'newest first' );
    ok( $r->{json}{next_cursor}, 'a next_cursor' );
    $r = $srv->get( "$nt?limit=2&cursor=" . $r->{json}{next_cursor} );
    is_deeply( [ map { $_->{reason_code} } @{ $r->{json}{traces} } ], [qw(N2 N1)], 'second page' );
    $r = $srv->get("$nt?since=2026-03-02T12:01:00Z&until=2026-03-02T12:03:00Z");
    is_deeply( [ map { $_->{reason_code} } @{ $r->{json}{traces} } ], [qw(N2 N1)], 'window' );
    is_deeply( $r->{json}{traces}[0]{blocked_by}, [], 'blocked_by present' );
    error_ok( $srv->get("/api/bots/$NOBOT/no-trade-traces"), 404, 'NOT_FOUND', 'no-trade: unknown bot' );
    invalid_ok( $srv->get("$nt?until=soon"), 'until', 'no-trade: bad until' );

    # a trace POSTed now shows up first
    $r = $srv->post( $base, decision( reason_code => 'LATEST' ), $AUTH );
    is( $srv->get("$base?limit=1")->{json}{traces}[0]{reason_code}, 'LATEST', 'a new trace is listed first' );
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
    my $srv = start_server( home => $home, env => \%ENV_, db => $url );
    my $bot = new_bot( $srv, 'outage' );
    ($rc) = $pg->( 'stop', $pgdir );
    error_ok( $srv->get("/api/bots/$bot/decision-traces"), 503, 'DB_UNAVAILABLE', 'GET decision traces' );
    error_ok( $srv->get("/api/bots/$bot/no-trade-traces"), 503, 'DB_UNAVAILABLE', 'GET no-trade traces' );
    error_ok( $srv->post( "/api/bots/$bot/decision-traces", decision(), $AUTH ), 503, 'DB_UNAVAILABLE', 'POST decision trace' );
    error_ok( $srv->post( "/api/bots/$bot/no-trade-traces", no_trade(), $AUTH ), 503, 'DB_UNAVAILABLE', 'POST no-trade trace' );
    ($rc) = $pg->( 'start', $pgdir, '--port', $port );
    ok( wait_for( sub { $srv->get("/api/bots/$bot/decision-traces")->{status} == 200 }, 10, 'recovery' ), 'answers again once Postgres is back' );
    is( $srv->stop, 0, 'stopped cleanly' );
};

done_testing;
