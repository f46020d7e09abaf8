// Autonomy score pieces: the compact score of a bot list row and the full breakdown of a bot.
import { usePoll } from '../api.js';
import { html, Badge, DegradedBanner, Loading, ScoreBar, fmtTime } from '../ui.js';
import { Blockers } from './overview.js';

const SUBS = [
  ['data_reliability_score', 'data reliability', 'data_reliability'],
  ['decision_quality_score', 'decision quality', 'decision_quality'],
  ['risk_discipline_score', 'risk discipline', 'risk_discipline'],
  ['execution_health_score', 'execution health', 'execution_health'],
  ['supervisor_trust_score', 'supervisor trust', 'supervisor_trust'],
];

// Compact: score + tier, or the failure (never a zero).
export function CompactScore({ botId, ms = 15000 }) {
  const a = usePoll(`/api/bots/${botId}/autonomy-score`, ms);
  if (a.error) return html`<span class="no small" title=${a.error.reason} data-testid="score-error">unavailable (${a.error.code})</span>`;
  if (!a.data) return html`<span class="muted small">…</span>`;
  const s = a.data.autonomy_score;
  return html`<span data-testid="compact-score"><${ScoreBar} value=${s.autonomy_score} /> <${Badge} value=${s.autonomy_tier} /></span>`;
}

function subOf(breakdown, key) {
  const subs = breakdown && breakdown.sub_scores;
  return subs ? subs[key] : null;
}

export function AutonomyBreakdown({ botId }) {
  const a = usePoll(`/api/bots/${botId}/autonomy-score`, 10000);
  if (a.error) return html`<${DegradedBanner} error=${a.error} what="Autonomy score" />`;
  if (!a.data) return html`<${Loading} what="autonomy score" />`;
  const s = a.data.autonomy_score;
  const b = s.breakdown || {};
  return html`<div data-testid="autonomy-breakdown">
    <p><span class="big-status">Score <${ScoreBar} value=${s.autonomy_score} testid="autonomy-score" /></span>
      <${Badge} value=${s.autonomy_tier} testid="autonomy-tier" /> <span class="muted small">scored ${fmtTime(s.last_updated_at)}</span></p>
    ${b.tier_reason && html`<p>${b.tier_reason}</p>`}
    <div class="table-wrap"><table>
      <thead><tr><th>sub-score</th><th>score</th><th>evidence that moved it</th><th>missing</th></tr></thead>
      <tbody>${SUBS.map(([col, label, key]) => {
        const sub = subOf(b, key) || {};
        const moved = (sub.evidence || []).filter((e) => e.effect);
        return html`<tr><td>${label}</td><td><${ScoreBar} value=${s[col]} /></td>
          <td class="small">${moved.length === 0 ? html`<span class="muted">nothing moved it</span>` : html`<ul class="vars">${moved.map((e) => html`<li>
            <code>${e.key}</code>${e.value !== undefined && e.value !== null ? ` = ${JSON.stringify(e.value)}` : ''}: ${e.effect > 0 ? '+' : ''}${e.effect} ${e.note ? `— ${e.note}` : ''}</li>`)}</ul>`}</td>
          <td class="small">${(sub.missing || []).join('; ') || '—'}</td></tr>`;
      })}</tbody></table></div>
    ${b.next_tier && html`<h3>Missing for ${b.next_tier}</h3>
      <ul>${(b.missing_for_next_tier || []).map((m) => html`<li><code>${m.code}</code> ${m.reason_human}
        ${m.suggested_fix && html`<div class="fix">Fix: ${m.suggested_fix}</div>`}</li>`)}</ul>`}
    <h3>Blockers</h3><${Blockers} blockers=${s.blockers} testid="autonomy-blockers" />
  </div>`;
}
