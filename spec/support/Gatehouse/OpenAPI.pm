package Gatehouse::OpenAPI;

# The contract check: every response an end-to-end spec receives (Gatehouse::Test::Server::request) is
# validated against docs/openapi.json. A documented route must answer with a documented status whose JSON
# matches its schema; an /api path the document does not know fails as "undocumented route" unless the
# answer is the global 404/405. Paths outside /api (the Observatory's static files) are not part of the
# API contract.
#
# The validator covers the JSON Schema 2020-12 subset the document uses: $ref, allOf, anyOf, type (string
# or array), properties, required, items, enum, const, pattern, additionalProperties, minimum/maximum.

use strict;
use warnings;
use JSON::PP ();
use Exporter 'import';

our @EXPORT_OK = qw(load_document check_response validate route_keys);

my $DOC;
my @ROUTES;    # [ regex, openapi path, { method => op } ]

sub load_document {
    my ($file) = @_;
    return $DOC if $DOC && !$file;
    $file //= do { ( my $d = __FILE__ ) =~ s{spec/support/Gatehouse/OpenAPI\.pm\z}{}; "${d}docs/openapi.json" };
    open my $fh, '<:raw', $file or return undef;
    local $/;
    my $text = <$fh>;
    close $fh;
    $DOC    = JSON::PP->new->decode($text);
    @ROUTES = ();
    for my $p ( sort keys %{ $DOC->{paths} } ) {
        ( my $re = quotemeta $p ) =~ s/\\\{[a-z_]+\\\}/[^\/]+/g;
        push @ROUTES, [ qr/\A$re\z/, $p, $DOC->{paths}{$p} ];
    }
    # literal segments win over parameters (/api/bots/kill-all before /api/bots/{id})
    @ROUTES = sort { ( $b->[1] =~ tr/{// ? 0 : 1 ) <=> ( $a->[1] =~ tr/{// ? 0 : 1 ) } @ROUTES;
    return $DOC;
}

# route_keys() → ("GET /api/bots/{id}", ...) every documented method + path
sub route_keys {
    load_document() or return ();
    my @k;
    for my $p ( sort keys %{ $DOC->{paths} } ) {
        push @k, map { uc($_) . " $p" } sort keys %{ $DOC->{paths}{$p} };
    }
    return @k;
}

sub _resolve {
    my ($schema) = @_;
    while ( ref $schema eq 'HASH' && $schema->{'$ref'} ) {
        my ( undef, @parts ) = split m{/}, $schema->{'$ref'};
        my $node = $DOC;
        $node = $node->{$_} for @parts;
        $schema = $node;
    }
    return $schema;
}

sub _type_of {
    my ($v) = @_;
    return 'null' unless defined $v;
    return 'boolean' if JSON::PP::is_bool($v);
    return 'object'  if ref $v eq 'HASH';
    return 'array'   if ref $v eq 'ARRAY';
    my $flags = B::svref_2object( \$v )->FLAGS;
    return ( $v =~ /\A-?\d+\z/ ? 'integer' : 'number' ) if $flags & ( B::SVp_IOK() | B::SVp_NOK() ) && !( $flags & B::SVp_POK() );
    return 'string';
}

sub _type_ok {
    my ( $want, $have ) = @_;
    return 1 if $want eq $have;
    return 1 if $want eq 'number' && $have eq 'integer';
    return 0;
}

# validate($value, $schema, $where) → list of "where: problem" strings (empty when valid)
sub validate {
    my ( $v, $schema, $where ) = @_;
    require B;
    $schema = _resolve($schema);
    return () unless ref $schema eq 'HASH';
    my @e;
    if ( my $all = $schema->{allOf} ) {
        push @e, validate( $v, $_, $where ) for @$all;
    }
    if ( my $any = $schema->{anyOf} ) {
        my @why;
        my $matched = 0;
        for my $s (@$any) {
            my @r = validate( $v, $s, $where );
            if ( !@r ) { $matched = 1; last }
            push @why, @r;
        }
        push @e, "$where: matches none of anyOf (" . join( '; ', @why[ 0 .. ( $#why < 2 ? $#why : 2 ) ] ) . ')' unless $matched;
    }
    my $have = _type_of($v);
    if ( defined( my $t = $schema->{type} ) ) {
        my @t = ref $t ? @$t : ($t);
        unless ( grep { _type_ok( $_, $have ) } @t ) {
            return ( @e, "$where: expected " . join( '|', @t ) . ", got $have" );
        }
    }
    if ( exists $schema->{const} ) {
        my $c = $schema->{const};
        my $same = JSON::PP::is_bool($c) ? ( JSON::PP::is_bool($v) && ( $v ? 1 : 0 ) == ( $c ? 1 : 0 ) ) : ( defined $v && !ref $v && $v eq $c );
        push @e, "$where: expected const " . JSON::PP->new->allow_nonref->encode($c) unless $same;
    }
    if ( my $enum = $schema->{enum} ) {
        push @e, "$where: '" . ( $v // 'null' ) . "' not in enum [@$enum]" unless defined $v && !ref $v && grep { $_ eq $v } @$enum;
    }
    if ( $have eq 'string' && defined $schema->{pattern} && $v !~ /$schema->{pattern}/ ) {
        push @e, "$where: '$v' does not match /$schema->{pattern}/";
    }
    if ( ( $have eq 'integer' || $have eq 'number' ) ) {
        push @e, "$where: $v < minimum $schema->{minimum}" if defined $schema->{minimum} && $v < $schema->{minimum};
        push @e, "$where: $v > maximum $schema->{maximum}" if defined $schema->{maximum} && $v > $schema->{maximum};
    }
    if ( $have eq 'object' ) {
        for my $r ( @{ $schema->{required} || [] } ) {
            push @e, "$where: missing required '$r'" unless exists $v->{$r};
        }
        my $props = $schema->{properties} || {};
        for my $k ( sort keys %$v ) {
            if ( $props->{$k} ) {
                push @e, validate( $v->{$k}, $props->{$k}, "$where.$k" );
            }
            elsif ( ref $schema->{additionalProperties} eq 'HASH' ) {
                push @e, validate( $v->{$k}, $schema->{additionalProperties}, "$where.$k" );
            }
            elsif ( defined $schema->{additionalProperties} && !ref $schema->{additionalProperties} && !$schema->{additionalProperties} ) {
                push @e, "$where: unexpected property '$k'";
            }
        }
    }
    if ( $have eq 'array' && $schema->{items} ) {
        my $i = 0;
        push @e, validate( $_, $schema->{items}, $where . '[' . $i++ . ']' ) for @$v;
    }
    return @e;
}

# check_response($method, $path_with_query, \%res) → list of problems (empty when the response honours the
# document). %res is the harness response: status, headers (lower-case), content, json.
sub check_response {
    my ( $method, $path, $res ) = @_;
    load_document() or return ();
    $method = uc $method;
    ( my $p = $path ) =~ s/[?#].*\z//s;
    return () if $method eq 'HEAD' || $method eq 'OPTIONS';
    my $status = $res->{status};
    return () if $status >= 590;    # the harness's own transport errors (HTTP::Tiny 599)
    my ($route) = grep { $p =~ $_->[0] } @ROUTES;
    my $op      = $route ? $route->[2]{ lc $method } : undef;
    if ( !$op ) {
        return () if $status == 404 || $status == 405 || $status == 413 || $status == 400;
        return () if $p !~ m{\A/api(/|\z)};
        return ("undocumented route $method $p answered $status");
    }
    my $resp = _resolve( $op->{responses}{$status} || $op->{responses}{default} );
    return ("$method $route->[1]: status $status is not documented") unless $resp;
    my $content = $resp->{content} || {};
    my $ctype   = lc( $res->{headers}{'content-type'} // '' );
    if ( $content->{'application/json'} ) {
        return ("$method $route->[1] $status: expected JSON, got '$ctype'") unless $ctype =~ m{application/json};
        return ("$method $route->[1] $status: body is not valid JSON") unless defined $res->{json};
        return map {"$method $route->[1] $status: $_"} validate( $res->{json}, $content->{'application/json'}{schema}, 'body' );
    }
    return ();
}

1;
