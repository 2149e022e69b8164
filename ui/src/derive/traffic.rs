//! Traffic over sliding windows for the Top talkers view: messages and bytes counted in
//! fixed rings (ten 1 s buckets and thirty 10 s buckets, 320 bytes per topic or client),
//! so a 10 s, 1 min or 5 min rate and its sparkline cost a few additions.

use std::collections::HashMap;

use midge_model::Snapshot;

/// The span a ranking covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Window {
    #[default]
    Secs10,
    Min1,
    Min5,
}

impl Window {
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Window::Secs10 => "10 s",
            Window::Min1 => "1 min",
            Window::Min5 => "5 min",
        }
    }

    #[must_use]
    pub fn next(self) -> Self {
        match self {
            Window::Secs10 => Window::Min1,
            Window::Min1 => Window::Min5,
            Window::Min5 => Window::Secs10,
        }
    }

    #[must_use]
    pub fn secs(self) -> u64 {
        match self {
            Window::Secs10 => 10,
            Window::Min1 => 60,
            Window::Min5 => 300,
        }
    }
}

const FINE: usize = 10;
const COARSE: usize = 30;
const COARSE_SECS: u64 = 10;

/// One bucket ring: `(messages, bytes)` per slot, slot `i` holding unit `u` with
/// `u % len == i`; `newest` is the newest unit written.
#[derive(Debug, Clone)]
struct Ring<const N: usize> {
    slots: [(u32, u32); N],
    newest: u64,
}

impl<const N: usize> Default for Ring<N> {
    fn default() -> Self {
        Self {
            slots: [(0, 0); N],
            newest: 0,
        }
    }
}

impl<const N: usize> Ring<N> {
    fn add(&mut self, unit: u64, msgs: u64, bytes: u64) {
        let n = N as u64;
        if unit > self.newest {
            // Zero the units skipped since the newest (all of them after a long gap).
            let gap = (unit - self.newest).min(n);
            for u in (unit + 1 - gap)..=unit {
                self.slots[(u % n) as usize] = (0, 0);
            }
            self.newest = unit;
        } else if unit + n <= self.newest {
            return; // older than the ring (a clock step back)
        }
        let s = &mut self.slots[(unit % n) as usize];
        s.0 = s.0.saturating_add(u32::try_from(msgs).unwrap_or(u32::MAX));
        s.1 = s.1.saturating_add(u32::try_from(bytes).unwrap_or(u32::MAX));
    }

    /// The last `k` units ending at `now` (oldest first), zero where nothing was counted.
    fn last(&self, now: u64, k: usize) -> Vec<(u32, u32)> {
        let n = N as u64;
        let k = k.min(N) as u64;
        (now + 1 - k.min(now + 1)..=now)
            .map(|u| {
                if u > self.newest || u + n <= self.newest {
                    (0, 0)
                } else {
                    self.slots[(u % n) as usize]
                }
            })
            .collect()
    }
}

/// Messages and bytes of one topic, one client or the whole broker over the last 5 min.
#[derive(Debug, Clone, Default)]
pub struct Traffic {
    fine: Ring<FINE>,
    coarse: Ring<COARSE>,
}

impl Traffic {
    pub fn add(&mut self, at_ms: u64, msgs: u64, bytes: u64) {
        let sec = at_ms / 1000;
        self.fine.add(sec, msgs, bytes);
        self.coarse.add(sec / COARSE_SECS, msgs, bytes);
    }

    /// The buckets covering `window` up to `now_ms`: 1 s ones for 10 s, else 10 s ones.
    fn buckets(&self, now_ms: u64, window: Window) -> (Vec<(u32, u32)>, u64) {
        let sec = now_ms / 1000;
        match window {
            Window::Secs10 => (self.fine.last(sec, FINE), 1),
            w => {
                let k = usize::try_from(w.secs() / COARSE_SECS).unwrap_or(COARSE);
                (self.coarse.last(sec / COARSE_SECS, k), COARSE_SECS)
            }
        }
    }

    /// (messages/s, bytes/s) over `window`.
    #[must_use]
    pub fn rate(&self, now_ms: u64, window: Window) -> (f64, f64) {
        let (b, _) = self.buckets(now_ms, window);
        let secs = window.secs() as f64;
        let (m, y) = b.iter().fold((0u64, 0u64), |(m, y), &(a, c)| {
            (m + u64::from(a), y + u64::from(c))
        });
        (m as f64 / secs, y as f64 / secs)
    }

    /// Per-bucket counts over `window`, oldest first: messages, or bytes.
    #[must_use]
    pub fn spark(&self, now_ms: u64, window: Window, bytes: bool) -> Vec<u64> {
        let (b, _) = self.buckets(now_ms, window);
        b.into_iter()
            .map(|(m, y)| u64::from(if bytes { y } else { m }))
            .collect()
    }
}

/// Per-client traffic from the totals of successive snapshots (messages and bytes in +
/// out), and the broker's, for the share of total. A client not seen for 5 min is
/// forgotten, so the map holds at most the clients recently shown.
#[derive(Debug, Clone, Default)]
pub struct ClientTraffic {
    clients: HashMap<String, (u64, u64, u64, Traffic)>,
    totals: Option<(u64, u64)>,
    pub broker: Traffic,
}

impl ClientTraffic {
    pub fn update(&mut self, s: &Snapshot) {
        let now = s.taken_at_ms;
        let c = &s.counters;
        if let (Some(a), Some(b), Some(x), Some(y)) = (
            c.messages_received,
            c.messages_sent,
            c.bytes_received,
            c.bytes_sent,
        ) {
            let (m, by) = (a.saturating_add(b), x.saturating_add(y));
            if let Some((m0, b0)) = self.totals {
                if m >= m0 && by >= b0 {
                    self.broker.add(now, m - m0, by - b0);
                }
            }
            self.totals = Some((m, by));
        }
        for c in s.connections.iter().flatten() {
            let m = c.messages_in.saturating_add(c.messages_out);
            let b = c.bytes_in.saturating_add(c.bytes_out);
            let e = self
                .clients
                .entry(c.client_id.clone())
                .or_insert_with(|| (now, m, b, Traffic::default()));
            // A counter going back is a new session: start from it.
            if m >= e.1 && b >= e.2 && (m > e.1 || b > e.2) {
                e.3.add(now, m - e.1, b - e.2);
            }
            *e = (now, m, b, std::mem::take(&mut e.3));
        }
        self.clients
            .retain(|_, e| now.saturating_sub(e.0) <= Window::Min5.secs() * 1000);
    }

    /// Every client seen in the last 5 min with its traffic.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Traffic)> {
        self.clients.iter().map(|(k, e)| (k.as_str(), &e.3))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_and_gaps() {
        let mut t = Traffic::default();
        // 5 messages of 100 bytes a second for 5 minutes.
        for s in 0..300u64 {
            t.add(1_000_000 + s * 1000, 5, 500);
        }
        let now = 1_000_000 + 299 * 1000;
        assert_eq!(t.rate(now, Window::Secs10), (5.0, 500.0));
        let (m, _) = t.rate(now, Window::Min5);
        assert!((m - 5.0).abs() < 0.6, "{m}");
        assert_eq!(t.spark(now, Window::Secs10, false), vec![5; 10]);
        // 20 s of silence: the 10 s window empties, the 5 min one barely moves.
        let later = now + 20_000;
        assert_eq!(t.rate(later, Window::Secs10), (0.0, 0.0));
        assert!(t.rate(later, Window::Min5).0 > 4.0);
        // Much later, everything is gone.
        assert_eq!(t.rate(now + 3_600_000, Window::Min5), (0.0, 0.0));
        assert_eq!(Window::Min5.next(), Window::Secs10);
    }
}
