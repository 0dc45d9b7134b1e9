// The waterfall: a virtualized, collapsible span tree with bars to scale. Only the rows in the
// viewport (plus a small overscan) are in the DOM, absolutely positioned in a spacer as tall as
// all visible rows; so 100,000 spans cost the same to show as 100. An overview canvas above it
// draws every span and selects a time window to zoom into.
import { h, esc, fmtDur, fmtInt, serviceColor } from './util.js';
import { isLlm, attrNum, INPUT_TOKEN_KEYS, OUTPUT_TOKEN_KEYS } from './tracemodel.js';

const ROW_H = 24;
const OVERSCAN = 12;
// Browsers cap an element's height (Chromium near 33.5M px): above this the scrollbar is scaled.
const MAX_SPACER = 15_000_000;
const INDENT = 14;
const MAX_INDENT_LEVELS = 40;

export class Waterfall {
  /**
   * @param m trace model (tracemodel.js)
   * @param opts.onSelect(i) called when the selection changes by click or key
   */
  constructor(m, opts = {}) {
    this.m = m;
    this.onSelect = opts.onSelect ?? (() => {});
    this.collapsed = new Uint8Array(m.n);
    this.critical = null;
    this.matches = null;
    this.selected = -1;
    this.vs = 0;
    this.ve = m.totalNs > 0 ? m.totalNs : 1;
    this.version = 0;
    this.rows = new Map(); // span index → row element currently in the DOM
    this.llmCache = new Map();
    this.frame = 0;

    this.overviewCanvas = h('canvas', { 'aria-hidden': 'true' });
    this.winEl = h('div', { class: 'win', hidden: true });
    this.overview = h('div', { class: 'wf-overview', title: 'Drag to zoom into a time window; click to reset' }, this.overviewCanvas, this.winEl);
    this.ruler = h('div', { class: 'ruler' });
    this.resizer = h('div', { class: 'resizer', title: 'Drag to resize' });
    this.head = h('div', { class: 'wf-head' },
      h('div', { class: 'name-h' }, 'Service & operation', this.resizer), this.ruler);
    this.spacer = h('div', { class: 'wf-spacer' });
    this.scroll = h('div', { class: 'wf-scroll', role: 'tree', 'aria-label': 'spans', tabindex: '0' }, this.spacer);
    this.foot = h('div', { class: 'wf-foot' });
    this.el = h('div', { class: 'wf' }, this.overview, this.head, this.scroll, this.foot);

    this.scroll.addEventListener('scroll', () => this.schedule(), { passive: true });
    this.scroll.addEventListener('click', (e) => this.onClick(e));
    this.installOverviewDrag();
    this.installResizer();
    this.rebuildVisible();
  }

  /** First synchronous render, once the element is in the document. */
  mount() {
    this.render();
    this.renderRuler();
    this.resizeObs = new ResizeObserver(() => {
      this.schedule();
      this.drawOverview();
    });
    this.resizeObs.observe(this.scroll);
    // the overview draws every span: the owner calls drawOverview() after the first paint
  }

  destroy() {
    this.resizeObs?.disconnect();
    cancelAnimationFrame(this.frame);
  }

  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }

  /** Recomputes the list of visible rows (preorder, skipping collapsed subtrees). */
  rebuildVisible() {
    const { n, order, size } = this.m;
    const vis = new Int32Array(n);
    let k = 0;
    for (let p = 0; p < n;) {
      const i = order[p];
      vis[k++] = i;
      p += this.collapsed[i] ? size[i] : 1;
    }
    this.visible = vis.subarray(0, k);
    const full = k * ROW_H;
    this.scaled = full > MAX_SPACER;
    this.spacer.style.height = `${this.scaled ? MAX_SPACER : full}px`;
    this.version++;
  }

  /** Index in `visible` of span i (visible is sorted by preorder position), or -1. */
  visibleIndex(i) {
    const { posOf } = this.m;
    const target = posOf[i];
    let lo = 0, hi = this.visible.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const p = posOf[this.visible[mid]];
      if (p === target) return mid;
      if (p < target) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /** Which visible row is at the top, and where row k is drawn. */
  geometry() {
    const total = this.visible.length;
    const vh = this.scroll.clientHeight || 600;
    const st = this.scroll.scrollTop;
    if (!this.scaled) {
      return { first: Math.floor(st / ROW_H), count: Math.ceil(vh / ROW_H) + 1, top: (k) => k * ROW_H, total, vh };
    }
    const maxScroll = MAX_SPACER - vh;
    const rowsFit = vh / ROW_H;
    const exact = maxScroll > 0 ? (st / maxScroll) * Math.max(0, total - rowsFit) : 0;
    return { first: Math.floor(exact), count: Math.ceil(rowsFit) + 1, top: (k) => st + (k - exact) * ROW_H, total, vh };
  }

  render() {
    const t0 = performance.now();
    const g = this.geometry();
    const from = Math.max(0, g.first - OVERSCAN);
    const to = Math.min(g.total, g.first + g.count + OVERSCAN);
    const keep = new Set();
    const frag = document.createDocumentFragment();
    for (let k = from; k < to; k++) {
      const i = this.visible[k];
      keep.add(i);
      let el = this.rows.get(i);
      if (!el) {
        el = h('div', { class: 'wf-row', role: 'treeitem' });
        this.rows.set(i, el);
        frag.append(el);
      }
      if (el._v !== this.version) this.fillRow(el, i);
      const top = `${g.top(k)}px`;
      if (el.style.top !== top) el.style.top = top;
    }
    for (const [i, el] of this.rows) {
      if (!keep.has(i)) {
        el.remove();
        this.rows.delete(i);
      }
    }
    if (frag.childNodes.length) this.spacer.append(frag);
    this.spacer.dataset.rowsRendered = String(this.rows.size);
    this.renderFoot(g);
    // the cost of the last renders, for the browser tests' smoothness check
    const times = (this.el.renderTimes ??= []);
    times.push(performance.now() - t0);
    if (times.length > 500) times.shift();
  }

  /** Forces every row to be redrawn (selection, matches, critical path, zoom changed). */
  refresh() {
    this.version++;
    this.render();
  }

  llmBadge(i) {
    let b = this.llmCache.get(i);
    if (b === undefined) {
      const sp = this.m.spans[i];
      b = null;
      if (isLlm(sp)) {
        const inT = attrNum(sp.attributes, ...INPUT_TOKEN_KEYS);
        const outT = attrNum(sp.attributes, ...OUTPUT_TOKEN_KEYS);
        const tok = (inT ?? 0) + (outT ?? 0);
        b = tok ? `LLM ${fmtInt(tok)} tok` : 'LLM';
      }
      this.llmCache.set(i, b);
    }
    return b;
  }

  fillRow(el, i) {
    const m = this.m;
    el._v = this.version;
    const sp = m.spans[i];
    const svc = m.services[m.svc[i]];
    const color = serviceColor(svc);
    const d = m.depth[i];
    const hasKids = m.hasChildren[i] === 1;
    const collapsed = this.collapsed[i] === 1;
    const crit = this.critical ? this.critical[i] === 1 : false;
    const match = this.matches ? this.matches[i] === 1 : false;
    el.className = `wf-row${i === this.selected ? ' selected' : ''}${crit ? ' critical' : ''}${match ? ' match' : ''}`;
    el.dataset.idx = i;
    el.dataset.spanId = m.ids[i];
    el.dataset.depth = d;
    el.dataset.critical = crit ? 'true' : 'false';
    el.dataset.error = m.error[i] ? 'true' : 'false';
    el.setAttribute('aria-level', d + 1);
    el.setAttribute('aria-selected', i === this.selected ? 'true' : 'false');
    if (hasKids) el.setAttribute('aria-expanded', collapsed ? 'false' : 'true');
    else el.removeAttribute('aria-expanded');

    const shown = Math.min(d, MAX_INDENT_LEVELS);
    const deep = d > MAX_INDENT_LEVELS ? `<span class="deep" title="depth ${d}">↳${d}</span>` : '';
    const tog = hasKids ? `<button class="tog" tabindex="-1" aria-label="${collapsed ? 'expand' : 'collapse'}">${collapsed ? '▶' : '▼'}</button>` : '<span class="tog"></span>';
    const hidden = hasKids && collapsed ? `<span class="kids" title="hidden descendants">+${fmtInt(m.size[i] - 1)}</span>` : '';
    const err = m.error[i] ? `<span class="icon-err" title="error: ${esc(sp.status?.message ?? '')}">!</span>` : '';
    const orphan = m.missingParent[i] ? '<span class="icon-orphan" title="its parent span is not in this trace">orphan</span>' : '';
    const llm = this.llmBadge(i);
    const dur = m.end[i] - m.start[i];
    const span = this.ve - this.vs;
    const left = ((m.start[i] - this.vs) / span) * 100;
    const width = (dur / span) * 100;
    const right = left + width;
    const label = right < 82
      ? `<span class="dlabel" style="left:calc(${Math.max(right, 0)}% + 4px)">${fmtDur(dur)}</span>`
      : `<span class="dlabel" style="right:calc(${Math.max(100 - left, 0)}% + 4px)">${fmtDur(dur)}</span>`;
    let evs = '';
    const events = sp.events;
    if (events && events.length && width > 0.5) {
      const lim = Math.min(events.length, 40);
      for (let e = 0; e < lim; e++) {
        const t = eventOffset(m, i, events[e]);
        if (t == null) continue;
        evs += `<span class="ev" style="left:${((m.start[i] + t - this.vs) / span) * 100}%" title="${esc(events[e].name)}"></span>`;
      }
    }
    el.innerHTML =
      `<div class="name-cell" title="${esc(svc)}: ${esc(sp.name)}"><span class="svc-edge" style="background:${color}"></span>` +
      `<span class="indent" style="width:${shown * INDENT}px"></span>${deep}${tog}<span class="cp-mark" title="on the critical path"></span>${err}${orphan}` +
      `<span class="svc">${esc(svc)}</span><span class="op">${esc(sp.name)}</span>${hidden}${llm ? `<span class="llm">${esc(llm)}</span>` : ''}</div>` +
      `<div class="bar-cell"><div class="bar${m.error[i] ? ' err' : ''}" style="left:${left}%;width:${width}%;background:${color}" title="${esc(sp.name)}: ${fmtDur(dur)} at +${fmtDur(m.start[i])}${m.error[i] ? ' (error)' : ''}"></div>${evs}${label}</div>`;
  }

  renderFoot(g) {
    const m = this.m;
    const zoomed = this.vs > 0 || this.ve < m.totalNs;
    const hiddenRows = m.n - this.visible.length;
    const parts = [
      `${fmtInt(m.n)} spans`,
      `${fmtInt(this.visible.length)} rows${hiddenRows ? ` (${fmtInt(hiddenRows)} in collapsed subtrees)` : ''}`,
      `rows ${fmtInt(Math.min(g.first + 1, g.total))}–${fmtInt(Math.min(g.first + g.count, g.total))} in view`,
      `${m.maxDepth + 1} levels deep`,
    ];
    if (zoomed) parts.push(`zoomed to ${fmtDur(this.vs)} – ${fmtDur(this.ve)}`);
    const html = parts.map((p) => `<span>${p}</span>`).join('') + (zoomed ? ' <button class="ghost" data-act="unzoom">reset zoom</button>' : '');
    if (this.foot._html !== html) {
      this.foot.innerHTML = html;
      this.foot._html = html;
      const b = this.foot.querySelector('[data-act=unzoom]');
      if (b) b.onclick = () => this.setWindow(0, this.m.totalNs);
    }
  }

  renderRuler() {
    const span = this.ve - this.vs;
    let html = '';
    for (let t = 0; t < 5; t++) {
      const frac = t / 5;
      html += `<div class="tick" style="left:${frac * 100}%">${fmtDur(this.vs + span * frac)}</div>`;
    }
    html += `<div class="tick" style="left:auto;right:4px;border:none">${fmtDur(this.ve)}</div>`;
    this.ruler.innerHTML = html;
  }

  drawOverview() {
    const c = this.overviewCanvas;
    const m = this.m;
    const w = this.overview.clientWidth;
    const hgt = this.overview.clientHeight;
    if (!w || !hgt) return;
    const dpr = window.devicePixelRatio || 1;
    c.width = Math.round(w * dpr);
    c.height = Math.round(hgt * dpr);
    const ctx = c.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, hgt);
    const total = m.totalNs || 1;
    const rowH = Math.min(Math.max(hgt / Math.max(m.n, 1), 0.5), 5);
    const yScale = Math.min(hgt / Math.max(m.n, 1), 5);
    // one fill style per service: bucket positions by service
    const buckets = m.services.map(() => []);
    for (let p = 0; p < m.n; p++) buckets[m.svc[m.order[p]]].push(p);
    buckets.forEach((ps, s) => {
      ctx.fillStyle = serviceColor(m.services[s]);
      for (const p of ps) {
        const i = m.order[p];
        const x = (m.start[i] / total) * w;
        const x2 = (m.end[i] / total) * w;
        ctx.fillRect(x, p * yScale, Math.max(x2 - x, 1), Math.max(rowH - (rowH > 2 ? 1 : 0), 1));
      }
    });
    this.updateWindowEl();
  }

  updateWindowEl() {
    const total = this.m.totalNs || 1;
    const zoomed = this.vs > 0 || this.ve < this.m.totalNs;
    this.winEl.hidden = !zoomed;
    if (zoomed) {
      this.winEl.style.left = `${(this.vs / total) * 100}%`;
      this.winEl.style.width = `${((this.ve - this.vs) / total) * 100}%`;
    }
  }

  /** Zooms the bars to [vs, ve] (ns from the trace start). */
  setWindow(vs, ve) {
    const total = this.m.totalNs || 1;
    vs = Math.max(0, vs);
    ve = Math.min(total, ve);
    if (ve - vs < 1) { vs = 0; ve = total; }
    this.vs = vs;
    this.ve = ve;
    this.updateWindowEl();
    this.renderRuler();
    this.refresh();
  }

  installOverviewDrag() {
    let x0 = null;
    const sel = h('div', { class: 'win' });
    const xAt = (e) => {
      const r = this.overview.getBoundingClientRect();
      return Math.min(Math.max(e.clientX - r.left, 0), r.width) / (r.width || 1);
    };
    this.overview.addEventListener('mousedown', (e) => {
      x0 = xAt(e);
      sel.style.left = `${x0 * 100}%`;
      sel.style.width = '0';
      this.overview.append(sel);
      e.preventDefault();
    });
    window.addEventListener('mousemove', (e) => {
      if (x0 == null) return;
      const x = xAt(e);
      sel.style.left = `${Math.min(x, x0) * 100}%`;
      sel.style.width = `${Math.abs(x - x0) * 100}%`;
    });
    window.addEventListener('mouseup', (e) => {
      if (x0 == null) return;
      const x = xAt(e);
      sel.remove();
      const total = this.m.totalNs || 1;
      const [a, b] = [Math.min(x, x0), Math.max(x, x0)];
      x0 = null;
      if (b - a < 0.005) this.setWindow(0, total);
      else this.setWindow(a * total, b * total);
    });
  }

  installResizer() {
    let startX = null, startW = 0;
    this.resizer.addEventListener('mousedown', (e) => {
      startX = e.clientX;
      startW = this.head.querySelector('.name-h').getBoundingClientRect().width;
      e.preventDefault();
      e.stopPropagation();
    });
    window.addEventListener('mousemove', (e) => {
      if (startX == null) return;
      const total = this.el.getBoundingClientRect().width || 1;
      const pct = Math.min(Math.max(((startW + e.clientX - startX) / total) * 100, 12), 80);
      this.el.style.setProperty('--namecol', `${pct}%`);
    });
    window.addEventListener('mouseup', () => { startX = null; });
  }

  onClick(e) {
    const row = e.target.closest('.wf-row');
    if (!row) return;
    const i = Number(row.dataset.idx);
    if (e.target.closest('.tog')) {
      this.toggle(i);
      return;
    }
    this.select(i, { scroll: false });
    this.onSelect(i);
  }

  /** Collapses or expands span i's subtree. */
  toggle(i, want) {
    if (!this.m.hasChildren[i]) return;
    const next = want == null ? (this.collapsed[i] ? 0 : 1) : want ? 0 : 1;
    if (this.collapsed[i] === next) return;
    this.collapsed[i] = next;
    // a selection inside the collapsed subtree moves up to the collapsed span
    const s = this.selected;
    const { posOf, size } = this.m;
    if (next && s >= 0 && posOf[s] > posOf[i] && posOf[s] < posOf[i] + size[i]) {
      this.selected = i;
      this.onSelect(i);
    }
    this.rebuildVisible();
    this.render();
  }

  expandAll() {
    this.collapsed.fill(0);
    this.rebuildVisible();
    this.render();
  }

  /** Collapses every span deeper than `depth` levels that has children (0: only roots show). */
  collapseToDepth(depth) {
    const m = this.m;
    for (let i = 0; i < m.n; i++) this.collapsed[i] = m.hasChildren[i] && m.depth[i] >= depth ? 1 : 0;
    this.rebuildVisible();
    this.render();
  }

  /** Expands the ancestors of i so that it has a row. */
  reveal(i) {
    let changed = false;
    for (let p = this.m.parent[i]; p >= 0; p = this.m.parent[p]) {
      if (this.collapsed[p]) {
        this.collapsed[p] = 0;
        changed = true;
      }
    }
    if (changed) this.rebuildVisible();
  }

  /** Selects span i (and reveals and scrolls to it when asked). */
  select(i, { scroll = true } = {}) {
    if (i < 0 || i >= this.m.n) return;
    this.selected = i;
    this.reveal(i);
    if (scroll) this.scrollToIndex(this.visibleIndex(i));
    this.refresh();
  }

  scrollToIndex(k) {
    if (k < 0) return;
    const vh = this.scroll.clientHeight || 600;
    if (this.scaled) {
      const total = this.visible.length;
      const rowsFit = vh / ROW_H;
      const maxScroll = MAX_SPACER - vh;
      const target = Math.max(0, k - rowsFit / 2);
      this.scroll.scrollTop = (target / Math.max(1, total - rowsFit)) * maxScroll;
      return;
    }
    const top = k * ROW_H;
    const st = this.scroll.scrollTop;
    if (top < st) this.scroll.scrollTop = top - ROW_H;
    else if (top + ROW_H > st + vh) this.scroll.scrollTop = top - vh + 2 * ROW_H;
  }

  setCritical(arr) {
    this.critical = arr;
    this.refresh();
  }

  setMatches(arr) {
    this.matches = arr;
    this.el.classList.toggle('finding', !!arr);
    this.refresh();
  }

  /** Keyboard navigation; returns true when the key was used. */
  onKey(e) {
    const m = this.m;
    const k = this.selected >= 0 ? this.visibleIndex(this.selected) : -1;
    const go = (kk) => {
      kk = Math.max(0, Math.min(this.visible.length - 1, kk));
      const i = this.visible[kk];
      if (i === undefined) return;
      this.select(i);
      this.onSelect(i);
    };
    switch (e.key) {
      case 'j': case 'ArrowDown': go(k + 1); return true;
      case 'k': case 'ArrowUp': go(k < 0 ? 0 : k - 1); return true;
      case 'Home': go(0); return true;
      case 'End': go(this.visible.length - 1); return true;
      case 'PageDown': go(k + Math.floor((this.scroll.clientHeight || 600) / ROW_H)); return true;
      case 'PageUp': go(k - Math.floor((this.scroll.clientHeight || 600) / ROW_H)); return true;
      case 'ArrowRight': {
        if (this.selected < 0) { go(0); return true; }
        const i = this.selected;
        if (m.hasChildren[i] && this.collapsed[i]) { this.toggle(i, true); this.refresh(); }
        else if (m.hasChildren[i]) go(k + 1);
        return true;
      }
      case 'ArrowLeft': {
        if (this.selected < 0) return true;
        const i = this.selected;
        if (m.hasChildren[i] && !this.collapsed[i]) { this.toggle(i, false); this.refresh(); }
        else if (m.parent[i] >= 0) { this.select(m.parent[i]); this.onSelect(m.parent[i]); }
        return true;
      }
      case 'Enter': {
        if (this.selected >= 0) { this.toggle(this.selected); this.refresh(); }
        return true;
      }
      default: return false;
    }
  }
}

/** An event's offset from its span's start, in ns (null without a time). */
export function eventOffset(m, i, ev) {
  const t = ev.timeUnixNano ?? ev.time_unix_nano;
  if (t == null) return null;
  const s = String(m.spans[i].startTimeUnixNano ?? '0');
  const e = String(t);
  // exact difference of two 19-digit decimals without BigInt: split at 1e9
  const hi = (x) => (x.length > 9 ? Number(x.slice(0, -9)) : 0);
  const lo = (x) => Number(x.length > 9 ? x.slice(-9) : x);
  return (hi(e) - hi(s)) * 1e9 + (lo(e) - lo(s));
}
