# Policies run under an instruction budget and a memory cap: a providers.lua that
# loops forever or allocates without bound fails its reload with an error naming the
# budget, and the server goes on answering with the previous generation.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;
use Time::HiRes qw(time);

my $home = copy_home();
my $file = "$home/$GH{providers_file}";
my $good = read_file($file);
my $srv  = start_server( home => $home );
my $v0   = $srv->policy->{version};

my @cases = (
    [ 'infinite loop', "while true do end\n" . $good, qr/instruction|budget/i ],
    [ 'unbounded memory',
        "local hog, i = {}, 0\nwhile true do i = i + 1; hog[i] = string.rep('x', 1048576) .. i end\n" . $good,
        qr/memory/i ],
    [ 'unbounded table of small values',
        "local t = {}\nfor i = 1, math.maxinteger do t[i] = { i } end\n" . $good,
        qr/memory|instruction|budget/i ],
);

for my $case (@cases) {
    my ( $name, $src, $want ) = @$case;
    subtest $name => sub {
        write_file( $file, $src );
        my $t0 = time;
        $srv->signal('HUP');
        my $h = $srv->request( 'GET', $GH{healthz}, { timeout => 10 } );
        is( $h->{status}, 200, 'healthz answers while/after the runaway policy runs' );
        my $p = wait_for( sub { my $x = $srv->policy; $x && $x->{last_reload_error} ? $x : undef }, 15, "$name rejected" );
        ok( $p, 'the reload is rejected' ) or return;
        my $took = time - $t0;
        cmp_ok( $took, '<', 10, sprintf( 'rejected within 10 s (%.1f s)', $took ) );
        like( $p->{last_reload_error}, $want, 'the error names the budget' );
        like( $p->{last_reload_error}, qr/\Q$GH{providers_file}\E/, 'the error names the file' );
        is( $p->{version}, $v0, 'the previous generation stays' );
        my $by = $srv->providers;
        is( scalar keys %$by, 17, 'the status endpoint still serves the 17 providers' );
        is( $srv->get( $GH{readyz} )->{status}, 200, 'still ready' );

        my $r = $srv->request( 'POST', $GH{policy_reload}, { body => { reason => "spec: $name" }, timeout => 15 } );
        is( $r->{status}, 200, 'POST reload answers' );
        is( $r->{json}{error_code}, 'POLICY_ERROR', 'POST reload: POLICY_ERROR' );
        ok( $r->{json} && !$r->{json}{success}, 'POST reload: success false' );

        write_file( $file, $good );
        $srv->signal('HUP');
        ok( wait_for( sub { my $x = $srv->policy; $x && !defined $x->{last_reload_error} }, 10, 'restored' ),
            'the good file loads again' );
    };
}

ok( $srv->alive, 'the server survived the runaway policies' );
is( $srv->stop, 0, 'SIGTERM: exit status 0' );
done_testing;
