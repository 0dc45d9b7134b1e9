use std::fmt;

pub use compact_str::CompactString;

/// A typed attribute value, exactly as OTLP's `AnyValue` (an absent value is `Empty`).
///
/// Strings (here and in [`KeyValue::key`]) are `CompactString`s: the size of a `String`, but
/// up to 24 bytes are kept inline. Nearly every attribute key and most values fit, so decoding
/// a span allocates once for its attribute list instead of once per key and value, and
/// reading attributes does not chase a pointer per string.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum AnyValue {
    #[default]
    Empty,
    String(CompactString),
    Bool(bool),
    Int(i64),
    Double(f64),
    Bytes(Vec<u8>),
    Array(Vec<AnyValue>),
    KvList(Vec<KeyValue>),
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct KeyValue {
    pub key: CompactString,
    pub value: AnyValue,
}

impl KeyValue {
    pub fn new(key: impl Into<CompactString>, value: AnyValue) -> KeyValue {
        KeyValue {
            key: key.into(),
            value,
        }
    }
}

impl AnyValue {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            AnyValue::String(s) => Some(s),
            _ => None,
        }
    }
    pub fn type_name(&self) -> &'static str {
        match self {
            AnyValue::Empty => "empty",
            AnyValue::String(_) => "string",
            AnyValue::Bool(_) => "bool",
            AnyValue::Int(_) => "int",
            AnyValue::Double(_) => "double",
            AnyValue::Bytes(_) => "bytes",
            AnyValue::Array(_) => "array",
            AnyValue::KvList(_) => "kvlist",
        }
    }
    /// True for values that search indexes keep as text (string, bool, int, double).
    pub fn is_scalar(&self) -> bool {
        matches!(
            self,
            AnyValue::String(_) | AnyValue::Bool(_) | AnyValue::Int(_) | AnyValue::Double(_)
        )
    }
}

/// Renders a value the way a person types it in a search box: strings bare, numbers and bools
/// as literals, bytes as base64-free hex, arrays and lists in brackets.
impl fmt::Display for AnyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnyValue::Empty => Ok(()),
            AnyValue::String(s) => f.write_str(s),
            AnyValue::Bool(b) => write!(f, "{b}"),
            AnyValue::Int(i) => write!(f, "{i}"),
            AnyValue::Double(d) => write!(f, "{d}"),
            AnyValue::Bytes(b) => {
                for x in b {
                    write!(f, "{x:02x}")?;
                }
                Ok(())
            }
            AnyValue::Array(a) => {
                f.write_str("[")?;
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            AnyValue::KvList(kvs) => {
                f.write_str("{")?;
                for (i, kv) in kvs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}={}", kv.key, kv.value)?;
                }
                f.write_str("}")
            }
        }
    }
}

pub(crate) fn find<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attrs.iter().find(|kv| kv.key == key).map(|kv| &kv.value)
}
