#!/usr/bin/env node
'use strict';
/*
 * sim.js — the provider simulator of gatehouse (tests, acceptance, local runs). Node 20, built-in modules only.
 *
 *   node spec/support/sim/sim.js [--http-port N] [--redis-port M] [--redis-requirepass] [--parent-pid P] [--quiet]
 *
 * Listens on 127.0.0.1 only: one HTTP port and one RESP (Redis) port, both chosen by the OS unless given.
 * Prints ONE JSON line on stdout once both listen: {"http_port":N,"redis_port":M}. Logs requests to stderr
 * (method, path without query string, status, fault; never headers, queries or bodies). Exits on SIGTERM/SIGINT,
 * and when --parent-pid names a process that is gone.
 *
 * ROUTING — the first path segment is the provider id; the rest is the provider's real path. Base URLs:
 *   databento      http://127.0.0.1:N/databento           (GET /v0/metadata.list_datasets, /v0/timeseries.get_range)
 *   polygon        http://127.0.0.1:N/polygon             (GET /v1/marketstatus/now, /v2/aggs/ticker/..)
 *   finnhub        http://127.0.0.1:N/finnhub             (GET /api/v1/quote)
 *   alphavantage   http://127.0.0.1:N/alphavantage        (GET /query?function=GLOBAL_QUOTE|TIME_SERIES_INTRADAY)
 *   fmp            http://127.0.0.1:N/fmp                 (GET /stable/quote)
 *   fred           http://127.0.0.1:N/fred                (GET /fred/series)
 *   ironbeam       http://127.0.0.1:N/ironbeam            (POST /v2/auth, GET /v2/info/trader, POST /v2/logout,
 *                                                          POST /v2/order/:accountId/place, GET /v2/order/:acc/:status,
 *                                                          GET /v2/order/:acc/fills, DELETE /v2/order/:acc/cancel/:id,
 *                                                          PUT /v2/order/:acc/update/:id, GET /v2/account/:acc/positions)
 *   tradovate      http://127.0.0.1:N/tradovate           (POST /v1/auth/accesstokenrequest, GET /v1/auth/me,
 *                                                          GET /v1/account/list, POST /v1/order/placeorder,
 *                                                          GET /v1/order/list|item, GET /v1/orderVersion/list|deps,
 *                                                          GET /v1/fill/list|deps, GET /v1/position/list,
 *                                                          GET /v1/contract/find|item, POST /v1/order/cancelorder,
 *                                                          POST /v1/order/modifyorder)
 *   openai         http://127.0.0.1:N/openai/v1           (GET /models, POST /chat/completions)
 *   anthropic      http://127.0.0.1:N/anthropic           (GET /v1/models, POST /v1/messages)
 *   google_gemini  http://127.0.0.1:N/google_gemini       (GET /v1beta/models, POST /v1beta/models/M:generateContent)
 *   groq           http://127.0.0.1:N/groq                (GET /openai/v1/models, POST /openai/v1/chat/completions)
 *   xai            http://127.0.0.1:N/xai/v1              (GET /api-key, GET /models, POST /chat/completions)
 *   openrouter     http://127.0.0.1:N/openrouter/api/v1   (GET /key, GET /models (public), POST /chat/completions)
 *   unusual_whales http://127.0.0.1:N/unusual_whales      (GET /api/stock/{ticker}/info)
 *   discord        http://127.0.0.1:N/discord/api/webhooks/{id}/{token}   (the URL is the credential; GET = webhook
 *                                                          object, POST = execute: recorded, 204, or 200 + the
 *                                                          message with ?wait=true; rate_limit fault: 429 with
 *                                                          retry_after 2.0 in the body and Retry-After: 2)
 *   redis          redis://[user]:password@127.0.0.1:M/0   (RESP: AUTH, PING, SELECT, ECHO, GET/SET/DEL/... )
 *
 * CREDENTIAL RULE — a credential is VALID unless it contains the substring "invalid". It is read exactly where
 * the real provider reads it (Databento Basic with the key as user and an empty password; Polygon Bearer or
 * ?apiKey=; Finnhub X-Finnhub-Token or ?token=; Alpha Vantage / FMP ?apikey=; FRED ?api_key=; OpenAI / Groq /
 * xAI / OpenRouter / Unusual Whales Bearer; Anthropic x-api-key plus a required anthropic-version header;
 * Gemini x-goog-api-key or ?key=; Ironbeam JSON body username/password/apiKey then Bearer token; Tradovate JSON
 * body name/password/appId/appVersion/cid/sec[/deviceId] then Bearer accessToken; Discord webhook id and token
 * in the URL path; Redis AUTH). OpenAI-Organization / OpenAI-Project are checked by the same rule when sent.
 * A missing credential is answered the way the provider answers it (usually 401). Valid and invalid answers use
 * the real bodies and status codes of /work/shared/reference/provider-apis.md (Polygon 401 Unknown API Key,
 * Alpha Vantage 200 + "Error Message", Gemini 400 API_KEY_INVALID, xAI 400, FRED 400, Tradovate 200 errorText,
 * Databento 401 {"detail":"Not authenticated"}, Discord 401 50027 / 404 10015, Redis -WRONGPASS ...).
 *
 * CONTROL API (HTTP port, prefix /__sim/; JSON in and out)
 *   POST   /__sim/faults    {"provider":"databento","mode":M, "status":503, "delay_ms":800, "count":1,
 *                            "variant":"...", "path":"substring", "method":"GET", "message":"..."}
 *                           (or an array of such objects; "provider":"*" = every HTTP provider) → {"ok":true,"ids":[..]}
 *          modes: status       answer `status` (default 503) with the provider's real error body for it
 *                 latency      wait delay_ms (default 800), then answer normally
 *                 hang         never answer; keep the socket open
 *                 drip         the normal answer, body sent one byte every delay_ms (default 200)
 *                 malformed    200 with a truncated JSON body
 *                 error200     200 with the provider's error-in-body form (variants below)
 *                 not_entitled the provider's plan refusal (what providers.lua maps to NOT_ENTITLED)
 *                 rate_limit   the provider's rate-limit answer (429 + Retry-After; Alpha Vantage 200 + Information)
 *                 echo         an error answer (status, default 401) whose body quotes the raw credential
 *                 close        close the connection without an answer (redis too)
 *                 huge         200 with a JSON body of size_bytes (default 200 MiB) streamed as fast as the client
 *                              reads it: {"data":["xxxx…","xxxx…",…]}; "chunked":true sends it without a
 *                              Content-Length. The request's record gets bytes_sent (updated while streaming)
 *                              and closed_early (the client hung up before the end).
 *          error200 variants: alphavantage default|rate_limit (Note)|information (quota text quoting the key,
 *                 as the real service does)|premium; fmp default|rate_limit; tradovate default (errorText)|lockout
 *                 (p-ticket); ironbeam default; xai blocked|disabled|team_blocked; openrouter no_credit;
 *                 others: a 200 JSON body without the expected fields.
 *          redis: modes hang | status (every reply "-ERR <message>") | latency (first reply delayed) |
 *                 not_entitled (PING → -NOPERM) | malformed (a non-RESP line) | close.
 *          count: how many requests (redis: connections) the fault applies to; default unlimited.
 *          path / method: apply only to requests whose path contains `path` / whose method is `method`.
 *   GET    /__sim/faults                → {"faults":[..]}
 *   DELETE /__sim/faults[?provider=x]   → clears (all, or one provider's)
 *   GET    /__sim/requests[?provider=x] → {"requests":[{id, ts, provider, protocol, method, path, query, headers,
 *                                         body, args (redis), fault}]}  (they hold the credentials sent)
 *   DELETE /__sim/requests              → clears
 *   GET|POST /__sim/config              {"now": ISO instant | "clock_offset_ms": n (the simulator's clock: where
 *                                        "now" is for bars, quotes and market status; it runs on from there),
 *                                        "requirepass":bool, "ironbeam_live":bool, "tradovate_has_live":bool,
 *                                        "llm_regime":"trend"|"range"|...|null,
 *                                        "broker_fill_mode":"fill"|"working"|"partial"|"reject" (BROKERS below)}
 *   POST   /__sim/reset                 → faults, requests, config, sessions, redis data and the broker books back to
 *                                        the start state (the clock stays where it was told to live)
 *   GET    /__sim/broker/orders[?provider=ironbeam|tradovate]
 *                                      → {"orders":[{provider, account (string), broker_order_id (string), symbol,
 *                                         side "BUY"|"SELL", qty, filled_qty, avg_fill_price (null until a fill),
 *                                         status WORKING|PARTIALLY_FILLED|FILLED|CANCELLED|REJECTED|EXPIRED,
 *                                         created_at, updated_at (ISO, the simulator's clock)}]}
 *   GET    /__sim/broker/positions[?provider=] → {"positions":[{provider, account, symbol, qty (signed), avg_price}]}
 *   POST   /__sim/broker/positions {"provider","symbol","qty" (signed int),"avg_price"?,"account"?} → sets the position
 *                                        outright (a mismatch to find); account defaults to the provider's first
 *                                        account (the first login since reset, else the first order's); avg_price
 *                                        defaults to the reference price → {"ok":true,"position":{..}}
 *   POST   /__sim/broker/fill   {"provider","broker_order_id","qty"?,"price"?} → fills a working order (qty default:
 *                                        the rest; price default: its limit price, else the reference price)
 *                                        → {"ok":true,"order":{..}}; 404 unknown order, 409 final order, 400 bad qty
 *   POST   /__sim/broker/expire {"provider","broker_order_id"} → status EXPIRED (the rest never fills)
 *
 * BROKERS — one order book per provider and account (Ironbeam: the username sent to /v2/auth, as /v2/info/trader
 * answers; Tradovate: the id of /v1/account/list). placeorder / place record the order (their answers unchanged),
 * then broker_fill_mode decides: "fill" (default) a MARKET order (and a marketable LIMIT) fills completely at once
 * at the reference price; "partial" fills floor(qty/2) of it (none when qty = 1) and the rest stays working;
 * "working" fills nothing; "reject" records the order REJECTED (place still answers OK, as the real brokers do for
 * an exchange reject). Resting LIMIT, STOP and STOP_LIMIT orders always stay working until /__sim/broker/fill.
 * The reference price is the close of the newest complete minute bar of this simulator's own bar generator for the
 * symbol's root (XCME:ES.Z26 → ES, MNQZ6 → MNQ) at the simulator's clock, rounded to the tick. Cancel: working →
 * cancelled (the rest never fills); modify: the working quantity (not below the filled quantity; equal = FILLED).
 * A fill moves the position (signed qty; the average price of the open side, reset when it crosses zero).
 *   Ironbeam (OpenAPI "IronbeamAPI 2.1"; ids: orderId string, strategyId integer, accountId string):
 *     GET  /v2/order/{acc}/{orderStatus}  ANY or a status name → {"status":"OK","message":"OK","orders":[Order]}
 *          Order {orderId, strategyId, accountId, exchSym, status (NEW = working without fills, PARTIALLY_FILLED,
 *          FILLED, CANCELLED, REJECTED, EXPIRED), side, quantity, limitPrice?, stopPrice?, orderType "1".."4",
 *          duration "0"|"1", fillQuantity (total filled), fillPrice (average fill price; 0 before a fill),
 *          fillDate? (last fill), childOrders [], orderError? {errorCode, errorText} (REJECTED)}
 *     GET  /v2/order/{acc}/fills → {"status":"OK","message":"OK","fills":[OrderFill]}: one per execution,
 *          {orderId, strategyId, accountId, exchSym, status (after it), side, quantity, price (= fillPrice),
 *          fillQuantity (this fill), fillTotalQuantity, fillPrice, avgFillPrice, fillDate, timeOrderEvent (ms),
 *          orderUpdateId}
 *     GET  /v2/account/{acc}/positions → {"status":"OK","message":"OK","accountId","positions":[{accountId,
 *          currencyCode "USD", exchSym, positionId (string), quantity (unsigned), price (average), dateOpened
 *          "YYYYMMDD", side "LONG"|"SHORT", unrealizedPL (always 0 here)}]}; flat positions are left out
 *     DELETE /v2/order/{acc}/cancel/{orderId} → {"status":"OK","message":"OK","orders":[Order]} (CANCELLED);
 *          unknown or final order → 400 {"status":"ERROR","message":"Error","error":".."}
 *     PUT  /v2/order/{acc}/update/{orderId} {orderId, quantity, limitPrice?, stopPrice?} → same as cancel
 *     Another account in the path → 403 {"status":"ERROR","message":"Forbidden","error":"Account is not accessible"};
 *     no/unknown token → 401 {"error":"Unauthorized","status":"ERROR"}.
 *   Tradovate (REST API docs / tradovate/example-api-csharp-trading models; every id a JSON number):
 *     GET  /v1/order/list → [Order {id, accountId, contractId, timestamp, action "Buy"|"Sell", ordStatus
 *          (Working — also while partially filled —, Filled, Canceled, Rejected, Expired), executionProviderId,
 *          admin}] — like the real Order it carries no quantity: GET /v1/orderVersion/list (or /deps?masterid=ID)
 *          → [{id, orderId, orderQty, orderType, price?, stopPrice?, timeInForce?}] (the latest version)
 *     GET  /v1/order/item?id= → Order (404 {"errorText"} unknown)
 *     GET  /v1/fill/list (or /deps?masterid=ORDER) → [Fill {id, orderId, contractId, timestamp, tradeDate {year,
 *          month, day}, action, qty, price, active true, finallyPaired 0}]
 *     GET  /v1/position/list → [Position {id, accountId, contractId, timestamp, tradeDate, netPos (signed),
 *          netPrice (absent when flat), bought, boughtValue, sold, soldValue, prevPos 0}] (flat ones stay listed)
 *     GET  /v1/contract/find?name=SYM → {id, name, contractMaturityId, status, providerTickSize}; /contract/item?id=
 *          — the id is stable per symbol and is the contractId of orders, fills and positions
 *     POST /v1/order/cancelorder {orderId} → {commandId, orderId}; POST /v1/order/modifyorder {orderId, orderQty,
 *          orderType, price?, stopPrice?, timeInForce?} → {commandId, orderId}. Refusals are 200 CommandResult
 *          {failureReason, failureText}: "UnknownReason" (unknown order, bad fields, qty below filled), "TooLate"
 *          (the order is final). UNCONFIRMED: the real result is documented as CommandResult {failureReason?,
 *          failureText?, commandId}; orderId is the simulator's addition, and the refusal reasons are its choice.
 *     no/unknown token → 401 text "Access is denied".
 *   Fault injection (/__sim/faults with provider/path/method) applies to every one of these routes.
 *   GET    /__sim/health                → {"ok":true,...}
 *
 * DATA — deterministic per symbol (seeded generator; same answer for the same query): Databento ohlcv-1m/1h/1d
 * JSON lines (ts_event ns as a quoted string, rtype 33/34/35, prices quoted 1e-9 fixed-point integers, volume
 * quoted; minutes without trades — the CME daily halt, weekends and some thin minutes — have no record),
 * Polygon /v2/aggs (t in ms, results array), OpenAI-style chat completions (openai, groq, xai, openrouter) with
 * usage prompt/completion/total tokens, Anthropic messages with usage input/output tokens, Gemini
 * generateContent with usageMetadata. LLM answers are a short regime tag such as {"regime":"trend"}.
 */

const http = require('http');
const net = require('net');
const crypto = require('crypto');
const { URL, URLSearchParams } = require('url');

// ------------------------------------------------------------------------------------------------ options

function parseArgs(argv) {
  const o = { httpPort: 0, redisPort: 0, requirepass: false, parentPid: 0, quiet: false, now: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      const eq = a.indexOf('=');
      if (eq >= 0) return a.slice(eq + 1);
      return argv[++i];
    };
    if (a.startsWith('--http-port')) o.httpPort = parseInt(val(), 10) || 0;
    else if (a.startsWith('--redis-port')) o.redisPort = parseInt(val(), 10) || 0;
    else if (a === '--redis-requirepass') o.requirepass = true;
    else if (a.startsWith('--parent-pid')) o.parentPid = parseInt(val(), 10) || 0;
    else if (a === '--quiet') o.quiet = true;
    else if (a.startsWith('--now')) {
      o.now = Date.parse(val());
      if (Number.isNaN(o.now)) {
        process.stderr.write('sim: --now must be an ISO 8601 instant such as 2026-12-08T15:00:00Z\n');
        process.exit(2);
      }
    }
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: sim.js [--http-port N] [--redis-port M] [--redis-requirepass] [--parent-pid P] [--quiet] [--now ISO]\n');
      process.exit(0);
    } else {
      process.stderr.write(`sim: unknown argument ${a}\n`);
      process.exit(2);
    }
  }
  return o;
}

const OPT = parseArgs(process.argv.slice(2));

function log(msg) {
  if (!OPT.quiet) process.stderr.write(`sim ${new Date().toISOString()} ${msg}\n`);
}

// ------------------------------------------------------------------------------------------------ state

const PROVIDERS = [
  'databento', 'polygon', 'finnhub', 'alphavantage', 'fmp', 'fred', 'ironbeam', 'tradovate', 'openai',
  'anthropic', 'google_gemini', 'groq', 'xai', 'openrouter', 'unusual_whales', 'redis', 'discord',
];
const ALIASES = { gemini: 'google_gemini', uw: 'unusual_whales' };
const MODES = ['status', 'latency', 'hang', 'drip', 'malformed', 'error200', 'not_entitled', 'rate_limit', 'echo', 'close', 'huge'];
const MAX_REQUESTS = 20000;

const DEFAULT_CONFIG = () => ({
  requirepass: OPT.requirepass, ironbeam_live: false, tradovate_has_live: true, llm_regime: null, broker_fill_mode: 'fill',
});

// The simulator's clock: the instant its markets live at. Real time unless told otherwise (--now, or
// POST /__sim/config {"now": ISO} | {"clock_offset_ms": n}); it then runs forward from that instant at the real
// rate, like gatehouse's test clock (GATEHOUSE_TEST_CLOCK). Bars are a function of the requested window alone;
// the clock only decides where "now" (the newest complete minute, quotes, market status) is.
const START_OFFSET_MS = OPT.now === null ? 0 : OPT.now - Date.now();

const state = {
  clockOffsetMs: START_OFFSET_MS,
  faults: [],
  faultSeq: 0,
  requests: [],
  requestSeq: 0,
  config: DEFAULT_CONFIG(),
  ironbeamTokens: new Map(),  // token -> { username }
  tradovateTokens: new Map(), // token -> { name, userId }
  redisData: new Map(),       // "db:key" -> { v, exp }
  hanging: new Set(),
};

function record(entry) {
  entry.id = ++state.requestSeq;
  entry.ts = new Date().toISOString();
  state.requests.push(entry);
  if (state.requests.length > MAX_REQUESTS) state.requests.splice(0, state.requests.length - MAX_REQUESTS);
  return entry;
}

// Takes the first fault matching the request (and spends one of its `count`).
function takeFault(provider, method, path) {
  for (let i = 0; i < state.faults.length; i++) {
    const f = state.faults[i];
    if (f.provider !== provider && !(f.provider === '*' && provider !== 'redis')) continue;
    if (f.method && method && f.method.toUpperCase() !== method.toUpperCase()) continue;
    if (f.path && path !== undefined && !path.includes(f.path)) continue;
    if (typeof f.remaining === 'number') {
      f.remaining -= 1;
      if (f.remaining <= 0) state.faults.splice(i, 1);
    }
    return f;
  }
  return null;
}

// ------------------------------------------------------------------------------------------------ helpers

const isInvalid = (v) => v !== undefined && v !== null && String(v).includes('invalid');
const hex = (n) => crypto.randomBytes(n).toString('hex');
const uuid = () => crypto.randomUUID();
const simNow = () => Date.now() + state.clockOffsetMs;
const nowS = () => Math.floor(simNow() / 1000);

function json(status, obj, headers) {
  return { status, headers: Object.assign({ 'content-type': 'application/json' }, headers || {}), body: JSON.stringify(obj) };
}
function text(status, body, headers, type) {
  return { status, headers: Object.assign({ 'content-type': type || 'text/plain; charset=utf-8' }, headers || {}), body };
}
function bearer(req) {
  const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization || '');
  return m ? m[1].trim() : null;
}
// A provider-style masked echo: the first `front` and last 4 characters (the last 4 are a permitted hint).
function maskKey(v, front) {
  const s = String(v);
  if (s.length <= 8) return '*'.repeat(s.length);
  return s.slice(0, front) + '*'.repeat(Math.max(3, s.length - front - 4)) + s.slice(-4);
}
function parseJSON(s) {
  try { return JSON.parse(s); } catch (_) { return undefined; }
}
// Body fields of a POST: JSON, or a form body (the Databento SDK posts forms).
function bodyParams(req) {
  if (!req.body) return {};
  if (/^\s*[{[]/.test(req.body)) {
    const j = parseJSON(req.body);
    return j && typeof j === 'object' ? j : {};
  }
  return Object.fromEntries(new URLSearchParams(req.body));
}

// FNV-1a 32-bit and mulberry32: the seeded generator behind every deterministic answer.
function fnv(str) {
  let h = 0x811c9dc5;
  for (let i = 0; i < str.length; i++) {
    h ^= str.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}
function rngOf(seed) {
  let a = (typeof seed === 'number' ? seed : fnv(String(seed))) | 0;
  return function () {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
function gauss(rng) {
  let u = 0;
  while (u === 0) u = rng();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
}

// ------------------------------------------------------------------------------------------------ market model

const NS_PER_MIN = 60000000000n;

// Futures: root -> [base price, tick, base volume per minute]. Equities: ticker -> [base price, tick, volume].
const FUT = {
  ES: [5000, 0.25, 1800], MES: [5000, 0.25, 900], NQ: [17500, 0.25, 700], MNQ: [17500, 0.25, 1200],
  YM: [39000, 1, 150], MYM: [39000, 1, 100], RTY: [2050, 0.1, 200], M2K: [2050, 0.1, 150],
  CL: [78, 0.01, 900], MCL: [78, 0.01, 200], GC: [2050, 0.1, 400], MGC: [2050, 0.1, 150],
  SI: [24, 0.005, 120], ZN: [110, 0.015625, 1200], ZB: [118, 0.03125, 400], '6E': [1.08, 0.00005, 400],
  NG: [2.6, 0.001, 300], HG: [4.1, 0.0005, 100], ZC: [450, 0.25, 300], ZS: [1200, 0.25, 200],
};
const EQ = {
  AAPL: [190, 0.01, 60000], MSFT: [420, 0.01, 30000], SPY: [520, 0.01, 90000], QQQ: [440, 0.01, 50000],
  IBM: [180, 0.01, 5000], NVDA: [120, 0.01, 250000], TSLA: [200, 0.01, 120000], AMZN: [180, 0.01, 50000],
};

function futRoot(symbol) {
  const s = String(symbol).toUpperCase();
  let m = /^([A-Z0-9]+)\.(C|N|V)\.\d+$/.exec(s);  // continuous ES.c.0
  if (m) return m[1];
  m = /^([A-Z0-9]+)\.(FUT|OPT)$/.exec(s);          // parent ES.FUT
  if (m) return m[1];
  m = /^([A-Z0-9]{1,4}?)[FGHJKMNQUVXZ]\d{1,2}$/.exec(s); // raw ESM4 / ESZ24
  if (m && FUT[m[1]]) return m[1];
  return s;
}

function instrumentSpec(symbol, kind) {
  if (kind === 'cme') {
    const root = futRoot(symbol);
    const f = FUT[root];
    if (f) return { key: `cme:${root}`, base: f[0], tick: f[1], vol: f[2] };
    const h = fnv('fut:' + root);
    return { key: `cme:${root}`, base: 50 + (h % 4500), tick: 0.25, vol: 100 + (h % 900) };
  }
  const t = String(symbol).toUpperCase();
  const e = EQ[t];
  if (e) return { key: `eq:${t}`, base: e[0], tick: e[1], vol: e[2] };
  const h = fnv('eq:' + t);
  return { key: `eq:${t}`, base: 10 + (h % 490), tick: 0.01, vol: 2000 + (h % 40000) };
}

// New York wall-clock parts of a UTC instant (cached per UTC hour: offsets change on the hour only).
const nyFmt = new Intl.DateTimeFormat('en-US', {
  timeZone: 'America/New_York', hour12: false, weekday: 'short', year: 'numeric', month: '2-digit', day: '2-digit',
  hour: '2-digit', minute: '2-digit',
});
const offsetCache = new Map();
function nyOffsetMin(ms) {
  const hourKey = Math.floor(ms / 3600000);
  let off = offsetCache.get(hourKey);
  if (off === undefined) {
    const p = Object.fromEntries(nyFmt.formatToParts(new Date(hourKey * 3600000)).map((x) => [x.type, x.value]));
    const asUTC = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour % 24, +p.minute);
    off = Math.round((asUTC - hourKey * 3600000) / 60000);
    if (offsetCache.size > 100000) offsetCache.clear();
    offsetCache.set(hourKey, off);
  }
  return off;
}
function nyParts(ms) {
  const local = new Date(ms + nyOffsetMin(ms) * 60000);
  return { dow: local.getUTCDay(), minOfDay: local.getUTCHours() * 60 + local.getUTCMinutes(), localMs: ms + nyOffsetMin(ms) * 60000 };
}

// Is the market open in this minute? cme: Sun 18:00 – Fri 17:00 ET with the daily 17:00–18:00 halt;
// eq: US extended hours 04:00–20:00 ET on weekdays.
function sessionOpen(kind, minuteIdx) {
  const p = nyParts(minuteIdx * 60000);
  if (kind === 'cme') {
    if (p.dow === 6) return false;
    if (p.dow === 0) return p.minOfDay >= 18 * 60;
    if (p.dow === 5) return p.minOfDay < 17 * 60;
    return p.minOfDay < 17 * 60 || p.minOfDay >= 18 * 60;
  }
  if (p.dow === 0 || p.dow === 6) return false;
  return p.minOfDay >= 4 * 60 && p.minOfDay < 20 * 60;
}
function regularHours(kind, minuteIdx) {
  const p = nyParts(minuteIdx * 60000);
  return p.minOfDay >= 9 * 60 + 30 && p.minOfDay < 16 * 60;
}

function dayOpen(spec, day) {
  const ph = (fnv(spec.key) % 1000) / 1000 * 2 * Math.PI;
  const r = rngOf(`${spec.key}:open:${day}`);
  const lvl = 1 + 0.06 * Math.sin(2 * Math.PI * day / 97 + ph) + 0.025 * Math.sin(2 * Math.PI * day / 23 + 2 * ph)
    + 0.006 * gauss(r);
  return spec.base * lvl;
}

// Price path of one UTC day (1441 points, a Brownian bridge between consecutive day opens).
const pathCache = new Map();
function dayPath(spec, day) {
  const key = `${spec.key}:${day}`;
  let p = pathCache.get(key);
  if (p) return p;
  const r = rngOf(`${spec.key}:walk:${day}`);
  const sigma = spec.base * 0.00028;
  const w = new Float64Array(1441);
  for (let i = 1; i <= 1440; i++) w[i] = w[i - 1] + sigma * gauss(r);
  const p0 = dayOpen(spec, day), p1 = dayOpen(spec, day + 1);
  p = new Float64Array(1441);
  for (let i = 0; i <= 1440; i++) p[i] = p0 + w[i] - (i / 1440) * w[1440] + (i / 1440) * (p1 - p0);
  if (pathCache.size > 2000) pathCache.clear();
  pathCache.set(key, p);
  return p;
}

// One minute bar in ticks, or null when nobody traded in that minute.
function minuteBar(spec, kind, minuteIdx) {
  if (!sessionOpen(kind, minuteIdx)) return null;
  const rth = regularHours(kind, minuteIdx);
  const gapPct = rth ? 1 : (kind === 'cme' ? 7 : 12);
  if (fnv(`${spec.key}:gap:${minuteIdx}`) % 100 < gapPct) return null;
  const day = Math.floor(minuteIdx / 1440), i = minuteIdx - day * 1440;
  const path = dayPath(spec, day);
  const r = rngOf(`${spec.key}:bar:${minuteIdx}`);
  const sigma = spec.base * 0.00028;
  const toTick = (x) => Math.max(1, Math.round(x / spec.tick));
  const o = toTick(path[i]), c = toTick(path[i + 1]);
  const h = Math.max(o, c) + Math.floor(Math.abs(gauss(r)) * sigma * 0.6 / spec.tick);
  const l = Math.max(1, Math.min(o, c) - Math.floor(Math.abs(gauss(r)) * sigma * 0.6 / spec.tick));
  const v = Math.max(1, Math.round(spec.vol * (rth ? 1.6 : 0.25) * Math.exp(0.45 * gauss(r))));
  const n = Math.max(1, Math.round(v / (kind === 'cme' ? 2.5 : 90) * (0.8 + 0.4 * r())));
  return { o, h, l, c, v, n };
}

// Aggregate minute bars [fromMin, toMin) into one bar (null when none traded).
function aggregate(spec, kind, fromMin, toMin) {
  let agg = null;
  for (let m = fromMin; m < toMin; m++) {
    const b = minuteBar(spec, kind, m);
    if (!b) continue;
    if (!agg) agg = { o: b.o, h: b.h, l: b.l, c: b.c, v: b.v, n: b.n, pv: (b.h + b.l + b.c) / 3 * b.v };
    else {
      agg.h = Math.max(agg.h, b.h); agg.l = Math.min(agg.l, b.l); agg.c = b.c;
      agg.v += b.v; agg.n += b.n; agg.pv += (b.h + b.l + b.c) / 3 * b.v;
    }
  }
  return agg;
}

function tickNanos(spec) { return BigInt(Math.round(spec.tick * 1e9)); }
function fixed(ticks, spec) { return (BigInt(ticks) * tickNanos(spec)).toString(); }
function prettyPx(ticks, spec) {
  const v = BigInt(ticks) * tickNanos(spec);
  const whole = v / 1000000000n, frac = (v % 1000000000n).toString().padStart(9, '0');
  return `${whole}.${frac}`;
}
function isoNs(ns) {
  const ms = Number(ns / 1000000n);
  const frac = (ns % 1000000000n).toString().padStart(9, '0');
  return new Date(ms).toISOString().slice(0, 19) + '.' + frac + 'Z';
}

// Databento times: ns integers or ISO 8601 (date, or date-time; no zone = UTC). Returns BigInt ns or null.
function parseDbTime(v) {
  if (v === undefined || v === null || v === '') return null;
  const s = String(v).trim();
  if (/^\d+$/.test(s)) return BigInt(s);
  let iso = s.replace(' ', 'T');
  let fracNs = 0n;
  const m = /^(.*T\d\d:\d\d(?::\d\d)?)(\.\d+)?(Z|[+-]\d\d:?\d\d)?$/.exec(iso);
  if (m) {
    if (m[2]) fracNs = BigInt((m[2].slice(1) + '000000000').slice(0, 9));
    iso = m[1] + (m[3] || 'Z');
  }
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return null;
  return BigInt(ms) * 1000000n + fracNs;
}

// ------------------------------------------------------------------------------------------------ broker book
//
// One order book for the brokers (ironbeam, tradovate): orders, fills and positions per provider and account.
// The broker routes below render it in each broker's own format; /__sim/broker/* shows a normalized view.
// status (internal, = the normalized control-API view): WORKING | PARTIALLY_FILLED | FILLED | CANCELLED |
// REJECTED | EXPIRED.

const FILL_MODES = ['fill', 'working', 'partial', 'reject'];
const FINAL = new Set(['FILLED', 'CANCELLED', 'REJECTED', 'EXPIRED']);
const newBook = () => ({ orders: [], fills: [], positions: new Map(), seq: 0, accounts: { ironbeam: [], tradovate: [] } });
const isoAt = (ms) => new Date(ms).toISOString();
state.book = newBook();

// Remembers the accounts a broker has handed out (the default account of /__sim/broker/positions).
function noteAccount(provider, account) {
  const l = state.book.accounts[provider];
  const a = String(account);
  if (!l.includes(a)) l.push(a);
}

// The instrument of a broker symbol: Ironbeam "XCME:ES.U16" → ES, Tradovate "MNQM1" → MNQ.
function brokerSpec(symbol) {
  let s = String(symbol).toUpperCase();
  const colon = s.indexOf(':');
  if (colon >= 0) s = s.slice(colon + 1);
  const dot = s.indexOf('.');
  if (dot > 0 && !/\.(C|N|V)\.\d+$/.test(s) && !/\.(FUT|OPT)$/.test(s)) s = s.slice(0, dot);
  return instrumentSpec(s, 'cme');
}
function roundTick(px, spec) {
  const dec = Math.min(9, Math.max(0, (String(spec.tick).split('.')[1] || '').length));
  return Number((Math.round(px / spec.tick) * spec.tick).toFixed(dec));
}
// The default fill price: the close of the newest complete minute bar of the simulator's own bar generator for
// that symbol at the simulator's clock (searching back up to 7 days over halts and weekends; the generator's
// price path at "now" if none). Deterministic for a symbol and a clock minute.
function referencePrice(symbol) {
  const spec = brokerSpec(symbol);
  const nowMin = Math.floor(simNow() / 60000);
  for (let m = nowMin - 1; m > nowMin - 7 * 1440; m--) {
    const b = minuteBar(spec, 'cme', m);
    if (b) return roundTick(b.c * spec.tick, spec);
  }
  const day = Math.floor(nowMin / 1440);
  return roundTick(dayPath(spec, day)[nowMin - day * 1440], spec);
}

function brokerOrderId(provider) {
  for (;;) {
    const id = provider === 'ironbeam' ? 'IB-' + hex(8) : String(300000000 + (fnv(hex(4)) % 100000000));
    if (!state.book.orders.some((o) => o.provider === provider && o.id === id)) return id;
  }
}

function positionOf(provider, account, symbol, create) {
  const key = `${provider}|${account}|${symbol}`;
  let p = state.book.positions.get(key);
  if (!p && create) {
    p = { id: ++state.book.seq + 700000000, provider, account: String(account), symbol, qty: 0, avg: 0, bought: 0,
      boughtValue: 0, sold: 0, soldValue: 0, opened: simNow(), updated: simNow() };
    state.book.positions.set(key, p);
  }
  return p;
}

function applyFill(o, qty, price) {
  const now = simNow();
  const prevFilled = o.filled;
  o.filled += qty;
  o.avg = prevFilled === 0 ? price : (o.avg * prevFilled + price * qty) / o.filled;
  o.avg = Number(o.avg.toFixed(9));
  o.status = o.filled >= o.qty ? 'FILLED' : 'PARTIALLY_FILLED';
  o.updated = now;
  const f = { id: ++state.book.seq + 500000000, provider: o.provider, account: o.account, order: o, qty, price, ts: now,
    cumQty: o.filled, cumAvg: o.avg, statusAfter: o.status };
  state.book.fills.push(f);
  const p = positionOf(o.provider, o.account, o.symbol, true);
  const d = o.side === 'BUY' ? qty : -qty;
  if (o.side === 'BUY') { p.bought += qty; p.boughtValue += qty * price; } else { p.sold += qty; p.soldValue += qty * price; }
  const q0 = p.qty, q1 = q0 + d;
  if (q0 === 0 || Math.sign(q0) === Math.sign(d)) p.avg = (Math.abs(q0) * p.avg + qty * price) / Math.abs(q1);
  else if (q1 === 0) p.avg = 0;
  else if (Math.sign(q1) !== Math.sign(q0)) p.avg = price;  // crossed through flat: the rest opened at this price
  p.avg = Number(p.avg.toFixed(9));
  if (q0 === 0) p.opened = now;
  p.qty = q1;
  p.updated = now;
  return f;
}

// Records a placed order and applies broker_fill_mode. o: {provider, account, symbol, side, qty, type
// MARKET|LIMIT|STOP|STOP_LIMIT, limitPrice, stopPrice, tif, raw (the broker's own request fields)}.
function placeBrokerOrder(o) {
  const now = simNow();
  const ord = Object.assign({ id: brokerOrderId(o.provider), filled: 0, avg: 0, status: 'WORKING', created: now, updated: now,
    strategyId: 0, versions: 1 }, o);
  ord.account = String(ord.account);
  if (o.provider === 'ironbeam') ord.strategyId = 100000 + (fnv(ord.id) % 900000);
  state.book.orders.push(ord);
  noteAccount(o.provider, ord.account);
  const mode = state.config.broker_fill_mode;
  if (mode === 'reject') { ord.status = 'REJECTED'; ord.rejectText = 'Rejected by the simulator (broker_fill_mode reject)'; return ord; }
  if (mode === 'working') return ord;
  const ref = referencePrice(ord.symbol);
  let price = null;
  if (ord.type === 'MARKET') price = ref;
  else if (ord.type === 'LIMIT' && Number.isFinite(ord.limitPrice)
    && (ord.side === 'BUY' ? ord.limitPrice >= ref : ord.limitPrice <= ref)) price = ref;  // marketable limit
  if (price === null) return ord;  // resting limit, stop and stop-limit orders stay working
  const q = mode === 'partial' ? Math.floor(ord.qty / 2) : ord.qty;
  if (q > 0) applyFill(ord, q, price);
  return ord;
}

function findBrokerOrder(provider, id) {
  return state.book.orders.find((o) => o.provider === provider && o.id === String(id));
}
function cancelBrokerOrder(o) { o.status = 'CANCELLED'; o.updated = simNow(); }
// Changes the working quantity (never below the filled quantity); the order is FILLED when nothing remains.
function modifyBrokerOrder(o, qty, fields) {
  o.qty = qty;
  Object.assign(o, fields);
  o.versions += 1;
  if (o.filled >= o.qty) o.status = 'FILLED';
  o.updated = simNow();
}

function controlOrder(o) {
  return { provider: o.provider, account: o.account, broker_order_id: o.id, symbol: o.symbol, side: o.side, qty: o.qty,
    filled_qty: o.filled, avg_fill_price: o.filled ? o.avg : null, status: o.status, created_at: isoAt(o.created),
    updated_at: isoAt(o.updated) };
}
function controlPosition(p) {
  return { provider: p.provider, account: p.account, symbol: p.symbol, qty: p.qty, avg_price: p.qty ? p.avg : 0 };
}

// Tradovate contract ids: stable per symbol (upper-cased), the same in contract/find, orders, fills, positions.
const tvContracts = new Map();  // id -> name
function tvContractId(symbol) {
  const name = String(symbol).toUpperCase();
  const id = 2000000 + (fnv('tvc:' + name) % 7000000);
  tvContracts.set(id, name);
  return id;
}
function tvTradeDate(ms) {
  const d = new Date(ms + nyOffsetMin(ms) * 60000 + 6 * 3600000);  // CME trade date: rolls at 18:00 New York
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
}

// ------------------------------------------------------------------------------------------------ LLM content

const REGIMES = ['trend', 'range', 'volatile'];
function regimeFor(text) {
  if (state.config.llm_regime) return state.config.llm_regime;
  return REGIMES[fnv(text) % REGIMES.length];
}
function approxTokens(s) { return Math.max(1, Math.ceil(String(s).length / 4)); }
function messagesText(msgs) {
  if (!Array.isArray(msgs)) return '';
  return msgs.map((m) => {
    if (!m || typeof m !== 'object') return '';
    if (typeof m.content === 'string') return m.content;
    if (Array.isArray(m.content)) return m.content.map((p) => (p && (p.text || '')) || '').join(' ');
    if (Array.isArray(m.parts)) return m.parts.map((p) => (p && p.text) || '').join(' ');
    return '';
  }).join('\n');
}

// ------------------------------------------------------------------------------------------------ providers
//
// Each provider: auth(req) → null when the credential is valid, else the real refusal; routes; and the
// bodies used by faults: errorFor(status), notEntitled(), rateLimit(), error200(variant), echo(cred).

const genericError = (status) => json(status, { error: `simulated HTTP ${status}`, status });
const RETRY = { 'retry-after': '2' };

// -- OpenAI-style error envelope (openai, groq)
function oaiErr(status, message, type, code, headers) {
  return json(status, { error: { message, type, param: null, code } }, Object.assign({ 'x-request-id': 'req_' + hex(16) }, headers || {}));
}

function chatCompletion(req, provider, defaultModel) {
  const p = bodyParams(req);
  if (!p.model && !defaultModel) return oaiErr(400, 'you must provide a model parameter', 'invalid_request_error', null);
  if (!Array.isArray(p.messages) || p.messages.length === 0) {
    return oaiErr(400, "Missing required parameter: 'messages'.", 'invalid_request_error', 'missing_required_parameter');
  }
  const prompt = messagesText(p.messages);
  const content = JSON.stringify({ regime: regimeFor(prompt) });
  const pt = approxTokens(prompt) + 3 * p.messages.length + 3, ct = approxTokens(content) + 1;
  const usage = { prompt_tokens: pt, completion_tokens: ct, total_tokens: pt + ct };
  const model = p.model || defaultModel;
  const out = {
    id: 'chatcmpl-' + hex(12), object: 'chat.completion', created: nowS(), model,
    choices: [{ index: 0, message: { role: 'assistant', content, refusal: null }, logprobs: null, finish_reason: 'stop' }],
    usage,
  };
  if (provider === 'openai' || provider === 'openrouter') {
    usage.prompt_tokens_details = { cached_tokens: 0, audio_tokens: 0 };
    usage.completion_tokens_details = { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 };
    out.system_fingerprint = 'fp_' + hex(5);
  }
  if (provider === 'openrouter') {
    usage.cost = Math.round((pt * 0.15 + ct * 0.6)) / 1e6;
    out.provider = 'OpenAI';
  }
  if (provider === 'groq') {
    Object.assign(usage, { queue_time: 0.012, prompt_time: 0.004, completion_time: 0.009, total_time: 0.013 });
    out.x_groq = { id: 'req_' + hex(13) };
  }
  return json(200, out, { 'x-request-id': 'req_' + hex(16) });
}

const P = {};

P.databento = {
  auth(req) {
    const m = /^Basic\s+(\S+)$/i.exec(req.headers.authorization || '');
    const unauth = json(401, { detail: 'Not authenticated' }, { 'www-authenticate': 'Basic' });
    if (!m) return unauth;
    const dec = Buffer.from(m[1], 'base64').toString('utf8');
    const i = dec.indexOf(':');
    const user = i >= 0 ? dec.slice(0, i) : dec;
    if (!user || isInvalid(user)) return unauth;
    return null;
  },
  cred(req) {
    const m = /^Basic\s+(\S+)$/i.exec(req.headers.authorization || '');
    return m ? Buffer.from(m[1], 'base64').toString('utf8').split(':')[0] : '';
  },
  routes: [
    ['GET', /^\/v0\/metadata\.list_datasets$/, () => json(200, ['ARCX.PILLAR', 'DBEQ.BASIC', 'GLBX.MDP3', 'IFEU.IMPACT', 'NDEX.IMPACT', 'OPRA.PILLAR', 'XNAS.ITCH', 'XNYS.PILLAR'])],
    ['GET', /^\/v0\/metadata\.get_dataset_range$/, () => json(200, {
      start: '2010-06-06T00:00:00.000000000Z', end: new Date(Math.floor(simNow() / 60000) * 60000).toISOString().replace(/\.\d+Z$/, '.000000000Z'),
    })],
    ['GET|POST', /^\/v0\/metadata\.get_cost$/, () => json(200, 0.0123)],
    ['GET|POST', /^\/v0\/timeseries\.get_range$/, (req) => databentoRange(req)],
  ],
  errorFor(status) {
    if (status === 401) return json(401, { detail: 'Not authenticated' }, { 'www-authenticate': 'Basic' });
    if (status === 403) return this.notEntitled();
    if (status === 422) return json(422, { detail: [{ loc: ['query', 'dataset'], msg: 'field required', type: 'value_error.missing' }] });
    if (status === 429) return json(429, { detail: 'Too many requests. Rate limit exceeded.' }, RETRY);
    if (status >= 500) return json(status, { detail: 'Internal server error.' });
    return json(status, { detail: `Simulated HTTP ${status}.` });
  },
  notEntitled: () => json(403, { detail: 'Your account is not entitled to dataset GLBX.MDP3. Check your license at https://databento.com/portal/datasets.' }),
  rateLimit: () => json(429, { detail: 'Too many requests. Rate limit exceeded.' }, RETRY),
  echo: (cred, status) => json(status, { detail: `Authentication failed for API key ${cred}.` }),
};

function databentoRange(req) {
  const q = Object.assign({}, req.query, req.method === 'POST' ? bodyParams(req) : {});
  const dataset = q.dataset;
  if (!dataset) return json(422, { detail: [{ loc: ['query', 'dataset'], msg: 'field required', type: 'value_error.missing' }] });
  const schema = q.schema || 'trades';
  const rtypes = { 'ohlcv-1m': [33, 1], 'ohlcv-1h': [34, 60], 'ohlcv-1d': [35, 1440] };
  if (!rtypes[schema]) return json(422, { detail: `The simulator serves schema ohlcv-1m, ohlcv-1h or ohlcv-1d, not '${schema}'.` });
  const encoding = q.encoding || 'dbn';
  if (encoding !== 'json' && encoding !== 'csv') {
    return json(422, { detail: `The simulator serves encoding=json or encoding=csv, not '${encoding}'.` });
  }
  if (q.compression && q.compression !== 'none') return json(422, { detail: 'The simulator serves compression=none only.' });
  const symbols = String(q.symbols || '').split(',').map((s) => s.trim()).filter(Boolean);
  if (symbols.length === 0) return json(422, { detail: [{ loc: ['query', 'symbols'], msg: 'field required', type: 'value_error.missing' }] });
  if (symbols.length > 2000) return json(422, { detail: 'Too many symbols (limit 2000).' });
  const start = parseDbTime(q.start);
  if (start === null) return json(422, { detail: [{ loc: ['query', 'start'], msg: 'invalid datetime format', type: 'value_error.datetime' }] });
  const nowNs = BigInt(Math.floor(simNow() / 60000)) * NS_PER_MIN;  // the current minute is not complete
  let end = parseDbTime(q.end);
  if (q.end !== undefined && q.end !== '' && end === null) return json(422, { detail: [{ loc: ['query', 'end'], msg: 'invalid datetime format', type: 'value_error.datetime' }] });
  if (end === null || end > nowNs) end = nowNs;
  if (end <= start) return json(422, { detail: `Invalid time range: start (${q.start}) must be before end.` });
  const [rtype, stepMin] = rtypes[schema];
  const stepNs = BigInt(stepMin) * NS_PER_MIN;
  const first = ((start + stepNs - 1n) / stepNs) * stepNs;  // first bar start >= start
  const nBuckets = Number((end - first + stepNs - 1n) / stepNs);
  if (nBuckets * symbols.length > 500000) return json(422, { detail: 'The requested range is too large for the simulator (500000 bars).' });
  const limit = q.limit ? parseInt(q.limit, 10) : 0;
  const pretty_px = q.pretty_px === 'true' || q.pretty_px === true;
  const pretty_ts = q.pretty_ts === 'true' || q.pretty_ts === true;
  const map_symbols = q.map_symbols === 'true' || q.map_symbols === true;
  const specs = symbols.map((s) => ({ sym: s, spec: instrumentSpec(s, 'cme'), iid: 1000 + (fnv('iid:' + futRoot(s) + ':' + s) % 900000) }));
  const lines = [];
  if (encoding === 'csv') lines.push('ts_event,rtype,publisher_id,instrument_id,open,high,low,close,volume' + (map_symbols ? ',symbol' : ''));
  let count = 0;
  outer:
  for (let b = 0; b < nBuckets; b++) {
    const ts = first + BigInt(b) * stepNs;
    if (ts >= end) break;
    const m0 = Number(ts / NS_PER_MIN);
    for (const s of specs) {
      const bar = stepMin === 1 ? minuteBar(s.spec, 'cme', m0) : aggregate(s.spec, 'cme', m0, m0 + stepMin);
      if (!bar) continue;
      const px = (t) => (pretty_px ? prettyPx(t, s.spec) : fixed(t, s.spec));
      const tsOut = pretty_ts ? isoNs(ts) : ts.toString();
      if (encoding === 'csv') {
        lines.push([tsOut, rtype, 1, s.iid, px(bar.o), px(bar.h), px(bar.l), px(bar.c), bar.v].concat(map_symbols ? [s.sym] : []).join(','));
      } else {
        const rec = { hd: { ts_event: tsOut, rtype, publisher_id: 1, instrument_id: s.iid },
          open: px(bar.o), high: px(bar.h), low: px(bar.l), close: px(bar.c), volume: String(bar.v) };
        if (map_symbols) rec.symbol = s.sym;
        lines.push(JSON.stringify(rec));
      }
      if (limit > 0 && ++count >= limit) break outer;
    }
  }
  const body = lines.length ? lines.join('\n') + '\n' : '';
  return text(200, body, {}, encoding === 'csv' ? 'text/csv' : 'application/json');
}

P.polygon = {
  cred(req) { return bearer(req) || req.query.apiKey || ''; },
  auth(req) {
    const k = this.cred(req);
    if (!k) return json(401, { status: 'ERROR', request_id: hex(16), error: 'API Key was not provided' });
    if (isInvalid(k)) return json(401, { status: 'ERROR', request_id: hex(16), error: 'Unknown API Key' });
    return null;
  },
  routes: [
    ['GET', /^\/v1\/marketstatus\/now$/, () => {
      const open = sessionOpen('eq', Math.floor(simNow() / 60000)) && regularHours('eq', Math.floor(simNow() / 60000));
      return json(200, {
        afterHours: false, currencies: { crypto: 'open', fx: 'open' }, earlyHours: false,
        exchanges: { nasdaq: open ? 'open' : 'closed', nyse: open ? 'open' : 'closed', otc: open ? 'open' : 'closed' },
        indicesGroups: { s_and_p: open ? 'open' : 'closed', nasdaq: open ? 'open' : 'closed' },
        market: open ? 'open' : 'closed', serverTime: new Date(simNow()).toISOString().replace(/\.\d+Z$/, '-00:00'),
      });
    }],
    ['GET', /^\/v2\/aggs\/ticker\/([^/]+)\/range\/(\d+)\/([a-z]+)\/([^/]+)\/([^/]+)$/, (req, m) => polygonAggs(req, m)],
  ],
  errorFor(status) {
    if (status === 401) return json(401, { status: 'ERROR', request_id: hex(16), error: 'Unknown API Key' });
    if (status === 403) return this.notEntitled();
    if (status === 429) return this.rateLimit();
    if (status >= 500) return json(status, { status: 'ERROR', request_id: hex(16), error: 'Internal server error. Please try again.' });
    return json(status, { status: 'ERROR', request_id: hex(16), error: `Simulated HTTP ${status}` });
  },
  notEntitled: () => json(403, { status: 'NOT_AUTHORIZED', request_id: hex(16), message: 'You are not entitled to this data. Please upgrade your plan at https://polygon.io/pricing' }),
  rateLimit: () => json(429, { status: 'ERROR', request_id: hex(16), error: "You've exceeded the maximum requests per minute, please wait or upgrade your subscription to continue. https://polygon.io/pricing" }, RETRY),
  echo: (cred, status) => json(status, { status: 'ERROR', request_id: hex(16), error: `Unknown API Key ${cred}` }),
};

// Date (YYYY-MM-DD, New York day) or ms → ms. `end` = the end of a date (inclusive day).
function polyTime(v, end) {
  if (/^\d+$/.test(v)) return parseInt(v, 10);
  const m = /^(\d{4})-(\d\d)-(\d\d)$/.exec(v);
  if (!m) return null;
  let ms = Date.UTC(+m[1], +m[2] - 1, +m[3] + (end ? 1 : 0));
  ms -= nyOffsetMin(ms + 12 * 3600000) * 60000;  // NY midnight
  return end ? ms - 1 : ms;
}

function polygonAggs(req, m) {
  const ticker = decodeURIComponent(m[1]).toUpperCase();
  const mult = parseInt(m[2], 10);
  const span = m[3];
  const spanMin = { minute: 1, hour: 60, day: 1440, week: 10080 }[span];
  const from = polyTime(m[4], false), to = polyTime(m[5], true);
  const rid = hex(16);
  if (!spanMin || !(mult >= 1) || from === null || to === null) {
    return json(400, { status: 'ERROR', request_id: rid, error: 'Could not parse the time parameter or the timespan.' });
  }
  const limit = Math.min(50000, Math.max(1, parseInt(req.query.limit || '5000', 10) || 5000));
  const desc = req.query.sort === 'desc';
  const spec = instrumentSpec(ticker, 'eq');
  const px = (t) => Math.round(t * spec.tick * 10000) / 10000;
  const out = [];
  // like Databento, nothing after the simulator's current minute (it is not complete yet)
  const fromMin = Math.ceil(from / 60000), toMin = Math.min(Math.floor(to / 60000), Math.floor(simNow() / 60000) - 1);
  if ((toMin - fromMin) / (spanMin * mult) > 200000) return json(400, { status: 'ERROR', request_id: rid, error: 'The range is too large for the simulator.' });
  if (spanMin < 1440) {
    const w = spanMin * mult;
    for (let s = Math.floor(fromMin / w) * w; s <= toMin; s += w) {
      const a = w === 1 ? minuteBar(spec, 'eq', s) : aggregate(spec, 'eq', s, s + w);
      if (s * 60000 < from && w === 1) continue;
      if (!a) continue;
      const vw = a.pv !== undefined ? a.pv / a.v : (a.h + a.l + a.c) / 3;
      out.push({ v: a.v, vw: px(vw), o: px(a.o), c: px(a.c), h: px(a.h), l: px(a.l), t: s * 60000, n: a.n });
    }
  } else {
    // New York days (weeks start on the first day); t = the New York midnight that opens the window.
    let dayStart = polyTime(new Date(from + nyOffsetMin(from) * 60000).toISOString().slice(0, 10), false);
    while (dayStart <= to) {
      let winEnd = dayStart;
      for (let k = 0; k < (spanMin / 1440) * mult; k++) winEnd = polyTime(new Date(winEnd + 36 * 3600000 + nyOffsetMin(winEnd) * 60000).toISOString().slice(0, 10), false);
      const a = aggregate(spec, 'eq', Math.floor(dayStart / 60000), Math.floor(winEnd / 60000));
      if (a) {
        out.push({ v: a.v, vw: px(a.pv / a.v), o: px(a.o), c: px(a.c), h: px(a.h), l: px(a.l), t: dayStart, n: a.n });
      }
      dayStart = winEnd;
    }
  }
  if (desc) out.reverse();
  const page = out.slice(0, limit);
  const body = { ticker, queryCount: page.length, resultsCount: page.length, adjusted: req.query.adjusted !== 'false', status: 'OK', request_id: rid, count: page.length };
  if (page.length) body.results = page;
  if (out.length > limit) {
    const last = page[page.length - 1].t;
    const qs = new URLSearchParams(Object.entries(req.query).filter(([k]) => k !== 'apiKey'));
    const nf = desc ? m[4] : String(last + 1), nt = desc ? String(last - 1) : m[5];
    body.next_url = `http://${req.headers.host}/polygon/v2/aggs/ticker/${encodeURIComponent(ticker)}/range/${mult}/${span}/${nf}/${nt}?${qs}`;
  }
  return json(200, body);
}

P.finnhub = {
  cred(req) { return req.headers['x-finnhub-token'] || req.query.token || ''; },
  auth(req) {
    const k = this.cred(req);
    if (!k || isInvalid(k)) return json(401, { error: 'Invalid API key.' });
    return null;
  },
  routes: [
    ['GET', /^\/api\/v1\/quote$/, (req) => {
      const sym = String(req.query.symbol || '').toUpperCase();
      if (!sym) return json(422, { error: 'Wrong symbol.' });
      const spec = instrumentSpec(sym, 'eq');
      const day = Math.floor(simNow() / 86400000);
      const c = Math.round(dayOpen(spec, day) * 100) / 100, pc = Math.round(dayOpen(spec, day - 1) * 100) / 100;
      return json(200, { c, d: Math.round((c - pc) * 100) / 100, dp: Math.round((c - pc) / pc * 10000) / 100,
        h: Math.round(c * 1.006 * 100) / 100, l: Math.round(c * 0.994 * 100) / 100, o: pc, pc, t: nowS() });
    }],
  ],
  errorFor(status) {
    if (status === 401) return json(401, { error: 'Invalid API key.' });
    if (status === 403) return this.notEntitled();
    if (status === 429) return this.rateLimit();
    return json(status, { error: `Simulated HTTP ${status}.` });
  },
  notEntitled: () => json(403, { error: "You don't have access to this resource." }),
  rateLimit: () => json(429, { error: 'API limit reached. Please try again later. Remaining Limit: 0' }, RETRY),
  echo: (cred, status) => json(status, { error: `Invalid API key: ${cred}` }),
};

const AV_BAD_KEY = { 'Error Message': 'the parameter apikey is invalid or missing. Please claim your free API key on (https://www.alphavantage.co/support/#api-key). It should take less than 20 seconds.' };
const AV_NOTE = { Note: 'Thank you for using Alpha Vantage! Our standard API call frequency is 5 calls per minute and 500 calls per day. Please visit https://www.alphavantage.co/premium/ if you would like to target a higher API call frequency.' };
const AV_PREMIUM = { Information: 'Thank you for using Alpha Vantage! This is a premium endpoint. You may subscribe to any of the premium plans at https://www.alphavantage.co/premium/ to instantly unlock all premium endpoints' };
const avInformation = (key) => ({ Information: `We have detected your API key as ${key} and our standard API rate limit is 25 requests per day. Please subscribe to any of the premium plans at https://www.alphavantage.co/premium/ to instantly remove all daily rate limits.` });

P.alphavantage = {
  cred(req) { return req.query.apikey || ''; },
  auth(req) {
    const k = this.cred(req);
    if (!k || isInvalid(k)) return json(200, AV_BAD_KEY);
    return null;
  },
  routes: [
    ['GET', /^\/query$/, (req) => {
      const fn = req.query.function;
      const sym = String(req.query.symbol || '').toUpperCase();
      if (fn === 'GLOBAL_QUOTE') {
        if (!sym) return json(200, { 'Error Message': 'Invalid API call. Please retry or visit the documentation (https://www.alphavantage.co/documentation/) for GLOBAL_QUOTE.' });
        const spec = instrumentSpec(sym, 'eq');
        const day = Math.floor(simNow() / 86400000);
        const c = dayOpen(spec, day), pc = dayOpen(spec, day - 1);
        const f4 = (x) => x.toFixed(4);
        return json(200, { 'Global Quote': {
          '01. symbol': sym, '02. open': f4(pc), '03. high': f4(c * 1.006), '04. low': f4(c * 0.994), '05. price': f4(c),
          '06. volume': String(spec.vol * 390), '07. latest trading day': new Date(simNow()).toISOString().slice(0, 10),
          '08. previous close': f4(pc), '09. change': f4(c - pc), '10. change percent': ((c - pc) / pc * 100).toFixed(4) + '%',
        } });
      }
      if (fn === 'TIME_SERIES_INTRADAY') return avIntraday(req, sym);
      return json(200, { 'Error Message': 'This API function (' + (fn || '') + ') does not exist.' });
    }],
  ],
  errorFor(status) {
    if (status === 429) return json(429, AV_NOTE, RETRY);
    return text(status, `<html><body><h1>${status}</h1>Simulated error</body></html>`, {}, 'text/html');
  },
  notEntitled: () => json(200, AV_PREMIUM),
  rateLimit(req) { return json(200, avInformation(this.cred(req))); },
  error200(variant, req) {
    if (variant === 'rate_limit' || variant === 'note') return json(200, AV_NOTE);
    if (variant === 'information') return json(200, avInformation(this.cred(req)));
    if (variant === 'premium') return json(200, AV_PREMIUM);
    return json(200, AV_BAD_KEY);
  },
  echo: (cred, status) => json(status, { 'Error Message': `the parameter apikey (${cred}) is invalid or missing.` }),
};

function avIntraday(req, sym) {
  const interval = req.query.interval || '5min';
  const w = { '1min': 1, '5min': 5, '15min': 15, '30min': 30, '60min': 60 }[interval];
  if (!w || !sym) return json(200, { 'Error Message': 'Invalid API call. Please retry or visit the documentation (https://www.alphavantage.co/documentation/) for TIME_SERIES_INTRADAY.' });
  const spec = instrumentSpec(sym, 'eq');
  const n = req.query.outputsize === 'full' ? 2000 : 100;
  const series = {};
  let s = Math.floor(simNow() / 60000 / w) * w - w, got = 0, last = null;
  for (let guard = 0; got < n && guard < 200000; guard++, s -= w) {
    const a = w === 1 ? minuteBar(spec, 'eq', s) : aggregate(spec, 'eq', s, s + w);
    if (!a) continue;
    const local = new Date(s * 60000 + nyOffsetMin(s * 60000) * 60000).toISOString().replace('T', ' ').slice(0, 19);
    if (!last) last = local;
    const f = (t) => (t * spec.tick).toFixed(4);
    series[local] = { '1. open': f(a.o), '2. high': f(a.h), '3. low': f(a.l), '4. close': f(a.c), '5. volume': String(a.v) };
    got++;
  }
  return json(200, {
    'Meta Data': { '1. Information': `Intraday (${interval}) open, high, low, close prices and volume`, '2. Symbol': sym,
      '3. Last Refreshed': last, '4. Interval': interval, '5. Output Size': n === 100 ? 'Compact' : 'Full size', '6. Time Zone': 'US/Eastern' },
    [`Time Series (${interval})`]: series,
  });
}

const FMP_BAD_KEY = { 'Error Message': 'Invalid API KEY. Feel free to create a Free API Key or visit https://site.financialmodelingprep.com/faqs?search=why-is-my-api-key-invalid for more information.' };
const FMP_LIMIT = { 'Error Message': 'Limit Reach . Please upgrade your plan or visit our documentation for more details at https://site.financialmodelingprep.com/' };
const FMP_RESTRICTED = { 'Error Message': 'Restricted Endpoint: This endpoint is not available under your current subscription please visit our subscription page to upgrade your plan at https://site.financialmodelingprep.com/developer/docs/pricing' };

P.fmp = {
  cred(req) { return req.query.apikey || ''; },
  auth(req) {
    const k = this.cred(req);
    if (!k || isInvalid(k)) return json(401, FMP_BAD_KEY);
    return null;
  },
  routes: [
    ['GET', /^\/stable\/quote$/, (req) => {
      const sym = String(req.query.symbol || '').toUpperCase();
      if (!sym) return json(400, { 'Error Message': 'Query Error: Missing required parameter: symbol' });
      const spec = instrumentSpec(sym, 'eq');
      const day = Math.floor(simNow() / 86400000);
      const c = Math.round(dayOpen(spec, day) * 100) / 100, pc = Math.round(dayOpen(spec, day - 1) * 100) / 100;
      return json(200, [{
        symbol: sym, name: `${sym} (simulated)`, price: c, changePercentage: Math.round((c - pc) / pc * 1e6) / 1e4,
        change: Math.round((c - pc) * 100) / 100, volume: spec.vol * 390, dayLow: Math.round(c * 0.994 * 100) / 100,
        dayHigh: Math.round(c * 1.006 * 100) / 100, yearHigh: Math.round(c * 1.3 * 100) / 100, yearLow: Math.round(c * 0.75 * 100) / 100,
        marketCap: Math.round(c * 15e9), priceAvg50: Math.round(c * 0.98 * 100) / 100, priceAvg200: Math.round(c * 0.93 * 100) / 100,
        exchange: 'NASDAQ', open: pc, previousClose: pc, timestamp: nowS(),
      }]);
    }],
  ],
  errorFor(status) {
    if (status === 401) return json(401, FMP_BAD_KEY);
    if (status === 402 || status === 403) return json(status, FMP_RESTRICTED);
    if (status === 429) return json(429, FMP_LIMIT, RETRY);
    return json(status, { 'Error Message': `Simulated HTTP ${status}` });
  },
  notEntitled: () => json(402, FMP_RESTRICTED),
  rateLimit: () => json(429, FMP_LIMIT, RETRY),
  error200(variant) {
    if (variant === 'rate_limit') return json(200, FMP_LIMIT);
    if (variant === 'restricted' || variant === 'not_entitled') return json(200, FMP_RESTRICTED);
    return json(200, FMP_BAD_KEY);
  },
  echo: (cred, status) => json(status, { 'Error Message': `Invalid API KEY ${cred}.` }),
};

function fredXML(code, message) {
  return text(code, `<?xml version="1.0" encoding="utf-8" ?>\n<error code="${code}" message="${message}"/>\n`, {}, 'text/xml; charset=UTF-8');
}
P.fred = {
  cred(req) { return req.query.api_key || ''; },
  auth(req) {
    const k = this.cred(req);
    const asJSON = req.query.file_type === 'json';
    const reply = (msg) => (asJSON ? json(400, { error_code: 400, error_message: msg }) : fredXML(400, msg));
    if (!k) return reply('Bad Request.  Variable api_key is not set.  Read https://fred.stlouisfed.org/docs/api/api_key.html for more information.');
    if (isInvalid(k)) return reply('Bad Request.  The value for variable api_key is not registered.  Read https://fred.stlouisfed.org/docs/api/api_key.html for more information.');
    return null;
  },
  routes: [
    ['GET', /^\/fred\/series$/, (req) => {
      const id = req.query.series_id;
      const asJSON = req.query.file_type === 'json';
      if (!id) return asJSON ? json(400, { error_code: 400, error_message: 'Bad Request.  Variable series_id is not set.' }) : fredXML(400, 'Bad Request.  Variable series_id is not set.');
      const today = new Date(simNow()).toISOString().slice(0, 10);
      const s = { id, realtime_start: today, realtime_end: today, title: id === 'GNPCA' ? 'Real Gross National Product' : `Series ${id}`,
        observation_start: '1929-01-01', observation_end: '2024-01-01', frequency: 'Annual', frequency_short: 'A',
        units: 'Billions of Chained 2017 Dollars', units_short: 'Bil. of Chn. 2017 $', seasonal_adjustment: 'Not Seasonally Adjusted',
        seasonal_adjustment_short: 'NSA', last_updated: '2025-03-27 07:56:07-05', popularity: 14, notes: 'BEA Account Code: A001RX' };
      if (!asJSON) {
        return text(200, `<?xml version="1.0" encoding="utf-8" ?>\n<seriess realtime_start="${today}" realtime_end="${today}">\n  <series id="${id}" title="${s.title}" frequency="Annual"/>\n</seriess>\n`, {}, 'text/xml; charset=UTF-8');
      }
      return json(200, { realtime_start: today, realtime_end: today, seriess: [s] });
    }],
  ],
  errorFor(status) {
    if (status === 429) return this.rateLimit();
    if (status === 400) return json(400, { error_code: 400, error_message: 'Bad Request.  The value for variable api_key is not registered.  Read https://fred.stlouisfed.org/docs/api/api_key.html for more information.' });
    return json(status, { error_code: status, error_message: status >= 500 ? 'Internal Server Error' : `Simulated HTTP ${status}` });
  },
  notEntitled: () => json(403, { error_code: 403, error_message: 'Forbidden.  This series is not available to your account.' }),
  rateLimit: () => json(429, { error_code: 429, error_message: 'Too Many Requests.  Exceeded Rate Limit' }, RETRY),
  echo: (cred, status) => json(status, { error_code: status, error_message: `Bad Request.  The value for variable api_key (${cred}) is not registered.` }),
};

// -- Ironbeam renderings of the book (OpenAPI "IronbeamAPI 2.1": Order, OrderFill, Position)
const IB_STATUS = { WORKING: 'NEW', PARTIALLY_FILLED: 'PARTIALLY_FILLED', FILLED: 'FILLED', CANCELLED: 'CANCELLED', REJECTED: 'REJECTED', EXPIRED: 'EXPIRED' };
const IB_STATUSES = ['ANY', 'INVALID', 'SUBMITTED', 'NEW', 'PARTIALLY_FILLED', 'FILLED', 'DONE_FOR_DAY', 'CANCELLED', 'REPLACED',
  'PENDING_CANCEL', 'STOPPED', 'REJECTED', 'SUSPENDED', 'PENDING_NEW', 'CALCULATED', 'EXPIRED', 'ACCEPTED_FOR_BIDDING',
  'PENDING_REPLACE', 'CANCEL_REJECTED', 'ORDER_NOT_FOUND', 'QUEUED_NEW', 'QUEUED_CANCEL', 'COMPLETE'];
const IB_TYPE_CODE = { MARKET: '1', LIMIT: '2', STOP: '3', STOP_LIMIT: '4' };
const IB_TYPE_OF = { 1: 'MARKET', 2: 'LIMIT', 3: 'STOP', 4: 'STOP_LIMIT' };
function ibOrder(o) {
  const r = { orderId: o.id, strategyId: o.strategyId, accountId: o.account, exchSym: o.symbol, status: IB_STATUS[o.status],
    side: o.side, quantity: o.qty };
  if (Number.isFinite(o.limitPrice)) r.limitPrice = o.limitPrice;
  if (Number.isFinite(o.stopPrice)) r.stopPrice = o.stopPrice;
  Object.assign(r, { orderType: IB_TYPE_CODE[o.type], duration: o.tif, fillQuantity: o.filled, fillPrice: o.filled ? o.avg : 0 });
  const last = o.filled ? state.book.fills.filter((f) => f.order === o).pop() : null;
  if (last) r.fillDate = isoAt(last.ts);
  r.childOrders = [];
  if (o.status === 'REJECTED') r.orderError = { errorCode: 1, errorText: o.rejectText || 'Rejected' };
  return r;
}
function ibFill(f) {
  const o = f.order;
  return { orderId: o.id, strategyId: o.strategyId, accountId: o.account, exchSym: o.symbol, status: IB_STATUS[f.statusAfter],
    side: o.side, quantity: o.qty, price: f.price, fillQuantity: f.qty, fillTotalQuantity: f.cumQty, fillPrice: f.price,
    avgFillPrice: f.cumAvg, fillDate: isoAt(f.ts), timeOrderEvent: f.ts, orderUpdateId: `${f.id}-${f.cumQty}` };
}
function ibPosition(p) {
  const d = new Date(p.opened);
  const ymd = `${d.getUTCFullYear()}${String(d.getUTCMonth() + 1).padStart(2, '0')}${String(d.getUTCDate()).padStart(2, '0')}`;
  return { accountId: p.account, currencyCode: 'USD', exchSym: p.symbol, positionId: `${p.id}-${Math.abs(p.qty)}`,
    quantity: Math.abs(p.qty), price: p.avg, dateOpened: ymd, side: p.qty > 0 ? 'LONG' : 'SHORT', unrealizedPL: 0 };
}
const IB_UNAUTH = () => json(401, { error: 'Unauthorized', status: 'ERROR' });
const ibErr = (status, message, error) => json(status, { status: 'ERROR', message, error });
// The session of a per-account route and its account (the path's accountId must be the trader's), or the refusal.
function ibAccountRoute(req, m) {
  const s = ironbeamSession(req);
  if (!s) return { ans: IB_UNAUTH() };
  const account = decodeURIComponent(m[1]);
  if (account !== s.username) return { ans: ibErr(403, 'Forbidden', 'Account is not accessible') };
  return { account };
}
const ibOrdersOf = (account) => state.book.orders.filter((o) => o.provider === 'ironbeam' && o.account === account);

P.ironbeam = {
  cred(req) {
    if (req.path.endsWith('/auth')) {
      const b = bodyParams(req);
      return [b.username, b.password, b.apiKey !== undefined ? b.apiKey : b.apikey].filter((x) => x !== undefined).join(' ');
    }
    return bearer(req) || req.query.token || '';
  },
  auth: () => null,  // per route
  routes: [
    ['POST', /^\/v2\/auth$/, (req) => {
      const b = bodyParams(req);
      const key = b.apiKey !== undefined ? b.apiKey : b.apikey;
      if (!b.username || !b.password) return json(401, { status: 'ERROR', message: 'Unauthorized', error: 'Missing username or password' });
      if (!key) return json(401, { status: 'ERROR', message: 'Unauthorized', error: 'Missing api key' });
      if (isInvalid(b.username) || isInvalid(b.password) || isInvalid(key)) {
        return json(401, { status: 'ERROR', message: 'Unauthorized', error: 'Invalid username, password or api key' });
      }
      const token = 'eyJhbGciOiJIUzI1NiJ9.' + Buffer.from(JSON.stringify({ sub: hex(6), iat: nowS() })).toString('base64url') + '.' + hex(16);
      state.ironbeamTokens.set(token, { username: String(b.username) });
      noteAccount('ironbeam', String(b.username));
      return json(200, { status: 'OK', message: 'OK', token });
    }],
    ['GET', /^\/v2\/info\/trader$/, (req) => {
      const s = ironbeamSession(req);
      if (!s) return json(401, { error: 'Unauthorized', status: 'ERROR' });
      return json(200, { status: 'OK', message: 'OK', accounts: [s.username], isLive: !!state.config.ironbeam_live, traderId: s.username });
    }],
    // Order shape per the reference (§7): {accountId, exchSym, side BUY|SELL, quantity, orderType, duration, waitForOrderId}.
    ['POST', /^\/v2\/order\/([^/]+)\/place$/, (req, m) => {
      const s = ironbeamSession(req);
      if (!s) return json(401, { error: 'Unauthorized', status: 'ERROR' });
      const b = parseJSON(req.body || '');
      const account = decodeURIComponent(m[1]);
      if (!b || typeof b !== 'object') return json(400, { status: 'ERROR', message: 'Error', error: 'Invalid request body' });
      if (account !== s.username || String(b.accountId) !== account) return json(403, { status: 'ERROR', message: 'Forbidden', error: 'Account is not accessible' });
      if (!b.exchSym || !['BUY', 'SELL'].includes(b.side) || !(Number(b.quantity) > 0) || !['1', '2', '3', '4'].includes(String(b.orderType))) {
        return json(400, { status: 'ERROR', message: 'Error', error: 'Invalid order: exchSym, side BUY|SELL, quantity > 0 and orderType are required' });
      }
      const ord = placeBrokerOrder({ provider: 'ironbeam', account, symbol: String(b.exchSym), side: b.side, qty: Number(b.quantity),
        type: IB_TYPE_OF[String(b.orderType)], limitPrice: b.limitPrice !== undefined ? Number(b.limitPrice) : undefined,
        stopPrice: b.stopPrice !== undefined ? Number(b.stopPrice) : undefined, tif: String(b.duration !== undefined ? b.duration : '0') });
      return json(200, { status: 'OK', message: 'OK', orderId: ord.id, strategyId: ord.strategyId });
    }],
    // Order fills of the account (OrdersFillsResponse): one OrderFill per execution.
    ['GET', /^\/v2\/order\/([^/]+)\/fills$/, (req, m) => {
      const a = ibAccountRoute(req, m);
      if (a.ans) return a.ans;
      const fills = state.book.fills.filter((f) => f.provider === 'ironbeam' && f.account === a.account).map(ibFill);
      return json(200, { status: 'OK', message: 'OK', fills });
    }],
    // Cancel (OrdersResponse with the cancelled order); an unknown or final order is a 400 error body.
    ['DELETE', /^\/v2\/order\/([^/]+)\/cancel\/([^/]+)$/, (req, m) => {
      const a = ibAccountRoute(req, m);
      if (a.ans) return a.ans;
      const o = findBrokerOrder('ironbeam', decodeURIComponent(m[2]));
      if (!o || o.account !== a.account) return ibErr(400, 'Error', `Order not found: ${decodeURIComponent(m[2])}`);
      if (FINAL.has(o.status)) return ibErr(400, 'Error', `Order cannot be cancelled: status ${IB_STATUS[o.status]}`);
      cancelBrokerOrder(o);
      return json(200, { status: 'OK', message: 'OK', orders: [ibOrder(o)] });
    }],
    // Update (OrderUpdateRequest {orderId, quantity, limitPrice?, stopPrice?} → OrdersResponse with the order).
    ['PUT', /^\/v2\/order\/([^/]+)\/update\/([^/]+)$/, (req, m) => {
      const a = ibAccountRoute(req, m);
      if (a.ans) return a.ans;
      const id = decodeURIComponent(m[2]);
      const b = parseJSON(req.body || '');
      if (!b || typeof b !== 'object') return ibErr(400, 'Error', 'Invalid request body');
      if (b.orderId !== undefined && String(b.orderId) !== id) return ibErr(400, 'Error', 'orderId in the body does not match the path');
      const q = Number(b.quantity);
      if (!Number.isInteger(q) || q <= 0) return ibErr(400, 'Error', 'Bad Request - quantity must be a positive integer');
      const o = findBrokerOrder('ironbeam', id);
      if (!o || o.account !== a.account) return ibErr(400, 'Error', `Order not found: ${id}`);
      if (FINAL.has(o.status)) return ibErr(400, 'Error', `Order cannot be updated: status ${IB_STATUS[o.status]}`);
      if (q < o.filled) return ibErr(400, 'Error', `Quantity ${q} is below the filled quantity ${o.filled}`);
      const fields = {};
      if (b.limitPrice !== undefined) fields.limitPrice = Number(b.limitPrice);
      if (b.stopPrice !== undefined) fields.stopPrice = Number(b.stopPrice);
      modifyBrokerOrder(o, q, fields);
      return json(200, { status: 'OK', message: 'OK', orders: [ibOrder(o)] });
    }],
    // Orders of the account by status (ANY = all): OrdersResponse.
    ['GET', /^\/v2\/order\/([^/]+)\/([^/]+)$/, (req, m) => {
      const a = ibAccountRoute(req, m);
      if (a.ans) return a.ans;
      const st = decodeURIComponent(m[2]).toUpperCase();
      if (!IB_STATUSES.includes(st)) return ibErr(400, 'Error', `Bad Request - invalid order status ${decodeURIComponent(m[2])}`);
      const orders = ibOrdersOf(a.account).map(ibOrder).filter((o) => st === 'ANY' || o.status === st);
      return json(200, { status: 'OK', message: 'OK', orders });
    }],
    // Positions of the account (PositionsResponse: Response + {accountId, positions}); flat positions are left out.
    ['GET', /^\/v2\/account\/([^/]+)\/positions$/, (req, m) => {
      const a = ibAccountRoute(req, m);
      if (a.ans) return a.ans;
      const positions = [...state.book.positions.values()]
        .filter((p) => p.provider === 'ironbeam' && p.account === a.account && p.qty !== 0).map(ibPosition);
      return json(200, { status: 'OK', message: 'OK', accountId: a.account, positions });
    }],
    ['POST', /^\/v2\/logout$/, (req) => {
      const t = bearer(req) || req.query.token;
      if (!t || !state.ironbeamTokens.has(t)) return json(401, { error: 'Unauthorized', status: 'ERROR' });
      state.ironbeamTokens.delete(t);
      return json(200, { status: 'OK', message: 'OK' });
    }],
  ],
  errorFor(status) {
    if (status === 401) return json(401, { status: 'ERROR', message: 'Unauthorized', error: 'Invalid username, password or api key' });
    if (status === 403) return this.notEntitled();
    if (status === 429) return this.rateLimit();
    return json(status, { status: 'ERROR', message: status >= 500 ? 'Internal Server Error' : 'Error', error: `Simulated HTTP ${status}` });
  },
  notEntitled: () => json(403, { status: 'ERROR', message: 'Forbidden', error: 'API access is not enabled for this account' }),
  rateLimit: () => json(429, { status: 'ERROR', message: 'Too Many Requests', error: 'Too Many Requests' }, RETRY),
  error200: () => json(200, { status: 'ERROR', message: 'Error', error: 'Invalid username or password' }),
  echo: (cred, status) => json(status, { status: 'ERROR', message: 'Unauthorized', error: `Invalid credentials: ${cred}` }),
};
function ironbeamSession(req) {
  const t = bearer(req) || req.query.token;
  return t ? state.ironbeamTokens.get(t) : undefined;
}

// -- Tradovate renderings of the book (Order, OrderVersion, Fill, Position, Contract of the REST API docs)
const TV_STATUS = { WORKING: 'Working', PARTIALLY_FILLED: 'Working', FILLED: 'Filled', CANCELLED: 'Canceled', REJECTED: 'Rejected', EXPIRED: 'Expired' };
const TV_TYPE_OF = { Market: 'MARKET', Limit: 'LIMIT', Stop: 'STOP', StopLimit: 'STOP_LIMIT' };
const TV_TYPES = ['Limit', 'MIT', 'Market', 'QTS', 'Stop', 'StopLimit', 'TrailingStop', 'TrailingStopLimit'];
const tvAction = (side) => (side === 'BUY' ? 'Buy' : 'Sell');
function tvOrder(o) {
  return { id: Number(o.id), accountId: Number(o.account), contractId: tvContractId(o.symbol), timestamp: isoAt(o.created),
    action: tvAction(o.side), ordStatus: TV_STATUS[o.status], executionProviderId: 1, admin: false };
}
function tvOrderVersion(o) {
  const r = { id: o.versionId, orderId: Number(o.id), orderQty: o.qty, orderType: o.tvType };
  if (Number.isFinite(o.limitPrice)) r.price = o.limitPrice;
  if (Number.isFinite(o.stopPrice)) r.stopPrice = o.stopPrice;
  if (o.tif) r.timeInForce = o.tif;
  return r;
}
function tvFill(f) {
  return { id: f.id, orderId: Number(f.order.id), contractId: tvContractId(f.order.symbol), timestamp: isoAt(f.ts),
    tradeDate: tvTradeDate(f.ts), action: tvAction(f.order.side), qty: f.qty, price: f.price, active: true, finallyPaired: 0 };
}
function tvPosition(p) {
  const r = { id: p.id, accountId: Number(p.account), contractId: tvContractId(p.symbol), timestamp: isoAt(p.updated),
    tradeDate: tvTradeDate(p.updated), netPos: p.qty };
  if (p.qty !== 0) r.netPrice = p.avg;
  return Object.assign(r, { bought: p.bought, boughtValue: Number(p.boughtValue.toFixed(9)), sold: p.sold,
    soldValue: Number(p.soldValue.toFixed(9)), prevPos: 0 });
}
const TV_UNAUTH = () => text(401, 'Access is denied');
function tvSession(req) {
  const t = bearer(req);
  return (t && state.tradovateTokens.get(t)) || null;
}
const tvAccountOf = (s) => 200000 + (s.userId % 100000);
const tvOrdersOf = (s) => state.book.orders.filter((o) => o.provider === 'tradovate' && o.account === String(tvAccountOf(s)));
const tvCommandId = () => ++state.book.seq + 600000000;

const TV_BAD = { errorText: 'Incorrect username or password. Please try again, noting that passwords are case-sensitive.' };
const tvLockout = () => ({ 'p-ticket': hex(24), 'p-time': 3600, 'p-captcha': true });
P.tradovate = {
  cred(req) {
    if (req.path.endsWith('/accesstokenrequest')) {
      const b = bodyParams(req);
      return ['name', 'password', 'appId', 'cid', 'sec', 'deviceId'].map((k) => b[k]).filter((x) => x !== undefined).join(' ');
    }
    return bearer(req) || '';
  },
  auth: () => null,
  routes: [
    ['POST', /^\/v1\/auth\/accesstokenrequest$/, (req) => {
      const b = parseJSON(req.body || '');
      if (!b || typeof b !== 'object') return json(400, { errorText: 'Invalid request body' });
      const missing = ['name', 'password', 'appId', 'appVersion', 'cid', 'sec'].filter((k) => b[k] === undefined || b[k] === null || b[k] === '');
      if (missing.length) return json(200, { errorText: `Missing required field(s): ${missing.join(', ')}` });
      if (['name', 'password', 'appId', 'appVersion', 'cid', 'sec', 'deviceId'].some((k) => isInvalid(b[k]))) return json(200, TV_BAD);
      const accessToken = hex(32), userId = 100000 + (fnv('tv:' + b.name) % 900000);
      state.tradovateTokens.set(accessToken, { name: String(b.name), userId });
      noteAccount('tradovate', 200000 + (userId % 100000));
      return json(200, {
        accessToken, mdAccessToken: hex(32), expirationTime: new Date(simNow() + 90 * 60000).toISOString(),
        userStatus: 'Active', userId, name: String(b.name), hasLive: !!state.config.tradovate_has_live,
      });
    }],
    ['GET', /^\/v1\/auth\/me$/, (req) => {
      const t = bearer(req);
      const s = t && state.tradovateTokens.get(t);
      if (!s) return text(401, 'Access is denied');
      return json(200, { userId: s.userId, name: s.name, fullName: 'Sim Trader', email: 'sim-trader@example.com', emailVerified: true, isTrial: false });
    }],
    ['GET', /^\/v1\/account\/list$/, (req) => {
      const t = bearer(req);
      const s = t && state.tradovateTokens.get(t);
      if (!s) return text(401, 'Access is denied');
      return json(200, [{ id: 200000 + (s.userId % 100000), name: 'DEMO' + s.userId, userId: s.userId, accountType: 'Customer', active: true,
        clearingHouseId: 2, riskCategoryId: 2, autoLiqProfileId: 2, marginAccountType: 'Speculator', legalStatus: 'Individual', archived: false }]);
    }],
    // Order shape per the reference (§8): {accountSpec, accountId, action Buy|Sell, symbol, orderQty, orderType, timeInForce, isAutomated}.
    ['POST', /^\/v1\/order\/placeorder$/, (req) => {
      const t = bearer(req);
      const s = t && state.tradovateTokens.get(t);
      if (!s) return text(401, 'Access is denied');
      const b = parseJSON(req.body || '');
      if (!b || typeof b !== 'object') return json(200, { failureReason: 'UnknownReason', failureText: 'Invalid request body' });
      const accountId = 200000 + (s.userId % 100000);
      if (Number(b.accountId) !== accountId || b.accountSpec !== 'DEMO' + s.userId) return json(200, { failureReason: 'AccountClosed', failureText: 'Unknown account' });
      if (!b.symbol || !['Buy', 'Sell'].includes(b.action) || !(Number(b.orderQty) > 0) || !b.orderType) {
        return json(200, { failureReason: 'UnknownReason', failureText: 'Invalid order: symbol, action Buy|Sell, orderQty > 0 and orderType are required' });
      }
      const ord = placeBrokerOrder({ provider: 'tradovate', account: accountId, symbol: String(b.symbol), side: b.action === 'Buy' ? 'BUY' : 'SELL',
        qty: Number(b.orderQty), type: TV_TYPE_OF[b.orderType] || 'STOP', tvType: String(b.orderType),
        limitPrice: b.price !== undefined ? Number(b.price) : undefined, stopPrice: b.stopPrice !== undefined ? Number(b.stopPrice) : undefined,
        tif: b.timeInForce !== undefined ? String(b.timeInForce) : undefined, versionId: tvCommandId() });
      tvContractId(ord.symbol);
      return json(200, { orderId: Number(ord.id), failureReason: 'Success' });
    }],
    ['GET', /^\/v1\/order\/list$/, (req) => {
      const s = tvSession(req);
      if (!s) return TV_UNAUTH();
      return json(200, tvOrdersOf(s).map(tvOrder));
    }],
    ['GET', /^\/v1\/order\/item$/, (req) => {
      const s = tvSession(req);
      if (!s) return TV_UNAUTH();
      const o = tvOrdersOf(s).find((x) => x.id === String(req.query.id));
      return o ? json(200, tvOrder(o)) : json(404, { errorText: `Order ${req.query.id} not found` });
    }],
    // The order's quantity, type and prices live in its OrderVersion (the latest one is shown).
    ['GET', /^\/v1\/orderVersion\/list$/, (req) => {
      const s = tvSession(req);
      if (!s) return TV_UNAUTH();
      return json(200, tvOrdersOf(s).map(tvOrderVersion));
    }],
    ['GET', /^\/v1\/orderVersion\/deps$/, (req) => {
      const s = tvSession(req);
      if (!s) return TV_UNAUTH();
      return json(200, tvOrdersOf(s).filter((o) => o.id === String(req.query.masterid)).map(tvOrderVersion));
    }],
    ['GET', /^\/v1\/fill\/list$/, (req) => {
      const s = tvSession(req);
      if (!s) return TV_UNAUTH();
      const acct = String(tvAccountOf(s));
      return json(200, state.book.fills.filter((f) => f.provider === 'tradovate' && f.account === acct).map(tvFill));
    }],
    ['GET', /^\/v1\/fill\/deps$/, (req) => {
      const s = tvSession(req);
      if (!s) return TV_UNAUTH();
      const acct = String(tvAccountOf(s));
      return json(200, state.book.fills.filter((f) => f.provider === 'tradovate' && f.account === acct && f.order.id === String(req.query.masterid)).map(tvFill));
    }],
    // Positions of the user's accounts; a position that went flat stays listed with netPos 0 (no netPrice).
    ['GET', /^\/v1\/position\/list$/, (req) => {
      const s = tvSession(req);
      if (!s) return TV_UNAUTH();
      const acct = String(tvAccountOf(s));
      return json(200, [...state.book.positions.values()].filter((p) => p.provider === 'tradovate' && p.account === acct).map(tvPosition));
    }],
    // Any name is a contract; its id is stable (the same contractId as in orders, fills and positions).
    ['GET', /^\/v1\/contract\/find$/, (req) => {
      const s = tvSession(req);
      if (!s) return TV_UNAUTH();
      const name = String(req.query.name || '').toUpperCase();
      if (!/^[A-Z0-9]{2,}$/.test(name)) return json(404, { errorText: `Contract ${req.query.name || ''} not found` });
      const id = tvContractId(name);
      return json(200, { id, name, contractMaturityId: 40000 + (id % 10000), status: 'DefinitionChecked', providerTickSize: brokerSpec(name).tick });
    }],
    ['GET', /^\/v1\/contract\/item$/, (req) => {
      const s = tvSession(req);
      if (!s) return TV_UNAUTH();
      const id = Number(req.query.id);
      const name = tvContracts.get(id);
      if (!name) return json(404, { errorText: `Contract ${req.query.id} not found` });
      return json(200, { id, name, contractMaturityId: 40000 + (id % 10000), status: 'DefinitionChecked', providerTickSize: brokerSpec(name).tick });
    }],
    // Cancel / modify answer a CommandResult: {commandId} on success (the simulator adds orderId), else
    // {failureReason, failureText}: UnknownReason for an unknown order, TooLate for a final one.
    ['POST', /^\/v1\/order\/cancelorder$/, (req) => {
      const s = tvSession(req);
      if (!s) return TV_UNAUTH();
      const b = parseJSON(req.body || '');
      if (!b || typeof b !== 'object' || b.orderId === undefined) return json(200, { failureReason: 'UnknownReason', failureText: 'orderId is required' });
      const o = tvOrdersOf(s).find((x) => x.id === String(b.orderId));
      if (!o) return json(200, { failureReason: 'UnknownReason', failureText: `Order ${b.orderId} not found` });
      if (FINAL.has(o.status)) return json(200, { failureReason: 'TooLate', failureText: `Order ${b.orderId} is already ${TV_STATUS[o.status]}` });
      cancelBrokerOrder(o);
      return json(200, { commandId: tvCommandId(), orderId: Number(o.id) });
    }],
    ['POST', /^\/v1\/order\/modifyorder$/, (req) => {
      const s = tvSession(req);
      if (!s) return TV_UNAUTH();
      const b = parseJSON(req.body || '');
      if (!b || typeof b !== 'object' || b.orderId === undefined) return json(200, { failureReason: 'UnknownReason', failureText: 'orderId is required' });
      const q = Number(b.orderQty);
      if (!Number.isInteger(q) || q <= 0 || !TV_TYPES.includes(b.orderType)) {
        return json(200, { failureReason: 'UnknownReason', failureText: 'Invalid modify: orderQty > 0 and orderType are required' });
      }
      const o = tvOrdersOf(s).find((x) => x.id === String(b.orderId));
      if (!o) return json(200, { failureReason: 'UnknownReason', failureText: `Order ${b.orderId} not found` });
      if (FINAL.has(o.status)) return json(200, { failureReason: 'TooLate', failureText: `Order ${b.orderId} is already ${TV_STATUS[o.status]}` });
      if (q < o.filled) return json(200, { failureReason: 'UnknownReason', failureText: `orderQty ${q} is below the filled quantity ${o.filled}` });
      const fields = { tvType: b.orderType, type: TV_TYPE_OF[b.orderType] || 'STOP', versionId: tvCommandId() };
      if (b.price !== undefined) fields.limitPrice = Number(b.price);
      if (b.stopPrice !== undefined) fields.stopPrice = Number(b.stopPrice);
      if (b.timeInForce !== undefined) fields.tif = String(b.timeInForce);
      modifyBrokerOrder(o, q, fields);
      return json(200, { commandId: fields.versionId, orderId: Number(o.id) });
    }],
  ],
  errorFor(status) {
    if (status === 401) return text(401, 'Access is denied');
    if (status === 429) return this.rateLimit();
    return text(status, status >= 500 ? 'Internal Server Error' : `Simulated HTTP ${status}`);
  },
  notEntitled: () => text(403, 'Access is denied'),
  rateLimit: () => json(429, { 'p-ticket': hex(24), 'p-time': 15 }, RETRY),
  error200: (variant) => json(200, variant === 'lockout' ? tvLockout() : TV_BAD),
  echo: (cred, status) => json(status, { errorText: `Incorrect username or password for ${cred}.` }),
};

P.openai = {
  cred(req) { return bearer(req) || ''; },
  auth(req) {
    const k = bearer(req);
    if (!k) {
      return oaiErr(401, "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username and password. You can obtain an API key from https://platform.openai.com/account/api-keys.", 'invalid_request_error', null);
    }
    if (isInvalid(k)) {
      return oaiErr(401, `Incorrect API key provided: ${maskKey(k, 3)}. You can find your API key at https://platform.openai.com/account/api-keys.`, 'invalid_request_error', 'invalid_api_key');
    }
    const org = req.headers['openai-organization'], proj = req.headers['openai-project'];
    if (isInvalid(org)) return oaiErr(401, 'No such organization: org-' + hex(4) + '.', 'invalid_request_error', 'invalid_organization');
    if (isInvalid(proj)) return oaiErr(401, "OpenAI-Project header should match project for API key", 'invalid_request_error', 'invalid_project');
    return null;
  },
  routes: [
    ['GET', /^\/v1\/models$/, () => json(200, { object: 'list', data: [
      { id: 'gpt-4o-mini', object: 'model', created: 1721172741, owned_by: 'system' },
      { id: 'gpt-4o', object: 'model', created: 1715367049, owned_by: 'system' },
      { id: 'gpt-4.1-mini', object: 'model', created: 1744318173, owned_by: 'system' },
      { id: 'o3-mini', object: 'model', created: 1737146383, owned_by: 'system' },
    ] }, { 'x-request-id': 'req_' + hex(16) })],
    ['POST', /^\/v1\/chat\/completions$/, (req) => chatCompletion(req, 'openai')],
  ],
  errorFor(status) {
    if (status === 401) return oaiErr(401, 'Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.', 'invalid_request_error', 'invalid_api_key');
    if (status === 403) return oaiErr(403, 'You are not allowed to sample from this model', 'invalid_request_error', null);
    if (status === 429) return this.rateLimit();
    if (status === 503) return oaiErr(503, 'The engine is currently overloaded, please try again later.', 'server_error', null);
    if (status >= 500) return oaiErr(status, 'The server had an error while processing your request. Sorry about that!', 'server_error', null);
    return oaiErr(status, `Simulated HTTP ${status}`, 'invalid_request_error', null);
  },
  notEntitled: () => oaiErr(429, 'You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.', 'insufficient_quota', 'insufficient_quota'),
  rateLimit: () => oaiErr(429, 'Rate limit reached for requests. Please try again in 2s.', 'requests', 'rate_limit_exceeded',
    { 'retry-after': '2', 'x-ratelimit-limit-requests': '500', 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '2s' }),
  echo: (cred, status) => oaiErr(status, `Incorrect API key provided: ${cred}.`, 'invalid_request_error', 'invalid_api_key'),
};

P.groq = {
  cred: P.openai.cred,
  auth(req) {
    const k = bearer(req);
    if (!k || isInvalid(k)) return oaiErr(401, 'Invalid API Key', 'invalid_request_error', 'invalid_api_key');
    return null;
  },
  routes: [
    ['GET', /^\/openai\/v1\/models$/, () => json(200, { object: 'list', data: [
      { id: 'llama-3.3-70b-versatile', object: 'model', created: 1733447754, owned_by: 'Meta', active: true, context_window: 131072, public_apps: null },
      { id: 'llama-3.1-8b-instant', object: 'model', created: 1693721698, owned_by: 'Meta', active: true, context_window: 131072, public_apps: null },
    ] })],
    ['POST', /^\/openai\/v1\/chat\/completions$/, (req) => chatCompletion(req, 'groq')],
  ],
  errorFor(status) {
    if (status === 401) return oaiErr(401, 'Invalid API Key', 'invalid_request_error', 'invalid_api_key');
    if (status === 403) return this.notEntitled();
    if (status === 429) return this.rateLimit();
    if (status >= 500) return oaiErr(status, 'Service Unavailable', 'internal_server_error', 'service_unavailable');
    return oaiErr(status, `Simulated HTTP ${status}`, 'invalid_request_error', null);
  },
  notEntitled: () => oaiErr(403, 'Access denied. Please check your network settings.', 'permission_error', 'permission_denied'),
  rateLimit: () => oaiErr(429, 'Rate limit reached for model `llama-3.3-70b-versatile` in organization `org_sim` on requests per minute (RPM): Limit 30, Used 30, Requested 1. Please try again in 2s.', 'requests', 'rate_limit_exceeded', RETRY),
  echo: (cred, status) => oaiErr(status, `Invalid API Key ${cred}`, 'invalid_request_error', 'invalid_api_key'),
};

const antErr = (status, type, message, headers) => json(status, { type: 'error', error: { type, message }, request_id: 'req_' + hex(12) }, headers);
P.anthropic = {
  cred(req) { return req.headers['x-api-key'] || ''; },
  auth(req) {
    const k = req.headers['x-api-key'];
    if (!k) return antErr(401, 'authentication_error', 'x-api-key header is required');
    if (isInvalid(k)) return antErr(401, 'authentication_error', 'invalid x-api-key');
    if (!req.headers['anthropic-version']) return antErr(400, 'invalid_request_error', 'anthropic-version: header is required');
    return null;
  },
  routes: [
    ['GET', /^\/v1\/models$/, () => json(200, { data: [
      { type: 'model', id: 'claude-sonnet-4-20250514', display_name: 'Claude Sonnet 4', created_at: '2025-05-22T00:00:00Z' },
      { type: 'model', id: 'claude-3-5-haiku-20241022', display_name: 'Claude Haiku 3.5', created_at: '2024-10-22T00:00:00Z' },
    ], has_more: false, first_id: 'claude-sonnet-4-20250514', last_id: 'claude-3-5-haiku-20241022' })],
    ['POST', /^\/v1\/messages$/, (req) => {
      const p = bodyParams(req);
      if (!p.model) return antErr(400, 'invalid_request_error', 'model: Field required');
      if (!p.max_tokens) return antErr(400, 'invalid_request_error', 'max_tokens: Field required');
      if (!Array.isArray(p.messages) || !p.messages.length) return antErr(400, 'invalid_request_error', 'messages: Field required');
      const prompt = (typeof p.system === 'string' ? p.system + '\n' : '') + messagesText(p.messages);
      const content = JSON.stringify({ regime: regimeFor(prompt) });
      return json(200, {
        id: 'msg_' + hex(12), type: 'message', role: 'assistant', model: p.model,
        content: [{ type: 'text', text: content }], stop_reason: 'end_turn', stop_sequence: null,
        usage: { input_tokens: approxTokens(prompt) + 8, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: approxTokens(content) + 1 },
      }, { 'request-id': 'req_' + hex(12) });
    }],
  ],
  errorFor(status) {
    if (status === 401) return antErr(401, 'authentication_error', 'invalid x-api-key');
    if (status === 403) return this.notEntitled();
    if (status === 429) return this.rateLimit();
    if (status === 529 || status === 503) return antErr(status, 'overloaded_error', 'Overloaded');
    if (status >= 500) return antErr(status, 'api_error', 'Internal server error');
    return antErr(status, 'invalid_request_error', `Simulated HTTP ${status}`);
  },
  notEntitled: () => antErr(403, 'permission_error', 'Your API key does not have permission to use the specified resource.'),
  rateLimit: () => antErr(429, 'rate_limit_error', 'Number of requests has exceeded your per-minute rate limit.', {
    'retry-after': '2', 'anthropic-ratelimit-requests-limit': '50', 'anthropic-ratelimit-requests-remaining': '0',
    'anthropic-ratelimit-requests-reset': new Date(Date.now() + 2000).toISOString() }),
  echo: (cred, status) => antErr(status, 'authentication_error', `invalid x-api-key ${cred}`),
};

const gErr = (code, status, message, details, headers) => json(code, { error: Object.assign({ code, message, status }, details ? { details } : {}) }, headers);
P.google_gemini = {
  cred(req) { return req.headers['x-goog-api-key'] || req.query.key || ''; },
  auth(req) {
    const k = this.cred(req);
    if (!k) return gErr(403, 'PERMISSION_DENIED', "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.");
    if (isInvalid(k)) {
      return gErr(400, 'INVALID_ARGUMENT', 'API key not valid. Please pass a valid API key.', [
        { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID', domain: 'googleapis.com', metadata: { service: 'generativelanguage.googleapis.com' } },
        { '@type': 'type.googleapis.com/google.rpc.LocalizedMessage', locale: 'en-US', message: 'API key not valid. Please pass a valid API key.' },
      ]);
    }
    return null;
  },
  routes: [
    ['GET', /^\/v1beta\/models$/, (req) => {
      const all = [
        { name: 'models/gemini-2.0-flash', version: '2.0', displayName: 'Gemini 2.0 Flash', inputTokenLimit: 1048576, outputTokenLimit: 8192, supportedGenerationMethods: ['generateContent', 'countTokens'] },
        { name: 'models/gemini-1.5-flash', version: '001', displayName: 'Gemini 1.5 Flash', inputTokenLimit: 1000000, outputTokenLimit: 8192, supportedGenerationMethods: ['generateContent', 'countTokens'] },
        { name: 'models/gemini-1.5-pro', version: '001', displayName: 'Gemini 1.5 Pro', inputTokenLimit: 2000000, outputTokenLimit: 8192, supportedGenerationMethods: ['generateContent', 'countTokens'] },
      ];
      const size = Math.max(1, parseInt(req.query.pageSize || '50', 10) || 50);
      const out = { models: all.slice(0, size) };
      if (size < all.length) out.nextPageToken = Buffer.from('page:' + size).toString('base64');
      return json(200, out);
    }],
    ['POST', /^\/v1beta\/models\/([^/:]+):generateContent$/, (req, m) => {
      const p = bodyParams(req);
      if (!Array.isArray(p.contents) || !p.contents.length) return gErr(400, 'INVALID_ARGUMENT', '* GenerateContentRequest.contents: contents is not specified');
      const prompt = messagesText(p.contents);
      const content = JSON.stringify({ regime: regimeFor(prompt) });
      const pt = approxTokens(prompt), ct = approxTokens(content);
      return json(200, {
        candidates: [{ content: { parts: [{ text: content }], role: 'model' }, finishReason: 'STOP', index: 0 }],
        usageMetadata: { promptTokenCount: pt, candidatesTokenCount: ct, totalTokenCount: pt + ct },
        modelVersion: m[1], responseId: hex(10),
      });
    }],
  ],
  errorFor(status) {
    if (status === 400) return gErr(400, 'INVALID_ARGUMENT', 'Request contains an invalid argument.');
    if (status === 401) return gErr(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials.');
    if (status === 403) return this.notEntitled();
    if (status === 429) return this.rateLimit();
    if (status === 503) return gErr(503, 'UNAVAILABLE', 'The model is overloaded. Please try again later.');
    if (status >= 500) return gErr(status, 'INTERNAL', 'An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting');
    return gErr(status, 'FAILED_PRECONDITION', `Simulated HTTP ${status}`);
  },
  notEntitled: () => gErr(403, 'PERMISSION_DENIED', 'Generative Language API has not been used in project 123456789 before or it is disabled. Enable it by visiting https://console.developers.google.com/apis/api/generativelanguage.googleapis.com/overview?project=123456789 then retry.', [
    { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'SERVICE_DISABLED', domain: 'googleapis.com', metadata: { service: 'generativelanguage.googleapis.com', consumer: 'projects/123456789' } },
  ]),
  rateLimit: () => gErr(429, 'RESOURCE_EXHAUSTED', 'Resource has been exhausted (e.g. check quota).', null, RETRY),
  echo: (cred, status) => gErr(status, 'INVALID_ARGUMENT', `API key not valid: ${cred}`),
};

const xaiErr = (status, code, error, headers) => json(status, { code, error }, headers);
function xaiKeyInfo(k, over) {
  return Object.assign({
    redacted_api_key: k.slice(0, 4) + '...' + k.slice(-4), user_id: uuid(), name: 'gatehouse sim key',
    create_time: '2025-01-01T00:00:00Z', modify_time: '2025-01-01T00:00:00Z', modified_by: uuid(), team_id: uuid(),
    acls: ['api-key:model:*', 'api-key:endpoint:*'], api_key_id: uuid(), team_blocked: false, api_key_blocked: false, api_key_disabled: false,
  }, over || {});
}
P.xai = {
  cred: P.openai.cred,
  auth(req) {
    const k = bearer(req);
    if (!k || isInvalid(k)) {
      const shown = k ? k.slice(0, 2) + '***' + k.slice(-2) : '';
      return xaiErr(400, 'Client specified an invalid argument', `Incorrect API key provided: ${shown}. You can obtain an API key from https://console.x.ai.`);
    }
    return null;
  },
  routes: [
    ['GET', /^\/v1\/api-key$/, (req) => json(200, xaiKeyInfo(bearer(req)))],
    ['GET', /^\/v1\/models$/, () => json(200, { object: 'list', data: [{ id: 'grok-3-mini', object: 'model', created: 1743724800, owned_by: 'xai' }, { id: 'grok-4', object: 'model', created: 1752019200, owned_by: 'xai' }] })],
    ['POST', /^\/v1\/chat\/completions$/, (req) => chatCompletion(req, 'xai')],
  ],
  errorFor(status) {
    if (status === 400) return xaiErr(400, 'Client specified an invalid argument', 'Incorrect API key provided: xa***ey. You can obtain an API key from https://console.x.ai.');
    if (status === 403) return this.notEntitled();
    if (status === 429) return this.rateLimit();
    return xaiErr(status, status >= 500 ? 'Internal error' : 'Error', `Simulated HTTP ${status}`);
  },
  notEntitled: () => xaiErr(403, 'The caller does not have permission to execute the specified operation', 'Your newly created team doesn\'t have any credits yet. You can purchase credits on https://console.x.ai.'),
  rateLimit: () => xaiErr(429, 'Too many requests', 'Your team has reached its requests-per-second limit. Please retry later.', RETRY),
  error200(variant, req) {
    const k = bearer(req) || 'xai-unknown';
    if (variant === 'disabled') return json(200, xaiKeyInfo(k, { api_key_disabled: true }));
    if (variant === 'team_blocked') return json(200, xaiKeyInfo(k, { team_blocked: true }));
    if (variant === 'blocked') return json(200, xaiKeyInfo(k, { api_key_blocked: true }));
    return json(200, { code: 'ok', message: 'simulated body without the key description' });
  },
  echo: (cred, status) => xaiErr(status, 'Client specified an invalid argument', `Incorrect API key provided: ${cred}.`),
};

const orErr = (status, message, headers) => json(status, { error: { message, code: status } }, headers);
function orKeyInfo(k, over) {
  return { data: Object.assign({
    label: k.slice(0, 3) + '...' + k.slice(-3), limit: null, limit_remaining: null, limit_reset: null, include_byok_in_limit: false,
    usage: 0.0123, usage_daily: 0.0012, usage_weekly: 0.0045, usage_monthly: 0.0123, byok_usage: 0, byok_usage_daily: 0,
    byok_usage_weekly: 0, byok_usage_monthly: 0, is_free_tier: false, is_provisioning_key: false,
    rate_limit: { requests: -1, interval: '10s', note: 'This field is deprecated and safe to ignore.' },
  }, over || {}) };
}
P.openrouter = {
  cred: P.openai.cred,
  auth(req) {
    if (req.method === 'GET' && req.path === '/api/v1/models') return null;  // public, proves nothing
    const k = bearer(req);
    if (!k) return orErr(401, 'No auth credentials found');
    if (isInvalid(k)) return orErr(401, 'User not found.');
    return null;
  },
  routes: [
    ['GET', /^\/api\/v1\/key$/, (req) => json(200, orKeyInfo(bearer(req)))],
    ['GET', /^\/api\/v1\/auth\/key$/, (req) => json(200, orKeyInfo(bearer(req)))],
    ['GET', /^\/api\/v1\/models$/, () => json(200, { data: [{ id: 'openai/gpt-4o-mini', name: 'OpenAI: GPT-4o-mini', context_length: 128000, pricing: { prompt: '0.00000015', completion: '0.0000006' } }] })],
    ['POST', /^\/api\/v1\/chat\/completions$/, (req) => chatCompletion(req, 'openrouter')],
  ],
  errorFor(status) {
    if (status === 401) return orErr(401, 'User not found.');
    if (status === 402) return this.notEntitled();
    if (status === 429) return this.rateLimit();
    return orErr(status, status >= 500 ? 'Internal Server Error' : `Simulated HTTP ${status}`);
  },
  notEntitled: () => orErr(402, 'Insufficient credits. Add more using https://openrouter.ai/settings/credits'),
  rateLimit: () => orErr(429, 'Rate limit exceeded: free-models-per-min.', RETRY),
  error200(variant, req) {
    if (variant === 'no_credit') return json(200, orKeyInfo(bearer(req) || 'sk-or-v1-x', { limit: 10, limit_remaining: 0, usage: 10 }));
    return json(200, { message: 'simulated body without the key description' });
  },
  echo: (cred, status) => orErr(status, `User not found for key ${cred}.`),
};

P.unusual_whales = {
  cred: P.openai.cred,
  auth(req) {
    const k = bearer(req);
    if (!k || isInvalid(k)) return json(401, { code: 'unauthorized', message: 'Invalid or missing API token. Check the Authorization: Bearer header.' });
    return null;
  },
  routes: [
    ['GET', /^\/api\/stock\/([^/]+)\/info$/, (req, m) => {
      const t = decodeURIComponent(m[1]).toUpperCase();
      const spec = instrumentSpec(t, 'eq');
      return json(200, { data: {
        ticker: t, full_name: `${t} (simulated)`, short_name: t, sector: 'Technology', issue_type: 'Common Stock',
        marketcap: String(Math.round(spec.base * 15e9)), marketcap_size: 'big', avg30_volume: String(spec.vol * 390),
        has_options: true, has_dividend: true, next_earnings_date: '2099-01-30', announce_time: 'postmarket',
      } });
    }],
  ],
  errorFor(status) {
    if (status === 401) return json(401, { code: 'unauthorized', message: 'Invalid or missing API token.' });
    if (status === 403) return this.notEntitled();
    if (status === 429) return this.rateLimit();
    return json(status, { message: status >= 500 ? 'Internal Server Error' : `Simulated HTTP ${status}` });
  },
  notEntitled: () => json(403, { code: 'forbidden', message: 'Your subscription does not include access to this endpoint.' }),
  rateLimit: () => json(429, { code: 'too_many_requests', message: 'You have hit the per-minute request limit. Please retry later.' }, { 'retry-after': '2', 'x-uw-req-per-minute-remaining': '0' }),
  echo: (cred, status) => json(status, { code: 'unauthorized', message: `Invalid API token ${cred}` }),
};

P.discord = {
  cred(req) { return req.path; },
  auth(req) {
    const m = /^\/api\/(?:v\d+\/)?webhooks\/([^/]+)\/([^/]+)$/.exec(req.path);
    if (!m) return json(404, { message: '404: Not Found', code: 0 });
    if (isInvalid(m[1]) || !/^\d+$/.test(m[1])) return json(404, { message: 'Unknown Webhook', code: 10015 });
    if (isInvalid(m[2])) return json(401, { message: 'Invalid Webhook Token', code: 50027 });
    return null;
  },
  routes: [
    // One route for both methods (the router answers 405 at the first path match with another method):
    // GET = the webhook object (what verify reads; posts nothing); POST = execute webhook (recorded like every
    // request): 204, or 200 with the message object when ?wait=true.
    ['GET|POST', /^\/api\/(?:v\d+\/)?webhooks\/(\d+)\/([^/]+)$/, (req, m) => {
      if (req.method === 'GET') {
        return json(200, {
          application_id: null, avatar: null, channel_id: String(BigInt(m[1]) + 1n), guild_id: String(BigInt(m[1]) + 2n),
          id: m[1], name: 'gatehouse alerts', type: 1, token: decodeURIComponent(m[2]),
          url: `https://discord.com/api/webhooks/${m[1]}/${decodeURIComponent(m[2])}`,
        });
      }
      const b = parseJSON(req.body || '');
      if (!b || typeof b !== 'object' || Array.isArray(b)) return json(400, { message: '400: Bad Request', code: 50109 });
      const hasEmbeds = Array.isArray(b.embeds) && b.embeds.length > 0;
      if (!b.content && !hasEmbeds) return json(400, { message: 'Cannot send an empty message', code: 50006 });
      if (typeof b.content === 'string' && b.content.length > 2000) {
        return json(400, { message: 'Invalid Form Body', code: 50035, errors: { content: { _errors: [{ code: 'BASE_TYPE_MAX_LENGTH', message: 'Must be 2000 or fewer in length.' }] } } });
      }
      if (req.query.wait === 'true') {
        return json(200, {
          id: String(BigInt(Date.now()) << 22n), type: 0, content: b.content || '', embeds: hasEmbeds ? b.embeds : [],
          channel_id: String(BigInt(m[1]) + 1n), webhook_id: m[1], timestamp: new Date(simNow()).toISOString(),
        });
      }
      return { status: 204, headers: {}, body: '' };
    }],
  ],
  errorFor(status) {
    if (status === 401) return json(401, { message: 'Invalid Webhook Token', code: 50027 });
    if (status === 404) return json(404, { message: 'Unknown Webhook', code: 10015 });
    if (status === 403) return this.notEntitled();
    if (status === 429) return this.rateLimit();
    if (status >= 500) return text(status, `<html><body>${status} Service Unavailable</body></html>`, {}, 'text/html');
    return json(status, { message: `Simulated HTTP ${status}`, code: 0 });
  },
  notEntitled: () => json(403, { message: 'Missing Access', code: 50001 }),
  rateLimit: () => json(429, { message: 'You are being rate limited.', retry_after: 2.0, global: false },
    { 'retry-after': '2', 'x-ratelimit-limit': '5', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset-after': '2.000', 'x-ratelimit-scope': 'shared' }),
  echo: (cred, status) => json(status, { message: `Invalid Webhook Token for ${cred}`, code: 50027 }),
};

// ------------------------------------------------------------------------------------------------ HTTP server

function send(res, r) {
  if (res.writableEnded || res.destroyed) return;
  const body = Buffer.from(r.body || '', 'utf8');
  const headers = Object.assign({}, r.headers, { 'content-length': String(body.length) });
  res.writeHead(r.status, headers);
  res.end(body);
}

function normalAnswer(p, req) {
  const bad = p.auth(req);
  if (bad) return bad;
  for (const [methods, re, fn] of p.routes) {
    const m = re.exec(req.path);
    if (!m) continue;
    if (!methods.split('|').includes(req.method)) {
      return json(405, { error: `method ${req.method} not allowed on ${req.path}` }, { allow: methods.replace('|', ', ') });
    }
    return fn(req, m);
  }
  return p.errorFor(404);
}

function faultAnswer(p, req, f) {
  switch (f.mode) {
    case 'status': return p.errorFor(f.status || 503);
    case 'not_entitled': return p.notEntitled(req);
    case 'rate_limit': return p.rateLimit(req);
    case 'error200':
      if (p.error200) return p.error200(f.variant, req);
      return json(200, { error: 'simulated error in a 200 body', detail: 'the expected fields are missing' });
    case 'echo': return p.echo(p.cred(req), f.status || 401);
    default: return null;
  }
}

function controlAPI(req, res) {
  const reply = (status, obj) => send(res, json(status, obj));
  const prov = req.query.provider ? (ALIASES[req.query.provider] || req.query.provider) : null;
  if (req.path === '/__sim/health' && req.method === 'GET') {
    return reply(200, { ok: true, providers: PROVIDERS, faults: state.faults.length, requests: state.requests.length });
  }
  if (req.path === '/__sim/faults') {
    if (req.method === 'GET') return reply(200, { faults: state.faults });
    if (req.method === 'DELETE') {
      state.faults = prov ? state.faults.filter((f) => f.provider !== prov) : [];
      return reply(200, { ok: true });
    }
    if (req.method === 'POST') {
      const b = parseJSON(req.body || '');
      const list = Array.isArray(b) ? b : [b];
      const added = [];
      for (const spec of list) {
        if (!spec || typeof spec !== 'object') return reply(400, { error: 'a fault is a JSON object' });
        const provider = ALIASES[spec.provider] || spec.provider;
        if (provider !== '*' && !PROVIDERS.includes(provider)) return reply(400, { error: `unknown provider ${spec.provider}` });
        if (!MODES.includes(spec.mode)) return reply(400, { error: `unknown mode ${spec.mode}; one of ${MODES.join(', ')}` });
        const f = {
          id: ++state.faultSeq, provider, mode: spec.mode,
          status: spec.status !== undefined ? parseInt(spec.status, 10) : undefined,
          delay_ms: spec.delay_ms !== undefined ? Number(spec.delay_ms) : undefined,
          variant: spec.variant, path: spec.path, method: spec.method, message: spec.message,
          size_bytes: spec.size_bytes !== undefined ? Number(spec.size_bytes) : undefined, chunked: !!spec.chunked,
          remaining: spec.count !== undefined && spec.count !== null ? Number(spec.count) : undefined,
        };
        added.push(f);
      }
      state.faults.push(...added);
      return reply(200, { ok: true, ids: added.map((f) => f.id) });
    }
  }
  if (req.path === '/__sim/requests') {
    if (req.method === 'GET') return reply(200, { requests: prov ? state.requests.filter((r) => r.provider === prov) : state.requests });
    if (req.method === 'DELETE') {
      if (prov) state.requests = state.requests.filter((r) => r.provider !== prov);
      else state.requests = [];
      return reply(200, { ok: true });
    }
  }
  if (req.path === '/__sim/config') {
    if (req.method === 'POST') {
      const b = parseJSON(req.body || '') || {};
      if ('now' in b) {
        const at = Date.parse(b.now);
        if (Number.isNaN(at)) return reply(400, { error: 'now must be an ISO 8601 instant such as 2026-12-08T15:00:00Z' });
        state.clockOffsetMs = at - Date.now();
      }
      if ('clock_offset_ms' in b) {
        if (!Number.isFinite(b.clock_offset_ms)) return reply(400, { error: 'clock_offset_ms must be a number' });
        state.clockOffsetMs = b.clock_offset_ms;
      }
      if ('broker_fill_mode' in b && !FILL_MODES.includes(b.broker_fill_mode)) {
        return reply(400, { error: `broker_fill_mode must be one of ${FILL_MODES.join(', ')}` });
      }
      for (const k of Object.keys(DEFAULT_CONFIG())) if (k in b) state.config[k] = b[k];
    }
    if (req.method === 'GET' || req.method === 'POST') {
      return reply(200, { config: state.config, clock: { now: new Date(simNow()).toISOString(), offset_ms: state.clockOffsetMs } });
    }
  }
  if (req.path === '/__sim/reset' && req.method === 'POST') {
    state.faults = []; state.requests = []; state.config = DEFAULT_CONFIG();
    state.ironbeamTokens.clear(); state.tradovateTokens.clear(); state.redisData.clear();
    state.book = newBook();
    return reply(200, { ok: true });
  }
  if (req.path.startsWith('/__sim/broker/')) return brokerControl(req, reply, prov);
  return reply(404, { error: `no control route ${req.method} ${req.path}` });
}

// /__sim/broker/{orders,positions,fill,expire}: the brokers' books (see the header comment).
function brokerControl(req, reply, prov) {
  const BROKERS = ['ironbeam', 'tradovate'];
  if (prov && !BROKERS.includes(prov)) return reply(400, { error: `provider must be one of ${BROKERS.join(', ')}` });
  const b = req.method === 'POST' ? parseJSON(req.body || '') || {} : {};
  const bprov = b.provider !== undefined ? (ALIASES[b.provider] || b.provider) : undefined;
  const needProvider = () => (BROKERS.includes(bprov) ? null : reply(400, { error: `provider must be one of ${BROKERS.join(', ')}` }));
  if (req.path === '/__sim/broker/orders' && req.method === 'GET') {
    return reply(200, { orders: state.book.orders.filter((o) => !prov || o.provider === prov).map(controlOrder) });
  }
  if (req.path === '/__sim/broker/positions' && req.method === 'GET') {
    return reply(200, { positions: [...state.book.positions.values()].filter((p) => !prov || p.provider === prov).map(controlPosition) });
  }
  if (req.path === '/__sim/broker/positions' && req.method === 'POST') {
    const bad = needProvider();
    if (bad) return bad;
    if (!b.symbol || typeof b.symbol !== 'string') return reply(400, { error: 'symbol is required' });
    const qty = Number(b.qty);
    if (!Number.isInteger(qty)) return reply(400, { error: 'qty must be a signed integer' });
    let account = b.account !== undefined && b.account !== null ? String(b.account) : null;
    if (!account) {
      const known = state.book.accounts[bprov].concat(state.book.orders.filter((o) => o.provider === bprov).map((o) => o.account));
      account = known[0] || null;
      if (!account) return reply(400, { error: `no ${bprov} account known yet (log in first, or pass "account")` });
    }
    const avg = b.avg_price !== undefined && b.avg_price !== null ? Number(b.avg_price) : (qty ? referencePrice(b.symbol) : 0);
    if (!Number.isFinite(avg)) return reply(400, { error: 'avg_price must be a number' });
    const p = positionOf(bprov, account, b.symbol, true);
    Object.assign(p, { qty, avg: qty ? avg : 0, bought: Math.max(qty, 0), boughtValue: Math.max(qty, 0) * avg, sold: Math.max(-qty, 0),
      soldValue: Math.max(-qty, 0) * avg, opened: simNow(), updated: simNow() });
    if (bprov === 'tradovate') tvContractId(b.symbol);
    return reply(200, { ok: true, position: controlPosition(p) });
  }
  if ((req.path === '/__sim/broker/fill' || req.path === '/__sim/broker/expire') && req.method === 'POST') {
    const bad = needProvider();
    if (bad) return bad;
    const o = findBrokerOrder(bprov, b.broker_order_id);
    if (!o) return reply(404, { error: `no ${bprov} order ${b.broker_order_id}` });
    if (FINAL.has(o.status)) return reply(409, { error: `order ${o.id} is ${o.status}`, order: controlOrder(o) });
    if (req.path === '/__sim/broker/expire') {
      o.status = 'EXPIRED';
      o.updated = simNow();
      return reply(200, { ok: true, order: controlOrder(o) });
    }
    const remaining = o.qty - o.filled;
    const qty = b.qty !== undefined && b.qty !== null ? Number(b.qty) : remaining;
    if (!Number.isInteger(qty) || qty <= 0 || qty > remaining) return reply(400, { error: `qty must be an integer in 1..${remaining}` });
    const price = b.price !== undefined && b.price !== null ? Number(b.price)
      : (Number.isFinite(o.limitPrice) ? o.limitPrice : referencePrice(o.symbol));
    if (!Number.isFinite(price)) return reply(400, { error: 'price must be a number' });
    applyFill(o, qty, price);
    return reply(200, { ok: true, order: controlOrder(o) });
  }
  return reply(404, { error: `no control route ${req.method} ${req.path}` });
}

function handle(req, res, rawBody) {
  const u = new URL(req.url, 'http://127.0.0.1');
  const query = {};
  for (const [k, v] of u.searchParams) {
    if (k in query) query[k] = [].concat(query[k], v);
    else query[k] = v;
  }
  const r = { method: req.method, url: req.url, headers: req.headers, query, body: rawBody.toString('utf8') };
  if (u.pathname.startsWith('/__sim/')) {
    r.path = u.pathname;
    return controlAPI(r, res);
  }
  const segs = u.pathname.split('/');
  const provider = ALIASES[segs[1]] || segs[1];
  r.path = '/' + segs.slice(2).join('/');
  // SDK-style bases carry the provider's path prefix (/openai/v1, /xai/v1, /openrouter/api/v1): r.path is the
  // provider's own path, e.g. /v1/models.
  const p = P[provider];
  if (!p) {
    log(`${req.method} ${u.pathname} 404 unknown provider`);
    return send(res, json(404, { error: `unknown provider '${segs[1] || ''}'`, providers: PROVIDERS.filter((x) => x !== 'redis') }));
  }
  const f = takeFault(provider, req.method, r.path);
  const entry = record({
    provider, protocol: 'http', method: req.method, path: r.path, raw_path: u.pathname, query, headers: req.headers,
    body: r.body, fault: f ? f.mode : null,
  });
  const finish = (ans) => {
    log(`${provider} ${req.method} ${r.path} ${ans.status}${f ? ' fault=' + f.mode : ''}`);
    send(res, ans);
  };
  let ans;
  try {
    if (!f) return finish(normalAnswer(p, r));
    switch (f.mode) {
      case 'hang':
        log(`${provider} ${req.method} ${r.path} hang`);
        state.hanging.add(res.socket);
        res.socket.on('close', () => state.hanging.delete(res.socket));
        return undefined;
      case 'close':
        log(`${provider} ${req.method} ${r.path} close`);
        return res.socket.destroy();
      case 'latency': {
        const t = setTimeout(() => finish(normalAnswer(p, r)), f.delay_ms !== undefined ? f.delay_ms : 800);
        res.on('close', () => clearTimeout(t));
        return undefined;
      }
      case 'malformed': {
        const base = normalAnswer(p, r);
        let body = base.body || '{"ok":true}';
        body = body.length > 4 ? body.slice(0, Math.max(2, Math.floor(body.length / 2))) : '{"trunc';
        return finish({ status: 200, headers: { 'content-type': 'application/json' }, body });
      }
      case 'drip': {
        const base = normalAnswer(p, r);
        const buf = Buffer.from(base.body || '', 'utf8');
        res.writeHead(base.status, Object.assign({}, base.headers, { 'content-length': String(buf.length) }));
        res.socket.setNoDelay(true);
        let i = 0;
        const every = f.delay_ms !== undefined ? f.delay_ms : 200;
        log(`${provider} ${req.method} ${r.path} ${base.status} drip ${buf.length} bytes every ${every} ms`);
        const timer = setInterval(() => {
          if (res.destroyed || i >= buf.length) {
            clearInterval(timer);
            if (!res.destroyed) res.end();
            return;
          }
          res.write(buf.subarray(i, i + 1));
          i++;
        }, every);
        res.on('close', () => clearInterval(timer));
        return undefined;
      }
      case 'huge':
        return sendHuge(res, entry, f, `${provider} ${req.method} ${r.path}`);
      default:
        ans = faultAnswer(p, r, f);
        return finish(ans || normalAnswer(p, r));
    }
  } catch (e) {
    log(`${provider} ${req.method} ${r.path} sim error: ${e && e.stack}`);
    return send(res, json(500, { error: 'simulator bug: ' + (e && e.message) }));
  }
}

// Streams a ~size_bytes JSON body with backpressure (never more than one 64 KiB chunk buffered), so a client
// that stops reading stalls the stream and one that hangs up ends it; entry.bytes_sent tells how far it got.
function sendHuge(res, entry, f, what) {
  const size = f.size_bytes !== undefined && f.size_bytes > 16 ? Math.floor(f.size_bytes) : 200 * 1024 * 1024;
  const head = Buffer.from('{"data":['), tail = Buffer.from('"end"]}');
  const item = Buffer.from('"' + 'x'.repeat(65536 - 4) + '",');
  const headers = { 'content-type': 'application/json' };
  if (!f.chunked) headers['content-length'] = String(size);
  res.writeHead(200, headers);
  entry.bytes_sent = 0;
  entry.closed_early = false;
  log(`${what} 200 huge ${size} bytes${f.chunked ? ' chunked' : ''}`);
  const write = (buf) => { entry.bytes_sent += buf.length; return res.write(buf); };
  let ok = write(head);
  const pump = () => {
    while (!res.destroyed) {
      const left = size - entry.bytes_sent - tail.length;
      if (left <= 0) { write(tail.subarray(0, Math.max(0, size - entry.bytes_sent))); res.end(); return; }
      const chunk = left >= item.length ? item : Buffer.from(' '.repeat(left));
      ok = write(chunk);
      if (!ok) { res.once('drain', pump); return; }
    }
  };
  res.on('close', () => { if (entry.bytes_sent < size) entry.closed_early = true; });
  if (ok) pump(); else res.once('drain', pump);
  return undefined;
}

const httpServer = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => handle(req, res, Buffer.concat(chunks)));
  req.on('error', () => {});
});
httpServer.requestTimeout = 0;
httpServer.headersTimeout = 60000;
httpServer.keepAliveTimeout = 5000;

// ------------------------------------------------------------------------------------------------ RESP server

function respParse(buf) {
  // → { args, rest } for one complete command, or null when more bytes are needed
  if (buf.length === 0) return null;
  if (buf[0] === 0x2a /* * */) {
    let pos = buf.indexOf('\r\n');
    if (pos < 0) return null;
    const n = parseInt(buf.subarray(1, pos).toString(), 10);
    let off = pos + 2;
    const args = [];
    for (let i = 0; i < n; i++) {
      if (off >= buf.length) return null;
      if (buf[off] !== 0x24 /* $ */) throw new Error('expected bulk string');
      pos = buf.indexOf('\r\n', off);
      if (pos < 0) return null;
      const len = parseInt(buf.subarray(off + 1, pos).toString(), 10);
      if (pos + 2 + len + 2 > buf.length) return null;
      args.push(buf.subarray(pos + 2, pos + 2 + len).toString('utf8'));
      off = pos + 2 + len + 2;
    }
    return { args, rest: buf.subarray(off) };
  }
  const pos = buf.indexOf('\n');
  if (pos < 0) return null;
  const line = buf.subarray(0, pos).toString('utf8').replace(/\r$/, '');
  return { args: line.split(/\s+/).filter(Boolean), rest: buf.subarray(pos + 1) };
}

const bulk = (s) => (s === null || s === undefined ? '$-1\r\n' : `$${Buffer.byteLength(String(s))}\r\n${s}\r\n`);
const int = (n) => `:${n}\r\n`;

function redisGet(db, key) {
  const e = state.redisData.get(`${db}:${key}`);
  if (!e) return undefined;
  if (e.exp && e.exp <= Date.now()) {
    state.redisData.delete(`${db}:${key}`);
    return undefined;
  }
  return e;
}

function redisCommand(conn, args) {
  const cmd = (args[0] || '').toUpperCase();
  const a = args.slice(1);
  const f = conn.fault;
  if (f && f.mode === 'status') return `-ERR ${f.message || 'simulated server failure (status fault)'}\r\n`;
  if (f && f.mode === 'malformed') return 'HTTP/1.1 400 Bad Request\r\n';
  const wrongArgs = () => `-ERR wrong number of arguments for '${cmd.toLowerCase()}' command\r\n`;
  if (cmd === 'AUTH') {
    if (a.length < 1 || a.length > 2) return wrongArgs();
    if (a.some((x) => isInvalid(x)) || a[a.length - 1] === '') return '-WRONGPASS invalid username-password pair or user is disabled.\r\n';
    conn.authed = true;
    return '+OK\r\n';
  }
  if (cmd === 'QUIT') { conn.quit = true; return '+OK\r\n'; }
  if (cmd === 'HELLO') {
    const i = a.findIndex((x) => x.toUpperCase() === 'AUTH');
    if (i >= 0) {
      if (isInvalid(a[i + 1]) || isInvalid(a[i + 2])) return '-WRONGPASS invalid username-password pair or user is disabled.\r\n';
      conn.authed = true;
    } else if (state.config.requirepass && !conn.authed) {
      return '-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\r\n';
    }
    return '*6\r\n' + bulk('server') + bulk('redis') + bulk('version') + bulk('7.2.4') + bulk('proto') + int(2);
  }
  if (state.config.requirepass && !conn.authed) return '-NOAUTH Authentication required.\r\n';
  switch (cmd) {
    case 'PING':
      if (f && f.mode === 'not_entitled') return "-NOPERM User default has no permissions to run the 'ping' command\r\n";
      return a.length ? bulk(a[0]) : '+PONG\r\n';
    case 'ECHO': return a.length === 1 ? bulk(a[0]) : wrongArgs();
    case 'SELECT': {
      const n = parseInt(a[0], 10);
      if (a.length !== 1 || !/^\d+$/.test(a[0])) return '-ERR value is not an integer or out of range\r\n';
      if (n > 15) return '-ERR DB index is out of range\r\n';
      conn.db = n;
      return '+OK\r\n';
    }
    case 'CLIENT': return '+OK\r\n';
    case 'INFO': return bulk('# Server\r\nredis_version:7.2.4\r\nredis_mode:standalone\r\n');
    case 'GET': { const e = redisGet(conn.db, a[0]); return a.length === 1 ? bulk(e ? e.v : null) : wrongArgs(); }
    case 'SET': {
      if (a.length < 2) return wrongArgs();
      let exp = 0, nx = false, xx = false;
      for (let i = 2; i < a.length; i++) {
        const o = a[i].toUpperCase();
        if (o === 'NX') nx = true;
        else if (o === 'XX') xx = true;
        else if (o === 'EX') exp = Date.now() + 1000 * Number(a[++i]);
        else if (o === 'PX') exp = Date.now() + Number(a[++i]);
        else return '-ERR syntax error\r\n';
      }
      const cur = redisGet(conn.db, a[0]);
      if ((nx && cur) || (xx && !cur)) return '$-1\r\n';
      state.redisData.set(`${conn.db}:${a[0]}`, { v: a[1], exp });
      return '+OK\r\n';
    }
    case 'DEL': case 'UNLINK': {
      let n = 0;
      for (const k of a) if (redisGet(conn.db, k) && state.redisData.delete(`${conn.db}:${k}`)) n++;
      return int(n);
    }
    case 'EXISTS': return int(a.filter((k) => redisGet(conn.db, k)).length);
    case 'INCR': case 'INCRBY': case 'DECR': {
      const by = cmd === 'INCRBY' ? parseInt(a[1], 10) : cmd === 'DECR' ? -1 : 1;
      const e = redisGet(conn.db, a[0]);
      const v = (e ? parseInt(e.v, 10) : 0) + by;
      if (Number.isNaN(v)) return '-ERR value is not an integer or out of range\r\n';
      state.redisData.set(`${conn.db}:${a[0]}`, { v: String(v), exp: e ? e.exp : 0 });
      return int(v);
    }
    case 'EXPIRE': case 'PEXPIRE': {
      const e = redisGet(conn.db, a[0]);
      if (!e) return int(0);
      e.exp = Date.now() + Number(a[1]) * (cmd === 'EXPIRE' ? 1000 : 1);
      return int(1);
    }
    case 'TTL': case 'PTTL': {
      const e = redisGet(conn.db, a[0]);
      if (!e) return int(-2);
      if (!e.exp) return int(-1);
      const ms = e.exp - Date.now();
      return int(cmd === 'TTL' ? Math.ceil(ms / 1000) : ms);
    }
    default:
      return `-ERR unknown command '${args[0] || ''}', with args beginning with: ${a.slice(0, 3).map((x) => `'${x}'`).join(' ')}\r\n`;
  }
}

const redisServer = net.createServer((sock) => {
  const conn = { authed: false, db: 0, fault: undefined, buf: Buffer.alloc(0), chain: Promise.resolve(), first: true, quit: false };
  sock.setNoDelay(true);
  sock.on('error', () => {});
  sock.on('data', (d) => {
    conn.buf = Buffer.concat([conn.buf, d]);
    for (;;) {
      let parsed;
      try {
        parsed = respParse(conn.buf);
      } catch (e) {
        sock.end('-ERR Protocol error: ' + e.message + '\r\n');
        return;
      }
      if (!parsed) break;
      conn.buf = parsed.rest;
      const args = parsed.args;
      if (!args.length) continue;
      if (conn.fault === undefined) conn.fault = takeFault('redis', args[0].toUpperCase(), '');
      const f = conn.fault;
      record({ provider: 'redis', protocol: 'resp', method: args[0].toUpperCase(), path: '', query: {}, headers: {},
        args, body: args.join(' '), fault: f ? f.mode : null });
      log(`redis ${args[0].toUpperCase()}${f ? ' fault=' + f.mode : ''}`);
      if (f && f.mode === 'hang') continue;
      if (f && f.mode === 'close') { sock.destroy(); return; }
      const reply = redisCommand(conn, args);
      const quitAfter = conn.quit;
      conn.quit = false;
      const delay = f && f.mode === 'latency' && conn.first ? (f.delay_ms !== undefined ? f.delay_ms : 800) : 0;
      conn.first = false;
      conn.chain = conn.chain.then(() => new Promise((resolve) => {
        const go = () => {
          if (!sock.destroyed && !sock.writableEnded) sock.write(reply);
          if (quitAfter) sock.end();
          resolve();
        };
        if (delay > 0) setTimeout(go, delay); else go();
      }));
    }
  });
});

// ------------------------------------------------------------------------------------------------ start / stop

function shutdown(code) {
  try { httpServer.close(); } catch (_) {}
  try { redisServer.close(); } catch (_) {}
  for (const s of state.hanging) { try { s.destroy(); } catch (_) {} }
  process.exit(code);
}
process.on('SIGTERM', () => shutdown(0));
process.on('SIGINT', () => shutdown(0));
process.on('uncaughtException', (e) => { log('uncaught: ' + (e && e.stack)); });

httpServer.listen(OPT.httpPort, '127.0.0.1', () => {
  redisServer.listen(OPT.redisPort, '127.0.0.1', () => {
    process.stdout.write(JSON.stringify({ http_port: httpServer.address().port, redis_port: redisServer.address().port }) + '\n');
    log(`listening http=${httpServer.address().port} redis=${redisServer.address().port}`);
  });
});
httpServer.on('error', (e) => { process.stderr.write(`sim: http listen: ${e.message}\n`); process.exit(1); });
redisServer.on('error', (e) => { process.stderr.write(`sim: redis listen: ${e.message}\n`); process.exit(1); });

if (OPT.parentPid > 0) {
  setInterval(() => {
    try { process.kill(OPT.parentPid, 0); } catch (_) { shutdown(0); }
  }, 1000).unref();
}
