# A bot's heartbeat is a HOT update (issue 18, 5,000 bots; migration 0074): the statement that flushes the
# heartbeats of the bots that ticked (INSTANCE_HEARTBEAT_SQL, read from runtime/instances.c) changes no indexed
# column of bot_instances, so Postgres writes each new row version on its own page and no index entry. Before
# 0074 an index on last_heartbeat_at made every heartbeat write a new entry into each of the table's four
# indexes (0 of the updates were HOT), bloating the table that the scheduler, the supervisor and every tick
# read.
#
# The spec starts 300 running instances in a database of its own, runs the product's statement five times, each
# in its own transaction, and reads the transaction's own counters (pg_stat_xact_user_tables) after each run:
# the first run must be at least 90 % HOT (it was 0 % with the index).
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;

# a migrated database of its own, with no server: nothing else updates bot_instances while the spec counts
my $db = new_database();
my ( $rc, $log ) = migrate_database($db);
is( $rc, 0, 'migrations applied' ) or BAIL_OUT("migrate failed: $log");
sub rows { my ( $sql, @p ) = @_; [ psql_rows( $db, $sql, @p ) ] }

rows( "INSERT INTO bots (name, strategy, symbol, timeframe, stage) SELECT 'hb-' || g, 'sma_cross', 'ESZ6', '1m', 'PAPER' "
      . "FROM generate_series(1, 300) g" );
rows( "INSERT INTO bot_instances (bot_id, state, last_heartbeat_at) SELECT id, 'RUNNING', now() - interval '1 minute' "
      . "FROM bots WHERE name LIKE 'hb-%'" );
rows('VACUUM ANALYZE bot_instances');
my $ids = '{' . join( ',', map { $_->[0] } @{ rows("SELECT id FROM bots WHERE name LIKE 'hb-%' ORDER BY id") } ) . '}';

# The product's statement, as compiled into the binary.
my $sql = c_string_constant( 'runtime/instances.c', 'INSTANCE_HEARTBEAT_SQL' )
  // BAIL_OUT('INSTANCE_HEARTBEAT_SQL not found in runtime/instances.c');
like( $sql, qr/^UPDATE bot_instances SET last_heartbeat_at/, 'the heartbeat statement read from runtime/instances.c' );

my ( $updated, $hot ) = ( 0, 0 );
for my $round ( 1 .. 5 ) {
    # one transaction: the update, then its own counters
    my $r = rows( "$sql; SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables WHERE relname = 'bot_instances'", $ids );
    my ( $upd, $h ) = @{ $r->[-1] // [ 0, 0 ] };
    is( $upd, 300, "round $round: the heartbeat updated the 300 running instances" );
    note("round $round: $h of $upd updates HOT");
    # the first heartbeat finds room on every page (fillfactor 50); later ones need the previous versions pruned,
    # which an old snapshot elsewhere in the cluster can hold back, so only their total is noted
    cmp_ok( $h, '>=', 270, "round $round: $h of 300 updates were HOT (no index entry written; 0 before 0074)" ) if $round == 1;
    ( $updated, $hot ) = ( $updated + $upd, $hot + $h );
}
note("over five heartbeats, $hot of $updated updates were HOT");
is( rows("SELECT count(*) FROM pg_indexes WHERE tablename = 'bot_instances' AND indexdef LIKE '%last_heartbeat_at%'")->[0][0],
    0, 'no index of bot_instances holds last_heartbeat_at' );
is( rows("SELECT count(*) FROM bot_instances WHERE last_heartbeat_at > now() - interval '1 minute'")->[0][0],
    300, 'the heartbeats are written' );

done_testing;
