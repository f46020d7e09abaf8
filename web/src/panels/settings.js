// Settings: two-factor enrollment (QR rendered in the page, backup codes shown once), sessions, the trading
// switch, and users (admin).
import { useState } from 'preact/hooks';
import qrcode from 'qrcode-generator';
import { api, post, usePoll } from '../api.js';
import { may, useSession } from '../session.js';
import { html, ActionResult, Badge, CopyButton, DegradedBanner, Loading, TraceId, YesNo, fmtTime } from '../ui.js';

// The otpauth:// URL as a QR code image (a GIF data: URL, allowed by the CSP's img-src).
function Qr({ text }) {
  const qr = qrcode(0, 'M');
  qr.addData(text);
  qr.make();
  return html`<div class="qr"><img src=${qr.createDataURL(5, 4)} alt="QR code of the authenticator enrollment link" data-testid="qr" /></div>`;
}

function BackupCodes({ codes, onDone }) {
  return html`<div class="note" data-testid="backup-codes" role="status">
    <strong>Your backup codes — shown this once.</strong> Each works once when your authenticator is not at hand.
    Store them somewhere safe now; gatehouse keeps only their hashes.
    <ol class="codes">${codes.map((c) => html`<li><code>${c}</code></li>`)}</ol>
    <div class="actions"><${CopyButton} text=${codes.join('\n')} label="all backup codes" />
      <button type="button" onClick=${onDone} data-testid="codes-saved">I have saved them</button></div></div>`;
}

function TwoFactor() {
  const session = useSession();
  const me = usePoll('/api/auth/me', 0);
  const [setup, setSetup] = useState(null);
  const [result, setResult] = useState(null);
  const [codes, setCodes] = useState(null);
  const [busy, setBusy] = useState(false);

  const start = async (e) => {
    e.preventDefault();
    // setting up 2FA needs the account password again (a stolen session alone cannot enroll a second factor)
    const password = String(new FormData(e.currentTarget).get('password') || '');
    setBusy(true);
    const r = await post('/api/auth/2fa/setup', { password });
    setBusy(false);
    setResult(r.ok ? null : r);
    if (r.ok) setSetup(r.data);
  };
  const confirm = async (e) => {
    e.preventDefault();
    const code = String(new FormData(e.currentTarget).get('code') || '').replace(/\s+/g, '');
    setBusy(true);
    const r = await post('/api/auth/2fa/confirm', { code });
    setBusy(false);
    if (!r.ok) return setResult(r);
    setResult(null);
    setSetup(null);
    setCodes(r.data.backup_codes);
    me.refresh();
    session.reload();
    return null;
  };
  const regenerate = async (e) => {
    e.preventDefault();
    const code = String(new FormData(e.currentTarget).get('code') || '').replace(/\s+/g, '');
    setBusy(true);
    const r = await post('/api/auth/2fa/backup-codes', { code });
    setBusy(false);
    if (!r.ok) return setResult(r);
    setResult(null);
    setCodes(r.data.backup_codes);
    return null;
  };

  if (me.error) return html`<${DegradedBanner} error=${me.error} what="Your account" />`;
  if (!me.data) return html`<${Loading} what="account" />`;
  const u = me.data.user;
  return html`<section class="card" data-testid="two-factor"><h2>Two-factor authentication</h2>
    <dl class="kv"><dt>status</dt><dd data-testid="2fa-status">${u.two_factor_enabled ? html`<span class="yes">on</span>` : html`<span class="no">off</span>`}</dd>
      <dt>enrolled</dt><dd>${fmtTime(u.two_factor_enrolled_at)}</dd>
      <dt>last verified</dt><dd>${fmtTime(u.two_factor_last_verified_at)}</dd></dl>
    ${codes && html`<${BackupCodes} codes=${codes} onDone=${() => setCodes(null)} />`}
    ${!u.two_factor_enabled && !setup && html`<form onSubmit=${start} data-testid="enroll-form"><p class="small">Setting up two-factor authentication needs your password again. It signs out your other sessions; live actions still need a step-up with a new code afterwards.</p>
      <label>Password <input name="password" type="password" autocomplete="current-password" required data-testid="enroll-password" /></label>
      <button type="submit" class="primary" disabled=${busy} data-testid="enroll-2fa">Set up two-factor authentication</button></form>`}
    ${setup && html`<div data-testid="enroll">
      <p>Scan this code with an authenticator app (TOTP, ${setup.algorithm || 'SHA1'}, ${setup.digits || 6} digits, ${setup.period || 30} s), then enter the code it shows.</p>
      <${Qr} text=${setup.otpauth_url} />
      <p class="small">Cannot scan? Enter this key by hand: <code data-testid="totp-secret">${setup.secret_base32}</code>
        <${CopyButton} text=${setup.secret_base32} label="the key" /></p>
      <form onSubmit=${confirm}><label>Code from the app <input name="code" inputmode="numeric" autocomplete="one-time-code" required data-testid="confirm-code" /></label>
        <button type="submit" class="primary" disabled=${busy} data-testid="confirm-2fa">Turn on</button></form></div>`}
    ${u.two_factor_enabled && !codes && html`<form onSubmit=${regenerate}><p class="small">New backup codes replace the old ones (needs a current code).</p>
      <label>Code from the app <input name="code" inputmode="numeric" autocomplete="one-time-code" required /></label>
      <button type="submit" disabled=${busy}>Generate new backup codes</button></form>`}
    <${ActionResult} result=${result} />
  </section>`;
}

function Sessions() {
  const s = usePoll('/api/auth/sessions', 15000);
  const [result, setResult] = useState(null);
  const revoke = async (id) => {
    const r = await api(`/api/auth/sessions/${encodeURIComponent(id)}`, { method: 'DELETE' });
    setResult(r);
    s.refresh();
  };
  return html`<section class="card"><h2>Your sessions</h2>
    <${DegradedBanner} error=${s.error} what="Sessions" />
    ${!s.error && !s.data && html`<${Loading} what="sessions" />`}
    ${s.data && html`<div class="table-wrap"><table><thead><tr><th>signed in</th><th>last seen</th><th>expires</th><th>from</th><th></th></tr></thead>
      <tbody>${s.data.sessions.map((x) => html`<tr><td>${fmtTime(x.created_at)}${x.current ? html` <${Badge} value="this one" tone="neutral" />` : null}</td>
        <td>${fmtTime(x.last_seen_at)}</td><td>${fmtTime(x.expires_at)}</td><td class="small">${x.ip || ''} ${x.user_agent ? `· ${x.user_agent.slice(0, 40)}` : ''}</td>
        <td>${!x.current && html`<button type="button" onClick=${() => revoke(x.id)}>Revoke</button>`}</td></tr>`)}</tbody></table></div>`}
    <${ActionResult} result=${result} okText="Session revoked." /></section>`;
}

function Trading() {
  const session = useSession();
  const t = usePoll('/api/settings/trading', 10000);
  const [result, setResult] = useState(null);
  const [busy, setBusy] = useState(false);
  const flip = async (enabled) => {
    setBusy(true);
    const r = await api('/api/settings/trading', { method: 'PUT', body: { enabled } });
    setBusy(false);
    setResult(r);
    t.refresh();
  };
  // a fresh 2FA is a step-up with a new code (enrollment is not one): offered when the switch asks for it
  const stepUp = async (e) => {
    e.preventDefault();
    const code = String(new FormData(e.currentTarget).get('code') || '').replace(/\s+/g, '');
    setBusy(true);
    const r = await post('/api/auth/2fa/step-up', { code });
    setBusy(false);
    setResult(r.ok ? null : r);
    if (r.ok) session.reload();
  };
  const needs2fa = result && !result.ok && result.error && result.error.code === 'TWO_FACTOR_REQUIRED';
  const can = may(session, 'admin') && !t.error && !!t.data;
  return html`<section class="card"><h2>Live trading switch</h2>
    <${DegradedBanner} error=${t.error} what="Trading switch" />
    ${t.data && html`<p>Live trading is <${YesNo} value=${t.data.trading.enabled} yes="ENABLED" no="disabled" /> (mode ${t.data.trading.mode}).
      Turning it on needs the admin role and a two-factor verification within the last 5 minutes.</p>`}
    <div class="actions"><button type="button" class="danger" disabled=${!can || busy || (t.data && t.data.trading.enabled)} onClick=${() => flip(true)}>Enable live trading</button>
      <button type="button" disabled=${!can || busy || (t.data && !t.data.trading.enabled)} onClick=${() => flip(false)}>Disable live trading</button></div>
    <${ActionResult} result=${result} okText="Trading switch changed." />
    ${needs2fa && html`<form onSubmit=${stepUp} data-testid="step-up-form"><label>Code from the app <input name="code" inputmode="numeric" autocomplete="one-time-code" required data-testid="step-up-code" /></label>
      <button type="submit" disabled=${busy} data-testid="step-up">Verify (step-up)</button></form>`}</section>`;
}

function Users() {
  const u = usePoll('/api/users?limit=500', 15000);
  const [result, setResult] = useState(null);
  const create = async (e) => {
    e.preventDefault();
    const form = e.currentTarget;
    const f = new FormData(form);
    const body = { username: f.get('username'), password: f.get('password'), role: f.get('role') };
    if (f.get('email')) body.email = f.get('email');
    const r = await post('/api/users', body);
    setResult(r);
    if (r.ok) form.reset();
    u.refresh();
  };
  const patch = async (id, body) => {
    setResult(await api(`/api/users/${encodeURIComponent(id)}`, { method: 'PATCH', body }));
    u.refresh();
  };
  return html`<section class="card" data-testid="users"><h2>Users</h2>
    <${DegradedBanner} error=${u.error} what="Users" />
    ${!u.error && !u.data && html`<${Loading} what="users" />`}
    ${u.data && html`<div class="table-wrap"><table><thead><tr><th>user</th><th>role</th><th>2FA</th><th>state</th><th>actions</th></tr></thead>
      <tbody>${u.data.users.map((x) => html`<tr><td>${x.username}<div class="small muted">${x.email || ''}</div></td>
        <td><select aria-label=${`role of ${x.username}`} value=${x.role} onChange=${(e) => patch(x.id, { role: e.currentTarget.value })}>
          ${['viewer', 'operator', 'admin'].map((r) => html`<option value=${r}>${r}</option>`)}</select></td>
        <td><${YesNo} value=${x.two_factor_enabled} yes="on" no="off" /></td>
        <td>${x.disabled ? html`<span class="no">disabled</span>` : 'active'}</td>
        <td><button type="button" onClick=${() => patch(x.id, { disabled: !x.disabled })}>${x.disabled ? 'Enable' : 'Disable'}</button></td></tr>`)}</tbody></table></div>`}
    <h3>Add a user</h3>
    <form onSubmit=${create} class="filters">
      <label>Username <input name="username" required autocomplete="off" /></label>
      <label>Password (12+ characters) <input name="password" type="password" minlength="12" required autocomplete="new-password" /></label>
      <label>Role <select name="role">${['viewer', 'operator', 'admin'].map((r) => html`<option value=${r}>${r}</option>`)}</select></label>
      <label>Email <input name="email" type="email" autocomplete="off" /></label>
      <button type="submit" disabled=${!!u.error}>Add user</button></form>
    <${ActionResult} result=${result} okText="Saved." /></section>`;
}

export function Settings() {
  const session = useSession();
  return html`<div>
    <${TwoFactor} />
    <${Trading} />
    <${Sessions} />
    ${may(session, 'admin') ? html`<${Users} />` : html`<section class="card"><h2>Users</h2><p class="muted">Managing users needs the admin role.</p></section>`}
  </div>`;
}
