// botpage.js — what a bot did, on its page (#/bots/<id>): the price chart of the bars it used with a marker per
// fill (click → "Why traded" for that fill's decision trace) and its no-trade spans; its P&L over a window
// (1d/7d/30d/all) with the equity curve and drawdown, next to its backtests for comparison; its positions,
// orders and fills. Routes: /api/bots/:id/{bars,fills,no-trade-traces,pnl,positions,orders}.
import { useState } from 'preact/hooks';
import { usePoll } from '../api.js';
import { html, Badge, DegradedBanner, Loading, Updated, fmtTime } from '../ui.js';
import { Money, PnlStats, fmtNum } from '../money.js';
import { EquityChart, PriceChart } from './pricechart.js';
import { Backtests } from './backtests.js';
import { STAGES } from './portfolio.js';

const WINDOWS = ['1d', '7d', '30d', 'all'];
const NO_MULTIPLIER = 'no contract multiplier for this symbol in scripts/instruments.lua';

function WhyButton({ id, onWhy }) {
  if (!id) return html`<span class="muted small">no trace</span>`;
  return html`<button type="button" class="link" data-testid="why-trace" data-trace=${id} onClick=${() => onWhy(id)}>Why</button>`;
}

function PriceCard({ bot, fills, onWhy }) {
  const bars = usePoll(`/api/bots/${bot.id}/bars`, 15000); // a 1m bar changes at most every few seconds
  const list = bars.data ? bars.data.bars || [] : [];
  const since = list.length ? list[0].t : null;
  const nt = usePoll(since ? `/api/bots/${bot.id}/no-trade-traces?limit=500&since=${encodeURIComponent(since)}` : null, 10000);
  return html`<section class="card" data-testid="price-card"><h2>Price and trades <span class="muted small">${bot.symbol} · ${bot.timeframe}
    ${bars.data && bars.data.bars && ` · ${bars.data.bars.length} bars`}</span></h2>
    ${bars.error && html`<${DegradedBanner} error=${bars.error} what="Bars (GET /api/bots/:id/bars)" />`}
    ${fills.error && html`<${DegradedBanner} error=${fills.error} what="Fills (the chart's markers)" />`}
    ${nt.error && html`<${DegradedBanner} error=${nt.error} what="No-trade traces (the shaded spans)" />`}
    ${!bars.error && !bars.data && html`<${Loading} what="bars" />`}
    ${bars.data && fills.data && html`<${PriceChart} bars=${list} fills=${fills.data.fills} traces=${nt.data ? nt.data.traces : []}
      timeframe=${bot.timeframe} onMarker=${(f) => onWhy(f.decision_trace_id, f)} />`}
  </section>`;
}

// P&L of one stage of the bot (default its current stage; PAPER, SHADOW and LIVE are never added together).
export function PnlCard({ bot }) {
  const [win, setWin] = useState('7d');
  const [stage, setStage] = useState(bot.stage);
  const p = usePoll(`/api/bots/${bot.id}/pnl?window=${win}&stage=${stage}`, 5000);
  const pnl = p.data && p.data.pnl;
  const choice = (list, cur, set, prefix, label) => html`<div class="actions" role="group" aria-label=${label}>${list.map((w) => html`<button
    type="button" class=${w === cur ? 'primary' : ''} aria-pressed=${w === cur ? 'true' : 'false'} data-testid=${`${prefix}-${w}`}
    onClick=${() => set(w)}>${w}</button>`)}</div>`;
  return html`<section class="card" data-testid="pnl-card"><h2>P&L <${Badge} value=${stage} tone="neutral" /></h2>
    ${choice(STAGES, stage, setStage, 'pnl-stage', 'P&L stage')}
    ${choice(WINDOWS, win, setWin, 'pnl-window', 'P&L window')}
    ${p.error && html`<${DegradedBanner} error=${p.error} what="P&L (GET /api/bots/:id/pnl)" />`}
    ${!p.error && !pnl && html`<${Loading} what="P&L" />`}
    ${pnl && html`<div data-testid="pnl" data-window=${pnl.window} data-stage=${pnl.stage || stage}>
      <p class="muted small">${fmtTime(pnl.since)} → ${fmtTime(pnl.until)} · ${pnl.method === 'average_cost' ? 'average cost' : pnl.method} ·
        ${pnl.currency} · ${fmtNum(pnl.fills)} fills</p>
      ${pnl.unknown_reason && html`<p class="note small" data-testid="pnl-unknown-reason">${pnl.unknown_reason}</p>`}
      <${PnlStats} s=${pnl} prefix="pnl" unit=${pnl.currency || 'USD'} />
      <${EquityChart} points=${pnl.equity} unit=${pnl.currency || 'USD'} testid="equity-chart" title=${`Equity, ${pnl.window}`} /></div>`}
    <${Updated} at=${p.at} />
  </section>`;
}

function Positions({ bot }) {
  const p = usePoll(`/api/bots/${bot.id}/positions`, 5000);
  if (p.error) return html`<${DegradedBanner} error=${p.error} what="Positions" />`;
  if (!p.data) return html`<${Loading} what="positions" />`;
  const rows = p.data.positions || [];
  if (rows.length === 0) return html`<p data-testid="positions-none">No position: this bot has no fill yet.</p>`;
  return html`<div class="table-wrap"><table data-testid="positions">
    <thead><tr><th>stage</th><th>symbol</th><th>qty</th><th>avg price</th><th>mark</th><th>multiplier</th><th>unrealized</th>
      <th>realized</th><th>fees</th><th>opened</th><th>last fill</th></tr></thead>
    <tbody>${rows.map((r) => html`<tr data-stage=${r.stage} data-symbol=${r.symbol}>
      <td><${Badge} value=${r.stage} tone="neutral" /></td><td>${r.symbol}</td>
      <td data-testid="pos-qty" data-value=${String(r.qty)}>${fmtNum(r.qty)}</td>
      <td data-testid="pos-avg" data-value=${String(r.avg_price)}>${fmtNum(r.avg_price)}</td>
      <td>${fmtNum(r.mark)}${r.marked_at ? html`<div class="muted small">${fmtTime(r.marked_at)}</div>` : ''}</td>
      <td>${r.multiplier ?? html`<span class="unknown" title=${r.unknown_reason || NO_MULTIPLIER}>unknown</span>`}</td>
      <td><${Money} value=${r.unrealized} reason=${r.unknown_reason} testid="pos-unrealized" /></td>
      <td><${Money} value=${r.realized} reason=${r.unknown_reason} testid="pos-realized" /></td>
      <td><${Money} value=${r.fees} reason=${r.unknown_reason} testid="pos-fees" signed=${false} /></td>
      <td>${fmtTime(r.opened_at)}</td><td>${fmtTime(r.last_fill_at)}</td></tr>`)}</tbody></table></div>`;
}

function Orders({ bot, onWhy }) {
  const o = usePoll(`/api/bots/${bot.id}/orders?limit=50`, 5000);
  if (o.error) return html`<${DegradedBanner} error=${o.error} what="Orders" />`;
  if (!o.data) return html`<${Loading} what="orders" />`;
  const rows = o.data.orders || [];
  if (rows.length === 0) return html`<p data-testid="orders-none">No orders yet.</p>`;
  return html`<div class="table-wrap"><table data-testid="orders">
    <thead><tr><th>created</th><th>stage</th><th>broker</th><th>side</th><th>qty</th><th>type</th><th>status</th><th>filled</th>
      <th>avg fill</th><th>reason</th><th>why</th></tr></thead>
    <tbody>${rows.map((r) => html`<tr data-order=${r.id} data-status=${r.status}>
      <td>${fmtTime(r.created_at)}</td><td>${r.stage}</td><td>${r.broker || '—'}${r.broker_order_id ? html`<div class="small"><code>${r.broker_order_id}</code></div>` : ''}</td>
      <td>${r.side}</td><td>${fmtNum(r.qty)}</td>
      <td>${r.order_type}${r.limit_price !== null && r.limit_price !== undefined ? ` @ ${fmtNum(r.limit_price)}` : ''}${r.stop_price !== null && r.stop_price !== undefined ? ` stop ${fmtNum(r.stop_price)}` : ''}</td>
      <td><${Badge} value=${r.status} /></td><td>${fmtNum(r.filled_qty)}</td><td>${fmtNum(r.avg_fill_price)}</td>
      <td>${r.reason_code ? html`<code>${r.reason_code}</code> <span class="small">${r.reason_human || ''}</span>` : html`<span class="muted">—</span>`}</td>
      <td><${WhyButton} id=${r.decision_trace_id} onWhy=${onWhy} /></td></tr>`)}</tbody></table></div>
    ${o.data.next_cursor && html`<p class="muted small">The 50 newest orders are shown.</p>`}`;
}

function Fills({ fills, onWhy }) {
  if (fills.error) return html`<${DegradedBanner} error=${fills.error} what="Fills" />`;
  if (!fills.data) return html`<${Loading} what="fills" />`;
  const rows = fills.data.fills || [];
  if (rows.length === 0) return html`<p data-testid="fills-none">No fills yet.</p>`;
  return html`<div class="table-wrap"><table data-testid="fills">
    <thead><tr><th>filled</th><th>stage</th><th>side</th><th>qty</th><th>price</th><th>fee</th><th>closed</th><th>realized</th>
      <th>points</th><th>why</th></tr></thead>
    <tbody>${rows.map((f) => html`<tr data-fill=${f.id}>
      <td>${fmtTime(f.filled_at)}${f.simulated ? html` <span class="muted small">simulated</span>` : ''}</td><td>${f.stage}</td>
      <td>${f.side}</td><td>${fmtNum(f.qty)}</td><td data-testid="fill-price">${fmtNum(f.price)}</td>
      <td><${Money} value=${f.fee} signed=${false} /></td><td>${fmtNum(f.closed_qty)}</td>
      <td><${Money} value=${f.realized} reason=${f.unknown_reason || NO_MULTIPLIER} /></td><td>${fmtNum(f.realized_points)}</td>
      <td><${WhyButton} id=${f.decision_trace_id} onWhy=${onWhy} /></td></tr>`)}</tbody></table></div>
    ${fills.data.next_cursor && html`<p class="muted small">The ${rows.length} newest fills are shown and drawn.</p>`}`;
}

// The trading half of the bot page. onWhy(decisionTraceId, fill?) opens the Why traded drawer on that trace;
// job: the backtest whose results the URL names (#/bots/<id>/backtests/<job>).
export function Trading({ bot, onWhy, job }) {
  const fills = usePoll(`/api/bots/${bot.id}/fills?limit=500`, 5000);
  const bars = usePoll(`/api/bots/${bot.id}/bars?limit=1`, 15000);
  const last = bars.data && bars.data.bars && bars.data.bars.length ? bars.data.bars[bars.data.bars.length - 1].t : null;
  return html`<div data-testid="trading">
    <${PriceCard} bot=${bot} fills=${fills} onWhy=${onWhy} />
    <div class="grid compare">
      <${PnlCard} bot=${bot} />
      <section class="card" data-testid="backtest-card"><h2>Backtest</h2><${Backtests} bot=${bot} lastBarT=${last} job=${job} /></section>
    </div>
    <section class="card"><h2>Positions</h2><${Positions} bot=${bot} /></section>
    <section class="card"><h2>Orders</h2><${Orders} bot=${bot} onWhy=${onWhy} /></section>
    <section class="card"><h2>Fills</h2><${Fills} fills=${fills} onWhy=${onWhy} /></section>
  </div>`;
}
