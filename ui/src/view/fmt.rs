//! Text formatting of numbers, rates, ages and clock times for the panes.

/// Shown wherever a source cannot know a value.
pub const NA: &str = "n/a";

/// `1,234,567`, or `n/a`.
#[must_use]
pub fn count(n: Option<u64>) -> String {
    n.map_or_else(|| NA.to_owned(), thousands)
}

/// `1,234,567`.
#[must_use]
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A per-second rate: `12.5/s`, `1.2k/s`, or `n/a`.
#[must_use]
pub fn rate(r: Option<f64>) -> String {
    match r {
        None => NA.to_owned(),
        Some(v) if v >= 1_000_000.0 => format!("{:.1}M/s", v / 1_000_000.0),
        Some(v) if v >= 10_000.0 => format!("{:.1}k/s", v / 1000.0),
        Some(v) if v >= 100.0 => format!("{v:.0}/s"),
        Some(v) => format!("{v:.1}/s"),
    }
}

/// A byte rate: `1.2 KiB/s`, or `n/a`.
#[must_use]
pub fn byte_rate(r: Option<f64>) -> String {
    match r {
        None => NA.to_owned(),
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "shown rounded"
        )]
        Some(v) => format!(
            "{}/s",
            crate::derive::payload::human_bytes(v.max(0.0) as u64)
        ),
    }
}

/// A duration in ms as `45s`, `3m05s`, `2h13m`, `4d02h`.
#[must_use]
pub fn duration(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// The age of `then` at `now`.
#[must_use]
pub fn age(now_ms: u64, then_ms: u64) -> String {
    duration(now_ms.saturating_sub(then_ms))
}

/// `HH:MM:SS` (UTC) of a unix ms time.
#[must_use]
pub fn clock(ms: u64) -> String {
    let s = (ms / 1000) % 86_400;
    format!("{:02}:{:02}:{:02}", s / 3600, (s % 3600) / 60, s % 60)
}

/// `HH:MM:SS.mmm` (UTC).
#[must_use]
pub fn clock_ms(ms: u64) -> String {
    format!("{}.{:03}", clock(ms), ms % 1000)
}
