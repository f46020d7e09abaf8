package Gatehouse::Fixtures;
# Test-only policy fixtures for runner specs, written into a copied home (never into the product):
#   fixture_home(market => 'open' | 'closed' | undef, flip => 1 | 0)
#     market  'open' / 'closed' replaces scripts/market_hours.lua with an always-RTH / always-WEEKEND stub,
#             so specs do not depend on the wall clock; undef keeps the real CME hours.
#     flip    (default 1) adds scripts/strategies/flip.lua: ENTRY BUY 1 when flat, EXIT when in a position.
#   wait_supervisor($srv): waits until the scheduler runs and leads (autonomy above SUPERVISED needs it).
use strict;
use warnings;
use Exporter 'import';
use Gatehouse::Test qw(copy_home write_file);

our @EXPORT = qw(fixture_home wait_supervisor);

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

sub market_stub {
    my ($open) = @_;
    my ( $flag, $name ) = $open ? ( 'true', 'RTH' ) : ( 'false', 'WEEKEND' );
    return <<"LUA";
-- Test fixture: the market is always $name. Input (ts, symbol), output a session.
return { session = function(ts, symbol) return { open = $flag, session = "$name", next_change = ts + 3600 } end }
LUA
}

sub fixture_home {
    my (%o) = @_;
    my $home = copy_home();
    write_file( "$home/scripts/strategies/flip.lua", $FLIP ) if $o{flip} // 1;
    write_file( "$home/scripts/market_hours.lua", market_stub( $o{market} eq 'open' ) ) if defined $o{market};
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
