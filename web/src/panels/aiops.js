// AI Ops: LLM calls, errors, latency, tokens and models per provider (GET /api/ai-ops).
import { useState } from 'preact/hooks';
import { usePoll } from '../api.js';
import { html, Badge, DegradedBanner, Loading, Updated, ago, num, fmtTime } from '../ui.js';

export function AiOps() {
  const [win, setWin] = useState(24);
  const a = usePoll(`/api/ai-ops?window_h=${win}`, 10000);
  return html`<div>
    <div class="filters"><label>Window <select value=${win} onChange=${(e) => setWin(parseInt(e.currentTarget.value, 10))} data-testid="ai-window">
      ${[1, 24, 168, 720].map((h) => html`<option value=${h}>${h} h</option>`)}</select></label><${Updated} at=${a.at} /></div>
    <${DegradedBanner} error=${a.error} what="AI Ops" />
    ${!a.error && !a.data && html`<${Loading} what="AI usage" />`}
    ${a.data && html`<div>
      <p data-testid="ai-totals">${fmtTime(a.data.since)} – ${fmtTime(a.data.until)}: <strong>${a.data.totals.calls}</strong> calls,
        <strong>${a.data.totals.errors}</strong> errors, ${a.data.totals.input_tokens} input / ${a.data.totals.output_tokens} output tokens.
        Prompts and answers are never stored, so never shown.</p>
      <div class="table-wrap"><table data-testid="ai-providers"><thead><tr><th>provider</th><th>state</th><th>calls (ok / errors)</th>
        <th>latency p50 / p95</th><th>tokens in / out</th><th>models</th><th>purposes</th><th>last call</th></tr></thead>
        <tbody>${a.data.providers.map((p) => html`<tr><td>${p.label || p.provider_id}</td>
          <td><${Badge} value=${p.state} /></td>
          <td>${p.calls} (${p.ok} / ${p.errors})${p.errors_by_code && Object.keys(p.errors_by_code).length ? html`<div class="small">${Object.entries(p.errors_by_code).map(([k, v]) => `${k}: ${v}`).join(', ')}</div>` : null}</td>
          <td>${p.latency_ms ? `${num(p.latency_ms.p50)} / ${num(p.latency_ms.p95)} ms` : '—'}</td>
          <td>${p.input_tokens} / ${p.output_tokens}</td>
          <td class="small">${(p.models || []).map((m) => `${m.model} (${m.calls})`).join(', ') || '—'}</td>
          <td class="small">${Object.entries(p.purposes || {}).map(([k, v]) => `${k}: ${v}`).join(', ') || '—'}</td>
          <td class="small">${p.last_call_at ? `${ago(p.last_call_at)} · ${p.last_status || ''}` : 'never'}${p.last_trace_id ? html`<div><code>${p.last_trace_id}</code></div>` : null}</td>
        </tr>`)}</tbody></table></div></div>`}
  </div>`;
}
