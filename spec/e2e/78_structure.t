#!/usr/bin/env perl
# 78_structure.t — the structure rules of issue 19 hold on the tree itself, in every run of the suite (CI runs
# `make test`, not `make check`): runtime/ is formatted as .clang-format says, no file includes a header of a
# higher layer (runtime/tools/layers.pl), and the module include graph has no cycle (runtime/tools/include_graph.pl).
use strict;
use warnings;
use Test::More;
use FindBin;
use File::Spec;

my $root = File::Spec->rel2abs("$FindBin::Bin/../..");
chdir $root or die "chdir $root: $!";

subtest 'runtime/ and spec/unit/ are formatted as .clang-format says' => sub {
    my $cf = `command -v clang-format 2>/dev/null`;
    chomp $cf;
    ok($cf, 'clang-format is installed (runtime/tools/deps.sh installs it)') or return;
    my @files = (glob('runtime/*.c'), glob('runtime/*.h'), glob('spec/unit/*.c'), glob('spec/unit/*.h'));
    cmp_ok(scalar @files, '>', 50, 'the C sources are found');
    my $out = `clang-format --dry-run -Werror @files 2>&1`;
    is($?, 0, 'clang-format --dry-run -Werror passes') or diag(substr($out, 0, 3000));
};

subtest 'no file includes a header of a higher layer' => sub {
    my $out = `perl runtime/tools/layers.pl runtime 2>&1`;
    is($?, 0, 'layers.pl runtime exits 0') or diag($out);
};

subtest 'the include graph of runtime/ has no cycle' => sub {
    my $out = `perl runtime/tools/include_graph.pl runtime 2>&1`;
    is($? >> 8, 0, 'include_graph.pl runs') or diag($out);
    like($out, qr{^runtime/runner\.c ->}m, 'it prints the graph (runner.c and its includes)');
    like($out, qr/^# no cycles$/m, 'and reports no cycle') or diag(join "\n", grep { /^cycle |^  / } split /\n/, $out);
};

done_testing;
