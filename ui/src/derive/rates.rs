//! Rates derived from successive snapshots' monotonic counters, so totals from the
//! embedded broker and `$SYS` totals of a remote broker feed the same code.

use std::collections::{HashMap, VecDeque};

use midge_model::{Counters, Snapshot};

/// Per-second rates between two samples; `None` when a counter is unknown or went
/// backwards (a restarted remote broker).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Rates {
    pub msgs_in: Option<f64>,
    pub msgs_out: Option<f64>,
    pub bytes_in: Option<f64>,
    pub bytes_out: Option<f64>,
    pub dropped: Option<f64>,
    /// MQTT-SN gateway datagrams.
    pub datagrams_in: Option<f64>,
    pub datagrams_out: Option<f64>,
    pub datagrams_dropped: Option<f64>,
}

impl Rates {
    /// Rates from `old` (at `t0` ms) to `new` (at `t1` ms); all `None` if `t1 <= t0`.
    #[must_use]
    pub fn between(old: &Counters, t0: u64, new: &Counters, t1: u64) -> Self {
        if t1 <= t0 {
            return Self::default();
        }
        let secs = (t1 - t0) as f64 / 1000.0;
        let r = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) if b >= a => Some((b - a) as f64 / secs),
            _ => None,
        };
        Self {
            msgs_in: r(old.messages_received, new.messages_received),
            msgs_out: r(old.messages_sent, new.messages_sent),
            bytes_in: r(old.bytes_received, new.bytes_received),
            bytes_out: r(old.bytes_sent, new.bytes_sent),
            dropped: r(old.publish_dropped, new.publish_dropped),
            datagrams_in: r(old.datagrams_in, new.datagrams_in),
            datagrams_out: r(old.datagrams_out, new.datagrams_out),
            datagrams_dropped: r(old.datagrams_dropped, new.datagrams_dropped),
        }
    }
}

/// Which rate a chart shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Series {
    MsgsIn,
    MsgsOut,
    BytesIn,
    BytesOut,
    Dropped,
}

impl Series {
    #[must_use]
    pub fn pick(self, r: &Rates) -> Option<f64> {
        match self {
            Series::MsgsIn => r.msgs_in,
            Series::MsgsOut => r.msgs_out,
            Series::BytesIn => r.bytes_in,
            Series::BytesOut => r.bytes_out,
            Series::Dropped => r.dropped,
        }
    }
}

/// How far back history is kept: the largest chart range.
pub const HISTORY_MS: u64 = 15 * 60 * 1000;
/// Hard cap on stored rate points whatever the snapshot period.
const MAX_POINTS: usize = 4096;
/// The "current" rate spans about this long, to smooth 250 ms jitter.
const CURRENT_WINDOW_MS: u64 = 1000;

/// Rate history of the whole broker, fed with every snapshot.
#[derive(Debug, Clone, Default)]
pub struct RateHistory {
    /// Recent raw samples (a few seconds), for the smoothed current rate.
    samples: VecDeque<(u64, Counters)>,
    /// (time, rates since the previous sample), bounded by time and count.
    points: VecDeque<(u64, Rates)>,
}

impl RateHistory {
    /// Adds a sample; ignored if not newer than the last one.
    pub fn push(&mut self, at_ms: u64, counters: Counters) {
        if let Some(&(t, prev)) = self.samples.back() {
            if at_ms <= t {
                return;
            }
            self.points
                .push_back((at_ms, Rates::between(&prev, t, &counters, at_ms)));
        }
        self.samples.push_back((at_ms, counters));
        while self.samples.len() > 2
            && self
                .samples
                .get(1)
                .is_some_and(|s| at_ms - s.0 >= CURRENT_WINDOW_MS)
        {
            self.samples.pop_front();
        }
        while self.points.len() > MAX_POINTS
            || self
                .points
                .front()
                .is_some_and(|p| at_ms - p.0 > HISTORY_MS)
        {
            self.points.pop_front();
        }
    }

    /// Rates over the last second or so (between the oldest and newest recent samples).
    #[must_use]
    pub fn current(&self) -> Rates {
        match (self.samples.front(), self.samples.back()) {
            (Some(&(t0, c0)), Some(&(t1, c1))) => Rates::between(&c0, t0, &c1, t1),
            _ => Rates::default(),
        }
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.points.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// `buckets` averages of `series` over `[now - range, now]`, oldest first;
    /// `None` where no sample fell into a bucket.
    #[must_use]
    pub fn series(
        &self,
        series: Series,
        now_ms: u64,
        range_ms: u64,
        buckets: usize,
    ) -> Vec<Option<f64>> {
        let buckets = buckets.max(1);
        let start = now_ms.saturating_sub(range_ms);
        let mut sum = vec![0.0; buckets];
        let mut n = vec![0u32; buckets];
        for &(t, r) in self.points.iter().rev() {
            if t <= start {
                break;
            }
            let Some(v) = series.pick(&r) else { continue };
            let i = ((t.min(now_ms) - start) as u128 * buckets as u128
                / (range_ms.max(1) as u128 + 1)) as usize;
            let i = i.min(buckets - 1);
            sum[i] += v;
            n[i] += 1;
        }
        sum.into_iter()
            .zip(n)
            .map(|(s, n)| (n > 0).then(|| s / f64::from(n)))
            .collect()
    }
}

/// Per-client rates from successive snapshots: messages (in + out) and drops per second.
#[derive(Debug, Clone, Default)]
pub struct ClientRates {
    clients: HashMap<String, ClientSample>,
}

#[derive(Debug, Clone, Copy)]
struct ClientSample {
    base_ms: u64,
    base_msgs: u64,
    base_dropped: u64,
    msgs: Option<f64>,
    dropped: Option<f64>,
}

impl ClientRates {
    pub fn update(&mut self, snapshot: &Snapshot) {
        let now = snapshot.taken_at_ms;
        let Some(conns) = &snapshot.connections else {
            self.clients.clear();
            return;
        };
        let mut next = HashMap::with_capacity(conns.len());
        for c in conns {
            let msgs = c.messages_in.saturating_add(c.messages_out);
            let fresh = ClientSample {
                base_ms: now,
                base_msgs: msgs,
                base_dropped: c.dropped,
                msgs: None,
                dropped: None,
            };
            let entry = match self.clients.remove(&c.client_id) {
                Some(s)
                    if msgs >= s.base_msgs && c.dropped >= s.base_dropped && now >= s.base_ms =>
                {
                    if now - s.base_ms >= CURRENT_WINDOW_MS {
                        let per_s = |d: u64| d as f64 * 1000.0 / (now - s.base_ms) as f64;
                        ClientSample {
                            msgs: Some(per_s(msgs - s.base_msgs)),
                            dropped: Some(per_s(c.dropped - s.base_dropped)),
                            ..fresh
                        }
                    } else {
                        s
                    }
                }
                _ => fresh,
            };
            next.insert(c.client_id.clone(), entry);
        }
        self.clients = next;
    }

    /// Messages per second in + out, once two samples a second apart were seen.
    #[must_use]
    pub fn rate(&self, client_id: &str) -> Option<f64> {
        self.clients.get(client_id).and_then(|e| e.msgs)
    }

    /// Dropped messages per second, once two samples a second apart were seen.
    #[must_use]
    pub fn drop_rate(&self, client_id: &str) -> Option<f64> {
        self.clients.get(client_id).and_then(|e| e.dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(m: u64) -> Counters {
        Counters {
            messages_received: Some(m),
            messages_sent: Some(m * 2),
            ..Counters::default()
        }
    }

    #[test]
    fn rates_from_two_samples() {
        let mut h = RateHistory::default();
        h.push(1000, c(100));
        h.push(2000, c(150));
        let r = h.current();
        assert_eq!(r.msgs_in, Some(50.0));
        assert_eq!(r.msgs_out, Some(100.0));
        assert_eq!(r.bytes_in, None);
        h.push(3000, c(10));
        assert_eq!(
            h.current().msgs_in,
            None,
            "a counter going back is not a rate"
        );
    }

    #[test]
    fn series_buckets() {
        let mut h = RateHistory::default();
        for i in 0..=60u64 {
            h.push(i * 1000, c(i * 10));
        }
        let s = h.series(Series::MsgsIn, 60_000, 60_000, 6);
        assert_eq!(s.len(), 6);
        assert!(s.iter().all(|v| *v == Some(10.0)), "{s:?}");
    }
}
