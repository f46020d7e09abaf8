// ui.js — small shared pieces: html tag, badges, the degraded banner, trace ids, copy buttons, drawer, time.
import { h } from 'preact';
import htm from 'htm';
import { useEffect, useRef, useState } from 'preact/hooks';

export const html = htm.bind(h);

// Timestamps arrive as RFC 3339 strings; a few live-stack fields are epoch seconds. Shown in UTC, as sent.
export function fmtTime(v) {
  if (v === null || v === undefined || v === '') return '—';
  const d = typeof v === 'number' ? new Date(v * 1000) : new Date(v);
  if (Number.isNaN(d.getTime())) return String(v);
  return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

export function ago(v) {
  if (v === null || v === undefined) return '';
  const d = typeof v === 'number' ? new Date(v * 1000) : new Date(v);
  const s = Math.round((Date.now() - d.getTime()) / 1000);
  if (!Number.isFinite(s)) return '';
  if (s < 60) return `${Math.max(s, 0)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

// When a closed market opens again, from the API's next_open_at (UTC) and next_open_exchange (the exchange's
// wall clock with its offset): "Sun 23:00 UTC (17:00 CST)". Central Time is every CME Group venue's clock.
const ZONES = { '-06:00': 'CST', '-05:00': 'CDT' };
export function opensText(m) {
  const d = new Date(m.next_open_at);
  if (!m.next_open_at || Number.isNaN(d.getTime())) return 'opens: unknown';
  const day = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'][d.getUTCDay()];
  const utc = d.toISOString().slice(11, 16);
  const ex = typeof m.next_open_exchange === 'string' ? m.next_open_exchange : '';
  const local = ex.length >= 19 ? ` (${ex.slice(11, 16)} ${ZONES[ex.slice(-6)] || `UTC${ex.slice(-6)}`})` : '';
  return `opens ${day} ${utc} UTC${local}`;
}

// A market the bots trade on is closed: an info notice, not a blocker (the gates still decide whether bots may
// run; the calendar says when they can trade). m: a market session of the API (status markets, bot.market).
export function MarketClosed({ m, testid = 'market-closed', compact = false }) {
  if (!m || m.open) return null;
  const text = `Market closed — ${opensText(m)}`;
  if (compact) return html`<span class="badge tone-info" data-testid=${testid} title=${m.reason_human || ''}>${text}</span>`;
  return html`<div class="notice" role="status" data-testid=${testid}><strong>${text}</strong>
    <div class="small">${m.reason_human || ''}</div></div>`;
}

// A number that may be absent: absent stays "—", never 0.
export const num = (v) => (v === null || v === undefined ? '—' : String(v));

// State words → colour class. Green only for states that rest on evidence (a passing probe, OK gates).
const TONES = {
  OK: 'good', VERIFIED: 'good', FULL_AUTONOMY: 'good', RUNNING: 'good', SUCCEEDED: 'good', TRADED: 'good',
  DEGRADED: 'warn', CONFIGURED: 'warn', LIMITED_AUTONOMY: 'warn', SUPERVISED: 'warn', SUPPRESSED: 'warn',
  DEPRECATED: 'muted', STOPPED: 'muted', NOT_CONFIGURED: 'bad', BLOCKED: 'bad', LOCKED: 'bad', KILLED: 'bad',
  ERROR: 'bad', FAILED: 'bad', TIMEOUT: 'bad', 'SEV-1': 'bad', 'SEV-2': 'warn',
};

export function Badge({ value, tone, title, testid }) {
  const t = tone || TONES[value] || 'neutral';
  return html`<span class=${`badge tone-${t}`} title=${title || null} data-testid=${testid || null}>${value ?? '—'}</span>`;
}

export function YesNo({ value, yes = 'yes', no = 'no' }) {
  if (value === null || value === undefined) return html`<span class="muted">—</span>`;
  return html`<span class=${value ? 'yes' : 'no'}>${value ? yes : no}</span>`;
}

export function CopyButton({ text, label }) {
  const [done, setDone] = useState(false);
  const copy = async (e) => {
    e.stopPropagation();
    try {
      await navigator.clipboard.writeText(text);
      setDone(true);
      setTimeout(() => setDone(false), 1500);
    } catch (err) {
      // no clipboard permission (http on a non-local origin): select the text instead
      window.prompt('Copy this:', text);
    }
  };
  return html`<button type="button" class="copy" onClick=${copy} aria-label=${`Copy ${label || text}`}>
    ${done ? 'copied' : 'copy'}</button>`;
}

export function TraceId({ id, label = 'trace' }) {
  if (!id) return html`<span class="muted">no trace id</span>`;
  return html`<span class="trace"><span class="trace-label">${label}</span> <code data-testid="trace-id">${id}</code>
    <${CopyButton} text=${id} label="trace id" /></span>`;
}

// What a panel shows instead of data when its endpoint failed: which call, the answer, its trace id.
export function DegradedBanner({ error, what }) {
  if (!error) return null;
  const notBuilt = error.status === 404 && error.code === 'NOT_FOUND';
  return html`<div class="degraded" role="alert" data-testid="degraded-banner">
    <strong>Degraded: ${what || error.path} is unavailable.</strong>
    <span> ${error.path} answered ${error.status ? `HTTP ${error.status}` : 'nothing'} · ${error.code}.</span>
    <div>${notBuilt ? 'This server does not serve that endpoint yet. ' : ''}${error.reason}</div>
    ${error.fix && html`<div class="fix">Fix: ${error.fix}</div>`}
    <div><${TraceId} id=${error.trace_id} /></div>
    <div class="muted small">Actions that depend on it are disabled; nothing below is a stand-in value.</div>
  </div>`;
}

export function Loading({ what }) {
  return html`<p class="muted" aria-busy="true">Loading ${what}…</p>`;
}

// The answer of an action (verify, start, kill…): success line, or the refusal with its reasons and fix.
export function ActionResult({ result, okText }) {
  if (!result) return null;
  if (result.ok) {
    return html`<div class="result ok" role="status" data-testid="action-result">${okText || 'Done.'}
      ${result.data && result.data.trace_id && html` <${TraceId} id=${result.data.trace_id} />`}</div>`;
  }
  const e = result.error;
  const blockers = (e.body && e.body.blockers) || [];
  return html`<div class="result refused" role="alert" data-testid="action-result">
    <strong>Refused: ${e.code}</strong> (HTTP ${e.status}). ${e.reason}
    ${e.fix && html`<div class="fix">Fix: ${e.fix}</div>`}
    ${blockers.length > 0 && html`<ul class="blockers">${blockers.map((b) => html`<li>
      <${Badge} value=${b.severity} /> <code>${b.code}</code> ${b.reason_human || b.message}
      ${b.suggested_fix && html`<div class="fix">Fix: ${b.suggested_fix}</div>`}</li>`)}</ul>`}
    ${e.retry_after && html`<div>Retry after ${e.retry_after} s.</div>`}
    <div><${TraceId} id=${e.trace_id} /></div>
  </div>`;
}

// A modal side drawer: focus moves in, Escape or the close button closes it, focus returns to the opener.
export function Drawer({ title, onClose, children, testid }) {
  const ref = useRef(null);
  useEffect(() => {
    const opener = document.activeElement;
    const el = ref.current;
    if (el) el.focus();
    const onKey = (e) => {
      if (e.key === 'Escape') onClose();
      if (e.key === 'Tab' && el) trapFocus(el, e);
    };
    document.addEventListener('keydown', onKey);
    return () => {
      document.removeEventListener('keydown', onKey);
      if (opener && opener.focus) opener.focus();
    };
  }, []);
  return html`<div class="drawer-backdrop" onClick=${onClose}>
    <aside class="drawer" role="dialog" aria-modal="true" aria-label=${title} tabindex="-1" ref=${ref}
      data-testid=${testid || 'drawer'} onClick=${(e) => e.stopPropagation()}>
      <header class="drawer-head"><h2>${title}</h2>
        <button type="button" class="close" onClick=${onClose} aria-label="Close">Close</button></header>
      <div class="drawer-body">${children}</div>
    </aside></div>`;
}

function trapFocus(root, e) {
  const items = root.querySelectorAll('a[href], button:not([disabled]), input:not([disabled]), select, textarea, [tabindex]');
  if (!items.length) return;
  const first = items[0];
  const last = items[items.length - 1];
  if (e.shiftKey && document.activeElement === first) {
    e.preventDefault();
    last.focus();
  } else if (!e.shiftKey && document.activeElement === last) {
    e.preventDefault();
    first.focus();
  }
}

export function Json({ value }) {
  if (value === null || value === undefined) return html`<span class="muted">—</span>`;
  return html`<pre class="json">${JSON.stringify(value, null, 2)}</pre>`;
}

export function Updated({ at }) {
  if (!at) return null;
  return html`<span class="updated muted small" aria-live="off">updated ${at.toISOString().slice(11, 19)}Z</span>`;
}

// The part of the hash route after the tab ("#/bots/<id>" → "<id>"), kept in sync with navigation.
export function useHashRest() {
  const read = () => (window.location.hash || '').replace(/^#\/?/, '').split('/').slice(1).join('/') || null;
  const [rest, setRest] = useState(read());
  useEffect(() => {
    const on = () => setRest(read());
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return rest;
}

// A 0–100 score as a number and a bar (no score → "—", never a zero bar).
export function ScoreBar({ value, testid }) {
  if (value === null || value === undefined) return html`<span class="muted">—</span>`;
  const w = `w${Math.max(0, Math.min(100, Math.round(value / 10) * 10))}`;
  return html`<span class="score" data-testid=${testid || null}>${value}</span>
    <span class="bar-track" aria-hidden="true"><span class=${`bar ${w}`}></span></span>`;
}
