// Overview: system status, autonomy allowed, blockers with fixes and trace ids, the live stack, the fleet.
import { usePoll } from '../api.js';
import { HostLabel } from './connections.js';
import { Fleet } from './fleet.js';
import { html, Badge, DegradedBanner, Loading, MarketClosed, TraceId, YesNo, fmtTime, ago, num, Updated } from '../ui.js';

export function Blockers({ blockers, testid = 'blockers' }) {
  if (!blockers || blockers.length === 0) return html`<p data-testid=${testid}>No blockers.</p>`;
  return html`<ul class="blockers" data-testid=${testid}>${blockers.map((b) => html`<li data-code=${b.code}>
    <div><${Badge} value=${b.severity} /> <code class="code">${b.code}</code> <strong>${b.message || ''}</strong>
      ${b.integration && html` <span class="muted">(${b.integration})</span>`}
      ${b.scope && html` <span class="muted small">scope: ${b.scope}</span>`}</div>
    <div>${b.reason_human}</div>
    ${b.suggested_fix && html`<div class="fix">Fix: ${b.suggested_fix}</div>`}
    <div><${TraceId} id=${b.trace_id} /></div></li>`)}</ul>`;
}

function StackEntry({ e, role, hosts }) {
  if (!e) return html`<li class="stack-entry"><span class="muted">${role}: none connected</span></li>`;
  return html`<li class="stack-entry" data-provider=${e.providerId}>
    <span class="stack-role">${role}</span> <strong>${e.providerId}</strong>
    ${hosts && hosts[e.providerId] && html` <${HostLabel} p=${hosts[e.providerId]} />`}
    <span class="flags">
      <span>Configured <${YesNo} value=${e.configured} /></span>
      <span>Verified <${YesNo} value=${e.verified} /></span>
      <span>In use <${YesNo} value=${e.in_use} /></span>
    </span>
    ${e.proof_24h !== undefined && html`<span class="muted small">proof 24 h: ${num(e.proof_24h)}</span>`}
    ${e.last_verified_at && html`<span class="muted small"> · verified ${ago(e.last_verified_at)}</span>`}
    ${e.missing_env_vars && e.missing_env_vars.length > 0 && html`<div class="small">missing: ${e.missing_env_vars.map((v) => html`<code>${v}</code> `)}</div>`}
    ${e.error_code && html`<div class="small"><code>${e.error_code}</code> ${e.suggested_fix || ''}</div>`}
  </li>`;
}

function Category({ title, cat, backupsKey = 'backups', hosts }) {
  if (!cat) return html`<section class="card"><h3>${title}</h3><p class="muted">Not reported by the status endpoint.</p></section>`;
  const backups = cat[backupsKey] || [];
  return html`<section class="card" data-testid=${`stack-${title}`}><h3>${title}</h3><ul class="stack">
    <${StackEntry} e=${cat.primary} role="primary" hosts=${hosts} />
    ${backups.map((b) => html`<${StackEntry} e=${b} role=${backupsKey === 'fallbacks' ? 'fallback' : 'backup'} hosts=${hosts} />`)}
  </ul></section>`;
}

// The markets the bots trade on that are closed now (system status `markets`): info, never a blocker.
function MarketNotices({ markets }) {
  const closed = (markets || []).filter((m) => !m.open);
  if (closed.length === 0) return null;
  return html`<section data-testid="market-notices">${closed.map((m) => html`<div data-calendar=${m.calendar}>
    <${MarketClosed} m=${m} testid="market-closed" />
    <div class="muted small">${m.calendar_name}: ${(m.symbols || []).join(', ')}</div></div>`)}</section>`;
}

export function Overview() {
  const s = usePoll('/api/system/status', 5000);
  // which providers are reached at a non-default host (labelled in the live stack)
  const st = usePoll('/api/integrations/status', 15000);
  const hosts = st.data ? Object.fromEntries(st.data.providers.map((p) => [p.id, p])) : null;
  if (s.error) return html`<${DegradedBanner} error=${s.error} what="System status" />`;
  if (!s.data) return html`<${Loading} what="system status" />`;
  const d = s.data;
  const ls = d.live_stack || {};
  return html`<div>
    <div class="headline">
      <div class="big-status" data-testid="system-status">System <${Badge} value=${d.system_status} testid="system-status-badge" /></div>
      <div data-testid="autonomy-allowed">Autonomy allowed: <${YesNo} value=${d.autonomy_allowed} /></div>
      <div class="muted small">evaluated ${fmtTime(d.evaluated_at || d.ts)} · <${TraceId} id=${d.evaluation_trace_id || d.trace_id} label="evaluation" /></div>
      <${Updated} at=${s.at} />
    </div>
    <${DegradedBanner} error=${st.error} what="Integrations status (host labels of the live stack)" />
    <${MarketNotices} markets=${d.markets} />
    <section class="card"><h2>Blockers (${(d.blockers || []).length})</h2><${Blockers} blockers=${d.blockers} /></section>
    <h2>Live stack</h2>
    <div class="grid">
      <${Category} title="Market data" cat=${ls.marketData} hosts=${hosts} />
      <${Category} title="Execution" cat=${ls.execution} hosts=${hosts} />
      <${Category} title="LLM" cat=${ls.llm} backupsKey="fallbacks" hosts=${hosts} />
      <section class="card"><h3>Infrastructure</h3><dl class="kv">
        ${Object.entries(ls.infra || {}).map(([k, v]) => html`<dt>${k}</dt><dd><${Badge} value=${v} /></dd>`)}
      </dl></section>
    </div>
    <div class="grid">
      <section class="card"><h3>Scheduler</h3>${d.scheduler ? html`<dl class="kv">
        <dt>active</dt><dd><${YesNo} value=${d.scheduler.active} /></dd>
        <dt>leader</dt><dd><${YesNo} value=${d.scheduler.leader} /></dd>
        <dt>loop health</dt><dd><${Badge} value=${d.scheduler.loop_health} /></dd>
        <dt>last tick</dt><dd>${fmtTime(d.scheduler.last_tick_at)}</dd>
        <dt>open breakers</dt><dd>${(d.scheduler.circuit_breakers || []).length}</dd></dl>` : html`<p class="muted">not reported</p>`}
      </section>
      <section class="card"><h3>Policy</h3>${d.policy ? html`<dl class="kv">
        <dt>version</dt><dd><code>${d.policy.version || '—'}</code></dd>
        <dt>loaded</dt><dd>${fmtTime(d.policy.loaded_at)}</dd>
        <dt>last reload error</dt><dd>${d.policy.last_reload_error || 'none'}</dd></dl>` : html`<p class="muted">not reported</p>`}
      </section>
      <section class="card"><h3>Trading</h3>${d.trading ? html`<dl class="kv">
        <dt>live trading</dt><dd><${YesNo} value=${d.trading.enabled} yes="enabled" no="disabled" /></dd>
        <dt>mode</dt><dd>${d.trading.mode}</dd></dl>` : html`<p class="muted">not reported</p>`}
      </section>
    </div>
    <${Fleet} />
  </div>`;
}
