# Proof of use gates FULL_AUTONOMY (issue 6; seed 003 E3): with market data and a broker connected, a PAPER bot
# that ticked (bars, risk checks, a decision trace, orders) is FULL_AUTONOMY. Once its provider calls are older
# than 24 h (the rows are moved back in time: nothing else changes), the same bot has zero proof of use in the
# window and cannot be FULL_AUTONOMY: the NO_PROOF_OF_USE blocker names the missing evidence and its fix.
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
my $srv = start_server( env => { %{ $sim->base_env( only => [qw(databento ironbeam)] ) }, GATEHOUSE_BACKGROUND_VERIFY => 0,
                                 GATEHOUSE_ALERTS => 0 },
                        home => fixture_home(), clock => AT_OPEN );
for my $p (qw(databento ironbeam)) {
    is( $srv->post( '/api/integrations/verify', { provider_id => $p } )->{json}{reason_code}, 'OK', "$p verified" );
}

sub rows { my ($sql) = @_; [ psql_rows( $srv->db, $sql ) ] }

my $id = rows("INSERT INTO bots (name, strategy, symbol, timeframe, stage) VALUES ('proof1', 'flip', 'ESZ6', '1m', 'PAPER') RETURNING id")->[0][0];
is( $srv->post("/api/bots/$id/tick")->{json}{tick}{outcome}, 'TRADED', 'tick 1 traded' );
rows("UPDATE orders SET created_at = created_at - interval '3 minutes' WHERE bot_id = '$id'");
is( $srv->post("/api/bots/$id/tick")->{json}{tick}{fills}, 1, 'tick 2 filled' );
# runner.tick is each tick's last usage event and the telemetry queue writes one batch at a time, in order: once
# both are in, every event of the two ticks is (an event written after the shift below would be 'fresh proof')
ok( wait_for( sub { rows("SELECT count(*) FILTER (WHERE provider_id = 'databento' AND status = 'OK'), "
                         . "count(*) FILTER (WHERE operation = 'runner.tick') FROM integration_usage_events WHERE bot_id = '$id'")->[0]
                    ->[1] >= 2 }, 5, 'proof' ),
    'the two ticks are recorded' );
is( rows("SELECT count(*) FROM integration_usage_events WHERE bot_id = '$id' AND provider_id = 'databento' AND status = 'OK'")->[0][0], 2,
    'with two databento calls of this bot' );

my $s = $srv->post("/api/bots/$id/autonomy-score")->{json}{autonomy_score};
is( $s->{autonomy_tier}, 'FULL_AUTONOMY', 'with proof, traces, orders and a broker: FULL_AUTONOMY' ) or diag explain $s->{breakdown};
is_deeply( $s->{blockers}, [], 'no blockers' );
is( $s->{breakdown}{next_tier}, undef, 'no next tier' );

# the same evidence, 25 hours old
rows("UPDATE integration_usage_events SET created_at = created_at - interval '25 hours' WHERE bot_id = '$id'");
is( rows("SELECT count(*) FROM integration_usage_events WHERE bot_id = '$id' AND created_at > gh_now() - interval '24 hours'")->[0][0], 0,
    'no usage event of the bot in the last 24 h' );
$s = $srv->post("/api/bots/$id/autonomy-score")->{json}{autonomy_score};
isnt( $s->{autonomy_tier}, 'FULL_AUTONOMY', "zero proof of use in 24 h: not FULL_AUTONOMY ($s->{autonomy_tier})" );
my ($b) = grep { $_->{code} eq 'NO_PROOF_OF_USE' } @{ $s->{blockers} };
ok( $b, 'a NO_PROOF_OF_USE blocker' );
like( $b->{reason_human} // '', qr/no proof of use.*provider call/i, "it names the missing evidence: $b->{reason_human}" );
like( $b->{suggested_fix} // '', qr/tick|start/i, 'with a fix' );
is( $b->{requirement}, 'proof_of_use', 'requirement proof_of_use' );
ok( ( grep { $_->{requirement} eq 'proof_of_use' } @{ $s->{breakdown}{missing_for_next_tier} } ),
    'missing_for_next_tier lists proof of use' );
like( join( ' ', @{ $s->{breakdown}{sub_scores}{data_reliability}{missing} } ), qr/marketdata\.bars/,
    'the data sub-score says its bars evidence is missing too' );

# a fresh tick brings the proof back
rows("UPDATE orders SET created_at = created_at - interval '3 minutes' WHERE bot_id = '$id'");
$srv->post("/api/bots/$id/tick");
ok( wait_for( sub { rows("SELECT count(*) FROM integration_usage_events WHERE bot_id = '$id' AND operation = 'runner.tick' "
                         . "AND created_at > gh_now() - interval '1 hour'")->[0][0] }, 5, 'ev' ),
    'the new tick is recorded (the telemetry queue writes in batches; runner.tick is its last event)' );
$s = $srv->post("/api/bots/$id/autonomy-score")->{json}{autonomy_score};
ok( !( grep { $_->{code} eq 'NO_PROOF_OF_USE' } @{ $s->{blockers} } ), "a new tick is new proof (tier $s->{autonomy_tier})" );

is( $srv->stop, 0, 'stopped' );
done_testing;
