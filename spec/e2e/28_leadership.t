# Leadership: two gatehouse instances on one database; exactly one holds the leader lease (the singletons:
# supervisor sweeps, autonomy rounds, retention); when it stops the other leads within 10 s; a bot's ticks never
# run twice. Leases are rows of `leases` (migration 0072): 'leader' and 64 shards, renewed every second with a 7 s
# expiry; the bots are ticked by the instance holding their shard; a stopping instance releases its leases, a
# killed one's are taken over once they expire.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Time::HiRes qw(time sleep);
use Gatehouse::Test;
use Gatehouse::Sim;
use Gatehouse::Fixtures;

my $sim = Gatehouse::Sim::start_sim();
my $env = { %{ $sim->base_env( only => ['databento'] ) }, GATEHOUSE_BACKGROUND_VERIFY => 0, GATEHOUSE_ALERTS => 0,
            GATEHOUSE_TICK_INTERVAL_S => 1 };
my $db = new_database();
my $a  = start_server( env => $env, db => $db, clock => AT_OPEN );
my $b  = start_server( env => $env, db => $db, clock => AT_OPEN );

sub sched { $_[0]->get('/api/system/status')->{json}{scheduler} }
ok( wait_for( sub { ( sched($a)->{leader} ? 1 : 0 ) + ( sched($b)->{leader} ? 1 : 0 ) == 1 }, 10, 'one leader' ),
    'exactly one of two instances leads' );
my ( $leader, $other ) = sched($a)->{leader} ? ( $a, $b ) : ( $b, $a );
isnt( sched($leader)->{instance_id}, sched($other)->{instance_id}, 'instances have distinct ids' );

# a running bot on the shared database: verify on both (each keeps its own verify state), start it
$_->post( '/api/integrations/verify', { provider_id => 'databento' } ) for $a, $b;
my ($row) = psql_rows( $db, "INSERT INTO bots (name, strategy, symbol, timeframe, stage) VALUES ('lead1', 'sma_cross', 'ESZ6', '1m', 'PAPER') RETURNING id" );
my $id = $row->[0];
is( $leader->post("/api/bots/$id/start")->{status}, 200, 'bot started' );
sleep 4;
my $ticks = sub { ( psql_rows( $db, "SELECT count(*), count(DISTINCT trace_id) FROM integration_usage_events WHERE bot_id = '$id' AND operation = 'runner.tick'" ) )[0] };
my $t = $ticks->();
cmp_ok( $t->[0], '>=', 2, "the holder of its shard ticks the bot ($t->[0] ticks)" );
my ($shards) = psql_rows( $db, "SELECT count(DISTINCT holder), count(*) FROM leases WHERE name LIKE 'shard:%' AND expires_at > clock_timestamp()" );
is_deeply( $shards, [ 2, 64 ], 'the two instances hold the 64 shard leases between them' );

my $t0 = time;
is( $leader->stop, 0, 'the leader stops (SIGTERM releases the lease)' );
ok( wait_for( sub { sched($other)->{leader} }, 12, 'takeover' ), 'the other instance leads' );
my $took = time - $t0;
cmp_ok( $took, '<=', 10, sprintf( 'within 10 s (%.1f s)', $took ) );
my $before = $ticks->()->[0];
sleep 4;
cmp_ok( $ticks->()->[0], '>', $before, 'the remaining instance ticks the bot' );
my $sole = sched($other)->{instance_id};
ok( wait_for( sub { ( psql_rows( $db, "SELECT count(*) FROM leases WHERE name LIKE 'shard:%' AND holder = '$sole' AND expires_at > clock_timestamp()" ) )[0][0] == 64 }, 5, 'all shards' ),
    'the remaining instance holds all 64 shards' );

# never twice: no tick slot of the bot was ticked twice (runner.tick events name their slot and instance), and
# one instance's ticks of it never come closer than the interval allows (created_at is compared within one
# instance only: each instance's clock joined the other's at a whole second)
my ($slots) = psql_rows( $db, "SELECT count(*), count(DISTINCT metadata->>'tick_slot') FROM integration_usage_events "
      . "WHERE bot_id = '$id' AND operation = 'runner.tick' AND metadata ? 'tick_slot'" );
cmp_ok( $slots->[0], '>=', 4, "scheduled ticks name their slot ($slots->[0])" );
is( $slots->[1], $slots->[0], 'no tick slot of the bot was ticked twice' );
my ($dups) = psql_rows( $db, "SELECT count(*) FROM (SELECT e1.id FROM integration_usage_events e1 JOIN integration_usage_events e2 "
      . "ON e1.bot_id = e2.bot_id AND e1.id < e2.id AND e1.metadata->>'instance_id' = e2.metadata->>'instance_id' "
      . "AND abs(extract(epoch FROM e1.created_at - e2.created_at)) < 0.3 "
      . "WHERE e1.bot_id = '$id' AND e1.operation = 'runner.tick' AND e2.operation = 'runner.tick') x" );
is( $dups->[0], 0, 'no two ticks of the bot ran at the same time on one instance' );

# a leader that dies without releasing its lease (SIGKILL): a third instance takes over within 10 s
my $c = start_server( env => $env, db => $db, clock => AT_OPEN );
ok( wait_for( sub { !sched($c)->{leader} }, 3, 'follower' ), 'a new instance follows while the leader lives' );
$t0 = time;
$other->signal('KILL');
ok( wait_for( sub { sched($c)->{leader} }, 12, 'takeover after SIGKILL' ), 'after the leader is SIGKILLed the follower leads' );
$took = time - $t0;
cmp_ok( $took, '<=', 10, sprintf( 'within 10 s of its death (%.1f s)', $took ) );
is( $c->stop, 0, 'stopped' );
done_testing;
