# Fencing (issue 17, docs/architecture.md "Fleet"): a tick's writes commit only while its shard lease epoch is
# current. (a) the SQL: gh_fence/gh_fence_ok refuse a stale or expired epoch with SQLSTATE GHL01, stamp the
# rows of a fenced transaction with the epoch, every acquisition is recorded in lease_epochs, and a bot has at
# most one order per tick slot. (b) the runner: a shard lease taken away behind the server's back (as a
# takeover by another instance would) makes the ticks the server dispatches under the old epoch end BLOCKED
# LEASE_LOST — a no-trade trace carrying the stale epoch, no order, no fill — until the server learns of it;
# when the lease comes free again the server claims it with a new epoch and the bots trade again.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;
use Gatehouse::Sim;
use Gatehouse::Fixtures;

my $sim = Gatehouse::Sim::start_sim();
my $env = { %{ $sim->base_env( only => ['databento'] ) }, GATEHOUSE_BACKGROUND_VERIFY => 0, GATEHOUSE_ALERTS => 0,
            GATEHOUSE_TICK_INTERVAL_S => 1 };
my $srv = start_server( env => $env, clock => AT_OPEN, home => fixture_home() );
my $db  = $srv->db;
sub one { my @r = psql_rows( $db, @_ ); return $r[0][0] }
sub psql_error {    # the error text of a statement expected to fail
    my ($sql) = @_;
    my @r = eval { psql_rows( $db, $sql ) };
    return $@ ? "$@" : '';
}

ok( wait_for( sub { one("SELECT count(*) FROM leases WHERE name LIKE 'shard:%' AND holder IS NOT NULL AND expires_at > clock_timestamp()") == 64 }, 10, 'shards' ),
    'a lone instance holds all 64 shard leases' );
my $me = $srv->get('/api/system/status')->{json}{scheduler}{instance_id};
is( one("SELECT count(DISTINCT holder) FROM leases WHERE name LIKE 'shard:%'"), 1, 'one holder' );
is( one("SELECT holder FROM leases WHERE name = 'leader'"), $me, 'and the leader lease' );

subtest '(a) the fencing functions' => sub {
    my $bot = one("INSERT INTO bots (name, strategy, symbol, timeframe, stage) VALUES ('fence-sql', 'flip', 'ESZ6', '1m', 'PAPER') RETURNING id");
    my $shard = one("SELECT shard FROM bots WHERE id = '$bot'");
    ok( $shard >= 0 && $shard < 64, "the bot is in shard $shard" );
    is( one("SELECT gh_shard_of('$bot'::uuid) = shard FROM bots WHERE id = '$bot'"), 't', 'shard = gh_shard_of(id)' );
    my $epoch = one("SELECT epoch FROM leases WHERE name = 'shard:$shard'");
    cmp_ok( $epoch, '>=', 1, "its lease has epoch $epoch" );
    is( one("SELECT count(*) FROM lease_epochs WHERE name = 'shard:$shard' AND epoch = $epoch AND holder = '$me'"), 1,
        'the acquisition is in lease_epochs' );
    is( one("SELECT gh_fence_ok('$bot'::uuid, $epoch)"), 't', 'the current epoch passes' );
    is( one("SELECT gh_fence_ok('$bot'::uuid, " . ( $epoch - 1 ) . ")"), 'f', 'an older epoch does not' );
    is( one("SELECT gh_fence_ok('$bot'::uuid, NULL)"), 't', 'an unfenced write (NULL) passes' );
    like( psql_error("SELECT gh_fence('$bot'::uuid, " . ( $epoch - 1 ) . ")"), qr/LEASE_LOST/, 'gh_fence raises LEASE_LOST' );
    is( one("SELECT count(*) FROM pg_proc WHERE proname = 'gh_fence' AND prosrc LIKE '%GHL01%'"), 1, 'with SQLSTATE GHL01' );
    # rows of a fenced statement carry the epoch (the lease_epoch defaults)
    my $trace = one( "WITH f AS (SELECT gh_fence('$bot'::uuid, $epoch)) INSERT INTO decision_traces (bot_id, decision_type, reason_human, reason_code, trace_id) "
          . "SELECT '$bot', 'ENTRY', 'fenced', 'TEST', 'fence-sql' FROM f RETURNING lease_epoch" );
    is( $trace, $epoch, 'a fenced insert is stamped with its epoch' );
    is( one("INSERT INTO decision_traces (bot_id, decision_type, reason_human, reason_code, trace_id) VALUES ('$bot', 'ENTRY', 'plain', 'TEST', 'plain') RETURNING coalesce(lease_epoch::text, 'null')"),
        'null', 'an unfenced one carries none' );
    # one order per bot and tick slot
    my $ins = "INSERT INTO orders (bot_id, stage, symbol, side, qty, order_type, status, blocked_reason_code, blocked_reason_human, trace_id, tick_slot) VALUES ('$bot', 'PAPER', 'ESZ6', 'BUY', 1, 'MARKET', 'BLOCKED', 'TEST', 'test', 'slot', 42)";
    psql_rows( $db, $ins );
    like( psql_error($ins), qr/orders_bot_tick_slot/, 'a second order of the same bot and slot is refused' );
    # an expired lease fences too, even at its current epoch
    psql_rows( $db, "UPDATE leases SET expires_at = clock_timestamp() - interval '1 s' WHERE name = 'shard:$shard'" );
    is( one("SELECT gh_fence_ok('$bot'::uuid, $epoch)"), 'f', 'an expired lease refuses its own epoch' );
    ok( wait_for( sub { one("SELECT epoch FROM leases WHERE name = 'shard:$shard' AND holder = '$me' AND expires_at > clock_timestamp()") // 0 > $epoch }, 5, 'reclaim' ),
        'the server claims the expired shard again, with a new epoch' );
};

subtest '(b) ticks under a lease taken away end LEASE_LOST and place nothing' => sub {
    is( $srv->post( '/api/integrations/verify', { provider_id => 'databento' } )->{status}, 200, 'databento verified' );
    # 40 bots; the shard with the most of them is the one taken away
    psql_rows( $db, "INSERT INTO bots (name, strategy, symbol, timeframe, stage) SELECT 'fence-' || n, 'flip', 'ESZ6', '1m', 'PAPER' FROM generate_series(1, 40) n" );
    my @ids = map { $_->[0] } psql_rows( $db, "SELECT id FROM bots WHERE name LIKE 'fence-%' AND name <> 'fence-sql'" );
    is( $srv->post("/api/bots/$_/start")->{status}, 200, 'started' ) for @ids;
    my ($shard) = map { $_->[0] } psql_rows( $db, "SELECT shard FROM bots WHERE name LIKE 'fence-%' AND name <> 'fence-sql' GROUP BY shard ORDER BY count(*) DESC, shard LIMIT 1" );
    my $in_shard = one("SELECT count(*) FROM bots WHERE shard = $shard AND name LIKE 'fence-%' AND name <> 'fence-sql'");
    ok( wait_for( sub { one("SELECT count(*) FROM integration_usage_events WHERE operation = 'runner.tick' AND (metadata->>'tick_slot') IS NOT NULL") >= 40 }, 20, 'ticks' ),
        'the server ticks the bots, each tick naming its slot and epoch' );
    # take the lease as another instance would, just after the server renewed it: until its next round (<= 1 s)
    # the server still dispatches ticks under the old epoch, and Postgres refuses their writes
    my ( $stolen, $taken_at );
    ok( wait_for( sub {
            my $old = one("SELECT epoch FROM leases WHERE name = 'shard:$shard' AND holder = '$me' AND expires_at > clock_timestamp()") or return 0;
            wait_for( sub { one("SELECT renewed_at > clock_timestamp() - interval '150 ms' FROM leases WHERE name = 'shard:$shard'") eq 't' }, 3, 'fresh renewal' ) or return 0;
            $taken_at = one("UPDATE leases SET holder = 'thief', epoch = epoch + 1, acquired_at = clock_timestamp(), expires_at = clock_timestamp() + interval '60 s' "
                  . "WHERE name = 'shard:$shard' AND gh_lease_lock(name) RETURNING clock_timestamp()");
            $stolen = $old;
            wait_for( sub { one("SELECT count(*) FROM no_trade_traces t JOIN bots b ON b.id = t.bot_id WHERE b.shard = $shard AND t.reason_code = 'LEASE_LOST'") > 0 }, 3, 'LEASE_LOST' )
              or do { psql_rows( $db, "UPDATE leases SET expires_at = clock_timestamp() WHERE name = 'shard:$shard' AND holder = 'thief'" ); 0 };
        }, 40, 'a fenced tick' ), "ticks dispatched under the taken epoch ($in_shard bots in shard $shard) were refused" );
    my ($lost) = psql_rows( $db, "SELECT count(*), min(t.lease_epoch), max(t.lease_epoch), bool_and(t.suppression_type = 'LEASE') FROM no_trade_traces t JOIN bots b ON b.id = t.bot_id WHERE b.shard = $shard AND t.reason_code = 'LEASE_LOST'" );
    is( $lost->[1], $stolen, 'the LEASE_LOST traces carry the stale epoch' );
    is( $lost->[3], 't', 'suppression type LEASE' );
    is( one("SELECT count(*) FROM integration_usage_events e JOIN bots b ON b.id = e.bot_id WHERE b.shard = $shard AND e.operation = 'runner.tick' AND e.error_code = 'LEASE_LOST'") > 0 ? 1 : 0, 1,
        'the ticks ended BLOCKED LEASE_LOST (runner.tick events)' );
    for my $table (qw(orders fills decision_traces)) {
        is( one("SELECT count(*) FROM $table x JOIN bots b ON b.id = x.bot_id WHERE b.shard = $shard AND x.lease_epoch = $stolen "
                  . "AND x.trace_id IN (SELECT trace_id FROM no_trade_traces WHERE reason_code = 'LEASE_LOST')"), 0,
            "no $table row of a fenced tick" );
    }
    is( one("SELECT count(*) FROM orders o JOIN bots b ON b.id = o.bot_id JOIN lease_epochs e ON e.name = 'shard:' || b.shard AND e.epoch > o.lease_epoch "
              . "AND e.acquired_at_app <= o.created_at - interval '1 s'"), 0, 'no order written with an epoch older than one acquired before it (1 s margin)' );
    is( one("SELECT count(*) FROM orders a JOIN orders b ON a.bot_id = b.bot_id AND a.tick_slot < b.tick_slot AND a.lease_epoch > b.lease_epoch"), 0,
        'per bot, later slots never carry an older epoch (clock-free)' );
    ok( wait_for( sub { $srv->get('/api/system/status')->{json}{scheduler}{owned_shards} == 63 }, 5, 'lease lost' ),
        'on its next round the server knows it holds 63 shards' );
    # the thief goes away: its lease expires and the server claims the shard with a new epoch
    psql_rows( $db, "UPDATE leases SET expires_at = clock_timestamp() WHERE name = 'shard:$shard' AND holder = 'thief'" );
    ok( wait_for( sub { one("SELECT holder = '$me' AND epoch > $stolen + 1 FROM leases WHERE name = 'shard:$shard'") eq 't' }, 5, 'reclaimed' ),
        'the server claims the freed shard with a new epoch' );
    my $new = one("SELECT epoch FROM leases WHERE name = 'shard:$shard'");
    ok( wait_for( sub { one("SELECT count(*) FROM integration_usage_events e JOIN bots b ON b.id = e.bot_id WHERE b.shard = $shard AND e.operation = 'runner.tick' AND (e.metadata->>'lease_epoch')::bigint = $new") >= $in_shard }, 10, 'ticks again' ),
        "its bots tick again under epoch $new" );
    is( one("SELECT count(*) FROM (SELECT bot_id, metadata->>'tick_slot' FROM integration_usage_events WHERE operation = 'runner.tick' AND metadata ? 'tick_slot' GROUP BY 1, 2 HAVING count(*) > 1) d"), 0,
        'no bot ticked any slot twice' );
};

done_testing;
