//! Splits query text into tokens, each with its byte range, following Tempo's lexer: attribute
//! names run until a space or one of `{}()=~!<>&|^,` and may contain quoted parts
//! (`span."key with spaces"`), numbers followed by a unit are durations (`1.5s`, `1h30m`),
//! strings are Go strings (`"…"` with escapes, or raw `` `…` ``).

use crate::ast::Scope;
use crate::error::ParseError;

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    LBrace,
    RBrace,
    LParen,
    RParen,
    Comma,
    Pipe,
    Eq,
    Ne,
    Re,
    NRe,
    Gt,
    Ge,
    Lt,
    Le,
    Desc,
    Ance,
    Tilde,
    NotChild,
    NotParent,
    NotDesc,
    NotAnce,
    UnionChild,
    UnionParent,
    UnionDesc,
    UnionAnce,
    UnionSibl,
    And,
    Or,
    Not,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Caret,
    Str(String),
    Int(i64),
    Float(f64),
    Duration(i64),
    /// A bare word: a keyword, an intrinsic, an enum value or an unknown name.
    Ident(String),
    /// `scope:name`, e.g. `span:id`.
    ScopedIntrinsic(String, String),
    /// `.name`, `span.name`, `resource.name`, …
    Attr(Scope, String),
    /// A dotted word without a scope (`user.id`): an attribute in the short form.
    Dotted(String),
    Eof,
}

#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub tok: Tok,
    pub start: usize,
    pub end: usize,
}

/// Characters that may appear in an unquoted attribute name (Tempo's `isAttributeRune`).
pub(crate) fn is_attribute_char(c: char) -> bool {
    !c.is_whitespace()
        && !matches!(
            c,
            '{' | '}' | '(' | ')' | '=' | '~' | '!' | '<' | '>' | '&' | '|' | '^' | ',' | '"'
        )
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

pub(crate) fn tokenize(src: &str) -> Result<Vec<Token>, ParseError> {
    let mut lx = Lexer { src, pos: 0 };
    let mut out = Vec::new();
    loop {
        let t = lx.next()?;
        let eof = t.tok == Tok::Eof;
        out.push(t);
        if eof {
            return Ok(out);
        }
    }
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }
    fn peek_at(&self, n: usize) -> Option<char> {
        self.src[self.pos..].chars().nth(n)
    }
    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }
    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.bump();
            true
        } else {
            false
        }
    }
    fn err(&self, at: usize, msg: impl Into<String>) -> ParseError {
        ParseError::at(self.src, at, msg)
    }

    fn next(&mut self) -> Result<Token, ParseError> {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
        let start = self.pos;
        let Some(c) = self.bump() else {
            return Ok(Token {
                tok: Tok::Eof,
                start,
                end: start,
            });
        };
        let tok = match c {
            '{' => Tok::LBrace,
            '}' => Tok::RBrace,
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            ',' => Tok::Comma,
            '|' => {
                if self.eat('|') {
                    Tok::Or
                } else {
                    Tok::Pipe
                }
            }
            '&' => {
                if self.eat('&') {
                    Tok::And
                } else if self.eat('>') {
                    if self.eat('>') {
                        Tok::UnionDesc
                    } else {
                        Tok::UnionChild
                    }
                } else if self.eat('<') {
                    if self.eat('<') {
                        Tok::UnionAnce
                    } else {
                        Tok::UnionParent
                    }
                } else if self.eat('~') {
                    Tok::UnionSibl
                } else {
                    return Err(self.err(start, "unexpected \"&\": did you mean \"&&\"?"));
                }
            }
            '=' => {
                if self.eat('~') {
                    Tok::Re
                } else if self.peek() == Some('=') {
                    return Err(self.err(
                        start,
                        "unknown operator \"==\": TraceQL writes equality as \"=\"",
                    ));
                } else {
                    Tok::Eq
                }
            }
            '!' => {
                if self.eat('=') {
                    Tok::Ne
                } else if self.eat('~') {
                    Tok::NRe
                } else if self.eat('>') {
                    if self.eat('>') {
                        Tok::NotDesc
                    } else {
                        Tok::NotChild
                    }
                } else if self.eat('<') {
                    if self.eat('<') {
                        Tok::NotAnce
                    } else {
                        Tok::NotParent
                    }
                } else {
                    Tok::Not
                }
            }
            '>' => {
                if self.eat('=') {
                    Tok::Ge
                } else if self.eat('>') {
                    Tok::Desc
                } else {
                    Tok::Gt
                }
            }
            '<' => {
                if self.eat('=') {
                    Tok::Le
                } else if self.eat('<') {
                    Tok::Ance
                } else {
                    Tok::Lt
                }
            }
            '~' => Tok::Tilde,
            '+' => Tok::Plus,
            '-' => Tok::Minus,
            '*' => Tok::Star,
            '/' => Tok::Slash,
            '%' => Tok::Percent,
            '^' => Tok::Caret,
            '"' => Tok::Str(self.string(start)?),
            '`' => {
                let body_start = self.pos;
                match self.src[body_start..].find('`') {
                    Some(n) => {
                        self.pos = body_start + n + 1;
                        Tok::Str(self.src[body_start..body_start + n].to_string())
                    }
                    None => {
                        return Err(self.err(start, "unterminated raw string: add a closing \"`\""))
                    }
                }
            }
            '.' if self.peek().is_some_and(|c| c.is_ascii_digit()) => {
                self.pos = start;
                self.number(start)?
            }
            '.' => {
                let name = self.attribute_name()?;
                if name.is_empty() {
                    return Err(self.err(
                        start,
                        "expected an attribute name after \".\", e.g. .http.method",
                    ));
                }
                Tok::Attr(Scope::None, name)
            }
            c if c.is_ascii_digit() => {
                self.pos = start;
                self.number(start)?
            }
            c if is_ident_start(c) => self.word(start)?,
            c => return Err(self.err(start, format!("unexpected character {:?}", c.to_string()))),
        };
        Ok(Token {
            tok,
            start,
            end: self.pos,
        })
    }

    /// A double-quoted string with Go's escapes; the opening quote is consumed.
    fn string(&mut self, start: usize) -> Result<String, ParseError> {
        let mut out = String::new();
        loop {
            let at = self.pos;
            match self.bump() {
                None => return Err(self.err(start, "unterminated string: add a closing '\"'")),
                Some('"') => return Ok(out),
                Some('\n') => {
                    return Err(self.err(
                        start,
                        "unterminated string: add a closing '\"' before the end of the line",
                    ))
                }
                Some('\\') => {
                    let e = self.bump().ok_or_else(|| {
                        self.err(start, "unterminated string: add a closing '\"'")
                    })?;
                    match e {
                        '"' => out.push('"'),
                        '\\' => out.push('\\'),
                        '\'' => out.push('\''),
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        'r' => out.push('\r'),
                        'a' => out.push('\u{7}'),
                        'b' => out.push('\u{8}'),
                        'f' => out.push('\u{c}'),
                        'v' => out.push('\u{b}'),
                        'x' | 'u' | 'U' => {
                            let n = match e {
                                'x' => 2,
                                'u' => 4,
                                _ => 8,
                            };
                            let mut v: u32 = 0;
                            for _ in 0..n {
                                let d = self.peek().and_then(|c| c.to_digit(16)).ok_or_else(|| {
                                    self.err(
                                        at,
                                        format!("invalid escape \"\\{e}\": expected {n} hex digits"),
                                    )
                                })?;
                                self.bump();
                                v = v * 16 + d;
                            }
                            let c = char::from_u32(v).ok_or_else(|| {
                                self.err(at, format!("invalid escape: U+{v:X} is not a character"))
                            })?;
                            out.push(c);
                        }
                        other => {
                            return Err(self.err(
                                at,
                                format!(
                                    "invalid escape \"\\{other}\" in string: use \\\", \\\\, \\n, \\t, \\r or \\uXXXX"
                                ),
                            ))
                        }
                    }
                }
                Some(c) => out.push(c),
            }
        }
    }

    /// An attribute name: unquoted runs and quoted parts (only `\"` and `\\` escapes).
    fn attribute_name(&mut self) -> Result<String, ParseError> {
        let mut out = String::new();
        loop {
            match self.peek() {
                Some('"') => {
                    let q = self.pos;
                    self.bump();
                    loop {
                        match self.bump() {
                            None => {
                                return Err(self.err(
                                    q,
                                    "unterminated quoted attribute name: add a closing '\"'",
                                ))
                            }
                            Some('"') => break,
                            Some('\\') => match self.bump() {
                                Some(c @ ('"' | '\\')) => out.push(c),
                                _ => {
                                    return Err(self.err(
                                        q,
                                        "invalid escape in a quoted attribute name: only \\\" and \\\\ are allowed",
                                    ))
                                }
                            },
                            Some(c) => out.push(c),
                        }
                    }
                }
                Some(c) if is_attribute_char(c) => {
                    out.push(c);
                    self.bump();
                }
                _ => break,
            }
        }
        Ok(out)
    }

    /// A word: a keyword/identifier, `scope:intrinsic`, `scope.attribute` or a dotted name.
    fn word(&mut self, start: usize) -> Result<Tok, ParseError> {
        while self.peek().is_some_and(is_ident_char) {
            self.bump();
        }
        let word = &self.src[start..self.pos];
        if self.peek() == Some(':')
            && matches!(
                word,
                "span" | "trace" | "event" | "link" | "instrumentation" | "resource"
            )
        {
            self.bump();
            let n0 = self.pos;
            while self.peek().is_some_and(is_ident_char) {
                self.bump();
            }
            if n0 == self.pos {
                return Err(self.err(
                    start,
                    format!("expected an intrinsic name after \"{word}:\", e.g. span:duration"),
                ));
            }
            return Ok(Tok::ScopedIntrinsic(
                word.to_string(),
                self.src[n0..self.pos].to_string(),
            ));
        }
        if self.peek() == Some('.') {
            let scope = match word {
                "span" => Some(Scope::Span),
                "resource" => Some(Scope::Resource),
                "event" => Some(Scope::Event),
                "link" => Some(Scope::Link),
                "instrumentation" => Some(Scope::Instrumentation),
                "parent" => {
                    return Err(self.err(
                        start,
                        "the parent. scope is not supported (Tempo does not support it either): use a structural operator, e.g. { span.x = 1 } > { }",
                    ))
                }
                "trace" => {
                    return Err(self.err(
                        start,
                        "the trace scope has no attributes: use trace:duration, trace:rootName, trace:rootService or trace:id",
                    ))
                }
                _ => None,
            };
            self.bump(); // the dot
            let rest = self.attribute_name()?;
            return match scope {
                Some(s) => {
                    if rest.is_empty() {
                        Err(self.err(
                            start,
                            format!("expected an attribute name after \"{word}.\", e.g. {word}.http.method"),
                        ))
                    } else {
                        Ok(Tok::Attr(s, rest))
                    }
                }
                None => Ok(Tok::Dotted(format!("{word}.{rest}"))),
            };
        }
        Ok(Tok::Ident(word.to_string()))
    }

    /// An integer, a float or a duration.
    fn number(&mut self, start: usize) -> Result<Tok, ParseError> {
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
        }
        let mut is_float = false;
        if self.peek() == Some('.') && self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
            is_float = true;
            self.bump();
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.bump();
            }
        }
        if matches!(self.peek(), Some('e' | 'E'))
            && (self.peek_at(1).is_some_and(|c| c.is_ascii_digit())
                || (matches!(self.peek_at(1), Some('+' | '-'))
                    && self.peek_at(2).is_some_and(|c| c.is_ascii_digit())))
        {
            is_float = true;
            self.bump();
            if matches!(self.peek(), Some('+' | '-')) {
                self.bump();
            }
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.bump();
            }
            if self.peek().is_some_and(|c| c.is_alphabetic()) {
                while self.peek().is_some_and(|c| c.is_alphanumeric() || c == '.') {
                    self.bump();
                }
                return Err(self.err(
                    start,
                    format!(
                        "invalid number {:?}: a duration cannot have an exponent",
                        &self.src[start..self.pos]
                    ),
                ));
            }
        }
        if self.peek().is_some_and(|c| c.is_alphabetic()) {
            while self.peek().is_some_and(|c| c.is_alphanumeric() || c == '.') {
                self.bump();
            }
            let text = &self.src[start..self.pos];
            return parse_duration(text)
                .map(Tok::Duration)
                .map_err(|e| self.err(start, e));
        }
        let text = &self.src[start..self.pos];
        if is_float {
            let v: f64 = text
                .parse()
                .map_err(|_| self.err(start, format!("invalid number {text:?}")))?;
            if !v.is_finite() {
                return Err(self.err(start, format!("number {text} is out of range")));
            }
            Ok(Tok::Float(v))
        } else {
            text.parse::<i64>().map(Tok::Int).map_err(|_| {
                self.err(
                    start,
                    format!("integer {text} is out of range (the largest is 9223372036854775807)"),
                )
            })
        }
    }
}

/// Parses a duration literal (`250ms`, `1.5s`, `1h30m`, `100µs`) exactly, in nanoseconds.
pub(crate) fn parse_duration(text: &str) -> Result<i64, String> {
    const UNITS: &str = "ns, us, µs, ms, s, m, h, d";
    let mut total: i128 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = &rest[..n];
        if num.is_empty() {
            return Err(format!(
                "invalid duration {text:?}: expected a number at {rest:?}"
            ));
        }
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..u];
        rest = &rest[u..];
        let scale: i128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "d" => 86_400_000_000_000,
            "" => return Err(format!("invalid duration {text:?}: missing unit ({UNITS})")),
            u => {
                return Err(format!(
                    "invalid duration {text:?}: unknown unit {u:?} (use {UNITS})"
                ))
            }
        };
        let (whole, frac) = num.split_once('.').unwrap_or((num, ""));
        if frac.contains('.') || (whole.is_empty() && frac.is_empty()) {
            return Err(format!("invalid duration {text:?}: bad number {num:?}"));
        }
        let w: i128 = if whole.is_empty() {
            0
        } else {
            whole
                .parse()
                .map_err(|_| format!("duration {text:?} is too large"))?
        };
        let mut v = w
            .checked_mul(scale)
            .ok_or_else(|| format!("duration {text:?} is too large"))?;
        // the fraction, exactly: frac digits × scale / 10^len (rounded down below 1ns)
        let mut s = scale;
        for d in frac.chars() {
            s /= 10;
            if s == 0 {
                break;
            }
            v += (d as i128 - '0' as i128) * s;
        }
        total = total
            .checked_add(v)
            .filter(|t| *t <= i64::MAX as i128)
            .ok_or_else(|| format!("duration {text:?} is too large"))?;
    }
    Ok(total as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        tokenize(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn lexes_operators_and_attributes() {
        assert_eq!(
            toks("{ span.http.status_code>=500 && .a-b != nil } !>> &~ resource.\"a b\".c"),
            vec![
                Tok::LBrace,
                Tok::Attr(Scope::Span, "http.status_code".into()),
                Tok::Ge,
                Tok::Int(500),
                Tok::And,
                Tok::Attr(Scope::None, "a-b".into()),
                Tok::Ne,
                Tok::Ident("nil".into()),
                Tok::RBrace,
                Tok::NotDesc,
                Tok::UnionSibl,
                Tok::Attr(Scope::Resource, "a b.c".into()),
                Tok::Eof
            ]
        );
        assert_eq!(
            toks("span:id user.id 1.5 .5 `raw\\n`"),
            vec![
                Tok::ScopedIntrinsic("span".into(), "id".into()),
                Tok::Dotted("user.id".into()),
                Tok::Float(1.5),
                Tok::Float(0.5),
                Tok::Str("raw\\n".into()),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn durations_are_exact() {
        for (s, n) in [
            ("1.5s", 1_500_000_000),
            ("1h30m", 5_400_000_000_000),
            ("100µs", 100_000),
            ("100us", 100_000),
            ("0.1s", 100_000_000),
            ("1h2m3.000000001s", 3_723_000_000_001),
            ("7ns", 7),
        ] {
            assert_eq!(parse_duration(s), Ok(n), "{s}");
        }
        assert!(parse_duration("2sec")
            .unwrap_err()
            .contains("unknown unit \"sec\""));
        assert!(parse_duration("99999999999h")
            .unwrap_err()
            .contains("too large"));
    }
}
