# Issue 21 (red team): Lua code that runs inside one C call escapes the instruction budget and the deadline.
# (1) a pathological pattern in string.find/match/gmatch/gsub held the event loop ~20 s; the sandbox's
#     matcher now counts its steps and raises, so a dry-run answers at once with the error and /healthz
#     keeps answering while it runs;
# (2) a __gc finalizer that loops froze the server for good when the dry-run generation was closed (and
#     SIGTERM was ignored); the sandbox's setmetatable now refuses __gc and __close.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Time::HiRes qw(time);
use POSIX ();
use Gatehouse::Test;

my $srv = start_server();
my $providers = read_file( repo_root() . '/providers.lua' );

# POSTs a dry-run in a child process and measures GET /healthz from this one while it runs.
# Returns (dry-run response, dry-run seconds, healthz status, healthz seconds).
sub dry_run_beside_healthz {
    my ($src) = @_;
    pipe( my $rd, my $wr ) or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if ( !$pid ) {
        close $rd;
        my $t0 = time;
        my $r  = $srv->request( 'POST', '/api/policy/dry-run',
            { body => { files => { 'providers.lua' => $src } }, timeout => 40, no_contract => 1 } );
        printf {$wr} "%.3f\t%s\t%s\n", time - $t0, $r->{status}, ( $r->{json} && $r->{json}{error} ) // '';
        close $wr;
        POSIX::_exit(0);
    }
    close $wr;
    # the dry-run is in flight once the server logged nothing new is hard to observe; /healthz is asked at
    # once and again after the child answered, and the slower of the two is the figure
    my $t0 = time;
    my $h  = $srv->request( 'GET', '/healthz', { timeout => 40 } );
    my $ht = time - $t0;
    my $line = <$rd> // '';
    waitpid( $pid, 0 );
    chomp $line;
    my ( $dt, $status, $error ) = split /\t/, $line, 3;
    return ( { status => $status, error => $error // '' }, $dt // 999, $h->{status}, $ht );
}

my @patterns = (
    [ 'find with ("a?"):rep(30) .. ("a"):rep(30)',
      'local s = string.rep("a", 30) .. "b"; string.find(s, ("a?"):rep(30) .. ("a"):rep(30))' ],
    [ 'nested .- on a long subject (match)',
      'local s = string.rep("x", 20000); s:match(".-.-.-.-y")' ],
    [ 'gsub with a backtracking pattern',
      'local s = string.rep("a", 5000); s:gsub("a*a*a*b", "")' ],
    [ 'gmatch with a backtracking pattern',
      'local s = string.rep("a", 5000); for _ in s:gmatch("a-a-a-b") do end' ],
    [ 'pcall around the runaway pattern in a loop',
      'local s = string.rep("a", 30) .. "b"; local p = ("a?"):rep(30) .. ("a"):rep(30); while true do pcall(string.find, s, p) end' ],
);

for my $case (@patterns) {
    my ( $name, $code ) = @$case;
    subtest "pattern: $name" => sub {
        my ( $r, $dt, $hs, $ht ) = dry_run_beside_healthz( "$code\n$providers" );
        diag( sprintf '%s: dry-run %.3f s, /healthz %.3f s', $name, $dt, $ht );
        is( $r->{status}, 200, 'the dry-run answers' );
        like( $r->{error}, qr/pattern|budget/i, 'with the error naming the bound' );
        cmp_ok( $dt, '<', 1.5, sprintf( 'within 1.5 s (%.3f s)', $dt ) );
        is( $hs, 200, '/healthz answers' );
        cmp_ok( $ht, '<', 1.5, sprintf( '/healthz within 1.5 s of the dry-run (%.3f s)', $ht ) );
    };
}

subtest 'patterns that stay within the bound still work in a dry-run' => sub {
    my $code = 'assert(("key=val"):match("^(%w+)=(%w+)$") == "key"); assert(select(2, ("a,b,c"):gsub(",", ";")) == 2)';
    my $r = $srv->post( '/api/policy/dry-run', { files => { 'providers.lua' => "$code\n$providers" } } );
    ok( $r->{json}{valid}, 'the candidate is valid' ) or diag( $r->{json}{error} );
};

subtest 'a __gc finalizer that loops is refused' => sub {
    my $code = 'local t = setmetatable({}, {__gc = function() while true do end end})';
    my ( $r, $dt, $hs, $ht ) = dry_run_beside_healthz( "$code\n$providers" );
    diag( sprintf '__gc: dry-run %.3f s, /healthz %.3f s', $dt, $ht );
    is( $r->{status}, 200, 'the dry-run answers' );
    like( $r->{error}, qr/__gc/, 'the error names __gc' );
    cmp_ok( $dt, '<', 1.5, sprintf( 'within 1.5 s (%.3f s)', $dt ) );
    is( $hs, 200, '/healthz answers' );
    my $t0 = time;
    is( $srv->request( 'GET', '/healthz', { timeout => 5 } )->{status}, 200, '/healthz answers after the generation was closed' );
    cmp_ok( time - $t0, '<', 1, 'at once' );
};

subtest '__close is refused too, and __gc cannot be slipped in through a second setmetatable' => sub {
    my $code = 'local mt = {}; local t = setmetatable({}, mt); mt.__gc = function() while true do end end; setmetatable(t, mt)';
    my $r = $srv->request( 'POST', '/api/policy/dry-run', { body => { files => { 'providers.lua' => "$code\n$providers" } }, timeout => 10 } );
    like( ( $r->{json} // {} )->{error} // '', qr/__gc/, 'the second setmetatable is refused' );
    $code = 'local t <close> = setmetatable({}, {__close = function() end})';
    $r = $srv->request( 'POST', '/api/policy/dry-run', { body => { files => { 'providers.lua' => "$code\n$providers" } }, timeout => 10 } );
    like( ( $r->{json} // {} )->{error} // '', qr/__close/, '__close is refused' );
};

my $t0 = time;
is( $srv->stop, 0, 'SIGTERM: exit status 0' );
cmp_ok( time - $t0, '<', 5, sprintf( 'stopped within 5 s of SIGTERM (%.2f s)', time - $t0 ) );
done_testing;
