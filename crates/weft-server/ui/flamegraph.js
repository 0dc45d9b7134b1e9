// The trace flamegraph (icicle): one row per depth, each span drawn at its real start and
// duration on a canvas. Only the depth rows in view are drawn; a span narrower than a pixel is
// drawn one pixel wide, so nothing disappears. Click selects, double-click zooms to a span.
import { h, fmtDur, serviceColor, esc } from './util.js';

const ROW = 18;

export class Flamegraph {
  constructor(m, { onSelect }) {
    this.m = m;
    this.onSelect = onSelect;
    this.vs = 0;
    this.ve = m.totalNs || 1;
    this.selected = -1;
    this.critical = null;
    // spans bucketed by depth, each bucket in preorder (by start within a parent)
    const counts = new Int32Array(m.maxDepth + 2);
    for (let i = 0; i < m.n; i++) counts[m.depth[i] + 1]++;
    for (let d = 1; d < counts.length; d++) counts[d] += counts[d - 1];
    this.levelStart = counts.slice();
    const fill = counts.slice();
    this.levels = new Int32Array(m.n);
    for (let p = 0; p < m.n; p++) {
      const i = m.order[p];
      this.levels[fill[m.depth[i]]++] = i;
    }
    this.canvas = h('canvas', { role: 'img', 'aria-label': 'flamegraph of the trace' });
    this.spacer = h('div', { style: { height: `${(m.maxDepth + 1) * ROW}px` } });
    this.scroll = h('div', { class: 'flame-scroll' }, this.canvas, this.spacer);
    this.tip = h('div', { class: 'flame-tip', hidden: true });
    this.info = h('span', null, 'Click a span to see it, double-click to zoom into it.');
    const reset = h('button', { type: 'button', class: 'ghost' }, 'Reset zoom');
    reset.onclick = () => this.zoom(0, this.m.totalNs);
    this.el = h('div', { class: 'flame' }, h('div', { class: 'flame-bar' }, this.info, reset), this.scroll, this.tip);
    this.scroll.addEventListener('scroll', () => this.schedule(), { passive: true });
    this.canvas.addEventListener('mousemove', (e) => this.hover(e));
    this.canvas.addEventListener('mouseleave', () => { this.tip.hidden = true; });
    this.canvas.addEventListener('click', (e) => {
      const i = this.hit(e);
      if (i >= 0) { this.selected = i; this.onSelect(i); this.draw(); }
    });
    this.canvas.addEventListener('dblclick', (e) => {
      const i = this.hit(e);
      if (i >= 0) this.zoom(this.m.start[i], this.m.end[i]);
    });
  }

  mount() {
    this.obs = new ResizeObserver(() => this.draw());
    this.obs.observe(this.scroll);
    this.draw();
  }

  destroy() { this.obs?.disconnect(); }

  schedule() {
    if (this.raf) return;
    this.raf = requestAnimationFrame(() => { this.raf = 0; this.draw(); });
  }

  zoom(a, b) {
    if (b - a <= 0) { a = 0; b = this.m.totalNs || 1; }
    this.vs = a;
    this.ve = b;
    this.draw();
  }

  select(i) { this.selected = i; this.draw(); }
  setCritical(c) { this.critical = c; this.draw(); }

  draw() {
    const m = this.m;
    const w = this.scroll.clientWidth;
    const vh = this.scroll.clientHeight;
    if (!w || !vh) return;
    const dpr = window.devicePixelRatio || 1;
    const c = this.canvas;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(vh * dpr)) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(vh * dpr);
      c.style.width = `${w}px`;
      c.style.height = `${vh}px`;
      c.style.marginBottom = `${-vh}px`;
    }
    const ctx = c.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const css = getComputedStyle(document.documentElement);
    ctx.fillStyle = css.getPropertyValue('--bg').trim() || '#fff';
    ctx.fillRect(0, 0, w, vh);
    const fg = css.getPropertyValue('--fg').trim() || '#000';
    const errC = css.getPropertyValue('--err').trim() || '#c00';
    const cpC = css.getPropertyValue('--cp').trim() || '#000';
    const st = this.scroll.scrollTop;
    const d0 = Math.max(0, Math.floor(st / ROW));
    const d1 = Math.min(m.maxDepth, Math.ceil((st + vh) / ROW));
    const span = this.ve - this.vs;
    const scale = w / span;
    ctx.font = '11px system-ui, sans-serif';
    ctx.textBaseline = 'middle';
    for (let d = d0; d <= d1; d++) {
      const y = d * ROW - st;
      let lastPx = -1; // the pixel column a sub-pixel span was last drawn in
      for (let k = this.levelStart[d]; k < this.levelStart[d + 1]; k++) {
        const i = this.levels[k];
        if (m.end[i] < this.vs || m.start[i] > this.ve) continue;
        const x = (m.start[i] - this.vs) * scale;
        const w0 = (m.end[i] - m.start[i]) * scale;
        // spans narrower than a pixel that land in the same column draw once (the column shows
        // that something is there; hovering it finds each span)
        if (w0 < 1 && i !== this.selected && !(m.error[i] || (this.critical && this.critical[i]))) {
          const px = Math.floor(x);
          if (px === lastPx) continue;
          lastPx = px;
        }
        const bw = Math.max(w0, 1);
        ctx.fillStyle = serviceColor(m.services[m.svc[i]]);
        ctx.fillRect(x, y + 1, bw, ROW - 2);
        if (m.error[i]) {
          ctx.strokeStyle = errC;
          ctx.lineWidth = 2;
          ctx.strokeRect(x + 1, y + 2, Math.max(bw - 2, 1), ROW - 4);
        }
        if (this.critical && this.critical[i]) {
          ctx.fillStyle = cpC;
          ctx.fillRect(x, y + ROW - 3, bw, 2);
        }
        if (i === this.selected) {
          ctx.strokeStyle = fg;
          ctx.lineWidth = 2;
          ctx.strokeRect(x, y + 1, bw, ROW - 2);
        }
        if (bw > 36) {
          const label = m.spans[i].name ?? '';
          const maxChars = Math.floor((bw - 6) / 6.2);
          const text = label.length > maxChars ? `${label.slice(0, Math.max(maxChars - 1, 1))}…` : label;
          ctx.fillStyle = '#111';
          ctx.fillText(text, Math.max(x, 0) + 3, y + ROW / 2);
        }
      }
    }
    this.canvas.dataset.drawn = String(Date.now());
  }

  /** Span under the mouse, or -1. */
  hit(e) {
    const m = this.m;
    const r = this.canvas.getBoundingClientRect();
    const d = Math.floor((e.clientY - r.top + this.scroll.scrollTop) / ROW);
    if (d < 0 || d > m.maxDepth) return -1;
    const t = this.vs + ((e.clientX - r.left) / r.width) * (this.ve - this.vs);
    const px = (this.ve - this.vs) / r.width; // one pixel in ns: thin spans stay clickable
    let best = -1;
    for (let k = this.levelStart[d]; k < this.levelStart[d + 1]; k++) {
      const i = this.levels[k];
      if (m.start[i] - px <= t && t <= m.end[i] + px) {
        best = i;
        if (m.start[i] <= t && t <= m.end[i]) break;
      }
    }
    return best;
  }

  hover(e) {
    const i = this.hit(e);
    if (i < 0) { this.tip.hidden = true; return; }
    const m = this.m;
    this.tip.innerHTML = `<b>${esc(m.services[m.svc[i]])}</b>: ${esc(m.spans[i].name)}<br>${fmtDur(m.end[i] - m.start[i])} at +${fmtDur(m.start[i])}${m.error[i] ? ' · <span class="badge-err">error</span>' : ''}`;
    this.tip.hidden = false;
    this.tip.style.left = `${Math.min(e.clientX + 12, window.innerWidth - 430)}px`;
    this.tip.style.top = `${e.clientY + 14}px`;
  }
}
