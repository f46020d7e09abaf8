// Proof-of-Use: per bot "used in last 24 h" badges (GET /api/bots/:id/proof) and a usage-events viewer with
// filters (GET /api/integrations/:id/events; status, operation and bot are filtered in the page).
import { useState } from 'preact/hooks';
import { usePoll } from '../api.js';
import { html, DegradedBanner, Loading, Updated } from '../ui.js';
import { ProofBadges } from './proofbadges.js';
import { UsageTable } from './connections.js';

function BotProof() {
  const l = usePoll('/api/bots?limit=200', 10000);
  const [chosen, setChosen] = useState('');
  if (l.error) return html`<${DegradedBanner} error=${l.error} what="Bots" />`;
  if (!l.data) return html`<${Loading} what="bots" />`;
  const bots = l.data.bots || [];
  if (bots.length === 0) return html`<p>No bots yet, so no proof of use by bots.</p>`;
  const id = chosen || bots[0].id;
  return html`<div>
    <label>Bot <select data-testid="proof-bot" value=${id} onChange=${(e) => setChosen(e.currentTarget.value)}>
      ${bots.map((b) => html`<option value=${b.id}>${b.name} (${b.stage})</option>`)}</select></label>
    <${ProofBadges} botId=${id} key=${id} />
  </div>`;
}

function EventsViewer() {
  const st = usePoll('/api/integrations/status', 30000);
  const [provider, setProvider] = useState('');
  const [status, setStatus] = useState('');
  const [op, setOp] = useState('');
  const [bot, setBot] = useState('');
  const providers = st.data ? st.data.providers : [];
  const pid = provider || (providers[0] && providers[0].id) || null;
  const ev = usePoll(pid ? `/api/integrations/${encodeURIComponent(pid)}/events?limit=200` : null, 5000);
  const events = ev.data ? ev.data.events.filter((e) => (!status || e.status === status)
    && (!op || (e.operation || '').includes(op)) && (!bot || (e.bot_id || '').startsWith(bot))) : null;
  return html`<div>
    <${DegradedBanner} error=${st.error} what="Integrations status (the provider list)" />
    <div class="filters" role="search">
      <label>Provider <select value=${pid || ''} onChange=${(e) => setProvider(e.currentTarget.value)} data-testid="filter-provider"
        disabled=${!providers.length}>${providers.map((p) => html`<option value=${p.id}>${p.label || p.id}</option>`)}</select></label>
      <label>Status <select value=${status} onChange=${(e) => setStatus(e.currentTarget.value)} data-testid="filter-status">
        <option value="">any</option>${['OK', 'ERROR', 'BLOCKED', 'VERIFY'].map((s) => html`<option value=${s}>${s}</option>`)}</select></label>
      <label>Operation contains <input value=${op} onInput=${(e) => setOp(e.currentTarget.value)} data-testid="filter-operation" /></label>
      <label>Bot id starts with <input value=${bot} onInput=${(e) => setBot(e.currentTarget.value)} /></label>
      <${Updated} at=${ev.at} />
    </div>
    <${DegradedBanner} error=${ev.error} what="Usage events" />
    ${pid && !ev.error && !events && html`<${Loading} what="usage events" />`}
    ${events && html`<p class="small muted">${events.length} of the latest ${ev.data.events.length} events match.</p><${UsageTable} events=${events}
      empty=${ev.data.events.length ? 'No event matches these filters.' : 'No usage events recorded for this provider.'} />`}
  </div>`;
}

export function Proof() {
  return html`<div>
    <section class="card"><h2>Used in last 24 h, per bot</h2><${BotProof} /></section>
    <section class="card"><h2>Usage events</h2><${EventsViewer} /></section>
  </div>`;
}
