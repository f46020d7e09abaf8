package Gatehouse::Test;

# Gatehouse::Test — harness for the end-to-end specs (spec/e2e/*.t).
#
# Starts the real bin/gatehouse against a real Postgres, talks HTTP to it, reads its
# log, and cleans everything up at END. Core Perl modules only.
#
#   use lib 'spec/support';
#   use Gatehouse::Test;
#   my $srv = start_server(env => { DATABENTO_API_KEY => 'x' });
#   my $res = $srv->get('/healthz');       # { status, headers, content, json }
#
# Postgres: the cluster named by GH_TEST_PG_URL (spec/run.sh starts one for the
# whole run); when unset, a private cluster is started for this test file with
# runtime/tools/pg-embedded.sh and destroyed at END. Every new_database() is a fresh
# database in that cluster.
#
# Names the server defines (routes, subcommands, log messages, env vars) live in
# %GH below, so a rename in the runtime is a one-line change here.

use strict;
use warnings;

use Carp qw(croak);
use Cwd qw(abs_path);
use Exporter 'import';
use File::Basename qw(dirname basename);
use File::Copy qw(copy);
use File::Find qw(find);
use File::Path qw(make_path remove_tree);
use File::Spec;
use File::Temp qw(tempdir tempfile);
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use MIME::Base64 qw(encode_base64);
use POSIX qw(:sys_wait_h);
use Test::More;
use Gatehouse::OpenAPI ();
use Time::HiRes qw(sleep time);

our @EXPORT = qw(
  %GH
  raw_http
  repo_root gatehouse_bin pg_embedded
  new_database migrate_database c_string_constant psql_rows db_url_for
  copy_home read_file write_file edit_file
  lua_entry_span provider_entry add_optional_env_var duplicate_provider set_provider_field
  start_server run_cmd free_port wait_for
  parse_log_line log_records
  is_hex32 envelope_ok error_ok json_bool
  canary_forms find_leaks response_leaks
  totp_code base32_decode
);

# ---- names the runtime defines (keep them here) ----------------------------------

our %GH = (
    # subcommands of bin/gatehouse
    cmd_serve   => 'serve',
    cmd_check   => 'check',
    cmd_migrate => 'migrate',

    # routes
    healthz        => '/healthz',
    readyz         => '/readyz',
    status         => '/api/integrations/status',
    policy_reload  => '/api/policy/reload',
    verify         => '/api/integrations/verify',

    # environment
    env_listen    => 'GATEHOUSE_LISTEN',
    env_home      => 'GATEHOUSE_HOME',
    env_db        => 'DATABASE_URL',
    env_max_body  => 'GATEHOUSE_MAX_BODY_BYTES',

    # policy files
    providers_file => 'providers.lua',

    # log messages (the value of msg=)
    log_request            => 'request',
    log_migration_applied  => 'migration applied',
    log_migrations_done    => 'migrations complete',
    log_reload_failed      => 'policy reload failed',
    log_stopped            => 'stopped',

    # migrations bookkeeping
    migrations_table => 'schema_migrations',

    # auth: the admin every start_server() registers and signs in (unless auth => 0)
    admin_user     => 'admin',
    admin_password => 'gatehouse-test-admin-pw',
    test_enc_key   => '7f3c1e9a5b2d4f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8',
    test_service_token => 'gh-test-service-token-5d1f0c9e8b7a',
);

# ---- paths ------------------------------------------------------------------------

my $ROOT = abs_path( dirname(__FILE__) . '/../../..' );

sub repo_root     { $ROOT }
sub gatehouse_bin { $ENV{GATEHOUSE_BIN} || "$ROOT/bin/gatehouse" }
sub pg_embedded   { "$ROOT/runtime/tools/pg-embedded.sh" }

$SIG{PIPE} = 'IGNORE';    # a server closing early must not kill the test

my $KEEP = $ENV{GH_KEEP_TMP} ? 1 : 0;    # keep temp dirs/logs for debugging
my $SCRATCH = tempdir( 'gh-e2e-XXXXXX', TMPDIR => 1, CLEANUP => !$KEEP );
chmod 0711, $SCRATCH;

my @SERVERS;            # every server started by this file, stopped at END
my @DATABASES;          # [admin_url, name] dropped at END
my $PRIVATE_CLUSTER;    # dir of this file's own cluster, when GH_TEST_PG_URL is unset
my @CLEANUPS;           # extra code refs run at END (e.g. clusters a spec started)

sub at_end { push @CLEANUPS, $_[0] }
push @EXPORT, 'at_end';

# ---- small file helpers -----------------------------------------------------------

sub read_file {
    my ($path) = @_;
    open my $fh, '<:raw', $path or croak "read $path: $!";
    local $/;
    my $s = <$fh>;
    return defined $s ? $s : '';
}

# Writes in place (same inode, truncate + write), like most editors do on save.
sub write_file {
    my ( $path, $content ) = @_;
    open my $fh, '>:raw', $path or croak "write $path: $!";
    print {$fh} $content;
    close $fh or croak "close $path: $!";
    return $path;
}

# edit_file($path, sub { my $text = shift; ...; return $new_text })
sub edit_file {
    my ( $path, $cb ) = @_;
    my $new = $cb->( read_file($path) );
    croak "edit_file($path): callback returned undef" unless defined $new;
    write_file( $path, $new );
    return $new;
}

# ---- processes ----------------------------------------------------------------------

sub _clean_env {
    my (%extra) = @_;
    my %env = (
        PATH => $ENV{PATH} || '/usr/local/bin:/usr/bin:/bin',
        HOME => $ENV{HOME} || '/root',
        LANG => $ENV{LANG} || 'C.UTF-8',
        # the suite's moved clock (make test-at: libfaketime) reaches every process it starts, or they would
        # disagree with the harness about the time
        map { $_ => $ENV{$_} } grep { /^(?:LD_PRELOAD|FAKETIME\w*|DONT_FAKE_MONOTONIC)$/ } keys %ENV,
    );
    for my $k ( keys %extra ) {
        if ( defined $extra{$k} ) { $env{$k} = $extra{$k} }
        else                      { delete $env{$k} }
    }
    return \%env;
}

# fork + exec with stdout/stderr to files; returns pid. Child gets exactly %$env.
sub _spawn {
    my (%o) = @_;
    my $pid = fork;
    croak "fork: $!" unless defined $pid;
    if ( $pid == 0 ) {
        eval {
            chdir $o{cwd} or die "chdir $o{cwd}: $!\n";
            open STDIN, '<', ( $o{stdin_file} // '/dev/null' ) or die "stdin: $!\n";
            open STDOUT, '>>', $o{stdout} or die "stdout $o{stdout}: $!\n";
            if ( $o{stderr} eq $o{stdout} ) {
                open STDERR, '>&', \*STDOUT or die "stderr: $!\n";
            }
            else {
                open STDERR, '>>', $o{stderr} or die "stderr $o{stderr}: $!\n";
            }
            %ENV = %{ $o{env} };
            $SIG{PIPE} = 'DEFAULT';    # an ignored signal would stay ignored across exec
            setpgrp( 0, 0 ) if $o{own_group};
            exec { $o{argv}[0] } @{ $o{argv} } or die "exec $o{argv}[0]: $!\n";
        };
        print STDERR $@;
        POSIX::_exit(127);
    }
    return $pid;
}

# Decode a wait status: exit code, or 128 + signal number.
sub _exit_code {
    my ($status) = @_;
    return WIFEXITED($status) ? WEXITSTATUS($status) : 128 + WTERMSIG($status);
}

# run_cmd(\@argv, env => {...}, cwd => dir, timeout => s, inherit_env => 0)
#   → (exit_code, stdout, stderr)
# The command gets a clean environment (PATH, HOME, LANG + env) unless inherit_env.
# A relative argv[0] containing a slash is resolved against the repo root.
sub run_cmd {
    my ( $argv, %o ) = @_;
    my @argv = @$argv;
    $argv[0] = "$ROOT/$argv[0]" if $argv[0] =~ m{/} && $argv[0] !~ m{^/};
    my $env = $o{inherit_env} ? { %ENV, %{ $o{env} || {} } } : _clean_env( %{ $o{env} || {} } );
    delete $env->{$_} for grep { !defined $env->{$_} } keys %$env;
    my ( undef, $out ) = tempfile( 'cmd-XXXXXX', DIR => $SCRATCH, SUFFIX => '.out' );
    my ( undef, $err ) = tempfile( 'cmd-XXXXXX', DIR => $SCRATCH, SUFFIX => '.err' );
    my $stdin_file;
    if ( defined $o{stdin} ) {
        ( undef, $stdin_file ) = tempfile( 'cmd-XXXXXX', DIR => $SCRATCH, SUFFIX => '.in' );
        write_file( $stdin_file, $o{stdin} );
    }
    my $pid = _spawn(
        argv       => \@argv,
        env        => $env,
        cwd        => $o{cwd} // $ROOT,
        stdout     => $out,
        stderr     => $err,
        stdin_file => $stdin_file,
        own_group  => 1,
    );
    my $deadline = time + ( $o{timeout} // 60 );
    my $status;
    while (1) {
        my $r = waitpid( $pid, WNOHANG );
        if ( $r == $pid ) { $status = $?; last }
        if ( time > $deadline ) {
            kill 'KILL', -$pid;
            waitpid( $pid, 0 );
            croak "run_cmd: '@argv' did not finish within " . ( $o{timeout} // 60 ) . " s";
        }
        sleep 0.02;
    }
    my ( $o_txt, $e_txt ) = ( read_file($out), read_file($err) );
    unlink $out, $err;
    unlink $stdin_file if $stdin_file;
    return ( _exit_code($status), $o_txt, $e_txt );
}

# raw_http($port, $text, local_addr => $ip?) → { status, head, headers {lc name => value}, content, json }: sends the
# bytes of $text as they are to 127.0.0.1:$port on one connection (from $ip when given) and reads the answer to EOF
# (the request should say Connection: close). For requests the HTTP client cannot or must not build.
sub raw_http {
    my ( $port, $text, %o ) = @_;
    my $s = IO::Socket::INET->new( PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp', Timeout => 10,
                                   $o{local_addr} ? ( LocalAddr => $o{local_addr} ) : () )
      or die "raw_http: connect" . ( $o{local_addr} ? " from $o{local_addr}" : '' ) . ": $!";
    print {$s} $text;
    local $/;
    my $resp = <$s> // '';
    close $s;
    my ( $head, $content ) = split /\r\n\r\n/, $resp, 2;
    my ($status) = ( $head // '' ) =~ m{^HTTP/1\.\d (\d{3})};
    my %hdr = map { /^([^:]+):\s*(.*)$/ ? ( lc $1 => $2 ) : () } split /\r\n/, $head // '';
    my $json = eval { JSON::PP->new->utf8->decode( $content // '' ) };
    return { status => $status // 0, head => $head // '', headers => \%hdr, content => $content // '', json => $json };
}

sub free_port {
    my $s = IO::Socket::INET->new(
        LocalAddr => '127.0.0.1',
        LocalPort => 0,
        Listen    => 1,
        ReuseAddr => 1,
    ) or croak "free_port: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

# wait_for(sub { ... }, $timeout_s = 10, $desc) → the callback's first true value, or
# undef on timeout (with a diag naming $desc). The callback may die; that counts as false.
sub wait_for {
    my ( $cb, $timeout, $desc ) = @_;
    $timeout //= 10;
    my $deadline = time + $timeout;
    while (1) {
        my $v = eval { $cb->() };
        return $v if $v;
        if ( time > $deadline ) {
            diag( "timed out after ${timeout}s waiting for " . ( $desc // 'condition' )
                  . ( $@ ? " (last error: $@)" : '' ) );
            return undef;
        }
        sleep 0.1;
    }
}

# ---- Postgres -------------------------------------------------------------------------

sub _cluster_admin_url {
    return $ENV{GH_TEST_PG_URL} if $ENV{GH_TEST_PG_URL};
    unless ($PRIVATE_CLUSTER) {
        my $dir = tempdir( 'gh-pg-XXXXXX', TMPDIR => 1, CLEANUP => 0 );
        chmod 0711, $dir;
        $PRIVATE_CLUSTER = "$dir/pg";
        my ( $rc, $out, $err ) = run_cmd( [ pg_embedded(), 'start', $PRIVATE_CLUSTER ],
            env => { GATEHOUSE_PG_FAST => 1 }, timeout => 120 );
        die "could not start a private Postgres cluster (rc=$rc): $err$out" if $rc != 0;
        chomp $out;
        $ENV{GH_TEST_PG_URL} = db_url_for( $out, 'postgres' );
    }
    return $ENV{GH_TEST_PG_URL};
}

# db_url_for($url, $dbname) → the same URL naming another database.
sub db_url_for {
    my ( $url, $db ) = @_;
    $url =~ m{^(postgres(?:ql)?://[^/?]*)(?:/([^?]*))?(\?.*)?$}
      or croak "unsupported database URL: $url";
    return "$1/$db" . ( $3 // '' );
}

my $DB_SEQ = 0;

# new_database() → DATABASE_URL of a fresh, empty database (dropped at END).
sub new_database {
    my $admin = _cluster_admin_url();
    my $name = sprintf 'gh_%d_%d_%04x', $$, ++$DB_SEQ, int rand 65536;
    psql_rows( $admin, qq{CREATE DATABASE "$name"} );
    push @DATABASES, [ $admin, $name ];
    return db_url_for( $admin, $name );
}

# migrate_database($url) → ($rc, $output): `gatehouse migrate` of the repo's migrations into $url.
sub migrate_database {
    my ($url) = @_;
    my ( $rc, $out, $err ) = run_cmd( [ gatehouse_bin(), $GH{cmd_migrate} ],
        env => { $GH{env_db} => $url, $GH{env_home} => $ROOT }, cwd => $ROOT, timeout => 120 );
    return ( $rc, "$out$err" );
}

# c_string_constant($relpath, $name) → the text of `static const char NAME[] = "..." "...";` in a runtime source
# file (adjacent literals joined, escapes undone): the statement exactly as compiled into the binary, for specs
# that run the product's own SQL. undef when the file has no such constant.
sub c_string_constant {
    my ( $relpath, $name ) = @_;
    open my $fh, '<', "$ROOT/$relpath" or croak "$relpath: $!";
    my $src = do { local $/; <$fh> };
    my ($literal) = $src =~ /static const char \Q$name\E\[\] =(.*?");\n/s or return undef;
    return join '', map { s/\\(.)/$1/gr } $literal =~ /"((?:[^"\\]|\\.)*)"/g;
}

sub _sql_literal {
    my ($v) = @_;
    return 'NULL' unless defined $v;
    ( my $q = "$v" ) =~ s/'/''/g;
    return "'$q'";
}

# psql_rows($url, $sql, @params) → list of arrayrefs (one per row, fields as text,
# NULL as ''). $1, $2 … in $sql are replaced by quoted literals (test-only!).
sub psql_rows {
    my ( $url, $sql, @params ) = @_;
    $sql =~ s/\$(\d+)/ $1 >= 1 && $1 <= @params ? _sql_literal($params[$1 - 1]) : "\$$1" /ge;
    my ( $rc, $out, $err ) = run_cmd(
        [ 'psql', '-X', '-q', '-A', '-t', '-F', "\t", '-v', 'ON_ERROR_STOP=1', '-d', $url, '-c', $sql ],
        timeout => 60
    );
    croak "psql failed (rc=$rc) for [$sql]: $err" if $rc != 0;
    return map { [ split /\t/, $_, -1 ] } grep { length } split /\n/, $out;
}

# ---- policy homes -------------------------------------------------------------------------

sub _copy_tree {
    my ( $from, $to ) = @_;
    find(
        {   no_chdir => 1,
            wanted   => sub {
                my $rel = File::Spec->abs2rel( $File::Find::name, $from );
                my $dst = $rel eq '.' ? $to : "$to/$rel";
                if ( -d $File::Find::name ) { make_path($dst) }
                else { copy( $File::Find::name, $dst ) or die "copy $File::Find::name: $!" }
            },
        },
        $from
    );
}

# copy_home() → a temp dir with copies of providers.lua, gates.lua, scripts/ and
# migrations/ from the repo, usable as GATEHOUSE_HOME by a test that edits policies.
sub copy_home {
    my $dir = tempdir( 'home-XXXXXX', DIR => $SCRATCH );
    chmod 0755, $dir;
    for my $f ( $GH{providers_file}, 'gates.lua' ) {
        copy( "$ROOT/$f", "$dir/$f" ) or croak "copy $f: $!" if -f "$ROOT/$f";
    }
    for my $d (qw(scripts migrations)) {
        _copy_tree( "$ROOT/$d", "$dir/$d" ) if -d "$ROOT/$d";
    }
    croak "copy_home: the repo has no $GH{providers_file}" unless -f "$dir/$GH{providers_file}";
    return $dir;
}

# ---- editing Lua policy text -------------------------------------------------------------
#
# The specs edit providers.lua as text, like an operator would. These helpers find one
# provider's table constructor by its id, skipping strings and comments when matching
# braces, so they do not depend on the file's formatting.

# Scan Lua source; returns a string of the same length where strings and comments are
# replaced by spaces (newlines kept), so brace matching and regexes ignore them.
sub _lua_code_mask {
    my ($src) = @_;
    my $out = $src;
    my $n   = length $src;
    my $i   = 0;
    my $blank = sub {
        my ( $from, $to ) = @_;    # [from, to)
        for my $k ( $from .. $to - 1 ) {
            substr( $out, $k, 1 ) = ' ' unless substr( $src, $k, 1 ) eq "\n";
        }
    };
    while ( $i < $n ) {
        my $c = substr( $src, $i, 1 );
        if ( substr( $src, $i, 2 ) eq '--' ) {
            if ( substr( $src, $i + 2 ) =~ /^\[(=*)\[/ ) {
                my $close = ']' . $1 . ']';
                my $end   = index( $src, $close, $i );
                $end = $end < 0 ? $n : $end + length $close;
                $blank->( $i, $end );
                $i = $end;
            }
            else {
                my $end = index( $src, "\n", $i );
                $end = $n if $end < 0;
                $blank->( $i, $end );
                $i = $end;
            }
        }
        elsif ( $c eq '"' || $c eq "'" ) {
            my $j = $i + 1;
            while ( $j < $n ) {
                my $d = substr( $src, $j, 1 );
                if    ( $d eq '\\' ) { $j += 2; next }
                elsif ( $d eq $c || $d eq "\n" ) { $j++; last }
                $j++;
            }
            $blank->( $i + 1, $j - 1 ) if $j - 1 > $i + 1;    # keep the quotes
            $i = $j;
        }
        elsif ( $c eq '[' && substr( $src, $i ) =~ /^\[(=*)\[/ ) {
            my $close = ']' . $1 . ']';
            my $end   = index( $src, $close, $i + 2 );
            $end = $end < 0 ? $n : $end + length $close;
            $blank->( $i, $end );
            $i = $end;
        }
        else { $i++ }
    }
    return $out;
}

# lua_entry_span($src, $id) → ($start, $end) offsets of the table constructor `{ ... }`
# that contains `id = "<id>"` (end exclusive). Dies when not found.
sub lua_entry_span {
    my ( $src, $id ) = @_;
    my $mask = _lua_code_mask($src);
    my $pos;
    while ( $src =~ /\bid\s*=\s*(["'])\Q$id\E\1/g ) {
        my $p = $-[0];
        if ( substr( $mask, $p, 2 ) eq 'id' ) { $pos = $p; last }    # not inside a string
    }
    croak "no provider entry with id = \"$id\" in policy text" unless defined $pos;
    my ( $depth, $start ) = ( 0, undef );
    for ( my $k = $pos; $k >= 0; $k-- ) {
        my $c = substr( $mask, $k, 1 );
        if    ( $c eq '}' ) { $depth++ }
        elsif ( $c eq '{' ) {
            if ( $depth == 0 ) { $start = $k; last }
            $depth--;
        }
    }
    croak "unbalanced braces before id $id" unless defined $start;
    $depth = 0;
    for ( my $k = $start; $k < length $mask; $k++ ) {
        my $c = substr( $mask, $k, 1 );
        if ( $c eq '{' ) { $depth++ }
        elsif ( $c eq '}' ) {
            $depth--;
            return ( $start, $k + 1 ) if $depth == 0;
        }
    }
    croak "unbalanced braces after id $id";
}

sub provider_entry {
    my ( $src, $id ) = @_;
    my ( $s, $e ) = lua_entry_span( $src, $id );
    return substr( $src, $s, $e - $s );
}

# add_optional_env_var($src, $id, $var) → new source with "$var" prepended to the
# provider's optional_env_vars list (and to any other list field of that entry named
# in @also, e.g. a public/non-secret list).
sub add_optional_env_var {
    my ( $src, $id, $var, @also ) = @_;
    my ( $s, $e ) = lua_entry_span( $src, $id );
    my $entry = substr( $src, $s, $e - $s );
    my $done  = 0;
    for my $field ( 'optional_env_vars', @also ) {
        my $mask = _lua_code_mask($entry);
        if ( $mask =~ /\b\Q$field\E\s*=\s*\{/ ) {
            my $at = $+[0];    # just after '{'
            substr( $entry, $at, 0 ) = qq{ "$var",};
            $done++;
        }
        elsif ( $field eq 'optional_env_vars' ) {
            croak "provider $id has no optional_env_vars = { ... } list";
        }
    }
    substr( $src, $s, $e - $s ) = $entry;
    return $src;
}

# duplicate_provider($src, $id) → (new source, line of the copy): a second, identical
# entry with the same id right after the first.
sub duplicate_provider {
    my ( $src, $id ) = @_;
    my ( $s, $e ) = lua_entry_span( $src, $id );
    my $entry = substr( $src, $s, $e - $s );
    my $insert = ",\n" . $entry;
    substr( $src, $e, 0 ) = $insert;
    my $line = 1 + ( () = substr( $src, 0, $e + 2 ) =~ /\n/g );
    return ( $src, $line );
}

# set_provider_field($src, $id, $field, $lua_value_text) → new source with
# `field = <value>` of that provider replaced (the field must exist with a string value).
sub set_provider_field {
    my ( $src, $id, $field, $value ) = @_;
    my ( $s, $e ) = lua_entry_span( $src, $id );
    my $entry = substr( $src, $s, $e - $s );
    $entry =~ s/\b\Q$field\E\s*=\s*(["'])[^"'\n]*\1/$field = $value/
      or croak "provider $id has no string field $field";
    substr( $src, $s, $e - $s ) = $entry;
    return $src;
}

# ---- logs --------------------------------------------------------------------------------

# parse_log_line('ts=... level=info msg="x y" a=b') → { ts => ..., msg => 'x y', ... }
# Also accepts a JSON object line.
sub parse_log_line {
    my ($line) = @_;
    return {} unless defined $line;
    if ( $line =~ /^\s*\{/ ) {
        my $h = eval { JSON::PP->new->utf8(0)->decode($line) };
        return $h if ref $h eq 'HASH';
    }
    my %kv;
    while ( $line =~ /(?:^|\s)([A-Za-z0-9_.\-]+)=("(?:[^"\\]|\\.)*"|\S*)/g ) {
        my ( $k, $v ) = ( $1, $2 );
        if ( $v =~ /^"(.*)"$/s ) {
            $v = $1;
            $v =~ s/\\(["\\])/$1/g;
            $v =~ s/\\n/\n/g;
            $v =~ s/\\t/\t/g;
        }
        $kv{$k} = $v;
    }
    return \%kv;
}

sub log_records { map { parse_log_line($_) } @_ }

# ---- assertions --------------------------------------------------------------------------

sub is_hex32 { defined $_[0] && !ref $_[0] && $_[0] =~ /\A[0-9a-f]{32}\z/ }

sub json_bool { JSON::PP::is_bool( $_[0] ) }

# envelope_ok($res, $desc, success => 1|0) — the JSON envelope every response carries.
sub envelope_ok {
    my ( $res, $desc, %o ) = @_;
    $desc //= 'response';
    my $j  = $res->{json};
    my $ok = 1;
    $ok &&= ok( ref $j eq 'HASH', "$desc: body is a JSON object" )
      or diag("status $res->{status}, body: " . substr( $res->{content} // '', 0, 500 ));
    return 0 unless ref $j eq 'HASH';
    $ok &&= ok( json_bool( $j->{success} ), "$desc: success is a JSON boolean" );
    if ( exists $o{success} ) {
        $ok &&= is( ( $j->{success} ? 1 : 0 ), ( $o{success} ? 1 : 0 ), "$desc: success is " . ( $o{success} ? 'true' : 'false' ) );
    }
    $ok &&= ok( is_hex32( $j->{trace_id} ), "$desc: trace_id is 32 lowercase hex" )
      or diag( "trace_id: " . ( $j->{trace_id} // 'undef' ) );
    $ok &&= is( $res->{headers}{'x-trace-id'}, $j->{trace_id}, "$desc: X-Trace-Id header equals trace_id" );
    return $ok;
}

# error_ok($res, $status, $code, $desc) — a JSON error response.
sub error_ok {
    my ( $res, $status, $code, $desc ) = @_;
    $desc //= "$status $code";
    my $ok = is( $res->{status}, $status, "$desc: HTTP $status" );
    $ok &&= like( $res->{headers}{'content-type'} // '', qr{application/json}i, "$desc: JSON content type" );
    envelope_ok( $res, $desc, success => 0 ) or $ok = 0;
    my $j = ref $res->{json} eq 'HASH' ? $res->{json} : {};
    is( $j->{error_code}, $code, "$desc: error_code $code" ) or $ok = 0;
    ok( defined $j->{reason_human} && !ref $j->{reason_human} && length $j->{reason_human},
        "$desc: reason_human is a non-empty string" ) or $ok = 0;
    return $ok;
}

# ---- secrets: canary detection --------------------------------------------------------------

sub _uri_escape {
    my ($s) = @_;
    ( my $u = $s ) =~ s/([^A-Za-z0-9\-._~])/sprintf '%%%02X', ord $1/ge;
    return $u;
}

# canary_forms($value) → the forms a leak of $value could take: raw, URL-encoded
# (upper and lower hex, '+' for space), JSON-escaped, and base64 (standard and URL-safe,
# at the three alignments a value can have inside a longer base64'd string, with the
# edge characters that depend on the neighbours cut off).
sub canary_forms {
    my ($v) = @_;
    my %f = ( raw => $v );
    my $u = _uri_escape($v);
    $f{url}       = $u;
    $f{url_lower} = $u =~ s/(%[0-9A-F]{2})/lc $1/ger;
    ( my $j = $v ) =~ s{/}{\\/}g;
    $f{json_slash} = $j;
    for my $pad ( 0, 1, 2 ) {
        my $b = encode_base64( ( 'x' x $pad ) . $v, '' );
        $b =~ s/=+$//;
        my $cut_front = $pad ? 4 : 0;
        my $core = substr( $b, $cut_front );
        $core = substr( $core, 0, length($core) - 4 ) if length $core > 8;
        $f{"b64_$pad"} = $core;
        ( my $us = $core ) =~ tr{+/}{-_};
        $f{"b64url_$pad"} = $us;
    }
    return \%f;
}

# find_leaks($text, \@secret_values, $where) → list of "where: form of secret" strings.
sub find_leaks {
    my ( $text, $secrets, $where ) = @_;
    return () unless defined $text && length $text;
    my @hits;
    for my $s (@$secrets) {
        my $forms = canary_forms($s);
        for my $k ( sort keys %$forms ) {
            next unless length $forms->{$k} >= 6;
            push @hits, "$where: $k form of a secret ending in '" . substr( $s, -4 ) . "'"
              if index( $text, $forms->{$k} ) >= 0;
        }
    }
    return @hits;
}

# ---- TOTP (RFC 6238, SHA1 / 6 digits / 30 s), computed in Perl ---------------------------------

# base32_decode('GEZD...') → bytes (RFC 4648; case, spaces, dashes and padding ignored).
sub base32_decode {
    my ($s) = @_;
    ( my $t = uc $s ) =~ s/[\s=-]//g;
    my $bits = join '', map {
        my $i = index( 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', $_ );
        croak "not base32: $_" if $i < 0;
        sprintf '%05b', $i
    } split //, $t;
    $bits = substr( $bits, 0, length($bits) - length($bits) % 8 );
    return pack 'B*', $bits;
}

# totp_code($base32_secret, $step = now / 30) → the 6-digit code of that time step.
sub totp_code {
    my ( $secret, $step ) = @_;
    $step //= int( time() / 30 );
    require Digest::SHA;
    my $h   = Digest::SHA::hmac_sha1( pack( 'NN', int( $step / 4294967296 ), $step % 4294967296 ), base32_decode($secret) );
    my $off = ord( substr( $h, -1 ) ) & 0x0f;
    my $bin = unpack( 'N', substr( $h, $off, 4 ) ) & 0x7fffffff;
    return sprintf '%06d', $bin % 1000000;
}

# ---- servers ------------------------------------------------------------------------------

# start_server(%opt) → Gatehouse::Test::Server
#   env     => { VAR => value, VAR2 => undef (removed) }   added to a clean environment
#   home    => dir            GATEHOUSE_HOME (default: the repo root); also the cwd
#   db      => url            DATABASE_URL (default: a new_database()); db => undef: unset
#   args    => [...]          extra arguments after `serve`
#   cmd     => [...]          run this instead of `bin/gatehouse serve @args`
#   wait    => 0              return at once (then call ->wait_healthy)
#   timeout => s              how long to wait for GET /healthz = 200 (default 15)
#   auth    => 0              do not register/sign in the test admin (default: once healthy, POST
#                             /api/auth/register as $GH{admin_user}, or log in when users exist already)
#   clock   => '2026-12-08T15:00:00Z'   GATEHOUSE_TEST_CLOCK: the server's clock starts at this instant and runs
#                             on (specs that tick must not depend on today's date). Once healthy, the server's
#                             exact offset is read from /readyz (->clock_offset_ms, ->now) and every simulator
#                             its env points at is set to the same clock, so bars, market hours, TOTP and SQL
#                             all read one instant.
# APP_ENC_KEY and GATEHOUSE_SERVICE_TOKEN get test values unless env names them (undef = unset).
# Every string of a decoded JSON value (keys and values), for leak scans.
sub _json_strings {
    my $v = shift;
    return ref $v eq 'HASH' ? map { ( $_, _json_strings( $v->{$_} ) ) } keys %$v
      : ref $v eq 'ARRAY' ? map { _json_strings($_) } @$v
      : defined $v ? ($v) : ();
}

# response_leaks($srv, \@secrets, $label) -> ($scanned, @leaks): every response the server object received —
# body, headers and the decoded JSON's strings — searched for every form of every secret (find_leaks).
sub response_leaks {
    my ( $srv, $secrets, $label ) = @_;
    my ( $i, @leaks ) = (0);
    for my $r ( $srv->responses ) {
        $i++;
        my $h = $r->{headers};
        my $headers = join "\n", map { my $k = $_; map {"$k: $_"} ref $h->{$k} ? @{ $h->{$k} } : $h->{$k} } keys %$h;
        push @leaks, find_leaks( $r->{content}, $secrets, "${label}response $i body" );
        push @leaks, find_leaks( $headers, $secrets, "${label}response $i headers" );
        push @leaks, find_leaks( join( "\n", _json_strings( $r->{json} ) ), $secrets, "${label}response $i decoded JSON" ) if $r->{json};
    }
    return ( $i, @leaks );
}

sub start_server {
    my (%o) = @_;
    my $db = exists $o{db} ? $o{db} : new_database();
    # instances of one database are one fleet on one clock: a later instance joins the clock of a running one
    if ( defined $o{clock} && defined $db ) {
        my ($peer) = grep { defined $_->{clock_offset_ms} && ( $_->{db} // '' ) eq $db && $_->alive } @SERVERS;
        $o{clock} = _iso_utc( int( $peer->now ) ) if $peer;
    }
    return _start_once( \%o, $db, 1 );
}

sub _iso_utc {
    my @t = gmtime( $_[0] );
    return sprintf '%04d-%02d-%02dT%02d:%02d:%02dZ', $t[5] + 1900, $t[4] + 1, @t[ 3, 2, 1, 0 ];
}

sub _start_once {
    my ( $o, $db, $attempt ) = @_;
    my %o    = %$o;
    my $port = free_port();
    my $home = $o{home} // $ROOT;
    my %env  = (
        $GH{env_listen} => "127.0.0.1:$port",
        $GH{env_home}   => $home,
        ( defined $db ? ( $GH{env_db} => $db ) : () ),
        APP_ENC_KEY             => $GH{test_enc_key},
        GATEHOUSE_SERVICE_TOKEN => $GH{test_service_token},
        GATEHOUSE_VERIFY_COOLDOWN_MS => 0,    # specs verify back to back; spec 69 sets its own cool-down
        ( defined $o{clock} ? ( GATEHOUSE_TEST_CLOCK => $o{clock} ) : () ),
        %{ $o{env} || {} },
    );
    my $env = _clean_env(%env);
    my ( undef, $log ) = tempfile( 'server-XXXXXX', DIR => $SCRATCH, SUFFIX => '.log' );
    my @argv = $o{cmd} ? @{ $o{cmd} } : ( gatehouse_bin(), $GH{cmd_serve}, @{ $o{args} || [] } );
    $argv[0] = "$ROOT/$argv[0]" if $argv[0] =~ m{/} && $argv[0] !~ m{^/};
    croak "start_server: $argv[0] is not executable (run make first)" unless -x $argv[0];

    my $pid = _spawn( argv => \@argv, env => $env, cwd => $home, stdout => $log, stderr => $log );
    my $srv = bless {
        pid      => $pid,
        port     => $port,
        url      => "http://127.0.0.1:$port",
        home     => $home,
        db       => $db,
        env      => $env,
        log_path => $log,
        argv     => \@argv,
        jar      => Gatehouse::Test::CookieJar->new,
        timeout  => $o{timeout} // 15,
        auto_auth => ( $o{auth} // 1 ) ? 1 : 0,
        clock    => $o{clock},
    }, 'Gatehouse::Test::Server';
    $srv->{http} = HTTP::Tiny->new(
        timeout    => 10,
        keep_alive => 0,
        cookie_jar => $srv->{jar},
        agent      => 'gatehouse-e2e/1',
    );
    push @SERVERS, $srv;
    return $srv if defined $o{wait} && !$o{wait};
    my $ok = eval { $srv->wait_healthy; 1 };
    return $srv if $ok;
    my $why = $@;
    # Another process took the port between free_port() and the bind: try another one.
    if ( ( $attempt // 1 ) < 3 && !$srv->alive && $srv->log_text =~ /address already in use|EADDRINUSE|cannot bind|could not bind|cannot listen/i ) {
        return _start_once( $o, $db, ( $attempt // 1 ) + 1 );
    }
    die $why;
}

sub _stop_all {
    for my $srv (@SERVERS) {
        next if defined $srv->{exit_code};
        my $code = eval { $srv->stop( quiet => 1 ) };
        diag("server pid $srv->{pid} (port $srv->{port}) exited with status $code at END") if $code;
    }
}

END {
    my $status = $?;
    my $failed = eval { Test::More->builder->is_passing ? 0 : 1 } // 0;
    _stop_all();
    if ( $failed || $KEEP ) {
        for my $srv (@SERVERS) {
            next unless -f $srv->{log_path};
            my @lines = split /\n/, read_file( $srv->{log_path} );
            my @tail  = @lines > 40 ? @lines[ -40 .. -1 ] : @lines;
            diag( "--- last log lines of server pid $srv->{pid} (port $srv->{port}"
                  . ( $KEEP ? ", $srv->{log_path}" : '' ) . "):\n" . join( "\n", @tail ) );
        }
    }
    $_->() for reverse @CLEANUPS;
    for my $d ( reverse @DATABASES ) {
        eval { psql_rows( $d->[0], qq{DROP DATABASE IF EXISTS "$d->[1]" WITH (FORCE)} ) };
    }
    if ($PRIVATE_CLUSTER) {
        eval { run_cmd( [ pg_embedded(), 'destroy', $PRIVATE_CLUSTER ], timeout => 60 ) };
        remove_tree( dirname($PRIVATE_CLUSTER) );
    }
    $? = $status;
}

# ---------------------------------------------------------------------------------------------

package Gatehouse::Test::Server;

use strict;
use warnings;
use Carp qw(croak);
use JSON::PP;
use POSIX qw(:sys_wait_h);
use Test::More;
use Time::HiRes qw(sleep time);

my $JSON = JSON::PP->new->utf8->canonical->allow_nonref;

sub url      { $_[0]{url} }
sub port     { $_[0]{port} }
sub pid      { $_[0]{pid} }
sub home     { $_[0]{home} }
sub db       { $_[0]{db} }
sub log_path { $_[0]{log_path} }
sub jar      { $_[0]{jar} }

sub log_text  { Gatehouse::Test::read_file( $_[0]{log_path} ) }
sub log_lines { split /\n/, $_[0]->log_text }

# log_records(%match) → parsed log lines whose keys equal the given values
# (a value may be a qr//).
sub log_records {
    my ( $self, %match ) = @_;
    my @out;
  LINE: for my $rec ( map { Gatehouse::Test::parse_log_line($_) } $self->log_lines ) {
        for my $k ( keys %match ) {
            my $v = $rec->{$k};
            next LINE unless defined $v;
            if ( ref $match{$k} eq 'Regexp' ) { next LINE unless $v =~ $match{$k} }
            else                              { next LINE unless $v eq $match{$k} }
        }
        push @out, $rec;
    }
    return @out;
}

# alive() → true while the process runs (reaps it when it has exited).
sub alive {
    my ($self) = @_;
    return 0 if defined $self->{exit_code};
    my $r = waitpid( $self->{pid}, WNOHANG );
    if ( $r == $self->{pid} ) {
        $self->{exit_code} = Gatehouse::Test::_exit_code($?);
        return 0;
    }
    return 1;
}

sub exit_code { $_[0]{exit_code} }

# wait_healthy() — wait until GET /healthz answers 200; dies with the log if the
# process exits first or the time runs out.
# 1 when this server's process holds the listening socket of its port (/proc/net/tcp LISTEN inode among the
# process's fds), so a 200 from another suite's server that won the port race is never taken for ours.
sub _owns_port {
    my ($self) = @_;
    my $hex = sprintf '%04X', $self->{port};
    my %listen;
    for my $f (qw(/proc/net/tcp /proc/net/tcp6)) {
        open my $fh, '<', $f or next;
        while ( my $line = <$fh> ) {    # never the implicit $_: callers loop over servers with it
            my @c = split ' ', $line;
            $listen{ $c[9] } = 1 if ( $c[1] // '' ) =~ /:$hex\z/ && ( $c[3] // '' ) eq '0A';
        }
    }
    opendir my $d, "/proc/$self->{pid}/fd" or return 0;
    for my $fd ( readdir $d ) {
        my $t = readlink "/proc/$self->{pid}/fd/$fd" // next;
        return 1 if $t =~ /^socket:\[(\d+)\]$/ && $listen{$1};
    }
    return 0;
}

sub wait_healthy {
    my ( $self, $timeout ) = @_;
    $timeout //= $self->{timeout};
    my $deadline = time + $timeout;
    my $probe = HTTP::Tiny->new( timeout => 1, keep_alive => 0 );
    while (1) {
        if ( !$self->alive ) {
            die "server (@{ $self->{argv} }) exited with status $self->{exit_code} before it was healthy; log:\n"
              . $self->log_text . "\n";
        }
        # Only our own process counts: another suite's server may answer on a port we lost the race for.
        my $log = $self->log_text;
        if ( $log =~ /msg="cannot start"/ ) {
            for ( 1 .. 100 ) { last unless $self->alive; sleep 0.05 }
            next unless $self->alive;    # reported above as an exit (and retried on another port by _start_once)
        }
        my $r = $probe->get( $self->{url} . $Gatehouse::Test::GH{healthz} );
        if ( $r->{status} == 200 && $self->_owns_port ) {
            $self->_sync_clock if $self->{clock} && !defined $self->{clock_offset_ms};
            $self->_auto_auth if $self->{auto_auth} && !$self->{auth_done};
            return $self;
        }
        if ( time > $deadline ) {
            my $log = $self->log_text;
            kill 'KILL', $self->{pid};
            waitpid( $self->{pid}, 0 );
            $self->{exit_code} = 137;
            die "server (@{ $self->{argv} }) not healthy after ${timeout}s (last: $r->{status}); log:\n$log\n";
        }
        sleep 0.05;
    }
}

# The server's test clock: its offset from the real time, read from /readyz, then given to every simulator the
# server's environment points at (Gatehouse::Sim), so the provider simulator lives at the same instant.
sub _sync_clock {
    my ($self) = @_;
    my $r = $self->get('/readyz');
    my $c = $r->{json} && $r->{json}{clock};
    die "harness: the server was started with clock => $self->{clock} but /readyz shows no test clock: $r->{content}\n"
      unless $c && ( $c->{source} // '' ) eq 'test' && defined $c->{offset_ms};
    $self->{clock_offset_ms} = $c->{offset_ms};
    Gatehouse::Sim::set_clock_for_env( $self->{env}, $c->{offset_ms} ) if defined &Gatehouse::Sim::set_clock_for_env;
    return $self;
}

# clock_offset_ms → ms the server's clock runs ahead of the real time (0 without a test clock).
sub clock_offset_ms { $_[0]{clock_offset_ms} // 0 }

# now → the server's wall clock in epoch seconds (fractional), as the harness sees it.
sub now { time() + $_[0]->clock_offset_ms / 1000 }

# request($method, $path, { headers => {...}, body => $string | $ref, timeout => s, wall_clock_ok => 1 })
# (wall_clock_ok: only for the spec of the guard below)
#   → { status, reason, headers (lower-case names), content, json }
# A ref body is JSON-encoded; any body is sent as application/json unless the
# headers say otherwise.
sub request {
    my ( $self, $method, $path, $opts ) = @_;
    $opts ||= {};
    my %h = %{ $opts->{headers} || {} };
    my %args;
    # browsers send Origin on state-changing requests; so does the harness (Origin => undef: send none)
    if ( $method =~ /^(?:POST|PUT|PATCH|DELETE)$/ && !grep { lc eq 'origin' } keys %h ) {
        $h{Origin} = $self->{url};
    }
    delete $h{$_} for grep { !defined $h{$_} } keys %h;
    if ( exists $opts->{body} && defined $opts->{body} ) {
        my $b = $opts->{body};
        $args{content} = ref $b ? $JSON->encode($b) : $b;
        $h{'Content-Type'} = 'application/json' unless grep { lc eq 'content-type' } keys %h;
    }
    $args{headers} = \%h;
    my $http = $self->{http};
    if ( $opts->{timeout} ) {
        $http = HTTP::Tiny->new( timeout => $opts->{timeout}, keep_alive => 0, cookie_jar => $self->{jar} );
    }
    my $r = $http->request( $method, $self->{url} . $path, \%args );
    my %res = (
        status  => $r->{status},
        reason  => $r->{reason},
        headers => $r->{headers} || {},
        content => $r->{content} // '',
        json    => undef,
    );
    if ( ( $res{headers}{'content-encoding'} // '' ) eq 'gzip' ) {    # decoded as a browser does; raw bytes kept
        require IO::Uncompress::Gunzip;
        my ( $raw, $plain ) = ( $res{content} );
        IO::Uncompress::Gunzip::gunzip( \$raw, \$plain, Strict => 1 ) or die "gzip body of $method $path does not decode: $IO::Uncompress::Gunzip::GunzipError\n";
        @res{qw(raw_content content)} = ( $raw, $plain );
    }
    if ( length $res{content} && ( ( $res{headers}{'content-type'} // '' ) =~ /json/i || $res{content} =~ /^\s*[\{\[]/ ) ) {
        $res{json} = eval { $JSON->decode( $res{content} ) };
    }
    push @{ $self->{responses} }, \%res;
    $self->_check_contract( $method, $path, \%res ) unless $opts->{no_contract};
    $self->_check_fixed_instant( $method, $path, \%res, $opts );
    return \%res;
}

# The guard of issue 15: a bot that ticked (a manual tick ran, or a start put it on the scheduler) on a server
# without a test clock makes the spec depend on the day and hour it runs — a failed test naming the fix.
sub ran_on_wall_clock {
    my ( $self, $method, $path, $res ) = @_;
    return !$self->{clock} && $method eq 'POST' && $res->{status} == 200
      && $path =~ m{^/api/bots/[^/?]+/(?:tick|start|restart)(?:\?|\z)} ? 1 : 0;
}

sub _check_fixed_instant {
    my ( $self, $method, $path, $res, $opts ) = @_;
    return if $opts->{wall_clock_ok} || !$self->ran_on_wall_clock( $method, $path, $res );
    Test::More::fail("$method $path ran a bot on the wall clock: start the server at an instant "
          . '(start_server(clock => AT_OPEN, ...), Gatehouse::Fixtures)');
    return;
}

# Every response is checked against docs/openapi.json (Gatehouse::OpenAPI); a mismatch is a failed test
# naming the route and the field. Set GH_CONTRACT=0 to switch the check off while drafting a route.
sub _check_contract {
    my ( $self, $method, $path, $res ) = @_;
    return if defined $ENV{GH_CONTRACT} && !$ENV{GH_CONTRACT};
    my @problems = Gatehouse::OpenAPI::check_response( $method, $path, $res );
    return unless @problems;
    Test::More::fail("response honours docs/openapi.json: $method $path");
    Test::More::diag($_) for @problems[ 0 .. ( $#problems < 9 ? $#problems : 9 ) ];
    return;
}

sub get  { my ( $self, $path, $headers ) = @_; $self->request( 'GET', $path, { headers => $headers } ) }
sub post { my ( $self, $path, $body, $headers ) = @_; $self->request( 'POST', $path, { headers => $headers, body => $body } ) }

# every response this server object has returned, for leak scans
sub responses { @{ $_[0]{responses} || [] } }

# ---- auth helpers ----

sub admin_password { $Gatehouse::Test::GH{admin_password} }

# Registers the test admin (first user) or, when the database has users already (a second server on
# the same database), logs in as it. Dies when neither works.
sub _auto_auth {
    my ($self) = @_;
    $self->{auth_done} = 1;
    my ( $u, $p ) = ( $Gatehouse::Test::GH{admin_user}, $Gatehouse::Test::GH{admin_password} );
    my $r = $self->post( '/api/auth/register', { username => $u, password => $p } );
    return $self if $r->{status} == 201;
    $r = $self->login( $u, $p );
    die "harness: cannot register or log in the test admin (HTTP $r->{status}): $r->{content}\n"
      unless $r->{status} == 200 && !$r->{json}{requires_2fa};
    return $self;
}

# login($username, $password) → the login response; on success the jar holds the session cookie.
# With 2FA on, the response carries requires_2fa and temp_token (see login_2fa).
sub login {
    my ( $self, $u, $p ) = @_;
    $u //= $Gatehouse::Test::GH{admin_user};
    $p //= $Gatehouse::Test::GH{admin_password};
    my $r = $self->post( '/api/auth/login', { username => $u, password => $p } );
    $self->{password} = $p if $r->{status} == 200;    # enroll_2fa sends it again (2fa/setup needs it)
    return $r;
}

# login_2fa($username, $password, $secret) → the 2fa/verify response (password, then a fresh TOTP).
sub login_2fa {
    my ( $self, $u, $p, $secret ) = @_;
    my $r = $self->login( $u, $p );
    return $r unless $r->{status} == 200 && $r->{json}{requires_2fa};
    return $self->post( '/api/auth/2fa/verify', { temp_token => $r->{json}{temp_token}, code => $self->next_totp($secret) } );
}

sub logout { $_[0]->post('/api/auth/logout') }

# next_totp($secret) → a code of a time step not used before by this object (each step is accepted once):
# the current step, else the next one (accepted as ±1 clock skew), else waits for the clock.
sub next_totp {
    my ( $self, $secret ) = @_;
    $secret //= $self->{totp_secret} or croak 'next_totp: no secret (enroll_2fa first)';
    my $last = $self->{totp_last_step}{$secret} // -1;
    my $now  = int( $self->now / 30 );    # the server's clock: a test clock shifts TOTP steps too
    my $step = $now > $last ? $now : $last + 1;
    while ( $step > int( $self->now / 30 ) + 1 ) { sleep 0.2 }
    $self->{totp_last_step}{$secret} = $step;
    return Gatehouse::Test::totp_code( $secret, $step );
}

# enroll_2fa($password) → { secret, otpauth_url, backup_codes => [10] } after 2fa/setup {password} +
# 2fa/confirm for the signed-in user (dies on failure). The password defaults to the one of this object's
# last sign-in, else the test admin's. Enrollment is not a step-up (fresh_2fa does one), and it ends the
# user's other sessions.
sub enroll_2fa {
    my ( $self, $password ) = @_;
    $password //= $self->{password} // $Gatehouse::Test::GH{admin_password};
    my $s = $self->post( '/api/auth/2fa/setup', { password => $password } );
    die "harness: 2fa/setup failed (HTTP $s->{status}): $s->{content}\n" unless $s->{status} == 200;
    my $secret = $s->{json}{secret_base32};
    my $c = $self->post( '/api/auth/2fa/confirm', { code => $self->next_totp($secret) } );
    die "harness: 2fa/confirm failed (HTTP $c->{status}): $c->{content}\n" unless $c->{status} == 200;
    $self->{totp_secret} = $secret;
    return { secret => $secret, otpauth_url => $s->{json}{otpauth_url}, backup_codes => $c->{json}{backup_codes} };
}

# fresh_2fa() — makes the session 2FA-verified now (enrolls first when needed, then steps up: enrollment
# alone is not fresh); returns the step-up response.
sub fresh_2fa {
    my ($self) = @_;
    $self->enroll_2fa unless $self->{totp_secret};
    my $r = $self->post( '/api/auth/2fa/step-up', { code => $self->next_totp } );
    die "harness: 2fa/step-up failed (HTTP $r->{status}): $r->{content}\n" unless $r->{status} == 200;
    return $r;
}

# client() → a second client of the same server with its own (empty) cookie jar, e.g. to sign in as
# another user or to call unauthenticated. Use it for requests only (it does not own the process).
sub client {
    my ($self) = @_;
    my $c = bless { %$self, jar => Gatehouse::Test::CookieJar->new, responses => [], auto_auth => 0, auth_done => 1,
                    totp_secret => undef, totp_last_step => {}, is_client => 1, password => undef }, ref $self;
    $c->{http} = HTTP::Tiny->new( timeout => 10, keep_alive => 0, cookie_jar => $c->{jar}, agent => 'gatehouse-e2e/1' );
    return $c;
}

# auth_headers() → { Cookie, Origin } of this object's session, for raw clients (http_parallel).
sub auth_headers {
    my ($self) = @_;
    return { Cookie => $self->{jar}->cookie_header, Origin => $self->{url} };
}

# service_headers() → { Authorization: Bearer <the test service token> }.
sub service_headers {
    my ($self) = @_;
    my $t = $self->{env}{GATEHOUSE_SERVICE_TOKEN} // $Gatehouse::Test::GH{test_service_token};
    return { Authorization => "Bearer $t" };
}

sub signal {
    my ( $self, $name ) = @_;
    croak "server $self->{pid} is not running" unless $self->alive;
    kill $name, $self->{pid} or croak "kill $name $self->{pid}: $!";
    return 1;
}

# stop() — SIGTERM, wait up to 10 s; returns the exit status (128+n when killed by
# signal n). A server that hangs is SIGKILLed and the stop counts as a failed test.
sub stop {
    my ( $self, %o ) = @_;
    croak 'stop: a client() does not own the server process' if $self->{is_client};
    return $self->{exit_code} unless $self->alive;
    kill 'TERM', $self->{pid};
    my $deadline = time + ( $o{timeout} // 10 );
    while ( time < $deadline ) {
        return $self->{exit_code} unless $self->alive;
        sleep 0.05;
    }
    kill 'KILL', $self->{pid};
    waitpid( $self->{pid}, 0 );
    $self->{exit_code} = 137;
    if ( $o{quiet} ) { diag("server $self->{pid} ignored SIGTERM for 10 s; killed") }
    else             { fail("server $self->{pid} stops within 10 s of SIGTERM") }
    return 137;
}

sub wait_for { my ( $self, @a ) = @_; Gatehouse::Test::wait_for(@a) }

# policy() → the readyz policy object (or undef)
sub policy {
    my ($self) = @_;
    my $r = $self->get( $Gatehouse::Test::GH{readyz} );
    return ref $r->{json} eq 'HASH' ? $r->{json}{policy} : undef;
}

# providers() → { id => provider hash } from the integrations status endpoint
sub providers {
    my ($self) = @_;
    my $r = $self->get( $Gatehouse::Test::GH{status} );
    croak "status endpoint: HTTP $r->{status}" unless $r->{status} == 200 && ref $r->{json} eq 'HASH';
    return { map { $_->{id} => $_ } @{ $r->{json}{providers} || [] } };
}

# ---------------------------------------------------------------------------------------------

package Gatehouse::Test::CookieJar;

# The minimal jar HTTP::Tiny needs (add + cookie_header): one server, so domain and
# path are ignored; Max-Age=0 or an Expires in the past deletes.
use strict;
use warnings;

sub new { bless { c => {} }, shift }

sub add {
    my ( $self, $url, $header ) = @_;
    my ( $pair, @attrs ) = split /;\s*/, $header;
    return unless defined $pair && $pair =~ /^\s*([^=\s]+)\s*=\s*(.*?)\s*$/;
    my ( $name, $value ) = ( $1, $2 );
    my $delete = 0;
    for my $a (@attrs) {
        $delete = 1 if $a =~ /^max-age\s*=\s*(-?\d+)/i && $1 <= 0;
        $delete = 1 if $a =~ /^expires\s*=\s*.*\b19[0-9]{2}\b/i;
    }
    if ($delete) { delete $self->{c}{$name} }
    else         { $self->{c}{$name} = $value }
    $self->{attrs}{$name} = \@attrs;
    return;
}

sub cookie_header {
    my ($self) = @_;
    return join '; ', map {"$_=$self->{c}{$_}"} sort keys %{ $self->{c} };
}

sub set       { my ( $self, $n, $v ) = @_; $self->{c}{$n} = $v }
sub get       { $_[0]{c}{ $_[1] } }
sub attrs     { $_[0]{attrs}{ $_[1] } || [] }
sub clear     { $_[0]{c} = {} }
sub names     { sort keys %{ $_[0]{c} } }

1;
