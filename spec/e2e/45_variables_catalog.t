# The variable catalog (issue 6, deliverable 4): profit_variables holds exactly what scripts/variables.lua
# declares (synced at start-up and after each reload; a name no longer declared becomes DEPRECATED, nothing is
# deleted; a bad declaration is refused with file:line and changes nothing), and GET /api/variables lists it
# with the list conventions (limit / cursor / next_cursor, filters) and no values.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;

my $QUIET = { GATEHOUSE_BACKGROUND_VERIFY => 0, GATEHOUSE_ALERTS => 0 };
my %CAT   = ( MD => 'market_data', EXEC => 'execution', RISK => 'risk', AI => 'ai' );
my @FIELDS = sort qw(name category source_integration source_kind variable_type state description
  profit_contribution_estimate last_updated_at last_seen_at used_by_bot_ids availability availability_reason);

# The declarations of a variables.lua written in the shipped style: v("name", CAT, "source", "type", ...).
sub lua_decls {
    my ($text) = @_;
    my %d;
    while ( $text =~ /^\s*v\("([a-z0-9_]+)",\s*(MD|EXEC|RISK|AI),\s*"([a-z_]+)",\s*"(number|bool|string)"/mg ) {
        $d{$1} = [ $1, $CAT{$2}, $3, $4, 'ACTIVE' ];
    }
    return %d;
}

sub db_catalog {
    my ($srv) = @_;
    return { map { $_->[0] => $_ } psql_rows( $srv->db,
            'SELECT name, category, source_integration, variable_type, state FROM profit_variables ORDER BY name' ) };
}

sub list { my ( $srv, $q ) = @_; $srv->get( '/api/variables' . ( $q // '' ) ) }
sub names { [ map { $_->{name} } @{ $_[0]{json}{variables} || [] } ] }

my $home = copy_home();
my $file = "$home/scripts/variables.lua";
my $src  = read_file($file);
my %decl = lua_decls($src);
cmp_ok( scalar keys %decl, '>=', 30, 'the shipped catalog declares at least 30 variables (' . scalar( keys %decl ) . ')' );

my $srv = start_server( env => $QUIET, home => $home );

subtest 'start-up sync: profit_variables equals the Lua declarations' => sub {
    ok( wait_for( sub { keys %{ db_catalog($srv) } == keys %decl }, 10, 'sync' ), 'one row per declaration' );
    is_deeply( db_catalog($srv), \%decl, 'name, category, source, type and state of every row match the Lua file' );
    my ($ev) = psql_rows( $srv->db, "SELECT message, trace_id FROM system_events WHERE kind = 'variables.sync' ORDER BY id LIMIT 1" );
    like( $ev->[0] // '', qr/\d+ declared, \d+ added/, 'a variables.sync system event records it' );
    ok( is_hex32( $ev->[1] ), 'with a trace id' );
};

subtest 'GET /api/variables: every variable, its fields, never a value' => sub {
    my $r = list( $srv, '?limit=500' );
    is( $r->{status}, 200, 'HTTP 200' );
    envelope_ok( $r, 'variables', success => 1 );
    is_deeply( names($r), [ sort keys %decl ], 'every declared variable, by name' );
    ok( !defined $r->{json}{next_cursor}, 'one page: next_cursor null' );
    ok( $r->{json}{synced}, 'synced' );
    my @bad = grep { join( ',', sort keys %$_ ) ne join( ',', @FIELDS ) } @{ $r->{json}{variables} };
    is_deeply( [ map { $_->{name} } @bad ], [], 'each variable has exactly the catalog fields (no value field)' );
    my %v = map { $_->{name} => $_ } @{ $r->{json}{variables} };
    is( $v{vwap}{source_kind}, 'live_stack', 'vwap: served by the live stack' );
    is( $v{max_contracts}{source_kind}, 'internal', 'max_contracts: internal (risk engine)' );
    ok( !defined $v{vwap}{profit_contribution_estimate}, 'profit_contribution_estimate null (never measured)' );
    ok( !defined $v{vwap}{last_seen_at}, 'last_seen_at null before any tick' );
    is_deeply( $v{vwap}{used_by_bot_ids}, [], 'used_by_bot_ids empty' );
    like( $v{vwap}{last_updated_at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/, 'last_updated_at RFC 3339 UTC' );
    # no provider configured: no market data, the system is BLOCKED, so nothing is available
    is_deeply( [ grep { $_->{availability} ne 'BLOCKED' } values %v ], [], 'no market data: every variable BLOCKED' );
    like( $v{close}{availability_reason}, qr/BLOCKED/, 'the reason says the system is blocked' );
};

subtest 'list conventions: limit / cursor / next_cursor, filters, bad parameters' => sub {
    my ( @walk, $cursor, $pages );
    do {
        my $r = list( $srv, '?limit=7' . ( $cursor ? "&cursor=$cursor" : '' ) );
        push @walk, @{ names($r) };
        cmp_ok( scalar @{ names($r) }, '<=', 7, 'a page holds at most limit variables' );
        $cursor = $r->{json}{next_cursor};
        $pages++;
    } while ( $cursor && $pages < 20 );
    is_deeply( \@walk, [ sort keys %decl ], "walking next_cursor ($pages pages) yields the whole catalog once" );
    my @risk = sort grep { $decl{$_}[1] eq 'risk' } keys %decl;
    is_deeply( names( list( $srv, '?category=risk&limit=500' ) ), \@risk, '?category=risk' );
    is( scalar @{ names( list( $srv, '?availability=BLOCKED&limit=500' ) ) }, scalar keys %decl, '?availability=BLOCKED: all' );
    is_deeply( names( list( $srv, '?availability=OK' ) ), [], '?availability=OK: none' );
    my $two = list( $srv, '?availability=BLOCKED&category=ai&limit=2' );
    is( scalar @{ names($two) }, 2, 'filters and limit combine' );
    ok( $two->{json}{next_cursor}, 'with a next_cursor when more match' );
    for my $bad ( [ 'availability=GREEN', 'availability' ], [ 'limit=0', 'limit' ], [ 'limit=501', 'limit' ],
        [ 'cursor=Bad!', 'cursor' ], [ 'category=Bad-Cat', 'category' ], [ 'state=GONE', 'state' ] ) {
        my $r = list( $srv, "?$bad->[0]" );
        error_ok( $r, 400, 'VALIDATION_FAILED', "?$bad->[0]" );
        is( $r->{json}{field}, $bad->[1], "names the field $bad->[1]" );
    }
};

subtest 'a variable removed from the Lua file becomes DEPRECATED after reload; nothing is deleted' => sub {
    edit_file( $file, sub { my $t = shift; $t =~ s/^\s*v\("ret_5",[^\n]*\n//m or die 'ret_5 line'; $t } );
    my $r = $srv->post( '/api/policy/reload', { reason => 'spec 45: drop ret_5' } );
    is( $r->{status}, 200, 'reload accepted' );
    ok( wait_for( sub { ( db_catalog($srv)->{ret_5} || [] )->[4] eq 'DEPRECATED' }, 10, 'deprecated' ), 'ret_5 DEPRECATED in profit_variables' );
    my $db = db_catalog($srv);
    is( scalar keys %$db, scalar keys %decl, 'no row deleted' );
    is_deeply( [ grep { $db->{$_}[4] ne 'ACTIVE' } sort keys %$db ], ['ret_5'], 'every other variable stays ACTIVE' );
    my ($v) = grep { $_->{name} eq 'ret_5' } @{ list( $srv, '?limit=500' )->{json}{variables} };
    is( $v->{state}, 'DEPRECATED', 'the API shows it DEPRECATED' );
    is( $v->{availability}, 'BLOCKED', 'and BLOCKED' );
    like( $v->{availability_reason}, qr/Deprecated/, 'because it is deprecated' );
    is_deeply( names( list( $srv, '?state=DEPRECATED' ) ), ['ret_5'], '?state=DEPRECATED' );
    my ($ev) = psql_rows( $srv->db, "SELECT metadata->>'deprecated' FROM system_events WHERE kind = 'variables.sync' ORDER BY id DESC LIMIT 1" );
    is( $ev->[0], 1, 'the sync event counts one deprecation' );

    write_file( $file, $src );
    $srv->post( '/api/policy/reload', { reason => 'spec 45: restore' } );
    ok( wait_for( sub { db_catalog($srv)->{ret_5}[4] eq 'ACTIVE' }, 10, 'active again' ), 'declared again: ACTIVE again' );
    is_deeply( db_catalog($srv), \%decl, 'the catalog matches the file again' );
};

subtest 'a bad declaration is refused with file:line and changes nothing' => sub {
    my $before = db_catalog($srv);
    edit_file( $file, sub { my $t = shift; $t =~ s/v\("vwap", MD, "market_data"/v("vwap", MD, "polgon"/ or die 'vwap'; $t } );
    my $r = $srv->post( '/api/policy/reload', { reason => 'spec 45: bad source' } );
    ok( !$r->{json}{success}, 'reload refused' );
    is( $r->{json}{error_code}, 'POLICY_ERROR', 'POLICY_ERROR' );
    my $line = 0;
    my @lines = split /\n/, read_file($file);
    for my $i ( 0 .. $#lines ) { if ( $lines[$i] =~ /v\("vwap"/ ) { $line = $i + 1; last } }
    like( $r->{json}{error} // $r->{json}{reason_human} // '', qr/scripts\/variables\.lua:$line: variables\[\d+\] \(vwap\): source 'polgon'/,
        "the error names scripts/variables.lua:$line and the entry" );
    sleep 1;
    is_deeply( db_catalog($srv), $before, 'profit_variables unchanged' );
    write_file( $file, $src );
    $srv->post( '/api/policy/reload', { reason => 'spec 45: restore' } );
};

subtest 'start-up sync against an existing catalog' => sub {
    is( $srv->stop, 0, 'first server stopped' );
    edit_file( $file, sub { my $t = shift; $t =~ s/^\s*v\("volume",[^\n]*\n//m or die 'volume line'; $t } );
    my $again = start_server( env => $QUIET, home => $home, db => $srv->db );
    ok( wait_for( sub { db_catalog($again)->{volume}[4] eq 'DEPRECATED' }, 10, 'deprecated at start' ), 'volume DEPRECATED by the start-up sync' );
    is( scalar keys %{ db_catalog($again) }, scalar keys %decl, 'still one row per variable ever declared' );
    is( $again->stop, 0, 'stopped' );
};

done_testing;
