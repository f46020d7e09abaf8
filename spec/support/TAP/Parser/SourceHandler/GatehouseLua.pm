package TAP::Parser::SourceHandler::GatehouseLua;

# A prove source handler for policy specs: a `*.lua` file is run as
# `bin/gatehouse spec FILE`, which executes it in the real sandbox and prints TAP.
# Loaded by spec/run.sh with `prove --source GatehouseLua` (spec/support on PERL5LIB),
# so one prove run covers Perl e2e specs, compiled C unit tests and Lua specs.
#
# The binary is $GATEHOUSE_BIN when set, else bin/gatehouse of this checkout.

use strict;
use warnings;

use File::Basename qw(dirname);
use File::Spec;
use TAP::Parser::IteratorFactory ();
use TAP::Parser::Iterator::Process ();

use base 'TAP::Parser::SourceHandler';

TAP::Parser::IteratorFactory->register_handler(__PACKAGE__);

sub gatehouse_bin {
    return $ENV{GATEHOUSE_BIN} if $ENV{GATEHOUSE_BIN};
    # spec/support/TAP/Parser/SourceHandler/GatehouseLua.pm -> repo root
    my $root = File::Spec->rel2abs( dirname(__FILE__) . '/../../../../..' );
    return "$root/bin/gatehouse";
}

sub can_handle {
    my ( $class, $source ) = @_;
    my $meta = $source->meta;
    return 0 unless $meta->{is_file};
    return 1 if $meta->{file}{lc_ext} eq '.lua';
    return 0;
}

sub make_iterator {
    my ( $class, $source ) = @_;
    my $file = ${ $source->raw };
    return TAP::Parser::Iterator::Process->new(
        {   command => [ gatehouse_bin(), 'spec', $file ],
            merge   => $source->merge,
        }
    );
}

1;
