# Issue 16, bots and bars: bot params checked against the strategy's schema (scripts/lib/params.lua) on create,
# patch and clone, each refusal naming its field with the rule; GET /api/strategies from the loaded generation;
# POST /api/bots/:id/clone; the bars a PAPER tick used written to market_bars (once per fetch: the newer bars
# plus the last one again) and read back through GET /api/bots/:id/bars with the simulator's OHLC; a backtest
# writes the bars it replayed and its result carries the /pnl statistics (profit_factor, fees, multiplier,
# pnl_usd, max_drawdown_usd, equity).
#
# Every server runs at AT_OPEN (the simulator at the same instant): nothing depends on the wall clock.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use POSIX qw(strftime);
use Gatehouse::Test;
use Gatehouse::Sim;
use Gatehouse::Fixtures;

my $QUIET = { GATEHOUSE_BACKGROUND_VERIFY => 0, GATEHOUSE_ALERTS => 0 };
my $sim   = Gatehouse::Sim::start_sim();
my $env   = { %{ $sim->base_env( only => [qw(databento)] ) }, %$QUIET };
my $srv   = start_server( env => $env, home => fixture_home(), clock => AT_OPEN );
is( $srv->post( '/api/integrations/verify', { provider_id => 'databento' } )->{json}{reason_code}, 'OK', 'databento verified' );

sub iso { strftime( '%Y-%m-%dT%H:%M:%SZ', gmtime( $_[0] ) ) }
sub patch { my ( $path, $body ) = @_; $srv->request( 'PATCH', $path, { body => $body } ) }
sub bot_body { +{ name => $_[0], strategy => 'sma_cross', symbol => 'ESZ6', timeframe => '1m', @_[ 1 .. $#_ ] } }
sub bot_count { my ($name) = @_; ( psql_rows( $srv->db, 'SELECT count(*) FROM bots WHERE name = $1', $name ) )[0][0] }

# refused($res, $field, $reason_re, $desc): 400 VALIDATION_FAILED naming $field, with a reason matching $reason_re.
sub refused {
    my ( $res, $field, $reason, $desc ) = @_;
    error_ok( $res, 400, 'VALIDATION_FAILED', $desc );
    is( ( $res->{json} || {} )->{field}, $field, "$desc: field $field" );
    like( ( $res->{json} || {} )->{reason_human} // '', $reason, "$desc: the rule is stated" );
}

my $valid_id;
subtest 'POST /api/bots: params checked against the strategy schema' => sub {
    my $r = $srv->post( '/api/bots', bot_body( 'q0', params => { qty => 0 } ) );
    refused( $r, 'params.qty', qr/\Aparams\.qty must be an integer from 1 to 100\z/, 'qty 0' );
    is( bot_count('q0'), 0, 'no bot written' );
    refused( $srv->post( '/api/bots', bot_body( 'qf', params => { qty => 1.5 } ) ), 'params.qty',
             qr/integer from 1 to 100/, 'qty 1.5' );
    refused( $srv->post( '/api/bots', bot_body( 'qs', params => { qty => '2' } ) ), 'params.qty',
             qr/integer from 1 to 100/, 'qty as a string' );
    $r = $srv->post( '/api/bots', bot_body( 'foo', params => { qty => 1, foo => 1 } ) );
    refused( $r, 'params.foo', qr/\Aparams\.foo is not a parameter of strategy sma_cross \(known: .*\bqty\b.*\)\z/,
             'an unknown param' );
    refused( $srv->post( '/api/bots', bot_body( 'k', strategy => 'atr_band', params => { k => 50 } ) ), 'params.k',
             qr/\Aparams\.k must be a number from 0\.1 to 10\z/, 'atr_band k out of range' );
    refused( $srv->post( '/api/bots', bot_body( 'rk', params => { risk => { max_contracts => 0 } } ) ),
             'params.risk.max_contracts', qr/integer from 1 to 10000/, 'a common param (risk override) is checked too' );
    refused( $srv->post( '/api/bots', bot_body( 'st', strategy => 'nope' ) ), 'strategy', qr/Unknown strategy 'nope'/,
             'an unknown strategy' );

    $r = $srv->post( '/api/bots', bot_body( 'valid', stage => 'SHADOW', params => { qty => 2, fast => 5, slow => 20,
                                                                                    risk => { max_contracts => 1 } } ) );
    is( $r->{status}, 201, 'valid params → 201' ) or diag explain $r->{json};
    $valid_id = $r->{json}{bot}{id};
    is_deeply( $r->{json}{bot}{params}, { qty => 2, fast => 5, slow => 20, risk => { max_contracts => 1 } },
               'params stored as sent (defaults are not written in)' );
    $r = $srv->post( '/api/bots', bot_body( 'noparams', strategy => 'flip' ) );
    is( $r->{status}, 201, 'a strategy without a schema (the flip fixture) takes no-params bots' );
};

subtest 'PATCH /api/bots/:id: new params checked the same way' => sub {
    refused( patch( "/api/bots/$valid_id", { params => { qty => 101 } } ), 'params.qty',
             qr/\Aparams\.qty must be an integer from 1 to 100\z/, 'PATCH qty 101' );
    my ($row) = psql_rows( $srv->db, 'SELECT params->>\'qty\' FROM bots WHERE id = $1', $valid_id );
    is( $row->[0], '2', 'the bot keeps its params' );
    refused( patch( "/api/bots/$valid_id", { name => 'renamed', params => { slow => 0 } } ), 'params.slow',
             qr/integer from 1 to 1000/, 'PATCH slow 0 (with a name change: nothing is applied)' );
    is( bot_count('renamed'), 0, 'the name did not change either' );
    my $r = patch( "/api/bots/$valid_id", { params => { qty => 3, fast => 5, slow => 20 } } );
    is( $r->{status}, 200, 'a valid PATCH → 200' );
    is( $r->{json}{bot}{params}{qty}, 3, 'applied' );
    error_ok( patch( '/api/bots/00000000-0000-4000-8000-000000000000', { params => { qty => 1 } } ), 404, 'NOT_FOUND',
              'PATCH params of an unknown bot' );
};

subtest 'GET /api/strategies' => sub {
    my $r = $srv->get('/api/strategies');
    is( $r->{status}, 200, 'GET /api/strategies → 200' );
    envelope_ok( $r, 'strategies', success => 1 );
    my %s = map { $_->{name} => $_ } @{ $r->{json}{strategies} || [] };
    ok( $s{$_}, "lists $_" ) for qw(sma_cross atr_band llm_regime flip);
    is_deeply( $s{sma_cross}{params}{qty}, { type => 'integer', default => 1, min => 1, max => 100,
                                             description => 'contracts per entry' }, 'sma_cross qty: its schema entry' );
    is_deeply( [ sort keys %{ $s{llm_regime}{params} } ], [qw(fast k qty slow)], 'llm_regime: every param it reads' );
    is_deeply( [ sort keys %{ $s{atr_band}{params} } ], [qw(k qty slow)], 'atr_band: every param it reads' );
    ok( $s{llm_regime}{requires_ai} && !$s{sma_cross}{requires_ai}, 'requires_ai from the files' );
    like( $s{atr_band}{description}, qr/ATR band/, 'a description' );
    is_deeply( $s{flip}{params}, {}, 'a strategy without a schema lists no params' );
    ok( !defined $s{flip}{description}, 'and a null description' );
    is( $r->{json}{common_params}{risk}{type}, 'object', 'the params every bot may carry are listed apart' );
};

subtest 'POST /api/bots/:id/clone' => sub {
    my $r = $srv->post( "/api/bots/$valid_id/clone", { name => 'copy1', params => { qty => 4 } } );
    is( $r->{status}, 201, 'clone → 201' ) or diag explain $r->{json};
    my $b = $r->{json}{bot} || {};
    isnt( $b->{id}, $valid_id, 'a new bot' );
    is_deeply( [ @$b{qw(strategy symbol timeframe stage desired_state)} ], [qw(sma_cross ESZ6 1m PAPER STOPPED)],
               'same strategy/symbol/timeframe; stage PAPER by default (the source is SHADOW); STOPPED' );
    is_deeply( $b->{params}, { qty => 4, fast => 5, slow => 20 }, 'params merged over the source\'s (its qty replaced)' );
    $r = $srv->post( "/api/bots/$valid_id/clone", { name => 'copy1' } );
    error_ok( $r, 409, 'VALIDATION_FAILED', 'a taken name' );
    is( $r->{json}{field}, 'name', 'naming the field' );
    refused( $srv->post( "/api/bots/$valid_id/clone", { name => 'copy2', params => { qty => 0 } } ), 'params.qty',
             qr/integer from 1 to 100/, 'merged params are checked' );
    is( bot_count('copy2'), 0, 'nothing written' );
    refused( $srv->post( "/api/bots/$valid_id/clone", { stage => 'LIVE' } ), 'name', qr/name/, 'no name' );
    $r = $srv->post( "/api/bots/$valid_id/clone", { name => 'copy3', stage => 'SHADOW' } );
    is( $r->{json}{bot}{stage}, 'SHADOW', 'a given stage is kept' );
    error_ok( $srv->post( '/api/bots/00000000-0000-4000-8000-000000000000/clone', { name => 'x' } ), 404, 'NOT_FOUND',
              'clone of an unknown bot' );
};

my ($flip) = psql_rows( $srv->db, "INSERT INTO bots (name, strategy, symbol, timeframe, stage) VALUES "
      . "('bars1', 'flip', 'ESZ6', '1m', 'PAPER') RETURNING id" );
my $id = $flip->[0];

subtest 'a PAPER tick writes the bars it used; /bars reads them back with the simulator\'s OHLC' => sub {
    my $t = $srv->post("/api/bots/$id/tick")->{json}{tick} || {};
    is( $t->{provider}, 'databento', 'the tick used databento bars' ) or diag explain $t;
    my $n = wait_for( sub { my ($c) = psql_rows( $srv->db, "SELECT count(*) FROM market_bars WHERE symbol = 'ESZ6' AND timeframe = '1m'" );
                            $c->[0] >= $t->{bars} ? $c->[0] : undef }, 10, 'market_bars rows' );
    is( $n, $t->{bars}, "every bar the tick fetched is stored once ($t->{bars})" );

    my $r = $srv->get("/api/bots/$id/bars");
    is( $r->{status}, 200, 'GET /bars → 200' );
    is_deeply( [ @{ $r->{json} }{qw(symbol timeframe)} ], [qw(ESZ6 1m)], 'the bot\'s symbol and timeframe' );
    my $bars = $r->{json}{bars} || [];
    is( scalar @$bars, $n, 'the default window (24 h to now) holds them all' );
    is_deeply( [ map { $_->{t} } @$bars ], [ sort map { $_->{t} } @$bars ], 'oldest first' );
    is( $bars->[0]{provider}, 'databento', 'with the provider' );

    # the same window straight from the simulator: prices in 1e-9 units
    my ( $first, $last ) = ( $bars->[0]{t}, $bars->[-1]{t} );
    my $end = iso( iso_epoch($last) + 60 );
    my $raw = $sim->get( $sim->base_url('databento') . "/v0/timeseries.get_range?dataset=GLBX.MDP3&schema=ohlcv-1m&symbols=ESZ6"
          . "&stype_in=raw_symbol&encoding=json&start=$first&end=$end", { Authorization => 'Basic ' . b64("$env->{DATABENTO_API_KEY}:") } );
    is( $raw->{status}, 200, 'the simulator answers the window' );
    my %sim;
    for ( split /\n/, $raw->{content} // '' ) {
        my ( $ts, @px ) = /"ts_event":"(\d+)".*"open":"(\d+)","high":"(\d+)","low":"(\d+)","close":"(\d+)","volume":"(\d+)"/ or next;
        my $v = pop @px;
        $sim{ int( $ts / 1e9 ) } = [ ( map { $_ / 1e9 } @px ), $v + 0 ];
    }
    my @diff = grep { my $s = $sim{ iso_epoch( $_->{t} ) }; !$s || "@$s" ne "@{[ map { $_ + 0 } @$_{qw(o h l c v)} ]}" } @$bars;
    is( scalar @diff, 0, 'every stored bar equals the simulator\'s OHLCV' ) or diag explain [ $diff[0], $sim{ iso_epoch( $diff[0]{t} ) } ];

    # a second fetch writes the newer bars plus the last one again, not the whole window
    my $before = { map { $_->[0] => $_->[1] } psql_rows( $srv->db, "SELECT " . ts_sql('t') . ", written_at::text FROM market_bars WHERE symbol = 'ESZ6'" ) };
    my $last_before = ( psql_rows( $srv->db, "SELECT " . ts_sql('max(t)') . " FROM market_bars WHERE symbol = 'ESZ6'" ) )[0][0];
    $srv->post("/api/bots/$id/tick");
    ok( wait_for( sub { my ($c) = psql_rows( $srv->db, "SELECT count(*) FROM market_bars WHERE symbol = 'ESZ6' AND written_at::text <> \$1 "
                                              . "AND " . ts_sql('t') . " = \$2", $before->{$last_before}, $last_before ); $c->[0] }, 10, 'rewrite' ),
        'the last bar of the first fetch was written again' );
    my ($older) = psql_rows( $srv->db, "SELECT count(*) FROM market_bars WHERE symbol = 'ESZ6' AND " . ts_sql('t') . " < \$1 "
          . "AND written_at > (SELECT min(written_at) FROM market_bars WHERE " . ts_sql('t') . " >= \$1)", $last_before );
    is( $older->[0], 0, 'the bars before it were not written again' );

    my $two = $srv->get("/api/bots/$id/bars?limit=2")->{json}{bars} || [];
    is( scalar @$two, 2, 'limit=2: two bars' );
    my $all = $srv->get("/api/bots/$id/bars")->{json}{bars};
    is_deeply( [ map { $_->{t} } @$two ], [ map { $_->{t} } @$all[ -2, -1 ] ], 'the newest ones, oldest first' );
    my $win = $srv->get( "/api/bots/$id/bars?from=$all->[1]{t}&to=$all->[2]{t}" )->{json}{bars} || [];
    is_deeply( [ map { $_->{t} } @$win ], [ map { $_->{t} } @$all[ 1, 2 ] ], 'from/to bound the window (both ends included)' );

    refused( $srv->get("/api/bots/$id/bars?from=yesterday"), 'from', qr/RFC 3339/, 'a bad from' );
    refused( $srv->get("/api/bots/$id/bars?to=2026-13-01T00:00:00Z"), 'to', qr/RFC 3339/, 'a bad to' );
    refused( $srv->get("/api/bots/$id/bars?limit=10001"), 'limit', qr/1 to 10000/, 'limit above 10000' );
    refused( $srv->get("/api/bots/$id/bars?from=$all->[2]{t}&to=$all->[1]{t}"), 'from', qr/after 'to'/, 'from after to' );
    error_ok( $srv->get('/api/bots/00000000-0000-4000-8000-000000000000/bars'), 404, 'NOT_FOUND', 'an unknown bot' );
    error_ok( $srv->get('/api/bots/not-a-uuid/bars'), 404, 'NOT_FOUND', 'a non-UUID id' );
};

subtest 'a shared fetch writes its bars once, not once per bot it serves' => sub {
    my $db2  = new_database();
    my $srv2 = start_server( db => $db2, env => { %$env, GATEHOUSE_TICK_INTERVAL_S => 1 }, home => fixture_home(), clock => AT_OPEN );
    $srv2->post( '/api/integrations/verify', { provider_id => 'databento' } );
    # a statement-level trigger counts the upserts (one statement per write, whatever its row count)
    psql_rows( $db2, 'CREATE TABLE spec_bar_writes (n int); '
          . 'CREATE FUNCTION spec_bar_write() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN '
          . 'INSERT INTO spec_bar_writes VALUES (1); RETURN NULL; END $f$; '
          . 'CREATE TRIGGER spec_bar_writes AFTER INSERT ON market_bars FOR EACH STATEMENT EXECUTE FUNCTION spec_bar_write()' );
    my @ids = map { $_->[0] } psql_rows( $db2, "INSERT INTO bots (name, strategy, symbol, timeframe, stage) "
          . "SELECT 'shared-' || g, 'sma_cross', 'ESZ6', '1m', 'PAPER' FROM generate_series(1, 4) g RETURNING id" );
    is( $srv2->post("/api/bots/$_/start")->{status}, 200, 'bot started' ) for @ids;
    my $in = join ',', map {"'$_'"} @ids;
    my $calls = sub { ( psql_rows( $db2, "SELECT count(*) FILTER (WHERE operation = 'marketdata.bars' AND status = 'OK'), "
          . "count(*) FILTER (WHERE operation = 'marketdata.bars.shared') FROM integration_usage_events WHERE bot_id IN ($in)" ) )[0] };
    ok( wait_for( sub { $calls->()->[1] >= 6 }, 20, 'shared ticks' ), 'bots were served from shared fetches' );
    $srv2->post("/api/bots/$_/stop") for @ids;
    my $writes = sub { ( psql_rows( $db2, 'SELECT count(*) FROM spec_bar_writes' ) )[0][0] };
    my ( $real, $shared ) = @{ $calls->() };
    ok( wait_for( sub { ( $real, $shared ) = @{ $calls->() }; $writes->() == $real }, 10, 'writes settle' ),
        "one market_bars write per real fetch ($real fetches, $shared shared uses, " . $writes->() . ' writes)' );
    cmp_ok( $shared, '>', 0, 'and none for the bots served from a share' );
    my ($dup) = psql_rows( $db2, "SELECT count(*) - count(DISTINCT t) FROM market_bars WHERE symbol = 'ESZ6'" );
    is( $dup->[0], 0, 'one row per bar' );
};

subtest 'a backtest writes the bars it replayed; its result carries the /pnl statistics' => sub {
    my $end   = int( $srv->now / 60 ) * 60 - 3 * 3600;    # before the ticks' window: only the backtest writes these
    my $start = $end - 2 * 3600;
    my $r = $srv->post( "/api/bots/$id/backtests", { start => iso($start), end => iso($end) } );
    is( $r->{status}, 202, 'backtest accepted' ) or diag explain $r->{json};
    my $job = wait_for( sub { my $j = $srv->get("/api/jobs/$r->{json}{job}{id}")->{json}{job};
                              $j && $j->{state} =~ /^(SUCCEEDED|FAILED)$/ ? $j : undef }, 60, 'backtest done' );
    is( $job->{state}, 'SUCCEEDED', 'SUCCEEDED' ) or return diag explain $job;
    my $res = $job->{result};
    cmp_ok( $res->{trade_count}, '>', 0, "it traded ($res->{trade_count} trades)" );
    is( $res->{multiplier}, 50, 'ESZ6: multiplier 50 (scripts/instruments.lua)' );
    is( $res->{fees}, 0, 'fees 0 (not modelled)' );
    ok( abs( $res->{pnl_usd} - $res->{pnl} * 50 ) < 1e-6, "pnl_usd = pnl x 50 ($res->{pnl_usd})" );
    cmp_ok( $res->{max_drawdown_usd}, '>=', 0, 'max_drawdown_usd >= 0' );
    my ( $gp, $gl ) = ( 0, 0 );
    for ( @{ $res->{trades} } ) { $gp += $_->{pnl} if $_->{pnl} > 0; $gl -= $_->{pnl} if $_->{pnl} < 0 }
    if ($gl > 0) { ok( abs( $res->{profit_factor} - $gp / $gl ) < 1e-9, "profit_factor = gross profit / gross loss ($res->{profit_factor})" ) }
    else         { ok( !defined $res->{profit_factor}, 'profit_factor null without a loss' ) }
    my $eq = $res->{equity} || [];
    ok( @$eq >= 2 && @$eq <= 500, 'an equity series of at most 500 points (' . scalar(@$eq) . ')' );
    is_deeply( $eq->[0], { t => iso($start), equity => 0 }, 'starting at {start, 0}' );
    is( $eq->[-1]{t}, iso($end), 'ending at the window end' );
    ok( abs( $eq->[-1]{equity} - ( $res->{pnl} + $res->{open_position}{unrealized} ) * 50 ) < 1e-6, 'with realized + unrealized, in USD' );
    is( $res->{equity_unit}, 'USD', 'in USD' );

    my ($c) = psql_rows( $srv->db, "SELECT count(*), min(provider) FROM market_bars WHERE symbol = 'ESZ6' AND timeframe = '1m' "
          . "AND t >= \$1::timestamptz AND t < \$2::timestamptz", iso($start), iso($end) );
    is( $c->[0], $res->{bars}, "every replayed bar is stored ($res->{bars})" );
    is( $c->[1], 'databento', 'with its provider' );
    my $b = $srv->get( "/api/bots/$id/bars?from=" . iso($start) . '&to=' . iso( $end - 1 ) )->{json}{bars} || [];
    is( scalar @$b, $res->{bars}, '/bars serves the backtest window' );
};

subtest 'a backtest of a symbol without a contract multiplier: money in points, never a fake zero' => sub {
    my ($zn) = psql_rows( $srv->db, "INSERT INTO bots (name, strategy, symbol, timeframe, stage) VALUES "
          . "('zn1', 'flip', 'ZNZ6', '1m', 'PAPER') RETURNING id" );
    my $end = int( $srv->now / 60 ) * 60 - 3 * 3600;
    my $r = $srv->post( "/api/bots/$zn->[0]/backtests", { start => iso( $end - 3600 ), end => iso($end) } );
    is( $r->{status}, 202, 'backtest accepted' ) or return diag explain $r->{json};
    my $job = wait_for( sub { my $j = $srv->get("/api/jobs/$r->{json}{job}{id}")->{json}{job};
                              $j && $j->{state} =~ /^(SUCCEEDED|FAILED)$/ ? $j : undef }, 60, 'backtest done' );
    is( $job->{state}, 'SUCCEEDED', 'SUCCEEDED' ) or return diag explain $job;
    my $res = $job->{result};
    ok( exists $res->{$_} && !defined $res->{$_}, "$_ is null" ) for qw(multiplier pnl_usd max_drawdown_usd);
    is( $res->{unknown_reason}, 'no contract multiplier for root ZN in scripts/instruments.lua', 'unknown_reason names why' );
    is( $res->{equity_unit}, 'points', 'the equity series is in points' );
    ok( abs( $res->{equity}[-1]{equity} - ( $res->{pnl} + $res->{open_position}{unrealized} ) ) < 1e-9, 'ending at realized + unrealized points' );
};

sub iso_epoch {
    my ($s) = @_;
    my ( $y, $mo, $d, $h, $mi, $sec ) = $s =~ /^(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)/ or return undef;
    require Time::Local;
    return Time::Local::timegm( $sec, $mi, $h, $d, $mo - 1, $y );
}
sub ts_sql { "to_char($_[0] AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')" }
sub b64 { require MIME::Base64; MIME::Base64::encode_base64( $_[0], '' ) }

done_testing;
