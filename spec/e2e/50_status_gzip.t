# The status endpoints answer gzip to clients that accept it (browsers do): the cached body is deflated once
# per version and each request frames its own envelope (trace id) around it, so a gzip answer decodes to the
# same JSON as the identity answer, with its own trace id. q=0 and no Accept-Encoding get identity; both carry
# Vary: Accept-Encoding.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;

my $srv = start_server();
for my $path ( '/api/integrations/status', '/api/system/status' ) {
    subtest $path => sub {
        # the two reads compared below must come from one evaluation of the status (it is renewed every
        # 500 ms, with a new evaluation_trace_id): read the pair again until both carry the same one
        my ( $plain, $gz );
        for my $try ( 1 .. 20 ) {
            $plain = $srv->get($path);
            $gz    = $srv->get( $path, { 'Accept-Encoding' => 'br;q=1.0, gzip;q=0.8, *;q=0.1' } );
            last if ( $plain->{json}{evaluation_trace_id} // '' ) eq ( $gz->{json}{evaluation_trace_id} // '' );
        }
        is( $plain->{status}, 200, 'identity: 200' );
        ok( !$plain->{headers}{'content-encoding'}, 'identity: no Content-Encoding without Accept-Encoding' );
        like( $plain->{headers}{vary} // '', qr/Accept-Encoding/i, 'identity: Vary: Accept-Encoding' );

        is( $gz->{status}, 200, 'gzip: 200' );
        is( $gz->{headers}{'content-encoding'}, 'gzip', 'gzip: Content-Encoding gzip' );
        like( $gz->{headers}{vary} // '', qr/Accept-Encoding/i, 'gzip: Vary: Accept-Encoding' );
        is( $gz->{headers}{'x-trace-id'}, $gz->{json}{trace_id}, 'the envelope carries this request\'s trace id' );
        isnt( $gz->{json}{trace_id}, $plain->{json}{trace_id}, 'a trace id per request, not the cached one' );
        cmp_ok( length $gz->{raw_content}, '<', length( $plain->{content} ) / 3,
                sprintf( 'compressed: %d bytes instead of %d', length $gz->{raw_content}, length $plain->{content} ) );
        ok( $gz->{json}{success}, 'decodes to a JSON envelope with success' );
        my %a = %{ $plain->{json} };
        my %b = %{ $gz->{json} };
        delete $_->{trace_id} for \%a, \%b;
        delete $_->{ts} for \%a, \%b;    # system status: the time of the answer
        if ( $path =~ /system/ ) { delete $_->{scheduler}{last_tick_at}, delete $_->{scheduler}{loop_health} for \%a, \%b }
        is_deeply( \%b, \%a, 'same members as the identity answer' );

        my $again = $srv->get( $path, { 'Accept-Encoding' => 'gzip' } );
        is( $again->{headers}{'content-encoding'}, 'gzip', 'a second gzip answer (from the deflated cache)' );
        isnt( $again->{json}{trace_id}, $gz->{json}{trace_id}, 'with its own trace id' );

        my $refused = $srv->get( $path, { 'Accept-Encoding' => 'gzip;q=0, identity' } );
        ok( !$refused->{headers}{'content-encoding'}, 'gzip;q=0: identity' );
        ok( $refused->{json}{success}, 'and plain JSON' );
    };
}
done_testing;
