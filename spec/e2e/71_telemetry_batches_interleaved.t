# Telemetry batches when the tables interleave (issue 18, the hour-long soak): every verify queues three
# rows in turn — a usage event, a verification and a system event — so a writer that batched only
# consecutive rows of one table sent one-row batches, fell behind under load and grew its queue (the soak's
# RSS rose from 48 to 126 MB). A batch now picks its table's rows from the first rows queued, keeping each
# table's order. The spec runs rounds of verify-all and reads the writer's counters on /api/system/status:
# the rows committed per queue batch must be well above one, and the rows reach their tables.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;
use Gatehouse::Sim;
use Gatehouse::Fixtures;

my $ROUNDS = 6;
my $sim    = start_sim( quiet => 1 );
my $srv    = start_server( env => { %{ $sim->base_env }, GATEHOUSE_ALERTS => 0, GATEHOUSE_BACKGROUND_VERIFY => 0,
        GATEHOUSE_VERIFY_COOLDOWN_MS => 0, GATEHOUSE_LOG_LEVEL => 'warn' }, home => fixture_home(), clock => AT_OPEN );

sub writer {    # the telemetry writer's counters, once its queue is empty and nothing is in flight
    my %w;
    wait_for(
        sub {
            my $t = $srv->get('/api/system/status')->{json}{telemetry} or return 0;
            %w = %$t;
            return $t->{queue_depth} == 0 && $t->{spill_bytes} == 0;
        },
        30, 'the telemetry queue drained' );
    return \%w;
}

sub table_rows {
    my ($row) = psql_rows( $srv->db, 'SELECT (SELECT count(*) FROM integration_usage_events), '
          . '(SELECT count(*) FROM verifications), (SELECT count(*) FROM system_events)' );
    return $row->[0] + $row->[1] + $row->[2];
}

my $before = writer();
my $rows0  = table_rows();
for my $round ( 1 .. $ROUNDS ) {
    is( $srv->post( '/api/integrations/verify', { all => \1 } )->{status}, 200, "verify-all round $round" );
}
my $after = writer();
cmp_ok( table_rows() - $rows0, '>=', 3 * scalar(@SIM_PROVIDER_IDS) * $ROUNDS, 'the tables hold the rounds\' rows' );
my $rows    = $after->{written_total} - $before->{written_total};
my $batches = $after->{written_batches_total} - $before->{written_batches_total};
my $n_prov  = scalar @SIM_PROVIDER_IDS;
cmp_ok( $rows, '>=', 3 * $n_prov * $ROUNDS, "$ROUNDS verify-all rounds wrote their usage, verification and system rows ($rows)" );
cmp_ok( $batches, '>', 0, "in $batches queue batches" );
cmp_ok( $rows / $batches, '>=', 3, sprintf( 'rows per batch %.1f: a batch takes its table\'s rows past the other tables\' (one-row batches before)', $rows / $batches ) );
is( $after->{dropped_total}, 0, 'no row dropped' );

done_testing;
