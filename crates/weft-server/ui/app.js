// Entry point: client-side routing over the History API (every view has its own URL), the
// theme toggle, global keys and the "go to trace" box.
import { h } from './util.js';
import { getText } from './api.js';

const view = document.getElementById('view');
let current = null;
let seq = 0;

/** Navigates inside the app (pushes a history entry unless replace). */
export function nav(url, replace = false) {
  const u = new URL(url, location.href);
  if (u.origin !== location.origin) { location.href = url; return; }
  const target = u.pathname + u.search + u.hash;
  if (replace) history.replaceState(null, '', target);
  else if (target !== location.pathname + location.search + location.hash) history.pushState(null, '', target);
  route();
}

async function route() {
  const my = ++seq;
  current?.destroy?.();
  current = null;
  const path = location.pathname.replace(/\/+$/, '') || '/';
  const params = new URLSearchParams(location.search);
  const active = path.startsWith('/trace') ? '' : path.split('/')[1] || 'search';
  for (const a of document.querySelectorAll('.mainnav a')) a.classList.toggle('active', a.dataset.view === active);
  let mounted;
  try {
    const tm = /^\/trace\/([^/]+)$/.exec(path);
    if (path === '/' || path === '/search') {
      document.title = 'Search · weft';
      const { mountSearch } = await import('./search.js');
      if (my !== seq) return;
      mounted = await mountSearch(view, params, nav);
    } else if (tm) {
      const id = decodeURIComponent(tm[1]).toLowerCase();
      document.title = `Trace ${id.slice(0, 8)} · weft`;
      // the request starts before the view's modules load: a large trace's wait hides them
      const ctl = new AbortController();
      const started = performance.now();
      const text = getText(`/api/v1/traces/${encodeURIComponent(id)}`, ctl.signal);
      text.catch(() => {}); // handled by the view
      const { mountTrace } = await import('./trace.js');
      if (my !== seq) { ctl.abort(); return; }
      mounted = await mountTrace(view, id, params, nav, { text, ctl, started });
    } else if (path === '/compare') {
      document.title = 'Compare · weft';
      const { mountCompare } = await import('./compare.js');
      if (my !== seq) return;
      mounted = await mountCompare(view, params, nav);
    } else if (path === '/map') {
      document.title = 'Service map · weft';
      const { mountMap } = await import('./map.js');
      if (my !== seq) return;
      mounted = await mountMap(view, params, nav);
    } else {
      view.replaceChildren(h('div', { class: 'page' }, h('div', { class: 'error-box' }, `No page at ${location.pathname}. `, h('a', { href: '/search', 'data-nav': true }, 'Search traces'))));
    }
  } catch (e) {
    view.replaceChildren(h('div', { class: 'page' }, h('div', { class: 'error-box' }, `This view failed: ${e.message}`)));
    console.error(e);
  }
  if (my !== seq) { mounted?.destroy?.(); return; }
  current = mounted ?? null;
}

// internal links: <a href="/..." data-nav>, and any same-origin link to an app page
document.addEventListener('click', (e) => {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = e.target.closest('a[href]');
  if (!a || a.target || a.hasAttribute('download')) return;
  const u = new URL(a.href, location.href);
  if (u.origin !== location.origin || u.pathname.startsWith('/api/')) return;
  e.preventDefault();
  nav(u.pathname + u.search);
});
window.addEventListener('popstate', route);

// theme: auto (follows the system) → light → dark
const THEMES = ['auto', 'light', 'dark'];
const themeBtn = document.getElementById('theme-toggle');
function applyTheme(t) {
  if (t === 'auto') document.documentElement.removeAttribute('data-theme');
  else document.documentElement.dataset.theme = t;
  themeBtn.textContent = { auto: '◐ auto', light: '☀ light', dark: '☾ dark' }[t];
  themeBtn.title = `Theme: ${t === 'auto' ? 'follows the system' : t} (click to change)`;
}
let theme = localStorage.getItem('weft-theme') ?? 'auto';
if (!THEMES.includes(theme)) theme = 'auto';
applyTheme(theme);
themeBtn.addEventListener('click', () => {
  theme = THEMES[(THEMES.indexOf(theme) + 1) % THEMES.length];
  localStorage.setItem('weft-theme', theme);
  applyTheme(theme);
  // canvases read colours when they draw
  window.dispatchEvent(new Event('resize'));
});

// go to trace
document.getElementById('jump-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const input = document.getElementById('jump-id');
  const id = input.value.trim().toLowerCase();
  if (!/^[0-9a-f]{1,32}$/.test(id)) {
    input.setCustomValidity('a trace id is up to 32 hex digits');
    input.reportValidity();
    return;
  }
  input.setCustomValidity('');
  input.value = '';
  nav(`/trace/${id.padStart(32, '0')}`);
});
document.getElementById('jump-id').addEventListener('input', (e) => e.target.setCustomValidity(''));

// help
const help = document.getElementById('help');
document.getElementById('help-toggle').addEventListener('click', () => { help.hidden = !help.hidden; });
document.getElementById('help-close').addEventListener('click', () => { help.hidden = true; });
help.addEventListener('click', (e) => { if (e.target === help) help.hidden = true; });

// global keys: inputs keep their keys (Esc leaves them)
document.addEventListener('keydown', (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  const t = e.target;
  const typing = t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement || t instanceof HTMLSelectElement || t?.isContentEditable;
  if (typing) {
    if (e.key === 'Escape') t.blur();
    return;
  }
  // Enter and Space on a focused control keep their own meaning (press the button, follow the link)
  if ((e.key === 'Enter' || e.key === ' ') && t?.closest?.('button, a[href], [role=tab], summary, .map-node, .scatter circle')) return;
  if (e.key === 'Escape' && !help.hidden) { help.hidden = true; e.preventDefault(); return; }
  if (e.key === '?') { help.hidden = !help.hidden; e.preventDefault(); return; }
  if (current?.onKey?.(e)) e.preventDefault();
});

route();
