#!/usr/bin/env node
// openapi.mjs — the source of docs/openapi.json (OpenAPI 3.1), the contract every end-to-end response is
// validated against (spec/support/Gatehouse/OpenAPI.pm). Edit this file, then `make openapi`; spec 90 fails
// when docs/openapi.json is stale or when a route of runtime/main.c is missing here (or the reverse).
//
//   node runtime/tools/openapi.mjs            print the document
//   node runtime/tools/openapi.mjs --write    write docs/openapi.json
//
// Schemas are JSON Schema 2020-12 (OpenAPI 3.1): `type: ["string", "null"]` for nullable fields. Objects stay
// open (extra fields allowed) so that adding a field is not a breaking change; `required` lists what a
// client may rely on.
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ref = (name) => ({ $ref: `#/components/schemas/${name}` });
const str = { type: 'string' };
const nstr = { type: ['string', 'null'] };
const int = { type: 'integer' };
const nint = { type: ['integer', 'null'] };
const num = { type: 'number' };
const nnum = { type: ['number', 'null'] };
const bool = { type: 'boolean' };
const time = { type: 'string', format: 'date-time' };
const ntime = { type: ['string', 'null'], format: 'date-time' };
const obj = (properties = {}, required = []) => ({ type: 'object', properties, required });
const nobj = (properties = {}, required = []) => ({ type: ['object', 'null'], properties, required });
const arr = (items) => ({ type: 'array', items });
const strs = arr(str);
const enumOf = (...values) => ({ type: 'string', enum: values });
const anyObj = { type: 'object' };

// The envelope every JSON response shares, extended with the route's own fields.
const envelope = (properties = {}, required = []) => ({
  allOf: [ref('Envelope'), obj(properties, required)],
});
const list = (plural, item, extra = {}) =>
  envelope({ [plural]: arr(item), next_cursor: nstr, ...extra }, [plural]);

const json = (schema) => ({ 'application/json': { schema } });
const ok = (description, schema, status = '200') => ({ [status]: { description, content: json(schema) } });
const err = (status, description) => ({ [status]: { description, content: json(ref('Error')) } });

// Errors every route can answer (auth, limits, bad input, outages): one shared response object each.
const errorResponses = {
  400: 'INVALID_JSON or VALIDATION_FAILED (field names the field)',
  401: 'UNAUTHENTICATED or TWO_FACTOR_REQUIRED',
  403: 'FORBIDDEN (role or Origin check) or TWO_FACTOR_REQUIRED',
  404: 'NOT_FOUND / UNKNOWN_PROVIDER / unknown bot or job',
  405: 'METHOD_NOT_ALLOWED',
  409: 'a gate refused (blockers[] say why) or a conflicting state',
  413: 'PAYLOAD_TOO_LARGE',
  421: 'MISDIRECTED_REQUEST (the Host is not an allowed host: DNS rebinding protection)',
  431: 'HEADERS_TOO_LARGE (limit_bytes)',
  429: 'RATE_LIMITED (Retry-After)',
  500: 'INTERNAL',
  501: 'NOT_IMPLEMENTED (also an unknown request method)',
  503: 'DB_UNAVAILABLE / POLICY_ERROR / a missing server-side prerequisite',
};
const sharedResponses = Object.fromEntries(
  Object.entries(errorResponses).map(([status, description]) => [`Error${status}`, { description, content: json(ref('Error')) }]),
);
const commonErrors = Object.fromEntries(
  Object.keys(errorResponses).map((status) => [status, { $ref: `#/components/responses/Error${status}` }]),
);

const listParams = [
  { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 500 } },
  { name: 'cursor', in: 'query', schema: str },
];
const windowParams = [
  { name: 'since', in: 'query', schema: time },
  { name: 'until', in: 'query', schema: time },
];
const idParam = { name: 'id', in: 'path', required: true, schema: str };

const schemas = {
  Envelope: obj({ success: bool, trace_id: { type: 'string', pattern: '^[0-9a-f]{32}$' } }, ['success', 'trace_id']),
  Error: {
    allOf: [
      ref('Envelope'),
      obj(
        { success: { const: false }, error_code: str, reason_human: str, suggested_fix: nstr, field: str },
        ['error_code', 'reason_human'],
      ),
    ],
  },
  Blocker: obj(
    {
      code: str,
      severity: enumOf('SEV-1', 'SEV-2'),
      message: str,
      reason_human: str,
      suggested_fix: nstr,
      integration: nstr,
      scope: nstr,
      bot_id: nstr,
      trace_id: nstr,
    },
    ['code', 'severity', 'reason_human'],
  ),
  Latency: obj({ last: nint, p50: nint, p95: nint }),
  Provider: obj(
    {
      id: str,
      label: str,
      category: str,
      configured: bool,
      verified: bool,
      connected: bool,
      in_use: bool,
      state: enumOf('NOT_CONFIGURED', 'CONFIGURED', 'VERIFIED', 'DEGRADED'),
      status: enumOf('OK', 'DEGRADED', 'BLOCKED'),
      required_for_autonomy: bool,
      supports_verify: bool,
      required_env_vars: strs,
      optional_env_vars: strs,
      missing_env_vars: strs,
      masked: { type: 'object', additionalProperties: str },
      base_url_host: nstr,
      base_url_overridden: bool,
      last_verified_at: ntime,
      verify_ttl_s: int,
      last_ok_at: ntime,
      last_used_at: ntime,
      last_used_by_bot_id: nstr,
      last_feature_used: nstr,
      proof_of_use_count_24h: int,
      last_error_code: nstr,
      last_error_code_24h: nstr,
      latency_ms: ref('Latency'),
      error_code: nstr,
      suggested_fix: nstr,
      setup_instructions: str,
      last_trace_id: nstr,
    },
    [
      'id', 'label', 'category', 'configured', 'verified', 'connected', 'in_use', 'state', 'status',
      'required_for_autonomy', 'supports_verify', 'required_env_vars', 'optional_env_vars',
      'missing_env_vars', 'masked', 'base_url_host', 'last_verified_at', 'verify_ttl_s', 'last_used_at',
      'last_used_by_bot_id', 'last_feature_used', 'proof_of_use_count_24h', 'last_error_code',
      'last_error_code_24h', 'latency_ms', 'setup_instructions',
    ],
  ),
  StackEntry: obj(
    {
      providerId: str,
      configured: bool,
      verified: bool,
      connected: bool,
      in_use: bool,
      last_verified_at: ntime,
      last_used_at: ntime,
      proof_24h: int,
      missing_env_vars: strs,
      error_code: nstr,
      suggested_fix: nstr,
    },
    ['providerId', 'configured', 'verified', 'connected', 'in_use', 'proof_24h', 'missing_env_vars'],
  ),
  UsageEvent: obj(
    {
      id: { type: ['string', 'integer'] },
      created_at: time,
      provider_id: str,
      operation: str,
      status: str,
      bot_id: nstr,
      latency_ms: nint,
      error_code: nstr,
      trace_id: nstr,
      metadata: { type: ['object', 'null'] },
    },
    ['created_at', 'operation', 'status'],
  ),
  SystemEvent: obj(
    {
      id: { type: ['string', 'integer'] },
      created_at: time,
      kind: str,
      severity: str,
      subject: nstr,
      message: str,
      trace_id: nstr,
      metadata: { type: ['object', 'null'] },
    },
    ['created_at', 'kind', 'severity', 'message'],
  ),
  Policy: obj(
    { loaded: bool, version: nstr, loaded_at: ntime, files: strs, last_reload_error: nstr, last_reload_at: ntime },
    ['loaded', 'version', 'files'],
  ),
  Bot: obj(
    {
      id: str,
      name: str,
      strategy: str,
      symbol: str,
      timeframe: str,
      stage: enumOf('PAPER', 'SHADOW', 'LIVE'),
      params: anyObj,
      requires_ai: bool,
      desired_state: str,
      created_at: time,
      updated_at: time,
      instance: { type: ['object', 'null'] },
      market: { anyOf: [ref('MarketSession'), { type: 'null' }] },
    },
    ['id', 'name', 'strategy', 'symbol', 'timeframe', 'stage', 'params', 'requires_ai', 'created_at'],
  ),
  Gate: obj({ allowed: bool, blockers: arr(ref('Blocker')) }, ['allowed', 'blockers']),
  // the decision POST /api/bots/:id/start takes (a fresh autonomy score, then the gates with the tier)
  StartGate: obj({ allowed: bool, blockers: arr(ref('Blocker')), autonomy_tier: nstr, autonomy_score: { type: ['number', 'null'] } }, ['allowed', 'blockers']),
  MarketSession: obj(
    {
      open: bool,
      session: enumOf('RTH', 'ETH', 'MAINTENANCE', 'EARLY_CLOSE', 'WEEKEND', 'HOLIDAY'),
      calendar: str,
      calendar_name: nstr,
      exchange: nstr,
      next_open_at: ntime,
      next_open_exchange: nstr,
      next_close_at: ntime,
      reason_human: nstr,
    },
    ['open', 'session', 'calendar'],
  ),
  Clock: obj({ source: enumOf('system', 'test'), setting: str, offset_ms: int, reason_human: str }, ['source']),
  DecisionTrace: obj(
    {
      id: str,
      bot_id: str,
      created_at: time,
      action: str,
      reason_human: str,
      reason_code: str,
      signals: anyObj,
      variables_snapshot: anyObj,
      confidence: nnum,
      expected_value: nnum,
      risk_snapshot: { type: ['object', 'null'] },
      trace_id: nstr,
    },
    ['id', 'bot_id', 'created_at', 'reason_human', 'reason_code'],
  ),
  NoTradeTrace: obj(
    {
      id: str,
      bot_id: str,
      created_at: time,
      suppression_type: str,
      suppression_decision: nstr,
      reason_human: str,
      reason_code: str,
      blocked_by: arr({}),
      signals: { type: ['object', 'null'] },
      variables_snapshot: { type: ['object', 'null'] },
      trace_id: nstr,
    },
    ['id', 'bot_id', 'created_at', 'suppression_type', 'reason_human', 'reason_code', 'blocked_by'],
  ),
  Job: obj(
    {
      id: str,
      bot_id: nstr,
      kind: str,
      state: enumOf('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'TIMEOUT', 'CANCELLED'),
      params: { type: ['object', 'null'] },
      result: { type: ['object', 'null'] },
      error_code: nstr,
      created_at: time,
      started_at: ntime,
      finished_at: ntime,
      deadline_at: ntime,
      user_id: nstr,
      trace_id: nstr,
      transitions: arr(
        obj({ from_state: nstr, to_state: str, reason_code: nstr, trace_id: nstr, created_at: time, metadata: { type: ['object', 'null'] } }, ['to_state']),
      ),
    },
    ['id', 'kind', 'state', 'created_at'],
  ),
  Tick: obj(
    {
      bot_id: str,
      trace_id: str,
      run_id: nstr,
      outcome: enumOf('TRADED', 'SUPPRESSED', 'BLOCKED', 'ERROR'),
      reason_code: nstr,
      provider: nstr,
      data_attempts: arr(anyObj),
      bars: nint,
      action: nstr,
      order: { type: ['object', 'null'] },
      decision_trace_id: nstr,
      suppression_type: nstr,
      blocked_by: arr({}),
      blockers: arr(ref('Blocker')),
      latency_ms: int,
      market: obj({ open: bool, session: str, next_open_utc: str, next_open_exchange: str, reason_human: str }, ['open', 'session']),
    },
    ['bot_id', 'outcome', 'latency_ms'],
  ),
  Trading: obj({ enabled: bool, mode: str, updated_at: ntime }, ['enabled', 'mode']),
  VerifyResult: obj(
    {
      provider_id: str,
      status: enumOf('VERIFIED', 'DEGRADED'),
      reason_code: enumOf('OK', 'AUTH_FAILED', 'NOT_ENTITLED', 'RATE_LIMITED', 'TIMEOUT', 'NETWORK_ERROR', 'PROVIDER_ERROR'),
      reason_human: str,
      latency_ms: nint,
      verified_at: time,
    },
    ['provider_id', 'status', 'reason_code', 'reason_human', 'verified_at'],
  ),
};

// paths: pattern → method → { summary, access, params, body, responses }
const paths = {};
function route(method, pattern, { summary, access, params = [], body, responses }) {
  const openapiPath = pattern.replace(/:([a-z_]+)/g, '{$1}');
  const pathParams = [...pattern.matchAll(/:([a-z_]+)/g)].map((m) => ({ ...idParam, name: m[1] }));
  paths[openapiPath] ??= {};
  const op = {
    summary,
    'x-access': access,
    parameters: [...pathParams, ...params],
    responses: { ...commonErrors, ...responses },
  };
  if (body) op.requestBody = { required: true, content: json(body) };
  if (access === 'service') op.security = [{ serviceToken: [] }];
  else if (access === 'operator_or_service') op.security = [{ session: [] }, { serviceToken: [] }];
  else if (access !== 'public') op.security = [{ session: [] }];
  paths[openapiPath][method.toLowerCase()] = op;
}

route('GET', '/healthz', {
  summary: 'Liveness', access: 'public',
  responses: ok('alive', envelope({ status: { const: 'ok' } }, ['status'])),
});
route('GET', '/readyz', {
  summary: 'Readiness: Postgres reachable and a policy generation loaded', access: 'public',
  responses: ok('ready (503 when not)', envelope({ ready: bool, db: anyObj, policy: ref('Policy'), now: time, clock: ref('Clock') },
    ['ready', 'db', 'policy', 'now', 'clock'])),
});
route('GET', '/metrics', {
  summary: 'Prometheus text format 0.0.4', access: 'public',
  responses: { 200: { description: 'metrics', content: { 'text/plain': { schema: str } } } },
});
route('GET', '/api/openapi.json', {
  summary: 'This document', access: 'public',
  responses: { 200: { description: 'OpenAPI 3.1 document', content: json(anyObj) } },
});
route('GET', '/api/integrations/status', {
  summary: 'The Secrets Checklist: every provider with configured / verified / connected / in use', access: 'viewer',
  responses: ok('providers', envelope({ providers: arr(ref('Provider')), priority: anyObj, infrastructure: anyObj }, ['providers'])),
});
route('POST', '/api/integrations/verify', {
  summary: "Run a provider's verify probe now ({provider_id} or {provider}), or every configured one ({all: true})",
  access: 'operator',
  body: obj({ provider_id: str, provider: str, all: bool }),
  responses: ok('a completed probe (whatever its outcome) or the batch',
    { allOf: [ref('Envelope'), { anyOf: [ref('VerifyResult'), obj({ results: arr(anyObj), verified: int, ok: int }, ['results'])] }] }),
});
route('GET', '/api/integrations/:id/events', {
  summary: "The provider's usage events, newest first", access: 'viewer', params: listParams,
  responses: ok('events', list('events', ref('UsageEvent'), { provider_id: str })),
});
route('POST', '/api/telemetry/usage-events', {
  summary: 'Usage events from external runners', access: 'service',
  body: obj({ events: arr(obj({ provider_id: str, operation: str, status: str }, ['provider_id', 'operation', 'status'])) }, ['events']),
  responses: ok('accepted', envelope({ accepted: int }, ['accepted']), '202'),
});
route('GET', '/api/system/status', {
  summary: 'The canonical health view (one cached evaluation of gates.lua)', access: 'viewer',
  responses: ok('status', envelope({
    ts: time,
    system_status: enumOf('OK', 'DEGRADED', 'BLOCKED'),
    autonomy_allowed: bool,
    blockers: arr(ref('Blocker')),
    integrations: arr(obj({ name: str, connected: bool, status: str, required_for_autonomy: bool, last_probe_at: ntime, last_ok_at: ntime, latency_ms: nint, reason_code: nstr }, ['name', 'connected', 'status'])),
    live_stack: obj({
      marketData: obj({ primary: { anyOf: [ref('StackEntry'), { type: 'null' }] }, backups: arr(ref('StackEntry')) }, ['primary', 'backups']),
      execution: obj({ primary: { anyOf: [ref('StackEntry'), { type: 'null' }] }, backups: arr(ref('StackEntry')) }, ['primary', 'backups']),
      llm: obj({ primary: { anyOf: [ref('StackEntry'), { type: 'null' }] }, fallbacks: arr(ref('StackEntry')) }, ['primary', 'fallbacks']),
      infra: obj({ db: str, redis: str, queue: str }, ['db', 'redis', 'queue']),
      autonomyGates: obj({ system_status: str, autonomy_allowed: bool, blockers: arr(ref('Blocker')) }, ['system_status', 'autonomy_allowed', 'blockers']),
    }, ['marketData', 'execution', 'llm', 'infra', 'autonomyGates']),
    autonomy: obj({ global_status: str, blockers: arr(ref('Blocker')) }, ['global_status', 'blockers']),
    bots: obj({ byAutonomyTier: obj({ LOCKED: int, SUPERVISED: int, LIMITED_AUTONOMY: int, FULL_AUTONOMY: int }, ['LOCKED', 'SUPERVISED', 'LIMITED_AUTONOMY', 'FULL_AUTONOMY']) }, ['byAutonomyTier']),
    scheduler: obj({ active: bool, leader: bool, last_tick_at: ntime, loop_health: str, circuit_breakers: arr(anyObj) }, ['active', 'leader', 'circuit_breakers']),
    infra: obj({ db: str, redis: str, scheduler: str }, ['db', 'redis', 'scheduler']),
    policy: ref('Policy'),
    trading: ref('Trading'),
    clock: ref('Clock'),
    markets: arr(obj({
      calendar: str, calendar_name: nstr, exchange: nstr, open: bool, session: str, next_change_at: ntime, next_open_at: ntime,
      next_open_exchange: nstr, next_close_at: ntime, reason_human: nstr, symbols: strs, bots: int, running_bots: int,
    }, ['calendar', 'open', 'session', 'symbols', 'bots', 'running_bots'])),
    notices: arr(obj({
      code: enumOf('MARKET_CLOSED'), severity: enumOf('INFO'), message: str, reason_human: nstr, calendar: str, symbols: strs,
      next_open_at: ntime, next_open_exchange: nstr,
    }, ['code', 'severity', 'message', 'calendar', 'symbols'])),
  }, ['ts', 'system_status', 'autonomy_allowed', 'blockers', 'integrations', 'live_stack', 'autonomy', 'bots', 'scheduler', 'infra',
    'policy', 'trading', 'clock', 'markets', 'notices'])),
});
route('GET', '/api/system/events', {
  summary: 'System events, newest first', access: 'viewer',
  params: [...listParams, { name: 'since', in: 'query', schema: time }, { name: 'kind', in: 'query', schema: str }],
  responses: ok('events', list('events', ref('SystemEvent'))),
});
route('GET', '/api/system/instances', {
  summary: 'The fleet: instances, the shard and leader leases they hold now, unowned shards', access: 'viewer',
  responses: ok('the fleet', envelope({
    instances: arr(obj({
      id: str, host: str, pid: int, version: str, capacity: int, lease_s: int, started_at: time, last_seen: time,
      last_seen_age_s: num, alive: bool, stopped_at: ntime, leader: bool, shards: arr({ type: 'integer', minimum: 0, maximum: 63 }),
      owned_shards: int, owned_bots: int, over_capacity: bool, loop_lag_ms: int, lease_renew_ms: nnum,
    }, ['id', 'host', 'pid', 'version', 'capacity', 'lease_s', 'started_at', 'last_seen', 'last_seen_age_s', 'alive', 'stopped_at',
      'leader', 'shards', 'owned_shards', 'owned_bots', 'over_capacity', 'loop_lag_ms', 'lease_renew_ms'])),
    shards: obj({
      count: int, owned: int,
      unowned: arr(obj({ shard: int, unowned_for_s: num, running_bots: int }, ['shard', 'unowned_for_s', 'running_bots'])),
    }, ['count', 'owned', 'unowned']),
    leader: nstr,
    lease_s: int,
    as_of: time,
  }, ['instances', 'shards', 'leader', 'lease_s', 'as_of'])),
});
route('POST', '/api/gates/check', {
  summary: "gates.safe_start's answer for a stage", access: 'operator',
  body: obj({ stage: enumOf('PAPER', 'SHADOW', 'LIVE'), requires_ai: bool, bot_id: str }, ['stage']),
  responses: ok('the gate answer', envelope({ allowed: bool, blockers: arr(ref('Blocker')) }, ['allowed', 'blockers'])),
});
route('POST', '/api/policy/reload', {
  summary: 'Rebuild the policy generation now', access: 'admin',
  body: obj({ reason: str }),
  responses: ok('installed, or rejected (success false, POLICY_ERROR)', envelope({ policy: ref('Policy'), error_code: str }, [])),
});
route('POST', '/api/policy/dry-run', {
  summary: 'Evaluate candidate policy texts without installing them', access: 'operator',
  body: obj({ files: { type: 'object', additionalProperties: str } }, ['files']),
  responses: ok('the comparison', envelope({ valid: bool, candidate_version: nstr, current: anyObj, candidate: anyObj, changes: anyObj, error: str }, ['valid'])),
});
route('GET', '/api/bots', {
  summary: 'Bots, oldest first', access: 'viewer', params: listParams,
  responses: ok('bots', list('bots', ref('Bot'))),
});
route('POST', '/api/bots', {
  summary: 'Create a bot', access: 'operator',
  body: obj({ name: str, strategy: str, symbol: str, timeframe: str, stage: str, params: anyObj, requires_ai: bool }, ['name', 'strategy', 'symbol', 'timeframe', 'stage']),
  responses: ok('created', envelope({ bot: ref('Bot') }, ['bot']), '201'),
});
route('GET', '/api/bots/:id', {
  summary: 'One bot with its instance and what the start gates say now', access: 'viewer',
  responses: ok('the bot', envelope({ bot: ref('Bot'), safe_start: ref('StartGate') }, ['bot'])),
});
route('PATCH', '/api/bots/:id', {
  summary: 'Change name, params, stage, timeframe, requires_ai', access: 'operator',
  body: obj({ name: str, params: anyObj, stage: str, timeframe: str, requires_ai: bool }),
  responses: ok('the bot', envelope({ bot: ref('Bot') }, ['bot'])),
});
// issue 16, bots and bars: strategy schemas, clone, the bars the bot used
const paramSchema = obj({
  type: enumOf('integer', 'number', 'string', 'boolean', 'object'), default: {}, min: num, max: num, enum: arr({}),
  description: str, fields: anyObj,
}, ['type']);
route('POST', '/api/bots/:id/clone', {
  summary: 'A new bot from this one: same strategy/symbol/timeframe/requires_ai, params merged, STOPPED', access: 'operator',
  body: obj({ name: str, stage: enumOf('PAPER', 'SHADOW', 'LIVE'), params: anyObj }, ['name']),
  responses: ok('created', envelope({ bot: ref('Bot') }, ['bot']), '201'),
});
route('GET', '/api/strategies', {
  summary: 'The strategies of the loaded policy generation, with their parameter schemas', access: 'viewer',
  responses: ok('strategies', envelope({
    strategies: arr(obj({
      name: str, requires_ai: bool, description: nstr,
      params: { type: 'object', additionalProperties: paramSchema },
    }, ['name', 'requires_ai', 'description', 'params'])),
    common_params: { type: 'object', additionalProperties: paramSchema },
  }, ['strategies'])),
});
route('GET', '/api/bots/:id/bars', {
  summary: "The bars the bot's ticks and backtests used (market_bars), oldest first", access: 'viewer',
  params: [
    { name: 'from', in: 'query', schema: time },
    { name: 'to', in: 'query', schema: time },
    { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 10000 } },
  ],
  responses: ok('bars', envelope({
    symbol: str, timeframe: str,
    bars: arr(obj({ t: time, o: num, h: num, l: num, c: num, v: num, provider: nstr }, ['t', 'o', 'h', 'l', 'c', 'v', 'provider'])),
  }, ['symbol', 'timeframe', 'bars'])),
});
route('GET', '/api/settings/trading', {
  summary: 'The global trading switch', access: 'viewer',
  responses: ok('the switch', envelope({ trading: ref('Trading') }, ['trading'])),
});
route('PUT', '/api/settings/trading', {
  summary: 'Turn trading on or off (on needs a 2FA verification within 5 minutes)', access: 'admin',
  body: obj({ enabled: bool }, ['enabled']),
  responses: ok('the switch', envelope({ trading: ref('Trading') }, ['trading'])),
});
for (const [kind, schema] of [['decision-traces', 'DecisionTrace'], ['no-trade-traces', 'NoTradeTrace']]) {
  route('GET', `/api/bots/:id/${kind}`, {
    summary: `The bot's ${kind.replace('-', ' ')}, newest first`, access: 'viewer', params: [...listParams, ...windowParams],
    responses: ok('traces', list('traces', ref(schema), { bot_id: str })),
  });
  route('POST', `/api/bots/:id/${kind}`, {
    summary: `Record a ${kind.replace(/s$/, '').replace('-', ' ')} (external runners)`, access: 'service',
    body: anyObj,
    responses: ok('created', envelope({ trace: ref(schema) }, ['trace']), '201'),
  });
}
for (const action of ['start', 'restart']) {
  route('POST', `/api/bots/:id/${action}`, {
    summary: `${action} the bot after gates.safe_start (fail closed: 409 with blockers)`, access: 'operator',
    responses: ok('running', envelope({ bot: ref('Bot'), instance: anyObj }, [])),
  });
}
for (const action of ['stop', 'kill']) {
  route('POST', `/api/bots/:id/${action}`, {
    summary: `${action} the running instance${action === 'kill' ? '; its working orders are cancelled (at the broker for LIVE)' : ''}`,
    access: 'operator',
    responses: ok('stopped', envelope({ bot: ref('Bot'), state: str, instance: { type: ['object', 'null'] } }, [])),
  });
}
route('POST', '/api/bots/:id/tick', {
  summary: 'One tick now', access: 'operator_or_service',
  responses: ok('the tick summary', envelope({ tick: ref('Tick') }, ['tick'])),
});
route('POST', '/api/bots/:id/backtests', {
  summary: 'Queue a backtest over historical bars', access: 'operator',
  body: obj({ start: time, end: time, deadline_s: int }, ['start', 'end']),
  responses: ok('queued', envelope({ job: ref('Job') }, ['job']), '202'),
});
route('GET', '/api/bots/:id/runs', {
  summary: 'Instances and jobs of the bot, newest first', access: 'viewer', params: listParams,
  responses: ok('runs', list('runs', anyObj, { bot_id: str })),
});
route('GET', '/api/bots/:id/proof', {
  summary: 'Per-bot proof of use over 24 h', access: 'viewer',
  responses: ok('proof', envelope({
    proof: obj({
      bot_id: str,
      integrations: arr(obj({ provider_id: str, calls: int, errors: int, blocked: int, bars: int, order_intents: int, fills: int, llm_calls: int, models: strs, last_trace_id: nstr, last_used_at: ntime }, ['provider_id', 'calls'])),
      last_run: { type: ['object', 'null'] },
      last_job: { type: ['object', 'null'] },
      heartbeat_age_s: nint,
      terminal_state: nstr,
    }, ['bot_id', 'integrations']),
  }, ['proof'])),
});
route('GET', '/api/jobs/:id', {
  summary: 'A job with its FSM transitions', access: 'viewer',
  responses: ok('the job', envelope({ job: ref('Job') }, ['job'])),
});

// ---- trading (issue 16, branch i16-pnl): positions, orders, fills, P&L, portfolio. Money is USD under average
// cost (points x qty x the multiplier of scripts/instruments.lua − fees); unknown money is null + unknown_reason.
const stageEnum = enumOf('PAPER', 'SHADOW', 'LIVE');
const Position = obj({
  stage: stageEnum, symbol: str, qty: num, avg_price: num, mark: nnum, marked_at: ntime, multiplier: nnum,
  unrealized: nnum, realized: nnum, realized_points: num, fees: num, fill_count: int, opened_at: ntime,
  last_fill_at: ntime, unknown_reason: str,
}, ['stage', 'symbol', 'qty', 'avg_price', 'mark', 'marked_at', 'multiplier', 'unrealized', 'realized', 'fees',
  'opened_at', 'last_fill_at']);
const Order = obj({
  id: str, created_at: time, updated_at: time, stage: stageEnum, broker: nstr, broker_order_id: nstr, symbol: str,
  side: enumOf('BUY', 'SELL'), qty: num, order_type: str, limit_price: nnum, stop_price: nnum, status: str,
  filled_qty: num, avg_fill_price: nnum, reason_code: nstr, reason_human: nstr, decision_trace_id: nstr,
  trace_id: str,
}, ['id', 'created_at', 'updated_at', 'stage', 'broker', 'broker_order_id', 'symbol', 'side', 'qty', 'order_type',
  'limit_price', 'stop_price', 'status', 'filled_qty', 'avg_fill_price', 'reason_code', 'reason_human',
  'decision_trace_id', 'trace_id']);
const Fill = obj({
  id: str, order_id: str, filled_at: time, stage: stageEnum, symbol: str, side: enumOf('BUY', 'SELL'), qty: num,
  price: num, fee: num, realized: nnum, realized_points: num, closed_qty: num, simulated: bool,
  decision_trace_id: nstr, trace_id: str, unknown_reason: str,
}, ['id', 'order_id', 'filled_at', 'stage', 'symbol', 'side', 'qty', 'price', 'fee', 'realized', 'realized_points',
  'closed_qty', 'simulated', 'decision_trace_id', 'trace_id']);
const Pnl = obj({
  window: enumOf('1d', '7d', '30d', 'all'), stage: stageEnum, since: time, until: time,
  method: { const: 'average_cost' }, currency: { const: 'USD' }, realized: nnum, unrealized: nnum, fees: num,
  net: nnum, realized_points: num, fills: int, closing_fills: int, trade_count: int, win_rate: nnum,
  profit_factor: nnum, max_drawdown: nnum,
  equity: { type: ['array', 'null'], items: obj({ t: time, equity: num }, ['t', 'equity']), maxItems: 500 },
  unknown_reason: str,
}, ['window', 'since', 'until', 'method', 'currency', 'realized', 'unrealized', 'fees', 'net', 'realized_points',
  'fills', 'closing_fills', 'trade_count', 'win_rate', 'profit_factor', 'max_drawdown', 'equity']);
const moneyTotals = {
  realized: nnum, unrealized: nnum, fees: num, net: nnum, day_net: nnum, unknown_reason: str,
};
const StageTotals = obj({ ...moneyTotals, bots: int, open_positions: int },
  ['realized', 'unrealized', 'fees', 'net', 'day_net', 'bots', 'open_positions']);
const Portfolio = obj({
  as_of: time, day: { type: 'string', format: 'date' },
  stages: obj({ PAPER: StageTotals, SHADOW: StageTotals, LIVE: StageTotals }, ['PAPER', 'SHADOW', 'LIVE']),
  bots: arr(obj({
    bot_id: str, name: str, stage: stageEnum, symbol: str, position_qty: num, avg_price: nnum, mark: nnum,
    last_fill_at: ntime, ...moneyTotals,
  }, ['bot_id', 'name', 'stage', 'symbol', 'position_qty', 'avg_price', 'mark', 'realized', 'unrealized', 'fees',
    'net', 'day_net', 'last_fill_at'])),
  exposure: arr(obj({ stage: stageEnum, symbol: str, net_qty: num, gross_qty: num, notional: nnum, bots: int },
    ['stage', 'symbol', 'net_qty', 'gross_qty', 'notional', 'bots'])),
}, ['as_of', 'day', 'stages', 'bots', 'exposure']);
route('GET', '/api/bots/:id/positions', {
  summary: 'The bot\'s positions (open, or flat with realized P&L): mark, multiplier, unrealized, realized, fees (USD)',
  access: 'viewer',
  responses: ok('positions', envelope({ bot_id: str, positions: arr(Position) }, ['positions'])),
});
route('GET', '/api/bots/:id/orders', {
  summary: 'The bot\'s orders, newest first', access: 'viewer',
  params: [...listParams, { name: 'status', in: 'query', schema: str }],
  responses: ok('orders', list('orders', Order, { bot_id: str })),
});
route('GET', '/api/bots/:id/fills', {
  summary: 'The bot\'s fills with the P&L each realized, newest first', access: 'viewer', params: listParams,
  responses: ok('fills', list('fills', Fill, { bot_id: str })),
});
route('GET', '/api/bots/:id/pnl', {
  summary: 'P&L of a window (average cost, USD): realized, unrealized, fees, net, win rate, profit factor, max drawdown, equity',
  access: 'viewer',
  params: [{ name: 'window', in: 'query', schema: enumOf('1d', '7d', '30d', 'all') },
    { name: 'stage', in: 'query', schema: stageEnum }],
  responses: ok('pnl', envelope({ bot_id: str, pnl: Pnl }, ['pnl'])),
});
route('GET', '/api/portfolio', {
  summary: 'Every bot\'s P&L and the exposure per stage and symbol; stages are never added together', access: 'viewer',
  responses: ok('portfolio', envelope({ portfolio: Portfolio }, ['portfolio'])),
});

// ---- auth (issue 7): users, sessions, TOTP 2FA ----
const User = obj({
  id: str, username: str, email: nstr, role: enumOf('admin', 'operator', 'viewer'),
  two_factor_enabled: bool, two_factor_enrolled_at: ntime, two_factor_last_verified_at: ntime,
  disabled: bool, created_at: time, session_id: str, fresh_2fa: bool,
}, ['id', 'username', 'role', 'two_factor_enabled', 'disabled']);
const userBody = envelope({ user: User }, ['user']);
const codeBody = obj({ code: { type: 'string', pattern: '^[0-9]{6}$' }, backup_code: str });
const backupCodes = envelope({ backup_codes: { type: 'array', items: str, minItems: 10, maxItems: 10 }, user: User }, ['backup_codes']);
route('POST', '/api/auth/register', {
  summary: 'Create the first user (admin) while no user exists; sets the session cookie', access: 'public',
  body: obj({ username: str, password: str, email: str }, ['username', 'password']),
  responses: ok('the admin, signed in', userBody, '201'),
});
route('POST', '/api/auth/login', {
  summary: 'Password sign-in: a session, or a single-use temp token when 2FA is on', access: 'public',
  body: obj({ username: str, password: str }, ['username', 'password']),
  responses: ok('signed in, or the second factor is required', envelope({
    requires_2fa: bool, user: User, temp_token: str, expires_in_s: int,
  }, ['requires_2fa'])),
});
route('POST', '/api/auth/2fa/verify', {
  summary: 'Second factor (TOTP code or backup code) for a temp token; sets a 2FA-verified session', access: 'public',
  body: obj({ temp_token: str, code: str, backup_code: str }, ['temp_token']),
  responses: ok('signed in', envelope({ user: User, method: enumOf('totp', 'backup_code') }, ['user', 'method'])),
});
route('POST', '/api/auth/2fa/setup', {
  summary: 'Start TOTP enrollment (needs the account password again): a new secret (stored encrypted) as an otpauth URL and QR payload', access: 'viewer',
  body: obj({ password: str }, ['password']),
  responses: ok('the enrollment', envelope({
    otpauth_url: { type: 'string', pattern: '^otpauth://totp/' }, secret_base32: str,
    qr: obj({ format: str, text: str }, ['text']), issuer: str, algorithm: { const: 'SHA1' },
    digits: { const: 6 }, period: { const: 30 },
  }, ['otpauth_url', 'qr'])),
});
route('POST', '/api/auth/2fa/confirm', {
  summary: 'Confirm enrollment with a code: 2FA on, ten backup codes shown once; ends the other sessions of the user; not a step-up', access: 'viewer',
  body: obj({ code: str }, ['code']), responses: ok('2FA on', backupCodes),
});
route('POST', '/api/auth/2fa/backup-codes', {
  summary: 'Replace the backup codes (needs a fresh TOTP code)', access: 'viewer',
  body: obj({ code: str }, ['code']), responses: ok('new codes', backupCodes),
});
route('POST', '/api/auth/2fa/step-up', {
  summary: 'Mark the session 2FA-verified now (trading on and kill-all need it within 5 minutes)', access: 'viewer',
  body: codeBody, responses: ok('fresh', envelope({ fresh_2fa: { const: true }, fresh_for_s: int }, ['fresh_2fa'])),
});
route('POST', '/api/auth/logout', {
  summary: 'End the session server-side and clear the cookie', access: 'viewer',
  responses: ok('signed out', envelope({ logged_out: { const: true } }, ['logged_out'])),
});
route('GET', '/api/auth/me', {
  summary: 'The signed-in user and session', access: 'viewer', responses: ok('me', userBody),
});
route('GET', '/api/auth/sessions', {
  summary: "The caller's live sessions, oldest first", access: 'viewer', params: listParams,
  responses: ok('sessions', list('sessions', obj({
    id: str, created_at: time, last_seen_at: time, expires_at: time, idle_expires_at: time,
    ip: nstr, user_agent: nstr, two_factor_verified_at: ntime, current: bool,
  }, ['id', 'created_at', 'expires_at', 'current']))),
});
route('DELETE', '/api/auth/sessions/:id', {
  summary: "Revoke one of the caller's sessions", access: 'viewer',
  responses: ok('revoked', envelope({ revoked: bool, id: str, current: bool }, ['revoked', 'id'])),
});
route('GET', '/api/users', {
  summary: 'Users, oldest first', access: 'admin', params: listParams, responses: ok('users', list('users', User)),
});
route('POST', '/api/users', {
  summary: 'Create a user with a role', access: 'admin',
  body: obj({ username: str, password: str, role: enumOf('admin', 'operator', 'viewer'), email: str }, ['username', 'password', 'role']),
  responses: ok('created', userBody, '201'),
});
route('PATCH', '/api/users/:id', {
  summary: "Change a user's role or disable it (ends its sessions)", access: 'admin',
  body: obj({ role: enumOf('admin', 'operator', 'viewer'), disabled: bool }),
  responses: ok('the user', userBody),
});
route('POST', '/api/bots/kill-all', {
  summary: 'Kill every running instance (SEV-2 alert); needs a 2FA verification within 5 minutes', access: 'operator_2fa',
  responses: ok('killed', envelope({ killed: int, bots: arr(anyObj) }, ['killed', 'bots'])),
});

// ---- orders and bot incidents (issue 20) ----
const orderChanged = ok('changed', envelope({ order_id: str, ok: bool }, ['order_id', 'ok']));
route('POST', '/api/orders/:id/cancel', {
  summary: 'Cancel a working order (at the broker first for LIVE; CANCELLED once the broker confirmed)', access: 'operator',
  responses: { ...orderChanged, ...err('502', 'the broker refused or could not be reached (BROKER_REJECTED, TIMEOUT, ...)') },
});
route('POST', '/api/orders/:id/modify', {
  summary: 'Lower the working quantity of an order (never above the current one)', access: 'operator',
  body: obj({ qty: int }, ['qty']),
  responses: { ...orderChanged, ...err('502', 'the broker refused or could not be reached') },
});
route('POST', '/api/bots/:id/blockers/:code/ack', {
  summary: 'Acknowledge an open RISK_BREACH or POSITION_MISMATCH of a bot', access: 'operator',
  body: obj({ reason: str }),
  responses: ok('cleared', envelope({ bot_id: str, code: str, cleared_at: time, cleared_by: str }, ['bot_id', 'code', 'cleared_at'])),
});
route('POST', '/api/system/reconcile', {
  summary: 'Start a broker reconciliation pass now (fills, order states, positions)', access: 'operator',
  responses: ok('started', envelope({ started: bool }, ['started']), '202'),
});

// ---- autonomy, variables, AI Ops (issue 6) ----
const tier = enumOf('LOCKED', 'SUPERVISED', 'LIMITED_AUTONOMY', 'FULL_AUTONOMY');
const sub = { type: ['integer', 'number'], minimum: 0, maximum: 100 };
const AutonomyScore = {
  type: ['object', 'null'],
  properties: {
    bot_id: str, autonomy_score: sub, data_reliability_score: sub, decision_quality_score: sub,
    risk_discipline_score: sub, execution_health_score: sub, supervisor_trust_score: sub,
    autonomy_tier: tier, blockers: arr(ref('Blocker')), breakdown: anyObj, last_updated_at: time,
  },
  required: ['bot_id', 'autonomy_score', 'autonomy_tier', 'blockers', 'breakdown'],
};
route('GET', '/api/bots/:id/autonomy-score', {
  summary: "The bot's latest autonomy score, tier and breakdown (null before its first scoring)", access: 'viewer',
  responses: ok('the score', envelope({ autonomy_score: AutonomyScore }, ['autonomy_score'])),
});
route('POST', '/api/bots/:id/autonomy-score', {
  summary: 'Score the bot now from its evidence (scripts/autonomy.lua) and store it', access: 'operator',
  responses: ok('the score', envelope({ autonomy_score: AutonomyScore }, ['autonomy_score'])),
});
route('GET', '/api/variables', {
  summary: 'The variable catalog with availability, last_seen_at and used_by_bot_ids (never values)', access: 'viewer',
  params: [...listParams, { name: 'category', in: 'query', schema: str }, { name: 'availability', in: 'query', schema: str },
    { name: 'state', in: 'query', schema: str }],
  responses: ok('variables', list('variables', obj({
    name: str, category: enumOf('market_data', 'execution', 'risk', 'ai'), source_integration: nstr,
    source_kind: str, variable_type: str, state: enumOf('ACTIVE', 'DEPRECATED'), description: nstr,
    profit_contribution_estimate: nnum, last_updated_at: ntime, availability: enumOf('OK', 'DEGRADED', 'BLOCKED'),
    availability_reason: nstr, last_seen_at: ntime, used_by_bot_ids: strs,
  }, ['name', 'category', 'state', 'availability', 'used_by_bot_ids']), { synced: bool })),
});
const llmCounters = {
  calls: int, ok: int, errors: int, errors_by_code: anyObj, latency_ms: obj({ p50: nnum, p95: nnum }),
  input_tokens: nint, output_tokens: nint, purposes: anyObj, last_call_at: ntime, last_trace_id: nstr,
  last_status: nstr, last_error_code: nstr,
};
route('GET', '/api/ai-ops', {
  summary: 'LLM calls per provider and model over a window (from llm.chat usage events)', access: 'viewer',
  params: [{ name: 'window_h', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 720 } }],
  responses: ok('AI Ops', envelope({
    window_h: int, since: time, until: time,
    totals: obj({ calls: int, errors: int, input_tokens: int, output_tokens: int }, ['calls', 'errors']),
    providers: arr(obj({
      provider_id: str, label: str, configured: bool, connected: bool, state: str, ...llmCounters,
      models: arr(obj({ model: str, ...llmCounters }, ['model', 'calls'])),
    }, ['provider_id', 'calls', 'errors', 'models'])),
  }, ['window_h', 'totals', 'providers'])),
});

const doc = {
  openapi: '3.1.0',
  info: {
    title: 'gatehouse',
    version: '1',
    description:
      'Control plane for autonomous trading bots. Every JSON response is {success, trace_id, ...}; errors add ' +
      'error_code (docs/error-codes.md), reason_human and suggested_fix. x-access names the least role a route ' +
      'needs: public, viewer, operator, admin, or service (Authorization: Bearer GATEHOUSE_SERVICE_TOKEN).',
  },
  servers: [{ url: 'http://127.0.0.1:8080' }],
  components: {
    schemas,
    responses: sharedResponses,
    securitySchemes: {
      session: { type: 'apiKey', in: 'cookie', name: 'gh_session' },
      serviceToken: { type: 'http', scheme: 'bearer' },
    },
  },
  paths,
};

const text = JSON.stringify(doc, null, 2) + '\n';
if (process.argv.includes('--write')) {
  const out = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs', 'openapi.json');
  writeFileSync(out, text);
} else {
  process.stdout.write(text);
}
