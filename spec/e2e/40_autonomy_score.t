# Autonomy score (issue 6, PRODUCT.md §6): a PAPER bot that really ticked (bars from the simulator, risk checks,
# a decision trace, a simulated fill) reaches at least LIMITED_AUTONOMY from that evidence, and its breakdown
# says why it is not FULL_AUTONOMY (no execution broker is connected). A new bot with no history is
# SUPERVISED, its breakdown naming the missing evidence. GET answers the stored row, POST recomputes it from
# fresh evidence; /api/system/status bots.byAutonomyTier counts the rows of autonomy_scores.
#
# Fixtures (in a copied home, never in the product): the `flip` strategy (ENTRY when flat, EXIT when in a
# position) and market hours forced open.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;
use Gatehouse::Sim;
use Gatehouse::Fixtures;

my $QUIET = { GATEHOUSE_BACKGROUND_VERIFY => 0, GATEHOUSE_ALERTS => 0 };
my $sim   = Gatehouse::Sim::start_sim();
my $env   = { %{ $sim->base_env( only => [qw(databento)] ) }, %$QUIET };
my $srv   = start_server( env => $env, home => fixture_home(), clock => AT_OPEN );
ok( wait_supervisor($srv), 'the supervisor runs and leads (autonomy above SUPERVISED needs it)' );
is( $srv->post( '/api/integrations/verify', { provider_id => 'databento' } )->{json}{reason_code}, 'OK', 'databento verified' );

sub rows { my ($sql) = @_; [ psql_rows( $srv->db, $sql ) ] }

sub new_bot {
    my ($name) = @_;
    return rows("INSERT INTO bots (name, strategy, symbol, timeframe, stage) VALUES ('$name', 'flip', 'ESZ6', '1m', 'PAPER') RETURNING id")->[0][0];
}

sub score { my ($id) = @_; $srv->post("/api/bots/$id/autonomy-score") }
sub ids_of { [ map { $_->{requirement} } @{ $_[0] } ] }

my $new = new_bot('fresh');
my $id  = new_bot('worker');

subtest 'a new bot: SUPERVISED, the breakdown names the missing evidence' => sub {
    my $r = $srv->get("/api/bots/$new/autonomy-score");
    is( $r->{status}, 200, "HTTP 200" ) or diag explain $r->{json};
    envelope_ok( $r, "autonomy-score", success => 1 );
    my $s = $r->{json}{autonomy_score};
    is( $s->{bot_id}, $new, 'bot_id' );
    is( $s->{autonomy_tier}, 'SUPERVISED', 'tier SUPERVISED (PAPER can start)' );
    ok( $s->{last_updated_at} =~ /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'last_updated_at is RFC 3339 UTC' );
    ok( defined $s->{$_} && $s->{$_} >= 0 && $s->{$_} <= 100, "$_ 0-100" )
        for qw(autonomy_score data_reliability_score decision_quality_score risk_discipline_score execution_health_score supervisor_trust_score);
    is( $s->{breakdown}{next_tier}, 'LIMITED_AUTONOMY', 'next tier LIMITED_AUTONOMY' );
    my $missing = ids_of( $s->{breakdown}{missing_for_next_tier} );
    ok( ( grep { $_ eq 'proof_of_use' } @$missing ) && ( grep { $_ eq 'recent_traces' } @$missing ),
        "missing for LIMITED: proof of use and recent traces (@$missing)" );
    like( join( ' ', @{ $s->{breakdown}{sub_scores}{data_reliability}{missing} } ), qr/marketdata\.bars/, 'data reliability: no bars call yet' );
    like( join( ' ', @{ $s->{breakdown}{sub_scores}{execution_health}{missing} } ), qr/no orders/, 'execution: no orders, nothing invented' );
    my $row = rows("SELECT autonomy_tier, autonomy_score FROM autonomy_scores WHERE bot_id = '$new'")->[0];
    is_deeply( $row, [ 'SUPERVISED', $s->{autonomy_score} ], 'GET of a never-scored bot upserted its row' );
    is( $srv->post("/api/bots/$new/start")->{status}, 200, 'a SUPERVISED PAPER bot starts' );
    is( $srv->post("/api/bots/$new/stop")->{status}, 200, 'stopped again' );
};

subtest 'a PAPER bot with recent proof and traces: at least LIMITED_AUTONOMY; why not FULL' => sub {
    my $t = $srv->post("/api/bots/$id/tick")->{json}{tick};
    is( $t->{outcome}, 'TRADED', 'tick 1 traded (ENTRY)' );
    rows("UPDATE orders SET created_at = created_at - interval '3 minutes' WHERE bot_id = '$id'");    # the next bar fills it
    $t = $srv->post("/api/bots/$id/tick")->{json}{tick};
    is( $t->{fills}, 1, 'tick 2: the simulated fill' );
    ok( wait_for( sub { rows("SELECT count(*) FROM integration_usage_events WHERE bot_id = '$id' AND operation = 'marketdata.bars' AND status = 'OK'")->[0][0] >= 2 }, 5, 'events' ),
        'the bars events are written' );
    my $r = score($id);
    is( $r->{status}, 200, "HTTP 200" ) or diag explain $r->{json};
    envelope_ok( $r, "autonomy-score", success => 1 );
    my $s = $r->{json}{autonomy_score};
    like( $s->{autonomy_tier}, qr/^(LIMITED_AUTONOMY|FULL_AUTONOMY)$/, "tier $s->{autonomy_tier}" ); diag explain [ map { "$_->{code}: $_->{reason_human}" } @{ $s->{blockers} } ] if $s->{autonomy_tier} ne q(LIMITED_AUTONOMY);
    is( $s->{autonomy_tier}, 'LIMITED_AUTONOMY', 'no broker connected: LIMITED_AUTONOMY exactly' );
    cmp_ok( $s->{autonomy_score}, '>=', 60, "score $s->{autonomy_score}" );
    is( $s->{breakdown}{next_tier}, 'FULL_AUTONOMY', 'next tier FULL_AUTONOMY' );
    is_deeply( ids_of( $s->{breakdown}{missing_for_next_tier} ), ['broker_healthy'], 'missing for FULL: a healthy broker' );
    is( $s->{breakdown}{missing_for_next_tier}[0]{code}, 'EXECUTION_BROKER_UNAVAILABLE', 'with its code' );
    ok( $s->{breakdown}{missing_for_next_tier}[0]{suggested_fix}, 'and a fix' );
    like( $s->{breakdown}{tier_reason}, qr/not FULL_AUTONOMY: broker_healthy/, "tier_reason: $s->{breakdown}{tier_reason}" );
    my %ev = map { $_->{key} => $_ } @{ $s->{breakdown}{sub_scores}{data_reliability}{evidence} };
    is( $ev{bars_error_rate}{value}, 0, 'data evidence: bars error rate 0' );
    is( $ev{market_data_primary}{value}, 'databento', 'data evidence: databento is the primary' );
    my %ex = map { $_->{key} => $_ } @{ $s->{breakdown}{sub_scores}{execution_health}{evidence} };
    is( $ex{simulated_fills}{value}, 1, 'execution evidence: one simulated fill, named as simulated' );
    like( $ex{simulated_fills}{note}, qr/simulated/, 'the note says so' );
    is( $s->{breakdown}{window_s}, 86400, 'window 24 h' );

    my $g = $srv->get("/api/bots/$id/autonomy-score")->{json}{autonomy_score};
    is_deeply( [ @$g{qw(autonomy_tier autonomy_score last_updated_at)} ], [ @$s{qw(autonomy_tier autonomy_score last_updated_at)} ],
        'GET answers the stored row' );
    my $db = rows("SELECT autonomy_tier, autonomy_score, breakdown->>'next_tier' FROM autonomy_scores WHERE bot_id = '$id'")->[0];
    is_deeply( $db, [ 'LIMITED_AUTONOMY', $s->{autonomy_score}, 'FULL_AUTONOMY' ], 'the row in autonomy_scores' );
    ok( wait_for( sub { rows("SELECT 1 FROM system_events WHERE kind = 'autonomy.tier' AND subject = '$id' AND metadata->>'to' = 'LIMITED_AUTONOMY'")->[0] }, 5, 'event' ),
        'the tier change is a system event' );
};

subtest 'byAutonomyTier counts the rows' => sub {
    my $want;
    my $ok = wait_for( sub {
        $want = { map { $_ => 0 } qw(LOCKED SUPERVISED LIMITED_AUTONOMY FULL_AUTONOMY) };
        $want->{ $_->[0] } = $_->[1] + 0 for @{ rows("SELECT autonomy_tier, count(*) FROM autonomy_scores GROUP BY 1") };
        my $got = $srv->get('/api/system/status')->{json}{bots}{byAutonomyTier};
        join( ',', map { $got->{$_} // 'x' } sort keys %$want ) eq join( ',', map { $want->{$_} } sort keys %$want ) }, 6, 'counts' );
    ok( $ok, 'bots.byAutonomyTier equals the autonomy_scores counts' );
    is( $want->{LIMITED_AUTONOMY}, 1, 'one LIMITED_AUTONOMY bot' );
    is( $want->{SUPERVISED}, 1, 'one SUPERVISED bot' );
};

subtest 'errors' => sub {
    my $u = '00000000-0000-4000-8000-000000000000';
    error_ok( $srv->get("/api/bots/$u/autonomy-score"), 404, 'NOT_FOUND' );
    error_ok( $srv->post("/api/bots/$u/autonomy-score"), 404, 'NOT_FOUND' );
    error_ok( $srv->get('/api/bots/not-a-uuid/autonomy-score'), 404, 'NOT_FOUND' );
};

subtest 'the leader scores every bot on its schedule' => sub {
    my $s2 = start_server( env => { %$env, GATEHOUSE_AUTONOMY_INTERVAL_S => 1 }, home => fixture_home(), clock => AT_OPEN );
    my ($b) = psql_rows( $s2->db, "INSERT INTO bots (name, strategy, symbol, timeframe, stage) VALUES ('sched', 'flip', 'ESZ6', '1m', 'PAPER') RETURNING id" );
    ok( wait_for( sub { ( psql_rows( $s2->db, "SELECT count(*) FROM autonomy_scores WHERE bot_id = '$b->[0]'" ) )[0][0] }, 10, 'row' ),
        'a bot nobody asked about gets a row' );
    my ($t1) = psql_rows( $s2->db, "SELECT last_updated_at FROM autonomy_scores WHERE bot_id = '$b->[0]'" );
    ok( wait_for( sub { ( psql_rows( $s2->db, "SELECT last_updated_at > '$t1->[0]' FROM autonomy_scores WHERE bot_id = '$b->[0]'" ) )[0][0] eq 't' }, 10, 'again' ),
        'and is rescored on the next round' );
    ok( ( grep { /autonomy scored/ && /periodic=1/ } $s2->log_lines ), 'the periodic round is logged with its policy time' );
    is( $s2->stop, 0, 'stopped' );
};

is( $srv->stop, 0, 'stopped' );
done_testing;
