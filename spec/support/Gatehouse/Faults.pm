package Gatehouse::Faults;

# Gatehouse::Faults — tools of the fault suite (spec/faults/): resident memory from /proc, a telemetry load
# generator that records what the server acknowledged, and a private Postgres cluster that can be SIGKILLed.
#
#   use lib 'spec/support';
#   use Gatehouse::Test;
#   use Gatehouse::Faults;
#   my $pg   = private_cluster();                    # { dir, port, url }; destroyed at END
#   my $srv  = start_server(db => $pg->{url}, env => { GATEHOUSE_SERVICE_TOKEN => $tok });
#   my $load = start_ingest_load($srv, token => $tok);
#   pg_kill9($pg); pg_start($pg);
#   $load->stop; my @acked = $load->acked_seqs;     # every seq the server answered 202 for
#   my ($rss, $hwm) = proc_mem_kb($srv->pid);
#
# HTTP goes through the harness's $srv->request (so whatever the harness adds — login, Origin — applies).

use strict;
use warnings;

use Carp qw(croak);
use Exporter 'import';
use File::Temp qw(tempdir);
use POSIX qw(:sys_wait_h);
use Test::More;
use Time::HiRes qw(sleep time);

use Gatehouse::Test;

our @EXPORT = qw(proc_mem_kb private_cluster pg_kill9 pg_start pg_stop pg_postmaster_pid start_ingest_load
  usage_counts INGEST_ROUTE binary_is_asan);

use constant INGEST_ROUTE => '/api/telemetry/usage-events';

# proc_mem_kb($pid) → (VmRSS, VmHWM) in KiB from /proc/$pid/status (undef when the process is gone).
sub proc_mem_kb {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/status" or return;
    my %v;
    while (<$fh>) { $v{$1} = $2 if /^(VmRSS|VmHWM):\s+(\d+)\s+kB/ }
    return ( $v{VmRSS}, $v{VmHWM} );
}

# binary_is_asan() → 1 when the gatehouse under test is an AddressSanitizer build (make asan). Its quarantine
# keeps freed memory resident, so resident-memory bounds are release-build properties; and valgrind cannot run it.
sub binary_is_asan { index( read_file( gatehouse_bin() ), '__asan_init' ) >= 0 ? 1 : 0 }

# ---- a private Postgres cluster ------------------------------------------------------------------------

sub _pg {
    my ( $timeout, @args ) = @_;
    my ( $rc, $out, $err ) = run_cmd( [ pg_embedded(), @args ], env => { GATEHOUSE_PG_FAST => 1 }, timeout => $timeout );
    chomp $out;
    return ( $rc, $out, $err );
}

# private_cluster() → { dir, port, url } of a cluster of its own (killing it disturbs no other spec);
# destroyed at END. It runs with fsync off (the OS page cache survives a process crash) but with
# synchronous_commit ON: GATEHOUSE_PG_FAST turns it off, and then a SIGKILLed Postgres forgets commits it had
# already acknowledged (up to wal_writer_delay, 200 ms) — a loss the database would cause, not gatehouse.
sub private_cluster {
    my $top = tempdir( 'gh-faults-XXXXXX', TMPDIR => 1, CLEANUP => 1 );
    chmod 0711, $top;
    my $pg = { dir => "$top/pg", port => free_port() };
    at_end( sub { _pg( 60, 'destroy', $pg->{dir} ) } );
    my ( $rc, $url, $err ) = _pg( 120, 'start', $pg->{dir}, '--port', $pg->{port} );
    croak "cannot start a private Postgres cluster: $err" if $rc != 0;
    $pg->{url} = $url;
    psql_rows( $url, 'ALTER SYSTEM SET synchronous_commit = on' );
    psql_rows( $url, 'SELECT pg_reload_conf()' );
    my $deadline = time + 10;
    until ( ( psql_rows( $url, 'SHOW synchronous_commit' ) )[0][0] eq 'on' ) {
        croak 'private_cluster: synchronous_commit stays off' if time > $deadline;
        sleep 0.05;
    }
    return $pg;
}

# The data directory of a cluster made by pg-embedded.sh (it may live elsewhere: DIR/pg.location).
sub _pgdata {
    my ($pg) = @_;
    my $base = $pg->{dir};
    if ( -f "$pg->{dir}/pg.location" ) {
        $base = Gatehouse::Test::read_file("$pg->{dir}/pg.location");
        $base =~ s/\s+\z//;
    }
    return "$base/pgdata";
}

# pg_postmaster_pid($pg) → the postmaster's pid, or undef when it is not running.
sub pg_postmaster_pid {
    my ($pg) = @_;
    my $f = _pgdata($pg) . '/postmaster.pid';
    return undef unless -f $f;
    my ($pid) = split /\n/, Gatehouse::Test::read_file($f);
    return ( $pid && _running($pid) ) ? $pid : undef;
}

sub _children_of {
    my ($ppid) = @_;
    my @kids;
    opendir my $d, '/proc' or return;
    for my $p ( grep {/^\d+$/} readdir $d ) {
        open my $fh, '<', "/proc/$p/stat" or next;
        my $stat = <$fh> // '';
        push @kids, $p if $stat =~ /\)\s+\S\s+(\d+)/ && $1 == $ppid;
    }
    return @kids;
}

# 1 when pid runs: it exists and is not a zombie (a killed process stays a zombie until its parent — for an
# orphaned backend, init — reaps it, which can take seconds and says nothing about the crash).
sub _running {
    my ($pid) = @_;
    return 0 unless kill 0, $pid;
    open my $fh, '<', "/proc/$pid/stat" or return 0;
    my $stat = <$fh> // '';
    return $stat =~ /\)\s+Z\s/ ? 0 : 1;
}

# pg_kill9($pg) — SIGKILL the postmaster and every backend of it at once (a crash, not a shutdown); waits
# until they are gone. Returns the time of the kill (Time::HiRes).
sub pg_kill9 {
    my ($pg) = @_;
    my $pm = pg_postmaster_pid($pg) or croak 'pg_kill9: the cluster is not running';
    my @all = ( $pm, _children_of($pm) );
    my $t = time;
    kill 'KILL', @all;
    my $deadline = time + 10;
    while ( grep { _running($_) } @all ) {
        croak "pg_kill9: processes @all still alive" if time > $deadline;
        sleep 0.02;
    }
    return $t;
}

# pg_start($pg) — start it again on the same port (crash recovery when it was killed). Returns the exit code.
sub pg_start {
    my ($pg) = @_;
    my ( $rc, undef, $err ) = _pg( 120, 'start', $pg->{dir}, '--port', $pg->{port} );
    diag("pg_start: $err") if $rc != 0;
    return $rc;
}

sub pg_stop { my ($pg) = @_; my ($rc) = _pg( 120, 'stop', $pg->{dir} ); return $rc }

# usage_counts($url, $tag) → (rows, distinct ids, distinct seqs) of the usage events one load wrote.
sub usage_counts {
    my ( $url, $tag ) = @_;
    my ($row) = psql_rows( $url,
        q{SELECT count(*), count(DISTINCT id), count(DISTINCT metadata->>'seq') FROM integration_usage_events WHERE metadata->>'load' = $1},
        $tag );
    return @$row;
}

# ---- telemetry load ---------------------------------------------------------------------------------------

# start_ingest_load($srv, token => .., batch => 50, pause => 0, tag => 'x') → Gatehouse::Faults::Load
# A child process posts batches of usage events (each with a unique metadata.seq and metadata.load = tag) to
# the ingest route, as fast as they are answered (plus pause seconds), until stopped, and appends one line per
# request to a file: "first_seq last_seq http_status t_sent t_answered".
sub start_ingest_load {
    my ( $srv, %o ) = @_;
    my $batch = $o{batch} // 50;
    my $tag   = $o{tag} // sprintf( 'load%06x', int rand 0xffffff );
    my $dir   = tempdir( 'gh-load-XXXXXX', TMPDIR => 1, CLEANUP => 1 );
    my $file  = "$dir/acks.txt";
    my $bot   = $o{bot_id} // 'c3c3c3c3-0000-4000-8000-' . sprintf( '%012x', int rand 2**40 );
    my $pid   = fork;
    croak "fork: $!" unless defined $pid;
    if ( $pid == 0 ) {
        my $stop = 0;
        $SIG{TERM} = sub { $stop = 1 };
        open my $out, '>>', $file or POSIX::_exit(2);
        $out->autoflush(1);
        my $seq = 0;
        while ( !$stop ) {
            my $first = $seq + 1;
            my @ev = map {
                {   provider_id => 'databento', operation => 'marketdata.bars', status => 'OK', bot_id => $bot,
                    latency_ms  => 3,           symbol    => 'NQ',              timeframe => '1m', records => 1,
                    metadata    => { seq => ++$seq, load => $tag }
                }
            } 1 .. $batch;
            my $t0 = time;
            my $r  = eval { $srv->request( 'POST', INGEST_ROUTE,
                    { body => { events => \@ev }, headers => { Authorization => "Bearer $o{token}" }, timeout => 5 } ) };
            my $st = $r ? $r->{status} : 599;
            printf {$out} "%d %d %d %.6f %.6f\n", $first, $seq, $st, $t0, time;
            $srv->{responses} = [];    # the harness keeps every response; a long load would hoard them
            sleep $o{pause} if $o{pause};
            sleep 0.05 if $st == 599;  # server gone: do not spin
        }
        close $out;
        POSIX::_exit(0);
    }
    return bless { pid => $pid, file => $file, tag => $tag, batch => $batch }, 'Gatehouse::Faults::Load';
}

package Gatehouse::Faults::Load;

use strict;
use warnings;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);

sub tag { $_[0]{tag} }

# stop() — ends the load (SIGTERM; the request in flight completes first) and reaps it.
sub stop {
    my ($self) = @_;
    return if $self->{stopped}++;
    kill 'TERM', $self->{pid};
    my $deadline = time + 15;
    while ( waitpid( $self->{pid}, WNOHANG ) == 0 ) {
        if ( time > $deadline ) { kill 'KILL', $self->{pid}; waitpid( $self->{pid}, 0 ); last }
        sleep 0.02;
    }
}

# records() → [first, last, status, t_sent, t_answered] per request so far
sub records {
    my ($self) = @_;
    open my $fh, '<', $self->{file} or return ();
    return map { [ split / / ] } grep {/\n\z/} <$fh>;
}

# acked() → the records answered 202
sub acked { grep { $_->[2] == 202 } $_[0]->records }

# acked_count() → events acknowledged with 202
sub acked_count {
    my $n = 0;
    $n += $_->[1] - $_->[0] + 1 for $_[0]->acked;
    return $n;
}

# wait_acked($n, $timeout) → true once at least $n events were acknowledged
sub wait_acked {
    my ( $self, $n, $timeout ) = @_;
    my $deadline = time + ( $timeout // 30 );
    while ( time < $deadline ) {
        return 1 if $self->acked_count >= $n;
        sleep 0.05;
    }
    return 0;
}

1;
