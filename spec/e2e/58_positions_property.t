# Positions equal their fills (issue 20): a property test over 1,000 random fill sequences.
#
# Each sequence is one bot with random orders (BUY or SELL, 1–5 contracts) filled in random partial chunks, so
# positions open, add, close partially, flatten and reverse (spec/support/Gatehouse/Property.pm). The fills of
# every sequence are dealt round-robin to four psql sessions that run at the same time — concurrent fills of one
# bot, as concurrent ticks and a reconciliation pass would make them — each fill its own transaction through
# gh_apply_fill, the one fill path. Afterwards every position must equal an independent recomputation from its
# fills in application order (fills.seq): quantity exactly, average price and realized P&L to 1e-6, and its realized
# P&L the sum of its fills'. Every order's filled quantity must equal the sum of its fills, its status the one that
# sum implies, and it reached FILLED exactly once. The generator is seeded (GH_PROPERTY_SEED, default 20261206).
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;
use Gatehouse::Property qw(fill_sequences load_sequences apply_concurrently recompute_mismatches);

my $SEED = $ENV{GH_PROPERTY_SEED} // 20261206;
my $N    = 1000;
diag("property seed $SEED");

my $db = new_database();
my ( $rc, $log ) = migrate_database($db);
is( $rc, 0, 'migrated' ) or diag $log;

my $seq = fill_sequences( $N, $SEED );
load_sequences( $db, $seq );
ok( @{ $seq->{fills} } > 3 * $N, scalar( @{ $seq->{fills} } ) . " fills over $N sequences and " . scalar( @{ $seq->{orders} } ) . ' orders' );
is( apply_concurrently( $db, $seq, 4 ), 0, '4 concurrent sessions applied every fill without an error' );

my @bad = recompute_mismatches( $db, $seq );
is( scalar @bad, 0, "all $N positions equal the recomputation from their fills (qty, average price, realized P&L)" )
  or diag explain [ @bad[ 0 .. ( $#bad < 2 ? $#bad : 2 ) ] ];
my ($reversals) = psql_rows( $db, "SELECT count(DISTINCT f.bot_id) FROM fills f JOIN orders o ON o.id = f.order_id WHERE f.realized_pnl <> 0" );
ok( $reversals->[0] > $N / 4, "the sequences close and reverse positions ($reversals->[0] bots realized P&L)" );
is( ( psql_rows( $db, "SELECT count(*) FROM orders o WHERE o.filled_qty <> (SELECT coalesce(sum(qty), 0) FROM fills f WHERE f.order_id = o.id) "
          . "OR o.status <> CASE WHEN o.filled_qty = o.qty THEN 'FILLED' WHEN o.filled_qty > 0 THEN 'PARTIALLY_FILLED' ELSE 'SUBMITTED' END" ) )[0][0], 0,
    "every order's filled quantity is the sum of its fills, and its status follows" );
is( ( psql_rows( $db, "SELECT count(*) FROM orders o WHERE (SELECT count(*) FROM order_events e WHERE e.order_id = o.id AND e.to_status = 'FILLED') <> 1" ) )[0][0], 0,
    'every order reached FILLED exactly once in order_events' );
my $first = $seq->{orders}[0][0];
my ( $rc2, undef, $err2 ) = run_cmd( [ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $db, '-c', "SELECT gh_apply_fill('$first', 1, 5000, true, 'prop')" ] );
isnt( $rc2, 0, 'a fill of a FILLED order is refused' );
like( $err2, qr/cannot be filled/, 'with the reason: ' . ( $err2 =~ s/\n.*//sr ) );
( $rc2, undef, $err2 ) = run_cmd( [ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $db, '-c', "UPDATE orders SET status = 'CANCELLED' WHERE id = '$first'" ] );
like( $err2, qr/use gh_order_transition/, 'a status change outside the state machine is refused' );

done_testing;
