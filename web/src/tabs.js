// tabs.js — the Observatory's sections, in tab-bar order (the first is the default).
import { Overview } from './panels/overview.js';
import { Connections } from './panels/connections.js';
import { Proof } from './panels/proof.js';
import { Bots } from './panels/bots.js';
import { Portfolio } from './panels/portfolio.js';
import { Autonomy } from './panels/autonomy.js';
import { Events } from './panels/events.js';
import { AiOps } from './panels/aiops.js';
import { Variables } from './panels/variables.js';
import { Settings } from './panels/settings.js';

export const TABS = [
  { id: 'overview', title: 'Overview', panel: Overview },
  { id: 'connections', title: 'Connections', panel: Connections },
  { id: 'proof', title: 'Proof-of-Use', panel: Proof },
  { id: 'bots', title: 'Bots', panel: Bots },
  { id: 'portfolio', title: 'Portfolio', panel: Portfolio },
  { id: 'autonomy', title: 'Autonomy', panel: Autonomy },
  { id: 'events', title: 'Events', panel: Events },
  { id: 'ai-ops', title: 'AI Ops', panel: AiOps },
  { id: 'variables', title: 'Variables', panel: Variables },
  { id: 'settings', title: 'Settings', panel: Settings },
];
