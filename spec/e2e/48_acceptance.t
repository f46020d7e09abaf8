# The acceptance pack in the suite (issue 9 item 5): spec/acceptance/acceptance.pl — what `make acceptance` runs —
# performs the seven proofs of PRODUCT.md §7 and the five of the money path (issue 20) against the real server, this run's Postgres cluster and the simulator,
# here into a temporary file instead of docs/ACCEPTANCE.md. It must exit 0 and write a document whose header names
# the date, commit and machine, whose seven proofs all PASS with requests, response excerpts and SQL rows, and which
# holds no secret: no simulator credential, no harness secret, no unmasked TOTP secret, temp token or backup code.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use File::Temp qw(tempdir);
use Time::HiRes qw(time);
use Gatehouse::Test;

my $dir = tempdir( 'gh-acc-XXXXXX', TMPDIR => 1, CLEANUP => 1 );
my $out = "$dir/ACCEPTANCE.md";
my $t0  = time;
my ( $rc, $stdout, $stderr ) = run_cmd( [ 'perl', 'spec/acceptance/acceptance.pl', '--out', $out ], inherit_env => 1, timeout => 420 );
my $took = time - $t0;
is( $rc, 0, sprintf( 'spec/acceptance/acceptance.pl exits 0 (%.0f s)', $took ) )
  or diag( join "\n", grep { /^not ok|^#/ } split /\n/, $stdout . "\n" . $stderr );
like( $stdout, qr/^ok \d+ - all twelve proofs pass \(12\/12\)$/m, 'its TAP says all twelve proofs pass' );
ok( -s $out, 'the document was written' ) or BAIL_OUT('no document');
my $doc = read_file($out);

like( $doc, qr/^# Acceptance proofs \(PRODUCT\.md §7\)$/m, 'title' );
like( $doc, qr/^\| Date \| \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \|$/m, 'header: the date (RFC 3339 UTC)' );
like( $doc, qr/^\| Git commit \| `[0-9a-f]{40}` \(branch /m, 'header: the git commit' );
like( $doc, qr/^\| Machine \| \S.*\|$/m, 'header: the machine' );
like( $doc, qr/^\| Result \| \*\*12\/12 proofs PASS\*\*/m, 'header: 12/12 PASS' );
unlike( $doc, qr/\*\*FAIL\*\*|^\*\*Result: FAIL/m, 'no FAIL anywhere' );

my @sections = split /^(?=## Proof \d)/m, $doc;
shift @sections;
is( scalar @sections, 12, 'twelve proof sections (PRODUCT.md §7 and the money path)' );
for my $s (@sections) {
    my ($n) = $s =~ /^## Proof (\d+)/;
    like( $s, qr/^\*\*Result: PASS\*\* \((\d+)\/\1 checks/m, "proof $n: PASS, every check passed" );
    like( $s, qr/^\d+\. \*\*`(GET|POST|PUT|PATCH) \/api\/[^`]*`\*\*.* → HTTP \d{3}, trace id `[0-9a-f]{32}`/m, "proof $n: requests with their trace ids" );
    like( $s, qr/Response \(excerpt\):\n\n   ```json\n   \{/, "proof $n: response excerpts (JSON)" );
    like( $s, qr/```sql\n.*\n   ```\n\n   ```text\n.*\n   -+[-+]*\n/, "proof $n: SQL with its rows" );
    like( $s, qr/^- PASS — /m, "proof $n: the checks are listed" );
}

# sanitization: the simulator's credentials are "sim-<tag>-<variable>" / "sim-invalid-<tag>-<variable>"
unlike( $doc, qr/sim-(?:invalid-)?[0-9a-f]{6}-[a-z]/, 'no simulator credential' );
my @leaks = find_leaks( $doc, [ $GH{admin_password}, $GH{test_enc_key}, $GH{test_service_token} ], 'document' );
is_deeply( \@leaks, [], 'no admin password, APP_ENC_KEY or service token in any form' );
unlike( $doc, qr/otpauth:\/\/totp\/[^\s"]*secret=/, 'no otpauth URL with its secret' );
like( $doc, qr/"secret_base32" : "«masked»"/, 'the TOTP secret is masked' );
unlike( $doc, qr/"(?:temp_token|password|backup_code|secret_base32|qr)" : "(?!«masked»)[^"]*"/, 'every password, backup code, temp token and secret field is masked' );
my @bodies = $doc =~ /Request body:\n\n   ```json\n(.*?)\n   ```/gs;
ok( ( grep { /"code" :/ } @bodies ), 'requests with a TOTP code are shown' );
ok( !( grep { /"code" : "(?!«masked»)/ } @bodies ), 'and every TOTP code sent is masked' );
like( $doc, qr/"backup_codes" : \[\n(?:\s+"«masked»",?\n){10}/, 'the ten backup codes are masked' );
unlike( $doc, qr/gh_session|Set-Cookie|Cookie:/i, 'no cookie is printed' );
like( $doc, qr/over this document for \d+ secret values .*: 0 hits\./, 'the document reports its own leak scan: 0 hits' );

done_testing;
