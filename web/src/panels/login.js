// Login: username + password, then (when 2FA is on) a TOTP code or a one-time backup code.
import { useState } from 'preact/hooks';
import { post } from '../api.js';
import { html, ActionResult } from '../ui.js';

export function Login({ onSignedIn }) {
  const [step, setStep] = useState('password'); // password | second
  const [useBackup, setUseBackup] = useState(false);
  const [temp, setTemp] = useState(null);
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState(null);

  const submitPassword = async (e) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    setBusy(true);
    setFailure(null);
    const r = await post('/api/auth/login', { username: f.get('username'), password: f.get('password') });
    setBusy(false);
    if (!r.ok) return setFailure(r);
    if (r.data.requires_2fa) {
      setTemp(r.data.temp_token);
      setStep('second');
      return null;
    }
    return onSignedIn(r.data.user);
  };

  const submitSecond = async (e) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const body = { temp_token: temp };
    if (useBackup) body.backup_code = String(f.get('backup_code') || '').trim();
    else body.code = String(f.get('code') || '').replace(/\s+/g, '');
    setBusy(true);
    setFailure(null);
    const r = await post('/api/auth/2fa/verify', body);
    setBusy(false);
    if (!r.ok) {
      // the temporary token is single use: an expired or consumed one needs the password again
      if (r.status === 401 && /temp|token|expired/i.test(r.error.reason)) setStep('password');
      return setFailure(r);
    }
    return onSignedIn(r.data.user);
  };

  return html`<main class="login" id="main">
    <h1>gatehouse</h1>
    <p class="muted">Control Plane Observatory — sign in</p>
    ${step === 'password' ? html`<form onSubmit=${submitPassword} data-testid="login-form">
        <label>Username <input name="username" autocomplete="username" required autofocus /></label>
        <label>Password <input name="password" type="password" autocomplete="current-password" required /></label>
        <button type="submit" disabled=${busy}>${busy ? 'Signing in…' : 'Sign in'}</button>
      </form>`
    : html`<form onSubmit=${submitSecond} data-testid="second-factor-form">
        <p>Two-factor authentication is on for this account.</p>
        ${useBackup
          ? html`<label key="backup">Backup code <input name="backup_code" autocomplete="off" required autofocus /></label>`
          : html`<label key="totp">6-digit code from your authenticator app
              <input name="code" inputmode="numeric" pattern="[0-9 ]{6,7}" autocomplete="one-time-code" required autofocus /></label>`}
        <button type="submit" disabled=${busy}>${busy ? 'Checking…' : 'Verify'}</button>
        <button type="button" class="link" onClick=${() => { setUseBackup(!useBackup); setFailure(null); }}>
          ${useBackup ? 'Use an authenticator code instead' : 'Use a backup code instead'}</button>
      </form>`}
    <${ActionResult} result=${failure} />
  </main>`;
}
