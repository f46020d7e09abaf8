// Events: system events (GET /api/system/events) newest first, filtered by kind, with their trace ids.
import { useState } from 'preact/hooks';
import { usePoll } from '../api.js';
import { html, Badge, DegradedBanner, Json, Loading, Updated, fmtTime } from '../ui.js';

export function Events() {
  const [kind, setKind] = useState('');
  const [limit, setLimit] = useState(100);
  const q = `/api/system/events?limit=${limit}${kind ? `&kind=${encodeURIComponent(kind)}` : ''}`;
  const e = usePoll(q, 5000);
  return html`<div>
    <div class="filters" role="search">
      <label>Kind <input value=${kind} placeholder="e.g. verify, gate, kill" onChange=${(ev) => setKind(ev.currentTarget.value.trim())}
        data-testid="filter-kind" /></label>
      <label>Show <select value=${limit} onChange=${(ev) => setLimit(parseInt(ev.currentTarget.value, 10))}>
        ${[50, 100, 500].map((n) => html`<option value=${n}>${n}</option>`)}</select></label>
      <${Updated} at=${e.at} />
    </div>
    <${DegradedBanner} error=${e.error} what="System events" />
    ${!e.error && !e.data && html`<${Loading} what="events" />`}
    ${e.data && (e.data.events.length === 0 ? html`<p>No system events${kind ? ` of kind ${kind}` : ''}.</p>`
      : html`<div class="table-wrap"><table data-testid="system-events"><thead><tr><th>time</th><th>kind</th><th>severity</th>
        <th>subject</th><th>message</th><th>trace</th></tr></thead>
        <tbody>${e.data.events.map((x) => html`<tr><td>${fmtTime(x.created_at)}</td><td><code>${x.kind}</code></td>
          <td><${Badge} value=${x.severity} /></td><td class="small">${x.subject || ''}</td>
          <td>${x.message}${x.metadata && Object.keys(x.metadata).length ? html`<details><summary class="small">metadata</summary><${Json} value=${x.metadata} /></details>` : null}</td>
          <td>${x.trace_id ? html`<code class="small">${x.trace_id}</code>` : '—'}</td></tr>`)}</tbody></table></div>`)}
  </div>`;
}
