# user_id on every event a user caused: an operator signed in presses Verify (one provider, then all), creates a
# bot, backtests it, starts it (refused or not), stops and kills it. The rows those requests cause carry the
# user's id: verifications.user_id and the verify usage events; bots.created_by; jobs.user_id and the backtest's
# marketdata.bars usage events; the BLOCKED runner.start usage event; and (system_events has no user column) the
# metadata.user_id of the bot.* / kill system events. Background verifies keep user_id NULL.
#
# Before the fix every one of them carried an empty user_id.
use strict;
use warnings;
use lib 'spec/support';
use POSIX qw(strftime);
use Test::More;
use Gatehouse::Test;
use Gatehouse::Sim;
use Gatehouse::Fixtures;

my $sim = Gatehouse::Sim::start_sim();
my $srv = start_server( env => { %{ $sim->base_env( only => ['databento'] ) }, GATEHOUSE_BACKGROUND_VERIFY => 0,
                                 GATEHOUSE_ALERTS => 0 },
                        home => fixture_home(), clock => AT_OPEN );

sub rows { my ($sql) = @_; [ psql_rows( $srv->db, $sql ) ] }
sub iso { strftime( '%Y-%m-%dT%H:%M:%SZ', gmtime( $_[0] ) ) }

my $me = $srv->get('/api/auth/me')->{json};
my $uid = $me->{user}{id} // $me->{id};
like( $uid // '', qr/^[0-9a-f-]{36}$/, "the signed-in user's id ($uid)" );

# wait for the rows of a trace (the telemetry writer batches), then answer them
sub wait_rows {
    my ( $sql, $what ) = @_;
    my $r;
    wait_for( sub { $r = rows($sql); @$r }, 10, $what );
    return $r;
}

subtest 'Verify' => sub {
    my $r = $srv->post( '/api/integrations/verify', { provider_id => 'databento' } );
    is( $r->{json}{reason_code}, 'OK', 'databento verified' );
    my $t = $r->{json}{trace_id};
    my $v = wait_rows( "SELECT coalesce(user_id::text, '') FROM verifications WHERE trace_id = '$t'", 'verification row' );
    is_deeply( $v, [ [$uid] ], 'verifications.user_id' );
    my $u = wait_rows( "SELECT coalesce(user_id::text, '') FROM integration_usage_events WHERE trace_id = '$t' AND operation = 'verify'",
        'verify usage event' );
    is_deeply( $u, [ [$uid] ], 'the verify usage event carries it' );

    $r = $srv->post( '/api/integrations/verify', { all => \1 } );
    $t = $r->{json}{trace_id};
    $v = wait_rows( "SELECT coalesce(user_id::text, '') FROM verifications WHERE trace_id = '$t'", 'verification rows (all)' );
    ok( @$v >= 1 && !( grep { $_->[0] ne $uid } @$v ), 'verify all: every verification row carries it' ) or diag explain $v;
};

my $bot;
subtest 'bot create, backtest' => sub {
    my $r = $srv->post( '/api/bots', { name => 'who1', strategy => 'flip', symbol => 'ESZ6', timeframe => '1m' } );
    is( $r->{status}, 201, 'bot created' ) or diag explain $r->{json};
    $bot = $r->{json}{bot}{id};
    is( rows("SELECT coalesce(created_by::text, '') FROM bots WHERE id = '$bot'")->[0][0], $uid, 'bots.created_by' );
    my $ev = wait_rows( "SELECT metadata->>'user_id' FROM system_events WHERE kind = 'bot.created' AND subject = '$bot'", 'bot.created' );
    is( $ev->[0][0], $uid, 'bot.created metadata.user_id' );

    my $end = int( $srv->now / 60 ) * 60 - 60;
    $r = $srv->post( "/api/bots/$bot/backtests", { start => iso( $end - 3600 ), end => iso($end) } );
    is( $r->{status}, 202, 'backtest accepted' );
    my $job = $r->{json}{job};
    is( $job->{user_id}, $uid, 'the job answer names the user' );
    ok( wait_for( sub { ( $srv->get("/api/jobs/$job->{id}")->{json}{job}{state} // '' ) =~ /SUCCEEDED|FAILED/ }, 30, 'done' ), 'backtest done' );
    is( rows("SELECT coalesce(user_id::text, '') FROM jobs WHERE id = '$job->{id}'")->[0][0], $uid, 'jobs.user_id' );
    my $u = wait_rows( "SELECT DISTINCT coalesce(user_id::text, '') FROM integration_usage_events WHERE job_id = '$job->{id}'",
        'backtest usage events' );
    is_deeply( $u, [ [$uid] ], "the backtest's marketdata.bars usage events carry it" );
};

subtest 'start, stop, kill' => sub {
    my $r = $srv->post("/api/bots/$bot/start");
    my $t = $r->{json}{trace_id};
    if ( $r->{status} == 409 ) {
        my $u = wait_rows( "SELECT coalesce(user_id::text, '') FROM integration_usage_events WHERE trace_id = '$t' "
              . "AND operation = 'runner.start' AND status = 'BLOCKED'", 'runner.start BLOCKED' );
        is_deeply( $u, [ [$uid] ], "the refused start's BLOCKED runner.start usage event carries it ($r->{json}{error_code})" );
        my $e = wait_rows( "SELECT metadata->>'user_id' FROM system_events WHERE kind = 'bot.start_refused' AND trace_id = '$t'", 'refused event' );
        is( $e->[0][0], $uid, 'bot.start_refused metadata.user_id' );
    }
    else {
        is( $r->{status}, 200, 'started' );
        my $e = wait_rows( "SELECT metadata->>'user_id' FROM system_events WHERE kind = 'bot.start' AND trace_id = '$t'", 'start event' );
        is( $e->[0][0], $uid, 'bot.start metadata.user_id' );
    }
    # a refused start (a LIVE bot: no broker, live trading off, a tier below LIVE — any gate refuses it)
    my $live = $srv->post( '/api/bots', { name => 'who2', strategy => 'flip', symbol => 'ESZ6', timeframe => '1m', stage => 'LIVE' } );
    my $lr = $srv->post("/api/bots/$live->{json}{bot}{id}/start");
    is( $lr->{status}, 409, "a LIVE start is refused ($lr->{json}{error_code})" );
    my $lt = $lr->{json}{trace_id};
    my $u = wait_rows( "SELECT coalesce(user_id::text, '') FROM integration_usage_events WHERE trace_id = '$lt' "
          . "AND operation = 'runner.start' AND status = 'BLOCKED'", 'runner.start BLOCKED' );
    is_deeply( $u, [ [$uid] ], "the refused start's BLOCKED runner.start usage event carries it" );
    my $re = wait_rows( "SELECT metadata->>'user_id' FROM system_events WHERE kind = 'bot.start_refused' AND trace_id = '$lt'", 'refused event' );
    is( $re->[0][0], $uid, 'bot.start_refused metadata.user_id' );

    # The lifecycle event of each operation (bot.stop, kill). The same trace may also carry an autonomy.tier
    # event when the re-score after the operation changes the bot's tier: that one is the runtime's, not the user's.
    for my $op ( [ stop => 'bot.stop' ], [ kill => 'kill' ] ) {
        my ( $verb, $kind ) = @$op;
        $r = $srv->post("/api/bots/$bot/$verb");
        is( $r->{status}, 200, "$verb 200" );
        $t = $r->{json}{trace_id};
        my $e = wait_rows( "SELECT metadata->>'user_id', metadata->>'username' FROM system_events WHERE trace_id = '$t' "
              . "AND kind = '$kind'", "$verb event" );
        is_deeply( $e, [ [ $uid, 'admin' ] ], "the $verb system event names the user" );
    }
};

is( $srv->stop, 0, 'server stops cleanly' );
done_testing;
