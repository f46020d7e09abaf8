# A failing reload keeps the last good generation: the server keeps serving it,
# /readyz reports the error as "file:line: message", and the log has an error line.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;

my $home = copy_home();
my $file = "$home/$GH{providers_file}";
my $good = read_file($file);
my $srv  = start_server( home => $home );
my $v0   = $srv->policy->{version};
my $F    = quotemeta $GH{providers_file};

my ( $dup_src, $dup_line ) = duplicate_provider( $good, 'databento' );
# [name, broken source, what the message must say, where ("file:line: ")]
my $AT = qr/^(?:\S*\/)?${F}:\d+: \S/;
my @cases = (
    [ 'syntax error', "local broken = = 1\n" . $good, qr/near/, qr/^(?:\S*\/)?${F}:1: \S/ ],
    [ 'duplicate provider id', $dup_src, qr/duplicate.*databento|databento.*duplicate/i, $AT ],
    [ 'unknown category', set_provider_field( $good, 'databento', 'category', '"astrology"' ),
        qr/categor.*astrology|astrology.*categor/i, $AT ],
);

for my $case (@cases) {
    my ( $name, $src, $want, $where ) = @$case;
    subtest $name => sub {
        my $before = scalar $srv->log_records( level => 'error', msg => $GH{log_reload_failed} );
        write_file( $file, $src );
        $srv->signal('HUP');
        my $p = wait_for( sub { my $x = $srv->policy; $x && $x->{last_reload_error} ? $x : undef }, 10, "$name: reload error" );
        ok( $p, 'readyz reports a last_reload_error' ) or return;
        like( $p->{last_reload_error}, $want, 'last_reload_error says what is wrong' );
        like( $p->{last_reload_error}, $where, 'last_reload_error has the form "file:line: message"' );
        is( $p->{version}, $v0, 'the old generation stays (same version)' );
        ok( $p->{loaded}, 'policy.loaded stays true' );

        my $ready = $srv->get( $GH{readyz} );
        is( $ready->{status}, 200, 'still ready: the previous generation serves' );
        is( $srv->get( $GH{healthz} )->{status}, 200, 'healthz 200' );
        my $by = $srv->providers;
        is( scalar keys %$by, 17, 'status endpoint still serves 17 providers' );
        is( $by->{databento}{category}, 'market_data', '... from the old generation' );

        ok( wait_for( sub { $srv->log_records( level => 'error', msg => $GH{log_reload_failed} ) > $before }, 5, 'error log line' ),
            'a level=error msg="policy reload failed" line was logged' );
        my ($line) = reverse $srv->log_records( level => 'error', msg => $GH{log_reload_failed} );
        like( $line->{error} // '', $want, 'the log line carries the error' );
        like( $line->{error} // '', $where, 'the logged error has the form "file:line: message"' );

        # the reload endpoint reports the same failure
        my $r = $srv->post( $GH{policy_reload}, { reason => "spec: $name" } );
        is( $r->{status}, 200, 'POST reload answers 200' );
        envelope_ok( $r, 'POST reload (failing)', success => 0 );
        is( $r->{json}{error_code}, 'POLICY_ERROR', 'error_code POLICY_ERROR' );
        ok( length( $r->{json}{reason_human} // '' ), 'reason_human explains it' );

        # fixing the file clears the error
        write_file( $file, $good );
        $srv->signal('HUP');
        ok( wait_for( sub { my $x = $srv->policy; $x && !defined $x->{last_reload_error} }, 10, 'error cleared' ),
            'a successful reload clears last_reload_error' );
        is( $srv->policy->{version}, $v0, 'the same files give the same version' );
    };
}

ok( $srv->alive, 'the server survived every failed reload' );
is( $srv->stop, 0, 'SIGTERM: exit status 0' );
done_testing;
