//! The parser: tokens → [`Query`], with the static checks Tempo makes at validation (types of
//! comparisons, regexes that compile, aggregates over numbers, intrinsics that cannot be nil).
//!
//! Precedence follows Tempo's grammar (`expr.y`), loosest first: `|`; `&&` and `||` (one
//! level, left to right, both inside filters and between spansets); comparisons and the
//! structural operators; `+ -` (and prefix `-`); prefix `!`; `* / %`; `^` (right).
//!
//! weft also accepts the short form `key op value` (with `&&`, `||`, parentheses) for a whole
//! query: `duration > 2s`, `user.id = "abc-123"` mean `{ duration > 2s }` and
//! `{ .user.id = "abc-123" }`; a dotted name without a scope is an unscoped attribute there.

use weft_model::{SpanKind, StatusCode};

use crate::ast::*;
use crate::error::ParseError;
use crate::lexer::{tokenize, Tok, Token};

/// Parses a TraceQL query.
pub fn parse(src: &str) -> Result<Query, ParseError> {
    let toks = tokenize(src)?;
    let mut p = Parser {
        src,
        toks,
        pos: 0,
        short_form: false,
    };
    p.query()
}

struct Parser<'a> {
    src: &'a str,
    toks: Vec<Token>,
    pos: usize,
    short_form: bool,
}

const STAGE_WORDS: [&str; 8] = [
    "count", "avg", "min", "max", "sum", "by", "select", "coalesce",
];
const METRICS_WORDS: [&str; 11] = [
    "rate",
    "count_over_time",
    "min_over_time",
    "max_over_time",
    "avg_over_time",
    "sum_over_time",
    "quantile_over_time",
    "histogram_over_time",
    "compare",
    "topk",
    "bottomk",
];
const STATUS_WORDS: [(&str, StatusCode); 3] = [
    ("ok", StatusCode::Ok),
    ("error", StatusCode::Error),
    ("unset", StatusCode::Unset),
];
const KIND_WORDS: [(&str, SpanKind); 6] = [
    ("server", SpanKind::Server),
    ("client", SpanKind::Client),
    ("producer", SpanKind::Producer),
    ("consumer", SpanKind::Consumer),
    ("internal", SpanKind::Internal),
    ("unspecified", SpanKind::Unspecified),
];

type R<T> = Result<T, ParseError>;

impl Parser<'_> {
    fn tok(&self) -> &Tok {
        &self.toks[self.pos].tok
    }
    fn tok_at(&self, i: usize) -> &Tok {
        &self.toks[i.min(self.toks.len() - 1)].tok
    }
    fn start(&self) -> usize {
        self.toks[self.pos].start
    }
    fn bump(&mut self) -> Token {
        let t = self.toks[self.pos].clone();
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
        t
    }
    fn eat(&mut self, t: &Tok) -> bool {
        if self.tok() == t {
            self.bump();
            true
        } else {
            false
        }
    }
    fn err_at(&self, at: usize, msg: impl Into<String>) -> ParseError {
        ParseError::at(self.src, at, msg)
    }
    fn text(&self, i: usize) -> String {
        let t = &self.toks[i];
        let s = &self.src[t.start..t.end];
        if s.chars().count() > 24 {
            format!("{}…", s.chars().take(24).collect::<String>())
        } else {
            s.to_string()
        }
    }
    fn found(&self) -> String {
        match self.tok() {
            Tok::Eof => "end of query".into(),
            _ => format!("\"{}\"", self.text(self.pos)),
        }
    }
    /// `expected WHAT after "PREV", found X` at the current token.
    fn expected(&self, what: &str) -> ParseError {
        let msg = if self.pos > 0 {
            format!(
                "expected {what} after \"{}\", found {}",
                self.text(self.pos - 1),
                self.found()
            )
        } else {
            format!("expected {what}, found {}", self.found())
        };
        self.err_at(self.start(), msg)
    }

    fn query(&mut self) -> R<Query> {
        if *self.tok() == Tok::Eof {
            return Err(self.err_at(
                0,
                "empty query: write a spanset filter such as { status = error }, or { } for every trace",
            ));
        }
        let pipeline = if self.structured_start() {
            self.pipeline()?
        } else {
            self.short_form()?
        };
        self.hints()?;
        match self.tok() {
            Tok::Eof => Ok(Query { pipeline }),
            Tok::RParen => Err(self.err_at(self.start(), "unmatched \")\"")),
            Tok::RBrace => Err(self.err_at(self.start(), "unmatched \"}\"")),
            _ => Err(self.expected("\"|\" or the end of the query")),
        }
    }

    /// Tempo's query hints, `with(name = value, …)`: accepted and ignored (weft always
    /// returns the most recent traces first, what `most_recent=true` asks of Tempo).
    fn hints(&mut self) -> R<()> {
        if !(matches!(self.tok(), Tok::Ident(w) if w == "with")
            && *self.tok_at(self.pos + 1) == Tok::LParen)
        {
            return Ok(());
        }
        self.bump();
        self.bump();
        loop {
            if !matches!(self.tok(), Tok::Ident(_)) {
                return Err(self.expected("a hint name, e.g. with(most_recent=true)"));
            }
            self.bump();
            if !self.eat(&Tok::Eq) {
                return Err(self.expected("\"=\""));
            }
            match self.tok() {
                Tok::Int(_) | Tok::Float(_) | Tok::Str(_) | Tok::Duration(_) | Tok::Ident(_) => {
                    self.bump();
                }
                _ => return Err(self.expected("a hint value")),
            }
            if !self.eat(&Tok::Comma) {
                return self.close_paren();
            }
        }
    }

    /// Whether the query starts like Tempo's grammar (a filter, a pipeline stage, or
    /// parentheses around one) rather than the short form.
    fn structured_start(&self) -> bool {
        let mut i = self.pos;
        while *self.tok_at(i) == Tok::LParen {
            i += 1;
        }
        match self.tok_at(i) {
            Tok::LBrace => true,
            Tok::Ident(w) => {
                (STAGE_WORDS.contains(&w.as_str()) || METRICS_WORDS.contains(&w.as_str()))
                    && *self.tok_at(i + 1) == Tok::LParen
            }
            _ => false,
        }
    }

    fn short_form(&mut self) -> R<Pipeline> {
        let start = self.start();
        self.short_form = true;
        let res = self.field(1);
        self.short_form = false;
        let (e, ty) = res?;
        self.check_filter(ty, start)?;
        let mut stages = vec![Stage::Spanset(SpansetExpr::Filter(e))];
        while self.eat(&Tok::Pipe) {
            stages.push(self.stage()?);
        }
        Ok(Pipeline { stages })
    }

    fn pipeline(&mut self) -> R<Pipeline> {
        let mut stages = vec![self.stage()?];
        while self.eat(&Tok::Pipe) {
            stages.push(self.stage()?);
        }
        Ok(Pipeline { stages })
    }

    fn stage(&mut self) -> R<Stage> {
        let start = self.start();
        match self.tok().clone() {
            Tok::LBrace | Tok::LParen => Ok(Stage::Spanset(self.spanset_expr(1)?)),
            Tok::Ident(w) if *self.tok_at(self.pos + 1) == Tok::LParen => {
                match w.as_str() {
                    "by" => {
                        self.bump();
                        self.bump();
                        if *self.tok() == Tok::RParen {
                            return Err(self.err_at(
                                self.start(),
                                "by() needs an expression, e.g. by(resource.service.name)",
                            ));
                        }
                        let at = self.start();
                        let (e, _) = self.field(1)?;
                        if !e.references_span() {
                            return Err(self.err_at(
                                at,
                                "by() needs an expression over the span, e.g. by(resource.service.name)",
                            ));
                        }
                        self.close_paren()?;
                        Ok(Stage::By(e))
                    }
                    "select" => {
                        self.bump();
                        self.bump();
                        if *self.tok() == Tok::RParen {
                            return Err(self.err_at(
                                self.start(),
                                "select() needs at least one attribute, e.g. select(span.http.url)",
                            ));
                        }
                        let mut attrs = vec![self.select_attr()?];
                        while self.eat(&Tok::Comma) {
                            attrs.push(self.select_attr()?);
                        }
                        self.close_paren()?;
                        Ok(Stage::Select(attrs))
                    }
                    "coalesce" => {
                        self.bump();
                        self.bump();
                        self.close_paren()?;
                        Ok(Stage::Coalesce)
                    }
                    "count" | "avg" | "min" | "max" | "sum" => self.scalar_filter(),
                    m if METRICS_WORDS.contains(&m) => Err(self.err_at(
                        start,
                        format!(
                            "{m}() is a TraceQL metrics function, which weft does not evaluate: weft's TraceQL searches traces"
                        ),
                    )),
                    other => Err(self.err_at(
                        start,
                        format!(
                            "unknown function \"{other}()\": a pipeline stage is a filter {{ … }}, count(), avg(…), min(…), max(…), sum(…), by(…), select(…) or coalesce()"
                        ),
                    )),
                }
            }
            Tok::Ident(w) if STAGE_WORDS.contains(&w.as_str()) => {
                self.bump();
                Err(self.expected("\"(\""))
            }
            _ => Err(self.expected(
                "a spanset filter \"{ … }\" or a pipeline stage (count(), avg(…), by(…), select(…))",
            )),
        }
    }

    fn close_paren(&mut self) -> R<()> {
        if self.eat(&Tok::RParen) {
            Ok(())
        } else {
            Err(self.expected("\")\""))
        }
    }

    fn select_attr(&mut self) -> R<Attr> {
        let at = self.start();
        let (e, _) = self.prefix()?;
        match e {
            FieldExpr::Attr(a) => Ok(a),
            _ => Err(self.err_at(
                at,
                "select() takes attributes or intrinsics, e.g. select(span.http.url, duration)",
            )),
        }
    }

    fn scalar_filter(&mut self) -> R<Stage> {
        let Tok::Ident(w) = self.bump().tok else {
            unreachable!("called on an aggregate word")
        };
        let func = match w.as_str() {
            "count" => AggFunc::Count,
            "avg" => AggFunc::Avg,
            "min" => AggFunc::Min,
            "max" => AggFunc::Max,
            _ => AggFunc::Sum,
        };
        self.bump(); // (
        let expr = if func == AggFunc::Count {
            if *self.tok() != Tok::RParen {
                return Err(self.err_at(self.start(), "count() takes no argument"));
            }
            None
        } else {
            if *self.tok() == Tok::RParen {
                return Err(self.err_at(
                    self.start(),
                    format!("{w}() needs an expression, e.g. {w}(duration)"),
                ));
            }
            let at = self.start();
            let (e, ty) = self.field(1)?;
            if !(ty.is_numeric() || ty == Ty::Attr) {
                return Err(self.err_at(
                    at,
                    format!(
                        "{w}() needs a number or a duration, found {}",
                        ty.describe()
                    ),
                ));
            }
            if !e.references_span() {
                return Err(self.err_at(
                    at,
                    format!("{w}() needs an expression over the span, e.g. {w}(duration)"),
                ));
            }
            Some(e)
        };
        self.close_paren()?;
        let aggregate = Aggregate { func, expr };
        let op = match self.tok() {
            Tok::Eq => CmpOp::Eq,
            Tok::Ne => CmpOp::Ne,
            Tok::Lt => CmpOp::Lt,
            Tok::Le => CmpOp::Le,
            Tok::Gt => CmpOp::Gt,
            Tok::Ge => CmpOp::Ge,
            Tok::Plus | Tok::Minus | Tok::Star | Tok::Slash | Tok::Percent | Tok::Caret => {
                return Err(self.err_at(
                    self.start(),
                    format!(
                        "arithmetic on aggregates is not supported: compare the aggregate with a number, e.g. {aggregate} > 2"
                    ),
                ))
            }
            _ => {
                return Err(self.err_at(
                    self.start(),
                    format!(
                        "expected a comparison after {aggregate}, e.g. {aggregate} > 2, found {}",
                        self.found()
                    ),
                ))
            }
        };
        self.bump();
        let neg = self.eat(&Tok::Minus);
        let value = match self.tok().clone() {
            Tok::Int(i) => Static::Int(if neg { -i } else { i }),
            Tok::Float(f) => Static::Float(if neg { -f } else { f }),
            Tok::Duration(d) => Static::Duration(if neg { -d } else { d }),
            _ => return Err(self.expected("a number or a duration")),
        };
        self.bump();
        Ok(Stage::ScalarFilter {
            aggregate,
            op,
            value,
        })
    }

    fn spanset_expr(&mut self, min_prec: u8) -> R<SpansetExpr> {
        let mut lhs = self.spanset_operand()?;
        loop {
            let op = match self.tok() {
                Tok::And => SpansetOp::And,
                Tok::Or => SpansetOp::Or,
                Tok::Gt => SpansetOp::Child,
                Tok::Lt => SpansetOp::Parent,
                Tok::Desc => SpansetOp::Descendant,
                Tok::Ance => SpansetOp::Ancestor,
                Tok::Tilde => SpansetOp::Sibling,
                Tok::NotChild => SpansetOp::NotChild,
                Tok::NotParent => SpansetOp::NotParent,
                Tok::NotDesc => SpansetOp::NotDescendant,
                Tok::NotAnce => SpansetOp::NotAncestor,
                Tok::NRe => SpansetOp::NotSibling,
                Tok::UnionChild => SpansetOp::UnionChild,
                Tok::UnionParent => SpansetOp::UnionParent,
                Tok::UnionDesc => SpansetOp::UnionDescendant,
                Tok::UnionAnce => SpansetOp::UnionAncestor,
                Tok::UnionSibl => SpansetOp::UnionSibling,
                Tok::Plus
                | Tok::Minus
                | Tok::Star
                | Tok::Slash
                | Tok::Percent
                | Tok::Caret
                | Tok::Eq
                | Tok::Ne
                | Tok::Le
                | Tok::Ge
                | Tok::Re => {
                    return Err(self.err_at(
                        self.start(),
                        format!(
                            "\"{}\" cannot combine spansets: use &&, ||, >, >>, <, <<, ~ or their forms !>, !>>, !<, !<<, !~, &>, &>>, &<, &<<, &~",
                            self.text(self.pos)
                        ),
                    ))
                }
                _ => break,
            };
            if op.precedence() < min_prec {
                break;
            }
            self.bump();
            let rhs = self.spanset_expr(op.precedence() + 1)?;
            lhs = SpansetExpr::Op {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            };
        }
        Ok(lhs)
    }

    fn spanset_operand(&mut self) -> R<SpansetExpr> {
        match self.tok() {
            Tok::LBrace => {
                self.bump();
                if self.eat(&Tok::RBrace) {
                    return Ok(SpansetExpr::Filter(FieldExpr::Static(Static::Bool(true))));
                }
                let at = self.start();
                let (e, ty) = self.field(1)?;
                self.check_filter(ty, at)?;
                if !self.eat(&Tok::RBrace) {
                    let mut e = self.expected("\"}\"");
                    if matches!(
                        self.tok(),
                        Tok::Desc
                            | Tok::Ance
                            | Tok::Tilde
                            | Tok::NotChild
                            | Tok::NotParent
                            | Tok::NotDesc
                            | Tok::NotAnce
                            | Tok::UnionChild
                            | Tok::UnionParent
                            | Tok::UnionDesc
                            | Tok::UnionAnce
                            | Tok::UnionSibl
                    ) {
                        e.message.push_str(
                            ": structural operators go between spansets, e.g. { .a = 1 } >> { .b = 2 }",
                        );
                    }
                    return Err(e);
                }
                Ok(SpansetExpr::Filter(e))
            }
            Tok::LParen => {
                self.bump();
                let p = self.pipeline()?;
                self.close_paren()?;
                let mut p = p;
                if p.stages.len() == 1 && matches!(p.stages[0], Stage::Spanset(_)) {
                    let Some(Stage::Spanset(e)) = p.stages.pop() else {
                        unreachable!("checked")
                    };
                    Ok(e)
                } else {
                    Ok(SpansetExpr::Pipeline(Box::new(p)))
                }
            }
            _ => Err(self.expected("a spanset filter \"{ … }\"")),
        }
    }

    fn check_filter(&self, ty: Ty, at: usize) -> R<()> {
        if ty == Ty::Bool || ty == Ty::Attr {
            Ok(())
        } else {
            Err(self.err_at(
                at,
                format!(
                    "a spanset filter needs a condition (true or false), found {}: e.g. {{ name = \"GET /\" }}",
                    ty.describe()
                ),
            ))
        }
    }

    /// Binary operators inside filters: (precedence, right associative).
    fn binary_op(&self) -> Option<(BinOp, u8, bool)> {
        Some(match self.tok() {
            Tok::And => (BinOp::And, 1, false),
            Tok::Or => (BinOp::Or, 1, false),
            Tok::Eq => (BinOp::Eq, 2, false),
            Tok::Ne => (BinOp::Ne, 2, false),
            Tok::Lt => (BinOp::Lt, 2, false),
            Tok::Le => (BinOp::Le, 2, false),
            Tok::Gt => (BinOp::Gt, 2, false),
            Tok::Ge => (BinOp::Ge, 2, false),
            // regexes: handled apart (the op is a placeholder)
            Tok::Re | Tok::NRe => (BinOp::Eq, 2, false),
            Tok::Plus => (BinOp::Add, 3, false),
            Tok::Minus => (BinOp::Sub, 3, false),
            Tok::Star => (BinOp::Mul, 5, false),
            Tok::Slash => (BinOp::Div, 5, false),
            Tok::Percent => (BinOp::Mod, 5, false),
            Tok::Caret => (BinOp::Pow, 6, true),
            _ => return None,
        })
    }

    fn field(&mut self, min_prec: u8) -> R<(FieldExpr, Ty)> {
        let lhs_at = self.start();
        let (mut lhs, mut lty) = self.prefix()?;
        while let Some((op, prec, right)) = self.binary_op() {
            if prec < min_prec {
                break;
            }
            let op_at = self.start();
            let op_tok = self.bump().tok;
            if matches!(op_tok, Tok::Re | Tok::NRe) {
                let rhs_at = self.start();
                let (rhs, _) = self.field(prec + 1)?;
                let sym = if op_tok == Tok::Re { "=~" } else { "!~" };
                let FieldExpr::Static(Static::Str(src)) = rhs else {
                    return Err(self.err_at(
                        rhs_at,
                        format!(
                            "\"{sym}\" needs a string with a regular expression on its right, e.g. name {sym} \"GET .*\""
                        ),
                    ));
                };
                if !(lty == Ty::Str || lty == Ty::Attr) {
                    return Err(self.err_at(
                        op_at,
                        format!("\"{sym}\" applies to strings, found {}", lty.describe()),
                    ));
                }
                let pattern = Pattern::new(&src).map_err(|e| {
                    self.err_at(
                        rhs_at,
                        format!(
                            "invalid regular expression {}: {}",
                            quote_string(&src),
                            regex_message(&e)
                        ),
                    )
                })?;
                lhs = FieldExpr::Regex {
                    negated: op_tok == Tok::NRe,
                    lhs: Box::new(lhs),
                    pattern,
                };
                lty = Ty::Bool;
                continue;
            }
            if matches!(op, BinOp::Eq | BinOp::Ne)
                && matches!(self.tok(), Tok::Ident(w) if w == "nil")
            {
                self.bump();
                lhs = self.nil_check(op, lhs, lhs_at)?;
                lty = Ty::Bool;
                continue;
            }
            let (rhs, rty) = self.field(if right { prec } else { prec + 1 })?;
            lty = self.check_binary(op, lty, rty, op_at)?;
            lhs = FieldExpr::Binary {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            };
            normalize_id_literal(&mut lhs);
        }
        Ok((lhs, lty))
    }

    /// `e = nil` / `e != nil`.
    fn nil_check(&self, op: BinOp, e: FieldExpr, at: usize) -> R<FieldExpr> {
        if op == BinOp::Eq {
            match &e {
                FieldExpr::Attr(Attr::Intrinsic(i)) => {
                    return Err(self.err_at(
                        at,
                        format!(
                            "{} = nil is never true: intrinsics always have a value",
                            i.name()
                        ),
                    ))
                }
                FieldExpr::Attr(Attr::Attribute {
                    scope: Scope::Resource,
                    name,
                }) if name == "service.name" => {
                    return Err(self.err_at(
                        at,
                        "resource.service.name = nil is never true: every span has a service",
                    ))
                }
                _ => {}
            }
            Ok(FieldExpr::NotExists(Box::new(e)))
        } else {
            Ok(FieldExpr::Exists(Box::new(e)))
        }
    }

    fn check_binary(&self, op: BinOp, l: Ty, r: Ty, at: usize) -> R<Ty> {
        let sym = op.symbol();
        if matches!(op, BinOp::And | BinOp::Or) {
            for t in [l, r] {
                if !(t == Ty::Bool || t == Ty::Attr) {
                    return Err(self.err_at(
                        at,
                        format!(
                            "\"{sym}\" needs conditions on both sides, found {}",
                            t.describe()
                        ),
                    ));
                }
            }
            return Ok(Ty::Bool);
        }
        let matching =
            l == Ty::Attr || r == Ty::Attr || l == r || (l.is_numeric() && r.is_numeric());
        if !matching {
            let hint = match (l, r) {
                (Ty::Status, Ty::Str) | (Ty::Str, Ty::Status) => {
                    "; status values are written without quotes: error, ok, unset"
                }
                (Ty::Kind, Ty::Str) | (Ty::Str, Ty::Kind) => {
                    "; span kinds are written without quotes: server, client, producer, consumer, internal, unspecified"
                }
                _ => "",
            };
            let what = if op.is_arithmetic() {
                format!(
                    "cannot apply \"{sym}\" to {} and {}",
                    l.describe(),
                    r.describe()
                )
            } else {
                format!(
                    "cannot compare {} with {} using \"{sym}\"",
                    l.describe(),
                    r.describe()
                )
            };
            return Err(self.err_at(at, format!("type mismatch: {what}{hint}")));
        }
        for t in [l, r] {
            let ok = match t {
                Ty::Attr => true,
                Ty::Bool => matches!(op, BinOp::Eq | BinOp::Ne),
                Ty::Int | Ty::Float | Ty::Duration => true,
                Ty::Str => op.is_comparison(),
                Ty::Status | Ty::Kind => matches!(op, BinOp::Eq | BinOp::Ne),
            };
            if !ok {
                let hint = if op.is_comparison() {
                    "; use = or !="
                } else {
                    ""
                };
                return Err(self.err_at(
                    at,
                    format!(
                        "operator \"{sym}\" does not apply to {}{hint}",
                        t.describe()
                    ),
                ));
            }
        }
        Ok(if op.is_boolean() {
            Ty::Bool
        } else if l != Ty::Attr {
            l
        } else {
            r
        })
    }

    fn prefix(&mut self) -> R<(FieldExpr, Ty)> {
        let at = self.start();
        match self.tok().clone() {
            Tok::Minus => {
                self.bump();
                let (e, ty) = self.field(4)?;
                if !(ty.is_numeric() || ty == Ty::Attr) {
                    return Err(self.err_at(
                        at,
                        format!("\"-\" needs a number, found {}", ty.describe()),
                    ));
                }
                let folded = match &e {
                    FieldExpr::Static(Static::Int(i)) => i.checked_neg().map(Static::Int),
                    FieldExpr::Static(Static::Float(f)) => Some(Static::Float(-f)),
                    FieldExpr::Static(Static::Duration(d)) => d.checked_neg().map(Static::Duration),
                    _ => None,
                };
                Ok(match folded {
                    Some(s) => (FieldExpr::Static(s), ty),
                    None => (FieldExpr::Neg(Box::new(e)), ty),
                })
            }
            Tok::Not => {
                self.bump();
                let (e, ty) = self.field(5)?;
                if !(ty == Ty::Bool || ty == Ty::Attr) {
                    return Err(self.err_at(
                        at,
                        format!("\"!\" needs a condition, found {}", ty.describe()),
                    ));
                }
                Ok((FieldExpr::Not(Box::new(e)), Ty::Bool))
            }
            Tok::LParen => {
                self.bump();
                let r = self.field(1)?;
                self.close_paren()?;
                Ok(r)
            }
            Tok::Str(s) => {
                self.bump();
                Ok((FieldExpr::Static(Static::Str(s)), Ty::Str))
            }
            Tok::Int(i) => {
                self.bump();
                Ok((FieldExpr::Static(Static::Int(i)), Ty::Int))
            }
            Tok::Float(f) => {
                self.bump();
                Ok((FieldExpr::Static(Static::Float(f)), Ty::Float))
            }
            Tok::Duration(d) => {
                self.bump();
                Ok((FieldExpr::Static(Static::Duration(d)), Ty::Duration))
            }
            Tok::Attr(scope, name) => {
                self.bump();
                Ok((FieldExpr::Attr(Attr::Attribute { scope, name }), Ty::Attr))
            }
            Tok::ScopedIntrinsic(scope, name) => {
                self.bump();
                let i = self.scoped_intrinsic(&scope, &name, at)?;
                Ok((FieldExpr::Attr(Attr::Intrinsic(i)), i.ty()))
            }
            Tok::Dotted(d) => {
                // a misspelt scope (`resouce.service.name`, `spna.x`)
                let (first, rest) = d.split_once('.').unwrap_or((&d, ""));
                let scopes = ["span", "resource", "event", "link", "instrumentation"];
                let close = scopes.iter().find(|s| {
                    let dist = edit_distance(&first.to_lowercase(), s);
                    dist <= 2 && dist < s.len() / 2 + 1
                });
                if let Some(scope) = close {
                    // in the short form only long scope names are taken as typos: `line.no`
                    // is an attribute, not a misspelt `link.no`
                    if !self.short_form || scope.len() >= 8 {
                        return Err(self.err_at(
                            at,
                            format!(
                                "unknown scope \"{first}.\"; did you mean \"{scope}.{rest}\"? (for an attribute named {d:?} write .{d} or span.{d})"
                            ),
                        ));
                    }
                }
                if self.short_form {
                    self.bump();
                    Ok((FieldExpr::Attr(Attr::attribute(Scope::None, d)), Ty::Attr))
                } else {
                    Err(self.err_at(
                        at,
                        format!(
                            "unknown intrinsic \"{d}\": attributes need a scope, e.g. .{d}, span.{d} or resource.{d}"
                        ),
                    ))
                }
            }
            Tok::Ident(w) => {
                self.bump();
                self.word(&w, at)
            }
            Tok::LBrace => Err(self.err_at(
                at,
                "a spanset filter cannot contain another \"{\": combine filters with &&, || or a structural operator outside the braces",
            )),
            _ => Err(self.expected("a value")),
        }
    }

    fn word(&mut self, w: &str, at: usize) -> R<(FieldExpr, Ty)> {
        let stat = |s: Static| {
            let t = s.ty();
            Ok((FieldExpr::Static(s), t))
        };
        match w {
            "true" => return stat(Static::Bool(true)),
            "false" => return stat(Static::Bool(false)),
            "minInt" => return stat(Static::Int(i64::MIN)),
            "maxInt" => return stat(Static::Int(i64::MAX)),
            "nil" => {
                let op = match self.tok() {
                    Tok::Eq => BinOp::Eq,
                    Tok::Ne => BinOp::Ne,
                    _ => {
                        return Err(self.err_at(
                            at,
                            "nil can only be compared with = or !=, e.g. span.x = nil",
                        ))
                    }
                };
                self.bump();
                if matches!(self.tok(), Tok::Ident(w) if w == "nil") {
                    self.bump();
                    return stat(Static::Bool(false));
                }
                let e_at = self.start();
                let (e, _) = self.field(3)?;
                return Ok((self.nil_check(op, e, e_at)?, Ty::Bool));
            }
            "parent" => {
                return Err(self.err_at(
                    at,
                    "the parent intrinsic is not supported: use a structural operator, e.g. { name = \"a\" } > { }",
                ))
            }
            "childCount" => {
                return Err(self.err_at(
                    at,
                    "unknown intrinsic \"childCount\"; did you mean \"span:childCount\"?",
                ))
            }
            _ => {}
        }
        if let Some((_, s)) = STATUS_WORDS.iter().find(|(n, _)| *n == w) {
            return stat(Static::Status(*s));
        }
        if let Some((_, k)) = KIND_WORDS.iter().find(|(n, _)| *n == w) {
            return stat(Static::Kind(*k));
        }
        if let Some(i) = Intrinsic::from_unscoped(w) {
            return Ok((FieldExpr::Attr(Attr::Intrinsic(i)), i.ty()));
        }
        if STAGE_WORDS.contains(&w) || METRICS_WORDS.contains(&w) {
            return Err(self.err_at(
                at,
                format!("{w}() is a pipeline stage, not a value: write e.g. {{ status = error }} | count() > 2"),
            ));
        }
        // unknown: suggest the nearest known word
        let mut candidates: Vec<(&str, bool)> = vec![
            ("name", true),
            ("status", true),
            ("statusMessage", true),
            ("kind", true),
            ("duration", true),
            ("rootName", true),
            ("rootServiceName", true),
            ("traceDuration", true),
            ("true", false),
            ("false", false),
            ("nil", false),
        ];
        candidates.extend(STATUS_WORDS.iter().map(|(n, _)| (*n, false)));
        candidates.extend(KIND_WORDS.iter().map(|(n, _)| (*n, false)));
        candidates.extend(Intrinsic::ALL.iter().map(|i| (i.scoped_name(), true)));
        if let Some((best, is_intrinsic)) = suggest(w, &candidates) {
            let what = if is_intrinsic { "intrinsic" } else { "value" };
            return Err(self.err_at(
                at,
                format!("unknown {what} \"{w}\"; did you mean \"{best}\"?"),
            ));
        }
        Err(self.err_at(
            at,
            format!(
                "unknown intrinsic \"{w}\": attributes need a scope, e.g. .{w}, span.{w} or resource.{w}; strings need quotes, e.g. \"{w}\""
            ),
        ))
    }

    fn scoped_intrinsic(&self, scope: &str, name: &str, at: usize) -> R<Intrinsic> {
        if let Some(i) = Intrinsic::from_scoped(scope, name) {
            return Ok(i);
        }
        if scope == "resource" {
            return Err(self.err_at(
                at,
                format!(
                    "resource has no intrinsics: write resource.{name} for a resource attribute"
                ),
            ));
        }
        let full = format!("{scope}:{name}");
        // the same name in another scope first (trace:status → span:status)
        let other_scope = Intrinsic::ALL
            .iter()
            .map(|i| i.scoped_name())
            .find(|s| s.split_once(':').is_some_and(|(_, n)| n == name));
        let candidates: Vec<(&str, bool)> = Intrinsic::ALL
            .iter()
            .map(|i| (i.scoped_name(), true))
            .collect();
        let best = other_scope.or_else(|| suggest(&full, &candidates).map(|(b, _)| b));
        Err(self.err_at(
            at,
            match best {
                Some(b) => format!("unknown intrinsic \"{full}\"; did you mean \"{b}\"?"),
                None => format!(
                    "unknown intrinsic \"{full}\": the {scope} scope has {}",
                    Intrinsic::ALL
                        .iter()
                        .map(|i| i.scoped_name())
                        .filter(|s| s.starts_with(&format!("{scope}:")))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            },
        ))
    }
}

/// The nearest candidate within a small edit distance (or sharing a long prefix).
fn suggest<'c>(word: &str, candidates: &[(&'c str, bool)]) -> Option<(&'c str, bool)> {
    let lw = word.to_lowercase();
    let mut best: Option<(usize, &'c str, bool)> = None;
    for &(c, flag) in candidates {
        let lc = c.to_lowercase();
        let d = edit_distance(&lw, &lc);
        let limit = (word.chars().count() / 3).clamp(1, 3);
        let prefix = lw.len() >= 4 && lc.len() >= 4 && (lw.starts_with(&lc) || lc.starts_with(&lw));
        if d <= limit || prefix {
            let score = if prefix { d.min(limit) } else { d };
            if best.is_none_or(|(bd, _, _)| score < bd) {
                best = Some((score, c, flag));
            }
        }
    }
    best.map(|(_, c, f)| (c, f))
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The last line of the regex crate's message (the earlier lines repeat the pattern).
fn regex_message(e: &regex::Error) -> String {
    let s = e.to_string();
    s.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .trim_start_matches("error: ")
        .to_string()
}

/// `span:id = "ABC"` compares with the id as weft prints it: lowercase, zero-padded hex.
fn normalize_id_literal(e: &mut FieldExpr) {
    let FieldExpr::Binary {
        op: BinOp::Eq | BinOp::Ne,
        lhs,
        rhs,
    } = e
    else {
        return;
    };
    let (attr, lit) = match (&**lhs, &mut **rhs) {
        (FieldExpr::Attr(Attr::Intrinsic(i)), FieldExpr::Static(Static::Str(s))) => (*i, s),
        _ => match (&mut **lhs, &**rhs) {
            (FieldExpr::Static(Static::Str(s)), FieldExpr::Attr(Attr::Intrinsic(i))) => (*i, s),
            _ => return,
        },
    };
    let width = match attr {
        Intrinsic::SpanId | Intrinsic::ParentId | Intrinsic::LinkSpanId => 16,
        Intrinsic::TraceId | Intrinsic::LinkTraceId => 32,
        _ => return,
    };
    if !lit.is_empty() && lit.len() <= width && lit.chars().all(|c| c.is_ascii_hexdigit()) {
        *lit = format!("{:0>width$}", lit.to_ascii_lowercase());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(q: &str) -> String {
        parse(q).unwrap_or_else(|e| panic!("{q}: {e}")).to_string()
    }

    #[test]
    fn precedence_matches_tempo() {
        assert_eq!(ok("{ .a * .b + .c }"), "{ (.a * .b) + .c }");
        assert_eq!(ok("{ .a + .b ^ .c }"), "{ .a + (.b ^ .c) }");
        assert_eq!(ok("{ .c - -.a + .b }"), "{ (.c - (-.a)) + .b }");
        assert_eq!(ok("{ !.a = .b }"), "{ (!.a) = .b }");
        assert_eq!(ok("{ .a = .b || .c = .d }"), "{ (.a = .b) || (.c = .d) }");
        assert_eq!(
            ok("{ true } && { false } >> { `a` = .x }"),
            "{ } && ({ false } >> { \"a\" = .x })"
        );
        assert_eq!(
            ok("{ true } ~ { false } >> { .b }"),
            "({ } ~ { false }) >> { .b }"
        );
        assert_eq!(ok("{}"), "{ }");
        assert_eq!(ok("duration > 2s"), "{ duration > 2s }");
        assert_eq!(ok("user.id = \"abc-123\""), "{ .user.id = \"abc-123\" }");
        assert_eq!(
            ok("{ span:id = \"AB\" }"),
            "{ span:id = \"00000000000000ab\" }"
        );
    }

    #[test]
    fn suggestions() {
        assert_eq!(edit_distance("durtion", "duration"), 1);
        let e = parse("{ durtion > 1s }").unwrap_err();
        assert_eq!(
            e.message,
            "unknown intrinsic \"durtion\"; did you mean \"duration\"?"
        );
        assert_eq!((e.line, e.column), (1, 3));
    }
}
