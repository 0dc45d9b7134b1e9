"""Python OpenTelemetry peer for weft's propagation interop test (stdlib HTTP only).

  peer.py client URL   -> calls URL inside a client span; prints {"trace_id","span_id"} as JSON
  peer.py server       -> prints "listening PORT", answers one GET with the server span's
                          {"trace_id","span_id","parent_span_id","remote"} and exits
"""
import json
import sys
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import TracerProvider

trace.set_tracer_provider(TracerProvider())
tracer = trace.get_tracer("weft-interop")


def hexid(n, width):
    return format(n, "0%dx" % width)


def client(url):
    with tracer.start_as_current_span("py-client", kind=trace.SpanKind.CLIENT) as span:
        headers = {}
        propagate.inject(headers)
        req = urllib.request.Request(url, headers=headers)
        with urllib.request.urlopen(req, timeout=10) as resp:
            resp.read()
        ctx = span.get_span_context()
        print(json.dumps({"trace_id": hexid(ctx.trace_id, 32), "span_id": hexid(ctx.span_id, 16)}))


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        parent = propagate.extract(dict(self.headers.items()))
        parent_ctx = trace.get_current_span(parent).get_span_context()
        with tracer.start_as_current_span("py-server", context=parent, kind=trace.SpanKind.SERVER) as span:
            ctx = span.get_span_context()
            body = json.dumps({
                "trace_id": hexid(ctx.trace_id, 32),
                "span_id": hexid(ctx.span_id, 16),
                "parent_span_id": hexid(parent_ctx.span_id, 16),
                "remote": parent_ctx.is_remote,
                "sampled": ctx.trace_flags.sampled,
            }).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def server():
    httpd = HTTPServer(("127.0.0.1", 0), Handler)
    print("listening %d" % httpd.server_address[1], flush=True)
    httpd.handle_request()


if __name__ == "__main__":
    if sys.argv[1] == "client":
        client(sys.argv[2])
    else:
        server()
