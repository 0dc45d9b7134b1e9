"""Sends one multi-span trace through the real Python OpenTelemetry SDK and prints, as JSON,
exactly what it sent, so the Rust interop test can compare every field with what weft stored.

usage: python_send.py grpc|http ENDPOINT SERVICE_NAME
"""
import json
import sys

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

protocol, endpoint, service = sys.argv[1], sys.argv[2], sys.argv[3]
if protocol == "grpc":
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    exporter = OTLPSpanExporter(endpoint=endpoint, insecure=True)
else:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    exporter = OTLPSpanExporter(endpoint=endpoint + "/v1/traces")

provider = TracerProvider(resource=Resource.create({"service.name": service, "deployment.environment.name": "test"}))
provider.add_span_processor(SimpleSpanProcessor(exporter))
tracer = provider.get_tracer("interop.python", "1.2.3")

T0 = 1_700_000_000_123_456_789
ATTRS = {
    "str": "hello wörld",
    "bool": True,
    "int": -9_007_199_254_740_993,
    "double": 3.25,
    "str_array": ["a", "b"],
    "int_array": [1, 2, 3],
    "double_array": [0.5, -1.5],
    "bool_array": [True, False],
}
linked = SpanContext(trace_id=0x0AF7651916CD43DD8448EB211C80319C, span_id=0xB7AD6B7169203331, is_remote=True, trace_flags=TraceFlags(1))

root = tracer.start_span("GET /checkout", kind=SpanKind.SERVER, start_time=T0, attributes=ATTRS)
ctx = trace.set_span_in_context(root)
child = tracer.start_span(
    "charge card",
    context=ctx,
    kind=SpanKind.CLIENT,
    start_time=T0 + 1_000_000,
    links=[Link(linked, attributes={"link.reason": "retry-of"})],
)
child.add_event("exception", attributes={"exception.message": "card declined", "attempt": 2}, timestamp=T0 + 2_000_000)
child.set_status(Status(StatusCode.ERROR, "card declined"))
child.end(end_time=T0 + 30_000_000)
root.end(end_time=T0 + 50_000_000)
provider.shutdown()


def hexid(n, width):
    return format(n, "0%dx" % width)


def span_json(s):
    return {
        "spanId": hexid(s.context.span_id, 16),
        "parentSpanId": hexid(s.parent.span_id, 16) if s.parent else "",
        "name": s.name,
        "kind": {SpanKind.SERVER: 2, SpanKind.CLIENT: 3}[s.kind],
        "startTimeUnixNano": s.start_time,
        "endTimeUnixNano": s.end_time,
        "attributes": {k: list(v) if isinstance(v, tuple) else v for k, v in s.attributes.items()},
        "events": [{"name": e.name, "timeUnixNano": e.timestamp, "attributes": dict(e.attributes)} for e in s.events],
        "links": [
            {"traceId": hexid(l.context.trace_id, 32), "spanId": hexid(l.context.span_id, 16), "attributes": dict(l.attributes)}
            for l in s.links
        ],
        "status": {"code": {StatusCode.UNSET: 0, StatusCode.OK: 1, StatusCode.ERROR: 2}[s.status.status_code], "message": s.status.description or ""},
    }


print(json.dumps({
    "traceId": hexid(root.context.trace_id, 32),
    "scope": {"name": "interop.python", "version": "1.2.3"},
    "resource": {"service.name": service, "deployment.environment.name": "test"},
    "spans": [span_json(root), span_json(child)],
}))
