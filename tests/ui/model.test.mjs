// Unit tests of the UI's pure modules (no browser): the trace model, formatting, tag parsing,
// GenAI message parsing and the service map layout. Run with `node --test` (the Rust test
// crates/weft-cli/tests/ui.rs runs them with the browser tests).
import { test } from 'node:test';
import assert from 'node:assert/strict';

const ui = (f) => new URL(`../../crates/weft-server/ui/${f}`, import.meta.url).href;
const { parseTrace } = await import(ui('tracemodel.js'));
const { fmtDur, nsToMs } = await import(ui('util.js'));
const { parseTags } = await import(ui('search.js'));
const { parseMessages, valueType } = await import(ui('spanpanel.js'));
const { layout } = await import(ui('map.js'));

const T0 = 1_700_000_000_000_000_000n;
/** A span: [id, parent, name, startMs, endMs, extra]. */
function doc(spans, service = 'svc') {
  return {
    resourceSpans: [{
      resource: service == null ? {} : { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
      scopeSpans: [{
        scope: { name: 's' },
        spans: spans.map(([id, parent, name, a, b, extra]) => ({
          traceId: 'ab'.repeat(16), spanId: id, parentSpanId: parent ?? '', name,
          startTimeUnixNano: String(T0 + BigInt(a) * 1_000_000n), endTimeUnixNano: String(T0 + BigInt(b) * 1_000_000n), ...extra,
        })),
      }],
    }],
  };
}

/** The model's rows in order as "name@depth" (orphans marked "!"). */
function check(spans, expect) {
  const m = parseTrace(doc(spans));
  const got = [...m.order].map((i) => `${m.spans[i].name}@${m.depth[i]}${m.missingParent[i] ? '!' : ''}`);
  assert.deepEqual(got, expect);
  // every span exactly once, subtree sizes consistent with preorder
  assert.equal(new Set(m.order).size, m.n);
  for (let p = 0; p < m.n; p++) {
    const i = m.order[p];
    for (let q = p + 1; q < p + m.size[i]; q++) assert.ok(m.depth[m.order[q]] > m.depth[i], 'a subtree is contiguous and deeper');
  }
  return m;
}

test('tree order: children by start, true roots before orphans', () => {
  check([
    ['0000000000000003', '0000000000000001', 'late child', 50, 60],
    ['0000000000000001', null, 'root', 0, 100],
    ['0000000000000002', '0000000000000001', 'early child', 10, 20],
    ['0000000000000004', '0000000000000002', 'grandchild', 11, 12],
    ['0000000000000005', '00000000000000ff', 'orphan', 5, 6],
  ], ['root@0', 'early child@1', 'grandchild@2', 'late child@1', 'orphan@0!']);
});

test('all-zero parent is a root; self-parent is a root', () => {
  check([
    ['0000000000000001', '0000000000000000', 'a', 0, 10],
    ['0000000000000002', '0000000000000002', 'b', 1, 2],
  ], ['a@0', 'b@0']);
});

test('a parent cycle is broken: every span once', () => {
  const m = check([
    ['0000000000000001', null, 'root', 0, 100],
    ['000000000000000a', '000000000000000b', 'x', 10, 20],
    ['000000000000000b', '000000000000000a', 'y', 15, 25],
  ], ['root@0', 'x@0!', 'y@1']);
  assert.equal(m.cycles, 1);
});

test('duplicate span ids keep both spans', () => {
  const m = check([
    ['0000000000000001', null, 'root', 0, 100],
    ['0000000000000002', '0000000000000001', 'dup first', 10, 20],
    ['0000000000000002', '0000000000000001', 'dup second', 30, 40],
    ['0000000000000003', '0000000000000002', 'child of dup', 11, 12],
  ], ['root@0', 'dup first@1', 'child of dup@2', 'dup second@1']);
  assert.equal(m.n, 4);
});

test('times are exact to the nanosecond and relative to the trace start', () => {
  const d = doc([['0000000000000001', null, 'a', 0, 0], ['0000000000000002', '0000000000000001', 'b', 0, 0]]);
  const [a, b] = d.resourceSpans[0].scopeSpans[0].spans;
  a.startTimeUnixNano = '1700000000999999999';
  a.endTimeUnixNano = '1700000001000000001';
  b.startTimeUnixNano = '1700000001000000000';
  b.endTimeUnixNano = '1699999999000000000'; // ends before it starts: shown as zero-length
  const m = parseTrace(d);
  assert.equal(m.start[0], 0);
  assert.equal(m.end[0] - m.start[0], 2);
  assert.equal(m.start[1], 1);
  assert.equal(m.end[1], m.start[1]);
  assert.equal(m.totalNs, 2);
  assert.equal(nsToMs('1700000000999999999'), 1700000000999.999999);
});

test('services, kinds and statuses, numeric or named', () => {
  const d = doc([['0000000000000001', null, 'a', 0, 1, { kind: 'SPAN_KIND_CLIENT', status: { code: 'STATUS_CODE_ERROR' } }]], null);
  const m = parseTrace(d);
  assert.deepEqual(m.services, ['unknown_service']);
  assert.equal(m.errorCount, 1);
  assert.equal(parseTrace({ resourceSpans: [] }).n, 0);
});

test('durations read like Jaeger', () => {
  for (const [ns, want] of [[0, '0ns'], [999, '999ns'], [1500, '1.5µs'], [812_000, '812µs'], [1_234_000, '1.23ms'],
    [45_600_000, '45.6ms'], [100_000_000, '100ms'], [4_500_000_000, '4.5s'], [123e9, '2m 3s'], [-2_000_000, '-2ms']]) {
    assert.equal(fmtDur(ns), want, String(ns));
  }
});

test('tags: key=value pairs, quoted values, errors name the token', () => {
  assert.deepEqual(parseTags(''), []);
  assert.deepEqual(parseTags(' http.status_code=500  error=true '), [['http.status_code', '500'], ['error', 'true']]);
  assert.deepEqual(parseTags('msg="a b \\"c\\"" x='), [['msg', 'a b "c"'], ['x', '']]);
  assert.throws(() => parseTags('a=1 oops'), /tag "oops" is not key=value/);
});

test('GenAI messages: current parts, older content strings, plain text', () => {
  assert.deepEqual(parseMessages('[{"role":"user","parts":[{"type":"text","content":"hi"}]}]'), [{ role: 'user', text: 'hi' }]);
  assert.deepEqual(parseMessages('[{"role":"assistant","parts":[{"type":"text","content":"ok"}],"finish_reason":"stop"}]'), [{ role: 'assistant', text: 'ok (finish: stop)' }]);
  assert.deepEqual(parseMessages('[{"role":"system","content":"be brief"}]'), [{ role: 'system', text: 'be brief' }]);
  assert.deepEqual(parseMessages('not json'), [{ role: 'text', text: 'not json' }]);
  assert.match(parseMessages('[{"role":"assistant","parts":[{"type":"tool_call","name":"lookup","arguments":{"id":1}}]}]')[0].text, /tool call lookup\(\{"id":1\}\)/);
});

test('value types', () => {
  for (const [v, t] of [[{ stringValue: '' }, 'string'], [{ intValue: '1' }, 'int'], [{ doubleValue: 1 }, 'double'], [{ boolValue: false }, 'bool'],
    [{ bytesValue: '' }, 'bytes'], [{ arrayValue: {} }, 'array'], [{ kvlistValue: {} }, 'kvlist'], [{}, 'empty'], [undefined, 'empty']]) {
    assert.equal(valueType(v), t);
  }
});

test('service map layout: callers left of callees, cycles drawn as back edges', () => {
  const nodes = ['a', 'b', 'c', 'd'].map((service) => ({ service }));
  const edges = [['a', 'b'], ['b', 'c'], ['a', 'd'], ['c', 'b'], ['d', 'd']].map(([parent, child]) => ({ parent, child, calls: 1, errors: 0 }));
  const { pos, back } = layout(nodes, edges);
  const layer = (s) => pos.get(s).layer;
  assert.equal(layer('a'), 0);
  assert.equal(layer('b'), 1);
  assert.equal(layer('c'), 2);
  assert.equal(layer('d'), 1);
  assert.deepEqual([...back], [3], 'c → b closes the cycle');
  assert.notEqual(pos.get('b').y, pos.get('d').y, 'two nodes of a layer do not overlap');
});
