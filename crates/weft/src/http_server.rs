//! A tower layer for axum (or any `http` server): extracts the caller's context, opens a
//! server span with the HTTP semantic-convention attributes, takes or generates
//! `x-request-id`, records and echoes it, marks 5xx as errors, and skips excluded paths.
//!
//! Add it with `Router::layer` so that `http.route` comes from axum's `MatchedPath`.

use std::borrow::Cow;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use http::{HeaderName, HeaderValue, Request, Response};
use opentelemetry::global::BoxedTracer;
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, TracerProvider as _};
use opentelemetry::{KeyValue, StringValue};
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};

/// The request id header.
pub const REQUEST_ID: &str = "x-request-id";

/// Header names the layer reads or writes on every request, parsed once: a lookup by `&str`
/// validates and hashes the name each time.
const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static(REQUEST_ID);
const FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

#[derive(Debug, Clone)]
struct Settings {
    excluded: Vec<String>,
    traceparent_in_response: bool,
    tracer: TracerSource,
}

/// Where server spans are started: the global tracer provider (resolved at the first request,
/// so the layer may be built before `weft::init`) or a provider given explicitly.
#[derive(Debug, Clone)]
enum TracerSource {
    Global(Arc<OnceLock<BoxedTracer>>),
    Sdk(SdkTracer),
}

/// The server layer. `WeftLayer::default()` excludes `/health`, `/healthz`, `/ready` and `/metrics`.
///
/// Server spans are OpenTelemetry spans started directly (not through `tracing`): this keeps
/// the layer's cost near one SDK span per request. The span's context is current while the
/// inner service runs, so `tracing` spans and events inside handlers nest under it (with
/// tracing-opentelemetry's default context activation) and JSON logs carry its ids. To add
/// attributes to the server span from a handler, use
/// `opentelemetry::trace::get_active_span(|span| span.set_attribute(...))`.
#[derive(Debug, Clone)]
pub struct WeftLayer {
    settings: Arc<Settings>,
}

impl Default for WeftLayer {
    fn default() -> Self {
        WeftLayer {
            settings: Arc::new(Settings {
                excluded: ["/health", "/healthz", "/ready", "/metrics"]
                    .map(String::from)
                    .to_vec(),
                traceparent_in_response: false,
                tracer: TracerSource::Global(Arc::new(OnceLock::new())),
            }),
        }
    }
}

impl WeftLayer {
    /// The default layer.
    pub fn new() -> Self {
        Self::default()
    }
    /// Replaces the excluded paths (exact match).
    pub fn exclude<I: IntoIterator<Item = S>, S: Into<String>>(mut self, paths: I) -> Self {
        Arc::make_mut(&mut self.settings).excluded = paths.into_iter().map(Into::into).collect();
        self
    }
    /// Adds a `traceparent` header to responses (for browsers and test clients).
    pub fn traceparent_in_response(mut self, on: bool) -> Self {
        Arc::make_mut(&mut self.settings).traceparent_in_response = on;
        self
    }
    /// Starts server spans with this provider instead of the global one (for applications
    /// that call `Builder::set_global(false)`; `Guard::tracer_provider` gives weft's).
    pub fn tracer_provider(mut self, provider: &SdkTracerProvider) -> Self {
        Arc::make_mut(&mut self.settings).tracer = TracerSource::Sdk(provider.tracer("weft"));
        self
    }
}

impl<S> tower::Layer<S> for WeftLayer {
    type Service = WeftService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        WeftService {
            inner,
            shared: Arc::new(Shared {
                settings: self.settings.clone(),
                first: OnceLock::new(),
            }),
        }
    }
}

/// The service [`WeftLayer`] wraps around yours.
#[derive(Debug, Clone)]
pub struct WeftService<S> {
    inner: S,
    shared: Arc<Shared>,
}

/// What the clones of one service share (axum clones a route's service for every request).
#[derive(Debug)]
struct Shared {
    settings: Arc<Settings>,
    /// The first (method, route) this service saw and its interned name: with
    /// `Router::layer`, axum wraps each route's handler in its own service, so the next
    /// request almost always matches and needs no lookup in the shared tables.
    first: OnceLock<(&'static str, Box<str>, names::Entry)>,
}

impl<S> WeftService<S> {
    fn interned(&self, method: &'static str, route: &str) -> Option<names::Entry> {
        if let Some((m, r, e)) = self.shared.first.get() {
            if *m == method && **r == *route {
                return Some(e.clone());
            }
        }
        let e = names::get(method, route)?;
        let _ = self.shared.first.set((method, Box::from(route), e.clone()));
        Some(e)
    }
}

/// A random 128-bit request id, hex.
pub fn new_request_id() -> String {
    let bytes = request_id_bytes();
    // the bytes are ASCII hex digits
    String::from_utf8(bytes.to_vec()).expect("hex is UTF-8")
}

fn request_id_bytes() -> [u8; 32] {
    /// each byte's two hex digits
    const PAIRS: [[u8; 2]; 256] = {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut t = [[0u8; 2]; 256];
        let mut i = 0;
        while i < 256 {
            t[i] = [HEX[i >> 4], HEX[i & 0xf]];
            i += 1;
        }
        t
    };
    let mut out = [0u8; 32];
    for (pair, byte) in out
        .chunks_exact_mut(2)
        .zip(rand::random::<u128>().to_be_bytes())
    {
        pair.copy_from_slice(&PAIRS[usize::from(byte)]);
    }
    out
}

/// A generated request id as a header value shared by the request and the response: one
/// allocation (the id's bytes live inside `Bytes`' own shared block, so cloning the value only
/// counts a reference; a value made from a copied slice would allocate again on its first
/// clone). The span attribute copies it only when the span records.
fn generated_request_id() -> HeaderValue {
    HeaderValue::from_maybe_shared(bytes::Bytes::from_owner(request_id_bytes()))
        .expect("hex is a valid header value")
}

/// Span names (`METHOD route`) and routes, interned: a server sees the same few routes
/// endlessly, so each request takes a `&'static str` name and route instead of formatting
/// and copying them. Routes come from the application's router, so the set is
/// bounded by its code; past [`MAX_INTERNED`] names the layer formats per request again.
mod names {
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};

    use opentelemetry::StringValue;

    pub(super) const MAX_INTERNED: usize = 4096;

    /// (span name, route value)
    pub(super) type Entry = (&'static str, StringValue);
    /// (method, route) -> entry, shared by all threads
    type Global = Mutex<HashMap<(&'static str, Box<str>), Entry>>;
    /// route -> [(method, entry)]: a lookup by `&str`, then a scan of a few methods
    type Local = rustc_hash::FxHashMap<Box<str>, Vec<(&'static str, Entry)>>;

    fn global() -> &'static Global {
        static G: OnceLock<Global> = OnceLock::new();
        G.get_or_init(Default::default)
    }

    thread_local! {
        static LOCAL: RefCell<Local> = RefCell::new(Default::default());
    }

    /// The span name and `http.route` value for a method (one of the static names) and route.
    pub(super) fn get(method: &'static str, route: &str) -> Option<Entry> {
        LOCAL.with(|l| {
            let mut l = l.borrow_mut();
            if let Some(e) = l
                .get(route)
                .and_then(|v| v.iter().find(|(m, _)| *m == method))
            {
                return Some(e.1.clone());
            }
            let e = {
                let mut g = global().lock().unwrap_or_else(|p| p.into_inner());
                match g.get(&(method, Box::from(route))) {
                    Some(e) => e.clone(),
                    None if g.len() < MAX_INTERNED => {
                        let name: &'static str =
                            Box::leak(format!("{method} {route}").into_boxed_str());
                        // static, not shared: a shared value's reference count would be
                        // raised here and lowered on the export thread, for every span
                        let value: &'static str = Box::leak(Box::from(route));
                        let e = (name, StringValue::from(value));
                        g.insert((method, Box::from(route)), e.clone());
                        e
                    }
                    None => return None,
                }
            };
            l.entry(Box::from(route))
                .or_default()
                .push((method, e.clone()));
            Some(e)
        })
    }
}

/// Request facts that repeat (user agents, client addresses), interned like routes (see
/// [`names`]): a server's clients send a few user agents from a few addresses over and over,
/// so a request takes a `&'static str` instead of a copy that the export thread then frees
/// (with glibc's allocator, a free on another thread is the costly part: one such `String` per
/// request cost the sampled layer 0.7–1 µs on a 2-core VM). Bounded per kind: past its
/// `max` values, or for a value longer than its `max_len`, the layer copies per request again.
mod facts {
    use std::cell::{Cell, RefCell};
    use std::collections::HashSet;
    use std::net::IpAddr;
    use std::sync::{Mutex, OnceLock};

    use opentelemetry::StringValue;

    #[derive(Clone, Copy)]
    pub(super) enum Kind {
        UserAgent = 0,
        Address = 1,
    }

    /// (max values, max length) per kind
    const LIMITS: [(usize, usize); 2] = [(1024, 256), (4096, 64)];

    type Set = HashSet<&'static str>;

    fn global(kind: Kind) -> &'static Mutex<Set> {
        static G: OnceLock<[Mutex<Set>; 2]> = OnceLock::new();
        &G.get_or_init(Default::default)[kind as usize]
    }

    thread_local! {
        /// Each kind's last value on this thread: a connection's requests repeat it, and
        /// comparing with it costs less than hashing for a lookup.
        static LAST: Cell<[&'static str; 2]> = const { Cell::new(["", ""]) };
        static LOCAL: RefCell<[rustc_hash::FxHashSet<&'static str>; 2]> =
            RefCell::new(Default::default());
        static PEERS: RefCell<rustc_hash::FxHashMap<IpAddr, &'static str>> =
            RefCell::new(Default::default());
    }

    /// The text as an attribute value: interned, or copied when it cannot be.
    pub(super) fn value(kind: Kind, text: &str) -> StringValue {
        get(kind, text).map_or_else(|| StringValue::from(text.to_string()), StringValue::from)
    }

    /// The interned text, or `None` when it is too long or its kind's set is full.
    fn get(kind: Kind, text: &str) -> Option<&'static str> {
        let (max, max_len) = LIMITS[kind as usize];
        if text.len() > max_len {
            return None;
        }
        let last = LAST.with(Cell::get);
        if last[kind as usize] == text {
            return Some(last[kind as usize]);
        }
        let t = LOCAL.with(|l| {
            if let Some(&t) = l.borrow()[kind as usize].get(text) {
                return Some(t);
            }
            let t = {
                let mut g = global(kind).lock().unwrap_or_else(|p| p.into_inner());
                match g.get(text) {
                    Some(&t) => t,
                    None if g.len() < max => {
                        let t: &'static str = Box::leak(Box::from(text));
                        g.insert(t);
                        t
                    }
                    None => return None,
                }
            };
            l.borrow_mut()[kind as usize].insert(t);
            Some(t)
        })?;
        LAST.with(|l| {
            let mut last = l.get();
            last[kind as usize] = t;
            l.set(last);
        });
        Some(t)
    }

    /// A peer's address as an attribute value: interned (and not formatted again once seen),
    /// or formatted per request when it cannot be.
    pub(super) fn peer(ip: IpAddr) -> StringValue {
        if let Some(t) = PEERS.with(|p| p.borrow().get(&ip).copied()) {
            return StringValue::from(t);
        }
        let text = ip.to_string();
        match get(Kind::Address, &text) {
            Some(t) => {
                PEERS.with(|p| p.borrow_mut().insert(ip, t));
                StringValue::from(t)
            }
            None => StringValue::from(text),
        }
    }
}

/// The request headers the layer reads (the first value of each).
#[derive(Default)]
struct Read<'a> {
    request_id: Option<&'a HeaderValue>,
    user_agent: Option<&'a HeaderValue>,
    forwarded_for: Option<&'a HeaderValue>,
}

/// Past this many header names, three hashed lookups beat one pass over the map.
const SCAN_MAX: usize = 24;

impl<'a> Read<'a> {
    fn from(headers: &'a http::HeaderMap) -> Self {
        if headers.keys_len() > SCAN_MAX {
            return Read {
                request_id: headers.get(REQUEST_ID_HEADER),
                user_agent: headers.get(http::header::USER_AGENT),
                forwarded_for: headers.get(FORWARDED_FOR),
            };
        }
        // one pass: a typical request has a handful of headers, and comparing names costs
        // less than hashing each wanted name for a lookup
        let mut r = Read::default();
        for (name, value) in headers {
            let slot = if name == http::header::USER_AGENT {
                &mut r.user_agent
            } else if name == REQUEST_ID_HEADER {
                &mut r.request_id
            } else if name == FORWARDED_FOR {
                &mut r.forwarded_for
            } else {
                continue;
            };
            slot.get_or_insert(value);
        }
        r
    }
}

/// The first `X-Forwarded-For` address, else the peer address axum saw.
fn client_address<B>(req: &Request<B>, forwarded_for: Option<&HeaderValue>) -> Option<StringValue> {
    if let Some(ff) = forwarded_for.and_then(|v| v.to_str().ok()) {
        if let Some(first) = ff
            .split(',')
            .next()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            return Some(facts::value(facts::Kind::Address, first));
        }
    }
    req.extensions()
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|c| facts::peer(c.0.ip()))
}

impl<S, B, RB> tower::Service<Request<B>> for WeftService<S>
where
    S: tower::Service<Request<B>, Response = Response<RB>>,
{
    type Response = Response<RB>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let path = req.uri().path();
        if self.shared.settings.excluded.iter().any(|p| p == path) {
            return ResponseFuture {
                inner: self.inner.call(req),
                state: None,
            };
        }
        let read = Read::from(req.headers());
        let incoming = read
            .request_id
            .filter(|v| !v.is_empty() && v.len() <= 128 && v.to_str().is_ok())
            .cloned();
        // a generated id goes into the request's headers (for the handler) once the layer's
        // own reads of them are done, below
        let (request_id_value, generated) = match incoming {
            Some(v) => (v, false),
            None => (generated_request_id(), true),
        };
        let method = req.method().as_str();
        let method_value = method_value(req.method());
        let route = req
            .extensions()
            .get::<axum::extract::MatchedPath>()
            .map(|m| m.as_str());
        let path_is_route = route.is_some_and(|r| r == req.uri().path());
        let (name, route): (Cow<'static, str>, Option<StringValue>) = match route {
            Some(r) => match (method_value != "_OTHER")
                .then(|| self.interned(method_value, r))
                .flatten()
            {
                Some((name, route)) => (Cow::Borrowed(name), Some(route)),
                None => (
                    Cow::Owned(format!("{method} {r}")),
                    Some(StringValue::from(r.to_string())),
                ),
            },
            None => (Cow::Owned(method.to_string()), None),
        };
        let mut attributes = Vec::with_capacity(9);
        attributes.push(KeyValue::new("http.request.method", method_value));
        if method_value == "_OTHER" {
            attributes.push(KeyValue::new(
                "http.request.method_original",
                method.to_string(),
            ));
        }
        // a route without parameters is its own path: share the interned value
        let path = match &route {
            Some(r) if path_is_route => r.clone(),
            _ => StringValue::from(req.uri().path().to_string()),
        };
        attributes.push(KeyValue::new("url.path", path));
        attributes.push(KeyValue::new(
            "url.scheme",
            match req.uri().scheme_str() {
                Some("https") => "https",
                _ => "http",
            },
        ));
        if let Some(r) = route {
            attributes.push(KeyValue::new("http.route", r));
        }
        if let Some(ua) = read.user_agent.and_then(|v| v.to_str().ok()) {
            attributes.push(KeyValue::new(
                "user_agent.original",
                facts::value(facts::Kind::UserAgent, ua),
            ));
        }
        if let Some(addr) = client_address(&req, read.forwarded_for) {
            attributes.push(KeyValue::new("client.address", addr));
        }
        let parent = crate::propagation::extract_headers(req.headers());
        if generated {
            req.headers_mut()
                .insert(REQUEST_ID_HEADER, request_id_value.clone());
        }
        let builder = opentelemetry::trace::SpanBuilder::from_name(name)
            .with_kind(SpanKind::Server)
            .with_attributes(attributes);
        let cx = match &self.shared.settings.tracer {
            TracerSource::Sdk(t) => parent.with_span(builder.start_with_context(t, &parent)),
            TracerSource::Global(cell) => {
                let t = cell.get_or_init(|| opentelemetry::global::tracer("weft"));
                parent.with_span(builder.start_with_context(t, &parent))
            }
        };
        // the inner service may do work in `call` itself: run it inside the span's context too
        let inner = {
            let _attached = cx.clone().attach();
            self.inner.call(req)
        };
        ResponseFuture {
            inner,
            state: Some(SpanState {
                cx,
                request_id: request_id_value,
                traceparent: self.shared.settings.traceparent_in_response,
            }),
        }
    }
}

/// What the response future needs once the inner service answers (inline in the future: a
/// box would cost an allocation per request).
struct SpanState {
    cx: opentelemetry::Context,
    request_id: HeaderValue,
    traceparent: bool,
}

pin_project_lite::pin_project! {
    /// The future [`WeftService`] returns: polls the inner service's future inside the server
    /// span's context, then records the response on the span and ends it.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        state: Option<SpanState>,
    }

    impl<F> PinnedDrop for ResponseFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            // dropped before the inner service answered (client went away, timeout): end the
            // span now and say why
            if let Some(state) = this.project().state.take() {
                let span = state.cx.span();
                if records(&span) {
                    span.set_attributes([
                        request_id_attribute(&state.request_id),
                        KeyValue::new("error.type", "cancelled"),
                    ]);
                    span.set_status(Status::error("the request was cancelled before a response"));
                    span.end();
                }
            }
        }
    }
}

impl<F, RB, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<RB>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, task: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(state) = this.state.as_ref() else {
            return this.inner.poll(task);
        };
        let result = {
            let _attached = state.cx.clone().attach();
            match this.inner.poll(task) {
                Poll::Ready(r) => r,
                Poll::Pending => return Poll::Pending,
            }
        };
        let state = this.state.take().expect("state is present until ready");
        let SpanState {
            cx,
            request_id,
            traceparent,
        } = state;
        let span = cx.span();
        // what the response adds is set in one go, and only on a span that records: each
        // call on the span takes its lock, and a span that does not record drops it all
        let recording = records(&span);
        if recording {
            let id = request_id_attribute(&request_id);
            match &result {
                Ok(resp) => {
                    let code = resp.status().as_u16();
                    let status = KeyValue::new("http.response.status_code", i64::from(code));
                    if code >= 500 {
                        span.set_attributes([
                            id,
                            status,
                            KeyValue::new("error.type", code.to_string()),
                        ]);
                        span.set_status(Status::error(""));
                    } else {
                        span.set_attributes([id, status]);
                    }
                }
                Err(_) => {
                    span.set_attributes([id, KeyValue::new("error.type", "_OTHER")]);
                    span.set_status(Status::error("the service returned an error"));
                }
            }
        }
        let result = result.map(|mut resp| {
            resp.headers_mut().insert(REQUEST_ID_HEADER, request_id);
            if traceparent {
                crate::propagation::inject_headers(&cx, resp.headers_mut());
                // only traceparent is meant for the caller
                resp.headers_mut().remove("baggage");
            }
            resp
        });
        // a span that does not record has nothing to export: dropping it is its end
        if recording {
            span.end();
        }
        Poll::Ready(result)
    }
}

/// Whether the span records. A sampled span always does (the specification forbids a sampled
/// span that does not record), and its context says so without the lock `is_recording` takes.
fn records(span: &opentelemetry::trace::SpanRef<'_>) -> bool {
    span.span_context().is_sampled() || span.is_recording()
}

/// The request id as a span attribute. It is no input to sampling, so it is set once the span
/// is known to record, not copied for every request.
fn request_id_attribute(id: &HeaderValue) -> KeyValue {
    // the id is known to be text (generated as hex, or taken only when `to_str` accepted
    // it): checking it as UTF-8 is cheaper than `to_str`'s byte-by-byte check again
    KeyValue::new(
        "http.request.header.x-request-id",
        std::str::from_utf8(id.as_bytes())
            .unwrap_or_default()
            .to_string(),
    )
}

/// The method as semantic conventions want it: known methods by name, others as `_OTHER`.
fn method_value(m: &http::Method) -> &'static str {
    match *m {
        http::Method::GET => "GET",
        http::Method::POST => "POST",
        http::Method::PUT => "PUT",
        http::Method::DELETE => "DELETE",
        http::Method::PATCH => "PATCH",
        http::Method::HEAD => "HEAD",
        http::Method::OPTIONS => "OPTIONS",
        http::Method::CONNECT => "CONNECT",
        http::Method::TRACE => "TRACE",
        _ => "_OTHER",
    }
}
