# GET /api/integrations/status with no keys at all, then with some: the 17 providers,
# their exact environment variables, and the states that follow from the environment.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;

# id => [category, [required], [optional], default base URL host or undef]  (PRODUCT.md §2)
my %EXPECTED = (
    databento     => [ 'market_data', ['DATABENTO_API_KEY'], [qw(DATABENTO_BASE_URL DATABENTO_DATASET)], 'hist.databento.com' ],
    polygon       => [ 'market_data', ['POLYGON_API_KEY'], [qw(MASSIVE_API_KEY POLYGON_BASE_URL)], 'api.polygon.io' ],
    finnhub       => [ 'market_data', ['FINNHUB_API_KEY'], ['FINNHUB_BASE_URL'], 'finnhub.io' ],
    alphavantage  => [ 'market_data', ['ALPHAVANTAGE_API_KEY'], ['ALPHAVANTAGE_BASE_URL'], 'www.alphavantage.co' ],
    fmp           => [ 'market_data', ['FMP_API_KEY'], ['FMP_BASE_URL'], 'financialmodelingprep.com' ],
    fred          => [ 'market_data', ['FRED_API_KEY'], ['FRED_BASE_URL'], 'api.stlouisfed.org' ],
    ironbeam      => [ 'execution', [qw(IRONBEAM_USERNAME IRONBEAM_PASSWORD IRONBEAM_API_KEY)], [qw(IRONBEAM_ENV IRONBEAM_BASE_URL)], 'demo.ironbeamapi.com' ],
    tradovate     => [ 'execution', [qw(TRADOVATE_USERNAME TRADOVATE_PASSWORD TRADOVATE_APP_ID TRADOVATE_CID TRADOVATE_SECRET)],
                       [qw(TRADOVATE_APP_VERSION TRADOVATE_DEVICE_ID TRADOVATE_ENV TRADOVATE_BASE_URL)], undef ],
    openai        => [ 'llm', ['OPENAI_API_KEY'], [qw(OPENAI_ORG_ID OPENAI_PROJECT_ID OPENAI_BASE_URL)], 'api.openai.com' ],
    anthropic     => [ 'llm', ['ANTHROPIC_API_KEY'], ['ANTHROPIC_BASE_URL'], 'api.anthropic.com' ],
    google_gemini => [ 'llm', ['GEMINI_API_KEY'], [qw(GOOGLE_API_KEY GEMINI_BASE_URL)], 'generativelanguage.googleapis.com' ],
    groq          => [ 'llm', ['GROQ_API_KEY'], ['GROQ_BASE_URL'], 'api.groq.com' ],
    xai           => [ 'llm', ['XAI_API_KEY'], ['XAI_BASE_URL'], 'api.x.ai' ],
    openrouter    => [ 'llm', ['OPENROUTER_API_KEY'], ['OPENROUTER_BASE_URL'], 'openrouter.ai' ],
    unusual_whales => [ 'alt_data', ['UNUSUAL_WHALES_API_KEY'], [qw(UW_API_KEY UNUSUAL_WHALES_BASE_URL)], 'api.unusualwhales.com' ],
    redis         => [ 'infra', ['REDIS_URL'], [], undef ],
    discord       => [ 'alerts', ['DISCORD_WEBHOOK_URL'], [], undef ],
);

my @FIELDS = qw(id label category configured verified connected in_use state status required_for_autonomy
  supports_verify required_env_vars optional_env_vars missing_env_vars masked base_url_host last_verified_at
  verify_ttl_s last_used_at last_used_by_bot_id last_feature_used proof_of_use_count_24h last_error_code
  last_error_code_24h latency_ms error_code suggested_fix setup_instructions);

sub sorted { [ sort @{ $_[0] || [] } ] }
sub text_of { my $v = shift; ref $v eq 'ARRAY' ? join( "\n", map { text_of($_) } @$v ) : ref $v eq 'HASH' ? join( "\n", map { text_of($_) } values %$v ) : $v // '' }

# ---------------------------------------------------------------- no keys at all
my $srv = start_server();
my $res = $srv->get( $GH{status} );
is( $res->{status}, 200, 'status endpoint is 200' );
envelope_ok( $res, 'integrations status', success => 1 );
my @list = @{ $res->{json}{providers} || [] };
is( scalar @list, 17, '17 providers' );
is_deeply( [ sort map { $_->{id} } @list ], [ sort keys %EXPECTED ], 'exactly the provider ids of the registry' );

for my $p (@list) {
    my $id = $p->{id};
    my $e  = $EXPECTED{$id} or next;
    subtest "provider $id (no keys)" => sub {
        my @absent = grep { !exists $p->{$_} } @FIELDS;
        is_deeply( \@absent, [], 'has every documented field' );
        ok( defined $p->{label} && length $p->{label}, 'label' );
        is( $p->{category}, $e->[0], "category $e->[0]" );
        is_deeply( $p->{required_env_vars}, $e->[1], 'required_env_vars (exact, in order)' );
        is_deeply( sorted( $p->{optional_env_vars} ), sorted( $e->[2] ), 'optional_env_vars' );
        is_deeply( sorted( $p->{missing_env_vars} ), sorted( $e->[1] ), 'every required variable is missing' );
        for my $f (qw(configured verified connected in_use)) {
            ok( json_bool( $p->{$f} ) && !$p->{$f}, "$f is false" );
        }
        ok( json_bool( $p->{supports_verify} ),       'supports_verify is a boolean' );
        ok( json_bool( $p->{required_for_autonomy} ), 'required_for_autonomy is a boolean' );
        is( $p->{state}, 'NOT_CONFIGURED', 'state NOT_CONFIGURED' );
        like( $p->{status} // '', qr/^(OK|DEGRADED|BLOCKED)$/, 'status is OK|DEGRADED|BLOCKED' );
        is( ref $p->{masked}, 'HASH', 'masked is an object' );
        is_deeply( $p->{masked}, {}, 'nothing to mask' );
        is( $p->{proof_of_use_count_24h}, 0, 'proof_of_use_count_24h is 0' );
        for my $f (qw(last_verified_at last_used_at last_used_by_bot_id last_feature_used last_error_code last_error_code_24h)) {
            ok( exists $p->{$f} && !defined $p->{$f}, "$f is null" );
        }
        is_deeply( $p->{latency_ms}, { last => undef, p50 => undef, p95 => undef }, 'latency_ms values are null' );
        like( $p->{verify_ttl_s} // '', qr/^\d+$/, 'verify_ttl_s is an integer' );
        is( $p->{base_url_host}, $e->[3], "base_url_host $e->[3]" ) if defined $e->[3];
        my $how = text_of( $p->{setup_instructions} );
        ok( ( !grep { index( $how, $_ ) < 0 } @{ $e->[1] } ), 'setup_instructions name every required variable' )
          or diag $how;
        ok( defined $p->{suggested_fix} && length text_of( $p->{suggested_fix} ), 'suggested_fix is present' );
        ok( defined $p->{error_code} && length $p->{error_code}, 'an unconfigured provider carries an error_code' );
    };
}
is( $srv->stop, 0, 'SIGTERM: exit status 0' );

# ---------------------------------------------------------------- some keys
# partial ironbeam (one variable empty), polygon through its alias, a base URL override.
$srv = start_server(
    env => {
        IRONBEAM_USERNAME  => 'trader-one',
        IRONBEAM_PASSWORD  => '',
        DATABENTO_API_KEY  => 'db-' . ( 'k' x 29 ),
        DATABENTO_BASE_URL => 'http://127.0.0.1:9/sim',
        MASSIVE_API_KEY    => 'massive-alias-key-123',
        REDIS_URL          => 'redis://127.0.0.1:1/0',
    }
);
my $by = $srv->providers;

my $ib = $by->{ironbeam};
ok( !$ib->{configured}, 'ironbeam with USERNAME only (PASSWORD empty) is not configured' );
is( $ib->{state}, 'NOT_CONFIGURED', 'ironbeam state NOT_CONFIGURED' );
is_deeply( sorted( $ib->{missing_env_vars} ), [qw(IRONBEAM_API_KEY IRONBEAM_PASSWORD)],
    'an empty variable counts as missing' );

my $db = $by->{databento};
ok( $db->{configured}, 'databento configured' );
is_deeply( $db->{missing_env_vars}, [], 'databento: nothing missing' );
like( $db->{base_url_host} // '', qr/^127\.0\.0\.1(:9)?$/, 'DATABENTO_BASE_URL override shows in base_url_host' );
if ( !$db->{verified} && !defined $db->{last_verified_at} ) {
    is( $db->{state}, 'CONFIGURED', 'configured, never verified: state CONFIGURED' );
}
else {
    like( $db->{state}, qr/^(VERIFIED|DEGRADED)$/, 'after a verify the state is VERIFIED or DEGRADED' );
}

ok( $by->{polygon}{configured}, 'polygon is configured through its alias MASSIVE_API_KEY' );
is_deeply( $by->{polygon}{missing_env_vars}, [], 'polygon: nothing missing with the alias set' );
ok( $by->{redis}{configured}, 'redis configured from REDIS_URL' );

my @others = grep { !/^(databento|polygon|redis)$/ } keys %$by;
is_deeply( [ grep { $by->{$_}{configured} } @others ], [], 'no other provider is configured' );
is( $srv->stop, 0, 'SIGTERM: exit status 0' );

done_testing;
