package BenchKit;

# BenchKit — what bench/bench.pl and bench/soak.pl share: the embedded Postgres cluster, a gatehouse
# server with its own home, the provider simulator, auth (session cookie or service token), wrk and loadgen
# runs, /proc readings. Core Perl modules only (plus spec/support/Gatehouse/Sim.pm for the simulator).

use strict;
use warnings;

use Carp qw(croak);
use Cwd qw(abs_path);
use Exporter 'import';
use File::Basename qw(dirname);
use File::Copy qw(copy);
use File::Path qw(make_path remove_tree);
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);

our @EXPORT = qw(ROOT say_step sh sh_out psql psql_value free_port json_decode json_encode
  machine_info proc_cpu_s proc_rss_kb proc_rss_parts_kb wrk_run parse_wrk loadgen_run);

my $ROOT = abs_path( dirname(__FILE__) . '/../..' );
sub ROOT { $ROOT }

my $JSON = JSON::PP->new->utf8->canonical->allow_nonref;
sub json_decode { $JSON->decode( $_[0] ) }
sub json_encode { $JSON->encode( $_[0] ) }

my $T0 = time;
sub say_step { printf STDERR "[bench %6.1fs] %s\n", time - $T0, join '', @_ }

# sh(@argv) → exit status; dies on a failure unless the last argument is {ok_fail => 1}
sub sh {
    my @argv = @_;
    my $o = ref $argv[-1] eq 'HASH' ? pop @argv : {};
    my $rc = system(@argv);
    croak "command failed ($rc): @argv" if $rc != 0 && !$o->{ok_fail};
    return $rc >> 8;
}

sub sh_out {
    my ($cmd) = @_;
    my $out = `$cmd`;
    croak "command failed: $cmd" if $? != 0;
    chomp $out;
    return $out;
}

sub free_port {
    my $s = IO::Socket::INET->new( LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1 ) or croak "no free port: $!";
    my $p = $s->sockport;
    close $s;
    return $p;
}

# ---- Postgres ------------------------------------------------------------------------------------

sub pg_bin { sh_out(q{printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1}) }

# psql($url, $sql) runs SQL (dies on error); psql_value returns the first column of the first row.
sub psql {
    my ( $url, $sql ) = @_;
    my $bin = pg_bin() . '/psql';
    open my $fh, '-|', $bin, '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', $url, '-c', $sql
      or croak "psql: $!";
    local $/;
    my $out = <$fh>;
    close $fh or croak "psql failed: $sql";
    chomp $out if defined $out;
    return $out // '';
}
sub psql_value { my $v = psql(@_); ( split /\n/, $v )[0] // '' }

# ---- /proc ---------------------------------------------------------------------------------------

my $CLK = POSIX::sysconf(POSIX::_SC_CLK_TCK()) || 100;

sub proc_cpu_s {    # user + system CPU seconds of a process
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/stat" or return undef;
    my $s = <$fh>;
    close $fh;
    $s =~ s/^.*\)\s+//;
    my @f = split ' ', $s;
    return ( $f[11] + $f[12] ) / $CLK;
}

sub proc_rss_kb {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/status" or return undef;
    while (<$fh>) { return $1 if /^VmRSS:\s+(\d+)/ }
    return undef;
}

# proc_rss_parts_kb($pid) -> (anonymous kB, file-backed kB) of the resident set, or () when unreadable
sub proc_rss_parts_kb {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/status" or return ();
    my %v;
    while (<$fh>) { $v{$1} = $2 if /^(RssAnon|RssFile|RssShmem):\s+(\d+)/ }
    return defined $v{RssAnon} ? ( $v{RssAnon}, ( $v{RssFile} // 0 ) + ( $v{RssShmem} // 0 ) ) : ();
}

sub machine_info {
    my %m;
    $m{nproc} = sh_out('nproc');
    ( $m{cpu} ) = sh_out(q{grep -m1 'model name' /proc/cpuinfo || true}) =~ /:\s*(.*)/;
    $m{cpu} //= 'unknown';
    ( $m{ram_mb} ) = sh_out(q{grep MemTotal /proc/meminfo}) =~ /(\d+)/;
    $m{ram_mb} = int( $m{ram_mb} / 1024 );
    $m{kernel}  = sh_out('uname -r');
    $m{pg}      = sh_out( pg_bin() . '/postgres --version' );
    $m{wrk}     = ( split /\n/, `wrk --version 2>&1` )[0] // 'wrk ?';
    $m{load}    = sh_out('cat /proc/loadavg');
    $m{date}    = sh_out('date -u +%Y-%m-%dT%H:%M:%SZ');
    $m{commit}  = eval { sh_out("git -C $ROOT rev-parse --short HEAD 2>/dev/null") } // '?';
    return \%m;
}

# ---- wrk and loadgen ---------------------------------------------------------------------------------

# Converts wrk's "1.23ms" / "850.00us" / "1.01s" into milliseconds.
sub _ms {
    my ($v) = @_;
    return undef unless defined $v && $v =~ /^([\d.]+)(us|ms|s|m)$/;
    return $1 / 1000 if $2 eq 'us';
    return $1 if $2 eq 'ms';
    return $1 * 1000 if $2 eq 's';
    return $1 * 60000;
}

sub parse_wrk {
    my ($out) = @_;
    my %r = ( raw => $out );
    ( $r{rps} )      = $out =~ /Requests\/sec:\s+([\d.]+)/;
    ( $r{requests} ) = $out =~ /(\d+) requests in/;
    ( $r{non2xx} )   = $out =~ /Non-2xx or 3xx responses:\s+(\d+)/;
    $r{non2xx} //= 0;
    $r{socket_errors} = 0;
    if ( $out =~ /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/ ) {
        $r{socket_errors} = $1 + $2 + $3 + $4;
    }
    for my $p (qw(50 75 90 99)) {
        my ($v) = $out =~ /^\s+$p%\s+(\S+)/m;
        $r{"p$p"} = _ms($v);
    }
    # custom lines printed by a wrk script's done(): "key value"
    while ( $out =~ /^bench\.(\w+)\s+(\S+)$/mg ) { $r{$1} = $2 }
    return \%r;
}

# wrk_run(url => ..., conns => 32, threads => 2, seconds => 10, headers => [...], script => file)
sub wrk_run {
    my (%o) = @_;
    my @argv = ( 'wrk', '-t', $o{threads} // 2, '-c', $o{conns} // 32, '-d', ( $o{seconds} // 10 ) . 's',
        '--latency', '--timeout', ( $o{timeout} // 5 ) . 's' );
    push @argv, '-H', $_ for @{ $o{headers} || [] };
    push @argv, '-s', $o{script} if $o{script};
    push @argv, $o{url};
    push @argv, '--', @{ $o{script_args} } if $o{script_args};
    open my $fh, '-|', @argv or croak "wrk: $!";
    local $/;
    my $out = <$fh>;
    close $fh;
    croak "wrk failed: @argv\n$out" if $? != 0;
    return parse_wrk($out);
}

sub loadgen_run {
    my (%o) = @_;
    my @argv = ( "$o{tools}/loadgen", '-p', $o{port}, '-m', $o{method} // 'GET', '-u', $o{path}, '-c', $o{conns} // 4,
        '-d', $o{seconds} // 10 );
    push @argv, '-H', $_ for @{ $o{headers} || [] };
    push @argv, '-b', $o{body_file} if $o{body_file};
    push @argv, '-n', $o{requests} if $o{requests};
    open my $fh, '-|', @argv or croak "loadgen: $!";
    my $line = <$fh>;
    close $fh;
    croak "loadgen failed: @argv" if $? != 0 || !$line;
    return $JSON->decode($line);
}

# ---------------------------------------------------------------------------------------------------
package BenchKit::Server;

# A gatehouse server for the bench: its own home (policy files + migrations, market hours forced open so
# every tick runs the whole pipeline), its own log, auth when the build has it.

use strict;
use warnings;
use Carp qw(croak);
use File::Path qw(make_path);
use HTTP::Tiny;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);

sub make_home {
    my ( $class, $dir ) = @_;
    my $root = BenchKit::ROOT();
    make_path("$dir/scripts/strategies");
    BenchKit::sh( 'cp', '-R', "$root/migrations", "$root/providers.lua", "$root/gates.lua", "$root/scripts", "$dir/" );
    return $dir;
}

# start(bin => ..., home => ..., db => url, env => {...}, log => file)
sub start {
    my ( $class, %o ) = @_;
    my $port = BenchKit::free_port();
    my %env = (
        %{ $o{env} || {} },
        GATEHOUSE_LISTEN => "127.0.0.1:$port",
        GATEHOUSE_HOME   => $o{home},
        DATABASE_URL     => $o{db},
    );
    my $pid = fork // croak "fork: $!";
    if ( !$pid ) {
        %ENV = ( PATH => $ENV{PATH}, HOME => $ENV{HOME} // '/tmp', %env );
        chdir $o{home};
        open STDIN,  '<',  '/dev/null';
        open STDOUT, '>>', $o{log};
        open STDERR, '>>', $o{log};
        exec $o{bin}, 'serve' or POSIX::_exit(127);
    }
    my $self = bless { pid => $pid, port => $port, url => "http://127.0.0.1:$port", log => $o{log}, env => \%env,
        http => HTTP::Tiny->new( timeout => 60, keep_alive => 1 ), headers => {}, t_start => time }, $class;
    my $deadline = time + ( $o{ready_timeout} // 300 );
    while (1) {
        croak "gatehouse exited during start-up; see $o{log}" if waitpid( $pid, WNOHANG ) == $pid;
        my $r = HTTP::Tiny->new( timeout => 1 )->get("$self->{url}/readyz");
        if ( $r->{status} == 200 ) {
            my $clock = eval { JSON::PP->new->decode( $r->{content} )->{clock} } || {};
            $self->{clock_offset_ms} = $clock->{offset_ms} // 0;    # a test clock (GATEHOUSE_TEST_CLOCK), else 0
            last;
        }
        croak "gatehouse not ready after $o{ready_timeout}s; see $o{log}" if time > $deadline;
        sleep 0.1;
    }
    $self->{ready_s} = time - $self->{t_start};
    $self->_auth;
    return $self;
}

# ms the server's clock runs ahead of the real time (its GATEHOUSE_TEST_CLOCK), 0 on the system clock
sub clock_offset_ms { $_[0]{clock_offset_ms} // 0 }

sub url  { $_[0]{url} }
sub port { $_[0]{port} }
sub pid  { $_[0]{pid} }

# Auth (issue 7): when the build serves /api/auth/register, register the bench admin (or log in when it
# exists) and keep the session cookie; every request then carries it, POSTs also Origin (CSRF rule).
sub _auth {
    my ($self) = @_;
    my %cred = ( username => 'bench-admin', password => 'bench-password-' . ( $ENV{USER} // 'x' ) . '-1234' );
    my $r = $self->raw( 'POST', '/api/auth/register', \%cred );
    if ( $r->{status} == 404 || $r->{status} == 405 ) {
        $self->{auth} = 'none (this build has no /api/auth routes)';
        return;
    }
    $r = $self->raw( 'POST', '/api/auth/login', \%cred ) if $r->{status} != 201;
    my $sc = $r->{headers}{'set-cookie'} // '';
    $sc = join ';', @$sc if ref $sc;
    my ($cookie) = $sc =~ /((?:__Host-)?gh_session=[^;]+)/;
    croak "bench: cannot log in to gatehouse ($r->{status}): $r->{content}" unless $cookie;
    $self->{cookie} = $cookie;
    $self->{auth}   = 'session cookie (registered/logged in as bench-admin)';
}

# Headers for wrk / loadgen: the session cookie when there is one.
sub auth_headers {
    my ( $self, $post ) = @_;
    my @h;
    push @h, "Cookie: $self->{cookie}" if $self->{cookie};
    push @h, "Origin: $self->{url}" if $post && $self->{cookie};
    return @h;
}

sub raw {
    my ( $self, $method, $path, $body, $extra ) = @_;
    my %h = ( Origin => $self->{url}, %{ $extra || {} } );
    $h{Cookie} = $self->{cookie} if $self->{cookie};
    my %args = ( headers => \%h );
    if ( defined $body ) {
        $args{content} = ref $body ? BenchKit::json_encode($body) : $body;
        $h{'Content-Type'} = 'application/json';
    }
    my $r = $self->{http}->request( $method, $self->{url} . $path, \%args );
    $r->{json} = eval { BenchKit::json_decode( $r->{content} ) } if ( $r->{content} // '' ) =~ /^\s*[\{\[]/;
    return $r;
}
sub get  { $_[0]->raw( 'GET',  $_[1] ) }
sub post { $_[0]->raw( 'POST', $_[1], $_[2] // {}, $_[3] ) }

sub metric {    # a gauge or counter value from /metrics (sum over label sets)
    my ( $self, $name ) = @_;
    my $r = $self->{http}->get("$self->{url}/metrics");
    my $sum = 0;
    $sum += $1 while $r->{content} =~ /^\Q$name\E(?:\{[^}]*\})?\s+([\d.eE+-]+)$/mg;
    return $sum;
}

sub stop {
    my ($self) = @_;
    return unless $self->{pid};
    kill 'TERM', $self->{pid};
    my $deadline = time + 30;
    while ( waitpid( $self->{pid}, WNOHANG ) == 0 ) {
        if ( time > $deadline ) { kill 'KILL', $self->{pid}; waitpid( $self->{pid}, 0 ); last }
        sleep 0.05;
    }
    $self->{pid} = undef;
}

sub DESTROY { $_[0]->stop if $_[0]{pid} }

1;
