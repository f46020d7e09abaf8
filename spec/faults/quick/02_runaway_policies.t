# Runaway policies at run time (docs/faults.md "Policies"): a gates.lua that loads and validates fine but whose
# evaluate() and safe_start() raise an error, loop forever, exhaust memory, or return garbage whenever they
# are called — also wrapped in pcall/xpcall, which once swallowed the budget errors. (Spec e2e/08 covers the same faults at load time.) For each: the sandbox budget stops every call
# (instruction budget / wall-clock deadline / memory cap), the gates fail closed — /api/system/status turns
# BLOCKED with a SEV-1 POLICY_ERROR blocker within 2 s and /api/gates/check answers allowed:false — the server
# keeps serving (/healthz answers, its slowest answer bounded by the per-call deadline), its peak resident
# memory stays within the policy memory cap plus a margin, and restoring gates.lua restores the gates.
use strict;
use warnings;
use List::Util qw(max);
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;
use Gatehouse::Faults;
use Time::HiRes qw(time sleep);

my $DEADLINE_MS = 300;    # GATEHOUSE_POLICY_DEADLINE_MS for this server (default 1000): the bound on one call
my $MEM_MB      = 32;     # GATEHOUSE_POLICY_MEM_MB (default 64)
my $home = copy_home();
my $file = "$home/gates.lua";
my $good = read_file($file);
like( $good, qr/\nreturn M\s*\z/, 'gates.lua ends with "return M" (the faults are spliced in before it)' );

my $srv = start_server(
    home => $home,
    env  => { GATEHOUSE_POLICY_DEADLINE_MS => $DEADLINE_MS, GATEHOUSE_POLICY_MEM_MB => $MEM_MB, GATEHOUSE_POLICY_WATCH_MS => 0 }
);
my ( undef, $hwm0 ) = proc_mem_kb( $srv->pid );

sub status { $srv->get('/api/system/status')->{json} || {} }
sub has_policy_error { grep { ( $_->{code} // '' ) eq 'POLICY_ERROR' } @{ $_[0]{blockers} || [] } }

sub reload_with {
    my ($src) = @_;
    my $v0 = $srv->policy->{version};
    write_file( $file, $src );
    $srv->signal('HUP');
    return wait_for( sub { my $p = $srv->policy; $p && $p->{version} ne $v0 && !defined $p->{last_reload_error} }, 15, 'reload' );
}

ok( !has_policy_error( status() ), 'to begin with: no POLICY_ERROR blocker' );

my %body = (
    'raises an error' => 'error("spec fault: gates exploded")',
    'loops forever'   => 'while true do end',
    'loops in a pcall-proof way' => 'while true do pcall(function() while true do end end) end',
    'loops in its own xpcall handler' => 'while true do xpcall(function() while true do end end, function() while true do end end) end',
    'exhausts memory' => 'local hog, i = {}, 0 while true do i = i + 1; hog[i] = string.rep("x", 1048576) .. i end',
    'returns garbage' => 'return "not a decision"',
);
my %want = (
    'raises an error'            => qr/gates exploded/,
    'loops forever'              => qr/instruction|budget|deadline|time/i,
    'loops in a pcall-proof way' => qr/instruction|budget|deadline|time/i,
    'loops in its own xpcall handler' => qr/instruction|budget|deadline|time/i,
    'exhausts memory'            => qr/memory/i,
    'returns garbage'            => qr/malformed/i,
);

for my $name ( sort keys %body ) {
    subtest "gates.lua $name" => sub {
        my $fault = "M.evaluate = function(snapshot) $body{$name} end\n"
          . "M.safe_start = function(req, snapshot) $body{$name} end\n";
        ( my $src = $good ) =~ s/\nreturn M\s*\z/\n-- spec fault: $name\n${fault}return M\n/;
        ok( reload_with($src), 'the faulty gates.lua loads (it is valid Lua; the fault is in what it does)' ) or return;
        my $t0 = time;
        my $st = wait_for( sub { my $s = status(); ( $s->{system_status} // '' ) eq 'BLOCKED' && has_policy_error($s) ? $s : undef },
            5, 'POLICY_ERROR' );
        my $took = time - $t0;
        ok( $st, 'system status BLOCKED with a POLICY_ERROR blocker' ) or return;
        cmp_ok( $took, '<', 2, sprintf( '... within 2 s (%.2f s)', $took ) );
        my ($b) = grep { $_->{code} eq 'POLICY_ERROR' } @{ $st->{blockers} };
        is( $b->{severity}, 'SEV-1', 'the blocker is SEV-1' );
        like( $b->{reason_human}, $want{$name}, 'its reason names what stopped the call: ' . ( split /\n/, $b->{reason_human} // '' )[0] );
        is( $st->{autonomy_allowed} ? 1 : 0, 0, 'autonomy not allowed' );

        my $g = $srv->request( 'POST', '/api/gates/check', { body => { stage => 'PAPER' }, timeout => 10 } );
        is( $g->{status}, 200, '/api/gates/check answers' );
        is( $g->{json}{allowed} ? 1 : 0, 0, '... and the gate is closed (allowed false)' );
        ok( ( grep { ( $_->{code} // '' ) eq 'POLICY_ERROR' } @{ $g->{json}{blockers} || [] } ), '... because of POLICY_ERROR' );

        my @lat;
        for ( 1 .. 15 ) {
            my $t = time;
            my $h = $srv->request( 'GET', $GH{healthz}, { timeout => 5 } );
            push @lat, $h->{status} == 200 ? time - $t : 99;
            sleep 0.1;
        }
        my $worst = max(@lat);    # (sort { $b <=> $a } would read the lexical $b above)
        cmp_ok( $worst, '<', 2 * $DEADLINE_MS / 1000 + 0.5,
            sprintf( '/healthz keeps answering; slowest of 15: %.0f ms (one policy call may run %d ms)', 1000 * $worst, $DEADLINE_MS ) );
        ok( $srv->log_records( msg => 'gate policy failed' ), 'the failure is logged' );
        my ( undef, $hwm ) = proc_mem_kb( $srv->pid );
        my $growth = ( $hwm - $hwm0 ) / 1024;
        SKIP: {
            skip sprintf( 'peak RSS (+%.1f MB) under AddressSanitizer: its quarantine keeps freed memory resident', $growth ), 1
              if binary_is_asan();
            cmp_ok( $growth, '<', $MEM_MB + 32, sprintf( 'peak RSS grew by %.1f MB (policy cap %d MB)', $growth, $MEM_MB ) );
        }

        ok( reload_with($good), 'the good gates.lua is restored' ) or return;
        ok( wait_for( sub { !has_policy_error( status() ) }, 5, 'recovery' ), 'the POLICY_ERROR blocker is gone' );
        ok( $srv->alive, 'the server is still running' );
    };
}

is( $srv->stop, 0, 'SIGTERM: clean exit' );
done_testing;
