# The provider simulator speaks the real formats (reference/provider-apis.md), talked to directly:
# every verify probe of providers.lua answered for a valid and an invalid credential, Databento ohlcv-1m JSON
# lines, Polygon aggs, OpenAI / Anthropic usage, Redis replies over a raw socket, and the control API.
use strict;
use warnings;
use lib 'spec/support';
use Test::More;
use Gatehouse::Test;
use Gatehouse::Sim;
use IO::Socket::INET;
use IO::Select;
use JSON::PP ();
use MIME::Base64 qw(encode_base64);
use Time::HiRes qw(time sleep);

my $sim = start_sim( redis_requirepass => 1 );
ok( $sim->http_port > 0 && $sim->redis_port > 0, 'the simulator printed its HTTP and RESP ports' );
my $U = $sim->url;
my %env = $sim->base_env;

sub basic { 'Basic ' . encode_base64( "$_[0]:", '' ) }
sub bearer { 'Bearer ' . $_[0] }

# ---------------------------------------------------------------- every verify probe, valid and invalid
# [id, method, path under the base, headers(cred), body(cred), ok status, ok check, bad status, bad check]
my @PROBES = (
    [ databento => 'GET', '/v0/metadata.list_datasets', sub { { Authorization => basic( $_[0] ) } }, undef,
      200, sub { ref $_[0] eq 'ARRAY' && grep { $_ eq 'GLBX.MDP3' } @{ $_[0] } },
      401, sub { $_[0]{detail} eq 'Not authenticated' } ],
    [ polygon => 'GET', '/v1/marketstatus/now', sub { { Authorization => bearer( $_[0] ) } }, undef,
      200, sub { defined $_[0]{market} && !ref $_[0]{market} && ref $_[0]{exchanges} eq 'HASH' },
      401, sub { $_[0]{status} eq 'ERROR' && $_[0]{error} eq 'Unknown API Key' && $_[0]{request_id} } ],
    [ finnhub => 'GET', '/api/v1/quote?symbol=AAPL', sub { { 'X-Finnhub-Token' => $_[0] } }, undef,
      200, sub { !grep { !defined $_[0]{$_} } qw(c d dp h l o pc t) },
      401, sub { $_[0]{error} eq 'Invalid API key.' } ],
    [ alphavantage => 'GET', '/query?function=GLOBAL_QUOTE&symbol=IBM&apikey=%s', sub { {} }, undef,
      200, sub { ref $_[0]{'Global Quote'} eq 'HASH' && $_[0]{'Global Quote'}{'01. symbol'} eq 'IBM' },
      200, sub { ( $_[0]{'Error Message'} // '' ) =~ /apikey is invalid or missing/ } ],
    [ fmp => 'GET', '/stable/quote?symbol=AAPL&apikey=%s', sub { {} }, undef,
      200, sub { ref $_[0] eq 'ARRAY' && $_[0][0]{symbol} eq 'AAPL' },
      401, sub { ( $_[0]{'Error Message'} // '' ) =~ /^Invalid API KEY/ } ],
    [ fred => 'GET', '/fred/series?series_id=GNPCA&file_type=json&api_key=%s', sub { {} }, undef,
      200, sub { ref $_[0]{seriess} eq 'ARRAY' && $_[0]{seriess}[0]{id} eq 'GNPCA' },
      400, sub { $_[0]{error_code} == 400 && $_[0]{error_message} =~ /api_key is not registered/ } ],
    [ openai => 'GET', '/models', sub { { Authorization => bearer( $_[0] ) } }, undef,
      200, sub { $_[0]{object} eq 'list' && ref $_[0]{data} eq 'ARRAY' && $_[0]{data}[0]{object} eq 'model' },
      401, sub { $_[0]{error}{code} eq 'invalid_api_key' && $_[0]{error}{type} eq 'invalid_request_error' } ],
    [ anthropic => 'GET', '/v1/models', sub { { 'x-api-key' => $_[0], 'anthropic-version' => '2023-06-01' } }, undef,
      200, sub { ref $_[0]{data} eq 'ARRAY' && $_[0]{data}[0]{type} eq 'model' && exists $_[0]{has_more} },
      401, sub { $_[0]{type} eq 'error' && $_[0]{error}{type} eq 'authentication_error' && $_[0]{error}{message} eq 'invalid x-api-key' } ],
    [ google_gemini => 'GET', '/v1beta/models?pageSize=1', sub { { 'x-goog-api-key' => $_[0] } }, undef,
      200, sub { ref $_[0]{models} eq 'ARRAY' && @{ $_[0]{models} } == 1 && $_[0]{models}[0]{name} =~ m{^models/gemini} },
      400, sub { $_[0]{error}{status} eq 'INVALID_ARGUMENT' && grep { ( $_->{reason} // '' ) eq 'API_KEY_INVALID' } @{ $_[0]{error}{details} } } ],
    [ groq => 'GET', '/openai/v1/models', sub { { Authorization => bearer( $_[0] ) } }, undef,
      200, sub { $_[0]{object} eq 'list' && ref $_[0]{data} eq 'ARRAY' },
      401, sub { $_[0]{error}{code} eq 'invalid_api_key' } ],
    [ xai => 'GET', '/api-key', sub { { Authorization => bearer( $_[0] ) } }, undef,
      200, sub { $_[0]{api_key_id} && JSON::PP::is_bool( $_[0]{api_key_blocked} ) && !$_[0]{api_key_blocked} && !$_[0]{api_key_disabled} && !$_[0]{team_blocked} },
      400, sub { ( $_[0]{error} // '' ) =~ /^Incorrect API key provided/ } ],
    [ openrouter => 'GET', '/key', sub { { Authorization => bearer( $_[0] ) } }, undef,
      200, sub { ref $_[0]{data} eq 'HASH' && exists $_[0]{data}{limit_remaining} && defined $_[0]{data}{label} },
      401, sub { $_[0]{error}{message} eq 'User not found.' && $_[0]{error}{code} == 401 } ],
    [ unusual_whales => 'GET', '/api/stock/AAPL/info', sub { { Authorization => bearer( $_[0] ) } }, undef,
      200, sub { ref $_[0]{data} eq 'HASH' && $_[0]{data}{ticker} eq 'AAPL' },
      401, sub { 1 } ],
    [ tradovate => 'POST', '/v1/auth/accesstokenrequest', sub { {} },
      sub { { name => $_[0], password => $_[0], appId => 'gatehouse', appVersion => '1.0', cid => 4242, sec => $_[0] } },
      200, sub { $_[0]{accessToken} && $_[0]{userId} && exists $_[0]{hasLive} && !exists $_[0]{errorText} },
      200, sub { ( $_[0]{errorText} // '' ) =~ /^Incorrect username or password/ } ],
    [ ironbeam => 'POST', '/v2/auth', sub { {} }, sub { { username => $_[0], password => $_[0], apiKey => $_[0] } },
      200, sub { $_[0]{status} eq 'OK' && $_[0]{token} },
      401, sub { $_[0]{status} eq 'ERROR' && $_[0]{error} } ],
);

for my $p (@PROBES) {
    my ( $id, $method, $path, $hdr, $body, $ok_st, $ok_chk, $bad_st, $bad_chk ) = @$p;
    for my $case ( [ 'valid', "sim-key-$id", $ok_st, $ok_chk ], [ 'invalid', "sim-invalid-key-$id", $bad_st, $bad_chk ] ) {
        my ( $what, $cred, $st, $chk ) = @$case;
        ( my $pth = $path ) =~ s/%s/$cred/;
        my $r = $sim->request( $method, $sim->base_url($id) . $pth, headers => $hdr->($cred), body => $body ? $body->($cred) : undef );
        is( $r->{status}, $st, "$id $what credential: HTTP $st" ) or diag $r->{content};
        ok( eval { $chk->( $r->{json} ) }, "$id $what credential: the provider's real body" ) or diag $r->{content};
    }
}

# missing credentials are answered the way the provider does
is( $sim->get( $sim->base_url('databento') . '/v0/metadata.list_datasets' )->{status}, 401, 'databento without a key: 401' );
like( $sim->get( $sim->base_url('polygon') . '/v1/marketstatus/now' )->{json}{error}, qr/not provided/, 'polygon without a key: "API Key was not provided"' );
is( $sim->get( $sim->base_url('google_gemini') . '/v1beta/models' )->{json}{error}{status}, 'PERMISSION_DENIED', 'gemini without a key: 403 PERMISSION_DENIED (as Google answers)' );
is( $sim->get( $sim->base_url('anthropic') . '/v1/models', { 'x-api-key' => 'k' } )->{status}, 400, 'anthropic without anthropic-version: 400' );
is( $sim->get( $sim->base_url('fred') . '/fred/series?series_id=GNPCA&api_key=k' )->{headers}{'content-type'}, 'text/xml; charset=UTF-8',
    'fred without file_type=json answers XML (its default)' );
is( $sim->get( $sim->base_url('openai') . '/models', { Authorization => 'Bearer k', 'OpenAI-Organization' => 'org-invalid' } )->{status}, 401,
    'openai: an invalid OpenAI-Organization is refused' );

# multi-step brokers
{
    my $ib = $sim->base_url('ironbeam');
    my $tok = $sim->post( "$ib/v2/auth", { username => 'trader1', password => 'pw', apiKey => 'key' } )->{json}{token};
    my $tr = $sim->get( "$ib/v2/info/trader", { Authorization => "Bearer $tok" } );
    is( $tr->{status}, 200, 'ironbeam trader info with the token' );
    ok( JSON::PP::is_bool( $tr->{json}{isLive} ) && !$tr->{json}{isLive} && $tr->{json}{status} eq 'OK', 'ironbeam trader: status OK, isLive false (demo)' );
    is( $sim->post( "$ib/v2/logout", undef, { Authorization => "Bearer $tok" } )->{status}, 200, 'ironbeam logout' );
    is( $sim->get( "$ib/v2/info/trader", { Authorization => "Bearer $tok" } )->{json}{error}, 'Unauthorized', 'ironbeam: the token is gone after logout' );
    my $tv = $sim->base_url('tradovate');
    my $at = $sim->post( "$tv/v1/auth/accesstokenrequest", { name => 'n', password => 'p', appId => 'a', appVersion => '1.0', cid => 1, sec => 's' } )->{json}{accessToken};
    is( $sim->get( "$tv/v1/auth/me", { Authorization => "Bearer $at" } )->{json}{name}, 'n', 'tradovate /auth/me with the access token' );
    is( $sim->get( "$tv/v1/auth/me", { Authorization => 'Bearer nope' } )->{status}, 401, 'tradovate /auth/me with a wrong token: 401' );
}

# broker order books: the real order, fill, position, cancel and modify routes of Ironbeam and Tradovate
{
    $sim->reset;
    my $ib = $sim->base_url('ironbeam');
    my $tok = $sim->post( "$ib/v2/auth", { username => '5123345', password => 'pw', apiKey => 'key' } )->{json}{token};
    my %IH = ( Authorization => "Bearer $tok" );
    my $place = sub {
        my (%o) = @_;
        $sim->post( "$ib/v2/order/5123345/place",
            { accountId => '5123345', exchSym => 'XCME:ES.Z26', side => 'BUY', quantity => 1, orderType => '1', duration => '0', waitForOrderId => JSON::PP::true, %o },
            \%IH )->{json};
    };
    my $orders = sub { $sim->get( "$ib/v2/order/5123345/$_[0]", \%IH )->{json} };
    my $ctl_order = sub {
        my ( $prov, $id ) = @_;
        ( grep { $_->{broker_order_id} eq $id } @{ $sim->_call( 'GET', "/__sim/broker/orders?provider=$prov" )->{orders} } )[0];
    };

    $sim->config( broker_fill_mode => 'working' );
    my $p = $place->( side => 'SELL', quantity => 2 );
    ok( $p->{status} eq 'OK' && $p->{orderId} && $p->{strategyId}, 'ironbeam place (working mode): OK with orderId and strategyId' );
    my $l = $orders->('ANY');
    my ($o) = grep { $_->{orderId} eq $p->{orderId} } @{ $l->{orders} };
    ok( $l->{status} eq 'OK' && $o && $o->{status} eq 'NEW' && $o->{quantity} == 2 && $o->{fillQuantity} == 0 && $o->{side} eq 'SELL'
          && $o->{exchSym} eq 'XCME:ES.Z26' && $o->{accountId} eq '5123345' && $o->{orderType} eq '1',
        'ironbeam GET /order/{acc}/ANY: the order, NEW, nothing filled' );
    is( scalar @{ $orders->('NEW')->{orders} }, 1, 'ironbeam GET /order/{acc}/NEW lists it' );
    is( scalar @{ $orders->('FILLED')->{orders} }, 0, 'ironbeam GET /order/{acc}/FILLED does not' );
    is( $ctl_order->( ironbeam => $p->{orderId} )->{status}, 'WORKING', '/__sim/broker/orders: WORKING' );
    my $u = $sim->request( 'PUT', "$ib/v2/order/5123345/update/$p->{orderId}", headers => \%IH, body => { orderId => $p->{orderId}, quantity => 3 } );
    ok( $u->{status} == 200 && $u->{json}{orders}[0]{quantity} == 3, 'ironbeam PUT update: the working quantity is 3' );
    my $c = $sim->request( 'DELETE', "$ib/v2/order/5123345/cancel/$p->{orderId}", headers => \%IH );
    ok( $c->{status} == 200 && $c->{json}{status} eq 'OK' && $c->{json}{orders}[0]{status} eq 'CANCELLED', 'ironbeam DELETE cancel: CANCELLED' );
    is( $orders->('CANCELLED')->{orders}[0]{orderId}, $p->{orderId}, 'the list shows it CANCELLED' );
    is( $ctl_order->( ironbeam => $p->{orderId} )->{status}, 'CANCELLED', '/__sim/broker/orders: CANCELLED' );
    my $again = $sim->request( 'DELETE', "$ib/v2/order/5123345/cancel/$p->{orderId}", headers => \%IH );
    ok( $again->{status} == 400 && $again->{json}{status} eq 'ERROR' && $again->{json}{error}, 'cancelling a final order: 400 error body' );
    is( $sim->request( 'DELETE', "$ib/v2/order/5123345/cancel/IB-nope", headers => \%IH )->{status}, 400, 'cancelling an unknown order: 400' );
    is( $sim->request( 'POST', '/__sim/broker/fill', body => { provider => 'ironbeam', broker_order_id => $p->{orderId} } )->{status}, 409,
        'a cancelled order never fills' );

    $sim->config( broker_fill_mode => 'fill' );
    my $f = $place->( quantity => 3 );
    my ($fo) = grep { $_->{orderId} eq $f->{orderId} } @{ $orders->('ANY')->{orders} };
    ok( $fo->{status} eq 'FILLED' && $fo->{fillQuantity} == 3 && $fo->{fillPrice} > 1000, "ironbeam fill mode: FILLED 3 at $fo->{fillPrice}" );
    my $fills = $sim->get( "$ib/v2/order/5123345/fills", \%IH )->{json}{fills};
    ok( @$fills == 1 && $fills->[0]{orderId} eq $f->{orderId} && $fills->[0]{fillQuantity} == 3 && $fills->[0]{fillTotalQuantity} == 3
          && $fills->[0]{fillPrice} == $fo->{fillPrice} && $fills->[0]{avgFillPrice} == $fo->{fillPrice} && $fills->[0]{fillDate},
        'ironbeam GET /order/{acc}/fills: the fill' );
    my $pos = $sim->get( "$ib/v2/account/5123345/positions", \%IH )->{json};
    ok( $pos->{status} eq 'OK' && $pos->{accountId} eq '5123345' && @{ $pos->{positions} } == 1 && $pos->{positions}[0]{side} eq 'LONG'
          && $pos->{positions}[0]{quantity} == 3 && $pos->{positions}[0]{price} == $fo->{fillPrice} && $pos->{positions}[0]{exchSym} eq 'XCME:ES.Z26',
        'ironbeam GET /account/{acc}/positions: LONG 3' );

    $sim->config( broker_fill_mode => 'partial' );
    my $pp = $place->( side => 'SELL', quantity => 5 );
    my $po = $ctl_order->( ironbeam => $pp->{orderId} );
    ok( $po->{status} eq 'PARTIALLY_FILLED' && $po->{filled_qty} == 2 && $po->{qty} == 5, 'partial mode: 2 of 5 filled, PARTIALLY_FILLED' );
    is( $orders->('PARTIALLY_FILLED')->{orders}[0]{fillQuantity}, 2, 'ironbeam lists it PARTIALLY_FILLED' );
    is( $ctl_order->( ironbeam => $place->( quantity => 1 )->{orderId} )->{filled_qty}, 0, 'partial mode, qty 1: nothing filled' );
    my $bf = $sim->request( 'POST', '/__sim/broker/fill', body => { provider => 'ironbeam', broker_order_id => $pp->{orderId}, qty => 3, price => 5000 } );
    ok( $bf->{status} == 200 && $bf->{json}{order}{status} eq 'FILLED' && $bf->{json}{order}{filled_qty} == 5, '/__sim/broker/fill: the rest fills' );
    is( ( grep { $_->{symbol} eq 'XCME:ES.Z26' } @{ $sim->_call( 'GET', '/__sim/broker/positions?provider=ironbeam' )->{positions} } )[0]{qty}, -2,
        '/__sim/broker/positions: +3 - 5 = -2' );
    my $ex = $place->( orderType => '2', limitPrice => 100 );
    ok( $sim->request( 'POST', '/__sim/broker/expire', body => { provider => 'ironbeam', broker_order_id => $ex->{orderId} } )->{json}{order}{status} eq 'EXPIRED'
          && $orders->('EXPIRED')->{orders}[0]{orderId} eq $ex->{orderId}, '/__sim/broker/expire: EXPIRED' );

    $sim->request( 'POST', '/__sim/broker/positions', body => { provider => 'ironbeam', symbol => 'XCME:NQ.Z26', qty => -4, avg_price => 17000.25 } );
    my ($nq) = grep { $_->{exchSym} eq 'XCME:NQ.Z26' } @{ $sim->get( "$ib/v2/account/5123345/positions", \%IH )->{json}{positions} };
    ok( $nq && $nq->{side} eq 'SHORT' && $nq->{quantity} == 4 && $nq->{price} == 17000.25, 'an injected position appears in the ironbeam positions route' );
    for my $path ( '/v2/order/5123345/ANY', '/v2/order/5123345/fills', '/v2/account/5123345/positions' ) {
        my $r = $sim->get("$ib$path");
        ok( $r->{status} == 401 && $r->{json}{error} eq 'Unauthorized', "ironbeam GET $path without a token: 401" );
    }
    is( $sim->request( 'DELETE', "$ib/v2/order/5123345/cancel/$ex->{orderId}" )->{status}, 401, 'ironbeam cancel without a token: 401' );
    is( $sim->get( "$ib/v2/order/999999/ANY", \%IH )->{status}, 403, 'another account: 403' );
    $sim->fault( provider => 'ironbeam', mode => 'status', status => 503, path => '/fills', count => 1 );
    is( $sim->get( "$ib/v2/order/5123345/fills", \%IH )->{status}, 503, 'faults apply to the new routes (path filter)' );
    is( $sim->get( "$ib/v2/order/5123345/fills", \%IH )->{status}, 200, '... for count requests' );

    # Tradovate
    my $tv = $sim->base_url('tradovate');
    my $at = $sim->post( "$tv/v1/auth/accesstokenrequest", { name => 'n', password => 'p', appId => 'a', appVersion => '1.0', cid => 1, sec => 's' } )->{json}{accessToken};
    my %TH = ( Authorization => "Bearer $at" );
    my $acct = $sim->get( "$tv/v1/account/list", \%TH )->{json}[0];
    my $tplace = sub {
        my (%o) = @_;
        $sim->post( "$tv/v1/order/placeorder",
            { accountSpec => $acct->{name}, accountId => $acct->{id}, action => 'Buy', symbol => 'MNQZ6', orderQty => 1, orderType => 'Market',
              timeInForce => 'Day', isAutomated => JSON::PP::true, %o }, \%TH )->{json};
    };
    my $tlist = sub { $sim->get( "$tv/v1/$_[0]", \%TH )->{json} };
    my $cid = $sim->get( "$tv/v1/contract/find?name=MNQZ6", \%TH )->{json};
    ok( $cid->{id} && $cid->{name} eq 'MNQZ6', "tradovate contract/find: id $cid->{id}" );
    is( $sim->get( "$tv/v1/contract/find?name=MNQZ6", \%TH )->{json}{id}, $cid->{id}, 'the contract id is stable' );

    $sim->config( broker_fill_mode => 'working' );
    my $t1 = $tplace->( action => 'Sell', orderQty => 2, orderType => 'Limit', price => 99999 );
    is( $t1->{failureReason}, 'Success', 'tradovate placeorder (working mode): Success' );
    my ($to) = grep { $_->{id} == $t1->{orderId} } @{ $tlist->('order/list') };
    ok( $to && $to->{ordStatus} eq 'Working' && $to->{accountId} == $acct->{id} && $to->{contractId} == $cid->{id} && $to->{action} eq 'Sell',
        'tradovate order/list: Working, with the account and the contract id' );
    my ($tv1) = grep { $_->{orderId} == $t1->{orderId} } @{ $tlist->('orderVersion/list') };
    ok( $tv1 && $tv1->{orderQty} == 2 && $tv1->{orderType} eq 'Limit' && $tv1->{price} == 99999, 'tradovate orderVersion/list: orderQty 2 Limit 99999' );
    my $m = $sim->post( "$tv/v1/order/modifyorder", { orderId => $t1->{orderId}, orderQty => 4, orderType => 'Limit', price => 99998 }, \%TH )->{json};
    ok( $m->{commandId} && !$m->{failureReason}, 'tradovate modifyorder: a commandId' );
    is( $tlist->("orderVersion/deps?masterid=$t1->{orderId}")->[0]{orderQty}, 4, 'the order version now has orderQty 4' );
    my $tc = $sim->post( "$tv/v1/order/cancelorder", { orderId => $t1->{orderId} }, \%TH )->{json};
    ok( $tc->{commandId} && !$tc->{failureReason}, 'tradovate cancelorder: a commandId' );
    is( ( grep { $_->{id} == $t1->{orderId} } @{ $tlist->('order/list') } )[0]{ordStatus}, 'Canceled', 'order/list: Canceled' );
    is( $ctl_order->( tradovate => $t1->{orderId} )->{status}, 'CANCELLED', '/__sim/broker/orders: CANCELLED (broker_order_id a string)' );
    is( $sim->post( "$tv/v1/order/cancelorder", { orderId => $t1->{orderId} }, \%TH )->{json}{failureReason}, 'TooLate', 'cancelling it again: TooLate' );
    is( $sim->post( "$tv/v1/order/cancelorder", { orderId => 1 }, \%TH )->{json}{failureReason}, 'UnknownReason', 'an unknown order: UnknownReason' );

    $sim->config( broker_fill_mode => 'fill' );
    my $t2 = $tplace->( orderQty => 3 );
    is( ( grep { $_->{id} == $t2->{orderId} } @{ $tlist->('order/list') } )[0]{ordStatus}, 'Filled', 'tradovate fill mode: Filled' );
    my @tf = grep { $_->{orderId} == $t2->{orderId} } @{ $tlist->('fill/list') };
    ok( @tf == 1 && $tf[0]{qty} == 3 && $tf[0]{price} > 1000 && $tf[0]{action} eq 'Buy' && $tf[0]{contractId} == $cid->{id}
          && ref $tf[0]{tradeDate} eq 'HASH' && JSON::PP::is_bool( $tf[0]{active} ), "tradovate fill/list: 3 at $tf[0]{price}" );
    my ($tp) = grep { $_->{contractId} == $cid->{id} } @{ $tlist->('position/list') };
    ok( $tp && $tp->{netPos} == 3 && $tp->{netPrice} == $tf[0]{price} && $tp->{bought} == 3 && $tp->{accountId} == $acct->{id},
        'tradovate position/list: netPos 3 at the fill price' );

    $sim->config( broker_fill_mode => 'partial' );
    my $t3 = $tplace->( action => 'Sell', orderQty => 4 );
    my ($t3o) = grep { $_->{id} == $t3->{orderId} } @{ $tlist->('order/list') };
    ok( $t3o->{ordStatus} eq 'Working' && $ctl_order->( tradovate => $t3->{orderId} )->{filled_qty} == 2, 'tradovate partial mode: 2 of 4 filled, still Working' );
    is( $sim->post( "$tv/v1/order/modifyorder", { orderId => $t3->{orderId}, orderQty => 1, orderType => 'Market' }, \%TH )->{json}{failureReason},
        'UnknownReason', 'modify below the filled quantity is refused' );
    $sim->post( "$tv/v1/order/modifyorder", { orderId => $t3->{orderId}, orderQty => 3, orderType => 'Market' }, \%TH );
    $sim->post( "$tv/v1/order/cancelorder", { orderId => $t3->{orderId} }, \%TH );
    my $t3c = $ctl_order->( tradovate => $t3->{orderId} );
    ok( $t3c->{status} eq 'CANCELLED' && $t3c->{filled_qty} == 2 && $t3c->{qty} == 3, 'modify to 3, cancel: CANCELLED with 2 filled' );
    is( ( grep { $_->{contractId} == $cid->{id} } @{ $tlist->('position/list') } )[0]{netPos}, 1, 'position: 3 - 2 = 1' );

    my $inj = $sim->request( 'POST', '/__sim/broker/positions', body => { provider => 'tradovate', symbol => 'ESZ6', qty => -2, avg_price => 5001.5 } );
    is( $inj->{json}{position}{account}, "$acct->{id}", 'an injected position lands on the only account' );
    my $escid = $sim->get( "$tv/v1/contract/find?name=ESZ6", \%TH )->{json}{id};
    my ($es) = grep { $_->{contractId} == $escid } @{ $tlist->('position/list') };
    ok( $es && $es->{netPos} == -2 && $es->{netPrice} == 5001.5, 'it appears in tradovate position/list' );
    for my $path (qw(order/list fill/list position/list orderVersion/list)) {
        my $r = $sim->get("$tv/v1/$path");
        ok( $r->{status} == 401 && $r->{content} eq 'Access is denied', "tradovate $path without a token: 401" );
    }
    is( $sim->get("$tv/v1/contract/find?name=ESZ6")->{status}, 401, 'tradovate contract/find without a token: 401' );
    is( $sim->post( "$tv/v1/order/cancelorder", { orderId => $t3->{orderId} } )->{status}, 401, 'tradovate cancelorder without a token: 401' );
    is( $sim->post( "$tv/v1/order/modifyorder", { orderId => $t3->{orderId}, orderQty => 1, orderType => 'Market' } )->{status}, 401,
        'tradovate modifyorder without a token: 401' );

    is( $sim->request( 'POST', '/__sim/config', body => { broker_fill_mode => 'sometimes' } )->{status}, 400, 'an unknown broker_fill_mode: 400' );
    $sim->reset;
    is( $sim->config->{broker_fill_mode}, 'fill', 'reset: broker_fill_mode back to fill' );
    ok( !@{ $sim->_call( 'GET', '/__sim/broker/orders' )->{orders} } && !@{ $sim->_call( 'GET', '/__sim/broker/positions' )->{positions} },
        'reset: the books are empty' );
}

# discord: the URL is the credential; GET posts nothing
{
    my $ok = $sim->get( $env{DISCORD_WEBHOOK_URL} );
    is( $ok->{status}, 200, 'discord GET webhook: 200' );
    ok( $ok->{json}{id} eq '123' && $ok->{json}{channel_id} && $ok->{json}{type} == 1, 'discord: the webhook object' );
    my $t = $sim->get( "$U/discord/api/webhooks/123/tok-invalid" );
    is_deeply( [ $t->{status}, $t->{json} ], [ 401, { message => 'Invalid Webhook Token', code => 50027 } ], 'discord bad token: 401 50027' );
    my $w = $sim->get( "$U/discord/api/webhooks/999invalid/tok" );
    is_deeply( [ $w->{status}, $w->{json} ], [ 404, { message => 'Unknown Webhook', code => 10015 } ], 'discord unknown webhook: 404 10015' );
}

# ---------------------------------------------------------------- Databento ohlcv-1m JSON lines
my $db_auth = { Authorization => basic('db-simkey') };
my $DB = $sim->base_url('databento');
# 2025-03-04 (EST, UTC-5): 20:00–23:30 UTC spans the CME daily halt 17:00–18:00 ET = 22:00–23:00 UTC.
my $q = 'dataset=GLBX.MDP3&schema=ohlcv-1m&symbols=ESM5&stype_in=raw_symbol&encoding=json'
  . '&start=2025-03-04T20:00:00Z&end=2025-03-04T23:30:00Z';
my $res = $sim->get( "$DB/v0/timeseries.get_range?$q", $db_auth );
is( $res->{status}, 200, 'databento get_range ohlcv-1m: 200' );
my @lines = split /\n/, $res->{content};
ok( @lines > 100, 'many records (' . scalar(@lines) . ')' );
my $start_ns = 1741118400 * 1_000_000_000;    # 2025-03-04T20:00:00Z
my $end_ns   = 1741131000 * 1_000_000_000;    # 2025-03-04T23:30:00Z
my ( @ts, $bad_line );
for my $l (@lines) {
    unless ( $l =~ /^\{"hd":\{"ts_event":"(\d{19})","rtype":33,"publisher_id":\d+,"instrument_id":\d+\},"open":"(\d+)","high":"(\d+)","low":"(\d+)","close":"(\d+)","volume":"(\d+)"\}$/ ) {
        $bad_line //= $l;
        next;
    }
    my ( $t, $o, $h, $lo, $c, $v ) = ( $1, $2, $3, $4, $5, $6 );
    $bad_line //= "$l (OHLC inconsistent)" unless $lo <= $o && $lo <= $c && $h >= $o && $h >= $c && $v > 0;
    $bad_line //= "$l (not on the 0.25 tick)" if grep { $_ % 250_000_000 } $o, $h, $lo, $c;
    $bad_line //= "$l (prices not 1e-9 fixed point around 5000)" if grep { $_ < 1000e9 || $_ > 20000e9 } $o, $c;
    push @ts, $t;
}
ok( !defined $bad_line, 'every line is {"hd":{"ts_event":"<ns>","rtype":33,..},"open":"<1e-9 int>",..,"volume":"<int>"} (quoted 64-bit ints)' )
  or diag $bad_line;
my $rec = JSON::PP->new->decode( $lines[0] );
ok( !ref $rec->{hd}{ts_event} && $lines[0] =~ /"ts_event":"/, 'ts_event is a quoted string' );
is( $rec->{hd}{rtype}, 33, 'rtype 33 = ohlcv-1m' );
ok( ( !grep { $_ % 60_000_000_000 } @ts ), 'ts_event is ns at the bar (minute) start' );
ok( $ts[0] >= $start_ns && $ts[-1] < $end_ns, 'records within [start, end) (end exclusive)' );
ok( ( !grep { $ts[$_] <= $ts[ $_ - 1 ] } 1 .. $#ts ), 'one symbol: strictly increasing ts_event' );
my %have = map { $_ => 1 } @ts;
my @gaps = grep { !$have{ $start_ns + $_ * 60_000_000_000 } } 0 .. 119;    # 20:00–22:00 UTC (trading)
ok( @gaps >= 1 && @gaps < 60, 'some minutes without trades have no record (' . scalar(@gaps) . ' of 120 missing)' );
my @halt = grep { $_ >= 1741125600 * 1_000_000_000 && $_ < 1741129200 * 1_000_000_000 } @ts;
is( scalar @halt, 0, 'no record during the CME daily halt (22:00–23:00 UTC in winter)' );
ok( ( grep { $_ >= 1741129200 * 1_000_000_000 } @ts ), 'records again after the halt' );

my $again = $sim->get( "$DB/v0/timeseries.get_range?$q", $db_auth );
is( $again->{content}, $res->{content}, 'deterministic: the same query gives the same bars' );
my $post = $sim->request( 'POST', "$DB/v0/timeseries.get_range", headers => { %$db_auth, 'Content-Type' => 'application/x-www-form-urlencoded' }, body => $q );
is( $post->{content}, $res->{content}, 'POST with a form body (the SDK) = GET with a query string' );
my $sub = $sim->get( "$DB/v0/timeseries.get_range?dataset=GLBX.MDP3&schema=ohlcv-1m&symbols=ESM5&encoding=json&start=$ts[10]&end=" . ( $ts[10] + 60_000_000_000 ), $db_auth );
is( $sub->{content}, $lines[10] . "\n", 'ns start/end: one bar, the same one as in the larger query' );

my $pretty = $sim->get( "$DB/v0/timeseries.get_range?$q&pretty_px=true&pretty_ts=true&map_symbols=true", $db_auth );
my $p0 = JSON::PP->new->decode( ( split /\n/, $pretty->{content} )[0] );
like( $p0->{open}, qr/^\d+\.\d{9}$/, 'pretty_px=true: decimal strings with 9 places' );
like( $p0->{hd}{ts_event}, qr/^2025-03-04T20:\d\d:00\.000000000Z$/, 'pretty_ts=true: ISO time with ns' );
is( $p0->{symbol}, 'ESM5', 'map_symbols=true adds symbol' );

my $two = $sim->get( "$DB/v0/timeseries.get_range?dataset=GLBX.MDP3&schema=ohlcv-1h&symbols=ES.c.0,NQ.c.0&stype_in=continuous&encoding=json&start=2025-03-04T00:00:00Z&end=2025-03-04T06:00:00Z", $db_auth );
my @h = map { JSON::PP->new->decode($_) } split /\n/, $two->{content};
is( scalar @h, 12, 'ohlcv-1h, two symbols, 6 hours: 12 records' );
ok( ( !grep { $_->{hd}{rtype} != 34 } @h ), 'rtype 34 = ohlcv-1h' );
my %iid = map { $_->{hd}{instrument_id} => 1 } @h;
is( scalar keys %iid, 2, 'one instrument_id per symbol' );

is( $sim->get( "$DB/v0/timeseries.get_range?$q", { Authorization => basic('db-invalid') } )->{status}, 401, 'get_range with a bad key: 401' );
my $dbn = $sim->get( "$DB/v0/timeseries.get_range?dataset=GLBX.MDP3&schema=ohlcv-1m&symbols=ESM5&start=2025-03-04", $db_auth );
is( $dbn->{status}, 422, 'encoding=dbn (the default) is refused with 422: the simulator speaks json/csv' );
is( $sim->get( "$DB/v0/timeseries.get_range?schema=ohlcv-1m&symbols=ESM5&encoding=json&start=2025-03-04", $db_auth )->{status}, 422,
    'no dataset: 422 (FastAPI detail)' );

# ---------------------------------------------------------------- Polygon aggs
my $PG = $sim->base_url('polygon');
my $ag = $sim->get( "$PG/v2/aggs/ticker/AAPL/range/1/minute/2025-03-04/2025-03-04?adjusted=true&sort=asc&limit=50000", { Authorization => 'Bearer pk' } );
is( $ag->{status}, 200, 'polygon aggs: 200' );
my $aj = $ag->{json};
is( $aj->{status}, 'OK', 'status OK' );
is( $aj->{ticker}, 'AAPL', 'ticker' );
is( ref $aj->{results}, 'ARRAY', 'results array' );
is( $aj->{resultsCount}, scalar @{ $aj->{results} }, 'resultsCount = number of results' );
ok( $aj->{request_id}, 'request_id' );
my @r = @{ $aj->{results} };
ok( @r > 500, 'a full extended-hours day of minute bars (' . scalar(@r) . ')' );
ok( ( !grep { my $x = $_; grep { !defined $x->{$_} } qw(o h l c v vw t n) } @r ), 'every bar has o h l c v vw t n' );
ok( ( !grep { $_->{t} !~ /^\d{13}$/ || $_->{t} % 60000 } @r ), 't is Unix ms (13 digits) at the minute start' );
# 2025-03-04 New York day = 05:00Z .. next 05:00Z; extended hours 04:00–20:00 ET = 09:00–01:00Z
ok( $r[0]{t} >= 1741064400000 && $r[-1]{t} < 1741150800000, 'bars inside the New York day asked for' );
is( $r[0]{t}, 1741078800000, 'first bar at 04:00 ET (pre-market open)' );
ok( ( !grep { $_->{l} > $_->{o} || $_->{l} > $_->{c} || $_->{h} < $_->{o} || $_->{h} < $_->{c} } @r ), 'l <= o,c <= h' );
my %pt = map { $_->{t} => 1 } @r;
ok( ( grep { !$pt{ $r[0]{t} + $_ * 60000 } } 0 .. 300 ), 'thin pre-market minutes without trades have no bar' );
my $pk = $sim->get( "$PG/v2/aggs/ticker/AAPL/range/1/minute/2025-03-04/2025-03-04?limit=10&apiKey=pk" );
is( scalar @{ $pk->{json}{results} }, 10, 'apiKey= query auth works; limit honoured' );
like( $pk->{json}{next_url} // '', qr{^http://127\.0\.0\.1:\d+/polygon/v2/aggs/ticker/AAPL/range/1/minute/\d{13}/2025-03-04\?}, 'next_url when more bars exist' );
unlike( $pk->{json}{next_url} // '', qr/apiKey/, 'next_url does not carry the key' );
my $d = $sim->get( "$PG/v2/aggs/ticker/SPY/range/1/day/2025-03-03/2025-03-07", { Authorization => 'Bearer pk' } )->{json};
is( scalar @{ $d->{results} }, 5, 'day bars: one per weekday' );
is( $d->{results}[0]{t}, 1740978000000, 'day bar t = New York midnight in ms' );
my $pbad = $sim->get( "$PG/v2/aggs/ticker/AAPL/range/1/minute/2025-03-04/2025-03-04", { Authorization => 'Bearer k-invalid' } );
is_deeply( [ $pbad->{status}, $pbad->{json}{error} ], [ 401, 'Unknown API Key' ], 'polygon aggs with a bad key: 401 Unknown API Key' );

# ---------------------------------------------------------------- LLM usage
my $oa = $sim->post( $sim->base_url('openai') . '/chat/completions',
    { model => 'gpt-4o-mini', messages => [ { role => 'system', content => 'Classify the market regime.' }, { role => 'user', content => 'ES 1m bars ...' } ] },
    { Authorization => 'Bearer sk-sim' } );
is( $oa->{status}, 200, 'openai chat.completions: 200' );
my $oj = $oa->{json};
is( $oj->{object}, 'chat.completion', 'object chat.completion' );
is( $oj->{model}, 'gpt-4o-mini', 'model echoed' );
my $u = $oj->{usage} || {};
ok( $u->{prompt_tokens} > 0 && $u->{completion_tokens} > 0, 'usage.prompt_tokens and completion_tokens' );
is( $u->{total_tokens}, $u->{prompt_tokens} + $u->{completion_tokens}, 'usage.total_tokens = prompt + completion' );
my $regime = eval { JSON::PP->new->decode( $oj->{choices}[0]{message}{content} ) };
like( $regime->{regime} // '', qr/^(trend|range|volatile)$/, 'the answer is a regime tag {"regime":..}' );
is( $sim->post( $sim->base_url('openai') . '/chat/completions', { model => 'm', messages => [ { role => 'user', content => 'x' } ] },
        { Authorization => 'Bearer sk-invalid' } )->{status}, 401, 'openai chat with a bad key: 401' );
for my $id (qw(groq xai openrouter)) {
    my $path = $id eq 'groq' ? '/openai/v1/chat/completions' : '/chat/completions';
    my $c = $sim->post( $sim->base_url($id) . $path, { model => 'm', messages => [ { role => 'user', content => 'x' } ] }, { Authorization => 'Bearer k' } );
    ok( $c->{status} == 200 && $c->{json}{usage}{total_tokens} > 0, "$id chat completions carry usage" );
}
ok( defined $sim->post( $sim->base_url('openrouter') . '/chat/completions', { model => 'm', messages => [ { role => 'user', content => 'x' } ] },
        { Authorization => 'Bearer k' } )->{json}{usage}{cost}, 'openrouter usage carries cost' );

my $an = $sim->post( $sim->base_url('anthropic') . '/v1/messages',
    { model => 'claude-sonnet-4-20250514', max_tokens => 64, messages => [ { role => 'user', content => 'regime?' } ] },
    { 'x-api-key' => 'sk-ant-sim', 'anthropic-version' => '2023-06-01' } );
is( $an->{status}, 200, 'anthropic messages: 200' );
my $aj2 = $an->{json};
is( $aj2->{type}, 'message', 'type message' );
ok( $aj2->{usage}{input_tokens} > 0 && $aj2->{usage}{output_tokens} > 0, 'usage.input_tokens and output_tokens' );
like( ( eval { JSON::PP->new->decode( $aj2->{content}[0]{text} )->{regime} } // '' ), qr/^(trend|range|volatile)$/, 'content[0].text is a regime tag' );
$sim->config( llm_regime => 'trend' );
is( eval { JSON::PP->new->decode( $sim->post( $sim->base_url('anthropic') . '/v1/messages',
    { model => 'm', max_tokens => 8, messages => [ { role => 'user', content => 'x' } ] },
    { 'x-api-key' => 'k', 'anthropic-version' => '2023-06-01' } )->{json}{content}[0]{text} )->{regime} }, 'trend', 'config llm_regime pins the tag' );
$sim->config( llm_regime => undef );
my $gm = $sim->post( $sim->base_url('google_gemini') . '/v1beta/models/gemini-2.0-flash:generateContent',
    { contents => [ { role => 'user', parts => [ { text => 'regime?' } ] } ] }, { 'x-goog-api-key' => 'k' } );
ok( $gm->{json}{usageMetadata}{totalTokenCount} > 0, 'gemini generateContent carries usageMetadata' );

# ---------------------------------------------------------------- faults (HTTP)
$sim->clear_requests;
$sim->fault( provider => 'polygon', mode => 'not_entitled', count => 1 );
my $ne = $sim->get( "$PG/v1/marketstatus/now", { Authorization => 'Bearer k' } );
is( $ne->{status}, 403, 'not_entitled: polygon 403' );
is( $ne->{json}{status}, 'NOT_AUTHORIZED', 'not_entitled: NOT_AUTHORIZED body' );
like( $ne->{json}{message}, qr/not entitled to this data\. Please upgrade your plan/, 'not_entitled: the plan message' );
is( $sim->get( "$PG/v1/marketstatus/now", { Authorization => 'Bearer k' } )->{status}, 200, 'count => 1: the next request is normal' );

$sim->fault( provider => 'databento', mode => 'status', status => 503 );
my $s503 = $sim->get( "$DB/v0/metadata.list_datasets", $db_auth );
is( $s503->{status}, 503, 'status fault: 503' );
$sim->fault( provider => 'finnhub', mode => 'rate_limit' );
my $rl = $sim->get( $sim->base_url('finnhub') . '/api/v1/quote?symbol=AAPL', { 'X-Finnhub-Token' => 'k' } );
ok( $rl->{status} == 429 && $rl->{headers}{'retry-after'}, 'rate_limit: 429 with Retry-After' );
like( $rl->{json}{error}, qr/API limit reached/, "rate_limit: Finnhub's body" );
$sim->fault( provider => 'alphavantage', mode => 'error200', variant => 'rate_limit' );
my $note = $sim->get( $sim->base_url('alphavantage') . '/query?function=GLOBAL_QUOTE&symbol=IBM&apikey=k' );
ok( $note->{status} == 200 && $note->{json}{Note}, 'alphavantage error200 rate_limit: 200 + Note' );
$sim->fault( provider => 'tradovate', mode => 'error200', variant => 'lockout' );
my $lo = $sim->post( $sim->base_url('tradovate') . '/v1/auth/accesstokenrequest', { name => 'n', password => 'p', appId => 'a', appVersion => '1', cid => 1, sec => 's' } );
ok( $lo->{status} == 200 && $lo->{json}{'p-ticket'} && $lo->{json}{'p-captcha'}, 'tradovate lockout: 200 with p-ticket / p-captcha' );
$sim->fault( provider => 'openai', mode => 'not_entitled' );
my $iq = $sim->get( $sim->base_url('openai') . '/models', { Authorization => 'Bearer k' } );
is_deeply( [ $iq->{status}, $iq->{json}{error}{code} ], [ 429, 'insufficient_quota' ], 'openai not_entitled: 429 insufficient_quota' );
$sim->fault( provider => 'fmp', mode => 'malformed' );
my $mal = $sim->get( $sim->base_url('fmp') . '/stable/quote?symbol=AAPL&apikey=k' );
ok( $mal->{status} == 200 && !defined eval { JSON::PP->new->decode( $mal->{content} ) }, 'malformed: 200 with a body that is not valid JSON' );
$sim->fault( provider => 'groq', mode => 'latency', delay_ms => 300 );
my $t0 = time;
my $lat = $sim->get( $sim->base_url('groq') . '/openai/v1/models', { Authorization => 'Bearer k' } );
ok( $lat->{status} == 200 && time - $t0 >= 0.29, 'latency: the normal answer after delay_ms' );
$sim->fault( provider => 'unusual_whales', mode => 'drip', delay_ms => 2 );
my $dr = $sim->get( $sim->base_url('unusual_whales') . '/api/stock/AAPL/info', { Authorization => 'Bearer k' } );
ok( $dr->{status} == 200 && $dr->{json}{data}{ticker} eq 'AAPL', 'drip: the whole normal body, byte by byte' );
$sim->fault( provider => 'fred', mode => 'hang' );
my $hang_t0 = time;
my $hung = HTTP::Tiny->new( timeout => 0.6 )->get( $sim->base_url('fred') . '/fred/series?series_id=GNPCA&file_type=json&api_key=k' );
ok( $hung->{status} == 599 && time - $hang_t0 >= 0.5, 'hang: no answer (client timed out)' );
$sim->fault( provider => 'anthropic', mode => 'echo' );
my $echo = $sim->get( $sim->base_url('anthropic') . '/v1/models', { 'x-api-key' => 'sk-ant-echo-me', 'anthropic-version' => '2023-06-01' } );
ok( $echo->{status} == 401 && index( $echo->{content}, 'sk-ant-echo-me' ) >= 0, 'echo: an error body quoting the raw credential' );
is( scalar( grep { $_->{mode} eq 'hang' } @{ $sim->list_faults } ), 1, 'GET /__sim/faults lists the faults' );
$sim->clear_faults;
is_deeply( $sim->list_faults, [], 'DELETE /__sim/faults clears them' );
is( $sim->get( "$DB/v0/metadata.list_datasets", $db_auth )->{status}, 200, 'normal again after clearing' );

my $reqs = $sim->requests('databento');
ok( @$reqs >= 2, 'requests are recorded per provider' );
my ($last) = grep { $_->{path} eq '/v0/metadata.list_datasets' } reverse @$reqs;
is( $last->{method}, 'GET', 'recorded: method' );
is( $last->{headers}{authorization}, basic('db-simkey'), 'recorded: headers (with the credential sent)' );
ok( ( grep { ( $_->{fault} // '' ) eq 'status' } @$reqs ), 'recorded: the fault applied' );
my ($fr) = @{ $sim->requests('fred') };
is( $fr->{query}{series_id}, 'GNPCA', 'recorded: query parameters' );
ok( ( !grep { $_->{provider} ne 'fred' } @{ $sim->requests('fred') } ), 'requests(provider) filters' );
$sim->clear_requests;
is_deeply( $sim->requests, [], 'DELETE /__sim/requests clears them' );
is( $sim->get("$U/nope/x")->{status}, 404, 'an unknown provider segment: 404' );

# ---------------------------------------------------------------- Redis over a raw socket
sub resp_cmd { join '', '*' . scalar(@_) . "\r\n", map { '$' . length($_) . "\r\n$_\r\n" } @_ }
sub resp_session {
    my ( $timeout, @cmds ) = @_;
    my $s = IO::Socket::INET->new( PeerAddr => '127.0.0.1', PeerPort => $sim->redis_port, Proto => 'tcp', Timeout => 2 ) or die "connect: $!";
    my @replies;
    my $sel = IO::Select->new($s);
    for my $c (@cmds) {
        print {$s} ref $c ? resp_cmd(@$c) : $c;
        my $line = '';
        my $deadline = time + $timeout;
        while ( $line !~ /\r\n\z/ && time < $deadline ) {
            last unless $sel->can_read( $deadline - time );
            my $n = sysread( $s, my $buf, 1 );
            last unless $n;
            $line .= $buf;
        }
        push @replies, $line;
        last unless length $line;
    }
    close $s;
    return @replies;
}
my @rr = resp_session( 2, ['PING'] );
is( $rr[0], "-NOAUTH Authentication required.\r\n", 'requirepass: PING without AUTH → -NOAUTH' );
@rr = resp_session( 2, [ 'AUTH', 'pw-invalid' ] );
is( $rr[0], "-WRONGPASS invalid username-password pair or user is disabled.\r\n", 'AUTH with a bad password → -WRONGPASS' );
@rr = resp_session( 2, [ 'AUTH', 'default', 'pw-good' ], ['PING'], [ 'SELECT', '0' ], [ 'SET', 'k', 'v' ], [ 'GET', 'k' ] );
is_deeply( \@rr, [ "+OK\r\n", "+PONG\r\n", "+OK\r\n", "+OK\r\n", "\$1\r\n" ], 'AUTH user pass → +OK; PING → +PONG; SELECT → +OK; SET/GET' );
@rr = resp_session( 2, "PING\r\n" );
is( $rr[0], "-NOAUTH Authentication required.\r\n", 'inline commands are understood too' );
$sim->fault( provider => 'redis', mode => 'status', count => 1 );
@rr = resp_session( 2, [ 'AUTH', 'pw' ], ['PING'] );
like( $rr[0], qr/^-ERR /, 'redis status fault → -ERR' );
$sim->fault( provider => 'redis', mode => 'not_entitled', count => 1 );
@rr = resp_session( 2, [ 'AUTH', 'pw' ], ['PING'] );
like( $rr[1], qr/^-NOPERM /, 'redis not_entitled → PING -NOPERM' );
$sim->fault( provider => 'redis', mode => 'hang', count => 1 );
$t0 = time;
@rr = resp_session( 0.5, [ 'AUTH', 'pw' ] );
ok( $rr[0] eq '' && time - $t0 >= 0.45, 'redis hang fault: no reply' );
@rr = resp_session( 2, [ 'AUTH', 'pw' ], ['PING'] );
is( $rr[1], "+PONG\r\n", 'count => 1: the next connection is normal' );
my @rreq = @{ $sim->requests('redis') };
ok( ( grep { $_->{method} eq 'AUTH' && $_->{args}[1] eq 'pw' } @rreq ), 'redis commands are recorded (with their arguments)' );
$sim->config( requirepass => JSON::PP::false );
@rr = resp_session( 2, ['PING'] );
is( $rr[0], "+PONG\r\n", 'config requirepass false: PING without AUTH → +PONG' );

# ---------------------------------------------------------------- base_env
my %inv = $sim->base_env( invalid => ['polygon'] );
like( $inv{POLYGON_API_KEY}, qr/invalid/, 'base_env(invalid => [polygon]) makes its credential invalid' );
unlike( $inv{DATABENTO_API_KEY}, qr/invalid/, '... and leaves the others valid' );
is( scalar( grep { /_BASE_URL$/ } keys %inv ), 15, 'base_env sets all 15 *_BASE_URL variables' );
like( $inv{REDIS_URL}, qr{^redis://:[^@]+\@127\.0\.0\.1:\d+/0$}, 'REDIS_URL points at the RESP port' );
like( $inv{DISCORD_WEBHOOK_URL}, qr{^http://127\.0\.0\.1:\d+/discord/api/webhooks/123/}, 'DISCORD_WEBHOOK_URL points at the sim' );

# ---------------------------------------------------------------- the simulator's clock (issue 15)
# It lives at the instant it is told (--now, or /__sim/config) and runs on from there; bars are a function of
# the requested window, the clock only says where "now" is (nothing after its current minute).
{
    my $then = start_sim( now => '2026-12-05T22:00:00Z' );    # a Saturday, 16:00 CST
    like( $then->clock->{now}, qr/^2026-12-05T22:0[01]:/, '--now: the simulator lives at Saturday 2026-12-05 22:00Z' );
    my $TDB = $then->base_url('databento');
    my $win = sub { "dataset=GLBX.MDP3&schema=ohlcv-1m&symbols=ESZ6&encoding=json&start=$_[0]&end=$_[1]" };
    my $sat = $then->get( "$TDB/v0/timeseries.get_range?" . $win->( '2026-12-05T18:00:00Z', '2026-12-05T22:00:00Z' ), $db_auth );
    is_deeply( [ $sat->{status}, $sat->{content} ], [ 200, '' ], 'Saturday: CME has no bars (200, no records)' );
    my $fri = $then->get( "$TDB/v0/timeseries.get_range?" . $win->( '2026-12-04T18:00:00Z', '2026-12-04T22:00:00Z' ), $db_auth );
    my @fri = split /
/, $fri->{content};
    ok( @fri > 150, 'the Friday afternoon before has bars (' . scalar(@fri) . ')' );
    my $future = $then->get( "$TDB/v0/timeseries.get_range?" . $win->( '2026-12-08T14:00:00Z', '2026-12-08T15:00:00Z' ), $db_auth );
    is( $future->{status}, 422, 'a window after the simulator\'s now is empty: 422 start must be before end' );
    my $status_at = sub { $then->get( $then->base_url('polygon') . '/v1/marketstatus/now', { Authorization => 'Bearer k' } )->{json} };
    is( $status_at->()->{market}, 'closed', 'polygon market status: closed on Saturday' );
    like( $status_at->()->{serverTime}, qr/^2026-12-05T22:0/, 'serverTime is the simulator\'s clock' );

    $then->config( now => '2026-12-08T15:00:00Z' );    # a Tuesday, 10:00 ET
    like( $then->clock->{now}, qr/^2026-12-08T15:00:/, '/__sim/config {now}: Tuesday 15:00Z' );
    is( $status_at->()->{market}, 'open', 'polygon market status: open' );
    my $tue = $then->get( "$TDB/v0/timeseries.get_range?" . $win->( '2026-12-08T14:00:00Z', '2026-12-08T16:00:00Z' ), $db_auth );
    my @tue = map { JSON::PP->new->decode($_)->{hd}{ts_event} } split /\n/, $tue->{content};
    ok( @tue > 40, 'bars up to now (' . scalar(@tue) . ')' );
    cmp_ok( $tue[-1], '<', 1796742000 * 1_000_000_000, 'the newest bar is before the current (incomplete) minute' );
    my $again = $then->get( "$TDB/v0/timeseries.get_range?" . $win->( '2026-12-04T18:00:00Z', '2026-12-04T22:00:00Z' ), $db_auth );
    is( $again->{content}, $fri->{content}, 'the same window gives the same bars whatever the clock says' );
    $then->reset;
    like( $then->clock->{now}, qr/^2026-12-08T15:0/, 'reset keeps the clock where it was told to live' );
    $then->set_clock(0);
    is( $then->clock->{offset_ms}, 0, 'set_clock(0): back on the real time' );
    is( $then->stop, 0, 'stopped' );
}

# ---------------------------------------------------------------- stop
is( $sim->stop, 0, 'SIGTERM: the simulator exits 0' );

done_testing;
