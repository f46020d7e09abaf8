# Every GATEHOUSE_* setting is read and checked once at start-up (runtime/config.c, one struct config): a
# malformed or out-of-range value stops gatehouse before it does anything else — non-zero exit, nothing served —
# with a message that names the variable and its bounds. In-range values start normally.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;

my $bin  = gatehouse_bin();
my $port = free_port();
my %base = (
    $GH{env_home}          => repo_root(),
    $GH{env_listen}        => "127.0.0.1:$port",
    DATABASE_URL           => 'postgresql://gatehouse@127.0.0.1:1/none',    # never reached: config fails first
    GATEHOUSE_DB_WAIT_S    => 0,
);

# [variable, bad value, what the message must say after "VARIABLE: "]
my @bad = (
    [ GATEHOUSE_AUTH_BAN_S          => 0,       qr/must be an integer between 1 and 86400/ ],
    [ GATEHOUSE_SESSION_IDLE_S      => 'abc',   qr/must be an integer between 1 and 2592000/ ],
    [ GATEHOUSE_AUTONOMY_INTERVAL_S => 0,       qr/must be an integer between 1 and 86400/ ],
    [ GATEHOUSE_ALERTS              => 'yes',   qr/must be an integer between 0 and 1/ ],
    [ GATEHOUSE_BACKGROUND_VERIFY   => 2,       qr/must be an integer between 0 and 1/ ],
    [ GATEHOUSE_MAX_BACKTESTS       => 1001,    qr/must be an integer between 1 and 1000/ ],
    [ GATEHOUSE_DB_POOL_SIZE        => 17,      qr/must be an integer between 1 and 16/ ],
    [ GATEHOUSE_MAX_BODY_BYTES      => '12abc', qr/must be an integer between 64 and \d+/ ],
    [ GATEHOUSE_LOG_LEVEL           => 'loud',  qr/must be debug, info, warn or error/ ],
    [ GATEHOUSE_LISTEN              => 'nope',  qr/must be host:port/ ],
);

for my $case (@bad) {
    my ( $var, $value, $says ) = @$case;
    my ( $rc, $out, $err ) = run_cmd( [ $bin, $GH{cmd_serve} ], env => { %base, $var => $value }, timeout => 30 );
    isnt( $rc, 0, "serve with $var=$value exits non-zero" );
    like( $err, qr/\Q$var\E: $says/, "... and says why, naming $var" ) or diag "stdout: $out\nstderr: $err";
    unlike( "$out$err", qr/\blistening\b/, '... before serving anything' );
}

# every command reads the same settings: `check` refuses them too
my ( $rc, $out, $err ) =
    run_cmd( [ $bin, $GH{cmd_check} ], env => { %base, GATEHOUSE_AUTH_WINDOW_S => -5 }, timeout => 30 );
isnt( $rc, 0, 'check with GATEHOUSE_AUTH_WINDOW_S=-5 exits non-zero' );
like( $err, qr/GATEHOUSE_AUTH_WINDOW_S: must be an integer between 1 and 86400/, '... naming the variable' );

# in-range values (bounds included) are accepted
my %good = (
    GATEHOUSE_AUTH_BAN_S          => 86400,
    GATEHOUSE_SESSION_IDLE_S      => 1,
    GATEHOUSE_AUTONOMY_INTERVAL_S => 1,
    GATEHOUSE_ALERTS              => 0,
    GATEHOUSE_BACKGROUND_VERIFY   => 1,
    GATEHOUSE_MAX_BACKTESTS       => 1000,
    GATEHOUSE_LOG_LEVEL           => 'warning',
);
( $rc, $out, $err ) = run_cmd( [ $bin, $GH{cmd_check} ], env => { %base, %good }, timeout => 30 );
is( $rc, 0, 'check accepts in-range values' ) or diag "$out$err";
like( $out, qr/^ok$/m, '... and prints ok' );

done_testing;
