//! The TraceQL syntax tree, and its canonical text form.
//!
//! `Display` prints a query so that parsing the text gives back an equal tree: binary
//! operations are fully parenthesized, strings and attribute names are quoted and escaped
//! where needed, durations use Go's spelling (`1h2m3.5s`), negative literals are wrapped.

use std::fmt;

use weft_model::{SpanKind, StatusCode};

/// A parsed query: a pipeline of stages, each fed the spansets of the one before.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    pub pipeline: Pipeline,
}

/// Stages joined by `|`.
#[derive(Clone, Debug, PartialEq)]
pub struct Pipeline {
    pub stages: Vec<Stage>,
}

/// One pipeline stage.
#[derive(Clone, Debug, PartialEq)]
pub enum Stage {
    /// A spanset expression: filters (`{ … }`) and the operators between them.
    Spanset(SpansetExpr),
    /// `count() > 2`, `avg(duration) >= 1s`: keeps the spansets whose aggregate compares true.
    ScalarFilter {
        aggregate: Aggregate,
        op: CmpOp,
        value: Static,
    },
    /// `by(resource.service.name)`: splits each spanset by the value of the expression.
    By(FieldExpr),
    /// `select(span.http.url, …)`: adds these values to the spans returned.
    Select(Vec<Attr>),
    /// `coalesce()`: merges the spansets of a trace into one.
    Coalesce,
}

/// A spanset expression.
#[derive(Clone, Debug, PartialEq)]
pub enum SpansetExpr {
    /// `{ expr }`: the spans for which `expr` is true (`{ }` keeps every span).
    Filter(FieldExpr),
    /// `lhs op rhs` between spansets.
    Op {
        op: SpansetOp,
        lhs: Box<SpansetExpr>,
        rhs: Box<SpansetExpr>,
    },
    /// A parenthesized pipeline used as an operand, e.g. `({ a } | count() > 2) && { b }`.
    Pipeline(Box<Pipeline>),
}

/// Operators between spansets. Structural ones return spans of the right-hand side (the
/// union forms `&…` return both sides' matching spans), as in Tempo.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SpansetOp {
    /// `&&`: both sides matched; returns the spans of both.
    And,
    /// `||`: either side matched; returns the spans of both.
    Or,
    /// `>`: right-hand spans whose parent matched the left.
    Child,
    /// `<`: right-hand spans that are the parent of a left-hand span.
    Parent,
    /// `>>`: right-hand spans with an ancestor on the left.
    Descendant,
    /// `<<`: right-hand spans with a descendant on the left.
    Ancestor,
    /// `~`: right-hand spans with a sibling (another child of the same parent) on the left.
    Sibling,
    NotChild,
    NotParent,
    NotDescendant,
    NotAncestor,
    NotSibling,
    UnionChild,
    UnionParent,
    UnionDescendant,
    UnionAncestor,
    UnionSibling,
}

impl SpansetOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            SpansetOp::And => "&&",
            SpansetOp::Or => "||",
            SpansetOp::Child => ">",
            SpansetOp::Parent => "<",
            SpansetOp::Descendant => ">>",
            SpansetOp::Ancestor => "<<",
            SpansetOp::Sibling => "~",
            SpansetOp::NotChild => "!>",
            SpansetOp::NotParent => "!<",
            SpansetOp::NotDescendant => "!>>",
            SpansetOp::NotAncestor => "!<<",
            SpansetOp::NotSibling => "!~",
            SpansetOp::UnionChild => "&>",
            SpansetOp::UnionParent => "&<",
            SpansetOp::UnionDescendant => "&>>",
            SpansetOp::UnionAncestor => "&<<",
            SpansetOp::UnionSibling => "&~",
        }
    }
    /// `&&` and `||` bind looser than the structural operators.
    pub(crate) fn precedence(self) -> u8 {
        match self {
            SpansetOp::And | SpansetOp::Or => 1,
            _ => 2,
        }
    }
}

/// Comparison operators of a scalar filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    pub fn symbol(self) -> &'static str {
        self.bin_op().symbol()
    }
    pub(crate) fn bin_op(self) -> BinOp {
        match self {
            CmpOp::Eq => BinOp::Eq,
            CmpOp::Ne => BinOp::Ne,
            CmpOp::Lt => BinOp::Lt,
            CmpOp::Le => BinOp::Le,
            CmpOp::Gt => BinOp::Gt,
            CmpOp::Ge => BinOp::Ge,
        }
    }
}

/// An aggregate over the spans of a spanset.
#[derive(Clone, Debug, PartialEq)]
pub struct Aggregate {
    pub func: AggFunc,
    /// The value aggregated; `None` for `count()`.
    pub expr: Option<FieldExpr>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AggFunc {
    Count,
    Avg,
    Min,
    Max,
    Sum,
}

impl AggFunc {
    pub fn name(self) -> &'static str {
        match self {
            AggFunc::Count => "count",
            AggFunc::Avg => "avg",
            AggFunc::Min => "min",
            AggFunc::Max => "max",
            AggFunc::Sum => "sum",
        }
    }
}

/// An expression evaluated on one span.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldExpr {
    Static(Static),
    Attr(Attr),
    Binary {
        op: BinOp,
        lhs: Box<FieldExpr>,
        rhs: Box<FieldExpr>,
    },
    /// `lhs =~ "re"` (or `!~` when `negated`): a fully anchored regular expression.
    Regex {
        negated: bool,
        lhs: Box<FieldExpr>,
        pattern: Pattern,
    },
    /// Unary minus.
    Neg(Box<FieldExpr>),
    /// `!expr`.
    Not(Box<FieldExpr>),
    /// `expr != nil`.
    Exists(Box<FieldExpr>),
    /// `expr = nil`.
    NotExists(Box<FieldExpr>),
}

/// Binary operators inside a spanset filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinOp {
    And,
    Or,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::And => "&&",
            BinOp::Or => "||",
            BinOp::Eq => "=",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Mod => "%",
            BinOp::Pow => "^",
        }
    }
    /// Operators whose result is a boolean.
    pub fn is_boolean(self) -> bool {
        matches!(
            self,
            BinOp::And
                | BinOp::Or
                | BinOp::Eq
                | BinOp::Ne
                | BinOp::Lt
                | BinOp::Le
                | BinOp::Gt
                | BinOp::Ge
        )
    }
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge
        )
    }
    pub fn is_arithmetic(self) -> bool {
        matches!(
            self,
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Mod | BinOp::Pow
        )
    }
}

/// A compiled regular expression, compared by its source text.
#[derive(Clone, Debug)]
pub struct Pattern {
    pub source: String,
    pub(crate) re: regex::Regex,
}

impl Pattern {
    /// Compiles `source` fully anchored (TraceQL regexes match the whole value).
    pub fn new(source: &str) -> Result<Pattern, regex::Error> {
        let re = regex::Regex::new(&format!("^(?:{source})$"))?;
        Ok(Pattern {
            source: source.to_string(),
            re,
        })
    }
    pub fn is_match(&self, s: &str) -> bool {
        self.re.is_match(s)
    }
}

impl PartialEq for Pattern {
    fn eq(&self, o: &Pattern) -> bool {
        self.source == o.source
    }
}

/// A literal.
#[derive(Clone, Debug, PartialEq)]
pub enum Static {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// Nanoseconds.
    Duration(i64),
    Status(StatusCode),
    Kind(SpanKind),
}

/// Where an attribute is looked up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// `.key`: the span's attribute, else its resource's.
    None,
    Span,
    Resource,
    /// `event.key`: an attribute of one of the span's events.
    Event,
    /// `link.key`: an attribute of one of the span's links.
    Link,
    /// `instrumentation.key`: an attribute of the instrumentation scope.
    Instrumentation,
}

impl Scope {
    pub fn prefix(self) -> &'static str {
        match self {
            Scope::None => ".",
            Scope::Span => "span.",
            Scope::Resource => "resource.",
            Scope::Event => "event.",
            Scope::Link => "link.",
            Scope::Instrumentation => "instrumentation.",
        }
    }
}

/// Values every span has (TraceQL's intrinsics).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Intrinsic {
    Name,
    Status,
    StatusMessage,
    Kind,
    Duration,
    SpanId,
    ParentId,
    ChildCount,
    TraceId,
    TraceDuration,
    TraceRootName,
    TraceRootService,
    EventName,
    EventTimeSinceStart,
    LinkTraceId,
    LinkSpanId,
    InstrumentationName,
    InstrumentationVersion,
}

impl Intrinsic {
    /// Every intrinsic, in the order they are documented.
    pub const ALL: [Intrinsic; 18] = [
        Intrinsic::Name,
        Intrinsic::Status,
        Intrinsic::StatusMessage,
        Intrinsic::Kind,
        Intrinsic::Duration,
        Intrinsic::SpanId,
        Intrinsic::ParentId,
        Intrinsic::ChildCount,
        Intrinsic::TraceId,
        Intrinsic::TraceDuration,
        Intrinsic::TraceRootName,
        Intrinsic::TraceRootService,
        Intrinsic::EventName,
        Intrinsic::EventTimeSinceStart,
        Intrinsic::LinkTraceId,
        Intrinsic::LinkSpanId,
        Intrinsic::InstrumentationName,
        Intrinsic::InstrumentationVersion,
    ];

    /// The canonical spelling (what `Display` prints).
    pub fn name(self) -> &'static str {
        match self {
            Intrinsic::Name => "name",
            Intrinsic::Status => "status",
            Intrinsic::StatusMessage => "statusMessage",
            Intrinsic::Kind => "kind",
            Intrinsic::Duration => "duration",
            Intrinsic::SpanId => "span:id",
            Intrinsic::ParentId => "span:parentID",
            Intrinsic::ChildCount => "span:childCount",
            Intrinsic::TraceId => "trace:id",
            Intrinsic::TraceDuration => "trace:duration",
            Intrinsic::TraceRootName => "trace:rootName",
            Intrinsic::TraceRootService => "trace:rootService",
            Intrinsic::EventName => "event:name",
            Intrinsic::EventTimeSinceStart => "event:timeSinceStart",
            Intrinsic::LinkTraceId => "link:traceID",
            Intrinsic::LinkSpanId => "link:spanID",
            Intrinsic::InstrumentationName => "instrumentation:name",
            Intrinsic::InstrumentationVersion => "instrumentation:version",
        }
    }

    /// The scoped spelling `scope:name`.
    pub fn scoped_name(self) -> &'static str {
        match self {
            Intrinsic::Name => "span:name",
            Intrinsic::Status => "span:status",
            Intrinsic::StatusMessage => "span:statusMessage",
            Intrinsic::Kind => "span:kind",
            Intrinsic::Duration => "span:duration",
            other => other.name(),
        }
    }

    /// Looks up `scope:name` (e.g. `span:name`, `trace:rootService`).
    pub fn from_scoped(scope: &str, name: &str) -> Option<Intrinsic> {
        Intrinsic::ALL.into_iter().find(|i| {
            i.scoped_name()
                .split_once(':')
                .is_some_and(|(s, n)| s == scope && n == name)
        })
    }

    /// Unscoped intrinsic names (`name`, `status`, …, and Tempo's older `rootName`,
    /// `rootServiceName` and `traceDuration`).
    pub fn from_unscoped(name: &str) -> Option<Intrinsic> {
        Some(match name {
            "name" => Intrinsic::Name,
            "status" => Intrinsic::Status,
            "statusMessage" => Intrinsic::StatusMessage,
            "kind" => Intrinsic::Kind,
            "duration" => Intrinsic::Duration,
            "rootName" => Intrinsic::TraceRootName,
            "rootServiceName" => Intrinsic::TraceRootService,
            "traceDuration" => Intrinsic::TraceDuration,
            _ => return None,
        })
    }

    /// The type of the intrinsic's values.
    pub(crate) fn ty(self) -> Ty {
        match self {
            Intrinsic::Name
            | Intrinsic::StatusMessage
            | Intrinsic::SpanId
            | Intrinsic::ParentId
            | Intrinsic::TraceId
            | Intrinsic::TraceRootName
            | Intrinsic::TraceRootService
            | Intrinsic::EventName
            | Intrinsic::LinkTraceId
            | Intrinsic::LinkSpanId
            | Intrinsic::InstrumentationName
            | Intrinsic::InstrumentationVersion => Ty::Str,
            Intrinsic::Status => Ty::Status,
            Intrinsic::Kind => Ty::Kind,
            Intrinsic::Duration | Intrinsic::TraceDuration | Intrinsic::EventTimeSinceStart => {
                Ty::Duration
            }
            Intrinsic::ChildCount => Ty::Int,
        }
    }

    /// Same value for every span of a trace.
    pub fn is_trace_level(self) -> bool {
        matches!(
            self,
            Intrinsic::TraceId
                | Intrinsic::TraceDuration
                | Intrinsic::TraceRootName
                | Intrinsic::TraceRootService
        )
    }
}

/// An intrinsic or a scoped attribute.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Attr {
    Intrinsic(Intrinsic),
    Attribute { scope: Scope, name: String },
}

impl Attr {
    /// A scoped attribute.
    pub fn attribute(scope: Scope, name: impl Into<String>) -> Attr {
        Attr::Attribute {
            scope,
            name: name.into(),
        }
    }
    /// Whether this reads an event's value (so a filter is tried against each event).
    pub fn uses_event(&self) -> bool {
        matches!(
            self,
            Attr::Intrinsic(Intrinsic::EventName | Intrinsic::EventTimeSinceStart)
                | Attr::Attribute {
                    scope: Scope::Event,
                    ..
                }
        )
    }
    /// Whether this reads a link's value.
    pub fn uses_link(&self) -> bool {
        matches!(
            self,
            Attr::Intrinsic(Intrinsic::LinkTraceId | Intrinsic::LinkSpanId)
                | Attr::Attribute {
                    scope: Scope::Link,
                    ..
                }
        )
    }
    /// The key this value has in results: the attribute name for span and unscoped
    /// attributes, `scope.name` for the other scopes, the TraceQL name for intrinsics.
    pub fn result_key(&self) -> String {
        match self {
            Attr::Intrinsic(i) => i.name().to_string(),
            Attr::Attribute {
                scope: Scope::None | Scope::Span,
                name,
            } => name.clone(),
            Attr::Attribute { scope, name } => format!("{}{name}", scope.prefix()),
        }
    }
}

/// Static types, as far as the parser can know them (`Attr` = known only per span).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ty {
    Bool,
    Int,
    Float,
    Duration,
    Str,
    Status,
    Kind,
    Attr,
}

impl Ty {
    pub(crate) fn is_numeric(self) -> bool {
        matches!(self, Ty::Int | Ty::Float | Ty::Duration)
    }
    /// "a duration", "a string", …: for messages.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Ty::Bool => "a boolean",
            Ty::Int => "an integer",
            Ty::Float => "a float",
            Ty::Duration => "a duration",
            Ty::Str => "a string",
            Ty::Status => "a status",
            Ty::Kind => "a span kind",
            Ty::Attr => "an attribute",
        }
    }
}

impl Static {
    pub(crate) fn ty(&self) -> Ty {
        match self {
            Static::Bool(_) => Ty::Bool,
            Static::Int(_) => Ty::Int,
            Static::Float(_) => Ty::Float,
            Static::Str(_) => Ty::Str,
            Static::Duration(_) => Ty::Duration,
            Static::Status(_) => Ty::Status,
            Static::Kind(_) => Ty::Kind,
        }
    }
    fn is_negative(&self) -> bool {
        match self {
            Static::Int(i) => *i < 0 && *i != i64::MIN,
            Static::Float(f) => f.is_sign_negative(),
            Static::Duration(d) => *d < 0,
            _ => false,
        }
    }
}

impl FieldExpr {
    /// Whether the expression reads anything of the span (an intrinsic or an attribute).
    pub fn references_span(&self) -> bool {
        let mut found = false;
        self.visit_attrs(&mut |_| found = true);
        found
    }
    /// Calls `f` for every attribute or intrinsic the expression reads.
    pub fn visit_attrs<'a>(&'a self, f: &mut impl FnMut(&'a Attr)) {
        match self {
            FieldExpr::Static(_) => {}
            FieldExpr::Attr(a) => f(a),
            FieldExpr::Binary { lhs, rhs, .. } => {
                lhs.visit_attrs(f);
                rhs.visit_attrs(f);
            }
            FieldExpr::Regex { lhs, .. } => lhs.visit_attrs(f),
            FieldExpr::Neg(e)
            | FieldExpr::Not(e)
            | FieldExpr::Exists(e)
            | FieldExpr::NotExists(e) => e.visit_attrs(f),
        }
    }
    fn is_atomic(&self) -> bool {
        match self {
            FieldExpr::Attr(_) => true,
            FieldExpr::Static(s) => !s.is_negative(),
            _ => false,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Display

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.pipeline)
    }
}

impl fmt::Display for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.stages.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{s}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stage::Spanset(e) => write!(f, "{e}"),
            Stage::ScalarFilter {
                aggregate,
                op,
                value,
            } => write!(f, "{aggregate} {} {value}", op.symbol()),
            Stage::By(e) => write!(f, "by({e})"),
            Stage::Select(attrs) => {
                f.write_str("select(")?;
                for (i, a) in attrs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{a}")?;
                }
                f.write_str(")")
            }
            Stage::Coalesce => f.write_str("coalesce()"),
        }
    }
}

impl fmt::Display for SpansetExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpansetExpr::Filter(FieldExpr::Static(Static::Bool(true))) => f.write_str("{ }"),
            SpansetExpr::Filter(e) => write!(f, "{{ {e} }}"),
            SpansetExpr::Op { op, lhs, rhs } => {
                let side = |f: &mut fmt::Formatter<'_>, e: &SpansetExpr| match e {
                    SpansetExpr::Op { .. } => write!(f, "({e})"),
                    _ => write!(f, "{e}"),
                };
                side(f, lhs)?;
                write!(f, " {} ", op.symbol())?;
                side(f, rhs)
            }
            SpansetExpr::Pipeline(p) => write!(f, "({p})"),
        }
    }
}

impl fmt::Display for Aggregate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.expr {
            None => write!(f, "{}()", self.func.name()),
            Some(e) => write!(f, "{}({e})", self.func.name()),
        }
    }
}

impl fmt::Display for FieldExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let wrapped = |f: &mut fmt::Formatter<'_>, e: &FieldExpr| {
            if e.is_atomic() {
                write!(f, "{e}")
            } else {
                write!(f, "({e})")
            }
        };
        match self {
            FieldExpr::Static(s) => write!(f, "{s}"),
            FieldExpr::Attr(a) => write!(f, "{a}"),
            FieldExpr::Binary { op, lhs, rhs } => {
                wrapped(f, lhs)?;
                write!(f, " {} ", op.symbol())?;
                wrapped(f, rhs)
            }
            FieldExpr::Regex {
                negated,
                lhs,
                pattern,
            } => {
                wrapped(f, lhs)?;
                write!(
                    f,
                    " {} {}",
                    if *negated { "!~" } else { "=~" },
                    quote_string(&pattern.source)
                )
            }
            FieldExpr::Neg(e) => {
                f.write_str("-")?;
                wrapped(f, e)
            }
            FieldExpr::Not(e) => {
                f.write_str("!")?;
                wrapped(f, e)
            }
            FieldExpr::Exists(e) => {
                wrapped(f, e)?;
                f.write_str(" != nil")
            }
            FieldExpr::NotExists(e) => {
                wrapped(f, e)?;
                f.write_str(" = nil")
            }
        }
    }
}

impl fmt::Display for Static {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Static::Bool(b) => write!(f, "{b}"),
            Static::Int(i64::MIN) => f.write_str("minInt"),
            Static::Int(i) => write!(f, "{i}"),
            Static::Float(x) => write!(f, "{x:?}"),
            Static::Str(s) => f.write_str(&quote_string(s)),
            Static::Duration(d) => f.write_str(&format_go_duration(*d)),
            Static::Status(s) => f.write_str(s.short_name()),
            Static::Kind(k) => f.write_str(k.short_name()),
        }
    }
}

impl fmt::Display for Attr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Attr::Intrinsic(i) => f.write_str(i.name()),
            Attr::Attribute { scope, name } => {
                f.write_str(scope.prefix())?;
                let needs_quotes = name.is_empty()
                    || name
                        .chars()
                        .any(|c| !crate::lexer::is_attribute_char(c) || c == '"')
                    || (*scope == Scope::None && name.starts_with(|c: char| c.is_ascii_digit()));
                if needs_quotes {
                    f.write_str("\"")?;
                    for c in name.chars() {
                        if c == '"' || c == '\\' {
                            f.write_str("\\")?;
                        }
                        write!(f, "{c}")?;
                    }
                    f.write_str("\"")
                } else {
                    f.write_str(name)
                }
            }
        }
    }
}

/// A string literal as TraceQL writes it, with Go's escapes.
pub fn quote_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Formats nanoseconds as Go's `time.Duration.String` does: `1h2m3.5s`, `1.5ms`, `250µs`,
/// `0s`. The result parses back to the same value.
pub fn format_go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let neg = nanos < 0;
    let u = nanos.unsigned_abs();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    let frac = |v: u64, scale: u64, digits: usize| -> String {
        let whole = v / scale;
        let rest = v % scale;
        if rest == 0 {
            whole.to_string()
        } else {
            let s = format!("{rest:0digits$}");
            format!("{whole}.{}", s.trim_end_matches('0'))
        }
    };
    if u < 1_000 {
        out.push_str(&format!("{u}ns"));
    } else if u < 1_000_000 {
        out.push_str(&frac(u, 1_000, 3));
        out.push_str("µs");
    } else if u < 1_000_000_000 {
        out.push_str(&frac(u, 1_000_000, 6));
        out.push_str("ms");
    } else {
        let h = u / 3_600_000_000_000;
        let m = (u / 60_000_000_000) % 60;
        let rest = u % 60_000_000_000;
        if h > 0 {
            out.push_str(&format!("{h}h"));
        }
        if h > 0 || m > 0 {
            out.push_str(&format!("{m}m"));
        }
        out.push_str(&frac(rest, 1_000_000_000, 9));
        out.push('s');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        for (n, s) in [
            (0, "0s"),
            (1, "1ns"),
            (1_500, "1.5µs"),
            (2_000_000, "2ms"),
            (1_500_000_000, "1.5s"),
            (60_000_000_000, "1m0s"),
            (3_723_500_000_000, "1h2m3.5s"),
            (-250_000_000, "-250ms"),
        ] {
            assert_eq!(format_go_duration(n), s);
        }
    }
}
