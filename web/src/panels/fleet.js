// Fleet (Overview): the gatehouse instances sharing the bots on Postgres leases, from GET /api/system/instances.
// Ages come from the server (Postgres's clock, the one the leases run on), never from this browser's clock.
import { usePoll } from '../api.js';
import { html, Badge, DegradedBanner, num } from '../ui.js';

const secs = (v) => (v === null || v === undefined ? '—' : `${Math.max(0, Math.round(v))} s`);
const ms = (v) => (v === null || v === undefined ? '—' : `${Math.round(v * 10) / 10} ms`);

// "0–3, 7, 9–12" for the shards an instance holds (64 numbers would not fit a cell).
export function shardRanges(shards) {
  const out = [];
  for (let i = 0; i < shards.length; i++) {
    let j = i;
    while (j + 1 < shards.length && shards[j + 1] === shards[j] + 1) j++;
    out.push(j > i ? `${shards[i]}–${shards[j]}` : String(shards[i]));
    i = j;
  }
  return out.length ? out.join(', ') : 'none';
}

function InstanceRow({ x }) {
  return html`<tr data-instance=${x.id} data-testid="fleet-instance" class=${x.alive ? '' : 'muted'}>
    <td><strong>${x.host}</strong><div class="small muted">pid ${x.pid} · ${x.version}</div></td>
    <td><code title=${x.id}>${x.id.slice(0, 8)}</code>${x.leader && html` <${Badge} value="leader" tone="info" testid="fleet-leader" />`}</td>
    <td title=${(x.shards || []).join(', ')}>${x.owned_shards} <span class="small muted">(${shardRanges(x.shards || [])})</span></td>
    <td data-testid="fleet-bots">${x.owned_bots} / ${x.capacity}${x.over_capacity && html` <${Badge} value="over capacity" tone="warn" />`}</td>
    <td>${secs(x.last_seen_age_s)} ago</td>
    <td>${ms(x.lease_renew_ms)}</td>
    <td>${num(x.loop_lag_ms)} ms</td>
    <td><${Badge} value=${x.alive ? 'alive' : 'gone'} tone=${x.alive ? 'good' : 'muted'} /></td>
  </tr>`;
}

export function Fleet() {
  const f = usePoll('/api/system/instances', 5000);
  if (f.error) return html`<${DegradedBanner} error=${f.error} what="Fleet (instances and leases)" />`;
  if (!f.data) return null;
  const d = f.data;
  const unowned = (d.shards && d.shards.unowned) || [];
  const oldest = unowned.reduce((m, u) => Math.max(m, u.unowned_for_s), 0);
  const stranded = unowned.reduce((n, u) => n + u.running_bots, 0);
  return html`<section class="card" data-testid="fleet">
    <h2>Fleet (${d.instances.filter((x) => x.alive).length} alive)</h2>
    <p class="small muted">${d.shards ? `${d.shards.owned} of ${d.shards.count} shards owned` : ''}
      ${d.lease_s ? ` · lease ${d.lease_s} s` : ''}</p>
    ${unowned.length > 0 && html`<div class="notice" role="status" data-testid="fleet-unowned">
      <strong>${unowned.length} shard${unowned.length === 1 ? '' : 's'} unowned</strong> for up to ${secs(oldest)}
      · ${stranded} running bot${stranded === 1 ? '' : 's'} not ticked meanwhile</div>`}
    ${d.instances.length === 0 ? html`<p class="muted" data-testid="fleet-empty">No instance has joined the fleet yet.</p>` : html`
    <div class="table-wrap"><table data-testid="fleet-instances">
      <thead><tr><th>host</th><th>instance</th><th>shards</th><th>bots / capacity</th><th>last seen</th>
        <th>renew</th><th>loop lag</th><th>state</th></tr></thead>
      <tbody>${d.instances.map((x) => html`<${InstanceRow} x=${x} />`)}</tbody>
    </table></div>`}
  </section>`;
}
