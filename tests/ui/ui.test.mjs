// Browser tests of weft's web UI: headless Debian chromium driven by playwright-core against a
// real `weft serve` loaded with known traces. Run by crates/weft-cli/tests/ui.rs, which starts
// the server, posts the traces and writes the fixture file named by WEFT_UI_FIXTURE (trace ids
// and what each view must show). Every view writes a screenshot to fixture.screenshots.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const fx = JSON.parse(readFileSync(process.env.WEFT_UI_FIXTURE ?? 'missing-WEFT_UI_FIXTURE', 'utf8'));
const BASE = fx.url;
const CHROMIUM = process.env.WEFT_CHROMIUM ?? '/usr/bin/chromium';
const A = fx.checkoutA, B = fx.checkoutB;

let browser;
before(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`chromium not found at ${CHROMIUM}: run scripts/test.sh, which installs Debian's chromium`);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
});
after(async () => { await browser?.close(); });

/** A fresh page (own context: no shared storage) at path; uncaught page errors fail the test. */
async function open(path, { colorScheme = 'light', viewport = { width: 1440, height: 900 } } = {}) {
  const ctx = await browser.newContext({ viewport, colorScheme, acceptDownloads: true });
  const page = await ctx.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(e.message));
  await page.goto(BASE + path);
  return page;
}

async function close(page) {
  assert.deepEqual(page.errors, [], 'uncaught errors in the page');
  await page.context().close();
}

const shot = (page, name) => page.screenshot({ path: join(fx.screenshots, `${name}.png`) });

/** Whether the server has a route (its JSON 404 for unknown endpoints says "no such endpoint"). */
async function hasEndpoint(path) {
  const r = await fetch(BASE + path);
  if (r.status !== 404) return true;
  const body = await r.json().catch(() => ({}));
  return !String(body.error ?? '').startsWith('no such endpoint');
}

async function requireEndpoint(page, path, what) {
  if (await hasEndpoint(path)) return;
  // the UI must say so in the view rather than break
  await page.waitForSelector('.unavailable', { timeout: 10000 });
  assert.fail(`${what}: GET ${path.split('?')[0]} is not on this server yet (the view shows its "not available" message)`);
}

async function searchDone(page, urlPart) {
  await page.waitForFunction((u) => {
    const r = document.querySelector('.results-pane');
    return r && (r.dataset.state === 'done' || r.dataset.state === 'error') && (!u || location.search.includes(u));
  }, urlPart, { timeout: 20000 });
}

const resultIds = (page) => page.$$eval('.result', (rs) => rs.map((r) => r.dataset.traceId));

/** The waterfall's rows in screen order. */
const rows = (page) => page.$$eval('.wf-row', (rs) => rs.map((r) => ({
  top: parseFloat(r.style.top),
  svc: r.querySelector('.svc').textContent,
  name: r.querySelector('.op').textContent,
  depth: Number(r.dataset.depth),
  critical: r.dataset.critical === 'true',
  selected: r.classList.contains('selected'),
  id: r.dataset.spanId,
})).sort((a, b) => a.top - b.top));

async function openTrace(path, opts) {
  const page = await open(path, opts);
  await page.waitForSelector('.wf-row', { state: 'attached', timeout: 30000 });
  return page;
}

const selectedName = async (page) => (await rows(page)).find((r) => r.selected)?.name;

test('search by fields finds the expected traces, and the URL holds the search', async () => {
  const page = await open('/search');
  await searchDone(page);
  await page.waitForFunction(() => [...document.querySelectorAll('select[aria-label=service] option')].some((o) => o.value === 'llm-worker'));
  await page.selectOption('select[aria-label=service]', 'llm-worker');
  await page.click('form.search-form button[type=submit]');
  await searchDone(page, 'service=llm-worker');
  assert.deepEqual(new Set(await resultIds(page)), new Set([A, B]));
  assert.equal(await page.locator('.scatter circle').count(), 2, 'one dot per trace');
  await shot(page, 'search');
  // reload: the same search from the URL
  await page.reload();
  await searchDone(page);
  assert.deepEqual(new Set(await resultIds(page)), new Set([A, B]));
  await page.waitForFunction(() => document.querySelector('select[aria-label=service]').value === 'llm-worker');
  // a dot opens its trace
  await page.click(`.scatter circle[data-trace-id="${B}"]`);
  await page.waitForURL(`**/trace/${B}`);
  await page.waitForSelector('.wf-row');
  await close(page);

  for (const [path, want, not] of [
    ['/search?service=frontend&minDuration=120ms', [B], [A]],
    ['/search?tags=db.system%3Dpostgresql', [A, B], [fx.typed, fx.big]],
    ['/search?status=error', [A, B, fx.typed], [fx.big]],
    ['/search?service=frontend&operation=GET%20%2Fcheckout&maxDuration=120ms', [A], [B]],
  ]) {
    const p = await open(path);
    await searchDone(p);
    const ids = await resultIds(p);
    for (const id of want) assert.ok(ids.includes(id), `${path} finds ${id}: ${ids}`);
    for (const id of not) assert.ok(!ids.includes(id), `${path} does not find ${id}`);
    await close(p);
  }

  // truncation is shown
  const t = await open('/search?limit=2');
  await searchDone(t);
  assert.equal((await resultIds(t)).length, 2);
  assert.ok(await t.locator('[data-truncated=true]').isVisible(), 'truncated results say so');
  await shot(t, 'search-truncated');
  await close(t);

  // a malformed tag is reported at the form
  const e = await open('/search');
  await searchDone(e);
  await e.fill('input[aria-label=tags]', 'db.system');
  await e.click('form.search-form button[type=submit]');
  await e.waitForFunction(() => document.querySelector('.field-error').textContent.includes('key=value'));
  await close(e);
});

test('TraceQL search finds the expected traces; a bad query shows the error at its column', async () => {
  const page = await open('/search');
  await searchDone(page);
  await page.click('button[data-mode=traceql]');
  await page.fill('textarea.traceql', '{ resource.service.name = "payment" && status = error }');
  await page.press('textarea.traceql', 'Enter');
  await searchDone(page, 'q=');
  await requireEndpoint(page, '/api/v1/query?q=%7B%7D', 'TraceQL search');
  assert.deepEqual(new Set(await resultIds(page)), new Set([A, B]));
  // matched spans link to the span in its trace
  const link = await page.getAttribute(`.result[data-trace-id="${A}"] .spansets a`, 'href');
  assert.equal(link, `/trace/${A}?span=${fx.chargeSpan}`);
  await shot(page, 'search-traceql');
  // reload keeps the query
  await page.reload();
  await searchDone(page);
  assert.equal(await page.inputValue('textarea.traceql'), '{ resource.service.name = "payment" && status = error }');
  assert.deepEqual(new Set(await resultIds(page)), new Set([A, B]));

  const bad = '{ resource.service.name = }';
  await page.fill('textarea.traceql', bad);
  await page.press('textarea.traceql', 'Enter');
  await page.waitForSelector('.traceql-error:not([hidden])');
  const api = await (await fetch(`${BASE}/api/v1/query?q=${encodeURIComponent(bad)}`)).json();
  const err = await page.$eval('.traceql-error', (e) => ({
    line: e.dataset.line, column: e.dataset.column,
    src: e.querySelector('.src')?.textContent, caret: e.querySelector('.caret')?.textContent,
    msg: e.querySelector('.ql-msg').textContent,
  }));
  assert.equal(err.line, String(api.line));
  assert.equal(err.column, String(api.column));
  assert.equal(err.src, bad);
  assert.equal(err.caret, `${' '.repeat(api.column - 1)}^`, 'the caret stands under the column');
  assert.equal(err.msg, api.error);
  assert.equal(await page.getAttribute('textarea.traceql', 'aria-invalid'), 'true');
  await shot(page, 'search-traceql-error');
  await close(page);
});

test('the waterfall lists the spans in order, with depth and service', async () => {
  const page = await openTrace(`/trace/${A}`);
  const got = (await rows(page)).map((r) => [r.svc, r.name, r.depth]);
  assert.deepEqual(got, fx.waterfallA);
  // errors marked
  const charge = page.locator(`.wf-row[data-span-id="${fx.chargeSpan}"]`);
  assert.equal(await charge.getAttribute('data-error'), 'true');
  assert.equal(await charge.locator('.icon-err').count(), 1);
  // bars to scale: the root's bar spans the whole ruler, charge's starts at 30%
  const left = await charge.locator('.bar').evaluate((b) => parseFloat(b.style.left));
  assert.ok(Math.abs(left - 30) < 0.01, `charge starts at 30% (got ${left})`);
  await shot(page, 'trace');
  await close(page);
});

test('the critical path marks the expected spans', async () => {
  const page = await openTrace(`/trace/${A}`);
  await requireEndpoint(page, `/api/v1/traces/${A}/analysis`, 'trace analysis');
  await page.waitForSelector('#view[data-analysis=loaded]', { timeout: 20000 });
  const crit = (await rows(page)).filter((r) => r.critical).map((r) => r.name);
  assert.deepEqual(new Set(crit), new Set(fx.criticalA));
  await shot(page, 'trace-critical-path');
  await close(page);
});

test('the span panel shows every attribute with its type, events, links, resource and scope', async () => {
  const page = await openTrace(`/trace/${fx.typed}?span=${fx.typedRoot}`);
  await page.waitForSelector('.panel:not([hidden])');
  const attr = (key) => page.$eval(`.panel section[data-section=attributes] tr[data-key="${key}"]`, (tr) => ({
    type: tr.dataset.type, text: tr.children[1].textContent,
    nested: [...tr.querySelectorAll('.tv .tv')].map((x) => x.dataset.type),
  }));
  assert.deepEqual(await attr('str'), { type: 'string', text: 'stringhello wörld', nested: [] });
  assert.deepEqual(await attr('int'), { type: 'int', text: 'int-9007199254740993', nested: [] });
  assert.deepEqual(await attr('double'), { type: 'double', text: 'double3.25', nested: [] });
  assert.deepEqual(await attr('bool'), { type: 'bool', text: 'booltrue', nested: [] });
  assert.equal((await attr('bytes')).type, 'bytes');
  assert.match((await attr('bytes')).text, /00 01 02 fe ff \(5 bytes\)/);
  assert.deepEqual((await attr('array')).nested, ['string', 'int', 'bool']);
  assert.deepEqual((await attr('kvlist')).nested, ['string', 'double']);
  assert.match((await attr('kvlist')).text, /inner.*x.*n.*-0\.5/);
  const resource = await page.textContent('.panel section[data-section=resource]');
  assert.match(resource, /host\.name.*box-1/);
  assert.match(resource, /service\.name.*typed-svc/);
  assert.match(await page.textContent('.panel section[data-section=scope]'), /weft-test 1\.0/);
  await shot(page, 'span-panel');
  // the child: an event 1 ms after its start, a link, an error status
  await page.click(`.wf-row[data-span-id="${fx.typedChild}"]`);
  await page.waitForSelector(`.panel[data-span-id="${fx.typedChild}"]`);
  assert.equal(await page.textContent('.panel .ev-item .off'), '+1ms');
  assert.equal(await page.getAttribute('.panel a[data-link-trace]', 'href'), `/trace/${fx.typedLink.traceId}?span=${fx.typedLink.spanId}`);
  assert.match(await page.textContent('.panel .status-err'), /error: deadlock detected/);
  assert.ok(page.url().endsWith(`?span=${fx.typedChild}`), 'the URL names the selected span');
  await shot(page, 'span-panel-events-links');
  await close(page);
});

test('the LLM span shows model, tokens, cost, prompt and response', async () => {
  const page = await openTrace(`/trace/${A}?span=${fx.chatSpan}`);
  await page.waitForSelector('.panel [data-llm=true]');
  const fact = (k) => page.textContent(`.panel [data-llm-fact=${k}] b`);
  assert.equal(await fact('model'), 'gpt-4o-2024-08-06');
  assert.equal(await fact('provider'), 'openai');
  assert.equal(await fact('input-tokens'), '1,200');
  assert.equal(await fact('output-tokens'), '350');
  assert.equal(await fact('total-tokens'), '1,550');
  assert.equal(await fact('cost'), '$0.00650');
  const prompt = await page.$$eval('.panel [data-llm=prompt] .msg', (ms) => ms.map((m) => m.textContent));
  assert.deepEqual(prompt, ['systemYou are a payment risk assistant.', 'userIs order 42 risky?']);
  assert.match(await page.textContent('.panel [data-llm=response]'), /assistantNo: the card and address match\./);
  assert.match(await page.textContent('[data-fact=llm]'), /1 LLM call · 1,550 tokens \(1,200 in, 350 out\) · \$0\.0065/);
  assert.match(await page.textContent(`.wf-row[data-span-id="${fx.chatSpan}"] .llm`), /LLM 1,550 tok/);
  await shot(page, 'llm-span');
  await close(page);
});

test('collapsing a span hides its descendants', async () => {
  const page = await openTrace(`/trace/${A}`);
  const post = (await rows(page)).find((r) => r.name === 'POST /checkout');
  await page.click(`.wf-row[data-span-id="${post.id}"] .tog`);
  assert.deepEqual((await rows(page)).map((r) => r.name), ['GET /checkout', 'POST /checkout']);
  assert.equal(await page.textContent(`.wf-row[data-span-id="${post.id}"] .kids`), '+4');
  await shot(page, 'trace-collapsed');
  await page.click(`.wf-row[data-span-id="${post.id}"] .tog`);
  assert.equal((await rows(page)).length, 6);
  await close(page);
});

test('keyboard navigation moves the selection, expands, collapses and closes the panel', async () => {
  const page = await openTrace(`/trace/${A}`);
  const k = (key) => page.keyboard.press(key);
  await k('j');
  assert.equal(await selectedName(page), 'GET /checkout');
  await k('j');
  assert.equal(await selectedName(page), 'POST /checkout');
  await k('ArrowDown');
  assert.equal(await selectedName(page), 'SELECT stock');
  await k('k');
  assert.equal(await selectedName(page), 'POST /checkout');
  await k('ArrowLeft'); // collapses POST
  assert.equal((await rows(page)).length, 2);
  await k('ArrowRight'); // expands it again
  assert.equal((await rows(page)).length, 6);
  await k('Enter'); // toggles
  assert.equal((await rows(page)).length, 2);
  await k('Enter');
  await k('End');
  assert.equal(await selectedName(page), 'chat gpt-4o');
  await k('ArrowLeft'); // a leaf: goes to its parent
  assert.equal(await selectedName(page), 'charge');
  await k('Home');
  assert.equal(await selectedName(page), 'GET /checkout');
  assert.ok(await page.locator('.panel').isVisible());
  assert.ok(page.url().includes(`?span=`));
  await k('Escape');
  assert.ok(await page.locator('.panel').isHidden(), 'Esc closes the panel');
  await k('/');
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('aria-label')), 'find in trace');
  await page.keyboard.type('SELECT');
  await page.waitForFunction(() => document.querySelector('.find-count').textContent === '1 match');
  await k('Enter');
  assert.equal(await selectedName(page), 'SELECT stock');
  await close(page);
});

test('span links navigate to the linked trace and span', async () => {
  const page = await openTrace(`/trace/${A}?span=${fx.chargeSpan}`);
  await page.click('.panel a[data-link-trace]');
  await page.waitForURL(`**/trace/${B}?span=${fx.chargeSpan}`);
  await page.waitForSelector(`.panel[data-span-id="${fx.chargeSpan}"]`);
  assert.equal(await page.getAttribute('#view', 'data-trace-id'), B);
  assert.equal(await selectedName(page), 'charge');
  // back goes to A
  await page.goBack();
  await page.waitForFunction((a) => document.querySelector('#view')?.dataset.traceId === a, A);
  await close(page);
});

test('flamegraph and statistics views', async () => {
  const page = await openTrace(`/trace/${A}?tab=flame`);
  await page.waitForSelector('.flame canvas[data-drawn]');
  const box = await page.locator('.flame canvas').boundingBox();
  await page.mouse.click(box.x + 20, box.y + 9); // depth 0: the root spans the whole width
  await page.waitForSelector('.panel:not([hidden])');
  assert.equal(await page.textContent('.panel h2'), 'GET /checkout');
  await page.waitForFunction((w) => document.querySelector('.flame canvas').getBoundingClientRect().width < w, box.width);
  const box2 = await page.locator('.flame canvas').boundingBox(); // the panel took its space
  await page.mouse.click(box2.x + box2.width * 0.6, box2.y + 18 * 3 + 9); // depth 3, 60%: chat
  await page.waitForSelector(`.panel[data-span-id="${fx.chatSpan}"]`);
  await shot(page, 'flamegraph');
  await page.click('button[data-tab=stats]');
  await requireEndpoint(page, `/api/v1/traces/${A}/analysis`, 'trace analysis');
  await page.waitForSelector('section[data-stats=services] tbody tr');
  const services = await page.$$eval('section[data-stats=services] tbody tr', (trs) => trs.map((t) => t.children[0].textContent));
  assert.deepEqual(new Set(services), new Set(['frontend', 'checkout', 'inventory', 'payment', 'llm-worker']));
  assert.ok(page.url().includes('tab=stats'));
  await shot(page, 'statistics');
  await close(page);
});

test('export as OTLP JSON and Jaeger JSON', async () => {
  const page = await openTrace(`/trace/${A}`);
  const save = async (label) => {
    await page.click('.menu > button');
    const [dl] = await Promise.all([page.waitForEvent('download'), page.click(`.menu-items button:text("${label}")`)]);
    return JSON.parse(readFileSync(await dl.path(), 'utf8'));
  };
  const otlp = await save('Download OTLP JSON');
  const spans = otlp.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans));
  assert.equal(spans.length, 6);
  assert.ok(spans.every((s) => s.traceId === A));
  const jaegerOk = await (await fetch(`${BASE}/api/v1/traces/${A}?format=jaeger`)).json().then((d) => Array.isArray(d.data)).catch(() => false);
  if (!jaegerOk) {
    await page.click('.menu > button');
    await page.click('.menu-items button:text("Download Jaeger JSON")');
    await page.waitForSelector('[data-notice=jaeger]');
    assert.fail('GET /api/v1/traces/{id}?format=jaeger does not answer Jaeger JSON yet (the view says so)');
  }
  const jaeger = await save('Download Jaeger JSON');
  assert.equal(jaeger.data[0].traceID, A);
  assert.equal(jaeger.data[0].spans.length, 6);
  await close(page);
});

test('the service map shows the expected edges with calls, error rate and latency', async () => {
  const page = await open('/map');
  await page.waitForSelector('.map-out[data-state]', { timeout: 30000 });
  await requireEndpoint(page, '/api/v1/dependencies', 'the service map');
  await page.waitForSelector('.map-edge');
  const edges = await page.$$eval('.map-edge', (es) => es.map((e) => ({
    parent: e.dataset.parent, child: e.dataset.child, calls: Number(e.dataset.calls), text: e.textContent,
  })));
  for (const [p, c] of fx.edges) {
    const e = edges.find((x) => x.parent === p && x.child === c);
    assert.ok(e, `edge ${p} → ${c} drawn; got ${JSON.stringify(edges.map((x) => [x.parent, x.child]))}`);
    assert.equal(e.calls, 2, `${p} → ${c}: one call in each checkout trace`);
    assert.match(e.text, /p50 .* p99 /);
  }
  const pay = edges.find((x) => x.parent === 'checkout' && x.child === 'payment');
  assert.match(pay.text, /2 calls · 100% err/, 'the charge span failed in both traces');
  for (const s of ['frontend', 'checkout', 'inventory', 'payment', 'llm-worker']) {
    assert.equal(await page.locator(`.map-node[data-service="${s}"]`).count(), 1, `node ${s}`);
  }
  // layered: callers left of callees
  const x = async (s) => (await page.locator(`.map-node[data-service="${s}"]`).boundingBox()).x;
  assert.ok(await x('frontend') < await x('checkout'));
  assert.ok(await x('checkout') < await x('payment'));
  assert.ok(await x('payment') < await x('llm-worker'));
  await shot(page, 'service-map');
  await close(page);
});

test('compare shows the added and missing spans and the slower ones', async () => {
  // from the search results: tick two traces, press Compare
  const page = await open('/search?service=llm-worker');
  await searchDone(page);
  await page.check(`.result[data-trace-id="${A}"] input[type=checkbox]`);
  await page.check(`.result[data-trace-id="${B}"] input[type=checkbox]`);
  await page.click('button:text("Compare (2/2)")');
  await page.waitForURL(`**/compare?a=${A}&b=${B}`);
  await page.waitForSelector('.cmp-out[data-state]', { timeout: 30000 });
  await requireEndpoint(page, `/api/v1/compare?a=${A}&b=${B}`, 'trace comparison');
  const got = await page.$$eval('tr[data-status]', (trs) => trs.map((t) => [t.dataset.status, t.dataset.path]));
  const added = got.filter(([s]) => s === 'added').map(([, p]) => p);
  const missing = got.filter(([s]) => s === 'missing').map(([, p]) => p);
  assert.equal(added.length, 1, `one added row: ${JSON.stringify(got)}`);
  assert.ok(added[0].endsWith(fx.added), added[0]);
  assert.equal(missing.length, 1, `one missing row: ${JSON.stringify(got)}`);
  assert.ok(missing[0].endsWith(fx.missing), missing[0]);
  const slower = got.filter(([s]) => s === 'slower').map(([, p]) => p);
  for (const op of ['frontend:GET /checkout', 'payment:charge']) {
    assert.ok(slower.some((p) => p === op || p.endsWith(`/${op}`)), `${op} is slower: ${JSON.stringify(slower)}`);
  }
  // the path shows one segment per span (span names may contain "/")
  const segs = await page.$$eval(`tr[data-status=added] .path > span:not(.sep)`, (ss) => ss.map((s) => s.textContent));
  assert.deepEqual(segs.at(-1), fx.added);
  assert.deepEqual(segs[0], 'frontend:GET /checkout');
  await shot(page, 'compare');
  await close(page);
});

test('light and dark themes are readable', async () => {
  const contrast = (page) => page.evaluate(() => {
    const rgb = (c) => c.match(/\d+/g).slice(0, 3).map(Number);
    const lum = ([r, g, b]) => {
      const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const s = getComputedStyle(document.body);
    const [a, b] = [lum(rgb(s.color)), lum(rgb(s.backgroundColor))];
    const muted = getComputedStyle(document.querySelector('.wf-row .svc'));
    const m = lum(rgb(muted.color));
    return { bg: s.backgroundColor, text: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05), muted: (Math.max(m, b) + 0.05) / (Math.min(m, b) + 0.05) };
  });
  const light = await openTrace(`/trace/${A}`);
  const l = await contrast(light);
  assert.equal(l.bg, 'rgb(255, 255, 255)');
  assert.ok(l.text >= 7 && l.muted >= 4.5, `light contrast ${JSON.stringify(l)}`);
  // the toggle: auto → light → dark, remembered
  await light.click('#theme-toggle');
  await light.click('#theme-toggle');
  assert.equal(await light.getAttribute('html', 'data-theme'), 'dark');
  const d = await contrast(light);
  assert.notEqual(d.bg, 'rgb(255, 255, 255)');
  assert.ok(d.text >= 7 && d.muted >= 4.5, `dark contrast ${JSON.stringify(d)}`);
  await light.click(`.wf-row[data-span-id="${fx.chatSpan}"]`);
  await shot(light, 'trace-dark');
  await light.reload();
  await light.waitForSelector('.wf-row');
  assert.equal(await light.getAttribute('html', 'data-theme'), 'dark', 'the choice survives a reload');
  await close(light);
  // prefers-color-scheme: dark without a choice
  const sys = await openTrace(`/trace/${A}`, { colorScheme: 'dark' });
  assert.equal((await contrast(sys)).bg, d.bg);
  await close(sys);
});

test('an unknown trace says so', async () => {
  const page = await open('/trace/0123456789abcdef0123456789abcdef');
  await page.waitForSelector('[data-not-found=true]');
  await close(page);
});

test(`a ${fx.bigSpans.toLocaleString('en-US')}-span trace opens within ${fx.budgetMs} ms and scrolls to its last span`, async () => {
  const page = await open(`/trace/${fx.big}`);
  await page.waitForSelector('.wf-spacer[data-first-render-ms]', { timeout: 120000 });
  await page.waitForFunction(() => performance.getEntriesByName('weft:trace:painted').length > 0);
  const t = await page.evaluate(() => {
    const res = performance.getEntriesByType('resource').find((e) => /\/api\/v1\/traces\/[0-9a-f]+$/.test(e.name));
    return {
      // the first frame with the rows on screen, counted from the navigation's start
      firstRows: performance.getEntriesByName('weft:trace:painted')[0].startTime,
      requestStart: res ? res.requestStart : null,
      serverMs: res ? res.responseStart - res.requestStart : null,
      transferMs: res ? res.responseEnd - res.responseStart : null,
      timing: window.__weftTiming,
      domRows: document.querySelectorAll('.wf-row').length,
    };
  });
  const browserMs = t.firstRows - (t.serverMs ?? 0);
  console.log(`100k-span trace: first rows ${Math.round(t.firstRows)} ms after navigation; ` +
    `of which the server took ${Math.round(t.serverMs)} ms to its first byte and the browser ${Math.round(browserMs)} ms ` +
    `(request sent at ${Math.round(t.requestStart)} ms, transfer ${Math.round(t.transferMs)} ms of ${(t.timing.bytes / 1e6).toFixed(1)} MB, JSON parse + model ${Math.round(t.timing.parseMs)} ms, ` +
    `first render ${Math.round(t.timing.renderMs)} ms); ${t.domRows} rows in the DOM for ${t.timing.spans} spans; ` +
    `server binary ${fx.optimizedServer ? 'optimized' : 'unoptimized (debug build)'}`);
  assert.equal(t.timing.spans, fx.bigSpans, 'every span is in the model');
  assert.ok(t.domRows > 10 && t.domRows < 200, `virtualized: ${t.domRows} rows in the DOM`);
  assert.equal(await page.textContent('[data-fact=spans]'), fx.bigSpans.toLocaleString('en-US'));
  // the budget: the browser's share always; the whole open when the server binary is optimized
  // (a debug build of weft spends seconds encoding 27 MB of OTLP/JSON; see the log line above)
  assert.ok(browserMs <= fx.budgetMs, `the browser took ${Math.round(browserMs)} ms (budget ${fx.budgetMs} ms)`);
  if (fx.optimizedServer) assert.ok(t.firstRows <= fx.budgetMs, `opened in ${Math.round(t.firstRows)} ms (budget ${fx.budgetMs} ms)`);
  await shot(page, 'trace-100k');

  // smooth scrolling: scroll 700 px (29 rows) a frame for 120 frames; time the frames and the
  // waterfall's own work per frame (what the UI controls on a busy machine)
  const frames = await page.evaluate(() => new Promise((resolve) => {
    const sc = document.querySelector('.wf-scroll');
    const wf = document.querySelector('.wf');
    wf.renderTimes = [];
    const times = [];
    let last = performance.now();
    let n = 0;
    const step = () => {
      const now = performance.now();
      times.push(now - last);
      last = now;
      sc.scrollTop += 700;
      if (++n < 120) requestAnimationFrame(step);
      else resolve({ times, renders: wf.renderTimes, rows: document.querySelectorAll('.wf-row').length });
    };
    requestAnimationFrame(step);
  }));
  const stats = (xs) => {
    const v = [...xs].sort((x, y) => x - y);
    return { median: v[v.length >> 1], p95: v[Math.floor(v.length * 0.95)], max: v.at(-1), n: v.length };
  };
  const f = stats(frames.times.slice(1));
  const r = stats(frames.renders);
  console.log(`100k-span trace: scrolling 700 px per frame: frames median ${f.median.toFixed(1)} ms, p95 ${f.p95.toFixed(1)} ms, ` +
    `max ${f.max.toFixed(1)} ms; the waterfall's work per frame median ${r.median.toFixed(1)} ms, p95 ${r.p95.toFixed(1)} ms ` +
    `(${r.n} renders); ${frames.rows} rows in the DOM`);
  assert.ok(r.n >= 60, 'the waterfall rendered as it scrolled');
  assert.ok(r.p95 < 16, `the waterfall's work per frame fits a 60 Hz frame (p95 ${r.p95.toFixed(1)} ms)`);
  assert.ok(f.p95 < 250, `no long stalls while scrolling (frame p95 ${f.p95.toFixed(1)} ms)`);
  assert.ok(frames.rows < 200, 'still virtualized while scrolling');

  // the end: the last span in preorder has a row
  await page.evaluate(() => { const sc = document.querySelector('.wf-scroll'); sc.scrollTop = sc.scrollHeight; });
  await page.waitForFunction((name) => [...document.querySelectorAll('.wf-row .op')].some((e) => e.textContent === name), fx.bigLast, { timeout: 10000 });
  const last = (await rows(page)).at(-1);
  assert.equal(last.name, fx.bigLast);
  // End selects it and its panel opens
  await page.keyboard.press('End');
  await page.waitForSelector('.panel:not([hidden])');
  assert.equal(await page.textContent('.panel h2'), fx.bigLast);
  await shot(page, 'trace-100k-end');
  // find in 100k spans, and the flamegraph draws them
  await page.keyboard.press('/');
  await page.keyboard.type('op-54321');
  await page.waitForFunction(() => /match/.test(document.querySelector('.find-count').textContent));
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.querySelector('.panel h2')?.textContent === 'op-54321');
  await page.click('button[data-tab=flame]');
  await page.waitForSelector('.flame canvas[data-drawn]', { timeout: 20000 });
  await shot(page, 'flamegraph-100k');
  // 100,000 distinct operations: the table shows a page of them and says how many more
  await page.click('button[data-tab=stats]');
  await page.waitForSelector('section[data-stats=operations] tfoot [data-more]', { timeout: 60000 });
  assert.equal(await page.locator('section[data-stats=operations] tbody tr').count(), 500);
  assert.match(await page.textContent('section[data-stats=operations] tfoot'), /showing 500 of 100,000 rows/);
  await page.click('section[data-stats=operations] tfoot button:text("show 500 more")');
  assert.equal(await page.locator('section[data-stats=operations] tbody tr').count(), 1000);
  await shot(page, 'statistics-100k');
  await close(page);
});
