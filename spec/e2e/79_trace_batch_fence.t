# The no-trade trace batch fences each shard and epoch once (issue 18, 5,000 bots): runtime/tick_batch.c's
# BATCH_SQL (one array parameter per field, read from the source) calls gh_fence_ok once per shard and epoch of
# the batch instead of once per row, and every row takes its group's answer. The spec runs the product's
# statement on a database of its own against real leases and checks what each row becomes:
#   - two bots of one shard, one at the current epoch and one at a stale epoch: written as given / LEASE_LOST;
#   - a bot of a second shard whose lease expired: LEASE_LOST with its (stale) epoch kept;
#   - a row without an epoch (an unfenced write): written as given;
#   - JSON and text with quotes, backslashes, commas and braces arrive as they were sent;
#   - the statement answers one row per trace (trace_id, reason_code), as on_batch matches them.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;

my $db = new_database();
my ( $rc, $log ) = migrate_database($db);
is( $rc, 0, 'migrations applied' ) or BAIL_OUT("migrate failed: $log");
sub rows { my ( $sql, @p ) = @_; [ psql_rows( $db, $sql, @p ) ] }

# The product's statement, as compiled into the binary.
my $sql = c_string_constant( 'runtime/tick_batch.c', 'BATCH_SQL' ) // BAIL_OUT('BATCH_SQL not found in runtime/tick_batch.c');
like( $sql, qr/gh_fence_ok\(min\(bot_id::text\)::uuid, epoch\)/, 'the fence is called per shard and epoch' );

# bots until two share a shard (a) and a third has another (b)
my ( %by_shard, @same, $other );
for my $i ( 1 .. 200 ) {
    my ( $id, $shard ) = @{ rows("INSERT INTO bots (name, strategy, symbol, timeframe) VALUES ('fb$i', 'sma_cross', 'ESZ6', '1m') "
          . "RETURNING id, shard")->[0] };
    push @{ $by_shard{$shard} }, $id;
    if ( !@same && @{ $by_shard{$shard} } == 2 ) { @same = ( $shard, @{ $by_shard{$shard} } ) }
    last if @same && ( $other = ( grep { $_ != $same[0] } keys %by_shard )[0] );
}
ok( @same && defined $other, "two bots of shard $same[0], one of shard $other" );
my ( $sa, $bot_cur, $bot_stale ) = @same;
my $bot_exp = $by_shard{$other}[0];
# shard a held at epoch 7 for an hour; shard b at epoch 3 but expired a minute ago
rows("UPDATE leases SET holder = 'i1', epoch = 7, acquired_at = now(), renewed_at = now(), expires_at = now() + interval '1 hour' "
     . "WHERE name = 'shard:$sa'");
rows("UPDATE leases SET holder = 'i1', epoch = 3, acquired_at = now(), renewed_at = now(), expires_at = now() - interval '1 minute' "
     . "WHERE name = 'shard:$other'");

my @rows = (    # bot, epoch, trace
    [ $bot_cur,   7,     'a' x 32 ],
    [ $bot_stale, 6,     'b' x 32 ],
    [ $bot_exp,   3,     'c' x 32 ],
    [ $bot_cur,   undef, 'd' x 32 ],
);
my $human   = q{He said "hold", then \\ left {a,b}};
my $signals = q({"why": "a \\"quoted\\" \\\\ reason, {x}"});
sub arr { '{' . join( ',', map { defined $_ ? '"' . ( $_ =~ s/(["\\])/\\$1/gr ) . '"' : 'NULL' } @_ ) . '}' }
my @params = ( 'lease lost here',
    arr( map { $_->[0] } @rows ), arr( ('NO_SIGNAL') x 4 ), arr( ('SUPPRESSED') x 4 ), arr( ($human) x 4 ),
    arr( ('NO_CROSS') x 4 ), arr( ('[]') x 4 ), arr( ($signals) x 4 ), arr( ('{"close": 1.5}') x 4 ),
    arr( map { $_->[2] } @rows ), arr( map { $_->[1] } @rows ) );
my $answered = rows( $sql, @params );
is( scalar @$answered, 4, 'one answer row per trace' );
my %code = map { $_->[0] => $_->[1] } @$answered;
is( $code{ 'a' x 32 }, 'NO_CROSS',   'the current epoch of shard a: written as given' );
is( $code{ 'b' x 32 }, 'LEASE_LOST', 'a stale epoch of the same shard, in the same batch: LEASE_LOST' );
is( $code{ 'c' x 32 }, 'LEASE_LOST', 'the expired lease of shard b: LEASE_LOST' );
is( $code{ 'd' x 32 }, 'NO_CROSS',   'no epoch (an unfenced write): written as given' );

my %stored = map { $_->[0] => $_ } @{ rows("SELECT trace_id, reason_code, lease_epoch, reason_human, signals::text, blocked_by::text, "
      . "suppression_type FROM no_trade_traces") };
is( $stored{ 'b' x 32 }[2], 6, 'the refused row keeps its stale epoch' );
is( $stored{ 'b' x 32 }[3], 'lease lost here', 'with the LEASE_LOST reason ($1)' );
is( $stored{ 'b' x 32 }[5], '["LEASE_LOST"]', 'blocked by LEASE_LOST' );
is( $stored{ 'c' x 32 }[2], 3, 'the expired one keeps epoch 3' );
is( $stored{ 'd' x 32 }[2], '', 'the unfenced row has no epoch' );
is( $stored{ 'a' x 32 }[3], $human, 'text with quotes, a backslash, braces and a comma arrives as sent' );
is( $stored{ 'a' x 32 }[4], '{"why": "a \\"quoted\\" \\\\ reason, {x}"}', 'and so does JSON' );

done_testing;
