// main.js — the Observatory shell: who is signed in, the tab bar (hash routes), the active panel.
import { render } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { api, post, onUnauthenticated } from './api.js';
import { Session } from './session.js';
import { html, Loading, DegradedBanner } from './ui.js';
import { Login } from './panels/login.js';
import { TABS } from './tabs.js';
import './style.css';

function currentTab() {
  const id = (window.location.hash || '').replace(/^#\/?/, '').split('/')[0];
  return TABS.find((t) => t.id === id) ? id : TABS[0].id;
}

function useHashTab() {
  const [tab, setTab] = useState(currentTab());
  useEffect(() => {
    const on = () => setTab(currentTab());
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return tab;
}

function App() {
  // auth: unknown (asking /api/auth/me) | signed-in | signed-out | error
  const [state, setState] = useState({ auth: 'unknown', user: null, error: null });
  const tab = useHashTab();

  const reload = useCallback(async () => {
    const r = await api('/api/auth/me');
    if (r.ok) setState({ auth: 'signed-in', user: r.data.user, error: null });
    else if (r.status === 401) setState({ auth: 'signed-out', user: null, error: null });
    else setState({ auth: 'error', user: null, error: r.error });
  }, []);

  useEffect(() => {
    reload();
    return onUnauthenticated(() => setState({ auth: 'signed-out', user: null, error: null }));
  }, [reload]);

  if (state.auth === 'unknown') return html`<main id="main"><${Loading} what="session" /></main>`;
  if (state.auth === 'error') {
    return html`<main id="main"><${DegradedBanner} error=${state.error} what="Sign-in check (/api/auth/me)" />
      <button type="button" onClick=${reload}>Retry</button></main>`;
  }
  if (state.auth === 'signed-out') {
    return html`<${Login} onSignedIn=${(user) => setState({ auth: 'signed-in', user, error: null })} />`;
  }

  const signOut = async () => {
    await post('/api/auth/logout');
    setState({ auth: 'signed-out', user: null, error: null });
  };
  const active = TABS.find((t) => t.id === tab);
  const Panel = active.panel;
  return html`<${Session.Provider} value=${{ user: state.user, reload }}>
    <a class="skip" href="#main" onClick=${(e) => { e.preventDefault(); document.getElementById('main').focus(); }}>Skip to content</a>
    <header class="top">
      <div class="brand">gatehouse <span class="muted">Observatory</span></div>
      <nav class="tabs" aria-label="Observatory sections">
        ${TABS.map((t) => html`<a href=${`#/${t.id}`} class=${t.id === tab ? 'tab active' : 'tab'}
          aria-current=${t.id === tab ? 'page' : null} data-testid=${`tab-${t.id}`}>${t.title}</a>`)}
      </nav>
      <div class="who"><span data-testid="signed-in-as">${state.user.username}</span>
        <span class="muted small">(${state.user.role})</span>
        <button type="button" class="link" onClick=${signOut} data-testid="sign-out">Sign out</button></div>
    </header>
    <main id="main" tabindex="-1" data-testid=${`panel-${tab}`}>
      <h1 class="panel-title">${active.title}</h1>
      <${Panel} />
    </main>
  </${Session.Provider}>`;
}

render(html`<${App} />`, document.getElementById('app'));
