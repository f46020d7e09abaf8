# A periodic autonomy round scores only the bots whose evidence changed (issue 18): after the first round
# scored every bot, a round where nothing changed scores only the round-robin sweep's share (one bot here:
# 60 bots x 1 s interval / 3600 s sweep, + 1); a usage event this process ingests marks its bot (the usage
# stream's listener), and so does a usage row another instance wrote straight to the database (the round's
# watermark probe); each such round scores those bots plus the share, and their stored scores move.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;

my $N = 60;
my $db = new_database();
my $srv = start_server( db => $db, env => { GATEHOUSE_AUTONOMY_INTERVAL_S => 1, GATEHOUSE_AUTONOMY_SWEEP_S => 3600,
        GATEHOUSE_BACKGROUND_VERIFY => 0, GATEHOUSE_ALERTS => 0 } );
psql_rows( $db, "INSERT INTO bots (name, strategy, symbol, timeframe, stage) SELECT 'chg-' || g, 'sma_cross', 'ESZ6', '1m', 'PAPER' "
      . "FROM generate_series(1, $N) g" );
my @ids = map { $_->[0] } psql_rows( $db, "SELECT id FROM bots WHERE name LIKE 'chg-%' ORDER BY name" );

# the periodic rounds over the N bots logged so far: (bots scored, ...)
my $rounds = sub { map { /bots=(\d+) / ? $1 : () } grep { /msg="autonomy scored"/ && /periodic=1/ && /of=$N / } $srv->log_lines };
ok( wait_for( sub { grep { $_ == $N } $rounds->() }, 20, 'a full round' ), "the first round over the new bots scores all $N" );
ok( wait_for( sub { grep { $_ == 1 } $rounds->() }, 20, 'a quiet round' ), 'a round where nothing changed scores only the sweep share (1 bot)' );

my $updated = sub {
    my @b = @_;
    my $in = join ',', map {"'$_'"} @b;
    return { map { $_->[0] => $_->[1] } psql_rows( $db, "SELECT bot_id, last_updated_at FROM autonomy_scores WHERE bot_id IN ($in)" ) };
};
# a round that scores k changed bots scores k or k + 1 of them (the share may fall on one of them)
my $saw_round_of = sub {
    my ( $k, $from ) = @_;
    my @all = $rounds->();
    my @r = @all[ $from .. $#all ];
    return grep { $_ == $k || $_ == $k + 1 } @r;
};
# the 4 rounds after the first round of k (or k + 1) bots since round $from: how many of them scored those bots
# again. The bot list re-reads the last 3 s of usage rows (a row can reach the table behind its watermark), and
# used to mark every bot of those 3 s once more: with a 1 s interval, 2 or 3 more rounds of the same bots.
my $repeats_after = sub {
    my ( $k, $from ) = @_;
    my @r;
    wait_for( sub { my @all = $rounds->(); @r = @all[ $from .. $#all ]; my ($i) = grep { $r[$_] == $k || $r[$_] == $k + 1 } 0 .. $#r;
                    defined $i && @r >= $i + 5 && ( @r = @r[ $i + 1 .. $i + 4 ] ) }, 20, '4 more rounds' ) or return 99;
    return scalar grep { $_ >= $k } @r;
};

subtest 'usage events this process ingests mark their bots' => sub {
    my @b = @ids[ 10, 20, 30 ];
    my $before = $updated->(@b);
    my $from = scalar $rounds->();
    my $trace = 'c' x 32;
    my $r = $srv->post( '/api/telemetry/usage-events',
        { events => [ map { { provider_id => 'runner', operation => 'runner.tick', status => 'OK', latency_ms => 3, trace_id => $trace, bot_id => $_ } } @b ] },
        $srv->service_headers );
    is( $r->{status}, 202, 'three bots ticked' );
    ok( wait_for( sub { my $now = $updated->(@b); !grep { $now->{$_} eq $before->{$_} } @b }, 20, 'rescored' ), 'the three bots are rescored' );
    ok( wait_for( sub { $saw_round_of->( 3, $from ) }, 10, 'small round' ), 'by a round of those bots and the share, not of all' );
    # one repeat is allowed: a round that starts between the event's acceptance and its commit scores the bots
    # without it, and the next list finds the late row
    cmp_ok( $repeats_after->( 3, $from ), '<=', 1, 'and not again by the rounds after it (each row is counted once)' );
};

subtest 'usage rows another instance wrote mark their bots (watermark probe)' => sub {
    my @b = @ids[ 40, 41, 42, 43 ];
    my $before = $updated->(@b);
    my $from = scalar $rounds->();
    my $vals = join ',', map {"('runner', 'runner.tick', 'OK', '" . ( 'd' x 32 ) . "', gh_now(), '$_')"} @b;
    psql_rows( $db, "INSERT INTO integration_usage_events (provider_id, operation, status, trace_id, created_at, bot_id) VALUES $vals" );
    ok( wait_for( sub { my $now = $updated->(@b); !grep { $now->{$_} eq $before->{$_} } @b }, 20, 'rescored' ), 'the four bots are rescored' );
    ok( wait_for( sub { $saw_round_of->( 4, $from ) }, 10, 'small round' ), 'by a round of those bots and the share, not of all' );
    is( $repeats_after->( 4, $from ), 0, 'and not again by the rounds after it (each row is counted once)' );
};

is( $srv->stop, 0, 'stopped' );
done_testing;
