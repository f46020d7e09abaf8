# Error-code catalog: every code the code base can emit is a row of docs/error-codes.md, and no table there
# lists a code twice. Static: reads the sources, starts nothing.
#
# Codes are collected from
#   runtime/*.c   the error_code argument of http_reply_error(ctx, status, CODE, ...) (calls may span lines;
#                 a ternary of literals yields each literal), the value after a "code" / "error_code" /
#                 "reason_code" key in json_pack / json_object_set_new, the verify outcomes (the `outcomes[]`
#                 tables); the argument of every function or callback whose parameter is a code (`const char
#                 *code`, `*error_code`, `*reason_code`, `*err_code`, or the `reason` of a `*state`
#                 transition — finish(t, "ERROR", "DB_UNAVAILABLE"), t->cb(NULL, "NOT_FOUND", ...)), from the
#                 prototypes of the file and of runtime/*.h; assignments and designated initializers
#                 (`code = "X"`, `.error_code = c ? c : "X"`), and the returns of a function assigned to a code
#                 or outcome variable (outcome = outcome_of(...)); and in SQL text that mentions error_code or
#                 reason_code, its 'UPPER_SNAKE' literals except the enumerated column values of migrations/;
#   gates.lua, providers.lua, scripts/**/*.lua (risk violations, strategy and tick reason codes, autonomy
#                 blockers)
#                 `code = "CODE"` / `reason_code = ...` / `error_code = ...` in tables and assignments, literal
#                 arguments of helpers with a parameter named code / *_code, or that build such tables (local
#                 function blocker(c, ...) return { code = c, ... }), fields whose value is passed as the code
#                 (blocker(cat.unavailable, ...) → every `unavailable = "CODE"`), and names given a code (local
#                 DATA = "DATA_UNAVAILABLE"; ok_code, ok_text = "NO_ORDER", "...").
# Literals an expression only compares against (x == "UP", strcmp(o, "TRADED")) are not values.
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

# the literals an expression can evaluate to: not the ones it compares against (x == "A", strcmp(x, "B"),
# s ~= "C" are tests, not values)
sub emitted {
    my ($s) = @_;
    my $q = qr/"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'/;
    $s =~ s/\bstr(?:n)?(?:case)?cmp\s*\([^()]*\)//g;
    $s =~ s/(?:==|~=|!=)\s*$q//g;
    $s =~ s/$q\s*(?:==|~=|!=)//g;
    return literals($s);
}

# text with the contents of string literals blanked (same length): where code, not data, is
sub blank_strings {
    my ($s) = @_;
    $s =~ s{"((?:[^"\\\n]|\\.)*)"}{'"' . ( ' ' x length $1 ) . '"'}ge;
    return $s;
}

# A code parameter, variable or field: code, error_code, reason_code, err_code, ok_code …
my $CODE_NAME = qr/(?:\w+_)?code/;

# c_code_params($stripped_text) → { function or callback-field name => index of its code parameter }:
# definitions and prototypes with a `const char *…code` parameter, and fields whose type is a callback
# typedef with one (runner_done_cb cb; → cb).
sub c_code_params {
    my ($text) = @_;
    my ( %h, %typedefs );
    # (the `reason` of a state transition is a code too: supervisor.c's new_act(..., to_state, reason, ...);
    # a `reason` without a state beside it is a description, policy_reload("SIGHUP"))
    my $index = sub {
        my @p = split /,/, $_[0];
        my $transition = grep { /\bchar\s*\*\s*(?:\w+_)?state\s*\z/ } @p;
        my ($i) = grep { $p[$_] =~ /\bchar\s*\*\s*$CODE_NAME\s*\z/ || ( $transition && $p[$_] =~ /\bchar\s*\*\s*reason\s*\z/ ) } 0 .. $#p;
        return $i;
    };
    while ( $text =~ /\b(\w+)\s*\(([^()]*)\)\s*(?=[{;])/g ) {
        my $i = $index->($2);
        $h{$1} = $i if defined $i && $1 !~ /\A(?:if|while|for|switch|return|sizeof)\z/;
    }
    while ( $text =~ /\btypedef\s+[\w\s\*]+\(\s*\*\s*(\w+)\s*\)\s*\(([^()]*)\)/g ) {
        my $i = $index->($2);
        $typedefs{$1} = $i if defined $i;
    }
    return ( \%h, \%typedefs );
}

# the bodies of the functions named (one level of braces counted), concatenated
sub c_bodies {
    my ( $text, @names ) = @_;
    my $out = '';
    for my $n (@names) {
        while ( $text =~ /\b\Q$n\E\s*\([^()]*\)\s*\{/g ) {
            my ( $pos, $depth ) = ( $+[0], 1 );
            while ( $depth && $pos < length $text ) {
                my $c = substr( $text, $pos++, 1 );
                $depth++ if $c eq '{';
                $depth-- if $c eq '}';
            }
            $out .= substr( $text, $+[0], $pos - $+[0] ) . "\n";
        }
    }
    return $out;
}

# values of enumerated columns (CHECK (x IN ('A', 'B'))): states and kinds, never codes
my %SCHEMA_ENUM;
sub schema_enums {
    my ($sql) = @_;
    while ( $sql =~ /\bIN\s*\(([^()]*)\)/g ) { $SCHEMA_ENUM{$_} = 1 for $1 =~ /'([^']*)'/g }
}

# scan_c($rel, $text, \%global_params, \%global_typedefs) → ([code, where], ...), problems as [undef, message]
sub scan_c {
    my ( $rel, $text, $gparams, $gtypedefs ) = @_;
    my @out;
    $text = strip_c($text);
    my $at_line = sub { "$rel:" . line_of( $text, $_[0] ) };
    while ( $text =~ /\bhttp_reply_error\s*\(/g ) {
        my ( $at, $after ) = ( $-[0], $+[0] );
        my @a = args_at( $text, $after );
        pos($text) = $after;
        next if ( $a[0] // '' ) =~ /\bstruct\b/;    # the declaration / definition
        my $where = $at_line->($at);
        my @l = literals( $a[2] // '' );
        push @out, @l ? map { [ $_, $where ] } @l
                      : [ undef, "$where: http_reply_error with a non-literal error code (" . ( $a[2] // '?' ) . ')' ];
    }
    # "code" / "error_code" / "reason_code" keys of json_pack / json_object_set_new
    while ( $text =~ /"(?:error_|reason_)?code"\s*,\s*/g ) {
        my ( $at, $after ) = ( $-[0], $+[0] );
        push @out, map { [ $_, $at_line->($at) ] } literals( args_at( $text, $after, 1 ) );
        pos($text) = $after;
    }
    while ( $text =~ /\boutcomes\s*\[\s*\]\s*=\s*\{([^}]*)\}/g ) {
        my $where = $at_line->( $-[0] ) . ' (verify outcome)';
        push @out, map { [ $_, $where ] } literals($1);
    }
    # calls of functions (and callback fields) with a code parameter: the literal(s) at its position
    my ( $lparams, $ltypedefs ) = c_code_params($text);
    my %params = ( %$gparams, %$lparams );    # a static function of this file wins over a namesake elsewhere
    my %typedefs = ( %$gtypedefs, %$ltypedefs );
    while ( $text =~ /\b(\w+)\s+(\w+)\s*;/g ) { $params{$2} //= $typedefs{$1} if defined $typedefs{$1} }
    my $code_only = blank_strings($text);
    for my $f ( sort grep { $_ ne 'http_reply_error' } keys %params ) {
        while ( $code_only =~ /(?<![\w])\Q$f\E\s*\(/g ) {
            my ( $at, $after ) = ( $-[0], $+[0] );
            my @a = args_at( $text, $after );
            push @out, map { [ $_, $at_line->($at) . " ($f)" ] } emitted( $a[ $params{$f} ] // '' );
        }
    }
    # assignments and designated initializers: code = "X", .error_code = c ? c : "X"; and what a function
    # assigned to a code variable returns (code = classify(...) → its `return "X"`)
    my %producers;
    while ( $code_only =~ /(?<![\w])($CODE_NAME|outcome)\s*=(?!=)\s*/g ) {
        my ( $name, $at, $after ) = ( $1, $-[0], $+[0] );
        my $expr = args_at( $text, $after, 1 );
        push @out, map { [ $_, $at_line->($at) ] } emitted($expr) if $name ne 'outcome';    # tick outcomes: no codes
        $producers{$1} = 1 if $expr =~ /\A(\w+)\s*\(/ && $1 !~ /\Ajson_/;    # outcome = outcome_of(...)
    }
    my $bodies = c_bodies( $text, sort keys %producers );
    while ( $bodies =~ /\breturn\s+([^;]*);/g ) { push @out, map { [ $_, "$rel (returned by " . join( ', ', sort keys %producers ) . ')' ] } emitted($1) }
    # SQL: single-quoted codes in a statement (a run of adjacent string literals) that writes or reads
    # error_code / reason_code, except the schema's enumerated values
    while ( $text =~ /((?:"(?:[^"\\\n]|\\.)*"(?:\s|\\)*)+)/g ) {
        my ( $run, $at ) = ( $1, $-[0] );
        next unless $run =~ /\b(?:error|reason)_code\b/;
        push @out, map { [ $_, $at_line->($at) . ' (SQL)' ] } grep { !$SCHEMA_ENUM{$_} } $run =~ /'([A-Z][A-Z0-9]*_[A-Z0-9_]*[A-Z0-9])'/g;
    }
    return @out;
}

sub scan_lua {
    my ( $rel, $text ) = @_;
    my ( @out, %const, %code_fields, %helpers );
    $text = strip_lua($text);
    # NAME = "CODE", local NAME = "CODE" (also A, B = "A", "B"): every value a name is given
    # (several names only at the start of a statement, so `{ a = x or b, c = "X" }` gives b nothing)
    while ( $text =~ /(?:(?:^|\bthen|\bdo|\belse|;)[ \t]*(?:local\s+)?(\w+(?:\s*,\s*\w+)+)|(?<![\w.])(\w+))\s*=(?!=)\s*((?:"[^"\n]*"|'[^'\n]*')(?:\s*,\s*(?:"[^"\n]*"|'[^'\n]*'))*)/gm ) {
        my @names = split /\s*,\s*/, $1 // $2;
        my @vals  = grep { defined } $3 =~ /"([^"\n]*)"|'([^'\n]*)'/g;
        push @{ $const{ $names[$_] } }, $vals[$_] for grep { defined $vals[$_] && $vals[$_] =~ /\A$CODE\z/ } 0 .. $#names;
    }
    my $value = sub {
        my ( $expr, $where ) = @_;
        if ( $expr =~ /\A[\w.]+\.(\w+)\z/ ) { $code_fields{$1} = 1; return }
        push @out, map { [ $_, $where ] } emitted($expr);                               # "X", c and "X" or "Y"
        push @out, map { [ $_, $where ] } map { @{ $const{$_} || [] } } $expr =~ /(?<![\w."'])([A-Za-z_]\w*)(?![\w"'])/g;
    };
    # helpers: function NAME(a, code, ...) — a parameter named code / *_code, or one the body puts in a
    # `code = param` field (the body up to the next unindented line)
    while ( $text =~ /\bfunction\s+([\w.:]+)\s*\(([^)]*)\)/g ) {    # nested ones too
        my ( $name, @p ) = ( $1, map { s/^\s+|\s+$//gr } split /,/, $2 );
        my ($i) = grep { $p[$_] =~ /\A$CODE_NAME\z/ } 0 .. $#p;
        $helpers{ $name =~ s/.*[.:]//r } = $i if defined $i;
    }
    while ( $text =~ /\bfunction\s+([\w.:]+)\s*\(([^)]*)\)(.*?)\n(?=\S)/gs ) {
        my ( $name, $body, @p ) = ( $1, $3, map { s/^\s+|\s+$//gr } split /,/, $2 );
        next if defined $helpers{ $name =~ s/.*[.:]//r };
        next unless $body =~ /(?<![\w.])code\s*=(?!=)\s*(\w+)\s*[,}\n;]/;
        my $arg = $1;
        my ($i) = grep { $p[$_] eq $arg } 0 .. $#p;
        $helpers{ $name =~ s/.*[.:]//r } = $i if defined $i;
    }
    while ( $text =~ /(?<!\w)$CODE_NAME\s*=(?!=)\s*/g ) {
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
typedef void (*done_cb)(const json_t *summary, const char *err_code, const char *err, void *arg);
struct tick { done_cb cb; };
static void finish(struct tick *t, const char *outcome, const char *reason_code);
static const char *classify(int r)
{
    if (r) return r > 1 ? "RETURNED_A" : "RETURNED_B";
    return NULL;
}
static struct act *new_act(const char *bot_id, const char *to_state, const char *reason);
int policy_reload(const char *reason, char *err, size_t errlen);
static const char *outcome_of(int r) { return r ? "PRODUCED" : "OK"; }
static void g(struct tick *t, int ok) {
    new_act(t->id, "TIMEOUT", "TRANSITION_REASON");
    policy_reload("NOT_A_REASON_CODE", NULL, 0);
    const char *outcome = outcome_of(ok);
    finish(t, "ERROR", "PARAM_CODE");
    t->cb(NULL, ok ? "CB_A" : "CB_B", "not a code", NULL);
    struct usage_event ev = {.status = "NOT_A_CODE", .error_code = ok ? NULL : "DESIGNATED"};
    const char *code = classify(ok);
    if (code == "COMPARED") return;
    db_query("UPDATE jobs SET state = 'TIMED_OUT_STATE', error_code = 'SQL_CODE' "
             "WHERE state = 'RUNNING'", 0, NULL, 1, cb, NULL);
    db_query("UPDATE bots SET stage = 'NOT_A_CODE_EITHER'", 0, NULL, 1, cb, NULL);
}
C
schema_enums("CREATE TABLE jobs (state text CHECK (state IN ('TIMED_OUT_STATE', 'RUNNING')));");
my ( $gp, $gt ) = c_code_params( strip_c($c_fixture) );
my @cf = scan_c( 'fixture.c', $c_fixture, $gp, $gt );
%SCHEMA_ENUM = ();
is_deeply( [ sort keys %{ { map { $_->[0] => 1 } grep { defined $_->[0] } @cf } } ],
    [ sort qw(MULTI_LINE TERNARY_A TERNARY_B SET_NEW SET_NEW_2 PACKED OK AUTH_FAILED PARAM_CODE CB_A CB_B DESIGNATED
              RETURNED_A RETURNED_B SQL_CODE TRANSITION_REASON PRODUCED) ], 'C extractor on a fixture' );
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
local function hold(code, human) return { action = "HOLD", reason_code = code, reason_human = human } end
local function check(x)
  local violations = {}
  local function violate(code, text) violations[#violations + 1] = code end
  if x.bad then violate("PARAM_NAMED", "named code") end
  local ok_code, ok_text = "OK_CONST", "fine"
  if x.none then ok_code, ok_text = "REASSIGNED", "nothing" end
  local r = { reason_code = violations[1] or ok_code, side = "NOT_A_CODE" }
  r.error_code = x.e and "DOTTED_FIELD"
  local code = x.up and "LOCAL_A" or "LOCAL_B"
  if x.h then return hold("HOLD_REASON", "h") end
  return r, code
end
LUA
my @lf = scan_lua( 'fixture.lua', $lua_fixture );
is_deeply( [ sort keys %{ { map { $_->[0] => 1 } @lf } } ],
    [ sort qw(FIELD_CODE FIELD_CODE_2 HELPER_CODE CONST_CODE TABLE_CODE EITHER_A EITHER_B PARAM_NAMED OK_CONST REASSIGNED
              DOTTED_FIELD LOCAL_A LOCAL_B HOLD_REASON) ], 'Lua extractor on a fixture' );

# ---- the code base ----------------------------------------------------------------------------------------

my ( %found, @problems );    # code => [where, ...]
my @c_files = sort glob "$root/runtime/*.c";
ok( scalar @c_files, 'runtime/*.c found' );
# the policies: gates.lua, providers.lua, and scripts/ (risk violations, strategy and tick reason codes, autonomy
# blockers: they reach the API as reason_code of ticks, traces, risk checks and scores)
my @lua_files = grep { -f } map {"$root/$_"} qw(gates.lua providers.lua);
find( { no_chdir => 1, wanted => sub { push @lua_files, $_ if /\.lua\z/ && -f } }, "$root/scripts" ) if -d "$root/scripts";
ok( ( grep { m{/scripts/} } @lua_files ), 'scripts/**/*.lua found' );
schema_enums( read_file($_) ) for glob "$root/migrations/*.sql";
ok( $SCHEMA_ENUM{RUNNING} && $SCHEMA_ENUM{HALF_OPEN}, 'enumerated column values read from migrations/' );
my ( %gparams, %gtypedefs );    # every runtime file's functions (and callback typedefs) with a code parameter
for my $f ( sort glob "$root/runtime/*.[ch]" ) {
    my ( $p, $t ) = c_code_params( strip_c( read_file($f) ) );
    %gparams = ( %gparams, %$p ) if $f =~ /\.h\z/;    # a static namesake in one .c must not leak into another
    %gtypedefs = ( %gtypedefs, %$t );
}
my $n_http = 0;
for my $f ( @c_files, sort @lua_files ) {
    my $rel = $f =~ s{^\Q$root\E/}{}r;
    my @hits = $f =~ /\.c\z/ ? scan_c( $rel, read_file($f), \%gparams, \%gtypedefs ) : scan_lua( $rel, read_file($f) );
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
