# The web Observatory in a real browser (issue 8): Debian's chromium driven by playwright-core
# (spec/web/observatory.mjs) against two real servers on the test Postgres — A without any key, B with
# databento/polygon keys on the provider simulator. Sign-in with a TOTP code and with a backup code; 2FA
# enrollment with the QR code rendered in the page; no keys → BLOCKED with the blockers listed; Verify now →
# VERIFIED; simulator 503 → DEGRADED with the probe's trace id; a bot tick grows the proof badges; the
# gate's refusal of Start and the Why-not-trading reason; a database outage shows the degraded banner (and
# it goes away); every tab rendered and screenshotted at 1280x800 and 390 px (spec/output/web, or
# $GH_WEB_OUT). The browser half asks this file for world changes (simulator faults, the outage, a psql
# look-up) over its stdin/stdout, one JSON object per line.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;
use Gatehouse::Sim;
use Gatehouse::Fixtures;
use IPC::Open2 qw(open2);
use JSON::PP;
use File::Path qw(make_path remove_tree);
use File::Temp qw(tempfile);
use Time::HiRes qw(time);

my $ROOT     = repo_root();
my $CHROMIUM = $ENV{GH_CHROMIUM} || '/usr/bin/chromium';
my $WEB_DIR  = "$ROOT/web/dist";
my $OUT      = $ENV{GH_WEB_OUT} || "$ROOT/spec/output/web";
my @TABS     = qw(overview connections proof bots autonomy events ai-ops variables settings);
my $JSON     = JSON::PP->new->utf8->canonical;
binmode( Test::More->builder->$_, ':encoding(UTF-8)' ) for qw(output failure_output todo_output);    # names carry arrows

# Hard requirements, not skips: make test installs chromium (deps.sh) and builds web/dist (make web).
ok( -x $CHROMIUM, "chromium at $CHROMIUM (runtime/tools/deps.sh installs Debian's chromium)" ) or BAIL_OUT('no chromium');
ok( -f "$WEB_DIR/index.html", 'web/dist is built (make web)' ) or BAIL_OUT('web/dist not built');
ok( -d "$ROOT/node_modules/playwright-core", 'playwright-core installed from package-lock.json (make web)' ) or BAIL_OUT('npm ci not run');

my $QUIET = { GATEHOUSE_BACKGROUND_VERIFY => 0, GATEHOUSE_ALERTS => 0, GATEHOUSE_WEB_DIR => $WEB_DIR };
my $sim   = start_sim();

# A: no keys at all; one PAPER bot
my $A = start_server( env => {%$QUIET}, home => fixture_home(), clock => AT_OPEN );
my $a_bot = $A->post( '/api/bots', { name => 'blocked-bot', strategy => 'flip', symbol => 'ESZ6', timeframe => '1m', stage => 'PAPER' } );
is( $a_bot->{status}, 201, 'A: bot created' );

# B: databento + polygon keys, every provider pointed at the simulator; the admin has 2FA; one PAPER bot
my $B_env = $sim->base_env( only => [qw(databento polygon)] );
my $B     = start_server( env => { %$B_env, %$QUIET }, home => fixture_home(), clock => AT_OPEN );
my $b_bot = $B->post( '/api/bots', { name => 'paper-bot', strategy => 'flip', symbol => 'ESZ6', timeframe => '1m', stage => 'PAPER' } );
is( $b_bot->{status}, 201, 'B: bot created' );
my $enrolled = $B->enroll_2fa;
ok( $enrolled->{secret}, 'B: the admin enrolled 2FA (harness)' );

# C: Saturday (the market is closed), Databento verified on its own simulator; one PAPER bot
my $sim_c = start_sim();
my $C = start_server( env => { %{ $sim_c->base_env( only => ['databento'] ) }, %$QUIET }, home => fixture_home(), clock => AT_WEEKEND );
is( $C->post( '/api/integrations/verify', { provider_id => 'databento' } )->{json}{reason_code}, 'OK', 'C: databento verified' );
my $c_bot = $C->post( '/api/bots', { name => 'weekend-bot', strategy => 'flip', symbol => 'ESZ6', timeframe => '1m', stage => 'PAPER' } );
is( $c_bot->{status}, 201, 'C: bot created' );

remove_tree($OUT);
make_path($OUT);
my ( $cfh, $cfg_path ) = tempfile( 'web-XXXXXX', SUFFIX => '.json', TMPDIR => 1, UNLINK => 1 );
print {$cfh} $JSON->encode( {
    chromium => $CHROMIUM,
    out_dir  => $OUT,
    tabs     => \@TABS,
    blocked  => { url => $A->url, user => $GH{admin_user}, password => $GH{admin_password}, bot_id => $a_bot->{json}{bot}{id},
                  clock_offset_ms => $A->clock_offset_ms },
    keys     => {
        url => $B->url, user => $GH{admin_user}, password => $GH{admin_password}, bot_id => $b_bot->{json}{bot}{id},
        totp_secret   => $enrolled->{secret},
        totp_min_step => ( $B->{totp_last_step}{ $enrolled->{secret} } // 0 ) + 1,    # the harness spent its steps
        databento_key => $B_env->{DATABENTO_API_KEY},
        clock_offset_ms => $B->clock_offset_ms,    # the servers run at AT_OPEN: TOTP steps follow their clock
    },
    closed => { url => $C->url, user => $GH{admin_user}, password => $GH{admin_password}, bot_id => $c_bot->{json}{bot}{id},
                bot_name => 'weekend-bot' },
} );
close $cfh;

# the world changes the browser half asks for
my ($dbname) = $B->db =~ m{:///([^?]+)};
my $pg_admin = db_url_for( $B->db, 'postgres' );
my %ACTIONS = (
    sim_503   => sub { $sim->fault( provider => 'databento', mode => 'status', status => 503 ); {} },
    sim_clear => sub { $sim->clear_faults('databento'); {} },
    verify_row => sub {
        my ($m) = @_;
        my ($n) = psql_rows( $B->db, q{SELECT count(*) FROM verifications WHERE provider_id = 'databento' AND outcome <> 'OK' AND trace_id = $1}, $m->{trace_id} );
        return { found => $n->[0] > 0 ? JSON::PP::true : JSON::PP::false };
    },
    db_off => sub {
        psql_rows( $pg_admin, qq{ALTER DATABASE "$dbname" WITH ALLOW_CONNECTIONS false} );
        psql_rows( $pg_admin, q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1}, $dbname );
        {};
    },
    db_on => sub { psql_rows( $pg_admin, qq{ALTER DATABASE "$dbname" WITH ALLOW_CONNECTIONS true} ); {} },
);

my $t0 = time;
local $ENV{GH_WEB_CONFIG} = $cfg_path;
my $pid = open2( my $from, my $to, 'node', "$ROOT/spec/web/observatory.mjs" );
my ( $results, $failed ) = ( 0, 0 );
while ( my $line = <$from> ) {
    chomp $line;
    my $m = eval { $JSON->decode($line) };
    unless ( ref $m eq 'HASH' ) { diag("browser: $line"); next }
    if ( defined $m->{need} ) {
        my $act = $ACTIONS{ $m->{need} } or BAIL_OUT("unknown browser request $m->{need}");
        my $answer = $act->($m);
        print {$to} $JSON->encode( { done => $m->{need}, %$answer } ), "\n";
        $to->flush;
        next;
    }
    $results++;
    ok( $m->{ok}, $m->{name} ) or $failed++;
    diag( $m->{diag} ) if defined $m->{diag} && ( !$m->{ok} || $ENV{TEST_VERBOSE} );
}
close $to;
waitpid( $pid, 0 );
is( $? >> 8, 0, 'the browser half exited cleanly' );
cmp_ok( $results, '>=', 22, "every browser check reported ($results)" );
my @missing = grep { !-s "$OUT/B-tab-$_-1280.png" || !-s "$OUT/B-tab-$_-390.png" } @TABS;
is_deeply( \@missing, [], "a screenshot of every tab at 1280 and 390 px in $OUT" );
diag( sprintf 'browser part: %.1f s', time - $t0 );

done_testing;
