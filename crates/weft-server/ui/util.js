// Small helpers shared by the views: DOM building, escaping, formatting of durations and times,
// stable service colours.

/** Escapes text for HTML. */
export function esc(s) {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

/**
 * Creates an element: h('div', {class: 'x', onclick: fn, dataset: {a: 1}}, child, 'text', ...).
 * Attributes whose value is null/undefined/false are skipped.
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v == null || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k === 'style' && typeof v === 'object') Object.assign(el.style, v);
      else if (k === 'html') el.innerHTML = v;
      else if (k in el && typeof v !== 'string') el[k] = v;
      else el.setAttribute(k, v === true ? '' : v);
    }
  }
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** A duration in nanoseconds (number) as Jaeger shows it: 0µs, 812µs, 1.23ms, 4.5s, 2m 3s. */
export function fmtDur(ns) {
  if (ns == null || Number.isNaN(ns)) return '–';
  const neg = ns < 0;
  let a = Math.abs(ns);
  let s;
  if (a < 1e3) s = `${trim(a, 0)}ns`;
  else if (a < 1e6) s = `${trim(a / 1e3, a < 1e4 ? 2 : a < 1e5 ? 1 : 0)}µs`;
  else if (a < 1e9) s = `${trim(a / 1e6, a < 1e7 ? 2 : a < 1e8 ? 1 : 0)}ms`;
  else if (a < 60e9) s = `${trim(a / 1e9, a < 1e10 ? 2 : 1)}s`;
  else if (a < 3600e9) s = `${Math.floor(a / 60e9)}m ${Math.round((a % 60e9) / 1e9)}s`;
  else s = `${Math.floor(a / 3600e9)}h ${Math.round((a % 3600e9) / 60e9)}m`;
  return neg ? `-${s}` : s;
}

function trim(x, digits) {
  return x.toFixed(digits).replace(/\.0+$|(\.\d*[1-9])0+$/, '$1');
}

/** A signed delta: +1.2ms / -3µs. */
export function fmtDelta(ns) {
  if (ns == null) return '–';
  return ns > 0 ? `+${fmtDur(ns)}` : fmtDur(ns);
}

/** Nanosecond decimal string (or number) → number of nanoseconds (exact below 2^53). */
export function nsNum(v) {
  if (v == null || v === '') return null;
  return typeof v === 'number' ? v : Number(v);
}

/** Unix-nano decimal string → milliseconds since the epoch (float). */
export function nsToMs(v) {
  if (v == null || v === '') return null;
  const s = String(v);
  if (s.length <= 9) return Number(s) / 1e6;
  return Number(s.slice(0, -9)) * 1e3 + Number(s.slice(-9)) / 1e6;
}

const pad = (n, w = 2) => String(n).padStart(w, '0');

/** Local time, 2024-05-01 14:03:07.123. */
export function fmtTime(ms) {
  if (ms == null) return '–';
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** "5 minutes ago". */
export function fmtAgo(ms, now = Date.now()) {
  const s = Math.round((now - ms) / 1000);
  if (s < -5) return 'in the future';
  if (s < 60) return `${Math.max(s, 0)}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

/** 1234567 → 1,234,567. */
export function fmtInt(n) {
  return n == null ? '–' : Number(n).toLocaleString('en-US');
}

// A palette readable on both light and dark backgrounds: the most distinct hues first, then
// lighter/darker variants; no red (red means "error").
const PALETTE = [
  '#4e79a7', '#f28e2b', '#59a14f', '#b07aa1', '#76b7b2', '#edc948', '#9c755f', '#ff9da7',
  '#79706e', '#8cd17d', '#a0cbe8', '#d37295', '#b6992d', '#d4a6c8', '#499894', '#bab0ac',
];

/** FNV-1a of a string. */
export function hashStr(s) {
  let x = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    x ^= s.charCodeAt(i);
    x = Math.imul(x, 0x01000193);
  }
  return x >>> 0;
}

// service → palette slot, remembered in the browser: the same colour in every view, trace and
// reload, and distinct services get distinct colours until the palette is used up
const COLOR_KEY = 'weft-service-colors';
let slots;
function loadSlots() {
  try {
    slots = new Map(Object.entries(JSON.parse(localStorage.getItem(COLOR_KEY) ?? '{}')));
  } catch {
    slots = new Map();
  }
}
let saveTimer = 0;
function saveSlots() {
  if (saveTimer) return;
  saveTimer = setTimeout(() => {
    saveTimer = 0;
    try {
      // keep the most recent 500 services
      const entries = [...slots].slice(-500);
      localStorage.setItem(COLOR_KEY, JSON.stringify(Object.fromEntries(entries)));
    } catch {
      /* storage full or disabled: colours stay stable for this page */
    }
  }, 200);
}

/** A stable colour for a service name. */
export function serviceColor(name) {
  if (!slots) loadSlots();
  let k = slots.get(name);
  if (k === undefined) {
    const used = new Set(slots.values());
    const home = hashStr(name) % PALETTE.length;
    k = home;
    if (used.size < PALETTE.length) {
      for (let d = 0; d < PALETTE.length; d++) {
        const c = (home + d) % PALETTE.length;
        if (!used.has(c)) { k = c; break; }
      }
    }
    slots.set(name, k);
    saveSlots();
  }
  return PALETTE[k % PALETTE.length];
}

export function debounce(fn, ms) {
  let t;
  return (...a) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...a), ms);
  };
}

/** Shows a short message at the bottom of the window. */
export function toast(msg) {
  const t = h('div', { class: 'toast', role: 'status' }, msg);
  document.body.append(t);
  setTimeout(() => t.remove(), 2200);
}

/** Saves text as a file. */
export function download(name, text, type = 'application/json') {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // no clipboard permission (plain http on another host): fall back to a hidden textarea
    const ta = h('textarea', { style: { position: 'fixed', opacity: '0' } });
    ta.value = text;
    document.body.append(ta);
    ta.select();
    const ok = document.execCommand('copy');
    ta.remove();
    return ok;
  }
}

/** Parses "100ms", "1.5s", "2m", "250us" into nanoseconds; null if empty; throws if malformed. */
export function parseDur(s) {
  s = (s || '').trim();
  if (!s) return null;
  const m = /^(\d+(?:\.\d+)?)\s*(ns|us|µs|ms|s|m|h)$/.exec(s);
  if (!m) throw new Error(`"${s}" is not a duration: write e.g. 250ms, 1.5s, 2m`);
  const mult = { ns: 1, us: 1e3, 'µs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 }[m[2]];
  return Number(m[1]) * mult;
}

/** Lookback presets, as Jaeger offers them. */
export const LOOKBACKS = [
  ['15m', 'Last 15 minutes', 15 * 60e3],
  ['1h', 'Last hour', 3600e3],
  ['3h', 'Last 3 hours', 3 * 3600e3],
  ['6h', 'Last 6 hours', 6 * 3600e3],
  ['12h', 'Last 12 hours', 12 * 3600e3],
  ['24h', 'Last 24 hours', 24 * 3600e3],
  ['2d', 'Last 2 days', 2 * 86400e3],
  ['7d', 'Last 7 days', 7 * 86400e3],
  ['all', 'All time', null],
  ['custom', 'Custom range…', null],
];

/** The [startMs, endMs] of a lookback or custom range; nulls when unbounded. */
export function timeRange(lookback, start, end, now = Date.now()) {
  if (lookback === 'custom') {
    const s = start ? Date.parse(start) : null;
    const e = end ? Date.parse(end) : null;
    return [Number.isNaN(s) ? null : s, Number.isNaN(e) ? null : e];
  }
  const lb = LOOKBACKS.find((l) => l[0] === lookback);
  if (!lb || lb[2] == null) return [null, null];
  return [now - lb[2], now];
}

/** Value for an <input type=datetime-local> from ms. */
export function toLocalInput(ms) {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** Abbreviated trace/span id for lists. */
export function shortId(id) {
  return id ? id.slice(0, 7) : '';
}

/** A chip with the service colour. */
export function serviceChip(name, extra) {
  return h('span', { class: 'pill', title: name }, h('span', { class: 'dot', style: { background: serviceColor(name) } }), name, extra ?? null);
}

/** Plural: plural(3, 'span') → '3 spans'. */
export function plural(n, word, many = `${word}s`) {
  return `${fmtInt(n)} ${n === 1 ? word : many}`;
}
