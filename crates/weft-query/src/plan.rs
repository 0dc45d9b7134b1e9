//! The planner: which part of a query the store can evaluate.
//!
//! The store answers [`SearchQuery`]s with Jaeger's span-level semantics: a trace is a
//! candidate when one of its spans satisfies every condition. The planner derives, from the
//! query, conjunctions of such conditions that every matching trace must satisfy on one span,
//! and pushes the most selective-looking one down. The result is a *superset* filter: the
//! executor still evaluates the whole query on every candidate.
//!
//! What a matching trace is guaranteed to have:
//! - for `{ F }`: a span satisfying the conditions of F's top-level conjunction (for `A || B`
//!   inside a filter, only the conditions common to both sides);
//! - for `L && R`, a structural `L op R` and the union forms: what L guarantees, and what R
//!   guarantees (one of them is chosen); for the negated forms `L !op R`: only what R does;
//! - for `L || R` between spansets: the conditions common to both;
//! - for a pipeline: what each stage guarantees; and the spans that come out of the last stage
//!   satisfy the conditions of every filter stage at once.
//!
//! Conditions that can be pushed: `resource.service.name = "s"`, `name = "n"`, an attribute
//! (span, resource or unscoped) `= literal` as text, duration bounds, `status = error`. A
//! regex, `!=`, or a range on an attribute is not pushed. Attribute equality also finds array
//! attributes holding the value (the store indexes array elements as search-only terms), as
//! TraceQL's `=` does.

use weft_store::{Capabilities, SearchQuery};

use crate::ast::*;

/// Conditions on one span.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Conditions {
    pub service: Option<String>,
    pub span_name: Option<String>,
    pub attributes: Vec<(String, String)>,
    pub min_duration_nanos: Option<u64>,
    pub max_duration_nanos: Option<u64>,
    pub errors_only: bool,
}

impl Conditions {
    fn and(mut self, o: Conditions) -> Conditions {
        // Both hold on the same span; when two values conflict the query cannot match, and
        // keeping either one is still a superset.
        self.service = self.service.or(o.service);
        self.span_name = self.span_name.or(o.span_name);
        for a in o.attributes {
            if !self.attributes.contains(&a) {
                self.attributes.push(a);
            }
        }
        self.min_duration_nanos = max_opt(self.min_duration_nanos, o.min_duration_nanos);
        self.max_duration_nanos = match (self.max_duration_nanos, o.max_duration_nanos) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.errors_only |= o.errors_only;
        self
    }

    /// What holds whichever of the two holds.
    fn common(&self, o: &Conditions) -> Conditions {
        Conditions {
            service: self
                .service
                .clone()
                .filter(|s| o.service.as_ref() == Some(s)),
            span_name: self
                .span_name
                .clone()
                .filter(|s| o.span_name.as_ref() == Some(s)),
            attributes: self
                .attributes
                .iter()
                .filter(|a| o.attributes.contains(a))
                .cloned()
                .collect(),
            min_duration_nanos: match (self.min_duration_nanos, o.min_duration_nanos) {
                (Some(a), Some(b)) => Some(a.min(b)),
                _ => None,
            },
            max_duration_nanos: match (self.max_duration_nanos, o.max_duration_nanos) {
                (Some(a), Some(b)) => Some(a.max(b)),
                _ => None,
            },
            errors_only: self.errors_only && o.errors_only,
        }
    }

    /// Drops what the backend cannot evaluate (a service becomes the resource attribute
    /// `service.name` when only attributes are supported).
    fn restrict(mut self, caps: Capabilities) -> Conditions {
        if !caps.service {
            if let Some(s) = self.service.take() {
                // a resource without service.name is "unknown_service" only by convention:
                // no attribute holds that value
                if caps.attributes && s != "unknown_service" {
                    self.attributes.push(("service.name".into(), s));
                }
            }
        }
        if !caps.span_name {
            self.span_name = None;
        }
        if !caps.attributes {
            self.attributes.clear();
        }
        if !caps.duration {
            self.min_duration_nanos = None;
            self.max_duration_nanos = None;
        }
        if !caps.status {
            self.errors_only = false;
        }
        self
    }

    pub fn is_empty(&self) -> bool {
        *self == Conditions::default()
    }

    /// A rough selectivity score: attributes and names narrow most, duration bounds least.
    fn score(&self) -> u32 {
        self.attributes.len() as u32 * 4
            + u32::from(self.span_name.is_some()) * 3
            + u32::from(self.service.is_some()) * 2
            + u32::from(self.errors_only) * 2
            + u32::from(self.min_duration_nanos.is_some()) * 2
            + u32::from(self.max_duration_nanos.is_some())
    }
}

fn max_opt(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// What the store is asked for.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// The conditions pushed down (empty: every trace is a candidate).
    pub conditions: Conditions,
}

impl Plan {
    /// The store query for a time window and a candidate count.
    pub fn search_query(
        &self,
        caps: Capabilities,
        start: Option<u64>,
        end: Option<u64>,
        limit: usize,
    ) -> SearchQuery {
        let c = &self.conditions;
        SearchQuery {
            service: c.service.clone(),
            span_name: c.span_name.clone(),
            attributes: c.attributes.clone(),
            min_duration_nanos: c.min_duration_nanos,
            max_duration_nanos: c.max_duration_nanos,
            errors_only: c.errors_only,
            start_unix_nano: start.filter(|_| caps.time_range),
            end_unix_nano: end.filter(|_| caps.time_range),
            limit,
        }
    }
}

/// Plans `q` for a backend with `caps`.
pub fn plan(q: &Query, caps: Capabilities) -> Plan {
    let (_, alternatives) = pipeline(&q.pipeline);
    let best = alternatives
        .into_iter()
        .map(|c| c.restrict(caps))
        .enumerate()
        .max_by_key(|(i, c)| (c.score(), std::cmp::Reverse(*i)))
        .map(|(_, c)| c)
        .unwrap_or_default();
    Plan { conditions: best }
}

/// (what every output span satisfies, conditions each guaranteed on some span of the trace)
type Facts = (Conditions, Vec<Conditions>);

fn pipeline(p: &Pipeline) -> Facts {
    let mut out = Conditions::default();
    let mut exists = Vec::new();
    for s in &p.stages {
        if let Stage::Spanset(e) = s {
            let (o, ex) = spanset(e);
            out = out.and(o);
            exists.extend(ex);
        }
    }
    exists.insert(0, out.clone());
    (out, exists)
}

fn spanset(e: &SpansetExpr) -> Facts {
    match e {
        SpansetExpr::Filter(f) => {
            let c = conditions(f);
            (c.clone(), vec![c])
        }
        SpansetExpr::Pipeline(p) => pipeline(p),
        SpansetExpr::Op { op, lhs, rhs } => {
            let (lo, lx) = spanset(lhs);
            let (ro, rx) = spanset(rhs);
            match op {
                SpansetOp::Or => {
                    let common = lo.common(&ro);
                    let mut ex = vec![common.clone()];
                    // some span of one side exists: what one alternative of each side share
                    for a in &lx {
                        for b in &rx {
                            ex.push(a.common(b));
                        }
                    }
                    (common, ex)
                }
                SpansetOp::And
                | SpansetOp::UnionChild
                | SpansetOp::UnionParent
                | SpansetOp::UnionDescendant
                | SpansetOp::UnionAncestor
                | SpansetOp::UnionSibling => {
                    let common = lo.common(&ro);
                    (common, lx.into_iter().chain(rx).collect())
                }
                SpansetOp::Child
                | SpansetOp::Parent
                | SpansetOp::Descendant
                | SpansetOp::Ancestor
                | SpansetOp::Sibling => (ro, lx.into_iter().chain(rx).collect()),
                SpansetOp::NotChild
                | SpansetOp::NotParent
                | SpansetOp::NotDescendant
                | SpansetOp::NotAncestor
                | SpansetOp::NotSibling => (ro, rx),
            }
        }
    }
}

/// The conditions a span satisfying `e` must meet.
fn conditions(e: &FieldExpr) -> Conditions {
    match e {
        FieldExpr::Binary {
            op: BinOp::And,
            lhs,
            rhs,
        } => conditions(lhs).and(conditions(rhs)),
        FieldExpr::Binary {
            op: BinOp::Or,
            lhs,
            rhs,
        } => conditions(lhs).common(&conditions(rhs)),
        FieldExpr::Binary { op, lhs, rhs } if op.is_comparison() => match (&**lhs, &**rhs) {
            (FieldExpr::Attr(a), FieldExpr::Static(s)) => comparison(a, *op, s),
            (FieldExpr::Static(s), FieldExpr::Attr(a)) => comparison(a, flip(*op), s),
            _ => Conditions::default(),
        },
        _ => Conditions::default(),
    }
}

fn flip(op: BinOp) -> BinOp {
    match op {
        BinOp::Lt => BinOp::Gt,
        BinOp::Le => BinOp::Ge,
        BinOp::Gt => BinOp::Lt,
        BinOp::Ge => BinOp::Le,
        other => other,
    }
}

/// Largest integer a double holds exactly: beyond it `int = float` and their texts disagree.
const EXACT: i64 = 1 << 53;

/// The text the store compares an attribute with, when TraceQL's `=` on this literal implies
/// the store's text equality (`AnyValue`'s `Display`).
fn literal_text(s: &Static) -> Option<String> {
    match s {
        Static::Str(v) => Some(v.clone()),
        Static::Bool(b) => Some(b.to_string()),
        // 0 is left out: a double -0.0 equals 0 but prints "-0"
        Static::Int(i) if *i != 0 && i.unsigned_abs() < EXACT as u64 => Some(i.to_string()),
        Static::Float(f) if *f != 0.0 && f.abs() < EXACT as f64 => Some(f.to_string()),
        _ => None,
    }
}

fn comparison(a: &Attr, op: BinOp, s: &Static) -> Conditions {
    let mut c = Conditions::default();
    match (a, op) {
        (Attr::Intrinsic(Intrinsic::Name), BinOp::Eq) => {
            if let Static::Str(n) = s {
                c.span_name = Some(n.clone());
            }
        }
        (Attr::Intrinsic(Intrinsic::Status), BinOp::Eq) => {
            c.errors_only = *s == Static::Status(weft_model::StatusCode::Error);
        }
        (Attr::Intrinsic(Intrinsic::Duration), op) => {
            let v = match s {
                Static::Duration(d) | Static::Int(d) => *d,
                _ => return c,
            };
            match op {
                BinOp::Eq if v >= 0 => {
                    c.min_duration_nanos = Some(v as u64);
                    c.max_duration_nanos = Some(v as u64);
                }
                BinOp::Gt if v >= 0 => c.min_duration_nanos = Some(v as u64 + 1),
                BinOp::Ge if v > 0 => c.min_duration_nanos = Some(v as u64),
                BinOp::Lt if v > 0 => c.max_duration_nanos = Some(v as u64 - 1),
                BinOp::Le if v >= 0 => c.max_duration_nanos = Some(v as u64),
                _ => {}
            }
        }
        (
            Attr::Attribute {
                scope: Scope::Resource,
                name,
            },
            BinOp::Eq,
        ) if name == weft_model::SERVICE_NAME => {
            if let Static::Str(v) = s {
                c.service = Some(v.clone());
            }
        }
        (
            Attr::Attribute {
                scope: Scope::Span | Scope::Resource | Scope::None,
                name,
            },
            BinOp::Eq,
        ) => {
            if let Some(t) = literal_text(s) {
                c.attributes.push((name.clone(), t));
            }
        }
        _ => {}
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse;

    /// The pushed-down store query of `q`, in a compact form.
    fn pushed(q: &str) -> String {
        let p = plan(&parse(q).unwrap(), Capabilities::ALL);
        let c = &p.conditions;
        let mut parts = Vec::new();
        if let Some(s) = &c.service {
            parts.push(format!("service={s}"));
        }
        if let Some(s) = &c.span_name {
            parts.push(format!("name={s}"));
        }
        for (k, v) in &c.attributes {
            parts.push(format!("{k}={v}"));
        }
        if let Some(d) = c.min_duration_nanos {
            parts.push(format!("min={d}"));
        }
        if let Some(d) = c.max_duration_nanos {
            parts.push(format!("max={d}"));
        }
        if c.errors_only {
            parts.push("errors".into());
        }
        parts.join(" ")
    }

    fn check(q: &str, expect: &str) {
        assert_eq!(pushed(q), expect, "{q}");
    }

    #[test]
    fn pushdown() {
        check(
            "{ resource.service.name = \"checkout\" && duration > 2s }",
            "service=checkout min=2000000001",
        );
        check("{ status = error }", "errors");
        check("status = error", "errors");
        check("duration > 2s", "min=2000000001");
        check(
            "{ duration >= 1ms && duration < 5ms }",
            "min=1000000 max=4999999",
        );
        check("{ 10ms >= duration }", "max=10000000");
        check("user.id = \"abc-123\"", "user.id=abc-123");
        check(
            "service.name = \"analysis-worker\"",
            "service.name=analysis-worker",
        );
        check("{ span.http.status_code = 500 }", "http.status_code=500");
        check("{ span.ratio = 0.5 && .ok = true }", "ratio=0.5 ok=true");
        check("{ span.n = 0 }", "");
        check("{ name = \"GET /\" && kind = server }", "name=GET /");
        // not pushed: regex, !=, ranges on attributes, negation
        check("{ name =~ \"GET.*\" }", "");
        check("{ span.http.status_code != 200 }", "");
        check("{ span.http.status_code >= 500 }", "");
        check("{ !(name = \"a\") }", "");
        check("{ status != ok }", "");
        // || inside a filter: only what both sides share
        check(
            "{ resource.service.name = \"a\" && (name = \"x\" || name = \"y\") }",
            "service=a",
        );
        check("{ name = \"x\" || name = \"y\" }", "");
        check(
            "{ duration > 1s && name = \"x\" || duration > 2s && name = \"x\" }",
            "name=x min=1000000001",
        );
        // between spansets: one side of &&, the common part of ||
        check(
            "{ resource.service.name = \"a\" } && { span.user.id = \"u1\" && status = error }",
            "user.id=u1 errors",
        );
        check(
            "{ resource.service.name = \"a\" && status = error } || { resource.service.name = \"a\" }",
            "service=a",
        );
        check("{ name = \"a\" } || { name = \"b\" }", "");
        // structural: either side; negated: only the right
        check(
            "{ resource.service.name = \"frontend\" } >> { status = error && span.db.system = \"redis\" }",
            "db.system=redis errors",
        );
        check(
            "{ span.db.system = \"redis\" } !> { status = error }",
            "errors",
        );
        check("{ span.db.system = \"redis\" } !>> { }", "");
        // pipelines: stages add up on the same output span
        check(
            "{ resource.service.name = \"a\" } | { name = \"x\" } | count() > 1",
            "service=a name=x",
        );
        check("{ } | count() > 10", "");
        check(
            "({ name = \"a\" } | count() > 1) && { span.k = \"v\" }",
            "k=v",
        );
    }

    #[test]
    fn respects_capabilities() {
        let q =
            parse("{ resource.service.name = \"a\" && name = \"x\" && duration > 1s }").unwrap();
        let caps = Capabilities {
            service: false,
            span_name: false,
            attributes: true,
            duration: false,
            status: true,
            time_range: false,
        };
        let p = plan(&q, caps);
        assert_eq!(
            p.conditions.attributes,
            vec![("service.name".to_string(), "a".to_string())]
        );
        assert_eq!(p.conditions.span_name, None);
        assert_eq!(p.conditions.min_duration_nanos, None);
        let sq = p.search_query(caps, Some(1), Some(2), 7);
        assert_eq!(
            (sq.start_unix_nano, sq.end_unix_nano, sq.limit),
            (None, None, 7)
        );
    }
}
