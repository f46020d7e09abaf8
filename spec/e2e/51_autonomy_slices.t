# A periodic autonomy round over many bots (GATEHOUSE_AUTONOMY_SWEEP_S=1: every round scores every bot) is scored in slices of 25 (one score_all() call per event-loop
# turn) and each slice is upserted on its own: every bot gets its row, each first tier is recorded once as
# an autonomy.tier system event, the round logs one "autonomy scored" line for all bots, and status reads
# keep being answered while it runs.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Time::HiRes qw(time sleep);
use Gatehouse::Test;

my $N = 130;    # six slices: 5 x 25 + 5
my $db = new_database();
my $srv = start_server( db => $db, env => { GATEHOUSE_AUTONOMY_INTERVAL_S => 1, GATEHOUSE_AUTONOMY_SWEEP_S => 1, GATEHOUSE_BACKGROUND_VERIFY => 0, GATEHOUSE_ALERTS => 0 } );
psql_rows( $db, "INSERT INTO bots (name, strategy, symbol, timeframe, stage) SELECT 'slice-' || g, 'sma_cross', 'ESZ6', '1m', 'PAPER' "
      . "FROM generate_series(1, $N) g" );

my $rounds = sub { grep { /msg="autonomy scored"/ && /bots=$N / && /periodic=1/ } $srv->log_lines };
ok( wait_for( sub { scalar $rounds->() }, 20, 'a periodic round over every bot' ), "a periodic round scored all $N bots" );
my ($stored) = psql_rows( $db, "SELECT count(*), count(DISTINCT autonomy_tier) > 0 FROM autonomy_scores a JOIN bots b ON b.id = a.bot_id WHERE b.name LIKE 'slice-%'" );
is( $stored->[0], $N, "every bot has its stored score ($stored->[0])" );
ok( wait_for( sub { ( psql_rows( $db, "SELECT count(*) FROM system_events WHERE kind = 'autonomy.tier' AND subject IN "
          . "(SELECT id::text FROM bots WHERE name LIKE 'slice-%')" ) )[0][0] == $N }, 10, 'tier events' ),
    'each bot\'s first tier is one autonomy.tier event' );

# the next rounds change no tier: no new events, and reads are answered while they run
my $t_end = time + 3;
my ( $reads, $worst ) = ( 0, 0 );
while ( time < $t_end ) {
    my $t0 = time;
    my $r = $srv->get('/api/system/status');
    my $dt = ( time - $t0 ) * 1000;
    $worst = $dt if $dt > $worst;
    $reads++ if $r->{status} == 200;
}
cmp_ok( scalar $rounds->(), '>=', 2, 'more rounds ran meanwhile (' . scalar( $rounds->() ) . ')' );
cmp_ok( $reads, '>', 10, "status reads answered during the rounds ($reads, slowest " . sprintf( '%.0f', $worst ) . ' ms)' );
my ($events) = psql_rows( $db, "SELECT count(*) FROM system_events WHERE kind = 'autonomy.tier' AND subject IN (SELECT id::text FROM bots WHERE name LIKE 'slice-%')" );
is( $events->[0], $N, 'an unchanged tier is not an event' );
my $one = $srv->get( '/api/bots/' . ( psql_rows( $db, "SELECT id FROM bots WHERE name = 'slice-77'" ) )[0][0] . '/autonomy-score' );
is( $one->{status}, 200, 'a bot of the third slice answers its stored score' );
ok( $one->{json}{autonomy_score}{breakdown}{sub_scores}, 'with its breakdown' );
done_testing;
