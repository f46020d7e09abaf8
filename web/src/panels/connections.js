// Connections: the Secrets Checklist (GET /api/integrations/status), Verify now, and a drawer per provider
// with its last 50 usage events (GET /api/integrations/:id/events) and their latency chart.
import { useState } from 'preact/hooks';
import { post, usePoll } from '../api.js';
import { may, roleHint, useSession } from '../session.js';
import { LatencyChart } from '../chart.js';
import { html, ActionResult, Badge, CopyButton, DegradedBanner, Drawer, Loading, TraceId, Updated, YesNo, ago,
  fmtTime, num } from '../ui.js';

// A provider reached at a host other than its default (a *_BASE_URL override): always labelled.
export function HostLabel({ p }) {
  if (!p.base_url_overridden) return null;
  return html`<span class="host-label" data-testid="host-label" title="A *_BASE_URL variable points this provider away from its default host">
    non-default host: ${p.base_url_host || 'unknown'}</span>`;
}

// Proof wording: "connected" is never shown as plain green without evidence of use.
function UseState({ p }) {
  if (p.connected && !p.in_use) return html`<span class="note-inline" data-testid="not-yet-used">Connected but not yet used</span>`;
  if (p.in_use) return html`<span>in use: ${num(p.proof_of_use_count_24h)} calls in 24 h, last ${ago(p.last_used_at)}</span>`;
  return html`<span class="muted">not used in 24 h</span>`;
}

function Vars({ names, masked, missing }) {
  if (!names || names.length === 0) return html`<span class="muted">none</span>`;
  return html`<ul class="vars">${names.map((v) => html`<li>
    <code>${v}</code> <${CopyButton} text=${v} label=${v} />
    ${masked && masked[v] ? html` <span class="masked" title="masked hint: last characters only">${masked[v]}</span>`
      : missing && missing.includes(v) ? html` <span class="no small">missing</span>` : null}
  </li>`)}</ul>`;
}

function ProviderDrawer({ p, onClose }) {
  const ev = usePoll(`/api/integrations/${encodeURIComponent(p.id)}/events?limit=50`, 5000);
  const events = ev.data ? ev.data.events : null;
  return html`<${Drawer} title=${`${p.label || p.id} — last 50 usage events`} onClose=${onClose} testid="provider-drawer">
    <p><${Badge} value=${p.state} /> <${HostLabel} p=${p} /> <${Updated} at=${ev.at} /></p>
    <dl class="kv">
      <dt>last verified</dt><dd>${fmtTime(p.last_verified_at)}</dd>
      <dt>latency (last / p50 / p95)</dt><dd>${p.latency_ms ? `${num(p.latency_ms.last)} / ${num(p.latency_ms.p50)} / ${num(p.latency_ms.p95)} ms` : '—'}</dd>
      <dt>last used by bot</dt><dd>${p.last_used_by_bot_id ? html`<code>${p.last_used_by_bot_id}</code>` : '—'}</dd>
      <dt>last feature used</dt><dd>${p.last_feature_used || '—'}</dd>
      <dt>last error (24 h)</dt><dd>${p.last_error_code_24h || 'none'}</dd>
    </dl>
    <${DegradedBanner} error=${ev.error} what="Usage events" />
    ${!ev.error && !events && html`<${Loading} what="usage events" />`}
    ${events && html`<${LatencyChart} events=${events} />
      <p class="small muted">${events.length} event(s) shown, newest first.</p>
      <${UsageTable} events=${events} />`}
  </${Drawer}>`;
}

export function UsageTable({ events, showProvider = false, empty = 'No usage events recorded.' }) {
  if (!events || events.length === 0) return html`<p data-testid="no-events">${empty}</p>`;
  return html`<div class="table-wrap"><table data-testid="usage-events">
    <thead><tr><th>time</th>${showProvider && html`<th>provider</th>`}<th>operation</th><th>status</th><th>bot</th>
      <th>latency</th><th>error</th><th>details</th><th>trace</th></tr></thead>
    <tbody>${events.map((e) => html`<tr>
      <td>${fmtTime(e.created_at)}</td>${showProvider && html`<td>${e.provider_id}</td>`}
      <td><code>${e.operation}</code></td><td><${Badge} value=${e.status} /></td>
      <td>${e.bot_id ? html`<code class="small">${e.bot_id.slice(0, 8)}</code>` : '—'}</td>
      <td>${e.latency_ms === null || e.latency_ms === undefined ? '—' : `${e.latency_ms} ms`}</td>
      <td>${e.error_code || ''}</td>
      <td class="small">${[e.symbol, e.timeframe, e.records !== undefined && e.records !== null ? `${e.records} records` : null]
        .filter(Boolean).join(' · ')}${e.metadata && e.metadata.model ? ` · ${e.metadata.model}` : ''}</td>
      <td>${e.trace_id ? html`<code class="small">${e.trace_id}</code>` : '—'}</td></tr>`)}</tbody></table></div>`;
}

export function Connections() {
  const session = useSession();
  const s = usePoll('/api/integrations/status', 5000);
  const [open, setOpen] = useState(null);
  const [busy, setBusy] = useState({});
  const [results, setResults] = useState({});
  const canVerify = may(session, 'operator') && !s.error;

  const verify = async (id) => {
    setBusy({ ...busy, [id]: true });
    const r = await post('/api/integrations/verify', { provider_id: id });
    setBusy((b) => ({ ...b, [id]: false }));
    setResults((x) => ({ ...x, [id]: r }));
    s.refresh();
  };

  if (s.error) return html`<${DegradedBanner} error=${s.error} what="Integrations status" />`;
  if (!s.data) return html`<${Loading} what="integrations" />`;
  const providers = s.data.providers || [];
  const openP = open && providers.find((p) => p.id === open);
  return html`<div>
    <p class="muted">The Secrets Checklist: each provider's variables (names only — values never leave the server,
      only a masked hint), its state from verify probes, and proof that bots really use it. <${Updated} at=${s.at} /></p>
    ${!canVerify && !s.error && html`<p class="muted small">${roleHint(session, 'operator')}</p>`}
    <div class="table-wrap"><table data-testid="secrets-checklist">
      <thead><tr><th>provider</th><th>required variables</th><th>optional variables</th><th>state</th>
        <th>use (24 h)</th><th>instructions</th><th>actions</th></tr></thead>
      <tbody>${providers.map((p) => {
        const r = results[p.id];
        return html`<tr data-provider=${p.id} data-testid=${`provider-${p.id}`}>
        <td><strong>${p.label || p.id}</strong><div class="small muted">${p.category}${p.required_for_autonomy ? ' · required for autonomy' : ''}</div>
          <${HostLabel} p=${p} /></td>
        <td><${Vars} names=${p.required_env_vars} masked=${p.masked} missing=${p.missing_env_vars} /></td>
        <td><${Vars} names=${p.optional_env_vars} masked=${p.masked} /></td>
        <td><${Badge} value=${p.state} testid=${`state-${p.id}`} />
          <div class="small">configured <${YesNo} value=${p.configured} /> · verified <${YesNo} value=${p.verified} /></div>
          ${p.last_verified_at && html`<div class="small muted">verified ${ago(p.last_verified_at)}</div>`}
          ${p.error_code && html`<div class="small"><code>${p.error_code}</code></div>`}</td>
        <td><${UseState} p=${p} /></td>
        <td class="small">${p.setup_instructions}${p.suggested_fix && p.suggested_fix !== p.setup_instructions ? html`<div class="fix">Fix: ${p.suggested_fix}</div>` : null}</td>
        <td><div class="actions">
          ${p.supports_verify && html`<button type="button" class="primary" data-testid=${`verify-${p.id}`}
            disabled=${!canVerify || !p.configured || busy[p.id]} onClick=${() => verify(p.id)}
            title=${!p.configured ? `Set ${(p.missing_env_vars || []).join(', ')} first` : null}>
            ${busy[p.id] ? 'Verifying…' : 'Verify now'}</button>`}
          <button type="button" onClick=${() => setOpen(p.id)} data-testid=${`details-${p.id}`}>Usage events</button></div>
          ${r && html`<${VerifyResult} r=${r} />`}</td></tr>`;
      })}</tbody></table></div>
    ${openP && html`<${ProviderDrawer} p=${openP} onClose=${() => setOpen(null)} />`}
  </div>`;
}

// A completed probe is HTTP 200 whatever its outcome; success says whether the outcome was OK.
function VerifyResult({ r }) {
  if (!r.ok) return html`<${ActionResult} result=${r} />`;
  const d = r.data;
  return html`<div class=${d.success ? 'result ok' : 'result refused'} role="status" data-testid="verify-result">
    <strong>${d.status}</strong> · ${d.reason_code}${d.latency_ms !== undefined && d.latency_ms !== null ? ` · ${d.latency_ms} ms` : ''}
    <div class="small">${d.reason_human}</div><${TraceId} id=${d.trace_id} /></div>`;
}
