# Canary through the verify paths: every provider variable holds a unique canary, every provider is verified
# against the simulator on the success path and on every failure path (bad credentials, plan refusal, 429,
# 503, malformed and hung answers with a short timeout, slow bodies, closed connections, error bodies that
# quote the credential back, Alpha Vantage's quota text that names the key), and no canary — raw,
# URL-encoded or base64 — may appear in any response body or header, in the server log, or in a pg_dump of
# the database. The simulator's recorded requests are NOT scanned: they legitimately hold the secrets (they
# are used once, as the positive control that the canaries were really sent).
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;
use Gatehouse::Sim;
use JSON::PP ();

my $VERIFY     = $GH{verify};
my $BACKGROUND = 'GATEHOUSE_BACKGROUND_VERIFY';
my $SHORT_MS   = 1500;    # verify.timeout_ms of every provider in this spec's policy copy
my @IDS        = @SIM_PROVIDER_IDS;
my @HTTP       = grep { $_ ne 'redis' } @IDS;

sub rnd { my @c = ( 'A' .. 'Z', 'a' .. 'z', 0 .. 9 ); join '', map { $c[ rand @c ] } 1 .. $_[0] }
my $run = lc rnd(6);

my @SECRET_VARS = qw(
  DATABENTO_API_KEY POLYGON_API_KEY MASSIVE_API_KEY FINNHUB_API_KEY ALPHAVANTAGE_API_KEY FMP_API_KEY
  FRED_API_KEY IRONBEAM_USERNAME IRONBEAM_PASSWORD IRONBEAM_API_KEY TRADOVATE_USERNAME TRADOVATE_PASSWORD
  TRADOVATE_APP_ID TRADOVATE_CID TRADOVATE_SECRET TRADOVATE_DEVICE_ID OPENAI_API_KEY OPENAI_ORG_ID
  OPENAI_PROJECT_ID ANTHROPIC_API_KEY GEMINI_API_KEY GOOGLE_API_KEY GROQ_API_KEY XAI_API_KEY
  OPENROUTER_API_KEY UNUSUAL_WHALES_API_KEY UW_API_KEY
);

# env_for($sim, $bad) → (\%env, \@secrets): canaries valid by the simulator's rule, or all containing "invalid"
sub env_for {
    my ( $sim, $bad ) = @_;
    my $mark = $bad ? 'invalid-' : '';
    my %env = map { $_ => $sim->base_env->{$_} } grep {/_BASE_URL$/} keys %{ $sim->base_env };
    for my $var (@SECRET_VARS) {
        # unique, with characters that URL-encoding and base64 change
        $env{$var} = "CANARY-$mark" . rnd(10) . "+/=$run-" . lc( $var =~ s/_/-/gr );
    }
    $env{TRADOVATE_CID} = ( 1 + int rand 9 ) . join '', map { int rand 10 } 1 .. 11;    # a number (sent as one)
    my $pw  = "CANARY-$mark" . rnd(10) . "-$run-redis";
    my $tok = "CANARY-$mark" . rnd(10) . "-$run-discord";
    $env{REDIS_URL}           = "redis://default:$pw\@127.0.0.1:" . $sim->redis_port . '/0';
    $env{DISCORD_WEBHOOK_URL} = $sim->url . "/discord/api/webhooks/1234/$tok";
    $env{TRADOVATE_APP_VERSION} = '1.0';
    $env{DATABENTO_DATASET}     = 'GLBX.MDP3';
    $env{$BACKGROUND}           = 0;    # only the probes this spec asks for: outcomes are deterministic
    $env{GATEHOUSE_ALERTS}      = 0;    # alerts POST to the same webhook: 20_alerts.t covers them
    my @secrets = ( ( map { $env{$_} } @SECRET_VARS ), $env{REDIS_URL}, $env{DISCORD_WEBHOOK_URL}, $pw, $tok );
    return ( \%env, \@secrets );
}

# a policy copy whose probes all time out after $SHORT_MS
my $home = copy_home();
edit_file( "$home/$GH{providers_file}", sub { my $t = shift; $t =~ s/\btimeout_ms\s*=\s*\d+/timeout_ms = $SHORT_MS/g; $t } );

my $simA = start_sim( redis_requirepass => 1, quiet => 1 );
my $simB = start_sim( redis_requirepass => 1, quiet => 1 );
my ( $envA, $secA ) = env_for( $simA, 0 );
my ( $envB, $secB ) = env_for( $simB, 1 );
my @secrets = ( @$secA, @$secB );
my $A = start_server( env => $envA, home => $home, wait => 0 );
my $B = start_server( env => $envB, home => $home, wait => 0 );
$_->wait_healthy for $A, $B;

# verify_all($srv) → { id => result } (the answer is kept in $srv->responses for the scan)
sub verify_all {
    my ($srv) = @_;
    my $r = $srv->request( 'POST', $VERIFY, { body => { all => JSON::PP::true }, timeout => 30 } );
    is( $r->{status}, 200, 'verify all: HTTP 200' ) or diag $r->{content};
    return { map { $_->{provider_id} => $_ } @{ ( $r->{json} || {} )->{results} || [] } };
}

sub outcomes_are {
    my ( $res, $want, $desc ) = @_;    # $want: code or { id => code }
    my @bad = grep { ( $res->{$_}{reason_code} // 'none' ) ne ( ref $want ? $want->{$_} : $want ) } grep { ref $want ? exists $want->{$_} : 1 } @IDS;
    ok( !@bad, $desc ) or diag join "\n", map { "$_: " . ( $res->{$_}{reason_code} // 'none' ) . ' ' . ( $res->{$_}{reason_human} // '' ) } @bad;
}

sub look_around {
    my ($srv) = @_;
    $srv->get( $GH{status} );
    $srv->get("/api/integrations/$_/events?limit=50") for @IDS;
    $srv->get('/api/system/status');
    $srv->get('/api/system/events?kind=verify&limit=200');
    $srv->get('/metrics');
    $srv->get( $GH{readyz} );
}

# ---------------------------------------------------------------- success path
outcomes_are( verify_all($A), 'OK', 'canaries valid by the simulator rule: every provider verifies OK' );
my %single;
$single{$_} = $A->post( $VERIFY, { provider_id => $_ } ) for @IDS;
ok( ( !grep { ( $single{$_}{json}{reason_code} // '' ) ne 'OK' } @IDS ), 'each provider verified on its own: OK' );
look_around($A);

# ---------------------------------------------------------------- failure paths, each for every provider at once
my %NE = map { $_ => 'NOT_ENTITLED' } @IDS;
my @MODES = (
    [ 'HTTP 503',       sub { ( mode => 'status', status => 503 ) },   'PROVIDER_ERROR' ],
    [ 'HTTP 401',       sub { ( mode => 'status', status => 401 ) },   undef ],
    [ 'not entitled',   sub { ( mode => 'not_entitled' ) },            \%NE ],
    [ 'rate limited',   sub { ( mode => 'rate_limit' ) },              { map { $_ => 'RATE_LIMITED' } grep { $_ ne 'redis' } @IDS } ],
    [ 'malformed',      sub { ( mode => 'malformed' ) },               'PROVIDER_ERROR' ],
    [ 'echoed secret',  sub { ( mode => 'echo', status => 401 ) },     { map { $_ => 'AUTH_FAILED' } @HTTP } ],
    [ 'echoed, 400',    sub { ( mode => 'echo', status => 400 ) },     undef ],
    [ 'error in a 200', sub { ( mode => 'error200', variant => $_[0] eq 'alphavantage' ? 'information' : $_[0] eq 'xai' ? 'blocked' : $_[0] eq 'openrouter' ? 'no_credit' : $_[0] eq 'tradovate' ? 'lockout' : undef ) },
      { alphavantage => 'RATE_LIMITED', xai => 'AUTH_FAILED', openrouter => 'NOT_ENTITLED', tradovate => 'RATE_LIMITED', fmp => 'AUTH_FAILED', ironbeam => 'AUTH_FAILED' } ],
    [ 'hang',           sub { ( mode => 'hang' ) },                    'TIMEOUT' ],
    [ 'drip',           sub { ( mode => 'drip', delay_ms => 400 ) },   { map { $_ => 'TIMEOUT' } @HTTP } ],
    [ 'closed',         sub { ( mode => 'close' ) },                   'NETWORK_ERROR' ],
);
for my $m (@MODES) {
    my ( $name, $spec, $want ) = @$m;
    $simA->clear_faults;
    $simA->fault( provider => $_, $spec->($_) ) for @IDS;
    my $res = verify_all($A);
    is( scalar keys %$res, 17, "$name: 17 results" );
    outcomes_are( $res, $want, "$name: the expected outcomes" ) if defined $want;
    # the simulator's Redis has no echo, rate-limit, error-in-200 or drip form: it answers those normally
    ok( ( !grep { ( $res->{$_}{reason_code} // 'OK' ) eq 'OK' } grep { !( $_ eq 'redis' && $name =~ /echo|rate|drip/ ) } @IDS ), "$name: no provider passes" )
      unless $name eq 'error in a 200';
}
# the same faults once more through single verifies (another code path: the single answer)
for my $m ( [ status => 503 ], [ 'echo' ], [ 'malformed' ] ) {
    $simA->clear_faults;
    $simA->fault( provider => $_, mode => $m->[0], ( $m->[1] ? ( status => $m->[1] ) : () ) ) for @IDS;
    $A->post( $VERIFY, { provider_id => $_ } ) for @IDS;
}
$simA->clear_faults;
look_around($A);

# ---------------------------------------------------------------- bad credentials (all contain "invalid")
outcomes_are( verify_all($B), 'AUTH_FAILED', 'invalid canaries: every provider AUTH_FAILED' );
$B->post( $VERIFY, { provider => $_ } ) for @IDS;
$B->post( $VERIFY, { provider_id => $envB->{DATABENTO_API_KEY} } );    # a secret where an id belongs
$B->post( $VERIFY, '{"provider_id": "' . $envB->{OPENAI_API_KEY} . '"' );
look_around($B);

# ---------------------------------------------------------------- positive control: the canaries were sent
my $sent = JSON::PP->new->canonical->encode( [ $simA->requests, $simB->requests ] );
for my $v (qw(DATABENTO_API_KEY ALPHAVANTAGE_API_KEY IRONBEAM_PASSWORD TRADOVATE_SECRET GOOGLE_API_KEY)) {
    ok( scalar find_leaks( $sent, [ $envA->{$v} ], 'sim' ), "control: the simulator received $v (the scanner finds it there)" );
}
ok( scalar find_leaks( $sent, [ $envB->{UNUSUAL_WHALES_API_KEY} ], 'sim' ), 'control: ... and the invalid canaries too' );

# rows exist before the stop (so the dump has something to hide)
ok( wait_for( sub { ( psql_rows( $A->db, q{SELECT count(*) FROM verifications} ) )[0][0] >= 17 }, 15, 'verification rows' ), 'server A wrote verification rows' );

# ---------------------------------------------------------------- nothing leaked
my @leaks;
for my $srv ( [ A => $A ], [ B => $B ] ) {
    my ( $name, $s ) = @$srv;
    my ( $i, @found ) = response_leaks( $s, \@secrets, "server $name " );
    push @leaks, @found;
    ok( $i >= 40, "server $name: scanned $i responses" );
    is( $s->stop, 0, "server $name: SIGTERM, exit status 0" );
    my $log = $s->log_text;
    ok( $log =~ /verify/ && length $log > 2000, "server $name: the log has the verify activity" );
    push @leaks, find_leaks( $log, \@secrets, "server $name log" );
    my ( $rc, $dump, $err ) = run_cmd( [ 'pg_dump', '--no-owner', '-d', $s->db ], timeout => 60 );
    is( $rc, 0, "server $name: pg_dump works" ) or diag $err;
    ok( $dump =~ /COPY public\.verifications/ && $dump =~ /AUTH_FAILED|PROVIDER_ERROR/, "server $name: the dump holds verification rows" );
    push @leaks, find_leaks( $dump, \@secrets, "server $name database dump" );
}
is_deeply( \@leaks, [], 'no canary in any response, header, log line or database row' ) or diag join "\n", @leaks;

done_testing;
