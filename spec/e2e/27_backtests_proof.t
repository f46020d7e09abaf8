# Backtests and proof (issue: backtests + proof/runs/jobs): a backtest over the last 2 hours runs as a BACKTEST job
# (QUEUED -> RUNNING -> SUCCEEDED, each transition recorded), fetches bars from the market-data primary with
# usage events carrying the job id, and is deterministic for the same window; bad windows are 400; proof of use
# after a couple of ticks matches the usage-event sums; runs lists the instance after a start.
#
# Needs main.c routes: POST /api/bots/:id/backtests, GET /api/jobs/:id, GET /api/bots/:id/runs, GET /api/bots/:id/proof.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use POSIX qw(strftime);
use Gatehouse::Test;
use Gatehouse::Sim;
use Gatehouse::Fixtures;

my $QUIET = { GATEHOUSE_BACKGROUND_VERIFY => 0, GATEHOUSE_ALERTS => 0 };
my $sim   = Gatehouse::Sim::start_sim();


sub iso { strftime( '%Y-%m-%dT%H:%M:%SZ', gmtime( $_[0] ) ) }
sub rows { my ( $srv, $sql ) = @_; [ psql_rows( $srv->db, $sql ) ] }

sub new_bot {
    my ( $srv, $name ) = @_;
    my ($row) = psql_rows( $srv->db, "INSERT INTO bots (name, strategy, symbol, timeframe, stage, params) VALUES "
          . "('$name', 'flip', 'ESZ6', '1m', 'PAPER', '{}'::jsonb) RETURNING id" );
    return $row->[0];
}

sub run_backtest {
    my ( $srv, $id, $start, $end ) = @_;
    my $r = $srv->post( "/api/bots/$id/backtests", { start => iso($start), end => iso($end) } );
    is( $r->{status}, 202, 'backtest accepted 202' ) or diag explain $r->{json};
    my $job = $r->{json}{job};
    is( $job->{kind}, 'BACKTEST', 'a BACKTEST job' );
    is( $job->{state}, 'QUEUED', 'QUEUED at first' );
    my $done = wait_for( sub {
        my $j = $srv->get("/api/jobs/$job->{id}")->{json}{job};
        $j && $j->{state} =~ /^(SUCCEEDED|FAILED)$/ ? $j : undef }, 30, 'backtest done' );
    return ( $done, $r->{json}{trace_id} );
}

my $env = { %{ $sim->base_env( only => [qw(databento polygon)] ) }, %$QUIET };
my $srv = start_server( env => $env, home => fixture_home(), clock => AT_OPEN );
$srv->post( '/api/integrations/verify', { all => \1 } );
my $id = new_bot( $srv, 'bt1' );
my $end = int( $srv->now / 60 ) * 60 - 60;
my $start = $end - 2 * 3600;

subtest 'a backtest over the last 2 hours' => sub {
    my ( $job, $trace ) = run_backtest( $srv, $id, $start, $end );
    ok( $job, 'finished' ) or return;
    is( $job->{state}, 'SUCCEEDED', 'SUCCEEDED' ) or diag explain $job;
    my $res = $job->{result};
    ok( exists $res->{$_}, "result.$_" ) for qw(trades trade_count pnl max_drawdown win_rate bars provider);
    is( $res->{provider}, 'databento', 'bars from the primary' );
    cmp_ok( $res->{bars}, '>', 60, "bars ($res->{bars})" );
    cmp_ok( $res->{trade_count}, '>', 0, "trades ($res->{trade_count})" );
    is( scalar @{ $res->{trades} }, $res->{trade_count}, 'trade_count matches' );
    my $t = $res->{trades}[0];
    ok( exists $t->{$_}, "trade.$_" ) for qw(entry_t exit_t side qty entry_price exit_price pnl);
    cmp_ok( $t->{exit_t}, '>', $t->{entry_t}, 'exit after entry' );
    is_deeply( [ map { $_->{to_state} } @{ $job->{transitions} } ], [qw(QUEUED RUNNING SUCCEEDED)], 'transitions recorded' );
    is( ( scalar grep { $_->{trace_id} eq $trace } @{ $job->{transitions} } ), 3, 'with the request trace id' );
    ok( $job->{started_at} && $job->{finished_at}, 'started_at and finished_at' );
    my $ev = wait_for( sub {
        my $r = rows( $srv, "SELECT count(*), COALESCE(sum(records), 0) FROM integration_usage_events WHERE job_id = '$job->{id}' "
              . "AND operation = 'marketdata.bars' AND provider_id = 'databento' AND bot_id = '$id'" );
        $r->[0][0] > 0 ? $r->[0] : undef }, 5, 'usage events' );
    ok( $ev, 'marketdata.bars usage events carry the job id' );

    my ( $job2 ) = run_backtest( $srv, $id, $start, $end );
    is( $job2->{state}, 'SUCCEEDED', 'second run SUCCEEDED' );
    is_deeply( $job2->{result}{trades}, $res->{trades}, 'identical trades' );
    is( $job2->{result}{pnl}, $res->{pnl}, 'identical PnL' );
    is( $job2->{result}{max_drawdown}, $res->{max_drawdown}, 'identical drawdown' );
};

subtest 'bad windows are 400 VALIDATION_FAILED' => sub {
    my $now = $srv->now;
    for my $c ( [ 'end before start', iso( $now - 3600 ), iso( $now - 7200 ) ],
                [ 'end equals start', iso( $now - 3600 ), iso( $now - 3600 ) ],
                [ 'longer than 7 days', iso( $now - 8 * 86400 ), iso( $now - 3600 ) ],
                [ 'end in the future', iso( $now - 3600 ), iso( $now + 3600 ) ],
                [ 'not RFC 3339', 'yesterday', iso( $now - 3600 ) ],
                [ 'missing end', iso( $now - 3600 ), undef ] ) {
        my $body = { start => $c->[1] };
        $body->{end} = $c->[2] if defined $c->[2];
        my $r = $srv->post( "/api/bots/$id/backtests", $body );
        is( $r->{status}, 400, "$c->[0]: 400" );
        is( $r->{json}{error_code}, 'VALIDATION_FAILED', "$c->[0]: VALIDATION_FAILED" );
    }
    is( $srv->post( "/api/bots/00000000-0000-4000-8000-000000000000/backtests", { start => iso( $srv->now - 7200 ), end => iso( $srv->now - 60 ) } )->{status},
        404, 'unknown bot: 404' );
    is( $srv->get('/api/jobs/00000000-0000-4000-8000-000000000000')->{status}, 404, 'unknown job: 404' );
};

subtest 'proof after a couple of ticks' => sub {
    my $pid = new_bot( $srv, 'proof1' );
    is( $srv->post("/api/bots/$pid/tick")->{json}{tick}{provider}, 'databento', 'tick 1' );
    $srv->post("/api/bots/$pid/tick");
    ok( wait_for( sub { rows( $srv, "SELECT count(*) FROM integration_usage_events WHERE bot_id = '$pid' AND operation = 'runner.tick'" )->[0][0] >= 2 }, 5, 'events' ),
        'tick events written' );
    my $r = $srv->get("/api/bots/$pid/proof");
    is( $r->{status}, 200, 'proof 200' );
    my $p = $r->{json}{proof};
    is( $p->{bot_id}, $pid, 'bot_id' );
    my ($db) = grep { $_->{provider_id} eq 'databento' } @{ $p->{integrations} };
    ok( $db, 'databento listed' ) or return;
    my $sums = rows( $srv, "SELECT count(*), COALESCE(sum(records) FILTER (WHERE operation = 'marketdata.bars'), 0) "
          . "FROM integration_usage_events WHERE bot_id = '$pid' AND provider_id = 'databento'" )->[0];
    is( $db->{calls}, $sums->[0], "databento calls = DB count ($sums->[0])" );
    cmp_ok( $db->{calls}, '>=', 2, 'at least two calls' );
    is( $db->{bars}, $sums->[1], "bars = DB sum ($sums->[1])" );
    ok( is_hex32( $db->{last_trace_id} ), 'last_trace_id' );
    ok( $db->{last_used_at}, 'last_used_at' );
    ok( exists $p->{$_}, "proof.$_" ) for qw(last_run last_job heartbeat_age_s terminal_state);
    is( $srv->get('/api/bots/00000000-0000-4000-8000-000000000000/proof')->{status}, 404, 'unknown bot: 404' );
};

subtest 'runs lists the instance after a start, and the jobs' => sub {
    my $r = $srv->post("/api/bots/$id/start");
    ok( $r->{status} < 300, "start ($r->{status})" ) or diag explain $r->{json};
    my $runs = $srv->get("/api/bots/$id/runs");
    is( $runs->{status}, 200, 'runs 200' );
    my @list = @{ $runs->{json}{runs} };
    my ($inst) = grep { $_->{type} eq 'instance' } @list;
    ok( $inst, 'the instance is listed' );
    ok( $inst && exists $inst->{$_}, "instance.$_" ) for qw(state started_at stopped_at restart_count breaker_state);
    is( ( scalar grep { $_->{type} eq 'job' && $_->{kind} eq 'BACKTEST' } @list ), 2, 'both backtest jobs listed' );
    is( $list[0]{type}, 'instance', 'newest first' );
    my $page = $srv->get("/api/bots/$id/runs?limit=1");
    is( scalar @{ $page->{json}{runs} }, 1, 'limit=1' );
    ok( $page->{json}{next_cursor}, 'next_cursor' );
    my $p2 = $srv->get("/api/bots/$id/runs?limit=5&cursor=$page->{json}{next_cursor}");
    is( scalar @{ $p2->{json}{runs} }, 2, 'the rest on the next page' );
    my $proof = $srv->get("/api/bots/$id/proof")->{json}{proof};
    is( $proof->{last_job}{kind}, 'BACKTEST', 'proof: last job' );
    ok( $proof->{last_run}{state}, 'proof: last run' );
    $srv->post("/api/bots/$id/stop");
};

is( $srv->stop, 0, 'stopped' );
done_testing;
