// A trace (OTLP/JSON TracesData) parsed once into flat arrays indexed by span: times relative to
// the trace start, parent index, depth, preorder position, subtree extent. Building it is
// O(n log n) (one sort by start); nothing is O(n²), so 100,000 spans take tens of milliseconds.
//
// Duplicate span ids keep both spans (the first one is the parent of children naming the id);
// a span whose parent is not in the trace is a root marked `missingParent`; spans in a parent
// cycle are broken out as roots, so every span appears exactly once in `order`.

export const KIND_NAMES = ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'];
const KIND_BY_NAME = {
  SPAN_KIND_UNSPECIFIED: 0, SPAN_KIND_INTERNAL: 1, SPAN_KIND_SERVER: 2, SPAN_KIND_CLIENT: 3,
  SPAN_KIND_PRODUCER: 4, SPAN_KIND_CONSUMER: 5,
};

/** Span kind number from OTLP/JSON (number or enum name). */
export function kindOf(span) {
  const k = span.kind;
  if (k == null) return 0;
  return typeof k === 'number' ? k : (KIND_BY_NAME[k] ?? 0);
}

/** Status code: 0 unset, 1 ok, 2 error. */
export function statusOf(span) {
  const c = span.status?.code;
  if (c == null) return 0;
  if (typeof c === 'number') return c;
  return c === 'STATUS_CODE_ERROR' ? 2 : c === 'STATUS_CODE_OK' ? 1 : 0;
}

/** A string attribute's value from an OTLP attribute list. */
export function attrStr(attrs, key) {
  if (!attrs) return undefined;
  for (const a of attrs) {
    if (a.key === key) {
      const v = a.value;
      if (!v) return undefined;
      if ('stringValue' in v) return v.stringValue;
      if ('intValue' in v) return String(v.intValue);
      if ('doubleValue' in v) return String(v.doubleValue);
      if ('boolValue' in v) return String(v.boolValue);
      return undefined;
    }
  }
  return undefined;
}

/** The attribute value object (OTLP AnyValue) for key, or undefined. */
export function attrValue(attrs, key) {
  if (!attrs) return undefined;
  for (const a of attrs) if (a.key === key) return a.value ?? {};
  return undefined;
}

/**
 * Splits a unix-nano decimal string into seconds and nanoseconds (both exact in a double),
 * writing them to out[0], out[1]. Digit by digit: no substrings, no allocation.
 */
function splitNs(v, out) {
  if (v == null) { out[0] = 0; out[1] = 0; return; }
  const s = typeof v === 'string' ? v : String(Math.trunc(v));
  const n = s.length;
  const cut = n - 9;
  let hi = 0, lo = 0;
  for (let k = 0; k < cut; k++) hi = hi * 10 + (s.charCodeAt(k) - 48);
  for (let k = cut < 0 ? 0 : cut; k < n; k++) lo = lo * 10 + (s.charCodeAt(k) - 48);
  out[0] = hi;
  out[1] = lo;
}

/** Parses OTLP/JSON text (or an already parsed object) into a trace model. */
export function parseTrace(input) {
  const doc = typeof input === 'string' ? JSON.parse(input) : input;
  const rsList = doc.resourceSpans ?? doc.resource_spans ?? [];

  // 1. flatten: span objects, their resource and scope, service of each resource
  const spans = [];
  const resOf = [];
  const scopeOf = [];
  const resources = [];
  const scopes = [];
  const serviceIds = new Map();
  const services = [];
  const svcOfRes = [];
  for (const rs of rsList) {
    const resource = rs.resource ?? {};
    const ri = resources.length;
    resources.push({ resource, schemaUrl: rs.schemaUrl ?? '' });
    const svc = attrStr(resource.attributes, 'service.name') ?? 'unknown_service';
    let si = serviceIds.get(svc);
    if (si === undefined) {
      si = services.length;
      services.push(svc);
      serviceIds.set(svc, si);
    }
    svcOfRes.push(si);
    for (const ss of rs.scopeSpans ?? rs.scope_spans ?? []) {
      const sci = scopes.length;
      scopes.push({ scope: ss.scope ?? {}, schemaUrl: ss.schemaUrl ?? '' });
      for (const sp of ss.spans ?? []) {
        spans.push(sp);
        resOf.push(ri);
        scopeOf.push(sci);
      }
    }
  }
  const n = spans.length;

  // 2. times relative to the earliest start, exact to the nanosecond
  const sSec = new Float64Array(n);
  const sNs = new Float64Array(n);
  const eSec = new Float64Array(n);
  const eNs = new Float64Array(n);
  let baseSec = Infinity;
  const parts = [0, 0];
  for (let i = 0; i < n; i++) {
    const sp = spans[i];
    splitNs(sp.startTimeUnixNano ?? sp.start_time_unix_nano, parts);
    sSec[i] = parts[0]; sNs[i] = parts[1];
    splitNs(sp.endTimeUnixNano ?? sp.end_time_unix_nano, parts);
    eSec[i] = parts[0]; eNs[i] = parts[1];
    if (sSec[i] < baseSec) baseSec = sSec[i];
  }
  if (!Number.isFinite(baseSec)) baseSec = 0;
  const start = new Float64Array(n);
  const end = new Float64Array(n);
  let minStart = Infinity;
  let maxEnd = -Infinity;
  for (let i = 0; i < n; i++) {
    const s = (sSec[i] - baseSec) * 1e9 + sNs[i];
    let e = (eSec[i] - baseSec) * 1e9 + eNs[i];
    if (e < s) e = s; // an end before the start is shown as a zero-length span
    start[i] = s;
    end[i] = e;
    if (s < minStart) minStart = s;
    if (e > maxEnd) maxEnd = e;
  }
  if (n === 0) { minStart = 0; maxEnd = 0; }
  for (let i = 0; i < n; i++) {
    start[i] -= minStart;
    end[i] -= minStart;
  }
  const totalNs = maxEnd - minStart;
  // absolute start of the trace in ms since the epoch (for display)
  const t0Ms = baseSec * 1e3 + minStart / 1e6;

  // 3. ids, services, errors
  const ids = new Array(n);
  const idIndex = new Map();
  const svc = new Int32Array(n);
  const error = new Uint8Array(n);
  let errorCount = 0;
  for (let i = 0; i < n; i++) {
    const sp = spans[i];
    const id = sp.spanId ?? sp.span_id ?? '';
    ids[i] = id;
    if (idIndex.get(id) === undefined) idIndex.set(id, i);
    svc[i] = svcOfRes[resOf[i]];
    if (statusOf(sp) === 2) { error[i] = 1; errorCount++; }
  }

  // 4. parents
  const parent = new Int32Array(n).fill(-1);
  const missingParent = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const sp = spans[i];
    const p = sp.parentSpanId ?? sp.parent_span_id;
    if (!p || p === '0000000000000000') continue; // absent, or all-zero: a root
    const j = idIndex.get(p);
    if (j === undefined) missingParent[i] = 1;
    else if (j !== i) parent[i] = j;
  }

  // 5. children in start order: one global sort, then bucket by parent (stable)
  const byStart = new Int32Array(n);
  for (let i = 0; i < n; i++) byStart[i] = i;
  byStart.sort((a, b) => start[a] - start[b] || a - b);
  const childCount = new Int32Array(n);
  for (let i = 0; i < n; i++) if (parent[i] >= 0) childCount[parent[i]]++;
  const childStart = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) childStart[i + 1] = childStart[i] + childCount[i];
  const fill = childStart.slice(0, n);
  const children = new Int32Array(Math.max(childStart[n], 1));
  const roots = [];
  for (let k = 0; k < n; k++) {
    const i = byStart[k];
    const p = parent[i];
    if (p >= 0) children[fill[p]++] = i;
    else roots.push(i);
  }
  // true roots (no parent id at all) first, then spans whose parent is missing; each by start
  roots.sort((a, b) => missingParent[a] - missingParent[b] || start[a] - start[b] || a - b);

  // 6. preorder with an explicit stack; then break cycles (spans never reached from a root)
  const order = new Int32Array(n);
  const depth = new Int32Array(n);
  const visited = new Uint8Array(n);
  let pos = 0;
  let maxDepth = 0;
  const stack = [];
  const walk = (r) => {
    stack.push(r);
    depth[r] = 0;
    while (stack.length) {
      const i = stack.pop();
      if (visited[i]) continue;
      visited[i] = 1;
      order[pos++] = i;
      const d = depth[i];
      if (d > maxDepth) maxDepth = d;
      for (let c = childStart[i + 1] - 1; c >= childStart[i]; c--) {
        const ch = children[c];
        if (!visited[ch]) {
          depth[ch] = d + 1;
          stack.push(ch);
        }
      }
    }
  };
  for (const r of roots) walk(r);
  let cycles = 0;
  if (pos < n) {
    for (let k = 0; k < n; k++) {
      const i = byStart[k];
      if (!visited[i]) {
        cycles++;
        parent[i] = -1;
        missingParent[i] = 1;
        roots.push(i);
        walk(i);
      }
    }
  }

  // 7. positions and subtree extents (in preorder, a subtree is contiguous)
  const posOf = new Int32Array(n);
  for (let p = 0; p < n; p++) posOf[order[p]] = p;
  const size = new Int32Array(n).fill(1);
  for (let p = n - 1; p >= 0; p--) {
    const i = order[p];
    const par = parent[i];
    // only count edges the walk followed (a cycle-broken child has parent -1 now)
    if (par >= 0 && posOf[par] < p) size[par] += size[i];
  }
  const hasChildren = new Uint8Array(n);
  for (let i = 0; i < n; i++) if (size[i] > 1) hasChildren[i] = 1;

  const orphans = [];
  for (let i = 0; i < n; i++) if (missingParent[i]) orphans.push(i);

  return {
    n, spans, ids, idIndex, resOf, scopeOf, resources, scopes, services, svc, start, end,
    totalNs, t0Ms, error, errorCount, parent, missingParent, orphans, cycles, childStart,
    children, roots, order, posOf, size, depth, maxDepth, hasChildren,
    traceId: n ? (spans[0].traceId ?? spans[0].trace_id ?? '') : '',
    rootIndex: roots.length ? roots[0] : -1,
  };
}

/** Name of span i. */
export function spanName(m, i) {
  return m.spans[i].name ?? '';
}

/** Whether a span carries GenAI (LLM) attributes. */
export function isLlm(span) {
  const a = span.attributes;
  if (!a) return false;
  for (const kv of a) if (kv.key.startsWith('gen_ai.') || kv.key.startsWith('llm.')) return true;
  return false;
}

const num = (v) => {
  if (!v) return null;
  if ('intValue' in v) return Number(v.intValue);
  if ('doubleValue' in v) return Number(v.doubleValue);
  if ('stringValue' in v && v.stringValue.trim() !== '' && !Number.isNaN(Number(v.stringValue))) return Number(v.stringValue);
  return null;
};

/** The first numeric attribute among keys. */
export function attrNum(attrs, ...keys) {
  for (const k of keys) {
    const x = num(attrValue(attrs, k));
    if (x != null) return x;
  }
  return null;
}

export const INPUT_TOKEN_KEYS = ['gen_ai.usage.input_tokens', 'gen_ai.usage.prompt_tokens', 'llm.token_count.prompt'];
export const OUTPUT_TOKEN_KEYS = ['gen_ai.usage.output_tokens', 'gen_ai.usage.completion_tokens', 'llm.token_count.completion'];
export const COST_KEYS = ['weft.gen_ai.cost_usd', 'gen_ai.usage.cost', 'gen_ai.usage.cost_usd', 'llm.usage.cost'];

/** Totals of tokens and cost over the trace's LLM spans. */
export function llmTotals(m) {
  let spans = 0, input = 0, output = 0, cost = 0, costKnown = 0;
  for (let i = 0; i < m.n; i++) {
    const a = m.spans[i].attributes;
    if (!a || !isLlm(m.spans[i])) continue;
    spans++;
    input += attrNum(a, ...INPUT_TOKEN_KEYS) ?? 0;
    output += attrNum(a, ...OUTPUT_TOKEN_KEYS) ?? 0;
    const c = attrNum(a, ...COST_KEYS);
    if (c != null) { cost += c; costKnown++; }
  }
  return { spans, input, output, cost, costKnown };
}
