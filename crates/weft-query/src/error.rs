//! Errors of parsing and executing queries.

use std::fmt;

/// A query that cannot be parsed (or is statically wrong, e.g. compares a duration with a
/// string). Line and column are 1-based and count characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub message: String,
    pub line: usize,
    pub column: usize,
    /// Byte offset of the position in the query text.
    pub offset: usize,
}

impl ParseError {
    /// An error at byte offset `at` of `src`.
    pub(crate) fn at(src: &str, at: usize, message: impl Into<String>) -> ParseError {
        let at = at.min(src.len());
        let before = &src[..at];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let column = src[line_start..at].chars().count() + 1;
        ParseError {
            message: message.into(),
            line,
            column,
            offset: at,
        }
    }

    /// The query line the error is on and a caret under its column, for terminals.
    pub fn caret(&self, src: &str) -> String {
        let line = src.lines().nth(self.line - 1).unwrap_or("");
        format!("{line}\n{}^", " ".repeat(self.column - 1))
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "parse error at line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

impl std::error::Error for ParseError {}

/// Errors of [`crate::execute`].
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error(transparent)]
    Store(#[from] weft_store::StoreError),
}
