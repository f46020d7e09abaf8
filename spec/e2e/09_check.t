# `gatehouse check` validates the policies offline (like nginx -t): 0 and "ok" for the
# real files; non-zero and a "file:line: message" error for each broken variant.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;

my $bin = gatehouse_bin();
my $F   = quotemeta $GH{providers_file};

my ( $rc, $out, $err ) = run_cmd( [ $bin, $GH{cmd_check} ], env => { $GH{env_home} => repo_root() } );
is( $rc, 0, 'check passes on the repo policies' ) or diag "$out$err";
like( $out, qr/^ok$/m, 'and prints ok' );

my $home = copy_home();
( $rc, $out, $err ) = run_cmd( [ $bin, $GH{cmd_check} ], env => { $GH{env_home} => $home } );
is( $rc, 0, 'check passes on a copied home' ) or diag "$out$err";

my $good = read_file("$home/$GH{providers_file}");
my ($dup) = duplicate_provider( $good, 'polygon' );
my $AT = qr/(?:^|\s|\/)${F}:\d+: \S/m;
my @cases = (
    [ 'syntax error', "return {\n  providers = {\n    { id = 'x' \n", qr/(?:^|\s|\/)${F}:\d+: \S/m, qr/expected|near|unfinished/ ],
    [ 'duplicate provider id', $dup, $AT, qr/duplicate.*polygon|polygon.*duplicate/i ],
    [ 'unknown category', set_provider_field( $good, 'openai', 'category', '"crystal_ball"' ), $AT,
        qr/crystal_ball/ ],
    [ 'not a table', "return 42\n", qr/${F}/, qr/table/i ],
    [ 'infinite loop', "while true do end\n" . $good, qr/${F}/, qr/instruction|budget/i ],
);
for my $case (@cases) {
    my ( $name, $src, $where, $what ) = @$case;
    write_file( "$home/$GH{providers_file}", $src );
    my ( $c, $o, $e ) = run_cmd( [ $bin, $GH{cmd_check} ], env => { $GH{env_home} => $home }, timeout => 30 );
    isnt( $c, 0, "$name: check exits non-zero" );
    unlike( $o, qr/^ok$/m, "$name: does not print ok" );
    like( "$o$e", $where, "$name: error has the form \"file:line: message\"" );
    like( "$o$e", $what, "$name: error says what is wrong" ) or diag "$o$e";
}

# check needs no database and no network
write_file( "$home/$GH{providers_file}", $good );
( $rc, $out, $err ) = run_cmd( [ $bin, $GH{cmd_check} ],
    env => { $GH{env_home} => $home, $GH{env_db} => 'postgresql:///none?host=/nonexistent' } );
is( $rc, 0, 'check does not touch the database' ) or diag "$out$err";

done_testing;
