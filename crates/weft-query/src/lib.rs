//! TraceQL for weft, as Grafana Tempo defines it.
//!
//! - [`parse`] turns query text into a [`Query`] (lexer → Pratt parser with Tempo's
//!   precedences → static checks), or a [`ParseError`] with a 1-based line and column and a
//!   message that says what was expected. `Display` on a [`Query`] prints text that parses
//!   back to the same tree.
//! - [`evaluate`] runs a query over one trace (a [`weft_model::Batch`]) and returns the matching
//!   [`Spanset`]s; see [`eval`] for the semantics.
//! - [`plan`] derives the part of a query the store can evaluate (a superset filter), and
//!   [`execute`] runs a query against any [`weft_store::TraceReader`].
//!
//! weft-query never sees a storage format: it talks to `TraceReader` only.
//!
//! Beyond Tempo, weft accepts a bare `key op value` (and `&&`/`||` of several) as a whole
//! query: `duration > 2s`, `status = error`, `user.id = "abc-123"`,
//! `service.name = "analysis-worker"` are `{ … }` of the same expression, with a dotted name
//! meaning the unscoped attribute (`.user.id`).
//!
//! Not supported: TraceQL metrics (`rate()`, `… | count_over_time()`, …), `parent.` and
//! the nested-set intrinsics, query hints (`with(…)`), arithmetic between aggregates.

pub mod ast;
mod error;
pub mod eval;
mod exec;
mod lexer;
mod parser;
pub mod plan;
mod value;

pub use ast::Query;
pub use error::{ParseError, QueryError};
pub use eval::{evaluate, EvalOptions, SpanMatch, Spanset};
pub use exec::{execute, summarize, QueryOptions, QueryResult, TraceMatch};
pub use parser::parse;
pub use plan::{plan, Conditions, Plan};
pub use value::Value;
