# TOTP 2FA end to end (issue 7): enrollment from the returned otpauth_url with codes from an independent
# implementation (Debian's oathtool), one-code-once (a replay is refused, logged, a system event and shown),
# backup codes single use, a 2FA account never gets a session from the password alone, temp tokens single
# use and short-lived, fresh 2FA for live trading and kill-all, fail closed without APP_ENC_KEY, and a
# pg_dump with no plaintext password, TOTP secret, backup code, session id or temp token.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;
use MIME::Base64 qw(encode_base64);
use Time::HiRes qw(time sleep);

my $QUIET = { GATEHOUSE_BACKGROUND_VERIFY => 0, GATEHOUSE_ALERTS => 0 };
my $PW    = $GH{admin_password};
my $OATH  = '/usr/bin/oathtool';
plan skip_all => 'oathtool is not installed (runtime/tools/deps.sh installs it)' unless -x $OATH;

my %last_step;    # secret → last time step used (each step is accepted once)

# oath($secret) → [code, step] from oathtool for a step never used before (now, else now+1, else wait)
sub oath {
    my ($secret) = @_;
    my $now  = int( time / 30 );
    my $step = $now > ( $last_step{$secret} // -1 ) ? $now : $last_step{$secret} + 1;
    sleep 0.2 while $step > int( time / 30 ) + 1;
    $last_step{$secret} = $step;
    my ( $rc, $out, $err ) = run_cmd( [ $OATH, '--totp', '-b', '--now', '@' . ( $step * 30 ), $secret ] );
    die "oathtool failed: $err" if $rc;
    chomp $out;
    return $out;
}

my @SECRETS;    # every secret value the database must not hold in plaintext
# many deliberate failures below: the brute-force ban (spec 33) must not interfere
my $srv = start_server( env => { %$QUIET, GATEHOUSE_2FA_TEMP_TTL_S => 3, GATEHOUSE_FRESH_2FA_S => 4, GATEHOUSE_AUTH_MAX_FAILURES => 100 } );
push @SECRETS, $PW, $srv->jar->get('gh_session');

# ---------------------------------------------------------------- enrollment
my $setup = $srv->post( '/api/auth/2fa/setup', { password => $PW } );    # the password again (issue 21, spec 66)
is( $setup->{status}, 200, 'POST /api/auth/2fa/setup' );
envelope_ok( $setup, 'setup', success => 1 );
my $url = $setup->{json}{otpauth_url} // '';
like( $url, qr{^otpauth://totp/gatehouse:admin\?secret=[A-Z2-7]{32}&issuer=gatehouse&algorithm=SHA1&digits=6&period=30$},
    'otpauth_url: totp, issuer label, unpadded base32 secret (160 bits), SHA1/6/30' );
my ($secret) = $url =~ /[?&]secret=([A-Z2-7]+)/;
is( $setup->{json}{secret_base32}, $secret, 'secret_base32 matches the URL' );
is_deeply( $setup->{json}{qr}, { format => 'otpauth', text => $url }, 'QR payload: the otpauth URL' );
push @SECRETS, $secret, unpack( 'H*', base32_decode($secret) );

my $code1 = oath($secret);
like( $code1, qr/^\d{6}$/, "oathtool --totp -b SECRET gives a 6-digit code ($code1)" );
is( totp_code( $secret, $last_step{$secret} ), $code1, 'the harness TOTP agrees with oathtool' );
my $conf = $srv->post( '/api/auth/2fa/confirm', { code => $code1 } );
is( $conf->{status}, 200, 'POST /api/auth/2fa/confirm with the oathtool code' ) or diag $conf->{content};
my @backup = @{ $conf->{json}{backup_codes} || [] };
is( scalar @backup, 10, 'ten backup codes, shown once' );
is( scalar( keys %{ { map { $_ => 1 } @backup } } ), 10, 'all different' );
ok( !( grep { !/^[a-z2-9]{5}-[a-z2-9]{5}$/ } @backup ), 'format xxxxx-xxxxx' );
push @SECRETS, @backup;
my $me = $srv->get('/api/auth/me')->{json}{user};
ok( $me->{two_factor_enabled}, '/me: two_factor_enabled' );
like( $me->{two_factor_enrolled_at} // '', qr/^\d{4}-\d\d-\d\dT/, '/me: two_factor_enrolled_at' );
like( $me->{two_factor_last_verified_at} // '', qr/^\d{4}-\d\d-\d\dT/, '/me: two_factor_last_verified_at' );
error_ok( $srv->post( '/api/auth/2fa/setup', { password => $PW } ), 409, 'VALIDATION_FAILED', 'setup again once enabled' );

# ---------------------------------------------------------------- replay
my $replay = $srv->post( '/api/auth/2fa/step-up', { code => $code1 } );
error_ok( $replay, 401, 'UNAUTHENTICATED', 'the same code a second time' );
ok( $replay->{json}{replay}, 'the answer says it is a replay' );
like( $replay->{json}{reason_human}, qr/already used/i, 'and shows it to the user' );
ok( wait_for( sub { $srv->log_records( msg => 'auth decision', reason => 'replay' ) }, 5, 'replay log' ), 'the replay is logged' );
ok( wait_for( sub { psql_rows( $srv->db, q{SELECT 1 FROM system_events WHERE kind = 'auth.totp_replay' AND subject = 'admin'} ) }, 5,
        'replay event' ), 'and is an auth.totp_replay system event' );
error_ok( $srv->post( '/api/auth/2fa/step-up', { code => '000000' eq $code1 ? '111111' : '000000' } ), 401, 'UNAUTHENTICATED',
    'a wrong code' );

# ---------------------------------------------------------------- login needs the second factor
my $c = $srv->client;
my $l = $c->login( 'admin', $PW );
is( $l->{status}, 200, 'password accepted' );
ok( $l->{json}{requires_2fa}, 'requires_2fa: true' );
like( $l->{json}{temp_token} // '', qr/^[A-Za-z0-9_-]{43}$/, 'a temp token' );
ok( !exists $l->{json}{user}, 'no user object yet' );
ok( !$c->jar->get('gh_session'), 'no session cookie from the password alone' );
ok( !( grep { /gh_session/ } map { ref $_ ? @$_ : $_ } $l->{headers}{'set-cookie'} // () ), 'no Set-Cookie at all' );
error_ok( $c->get('/api/auth/me'), 401, 'UNAUTHENTICATED', '/me after the password step' );
error_ok( $c->get('/api/bots'), 401, 'UNAUTHENTICATED', 'an API route after the password step' );
error_ok( $c->get( '/api/bots', { Authorization => "Bearer $l->{json}{temp_token}" } ), 401, 'UNAUTHENTICATED',
    'the temp token is not a bearer token' );
$c->jar->set( gh_session => $l->{json}{temp_token} );
error_ok( $c->get('/api/auth/me'), 401, 'UNAUTHENTICATED', 'nor a session cookie' );
$c->jar->clear;
push @SECRETS, $l->{json}{temp_token};

# wrong code: refused, and the temp token is spent
error_ok( $c->post( '/api/auth/2fa/verify', { temp_token => $l->{json}{temp_token}, code => '000000' eq totp_code($secret) ? '111111' : '000000' } ),
    401, 'UNAUTHENTICATED', 'verify with a wrong code' );
my $reuse = $c->post( '/api/auth/2fa/verify', { temp_token => $l->{json}{temp_token}, code => totp_code($secret) } );
error_ok( $reuse, 401, 'UNAUTHENTICATED', 'the same temp token again (even with a right code)' );
like( $reuse->{json}{reason_human}, qr/temp token/i, 'names the temp token' );
ok( !$c->jar->get('gh_session'), 'still no session' );

# TOTP second factor → a new session (rotated: differs from every earlier cookie)
$l = $c->login( 'admin', $PW );
push @SECRETS, $l->{json}{temp_token};
my $v = $c->post( '/api/auth/2fa/verify', { temp_token => $l->{json}{temp_token}, code => oath($secret) } );
is( $v->{status}, 200, '2fa/verify with an oathtool code of a later step' ) or diag $v->{content};
is( $v->{json}{method}, 'totp', 'method totp' );
is( $v->{json}{user}{username}, 'admin', 'the user' );
my $sess = $c->jar->get('gh_session');
ok( $sess && $sess ne $srv->jar->get('gh_session'), 'a new session cookie' );
push @SECRETS, $sess;
is( $c->get('/api/auth/me')->{status}, 200, 'the session works' );
error_ok( $c->post( '/api/auth/2fa/verify', { temp_token => $l->{json}{temp_token}, code => totp_code($secret) } ), 401,
    'UNAUTHENTICATED', 'a used temp token cannot be verified twice' );

# expired temp token (GATEHOUSE_2FA_TEMP_TTL_S=3)
my $c2 = $srv->client;
$l = $c2->login( 'admin', $PW );
sleep 3.5;
error_ok( $c2->post( '/api/auth/2fa/verify', { temp_token => $l->{json}{temp_token}, code => totp_code($secret) } ), 401,
    'UNAUTHENTICATED', 'an expired temp token' );
ok( !$c2->jar->get('gh_session'), 'no session' );

# ---------------------------------------------------------------- backup codes: once each
$l = $c2->login( 'admin', $PW );
$v = $c2->post( '/api/auth/2fa/verify', { temp_token => $l->{json}{temp_token}, backup_code => uc $backup[0] } );
is( $v->{status}, 200, 'a backup code (typed in upper case) signs in' ) or diag $v->{content};
is( $v->{json}{method}, 'backup_code', 'method backup_code' );
push @SECRETS, $c2->jar->get('gh_session');
$c2->logout;
$l = $c2->login( 'admin', $PW );
error_ok( $c2->post( '/api/auth/2fa/verify', { temp_token => $l->{json}{temp_token}, backup_code => $backup[0] } ), 401,
    'UNAUTHENTICATED', 'the same backup code a second time' );
ok( !$c2->jar->get('gh_session'), 'no session' );
is( ( psql_rows( $srv->db, q{SELECT jsonb_array_length(two_factor_backup_codes_hash) FROM users WHERE username = 'admin'} ) )[0][0],
    9, 'nine backup codes left' );
my $regen = $srv->post( '/api/auth/2fa/backup-codes', { code => oath($secret) } );
is( $regen->{status}, 200, 'regenerate backup codes with a fresh TOTP' );
is( scalar @{ $regen->{json}{backup_codes} || [] }, 10, 'ten new codes' );
push @SECRETS, @{ $regen->{json}{backup_codes} || [] };
$l = $c2->login( 'admin', $PW );
error_ok( $c2->post( '/api/auth/2fa/verify', { temp_token => $l->{json}{temp_token}, backup_code => $backup[1] } ), 401,
    'UNAUTHENTICATED', 'an old (replaced) backup code' );

# ---------------------------------------------------------------- fresh 2FA: trading on, kill-all
my ($bot) = psql_rows( $srv->db, q{INSERT INTO bots (name, strategy, symbol, timeframe, stage) VALUES ('k1', 'flip', 'ESZ6', '1m', 'PAPER') RETURNING id} );
psql_rows( $srv->db, q{INSERT INTO bot_instances (bot_id, state, started_at, last_heartbeat_at, restart_count, breaker_state)
                       VALUES ($1, 'RUNNING', gh_now(), gh_now(), 0, 'CLOSED')}, $bot->[0] );
$c = $srv->client;
$l = $c->login( 'admin', $PW );
is( $c->post( '/api/auth/2fa/verify', { temp_token => $l->{json}{temp_token}, backup_code => $regen->{json}{backup_codes}[1] } )->{status},
    200, 'a 2FA sign-in (backup code)' );
push @SECRETS, $c->jar->get('gh_session');
is( $c->request( 'PUT', '/api/settings/trading', { body => { enabled => \1 } } )->{status}, 200,
    'trading on right after a 2FA sign-in (fresh)' );
is( $c->request( 'PUT', '/api/settings/trading', { body => { enabled => \0 } } )->{status}, 200, 'and off' );
sleep 4.5;    # GATEHOUSE_FRESH_2FA_S=4
my $tf = $c->request( 'PUT', '/api/settings/trading', { body => { enabled => \1 } } );
error_ok( $tf, 403, 'TWO_FACTOR_REQUIRED', 'trading on with a 2FA older than the fresh window' );
like( $tf->{json}{suggested_fix}, qr{2fa/step-up}, 'the fix names the step-up' );
is( $c->request( 'PUT', '/api/settings/trading', { body => { enabled => \0 } } )->{status}, 200, 'turning it off needs no fresh 2FA' );
error_ok( $c->post('/api/bots/kill-all'), 403, 'TWO_FACTOR_REQUIRED', 'kill-all without a fresh 2FA' );
is( ( psql_rows( $srv->db, q{SELECT state FROM bot_instances WHERE bot_id = $1}, $bot->[0] ) )[0][0], 'RUNNING', 'nothing was killed' );
is( $c->post( '/api/auth/2fa/step-up', { backup_code => $regen->{json}{backup_codes}[2] } )->{status}, 200, 'step-up (backup code)' );
is( $c->request( 'PUT', '/api/settings/trading', { body => { enabled => \1 } } )->{status}, 200, 'now trading turns on' );
my $ka = $c->post('/api/bots/kill-all');
is( $ka->{status}, 200, 'kill-all with a fresh 2FA' );
is( $ka->{json}{killed}, 1, 'one running bot killed' );
is( ( psql_rows( $srv->db, q{SELECT state FROM bot_instances WHERE bot_id = $1}, $bot->[0] ) )[0][0], 'KILLED', 'its instance is KILLED' );
ok( wait_for( sub { psql_rows( $srv->db, q{SELECT 1 FROM system_events WHERE kind = 'kill.all'} ) }, 5, 'kill.all event' ),
    'a kill.all system event' );

# ---------------------------------------------------------------- logs: decisions without secrets
my @dec = $srv->log_records( msg => 'auth decision' );
cmp_ok( scalar @dec, '>=', 15, scalar(@dec) . ' auth decisions logged' );
ok( ( grep { ( $_->{event} // '' ) eq '2fa_verify' && $_->{decision} eq 'allow' } @dec ), 'a 2fa_verify allow is logged' );
my @leaks = find_leaks( $srv->log_text, [ grep { defined && length >= 6 } @SECRETS ], 'server log' );
is_deeply( \@leaks, [], 'the log holds no password, TOTP secret, backup code, session id or temp token' );

# ---------------------------------------------------------------- pg_dump
my $pg_dump = -x '/usr/lib/postgresql/15/bin/pg_dump' ? '/usr/lib/postgresql/15/bin/pg_dump' : 'pg_dump';
my ( $rc, $dump, $err ) = run_cmd( [ $pg_dump, '--no-owner', '-d', $srv->db ], timeout => 60 );
is( $rc, 0, 'pg_dump of the database' ) or diag $err;
cmp_ok( length $dump, '>', 10000, 'a real dump (' . length($dump) . ' bytes)' );
like( $dump, qr/\$argon2id\$v=19\$m=65536,t=2,p=1\$/, 'passwords are argon2id hashes (64 MiB, 2 passes)' );
@leaks = ();
for my $s ( grep { defined && length >= 6 } @SECRETS ) {
    for my $form ( $s, lc $s, unpack( 'H*', $s ), encode_base64( $s, '' ) ) {
        push @leaks, 'a secret ending in ' . substr( $s, -4 ) if index( $dump, $form ) >= 0;
    }
}
is_deeply( \@leaks, [], 'the dump holds no plaintext password, TOTP secret, backup code, session id or temp token ('
      . scalar(@SECRETS) . ' values, raw / hex / base64)' );
is( $srv->stop, 0, 'stopped' );

# ---------------------------------------------------------------- without APP_ENC_KEY: fail closed
my $nokey = start_server( db => $srv->db, env => { %$QUIET, APP_ENC_KEY => undef }, auth => 0 );
$l = $nokey->login( 'admin', $PW );
ok( $l->{json}{requires_2fa}, 'login on the enrolled account still asks for the second factor' );
error_ok( $nokey->post( '/api/auth/2fa/verify', { temp_token => $l->{json}{temp_token}, code => totp_code($secret) } ), 503,
    'ENCRYPTION_KEY_MISSING', '2fa/verify without APP_ENC_KEY' );
ok( !$nokey->jar->get('gh_session'), 'no session (fail closed)' );
$l = $nokey->login( 'admin', $PW );
is( $nokey->post( '/api/auth/2fa/verify', { temp_token => $l->{json}{temp_token}, backup_code => $regen->{json}{backup_codes}[0] } )->{status},
    200, 'a backup code still signs in (recovery path)' );
my $st = wait_for( sub {
    my $j = $nokey->get('/api/system/status')->{json};
    ( grep { $_->{code} eq 'ENCRYPTION_KEY_MISSING' } @{ $j->{blockers} || [] } ) ? $j : undef;
}, 6, 'blocker' );
my ($b) = grep { $_->{code} eq 'ENCRYPTION_KEY_MISSING' } @{ $st->{blockers} || [] };
ok( $b, '/api/system/status has the ENCRYPTION_KEY_MISSING blocker' );
is( $b && $b->{severity}, 'SEV-2', 'SEV-2' );
like( $b && $b->{suggested_fix}, qr/keygen/, 'the fix names gatehouse keygen' );
ok( $st && $st->{system_status} ne 'OK', 'the system is not OK' );
is( $nokey->stop, 0, 'stopped' );

my $fresh = start_server( env => { %$QUIET, APP_ENC_KEY => undef } );
error_ok( $fresh->post( '/api/auth/2fa/setup', { password => $PW } ), 503, 'ENCRYPTION_KEY_MISSING', '2fa/setup without APP_ENC_KEY' );
ok( !( psql_rows( $fresh->db, q{SELECT 1 FROM users WHERE two_factor_secret_encrypted IS NOT NULL} ) ), 'no secret stored' );
my $t = $fresh->request( 'PUT', '/api/settings/trading', { body => { enabled => \1 } } );
error_ok( $t, 403, 'TWO_FACTOR_REQUIRED', 'an admin without 2FA cannot turn live trading on' );
like( $t->{json}{suggested_fix}, qr{2fa/setup}, 'the fix says to enroll' );
is( $fresh->stop, 0, 'stopped' );

done_testing;
