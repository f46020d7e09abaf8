# GET /metrics: the Prometheus text exposition (format 0.0.4, no JSON envelope). After some requests — a 404
# on random paths carrying a canary among them — and one verify against the simulator, the scrape counts
# requests by route PATTERN ("/healthz", "unmatched"; never the raw path), the provider call by provider,
# operation and outcome, with duration histograms (cumulative buckets, +Inf = _count); policy reloads (ok and
# error), the system status and autonomy gauges, the telemetry queue depth, build info and the process start
# time are there; every line is well formed; no secret, URL or raw path appears in any scrape.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;
use Gatehouse::Sim;
use JSON::PP ();
use Time::HiRes qw(time);

my $METRICS = '/metrics';
my $CTYPE   = 'text/plain; version=0.0.4; charset=utf-8';
my $T0      = time;

sub rnd { my @c = ( 'a' .. 'z', 0 .. 9 ); join '', map { $c[ rand @c ] } 1 .. $_[0] }
my $KEY_CANARY  = 'CANARY-metrics-' . rnd(24);    # valid by the simulator's rule (no "invalid" in it)
my $PATH_CANARY = 'pathcanary' . rnd(12);

# ---------------------------------------------------------------- the exposition checker
my $NAME   = qr/[a-zA-Z_:][a-zA-Z0-9_:]*/;
my $LNAME  = qr/[a-zA-Z_][a-zA-Z0-9_]*/;
my $LVAL   = qr/"(?:[^"\\\n]|\\[\\"n])*"/;
my $VALUE  = qr/(?:NaN|[+-]Inf|[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)/;
my $SAMPLE = qr/^($NAME)(\{(?:$LNAME=$LVAL(?:,$LNAME=$LVAL)*)?\})? ($VALUE)$/;

sub parse_labels {
    my ($s) = @_;
    my %l;
    return \%l unless defined $s;
    $s = substr( $s, 1, -1 );
    while ( $s =~ /\G($LNAME)=($LVAL)(?:,|$)/gc ) {
        my ( $k, $v ) = ( $1, substr( $2, 1, -1 ) );
        $v =~ s/\\(["\\n])/$1 eq 'n' ? "\n" : $1/ge;
        $l{$k} = $v;
    }
    return \%l;
}

sub label_key { my ($l) = @_; join ',', map {"$_=$l->{$_}"} sort keys %$l }

# parse_exposition($text) → { problems => [...], families => {name => {help, type}}, samples => [...] }
sub parse_exposition {
    my ($text) = @_;
    my ( @problems, @samples, %fam, %seen_series, %closed );
    my $last;
    push @problems, 'the text does not end in a newline' unless $text =~ /\n\z/;
    for my $line ( split /\n/, $text ) {
        next if $line eq '';
        if ( $line =~ /^# (HELP|TYPE) ($NAME)(?: (.*))?$/ ) {
            my ( $what, $name, $rest ) = ( $1, $2, $3 // '' );
            my $f = $fam{$name} //= {};
            push @problems, "$what after samples of $name" if $f->{samples};
            push @problems, "second $what for $name" if $f->{ lc $what }++;
            if ( $what eq 'TYPE' ) {
                push @problems, "unknown TYPE '$rest' for $name" unless $rest =~ /^(counter|gauge|histogram|summary|untyped)$/;
                $f->{type} = $rest;
            }
            else { $f->{help_text} = $rest }
            next;
        }
        if ( $line =~ /^#/ ) { next }
        my ( $name, $lab, $val ) = $line =~ $SAMPLE or do { push @problems, "malformed line: $line"; next };
        my $family = $name;
        if ( !$fam{$family} || !$fam{$family}{type} ) {
            ( my $base = $name ) =~ s/_(bucket|sum|count)$//;
            $family = $base if $fam{$base} && ( $fam{$base}{type} // '' ) eq 'histogram';
        }
        my $f = $fam{$family};
        push @problems, "sample without HELP and TYPE before it: $line" unless $f && $f->{help} && $f->{type};
        push @problems, "family $family is not one contiguous group" if $closed{$family};
        $closed{$last} = 1 if defined $last && $last ne $family;
        $last = $family;
        $f->{samples}++ if $f;
        my $labels = parse_labels($lab);
        my $key    = "$name\{" . label_key($labels) . '}';
        push @problems, "duplicate series $key" if $seen_series{$key}++;
        push @samples, { name => $name, family => $family, labels => $labels, value => $val, line => $line };
    }
    push @problems, histogram_problems( \%fam, \@samples );
    return { problems => \@problems, families => \%fam, samples => \@samples };
}

# buckets in increasing le, cumulative, ending in +Inf equal to _count; _sum present
sub histogram_problems {
    my ( $fam, $samples ) = @_;
    my ( @p, %h );
    for my $s (@$samples) {
        next unless ( $fam->{ $s->{family} }{type} // '' ) eq 'histogram';
        my %l  = %{ $s->{labels} };
        my $le = delete $l{le};
        my $g  = $h{ $s->{family} }{ label_key( \%l ) } //= { buckets => [] };
        if    ( $s->{name} eq "$s->{family}_bucket" ) { push @{ $g->{buckets} }, [ $le, $s->{value} ] }
        elsif ( $s->{name} eq "$s->{family}_sum" )    { $g->{sum}   = $s->{value} }
        elsif ( $s->{name} eq "$s->{family}_count" )  { $g->{count} = $s->{value} }
        else                                          { push @p, "odd histogram sample $s->{line}" }
    }
    for my $f ( sort keys %h ) {
        for my $k ( sort keys %{ $h{$f} } ) {
            my $g = $h{$f}{$k};
            my @b = @{ $g->{buckets} };
            if ( !@b ) { push @p, "$f\{$k}: no buckets"; next }
            push @p, "$f\{$k}: last bucket is not le=\"+Inf\"" unless ( $b[-1][0] // '' ) eq '+Inf';
            push @p, "$f\{$k}: no _sum"   unless defined $g->{sum};
            push @p, "$f\{$k}: +Inf bucket != _count" unless defined $g->{count} && $b[-1][1] == $g->{count};
            for my $i ( 1 .. $#b ) {
                my ( $a, $c ) = ( $b[ $i - 1 ], $b[$i] );
                my $la = $a->[0] eq '+Inf' ? 9**9**9 : $a->[0];
                my $lc = $c->[0] eq '+Inf' ? 9**9**9 : $c->[0];
                push @p, "$f\{$k}: le not increasing at $c->[0]" unless $lc > $la;
                push @p, "$f\{$k}: buckets not cumulative at le=$c->[0]" unless $c->[1] >= $a->[1];
            }
        }
    }
    return @p;
}

# value($parsed, $name, %labels) → the value of the sample with exactly these labels, or undef
sub value {
    my ( $p, $name, %want ) = @_;
    my $wk = label_key( \%want );
    for my $s ( @{ $p->{samples} } ) {
        return $s->{value} if $s->{name} eq $name && label_key( $s->{labels} ) eq $wk;
    }
    return undef;
}

my @scrapes;    # every /metrics body, for the leak scan

sub scrape {
    my ($srv) = @_;
    my $r = $srv->get($METRICS);
    push @scrapes, $r;
    return ( $r, parse_exposition( $r->{content} ) );
}

# the checker itself must reject what it should
{
    my $bad = parse_exposition("# HELP a x\n# TYPE a counter\na{l=\"x} 1\n");
    ok( @{ $bad->{problems} }, 'checker: rejects an unterminated label value' );
    $bad = parse_exposition("# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n");
    ok( @{ $bad->{problems} }, 'checker: rejects non-cumulative buckets' );
    $bad = parse_exposition("# HELP a x\n# TYPE a gauge\na 1\n# HELP b x\n# TYPE b gauge\nb 1\na 2\n");
    ok( @{ $bad->{problems} }, 'checker: rejects a family split in two' );
    my $good = parse_exposition("# HELP h x\n# TYPE h histogram\nh_bucket{le=\"0.5\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3.5\nh_count 2\n");
    is_deeply( $good->{problems}, [], 'checker: accepts a well-formed histogram' );
}

# ---------------------------------------------------------------- a server with one canary-keyed provider
my $sim = Gatehouse::Sim::start_sim();
my $env = $sim->base_env( only => ['databento'], values => { DATABENTO_API_KEY => $KEY_CANARY } );
$env->{GATEHOUSE_BACKGROUND_VERIFY} = 0;    # only the verify this spec asks for: the count is exact
my $home = copy_home();
my $srv  = start_server( env => $env, home => $home );

# ---------------------------------------------------------------- traffic
$srv->get( $GH{healthz} ) for 1 .. 3;
my $st = $srv->get( $GH{status} );
is( $st->{status}, 200, 'integrations status: 200' );
my @bad_paths = map { "/zz-$PATH_CANARY-$_/x" } 1 .. 20;
my $nf = $srv->get( $bad_paths[0] . "?token=$PATH_CANARY" );
is( $nf->{status}, 404, 'a random path: 404' );
$srv->get($_) for @bad_paths[ 1 .. $#bad_paths ];
my $v = $srv->request( 'POST', $GH{verify}, { body => { provider_id => 'databento' }, timeout => 30 } );
is( $v->{status}, 200, 'verify databento: 200' ) or diag $v->{content};
is( ( $v->{json} || {} )->{reason_code}, 'OK', 'verify databento: OK against the simulator' );

# ---------------------------------------------------------------- the scrape
my ( $r, $p );
wait_for(
    sub {
        ( $r, $p ) = scrape($srv);
        defined value( $p, 'gatehouse_provider_calls_total', provider => 'databento', operation => 'verify', outcome => 'OK' );
    },
    10, 'the verify in /metrics'
);
is( $r->{status}, 200, 'GET /metrics: 200' );
is( $r->{headers}{'content-type'}, $CTYPE, "Content-Type: $CTYPE" );
unlike( $r->{content}, qr/\A\s*[\{\[]/, 'no JSON envelope' );
ok( length $r->{content} > 500, 'a non-trivial body (' . length( $r->{content} ) . ' bytes)' );
is_deeply( $p->{problems}, [], 'every line is well formed; HELP and TYPE once per family; histograms consistent' )
  or diag join "\n", @{ $p->{problems} };

my %TYPE = (
    gatehouse_http_requests_total            => 'counter',
    gatehouse_http_request_duration_seconds  => 'histogram',
    gatehouse_provider_calls_total           => 'counter',
    gatehouse_provider_call_duration_seconds => 'histogram',
    gatehouse_policy_reloads_total           => 'counter',
    gatehouse_system_status                  => 'gauge',
    gatehouse_autonomy_allowed               => 'gauge',
    gatehouse_build_info                     => 'gauge',
    gatehouse_process_start_time_seconds     => 'gauge',
    gatehouse_telemetry_queue_depth          => 'gauge',
    gatehouse_heap_in_use_bytes              => 'gauge',
    gatehouse_heap_kept_free_bytes           => 'gauge',
    gatehouse_resident_memory_bytes          => 'gauge',
    gatehouse_heap_trims                     => 'gauge',
);
for my $f ( sort keys %TYPE ) {
    is( $p->{families}{$f}{type}, $TYPE{$f}, "$f: TYPE $TYPE{$f}" );
}
ok( ( !grep { !/^gatehouse_/ } keys %{ $p->{families} } ), 'every family is prefixed gatehouse_' )
  or diag join ' ', grep { !/^gatehouse_/ } keys %{ $p->{families} };

# requests by route pattern
my $hz = value( $p, 'gatehouse_http_requests_total', route => '/healthz', method => 'GET', status => '200' );
ok( defined $hz && $hz >= 3, 'http_requests_total{route="/healthz",method="GET",status="200"} >= 3' ) or diag $hz // 'absent';
is( value( $p, 'gatehouse_http_requests_total', route => $GH{status}, method => 'GET', status => '200' ), 1,
    "http_requests_total for the pattern $GH{status}: 1" );
is( value( $p, 'gatehouse_http_requests_total', route => 'unmatched', method => 'GET', status => '404' ), scalar @bad_paths,
    'the 20 random paths count under route="unmatched", status 404' );
my @routes = map { $_->{labels}{route} } grep { $_->{name} eq 'gatehouse_http_requests_total' } @{ $p->{samples} };
ok( ( !grep { $_ ne 'unmatched' && $_ ne 'other' && !m{^/} } @routes ), 'every route label is a pattern, "unmatched" or "other"' )
  or diag join ' ', @routes;
ok( ( !grep {/zz-/} @routes ), 'no raw path became a route label' );
is( index( $r->{content}, $PATH_CANARY ), -1, 'the path canary (path and query) is nowhere in /metrics' );
my $hc = value( $p, 'gatehouse_http_request_duration_seconds_count', route => '/healthz', method => 'GET' );
ok( defined $hc && $hc >= 3, 'http_request_duration_seconds_count for /healthz >= 3' );
is( value( $p, 'gatehouse_http_request_duration_seconds_bucket', route => '/healthz', method => 'GET', le => '+Inf' ), $hc,
    '... and its +Inf bucket equals the count' );
ok( defined value( $p, 'gatehouse_http_request_duration_seconds_bucket', route => '/healthz', method => 'GET', le => '0.0005' ),
    '... with the fast-API buckets (le="0.0005")' );

# the provider call
is( value( $p, 'gatehouse_provider_calls_total', provider => 'databento', operation => 'verify', outcome => 'OK' ), 1,
    'provider_calls_total{provider="databento",operation="verify",outcome="OK"} 1' );
is( value( $p, 'gatehouse_provider_call_duration_seconds_count', provider => 'databento', operation => 'verify' ), 1,
    'provider_call_duration_seconds_count{databento,verify} 1' );
is( value( $p, 'gatehouse_provider_call_duration_seconds_bucket', provider => 'databento', operation => 'verify', le => '10' ), 1,
    '... le="10" bucket holds the call' );
my $sum = value( $p, 'gatehouse_provider_call_duration_seconds_sum', provider => 'databento', operation => 'verify' );
ok( defined $sum && $sum >= 0 && $sum < 30, '... _sum in seconds (' . ( $sum // 'absent' ) . ')' );

# status, policy, build, start time, gauges
my $ss = value( $p, 'gatehouse_system_status' );
ok( defined $ss && $ss =~ /^[012]$/, 'gatehouse_system_status is 0, 1 or 2 (' . ( $ss // 'absent' ) . ')' );
like( $p->{families}{gatehouse_system_status}{help_text} // '', qr/0\b.*OK.*1\b.*DEGRADED.*2\b.*BLOCKED/, 'its HELP explains 0/1/2' );
like( value( $p, 'gatehouse_autonomy_allowed' ) // '', qr/^[01]$/, 'gatehouse_autonomy_allowed is 0 or 1' );
my $ok0 = value( $p, 'gatehouse_policy_reloads_total', result => 'ok' );
ok( defined $ok0 && $ok0 >= 1, 'policy_reloads_total{result="ok"} counts the start-up load' );
ok( defined value( $p, 'gatehouse_policy_reloads_total', result => 'error' ), 'policy_reloads_total{result="error"} is present' );
my ($bi) = grep { $_->{name} eq 'gatehouse_build_info' } @{ $p->{samples} };
ok( $bi && $bi->{value} == 1 && length( $bi->{labels}{version} // '' ), 'build_info{version="..."} 1' );
my $pst = value( $p, 'gatehouse_process_start_time_seconds' );
ok( defined $pst && $pst >= $T0 - 5 && $pst <= time + 5, 'process_start_time_seconds is when this server started' )
  or diag 'start ' . ( $pst // 'absent' ) . ", spec began $T0";
my $qd = value( $p, 'gatehouse_telemetry_queue_depth' );
ok( defined $qd && $qd >= 0, 'gatehouse_telemetry_queue_depth (' . ( $qd // 'absent' ) . ')' );

# memory: the resident set as /proc sees it, and glibc's heap figures
my $rss = value( $p, 'gatehouse_resident_memory_bytes' );
use POSIX ();
my ($statm) = do { open my $fh, '<', "/proc/" . $srv->pid . "/statm" or die $!; local $/; <$fh> } =~ /^\d+\s+(\d+)/;
my $rss_now = $statm * POSIX::sysconf( POSIX::_SC_PAGESIZE() );
ok( defined $rss && $rss > 1_000_000 && abs( $rss - $rss_now ) < 0.5 * $rss_now,
    "gatehouse_resident_memory_bytes (" . ( $rss // 'absent' ) . ") is the server's resident set ($rss_now in /proc)" );
my ( $inuse, $kept ) = ( value( $p, 'gatehouse_heap_in_use_bytes' ), value( $p, 'gatehouse_heap_kept_free_bytes' ) );
# a sanitizer's allocator (make asan: GATEHOUSE_BIN under build/asan) keeps its own heap: glibc's figures say little there
my $sanitized = ( $ENV{GATEHOUSE_BIN} // '' ) =~ m{/asan/};
ok( defined $inuse && defined $kept && $kept >= 0 && ( $sanitized ? $inuse >= 0 : $inuse > 100_000 && $inuse <= $rss_now ),
    "heap in use ($inuse) is within the resident set, kept free $kept" );
like( value( $p, 'gatehouse_heap_trims' ) // '', qr/^\d+$/, 'gatehouse_heap_trims counts the trims' );

# the scrape itself is counted (by the next scrape) under its pattern
my ( undef, $p2 ) = scrape($srv);
ok( value( $p2, 'gatehouse_http_requests_total', route => $METRICS, method => 'GET', status => '200' ), '/metrics counts itself' );
is_deeply( $p2->{problems}, [], 'second scrape well formed' );

# ---------------------------------------------------------------- policy reloads: ok and error
my $ok1 = value( $p2, 'gatehouse_policy_reloads_total', result => 'ok' );
my $er1 = value( $p2, 'gatehouse_policy_reloads_total', result => 'error' );
is( $srv->post( $GH{policy_reload}, { reason => 'spec 19' } )->{status}, 200, 'POST reload: 200' );
ok( wait_for( sub { value( ( scrape($srv) )[1], 'gatehouse_policy_reloads_total', result => 'ok' ) >= $ok1 + 1 }, 5, 'ok reload counted' ),
    'a successful reload increments result="ok"' );
my $good_policy = read_file("$home/$GH{providers_file}");
write_file( "$home/$GH{providers_file}", "return {  -- broken by spec 19\n" );
$srv->post( $GH{policy_reload}, { reason => 'spec 19 broken' } );
ok( wait_for( sub { value( ( scrape($srv) )[1], 'gatehouse_policy_reloads_total', result => 'error' ) >= $er1 + 1 }, 5, 'failed reload counted' ),
    'a failed reload increments result="error"' );
write_file( "$home/$GH{providers_file}", $good_policy );
$srv->post( $GH{policy_reload}, { reason => 'spec 19 restored' } );

# ---------------------------------------------------------------- nothing secret, no URL, in any scrape
ok( scalar find_leaks( JSON::PP->new->canonical->encode( $sim->requests('databento') ), [$KEY_CANARY], 'sim' ),
    'control: the simulator received the key canary (the scanner finds it there)' );
my @leaks;
my $i = 0;
for my $s (@scrapes) {
    $i++;
    my $headers = join "\n", map { my $k = $_; map {"$k: $_"} ref $s->{headers}{$k} ? @{ $s->{headers}{$k} } : $s->{headers}{$k} } keys %{ $s->{headers} };
    push @leaks, find_leaks( $s->{content}, [ $KEY_CANARY, $PATH_CANARY ], "scrape $i body" );
    push @leaks, find_leaks( $headers, [$KEY_CANARY], "scrape $i headers" );
    push @leaks, "scrape $i: a URL" if $s->{content} =~ m{://};
    push @leaks, "scrape $i: the simulator's address" if index( $s->{content}, '127.0.0.1:' . $sim->http_port ) >= 0;
}
ok( $i >= 4, "scanned $i scrapes" );
is_deeply( \@leaks, [], 'no key canary, path canary or URL in any scrape' ) or diag join "\n", @leaks;
is_deeply( [ map { @{ parse_exposition( $_->{content} )->{problems} } } @scrapes ], [], 'every scrape well formed' );

is( $srv->stop, 0, 'SIGTERM: exit status 0' );
done_testing;
