# The layering tools of runtime/tools (README "Layers and the include graph"), on fixture directories:
#   layers.pl fails (exit 1, one line per violation) on a domain file including an http header and on a file of
#   no layer, and passes (exit 0) on a tree whose includes only go down; include_graph.pl prints a fixture's
#   include lines and names its cycle. On the real runtime/ only the shape of layers.pl's answer is checked
#   (today's tree still has violations that other changes remove).
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;
use File::Temp qw(tempdir);

my $ROOT   = repo_root();
my $LAYERS = "$ROOT/runtime/tools/layers.pl";
my $GRAPH  = "$ROOT/runtime/tools/include_graph.pl";

# fixture(name => text, ...) → a new directory holding those files
sub fixture {
    my (%files) = @_;
    my $dir = tempdir( 'gh-layers-XXXXXX', TMPDIR => 1, CLEANUP => 1 );
    write_file( "$dir/$_", $files{$_} ) for keys %files;
    return $dir;
}

sub run { my @argv = @_; my ( $rc, $out, $err ) = run_cmd( [ 'perl', @argv ], timeout => 30 ); ( $rc, $out, $err ) }

subtest 'layers.pl: a domain file including an http header fails' => sub {
    my $dir = fixture(
        'db.h'     => "int db_x(void);\n",
        'verify.h' => "#include \"db.h\"\n",
        'verify.c' => "#include \"verify.h\"\n#include \"http.h\"\n#include <stdio.h>\n",
        'http.h'   => "#include \"verify.h\"\n",
        'http.c'   => "#include \"http.h\"\n",
    );
    my ( $rc, $out ) = run( $LAYERS, $dir );
    is( $rc, 1, 'exit 1' );
    is( $out, "$dir/verify.c includes http.h (domain → http)\n", 'one line naming the file, the header and the layers' );
};

subtest 'layers.pl: a file of no layer fails' => sub {
    my $dir = fixture( 'db.h' => "\n", 'mystery.c' => "#include \"db.h\"\n" );
    my ( $rc, $out ) = run( $LAYERS, $dir );
    is( $rc, 1, 'exit 1' );
    like( $out, qr{^\Q$dir\E/mystery\.c is in no layer}m, 'the unplaced file is named' );
};

subtest 'layers.pl: includes that only go down pass' => sub {
    my $dir = fixture(
        'clock.h'   => "\n",
        'policy.h'  => "#include \"clock.h\"\n",
        'status.h'  => "#include \"policy.h\"\n",
        'status.c'  => "#include \"status.h\"\n#include \"clock.h\"\n",
        'api_x.h'   => "\n",
        'api_x.c'   => "#include \"api_x.h\"\n#include \"status.h\"\n#include \"http.h\"\n",
        'http.h'    => "\n",
        'main.c'    => "#include \"api_x.h\"\n#include \"http.h\"\n",
    );
    my ( $rc, $out ) = run( $LAYERS, $dir );
    is( $rc, 0, 'exit 0' );
    like( $out, qr/no upward include/, 'a summary line' );
};

subtest 'layers.pl on runtime/: every line is a violation or an unplaced file' => sub {
    my ( $rc, $out ) = run( $LAYERS, "$ROOT/runtime" );
    ok( $rc == 0 || $rc == 1, "exit 0 or 1 ($rc)" );
    my @bad = grep { !m{^\Q$ROOT\E/runtime/\w+\.[ch] (?:includes \w+\.h \(\w+ → \w+\)|is in no layer .*)$} }
      grep { $rc == 1 } split /\n/, $out;
    is( scalar @bad, 0, 'no other output' ) or diag( join "\n", @bad );
    note($out);
};

subtest 'include_graph.pl: the include lines and the cycle of a fixture' => sub {
    my $dir = fixture(
        'a.h' => "#include \"b.h\"\n",
        'a.c' => "#include \"a.h\"\n",
        'b.h' => "\n",
        'b.c' => "#include \"b.h\"\n#include \"a.h\"\n",
        'c.c' => "#include \"a.h\"\n#include <stdlib.h>\n",
    );
    my ( $rc, $out ) = run( $GRAPH, $dir );
    is( $rc, 0, 'exit 0' );
    like( $out, qr{^\Q$dir\E/b\.c -> b\.h a\.h$}m, 'file line: b.c -> b.h a.h' );
    like( $out, qr{^\Q$dir\E/c\.c -> a\.h$}m, 'file line: c.c -> a.h (system headers left out)' );
    like( $out, qr{^cycle 1 \(2 modules\): a b$}m, 'the cycle a <-> b is printed' );
    like( $out, qr{^# 1 cycles$}m, 'and only it (c is outside the cycle)' );
    my ( undef, $dag ) = run( $GRAPH, '--cycles', fixture( 'a.h' => "\n", 'b.c' => "#include \"a.h\"\n" ) );
    like( $dag, qr/^# no cycles$/m, 'a DAG prints no cycles' );
};

done_testing;
