use crate::{FlatSpan, TraceId};
use std::collections::BTreeSet;

/// The resource attribute that names a service.
pub const SERVICE_NAME: &str = "service.name";

/// What a search result shows of a trace without loading it.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct TraceSummary {
    pub trace_id: TraceId,
    /// Service and name of the root span; empty when the root has not arrived (yet).
    pub root_service: String,
    pub root_name: String,
    pub start_unix_nano: u64,
    pub end_unix_nano: u64,
    pub span_count: u64,
    pub error_count: u64,
    pub services: BTreeSet<String>,
    /// Whether `root_*` come from a span without a parent (else from the earliest span).
    pub has_root: bool,
}

impl TraceSummary {
    pub fn new(trace_id: TraceId) -> TraceSummary {
        TraceSummary {
            trace_id,
            start_unix_nano: u64::MAX,
            ..Default::default()
        }
    }
    pub fn duration_nanos(&self) -> u64 {
        self.end_unix_nano.saturating_sub(self.start_unix_nano)
    }
    pub fn add_span(&mut self, s: &FlatSpan) {
        let service = s.resource.service_name();
        self.add(
            service,
            &s.span.name,
            s.span.parent_span_id.is_none(),
            s.span.start_time_unix_nano,
            s.span.end_time_unix_nano,
            s.span.is_error(),
        );
    }
    /// Adds one span's facts.
    pub fn add(
        &mut self,
        service: &str,
        name: &str,
        is_root: bool,
        start: u64,
        end: u64,
        error: bool,
    ) {
        if self.takes_root(is_root, start) {
            self.root_service = service.to_string();
            self.root_name = name.to_string();
            self.has_root = is_root;
        }
        self.start_unix_nano = self.start_unix_nano.min(start);
        self.end_unix_nano = self.end_unix_nano.max(end);
        self.span_count += 1;
        if error {
            self.error_count += 1;
        }
        if !self.services.contains(service) {
            self.services.insert(service.to_string());
        }
    }
    /// Whether a candidate (a root span or not) starting at `start` should name the trace: a
    /// root beats a non-root; between equals, the earlier one wins.
    fn takes_root(&self, candidate_is_root: bool, start: u64) -> bool {
        match (candidate_is_root, self.has_root) {
            (true, false) => true,
            (false, true) => false,
            _ => start < self.start_unix_nano,
        }
    }

    /// Combines the summary of another part of the same trace (e.g. from another block).
    pub fn merge(&mut self, o: &TraceSummary) {
        if self.takes_root(o.has_root, o.start_unix_nano) {
            self.root_service = o.root_service.clone();
            self.root_name = o.root_name.clone();
            self.has_root = o.has_root;
        }
        self.start_unix_nano = self.start_unix_nano.min(o.start_unix_nano);
        self.end_unix_nano = self.end_unix_nano.max(o.end_unix_nano);
        self.span_count += o.span_count;
        self.error_count += o.error_count;
        self.services.extend(o.services.iter().cloned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_equals_adding_all() {
        let t = TraceId([7; 16]);
        let spans = [
            ("a", "child", false, 20, 30, true),
            ("b", "root", true, 10, 50, false),
            ("c", "late", false, 5, 8, false),
        ];
        let mut whole = TraceSummary::new(t);
        for s in spans {
            whole.add(s.0, s.1, s.2, s.3, s.4, s.5);
        }
        let mut left = TraceSummary::new(t);
        left.add("a", "child", false, 20, 30, true);
        left.add("c", "late", false, 5, 8, false);
        let mut right = TraceSummary::new(t);
        right.add("b", "root", true, 10, 50, false);
        left.merge(&right);
        assert_eq!(left, whole);
        assert_eq!(whole.root_name, "root");
        assert_eq!(whole.start_unix_nano, 5);
        assert_eq!(whole.duration_nanos(), 45);
        assert_eq!(whole.error_count, 1);
        assert_eq!(whole.services.len(), 3);
    }
}
