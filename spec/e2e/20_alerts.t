# Alerts: one Discord message per system_status transition (BLOCKED at start, then DEGRADED/OK once market data
# is verified), none when nothing changes; a 429 is retried once after retry_after and the message still
# arrives; no message body (nor the server log) carries a secret; every send attempt is a usage event
# (discord / alerts.send) whose trace id is the one in the message footer; without DISCORD_WEBHOOK_URL nothing
# is sent and the server works as before.
use strict;
use warnings;
use lib 'spec/support';
use JSON::PP;
use Test::More;
use Time::HiRes qw(sleep);
use Time::Local qw(timegm);
use Gatehouse::Test;
use Gatehouse::Sim;

my $JSON = JSON::PP->new->utf8->canonical;
my $sim  = Gatehouse::Sim::start_sim();

sub env_for {
    my (%o) = @_;
    my $env = $sim->base_env(%o);
    $env->{GATEHOUSE_BACKGROUND_VERIFY} = 0;
    return $env;
}

sub system_status {
    my ($srv) = @_;
    my $r = $srv->get('/api/system/status');
    return ref $r->{json} eq 'HASH' ? $r->{json}{system_status} // '' : '';
}

sub blockers {
    my ($srv) = @_;
    my $j = $srv->get('/api/system/status')->{json};
    return [ map { "$_->{code} $_->{severity}: $_->{message}" } @{ ref $j eq 'HASH' ? $j->{blockers} || [] : [] } ];
}

# the webhook POSTs the simulator received for one webhook id (GETs would be verify probes)
sub posts {
    my ($hook) = @_;
    return [ grep { $_->{method} eq 'POST' && $_->{path} =~ m{/webhooks/\Q$hook\E/} } @{ $sim->requests('discord') } ];
}

sub body_of { my $b = eval { $JSON->decode( $_[0]{body} ) }; ref $b eq 'HASH' ? $b : {} }

sub footer_trace {
    my ($req) = @_;
    my $t = body_of($req)->{embeds}[0]{footer}{text} // '';
    return $t =~ /\btrace_id ([0-9a-f]{32})\b/ ? $1 : '';
}

sub message_text {
    my ($req) = @_;
    my $b = body_of($req);
    my $e = ref $b->{embeds} eq 'ARRAY' && ref $b->{embeds}[0] eq 'HASH' ? $b->{embeds}[0] : {};
    return join "\n", map { $_ // '' } $b->{content}, $e->{title}, $e->{description};
}

sub epoch_of {
    my ($ts) = @_;
    my ( $y, $mo, $d, $h, $mi, $s, $frac ) = $ts =~ /^(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)(\.\d+)?Z$/ or return 0;
    return timegm( $s, $mi, $h, $d, $mo - 1, $y ) + ( $frac // 0 );
}

sub usage_rows {
    my ($srv) = @_;
    return psql_rows( $srv->db,
        "SELECT status, coalesce(error_code, ''), trace_id, metadata->>'kind', metadata->>'http_status' "
          . "FROM integration_usage_events WHERE provider_id = 'discord' AND operation = 'alerts.send' ORDER BY created_at, id" );
}

my %secret_of;    # token of each webhook id, plus the market-data key
sub token_of { my ($env) = @_; ( $env->{DISCORD_WEBHOOK_URL} // '' ) =~ m{/([^/]+)$} ? $1 : '' }

# ---- 1. transitions: one message each -------------------------------------------------------------------

my $env1 = env_for( only => [qw(databento discord)], webhook_id => '111' );
my $srv  = start_server( env => $env1 );
my $probe = $srv->get('/api/system/status');
if ( $probe->{status} == 404 ) {
    plan skip_all => 'GET /api/system/status is not served yet (alerts are wired with it)';
}
$secret_of{token1} = token_of($env1);
$secret_of{db}     = $env1->{DATABENTO_API_KEY};

ok( wait_for( sub { system_status($srv) eq 'BLOCKED' }, 5, 'BLOCKED' ), 'initially BLOCKED (market data not verified)' );
ok( wait_for( sub { @{ posts('111') } >= 1 }, 10, 'first alert' ), 'the BLOCKED state is announced' );
sleep 2;    # four status computations
my $p = posts('111');
is( scalar @$p, 1, 'exactly one POST for the BLOCKED state' );
like( message_text( $p->[0] ), qr/BLOCKED/, 'the message names the state' );
like( $p->[0]{headers}{'content-type'} // '', qr{^application/json}, 'sent as application/json' );
is_deeply( body_of( $p->[0] )->{allowed_mentions}, { parse => [] }, 'mentions are disabled' );
ok( is_hex32( footer_trace( $p->[0] ) ), 'the footer carries a trace id' );

my $r = $srv->post( '/api/integrations/verify', { provider_id => 'databento' } );
is( $r->{json}{reason_code}, 'OK', 'databento verified' );
my $after;
ok( wait_for( sub { ( $after = system_status($srv) ) && $after ne 'BLOCKED' }, 5, 'status change' ),
    'status leaves BLOCKED' )
  or diag explain blockers($srv);
ok( wait_for( sub { @{ posts('111') } >= 2 }, 10, 'second alert' ), 'the transition is announced' );
sleep 1.5;
$p = posts('111');
is( scalar @$p, 2, 'exactly one more POST' );
like( message_text( $p->[1] ), qr/\Q$after\E/, "the second message names the new state ($after)" ) if $after;

my $n_posts = scalar @$p;
$r = $srv->post( '/api/integrations/verify', { provider_id => 'databento' } );
is( $r->{json}{reason_code}, 'OK', 'databento verified again' );
sleep 2;
is( scalar @{ posts('111') }, $n_posts, 'no transition, no message' );
is( system_status($srv), $after, 'status unchanged' );

my @rows;
ok( wait_for( sub { ( @rows = usage_rows($srv) ) == $n_posts }, 10, 'usage rows' ), "each send is a usage event ($n_posts)" )
  or diag explain \@rows;
is_deeply( [ map { $_->[0] } @rows ], [ ('OK') x $n_posts ], 'all OK' );
is_deeply( [ map { $_->[2] } @rows ], [ map { footer_trace($_) } @$p ], 'with the trace ids of the messages' );
is( $rows[0][3], 'system_status', 'metadata.kind of the status message: system_status' );
like( $rows[0][4] // '', qr/^20[04]$/, 'metadata.http_status is the answer (204/200)' );
is( $srv->stop, 0, 'server 1 stops cleanly' );

# ---- 2. a 429 is retried once after retry_after ---------------------------------------------------------

my $env2 = env_for( only => [qw(databento discord)], webhook_id => '222' );
$secret_of{token2} = token_of($env2);
$sim->fault( provider => 'discord', mode => 'rate_limit', count => 1, method => 'POST', path => '/webhooks/222/' );
my $srv2 = start_server( env => $env2 );
ok( wait_for( sub { @{ posts('222') } >= 2 }, 15, 'retried alert' ), 'the rate-limited message is sent again' );
sleep 1.5;
$p = posts('222');
is( scalar @$p, 2, 'one 429, one retry: two POSTs' );
is( $p->[0]{fault}, 'rate_limit', 'the first POST was answered 429' );
ok( !$p->[1]{fault}, 'the retry was answered normally' );
is( $p->[1]{body}, $p->[0]{body}, 'the same message was retried' );
my $gap = epoch_of( $p->[1]{ts} ) - epoch_of( $p->[0]{ts} );
cmp_ok( $gap, '>=', 1.9, "the retry waited retry_after (2 s; waited ${gap} s)" );
ok( wait_for( sub { ( @rows = usage_rows($srv2) ) == 2 }, 10, 'usage rows (429)' ), 'two usage events' )
  or diag explain \@rows;
is_deeply( [ map { [ $_->[0], $_->[1], $_->[4] ] } @rows ], [ [ 'ERROR', 'RATE_LIMITED', 429 ], [ 'OK', '', $rows[1][4] ] ],
    'ERROR RATE_LIMITED (http_status 429), then OK' );
is( $rows[0][2], $rows[1][2], 'both attempts carry the alert trace id' );
is( $srv2->stop, 0, 'server 2 stops cleanly' );

# ---- 3. no secret leaves in a message or the log ---------------------------------------------------------

my @secrets = grep { length } values %secret_of;
is( scalar @secrets, 3, 'checking the market-data key and both webhook tokens' );
my @leaks;
push @leaks, find_leaks( $_->{body}, \@secrets, "discord POST body #$_->{id}" ) for @{ posts('111') }, @{ posts('222') };
push @leaks, find_leaks( $_->log_text, \@secrets, 'server log of pid ' . $_->pid ) for $srv, $srv2;
is_deeply( \@leaks, [], 'no secret in any message body or log line' );

# ---- 4. not configured: nothing is sent, everything else works ------------------------------------------

$sim->clear_requests('discord');
my $env3 = env_for( only => ['databento'] );
ok( !exists $env3->{DISCORD_WEBHOOK_URL}, 'server 3 has no DISCORD_WEBHOOK_URL' );
my $srv3 = start_server( env => $env3 );
ok( wait_for( sub { system_status($srv3) eq 'BLOCKED' }, 5, 'BLOCKED (3)' ), 'BLOCKED without alerts configured' );
$r = $srv3->post( '/api/integrations/verify', { provider_id => 'databento' } );
is( $r->{json}{reason_code}, 'OK', 'verify works' );
ok( wait_for( sub { system_status($srv3) ne 'BLOCKED' }, 5, 'status change (3)' ), 'status changes as before' )
  or diag explain blockers($srv3);
sleep 1.5;
is( scalar @{ $sim->requests('discord') }, 0, 'nothing was sent to Discord' );
my ($n) = psql_rows( $srv3->db, "SELECT count(*) FROM integration_usage_events WHERE provider_id = 'discord'" );
is( $n->[0], 0, 'and no discord usage event' );
is( $srv3->get('/api/integrations/status')->{status}, 200, 'the status API answers' );
is( $srv3->stop, 0, 'server 3 stops cleanly' );

done_testing;
