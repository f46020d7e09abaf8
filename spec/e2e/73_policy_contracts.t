# Policy contracts and isolation (issue 19, review §6.5): a policy file that lacks a function C calls is
# rejected by `gatehouse check` and by a reload (the old generation keeps serving, last_reload_error names the
# file and the function, and the system status shows the POLICY_ERROR blocker in the same instant; a good
# reload clears it as fast); the standard libraries are read-only and every file has its own environment, so one
# file cannot change math.floor for gates.lua; scripts/lib/*.lua is shared as the read-only `lib`; and
# /api/system/status scheduler.loop_health judges with gates.lua's own thresholds.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;

my $home  = copy_home();
my $gates = "$home/gates.lua";
my $good  = read_file($gates);
my $nodecide = "$home/scripts/strategies/nodecide.lua";
my $probe    = "$home/scripts/zz_probe.lua";

sub check { my ( $code, $out, $err ) = run_cmd( [ gatehouse_bin(), 'check' ], env => { GATEHOUSE_HOME => $home }, cwd => $home ); return ( $code, "$out$err" ) }

# ---- gatehouse check ---------------------------------------------------------------------------------------
subtest 'gatehouse check enforces the contracts' => sub {
    my ( $code, $out ) = check();
    is( $code, 0, 'the shipped policies pass' ) or diag($out);
    write_file( $gates, "return { schema_version = 1 }\n" );
    ( $code, $out ) = check();
    isnt( $code, 0, 'a gates.lua without evaluate fails the check' );
    like( $out, qr/gates\.lua: missing function evaluate/, '... and says which function is missing' );
    unlike( $out, qr/^ok$/m, '... and does not print ok' );
    write_file( $gates, $good =~ s/\nfunction M\.safe_start\(/\nfunction M.safe_start_renamed(/r );
    ( $code, $out ) = check();
    like( $out, qr/gates\.lua: missing function safe_start/, 'a gates.lua without safe_start fails too' );
    write_file( $gates, $good );
    write_file( $nodecide, "return { name = \"nodecide\", params = {} }\n" );
    ( $code, $out ) = check();
    isnt( $code, 0, 'a strategy without decide fails the check' );
    like( $out, qr{scripts/strategies/nodecide\.lua: missing function decide}, '... naming the strategy' );
    unlink $nodecide;
    ( $code, $out ) = check();
    is( $code, 0, 'restored: the check passes again' ) or diag($out);
};

# ---- reload ------------------------------------------------------------------------------------------------
my $srv = start_server( home => $home, env => { GATEHOUSE_POLICY_WATCH_MS => 0 } );
sub status { $srv->get('/api/system/status')->{json} || {} }
my $p0 = $srv->policy;
ok( $p0 && $p0->{loaded}, 'policy loaded at start' );
ok( ( grep { m{^scripts/lib/(calendar|util)\.lua$} } @{ $p0->{files} || [] } ) == 2, 'policy.files lists scripts/lib/calendar.lua and util.lua' )
  or diag( explain $p0->{files} );

sub reload_rejected {
    my ( $what, $re ) = @_;
    my $r = $srv->post( $GH{policy_reload}, { reason => "spec 73: $what" } );
    is( $r->{json}{error_code}, 'POLICY_ERROR', "$what: the reload answers POLICY_ERROR" );
    like( $r->{content} // '', $re, "$what: the reply names the problem" );
    my $p = $srv->policy || {};
    is( $p->{version}, $p0->{version}, "$what: the previous generation keeps serving" );
    like( $p->{last_reload_error} // '', $re, "$what: last_reload_error shows the message" );
    # the reload re-evaluates the system decision itself: no wait for the next periodic evaluation
    ok( ( grep { ( $_->{code} // '' ) eq 'POLICY_ERROR' } @{ status()->{blockers} || [] } ),
        "$what: the system status shows the POLICY_ERROR blocker at once" );
}

subtest 'a reload that breaks a contract keeps the old generation' => sub {
    write_file( $gates, "return { schema_version = 1 }\n" );
    reload_rejected( 'gates.lua without evaluate', qr/gates\.lua: missing function evaluate/ );
    write_file( $gates, $good );
    write_file( $nodecide, "return { name = \"nodecide\", params = {} }\n" );
    reload_rejected( 'a strategy without decide', qr{scripts/strategies/nodecide\.lua: missing function decide} );
    unlink $nodecide;
    write_file( $probe, "math.floor = function() return 42 end\nreturn {}\n" );
    reload_rejected( 'a file assigning math.floor', qr/attempt to modify read-only table 'math' \(key 'floor'\)/ );
    write_file( $probe, "lib.util.tbl = nil\nreturn {}\n" );
    reload_rejected( 'a file changing lib', qr/attempt to modify read-only table 'util' \(key 'tbl'\)/ );
    unlink $probe;
    my $r = $srv->post( $GH{policy_reload}, { reason => 'spec 73: restored' } );
    ok( $r->{json}{policy}{loaded} && !defined $r->{json}{policy}{last_reload_error}, 'restored: the reload succeeds' );
    ok( !( grep { ( $_->{code} // '' ) eq 'POLICY_ERROR' } @{ status()->{blockers} || [] } ), 'no POLICY_ERROR blocker, at once' );
};

# ---- one threshold per fact --------------------------------------------------------------------------------
subtest 'scheduler.loop_health uses gates.lua thresholds' => sub {
    ok( wait_for( sub { status()->{scheduler}{active} }, 10, 'scheduler active' ), 'the scheduler is active' ) or return;
    ok( wait_for( sub { ( status()->{scheduler}{loop_health} // '' ) eq 'OK' }, 10, 'loop OK' ), 'loop_health OK with the shipped thresholds' );
    my $lagging = $good =~ s/loop_lag_warn_ms = 500,/loop_lag_warn_ms = -1,/r;
    isnt( $lagging, $good, 'gates.lua has loop_lag_warn_ms = 500' );
    write_file( $gates, $lagging );
    ok( !defined $srv->post( $GH{policy_reload}, { reason => 'spec 73: lag threshold' } )->{json}{policy}{last_reload_error}, 'reloaded' );
    my $s = wait_for(
        sub {
            my $x = status();
            ( $x->{scheduler}{loop_health} // '' ) eq 'LATE'
              && ( grep { $_->{code} eq 'HEARTBEAT_TIMEOUT' && $_->{severity} eq 'SEV-2' } @{ $x->{blockers} || [] } ) ? $x : undef;
        },
        10, 'LATE and the SEV-2 blocker'
    );
    ok( $s, 'with loop_lag_warn_ms = -1 loop_health is LATE and the gates raise HEARTBEAT_TIMEOUT SEV-2 together' );
    is_deeply( [ @{ $s->{infra} || {} }{qw(db redis)} ], [ @{ $s->{live_stack}{infra} || {} }{qw(db redis)} ],
        'the top-level infra repeats live_stack.infra' ) if $s;
    write_file( $gates, $good );
    $srv->post( $GH{policy_reload}, { reason => 'spec 73: restored' } );
    ok( wait_for( sub { ( status()->{scheduler}{loop_health} // '' ) eq 'OK' }, 10, 'OK again' ), 'restored: loop_health OK' );
};
is( $srv->stop, 0, 'stopped' );

# ---- cross-file isolation and the shared lib, inside the sandbox (gatehouse spec) --------------------------
write_file( $probe, <<'LUA' );
local r = {}
r.floor = pcall(function() math.floor = function() return 42 end end)
r.upper = pcall(function() string.upper = function() return "hacked" end end)
r.G = pcall(function() _G.math = { floor = function() return 42 end } end)
r.global = pcall(function() math = { floor = function() return 42 end } end)
r.lib = pcall(function() lib.calendar.utc_offset_ct = function() return 0 end end)
r.strmeta = getmetatable("")
return r
LUA
my $dir = "$home/spec73";
mkdir $dir;
write_file( "$dir/isolation_spec.lua", <<'LUA' );
local probe = spec.policy("scripts/zz_probe.lua")
spec.same({ probe.floor, probe.upper, probe.G, probe.global, probe.lib }, { false, false, false, false, false },
          "the probe file could change none of math.floor, string.upper, _G.math, math, lib.calendar")
spec.is(probe.strmeta, false, "getmetatable('') is hidden from the probe")
local G = spec.policy("gates.lua")
spec.is(math.floor(1.5), 1, "math.floor is still the real one")
local NOW = 1764000000
local d = G.evaluate({ now = NOW, db = { reachable = true, last_ok_at = NOW }, policy = { loaded = true, version = "v" },
                       scheduler = { active = true, leader = true, last_tick_at = NOW, loop_lag_ms = 700.9 },
                       trading = { enabled = false }, risk = { enforcing = true }, providers = {}, breakers = {} })
local lag
for _, b in ipairs(d.blockers) do
  if b.code == "HEARTBEAT_TIMEOUT" then lag = b.reason_human end
end
spec.ok(lag and lag:find("lags 700 ms", 1, true), "gates.lua's math.floor is the real one: " .. tostring(lag))
local MH = spec.policy("scripts/market_hours.lua")
spec.is(MH.utc_offset_ct, lib.calendar.utc_offset_ct, "market_hours.lua uses lib.calendar's utc_offset_ct")
spec.is(MH.utc_offset_ct(1764000000), -21600, "... unchanged by the probe (CST in November)")
local F = spec.policy("scripts/features.lua")
local f = F.compute({ { t = 1764000000, o = 1, h = 1, l = 1, c = 1, v = 1 } })
spec.is(f.minute_of_day_ct, ((1764000000 - 21600) % 86400) // 60, "features.lua computes CT minutes with lib.calendar")
spec.is(lib.util.tbl(nil), lib.util.EMPTY, "lib.util is shared")
spec.ok(not pcall(function() lib.util.EMPTY.x = 1 end), "lib.util.EMPTY is read-only")
LUA
my ( $code, $out, $err ) = run_cmd( [ gatehouse_bin(), 'spec', "$dir/isolation_spec.lua" ], env => { GATEHOUSE_HOME => $home }, cwd => $home );
is( $code, 0, 'the isolation spec ran to the end' ) or diag( $err . $out );
my @lines = split /\n/, $out;
is( scalar( grep { /^ok \d+/ } @lines ), 9, 'all 9 isolation assertions passed' ) or diag($out);
is( scalar( grep { /^not ok/ } @lines ), 0, 'none failed' ) or diag($out);
unlink $probe;
done_testing;
