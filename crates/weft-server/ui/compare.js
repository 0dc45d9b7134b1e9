// The compare view (/compare?a=<id>&b=<id>): two traces side by side, operation path by
// operation path, from /api/v1/compare: added, missing, slower, faster and same rows with
// their durations and deltas.
import { h, fmtDur, fmtDelta, fmtTime, nsNum, nsToMs, plural, serviceColor } from './util.js';
import { getJson, qs, errorView } from './api.js';

const STATUSES = ['added', 'missing', 'slower', 'faster', 'same'];

export async function mountCompare(root, params, nav) {
  const a = h('input', { placeholder: 'trace id A (baseline)', spellcheck: 'false', 'aria-label': 'trace A', value: params.get('a') ?? '' });
  const b = h('input', { placeholder: 'trace id B', spellcheck: 'false', 'aria-label': 'trace B', value: params.get('b') ?? '' });
  const swap = h('button', { type: 'button', title: 'Swap A and B' }, '⇄');
  swap.onclick = () => { [a.value, b.value] = [b.value, a.value]; };
  const form = h('form', { class: 'compare-form' },
    h('label', { class: 'field' }, 'A (baseline)', a), swap, h('label', { class: 'field' }, 'B', b),
    h('button', { class: 'primary', type: 'submit' }, 'Compare'));
  const out = h('div', { class: 'cmp-out', 'aria-live': 'polite' });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    nav(`/compare${qs({ a: a.value.trim(), b: b.value.trim() })}`);
  });
  root.replaceChildren(h('div', { class: 'page' }, h('h1', { style: { marginBottom: '10px' } }, 'Compare traces'), form, out));
  const ctl = new AbortController();
  const ida = params.get('a'), idb = params.get('b');
  if (!ida || !idb) {
    out.append(h('p', { class: 'muted' }, 'Enter two trace ids, or tick two traces in the search results and press Compare.'));
    return { destroy() {} };
  }
  out.append(h('div', { class: 'loading' }, 'Comparing…'));
  try {
    const [cmp, sa, sb] = await Promise.all([
      getJson(`/api/v1/compare${qs({ a: ida, b: idb })}`, ctl.signal),
      summary(ida, ctl.signal),
      summary(idb, ctl.signal),
    ]);
    out.replaceChildren(...render(cmp, sa, sb, ida, idb));
    out.dataset.state = 'done';
  } catch (e) {
    if (e.name !== 'AbortError') {
      out.replaceChildren(errorView(e, 'Comparing traces'));
      out.dataset.state = 'error';
    }
  }
  return { destroy() { ctl.abort(); } };
}

/** Span count, root, start and duration of a trace (null when it cannot be loaded). */
async function summary(id, signal) {
  try {
    const doc = await getJson(`/api/v1/traces/${encodeURIComponent(id)}`, signal);
    let min = null, max = null, root = null, n = 0;
    for (const rs of doc.resourceSpans ?? []) {
      const svc = (rs.resource?.attributes ?? []).find((a) => a.key === 'service.name')?.value?.stringValue ?? 'unknown_service';
      for (const ss of rs.scopeSpans ?? []) {
        for (const sp of ss.spans ?? []) {
          n++;
          const s = nsToMs(sp.startTimeUnixNano), e = nsToMs(sp.endTimeUnixNano);
          if (min == null || s < min) min = s;
          if (max == null || e > max) max = e;
          if (!sp.parentSpanId && !root) root = { svc, name: sp.name };
        }
      }
    }
    return { n, start: min, durMs: max - min, root };
  } catch {
    return null;
  }
}

function side(label, id, s) {
  return h('div', { class: 'cmp-side', dataset: { side: label } },
    h('div', null, h('b', null, `${label}: `), h('a', { href: `/trace/${id}`, 'data-nav': true, class: 'mono' }, id)),
    s ? h('div', { class: 'muted' }, s.root ? `${s.root.svc}: ${s.root.name} · ` : '', `${plural(s.n, 'span')} · ${fmtDur(s.durMs * 1e6)} · ${fmtTime(s.start)}`) : null);
}

function render(cmp, sa, sb, ida, idb) {
  const rows = cmp.rows ?? [];
  const sum = cmp.summary ?? {};
  const shown = new Set(['added', 'missing', 'slower', 'faster']);
  const table = h('table', { class: 'cmp-table' });
  const boxes = STATUSES.map((st) => {
    const cb = h('input', { type: 'checkbox', checked: shown.has(st), dataset: { filter: st } });
    cb.onchange = () => { if (cb.checked) shown.add(st); else shown.delete(st); draw(); };
    return h('label', null, cb, h('span', { class: `st st-${st}` }, st), ` ${sum[st] ?? rows.filter((r) => r.status === st).length}`);
  });
  const pathView = (p) => {
    // segments are service:name joined by "/"; a name may contain "/" itself ("GET /x"), so
    // split only where the next segment starts with "service:"
    const parts = String(p ?? '').split(/\/(?=[^/:\s]+:)/);
    const out = [];
    parts.forEach((seg, k) => {
      if (k) out.push(h('span', { class: 'sep' }, ' / '));
      const svc = seg.split(':')[0];
      out.push(h('span', { style: { borderBottom: `2px solid ${serviceColor(svc)}` } }, seg));
    });
    return h('span', { class: 'path', title: p }, out);
  };
  const spanLink = (id, spanId, dur) => (spanId
    ? h('a', { href: `/trace/${id}?span=${spanId}`, 'data-nav': true }, fmtDur(nsNum(dur)))
    : h('span', { class: 'muted' }, '—'));
  const PAGE = 1000;
  let limit = PAGE;
  const draw = () => {
    const all = rows.filter((r) => shown.has(r.status));
    const visible = all.slice(0, limit);
    const more = all.length - visible.length;
    table.replaceChildren(
      h('thead', null, h('tr', null, h('th', null, 'Status'), h('th', null, 'Operation path'), h('th', { class: 'num' }, 'A'), h('th', { class: 'num' }, 'B'), h('th', { class: 'num' }, 'Δ (B − A)'))),
      h('tbody', null, visible.length ? visible.map((r) => {
        const d = nsNum(r.deltaNanos);
        return h('tr', { class: `cmp-${r.status}`, dataset: { status: r.status, path: r.path } },
          h('td', null, h('span', { class: `st st-${r.status}` }, r.status)),
          h('td', null, pathView(r.path)),
          h('td', { class: 'num' }, spanLink(ida, r.aSpanId, r.aDurationNanos)),
          h('td', { class: 'num' }, spanLink(idb, r.bSpanId, r.bDurationNanos)),
          h('td', { class: `num ${d > 0 ? 'delta-pos' : d < 0 ? 'delta-neg' : ''}` }, d == null ? '—' : fmtDelta(d)));
      }) : h('tr', null, h('td', { colspan: 5, class: 'muted' }, 'no rows with the ticked statuses'))),
      more > 0 ? h('tfoot', null, h('tr', null, h('td', { colspan: 5, class: 'muted', dataset: { more } },
        `showing ${visible.length} of ${all.length} rows `,
        h('button', { type: 'button', onclick: () => { limit += PAGE; draw(); } }, 'show more'), ' ',
        h('button', { type: 'button', onclick: () => { limit = Infinity; draw(); } }, 'show all')))) : null);
  };
  draw();
  return [
    h('div', { class: 'cmp-sides' }, side('A', ida, sa), side('B', idb, sb)),
    h('div', { class: 'cmp-summary', dataset: { summary: JSON.stringify(sum) } }, boxes),
    table,
  ];
}
