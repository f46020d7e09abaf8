// Autonomy: tier counts (GET /api/system/status bots.byAutonomyTier), the global gate, and every bot's score.
import { usePoll } from '../api.js';
import { html, Badge, DegradedBanner, Loading, Updated } from '../ui.js';
import { Blockers } from './overview.js';
import { CompactScore } from './autonomyview.js';

const TIERS = ['LOCKED', 'SUPERVISED', 'LIMITED_AUTONOMY', 'FULL_AUTONOMY'];

export function Autonomy() {
  const s = usePoll('/api/system/status', 5000);
  const l = usePoll('/api/bots?limit=200', 10000);
  return html`<div>
    ${s.error ? html`<${DegradedBanner} error=${s.error} what="System status (tier counts, global gate)" />`
      : !s.data ? html`<${Loading} what="tier counts" />`
      : html`<section class="card"><h2>Global autonomy <${Badge} value=${s.data.autonomy.global_status} testid="global-autonomy" /> <${Updated} at=${s.at} /></h2>
        <div class="badges" data-testid="tier-counts">${TIERS.map((t) => html`<div class="proof-badge" data-tier=${t}>
          <strong>${s.data.bots.byAutonomyTier[t]}</strong><${Badge} value=${t} /></div>`)}</div>
        <h3>Blockers</h3><${Blockers} blockers=${s.data.autonomy.blockers} testid="autonomy-global-blockers" /></section>`}
    <section class="card"><h2>Per bot</h2>
      ${l.error ? html`<${DegradedBanner} error=${l.error} what="Bots" />` : !l.data ? html`<${Loading} what="bots" />`
        : l.data.bots.length === 0 ? html`<p>No bots yet.</p>`
        : html`<div class="table-wrap"><table data-testid="autonomy-bots"><thead><tr><th>bot</th><th>stage</th><th>score and tier</th></tr></thead>
          <tbody>${l.data.bots.map((b) => html`<tr><td><a href=${`#/bots/${b.id}`}>${b.name}</a></td><td>${b.stage}</td>
            <td><${CompactScore} botId=${b.id} /></td></tr>`)}</tbody></table></div>`}
    </section></div>`;
}
