# The Observatory's trading views in a real browser (issue 16): Debian's chromium driven by playwright-core
# (spec/web/trading.mjs) against a real server on the test Postgres, with Databento on the provider simulator,
# at a fixed instant (AT_OPEN). The browser creates a PAPER bot from the New bot form (a value the form
# refuses, then a key the server refuses — its message next to the field), ticks it with "Tick now" until it
# has fills (this file ages the working orders so the next tick's bars hold a bar after them, as spec 57
# does), sees one marker per fill at its price on the bot page's chart, opens "Why traded" from a marker (the
# fill's own decision trace) and the no-trade span of two suppressed ticks with its reason, reads a position and P&L equal to what this file computes from the fills rows
# (average cost, to the cent), sees the Portfolio's stage totals with "unknown" (never 0) for a bot on a root
# without a contract multiplier, runs a backtest to its results, clones the bot and edits its params; a viewer
# reads the same pages with every change disabled.
# Screenshots of each new view go to the output directory of spec 80 ($GH_WEB_OUT or spec/output/web).
# The browser half asks this file for world changes and SQL look-ups over stdin/stdout, one JSON per line.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;
use Gatehouse::Sim;
use Gatehouse::Fixtures;
use IPC::Open2 qw(open2);
use JSON::PP;
use File::Path qw(make_path);
use File::Temp qw(tempfile);
use List::Util qw(min);
use Time::HiRes qw(time);

my $ROOT     = repo_root();
my $CHROMIUM = $ENV{GH_CHROMIUM} || '/usr/bin/chromium';
my $WEB_DIR  = "$ROOT/web/dist";
my $OUT      = $ENV{GH_WEB_OUT} || "$ROOT/spec/output/web";
my $JSON     = JSON::PP->new->utf8->canonical;
my $MULT_ES  = 50;    # scripts/instruments.lua: ES
binmode( Test::More->builder->$_, ':encoding(UTF-8)' ) for qw(output failure_output todo_output);

ok( -x $CHROMIUM, "chromium at $CHROMIUM (runtime/tools/deps.sh installs Debian's chromium)" ) or BAIL_OUT('no chromium');
ok( -f "$WEB_DIR/index.html", 'web/dist is built (make web)' ) or BAIL_OUT('web/dist not built');
ok( -d "$ROOT/node_modules/playwright-core", 'playwright-core installed from package-lock.json (make web)' ) or BAIL_OUT('npm ci not run');

# Test fixture: flipq — ENTRY BUY params.qty when flat, EXIT when in a position (a fill every tick once the
# orders are aged), with a params schema for the New bot form.
my $FLIPQ = <<'LUA';
-- Test fixture (spec 84): ENTRY BUY params.qty when flat, EXIT when in a position.
return { name = "flipq", requires_ai = false, description = "test fixture: buys params.qty when flat, exits when not",
  params = { qty = 1 },
  schema = { qty = { type = "integer", default = 1, min = 1, max = 5, description = "contracts per entry" } },
  decide = function(ctx)
    local q = ctx.position and ctx.position.qty or 0
    local n = math.tointeger((ctx.params or {}).qty or 1) or 1
    if q == 0 then
      return { action = "ENTRY", side = "BUY", qty = n, reason_code = "TEST_ENTRY", reason_human = "flat: enter " .. n,
               confidence = 0.5, signals = { flat = true }, feature_keys_used = { "close" } }
    end
    return { action = "EXIT", side = q > 0 and "SELL" or "BUY", qty = math.abs(q), reason_code = "TEST_EXIT",
             reason_human = "in a position: exit", confidence = 0.5, signals = { flat = false },
             feature_keys_used = { "close" } }
  end }
LUA

my $QUIET = { GATEHOUSE_BACKGROUND_VERIFY => 0, GATEHOUSE_ALERTS => 0, GATEHOUSE_WEB_DIR => $WEB_DIR };
my $sim   = start_sim();
my $home  = fixture_home();
write_file( "$home/scripts/strategies/flipq.lua", $FLIPQ );
my $srv = start_server( env => { %{ $sim->base_env( only => ['databento'] ) }, %$QUIET }, home => $home, clock => AT_OPEN );
is( $srv->post( '/api/integrations/verify', { provider_id => 'databento' } )->{json}{reason_code}, 'OK', 'databento verified' );

# A SHADOW bot on a root that scripts/instruments.lua does not list, holding 2 contracts: its money is unknown.
my $nm = $srv->post( '/api/bots', { name => 'no-multiplier', strategy => 'flip', symbol => 'XYZ6', timeframe => '1m', stage => 'SHADOW' } );
is( $nm->{status}, 201, 'the no-multiplier bot is created' ) or diag explain $nm->{json};
my $nm_id = $nm->{json}{bot}{id};
my ($nm_order) = psql_rows( $srv->db, q{INSERT INTO orders (bot_id, stage, symbol, side, qty, order_type, status, trace_id)
    VALUES ($1, 'SHADOW', 'XYZ6', 'BUY', 2, 'MARKET', 'INTENT', 'spec84') RETURNING id}, $nm_id );
psql_rows( $srv->db, q{SELECT gh_order_transition($1, 'SUBMITTED', NULL, NULL, 'spec84')}, $nm_order->[0] );
my ($nm_fill) = psql_rows( $srv->db, q{SELECT gh_apply_fill($1, 2, 101.5, true, 'spec84')}, $nm_order->[0] );
ok( $nm_fill && $nm_fill->[0], 'it holds 2 contracts (one fill through gh_apply_fill)' );

# a viewer: reads everything, changes nothing
is( $srv->post( '/api/users', { username => 'viewer84', password => 'viewer-password-8484', role => 'viewer' } )->{status}, 201, 'a viewer account' );

make_path($OUT);
my ( $cfh, $cfg_path ) = tempfile( 'web-XXXXXX', SUFFIX => '.json', TMPDIR => 1, UNLINK => 1 );
print {$cfh} $JSON->encode( {
    chromium => $CHROMIUM, out_dir => $OUT, url => $srv->url, user => $GH{admin_user}, password => $GH{admin_password},
    bot_name => 'web-trader', clone_name => 'web-trader-2', unknown_bot => 'no-multiplier', strategy => 'flipq',
    viewer => { user => 'viewer84', password => 'viewer-password-8484' },
} );
close $cfh;

sub one_bot {
    my ($name) = @_;
    my ($r) = psql_rows( $srv->db, q{SELECT id, strategy, stage, params::text, desired_state FROM bots WHERE name = $1}, $name );
    return $r ? { id => $r->[0], strategy => $r->[1], stage => $r->[2], params => $JSON->decode( $r->[3] ), desired_state => $r->[4] } : undef;
}

# The position and P&L of a bot from its fills rows alone, by average cost: adding averages the price, reducing
# realizes (price − avg) x closed x direction, crossing zero opens the rest at the fill price. USD = points x
# multiplier; the mark is the one the tick recorded (positions.mark_price).
sub expected {
    my ($id) = @_;
    my @rows = psql_rows( $srv->db, q{SELECT f.id, o.side, f.qty, f.price, f.fee, extract(epoch FROM f.filled_at), o.decision_trace_id, o.stage
        FROM fills f JOIN orders o ON o.id = f.order_id WHERE f.bot_id = $1 ORDER BY f.filled_at, f.id}, $id );
    my ( $qty, $avg, $pts, $fees, $closing ) = ( 0, 0, 0, 0, 0 );
    my @fills;
    for my $r (@rows) {
        my ( $fid, $side, $q, $p, $fee, $t, $dt, $stage ) = @$r;
        my $s = $side eq 'BUY' ? $q : -$q;
        if ( $qty == 0 || ( $qty > 0 ) == ( $s > 0 ) ) {
            $avg = ( $avg * abs($qty) + $p * abs($s) ) / ( abs($qty) + abs($s) );
            $qty += $s;
        } else {
            my $closed = min( abs($qty), abs($s) );
            $closing++;
            $pts += $closed * ( $p - $avg ) * ( $qty > 0 ? 1 : -1 );
            my $new = $qty + $s;
            $avg = $new == 0 ? 0 : ( ( $new > 0 ) != ( $qty > 0 ) ) ? $p : $avg;
            $qty = $new;
        }
        $fees += $fee;
        push @fills, { id => $fid, side => $side, qty => $q + 0, price => $p + 0, t => $t + 0, decision_trace_id => ( $dt eq '' ? undef : $dt ), stage => $stage };
    }
    my ($mark) = psql_rows( $srv->db, q{SELECT mark_price FROM positions WHERE bot_id = $1 AND stage = 'PAPER'}, $id );
    my $m = $mark && defined $mark->[0] && $mark->[0] ne '' ? $mark->[0] + 0 : undef;
    my $unreal = $qty == 0 ? 0 : defined $m ? ( $m - $avg ) * $qty * $MULT_ES : undef;
    my $realized = $pts * $MULT_ES;
    return { fills => \@fills, closing_fills => $closing, qty => $qty, avg => $avg, realized => $realized, fees => $fees + 0, mark => $m,
             unrealized => $unreal, net => defined $unreal ? $realized + $unreal - $fees : undef };
}

my %ACTIONS = (
    bot => sub { my $b = one_bot( $_[0]{name} ); $b ? { found => JSON::PP::true, %$b } : { found => JSON::PP::false } },
    # the working orders of the bot 3 minutes older, so the next tick's bars hold a bar after them
    age_orders => sub {
        my @n = psql_rows( $srv->db, q{UPDATE orders SET created_at = created_at - interval '3 minutes' WHERE bot_id = $1
            AND status IN ('SUBMITTED', 'ACCEPTED', 'PARTIALLY_FILLED') RETURNING id}, $_[0]{bot_id} );
        { aged => scalar @n };
    },
    expected => sub { expected( $_[0]{bot_id} ) },
    trace    => sub {
        my ($r) = psql_rows( $srv->db, q{SELECT reason_code, trace_id, decision_type FROM decision_traces WHERE id = $1}, $_[0]{id} );
        $r ? { reason_code => $r->[0], trace_id => $r->[1], decision_type => $r->[2] } : {};
    },
    job => sub { { job => $srv->get("/api/jobs/$_[0]{id}")->{json}{job} } },
    no_trade => sub {
        { reasons => [ map { $_->[0] } psql_rows( $srv->db, q{SELECT reason_code FROM no_trade_traces WHERE bot_id = $1 ORDER BY created_at, id}, $_[0]{bot_id} ) ] };
    },
);

my $t0 = time;
local $ENV{GH_WEB_CONFIG} = $cfg_path;
my $pid = open2( my $from, my $to, 'node', "$ROOT/spec/web/trading.mjs" );
my ( $results, $failed ) = ( 0, 0 );
while ( my $line = <$from> ) {
    chomp $line;
    my $m = eval { $JSON->decode($line) };
    unless ( ref $m eq 'HASH' ) { diag("browser: $line"); next }
    if ( defined $m->{need} ) {
        my $act = $ACTIONS{ $m->{need} } or BAIL_OUT("unknown browser request $m->{need}");
        my $answer = eval { $act->($m) };
        ok( 0, "the browser's request $m->{need} is answered" ) or diag($@) unless $answer;
        print {$to} $JSON->encode( { done => $m->{need}, %{ $answer || { error => "$@" } } } ), "\n";
        $to->flush;
        next;
    }
    $results++;
    ok( $m->{ok}, $m->{name} ) or $failed++;
    diag( $m->{diag} ) if defined $m->{diag} && ( !$m->{ok} || $ENV{TEST_VERBOSE} );
}
close $to;
waitpid( $pid, 0 );
is( $? >> 8, 0, 'the browser half exited cleanly' );
cmp_ok( $results, '>=', 14, "every browser check reported ($results)" );

# what the browser did, as the database has it
my $bot = one_bot('web-trader');
ok( $bot, 'the bot made with the form exists' ) or BAIL_OUT('no bot');
is_deeply( [ @$bot{qw(strategy stage)}, $bot->{params} ], [ 'flipq', 'PAPER', { qty => 2 } ], 'flipq, PAPER, params {qty: 2} as sent' );
my $e = expected( $bot->{id} );
cmp_ok( scalar @{ $e->{fills} }, '>=', 3, 'it has fills (' . scalar( @{ $e->{fills} } ) . ')' );
my $clone = one_bot('web-trader-2');
ok( $clone, 'the clone exists' ) or BAIL_OUT('no clone');
is_deeply( [ @$clone{qw(strategy stage desired_state)}, $clone->{params} ], [ 'flipq', 'PAPER', 'STOPPED', { qty => 3 } ],
    'the clone: same strategy, PAPER, STOPPED, its params edited to {qty: 3}' );
my @shots = qw(T-new-bot-refused T-bot-page T-why-traded-marker T-bots-list T-portfolio T-backtest-result T-edit-params
  T-bot-page-390 T-portfolio-390);
my @missing = grep { !-s "$OUT/$_.png" } @shots;
is_deeply( \@missing, [], "a screenshot of each new view in $OUT" );
diag( sprintf 'browser part: %.1f s', time - $t0 );

done_testing;
