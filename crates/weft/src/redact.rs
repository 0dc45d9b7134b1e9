//! Redaction: masks attribute values by key pattern and by value pattern before any exporter
//! sees a span (it runs in the single front processor that feeds every exporter).

use std::fmt;
use std::rc::Rc;
use std::sync::Arc;

use opentelemetry::{Array, KeyValue, StringValue, Value};
use opentelemetry_sdk::trace::SpanData;

/// What a redacted value is replaced with.
pub const MASK: &str = "[REDACTED]";

/// The key fragments masked by default (matched case-insensitively anywhere in the key).
pub const DEFAULT_KEYS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "api-key",
    "authorization",
    "cookie",
    "email",
    "credential",
    "private_key",
];

/// Keys whose values the semantic conventions draw from a closed set (methods, schemes,
/// protocol, system and operation names): the built-in value detectors skip them, since no
/// value they may hold is an e-mail address, a credential or a key. A key rule still masks
/// them, and a caller's value rules still see them.
pub const ENUMERATED_KEYS: &[&str] = &[
    "http.request.method",
    "url.scheme",
    "network.protocol.name",
    "network.protocol.version",
    "network.transport",
    "network.type",
    "rpc.system",
    "db.system",
    "db.system.name",
    "messaging.system",
    "messaging.operation.type",
    "gen_ai.operation.name",
    "gen_ai.provider.name",
    "gen_ai.system",
    "otel.status_code",
];

const STRONG: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "authorization",
    "apikey",
    "credential",
];

type ValueMatcher = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// A built-in value detector.
type Detector = fn(&str) -> bool;

/// Masks attribute values. Build with [`Redactor::default`] (the default rules) or
/// [`Redactor::empty`], then add rules.
#[derive(Clone)]
pub struct Redactor {
    /// changes with every rule, so per-thread caches of key decisions know when to reset
    id: u64,
    keys: Vec<String>,
    /// the built-in value detectors (which share one cheap pre-scan), and the caller's rules
    builtin: Vec<(String, Detector)>,
    custom: Vec<(String, ValueMatcher)>,
}

/// What an attribute's key alone decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyRule {
    /// a sensitive key: the value is masked whatever it is
    Mask,
    /// every value rule looks at the value
    Scan,
    /// an enumerated key (see [`ENUMERATED_KEYS`]): only the caller's value rules look
    Enumerated,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor")
            .field("keys", &self.keys)
            .field(
                "values",
                &self
                    .builtin
                    .iter()
                    .map(|(n, _)| n)
                    .chain(self.custom.iter().map(|(n, _)| n))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Default for Redactor {
    /// The default key fragments plus value detectors for e-mail addresses, bearer/basic
    /// credentials, JWTs and common API key shapes (`sk-…`, `ghp_…`, `AKIA…`).
    fn default() -> Self {
        let mut r = Redactor::empty().keys(DEFAULT_KEYS.iter().copied());
        for (name, f) in [
            ("email", looks_like_email as Detector),
            ("auth-scheme", looks_like_auth_header),
            ("jwt", looks_like_jwt),
            ("api-key", looks_like_api_key),
        ] {
            r.builtin.push((name.into(), f));
        }
        r.id = next_id();
        r
    }
}

impl Redactor {
    /// No rules at all.
    pub fn empty() -> Self {
        Redactor {
            id: next_id(),
            keys: Vec::new(),
            builtin: Vec::new(),
            custom: Vec::new(),
        }
    }

    /// Masks values whose key contains `fragment` (case-insensitive).
    pub fn key(mut self, fragment: impl Into<String>) -> Self {
        self.keys
            .push(fragment.into().to_ascii_lowercase().replace('-', "_"));
        self.id = next_id();
        self
    }

    /// Several key fragments.
    pub fn keys<I, S>(mut self, fragments: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        for f in fragments {
            self = self.key(f);
        }
        self
    }

    /// Masks string values containing `needle` (case-sensitive).
    pub fn value_contains(self, needle: impl Into<String>) -> Self {
        let needle: String = needle.into();
        let name = format!("contains {needle:?}");
        self.value_matcher(name, move |v| v.contains(needle.as_str()))
    }

    /// Masks string values for which `matcher` returns true.
    pub fn value_matcher(
        mut self,
        name: impl Into<String>,
        matcher: impl Fn(&str) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.custom.push((name.into(), Arc::new(matcher)));
        self.id = next_id();
        self
    }

    /// Whether a key is sensitive. A fragment matches when it is a whole word (`_`/`-`
    /// separated) of the key's last dotted segment — so `user.password`, `access_token`,
    /// `http.request.header.set-cookie` match while `gen_ai.usage.input_tokens` does not —
    /// or, for fragments that are never benign (`password`, `passwd`, `secret`,
    /// `authorization`, `apikey`, `credential`), anywhere in the key.
    pub fn key_matches(&self, key: &str) -> bool {
        let k = key.as_bytes();
        let last = match k.iter().rposition(|&b| b == b'.') {
            Some(i) => &k[i + 1..],
            None => k,
        };
        self.keys.iter().any(|f| {
            let f = f.as_bytes();
            find(last, f, true) || (STRONG.iter().any(|s| s.as_bytes() == f) && find(k, f, false))
        })
    }

    /// Whether a value is sensitive.
    pub fn value_matches(&self, value: &str) -> bool {
        self.scan(value, true)
    }

    /// The value rules (the built-in detectors only with `builtin`) on one value.
    fn scan(&self, value: &str, builtin: bool) -> bool {
        // the built-in detectors all need a marker (`@`, `eyJ`, a key prefix, an auth
        // scheme) that one pass over the bytes finds; most values have none
        (builtin
            && !self.builtin.is_empty()
            && has_marker(value)
            && self.builtin.iter().any(|(_, f)| f(value)))
            || self.custom.iter().any(|(_, f)| f(value))
    }

    /// What the key alone decides.
    fn key_rule(&self, key: &str) -> KeyRule {
        if self.key_matches(key) {
            KeyRule::Mask
        } else if ENUMERATED_KEYS.contains(&key) {
            KeyRule::Enumerated
        } else {
            KeyRule::Scan
        }
    }

    /// [`Self::key_rule`] through the per-thread cache (attribute keys repeat endlessly).
    fn key_rule_in(&self, cache: &mut KeyCache, key: &str) -> KeyRule {
        if cache.id != self.id || cache.map.len() > 4096 {
            *cache = KeyCache::new(self.id);
        }
        // most keys are `&'static str`s that come back at the same address: a two-way set
        // keyed by that address answers without hashing the key; the stored key is compared
        // too, so an address reused by another string is never taken for it
        let addr = key.as_ptr() as usize;
        let set =
            2 * (((addr ^ key.len()) as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58) as usize;
        let hit = |slot: &(usize, Rc<str>, KeyRule)| slot.0 == addr && *slot.1 == *key;
        if hit(&cache.recent[set]) {
            return cache.recent[set].2;
        }
        if hit(&cache.recent[set + 1]) {
            // the most recent of the two first
            cache.recent.swap(set, set + 1);
            return cache.recent[set].2;
        }
        let (text, m) = match cache.map.get_key_value(key) {
            Some((text, &m)) => (text.clone(), m),
            None => {
                let m = self.key_rule(key);
                let text: Rc<str> = Rc::from(key);
                cache.map.insert(text.clone(), m);
                (text, m)
            }
        };
        cache.recent.swap(set, set + 1);
        cache.recent[set] = (addr, text, m);
        m
    }

    /// Masks one attribute in place.
    pub fn redact_kv(&self, kv: &mut KeyValue) {
        KEY_CACHE.with(|c| self.redact_kv_in(&mut c.borrow_mut(), kv))
    }

    fn redact_kv_in(&self, cache: &mut KeyCache, kv: &mut KeyValue) {
        let builtin = match self.key_rule_in(cache, kv.key.as_str()) {
            KeyRule::Mask => {
                kv.value = Value::String(MASK.into());
                return;
            }
            KeyRule::Scan => true,
            KeyRule::Enumerated if !self.custom.is_empty() => false,
            KeyRule::Enumerated => return,
        };
        match &mut kv.value {
            Value::String(s) if self.scan(s.as_str(), builtin) => {
                kv.value = Value::String(MASK.into());
            }
            Value::Array(Array::String(items)) => {
                for s in items.iter_mut() {
                    if self.scan(s.as_str(), builtin) {
                        *s = StringValue::from(MASK);
                    }
                }
            }
            _ => {}
        }
    }

    /// Masks every attribute of a span, its events and its links, and the status message.
    pub fn redact_span(&self, span: &mut SpanData) {
        self.redact_spans(std::slice::from_mut(span))
    }

    /// [`Self::redact_span`] for each span of a batch.
    pub fn redact_spans(&self, spans: &mut [SpanData]) {
        KEY_CACHE.with(|c| {
            let cache = &mut c.borrow_mut();
            for span in spans.iter_mut() {
                for kv in span.attributes.iter_mut() {
                    self.redact_kv_in(cache, kv);
                }
                for ev in span.events.events.iter_mut() {
                    for kv in ev.attributes.iter_mut() {
                        self.redact_kv_in(cache, kv);
                    }
                }
                for l in span.links.links.iter_mut() {
                    for kv in l.attributes.iter_mut() {
                        self.redact_kv_in(cache, kv);
                    }
                }
                if let opentelemetry::trace::Status::Error { description } = &mut span.status {
                    if self.value_matches(description) {
                        *description = MASK.into();
                    }
                }
            }
        });
    }
}

/// Slots of the per-thread address cache of key decisions (64 sets of two).
const RECENT: usize = 128;

/// Per-thread key decisions of one redactor (`id`): by key address, then by key text. The
/// slots share the map's copy of a key's text, so a slot that changes hands allocates
/// nothing.
struct KeyCache {
    id: u64,
    recent: Vec<(usize, Rc<str>, KeyRule)>,
    map: rustc_hash::FxHashMap<Rc<str>, KeyRule>,
}

impl KeyCache {
    fn new(id: u64) -> Self {
        KeyCache {
            id,
            recent: vec![(0, Rc::from(""), KeyRule::Scan); RECENT],
            map: Default::default(),
        }
    }
}

thread_local! {
    static KEY_CACHE: std::cell::RefCell<KeyCache> = std::cell::RefCell::new(KeyCache::new(0));
}

fn next_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

fn norm(b: u8) -> u8 {
    match b {
        b'-' => b'_',
        b => b.to_ascii_lowercase(),
    }
}

/// Case-insensitive search treating `-` as `_`, without allocating; with `word`, the match
/// must be bounded by the ends or by `_`/`-`.
fn find(hay: &[u8], needle: &[u8], word: bool) -> bool {
    if needle.is_empty() || needle.len() > hay.len() {
        return false;
    }
    (0..=hay.len() - needle.len()).any(|i| {
        hay[i..i + needle.len()]
            .iter()
            .zip(needle)
            .all(|(&h, &n)| norm(h) == n)
            && (!word
                || ((i == 0 || norm(hay[i - 1]) == b'_')
                    && (i + needle.len() == hay.len() || norm(hay[i + needle.len()]) == b'_')))
    })
}

/// Bytes that end or sit inside every marker: `@`, the `J` of `eyJ`, the `-` of `sk-` and
/// `xoxb-`, the `_` of `ghp_` and `lsv2_`, the first `K`… of `AKIA`.
static ANCHOR: [bool; 256] = {
    let mut t = [false; 256];
    t[b'@' as usize] = true;
    t[b'J' as usize] = true;
    t[b'-' as usize] = true;
    t[b'_' as usize] = true;
    t[b'K' as usize] = true;
    t
};

/// Whether a value holds any marker a built-in detector needs; false means none can match.
/// Eight bytes at a time: a word without any anchor byte (most of them) costs a few
/// arithmetic operations; the bytes of a word that has one are checked against their marker.
fn has_marker(v: &str) -> bool {
    let b = v.as_bytes();
    // values rarely start with whitespace: trim (Unicode whitespace, as `str::trim_start`)
    // only when the first byte is not plain ASCII
    let t = match b.first() {
        Some(&c) if c.is_ascii() && !(c as char).is_whitespace() => b,
        _ => v.trim_start().as_bytes(),
    };
    let starts = |p: &[u8]| t.len() >= p.len() && t[..p.len()].eq_ignore_ascii_case(p);
    if matches!(t.first(), Some(b'b' | b'B')) && (starts(b"bearer ") || starts(b"basic ")) {
        return true;
    }
    // `p` ends at byte `end` (inclusive)
    let ends = |end: usize, p: &[u8]| end + 1 >= p.len() && &b[end + 1 - p.len()..=end] == p;
    let marker_at = |i: usize| {
        ANCHOR[b[i] as usize]
            && match b[i] {
                b'@' => true,
                b'J' => ends(i, b"eyJ"),
                b'-' => ends(i, b"sk-") || ends(i, b"xoxb-"),
                b'_' => ends(i, b"ghp_") || ends(i, b"lsv2_"),
                _ => i >= 1 && b.len() >= i + 3 && &b[i - 1..i + 3] == b"AKIA",
            }
    };
    let mut chunks = b.chunks_exact(8);
    for (w, chunk) in chunks.by_ref().enumerate() {
        let word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        if has_anchor(word) && (w * 8..w * 8 + 8).any(marker_at) {
            return true;
        }
    }
    // the last bytes: the word that ends the value when there is one (an anchor among the
    // bytes it shares with the last full word only costs a look at the tail's own bytes),
    // else the bytes zero-padded (a zero byte is no anchor)
    let tail = chunks.remainder().len();
    if tail == 0 {
        return false;
    }
    let word = if b.len() >= 8 {
        u64::from_le_bytes(b[b.len() - 8..].try_into().expect("8 bytes"))
    } else {
        b.iter()
            .enumerate()
            .fold(0u64, |w, (i, &c)| w | u64::from(c) << (8 * i))
    };
    has_anchor(word) && (b.len() - tail..b.len()).any(marker_at)
}

/// Whether any byte of `word` is an anchor byte (see [`ANCHOR`]).
#[inline]
fn has_anchor(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // a byte of `x` is zero where `word` holds `a`; the classic test sets that byte's high
    // bit (and may set more above it, only when some byte is zero, so `!= 0` stays exact)
    let zero_byte = |a: u8| {
        let x = word ^ (ONES * u64::from(a));
        x.wrapping_sub(ONES) & !x & HIGHS
    };
    (zero_byte(b'@') | zero_byte(b'J') | zero_byte(b'-') | zero_byte(b'_') | zero_byte(b'K')) != 0
}

fn looks_like_email(v: &str) -> bool {
    if !v.contains('@') {
        return false;
    }
    v.split(|c: char| c.is_whitespace() || c == '<' || c == '>' || c == ',' || c == ';')
        .any(|w| {
            let Some((local, domain)) = w.split_once('@') else {
                return false;
            };
            !local.is_empty()
                && domain.len() >= 3
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && local
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._%+-".contains(c))
                && domain
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-".contains(c))
        })
}

fn looks_like_auth_header(v: &str) -> bool {
    let l = v.trim_start().as_bytes();
    let starts = |p: &[u8]| l.len() >= p.len() && l[..p.len()].eq_ignore_ascii_case(p);
    (starts(b"bearer ") || starts(b"basic ")) && l.len() > 10
}

fn looks_like_jwt(v: &str) -> bool {
    if !v.contains("eyJ") {
        return false;
    }
    v.split_whitespace().any(|w| {
        w.starts_with("eyJ")
            && w.split('.').count() == 3
            && w.split('.').all(|p| {
                !p.is_empty()
                    && p.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '=')
            })
    })
}

fn looks_like_api_key(v: &str) -> bool {
    if !["sk-", "ghp_", "xoxb-", "lsv2_", "AKIA"]
        .iter()
        .any(|p| v.contains(p))
    {
        return false;
    }
    v.split(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == '=')
        .any(|w| {
            let body_ok = |rest: &str, min: usize| {
                rest.len() >= min
                    && rest
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            };
            w.strip_prefix("sk-").is_some_and(|r| body_ok(r, 16))
                || w.strip_prefix("ghp_").is_some_and(|r| body_ok(r, 20))
                || w.strip_prefix("xoxb-").is_some_and(|r| body_ok(r, 10))
                || w.strip_prefix("lsv2_").is_some_and(|r| body_ok(r, 16))
                || (w.len() == 20
                    && w.starts_with("AKIA")
                    && w.chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `has_marker` as it was written first, one byte at a time: the reference.
    fn has_marker_bytewise(v: &str) -> bool {
        let b = v.as_bytes();
        let t = v.trim_start().as_bytes();
        let starts = |p: &[u8]| t.len() >= p.len() && t[..p.len()].eq_ignore_ascii_case(p);
        if starts(b"bearer ") || starts(b"basic ") {
            return true;
        }
        let ends = |end: usize, p: &[u8]| end + 1 >= p.len() && &b[end + 1 - p.len()..=end] == p;
        b.iter().enumerate().any(|(i, &c)| {
            ANCHOR[c as usize]
                && match c {
                    b'@' => true,
                    b'J' => ends(i, b"eyJ"),
                    b'-' => ends(i, b"sk-") || ends(i, b"xoxb-"),
                    b'_' => ends(i, b"ghp_") || ends(i, b"lsv2_"),
                    _ => i >= 1 && b.len() >= i + 3 && &b[i - 1..i + 3] == b"AKIA",
                }
        })
    }

    #[test]
    fn marker_scan_agrees_with_the_bytewise_reference() {
        let markers = [
            "@",
            "eyJ",
            "sk-",
            "xoxb-",
            "ghp_",
            "lsv2_",
            "AKIA",
            "Bearer ",
            "basic ",
            "J",
            "-",
            "_",
            "K",
            "KIA",
            "AKI",
            "ey",
            "é",
            "\u{a0}Bearer ",
            "\tbasic ",
            "\u{b}Bearer ",
        ];
        let fillers = [
            "",
            "a",
            "0123456",
            "hello world",
            "ÿÿ",
            "日本語",
            " ",
            "\u{2003}",
        ];
        let mut n = 0;
        for pre in fillers {
            for pad in 0..17 {
                for m in markers {
                    for post in fillers {
                        let v = format!("{pre}{}{m}{post}", "x".repeat(pad));
                        assert_eq!(has_marker(&v), has_marker_bytewise(&v), "{v:?}");
                        n += 1;
                    }
                }
            }
        }
        // and every marker split across a word boundary, at each offset
        for m in markers {
            for pad in 0..16 {
                let v = format!("{}{m}", "q".repeat(pad));
                assert_eq!(has_marker(&v), has_marker_bytewise(&v), "{v:?}");
            }
        }
        assert_eq!(n, 8 * 17 * 20 * 8);
        assert!(has_marker("0123456789abcdef@x"));
        assert!(!has_marker("0123456789abcdef0123456789abcdef"));
    }

    #[test]
    fn default_rules() {
        let r = Redactor::default();
        let cases: &[(&str, &str, bool)] = &[
            ("user.password", "hunter2", true),
            ("http.request.header.authorization", "x", true),
            ("HTTP.REQUEST.HEADER.COOKIE", "a=b", true),
            ("user.email", "x", true),
            ("db.query.text", "select 1", false),
            ("note", "mail me at alice@example.com please", true),
            ("note", "Bearer abcdefghijkl", true),
            (
                "note",
                "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
                true,
            ),
            ("note", "key sk-abcdefghijklmnopqrst", true),
            ("note", "AKIAIOSFODNN7EXAMPLE", true),
            ("note", "@ not an email", false),
            ("note", "version 1.2.3", false),
            ("gen_ai.request.model", "gpt-4o", false),
            ("gen_ai.usage.input_tokens", "12", false),
            ("gen_ai.request.max_tokens", "12", false),
            ("oauth.access_token", "x", true),
            ("http.request.header.set-cookie", "x", true),
            ("http.request.header.x-api-key", "x", true),
            ("db.user_password_hash", "x", true),
            ("client_secret", "x", true),
        ];
        for (k, v, masked) in cases {
            let mut kv = KeyValue::new(*k, *v);
            r.redact_kv(&mut kv);
            assert_eq!(
                kv.value.as_str() == MASK,
                *masked,
                "{k}={v} masked should be {masked}"
            );
        }
    }

    #[test]
    fn the_marker_prescan_never_hides_a_builtin_match() {
        let samples = [
            "alice@example.com",
            "  Bearer abcdefghijkl",
            "BASIC dXNlcjpwYXNz",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
            "key=sk-abcdefghijklmnopqrst",
            "ghp_abcdefghijklmnopqrstuvwx",
            "xoxb-1234567890ab",
            "lsv2_abcdefghijklmnopqr",
            "AKIAIOSFODNN7EXAMPLE",
            "/items/42",
            "GET",
            "version 1.2.3",
            "",
        ];
        for v in samples {
            let any = [
                looks_like_email,
                looks_like_auth_header,
                looks_like_jwt,
                looks_like_api_key,
            ]
            .iter()
            .any(|f| f(v));
            assert!(!any || has_marker(v), "{v:?} matches but has no marker");
        }
        assert!(!has_marker("/items/42"));
    }

    /// The anchor-byte scan finds exactly the markers a plain search for each finds.
    #[test]
    fn the_marker_scan_agrees_with_a_plain_search() {
        let reference = |v: &str| {
            let t = v.trim_start().to_ascii_lowercase();
            t.starts_with("bearer ")
                || t.starts_with("basic ")
                || ["@", "eyJ", "sk-", "ghp_", "xoxb-", "lsv2_", "AKIA"]
                    .iter()
                    .any(|m| v.contains(m))
        };
        let alphabet: Vec<char> = "@eyJsk-ghp_xob2lvAKI Bearbsic".chars().collect();
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..200_000 {
            let len = (x % 9) as usize;
            let v: String = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    alphabet[(x % alphabet.len() as u64) as usize]
                })
                .collect();
            assert_eq!(has_marker(&v), reference(&v), "{v:?}");
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
    }

    /// Enumerated keys skip the built-in detectors only: a key rule still masks them, a
    /// caller's value rule still sees them, and every other key is still scanned.
    #[test]
    fn enumerated_keys_skip_only_the_builtin_detectors() {
        let masked = |r: &Redactor, k: &str, v: &str| {
            let mut kv = KeyValue::new(k.to_string(), v.to_string());
            r.redact_kv(&mut kv);
            kv.value.as_str() == MASK
        };
        let email = "alice@example.com";
        let r = Redactor::default();
        for k in ENUMERATED_KEYS {
            assert!(!masked(&r, k, email), "{k}");
            // the same value under a scanned key is masked
            assert!(masked(&r, &format!("{k}_text"), email), "{k}_text");
        }
        assert!(masked(&r, "url.path", email));
        assert!(masked(&r, "http.route", email));
        // a key rule wins over the enumeration
        let r = Redactor::default().key("method");
        assert!(masked(&r, "http.request.method", "GET"));
        // a caller's value rule sees enumerated keys too
        let r = Redactor::default().value_contains("internal-");
        assert!(masked(&r, "gen_ai.provider.name", "internal-llm"));
        assert!(!masked(&r, "gen_ai.provider.name", email));
        assert!(masked(&r, "note", email));
        // and arrays under enumerated keys follow the same rule
        let mut kv = KeyValue::new(
            "url.scheme",
            Value::Array(Array::String(vec![email.into(), "internal-x".into()])),
        );
        r.redact_kv(&mut kv);
        match &kv.value {
            Value::Array(Array::String(items)) => {
                assert_eq!(items[0].as_str(), email);
                assert_eq!(items[1].as_str(), MASK);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn custom_rules_and_arrays() {
        let r = Redactor::empty().key("ssn").value_contains("internal-");
        let mut kv = KeyValue::new("customer.ssn", 123_i64);
        r.redact_kv(&mut kv);
        assert_eq!(kv.value.as_str(), MASK);
        let mut kv = KeyValue::new(
            "hosts",
            Value::Array(Array::String(vec!["a".into(), "internal-b".into()])),
        );
        r.redact_kv(&mut kv);
        match &kv.value {
            Value::Array(Array::String(items)) => {
                assert_eq!(items[0].as_str(), "a");
                assert_eq!(items[1].as_str(), MASK);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
