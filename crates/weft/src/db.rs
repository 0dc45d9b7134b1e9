//! Database spans: `db.system.name`, `db.namespace`, `db.operation.name`, `db.query.text`
//! with literals masked, rows affected, and error status on failure.
//!
//! ```no_run
//! # async fn f(pool: ()) -> Result<(), std::io::Error> {
//! let rows = weft::db::instrument("sqlite", "orders.db", "UPDATE t SET n = 1 WHERE id = 7", async {
//!     Ok::<u64, std::io::Error>(1) // e.g. sqlx::query(..).execute(&pool).await.map(|r| r.rows_affected())
//! }).await?;
//! # Ok(()) }
//! ```

use std::future::Future;

use opentelemetry::trace::Status;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Replaces string and numeric literals with `?`.
pub fn mask_literals(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let chars: Vec<char> = sql.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            // skip to the closing quote ('' is an escaped quote)
            i += 1;
            while i < chars.len() {
                if chars[i] == '\'' {
                    if i + 1 < chars.len() && chars[i + 1] == '\'' {
                        i += 2;
                        continue;
                    }
                    break;
                }
                i += 1;
            }
            out.push('?');
            i += 1;
        } else if c.is_ascii_digit()
            && (i == 0
                || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_' || chars[i - 1] == '$'))
        {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            out.push('?');
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// The operation keyword (`SELECT`, `INSERT`, …), upper-cased.
pub fn operation_name(sql: &str) -> Option<String> {
    sql.split_whitespace()
        .next()
        .filter(|w| w.chars().all(|c| c.is_ascii_alphabetic()))
        .map(|w| w.to_ascii_uppercase())
}

/// A client span for one query. `system` is e.g. `sqlite`, `postgresql`; `namespace` the
/// database name.
pub fn query_span(system: &str, namespace: &str, sql: &str) -> tracing::Span {
    let op = operation_name(sql);
    let name = match &op {
        Some(op) => format!("{op} {namespace}"),
        None => namespace.to_string(),
    };
    let span = tracing::info_span!("db.query", otel.name = name, otel.kind = "client");
    span.set_attribute("db.system.name", system.to_string());
    span.set_attribute("db.namespace", namespace.to_string());
    if let Some(op) = op {
        span.set_attribute("db.operation.name", op);
    }
    span.set_attribute("db.query.text", mask_literals(sql));
    span
}

/// What a query returns that has a row count.
pub trait RowsAffected {
    /// Rows affected or returned, when known.
    fn rows_affected(&self) -> Option<u64>;
}

impl RowsAffected for u64 {
    fn rows_affected(&self) -> Option<u64> {
        Some(*self)
    }
}

impl<T> RowsAffected for Vec<T> {
    fn rows_affected(&self) -> Option<u64> {
        Some(self.len() as u64)
    }
}

impl<T> RowsAffected for Option<T> {
    fn rows_affected(&self) -> Option<u64> {
        Some(self.is_some() as u64)
    }
}

/// Runs `fut` inside a query span and records the outcome.
pub async fn instrument<T, E, F>(system: &str, namespace: &str, sql: &str, fut: F) -> Result<T, E>
where
    F: Future<Output = Result<T, E>>,
    T: RowsAffected,
    E: std::fmt::Display,
{
    let span = query_span(system, namespace, sql);
    let result = fut.instrument(span.clone()).await;
    match &result {
        Ok(v) => {
            if let Some(n) = v.rows_affected() {
                span.set_attribute("db.response.returned_rows", n as i64);
            }
        }
        Err(e) => {
            span.set_attribute("error.type", "db_error");
            span.set_status(Status::error(e.to_string()));
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_literals() {
        let cases = [
            (
                "SELECT * FROM t WHERE id = 42",
                "SELECT * FROM t WHERE id = ?",
            ),
            (
                "select a from t where n = 'bob''s' and x=1.5",
                "select a from t where n = ? and x=?",
            ),
            (
                "SELECT col1, t2.x FROM t2 WHERE $1 = v",
                "SELECT col1, t2.x FROM t2 WHERE $1 = v",
            ),
            (
                "INSERT INTO t VALUES ('a', -3, 0x1F)",
                "INSERT INTO t VALUES (?, -?, ?)",
            ),
        ];
        for (sql, want) in cases {
            assert_eq!(mask_literals(sql), want, "{sql}");
        }
        assert_eq!(operation_name(" insert into t"), Some("INSERT".into()));
        assert_eq!(operation_name("(select 1)"), None);
    }
}
