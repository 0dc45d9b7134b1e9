//! `otlp::decode_batch` (one pass, wire format → model) against the two-step path it replaces,
//! `batch_from_request(decode_request(bytes)?)`: the same batch and rejections for every input,
//! and an error exactly when prost refuses the input.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1 as common;
use opentelemetry_proto::tonic::resource::v1 as pb_resource;
use opentelemetry_proto::tonic::trace::v1 as pb;
use proptest::prelude::*;
use prost::encoding::{encode_key, encode_varint, WireType};
use prost::Message;
use weft_model::{AnyValue, Batch};
use weft_proto::otlp::{self, Rejected};

const PREFIX: &str = "not a valid OTLP protobuf ExportTraceServiceRequest: ";

/// Both paths on `bytes`; fails unless they agree. `Debug` is compared so doubles count bit for
/// bit (NaN included). Returns the common outcome.
fn agree(bytes: &[u8]) -> Result<Result<(Batch, Rejected), String>, String> {
    let old = otlp::decode_request(bytes).map(otlp::batch_from_request);
    let new = otlp::decode_batch(bytes);
    match (old, new) {
        (Ok(a), Ok(b)) => {
            if format!("{a:?}") != format!("{b:?}") {
                return Err(format!(
                    "results differ for {bytes:02x?}\ntwo-step: {a:?}\none-pass: {b:?}"
                ));
            }
            Ok(Ok(b))
        }
        (Err(_), Err(e)) => {
            if !e.message.starts_with(PREFIX) || e.message.len() == PREFIX.len() {
                return Err(format!("error message says too little: {}", e.message));
            }
            Ok(Err(e.message))
        }
        (Ok(a), Err(e)) => Err(format!(
            "only the one-pass decoder fails ({}) on {bytes:02x?}; two-step gave {a:?}",
            e.message
        )),
        (Err(e), Ok(b)) => Err(format!(
            "only the two-step path fails ({}) on {bytes:02x?}; one-pass gave {b:?}",
            e.message
        )),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// What the encoder writes decodes to the batch it came from, on both paths.
    #[test]
    fn encoded_batches_decode_the_same(batch in weft_testkit::arb::batch()) {
        let bytes = otlp::encode_request(&batch);
        let (back, rejected) = agree(&bytes).map_err(TestCaseError::fail)?
            .map_err(TestCaseError::fail)?;
        prop_assert_eq!(rejected, Rejected::default());
        prop_assert_eq!(back, batch);
    }

    /// Structural edits that keep the input parseable (unknown fields of every wire type,
    /// repeated and reordered fields, other values and wire types), then sometimes a byte-level
    /// one (truncation, a flipped or inserted byte): both paths agree on Ok/Err and the result.
    #[test]
    fn mutated_requests_decode_the_same(batch in weft_testkit::arb::batch(), seed in any::<u64>(), edits in 1usize..5) {
        let bytes = mutate(&otlp::encode_request(&batch), seed, edits);
        let _outcome = agree(&bytes).map_err(TestCaseError::fail)?;
    }

    /// Random bytes (mostly garbage, sometimes a valid prefix of keys): the same Ok/Err.
    #[test]
    fn arbitrary_bytes_decode_the_same(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _outcome = agree(&bytes).map_err(TestCaseError::fail)?;
    }
}

/// Structural edits, then sometimes a byte-level one.
fn mutate(bytes: &[u8], seed: u64, edits: usize) -> Vec<u8> {
    let mut rng = Rng(seed | 1);
    let mut tree = parse(bytes, 0).expect("the encoder writes a message");
    for _ in 0..edits {
        if rng.below(3) == 0 {
            edit_value(&mut tree, &mut rng);
        } else {
            edit(&mut tree, &mut rng);
        }
    }
    let mut bytes = encode(&tree);
    match rng.below(4) {
        0 => bytes.truncate(rng.below(bytes.len() as u64 + 1) as usize),
        1 if !bytes.is_empty() => {
            let at = rng.below(bytes.len() as u64) as usize;
            bytes[at] ^= 1 << rng.below(8);
        }
        2 => {
            let at = rng.below(bytes.len() as u64 + 1) as usize;
            bytes.insert(at, rng.next() as u8);
        }
        _ => {}
    }
    bytes
}

/// The mutations are worth something: over many, both outcomes are common, and decoded
/// results include rejected spans and spans whose content changed.
#[test]
fn mutations_reach_both_outcomes() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let (mut ok, mut err, mut with_rejections, mut changed) = (0, 0, 0, 0);
    for round in 0..400u64 {
        let batch = weft_testkit::arb::batch()
            .new_tree(&mut runner)
            .unwrap()
            .current();
        let bytes = mutate(
            &otlp::encode_request(&batch),
            round * 7919 + 1,
            1 + round as usize % 4,
        );
        match agree(&bytes).unwrap_or_else(|e| panic!("round {round}: {e}")) {
            Ok((b, r)) => {
                ok += 1;
                with_rejections += usize::from(r.count > 0);
                changed += usize::from(b != batch);
            }
            Err(_) => err += 1,
        }
    }
    assert!(ok > 100 && err > 100, "ok {ok}, err {err}");
    assert!(
        with_rejections > 10 && changed > 50,
        "rejections {with_rejections}, changed {changed}"
    );
}

// ---- hand-written cases ---------------------------------------------------------------------

enum Expect<'a> {
    /// Decodes to this many spans, with these rejections (`""` for none).
    Spans(usize, u64, &'a str),
    /// Fails with a message containing this.
    Error(&'a str),
}

/// Runs both paths on `bytes`, requires them to agree, then checks the outcome.
fn check(name: &str, bytes: &[u8], expect: Expect<'_>) -> (Batch, Rejected) {
    let got = agree(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    match (got, expect) {
        (Ok((batch, rejected)), Expect::Spans(n, count, message)) => {
            assert_eq!(batch.span_count(), n, "{name}: spans");
            assert_eq!(rejected.count, count, "{name}: rejected count");
            assert_eq!(rejected.message, message, "{name}: rejected message");
            (batch, rejected)
        }
        (Err(e), Expect::Error(part)) => {
            assert!(e.contains(part), "{name}: {e:?} does not mention {part:?}");
            (Batch::default(), Rejected::default())
        }
        (Ok(b), Expect::Error(part)) => panic!("{name}: decoded {b:?}, expected an error {part:?}"),
        (Err(e), Expect::Spans(..)) => panic!("{name}: failed: {e}"),
    }
}

fn good_span() -> pb::Span {
    pb::Span {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        name: "GET /".into(),
        kind: 2,
        start_time_unix_nano: 10,
        end_time_unix_nano: 20,
        ..Default::default()
    }
}

fn request(spans: Vec<pb::Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![pb::ResourceSpans {
            resource: Some(pb_resource::Resource::default()),
            scope_spans: vec![pb::ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// A request of one span whose encoding is `span_bytes` (for spans no struct can express).
fn request_with_raw_span(span_bytes: &[u8]) -> Vec<u8> {
    field(1, &field(2, &field(2, span_bytes)))
}

fn field(tag: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_key(tag, WireType::LengthDelimited, &mut out);
    encode_varint(body.len() as u64, &mut out);
    out.extend_from_slice(body);
    out
}

fn varint_field(tag: u32, v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    encode_key(tag, WireType::Varint, &mut out);
    encode_varint(v, &mut out);
    out
}

fn spans_of(b: &Batch) -> Vec<&weft_model::Span> {
    b.spans().map(|r| r.span).collect()
}

#[test]
fn invalid_spans_are_rejected_with_the_same_reasons() {
    let mut short = good_span();
    short.trace_id = vec![1, 2, 3];
    let mut zero = good_span();
    zero.span_id = vec![0; 8];
    let mut bad_parent = good_span();
    bad_parent.parent_span_id = vec![5; 3];
    let mut kind = good_span();
    kind.kind = 9;
    let mut status = good_span();
    status.status = Some(pb::Status {
        code: 7,
        message: "x".into(),
    });
    let mut bad_link = good_span();
    bad_link.links = vec![
        pb::span::Link {
            trace_id: vec![1; 16],
            span_id: vec![3; 8],
            ..Default::default()
        },
        pb::span::Link {
            trace_id: vec![1; 16],
            span_id: vec![0; 8],
            ..Default::default()
        },
    ];
    check(
        "one bad id",
        &request(vec![good_span(), short.clone()]).encode_to_vec(),
        Expect::Spans(
            1,
            1,
            "resourceSpans[0].scopeSpans[0].spans[1].traceId: expected 16 bytes, got 3",
        ),
    );
    check(
        "all zero span id",
        &request(vec![zero.clone()]).encode_to_vec(),
        Expect::Spans(
            0,
            1,
            "resourceSpans[0].scopeSpans[0].spans[0].spanId: all-zero id is invalid",
        ),
    );
    check(
        "five bad spans",
        &request(vec![
            short,
            zero,
            bad_parent,
            kind,
            status,
            bad_link,
            good_span(),
        ])
        .encode_to_vec(),
        Expect::Spans(
            1,
            6,
            "resourceSpans[0].scopeSpans[0].spans[0].traceId: expected 16 bytes, got 3; \
             resourceSpans[0].scopeSpans[0].spans[1].spanId: all-zero id is invalid; \
             resourceSpans[0].scopeSpans[0].spans[2].parentSpanId: expected 8 bytes, got 3; \
             and 3 more",
        ),
    );
}

#[test]
fn kinds_status_codes_and_parents() {
    for (kind, ok) in [(0, true), (5, true), (6, false), (-1, false)] {
        let mut s = good_span();
        s.kind = kind;
        let bytes = request(vec![s]).encode_to_vec();
        if ok {
            let (b, _) = check(&format!("kind {kind}"), &bytes, Expect::Spans(1, 0, ""));
            assert_eq!(spans_of(&b)[0].kind as i32, kind);
        } else {
            let why =
                format!("resourceSpans[0].scopeSpans[0].spans[0].kind: unknown span kind {kind}");
            check(&format!("kind {kind}"), &bytes, Expect::Spans(0, 1, &why));
        }
    }
    for code in 0..=3 {
        let mut s = good_span();
        s.status = Some(pb::Status {
            code,
            message: "boom".into(),
        });
        let bytes = request(vec![s]).encode_to_vec();
        let (b, r) = agree(&bytes).unwrap().unwrap();
        if code < 3 {
            let st = &spans_of(&b)[0].status;
            assert_eq!((st.code as i32, st.message.as_str()), (code, "boom"));
        } else {
            assert_eq!(r.count, 1);
            assert!(r.message.ends_with("status.code: unknown status code 3"));
        }
    }
    // the kind is an int32: a 64-bit varint is truncated, as prost does (2^32 + 3 → client)
    let mut raw = good_span();
    raw.kind = 0;
    let mut bytes = raw.encode_to_vec();
    bytes.extend(varint_field(6, (1 << 32) + 3));
    let (b, _) = check(
        "kind truncated",
        &request_with_raw_span(&bytes),
        Expect::Spans(1, 0, ""),
    );
    assert_eq!(spans_of(&b)[0].kind as i32, 3);
    // an all-zero parent is a root; an empty one too
    let mut zero_parent = good_span();
    zero_parent.parent_span_id = vec![0; 8];
    let (b, _) = check(
        "zero parent",
        &request(vec![zero_parent]).encode_to_vec(),
        Expect::Spans(1, 0, ""),
    );
    assert_eq!(spans_of(&b)[0].parent_span_id, None);
}

#[test]
fn empty_and_malformed_messages() {
    check("empty", &[], Expect::Spans(0, 0, ""));
    check(
        "empty resource spans",
        &field(1, &[]),
        Expect::Spans(0, 0, ""),
    );
    let good = request(vec![good_span()]).encode_to_vec();
    check(
        "truncated",
        &good[..good.len() - 1],
        Expect::Error("resourceSpans[0]"),
    );
    let mut bad_name = good_span().encode_to_vec();
    bad_name.extend(field(5, &[0xff, 0xfe]));
    check(
        "invalid utf-8",
        &request_with_raw_span(&bad_name),
        Expect::Error("resourceSpans[0].scopeSpans[0].spans[0].name: invalid UTF-8"),
    );
    let mut wrong_wire = good_span().encode_to_vec();
    wrong_wire.extend(varint_field(7, 5));
    check(
        "time as varint",
        &request_with_raw_span(&wrong_wire),
        Expect::Error("startTimeUnixNano: expected wire type 64-bit, got varint"),
    );
    check("tag zero", &[0x02, 0x00], Expect::Error("field number 0"));
    check("end group", &[0x0c], Expect::Error("end-group"));
    check("wire type 7", &[0x0f], Expect::Error("invalid wire type 7"));
}

#[test]
fn unknown_fields_of_every_wire_type_are_skipped() {
    let mut span = good_span().encode_to_vec();
    // varint, 64-bit, length-delimited, 32-bit, and a group holding a nested group
    span.extend(varint_field(40, 1 << 40));
    encode_key(41, WireType::SixtyFourBit, &mut span);
    span.extend([1; 8]);
    span.extend(field(42, b"whatever"));
    encode_key(43, WireType::ThirtyTwoBit, &mut span);
    span.extend([2; 4]);
    encode_key(44, WireType::StartGroup, &mut span);
    encode_key(45, WireType::StartGroup, &mut span);
    span.extend(varint_field(1, 7));
    encode_key(45, WireType::EndGroup, &mut span);
    encode_key(44, WireType::EndGroup, &mut span);
    let (b, _) = check(
        "unknown fields",
        &request_with_raw_span(&span),
        Expect::Spans(1, 0, ""),
    );
    assert_eq!(spans_of(&b)[0].name, "GET /");
    // a group closed by the wrong field number is an error
    let mut bad = good_span().encode_to_vec();
    encode_key(44, WireType::StartGroup, &mut bad);
    encode_key(46, WireType::EndGroup, &mut bad);
    check(
        "mismatched group",
        &request_with_raw_span(&bad),
        Expect::Error("(unknown field 44)"),
    );
}

#[test]
fn repeated_fields_merge_as_prost_merges() {
    // a singular field twice: the last wins; status twice: merged field by field (a code of 0
    // is not written, so the first code stays)
    let mut span = good_span().encode_to_vec();
    span.extend(field(5, b"second"));
    span.extend(field(
        15,
        &pb::Status {
            code: 2,
            message: String::new(),
        }
        .encode_to_vec(),
    ));
    span.extend(field(
        15,
        &pb::Status {
            code: 0,
            message: "later".into(),
        }
        .encode_to_vec(),
    ));
    // an attribute whose value comes as two arrays: one array of both
    let arr = |v: i64| common::AnyValue {
        value: Some(common::any_value::Value::ArrayValue(common::ArrayValue {
            values: vec![common::AnyValue {
                value: Some(common::any_value::Value::IntValue(v)),
            }],
        })),
    };
    let mut kv = field(1, b"k");
    kv.extend(field(2, &arr(1).encode_to_vec()));
    kv.extend(field(2, &arr(2).encode_to_vec()));
    span.extend(field(9, &kv));
    let (b, _) = check(
        "merges",
        &request_with_raw_span(&span),
        Expect::Spans(1, 0, ""),
    );
    let s = spans_of(&b)[0];
    assert_eq!(s.name, "second");
    assert_eq!(
        (s.status.code as i32, s.status.message.as_str()),
        (2, "later")
    );
    assert_eq!(
        s.attributes[0].value,
        AnyValue::Array(vec![AnyValue::Int(1), AnyValue::Int(2)])
    );
    // the resource twice: attributes of both
    let attr = |k: &str| common::KeyValue {
        key: k.into(),
        ..Default::default()
    };
    let r1 = pb_resource::Resource {
        attributes: vec![attr("a")],
        ..Default::default()
    };
    let r2 = pb_resource::Resource {
        attributes: vec![attr("b")],
        dropped_attributes_count: 3,
        ..Default::default()
    };
    let mut rs = field(1, &r1.encode_to_vec());
    rs.extend(field(2, &field(2, &good_span().encode_to_vec())));
    rs.extend(field(1, &r2.encode_to_vec()));
    let (b, _) = check("resource twice", &field(1, &rs), Expect::Spans(1, 0, ""));
    let r = &b.resource_spans[0].resource;
    let keys: Vec<&str> = r.attributes.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!((keys, r.dropped_attributes_count), (vec!["a", "b"], 3));
}

/// A kvlist `depth` levels deep on the one attribute of a span.
fn nested_kvlist(depth: usize) -> Vec<u8> {
    let mut value = common::AnyValue {
        value: Some(common::any_value::Value::StringValue("leaf".into())),
    };
    for _ in 0..depth {
        value = common::AnyValue {
            value: Some(common::any_value::Value::KvlistValue(
                common::KeyValueList {
                    values: vec![common::KeyValue {
                        key: "k".into(),
                        value: Some(value),
                        ..Default::default()
                    }],
                },
            )),
        };
    }
    let mut s = good_span();
    s.attributes = vec![common::KeyValue {
        key: "deep".into(),
        value: Some(value),
        ..Default::default()
    }];
    request(vec![s]).encode_to_vec()
}

#[test]
fn nesting_is_limited_where_prost_limits_it() {
    let mut outcomes = Vec::new();
    for depth in 0..40 {
        let got = agree(&nested_kvlist(depth)).unwrap_or_else(|e| panic!("depth {depth}: {e}"));
        outcomes.push(got.is_ok());
    }
    // shallow values decode, the deepest do not, and the limit is a single cut
    assert!(outcomes[..25].iter().all(|ok| *ok), "{outcomes:?}");
    assert!(!outcomes[39], "{outcomes:?}");
    let cut = outcomes.iter().position(|ok| !ok).unwrap();
    assert!(outcomes[cut..].iter().all(|ok| !ok), "{outcomes:?}");
    check(
        "too deep",
        &nested_kvlist(39),
        Expect::Error("nested more than 100 deep"),
    );
    let (b, _) = check("deep", &nested_kvlist(20), Expect::Spans(1, 0, ""));
    let mut v = &spans_of(&b)[0].attributes[0].value;
    for _ in 0..20 {
        match v {
            AnyValue::KvList(kvs) => v = &kvs[0].value,
            other => panic!("expected a kvlist, got {other:?}"),
        }
    }
    assert_eq!(v, &AnyValue::String("leaf".into()));
}

// ---- a schema-less protobuf tree, for structural edits -------------------------------------

#[derive(Clone, Debug)]
enum Val {
    Varint(u64),
    I64([u8; 8]),
    I32([u8; 4]),
    Bytes(Vec<u8>),
    Msg(Vec<F>),
    Group(Vec<F>),
}

#[derive(Clone, Debug)]
struct F {
    tag: u32,
    val: Val,
}

/// Parses `b` as a message; a length-delimited payload that parses as one is kept as a
/// message (strings that happen to parse are too, which only adds variety).
fn parse(mut b: &[u8], depth: usize) -> Option<Vec<F>> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let (tag, wt) = prost::encoding::decode_key(&mut b).ok()?;
        let val = match wt {
            WireType::Varint => Val::Varint(prost::encoding::decode_varint(&mut b).ok()?),
            WireType::SixtyFourBit => {
                let (v, rest) = b.split_first_chunk::<8>()?;
                b = rest;
                Val::I64(*v)
            }
            WireType::ThirtyTwoBit => {
                let (v, rest) = b.split_first_chunk::<4>()?;
                b = rest;
                Val::I32(*v)
            }
            WireType::LengthDelimited => {
                let len = prost::encoding::decode_varint(&mut b).ok()? as usize;
                if len > b.len() {
                    return None;
                }
                let (v, rest) = b.split_at(len);
                b = rest;
                match (depth < 60 && !v.is_empty())
                    .then(|| parse(v, depth + 1))
                    .flatten()
                {
                    Some(m) => Val::Msg(m),
                    None => Val::Bytes(v.to_vec()),
                }
            }
            WireType::StartGroup | WireType::EndGroup => return None,
        };
        out.push(F { tag, val });
    }
    Some(out)
}

fn encode(fields: &[F]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in fields {
        encode_field(f, &mut out);
    }
    out
}

fn encode_field(f: &F, out: &mut Vec<u8>) {
    match &f.val {
        Val::Varint(v) => {
            encode_key(f.tag, WireType::Varint, out);
            encode_varint(*v, out);
        }
        Val::I64(v) => {
            encode_key(f.tag, WireType::SixtyFourBit, out);
            out.extend(v);
        }
        Val::I32(v) => {
            encode_key(f.tag, WireType::ThirtyTwoBit, out);
            out.extend(v);
        }
        Val::Bytes(v) => out.extend(field(f.tag, v)),
        Val::Msg(m) => out.extend(field(f.tag, &encode(m))),
        Val::Group(m) => {
            encode_key(f.tag, WireType::StartGroup, out);
            for g in m {
                encode_field(g, out);
            }
            encode_key(f.tag, WireType::EndGroup, out);
        }
    }
}

/// Counts the messages in the tree (the root included).
fn count_messages(fields: &[F]) -> u64 {
    1 + fields
        .iter()
        .map(|f| match &f.val {
            Val::Msg(m) => count_messages(m),
            _ => 0,
        })
        .sum::<u64>()
}

/// Applies one random edit to one random message of the tree.
fn edit(root: &mut Vec<F>, rng: &mut Rng) {
    let mut target = rng.below(count_messages(root));
    edit_at(root, &mut target, rng);
}

fn edit_at(fields: &mut Vec<F>, target: &mut u64, rng: &mut Rng) -> bool {
    if *target == 0 {
        edit_message(fields, rng);
        return true;
    }
    *target -= 1;
    for f in fields.iter_mut() {
        if let Val::Msg(m) = &mut f.val {
            if edit_at(m, target, rng) {
                return true;
            }
        }
    }
    false
}

fn random_scalar(rng: &mut Rng) -> Val {
    match rng.below(4) {
        0 => Val::Varint(match rng.below(3) {
            0 => rng.below(8),
            1 => rng.next() >> rng.below(64),
            _ => u64::MAX,
        }),
        1 => Val::I64(rng.next().to_le_bytes()),
        2 => Val::I32((rng.next() as u32).to_le_bytes()),
        _ => Val::Bytes((0..rng.below(20)).map(|_| rng.next() as u8).collect()),
    }
}

fn edit_message(fields: &mut Vec<F>, rng: &mut Rng) {
    let n = fields.len() as u64;
    let pos = |rng: &mut Rng| rng.below(n + 1) as usize;
    match rng.below(8) {
        // an unknown field: any scalar wire type, or a group (maybe holding a group)
        0 | 1 => {
            let tag = [17, 20, 99, 1000, (1 << 29) - 1][rng.below(5) as usize];
            let val = if rng.below(3) == 0 {
                let mut inner = vec![F {
                    tag: 1,
                    val: random_scalar(rng),
                }];
                if rng.below(2) == 0 {
                    inner.push(F {
                        tag: 7,
                        val: Val::Group(vec![F {
                            tag: 2,
                            val: random_scalar(rng),
                        }]),
                    });
                }
                Val::Group(inner)
            } else {
                random_scalar(rng)
            };
            let at = pos(rng);
            fields.insert(at, F { tag, val });
        }
        _ if n == 0 => {}
        // a field again, somewhere else (singular: last wins; message: merged; repeated: appended)
        2 | 3 => {
            let f = fields[rng.below(n) as usize].clone();
            let at = pos(rng);
            fields.insert(at, f);
        }
        // fields in another order
        4 => {
            let f = fields.remove(rng.below(n) as usize);
            let at = rng.below(n) as usize;
            fields.insert(at, f);
        }
        5 => {
            fields.remove(rng.below(n) as usize);
        }
        // another value, maybe of another wire type (ids of other lengths, bad UTF-8, big varints)
        6 => {
            let i = rng.below(n) as usize;
            fields[i].val = match (&fields[i].val, rng.below(2)) {
                (Val::Varint(_), 0) => Val::Varint(rng.next() >> rng.below(64)),
                (Val::Bytes(b), 0) if !b.is_empty() => {
                    let mut b = b.clone();
                    let at = rng.below(b.len() as u64) as usize;
                    if rng.below(2) == 0 {
                        b.truncate(at);
                    } else {
                        b[at] = 0x80 | rng.next() as u8;
                    }
                    Val::Bytes(b)
                }
                _ => random_scalar(rng),
            };
        }
        // a known field number with an unrelated value
        _ => {
            let tag = 1 + rng.below(16) as u32;
            let at = pos(rng);
            fields.insert(
                at,
                F {
                    tag,
                    val: random_scalar(rng),
                },
            );
        }
    }
}

/// Whether a value is one `edit_value` may change: an id-sized byte string or a varint.
fn editable(v: &Val) -> bool {
    matches!(v, Val::Bytes(b) if b.len() == 8 || b.len() == 16) || matches!(v, Val::Varint(_))
}

fn count_editable(fields: &[F]) -> u64 {
    fields
        .iter()
        .map(|f| match &f.val {
            Val::Msg(m) => count_editable(m),
            v => u64::from(editable(v)),
        })
        .sum()
}

/// Changes one id (to zeros or another length) or one varint (to a small number: kinds and
/// status codes out of range, flags, counts), so that spans get rejected.
fn edit_value(root: &mut [F], rng: &mut Rng) {
    let n = count_editable(root);
    if n > 0 {
        let mut target = rng.below(n);
        edit_value_at(root, &mut target, rng);
    }
}

fn edit_value_at(fields: &mut [F], target: &mut u64, rng: &mut Rng) -> bool {
    for f in fields {
        let done = match &mut f.val {
            Val::Msg(m) => edit_value_at(m, target, rng),
            v if editable(v) && *target == 0 => {
                *v = match v {
                    Val::Bytes(b) => match rng.below(3) {
                        0 => Val::Bytes(vec![0; b.len()]),
                        1 => Val::Bytes(b[..rng.below(b.len() as u64) as usize].to_vec()),
                        _ => Val::Bytes([b.as_slice(), &[7]].concat()),
                    },
                    _ => Val::Varint(rng.below(10)),
                };
                true
            }
            v if editable(v) => {
                *target -= 1;
                false
            }
            _ => false,
        };
        if done {
            return true;
        }
    }
    false
}

/// xorshift64: reproducible choices from the proptest seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

/// Each span's and resource's attribute vector is sized once, from a read-ahead over the
/// message: it neither regrows while decoding nor keeps slack afterwards.
#[test]
fn attribute_vectors_are_sized_exactly() {
    let kv = |i: usize| common::KeyValue {
        key: format!("key.{i}"),
        value: Some(common::AnyValue {
            value: Some(common::any_value::Value::StringValue("v".repeat(i * 7))),
        }),
        ..Default::default()
    };
    for n in [1usize, 2, 5, 9, 40, 300] {
        let mut span = good_span();
        span.attributes = (0..n).map(kv).collect();
        // a field after the attributes, which the read-ahead must skip
        span.events = vec![pb::span::Event {
            name: "e".into(),
            attributes: vec![kv(1)],
            ..Default::default()
        }];
        let mut req = request(vec![span]);
        req.resource_spans[0].resource = Some(pb_resource::Resource {
            attributes: (0..n).map(kv).collect(),
            ..Default::default()
        });
        let (b, _) = check("sized", &req.encode_to_vec(), Expect::Spans(1, 0, ""));
        let s = spans_of(&b)[0];
        assert_eq!(
            (s.attributes.len(), s.attributes.capacity()),
            (n, n),
            "span attributes"
        );
        let r = &b.resource_spans[0].resource;
        assert_eq!(
            (r.attributes.len(), r.attributes.capacity()),
            (n, n),
            "resource attributes"
        );
    }
}
