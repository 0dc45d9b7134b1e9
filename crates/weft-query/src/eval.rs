//! Evaluation of a query over one trace, with Tempo's semantics:
//!
//! - The pipeline starts from one spanset holding every span of the trace (within the time
//!   window, when one is given); each stage maps spansets to spansets; the trace matches when
//!   spansets remain at the end.
//! - A filter keeps the spans for which its expression is `true`. A comparison whose operands
//!   have different types is false (`.a = 200` does not match the string `"200"`); a missing
//!   attribute is `nil`, and `nil` is neither equal nor unequal to anything. Integers compare
//!   with floats and durations numerically. An array attribute matches `=` (and `<`, `=~`, …)
//!   when one element does, `!=` and `!~` when every element does.
//! - Unscoped `.x` reads the span's attribute, else the resource's. `event.`/`link.` values and
//!   `event:`/`link:` intrinsics are bound to one event (link) at a time: a filter matches when
//!   some event of the span satisfies it as a whole, so `{ event:name = "exception" &&
//!   event.exception.type = "IOError" }` needs both on the same event.
//! - Structural operators use the span tree of the whole trace (`weft_model::TraceTree`). A span
//!   whose parent is missing has no parent and no siblings; its own subtree keeps its links.
//!   Spans without a parent are not siblings of each other.
//! - Spans of a spanset are ordered by start time; `spans_per_spanset` keeps the first ones and
//!   `matched` counts them all.

use std::borrow::Cow;
use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;

use weft_model::{AnyValue, Batch, Event, Link, SpanId, SpanKind, StatusCode, TraceTree};

use crate::ast::*;
use crate::value::Value;

/// Options of one evaluation.
#[derive(Clone, Copy, Debug)]
pub struct EvalOptions {
    /// Spans returned per spanset (the others are only counted in `matched`).
    pub spans_per_spanset: usize,
    /// Only spans starting at or after this time (unix nanoseconds) take part.
    pub start_unix_nano: Option<u64>,
    /// Only spans starting at or before this time take part.
    pub end_unix_nano: Option<u64>,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            spans_per_spanset: 3,
            start_unix_nano: None,
            end_unix_nano: None,
        }
    }
}

/// A spanset of a result.
#[derive(Clone, Debug, PartialEq)]
pub struct Spanset {
    /// The first `spans_per_spanset` spans, by start time.
    pub spans: Vec<SpanMatch>,
    /// How many spans the spanset has.
    pub matched: usize,
    /// `by(…)` keys and aggregate values, e.g. `("count()", Int(3))`.
    pub attributes: Vec<(String, Value)>,
}

/// A span of a result, with the values the query read or selected.
#[derive(Clone, Debug, PartialEq)]
pub struct SpanMatch {
    pub span_id: SpanId,
    pub name: String,
    pub service: String,
    pub start_unix_nano: u64,
    pub duration_nanos: u64,
    /// Attributes and intrinsics named in filters and `select()` (absent values left out),
    /// keyed as [`Attr::result_key`] says.
    pub attributes: Vec<(String, Value)>,
}

/// Evaluates `query` over one trace and returns its matching spansets (none: no match).
pub fn evaluate(query: &Query, trace: &Batch, opts: &EvalOptions) -> Vec<Spanset> {
    let tree = TraceTree::new(trace);
    if tree.is_empty() {
        return Vec::new();
    }
    let t = Trace::new(tree);
    let initial: Vec<u32> = (0..t.tree.len() as u32)
        .filter(|&i| {
            let s = t.tree.nodes[i as usize].start();
            opts.start_unix_nano.is_none_or(|a| s >= a) && opts.end_unix_nano.is_none_or(|b| s <= b)
        })
        .collect();
    if initial.is_empty() {
        return Vec::new();
    }
    let sets = t.pipeline(
        &query.pipeline,
        vec![Set {
            spans: initial,
            attrs: Vec::new(),
        }],
    );
    if sets.is_empty() {
        return Vec::new();
    }
    let outputs = output_attrs(query);
    sets.into_iter()
        .map(|s| {
            let matched = s.spans.len();
            let spans = s
                .spans
                .iter()
                .take(opts.spans_per_spanset.max(1))
                .map(|&n| t.span_match(n as usize, &outputs))
                .collect();
            Spanset {
                spans,
                matched,
                attributes: s.attrs,
            }
        })
        .collect()
}

/// The attributes reported on result spans: those read by filters, then the selected ones.
fn output_attrs(q: &Query) -> Vec<Attr> {
    fn pipeline(p: &Pipeline, out: &mut Vec<Attr>) {
        for s in &p.stages {
            match s {
                Stage::Spanset(e) => spanset(e, out),
                Stage::Select(attrs) => out.extend(attrs.iter().cloned()),
                _ => {}
            }
        }
    }
    fn spanset(e: &SpansetExpr, out: &mut Vec<Attr>) {
        match e {
            SpansetExpr::Filter(f) => f.visit_attrs(&mut |a| {
                if !matches!(a, Attr::Intrinsic(Intrinsic::Name | Intrinsic::Duration))
                    && !matches!(a, Attr::Intrinsic(i) if i.is_trace_level())
                {
                    out.push(a.clone())
                }
            }),
            SpansetExpr::Op { lhs, rhs, .. } => {
                spanset(lhs, out);
                spanset(rhs, out);
            }
            SpansetExpr::Pipeline(p) => pipeline(p, out),
        }
    }
    let mut all = Vec::new();
    pipeline(&q.pipeline, &mut all);
    let mut seen = std::collections::HashSet::new();
    all.retain(|a| seen.insert(a.result_key()));
    all
}

#[derive(Clone, Debug)]
struct Set {
    /// Node indexes, ascending (= by start time).
    spans: Vec<u32>,
    attrs: Vec<(String, Value)>,
}

/// A value during evaluation, borrowing from the trace and the query.
#[derive(Clone, Debug)]
enum Val<'x> {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Dur(i64),
    Str(Cow<'x, str>),
    Status(StatusCode),
    Kind(SpanKind),
    Arr(&'x [AnyValue]),
}

impl<'x> Val<'x> {
    fn from_any(v: &'x AnyValue) -> Val<'x> {
        match v {
            AnyValue::String(s) => Val::Str(Cow::Borrowed(s)),
            AnyValue::Bool(b) => Val::Bool(*b),
            AnyValue::Int(i) => Val::Int(*i),
            AnyValue::Double(d) => Val::Float(*d),
            AnyValue::Array(a) => Val::Arr(a),
            AnyValue::Empty | AnyValue::Bytes(_) | AnyValue::KvList(_) => Val::Nil,
        }
    }
    fn from_static(s: &'x Static) -> Val<'x> {
        match s {
            Static::Bool(b) => Val::Bool(*b),
            Static::Int(i) => Val::Int(*i),
            Static::Float(f) => Val::Float(*f),
            Static::Str(s) => Val::Str(Cow::Borrowed(s)),
            Static::Duration(d) => Val::Dur(*d),
            Static::Status(s) => Val::Status(*s),
            Static::Kind(k) => Val::Kind(*k),
        }
    }
    fn to_value(&self) -> Value {
        match self {
            Val::Nil => Value::Nil,
            Val::Bool(b) => Value::Bool(*b),
            Val::Int(i) => Value::Int(*i),
            Val::Float(f) => Value::Float(*f),
            Val::Dur(d) => Value::Duration(*d),
            Val::Str(s) => Value::Str(s.to_string()),
            Val::Status(s) => Value::Status(*s),
            Val::Kind(k) => Value::Kind(*k),
            Val::Arr(a) => Value::Array(a.iter().map(Value::from_any).collect()),
        }
    }
    fn is_true(&self) -> bool {
        matches!(self, Val::Bool(true))
    }
    fn is_numeric(&self) -> bool {
        matches!(self, Val::Int(_) | Val::Float(_) | Val::Dur(_))
    }
    fn as_f64(&self) -> f64 {
        match self {
            Val::Int(i) | Val::Dur(i) => *i as f64,
            Val::Float(f) => *f,
            _ => f64::NAN,
        }
    }
}

fn same_kind(l: &Val<'_>, r: &Val<'_>) -> bool {
    std::mem::discriminant(l) == std::mem::discriminant(r)
}

/// Tempo's `isMatchingOperand` on runtime values.
fn matching(l: &Val<'_>, r: &Val<'_>) -> bool {
    matches!(l, Val::Nil)
        || matches!(r, Val::Nil)
        || same_kind(l, r)
        || (l.is_numeric() && r.is_numeric())
}

/// Tempo's `binaryTypeValid` on runtime values.
fn valid(op: BinOp, v: &Val<'_>) -> bool {
    match v {
        Val::Nil => matches!(op, BinOp::Eq | BinOp::Ne),
        Val::Bool(_) => matches!(op, BinOp::And | BinOp::Or | BinOp::Eq | BinOp::Ne),
        Val::Int(_) | Val::Float(_) | Val::Dur(_) => !matches!(op, BinOp::And | BinOp::Or),
        Val::Str(_) => op.is_comparison(),
        Val::Status(_) | Val::Kind(_) => matches!(op, BinOp::Eq | BinOp::Ne),
        Val::Arr(_) => true,
    }
}

fn equals(l: &Val<'_>, r: &Val<'_>) -> bool {
    match (l, r) {
        (Val::Nil, _) | (_, Val::Nil) => false,
        (Val::Int(a) | Val::Dur(a), Val::Int(b) | Val::Dur(b)) => a == b,
        (Val::Float(_), _) | (_, Val::Float(_)) if l.is_numeric() && r.is_numeric() => {
            l.as_f64() == r.as_f64()
        }
        (Val::Bool(a), Val::Bool(b)) => a == b,
        (Val::Str(a), Val::Str(b)) => a == b,
        (Val::Status(a), Val::Status(b)) => a == b,
        (Val::Kind(a), Val::Kind(b)) => a == b,
        _ => false,
    }
}

fn cmp_result<T: PartialOrd>(op: BinOp, a: T, b: T) -> bool {
    match op {
        BinOp::Lt => a < b,
        BinOp::Le => a <= b,
        BinOp::Gt => a > b,
        BinOp::Ge => a >= b,
        _ => false,
    }
}

fn binary<'x>(op: BinOp, l: Val<'x>, r: Val<'x>) -> Val<'x> {
    let fail = || {
        if op.is_boolean() {
            Val::Bool(false)
        } else {
            Val::Nil
        }
    };
    match (&l, &r) {
        (Val::Arr(_), Val::Arr(_)) => return fail(),
        (Val::Arr(a), _) => return array_op(op, a, &r, true),
        (_, Val::Arr(a)) => return array_op(op, a, &l, false),
        _ => {}
    }
    if !matching(&l, &r) || !valid(op, &l) || !valid(op, &r) {
        return fail();
    }
    match (&l, &r) {
        (Val::Str(a), Val::Str(b)) => Val::Bool(match op {
            BinOp::Eq => a == b,
            BinOp::Ne => a != b,
            _ => cmp_result(op, a.as_ref(), b.as_ref()),
        }),
        (Val::Int(a), Val::Int(b)) | (Val::Dur(a), Val::Dur(b)) if op.is_comparison() => {
            Val::Bool(match op {
                BinOp::Eq => a == b,
                BinOp::Ne => a != b,
                _ => cmp_result(op, a, b),
            })
        }
        (Val::Int(a), Val::Int(b)) => {
            let (a, b) = (*a, *b);
            match op {
                BinOp::Add => Val::Int(a.wrapping_add(b)),
                BinOp::Sub => Val::Int(a.wrapping_sub(b)),
                BinOp::Mul => Val::Int(a.wrapping_mul(b)),
                BinOp::Div if b == 0 => Val::Nil,
                BinOp::Div => Val::Int(a.wrapping_div(b)),
                BinOp::Mod if b == 0 => Val::Nil,
                BinOp::Mod => Val::Int(a.wrapping_rem(b)),
                BinOp::Pow => match u32::try_from(b).ok().and_then(|e| a.checked_pow(e)) {
                    Some(v) => Val::Int(v),
                    None => Val::Float((a as f64).powf(b as f64)),
                },
                _ => Val::Nil,
            }
        }
        (Val::Bool(a), Val::Bool(b)) => Val::Bool(match op {
            BinOp::And => *a && *b,
            BinOp::Or => *a || *b,
            BinOp::Eq => a == b,
            BinOp::Ne => a != b,
            _ => false,
        }),
        _ => {
            let (a, b) = (l.as_f64(), r.as_f64());
            match op {
                BinOp::Eq => Val::Bool(equals(&l, &r)),
                BinOp::Ne => {
                    Val::Bool(!matches!(l, Val::Nil) && !matches!(r, Val::Nil) && !equals(&l, &r))
                }
                BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => Val::Bool(cmp_result(op, a, b)),
                BinOp::Add => Val::Float(a + b),
                BinOp::Sub => Val::Float(a - b),
                BinOp::Mul => Val::Float(a * b),
                BinOp::Div => Val::Float(a / b),
                BinOp::Mod => Val::Float(a % b),
                BinOp::Pow => Val::Float(a.powf(b)),
                BinOp::And | BinOp::Or => Val::Bool(false),
            }
        }
    }
}

/// An operation between an array and a scalar: `=` and the orderings hold when one element
/// satisfies them, `!=` when all do.
fn array_op<'x>(op: BinOp, arr: &'x [AnyValue], scalar: &Val<'x>, array_left: bool) -> Val<'x> {
    if !op.is_boolean() {
        return Val::Nil;
    }
    let test = |e: &'x AnyValue| {
        let ev = match e {
            AnyValue::Array(_) => Val::Nil,
            e => Val::from_any(e),
        };
        let r = if array_left {
            binary(op, ev, scalar.clone())
        } else {
            binary(op, scalar.clone(), ev)
        };
        r.is_true()
    };
    Val::Bool(if op == BinOp::Ne {
        arr.iter().all(test)
    } else {
        arr.iter().any(test)
    })
}

/// Indexes of the event and the link a filter matched a span with.
type Binding = (Option<usize>, Option<usize>);

/// One trace prepared for evaluation.
struct Trace<'a> {
    tree: TraceTree<'a>,
    /// Node indexes in pre-order (parents before children), computed when first needed.
    preorder: OnceCell<Vec<usize>>,
    trace_id_hex: String,
    duration: i64,
    root: Option<usize>,
    /// node → (event, link) indexes that made a filter match it.
    bindings: RefCell<HashMap<usize, Binding>>,
}

/// The span (and the event and link it is bound to) an expression is evaluated on.
#[derive(Clone, Copy)]
struct At<'x> {
    node: usize,
    event: Option<&'x Event>,
    link: Option<&'x Link>,
}

impl<'a> Trace<'a> {
    fn new(tree: TraceTree<'a>) -> Trace<'a> {
        let (start, end) = tree.bounds();
        let root = tree
            .roots
            .iter()
            .copied()
            .find(|&r| tree.nodes[r].span.span.parent_span_id.is_none());
        let trace_id_hex = tree.nodes[0].span.span.trace_id.to_hex();
        Trace {
            preorder: OnceCell::new(),
            trace_id_hex,
            duration: end.saturating_sub(start) as i64,
            root,
            tree,
            bindings: RefCell::new(HashMap::new()),
        }
    }

    fn attr<'x>(&'x self, a: &'x Attr, at: At<'x>) -> Val<'x> {
        let node = &self.tree.nodes[at.node];
        let r = &node.span;
        let span = r.span;
        let find = |attrs: &'x [weft_model::KeyValue], key: &str| -> Val<'x> {
            attrs
                .iter()
                .find(|kv| kv.key == key)
                .map(|kv| Val::from_any(&kv.value))
                .unwrap_or(Val::Nil)
        };
        // a resource without service.name belongs to "unknown_service" (OTel), as the store
        // and the summaries say
        let resource_attr = |key: &str| match find(&r.resource.attributes, key) {
            Val::Nil if key == weft_model::SERVICE_NAME => {
                Val::Str(Cow::Borrowed(r.resource.service_name()))
            }
            v => v,
        };
        match a {
            Attr::Attribute { scope, name } => match scope {
                Scope::Span => find(&span.attributes, name),
                Scope::Resource => resource_attr(name),
                Scope::None => match find(&span.attributes, name) {
                    Val::Nil => resource_attr(name),
                    v => v,
                },
                Scope::Event => at.event.map_or(Val::Nil, |e| find(&e.attributes, name)),
                Scope::Link => at.link.map_or(Val::Nil, |l| find(&l.attributes, name)),
                Scope::Instrumentation => find(&r.scope.attributes, name),
            },
            Attr::Intrinsic(i) => match i {
                Intrinsic::Name => Val::Str(Cow::Borrowed(&span.name)),
                Intrinsic::Status => Val::Status(span.status.code),
                Intrinsic::StatusMessage => Val::Str(Cow::Borrowed(&span.status.message)),
                Intrinsic::Kind => Val::Kind(span.kind),
                Intrinsic::Duration => Val::Dur(span.duration_nanos() as i64),
                Intrinsic::SpanId => Val::Str(Cow::Owned(span.span_id.to_hex())),
                Intrinsic::ParentId => Val::Str(match span.parent_span_id {
                    Some(p) => Cow::Owned(p.to_hex()),
                    None => Cow::Borrowed(""),
                }),
                Intrinsic::ChildCount => Val::Int(node.children.len() as i64),
                Intrinsic::TraceId => Val::Str(Cow::Borrowed(&self.trace_id_hex)),
                Intrinsic::TraceDuration => Val::Dur(self.duration),
                Intrinsic::TraceRootName => self.root.map_or(Val::Nil, |n| {
                    Val::Str(Cow::Borrowed(&self.tree.nodes[n].span.span.name))
                }),
                Intrinsic::TraceRootService => self.root.map_or(Val::Nil, |n| {
                    Val::Str(Cow::Borrowed(self.tree.nodes[n].service()))
                }),
                Intrinsic::EventName => at
                    .event
                    .map_or(Val::Nil, |e| Val::Str(Cow::Borrowed(&e.name))),
                Intrinsic::EventTimeSinceStart => at.event.map_or(Val::Nil, |e| {
                    Val::Dur(e.time_unix_nano as i64 - span.start_time_unix_nano as i64)
                }),
                Intrinsic::LinkTraceId => at
                    .link
                    .map_or(Val::Nil, |l| Val::Str(Cow::Owned(l.trace_id.to_hex()))),
                Intrinsic::LinkSpanId => at
                    .link
                    .map_or(Val::Nil, |l| Val::Str(Cow::Owned(l.span_id.to_hex()))),
                Intrinsic::InstrumentationName => Val::Str(Cow::Borrowed(&r.scope.name)),
                Intrinsic::InstrumentationVersion => Val::Str(Cow::Borrowed(&r.scope.version)),
            },
        }
    }

    fn field<'x>(&'x self, e: &'x FieldExpr, at: At<'x>) -> Val<'x> {
        match e {
            FieldExpr::Static(s) => Val::from_static(s),
            FieldExpr::Attr(a) => self.attr(a, at),
            FieldExpr::Binary { op, lhs, rhs } => {
                let l = self.field(lhs, at);
                match (op, &l) {
                    (BinOp::And, Val::Bool(false)) => return Val::Bool(false),
                    (BinOp::Or, Val::Bool(true)) => return Val::Bool(true),
                    _ => {}
                }
                let r = self.field(rhs, at);
                binary(*op, l, r)
            }
            FieldExpr::Regex {
                negated,
                lhs,
                pattern,
            } => Val::Bool(match self.field(lhs, at) {
                Val::Str(s) => pattern.is_match(&s) != *negated,
                Val::Arr(a) => {
                    let m = |v: &AnyValue| match v {
                        AnyValue::String(s) => pattern.is_match(s) != *negated,
                        _ => false,
                    };
                    if *negated {
                        a.iter().all(m)
                    } else {
                        a.iter().any(m)
                    }
                }
                _ => false,
            }),
            FieldExpr::Neg(e) => match self.field(e, at) {
                Val::Int(i) => Val::Int(i.wrapping_neg()),
                Val::Float(f) => Val::Float(-f),
                Val::Dur(d) => Val::Dur(d.wrapping_neg()),
                _ => Val::Nil,
            },
            FieldExpr::Not(e) => match self.field(e, at) {
                Val::Bool(b) => Val::Bool(!b),
                _ => Val::Nil,
            },
            FieldExpr::Exists(e) => Val::Bool(!matches!(self.field(e, at), Val::Nil)),
            FieldExpr::NotExists(e) => Val::Bool(matches!(self.field(e, at), Val::Nil)),
        }
    }

    /// Whether the filter holds for the span: for some event and link of it when it reads
    /// event or link values (the first event and link that satisfy it are remembered, so the
    /// result shows their values).
    fn filter_matches(&self, e: &FieldExpr, events: bool, links: bool, node: usize) -> bool {
        let span = self.tree.nodes[node].span.span;
        let ev_choices = if events && !span.events.is_empty() {
            span.events.len()
        } else {
            1
        };
        let link_choices = if links && !span.links.is_empty() {
            span.links.len()
        } else {
            1
        };
        for ei in 0..ev_choices {
            let event = (events && !span.events.is_empty()).then(|| &span.events[ei]);
            for li in 0..link_choices {
                let link = (links && !span.links.is_empty()).then(|| &span.links[li]);
                if self.field(e, At { node, event, link }).is_true() {
                    if event.is_some() || link.is_some() {
                        self.bindings
                            .borrow_mut()
                            .entry(node)
                            .or_insert((event.map(|_| ei), link.map(|_| li)));
                    }
                    return true;
                }
            }
        }
        false
    }

    /// The value of `e` for a span outside filters (aggregates, `by`, output): bound to the
    /// first event and link that give a value.
    fn value(&self, e: &FieldExpr, node: usize) -> Value {
        let span = self.tree.nodes[node].span.span;
        let mut uses_event = false;
        let mut uses_link = false;
        e.visit_attrs(&mut |a| {
            uses_event |= a.uses_event();
            uses_link |= a.uses_link();
        });
        if !uses_event && !uses_link {
            let at = At {
                node,
                event: None,
                link: None,
            };
            return self.field(e, at).to_value();
        }
        let (bound_event, bound_link) = self
            .bindings
            .borrow()
            .get(&node)
            .copied()
            .unwrap_or((None, None));
        // the bound event (link) first, then the others in order
        let order = |n: usize, first: Option<usize>| -> Vec<usize> {
            first
                .into_iter()
                .chain((0..n).filter(|i| Some(*i) != first))
                .collect()
        };
        let events: Vec<Option<&Event>> = if uses_event && !span.events.is_empty() {
            order(span.events.len(), bound_event)
                .into_iter()
                .map(|i| Some(&span.events[i]))
                .collect()
        } else {
            vec![None]
        };
        let links: Vec<Option<&Link>> = if uses_link && !span.links.is_empty() {
            order(span.links.len(), bound_link)
                .into_iter()
                .map(|i| Some(&span.links[i]))
                .collect()
        } else {
            vec![None]
        };
        for ev in &events {
            for l in &links {
                let v = self.field(
                    e,
                    At {
                        node,
                        event: *ev,
                        link: *l,
                    },
                );
                if !matches!(v, Val::Nil) {
                    return v.to_value();
                }
            }
        }
        Value::Nil
    }

    fn span_match(&self, node: usize, outputs: &[Attr]) -> SpanMatch {
        let n = &self.tree.nodes[node];
        let span = n.span.span;
        let attributes = outputs
            .iter()
            .filter_map(|a| {
                let v = self.value(&FieldExpr::Attr(a.clone()), node);
                (!v.is_nil()).then(|| (a.result_key(), v))
            })
            .collect();
        SpanMatch {
            span_id: span.span_id,
            name: span.name.to_string(),
            service: n.service().to_string(),
            start_unix_nano: span.start_time_unix_nano,
            duration_nanos: span.duration_nanos(),
            attributes,
        }
    }

    fn pipeline(&self, p: &Pipeline, mut sets: Vec<Set>) -> Vec<Set> {
        for stage in &p.stages {
            if sets.is_empty() {
                break;
            }
            sets = self.stage(stage, sets);
        }
        sets
    }

    fn stage(&self, stage: &Stage, sets: Vec<Set>) -> Vec<Set> {
        match stage {
            Stage::Spanset(e) => sets.iter().flat_map(|s| self.spanset(e, s)).collect(),
            Stage::Select(_) => sets,
            Stage::Coalesce => {
                let mut spans: Vec<u32> = sets.into_iter().flat_map(|s| s.spans).collect();
                spans.sort_unstable();
                spans.dedup();
                vec![Set {
                    spans,
                    attrs: Vec::new(),
                }]
            }
            Stage::By(e) => {
                let name = format!("by({e})");
                let mut out = Vec::new();
                for s in sets {
                    let mut groups: Vec<(Value, Vec<u32>)> = Vec::new();
                    let mut index: HashMap<String, usize> = HashMap::new();
                    for &n in &s.spans {
                        let v = self.value(e, n as usize);
                        let k = v.group_key();
                        match index.get(&k) {
                            Some(&g) => groups[g].1.push(n),
                            None => {
                                index.insert(k, groups.len());
                                groups.push((v, vec![n]));
                            }
                        }
                    }
                    for (v, spans) in groups {
                        let mut attrs = s.attrs.clone();
                        attrs.push((name.clone(), v));
                        out.push(Set { spans, attrs });
                    }
                }
                out
            }
            Stage::ScalarFilter {
                aggregate,
                op,
                value,
            } => {
                let name = aggregate.to_string();
                sets.into_iter()
                    .filter_map(|mut s| {
                        let v = self.aggregate(aggregate, &s.spans)?;
                        let keep = {
                            let lv = value_as_val(&v);
                            binary(op.bin_op(), lv, Val::from_static(value)).is_true()
                        };
                        keep.then(|| {
                            s.attrs.push((name.clone(), v));
                            s
                        })
                    })
                    .collect()
            }
        }
    }

    fn aggregate(&self, a: &Aggregate, spans: &[u32]) -> Option<Value> {
        let Some(e) = &a.expr else {
            return Some(Value::Int(spans.len() as i64));
        };
        let vals = spans
            .iter()
            .map(|&n| self.value(e, n as usize))
            .filter(|v| matches!(v, Value::Int(_) | Value::Float(_) | Value::Duration(_)));
        match a.func {
            AggFunc::Count => unreachable!("count has no expression"),
            AggFunc::Min | AggFunc::Max => {
                let mut best: Option<Value> = None;
                for v in vals {
                    let better = match &best {
                        None => true,
                        Some(b) => {
                            let ord = num_cmp(&v, b);
                            if a.func == AggFunc::Min {
                                ord == std::cmp::Ordering::Less
                            } else {
                                ord == std::cmp::Ordering::Greater
                            }
                        }
                    };
                    if better {
                        best = Some(v);
                    }
                }
                best
            }
            AggFunc::Sum | AggFunc::Avg => {
                let mut sum: Option<Value> = None;
                let mut count = 0i64;
                for v in vals {
                    sum = Some(match (sum, v) {
                        (None, v) => v,
                        (Some(Value::Int(a)), Value::Int(b)) => Value::Int(a.wrapping_add(b)),
                        (Some(Value::Duration(a)), Value::Duration(b)) => {
                            Value::Duration(a.wrapping_add(b))
                        }
                        (Some(Value::Float(a)), Value::Float(b)) => Value::Float(a + b),
                        // values of another type than the first are left out, as in Tempo
                        (Some(s), _) => {
                            count -= 1;
                            s
                        }
                    });
                    count += 1;
                }
                let sum = sum?;
                if a.func == AggFunc::Sum {
                    return Some(sum);
                }
                Some(match sum {
                    Value::Int(s) => Value::Float(s as f64 / count as f64),
                    Value::Duration(s) => Value::Duration(s / count),
                    Value::Float(s) => Value::Float(s / count as f64),
                    other => other,
                })
            }
        }
    }

    /// Spans of `s` that satisfy the spanset expression.
    fn spanset(&self, e: &SpansetExpr, s: &Set) -> Vec<Set> {
        let keep = |spans: Vec<u32>| {
            if spans.is_empty() {
                Vec::new()
            } else {
                vec![Set {
                    spans,
                    attrs: s.attrs.clone(),
                }]
            }
        };
        match e {
            SpansetExpr::Filter(f) => {
                if let FieldExpr::Static(Static::Bool(true)) = f {
                    return vec![s.clone()];
                }
                let mut events = false;
                let mut links = false;
                f.visit_attrs(&mut |a| {
                    events |= a.uses_event();
                    links |= a.uses_link();
                });
                keep(
                    s.spans
                        .iter()
                        .copied()
                        .filter(|&n| self.filter_matches(f, events, links, n as usize))
                        .collect(),
                )
            }
            SpansetExpr::Pipeline(p) => self.pipeline(p, vec![s.clone()]),
            SpansetExpr::Op { op, lhs, rhs } => {
                let l = self.spanset(lhs, s);
                let r = self.spanset(rhs, s);
                match op {
                    SpansetOp::And if l.is_empty() || r.is_empty() => Vec::new(),
                    SpansetOp::And | SpansetOp::Or => keep(union(flatten(&l), flatten(&r))),
                    _ => keep(self.structural(*op, &flatten(&l), &flatten(&r))),
                }
            }
        }
    }

    fn preorder(&self) -> &[usize] {
        self.preorder.get_or_init(|| self.tree.preorder())
    }

    fn membership(&self, spans: &[u32]) -> Vec<bool> {
        let mut m = vec![false; self.tree.len()];
        for &i in spans {
            m[i as usize] = true;
        }
        m
    }

    fn parent(&self, i: usize) -> Option<usize> {
        self.tree.nodes[i].parent
    }

    /// Spans of `of` whose parent is in `m`.
    fn with_parent_in(&self, m: &[bool], of: &[u32]) -> Vec<u32> {
        of.iter()
            .copied()
            .filter(|&i| self.parent(i as usize).is_some_and(|p| m[p]))
            .collect()
    }
    /// Spans of `of` with a child in `m`.
    fn with_child_in(&self, m: &[bool], of: &[u32]) -> Vec<u32> {
        of.iter()
            .copied()
            .filter(|&i| self.tree.nodes[i as usize].children.iter().any(|&c| m[c]))
            .collect()
    }
    /// Spans of `of` with an ancestor in `m`.
    fn with_ancestor_in(&self, m: &[bool], of: &[u32]) -> Vec<u32> {
        let mut below = vec![false; self.tree.len()];
        for &i in self.preorder() {
            if let Some(p) = self.parent(i) {
                below[i] = m[p] || below[p];
            }
        }
        of.iter().copied().filter(|&i| below[i as usize]).collect()
    }
    /// Spans of `of` with a descendant in `m`.
    fn with_descendant_in(&self, m: &[bool], of: &[u32]) -> Vec<u32> {
        let mut above = vec![false; self.tree.len()];
        for &i in self.preorder().iter().rev() {
            if let Some(p) = self.parent(i) {
                if m[i] || above[i] {
                    above[p] = true;
                }
            }
        }
        of.iter().copied().filter(|&i| above[i as usize]).collect()
    }
    /// Spans of `of` with a sibling (another child of the same parent) in `m`.
    fn with_sibling_in(&self, m: &[bool], of: &[u32]) -> Vec<u32> {
        let mut count = vec![0u32; self.tree.len()];
        for (i, &inside) in m.iter().enumerate() {
            if inside {
                if let Some(p) = self.parent(i) {
                    count[p] += 1;
                }
            }
        }
        of.iter()
            .copied()
            .filter(|&i| {
                let i = i as usize;
                self.parent(i).is_some_and(|p| count[p] > u32::from(m[i]))
            })
            .collect()
    }

    fn structural(&self, op: SpansetOp, l: &[u32], r: &[u32]) -> Vec<u32> {
        let lm = self.membership(l);
        let minus = |all: &[u32], drop: Vec<u32>| -> Vec<u32> {
            let d = self.membership(&drop);
            all.iter().copied().filter(|&i| !d[i as usize]).collect()
        };
        match op {
            SpansetOp::Child => self.with_parent_in(&lm, r),
            SpansetOp::Parent => self.with_child_in(&lm, r),
            SpansetOp::Descendant => self.with_ancestor_in(&lm, r),
            SpansetOp::Ancestor => self.with_descendant_in(&lm, r),
            SpansetOp::Sibling => self.with_sibling_in(&lm, r),
            SpansetOp::NotChild => minus(r, self.with_parent_in(&lm, r)),
            SpansetOp::NotParent => minus(r, self.with_child_in(&lm, r)),
            SpansetOp::NotDescendant => minus(r, self.with_ancestor_in(&lm, r)),
            SpansetOp::NotAncestor => minus(r, self.with_descendant_in(&lm, r)),
            SpansetOp::NotSibling => minus(r, self.with_sibling_in(&lm, r)),
            SpansetOp::UnionChild => {
                let rs = self.with_parent_in(&lm, r);
                let ls = self.with_child_in(&self.membership(&rs), l);
                union(rs, ls)
            }
            SpansetOp::UnionParent => {
                let rs = self.with_child_in(&lm, r);
                let ls = self.with_parent_in(&self.membership(&rs), l);
                union(rs, ls)
            }
            SpansetOp::UnionDescendant => {
                let rs = self.with_ancestor_in(&lm, r);
                let ls = self.with_descendant_in(&self.membership(&rs), l);
                union(rs, ls)
            }
            SpansetOp::UnionAncestor => {
                let rs = self.with_descendant_in(&lm, r);
                let ls = self.with_ancestor_in(&self.membership(&rs), l);
                union(rs, ls)
            }
            SpansetOp::UnionSibling => {
                let rs = self.with_sibling_in(&lm, r);
                let ls = self.with_sibling_in(&self.membership(r), l);
                union(rs, ls)
            }
            SpansetOp::And | SpansetOp::Or => unreachable!("logical operators are handled apart"),
        }
    }
}

fn flatten(sets: &[Set]) -> Vec<u32> {
    let mut v: Vec<u32> = sets.iter().flat_map(|s| s.spans.iter().copied()).collect();
    v.sort_unstable();
    v.dedup();
    v
}

fn union(mut a: Vec<u32>, b: Vec<u32>) -> Vec<u32> {
    a.extend(b);
    a.sort_unstable();
    a.dedup();
    a
}

fn num_cmp(a: &Value, b: &Value) -> std::cmp::Ordering {
    let f = |v: &Value| match v {
        Value::Int(i) | Value::Duration(i) => *i as f64,
        Value::Float(x) => *x,
        _ => f64::NAN,
    };
    match (a, b) {
        (Value::Int(x), Value::Int(y)) | (Value::Duration(x), Value::Duration(y)) => x.cmp(y),
        _ => f(a).partial_cmp(&f(b)).unwrap_or(std::cmp::Ordering::Equal),
    }
}

fn value_as_val(v: &Value) -> Val<'_> {
    match v {
        Value::Nil | Value::Array(_) => Val::Nil,
        Value::Bool(b) => Val::Bool(*b),
        Value::Int(i) => Val::Int(*i),
        Value::Float(f) => Val::Float(*f),
        Value::Str(s) => Val::Str(Cow::Borrowed(s)),
        Value::Duration(d) => Val::Dur(*d),
        Value::Status(s) => Val::Status(*s),
        Value::Kind(k) => Val::Kind(*k),
    }
}
