//! Attribute terms: how a block stores scalar span attributes, typed and searchable.
//!
//! A term is `<type>:<key>\0<value>` with type `s` (string), `i` (int), `b` (bool) or `d`
//! (double), the value written as `AnyValue`'s `Display` (shortest round-trip form for
//! doubles). Terms round-trip exactly to typed attributes, and a search for `key=text`
//! matches exactly the terms `?:key\0text`, the same rule the head applies
//! (`value.to_string() == text`), so both answer alike.

use std::collections::HashMap;

use arrow_array::builder::{ArrayBuilder, StringBuilder};
use arrow_array::StringArray;
use compact_str::CompactString;
use weft_model::{AnyValue, KeyValue};

/// The term of one attribute; `None` for values a term cannot hold (arrays, maps, bytes,
/// empty) or keys containing NUL.
pub fn term(key: &str, value: &AnyValue) -> Option<String> {
    let mut buf = String::new();
    write_term(&mut buf, key, value).then_some(buf)
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

const SMALL_INTS: i64 = 1 << 16;
const NO_KEY: u32 = u32::MAX;

/// The terms of one key seen so far: string values by their text (kept inline up to 24 bytes,
/// so comparing them reads no span's memory), the others by type and bits.
#[derive(Default)]
struct KeyTerms {
    /// Ints in `0..SMALL_INTS` (status codes, counts, small ids) by value: -1 for none yet.
    small_ints: Vec<i32>,
    strings: HashMap<CompactString, i32, ahash::RandomState>,
    others: HashMap<(u8, u64), i32, ahash::RandomState>,
}

/// Term ids for attributes, numbered in the order first seen, without writing the term of
/// every attribute: an attribute is looked up by its key and its typed value, and its term is
/// written only the first time. (A cut interns every attribute of every span, and nearly all
/// of them repeat.)
pub struct TermIds<'a> {
    /// Key -> key id; `None` for a key a term cannot hold (it contains NUL).
    keys: HashMap<&'a str, Option<u32>, ahash::RandomState>,
    /// The keys of the last span looked up, by position: spans of one instrumentation list
    /// the same keys in the same order, so a key is usually found here without hashing.
    recent: Vec<(&'a str, Option<u32>)>,
    /// By key id: the key, its terms, how many spans have it as a scalar, and the last span
    /// counted.
    key_names: Vec<&'a str>,
    by_key: Vec<KeyTerms>,
    key_spans: Vec<usize>,
    key_last_span: Vec<usize>,
    /// By term id: its key id, or `NO_KEY` for an element term.
    term_key: Vec<u32>,
    elements: HashMap<String, i32, ahash::RandomState>,
    /// By term id: the term.
    values: StringBuilder,
    buf: String,
}

impl Default for TermIds<'_> {
    fn default() -> Self {
        TermIds {
            keys: Default::default(),
            recent: Vec::new(),
            key_names: Vec::new(),
            by_key: Vec::new(),
            key_spans: Vec::new(),
            key_last_span: Vec::new(),
            term_key: Vec::new(),
            elements: Default::default(),
            values: StringBuilder::new(),
            buf: String::new(),
        }
    }
}

impl<'a> TermIds<'a> {
    /// The id of the key at position `pos` of a span's attributes.
    fn key(&mut self, pos: usize, key: &'a str) -> Option<u32> {
        if let Some((k, id)) = self.recent.get(pos) {
            if *k == key {
                return *id;
            }
        }
        let next = self.by_key.len() as u32;
        let id = *self.keys.entry(key).or_insert_with(|| {
            let ok = !key.contains('\0');
            ok.then_some(next)
        });
        if id == Some(next) {
            self.key_names.push(key);
            self.by_key.push(KeyTerms::default());
            self.key_spans.push(0);
            self.key_last_span.push(usize::MAX);
        }
        if pos < self.recent.len() {
            self.recent[pos] = (key, id);
        } else if pos == self.recent.len() {
            self.recent.push((key, id));
        }
        id
    }

    /// The term id of the attribute at position `pos` of the attributes of span number `span`
    /// (spans numbered from 0, in the order looked up) and whether it is new; `None` when a
    /// term cannot hold it (as [`write_term`] refuses it).
    pub fn scalar(
        &mut self,
        span: usize,
        pos: usize,
        key: &'a str,
        value: &'a AnyValue,
    ) -> Option<(i32, bool)> {
        let k = self.key(pos, key)? as usize;
        let next = self.values.len() as i32;
        let terms = &mut self.by_key[k];
        let id = match value {
            AnyValue::String(s) => match terms.strings.get(s.as_str()) {
                Some(&id) => id,
                None => {
                    terms.strings.insert(s.clone(), next);
                    next
                }
            },
            AnyValue::Int(i) if (0..SMALL_INTS).contains(i) => {
                let i = *i as usize;
                if terms.small_ints.len() <= i {
                    terms.small_ints.resize((i + 1).next_power_of_two(), -1);
                }
                if terms.small_ints[i] < 0 {
                    terms.small_ints[i] = next;
                }
                terms.small_ints[i]
            }
            AnyValue::Int(i) => *terms.others.entry((0, *i as u64)).or_insert(next),
            AnyValue::Bool(b) => *terms.others.entry((1, u64::from(*b))).or_insert(next),
            // every NaN writes the term `NaN`
            AnyValue::Double(d) if d.is_nan() => {
                *terms.others.entry((2, f64::NAN.to_bits())).or_insert(next)
            }
            AnyValue::Double(d) => *terms.others.entry((2, d.to_bits())).or_insert(next),
            _ => return None,
        };
        if std::mem::replace(&mut self.key_last_span[k], span) != span {
            self.key_spans[k] += 1;
        }
        if id == next {
            write_term(&mut self.buf, key, value);
            self.values.append_value(&self.buf);
            self.term_key.push(k as u32);
        }
        Some((id, id == next))
    }

    /// The term id of a search-only element term (see [`element_terms`]) and whether it is new.
    pub fn element(&mut self, term: String) -> (i32, bool) {
        let next = self.values.len() as i32;
        match self.elements.get(&term) {
            Some(&id) => (id, false),
            None => {
                self.values.append_value(&term);
                self.term_key.push(NO_KEY);
                self.elements.insert(term, next);
                (next, true)
            }
        }
    }

    /// The keys that at least `min_spans` spans have as a scalar, most frequent first (then by
    /// name), at most `max`.
    pub fn frequent_keys(&self, min_spans: usize, max: usize) -> Vec<String> {
        let mut keys: Vec<(&str, usize)> = self
            .key_names
            .iter()
            .zip(&self.key_spans)
            .filter(|(_, n)| **n >= min_spans)
            .map(|(k, n)| (*k, *n))
            .collect();
        keys.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        keys.truncate(max);
        keys.into_iter().map(|(k, _)| k.to_string()).collect()
    }

    /// By term id: the position of its key in `keys`, or `none` (element terms, other keys).
    pub fn slots(&self, keys: &[String], none: u8) -> Vec<u8> {
        let by_key: Vec<u8> = self
            .key_names
            .iter()
            .map(|k| keys.iter().position(|d| d == k).map_or(none, |p| p as u8))
            .collect();
        self.term_key
            .iter()
            .map(|&k| by_key.get(k as usize).copied().unwrap_or(none))
            .collect()
    }

    /// How many distinct terms there are.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.values.len() == 0
    }

    /// The terms by id.
    pub fn finish(mut self) -> StringArray {
        self.values.finish()
    }
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
    use arrow_array::Array;

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

    #[test]
    fn term_ids_number_each_distinct_term_once() {
        let s = |v: &str| AnyValue::String(v.into());
        // two spans; keys repeat by position, then move
        let long = "x".repeat(40);
        let spans: Vec<Vec<KeyValue>> = vec![
            vec![
                KeyValue::new("k", s("a")),
                KeyValue::new("n", AnyValue::Int(7)),
                KeyValue::new("n", AnyValue::Int(7)),
                KeyValue::new("d", AnyValue::Double(0.0)),
                KeyValue::new("nul\0key", AnyValue::Int(1)),
            ],
            vec![
                KeyValue::new("n", AnyValue::Int(7)),
                KeyValue::new("k", s("a")),
                KeyValue::new("k", s("7")),
                KeyValue::new("k", s(&long)),
                KeyValue::new("d", AnyValue::Double(-0.0)),
                KeyValue::new("d", AnyValue::Double(f64::NAN)),
                KeyValue::new("d", AnyValue::Double(-f64::NAN)),
                KeyValue::new("n", AnyValue::Int(-7)),
                KeyValue::new("n", AnyValue::Int(1 << 40)),
                KeyValue::new("b", AnyValue::Bool(true)),
                KeyValue::new("arr", AnyValue::Array(vec![s("a")])),
            ],
        ];
        let mut ids = TermIds::default();
        let mut got: Vec<Vec<Option<(i32, bool)>>> = Vec::new();
        for (i, attrs) in spans.iter().enumerate() {
            got.push(
                attrs
                    .iter()
                    .enumerate()
                    .map(|(pos, kv)| ids.scalar(i, pos, &kv.key, &kv.value))
                    .collect(),
            );
        }
        let (e, new) = ids.element(element_terms("arr", &spans[1][10].value).next().unwrap());
        assert!(new);
        assert_eq!(ids.element("S:arr\0a".into()), (e, false));
        // every id's term is exactly what write_term writes; equal terms share one id
        let n = ids.len();
        let frequent = ids.frequent_keys(2, 16);
        let slots = ids.slots(&["n".to_string(), "d".to_string()], u8::MAX);
        let values = ids.finish();
        assert_eq!(values.len(), n);
        for (attrs, row) in spans.iter().zip(&got) {
            for (kv, id) in attrs.iter().zip(row) {
                match id {
                    Some((t, _)) => {
                        assert_eq!(values.value(*t as usize), term(&kv.key, &kv.value).unwrap())
                    }
                    None => assert!(term(&kv.key, &kv.value).is_none(), "{kv:?}"),
                }
            }
        }
        let distinct: std::collections::BTreeSet<&str> = values.iter().flatten().collect();
        assert_eq!(distinct.len(), n, "no term twice: {values:?}");
        assert_eq!(got[0][1], Some((got[0][1].unwrap().0, true)));
        assert_eq!(got[0][2], Some((got[0][1].unwrap().0, false)));
        assert_eq!(got[1][0].map(|x| x.0), got[0][1].map(|x| x.0));
        assert_ne!(
            got[1][4].map(|x| x.0),
            got[0][3].map(|x| x.0),
            "-0 and 0 differ"
        );
        assert_eq!(
            got[1][6].map(|x| x.0),
            got[1][5].map(|x| x.0),
            "NaNs are one term"
        );
        // keys counted once per span that has them as a scalar: k, n and d are in both spans
        assert_eq!(frequent, ["d", "k", "n"]);
        let slot = |t: Option<(i32, bool)>| slots[t.unwrap().0 as usize];
        assert_eq!(slot(got[0][1]), 0);
        assert_eq!(slot(got[1][4]), 1);
        assert_eq!(slot(got[0][0]), u8::MAX);
        assert_eq!(slots[e as usize], u8::MAX);
    }
}
