# POST /api/integrations/verify against the provider simulator (spec/support/sim/sim.js), for each of the
# 17 providers: a valid credential → OK, an invalid one → AUTH_FAILED, plan refusal → NOT_ENTITLED, 429 →
# RATE_LIMITED, a hung provider → TIMEOUT within its budget while /healthz keeps answering, 503 and
# malformed bodies → PROVIDER_ERROR, Alpha Vantage's HTTP 200 + "Error Message" → AUTH_FAILED, a Tradovate
# lock-out is never retried, a Discord verify never POSTs, Databento gets Basic auth with an empty password.
# Then the status views (verified / connected / state / status / last_verified_at / error codes), the rows
# every verify writes, the events endpoint, verify-all concurrency and the 404 / 409 / 400 errors.
#
# One server (and one simulator) per group of checks; the groups' probes run concurrently where they can.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;
use Gatehouse::Sim qw(:DEFAULT http_parallel);
use MIME::Base64 qw(encode_base64);
use File::Temp ();
use JSON::PP ();
use POSIX ();
use Time::HiRes qw(time sleep);

my $VERIFY = $GH{verify};
my $BACKGROUND = 'GATEHOUSE_BACKGROUND_VERIFY';    # 0 = no background re-verification (deterministic counts)
my @IDS  = @SIM_PROVIDER_IDS;
my @HTTP = grep { $_ ne 'redis' } @IDS;
my $T0   = time;

# verify.timeout_ms of each provider, read from providers.lua
my $POLICY = read_file( repo_root() . "/$GH{providers_file}" );
my %TIMEOUT_MS = map {
    my $e = provider_entry( $POLICY, $_ );
    $e =~ /\btimeout_ms\s*=\s*(\d+)/ or die "no verify.timeout_ms for $_";
    ( $_ => $1 )
} @IDS;
ok( ( !grep { $TIMEOUT_MS{$_} > 10_000 } @IDS ), 'every verify.timeout_ms is at most 10 s' );

my $TMPDIR = File::Temp::tempdir( 'gh-verify-XXXXXX', TMPDIR => 1, CLEANUP => 1 );
sub tempdir_file { "$TMPDIR/$_[0]" }

sub rfc3339 { defined $_[0] && $_[0] =~ /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/ }

# ---------------------------------------------------------------- simulators and servers (started together)
my %sim = map { $_ => start_sim( redis_requirepass => 1, quiet => 1 ) } qw(ok bad fault hang bg);
my $quiet = { $BACKGROUND => 0, GATEHOUSE_ALERTS => 0 };
my %srv;
$srv{ok}    = start_server( wait => 0, env => { %{ $sim{ok}->base_env },                      %$quiet } );
$srv{bad}   = start_server( wait => 0, env => { %{ $sim{bad}->base_env( invalid => \@IDS ) }, %$quiet } );
$srv{fault} = start_server( wait => 0, env => { %{ $sim{fault}->base_env },                   %$quiet } );
$srv{hang}  = start_server( wait => 0, env => { %{ $sim{hang}->base_env },                    %$quiet } );
$srv{empty} = start_server( wait => 0, env => { IRONBEAM_USERNAME => 'trader-one', %$quiet } );
# background re-verification ON, only Tradovate configured, and it answers with a lock-out from the start
$sim{bg}->fault( provider => 'tradovate', mode => 'error200', variant => 'lockout' );
$srv{bg} = start_server( wait => 0, env => scalar $sim{bg}->base_env( only => ['tradovate'] ) );
$_->wait_healthy for values %srv;
pass( sprintf 'six servers and five simulators up in %.1f s', time - $T0 );

my %done;    # server name → completed verifies (each must leave a row in three tables)

# verify_each($name, \@ids) → { id => answer } — one POST per provider to server $name, all at once
sub verify_each {
    my ( $k, $ids, %o ) = @_;
    my @reqs = map { { url => $srv{$k}->url . $VERIFY, method => 'POST', body => { provider_id => $_ }, id => $_,
                       headers => $srv{$k}->auth_headers } } @$ids;
    http_parallel( \@reqs, timeout => $o{timeout} // 30, ( $o{tick} ? ( tick => $o{tick}, tick_every => 0.25 ) : () ) );
    $done{$k} += grep { ( $_->{status} // 0 ) == 200 } @reqs;
    return { map { $_->{id} => $_ } @reqs };
}

# vpost($name, \%body) → the answer of one verify request
sub vpost {
    my ( $k, $body ) = @_;
    my $r = $srv{$k}->post( $VERIFY, $body );
    $done{$k}++ if $r->{status} == 200;
    return $r;
}

# result_ok($answer, $id, $code, $desc) — a completed probe: 200 and the documented fields
sub result_ok {
    my ( $r, $id, $code, $desc ) = @_;
    my $j = $r->{json} || {};
    my $ok = is( $r->{status}, 200, "$desc: HTTP 200" );
    $ok &&= is( $j->{reason_code}, $code, "$desc: reason_code $code" )
      or diag( "reason_human: " . ( $j->{reason_human} // '' ) . "\nbody: " . substr( $r->{content} // '', 0, 400 ) );
    return $ok unless $r->{status} == 200;
    ok( JSON::PP::is_bool( $j->{success} ) && ( $j->{success} ? 1 : 0 ) == ( $code eq 'OK' ? 1 : 0 ), "$desc: success is " . ( $code eq 'OK' ? 'true' : 'false' ) );
    is( $j->{status}, $code eq 'OK' ? 'VERIFIED' : 'DEGRADED', "$desc: status " . ( $code eq 'OK' ? 'VERIFIED' : 'DEGRADED' ) );
    is( $j->{provider_id}, $id, "$desc: provider_id" );
    ok( is_hex32( $j->{trace_id} ) && ( $r->{headers}{'x-trace-id'} // '' ) eq $j->{trace_id}, "$desc: trace_id (= X-Trace-Id)" )
      or diag( 'trace_id ' . ( $j->{trace_id} // 'undef' ) . ', X-Trace-Id ' . ( $r->{headers}{'x-trace-id'} // 'undef' ) );
    ok( defined $j->{reason_human} && !ref $j->{reason_human} && length $j->{reason_human}, "$desc: reason_human" );
    ok( defined $j->{latency_ms} && $j->{latency_ms} =~ /^\d+$/, "$desc: latency_ms is an integer" );
    ok( rfc3339( $j->{verified_at} ), "$desc: verified_at is RFC 3339" );
    return $ok;
}

# ================================================================ a hung provider → TIMEOUT within budget
# All 17 probes hang at once while /healthz is polled. This runs in a child process (its answers are checked
# at the end) so that the other groups do not wait for the 10 s budgets.
$sim{hang}->fault( provider => $_, mode => 'hang' ) for @IDS;
my $hang_file = tempdir_file('hang.json');
my $hang_pid  = fork;
die "fork: $!" unless defined $hang_pid;
if ( $hang_pid == 0 ) {
    my %out = ( healthz => [], healthz_fail => 0 );
    eval {
        my $hz_http = HTTP::Tiny->new( timeout => 2, keep_alive => 0 );
        my $res = verify_each(
            'hang', \@IDS,
            timeout => 16,
            tick    => sub {
                my $t = time;
                my $r = $hz_http->get( $srv{hang}->url . $GH{healthz} );
                $out{healthz_fail}++ unless $r->{status} == 200;
                push @{ $out{healthz} }, time - $t;
            }
        );
        $out{results} = { map { my $r = $res->{$_}; ( $_ => { map { ( $_ => $r->{$_} ) } qw(status headers content json elapsed error) } ) } keys %$res };
        1;
    } or $out{error} = "$@";
    eval { write_file( $hang_file, JSON::PP->new->canonical->encode( \%out ) ) };
    POSIX::_exit(0);    # no END blocks in the child: they belong to the parent
}

# ================================================================ valid credentials → OK
my $okv = verify_each( 'ok', \@IDS );
my $ok_answered_at = time;
result_ok( $okv->{$_}, $_, 'OK', "$_ valid" ) for @IDS;

my %okenv = $sim{ok}->base_env;
subtest 'what the probes sent (recorded by the simulator)' => sub {
    my $dbr = $sim{ok}->requests('databento');
    ok( @$dbr >= 1, 'databento was called' );
    is( $dbr->[0]{path}, '/v0/metadata.list_datasets', 'databento: GET /v0/metadata.list_datasets' );
    is( $dbr->[0]{headers}{authorization}, 'Basic ' . encode_base64( "$okenv{DATABENTO_API_KEY}:", '' ),
        'databento: HTTP Basic, the key as user and an empty password' );
    my ($pg) = @{ $sim{ok}->requests('polygon') };
    is( $pg->{headers}{authorization}, "Bearer $okenv{POLYGON_API_KEY}", 'polygon: Authorization: Bearer' );
    my ($fh) = @{ $sim{ok}->requests('finnhub') };
    is( $fh->{headers}{'x-finnhub-token'}, $okenv{FINNHUB_API_KEY}, 'finnhub: X-Finnhub-Token' );
    my ($av) = @{ $sim{ok}->requests('alphavantage') };
    is_deeply( [ @{ $av->{query} }{qw(function symbol apikey)} ], [ 'GLOBAL_QUOTE', 'IBM', $okenv{ALPHAVANTAGE_API_KEY} ], 'alphavantage: query function, symbol, apikey' );
    my ($an) = @{ $sim{ok}->requests('anthropic') };
    is( $an->{headers}{'anthropic-version'}, '2023-06-01', 'anthropic: anthropic-version header' );
    my ($gm) = @{ $sim{ok}->requests('google_gemini') };
    is( $gm->{headers}{'x-goog-api-key'}, $okenv{GEMINI_API_KEY}, 'gemini: x-goog-api-key' );
    my @ib = map {"$_->{method} $_->{path}"} @{ $sim{ok}->requests('ironbeam') };
    is_deeply( \@ib, [ 'POST /v2/auth', 'GET /v2/info/trader', 'POST /v2/logout' ], 'ironbeam: login, trader info, logout' );
    my @tv = map {"$_->{method} $_->{path}"} @{ $sim{ok}->requests('tradovate') };
    is_deeply( \@tv, [ 'POST /v1/auth/accesstokenrequest', 'GET /v1/auth/me' ], 'tradovate: one token request, then /auth/me' );
    my $tvb = JSON::PP->new->decode( $sim{ok}->requests('tradovate')->[0]{body} );
    ok( !ref $tvb->{cid} && $tvb->{cid} =~ /^\d+$/ && $sim{ok}->requests('tradovate')->[0]{body} =~ /"cid"\s*:\s*\d/, 'tradovate: cid sent as a JSON number' );
    my @rd = map { $_->{method} } @{ $sim{ok}->requests('redis') };
    ok( ( grep { $_ eq 'AUTH' } @rd ) && ( grep { $_ eq 'PING' } @rd ), 'redis: AUTH then PING (the sim requires a password)' );
    my @dc = @{ $sim{ok}->requests('discord') };
    ok( @dc >= 1 && !( grep { $_->{method} ne 'GET' } @dc ), 'discord: GET only, nothing posted' );
};

# ---------------------------------------------------------------- the status views after OK
my $by = $srv{ok}->providers;
for my $id (@IDS) {
    my $p = $by->{$id};
    subtest "status after OK: $id" => sub {
        ok( $p->{verified} && JSON::PP::is_bool( $p->{verified} ), 'verified' );
        ok( $p->{connected}, 'connected (verified within verify_ttl_s)' );
        is( $p->{state}, 'VERIFIED', 'state VERIFIED' );
        is( $p->{status}, 'OK', 'status OK' );
        ok( rfc3339( $p->{last_verified_at} ), 'last_verified_at is RFC 3339' );
        is( $p->{last_verified_at}, $okv->{$id}{json}{verified_at}, 'last_verified_at = verified_at of the answer' );
        ok( !defined $p->{error_code}, 'no error_code' );
        is( $p->{proof_of_use_count_24h}, 0, 'verify probes are not proof of use' );
        ok( !$p->{in_use}, 'not in_use' );
        like( $p->{base_url_host} // '', qr/^127\.0\.0\.1(:\d+)?$/, 'base_url_host shows the simulator' ) if $SIM_PROVIDERS{$id}{base_env};
    };
}

# ---------------------------------------------------------------- rows written by every verify
my $dbok = $srv{ok}->db;
my %trace = map { $_ => $okv->{$_}{json}{trace_id} } @IDS;
my @cnt;
ok( wait_for( sub {
        @cnt = @{ ( psql_rows( $dbok, q{SELECT (SELECT count(*) FROM verifications), (SELECT count(*) FROM system_events WHERE kind = 'verify'), (SELECT count(*) FROM integration_usage_events WHERE status = 'VERIFY')} ) )[0] };
        !grep { $_ < 17 } @cnt;
    }, 15, 'rows of 17 verifies' ), 'verifications rows, verify system events and VERIFY usage events arrive' )
  or diag "verifications, system events, usage events: @cnt";
my $rows_lag = time - $ok_answered_at;
ok( $rows_lag < 2, sprintf( 'the rows of 17 concurrent verifies land within 2 s of the answers (%.2f s)', $rows_lag ) );
my %vrow = map { $_->[0] => $_ } psql_rows( $dbok, q{SELECT provider_id, count(*) OVER (PARTITION BY provider_id), outcome, trace_id, coalesce(base_url_host, '') FROM verifications} );
my %urow = map { $_->[0] => $_ } psql_rows( $dbok, q{SELECT provider_id, count(*) OVER (PARTITION BY provider_id), operation, trace_id FROM integration_usage_events WHERE status = 'VERIFY'} );
my %srow = map { $_->[0] => $_ } psql_rows( $dbok, q{SELECT trace_id, count(*) OVER (PARTITION BY trace_id) FROM system_events WHERE kind = 'verify'} );
for my $id (@IDS) {
    subtest "rows of the verify: $id" => sub {
        my $v = $vrow{$id} || [];
        is_deeply( [ @$v[ 1 .. 3 ] ], [ 1, 'OK', $trace{$id} ], 'one verifications row: outcome OK, trace_id of the request' );
        unlike( $v->[4] // '', qr{[/@]}, 'verifications.base_url_host is a host, not a URL' );
        my $u = $urow{$id} || [];
        is_deeply( [ @$u[ 1 .. 3 ] ], [ 1, 'verify', $trace{$id} ], 'one usage event: operation verify, status VERIFY, same trace_id' );
        is( ( $srow{ $trace{$id} } || [] )->[1], 1, 'one system event of kind verify with the same trace_id' );
    };
}

# ---------------------------------------------------------------- failure then recovery; {"provider": ...}; events
$sim{ok}->fault( provider => 'polygon', mode => 'status', status => 503 );
my $deg = vpost( ok => { provider => 'polygon' } );
result_ok( $deg, 'polygon', 'PROVIDER_ERROR', 'polygon 503 (body {"provider": ...})' );
my $pg = $srv{ok}->providers->{polygon};
ok( !$pg->{verified} && !$pg->{connected}, 'after a failed verify: neither verified nor connected' );
is_deeply( [ @$pg{qw(state status)} ], [ 'DEGRADED', 'DEGRADED' ], 'state DEGRADED, status DEGRADED' );
is( $pg->{error_code}, 'PROVIDER_ERROR', 'error_code = the failing reason_code' );
is( $pg->{last_error_code}, 'PROVIDER_ERROR', 'last_error_code = the failing reason_code' );
is( $pg->{proof_of_use_count_24h}, 0, 'proof_of_use_count_24h unchanged' );
$sim{ok}->clear_faults;
my $rec = vpost( ok => { provider_id => 'polygon' } );
result_ok( $rec, 'polygon', 'OK', 'polygon again' );
$pg = $srv{ok}->providers->{polygon};
ok( $pg->{verified} && $pg->{connected} && $pg->{state} eq 'VERIFIED' && $pg->{status} eq 'OK', 'recovered: VERIFIED, connected, OK' );
is( $pg->{last_verified_at}, $rec->{json}{verified_at}, 'last_verified_at moved' );

my $ev;
ok( wait_for( sub {
        $ev = $srv{ok}->get('/api/integrations/polygon/events?limit=50');
        ref $ev->{json} eq 'HASH' && ref $ev->{json}{events} eq 'ARRAY' && @{ $ev->{json}{events} } >= 3;
    }, 10, 'three polygon events' ), 'GET /api/integrations/polygon/events lists the verify events' )
  or diag $ev->{content};
envelope_ok( $ev, 'events', success => 1 );
my @evs = @{ $ev->{json}{events} || [] };
is_deeply( [ map { $_->{trace_id} } @evs[ 0 .. 2 ] ], [ $rec->{json}{trace_id}, $deg->{json}{trace_id}, $trace{polygon} ], 'newest first' );
ok( ( !grep { ( $_->{status} // '' ) ne 'VERIFY' } @evs ), 'status VERIFY' );
is( $evs[1]{error_code}, 'PROVIDER_ERROR', 'the failed verify carries its error_code' );
ok( ( !grep { $evs[$_]{created_at} lt $evs[ $_ + 1 ]{created_at} } 0 .. $#evs - 1 ), 'created_at descending' );
my @okvals = grep { defined && !m{^http://127\.0\.0\.1:\d+/[a-z_]+(/api/v1|/v1)?$} } values %okenv;
is_deeply( [ find_leaks( $ev->{content}, \@okvals, 'events' ) ], [], 'no secret in the events' );

# ================================================================ invalid credentials → AUTH_FAILED
my $badv = verify_each( 'bad', \@IDS );
result_ok( $badv->{$_}, $_, 'AUTH_FAILED', "$_ invalid" ) for @IDS;
like( $sim{bad}->requests('alphavantage')->[0]{query}{apikey}, qr/invalid/, 'alphavantage got the invalid key (its answer: HTTP 200 + "Error Message")' );
my $byb = $srv{bad}->providers;
for my $id (@IDS) {
    my $p = $byb->{$id};
    subtest "status after AUTH_FAILED: $id" => sub {
        ok( !$p->{verified} && !$p->{connected}, 'neither verified nor connected' );
        is( $p->{state},  'DEGRADED', 'state DEGRADED' );
        is( $p->{status}, 'DEGRADED', 'status DEGRADED' );
        is( $p->{error_code},      'AUTH_FAILED', 'error_code AUTH_FAILED' );
        is( $p->{last_error_code}, 'AUTH_FAILED', 'last_error_code AUTH_FAILED' );
        ok( $p->{configured}, 'still configured' );
    };
}

# ================================================================ faults: each mode for every provider at once
my @SWEEPS = (
    [ 'not_entitled', [@IDS], 'NOT_ENTITLED', sub { ( mode => 'not_entitled' ) } ],
    [ 'HTTP 429',     [@HTTP], 'RATE_LIMITED', sub { ( mode => 'status', status => 429 ) } ],
    [ 'HTTP 503',     [@IDS], 'PROVIDER_ERROR', sub { ( mode => 'status', status => 503 ) } ],
    [ 'malformed',    [@IDS], 'PROVIDER_ERROR', sub { ( mode => 'malformed' ) } ],
);
for my $sw (@SWEEPS) {
    my ( $name, $ids, $code, $spec ) = @$sw;
    $sim{fault}->clear_faults;
    $sim{fault}->fault( provider => $_, $spec->() ) for @$ids;
    my $res = verify_each( 'fault', $ids );
    result_ok( $res->{$_}, $_, $code, "$_ $name" ) for @$ids;
}
$sim{fault}->clear_faults;

# Alpha Vantage: errors come with HTTP 200
$sim{fault}->fault( provider => 'alphavantage', mode => 'error200', count => 1 );
result_ok( vpost( fault => { provider_id => 'alphavantage' } ), 'alphavantage', 'AUTH_FAILED', 'alphavantage 200 + Error Message' );
$sim{fault}->fault( provider => 'alphavantage', mode => 'error200', variant => 'rate_limit', count => 1 );
result_ok( vpost( fault => { provider_id => 'alphavantage' } ), 'alphavantage', 'RATE_LIMITED', 'alphavantage 200 + Note' );

# Tradovate lock-out: one token request, no retry, no /auth/me
$sim{fault}->clear_requests;
$sim{fault}->fault( provider => 'tradovate', mode => 'error200', variant => 'lockout' );
result_ok( vpost( fault => { provider_id => 'tradovate' } ), 'tradovate', 'RATE_LIMITED', 'tradovate lock-out (p-ticket)' );
my @tvreq = map {"$_->{method} $_->{path}"} @{ $sim{fault}->requests('tradovate') };
is_deeply( \@tvreq, ['POST /v1/auth/accesstokenrequest'], 'tradovate lock-out: exactly one accesstokenrequest, not retried' );
$sim{fault}->clear_faults;

# Background re-verification (server "bg"): after a lock-out it waits for the operator (checked again at the end)
my ( @bgreq, $bg_seen_at );
ok( wait_for( sub { @bgreq = grep { $_->{path} eq '/v1/auth/accesstokenrequest' } @{ $sim{bg}->requests('tradovate') }; @bgreq >= 1 }, 10, 'background verify' ),
    'background re-verification probed the never-verified Tradovate' );
$bg_seen_at = time;

# ================================================================ verify all, concurrently
$sim{ok}->fault( provider => $_, mode => 'latency', delay_ms => 800 ) for @IDS;
sleep 1.1;    # Alpha Vantage's limiter (1 request/s) must not count against the fan-out
my $t    = time;
my $all  = $srv{ok}->request( 'POST', $VERIFY, { body => { all => JSON::PP::true }, timeout => 30 } );
my $took = time - $t;
is( $all->{status}, 200, 'verify all: HTTP 200' );
envelope_ok( $all, 'verify all' );
my %res = map { $_->{provider_id} => $_ } @{ $all->{json}{results} || [] };
$done{ok} += keys %res;
is_deeply( [ sort keys %res ], [ sort @IDS ], 'verify all: one result per configured provider' );
is_deeply( [ grep { ( $res{$_}{reason_code} // '' ) ne 'OK' } @IDS ], [], 'verify all: every reason_code OK' );
is_deeply( [ grep { ( $res{$_}{status} // '' ) ne 'VERIFIED' } @IDS ], [], 'verify all: every status VERIFIED' );
is_deeply( [ grep { ( $res{$_}{latency_ms} // 0 ) < 790 } @IDS ], [], 'verify all: each probe took the injected 800 ms' );
ok( $took < 6.0, sprintf( 'verify all ran concurrently: %.2f s for 17 probes of >= 0.8 s (serial: >= 13.6 s)', $took ) );
$sim{ok}->clear_faults;

# ================================================================ errors
my $E = $srv{empty};
error_ok( $E->post( $VERIFY, { provider_id => 'nope' } ), 404, 'UNKNOWN_PROVIDER', 'unknown provider' );
my $miss = $E->post( $VERIFY, { provider_id => 'databento' } );
error_ok( $miss, 409, 'INTEGRATION_KEY_MISSING', 'unconfigured provider' );
is_deeply( $miss->{json}{missing_env_vars}, ['DATABENTO_API_KEY'], '409 names the missing variables' );
my $part = $E->post( $VERIFY, { provider_id => 'ironbeam' } );
error_ok( $part, 409, 'INTEGRATION_KEY_MISSING', 'partly configured provider' );
is_deeply( [ sort @{ $part->{json}{missing_env_vars} || [] } ], [qw(IRONBEAM_API_KEY IRONBEAM_PASSWORD)], '409 names exactly the missing ones' );
error_ok( $E->post( $VERIFY, { provider_id => 5 } ), 400, 'VALIDATION_FAILED', 'provider_id of the wrong type' );
error_ok( $E->post( $VERIFY, {} ), 400, 'VALIDATION_FAILED', 'no provider_id' );
error_ok( $E->post( $VERIFY, '{"provider_id": ' ), 400, 'INVALID_JSON', 'invalid JSON' );
my $none = $E->post( $VERIFY, { all => JSON::PP::true } );
is( $none->{status}, 200, 'verify all with nothing configured: 200' );
is_deeply( $none->{json}{results}, [], '... and no results' );
is( $E->providers->{databento}{state}, 'NOT_CONFIGURED', 'a refused verify leaves the state alone' );

# ================================================================ the hung probes (child process above)
waitpid( $hang_pid, 0 );
my $hangout = eval { JSON::PP->new->decode( read_file($hang_file) ) } || { error => 'no result file' };
is( $hangout->{error}, undef, 'the hang group ran' );
$done{hang} += grep { ( $_->{status} // 0 ) == 200 } values %{ $hangout->{results} || {} };
for my $id (@IDS) {
    my $r = $hangout->{results}{$id} || {};
    subtest "hang: $id" => sub {
        result_ok( $r, $id, 'TIMEOUT', "$id hung" );
        my $budget = $TIMEOUT_MS{$id} / 1000;
        my $el = $r->{elapsed} // 99;
        ok( $el <= $budget + 1, sprintf( '%s: answered after %.2f s (budget %.1f s + 1 s)', $id, $el, $budget ) );
        ok( $el >= $budget * 0.8, sprintf( '%s: it did wait for the deadline (%.2f s)', $id, $el ) );
        ok( ( $r->{json}{latency_ms} // 1e9 ) <= $TIMEOUT_MS{$id} + 1000, "$id: latency_ms within the budget" );
    };
}
my @hz = @{ $hangout->{healthz} || [] };
my ($hz_max) = sort { $b <=> $a } @hz;
ok( @hz >= 10 && !$hangout->{healthz_fail}, sprintf( '/healthz answered %d times while 17 probes hung', scalar @hz ) );
ok( defined $hz_max && $hz_max < 0.5, sprintf( '/healthz stayed fast during the hang (slowest %.0f ms)', 1000 * ( $hz_max // 99 ) ) );
$sim{hang}->clear_faults;

# ================================================================ background: still one lock-out, no retry
my $left = 4.5 - ( time - $bg_seen_at );    # at least two background ticks (2 s) since the lock-out
sleep $left if $left > 0;
@bgreq = grep { $_->{path} eq '/v1/auth/accesstokenrequest' } @{ $sim{bg}->requests('tradovate') };
is( scalar @bgreq, 1, 'background re-verification does not repeat a no_retry provider after a lock-out' );
is( $srv{bg}->providers->{tradovate}{error_code}, 'RATE_LIMITED', 'the lock-out shows as RATE_LIMITED' );
is_deeply( [ grep { $_->{provider} ne 'tradovate' } @{ $sim{bg}->requests } ], [], 'unconfigured providers are not probed' );

# ================================================================ every verify left its three rows
for my $k (qw(ok bad fault hang)) {
    my $want = $done{$k} // 0;
    my @got;
    my $ok = wait_for( sub {
        @got = @{ ( psql_rows( $srv{$k}->db, q{SELECT (SELECT count(*) FROM verifications), (SELECT count(*) FROM system_events WHERE kind = 'verify'), (SELECT count(*) FROM integration_usage_events WHERE status = 'VERIFY')} ) )[0] };
        !grep { $_ != $want } @got;
    }, 10, "rows of server $k" );
    ok( $ok, "server $k: $want verifies → as many verifications rows, verify system events and VERIFY usage events" )
      or diag "got @got";
}

# ================================================================ discord never POSTs; clean stop
for my $k ( sort keys %sim ) {
    my @posts = grep { $_->{method} ne 'GET' } @{ $sim{$k}->requests('discord') };
    is( scalar @posts, 0, "simulator $k: no request to Discord other than GET" );
}
kill 'TERM', map { $_->pid } values %srv;    # all at once, then wait for each
for my $k ( sort keys %srv ) {
    wait_for( sub { !$srv{$k}->alive }, 10, "server $k to exit" );
    is( $srv{$k}->stop, 0, "server $k: SIGTERM, exit 0" );
}
diag( sprintf 'spec took %.1f s', time - $T0 );

done_testing;
