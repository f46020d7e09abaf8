// Variables: the catalog of what the system can give bots (GET /api/variables) — names, never values.
import { useState } from 'preact/hooks';
import { usePoll } from '../api.js';
import { html, Badge, DegradedBanner, Loading, Updated, fmtTime } from '../ui.js';

export function Variables() {
  const [category, setCategory] = useState('');
  const [availability, setAvailability] = useState('');
  const qs = new URLSearchParams({ limit: '500' });
  if (category) qs.set('category', category);
  if (availability) qs.set('availability', availability);
  const v = usePoll(`/api/variables?${qs}`, 10000);
  return html`<div>
    <p class="muted">A catalog of available variables, not a promise they are profitable. Values are never shown.</p>
    <div class="filters">
      <label>Category <select value=${category} onChange=${(e) => setCategory(e.currentTarget.value)}>
        <option value="">any</option>${['market_data', 'execution', 'risk', 'ai'].map((c) => html`<option value=${c}>${c}</option>`)}</select></label>
      <label>Availability <select value=${availability} onChange=${(e) => setAvailability(e.currentTarget.value)}>
        <option value="">any</option>${['OK', 'DEGRADED', 'BLOCKED'].map((c) => html`<option value=${c}>${c}</option>`)}</select></label>
      <${Updated} at=${v.at} />
    </div>
    <${DegradedBanner} error=${v.error} what="Variable catalog" />
    ${!v.error && !v.data && html`<${Loading} what="variables" />`}
    ${v.data && html`<div class="table-wrap"><table data-testid="variables"><thead><tr><th>name</th><th>category</th><th>type</th>
      <th>source</th><th>availability</th><th>last seen</th><th>used by bots</th><th>state</th></tr></thead>
      <tbody>${v.data.variables.map((x) => html`<tr><td><code>${x.name}</code><div class="small muted">${x.description || ''}</div></td>
        <td>${x.category}</td><td>${x.variable_type}</td><td>${x.source_integration || '—'}</td>
        <td><${Badge} value=${x.availability} />${x.availability_reason ? html`<div class="small">${x.availability_reason}</div>` : null}</td>
        <td>${x.last_seen_at ? fmtTime(x.last_seen_at) : html`<span class="muted">never</span>`}</td>
        <td>${(x.used_by_bot_ids || []).length}</td><td><${Badge} value=${x.state} /></td></tr>`)}</tbody></table></div>`}
  </div>`;
}
