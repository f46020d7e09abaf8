// money.js — how the trading views show money, quantities and ratios. A money field the API sends as null is
// unknown (no contract multiplier, no mark …): it reads "unknown" with the API's unknown_reason as a tooltip and
// as visible small text, never 0. Amounts are USD (points x qty x multiplier − fees), shown to the cent.
import { html } from './ui.js';

// 1234.5 → "1,234.50"; -3 → "−3.00". Not a number → null (the caller decides what absent means).
export function fmtUsd(v) {
  if (typeof v !== 'number' || !Number.isFinite(v)) return null;
  const s = Math.abs(v).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  return `${v < 0 ? '−' : ''}${s}`;
}

// A price or quantity as sent (up to 6 decimals, trailing zeros dropped); null/undefined → "—".
export function fmtNum(v, digits = 6) {
  if (v === null || v === undefined || v === '') return '—';
  const n = Number(v);
  if (!Number.isFinite(n)) return String(v);
  return String(Number(n.toFixed(digits)));
}

export function fmtPct(v) {
  if (typeof v !== 'number' || !Number.isFinite(v)) return '—';
  return `${(v * 100).toFixed(1)}%`;
}

// Money: value (number | null), reason (the row's unknown_reason), testid. null → "unknown" + why.
// signed colours the amount (profit green, loss red). data-value carries the raw number for the specs.
export function Money({ value, reason, testid, signed = true }) {
  if (value === null || value === undefined || typeof value !== 'number') {
    const why = reason || 'the server did not compute this value';
    return html`<span class="unknown" data-testid=${testid || null} data-unknown="true" title=${why}>unknown${' '}<span class="unknown-why small">(${why})</span></span>`;
  }
  const tone = !signed || value === 0 ? '' : value > 0 ? 'gain' : 'loss';
  return html`<span class=${`money ${tone}`} data-testid=${testid || null} data-value=${String(value)}>${fmtUsd(value)}</span>`;
}

// A ratio that the API sends as null when it is undefined (no closing fill, no loss): says why in words.
export function Ratio({ value, kind, testid, none }) {
  if (value === null || value === undefined) {
    return html`<span class="muted" data-testid=${testid || null} data-unknown="true">n/a <span class="small">(${none})</span></span>`;
  }
  const text = kind === 'pct' ? fmtPct(value) : fmtNum(value, 3);
  return html`<span data-testid=${testid || null} data-value=${String(value)}>${text}</span>`;
}

// The P&L statistics block shared by live P&L (GET /api/bots/:id/pnl) and backtest results.
// s: {realized, unrealized, fees, net, trade_count, win_rate, profit_factor, max_drawdown, unknown_reason?};
// prefix: the testid prefix ("pnl" or "bt"). Missing keys (an older backtest result) read "—".
export function PnlStats({ s, prefix, unit = 'USD' }) {
  const money = (k) => (k in s ? html`<${Money} value=${s[k]} reason=${s.unknown_reason} testid=${`${prefix}-${k}`}
    signed=${k !== 'fees' && k !== 'max_drawdown'} />`
    : html`<span class="muted" data-testid=${`${prefix}-${k}`}>—</span>`);
  return html`<dl class="kv stats" data-testid=${`${prefix}-stats`}>
    <dt>realized</dt><dd>${money('realized')}</dd>
    <dt>unrealized</dt><dd>${money('unrealized')}</dd>
    <dt>fees</dt><dd>${money('fees')}</dd>
    <dt>net</dt><dd><strong>${money('net')}</strong> <span class="muted small">${unit}</span></dd>
    <dt>trades (closing fills)</dt><dd data-testid=${`${prefix}-trade_count`}>${fmtNum(s.trade_count)}</dd>
    <dt>win rate</dt><dd><${Ratio} value=${s.win_rate} kind="pct" testid=${`${prefix}-win_rate`} none="no closing trade yet" /></dd>
    <dt>profit factor</dt><dd><${Ratio} value=${s.profit_factor} testid=${`${prefix}-profit_factor`} none="no losing trade" /></dd>
    <dt>max drawdown</dt><dd>${money('max_drawdown')}</dd>
  </dl>`;
}
