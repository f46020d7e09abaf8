#!/usr/bin/env perl
# runtime/tools/include_graph.pl [--cycles] [DIR] — the include graph of DIR (default runtime) and its circles.
#
# 1. The file graph: every DIR/*.c and DIR/*.h with the local headers it includes (#include "x.h" naming a
#    file of DIR), one line per file: "runtime/status.c -> clock.h config.h db.h ...".
# 2. The module graph (module = file stem; an edge a -> b when a.c or a.h includes b.h, a != b) and its
#    strongly connected components of more than one module (Tarjan): each is a circle, printed with the
#    edges inside it. A DAG prints "no cycles".
# --cycles prints part 2 only. Always exits 0 (a report; runtime/tools/layers.pl is the check).
use strict;
use warnings;

my $only_cycles = @ARGV && $ARGV[0] eq '--cycles' ? shift @ARGV : 0;
my $dir = shift @ARGV // 'runtime';
$dir =~ s{/+\z}{} unless $dir eq '/';
opendir my $dh, $dir or die "include_graph.pl: cannot read directory $dir: $!\n";
my @files = sort grep { /\.[ch]\z/ && -f "$dir/$_" } readdir $dh;
closedir $dh;
my %headers = map { $_ => 1 } grep {/\.h\z/} @files;

# local_includes($path) → the local headers the file includes, in order, each once
sub local_includes {
    my ($path) = @_;
    open my $fh, '<', $path or die "include_graph.pl: cannot read $path: $!\n";
    my ( @inc, %seen );
    while ( my $line = <$fh> ) {
        push @inc, $1 if $line =~ /^\s*#\s*include\s*"([^"\/]+\.h)"/ && $headers{$1} && !$seen{$1}++;
    }
    close $fh;
    return @inc;
}

sub stem { ( my $s = $_[0] ) =~ s/\.[ch]\z//; $s }

my ( %edges, %modules );
print "# include graph of $dir/ (file -> local headers)\n" unless $only_cycles;
for my $f (@files) {
    my @inc = local_includes("$dir/$f");
    print "$dir/$f ->", ( map {" $_"} @inc ), "\n" unless $only_cycles;
    my $m = stem($f);
    $modules{$m} = 1;
    $edges{$m}{ stem($_) } = 1 for grep { stem($_) ne $m } @inc;
}

# Tarjan's strongly connected components, visiting modules and successors in name order (stable output)
my ( $index, %idx, %low, %on, @stack, @sccs ) = (0);
sub visit {
    my ($v) = @_;
    $idx{$v} = $low{$v} = $index++;
    push @stack, $v;
    $on{$v} = 1;
    for my $w ( sort keys %{ $edges{$v} || {} } ) {
        if ( !exists $idx{$w} ) {
            visit($w);
            $low{$v} = $low{$w} if $low{$w} < $low{$v};
        } elsif ( $on{$w} ) {
            $low{$v} = $idx{$w} if $idx{$w} < $low{$v};
        }
    }
    return unless $low{$v} == $idx{$v};
    my @scc;
    while (1) {
        my $w = pop @stack;
        $on{$w} = 0;
        push @scc, $w;
        last if $w eq $v;
    }
    push @sccs, [ sort @scc ] if @scc > 1;
}
visit($_) for grep { !exists $idx{$_} } sort keys %modules;

@sccs = sort { @$b <=> @$a || $a->[0] cmp $b->[0] } @sccs;
print "# module cycles of $dir/ (strongly connected components; edge a -> b when a.c or a.h includes b.h)\n";
my $n = 0;
for my $scc (@sccs) {
    my %in = map { $_ => 1 } @$scc;
    printf "cycle %d (%d modules): %s\n", ++$n, scalar @$scc, join( ' ', @$scc );
    for my $a (@$scc) {
        my @to = grep { $in{$_} } sort keys %{ $edges{$a} || {} };
        print "  $a -> @to\n" if @to;
    }
}
print $n ? "# $n cycles\n" : "# no cycles\n";
exit 0;
