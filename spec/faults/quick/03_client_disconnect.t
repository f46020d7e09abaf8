# A client that disconnects mid-request (docs/faults.md "A client that leaves mid-request"): raw sockets send a
# request whose handler waits on async work, then close before the answer. Three kinds of work:
#   - a session lookup (GET with a session cookie older than the 5 s re-check, while the sessions table is locked):
#     the lookup ends, and the handler is CANCELLED (not started) — "request cancelled stage=session_lookup";
#   - a verify (POST /api/integrations/verify against a simulator answering 1.5 s late): it FINISHES — its
#     verification row is written under the request's trace id;
#   - a manual tick (POST /api/bots/:id/tick while the bars arrive 1.5 s late): it FINISHES — its decision trace
#     is written under the request's trace id;
#   - a sign-in (POST /api/auth/login, closed at once while the password hash runs): it FINISHES — its session row
#     is written, its cookie never sent.
# Each time the server logs "client gone" (seen by libevent's close callback or the socket's peer-close watch),
# writes no answer (the request line says client_gone=1), counts it in gatehouse_http_clients_gone, and keeps
# answering normally. Under an ASan build (GATEHOUSE_BIN=build/asan/gatehouse) the server log must hold no
# sanitizer report when the server has stopped.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;
use Gatehouse::Sim;
use Gatehouse::Fixtures;
use IO::Socket::INET;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);

my $LATE_MS = 1500;    # how late the simulator answers the verify and the bars
my $LOCK_S  = 2;       # how long the sessions table stays locked (the lookup's timeout is 3 s)

my $sim = start_sim( quiet => 1 );
my $srv = start_server( env => { %{ $sim->base_env( only => [qw(databento polygon)] ) }, GATEHOUSE_BACKGROUND_VERIFY => 0,
                                 GATEHOUSE_ALERTS => 0 },
                        home => fixture_home(), clock => AT_OPEN );
is( $srv->post( $GH{verify}, { all => \1 } )->{status}, 200, 'setup: every configured provider verified' );

my $n = 0;
sub new_trace { sprintf '%08x%08x%08x%08x', $$, time, ++$n, int rand 0xffffffff }

# sends a request on a raw socket with the given trace id and (unless anonymous => 1) the session of $srv;
# returns the open socket
sub send_raw {
    my ( $method, $path, $trace, $body, %o ) = @_;
    my $s = IO::Socket::INET->new( PeerAddr => '127.0.0.1', PeerPort => $srv->port, Proto => 'tcp', Timeout => 5 )
      or die "connect: $!";
    my $h = $srv->auth_headers;
    my $text = "$method $path HTTP/1.1\r\nHost: 127.0.0.1:" . $srv->port . "\r\n"
      . ( $o{anonymous} ? '' : "Cookie: $h->{Cookie}\r\n" )
      . "Origin: $h->{Origin}\r\ntraceparent: 00-$trace-00f067aa0ba902b7-01\r\n";
    $text .= "Content-Type: application/json\r\nContent-Length: " . length($body) . "\r\n" if defined $body;
    print {$s} $text . "\r\n" . ( $body // '' );
    return $s;
}

sub log_has { my ( $msg, %kv ) = @_; scalar $srv->log_records( msg => $msg, %kv ) }

# the checks every abandoned request shares: seen, no answer written, counted
sub gone_ok {
    my ( $trace, $what ) = @_;
    ok( wait_for( sub { log_has( 'client gone', trace_id => $trace ) }, 10, "$what: client gone" ),
        "$what: the server saw the client leave (log 'client gone')" );
    ok( wait_for( sub { log_has( 'request', trace_id => $trace, client_gone => 1 ) }, 15, "$what: request line" ),
        "$what: its request line says client_gone=1 (no answer written)" );
    my ($gone) = $srv->log_records( msg => 'client gone', trace_id => $trace );
    note("$what: seen_by=" . ( $gone->{seen_by} // '?' ) );
}

subtest 'session lookup: the client leaves while the lookup waits on Postgres; the handler is not started' => sub {
    sleep 5.5;    # the harness's session was cached at login: past SESSION_RECHECK_S its next use asks Postgres
    my $pid = fork // die "fork: $!";
    if ( !$pid ) {
        open STDOUT, '>', '/dev/null';
        { exec 'psql', '-X', '-q', '-d', $srv->db, '-c',
            "BEGIN; LOCK TABLE sessions IN EXCLUSIVE MODE; SELECT pg_sleep($LOCK_S); COMMIT;" };
        POSIX::_exit(127);
    }
    ok( wait_for( sub { ( psql_rows( $srv->db, q{SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
        WHERE c.relname = 'sessions' AND l.mode = 'ExclusiveLock' AND l.granted} ) )[0][0] }, 5, 'lock' ),
        'the sessions table is locked' );
    my $trace = new_trace();
    my $s = send_raw( 'GET', '/api/bots', $trace );
    ok( wait_for( sub { ( psql_rows( $srv->db, q{SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'
        AND query LIKE '%UPDATE sessions%'} ) )[0][0] }, 5, 'lookup waiting' ), 'the session lookup waits on the lock' );
    close $s;
    gone_ok( $trace, 'session lookup' );
    waitpid( $pid, 0 );
    ok( log_has( 'request cancelled', trace_id => $trace, stage => 'session_lookup' ), 'the handler was cancelled' );
    my ($line) = $srv->log_records( msg => 'request', trace_id => $trace );
    is( $line->{status}, 499, 'logged as 499 (client closed request)' );
    is( $srv->get('/api/bots')->{status}, 200, 'the same session answers normally afterwards' );
};

subtest 'verify: the client leaves while the provider is slow; the verify finishes and is recorded' => sub {
    $sim->clear_requests;
    $sim->fault( provider => 'databento', mode => 'latency', delay_ms => $LATE_MS, count => 1 );
    my $trace = new_trace();
    my $s = send_raw( 'POST', $GH{verify}, $trace, '{"provider_id":"databento"}' );
    ok( wait_for( sub { @{ $sim->requests('databento') } }, 5, 'probe sent' ), 'the verify probe reached the provider' );
    close $s;
    gone_ok( $trace, 'verify' );
    my ($v) = wait_for( sub { my @r = psql_rows( $srv->db, 'SELECT outcome FROM verifications WHERE trace_id = $1', $trace );
        @r ? $r[0] : undef }, 10, 'verification row' );
    is( $v && $v->[0], 'OK', 'the verify finished: its verification (OK) is recorded under the request trace id' );
    my ($line) = $srv->log_records( msg => 'request', trace_id => $trace );
    is( $line && $line->{status}, 200, 'the dropped answer would have been 200' );
    is( $srv->providers->{databento}{last_verify_outcome}, 'OK', 'the status view shows the verify' );
};

subtest 'tick: the client leaves while the bars are slow; the tick finishes and its trace is recorded' => sub {
    my ($id) = map { $_->[0] } psql_rows( $srv->db, q{INSERT INTO bots (name, strategy, symbol, timeframe, stage, params)
        VALUES ('gone1', 'flip', 'ESZ6', '1m', 'PAPER', '{}'::jsonb) RETURNING id} );
    $sim->clear_requests;
    $sim->fault( provider => 'databento', mode => 'latency', delay_ms => $LATE_MS, count => 1 );
    my $trace = new_trace();
    my $s = send_raw( 'POST', "/api/bots/$id/tick", $trace, '{}' );
    ok( wait_for( sub { @{ $sim->requests('databento') } }, 5, 'bars requested' ), 'the tick asked for its bars' );
    close $s;
    gone_ok( $trace, 'tick' );
    ok( wait_for( sub { ( psql_rows( $srv->db, 'SELECT count(*) FROM decision_traces WHERE bot_id = $1 AND trace_id = $2',
        $id, $trace ) )[0][0] }, 10, 'decision trace' ), 'the tick finished: its decision trace is recorded under the request trace id' );
    my $t = $srv->post("/api/bots/$id/tick");
    is( $t->{status}, 200, 'the next tick of the bot answers normally (the first one released its claim)' );
};

subtest 'sign-in: the client leaves during the password hash; the sign-in finishes' => sub {
    my $before = ( psql_rows( $srv->db, 'SELECT count(*) FROM sessions' ) )[0][0];
    my $trace = new_trace();
    my $body  = sprintf '{"username":"%s","password":"%s"}', $GH{admin_user}, $GH{admin_password};
    close send_raw( 'POST', '/api/auth/login', $trace, $body, anonymous => 1 );    # at once: the hash takes tens of ms
    gone_ok( $trace, 'sign-in' );
    is( ( psql_rows( $srv->db, 'SELECT count(*) FROM sessions' ) )[0][0], $before + 1,
        'the sign-in finished: its session row is written (its cookie was never sent)' );
};

subtest 'the server is unharmed' => sub {
    is( $srv->get( $GH{healthz} )->{status}, 200, '/healthz answers' );
    is( $srv->get('/api/bots')->{status}, 200, 'an authenticated route answers' );
    my $m = $srv->get('/metrics');
    my ($gone) = $m->{content} =~ /^gatehouse_http_clients_gone (\d+)/m;
    is( $gone, 4, 'gatehouse_http_clients_gone counts the four' );
    is( $srv->stop, 0, 'stops cleanly' );
    my @reports = grep { /ERROR: (?:Address|Leak)Sanitizer|runtime error:|SUMMARY: \w+Sanitizer/ } $srv->log_lines;
    is( scalar @reports, 0, 'no sanitizer report in the server log' ) or diag( join "\n", @reports[ 0 .. ( $#reports < 20 ? $#reports : 20 ) ] );
};

done_testing;
