// "Used in last 24 h" badges of one bot (GET /api/bots/:id/proof): per integration what the bot really did.
import { usePoll } from '../api.js';
import { html, DegradedBanner, Loading, Badge, TraceId, ago, fmtTime, num } from '../ui.js';

function words(i) {
  if (i.llm_calls > 0 || (i.models && i.models.length)) {
    return `${i.llm_calls} LLM calls${i.models && i.models.length ? ` + ${i.models.join(', ')}` : ''}`;
  }
  if (i.order_intents > 0 || i.fills > 0) return `${i.order_intents} order intents / ${i.fills} fills`;
  if (i.bars > 0) return `${i.calls} calls / ${i.bars} bars`;
  return `${i.calls} calls`;
}

export function ProofBadges({ botId, ms = 4000 }) {
  const p = usePoll(botId ? `/api/bots/${botId}/proof` : null, ms);
  if (p.error) return html`<${DegradedBanner} error=${p.error} what="Proof of use" />`;
  if (!p.data) return html`<${Loading} what="proof of use" />`;
  const pr = p.data.proof;
  const list = pr.integrations || [];
  return html`<div data-testid="proof">
    ${list.length === 0 ? html`<p data-testid="proof-none">No integration used by this bot in the last 24 h.</p>`
      : html`<div class="badges">${list.map((i) => html`<div class="proof-badge" data-testid=${`proof-${i.provider_id}`}
          data-calls=${i.calls} data-bars=${i.bars}>
          <strong>${i.provider_id}</strong><span data-testid="proof-words">${words(i)}</span>
          ${(i.errors > 0 || i.blocked > 0) && html`<div class="small"><span class="no">${i.errors} errors</span> · ${i.blocked} blocked</div>`}
          <div class="small muted">last ${ago(i.last_used_at)}</div>
          <div class="small"><${TraceId} id=${i.last_trace_id} label="last trace" /></div></div>`)}</div>`}
    <dl class="kv small">
      <dt>last run</dt><dd>${pr.last_run ? html`<${Badge} value=${pr.last_run.state} /> ${fmtTime(pr.last_run.started_at)}` : '—'}</dd>
      <dt>last job</dt><dd>${pr.last_job ? html`<${Badge} value=${pr.last_job.state} /> ${pr.last_job.kind || ''}` : '—'}</dd>
      <dt>heartbeat age</dt><dd>${pr.heartbeat_age_s === null || pr.heartbeat_age_s === undefined ? '—' : `${num(pr.heartbeat_age_s)} s`}</dd>
      <dt>terminal state</dt><dd>${pr.terminal_state || '—'}</dd>
    </dl></div>`;
}
