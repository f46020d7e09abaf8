// Portfolio: GET /api/portfolio in one call — the totals of each stage (PAPER, SHADOW and LIVE side by side,
// never added together: paper money is not live money), the exposure per stage and symbol, and every bot's
// position and P&L. A value the server could not compute (no contract multiplier, no mark) reads "unknown"
// with its reason, never 0.
import { usePoll } from '../api.js';
import { html, Badge, DegradedBanner, Loading, Updated, fmtTime } from '../ui.js';
import { Money, fmtNum } from '../money.js';

export const STAGES = ['PAPER', 'SHADOW', 'LIVE'];
// the API's notional is null exactly when one of these is missing (its exposure rows carry no reason of their own)
const NOTIONAL_UNKNOWN = 'no contract multiplier or no mark for this symbol';

function StageCard({ stage, t }) {
  if (!t) {
    return html`<section class="card stage-card" data-testid=${`stage-${stage}`}><h3>${stage}</h3>
      <p class="muted">Not reported by the server.</p></section>`;
  }
  const m = (k) => html`<${Money} value=${t[k]} reason=${t.unknown_reason} testid=${`stage-${stage}-${k}`} />`;
  return html`<section class="card stage-card" data-testid=${`stage-${stage}`}>
    <h3><${Badge} value=${stage} tone="neutral" /> <span class="muted small">${t.bots} bot(s) · ${t.open_positions} open position(s)</span></h3>
    <dl class="kv">
      <dt>today (UTC)</dt><dd>${m('day_net')}</dd>
      <dt>realized</dt><dd>${m('realized')}</dd>
      <dt>unrealized</dt><dd>${m('unrealized')}</dd>
      <dt>fees</dt><dd>${m('fees')}</dd>
      <dt>net</dt><dd><strong>${m('net')}</strong></dd>
    </dl></section>`;
}

function Exposure({ rows }) {
  if (!rows || rows.length === 0) return html`<p data-testid="exposure-none">No open position: no exposure.</p>`;
  return html`<div class="table-wrap"><table data-testid="exposure">
    <thead><tr><th>stage</th><th>symbol</th><th>net qty</th><th>gross qty</th><th>notional USD</th><th>bots</th></tr></thead>
    <tbody>${rows.map((r) => html`<tr data-stage=${r.stage} data-symbol=${r.symbol}>
      <td><${Badge} value=${r.stage} tone="neutral" /></td><td>${r.symbol}</td><td>${fmtNum(r.net_qty)}</td><td>${fmtNum(r.gross_qty)}</td>
      <td><${Money} value=${r.notional} reason=${r.unknown_reason || NOTIONAL_UNKNOWN} signed=${false} /></td><td>${fmtNum(r.bots)}</td></tr>`)}</tbody>
  </table></div>`;
}

function BotRows({ rows }) {
  if (!rows || rows.length === 0) return html`<p data-testid="portfolio-no-bots">No bots yet.</p>`;
  return html`<div class="table-wrap"><table data-testid="portfolio-bots">
    <thead><tr><th>bot</th><th>stage</th><th>symbol</th><th>position</th><th>avg price</th><th>mark</th><th>today</th>
      <th>realized</th><th>unrealized</th><th>fees</th><th>net</th><th>last trade</th></tr></thead>
    <tbody>${rows.map((b) => html`<tr data-bot=${b.bot_id} data-stage=${b.stage}>
      <td><a href=${`#/bots/${b.bot_id}`}>${b.name}</a></td><td><${Badge} value=${b.stage} tone="neutral" /></td><td>${b.symbol}</td>
      <td>${fmtNum(b.position_qty)}</td><td>${fmtNum(b.avg_price)}</td><td>${fmtNum(b.mark)}</td>
      <td><${Money} value=${b.day_net} reason=${b.unknown_reason} /></td>
      <td><${Money} value=${b.realized} reason=${b.unknown_reason} /></td>
      <td><${Money} value=${b.unrealized} reason=${b.unknown_reason} /></td>
      <td><${Money} value=${b.fees} reason=${b.unknown_reason} signed=${false} /></td>
      <td><${Money} value=${b.net} reason=${b.unknown_reason} /></td>
      <td>${fmtTime(b.last_fill_at)}</td></tr>`)}</tbody>
  </table></div>`;
}

export function Portfolio() {
  const p = usePoll('/api/portfolio', 5000);
  if (p.error) return html`<${DegradedBanner} error=${p.error} what="Portfolio" />`;
  if (!p.data) return html`<${Loading} what="portfolio" />`;
  const pf = p.data.portfolio || {};
  const stages = pf.stages || {};
  return html`<div data-testid="portfolio">
    <p class="muted small">As of ${fmtTime(pf.as_of)} · the day is ${pf.day || '—'} (UTC) · USD, average cost · stages are never
      added together. <${Updated} at=${p.at} /></p>
    <div class="grid" data-testid="stage-totals">${STAGES.map((s) => html`<${StageCard} stage=${s} t=${stages[s]} />`)}</div>
    <section class="card"><h2>Exposure per symbol</h2><${Exposure} rows=${pf.exposure} /></section>
    <section class="card"><h2>Bots</h2><${BotRows} rows=${pf.bots} /></section>
  </div>`;
}
