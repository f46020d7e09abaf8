# The start gate shown is the start gate applied: GET /api/bots/:id's safe_start (what the bot page's "start
# gates now" and the Why-not-trading drawer show) is the decision POST /api/bots/:id/start takes — a fresh
# autonomy score, then gates.lua safe_start() with the bot's tier. A LOCKED bot (every bars call of it fails,
# DATA_ERRORS) reads "refused, AUTONOMY_TIER_LOCKED" on its page, and Start answers 409 AUTONOMY_TIER_LOCKED
# with the same blockers. Once its bars succeed again both say allowed.
#
# Before the fix the page asked safe_start() without the tier: "gates allow" while Start answered 409.
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
ok( wait_supervisor($srv), 'the supervisor runs and leads' );
is( $srv->post( '/api/integrations/verify', { provider_id => 'databento' } )->{json}{reason_code}, 'OK', 'databento verified' );

sub rows { my ($sql) = @_; [ psql_rows( $srv->db, $sql ) ] }
my $id = rows("INSERT INTO bots (name, strategy, symbol, timeframe, stage) VALUES ('gate1', 'flip', 'ESZ6', '1m', 'PAPER') RETURNING id")->[0][0];
sub codes { [ sort map { $_->{code} } @{ $_[0] || [] } ] }

subtest 'a LOCKED bot: the page and Start give the same answer' => sub {
    $sim->fault( provider => 'databento', mode => 'status', status => 503, path => '/v0/timeseries.get_range' );
    is( $srv->post("/api/bots/$id/tick")->{json}{tick}{reason_code}, 'DATA_UNAVAILABLE', "tick $_: no bars" ) for 1 .. 3;
    ok( wait_for( sub { rows("SELECT count(*) FROM integration_usage_events WHERE bot_id = '$id' AND operation = 'marketdata.bars' "
                . "AND status = 'ERROR'")->[0][0] >= 3 }, 5, 'events' ), 'three failed bars calls are recorded' );

    my $page = $srv->get("/api/bots/$id");
    is( $page->{status}, 200, 'GET /api/bots/:id 200' );
    my $gate = $page->{json}{safe_start};
    ok( $gate && !$gate->{allowed}, 'the page says the start gates refuse' ) or diag explain $gate;
    is( $gate->{autonomy_tier}, 'LOCKED', 'with the tier the start uses: LOCKED' );
    my ($tb) = grep { $_->{code} eq 'AUTONOMY_TIER_LOCKED' } @{ $gate->{blockers} || [] };
    ok( $tb, 'blocker AUTONOMY_TIER_LOCKED' ) or diag explain $gate->{blockers};
    like( $tb->{reason_human} // '', qr/LOCKED.*DATA_ERRORS/, 'its reason names the tier and why' );

    my $start = $srv->post("/api/bots/$id/start");
    error_ok( $start, 409, 'AUTONOMY_TIER_LOCKED', 'Start is refused' );
    is_deeply( codes( $gate->{blockers} ), codes( $start->{json}{blockers} ), 'the same blockers as the page showed' );
    is( $gate->{blockers}[0]{code}, $start->{json}{error_code}, "Start's code is the page's first blocker" );
    is( rows("SELECT count(*) FROM bot_instances WHERE bot_id = '$id'")->[0][0], 0, 'nothing runs' );
};

subtest 'bars succeed again: both say allowed' => sub {
    $sim->clear_faults('databento');
    is( $srv->post("/api/bots/$id/tick")->{json}{tick}{outcome}, 'TRADED', 'the tick gets bars and trades' );
    ok( wait_for( sub { rows("SELECT count(*) FROM integration_usage_events WHERE bot_id = '$id' AND operation = 'marketdata.bars' "
                . "AND status = 'OK'")->[0][0] >= 1 }, 5, 'ok ev' ), 'an OK bars call is recorded' );
    my $gate;
    ok( wait_for( sub { $gate = $srv->get("/api/bots/$id")->{json}{safe_start}; $gate && $gate->{allowed} }, 10, 'allowed' ),
        'the page says allowed once the evidence recovers' )
      or diag explain $gate;
    isnt( $gate->{autonomy_tier}, 'LOCKED', "tier $gate->{autonomy_tier}" );
    my $start = $srv->post("/api/bots/$id/start");
    is( $start->{status}, 200, 'and Start goes through' ) or diag explain $start->{json};
};

is( $srv->stop, 0, 'server stops cleanly' );
done_testing;
