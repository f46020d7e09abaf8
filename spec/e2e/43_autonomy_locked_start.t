# A LOCKED bot may not start (issue 6): Databento stays verified (so no system gate fires) but every bars call
# of this bot fails (the simulator answers 503 on the bars path); after a few ticks its data reliability is 0
# and its tier LOCKED (DATA_ERRORS). Its start is refused 409 AUTONOMY_TIER_LOCKED with the tier blocker, the
# reason (the failing bars) and a fix, a BLOCKED runner.start usage event is written and nothing runs. Once its
# bars succeed again the evidence recovers, the tier leaves LOCKED and the start goes through. A SUPERVISED bot
# asking for LIVE is refused by the tier as well.
#
# Fixtures (in a copied home, never in the product): the `flip` strategy and market hours forced open.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;
use Gatehouse::Sim;
use Gatehouse::Fixtures;

my $sim = Gatehouse::Sim::start_sim();
my $srv = start_server( env => { %{ $sim->base_env( only => ['databento'] ) }, GATEHOUSE_BACKGROUND_VERIFY => 0,
                                 GATEHOUSE_ALERTS => 0 },
                        home => fixture_home(), clock => AT_OPEN );
ok( wait_supervisor($srv), 'the supervisor runs and leads (autonomy above SUPERVISED needs it)' );
is( $srv->post( '/api/integrations/verify', { provider_id => 'databento' } )->{json}{reason_code}, 'OK', 'databento verified' );

sub rows { my ($sql) = @_; [ psql_rows( $srv->db, $sql ) ] }
sub bars_count { rows("SELECT count(*) FROM integration_usage_events WHERE bot_id = '$_[0]' AND operation = 'marketdata.bars' AND status = '$_[1]'")->[0][0] }

my $id = rows("INSERT INTO bots (name, strategy, symbol, timeframe, stage) VALUES ('locked1', 'flip', 'ESZ6', '1m', 'PAPER') RETURNING id")->[0][0];

subtest 'failing bars lock the bot; its start is refused by the tier' => sub {
    $sim->fault( provider => 'databento', mode => 'status', status => 503, path => '/v0/timeseries.get_range' );
    for ( 1 .. 3 ) {
        my $t = $srv->post("/api/bots/$id/tick")->{json}{tick};
        is( $t->{reason_code}, 'DATA_UNAVAILABLE', "tick $_: no bars" );
    }
    ok( wait_for( sub { bars_count( $id, 'ERROR' ) >= 3 }, 5, 'events' ), 'three failed bars calls are recorded' );
    my $s = $srv->post("/api/bots/$id/autonomy-score")->{json}{autonomy_score};
    is( $s->{autonomy_tier}, 'LOCKED', 'tier LOCKED' );
    is( $s->{data_reliability_score}, 0, 'data reliability 0' );
    my ($d) = grep { $_->{code} eq 'DATA_ERRORS' } @{ $s->{blockers} };
    ok( $d && $d->{severity} eq 'SEV-1', 'DATA_ERRORS blocker (SEV-1)' );
    my $sys = $srv->get('/api/system/status')->{json};
    ok( !( grep { $_->{code} eq 'DATA_UNAVAILABLE' && $_->{severity} eq 'SEV-1' } @{ $sys->{blockers} } ),
        'no system gate blocks starts (databento is still verified)' );

    my $r = $srv->post("/api/bots/$id/start");
    error_ok( $r, 409, 'AUTONOMY_TIER_LOCKED', 'start refused' );
    like( $r->{json}{reason_human}, qr/LOCKED \(score \d+\).*DATA_ERRORS/, "the reason says LOCKED and why: $r->{json}{reason_human}" );
    like( $r->{json}{suggested_fix} // '', qr/bars|symbol/i, 'the fix says what to do' );
    ok( is_hex32( $r->{json}{trace_id} ), 'with a trace id' );
    my ($tb) = grep { $_->{code} eq 'AUTONOMY_TIER_LOCKED' } @{ $r->{json}{blockers} };
    ok( $tb && $tb->{suggested_fix} && is_hex32( $tb->{trace_id} ), 'the tier blocker carries a fix and the trace id' );
    ok( wait_for( sub { rows("SELECT 1 FROM integration_usage_events WHERE bot_id = '$id' AND operation = 'runner.start' "
                . "AND status = 'BLOCKED' AND error_code = 'AUTONOMY_TIER_LOCKED' AND trace_id = '$r->{json}{trace_id}'")->[0] }, 5, 'blocked ev' ),
        'a BLOCKED runner.start usage event with AUTONOMY_TIER_LOCKED' );
    is( rows("SELECT count(*) FROM bot_instances WHERE bot_id = '$id'")->[0][0], 0, 'nothing runs' );
    is( rows("SELECT desired_state FROM bots WHERE id = '$id'")->[0][0], 'STOPPED', 'the bot stays STOPPED' );
};

subtest 'bars succeed again: the tier recovers and the bot starts' => sub {
    $sim->clear_faults('databento');
    my $t = $srv->post("/api/bots/$id/tick")->{json}{tick};
    is( $t->{outcome}, 'TRADED', 'the tick gets bars and trades' );
    ok( wait_for( sub { bars_count( $id, 'OK' ) >= 1 }, 5, 'ok ev' ), 'an OK bars call is recorded' );
    my $r = $srv->post("/api/bots/$id/start");
    is( $r->{status}, 200, 'start accepted' ) or diag explain $r->{json};
    my $s = $srv->get("/api/bots/$id/autonomy-score")->{json}{autonomy_score};
    isnt( $s->{autonomy_tier}, 'LOCKED', "scored at the start: $s->{autonomy_tier}" );
    is( $s->{data_reliability_score}, 25, 'data reliability 25 (1 of its last 4 bars calls succeeded)' );
    is( $srv->post("/api/bots/$id/stop")->{status}, 200, 'stopped' );
};

subtest 'a SUPERVISED bot may not start LIVE' => sub {
    my $lv = rows("INSERT INTO bots (name, strategy, symbol, timeframe, stage) VALUES ('sup-live', 'flip', 'ESZ6', '1m', 'LIVE') RETURNING id")->[0][0];
    my $r = $srv->post("/api/bots/$lv/start");
    is( $r->{status}, 409, 'LIVE start refused' );
    my ($tb) = grep { $_->{code} eq 'AUTONOMY_TIER_LOCKED' } @{ $r->{json}{blockers} };
    ok( $tb, 'the tier is one of the blockers (besides the LIVE gates)' );
    like( $tb->{reason_human}, qr/SUPERVISED.*LIVE needs LIMITED_AUTONOMY/, 'SUPERVISED: LIVE needs LIMITED_AUTONOMY' );
    like( $tb->{suggested_fix}, qr/PAPER or SHADOW/, 'the fix offers PAPER or SHADOW' );
};

is( $srv->stop, 0, 'stopped' );
done_testing;
