# Migrations: migrations/NNNN_name.sql apply in order, each once, each in its own
# transaction, recorded in schema_migrations; a second run applies nothing; two
# servers starting together on a fresh database both come up (advisory lock).
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;

my $bin   = gatehouse_bin();
my $T     = $GH{migrations_table};
my $home  = copy_home();
opendir my $dh, "$home/migrations" or die $!;
my @files = sort grep { /^\d{4}_.+\.sql$/ } readdir $dh;
closedir $dh;
ok( @files >= 1, 'the repo ships at least one migration' );
my @versions = map { substr $_, 0, 4 } @files;
my $N = @files;

sub migrate {
    my ($url) = @_;
    my ( $rc, $out, $err ) = run_cmd( [ $bin, $GH{cmd_migrate} ],
        env => { $GH{env_db} => $url, $GH{env_home} => $home }, cwd => $home, timeout => 60 );
    return ( $rc, "$out$err" );
}
sub applied_count {
    my ($log) = @_;
    my @done = grep { ( $_->{msg} // '' ) eq $GH{log_migrations_done} } log_records( split /\n/, $log );
    return @done ? $done[-1]{applied} : undef;
}
sub applied_versions {
    my ($log) = @_;
    return map { $_->{version} } grep { ( $_->{msg} // '' ) eq $GH{log_migration_applied} } log_records( split /\n/, $log );
}

# ---- fresh database: everything applies, in order, once -----------------------------------
my $db = new_database();
my ( $rc, $log ) = migrate($db);
is( $rc, 0, 'migrate on a fresh database exits 0' ) or diag $log;
is_deeply( [ applied_versions($log) ], \@versions, 'one "migration applied" line per file, in order' );
is( applied_count($log), $N, "\"migrations complete\" applied=$N" );

my @rows = psql_rows( $db, "SELECT version, name, applied_at IS NOT NULL, coalesce(checksum, '') FROM $T ORDER BY version" );
is_deeply( [ map { $_->[0] } @rows ], \@versions, "$T lists every version once" );
for my $i ( 0 .. $#rows ) {
    my ( $v, $name, $has_ts, $sum ) = @{ $rows[$i] };
    ok( index( $files[$i], $name ) >= 0 && length $name, "$v: name '$name' comes from the file name" );
    is( $has_ts, 't', "$v: applied_at is set" );
    ok( length $sum >= 8, "$v: checksum recorded" );
}
my ($type) = psql_rows( $db, q{SELECT data_type FROM information_schema.columns WHERE table_name = $1 AND column_name = 'applied_at'}, $T );
is( $type->[0], 'timestamp with time zone', 'applied_at is timestamptz' );

# ---- again: nothing to do ------------------------------------------------------------------
( $rc, $log ) = migrate($db);
is( $rc, 0, 'second migrate exits 0' );
is( applied_count($log), 0, 'second migrate: applied=0' );
is_deeply( [ applied_versions($log) ], [], 'second migrate: no "migration applied" line' );

# ---- new files: only they apply, in order; a failing one rolls back alone ------------------------
my $next = sprintf '%04d', $versions[-1] + 1;
my $then = sprintf '%04d', $versions[-1] + 2;
write_file( "$home/migrations/${then}_gh_spec_second.sql", "INSERT INTO gh_spec_order (step) VALUES ('second');\n" );
write_file( "$home/migrations/${next}_gh_spec_first.sql",
    "CREATE TABLE gh_spec_order (n serial PRIMARY KEY, step text NOT NULL);\nINSERT INTO gh_spec_order (step) VALUES ('first');\n" );
( $rc, $log ) = migrate($db);
is( $rc, 0, 'migrate with two new files exits 0' ) or diag $log;
is_deeply( [ applied_versions($log) ], [ $next, $then ], 'only the new files apply, in version order' );
is( applied_count($log), 2, 'applied=2' );
is_deeply( [ map { $_->[0] } psql_rows( $db, 'SELECT step FROM gh_spec_order ORDER BY n' ) ], [qw(first second)],
    'their statements ran in order' );

my $bad = sprintf '%04d', $versions[-1] + 3;
write_file( "$home/migrations/${bad}_gh_spec_broken.sql",
    "CREATE TABLE gh_spec_half (x int);\nINSERT INTO gh_spec_order (step) VALUES ('broken');\nSELECT * FROM gh_no_such_table;\n" );
( $rc, $log ) = migrate($db);
isnt( $rc, 0, 'a failing migration makes migrate exit non-zero' );
like( $log, qr/level=error/, 'and logs an error' );
is_deeply( [ psql_rows( $db, q{SELECT to_regclass('gh_spec_half') IS NULL} ) ], [ ['t'] ], 'its partial work was rolled back' );
is_deeply( [ psql_rows( $db, "SELECT count(*) FROM gh_spec_order WHERE step = 'broken'" ) ], [ ['0'] ], 'no row from it' );
is_deeply( [ psql_rows( $db, "SELECT count(*) FROM $T WHERE version = \$1", $bad ) ], [ ['0'] ], 'and it is not recorded' );
unlink "$home/migrations/${bad}_gh_spec_broken.sql";

# ---- serve migrates at start: nothing left to do here ----------------------------------------
my $srv = start_server( home => $home, db => $db );
ok( wait_for( sub { defined applied_count( $srv->log_text ) }, 5, 'migrations complete line' ), 'serve logs "migrations complete"' );
is( applied_count( $srv->log_text ), 0, 'serve on a migrated database: applied=0' );
is( $srv->stop, 0, 'SIGTERM: exit status 0' );

# ---- two servers at once on a fresh database -------------------------------------------------
my $fresh = new_database();
my @pair  = map { start_server( home => $home, db => $fresh, wait => 0 ) } 1 .. 2;
my @up    = map { my $s = $_; eval { $s->wait_healthy(30); 1 } } @pair;
ok( $up[0] && $up[1], 'both servers started together come up' ) or diag $@;
my @counts = psql_rows( $fresh, "SELECT version, count(*) FROM $T GROUP BY version ORDER BY version" );
is_deeply( [ map { $_->[0] } @counts ], [ @versions, $next, $then ], 'every version recorded' );
is_deeply( [ grep { $_->[1] != 1 } @counts ], [], 'each version exactly once' );
my @applied = map { applied_count( $_->log_text ) // 0 } @pair;
is( $applied[0] + $applied[1], $N + 2, "between them the two servers applied each migration once (@applied)" );
is( $_->stop, 0, 'SIGTERM: exit status 0' ) for @pair;

done_testing;
