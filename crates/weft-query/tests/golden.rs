//! Golden tests: every `tests/queries/NAME.q` (a query; leading `#` lines describe it) is run
//! over the fixture traces of tests/fixtures.txt and its output compared with
//! `tests/queries/NAME.expected`. `WEFT_BLESS=1` rewrites the expected files; review the diff.
//!
//! The output of a query: its canonical form, what the planner pushes down to the store, then
//! each matching trace with its spansets and spans (by their fixture labels), or the parse
//! error with a caret under its column.

mod common;

use std::fmt::Write;
use std::path::{Path, PathBuf};

use weft_query::{evaluate, parse, plan, EvalOptions};
use weft_store::Capabilities;

fn run(query: &str, fx: &common::Fixtures) -> String {
    let mut out = String::new();
    let q = match parse(query) {
        Ok(q) => q,
        Err(e) => {
            writeln!(out, "error: {e}").unwrap();
            writeln!(out, "{}", e.caret(query)).unwrap();
            return out;
        }
    };
    // the canonical form parses back to the same query
    let printed = q.to_string();
    let again = parse(&printed).unwrap_or_else(|e| panic!("{printed:?} does not parse: {e}"));
    assert_eq!(again, q, "printing and parsing {query:?} changed the query");
    writeln!(out, "query: {printed}").unwrap();
    writeln!(
        out,
        "pushdown: {}",
        describe_plan(&plan(&q, Capabilities::ALL).conditions)
    )
    .unwrap();
    let opts = EvalOptions {
        spans_per_spanset: 1000,
        ..Default::default()
    };
    let mut any = false;
    for t in &fx.traces {
        let sets = evaluate(&q, &t.batch, &opts);
        if sets.is_empty() {
            continue;
        }
        any = true;
        writeln!(out, "{}", t.label).unwrap();
        for s in sets {
            write!(out, "  spanset matched={}", s.matched).unwrap();
            for (k, v) in &s.attributes {
                write!(out, " {k}={v}").unwrap();
            }
            writeln!(out).unwrap();
            for sp in s.spans {
                write!(
                    out,
                    "    {} ({} {:?})",
                    fx.labels[&sp.span_id], sp.service, sp.name
                )
                .unwrap();
                for (k, v) in &sp.attributes {
                    write!(out, " {k}={v}").unwrap();
                }
                writeln!(out).unwrap();
            }
        }
    }
    if !any {
        writeln!(out, "no match").unwrap();
    }
    out
}

pub fn describe_plan(c: &weft_query::Conditions) -> String {
    let mut parts = Vec::new();
    if let Some(s) = &c.service {
        parts.push(format!("service={s:?}"));
    }
    if let Some(s) = &c.span_name {
        parts.push(format!("name={s:?}"));
    }
    for (k, v) in &c.attributes {
        parts.push(format!("{k}={v:?}"));
    }
    if let Some(d) = c.min_duration_nanos {
        parts.push(format!("minDuration={d}ns"));
    }
    if let Some(d) = c.max_duration_nanos {
        parts.push(format!("maxDuration={d}ns"));
    }
    if c.errors_only {
        parts.push("errors".into());
    }
    if parts.is_empty() {
        "(nothing: every trace is a candidate)".into()
    } else {
        parts.join(" ")
    }
}

fn cases() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/queries");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/queries")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "q"))
        .collect();
    v.sort();
    v
}

/// The query of a `.q` file: its lines without the leading `#` comment lines.
pub fn query_text(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = text.lines().skip_while(|l| l.starts_with('#')).collect();
    lines.join("\n").trim_end_matches('\n').to_string()
}

#[test]
fn golden_queries() {
    let fx = common::load();
    let bless = std::env::var("WEFT_BLESS").is_ok_and(|v| v == "1");
    let cases = cases();
    assert!(cases.len() >= 100, "the corpus has {} cases", cases.len());
    let mut failures = Vec::new();
    for path in &cases {
        let query = query_text(path);
        let got = run(&query, &fx);
        let expected_path = path.with_extension("expected");
        if bless {
            std::fs::write(&expected_path, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if got != want {
            failures.push(format!(
                "--- {}\nquery: {query}\n--- expected\n{want}--- got\n{got}",
                path.file_name().unwrap().to_string_lossy()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} golden queries differ (WEFT_BLESS=1 rewrites them; review the diff):\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn fixtures_are_as_described() {
    let fx = common::load();
    let labels: Vec<&str> = fx.traces.iter().map(|t| t.label.as_str()).collect();
    assert_eq!(
        labels,
        ["shop", "jobs", "orphan", "errors", "tiny", "clash"]
    );
    let shop = weft_model::TraceTree::new(&fx.traces[0].batch);
    assert_eq!(shop.len(), 11);
    assert_eq!(shop.nodes.iter().map(|n| n.depth).max(), Some(5));
    let orphan = weft_model::TraceTree::new(&fx.traces[2].batch);
    assert_eq!(orphan.nodes.iter().filter(|n| n.missing_parent).count(), 2);
}
