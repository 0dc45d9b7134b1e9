//! Attribute terms: how a block stores scalar span attributes, typed and searchable.
//!
//! A term is `<type>:<key>\0<value>` with type `s` (string), `i` (int), `b` (bool) or `d`
//! (double), the value written as `AnyValue`'s `Display` (shortest round-trip form for
//! doubles). Terms round-trip exactly to typed attributes, and a search for `key=text`
//! matches exactly the terms `?:key\0text`, the same rule the head applies
//! (`value.to_string() == text`), so both answer alike.

use weft_model::{AnyValue, KeyValue};

/// The term of one attribute; `None` for values a term cannot hold (arrays, maps, bytes,
/// empty) or keys containing NUL.
pub fn term(key: &str, value: &AnyValue) -> Option<String> {
    let mut buf = String::new();
    write_term(&mut buf, key, value).then_some(buf)
}

/// Whether a term can hold this attribute: a scalar value and a key without NUL.
pub fn is_term(key: &str, value: &AnyValue) -> bool {
    matches!(
        value,
        AnyValue::String(_) | AnyValue::Int(_) | AnyValue::Bool(_) | AnyValue::Double(_)
    ) && !key.contains('\0')
}

/// Writes the term of one attribute into `buf` (cleared first), without allocating when `buf`
/// has room; returns false (and leaves `buf` meaningless) when a term cannot hold the value.
pub fn write_term(buf: &mut String, key: &str, value: &AnyValue) -> bool {
    use std::fmt::Write;
    buf.clear();
    if key.contains('\0') {
        return false;
    }
    let t = match value {
        AnyValue::String(_) => 's',
        AnyValue::Int(_) => 'i',
        AnyValue::Bool(_) => 'b',
        AnyValue::Double(_) => 'd',
        _ => return false,
    };
    buf.push(t);
    buf.push(':');
    buf.push_str(key);
    buf.push('\0');
    match value {
        AnyValue::String(s) => buf.push_str(s),
        AnyValue::Bool(b) => buf.push_str(if *b { "true" } else { "false" }),
        // the same text as `Display`, without the formatting machinery (the cut writes one
        // term per attribute of every span)
        AnyValue::Int(i) => buf.push_str(itoa::Buffer::new().format(*i)),
        other => {
            let _ = write!(buf, "{other}");
        }
    }
    true
}

/// Parses a term back into the typed attribute it was made from.
pub fn parse(term: &str) -> Option<KeyValue> {
    let (t, rest) = term.split_once(':')?;
    let (key, text) = rest.split_once('\0')?;
    let value = match t {
        "s" => AnyValue::String(text.into()),
        "i" => AnyValue::Int(text.parse().ok()?),
        "b" => AnyValue::Bool(text.parse().ok()?),
        "d" => AnyValue::Double(text.parse().ok()?),
        _ => return None,
    };
    Some(KeyValue::new(key, value))
}

/// Search-only terms for the scalar elements of an array attribute: the element's term with
/// the type letter in upper case (`S:tags\0vip`). They make `tags=vip` find a span whose
/// `tags` is `["vip","beta"]`; readers never turn them back into attributes (a span with an
/// array keeps its attributes in its detail cell).
pub fn element_terms<'a>(key: &'a str, value: &'a AnyValue) -> impl Iterator<Item = String> + 'a {
    let items: &[AnyValue] = match value {
        AnyValue::Array(items) if !key.contains('\0') => items,
        _ => &[],
    };
    items.iter().filter_map(move |x| {
        let t = match x {
            AnyValue::String(_) => 'S',
            AnyValue::Int(_) => 'I',
            AnyValue::Bool(_) => 'B',
            AnyValue::Double(_) => 'D',
            _ => return None,
        };
        Some(format!("{t}:{key}\0{x}"))
    })
}

/// The terms a search for `key=text` matches: a scalar attribute of any type whose text is
/// `text`, or an array attribute with such an element.
///
/// Only the types whose written form can be `text` are listed (`vip` is no int, `0777` is
/// no int either since an int 777 is written `777`), so a search probes the row-group term
/// filters with as few terms as it can.
pub fn query_terms(key: &str, text: &str) -> Vec<String> {
    let int = text.parse::<i64>().is_ok_and(|i| i.to_string() == text);
    let double = text
        .parse::<f64>()
        .is_ok_and(|d| AnyValue::Double(d).to_string() == text);
    let boolean = text == "true" || text == "false";
    [
        ("s", true),
        ("i", int),
        ("b", boolean),
        ("d", double),
        ("S", true),
        ("I", int),
        ("B", boolean),
        ("D", double),
    ]
    .into_iter()
    .filter(|(_, possible)| *possible)
    .map(|(t, _)| format!("{t}:{key}\0{text}"))
    .collect()
}

/// Whether a value equals what a user typed: the head's form of the same rule (a scalar whose
/// text is `text`, or an array holding such a scalar).
pub fn value_matches(v: &AnyValue, text: &str) -> bool {
    match v {
        AnyValue::String(s) => s == text,
        AnyValue::Bool(_) | AnyValue::Int(_) | AnyValue::Double(_) => v.to_string() == text,
        AnyValue::Array(items) => items
            .iter()
            .any(|x| !matches!(x, AnyValue::Array(_)) && value_matches(x, text)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_round_trip_and_match_like_the_head() {
        let cases = [
            AnyValue::String("a=b\u{e9}".into()),
            AnyValue::Int(-42),
            AnyValue::Bool(true),
            AnyValue::Double(0.1),
            AnyValue::Double(-0.0),
            AnyValue::Double(f64::INFINITY),
            AnyValue::Double(1e300),
        ];
        for v in cases {
            let t = term("k.x", &v).unwrap();
            let back = parse(&t).unwrap();
            assert_eq!(back.key, "k.x");
            match (&back.value, &v) {
                (AnyValue::Double(a), AnyValue::Double(b)) => assert_eq!(a.to_bits(), b.to_bits()),
                (a, b) => assert_eq!(a, b),
            }
            let text = v.to_string();
            assert!(query_terms("k.x", &text).contains(&t));
            assert!(value_matches(&v, &text));
        }
        // the buffer form writes the same term, and a refused value does not leak the last one
        let mut buf = String::from("stale");
        assert!(write_term(&mut buf, "k.x", &AnyValue::Int(7)));
        assert_eq!(buf, term("k.x", &AnyValue::Int(7)).unwrap());
        assert!(write_term(&mut buf, "k.x", &AnyValue::Bool(false)));
        assert_eq!(buf, "b:k.x\0false");
        assert!(!write_term(&mut buf, "k", &AnyValue::Bytes(vec![1])));
        assert!(term("k", &AnyValue::Bytes(vec![1])).is_none());
        assert!(term("nul\0key", &AnyValue::Int(1)).is_none());
        assert!(!query_terms("k", "500").contains(&term("k", &AnyValue::Int(501)).unwrap()));
        // array elements: searchable through their own terms, like the head matches them
        let arr = AnyValue::Array(vec![
            AnyValue::String("vip".into()),
            AnyValue::Int(7),
            AnyValue::Array(vec![AnyValue::String("deep".into())]),
        ]);
        let el: Vec<String> = element_terms("tags", &arr).collect();
        assert_eq!(el, ["S:tags\0vip", "I:tags\x007"]);
        for text in ["vip", "7"] {
            assert!(value_matches(&arr, text));
            assert!(el.iter().any(|t| query_terms("tags", text).contains(t)));
        }
        assert!(!value_matches(&arr, "deep"));
        assert!(
            parse("S:tags\0vip").is_none(),
            "element terms are never attributes"
        );
        assert_eq!(element_terms("k", &AnyValue::Int(1)).count(), 0);
        // a search probes only the types whose written form can be the text
        let types = |text: &str| -> String {
            query_terms("k", text)
                .iter()
                .map(|t| t.chars().next().unwrap())
                .collect()
        };
        assert_eq!(types("vip"), "sS");
        assert_eq!(types("777"), "sidSID");
        assert_eq!(types("0777"), "sS");
        assert_eq!(types("+5"), "sS");
        assert_eq!(types("1.5"), "sdSD");
        assert_eq!(types("1e3"), "sS");
        assert_eq!(types("true"), "sbSB");
        assert_eq!(types("NaN"), "sdSD");
    }
}
