// chart.js — a latency chart (uPlot) of usage events: one point per event that reported latency_ms.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { useEffect, useRef } from 'preact/hooks';
import { html } from './ui.js';

// events: usage events, any order. Only events with a numeric latency_ms are drawn — no invented points.
export function LatencyChart({ events, title = 'Latency (ms) per call' }) {
  const ref = useRef(null);
  const points = (events || [])
    .filter((e) => typeof e.latency_ms === 'number' && e.created_at)
    .map((e) => [Date.parse(e.created_at) / 1000, e.latency_ms])
    .filter((p) => Number.isFinite(p[0]))
    .sort((a, b) => a[0] - b[0]);
  const key = points.map((p) => p.join(':')).join(',');
  useEffect(() => {
    const el = ref.current;
    if (!el || points.length === 0) return undefined;
    const width = Math.max(280, Math.min(el.clientWidth || 600, 720));
    const plot = new uPlot({
      title, width, height: 200,
      scales: { x: { time: true } },
      series: [{}, { label: 'latency ms', stroke: '#0550ae', width: 2, points: { show: true, size: 5 } }],
      axes: [{}, { label: 'ms' }],
    }, [points.map((p) => p[0]), points.map((p) => p[1])], el);
    return () => plot.destroy();
  }, [key]);
  if (points.length === 0) return html`<p class="muted" data-testid="latency-chart-empty">No call with a measured latency among these events, so there is no chart.</p>`;
  return html`<div class="chart" ref=${ref} data-testid="latency-chart" role="img"
    aria-label=${`${title}: ${points.length} calls`}></div>`;
}
