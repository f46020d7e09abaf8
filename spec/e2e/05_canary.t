# Canary: every secret provider variable holds a unique canary value. The status
# endpoint may show `configured` and a masked hint (last 4 characters), nothing more:
# no canary — raw, URL-encoded or base64 — may appear in any response body or header,
# in the log, or in the database, whatever endpoint or failure path is exercised.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;
use JSON::PP ();
use File::Path qw(make_path);
use Encode ();

my $BULLETS = "\x{2022}" x 4;
sub mask { length $_[0] > 8 ? $BULLETS . substr( $_[0], -4 ) : $BULLETS x 2 }
sub rnd { my @c = ( 'A' .. 'Z', 'a' .. 'z', 0 .. 9 ); join '', map { $c[ rand @c ] } 1 .. $_[0] }

# Non-secret variables (URLs, environment selectors, dataset names) get ordinary values.
my %PUBLIC = map { $_ => 1 } qw(IRONBEAM_ENV TRADOVATE_ENV TRADOVATE_APP_VERSION DATABENTO_DATASET);
my @SECRET_VARS = qw(
  DATABENTO_API_KEY POLYGON_API_KEY MASSIVE_API_KEY FINNHUB_API_KEY ALPHAVANTAGE_API_KEY FMP_API_KEY
  FRED_API_KEY IRONBEAM_USERNAME IRONBEAM_PASSWORD IRONBEAM_API_KEY TRADOVATE_USERNAME TRADOVATE_PASSWORD
  TRADOVATE_APP_ID TRADOVATE_CID TRADOVATE_SECRET TRADOVATE_DEVICE_ID OPENAI_API_KEY OPENAI_ORG_ID
  OPENAI_PROJECT_ID ANTHROPIC_API_KEY GEMINI_API_KEY GOOGLE_API_KEY GROQ_API_KEY XAI_API_KEY
  OPENROUTER_API_KEY UNUSUAL_WHALES_API_KEY UW_API_KEY
);
my $run = lc rnd(6);
my %env;
for my $var (@SECRET_VARS) {
    # unique, with characters that URL-encoding and base64 change
    $env{$var} = 'CANARY-' . rnd(10) . "+/=$run-" . lc( $var =~ s/_/-/gr );
}
$env{FRED_API_KEY}    = rnd(8);    # 8 characters or fewer: fully masked
$env{FINNHUB_API_KEY} = rnd(9);    # 9 characters: last 4 shown
my $redis_pw   = 'CANARY-' . rnd(10) . "-$run-redis";
my $discord_tk = 'CANARY-' . rnd(10) . "-$run-discord";
$env{REDIS_URL}           = "redis://default:$redis_pw\@127.0.0.1:1/0";
$env{DISCORD_WEBHOOK_URL} = "http://127.0.0.1:1/api/webhooks/1234/$discord_tk";
# every base URL points at a closed loopback port: nothing leaves the machine
$env{"${_}_BASE_URL"} = 'http://127.0.0.1:1'
  for qw(DATABENTO POLYGON FINNHUB ALPHAVANTAGE FMP FRED IRONBEAM TRADOVATE OPENAI ANTHROPIC GEMINI GROQ XAI OPENROUTER UNUSUAL_WHALES);
$env{IRONBEAM_ENV} = 'demo';
$env{TRADOVATE_ENV} = 'demo';
$env{DATABENTO_DATASET} = 'GLBX.MDP3';

my @secrets = ( ( map { $env{$_} } @SECRET_VARS ), $env{REDIS_URL}, $env{DISCORD_WEBHOOK_URL}, $redis_pw, $discord_tk );
my $canary = $env{DATABENTO_API_KEY};

my $home = copy_home();
# a strategy for the bots the at-rest section creates (the real one, or a minimal stand-in)
make_path("$home/scripts/strategies");
write_file( "$home/scripts/strategies/sma_cross.lua", <<'LUA' ) unless -f "$home/scripts/strategies/sma_cross.lua";
return { name = "sma_cross", requires_ai = false,
         decide = function(ctx) return { action = "HOLD", reason_code = "NO_SIGNAL", reason_human = "test" } end }
LUA
# a strategy without a parameter schema: its params are free-form (sma_cross's schema refuses unknown keys,
# and the at-rest bot below carries canaries in keys of its own)
write_file( "$home/scripts/strategies/freeform.lua", <<'LUA' );
return { name = "freeform", requires_ai = false,
         decide = function(ctx) return { action = "HOLD", reason_code = "NO_SIGNAL", reason_human = "test" } end }
LUA
my $srv  = start_server( env => \%env, home => $home );

# ---- what may be shown --------------------------------------------------------------
my $by = $srv->providers;
my $db = $by->{databento};
ok( $db->{configured}, 'databento is configured' );
is_deeply( $db->{missing_env_vars}, [], 'databento: nothing missing' );
if ( !$db->{verified} && !defined $db->{last_verified_at} ) {
    is( $db->{state}, 'CONFIGURED', 'databento state CONFIGURED' );
}
else {
    like( $db->{state}, qr/^(VERIFIED|DEGRADED)$/, 'databento state after a verify' );
}
is( $db->{masked}{DATABENTO_API_KEY}, mask($canary), 'masked hint is "••••" + the last 4 characters' );
is( $by->{fred}{masked}{FRED_API_KEY}, $BULLETS x 2, 'an 8-character value is fully masked' );
is( $by->{finnhub}{masked}{FINNHUB_API_KEY}, mask( $env{FINNHUB_API_KEY} ), 'a 9-character value shows its last 4' );
for my $id ( sort keys %$by ) {
    my $p = $by->{$id};
    ok( $p->{configured}, "$id is configured" );
    for my $var ( @{ $p->{required_env_vars} } ) {
        is( $p->{masked}{$var}, mask( $env{$var} ), "$id: masked $var" ) if defined $env{$var} && $var ne 'REDIS_URL' && $var ne 'DISCORD_WEBHOOK_URL';
    }
}

# ---- exercise endpoints and failure paths with canaries in the requests -----------------
my $esc = sub { ( my $s = shift ) =~ s/([^A-Za-z0-9\-._~])/sprintf '%%%02X', ord $1/ge; $s };
$srv->get( $GH{healthz} );
$srv->get( $GH{readyz} );
$srv->get( '/api/nope/' . $esc->($canary) );
$srv->get( '/nope?key=' . $esc->($canary) . '&raw=' . $canary );
$srv->get( $GH{healthz}, { Authorization => "Bearer $canary", 'X-Api-Key' => $canary, traceparent => $canary } );
$srv->request( 'DELETE', $GH{status} . '?k=' . $esc->($canary), {} );
$srv->post( $GH{policy_reload}, { reason => "rotate $canary" } );
$srv->post( $GH{policy_reload}, '{"reason": "' . $canary . '"' );    # invalid JSON around a canary
$srv->post( $GH{policy_reload}, '{"' . $canary . '": }' );
$srv->post( $GH{policy_reload}, { reason => 5, other => $canary } );
$srv->post( $GH{policy_reload}, '{"reason":"' . $canary . ( 'x' x 1_100_000 ) . '"}' );    # over the default limit
$srv->post( $GH{verify}, { provider_id => 'databento' } );
$srv->post( $GH{verify}, { provider => $canary } );

# a policy error whose message quotes a canary (an operator pasted a key into a policy)
my $orig = read_file("$home/$GH{providers_file}");
write_file( "$home/$GH{providers_file}", qq{local k = "$canary" +\n} . $orig );
$srv->signal('HUP');
my $err = wait_for( sub { $srv->policy->{last_reload_error} }, 10, 'reload error' );
ok( $err, 'the broken policy was rejected' );
write_file( "$home/$GH{providers_file}", $orig );
$srv->signal('HUP');
ok( wait_for( sub { my $p = $srv->policy; $p && !defined $p->{last_reload_error} }, 10, 'reload ok' ), 'policy restored' );
$srv->get( $GH{status} );
$srv->get( $GH{readyz} );

# ---- secrets at rest: rows written from request input carry a canary (PRODUCT.md §3) ----------------
# Every row below is written from a request body; the pg_dump at the end must hold no canary in any form.
my $ok_bot = $srv->post( '/api/bots', { name => "at-rest-$run", strategy => 'freeform', symbol => 'ESZ6', timeframe => '1m',
        params => { note => "key $canary", nested => [ { k => $env{OPENAI_API_KEY} } ], $env{POLYGON_API_KEY} => 1 } } );
is( $ok_bot->{status}, 201, 'a bot with canaries in its params is created' ) or diag explain $ok_bot->{json};
my $bot_id = ( $ok_bot->{json}{bot} || {} )->{id};
my $named = $srv->post( '/api/bots', { name => "n $env{ANTHROPIC_API_KEY}", strategy => 'sma_cross', symbol => 'ESZ6', timeframe => '1m' } );
ok( $named->{status} == 201 || $named->{status} == 400, "a bot named after a canary: $named->{status}" );
SKIP: {
    skip 'no bot', 4 unless $bot_id;
    my $svc = $srv->service_headers;
    my $d = $srv->post( "/api/bots/$bot_id/decision-traces", { decision_type => 'ENTRY', reason_code => 'SMA_CROSS_UP',
            reason_human => "crossed; key=$canary", signals => { k => $env{GEMINI_API_KEY} } }, $svc );
    is( $d->{status}, 201, 'a decision trace with canaries is written' ) or diag explain $d->{json};
    my $n = $srv->post( "/api/bots/$bot_id/no-trade-traces", { suppression_type => 'RISK_GATE', suppression_decision => 'SKIP',
            reason_code => 'MARKET_CLOSED', reason_human => "idle $env{GROQ_API_KEY}", blocked_by => [ "gate $env{XAI_API_KEY}" ] }, $svc );
    ok( $n->{status} == 201 || $n->{status} == 400, "a no-trade trace with canaries: $n->{status}" );
    my $bt = $srv->post( "/api/bots/$bot_id/backtests", { start => '2026-01-05T15:00:00Z', end => '2026-01-05T16:00:00Z', note => $canary } );
    ok( $bt->{status} == 202 || $bt->{status} == 400, "a backtest of that bot: $bt->{status}" );
    my $u = $srv->post( '/api/users', { username => "u-$run", password => 'at-rest-password-1234', role => 'viewer',
            email => "$env{OPENROUTER_API_KEY}\@example.com" } );
    ok( $u->{status} == 201 || $u->{status} == 400, "a user whose e-mail holds a canary: $u->{status}" );
}

# the rows were written, with the mask in place of each secret (redacted, not dropped)
if ($bot_id) {
    my ($row) = psql_rows( $srv->db, 'SELECT params::text FROM bots WHERE id = $1', $bot_id );
    my $params = Encode::decode_utf8( $row->[0] // '' );
    ok( index( $params, 'key ' . mask($canary) ) >= 0, 'the bot params hold the mask where the canary was' ) or diag $params;
    my ($tr) = psql_rows( $srv->db, 'SELECT count(*) FROM decision_traces WHERE bot_id = $1', $bot_id );
    is( $tr->[0], 1, 'the decision trace was written' );
}

# ---- nothing leaked -----------------------------------------------------------------------
my ( $i, @leaks ) = response_leaks( $srv, \@secrets, '' );
ok( $i >= 15, "scanned $i responses" );

is( $srv->stop, 0, 'SIGTERM: exit status 0' );
my $log = $srv->log_text;
ok( length $log > 200, 'the log has content' );
push @leaks, find_leaks( $log, \@secrets, 'log' );

my ( $rc, $dump, $dump_err ) = run_cmd( [ 'pg_dump', '--no-owner', '-d', $srv->db ], timeout => 60 );
is( $rc, 0, 'pg_dump of the database works' ) or diag $dump_err;
ok( $dump =~ /schema_migrations/, 'the dump holds the schema' );
push @leaks, find_leaks( $dump, \@secrets, 'database dump' );

is_deeply( \@leaks, [], 'no canary in any response, header, log line or database row' ) or diag join "\n", @leaks;

done_testing;
