// tabs.js — the Observatory's sections, in tab-bar order (the first is the default).
import { Overview } from './panels/overview.js';

export const TABS = [
  { id: 'overview', title: 'Overview', panel: Overview },
];
