//! Values of evaluated expressions: what results carry (aggregates, `by()` keys, selected
//! attributes).

use std::fmt;

use weft_model::{AnyValue, SpanKind, StatusCode};

use crate::ast::{format_go_duration, quote_string};

/// A value in a query result.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// Nanoseconds.
    Duration(i64),
    Status(StatusCode),
    Kind(SpanKind),
    Array(Vec<Value>),
}

impl Value {
    /// The value of an attribute (bytes and key-value lists have no TraceQL value).
    pub fn from_any(v: &AnyValue) -> Value {
        match v {
            AnyValue::String(s) => Value::Str(s.to_string()),
            AnyValue::Bool(b) => Value::Bool(*b),
            AnyValue::Int(i) => Value::Int(*i),
            AnyValue::Double(d) => Value::Float(*d),
            AnyValue::Array(a) => Value::Array(a.iter().map(Value::from_any).collect()),
            AnyValue::Empty | AnyValue::Bytes(_) | AnyValue::KvList(_) => Value::Nil,
        }
    }

    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }

    /// A key that is equal for equal values (for grouping).
    pub(crate) fn group_key(&self) -> String {
        match self {
            Value::Nil => "n".into(),
            Value::Bool(b) => format!("b{b}"),
            Value::Int(i) => format!("i{i}"),
            Value::Float(f) => format!("f{}", f.to_bits()),
            Value::Str(s) => format!("s{s}"),
            Value::Duration(d) => format!("d{d}"),
            Value::Status(s) => format!("t{}", s.short_name()),
            Value::Kind(k) => format!("k{}", k.short_name()),
            Value::Array(a) => {
                let mut s = String::from("[");
                for v in a {
                    s.push_str(&v.group_key());
                    s.push('\u{0}');
                }
                s
            }
        }
    }
}

/// TraceQL's spelling: strings quoted, durations as `1.5s`, enums bare, `nil`.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => f.write_str("nil"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x:?}"),
            Value::Str(s) => f.write_str(&quote_string(s)),
            Value::Duration(d) => f.write_str(&format_go_duration(*d)),
            Value::Status(s) => f.write_str(s.short_name()),
            Value::Kind(k) => f.write_str(k.short_name()),
            Value::Array(a) => {
                f.write_str("[")?;
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
        }
    }
}
