# Jobs: every job has a deadline and an owner; a sweep (runtime/jobs.c, every 2 s on every instance) times out
# jobs past their deadline and fails jobs whose owning process is gone.
#
#   1. a backtest created with deadline_s = 1 while its bars request hangs: TIMEOUT with error_code
#      JOB_TIMEOUT and a RUNNING -> TIMEOUT job_run_events row; the in-process work stops (no later FAILED
#      overwrite, no further bars request). A job inserted with its deadline in the past times out too.
#   2. two instances on one database: B never fails A's running job (nor a job another live host heartbeats),
#      but does fail a job whose owner stopped heartbeating 30 s ago, and A's job once A is SIGKILLed
#      (FAILED, JOB_INTERRUPTED, RUNNING -> FAILED event).
#   3. a RUNNING job left by a killed server is recovered when the next server starts.
#
# Before the fix, jobs past their deadline stayed RUNNING and interrupted jobs were never recovered.
use strict;
use warnings;
use lib 'spec/support';
use POSIX qw(strftime);
use Test::More;
use Gatehouse::Test;
use Gatehouse::Sim;
use Gatehouse::Fixtures;

my $QUIET = { GATEHOUSE_BACKGROUND_VERIFY => 0, GATEHOUSE_ALERTS => 0 };
my $sim   = Gatehouse::Sim::start_sim();
my $BARS  = '/v0/timeseries.get_range';

sub iso { strftime( '%Y-%m-%dT%H:%M:%SZ', gmtime( $_[0] ) ) }
sub rows { my ( $srv, $sql ) = @_; [ psql_rows( $srv->db, $sql ) ] }
sub env_ { return +{ %{ $sim->base_env( only => [qw(databento)] ) }, %$QUIET } }

sub new_bot {
    my ( $srv, $name ) = @_;
    return rows( $srv, "INSERT INTO bots (name, strategy, symbol, timeframe, stage, params) VALUES "
          . "('$name', 'flip', 'ESZ6', '1m', 'PAPER', '{}'::jsonb) RETURNING id" )->[0][0];
}

sub job { my ( $srv, $id ) = @_; $srv->get("/api/jobs/$id")->{json}{job} }

sub sweeps {
    my ($srv) = @_;
    my $m = $srv->get('/metrics')->{content} // '';
    return $m =~ /^gatehouse_job_sweeps\s+(\d+)/m ? $1 : -1;
}

# Waits until srv has completed n more sweeps than now (the sweep decided; a negative assertion may follow).
sub wait_sweeps {
    my ( $srv, $n, $what ) = @_;
    my $from = sweeps($srv);
    return wait_for( sub { sweeps($srv) >= $from + $n }, 15, $what );
}

# A backtest whose bars request hangs (one request): answers the job once it is RUNNING.
sub hanging_backtest {
    my ( $srv, $bot, %o ) = @_;
    $sim->fault( provider => 'databento', mode => 'hang', count => 1, path => $BARS );
    my $end = int( $srv->now / 60 ) * 60 - 60;
    my $r   = $srv->post( "/api/bots/$bot/backtests", { start => iso( $end - 2 * 86400 ), end => iso($end), %o } );
    is( $r->{status}, 202, 'backtest accepted' ) or diag explain $r->{json};
    my $id = $r->{json}{job}{id};
    my $j  = wait_for( sub { my $j = job( $srv, $id ); $j && $j->{state} ne 'QUEUED' ? $j : undef }, 10, 'job started' );
    return ( $id, $j, $r->{json}{job} );
}

sub instance_of { $_[0]->get('/api/system/status')->{json}{scheduler}{instance_id} }

# ---- 1. deadline -------------------------------------------------------------------------------------------

subtest 'a job past its deadline becomes TIMEOUT and its work stops' => sub {
    my $srv = start_server( env => env_(), home => fixture_home(), clock => AT_OPEN );
    $srv->post( '/api/integrations/verify', { provider_id => 'databento' } );
    my $bot = new_bot( $srv, 'dl1' );

    my $bad = $srv->post( "/api/bots/$bot/backtests", { start => iso( $srv->now - 7200 ), end => iso( $srv->now - 60 ), deadline_s => 0 } );
    is( $bad->{status}, 400, 'deadline_s = 0: 400' );
    is( $bad->{json}{field}, 'deadline_s', 'naming deadline_s' );

    # the default deadline (GATEHOUSE_JOB_DEADLINE_S, 600 s) is set at creation
    my $end = int( $srv->now / 60 ) * 60 - 60;
    my $ok  = $srv->post( "/api/bots/$bot/backtests", { start => iso( $end - 3600 ), end => iso($end) } );
    my $okj = $ok->{json}{job};
    ok( $okj->{deadline_at}, "a job has a deadline at creation ($okj->{deadline_at})" );
    my ($d) = psql_rows( $srv->db, "SELECT round(extract(epoch FROM deadline_at - created_at)), owner_instance, owner_pid, "
          . "owner_host IS NOT NULL FROM jobs WHERE id = '$okj->{id}'" );
    is( $d->[0], 600, 'default deadline: created_at + 600 s' );
    is( $d->[1], instance_of($srv), 'owner_instance: the scheduler instance' );
    is( $d->[2], $srv->pid, 'owner_pid: the server pid' );
    is( $d->[3], 't', 'owner_host recorded' );

    my ( $id, $started ) = hanging_backtest( $srv, $bot, deadline_s => 1 );
    is( $started->{state}, 'RUNNING', 'RUNNING while its bars request hangs' );
    my $j = wait_for( sub { my $j = job( $srv, $id ); $j->{state} eq 'TIMEOUT' ? $j : undef }, 10, 'TIMEOUT' );
    ok( $j, 'the job became TIMEOUT' ) or return;
    is( $j->{error_code}, 'JOB_TIMEOUT', 'error_code JOB_TIMEOUT' );
    ok( $j->{finished_at}, 'finished_at set' );
    my $last = $j->{transitions}[-1];
    is_deeply( [ @$last{qw(from_state to_state reason_code)} ], [qw(RUNNING TIMEOUT JOB_TIMEOUT)], 'a RUNNING -> TIMEOUT event' );
    is( $last->{trace_id}, $j->{trace_id}, "with the job's trace id" );
    ok( wait_for( sub { $srv->log_text =~ /"backtest stopped".*job=\Q$id\E/ }, 5, 'stopped' ), 'the in-process backtest is stopped' );

    # the hung bars request ends (5 s timeout): the stopped job writes nothing more and fetches nothing more
    ok( wait_for( sub { rows( $srv, "SELECT count(*) FROM integration_usage_events WHERE job_id = '$id'" )->[0][0] >= 1 }, 15, 'bars attempt recorded' ),
        'the hung bars request ended' );
    ok( wait_sweeps( $srv, 1, 'a sweep' ), 'a sweep later' );
    $j = job( $srv, $id );
    is( $j->{state}, 'TIMEOUT', 'still TIMEOUT' );
    is( scalar @{ $j->{transitions} }, 3, 'QUEUED, RUNNING, TIMEOUT: nothing after' );
    my ($n_ev) = @{ rows( $srv, "SELECT count(*) FROM integration_usage_events WHERE job_id = '$id' AND operation = 'marketdata.bars'" ) };
    is( $n_ev->[0], 1, 'one bars attempt only (the second chunk was never fetched)' );
    unlike( $srv->log_text, qr/backtest job update failed.*job=\Q$id\E/, 'no late transition attempted' );

    # a job whose deadline was set in the past in SQL
    my $sql_job = rows( $srv, "INSERT INTO jobs (bot_id, kind, state, trace_id, deadline_at) SELECT '$bot', 'BACKTEST', "
          . "'QUEUED', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', created_at - interval '1 second' FROM (SELECT '" . iso( $srv->now )
          . "'::timestamptz AS created_at) c RETURNING id" )->[0][0];
    $j = wait_for( sub { my $j = job( $srv, $sql_job ); $j->{state} eq 'TIMEOUT' ? $j : undef }, 10, 'SQL job TIMEOUT' );
    ok( $j, 'a QUEUED job with a past deadline becomes TIMEOUT' );
    is_deeply( [ map { [ $_->{from_state}, $_->{to_state}, $_->{reason_code} ] } @{ $j->{transitions} || [] } ],
        [ [ 'QUEUED', 'TIMEOUT', 'JOB_TIMEOUT' ] ], 'with its event' );
    is( $srv->stop, 0, 'server stops cleanly' );
};

# ---- 2. several instances ----------------------------------------------------------------------------------

subtest 'two instances: a live owner keeps its job, a dead one loses it' => sub {
    my $a = start_server( env => env_(), home => fixture_home(), clock => AT_OPEN );
    my $b = start_server( env => env_(), home => fixture_home(), clock => AT_OPEN, db => $a->db );
    $a->post( '/api/integrations/verify', { provider_id => 'databento' } );
    my $bot = new_bot( $a, 'mi1' );
    # A's running job: a backtest of A ends within seconds, so a RUNNING row carrying A's owner columns (copied
    # from a real job of A) stands for one; A heartbeats it like any job it owns
    my $end = int( $a->now / 60 ) * 60 - 60;
    my $real = $a->post( "/api/bots/$bot/backtests", { start => iso( $end - 3600 ), end => iso($end) } )->{json}{job}{id};
    ok( $real, 'a real job of A' );
    my $id = rows( $a, "INSERT INTO jobs (bot_id, kind, state, trace_id, started_at, owner_instance, owner_host, owner_node, "
          . "owner_pid) SELECT bot_id, 'BACKTEST', 'RUNNING', trace_id, started_at, owner_instance, owner_host, owner_node, "
          . "owner_pid FROM jobs WHERE id = '$real' RETURNING id" )->[0][0];
    rows( $a, "INSERT INTO job_run_events (job_id, from_state, to_state, trace_id) SELECT id, NULL, 'RUNNING', trace_id "
          . "FROM jobs WHERE id = '$id'" );
    is( rows( $a, "SELECT owner_instance FROM jobs WHERE id = '$id'" )->[0][0], instance_of($a), "a RUNNING job owned by A" );

    my $now = iso( $a->now );
    my ( $fresh, $stale ) = map {
        rows( $a, "INSERT INTO jobs (bot_id, kind, state, trace_id, owner_instance, owner_host, owner_node, owner_pid, "
              . "started_at, last_heartbeat_at) VALUES ('$bot', 'BACKTEST', 'RUNNING', 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb', "
              . "'00000000-0000-4000-8000-00000000000$_->[0]', 'elsewhere', 'another-boot/pid:[1]', 1, "
              . "'$now'::timestamptz - interval '$_->[1] seconds', '$now'::timestamptz - interval '$_->[1] seconds') RETURNING id" )->[0][0]
    } [ 1, 0 ], [ 2, 3600 ];

    ok( wait_sweeps( $b, 2, 'B sweeps' ) && wait_sweeps( $a, 1, 'A sweeps' ), 'both instances swept several times' );
    ok( rows( $a, "SELECT last_heartbeat_at IS NOT NULL FROM jobs WHERE id = '$id'" )->[0][0] eq 't', 'A heartbeats its job' );
    is( job( $b, $id )->{state}, 'RUNNING', "B left A's live job alone" );
    is( job( $b, $fresh )->{state}, 'RUNNING', 'a job another host heartbeats is left alone' );
    my $sj = job( $b, $stale );
    is( $sj->{state}, 'FAILED', 'a job whose owner has not heartbeated for an hour is FAILED' );
    is( $sj->{error_code}, 'JOB_INTERRUPTED', 'JOB_INTERRUPTED' );

    $a->signal('KILL');
    ok( wait_for( sub { !$a->alive }, 10, 'A dead' ), 'A is SIGKILLed' );
    my $j = wait_for( sub { my $j = job( $b, $id ); $j->{state} eq 'FAILED' ? $j : undef }, 10, 'recovered by B' );
    ok( $j, "B fails the job of the dead instance A" ) or return;
    is( $j->{error_code}, 'JOB_INTERRUPTED', 'error_code JOB_INTERRUPTED' );
    my $last = $j->{transitions}[-1];
    is_deeply( [ @$last{qw(from_state to_state reason_code)} ], [qw(RUNNING FAILED JOB_INTERRUPTED)], 'a RUNNING -> FAILED event' );
    is( $last->{trace_id}, $j->{trace_id}, "with the job's trace id" );
    is( $last->{metadata}{recovered_by}, instance_of($b), 'recovered_by names B' );
    is( $last->{metadata}{owner_pid}, $a->pid, 'owner_pid names A' );
    is( job( $b, $fresh )->{state}, 'RUNNING', 'the other host\'s job is still left alone' );
    rows( $b, "DELETE FROM jobs WHERE id = '$fresh'" );
    is( $b->stop, 0, 'B stops cleanly' );
};

# ---- 3. recovery at the next start ---------------------------------------------------------------------------

subtest 'a RUNNING job of a killed server is recovered at the next start' => sub {
    my $c = start_server( env => env_(), home => fixture_home(), clock => AT_OPEN );
    $c->post( '/api/integrations/verify', { provider_id => 'databento' } );
    my $bot = new_bot( $c, 'rc1' );
    my ( $id, $started ) = hanging_backtest( $c, $bot );
    is( $started->{state}, 'RUNNING', 'RUNNING' );
    $c->signal('KILL');
    ok( wait_for( sub { !$c->alive }, 10, 'C dead' ), 'the server is SIGKILLed mid-job' );
    is( rows( $c, "SELECT state FROM jobs WHERE id = '$id'" )->[0][0], 'RUNNING', 'the row is left RUNNING' );

    my $d = start_server( env => env_(), home => fixture_home(), clock => AT_OPEN, db => $c->db );
    my $j = wait_for( sub { my $j = job( $d, $id ); $j->{state} eq 'FAILED' ? $j : undef }, 10, 'recovered' );
    ok( $j, 'the next server fails it at start' ) or return;
    is( $j->{error_code}, 'JOB_INTERRUPTED', 'JOB_INTERRUPTED' );
    is_deeply( [ map { $_->{to_state} } @{ $j->{transitions} } ], [qw(QUEUED RUNNING FAILED)], 'QUEUED, RUNNING, FAILED' );
    like( $j->{transitions}[-1]{metadata}{reason_human}, qr/not re-queued/, 'the event says it was not re-queued' );
    is( $d->stop, 0, 'server stops cleanly' );
};

done_testing;
