# W3C trace context: a valid incoming traceparent's trace id is reused in the body,
# the X-Trace-Id header and the request's log line; invalid ones are replaced.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;

my $srv = start_server();

sub rand_hex { join '', map { sprintf '%x', int rand 16 } 1 .. $_[0] }

for my $case ( [ 'GET', $GH{healthz}, 200 ], [ 'GET', $GH{status}, 200 ], [ 'GET', '/nope', 404 ],
    [ 'POST', $GH{policy_reload}, 400, '{bad' ] )
{
    my ( $method, $path, $status, $body ) = @$case;
    my $tid = rand_hex(32);
    my $tp  = "00-$tid-" . rand_hex(16) . '-01';
    my $r   = $srv->request( $method, $path, { headers => { traceparent => $tp }, ( defined $body ? ( body => $body ) : () ) } );
    is( $r->{status}, $status, "$method $path: $status" );
    is( $r->{json}{trace_id}, $tid, "$method $path: body trace_id is the traceparent's" );
    is( $r->{headers}{'x-trace-id'}, $tid, "$method $path: X-Trace-Id is the traceparent's" );
    ok( wait_for( sub { scalar $srv->log_records( msg => $GH{log_request}, trace_id => $tid, path => $path ) }, 5, "log of $path" ),
        "$method $path: the request log line carries trace_id=$tid" );
}

# sampled flag 00 is still a valid traceparent
my $tid = rand_hex(32);
my $r   = $srv->get( $GH{healthz}, { traceparent => "00-$tid-" . rand_hex(16) . '-00' } );
is( $r->{json}{trace_id}, $tid, 'an unsampled traceparent is reused too' );

# invalid traceparents: a fresh random trace id instead
my %invalid = (
    'all-zero trace id'  => '00-' . ( '0' x 32 ) . '-' . rand_hex(16) . '-01',
    'all-zero parent id' => '00-' . rand_hex(32) . '-' . ( '0' x 16 ) . '-01',
    'version ff'         => 'ff-' . rand_hex(32) . '-' . rand_hex(16) . '-01',
    'upper-case hex'     => '00-' . uc( 'abcdef' . rand_hex(26) ) . '-' . rand_hex(16) . '-01',
    'short trace id'     => '00-' . rand_hex(31) . '-' . rand_hex(16) . '-01',
    'garbage'            => 'hello world',
);
for my $name ( sort keys %invalid ) {
    my ($given) = $invalid{$name} =~ /^..-([^-]*)-/;
    my $x = $srv->get( $GH{healthz}, { traceparent => $invalid{$name} } );
    is( $x->{status}, 200, "$name: request still served" );
    ok( is_hex32( $x->{json}{trace_id} ), "$name: trace_id is 32 lowercase hex" );
    isnt( $x->{json}{trace_id}, lc( $given // '' ), "$name: the invalid trace id is not reused" );
    is( $x->{headers}{'x-trace-id'}, $x->{json}{trace_id}, "$name: header equals body" );
}

is( $srv->stop, 0, 'SIGTERM: exit status 0' );
done_testing;
