// botform.js — making and changing bots from the browser: the "New bot" form (strategy from GET /api/strategies,
// its params schema as typed fields), Edit params (PATCH /api/bots/:id) and Clone (POST /api/bots/:id/clone).
// Parameters are checked here by the rules the server applies (type, min, max, enum; an unknown key is the
// server's to refuse); the server stays the judge: its 400 VALIDATION_FAILED `field` / `reason_human` is shown
// next to the field it names.
import { useState } from 'preact/hooks';
import { api, post, usePoll } from '../api.js';
import { html, ActionResult, DegradedBanner, Loading } from '../ui.js';

const TIMEFRAMES = ['1m', '5m', '15m', '1h'];
const STAGES = ['PAPER', 'SHADOW', 'LIVE'];
const has = (v) => v !== null && v !== undefined;

function range(spec, what) {
  if (has(spec.min) && has(spec.max)) return `${what} from ${spec.min} to ${spec.max}`;
  if (has(spec.min)) return `${what} of at least ${spec.min}`;
  if (has(spec.max)) return `${what} of at most ${spec.max}`;
  return what;
}

const NOUN = { integer: 'an integer', number: 'a number', string: 'a string', boolean: 'true or false', object: 'an object' };

// The rule of one schema entry in the server's words (scripts/lib/params.lua): "params.qty must be an integer
// from 1 to 100", "params.mode must be a string (one of a, b)".
export function ruleText(key, spec) {
  const words = `params.${key} must be ${NOUN[spec.type] || 'a string'}`;
  if (Array.isArray(spec.enum) && spec.enum.length) return `${words} (one of ${spec.enum.join(', ')})`;
  if (spec.type === 'integer' || spec.type === 'number') return `params.${key} must be ${range(spec, NOUN[spec.type])}`;
  return words;
}

// Parses a form value by its schema type → {value} or {error}. '' → {} (not sent: the schema default applies).
export function parseParam(key, spec, raw) {
  if (raw === '' || raw === undefined || raw === null) return {};
  const rule = ruleText(key, spec);
  let v = raw;
  if (spec.type === 'integer' || spec.type === 'number') {
    v = Number(String(raw).trim());
    if (String(raw).trim() === '' || !Number.isFinite(v)) return { error: rule };
    if (spec.type === 'integer' && !Number.isInteger(v)) return { error: rule };
    if ((has(spec.min) && v < spec.min) || (has(spec.max) && v > spec.max)) return { error: rule };
  } else if (spec.type === 'boolean') {
    if (raw !== 'true' && raw !== 'false') return { error: rule };
    v = raw === 'true';
  } else if (spec.type === 'object') {
    try {
      v = JSON.parse(raw);
    } catch (e) {
      return { error: rule };
    }
    if (!v || typeof v !== 'object' || Array.isArray(v)) return { error: rule };
  }
  if (Array.isArray(spec.enum) && spec.enum.length && !spec.enum.some((e) => String(e) === String(v))) return { error: rule };
  return { value: v };
}

// values: {key: raw string}; extra: JSON text of further params → {params, errors {field: text}}.
export function collectParams(schema, values, extra) {
  const params = {};
  const errors = {};
  if (extra && extra.trim()) {
    try {
      const x = JSON.parse(extra);
      if (!x || typeof x !== 'object' || Array.isArray(x)) throw new Error('not an object');
      Object.assign(params, x);
    } catch (e) {
      errors.extra = 'Further params must be a JSON object, e.g. {"risk": {"max_contracts": 2}}.';
    }
  }
  for (const [k, spec] of Object.entries(schema || {})) {
    const r = parseParam(k, spec, values[k]);
    if (r.error) errors[`params.${k}`] = r.error;
    else if ('value' in r) params[k] = r.value;
  }
  return { params, errors };
}

function FieldError({ field, errors }) {
  const e = errors[field];
  if (!e) return null;
  return html`<span class="field-error" role="alert" data-testid=${`field-error-${field}`}>${e}</span>`;
}

function ParamInput({ k, spec, value, onInput }) {
  const id = `param-${k}`;
  const common = { id, name: `params.${k}`, 'data-testid': `param-${k}`, value, onInput: (e) => onInput(k, e.currentTarget.value),
    onChange: (e) => onInput(k, e.currentTarget.value) };
  if (Array.isArray(spec.enum) && spec.enum.length) {
    return html`<select ...${common}><option value="">default (${String(spec.default ?? '—')})</option>
      ${spec.enum.map((o) => html`<option value=${String(o)}>${String(o)}</option>`)}</select>`;
  }
  if (spec.type === 'boolean') {
    return html`<select ...${common}><option value="">default (${String(spec.default ?? '—')})</option>
      <option value="true">true</option><option value="false">false</option></select>`;
  }
  if (spec.type === 'object') {
    return html`<textarea rows="2" placeholder="a JSON object" ...${common}></textarea>`;
  }
  if (spec.type === 'integer' || spec.type === 'number') {
    return html`<input type="number" inputmode=${spec.type === 'integer' ? 'numeric' : 'decimal'} step=${spec.type === 'integer' ? 1 : 'any'}
      min=${has(spec.min) ? spec.min : null} max=${has(spec.max) ? spec.max : null}
      placeholder=${has(spec.default) ? `default ${spec.default}` : ''} ...${common} />`;
  }
  return html`<input type="text" placeholder=${has(spec.default) ? `default ${spec.default}` : ''} ...${common} />`;
}

// The typed fields of a strategy's params schema; values are the raw strings of the inputs.
// common: the params every bot may carry (GET /api/strategies common_params), named under the JSON box.
export function ParamFields({ schema, values, errors, onInput, extra, onExtra, common }) {
  const keys = Object.keys(schema || {});
  return html`<fieldset class="params" data-testid="param-fields"><legend>Parameters</legend>
    ${keys.length === 0 && html`<p class="muted small">This strategy declares no parameters.</p>`}
    ${keys.map((k) => {
      const spec = schema[k];
      return html`<label for=${`param-${k}`} data-param=${k}><span><code>${k}</code> <span class="muted small">${spec.type}${
        has(spec.min) || has(spec.max) ? ` · ${has(spec.min) ? spec.min : '…'} to ${has(spec.max) ? spec.max : '…'}` : ''}</span></span>
        <${ParamInput} k=${k} spec=${spec} value=${values[k] ?? ''} onInput=${onInput} />
        ${spec.description && html`<span class="muted small">${spec.description}</span>`}
        <${FieldError} field=${`params.${k}`} errors=${errors} /></label>`;
    })}
    <label>Further params (JSON object, optional; e.g. risk limits)
      <textarea rows="2" name="extra" data-testid="param-extra" value=${extra} onInput=${(e) => onExtra(e.currentTarget.value)}></textarea>
      ${common && Object.keys(common).length > 0 && html`<span class="muted small">Every bot may also carry: ${Object.entries(common)
        .map(([k, c]) => html`<code title=${c.description || ''}>${k}</code> `)}</span>`}
      <${FieldError} field="extra" errors=${errors} /></label>
  </fieldset>`;
}

// A server refusal → {errors by field, result to show when no field names it}.
function serverErrors(r, schema) {
  const body = (r.error && r.error.body) || {};
  const field = body.field;
  const text = body.reason_human || r.error.reason;
  if (!field) return { errors: {}, unplaced: true };
  if (field === 'name' || field === 'strategy' || field === 'symbol' || (field.startsWith('params.') && schema && schema[field.slice(7)])) {
    return { errors: { [field]: text }, unplaced: false };
  }
  if (field.startsWith('params')) return { errors: { extra: text }, unplaced: false };
  return { errors: {}, unplaced: true };
}

function schemaValues(schema, params) {
  const v = {};
  for (const [k, spec] of Object.entries(schema || {})) {
    if (params && has(params[k])) v[k] = spec.type === 'object' ? JSON.stringify(params[k]) : String(params[k]);
  }
  return v;
}

function extraText(schema, params) {
  const x = {};
  for (const [k, v] of Object.entries(params || {})) if (!schema || !(k in schema)) x[k] = v;
  return Object.keys(x).length ? JSON.stringify(x) : '';
}

// The "New bot" form. onCreated(bot) after a 201.
export function NewBotForm({ onCreated, onCancel }) {
  const s = usePoll('/api/strategies', 0);
  const [form, setForm] = useState({ name: '', strategy: '', symbol: '', timeframe: '1m', stage: 'PAPER' });
  const [values, setValues] = useState({});
  const [extra, setExtra] = useState('');
  const [errors, setErrors] = useState({});
  const [result, setResult] = useState(null);
  const [busy, setBusy] = useState(false);
  if (s.error) return html`<${DegradedBanner} error=${s.error} what="Strategies (GET /api/strategies)" />`;
  if (!s.data) return html`<${Loading} what="strategies" />`;
  const strategies = s.data.strategies || [];
  const chosen = strategies.find((x) => x.name === (form.strategy || (strategies[0] && strategies[0].name)));
  const schema = chosen ? chosen.params || {} : {};
  const set = (k) => (e) => setForm({ ...form, [k]: e.currentTarget.value });
  const onParam = (k, v) => {
    const next = { ...values, [k]: v };
    setValues(next);
    const r = parseParam(k, schema[k], v);
    setErrors({ ...errors, [`params.${k}`]: r.error || null });
  };
  const submit = async (e) => {
    e.preventDefault();
    const { params, errors: errs } = collectParams(schema, values, extra);
    if (!form.name.trim()) errs.name = 'name is required';
    if (!form.symbol.trim()) errs.symbol = 'symbol is required (a contract such as ESZ6)';
    setErrors(errs);
    setResult(null);
    if (Object.values(errs).some(Boolean)) return;
    setBusy(true);
    const r = await post('/api/bots', { name: form.name.trim(), strategy: chosen.name, symbol: form.symbol.trim(),
      timeframe: form.timeframe, stage: form.stage, params, requires_ai: !!chosen.requires_ai });
    setBusy(false);
    if (r.ok) {
      onCreated(r.data.bot);
      return;
    }
    const se = serverErrors(r, schema);
    setErrors(se.errors);
    setResult(r);
  };
  return html`<form class="card bot-form" data-testid="new-bot-form" onSubmit=${submit} novalidate>
    <h2>New bot</h2>
    <div class="form-grid">
      <label>Name <input name="name" data-testid="bot-name" value=${form.name} onInput=${set('name')} autocomplete="off" />
        <${FieldError} field="name" errors=${errors} /></label>
      <label>Strategy <select name="strategy" data-testid="bot-strategy" value=${chosen ? chosen.name : ''}
        onChange=${(e) => { setForm({ ...form, strategy: e.currentTarget.value }); setValues({}); setErrors({}); }}>
        ${strategies.map((x) => html`<option value=${x.name}>${x.name}${x.requires_ai ? ' (uses AI)' : ''}</option>`)}</select>
        <${FieldError} field="strategy" errors=${errors} /></label>
      <label>Symbol <input name="symbol" data-testid="bot-symbol" value=${form.symbol} onInput=${set('symbol')} autocomplete="off"
        placeholder="e.g. ESZ6" />
        <${FieldError} field="symbol" errors=${errors} /></label>
      <label>Timeframe <select name="timeframe" data-testid="bot-timeframe" value=${form.timeframe} onChange=${set('timeframe')}>
        ${TIMEFRAMES.map((t) => html`<option value=${t}>${t}</option>`)}</select></label>
      <label>Stage <select name="stage" data-testid="bot-stage" value=${form.stage} onChange=${set('stage')}>
        ${STAGES.map((t) => html`<option value=${t}>${t}</option>`)}</select></label>
    </div>
    ${chosen && chosen.description && html`<p class="muted small" data-testid="strategy-description">${chosen.description}</p>`}
    <${ParamFields} schema=${schema} values=${values} errors=${errors} onInput=${onParam} extra=${extra} common=${s.data.common_params}
      onExtra=${(v) => { setExtra(v); setErrors({ ...errors, extra: null }); }} />
    <div class="actions"><button type="submit" class="primary" data-testid="bot-create-submit" disabled=${busy || !chosen}>
      ${busy ? 'Creating…' : 'Create bot'}</button>
      <button type="button" onClick=${onCancel}>Cancel</button></div>
    ${result && html`<${ActionResult} result=${result} />`}
  </form>`;
}

// Edit params of an existing bot (PATCH /api/bots/:id {params}); the schema comes from its strategy.
export function EditParamsForm({ bot, onSaved, onCancel }) {
  const s = usePoll('/api/strategies', 0);
  const strat = s.data ? (s.data.strategies || []).find((x) => x.name === bot.strategy) : null;
  const schema = strat ? strat.params || {} : null;
  const [values, setValues] = useState(null);
  const [extra, setExtra] = useState(null);
  const [errors, setErrors] = useState({});
  const [result, setResult] = useState(null);
  const [busy, setBusy] = useState(false);
  if (s.error) return html`<${DegradedBanner} error=${s.error} what="Strategies (GET /api/strategies)" />`;
  if (!s.data) return html`<${Loading} what="strategies" />`;
  const vals = values || schemaValues(schema, bot.params);
  const ext = extra === null ? extraText(schema, bot.params) : extra;
  const onParam = (k, v) => {
    setValues({ ...vals, [k]: v });
    setErrors({ ...errors, [`params.${k}`]: parseParam(k, schema[k], v).error || null });
  };
  const submit = async (e) => {
    e.preventDefault();
    const { params, errors: errs } = collectParams(schema || {}, vals, ext);
    setErrors(errs);
    setResult(null);
    if (Object.values(errs).some(Boolean)) return;
    setBusy(true);
    const r = await api(`/api/bots/${bot.id}`, { method: 'PATCH', body: { params } });
    setBusy(false);
    if (r.ok) {
      onSaved(r.data.bot);
      return;
    }
    setErrors(serverErrors(r, schema).errors);
    setResult(r);
  };
  return html`<form class="bot-form" data-testid="edit-params-form" onSubmit=${submit} novalidate>
    ${!strat && html`<p class="note">The loaded policy offers no strategy named <code>${bot.strategy}</code>: the params are
      sent as JSON and the server checks them.</p>`}
    <${ParamFields} schema=${schema || {}} values=${vals} errors=${errors} onInput=${onParam} extra=${ext} common=${s.data.common_params}
      onExtra=${(v) => { setExtra(v); setErrors({ ...errors, extra: null }); }} />
    <div class="actions"><button type="submit" class="primary" data-testid="edit-params-submit" disabled=${busy}>
      ${busy ? 'Saving…' : 'Save params'}</button>
      <button type="button" onClick=${onCancel}>Cancel</button></div>
    ${result && html`<${ActionResult} result=${result} />`}
  </form>`;
}

// Asks a name, clones the bot (POST /api/bots/:id/clone) → the API result, or null when cancelled.
export async function cloneBot(bot) {
  const name = window.prompt(`Name of the clone of ${bot.name} (PAPER, stopped):`, `${bot.name}-copy`);
  if (name === null || !name.trim()) return null;
  return post(`/api/bots/${bot.id}/clone`, { name: name.trim() });
}
