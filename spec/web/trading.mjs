// spec/web/trading.mjs — the browser half of spec/e2e/84_web_trading.t: drives Debian's chromium (playwright-core,
// executablePath /usr/bin/chromium; never a downloaded browser) through the Observatory's trading views of one
// real server (Databento on the provider simulator, the clock at AT_OPEN) that the Perl half started.
//
// Protocol with the Perl half, one JSON object per line (as spec/web/observatory.mjs):
//   stdout {"ok": bool, "name": "...", "diag": "..."}   a test result (Perl turns it into ok())
//   stdout {"need": "<action>", ...}                      asks Perl to act or look up (age_orders, expected, trace,
//   stdin  {"done": "<action>", ...}                      bot, job) and waits for its answer
// Config: the JSON file named by GH_WEB_CONFIG (url, credentials, names, output directory).
import { chromium } from 'playwright-core';
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
let failures = 0;
async function check(name, fn) {
  try {
    const diag = await fn();
    emit({ ok: true, name, diag: typeof diag === 'string' ? diag : undefined });
    return true;
  } catch (e) {
    failures++;
    emit({ ok: false, name, diag: String(e && e.stack ? e.stack : e).split('\n').slice(0, 6).join('\n') });
    return false;
  }
}
function assert(cond, msg) { if (!cond) throw new Error(msg); }
const cents = (a, b) => typeof a === 'number' && typeof b === 'number' && Math.abs(a - b) < 0.005;

// ---- page helpers ----
const problems = [];
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
  await page.waitForFunction(() => !document.querySelector('[aria-busy="true"]'), null, { timeout: T });
  await page.evaluate(() => window.scrollTo(0, 0)); // the sticky header stays at the top of a full-page shot
  await page.screenshot({ path: `${cfg.out_dir}/${name}.png`, fullPage: true });
}
async function value(loc) {
  const v = await loc.getAttribute('data-value', { timeout: T });
  assert(v !== null, `${await loc.evaluate((e) => e.outerHTML.slice(0, 160))} carries a value`);
  return Number(v);
}
const botIdInUrl = (page) => (page.url().match(/#\/bots\/([0-9a-f-]{36})/) || [])[1];

// One "Tick now" and its result: waits until the action result carries a new trace id.
async function tickNow(page) {
  const res = byTest(page, 'action-result');
  const before = (await res.count()) ? await res.locator('[data-testid="trace-id"]').first().textContent() : null;
  await byTest(page, 'action-tick').click();
  await page.waitForFunction((b) => {
    const el = document.querySelector('[data-testid="action-result"] [data-testid="trace-id"]');
    return el && el.textContent !== b && /Tick:/.test(document.querySelector('[data-testid="action-result"]').textContent);
  }, before, { timeout: T });
  return (await res.textContent()).replace(/\s+/g, ' ').trim();
}

const browser = await chromium.launch({ executablePath: cfg.chromium, args: ['--no-sandbox'], headless: true });
const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const page = await ctx.newPage();
watch(page, 'trading');
let botId = null;
try {
  await run();
} finally {
  await check('no Content-Security-Policy violation or page error in the whole run', () => {
    assert(problems.length === 0, problems.join('\n'));
  });
  await browser.close();
  lines.close();
}

async function run() {
  await check('sign in and open the Bots tab', async () => {
    await page.goto(`${cfg.url}/?poll=1000#/overview`);
    await byTest(page, 'login-form').waitFor({ timeout: T });
    await page.fill('input[name=username]', cfg.user);
    await page.fill('input[name=password]', cfg.password);
    await page.click('button[type=submit]');
    await byTest(page, 'panel-overview').waitFor({ timeout: T });
    await tab(page, 'bots');
    await byTest(page, 'bot-list').waitFor({ timeout: T });
  });

  await check('New bot: the strategy list comes from the policy and the form refuses qty 0 by the schema\'s rule, sending nothing', async () => {
    await byTest(page, 'new-bot').click();
    const form = byTest(page, 'new-bot-form');
    await form.waitFor({ timeout: T });
    const options = await byTest(page, 'bot-strategy').locator('option').evaluateAll((els) => els.map((e) => e.value));
    assert(options.includes(cfg.strategy) && options.includes('sma_cross'), `strategies offered: ${options.join(', ')}`);
    await byTest(page, 'bot-strategy').selectOption(cfg.strategy);
    await byTest(page, 'param-qty').waitFor({ timeout: T });
    assert((await byTest(page, 'param-qty').getAttribute('type')) === 'number', 'qty is a number field');
    assert((await byTest(page, 'param-qty').getAttribute('min')) === '1' && (await byTest(page, 'param-qty').getAttribute('max')) === '5',
      'with the schema\'s min and max');
    await byTest(page, 'bot-name').fill(cfg.bot_name);
    await byTest(page, 'bot-symbol').fill('ESZ6');
    await byTest(page, 'bot-timeframe').selectOption('1m');
    await byTest(page, 'bot-stage').selectOption('PAPER');
    await byTest(page, 'param-qty').fill('0');
    await byTest(page, 'bot-create-submit').click();
    const err = byTest(page, 'field-error-params.qty');
    await err.waitFor({ timeout: T });
    const text = (await err.textContent()).trim();
    assert(text === 'params.qty must be an integer from 1 to 5', `the rule next to the field: "${text}"`);
    const b = await ask('bot', { name: cfg.bot_name });
    assert(!b.found, 'no bot was created');
    return text;
  });

  await check('New bot: a key the strategy does not know is refused by the server, its reason shown next to the field', async () => {
    await byTest(page, 'param-qty').fill('2');
    assert((await byTest(page, 'field-error-params.qty').count()) === 0, 'a valid qty clears the message');
    await byTest(page, 'param-extra').fill('{"foo": 1}');
    await byTest(page, 'bot-create-submit').click();
    const err = byTest(page, 'field-error-extra');
    await err.waitFor({ timeout: T });
    const text = (await err.textContent()).trim();
    assert(/params\.foo is not a parameter of strategy flipq/.test(text), `the server's reason: "${text}"`);
    const res = (await byTest(page, 'new-bot-form').locator('[data-testid="action-result"]').textContent());
    assert(/VALIDATION_FAILED/.test(res) && /HTTP 400/.test(res), 'the refusal names VALIDATION_FAILED (HTTP 400)');
    await shot(page, 'T-new-bot-refused');
    const b = await ask('bot', { name: cfg.bot_name });
    assert(!b.found, 'still no bot');
    return text;
  });

  await check('New bot: with valid params the bot is created and its page opens', async () => {
    await byTest(page, 'param-extra').fill('');
    await byTest(page, 'bot-create-submit').click();
    await page.waitForFunction(() => /#\/bots\/[0-9a-f-]{36}/.test(window.location.hash), null, { timeout: T });
    botId = botIdInUrl(page);
    await byTest(page, 'bot-head').waitFor({ timeout: T });
    assert((await byTest(page, 'bot-head').locator('h2').textContent()).includes(cfg.bot_name), 'the head names the bot');
    const b = await ask('bot', { name: cfg.bot_name });
    assert(b.found && b.id === botId, 'the page is the new bot\'s');
    assert(JSON.stringify(b.params) === '{"qty":2}', `stored params ${JSON.stringify(b.params)}`);
  });
  if (!botId) return;

  let outcomes = [];
  await check('Tick now against the simulator until the bot has fills (entry, exit, entry)', async () => {
    for (let i = 0; i < 4; i++) {
      if (i > 0) await ask('age_orders', { bot_id: botId });
      outcomes.push(await tickNow(page));
    }
    assert(outcomes.every((o) => /TRADED/.test(o)), `every tick traded: ${outcomes.join(' | ')}`);
    const e = await ask('expected', { bot_id: botId });
    assert(e.fills.length === 3, `3 fills (${e.fills.length})`);
    assert(e.fills.map((f) => f.side).join(',') === 'BUY,SELL,BUY', `BUY, SELL, BUY (${e.fills.map((f) => f.side)})`);
    return outcomes.join(' | ');
  });

  await check('ticks without aging pile up exit orders until the risk check suppresses one: a no-trade span with its reason', async () => {
    const more = [];
    for (let i = 0; i < 5 && more.filter((o) => /SUPPRESSED/.test(o)).length < 2; i++) more.push(await tickNow(page));
    const sup = more.filter((o) => /SUPPRESSED/.test(o));
    assert(sup.length === 2 && sup.every((o) => /MAX_CONTRACTS/.test(o)), `two ticks SUPPRESSED MAX_CONTRACTS: ${more.join(' | ')}`);
    const nt = await ask('no_trade', { bot_id: botId });
    assert(nt.reasons.join(',') === 'MAX_CONTRACTS,MAX_CONTRACTS', `the no-trade traces stored: ${nt.reasons}`);
    const legend = page.locator('[data-testid="no-trade-legend"] li[data-reason="MAX_CONTRACTS"]');
    await legend.waitFor({ timeout: T });
    // the chart polls the traces every second: wait until it has read both
    await page.waitForFunction(() => /2 no-trade traces/.test((document.querySelector(
      '[data-testid="no-trade-legend"] li[data-reason="MAX_CONTRACTS"]') || {}).textContent || ''), null, { timeout: T }).catch(() => {});
    const text = (await legend.textContent()).replace(/\s+/g, ' ');
    assert(/1 span\(s\), 2 no-trade traces/.test(text), `one span of two consecutive traces: ${text}`);
    assert((await byTest(page, 'price-chart').getAttribute('data-spans')) === '1', 'one shaded span');
    return text.trim();
  });

  const e = await ask('expected', { bot_id: botId });
  await check('the price chart: one marker per fill, at its price and time, higher prices drawn higher', async () => {
    const chart = byTest(page, 'price-chart');
    await chart.waitFor({ timeout: T });
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid="price-chart"] [data-testid="fill-marker"]').length === n,
      e.fills.length, { timeout: T });
    const markers = await chart.locator('[data-testid="fill-marker"]').evaluateAll((els) => els.map((m) => ({
      id: m.dataset.fillId, side: m.dataset.side, price: Number(m.dataset.price), t: Number(m.dataset.t), hidden: m.hidden,
      y: m.getBoundingClientRect().top + m.getBoundingClientRect().height / 2, trace: m.dataset.decisionTraceId })));
    for (const f of e.fills) {
      const m = markers.find((x) => x.id === f.id);
      assert(m, `a marker for fill ${f.id}`);
      assert(m.side === f.side && m.price === f.price, `fill ${f.id}: ${m.side} at ${m.price} (the row: ${f.side} at ${f.price})`);
      assert(Math.abs(m.t - f.t) < 1, `fill ${f.id} at its time (${m.t} vs ${f.t})`);
      assert(!m.hidden, `fill ${f.id}'s marker is inside the chart`);
      assert(m.trace === (f.decision_trace_id || ''), `fill ${f.id} links to its decision trace`);
    }
    const byPrice = [...markers].sort((a, b) => a.price - b.price);
    for (let i = 1; i < byPrice.length; i++) {
      if (byPrice[i].price > byPrice[i - 1].price) assert(byPrice[i].y < byPrice[i - 1].y, 'a higher price is drawn higher');
    }
    assert(Number(await chart.getAttribute('data-bars')) > 30, `the bars the ticks used are drawn (${await chart.getAttribute('data-bars')})`);
    return `${markers.length} markers: ${markers.map((m) => `${m.side}@${m.price}`).join(', ')}`;
  });

  await check('the price chart zooms on a drag and resets on a double-click', async () => {
    const plot = page.locator('[data-testid="price-chart"] .chart.price');
    const over = page.locator('[data-testid="price-chart"] .u-over');
    const box = await over.boundingBox();
    const win = async () => [Number(await plot.getAttribute('data-x-min')), Number(await plot.getAttribute('data-x-max'))];
    const before = await win();
    await page.mouse.move(box.x + box.width * 0.5, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.7, box.y + box.height / 2, { steps: 5 });
    await page.mouse.move(box.x + box.width * 0.9, box.y + box.height / 2, { steps: 5 });
    await page.mouse.up();
    await page.waitForFunction((b) => Number(document.querySelector('[data-testid="price-chart"] .chart.price').dataset.xMin) > b,
      before[0] + 60, { timeout: T });
    const zoomed = await win();
    assert(zoomed[1] - zoomed[0] < (before[1] - before[0]) / 2, `a narrower window (${zoomed} from ${before})`);
    await over.dblclick({ position: { x: 10, y: 10 } });
    await page.waitForFunction((b) => Number(document.querySelector('[data-testid="price-chart"] .chart.price').dataset.xMin) === b,
      before[0], { timeout: T });
    return `window ${before.join('–')} → ${zoomed.join('–')} → back`;
  });

  await check('a marker opens "Why traded" on the fill\'s own decision trace', async () => {
    const f = e.fills[1];
    const marker = page.locator(`[data-testid="price-chart"] [data-testid="fill-marker"][data-fill-id="${f.id}"]`);
    await marker.click();
    const drawer = byTest(page, 'decision-drawer');
    await drawer.waitFor({ timeout: T });
    const item = drawer.locator('[data-testid="focused-trace"]');
    await item.waitFor({ timeout: T });
    assert((await item.getAttribute('data-trace')) === f.decision_trace_id, 'the focused trace is the fill\'s');
    const want = await ask('trace', { id: f.decision_trace_id });
    const code = (await item.locator('[data-testid="reason-code"]').textContent()).trim();
    const trace = (await item.locator('[data-testid="trace-id"]').textContent()).trim();
    assert(code === want.reason_code && trace === want.trace_id, `reason ${code} / trace ${trace} as stored (${want.reason_code} / ${want.trace_id})`);
    await shot(page, 'T-why-traded-marker');
    await page.keyboard.press('Escape');
    await drawer.waitFor({ state: 'detached', timeout: T });
    return `${f.side} fill → ${code}`;
  });

  await check('the position equals the fills rows by average cost, to the cent', async () => {
    const row = page.locator('[data-testid="positions"] tr[data-stage="PAPER"]');
    await row.waitFor({ timeout: T });
    const qty = await value(row.locator('[data-testid="pos-qty"]'));
    const avg = await value(row.locator('[data-testid="pos-avg"]'));
    const realized = await value(row.locator('[data-testid="pos-realized"]'));
    const fees = await value(row.locator('[data-testid="pos-fees"]'));
    assert(qty === e.qty, `qty ${qty} = ${e.qty}`);
    assert(Math.abs(avg - e.avg) < 1e-6, `avg price ${avg} = ${e.avg}`);
    assert(cents(realized, e.realized), `realized ${realized} = ${e.realized}`);
    assert(cents(fees, e.fees), `fees ${fees} = ${e.fees}`);
    if (e.unrealized !== null) assert(cents(await value(row.locator('[data-testid="pos-unrealized"]')), e.unrealized), `unrealized = ${e.unrealized}`);
    return `qty ${qty} avg ${avg} realized ${realized} fees ${fees} (mark ${e.mark})`;
  });

  await check('P&L over "all": realized, fees and net equal the fills rows, with the equity curve', async () => {
    await byTest(page, 'pnl-window-all').click();
    await page.locator('[data-testid="pnl"][data-window="all"]').waitFor({ timeout: T });
    const realized = await value(byTest(page, 'pnl-realized'));
    const fees = await value(byTest(page, 'pnl-fees'));
    assert(cents(realized, e.realized), `realized ${realized} = ${e.realized}`);
    assert(cents(fees, e.fees), `fees ${fees} = ${e.fees}`);
    if (e.net !== null) assert(cents(await value(byTest(page, 'pnl-net')), e.net), `net = ${e.net}`);
    const closing = Number((await byTest(page, 'pnl-trade_count').textContent()).trim());
    assert(closing === e.closing_fills && closing >= 1, `trades = the closing fills (${closing}, the rows: ${e.closing_fills})`);
    await byTest(page, 'equity-chart').waitFor({ timeout: T });
    await shot(page, 'T-bot-page');
    return `realized ${realized}, fees ${fees}, net ${e.net}`;
  });

  await check('Run backtest → the job succeeds; its results page (own address, survives a reload) shows the same statistics, equity and trades on the chart', async () => {
    await page.waitForFunction(() => {
      const s = document.querySelector('[data-testid="backtest-start"]');
      return s && /^\d{4}-\d\d-\d\dT/.test(s.value);
    }, null, { timeout: T });
    await byTest(page, 'run-backtest').click();
    const state = page.locator('[data-testid="backtest-job-state"][data-state="SUCCEEDED"]');
    await state.waitFor({ timeout: 45000 });
    const res = byTest(page, 'backtest-result');
    await res.waitFor({ timeout: T });
    for (const k of ['realized', 'unrealized', 'fees', 'net', 'trade_count', 'win_rate', 'profit_factor', 'max_drawdown']) {
      assert((await res.locator(`[data-testid="bt-${k}"]`).count()) === 1, `the backtest shows ${k}`);
    }
    const jobId = await res.getAttribute('data-job');
    assert(page.url().endsWith(`#/bots/${botId}/backtests/${jobId}`), `the results have their own address (${page.url()})`);
    await page.reload();
    await page.locator(`[data-testid="backtest-result"][data-job="${jobId}"]`).waitFor({ timeout: T });
    const { job } = await ask('job', { id: jobId });
    assert(job && job.state === 'SUCCEEDED', 'the job is SUCCEEDED in the API');
    assert(Number((await byTest(page, 'bt-trade_count').textContent()).trim()) === job.result.trade_count, 'its trade count');
    const chart = byTest(page, 'bt-price-chart');
    await chart.waitFor({ timeout: T });
    const trades = job.result.trades || [];
    const want = trades.reduce((n, t) => n + (t.exit_t ? 2 : 1), 0);
    assert(Number(await chart.getAttribute('data-markers')) === want, `a marker per backtest entry and exit (${want})`);
    await shot(page, 'T-backtest-result');
    return `${job.result.trade_count} trades, ${want} markers`;
  });

  await check('Bots list: position, today\'s and total P&L and last trade from /api/portfolio; columns sort, unknown last', async () => {
    await tab(page, 'bots');
    const row = page.locator(`[data-testid="bot-list"] tr[data-name="${cfg.bot_name}"]`);
    await row.waitFor({ timeout: T });
    await page.waitForFunction((n) => {
      const c = document.querySelector(`[data-testid="bot-list"] tr[data-name="${n}"] [data-testid="row-net"] [data-value]`);
      return !!c;
    }, cfg.bot_name, { timeout: T });
    assert((await row.locator('[data-testid="row-position"]').textContent()).trim() === String(e.qty), 'the position');
    if (e.net !== null) assert(cents(await value(row.locator('[data-testid="row-net"] [data-value]')), e.net), `total P&L = ${e.net}`);
    assert(/2026-12-08/.test(await row.locator('[data-testid="row-last-fill"]').textContent()), 'the last trade time');
    // every fill is of today (the clock's UTC day): today's P&L is realized − fees
    assert(cents(await value(row.locator('[data-testid="row-day-net"] [data-value]')), e.realized - e.fees), `today's P&L = ${e.realized - e.fees}`);
    const unknownRow = page.locator(`[data-testid="bot-list"] tr[data-name="${cfg.unknown_bot}"]`);
    assert((await unknownRow.locator('[data-testid="row-net"] [data-unknown="true"]').count()) === 1, 'the other bot\'s total P&L is unknown, not 0');
    const names = () => page.locator('[data-testid="bot-list"] tbody tr').evaluateAll((els) => els.map((r) => r.dataset.name));
    await byTest(page, 'sort-net').click();
    await page.locator('[data-testid="bot-list"][data-sort="net:asc"]').waitFor({ timeout: T });
    const asc = await names();
    await byTest(page, 'sort-net').click();
    await page.locator('[data-testid="bot-list"][data-sort="net:desc"]').waitFor({ timeout: T });
    const desc = await names();
    assert(asc[asc.length - 1] === cfg.unknown_bot && desc[desc.length - 1] === cfg.unknown_bot, `an unknown P&L sorts last both ways (${asc} / ${desc})`);
    await byTest(page, 'sort-name').click();
    await page.locator('[data-testid="bot-list"][data-sort="name:asc"]').waitFor({ timeout: T });
    const byName = await names();
    assert(JSON.stringify(byName) === JSON.stringify([...byName].sort()), `by name (${byName})`);
    await shot(page, 'T-bots-list');
  });

  await check('Portfolio: PAPER, SHADOW and LIVE totals apart; the PAPER net equals the fills; unknown (not 0) with its reason', async () => {
    await tab(page, 'portfolio');
    await byTest(page, 'stage-totals').waitFor({ timeout: T });
    for (const s of ['PAPER', 'SHADOW', 'LIVE']) assert((await byTest(page, `stage-${s}`).count()) === 1, `a ${s} card`);
    if (e.net !== null) assert(cents(await value(byTest(page, 'stage-PAPER-net')), e.net), `PAPER net = ${e.net}`);
    assert(cents(await value(byTest(page, 'stage-PAPER-day_net')), e.realized - e.fees), `PAPER today = ${e.realized - e.fees}`);
    const row = page.locator('[data-testid="portfolio-bots"] tr', { hasText: cfg.unknown_bot });
    await row.waitFor({ timeout: T });
    const cells = await row.locator('[data-unknown="true"]').count();
    assert(cells >= 1, 'the no-multiplier bot shows unknown money');
    const why = await row.locator('[data-unknown="true"]').first().getAttribute('title');
    assert(/multiplier/i.test(why), `with why (${why})`);
    assert(/unknown/.test(await row.locator('[data-unknown="true"]').first().textContent()), 'in words');
    const shadow = await byTest(page, 'stage-SHADOW').textContent();
    assert(/unknown/.test(shadow) && /multiplier/i.test(shadow), 'the SHADOW totals say unknown and why');
    await shot(page, 'T-portfolio');
  });

  await check('Clone asks a name and opens the copy; Edit params refuses qty 9 by the rule, then saves qty 3', async () => {
    await page.goto(`${cfg.url}/?poll=1000#/bots/${botId}`);
    await byTest(page, 'bot-head').waitFor({ timeout: T });
    page.once('dialog', (d) => d.accept(cfg.clone_name));
    await byTest(page, 'clone-bot').click();
    await page.waitForFunction((id) => /#\/bots\/[0-9a-f-]{36}/.test(window.location.hash) && !window.location.hash.includes(id), botId, { timeout: T });
    await page.locator('[data-testid="bot-head"] h2', { hasText: cfg.clone_name }).waitFor({ timeout: T });
    await byTest(page, 'edit-params').click();
    await byTest(page, 'edit-params-form').waitFor({ timeout: T });
    assert((await byTest(page, 'param-qty').inputValue()) === '2', 'the form holds the source\'s qty');
    await byTest(page, 'param-qty').fill('9');
    await byTest(page, 'edit-params-submit').click();
    const err = (await byTest(page, 'field-error-params.qty').textContent()).trim();
    assert(err === 'params.qty must be an integer from 1 to 5', `the rule: ${err}`);
    await shot(page, 'T-edit-params');
    await byTest(page, 'param-qty').fill('3');
    await byTest(page, 'edit-params-submit').click();
    await byTest(page, 'edit-params-form').waitFor({ state: 'detached', timeout: T });
    const b = await ask('bot', { name: cfg.clone_name });
    assert(b.found && JSON.stringify(b.params) === '{"qty":3}', `stored params ${JSON.stringify(b.params)}`);
  });

  await check('a viewer sees the bot page and opens Why traded from a marker, but New bot, Clone, Edit params and Run backtest are disabled with the reason', async () => {
    const vctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const v = await vctx.newPage();
    watch(v, 'viewer');
    await v.goto(`${cfg.url}/?poll=1000#/overview`);
    await byTest(v, 'login-form').waitFor({ timeout: T });
    await v.fill('input[name=username]', cfg.viewer.user);
    await v.fill('input[name=password]', cfg.viewer.password);
    await v.click('button[type=submit]');
    await byTest(v, 'signed-in-as').waitFor({ timeout: T });
    await tab(v, 'bots');
    await byTest(v, 'bot-list').waitFor({ timeout: T });
    assert(await byTest(v, 'new-bot').isDisabled(), 'New bot disabled');
    await v.locator('text=Needs the operator role').first().waitFor({ timeout: T });
    await v.goto(`${cfg.url}/?poll=1000#/bots/${botId}`);
    await byTest(v, 'bot-head').waitFor({ timeout: T });
    await byTest(v, 'run-backtest').waitFor({ timeout: T });
    for (const id of ['clone-bot', 'edit-params', 'run-backtest']) assert(await byTest(v, id).isDisabled(), `${id} disabled`);
    const marker = v.locator('[data-testid="price-chart"] [data-testid="fill-marker"]').first();
    await marker.waitFor({ timeout: T });
    await marker.click();
    await byTest(v, 'decision-drawer').locator('[data-testid="focused-trace"]').waitFor({ timeout: T });
    await vctx.close();
  });

  await check('at 390 px the bot page and the Portfolio fit the width (tables scroll in their frame)', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    const wide = [];
    for (const [name, hash, wait] of [['T-bot-page-390', `#/bots/${botId}`, 'price-chart'], ['T-portfolio-390', '#/portfolio', 'stage-totals']]) {
      await page.goto(`${cfg.url}/?poll=1000${hash}`);
      await byTest(page, wait).waitFor({ timeout: T });
      const w = await page.evaluate(() => document.documentElement.scrollWidth);
      if (w > 392) wide.push(`${name}: ${w}px`);
      await shot(page, name);
    }
    assert(wide.length === 0, `no page wider than the screen (${wide.join(', ')})`);
  });
}
