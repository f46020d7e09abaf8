// pricechart.js — the bot page's charts (uPlot):
//   PriceChart: candles of the bars a bot used (GET /api/bots/:id/bars), drawn by a draw hook; drag to zoom on
//     time (double-click resets); buy/sell markers at each fill's price and time, each a button that opens the
//     fill's "Why traded" decision trace; no-trade spans shaded by reason with a legend.
//   EquityChart: an equity series {t, equity} with its drawdown (equity − running peak) shaded below zero.
// No value is invented: a fill outside the bars' window is counted, not drawn at a guessed place.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { useEffect, useRef } from 'preact/hooks';
import { html, fmtTime } from '../ui.js';
import { fmtNum, fmtUsd } from '../money.js';

const SPAN_COLOURS = ['rgba(191,135,0,0.16)', 'rgba(130,80,223,0.14)', 'rgba(9,105,218,0.12)', 'rgba(207,34,46,0.12)',
  'rgba(26,127,55,0.13)', 'rgba(87,96,106,0.15)', 'rgba(191,57,137,0.13)', 'rgba(5,80,174,0.18)'];
const TF_SECONDS = { '1m': 60, '5m': 300, '15m': 900, '1h': 3600 };
const sec = (v) => Date.parse(v) / 1000;

// Consecutive no-trade traces with the same reason_code make one span [first, last + one bar]. traces: any
// order. → [{reason, from, to, count, human}] oldest first.
export function noTradeSpans(traces, barSeconds) {
  const sorted = (traces || []).filter((t) => Number.isFinite(sec(t.created_at)))
    .sort((a, b) => sec(a.created_at) - sec(b.created_at));
  const spans = [];
  for (const t of sorted) {
    const last = spans[spans.length - 1];
    const at = sec(t.created_at);
    if (last && last.reason === t.reason_code) {
      last.to = at + barSeconds;
      last.count++;
    } else {
      spans.push({ reason: t.reason_code, human: t.reason_human, from: at, to: at + barSeconds, count: 1 });
    }
  }
  return spans;
}

// The reasons of the spans in first-seen order, each with its colour index.
function reasonIndex(spans) {
  const idx = new Map();
  for (const s of spans) if (!idx.has(s.reason)) idx.set(s.reason, idx.size % SPAN_COLOURS.length);
  return idx;
}

function drawSpans(u, spans, colours) {
  const { ctx } = u;
  const { left, top, width, height } = u.bbox;
  ctx.save();
  ctx.beginPath();
  ctx.rect(left, top, width, height);
  ctx.clip();
  for (const s of spans) {
    const x0 = Math.max(left, u.valToPos(s.from, 'x', true));
    const x1 = Math.min(left + width, u.valToPos(s.to, 'x', true));
    if (x1 <= x0) continue;
    ctx.fillStyle = SPAN_COLOURS[colours.get(s.reason)];
    ctx.fillRect(x0, top, x1 - x0, height);
  }
  ctx.restore();
}

function drawCandles(u, barSeconds) {
  const [ts, o, h, l, c] = u.data;
  const { ctx } = u;
  const { left, top, width, height } = u.bbox;
  const step = Math.abs(u.valToPos(ts[0] + barSeconds, 'x', true) - u.valToPos(ts[0], 'x', true));
  const body = Math.max(1, Math.min(step * 0.65, 24 * devicePixelRatio));
  ctx.save();
  ctx.beginPath();
  ctx.rect(left, top, width, height);
  ctx.clip();
  for (let i = 0; i < ts.length; i++) {
    if ([o[i], h[i], l[i], c[i]].some((v) => v === null || v === undefined)) continue;
    const x = Math.round(u.valToPos(ts[i], 'x', true));
    if (x < left - body || x > left + width + body) continue;
    const up = c[i] >= o[i];
    ctx.strokeStyle = up ? '#116329' : '#a40e26';
    ctx.fillStyle = up ? '#2da44e' : '#cf222e';
    ctx.lineWidth = Math.max(1, devicePixelRatio);
    ctx.beginPath();
    ctx.moveTo(x, u.valToPos(h[i], 'y', true));
    ctx.lineTo(x, u.valToPos(l[i], 'y', true));
    ctx.stroke();
    const yo = u.valToPos(o[i], 'y', true);
    const yc = u.valToPos(c[i], 'y', true);
    ctx.fillRect(x - body / 2, Math.min(yo, yc), body, Math.max(1, Math.abs(yc - yo)));
  }
  ctx.restore();
}

// Places one button per fill in uPlot's overlay at (filled_at, price); hidden when outside the zoomed window.
// Fills at the same spot (seconds apart at nearly one price) would hide each other: each one that would
// overlap an earlier marker is nudged sideways (towards the middle) by a marker's width, so every fill stays visible and clickable.
function placeMarkers(u, layer) {
  const w = u.over.clientWidth;
  const hgt = u.over.clientHeight;
  const placed = [];
  for (const el of layer.children) {
    let x = u.valToPos(Number(el.dataset.t), 'x');
    const y = u.valToPos(Number(el.dataset.price), 'y');
    const inside = x >= -1 && x <= w + 1 && y >= 0 && y <= hgt;
    el.hidden = !inside;
    if (inside) {
      const dx = x > w / 2 ? -16 : 16; // towards the middle, so a nudged marker stays inside the plot
      while (placed.some((p) => Math.abs(p[0] - x) < 16 && Math.abs(p[1] - y) < 16)) x += dx;
      placed.push([x, y]);
    }
    el.style.left = `${x}px`;
    el.style.top = `${y}px`;
    el.dataset.x = String(x);
    el.dataset.y = String(y);
  }
}

function markerLayer(u, fills, onMarker) {
  const layer = document.createElement('div');
  layer.className = 'marker-layer';
  for (const f of fills) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = `fill-marker ${f.side === 'BUY' ? 'buy' : 'sell'}`;
    b.setAttribute('data-testid', 'fill-marker');
    b.dataset.fillId = f.id;
    b.dataset.side = f.side;
    b.dataset.price = String(f.price);
    b.dataset.qty = String(f.qty);
    b.dataset.t = String(sec(f.filled_at));
    b.dataset.decisionTraceId = f.decision_trace_id || '';
    b.textContent = f.side === 'BUY' ? '▲' : '▼';
    const label = `${f.side} ${fmtNum(f.qty)} at ${fmtNum(f.price)} on ${fmtTime(f.filled_at)} — Why traded`;
    b.setAttribute('aria-label', label);
    b.title = label;
    b.addEventListener('mousedown', (e) => e.stopPropagation()); // a click is not the start of a zoom drag
    b.addEventListener('click', (e) => { e.stopPropagation(); onMarker(f); });
    layer.appendChild(b);
  }
  u.over.appendChild(layer);
  return layer;
}

// bars: [{t, o, h, l, c, v}] oldest first; fills: the bot's fills (any order); traces: no-trade traces;
// timeframe: the bot's; onMarker(fill) opens its decision trace.
export function PriceChart({ bars, fills, traces, timeframe, onMarker, testid = 'price-chart' }) {
  const ref = useRef(null);
  const cb = useRef(onMarker);
  const zoom = useRef(null); // the time window the operator zoomed to, kept when new bars redraw the chart
  cb.current = onMarker;
  const pts = (bars || []).filter((b) => Number.isFinite(sec(b.t)));
  const barSeconds = TF_SECONDS[timeframe] || 60;
  const t0 = pts.length ? sec(pts[0].t) : 0;
  const t1 = pts.length ? sec(pts[pts.length - 1].t) + barSeconds : 0;
  const shown = (fills || []).filter((f) => { const t = sec(f.filled_at); return t >= t0 && t <= Math.max(t1, t); })
    .sort((a, b) => sec(a.filled_at) - sec(b.filled_at));
  const spans = noTradeSpans(traces, barSeconds).filter((s) => s.to >= t0);
  const colours = reasonIndex(spans);
  const key = JSON.stringify([pts.map((b) => [b.t, b.o, b.h, b.l, b.c]), shown.map((f) => f.id), spans.map((s) => [s.reason, s.from, s.to])]);

  useEffect(() => {
    const el = ref.current;
    if (!el || pts.length === 0) return undefined;
    const width = Math.max(300, Math.min(el.clientWidth || 900, 1300));
    let layer = null;
    let ready = false; // scale changes before this are uPlot's own initial ranging, not a zoom
    // x: every bar start, every fill time (a fill inside the newest, still forming bar lies after its start) and
    // the ends of a no-trade span that reaches past the newest bar
    const byT = new Map(pts.map((b) => [sec(b.t), b]));
    const xs = [...new Set([...byT.keys(), ...shown.map((f) => sec(f.filled_at)), ...spans.filter((sp) => sp.to > t1)
      .flatMap((sp) => [Math.max(sp.from, t0), sp.to])])].sort((a, b) => a - b);
    const col = (k) => xs.map((x) => (byT.has(x) ? byT.get(x)[k] : null));
    const data = [xs, col('o'), col('h'), col('l'), col('c')];
    const hidden = { paths: () => null, points: { show: false } };
    // the y range includes every fill price, so no marker falls outside the chart
    const prices = shown.map((f) => f.price).filter(Number.isFinite);
    const plot = new uPlot({
      width, height: 320,
      scales: { x: { time: true }, y: { range: (u, lo, hi) => {
        const a = Math.min(lo, ...prices);
        const b = Math.max(hi, ...prices);
        const pad = (b - a) * 0.05 || Math.abs(b) * 0.001 || 1;
        return [a - pad, b + pad];
      } } },
      cursor: { drag: { x: true, y: false, setScale: true } },
      series: [{}, { label: 'open', ...hidden }, { label: 'high', ...hidden }, { label: 'low', ...hidden },
        { label: 'close', ...hidden }],
      axes: [{}, { label: 'price', size: 70 }],
      hooks: {
        drawClear: [(u) => drawSpans(u, spans, colours)],
        draw: [(u) => { drawCandles(u, barSeconds); if (layer) placeMarkers(u, layer); }],
        // the time window shown (epoch seconds), for whoever checks the zoom
        setScale: [(u, k) => {
          if (k !== 'x') return;
          const { min, max } = u.scales.x;
          el.dataset.xMin = String(min);
          el.dataset.xMax = String(max);
          if (ready) zoom.current = min <= xs[0] && max >= xs[xs.length - 1] ? null : { min, max };
        }],
      },
    }, data, el);
    layer = markerLayer(plot, shown, (f) => cb.current && cb.current(f));
    placeMarkers(plot, layer);
    ready = true;
    if (zoom.current) plot.setScale('x', zoom.current);
    return () => plot.destroy();
  }, [key]);

  if (pts.length === 0) {
    return html`<p class="muted" data-testid=${`${testid}-empty`}>No bars recorded for this bot's symbol and timeframe in this
      window: the chart shows only bars a tick or a backtest actually used.</p>`;
  }
  const outside = (fills || []).length - shown.length; // older than the first bar shown
  return html`<div data-testid=${testid} data-bars=${pts.length} data-markers=${shown.length} data-spans=${spans.length}>
    <div class="chart price" ref=${ref} role="img" aria-label=${`Price candles: ${pts.length} bars, ${shown.length} fills`}></div>
    <p class="muted small">Drag across the chart to zoom in on time; double-click to zoom out. ▲ buy, ▼ sell at the fill
      price — click one for its decision trace.${outside > 0 ? ` ${outside} fill(s) fall outside these bars and are not drawn.` : ''}</p>
    ${spans.length > 0 && html`<ul class="span-legend" data-testid="no-trade-legend">${[...colours.entries()].map(([reason, i]) => {
      const mine = spans.filter((s) => s.reason === reason);
      return html`<li data-reason=${reason}><span class=${`swatch span-c${i}`} aria-hidden="true"></span>
        <code>${reason}</code> <span class="small">${mine[mine.length - 1].human || ''}</span>
        <span class="muted small"> · ${mine.length} span(s), ${mine.reduce((n, s) => n + s.count, 0)} no-trade traces</span></li>`;
    })}</ul>`}
  </div>`;
}

// points: [{t, equity}] (t RFC 3339 or epoch seconds); unit: "USD" or "points".
export function EquityChart({ points, unit = 'USD', testid = 'equity-chart', title = 'Equity' }) {
  const ref = useRef(null);
  const pts = (points || []).map((p) => [typeof p.t === 'number' ? p.t : sec(p.t), p.equity])
    .filter((p) => Number.isFinite(p[0]) && typeof p[1] === 'number').sort((a, b) => a[0] - b[0]);
  let peak = -Infinity;
  const dd = pts.map((p) => { peak = Math.max(peak, p[1]); return p[1] - peak; });
  const key = JSON.stringify(pts);
  useEffect(() => {
    const el = ref.current;
    if (!el || pts.length < 2) return undefined;
    const width = Math.max(280, Math.min(el.clientWidth || 700, 1300));
    const plot = new uPlot({
      title, width, height: 220,
      scales: { x: { time: true } },
      series: [{}, { label: `equity ${unit}`, stroke: '#0550ae', width: 2, value: (u, v) => (v === null ? '—' : fmtUsd(v)) },
        { label: 'drawdown', stroke: '#a40e26', fill: 'rgba(207,34,46,0.18)', width: 1,
          value: (u, v) => (v === null ? '—' : fmtUsd(v)) }],
      axes: [{}, { label: unit, size: 70 }],
    }, [pts.map((p) => p[0]), pts.map((p) => p[1]), dd], el);
    return () => plot.destroy();
  }, [key]);
  if (pts.length < 2) {
    return html`<p class="muted" data-testid=${`${testid}-empty`}>Fewer than two equity points in this window, so there is no curve.</p>`;
  }
  return html`<div class="chart" ref=${ref} data-testid=${testid} data-points=${pts.length} role="img"
    aria-label=${`${title}: ${pts.length} points, last ${fmtUsd(pts[pts.length - 1][1])} ${unit}`}></div>`;
}
