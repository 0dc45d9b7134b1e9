//! Context propagation: the propagators `OTEL_PROPAGATORS` names (W3C tracecontext and baggage,
//! B3 single and multi header), and inject/extract helpers for HTTP headers and message headers.

use std::collections::HashMap;

use opentelemetry::propagation::{
    text_map_propagator::FieldIter, Extractor, Injector, TextMapCompositePropagator,
    TextMapPropagator,
};
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use opentelemetry::Context;
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};

use crate::config::PropagatorKind;

/// The composite propagator for a list of kinds (empty = a no-op propagator).
pub fn propagator(kinds: &[PropagatorKind]) -> TextMapCompositePropagator {
    let list: Vec<Box<dyn TextMapPropagator + Send + Sync>> = kinds
        .iter()
        .map(|k| -> Box<dyn TextMapPropagator + Send + Sync> {
            match k {
                PropagatorKind::TraceContext => Box::new(TraceContextPropagator::new()),
                PropagatorKind::Baggage => Box::new(BaggagePropagator::new()),
                PropagatorKind::B3 => Box::new(B3Propagator { multi: false }),
                PropagatorKind::B3Multi => Box::new(B3Propagator { multi: true }),
            }
        })
        .collect();
    TextMapCompositePropagator::new(list)
}

/// Zipkin B3 propagation (<https://github.com/openzipkin/b3-propagation>).
#[derive(Debug, Clone, Copy)]
pub struct B3Propagator {
    /// `X-B3-*` headers instead of the single `b3` header.
    pub multi: bool,
}

const B3_SINGLE: &str = "b3";
const B3_TRACE: &str = "x-b3-traceid";
const B3_SPAN: &str = "x-b3-spanid";
const B3_SAMPLED: &str = "x-b3-sampled";
const B3_FLAGS: &str = "x-b3-flags";

fn parse_trace_id(s: &str) -> Option<TraceId> {
    let s = s.trim();
    match s.len() {
        32 => TraceId::from_hex(s).ok(),
        16 => TraceId::from_hex(&format!("{:0>32}", s)).ok(),
        _ => None,
    }
    .filter(|t| *t != TraceId::INVALID)
}

fn parse_span_id(s: &str) -> Option<SpanId> {
    let s = s.trim();
    if s.len() != 16 {
        return None;
    }
    SpanId::from_hex(s).ok().filter(|s| *s != SpanId::INVALID)
}

impl TextMapPropagator for B3Propagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let span = cx.span();
        let sc = span.span_context();
        if !sc.is_valid() {
            return;
        }
        let sampled = if sc.is_sampled() { "1" } else { "0" };
        if self.multi {
            injector.set(B3_TRACE, sc.trace_id().to_string());
            injector.set(B3_SPAN, sc.span_id().to_string());
            injector.set(B3_SAMPLED, sampled.to_string());
        } else {
            injector.set(
                B3_SINGLE,
                format!("{}-{}-{}", sc.trace_id(), sc.span_id(), sampled),
            );
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let parsed = if let Some(v) = extractor.get(B3_SINGLE) {
            let parts: Vec<&str> = v.split('-').collect();
            if parts.len() < 2 {
                None
            } else {
                let sampled = parts.get(2).map(|s| *s == "1" || *s == "d");
                parse_trace_id(parts[0])
                    .zip(parse_span_id(parts[1]))
                    .map(|(t, s)| (t, s, sampled))
            }
        } else {
            let sampled = extractor
                .get(B3_FLAGS)
                .filter(|f| f.trim() == "1")
                .map(|_| true)
                .or_else(|| {
                    extractor
                        .get(B3_SAMPLED)
                        .map(|s| s.trim() == "1" || s.trim().eq_ignore_ascii_case("true"))
                });
            extractor
                .get(B3_TRACE)
                .and_then(parse_trace_id)
                .zip(extractor.get(B3_SPAN).and_then(parse_span_id))
                .map(|(t, s)| (t, s, sampled))
        };
        match parsed {
            Some((t, s, sampled)) => {
                let flags = if sampled.unwrap_or(false) {
                    TraceFlags::SAMPLED
                } else {
                    TraceFlags::default()
                };
                cx.with_remote_span_context(SpanContext::new(
                    t,
                    s,
                    flags,
                    true,
                    TraceState::default(),
                ))
            }
            None => cx.clone(),
        }
    }

    fn fields(&self) -> FieldIter<'_> {
        static SINGLE: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
        static MULTI: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
        if self.multi {
            FieldIter::new(MULTI.get_or_init(|| {
                vec![
                    B3_TRACE.into(),
                    B3_SPAN.into(),
                    B3_SAMPLED.into(),
                    B3_FLAGS.into(),
                ]
            }))
        } else {
            FieldIter::new(SINGLE.get_or_init(|| vec![B3_SINGLE.into()]))
        }
    }
}

/// Writes context into an `http::HeaderMap`.
pub struct HeaderInjector<'a>(pub &'a mut http::HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(val)) = (
            http::header::HeaderName::from_bytes(key.as_bytes()),
            http::header::HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, val);
        }
    }
}

/// Reads context from an `http::HeaderMap`.
pub struct HeaderExtractor<'a>(pub &'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        // the propagators ask for the same few names on every request: look those up by
        // their parsed `HeaderName` (a lookup by `&str` validates and lowercases it first)
        const KNOWN: [http::HeaderName; 5] = [
            http::HeaderName::from_static("traceparent"),
            http::HeaderName::from_static("tracestate"),
            http::HeaderName::from_static("baggage"),
            http::HeaderName::from_static("b3"),
            http::HeaderName::from_static("x-b3-traceid"),
        ];
        match KNOWN.iter().find(|n| n.as_str() == key) {
            Some(n) => self.0.get(n),
            None => self.0.get(key),
        }
        .and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// Injects `cx` into HTTP headers with the global propagator.
pub fn inject_headers(cx: &Context, headers: &mut http::HeaderMap) {
    opentelemetry::global::get_text_map_propagator(|p| {
        p.inject_context(cx, &mut HeaderInjector(headers))
    });
}

/// Extracts a context from HTTP headers with the global propagator.
pub fn extract_headers(headers: &http::HeaderMap) -> Context {
    opentelemetry::global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(headers)))
}

/// Injects `cx` into message headers (a queue message's string map).
pub fn inject_map(cx: &Context, headers: &mut HashMap<String, String>) {
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(cx, headers));
}

/// Extracts a context from message headers.
pub fn extract_map(headers: &HashMap<String, String>) -> Context {
    opentelemetry::global::get_text_map_propagator(|p| p.extract(headers))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sc(sampled: bool) -> SpanContext {
        SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            if sampled {
                TraceFlags::SAMPLED
            } else {
                TraceFlags::default()
            },
            false,
            TraceState::default(),
        )
    }

    #[test]
    fn w3c_round_trip_with_baggage() {
        use opentelemetry::baggage::BaggageExt;
        let p = propagator(&[PropagatorKind::TraceContext, PropagatorKind::Baggage]);
        let cx = Context::new()
            .with_remote_span_context(sc(true))
            .with_baggage(vec![opentelemetry::KeyValue::new("tenant", "acme")]);
        let mut h = HashMap::new();
        p.inject_context(&cx, &mut h);
        assert_eq!(
            h["traceparent"],
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
        assert_eq!(h["baggage"], "tenant=acme");
        let back = p.extract(&h);
        assert_eq!(back.span().span_context().trace_id(), sc(true).trace_id());
        assert!(back.span().span_context().is_remote());
        assert_eq!(
            back.baggage().get("tenant").map(|v| v.to_string()),
            Some("acme".to_string())
        );
    }

    #[test]
    fn b3_single_and_multi() {
        for multi in [false, true] {
            for sampled in [false, true] {
                let p = B3Propagator { multi };
                let cx = Context::new().with_remote_span_context(sc(sampled));
                let mut h = HashMap::new();
                p.inject_context(&cx, &mut h);
                if multi {
                    assert_eq!(h["x-b3-traceid"], "4bf92f3577b34da6a3ce929d0e0e4736");
                } else {
                    assert!(h["b3"].ends_with(if sampled { "-1" } else { "-0" }));
                }
                let back = p.extract(&h);
                let s = back.span().span_context().clone();
                assert_eq!(s.span_id(), sc(sampled).span_id());
                assert_eq!(s.is_sampled(), sampled);
            }
        }
        // 64-bit trace ids are left-padded
        let mut h = HashMap::new();
        h.insert(
            "b3".to_string(),
            "a3ce929d0e0e4736-00f067aa0ba902b7-1".to_string(),
        );
        let back = B3Propagator { multi: false }.extract(&h);
        assert_eq!(
            back.span().span_context().trace_id().to_string(),
            "0000000000000000a3ce929d0e0e4736"
        );
        // garbage is ignored
        h.insert("b3".to_string(), "zz-yy".to_string());
        let back = B3Propagator { multi: false }.extract(&h);
        assert!(!back.span().span_context().is_valid());
    }

    #[test]
    fn none_propagates_nothing() {
        let p = propagator(&[]);
        let cx = Context::new().with_remote_span_context(sc(true));
        let mut h = HashMap::new();
        p.inject_context(&cx, &mut h);
        assert!(h.is_empty());
    }
}
