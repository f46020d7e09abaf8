# Positions, orders, fills, P&L and the portfolio (issue 16): average cost in USD (points x qty x the contract
# multiplier of scripts/instruments.lua − fees); unknown money is null with an unknown_reason.
#   (a) hand-computed: fills applied with gh_apply_fill in SQL — adds, a partial close, a reversal, fees, an ES
#       symbol (multiplier 50) and a ZN symbol (no multiplier) — and /positions, /fills, /orders, /pnl and
#       /portfolio to the cent, nulls with unknown_reason where the multiplier or the mark is unknown.
#   (b) a PAPER bot trading the simulator (the flip fixture: enter when flat, exit when in a position) for
#       several ticks; a Perl replay of average cost over the SQL rows of fills + orders (not positions) gives
#       realized, unrealized and fees, compared with the API to the cent.
#   (c) PAPER and LIVE are never added together in /api/portfolio (a promoted bot has a row in each).
#   (d) a bad window is 400 VALIDATION_FAILED field window; an unknown or non-UUID bot is 404 on every route.
#   (e) migrations/0070_trading.sql back-fills fills.closed_qty, positions.fees/fill_count/last_fill_at and
#       pnl_daily from fills applied before it (by 0050's gh_apply_fill), as the new gh_apply_fill would have.
# Servers run at Tuesday 2026-12-08 15:00 UTC (AT_OPEN).
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;
use Gatehouse::Sim;
use Gatehouse::Fixtures;

my $QUIET = { GATEHOUSE_BACKGROUND_VERIFY => 0, GATEHOUSE_ALERTS => 0 };

sub rows { my ( $srv, $sql ) = @_; [ psql_rows( $srv->db, $sql ) ] }
sub one  { my ( $srv, $sql ) = @_; rows( $srv, $sql )->[0][0] }

# to the cent
sub cents {
    my ( $got, $want, $desc ) = @_;
    return ok( 0, "$desc: got undef, want $want" ) unless defined $got;
    my $ok = abs( $got - $want ) < 0.005;
    ok( $ok, "$desc: $want" ) or diag("got $got, want $want");
    return $ok;
}

sub bot {
    my ( $srv, $name, $symbol, $stage ) = @_;
    return one( $srv, "INSERT INTO bots (name, strategy, symbol, timeframe, stage) VALUES "
          . "('$name', 'sma_cross', '$symbol', '1m', '" . ( $stage // 'PAPER' ) . "') RETURNING id" );
}

# One order of $qty filled at once at $price with $fee, $ago minutes before the server's now. PAPER orders
# are created SUBMITTED; LIVE ones INTENT, then SUBMITTED, then filled by a real (non-simulated) fill.
sub trade {
    my ( $srv, $bot, $stage, $symbol, $side, $qty, $price, $fee, $ago ) = @_;
    my $live  = $stage eq 'LIVE';
    my $order = one( $srv, "INSERT INTO orders (bot_id, stage, broker, symbol, side, qty, order_type, status, trace_id) VALUES "
          . "('$bot', '$stage', " . ( $live ? "'ironbeam'" : 'NULL' ) . ", '$symbol', '$side', $qty, 'MARKET', "
          . ( $live ? "'INTENT'" : "'SUBMITTED'" ) . ", 'spec82') RETURNING id" );
    one( $srv, "SELECT gh_order_transition('$order', 'SUBMITTED', NULL, NULL, 'spec82')" ) if $live;
    one( $srv, "SELECT gh_apply_fill('$order', $qty, $price, " . ( $live ? 'false' : 'true' ) . ", 'spec82', NULL, $fee, NULL, "
          . "gh_now() - interval '$ago minutes')" );
    return $order;
}

sub mark { my ( $srv, $bot, $stage, $symbol, $price ) = @_;
    psql_rows( $srv->db, "UPDATE positions SET mark_price = $price, marked_at = gh_now() WHERE bot_id = '$bot' "
          . "AND stage = '$stage' AND symbol = '$symbol'" ) }

subtest '(a) hand-computed P&L, (c) stages apart, (d) errors' => sub {
    my $srv = start_server( env => $QUIET, home => fixture_home(), clock => AT_OPEN );

    # ES (x50), never more than 2 contracts (the risk watch's ceiling): +2 @5000, -1 @5004 (partial close:
    # +4 pts = $200, long 1 @5000), +1 @5006 (long 2 @5003), -3 @5013 (reversal: closes 2 for +20 pts = $1000,
    # short 1 @5013), +1 @5015 (covers: -2 pts = -$100), +1 @5010 (long 1 @5010).
    my $es = bot( $srv, 'pnl-es', 'ESZ6' );
    trade( $srv, $es, 'PAPER', 'ESZ6', @$_ )
      for [ 'BUY', 2, 5000, 2.50, 60 ], [ 'SELL', 1, 5004, 1.25, 50 ], [ 'BUY', 1, 5006, 1.25, 40 ],
      [ 'SELL', 3, 5013, 3.75, 30 ], [ 'BUY', 1, 5015, 1.25, 20 ], [ 'BUY', 1, 5010, 1.25, 10 ];
    mark( $srv, $es, 'PAPER', 'ESZ6', 5008 );
    is_deeply( rows( $srv, "SELECT f.closed_qty::int, f.realized_pnl::int FROM fills f WHERE f.bot_id = '$es' ORDER BY f.seq" ),
        [ [ 0, 0 ], [ 1, 4 ], [ 0, 0 ], [ 2, 20 ], [ 1, -2 ], [ 0, 0 ] ], 'fills.closed_qty and realized_pnl per fill' );
    is_deeply( rows( $srv, "SELECT realized_points::int, fees::text, fills, closing_fills, winning_fills, gross_profit_points::int, "
              . "gross_loss_points::int FROM pnl_daily WHERE bot_id = '$es'" ), [ [ 22, '11.25', 6, 3, 2, 24, 2 ] ],
        "pnl_daily: today's one row" );

    my $pos = $srv->get("/api/bots/$es/positions");
    is( $pos->{status}, 200, 'positions 200' );
    my ($p) = @{ $pos->{json}{positions} };
    is( scalar @{ $pos->{json}{positions} }, 1, 'one position' );
    is_deeply( [ @$p{qw(stage symbol qty avg_price mark multiplier)} ], [ 'PAPER', 'ESZ6', 1, 5010, 5008, 50 ],
        'PAPER ESZ6 long 1 @5010 marked 5008, multiplier 50' );
    cents( $p->{unrealized}, -100,  'unrealized (5008 - 5010) x 1 x 50' );
    cents( $p->{realized},   1100,  'realized 22 points x 50' );
    cents( $p->{fees},       11.25, 'fees' );
    ok( !exists $p->{unknown_reason}, 'nothing unknown' );
    is( $p->{last_fill_at}, one( $srv, "SELECT to_char(max(filled_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') "
              . "FROM fills WHERE bot_id = '$es'" ), 'last_fill_at is the last fill' );

    my $fills = $srv->get("/api/bots/$es/fills?limit=4");
    is( scalar @{ $fills->{json}{fills} }, 4, 'fills page of 4' );
    ok( $fills->{json}{next_cursor}, 'with a next cursor' );
    my $rest = $srv->get("/api/bots/$es/fills?limit=4&cursor=$fills->{json}{next_cursor}");
    my @all = ( @{ $fills->{json}{fills} }, @{ $rest->{json}{fills} } );
    is( scalar @all, 6, 'the second page holds the other 2' );
    is( $rest->{json}{next_cursor}, undef, 'and no further cursor' );
    is_deeply( [ map { $_->{price} } @all ], [ 5010, 5015, 5013, 5006, 5004, 5000 ], 'newest first' );
    my %by_price = map { $_->{price} => $_ } @all;
    cents( $by_price{5013}{realized}, 1000, 'the reversal fill realized $1000' );
    is( $by_price{5013}{closed_qty}, 2, 'and closed 2' );
    cents( $by_price{5015}{realized}, -100, 'the covering fill lost $100' );
    cents( $by_price{5004}{realized}, 200,  'the partial close made $200' );
    cents( $by_price{5000}{realized}, 0,    'an opening fill realized 0' );

    my $orders = $srv->get("/api/bots/$es/orders?status=FILLED");
    is( scalar @{ $orders->{json}{orders} }, 6, 'six FILLED orders' );
    is_deeply( [ @{ $orders->{json}{orders}[0] }{qw(status filled_qty avg_fill_price side)} ], [ 'FILLED', 1, 5010, 'BUY' ],
        'the newest order first, with its fill' );

    my $pnl = $srv->get("/api/bots/$es/pnl")->{json}{pnl};
    is_deeply( [ @$pnl{qw(window stage method currency fills closing_fills trade_count)} ],
        [ '7d', 'PAPER', 'average_cost', 'USD', 6, 3, 3 ], 'pnl: 7d of the PAPER stage, 6 fills, 3 closing' );
    cents( $pnl->{realized},      1100,   'pnl realized' );
    cents( $pnl->{unrealized},    -100,   'pnl unrealized' );
    cents( $pnl->{fees},          11.25,  'pnl fees' );
    cents( $pnl->{net},           988.75, 'pnl net = 1100 - 100 - 11.25' );
    cents( $pnl->{realized_points}, 22,   'pnl realized points' );
    cents( $pnl->{win_rate},      2 / 3,  'win rate 2 of 3 closing fills' );
    cents( $pnl->{profit_factor}, 12,     'profit factor $1200 / $100' );
    cents( $pnl->{max_drawdown},  202.5,  'max drawdown: 1191.25 after the reversal down to the final 988.75' );
    my @eq = map { $_->{equity} } @{ $pnl->{equity} };
    my @want = ( 0, -2.5, 196.25, 195, 1191.25, 1090, 1088.75, 988.75 );
    is( scalar @eq, scalar @want, 'equity: the start, one point per fill, the end' );
    cents( $eq[$_], $want[$_], "equity point $_" ) for 0 .. $#want;
    is( $pnl->{equity}[0]{t}, $pnl->{since}, 'the series starts at since' );
    is( $pnl->{equity}[-1]{t}, $pnl->{until}, 'and ends at until' );
    my $all = $srv->get("/api/bots/$es/pnl?window=all")->{json}{pnl};
    cents( $all->{net}, 988.75, 'window=all: the same net' );

    # ZN: no multiplier. +2 @110 two days ago, -1 @111 an hour ago (+1 point), fees $1 each.
    my $zn = bot( $srv, 'pnl-zn', 'ZNH7' );
    trade( $srv, $zn, 'PAPER', 'ZNH7', 'BUY',  2, 110, 1, 2 * 24 * 60 );
    trade( $srv, $zn, 'PAPER', 'ZNH7', 'SELL', 1, 111, 1, 60 );
    my $reason = qr/no contract multiplier for root ZN in scripts\/instruments\.lua/;
    ($p) = @{ $srv->get("/api/bots/$zn/positions")->{json}{positions} };
    is_deeply( [ @$p{qw(qty multiplier realized unrealized mark)} ], [ 1, undef, undef, undef, undef ],
        'ZN position: multiplier, realized, unrealized null' );
    cents( $p->{fees}, 2, 'ZN fees are known' );
    like( $p->{unknown_reason}, $reason, 'unknown_reason names the root and the file' );
    like( $p->{unknown_reason}, qr/no mark/, 'and the missing mark' );
    my ($zf) = @{ $srv->get("/api/bots/$zn/fills?limit=1")->{json}{fills} };
    is( $zf->{realized}, undef, 'ZN fill: realized null' );
    cents( $zf->{realized_points}, 1, 'realized_points 1' );
    like( $zf->{unknown_reason}, $reason, 'ZN fill: unknown_reason' );
    my $zp = $srv->get("/api/bots/$zn/pnl?window=7d")->{json}{pnl};
    is_deeply( [ @$zp{qw(realized net equity max_drawdown fills closing_fills win_rate)} ], [ undef, undef, undef, undef, 2, 1, 1 ],
        'ZN pnl: realized, net, equity, max_drawdown null; counts and win rate known' );
    cents( $zp->{fees}, 2, 'ZN pnl fees' );
    like( $zp->{unknown_reason}, $reason, 'ZN pnl: unknown_reason' );
    is( $srv->get("/api/bots/$zn/pnl?window=1d")->{json}{pnl}{fills}, 1, 'window=1d leaves out the fill of two days ago' );

    # (c) a bot with PAPER history promoted to LIVE, trading NQ (x20) there.
    my $nq = bot( $srv, 'pnl-nq', 'NQH7' );
    trade( $srv, $nq, 'PAPER', 'NQH7', 'BUY',  1, 20000, 0, 50 );
    trade( $srv, $nq, 'PAPER', 'NQH7', 'SELL', 1, 20050, 0, 45 );    # PAPER: +50 pts = $1000
    psql_rows( $srv->db, "UPDATE bots SET stage = 'LIVE' WHERE id = '$nq'" );
    trade( $srv, $nq, 'LIVE', 'NQH7', 'BUY',  1, 20000, 2, 30 );
    trade( $srv, $nq, 'LIVE', 'NQH7', 'SELL', 1, 20010, 2, 20 );    # LIVE: +10 pts = $200, fees $4
    trade( $srv, $nq, 'LIVE', 'NQH7', 'BUY',  2, 20005, 0, 10 );
    mark( $srv, $nq, 'LIVE', 'NQH7', 20000 );                        # unrealized (20000 - 20005) x 2 x 20 = -$200
    my $lp = $srv->get("/api/bots/$nq/pnl")->{json}{pnl};
    is( $lp->{stage}, 'LIVE', "pnl defaults to the bot's stage" );
    cents( $lp->{net}, -4, 'LIVE net = 200 - 200 - 4' );
    cents( $srv->get("/api/bots/$nq/pnl?stage=PAPER")->{json}{pnl}{realized}, 1000, 'stage=PAPER: the paper history' );

    my $pf = $srv->get('/api/portfolio');
    is( $pf->{status}, 200, 'portfolio 200' );
    my $port = $pf->{json}{portfolio};
    is( $port->{day}, '2026-12-08', 'day: the UTC date of the server clock' );
    my %row = map { ( "$_->{name}/$_->{stage}", $_ ) } @{ $port->{bots} };
    is_deeply( [ sort keys %row ], [ 'pnl-es/PAPER', 'pnl-nq/LIVE', 'pnl-nq/PAPER', 'pnl-zn/PAPER' ],
        'one row per bot and stage it traded in (the promoted bot has two)' );
    my $r = $row{'pnl-es/PAPER'};
    is_deeply( [ @$r{qw(symbol position_qty avg_price mark)} ], [ 'ESZ6', 1, 5010, 5008 ], 'ES row: position' );
    cents( $r->{realized}, 1100, 'ES row realized' );
    cents( $r->{unrealized}, -100, 'ES row unrealized' );
    cents( $r->{fees}, 11.25, 'ES row fees' );
    cents( $r->{net}, 988.75, 'ES row net' );
    cents( $r->{day_net}, 1088.75, "ES row day_net: today's realized - fees" );
    $r = $row{'pnl-zn/PAPER'};
    is_deeply( [ @$r{qw(realized unrealized net day_net)} ], [ undef, undef, undef, undef ], 'ZN row: money unknown' );
    like( $r->{unknown_reason}, $reason, 'ZN row: unknown_reason' );

    my $live = $port->{stages}{LIVE};
    cents( $live->{realized}, 200, 'LIVE total realized: only LIVE fills (not the $1000 of PAPER)' );
    cents( $live->{unrealized}, -200, 'LIVE total unrealized' );
    cents( $live->{fees}, 4, 'LIVE total fees' );
    cents( $live->{net}, -4, 'LIVE total net' );
    cents( $live->{day_net}, 196, 'LIVE total day_net' );
    is_deeply( [ @$live{qw(bots open_positions)} ], [ 1, 1 ], 'LIVE: 1 bot, 1 open position' );
    my $paper = $port->{stages}{PAPER};
    is( $paper->{realized}, undef, 'PAPER total realized is null: a PAPER bot trades a root without a multiplier' );
    like( $paper->{unknown_reason}, $reason, 'and says why' );
    cents( $paper->{fees}, 13.25, 'PAPER fees: ES 11.25 + ZN 2 (no LIVE fee)' );
    is_deeply( [ @$paper{qw(bots open_positions)} ], [ 3, 2 ], 'PAPER: 3 bot rows, 2 open positions' );
    cents( $port->{stages}{SHADOW}{net}, 0, 'SHADOW: nothing' );
    my %ex = map { ( "$_->{stage}/$_->{symbol}", $_ ) } @{ $port->{exposure} };
    is_deeply( [ sort keys %ex ], [ 'LIVE/NQH7', 'PAPER/ESZ6', 'PAPER/ZNH7' ], 'exposure per stage and open symbol' );
    cents( $ex{'LIVE/NQH7'}{notional}, 800000, 'LIVE NQ notional 2 x 20000 x 20' );
    is_deeply( [ @{ $ex{'PAPER/ZNH7'} }{qw(net_qty gross_qty notional)} ], [ 1, 1, undef ], 'ZN exposure: notional unknown' );

    # (d) errors
    error_ok( $srv->get("/api/bots/$es/pnl?window=2d"), 400, 'VALIDATION_FAILED', 'window=2d' );
    is( $srv->get("/api/bots/$es/pnl?window=2d")->{json}{field}, 'window', 'the error names field window' );
    error_ok( $srv->get("/api/bots/$es/orders?status=DONE"), 400, 'VALIDATION_FAILED', 'status=DONE' );
    for my $route (qw(positions orders fills pnl)) {
        error_ok( $srv->get("/api/bots/00000000-0000-4000-8000-000000000000/$route"), 404, 'NOT_FOUND', "unknown bot: $route" );
        error_ok( $srv->get("/api/bots/not-a-uuid/$route"), 404, 'NOT_FOUND', "non-UUID bot: $route" );
    }
    is( $srv->stop, 0, 'stopped' );
};

# Average cost replayed from the SQL rows of fills + orders: realized points per symbol, fees, position.
sub replay {
    my ($rows) = @_;
    my ( %pos, %avg, %realized, $fees );
    for my $f (@$rows) {
        my ( $symbol, $side, $qty, $price, $fee ) = @$f;
        my $q = $side eq 'BUY' ? $qty : -$qty;
        my $p = $pos{$symbol} // 0;
        $avg{$symbol} //= 0;
        $fees += $fee;
        if ( $p == 0 || ( $p > 0 ) == ( $q > 0 ) ) {
            $avg{$symbol} = ( $avg{$symbol} * abs($p) + $price * abs($q) ) / ( abs($p) + abs($q) );
        } else {
            my $closed = abs($p) < abs($q) ? abs($p) : abs($q);
            $realized{$symbol} += $closed * ( $price - $avg{$symbol} ) * ( $p > 0 ? 1 : -1 );
            my $n = $p + $q;
            $avg{$symbol} = $n == 0 ? 0 : ( $n > 0 ) != ( $p > 0 ) ? $price : $avg{$symbol};
        }
        $pos{$symbol} = $p + $q;
    }
    return ( \%pos, \%avg, \%realized, $fees // 0 );
}

subtest '(b) a PAPER bot on the simulator: the API equals an independent replay of its fills' => sub {
    my $sim = Gatehouse::Sim::start_sim();
    my $srv = start_server( env => { %{ $sim->base_env( only => [qw(databento)] ) }, %$QUIET }, home => fixture_home(), clock => AT_OPEN );
    is( $srv->post( '/api/integrations/verify', { provider_id => 'databento' } )->{status}, 200, 'databento verified' );
    my $id = one( $srv, "INSERT INTO bots (name, strategy, symbol, timeframe, stage) VALUES ('pnl-sim', 'flip', 'ESZ6', '1m', 'PAPER') RETURNING id" );
    my @outcomes;
    for ( 1 .. 8 ) {    # 8 ticks: 7 fills, the last one leaves long 1 open (unrealized at the tick's mark)
        my $t = $srv->post("/api/bots/$id/tick")->{json}{tick};
        push @outcomes, $t->{outcome};
        # the next bar fills the order: its creation moves back so the window holds a bar after it
        psql_rows( $srv->db, "UPDATE orders SET created_at = created_at - interval '3 minutes' WHERE bot_id = '$id'" );
    }
    my $rows = rows( $srv, "SELECT o.symbol, o.side, f.qty, f.price, f.fee FROM fills f JOIN orders o ON o.id = f.order_id "
          . "WHERE f.bot_id = '$id' AND o.stage = 'PAPER' ORDER BY f.seq" );
    cmp_ok( scalar @$rows, '>=', 4, scalar(@$rows) . ' fills from ' . scalar(@outcomes) . ' ticks' ) or diag explain \@outcomes;
    my $sides = join '', map { substr $_->[1], 0, 1 } @$rows;
    like( $sides, qr/BS/, "buys and sells ($sides): positions were closed" );
    my ( $pos, $avg, $realized, $fees ) = replay($rows);
    my $mark = one( $srv, "SELECT mark_price FROM positions WHERE bot_id = '$id' AND stage = 'PAPER' AND symbol = 'ESZ6'" );
    my $unrealized = ( $pos->{ESZ6} // 0 ) == 0 ? 0 : ( $mark - $avg->{ESZ6} ) * $pos->{ESZ6} * 50;
    my $want_realized = ( $realized->{ESZ6} // 0 ) * 50;

    my ($p) = @{ $srv->get("/api/bots/$id/positions")->{json}{positions} };
    is( $p->{qty}, $pos->{ESZ6}, "position qty $pos->{ESZ6}" );
    isnt( $pos->{ESZ6}, 0, 'the position is open' );
    ok( defined $mark, "marked at $mark by the tick" );
    cents( $p->{realized},   $want_realized, 'positions: realized equals the replay' );
    cents( $p->{unrealized}, $unrealized,    'positions: unrealized equals the replay at the stored mark' );
    cents( $p->{fees},       $fees,          'positions: fees' );
    my $pnl = $srv->get("/api/bots/$id/pnl?window=all")->{json}{pnl};
    cents( $pnl->{realized},   $want_realized,                        'pnl: realized' );
    cents( $pnl->{unrealized}, $unrealized,                           'pnl: unrealized' );
    cents( $pnl->{fees},       $fees,                                 'pnl: fees' );
    cents( $pnl->{net},        $want_realized + $unrealized - $fees, 'pnl: net' );
    is( $pnl->{fills}, scalar @$rows, 'pnl: every fill counted' );
    my $sum = 0;
    $sum += $_->{realized} for @{ $srv->get("/api/bots/$id/fills?limit=500")->{json}{fills} };
    cents( $sum, $want_realized, 'the fills realized add up to the same' );
    my ($row) = grep { $_->{bot_id} eq $id } @{ $srv->get('/api/portfolio')->{json}{portfolio}{bots} };
    cents( $row->{net}, $want_realized + $unrealized - $fees, 'portfolio: the same net' );
    is( $srv->stop, 0, 'stopped' );
};

subtest '(e) 0070 back-fills from the fills applied before it' => sub {
    my $db   = new_database();
    my $home = fixture_home();
    my @later = grep { m{/(\d{4})_[^/]+\.sql\z} && $1 ge '0070' } glob "$home/migrations/*.sql";
    ok( ( grep {m{/0070_trading\.sql\z}} @later ), 'the home holds 0070' );
    unlink @later;
    my $srv = start_server( db => $db, home => $home, env => $QUIET, clock => AT_OPEN );
    is( one( $srv, "SELECT count(*) FROM information_schema.columns WHERE table_name = 'fills' AND column_name = 'closed_qty'" ), 0,
        'before 0070: no fills.closed_qty' );
    my $id = bot( $srv, 'backfill', 'ESZ6' );
    # yesterday (UTC) +2 @100 and -1 @104, fee 1 each; today -3 @110 (fee 2) and +1 @111 (fee 0.50)
    trade( $srv, $id, 'PAPER', 'ESZ6', @$_ ) for [ 'BUY', 2, 100, 1, 24 * 60 ], [ 'SELL', 1, 104, 1, 24 * 60 - 5 ],
      [ 'SELL', 3, 110, 2, 30 ], [ 'BUY', 1, 111, 0.5, 20 ];
    is( $srv->stop, 0, 'stopped' );
    copy_back($home);
    $srv = start_server( db => $db, home => $home, env => $QUIET, clock => AT_OPEN );
    # long 2 @100; -1 @104 closes 1 (+4), long 1 @100; -3 @110 closes 1 (+10), short 2 @110; +1 @111 closes 1 (-1)
    is_deeply( rows( $srv, "SELECT closed_qty::int FROM fills WHERE bot_id = '$id' ORDER BY seq" ), [ [0], [1], [1], [1] ],
        'fills.closed_qty replayed in seq order (the reversal closes 1)' );
    is_deeply( rows( $srv, "SELECT qty::int, fees::text, fill_count, last_fill_at = (SELECT max(filled_at) FROM fills WHERE bot_id = '$id') "
              . "FROM positions WHERE bot_id = '$id'" ), [ [ -1, '4.5', 4, 't' ] ], 'positions.fees, fill_count, last_fill_at' );
    is_deeply( rows( $srv, "SELECT day = (gh_now() AT TIME ZONE 'UTC')::date, realized_points::int, fees::text, fills, closing_fills, "
              . "winning_fills, gross_profit_points::int, gross_loss_points::int FROM pnl_daily WHERE bot_id = '$id' ORDER BY day" ),
        [ [ 'f', 4, '2', 2, 1, 1, 4, 0 ], [ 't', 9, '2.5', 2, 2, 1, 10, 1 ] ], 'pnl_daily: one row per UTC day' );
    my $pnl = $srv->get("/api/bots/$id/pnl?window=all")->{json}{pnl};
    cents( $pnl->{realized}, 13 * 50, 'the API reads the back-filled data: realized 13 points x 50' );
    is_deeply( [ @$pnl{qw(fills closing_fills)} ], [ 4, 3 ], '4 fills, 3 closing' );
    is( $srv->stop, 0, 'stopped' );
};

sub copy_back {
    my ($home) = @_;
    for my $f ( glob repo_root() . '/migrations/*.sql' ) {
        ( my $name = $f ) =~ s{.*/}{};
        write_file( "$home/migrations/$name", read_file($f) ) unless -e "$home/migrations/$name";
    }
}

done_testing;
