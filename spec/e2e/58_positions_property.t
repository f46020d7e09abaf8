# Positions equal their fills (issue 20): a property test over 1,000 random fill sequences.
#
# Each sequence is one bot with random orders (BUY or SELL, 1–5 contracts) filled in random partial chunks, so
# positions open, add, close partially, flatten and reverse. The fills of every sequence are dealt round-robin to
# four psql sessions that run at the same time — concurrent fills of one bot, as concurrent ticks and a
# reconciliation pass would make them — each fill its own transaction through gh_apply_fill, the one fill path.
# Afterwards every position must equal an independent recomputation from its fills in application order
# (fills.seq): quantity exactly, average price and realized P&L to 1e-6, and the realized P&L of the position
# the sum of its fills'. Every order's filled quantity must equal the sum of its fills and its status the one
# that sum implies. The random generator is seeded (GH_PROPERTY_SEED, default 20261206) and the seed is printed.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use File::Temp qw(tempfile);
use Gatehouse::Test;

my $SEED = $ENV{GH_PROPERTY_SEED} // 20261206;
my $N    = 1000;
my $SESSIONS = 4;
srand($SEED);
diag("property seed $SEED");

my $db = new_database();
my ( $rc, $out, $err ) = run_cmd( [ gatehouse_bin(), 'migrate' ], env => { DATABASE_URL => $db, GATEHOUSE_HOME => repo_root() }, timeout => 120 );
is( $rc, 0, 'migrated' ) or diag $err;

# Runs a (large) SQL text through psql -f; dies on an error.
sub sql_file {
    my ($sql) = @_;
    my ( $fh, $file ) = tempfile( 'gh-prop-XXXXXX', TMPDIR => 1, UNLINK => 1 );
    print $fh $sql;
    close $fh;
    my ( $rc, undef, $e ) = run_cmd( [ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $db, '-f', $file ], timeout => 120 );
    die "psql -f failed: $e" if $rc != 0;
}

sub uuid { sprintf '%08x-%04x-4%03x-8%03x-%012x', map { int rand $_ } 2**32, 2**16, 2**12, 2**12, 2**48 }

# ---- the sequences ----
my ( @bots, @orders, @fills );    # fills: [bot index, order id, qty, price]
for my $b ( 1 .. $N ) {
    my $bot = uuid();
    push @bots, $bot;
    my $price = 5000 + int( rand 400 );
    for ( 1 .. 1 + int rand 4 ) {
        my ( $id, $qty, $side ) = ( uuid(), 1 + int rand 5, rand() < 0.5 ? 'BUY' : 'SELL' );
        push @orders, [ $id, $bot, $side, $qty ];
        my $left = $qty;
        while ( $left > 0 ) {
            my $q = 1 + int rand $left;
            $price += ( int( rand 41 ) - 20 ) * 0.25;
            push @fills, [ $b, $id, $q, $price ];
            $left -= $q;
        }
    }
}
my $bot_rows = join ",\n", map { "('$bots[$_]', 'p$_', 'flip', 'ESZ6', '1m')" } 0 .. $#bots;
my $ord_rows = join ",\n", map { "('$_->[0]', '$_->[1]', 'PAPER', 'ESZ6', '$_->[2]', $_->[3], 'MARKET', 'SUBMITTED', 'prop')" } @orders;
sql_file( "INSERT INTO bots (id, name, strategy, symbol, timeframe) VALUES $bot_rows;\n"
        . "INSERT INTO orders (id, bot_id, stage, symbol, side, qty, order_type, status, trace_id) VALUES $ord_rows;\n" );
is( scalar( @fills ) > 3 * $N, 1, scalar(@fills) . " fills over $N sequences and " . scalar(@orders) . ' orders' );

# ---- apply them from four concurrent sessions ----
my @scripts = map { '' } 1 .. $SESSIONS;
my $k = 0;
$scripts[ $k++ % $SESSIONS ] .= "SELECT gh_apply_fill('$_->[1]', $_->[2], $_->[3], true, 'prop');\n" for @fills;
my @pids;
for my $s (@scripts) {
    my ( $fh, $file ) = tempfile( 'gh-prop-XXXXXX', TMPDIR => 1, UNLINK => 1 );
    print $fh $s;
    close $fh;
    my $pid = fork // die "fork: $!";
    if ( !$pid ) {
        open STDOUT, '>', '/dev/null';
        exec 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $db, '-f', $file;
        exit 127;
    }
    push @pids, $pid;
}
my $failed = 0;
for (@pids) { waitpid $_, 0; $failed++ if $? != 0 }
is( $failed, 0, "$SESSIONS concurrent sessions applied every fill without an error" );

# ---- recompute from fills in application order ----
my %side = map { $_->[0] => $_->[2] } @orders;
my ( %pos, %fill_realized );
for my $r ( psql_rows( $db, "SELECT bot_id, order_id, qty, price, realized_pnl FROM fills ORDER BY seq" ) ) {
    my ( $bot, $oid, $q, $px, $real ) = @$r;
    my $p = $pos{$bot} //= { qty => 0, avg => 0, realized => 0 };
    my $f = $side{$oid} eq 'BUY' ? $q : -$q;
    my $realized = 0;
    if ( $p->{qty} == 0 || ( $p->{qty} > 0 ) == ( $f > 0 ) ) {
        $p->{avg} = ( $p->{avg} * abs( $p->{qty} ) + $px * abs($f) ) / ( abs( $p->{qty} ) + abs($f) );
    } else {
        my $closing = abs( $p->{qty} ) < abs($f) ? abs( $p->{qty} ) : abs($f);
        $realized = $closing * ( $px - $p->{avg} ) * ( $p->{qty} > 0 ? 1 : -1 );
        my $new = $p->{qty} + $f;
        $p->{avg} = $new == 0 ? 0 : ( ( $new > 0 ) != ( $p->{qty} > 0 ) ) ? $px : $p->{avg};
    }
    $p->{qty} += $f;
    $p->{realized} += $realized;
    $fill_realized{$bot} += $real;
}
my %got = map { $_->[0] => $_ } psql_rows( $db, "SELECT bot_id, qty, avg_price, realized_pnl FROM positions WHERE stage = 'PAPER'" );
my ( $checked, @bad ) = (0);
for my $bot (@bots) {
    my ( $want, $g ) = ( $pos{$bot}, $got{$bot} );
    $checked++;
    if ( !$g || $g->[1] != $want->{qty} || abs( $g->[2] - $want->{avg} ) > 1e-6 || abs( $g->[3] - $want->{realized} ) > 1e-6
        || abs( $g->[3] - $fill_realized{$bot} ) > 1e-6 ) {
        push @bad, [ $bot, $want, $g, $fill_realized{$bot} ];
    }
}
is( $checked, $N, "$N positions checked" );
is( scalar @bad, 0, 'every position equals the recomputation from its fills (qty, average price, realized P&L)' )
  or diag explain [ @bad[ 0 .. ( $#bad < 2 ? $#bad : 2 ) ] ];
is( ( psql_rows( $db, "SELECT count(*) FROM orders o WHERE o.filled_qty <> (SELECT coalesce(sum(qty), 0) FROM fills f WHERE f.order_id = o.id) "
          . "OR o.status <> CASE WHEN o.filled_qty = o.qty THEN 'FILLED' WHEN o.filled_qty > 0 THEN 'PARTIALLY_FILLED' ELSE 'SUBMITTED' END" ) )[0][0], 0,
    "every order's filled quantity is the sum of its fills, and its status follows" );
is( ( psql_rows( $db, "SELECT count(*) FROM orders o WHERE (SELECT count(*) FROM order_events e WHERE e.order_id = o.id AND e.to_status = 'FILLED') <> 1" ) )[0][0], 0,
    'every order reached FILLED exactly once in order_events' );
my ( $rc2, undef, $err2 ) = run_cmd( [ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $db, '-c', "SELECT gh_apply_fill('$orders[0][0]', 1, 5000, true, 'prop')" ] );
isnt( $rc2, 0, 'a fill beyond the order is refused' );
like( $err2, qr/cannot be filled|overfills/, 'with the reason: ' . ( $err2 =~ s/\n.*//sr ) );

done_testing;
