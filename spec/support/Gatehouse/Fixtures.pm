package Gatehouse::Fixtures;
# Test-only fixtures for runner specs, written into a copied home (never into the product):
#   fixture_home(flip => 1 | 0)
#     flip    (default 1) adds scripts/strategies/flip.lua: ENTRY BUY 1 when flat, EXIT when in a position.
#   The instants specs tick at (start_server(clock => AT_OPEN, …)): the real scripts/market_hours.lua decides
#   whether the market is open, and the provider simulator lives at the same instant, so no spec depends on
#   the day or hour it runs (issue 15). Each is named for what the CME Globex equity-index calendar says then:
#     AT_OPEN            Tue 2026-12-08 15:00Z = 09:00 CST, RTH
#     AT_WEEKEND         Sat 2026-12-05 22:00Z = 16:00 CST, WEEKEND (opens Sun 23:00Z)
#     AT_HALT            Tue 2026-12-08 22:30Z = 16:30 CST, the daily halt (MAINTENANCE, reopens 23:00Z)
#     AT_SUMMER_HALT     Tue 2026-07-14 21:30Z = 16:30 CDT, the daily halt in summer time
#     AT_DST_START_OPEN  Sun 2026-03-08 22:30Z = 17:30 CDT, open (16:30 had the switch to CDT been missed)
#     AT_DST_END_CLOSED  Sun 2026-11-01 22:30Z = 16:30 CST, WEEKEND (17:30 had the switch to CST been missed)
#     AT_HOLIDAY         Fri 2026-12-25 15:00Z = Christmas, HOLIDAY
#   wait_supervisor($srv): waits until the scheduler runs and leads (autonomy above SUPERVISED needs it).
use strict;
use warnings;
use Carp qw(croak);
use Exporter 'import';
use Gatehouse::Test qw(copy_home write_file);

our @EXPORT = qw(fixture_home wait_supervisor AT_OPEN AT_WEEKEND AT_HALT AT_SUMMER_HALT AT_DST_START_OPEN
  AT_DST_END_CLOSED AT_HOLIDAY);

use constant {
    AT_OPEN           => '2026-12-08T15:00:00Z',
    AT_WEEKEND        => '2026-12-05T22:00:00Z',
    AT_HALT           => '2026-12-08T22:30:00Z',
    AT_SUMMER_HALT    => '2026-07-14T21:30:00Z',
    AT_DST_START_OPEN => '2026-03-08T22:30:00Z',
    AT_DST_END_CLOSED => '2026-11-01T22:30:00Z',
    AT_HOLIDAY        => '2026-12-25T15:00:00Z',
};

my $FLIP = <<'LUA';
-- Test fixture: ENTRY BUY 1 when flat, EXIT when in a position. Input ctx, output a decision.
return { name = "flip", requires_ai = false, params = {},
  decide = function(ctx)
    local q = ctx.position and ctx.position.qty or 0
    if q == 0 then
      return { action = "ENTRY", side = "BUY", qty = 1, reason_code = "TEST_ENTRY", reason_human = "flat: enter",
               confidence = 0.5, signals = { flat = true }, feature_keys_used = { "close" } }
    end
    return { action = "EXIT", side = q > 0 and "SELL" or "BUY", qty = math.abs(q), reason_code = "TEST_EXIT",
             reason_human = "in a position: exit", confidence = 0.5, signals = { flat = false },
             feature_keys_used = { "close" } }
  end }
LUA

sub fixture_home {
    my (%o) = @_;
    croak 'fixture_home: market stubs are gone; start the server at an instant (clock => AT_OPEN, …)' if exists $o{market};
    my $home = copy_home();
    write_file( "$home/scripts/strategies/flip.lua", $FLIP ) if $o{flip} // 1;
    return $home;
}

# wait_supervisor($srv) → true once /api/system/status says the scheduler runs and this instance holds the
# leader lease. Autonomy above SUPERVISED requires an active supervisor, and the first lease is taken on the
# scheduler's first tick (about 1 s after start): specs that expect LIMITED_AUTONOMY wait for it first.
sub wait_supervisor {
    my ($srv) = @_;
    return Gatehouse::Test::wait_for( sub { my $s = $srv->get('/api/system/status')->{json}{scheduler} || {};
                                            $s->{active} && $s->{leader} }, 15, 'scheduler active and leading' );
}

1;
