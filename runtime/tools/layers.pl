#!/usr/bin/env perl
# runtime/tools/layers.pl [DIR] — the layering rule of runtime/ (README "Layers"), run by `make check`.
#
# Every file DIR/*.c and DIR/*.h belongs to a module (its file stem) and every module to one layer of the table
# below, lowest first: core → lua → domain → http → main. A file may include the headers of its own layer and of
# the layers below it; including a header of a higher layer is a violation, and so is a file whose module is
# in no layer (every new file must be placed). Only local headers count: #include "x.h" naming a file of DIR.
#
# Output: one line per violation, sorted —
#   runtime/status.c includes api_integrations.h (domain → http)
#   runtime/newfile.c is in no layer (add its module to the table of runtime/tools/layers.pl)
# then exit 1; with none, one summary line and exit 0. Exit 2 when DIR cannot be read. DIR defaults to runtime.
use strict;
use warnings;
use utf8;

# ---- the layers: the one place they are written down (a name ending in * is a prefix) ----
my @LAYERS = (
    [ core   => qw(clock id idset heap log secret config db fetch resp textbuf metrics body_cache pnl) ],
    [ lua    => qw(sandbox sandbox_match sandbox_json lrt policy) ],
    [ domain => qw(providers provider_call probe integrations instruments verify telemetry telemetry_spill usage_stats status auth totp
                   bars markets marketdata llm broker orders reconcile risk_watch instances breaker cadence bar_share bar_store tick_batch runner
                   fleet scheduler supervisor autonomy backtest variables alerts jobs migrate) ],
    [ http   => qw(http session static api api_*) ],
    [ main   => qw(main) ],
);

binmode STDOUT, ':encoding(UTF-8)';
binmode STDERR, ':encoding(UTF-8)';

# layer_of($module) → (rank, name) of its layer, or () when no layer holds it. Exact names win over prefixes.
sub layer_of {
    my ($m) = @_;
    for my $exact ( 1, 0 ) {
        for my $rank ( 0 .. $#LAYERS ) {
            my ( $name, @members ) = @{ $LAYERS[$rank] };
            for my $p (@members) {
                my $prefix = $p =~ /\*\z/;
                next if $exact == $prefix;
                return ( $rank, $name ) if $prefix ? index( $m, substr( $p, 0, -1 ) ) == 0 : $m eq $p;
            }
        }
    }
    return;
}

# local_includes($path, \%headers) → the local headers the file includes (names of DIR's *.h), in order
sub local_includes {
    my ( $path, $headers ) = @_;
    open my $fh, '<', $path or die "layers.pl: cannot read $path: $!\n";
    my @inc;
    while ( my $line = <$fh> ) {
        push @inc, $1 if $line =~ /^\s*#\s*include\s*"([^"\/]+\.h)"/ && $headers->{$1};
    }
    close $fh;
    return @inc;
}

my $dir = shift @ARGV // 'runtime';
$dir =~ s{/+\z}{} unless $dir eq '/';
opendir my $dh, $dir or do { print STDERR "layers.pl: cannot read directory $dir: $!\n"; exit 2 };
my @files = sort grep { /\.[ch]\z/ && -f "$dir/$_" } readdir $dh;
closedir $dh;
my %headers = map { $_ => 1 } grep {/\.h\z/} @files;

my @violations;
for my $f (@files) {
    ( my $m = $f ) =~ s/\.[ch]\z//;
    my ( $rank, $layer ) = layer_of($m);
    if ( !defined $rank ) {
        push @violations, "$dir/$f is in no layer (add its module to the table of runtime/tools/layers.pl)";
        next;
    }
    for my $h ( local_includes( "$dir/$f", \%headers ) ) {
        ( my $hm = $h ) =~ s/\.h\z//;
        my ( $hrank, $hlayer ) = layer_of($hm);
        next unless defined $hrank;    # the header's own file is reported as unplaced
        push @violations, "$dir/$f includes $h ($layer → $hlayer)" if $hrank > $rank;
    }
}

if (@violations) {
    print "$_\n" for @violations;
    exit 1;
}
printf "layers.pl: %d files of %s in %d layers (%s), no upward include\n", scalar @files, $dir, scalar @LAYERS,
  join( ' → ', map { $_->[0] } @LAYERS );
exit 0;
