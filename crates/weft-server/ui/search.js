// The search view (/search): a TraceQL box (/api/v1/query) and simple fields (/api/v1/search);
// results as a duration-over-time scatter and a list. The URL holds the search, so a reload or
// a shared link runs the same search.
import { h, fmtDur, fmtTime, fmtAgo, fmtInt, nsToMs, nsNum, serviceChip, serviceColor, plural, LOOKBACKS, timeRange, toLocalInput, parseDur } from './util.js';
import { getJson, qs, errorView, ApiError } from './api.js';

const SORTS = [['recent', 'Most recent'], ['longest', 'Longest first'], ['shortest', 'Shortest first'], ['spans', 'Most spans'], ['errors', 'Most errors']];

/** Splits `k=v k2="v 2"` into pairs; throws naming the bad token. */
export function parseTags(s) {
  const out = [];
  const re = /\s*([^\s=]+)=("((?:[^"\\]|\\.)*)"|\S*)/y;
  let rest = s.trim();
  let pos = 0;
  while (pos < rest.length) {
    re.lastIndex = pos;
    const m = re.exec(rest);
    if (!m) {
      const tok = rest.slice(pos).trim().split(/\s+/)[0];
      throw new Error(`tag "${tok}" is not key=value (write e.g. http.status_code=500 error=true)`);
    }
    out.push([m[1], m[3] != null ? m[3].replace(/\\(.)/g, '$1') : m[2]]);
    pos = re.lastIndex;
    while (pos < rest.length && /\s/.test(rest[pos])) pos++;
  }
  return out;
}

export async function mountSearch(root, params, nav) {
  const view = new SearchView(root, params, nav);
  view.render();
  view.run(true);
  return view;
}

class SearchView {
  constructor(root, params, nav) {
    this.root = root;
    this.params = params;
    this.nav = nav;
    this.mode = params.has('q') ? 'traceql' : 'fields';
    this.ctl = null;
    this.selectedForCompare = new Set();
    this.sort = params.get('sort') || 'recent';
    this.last = null;
  }

  render() {
    const p = this.params;
    // TraceQL
    this.q = h('textarea', { class: 'traceql', spellcheck: 'false', 'aria-label': 'TraceQL query', placeholder: '{ resource.service.name = "checkout" && duration > 100ms }' });
    this.q.value = p.get('q') ?? '';
    this.q.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey || !e.shiftKey)) { e.preventDefault(); this.submit(); }
    });
    this.q.addEventListener('input', () => this.clearQlError());
    this.qlError = h('div', { class: 'traceql-error', hidden: true, role: 'alert' });
    this.qlPane = h('div', { class: 'traceql-wrap' }, h('label', null, 'TraceQL (Enter runs, Shift+Enter for a new line)'), this.q, this.qlError);

    // fields
    this.service = h('select', { 'aria-label': 'service' }, h('option', { value: '' }, 'All services'));
    this.operation = h('select', { 'aria-label': 'operation' }, h('option', { value: '' }, 'All operations'));
    this.tags = h('input', { placeholder: 'http.status_code=500 error=true', spellcheck: 'false', 'aria-label': 'tags' });
    this.tags.value = p.get('tags') ?? '';
    this.minD = h('input', { placeholder: 'e.g. 100ms', 'aria-label': 'minimum duration', size: 8 });
    this.minD.value = p.get('minDuration') ?? '';
    this.maxD = h('input', { placeholder: 'e.g. 2s', 'aria-label': 'maximum duration', size: 8 });
    this.maxD.value = p.get('maxDuration') ?? '';
    this.status = h('select', { 'aria-label': 'status' }, h('option', { value: '' }, 'Any status'), h('option', { value: 'error' }, 'Errors only'));
    this.status.value = p.get('status') ?? '';
    this.fieldError = h('div', { class: 'field-error', role: 'alert' });
    this.fieldsPane = h('div', { class: 'fields' },
      field('Service', this.service),
      field('Operation', this.operation),
      field('Tags (key=value, space separated)', this.tags),
      h('div', { class: 'row2' }, field('Min duration', this.minD), field('Max duration', this.maxD)),
      field('Status', this.status));

    // common: time range and limit
    this.lookback = h('select', { 'aria-label': 'time range' }, LOOKBACKS.map(([v, label]) => h('option', { value: v }, label)));
    this.lookback.value = p.get('lookback') ?? (p.get('start') || p.get('end') ? 'custom' : '1h');
    this.start = h('input', { type: 'datetime-local', 'aria-label': 'from' });
    this.end = h('input', { type: 'datetime-local', 'aria-label': 'to' });
    if (p.get('start')) this.start.value = p.get('start');
    if (p.get('end')) this.end.value = p.get('end');
    this.custom = h('div', { class: 'row2' }, field('From', this.start), field('To', this.end));
    const syncCustom = () => {
      this.custom.hidden = this.lookback.value !== 'custom';
      if (this.lookback.value === 'custom' && !this.start.value) {
        this.start.value = toLocalInput(Date.now() - 3600e3);
        this.end.value = toLocalInput(Date.now() + 60e3);
      }
    };
    this.lookback.onchange = syncCustom;
    syncCustom();
    this.limit = h('input', { type: 'number', min: 1, max: 10000, value: p.get('limit') ?? '20', 'aria-label': 'limit' });

    const tabs = h('div', { class: 'tabs', role: 'tablist' },
      ['fields', 'traceql'].map((k) => {
        const b = h('button', { type: 'button', role: 'tab', dataset: { mode: k } }, k === 'fields' ? 'Search' : 'TraceQL');
        b.onclick = () => this.setMode(k);
        return b;
      }));
    this.tabs = tabs;
    const go = h('button', { class: 'primary', type: 'submit' }, 'Find traces');
    const form = h('form', { class: 'search-form', role: 'search', 'aria-label': 'find traces' },
      tabs, this.qlPane, this.fieldsPane,
      h('div', { class: 'row2' }, field('Time range', this.lookback), field('Limit', this.limit)),
      this.custom, this.fieldError, go);
    form.addEventListener('submit', (e) => { e.preventDefault(); this.submit(); });
    this.results = h('div', { class: 'results-pane', 'aria-live': 'polite' });
    this.root.replaceChildren(h('div', { class: 'page' }, h('div', { class: 'search-layout' }, form, this.results)));
    this.setMode(this.mode, false);
    this.loadServices();
  }

  setMode(mode, focus = true) {
    this.mode = mode;
    for (const b of this.tabs.children) b.classList.toggle('active', b.dataset.mode === mode);
    this.qlPane.hidden = mode !== 'traceql';
    this.fieldsPane.hidden = mode !== 'fields';
    if (focus && mode === 'traceql') this.q.focus();
  }

  async loadServices() {
    try {
      const { services } = await getJson('/api/v1/services');
      const want = this.params.get('service') ?? '';
      for (const s of services) this.service.append(h('option', { value: s }, s));
      if (want && !services.includes(want)) this.service.append(h('option', { value: want }, `${want} (no spans stored)`));
      this.service.value = want;
      this.service.onchange = () => this.loadOperations();
      await this.loadOperations(this.params.get('operation') ?? '');
    } catch (e) {
      this.fieldError.textContent = `cannot list services: ${e.message}`;
    }
  }

  async loadOperations(want = '') {
    this.operation.replaceChildren(h('option', { value: '' }, 'All operations'));
    const svc = this.service.value;
    if (!svc) return;
    try {
      const { operations } = await getJson(`/api/v1/services/${encodeURIComponent(svc)}/operations`);
      const names = [...new Set(operations.map((o) => o.name))].sort();
      for (const n of names) this.operation.append(h('option', { value: n }, n));
      if (want && !names.includes(want)) this.operation.append(h('option', { value: want }, want));
      this.operation.value = want;
    } catch (e) {
      this.fieldError.textContent = `cannot list operations of ${svc}: ${e.message}`;
    }
  }

  /** The page URL's parameters for the form's current state. */
  urlParams() {
    const o = {};
    if (this.mode === 'traceql') o.q = this.q.value;
    else {
      o.service = this.service.value;
      o.operation = this.operation.value;
      o.tags = this.tags.value.trim();
      o.minDuration = this.minD.value.trim();
      o.maxDuration = this.maxD.value.trim();
      o.status = this.status.value;
    }
    o.lookback = this.lookback.value === '1h' ? '' : this.lookback.value;
    if (this.lookback.value === 'custom') { o.start = this.start.value; o.end = this.end.value; }
    o.limit = this.limit.value === '20' ? '' : this.limit.value;
    o.sort = this.sort === 'recent' ? '' : this.sort;
    return o;
  }

  submit() {
    const url = `/search${qs(this.urlParams())}`;
    if (url !== location.pathname + location.search) history.pushState(null, '', url);
    this.run(false);
  }

  clearQlError() {
    this.qlError.hidden = true;
    this.q.removeAttribute('aria-invalid');
  }

  /** Runs the search; `initial` takes service and operation from the URL (the dropdowns may still be loading). */
  async run(initial) {
    this.fieldError.textContent = '';
    this.clearQlError();
    this.ctl?.abort();
    const ctl = new AbortController();
    this.ctl = ctl;
    const [s, e] = timeRange(this.lookback.value, this.start.value, this.end.value);
    const common = { start: s != null ? Math.floor(s) : '', end: e != null ? Math.ceil(e) : '', limit: this.limit.value || '' };
    let path;
    if (this.mode === 'traceql') {
      if (!this.q.value.trim()) {
        this.results.replaceChildren(h('p', { class: 'muted' }, 'Write a TraceQL query, e.g. { status = error } or { resource.service.name = "api" && duration > 500ms }.'));
        return;
      }
      path = `/api/v1/query${qs({ q: this.q.value, ...common, spss: 3 })}`;
    } else {
      let tags;
      try {
        tags = parseTags(this.tags.value);
        parseDur(this.minD.value);
        parseDur(this.maxD.value);
      } catch (err) {
        this.fieldError.textContent = err.message;
        return;
      }
      path = `/api/v1/search${qs({
        service: initial ? this.params.get('service') ?? '' : this.service.value,
        name: initial ? this.params.get('operation') ?? '' : this.operation.value,
        attr: tags.map(([k, v]) => `${k}=${v}`),
        minDuration: this.minD.value.trim(),
        maxDuration: this.maxD.value.trim(),
        status: this.status.value,
        ...common,
      })}`;
    }
    this.results.replaceChildren(h('div', { class: 'loading' }, 'Searching…'));
    this.results.dataset.state = 'loading';
    const t0 = performance.now();
    try {
      const res = await getJson(path, ctl.signal);
      if (ctl.signal.aborted) return;
      this.last = { res, ms: performance.now() - t0, traceql: this.mode === 'traceql' };
      this.showResults();
    } catch (err) {
      if (err.name === 'AbortError') return;
      this.results.dataset.state = 'error';
      if (err instanceof ApiError && err.status === 400 && this.mode === 'traceql' && err.body?.line != null) {
        this.showQlError(err.body);
        this.results.replaceChildren();
      } else if (err instanceof ApiError && err.status === 400) {
        (this.mode === 'traceql' ? this.showQlError(err.body ?? { error: err.message }) : (this.fieldError.textContent = err.body?.error ?? err.message));
        this.results.replaceChildren();
      } else {
        this.results.replaceChildren(errorView(err, this.mode === 'traceql' ? 'TraceQL search' : 'Search'));
      }
    }
  }

  /** Shows a parse error under the query: the offending line with a caret at the column. */
  showQlError(body) {
    const text = this.q.value;
    const lines = text.split('\n');
    const line = Number(body.line ?? 0);
    const col = Number(body.column ?? 0);
    this.qlError.replaceChildren();
    this.qlError.dataset.line = line || '';
    this.qlError.dataset.column = col || '';
    if (line >= 1 && line <= lines.length && col >= 1) {
      const src = lines[line - 1];
      this.qlError.append(
        h('div', { class: 'src' }, src),
        h('div', { class: 'caret' }, `${' '.repeat(Math.min(col - 1, src.length + 1))}^`));
      // put the cursor at the error
      let off = 0;
      for (let k = 0; k < line - 1; k++) off += lines[k].length + 1;
      off += Math.min(col - 1, src.length);
      this.q.setSelectionRange(off, off);
    }
    this.qlError.append(h('div', { class: 'ql-msg' }, body.error ?? 'invalid query'));
    this.qlError.hidden = false;
    this.q.setAttribute('aria-invalid', 'true');
  }

  showResults() {
    const { res, ms, traceql } = this.last;
    const traces = [...(res.traces ?? [])];
    const key = {
      recent: (t) => -nsToMs(t.startTimeUnixNano),
      longest: (t) => -nsNum(t.durationNanos),
      shortest: (t) => nsNum(t.durationNanos),
      spans: (t) => -t.spanCount,
      errors: (t) => -t.errorCount,
    }[this.sort] ?? ((t) => -nsToMs(t.startTimeUnixNano));
    traces.sort((a, b) => key(a) - key(b));
    const sortSel = h('select', { 'aria-label': 'sort' }, SORTS.map(([v, l]) => h('option', { value: v }, l)));
    sortSel.value = this.sort;
    sortSel.onchange = () => {
      this.sort = sortSel.value;
      history.replaceState(null, '', `/search${qs(this.urlParams())}`);
      this.showResults();
    };
    this.compareBtn = h('button', { type: 'button', disabled: this.selectedForCompare.size !== 2, title: 'Tick two traces to compare them' }, `Compare (${this.selectedForCompare.size}/2)`);
    this.compareBtn.onclick = () => {
      const [a, b] = [...this.selectedForCompare];
      this.nav(`/compare${qs({ a, b })}`);
    };
    const head = h('div', { class: 'results-head' },
      h('b', { dataset: { count: traces.length } }, plural(traces.length, 'trace')),
      h('span', { class: 'muted' }, `in ${Math.round(ms)} ms${res.inspectedTraces != null ? ` · ${fmtInt(res.inspectedTraces)} traces inspected` : ''}`),
      h('span', { class: 'spacer' }), this.compareBtn, sortSel);
    const parts = [head];
    if (res.truncated) {
      parts.push(h('div', { class: 'notice', dataset: { truncated: 'true' } },
        `More traces match than shown: these are the ${plural(traces.length, 'trace')} the limit (${this.limit.value || 20}) allows. Narrow the time range or the query, or raise the limit.`));
    }
    if (!traces.length) {
      parts.push(h('div', { class: 'unavailable' }, 'No traces match. Try a longer time range, or fewer conditions.'));
    } else {
      parts.push(this.scatter(traces));
      const maxDur = Math.max(...traces.map((t) => nsNum(t.durationNanos)), 1);
      parts.push(h('div', { class: 'results' }, traces.map((t) => this.resultRow(t, maxDur, traceql))));
    }
    this.results.replaceChildren(...parts);
    this.results.dataset.state = 'done';
  }

  resultRow(t, maxDur, traceql) {
    const dur = nsNum(t.durationNanos);
    const startMs = nsToMs(t.startTimeUnixNano);
    const cb = h('input', { type: 'checkbox', title: 'select for comparison', 'aria-label': 'select for comparison', checked: this.selectedForCompare.has(t.traceId) });
    cb.onchange = () => {
      if (cb.checked) this.selectedForCompare.add(t.traceId);
      else this.selectedForCompare.delete(t.traceId);
      if (this.selectedForCompare.size > 2) {
        const first = [...this.selectedForCompare][0];
        this.selectedForCompare.delete(first);
        const other = this.results.querySelector(`.result[data-trace-id="${first}"] input[type=checkbox]`);
        if (other) other.checked = false;
      }
      this.compareBtn.textContent = `Compare (${this.selectedForCompare.size}/2)`;
      this.compareBtn.disabled = this.selectedForCompare.size !== 2;
    };
    const title = t.rootSpanPresent === false
      ? `${t.rootServiceName || '?'}: ${t.rootSpanName || '?'} (root span not received)`
      : `${t.rootServiceName}: ${t.rootSpanName}`;
    const spanSets = traceql && t.spanSets?.length
      ? h('div', { class: 'spansets' }, t.spanSets.map((ss) => h('div', null,
        h('span', { class: 'muted' }, `matched ${plural(ss.matched ?? ss.spans?.length ?? 0, 'span')}: `),
        (ss.spans ?? []).map((s) => h('a', { href: `/trace/${t.traceId}?span=${s.spanId}`, 'data-nav': true, style: { marginRight: '10px' } },
          `${s.service}: ${s.name} (${fmtDur(nsNum(s.durationNanos))})`)),
        ss.attributes && Object.keys(ss.attributes).length ? h('span', { class: 'muted' }, ' ', Object.entries(ss.attributes).map(([k, v]) => `${k} = ${v}`).join(', ')) : null)))
      : null;
    return h('div', { class: 'result', dataset: { traceId: t.traceId } },
      cb,
      h('a', { class: 'title', href: `/trace/${t.traceId}`, 'data-nav': true }, title),
      h('span', { class: 'dur' }, fmtDur(dur)),
      h('div', { class: 'durbar' }, h('div', { style: { width: `${(dur / maxDur) * 100}%`, background: serviceColor(t.rootServiceName || '') } })),
      h('div', { class: 'meta' },
        h('span', null, plural(t.spanCount, 'span')),
        t.errorCount ? h('span', { class: 'badge-err' }, plural(t.errorCount, 'error')) : null,
        h('span', { title: fmtTime(startMs) }, `${fmtTime(startMs)} (${fmtAgo(startMs)})`),
        h('span', { class: 'mono' }, t.traceId.slice(0, 16)),
        h('span', null, (t.services ?? []).map((s) => serviceChip(s)))),
      spanSets);
  }

  /** Duration over start time; click a dot to open its trace. */
  scatter(traces) {
    const W = Math.max(this.results.clientWidth || 700, 300);
    const H = 170;
    const m = { l: 58, r: 12, t: 10, b: 24 };
    const xs = traces.map((t) => nsToMs(t.startTimeUnixNano));
    const ys = traces.map((t) => nsNum(t.durationNanos));
    let x0 = Math.min(...xs), x1 = Math.max(...xs);
    if (x1 - x0 < 1000) { x0 -= 500; x1 += 500; }
    const padX = (x1 - x0) * 0.03;
    x0 -= padX;
    x1 += padX;
    const y1 = Math.max(...ys) * 1.1 || 1;
    const X = (v) => m.l + ((v - x0) / (x1 - x0)) * (W - m.l - m.r);
    const Y = (v) => H - m.b - (v / y1) * (H - m.t - m.b);
    const NS = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(NS, 'svg');
    svg.setAttribute('class', 'scatter');
    svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', 'trace duration over time');
    const el = (tag, attrs, text) => {
      const e = document.createElementNS(NS, tag);
      for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
      if (text != null) e.textContent = text;
      svg.append(e);
      return e;
    };
    const axis = document.createElementNS(NS, 'g');
    axis.setAttribute('class', 'axis');
    svg.append(axis);
    const ax = (tag, attrs, text) => { const e = el(tag, attrs, text); axis.append(e); return e; };
    ax('line', { x1: m.l, y1: H - m.b, x2: W - m.r, y2: H - m.b });
    ax('line', { x1: m.l, y1: m.t, x2: m.l, y2: H - m.b });
    for (let k = 0; k <= 3; k++) {
      const v = (y1 / 3) * k;
      ax('text', { x: m.l - 6, y: Y(v) + 4, 'text-anchor': 'end' }, fmtDur(v));
      ax('line', { x1: m.l, y1: Y(v), x2: W - m.r, y2: Y(v), 'stroke-dasharray': '2 4' });
    }
    for (let k = 0; k <= 4; k++) {
      const v = x0 + ((x1 - x0) / 4) * k;
      ax('text', { x: X(v), y: H - 6, 'text-anchor': k === 0 ? 'start' : k === 4 ? 'end' : 'middle' }, fmtTime(v).slice(11, 19));
    }
    traces.forEach((t, k) => {
      const r = 3 + Math.min(6, Math.log10((t.spanCount || 1) + 1) * 1.8);
      const c = el('circle', {
        cx: X(xs[k]), cy: Y(ys[k]), r,
        fill: t.errorCount ? 'var(--err)' : serviceColor(t.rootServiceName || ''),
        'data-trace-id': t.traceId,
        tabindex: '0',
      });
      const title = document.createElementNS(NS, 'title');
      title.textContent = `${t.rootServiceName}: ${t.rootSpanName}\n${fmtDur(ys[k])} · ${plural(t.spanCount, 'span')}${t.errorCount ? ` · ${plural(t.errorCount, 'error')}` : ''}\n${fmtTime(xs[k])}`;
      c.append(title);
      const open = () => this.nav(`/trace/${t.traceId}`);
      c.addEventListener('click', open);
      c.addEventListener('keydown', (e) => { if (e.key === 'Enter') open(); });
    });
    return svg;
  }

  onKey(e) {
    if (e.key === '/') {
      (this.mode === 'traceql' ? this.q : this.tags).focus();
      return true;
    }
    return false;
  }

  destroy() {
    this.ctl?.abort();
  }
}

function field(label, input) {
  return h('label', { class: 'field' }, label, input);
}
