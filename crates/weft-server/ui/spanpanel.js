// The span detail panel: identity, timing and status; the GenAI (LLM) summary with prompt and
// response; every attribute with its OTLP type; events with their offset; links (navigable);
// resource and scope.
import { h, fmtDur, fmtTime, fmtInt, serviceChip, copyText, toast } from './util.js';
import { KIND_NAMES, kindOf, statusOf, attrValue, attrNum, isLlm, INPUT_TOKEN_KEYS, OUTPUT_TOKEN_KEYS, COST_KEYS } from './tracemodel.js';
import { eventOffset } from './waterfall.js';

const LONG = 600;

/** Type name of an OTLP/JSON AnyValue. */
export function valueType(v) {
  if (!v || typeof v !== 'object') return 'empty';
  if ('stringValue' in v) return 'string';
  if ('intValue' in v) return 'int';
  if ('doubleValue' in v) return 'double';
  if ('boolValue' in v) return 'bool';
  if ('bytesValue' in v) return 'bytes';
  if ('arrayValue' in v) return 'array';
  if ('kvlistValue' in v) return 'kvlist';
  return 'empty';
}

function b64ToHex(b64) {
  try {
    const s = atob(b64.replace(/-/g, '+').replace(/_/g, '/'));
    let out = '';
    for (let i = 0; i < s.length; i++) out += (i ? ' ' : '') + s.charCodeAt(i).toString(16).padStart(2, '0');
    return { hex: out, len: s.length };
  } catch {
    return { hex: `(not base64: ${b64})`, len: 0 };
  }
}

/** A long string shows its first LONG characters and a button revealing the rest (never cut silently). */
function longText(s) {
  if (s.length <= LONG) return h('span', { class: 'v v-string' }, s);
  const el = h('span', { class: 'v v-string' }, s.slice(0, LONG), '…');
  const more = h('button', { class: 'ghost more', type: 'button' }, `show all ${fmtInt(s.length)} characters`);
  more.onclick = () => { el.textContent = s; more.remove(); };
  return h('span', null, el, more);
}

/** Renders a typed value: a type badge and the value in the form of its type. */
export function renderValue(v, withBadge = true) {
  const t = valueType(v);
  const badge = withBadge ? h('span', { class: `t t-${t}`, title: `${t} value` }, t) : null;
  let body;
  switch (t) {
    case 'string': body = longText(v.stringValue); break;
    case 'int': body = h('span', { class: 'v v-int' }, String(v.intValue)); break;
    case 'double': body = h('span', { class: 'v v-double' }, String(v.doubleValue)); break;
    case 'bool': body = h('span', { class: 'v v-bool' }, String(v.boolValue)); break;
    case 'bytes': {
      const { hex, len } = b64ToHex(v.bytesValue ?? '');
      body = h('span', { class: 'v v-bytes', title: `base64: ${v.bytesValue}` }, hex, h('span', { class: 'muted' }, ` (${len} bytes)`));
      break;
    }
    case 'array': {
      const vals = v.arrayValue?.values ?? [];
      body = h('ol', { class: 'v v-array', start: '0' }, vals.length ? vals.map((x) => h('li', null, renderValue(x))) : h('li', { class: 'v-empty' }, 'empty array'));
      break;
    }
    case 'kvlist': {
      const vals = v.kvlistValue?.values ?? [];
      body = h('ul', { class: 'v v-kvlist' }, vals.length ? vals.map((kv) => h('li', null, h('span', { class: 'k' }, kv.key), renderValue(kv.value))) : h('li', { class: 'v-empty' }, 'empty list'));
      break;
    }
    default: body = h('span', { class: 'v v-empty' }, 'empty');
  }
  return h('span', { class: 'tv', dataset: { type: t } }, badge, body);
}

/** A table of attributes, keys sorted. */
export function attrTable(attrs, dropped) {
  const list = [...(attrs ?? [])].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  if (!list.length && !dropped) return h('p', { class: 'muted' }, 'none');
  return h('div', null,
    h('table', { class: 'attrs' }, h('tbody', null, list.map((kv) =>
      h('tr', { dataset: { key: kv.key, type: valueType(kv.value) } }, h('td', null, kv.key), h('td', null, renderValue(kv.value)))))),
    dropped ? h('p', { class: 'muted' }, `${fmtInt(dropped)} attributes were dropped by the sender`) : null);
}

function str(v) {
  if (!v) return undefined;
  if ('stringValue' in v) return v.stringValue;
  return undefined;
}

/** GenAI messages (JSON string attribute) → [{role, text}] in the order sent. */
export function parseMessages(raw) {
  if (raw == null) return null;
  let data = raw;
  if (typeof raw === 'string') {
    try { data = JSON.parse(raw); } catch { return [{ role: 'text', text: raw }]; }
  }
  if (!Array.isArray(data)) data = [data];
  return data.map((m) => {
    if (typeof m === 'string') return { role: 'text', text: m };
    const role = m.role ?? m.type ?? 'message';
    let text;
    if (Array.isArray(m.parts)) {
      text = m.parts.map((p) => {
        if (p.type === 'text' || p.content != null) return typeof p.content === 'string' ? p.content : JSON.stringify(p.content, null, 2);
        if (p.type === 'tool_call') return `→ tool call ${p.name ?? ''}(${JSON.stringify(p.arguments ?? {})})`;
        if (p.type === 'tool_call_response') return `← tool result: ${typeof p.response === 'string' ? p.response : JSON.stringify(p.response)}`;
        return JSON.stringify(p, null, 2);
      }).join('\n');
    } else if (typeof m.content === 'string') text = m.content;
    else if (Array.isArray(m.content)) text = m.content.map((c) => (typeof c === 'string' ? c : c.text ?? JSON.stringify(c))).join('\n');
    else if (m.content != null) text = JSON.stringify(m.content, null, 2);
    else text = JSON.stringify(m, null, 2);
    const extra = m.finish_reason ? ` (finish: ${m.finish_reason})` : '';
    return { role: String(role), text: text + extra };
  });
}

function messagesView(msgs, label) {
  return h('div', { class: 'msgs', dataset: { llm: label } }, msgs.map((m) =>
    h('div', { class: `msg role-${m.role.toLowerCase()}` }, h('span', { class: 'role' }, m.role), m.text)));
}

/** The GenAI summary of a span, or null when it has no gen_ai.* / llm.* attributes. */
export function llmBox(sp) {
  if (!isLlm(sp)) return null;
  const a = sp.attributes;
  const s = (k) => str(attrValue(a, k));
  const inT = attrNum(a, ...INPUT_TOKEN_KEYS);
  const outT = attrNum(a, ...OUTPUT_TOKEN_KEYS);
  const cost = attrNum(a, ...COST_KEYS);
  const model = s('gen_ai.response.model') ?? s('gen_ai.request.model') ?? s('llm.model_name');
  const reqModel = s('gen_ai.request.model');
  const provider = s('gen_ai.provider.name') ?? s('gen_ai.system') ?? s('llm.provider');
  const op = s('gen_ai.operation.name');
  const fact = (label, value, key) => value == null ? null : h('span', { dataset: { llmFact: key } }, `${label} `, h('b', null, value));
  const facts = h('div', { class: 'llm-facts' },
    fact('operation', op, 'operation'),
    fact('provider', provider, 'provider'),
    fact('model', model, 'model'),
    reqModel && reqModel !== model ? fact('requested', reqModel, 'request-model') : null,
    fact('input tokens', inT == null ? null : fmtInt(inT), 'input-tokens'),
    fact('output tokens', outT == null ? null : fmtInt(outT), 'output-tokens'),
    inT != null || outT != null ? fact('total', fmtInt((inT ?? 0) + (outT ?? 0)), 'total-tokens') : null,
    fact('cost', cost == null ? null : `$${cost < 0.01 ? cost.toPrecision(3) : cost.toFixed(4)}`, 'cost'),
    fact('agent', s('gen_ai.agent.name'), 'agent'),
    fact('tool', s('gen_ai.tool.name'), 'tool'));
  const box = h('div', { class: 'llm-box', dataset: { llm: 'true' } }, h('h3', { style: { marginTop: '0' } }, 'LLM call'), facts);
  const sys = attrValue(a, 'gen_ai.system_instructions');
  const input = attrValue(a, 'gen_ai.input.messages') ?? attrValue(a, 'gen_ai.prompt') ?? attrValue(a, 'llm.input_messages');
  const output = attrValue(a, 'gen_ai.output.messages') ?? attrValue(a, 'gen_ai.completion') ?? attrValue(a, 'llm.output_messages');
  // older conventions put the messages in events (gen_ai.user.message, gen_ai.choice, ...)
  const evIn = [], evOut = [];
  for (const ev of sp.events ?? []) {
    if (!ev.name?.startsWith('gen_ai.')) continue;
    const content = str(attrValue(ev.attributes, 'content')) ?? str(attrValue(ev.attributes, 'gen_ai.prompt')) ?? str(attrValue(ev.attributes, 'gen_ai.completion'));
    if (content == null) continue;
    const role = ev.name.replace(/^gen_ai\./, '').replace(/\.message$/, '');
    (ev.name === 'gen_ai.choice' || ev.name === 'gen_ai.content.completion' ? evOut : evIn).push({ role, text: content });
  }
  const asText = (v) => (v == null ? null : str(v) ?? JSON.stringify(v));
  if (sys) box.append(h('h3', null, 'System instructions'), messagesView(parseMessages(asText(sys)), 'system'));
  if (input || evIn.length) box.append(h('h3', null, 'Prompt'), messagesView(input ? parseMessages(asText(input)) : evIn, 'prompt'));
  if (output || evOut.length) box.append(h('h3', null, 'Response'), messagesView(output ? parseMessages(asText(output)) : evOut, 'response'));
  if (!input && !output && !evIn.length && !evOut.length) box.append(h('p', { class: 'muted' }, 'Prompt and response were not captured (weft records them only with capture turned on).'));
  return box;
}

const STATUS = ['unset', 'ok', 'error'];

/**
 * Fills `panel` with span i of model m. `analysis` (may be null) adds self time and critical
 * path facts; `onSelectSpan(j)` selects another span of the same trace.
 */
export function renderPanel(panel, m, i, analysis, { onClose, onSelectSpan }) {
  const sp = m.spans[i];
  const svc = m.services[m.svc[i]];
  const dur = m.end[i] - m.start[i];
  const st = statusOf(sp);
  const res = m.resources[m.resOf[i]];
  const sc = m.scopes[m.scopeOf[i]];
  const a = analysis?.spans?.[m.ids[i]];
  const close = h('button', { class: 'ghost', type: 'button', title: 'Close (Esc)', 'aria-label': 'close' }, '✕');
  close.onclick = onClose;
  const copyBtn = h('button', { type: 'button', title: 'Copy this span as OTLP/JSON' }, 'Copy JSON');
  copyBtn.onclick = async () => toast((await copyText(JSON.stringify(sp, null, 2))) ? 'span JSON copied' : 'copy failed');
  const parentIdx = m.parent[i];
  const parentLink = sp.parentSpanId
    ? (parentIdx >= 0
      ? h('a', { href: '#', onclick: (e) => { e.preventDefault(); onSelectSpan(parentIdx); } }, sp.parentSpanId)
      : h('span', null, sp.parentSpanId, h('span', { class: 'muted' }, ' (not in this trace)')))
    : h('span', { class: 'muted' }, 'none (root)');

  const facts = h('dl', { class: 'facts' },
    h('dt', null, 'Service'), h('dd', null, serviceChip(svc)),
    h('dt', null, 'Duration'), h('dd', { dataset: { fact: 'duration' } }, fmtDur(dur)),
    h('dt', null, 'Start'), h('dd', null, `+${fmtDur(m.start[i])} · ${fmtTime(m.t0Ms + m.start[i] / 1e6)}`),
    a ? [h('dt', null, 'Self time'), h('dd', { dataset: { fact: 'self' } }, fmtDur(Number(a.selfTimeNanos)))] : null,
    a?.onCriticalPath ? [h('dt', null, 'Critical path'), h('dd', { dataset: { fact: 'critical' } }, 'on the critical path')] : null,
    h('dt', null, 'Kind'), h('dd', null, KIND_NAMES[kindOf(sp)] ?? String(sp.kind)),
    h('dt', null, 'Status'), h('dd', { class: st === 2 ? 'status-err' : st === 1 ? 'status-ok' : '' }, STATUS[st] ?? String(st), sp.status?.message ? `: ${sp.status.message}` : ''),
    h('dt', null, 'Span id'), h('dd', { class: 'mono' }, sp.spanId),
    h('dt', null, 'Parent'), h('dd', { class: 'mono' }, parentLink),
    sp.traceState ? [h('dt', null, 'Trace state'), h('dd', { class: 'mono' }, sp.traceState)] : null,
    sp.flags ? [h('dt', null, 'Flags'), h('dd', { class: 'mono' }, `0x${Number(sp.flags).toString(16)}`)] : null,
    m.missingParent[i] ? [h('dt', null, 'Note'), h('dd', null, 'its parent span is not in this trace (orphan)')] : null,
  );

  const events = sp.events ?? [];
  const evList = h('div', { class: 'events' }, events.length ? events.map((ev) => {
    const off = eventOffset(m, i, ev);
    return h('div', { class: 'ev-item' },
      h('div', { class: 'ev-head' }, h('b', null, ev.name || '(unnamed)'), h('span', { class: 'off', dataset: { offset: off ?? '' } }, off == null ? '' : `+${fmtDur(off)}`)),
      ev.attributes?.length || ev.droppedAttributesCount ? attrTable(ev.attributes, ev.droppedAttributesCount) : null);
  }) : h('p', { class: 'muted' }, 'none'));
  if (sp.droppedEventsCount) evList.append(h('p', { class: 'muted' }, `${fmtInt(sp.droppedEventsCount)} events were dropped by the sender`));

  const links = sp.links ?? [];
  const linkList = h('div', { class: 'links' }, links.length ? links.map((l) => {
    const same = l.traceId === m.traceId;
    const href = `/trace/${l.traceId}?span=${l.spanId}`;
    const a2 = h('a', { href, 'data-nav': true, class: 'mono', dataset: { linkTrace: l.traceId, linkSpan: l.spanId } }, `${same ? 'this trace' : l.traceId} · span ${l.spanId}`);
    if (same) {
      a2.addEventListener('click', (e) => {
        const j = m.idIndex.get(l.spanId);
        if (j !== undefined) { e.preventDefault(); e.stopPropagation(); onSelectSpan(j); }
      });
    }
    return h('div', { class: 'link-item' },
      h('div', { class: 'link-head' }, a2, l.traceState ? h('span', { class: 'muted mono' }, `state ${l.traceState}`) : null),
      l.attributes?.length || l.droppedAttributesCount ? attrTable(l.attributes, l.droppedAttributesCount) : null);
  }) : h('p', { class: 'muted' }, 'none'));
  if (sp.droppedLinksCount) linkList.append(h('p', { class: 'muted' }, `${fmtInt(sp.droppedLinksCount)} links were dropped by the sender`));

  const scope = sc.scope;
  panel.replaceChildren(...[
    h('div', { class: 'panel-head' }, h('h2', { dataset: { spanName: sp.name } }, sp.name || '(unnamed span)'), copyBtn, close),
    facts,
    llmBox(sp),
    h('h3', null, `Attributes (${(sp.attributes ?? []).length})`), h('section', { dataset: { section: 'attributes' } }, attrTable(sp.attributes, sp.droppedAttributesCount)),
    h('h3', null, `Events (${events.length})`), evList,
    h('h3', null, `Links (${links.length})`), linkList,
    h('h3', null, 'Resource'), h('section', { dataset: { section: 'resource' } }, attrTable(res.resource.attributes, res.resource.droppedAttributesCount),
      res.schemaUrl ? h('p', { class: 'muted' }, `schema ${res.schemaUrl}`) : null),
    h('h3', null, 'Instrumentation scope'), h('section', { dataset: { section: 'scope' } },
      h('p', null, h('b', null, scope.name || '(unnamed)'), scope.version ? ` ${scope.version}` : ''),
      scope.attributes?.length ? attrTable(scope.attributes, scope.droppedAttributesCount) : null,
      sc.schemaUrl ? h('p', { class: 'muted' }, `schema ${sc.schemaUrl}`) : null),
  ].filter(Boolean));
  panel.hidden = false;
  panel.dataset.spanId = m.ids[i];
}
