package Gatehouse::Property;
# Random fill sequences for the positions property (issue 20), shared by spec/e2e/58_positions_property.t and the
# acceptance pack: generate N bots' orders and partial fills (seeded), apply the fills from several concurrent psql
# sessions through gh_apply_fill (the one fill path), then recompute every position from its fills in application
# order (fills.seq) with an independent average-cost model and list the positions that differ.
use strict;
use warnings;
use Exporter 'import';
use File::Temp qw(tempfile);
use Gatehouse::Test qw(psql_rows run_cmd);

our @EXPORT_OK = qw(fill_sequences load_sequences apply_concurrently recompute_mismatches);

sub _uuid { sprintf '%08x-%04x-4%03x-8%03x-%012x', map { int rand $_ } 2**32, 2**16, 2**12, 2**12, 2**48 }

# fill_sequences($n, $seed) → { bots => [ids], orders => [[id, bot, side, qty]], fills => [[bot index, order id, qty, price]] }:
# 1–4 orders per bot (BUY or SELL, 1–5 contracts), each filled in random chunks at a price that walks in ticks, so
# positions open, add, close partially, flatten and reverse.
sub fill_sequences {
    my ( $n, $seed ) = @_;
    srand($seed);
    my ( @bots, @orders, @fills );
    for my $b ( 1 .. $n ) {
        my $bot = _uuid();
        push @bots, $bot;
        my $price = 5000 + int( rand 400 );
        for ( 1 .. 1 + int rand 4 ) {
            my ( $id, $qty, $side ) = ( _uuid(), 1 + int rand 5, rand() < 0.5 ? 'BUY' : 'SELL' );
            push @orders, [ $id, $bot, $side, $qty ];
            my $left = $qty;
            while ( $left > 0 ) {
                my $q = 1 + int rand $left;
                $price += ( int( rand 41 ) - 20 ) * 0.25;
                push @fills, [ $b, $id, $q, $price ];
                $left -= $q;
            }
        }
    }
    return { bots => \@bots, orders => \@orders, fills => \@fills };
}

# Runs a (large) SQL text through psql -f; dies on an error.
sub _sql_file {
    my ( $db, $sql ) = @_;
    my ( $fh, $file ) = tempfile( 'gh-prop-XXXXXX', TMPDIR => 1, UNLINK => 1 );
    print $fh $sql;
    close $fh;
    my ( $rc, undef, $e ) = run_cmd( [ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $db, '-f', $file ], timeout => 120 );
    die "psql -f failed: $e" if $rc != 0;
}

# The bots (PAPER, flip, ESZ6) and their orders (SUBMITTED PAPER market orders) of $seq, in database $db.
sub load_sequences {
    my ( $db, $seq, $prefix ) = @_;
    $prefix //= 'p';
    my $b = $seq->{bots};
    my $bot_rows = join ",\n", map { "('$b->[$_]', '$prefix$_', 'flip', 'ESZ6', '1m')" } 0 .. $#$b;
    my $ord_rows = join ",\n", map { "('$_->[0]', '$_->[1]', 'PAPER', 'ESZ6', '$_->[2]', $_->[3], 'MARKET', 'SUBMITTED', 'prop')" } @{ $seq->{orders} };
    _sql_file( $db, "INSERT INTO bots (id, name, strategy, symbol, timeframe) VALUES $bot_rows;\n"
          . "INSERT INTO orders (id, bot_id, stage, symbol, side, qty, order_type, status, trace_id) VALUES $ord_rows;\n" );
}

# Deals the fills round-robin to $sessions psql sessions started at once (each fill its own transaction through
# gh_apply_fill). Returns the number of sessions that failed.
sub apply_concurrently {
    my ( $db, $seq, $sessions ) = @_;
    my @scripts = map { '' } 1 .. $sessions;
    my $k = 0;
    $scripts[ $k++ % $sessions ] .= "SELECT gh_apply_fill('$_->[1]', $_->[2], $_->[3], true, 'prop');\n" for @{ $seq->{fills} };
    my @pids;
    for my $s (@scripts) {
        my ( $fh, $file ) = tempfile( 'gh-prop-XXXXXX', TMPDIR => 1, UNLINK => 1 );
        print $fh $s;
        close $fh;
        my $pid = fork // die "fork: $!";
        if ( !$pid ) {
            open STDOUT, '>', '/dev/null';
            exec 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $db, '-f', $file;
            exit 127;
        }
        push @pids, $pid;
    }
    my $failed = 0;
    for (@pids) { waitpid $_, 0; $failed++ if $? != 0 }
    return $failed;
}

# Recomputes every position of $seq from its fills in fills.seq order (average cost) and compares it with the
# positions table: [bot, want {qty, avg, realized}, got [bot, qty, avg, realized] | undef, sum of fills.realized_pnl]
# for each position that differs (qty exactly; average price and realized P&L within 1e-6; the position's realized
# P&L must also equal the sum of its fills').
sub recompute_mismatches {
    my ( $db, $seq ) = @_;
    my %side = map { $_->[0] => $_->[2] } @{ $seq->{orders} };
    my ( %pos, %fill_realized );
    for my $r ( psql_rows( $db, "SELECT bot_id, order_id, qty, price, realized_pnl FROM fills WHERE trace_id = 'prop' ORDER BY seq" ) ) {
        my ( $bot, $oid, $q, $px, $real ) = @$r;
        my $p = $pos{$bot} //= { qty => 0, avg => 0, realized => 0 };
        my $f = $side{$oid} eq 'BUY' ? $q : -$q;
        my $realized = 0;
        if ( $p->{qty} == 0 || ( $p->{qty} > 0 ) == ( $f > 0 ) ) {
            $p->{avg} = ( $p->{avg} * abs( $p->{qty} ) + $px * abs($f) ) / ( abs( $p->{qty} ) + abs($f) );
        } else {
            my $closing = abs( $p->{qty} ) < abs($f) ? abs( $p->{qty} ) : abs($f);
            $realized = $closing * ( $px - $p->{avg} ) * ( $p->{qty} > 0 ? 1 : -1 );
            my $new = $p->{qty} + $f;
            $p->{avg} = $new == 0 ? 0 : ( ( $new > 0 ) != ( $p->{qty} > 0 ) ) ? $px : $p->{avg};
        }
        $p->{qty} += $f;
        $p->{realized} += $realized;
        $fill_realized{$bot} += $real;
    }
    my %got = map { $_->[0] => $_ } psql_rows( $db, "SELECT bot_id, qty, avg_price, realized_pnl FROM positions WHERE stage = 'PAPER'" );
    my @bad;
    for my $bot ( @{ $seq->{bots} } ) {
        my ( $want, $g ) = ( $pos{$bot}, $got{$bot} );
        push @bad, [ $bot, $want, $g, $fill_realized{$bot} ]
          if !$g || !$want || $g->[1] != $want->{qty} || abs( $g->[2] - $want->{avg} ) > 1e-6
          || abs( $g->[3] - $want->{realized} ) > 1e-6 || abs( $g->[3] - $fill_realized{$bot} ) > 1e-6;
    }
    return @bad;
}

1;
