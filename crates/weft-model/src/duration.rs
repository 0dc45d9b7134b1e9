//! Durations as people type them: `250ms`, `1.5s`, `2m`, `1h30m`, `100us`/`100µs`, `42ns`.

/// Parses a duration into nanoseconds. A bare number is rejected (the unit is required), so
/// `minDuration=100` cannot silently mean nanoseconds when the user meant milliseconds.
pub fn parse_duration_nanos(s: &str) -> Result<u64, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("empty duration: write e.g. 250ms, 1.5s or 2m".into());
    }
    let mut total: f64 = 0.0;
    let mut rest = t;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return Err(format!(
                "invalid duration {s:?}: expected a number at {rest:?}"
            ));
        }
        let num: f64 = rest[..num_len]
            .parse()
            .map_err(|_| format!("invalid duration {s:?}: bad number {:?}", &rest[..num_len]))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let scale = match unit {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "d" => 86400e9,
            "" => {
                return Err(format!(
                    "invalid duration {s:?}: missing unit (ns, us, ms, s, m, h, d)"
                ))
            }
            u => {
                return Err(format!(
                    "invalid duration {s:?}: unknown unit {u:?} (use ns, us, ms, s, m, h, d)"
                ))
            }
        };
        total += num * scale;
    }
    if !total.is_finite() || total > u64::MAX as f64 {
        return Err(format!("duration {s:?} is too large"));
    }
    Ok(total.round() as u64)
}

/// Formats nanoseconds compactly for people: `1.25s`, `340ms`, `12µs`, `800ns`.
pub fn format_duration_nanos(n: u64) -> String {
    let f = n as f64;
    let (v, unit) = if n >= 3_600_000_000_000 {
        (f / 3.6e12, "h")
    } else if n >= 60_000_000_000 {
        (f / 6e10, "m")
    } else if n >= 1_000_000_000 {
        (f / 1e9, "s")
    } else if n >= 1_000_000 {
        (f / 1e6, "ms")
    } else if n >= 1_000 {
        (f / 1e3, "µs")
    } else {
        return format!("{n}ns");
    };
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}{unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expect: Result<u64, &str>) {
        match (parse_duration_nanos(input), expect) {
            (Ok(got), Ok(want)) => assert_eq!(got, want, "{input}"),
            (Err(got), Err(want)) => assert!(got.contains(want), "{input}: {got}"),
            (got, want) => panic!("{input}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn parses() {
        check("250ms", Ok(250_000_000));
        check("1.5s", Ok(1_500_000_000));
        check("1h30m", Ok(5_400_000_000_000));
        check("100us", Ok(100_000));
        check("100µs", Ok(100_000));
        check("42ns", Ok(42));
        check("7d", Ok(7 * 86_400_000_000_000));
        check("100", Err("missing unit"));
        check("5x", Err("unknown unit"));
        check("", Err("empty"));
        check("ms", Err("expected a number"));
    }

    #[test]
    fn formats() {
        assert_eq!(format_duration_nanos(1_250_000_000), "1.25s");
        assert_eq!(format_duration_nanos(340_000_000), "340ms");
        assert_eq!(format_duration_nanos(12_000), "12µs");
        assert_eq!(format_duration_nanos(800), "800ns");
        assert_eq!(format_duration_nanos(90_000_000_000), "1.5m");
    }
}
