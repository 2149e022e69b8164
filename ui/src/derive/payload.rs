//! How a payload is shown: pretty JSON, text, a number (for charts) or a hex dump.

use std::fmt::Write as _;

/// The rendering decision for one payload.
#[derive(Debug, Clone, PartialEq)]
pub enum PayloadKind {
    Empty,
    /// A number alone (UTF-8, trimmed), charted in the Topics view.
    Number(f64),
    /// Valid JSON object or array, pretty-printed.
    Json(String),
    /// UTF-8 without control characters other than tab and newlines.
    Text(String),
    /// Anything else, shown in hex.
    Binary,
}

/// Decides how to show `payload`.
#[must_use]
pub fn classify(payload: &[u8]) -> PayloadKind {
    if payload.is_empty() {
        return PayloadKind::Empty;
    }
    let Ok(text) = std::str::from_utf8(payload) else {
        return PayloadKind::Binary;
    };
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return PayloadKind::Binary;
    }
    if let Some(n) = parse_number(payload) {
        return PayloadKind::Number(n);
    }
    let t = text.trim_start();
    if t.starts_with('{') || t.starts_with('[') {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
            if let Ok(pretty) = serde_json::to_string_pretty(&v) {
                return PayloadKind::Json(pretty);
            }
        }
    }
    PayloadKind::Text(text.to_owned())
}

/// The payload as a finite number, if it is one.
#[must_use]
pub fn parse_number(payload: &[u8]) -> Option<f64> {
    if payload.len() > 64 {
        return None;
    }
    let v: f64 = std::str::from_utf8(payload).ok()?.trim().parse().ok()?;
    v.is_finite().then_some(v)
}

/// A one-line preview of at most `max_chars` characters.
#[must_use]
pub fn preview(payload: &[u8], max_chars: usize) -> String {
    let s = match std::str::from_utf8(payload) {
        Ok(t)
            if !t
                .chars()
                .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) =>
        {
            t.split_whitespace().collect::<Vec<_>>().join(" ")
        }
        _ => {
            let mut h = String::from("0x");
            for b in payload.iter().take(max_chars / 2 + 1) {
                let _ = write!(h, "{b:02x}");
            }
            h
        }
    };
    clip_chars(&s, max_chars)
}

/// `s` cut to `max` characters, with an ellipsis when cut.
#[must_use]
pub fn clip_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The classic 16-bytes-a-line hex dump with an ASCII column.
#[must_use]
pub fn hex_dump(payload: &[u8], max_lines: usize) -> Vec<String> {
    payload
        .chunks(16)
        .take(max_lines)
        .enumerate()
        .map(|(i, chunk)| {
            let mut line = format!("{:04x}  ", i * 16);
            for b in chunk {
                let _ = write!(line, "{b:02x} ");
            }
            for _ in chunk.len()..16 {
                line.push_str("   ");
            }
            line.push(' ');
            line.extend(chunk.iter().map(|&b| {
                if b.is_ascii_graphic() || b == b' ' {
                    char::from(b)
                } else {
                    '.'
                }
            }));
            line
        })
        .collect()
}

/// Full display lines of a payload, whatever its kind.
#[must_use]
pub fn lines(payload: &[u8], max_lines: usize) -> Vec<String> {
    match classify(payload) {
        PayloadKind::Empty => vec!["(empty payload)".to_owned()],
        PayloadKind::Number(_) | PayloadKind::Text(_) => String::from_utf8_lossy(payload)
            .lines()
            .take(max_lines)
            .map(str::to_owned)
            .collect(),
        PayloadKind::Json(p) => p.lines().take(max_lines).map(str::to_owned).collect(),
        PayloadKind::Binary => hex_dump(payload, max_lines),
    }
}

/// Human bytes: `512 B`, `1.5 KiB`, `3.2 MiB`.
#[must_use]
pub fn human_bytes(n: u64) -> String {
    let f = n as f64;
    if n < 1024 {
        format!("{n} B")
    } else if n < 1 << 20 {
        format!("{:.1} KiB", f / 1024.0)
    } else if n < 1 << 30 {
        format!("{:.1} MiB", f / f64::from(1u32 << 20))
    } else {
        format!("{:.1} GiB", f / f64::from(1u32 << 30))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies() {
        assert_eq!(classify(b""), PayloadKind::Empty);
        assert_eq!(classify(b" 21.5 "), PayloadKind::Number(21.5));
        assert!(matches!(classify(br#"{"a":1}"#), PayloadKind::Json(p) if p.contains("\"a\": 1")));
        assert!(matches!(classify(b"{broken"), PayloadKind::Text(_)));
        assert_eq!(classify(&[0, 159, 146, 150]), PayloadKind::Binary);
        assert_eq!(classify(b"NaN"), PayloadKind::Text("NaN".to_owned()));
    }

    #[test]
    fn previews_and_dumps() {
        assert_eq!(preview(b"a\n  b", 10), "a b");
        assert_eq!(preview(b"abcdefghijkl", 5), "abcd…");
        assert_eq!(preview(&[0xff, 0x00], 10), "0xff00");
        assert_eq!(
            hex_dump(b"AB", 1),
            vec![format!("0000  41 42 {}AB", " ".repeat(3 * 14 + 1))]
        );
        assert_eq!(human_bytes(1536), "1.5 KiB");
    }
}
