//! Immutable blocks: one directory per block holding
//!
//! - `spans.parquet`: one row per span, sorted by (trace id, start), zstd, dictionary-encoded
//!   strings, the most frequent attribute keys in columns of their own (format 2); row groups
//!   of 65,536 rows in pages of 8,192, whose trace-id min/max statistics (row group, then page
//!   index) make trace-by-id a probe of one or two pages;
//! - `summary.parquet`: one row per trace (root service/name, start, end, span and error counts,
//!   services), so search results are cheap;
//! - `bloom.bin`: a bloom filter over the block's trace ids, kept in memory;
//! - `terms.bin`: one bloom filter per row group over the attribute terms of its spans and
//!   their resources, kept in memory, so an attribute search reads only the row groups that
//!   may hold the value;
//! - `meta.json`: time range, counts, services and operations, the WAL sequence it covers and
//!   the blocks it was compacted from.
//!
//! Columns that OTLP nests (resource, scope, attributes, events, links) are stored as OTLP
//! protobuf bytes, so a block written today reads back losslessly and any OTLP decoder can
//! read those cells; the fields searches filter on are plain columns.

use crate::bloom::{Bloom, RowGroupTerms};
use crate::pread::PreadFile;
use crate::{terms, Result, SearchQuery, StoreError};
use arrow_array::builder::{
    BinaryBuilder, BinaryDictionaryBuilder, BooleanBuilder, FixedSizeBinaryBuilder, Int32Builder,
    Int64Builder, ListBuilder, StringBuilder, UInt64Builder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type, UInt64Type};
use arrow_array::{
    Array, ArrayRef, BinaryArray, DictionaryArray, Int32Array, ListArray, RecordBatch, StringArray,
};
use arrow_buffer::{OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use opentelemetry_proto::tonic::trace::v1 as pb;
use parquet::arrow::arrow_reader::RowSelection;
use parquet::arrow::arrow_reader::{
    ArrowPredicateFn, ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
    RowFilter,
};
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::PageIndexPolicy;
use parquet::file::metadata::SortingColumn;
use parquet::file::page_index::column_index::ColumnIndexMetaData;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::statistics::Statistics;
use parquet::schema::types::ColumnPath;
use prost::Message;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use weft_model::{FlatSpan, Resource, Scope, Span, StatusCode, TraceId, TraceSummary};
use weft_proto::otlp;

pub const SPANS_FILE: &str = "spans.parquet";
pub const SUMMARY_FILE: &str = "summary.parquet";
pub const BLOOM_FILE: &str = "bloom.bin";
/// Per-row-group bloom filters over attribute terms (optional: older blocks have none).
pub const TERMS_FILE: &str = "terms.bin";
pub const META_FILE: &str = "meta.json";
/// Rows per row group. Large, so that each column's dictionary and each group's term filter
/// serve many rows (on the bench workload: 8,192 → 65,536 rows took 34.7 → ~30 B/span).
pub const ROW_GROUP_ROWS: usize = 65536;
/// Rows per data page: a trace-by-id probe decodes only the pages whose trace-id range holds
/// the trace (page index), so this, not the row group, bounds the work of one lookup.
pub const PAGE_ROWS: usize = 8192;

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct BlockMeta {
    pub id: String,
    pub format: u32,
    pub min_start_unix_nano: u64,
    pub max_start_unix_nano: u64,
    pub max_end_unix_nano: u64,
    pub span_count: u64,
    pub trace_count: u64,
    /// Every WAL segment with a sequence number at most this is contained in this block.
    pub wal_through: u64,
    pub level: u32,
    /// When the data was ingested (the cut), or for a compacted block the newest of its
    /// sources: retention counts from here, not from span timestamps, so spans from a client
    /// with a skewed clock (or replayed old data) are kept as long as any other.
    #[serde(default)]
    pub created_unix_nano: u64,
    pub compacted_from: Vec<String>,
    /// service -> [(span name, kind)]
    pub operations: BTreeMap<String, BTreeSet<(String, i32)>>,
    pub bytes: u64,
    /// The span attribute keys with a column of their own (`dedicated_<i>`), most frequent
    /// first (format 2; empty before).
    #[serde(default)]
    pub dedicated_keys: Vec<String>,
}

mod col {
    pub const TRACE_ID: &str = "trace_id";
    pub const SPAN_ID: &str = "span_id";
    pub const PARENT_SPAN_ID: &str = "parent_span_id";
    pub const START: &str = "start_unix_nano";
    pub const DURATION: &str = "duration_nano";
    pub const SERVICE: &str = "service_name";
    pub const NAME: &str = "name";
    pub const KIND: &str = "kind";
    pub const STATUS_CODE: &str = "status_code";
    pub const STATUS_MESSAGE: &str = "status_message";
    pub const RESOURCE: &str = "resource";
    pub const SCOPE: &str = "scope";
    pub const DETAIL: &str = "detail";
    pub const ATTRS: &str = "attrs";
    pub const PARENT_ROW: &str = "parent_row";
    pub const ATTR_LAYOUT: &str = "attr_layout";
    /// Prefix of the dedicated attribute columns: `dedicated_0`, `dedicated_1`, ...
    pub const DEDICATED: &str = "dedicated_";
}

/// Position of `attr_layout`; the dedicated columns follow it.
const LAYOUT_COLUMN: usize = 15;
/// In an `attr_layout` cell: the next attribute comes from the `attrs` list.
const FROM_LIST: u8 = u8::MAX;
/// At most this many keys get a column of their own.
pub const MAX_DEDICATED: usize = 16;
/// A key gets a column of its own when at least this share of a block's spans has it.
const DEDICATED_MIN_SHARE: f64 = 0.2;

fn dict() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

fn bin_dict() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Binary))
}

/// The spans schema of a block with `dedicated` dedicated attribute columns.
pub fn spans_schema(dedicated: usize) -> SchemaRef {
    let mut fields = spans_fields();
    // format 2: the order of a span's attributes when some are in dedicated columns: one
    // byte per attribute, the dedicated column's number or FROM_LIST. Null when every
    // attribute is in `attrs` (in order). Spans of one instrumentation share a few layouts,
    // so the dictionary makes this nearly free.
    fields.push(Field::new(col::ATTR_LAYOUT, bin_dict(), true));
    for i in 0..dedicated {
        // the attribute's term (as in `attrs`), null when the span has no such scalar
        fields.push(Field::new(format!("{}{i}", col::DEDICATED), dict(), true));
    }
    Arc::new(Schema::new(fields))
}

fn spans_fields() -> Vec<Field> {
    vec![
        Field::new(col::TRACE_ID, DataType::FixedSizeBinary(16), false),
        Field::new(col::SPAN_ID, DataType::FixedSizeBinary(8), false),
        Field::new(col::PARENT_SPAN_ID, DataType::FixedSizeBinary(8), true),
        Field::new(col::START, DataType::Int64, false),
        // end - start, signed (so an end before the start survives)
        Field::new(col::DURATION, DataType::Int64, false),
        // format 1 wrote each span's service name here; format 2 leaves it null (the name is
        // in the resource cell, whose dictionary holds each distinct resource once)
        Field::new(col::SERVICE, dict(), true),
        Field::new(col::NAME, dict(), false),
        Field::new(col::KIND, DataType::Int32, false),
        Field::new(col::STATUS_CODE, DataType::Int32, false),
        Field::new(col::STATUS_MESSAGE, DataType::Utf8, false),
        // OTLP protobuf `ResourceSpans` without spans: the resource and its schema url
        Field::new(col::RESOURCE, bin_dict(), false),
        // OTLP protobuf `ScopeSpans` without spans: the scope and its schema url
        Field::new(col::SCOPE, bin_dict(), false),
        // OTLP protobuf `Span` holding what the other columns do not: events, links, trace
        // state, flags, dropped counts, and the attributes only when one is not scalar
        Field::new(col::DETAIL, DataType::Binary, false),
        // the span's scalar attributes as typed terms (see `terms`): their stored form when
        // `detail` has no attributes, and what attribute search reads
        Field::new(
            col::ATTRS,
            DataType::List(Arc::new(Field::new("item", dict(), true))),
            false,
        ),
        // format 2: when the parent is in this block's part of the trace, its position among
        // the trace's rows (and `parent_span_id` is null): a small number instead of 8 random
        // bytes. Null when the parent is elsewhere (then `parent_span_id` holds it) or absent.
        Field::new(col::PARENT_ROW, DataType::Int32, true),
    ]
}

pub fn summary_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("trace_id", DataType::FixedSizeBinary(16), false),
        Field::new("root_service", dict(), false),
        Field::new("root_name", dict(), false),
        Field::new("has_root", DataType::Boolean, false),
        Field::new("start_unix_nano", DataType::UInt64, false),
        Field::new("end_unix_nano", DataType::UInt64, false),
        Field::new("span_count", DataType::UInt64, false),
        Field::new("error_count", DataType::UInt64, false),
        Field::new(
            "services",
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            false,
        ),
    ]))
}

fn pq_err(path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::Parquet {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

fn corrupt(path: &Path, message: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        path: path.display().to_string(),
        message: message.into(),
    }
}

/// zstd level by block level: fast for the blocks cut from the head (the cut must keep up
/// with ingest), zstd's default when compaction rewrites them in the background. Level 9
/// there made a 100k-span block 0.4 % smaller than level 3 (29.80 against 29.92 bytes per
/// span) for about a third more time to write it (the `cut` bench); after a 10M-span
/// compaction both gave 29.5 bytes per span.
fn zstd_level(block_level: u32) -> i32 {
    if block_level == 0 {
        1
    } else {
        3
    }
}

fn writer_props(sorted: bool, block_level: u32) -> WriterProperties {
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(zstd_level(block_level)).expect("valid level"),
        ))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_data_page_row_count_limit(PAGE_ROWS)
        // min/max serve two probes only: trace ids (row groups, then the page index) and
        // start times (row groups); computing them for the other columns cost the cut a
        // comparison per value (string columns: a memcmp each)
        .set_statistics_enabled(EnabledStatistics::None)
        .set_column_statistics_enabled(ColumnPath::from(col::TRACE_ID), EnabledStatistics::Page)
        .set_column_statistics_enabled(ColumnPath::from(col::START), EnabledStatistics::Page)
        .set_column_dictionary_enabled(ColumnPath::from(col::DETAIL), false)
        .set_column_dictionary_enabled(ColumnPath::from(col::SPAN_ID), false)
        .set_column_dictionary_enabled(ColumnPath::from(col::TRACE_ID), false)
        // times are nearly unique per span: a dictionary only adds an index per value.
        // Byte-stream split puts the high bytes of all values together, where zstd finds
        // them equal (measured on the bench workload: start 5.9 → 3.9 B/span, duration
        // 5.5 → 3.4); parent ids are smaller plain than with a dictionary (5.4 → 4.4)
        .set_column_dictionary_enabled(ColumnPath::from(col::START), false)
        .set_column_encoding(ColumnPath::from(col::START), Encoding::BYTE_STREAM_SPLIT)
        .set_column_dictionary_enabled(ColumnPath::from(col::DURATION), false)
        .set_column_encoding(ColumnPath::from(col::DURATION), Encoding::BYTE_STREAM_SPLIT)
        .set_column_dictionary_enabled(ColumnPath::from(col::PARENT_SPAN_ID), false)
        // nearly always empty: plain empty strings cost zstd nothing, and a dictionary
        // cost the cut a hash per span
        .set_column_dictionary_enabled(ColumnPath::from(col::STATUS_MESSAGE), false)
        // a few small numbers each: bit-packed deltas are nearly as small as dictionary
        // indices (bench workload: +0.03 bytes per span for both), without a hash per value
        .set_column_dictionary_enabled(ColumnPath::from(col::KIND), false)
        .set_column_encoding(ColumnPath::from(col::KIND), Encoding::DELTA_BINARY_PACKED)
        .set_column_dictionary_enabled(ColumnPath::from(col::STATUS_CODE), false)
        .set_column_encoding(
            ColumnPath::from(col::STATUS_CODE),
            Encoding::DELTA_BINARY_PACKED,
        )
        // the summary's trace end
        .set_column_dictionary_enabled(ColumnPath::from("end_unix_nano"), false)
        .set_column_encoding(
            ColumnPath::from("end_unix_nano"),
            Encoding::BYTE_STREAM_SPLIT,
        );
    if sorted {
        b = b.set_sorting_columns(Some(vec![
            SortingColumn {
                column_idx: 0,
                descending: false,
                nulls_first: false,
            },
            SortingColumn {
                column_idx: 3,
                descending: false,
                nulls_first: false,
            },
        ]));
    }
    b.build()
}

/// Writes a block from spans (any order; they are sorted here) into `blocks_dir/<id>`.
/// The block appears atomically: it is written under `<id>.tmp` and renamed when complete.
///
/// The spans are read once, in the order given, which for a cut is the order they arrived in
/// and so roughly the order of their memory: every string a column or a summary needs
/// (resource, scope, name, attribute terms) becomes a small id, and the fields the rest needs
/// are copied into a small row. Everything after works in
/// block order, which is random in memory, and reads only those ids and rows (and a span
/// whose detail cell holds events, links or attributes the terms cannot hold).
pub fn write_block(
    blocks_dir: &Path,
    id: &str,
    spans: Vec<&FlatSpan>,
    wal_through: u64,
    level: u32,
    created_unix_nano: u64,
    compacted_from: Vec<String>,
) -> Result<Block> {
    let origin = Origin {
        wal_through,
        level,
        created_unix_nano,
        compacted_from,
    };
    stage_block(blocks_dir, id, spans, origin)?.publish()
}

/// Where a block's spans came from, as its meta records it.
pub struct Origin {
    /// The newest WAL segment whose spans are in blocks once this one is published.
    pub wal_through: u64,
    /// 0 for a cut head; one more than the highest merged block for compaction.
    pub level: u32,
    pub created_unix_nano: u64,
    /// The blocks compaction merged into this one.
    pub compacted_from: Vec<String>,
}

/// A block written and synced under a temporary name, which readers and a restart ignore
/// (a restart deletes it): [`StagedBlock::publish`] makes it a block. Cuts that write several
/// heads at once stage them in parallel and publish them in WAL order, since a published
/// block's `wal_through` tells a restart which WAL segments are already in blocks.
pub struct StagedBlock {
    tmp: PathBuf,
    final_dir: PathBuf,
    blocks_dir: PathBuf,
}

impl StagedBlock {
    /// Renames the staged block into place (durably) and opens it.
    pub fn publish(self) -> Result<Block> {
        std::fs::rename(&self.tmp, &self.final_dir)
            .map_err(|e| StoreError::io(&self.final_dir, e))?;
        crate::wal::sync_dir(&self.blocks_dir)?;
        Block::open(&self.final_dir)
    }

    /// Deletes the staged block (its spans are still in the WAL or in their source blocks).
    pub fn discard(self) {
        let _ = std::fs::remove_dir_all(&self.tmp);
    }
}

/// [`write_block`] up to its publication.
pub fn stage_block(
    blocks_dir: &Path,
    id: &str,
    spans: Vec<&FlatSpan>,
    origin: Origin,
) -> Result<StagedBlock> {
    let Origin {
        wal_through,
        level,
        created_unix_nano,
        compacted_from,
    } = origin;
    let tmp = blocks_dir.join(format!("{id}.tmp"));
    let final_dir = blocks_dir.join(id);
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| StoreError::io(&tmp, e))?;

    let mut meta = BlockMeta {
        id: id.to_string(),
        format: 2,
        min_start_unix_nano: u64::MAX,
        wal_through,
        level,
        created_unix_nano,
        compacted_from,
        ..Default::default()
    };
    let ids = Ids::new(&spans);
    meta.dedicated_keys = ids.dedicated_keys.clone();
    // block order: positions into `spans` (and `ids`), and each span's row gathered in it
    let order = sorted_unique(&ids.rows);
    let sorted: Vec<Row> = order.iter().map(|&i| ids.rows[i]).collect();
    let traces = sorted.chunk_by(|a, b| a.trace_id == b.trace_id).count();
    let mut bloom = Bloom::with_capacity(traces);
    let mut summaries = CutSummaries::with_capacity(traces);
    // (service, span name, kind) by id
    let mut ops: rustc_hash::FxHashSet<(u32, i32, i32)> = Default::default();
    for s in &sorted {
        meta.min_start_unix_nano = meta.min_start_unix_nano.min(s.start);
        meta.max_start_unix_nano = meta.max_start_unix_nano.max(s.start);
        meta.max_end_unix_nano = meta.max_end_unix_nano.max(s.end);
        let svc = ids.resource_service[s.resource as usize];
        ops.insert((svc, s.name, i32::from(s.kind)));
        if summaries.add(s, svc, &ids.services) {
            bloom.insert(&s.trace_id);
        }
    }
    summaries.finish(&ids.services);
    for (svc, name, kind) in ops {
        meta.operations
            .entry(ids.services[svc as usize].to_string())
            .or_default()
            .insert((ids.names[name as usize].to_string(), kind));
    }
    meta.span_count = sorted.len() as u64;
    meta.trace_count = summaries.rows.len() as u64;
    if sorted.is_empty() {
        meta.min_start_unix_nano = 0;
    }

    let spans_path = tmp.join(SPANS_FILE);
    let mut row_group_terms = RowGroupTerms::default();
    let parent_rows = parent_rows(&sorted);
    let values = ids.dictionaries();
    let mut term_seen = vec![false; values.terms.len()];
    let dedicated = meta.dedicated_keys.len();
    write_parquet(
        &spans_path,
        spans_schema(dedicated),
        writer_props(true, level),
        (0..sorted.len()).step_by(ROW_GROUP_ROWS).map(|first| {
            let rows = first..(first + ROW_GROUP_ROWS).min(sorted.len());
            let group = RowGroup {
                rows: &sorted[rows.clone()],
                spans: &spans,
                at: &order[rows.clone()],
                parent_rows: &parent_rows[rows],
            };
            let (batch, terms) = spans_batch(group, &ids, &values, dedicated, &mut term_seen);
            row_group_terms.groups.push(terms);
            batch
        }),
    )?;
    let summary_path = tmp.join(SUMMARY_FILE);
    write_parquet(
        &summary_path,
        summary_schema(),
        writer_props(true, level),
        (0..summaries.rows.len())
            .step_by(ROW_GROUP_ROWS)
            .map(|first| {
                summaries.batch(
                    first..(first + ROW_GROUP_ROWS).min(summaries.rows.len()),
                    &ids,
                    &values,
                )
            }),
    )?;
    let bloom_path = tmp.join(BLOOM_FILE);
    write_synced(&bloom_path, &bloom.to_bytes())?;
    let terms_path = tmp.join(TERMS_FILE);
    write_synced(&terms_path, &row_group_terms.to_bytes())?;
    meta.bytes = [&spans_path, &summary_path, &bloom_path, &terms_path]
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    let meta_path = tmp.join(META_FILE);
    let meta_json = serde_json::to_vec_pretty(&meta).expect("meta serializes");
    write_synced(&meta_path, &meta_json)?;
    crate::wal::sync_dir(&tmp)?;
    Ok(StagedBlock {
        tmp,
        final_dir,
        blocks_dir: blocks_dir.to_path_buf(),
    })
}

fn write_synced(path: &Path, data: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut f = File::create(path).map_err(|e| StoreError::io(path, e))?;
    f.write_all(data)
        .and_then(|_| f.sync_all())
        .map_err(|e| StoreError::io(path, e))
}

fn write_parquet(
    path: &Path,
    schema: SchemaRef,
    props: WriterProperties,
    batches: impl Iterator<Item = RecordBatch>,
) -> Result<()> {
    let file = File::create(path).map_err(|e| StoreError::io(path, e))?;
    let mut w = ArrowWriter::try_new(file, schema, Some(props)).map_err(|e| pq_err(path, e))?;
    for b in batches {
        w.write(&b).map_err(|e| pq_err(path, e))?;
        // one row group per batch keeps row groups aligned with ROW_GROUP_ROWS
        w.flush().map_err(|e| pq_err(path, e))?;
    }
    let file = w.into_inner().map_err(|e| pq_err(path, e))?;
    file.sync_all().map_err(|e| StoreError::io(path, e))
}

/// The block order of `spans`, as positions into it: sorted by (trace id, start, span id),
/// each (trace id, span id, start) once (the same span twice, from a retried export or a
/// crash between compaction steps, is kept once). Sorted through a compact key per span, so
/// the sort neither follows pointers nor compares byte arrays.
fn sorted_unique(rows: &[Row]) -> Vec<usize> {
    let mut keys: Vec<(u128, u64, u64, usize)> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            (
                u128::from_be_bytes(r.trace_id.0),
                r.start,
                u64::from_be_bytes(r.span_id.0),
                i,
            )
        })
        .collect();
    // big-endian keys order as the bytes do; the position breaks ties, so this is a stable
    // sort's order and the first of equal spans is kept
    keys.sort_unstable();
    keys.dedup_by(|a, b| (a.0, a.1, a.2) == (b.0, b.1, b.2));
    keys.into_iter().map(|k| k.3).collect()
}

/// A trace's summary as the cut builds it: ids instead of strings (see [`TraceSummary`],
/// whose rules [`CutSummaries::add`] follows), so the cut allocates nothing per trace.
struct CutSummary {
    trace_id: TraceId,
    /// (service id, span name id) of the span that names the trace.
    root: (u32, i32),
    has_root: bool,
    start: u64,
    end: u64,
    span_count: u64,
    error_count: u64,
    /// The trace's services: `CutSummaries::services[services.0..services.1]`.
    services: (u32, u32),
}

/// The summaries of a block's traces, in block order, with their services in one vector.
struct CutSummaries {
    rows: Vec<CutSummary>,
    /// Each trace's distinct service ids, sorted by name (as a `TraceSummary`'s set is).
    services: Vec<u32>,
}

impl CutSummaries {
    fn with_capacity(traces: usize) -> CutSummaries {
        CutSummaries {
            rows: Vec::with_capacity(traces),
            services: Vec::with_capacity(traces * 2),
        }
    }

    /// Adds a span (spans come in block order, a trace's together); true when it starts a
    /// new trace.
    fn add(&mut self, s: &Row, svc: u32, service_names: &[&str]) -> bool {
        let error = u64::from(s.status == StatusCode::Error as u8);
        let is_root = s.parent.is_none();
        let new = match self.rows.last() {
            Some(last) => last.trace_id != s.trace_id,
            None => true,
        };
        if new {
            self.finish(service_names);
            let at = self.services.len() as u32;
            self.rows.push(CutSummary {
                trace_id: s.trace_id,
                root: (svc, s.name),
                has_root: is_root,
                start: s.start,
                end: s.end,
                span_count: 1,
                error_count: error,
                services: (at, at + 1),
            });
            self.services.push(svc);
            return true;
        }
        let t = self.rows.last_mut().expect("a trace is open");
        // `TraceSummary::takes_root`: a root beats a non-root; between equals, the earlier
        let takes = match (is_root, t.has_root) {
            (true, false) => true,
            (false, true) => false,
            _ => s.start < t.start,
        };
        if takes {
            t.root = (svc, s.name);
            t.has_root = is_root;
        }
        t.start = t.start.min(s.start);
        t.end = t.end.max(s.end);
        t.span_count += 1;
        t.error_count += error;
        if !self.services[t.services.0 as usize..].contains(&svc) {
            self.services.push(svc);
            t.services.1 += 1;
        }
        false
    }

    /// Sorts the last trace's services by name (call once all its spans are added).
    fn finish(&mut self, service_names: &[&str]) {
        if let Some(t) = self.rows.last() {
            self.services[t.services.0 as usize..t.services.1 as usize]
                .sort_unstable_by_key(|&id| service_names[id as usize]);
        }
    }

    /// The summary columns of traces `rows`.
    fn batch(&self, rows: std::ops::Range<usize>, ids: &Ids, values: &DictValues) -> RecordBatch {
        let rows = &self.rows[rows];
        let n = rows.len();
        let mut trace_id = FixedSizeBinaryBuilder::with_capacity(n, 16);
        let mut has_root = BooleanBuilder::with_capacity(n);
        let mut start = UInt64Builder::with_capacity(n);
        let mut end = UInt64Builder::with_capacity(n);
        let mut span_count = UInt64Builder::with_capacity(n);
        let mut error_count = UInt64Builder::with_capacity(n);
        let mut services = ListBuilder::new(StringBuilder::new());
        for r in rows {
            trace_id.append_value(r.trace_id.0).expect("16 bytes");
            has_root.append_value(r.has_root);
            start.append_value(r.start);
            end.append_value(r.end);
            span_count.append_value(r.span_count);
            error_count.append_value(r.error_count);
            for &svc in &self.services[r.services.0 as usize..r.services.1 as usize] {
                services.values().append_value(ids.services[svc as usize]);
            }
            services.append(true);
        }
        let service_values: ArrayRef = Arc::new(StringArray::from_iter_values(ids.services.iter()));
        let root_service = Int32Array::from_iter_values(rows.iter().map(|r| r.root.0 as i32));
        let root_name = Int32Array::from_iter_values(rows.iter().map(|r| r.root.1));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(trace_id.finish()),
            dict_column(root_service, &service_values),
            dict_column(root_name, &values.names),
            Arc::new(has_root.finish()),
            Arc::new(start.finish()),
            Arc::new(end.finish()),
            Arc::new(span_count.finish()),
            Arc::new(error_count.finish()),
            Arc::new(services.finish()),
        ];
        RecordBatch::try_new(summary_schema(), columns).expect("columns match the schema")
    }
}

/// What the block-order passes (summaries, parent rows, columns) need of a span's own fields,
/// copied out in the order given: they then read these small rows instead of following each
/// span's pointer in block order, which is random in memory.
#[derive(Clone, Copy)]
struct Row<'a> {
    trace_id: TraceId,
    span_id: weft_model::SpanId,
    parent: Option<weft_model::SpanId>,
    start: u64,
    end: u64,
    kind: u8,
    status: u8,
    /// Whether the detail cell needs the span itself (events, links, trace state, or
    /// attributes the terms cannot hold); otherwise the fields below are all of it.
    rich: bool,
    flags: u32,
    /// Dropped attribute, event and link counts.
    dropped: [u32; 3],
    /// Ids into `Ids::resources`, `Ids::scopes` and `Ids::names`.
    resource: i32,
    scope: i32,
    name: i32,
    /// Whether every attribute is a term (else its detail cell holds them).
    all_terms: bool,
    /// The span's term ids: `Ids::terms[terms.0..terms.1]`.
    terms: (u32, u32),
    status_message: &'a str,
}

/// What the columns and summaries need of each span's strings, as small ids: its resource,
/// scope and name, and the terms of its attributes. Learnt in one pass over the spans in the
/// order given, so each string is hashed once and read in memory order; each distinct
/// resource and scope is encoded once per block.
struct Ids<'a> {
    /// Per span, in the order given: its row, which holds every id the block-order passes
    /// need, so that they gather one row per span instead of indexing several arrays.
    rows: Vec<Row<'a>>,
    /// The term ids of each span's attributes, in attribute order: one per scalar, and the
    /// search-only element terms of each array.
    terms: ScalarBuffer<i32>,
    /// By term id: the term, and the dedicated column of its key or `FROM_LIST`.
    term_values: ArrayRef,
    term_slot: Vec<u8>,
    /// The keys with a column of their own, by column.
    dedicated_keys: Vec<String>,
    resources: Vec<&'a Arc<Resource>>,
    scopes: Vec<&'a Arc<Scope>>,
    names: Vec<&'a str>,
    /// Per resource id: the id of its service name in `services`.
    resource_service: Vec<u32>,
    services: Vec<&'a str>,
}

/// The distinct values the dictionary columns index, shared by every row group of a block
/// (the Parquet writer keeps in each column chunk only the values its rows use).
struct DictValues {
    names: ArrayRef,
    resources: ArrayRef,
    scopes: ArrayRef,
    terms: ArrayRef,
}

impl<'a> Ids<'a> {
    fn new(spans: &[&'a FlatSpan]) -> Ids<'a> {
        let n = spans.len();
        let mut ids = Ids {
            rows: Vec::with_capacity(n),
            terms: ScalarBuffer::from(Vec::new()),
            term_values: Arc::new(StringArray::from(Vec::<&str>::new())),
            term_slot: Vec::new(),
            dedicated_keys: Vec::new(),
            resources: Vec::new(),
            scopes: Vec::new(),
            names: Vec::new(),
            resource_service: Vec::new(),
            services: Vec::new(),
        };
        // the head interns equal resources and scopes into one allocation: their pointers
        // are their identity (Fx); names and keys come from clients, so ahash, which resists
        // crafted collisions
        let mut resource_ix: rustc_hash::FxHashMap<*const Resource, i32> = Default::default();
        let mut scope_ix: rustc_hash::FxHashMap<*const Scope, i32> = Default::default();
        let mut name_ix: HashMap<&str, i32, ahash::RandomState> = Default::default();
        let mut service_ix: HashMap<&str, u32, ahash::RandomState> = Default::default();
        let mut term_ids = terms::TermIds::default();
        let mut terms: Vec<i32> = Vec::with_capacity(n * 8);
        for (i, fs) in spans.iter().enumerate() {
            let r = *resource_ix
                .entry(Arc::as_ptr(&fs.resource))
                .or_insert_with(|| {
                    let svc = fs.resource.service_name();
                    let next = ids.services.len() as u32;
                    let s = *service_ix.entry(svc).or_insert(next);
                    if s == next {
                        ids.services.push(svc);
                    }
                    ids.resource_service.push(s);
                    ids.resources.push(&fs.resource);
                    ids.resources.len() as i32 - 1
                });
            let sc = *scope_ix.entry(Arc::as_ptr(&fs.scope)).or_insert_with(|| {
                ids.scopes.push(&fs.scope);
                ids.scopes.len() as i32 - 1
            });
            let nm = *name_ix.entry(fs.span.name.as_str()).or_insert_with(|| {
                ids.names.push(&fs.span.name);
                ids.names.len() as i32 - 1
            });
            let terms_start = terms.len() as u32;
            let mut all_terms = true;
            for (pos, kv) in fs.span.attributes.iter().enumerate() {
                match term_ids.scalar(i, pos, &kv.key, &kv.value) {
                    Some((t, _)) => terms.push(t),
                    None => {
                        all_terms = false;
                        for e in terms::element_terms(&kv.key, &kv.value) {
                            terms.push(term_ids.element(e).0);
                        }
                    }
                }
            }
            let s = &fs.span;
            ids.rows.push(Row {
                trace_id: s.trace_id,
                span_id: s.span_id,
                parent: s.parent_span_id,
                start: s.start_time_unix_nano,
                end: s.end_time_unix_nano,
                kind: s.kind as u8,
                status: s.status.code as u8,
                rich: !all_terms
                    || !s.events.is_empty()
                    || !s.links.is_empty()
                    || !s.trace_state.is_empty(),
                flags: s.flags,
                dropped: [
                    s.dropped_attributes_count,
                    s.dropped_events_count,
                    s.dropped_links_count,
                ],
                resource: r,
                scope: sc,
                name: nm,
                all_terms,
                terms: (terms_start, terms.len() as u32),
                status_message: &s.status.message,
            });
        }
        // the scalar keys that enough of the block's spans have get columns of their own,
        // where each key's few values make small dictionary indices, instead of sharing the
        // `attrs` dictionary with every other term
        let min = (n as f64 * DEDICATED_MIN_SHARE).ceil().max(1.0) as usize;
        ids.dedicated_keys = term_ids.frequent_keys(min, MAX_DEDICATED);
        ids.term_slot = term_ids.slots(&ids.dedicated_keys, FROM_LIST);
        ids.terms = ScalarBuffer::from(terms);
        ids.term_values = Arc::new(term_ids.finish());
        ids
    }

    /// The term ids of a span.
    fn terms_of(&self, row: &Row) -> &[i32] {
        &self.terms[row.terms.0 as usize..row.terms.1 as usize]
    }

    fn dictionaries(&self) -> DictValues {
        let resources: BinaryArray = self
            .resources
            .iter()
            .map(|r| {
                Some(
                    pb::ResourceSpans {
                        resource: Some(otlp::resource_to_proto(r)),
                        scope_spans: vec![],
                        schema_url: r.schema_url.clone(),
                    }
                    .encode_to_vec(),
                )
            })
            .collect();
        let scopes: BinaryArray = self
            .scopes
            .iter()
            .map(|s| {
                Some(
                    pb::ScopeSpans {
                        scope: Some(otlp::scope_to_proto(s)),
                        spans: vec![],
                        schema_url: s.schema_url.clone(),
                    }
                    .encode_to_vec(),
                )
            })
            .collect();
        DictValues {
            names: Arc::new(StringArray::from_iter_values(self.names.iter())),
            resources: Arc::new(resources),
            scopes: Arc::new(scopes),
            terms: self.term_values.clone(),
        }
    }
}

/// A dictionary column from ids into `values`.
fn dict_column(keys: Int32Array, values: &ArrayRef) -> ArrayRef {
    Arc::new(
        DictionaryArray::<Int32Type>::try_new(keys, values.clone()).expect("ids index the values"),
    )
}

/// One row group of a block: its spans' rows in block order, their positions in the order
/// `Ids` learnt them, and their parent rows.
struct RowGroup<'s, 'a> {
    rows: &'s [Row<'a>],
    /// All the block's spans, in the order `Ids` learnt them (a rich detail cell reads its
    /// span here).
    spans: &'s [&'a FlatSpan],
    at: &'s [usize],
    parent_rows: &'s [Option<i32>],
}

/// For spans sorted by trace: the position of each span's parent among its trace's rows, when
/// the parent is there.
fn parent_rows(rows: &[Row]) -> Vec<Option<i32>> {
    let mut out = Vec::with_capacity(rows.len());
    let mut index: HashMap<weft_model::SpanId, i32> = HashMap::new();
    for trace in rows.chunk_by(|a, b| a.trace_id == b.trace_id) {
        let find = |p: weft_model::SpanId, index: &HashMap<weft_model::SpanId, i32>| {
            if trace.len() <= 32 {
                trace.iter().position(|t| t.span_id == p).map(|i| i as i32)
            } else {
                index.get(&p).copied()
            }
        };
        if trace.len() > 32 {
            index.clear();
            for (i, t) in trace.iter().enumerate().rev() {
                // the first of duplicated ids wins (any has the same id bytes)
                index.insert(t.span_id, i as i32);
            }
        }
        out.extend(trace.iter().map(|t| t.parent.and_then(|p| find(p, &index))));
    }
    out
}

/// A row group's columns, and the bloom filter over the terms of its spans and resources.
/// `term_seen` (false for every term, and left so) marks the terms already in the filter.
fn spans_batch(
    group: RowGroup,
    ids: &Ids,
    values: &DictValues,
    dedicated: usize,
    term_seen: &mut [bool],
) -> (RecordBatch, Bloom) {
    let n = group.rows.len();
    let mut trace_id = FixedSizeBinaryBuilder::with_capacity(n, 16);
    let mut span_id = FixedSizeBinaryBuilder::with_capacity(n, 8);
    let mut parent = FixedSizeBinaryBuilder::with_capacity(n, 8);
    let mut parent_row = Int32Builder::with_capacity(n);
    let mut start = Int64Builder::with_capacity(n);
    let mut duration = Int64Builder::with_capacity(n);
    let mut kind = Int32Builder::with_capacity(n);
    let mut status_code = Int32Builder::with_capacity(n);
    let mut status_message = StringBuilder::new();
    let mut detail = BinaryBuilder::new();
    let mut detail_buf: Vec<u8> = Vec::new();
    // `attrs`: list offsets and term ids
    let mut list_offsets: Vec<i32> = Vec::with_capacity(n + 1);
    list_offsets.push(0);
    let mut list_terms: Vec<i32> = Vec::new();
    let mut layout = BinaryDictionaryBuilder::<Int32Type>::new();
    let mut layout_buf: Vec<u8> = Vec::new();
    let mut ded: Vec<Int32Builder> = (0..dedicated)
        .map(|_| Int32Builder::with_capacity(n))
        .collect();
    let mut ded_set = vec![false; dedicated];
    for ((s, &at), prow) in group.rows.iter().zip(group.at).zip(group.parent_rows) {
        trace_id.append_value(s.trace_id.0).expect("16 bytes");
        span_id.append_value(s.span_id.0).expect("8 bytes");
        match (s.parent, prow) {
            (Some(_), Some(r)) => {
                parent.append_null();
                parent_row.append_value(*r);
            }
            (Some(p), None) => {
                parent.append_value(p.0).expect("8 bytes");
                parent_row.append_null();
            }
            (None, _) => {
                parent.append_null();
                parent_row.append_null();
            }
        }
        start.append_value(s.start as i64);
        duration.append_value(s.end.wrapping_sub(s.start) as i64);
        kind.append_value(i32::from(s.kind));
        status_code.append_value(i32::from(s.status));
        status_message.append_value(s.status_message);
        // when every attribute is a term, the first of each dedicated key goes to its column
        // and the rest to `attrs`, and the layout keeps the order; otherwise (the detail cell
        // then holds the attributes) all terms go to `attrs`, for search only
        let all_terms = s.all_terms;
        layout_buf.clear();
        ded_set.iter_mut().for_each(|x| *x = false);
        for &t in ids.terms_of(s) {
            let slot = if all_terms {
                ids.term_slot[t as usize]
            } else {
                FROM_LIST
            };
            if slot != FROM_LIST && !ded_set[slot as usize] {
                ded[slot as usize].append_value(t);
                ded_set[slot as usize] = true;
                layout_buf.push(slot);
            } else {
                list_terms.push(t);
                layout_buf.push(FROM_LIST);
            }
        }
        list_offsets.push(list_terms.len() as i32);
        for (i, set) in ded_set.iter().enumerate() {
            if !set {
                ded[i].append_null();
            }
        }
        if ded_set.iter().any(|x| *x) {
            layout.append_value(&layout_buf);
        } else {
            layout.append_null();
        }
        // the detail cell: from the span when it holds more than flags and counts (rare),
        // so the common span is not read here in block order
        detail_buf.clear();
        if s.rich {
            detail_message(&group.spans[at].span, !all_terms)
                .encode(&mut detail_buf)
                .expect("a Vec grows");
        } else {
            plain_detail(&mut detail_buf, s.flags, s.dropped);
        }
        detail.append_value(&detail_buf);
    }
    let ded: Vec<Int32Array> = ded.iter_mut().map(|b| b.finish()).collect();
    // the distinct terms of this row group's spans, and of its resources (each once)
    let mut distinct: Vec<i32> = Vec::new();
    let mut mark = |t: i32| {
        if !std::mem::replace(&mut term_seen[t as usize], true) {
            distinct.push(t);
        }
    };
    list_terms.iter().for_each(|&t| mark(t));
    for d in &ded {
        d.iter().flatten().for_each(&mut mark);
    }
    let mut resource_terms: Vec<String> = Vec::new();
    let mut resource_seen = vec![false; ids.resources.len()];
    for s in group.rows {
        let r = s.resource as usize;
        if !std::mem::replace(&mut resource_seen[r], true) {
            for kv in &ids.resources[r].attributes {
                resource_terms.extend(terms::term(&kv.key, &kv.value));
                resource_terms.extend(terms::element_terms(&kv.key, &kv.value));
            }
        }
    }
    let mut terms_bloom = Bloom::for_terms(distinct.len() + resource_terms.len());
    let term_values = values.terms.as_string::<i32>();
    for &t in &distinct {
        terms_bloom.insert_bytes(term_values.value(t as usize).as_bytes());
        term_seen[t as usize] = false;
    }
    for t in &resource_terms {
        terms_bloom.insert_bytes(t.as_bytes());
    }
    let keys = |of: fn(&Row) -> i32| Int32Array::from_iter_values(group.rows.iter().map(of));
    let attrs = ListArray::new(
        Arc::new(Field::new("item", dict(), true)),
        OffsetBuffer::new(list_offsets.into()),
        dict_column(Int32Array::from(list_terms), &values.terms),
        None,
    );
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(trace_id.finish()),
        Arc::new(span_id.finish()),
        Arc::new(parent.finish()),
        Arc::new(start.finish()),
        Arc::new(duration.finish()),
        // format 2 leaves the per-span service null
        arrow_array::new_null_array(&dict(), n),
        dict_column(keys(|r| r.name), &values.names),
        Arc::new(kind.finish()),
        Arc::new(status_code.finish()),
        Arc::new(status_message.finish()),
        dict_column(keys(|r| r.resource), &values.resources),
        dict_column(keys(|r| r.scope), &values.scopes),
        Arc::new(detail.finish()),
        Arc::new(attrs),
        Arc::new(parent_row.finish()),
        Arc::new(layout.finish()),
    ];
    columns.extend(ded.into_iter().map(|d| dict_column(d, &values.terms)));
    (
        RecordBatch::try_new(spans_schema(dedicated), columns).expect("columns match the schema"),
        terms_bloom,
    )
}

/// The detail cell of a span with nothing but flags and dropped counts: the bytes prost
/// writes for a `Span` message holding only those (by field number: the counts, then flags;
/// zeros left out), without building the message.
fn plain_detail(out: &mut Vec<u8>, flags: u32, dropped: [u32; 3]) {
    use prost::encoding::{encode_key, encode_varint, WireType};
    for (tag, n) in [(10, dropped[0]), (12, dropped[1]), (14, dropped[2])] {
        if n != 0 {
            encode_key(tag, WireType::Varint, out);
            encode_varint(u64::from(n), out);
        }
    }
    if flags != 0 {
        encode_key(16, WireType::ThirtyTwoBit, out);
        out.extend_from_slice(&flags.to_le_bytes());
    }
}

/// The span's OTLP message without the fields that have columns of their own; with the
/// attributes only when the terms cannot hold them all.
fn detail_message(s: &Span, with_attributes: bool) -> pb::Span {
    pb::Span {
        trace_state: s.trace_state.clone(),
        flags: s.flags,
        attributes: if with_attributes {
            otlp::attributes_to_proto(&s.attributes)
        } else {
            Vec::new()
        },
        dropped_attributes_count: s.dropped_attributes_count,
        events: s.events.iter().map(otlp::event_to_proto).collect(),
        dropped_events_count: s.dropped_events_count,
        links: s.links.iter().map(otlp::link_to_proto).collect(),
        dropped_links_count: s.dropped_links_count,
        ..Default::default()
    }
}

/// An open block: its metadata and bloom filter in memory, its spans read through a handle
/// opened once (so a block deleted by compaction stays readable to queries in flight).
pub struct Block {
    pub dir: PathBuf,
    spans_file: PreadFile,
    pub meta: BlockMeta,
    bloom: Bloom,
    /// `None` for blocks written before `terms.bin` existed (every row group is read).
    row_group_terms: Option<RowGroupTerms>,
    spans_meta: ArrowReaderMetadata,
    summaries: OnceLock<Arc<Vec<TraceSummary>>>,
}

impl std::fmt::Debug for Block {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Block")
            .field("dir", &self.dir)
            .field("meta", &self.meta)
            .finish()
    }
}

impl Block {
    pub fn open(dir: &Path) -> Result<Block> {
        let meta_path = dir.join(META_FILE);
        let meta_bytes = std::fs::read(&meta_path).map_err(|e| StoreError::io(&meta_path, e))?;
        let meta: BlockMeta = serde_json::from_slice(&meta_bytes)
            .map_err(|e| corrupt(&meta_path, format!("unreadable block meta: {e}")))?;
        let bloom_path = dir.join(BLOOM_FILE);
        let bloom_bytes = std::fs::read(&bloom_path).map_err(|e| StoreError::io(&bloom_path, e))?;
        let bloom = Bloom::from_bytes(&bloom_bytes)
            .ok_or_else(|| corrupt(&bloom_path, "bad bloom filter"))?;
        let spans_path = dir.join(SPANS_FILE);
        let file = File::open(&spans_path).map_err(|e| StoreError::io(&spans_path, e))?;
        let file = PreadFile::new(file).map_err(|e| StoreError::io(&spans_path, e))?;
        let spans_meta = ArrowReaderMetadata::load(
            &file,
            ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional),
        )
        .map_err(|e| pq_err(&spans_path, e))?;
        let terms_path = dir.join(TERMS_FILE);
        let row_group_terms = match std::fs::read(&terms_path) {
            Ok(b) => {
                let t = RowGroupTerms::from_bytes(&b)
                    .filter(|t| t.groups.len() == spans_meta.metadata().num_row_groups())
                    .ok_or_else(|| corrupt(&terms_path, "bad row-group term filters"))?;
                Some(t)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(StoreError::io(&terms_path, e)),
        };
        Ok(Block {
            dir: dir.to_path_buf(),
            spans_file: file,
            meta,
            bloom,
            row_group_terms,
            spans_meta,
            summaries: OnceLock::new(),
        })
    }

    pub fn may_contain(&self, id: &TraceId) -> bool {
        self.bloom.may_contain(id)
    }

    fn reader(
        &self,
        columns: Option<&[&str]>,
        row_groups: Option<Vec<usize>>,
        rows: Option<RowSelection>,
    ) -> Result<parquet::arrow::arrow_reader::ParquetRecordBatchReader> {
        self.filtered_reader(columns, row_groups, rows, None)
    }

    /// A reader of `columns` (all when `None`) that, given a `filter`, decodes them only for
    /// the rows the filter keeps.
    fn filtered_reader(
        &self,
        columns: Option<&[&str]>,
        row_groups: Option<Vec<usize>>,
        rows: Option<RowSelection>,
        filter: Option<RowFilter>,
    ) -> Result<parquet::arrow::arrow_reader::ParquetRecordBatchReader> {
        let path = self.dir.join(SPANS_FILE);
        let file = self.spans_file.clone();
        let mut b =
            ParquetRecordBatchReaderBuilder::new_with_metadata(file, self.spans_meta.clone())
                .with_batch_size(ROW_GROUP_ROWS);
        if let Some(cols) = columns {
            b = b.with_projection(self.projection(cols)?);
        }
        if let Some(rg) = row_groups {
            b = b.with_row_groups(rg);
        }
        if let Some(sel) = rows {
            b = b.with_row_selection(sel);
        }
        if let Some(f) = filter {
            b = b.with_row_filter(f);
        }
        b.build().map_err(|e| pq_err(&path, e))
    }

    /// The projection of the spans file onto `cols` (read back in schema order).
    fn projection(&self, cols: &[&str]) -> Result<ProjectionMask> {
        let path = self.dir.join(SPANS_FILE);
        let schema = self.spans_meta.schema();
        let idx: Vec<usize> = cols
            .iter()
            .map(|c| {
                schema
                    .index_of(c)
                    .map_err(|e| corrupt(&path, e.to_string()))
            })
            .collect::<Result<_>>()?;
        Ok(ProjectionMask::roots(self.spans_meta.parquet_schema(), idx))
    }

    /// Row groups whose trace-id range covers `id`.
    fn row_groups_for(&self, id: &TraceId) -> Vec<usize> {
        let md = self.spans_meta.metadata();
        (0..md.num_row_groups())
            .filter(|&i| match md.row_group(i).column(0).statistics() {
                Some(Statistics::FixedLenByteArray(s)) => match (s.min_opt(), s.max_opt()) {
                    (Some(min), Some(max)) => min.data() <= &id.0[..] && &id.0[..] <= max.data(),
                    _ => true,
                },
                _ => true,
            })
            .collect()
    }

    /// The spans of one trace in this block.
    pub fn trace(&self, id: &TraceId) -> Result<Vec<FlatSpan>> {
        if !self.may_contain(id) {
            return Ok(Vec::new());
        }
        let groups = self.row_groups_for(id);
        if groups.is_empty() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        let mut dec = Decoder::default();
        for g in groups {
            let pages = self.pages_for(g, id);
            if pages.as_ref().is_some_and(|p| p.row_count() == 0) {
                continue;
            }
            // late materialization: the trace-id column of the selected pages decides which
            // rows are the trace's, and only those rows of the other columns are decoded.
            // Decoding every column of a whole page (8,192 rows: strings copied, dictionaries
            // of plain-encoded pages rebuilt) to keep the trace's few rows made a probe cost
            // milliseconds.
            let want = id.0;
            let is_trace = move |batch: RecordBatch| {
                let ids = batch.column(0).as_fixed_size_binary();
                // rows are sorted by trace id: the trace is one run
                let lo = partition_point(ids.len(), |i| ids.value(i) < &want[..]);
                let hi = partition_point(ids.len(), |i| ids.value(i) <= &want[..]);
                Ok(arrow_array::BooleanArray::from_iter(
                    (0..ids.len()).map(|i| Some((lo..hi).contains(&i))),
                ))
            };
            let filter = RowFilter::new(vec![Box::new(ArrowPredicateFn::new(
                self.projection(&[col::TRACE_ID])?,
                is_trace,
            ))]);
            for batch in self.filtered_reader(None, Some(vec![g]), pages, Some(filter))? {
                let batch = batch.map_err(|e| pq_err(&self.dir, e))?;
                for row in 0..batch.num_rows() {
                    dec.push(&batch, row, &mut out)
                        .map_err(|m| corrupt(&self.dir, m))?;
                }
            }
        }
        dec.finish(&mut out).map_err(|m| corrupt(&self.dir, m))?;
        Ok(out)
    }

    /// How many rows' trace ids a trace-by-id probe for `id` decodes (for tests and
    /// diagnostics); the other columns are decoded for the trace's own rows only.
    pub fn trace_rows_read(&self, id: &TraceId) -> usize {
        if !self.may_contain(id) {
            return 0;
        }
        let md = self.spans_meta.metadata();
        self.row_groups_for(id)
            .into_iter()
            .map(|g| {
                self.pages_for(g, id)
                    .map_or(md.row_group(g).num_rows() as usize, |s| s.row_count())
            })
            .sum()
    }

    /// The rows of row group `g` in pages whose trace-id range covers `id` (from the page
    /// index); `None` when the block has no page index (then the whole group is read).
    fn pages_for(&self, g: usize, id: &TraceId) -> Option<RowSelection> {
        let md = self.spans_meta.metadata();
        let pi = md.page_index_for_row_group(g);
        let Some(ColumnIndexMetaData::FIXED_LEN_BYTE_ARRAY(ci)) = pi.column_index(0) else {
            return None;
        };
        let pages = pi.offset_index(0)?.page_locations();
        let rows = md.row_group(g).num_rows() as usize;
        let ranges = (0..pages.len()).filter_map(|i| {
            let (min, max) = (ci.min_value(i), ci.max_value(i));
            let hit = match (min, max) {
                (Some(min), Some(max)) => min <= &id.0[..] && &id.0[..] <= max,
                _ => true,
            };
            let start = pages[i].first_row_index as usize;
            let end = pages
                .get(i + 1)
                .map_or(rows, |p| p.first_row_index as usize);
            hit.then_some(start..end)
        });
        Some(RowSelection::from_consecutive_ranges(ranges, rows))
    }

    /// The size of the block's span columns uncompressed (from the Parquet footer): about
    /// the string bytes its spans hold in memory once read.
    pub fn uncompressed_bytes(&self) -> u64 {
        self.spans_meta
            .metadata()
            .row_groups()
            .iter()
            .map(|g| g.total_byte_size().max(0) as u64)
            .sum()
    }

    /// Every span in the block (for compaction).
    pub fn read_all(&self) -> Result<Vec<FlatSpan>> {
        let mut out = Vec::with_capacity(self.meta.span_count as usize);
        let mut dec = Decoder::default();
        for batch in self.reader(None, None, None)? {
            let batch = batch.map_err(|e| pq_err(&self.dir, e))?;
            for row in 0..batch.num_rows() {
                dec.push(&batch, row, &mut out)
                    .map_err(|m| corrupt(&self.dir, m))?;
            }
        }
        dec.finish(&mut out).map_err(|m| corrupt(&self.dir, m))?;
        Ok(out)
    }

    /// (trace id, span start) of spans that satisfy `q`, appended to `out` (at least one per
    /// matching trace).
    pub fn search(&self, q: &SearchQuery, out: &mut Vec<(TraceId, u64)>) -> Result<()> {
        if q.start_unix_nano
            .is_some_and(|s| self.meta.max_start_unix_nano < s)
            || q.end_unix_nano
                .is_some_and(|e| self.meta.min_start_unix_nano > e)
        {
            return Ok(());
        }
        if let Some(svc) = &q.service {
            let Some(ops) = self.meta.operations.get(svc) else {
                return Ok(());
            };
            if q.span_name
                .as_ref()
                .is_some_and(|name| !ops.iter().any(|(n, _)| n == name))
            {
                return Ok(());
            }
        }
        // the dedicated columns of the keys searched for, in schema order (projected columns
        // come in schema order, after the fixed ones)
        let mut slots: Vec<usize> = q
            .attributes
            .iter()
            .filter_map(|(k, _)| self.meta.dedicated_keys.iter().position(|d| d == k))
            .collect();
        slots.sort_unstable();
        slots.dedup();
        let ded_names: Vec<String> = slots
            .iter()
            .map(|i| format!("{}{i}", col::DEDICATED))
            .collect();
        let mut cols = vec![col::TRACE_ID];
        cols.extend(condition_columns(q, &ded_names));
        let wanted = wanted_terms(q);
        let groups = self.candidate_row_groups(q, &wanted);
        if groups.is_empty() {
            return Ok(());
        }
        // large scans use every core: the row groups are split into contiguous runs, each
        // scanned on its own thread, results appended in row-group order
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(4)
            .min(groups.len() / 4)
            .max(1);
        if threads > 1 {
            let per = groups.len().div_ceil(threads);
            let parts: Vec<Result<Vec<(TraceId, u64)>>> = std::thread::scope(|scope| {
                let handles: Vec<_> = groups
                    .chunks(per)
                    .map(|run| {
                        let (cols, wanted) = (&cols, &wanted);
                        scope.spawn(move || {
                            let mut part = Vec::new();
                            self.scan(q, cols, wanted, run.to_vec(), &mut part)
                                .map(|_| part)
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("a block scan thread panicked"))
                    .collect()
            });
            for p in parts {
                out.extend(p?);
            }
            return Ok(());
        }
        self.scan(q, &cols, &wanted, groups, out)
    }

    /// Scans the given row groups for spans matching `q` (see [`Self::search`]).
    ///
    /// `cols` are the trace id, then the columns the conditions read. Those are decoded first
    /// and decide which rows match; the trace id and start are then decoded only for the
    /// matching rows (late materialization: a selective search skips most of their pages).
    fn scan(
        &self,
        q: &SearchQuery,
        cols: &[&str],
        wanted: &[Vec<String>],
        groups: Vec<usize>,
        out: &mut Vec<(TraceId, u64)>,
    ) -> Result<()> {
        // no condition at all: every row matches
        let filter = if cols.len() > 1 {
            let (cq, cwanted) = (q.clone(), wanted.to_vec());
            let matches = move |batch: RecordBatch| {
                row_matches(&cq, &cwanted, &batch)
                    .map_err(|e| arrow_schema::ArrowError::ExternalError(Box::new(e)))
            };
            Some(RowFilter::new(vec![Box::new(ArrowPredicateFn::new(
                self.projection(&cols[1..])?,
                matches,
            ))]))
        } else {
            None
        };
        let reader = self.filtered_reader(
            Some(&[col::TRACE_ID, col::START]),
            Some(groups),
            None,
            filter,
        )?;
        let mut last: Option<TraceId> = None;
        for batch in reader {
            let batch = batch.map_err(|e| pq_err(&self.dir, e))?;
            let ids = batch.column(0).as_fixed_size_binary();
            let start = batch.column(1).as_primitive::<Int64Type>();
            for row in 0..batch.num_rows() {
                let tid = TraceId(
                    ids.value(row)
                        .try_into()
                        .map_err(|_| corrupt(&self.dir, "trace id is not 16 bytes"))?,
                );
                // rows are sorted by trace: a trace already matched
                if last != Some(tid) {
                    last = Some(tid);
                    out.push((tid, start.value(row) as u64));
                }
            }
        }
        Ok(())
    }

    /// The row groups a search must read: those overlapping its time range whose term filter
    /// may hold every wanted term (on a span or on a resource).
    fn candidate_row_groups(&self, q: &SearchQuery, wanted: &[Vec<String>]) -> Vec<usize> {
        let mut groups = self.row_groups_in_time(q);
        if let Some(rgt) = &self.row_group_terms {
            groups.retain(|&g| {
                wanted.iter().all(|w| {
                    w.iter()
                        .any(|t| rgt.groups[g].may_contain_bytes(t.as_bytes()))
                })
            });
        }
        groups
    }

    /// How many row groups a search for `q` reads out of how many the block has (for tests
    /// and diagnostics).
    pub fn row_groups_read(&self, q: &SearchQuery) -> (usize, usize) {
        let wanted = wanted_terms(q);
        (
            self.candidate_row_groups(q, &wanted).len(),
            self.spans_meta.metadata().num_row_groups(),
        )
    }

    fn row_groups_in_time(&self, q: &SearchQuery) -> Vec<usize> {
        let md = self.spans_meta.metadata();
        (0..md.num_row_groups())
            .filter(|&i| match md.row_group(i).column(3).statistics() {
                Some(Statistics::Int64(s)) => match (s.min_opt(), s.max_opt()) {
                    (Some(&min), Some(&max)) => {
                        q.start_unix_nano.is_none_or(|st| max as u64 >= st)
                            && q.end_unix_nano.is_none_or(|e| min as u64 <= e)
                    }
                    _ => true,
                },
                _ => true,
            })
            .collect()
    }

    /// The block's trace summaries, sorted by trace id (loaded once).
    pub fn summaries(&self) -> Result<Arc<Vec<TraceSummary>>> {
        if let Some(s) = self.summaries.get() {
            return Ok(s.clone());
        }
        let loaded = Arc::new(self.load_summaries()?);
        Ok(self.summaries.get_or_init(|| loaded).clone())
    }

    pub fn summary(&self, id: &TraceId) -> Result<Option<TraceSummary>> {
        if !self.may_contain(id) {
            return Ok(None);
        }
        let all = self.summaries()?;
        Ok(all
            .binary_search_by(|s| s.trace_id.cmp(id))
            .ok()
            .map(|i| all[i].clone()))
    }

    fn load_summaries(&self) -> Result<Vec<TraceSummary>> {
        // opened on first use only (then cached): a block holds one descriptor, not two
        let path = self.dir.join(SUMMARY_FILE);
        let file = File::open(&path).map_err(|e| StoreError::io(&path, e))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(|e| pq_err(&path, e))?
            .with_batch_size(ROW_GROUP_ROWS)
            .build()
            .map_err(|e| pq_err(&path, e))?;
        let mut out = Vec::with_capacity(self.meta.trace_count as usize);
        for batch in reader {
            let b = batch.map_err(|e| pq_err(&path, e))?;
            let ids = b.column(0).as_fixed_size_binary();
            let rs = b.column(1).as_dictionary::<Int32Type>();
            let rs_v = rs.values().as_string::<i32>();
            let rn = b.column(2).as_dictionary::<Int32Type>();
            let rn_v = rn.values().as_string::<i32>();
            let has_root = b.column(3).as_boolean();
            let start = b.column(4).as_primitive::<UInt64Type>();
            let end = b.column(5).as_primitive::<UInt64Type>();
            let sc = b.column(6).as_primitive::<UInt64Type>();
            let ec = b.column(7).as_primitive::<UInt64Type>();
            let services = b.column(8).as_list::<i32>();
            for i in 0..b.num_rows() {
                let svcs = services.value(i);
                out.push(TraceSummary {
                    trace_id: TraceId(
                        ids.value(i)
                            .try_into()
                            .map_err(|_| corrupt(&path, "trace id is not 16 bytes"))?,
                    ),
                    root_service: rs_v.value(rs.keys().value(i) as usize).to_string(),
                    root_name: rn_v.value(rn.keys().value(i) as usize).to_string(),
                    has_root: has_root.value(i),
                    start_unix_nano: start.value(i),
                    end_unix_nano: end.value(i),
                    span_count: sc.value(i),
                    error_count: ec.value(i),
                    services: svcs
                        .as_string::<i32>()
                        .iter()
                        .flatten()
                        .map(str::to_string)
                        .collect(),
                });
            }
        }
        Ok(out)
    }
}

fn partition_point(len: usize, pred: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, len);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if pred(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Turns rows back into spans, sharing one `Arc` per distinct resource and scope.
/// Rows must come in stored order, one trace's rows together, through [`Decoder::push`],
/// and [`Decoder::finish`] must follow the last: a parent stored as a row of the trace
/// (format 2) may come after its child.
#[derive(Default)]
struct Decoder {
    resources: HashMap<Vec<u8>, Arc<Resource>>,
    scopes: HashMap<Vec<u8>, Arc<Scope>>,
    /// the trace being decoded and its span ids so far, in row order
    trace: Option<TraceId>,
    span_ids: Vec<weft_model::SpanId>,
    /// (index in `out`, parent row) of spans whose parent row was not decoded yet
    pending: Vec<(usize, usize)>,
}

impl Decoder {
    /// Decodes one row and appends its span to `out`.
    fn push(
        &mut self,
        b: &RecordBatch,
        row: usize,
        out: &mut Vec<FlatSpan>,
    ) -> std::result::Result<(), String> {
        let mut fs = self.row(b, row)?;
        if self.trace != Some(fs.span.trace_id) {
            self.finish(out)?;
            self.trace = Some(fs.span.trace_id);
        }
        self.span_ids.push(fs.span.span_id);
        // format 1 blocks have no parent-row column
        if let Some(rows) = b.columns().get(14) {
            let rows = rows.as_primitive::<Int32Type>();
            if rows.is_valid(row) {
                let r = usize::try_from(rows.value(row))
                    .map_err(|_| format!("negative parent row {}", rows.value(row)))?;
                match self.span_ids.get(r) {
                    Some(id) => fs.span.parent_span_id = Some(*id),
                    None => self.pending.push((out.len(), r)),
                }
            }
        }
        out.push(fs);
        Ok(())
    }

    /// Resolves the parents that came after their children in the trace just decoded.
    fn finish(&mut self, out: &mut [FlatSpan]) -> std::result::Result<(), String> {
        for (i, r) in self.pending.drain(..) {
            let id = self
                .span_ids
                .get(r)
                .ok_or_else(|| format!("parent row {r} is beyond its trace"))?;
            out[i].span.parent_span_id = Some(*id);
        }
        self.span_ids.clear();
        self.trace = None;
        Ok(())
    }

    fn row(&mut self, b: &RecordBatch, row: usize) -> std::result::Result<FlatSpan, String> {
        let ids = b.column(0).as_fixed_size_binary();
        let span_ids = b.column(1).as_fixed_size_binary();
        let parents = b.column(2).as_fixed_size_binary();
        let start = b.column(3).as_primitive::<Int64Type>().value(row) as u64;
        let duration = b.column(4).as_primitive::<Int64Type>().value(row) as u64;
        let name = b.column(6).as_dictionary::<Int32Type>();
        let name = name
            .values()
            .as_string::<i32>()
            .value(name.keys().value(row) as usize);
        let kind = b.column(7).as_primitive::<Int32Type>().value(row);
        let code = b.column(8).as_primitive::<Int32Type>().value(row);
        let message = b.column(9).as_string::<i32>().value(row);
        let res = dict_binary(b.column(10), row);
        let scope = dict_binary(b.column(11), row);
        let detail = b.column(12).as_binary::<i32>().value(row);

        let resource = match self.resources.get(res) {
            Some(r) => r.clone(),
            None => {
                let rs =
                    pb::ResourceSpans::decode(res).map_err(|e| format!("resource cell: {e}"))?;
                let r = Arc::new(otlp::resource_from_proto(
                    rs.resource.unwrap_or_default(),
                    rs.schema_url,
                ));
                self.resources.insert(res.to_vec(), r.clone());
                r
            }
        };
        let scope = match self.scopes.get(scope) {
            Some(s) => s.clone(),
            None => {
                let ss = pb::ScopeSpans::decode(scope).map_err(|e| format!("scope cell: {e}"))?;
                let s = Arc::new(otlp::scope_from_proto(
                    ss.scope.unwrap_or_default(),
                    ss.schema_url,
                ));
                self.scopes.insert(scope.to_vec(), s.clone());
                s
            }
        };
        let mut p = pb::Span::decode(detail).map_err(|e| format!("detail cell: {e}"))?;
        p.trace_id = ids.value(row).to_vec();
        p.span_id = span_ids.value(row).to_vec();
        p.parent_span_id = if parents.is_null(row) {
            Vec::new()
        } else {
            parents.value(row).to_vec()
        };
        p.name = name.to_string();
        p.kind = kind;
        p.start_time_unix_nano = start;
        p.end_time_unix_nano = start.wrapping_add(duration);
        p.status = (code != 0 || !message.is_empty()).then(|| pb::Status {
            code,
            message: message.to_string(),
        });
        let mut span = otlp::span_from_proto(p)?;
        if span.attributes.is_empty() {
            let list = b.column(13).as_list::<i32>().value(row);
            let parse =
                |t: &str| terms::parse(t).ok_or_else(|| format!("bad attribute term {t:?}"));
            let layout = b
                .columns()
                .get(LAYOUT_COLUMN)
                .filter(|c| c.is_valid(row))
                .map(|c| dict_binary(c, row));
            match layout {
                None => {
                    span.attributes = list_strings(&list)
                        .map(|t| parse(&t))
                        .collect::<std::result::Result<_, _>>()?;
                }
                Some(layout) => {
                    let mut from_list = list_strings(&list);
                    span.attributes = Vec::with_capacity(layout.len());
                    for &slot in layout {
                        let t = if slot == FROM_LIST {
                            from_list
                                .next()
                                .ok_or("attribute layout wants more list terms than there are")?
                        } else {
                            let c = b
                                .columns()
                                .get(LAYOUT_COLUMN + 1 + slot as usize)
                                .filter(|c| c.is_valid(row))
                                .ok_or_else(|| {
                                    format!("attribute layout names empty column {slot}")
                                })?;
                            let d = c.as_dictionary::<Int32Type>();
                            d.values()
                                .as_string::<i32>()
                                .value(d.keys().value(row) as usize)
                                .to_string()
                        };
                        span.attributes.push(parse(&t)?);
                    }
                }
            }
        }
        Ok(FlatSpan {
            resource,
            scope,
            span,
        })
    }
}

/// The columns a search's conditions read, in schema order: start, duration and status
/// code when it bounds times, durations or status; the name when it asks for one; the
/// resource when it asks for a service or attributes; `attrs` and the dedicated columns of
/// its keys (`dedicated`) when it asks for attributes.
fn condition_columns<'a>(q: &SearchQuery, dedicated: &'a [String]) -> Vec<&'a str> {
    let numbers = q.has_number_conditions();
    let mut cols = Vec::new();
    if numbers {
        cols.extend([col::START, col::DURATION]);
    }
    if q.span_name.is_some() {
        cols.push(col::NAME);
    }
    if numbers {
        cols.push(col::STATUS_CODE);
    }
    if q.service.is_some() || !q.attributes.is_empty() {
        cols.push(col::RESOURCE);
    }
    if !q.attributes.is_empty() {
        cols.push(col::ATTRS);
        cols.extend(dedicated.iter().map(String::as_str));
    }
    cols
}

/// Which rows of a batch of a search's condition columns (see [`condition_columns`]) match
/// it. Each condition reads its columns by name; the dedicated columns follow `attrs`.
fn row_matches(
    q: &SearchQuery,
    wanted: &[Vec<String>],
    batch: &RecordBatch,
) -> Result<arrow_array::BooleanArray> {
    let by_name = |name: &str| batch.column_by_name(name);
    let times = by_name(col::START).zip(by_name(col::DURATION));
    let name = by_name(col::NAME).map(|c| c.as_dictionary::<Int32Type>());
    let status = by_name(col::STATUS_CODE).map(|c| c.as_primitive::<Int32Type>());
    let res_col = by_name(col::RESOURCE);
    let attrs_at = batch.schema().index_of(col::ATTRS).ok();
    let attrs_col = attrs_at.map(|i| batch.column(i));
    let ded = attrs_at.map_or(&[][..], |i| &batch.columns()[i + 1..]);
    let times = times.map(|(s, d)| (s.as_primitive::<Int64Type>(), d.as_primitive::<Int64Type>()));
    // equality on dictionary columns: decide once per dictionary value, then compare keys
    let service = match (q.service.as_deref(), res_col) {
        (Some(want), Some(c)) => {
            let res = c.as_dictionary::<Int32Type>();
            let ok: Vec<bool> = resources(res.values())?
                .iter()
                .map(|r| r.service_name() == want)
                .collect();
            Some((res, ok))
        }
        _ => None,
    };
    let name_ok = name.map(|n| {
        (
            n,
            dict_matches(n.values().as_string::<i32>(), q.span_name.as_deref()),
        )
    });
    let attr_filter = match (res_col, attrs_col) {
        (Some(r), Some(a)) if !wanted.is_empty() => Some(AttrFilter::new(q, wanted, r, a, ded)?),
        _ => None,
    };
    Ok((0..batch.num_rows())
        .map(|row| {
            Some(
                service
                    .as_ref()
                    .is_none_or(|(res, ok)| ok[res.keys().value(row) as usize])
                    && name_ok
                        .as_ref()
                        .is_none_or(|(n, ok)| ok[n.keys().value(row) as usize])
                    && times
                        .as_ref()
                        .zip(status)
                        .is_none_or(|((start, dur), status)| {
                            q.matches_numbers(
                                start.value(row) as u64,
                                dur.value(row).max(0) as u64,
                                status.value(row) == StatusCode::Error as i32,
                            )
                        })
                    && attr_filter.as_ref().is_none_or(|f| f.row_matches(row)),
            )
        })
        .collect())
}

/// For each attribute condition of `q`: the terms that satisfy it.
fn wanted_terms(q: &SearchQuery) -> Vec<Vec<String>> {
    q.attributes
        .iter()
        .map(|(k, v)| terms::query_terms(k, v))
        .collect()
}

/// For each dictionary value: whether it equals `want` (every value when `want` is `None`).
/// The resources of a resource column's dictionary (OTLP `ResourceSpans` cells).
fn resources(values: &ArrayRef) -> Result<Vec<Resource>> {
    values
        .as_binary::<i32>()
        .iter()
        .map(|cell| {
            let rs = pb::ResourceSpans::decode(cell.unwrap_or_default()).map_err(|e| {
                StoreError::Corrupt {
                    path: "resource column".into(),
                    message: e.to_string(),
                }
            })?;
            Ok(otlp::resource_from_proto(
                rs.resource.unwrap_or_default(),
                rs.schema_url,
            ))
        })
        .collect()
}

fn dict_matches(values: &arrow_array::StringArray, want: Option<&str>) -> Vec<bool> {
    (0..values.len())
        .map(|i| want.is_none_or(|w| values.value(i) == w))
        .collect()
}

/// Decides per row whether every attribute condition holds, on the span's terms or on its
/// resource. Conditions are decided once per dictionary value (distinct resources, distinct
/// terms); rows then only compare integer keys.
struct AttrFilter<'a> {
    res_keys: &'a arrow_array::Int32Array,
    /// `[condition][resource dictionary index]`
    resource_ok: Vec<Vec<bool>>,
    offsets: &'a [i32],
    terms: Terms<'a>,
    /// per dedicated column: its keys and `[condition][dictionary index]`
    dedicated: Vec<(&'a arrow_array::Int32Array, Vec<Vec<bool>>)>,
}

enum Terms<'a> {
    /// `[condition][term dictionary index]`
    Dict(&'a arrow_array::Int32Array, Vec<Vec<bool>>),
    Plain(&'a arrow_array::StringArray, &'a [Vec<String>]),
}

impl<'a> AttrFilter<'a> {
    fn new(
        q: &SearchQuery,
        wanted: &'a [Vec<String>],
        res_col: &'a ArrayRef,
        attrs_col: &'a ArrayRef,
        dedicated_cols: &'a [ArrayRef],
    ) -> Result<AttrFilter<'a>> {
        let res = res_col.as_dictionary::<Int32Type>();
        let res_values = resources(res.values())?;
        let mut resource_ok = vec![vec![false; res_values.len()]; wanted.len()];
        for (i, r) in res_values.iter().enumerate() {
            for (c, (k, v)) in q.attributes.iter().enumerate() {
                resource_ok[c][i] = r
                    .attributes
                    .iter()
                    .any(|kv| kv.key == *k && terms::value_matches(&kv.value, v));
            }
        }
        let list = attrs_col.as_list::<i32>();
        let values = list.values();
        // per wanted attribute: whether each dictionary value is one of its terms
        let wanted_in = |dv: &arrow_array::StringArray| -> Vec<Vec<bool>> {
            wanted
                .iter()
                .map(|w| {
                    (0..dv.len())
                        .map(|j| w.iter().any(|t| t == dv.value(j)))
                        .collect()
                })
                .collect()
        };
        let terms = match values.data_type() {
            DataType::Dictionary(_, _) => {
                let d = values.as_dictionary::<Int32Type>();
                Terms::Dict(d.keys(), wanted_in(d.values().as_string::<i32>()))
            }
            _ => Terms::Plain(values.as_string::<i32>(), wanted),
        };
        let dedicated = dedicated_cols
            .iter()
            .map(|c| {
                let d = c.as_dictionary::<Int32Type>();
                (d.keys(), wanted_in(d.values().as_string::<i32>()))
            })
            .collect();
        Ok(AttrFilter {
            res_keys: res.keys(),
            resource_ok,
            offsets: list.value_offsets(),
            terms,
            dedicated,
        })
    }

    fn row_matches(&self, row: usize) -> bool {
        let rk = self.res_keys.value(row) as usize;
        let (a, b) = (self.offsets[row] as usize, self.offsets[row + 1] as usize);
        (0..self.resource_ok.len()).all(|c| {
            self.resource_ok[c][rk]
                || match &self.terms {
                    Terms::Dict(keys, ok) => (a..b).any(|i| ok[c][keys.value(i) as usize]),
                    Terms::Plain(strs, wanted) => {
                        (a..b).any(|i| wanted[c].iter().any(|t| t == strs.value(i)))
                    }
                }
                || self
                    .dedicated
                    .iter()
                    .any(|(keys, ok)| keys.is_valid(row) && ok[c][keys.value(row) as usize])
        })
    }
}

/// The bytes of row `row` of a `Dictionary<Int32, Binary>` column.
fn dict_binary(col: &ArrayRef, row: usize) -> &[u8] {
    let d = col.as_dictionary::<Int32Type>();
    d.values()
        .as_binary::<i32>()
        .value(d.keys().value(row) as usize)
}

/// The strings of a list cell, whether the reader kept the dictionary or not.
fn list_strings(list: &ArrayRef) -> Box<dyn Iterator<Item = String> + '_> {
    match list.data_type() {
        DataType::Dictionary(_, _) => {
            let d = list.as_dictionary::<Int32Type>();
            let values = d.values().as_string::<i32>();
            Box::new(
                d.keys()
                    .iter()
                    .flatten()
                    .map(move |k| values.value(k as usize).to_string()),
            )
        }
        _ => Box::new(list.as_string::<i32>().iter().flatten().map(str::to_string)),
    }
}

#[cfg(test)]
mod tests {
    use super::plain_detail;
    use opentelemetry_proto::tonic::trace::v1 as pb;
    use prost::Message;

    /// The plain detail cell is byte for byte prost's encoding of the same message.
    #[test]
    fn plain_detail_is_prosts_encoding() {
        let values = [0u32, 1, 127, 128, 300, 0x100, 0x101, u32::MAX];
        for &flags in &values {
            for &a in &values {
                for &e in &values[..4] {
                    for &l in &values[3..] {
                        let mut ours = Vec::new();
                        plain_detail(&mut ours, flags, [a, e, l]);
                        let theirs = pb::Span {
                            flags,
                            dropped_attributes_count: a,
                            dropped_events_count: e,
                            dropped_links_count: l,
                            ..Default::default()
                        }
                        .encode_to_vec();
                        assert_eq!(ours, theirs, "flags {flags} dropped {a} {e} {l}");
                    }
                }
            }
        }
    }
}
