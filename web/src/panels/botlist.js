// The Bots tab's list: GET /api/bots joined with ONE GET /api/portfolio (never a call per bot) — each row with
// its position, today's P&L (day_net), total P&L (net) and last trade time; columns sort on a click of their
// header. "New bot" opens the form (botform.js); "Clone" asks a name and opens the copy.
import { useState } from 'preact/hooks';
import { usePoll } from '../api.js';
import { may, roleHint, useSession } from '../session.js';
import { html, ActionResult, Badge, DegradedBanner, Loading, MarketClosed, Updated, fmtTime } from '../ui.js';
import { Money, fmtNum } from '../money.js';
import { CompactScore } from './autonomyview.js';
import { NewBotForm, cloneBot } from './botform.js';

// The portfolio row of a bot: the one of its current stage, else its first.
function rowsByBot(pf) {
  const m = new Map();
  for (const r of (pf && pf.bots) || []) {
    const prev = m.get(r.bot_id);
    if (!prev) m.set(r.bot_id, [r]);
    else prev.push(r);
  }
  return m;
}

const COLUMNS = [
  ['name', 'bot', (b) => b.name],
  ['strategy', 'strategy', (b) => b.strategy],
  ['symbol', 'symbol', (b) => b.symbol],
  ['stage', 'stage', (b) => b.stage],
  ['state', 'state', (b) => (b.instance ? b.instance.state : null)],
  ['position', 'position', (b) => (b.pnl ? b.pnl.position_qty : null)],
  ['day_net', "today's P&L", (b) => (b.pnl ? b.pnl.day_net : null)],
  ['net', 'total P&L', (b) => (b.pnl ? b.pnl.net : null)],
  ['last_fill_at', 'last trade', (b) => (b.pnl && b.pnl.last_fill_at ? Date.parse(b.pnl.last_fill_at) : null)],
];

// Sorts by a column; absent values (unknown, never traded) always last, whatever the direction.
export function sortBots(bots, key, dir) {
  const col = COLUMNS.find((c) => c[0] === key) || COLUMNS[0];
  const get = col[2];
  return [...bots].sort((a, b) => {
    const x = get(a);
    const y = get(b);
    if (x === null || x === undefined) return y === null || y === undefined ? 0 : 1;
    if (y === null || y === undefined) return -1;
    const c = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
    return dir === 'desc' ? -c : c;
  });
}

function SortHeader({ col, sort, setSort }) {
  const [key, label] = col;
  const active = sort.key === key;
  const next = active && sort.dir === 'asc' ? 'desc' : 'asc';
  return html`<th aria-sort=${active ? (sort.dir === 'asc' ? 'ascending' : 'descending') : 'none'}>
    <button type="button" class="sort" data-testid=${`sort-${key}`} onClick=${() => setSort({ key, dir: next })}>
      ${label}${active ? (sort.dir === 'asc' ? ' ▲' : ' ▼') : ''}</button></th>`;
}

export function BotList() {
  const session = useSession();
  const l = usePoll('/api/bots?limit=200', 5000);
  const pf = usePoll('/api/portfolio', 5000);
  const [sort, setSort] = useState({ key: 'name', dir: 'asc' });
  const [creating, setCreating] = useState(false);
  const [cloned, setCloned] = useState(null);
  const canAct = may(session, 'operator');
  const head = html`<div class="actions">
    <button type="button" class="primary" data-testid="new-bot" disabled=${!canAct || creating} onClick=${() => setCreating(true)}>New bot</button>
    ${!canAct && html`<span class="muted small">${roleHint(session, 'operator')}</span>`}</div>
    ${creating && html`<${NewBotForm} onCancel=${() => setCreating(false)}
      onCreated=${(bot) => { setCreating(false); window.location.hash = `#/bots/${bot.id}`; }} />`}
    ${cloned && html`<${ActionResult} result=${cloned} />`}`;
  if (l.error) return html`<div>${head}<${DegradedBanner} error=${l.error} what="Bots" /></div>`;
  if (!l.data) return html`<div>${head}<${Loading} what="bots" /></div>`;
  const bots = l.data.bots || [];
  if (bots.length === 0) return html`<div>${head}<p data-testid="no-bots">No bots yet. Create one with "New bot".</p></div>`;
  const byBot = rowsByBot(pf.data && pf.data.portfolio);
  const rows = sortBots(bots.map((b) => {
    const mine = byBot.get(b.id) || [];
    return { ...b, pnl: mine.find((r) => r.stage === b.stage) || mine[0] || null };
  }), sort.key, sort.dir);
  const clone = async (b) => {
    const r = await cloneBot(b);
    if (!r) return;
    if (r.ok) window.location.hash = `#/bots/${r.data.bot.id}`;
    else setCloned(r);
  };
  return html`<div>${head}<${Updated} at=${l.at} />
    ${pf.error && html`<${DegradedBanner} error=${pf.error} what="Portfolio (position and P&L columns)" />`}
    <div class="table-wrap"><table data-testid="bot-list" data-sort=${`${sort.key}:${sort.dir}`}>
    <thead><tr>${COLUMNS.slice(0, 5).map((c) => html`<${SortHeader} col=${c} sort=${sort} setSort=${setSort} />`)}<th>autonomy</th>
      ${COLUMNS.slice(5).map((c) => html`<${SortHeader} col=${c} sort=${sort} setSort=${setSort} />`)}<th></th></tr></thead>
    <tbody>${rows.map((b) => html`<tr data-bot=${b.id} data-name=${b.name}>
      <td><a href=${`#/bots/${b.id}`} data-testid=${`bot-link-${b.name}`}>${b.name}</a></td>
      <td>${b.strategy}</td><td>${b.symbol} · ${b.timeframe}
        <div><${MarketClosed} m=${b.market} compact testid=${`market-closed-${b.name}`} /></div></td>
      <td><${Badge} value=${b.stage} tone="neutral" /></td>
      <td>${b.instance ? html`<${Badge} value=${b.instance.state} />` : html`<span class="muted">never started</span>`}</td>
      <td><${CompactScore} botId=${b.id} /></td>
      <td data-testid="row-position">${b.pnl ? fmtNum(b.pnl.position_qty) : html`<span class="muted">—</span>`}</td>
      <td data-testid="row-day-net">${b.pnl ? html`<${Money} value=${b.pnl.day_net} reason=${b.pnl.unknown_reason} />` : html`<span class="muted">—</span>`}</td>
      <td data-testid="row-net">${b.pnl ? html`<${Money} value=${b.pnl.net} reason=${b.pnl.unknown_reason} />` : html`<span class="muted">—</span>`}</td>
      <td data-testid="row-last-fill">${b.pnl && b.pnl.last_fill_at ? fmtTime(b.pnl.last_fill_at) : html`<span class="muted">never</span>`}</td>
      <td><button type="button" class="link" data-testid=${`clone-${b.name}`} disabled=${!canAct} onClick=${() => clone(b)}>Clone</button></td>
    </tr>`)}</tbody></table></div></div>`;
}
