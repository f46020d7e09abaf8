package Gatehouse::Fleet;

# Gatehouse::Fleet — several gatehouse instances on one database sharing the bots on shard leases (issue 17),
# for spec/e2e/85_fleet.t, bench/fleet.pl (`make fleet`) and bench/bench.pl's `fleet` step. Core Perl only;
# servers are started through Gatehouse::Test (start_server), the market data through Gatehouse::Sim.
#
#   my $fleet = Gatehouse::Fleet->new( lease_s => 3 );        # simulator + a fresh database (or db => url)
#   $fleet->start_instance for 1 .. 3;                         # i1, i2, i3: same env, same clock (AT_OPEN)
#   my @ids = $fleet->create_bots( 60, strategy => 'flip' );   # PAPER bots by SQL, 1 tick/s
#   $fleet->start_bots( \@ids );                               # POST /api/bots/:id/start, several at once
#   my $at = $fleet->kill9('i2');                               # kill -9; the real instant of the signal
#   my $h  = $fleet->handover_from( 'i2', $at, until => $at + 10 );
#
# Which instance ticked which bot — the measurement everything here rests on — is read from each instance's
# own log: every tick ends with one line msg="tick" bot=... outcome=... reason=... (runner.c finish(), the same
# place that emits the runner.tick usage event), written with write(2) to the instance's own log file, so it
# survives a kill -9 and a paused instance writes nothing. integration_usage_events has no instance column and
# a tick's rows carry an epoch only when it wrote something fenced, so the log is the one record of every tick
# with its instance. The line's ts is that instance's test clock; each instance's offset (read from /readyz by
# start_server) turns it back into the real time, so the ticks of all instances are on one time line (ms).
# A tick refused by fencing (outcome BLOCKED, reason LEASE_LOST) or by the one-order-per-slot index (reason
# TICK_SLOT_TAKEN: another instance had ticked that slot) is recorded but is not a tick of its bot.
#
# Rows in Postgres carry the writer's test clock too (gh_now()); their real time is their timestamp minus the
# offset of the instance that held the epoch they were written under (lease_epochs.holder): see stale_rows.

use strict;
use warnings;

use Carp qw(croak);
use File::Temp qw(tempdir);
use POSIX ();
use Time::HiRes qw(sleep time);
use Time::Local qw(timegm);
use Gatehouse::Test;
use Gatehouse::Sim qw(http_parallel);
use Gatehouse::Fixtures;

my $CLK = POSIX::sysconf( POSIX::_SC_CLK_TCK() ) || 100;

# new(%o) → a fleet with no instance yet.
#   lease_s (7)          GATEHOUSE_LEASE_S of every instance
#   interval_s (1)       GATEHOUSE_TICK_INTERVAL_S, and the bots' tick_interval_s
#   db                   DATABASE_URL (default: a new_database())
#   sim                  a Gatehouse::Sim (default: one is started; databento points at it)
#   home                 GATEHOUSE_HOME (default: fixture_home(), the repo's policies plus the flip strategy)
#   clock (AT_OPEN)      the instant the fleet lives at (later instances join the running clock)
#   env                  extra environment for every instance
#   verify (1)           each instance verifies databento at start; 0: the caller has recorded a verification
sub new {
    my ( $class, %o ) = @_;
    my $sim = $o{sim} // Gatehouse::Sim::start_sim( quiet => 1 );
    my $self = bless {
        lease_s    => $o{lease_s}    // 7,
        interval_s => $o{interval_s} // 1,
        db         => $o{db}         // new_database(),
        sim        => $sim,
        home       => $o{home}       // fixture_home(),
        clock      => $o{clock}      // AT_OPEN,
        verify     => $o{verify}     // 1,
        instances  => [],
        by_name    => {},
        ticks      => [],    # [real_s (end), name, bot, counts (0: refused), reason, outcome, tick slot]
    }, $class;
    $self->{env} = {
        %{ $sim->base_env( only => ['databento'] ) },
        GATEHOUSE_BACKGROUND_VERIFY => 0,
        GATEHOUSE_ALERTS            => 0,
        GATEHOUSE_TICK_INTERVAL_S   => $self->{interval_s},
        GATEHOUSE_LEASE_S           => $self->{lease_s},
        GATEHOUSE_LOG_LEVEL         => 'info',    # the tick lines are the measurement
        %{ $o{env} || {} },
    };
    return $self;
}

sub db         { $_[0]{db} }
sub sim        { $_[0]{sim} }
sub lease_s    { $_[0]{lease_s} }
sub interval_s { $_[0]{interval_s} }
sub instances  { @{ $_[0]{instances} } }
sub names      { map { $_->{name} } @{ $_[0]{instances} } }
sub running    { grep { $_->{state} eq 'running' } @{ $_[0]{instances} } }
sub inst       { $_[0]{by_name}{ $_[1] } // croak "no instance $_[1]" }
sub server     { $_[0]->inst( $_[1] )->{srv} }

# start_instance() → the new instance's name (i1, i2, …): started, healthy, signed in, databento verified
# (verification state is per instance), its instance id and clock offset recorded. Each instance gets a
# telemetry spill file of its own: the default one is named after the home and the database only
# (var/spill/<hash of DATABASE_URL>.jsonl), which instances sharing both would share.
sub start_instance {
    my ($self) = @_;
    my $name = 'i' . ( @{ $self->{instances} } + 1 );
    $self->{spill_dir} //= tempdir( 'gh-fleet-spill-XXXXXX', TMPDIR => 1, CLEANUP => 1 );
    my $srv = start_server( env => { %{ $self->{env} }, GATEHOUSE_SPILL_FILE => "$self->{spill_dir}/$name.jsonl" },
        db => $self->{db}, home => $self->{home}, clock => $self->{clock} );
    if ( $self->{verify} ) {
        my $v = $srv->post( '/api/integrations/verify', { provider_id => 'databento' } );
        croak "$name: verify databento answered $v->{status}: $v->{content}" unless $v->{status} == 200;
    }
    my $sch = $srv->get('/api/system/status')->{json}{scheduler} || {};
    croak "$name: /api/system/status has no scheduler.instance_id" unless $sch->{instance_id};
    my $i = { name => $name, srv => $srv, id => $sch->{instance_id}, pid => $srv->pid, offset_s => $srv->clock_offset_ms / 1000,
              offset_ms => $srv->clock_offset_ms, state => 'running', started_at => time, log_off => 0 };
    push @{ $self->{instances} }, $i;
    $self->{by_name}{$name} = $i;
    return $name;
}

# create_bots($n, strategy => 'sma_cross', prefix => 'fleet') → ids of $n new PAPER bots (ESZ6 1m, one tick per
# interval), inserted in one statement as bench/bench.pl does.
sub create_bots {
    my ( $self, $n, %o ) = @_;
    my $strategy = $o{strategy} // 'sma_cross';
    my $prefix   = $o{prefix}   // "fleet-$strategy";
    croak 'create_bots: strategy and prefix are [a-z0-9_-]' unless "$strategy$prefix" =~ /^[a-z0-9_-]+$/;
    psql_rows( $self->{db}, "INSERT INTO bots (name, strategy, symbol, timeframe, stage, params) SELECT '$prefix-' || g, "
          . "'$strategy', 'ESZ6', '1m', 'PAPER', jsonb_build_object('tick_interval_s', $self->{interval_s}) "
          . "FROM generate_series(1, " . int($n) . ") g" );
    return map { $_->[0] } psql_rows( $self->{db}, "SELECT id FROM bots WHERE name LIKE '$prefix-%' ORDER BY name" );
}

# start_bots(\@ids, via => name (each running instance in turn), batch => 16) → number started. Each bot goes
# through POST /api/bots/:id/start (gates, autonomy score, bot_instances row) as an operator starts it, a
# batch at a time; a start refused with 503 (the query pool saturated by the ticks of bots already running)
# is retried up to 5 times. Dies when a bot cannot be started.
sub start_bots {
    my ( $self, $ids, %o ) = @_;
    my @via = $o{via} ? ( $self->inst( $o{via} ) ) : $self->running;
    my $batch = $o{batch} // 16;
    my @todo = @$ids;
    my ( $started, $k ) = ( 0, 0 );
    my %tries;
    while (@todo) {
        my @now = splice @todo, 0, $batch;
        my @reqs = map {
            my $srv = $via[ $k++ % @via ]{srv};
            { url => $srv->url . "/api/bots/$_/start", method => 'POST', body => '{}', bot => $_,
              headers => { %{ $srv->auth_headers }, 'Content-Type' => 'application/json' } }
        } @now;
        http_parallel( \@reqs, timeout => 30 );
        for my $r (@reqs) {
            if ( ( $r->{status} // 0 ) =~ /^20/ ) { $started++; next }
            croak "start of bot $r->{bot}: HTTP " . ( $r->{status} // '-' ) . ' ' . ( $r->{content} // $r->{error} // '' )
              if ( $r->{status} // 0 ) != 503 || ++$tries{ $r->{bot} } > 5;
            push @todo, $r->{bot};
            sleep 0.5;
        }
    }
    return $started;
}

# ---- faults -------------------------------------------------------------------------------------------

# kill9($name) → the real instant of kill -9.
sub kill9 {
    my ( $self, $name ) = @_;
    my $i = $self->inst($name);
    my $t = $self->_signal( $name, 'KILL', 'killed' );
    $i->{ended_at} = $t;
    wait_for( sub { !$i->{srv}->alive }, 5, "$name gone" );
    return $t;
}

# _signal($name, $sig, $state) → the real instant $sig was sent to the instance, now in $state.
sub _signal {
    my ( $self, $name, $sig, $state ) = @_;
    my $i = $self->inst($name);
    my $t = time;
    $i->{srv}->signal($sig);
    $i->{state} = $state;
    return $t;
}

# pause($name) → the real instant of SIGSTOP; resume($name) → the real instant of SIGCONT. A paused instance
# must not be asked anything (its HTTP answers wait for the SIGCONT).
sub pause  { $_[0]->_signal( $_[1], 'STOP', 'paused' ) }
sub resume { $_[0]->_signal( $_[1], 'CONT', 'running' ) }

# stop_all() — SIGTERM every instance still alive (a paused one is continued first).
sub stop_all {
    my ($self) = @_;
    for my $i ( @{ $self->{instances} } ) {
        $self->resume( $i->{name} ) if $i->{state} eq 'paused';
        next unless $i->{srv}->alive;
        $i->{srv}->stop;
        $i->{state} = 'stopped';
    }
    return;
}

# ---- ticks, from the instances' logs ------------------------------------------------------------------------

my %EPOCH_OF_SECOND;    # "2026-12-08T15:00:01" → epoch s

sub _epoch_of {
    my ($ts) = @_;    # 2026-12-08T15:00:01.234Z
    my ( $sec, $ms ) = $ts =~ /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{3})Z$/ or return undef;
    my $e = $EPOCH_OF_SECOND{$sec} //= do {
        my @p = split /[-T:]/, $sec;
        timegm( $p[5], $p[4], $p[3], $p[2], $p[1] - 1, $p[0] );
    };
    return $e + $ms / 1000;
}

# The tick slot a tick started in: slot n of a bot starts at n x interval + phase (real ms), phase being the
# FNV-1a hash of its id modulo min(interval, 1 s) (runtime/scheduler.c phase_ms), the grid every instance
# agrees on. A tick's start is its log line's instant minus its ms= (both truncated to the ms, and the clock
# offset is whole ms too), and a scheduled tick starts at or after its slot's start, a few ms after it when the
# loop is idle: the start is taken 20 ms later so the rounding never puts it in the slot before.
sub _phase_ms {
    my ( $self, $bot ) = @_;
    return $self->{phase}{$bot} //= do {
        my $h = 2166136261;
        $h = ( ( $h ^ ord $_ ) * 16777619 ) & 0xFFFFFFFF for split //, $bot;
        my $span = $self->{interval_s} * 1000 < 1000 ? $self->{interval_s} * 1000 : 1000;
        $h % $span;
    };
}

sub _slot_of {
    my ( $self, $bot, $start_s ) = @_;
    return POSIX::floor( ( $start_s * 1000 + 20 - $self->_phase_ms($bot) ) / ( $self->{interval_s} * 1000 ) );
}

# collect() — reads the tick lines each instance's log gained since the last call (whole lines only).
sub collect {
    my ($self) = @_;
    for my $i ( @{ $self->{instances} } ) {
        open my $fh, '<:raw', $i->{srv}->log_path or next;
        seek $fh, $i->{log_off}, 0;
        local $/;
        my $chunk = <$fh> // '';
        close $fh;
        my $end = rindex $chunk, "\n";
        next if $end < 0;
        $i->{log_off} += $end + 1;
        for my $line ( split /\n/, substr( $chunk, 0, $end ) ) {
            next unless index( $line, 'msg="tick"' ) > 0;
            my ( $ts, $bot, $outcome, $reason, $ms ) =
              $line =~ /^ts=(\S+) .*?\bbot=(\S+) outcome=(\S+) reason=(\S+) .*?\bms=(\d+)/ or next;
            my $t = _epoch_of($ts) // next;
            $t -= $i->{offset_s};
            my $counts = $reason eq 'LEASE_LOST' || $reason eq 'TICK_SLOT_TAKEN' ? 0 : 1;
            # the tick line names its slot (slot=N); older builds did not: then it is computed from the start
            my ($slot) = $line =~ /\bslot=(\d+)/;
            push @{ $self->{ticks} }, [ $t, $i->{name}, $bot, $counts, $reason, $outcome, $slot // $self->_slot_of( $bot, $t - $ms / 1000 ) ];
        }
    }
    return scalar @{ $self->{ticks} };
}

# ticks(from => real_s, to => real_s, all => 1) → tick records [real_s, instance, bot, counts, reason, outcome, slot]
# in that window (default: every one), ticks refused by fencing only with all => 1.
sub ticks {
    my ( $self, %o ) = @_;
    $self->collect;
    my ( $from, $to ) = ( $o{from} // 0, $o{to} // 9e99 );
    return grep { $_->[0] >= $from && $_->[0] < $to && ( $o{all} || $_->[3] ) } @{ $self->{ticks} };
}

# owners(from, to) → { bot => instance with the most ticks of it in [from, to) }.
sub owners {
    my ( $self, $from, $to ) = @_;
    my %n;
    $n{ $_->[2] }{ $_->[1] }++ for $self->ticks( from => $from, to => $to );
    my %own;
    for my $bot ( keys %n ) {
        my ($best) = sort { $n{$bot}{$b} <=> $n{$bot}{$a} || $a cmp $b } keys %{ $n{$bot} };
        $own{$bot} = $best;
    }
    return \%own;
}

# ticked_by(from, to) → { instance => number of distinct bots it ticked in [from, to) } (every instance named).
sub ticked_by {
    my ( $self, $from, $to ) = @_;
    my %bots;
    $bots{ $_->[1] }{ $_->[2] } = 1 for $self->ticks( from => $from, to => $to );
    return { map { $_ => scalar keys %{ $bots{$_} || {} } } $self->names };
}

# wait_ticked(\@ids, $timeout, from => real_s) → true once every bot has ticked since from (default now).
sub wait_ticked {
    my ( $self, $ids, $timeout, %o ) = @_;
    my $from = $o{from} // time;
    return wait_for( sub {
        my %seen = map { $_->[2] => 1 } $self->ticks( from => $from );
        !grep { !$seen{$_} } @$ids;
    }, $timeout, scalar(@$ids) . ' bots ticked' );
}

sub _pct {
    my ( $p, @v ) = @_;
    return undef unless @v;
    my @s = sort { $a <=> $b } @v;
    return $s[ int( $p * $#s + 0.5 ) ];
}

# handover(\%old_owner_of_bot, $event_at, until => real_s) → the hand-over of those bots away from their owners:
#   moved         bots in the map
#   taken         moved bots ticked by another instance after the event (before until)
#   max_s, p50_s  from the event to each moved bot's first tick by another instance
#   lost          missed tick slots summed over the moved bots: for each, the slots between its last tick
#                 before that first tick and the first tick (slot numbers, see _slot_of)
#   max_gap_s     the longest such gap
#   by            { instance => moved bots it took }
sub handover {
    my ( $self, $old, $event_at, %o ) = @_;
    my $until = $o{until} // time;
    my %per_bot;
    push @{ $per_bot{ $_->[2] } }, $_ for grep { exists $old->{ $_->[2] } } $self->ticks( from => $event_at - 60, to => $until );
    my ( @hand, @gap, %by );
    my $lost = 0;
    for my $bot ( keys %$old ) {
        my @t = sort { $a->[0] <=> $b->[0] } @{ $per_bot{$bot} || [] };
        my ($first) = grep { $_->[0] >= $event_at && $_->[1] ne $old->{$bot} } @t or next;
        my ($last) = reverse grep { $_->[0] < $first->[0] } @t;
        push @hand, $first->[0] - $event_at;
        $by{ $first->[1] }++;
        next unless $last;
        my $g = $first->[0] - $last->[0];
        push @gap, $g;
        my $slots = $first->[6] - $last->[6] - 1;
        $lost += $slots if $slots > 0;
    }
    return { moved => scalar keys %$old, taken => scalar @hand, max_s => ( @hand ? _pct( 1, @hand ) : undef ),
             p50_s => _pct( 0.5, @hand ), lost => $lost, max_gap_s => ( @gap ? _pct( 1, @gap ) : undef ), by => \%by };
}

# handover_from($name, $event_at, until => real_s, window => s) → handover() of the bots $name ticked in the
# window (default the 3 s) before the event: a kill -9 or SIGSTOP of $name.
sub handover_from {
    my ( $self, $name, $event_at, %o ) = @_;
    my $w = $o{window} // 3;
    my %old = map { $_->[2] => $name } grep { $_->[1] eq $name } $self->ticks( from => $event_at - $w, to => $event_at );
    return $self->handover( \%old, $event_at, %o );
}

# rebalance($event_at, [from, to] after) → handover() of the bots whose owner in the 3 s before the event differs
# from their owner in the window after (a join, or a paused instance coming back): the moved bots' hand-over
# from the event, and the ticks they lost in the move.
sub rebalance {
    my ( $self, $event_at, $after, %o ) = @_;
    my $before = $self->owners( $event_at - 3, $event_at );
    my $now    = $self->owners(@$after);
    my %old = map { $_ => $before->{$_} } grep { defined $now->{$_} && $now->{$_} ne $before->{$_} } keys %$before;
    my $h = $self->handover( \%old, $event_at, until => $after->[1], %o );
    $h->{to} = {};
    $h->{to}{ $now->{$_} }++ for keys %old;
    return $h;
}

# double_ticks(from => real_s, to => real_s) → ticks beyond the first of one bot in one tick slot (a fleet must
# have none): what a bot ticked twice by two instances, or twice by one, looks like.
sub double_ticks {
    my ( $self, %o ) = @_;
    my %n;
    $n{"$_->[2] $_->[6]"}++ for $self->ticks(%o);
    my $d = 0;
    $d += $_ - 1 for grep { $_ > 1 } values %n;
    return $d;
}

# slot_check() → (agreeing, traded): of the ticks that placed an order (outcome TRADED), how many the harness
# puts in the tick slot the order records (orders.tick_slot): the check of the slot arithmetic above.
sub slot_check {
    my ($self) = @_;
    my %db = map { ( "$_->[0] $_->[1]" => 1 ) } psql_rows( $self->{db}, 'SELECT bot_id, tick_slot FROM orders WHERE tick_slot IS NOT NULL' );
    my @traded = grep { $_->[5] eq 'TRADED' } $self->ticks;
    return ( scalar( grep { $db{"$_->[2] $_->[6]"} } @traded ), scalar @traded );
}

# lease_lost_ticks(from => real_s, to => real_s, reason => 'LEASE_LOST') → { instance => its ticks refused for
# that reason: LEASE_LOST (fencing), or TICK_SLOT_TAKEN (the slot had an order from another instance) }.
sub lease_lost_ticks {
    my ( $self, %o ) = @_;
    my $reason = delete $o{reason} // 'LEASE_LOST';
    my %n;
    $n{ $_->[1] }++ for grep { !$_->[3] && $_->[4] eq $reason } $self->ticks( %o, all => 1 );
    return \%n;
}

# ---- Postgres -----------------------------------------------------------------------------------------------

# The (instance id, clock offset) of every instance, as SQL VALUES.
sub _offsets_sql {
    my ($self) = @_;
    return 'VALUES ' . join ', ', map { sprintf "('%s', %.3f)", $_->{id}, $_->{offset_ms} } @{ $self->{instances} };
}

# duplicates(from => real_s, to => real_s) → (bot, tick_slot) pairs with more than one order (the unique
# index should make it 0), those whose first order's real time is in the window when one is given.
sub duplicates {
    my ( $self, %o ) = @_;
    my ($r) = psql_rows( $self->{db}, 'WITH off(holder, ms) AS (' . $self->_offsets_sql . '), '
          . "d AS (SELECT min(o.created_at - coalesce(off.ms, 0) * interval '1 millisecond') AS real_at FROM orders o "
          . "JOIN bots b ON b.id = o.bot_id LEFT JOIN lease_epochs w ON w.name = 'shard:' || b.shard AND w.epoch = o.lease_epoch "
          . 'LEFT JOIN off ON off.holder = w.holder WHERE o.tick_slot IS NOT NULL GROUP BY o.bot_id, o.tick_slot HAVING count(*) > 1) '
          . 'SELECT count(*) FROM d' . _window_sql( 'real_at', %o ) );
    return $r->[0] + 0;
}

# " WHERE col >= to_timestamp(from) AND col < to_timestamp(to)" for the given bounds ('' without any).
sub _window_sql {
    my ( $col, %o ) = @_;
    my @w;
    push @w, sprintf( "%s >= to_timestamp(%.3f)", $col, $o{from} ) if defined $o{from};
    push @w, sprintf( "%s < to_timestamp(%.3f)",  $col, $o{to} )   if defined $o{to};
    return @w ? ' WHERE ' . join( ' AND ', @w ) : '';
}

# stale_rows(from => real_s, to => real_s) → { orders, fills, decision_traces, no_trade_traces, unattributed,
# checked, total => n }: rows written with a shard epoch e although a later epoch of that shard had been acquired before the row's transaction began —
# exactly what fencing forbids. A row's real time is its timestamp (the writer's gh_now(), or the fill's
# instant) minus the clock offset of the instance that held epoch e (lease_epochs.holder); acquired_at is
# Postgres's real clock. A legitimate row's transaction began before the takeover read its clock (the
# takeover waits for the fenced writer's FOR SHARE lock), so a legitimate row is never counted. No-trade traces
# are checked too (every tick writes a trace, most of them no-trade), except the LEASE_LOST ones: those are the
# refusals, written with the stale epoch on purpose.
# With from/to, only rows whose real time is in that window. `unattributed` counts rows whose epoch has no lease_epochs row or no known holder (should be 0).
sub stale_rows {
    my ( $self, %o ) = @_;
    my $sql = 'WITH off(holder, ms) AS (' . $self->_offsets_sql . '), '
      . "r AS (SELECT 'orders' AS t, bot_id, lease_epoch AS e, created_at AS at FROM orders WHERE lease_epoch IS NOT NULL "
      . "UNION ALL SELECT 'fills', bot_id, lease_epoch, filled_at FROM fills WHERE lease_epoch IS NOT NULL "
      . "UNION ALL SELECT 'decision_traces', bot_id, lease_epoch, created_at FROM decision_traces WHERE lease_epoch IS NOT NULL "
      . "UNION ALL SELECT 'no_trade_traces', bot_id, lease_epoch, created_at FROM no_trade_traces WHERE lease_epoch IS NOT NULL "
      . "AND reason_code <> 'LEASE_LOST'), "
      . "x AS (SELECT r.t, r.e, w.name, r.at - off.ms * interval '1 millisecond' AS real_at, off.holder IS NULL AS unknown "
      . "FROM r JOIN bots b ON b.id = r.bot_id LEFT JOIN lease_epochs w ON w.name = 'shard:' || b.shard AND w.epoch = r.e "
      . "LEFT JOIN off ON off.holder = w.holder) "
      . "SELECT t, count(*) FILTER (WHERE NOT unknown AND EXISTS (SELECT 1 FROM lease_epochs n WHERE n.name = x.name "
      . "AND n.epoch > x.e AND n.acquired_at <= x.real_at)), count(*) FILTER (WHERE unknown), count(*) FROM x"
      . _window_sql( 'real_at', %o ) . ' GROUP BY t';
    my %r = ( orders => 0, fills => 0, decision_traces => 0, no_trade_traces => 0, unattributed => 0, checked => 0 );
    for my $row ( psql_rows( $self->{db}, $sql ) ) {
        $r{ $row->[0] } = $row->[1] + 0;
        $r{unattributed} += $row->[2];
        $r{checked} += $row->[3];
    }
    $r{total} = $r{orders} + $r{fills} + $r{decision_traces} + $r{no_trade_traces};
    return \%r;
}

# lease_lost_traces() → no_trade_traces rows with reason_code LEASE_LOST (the ticks fencing refused).
sub lease_lost_traces {
    my ($self) = @_;
    my ($r) = psql_rows( $self->{db}, "SELECT count(*) FROM no_trade_traces WHERE reason_code = 'LEASE_LOST'" );
    return $r->[0] + 0;
}

# orders_count() → orders written with a tick slot (the fenced ticks' orders).
sub orders_count {
    my ($self) = @_;
    my ($r) = psql_rows( $self->{db}, 'SELECT count(*) FROM orders WHERE tick_slot IS NOT NULL' );
    return $r->[0] + 0;
}

# shards() → { instance name => shard leases it holds now (unexpired, Postgres's clock) }, plus '' => unowned.
sub shards {
    my ($self) = @_;
    my %name_of = map { $_->{id} => $_->{name} } @{ $self->{instances} };
    my %n = ( '' => 0, map { $_->{name} => 0 } @{ $self->{instances} } );
    for my $row ( psql_rows( $self->{db}, "SELECT CASE WHEN holder IS NOT NULL AND expires_at > clock_timestamp() THEN holder "
              . "ELSE '' END, count(*) FROM leases WHERE name LIKE 'shard:%' GROUP BY 1" ) ) {
        $n{ $row->[0] eq '' ? '' : $name_of{ $row->[0] } // $row->[0] } += $row->[1];
    }
    return \%n;
}

# ---- processes ---------------------------------------------------------------------------------------------

# cpu_s($name) → user + system CPU seconds of the instance so far (/proc/<pid>/stat utime + stime).
sub cpu_s {
    my ( $self, $name ) = @_;
    open my $fh, '<', '/proc/' . $self->inst($name)->{pid} . '/stat' or return undef;
    my $s = <$fh>;
    close $fh;
    $s =~ s/^.*\)\s+//;
    my @f = split ' ', $s;
    return ( $f[11] + $f[12] ) / $CLK;
}

# rss_mb($name) → resident memory of the instance (VmRSS).
sub rss_mb {
    my ( $self, $name ) = @_;
    open my $fh, '<', '/proc/' . $self->inst($name)->{pid} . '/status' or return undef;
    while ( my $l = <$fh> ) { return $1 / 1024 if $l =~ /^VmRSS:\s+(\d+)/ }
    return undef;
}

# loadavg() → the 1, 5 and 15 minute load averages as one string.
sub loadavg {
    open my $fh, '<', '/proc/loadavg' or return '?';
    my @f = split ' ', <$fh>;
    return "@f[0 .. 2]";
}

1;
