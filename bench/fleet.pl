#!/usr/bin/env perl
# fleet.pl — issue 17's proof at full size (`make fleet`, through bench/fleet.sh): three gatehouse instances on
# one Postgres share FLEET_BOTS (600) PAPER bots ticking every second on shard leases (GATEHOUSE_LEASE_S =
# FLEET_LEASE_S, default 7, the product's default). Then, one after another:
#   1. kill -9 of one instance: the others take its bots (hand-over from the kill to each moved bot's first
#      tick by its new owner, tick slots lost);
#   2. SIGSTOP of another for at least FLEET_PAUSE_S (lease + 3 s) and until the survivor ticks every bot of the
#      paused instance (at most 4 leases + 20 s), then SIGCONT: the survivor takes the paused bots; the
#      continued instance writes no order, fill or decision trace under its old epochs, its refused ticks end
#      as LEASE_LOST; it rejoins and takes its share back (a rebalance, measured as a hand-over);
#   3. a fourth instance joins and takes its share (a rebalance: no gap beyond the hand-over, no double tick).
# Prints the hand-over table and writes it to $BENCH_DIR/fleet.md (bench/var/fleet.md); the instances' logs are
# copied beside it (fleet-iN.log). Exit status 1 when any (bot, tick slot) has two orders, a bot was ticked
# twice in one slot, or a row was written under a stale epoch. Who ticked what: Gatehouse::Fleet (the
# instances' tick log lines, on one real time line).
use strict;
use warnings;
use FindBin qw($Bin);
use lib "$Bin/lib", "$Bin/../spec/support";
use File::Copy qw(copy);
use Time::HiRes qw(sleep time);

my $DIR   = $ENV{BENCH_DIR}     or die "BENCH_DIR is not set (run make fleet)\n";
my $ADMIN = $ENV{DATABASE_URL}  or die "DATABASE_URL (bench cluster) is not set\n";
$ENV{GATEHOUSE_BIN} or die "GATEHOUSE_BIN is not set\n";
$ENV{GH_TEST_PG_URL} = $ADMIN;    # Gatehouse::Test makes the fleet's database in the bench cluster
my $NBOTS = $ENV{FLEET_BOTS}    || 600;
my $LEASE = $ENV{FLEET_LEASE_S} || 7;
my $PAUSE = $ENV{FLEET_PAUSE_S} || $LEASE + 3;
my $SETTLE = 5;    # seconds of steady ticking measured after each settling

use Gatehouse::Test qw(wait_for);
use Gatehouse::Fleet;

my $T0 = time;
sub say_step { printf STDERR "[fleet %6.1fs] %s\n", time - $T0, join '', @_ }

my $fleet = Gatehouse::Fleet->new( lease_s => $LEASE );
say_step("3 instances on one database (lease $LEASE s, 1 tick/s)");
$fleet->start_instance for 1 .. 3;
my $nflip = int( $NBOTS / 10 );
my @ids = ( $fleet->create_bots( $NBOTS - $nflip ), $fleet->create_bots( $nflip, strategy => 'flip' ) );
say_step( "$NBOTS PAPER bots (", $NBOTS - $nflip, " sma_cross, $nflip flip: an order every tick): starting" );
my $t = time;
my $started = $fleet->start_bots( \@ids );
say_step( sprintf '%d bots started in %.1f s', $started, time - $t );
die "fleet: only $started of $NBOTS bots started\n" unless $started == $NBOTS;
$fleet->wait_ticked( \@ids, 30 ) or die "fleet: not every bot ticks\n";

# settled: no unowned shard, every running instance holding some; then every bot ticks after that
sub settle {
    my ($what) = @_;
    my @run = map { $_->{name} } $fleet->running;
    wait_for( sub { my $s = $fleet->shards; !$s->{''} && !grep { !$s->{$_} } @run }, 4 * $LEASE + 20, "$what: shards spread" )
      or die "fleet: $what: the shards did not spread over @run\n";
    my $from = time + 1;
    $fleet->wait_ticked( \@ids, 4 * $LEASE + 20, from => $from ) or die "fleet: $what: not every bot ticks\n";
    sleep $SETTLE;
    return [ $from, time ];
}

sub owned_line {
    my ($w) = @_;
    my $by = $fleet->ticked_by(@$w);
    my $s  = $fleet->shards;
    return join ', ', map { "$_ $by->{$_} bots / $s->{$_} shards" } map { $_->{name} } $fleet->running;
}

my @events;    # { event, handover hash, from, to }
sub event_row {
    my ( $name, $h, $from, $to ) = @_;
    push @events, { event => $name, h => $h, from => $from, to => $to };
    say_step( sprintf '%s: %d bots moved, %d taken, hand-over max %s s / p50 %s s, %d tick slots lost', $name, $h->{moved},
        $h->{taken}, map( { defined $_ ? sprintf( '%.2f', $_ ) : '-' } $h->{max_s}, $h->{p50_s} ), $h->{lost} );
}

my $w0 = settle('start');
my $steady = $fleet->ticked_by(@$w0);
say_step( 'steady, per instance: ', owned_line($w0) );
my %cpu0 = map { $_ => $fleet->cpu_s($_) } qw(i1 i2 i3);
my $tc = time;
sleep 10;
my %cores = map { $_ => ( $fleet->cpu_s($_) - $cpu0{$_} ) / ( time - $tc ) } qw(i1 i2 i3);
my %rss = map { $_ => $fleet->rss_mb($_) } qw(i1 i2 i3);
say_step( 'CPU / RSS: ', join ', ', map { sprintf '%s %.2f cores %.0f MB', $_, $cores{$_}, $rss{$_} } qw(i1 i2 i3) );

# 1. kill -9
my $at = $fleet->kill9('i2');
say_step('kill -9 i2');
my $h;
wait_for( sub { $h = $fleet->handover_from( 'i2', $at ); $h->{moved} && $h->{taken} == $h->{moved} }, 4 * $LEASE + 20, 'kill hand-over' );
my $w1 = settle('after kill -9');
event_row( 'kill -9 i2', $fleet->handover_from( 'i2', $at, until => $w1->[1] ), $at - 1, $w1->[1] );
say_step( 'after kill -9, per instance: ', owned_line($w1) );

# 2. SIGSTOP longer than the lease, SIGCONT
my $paused = $fleet->pause('i3');
say_step("SIGSTOP i3 for at least $PAUSE s, until i1 ticks all its bots");
sleep $PAUSE;    # the pause itself: deliberately longer than the lease
wait_for( sub { my $h = $fleet->handover_from( 'i3', $paused ); $h->{moved} && $h->{taken} == $h->{moved} }, 4 * $LEASE + 20,
    'pause hand-over' );
my $resumed = $fleet->resume('i3');
say_step( sprintf 'SIGCONT i3 after %.1f s', $resumed - $paused );
event_row( sprintf( 'SIGSTOP i3 (%.0f s)', $resumed - $paused ), $fleet->handover_from( 'i3', $paused, until => $resumed ),
    $paused - 1, $resumed );
my $w2 = settle('after SIGCONT');
event_row( 'SIGCONT i3: rejoins', $fleet->rebalance( $resumed, $w2 ), $resumed, $w2->[1] );
say_step( 'after SIGCONT, per instance: ', owned_line($w2) );

# 3. a fourth instance joins
my $join = time;
$fleet->start_instance;
say_step('i4 joined');
my $w3 = settle('after the join');
event_row( 'join i4', $fleet->rebalance( $join, $w3 ), $join, $w3->[1] );
say_step( 'after the join, per instance: ', owned_line($w3) );

# ---- the table ----
my @rows = ( [ 'event', 'bots moved', 'hand-over max / p50 s', 'max gap s', 'ticks lost', 'double ticks', 'duplicate orders',
               'stale-epoch rows', 'LEASE_LOST ticks' ] );
my $fmt = sub { defined $_[0] ? sprintf( '%.2f', $_[0] ) : '-' };
my ( $bad, $lost_all ) = ( 0, $fleet->lease_lost_ticks );
for my $e (@events) {
    my %w = ( from => $e->{from}, to => $e->{to} );
    my ( $dt, $dup, $st ) = ( $fleet->double_ticks(%w), $fleet->duplicates(%w), $fleet->stale_rows(%w) );
    my $ll = 0;
    $ll += $_ for values %{ $fleet->lease_lost_ticks(%w) };
    my $h = $e->{h};
    push @rows, [ $e->{event}, "$h->{moved}" . ( $h->{taken} < $h->{moved} ? " ($h->{taken} taken)" : '' ),
        $fmt->( $h->{max_s} ) . ' / ' . $fmt->( $h->{p50_s} ), $fmt->( $h->{max_gap_s} ), $h->{lost}, $dt, $dup, $st->{total}, $ll ];
}
my ( $dt, $dup, $st ) = ( $fleet->double_ticks, $fleet->duplicates, $fleet->stale_rows );
my ( $ll_n, $taken_n ) = ( 0, 0 );
$taken_n += $_ for values %{ $fleet->lease_lost_ticks( reason => 'TICK_SLOT_TAKEN' ) };
$ll_n += $_ for values %$lost_all;
push @rows, [ 'whole run', '-', '-', '-', '-', $dt, $dup, "$st->{total} of $st->{checked}", $ll_n ];
$bad = $dt + $dup + $st->{total} + $st->{unattributed};
my @w = (0) x @{ $rows[0] };
for my $r (@rows) { $w[$_] = length $r->[$_] > $w[$_] ? length $r->[$_] : $w[$_] for 0 .. $#$r }
my $table = '';
for my $r ( $rows[0], [ map { '-' x $_ } @w ], @rows[ 1 .. $#rows ] ) {
    $table .= '| ' . join( ' | ', map { sprintf '%-*s', $w[$_], $r->[$_] } 0 .. $#$r ) . " |\n";
}
chomp( my $commit = `git -C '$Bin/..' rev-parse --short HEAD 2>/dev/null` // '?' );
my $head = sprintf "gatehouse fleet — %s, commit %s; %d PAPER bots (%d flip), 1 tick/s, lease %d s, pause %d s\n"
  . "machine: %s cores; load average at the end: %s\n"
  . "steady with 3 instances: %s (bots ticked in %.0f s)\n"
  . "CPU / RSS with 3 instances: %s\n"
  . "LEASE_LOST: %d no-trade traces, refused ticks by instance: %s; TICK_SLOT_TAKEN ticks: %d\n"
  . "orders with a tick slot: %d (the slots the logs give %d of %d trading ticks agree); stale-epoch check: %s\n",
  scalar( gmtime() ) . ' UTC', $commit, $NBOTS, $nflip, $LEASE, $PAUSE, `nproc` =~ s/\s+//r, Gatehouse::Fleet::loadavg(),
  join( ', ', map {"$_ $steady->{$_}"} qw(i1 i2 i3) ), $w0->[1] - $w0->[0],
  join( ', ', map { sprintf '%s %.2f cores %.0f MB', $_, $cores{$_}, $rss{$_} } qw(i1 i2 i3) ),
  $fleet->lease_lost_traces, ( join( ', ', map {"$_ $lost_all->{$_}"} sort keys %$lost_all ) || 'none' ), $taken_n,
  $fleet->orders_count, $fleet->slot_check,
  "orders $st->{orders}, fills $st->{fills}, decision traces $st->{decision_traces}, no-trade traces $st->{no_trade_traces} stale of $st->{checked} rows; $st->{unattributed} unattributed";
print "\n$head\n$table";
open my $out, '>', "$DIR/fleet.md" or die "$DIR/fleet.md: $!";
print $out "$head\n$table";
close $out;
$fleet->stop_all;
copy( $_->{srv}->log_path, "$DIR/fleet-$_->{name}.log" ) for $fleet->instances;
print "\nresults: $DIR/fleet.md; instance logs: $DIR/fleet-i*.log\n";
say_step( $bad ? 'FAIL: duplicates, double ticks or stale-epoch rows' : 'PASS: no duplicate, no double tick, no stale-epoch row' );
exit( $bad ? 1 : 0 );
