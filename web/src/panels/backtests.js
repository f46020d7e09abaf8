// backtests.js — the bot page's backtests: "Run backtest" (start/end, POST /api/bots/:id/backtests, then GET
// /api/jobs/:id until the job ends), the earlier backtest jobs of the bot (GET /api/bots/:id/runs), and a
// result: its statistics in the same terms as live P&L (USD when the contract multiplier is known, else
// points), its equity curve, and its trades on the price chart of the bars it replayed
// (GET /api/bots/:id/bars?from=start&to=end).
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, post, usePoll } from '../api.js';
import { may, roleHint, useSession } from '../session.js';
import { html, ActionResult, Badge, DegradedBanner, Loading, TraceId, fmtTime } from '../ui.js';
import { PnlStats, fmtNum } from '../money.js';
import { EquityChart, PriceChart } from './pricechart.js';

const DONE = ['SUCCEEDED', 'FAILED', 'TIMEOUT'];
const iso = (s) => new Date(s * 1000).toISOString().replace(/\.\d+Z$/, 'Z');

// A backtest result in live P&L's terms. USD needs the multiplier; without it every amount is in points and
// says so. → {stats, unit}
export function backtestStats(r) {
  const usd = typeof r.multiplier === 'number';
  const m = usd ? r.multiplier : 1;
  const unrealPts = r.open_position && typeof r.open_position.unrealized === 'number' ? r.open_position.unrealized : null;
  const realized = usd ? r.pnl_usd ?? (typeof r.pnl === 'number' ? r.pnl * m : null) : r.pnl;
  const unrealized = unrealPts === null ? null : unrealPts * m;
  const fees = typeof r.fees === 'number' ? r.fees : 0;
  const net = [realized, unrealized].every((v) => typeof v === 'number') ? realized + unrealized - fees : null;
  const why = usd ? undefined : 'no contract multiplier for this symbol: amounts in points';
  return {
    unit: usd ? 'USD' : 'points',
    stats: { realized, unrealized, fees, net, trade_count: r.trade_count, win_rate: r.trade_count ? r.win_rate : null,
      profit_factor: r.profit_factor ?? null, max_drawdown: usd ? r.max_drawdown_usd ?? null : r.max_drawdown, unknown_reason: why },
  };
}

// The trades of a result as fills for the price chart: an entry and (when closed) an exit marker each.
function tradeFills(trades) {
  const out = [];
  (trades || []).forEach((t, i) => {
    out.push({ id: `bt-${i}-in`, side: t.side, qty: t.qty, price: t.entry_price, filled_at: iso(t.entry_t) });
    if (t.exit_t) out.push({ id: `bt-${i}-out`, side: t.side === 'BUY' ? 'SELL' : 'BUY', qty: t.qty, price: t.exit_price, filled_at: iso(t.exit_t) });
  });
  return out;
}

function BacktestResult({ bot, job }) {
  const r = job.result || {};
  const [picked, setPicked] = useState(null);
  const start = job.params && job.params.start;
  const end = job.params && job.params.end;
  const bars = usePoll(start && end ? `/api/bots/${bot.id}/bars?from=${encodeURIComponent(start)}&to=${encodeURIComponent(end)}&limit=10000` : null, 0);
  const { stats, unit } = backtestStats(r);
  return html`<div data-testid="backtest-result" data-job=${job.id}>
    <p class="small">Window ${fmtTime(start)} → ${fmtTime(end)} · ${fmtNum(r.bars)} bars from <code>${r.provider || '—'}</code>
      · ${fmtNum(r.orders)} orders, ${fmtNum(r.fills)} fills · multiplier ${r.multiplier ?? 'unknown'}</p>
    <${PnlStats} s=${stats} prefix="bt" unit=${unit} />
    <${EquityChart} points=${r.equity} unit=${unit} testid="bt-equity-chart" title="Backtest equity" />
    <h3>Trades on the bars it replayed</h3>
    ${bars.error && html`<${DegradedBanner} error=${bars.error} what="The backtest's bars" />`}
    ${!bars.error && !bars.data && start && html`<${Loading} what="bars" />`}
    ${bars.data && html`<${PriceChart} bars=${bars.data.bars} fills=${tradeFills(r.trades)} traces=${[]} timeframe=${bot.timeframe}
      testid="bt-price-chart" onMarker=${(f) => setPicked(f)} />`}
    ${picked && html`<p class="small" data-testid="bt-picked">${picked.side} ${fmtNum(picked.qty)} at ${fmtNum(picked.price)} on
      ${fmtTime(picked.filled_at)} (a simulated fill: a backtest writes no decision trace).</p>`}
    <details><summary>${(r.trades || []).length} round-trip trades</summary>
    <div class="table-wrap"><table data-testid="bt-trades"><thead><tr><th>side</th><th>qty</th><th>entry</th><th>entry price</th>
      <th>exit</th><th>exit price</th><th>P&L (points)</th></tr></thead>
      <tbody>${(r.trades || []).map((t) => html`<tr><td>${t.side}</td><td>${fmtNum(t.qty)}</td><td>${fmtTime(t.entry_t)}</td>
        <td>${fmtNum(t.entry_price)}</td><td>${fmtTime(t.exit_t)}</td><td>${fmtNum(t.exit_price)}</td><td>${fmtNum(t.pnl)}</td></tr>`)}</tbody>
    </table></div></details>
  </div>`;
}

// Follows a job until it ends (GET /api/jobs/:id every second).
function useJob(id) {
  const [job, setJob] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    if (!id) return undefined;
    let stop = false;
    let timer = null;
    const poll = async () => {
      const r = await api(`/api/jobs/${id}`);
      if (stop) return;
      setError(r.ok ? null : r.error);
      if (r.ok) setJob(r.data.job);
      if (!r.ok || !DONE.includes(r.data.job.state)) timer = setTimeout(poll, 1000);
    };
    setJob(null);
    poll();
    return () => { stop = true; if (timer) clearTimeout(timer); };
  }, [id]);
  return { job, error };
}

// lastBarT: the newest bar's start (RFC 3339), for the default window: the 2 hours up to it. job: the job the
// URL names; the results of a job are at #/bots/<id>/backtests/<job> (a run or a click on an earlier one goes there).
export function Backtests({ bot, lastBarT, job: jobId }) {
  const session = useSession();
  const runs = usePoll(`/api/bots/${bot.id}/runs?limit=50`, 10000);
  const endDefault = lastBarT ? Math.floor(Date.parse(lastBarT) / 60000) * 60 : null;
  const [win, setWin] = useState(null);
  const open = (id) => { window.location.hash = `#/bots/${bot.id}/backtests/${id}`; };
  const root = useRef(null);
  useEffect(() => { if (jobId && root.current) root.current.scrollIntoView({ block: 'start' }); }, [jobId]);
  const [refused, setRefused] = useState(null);
  const [busy, setBusy] = useState(false);
  const w = win || { start: endDefault ? iso(endDefault - 7200) : '', end: endDefault ? iso(endDefault) : '' };
  const { job, error } = useJob(jobId);
  const past = runs.data ? (runs.data.runs || []).filter((x) => x.type === 'job' && x.kind === 'BACKTEST') : [];
  const run = async (e) => {
    e.preventDefault();
    setBusy(true);
    setRefused(null);
    const r = await post(`/api/bots/${bot.id}/backtests`, { start: w.start.trim(), end: w.end.trim() });
    setBusy(false);
    if (r.ok) {
      open(r.data.job.id);
      runs.refresh();
    } else setRefused(r);
  };
  return html`<div data-testid="backtests" ref=${root}>
    <form class="filters" onSubmit=${run} data-testid="backtest-form">
      <label>Start (UTC, RFC 3339) <input name="start" data-testid="backtest-start" value=${w.start} placeholder="2026-12-08T13:00:00Z"
        onInput=${(e) => setWin({ ...w, start: e.currentTarget.value })} /></label>
      <label>End <input name="end" data-testid="backtest-end" value=${w.end} placeholder="2026-12-08T15:00:00Z" onInput=${(e) => setWin({ ...w, end: e.currentTarget.value })} /></label>
      <button type="submit" class="primary" data-testid="run-backtest" disabled=${busy || !may(session, 'operator')}>
        ${busy ? 'Starting…' : 'Run backtest'}</button>
    </form>
    ${!may(session, 'operator') && html`<p class="muted small">${roleHint(session, 'operator')}</p>`}
    ${refused && html`<${ActionResult} result=${refused} />`}
    ${past.length > 0 && html`<p class="small">Earlier backtests: ${past.slice(0, 8).map((x) => html`<button type="button" class="link"
      data-testid="backtest-job" data-job=${x.id} onClick=${() => open(x.id)}>${fmtTime(x.created_at)} <${Badge} value=${x.state} /></button> `)}</p>`}
    ${error && html`<${DegradedBanner} error=${error} what="The backtest job" />`}
    ${jobId && !job && !error && html`<${Loading} what="backtest job" />`}
    ${job && html`<div data-testid="backtest-job-state" data-state=${job.state}>
      <p>Job <code>${job.id}</code> <${Badge} value=${job.state} testid="backtest-state" />
        ${job.error_code && html` <code>${job.error_code}</code>`} <${TraceId} id=${job.trace_id} /></p>
      ${job.state === 'SUCCEEDED' && html`<${BacktestResult} bot=${bot} job=${job} key=${job.id} />`}
      ${(job.state === 'FAILED' || job.state === 'TIMEOUT') && html`<p class="no">${(job.result && (job.result.reason_human || job.result.error)) || job.error_code}</p>`}
    </div>`}
  </div>`;
}
