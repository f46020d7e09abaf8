# AI Ops (issue 6, deliverable 5): GET /api/ai-ops aggregates the llm.chat usage events of the window per
# provider and model — calls, errors by code, latency p50/p95, input/output tokens, purpose tags, last call and
# its trace id — and its counts equal the events in Postgres. LLM calls come from real ticks of an llm_regime
# bot against the simulator (OpenAI serving, then OpenAI failing with 503 and Anthropic serving).
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;
use Gatehouse::Sim;
use Gatehouse::Fixtures;

my $QUIET = { GATEHOUSE_BACKGROUND_VERIFY => 0, GATEHOUSE_ALERTS => 0 };
my $sim   = Gatehouse::Sim::start_sim();
$sim->config( llm_regime => 'range' );
my $env = { %{ $sim->base_env( only => [qw(databento openai anthropic)] ) }, %$QUIET };
my $srv = start_server( env => $env, home => fixture_home( flip => 0 ), clock => AT_OPEN );
$srv->post( '/api/integrations/verify', { all => \1 } );

my ($bot) = psql_rows( $srv->db, "INSERT INTO bots (name, strategy, symbol, timeframe, stage, requires_ai) "
      . "VALUES ('aiops', 'llm_regime', 'ESZ6', '1m', 'PAPER', true) RETURNING id" );
$bot = $bot->[0];

sub tick { $srv->post("/api/bots/$bot/tick")->{json}{tick} }
sub llm_events { ( psql_rows( $srv->db, "SELECT count(*) FROM integration_usage_events WHERE operation = 'llm.chat'" ) )[0][0] }
sub ai_ops { my $r = $srv->get( '/api/ai-ops' . ( $_[0] // '' ) ); ( $r, { map { $_->{provider_id} => $_ } @{ $r->{json}{providers} || [] } } ) }

is( tick()->{llm}{provider}, 'openai', "tick $_: OpenAI answers" ) for 1 .. 3;
$sim->fault( provider => 'openai', mode => 'status', status => 503, path => 'chat/completions' );
is( tick()->{llm}{provider}, 'anthropic', "failing tick $_: Anthropic answers" ) for 1 .. 2;
$sim->clear_faults('openai');
ok( wait_for( sub { llm_events() == 7 }, 10, 'events' ), '7 llm.chat events written (3 + 2 failed + 2 failover)' );

# an event outside the 24 h window
psql_rows( $srv->db, "INSERT INTO integration_usage_events (provider_id, operation, status, latency_ms, trace_id, metadata, created_at) "
      . "VALUES ('openai', 'llm.chat', 'OK', 5, repeat('a', 32), '{\"model\":\"gpt-4o-mini\",\"purpose\":\"old\",\"input_tokens\":1,\"output_tokens\":1}', gh_now() - interval '30 hours')" );

my $SQL = "SELECT provider_id, coalesce(metadata->>'model', 'unknown'), count(*), count(*) FILTER (WHERE status = 'ERROR'), "
  . "coalesce(sum((metadata->>'input_tokens')::int), 0), coalesce(sum((metadata->>'output_tokens')::int), 0) "
  . "FROM integration_usage_events WHERE operation = 'llm.chat' AND created_at > gh_now() - make_interval(hours => %d) "
  . "GROUP BY 1, 2 ORDER BY 1, 2";

subtest 'counts equal the usage events of the 24 h window' => sub {
    my ( $r, $p ) = ai_ops();
    is( $r->{status}, 200, 'HTTP 200' );
    envelope_ok( $r, 'ai-ops', success => 1 );
    is( $r->{json}{window_h}, 24, 'window_h 24 by default' );
    like( $r->{json}{since}, qr/Z$/, 'since is RFC 3339 UTC' );
    my @rows = psql_rows( $srv->db, sprintf( $SQL, 24 ) );
    my @api = map { my $pid = $_; map { [ $pid, $_->{model}, $_->{calls}, $_->{errors}, $_->{input_tokens} // 0, $_->{output_tokens} // 0 ] }
          @{ $p->{$pid}{models} } } sort keys %$p;
    is_deeply( \@api, \@rows, 'per provider and model: calls, errors, input and output tokens equal SQL over the events' );
    is( $p->{openai}{calls}, 5, 'openai: 5 calls in the window (the 30 h old one excluded)' );
    is( $p->{openai}{errors}, 2, 'openai: 2 errors' );
    is_deeply( $p->{openai}{errors_by_code}, { PROVIDER_ERROR => 2 }, 'errors by code' );
    is( $p->{anthropic}{calls}, 2, 'anthropic: 2 calls' );
    is( $r->{json}{totals}{calls}, 7, 'totals.calls = 7' );
    is( $r->{json}{totals}{errors}, 2, 'totals.errors = 2' );
    my ($tok) = psql_rows( $srv->db, "SELECT sum((metadata->>'input_tokens')::int), sum((metadata->>'output_tokens')::int) "
          . "FROM integration_usage_events WHERE operation = 'llm.chat' AND created_at > gh_now() - interval '24 hours'" );
    is_deeply( [ $r->{json}{totals}{input_tokens}, $r->{json}{totals}{output_tokens} ], [ map { $_ + 0 } @$tok ], 'token totals equal SQL' );
    cmp_ok( $r->{json}{totals}{output_tokens}, '>', 0, 'tokens are present' );
    for my $pid (qw(openai anthropic)) {
        my $l = $p->{$pid}{latency_ms};
        ok( defined $l->{p50} && defined $l->{p95} && $l->{p95} >= $l->{p50} && $l->{p50} >= 0,
            "$pid: latency p50 $l->{p50} ms, p95 $l->{p95} ms" );
        is_deeply( $p->{$pid}{purposes}, { regime_classification => $p->{$pid}{calls} }, "$pid: purpose tags" );
        my ($last) = psql_rows( $srv->db, "SELECT trace_id, status FROM integration_usage_events WHERE operation = 'llm.chat' "
              . "AND provider_id = '$pid' AND created_at > gh_now() - interval '24 hours' ORDER BY created_at DESC LIMIT 1" );
        is( $p->{$pid}{last_trace_id}, $last->[0], "$pid: last call's trace id" );
        is( $p->{$pid}{last_status}, $last->[1], "$pid: last call's status" );
        like( $p->{$pid}{last_call_at}, qr/^\d{4}-\d\d-\d\dT[\d:.]+Z$/, "$pid: last_call_at RFC 3339" );
    }
    is( $p->{openai}{models}[0]{model}, 'gpt-4o-mini', 'openai model' );
    is( $p->{anthropic}{models}[0]{model}, 'claude-3-5-haiku-latest', 'anthropic model' );
    is( $p->{google_gemini}{calls}, 0, 'an unused LLM provider is listed with 0 calls' );
    is_deeply( $p->{google_gemini}{models}, [], 'and no models' );
    ok( !$p->{google_gemini}{configured}, 'and shows it is not configured' );
    ok( !exists $p->{databento}, 'only LLM providers' );
    unlike( $r->{content}, qr/Features: |You classify|Regime\?/, 'no prompt text' );
};

subtest '?window_h' => sub {
    my ( $r, $p ) = ai_ops('?window_h=48');
    is( $r->{json}{window_h}, 48, 'window_h 48' );
    is( $p->{openai}{calls}, 6, 'openai: the 30 h old call counts in 48 h' );
    is_deeply( $p->{openai}{purposes}, { regime_classification => 5, old => 1 }, 'purpose tags of the window' );
    my @rows = psql_rows( $srv->db, sprintf( $SQL, 48 ) );
    is( ( grep { $_->[0] eq 'openai' } @rows )[0][2], 6, 'SQL agrees' );
    for my $bad (qw(0 721 abc 1.5)) {
        my $b = $srv->get("/api/ai-ops?window_h=$bad");
        error_ok( $b, 400, 'VALIDATION_FAILED', "window_h=$bad" );
        is( $b->{json}{field}, 'window_h', 'names window_h' );
    }
};

is( $srv->stop, 0, 'stopped' );
done_testing;
