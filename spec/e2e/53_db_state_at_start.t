# The database is "unknown" until the monitor's first ping answers, and no status transition is announced out
# of "unknown": a server started with Postgres up (alerts on, the simulator's Discord webhook configured) writes
# no DB_UNAVAILABLE system event and sends no DB_UNAVAILABLE alert. Its first announced status names what really
# blocks it (market data not verified), as a transition from "(start)". /readyz shows db.state = "up".
#
# Before the fix the status engine evaluated the gates once before the first ping had answered and announced
# "system status (start) -> BLOCKED: DB_UNAVAILABLE" (SEV-1 event + Discord message) at every start-up.
use strict;
use warnings;
use lib 'spec/support';
use JSON::PP;
use Test::More;
use Gatehouse::Test;
use Gatehouse::Sim;

my $JSON = JSON::PP->new->utf8->canonical;
my $sim  = Gatehouse::Sim::start_sim();

sub posts {
    my ($hook) = @_;
    return [ grep { $_->{method} eq 'POST' && $_->{path} =~ m{/webhooks/\Q$hook\E/} } @{ $sim->requests('discord') } ];
}

sub gate_events {
    my ($srv) = @_;
    return psql_rows( $srv->db,
        "SELECT severity, message, coalesce(metadata->>'from', '(null)'), metadata::text FROM system_events "
          . "WHERE kind = 'gate.status' ORDER BY id" );
}

for my $round ( 1 .. 3 ) {    # the race is at every start: several starts make a lucky pass unlikely
    my $hook = "53$round";
    my $env  = $sim->base_env( only => [qw(databento discord)], webhook_id => $hook );
    $env->{GATEHOUSE_BACKGROUND_VERIFY} = 0;
    delete $env->{GATEHOUSE_ALERTS};    # alerts on (the default)
    my $srv = start_server( env => $env );

    my @ev;
    ok( wait_for( sub { ( @ev = gate_events($srv) ) >= 1 }, 10, 'first gate.status event' ),
        "start $round: the first status is recorded" );
    ok( wait_for( sub { @{ posts($hook) } >= 1 }, 10, 'first alert' ), "start $round: and announced" );
    my $ready = $srv->get('/readyz')->{json} || {};
    is( $ready->{db}{state}, 'up', "start $round: /readyz db.state = up" );

    @ev = gate_events($srv);
    my @db_events = grep { $_->[1] =~ /DB_UNAVAILABLE/ || $_->[3] =~ /DB_UNAVAILABLE/ } @ev;
    is_deeply( \@db_events, [], "start $round: no DB_UNAVAILABLE gate.status event while Postgres was up" )
      or diag explain \@ev;
    like( $ev[0][1], qr/^system status \(start\) -> BLOCKED/, "start $round: the first event is the transition from (start)" );
    is( $ev[0][2], '(null)', "start $round: its metadata.from is null" );
    unlike( $ev[0][1], qr/DB_UNAVAILABLE/, "start $round: and names a real blocker ($ev[0][1])" );

    my @db_posts = grep { ( $_->{body} // '' ) =~ /DB_UNAVAILABLE/ } @{ posts($hook) };
    is( scalar @db_posts, 0, "start $round: no Discord message names DB_UNAVAILABLE" )
      or diag explain [ map { $_->{body} } @db_posts ];
    my ($n) = psql_rows( $srv->db, "SELECT count(*) FROM system_events WHERE message LIKE '%DB_UNAVAILABLE%' "
          . "OR metadata::text LIKE '%DB_UNAVAILABLE%'" );
    is( $n->[0], 0, "start $round: no system event at all mentions DB_UNAVAILABLE" );
    is( $srv->stop, 0, "start $round: the server stops cleanly" );
}

done_testing;
