# Error-code catalog: every code the code base can emit is a row of docs/error-codes.md, and no table there
# lists a code twice. Static: reads the sources, starts nothing.
#
# Codes are collected from
#   runtime/*.c   the error_code argument of http_reply_error(ctx, status, CODE, ...) (calls may span lines;
#                 a ternary of literals yields each literal), the value after a "code" / "error_code" key in
#                 json_pack / json_object_set_new, and the verify outcomes (the `outcomes[]` tables);
#   gates.lua, providers.lua (scripts/ emit trace reason codes, not error codes)
#                 `code = "CODE"` in tables, literal arguments of helpers that build such tables
#                 (local function blocker(code, ...) return { code = code, ... }), fields whose value is passed
#                 as the code (blocker(cat.unavailable, ...) → every `unavailable = "CODE"`), and locals
#                 holding a code (local DATA = "DATA_UNAVAILABLE").
# A code is documented when a table row's first cell is that code in backticks; a code in two rows of one
# table is a duplicate. An http_reply_error call whose code is not a literal cannot be checked and fails the
# spec too. The extractors and the catalog parser are first run on fixtures, so a regression in them shows.
use strict;
use warnings;
use lib 'spec/support';
use File::Find qw(find);
use Test::More;
use Gatehouse::Test qw(repo_root read_file);

my $root = repo_root();
my $CODE = qr/[A-Z][A-Z0-9_]*[A-Z0-9]/;

# ---- comment stripping (strings kept, line numbers kept) ------------------------------------------------

sub nl_only { ( my $s = $_[0] ) =~ s/[^\n]//g; $s }

sub strip_c {
    my ($s) = @_;
    $s =~ s{("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')|/\*.*?\*/|//[^\n]*}{ defined $1 ? $1 : nl_only($&) }gse;
    return $s;
}

sub strip_lua {
    my ($s) = @_;
    $s =~ s{("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|\[(=*)\[.*?\]\2\])|--\[(=*)\[.*?\]\3\]|--[^\n]*}
           { defined $1 ? $1 : nl_only($&) }gse;
    return $s;
}

sub line_of { my ( $text, $pos ) = @_; 1 + ( () = substr( $text, 0, $pos ) =~ /\n/g ) }

# The arguments of a call whose '(' ends at $pos: a list of strings (balanced brackets, strings kept whole),
# or with $one, the single expression starting at $pos (it ends at a top-level , ; ) ] } or newline).
sub args_at {
    my ( $text, $pos, $one ) = @_;
    my ( $depth, $cur, @args ) = ( 0, '' );
    my $n = length $text;
    while ( $pos < $n ) {
        my $c = substr( $text, $pos, 1 );
        if ( $c eq '"' || $c eq "'" ) {
            my $m = substr( $text, $pos ) =~ /\A(\Q$c\E(?:[^\Q$c\E\\\n]|\\.)*\Q$c\E)/s ? $1 : $c;
            $cur .= $m;
            $pos += length $m;
            next;
        }
        if ( $c =~ /[(\[{]/ ) { $depth++ }
        elsif ( $c =~ /[)\]}]/ ) {
            if ( $depth == 0 ) { push @args, $cur; last }
            $depth--;
        }
        elsif ( $depth == 0 && ( $c eq ',' || ( $one && ( $c eq ';' || $c eq "\n" ) ) ) ) {
            push @args, $cur;
            last if $one;
            $cur = '';
            $pos++;
            next;
        }
        $cur .= $c;
        $pos++;
    }
    s/^\s+|\s+$//g for @args;
    return $one ? $args[0] // '' : @args;
}

sub literals { my ($s) = @_; grep { defined } $s =~ /"($CODE)"|'($CODE)'/g }

# scan_c($rel, $text) / scan_lua($rel, $text) → ([code, where], ...), and problems as [undef, message]
sub scan_c {
    my ( $rel, $text ) = @_;
    my @out;
    $text = strip_c($text);
    while ( $text =~ /\bhttp_reply_error\s*\(/g ) {
        my ( $at, $after ) = ( $-[0], $+[0] );
        my @a = args_at( $text, $after );
        pos($text) = $after;
        next if ( $a[0] // '' ) =~ /\bstruct\b/;    # the declaration / definition
        my $where = "$rel:" . line_of( $text, $at );
        my @l = literals( $a[2] // '' );
        push @out, @l ? map { [ $_, $where ] } @l
                      : [ undef, "$where: http_reply_error with a non-literal error code (" . ( $a[2] // '?' ) . ')' ];
    }
    while ( $text =~ /"(?:error_)?code"\s*,\s*/g ) {
        my ( $at, $after ) = ( $-[0], $+[0] );
        push @out, map { [ $_, "$rel:" . line_of( $text, $at ) ] } literals( args_at( $text, $after, 1 ) );
        pos($text) = $after;
    }
    while ( $text =~ /\boutcomes\s*\[\s*\]\s*=\s*\{([^}]*)\}/g ) {
        my $where = "$rel:" . line_of( $text, $-[0] ) . ' (verify outcome)';
        push @out, map { [ $_, $where ] } literals($1);
    }
    return @out;
}

sub scan_lua {
    my ( $rel, $text ) = @_;
    my ( @out, %const, %code_fields, %helpers );
    $text = strip_lua($text);
    # local NAME = "CODE" (also local A, B = "A", "B")
    while ( $text =~ /\blocal\s+(\w+(?:\s*,\s*\w+)*)\s*=\s*((?:"[^"\n]*"|'[^'\n]*')(?:\s*,\s*(?:"[^"\n]*"|'[^'\n]*'))*)/g ) {
        my @names = split /\s*,\s*/, $1;
        my @vals  = grep { defined } $2 =~ /"([^"\n]*)"|'([^'\n]*)'/g;
        $const{ $names[$_] } = $vals[$_] for grep { defined $vals[$_] && $vals[$_] =~ /\A$CODE\z/ } 0 .. $#names;
    }
    my $value = sub {
        my ( $expr, $where ) = @_;
        if    ( $expr =~ /\A(\w+)\z/ )         { push @out, [ $const{$1}, $where ] if $const{$1} }    # else a parameter
        elsif ( $expr =~ /\A[\w.]+\.(\w+)\z/ ) { $code_fields{$1} = 1 }
        else                                   { push @out, map { [ $_, $where ] } literals($expr) }  # "X", c and "X" or "Y"
    };
    # helpers: function NAME(a, code, ...) ... { code = code } ... (the body up to the next unindented line)
    while ( $text =~ /\bfunction\s+([\w.:]+)\s*\(([^)]*)\)(.*?)\n(?=\S)/gs ) {
        my ( $name, $body, @p ) = ( $1, $3, map { s/^\s+|\s+$//gr } split /,/, $2 );
        next unless $body =~ /(?<![\w.])code\s*=(?!=)\s*(\w+)\s*[,}\n;]/;
        my $arg = $1;
        my ($i) = grep { $p[$_] eq $arg } 0 .. $#p;
        $helpers{ $name =~ s/.*[.:]//r } = $i if defined $i;
    }
    while ( $text =~ /(?<!\w)code\s*=(?!=)\s*/g ) {
        my ( $at, $after ) = ( $-[0], $+[0] );
        $value->( args_at( $text, $after, 1 ), "$rel:" . line_of( $text, $at ) );
        pos($text) = $after;
    }
    for my $h ( sort keys %helpers ) {
        while ( $text =~ /(?<![\w.:])\Q$h\E\s*\(/g ) {
            my ( $at, $after ) = ( $-[0], $+[0] );
            pos($text) = $after;
            next if substr( $text, 0, $at ) =~ /\bfunction\s+\z/;    # its definition
            my @a = args_at( $text, $after );
            $value->( $a[ $helpers{$h} ], "$rel:" . line_of( $text, $at ) ) if defined $a[ $helpers{$h} ];
        }
    }
    for my $field ( sort keys %code_fields ) {
        while ( $text =~ /(?<![\w.])\Q$field\E\s*=(?!=)\s*["']($CODE)["']/g ) {
            push @out, [ $1, "$rel:" . line_of( $text, $-[0] ) . " ($field)" ];
        }
    }
    return @out;
}

# ---- the extractor on known input -------------------------------------------------------------------------

my $c_fixture = <<'C';
void http_reply_error(struct http_ctx *ctx, int status, const char *error_code, const char *r);
static void h(struct http_ctx *ctx) {
    /* http_reply_error(ctx, 500, "COMMENTED_OUT", "x"); */
    http_reply_error(ctx, f(1, 2),
                     "MULTI_LINE", "reason, with a comma (and parens)",
                     NULL);
    http_reply_error(ctx, 409, ok ? "TERNARY_A" : "TERNARY_B", "r", NULL, json_pack("{s:s}", "a", "b"));
    json_object_set_new(o, "error_code", json_string(db ? "SET_NEW" : "SET_NEW_2"));
    json_pack("{s:s, s:s}", "code", "PACKED", "severity", "SEV-1");
    http_reply_error(ctx, 400, code, "r", NULL);
}
static const char *const outcomes[] = {"OK", "AUTH_FAILED", NULL};
C
my @cf = scan_c( 'fixture.c', $c_fixture );
is_deeply( [ sort map { $_->[0] } grep { defined $_->[0] } @cf ],
    [ sort qw(MULTI_LINE TERNARY_A TERNARY_B SET_NEW SET_NEW_2 PACKED OK AUTH_FAILED) ], 'C extractor on a fixture' );
is( scalar( grep { !defined $_->[0] } @cf ), 1, 'C extractor flags a non-literal code' );
ok( ( grep { $_->[0] && $_->[0] eq 'MULTI_LINE' && $_->[1] eq 'fixture.c:4' } @cf ), 'with the line of the call' );

my $lua_fixture = <<'LUA';
-- code = "IN_A_COMMENT"
--[[ blocker("IN_A_LONG_COMMENT", x) ]]
local SEV1 = "SEV-1"
local DU, OTHER = "CONST_CODE", "ANOTHER_CONST"
local CATS = { { unavailable = "FIELD_CODE" }, { unavailable = "FIELD_CODE_2" } }
local function blocker(code, severity, msg)
  return { code = code, severity = severity, message = msg }
end
local function f(cat, p)
  local out = {}
  out[#out + 1] = blocker("HELPER_CODE", SEV1,
    "a message, with a comma")
  out[#out + 1] = blocker(cat.unavailable, SEV1, "x")
  out[#out + 1] = blocker(DU, SEV1, "x")
  out[#out + 1] = { code = "TABLE_CODE", severity = SEV1 }
  out[#out + 1] = { code = p.ok and "EITHER_A" or "EITHER_B" }
  if p.code == "COMPARED_NOT_EMITTED" then return out end
  return out
end
LUA
my @lf = scan_lua( 'fixture.lua', $lua_fixture );
is_deeply( [ sort map { $_->[0] } @lf ],
    [ sort qw(FIELD_CODE FIELD_CODE_2 HELPER_CODE CONST_CODE TABLE_CODE EITHER_A EITHER_B) ], 'Lua extractor on a fixture' );

# ---- the code base ----------------------------------------------------------------------------------------

my ( %found, @problems );    # code => [where, ...]
my @c_files = sort glob "$root/runtime/*.c";
ok( scalar @c_files, 'runtime/*.c found' );
my @lua_files = grep { -f } map {"$root/$_"} qw(gates.lua providers.lua);
# scripts/ hold trace reason codes (SMA_CROSS_UP, MARKET_CLOSED …), which explain a decision in a trace and
# are not API error codes; scripts/risk.lua's codes reach the API only inside traces too.
my $n_http = 0;
for my $f ( @c_files, sort @lua_files ) {
    my $rel = $f =~ s{^\Q$root\E/}{}r;
    my @hits = $f =~ /\.c\z/ ? scan_c( $rel, read_file($f) ) : scan_lua( $rel, read_file($f) );
    for my $h (@hits) {
        if ( defined $h->[0] ) { push @{ $found{ $h->[0] } }, $h->[1] }
        else                   { push @problems, $h->[1] }
        $n_http++ if $f =~ /\.c\z/;
    }
}
cmp_ok( $n_http, '>=', 5, "codes found in runtime/*.c ($n_http places)" );
ok( exists $found{OK} && exists $found{AUTH_FAILED}, 'verify outcomes found' );

# ---- the catalog -----------------------------------------------------------------------------------------

# catalog($markdown) → (\%documented (code → line), \@duplicates): codes in backticks in a table row's first
# cell. A table is a run of '|' lines; the same code in two tables is fine (RATE_LIMITED is an HTTP error code
# and a verify outcome, with one meaning), twice in one table is a duplicate.
sub catalog {
    my ($md) = @_;
    my ( %documented, %in_table, @dups );
    my @lines = split /\n/, $md;
    my $table = 0;
    for my $i ( 0 .. $#lines ) {
        if ( $lines[$i] !~ /^\s*\|/ ) { $table++; next }
        next unless $lines[$i] =~ /^\s*\|\s*`($CODE)`\s*\|/;
        if ( $in_table{$table}{$1} ) {
            push @dups, 'line ' . ( $i + 1 ) . ": `$1` again in the same table (first on line $in_table{$table}{$1})";
            next;
        }
        $in_table{$table}{$1} = $i + 1;
        $documented{$1} //= $i + 1;
    }
    return ( \%documented, \@dups );
}

my ( $fx_doc, $fx_dups ) = catalog(<<'MD');
| code | meaning |
|---|---|
| `A_CODE` | mentions `NOT_A_ROW_CODE` |
| `B_CODE` | b |
| `B_CODE` | twice in one table |

Prose naming `PROSE_CODE`.

| `A_CODE` | again, in another table: fine |
MD
is_deeply( [ sort keys %$fx_doc ], [qw(A_CODE B_CODE)], 'catalog parser: first cells only' );
is_deeply( [ map { /`(\w+)`/ } @$fx_dups ], ['B_CODE'], 'catalog parser: a code twice in one table is found' );

my $doc_path = "$root/docs/error-codes.md";
ok( -f $doc_path, 'docs/error-codes.md exists' ) or BAIL_OUT('no docs/error-codes.md');
my ( $doc, $dups ) = catalog( read_file($doc_path) );
my %documented = %$doc;
cmp_ok( scalar keys %documented, '>=', 10, 'the catalog has rows (' . scalar( keys %documented ) . ' codes)' );
is_deeply( $dups, [], 'no code is listed twice in a table of docs/error-codes.md' ) or diag join "\n", @$dups;

# PRODUCT.md §6: the catalog has at least these
my @minimum = qw(INTEGRATION_KEY_MISSING INTEGRATION_VERIFY_FAILED DATA_UNAVAILABLE EXECUTION_BROKER_UNAVAILABLE
  LIVE_TRADING_DISABLED RISK_ENGINE_NOT_ENFORCING CIRCUIT_OPEN HEARTBEAT_TIMEOUT DB_UNAVAILABLE POLICY_ERROR
  UNKNOWN_PROVIDER INVALID_JSON VALIDATION_FAILED PAYLOAD_TOO_LARGE NOT_FOUND UNAUTHENTICATED FORBIDDEN
  TWO_FACTOR_REQUIRED RATE_LIMITED NOT_IMPLEMENTED);
my @missing_min = grep { !$documented{$_} } @minimum;
is_deeply( \@missing_min, [], 'every code PRODUCT.md §6 names is documented' )
  or diag "not in docs/error-codes.md: @missing_min";

my @undocumented = map { "$_ (emitted at " . join( ', ', @{ $found{$_} }[ 0 .. ( $#{ $found{$_} } < 2 ? $#{ $found{$_} } : 2 ) ] ) . ')' }
  grep { !$documented{$_} } sort keys %found;
is_deeply( \@undocumented, [], 'every emitted code is a row of docs/error-codes.md (' . scalar( keys %found ) . ' codes)' )
  or diag join "\n", 'undocumented:', @undocumented;
is_deeply( \@problems, [], 'every http_reply_error call names a literal code' ) or diag join "\n", @problems;
note 'codes found: ' . join ' ', sort keys %found;

done_testing;
