// The service map (/map?lookback=1h&service=): the dependency graph aggregated over a time
// range from /api/v1/dependencies, drawn as SVG with a layered (Sugiyama-style) layout: cycles
// broken by DFS, layers by longest path, order within layers by barycenter sweeps. Every edge
// shows calls, error rate and p50/p99 latency; a table below lists the same edges.
import { h, fmtDur, fmtInt, nsNum, serviceColor, LOOKBACKS, timeRange, toLocalInput } from './util.js';
import { getJson, qs, errorView } from './api.js';

const NODE_W = 170, NODE_H = 46, COL_GAP = 190, ROW_GAP = 40, PAD = 30;

export async function mountMap(root, params, nav) {
  const lookback = h('select', { 'aria-label': 'time range' }, LOOKBACKS.map(([v, l]) => h('option', { value: v }, l)));
  lookback.value = params.get('lookback') ?? (params.get('start') ? 'custom' : '1h');
  const start = h('input', { type: 'datetime-local', 'aria-label': 'from', value: params.get('start') ?? toLocalInput(Date.now() - 3600e3) });
  const end = h('input', { type: 'datetime-local', 'aria-label': 'to', value: params.get('end') ?? toLocalInput(Date.now() + 60e3) });
  const service = h('input', { placeholder: 'all services', 'aria-label': 'service', value: params.get('service') ?? '', size: 18 });
  const custom = h('span', { hidden: lookback.value !== 'custom' }, ' from ', start, ' to ', end);
  lookback.onchange = () => { custom.hidden = lookback.value !== 'custom'; };
  const form = h('form', { class: 'compare-form' },
    h('label', { class: 'field' }, 'Time range', lookback), custom,
    h('label', { class: 'field' }, 'Around service', service),
    h('button', { class: 'primary', type: 'submit' }, 'Show'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const p = { lookback: lookback.value === '1h' ? '' : lookback.value, service: service.value.trim() };
    if (lookback.value === 'custom') { p.start = start.value; p.end = end.value; }
    nav(`/map${qs(p)}`);
  });
  const out = h('div', { class: 'map-out', 'aria-live': 'polite' }, h('div', { class: 'loading' }, 'Loading the service map…'));
  root.replaceChildren(h('div', { class: 'page' }, h('h1', { style: { marginBottom: '10px' } }, 'Service map'), form, out));
  const ctl = new AbortController();
  const [s, e] = timeRange(lookback.value, start.value, end.value);
  try {
    const data = await getJson(`/api/v1/dependencies${qs({ start: s != null ? Math.floor(s) : '', end: e != null ? Math.ceil(e) : '', service: service.value.trim(), format: 'json' })}`, ctl.signal);
    out.replaceChildren(...renderMap(data, nav, lookback.value));
    out.dataset.state = 'done';
  } catch (err) {
    if (err.name !== 'AbortError') {
      out.replaceChildren(errorView(err, 'The service map'));
      out.dataset.state = 'error';
    }
  }
  return { destroy() { ctl.abort(); } };
}

/** Positions nodes in layers; returns {pos: Map(service → {x, y, layer}), width, height, back: Set(edge index)}. */
export function layout(nodes, edges) {
  const names = nodes.map((n) => n.service);
  const idx = new Map(names.map((n, i) => [n, i]));
  const out = names.map(() => []);
  const indeg = new Array(names.length).fill(0);
  edges.forEach((e, k) => {
    if (e.parent === e.child) return;
    out[idx.get(e.parent)].push([idx.get(e.child), k]);
    indeg[idx.get(e.child)]++;
  });
  // 1. break cycles: DFS from sources first, edges to nodes on the stack are back edges
  const state = new Uint8Array(names.length); // 0 new, 1 on stack, 2 done
  const back = new Set();
  const src = (i) => (indeg[i] === 0 ? 0 : 1);
  const order = names.map((_, i) => i).sort((a, b) => src(a) - src(b) || names[a].localeCompare(names[b]));
  for (const r of order) {
    if (state[r]) continue;
    const stack = [[r, 0]];
    state[r] = 1;
    while (stack.length) {
      const top = stack[stack.length - 1];
      const [v, k] = top;
      if (k < out[v].length) {
        top[1]++;
        const [w, ek] = out[v][k];
        if (state[w] === 1) back.add(ek);
        else if (state[w] === 0) { state[w] = 1; stack.push([w, 0]); }
      } else {
        state[v] = 2;
        stack.pop();
      }
    }
  }
  // 2. layers: longest path over the acyclic edges (Kahn's order)
  const layer = new Array(names.length).fill(0);
  const deg = new Array(names.length).fill(0);
  const fwd = names.map(() => []);
  edges.forEach((e, k) => {
    if (e.parent === e.child || back.has(k)) return;
    fwd[idx.get(e.parent)].push(idx.get(e.child));
    deg[idx.get(e.child)]++;
  });
  const queue = names.map((_, i) => i).filter((i) => deg[i] === 0);
  while (queue.length) {
    const v = queue.shift();
    for (const w of fwd[v]) {
      layer[w] = Math.max(layer[w], layer[v] + 1);
      if (--deg[w] === 0) queue.push(w);
    }
  }
  const nLayers = Math.max(0, ...layer) + 1;
  const layers = Array.from({ length: nLayers }, () => []);
  names.map((_, i) => i).sort((a, b) => names[a].localeCompare(names[b])).forEach((i) => layers[layer[i]].push(i));
  // 3. order within layers: barycenter sweeps (down, then up), four rounds
  const nbrs = names.map(() => []);
  edges.forEach((e) => {
    if (e.parent === e.child) return;
    const a = idx.get(e.parent), b = idx.get(e.child);
    nbrs[a].push(b);
    nbrs[b].push(a);
  });
  const posIn = new Array(names.length).fill(0);
  const setPos = () => layers.forEach((L) => L.forEach((v, k) => { posIn[v] = k; }));
  setPos();
  for (let round = 0; round < 4; round++) {
    const seq = round % 2 === 0 ? layers.map((_, k) => k) : layers.map((_, k) => nLayers - 1 - k);
    for (const l of seq) {
      const ref = round % 2 === 0 ? l - 1 : l + 1;
      if (ref < 0 || ref >= nLayers) continue;
      const bary = (v) => {
        const ns = nbrs[v].filter((w) => layer[w] === ref);
        return ns.length ? ns.reduce((s, w) => s + posIn[w], 0) / ns.length : posIn[v];
      };
      const b = new Map(layers[l].map((v) => [v, bary(v)]));
      layers[l].sort((x, y) => b.get(x) - b.get(y) || names[x].localeCompare(names[y]));
      setPos();
    }
  }
  const maxRows = Math.max(1, ...layers.map((L) => L.length));
  const height = PAD * 2 + maxRows * NODE_H + (maxRows - 1) * ROW_GAP + 60;
  const width = PAD * 2 + nLayers * NODE_W + (nLayers - 1) * COL_GAP;
  const pos = new Map();
  layers.forEach((L, l) => {
    const colH = L.length * NODE_H + (L.length - 1) * ROW_GAP;
    const y0 = (height - 60 - colH) / 2;
    L.forEach((v, k) => pos.set(names[v], { x: PAD + l * (NODE_W + COL_GAP), y: y0 + k * (NODE_H + ROW_GAP), layer: l }));
  });
  return { pos, width, height, back };
}

function renderMap(data, nav, lookback) {
  const edges = data.edges ?? [];
  const nodes = [...(data.nodes ?? [])];
  const known = new Set(nodes.map((n) => n.service));
  for (const e of edges) {
    for (const s of [e.parent, e.child]) {
      if (!known.has(s)) { known.add(s); nodes.push({ service: s, spanCount: null, errorCount: null }); }
    }
  }
  const parts = [];
  parts.push(h('p', { class: 'muted', dataset: { tracesAnalyzed: data.tracesAnalyzed ?? '' } },
    `${fmtInt(nodes.length)} services, ${fmtInt(edges.length)} edges, from ${fmtInt(data.tracesAnalyzed ?? 0)} traces.`));
  if (data.truncated) {
    parts.push(h('div', { class: 'notice', dataset: { truncated: 'true' } }, `The map is built from the first ${fmtInt(data.tracesAnalyzed)} traces of the range only (the server capped it): calls and latencies are a sample. Narrow the time range for the full picture.`));
  }
  if (!nodes.length) {
    parts.push(h('div', { class: 'unavailable' }, 'No spans in this time range: choose a longer range.'));
    return parts;
  }
  const { pos, width, height, back } = layout(nodes, edges);
  const NS = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('width', width);
  svg.setAttribute('height', height);
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', 'service dependency graph');
  const mk = (tag, attrs, parent = svg, text) => {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text != null) e.textContent = text;
    parent.append(e);
    return e;
  };
  const defs = mk('defs', {});
  for (const [id, color] of [['arrow', 'var(--muted)'], ['arrow-err', 'var(--err)']]) {
    const mkr = mk('marker', { id, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, defs);
    mk('path', { d: 'M0,0 L10,5 L0,10 z', fill: color }, mkr);
  }
  const maxCalls = Math.max(1, ...edges.map((e) => e.calls));
  const edgeEls = [];
  edges.forEach((e, k) => {
    const a = pos.get(e.parent), b = pos.get(e.child);
    const rate = e.calls ? e.errors / e.calls : 0;
    const g = mk('g', { class: `map-edge${rate > 0 ? ' err' : ''}`, 'data-parent': e.parent, 'data-child': e.child, 'data-calls': e.calls, 'data-errors': e.errors });
    let d, lx, ly;
    if (e.parent === e.child) {
      const x = a.x + NODE_W / 2, y = a.y;
      d = `M${x - 20},${y} C${x - 40},${y - 50} ${x + 40},${y - 50} ${x + 20},${y}`;
      lx = x; ly = y - 42;
    } else if (back.has(k) || b.layer <= a.layer) {
      // against the flow: loop below both nodes
      const x1 = a.x + NODE_W / 2, y1 = a.y + NODE_H, x2 = b.x + NODE_W / 2, y2 = b.y + NODE_H;
      const low = Math.max(y1, y2) + 50;
      d = `M${x1},${y1} C${x1},${low} ${x2},${low} ${x2},${y2}`;
      lx = (x1 + x2) / 2; ly = low - 8;
    } else {
      const x1 = a.x + NODE_W, y1 = a.y + NODE_H / 2, x2 = b.x, y2 = b.y + NODE_H / 2;
      const mx = (x1 + x2) / 2;
      d = `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2 - 2},${y2}`;
      lx = mx; ly = (y1 + y2) / 2 - 6;
    }
    const color = rate > 0 ? 'var(--err)' : 'var(--muted)';
    mk('path', { d, stroke: color, 'stroke-width': 1.2 + Math.log10(1 + (9 * e.calls) / maxCalls) * 3, 'marker-end': `url(#${rate > 0 ? 'arrow-err' : 'arrow'})` }, g);
    const label = `${fmtInt(e.calls)} calls · ${(rate * 100).toFixed(rate > 0 && rate < 0.01 ? 2 : 0)}% err`;
    const label2 = `p50 ${fmtDur(nsNum(e.p50Nanos))} · p99 ${fmtDur(nsNum(e.p99Nanos))}`;
    mk('text', { x: lx, y: ly, 'text-anchor': 'middle' }, g, label);
    mk('text', { x: lx, y: ly + 13, 'text-anchor': 'middle' }, g, label2);
    mk('title', {}, g, `${e.parent} → ${e.child}\n${label}\n${label2}`);
    edgeEls.push(g);
  });
  const nodeEls = [];
  for (const n of nodes) {
    const p = pos.get(n.service);
    const g = mk('g', { class: `map-node${n.errorCount ? ' has-err' : ''}`, 'data-service': n.service, transform: `translate(${p.x},${p.y})`, tabindex: '0' });
    mk('rect', { width: NODE_W, height: NODE_H, rx: 8 }, g);
    mk('rect', { width: 6, height: NODE_H, rx: 3, style: `fill:${serviceColor(n.service)};stroke:none` }, g);
    const name = n.service.length > 21 ? `${n.service.slice(0, 20)}…` : n.service;
    mk('text', { x: 14, y: 19 }, g, name);
    const sub = n.spanCount == null ? 'no spans of its own' : `${fmtInt(n.spanCount)} spans${n.errorCount ? ` · ${fmtInt(n.errorCount)} errors` : ''}`;
    mk('text', { x: 14, y: 36, class: 'sub' }, g, sub);
    mk('title', {}, g, `${n.service}\n${sub}\nclick: search this service's traces`);
    const open = () => nav(`/search${qs({ service: n.service, lookback: lookback === '1h' ? '' : lookback })}`);
    g.addEventListener('click', open);
    g.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') open(); });
    g.addEventListener('mouseenter', () => {
      for (const el of edgeEls) {
        const on = el.dataset.parent === n.service || el.dataset.child === n.service;
        el.classList.toggle('dim', !on);
      }
      const linked = new Set([n.service]);
      for (const e of edges) {
        if (e.parent === n.service) linked.add(e.child);
        if (e.child === n.service) linked.add(e.parent);
      }
      for (const el of nodeEls) el.classList.toggle('dim', !linked.has(el.dataset.service));
    });
    g.addEventListener('mouseleave', () => { for (const el of [...edgeEls, ...nodeEls]) el.classList.remove('dim'); });
    nodeEls.push(g);
  }
  parts.push(h('div', { class: 'map-wrap' }, svg));
  const sorted = [...edges].sort((a, b) => b.calls - a.calls);
  parts.push(h('h2', { style: { marginTop: '16px' } }, 'Edges'),
    h('table', { class: 'map-table' },
      h('thead', null, h('tr', null, ['Caller', 'Callee', 'Calls', 'Errors', 'Error rate', 'p50', 'p99'].map((t, k) => h('th', { class: k > 1 ? 'num' : '' }, t)))),
      h('tbody', null, sorted.map((e) => h('tr', { dataset: { parent: e.parent, child: e.child } },
        h('td', null, e.parent), h('td', null, e.child), h('td', { class: 'num' }, fmtInt(e.calls)), h('td', { class: 'num' }, fmtInt(e.errors)),
        h('td', { class: 'num' }, e.calls ? `${((e.errors / e.calls) * 100).toFixed(1)}%` : '–'),
        h('td', { class: 'num' }, fmtDur(nsNum(e.p50Nanos))), h('td', { class: 'num' }, fmtDur(nsNum(e.p99Nanos))))))));
  return parts;
}
