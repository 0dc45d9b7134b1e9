// Sends one multi-span trace through the real Node OpenTelemetry SDK and prints, as JSON,
// exactly what it sent, so the Rust interop test can compare every field with what weft stored.
// usage: node send.js proto|grpc ENDPOINT SERVICE_NAME
'use strict';
const { NodeTracerProvider } = require('@opentelemetry/sdk-trace-node');
const { SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const api = require('@opentelemetry/api');

const [protocol, endpoint, service] = process.argv.slice(2);
let exporter;
if (protocol === 'grpc') {
  const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-grpc');
  exporter = new OTLPTraceExporter({ url: endpoint });
} else {
  const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto');
  exporter = new OTLPTraceExporter({ url: endpoint + '/v1/traces' });
}
const provider = new NodeTracerProvider({
  resource: resourceFromAttributes({ 'service.name': service, 'deployment.environment.name': 'test' }),
  spanProcessors: [new SimpleSpanProcessor(exporter)],
});
const tracer = provider.getTracer('interop.node', '4.5.6');

// HrTime [seconds, nanos]; exact so the nanoseconds can be compared
const T0 = [1700000000, 123456789];
const at = (ms) => [T0[0], T0[1] + ms * 1e6];
const ATTRS = {
  str: 'hello wörld',
  bool: true,
  int: 42,
  double: 3.25,
  str_array: ['a', 'b'],
  int_array: [1, 2, 3],
  double_array: [0.5, -1.5],
  bool_array: [true, false],
};
const linked = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1, isRemote: true };

const root = tracer.startSpan('GET /checkout', { kind: api.SpanKind.SERVER, startTime: at(0), attributes: ATTRS });
const ctx = api.trace.setSpan(api.context.active(), root);
const child = tracer.startSpan('charge card', {
  kind: api.SpanKind.CLIENT,
  startTime: at(1),
  links: [{ context: linked, attributes: { 'link.reason': 'retry-of' } }],
}, ctx);
child.addEvent('exception', { 'exception.message': 'card declined', attempt: 2 }, at(2));
child.setStatus({ code: api.SpanStatusCode.ERROR, message: 'card declined' });
child.end(at(30));
root.end(at(50));

const ns = (t) => (BigInt(t[0]) * 1000000000n + BigInt(t[1])).toString();
const spanJson = (s, parent, start, end, events, links, status) => ({
  spanId: s.spanContext().spanId,
  parentSpanId: parent ? parent.spanContext().spanId : '',
  name: s.name,
  kind: s.kind === api.SpanKind.SERVER ? 2 : 3,
  startTimeUnixNano: ns(start),
  endTimeUnixNano: ns(end),
  attributes: s.attributes,
  events,
  links,
  status,
});

provider.shutdown().then(() => {
  console.log(JSON.stringify({
    traceId: root.spanContext().traceId,
    scope: { name: 'interop.node', version: '4.5.6' },
    resource: { 'service.name': service, 'deployment.environment.name': 'test' },
    spans: [
      spanJson(root, null, at(0), at(50), [], [], { code: 0, message: '' }),
      spanJson(child, root, at(1), at(30),
        [{ name: 'exception', timeUnixNano: ns(at(2)), attributes: { 'exception.message': 'card declined', attempt: 2 } }],
        [{ traceId: linked.traceId, spanId: linked.spanId, attributes: { 'link.reason': 'retry-of' } }],
        { code: 2, message: 'card declined' }),
    ],
  }));
}).catch((e) => { console.error(e); process.exit(1); });
