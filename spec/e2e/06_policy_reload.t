# Hot reload of providers.lua: SIGHUP, a change of the file itself, and
# POST /api/policy/reload each build a new generation that the API then serves.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;

my $home = copy_home();
my $file = "$home/$GH{providers_file}";
my $srv  = start_server( home => $home, env => { DATABENTO_EXTRA_FLAG => 'on' } );

my $p0 = $srv->policy;
ok( $p0 && $p0->{loaded}, 'policy loaded at start' );
my $v0 = $p0->{version};
ok( !grep( { $_ eq 'DATABENTO_EXTRA_FLAG' } @{ $srv->providers->{databento}{optional_env_vars} } ),
    'DATABENTO_EXTRA_FLAG is not in the registry yet' );

# ---- SIGHUP --------------------------------------------------------------------------------
edit_file( $file, sub { add_optional_env_var( $_[0], 'databento', 'DATABENTO_EXTRA_FLAG', 'public_env_vars' ) } );
$srv->signal('HUP');
my $p1 = wait_for( sub { my $p = $srv->policy; $p && $p->{version} ne $v0 ? $p : undef }, 10, 'new version after SIGHUP' );
ok( $p1, 'SIGHUP: policy.version changed' );
ok( $p1 && !defined $p1->{last_reload_error}, 'SIGHUP: no reload error' );
isnt( $p1->{loaded_at}, undef, 'loaded_at is set' );
my $db = $srv->providers->{databento};
ok( ( grep { $_ eq 'DATABENTO_EXTRA_FLAG' } @{ $db->{optional_env_vars} } ), 'the status endpoint serves the new optional variable' );
is_deeply( $db->{required_env_vars}, ['DATABENTO_API_KEY'], 'required variables unchanged' );
is( scalar keys %{ $srv->providers }, 17, 'still 17 providers' );
ok( $srv->alive, 'the process survived SIGHUP' );

# ---- the file changes on disk (no signal) ---------------------------------------------------
edit_file( $file, sub { add_optional_env_var( $_[0], 'polygon', 'POLYGON_EXTRA_FLAG', 'public_env_vars' ) } );
my $p2 = wait_for( sub { my $p = $srv->policy; $p && $p->{version} ne $p1->{version} ? $p : undef }, 6, 'reload after file change' );
ok( $p2, 'a change of providers.lua is picked up without a signal' );
ok( ( grep { $_ eq 'POLYGON_EXTRA_FLAG' } @{ $srv->providers->{polygon}{optional_env_vars} } ),
    'the file change is served' );
ok( ( grep { $_ eq 'DATABENTO_EXTRA_FLAG' } @{ $srv->providers->{databento}{optional_env_vars} } ),
    'the earlier change is still there' );

# ---- POST /api/policy/reload ---------------------------------------------------------------
edit_file( $file, sub { "-- reloaded through the API\n" . $_[0] } );
my $r = $srv->post( $GH{policy_reload}, { reason => 'spec 06' } );
is( $r->{status}, 200, 'POST reload: 200' );
envelope_ok( $r, 'POST reload', success => 1 );
my $pol = $r->{json}{policy} || {};
ok( $pol->{loaded}, 'the reply carries the policy object' );
isnt( $pol->{version}, $p2 ? $p2->{version} : '', 'POST reload: new version' );
ok( exists $pol->{last_reload_error} && !defined $pol->{last_reload_error}, 'POST reload: last_reload_error null' );
is( $srv->policy->{version}, $pol->{version}, 'readyz shows the same version as the reload reply' );

# nothing changed: reloading again keeps the generation's version
my $again = $srv->post( $GH{policy_reload}, undef );
is( $again->{json}{policy}{version}, $pol->{version}, 'reloading unchanged files keeps the version' );

ok( !$srv->log_records( level => 'error' ), 'no error was logged' );
is( $srv->stop, 0, 'SIGTERM: exit status 0' );
done_testing;
