package Gatehouse::Sim;

# Gatehouse::Sim — the provider simulator (spec/support/sim/sim.js) from the Perl specs.
#
#   use lib 'spec/support';
#   use Gatehouse::Test;
#   use Gatehouse::Sim;
#   my $sim = start_sim();                         # node sim.js on OS-chosen ports; stopped at END
#   my $srv = start_server(env => scalar $sim->base_env(invalid => ['polygon']));
#   $sim->fault(provider => 'databento', mode => 'status', status => 503, count => 1);
#   my $reqs = $sim->requests('databento');       # what gatehouse sent (holds the credentials!)
#
# base_env points EVERY provider at the simulator (all *_BASE_URL, REDIS_URL, DISCORD_WEBHOOK_URL) and sets a
# valid credential for every required variable. The simulator's rule: a credential is valid unless it contains
# "invalid". Core Perl modules only.
#
# Gatehouse::Sim::Async (below) sends several HTTP requests at once and collects their answers with the time
# each took — for concurrency checks (verify fan-out, /healthz during hung probes).

use strict;
use warnings;

use Carp qw(croak);
use Cwd qw(abs_path);
use Exporter 'import';
use File::Basename qw(dirname);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use JSON::PP;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);

our @EXPORT    = qw(start_sim %SIM_PROVIDERS @SIM_PROVIDER_IDS);
our @EXPORT_OK = qw(http_parallel);

my $ROOT = abs_path( dirname(__FILE__) . '/../../..' );
my $SIM_JS = "$ROOT/spec/support/sim/sim.js";
my $JSON = JSON::PP->new->utf8->canonical->allow_nonref;
my $KEEP = $ENV{GH_KEEP_TMP} ? 1 : 0;
my $TMP  = tempdir( 'gh-sim-XXXXXX', TMPDIR => 1, CLEANUP => !$KEEP );

# id => { vars => required variables, base_env => its *_BASE_URL, prefix => path of its base URL on the sim }
# (the prefix mirrors the path part of default_base_url in providers.lua: /v1 for openai and xai, /api/v1 for
# openrouter).
our %SIM_PROVIDERS = (
    databento      => { vars => ['DATABENTO_API_KEY'],      base_env => 'DATABENTO_BASE_URL',      prefix => '/databento' },
    polygon        => { vars => ['POLYGON_API_KEY'],        base_env => 'POLYGON_BASE_URL',        prefix => '/polygon' },
    finnhub        => { vars => ['FINNHUB_API_KEY'],        base_env => 'FINNHUB_BASE_URL',        prefix => '/finnhub' },
    alphavantage   => { vars => ['ALPHAVANTAGE_API_KEY'],   base_env => 'ALPHAVANTAGE_BASE_URL',   prefix => '/alphavantage' },
    fmp            => { vars => ['FMP_API_KEY'],            base_env => 'FMP_BASE_URL',            prefix => '/fmp' },
    fred           => { vars => ['FRED_API_KEY'],           base_env => 'FRED_BASE_URL',           prefix => '/fred' },
    ironbeam       => { vars => [qw(IRONBEAM_USERNAME IRONBEAM_PASSWORD IRONBEAM_API_KEY)], base_env => 'IRONBEAM_BASE_URL', prefix => '/ironbeam' },
    tradovate      => { vars => [qw(TRADOVATE_USERNAME TRADOVATE_PASSWORD TRADOVATE_APP_ID TRADOVATE_CID TRADOVATE_SECRET)],
                        base_env => 'TRADOVATE_BASE_URL', prefix => '/tradovate' },
    openai         => { vars => ['OPENAI_API_KEY'],         base_env => 'OPENAI_BASE_URL',         prefix => '/openai/v1' },
    anthropic      => { vars => ['ANTHROPIC_API_KEY'],      base_env => 'ANTHROPIC_BASE_URL',      prefix => '/anthropic' },
    google_gemini  => { vars => ['GEMINI_API_KEY'],         base_env => 'GEMINI_BASE_URL',         prefix => '/google_gemini' },
    groq           => { vars => ['GROQ_API_KEY'],           base_env => 'GROQ_BASE_URL',           prefix => '/groq' },
    xai            => { vars => ['XAI_API_KEY'],            base_env => 'XAI_BASE_URL',            prefix => '/xai/v1' },
    openrouter     => { vars => ['OPENROUTER_API_KEY'],     base_env => 'OPENROUTER_BASE_URL',     prefix => '/openrouter/api/v1' },
    unusual_whales => { vars => ['UNUSUAL_WHALES_API_KEY'], base_env => 'UNUSUAL_WHALES_BASE_URL', prefix => '/unusual_whales' },
    redis          => { vars => ['REDIS_URL'] },
    discord        => { vars => ['DISCORD_WEBHOOK_URL'] },
);
our @SIM_PROVIDER_IDS = qw(databento polygon finnhub alphavantage fmp fred ironbeam tradovate openai anthropic
  google_gemini groq xai openrouter unusual_whales redis discord);

my @SIMS;

# start_sim(%opt) → Gatehouse::Sim
#   redis_requirepass => 1   PING without AUTH answers -NOAUTH
#   args => [...]            more sim.js arguments
#   quiet => 1               no request log on the sim's stderr
#   now => '2026-12-08T15:00:00Z'   the instant the simulator's markets live at (it runs on from there); a server
#                            started with clock => … sets the simulators its env points at to its own clock
sub start_sim {
    my (%o) = @_;
    my $node = $ENV{GH_NODE} || 'node';
    my $n    = scalar(@SIMS) + 1;
    my ( $out, $err ) = ( "$TMP/sim$n.out", "$TMP/sim$n.err" );
    my @argv = ( $node, $SIM_JS, '--parent-pid', $$, ( $o{redis_requirepass} ? '--redis-requirepass' : () ),
        ( $o{quiet} ? '--quiet' : () ), ( defined $o{now} ? ( '--now', $o{now} ) : () ), @{ $o{args} || [] } );
    my $pid = fork;
    croak "fork: $!" unless defined $pid;
    if ( $pid == 0 ) {
        open STDIN,  '<',  '/dev/null' or POSIX::_exit(127);
        open STDOUT, '>',  $out        or POSIX::_exit(127);
        open STDERR, '>',  $err        or POSIX::_exit(127);
        $SIG{PIPE} = 'DEFAULT';
        exec {$node} @argv or do { print STDERR "exec $node: $!\n"; POSIX::_exit(127) };
    }
    my $self = bless { pid => $pid, out => $out, err => $err, argv => \@argv }, __PACKAGE__;
    push @SIMS, $self;
    my $deadline = time + 15;
    while (1) {
        if ( -s $out ) {
            open my $fh, '<', $out or croak "read $out: $!";
            my $line = <$fh>;
            close $fh;
            if ( defined $line && $line =~ /\n\z/ ) {
                my $ports = eval { $JSON->decode($line) };
                croak "sim.js printed an unexpected first line: $line" unless ref $ports eq 'HASH' && $ports->{http_port};
                $self->{http_port}  = $ports->{http_port};
                $self->{redis_port} = $ports->{redis_port};
                last;
            }
        }
        my $r = waitpid( $pid, WNOHANG );
        if ( $r == $pid ) {
            $self->{exit_code} = $?;
            croak "sim.js exited before listening (status $?): " . $self->log_text;
        }
        if ( time > $deadline ) {
            kill 'KILL', $pid;
            waitpid( $pid, 0 );
            $self->{exit_code} = 137;
            croak "sim.js did not print its ports within 15 s: " . $self->log_text;
        }
        sleep 0.02;
    }
    $self->{url}  = "http://127.0.0.1:$self->{http_port}";
    $self->{http} = HTTP::Tiny->new( timeout => 10, keep_alive => 0, agent => 'gatehouse-sim-client/1' );
    return $self;
}

sub http_port  { $_[0]{http_port} }
sub redis_port { $_[0]{redis_port} }
sub url        { $_[0]{url} }
sub pid        { $_[0]{pid} }

sub log_text {
    my ($self) = @_;
    return '' unless -f $self->{err};
    open my $fh, '<:raw', $self->{err} or return '';
    local $/;
    my $s = <$fh>;
    return $s // '';
}

# base_url($id) → the base URL gatehouse should use for a provider (its *_BASE_URL value).
sub base_url {
    my ( $self, $id ) = @_;
    my $p = $SIM_PROVIDERS{$id} or croak "unknown provider $id";
    croak "$id has no base URL variable" unless $p->{prefix};
    return $self->{url} . $p->{prefix};
}

# credential($var, %opt) → the value base_env gives a variable (valid unless invalid => 1).
sub credential {
    my ( $self, $var, %o ) = @_;
    $self->{tag} //= sprintf '%06x', int rand 0xffffff;
    my $tag = $o{tag} // $self->{tag};
    if ( $var eq 'TRADOVATE_CID' ) {    # a number (number_fields), so never "invalid"; 8 digits, unique per simulator
        return $self->{cid}{ $o{invalid} ? 1 : 0 } //= 10_000_000 + int rand 89_999_999;
    }
    ( my $lc = lc $var ) =~ s/_/-/g;
    return ( $o{invalid} ? "sim-invalid-$tag-" : "sim-$tag-" ) . $lc;
}

# base_env(%opt) → env hash (hashref in scalar context) pointing every provider at this simulator.
#   invalid   => [ids]        those providers get credentials containing "invalid"
#   omit      => [vars]       leave these variables out (e.g. to make a provider unconfigured)
#   only      => [ids]        set credentials for these providers only (base URLs are always set)
#   values    => {VAR => v}   final overrides (undef = leave out)
#   tag       => 'abc'        put this tag in every credential (default: one per simulator)
#   redis_user => 'default'   user name in REDIS_URL (default none: redis://:pw@host:port/0)
#   webhook_id => '123'       Discord webhook id in the URL
sub base_env {
    my ( $self, %o ) = @_;
    my %bad  = map { $_ => 1 } @{ $o{invalid} || [] };
    my %only = map { $_ => 1 } @{ $o{only} || [] };
    my %env;
    for my $id (@SIM_PROVIDER_IDS) {
        my $p = $SIM_PROVIDERS{$id};
        $env{ $p->{base_env} } = $self->base_url($id) if $p->{base_env};
        next if $o{only} && !$only{$id};
        my %c = ( tag => $o{tag}, invalid => $bad{$id} );
        if ( $id eq 'redis' ) {
            my $pw = $self->credential( 'REDIS_PASSWORD', %c );
            my $user = defined $o{redis_user} ? $o{redis_user} : '';
            $env{REDIS_URL} = "redis://$user:$pw\@127.0.0.1:$self->{redis_port}/0";
        }
        elsif ( $id eq 'discord' ) {
            my $tok = $self->credential( 'DISCORD_WEBHOOK_TOKEN', %c );
            $env{DISCORD_WEBHOOK_URL} = "$self->{url}/discord/api/webhooks/" . ( $o{webhook_id} // '123' ) . "/$tok";
        }
        else {
            $env{$_} = $self->credential( $_, %c ) for @{ $p->{vars} };
        }
    }
    delete $env{$_} for @{ $o{omit} || [] };
    for my $k ( keys %{ $o{values} || {} } ) {
        if ( defined $o{values}{$k} ) { $env{$k} = $o{values}{$k} }
        else                          { delete $env{$k} }
    }
    return wantarray ? %env : \%env;
}

# ---- control API ----------------------------------------------------------------------------

sub _call {
    my ( $self, $method, $path, $body ) = @_;
    my %args = ( headers => { 'Content-Type' => 'application/json' } );
    $args{content} = $JSON->encode($body) if defined $body;
    my $r = $self->{http}->request( $method, $self->{url} . $path, \%args );
    croak "sim $method $path: HTTP $r->{status} $r->{content}" unless $r->{success};
    return $JSON->decode( $r->{content} );
}

sub _qs {
    my ($provider) = @_;
    return defined $provider ? "?provider=$provider" : '';
}

# fault(provider => 'databento', mode => 'status', status => 503, delay_ms => .., count => .., variant => ..,
#       path => 'substring', method => 'GET') → list of fault ids. faults([{...}, {...}]) adds several at once.
sub fault {
    my ( $self, %spec ) = @_;
    for my $k (qw(status delay_ms count)) { $spec{$k} += 0 if defined $spec{$k} }
    return @{ $self->_call( 'POST', '/__sim/faults', \%spec )->{ids} };
}

sub faults {
    my ( $self, $list ) = @_;
    my @l = map { my %s = %$_; for my $k (qw(status delay_ms count)) { $s{$k} += 0 if defined $s{$k} } \%s } @$list;
    return @{ $self->_call( 'POST', '/__sim/faults', \@l )->{ids} };
}

sub list_faults   { $_[0]->_call( 'GET', '/__sim/faults' )->{faults} }
sub clear_faults  { my ( $self, $p ) = @_; $self->_call( 'DELETE', '/__sim/faults' . _qs($p) ); 1 }
sub requests      { my ( $self, $p ) = @_; $self->_call( 'GET', '/__sim/requests' . _qs($p) )->{requests} }
sub clear_requests { my ( $self, $p ) = @_; $self->_call( 'DELETE', '/__sim/requests' . _qs($p) ); 1 }
sub config        { my ( $self, %c ) = @_; $self->_call( %c ? 'POST' : 'GET', '/__sim/config', %c ? \%c : undef )->{config} }
sub reset         { $_[0]->_call( 'POST', '/__sim/reset' ); 1 }

# set_clock($offset_ms) → the simulator's clock runs $offset_ms ahead of the real time (the server's test clock).
sub set_clock { my ( $self, $ms ) = @_; $self->_call( 'POST', '/__sim/config', { clock_offset_ms => $ms + 0 } ); 1 }

# clock → { now => ISO, offset_ms => n }
sub clock { $_[0]->_call( 'GET', '/__sim/config' )->{clock} }

# set_clock_for_env(\%env, $offset_ms): every running simulator of this process that env points at (a value
# naming its URL or its Redis port) lives at the server's clock.
sub set_clock_for_env {
    my ( $env, $ms ) = @_;
    my @values = grep { defined } values %$env;
    for my $sim ( grep { $_->alive } @SIMS ) {
        my $redis = $sim->{redis_port} ? ":$sim->{redis_port}" : undef;
        $sim->set_clock($ms) if grep { index( $_, $sim->{url} ) >= 0 || ( $redis && /\Q$redis\E(?:\/|$)/ ) } @values;
    }
    return 1;
}

# get($path_or_url, \%headers) / post(...) → { status, headers, content, json } straight to the simulator.
sub request {
    my ( $self, $method, $path, %o ) = @_;
    my $url = $path =~ m{^https?://} ? $path : $self->{url} . $path;
    my %args = ( headers => $o{headers} || {} );
    if ( defined $o{body} ) {
        $args{content} = ref $o{body} ? $JSON->encode( $o{body} ) : $o{body};
        $args{headers}{'Content-Type'} //= 'application/json';
    }
    my $r = $self->{http}->request( $method, $url, \%args );
    my $j = eval { $JSON->decode( $r->{content} ) };
    return { status => $r->{status}, headers => $r->{headers} || {}, content => $r->{content} // '', json => $j };
}
sub get  { my ( $self, $p, $h ) = @_; $self->request( 'GET', $p, headers => $h ) }
sub post { my ( $self, $p, $b, $h ) = @_; $self->request( 'POST', $p, headers => $h, body => $b ) }

# stop() — SIGTERM, wait up to 5 s (then SIGKILL). Returns the exit status.
sub stop {
    my ($self) = @_;
    return $self->{exit_code} if defined $self->{exit_code};
    kill 'TERM', $self->{pid};
    my $deadline = time + 5;
    while ( time < $deadline ) {
        my $r = waitpid( $self->{pid}, WNOHANG );
        if ( $r == $self->{pid} || $r < 0 ) { return $self->{exit_code} = $? >> 8 }
        sleep 0.02;
    }
    kill 'KILL', $self->{pid};
    waitpid( $self->{pid}, 0 );
    return $self->{exit_code} = 137;
}

sub alive {
    my ($self) = @_;
    return 0 if defined $self->{exit_code};
    my $r = waitpid( $self->{pid}, WNOHANG );
    if ( $r == $self->{pid} ) { $self->{exit_code} = $? >> 8; return 0 }
    return 1;
}

END {
    my $status = $?;
    for my $s (@SIMS) { eval { $s->stop } }
    $? = $status;
}

# http_parallel(\@requests, %opt) → the same list, each request hash filled with
#   status, headers, content, json, elapsed (s), error
# Each request: { url => ..., method => 'POST', body => $string_or_ref, headers => {...} }.
# opt: timeout (s, default 30), tick => sub { ... } called every tick_every seconds (default 0.2) while waiting.
sub http_parallel {
    my ( $reqs, %o ) = @_;
    my $pool = Gatehouse::Sim::Async->new;
    $pool->add($_) for @$reqs;    # filled in place
    $pool->run(%o);
    return $pool->requests;
}

# ---------------------------------------------------------------------------------------------

package Gatehouse::Sim::Async;

# A tiny non-blocking HTTP/1.1 client over IO::Select: every request gets its own connection
# (Connection: close), answers are read until EOF, chunked bodies are decoded.
use strict;
use warnings;
use Carp qw(croak);
use Errno qw(EAGAIN EWOULDBLOCK EINTR);
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use Time::HiRes qw(time sleep);

my $AJSON = JSON::PP->new->utf8->canonical->allow_nonref;

sub new { bless { reqs => [], sel => IO::Select->new }, shift }

sub requests { $_[0]{reqs} }

# add(url => .., method => .., body => .., headers => {..}) or add(\%req) → the request hash (filled in by run).
sub add {
    my $self = shift;
    my $req = @_ == 1 && ref $_[0] eq 'HASH' ? $_[0] : {@_};    # a hashref is filled in place
    $req->{method} //= 'GET';
    my ( $host, $port, $path ) = $req->{url} =~ m{^http://([^/:]+):(\d+)(/.*)?$} or croak "bad url $req->{url}";
    $path //= '/';
    my $body = $req->{body};
    $body = $AJSON->encode($body) if ref $body;
    my %h = ( Host => "$host:$port", Connection => 'close', 'User-Agent' => 'gatehouse-e2e-async/1', %{ $req->{headers} || {} } );
    if ( defined $body ) {
        $h{'Content-Type'} //= 'application/json';
        $h{'Content-Length'} = length $body;
    }
    my $raw = "$req->{method} $path HTTP/1.1\r\n" . join( '', map {"$_: $h{$_}\r\n"} sort keys %h ) . "\r\n" . ( $body // '' );
    $req->{start} = time;
    my $sock = IO::Socket::INET->new( PeerAddr => $host, PeerPort => $port, Proto => 'tcp', Timeout => 5 );
    if ( !$sock ) {
        $req->{error} = "connect: $!";
        $req->{done}  = 1;
        $req->{elapsed} = time - $req->{start};
        push @{ $self->{reqs} }, $req;
        return $req;
    }
    binmode $sock;
    my $off = 0;
    while ( $off < length $raw ) {
        my $n = syswrite( $sock, $raw, length($raw) - $off, $off );
        if ( !defined $n ) { next if $! == EINTR; $req->{error} = "write: $!"; last }
        $off += $n;
    }
    $sock->blocking(0);
    $req->{_sock} = $sock;
    $req->{_buf}  = '';
    $self->{by_fd}{ fileno $sock } = $req;
    $self->{sel}->add($sock);
    push @{ $self->{reqs} }, $req;
    return $req;
}

sub pending { scalar grep { !$_->{done} } @{ $_[0]{reqs} } }

# run(timeout => s, tick => sub {}, tick_every => s, until => sub { 1 when done waiting })
sub run {
    my ( $self, %o ) = @_;
    my $deadline = time + ( $o{timeout} // 30 );
    my $every = $o{tick_every} // 0.2;
    my $next_tick = time + $every;
    while ( $self->pending ) {
        last if $o{until} && $o{until}->();
        my $now = time;
        if ( $now > $deadline ) {
            for my $r ( grep { !$_->{done} } @{ $self->{reqs} } ) { $self->_finish( $r, 'timeout waiting for the answer' ) }
            last;
        }
        my $wait = $deadline - $now;
        if ( $o{tick} ) { $wait = $next_tick - $now; $wait = 0 if $wait < 0 }
        $wait = 0.05 if $wait > 0.05 && !$o{tick};
        my @ready = $self->{sel}->can_read($wait);
        for my $fh (@ready) {
            my $r = $self->{by_fd}{ fileno $fh } or next;
            my $n = sysread( $fh, my $chunk, 65536 );
            if ( !defined $n ) {
                next if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
                $self->_finish( $r, "read: $!" );
            }
            elsif ( $n == 0 ) { $self->_finish($r) }
            else              { $r->{_buf} .= $chunk }
        }
        if ( $o{tick} && time >= $next_tick ) {
            $o{tick}->();
            $next_tick = time + $every;
        }
    }
    return $self->{reqs};
}

sub _finish {
    my ( $self, $r, $err ) = @_;
    return if $r->{done};
    $r->{elapsed} = time - $r->{start};
    $r->{done}    = 1;
    if ( my $s = delete $r->{_sock} ) {
        delete $self->{by_fd}{ fileno $s };
        $self->{sel}->remove($s);
        close $s;
    }
    my $buf = delete $r->{_buf} // '';
    if ( $buf =~ /\A(HTTP\/1\.[01]) (\d{3})[^\r\n]*\r\n(.*?)\r\n\r\n(.*)\z/s ) {
        my ( $st, $hdr, $body ) = ( $2, $3, $4 );
        my %h;
        for my $line ( split /\r\n/, $hdr ) {
            my ( $k, $v ) = $line =~ /^([^:]+):\s*(.*)$/ or next;
            $k = lc $k;
            $h{$k} = exists $h{$k} ? ( ref $h{$k} ? [ @{ $h{$k} }, $v ] : [ $h{$k}, $v ] ) : $v;
        }
        if ( ( $h{'transfer-encoding'} // '' ) =~ /chunked/i ) {
            my $out = '';
            while ( $body =~ s/\A([0-9a-fA-F]+)[^\r\n]*\r\n//s ) {
                my $len = hex $1;
                last if $len == 0;
                $out .= substr( $body, 0, $len );
                substr( $body, 0, $len + 2 ) = '';
            }
            $body = $out;
        }
        $r->{status}  = $st + 0;
        $r->{headers} = \%h;
        $r->{content} = $body;
        $r->{json}    = eval { $AJSON->decode($body) } if length $body && $body =~ /^\s*[\{\[]/;
    }
    else {
        $r->{status}  = 599;
        $r->{headers} = {};
        $r->{content} = $buf;
    }
    $r->{error} = $err if $err;
    $r->{status} = 599 if $err && !length $buf;
}

1;
