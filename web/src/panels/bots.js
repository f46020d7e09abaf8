// Bots: the list (botlist.js) and one bot's detail (#/bots/<id>): gates, proof of use, autonomy breakdown,
// actions (start/stop/restart/kill/tick) showing the gate's refusal, edit params and clone (botform.js), what
// it traded (botpage.js: chart, P&L, backtests, positions, orders, fills) and the Why traded / Why not trading
// drawers (decision and no-trade traces; a fill's marker opens Why traded on its own decision trace).
import { useEffect, useState } from 'preact/hooks';
import { api, post, usePoll } from '../api.js';
import { may, roleHint, useSession } from '../session.js';
import { html, ActionResult, Badge, DegradedBanner, Drawer, Json, Loading, MarketClosed, TraceId, Updated, YesNo,
  fmtTime, useHashRest } from '../ui.js';
import { Blockers } from './overview.js';
import { ProofBadges } from './proofbadges.js';
import { AutonomyBreakdown } from './autonomyview.js';
import { BotList } from './botlist.js';
import { EditParamsForm, cloneBot } from './botform.js';
import { Trading } from './botpage.js';

function TraceItem({ t, testid = 'trace-item' }) {
  return html`<div class="trace-item" data-testid=${testid} data-trace=${t.id}>
    <div><strong>${t.action || t.decision_type || t.suppression_type}</strong> <code data-testid="reason-code">${t.reason_code}</code>
      ${t.suppression_decision && html` <span class="muted">${t.suppression_decision}</span>`}
      <span class="muted small"> ${fmtTime(t.created_at)}</span></div>
    <div data-testid="reason-human">${t.reason_human}</div>
    ${t.blocked_by && t.blocked_by.length > 0 && html`<div>Blocked by: ${t.blocked_by.map((b) => html`<code class="code">${typeof b === 'string' ? b : b.code}</code> `)}</div>`}
    ${t.confidence !== undefined && t.confidence !== null && html`<div class="small">confidence ${t.confidence}${t.expected_value !== null && t.expected_value !== undefined ? ` · expected value ${t.expected_value}` : ''}</div>`}
    <details><summary>signals, variables, risk</summary>
      <h4>signals</h4><${Json} value=${t.signals} /><h4>variables snapshot</h4><${Json} value=${t.variables_snapshot} />
      ${t.risk_snapshot && html`<h4>risk snapshot</h4><${Json} value=${t.risk_snapshot} />`}</details>
    <${TraceId} id=${t.trace_id} /></div>`;
}

function TraceList({ traces, kind }) {
  if (!traces || traces.length === 0) {
    return html`<p data-testid=${`${kind}-none`}>${kind === 'decision' ? 'No decision traces: this bot has not traded.' : 'No no-trade traces recorded.'}</p>`;
  }
  return html`<div data-testid=${`${kind}-traces`}>${traces.map((t) => html`<${TraceItem} t=${t} />`)}</div>`;
}

// One decision trace by its id: there is no route for a single trace, so the bot's decision traces are read
// newest first, page by page (500 a page, at most 20 pages), until it is found. → {trace, error, done}
function useDecisionTrace(botId, traceId) {
  const [state, setState] = useState({ trace: null, error: null, done: false });
  useEffect(() => {
    let stop = false;
    setState({ trace: null, error: null, done: false });
    (async () => {
      let cursor = null;
      for (let page = 0; page < 20 && !stop; page++) {
        const r = await api(`/api/bots/${botId}/decision-traces?limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
        if (stop) return;
        if (!r.ok) { setState({ trace: null, error: r.error, done: true }); return; }
        const hit = (r.data.traces || []).find((t) => t.id === traceId);
        if (hit || !r.data.next_cursor) { setState({ trace: hit || null, error: null, done: true }); return; }
        cursor = r.data.next_cursor;
      }
      if (!stop) setState({ trace: null, error: null, done: true });
    })();
    return () => { stop = true; };
  }, [botId, traceId]);
  return state;
}

function FocusedTrace({ botId, traceId, fill }) {
  const f = useDecisionTrace(botId, traceId);
  return html`<section data-testid="focused-decision" data-trace=${traceId}><h3>The decision behind ${fill
    ? `the ${fill.side} fill of ${fill.qty} at ${fill.price} (${fmtTime(fill.filled_at)})` : 'this order'}</h3>
    <${DegradedBanner} error=${f.error} what="Decision traces" />
    ${!f.done && html`<${Loading} what="decision trace" />`}
    ${f.done && !f.error && !f.trace && html`<p class="no" data-testid="focused-trace-missing">Decision trace <code>${traceId}</code> is not among this bot's decision traces.</p>`}
    ${f.trace && html`<${TraceItem} t=${f.trace} testid="focused-trace" />`}</section>`;
}

// focus: {traceId, fill?} — a fill's or order's own decision trace, shown first.
function TracesDrawer({ botId, kind, gate, market, focus, onClose }) {
  const path = kind === 'decision' ? 'decision-traces' : 'no-trade-traces';
  const t = usePoll(`/api/bots/${botId}/${path}?limit=20`, 5000);
  const title = kind === 'decision' ? 'Why traded — decision traces' : 'Why not trading';
  return html`<${Drawer} title=${title} onClose=${onClose} testid=${`${kind}-drawer`}>
    ${kind === 'decision' && focus && focus.traceId && html`<${FocusedTrace} botId=${botId} traceId=${focus.traceId} fill=${focus.fill} />`}
    ${kind === 'decision' && focus && !focus.traceId && html`<p class="muted" data-testid="focused-trace-missing">This fill carries no decision trace id.</p>`}
    ${kind === 'no-trade' && gate && html`<section><h3>The start gates now</h3>
      ${gate.allowed ? html`<p>Start would pass now: the gates allow this bot's stage at its autonomy tier${gate.autonomy_tier ? ` (${gate.autonomy_tier})` : ''}.</p>` : html`<${Blockers} blockers=${gate.blockers} testid="gate-blockers" />`}</section>`}
    ${kind === 'no-trade' && market && !market.open && html`<section><h3>The market now</h3>
      <${MarketClosed} m=${market} testid="drawer-market-closed" />
      <p class="small">Ticks wait for the open without calling any provider (no-trade traces MARKET_CLOSED).</p></section>`}
    <h3>${kind === 'decision' ? 'Latest decisions' : 'Latest suppressions'}</h3>
    <${DegradedBanner} error=${t.error} what=${title} />
    ${!t.error && !t.data && html`<${Loading} what="traces" />`}
    ${t.data && html`<${TraceList} traces=${t.data.traces} kind=${kind} />`}
  </${Drawer}>`;
}

const ACTIONS = [
  ['start', 'Start', 'primary'], ['stop', 'Stop', ''], ['restart', 'Restart', ''], ['tick', 'Tick now', ''], ['kill', 'Kill', 'danger'],
];

function BotDetail({ id, job }) {
  const session = useSession();
  const b = usePoll(`/api/bots/${id}`, 4000);
  const [drawer, setDrawer] = useState(null);
  const [focus, setFocus] = useState(null);
  const [busy, setBusy] = useState(null);
  const [result, setResult] = useState(null);
  const [editing, setEditing] = useState(false);
  const canAct = may(session, 'operator') && !b.error && !!b.data;
  const open = (kind, f = null) => { setFocus(f); setDrawer(kind); };
  const why = (traceId, fill) => open('decision', { traceId, fill });
  const clone = async () => {
    const r = await cloneBot(b.data.bot);
    if (!r) return;
    if (r.ok) window.location.hash = `#/bots/${r.data.bot.id}`;
    else setResult({ action: 'clone', r });
  };

  const act = async (action) => {
    if (action === 'kill' && !window.confirm('Kill this bot? Its running instance stops at once.')) return;
    setBusy(action);
    const r = await post(`/api/bots/${id}/${action}`);
    setBusy(null);
    setResult({ action, r });
    b.refresh();
  };

  return html`<div>
    <p><a href="#/bots">← all bots</a></p>
    ${b.error && html`<${DegradedBanner} error=${b.error} what="This bot" />`}
    ${!b.error && !b.data && html`<${Loading} what="bot" />`}
    ${b.data && html`<${BotHead} bot=${b.data.bot} gate=${b.data.safe_start} at=${b.at} />`}
    <section class="card"><h2>Actions</h2>
      ${!may(session, 'operator') && html`<p class="muted small">${roleHint(session, 'operator')}</p>`}
      <div class="actions">${ACTIONS.map(([a, label, cls]) => html`<button type="button" class=${cls} data-testid=${`action-${a}`}
        disabled=${!canAct || busy !== null} onClick=${() => act(a)}>${busy === a ? `${label}…` : label}</button>`)}
        <button type="button" data-testid="why-traded" onClick=${() => open('decision')}>Why traded</button>
        <button type="button" data-testid="why-not-trading" onClick=${() => open('no-trade')}>Why not trading</button>
        <button type="button" data-testid="edit-params" disabled=${!canAct || editing} onClick=${() => setEditing(true)}>Edit params</button>
        <button type="button" data-testid="clone-bot" disabled=${!canAct} onClick=${clone}>Clone</button></div>
      ${result && html`<${ActionOutcome} action=${result.action} r=${result.r} />`}
      ${editing && b.data && html`<${EditParamsForm} bot=${b.data.bot} onCancel=${() => setEditing(false)}
        onSaved=${() => { setEditing(false); setResult({ action: 'edit params', r: { ok: true, data: {} } }); b.refresh(); }} />`}</section>
    ${b.data && html`<${Trading} bot=${b.data.bot} onWhy=${why} job=${job} />`}
    <div class="grid">
      <section class="card"><h2>Used in last 24 h</h2><${ProofBadges} botId=${id} /></section>
    </div>
    <section class="card"><h2>Autonomy</h2><${AutonomyBreakdown} botId=${id} /></section>
    ${drawer && html`<${TracesDrawer} botId=${id} kind=${drawer} gate=${b.data && b.data.safe_start}
      market=${b.data && b.data.bot.market} focus=${focus} onClose=${() => { setDrawer(null); setFocus(null); }} />`}
  </div>`;
}

function BotHead({ bot, gate, at }) {
  const inst = bot.instance;
  return html`<section class="card" data-testid="bot-head"><h2>${bot.name} <${Badge} value=${bot.stage} tone="neutral" /></h2>
    <dl class="kv">
      <dt>id</dt><dd><code>${bot.id}</code></dd>
      <dt>strategy</dt><dd>${bot.strategy} on ${bot.symbol} · ${bot.timeframe}</dd>
      <dt>requires AI</dt><dd><${YesNo} value=${bot.requires_ai} /></dd>
      <dt>desired state</dt><dd>${bot.desired_state || '—'}</dd>
      <dt>instance</dt><dd>${inst ? html`<${Badge} value=${inst.state} testid="instance-state" /> since ${fmtTime(inst.started_at)}${inst.last_heartbeat_at ? ` · heartbeat ${fmtTime(inst.last_heartbeat_at)}` : ''}` : html`<span class="muted">never started</span>`}</dd>
      <dt>market</dt><dd data-testid="bot-market">${!bot.market ? '—' : bot.market.open
        ? html`open (${bot.market.session}, ${bot.market.calendar_name})`
        : html`<${MarketClosed} m=${bot.market} compact testid="bot-market-closed" />`}</dd>
      <dt>start gates now</dt><dd data-testid="safe-start">${gate ? (gate.allowed ? html`<span class="yes">allowed</span>` : html`<span class="no">refused</span> (${gate.blockers.map((x) => x.code).join(', ')})`) : '—'}${gate && gate.autonomy_tier ? html` <span class="small muted">· tier ${gate.autonomy_tier}</span>` : ''}</dd>
    </dl><${Updated} at=${at} /></section>`;
}

function ActionOutcome({ action, r }) {
  if (!r.ok) return html`<${ActionResult} result=${r} />`;
  if (action === 'tick' && r.data.tick) {
    const t = r.data.tick;
    return html`<div class=${t.outcome === 'ERROR' || t.outcome === 'BLOCKED' ? 'result refused' : 'result ok'} role="status" data-testid="action-result">
      Tick: <strong>${t.outcome}</strong> <code>${t.reason_code || ''}</code>${t.provider ? ` · bars from ${t.provider} (${t.bars})` : ''}
      ${t.blocked_by && t.blocked_by.length ? html`<div>Blocked by: ${t.blocked_by.map((x) => (typeof x === 'string' ? x : x.code)).join(', ')}</div>` : null}
      <div><${TraceId} id=${r.data.trace_id} /></div></div>`;
  }
  return html`<${ActionResult} result=${r} okText=${`${action}: done${r.data.instance && r.data.instance.state ? ` (${r.data.instance.state})` : ''}.`} />`;
}

export function Bots() {
  const rest = useHashRest();
  // #/bots/<id> or #/bots/<id>/backtests/<job id> (a backtest's results on the bot page)
  const [id, sub, job] = rest ? rest.split('/') : [];
  return id ? html`<${BotDetail} id=${id} job=${sub === 'backtests' ? job || null : null} key=${id} />` : html`<${BotList} />`;
}
