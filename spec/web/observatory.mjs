// spec/web/observatory.mjs — the browser half of spec/e2e/80_web_observatory.t: drives Debian's chromium
// (playwright-core, executablePath /usr/bin/chromium; never a downloaded browser) through the Observatory of
// three real servers the Perl half started (one without keys, one with keys on the provider simulator, one with
// keys on a Saturday, when the market is closed).
//
// Protocol with the Perl half, one JSON object per line:
//   stdout {"ok": bool, "name": "...", "diag": "..."}   a test result (Perl turns it into ok())
//   stdout {"need": "<action>", ...}                      asks Perl to act on the world (simulator fault, database
//   stdin  {"done": "<action>", ...}                      outage, a psql look-up) and waits for its answer
// Config: the JSON file named by GH_WEB_CONFIG (urls, credentials, bot ids, output directory).
import { chromium } from 'playwright-core';
import { createHmac } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

const cfg = JSON.parse(readFileSync(process.env.GH_WEB_CONFIG, 'utf8'));
mkdirSync(cfg.out_dir, { recursive: true });
const T = 15000; // the longest wait for any page change (polling runs every second with ?poll=1000)

// ---- protocol ----
const emit = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const lines = createInterface({ input: process.stdin });
const waiting = [];
lines.on('line', (l) => { const w = waiting.shift(); if (w) w(JSON.parse(l)); });
function ask(need, extra = {}) {
  return new Promise((resolve) => { waiting.push(resolve); emit({ need, ...extra }); });
}
async function check(name, fn) {
  try {
    const diag = await fn();
    emit({ ok: true, name, diag: typeof diag === 'string' ? diag : undefined });
    return true;
  } catch (e) {
    emit({ ok: false, name, diag: String(e && e.stack ? e.stack : e).split('\n').slice(0, 6).join('\n') });
    return false;
  }
}
function assert(cond, msg) { if (!cond) throw new Error(msg); }

// ---- TOTP (RFC 6238, SHA1, 6 digits, 30 s): each time step is accepted once, so never reuse one ----
function base32(s) {
  const alpha = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of s.toUpperCase().replace(/[\s=-]/g, '')) bits += alpha.indexOf(c).toString(2).padStart(5, '0');
  const out = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) out.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(out);
}
const usedStep = {};
// offsetMs: how far the server's test clock runs ahead of the real time (its TOTP steps follow that clock)
async function totp(secret, minStep = 0, offsetMs = 0) {
  const stepNow = () => Math.floor((Date.now() + offsetMs) / 30000);
  let step = Math.max(stepNow(), minStep, (usedStep[secret] ?? -1) + 1);
  while (step > stepNow() + 1) await new Promise((r) => setTimeout(r, 200));
  usedStep[secret] = step;
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(step));
  const h = createHmac('sha1', base32(secret)).update(msg).digest();
  const off = h[h.length - 1] & 0x0f;
  return String((h.readUInt32BE(off) & 0x7fffffff) % 1000000).padStart(6, '0');
}

// ---- page helpers ----
const problems = []; // CSP violations and uncaught page errors, over the whole run
function watch(page, label) {
  page.on('console', (m) => { if (/Content Security Policy|Refused to/i.test(m.text())) problems.push(`${label}: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`${label}: page error ${e.message}`));
}
const byTest = (page, id) => page.locator(`[data-testid="${id}"]`);
async function tab(page, id) {
  await byTest(page, `tab-${id}`).click();
  await byTest(page, `panel-${id}`).waitFor({ timeout: T });
}
async function shot(page, name) {
  await page.screenshot({ path: `${cfg.out_dir}/${name}.png`, fullPage: true });
}
async function signIn(page, url, user, password) {
  await page.goto(`${url}/?poll=1000#/overview`);
  await byTest(page, 'login-form').waitFor({ timeout: T });
  await page.fill('input[name=username]', user);
  await page.fill('input[name=password]', password);
  await page.click('button[type=submit]');
}
// the text of the first trace id in a locator (32 hex)
async function traceIn(loc) {
  const t = (await loc.locator('[data-testid="trace-id"]').first().textContent({ timeout: T })).trim();
  assert(/^[0-9a-f]{32}$/.test(t), `trace id ${t} is 32 hex`);
  return t;
}

const browser = await chromium.launch({ executablePath: cfg.chromium, args: ['--no-sandbox'], headless: true });
try {
  await blockedServer();
  await keysServer();
  await closedServer();
} finally {
  await check('no Content-Security-Policy violation or page error in the whole run', () => {
    assert(problems.length === 0, problems.join('\n'));
  });
  await browser.close();
  lines.close();
}

// ================= server A: no keys =================
async function blockedServer() {
  const A = cfg.blocked;
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  watch(page, 'A');
  await check('A: the sign-in form, then the Overview after a password-only sign-in', async () => {
    await signIn(page, A.url, A.user, A.password);
    await byTest(page, 'panel-overview').waitFor({ timeout: T });
  });
  await check('A: no keys → system BLOCKED with the blockers listed, each with a fix and a trace id', async () => {
    await page.locator('[data-testid="system-status-badge"]', { hasText: 'BLOCKED' }).waitFor({ timeout: T });
    const items = byTest(page, 'blockers').locator('li');
    const n = await items.count();
    assert(n >= 1, 'at least one blocker');
    const codes = await items.evaluateAll((els) => els.map((e) => e.dataset.code));
    assert(codes.some((c) => c === 'INTEGRATION_KEY_MISSING' || c === 'DATA_UNAVAILABLE'), `blockers ${codes} name the missing market data`);
    for (let i = 0; i < n; i++) {
      const li = items.nth(i);
      assert((await li.locator('.fix').count()) === 1, `blocker ${codes[i]} has a suggested fix`);
      await traceIn(li);
    }
    assert(/Missing|Set|DATABENTO_API_KEY|environment/i.test(await byTest(page, 'blockers').textContent()), 'the fixes name what to set');
    await shot(page, 'A-overview-blocked');
    return `blockers: ${codes.join(', ')}`;
  });
  await check('A: the Overview shows the fleet: this instance alive, leader, all 64 shards, bots vs capacity', async () => {
    const row = byTest(page, 'fleet-instance').first();
    await row.locator('.badge', { hasText: 'alive' }).waitFor({ timeout: T });
    const text = await row.textContent();
    assert((await byTest(page, 'fleet-leader').count()) === 1, 'one leader badge');
    assert(/64 \(0–63\)/.test(text), `the row names 64 shards (0–63): ${text}`);
    assert(/\d+ \/ \d+/.test(await row.locator('[data-testid="fleet-bots"]').textContent()), 'bots / capacity');
    assert((await byTest(page, 'fleet-unowned').count()) === 0, 'no unowned shards notice');
    await byTest(page, 'fleet').scrollIntoViewIfNeeded();
    await shot(page, 'A-overview-fleet');
    return text.replace(/\s+/g, ' ').trim();
  });
  await check('A: Connections lists every provider NOT_CONFIGURED with copyable variable names, Verify disabled', async () => {
    await tab(page, 'connections');
    const row = byTest(page, 'provider-databento');
    await row.waitFor({ timeout: T });
    assert((await byTest(page, 'state-databento').textContent()).trim() === 'NOT_CONFIGURED', 'databento NOT_CONFIGURED');
    assert(await row.locator('button.copy', { hasText: 'copy' }).first().isVisible(), 'a copy button next to DATABENTO_API_KEY');
    assert(await byTest(page, 'verify-databento').isDisabled(), 'Verify now is disabled without the key');
    assert((await page.locator('[data-testid="not-yet-used"]').count()) === 0, 'nothing claims "connected"');
  });

  // 2FA enrollment in Settings: QR in the page, secret for manual entry, backup codes once
  let backup = null;
  let secretA = null;
  await check('A: Settings → 2FA enrollment renders a QR code in the page and shows 10 backup codes once', async () => {
    await tab(page, 'settings');
    await byTest(page, 'enroll-password').fill(A.password); // 2fa/setup needs the password again (issue 21)
    await byTest(page, 'enroll-2fa').click();
    const qr = byTest(page, 'qr');
    await qr.waitFor({ timeout: T });
    const size = await qr.evaluate((img) => img.complete && img.naturalWidth);
    assert(size > 50, `QR image decoded (${size} px wide)`);
    const secret = (await byTest(page, 'totp-secret').textContent()).trim();
    assert(/^[A-Z2-7]{16,}$/.test(secret), 'base32 secret for manual entry');
    secretA = secret;
    await shot(page, 'A-settings-2fa-qr');
    await byTest(page, 'confirm-code').fill(await totp(secret, 0, A.clock_offset_ms));
    await byTest(page, 'confirm-2fa').click();
    const codes = byTest(page, 'backup-codes');
    await codes.waitFor({ timeout: T });
    backup = (await codes.locator('li code').allTextContents()).map((s) => s.trim());
    assert(backup.length === 10, `10 backup codes (${backup.length})`);
    await page.locator('[data-testid="2fa-status"]', { hasText: 'on' }).waitFor({ timeout: T });
    await byTest(page, 'codes-saved').click();
    assert((await byTest(page, 'backup-codes').count()) === 0, 'the codes are gone once acknowledged');
  });
  await check('A: enrollment is not a step-up: the trading switch asks for one, a new code turns trading on (then off again)', async () => {
    assert(secretA, 'the secret from the enrollment');
    const enable = page.getByRole('button', { name: 'Enable live trading', exact: true });
    const disable = page.getByRole('button', { name: 'Disable live trading', exact: true });
    await enable.click();
    const form = byTest(page, 'step-up-form');
    await form.waitFor({ timeout: T });
    await byTest(page, 'step-up-code').fill(await totp(secretA, 0, A.clock_offset_ms));
    await byTest(page, 'step-up').click();
    await form.waitFor({ state: 'detached', timeout: T });
    await enable.click();
    await page.locator('text=Trading switch changed.').waitFor({ timeout: T });
    await disable.click();
    for (let i = 0; i < 50 && !(await enable.isEnabled()); i++) await new Promise((r) => setTimeout(r, 200));
    assert(await enable.isEnabled(), 'trading is off again');
  });
  await check('A: sign out, then password + a backup code signs in (2FA backup-code path)', async () => {
    assert(backup, 'backup codes from the enrollment');
    await byTest(page, 'sign-out').click();
    await byTest(page, 'login-form').waitFor({ timeout: T });
    await page.fill('input[name=username]', A.user);
    await page.fill('input[name=password]', A.password);
    await page.click('button[type=submit]');
    await byTest(page, 'second-factor-form').waitFor({ timeout: T });
    await page.getByRole('button', { name: 'Use a backup code instead' }).click();
    await page.fill('input[name=backup_code]', backup[0]);
    await page.click('button[type=submit]');
    await byTest(page, 'signed-in-as').waitFor({ timeout: T });
  });
  await check('A: Bots → Start is refused by the gate, and the refusal (code, blockers, fix, trace id) is shown', async () => {
    await page.goto(`${A.url}/?poll=1000#/bots/${A.bot_id}`);
    await byTest(page, 'bot-head').waitFor({ timeout: T });
    await byTest(page, 'action-start').click();
    const res = byTest(page, 'action-result');
    await res.locator('text=Refused').waitFor({ timeout: T });
    const txt = await res.textContent();
    assert(/DATA_UNAVAILABLE|INTEGRATION_KEY_MISSING/.test(txt), `refusal names the gate code: ${txt.slice(0, 200)}`);
    assert(/Fix:/.test(txt), 'with a suggested fix');
    await traceIn(res);
  });
  await check('A: Tick now is BLOCKED, and the Why-not-trading drawer shows the suppression reason', async () => {
    await byTest(page, 'action-tick').click();
    await page.locator('[data-testid="action-result"]', { hasText: 'BLOCKED' }).waitFor({ timeout: T });
    await byTest(page, 'why-not-trading').click();
    const drawer = byTest(page, 'no-trade-drawer');
    await drawer.waitFor({ timeout: T });
    const item = drawer.locator('[data-testid="trace-item"]').first();
    await item.waitFor({ timeout: T });
    const code = (await item.locator('[data-testid="reason-code"]').textContent()).trim();
    assert(/DATA_UNAVAILABLE|INTEGRATION_KEY_MISSING|BLOCKED/.test(code), `reason code ${code}`);
    assert((await item.locator('[data-testid="reason-human"]').textContent()).trim().length > 5, 'a human reason');
    await traceIn(item);
    assert((await drawer.locator('[data-testid="gate-blockers"] li').count()) >= 1, 'the gate blockers now are listed');
    await shot(page, 'A-why-not-trading');
    await page.keyboard.press('Escape');
    await drawer.waitFor({ state: 'detached', timeout: T });
    return `reason ${code}`;
  });
  await check('A: Settings → Users (admin) adds a viewer; the viewer sees the actions disabled with the reason', async () => {
    await tab(page, 'settings');
    const users = byTest(page, 'users');
    await users.locator('tbody tr').first().waitFor({ timeout: T });
    await users.locator('input[name=username]').fill('viewer1');
    await users.locator('input[name=password]').fill('viewer-password-1234');
    await users.locator('select[name=role]').selectOption('viewer');
    await users.getByRole('button', { name: 'Add user' }).click();
    await users.locator('tbody tr', { hasText: 'viewer1' }).waitFor({ timeout: T });
    await shot(page, 'A-settings-users');
    const vctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const v = await vctx.newPage();
    watch(v, 'A-viewer');
    await signIn(v, A.url, 'viewer1', 'viewer-password-1234');
    await byTest(v, 'signed-in-as').waitFor({ timeout: T });
    await v.goto(`${A.url}/?poll=1000#/bots/${A.bot_id}`);
    await byTest(v, 'bot-head').waitFor({ timeout: T });
    assert(await byTest(v, 'action-start').isDisabled(), 'Start disabled for a viewer');
    assert(await byTest(v, 'action-kill').isDisabled(), 'Kill disabled for a viewer');
    await v.locator('text=Needs the operator role').first().waitFor({ timeout: T });
    await v.goto(`${A.url}/?poll=1000#/settings`);
    await v.locator('text=Managing users needs the admin role').waitFor({ timeout: T });
    await vctx.close();
  });
  await ctx.close();
}

// ================= server B: keys on the simulator =================
async function keysServer() {
  const B = cfg.keys;
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  watch(page, 'B');
  await check('B: password then a TOTP code signs in (2FA)', async () => {
    await signIn(page, B.url, B.user, B.password);
    await byTest(page, 'second-factor-form').waitFor({ timeout: T });
    await page.fill('input[name=code]', await totp(B.totp_secret, B.totp_min_step, B.clock_offset_ms));
    await page.click('button[type=submit]');
    await byTest(page, 'panel-overview').waitFor({ timeout: T });
    await byTest(page, 'signed-in-as').waitFor({ timeout: T });
  });
  await check('B: Overview: the live stack labels providers served by a non-default host (the simulator)', async () => {
    const label = page.locator('[data-testid="stack-Market data"] [data-provider="databento"] [data-testid="host-label"]');
    await label.waitFor({ timeout: T });
    assert((await label.textContent()).includes('127.0.0.1'), 'names the host');
  });
  await check('B: keyboard: Tab reaches the tabs with a visible focus ring', async () => {
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    const focus = await page.evaluate(() => {
      const el = document.activeElement;
      const s = getComputedStyle(el);
      return { tag: el.tagName, outline: s.outlineStyle, width: parseFloat(s.outlineWidth) };
    });
    assert(focus.tag === 'A' || focus.tag === 'BUTTON', `focus on a control (${focus.tag})`);
    assert(focus.outline !== 'none' && focus.width >= 2, `visible focus outline (${focus.outline} ${focus.width}px)`);
  });
  let stateBefore;
  await check('B: Connections: databento configured, masked hint, non-default host labelled, not claimed connected', async () => {
    await tab(page, 'connections');
    const row = byTest(page, 'provider-databento');
    await row.waitFor({ timeout: T });
    stateBefore = (await byTest(page, 'state-databento').textContent()).trim();
    assert(stateBefore === 'CONFIGURED', `databento CONFIGURED before any verify (${stateBefore})`);
    const masked = (await row.locator('.masked').first().textContent()).trim();
    assert(/\*|•|…/.test(masked) && !masked.includes(B.databento_key), `a masked hint (${masked}), never the key`);
    const host = (await row.locator('[data-testid="host-label"]').textContent()).trim();
    assert(host.includes('127.0.0.1'), `the simulator host is labelled (${host})`);
    const html = await page.content();
    assert(!html.includes(B.databento_key), 'the key value is nowhere in the page');
  });
  await check('B: Verify now → VERIFIED, then "Connected but not yet used"', async () => {
    await byTest(page, 'verify-databento').click();
    const res = byTest(page, 'provider-databento').locator('[data-testid="verify-result"]');
    await res.locator('text=VERIFIED').waitFor({ timeout: T });
    await traceIn(res);
    await page.locator('[data-testid="state-databento"]', { hasText: 'VERIFIED' }).waitFor({ timeout: T });
    await byTest(page, 'provider-databento').locator('[data-testid="not-yet-used"]').waitFor({ timeout: T });
    await shot(page, 'B-connections-verified');
  });
  await check('B: a bot tick → the proof badges grow (databento calls / bars) and the decision shows under Why traded', async () => {
    await page.goto(`${B.url}/?poll=1000#/bots/${B.bot_id}`);
    await byTest(page, 'bot-head').waitFor({ timeout: T });
    await byTest(page, 'proof').waitFor({ timeout: T });
    const badge = byTest(page, 'proof-databento');
    const before = (await badge.count()) ? Number(await badge.getAttribute('data-calls')) : 0;
    await byTest(page, 'action-tick').click();
    await page.locator('[data-testid="action-result"]', { hasText: 'TRADED' }).waitFor({ timeout: T });
    await page.waitForFunction(([b]) => {
      const el = document.querySelector('[data-testid="proof-databento"]');
      return el && Number(el.dataset.calls) > b && Number(el.dataset.bars) > 0;
    }, [before], { timeout: T });
    const words = (await badge.locator('[data-testid="proof-words"]').textContent()).trim();
    assert(/\d+ calls \/ \d+ bars/.test(words), `badge says calls / bars (${words})`);
    await traceIn(badge);
    await byTest(page, 'why-traded').click();
    const drawer = byTest(page, 'decision-drawer');
    await drawer.locator('[data-testid="trace-item"]').first().waitFor({ timeout: T });
    assert(/TEST_ENTRY/.test(await drawer.textContent()), 'the ENTRY decision and its reason code');
    await page.keyboard.press('Escape');
    return `databento calls ${before} → more; ${words}`;
  });
  await check('B: Proof-of-Use: the bot\'s badges, and the events viewer filtered by provider, status and operation', async () => {
    await tab(page, 'proof');
    await byTest(page, 'proof-databento').waitFor({ timeout: T });
    await byTest(page, 'filter-provider').selectOption('databento');
    const rows = page.locator('[data-testid="usage-events"] tbody tr');
    await rows.first().waitFor({ timeout: T });
    await byTest(page, 'filter-operation').fill('marketdata.bars');
    await byTest(page, 'filter-status').selectOption('OK');
    await page.waitForFunction(() => {
      const tds = [...document.querySelectorAll('[data-testid="usage-events"] tbody tr td:nth-child(2)')];
      return tds.length > 0 && tds.every((td) => td.textContent.includes('marketdata.bars'));
    }, null, { timeout: T });
    await byTest(page, 'filter-status').selectOption('BLOCKED');
    await byTest(page, 'no-events').waitFor({ timeout: T });
    await byTest(page, 'filter-status').selectOption('');
    await byTest(page, 'filter-operation').fill('');
  });
  await check('B: the Connections drawer lists the usage events and draws the latency chart', async () => {
    await tab(page, 'connections');
    await byTest(page, 'details-databento').click();
    const drawer = byTest(page, 'provider-drawer');
    await drawer.locator('[data-testid="usage-events"] tbody tr').first().waitFor({ timeout: T });
    await drawer.locator('[data-testid="latency-chart"] canvas').waitFor({ timeout: T });
    const ops = await drawer.locator('[data-testid="usage-events"] tbody tr td:nth-child(2)').allTextContents();
    assert(ops.some((o) => o.includes('marketdata.bars')), `the tick's marketdata.bars event is listed (${ops.join(',')})`);
    await shot(page, 'B-connections-drawer');
    await page.keyboard.press('Escape');
  });
  await check('B: simulator answers 503 → Verify now → DEGRADED with a trace id in the page', async () => {
    await ask('sim_503');
    await byTest(page, 'verify-databento').click();
    const res = byTest(page, 'provider-databento').locator('[data-testid="verify-result"]');
    await res.locator('text=DEGRADED').waitFor({ timeout: T });
    const trace = await traceIn(res);
    await page.locator('[data-testid="state-databento"]', { hasText: 'DEGRADED' }).waitFor({ timeout: T });
    await shot(page, 'B-connections-degraded');
    const answer = await ask('verify_row', { trace_id: trace });
    assert(answer.found, `the trace id ${trace} is the probe's (a verifications row carries it)`);
    await ask('sim_clear');
    return `trace ${trace}`;
  });
  await check('B: every tab renders (screenshot of each at 1280x800)', async () => {
    for (const t of cfg.tabs) {
      await tab(page, t);
      await page.waitForFunction(() => !document.querySelector('[aria-busy="true"]'), null, { timeout: T });
      await shot(page, `B-tab-${t}-1280`);
    }
    return `${cfg.tabs.length} screenshots in ${cfg.out_dir}`;
  });
  await check('B: at 390 px wide every tab fits the width (tables scroll inside their frame)', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    const wide = [];
    for (const t of cfg.tabs) {
      await tab(page, t);
      await page.waitForFunction(() => !document.querySelector('[aria-busy="true"]'), null, { timeout: T });
      const w = await page.evaluate(() => document.documentElement.scrollWidth);
      if (w > 392) wide.push(`${t}: ${w}px`);
      await shot(page, `B-tab-${t}-390`);
    }
    await page.setViewportSize({ width: 1280, height: 800 });
    assert(wide.length === 0, `no page wider than the screen (${wide.join(', ')})`);
  });
  await check('B: Events and AI Ops and Variables read real data (a verify event, every LLM provider, the catalog)', async () => {
    await tab(page, 'events');
    await byTest(page, 'system-events').locator('code', { hasText: 'verify' }).first().waitFor({ timeout: T });
    await tab(page, 'ai-ops');
    await byTest(page, 'ai-providers').locator('tbody tr').first().waitFor({ timeout: T });
    await tab(page, 'variables');
    await byTest(page, 'variables').locator('tbody tr').first().waitFor({ timeout: T });
  });
  await check('B: database outage → the Events tab shows the degraded banner with a trace id instead of stale data, and recovers', async () => {
    await tab(page, 'events');
    await byTest(page, 'system-events').waitFor({ timeout: T });
    await ask('db_off');
    const banner = byTest(page, 'degraded-banner');
    await banner.waitFor({ timeout: 30000 });
    const txt = await banner.textContent();
    assert(/503/.test(txt) && /DB_UNAVAILABLE/.test(txt), `the banner names the failure: ${txt.slice(0, 160)}`);
    await traceIn(banner);
    assert((await byTest(page, 'system-events').count()) === 0, 'the stale table is gone');
    await shot(page, 'B-events-degraded');
    await ask('db_on');
    await byTest(page, 'system-events').waitFor({ timeout: 30000 });
    assert((await byTest(page, 'degraded-banner').count()) === 0, 'the banner is gone once the database is back');
  });
  await ctx.close();
}

// ================= server C: Saturday, the market is closed, Databento verified =================
async function closedServer() {
  const C = cfg.closed;
  const want = 'Market closed — opens Sun 23:00 UTC (17:00 CST)';
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  watch(page, 'C');
  await check('C: Saturday → the Overview says "Market closed — opens Sun 23:00 UTC (17:00 CST)", no data blocker', async () => {
    await signIn(page, C.url, C.user, C.password);
    const notice = page.locator('[data-testid="market-notices"] [data-testid="market-closed"]');
    await notice.waitFor({ timeout: T });
    const text = (await notice.locator('strong').textContent()).trim();
    assert(text === want, `the notice reads "${text}"`);
    const codes = await byTest(page, 'blockers').locator('li').evaluateAll((els) => els.map((e) => e.dataset.code));
    assert(!codes.includes('DATA_UNAVAILABLE') && !codes.includes('MARKET_CLOSED'), `no data blocker (${codes.join(', ') || 'none'})`);
    await shot(page, 'C-overview-market-closed');
  });
  await check('C: the Bots list marks the bot "Market closed" with the next open', async () => {
    await tab(page, 'bots');
    const chip = byTest(page, `market-closed-${C.bot_name}`);
    await chip.waitFor({ timeout: T });
    assert((await chip.textContent()).trim() === want, `the chip reads "${(await chip.textContent()).trim()}"`);
  });
  await check('C: the bot page: market closed; Tick now → SUPPRESSED MARKET_CLOSED; Why not trading names the next open', async () => {
    await page.goto(`${C.url}/?poll=1000#/bots/${C.bot_id}`);
    await byTest(page, 'bot-market-closed').waitFor({ timeout: T });
    await byTest(page, 'action-tick').click();
    const res = page.locator('[data-testid="action-result"]', { hasText: 'SUPPRESSED' });
    await res.waitFor({ timeout: T });
    assert(/MARKET_CLOSED/.test(await res.textContent()), 'the tick result names MARKET_CLOSED');
    await byTest(page, 'why-not-trading').click();
    const drawer = byTest(page, 'no-trade-drawer');
    await drawer.locator('[data-testid="drawer-market-closed"]').waitFor({ timeout: T });
    const item = drawer.locator('[data-testid="trace-item"]').first();
    await item.waitFor({ timeout: T });
    assert((await item.locator('[data-testid="reason-code"]').textContent()).trim() === 'MARKET_CLOSED', 'the trace is MARKET_CLOSED');
    assert(/opens Sun 2026-12-06 23:00 UTC \(17:00 CST\)/.test(await item.locator('[data-testid="reason-human"]').textContent()),
      'the trace names the next open');
    await shot(page, 'C-bot-market-closed');
  });
  await ctx.close();
}
