# 85_fleet.t — issue 17's proof, short version: three gatehouse instances on one database share 60 PAPER bots
# on shard leases (GATEHOUSE_LEASE_S=3, one tick per second). Each instance ticks some bots and together they
# tick all; after a kill -9 the others tick the dead instance's bots within lease + 2 s; an instance paused
# (SIGSTOP) for longer than its lease and then continued writes no order, fill or decision trace with its old
# epoch; a fourth instance joining takes shards; over the whole run no (bot, tick slot) has two orders and no
# bot is ticked twice in one slot. Who ticked what is read from each instance's tick log lines
# (Gatehouse::Fleet explains why); `make fleet` (bench/fleet.pl) is the long version with 600 bots.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Time::HiRes qw(time sleep);
use Gatehouse::Test;
use Gatehouse::Fleet;

my $LEASE = 3;
my $fleet = Gatehouse::Fleet->new( lease_s => $LEASE );
$fleet->start_instance for 1 .. 3;
my @ids = ( $fleet->create_bots(48), $fleet->create_bots( 12, strategy => 'flip' ) );    # flip trades every tick
is( $fleet->start_bots( \@ids ), 60, '60 PAPER bots started' );
ok( $fleet->wait_ticked( \@ids, 15 ), 'every bot ticks' );

# settled: every shard held, each of the three instances holding some
ok( wait_for( sub { my $s = $fleet->shards; !$s->{''} && !grep { !$s->{$_} } qw(i1 i2 i3) }, 15, 'shards spread' ),
    'the 64 shards are held, by all three instances' );
my $t = time;
ok( $fleet->wait_ticked( \@ids, 10, from => $t + 0.5 ), 'after the spread every bot ticks again' );
my $by = $fleet->ticked_by( $t + 0.5, time );
ok( ( !grep { !$by->{$_} } qw(i1 i2 i3) ), "each instance ticks some bots (i1 $by->{i1}, i2 $by->{i2}, i3 $by->{i3})" );
my $own = $fleet->owners( $t + 0.5, time );
is( scalar( grep { defined $own->{$_} } @ids ), 60, 'together they tick all 60' );

# kill -9: the dead instance's bots are ticked by the others within lease + 2 s
my $killed_at = $fleet->kill9('i2');
my $h;
ok( wait_for( sub { $h = $fleet->handover_from( 'i2', $killed_at ); $h->{moved} && $h->{taken} == $h->{moved} }, $LEASE + 8,
        'hand-over after kill -9' ), 'after kill -9 every bot of the dead instance is ticked by another' );
cmp_ok( $h->{max_s}, '<=', $LEASE + 2,
    sprintf( '... within lease + 2 s (%d bots, max %.2f s, p50 %.2f s, %d tick slots lost)', $h->{moved}, $h->{max_s}, $h->{p50_s}, $h->{lost} ) );

# SIGSTOP longer than the lease, then SIGCONT: the survivor takes the paused bots; the paused instance comes back
# without writing anything under its old epochs
ok( wait_for( sub { $fleet->shards->{i3} }, 10, 'i3 holds shards' ), 'the instance to pause holds shards' );
my $paused_at = $fleet->pause('i3');
sleep $LEASE + 3;    # the pause itself: deliberately longer than the lease (and the hand-over)
my $resumed_at = $fleet->resume('i3');
my $hp = $fleet->handover_from( 'i3', $paused_at, until => $resumed_at );
ok( $hp->{moved} && $hp->{taken} == $hp->{moved},
    sprintf( 'while i3 is paused its %d bots are ticked by i1 (hand-over max %.2f s)', $hp->{moved}, $hp->{max_s} // -1 ) );
ok( wait_for( sub { $fleet->server('i3')->get('/healthz')->{status} == 200 }, 10, 'i3 answers' ), 'the paused instance runs again' );
ok( wait_for( sub { $fleet->shards->{i3} }, 15, 'i3 claims shards again' ), 'the continued instance rejoins the fleet' );

# a fourth instance joins and takes shards; the bots that move to it lose no more than a kill's hand-over
my $join_at = time;
$fleet->start_instance;
ok( wait_for( sub { my $s = $fleet->shards; $s->{i4} && !$s->{''} && $s->{i1} && $s->{i3} }, 15, 'i4 claims shards' ),
    'a joining instance takes shards (and no shard is left unowned)' );
my $t4 = time;
ok( $fleet->wait_ticked( \@ids, 10, from => $t4 ), 'every bot ticks after the join' );
ok( wait_for( sub { $fleet->ticked_by( $t4, time )->{i4} }, 10, 'i4 ticks' ), 'the joining instance ticks bots' );
my $t5 = time;
sleep 2;    # a window of steady ticking to read the new owners from
my $hj = $fleet->rebalance( $join_at, [ $t5, time ] );
ok( $hj->{to}{i4}, "bots moved to the joining instance ($hj->{to}{i4})" );
cmp_ok( $hj->{max_gap_s} // 0, '<=', $LEASE + 2,
    sprintf( '... with no gap in their ticks beyond a hand-over (%d moved, max gap %.2f s, %d slots lost)', $hj->{moved}, $hj->{max_gap_s} // 0, $hj->{lost} ) );

# the whole run
my $stale = $fleet->stale_rows;
cmp_ok( $fleet->orders_count, '>', 0, 'fenced ticks placed orders (the checks below are not vacuous)' );
is( $stale->{orders} + $stale->{fills}, 0, "no order or fill with a stale epoch ($stale->{checked} rows checked)" );
is( $stale->{total}, 0, 'no order, fill, decision or no-trade trace written after a later epoch of its shard was acquired' );
is( $stale->{unattributed}, 0, 'every fenced row carries an epoch granted to a known instance' );
is( $fleet->duplicates, 0, 'no (bot, tick slot) has two orders' );
my ( $agree, $traded ) = $fleet->slot_check;
ok( $traded && $agree == $traded, "the tick slots read from the logs are the orders' ($agree of $traded trading ticks)" );
is( $fleet->double_ticks, 0, 'no bot was ticked twice in one tick slot' );
my $lost = $fleet->lease_lost_ticks;
ok( ( !grep { $_ ne 'i3' } keys %$lost ), 'only the paused instance had ticks refused by fencing (LEASE_LOST)' );
my $taken = $fleet->lease_lost_ticks( reason => 'TICK_SLOT_TAKEN' );
is( scalar( keys %$taken ), 0, 'no tick found its slot already ticked by another instance (TICK_SLOT_TAKEN)' );
diag( sprintf 'LEASE_LOST: %d no-trade traces, %d refused ticks logged by i3; pause hand-over: %d bots, %d slots lost',
    $fleet->lease_lost_traces, $lost->{i3} // 0, $hp->{moved}, $hp->{lost} );
$fleet->stop_all;
done_testing;
