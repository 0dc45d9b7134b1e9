// The trace view (/trace/<id>[?span=<spanId>&tab=timeline|flame|stats]): header, waterfall,
// flamegraph, statistics from the analysis endpoint, span panel, find-in-trace, downloads.
import { h, fmtDur, fmtTime, fmtInt, plural, serviceChip, download, copyText, toast, debounce } from './util.js';
import { getText, getJson, errorView, ApiError } from './api.js';
import { parseTrace, llmTotals } from './tracemodel.js';
import { Waterfall } from './waterfall.js';
import { renderPanel } from './spanpanel.js';

const TABS = [['timeline', 'Timeline'], ['flame', 'Flamegraph'], ['stats', 'Statistics']];

/**
 * Mounts the trace view into `root`; returns {destroy, onKey}. `pending` is the trace request
 * already under way ({text: Promise, ctl, started}), or nothing to make it here.
 */
export async function mountTrace(root, traceId, params, nav, pending) {
  const t0 = pending?.started ?? performance.now();
  performance.mark('weft:trace:start');
  root.replaceChildren(h('div', { class: 'loading' }, `Loading trace ${traceId}…`));
  const ctl = pending?.ctl ?? new AbortController();
  let text;
  try {
    text = await (pending?.text ?? getText(`/api/v1/traces/${encodeURIComponent(traceId)}`, ctl.signal));
  } catch (e) {
    if (e.name === 'AbortError') return { destroy() {} };
    const notFound = e instanceof ApiError && e.status === 404 && !e.missingEndpoint;
    root.replaceChildren(h('div', { class: 'page' },
      notFound
        ? h('div', { class: 'error-box', role: 'alert', dataset: { notFound: 'true' } }, `Trace ${traceId} was not found. It may not have arrived yet, or retention has deleted it.`)
        : errorView(e, 'Loading the trace')));
    return { destroy() {} };
  }
  const t1 = performance.now();
  performance.mark('weft:trace:fetched');
  let m;
  try {
    m = parseTrace(text);
  } catch (e) {
    root.replaceChildren(h('div', { class: 'page' }, h('div', { class: 'error-box' }, `The server sent a trace this page cannot read: ${e.message}`)));
    return { destroy() {} };
  }
  const t2 = performance.now();
  performance.mark('weft:trace:parsed');
  const view = new TraceView(root, m, traceId, text, params, nav, ctl);
  view.render();
  const t3 = performance.now();
  performance.mark('weft:trace:rows');
  window.__weftTiming = {
    spans: m.n,
    fetchMs: t1 - t0,
    parseMs: t2 - t1,
    renderMs: t3 - t2,
    viewMs: t3 - t0,
    sinceNavigationMs: t3, // performance.now() counts from the navigation's start
    bytes: text.length,
  };
  root.querySelector('.wf-spacer')?.setAttribute('data-first-render-ms', String(Math.round(t3)));
  // the first frame that shows the rows: after the next paint. Everything else (overview,
  // analysis, LLM totals) waits until then, so it never delays the rows.
  requestAnimationFrame(() => setTimeout(() => {
    performance.mark('weft:trace:painted');
    window.__weftTiming.paintedMs = performance.now();
    view.afterFirstPaint();
  }, 0));
  return view;
}

class TraceView {
  constructor(root, m, traceId, text, params, nav, ctl) {
    this.root = root;
    this.m = m;
    this.traceId = traceId;
    this.text = text;
    this.params = params;
    this.nav = nav;
    this.ctl = ctl;
    this.analysis = null;
    this.analysisError = null;
    this.tab = TABS.some(([k]) => k === params.get('tab')) ? params.get('tab') : 'timeline';
    this.flame = null;
    this.matchList = [];
    this.matchPos = -1;
    this.selected = -1;
  }

  render() {
    const m = this.m;
    if (m.n === 0) {
      this.root.replaceChildren(h('div', { class: 'page' }, h('div', { class: 'notice' }, `Trace ${this.traceId} has no spans.`)));
      return;
    }
    this.wf = new Waterfall(m, { onSelect: (i) => this.select(i, { from: 'wf' }) });
    this.panel = h('aside', { class: 'panel', hidden: true, 'aria-label': 'span details' });
    this.tabPanes = {
      timeline: this.wf.el,
      flame: h('div', { class: 'flame', hidden: true }),
      stats: h('div', { class: 'stats', hidden: true }),
    };
    this.notices = h('div');
    this.main = h('div', { class: 'trace-main' }, this.notices, ...Object.values(this.tabPanes));
    this.root.replaceChildren(this.header(), this.toolbar(), h('div', { class: 'trace-body' }, this.main, this.panel));
    this.root.dataset.traceId = this.traceId;
    this.wf.mount();
    this.showTab(this.tab, false);
    const want = this.params.get('span');
    if (want) {
      const i = m.idIndex.get(want);
      if (i !== undefined) this.select(i, { scroll: true, push: false });
      else this.notices.append(h('div', { class: 'notice', dataset: { missingSpan: want } }, `Span ${want} is not in this trace (the link may point to a span that was never received).`));
    }
  }

  afterFirstPaint() {
    if (!this.wf) return;
    this.wf.drawOverview();
    this.loadAnalysis();
    setTimeout(() => this.fillLlmTotals(), 0);
  }

  header() {
    const m = this.m;
    const r = m.rootIndex;
    const root = m.spans[r];
    const rootSvc = m.services[m.svc[r]];
    this.llmFact = h('span', { hidden: true, dataset: { fact: 'llm' } });
    const facts = h('div', { class: 'trace-facts' },
      h('span', null, 'Started ', h('b', null, fmtTime(m.t0Ms))),
      h('span', null, 'Duration ', h('b', { dataset: { fact: 'duration' } }, fmtDur(m.totalNs))),
      h('span', null, 'Spans ', h('b', { dataset: { fact: 'spans' } }, fmtInt(m.n))),
      h('span', null, 'Depth ', h('b', null, String(m.maxDepth + 1))),
      h('span', null, 'Errors ', h('b', { class: m.errorCount ? 'badge-err' : '', dataset: { fact: 'errors' } }, fmtInt(m.errorCount))),
      this.llmFact,
    );
    const services = h('div', { class: 'trace-facts' }, plural(m.services.length, 'service'), ':', m.services.map((s) => serviceChip(s)));
    const warn = [];
    if (m.orphans.length) warn.push(h('div', { class: 'notice', dataset: { orphans: m.orphans.length } }, `${plural(m.orphans.length, 'span')} name a parent that is not in this trace; they are shown as extra roots (marked "orphan").`));
    if (m.cycles) warn.push(h('div', { class: 'notice' }, `${plural(m.cycles, 'parent cycle')} broken: the spans are shown as roots.`));
    if (m.missingParent[r] && m.roots.every((x) => m.missingParent[x])) warn.push(h('div', { class: 'notice' }, 'The root span of this trace has not been received.'));
    return h('div', { class: 'trace-head' },
      h('div', { class: 'trace-title' }, h('h1', null, `${rootSvc}: ${root.name}`), h('span', { class: 'tid' }, this.traceId)),
      facts, services, warn);
  }

  toolbar() {
    const tabs = h('div', { class: 'tabs', role: 'tablist' }, TABS.map(([k, label]) => {
      const b = h('button', { type: 'button', role: 'tab', dataset: { tab: k } }, label);
      b.onclick = () => this.showTab(k);
      return b;
    }));
    this.tabButtons = tabs;
    this.find = h('input', { type: 'search', placeholder: 'Find in trace ( / )', 'aria-label': 'find in trace', spellcheck: 'false' });
    this.findCount = h('span', { class: 'find-count', 'aria-live': 'polite' });
    this.find.addEventListener('input', debounce(() => this.runFind(), 150));
    this.find.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') { e.preventDefault(); this.nextMatch(e.shiftKey ? -1 : 1); }
      if (e.key === 'Escape') { this.find.blur(); }
    });
    const cp = h('input', { type: 'checkbox', checked: true });
    cp.onchange = () => this.wf.el.classList.toggle('no-cp', !cp.checked);
    this.cpLabel = h('label', { title: 'Spans whose own work sets the end-to-end latency (from the analysis)' }, cp, ' critical path');
    const expand = h('button', { type: 'button', title: 'Expand every span' }, 'Expand all');
    expand.onclick = () => this.wf.expandAll();
    const collapse = h('button', { type: 'button', title: 'Show only the first two levels' }, 'Collapse');
    collapse.onclick = () => this.wf.collapseToDepth(1);
    const menuItems = h('div', { class: 'menu-items', hidden: true });
    const item = (label, fn) => {
      const b = h('button', { type: 'button' }, label);
      b.onclick = async () => { menuItems.hidden = true; await fn(); };
      return b;
    };
    menuItems.append(
      item('Download OTLP JSON', () => download(`trace-${this.traceId}.otlp.json`, this.text)),
      item('Copy OTLP JSON', async () => toast((await copyText(this.text)) ? 'OTLP JSON copied' : 'copy failed')),
      item('Download Jaeger JSON', async () => { const t = await this.jaeger(); if (t) download(`trace-${this.traceId}.jaeger.json`, t); }),
      item('Copy Jaeger JSON', async () => { const t = await this.jaeger(); if (t) toast((await copyText(t)) ? 'Jaeger JSON copied' : 'copy failed'); }),
      item('Compare with another trace…', () => this.nav(`/compare?a=${this.traceId}`)),
    );
    const menuBtn = h('button', { type: 'button', 'aria-haspopup': 'true' }, 'Export ▾');
    menuBtn.onclick = (e) => { e.stopPropagation(); menuItems.hidden = !menuItems.hidden; };
    this.closeMenu = () => { menuItems.hidden = true; };
    document.addEventListener('click', this.closeMenu);
    return h('div', { class: 'toolbar' }, tabs, h('span', { class: 'spacer' }), this.find, this.findCount, this.cpLabel, expand, collapse,
      h('div', { class: 'menu' }, menuBtn, menuItems));
  }

  async jaeger() {
    const path = `/api/v1/traces/${this.traceId}?format=jaeger`;
    try {
      const t = await getText(path);
      let doc;
      try { doc = JSON.parse(t); } catch { doc = null; }
      if (!doc || !Array.isArray(doc.data)) {
        this.notice('Jaeger JSON is not available on this server: GET ?format=jaeger did not answer Jaeger\'s {"data": [...]} (this weft server was built without it).', 'jaeger');
        return null;
      }
      return t;
    } catch (e) {
      this.notices.append(errorView(e, 'Jaeger JSON export'));
      return null;
    }
  }

  notice(msg, key) {
    const old = this.notices.querySelector(`[data-notice="${key}"]`);
    if (old) old.remove();
    this.notices.append(h('div', { class: 'unavailable', dataset: { notice: key } }, msg));
  }

  showTab(k, push = true) {
    this.tab = k;
    for (const b of this.tabButtons.children) b.classList.toggle('active', b.dataset.tab === k);
    for (const [name, el] of Object.entries(this.tabPanes)) el.hidden = name !== k;
    if (k === 'flame') this.ensureFlame();
    if (k === 'stats') this.renderStats();
    if (k === 'timeline') this.wf.schedule();
    if (push) this.updateUrl();
  }

  ensureFlame() {
    if (this.flame) { this.flame.draw(); return; }
    // the flamegraph module loads on first use
    import('./flamegraph.js').then(({ Flamegraph }) => {
      this.flame = new Flamegraph(this.m, { onSelect: (i) => this.select(i, { from: 'flame' }) });
      this.tabPanes.flame.replaceWith(this.flame.el);
      this.tabPanes.flame = this.flame.el;
      this.flame.el.hidden = this.tab !== 'flame';
      if (this.critical) this.flame.critical = this.critical;
      if (this.selected >= 0) this.flame.selected = this.selected;
      this.flame.mount();
    });
  }

  updateUrl() {
    const u = new URL(location.href);
    if (this.selected >= 0) u.searchParams.set('span', this.m.ids[this.selected]);
    else u.searchParams.delete('span');
    if (this.tab !== 'timeline') u.searchParams.set('tab', this.tab);
    else u.searchParams.delete('tab');
    history.replaceState(history.state, '', u.pathname + u.search);
  }

  select(i, { scroll = true, from = null } = {}) {
    this.selected = i;
    if (from !== 'wf') this.wf.select(i, { scroll });
    if (this.flame && from !== 'flame') this.flame.select(i);
    renderPanel(this.panel, this.m, i, this.analysis, {
      onClose: () => this.closePanel(),
      onSelectSpan: (j) => this.select(j),
    });
    this.updateUrl();
  }

  closePanel() {
    if (this.panel.hidden) return false;
    this.panel.hidden = true;
    this.selected = -1;
    this.wf.selected = -1;
    this.wf.refresh();
    this.updateUrl();
    return true;
  }

  async loadAnalysis() {
    const path = `/api/v1/traces/${this.traceId}/analysis`;
    try {
      this.analysis = await getJson(path, this.ctl.signal);
    } catch (e) {
      if (e.name === 'AbortError') return;
      this.analysisError = e;
      this.cpLabel.title = 'The analysis is not available, so there is no critical path';
      this.cpLabel.classList.add('muted');
      this.cpLabel.dataset.unavailable = 'true';
      if (this.tab === 'stats') this.renderStats();
      return;
    }
    const m = this.m;
    const crit = new Uint8Array(m.n);
    const spans = this.analysis.spans ?? {};
    let any = false;
    for (let i = 0; i < m.n; i++) {
      if (spans[m.ids[i]]?.onCriticalPath) { crit[i] = 1; any = true; }
    }
    if (!any) {
      for (const c of this.analysis.criticalPath ?? []) {
        const i = m.idIndex.get(c.spanId);
        if (i !== undefined) crit[i] = 1;
      }
    }
    this.critical = crit;
    this.wf.setCritical(crit);
    if (this.flame) this.flame.setCritical(crit);
    this.root.dataset.analysis = 'loaded';
    if (this.tab === 'stats') this.renderStats();
    if (this.selected >= 0 && !this.panel.hidden) this.select(this.selected, { scroll: false });
  }

  fillLlmTotals() {
    const t = llmTotals(this.m);
    if (!t.spans) return;
    const parts = [`${plural(t.spans, 'LLM call')}`, `${fmtInt(t.input + t.output)} tokens (${fmtInt(t.input)} in, ${fmtInt(t.output)} out)`];
    if (t.costKnown) parts.push(`$${t.cost.toFixed(4)}`);
    this.llmFact.textContent = parts.join(' · ');
    this.llmFact.hidden = false;
  }

  renderStats() {
    const pane = this.tabPanes.stats;
    if (this.analysisError) {
      pane.replaceChildren(errorView(this.analysisError, 'Trace analysis (statistics, self time, critical path)'));
      return;
    }
    const a = this.analysis;
    if (!a) { pane.replaceChildren(h('div', { class: 'loading' }, 'Analysing the trace…')); return; }
    const n = (x) => Number(x ?? 0);
    const pick = (spanId) => {
      const i = this.m.idIndex.get(spanId);
      if (i !== undefined) { this.showTab('timeline'); this.select(i); }
    };
    const spanLink = (r) => h('a', { href: '#', onclick: (e) => { e.preventDefault(); pick(r.spanId); } }, r.name);
    const total = n(a.durationNanos) || this.m.totalNs || 1;
    const svcRows = (a.services ?? []).map((s) => ({ ...s, total: n(s.totalNanos), self: n(s.selfNanos) }));
    const opRows = (a.operations ?? []).map((s) => ({ ...s, total: n(s.totalNanos), self: n(s.selfNanos), avg: n(s.totalNanos) / Math.max(1, s.spanCount) }));
    const bar = (v, max) => h('span', { class: 'bar-inline', style: { width: `${Math.max(1, (v / (max || 1)) * 80)}px` } });
    const maxSelf = Math.max(1, ...svcRows.map((r) => r.self));
    const maxOpSelf = Math.max(1, ...opRows.map((r) => r.self));
    const cp = a.criticalPath ?? [];
    pane.replaceChildren(
      h('section', { dataset: { stats: 'services' } }, h('h2', null, 'Services'),
        sortable([
          ['Service', (r) => r.service, (r) => serviceChip(r.service)],
          ['Spans', (r) => r.spanCount, (r) => fmtInt(r.spanCount), true],
          ['Total time', (r) => r.total, (r) => fmtDur(r.total), true],
          ['Self time', (r) => r.self, (r) => [bar(r.self, maxSelf), fmtDur(r.self)], true],
          ['Self % of trace', (r) => r.self, (r) => `${((r.self / total) * 100).toFixed(1)}%`, true],
          ['Errors', (r) => r.errorCount, (r) => fmtInt(r.errorCount), true],
        ], svcRows, 3)),
      h('section', { dataset: { stats: 'operations' } }, h('h2', null, 'Operations'),
        sortable([
          ['Service', (r) => r.service, (r) => serviceChip(r.service)],
          ['Operation', (r) => r.name, (r) => r.name],
          ['Spans', (r) => r.spanCount, (r) => fmtInt(r.spanCount), true],
          ['Total', (r) => r.total, (r) => fmtDur(r.total), true],
          ['Average', (r) => r.avg, (r) => fmtDur(r.avg), true],
          ['Self time', (r) => r.self, (r) => [bar(r.self, maxOpSelf), fmtDur(r.self)], true],
          ['Errors', (r) => r.errorCount, (r) => fmtInt(r.errorCount), true],
        ], opRows, 5)),
      h('section', { dataset: { stats: 'critical-path' } }, h('h2', null, `Critical path (${cp.length} spans)`),
        cp.length ? sortable([
          ['#', (r) => r.k, (r) => String(r.k + 1), true],
          ['Service', (r) => r.service, (r) => serviceChip(r.service)],
          ['Span', (r) => r.name, spanLink],
          ['Duration', (r) => n(r.durationNanos), (r) => fmtDur(n(r.durationNanos)), true],
          ['Contribution', (r) => n(r.contributionNanos), (r) => fmtDur(n(r.contributionNanos)), true],
          ['Share', (r) => n(r.contributionNanos), (r) => `${((n(r.contributionNanos) / total) * 100).toFixed(1)}%`, true],
        ], cp.map((r, k) => ({ ...r, k })), -1) : h('p', { class: 'muted' }, 'no critical path')),
      listSection('Bottlenecks (self time large against the parent)', a.bottlenecks, (r) => [serviceChip(r.service), spanLink(r), ` self ${fmtDur(n(r.selfTimeNanos))}`, r.shareOfParent != null ? ` (${(r.shareOfParent * 100).toFixed(0)}% of its parent)` : '']),
      listSection('Slowest spans', a.slowest, (r) => [serviceChip(r.service), spanLink(r), ` ${fmtDur(n(r.durationNanos))}`]),
      listSection('Errors', a.errors, (r) => [serviceChip(r.service), spanLink(r), r.message ? `: ${r.message}` : '']),
      a.clockSkew?.applied ? h('p', { class: 'notice' }, `Clock skew adjusted on ${plural(a.clockSkew.adjustments?.length ?? 0, 'span')}.`) : null,
    );
  }

  runFind() {
    const q = this.find.value.trim().toLowerCase();
    const m = this.m;
    if (!q) {
      this.matchList = [];
      this.wf.setMatches(null);
      this.findCount.textContent = '';
      return;
    }
    const eq = q.indexOf('=');
    const key = eq > 0 ? q.slice(0, eq).trim() : null;
    const val = eq > 0 ? q.slice(eq + 1).trim() : null;
    const hit = new Uint8Array(m.n);
    const list = [];
    const valStr = (v) => {
      if (!v) return '';
      for (const k of ['stringValue', 'intValue', 'doubleValue', 'boolValue']) if (k in v) return String(v[k]).toLowerCase();
      return JSON.stringify(v).toLowerCase();
    };
    for (let p = 0; p < m.n; p++) {
      const i = m.order[p];
      const sp = m.spans[i];
      let ok = false;
      if (key) {
        ok = (sp.attributes ?? []).some((a) => a.key.toLowerCase() === key && valStr(a.value) === val);
      } else {
        ok = (sp.name ?? '').toLowerCase().includes(q) || m.services[m.svc[i]].toLowerCase().includes(q) || m.ids[i] === q ||
          (sp.attributes ?? []).some((a) => a.key.toLowerCase().includes(q) || valStr(a.value).includes(q));
      }
      if (ok) { hit[i] = 1; list.push(i); }
    }
    this.matchList = list;
    this.matchPos = -1;
    this.wf.setMatches(hit);
    this.findCount.textContent = list.length ? plural(list.length, 'match', 'matches') : 'no match';
  }

  nextMatch(dir) {
    if (!this.matchList.length) return;
    this.matchPos = (this.matchPos + dir + this.matchList.length) % this.matchList.length;
    this.findCount.textContent = `${fmtInt(this.matchPos + 1)} of ${fmtInt(this.matchList.length)}`;
    if (this.tab !== 'timeline') this.showTab('timeline');
    this.select(this.matchList[this.matchPos]);
  }

  /** Keys for the whole view; returns true when used. */
  onKey(e) {
    if (e.key === '/') { this.find.focus(); this.find.select(); return true; }
    if (e.key === 'Escape') return this.closePanel();
    if (e.key === 'n' || e.key === 'N') { this.nextMatch(e.key === 'n' ? 1 : -1); return true; }
    if (this.tab === 'timeline' && this.wf) return this.wf.onKey(e);
    return false;
  }

  destroy() {
    this.ctl.abort();
    this.wf?.destroy();
    this.flame?.destroy();
    document.removeEventListener('click', this.closeMenu);
  }
}

/**
 * A table sortable by clicking its headers. cols: [label, key(row), cell(row), numeric].
 * Shows the first `page` rows and says how many more there are, with buttons to show them.
 */
function sortable(cols, rows, sortCol = 0, page = 500) {
  let col = sortCol;
  let desc = true;
  let shown = page;
  const table = h('table');
  const draw = () => {
    const c = cols[Math.abs(col)] ?? cols[0];
    const sorted = col < 0 ? rows : [...rows].sort((a, b) => {
      const x = c[1](a), y = c[1](b);
      const r = x < y ? -1 : x > y ? 1 : 0;
      return desc ? -r : r;
    });
    const more = sorted.length - shown;
    table.replaceChildren(
      h('thead', null, h('tr', null, cols.map(([label, , , num], k) => {
        const th = h('th', { class: `sortable${num ? ' num' : ''}`, title: 'sort' }, label, k === col ? (desc ? ' ▼' : ' ▲') : '');
        th.onclick = () => { if (col === k) desc = !desc; else { col = k; desc = !!num; } draw(); };
        return th;
      }))),
      h('tbody', null, sorted.slice(0, shown).map((r) => h('tr', null, cols.map(([, , cell, num]) => h('td', { class: num ? 'num' : '' }, cell(r)))))),
      more > 0 ? h('tfoot', null, h('tr', null, h('td', { colspan: cols.length, class: 'muted', dataset: { more } },
        `showing ${fmtInt(shown)} of ${fmtInt(sorted.length)} rows (sort by a column to see other rows first) `,
        h('button', { type: 'button', onclick: () => { shown += page; draw(); } }, `show ${fmtInt(Math.min(page, more))} more`), ' ',
        h('button', { type: 'button', onclick: () => { shown = sorted.length; draw(); } }, 'show all')))) : null);
  };
  draw();
  return table;
}

/** A list of items, the first 100 shown and the rest behind a button that says how many. */
function listSection(title, items, row, page = 100) {
  const list = h('ul');
  let shown = 0;
  const more = h('button', { type: 'button' });
  const fill = () => {
    const next = Math.min(items.length, shown + page);
    for (let k = shown; k < next; k++) list.append(h('li', null, row(items[k])));
    shown = next;
    more.textContent = `show ${fmtInt(Math.min(page, items.length - shown))} more of ${fmtInt(items.length - shown)}`;
    more.hidden = shown >= items.length;
  };
  more.onclick = fill;
  if (items?.length) fill();
  return h('section', null, h('h2', null, `${title}${items?.length ? ` (${fmtInt(items.length)})` : ''}`),
    items?.length ? [list, more] : h('p', { class: 'muted' }, 'none'));
}
