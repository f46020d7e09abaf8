# The fleet made visible (issue 17, "Visible"): one instance on its own database, sized for one bot
# (GATEHOUSE_CAPACITY=1). GET /api/system/instances shows it alive, leader, holding all 64 shards, with its
# heartbeat age and capacity; instances that are gone stay listed (not alive) for an hour after their last
# heartbeat, then drop out; the route is viewer-readable and 401 without a session (its OpenAPI shape is checked
# on every response by the harness, spec 90 checks the document). Two running bots exceed the capacity: the
# route says over_capacity and /api/system/status carries the FLEET_OVER_CAPACITY SEV-2 blocker naming the
# instance; /metrics has the fleet gauges and the lease-renew histogram.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;
use Gatehouse::Sim;
use Gatehouse::Fixtures;

my $RFC3339 = qr/\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z\z/;

my $sim = Gatehouse::Sim::start_sim( quiet => 1 );
my $env = { %{ $sim->base_env( only => ['databento'] ) }, GATEHOUSE_BACKGROUND_VERIFY => 0, GATEHOUSE_ALERTS => 0,
            GATEHOUSE_CAPACITY => 1, GATEHOUSE_LEASE_S => 7 };
my $db  = new_database();
my $srv = start_server( env => $env, db => $db, clock => AT_OPEN );
my $id  = $srv->get('/api/system/status')->{json}{scheduler}{instance_id};
like( $id // '', qr/\A[0-9a-f-]{36}\z/, 'the instance id from /api/system/status' );

sub fleet { $srv->get('/api/system/instances')->{json} }
sub mine  { my ($f) = @_; ( grep { $_->{id} eq $id } @{ $f->{instances} || [] } )[0] }

ok( wait_for( sub { my $m = mine( fleet() ); $m && $m->{alive} && $m->{owned_shards} == 64 && $m->{leader} }, 15,
        'instance holds every shard' ), 'alone on its database, the instance is alive, leads and holds all 64 shards' );

# ---- the answer's shape and values
my $r = $srv->get('/api/system/instances');
is( $r->{status}, 200, 'GET /api/system/instances: 200' );
envelope_ok( $r, 'instances', success => 1 );
my $f = $r->{json};
my $m = mine($f);
is_deeply( [ map { $_->{id} } @{ $f->{instances} } ], [$id], 'one instance listed: this one' );
is( $m->{pid}, $srv->pid, 'its pid' );
ok( length( $m->{host} // '' ) && length( $m->{version} // '' ), "host ($m->{host}) and version ($m->{version})" );
is( $m->{capacity}, 1, 'capacity = GATEHOUSE_CAPACITY' );
is( $m->{lease_s}, 7, 'lease_s = GATEHOUSE_LEASE_S' );
ok( json_bool( $m->{alive} ) && $m->{alive}, 'alive (a JSON true)' );
ok( json_bool( $m->{leader} ) && $m->{leader}, 'leader (a JSON true)' );
is( $m->{stopped_at}, undef, 'not stopped' );
like( $m->{$_} // '', $RFC3339, "$_ is RFC 3339" ) for qw(started_at last_seen);
cmp_ok( $m->{last_seen_age_s}, '>=', 0, "last seen $m->{last_seen_age_s} s ago" );
cmp_ok( $m->{last_seen_age_s}, '<', 7, 'within one lease period' );
is_deeply( $m->{shards}, [ 0 .. 63 ], 'shards 0..63' );
is( $m->{owned_shards}, 64, 'owned_shards 64' );
is( $m->{owned_bots}, 0, 'no running bot yet' );
ok( json_bool( $m->{over_capacity} ) && !$m->{over_capacity}, 'not over capacity' );
cmp_ok( $m->{loop_lag_ms}, '>=', 0, 'loop_lag_ms is a number' );
ok( !defined $m->{lease_renew_ms} || $m->{lease_renew_ms} >= 0, 'lease_renew_ms is null or a round trip' );
is_deeply( $f->{shards}, { count => 64, owned => 64, unowned => [] }, 'shards: 64, all owned, none unowned' );
is( $f->{leader}, $id, 'leader: this instance' );
is( $f->{lease_s}, 7, 'lease_s 7' );
like( $f->{as_of} // '', $RFC3339, 'as_of is RFC 3339' );

# ---- gone instances: listed (not alive) for an hour after their last heartbeat, then omitted; alive first
psql_rows( $db, "INSERT INTO instances (id, host, pid, version, capacity, lease_s, started_at, last_seen, stopped_at) VALUES "
      . "('gone-stopped', 'old-host', 101, 'v0', 10, 7, clock_timestamp() - interval '50 minutes', "
      . "  clock_timestamp() - interval '30 minutes', clock_timestamp() - interval '30 minutes'), "
      . "('gone-silent', 'old-host', 102, 'v0', 10, 7, clock_timestamp() - interval '40 minutes', "
      . "  clock_timestamp() - interval '20 seconds', NULL), "
      . "('gone-long-ago', 'old-host', 103, 'v0', 10, 7, clock_timestamp() - interval '3 hours', "
      . "  clock_timestamp() - interval '61 minutes', NULL)" );
$f = fleet();
is_deeply( [ map { $_->{id} } @{ $f->{instances} } ], [ $id, 'gone-silent', 'gone-stopped' ],
    'alive first, then the newest; gone for more than an hour: omitted' );
my %by = map { $_->{id} => $_ } @{ $f->{instances} };
ok( !$by{'gone-silent'}{alive}, 'a silent instance (heartbeat 20 s old, lease 7 s) is not alive' );
ok( !$by{'gone-stopped'}{alive}, 'a stopped instance is not alive' );
like( $by{'gone-stopped'}{stopped_at} // '', $RFC3339, 'its stopped_at' );
cmp_ok( abs( $by{'gone-stopped'}{last_seen_age_s} - 1800 ), '<', 60, "last seen about 30 min ago ($by{'gone-stopped'}{last_seen_age_s} s)" );
is_deeply( [ @{ $by{'gone-silent'} }{qw(owned_shards owned_bots)}, $by{'gone-silent'}{shards} ], [ 0, 0, [] ],
    'a gone instance holds nothing' );
is( $f->{leader}, $id, 'the leader is unchanged' );

# ---- access: viewer reads it, no session → 401
error_ok( $srv->client->get('/api/system/instances'), 401, 'UNAUTHENTICATED', 'no session' );
is( $srv->post( '/api/users', { username => 'viewer86', password => 'viewer-password-8686', role => 'viewer' } )->{status}, 201,
    'a viewer account' );
my $viewer = $srv->client;
is( $viewer->login( 'viewer86', 'viewer-password-8686' )->{status}, 200, 'the viewer signs in' );
$r = $viewer->get('/api/system/instances');
is( $r->{status}, 200, 'viewer: GET /api/system/instances' );
is( mine( $r->{json} )->{id}, $id, 'the viewer sees the same fleet' );

# ---- over capacity: two running bots in its shards, capacity 1
is( $srv->post( '/api/integrations/verify', { provider_id => 'databento' } )->{status}, 200, 'databento verified' );
for my $n ( 1, 2 ) {
    my $b = $srv->post( '/api/bots', { name => "fleet-$n", strategy => 'sma_cross', symbol => 'ESZ6', timeframe => '1m' } );
    is( $b->{status}, 201, "bot $n created" );
    is( $srv->post("/api/bots/$b->{json}{bot}{id}/start")->{status}, 200, "bot $n started" );
}
ok( wait_for( sub { my $x = mine( fleet() ); $x && $x->{owned_bots} == 2 }, 10, 'two owned bots' ),
    'the route counts the 2 running bots in its shards' );
$m = mine( fleet() );
ok( $m->{over_capacity}, 'over_capacity: 2 running bots > capacity 1' );

sub over_blocker {
    my $s = $srv->get('/api/system/status')->{json};
    return ( grep { $_->{code} eq 'FLEET_OVER_CAPACITY' } @{ $s->{blockers} || [] } )[0];
}
ok( wait_for( sub { over_blocker() }, 15, 'FLEET_OVER_CAPACITY' ), '/api/system/status carries FLEET_OVER_CAPACITY' );
my $b = over_blocker() || {};
is_deeply( [ @$b{qw(severity scope)} ], [ 'SEV-2', 'system' ], 'SEV-2, scope system' );
like( $b->{reason_human} // '', qr/\Q$id\E.*\b2 running bots\b.*capacity of 1\b/, 'names the instance, its 2 bots and capacity 1' );
like( $b->{suggested_fix} // '', qr/GATEHOUSE_CAPACITY/, 'the fix names GATEHOUSE_CAPACITY' );
my $st = $srv->get('/api/system/status')->{json};
isnt( $st->{system_status}, 'BLOCKED', "a SEV-2 fleet blocker does not block the system ($st->{system_status})" );

# ---- /metrics: the fleet gauges of this instance and the lease-renew histogram
sub metric {
    my ($name) = @_;
    my ($v) = $srv->get('/metrics')->{content} =~ /^\Q$name\E (\S+)$/m;
    return $v;
}
ok( wait_for( sub { ( metric('gatehouse_fleet_owned_bots') // -1 ) == 2 }, 10, 'owned bots gauge' ),
    'gatehouse_fleet_owned_bots 2' );
is( metric('gatehouse_fleet_owned_shards'),    64, 'gatehouse_fleet_owned_shards 64' );
is( metric('gatehouse_fleet_leader'),          1,  'gatehouse_fleet_leader 1' );
is( metric('gatehouse_fleet_alive_instances'), 1,  'gatehouse_fleet_alive_instances 1' );
my $text = $srv->get('/metrics')->{content};
like( $text, qr/^# TYPE gatehouse_lease_renew_seconds histogram$/m, 'the lease-renew histogram family' );
like( $text, qr/^gatehouse_lease_renew_seconds_bucket\{le="\+Inf"\} \d+$/m, 'with its +Inf bucket' );
like( $text, qr/^gatehouse_lease_renew_seconds_count \d+$/m, 'and its count' );

is( $srv->stop, 0, 'stopped' );
done_testing;
