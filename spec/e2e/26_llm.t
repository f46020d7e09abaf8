# The LLM call (runtime/llm.c): a bot whose strategy has llm_request (llm_regime) asks the live stack's LLM
# primary before deciding. The tick leaves an llm.chat usage event with the model and token counts and never
# the prompt, the system prompt or the answer; the decision / no-trade trace carries the regime. OpenAI
# failing: Anthropic serves. No LLM connected: a requires_ai bot's start is refused and a tick does not trade.
#
# Fixtures (in a copied home): market hours forced open, so the spec does not depend on the wall clock.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;
use Gatehouse::Sim;
use Gatehouse::Fixtures;

my $QUIET = { GATEHOUSE_BACKGROUND_VERIFY => 0, GATEHOUSE_ALERTS => 0 };
my $sim   = Gatehouse::Sim::start_sim();


sub new_bot {
    my ( $srv, $name ) = @_;
    my ($row) = psql_rows( $srv->db, "INSERT INTO bots (name, strategy, symbol, timeframe, stage, params, requires_ai) "
          . "VALUES ('$name', 'llm_regime', 'ESZ6', '1m', 'PAPER', '{}'::jsonb, true) RETURNING id" );
    return $row->[0];
}

sub tick { my ( $srv, $id ) = @_; $srv->post("/api/bots/$id/tick")->{json}{tick} }
sub rows { my ( $srv, $sql ) = @_; [ psql_rows( $srv->db, $sql ) ] }

sub trace_regime {
    my ( $srv, $id ) = @_;
    wait_for( sub {
        my $r = rows( $srv, "SELECT signals->>'regime', signals->>'llm_model', reason_human FROM decision_traces WHERE bot_id = '$id' "
              . "UNION ALL SELECT signals->>'regime', signals->>'llm_model', reason_human FROM no_trade_traces WHERE bot_id = '$id'" );
        $r->[0] && defined $r->[0][0] ? $r->[0] : undef }, 5, 'trace' );
}

subtest 'OpenAI verified: llm.chat event with model and tokens, regime in the trace, no prompt stored' => sub {
    $sim->reset;
    $sim->config( llm_regime => 'range' );
    my $env = { %{ $sim->base_env( only => [qw(databento openai)] ) }, %$QUIET };
    my $srv = start_server( env => $env, home => fixture_home( flip => 0 ), clock => AT_OPEN );
    $srv->post( '/api/integrations/verify', { all => \1 } );
    my $id = new_bot( $srv, 'llm1' );
    my $t  = tick( $srv, $id );
    is( $t->{llm}{provider}, 'openai', 'the LLM primary answered' );
    ok( $t->{llm}{ok}, 'ok' );
    is( $t->{llm}{model}, 'gpt-4o-mini', 'the default model' );
    my $ev = wait_for( sub {
        rows( $srv, "SELECT provider_id, status, metadata->>'model', (metadata->>'input_tokens')::int, "
            . "(metadata->>'output_tokens')::int, metadata->>'purpose', run_id, trace_id, metadata::text "
            . "FROM integration_usage_events WHERE bot_id = '$id' AND operation = 'llm.chat'" )->[0] }, 5, 'event' );
    ok( $ev, 'an llm.chat usage event' );
    is_deeply( [ @$ev[ 0 .. 2 ] ], [ 'openai', 'OK', 'gpt-4o-mini' ], 'provider, status, model' );
    cmp_ok( $ev->[3], '>', 0, 'input tokens' );
    cmp_ok( $ev->[4], '>', 0, 'output tokens' );
    is( $ev->[5], 'regime_classification', 'purpose tag' );
    is( $ev->[6], $t->{run_id}, 'run id' );
    is( $ev->[7], $t->{trace_id}, 'trace id' );
    my $tr = trace_regime( $srv, $id );
    ok( $tr, 'a trace for the tick' );
    is( $tr->[0], 'range', 'the trace carries the regime' );
    like( $tr->[2], qr/^regime range \(gpt-4o-mini\)/, 'reason names the regime and model' );
    my $reqs = $sim->requests('openai');
    ok( ( grep { $_->{method} eq 'POST' && $_->{path} =~ m{/chat/completions$} } @$reqs ), 'POST /chat/completions sent' );
    my ( $rc, $dump, $err ) = run_cmd( [ 'pg_dump', '--no-owner', '-d', $srv->db ], timeout => 60 );
    is( $rc, 0, 'pg_dump works' ) or diag $err;
    unlike( $dump, qr/Regime\?|Features: |ret_1=/, 'no prompt text in the database' );
    unlike( $dump, qr/You classify the regime/, 'no system prompt in the database' );
    unlike( $dump, qr/\{\\?"regime\\?"\s*:/, 'no raw answer in the database' );
    is( $srv->stop, 0, 'stopped' );
};

subtest 'OpenAI failing (503): Anthropic serves' => sub {
    $sim->reset;
    $sim->config( llm_regime => 'trend' );
    my $env = { %{ $sim->base_env( only => [qw(databento openai anthropic)] ) }, %$QUIET };
    my $srv = start_server( env => $env, home => fixture_home( flip => 0 ), clock => AT_OPEN );
    $srv->post( '/api/integrations/verify', { all => \1 } );
    $sim->fault( provider => 'openai', mode => 'status', status => 503, path => 'chat/completions' );
    my $id = new_bot( $srv, 'llm2' );
    my $t  = tick( $srv, $id );
    is( $t->{llm}{provider}, 'anthropic', 'anthropic answered' );
    is( $t->{llm}{model}, 'claude-3-5-haiku-latest', 'with its default model' );
    my $ev = wait_for( sub {
        my $r = rows( $srv, "SELECT provider_id, status, coalesce(error_code, ''), metadata->>'model', "
              . "coalesce(metadata->>'output_tokens', '') FROM integration_usage_events "
              . "WHERE bot_id = '$id' AND operation = 'llm.chat' ORDER BY created_at, provider_id DESC" );
        @$r >= 2 ? $r : undef }, 5, 'events' );
    is_deeply( [ map { "$_->[0]:$_->[1]:$_->[2]" } @{ $ev || [] } ], [ 'openai:ERROR:PROVIDER_ERROR', 'anthropic:OK:' ],
        'one event per attempt: openai failed, anthropic served' );
    cmp_ok( $ev->[1][4] || 0, '>', 0, 'anthropic output tokens' );
    my $tr = trace_regime( $srv, $id );
    is( $tr && $tr->[0], 'trend', 'the trace carries the regime' );
    is( $tr && $tr->[1], 'claude-3-5-haiku-latest', 'and the model' );
    $sim->clear_faults('openai');
    is( $srv->stop, 0, 'stopped' );
};

subtest 'no LLM connected: start refused (requires_ai), a tick does not trade' => sub {
    $sim->reset;
    my $env = { %{ $sim->base_env( only => [qw(databento)] ) }, %$QUIET };
    my $srv = start_server( env => $env, home => fixture_home( flip => 0 ), clock => AT_OPEN );
    $srv->post( '/api/integrations/verify', { all => \1 } );
    my $id = new_bot( $srv, 'llm3' );
    my $r  = $srv->post("/api/bots/$id/start");
    is( $r->{status}, 409, 'start refused' );
    ok( $r->{json}{error_code}, "with a reason ($r->{json}{error_code})" );
    my $t = tick( $srv, $id );
    ok( ( $t->{outcome} eq 'BLOCKED' ) || ( $t->{reason_code} eq 'LLM_UNAVAILABLE' ),
        "the tick is blocked by the AI gate or holds LLM_UNAVAILABLE ($t->{outcome} $t->{reason_code})" );
    isnt( $t->{outcome}, 'TRADED', 'no trade' );
    is( rows( $srv, "SELECT count(*) FROM integration_usage_events WHERE bot_id = '$id' AND operation = 'llm.chat'" )->[0][0], 0,
        'no LLM call' );
    is( $srv->stop, 0, 'stopped' );
};

done_testing;
