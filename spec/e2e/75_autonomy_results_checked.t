# What scripts/autonomy.lua's score_all() returns is checked before it is stored, and stored as the policy
# returned it (issue 18: the results go from the policy's Lua value straight to the upsert's JSON text, with no
# JSON tree in between; only each result's top level is read back for the check). A result with a sub-score
# out of range, a missing bot_id, a value with no JSON form, a non-object, a wrong count or no list at all
# fails the scoring closed (503 POLICY_ERROR naming the problem) and keeps the stored score; a valid result's
# breakdown arrives in autonomy_scores exactly, escapes and non-ASCII text included.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use JSON::PP;
use Encode qw(decode_utf8);
use Gatehouse::Test;
use Gatehouse::Fixtures;

my $srv = start_server( env => { GATEHOUSE_BACKGROUND_VERIFY => 0, GATEHOUSE_ALERTS => 0, GATEHOUSE_LOG_LEVEL => 'warn' },
                        home => fixture_home(), clock => AT_OPEN );
my $file     = $srv->home . '/scripts/autonomy.lua';
my $original = read_file($file);
my $id = ( psql_rows( $srv->db, "INSERT INTO bots (name, strategy, symbol, timeframe) VALUES ('checked', 'sma_cross', 'ESZ6', '1m') RETURNING id" ) )[0][0];

# Wraps score_all: $edit is Lua run on `out` (the real results) before they are returned.
sub with_policy {
    my ( $name, $edit ) = @_;
    my $src = $original =~ s/\nreturn M\s*\z/\nlocal real_score_all = M.score_all\nfunction M.score_all(input)\n  local out = real_score_all(input)\n$edit\n  return out\nend\nreturn M\n/r;
    write_file( $file, $src );
    my $r = $srv->post( '/api/policy/reload', { reason => "spec 75: $name" } );
    is( $r->{status}, 200, "policy reloaded ($name)" ) or diag $r->{content};
}
sub score  { $srv->post("/api/bots/$id/autonomy-score") }
sub stored { ( psql_rows( $srv->db, "SELECT autonomy_score, breakdown::text FROM autonomy_scores WHERE bot_id = '$id'" ) )[0] }

# é, € and a G clef (4 bytes) as Lua byte escapes; a quote, a backslash, a newline, a tab and a slash
with_policy( 'a note with escapes',
    q{  out[1].breakdown.spec_note = '\195\169 "quoted" \\\\ back\nnew line\ttab / \226\130\172 \240\157\132\158'} );
my $r = score();
is( $r->{status}, 200, 'a valid result is stored' ) or diag $r->{content};
my $want = decode_utf8("\xc3\xa9 \"quoted\" \\ back\nnew line\ttab / \xe2\x82\xac \xf0\x9d\x84\x9e");
is( $r->{json}{autonomy_score}{breakdown}{spec_note}, $want, 'the answer carries the policy\'s note as written' );
my $before = stored();
is( JSON::PP->new->utf8->decode( $before->[1] )->{spec_note}, $want, 'and so does autonomy_scores.breakdown' );

my @bad = (
    [ 'score out of range', 'out[1].risk_discipline_score = 101', qr/result 1: risk_discipline_score must be an integer 0-100/ ],
    [ 'no bot_id',          'out[1].bot_id = nil',                qr/result 1: a result lacks bot_id/ ],
    [ 'not finite',         'out[1].breakdown.x = { 1, 0/0 }',    qr/\[1\]\.breakdown\.x\[2\]: number is not finite/ ],
    [ 'not an object',      'out[1] = "a string"',                qr/result 1: value: not an object/ ],
    [ 'another count',      'out[2] = out[1]',                    qr/another number of results than bots/ ],
    [ 'no list',            'out = { scores = out }',             qr/did not return a list/ ],
);
for my $case (@bad) {
    my ( $name, $edit, $why ) = @$case;
    with_policy( $name, "  $edit" );
    my $res = score();
    is( $res->{status}, 503, "$name: the scoring fails closed" );
    is( $res->{json}{error_code}, 'POLICY_ERROR', "$name: POLICY_ERROR" );
    like( $res->{json}{reason_human} // '', $why, "$name: the message names the problem" ) or diag $res->{content};
    is_deeply( stored(), $before, "$name: the stored score is kept" );
}

write_file( $file, $original );
is( $srv->post( '/api/policy/reload', { reason => 'spec 75: restore' } )->{status}, 200, 'the original policy is back' );
is( score()->{status}, 200, 'and scores' );

done_testing;
